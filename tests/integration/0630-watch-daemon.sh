#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent watch as a daemon (poll_interval 1 s) on a real Slurm and the
# IMDS fake: an event is acted on once even when the daemon is killed -9
# and started again; a canceled event removes the reservation and
# maintenance.json; SIGHUP reloads the config (the next event uses the new
# event_margin), a broken config on SIGHUP is logged and the old one kept;
# SIGTERM stops it within a second, exit status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

slurm_start 2
R=pcm-maintenance
resv_field() { scontrol -o show reservation "$R" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
resv_exists() { scontrol -o show reservation "$R" >/dev/null 2>&1; }
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
event_json() {	# ID CODE NOTBEFORE STATE
	printf '{"NotBefore": "%s", "Code": "%s", "EventId": "%s", "State": "%s", "Description": "test"}' \
		"$(imds_time "$3")" "$2" "$1" "$4"
}
imds_fake_start --events-file "$T/events.json"
cat >"$T/wall" <<SH
#!/bin/sh
{ echo "--- wall"; cat; } >>"$T/wall.out"
SH
chmod +x "$T/wall"
export PCM_TEST_WALL_CMD=$T/wall
: >"$T/wall.out"
walls() { grep -c -- '--- wall' "$T/wall.out" || true; }
cat >>"$PCM_CONF" <<CONF
poll_interval = 1s
event_margin = 15m
maintenance_duration = 1h
CONF
cp "$PCM_CONF" "$T/base.conf"

DLOG=$T/log/watch.log
start_daemon() {
	"$PCM" -c "$PCM_CONF" watch >>"$DLOG" 2>&1 &
	DPID=$!
	at_exit "stop_pid $DPID"
	wait_for 10 "the daemon's first poll" grep -q "watching for scheduled" "$DLOG"
}
# polls the daemon made so far, from the IMDS fake's counter
imds_gets() { fake_stats "$IMDS_URL" | json_get 'd["gets"]'; }
wait_polls() {	# N: wait until the daemon polled N more times
	local want=$(( $(imds_gets) + $1 ))
	wait_for 20 "$1 more polls" sh -c "[ \$(curl -sf $IMDS_URL/__stats | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"gets\"])') -ge $want ]"
}

NB1=$(( $(date +%s) / 60 * 60 + 3600 ))
EV1=instance-event-000000000000000a1
echo "[ $(event_json $EV1 system-reboot $NB1 active) ]" >"$T/events.json"
start_daemon
wait_for 15 "the reservation" resv_exists
assert_eq "$(resv_field StartTime)" "$(date -d "@$((NB1 - 900))" +%Y-%m-%dT%H:%M:%S)" "start = NotBefore - 15m"
wait_for 10 "maintenance.json" test -f "$T/run/maintenance.json"
assert_eq "$(walls)" 1 "one wall"
ok "daemon planned the event"

# one watcher at a time: a --once beside the daemon is refused (6), a dry run is not
assert_rc 6 pcm watch --once
assert_contains "$OUT" "another pcm-agent watch (pid $DPID) is running" "lock holder named"
assert_rc 0 pcm watch --once --dry-run

# killed -9 in the middle of its life, started again: nothing done twice
wait_polls 2
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
start_daemon
wait_polls 4
assert_eq "$(walls)" 1 "still one wall after a restart"
assert_eq "$(grep -c "event $EV1: maintenance reservation" "$DLOG")" 1 "one reservation placed"
resv_exists || fail "reservation lost across the restart"
ok "acted on once across kill -9 and restart"

# canceled while the daemon runs
echo "[ $(event_json $EV1 system-reboot $NB1 canceled) ]" >"$T/events.json"
wait_for 10 "the reservation to go" sh -c "! scontrol -o show reservation $R >/dev/null 2>&1"
wait_for 10 "maintenance.json to go" test ! -e "$T/run/maintenance.json"
assert_eq "$(walls)" 2 "a canceled notice"
assert_contains "$(cat "$T/wall.out")" "was canceled" "the canceled notice"
ok "cancel undone by the daemon"

# SIGHUP: a new event_margin for the next event
sed 's/^event_margin = 15m$/event_margin = 30m/' "$T/base.conf" >"$PCM_CONF"
kill -HUP "$DPID"
wait_for 10 "the reload" grep -q "configuration reloaded" "$DLOG"
NB2=$(( NB1 + 600 ))
EV2=instance-event-000000000000000a2
echo "[ $(event_json $EV1 system-reboot $NB1 canceled), $(event_json $EV2 instance-retirement $NB2 active) ]" >"$T/events.json"
wait_for 15 "the second reservation" resv_exists
assert_eq "$(resv_field StartTime)" "$(date -d "@$((NB2 - 1800))" +%Y-%m-%dT%H:%M:%S)" "start = NotBefore - 30m after SIGHUP"
ok "SIGHUP reloaded event_margin"

# SIGHUP with a broken file: logged, old config kept, still polling
echo "event_margin = soon" >>"$PCM_CONF"
kill -HUP "$DPID"
wait_for 10 "the failed reload" grep -q "cannot reload the configuration" "$DLOG"
assert_contains "$(grep "cannot reload" "$DLOG")" "keeping the old one" "message"
assert_contains "$(grep "cannot reload" "$DLOG")" "event_margin" "names the key"
wait_polls 2
kill -0 "$DPID" || fail "daemon died on a bad config"
ok "bad config on SIGHUP kept the old one"

# SIGTERM: stops within a second, exit 0
t0=$(date +%s%N)
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
assert_eq "$rc" 0 "exit status after SIGTERM"
[ "$ms" -lt 1000 ] || fail "SIGTERM took ${ms} ms"
grep -q "stopping (signal)" "$DLOG" || fail "no stop message"
ok "SIGTERM: stopped in ${ms} ms"
# the state survives: the second event is still planned
python3 - "$T/state/events.json" "$EV1" "$EV2" <<'PY' || fail "events.json: $(cat "$T/state/events.json")"
import json, sys
d = json.load(open(sys.argv[1]))["events"]
assert d[sys.argv[1 + 1]]["status"] == "canceled", d
assert d[sys.argv[3]]["status"] == "planned", d
PY
