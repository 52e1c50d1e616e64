#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# spank_pcm.so in a real sbatch, srun and salloc: the maintenance notice is
# printed once, only while maintenance.json says a maintenance is planned or
# under way; --pcm-ack-maintenance silences it; jobs see
# PCM_MAINTENANCE_NOT_BEFORE (also with --export=NONE); a broken file never
# fails a submission; no file costs sbatch one stat() and nothing else.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"

SPANK=$PCM_BUILD/spank_pcm.so
[ -f "$SPANK" ] || fail "$SPANK is not built (make)"
MF=$T/run/maintenance.json
mkdir -p "$T/run"
# "required", not "optional": a plugin that does not load fails the test
echo "required $SPANK file=$MF" >"$T/plugstack.conf"
SLURM_PLUGSTACK=$T/plugstack.conf
slurm_start 2
OUT=$SLURM_DIR/out
JOBS=()

# submit NAME SBATCH_ARGS...: sbatch's stderr in $T/NAME.err, job output in
# $OUT/NAME.out; the job prints its PCM_MAINTENANCE_NOT_BEFORE
submit() {
	local name=$1 id; shift
	id=$(sbatch --parsable --chdir="$SLURM_DIR/work" -o "$OUT/$name.out" "$@" \
		2>"$T/$name.err") || fail "sbatch $* failed (the plugin must never fail a submission): $(cat "$T/$name.err")"
	JOBS+=("${id%%;*}")
}
NB_SCRIPT='/usr/bin/printf "NB=%s\n" "${PCM_MAINTENANCE_NOT_BEFORE-unset}"'
notices() { grep -c "HEAD-NODE MAINTENANCE" "$1" || true; }
job_nb() { sed -n 's/^NB=//p' "$OUT/$1.out"; }

write_state() {	# PHASE NOT_BEFORE_EPOCH
	cat >"$MF.tmp" <<EOF
{
  "version": 1, "phase": "$1",
  "event": { "code": "system-reboot", "event_id": "instance-event-0123456789abcdef0",
    "not_before": "", "not_before_epoch": $2, "not_after_epoch": $(($2 + 7200)) },
  "window": { "start_epoch": $(($2 - 900)), "end_epoch": $(($2 + 7200)) },
  "reservation": "pcm-maintenance", "message": "kernel update"
}
EOF
	mv "$MF.tmp" "$MF"
}

# 1. no maintenance: nothing printed, nothing exported, a stale value dropped
submit none --wrap "$NB_SCRIPT"
PCM_MAINTENANCE_NOT_BEFORE=12345 submit stale --wrap "$NB_SCRIPT"
assert_eq "$(notices "$T/none.err")" 0 "notice without maintenance.json"
[ ! -s "$T/none.err" ] || fail "sbatch printed something without maintenance.json: $(cat "$T/none.err")"
# the plugin's whole cost: one stat() of the state file
if command -v strace >/dev/null; then
	strace -f -qq -e trace=%file,%desc -o "$T/strace" \
		sbatch --parsable -o /dev/null --wrap true >/dev/null 2>&1 || fail "sbatch under strace"
	hits=$(grep -F "$MF" "$T/strace" || true)
	assert_eq "$(echo "$hits" | grep -c .)" 1 "system calls on $MF without a maintenance ($hits)"
	assert_contains "$hits" "stat" "the one call on $MF is a stat"
	ok "no maintenance: one stat(), nothing else"
else
	fail "strace not installed (packaging/install-deps installs it)"
fi

# 2. scheduled: one notice, with when and what happens to --no-requeue jobs
nb=$(($(date +%s) + 7200))
when=$(date -u -d "@$nb" '+%Y-%m-%d %H:%M UTC')
start=$(date -u -d "@$((nb - 900))" '+%Y-%m-%d %H:%M UTC')
write_state scheduled "$nb"
submit sched --wrap "$NB_SCRIPT"
submit none-export --export=NONE --wrap "$NB_SCRIPT"
submit acked --pcm-ack-maintenance --wrap "$NB_SCRIPT"
# srun inside the batch job: the user was told at submission, not again
submit inner --wrap "srun -N1 /usr/bin/printf 'STEP_NB=%s\n' \"\$PCM_MAINTENANCE_NOT_BEFORE\""
e=$(cat "$T/sched.err")
assert_eq "$(notices "$T/sched.err")" 1 "notices printed by one sbatch"
assert_contains "$e" "HEAD-NODE MAINTENANCE SCHEDULED: system-reboot at $when" "notice: when"
assert_contains "$e" "From $start no new job starts (reservation pcm-maintenance)" "notice: window"
assert_contains "$e" "running jobs submitted with --no-requeue" "notice: --no-requeue"
assert_contains "$e" "interactive jobs (srun, salloc) are killed" "notice: interactive jobs"
assert_contains "$e" "ask for a --time that ends before $start" "notice: how to avoid losing work"
assert_contains "$e" "checkpoint before \$PCM_MAINTENANCE_NOT_BEFORE" "notice: the variable"
assert_contains "$e" "Message from the administrator: kernel update" "notice: message"
assert_contains "$e" "Hide this notice with --pcm-ack-maintenance." "notice: how to hide it"
assert_eq "$(notices "$T/acked.err")" 0 "notice with --pcm-ack-maintenance"
assert_eq "$(notices "$T/none-export.err")" 1 "notice with --export=NONE"
ok "sbatch: one notice while a maintenance is scheduled, none when acknowledged"

# interactive: srun and salloc print it too
srun --chdir="$SLURM_DIR/work" -N1 /bin/sh -c 'echo "NB=${PCM_MAINTENANCE_NOT_BEFORE-unset}"' \
	>"$T/srun.out" 2>"$T/srun.err" || fail "srun failed: $(cat "$T/srun.err")"
assert_eq "$(notices "$T/srun.err")" 1 "notices printed by srun"
assert_eq "$(sed -n 's/^NB=//p' "$T/srun.out")" "$nb" "srun task: PCM_MAINTENANCE_NOT_BEFORE"
salloc -N1 --chdir="$SLURM_DIR/work" /bin/true >"$T/salloc.out" 2>"$T/salloc.err" ||
	fail "salloc failed: $(cat "$T/salloc.err")"
assert_eq "$(notices "$T/salloc.err")" 1 "notices printed by salloc"
ok "srun and salloc: one notice each"

# 3. under way
write_state under-way "$(($(date +%s) + 60))"
submit underway --wrap "$NB_SCRIPT"
assert_contains "$(cat "$T/underway.err")" "HEAD-NODE MAINTENANCE UNDER WAY: system-reboot" "under-way notice"
assert_eq "$(notices "$T/underway.err")" 1 "under-way notices"

# 4. a broken file: the submission goes on, the user is told why there is no notice
printf '{"phase": "scheduled", "event": {"code": "system-reb' >"$MF"
submit broken --wrap "$NB_SCRIPT"
assert_contains "$(cat "$T/broken.err")" "spank_pcm: ignoring the maintenance state $MF" "broken file message"
assert_eq "$(notices "$T/broken.err")" 0 "notice from a broken file"
# a FIFO where the file should be must not hang sbatch
rm -f "$MF"; mkfifo "$MF"
timeout 20 sbatch --parsable -o /dev/null --wrap true >/dev/null 2>"$T/fifo.err" ||
	fail "sbatch with a FIFO as maintenance.json: $(cat "$T/fifo.err")"
assert_contains "$(cat "$T/fifo.err")" "not a regular file" "FIFO message"
rm -f "$MF"
submit after --wrap "$NB_SCRIPT"
assert_eq "$(notices "$T/after.err")" 0 "notice after the maintenance file is gone"
ok "broken state: submissions go on"

# what the jobs saw
for id in "${JOBS[@]}"; do slurm_wait_state "$id" COMPLETED 60; done
assert_eq "$(job_nb none)" unset "job env without maintenance"
assert_eq "$(job_nb stale)" unset "a stale PCM_MAINTENANCE_NOT_BEFORE from the submitter"
assert_eq "$(job_nb sched)" "$nb" "job env while scheduled"
assert_eq "$(job_nb acked)" "$nb" "job env with --pcm-ack-maintenance"
assert_eq "$(job_nb none-export)" "$nb" "job env with --export=NONE"
assert_eq "$(sed -n 's/^STEP_NB=//p' "$OUT/inner.out")" "$nb" "srun step inside the job"
assert_eq "$(notices "$OUT/inner.out")" 0 "notice printed by srun inside a job"
assert_eq "$(job_nb broken)" unset "job env with a broken file"
assert_eq "$(job_nb after)" unset "job env after the maintenance"
ok "jobs see PCM_MAINTENANCE_NOT_BEFORE only while a maintenance is planned"
