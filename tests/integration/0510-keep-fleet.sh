#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# prepare-restart --reboot --keep-fleet on the real local Slurm.  The
# "reboot" is what the head node's absence does to the compute nodes:
# slurmctld and clustermgtd's heartbeat writer stopped for a while, slurmd
# going on running the jobs, then started again, and resume run with a new
# boot id.  A computemgtd stand-in (tests/fakes/computemgtd.py, time
# scaled: loops of 1 s, config re-read every 10) watches the heartbeat and
# its config like the real one on every compute node.
#  1. budget 20 s, estimate 10 s (+ 60 s margin): prepare-restart widens
#     clustermgtd_timeout to 120 s (old value journaled), waits for
#     computemgtd to re-read it (the 11 minutes made 11 s by a test hook),
#     sets clustermgtd's disable_all_cluster_management, keeps the fleet
#     RUNNING, stops slurmctld, asks EC2 for the reboot; a 25 s outage (more
#     than the old budget) kills no node; resume: the same jobs RUNNING with
#     the same ids, never requeued (Restarts=0), the --no-requeue job too;
#     both configs as before; the report names down time and budget;
#  2. budget 10 s, estimate 15 s, keep_fleet_max_budget 60 s: refused
#     before anything changes; and an outage over the budget is indeed
#     fatal: the stand-in would shut the nodes down;
#  3. no ParallelCluster configs at all: reported, the mode still works (a
#     job cancelled meanwhile is reported as not kept, with its state);
#     without reboot_estimate the outage of part 1 is the estimate.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2

plan_pc_confs
HB=$PC/clustermgtd_heartbeat
printf '[computemgtd]\nclustermgtd_heartbeat_file_path = %s\nclustermgtd_timeout = 20\ndisable_computemgtd_actions = False\n' \
	"$HB" >"$CD"
printf '[clustermgtd]\ncluster_name = %s\nheartbeat_file_path = %s\ndisable_all_cluster_management = False\nterminate_down_nodes = True\n' \
	"$SLURM_CLUSTER" "$HB" >"$CM"
chmod 644 "$CD" "$CM"
cp "$CD" "$T/cd.orig"; cp "$CM" "$T/cm.orig"
printf 'keep_fleet = yes\nclustermgtd_conf = %s\ncomputemgtd_conf = %s\nreboot_estimate = 10s\n' \
	"$CM" "$CD" >>"$PCM_CONF"

# clustermgtd's heartbeat: a UTC timestamp every second
printf '#!/bin/bash\necho $$ >"%s"\nwhile :; do\n\tdate -u "+%%Y-%%m-%%d %%H:%%M:%%S.%%6N+00:00" >"%s.tmp" && mv "%s.tmp" "%s"\n\tsleep 1\ndone\n' \
	"$T/heartbeat.pid" "$HB" "$HB" "$HB" >"$T/bin/heartbeat"
# what the reboot does on the head node: slurmctld (SIGTERM: it saves its
# state) and clustermgtd go away
printf '#!/bin/bash\nkill -TERM $(cat "%s")\npid=$(cat "%s")\nkill -TERM $pid\nfor i in $(seq 100); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done\nexit 1\n' \
	"$T/heartbeat.pid" "$SLURM_DIR/run/slurmctld.pid" >"$T/bin/reboot-stop"
chmod 755 "$T/bin/heartbeat" "$T/bin/reboot-stop"
heartbeat_start() { bg heartbeat "$T/bin/heartbeat"; }
boot() {	# the head node comes back
	slurm_ctld_start
	heartbeat_start
}
heartbeat_start
bg computemgtd python3 "$FAKES/computemgtd.py" --conf "$CD" --node v1 --node v2 \
	--loop-s 1 --reload-loops 10
CMD_LOG=$T/log/computemgtd.log
export PCM_TEST_SLURMCTLD_STOP=$T/bin/reboot-stop
export PCM_TEST_KEEPFLEET_RELOAD_S=11
sleep 2
grep -q "timeout 20 s" "$CMD_LOG" || fail "computemgtd stand-in not running: $(cat "$CMD_LOG")"

j1=$(slurm_submit --wrap "sleep 600")
j2=$(slurm_submit --no-requeue -J precious --wrap "sleep 600")
for j in $j1 $j2; do slurm_wait_state "$j" RUNNING 30; done
start1=$(slurm_job_field "$j1" StartTime); start2=$(slurm_job_field "$j2" StartTime)

# --- 1. the budget widened, a reboot longer than the old budget, jobs kept ---
assert_rc 0 pcm prepare-restart --reboot --keep-fleet --dry-run
assert_contains "$OUT" "kf_budget" "dry run: the keep-fleet plan"
assert_not_contains "$OUT" "fleet_stop" "dry run: no fleet stop"
[ ! -e "$T/state/journal.json" ] || fail "--dry-run wrote a journal"
assert_rc 2 pcm prepare-restart --stop-start --keep-fleet
assert_contains "$OUT" "--keep-fleet needs --reboot" "usage"
# with --patch (the fake package manager of 0520 as dnf): the OS update
# runs inside the keep-fleet plan, before the wait for computemgtd's re-read
mkdir -p "$T/pkgbin" "$T/pkg" "$T/modules/6.1.1"
for n in dnf rpm needs-restarting; do ln -s "$PCM_TOP/tests/fakes/pkgmgr" "$T/pkgbin/$n"; done
touch "$T/modules/6.1.1/modules.dep"
printf 'ID="amzn"\nVERSION_ID="2023"\n' >"$T/os-release"
printf 'kernel 6.1.1\nopenssl 3.0.1\n' >"$T/pkg/installed"
printf 'openssl 3.0.2\n' >"$T/pkg/updates"
export PATH=$T/pkgbin:$PATH FAKE_PKG_DIR=$T/pkg PCM_TEST_OS_RELEASE=$T/os-release
export PCM_TEST_MODULES_DIR=$T/modules PCM_TEST_KERNEL=6.1.1
export PCM_TEST_REBOOT_REQUIRED=$T/reboot-required
assert_rc 0 pcm prepare-restart --reboot --keep-fleet --patch --dry-run
order=$(printf '%s\n' "$OUT" | grep -oE 'kf_record|patch|kf_budget_wait' | uniq | tr '\n' ' ')
assert_eq "$order" "kf_record patch kf_budget_wait " "dry run: the update before the budget wait"
assert_rc 0 pcm prepare-restart --reboot --yes --patch
grep -q '^dnf .*upgrade' "$T/pkg/calls" || fail "the OS update did not run: $(cat "$T/pkg/calls" 2>&1)"
assert_eq "$(awk '$1 == "openssl" { print $2 }' "$T/pkg/installed")" 3.0.2 "openssl updated"
assert_eq "$(json_get 'd["steps"]["patch"]["state"]' \
	<"$T/state/journal.json")" done "journal: the patch step of the keep-fleet plan"
assert_contains "$OUT" "budget widened from 20 s to 2m" "the budget widened"
assert_contains "$OUT" "outage estimate 10 s (reboot_estimate of the config)" "the estimate"
assert_contains "$OUT" "budget_wait:" "the countdown"
assert_contains "$OUT" "disable_all_cluster_management = True (was False)" "clustermgtd"
assert_contains "$OUT" "2 running jobs, 2 nodes (2 up)" "the record"
assert_contains "$OUT" "restart: done: reboot requested" "EC2 reboot"
assert_not_contains "$OUT" "fleet_stop" "no fleet stop"
assert_not_contains "$OUT" "jobgate" "no job gate"
assert_eq "$(grep clustermgtd_timeout "$CD")" "clustermgtd_timeout = 120" "computemgtd config widened"
assert_eq "$(grep disable_all "$CM")" "disable_all_cluster_management = True" "clustermgtd config"
assert_eq "$(plan_journal_data kf_timeout_before)" 20 "journal: old clustermgtd_timeout"
assert_eq "$(plan_journal_data kf_cm_before)" False "journal: old disable_all_cluster_management"
assert_eq "$(plan_fleet)" RUNNING "the fleet is not stopped"
assert_eq "$(plan_stop_requests)" 0 "no fleet stop request"
scontrol ping 2>/dev/null | grep -q "is UP" && fail "slurmctld still runs after prepare-restart"
grep -q "timeout 120 s" "$CMD_LOG" || fail "computemgtd did not re-read its config before the reboot"
OUT=$(pcm status 2>&1 || true)
assert_contains "$OUT" "keep-fleet" "status names the keep-fleet operation"
assert_contains "$OUT" "budget 120 s" "status shows the budget"
# the outage: 25 s, more than the old budget of 20 s
sleep 25
boot
export PCM_TEST_BOOT_ID=after-keep-fleet-reboot
assert_rc 0 pcm resume
assert_contains "$OUT" "2 of 2 jobs kept running" "jobs compared"
assert_contains "$OUT" "2 of 2 nodes back" "nodes back"
assert_contains "$OUT" "of a 120 s budget" "the report: budget"
assert_contains "$OUT" "2 jobs kept running" "the report: jobs"
assert_not_contains "$OUT" "EXCEEDED" "within the budget"
assert_not_contains "$OUT" "did not survive" "no job lost"
down=$(json_get "d['data']['kf_down_s']" <"$(ls -t "$T"/state/history/*.json | head -n1)")
[ "$down" -ge 25 ] && [ "$down" -lt 120 ] || fail "down time recorded: $down"
assert_contains "$OUT" "down $down s" "the report: down time"
for j in $j1 $j2; do
	assert_eq "$(slurm_job_state "$j")" RUNNING "job $j after the reboot"
	assert_eq "$(slurm_job_field "$j" Restarts)" 0 "job $j never requeued"
done
assert_eq "$(slurm_job_field "$j1" StartTime)" "$start1" "job $j1: same start"
assert_eq "$(slurm_job_field "$j2" StartTime)" "$start2" "--no-requeue job $j2: same start"
cmp -s "$CD" "$T/cd.orig" || fail "computemgtd config not restored: $(cat "$CD")"
cmp -s "$CM" "$T/cm.orig" || fail "clustermgtd config not restored: $(cat "$CM")"
assert_eq "$(plan_resv)" no "reservation after resume"
assert_eq "$(plan_fleet)" RUNNING "fleet after resume"
[ ! -e "$T/state/journal.json" ] || fail "journal still open after resume"
if grep -q "SELF-TERMINATE" "$CMD_LOG"; then
	fail "a compute node would have shut down: $(grep SELF-TERMINATE "$CMD_LOG")"
fi
ok "keep-fleet reboot: budget widened, jobs kept running, configs restored"

# --- 2. over the budget: refused; and such an outage is fatal ---
sed -i 's/^clustermgtd_timeout = .*/clustermgtd_timeout = 10/' "$CD"
cp "$CD" "$T/cd.10"
sed -i 's/^reboot_estimate = .*/reboot_estimate = 15s/' "$PCM_CONF"
echo "keep_fleet_max_budget = 60s" >>"$PCM_CONF"
assert_rc 1 pcm prepare-restart --reboot --yes
assert_contains "$OUT" "cannot keep the fleet" "refused"
assert_contains "$OUT" "estimated at 15 s" "the estimate named"
cmp -s "$CD" "$T/cd.10" || fail "computemgtd config changed by a refused prepare-restart"
cmp -s "$CM" "$T/cm.orig" || fail "clustermgtd config changed by a refused prepare-restart"
assert_eq "$(plan_resv)" no "no reservation after the refusal"
scontrol ping | grep -q "is UP" || fail "slurmctld stopped by a refused prepare-restart"
assert_rc 0 pcm abort
_reread() { tail -n 3 "$CMD_LOG" | grep -q "timeout 10 s"; }
wait_for 15 "computemgtd to re-read clustermgtd_timeout = 10" _reread
"$T/bin/reboot-stop" || fail "cannot stop slurmctld"
_killed() { grep -q "SELF-TERMINATE" "$CMD_LOG"; }
wait_for 25 "computemgtd to find the heartbeat over the budget" _killed
assert_contains "$(grep SELF-TERMINATE "$CMD_LOG")" "slurmctld does not answer" "why"
boot
for j in $j1 $j2; do slurm_wait_state "$j" RUNNING 30; done
ok "over the budget: refused beforehand; the outage would have shut the nodes down"

# --- 3. not a ParallelCluster head node: no configs, reported, still works ---
sed -i -e "s|^clustermgtd_conf = .*|clustermgtd_conf = $T/none/clustermgtd.conf|" \
	-e "s|^computemgtd_conf = .*|computemgtd_conf = $T/none/computemgtd.conf|" \
	-e "s|^reboot_estimate = .*|reboot_estimate = 0|" "$PCM_CONF"
j3=$(slurm_submit -J doomed --wrap "sleep 600")
slurm_wait_state "$j3" RUNNING 30
assert_rc 0 pcm prepare-restart --reboot --yes
assert_contains "$OUT" "no computemgtd config at $T/none/computemgtd.conf" "computemgtd reported"
assert_contains "$OUT" "no clustermgtd config at $T/none/clustermgtd.conf" "clustermgtd reported"
# the estimate from the history: the reboot of part 1 (part 2 was aborted)
assert_contains "$OUT" "(the longest of 1 earlier reboot)" "estimate from the history"
assert_contains "$OUT" "restart: done: reboot requested" "reboot requested"
sleep 3
boot
scancel "$j3"	# a job that does not survive (its owner cancels it meanwhile)
slurm_wait_state "$j3" CANCELLED 30
PCM_TEST_BOOT_ID=after-reboot-3 assert_rc 0 pcm resume
assert_contains "$OUT" "2 of 3 jobs kept running" "jobs kept"
assert_contains "$OUT" "job $j3 did not keep running across the reboot: CANCELLED" "the lost job named"
assert_contains "$OUT" "did not survive: job $j3 CANCELLED" "the report names the lost job"
assert_contains "$OUT" "no computemgtd budget known" "the report says there was no budget"
for j in $j1 $j2; do assert_eq "$(slurm_job_field "$j" Restarts)" 0 "job $j never requeued"; done
ok "no ParallelCluster configs: reported, jobs kept"
