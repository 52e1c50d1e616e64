#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# auto_prepare end to end, with the real prepare-restart on the whole bed
# (Slurm, moto, SSM fake, fleet stand-in, loop volumes): an instance-reboot
# event due 3 s after the daemon starts makes the daemon run prepare-restart
# by itself with the reboot method; the journal's trigger is the EventId,
# every step is done, the running --no-requeue job (it would die at the
# event anyway) does not stop it, the fleet is stopped, the reboot is
# requested from EC2, maintenance.json names the event, and events.json
# records a successful prepare.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
make_tree "$T/scratch"

# a second IMDS fake, the same instance, with the scheduled events
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }
LEAD=600
NB=$(( $(date +%s) + LEAD + 3 ))
EV=instance-event-0feedfacefeedface
cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $NB)", "Code": "instance-reboot", "EventId": "$EV",
    "State": "active", "Description": "scheduled reboot" } ]
JSON
imds_fake_start --instance-id "$HEAD_ID" --events-file "$T/events.json"
cat >>"$PCM_CONF" <<CONF
poll_interval = 60s
auto_prepare = yes
prepare_lead = ${LEAD}s
CONF

job=$(slurm_submit --no-requeue -J atrisk -t 120 --wrap "sleep 600")
slurm_wait_state "$job" RUNNING 30

DLOG=$T/log/watch.log
"$PCM" -c "$PCM_CONF" watch >>"$DLOG" 2>&1 &
DPID=$!
at_exit "stop_pid $DPID"
wait_for 10 "the plan" grep -q "event $EV: maintenance reservation" "$DLOG"
grep -q "job $job of .* will fail at the maintenance" "$DLOG" || fail "triage did not name job $job"
wait_for 15 "prepare-restart to start" grep -q "event $EV (instance-reboot at .*): prepare-restart started (reboot" "$DLOG"
wait_for 120 "prepare-restart to end" grep -q "event $EV: prepare-restart \(finished\|exited\)" "$DLOG"
grep -q "event $EV: prepare-restart finished" "$DLOG" || fail "prepare-restart failed: $(tail -n 40 "$DLOG")"

# the journal: trigger = EventId, reboot, every prepare step done
[ -f "$T/state/journal.json" ] || fail "no journal"
assert_eq "$(json_get 'd["trigger"]' <"$T/state/journal.json")" "$EV" "journal trigger"
assert_eq "$(plan_journal_data restart_method)" reboot "restart method"
for s in preflight prestage reservation jobgate fleet_stop final_save restart; do
	assert_eq "$(plan_journal_step $s)" done "journal step $s"
done
assert_eq "$(plan_fleet)" STOPPED "fleet stopped"
assert_eq "$(slurm_job_state "$job")" NODE_FAIL "the --no-requeue job (it would die at the event anyway)"
assert_contains "$(json_get 'd["event"]["event_id"]' <"$T/run/maintenance.json")" "$EV" "maintenance.json names the event"
python3 - "$T/state/events.json" "$EV" <<'PY' || fail "events.json: $(cat "$T/state/events.json")"
import json, sys
e = json.load(open(sys.argv[1]))["events"][sys.argv[2]]
assert e["status"] == "preparing" and e["prepare_method"] == "reboot", e
PY
wait_for 10 "prepare_rc recorded" python3 -c "
import json; e = json.load(open('$T/state/events.json'))['events']['$EV']
assert e['prepare_rc'] == 0, e"
ok "the daemon ran prepare-restart --reboot for $EV by itself"

# while the journal is open the daemon leaves the plan's files alone
stop_pid "$DPID"
"$PCM" -c "$PCM_CONF" watch --once >>"$DLOG" 2>&1 || fail "watch --once after the prepare"
[ "$(json_get 'd["phase"]' <"$T/run/maintenance.json")" != scheduled ] || fail "maintenance.json rewritten to scheduled"
assert_eq "$(grep -c "prepare-restart started" "$DLOG")" 1 "started once"

# after the reboot: resume brings the cluster back (today it also deletes
# the reservation its reservation step found in place); the event then
# completes and the daemon undoes the rest: no reservation, no
# maintenance.json, the event recorded completed
export PCM_TEST_BOOT_ID=after-reboot
assert_rc 0 pcm resume
[ ! -e "$T/state/journal.json" ] || fail "journal still open after resume"
assert_eq "$(plan_fleet)" RUNNING "fleet started"
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'len(d["events"])')" 0 "event still active after the reboot: nothing yet"
sed -i 's/"State": "active"/"State": "completed"/' "$T/events.json"
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'd["events"][0]["action"]')" undo-completed "event completed"
assert_eq "$(plan_resv)" no "no reservation left"
assert_eq "$(json_get 'd["events"]["'$EV'"]["status"]' <"$T/state/events.json")" completed "status"
[ ! -e "$T/run/maintenance.json" ] || fail "maintenance.json after the whole cycle"
ok "whole cycle: event -> auto prepare -> reboot -> resume -> completed"
