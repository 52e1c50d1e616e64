#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent maintenance start|status|end on a real Slurm: the reservation
# has MAINT and IGNORE_JOBS over all nodes for root, a second start changes
# nothing, end is idempotent, --at/--duration are honoured, and a job whose
# time limit overlaps the reservation stays pending while a short one runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"

slurm_start 2
R=pcm-maintenance
resv_field() { scontrol -o show reservation "$R" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

assert_rc 0 pcm maintenance status
assert_eq "$OUT" "no maintenance reservation $R" "status without reservation"
assert_rc 0 pcm maintenance status --json
assert_eq "$(echo "$OUT" | json_get 'd["reservation"]')" None "json: no reservation"

# start now, 2h
assert_rc 0 pcm maintenance start --duration 2h
assert_contains "$OUT" "created maintenance reservation $R" "start"
assert_contains "$(resv_field Flags)" "MAINT" "MAINT flag"
assert_contains "$(resv_field Flags)" "IGNORE_JOBS" "IGNORE_JOBS flag"
assert_eq "$(resv_field Users)" root "users"
assert_eq "$(resv_field Nodes)" "v[1-2]" "all nodes"
assert_eq "$(resv_field Duration)" "02:00:00" "duration"
first_start=$(resv_field StartTime)

# a second start changes nothing, and says so
sleep 1
assert_rc 0 pcm maintenance start --duration 5h
assert_contains "$OUT" "already there: nothing changed" "second start"
assert_eq "$(resv_field StartTime)" "$first_start" "start time unchanged"
assert_eq "$(resv_field Duration)" "02:00:00" "duration unchanged"
assert_rc 0 pcm maintenance start --json
assert_eq "$(echo "$OUT" | json_get 'd["created"]')" False "json: not created"
assert_eq "$(echo "$OUT" | json_get 'd["reservation"]["maint"]')" True "json: maint"
assert_eq "$(echo "$OUT" | json_get 'd["reservation"]["ignore_jobs"]')" True "json: ignore_jobs"

assert_rc 0 pcm maintenance status --json
assert_eq "$(echo "$OUT" | json_get 'd["reservation"]["name"]')" "$R" "status json"
assert_eq "$(echo "$OUT" | json_get 'd["reservation"]["active"]')" True "active"
assert_rc 0 pcm status
assert_contains "$OUT" "maintenance  $R" "status shows the reservation"

# end, twice
assert_rc 0 pcm maintenance end
assert_eq "$OUT" "deleted maintenance reservation $R" "end"
scontrol -o show reservation "$R" >/dev/null 2>&1 && fail "reservation still there"
assert_rc 0 pcm maintenance end
assert_eq "$OUT" "no maintenance reservation $R: nothing to do" "second end"
assert_rc 0 pcm maintenance end --json
assert_eq "$(echo "$OUT" | json_get 'd["deleted"]')" False "json: nothing deleted"

# --at as ISO-8601 UTC
at=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:00Z)
assert_rc 0 pcm maintenance start --at "$at" --duration 30m --json
assert_eq "$(echo "$OUT" | json_get 'd["reservation"]["start_time"]')" "$at" "--at ISO"
assert_eq "$(resv_field Duration)" "00:30:00" "--duration 30m"
assert_rc 0 pcm maintenance end

# usage errors
assert_rc 2 pcm maintenance
assert_rc 2 pcm maintenance frob
assert_rc 2 pcm maintenance start --at yesterday
assert_contains "$OUT" "--at 'yesterday': not a time" "bad --at"
assert_rc 2 pcm maintenance start --duration 10s
assert_rc 2 pcm maintenance start --duration lots
assert_rc 2 pcm maintenance end --at now
assert_rc 2 pcm maintenance start --at 2020-01-01T00:00:00Z
assert_contains "$OUT" "in the past" "past --at"

# a reservation in 10 minutes: a 60-minute job would overlap it and waits,
# a 2-minute job runs
assert_rc 0 pcm maintenance start --at +10m --duration 1h
long=$(slurm_submit -J long -t 60 --wrap "sleep 300")
short=$(slurm_submit -J short -t 2 --wrap "sleep 300")
slurm_wait_state "$short" RUNNING 30
sleep 2	# a scheduling pass or two more
assert_eq "$(slurm_job_state "$long")" PENDING "overlapping job held back"
reason=$(slurm_job_field "$long" Reason)
# 23.11 without accounting storage: only the backfill scheduler looks at batch
# jobs (see lib-slurm.sh), and it leaves Reason=None; the end below shows the
# reservation was the reason all the same
if [[ $("$SLURM_SBIN/slurmctld" -V) == *" 23.11."* ]] && [ "$reason" = None ]; then :; else
	assert_contains "$reason" "maint" "pending reason"
fi
assert_rc 0 pcm jobs --json
assert_eq "$(echo "$OUT" | json_get "[j['outcome'] for j in d['jobs'] if j['id'] == $long][0]")" \
	pending "jobs: long job pending"
# the reservation was the reason: without it the long job starts
assert_rc 0 pcm maintenance end
slurm_wait_state "$long" RUNNING 30
ok "maintenance reservation"
