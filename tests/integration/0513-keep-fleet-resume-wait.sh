#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# resume_wait bounds resume's waits after a keep-fleet reboot: with
# resume_wait = 5s and slurmctld not back, resume gives up within the bound
# and says so; once it is back, a node whose slurmd never comes back (its
# slurmd stopped during the "reboot") is reported by name within the bound,
# "did not re-register within 5s (resume_wait)", not after 10 minutes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2

mkdir -p "$T/bin"
printf 'keep_fleet = yes\nclustermgtd_conf = %s\ncomputemgtd_conf = %s\nreboot_estimate = 10s\nresume_wait = 5s\n' \
	"$T/none/clustermgtd.conf" "$T/none/computemgtd.conf" >>"$PCM_CONF"
printf '#!/bin/bash\npid=$(cat "%s")\nkill -TERM $pid\nfor i in $(seq 100); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done\nexit 1\n' \
	"$SLURM_DIR/run/slurmctld.pid" >"$T/bin/reboot-stop"
chmod 755 "$T/bin/reboot-stop"
export PCM_TEST_SLURMCTLD_STOP=$T/bin/reboot-stop

j=$(slurm_submit -w v1 --wrap "sleep 600")
slurm_wait_state "$j" RUNNING 30
assert_rc 0 pcm prepare-restart --reboot --yes
assert_contains "$OUT" "2 nodes (2 up)" "both nodes recorded up"
assert_contains "$OUT" "restart: done: reboot requested" "reboot requested"
# v2's slurmd does not survive the head node's outage
v2pid=$(cat "$SLURM_DIR/run/slurmd-v2.pid")
kill -TERM "$v2pid"
wait_for 10 "v2's slurmd to stop" sh -c "! kill -0 $v2pid 2>/dev/null"
export PCM_TEST_BOOT_ID=after-resume-wait-reboot

# slurmctld not back: resume gives up after resume_wait
t0=$(date +%s)
assert_rc 1 pcm resume
took=$(( $(date +%s) - t0 ))
[ "$took" -lt 60 ] || fail "resume waited $took s for slurmctld with resume_wait = 5s"
assert_contains "$OUT" "slurmctld does not answer within 5s (resume_wait)" "the bound named"
ok "slurmctld not back: resume gave up after resume_wait ($took s)"

# slurmctld back, v2 never re-registers: resume runs at once.  A node
# recovered from slurmctld's saved state counts as responding until its
# first ping fails: resume does not take that for re-registered, and waits
# resume_wait for v2, not 10 minutes
slurm_ctld_start
t0=$(date +%s)
assert_rc 0 pcm resume
took=$(( $(date +%s) - t0 ))
[ "$took" -lt 60 ] || fail "resume waited $took s for the nodes with resume_wait = 5s"
assert_contains "$OUT" "1 of 2 nodes that were up before the reboot did not re-register within 5s (resume_wait): v2 (" \
	"the lost node named, with the bound"
assert_contains "$OUT" "1 of 2 nodes back; not back within 5s (resume_wait): v2" "the step's line"
assert_contains "$OUT" "1 nodes did not re-register" "the report"
assert_eq "$(slurm_job_state "$j")" RUNNING "the job on v1 kept running"
ok "a node that never re-registers: named within resume_wait ($took s)"
