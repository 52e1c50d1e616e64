#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent watch --once with scheduled events from EC2 DescribeInstanceStatus.
# moto has no scheduled events, so the fault proxy in front of it answers
# DescribeInstanceStatus with a canned body; the body is built here and first
# parsed with botocore's EC2 parser against the service model (every field of
# the event must come back), so it has the shape AWS sends.
#  - an event only EC2 lists is acted on like an IMDS event: reservation at
#    NotBefore - event_margin, maintenance.json, wall notice; acted on once;
#  - EC2 unreadable for a poll (500s) while IMDS answers: the EC2-only event
#    is not taken for gone, the reservation stays;
#  - "[Canceled] ..." from EC2: reservation and maintenance.json removed;
#  - an event listed by both IMDS and EC2: one plan, one notice (merged by
#    EventId); "[Completed] ..." from EC2: removed, recorded as completed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

slurm_start 2
moto_start
aws_cluster pcmtest
faultproxy_start
R=pcm-maintenance
M=$T/run/maintenance.json
resv_field() { scontrol -o show reservation "$R" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }

echo '[]' >"$T/events.json"
imds_fake_start --instance-id "$HEAD_ID" --events-file "$T/events.json"
cat >"$T/wall" <<SH
#!/bin/sh
{ echo "--- wall"; cat; } >>"$T/wall.out"
SH
chmod +x "$T/wall"
export PCM_TEST_WALL_CMD=$T/wall
cat >>"$PCM_CONF" <<CONF
event_margin = 15m
maintenance_duration = 1h
notify_wall = yes
CONF
aws_user watcher '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
  "Action": ["ec2:DescribeInstanceStatus", "ec2:DescribeInstances"]}]}'
export AWS_ACCESS_KEY_ID=$USER_KEY AWS_SECRET_ACCESS_KEY=$USER_SECRET

# ec2_answer ID CODE DESCRIPTION NOT_BEFORE NOT_AFTER: the proxy answers
# DescribeInstanceStatus for $HEAD_ID with that one event (XML checked first)
ec2_answer() {
	python3 - "$HEAD_ID" "$@" >"$T/canned.json" <<'PY' || fail "canned EC2 answer: not what botocore parses"
import datetime, json, sys
from xml.sax.saxutils import escape
import botocore.parsers, botocore.session
iid, eid, code, desc, nb, na = sys.argv[1:7]
nb, na = int(nb), int(na)
iso = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
xml = """<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstanceStatusResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>3be1508e-c444-4fef-89cc-0b1223c4f02f</requestId>
    <instanceStatusSet>
        <item>
            <instanceId>%s</instanceId>
            <availabilityZone>us-east-1a</availabilityZone>
            <instanceState><code>16</code><name>running</name></instanceState>
            <systemStatus><status>ok</status><details><item><name>reachability</name><status>passed</status></item></details></systemStatus>
            <instanceStatus><status>ok</status><details><item><name>reachability</name><status>passed</status></item></details></instanceStatus>
            <eventsSet>
                <item>
                    <instanceEventId>%s</instanceEventId>
                    <code>%s</code>
                    <description>%s</description>
                    <notBefore>%s</notBefore>
                    <notAfter>%s</notAfter>
                    <notBeforeDeadline>%s</notBeforeDeadline>
                </item>
            </eventsSet>
        </item>
    </instanceStatusSet>
</DescribeInstanceStatusResponse>
""" % (escape(iid), escape(eid), escape(code), escape(desc), iso(nb), iso(na), iso(nb + 86400))
shape = botocore.session.get_session().get_service_model("ec2") \
    .operation_model("DescribeInstanceStatus").output_shape
d = botocore.parsers.create_parser("ec2").parse(
    {"body": xml.encode(), "headers": {}, "status_code": 200}, shape)
(st,) = d["InstanceStatuses"]
(ev,) = st["Events"]
ts = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
assert st["InstanceId"] == iid and st["InstanceState"]["Name"] == "running", st
assert ev == {"InstanceEventId": eid, "Code": code, "Description": desc, "NotBefore": ts(nb),
              "NotAfter": ts(na), "NotBeforeDeadline": ts(nb + 86400)}, ev
json.dump({"match": "DescribeInstanceStatus", "status": 200, "body": xml}, sys.stdout)
PY
	curl -sf -X POST --data @"$T/canned.json" "$FAULT_URL/__canned" >/dev/null ||
		fail "cannot set the canned answer on the fault proxy"
}
imds_events() {	# ID NOT_BEFORE NOT_AFTER (none: no events)
	if [ $# -eq 0 ]; then echo '[]' >"$T/events.json"; return; fi
	cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time "$2")", "NotAfter": "$(imds_time "$3")", "Code": "system-reboot",
    "EventId": "$1", "State": "active", "Description": "scheduled reboot" } ]
JSON
}
nwall() { [ -f "$T/wall.out" ] && grep -c -- '--- wall' "$T/wall.out" || echo 0; }
check_planned() {	# ID NOT_BEFORE SOURCE
	assert_eq "$(resv_field StartTime)" "$(date -d "@$(($2 - 900))" +%Y-%m-%dT%H:%M:%S)" \
		"reservation start = NotBefore - event_margin"
	assert_contains "$(resv_field Flags)" MAINT "maintenance flag"
	python3 - "$M" "$T/state/events.json" "$1" "$2" "$3" <<'PY' || fail "planned $1: $(cat "$M" "$T/state/events.json")"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["phase"] == "scheduled" and m["reservation"] == "pcm-maintenance", m
assert m["event"]["event_id"] == sys.argv[3] and m["event"]["code"] == "system-reboot", m
assert m["event"]["not_before_epoch"] == int(sys.argv[4]), m
assert m["window"]["start_epoch"] == int(sys.argv[4]) - 900, m
e = json.load(open(sys.argv[2]))["events"][sys.argv[3]]
assert e["status"] == "planned" and e["source"] == sys.argv[5], e
assert e["resv_created"] is True and e["notified"] is True, e
PY
}
check_removed() {	# ID STATUS
	scontrol -o show reservation "$R" >/dev/null 2>&1 && fail "reservation still there ($2)"
	[ -e "$M" ] && fail "maintenance.json still there ($2)"
	assert_eq "$(json_get "d['events']['$1']['status']" <"$T/state/events.json")" "$2" "recorded $2"
}
poll_action() {	# ID ACTION STATUS: one poll, exactly one event acted on like this
	assert_rc_out 0 pcm --json watch --once
	echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["sources"] == {"imds": "ok", "ec2": "ok"}, d["sources"]
(e,) = d["events"]
assert (e["id"], e["action"], e["status"]) == tuple(sys.argv[1:4]), e
' "$@" || fail "poll, want $*: $OUT"
}
poll_nothing() {	# WHAT
	assert_rc_out 0 pcm --json watch --once
	assert_eq "$(echo "$OUT" | json_get 'len(d["events"])')" 0 "$1: no action"
}

NB=$(( $(date +%s) / 60 * 60 + 2400 ))
NA=$((NB + 7200))

# 1. an event only EC2 lists
EV1=instance-event-0ec2only0000000a1
ec2_answer "$EV1" system-reboot "The instance is scheduled for a reboot" "$NB" "$NA"
poll_action "$EV1" plan planned
check_planned "$EV1" "$NB" ec2
assert_eq "$(nwall)" 1 "one wall notice"
assert_contains "$(cat "$T/wall.out")" "system-reboot" "wall: the event's code"
poll_nothing "second poll"
assert_eq "$(nwall)" 1 "no second notice"
ok "EC2-only event: reservation at NotBefore - 15m, maintenance.json, notice, acted on once"

# 2. EC2 unreadable for a poll, IMDS answers without the event: not gone
fake_faults "$FAULT_URL" '{"rate": 1, "kinds": ["500"], "match": "DescribeInstanceStatus"}'
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'd["sources"]["imds"]')" ok "IMDS read"
[ "$(echo "$OUT" | json_get 'd["sources"]["ec2"]')" = ok ] && fail "EC2 read despite the 500s: $OUT"
assert_eq "$(echo "$OUT" | json_get 'len(d["events"])')" 0 "EC2 unreadable: no action"
fake_faults "$FAULT_URL" '{"rate": 0}'
check_planned "$EV1" "$NB" ec2
poll_nothing "EC2 back"
ok "EC2 unreadable for a poll: the EC2-only event is kept"

# 3. EC2: "[Canceled] ..."
ec2_answer "$EV1" system-reboot "[Canceled] The instance is scheduled for a reboot" "$NB" "$NA"
poll_action "$EV1" undo-canceled canceled
check_removed "$EV1" canceled
assert_contains "$(cat "$T/wall.out")" "was canceled" "wall: canceled"
poll_nothing "after cancel"
ok "[Canceled] from EC2: reservation and maintenance.json removed"

# 4. an event listed by both IMDS and EC2: merged, acted on once
EV2=instance-event-0both000000000b2
NB2=$((NB + 600)); NA2=$((NB2 + 7200))
imds_events "$EV2" "$NB2" "$NA2"
ec2_answer "$EV2" system-reboot "The instance is scheduled for a reboot" "$NB2" "$NA2"
w0=$(nwall)
poll_action "$EV2" plan planned
check_planned "$EV2" "$NB2" imds
assert_eq "$(nwall)" $((w0 + 1)) "one notice for the merged event"
poll_nothing "merged event, second poll"
ok "event listed by IMDS and EC2: one plan, one notice"

# 5. EC2: "[Completed] ...", IMDS moved it to its history
imds_events
ec2_answer "$EV2" system-reboot "[Completed] The instance is scheduled for a reboot" "$NB2" "$NA2"
poll_action "$EV2" undo-completed completed
check_removed "$EV2" completed
poll_nothing "after completed"
ok "[Completed] from EC2: reservation and maintenance.json removed"
