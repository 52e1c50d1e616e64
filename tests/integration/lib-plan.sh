# SPDX-License-Identifier: GPL-2.0-or-later
# tests/integration/lib-plan.sh - the whole bed for prepare-restart and
# resume, built from the other libs; sourced after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/lib-plan.sh"
#   plan_bed [NNODES]    Slurm (NNODES nodes, default 2), moto_server with the
#                        cluster's fleet item and head node (HEAD_ID), the IMDS
#                        fake (instance id HEAD_ID), the SSM fake, the
#                        clusterstatusmgtd stand-in moving the fleet item and
#                        applying power_down_force / INACTIVE to Slurm like
#                        ParallelCluster, /scratch = $T/scratch (ext4 loop) and
#                        the target $T/target (xfs loop); $PCM_CONF set up.
#   plan_bed_rest        the same without Slurm (already started: make demo);
#                        PLAN_CLUSTER names the cluster (default $SLURM_CLUSTER)
#   plan_fleet                         the fleet item's status
#   plan_stop_requests                 how many STOP_REQUESTED the stand-in saw
#   plan_start_requests                how many START_REQUESTED
#   plan_ssm_restarts                  StartAutomationExecution calls the SSM fake got
#   plan_new_hardware                  stop/start: mkfs of the ephemeral volume
#   plan_resv                          "yes" if the maintenance reservation exists
#   plan_journal_step STEP             the step's state in the open journal
#
# PLAN_DELAY (default 1) is the stand-in's delay between *ING and the end state;
# PLAN_SSM_STEP_S (default 0.3) the SSM fake's pause between runbook steps;
# PLAN_SCRATCH_MB / PLAN_TARGET_MB (96 / 300) the sizes of the loop volumes.

. "$(dirname "${BASH_SOURCE[0]}")/lib-slurm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib-aws.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib-storage.sh"

PLAN_TABLE=parallelcluster-$SLURM_CLUSTER
PLAN_RESV=pcm-maintenance

plan_bed() {
	need_moto
	slurm_start "${1:-2}"
	plan_bed_rest
}

# plan_bed_rest: everything but Slurm, for a bed whose Slurm already runs
# (make demo).  PLAN_CLUSTER: the cluster name (default $SLURM_CLUSTER).
plan_bed_rest() {
	local cluster=${PLAN_CLUSTER:-$SLURM_CLUSTER}
	need_moto
	PLAN_TABLE=parallelcluster-$cluster
	moto_start
	aws_cluster "$cluster"
	imds_fake_start --instance-id "$HEAD_ID"
	ssm_fake_start --step-s "${PLAN_SSM_STEP_S:-0.3}"
	loopfs scratch ext4 "${PLAN_SCRATCH_MB:-96}"
	loopfs target xfs "${PLAN_TARGET_MB:-300}"
	mkdir -p "$T/bin"
	# what ParallelCluster's clusterstatusmgtd/clustermgtd do to Slurm
	cat >"$T/bin/on-stop" <<EOF
#!/bin/bash
export SLURM_CONF=$SLURM_CONF
$SLURM_BIN/scontrol update nodename=ALL state=power_down_force reason="stopping cluster"
$SLURM_BIN/scontrol update partitionname=$SLURM_PARTITION state=inactive
EOF
	cat >"$T/bin/on-start" <<EOF
#!/bin/bash
export SLURM_CONF=$SLURM_CONF
$SLURM_BIN/scontrol update partitionname=$SLURM_PARTITION state=up
EOF
	chmod 755 "$T/bin/on-stop" "$T/bin/on-start"
	clusterstatusmgtd_start "$PLAN_TABLE" --interval 0.3 --delay "${PLAN_DELAY:-1}" \
		--on-stop "$T/bin/on-stop" --on-start "$T/bin/on-start"
	PLAN_CSM_LOG=$T/log/clusterstatusmgtd.log
	cat >>"$PCM_CONF" <<EOF
cluster_name = $cluster
region = $AWS_REGION
ephemeral_dir = $T/scratch
target = $T/target
notify_wall = no
fleet_timeout = 60s
EOF
}

# plan_pc_confs: PC, the directory of a stand-in ParallelCluster's configs,
# CD and CM, its computemgtd and clustermgtd configs (not yet written)
plan_pc_confs() {
	PC=$T/pc
	CD=$PC/parallelcluster_computemgtd.conf
	CM=$PC/parallelcluster_clustermgtd.conf
	mkdir -p "$PC" "$T/bin"
}
plan_fleet() { aws_fleet_get "$PLAN_TABLE"; }
plan_stop_requests() { grep -c "STOP_REQUESTED -> STOPPING" "$PLAN_CSM_LOG" || true; }
plan_start_requests() { grep -c "START_REQUESTED -> STARTING" "$PLAN_CSM_LOG" || true; }
plan_ssm_restarts() {
	fake_stats "$SSM_URL" | json_get 'd.get("calls", {}).get("StartAutomationExecution", 0)'
}
plan_new_hardware() { wipefs_new scratch; }
plan_resv() {
	if scontrol show reservation "$PLAN_RESV" >/dev/null 2>&1; then echo yes; else echo no; fi
}
plan_journal_step() {
	json_get "d['steps']['$1']['state']" <"$T/state/journal.json"
}
plan_journal_data() {
	json_get "d['data'].get('$1')" <"$T/state/journal.json"
}
# plan_journal_data_time STEP: when the step ended, in epoch seconds
plan_journal_data_time() {
	python3 - "$T/state/journal.json" "$1" <<'PY'
import calendar, json, sys, time
d = json.load(open(sys.argv[1]))
print(calendar.timegm(time.strptime(d["steps"][sys.argv[2]]["ended"], "%Y-%m-%dT%H:%M:%SZ")))
PY
}
