#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fleet status|stop|start against moto's DynamoDB (signatures checked):
# both item formats, the pcluster state rules, --wait, timeouts, and a
# conditional write lost to a concurrent writer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"
moto_start
aws_cluster c1
aws_cluster old --legacy
echo "cluster_name = c1" >>"$PCM_CONF"
TBL=parallelcluster-c1

assert_rc 0 pcm fleet status
assert_contains "$OUT" "compute fleet: RUNNING" "status"
assert_contains "$OUT" "parallelcluster-c1 (3.2+ format)" "format"
assert_rc_out 0 pcm --json fleet status
assert_eq "$(echo "$OUT" | json_get 'd["status"]')" RUNNING "json status"

# stop: RUNNING -> STOP_REQUESTED, written as pcluster does
assert_rc 0 pcm fleet stop
assert_eq "$(aws_fleet_get $TBL)" STOP_REQUESTED "item after stop"
# again: nothing written, not an error
assert_rc 0 pcm fleet stop
assert_contains "$OUT" "already STOP_REQUESTED" "stop twice"
# start while a stop is in progress: refused
assert_rc 1 pcm fleet start
assert_contains "$OUT" "cannot start the compute fleet: it is STOP_REQUESTED" "start refused"
aws_fleet_set $TBL STOPPING
assert_rc 1 pcm fleet start
assert_contains "$OUT" "it is STOPPING" "start while STOPPING"
assert_eq "$(aws_fleet_get $TBL)" STOPPING "refusal wrote nothing"
aws_fleet_set $TBL PROTECTED
assert_rc 1 pcm fleet stop
assert_contains "$OUT" "PROTECTED" "protected refused"
assert_rc 1 pcm fleet start
assert_eq "$(aws_fleet_get $TBL)" PROTECTED "protected untouched"

# --wait with clusterstatusmgtd moving the item
aws_fleet_set $TBL RUNNING
clusterstatusmgtd_start $TBL --interval 0.3 --delay 1
assert_rc 0 pcm fleet stop --wait --timeout 30s
assert_contains "$OUT" "compute fleet: STOPPED" "stop --wait"
assert_eq "$(aws_fleet_get $TBL)" STOPPED "item after stop --wait"
assert_rc_out 0 pcm --json fleet start --wait --timeout 30s
assert_eq "$(echo "$OUT" | json_get 'd["status"]')" RUNNING "start --wait json"
assert_eq "$(echo "$OUT" | json_get 'd["previous"]')" STOPPED "previous"
stop_pid "$BG_PID"

# nobody moves the item: --wait times out with exit 4
t0=$SECONDS
assert_rc 4 pcm fleet stop --wait --timeout 2s
assert_contains "$OUT" "still STOP_REQUESTED after" "timeout message"
[ $((SECONDS - t0)) -le 10 ] || fail "--timeout 2s took $((SECONDS - t0)) s"

# the pre-3.2 flat item: read and conditional PutItem
assert_rc 0 pcm fleet status --cluster-name old
assert_contains "$OUT" "pre-3.2 format" "legacy format"
assert_rc 0 pcm fleet stop --cluster-name old
assert_eq "$(aws_fleet_get parallelcluster-old)" STOP_REQUESTED "legacy stop"
python3 - "$MOTO_URL" <<'PY' || fail "legacy item changed shape"
import boto3, os, sys
d = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id=os.environ["AWS_BED_KEY"], aws_secret_access_key=os.environ["AWS_BED_SECRET"])
it = d.get_item(TableName="parallelcluster-old", Key={"Id": {"S": "COMPUTE_FLEET"}})["Item"]
assert "Data" not in it and it["Status"]["S"] == "STOP_REQUESTED" and "+00:00" in it["LastUpdatedTime"]["S"], it
PY

# a missing table names the cluster
assert_rc 1 pcm fleet status --cluster-name nosuch
assert_contains "$OUT" "DynamoDB table parallelcluster-nosuch not found" "missing table"

# a conditional write lost to a concurrent writer: the proxy holds our
# UpdateItem 4 s; meanwhile someone else writes STOPPING
aws_fleet_set $TBL RUNNING
faultproxy_start
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["slow"], "slow_s": 4, "match": "UpdateItem"}'
# the other writer writes as soon as the proxy holds our UpdateItem
(until [ "$(fake_stats "$FAULT_URL" | json_get 'd["faults"]')" -ge 1 ]; do sleep 0.1; done
 aws_fleet_set $TBL STOPPING) &
writer=$!
assert_rc 1 pcm fleet stop
wait $writer
assert_contains "$OUT" "changed from RUNNING to STOPPING" "lost race reported"
assert_contains "$OUT" "nothing overwritten" "lost race not overwritten"
assert_eq "$(aws_fleet_get $TBL)" STOPPING "the other writer's value stays"

# our own write went through but its answer was lost: the retry meets its
# own value, which is not a conflict
fake_faults "$FAULT_URL" '{"rate": 0}'
aws_fleet_set $TBL RUNNING
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["lost"], "match": "UpdateItem", "count": 1}'
assert_rc 0 pcm fleet stop
assert_contains "$OUT" "STOP_REQUESTED is in place (a retried write" "lost answer"
assert_eq "$(aws_fleet_get $TBL)" STOP_REQUESTED "written once"
ok "fleet"
