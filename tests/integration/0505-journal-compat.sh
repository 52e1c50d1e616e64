#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A journal written by the version before the plan became a table of steps
# (tests/fixtures/journal-v1-*.json, captured from that binary: the bed's
# paths replaced by @T@, the head node's id by @HEAD@) is continued and
# resumed by this one.  jobgate-failed: prepare-restart --reboot stopped at
# exit 3 on a --no-requeue job (preflight done, prestage skipped,
# reservation done); restart-requested: the same operation after --force,
# the reboot requested in another boot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
fix() { sed "s|@T@|$T|g; s|@HEAD@|$HEAD_ID|g" "$PCM_TOP/tests/fixtures/journal-v1-$1.json"; }

# the same jobs as when the fixture was captured: ids 1 and 2
nrq=$(slurm_submit --no-requeue -J precious --wrap "sleep 600")
rq=$(slurm_submit --wrap "sleep 600")
assert_eq "$nrq $rq" "1 2" "job ids of the fixture"
for j in $nrq $rq; do slurm_wait_state "$j" RUNNING 30; done

# 1. mid-operation: jobgate failed; the reservation it made is gone meanwhile
mkdir -p "$T/state"
fix jobgate-failed >"$T/state/journal.json"
assert_rc 0 pcm status
assert_contains "$OUT" "3 of 11 steps done; jobgate failed" "status of the old journal"
assert_rc 0 pcm prepare-restart --reboot --force --yes
assert_contains "$OUT" "continuing operation" "the old journal is continued"
assert_contains "$OUT" "==> preflight: checking again" "preflight again"
assert_not_contains "$OUT" "==> prestage" "prestage (skipped in the old run) not run again"
assert_not_contains "$OUT" "==> reservation" "reservation (done in the old run) not begun again"
assert_contains "$OUT" "was not in force any more" "the reservation checked again"
assert_contains "$OUT" "job $nrq (precious, user root) will fail: --force" "forced job named"
assert_contains "$OUT" "summary: 1 jobs requeued, 0 waited for, 1 failed" "summary"
for s in jobgate fleet_stop final_save restart; do
	assert_eq "$(plan_journal_step $s)" done "journal: $s"
done
assert_eq "$(plan_journal_data restart_method)" reboot "journal: restart_method"
assert_eq "$(plan_fleet)" STOPPED "fleet after prepare"
assert_eq "$(plan_resv)" yes "reservation after prepare"
id=$(json_get 'd["id"]' <"$T/state/journal.json")
assert_eq "$id" "$(json_get 'd["id"]' <"$PCM_TOP/tests/fixtures/journal-v1-jobgate-failed.json")" "same operation"
PCM_TEST_BOOT_ID=after-reboot assert_rc 0 pcm resume
assert_contains "$OUT" "verified, nothing copied" "restore after a reboot"
assert_contains "$OUT" "compute fleet started" "fleet started"
assert_eq "$(plan_fleet)" RUNNING "fleet after resume"
assert_eq "$(plan_resv)" no "reservation after resume"
[ -f "$T/state/history/$id.json" ] || fail "the old operation is not in the history"

# 2. the old journal after the restart request, resumed at the next boot
fix restart-requested >"$T/state/journal.json"
PCM_TEST_BOOT_ID=after-reboot-2 assert_rc 0 pcm prepare-restart --reboot --yes
assert_contains "$OUT" "prepare-restart is complete: reboot requested" "the old restart is not asked again"
scontrol create reservation reservationname=$PLAN_RESV starttime=now duration=60 \
	nodes=ALL users=root flags=maint,ignore_jobs >/dev/null
PCM_TEST_BOOT_ID=after-reboot-2 assert_rc 0 pcm resume
assert_contains "$OUT" "==> restore:" "restore step"
assert_contains "$OUT" "==> health:" "health step"
assert_contains "$OUT" "==> unreserve: delete the maintenance reservation $PLAN_RESV" "unreserve"
assert_eq "$(plan_resv)" no "reservation after the second resume"
[ ! -e "$T/state/journal.json" ] || fail "journal still open after resume"
ok "journals of the previous version continued and resumed"
