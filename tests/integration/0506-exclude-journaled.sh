#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# prepare-restart --exclude, killed before its first save, then run again
# without the option: the journal keeps the patterns, the saves leave out
# what the first run excluded, and the output says so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
mkdir -p "$T/scratch/work" "$T/scratch/junk"
head -c 1000 /dev/urandom >"$T/scratch/work/keep.dat"
head -c 4000 /dev/urandom >"$T/scratch/junk/j"
head -c 2000 /dev/urandom >"$T/scratch/work/a.tmp"
echo "exclude = *.tmp" >>"$PCM_CONF"

rc=0
PCM_TEST_CRASH_AT=plan-prestage-begin:1 "$PCM" -c "$PCM_CONF" prepare-restart --no-restart \
	--force --yes --exclude /junk/ >"$T/run-1.out" 2>&1 || rc=$?
[ "$rc" -eq 137 ] || fail "the first run exited $rc, want 137 (killed): $(cat "$T/run-1.out")"
assert_eq "$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["data"]["excludes"]))' \
	"$T/state/journal.json")" "*.tmp /junk/" "the journal holds the config's and the option's patterns"

assert_rc 0 pcm prepare-restart --no-restart --force --yes
assert_contains "$OUT" "excluding '/junk/' as the interrupted run did" "the rerun says what it keeps"
assert_not_contains "$OUT" "excluding '*.tmp'" "the config's pattern is not announced twice"
assert_rc 0 pcm ls -R --from "$T/target"
assert_contains "$OUT" "keep.dat" "the save holds what is not excluded"
assert_not_contains "$OUT" "junk" "the rerun without --exclude left out /junk/"
assert_not_contains "$OUT" "a.tmp" "and the config's pattern"
ok "prepare-restart --exclude journaled: a rerun without it excludes the same"
