#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# issue 11 item 7: the watch daemon acts on the reservation only under the
# state-dir lock.  While another pcm-agent (a manual prepare-restart that is
# about to rely on the reservation) holds it, a canceled event leaves the
# reservation and the event as they are; the next poll without the lock
# removes it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

slurm_start 2
R=pcm-maintenance
resv_exists() { scontrol -o show reservation "$R" >/dev/null 2>&1; }
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
write_events() {	# STATE
	cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $NB)", "Code": "instance-retirement", "EventId": "$EV", "State": "$1" } ]
JSON
}
NB=$(( $(date +%s) / 60 * 60 + 3600 ))
EV=instance-event-0c0c0c0c0c0c0c0c1
imds_fake_start --events-file "$T/events.json"
export PCM_TEST_WALL_CMD=/bin/true
echo "notify_wall = no" >>"$PCM_CONF"
status() { json_get 'd["events"]["'$EV'"]["status"]' <"$T/state/events.json"; }

write_events active
assert_rc_out 0 pcm --json watch --once
resv_exists || fail "no reservation for the event"
assert_eq "$(status)" planned "planned"

# canceled while someone holds the lock: nothing is done to the reservation
write_events canceled
mkdir -p "$T/state"
bg holder flock -o "$T/state/lock" sleep 60
holder=$BG_PID
wait_for 10 "the lock to be held" sh -c "! flock -n '$T/state/lock' true"
assert_rc_out 0 pcm --json watch --once
resv_exists || fail "the daemon removed the reservation while the lock was held"
assert_eq "$(status)" planned "event left for the next poll"
assert_contains "$ERR" "holds the lock (again at the next poll)" "log says why"

# the lock is free again: the next poll does it
stop_pid "$holder"
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'd["events"][0]["action"]')" undo-canceled "cancel"
resv_exists && fail "reservation kept after the cancel"
assert_eq "$(status)" canceled "canceled"
ok "watch acts on the reservation under the lock"

# the prepare-restart the daemon starts waits out a moment of the daemon's
# own lock (it takes it for reservation actions and maintenance.json: a
# child started at that moment failed with exit 6); a manual one does not
# wait.  The holder lets go after 2 s: the child then gets past the lock.
bg holder2 flock -o "$T/state/lock" sleep 2
wait_for 10 "the lock to be held" sh -c "! flock -n '$T/state/lock' true"
assert_rc 6 pcm prepare-restart --reboot --dry-run
assert_contains "$OUT" "holds the lock" "a manual prepare-restart is refused at once"
t0=$(date +%s%N)
rc=0
pcm watch --prepare-event instance-event-0c0c0c0c0c0c0c0c2 --method reboot \
	>"$T/child.log" 2>&1 || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" -ne 6 ] || fail "the daemon's prepare-restart gave up on the lock: $(cat "$T/child.log")"
[ "$ms" -ge 1000 ] || fail "the daemon's prepare-restart did not wait for the lock (${ms} ms)"
grep -q "holds the lock" "$T/child.log" && fail "lock error after the wait: $(cat "$T/child.log")"
cat "$T/child.log"
ok "the daemon's prepare-restart waits for a moment of the lock (${ms} ms, exit $rc), a manual one does not"
