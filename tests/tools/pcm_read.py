#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pcm_read.py - restore a pcm-agent save without pcm-agent.

Written from storage/FORMAT.md alone (not from the engine's code), to show
that the format is documented well enough to read a save:

    pcm_read.py SAVEDIR DEST

SAVEDIR is TARGET/pcm-agent/<cluster>/<instance-id>; DEST a directory that
does not exist or is empty.  It restores every entry (directories, files
with their holes, hard links, symlinks, FIFOs, devices), their owners, modes,
ns mtimes and xattrs (ACLs), and checks the manifest's trailer and every
file's checksum (versions 1 and 2).  Pending delta logs (FORMAT.md 7.2) are
applied to the restored copy, never to the save: the save is only read.

Exit status: 0 restored and verified; 1 the save is damaged or incomplete
(each problem named on stderr) or something could not be restored as saved;
2 usage, or the save is in use.  Needs Python 3 and the xxhash module
(Debian: python3-xxhash).
"""
import errno
import fcntl
import os
import re
import stat
import sys

try:
    import xxhash
except ImportError:
    sys.stderr.write("pcm_read: needs the Python xxhash module (Debian: apt-get install "
                     "python3-xxhash)\n")
    sys.exit(2)

PROG = "pcm_read"
BLK = 65536                     # version 2 checksum blocks (FORMAT.md 3.2)
ZERO = bytes(BLK)
IOSZ = 1 << 20
LOG_MAGIC = b"PCMLOG1\n"
LOG_END = 0xFFFFFFFFFFFFFFFF

RE_DEC = re.compile(rb"^[0-9]+$")
RE_HEX = re.compile(rb"^[0-9a-fA-F]+$")
RE_TIME = re.compile(rb"^(-?[0-9]+)\.([0-9]{9})$")
RE_HASH = re.compile(rb"^[0-9a-fA-F]{32}$")


class Damaged(Exception):
    pass


def say(msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))


def show(b):
    return b.decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------- manifest

def unesc(tok, allow_nul=False):
    """FORMAT.md 2.4: %XX escapes; "-" alone is the empty string."""
    if tok == b"-":
        return b""
    out = bytearray()
    i, n = 0, len(tok)
    while i < n:
        c = tok[i]
        if c == 0x25:
            h = tok[i + 1:i + 3]
            if len(h) != 2 or not RE_HEX.match(h):
                raise ValueError("bad %-escape")
            c = int(h, 16)
            if c == 0 and not allow_nul:
                raise ValueError("%00 outside an xattr value")
            i += 3
        else:
            if c <= 0x20 or c >= 0x7F or c == 0x3D:
                raise ValueError("unescaped byte 0x%02x" % c)
            i += 1
        out.append(c)
    return bytes(out)


def dec(tok, limit=(1 << 64) - 1):
    if not RE_DEC.match(tok) or int(tok) > limit:
        raise ValueError("bad number %r" % tok)
    return int(tok)


def hexnum(tok):
    if not RE_HEX.match(tok) or int(tok, 16) > (1 << 64) - 1:
        raise ValueError("bad hex number %r" % tok)
    return int(tok, 16)


def nstime(tok):
    m = RE_TIME.match(tok)
    if not m:
        raise ValueError("bad time %r" % tok)
    return int(m.group(1)) * 1000000000 + int(m.group(2))


class Entry:
    __slots__ = ("type", "parent", "name", "mode", "uid", "gid", "mtime", "size", "obj",
                 "off", "packed", "hash", "rdev", "link", "target", "flags", "xattrs")


def read_manifest(savedir):
    """The checked manifest: (meta dict, [Entry]); raises Damaged."""
    path = os.path.join(savedir, b"MANIFEST")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise Damaged("%s: no MANIFEST: not a complete save" % show(savedir))
    if not data.endswith(b"\n"):
        raise Damaged("MANIFEST: does not end with a newline: incomplete or damaged")
    if b"\0" in data:
        raise Damaged("MANIFEST: holds a NUL byte: damaged")
    lines = data[:-1].split(b"\n")
    # the trailer: the first line from line 3 on that starts with "end "
    end = None
    for i in range(2, len(lines)):
        if lines[i].startswith(b"end "):
            end = i
            break
    if end is None:
        raise Damaged("MANIFEST: no end line: an incomplete save")
    if end != len(lines) - 1:
        raise Damaged("MANIFEST line %d: text after the end line" % (end + 2))
    body_len = sum(len(x) + 1 for x in lines[:end])
    tr = lines[end].split(b" ")
    if len(tr) != 3 or not RE_DEC.match(tr[1]) or not RE_HASH.match(tr[2]):
        raise Damaged("MANIFEST line %d: bad end line" % (end + 1))
    got = xxhash.xxh3_128(data[:body_len]).hexdigest()
    if got != tr[2].decode().lower():
        raise Damaged("MANIFEST: checksum mismatch (trailer says %s, the text hashes to %s): "
                      "the manifest is damaged" % (tr[2].decode(), got))
    if int(tr[1]) != end - 2:
        raise Damaged("MANIFEST: %d entries, the end line says %s" % (end - 2, tr[1].decode()))

    if lines[0] == b"pcm-agent-manifest 2":
        v1 = False
    elif lines[0] == b"pcm-agent-manifest 1":
        v1 = True
    else:
        raise Damaged("MANIFEST line 1: not a pcm-agent manifest (unknown header %r)"
                      % show(lines[0][:40]))
    meta = {}
    mt = lines[1].split(b" ")
    if mt[0] != b"meta":
        raise Damaged("MANIFEST line 2: expected the meta line")
    try:
        for kv in mt[1:]:
            k, sep, v = kv.partition(b"=")
            if not sep:
                raise ValueError("bad meta field")
            if k == b"created":
                if not re.match(rb"^-?[0-9]+$", v):
                    raise ValueError("bad created")
                meta[k] = int(v)
            elif k in (b"next_obj", b"gen", b"prestage"):
                meta[k] = dec(v)
            elif k in (b"source", b"cluster", b"instance"):
                meta[k] = unesc(v)
        if meta.get(b"next_obj", 0) < 1:
            raise ValueError("no next_obj")
    except ValueError as e:
        raise Damaged("MANIFEST line 2: %s" % e)
    meta.setdefault(b"gen", 0)

    ents = []
    stack = []
    names = set()
    for ln in range(2, end):
        try:
            ents.append(parse_entry(lines[ln], ents, stack, names, meta, v1))
        except ValueError as e:
            raise Damaged("MANIFEST line %d: %s" % (ln + 1, e))
    if not ents:
        raise Damaged("MANIFEST: no entries")
    return meta, ents


def parse_entry(line, ents, stack, names, meta, v1):
    f = line.split(b" ")
    if len(f) < 16:
        raise ValueError("%d fields, want at least 16" % len(f))
    e = Entry()
    if f[0] not in (b"d", b"f", b"h", b"l", b"p", b"c", b"b"):
        raise ValueError("unknown type %r" % show(f[0]))
    e.type = f[0].decode()
    e.parent = dec(f[1], 0xFFFFFFFF)
    e.name = unesc(f[2])
    idx = len(ents)
    if idx == 0:
        if e.type != "d" or e.name != b"." or e.parent != 0:
            raise ValueError('the first entry must be the directory "."')
    else:
        if not e.name or len(e.name) > 255 or b"/" in e.name or e.name in (b".", b".."):
            raise ValueError("bad name %r" % show(e.name))
        while stack and stack[-1] != e.parent:
            stack.pop()
        if not stack:
            raise ValueError("parent %d is not a directory on the current path" % e.parent)
        if (e.parent, e.name) in names:
            raise ValueError("two entries named %r in one directory" % show(e.name))
        names.add((e.parent, e.name))
    e.mode = int(f[3], 8) if re.match(rb"^[0-7]+$", f[3]) else -1
    if not 0 <= e.mode <= 0o7777:
        raise ValueError("bad mode %r" % show(f[3]))
    e.uid = dec(f[4], 0xFFFFFFFF)
    e.gid = dec(f[5], 0xFFFFFFFF)
    e.mtime = nstime(f[6])
    e.size = dec(f[7])
    dec(f[8])                   # source inode: not needed
    nstime(f[9])                # source ctime: not restorable
    obj, at, off = f[10].partition(b"@")
    e.obj = hexnum(obj)
    e.packed = bool(at)
    e.off = dec(off) if at else 0
    e.rdev = dec(f[12])
    e.link = dec(f[13], 0xFFFFFFFF)
    e.flags = hexnum(f[15])
    if e.flags > 0xFF:
        raise ValueError("bad flags")
    if v1 and e.flags & 2:
        raise ValueError("a version 2 checksum in a version 1 manifest")
    if e.type == "f":
        if not RE_HASH.match(f[11]):
            raise ValueError("bad checksum %r" % show(f[11]))
        e.hash = bytes.fromhex(f[11].decode())
        if (e.size > 0) != (e.obj != 0) or e.obj >= meta[b"next_obj"]:
            raise ValueError("bad object id for a file of %d bytes" % e.size)
        if e.off + e.size > (1 << 64) - 1:
            raise ValueError("bad pack offset")
    elif f[11] != b"-" or e.obj != 0 or e.packed:
        raise ValueError("a checksum or object on an entry that is not a file")
    if e.type not in ("c", "b") and e.rdev != 0:
        raise ValueError("a device number on an entry that is not a device")
    if e.type == "h":
        if e.link >= idx or ents[e.link].type != "f":
            raise ValueError("hard link to %d, which is not an earlier file" % e.link)
    elif e.link != 0:
        raise ValueError("a link index on an entry that is not a hard link")
    if e.type == "l":
        e.target = unesc(f[14])
        if not e.target:
            raise ValueError("empty symlink target")
    elif f[14] != b"-":
        raise ValueError("a link target on an entry that is not a symlink")
    e.xattrs = []
    for tok in f[16:]:
        k, sep, v = tok.partition(b"=")
        if not sep or not k:
            raise ValueError("bad xattr %r" % show(tok[:40]))
        e.xattrs.append((unesc(k), unesc(v, allow_nul=True)))
    if e.type == "d":
        stack.append(idx)
    return e


# ---------------------------------------------------------------- data

def extents(fd, size):
    """The data extents of fd below size: [(start, end)]."""
    out, off = [], 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            if e.errno == errno.EINVAL:     # no SEEK_DATA: all data
                return [(off, size)] if off < size else out
            raise
        if d >= size:
            break
        h = min(os.lseek(fd, d, os.SEEK_HOLE), size)
        out.append((d, h))
        off = h
    return out


def pread_full(fd, n, off):
    buf = bytearray()
    while len(buf) < n:
        b = os.pread(fd, n - len(buf), off + len(buf))
        if not b:
            raise Damaged("short read at %d" % (off + len(buf)))
        buf += b
    return bytes(buf)


def content_hash(fd, size, v2):
    """FORMAT.md 3: the checksum of the first size bytes of fd."""
    h = xxhash.xxh3_128()
    if not v2:
        for off in range(0, size, IOSZ):
            h.update(pread_full(fd, min(IOSZ, size - off), off))
        return h.digest()
    last = -1
    for start, end in extents(fd, size):
        b = max(start // BLK, last + 1)
        while b * BLK < end:
            n = min(BLK, size - b * BLK)
            data = pread_full(fd, n, b * BLK)
            if data != ZERO[:n]:
                h.update(b.to_bytes(8, "big"))
                h.update(data)
            last = b
            b += 1
    h.update(size.to_bytes(8, "big"))
    return h.digest()


def copy_sparse(src, dst, size):
    """src's first size bytes into dst at the same offsets, holes kept
    (only non-zero data written); dst ends up size bytes long."""
    for start, end in extents(src, size):
        off = start
        while off < end:
            n = min(IOSZ, end - off)
            data = pread_full(src, n, off)
            p = 0
            while p < n:        # leave zero blocks as holes
                q = min(n, p + BLK)
                if data[p:q] != ZERO[:q - p]:
                    os.pwrite(dst, data[p:q], off + p)
                p = q
            off += n
    os.ftruncate(dst, size)


def pending_log(objdir, name, gen):
    """FORMAT.md 7.2: the open log file of object `name` if it is pending
    (of generation gen), else None."""
    try:
        fd = os.open(os.path.join(objdir, name + b".log"), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    hdr = os.read(fd, 24)
    if (len(hdr) < 24 or hdr[:8] != LOG_MAGIC or int.from_bytes(hdr[8:16], "big") != gen
            or int.from_bytes(hdr[16:24], "big") != int(name, 16)):
        os.close(fd)
        return None             # a save that never committed (or another object's): ignored
    return fd


def read_exact(fd, n, what):
    b = b""
    while len(b) < n:
        c = os.read(fd, n - len(b))
        if not c:
            raise Damaged("delta log %s ends early: the save is damaged" % what)
        b += c
    return b


def apply_log(lfd, dst, what):
    """The records of a pending log (after its header) onto dst; returns
    NEWSIZE."""
    while True:
        rh = read_exact(lfd, 12, what)
        off = int.from_bytes(rh[:8], "big")
        ln = int.from_bytes(rh[8:], "big")
        if off == LOG_END:
            tail = read_exact(lfd, 24, what)
            newsize = int.from_bytes(tail[:8], "big")
            os.ftruncate(dst, newsize)
            return newsize
        os.pwrite(dst, read_exact(lfd, ln, what), off)


# ---------------------------------------------------------------- restore

class Reader:
    def __init__(self, savedir, dest):
        self.savedir, self.dest = savedir, dest
        self.bad = 0
        self.files = self.bytes = self.logs = 0
        self.packs = {}

    def problem(self, msg):
        self.bad += 1
        say(msg)

    def obj_name(self, oid):
        return (os.path.join(self.savedir, b"objects", b"%02x" % (oid & 0xFF)),
                b"%016x" % oid)

    def open_obj(self, oid):
        d, n = self.obj_name(oid)
        return os.open(os.path.join(d, n), os.O_RDONLY | os.O_NOFOLLOW)

    def path(self, i):
        parts = []
        while i != 0:
            parts.append(self.ents[i].name)
            i = self.ents[i].parent
        return os.path.join(self.dest, *reversed(parts)) if parts else self.dest

    def rel(self, i):
        p = self.path(i)
        return show(os.path.relpath(p, self.dest))

    def meta(self, e, p, fd=None):
        """FORMAT.md 10.4: owner, xattrs, mode, times."""
        link = e.type == "l"
        try:
            if fd is not None:
                os.fchown(fd, e.uid, e.gid)
            else:
                os.chown(p, e.uid, e.gid, follow_symlinks=False)
            for k, v in e.xattrs:
                if fd is not None:
                    os.setxattr(fd, k, v)
                else:
                    os.setxattr(p, k, v, follow_symlinks=False)
            if not link:
                if fd is not None:
                    os.fchmod(fd, e.mode)
                else:
                    os.chmod(p, e.mode)
            if fd is not None:
                os.utime(fd, ns=(e.mtime, e.mtime))
            else:
                os.utime(p, ns=(e.mtime, e.mtime), follow_symlinks=False)
        except OSError as x:
            self.problem("%s: cannot set its owner, xattrs, mode or times: %s"
                         % (show(p), x.strerror))

    def restore_file(self, i, e, p):
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        ok = False
        try:
            if e.size > 0:
                self.fill(i, e, fd)
            got = content_hash(fd, e.size, e.flags & 2)
            if os.fstat(fd).st_size != e.size:
                self.problem("%s: restored %d bytes, the manifest says %d: the save is "
                             "damaged" % (self.rel(i), os.fstat(fd).st_size, e.size))
            elif got != e.hash:
                self.problem("%s: checksum mismatch (manifest %s, data %s, version %d): the "
                             "saved copy is damaged" % (self.rel(i), e.hash.hex(), got.hex(),
                                                        2 if e.flags & 2 else 1))
            else:
                ok = True
                self.meta(e, p, fd)
                self.files += 1
                self.bytes += e.size
        except Damaged as x:
            self.problem("%s: %s" % (self.rel(i), x))
        except OSError as x:
            self.problem("%s: cannot read its data from the save: %s"
                         % (self.rel(i), x.strerror))
        finally:
            os.close(fd)
        if not ok:
            os.unlink(p)        # never leave damaged data under the saved name
        return ok

    def fill(self, i, e, fd):
        if e.packed:
            if e.obj not in self.packs:
                self.packs[e.obj] = self.open_obj(e.obj)
            pfd = self.packs[e.obj]
            if os.fstat(pfd).st_size < e.off + e.size:
                raise Damaged("its pack %x is shorter than %d + %d bytes: the save is damaged"
                              % (e.obj, e.off, e.size))
            os.pwrite(fd, pread_full(pfd, e.size, e.off), 0)
            return
        d, n = self.obj_name(e.obj)
        ofd = self.open_obj(e.obj)
        try:
            osize = os.fstat(ofd).st_size
            lfd = pending_log(d, n, self.gen) if self.deltas else None
            if lfd is None:
                if osize != e.size:
                    raise Damaged("its object %x has %d bytes, not %d: the save is damaged"
                                  % (e.obj, osize, e.size))
                copy_sparse(ofd, fd, e.size)
                return
            try:
                copy_sparse(ofd, fd, osize)
                apply_log(lfd, fd, "%x.log" % e.obj)
                self.logs += 1
            finally:
                os.close(lfd)
        finally:
            os.close(ofd)

    def run(self):
        meta, self.ents = read_manifest(self.savedir)
        self.gen = meta[b"gen"]
        self.deltas = os.path.lexists(os.path.join(self.savedir, b"DELTAS"))
        ents, dest = self.ents, self.dest
        # a fresh or empty destination: nothing planted in it is followed,
        # and no default ACL of its own reaches the restored files
        try:
            os.mkdir(dest, 0o700)
        except FileExistsError:
            if not os.path.isdir(dest) or os.path.islink(dest) or os.listdir(dest):
                raise Damaged("%s: the destination must be a new or empty directory"
                              % show(dest))
            try:
                os.removexattr(dest, "system.posix_acl_default")
            except OSError:
                pass
        badfile = set()
        for i in range(1, len(ents)):
            e = ents[i]
            p = self.path(i)
            try:
                if e.type == "d":
                    os.mkdir(p, 0o700)
                elif e.type == "f":
                    if not self.restore_file(i, e, p):
                        badfile.add(i)
                elif e.type == "h":
                    if e.link in badfile:
                        self.problem("%s: not restored: the file it is a hard link of is "
                                     "damaged" % self.rel(i))
                        continue
                    os.link(self.path(e.link), p, follow_symlinks=False)
                elif e.type == "l":
                    os.symlink(e.target, p)
                    self.meta(e, p)
                else:
                    kind = {"p": stat.S_IFIFO, "c": stat.S_IFCHR, "b": stat.S_IFBLK}[e.type]
                    os.mknod(p, kind | 0o600, e.rdev)
                    self.meta(e, p)
            except OSError as x:
                self.problem("%s: cannot create it: %s" % (self.rel(i), x.strerror))
        # directories last, children before parents (pre-order reversed)
        for i in range(len(ents) - 1, -1, -1):
            if ents[i].type == "d":
                p = self.path(i)
                if os.path.isdir(p) and not os.path.islink(p):
                    self.meta(ents[i], p)
        for fd in self.packs.values():
            os.close(fd)


def main(argv):
    if len(argv) != 3 or argv[1].startswith("-"):
        sys.stderr.write("usage: %s SAVEDIR DEST\n" % PROG)
        return 2
    savedir, dest = os.fsencode(argv[1]), os.fsencode(argv[2])
    lock = os.path.join(savedir, b"lock")
    lfd = None
    if os.path.lexists(lock):       # FORMAT.md 8: a shared lock while we read
        lfd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            fcntl.flock(lfd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            say("%s is in use by pcm-agent (its lock is held): try again when it is done"
                % show(savedir))
            return 2
    r = Reader(savedir, dest)
    try:
        r.run()
    except Damaged as x:
        say(str(x))
        return 1
    if r.bad:
        say("%d problems: %s is NOT an exact copy of the save" % (r.bad, show(dest)))
        return 1
    print("%s: restored %d entries, %d files (%d bytes) into %s, every checksum verified%s"
          % (PROG, len(r.ents), r.files, r.bytes, show(dest),
             ", %d pending delta logs applied" % r.logs if r.logs else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
