#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-fleet-stopped.sh - how long the compute fleet stays STOPPED (from
# STOPPED until the restart is requested) with the pre-stage save against
# a cold full save of the same /scratch, 1 % of it changed after the
# pre-stage.  Both runs go through the same procedure on the full test bed
# (tests/integration/lib-plan.sh: real Slurm, moto, the fakes, loop-mounted
# ext4 /scratch and xfs target):
#   1. a --no-requeue job runs; prepare-restart saves /scratch (pre-stage),
#      sets the reservation and stops at the job gate (exit 3);
#   2. 1 % of /scratch changes (1 % of the files rewritten, plus a new file
#      of 1 % of the bytes); the job ends;
#   3. cold run only: the pre-staged save is removed;
#   4. caches dropped; prepare-restart runs again: fleet stop, final save
#      (incremental over the pre-stage, or full), verify, restart request.
# The figure is the journal's restart_requested_at - fleet_stopped_at; the
# save pass alone (journal final_save.seconds) is printed beside it.
# Goal (issue 5): pre-stage <= 15 % of cold.
#   BENCH_SIZE=small (CI smoke: 200 MiB) | large (the README figure: 2 GiB)
set -euo pipefail
: "${PCM_AGENT:?run through tests/bench/run or make bench}"
case ${BENCH_SIZE:-large} in
small) NBIG=20 BIGMB=8 NSMALL=3000 PLAN_SCRATCH_MB=400 PLAN_TARGET_MB=1200 ;;
large) NBIG=32 BIGMB=64 NSMALL=20000 PLAN_SCRATCH_MB=3000 PLAN_TARGET_MB=7000 ;;
*) echo "BENCH_SIZE: small or large" >&2; exit 2 ;;
esac
export PLAN_SCRATCH_MB PLAN_TARGET_MB
. "$PCM_TOP/tests/integration/lib.sh"
. "$PCM_TOP/tests/integration/lib-plan.sh"
plan_bed 2 >/dev/null
echo "workers = 4" >>"$PCM_CONF"
S=$T/scratch
mkdir -p "$S/big" "$S/small"
for i in $(seq "$NBIG"); do head -c "${BIGMB}M" /dev/urandom >"$S/big/f$i"; done
python3 - "$S/small" "$NSMALL" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    sub = os.path.join(d, "d%03d" % (i % 200))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "s%06d" % i), "wb") as f:
        f.write(os.urandom(random.randint(1024, 16384)))
PY
TOTAL=$(du -sb "$S" | cut -f1)
NFILES=$(find "$S" -type f | wc -l)
echo "/scratch: $NFILES files, $((TOTAL / 1048576)) MiB; 1 % changed after the pre-stage"

_head_running() { [ "$(aws_instance_state "$HEAD_ID")" = running ]; }
boot=0
one_run() {	# cold|prestage: prints the seconds the fleet stayed stopped
	local kind=$1 job rc sd
	job=$(slurm_submit --no-requeue --wrap "sleep 600")
	# after a resume the nodes are still powering down (power_down_force,
	# SuspendTimeout) before Slurm can power them up again: 30 s is too short
	slurm_wait_state "$job" RUNNING 150
	rc=0
	pcm prepare-restart --stop-start --yes >"$T/$kind-1.out" 2>&1 || rc=$?
	[ $rc -eq 3 ] || fail "$kind: first run exited $rc, want 3: $(cat "$T/$kind-1.out")"
	# 1 % changes: 1 % of the files rewritten, and a new file of 1 % of the bytes
	find "$S/small" -type f | awk 'NR % 100 == 0' | while read -r f; do
		head -c "$(stat -c %s "$f")" /dev/urandom >"$f"; done
	head -c $((TOTAL / 100)) /dev/urandom >"$S/new-$kind.bin"
	scancel "$job"
	wait_for 30 "job $job to end" sh -c "[ -z \"\$(squeue -h -j $job -t R,CG 2>/dev/null)\" ]"
	sd=$(savedir_of "$T/target")
	[ "$kind" = cold ] && rm -rf "$sd"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	pcm prepare-restart --stop-start --yes >"$T/$kind-2.out" 2>&1 ||
		fail "$kind: second run failed: $(cat "$T/$kind-2.out")"
	python3 -c "import json; d=json.load(open('$T/state/journal.json'))['data']; print('%.2f %.2f' % (d['restart_requested_at'] - d['fleet_stopped_at'], d['final_save']['seconds']))" \
		>"$T/$kind.secs"
	grep -E "final_save|fleet_stop: done|restart: done" "$T/$kind-2.out" | sed 's/^ */  /' >&2
	sleep 1
	wait_for 60 "the SSM runbook" _head_running
	boot=$((boot + 1))
	PCM_TEST_BOOT_ID=bench-$boot pcm resume >"$T/$kind-resume.out" 2>&1 ||
		fail "$kind: resume failed: $(cat "$T/$kind-resume.out")"
	rm -f "$S/new-$kind.bin"
}
one_run cold
one_run prestage
cold=$(cat "$T/cold.secs") pre=$(cat "$T/prestage.secs")
python3 - $cold $pre <<'PY'
import sys
cold, csave, pre, psave = map(float, sys.argv[1:5])
pct = 100 * pre / cold
print("fleet STOPPED until the restart request (of which: the save pass itself):")
print("  cold full save:   %7.2f s  (save pass %6.2f s)" % (cold, csave))
print("  with pre-stage:   %7.2f s  (save pass %6.2f s)  %.1f %% of cold, save pass %.1f %%;"
      " goal <= 15 %%: %s" % (pre, psave, pct, 100 * psave / csave, "met" if pct <= 15 else "NOT met"))
print("  the rest is the verify (after a pre-stage: only the objects written since) and the fixed steps")
PY
