#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# check: every permission of each restart method, probed without side
# effects (EC2 DryRun, DynamoDB write with an impossible condition, SSM
# request rejected after its IAM check); allowed and missing both reported
# right, with the IAM statement to attach and exit 5.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"
moto_start
aws_cluster c1
aws_user limited '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
  "Action": ["dynamodb:GetItem", "ec2:DescribeInstances", "ec2:DescribeInstanceStatus"]}]}'
LIM_KEY=$USER_KEY LIM_SECRET=$USER_SECRET
# the SSM fake knows both keys (it checks signatures) and denies the limited one
FAKE_KEYS="$AWS_BED_KEY:$AWS_BED_SECRET,$LIM_KEY:$LIM_SECRET" FAKE_DENY=$LIM_KEY ssm_fake_start
imds_fake_start --instance-id "$HEAD_ID"
cat >>"$PCM_CONF" <<CONF
cluster_name = c1
restart_method = reboot
CONF

# the admin has everything, for every method
for m in none reboot stop-start; do
	assert_rc 0 pcm check --restart-method $m
	assert_contains "$OUT" "all permissions present" "check $m"
	assert_contains "$OUT" "instance $HEAD_ID" "instance id from IMDS"
done
assert_contains "$OUT" "ssm:StartAutomationExecution  allowed" "ssm probe allowed"
assert_contains "$OUT" "ec2:StopInstances             allowed" "stop DryRun allowed"
# nothing was changed by the probes
assert_eq "$(aws_instance_state "$HEAD_ID")" running "instance untouched by DryRun"
assert_eq "$(aws_fleet_get parallelcluster-c1)" RUNNING "fleet untouched by the write probe"
python3 - <<PY || fail "the probe wrote an attribute"
import boto3, os
d = boto3.client("dynamodb", endpoint_url=os.environ["MOTO_URL"], region_name="us-east-1",
                 aws_access_key_id=os.environ["AWS_BED_KEY"], aws_secret_access_key=os.environ["AWS_BED_SECRET"])
it = d.get_item(TableName="parallelcluster-c1", Key={"Id": {"S": "COMPUTE_FLEET"}})["Item"]
assert set(it) == {"Id", "Data"}, it
PY
[ "$(fake_stats "$SSM_URL" | json_get 'd["calls"].get("StartAutomationExecution", 0)')" -ge 1 ] ||
	fail "the SSM probe never reached the SSM server"

# the limited user: per action, the exact statement to attach, exit 5
export AWS_ACCESS_KEY_ID=$LIM_KEY AWS_SECRET_ACCESS_KEY=$LIM_SECRET
assert_rc 5 pcm check
assert_contains "$OUT" "dynamodb:GetItem            allowed" "GetItem allowed"
assert_contains "$OUT" "ec2:DescribeInstances       allowed" "describe allowed"
assert_contains "$OUT" "ec2:RebootInstances         MISSING" "reboot missing"
assert_contains "$OUT" "dynamodb:UpdateItem         MISSING" "update missing"
assert_contains "$OUT" "\"Resource\":\"arn:aws:ec2:us-east-1:*:instance/$HEAD_ID\"" "statement resource"
assert_contains "$OUT" "2 AWS permissions missing" "summary"
assert_rc_out 5 pcm --json check --restart-method stop-start
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
res = {c["action"]: c["result"] for c in d["checks"]}
assert res["ec2:DescribeInstances"] == "allowed", res
assert res["ssm:StartAutomationExecution"] == "MISSING", res
assert res["ec2:StopInstances"] == "MISSING" and res["ec2:StartInstances"] == "MISSING", res
acts = [a for s in d["policy_to_attach"]["Statement"] for a in s["Action"]]
assert sorted(acts) == sorted(a for a, r in res.items() if r == "MISSING"), acts
assert d["ok"] is False
' || fail "check --json for the limited user: $OUT"

# with an assume role, iam:PassRole is listed as not checkable
echo "ssm_assume_role = arn:aws:iam::123456789012:role/ssm-restart" >>"$PCM_CONF"
export AWS_ACCESS_KEY_ID=$AWS_BED_KEY AWS_SECRET_ACCESS_KEY=$AWS_BED_SECRET
assert_rc 0 pcm check --restart-method stop-start
assert_contains "$OUT" "iam:PassRole" "PassRole listed"
assert_not_contains "$OUT" "ec2:StopInstances             " "no stop probe with an assume role"

# what real EC2 answers a DryRun without the permission: 403
# UnauthorizedOperation (moto says AccessDenied); DynamoDB: AccessDeniedException
faultproxy_start
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["denied"], "match": "RebootInstances"}'
assert_rc 5 pcm check --restart-method reboot
assert_contains "$OUT" "ec2:RebootInstances         MISSING  UnauthorizedOperation (HTTP 403)" "403 UnauthorizedOperation"
assert_contains "$OUT" "ec2:DescribeInstances       allowed" "others still allowed"
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["denied"], "match": "UpdateItem"}'
assert_rc 5 pcm check --restart-method none
assert_contains "$OUT" "dynamodb:UpdateItem         MISSING  AccessDeniedException" "json AccessDenied"
fake_faults "$FAULT_URL" '{"rate": 0}'
export AWS_ENDPOINT_URL=$MOTO_URL

# off EC2: a clear message, fast
export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$(free_port)
t0=$SECONDS
assert_rc 1 pcm check
assert_contains "$OUT" "cannot find this instance's id: cannot reach the instance metadata service" "no IMDS"
[ $((SECONDS - t0)) -le 8 ] || fail "no IMDS took $((SECONDS - t0)) s"
export AWS_EC2_METADATA_DISABLED=true
assert_rc 1 pcm check
assert_contains "$OUT" "AWS_EC2_METADATA_DISABLED" "IMDS disabled"
ok "check"
