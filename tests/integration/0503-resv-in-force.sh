#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# issue 11 item 6: a maintenance reservation made ahead of time (`maintenance
# start --at +45m`, or the watch daemon ahead of an event) must not count as
# "in place".  prepare-restart moves it to start now, so a --no-requeue job
# submitted while the job gate waits stays PENDING (a fleet stop would kill
# it); a later run checks it again and corrects wrong flags, nodes and users.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
R=$PLAN_RESV
resv_field() { scontrol -o show reservation "$R" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
resv_start() { date -d "$(resv_field StartTime)" +%s; }

gate=$(slurm_submit --no-requeue -J gate --wrap "sleep 600")
slurm_wait_state "$gate" RUNNING 30

# the reservation is there, but only from 45 minutes on
assert_rc 0 pcm maintenance start --at +45m --duration 1h
[ "$(resv_start)" -gt $(( $(date +%s) + 2400 )) ] || fail "reservation not in the future"

# prepare-restart stops at the job gate (the --no-requeue job runs)
assert_rc 3 pcm prepare-restart --stop-start --yes
assert_eq "$(plan_journal_step reservation)" done "journal: reservation"
out3=$OUT
end=$(date -d "$(resv_field EndTime)" +%s)
[ "$end" -ge $(( $(date +%s) + 3000 )) ] || fail "reservation ends too soon: $(resv_field EndTime)"
assert_contains "$(resv_field Flags)" MAINT "flags"
assert_contains "$(resv_field Flags)" IGNORE_JOBS "flags"

# a short --no-requeue job submitted during the job gate must not start
late=$(slurm_submit --no-requeue -J late -t 5 --wrap "sleep 600")
sleep 4	# a few scheduling passes
assert_eq "$(slurm_job_state "$late")" PENDING "--no-requeue job submitted during the job gate"
reason=$(slurm_job_field "$late" Reason)
case $reason in
ReqNodeNotAvail*|*aint*|*eserv*) ;;
*) fail "pending reason '$reason', want the reservation" ;;
esac
[ "$(resv_start)" -le "$(date +%s)" ] || fail "reservation starts at $(resv_field StartTime), not now"
assert_contains "$out3" "start moved to now" "the step says what it changed"

# someone spoils it while the gate waits (FLEX lets jobs out, other users in;
# daemon, not nobody: Slurm 25.11 refuses uid 65534 as "Invalid user id"):
# the next run puts it right before going on
scontrol update reservationname="$R" flags=FLEX users=root,daemon >/dev/null ||
	fail "cannot spoil the reservation"
assert_contains "$(resv_field Flags)" FLEX "spoiled: FLEX"
assert_rc 3 pcm prepare-restart --stop-start --yes
assert_contains "$OUT" "was not in force any more" "rerun notices"
assert_not_contains "$(resv_field Flags)" FLEX "FLEX removed"
assert_eq "$(resv_field Users)" root "users root only"
assert_eq "$(slurm_job_state "$late")" PENDING "late job still pending"

# with no jobs in the way the operation goes on; the late job never ran
scancel "$gate"
slurm_wait_state "$gate" CANCELLED 30
assert_rc 0 pcm prepare-restart --stop-start --force --yes
assert_eq "$(plan_journal_step restart)" done "journal: restart"
assert_eq "$(slurm_job_field "$late" StartTime)" Unknown "the late job never started"
ok "reservation in force now"
