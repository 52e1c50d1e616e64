#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A target too small: save exits 1 naming the target and the space needed,
# the source is untouched, the previous save stays complete and restorable,
# and nothing of the failed save is left on the target.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

cat >>"$PCM_CONF" <<CONF
cluster_name = full
CONF
loopfs src ext4 200
loopfs tgt ext4 48
S=$T/src TG=$T/tgt
mkdir -p "$S/d"
for i in $(seq 10); do head -c 1M /dev/urandom >"$S/d/f$i"; done
assert_rc 0 pcm save --source "$S" --target "$TG"
SD=$(savedir_of "$TG")
m1=$(sha256sum <"$SD/MANIFEST")
cp -a "$S" "$T/ref1"
nobj1=$(find "$SD/objects" -type f | wc -l)

# 60 MiB more than the target holds
for i in $(seq 6); do head -c 10M /dev/urandom >"$S/big$i"; done
cp -a "$S" "$T/ref2"
assert_rc 1 pcm save --source "$S" --target "$TG"
assert_contains "$OUT" "target $SD has" "message names the target"
assert_contains "$OUT" "the save needs" "message gives the space needed"
assert_contains "$OUT" "previous save intact" "message says the previous save is intact"
assert_eq "$(sha256sum <"$SD/MANIFEST")" "$m1" "previous manifest"
assert_eq "$(find "$SD/objects" -type f | wc -l)" "$nobj1" "objects after the refused save"
compare_trees "$T/ref2" "$S" sock || fail "source changed"
assert_rc 0 pcm verify --target "$TG"
mkdir "$T/out"
assert_rc 0 pcm restore --from "$TG" --to "$T/out"
compare_trees "$T/ref1" "$T/out" || fail "previous save not restorable"
ok "refused up front: target and space named, source and previous save intact"

# running out in the middle: stopped after the space check (test hook),
# the target is filled, then the save goes on
rm "$S"/big[1-6]
head -c 15M /dev/urandom >"$S/big7"
PCM_TEST_STOP_AT=save-checked "$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG" \
	>"$T/out.log" 2>&1 &
pid=$!
wait_for 10 "the save to stop after its space check" \
	sh -c "awk '{print \$3}' /proc/$pid/stat | grep -q T"
dd if=/dev/zero of="$TG/filler" bs=1M status=none 2>/dev/null || true
kill -CONT $pid
rc=0; wait $pid || rc=$?
cat "$T/out.log"
assert_eq $rc 1 "exit status on a target that filled up"
grep -q "target $SD is full: the save needs about" "$T/out.log" || fail "ENOSPC message"
grep -q "previous save intact" "$T/out.log" || fail "ENOSPC message: previous save"
assert_eq "$(sha256sum <"$SD/MANIFEST")" "$m1" "previous manifest after ENOSPC"
assert_eq "$(find "$SD/objects" -type f | wc -l)" "$nobj1" "objects after ENOSPC"
[ ! -e "$SD/MANIFEST.tmp" ] || fail "MANIFEST.tmp left after ENOSPC"
rm -f "$TG/filler"
assert_rc 0 pcm verify --target "$TG"
rm "$S/big7"
assert_rc 0 pcm save --source "$S" --target "$TG"
assert_rc 0 pcm verify --target "$TG"
ok "a target filled during the save: clear error, previous save intact, next save fine"
