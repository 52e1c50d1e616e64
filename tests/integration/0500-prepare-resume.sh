#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The whole story on a busy cluster: prepare-restart refuses (exit 3) while
# a --no-requeue job runs and names exactly that job; --dry-run changes
# nothing; --force proceeds (fleet stopped, /scratch saved, SSM stop-start
# requested once); the stop/start is simulated as new hardware (mkfs of the
# ephemeral volume); resume restores /scratch identical (content and
# metadata), starts the fleet, removes the reservation, and the requeued
# jobs run again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
make_tree "$T/scratch"
loopfs ref ext4 96
cp -a "$T/scratch/." "$T/ref/"

rq1=$(slurm_submit --wrap "sleep 600")
rq2=$(slurm_submit --wrap "sleep 600")
nrq=$(slurm_submit --no-requeue -J precious --wrap "sleep 600")
for j in $rq1 $rq2 $nrq; do slurm_wait_state "$j" RUNNING 30; done

# --dry-run: the plan, exit 3 (jobs would fail), nothing changed
assert_rc 3 pcm prepare-restart --stop-start --dry-run
assert_contains "$OUT" "dry run: nothing changed" "dry run header"
assert_contains "$OUT" "3 running: 2 requeued, 1 would fail" "dry run counts"
assert_rc_out 3 pcm prepare-restart --stop-start --dry-run --json
assert_eq "$(echo "$OUT" | json_get 'd["jobs_failing"]')" "[$nrq]" "dry run: failing jobs"
assert_eq "$(echo "$OUT" | json_get 'sorted(d["jobs_requeued"])')" "$(python3 -c "print(sorted([$rq1, $rq2]))")" \
	"dry run: requeued jobs"
[ ! -e "$T/state/journal.json" ] || fail "--dry-run wrote a journal"
assert_eq "$(plan_resv)" no "--dry-run made a reservation"
assert_eq "$(plan_fleet)" RUNNING "--dry-run touched the fleet"

# default: exit 3 with a table naming exactly the --no-requeue job
assert_rc 3 pcm prepare-restart --stop-start --yes
table=$(echo "$OUT" | grep -E "^[0-9]+ .*would fail$" || true)
assert_eq "$(echo "$table" | awk '{print $1}' | tr '\n' ' ')" "$nrq " "jobs named in the table"
assert_contains "$OUT" "--wait-jobs" "advice"
assert_eq "$(plan_journal_step jobgate)" failed "journal: jobgate"
assert_eq "$(plan_journal_step prestage)" done "journal: prestage done while jobs run"
assert_eq "$(plan_resv)" yes "reservation in place after exit 3"
assert_eq "$(plan_fleet)" RUNNING "fleet untouched after exit 3"
assert_eq "$(slurm_job_state $nrq)" RUNNING "the precious job still runs"
maint() { json_get "d['$1']" <"$T/run/maintenance.json"; }
assert_eq "$(maint phase)" preparing "maintenance.json for sbatch/srun notices"

# --force: proceeds; the lost job is named in the log and the journal
ssm0=$(plan_ssm_restarts)
assert_rc 0 pcm prepare-restart --stop-start --force --yes
assert_contains "$OUT" "job $nrq (precious, user root) will fail: --force" "forced job named"
assert_contains "$OUT" "==> fleet_stop:" "step lines"
assert_contains "$OUT" "summary: 2 jobs requeued, 0 waited for, 1 failed" "summary"
assert_eq "$(plan_journal_data jobs_failed)" "[$nrq]" "journal: failed jobs"
assert_eq "$(plan_journal_step restart)" done "journal: restart"
assert_eq "$(plan_fleet)" STOPPED "fleet after prepare"
assert_eq "$(plan_stop_requests)" 1 "fleet stop requests"
# the permissions were probed by the first run of the operation: one call, the restart
assert_eq "$(($(plan_ssm_restarts) - ssm0))" 1 "SSM StartAutomationExecution calls by the --force run"
assert_eq "$(slurm_job_state $nrq)" NODE_FAIL "the --no-requeue job"
for j in $rq1 $rq2; do assert_eq "$(slurm_job_state "$j")" PENDING "requeued job $j"; done
assert_eq "$(maint phase)" under-way "maintenance.json after the restart request"
sd=$(savedir_of "$T/target")
[ -f "$sd/journal.json" ] || fail "no journal copy next to the save"
# the stop/start is under way (the SSM fake stops and starts the instance)
_head_running() { [ "$(aws_instance_state "$HEAD_ID")" = running ]; }
sleep 1
wait_for 30 "the SSM runbook to start the instance again" _head_running

# resume in the same boot: refused (the restart has not happened)
assert_rc 1 pcm resume
assert_contains "$OUT" "has not happened" "same boot"

# a node left powering up across the stop (aws-parallelcluster-node #327):
# its ResumeProgram never brings it back, so it stays POWERING_UP
cp "$SLURM_DIR/bin/resume" "$T/resume.real"
printf '#!/bin/sh\nexit 0\n' >"$SLURM_DIR/bin/resume"
_v1_powered_down() { scontrol show node v1 | grep -q 'State=.*POWERED_DOWN'; }
wait_for 60 "v1 powered down by the fleet stop" _v1_powered_down
# and its slurmd really gone (SuspendProgram runs on its own; on a loaded
# machine a slurmd still alive re-registers at the power_up below, seen on 25.11)
_v1_slurmd_gone() { ! kill -0 "$(cat "$SLURM_DIR/run/slurmd-v1.pid" 2>/dev/null)" 2>/dev/null; }
wait_for 30 "v1's slurmd stopped by the SuspendProgram" _v1_slurmd_gone
scontrol update nodename=v1 state=power_up
_v1_powering_up() { scontrol show node v1 | grep -q 'State=.*POWERING_UP'; }
wait_for 20 "v1 POWERING_UP" _v1_powering_up
cp "$T/resume.real" "$SLURM_DIR/bin/resume"

# new hardware: the ephemeral volume comes back empty
plan_new_hardware
export PCM_TEST_BOOT_ID=after-stop-start
assert_rc 0 pcm resume
assert_contains "$OUT" "==> restore:" "restore step"
assert_contains "$OUT" "checksums verified" "restored"
assert_contains "$OUT" "node v1 was" "stuck node named"
assert_contains "$OUT" "POWERING_UP" "its state"
assert_contains "$OUT" "1 stuck nodes reset" "health summary"
assert_not_contains "$OUT" "changed since prepare-restart" "the save is the one prepare-restart made"
compare_trees "$T/ref" "$T/scratch" sock || fail "/scratch after resume differs from before"
assert_eq "$(plan_fleet)" RUNNING "fleet after resume"
assert_eq "$(plan_start_requests)" 1 "fleet start requests"
assert_eq "$(plan_resv)" no "reservation after resume"
[ ! -e "$T/state/journal.json" ] || fail "journal still open after resume"
[ ! -e "$T/run/maintenance.json" ] || fail "maintenance.json left after resume"
ls "$T/state/history/"*.json >/dev/null 2>&1 || fail "no journal in history"
# SuspendTimeout, then a main scheduling pass (sched_interval 60 s), then boot
for j in $rq1 $rq2; do slurm_wait_state "$j" RUNNING 180; done
assert_eq "$(scontrol -o show partition $SLURM_PARTITION | grep -o 'State=[A-Z]*')" State=UP "partition"

# resume again: nothing to do
assert_rc 0 pcm resume
assert_contains "$OUT" "nothing to resume" "second resume"
ok "prepare-restart --force, new hardware, resume"
