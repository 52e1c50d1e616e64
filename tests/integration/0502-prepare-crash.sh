#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# kill -9 of prepare-restart at every step boundary and inside both saves,
# then of resume inside the restore and at its step boundaries, each run
# continuing the operation the killed one left: the end state is
# an uninterrupted run's (every step done once, /scratch restored
# identical after new hardware) and nothing was done twice that must not
# be: one STOP_REQUESTED seen by clusterstatusmgtd, one SSM restart
# accepted, one START_REQUESTED after resume.
. "$(dirname "$0")/lib.sh"
PLAN_SSM_STEP_S=3	# the runbook's stop comes 3 s after the request
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
make_tree "$T/scratch"
head -c 20000000 /dev/urandom >"$T/scratch/big.bin"	# a save long enough to be killed in
loopfs ref ext4 96

rq=$(slurm_submit --wrap "sleep 600")
slurm_wait_state "$rq" RUNNING 30

runs=0
crash_at() {	# POINT: run, expect SIGKILL there
	runs=$((runs + 1))
	local rc=0
	PCM_TEST_CRASH_AT=$1 "$PCM" -c "$PCM_CONF" prepare-restart --stop-start --force --yes \
		>"$T/run-$runs.out" 2>&1 || rc=$?
	[ "$rc" -eq 137 ] || fail "run $runs with PCM_TEST_CRASH_AT=$1 exited $rc, want 137 (killed): $(cat "$T/run-$runs.out")"
	python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/state/journal.json" ||
		fail "journal unreadable after the kill at $1"
	echo "killed at $1"
}

for p in plan-preflight-begin:1 plan-preflight-acted:1 save-object:2 plan-prestage-acted:1 \
	plan-prestage-end:1 plan-reservation-begin:1 plan-reservation-acted:1 \
	plan-jobgate-begin:1 plan-jobgate-acted:1 plan-fleet_stop-begin:1 \
	plan-fleet_stop-requested:1 plan-fleet_stop-acted:1; do
	crash_at "$p"
done
assert_eq "$(plan_fleet)" STOPPED "fleet after the fleet_stop kills"
# what the final save must catch: a change after the pre-stage
head -c 3000000 /dev/urandom >"$T/scratch/big.bin"
echo changed >>"$T/scratch/dir/sub/hello.txt"
cp -a "$T/scratch/." "$T/ref/"
for p in save-object:1 plan-final_save-acted:1 plan-restart-begin:1 \
	plan-restart-recorded:1 plan-restart-sent:1; do
	crash_at "$p"
done
assert_rc 0 pcm prepare-restart --stop-start --force --yes
assert_contains "$OUT" "asking SSM again with the same ClientToken" "the request of the killed run"
for s in preflight prestage reservation jobgate fleet_stop final_save restart; do
	assert_eq "$(plan_journal_step $s)" done "journal step $s"
done
# once more: everything is done, nothing is asked again
assert_rc 0 pcm prepare-restart --stop-start --force --yes
assert_contains "$OUT" "prepare-restart is complete" "nothing left to do"
assert_eq "$(plan_stop_requests)" 1 "STOP_REQUESTED written once"
# the fake counts every StartAutomationExecution: the permission probes of
# runs 2 and 3 (preflight not yet recorded done; the probe is rejected for
# its bad parameter, 400), the request of the run killed after sending it,
# and its repetition with the same ClientToken by the next run, which SSM
# answers with the same execution: one restart
assert_eq "$(plan_ssm_restarts)" 4 "StartAutomationExecution calls (2 probes + 2 requests)"
assert_eq "$(fake_stats "$SSM_URL" | json_get 'd.get("idempotent_retries", 0)')" 1 \
	"the second request carried the first one's ClientToken"
_head_running() { [ "$(aws_instance_state "$HEAD_ID")" = running ]; }
_runbook_done() { grep -q 'runbook .*: i-.* running' "$T/log/ssm.log"; }
wait_for 60 "the SSM runbook to start the instance again" _runbook_done
wait_for 60 "the instance to run" _head_running
assert_eq "$(grep -c 'runbook .*: i-.* stopped' "$T/log/ssm.log")" 1 "restarts run by SSM"

plan_new_hardware
export PCM_TEST_BOOT_ID=after-stop-start
# resume killed inside the restore and at its step boundaries, then rerun
for p in restore-file:3 plan-restore-acted:1 plan-health-acted:1 plan-fleet_start-begin:1 \
	plan-fleet_start-acted:1 plan-unreserve-acted:1; do
	runs=$((runs + 1))
	rc=0
	PCM_TEST_CRASH_AT=$p "$PCM" -c "$PCM_CONF" resume >"$T/run-$runs.out" 2>&1 || rc=$?
	[ "$rc" -eq 137 ] || fail "resume with PCM_TEST_CRASH_AT=$p exited $rc, want 137: $(cat "$T/run-$runs.out")"
	echo "resume killed at $p"
done
assert_rc 0 pcm resume
assert_contains "$OUT" "summary: the cluster is back" "resume finished"
compare_trees "$T/ref" "$T/scratch" sock || fail "/scratch after the crashes and resume"
assert_eq "$(plan_fleet)" RUNNING "fleet after resume"
assert_eq "$(plan_start_requests)" 1 "START_REQUESTED written once"
assert_eq "$(plan_resv)" no "reservation after resume"
# a node powered down in the stop waits for a main scheduling pass (60 s)
slurm_wait_state "$rq" RUNNING 180
ok "$runs kills, then the same end state as one run"
