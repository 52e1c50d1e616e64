#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-triage: job triage of 10,000 jobs (BENCH_SIZE=small: 1,000) on the
# local Slurm test bed, as time per call.  Goal: <= 0.3 s per call.
#
# The jobs are held batch jobs (sbatch --hold), one job record each (a job
# array would be a single record while pending).  Two figures:
#   - sched_jobs_load + triage, in-process (tests/bench/bench_triage.c):
#     the libslurm load, conversion and triage that `jobs` and `status` use;
#   - `pcm-agent jobs --json >/dev/null`, the whole command (start-up,
#     config, sched_open, load, triage, JSON) as a user runs it.
# Not a test: it prints figures and fails only when something breaks.
. "${PCM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$PCM_TOP/tests/integration/lib-slurm.sh"

case ${BENCH_SIZE:-large} in
small) NJOBS=1000 CALLS=10 ;;
*) NJOBS=10000 CALLS=10 ;;
esac
GOAL_MS=300

# the in-process bench program, linked like the unit tests
cc -std=gnu11 -O2 -D_GNU_SOURCE -I"$PCM_TOP/agent" -o "$T/bench_triage" \
	"$PCM_TOP/tests/bench/bench_triage.c" "$PCM_BUILD/libpcmagent.a" "$PCM_BUILD/libpcmstorage.a" \
	-lslurm $(pkg-config --libs libcurl json-c mount libxml-2.0 libxxhash libacl) -lrsync -lpthread ||
	fail "cannot build bench_triage (run make first)"

slurm_start 2
echo "submitting $NJOBS held jobs..."
t0=$SECONDS
seq "$NJOBS" | xargs -P 4 -n 50 sh -c \
	'for i; do sbatch --hold -J "b$i" -o /dev/null --chdir="$0" --wrap true >/dev/null || exit 255; done' \
	"$SLURM_DIR/work" || fail "sbatch failed"
n=$(squeue -h -o %i | wc -l)
[ "$n" -eq "$NJOBS" ] || fail "squeue shows $n jobs, want $NJOBS"
echo "submitted $NJOBS jobs in $((SECONDS - t0)) s"

"$T/bench_triage" "$SLURM_CONF" "$CALLS" "$NJOBS" | tee "$T/inproc.txt" || fail "bench_triage failed"

# the whole command, CALLS times
pcm jobs --json >"$T/jobs.json" || fail "pcm-agent jobs failed"
[ "$(json_get 'd["summary"]["pending"]' <"$T/jobs.json")" -eq "$NJOBS" ] ||
	fail "pcm-agent jobs: pending count is not $NJOBS"
python3 - "$PCM" "$PCM_CONF" "$CALLS" "$GOAL_MS" <<'PY'
import subprocess, sys, time
pcm, conf, calls, goal = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
t = []
for _ in range(calls):
    t0 = time.monotonic()
    subprocess.run([pcm, "-c", conf, "jobs", "--json"], stdout=subprocess.DEVNULL, check=True)
    t.append((time.monotonic() - t0) * 1000)
t.sort()
med = t[len(t) // 2]
print("pcm-agent jobs --json: %d calls, per call min %.1f ms, median %.1f ms, max %.1f ms"
      % (calls, t[0], med, t[-1]))
print("goal <= %.0f ms per call: %s" % (goal, "met" if med <= goal else "NOT met"))
PY
