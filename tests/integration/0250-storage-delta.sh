#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Changed large files are updated with librsync deltas applied in place:
# only the changed blocks are written to the target, the result restores
# identically, and a kill -9 before, at or after the commit, or in the middle
# of applying the logs, leaves the old or the new save, finished by the next
# run (save, verify or restore).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"

cat >>"$PCM_CONF" <<CONF
cluster_name = delta
delta_min_size = 8M
workers = 2
CONF
loopfs src ext4 300
loopfs tgt xfs 400
S=$T/src TG=$T/tgt
mkdir -p "$S/d"
for i in 1 2 3 4; do head -c 40M /dev/urandom >"$S/d/big$i"; done
head -c 100000 /dev/urandom >"$S/small"

jsave() {	# pcm --json save, the JSON object in $J
	assert_rc 0 pcm --json save --source "$S" --target "$TG" "$@"
	J=$(echo "$OUT" | sed -n '/^{/,$p')
}
jget() { echo "$J" | json_get "$1"; }
change() {	# the four kinds of change, $1 = seed
	python3 - "$S/d" "$1" <<'PY'
import os, random, sys
d, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
def poke(p, n):
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        for _ in range(n):
            f.seek(rnd.randrange(0, size - 65536))
            f.write(os.urandom(65536))
poke(os.path.join(d, "big1"), 6)            # about 1 % rewritten in place
with open(os.path.join(d, "big2"), "ab") as f:   # grown
    f.write(os.urandom(300000))
with open(os.path.join(d, "big3"), "r+b") as f:  # shrunk
    f.truncate(30 << 20)
p = os.path.join(d, "big4")                      # 1000 bytes inserted near the start
data = open(p, "rb").read()
open(p, "wb").write(data[:4096] + os.urandom(1000) + data[4096:])
PY
}

jsave
assert_eq "$(jget 'd["files_delta"]')" 0 "first save: no delta"
ls "$(savedir_of "$TG")"/objects/*/*.sig >/dev/null || fail "no signatures stored"
SD=$(savedir_of "$TG")

change 1
cp -a "$S" "$T/ref"
jsave
assert_eq "$(jget 'd["files_delta"]')" 3 "files updated by delta (big4: copied whole)"
assert_eq "$(jget 'd["files_copied"]')" 4 "files changed"
w=$(jget 'd["bytes_written"]')
echo "written for the four changed files: $w bytes"
# big1 (6 x 64 KiB rewritten) + big2 (300 KB appended) + big3 (nothing but its
# size) by delta; big4 (everything after the insertion shifted) copied whole
[ "$w" -lt $(((40 << 20) + 4 * (1 << 20))) ] || fail "delta wrote $w bytes"
assert_rc 0 pcm verify --target "$TG"
[ -z "$(ls "$SD"/objects/*/*.log 2>/dev/null)" ] || fail "logs left after the save"
[ ! -e "$SD/DELTAS" ] || fail "DELTAS marker left after the save"
mkdir "$T/out"
assert_rc 0 pcm restore --from "$TG" --to "$T/out"
compare_trees "$T/ref" "$T/out" || fail "restore after delta saves differs"
ok "in place, grown, shrunk by delta, shifted copied whole: restored identically"

# only in-place changes: the bytes written are about the changed blocks
python3 - "$S/d/big1" <<'PY'
import os, random, sys
rnd = random.Random(7)
size = os.path.getsize(sys.argv[1])
with open(sys.argv[1], "r+b") as f:
    for _ in range(6):
        f.seek(rnd.randrange(0, size - 65536) & ~4095)
        f.write(os.urandom(65536))
PY
jsave
w=$(jget 'd["bytes_written"]')
assert_eq "$(jget 'd["files_delta"]')" 1 "one file by delta"
# 6 x 64 KiB changed in a 40 MiB file: log + object, 16 KiB blocks
[ "$w" -lt $((6 * 96 * 1024 * 2 + 65536)) ] || fail "in-place delta wrote $w bytes"
echo "6 x 64 KiB changed in 40 MiB: $w bytes written (log and object)"
ok "an in-place change writes only its blocks ($w bytes)"

# a third of the blocks rewritten: more than the aligned pass takes, so
# librsync's rolling delta does it; still less than half: a delta, correct
python3 - "$S/d/big1" <<'PY'
import os, random, sys
rnd = random.Random(11)
size = os.path.getsize(sys.argv[1])
with open(sys.argv[1], "r+b") as f:
    for blk in rnd.sample(range(size // 16384), size // 16384 // 3):
        f.seek(blk * 16384)
        f.write(os.urandom(16384))
PY
jsave
assert_eq "$(jget 'd["files_delta"]')" 1 "a third changed: by librsync delta"
rm -rf "$T/out" && mkdir "$T/out"
assert_rc 0 pcm restore --from "$TG" --to "$T/out"
cmp "$S/d/big1" "$T/out/d/big1" || fail "librsync delta: big1 differs"
ok "a third of a file rewritten: librsync delta, restored identical"

# a signature that does not match the object is never used
for s in "$SD"/objects/*/*.sig; do printf 'XXXXXXXX' | dd of="$s" bs=1 seek=8 conv=notrunc status=none; done
change 2
jsave
assert_eq "$(jget 'd["files_delta"]')" 0 "stale signatures: whole copies"
assert_rc 0 pcm verify --target "$TG"

# kill -9 around the commit and while the logs are applied
tar -C "$TG" -cSf "$T/base.tar" pcm-agent
cp -a "$S" "$T/ref-old"
change 3
cp -a "$S" "$T/ref-new"
for pt in save-synced:1 save-manifest:1 save-renamed:1 delta-record:1 delta-record:3 \
    delta-applied:1 delta-applied:3; do
	rm -rf "$TG/pcm-agent" && tar -C "$TG" -xSf "$T/base.tar"
	assert_rc 137 env PCM_TEST_CRASH_AT=$pt "$PCM" -c "$PCM_CONF" save --source "$S" --target "$TG"
	# the next run, here a verify, finishes a committed save first
	assert_rc 0 pcm verify --target "$TG"
	rm -rf "$T/out" && mkdir "$T/out"
	assert_rc 0 pcm restore --from "$TG" --to "$T/out"
	case $pt in save-synced*|save-manifest*) ref=$T/ref-old ;; *) ref=$T/ref-new ;; esac
	compare_trees "$ref" "$T/out" >"$T/cmp.log" || { cat "$T/cmp.log"; fail "after a kill at $pt"; }
	[ -z "$(ls "$SD"/objects/*/*.log 2>/dev/null)" ] || fail "$pt: logs left behind"
	assert_rc 0 pcm save --source "$S" --target "$TG"
	assert_rc 0 pcm verify --target "$TG"
	ok "killed at $pt: $(basename "$ref") save complete, next run finished it"
done
