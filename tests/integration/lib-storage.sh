# SPDX-License-Identifier: GPL-2.0-or-later
# tests/integration/lib-storage.sh - real loop-mounted filesystems for the
# storage tests; sourced after lib.sh.
#
#   loopfs NAME TYPE MB     make $T/NAME.img (ext4|xfs), mount it on $T/NAME
#   wipefs_new NAME         "new hardware": unmount, mkfs again, mount
#   make_tree DIR           a tree with every kind of entry rsync -aHAX keeps
#   compare_trees A B       entry by entry, metadata included (exit 1 + diff)
#   manifest_of SAVEDIR     the path of its MANIFEST
# Everything is unmounted and detached at exit.

need_root
for t in mkfs.ext4 mkfs.xfs losetup rsync setfacl setfattr python3; do
	command -v "$t" >/dev/null || skip "$t not installed (packaging/install-deps)"
done

declare -A _LOOPTYPE _LOOPMB

_mkfs() {	# type img
	case $1 in
	ext4) mkfs.ext4 -q -F -O ^has_journal -E lazy_itable_init=0 "$2" >/dev/null 2>&1 ||
		mkfs.ext4 -q -F "$2" >/dev/null ;;
	xfs) mkfs.xfs -q -f "$2" >/dev/null ;;
	*) fail "unknown fs type $1" ;;
	esac
}

loopfs() {	# name type mb
	local name=$1 type=$2 mb=$3
	_LOOPTYPE[$name]=$type
	_LOOPMB[$name]=$mb
	truncate -s "${mb}M" "$T/$name.img"
	_mkfs "$type" "$T/$name.img"
	mkdir -p "$T/$name"
	mount -o loop "$T/$name.img" "$T/$name" || skip "cannot loop-mount $type (no loop devices?)"
	at_exit "_umount_loop $T/$name"
}

# hostile_bed CLUSTER: the bed of the restore-into-a-hostile-destination
# tests: src, tgt and dst volumes ($S, $TG, $D), 2 workers, $T reachable by
# the unprivileged attacker (711), NOBODY = its uid
hostile_bed() {
	command -v setpriv >/dev/null || skip "setpriv not installed"
	printf 'cluster_name = %s\nworkers = 2\n' "$1" >>"$PCM_CONF"
	loopfs src ext4 64
	loopfs tgt ext4 128
	loopfs dst ext4 64
	S=$T/src TG=$T/tgt D=$T/dst NOBODY=65534
	chmod 711 "$T"
}

_umount_loop() {
	local mnt=$1 dev
	dev=$(findmnt -n -o SOURCE --target "$mnt" 2>/dev/null || true)
	umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	case $dev in /dev/loop*) losetup -d "$dev" 2>/dev/null || true ;; esac
}

wipefs_new() {	# name: a fresh filesystem, as after a stop/start
	local name=$1
	_umount_loop "$T/$name"
	_mkfs "${_LOOPTYPE[$name]}" "$T/$name.img"
	mount -o loop "$T/$name.img" "$T/$name"
	[ -z "$(ls -A "$T/$name" | grep -v '^lost+found$')" ] || fail "wipe of $name left files"
}

# make_tree DIR: every kind of entry, hostile names, metadata to keep
make_tree() {
	local d=$1
	mkdir -p "$d"
	(
	set -e
	cd "$d"
	mkdir -p dir/sub/subsub empty "dir with space" ro-dir
	head -c 3000000 /dev/urandom >dir/random.bin
	head -c 100000 /dev/urandom >"dir with space/f"
	printf 'hello\n' >dir/sub/hello.txt
	: >dir/empty-file
	# sparse: data, a 40 MiB hole, data, a trailing hole
	truncate -s 64M sparse.img
	printf 'start' | dd of=sparse.img conv=notrunc status=none
	printf 'middle' | dd of=sparse.img bs=1M seek=40 conv=notrunc status=none
	# hardlinks, in the same and another directory
	ln dir/sub/hello.txt dir/hello-link
	ln dir/sub/hello.txt dir/sub/subsub/hello-link2
	# symlinks: relative, absolute (pointing outside), dangling
	ln -s ../sub/hello.txt dir/sub/subsub/rel-link
	ln -s /etc/passwd abs-link
	ln -s /nonexistent/target dangling
	mkfifo dir/fifo
	mknod dir/chardev c 1 3
	mknod dir/blockdev b 7 200
	# owners and modes
	chown 1234:5678 dir/sub/hello.txt
	chown -h 4321:8765 abs-link
	chmod 4755 dir/random.bin
	chmod 2750 dir/sub
	chmod 1777 empty
	chmod 000 dir/empty-file
	printf 'x' >ro-dir/inside
	chmod 0500 ro-dir
	# xattrs and ACLs
	setfattr -n user.comment -v "saved by pcm" dir/random.bin
	setfattr -n user.bin -v 0x00ff00 "dir with space/f"
	setfattr -n trusted.t -v yes dir/sub/hello.txt
	setfacl -m u:2000:rw,g:3000:r dir/random.bin
	setfacl -d -m u:2000:rwx dir/sub
	setfattr -n user.dirattr -v d dir
	# on symlinks (trusted.* and security.*: user.* is refused there), as rsync -X keeps
	setfattr -h -n trusted.linkattr -v on-the-link abs-link
	setfattr -h -n trusted.rel -v 0x0001 dir/sub/subsub/rel-link
	# hostile names: newline, non-UTF-8, 255 bytes, leading dash, percent
	printf 'nl' >"$(printf 'new\nline')"
	printf 'bad' >"$(printf 'latin1-\351t\351')"
	printf 'long' >"$(printf 'L%.0s' $(seq 255))"
	printf 'dash' >./-dash
	printf 'pc' >'100%=done'
	# a socket: skipped with a notice (compare_trees A B sock)
	python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('sock')"
	# deep tree
	p=deep; for i in $(seq 60); do p=$p/level$i; done
	mkdir -p "$p" && printf 'bottom' >"$p/leaf"
	# ns timestamps, directories last (their children changed them)
	touch -d '2001-02-03 04:05:06.123456789' dir/sub/hello.txt
	touch -h -d '2002-03-04 05:06:07.987654321' abs-link
	touch -d '1999-12-31 23:59:59.5' "dir with space" empty
	)
}

# compare_trees A B [IGNORE...]: every entry of A is in B with the same
# type, mode, owner, size, ns mtime, content, link target, device, xattrs,
# hardlink grouping and no more allocated blocks than A (holes kept); and
# B has nothing A has not.  Prints the differences, returns 1 if any.
compare_trees() {
	python3 - "$@" <<'PY'
import hashlib, os, stat, sys
a, b, ignore = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), set(os.fsencode(x) for x in sys.argv[3:])
def walk(top):
    out = {}
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, top)
            if rel in ignore or rel == b'lost+found':
                continue
            out[rel] = p
    out[b'.'] = top
    return out
def info(p):
    st = os.lstat(p)
    d = {'type': stat.S_IFMT(st.st_mode), 'mode': stat.S_IMODE(st.st_mode),
         'uid': st.st_uid, 'gid': st.st_gid, 'mtime': st.st_mtime_ns}
    if stat.S_ISREG(st.st_mode):
        d['size'] = st.st_size
        h = hashlib.sha256()
        with open(p, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        d['sha'] = h.hexdigest()
    if stat.S_ISLNK(st.st_mode):
        d['target'] = os.readlink(p)
        del d['mode']
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d['rdev'] = st.st_rdev
    if not stat.S_ISLNK(st.st_mode):
        x = {}
        for n in os.listxattr(p, follow_symlinks=False):
            if n.startswith(('user.', 'trusted.', 'security.', 'system.posix_acl')) and \
                    not n.startswith('trusted.SGI_ACL_'):   # XFS's view of the ACLs
                x[n] = os.getxattr(p, n, follow_symlinks=False)
        d['xattrs'] = x
    return d, st
A, B = walk(a), walk(b)
bad = 0
for rel in sorted(set(A) | set(B)):
    if rel not in B:
        print('missing in copy:', rel); bad += 1; continue
    if rel not in A:
        print('extra in copy:', rel); bad += 1; continue
    (da, sa), (db, sb) = info(A[rel]), info(B[rel])
    for k in sorted(set(da) | set(db)):
        if da.get(k) != db.get(k):
            print('differs:', rel, k, da.get(k), db.get(k)); bad += 1
    if stat.S_ISREG(sa.st_mode) and sb.st_blocks > sa.st_blocks + 64:
        print('holes lost:', rel, sa.st_blocks, sb.st_blocks); bad += 1
# hardlink groups
def groups(M):
    g = {}
    for rel, p in M.items():
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            g.setdefault(st.st_ino, set()).add(rel)
    return sorted(sorted(x) for x in g.values())
if groups(A) != groups(B):
    print('hardlinks differ:', groups(A), groups(B)); bad += 1
print('compared %d entries, %d differences' % (len(A), bad))
sys.exit(1 if bad else 0)
PY
}

# the rsync oracle: nothing to transfer but what is listed (sockets)
rsync_same() {	# A B
	local out
	out=$(rsync -aHAXn --numeric-ids --checksum --itemize-changes --exclude=/lost+found \
		"$1/" "$2/" | grep -v '^cS' || true)
	[ -z "$out" ] || { echo "rsync sees differences:"; echo "$out"; return 1; }
}

savedir_of() {	# target: the one save under it
	local d
	d=$(ls -d "$1"/pcm-agent/*/* 2>/dev/null | head -n1)
	[ -n "$d" ] || fail "no save directory under $1"
	echo "$d"
}

# objects_match SAVEDIR: the objects on disk are exactly those the MANIFEST
# refers to (whole-file objects and packs), nothing left over, nothing missing
objects_match() {
	python3 - "$1" <<'PY'
import os, sys
sd = sys.argv[1]
want = set()
for line in open(os.path.join(sd, "MANIFEST")):
    f = line.split(" ")
    if f[0] == "f" and len(f) > 10:
        obj = int(f[10].split("@")[0], 16)
        if obj:
            want.add(obj)
have = set()
for root, _, files in os.walk(os.path.join(sd, "objects")):
    for n in files:
        if "." not in n:
            have.add(int(n, 16))
if want != have:
    print("objects: %d referenced, %d on disk; missing %s, extra %s" %
          (len(want), len(have), sorted(want - have)[:5], sorted(have - want)[:5]))
    sys.exit(1)
PY
}

# tests/fakes/latencyfs, the FUSE stand-in of a network target (counts every
# operation it serves, writes the counts when it exits)
LFS=$PCM_BUILD/tests/fakes/latencyfs
lfs_need() {	# fail (skip without /dev/fuse) when latencyfs cannot run here
	[ -x "$LFS" ] || fail "no $LFS: libfuse3-dev was missing at build time (packaging/install-deps)"
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || fail "fusermount3 missing (packaging/install-deps installs it)"
}
# lfs_mount SOURCE MOUNTPOINT [OPTION...]: latencyfs serving SOURCE there
# (its pid in LFS_PID), unmounted at exit if still mounted
lfs_mount() {
	local src=$1 mnt=$2
	shift 2
	bg latencyfs "$LFS" "$@" "$src" "$mnt"
	LFS_PID=$BG_PID
	at_exit "fusermount3 -u '$mnt' 2>/dev/null"
	wait_for 10 "latencyfs mounted" findmnt -n -M "$mnt" -t fuse.latencyfs
}
# lfs_umount MOUNTPOINT: unmount and wait until latencyfs has exited
lfs_umount() {
	fusermount3 -u "$1" || fail "cannot unmount latencyfs at $1"
	wait_for 10 "latencyfs gone" sh -c "! kill -0 $LFS_PID 2>/dev/null"
}
# lfs_count_mount DIR [OPTION...]: latencyfs over DIR itself, its operation
# counts to $T/counts (emptied first); lfs_count_umount DIR; lfs_count KIND
lfs_count_mount() {
	local d=$1
	shift
	rm -f "$T/counts"
	lfs_mount "$d" "$d" --counts="$T/counts" "$@"
}
lfs_count_umount() {
	lfs_umount "$1"
	[ -s "$T/counts" ] || fail "latencyfs wrote no counts"
}
lfs_count() { awk -v k="$1" '$1 == k { print $2 + 0; f = 1 } END { if (!f) print 0 }' "$T/counts"; }
