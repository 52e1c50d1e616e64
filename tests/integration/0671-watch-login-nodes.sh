#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The watch daemon's notice of a scheduled event (wall and the webhook) says
# that the login nodes' users' shells will hang during the restart, naming
# them (the plan's lookup: EC2 DescribeInstances by the ParallelCluster
# tags, moto); without login nodes the sentence is absent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

slurm_start 2
moto_start
aws_cluster "$SLURM_CLUSTER"
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
NB=$(( $(date +%s) / 60 * 60 + 3600 ))
event() {	# EVENTID: one more active event in the IMDS fake's list
	python3 - "$T/events.json" "$1" "$(imds_time $NB)" <<'PY'
import json, os, sys
f, ev, nb = sys.argv[1:]
l = json.load(open(f)) if os.path.exists(f) else []
l.append({"NotBefore": nb, "Code": "system-reboot", "EventId": ev, "State": "active"})
json.dump(l, open(f + ".tmp", "w")); os.rename(f + ".tmp", f)
PY
}
imds_fake_start --instance-id "$HEAD_ID" --events-file "$T/events.json"
WH_PORT=$(free_port)
bg webhook python3 "$FAKES/webhook.py" --port "$WH_PORT" --record "$T/webhook.jsonl"
_wait_http "http://127.0.0.1:$WH_PORT/__stats"
printf '#!/bin/sh\n{ echo "--- wall"; cat; } >>"%s"\n' "$T/wall.out" >"$T/wall"
chmod +x "$T/wall"
export PCM_TEST_WALL_CMD=$T/wall
cat >>"$PCM_CONF" <<CONF
cluster_name = $SLURM_CLUSTER
notify_wall = yes
webhook_url = http://127.0.0.1:$WH_PORT/hook
CONF
webhook_message() {	# the Message of the last webhook
	tail -n 1 "$T/webhook.jsonl" | json_get 'json.loads(d["body"])["Message"]'
}

# --- no login node: the notice says nothing about them ---
event instance-event-0aaaaaaaaaaaaaaa1
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'd["events"][0]["login_nodes"]')" "[]" "report: none"
[ -s "$T/wall.out" ] || fail "no wall notice"
assert_contains "$(cat "$T/wall.out")" "maintenance" "the wall notice"
assert_not_contains "$(cat "$T/wall.out")" "login node" "wall: no login node sentence"
assert_not_contains "$(webhook_message)" "login node" "webhook: no login node sentence"
ok "no login nodes: nothing said about them"

# --- login nodes: named, and their shells will hang ---
mapfile -t login < <($AWSBED instances "$SLURM_CLUSTER" LoginNode 2)
[ "${#login[@]}" -eq 2 ] || fail "cannot create the login nodes"
other=$($AWSBED instances other-cluster LoginNode 1)
: >"$T/wall.out"
event instance-event-0bbbbbbbbbbbbbbb2
assert_rc_out 0 pcm --json watch --once
wall=$(cat "$T/wall.out")
msg=$(webhook_message)
for t in "$wall" "$msg"; do
	assert_contains "$t" "On the 2 login nodes (" "the login nodes counted"
	assert_contains "$t" "their users' shells will hang while the head node is down" \
		"their shells will hang"
	for id in "${login[@]}"; do assert_contains "$t" "$id" "login node $id named"; done
	assert_not_contains "$t" "$other" "another cluster's login node"
done
assert_eq "$(echo "$OUT" | json_get 'len([e for e in d["events"] if e.get("login_nodes")][0]["login_nodes"])')" \
	2 "report: the login nodes"
ok "login nodes: the wall notice and the webhook name them and say their shells will hang"
