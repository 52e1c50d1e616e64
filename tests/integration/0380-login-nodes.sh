#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Login nodes (ParallelCluster 3.11+ login-node pools mount /home and
# /opt/slurm from the head node): preflight lists this cluster's running
# login nodes from EC2 (tag filters, pages of 5 followed through NextToken),
# and not a stopped one, another cluster's or an untagged instance; --dry-run
# names each of them and says their shells will hang; the journal and
# maintenance.json (read by the SPANK plugin and anyone's scripts) carry them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
export PCM_TEST_EC2_PAGE_SIZE=5

# no login node: nothing said about them
assert_rc 0 pcm prepare-restart --dry-run --no-save --reboot
assert_contains "$OUT" "login nodes  none" "dry run without login nodes"

mapfile -t login < <($AWSBED instances "$SLURM_CLUSTER" LoginNode 7)
[ "${#login[@]}" -eq 7 ] || fail "cannot create the login nodes"
stopped=$($AWSBED instances "$SLURM_CLUSTER" LoginNode 1 --state stopped)
other=$($AWSBED instances other-cluster LoginNode 1)
untagged=$($AWSBED instances "$SLURM_CLUSTER" LoginNode 1 --untagged)
mapfile -t computes < <($AWSBED instances "$SLURM_CLUSTER" Compute 2)
compute=${computes[0]}

assert_rc 0 pcm prepare-restart --dry-run --no-save --reboot
for id in "${login[@]}"; do
	assert_contains "$OUT" "$id" "dry run names login node $id"
done
for id in "$stopped" "$other" "$untagged" "$compute"; do
	assert_not_contains "$OUT" "$id" "dry run names $id, not a running login node of the cluster"
done
assert_contains "$OUT" "7 login nodes" "dry run counts them"
assert_contains "$OUT" "shells will hang" "dry run says what happens to them"

assert_rc_out 0 pcm prepare-restart --dry-run --no-save --reboot --json
assert_eq "$(echo "$OUT" | json_get 'sorted(x["id"] for x in d["login_nodes"])')" \
	"$(printf '%s\n' "${login[@]}" | python3 -c 'import sys; print(sorted(sys.stdin.read().split()))')" \
	"--json login_nodes"

# a real run: journal and maintenance.json say it
assert_rc 0 pcm prepare-restart --no-save --no-restart --yes
assert_eq "$(json_get 'len(d["data"]["login_nodes"])' <"$T/state/journal.json")" 7 "journal"
assert_contains "$(cat "$T/run/maintenance.json")" "7 login nodes" "maintenance.json message"
assert_contains "$(cat "$T/run/maintenance.json")" "${login[0]}" "maintenance.json names them"
assert_rc 0 pcm abort
ok "login nodes listed, named and announced"
