#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# auto_prepare: the daemon starts prepare-restart by itself at NotBefore
# minus prepare_lead (here due 4 s after the start, with poll_interval 60 s:
# the daemon wakes up for it), with the method the event needs (reboot for
# system-reboot, stop-start for instance-stop) and the EventId, in a process
# of its own; how it ended is recorded in events.json; a restarted daemon
# does not start it again.  The command is PCM_TEST_PREPARE_CMD here (a
# script recording its arguments); 0660 runs the real prepare-restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

slurm_start 2
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
LEAD=600
T0=$(date +%s)
NB=$((T0 + LEAD + 4))
EVA=instance-event-0aaaaaaaaaaaaaaa1
EVB=instance-event-0bbbbbbbbbbbbbbb2
EVC=instance-event-0ccccccccccccccc3
cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $NB)", "Code": "system-reboot", "EventId": "$EVA", "State": "active" },
  { "NotBefore": "$(imds_time $NB)", "Code": "instance-stop", "EventId": "$EVB", "State": "active" },
  { "NotBefore": "$(imds_time $((NB + 86400)))", "Code": "instance-retirement", "EventId": "$EVC", "State": "active" } ]
JSON
imds_fake_start --events-file "$T/events.json"
cat >"$T/prepare" <<SH
#!/bin/sh
echo "\$(date +%s) \$*" >>"$T/prepare.out"
sleep 1
exit 0
SH
printf '#!/bin/sh\ncat >/dev/null\n' >"$T/wall"
chmod +x "$T/prepare" "$T/wall"
export PCM_TEST_PREPARE_CMD=$T/prepare PCM_TEST_WALL_CMD=$T/wall
cat >>"$PCM_CONF" <<CONF
poll_interval = 60s
auto_prepare = yes
prepare_lead = ${LEAD}s
CONF

DLOG=$T/log/watch.log
"$PCM" -c "$PCM_CONF" watch >>"$DLOG" 2>&1 &
DPID=$!
at_exit "stop_pid $DPID"
wait_for 10 "the plan" grep -q "event $EVA: maintenance reservation" "$DLOG"
[ ! -e "$T/prepare.out" ] || fail "prepare-restart started before its time: $(cat "$T/prepare.out")"
wait_for 15 "prepare-restart for both events" sh -c "[ \$(wc -l <$T/prepare.out) -ge 2 ]"
sleep 1.5	# let a wrong third one show up
assert_eq "$(wc -l <"$T/prepare.out")" 2 "two prepare-restarts (not the event due tomorrow)"

# started at NotBefore - prepare_lead, not before, and not much later
due=$((NB - LEAD))
while read -r t rest; do
	[ "$t" -ge "$due" ] || fail "started at $t, before $due: $rest"
	[ "$t" -le $((due + 2)) ] || fail "started at $t, more than 2 s after $due: $rest"
done <"$T/prepare.out"
grep -qx "[0-9]* -c $PCM_CONF --state-dir $T/state watch --prepare-event $EVA --method reboot" "$T/prepare.out" ||
	fail "system-reboot: wrong arguments: $(cat "$T/prepare.out")"
grep -qx "[0-9]* -c $PCM_CONF --state-dir $T/state watch --prepare-event $EVB --method stop-start" "$T/prepare.out" ||
	fail "instance-stop: wrong arguments: $(cat "$T/prepare.out")"
ok "prepare-restart started on time with the right method and EventId"

# how they ended is recorded (SIGCHLD, no need to wait for the next poll)
wait_for 10 "prepare_rc recorded" python3 - "$T/state/events.json" "$EVA" "$EVB" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["events"]
for ev in sys.argv[2:]:
    e = d[ev]
    assert e["status"] == "preparing" and e["prepare_rc"] == 0 and e["prepare_pid"] == 0, e
PY
python3 - "$T/state/events.json" "$EVA" "$EVB" "$EVC" <<'PY' || fail "events.json: $(cat "$T/state/events.json")"
import json, sys
d = json.load(open(sys.argv[1]))["events"]
assert d[sys.argv[2]]["prepare_method"] == "reboot", d
assert d[sys.argv[3]]["prepare_method"] == "stop-start", d
assert d[sys.argv[4]]["status"] == "planned" and d[sys.argv[4]]["prepare_started"] == 0, d
PY
grep -q "event $EVA: prepare-restart finished" "$DLOG" || fail "no 'finished' line"

# a restarted daemon does not start them again
stop_pid "$DPID"
"$PCM" -c "$PCM_CONF" watch >>"$DLOG" 2>&1 &
DPID=$!
at_exit "stop_pid $DPID"
wait_for 10 "the restarted daemon" sh -c "[ \$(grep -c 'watching for scheduled' $DLOG) -ge 2 ]"
sleep 2
assert_eq "$(wc -l <"$T/prepare.out")" 2 "nothing started again after a restart"

# a failing prepare-restart is recorded and logged, not retried
stop_pid "$DPID"
printf '#!/bin/sh\necho "$(date +%%s) $*" >>%s\nexit 3\n' "$T/prepare.out" >"$T/prepare"
NB2=$(( $(date +%s) + LEAD + 2 ))
EVD=instance-event-0ddddddddddddddd4
cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $NB2)", "Code": "instance-reboot", "EventId": "$EVD", "State": "active" } ]
JSON
"$PCM" -c "$PCM_CONF" watch >>"$DLOG" 2>&1 &
DPID=$!
at_exit "stop_pid $DPID"
wait_for 15 "the failing prepare-restart" grep -q "event $EVD: prepare-restart exited 3" "$DLOG"
assert_eq "$(grep -c -- "--prepare-event $EVD --method reboot" "$T/prepare.out")" 1 "started once"
python3 - "$T/state/events.json" "$EVD" <<'PY' || fail "events.json: $(cat "$T/state/events.json")"
import json, sys
e = json.load(open(sys.argv[1]))["events"][sys.argv[2]]
assert e["status"] == "preparing" and e["prepare_rc"] == 3, e
PY
ok "a failed prepare-restart is recorded, not retried"
