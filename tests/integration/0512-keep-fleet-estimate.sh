#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The keep-fleet outage estimate on first use (no history, no
# reboot_estimate): twice systemd-analyze's boot time plus 2 minutes, plus
# what the instance type (from IMDS) adds: a metal instance's firmware POST,
# a high-memory instance's memory init.  computemgtd's budget: 600 s.
#  1. c5d.large (the IMDS fake's type), boot 30 s: 180 s + 90 s margin fits;
#  2. c5.metal: 1080 s; with keep_fleet_max_budget 1h the budget is widened,
#     with 20 min prepare-restart refuses before anything changes;
#  3. IMDS without an instance type: said so, the estimate goes on without.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2

plan_pc_confs
printf '[computemgtd]\nclustermgtd_timeout = 600\ndisable_computemgtd_actions = False\n' >"$CD"
printf '[clustermgtd]\ndisable_all_cluster_management = False\n' >"$CM"
chmod 644 "$CD" "$CM"
cp "$CD" "$T/cd.orig"; cp "$CM" "$T/cm.orig"
printf 'keep_fleet = yes\nclustermgtd_conf = %s\ncomputemgtd_conf = %s\n' "$CM" "$CD" >>"$PCM_CONF"
# this head node's boot, as systemd-analyze reports it
printf '#!/bin/sh\necho "Startup finished in 4.500s (kernel) + 25.500s (userspace) = 30.000s"\necho "graphical.target reached after 25.4s in userspace."\n' \
	>"$T/bin/systemd-analyze"
chmod 755 "$T/bin/systemd-analyze"
export PATH=$T/bin:$PATH
[ ! -e "$T/state/history" ] || [ -z "$(ls -A "$T/state/history")" ] || fail "the bed has a history"

# --- 1. a virtual instance: no extra, fits ---
assert_rc 0 pcm prepare-restart --reboot --keep-fleet --dry-run
assert_contains "$OUT" "outage estimate 180 s (first use: systemd-analyze boot of 30 s, doubled, + 120 s; c5d.large: no extra for the instance type) + 90 s margin fits the budget of 600 s" \
	"c5d.large: the estimate and its source"
ok "a virtual instance: 2 x 30 s + 120 s fits the 600 s budget"

# --- 2. a metal instance: 15 min more; widened, or refused ---
imds_fake_start --instance-id "$HEAD_ID" --instance-type c5.metal
assert_rc 0 pcm prepare-restart --reboot --keep-fleet --dry-run
assert_contains "$OUT" "outage estimate 1080 s (first use: systemd-analyze boot of 30 s, doubled, + 120 s, + 900 s for a metal instance (c5.metal)) + 540 s margin: the budget of 600 s widened to 27m" \
	"c5.metal: the estimate with the extra, the budget widened"
assert_rc_out 0 pcm prepare-restart --reboot --keep-fleet --dry-run --json
kfb() { echo "$OUT" | json_get "d['keep_fleet_budget']$1"; }
assert_eq "$(kfb "['outage_estimate_s']")" 1080 "json: the estimate"
assert_contains "$(kfb "['outage_estimate_source']")" "+ 900 s for a metal instance (c5.metal)" "json: its source"
assert_eq "$(kfb "['budget_s']")" 600 "json: the budget"
assert_eq "$(kfb "['budget']")" widened "json: the verdict"
assert_eq "$(kfb "['budget_widened_to_s']")" 1620 "json: widened to 27 min"
echo "keep_fleet_max_budget = 20m" >>"$PCM_CONF"
assert_rc 0 pcm prepare-restart --reboot --keep-fleet --dry-run
assert_contains "$OUT" "does not fit the budget of 600 s nor keep_fleet_max_budget (20m): prepare-restart refuses" \
	"dry run: the refusal foretold"
assert_rc_out 0 pcm prepare-restart --reboot --keep-fleet --dry-run --json
assert_eq "$(kfb "['budget']")" refused "json: the refusal foretold"
assert_rc 1 pcm prepare-restart --reboot --yes
assert_contains "$OUT" "cannot keep the fleet" "refused"
assert_contains "$OUT" "estimated at 1080 s (first use: systemd-analyze boot of 30 s, doubled, + 120 s, + 900 s for a metal instance (c5.metal))" \
	"the refusal names the estimate and the instance type"
cmp -s "$CD" "$T/cd.orig" || fail "computemgtd config changed by a refused prepare-restart"
cmp -s "$CM" "$T/cm.orig" || fail "clustermgtd config changed by a refused prepare-restart"
assert_eq "$(plan_resv)" no "no reservation after the refusal"
assert_eq "$(plan_fleet)" RUNNING "the fleet untouched"
assert_rc 0 pcm abort
ok "a metal instance: 1080 s, widened within keep_fleet_max_budget, else refused beforehand"

# a high-memory instance: 10 min more
imds_fake_start --instance-id "$HEAD_ID" --instance-type u-6tb1.112xlarge
assert_rc 0 pcm prepare-restart --reboot --keep-fleet --dry-run
assert_contains "$OUT" "outage estimate 780 s (first use: systemd-analyze boot of 30 s, doubled, + 120 s, + 600 s for a high-memory instance (u-6tb1.112xlarge))" \
	"u-6tb1.112xlarge: 10 min more"
ok "a high-memory instance: 780 s"

# --- 3. IMDS without the instance type: said, and the estimate goes on ---
imds_fake_start --instance-id "$HEAD_ID" --instance-type ""
assert_rc 0 pcm prepare-restart --reboot --keep-fleet --dry-run
assert_contains "$OUT" "outage estimate 180 s (first use: systemd-analyze boot of 30 s, doubled, + 120 s; instance type unknown (IMDS:" \
	"no instance type: said so"
assert_contains "$OUT" "no extra for it) + 90 s margin fits the budget of 600 s" "and it goes on"
ok "IMDS without an instance type: reported, no extra"
