#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# pcm-agent watch --once on a real Slurm and the IMDS fake: a new active
# event places the maintenance reservation at NotBefore - event_margin (a
# job whose time limit crosses it stays pending, a short one runs), the
# triage names exactly the --no-requeue / interactive jobs whose time limit
# passes NotBefore, wall gets the notice, the webhook receiver gets the
# template with the event's fields (JSON-escaped) and the custom header,
# maintenance.json and the MOTD are written; a second poll (and a second
# process) does nothing again; a canceled event removes the reservation,
# maintenance.json and the MOTD, and says so on wall and the webhook.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-slurm.sh"
. "$(dirname "$0")/lib-aws.sh"

SLURM_CPUS=3 slurm_start 2
R=pcm-maintenance
resv_field() { scontrol -o show reservation "$R" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
imds_time() { date -u -d "@$1" '+%-d %b %Y %H:%M:%S GMT'; }

# the event: NotBefore in 40 minutes, a 2 h window
NB=$(( $(date +%s) / 60 * 60 + 2400 ))
NA=$((NB + 7200))
EV=instance-event-0a1b2c3d4e5f60718
write_events() {	# STATE
	cat >"$T/events.json" <<JSON
[ { "NotBefore": "$(imds_time $NB)", "NotAfter": "$(imds_time $NA)",
    "Code": "system-reboot", "EventId": "$EV", "State": "$1",
    "Description": "scheduled reboot \"host\" maintenance\\\\now" } ]
JSON
}
imds_fake_start --events-file "$T/events.json"

# the webhook receiver and wall stand-in
WH_PORT=$(free_port)
bg webhook python3 "$FAKES/webhook.py" --port "$WH_PORT" --record "$T/webhook.jsonl" --fail 1
_wait_http "http://127.0.0.1:$WH_PORT/__stats"
cat >"$T/wall" <<SH
#!/bin/sh
{ echo "--- wall"; cat; } >>"$T/wall.out"
SH
chmod +x "$T/wall"
export PCM_TEST_WALL_CMD=$T/wall PCM_TEST_WEBHOOK_BACKOFF_MS=100
SECRET=s3cr3t-token-value-$$
cat >>"$PCM_CONF" <<CONF
event_margin = 15m
maintenance_duration = 1h
notify_wall = yes
webhook_url = http://127.0.0.1:$WH_PORT/hooks/T000/B000/XXXXSECRETPATH
webhook_template = {"text": "{Code} on {InstanceId} of {Cluster} at {NotBefore} until {NotAfter}: {Description}", "id": "{EventId}", "state": "{State}", "keep": "{Unknown}"}
webhook_header = Authorization: Bearer $SECRET
webhook_header = X-Pcm-Test: yes
CONF

# jobs running before the event is known
at_risk=$(slurm_submit -J $'at\033[2Jrisk' --no-requeue -t 120 --wrap "sleep 600")
ends_before=$(slurm_submit -J endsbefore --no-requeue -t 10 --wrap "sleep 600")
requeued=$(slurm_submit -J requeued --requeue -t 120 --wrap "sleep 600")
slurm_srun_bg srun -J inter -t 120 sleep 600
for j in "$at_risk" "$ends_before" "$requeued"; do slurm_wait_state "$j" RUNNING 30; done
wait_for 30 "the interactive job" sh -c "squeue -h -n inter -t R | grep -q ."
inter=$(squeue -h -n inter -o %i)

# no event yet: nothing happens
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'len(d["events"])')" 0 "no events yet"
scontrol -o show reservation "$R" >/dev/null 2>&1 && fail "reservation without an event"
[ -e "$T/run/maintenance.json" ] && fail "maintenance.json without an event"

# the event appears
write_events active
assert_rc_out 0 pcm --json watch --once
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["sources"]["imds"] == "ok", d
(e,) = d["events"]
assert e["id"] == sys.argv[1] and e["action"] == "plan" and e["status"] == "planned", e
ids = sorted(j["id"] for j in e["jobs_at_risk"])
want = sorted(int(x) for x in sys.argv[2:])
assert ids == want, (ids, want)
assert "wall" in e["actions"] and "webhook" in e["actions"], e
' "$EV" "$at_risk" "$inter" || fail "first poll: $OUT"
ok "event planned; at risk: $at_risk (batch, --no-requeue) and $inter (srun)"

# the reservation starts at NotBefore - 15 min
want_start=$(date -d "@$((NB - 900))" +%Y-%m-%dT%H:%M:%S)
assert_eq "$(resv_field StartTime)" "$want_start" "reservation start = NotBefore - event_margin"
assert_contains "$(resv_field Flags)" MAINT "maintenance flag"

# the triage: in the log and on wall, exactly the right jobs
assert_contains "$ERR" "job $at_risk of" "log names the at-risk batch job"
assert_contains "$ERR" "job $inter of" "log names the interactive job"
assert_not_contains "$ERR" "job $ends_before of" "a job ending before NotBefore is not at risk"
assert_not_contains "$ERR" "job $requeued of" "a requeueable job is not at risk"
W=$(cat "$T/wall.out")
assert_contains "$W" "system-reboot" "wall: event code"
assert_contains "$W" "job $at_risk (at?[2Jrisk" "wall: at-risk job, its name made harmless"
case "$W$ERR" in *$'\033'*) fail "a terminal escape from a job name reached wall or the log" ;; esac
assert_not_contains "$W" "job $requeued " "wall: requeueable job not listed"

# maintenance.json and the MOTD
M=$T/run/maintenance.json
[ -f "$M" ] || fail "no maintenance.json"
python3 - "$M" "$EV" "$NB" "$((NB - 900))" <<'PY' || fail "maintenance.json: $(cat "$M")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["phase"] == "scheduled", d
assert d["event"]["event_id"] == sys.argv[2] and d["event"]["code"] == "system-reboot", d
assert d["event"]["not_before_epoch"] == int(sys.argv[3]), d
assert d["window"]["start_epoch"] == int(sys.argv[4]), d
assert d["reservation"] == "pcm-maintenance", d
PY
[ -s "$T/run/motd" ] || fail "no MOTD snippet"
assert_contains "$(cat "$T/run/motd")" "system-reboot" "MOTD"

# the webhook: first attempt answered 500, the retry got through; the body is
# the template with JSON-escaped fields; the custom headers were sent
python3 - "$T/webhook.jsonl" "$EV" "$NB" "$SECRET" <<'PY' || fail "webhook: $(cat "$T/webhook.jsonl")"
import json, sys, datetime
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 2 and recs[0]["answered"] == 500 and recs[1]["answered"] == 200, recs
r = recs[1]
assert r["path"] == "/hooks/T000/B000/XXXXSECRETPATH", r
assert r["headers"]["authorization"] == "Bearer " + sys.argv[4], r["headers"]
assert r["headers"]["x-pcm-test"] == "yes", r["headers"]
assert r["headers"]["content-type"] == "application/json", r["headers"]
b = json.loads(r["body"])
nb = datetime.datetime.fromtimestamp(int(sys.argv[3]), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
want = "system-reboot on i-0123456789abcdef0 of pcmtest at %s until " % nb
assert b["text"].startswith(want), (b["text"], want)
assert b["text"].endswith(': scheduled reboot "host" maintenance\\now'), b["text"]
assert b["id"] == sys.argv[2] and b["state"] == "active" and b["keep"] == "{Unknown}", b
PY
ok "webhook: retried after a 500, template JSON-escaped, custom headers sent"

# the secret never reaches the log (neither header value nor URL path)
assert_not_contains "$ERR" "$SECRET" "header value in the log"
assert_not_contains "$ERR" "XXXXSECRETPATH" "webhook URL path in the log"

# the events file
python3 - "$T/state/events.json" "$EV" <<'PY' || fail "events.json: $(cat "$T/state/events.json")"
import json, sys, os, stat
d = json.load(open(sys.argv[1]))
e = d["events"][sys.argv[2]]
assert e["status"] == "planned" and e["resv_created"] is True and e["notified"] is True, e
assert stat.S_IMODE(os.stat(sys.argv[1]).st_mode) == 0o600
PY

# Slurm keeps starting only jobs that end before the reservation
long=$(slurm_submit -J long -t 60 --wrap "sleep 300")
short=$(slurm_submit -J short -t 5 --wrap "sleep 300")
slurm_wait_state "$short" RUNNING 30
sleep 2
assert_eq "$(slurm_job_state "$long")" PENDING "a job crossing the reservation waits"
ok "long job pending, short job runs"

# acted on once: a second poll and a second process do nothing
nwall=$(grep -c -- '--- wall' "$T/wall.out")
for i in 1 2; do
	assert_rc_out 0 pcm --json watch --once
	assert_eq "$(echo "$OUT" | json_get 'len(d["events"])')" 0 "poll $i after planning: no action"
done
assert_eq "$(grep -c -- '--- wall' "$T/wall.out")" "$nwall" "no second wall"
assert_eq "$(wc -l <"$T/webhook.jsonl")" 2 "no second webhook"
ok "acted on once"

# rescheduled: NotBefore 10 minutes later moves the reservation, rewrites
# maintenance.json and tells everyone again
NB=$((NB + 600)); NA=$((NA + 600))
write_events active
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'd["events"][0]["action"]')" replan "rescheduled event"
assert_eq "$(resv_field StartTime)" "$(date -d "@$((NB - 900))" +%Y-%m-%dT%H:%M:%S)" "reservation moved"
assert_eq "$(json_get 'd["event"]["not_before_epoch"]' <"$M")" "$NB" "maintenance.json moved"
assert_eq "$(grep -c -- '--- wall' "$T/wall.out")" $((nwall + 1)) "told again"
assert_eq "$(wc -l <"$T/webhook.jsonl")" 3 "webhook again"
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'len(d["events"])')" 0 "after the move: no action"
ok "rescheduled: reservation and maintenance.json moved"

# canceled: the reservation goes, maintenance.json and the MOTD go, notices
write_events canceled
assert_rc_out 0 pcm --json watch --once
echo "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
(e,) = d["events"]
assert e["action"] == "undo-canceled" and e["status"] == "canceled", e
assert "reservation removed" in e["actions"], e
assert "maintfile removed" in d["actions"], d
' || fail "cancel poll: $OUT"
scontrol -o show reservation "$R" >/dev/null 2>&1 && fail "reservation still there after cancel"
[ -e "$M" ] && fail "maintenance.json still there after cancel"
[ -e "$T/run/motd" ] && fail "MOTD still there after cancel"
assert_contains "$(cat "$T/wall.out")" "was canceled" "wall: canceled"
python3 - "$T/webhook.jsonl" <<'PY' || fail "webhook after cancel: $(tail -n1 "$T/webhook.jsonl")"
import json, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
assert json.loads(r["body"])["state"] == "canceled", r
PY
slurm_wait_state "$long" RUNNING 30
ok "canceled: reservation removed, maintenance.json gone, the long job starts"

# and once more: nothing
assert_rc_out 0 pcm --json watch --once
assert_eq "$(echo "$OUT" | json_get 'len(d["events"])')" 0 "after cancel: no action"
