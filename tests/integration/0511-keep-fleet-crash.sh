#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The keep-fleet reboot killed (PCM_TEST_CRASH_AT) at points of its steps,
# run again until the reboot is requested, then the "boot" (slurmctld
# started again) and resume: every time both ParallelCluster configs end as
# they were (the old values journaled once, never the ones pcm-agent wrote),
# the jobs keep running and are never requeued, the reservation is gone, a
# widened budget is waited for also when the crash came between the write
# and its time.  Then abort after slurmctld was stopped: the configs are
# restored, slurmctld is started again, the reservation removed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2

plan_pc_confs
printf '[computemgtd]\nclustermgtd_heartbeat_file_path = %s/hb\nclustermgtd_timeout = 30\n' "$PC" >"$CD"
printf '[clustermgtd]\ncluster_name = %s\n' "$SLURM_CLUSTER" >"$CM"
chmod 644 "$CD" "$CM"
cp "$CD" "$T/cd.orig"; cp "$CM" "$T/cm.orig"
printf 'keep_fleet = yes\nclustermgtd_conf = %s\ncomputemgtd_conf = %s\nreboot_estimate = 10s\n' \
	"$CM" "$CD" >>"$PCM_CONF"
printf '#!/bin/bash\npid=$(cat "%s") || exit 0\nkill -TERM $pid 2>/dev/null || exit 0\nfor i in $(seq 100); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done\nexit 1\n' \
	"$SLURM_DIR/run/slurmctld.pid" >"$T/bin/ctld-stop"
printf '#!/bin/bash\nexport SLURM_CONF=%s\nslurmctld -i >>"%s" 2>&1\nfor i in $(seq 150); do scontrol ping 2>/dev/null | grep -q "is UP" && exit 0; sleep 0.1; done\nexit 1\n' \
	"$SLURM_CONF" "$T/log/slurmctld-abort.log" >"$T/bin/ctld-start"
chmod 755 "$T/bin/ctld-stop" "$T/bin/ctld-start"
export PCM_TEST_SLURMCTLD_STOP=$T/bin/ctld-stop PCM_TEST_SLURMCTLD_START=$T/bin/ctld-start
export PCM_TEST_KEEPFLEET_RELOAD_S=2

j1=$(slurm_submit --wrap "sleep 900")
j2=$(slurm_submit --no-requeue --wrap "sleep 900")
for j in $j1 $j2; do slurm_wait_state "$j" RUNNING 30; done
boots=0
for point in plan-kf_budget-acted plan-kf_clustermgtd-acted plan-kf_record-end \
	plan-kf_budget_wait-begin plan-kf_slurmctld-acted plan-restart-recorded; do
	rc=0
	PCM_TEST_CRASH_AT=$point:1 "$PCM" -c "$PCM_CONF" prepare-restart --reboot --yes \
		>"$T/crash.out" 2>&1 || rc=$?
	[ "$rc" -eq 137 ] || fail "$point: exited $rc, want 137: $(cat "$T/crash.out")"
	for i in 1 2; do
		rc=0
		"$PCM" -c "$PCM_CONF" prepare-restart --reboot --yes >"$T/run.out" 2>&1 || rc=$?
		[ "$rc" -eq 0 ] && break
	done
	[ "$rc" -eq 0 ] || fail "$point: the run after the crash exited $rc: $(cat "$T/run.out")"
	assert_eq "$(plan_journal_step restart)" done "$point: restart"
	assert_eq "$(plan_journal_data kf_timeout_before)" 30 "$point: old clustermgtd_timeout journaled"
	assert_eq "$(plan_journal_data kf_cm_before)" None "$point: disable_all_cluster_management was unset"
	assert_eq "$(grep clustermgtd_timeout "$CD")" "clustermgtd_timeout = 120" "$point: widened"
	waited=$(json_get "d['steps']['kf_budget_wait']['state']" <"$T/state/journal.json")
	assert_eq "$waited" done "$point: the widened budget waited for"
	# the boot
	if ! scontrol ping 2>/dev/null | grep -q "is UP"; then slurm_ctld_start; fi
	boots=$((boots + 1))
	PCM_TEST_BOOT_ID=boot-$boots assert_rc 0 pcm resume
	assert_contains "$OUT" "2 of 2 jobs kept running" "$point: jobs kept"
	cmp -s "$CD" "$T/cd.orig" || fail "$point: computemgtd config not restored: $(cat "$CD")"
	cmp -s "$CM" "$T/cm.orig" || fail "$point: clustermgtd config not restored: $(cat "$CM")"
	assert_eq "$(plan_resv)" no "$point: reservation"
	for j in $j1 $j2; do
		assert_eq "$(slurm_job_state "$j")" RUNNING "$point: job $j"
		assert_eq "$(slurm_job_field "$j" Restarts)" 0 "$point: job $j never requeued"
	done
done
ok "crashes at keep-fleet points: continued, configs restored, jobs kept"

# abort once slurmctld is stopped
rc=0
PCM_TEST_CRASH_AT=plan-kf_slurmctld-end:1 "$PCM" -c "$PCM_CONF" prepare-restart --reboot --yes \
	>"$T/crash.out" 2>&1 || rc=$?
[ "$rc" -eq 137 ] || fail "exited $rc, want 137: $(cat "$T/crash.out")"
scontrol ping 2>/dev/null | grep -q "is UP" && fail "slurmctld still up"
grep -q "disable_all_cluster_management = True" "$CM" || fail "clustermgtd not disabled"
OUT=$(pcm status 2>&1 || true)
assert_contains "$OUT" "budget 120 s (clustermgtd_timeout, widened)" "status: the budget"
assert_rc 0 pcm abort
scontrol ping | grep -q "is UP" || fail "abort did not start slurmctld"
cmp -s "$CD" "$T/cd.orig" || fail "abort: computemgtd config not restored: $(cat "$CD")"
cmp -s "$CM" "$T/cm.orig" || fail "abort: clustermgtd config not restored: $(cat "$CM")"
assert_eq "$(plan_resv)" no "abort: reservation"
[ ! -e "$T/state/journal.json" ] || fail "journal still open after abort"
for j in $j1 $j2; do slurm_wait_state "$j" RUNNING 30; done
ok "abort after slurmctld stopped: configs restored, slurmctld started"
