#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Restore makes every file a new inode with O_TMPFILE and names it last; a
# filesystem without O_TMPFILE (FUSE here: libfuse 3.14 has no tmpfile
# operation; older NFS servers) takes the other path: a random name
# created with O_EXCL, filled, given its owner and mode through its fd, then
# renamed over the saved name.  Through tests/fakes/latencyfs as the
# destination (a passthrough of a local ext4), the restored tree is the
# saved one in full (every kind of entry, owners, modes, xattrs, ACLs,
# hard links, hostile names), a stale file at a saved name is replaced by a
# new inode, and no temporary name is left behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-storage.sh"
lfs_need
export AWS_EC2_METADATA_DISABLED=true
printf 'cluster_name = notmpfile\nworkers = 2\n' >>"$PCM_CONF"

loopfs src ext4 200
loopfs tgt ext4 200
loopfs dst ext4 200
S=$T/src NET=$T/netdst
make_tree "$S"
assert_rc 0 pcm save --source "$S" --target "$T/tgt"

mkdir -p "$T/dst/real" "$NET"
lfs_mount "$T/dst/real" "$NET" --delay-us=0 --xattrs
python3 - "$NET" <<'PY' || fail "O_TMPFILE works on latencyfs now: this test no longer covers the other path (give it a filesystem without O_TMPFILE)"
import errno, os, sys
try:
    os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_RDWR, 0o600))
except OSError as e:
    sys.exit(0 if e.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.EISDIR) else 1)
sys.exit(1)
PY

# a stale file of root's at a saved name (as a crashed restore may leave)
mkdir -p "$NET/dir/sub"
printf 'stale\n' >"$NET/dir/sub/hello.txt"
stale_ino=$(stat -c %i "$NET/dir/sub/hello.txt")

assert_rc 0 pcm restore --from "$T/tgt" --to "$NET"
assert_contains "$OUT" "all checksums verified" "restore summary"
compare_trees "$S" "$NET" sock >"$T/cmp.log" || { cat "$T/cmp.log"; fail "the tree restored without O_TMPFILE differs"; }
[ "$(stat -c %i "$NET/dir/sub/hello.txt")" != "$stale_ino" ] || fail "the stale inode was reused"
left=$(find "$T/dst/real" -name '.pcm-agent-restore.*' | head -n 3)
[ -z "$left" ] || fail "temporary names left behind: $left"
ok "restore without O_TMPFILE: random O_EXCL names renamed into place, the tree whole, nothing left"

# and again over the restored tree (every file already there): nothing changes
assert_rc 0 pcm restore --from "$T/tgt" --to "$NET"
compare_trees "$S" "$NET" sock >"$T/cmp.log" || { cat "$T/cmp.log"; fail "a second restore changed the tree"; }
ok "a second restore over it keeps it whole"
lfs_umount "$NET"

# a destination that takes no xattrs (latencyfs without --xattrs): the
# data is restored and verified, exit 0, and the summary counts the
# entries that lost metadata (each named in a warning), as rsync -X would
# report them: 5 with xattrs or ACLs, 2 symlinks with trusted.* xattrs
rm -rf "$T/dst/real" && mkdir -p "$T/dst/real"
lfs_mount "$T/dst/real" "$NET" --delay-us=0
assert_rc 0 pcm restore --from "$T/tgt" --to "$NET"
assert_contains "$OUT" "7 entries restored without all their metadata" "the summary counts them"
assert_contains "$OUT" "dir/random.bin: cannot set owner, mode, xattrs or times" "a warning names each"
cmp "$S/dir/random.bin" "$NET/dir/random.bin" || fail "the data of a file whose xattrs were refused"
assert_eq "$(stat -c '%a %u %Y' "$NET/dir/random.bin")" "$(stat -c '%a %u %Y' "$S/dir/random.bin")" \
	"its mode, owner and mtime are set all the same"
# removed underneath the mount: latencyfs's cache still shows them for a
# second, as a stale NFS cache (or a user's rmdir between restore's look
# and its open) would: they are made again, the restore does not fail
rm -rf "$T/dst/real"/* && assert_rc 0 pcm --json restore --from "$T/tgt" --to "$NET"
assert_eq "$(echo "$OUT" | grep "^{" | json_get 'd["meta_failed"]')" 7 "--json meta_failed"
ok "xattrs refused by the destination: data restored, the entries counted and named"
lfs_umount "$NET"
