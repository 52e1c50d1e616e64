#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# IMDSv2 and events: the token is enforced and refreshed, scheduled events
# are parsed (IMDS time format), instance-profile credentials (with a session
# token, checked by moto's signature check) are used and refreshed before
# they expire.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"
moto_start
aws_cluster c1
cat >"$T/events.json" <<'JSON'
[ {
  "NotBefore" : "21 Jan 2030 09:00:43 GMT",
  "Code" : "system-reboot",
  "Description" : "scheduled reboot",
  "EventId" : "instance-event-0d59937288b749b32",
  "NotAfter" : "21 Jan 2030 09:17:23 GMT",
  "State" : "active"
}, {
  "NotBefore" : "1 Feb 2030 00:00:00 GMT",
  "NotBeforeDeadline" : "8 Feb 2030 00:00:00 GMT",
  "Code" : "instance-retirement",
  "Description" : "The instance is running on degraded hardware",
  "EventId" : "instance-event-0123456789abcdef0",
  "State" : "active"
} ]
JSON
aws_role_creds pc-head-role "$T/creds.json"
imds_fake_start --instance-id "$HEAD_ID" --events-file "$T/events.json" --role pc-head-role \
	--creds-file "$T/creds.json"
echo "cluster_name = c1" >>"$PCM_CONF"

assert_rc 0 pcm events
assert_contains "$OUT" "scheduled events for $HEAD_ID" "header"
assert_contains "$OUT" "system-reboot" "event 1"
assert_contains "$OUT" "2030-01-21T09:00:43Z" "IMDS time parsed"
assert_contains "$OUT" "2030-02-08T00:00:00Z" "deadline parsed"
assert_rc_out 0 pcm --json events
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ev = [e for e in d["events"] if e["source"] == "imds"]
assert len(ev) == 2, ev
e = ev[1]
assert e["code"] == "instance-retirement" and e["event_id"] == "instance-event-0123456789abcdef0", e
assert e["not_before"] == "2030-02-01T00:00:00Z" and e["not_before_deadline"] == "2030-02-08T00:00:00Z", e
assert e["not_after"] is None and e["state"] == "active", e
' || fail "events --json: $OUT"
st=$(fake_stats "$IMDS_URL")
[ "$(echo "$st" | json_get 'd["unauthorized"]')" = 0 ] || fail "IMDS saw requests without a valid token: $st"

# EC2's view (moto has no scheduled events: the proxy answers
# DescribeInstanceStatus as EC2 does for an instance with one)
faultproxy_start
python3 - "$HEAD_ID" >"$T/canned.json" <<'PY'
import json, sys
body = ('<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstanceStatusResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
        '<requestId>r</requestId><instanceStatusSet><item><instanceId>%s</instanceId>'
        '<availabilityZone>us-east-1a</availabilityZone><instanceState><code>16</code><name>running</name></instanceState>'
        '<systemStatus><status>ok</status></systemStatus><instanceStatus><status>ok</status></instanceStatus>'
        '<eventsSet><item><instanceEventId>instance-event-0123456789abcdef0</instanceEventId>'
        '<code>instance-retirement</code><description>The instance is running on degraded hardware</description>'
        '<notBefore>2030-02-01T00:00:00.000Z</notBefore><notBeforeDeadline>2030-02-08T00:00:00.000Z</notBeforeDeadline>'
        '</item></eventsSet></item></instanceStatusSet></DescribeInstanceStatusResponse>') % sys.argv[1]
print(json.dumps({"match": "DescribeInstanceStatus", "status": 200, "body": body}))
PY
curl -sf -X POST --data @"$T/canned.json" "$FAULT_URL/__canned" >/dev/null || fail "canned answer"
assert_rc_out 0 pcm --json events
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
ev = [e for e in d["events"] if e["source"] == "ec2"]
assert len(ev) == 1, d
e = ev[0]
assert e["code"] == "instance-retirement" and e["event_id"] == "instance-event-0123456789abcdef0", e
assert e["not_before"] == "2030-02-01T00:00:00Z" and e["not_before_deadline"] == "2030-02-08T00:00:00Z", e
' || fail "EC2 events: $OUT"
assert_rc 0 pcm events
assert_contains "$OUT" "ec2     instance-retirement" "EC2 event in the table"
# EC2 refuses (no permission): the IMDS events are still printed, exit 5
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["denied"], "match": "DescribeInstanceStatus"}'
assert_rc 5 pcm events
assert_contains "$OUT" "imds    system-reboot" "IMDS events still listed"
assert_contains "$OUT" "cannot read the scheduled events of $HEAD_ID from EC2: UnauthorizedOperation" "EC2 denied"
fake_faults "$FAULT_URL" '{"rate": 0}'
export AWS_ENDPOINT_URL=$MOTO_URL

# no events: said so
rm "$T/events.json"
assert_rc 0 pcm events
assert_contains "$OUT" "no scheduled events for $HEAD_ID" "no events"

# a token that expires under us (TTL capped at 1 s, the events GET delayed
# 1.5 s): 401, a new token, success
stop_pid "$BG_PID"
imds_fake_start --instance-id "$HEAD_ID" --role pc-head-role --creds-file "$T/creds.json" --token-ttl-max 1
fake_faults "$IMDS_URL" '{"rate": 1, "kinds": ["slow"], "slow_s": 1.5, "match": "events", "count": 1}'
assert_rc 0 pcm events
st=$(fake_stats "$IMDS_URL")
[ "$(echo "$st" | json_get 'd["unauthorized"]')" -ge 1 ] || fail "token never expired: $st"
[ "$(echo "$st" | json_get 'd["token_puts"]')" -ge 2 ] || fail "token not refreshed: $st"

# credentials from the instance profile (no keys in the environment): signed
# with the session token, which moto checks; fetched once while valid
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
stop_pid "$BG_PID"
imds_fake_start --instance-id "$HEAD_ID" --role pc-head-role --creds-file "$T/creds.json"
assert_rc 0 pcm -v fleet status
assert_contains "$OUT" "credentials from instance profile pc-head-role" "creds source"
assert_rc 0 pcm -v fleet stop
assert_eq "$(fake_stats "$IMDS_URL" | json_get 'd["creds_fetches"]')" 2 "one fetch per run while valid"
# expiring within the 5-minute margin: refreshed before every call
sed -i 's/"ExpiresIn": 21600/"ExpiresIn": 120/' "$T/creds.json"
n0=$(fake_stats "$IMDS_URL" | json_get 'd["creds_fetches"]')
aws_fleet_set parallelcluster-c1 RUNNING
assert_rc 0 pcm -v fleet stop
assert_contains "$OUT" "expire soon, refreshing" "refresh logged"
n1=$(fake_stats "$IMDS_URL" | json_get 'd["creds_fetches"]')
[ $((n1 - n0)) -ge 2 ] || fail "expiring credentials fetched $((n1 - n0)) times in a run"
# a wrong session token: moto refuses it
python3 - "$T/creds.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["Token"] = c["Token"][:-4] + "AAAA"
json.dump(c, open(sys.argv[1], "w"))
PY
assert_rc 1 pcm fleet status
assert_contains "$OUT" "security token included in the request is invalid" "bad session token refused"
# no role: the chain says what it tried
stop_pid "$BG_PID"
imds_fake_start --instance-id "$HEAD_ID"
assert_rc 1 pcm fleet status
assert_contains "$OUT" "no AWS credentials: not in the environment" "no creds message"
assert_contains "$OUT" "no IAM instance profile" "no role"
ok "imds and events"
