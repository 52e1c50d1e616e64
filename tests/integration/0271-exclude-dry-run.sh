#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# prepare-restart --dry-run says what the saves would leave out (entries and
# bytes: patterns of the config and of --exclude, a CACHEDIR.TAG), in text
# and JSON, and changes nothing; a bad --exclude is a usage error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-plan.sh"
plan_bed 2
mkdir -p "$T/scratch/work" "$T/scratch/cache" "$T/scratch/junk"
head -c 1000 /dev/urandom >"$T/scratch/work/keep.dat"
head -c 2000 /dev/urandom >"$T/scratch/work/a.tmp"
head -c 3000 /dev/urandom >"$T/scratch/cache/blob"
printf 'Signature: 8a477f597d28d172789f06886806bc55\n' >"$T/scratch/cache/CACHEDIR.TAG"
head -c 4000 /dev/urandom >"$T/scratch/junk/j"
echo "exclude = /junk/" >>"$PCM_CONF"

assert_rc 0 pcm prepare-restart --no-restart --dry-run --exclude '*.tmp'
# a.tmp (2000), cache + blob + tag (3000 + 44), junk + j (4000)
assert_contains "$OUT" "excluded: 6 entries" "the dry run counts the excluded entries"
assert_contains "$OUT" "lost at a stop/start" "and says what that means"
assert_rc_out 0 pcm prepare-restart --no-restart --dry-run --exclude '*.tmp' --json
assert_eq "$(echo "$OUT" | json_get 'd["excluded_entries"]')" 6 "json: excluded entries"
assert_eq "$(echo "$OUT" | json_get 'd["excluded_bytes"]')" $((2000 + 3044 + 4000)) "json: bytes"
# without --exclude: only the config's pattern and the tag
assert_rc_out 0 pcm prepare-restart --no-restart --dry-run --json
assert_eq "$(echo "$OUT" | json_get 'd["excluded_entries"]')" 5 "json: without --exclude"
[ ! -e "$T/state/journal.json" ] || fail "--dry-run wrote a journal"
assert_eq "$(plan_fleet)" RUNNING "--dry-run touched the fleet"
find "$T/target" -name MANIFEST | grep -q . && fail "--dry-run saved"
assert_rc 2 pcm prepare-restart --no-restart --dry-run --exclude ''
assert_contains "$OUT" "empty exclude pattern" "a bad pattern is named"
ok "prepare-restart --dry-run: excluded entries and bytes, text and JSON, nothing changed"
