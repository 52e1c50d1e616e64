#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# SIGTERM stops the daemon within a second even while it is in the middle
# of retrying a failing webhook (a receiver answering 500, 5 s between
# attempts); with Slurm unreachable the event is still announced (wall,
# webhook) and the reservation is reported as not placed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-aws.sh"

imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
NB=$(( $(date +%s) + 7200 ))
EV=instance-event-0abcabcabcabcabc1
cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $NB)", "Code": "system-reboot", "EventId": "$EV", "State": "active" } ]
JSON
imds_fake_start --events-file "$T/events.json"
WH_PORT=$(free_port)
bg webhook python3 "$FAKES/webhook.py" --port "$WH_PORT" --record "$T/webhook.jsonl" --fail 1000
_wait_http "http://127.0.0.1:$WH_PORT/__stats"
printf '#!/bin/sh\ncat >>%s\n' "$T/wall.out" >"$T/wall"
chmod +x "$T/wall"
export PCM_TEST_WALL_CMD=$T/wall PCM_TEST_WEBHOOK_BACKOFF_MS=5000
cat >>"$PCM_CONF" <<CONF
slurm_conf = $T/no-such-slurm.conf
poll_interval = 1s
webhook_url = http://127.0.0.1:$WH_PORT/hook
CONF

DLOG=$T/log/watch.log
"$PCM" -c "$PCM_CONF" watch >>"$DLOG" 2>&1 &
DPID=$!
at_exit "stop_pid $DPID"
wait_for 10 "the first webhook attempt" test -s "$T/webhook.jsonl"
grep -q "cannot use Slurm config $T/no-such-slurm.conf" "$DLOG" || fail "no Slurm message: $(cat "$DLOG")"
grep -q "NO maintenance reservation yet" "$DLOG" || fail "the summary does not say the reservation is missing"
assert_contains "$(cat "$T/wall.out")" "system-reboot" "announced on wall without Slurm"
sleep 0.5	# now in the 5 s backoff
t0=$(date +%s%N)
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
assert_eq "$rc" 0 "exit status"
[ "$ms" -lt 1000 ] || fail "SIGTERM during the webhook backoff took ${ms} ms"
assert_eq "$(wc -l <"$T/webhook.jsonl")" 1 "no retry after SIGTERM"
grep -q "cannot send the webhook to http://127.0.0.1:$WH_PORT/\*\*\*: stopped" "$DLOG" ||
	fail "no 'stopped' message: $(cat "$DLOG")"
ok "SIGTERM during a webhook retry: stopped in ${ms} ms"
