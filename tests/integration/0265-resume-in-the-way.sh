#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 11, item 3, end to end: at boot, before `pcm-agent resume` restores
# the world-writable /scratch, a user plants a non-empty directory where the
# save has a file (mkdir -p /scratch/alice-top.dat/x).  The restore moves it
# aside and completes, so resume goes on: fleet started, reservation
# removed, the quarantine named in the output and in the journal.  (What
# landed exited 1 there and left the cluster down.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
command -v setpriv >/dev/null || skip "setpriv not installed"
plan_bed 2
chmod 711 "$T"
printf 'alice top\n' >"$T/scratch/alice-top.dat"
mkdir -p "$T/scratch/data" && printf 'd\n' >"$T/scratch/data/f"
chmod 1777 "$T/scratch"
cp -a "$T/scratch" "$T/ref"

assert_rc 0 pcm prepare-restart --stop-start --yes
assert_eq "$(plan_fleet)" STOPPED "fleet after prepare"
_head_running() { [ "$(aws_instance_state "$HEAD_ID")" = running ]; }
sleep 1
wait_for 30 "the SSM runbook to start the instance again" _head_running

# the new boot: an empty, world-writable /scratch, and a user first
plan_new_hardware
chmod 1777 "$T/scratch"
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \
	"mkdir -p '$T/scratch/alice-top.dat/x' && echo mine >'$T/scratch/alice-top.dat/x/y'" ||
	fail "the user could not plant"
export PCM_TEST_BOOT_ID=after-stop-start
assert_rc 0 pcm resume
assert_contains "$OUT" "==> restore:" "restore step"
assert_contains "$OUT" "moved aside to $T/scratch/.pcm-agent-quarantine/" "quarantine named"
assert_eq "$(plan_fleet)" RUNNING "fleet after resume"
assert_eq "$(plan_resv)" no "reservation after resume"
[ ! -e "$T/state/journal.json" ] || fail "journal still open after resume"
grep -q '"restore_quarantine": *"'"$T/scratch/.pcm-agent-quarantine/" "$T/state/history/"*.json ||
	fail "the quarantine is not in the journal"
assert_eq "$(cat "$T/scratch/alice-top.dat")" "alice top" "the saved file"
[ -f "$T/scratch/.pcm-agent-quarantine/"*/*-alice-top.dat/x/y ] || fail "the planted directory is not in the quarantine"
ok "a planted directory in the way: resume completed, fleet started, quarantine named"
