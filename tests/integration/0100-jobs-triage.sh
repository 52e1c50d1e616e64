#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent jobs on a real Slurm: a batch job with requeue, a --no-requeue
# job, an interactive srun job, a salloc allocation and a pending job get
# the exact outcomes in `jobs --json`; then the fleet stop is done for real
# (power_down_force) and every job ends the way its outcome said.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"

slurm_start 2
chmod 777 "$SLURM_DIR/work" "$SLURM_DIR/out"

# 2 nodes x 2 CPUs: four running jobs fill the cluster, the fifth waits
req=$(runuser -u nobody -- sbatch --parsable --chdir="$SLURM_DIR/work" -o /dev/null \
	-J req-job -t 60 --wrap "sleep 300")
noreq=$(slurm_submit -J noreq-job --no-requeue --wrap "sleep 300")
slurm_srun_bg srun-job -J srun-job sleep 300
salloc --no-shell -J salloc-job -N1 -n1 >/dev/null 2>&1 || fail "salloc failed"
pend=$(slurm_submit -J pend-job --hold --wrap "sleep 300")
slurm_wait_state "$req" RUNNING 20
slurm_wait_state "$noreq" RUNNING 20
srun_id() { squeue -h -n "$1" -o %i; }
wait_for 20 "srun job running" sh -c "squeue -h -n srun-job -t R -o %i | grep -q ."
wait_for 20 "salloc job running" sh -c "squeue -h -n salloc-job -t R -o %i | grep -q ."
srun=$(srun_id srun-job)
salloc=$(srun_id salloc-job)

assert_rc 0 pcm jobs --json
J=$OUT
field() {	# JOBID EXPR-ON-j
	echo "$J" | json_get "[j for j in d['jobs'] if j['id'] == $1][0]$2"
}
assert_eq "$(field "$req" "['outcome']")" requeue "batch job with requeue"
assert_eq "$(field "$req" "['requeue']")" True "requeue flag"
assert_eq "$(field "$req" "['batch']")" True "batch flag"
assert_eq "$(field "$req" "['user']")" nobody "user name via getpwuid"
assert_eq "$(field "$req" "['name']")" req-job "job name"
assert_eq "$(field "$req" "['partition']")" "$SLURM_PARTITION" "partition"
assert_eq "$(field "$req" "['state']")" RUNNING "state"
assert_eq "$(field "$req" "['time_limit_s']")" 3600 "time limit"
case $(field "$req" "['start_time']") in
20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z) ;;
*) fail "start_time not ISO-8601: $(field "$req" "['start_time']")" ;;
esac
assert_eq "$(field "$noreq" "['outcome']")" fail "--no-requeue job"
assert_eq "$(field "$noreq" "['requeue']")" False "--no-requeue flag"
assert_eq "$(field "$noreq" "['time_limit_s']")" None "unlimited time: null"
assert_eq "$(field "$srun" "['outcome']")" fail "srun job"
assert_eq "$(field "$srun" "['batch']")" False "srun is not batch"
assert_eq "$(field "$salloc" "['outcome']")" fail "salloc job"
assert_eq "$(field "$pend" "['outcome']")" pending "pending job"
assert_eq "$(field "$pend" "['state']")" PENDING "pending state"
assert_eq "$(field "$pend" "['start_time']")" None "pending: no start time"
assert_eq "$(echo "$J" | json_get 'len(d["jobs"])')" 5 "job count"
assert_eq "$(echo "$J" | json_get 'sorted(d["jobs"][0].keys())')" \
	"['batch', 'id', 'name', 'outcome', 'partition', 'requeue', 'start_time', 'state', 'time_limit_s', 'user']" \
	"job keys"
assert_eq "$(echo "$J" | json_get 'd["summary"]')" \
	"{'running': 4, 'requeue': 1, 'fail': 3, 'pending': 1}" "summary"
# the global --json works the same
assert_rc 0 pcm --json jobs
assert_eq "$(echo "$OUT" | json_get 'd["summary"]["fail"]')" 3 "global --json"

# the table
assert_rc 0 pcm jobs
assert_contains "$OUT" "ID" "table header"
assert_contains "$OUT" "TIME_LEFT" "table header"
line=$(echo "$OUT" | awk -v id="$req" '$1 == id')
assert_contains "$line" "nobody" "table user"
assert_contains "$line" "req-job" "table name"
assert_contains "$line" "requeue" "table outcome"
assert_contains "$(echo "$OUT" | awk -v id="$noreq" '$1 == id')" "UNLIMITED" "time left"
assert_contains "$OUT" "4 running (1 requeue, 3 fail), 1 pending" "table summary"
assert_rc 2 pcm jobs --bogus
assert_rc 2 pcm jobs extra

# now stop the fleet for real: the outcomes must come true
scontrol update nodename="$(echo "$SLURM_NODES" | tr ' ' ,)" state=power_down_force
slurm_wait_state "$noreq" NODE_FAIL 30
for id in "$srun" "$salloc"; do
	wait_for 30 "job $id to end" sh -c \
		"s=\$(scontrol -o show job $id | tr ' ' '\n' | sed -n 's/^JobState=//p'); \
		[ \"\$s\" = NODE_FAIL ] || [ \"\$s\" = FAILED ] || [ \"\$s\" = CANCELLED ]"
done
slurm_wait_state "$req" PENDING 30
assert_eq "$(slurm_job_field "$req" Restarts)" 1 "requeued job restarted once"
assert_eq "$(slurm_job_state "$pend")" PENDING "pending job untouched"

# finished jobs: left out, unless --all
assert_rc 0 pcm jobs --json
assert_eq "$(echo "$OUT" | json_get 'sorted(j["id"] for j in d["jobs"])')" \
	"$(python3 -c "print(sorted([$req, $pend]))")" "only live jobs"
assert_rc 0 pcm jobs --json --all
assert_eq "$(echo "$OUT" | json_get "[j['outcome'] for j in d['jobs'] if j['id'] == $noreq][0]")" \
	none "finished job outcome"
ok "jobs triage matches what a fleet stop does"
