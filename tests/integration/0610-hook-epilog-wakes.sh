#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# EpilogSlurmctld = `pcm-agent hook epilog` in a real slurmctld: a waiter
# (`pcm-agent hook wait`, the jobwait mechanism of prepare-restart
# --wait-jobs) wakes within a second of the job's end, by the epilog and not
# by its (60 s) poll.  PrologSlurmctld = `pcm-agent hook prolog` logs a job
# starting during a maintenance.  A broken config never fails a job.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"

# Slurm runs these without arguments, like packaging/hooks/ does; the test's
# config file instead of /etc/pcm-agent, stderr kept for the assertions.
HOOK_CONF=$T/hook.conf
for h in prolog epilog; do
	cat >"$T/$h" <<EOF
#!/bin/sh
exec "$PCM" -v -c "$HOOK_CONF" hook $h 2>>"$T/log/hook-$h.log"
EOF
	chmod 755 "$T/$h"
done
SLURM_EXTRA_CONF="PrologSlurmctld=$T/prolog
EpilogSlurmctld=$T/epilog"
slurm_start 2
cp "$PCM_CONF" "$HOOK_CONF"
RUN=$T/run

now() { date +%s.%N; }
# the time a job wrote as its very last action
ENDMARK='sleep 2; date +%s.%N >'

# 1. a waiter for a running job is woken by its epilog
id=$(slurm_submit --wrap "$ENDMARK $T/end-1")
slurm_wait_state "$id" RUNNING 20
bg waiter sh -c "\"$PCM\" -c \"$PCM_CONF\" hook wait --poll 60 --timeout 60 $id; echo \"rc=\$? t=\$(date +%s.%N)\" >$T/waiter.done"
wait_for 10 "the waiter's FIFO in $RUN/jobwait" sh -c "ls $RUN/jobwait/*.fifo"
wait_for 30 "the waiter to finish" test -s "$T/waiter.done"
done_line=$(cat "$T/waiter.done")
assert_contains "$done_line" "rc=0" "hook wait exit status"
assert_contains "$(cat "$T/log/waiter.log")" "woken by the epilog of job $id" "woken by"
t_end=$(cat "$T/end-1")
t_woke=${done_line#*t=}
delay=$(python3 -c "print(f'{$t_woke - $t_end:.3f}')")
python3 -c "import sys; sys.exit(0 if $t_woke - $t_end < 1.0 else 1)" ||
	fail "the waiter woke ${delay}s after the job's end, want < 1 s"
ok "epilog woke the waiter ${delay}s after the job's end"
[ -z "$(ls "$RUN/jobwait")" ] || fail "the waiter left its FIFO behind: $(ls "$RUN/jobwait")"

# 2. two jobs, one waiter: done only when both ended, woken by the last epilog
a=$(slurm_submit --wrap "sleep 1")
b=$(slurm_submit --wrap "$ENDMARK $T/end-2")
assert_rc 0 pcm hook wait --poll 60 --timeout 60 "$a" "$b"
assert_contains "$OUT" "woken by the epilog of job $b" "two jobs: the last one's epilog"

# 3. already over: no wait at all; unknown job ids count as ended
t0=$(now)
assert_rc 0 pcm hook wait --poll 60 "$a" 999999
assert_contains "$OUT" "had already ended" "finished jobs"
python3 -c "import sys; sys.exit(0 if $(now) - $t0 < 2 else 1)" || fail "waiting for ended jobs took long"

# 4. a job that does not end in time: exit 4 at the timeout
long=$(slurm_submit --wrap "sleep 120")
slurm_wait_state "$long" RUNNING 20
t0=$(now)
assert_rc 4 pcm hook wait --poll 60 --timeout 2 "$long"
assert_contains "$OUT" "timed out after 2s waiting for job $long" "timeout message"
python3 -c "import sys; sys.exit(0 if $(now) - $t0 < 5 else 1)" || fail "the timeout took too long"
scancel "$long"

# 5. no waiter: the epilog returns at once and the job completes normally
id=$(slurm_submit --wrap "true")
slurm_wait_state "$id" COMPLETED 20
grep -q "job $id ended (exit 0:0, epilog_slurmctld): 0 waiters woken" "$T/log/hook-epilog.log" ||
	fail "epilog of job $id: no trace in $T/log/hook-epilog.log: $(tail -n 5 "$T/log/hook-epilog.log")"
ok "epilog without a waiter"

# 6. the prolog logs a job starting while a maintenance is under way
nb=$(($(date +%s) + 600))
cat >"$RUN/maintenance.json" <<EOF
{"version": 1, "phase": "under-way",
 "event": {"code": "instance-stop", "event_id": "instance-event-0abc", "not_before_epoch": $nb},
 "reservation": "pcm-maintenance"}
EOF
id=$(slurm_submit --wrap "true")
slurm_wait_state "$id" COMPLETED 20
assert_contains "$(cat "$T/log/hook-prolog.log")" \
	"job $id of root starts while the head-node maintenance instance-stop (instance-event-0abc" \
	"prolog log"
rm -f "$RUN/maintenance.json"
ok "prolog logs a job starting during a maintenance"

# 7. a broken config file: logged, and jobs still start and end
echo "this is not = a valid = config" >"$HOOK_CONF"
id=$(slurm_submit --wrap "true")
slurm_wait_state "$id" COMPLETED 20
assert_contains "$(cat "$T/log/hook-prolog.log")" "hook prolog: ignoring the configuration: $HOOK_CONF" \
	"prolog with a broken config"
assert_contains "$(cat "$T/log/hook-epilog.log")" "hook epilog: ignoring the configuration: $HOOK_CONF" \
	"epilog with a broken config"
rm -f "$HOOK_CONF"
id=$(slurm_submit --wrap "true")
slurm_wait_state "$id" COMPLETED 20
ok "a broken or missing config never fails a job"

# 8. slurmctld down: hook wait says so and exits 1 (the hooks do not care)
slurm_ctld_stop
t0=$(now)
assert_rc 1 pcm hook wait --timeout 30 "$id"
assert_contains "$OUT" "cannot wait for jobs: cannot reach slurmctld" "hook wait without slurmctld"
python3 -c "import sys; sys.exit(0 if $(now) - $t0 < 20 else 1)" || fail "hook wait took long to give up"
SLURM_JOB_ID=$id assert_rc 0 "$T/epilog"
SLURM_JOB_ID=$id assert_rc 0 "$T/prolog"
ok "hook wait without slurmctld: exit 1, clear message"
