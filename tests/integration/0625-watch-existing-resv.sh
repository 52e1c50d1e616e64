#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A maintenance reservation the admin placed before the event is not the
# daemon's: it is kept as it is (its times go into maintenance.json), and
# when the event is canceled it is left in place while maintenance.json
# goes.  A completed event that was planned removes the daemon's own.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

slurm_start 2
R=pcm-maintenance
resv_exists() { scontrol -o show reservation "$R" >/dev/null 2>&1; }
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
write_events() {	# ID NB STATE
	cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $2)", "Code": "instance-retirement", "EventId": "$1", "State": "$3" } ]
JSON
}
imds_fake_start --events-file "$T/events.json"
export PCM_TEST_WALL_CMD=/bin/true
echo "notify_wall = no" >>"$PCM_CONF"

# the admin's reservation, in 2 h for 30 min
at=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:00Z)
assert_rc 0 pcm maintenance start --at "$at" --duration 30m
start=$(date -d "$at" +%s)

NB=$(( $(date +%s) / 60 * 60 + 3600 ))
EV1=instance-event-0e0e0e0e0e0e0e0e1
write_events $EV1 $NB active
assert_rc_out 0 pcm --json watch --once
echo "$OUT" | python3 -c '
import json, sys
e = json.load(sys.stdin)["events"][0]
assert e["action"] == "plan" and "reservation already there" in e["actions"], e' || fail "plan: $OUT"
assert_contains "$ERR" "one was already there: left as it is" "log"
assert_eq "$(json_get 'd["window"]["start_epoch"]' <"$T/run/maintenance.json")" "$start" "window = the admin's reservation"
assert_eq "$(json_get 'd["window"]["end_epoch"]' <"$T/run/maintenance.json")" "$((start + 1800))" "window end"
assert_eq "$(json_get 'd["events"]["'$EV1'"]["resv_created"]' <"$T/state/events.json")" False "not ours"

write_events $EV1 $NB canceled
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'd["events"][0]["action"]')" undo-canceled "cancel"
resv_exists || fail "the admin's reservation was removed"
[ ! -e "$T/run/maintenance.json" ] || fail "maintenance.json kept after the cancel"
ok "the admin's reservation is left alone"

# the daemon's own reservation goes when the event completes
assert_rc 0 pcm maintenance end
EV2=instance-event-0e0e0e0e0e0e0e0e2
write_events $EV2 $NB active
assert_rc_out 0 pcm --json watch --once
resv_exists || fail "no reservation for $EV2"
write_events $EV2 $NB completed
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'd["events"][0]["action"]')" undo-completed "completed"
resv_exists && fail "the daemon's reservation kept after the event completed"
[ ! -e "$T/run/maintenance.json" ] || fail "maintenance.json kept after completion"
assert_eq "$(json_get 'd["events"]["'$EV2'"]["status"]' <"$T/state/events.json")" completed "status"
ok "completed: the daemon's reservation removed"
