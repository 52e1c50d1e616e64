#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restart-head-node: the off-box stop/start against moto's EC2; refuses while
# the fleet runs; a missing permission is exit 5; wrong cluster is clear.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"
moto_start
aws_cluster c1
: >"$PCM_CONF.empty"
rhn() { "$PCM" -c "$PCM_CONF.empty" "$@"; }

assert_rc 2 rhn restart-head-node
assert_contains "$OUT" "--cluster-name is required" "usage"

# the fleet is RUNNING: refused, nothing stopped
assert_rc 1 rhn restart-head-node --cluster-name c1
assert_contains "$OUT" "the compute fleet is RUNNING, not STOPPED" "refusal"
assert_eq "$(aws_instance_state "$HEAD_ID")" running "not stopped when refused"

aws_fleet_set parallelcluster-c1 STOPPED
assert_rc 0 rhn restart-head-node --cluster-name c1 --timeout 60s
assert_contains "$OUT" "head node of c1: $HEAD_ID (c5d.large, running)" "found by tags"
assert_contains "$OUT" "$HEAD_ID: stopped" "went through stopped"
assert_contains "$OUT" "$HEAD_ID: running, system ok, instance ok" "status checks"
assert_contains "$OUT" "head node $HEAD_ID of c1 restarted" "result"
assert_eq "$(aws_instance_state "$HEAD_ID")" running "running at the end"

# --json, and a head node already stopped is just started
python3 - <<PY
import boto3, os
boto3.client("ec2", endpoint_url=os.environ["MOTO_URL"], region_name="us-east-1",
             aws_access_key_id=os.environ["AWS_BED_KEY"], aws_secret_access_key=os.environ["AWS_BED_SECRET"]
             ).stop_instances(InstanceIds=["$HEAD_ID"])
PY
assert_rc_out 0 rhn --json restart-head-node --cluster-name c1
assert_eq "$(echo "$OUT" | json_get 'd["instance_id"]')" "$HEAD_ID" "json id"
assert_contains "$ERR" "$HEAD_ID is already stopped" "already stopped"

# wrong cluster or region: clear
assert_rc 1 rhn restart-head-node --cluster-name nosuch
assert_contains "$OUT" "no instance tagged parallelcluster:cluster-name=nosuch" "not found"

# no permission to stop: exit 5, the instance untouched
aws_user nostop '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
  "Action": ["dynamodb:GetItem", "ec2:Describe*", "ec2:StartInstances"]}]}'
AWS_ACCESS_KEY_ID=$USER_KEY AWS_SECRET_ACCESS_KEY=$USER_SECRET \
	assert_rc 5 rhn restart-head-node --cluster-name c1
assert_contains "$OUT" "cannot stop instance $HEAD_ID" "denied message"
assert_contains "$OUT" "packaging/iam/pcm-agent-policy.json" "points at the policy"
assert_eq "$(aws_instance_state "$HEAD_ID")" running "untouched when denied"

# --force: fleet status unreadable (no dynamodb permission) is not a stop
aws_user nofleet '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
  "Action": ["ec2:*"]}]}'
AWS_ACCESS_KEY_ID=$USER_KEY AWS_SECRET_ACCESS_KEY=$USER_SECRET \
	assert_rc 5 rhn restart-head-node --cluster-name c1
assert_contains "$OUT" "cannot read the compute fleet status" "fleet unreadable"
AWS_ACCESS_KEY_ID=$USER_KEY AWS_SECRET_ACCESS_KEY=$USER_SECRET \
	assert_rc 0 rhn restart-head-node --cluster-name c1 --force
assert_contains "$OUT" "going on (--force)" "force"

# an instance that never gets to "stopped": the wait ends at --timeout, exit 4
aws_fleet_set parallelcluster-c1 STOPPED
faultproxy_start
python3 - "$HEAD_ID" >"$T/canned.json" <<'PY'
import json, sys
body = ('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        '<reservationSet><item><instancesSet><item><instanceId>%s</instanceId>'
        '<instanceState><code>64</code><name>stopping</name></instanceState><instanceType>c5d.large</instanceType>'
        '<tagSet><item><key>parallelcluster:cluster-name</key><value>c1</value></item>'
        '<item><key>parallelcluster:node-type</key><value>HeadNode</value></item></tagSet>'
        '</item></instancesSet></item></reservationSet></DescribeInstancesResponse>') % sys.argv[1]
print(json.dumps({"match": "DescribeInstances", "status": 200, "body": body}))
PY
curl -sf -X POST --data @"$T/canned.json" "$FAULT_URL/__canned" >/dev/null || fail "canned answer"
t0=$SECONDS
assert_rc 4 rhn restart-head-node --cluster-name c1 --timeout 2s
assert_contains "$OUT" "instance $HEAD_ID still stopping after" "waiter timeout"
[ $((SECONDS - t0)) -le 8 ] || fail "--timeout 2s took $((SECONDS - t0)) s"
curl -sf -X POST --data '{"match": ""}' "$FAULT_URL/__canned" >/dev/null
export AWS_ENDPOINT_URL=$MOTO_URL
python3 - <<PY
import boto3, os
boto3.client("ec2", endpoint_url=os.environ["MOTO_URL"], region_name="us-east-1",
             aws_access_key_id=os.environ["AWS_BED_KEY"], aws_secret_access_key=os.environ["AWS_BED_SECRET"]
             ).start_instances(InstanceIds=["$HEAD_ID"])
PY

# run on the head node itself: refused (it could never start itself again)
imds_fake_start --instance-id "$HEAD_ID"
assert_rc 1 rhn restart-head-node --cluster-name c1 --force
assert_contains "$OUT" "cannot restart the head node $HEAD_ID from itself" "self"
assert_eq "$(aws_instance_state "$HEAD_ID")" running "not stopped from itself"
ok "restart-head-node"
