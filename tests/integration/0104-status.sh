#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent status on a real Slurm: cluster identity from cfnconfig, the
# controller, partitions with their states (an INACTIVE partition shows
# so), nodes, the jobs summary and the maintenance reservation, as text and
# in the --json shape later issues build on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"

cat >"$T/cfnconfig" <<CFN
stack_name=it-cluster
cfn_region=eu-north-1
CFN
slurm_start 2
run=$(slurm_submit --wrap "sleep 300")
noreq=$(slurm_submit --no-requeue --wrap "sleep 300")
held=$(slurm_submit --hold --wrap "sleep 300")
slurm_wait_state "$run" RUNNING 20
slurm_wait_state "$noreq" RUNNING 20

assert_rc 0 pcm status --json
J=$OUT
assert_eq "$(echo "$J" | json_get 'sorted(d.keys())')" \
	"['cluster', 'jobs', 'maintenance', 'operation', 'slurm']" "sections"
assert_eq "$(echo "$J" | json_get 'd["operation"]')" None "no operation in progress"
assert_eq "$(echo "$J" | json_get 'd["cluster"]')" \
	"{'name': 'it-cluster', 'region': 'eu-north-1', 'slurm_cluster': '$SLURM_CLUSTER'}" "cluster"
assert_eq "$(echo "$J" | json_get 'sorted(d["slurm"].keys())')" \
	"['conf', 'controller', 'error', 'nodes', 'partitions', 'reachable']" "slurm keys"
assert_eq "$(echo "$J" | json_get 'd["slurm"]["reachable"]')" True "reachable"
assert_eq "$(echo "$J" | json_get 'd["slurm"]["error"]')" None "no error"
assert_eq "$(echo "$J" | json_get 'd["slurm"]["controller"]')" "$(hostname -s):$SLURM_CTLD_PORT" "controller"
assert_eq "$(echo "$J" | json_get 'd["slurm"]["conf"]')" "$SLURM_CONF" "conf"
assert_eq "$(echo "$J" | json_get '[(p["name"], p["state"], p["total_nodes"]) for p in d["slurm"]["partitions"]]')" \
	"[('$SLURM_PARTITION', 'UP', 2)]" "partitions"
assert_eq "$(echo "$J" | json_get 'sorted(n["name"] for n in d["slurm"]["nodes"])')" \
	"['v1', 'v2']" "nodes"
assert_eq "$(echo "$J" | json_get 'sum(n["allocated"] for n in d["slurm"]["nodes"])')" 1 \
	"one node runs both jobs"
assert_eq "$(echo "$J" | json_get 'd["jobs"]')" \
	"{'running': 2, 'requeue': 1, 'fail': 1, 'pending': 1}" "jobs summary"
assert_eq "$(echo "$J" | json_get 'd["maintenance"]')" \
	"{'name': 'pcm-maintenance', 'reservation': None}" "no maintenance"

# what ParallelCluster does on a fleet stop: partition INACTIVE
scontrol update partitionname="$SLURM_PARTITION" state=inactive
assert_rc 0 pcm maintenance start --duration 1h
assert_rc 0 pcm status --json
assert_eq "$(echo "$OUT" | json_get 'd["slurm"]["partitions"][0]["state"]')" INACTIVE "inactive partition"
assert_eq "$(echo "$OUT" | json_get 'd["maintenance"]["reservation"]["maint"]')" True "maintenance shown"

assert_rc 0 pcm status
assert_contains "$OUT" "it-cluster (region eu-north-1; Slurm ClusterName $SLURM_CLUSTER)" "text: cluster"
assert_contains "$OUT" "$(hostname -s):$SLURM_CTLD_PORT ($SLURM_CONF): reachable" "text: slurmctld"
assert_contains "$OUT" "$SLURM_PARTITION INACTIVE (2 nodes" "text: partition"
assert_contains "$OUT" "2 running (1 requeue, 1 fail), 1 pending" "text: jobs"
assert_contains "$OUT" "maintenance  pcm-maintenance " "text: maintenance"
assert_rc 2 pcm status --bogus
assert_rc 2 pcm status extra
ok "status"
