#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 11, item 10: a save killed after its manifest was committed leaves
# delta logs to apply (in place, on the target).  When the target is then
# read-only (a read-only bind mount, a remount ro), restore and verify must
# still work: the logs are applied to private copies of their objects, the
# target is never opened for writing and stays as it was; once writable
# again, the next run finishes the save as before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

cat >>"$PCM_CONF" <<CONF
cluster_name = rodelta
delta_min_size = 8M
workers = 2
CONF
loopfs src ext4 200
loopfs tgt xfs 300
loopfs dst ext4 200
S=$T/src TG=$T/tgt D=$T/dst RO=$T/tgt-ro
mkdir -p "$S/d"
for i in 1 2; do head -c 20M /dev/urandom >"$S/d/big$i"; done
head -c 100000 /dev/urandom >"$S/small"
assert_rc 0 pcm save --source "$S" --target "$TG"
python3 - "$S/d" <<'PY'
import os, random, sys
rnd = random.Random(7)
for n in ("big1", "big2"):
    p = os.path.join(sys.argv[1], n)
    with open(p, "r+b") as f:
        for _ in range(4):
            f.seek(rnd.randrange(0, os.path.getsize(p) - 65536))
            f.write(os.urandom(65536))
PY
cp -a "$S" "$T/ref-new"
tar -C "$TG" -cSf "$T/base.tar" pcm-agent
mkdir -p "$RO"

for pt in save-renamed:1 delta-record:2; do
	umount "$RO" 2>/dev/null || true
	rm -rf "$TG/pcm-agent" && tar -C "$TG" -xSf "$T/base.tar"
	assert_rc 137 env PCM_TEST_CRASH_AT=$pt "$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG"
	sd=$(savedir_of "$TG")
	[ -e "$sd/DELTAS" ] && ls "$sd"/objects/*/*.log >/dev/null 2>&1 || fail "$pt: no pending logs"
	sum_before=$(cd "$TG" && find pcm-agent -type f | sort | xargs sha256sum | sha256sum)
	mount --bind "$TG" "$RO"
	at_exit "umount $RO 2>/dev/null"
	mount -o remount,bind,ro "$RO"
	touch "$RO/x" 2>/dev/null && fail "the bind mount is writable"
	rm -rf "$D/out" && mkdir "$D/out"
	assert_rc 0 pcm restore --from "$RO" --to "$D/out"
	assert_contains "$OUT" "read-only, with the delta logs" "the logs named"
	compare_trees "$T/ref-new" "$D/out" >"$T/cmp.log" || { cat "$T/cmp.log"; fail "$pt: restore from a read-only target"; }
	assert_rc 0 pcm verify --target "$RO"
	sum_after=$(cd "$TG" && find pcm-agent -type f | sort | xargs sha256sum | sha256sum)
	assert_eq "$sum_after" "$sum_before" "$pt: the read-only target changed"
	umount "$RO"
	# writable again: the next run finishes the save
	assert_rc 0 pcm verify --target "$TG"
	[ ! -e "$sd/DELTAS" ] || fail "$pt: DELTAS left once writable"
	ok "killed at $pt, target read-only: restore and verify through the logs, target untouched"
done

# a log of one object under another's name (damage: pcm-agent never writes
# one) is dropped, not applied: big2's pending log planted as the log of
# `small`'s object would rewrite it into 20 MiB of big2's changes
rm -rf "$TG/pcm-agent" && tar -C "$TG" -xSf "$T/base.tar"
assert_rc 137 env PCM_TEST_CRASH_AT=save-renamed:1 "$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG"
sd=$(savedir_of "$TG")
obj_of() {	# NAME: the object id of the file called NAME (one here), as named in objects/
	local h
	h=$(awk -v n="$1" '$1 == "f" && $3 == n { sub(/@.*/, "", $11); print $11 }' "$sd/MANIFEST")
	[ -n "$h" ] && printf '%016x\n' "$((16#$h))"
}
small=$(obj_of small) big2=$(obj_of big2)
[ -n "$small" ] && [ -n "$big2" ] || fail "no objects for small and big2 in the MANIFEST"
[ -f "$sd/objects/${big2: -2}/$big2.log" ] || fail "big2 has no pending log"
cp "$sd/objects/${big2: -2}/$big2.log" "$sd/objects/${small: -2}/$small.log"
rm -rf "$D/out" && mkdir "$D/out"
assert_rc 0 pcm restore --from "$TG" --to "$D/out"
compare_trees "$T/ref-new" "$D/out" >"$T/cmp.log" || { cat "$T/cmp.log"; fail "restore with a foreign log"; }
[ ! -e "$sd/objects/${small: -2}/$small.log" ] || fail "the foreign log was left"
ok "a delta log under another object's name is dropped, not applied"
