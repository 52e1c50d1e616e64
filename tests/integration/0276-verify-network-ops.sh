#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A verify of a save on a network target: its main thread opened and
# fstat'ed every file's object, one file after the other (a round trip
# each on EFS; an fstat of a pack that a worker had just read from was one
# too), and the incremental verify opened every object of its own just to
# fstat it.  Now the workers open and stat the objects, a pack once for all
# its files, and the incremental verify stats an object verified before by
# name.  Through tests/fakes/latencyfs (counts every operation it serves):
# a full and an incremental verify stay within a few lookups and opens per
# object, not per file; VERIFIED still makes the incremental verify re-read
# only what changed; a damaged pack or object, a missing and a truncated
# one are still named, exit 1, and VERIFIED is left as it was.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"
lfs_need
export AWS_EC2_METADATA_DISABLED=true
printf 'cluster_name = netverify\nworkers = 4\n' >>"$PCM_CONF"

S=$T/src NET=$T/net
mkdir -p "$S/mid" "$NET"
# 900 small files (packs), 24 of their own object (> 64 KiB), one empty
python3 - "$S" <<'PY'
import os, random, sys
top = sys.argv[1]
rnd = random.Random(276)
blob = os.urandom(1 << 17)
for i in range(900):
    d = os.path.join(top, "d%d" % (i % 6))
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "f%04d" % i), "wb").write(blob[:rnd.randint(200, 12000)])
for i in range(24):
    open(os.path.join(top, "mid", "m%02d" % i), "wb").write(blob[:rnd.randint(70000, 130000)])
open(os.path.join(top, "empty"), "wb").close()
PY
NFILES=925 NOWN=24

# run RC ARGS...: pcm-agent ARGS through a fresh mount (cold caches)
run() {
	local want=$1; shift
	lfs_count_mount "$NET" --delay-us=200 --mib-us=1000
	assert_rc "$want" pcm "$@"
	lfs_count_umount "$NET"
}
ops() { echo "$1: $(lfs_count total) operations, getattr $(lfs_count getattr), open $(lfs_count open)," \
	"opendir $(lfs_count opendir), read $(lfs_count read) for $NFILES files"; }

run 0 save --source "$S" --target "$NET"
sd=$(savedir_of "$NET")
npacks=$(awk '$1 == "f" && $11 ~ /@/ { split($11, a, "@"); p[a[1]] = 1 } END { print length(p) }' \
	"$sd/MANIFEST")
nown=$(awk '$1 == "f" && $11 != "0" && $11 !~ /@/' "$sd/MANIFEST" | wc -l)
[ "$nown" -eq "$NOWN" ] || fail "the save has $nown objects of their own, want $NOWN"
[ "$npacks" -ge 1 ] && [ "$npacks" -le 8 ] || fail "the save has $npacks packs, want a few"
nobj=$((npacks + nown))

# the full verify: per object a lookup (and its objects/XX: at most 256),
# not an fstat per file of a pack the workers keep reading (each read
# makes the kernel ask again)
run 0 --json verify --target "$NET"
ops "verify"
assert_eq "$(json_get 'd["files_reread"]' <<<"$OUT")" "$((NFILES - 1))" "files re-read"
look=$(lfs_count getattr)
[ "$look" -le $((2 * nobj + 32)) ] ||
	fail "verify: $look getattr for $nobj objects ($npacks packs): an fstat per file?"
[ "$(lfs_count open)" -le $((nobj + 8)) ] || fail "verify: $(lfs_count open) opens for $nobj objects"
ok "verify: $look lookups for $nobj objects, $NFILES files"

# the incremental verify of an unchanged save: nothing read, no object of
# its own opened (stat'ed by name), each pack opened once
cp "$sd/VERIFIED" "$T/verified.0"
run 0 --json verify --target "$NET" --incremental
ops "verify --incremental"
assert_eq "$(json_get 'd["files_known"]' <<<"$OUT")" "$((NFILES - 1))" "files verified before"
assert_eq "$(json_get 'd["files_reread"]' <<<"$OUT")" 0 "files re-read"
[ "$(lfs_count open)" -le $((npacks + 8)) ] ||
	fail "verify --incremental: $(lfs_count open) opens ($npacks packs, $nown objects of their own)"
[ "$(lfs_count getattr)" -le $((2 * nobj + 32)) ] ||
	fail "verify --incremental: $(lfs_count getattr) getattr for $nobj objects"
[ "$(lfs_count read)" -le 64 ] || fail "verify --incremental: $(lfs_count read) reads: objects re-read"
ok "verify --incremental: $(lfs_count open) opens, $(lfs_count getattr) lookups for $nobj objects"

# a changed small file and a changed large one: only they are re-read
echo changed >>"$S/d1/f0001"
echo changed >>"$S/mid/m03"
run 0 save --source "$S" --target "$NET"
run 0 --json verify --target "$NET" --incremental
assert_eq "$(json_get 'd["files_reread"]' <<<"$OUT")" 2 "files re-read after the change"
run 0 --json verify --target "$NET" --incremental
assert_eq "$(json_get 'd["files_reread"]' <<<"$OUT")" 0 "files re-read the time after"
ok "VERIFIED kept by the workers: only the changed files re-read"

# damage: a byte of a small file in its pack, a byte of an object of its
# own (same size): both named, exit 1, full and incremental (the writes
# change the objects' ctime), VERIFIED untouched
read -r small_obj small_off mid_obj < <(python3 - "$sd/MANIFEST" <<'PY'
import sys
small = mid = None
for l in open(sys.argv[1]):
    f = l.split()
    if f[0] != "f" or len(f) < 11 or f[10] == "0":
        continue
    if "@" in f[10] and small is None:
        o, off = f[10].split("@")
        small = (int(o, 16), int(off))
    elif "@" not in f[10] and mid is None:
        mid = int(f[10], 16)
print("%02x/%016x %d %02x/%016x" % (small[0] % 256, small[0], small[1], mid % 256, mid))
PY
)
python3 - "$sd/objects/$small_obj" "$small_off" "$sd/objects/$mid_obj" <<'PY'
import sys
def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0xff]))
flip(sys.argv[1], int(sys.argv[2]) + 100)
flip(sys.argv[3], 1000)
PY
cp "$sd/VERIFIED" "$T/verified.1"
for how in "" --incremental; do
	# shellcheck disable=SC2086
	run 1 verify --target "$NET" $how
	n=$(grep -c "checksum mismatch: the saved copy is damaged" <<<"$OUT" || true)
	[ "$n" -eq 2 ] || fail "verify $how: $n files named damaged, want 2: $OUT"
	assert_contains "$OUT" "2 files of the save in $sd did not check out" "verify $how: the summary"
	cmp -s "$sd/VERIFIED" "$T/verified.1" || fail "verify $how: VERIFIED rewritten after damage"
done
ok "a damaged pack and object named, exit 1, by the full and the incremental verify"

# an object removed, another truncated: named, exit 1
read -r o1 o2 < <(awk '$1 == "f" && $11 != "0" && $11 !~ /@/ { print $11 }' "$sd/MANIFEST" |
	tail -n 2 | python3 -c 'import sys; print(" ".join("%02x/%016x" % (int(l, 16) % 256,
	    int(l, 16)) for l in sys.stdin))')
[ -f "$sd/objects/$o1" ] && [ -f "$sd/objects/$o2" ] || fail "no objects $o1 $o2 in $sd"
rm "$sd/objects/$o1"
truncate -s 100 "$sd/objects/$o2"
for how in "" --incremental; do
	# shellcheck disable=SC2086
	run 1 verify --target "$NET" $how
	assert_contains "$OUT" "its saved object is missing" "verify $how: the missing object"
	assert_contains "$OUT" "its saved object has the wrong size" "verify $how: the truncated object"
done
ok "a missing and a truncated object named, exit 1"
