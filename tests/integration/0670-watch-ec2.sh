#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent watch and EC2 DescribeInstanceStatus (moto, signatures checked):
# with a role that allows it the poll reads EC2 too (sources.ec2 "ok");
# with a role that does not, the denial is noted once in the log, not at
# every poll, the IMDS events are still acted on, and a SIGHUP (the admin
# fixed the role) makes the daemon try EC2 again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

slurm_start 2
moto_start
aws_cluster pcmtest
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
NB=$(( $(date +%s) / 60 * 60 + 3600 ))
EV=instance-event-0ec2ec2ec2ec2ec21
cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $NB)", "Code": "system-maintenance", "EventId": "$EV", "State": "active" } ]
JSON
imds_fake_start --instance-id "$HEAD_ID" --events-file "$T/events.json"
printf '#!/bin/sh\ncat >/dev/null\n' >"$T/wall"
chmod +x "$T/wall"
export PCM_TEST_WALL_CMD=$T/wall
echo "poll_interval = 1s" >>"$PCM_CONF"

# allowed: EC2 is read
aws_user allowed '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
  "Action": ["ec2:DescribeInstanceStatus"]}]}'
AWS_ACCESS_KEY_ID=$USER_KEY AWS_SECRET_ACCESS_KEY=$USER_SECRET \
	assert_rc_out 0 pcm --json watch --once --dry-run
assert_eq "$(echo "$OUT" | json_get 'd["sources"]["ec2"]')" ok "EC2 read with the permission"
assert_eq "$(echo "$OUT" | json_get 'd["sources"]["imds"]')" ok "IMDS read"

# denied: noted once, the IMDS event is still planned
aws_user denied '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
  "Action": ["ec2:DescribeInstances"]}]}'
export AWS_ACCESS_KEY_ID=$USER_KEY AWS_SECRET_ACCESS_KEY=$USER_SECRET
DLOG=$T/log/watch.log
"$PCM" -c "$PCM_CONF" watch >>"$DLOG" 2>&1 &
DPID=$!
at_exit "stop_pid $DPID"
wait_for 15 "the plan" grep -q "event $EV: maintenance reservation" "$DLOG"
sleep 3	# three more polls
n=$(grep -c "DescribeInstanceStatus is not available" "$DLOG")
assert_eq "$n" 1 "the denial is noted once"
assert_contains "$(grep "DescribeInstanceStatus is not available" "$DLOG")" "permission denied" "says why"
ok "EC2 denied: noted once, IMDS event planned"

# SIGHUP: EC2 is tried again (and noted again, once)
kill -HUP "$DPID"
wait_for 10 "the reload" grep -q "configuration reloaded" "$DLOG"
sleep 2
assert_eq "$(grep -c "DescribeInstanceStatus is not available" "$DLOG")" 2 "tried again after SIGHUP"
