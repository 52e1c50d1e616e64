#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 13: a restore from a network target costs round trips for what the
# save holds, not for the layout of a save directory: it opened the 256
# objects/XX directories one after the other (0.26 s at 1 ms per operation)
# and every object in the main thread.  Through tests/fakes/latencyfs
# (counts every operation it serves), a restore of a save of 3 large files
# and a few small ones (a pack) looks up only the object directories the
# manifest refers to, and the restored tree is whole (a full and a
# --path restore, and a verify).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"
lfs_need
export AWS_EC2_METADATA_DISABLED=true
printf 'cluster_name = netops\nworkers = 2\n' >>"$PCM_CONF"

S=$T/src NET=$T/net
mkdir -p "$S/big" "$S/small" "$NET"
for i in 1 2 3; do head -c $((300000 + i)) /dev/urandom >"$S/big/b$i"; done
for i in $(seq 20); do printf 'small %d\n' "$i" >"$S/small/s$i"; done
ln -s ../big/b1 "$S/small/link"


lfs_count_mount "$NET" --delay-us=200 --mib-us=1000
assert_rc 0 pcm save --source "$S" --target "$NET"
lfs_count_umount "$NET"
sd=$(savedir_of "$NET")
ndirs=$(find "$sd/objects" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$ndirs" -ge 2 ] && [ "$ndirs" -le 8 ] || fail "the save has $ndirs object directories, want a few"

for what in full path verify; do
	rm -rf "$T/dst"
	lfs_count_mount "$NET" --delay-us=200 --mib-us=1000
	case $what in
	full) assert_rc 0 pcm restore --from "$NET" --to "$T/dst" ;;
	path) assert_rc 0 pcm restore --from "$NET" --to "$T/dst" --path big --path small/s3 ;;
	verify) assert_rc 0 pcm verify --target "$NET" ;;
	esac
	lfs_count_umount "$NET"
	look=$(lfs_count getattr)
	echo "$what: $(lfs_count total) operations, $look getattr (lookups), $ndirs object directories"
	# the save directory, its lock, MANIFEST, objects/, DELTAS, the objects and
	# their directories: well under the 256 lookups of objects/XX alone
	[ "$look" -lt 64 ] || fail "$what: $look lookups on the target (objects/XX one by one?)"
done
rm -rf "$T/dst"
lfs_count_mount "$NET" --delay-us=200 --mib-us=1000
assert_rc 0 pcm restore --from "$NET" --to "$T/dst"
lfs_count_umount "$NET"
compare_trees "$S" "$T/dst" >"$T/cmp" || { cat "$T/cmp"; fail "the restore differs from the source"; }
ok "a restore looks up only the object directories the manifest refers to"

# objects now opened by the workers: a missing object and a missing pack
# still name every file they held (the pack's open failed once, for all)
sd=$(savedir_of "$NET")
read -r big pack < <(python3 - "$sd/MANIFEST" <<'PY'
import sys
big = pack = None
for l in open(sys.argv[1]):
    f = l.split()
    if f[0] == "f" and len(f) > 10 and f[10] != "0":
        o = f[10]
        if "@" in o and pack is None:
            pack = int(o.split("@")[0], 16)
        elif "@" not in o and big is None:
            big = int(o, 16)
print("%02x/%016x %02x/%016x" % (big % 256, big, pack % 256, pack))
PY
)
rm "$sd/objects/$big" "$sd/objects/$pack"
rm -rf "$T/dst"
assert_rc 1 timeout 60 "$PCM" -c "$PCM_CONF" restore --from "$NET" --to "$T/dst"
assert_contains "$OUT" "its saved object is missing" "the missing objects named"
assert_not_contains "$OUT" "all checksums verified" "no false verified"
n=$(grep -c "its saved object is missing" <<<"$OUT")
[ "$n" -ge 2 ] || fail "$n files named missing, want the big file and the pack's: $OUT"
ok "missing objects and packs named by the workers' restore"
