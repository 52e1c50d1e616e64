#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# prepare-restart --wait-jobs: times out with exit 4 (reservation kept),
# then waits for a --no-requeue job and is woken by the EpilogSlurmctld
# hook when it ends; a concurrent prepare-restart (or abort) exits 6; a
# reboot (the volume survives) makes resume verify in place and copy
# nothing; a fleet the admin had stopped is never started (PROTECTED is
# reported); abort undoes the reservation and the fleet stop and keeps the
# save; a missing permission is exit 5, a PROTECTED fleet refused; on a
# terminal the restart waits for a "y".
. "$(dirname "$0")/lib.sh"
HOOK_CONF=$T/hook.conf
cat >"$T/epilog" <<EOF
#!/bin/sh
exec "$PCM" -c "$HOOK_CONF" hook epilog 2>>"$T/log/hook-epilog.log"
EOF
chmod 755 "$T/epilog"
SLURM_EXTRA_CONF="EpilogSlurmctld=$T/epilog"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
cp "$PCM_CONF" "$HOOK_CONF"
make_tree "$T/scratch"
loopfs ref ext4 96
cp -a "$T/scratch/." "$T/ref/"

# 0. preflight: a missing permission is exit 5 and names it; a PROTECTED
#    fleet is refused; neither changes anything
aws_user noreboot '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
  "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem", "ec2:DescribeInstances", "ec2:DescribeInstanceStatus"]}]}'
AWS_ACCESS_KEY_ID=$USER_KEY AWS_SECRET_ACCESS_KEY=$USER_SECRET assert_rc 5 pcm prepare-restart --reboot --yes
assert_contains "$OUT" "cannot reboot instance $HEAD_ID: " "the failing step"
assert_contains "$OUT" "not authorized to perform: ec2:RebootInstances" "permission named"
assert_contains "$OUT" "packaging/iam/" "what to do"
aws_fleet_set "$PLAN_TABLE" PROTECTED
assert_rc 1 pcm prepare-restart --reboot --yes
assert_contains "$OUT" "it is PROTECTED" "PROTECTED refused"
aws_fleet_set "$PLAN_TABLE" RUNNING
assert_eq "$(plan_resv)" no "no reservation after refused preflights"
assert_eq "$(plan_journal_step preflight)" failed "journal: preflight failed"
# resume of that operation leaves a reservation it did not make (watch's);
# the journal is open, so placing one by hand takes --force
assert_rc 6 pcm maintenance start --duration 2h
assert_rc 0 pcm maintenance start --force --duration 2h
assert_rc 0 pcm resume
assert_contains "$OUT" "unreserve: skipped: prepare-restart made none" "not ours"
assert_eq "$(plan_resv)" yes "a reservation this operation did not make is left"
assert_rc 0 pcm maintenance end
# an operation killed before its first save: resume skips the restore
rc=0
PCM_TEST_CRASH_AT=plan-prestage-begin:1 "$PCM" -c "$PCM_CONF" prepare-restart --reboot --yes \
	>"$T/killed.out" 2>&1 || rc=$?
assert_eq "$rc" 137 "killed before the pre-stage: $(cat "$T/killed.out")"
assert_rc 0 pcm resume
assert_contains "$OUT" "restore: skipped: no complete save" "restore skipped"

# the job writes the time as its very last action
job=$(slurm_submit --no-requeue -J keep --wrap "sleep 8; date +%s.%N >$T/job-end")
slurm_wait_state "$job" RUNNING 30

# 1. --wait-jobs with a short timeout: exit 4, reservation kept, fleet untouched
assert_rc 4 pcm prepare-restart --reboot --wait-jobs=2s --yes
assert_contains "$OUT" "still running after 2s" "timeout message"
assert_eq "$(plan_resv)" yes "reservation kept after the timeout"
assert_eq "$(plan_fleet)" RUNNING "fleet untouched after the timeout"
# status shows the operation in progress
assert_rc 0 pcm status
assert_contains "$OUT" "phase prepare): 3 of 11 steps done; jobgate failed" "status: operation"
assert_rc_out 0 pcm --json status
assert_eq "$(echo "$OUT" | json_get 'd["operation"]["steps"]["jobgate"]["state"]')" failed "status --json"

# the event pcm-agent watch recorded: prepare-restart moves its phase only
cat >"$T/run/maintenance.json" <<JSON
{"version": 1, "phase": "scheduled", "reservation": "$PLAN_RESV",
 "event": {"code": "system-reboot", "event_id": "instance-event-0123456789abcdef0",
           "not_before_epoch": $(( $(date +%s) + 7200 )), "not_after_epoch": 0},
 "window": {"start_epoch": 0, "end_epoch": 0}, "updated_epoch": $(date +%s)}
JSON

# 2. wait for it; meanwhile a second operation is refused with exit 6
( "$PCM" -c "$PCM_CONF" prepare-restart --reboot --wait-jobs=60s --yes >"$T/wait.out" 2>&1
  echo "rc=$? t=$(date +%s.%N)" >"$T/wait.done" ) &
wpid=$!
at_exit "kill $wpid"
wait_for 20 "the waiter's FIFO" sh -c "ls $T/run/jobwait/*.fifo"
assert_rc 6 pcm prepare-restart --reboot --yes
assert_contains "$OUT" "holds the lock" "concurrent prepare-restart"
assert_rc 6 pcm abort
wait_for 60 "prepare-restart --wait-jobs to finish" test -s "$T/wait.done"
done_line=$(cat "$T/wait.done")
assert_contains "$done_line" "rc=0" "prepare-restart --wait-jobs: $(cat "$T/wait.out")"
assert_eq "$(slurm_job_state "$job")" COMPLETED "the waited-for job ended by itself"
assert_contains "$(cat "$T/wait.out")" "summary: 0 jobs requeued, 1 waited for, 0 failed" "summary"
# woken by the epilog: the jobgate ended well before the 10 s poll
python3 - "$(cat "$T/job-end")" "$(plan_journal_data_time jobgate)" <<'PY' || fail "jobgate not woken by the epilog"
import sys
end, gate = float(sys.argv[1]), float(sys.argv[2])
print("job end %.1f, jobgate done %.1f (+%.1f s)" % (end, gate, gate - end))
sys.exit(0 if gate - end < 5 else 1)
PY
assert_eq "$(plan_journal_step restart)" done "restart requested"
assert_eq "$(plan_journal_data restart_method)" reboot "method"
assert_eq "$(json_get 'd["phase"], d["event"]["code"], d["event"]["event_id"]' <"$T/run/maintenance.json")" \
	"under-way system-reboot instance-event-0123456789abcdef0" "watch's event kept"

# 3. the reboot happened (new boot id), /scratch survived: verified, not copied
ino_before=$(stat -c %i "$T/scratch/dir/random.bin")
[[ "$(plan_journal_data manifest_xxh3)" =~ ^[0-9a-f]{32}$ ]] || fail "no manifest checksum in the journal"
sleep 1.1
assert_rc 0 pcm save	# someone saves again before the boot: resume notices
export PCM_TEST_BOOT_ID=after-reboot
assert_rc 0 pcm resume
assert_contains "$OUT" "changed since prepare-restart made it" "replaced save noticed"
assert_contains "$OUT" "verified, nothing copied" "reboot: verify in place"
assert_eq "$(stat -c %i "$T/scratch/dir/random.bin")" "$ino_before" "file not rewritten"
compare_trees "$T/ref" "$T/scratch" sock || fail "/scratch after the reboot resume"
assert_eq "$(plan_fleet)" RUNNING "fleet after resume"
assert_eq "$(plan_resv)" no "reservation after resume"

# 4. a fleet the admin had stopped stays stopped
aws_fleet_set "$PLAN_TABLE" STOPPED
assert_rc 0 pcm prepare-restart --no-restart --no-save --yes
assert_contains "$OUT" "sudo reboot" "the next command is printed"
assert_eq "$(plan_journal_data fleet_before)" STOPPED "fleet before"
aws_fleet_set "$PLAN_TABLE" PROTECTED	# clustermgtd gave up meanwhile: reported
assert_rc_out 0 pcm --json resume
assert_contains "$ERR" "fleet_start: skipped" "fleet not started"
assert_contains "$ERR" "the compute fleet is PROTECTED" "PROTECTED reported"
assert_eq "$(echo "$OUT" | json_get 'd["journal"]["steps"]["fleet_start"]["state"]')" skipped "resume --json"
assert_eq "$(plan_fleet)" PROTECTED "the admin's fleet left alone"
aws_fleet_set "$PLAN_TABLE" RUNNING

# 4b. on a terminal, the restart is confirmed first: "n" leaves the cluster
#     prepared and requests nothing
rc=0
echo n | script -qec "$PCM -c $PCM_CONF prepare-restart --reboot --no-save" /dev/null \
	>"$T/confirm.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit status after 'n': $(cat "$T/confirm.out")"
assert_contains "$(cat "$T/confirm.out")" "restart the head node $HEAD_ID now (reboot)? [y/N]" "the question"
assert_contains "$(cat "$T/confirm.out")" "restart not confirmed" "the answer"
assert_eq "$(plan_journal_step fleet_stop)" done "prepared up to the restart"
assert_eq "$(plan_journal_step restart)" pending "nothing requested"
assert_eq "$(plan_journal_data restart_requested_at)" None "no request recorded"
assert_rc 0 pcm abort

# 5. abort: reservation removed, fleet started again, save kept
starts=$(plan_start_requests)
assert_rc_out 0 pcm --json prepare-restart --no-restart --yes
assert_eq "$(echo "$OUT" | json_get 'd["exit"], d["journal"]["steps"]["restart"]["state"], d["journal"]["data"]["restart_method"]')" \
	"0 done none" "prepare-restart --json on stdout"
assert_contains "$ERR" "==> fleet_stop:" "step lines on stderr with --json"
assert_eq "$(plan_fleet)" STOPPED "fleet stopped by prepare-restart"
assert_rc 0 pcm abort
assert_eq "$(plan_fleet)" RUNNING "fleet after abort"
assert_eq "$(($(plan_start_requests) - starts))" 1 "one start request by abort"
assert_eq "$(plan_resv)" no "reservation after abort"
[ ! -e "$T/state/journal.json" ] || fail "journal still open after abort"
[ -f "$(savedir_of "$T/target")/MANIFEST" ] || fail "abort removed the save"
assert_rc 0 pcm abort
assert_contains "$OUT" "nothing to abort" "abort twice"
assert_rc 0 pcm status
assert_contains "$OUT" "operation    none" "status after abort"
ok "wait-jobs, lock, reboot resume, admin-stopped fleet, abort"
