#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent watch --dry-run changes nothing: with an active event it says
# what it would do (reservation, wall, webhook, maintenance.json,
# auto_prepare) but creates no reservation, writes no maintenance.json,
# MOTD or events.json, runs no wall, sends no webhook, starts nothing; the
# same event is then planned for real by a run without --dry-run.  Also:
# usage errors, and --once with no reachable source exits 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

# before any source exists: IMDS disabled, EC2 without credentials
assert_rc 1 pcm watch --once
assert_contains "$OUT" "cannot read the scheduled events from the instance metadata service" "no source"
assert_rc 2 pcm watch --bogus
assert_rc 2 pcm watch extra
assert_rc 2 pcm watch --prepare-event instance-event-1
assert_contains "$OUT" "go together" "--prepare-event without --method"
assert_rc 2 pcm watch --prepare-event instance-event-1 --method sideways
assert_rc 2 pcm watch --prepare-event not-an-event --method reboot

slurm_start 2
R=pcm-maintenance
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
NB=$(( $(date +%s) / 60 * 60 + 1800 ))
EV=instance-event-0ddd00000000000d1
cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $NB)", "Code": "instance-stop", "EventId": "$EV",
    "State": "active", "Description": "dry" } ]
JSON
imds_fake_start --events-file "$T/events.json"
WH_PORT=$(free_port)
bg webhook python3 "$FAKES/webhook.py" --port "$WH_PORT" --record "$T/webhook.jsonl"
_wait_http "http://127.0.0.1:$WH_PORT/__stats"
printf '#!/bin/sh\ncat >>%s\n' "$T/wall.out" >"$T/wall"
printf '#!/bin/sh\necho "$@" >>%s\n' "$T/prepare.out" >"$T/prepare"
chmod +x "$T/wall" "$T/prepare"
export PCM_TEST_WALL_CMD=$T/wall PCM_TEST_PREPARE_CMD=$T/prepare
cat >>"$PCM_CONF" <<CONF
webhook_url = http://127.0.0.1:$WH_PORT/hook
auto_prepare = yes
prepare_lead = 1h
CONF

nothing_changed() {
	scontrol -o show reservation "$R" >/dev/null 2>&1 && fail "$1: a reservation was created"
	[ ! -e "$T/run/maintenance.json" ] || fail "$1: maintenance.json written"
	[ ! -e "$T/run/motd" ] || fail "$1: MOTD written"
	[ ! -e "$T/state/events.json" ] || fail "$1: events.json written"
	[ ! -e "$T/wall.out" ] || fail "$1: wall ran"
	[ ! -e "$T/webhook.jsonl" ] || fail "$1: webhook sent"
	[ ! -e "$T/prepare.out" ] || fail "$1: prepare-restart started"
	return 0
}

assert_rc_out 0 pcm --json watch --once --dry-run
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["dry_run"] is True, d
acts = [e["action"] for e in d["events"]]
assert acts == ["plan", "prepare"], acts
e = d["events"][0]
assert "would reserve" in e["actions"] and "would wall" in e["actions"], e
assert "would send the webhook" in e["actions"], e
assert d["events"][1]["prepare_method"] == "stop-start", d
' || fail "dry run report: $OUT"
assert_contains "$ERR" "dry run: would create maintenance reservation $R" "log"
assert_contains "$ERR" "dry run: would start prepare-restart (stop-start) for event $EV" "log"
nothing_changed "--dry-run"
# twice: still nothing (no state kept)
assert_rc_out 0 pcm --json watch --once --dry-run
assert_eq "$(echo "$OUT" | json_get '[e["action"] for e in d["events"]]')" "['plan', 'prepare']" "second dry run"
nothing_changed "second --dry-run"
ok "--dry-run changed nothing"

# with auto_prepare the reservation starts at NotBefore - prepare_lead when
# that is earlier than NotBefore - event_margin (no job runs into the prepare)
sed 's/^prepare_lead = 1h$/prepare_lead = 20m/' "$PCM_CONF" >"$T/lead20.conf"
assert_rc_out 0 "$PCM" -c "$T/lead20.conf" watch --once --dry-run
assert_contains "$ERR" "would create maintenance reservation $R from $(date -u -d "@$((NB - 1200))" +%Y-%m-%dT%H:%M:%SZ)" "start at NotBefore - prepare_lead"
sed 's/^auto_prepare = yes$/auto_prepare = no/' "$T/lead20.conf" >"$T/noauto.conf"
assert_rc_out 0 "$PCM" -c "$T/noauto.conf" watch --once --dry-run
assert_contains "$ERR" "would create maintenance reservation $R from $(date -u -d "@$((NB - 900))" +%Y-%m-%dT%H:%M:%SZ)" "start at NotBefore - event_margin"
nothing_changed "--dry-run with other leads"

# a daemon in dry-run mode logs once per event, then stays quiet
sed -i 's/^prepare_lead = 1h$/prepare_lead = 1m/' "$PCM_CONF"
echo "poll_interval = 1s" >>"$PCM_CONF"
bg dry "$PCM" -c "$PCM_CONF" watch --dry-run
DRY=$BG_PID
wait_for 10 "the dry-run daemon's plan" grep -q "would create maintenance" "$T/log/dry.log"
sleep 2.5
assert_eq "$(grep -c "would create maintenance" "$T/log/dry.log")" 1 "dry-run daemon: once"
assert_eq "$(grep -c "dry run: would write $T/run/maintenance.json" "$T/log/dry.log")" 1 "maintenance.json line once"
grep -q "would start prepare-restart" "$T/log/dry.log" && fail "dry-run daemon: prepare before its time"
stop_pid "$DRY"
nothing_changed "dry-run daemon"
ok "dry-run daemon: once, nothing changed"

# without --dry-run the same event is planned for real
sed -i 's/^auto_prepare = yes$/auto_prepare = no/' "$PCM_CONF"
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'd["events"][0]["action"]')" plan "real run"
scontrol -o show reservation "$R" >/dev/null 2>&1 || fail "no reservation after the real run"
[ -e "$T/run/maintenance.json" ] || fail "no maintenance.json after the real run"
[ -s "$T/webhook.jsonl" ] || fail "no webhook after the real run"
