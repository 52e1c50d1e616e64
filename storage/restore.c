/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * restore.c - restore a save into a directory, verify a save, compare a
 * directory with a save, find a save.
 *
 * The destination is hostile: at boot, users can log in while restore
 * runs, and anything may be planted there beforehand.  The model (see
 * storage/README.md, "Safety as root"):
 *   - every directory restore writes into, the destination itself
 *     included, is root-owned 0700 from before its first child is created
 *     until every child is in place; its saved owner, mode, xattrs and
 *     times are applied last (children first, in reverse pre-order);
 *   - every file is a new inode (O_TMPFILE, else a random name created
 *     with O_EXCL) that gets its data, owner, xattrs, mode and times
 *     through its own fd and only then a name (linkat, or rename); hard
 *     links are made to that inode only (checked by inode number);
 *   - an existing file is kept only when it already is what restore
 *     would make (regular, one link, the saved owner, mode, size and
 *     mtime) and its content matches the checksum; then only its times
 *     and xattrs are set, again through the fd that was checked;
 *   - anything in the way is never followed nor written into: a stale
 *     non-directory or an empty directory owned by root or the saved
 *     owner is removed, anything else (another user's entry, a non-empty
 *     directory) is moved aside into DEST/.pcm-agent-quarantine/<id>/,
 *     root-only, and named in the result.  A restore never fails because
 *     of what a user put in the destination.
 * File data is copied by worker threads from the objects, checksummed as
 * it is written; the workers open the objects (and the objects/XX
 * directories, on first use) themselves: on a network target each open is
 * a round trip.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "priv.h"

#define QDIR		STOR_QUARANTINE
#define W_SKIP		0x4000	/* wflags: not restored (the saved quarantine) */
#define W_SEL		0x2000	/* wflags, restore with paths: in a selected subtree */
#define W_ANC		0x1000	/* ... a directory above one (restored as saved) */
#define INO_FAILED	UINT64_MAX

struct rst {
	const struct stor_opts	*o;
	struct stor_result	*res;
	const char		*savedir, *dest;
	int			 savefd, destfd;
	int			 objroot;	/* SAVEDIR/objects, -1: none */
	int			 objfd[256];	/* objects/XX: OBJ_LAZY until first use
						 * (objdir), -1: not there */
	struct manifest		*mf;
	struct stor_progress	 prog;
	_Atomic int		 fatal;
	_Atomic uint64_t	 bad;
	_Atomic uint64_t	 metafail;	/* entries without all their metadata */
	pthread_mutex_t		 mu;
	struct { uint64_t id, size; int fd, ready; struct stat st; } *pk; /* open packs (pkmu) */
	size_t			 npk, pkcap, pklast;
	pthread_mutex_t		 pkmu;
	pthread_cond_t		 pkcv;		/* a pack's open finished */
	int			 ro_deltas;	/* read-only target with pending delta logs */
	int			 tmpdirfd;	/* where patched copies of those objects go */
	/* restore only */
	_Atomic uint32_t	*pend;		/* per directory: children not yet final */
	int			*dfd;		/* per directory: its fd until it is final */
	_Atomic uint64_t	*ino;		/* per file: its new inode once in place */
	uint32_t		*defer;		/* directories left, waiting for children */
	size_t			 ndefer, defercap;
	uint32_t		*links;		/* hard links waiting for their file */
	size_t			 nlinks, linkcap;
	_Atomic int		 notmpfile;	/* O_TMPFILE unsupported: random names */
	int			 partial;	/* opts->paths: only W_SEL | W_ANC entries */
	int			 qfd;		/* the quarantine of this run (under mu) */
	uint64_t		 qseq;
	char			 opid[64];
};

struct rjob {
	uint32_t	idx;
	int		objfd;		/* -1: empty file */
	int		keep;		/* restore: try to keep the file at the name */
	int		shared;		/* objfd is a pack shared by many jobs: not closed */
	uint64_t	objoff;		/* where the data starts in objfd */
};

static int
rst_fatal(struct rst *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
rst_fatal(struct rst *r, int rc, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->mu);
	if (atomic_load(&r->fatal) == 0) {
		va_start(ap, fmt);
		vsnprintf(r->res->errmsg, sizeof(r->res->errmsg), fmt, ap);
		va_end(ap);
		atomic_store(&r->fatal, rc);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/*
 * The object directories are opened on first use, by whoever needs one (the
 * restore's workers, in parallel), and only those the manifest refers to:
 * on a network target each open is a round trip, and 256 of them in a row
 * were most of a small restore (0.26 s at 1 ms per operation).
 */
#define OBJ_LAZY	(-2)

/* SAVEDIR/objects: r->objroot, every objects/XX to open on first use */
static int
open_objects(struct rst *r)
{
	for (int i = 0; i < 256; i++)
		r->objfd[i] = -1;
	if ((r->objroot = safe_openat(r->savefd, "objects", O_RDONLY | O_DIRECTORY, 0, 0)) < 0) {
		int rc = r->objroot;
		r->objroot = -1;
		return rc;
	}
	for (int i = 0; i < 256; i++)
		r->objfd[i] = OBJ_LAZY;
	return 0;
}

/* objects/XX for the low byte b: its fd, -ENOENT (not there), -errno.
 * Thread-safe: two threads opening it at once keep the first fd. */
static int
objdir(struct rst *r, unsigned b)
{
	int fd = __atomic_load_n(&r->objfd[b], __ATOMIC_ACQUIRE), want = OBJ_LAZY;
	char nm[4];

	if (fd != OBJ_LAZY)
		return fd >= 0 ? fd : -ENOENT;
	snprintf(nm, sizeof(nm), "%02x", b);
	if ((fd = safe_openat(r->objroot, nm, O_RDONLY | O_DIRECTORY, 0, 0)) < 0 && fd != -ENOENT)
		return fd;	/* not recorded: the next use tries again */
	if (fd < 0)
		fd = -1;
	if (!__atomic_compare_exchange_n(&r->objfd[b], &want, fd, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_ACQUIRE)) {
		if (fd >= 0)
			close(fd);
		fd = want;	/* another thread's */
	}
	return fd >= 0 ? fd : -ENOENT;
}

/* every objects/XX (the delta recovery lists them all); 0 or -errno */
static int
objdirs_all(struct rst *r)
{
	for (unsigned b = 0; b < 256; b++) {
		int fd = objdir(r, b);
		if (fd < 0 && fd != -ENOENT)
			return fd;
	}
	return 0;
}

static void
close_objects(struct rst *r)
{
	for (int i = 0; i < 256; i++)
		if (r->objfd[i] >= 0)
			close(r->objfd[i]);
	if (r->objroot >= 0)
		close(r->objroot);
	r->objroot = -1;
}

static int
open_object(struct rst *r, uint64_t id)
{
	char nm[32];
	int fd, dfd;

	if ((dfd = objdir(r, (unsigned)(id & 0xff))) < 0)
		return dfd;
	snprintf(nm, sizeof(nm), "%016llx", (unsigned long long)id);
	fd = openat(dfd, nm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* the object of an entry that has one of its own (not packed); on a
 * read-only target with pending delta logs, a patched private copy */
static int
own_objfd(struct rst *r, const struct mf_entry *e)
{
	int fd, dfd;

	if (r->ro_deltas && (dfd = objdir(r, (unsigned)(e->obj & 0xff))) >= 0) {
		fd = delta_overlay(dfd, e->obj, r->mf->gen, r->tmpdirfd);
		if (fd != -ENOENT)
			return fd;
	}
	return open_object(r, e->obj);
}

/*
 * Pack `id`, opened once for all its files by the first thread that needs
 * it (the others wait for that open; a failure is kept for all of them):
 * its fd (closed by close_packs) and size (and, when stp is not NULL, its
 * whole stat as of that open), or -errno.
 */
static int
pack_fd_st(struct rst *r, uint64_t id, uint64_t *size, struct stat *stp)
{
	struct stat st;
	size_t i;
	int fd;

	*size = 0;
	pthread_mutex_lock(&r->pkmu);
	for (;;) {
		if (r->npk > 0 && r->pk[r->pklast].id == id)
			i = r->pklast;
		else
			for (i = 0; i < r->npk && r->pk[i].id != id; i++)
				;
		if (i == r->npk || r->pk[i].ready)
			break;
		pthread_cond_wait(&r->pkcv, &r->pkmu);
	}
	if (i < r->npk) {
		r->pklast = i;
		fd = r->pk[i].fd;
		*size = r->pk[i].size;
		if (stp != NULL)
			*stp = r->pk[i].st;
		pthread_mutex_unlock(&r->pkmu);
		return fd;
	}
	if (r->npk == r->pkcap) {
		size_t nc = r->pkcap ? r->pkcap * 2 : 16;
		void *nv = realloc(r->pk, nc * sizeof(r->pk[0]));
		if (nv == NULL) {
			pthread_mutex_unlock(&r->pkmu);
			return -ENOMEM;
		}
		r->pk = nv;
		r->pkcap = nc;
	}
	r->pk[r->npk].id = id;
	r->pk[r->npk].fd = -1;
	r->pk[r->npk].size = 0;
	r->pk[r->npk].ready = 0;
	memset(&r->pk[r->npk].st, 0, sizeof(r->pk[r->npk].st));
	r->npk++;
	pthread_mutex_unlock(&r->pkmu);

	if ((fd = open_object(r, id)) >= 0 && fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		fd = e;
	}
	pthread_mutex_lock(&r->pkmu);
	for (i = 0; r->pk[i].id != id; i++)
		;
	r->pk[i].fd = fd;
	r->pk[i].size = fd >= 0 ? (uint64_t)st.st_size : 0;
	if (fd >= 0)
		r->pk[i].st = st;
	r->pk[i].ready = 1;
	*size = r->pk[i].size;
	if (stp != NULL)
		*stp = r->pk[i].st;
	pthread_cond_broadcast(&r->pkcv);
	pthread_mutex_unlock(&r->pkmu);
	return fd;
}

static int
pack_fd(struct rst *r, uint64_t id, uint64_t *size)
{
	return pack_fd_st(r, id, size, NULL);
}

static void
close_packs(struct rst *r)
{
	for (size_t i = 0; i < r->npk; i++)
		if (r->pk[i].fd >= 0)
			close(r->pk[i].fd);
	free(r->pk);
	r->pk = NULL;
	r->npk = r->pkcap = 0;
}

static void
set_times(struct timespec ts[2], const struct mf_entry *e)
{
	ts[0].tv_sec = e->mtime_s;	/* atime: not saved (like rsync -a), set to mtime */
	ts[0].tv_nsec = e->mtime_ns;
	ts[1].tv_sec = e->mtime_s;
	ts[1].tv_nsec = e->mtime_ns;
}

/* a save interrupted after its manifest was committed: finish it first,
 * or on a read-only target read its objects through the logs */
static int
recover(struct rst *r, int ro)
{
	int applied, rc;

	if (ro) {
		if (faccessat(r->savefd, "DELTAS", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
			r->ro_deltas = 1;
			slog_notice("%s: read-only, with the delta logs of an interrupted save: "
			    "applying them to private copies of their objects", r->savedir);
		}
		return 0;
	}
	if (faccessat(r->savefd, "DELTAS", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;	/* the usual case: nothing pending, no directory listed */
	if ((rc = objdirs_all(r)) < 0 ||
	    (rc = delta_recover(r->savefd, r->objfd, r->mf->gen, &applied)) < 0)
		return seterr(r->res, rc, "cannot apply the pending delta logs in %s: %s",
		    r->savedir, strerror(-rc));
	if (applied > 0)
		slog_notice("%s: finished applying %d delta logs of an interrupted save",
		    r->savedir, applied);
	return 0;
}

/*
 * Owner, xattrs (ACLs), mode, times of an open file or directory.  The
 * setuid and setgid bits (and a file capability) are applied only when
 * the owner was: on a destination that refuses chown (NFS with root
 * squash) they would land on a file of the wrong owner.
 */
static int
apply_meta_fd(int fd, const struct mf_entry *e, const char *dest, const char *path)
{
	struct timespec ts[2];
	mode_t mode = e->mode;
	int rc = 0, owned = 1;

	if (fchown(fd, e->uid, e->gid) < 0) {
		rc = -errno;
		owned = 0;
		if (mode & 06000)
			slog_warn("%s/%s: cannot set its owner (%s): restored without its setuid/"
			    "setgid bits", dest, path, strerror(errno));
		mode &= (mode_t)~06000;
	}
	for (uint32_t i = 0; i < e->nxattrs; i++) {
		const struct mf_xattr *x = &e->xattrs[i];
		if (!owned && strcmp(x->name, "security.capability") == 0)
			continue;
		if (fsetxattr(fd, x->name, x->value, x->len, 0) < 0 && rc == 0)
			rc = -errno;	/* ENOTSUP too: a saved ACL that is not restored is lost */
	}
	if (fchmod(fd, mode) < 0 && rc == 0)
		rc = -errno;
	set_times(ts, e);
	if (futimens(fd, ts) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* the data of entry idx is in place, but not all of its metadata: counted
 * (the summary says so) and named */
static void
meta_failed(struct rst *r, uint32_t idx, int rc)
{
	char pbuf[PATH_MAX];

	atomic_fetch_add(&r->metafail, 1);
	slog_notice("%s/%s: cannot set owner, mode, xattrs or times: %s", r->dest,
	    mf_path(r->mf, idx, pbuf, sizeof(pbuf)), strerror(-rc));
}

static void
bad_entry(struct rst *r, uint32_t idx, const char *why)
{
	char pbuf[PATH_MAX];

	atomic_fetch_add(&r->bad, 1);
	slog_warn("%s: %s", mf_path(r->mf, idx, pbuf, sizeof(pbuf)), why);
}

/*
 * verify: the run's state around the restore's (the workers' arg).  The
 * workers open and stat the objects themselves (on a network target each
 * open and stat is a round trip, and they were the main thread's, one
 * after the other); a pack is opened and stat'ed once for all its files
 * (pack_fd_st).  vmu guards now.o (the own objects stat'ed); the entries
 * are recorded by the main thread, the packs after the workers are done.
 */
struct vfy {
	struct rst		 r;		/* first: wq's arg is a struct vfy * */
	const struct vset	*old;		/* incremental: the last verify's, else NULL */
	struct vset		 now;		/* what this one reads (VERIFIED) */
	pthread_mutex_t		 vmu;
	_Atomic uint64_t	 reread, known, known_bytes;
	_Atomic int		 nomem;		/* now is incomplete: no VERIFIED */
};

/* verify one file: open and stat its object (a pack: once for all its
 * files), then unless an incremental verify finds it verified before and
 * unchanged since, read it back and check it against its entry */
static void
rjob_run(void *p, void *arg)
{
	struct rjob *j = p;
	struct vfy *v = arg;
	struct rst *r = &v->r;
	const struct mf_entry *e = &r->mf->e[j->idx];
	unsigned char h[16];
	char pbuf[PATH_MAX], nm[32];
	struct stat st;
	uint64_t psize;
	int rc, dfd, werr = 0, statted = 0, size_ok;

	if (atomic_load(&r->fatal))
		goto out;
	j->objoff = e->packed ? e->off : 0;
	if (e->packed) {
		j->shared = 1;
		j->objfd = pack_fd_st(r, e->obj, &psize, &st);
	} else {
		/* incremental: an own object verified before is only stat'ed
		 * (by name: one lookup, where an open costs four round trips);
		 * one that is not (or is not there) is opened as always */
		if (v->old != NULL && !r->ro_deltas && !atomic_load(&v->nomem) &&
		    (dfd = objdir(r, (unsigned)(e->obj & 0xff))) >= 0) {
			snprintf(nm, sizeof(nm), "%016llx", (unsigned long long)e->obj);
			statted = fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode) && vset_has(v->old, e, &st);
		}
		j->objfd = statted ? -1 : own_objfd(r, e);
	}
	if (!statted && j->objfd < 0) {
		j->objfd = -1;
		bad_entry(r, j->idx, "its saved object is missing");
		goto out;
	}
	if (!e->packed && !statted && fstat(j->objfd, &st) < 0) {
		rst_fatal(r, -errno, "cannot stat the object of an entry in %s: %s", r->savedir,
		    strerror(errno));
		goto out;
	}
	if (!e->packed) {
		pthread_mutex_lock(&v->vmu);
		if (vset_add_obj(&v->now, e->obj, &st) < 0)
			atomic_store(&v->nomem, 1);
		pthread_mutex_unlock(&v->vmu);
	}
	size_ok = e->packed ? (uint64_t)st.st_size >= j->objoff + e->size :
	    (uint64_t)st.st_size == e->size;
	if (statted || (v->old != NULL && !atomic_load(&v->nomem) && vset_has(v->old, e, &st))) {
		/* verified before, the object unchanged since: only its size */
		if (!size_ok)
			bad_entry(r, j->idx, "its saved object has the wrong size "
			    "(the save is damaged)");
		atomic_fetch_add(&v->known, 1);
		atomic_fetch_add(&v->known_bytes, e->size);
		atomic_fetch_add((_Atomic uint64_t *)&r->prog.bytes_done, e->size);
		atomic_fetch_add((_Atomic uint64_t *)&r->prog.files_done, 1);
		goto out;
	}
	atomic_fetch_add(&v->reread, 1);
	if (!size_ok) {
		bad_entry(r, j->idx, "its saved object has the wrong size (the save is damaged)");
		goto out;
	}
	rc = copy_range(j->objfd, j->objoff, -1, 0, e->size,
	    CD_WHOLE | (e->packed ? 0 : CD_SPARSE) | CD_HASHV(e), h, &r->prog.bytes_done, &werr,
	    NULL);
	if (rc < 0) {
		rst_fatal(r, rc, "cannot read the object of %s from %s: %s",
		    mf_path(r->mf, j->idx, pbuf, sizeof(pbuf)), r->savedir, strerror(-rc));
		goto out;
	}
	if (memcmp(h, e->hash, 16) != 0) {
		bad_entry(r, j->idx, "checksum mismatch: the saved copy is damaged");
		goto out;
	}
	atomic_fetch_add((_Atomic uint64_t *)&r->prog.files_done, 1);
out:
	if (j->objfd >= 0 && !j->shared)
		close(j->objfd);
	free(j);
}

/* ------------------------------------------------------------------ */
/* the quarantine: DEST/.pcm-agent-quarantine/<id>/, root 0700 */

static int
root_dir_ok(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
	    (st.st_mode & 07777) == 0700;
}

static void
rand_name(char *buf, size_t len, const char *prefix)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)now_mono() * 1000003u ^ (uint64_t)getpid();
	snprintf(buf, len, "%s%016llx", prefix, (unsigned long long)v);
}

/* create or open it (r->mu held): an existing .pcm-agent-quarantine that
 * is not a root 0700 directory (planted) is itself moved into it */
static int
quarantine_open(struct rst *r)
{
	char stray[64] = "";
	struct stat st;
	int top = -1, rc;

	if (fstatat(r->destfd, QDIR, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !(S_ISDIR(st.st_mode) && st.st_uid == 0 && (st.st_mode & 07777) == 0700)) {
		rand_name(stray, sizeof(stray), ".pcm-agent-stray.");
		if (renameat(r->destfd, QDIR, r->destfd, stray) < 0)
			return -errno;
	}
	if (mkdirat(r->destfd, QDIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((top = safe_openat(r->destfd, QDIR, O_RDONLY | O_DIRECTORY, 0, 0)) < 0)
		return top;
	if (!root_dir_ok(top)) {
		close(top);
		return -EPERM;
	}
	if (mkdirat(top, r->opid, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		close(top);
		return rc;
	}
	r->qfd = safe_openat(top, r->opid, O_RDONLY | O_DIRECTORY, 0, 0);
	close(top);
	if (r->qfd < 0 || !root_dir_ok(r->qfd)) {
		rc = r->qfd < 0 ? r->qfd : -EPERM;
		if (r->qfd >= 0)
			close(r->qfd);
		r->qfd = -1;
		return rc;
	}
	snprintf(r->res->quarantine, sizeof(r->res->quarantine), "%s/%s/%s", r->dest, QDIR,
	    r->opid);
	if (stray[0] != '\0') {
		if (renameat(r->destfd, stray, r->qfd, "000000-" QDIR) == 0) {
			r->res->quarantined++;
			slog_warn("%s/%s was not a root-only directory: moved aside to %s/000000-%s",
			    r->dest, QDIR, r->res->quarantine, QDIR);
		}
	}
	return 0;
}

/*
 * A mount in the way (a user can mount FUSE on a directory of theirs, and
 * root may not even stat it): detach it, so that what is under it can be
 * moved aside.  1 detached, 0 not a mount we could detach.
 */
static int
detach_mount(struct rst *r, int dfd, const char *name, uint32_t idx)
{
	char path[PATH_MAX], pbuf[PATH_MAX];

	if (snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dfd, name) >= (int)sizeof(path) ||
	    umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return 0;
	slog_warn("%s/%s: a mount was in the way: detached", r->dest,
	    mf_path(r->mf, idx, pbuf, sizeof(pbuf)));
	return 1;
}

/* move dfd/name (never followed) into the quarantine; 0 or -errno */
static int
quarantine(struct rst *r, int dfd, const char *name, uint32_t idx, const char *why)
{
	char qn[NAME_MAX + 1], pbuf[PATH_MAX], qdir[sizeof(r->res->quarantine)];
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	if (r->qfd < 0)
		rc = quarantine_open(r);
	for (int tries = 0; rc == 0; tries++) {
		snprintf(qn, sizeof(qn), "%06llu-%.240s", (unsigned long long)++r->qseq, name);
		if (renameat2(dfd, name, r->qfd, qn, RENAME_NOREPLACE) == 0)
			break;
		rc = -errno;
		if (rc == -EBUSY && tries == 0 && detach_mount(r, dfd, name, idx)) {
			rc = 0;		/* a mount point: now the directory under it */
			continue;
		}
		if (rc == -EINVAL) {	/* no RENAME_NOREPLACE here */
			struct stat st;
			if (fstatat(r->qfd, qn, &st, AT_SYMLINK_NOFOLLOW) == 0)
				rc = -EEXIST;
			else
				rc = renameat(dfd, name, r->qfd, qn) == 0 ? 0 : -errno;
			if (rc == 0)
				break;
		}
		if (rc != -EEXIST || tries > 1000)
			break;
		rc = 0;		/* the same id used before: the next number */
	}
	if (rc == 0)
		r->res->quarantined++;
	snprintf(qdir, sizeof(qdir), "%s", r->res->quarantine);
	pthread_mutex_unlock(&r->mu);
	if (rc == 0)
		slog_warn("%s/%s: %s: moved aside to %s/%s", r->dest,
		    mf_path(r->mf, idx, pbuf, sizeof(pbuf)), why, qdir, qn);
	else
		rst_fatal(r, rc, "cannot move %s/%s (%s) aside into %s/%s: %s", r->dest,
		    mf_path(r->mf, idx, pbuf, sizeof(pbuf)), why, r->dest, QDIR, strerror(-rc));
	return rc;
}

/*
 * Clear dfd/<entry idx's name> for a new entry: a non-directory or an
 * empty directory owned by root or the entry's saved owner is removed;
 * anything else is moved to the quarantine.  Never followed.  0 or -errno
 * (fatal set).
 */
static int
clear_way(struct rst *r, int dfd, uint32_t idx)
{
	const struct mf_entry *e = &r->mf->e[idx];
	char pbuf[PATH_MAX];
	struct stat st;
	int mine;

	if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	    (errno == ENOENT || !detach_mount(r, dfd, e->name, idx) ||
	    fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0))
		return errno == ENOENT ? 0 : rst_fatal(r, -errno, "cannot stat %s/%s: %s",
		    r->dest, mf_path(r->mf, idx, pbuf, sizeof(pbuf)), strerror(errno));
	mine = st.st_uid == 0 || st.st_uid == e->uid;
	if (mine && !S_ISDIR(st.st_mode)) {
		if (unlinkat(dfd, e->name, 0) == 0 || errno == ENOENT)
			return 0;
	} else if (mine && unlinkat(dfd, e->name, AT_REMOVEDIR) == 0) {
		return 0;
	}
	return quarantine(r, dfd, e->name, idx, !mine ? "another user's entry is in the way" :
	    S_ISDIR(st.st_mode) ? "a non-empty directory is in the way" : "in the way");
}

/* ------------------------------------------------------------------ */
/* files: a new inode, named last */

static int
new_inode(struct rst *r, int dirfd, char *tmp, size_t tlen)
{
	int fd;

	tmp[0] = '\0';
	if (!atomic_load(&r->notmpfile)) {
		if ((fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
			return fd;
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
			return -errno;
		atomic_store(&r->notmpfile, 1);
	}
	for (int i = 0; i < 64; i++) {
		rand_name(tmp, tlen, ".pcm-agent-restore.");
		fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/* link fd (an inode of ours) at dirfd/name; -EEXIST when taken */
static int
link_fd(int fd, int dirfd, const char *name)
{
	char proc[64];

	if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0 ? 0 : -errno;
}

/* give our inode fd its name (clearing the way when something is there) */
static int
place(struct rst *r, int dirfd, int fd, const char *tmp, uint32_t idx)
{
	const struct mf_entry *e = &r->mf->e[idx];
	int rc = -EEXIST;

	for (int tries = 0; tries < 4; tries++) {
		if (tmp[0] != '\0')
			rc = renameat2(dirfd, tmp, dirfd, e->name, RENAME_NOREPLACE) == 0 ? 0 : -errno;
		else
			rc = link_fd(fd, dirfd, e->name);
		if (rc == -EINVAL && tmp[0] != '\0') {
			struct stat st;
			rc = fstatat(dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? -EEXIST :
			    renameat(dirfd, tmp, dirfd, e->name) == 0 ? 0 : -errno;
		}
		if (rc != -EEXIST)
			break;
		if ((rc = clear_way(r, dirfd, idx)) < 0)
			break;
		rc = -EEXIST;
	}
	return rc;
}

/*
 * The file at the name already is what restore would make (a run that was
 * interrupted, or a restore over its own earlier result): regular, one
 * link, the saved owner, mode, size and mtime.  Then its content is
 * checked through the fd that was checked, and only xattrs and times are
 * set.  1 kept, 0 not (write a new one).
 */
static int
keep_existing(struct rst *r, int dirfd, uint32_t idx)
{
	const struct mf_entry *e = &r->mf->e[idx];
	unsigned char h[16];
	struct timespec ts[2];
	struct stat st, dst;
	int fd, werr, kept = 0;

	if (fstat(dirfd, &dst) < 0 ||
	    (fd = safe_openat(dirfd, e->name, O_RDONLY | O_NONBLOCK, 0, 1)) < 0)
		return 0;	/* (RESOLVE_NO_XDEV: never a file a user mounted there) */
	/* xattrs are set on root's files only: a file capability (or an ACL)
	 * must not land on an inode its owner may hold open for writing */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != e->uid || st.st_gid != e->gid || (st.st_mode & 07777) != e->mode ||
	    (uint64_t)st.st_size != e->size || st.st_mtim.tv_sec != e->mtime_s ||
	    st.st_mtim.tv_nsec != e->mtime_ns || (e->nxattrs > 0 && st.st_uid != 0) ||
	    st.st_dev != dst.st_dev)
		goto out;
	if (copy_range(fd, 0, -1, 0, e->size, CD_WHOLE | CD_SPARSE | CD_HASHV(e), h, NULL, &werr,
	    NULL) < 0 || memcmp(h, e->hash, 16) != 0)
		goto out;
	xattrs_set(fd, NULL, e);
	set_times(ts, e);
	futimens(fd, ts);
	r->ino[idx] = st.st_ino;
	kept = 1;
out:
	close(fd);
	return kept;
}

/* restore: one file */
static void
rfile_run(void *p, void *arg)
{
	struct rjob *j = p;
	struct rst *r = arg;
	const struct mf_entry *e = &r->mf->e[j->idx];
	int dirfd = r->dfd[e->parent];
	unsigned char h[16];
	char pbuf[PATH_MAX], tmp[64] = "";
	struct stat st;
	int fd = -1, rc, werr = 0;

	if (atomic_load(&r->fatal))
		goto out;
	if (j->keep && keep_existing(r, dirfd, j->idx)) {
		atomic_fetch_add((_Atomic uint64_t *)&r->prog.bytes_done, e->size);
		atomic_fetch_add((_Atomic uint64_t *)&r->prog.files_done, 1);
		goto out;
	}
	if (e->obj != 0) {
		uint64_t osize = 0;

		if (e->packed) {	/* a pack: opened once, its size known */
			j->shared = 1;
			rc = j->objfd = pack_fd(r, e->obj, &osize);
		} else if ((rc = j->objfd = own_objfd(r, e)) >= 0) {
			rc = fstat(j->objfd, &st) < 0 ? -errno : 0;
			osize = rc == 0 ? (uint64_t)st.st_size : 0;
		}
		if (j->objfd < 0)
			j->objfd = -1;
		if (rc == -ENOENT) {
			bad_entry(r, j->idx, "its saved object is missing (the save is damaged)");
			goto out;
		}
		if (rc < 0) {
			rst_fatal(r, rc, "cannot open the object of %s in %s: %s",
			    mf_path(r->mf, j->idx, pbuf, sizeof(pbuf)), r->savedir, strerror(-rc));
			goto out;
		}
		if (e->packed ? osize < j->objoff + e->size : osize != e->size) {
			bad_entry(r, j->idx, "its saved object has the wrong size (the save is damaged)");
			goto out;
		}
	} else if (e->size != 0) {
		bad_entry(r, j->idx, "its saved object is missing (the save is damaged)");
		goto out;
	}
	if ((fd = new_inode(r, dirfd, tmp, sizeof(tmp))) < 0) {
		rst_fatal(r, fd, "cannot create a file in %s/%s: %s", r->dest,
		    mf_path(r->mf, e->parent, pbuf, sizeof(pbuf)), strerror(-fd));
		goto out;
	}
	rc = copy_range(j->objfd >= 0 ? j->objfd : fd, j->objoff, fd, 0, e->size,
	    CD_WHOLE | (e->packed ? 0 : CD_SPARSE) | CD_HASHV(e), h, &r->prog.bytes_done, &werr,
	    NULL);
	if (rc < 0) {
		if (werr)
			rst_fatal(r, rc, "cannot write %s/%s: %s%s", r->dest,
			    mf_path(r->mf, j->idx, pbuf, sizeof(pbuf)), strerror(-rc),
			    rc == -ENOSPC ? " (the destination is too small for the save)" : "");
		else
			rst_fatal(r, rc, "cannot read the object of %s from %s: %s",
			    mf_path(r->mf, j->idx, pbuf, sizeof(pbuf)), r->savedir, strerror(-rc));
		goto out;
	}
	if (memcmp(h, e->hash, 16) != 0) {
		bad_entry(r, j->idx, "checksum mismatch: the saved copy is damaged (not restored)");
		goto out;
	}
	if ((rc = apply_meta_fd(fd, e, r->dest, mf_path(r->mf, j->idx, pbuf, sizeof(pbuf)))) < 0)
		meta_failed(r, j->idx, rc);
	if ((rc = place(r, dirfd, fd, tmp, j->idx)) < 0) {
		rst_fatal(r, rc, "cannot name %s/%s: %s", r->dest,
		    mf_path(r->mf, j->idx, pbuf, sizeof(pbuf)), strerror(-rc));
		goto out;
	}
	tmp[0] = '\0';
	if (fstat(fd, &st) == 0)
		r->ino[j->idx] = st.st_ino;
	stor_crashpoint("restore-file");
	atomic_fetch_add((_Atomic uint64_t *)&r->prog.files_done, 1);
out:
	if (r->ino[j->idx] == 0)
		r->ino[j->idx] = INO_FAILED;
	if (tmp[0] != '\0')
		unlinkat(dirfd, tmp, 0);
	if (fd >= 0)
		close(fd);
	if (j->objfd >= 0 && !j->shared)
		close(j->objfd);
	atomic_fetch_sub(&r->pend[e->parent], 1);
	free(j);
}

/* ------------------------------------------------------------------ */
/* directories: root 0700 until their children are done */

/* lock a directory of ours: root-owned 0700, no default ACL to inherit */
static int
lock_dir(int fd)
{
	if (fchown(fd, 0, 0) < 0 && errno != EPERM)
		return -errno;
	if (fchmod(fd, 0700) < 0)
		return -errno;
	if (fremovexattr(fd, "system.posix_acl_default") < 0 && errno != ENODATA &&
	    errno != ENOTSUP && errno != EOPNOTSUPP)
		return -errno;
	return 0;
}

/* apply a directory's saved metadata: its children are all in place */
static void
dir_final(struct rst *r, uint32_t idx)
{
	const struct mf_entry *e = &r->mf->e[idx];
	char pbuf[PATH_MAX];
	int rc;

	if (r->dfd[idx] < 0)
		return;
	if ((rc = apply_meta_fd(r->dfd[idx], e, r->dest, mf_path(r->mf, idx, pbuf, sizeof(pbuf)))) < 0)
		meta_failed(r, idx, rc);
	close(r->dfd[idx]);
	r->dfd[idx] = -1;
	if (idx != 0)
		atomic_fetch_sub(&r->pend[e->parent], 1);
	stor_crashpoint("restore-dirmeta");
}

static void
dir_popped(uint32_t idx, int fd, void *arg)
{
	struct rst *r = arg;

	if (r->dfd[idx] != fd) {	/* not one of ours (a failed restore_dir) */
		close(fd);
		return;
	}
	if (atomic_load(&r->pend[idx]) == 0) {
		dir_final(r, idx);
		return;
	}
	if (r->ndefer == r->defercap) {
		size_t nc = r->defercap ? r->defercap * 2 : 64;
		uint32_t *nv = realloc(r->defer, nc * sizeof(*nv));
		if (nv == NULL) {
			rst_fatal(r, -ENOMEM, "out of memory");
			dir_final(r, idx);
			return;
		}
		r->defer = nv;
		r->defercap = nc;
	}
	r->defer[r->ndefer++] = idx;
}

/* a hard link to the inode restore made for its file */
static void
do_link(struct rst *r, uint32_t i)
{
	const struct mf_entry *e = &r->mf->e[i], *t = &r->mf->e[e->link];
	uint64_t ino = r->ino[e->link];
	char pbuf[PATH_MAX], tbuf[PATH_MAX];
	struct stat st;
	int fd = -1, rc = 0;

	if (ino == INO_FAILED || ino == 0 || r->dfd[t->parent] < 0 || r->dfd[e->parent] < 0)
		goto out;	/* its file was not restored (named already) */
	fd = safe_openat(r->dfd[t->parent], t->name, O_PATH, 0, 0);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_ino != ino) {
		bad_entry(r, i, "its file was replaced while it was restored: not linked");
		goto out;
	}
	for (int tries = 0; tries < 4; tries++) {
		struct stat cur;
		if ((rc = link_fd(fd, r->dfd[e->parent], e->name)) != -EEXIST)
			break;
		if (fstatat(r->dfd[e->parent], e->name, &cur, AT_SYMLINK_NOFOLLOW) == 0 &&
		    cur.st_ino == ino && cur.st_dev == st.st_dev) {
			rc = 0;	/* linked already */
			break;
		}
		if ((rc = clear_way(r, r->dfd[e->parent], i)) < 0)
			break;
		rc = -EEXIST;
	}
	if (rc < 0)
		rst_fatal(r, rc, "cannot link %s/%s to %s: %s", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)), mf_path(r->mf, e->link, tbuf,
		    sizeof(tbuf)), strerror(-rc));
out:
	if (fd >= 0)
		close(fd);
	atomic_fetch_sub(&r->pend[e->parent], 1);
	atomic_fetch_sub(&r->pend[t->parent], 1);
}

/* links whose file is done; directories whose children are (children
 * before parents: they were left in that order).  all: everything left. */
static void
service(struct rst *r, int all)
{
	size_t k = 0;

	for (size_t i = 0; i < r->nlinks; i++) {
		uint32_t li = r->links[i];
		if (all || r->ino[r->mf->e[li].link] != 0)
			do_link(r, li);
		else
			r->links[k++] = li;
	}
	r->nlinks = k;
	k = 0;
	for (size_t i = 0; i < r->ndefer; i++) {
		uint32_t d = r->defer[i];
		if (all || atomic_load(&r->pend[d]) == 0)
			dir_final(r, d);
		else
			r->defer[k++] = d;
	}
	r->ndefer = k;
}

/* a directory entry: ours, locked, pushed on the stack (r->dfd set) */
static int
restore_dir(struct rst *r, struct dirstack *ds, int dfd, uint32_t i, const struct stat *old)
{
	const struct mf_entry *e = &r->mf->e[i];
	char pbuf[PATH_MAX];
	struct stat st;
	int fd, rc, created = 0;

	struct stat pst;

	/* a user's mount point (FUSE): its owner answers for it, never adopted */
	if (old != NULL && S_ISDIR(old->st_mode) && old->st_uid != 0 &&
	    (fstat(dfd, &pst) < 0 || pst.st_dev != old->st_dev))
		old = &pst;	/* "not a directory of ours": moved aside below */
	if (old != NULL && (old == &pst || !S_ISDIR(old->st_mode) ||
	    (old->st_uid != 0 && old->st_uid != e->uid))) {
		if ((rc = clear_way(r, dfd, i)) < 0)
			return rc;
		old = NULL;
	}
	for (int tries = 0;; tries++) {
		if (old == NULL) {
			if (mkdirat(dfd, e->name, 0700) < 0)
				return rst_fatal(r, -errno, "cannot create %s/%s: %s", r->dest,
				    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(errno));
			created = 1;
		}
		if ((fd = dirstack_goto(ds, r->mf, i, dir_popped, r)) >= 0)
			break;
		/* gone or replaced between the look and the open (its owner's
		 * rmdir or rename, a stale network cache): made again, what
		 * took its place moved aside; a user cannot fail the restore */
		if (tries == 3 || (fd != -ENOENT && fd != -ENOTDIR && fd != -ELOOP))
			return rst_fatal(r, fd, "cannot open %s/%s: %s", r->dest,
			    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(-fd));
		if (fd != -ENOENT && (rc = clear_way(r, dfd, i)) < 0)
			return rc;
		old = NULL;
	}
	/* not ours after all (it cannot be: its parent is root-only): never
	 * give it the saved metadata (r->dfd[i] stays -1) */
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    (created ? st.st_uid != 0 : (st.st_uid != 0 && st.st_uid != e->uid)))
		return rst_fatal(r, -EAGAIN, "%s/%s was replaced while it was restored", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)));
	if ((rc = lock_dir(fd)) < 0)
		return rst_fatal(r, rc, "cannot make %s/%s root-only while it is restored: %s",
		    r->dest, mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(-rc));
	r->dfd[i] = fd;
	atomic_fetch_add(&r->pend[e->parent], 1);
	return 0;
}

static int
restore_special(struct rst *r, int dfd, uint32_t i, const struct stat *old)
{
	const struct mf_entry *e = &r->mf->e[i];
	mode_t type = e->type == MF_FIFO ? S_IFIFO : e->type == MF_CHR ? S_IFCHR : S_IFBLK;
	struct timespec ts[2];
	char proc[64], pbuf[PATH_MAX];
	mode_t mode = e->mode;
	struct stat st;
	int fd, rc;

	if (old != NULL && !((old->st_mode & S_IFMT) == type && old->st_nlink == 1 &&
	    (old->st_uid == 0 || old->st_uid == e->uid) &&
	    (type == S_IFIFO || old->st_rdev == (dev_t)e->rdev))) {
		if ((rc = clear_way(r, dfd, i)) < 0)
			return rc;
		old = NULL;
	}
	for (int tries = 0;; tries++) {
		if (old == NULL && mknodat(dfd, e->name, type | 0600, (dev_t)e->rdev) < 0) {
			rc = -errno;
			rst_fatal(r, rc, "cannot create %s/%s: %s", r->dest,
			    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(errno));
			return rc;
		}
		if ((fd = safe_openat(dfd, e->name, O_PATH, 0, 0)) >= 0)
			break;
		if (tries == 3 || fd != -ENOENT)	/* gone since the look: made again */
			return rst_fatal(r, fd, "cannot open %s/%s: %s", r->dest,
			    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(-fd));
		old = NULL;
	}
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type) {
		close(fd);
		return rst_fatal(r, -EAGAIN, "%s/%s was replaced while it was restored",
		    r->dest, mf_path(r->mf, i, pbuf, sizeof(pbuf)));
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = 0;
	if (fchownat(fd, "", e->uid, e->gid, AT_EMPTY_PATH) < 0) {
		rc = -errno;
		mode &= (mode_t)~06000;	/* no setuid/setgid on the wrong owner */
	}
	if (xattrs_set(-1, proc, e) < 0 && rc == 0)
		rc = -errno;
	if (chmod(proc, mode) < 0 && rc == 0)
		rc = -errno;
	set_times(ts, e);
	if (utimensat(AT_FDCWD, proc, ts, 0) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		meta_failed(r, i, rc);
	close(fd);
	return 0;
}

static int
restore_symlink(struct rst *r, int dfd, uint32_t i, const struct stat *old)
{
	const struct mf_entry *e = &r->mf->e[i];
	char pbuf[PATH_MAX], cur[PATH_MAX];
	struct timespec ts[2];
	int rc;

	if (old != NULL && S_ISLNK(old->st_mode) && (old->st_uid == 0 || old->st_uid == e->uid)) {
		ssize_t n = readlinkat(dfd, e->name, cur, sizeof(cur) - 1);
		if (n >= 0) {
			cur[n] = '\0';
			if (strcmp(cur, e->target) == 0)
				goto meta;
		}
	}
	if (old != NULL && (rc = clear_way(r, dfd, i)) < 0)
		return rc;
	if (symlinkat(e->target, dfd, e->name) < 0) {
		rc = -errno;
		rst_fatal(r, rc, "cannot create symlink %s/%s: %s", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(errno));
		return rc;
	}
meta:
	/* by name: dfd is ours and root-only, nobody can swap the link */
	set_times(ts, e);
	if (fchownat(dfd, e->name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	    utimensat(dfd, e->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		slog_notice("%s/%s: cannot set the owner or times of the symlink: %s", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(errno));
	if (e->nxattrs > 0) {
		/* on the link itself: an O_PATH fd of it, through /proc (no
		 * f*xattr on O_PATH fds); never on whatever took its place */
		char proc[64];
		struct stat st;
		int fd = safe_openat(dfd, e->name, O_PATH, 0, 0);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISLNK(st.st_mode))
			rc = fd < 0 ? fd : -EAGAIN;
		else {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			rc = xattrs_set(-1, proc, e);
		}
		if (fd >= 0)
			close(fd);
		if (rc < 0) {
			atomic_fetch_add(&r->metafail, 1);
			slog_notice("%s/%s: cannot set the xattrs of the symlink: %s", r->dest,
			    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(-rc));
		}
	}
	return 0;
}

/*
 * After a complete restore into the directory the save was made from, the
 * files there hold exactly the saved data, but with new inode numbers and
 * ctimes: record those in the manifest (rewritten atomically) so that the
 * next save does not copy everything again.  Best effort: on any problem
 * the manifest is left as it was and the next save is a full one.
 */
static void
adopt_restored(struct rst *r)
{
	struct dirstack ds = { 0 };
	char *rd = realpath(r->dest, NULL);
	int changed = 0, rc;

	if (rd == NULL || r->mf->source == NULL || strcmp(rd, r->mf->source) != 0)
		goto out;
	if ((ds.v = malloc(64 * sizeof(ds.v[0]))) == NULL || (ds.v[0].fd = dup(r->destfd)) < 0)
		goto out;
	ds.cap = 64;
	ds.v[0].idx = 0;
	ds.n = 1;
	for (uint32_t i = 1; i < r->mf->n; i++) {
		struct mf_entry *e = &r->mf->e[i];
		struct stat st;
		int dfd;

		if (e->type != MF_FILE || (e->wflags & W_SKIP))
			continue;
		if ((dfd = dirstack_goto(&ds, r->mf, e->parent, NULL, NULL)) < 0 ||
		    fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size != e->size || st.st_mtim.tv_sec != e->mtime_s ||
		    st.st_mtim.tv_nsec != e->mtime_ns)
			goto out;
		e->ino = st.st_ino;
		e->ctime_s = st.st_ctim.tv_sec;
		e->ctime_ns = (uint32_t)st.st_ctim.tv_nsec;
		e->flags &= (uint8_t)~MF_F_CHANGED;
		changed = 1;
	}
	for (uint32_t i = 0; i < r->mf->n; i++)
		r->mf->e[i].wflags = 0;
	if (changed && ((rc = mf_write_tmp(r->savefd, r->mf)) < 0 || (rc = mf_commit(r->savefd)) < 0)) {
		unlinkat(r->savefd, "MANIFEST.tmp", 0);
		if (rc != -EROFS)
			slog_notice("cannot update %s/MANIFEST for the restored files: %s (the next "
			    "save copies everything again)", r->savedir, strerror(-rc));
	}
out:
	dirstack_clear(&ds, NULL, NULL);
	free(rd);
}

/* hard link i becomes a file of its own with the data and metadata of
 * its file t (outside the selection); 0 or -ENOMEM */
static int
link_to_file(struct manifest *mf, uint32_t i)
{
	struct mf_entry *e = &mf->e[i];
	const struct mf_entry *t = &mf->e[e->link];
	struct mf_xattr *x = NULL;

	if (t->nxattrs > 0) {
		if ((x = calloc(t->nxattrs, sizeof(*x))) == NULL)
			return -ENOMEM;
		for (uint32_t k = 0; k < t->nxattrs; k++) {
			x[k].len = t->xattrs[k].len;
			if ((x[k].name = strdup(t->xattrs[k].name)) == NULL ||
			    (x[k].value = malloc(x[k].len ? x[k].len : 1)) == NULL) {
				for (uint32_t m = 0; m <= k; m++) {
					free(x[m].name);
					free(x[m].value);
				}
				free(x);
				return -ENOMEM;
			}
			memcpy(x[k].value, t->xattrs[k].value, x[k].len);
		}
	}
	free(e->xattrs);	/* a hard link carries none, but be tidy */
	e->xattrs = x;
	e->nxattrs = t->nxattrs;
	e->type = MF_FILE;
	e->off = t->off;
	e->mtime_s = t->mtime_s;
	e->mtime_ns = t->mtime_ns;
	e->ctime_s = t->ctime_s;
	e->ctime_ns = t->ctime_ns;
	e->size = t->size;
	e->ino = t->ino;
	e->obj = t->obj;
	memcpy(e->hash, t->hash, sizeof(e->hash));
	e->uid = t->uid;
	e->gid = t->gid;
	e->mode = t->mode;
	e->flags = t->flags;
	e->packed = t->packed;
	return 0;
}

/*
 * restore with paths: mark the selected subtrees W_SEL and the directories
 * above them W_ANC (r->partial), or nothing when a path is the root.  A
 * selected hard link whose file is not selected becomes a file (the first
 * one) or a link to that first one.  0, -ENOENT (a path is not in the
 * save: errmsg), -ENOMEM.
 */
static int
select_paths(struct rst *r)
{
	struct manifest *mf = r->mf;
	uint32_t *first = NULL;
	int full = 0, rc;

	for (size_t k = 0; k < r->o->npaths; k++) {
		size_t idx;

		if ((rc = mf_find_path(mf, r->o->paths[k], &idx)) < 0)
			return seterr(r->res, rc, rc == -ENOENT ? "%s is not in the save in %s "
			    "(see pcm-agent ls): nothing restored" : "%s: %s", r->o->paths[k],
			    rc == -ENOENT ? r->savedir : strerror(-rc));
		if (idx == 0)
			full = 1;
		mf->e[idx].wflags |= W_SEL;
		for (size_t j = mf->e[idx].parent; (mf->e[j].wflags & W_ANC) == 0; j = mf->e[j].parent) {
			mf->e[j].wflags |= W_ANC;
			if (j == 0)
				break;
		}
	}
	if (full) {
		for (size_t i = 0; i < mf->n; i++)
			mf->e[i].wflags = 0;
		return 0;
	}
	r->partial = 1;
	if ((first = calloc(mf->n, sizeof(*first))) == NULL)
		return seterr(r->res, -ENOMEM, "out of memory");
	for (size_t i = 1; i < mf->n; i++) {
		struct mf_entry *e = &mf->e[i];

		if (mf->e[e->parent].wflags & W_SEL)
			e->wflags |= W_SEL;	/* pre-order: its directory came first */
		if (e->type != MF_HARDLINK || !(e->wflags & W_SEL) ||
		    (mf->e[e->link].wflags & W_SEL))
			continue;
		if (first[e->link] != 0) {
			e->link = first[e->link];	/* linked to the first copy */
			continue;
		}
		first[e->link] = (uint32_t)i;
		if ((rc = link_to_file(mf, (uint32_t)i)) < 0) {
			free(first);
			return seterr(r->res, rc, "out of memory");
		}
		r->res->links_split++;
	}
	free(first);
	return 0;
}

/*
 * Open r->savedir for reading a complete save: the directory, its lock
 * (none on a read-only target: nobody can change it under us), the
 * MANIFEST, the object directories, then finish any delta left by a crash
 * (on a read-only target: read the objects through their logs).  *lockfd
 * is the lock to close (or < 0).  0 or -errno with r->res filled.
 */
static int
open_save(struct rst *r, int *lockfd)
{
	struct stor_result *res = r->res;
	const char *savedir = r->savedir;
	char err[256];
	int rc;

	*lockfd = -1;
	if ((r->savefd = open(savedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return seterr(res, -errno, "cannot open the save directory %s: %s", savedir,
		    strerror(errno));
	if ((*lockfd = savedir_lock(r->savefd)) < 0 && *lockfd != -EROFS)
		return seterr(res, *lockfd, *lockfd == -EBUSY ?
		    "%s is in use by another pcm-agent save, restore or verify" :
		    "cannot lock %s: %s", savedir, strerror(-*lockfd));
	if ((rc = mf_load(r->savefd, &r->mf, err, sizeof(err))) < 0)
		return seterr(res, rc == -EBADMSG || rc == -ENOENT ? -ENOENT : rc,
		    "no complete save in %s: MANIFEST: %s", savedir, err);
	if ((rc = open_objects(r)) < 0 && rc != -ENOENT)
		return seterr(res, rc, "cannot open %s/objects: %s", savedir, strerror(-rc));
	return recover(r, *lockfd == -EROFS);
}

int
stor_restore(const char *savedir, const char *dest, const struct stor_opts *opts,
    struct stor_result *res)
{
	static const struct stor_opts defopts;
	struct rst r = { 0 };
	struct dirstack ds = { 0 };
	struct progress_thread *pt = NULL;
	struct wq *q = NULL;
	char pbuf[PATH_MAX];
	double t0 = now_mono();
	int rc, lockfd = -1, nw;

	memset(res, 0, sizeof(*res));
	r.o = opts ? opts : &defopts;
	r.res = res;
	r.savedir = savedir;
	r.dest = dest;
	r.savefd = r.destfd = r.qfd = r.tmpdirfd = r.objroot = -1;
	for (int i = 0; i < 256; i++)
		r.objfd[i] = -1;
	pthread_mutex_init(&r.mu, NULL);
	pthread_mutex_init(&r.pkmu, NULL);
	pthread_cond_init(&r.pkcv, NULL);
	raise_nofile();
	if (r.o->op_id != NULL && r.o->op_id[0] != '\0' && strchr(r.o->op_id, '/') == NULL &&
	    r.o->op_id[0] != '.')
		snprintf(r.opid, sizeof(r.opid), "%s", r.o->op_id);
	else {
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(r.opid, sizeof(r.opid), "restore-%Y%m%dT%H%M%SZ", &tm);
	}

	if ((rc = open_save(&r, &lockfd)) < 0 ||
	    (r.o->npaths > 0 && (rc = select_paths(&r)) < 0))
		goto out;
	if ((rc = stor_mkdir_p(dest, 0700)) < 0 ||
	    (r.destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = seterr(res, rc < 0 ? rc : -errno, "cannot open the destination %s: %s", dest,
		    strerror(rc < 0 ? -rc : errno));
		goto out;
	}
	r.tmpdirfd = r.destfd;
	for (size_t i = 0; i < r.mf->n; i++) {
		if (r.partial && !(r.mf->e[i].wflags & (W_SEL | W_ANC)))
			continue;
		res->entries++;
		if (r.mf->e[i].type == MF_FILE) {
			r.prog.files_total++;
			r.prog.bytes_total += r.mf->e[i].size;
		}
	}
	nw = r.o->workers > 0 ? r.o->workers : workers_auto(r.savefd, 0);
	if ((r.pend = calloc(r.mf->n, sizeof(*r.pend))) == NULL ||
	    (r.dfd = malloc(r.mf->n * sizeof(*r.dfd))) == NULL ||
	    (r.ino = calloc(r.mf->n, sizeof(*r.ino))) == NULL ||
	    (q = wq_new(nw, rfile_run, &r)) == NULL ||
	    (ds.v = malloc(64 * sizeof(ds.v[0]))) == NULL) {
		rc = seterr(res, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r.mf->n; i++)
		r.dfd[i] = -1;
	ds.cap = 64;
	if ((ds.v[0].fd = dup(r.destfd)) < 0) {
		rc = -errno;
		goto out;
	}
	ds.v[0].idx = 0;
	ds.n = 1;
	r.dfd[0] = ds.v[0].fd;
	/* the destination itself is ours too: root 0700 until its children are done */
	if ((rc = lock_dir(r.destfd)) < 0) {
		rc = seterr(res, rc, "cannot make %s root-only while it is restored: %s", dest,
		    strerror(-rc));
		goto out;
	}
	/* a hard link keeps its file's directory open (and root-only) until
	 * it is made: counted now, as that directory may be finished long
	 * before the link is reached (then do_link found it closed and the
	 * link was silently not made) */
	for (size_t i = 1; i < r.mf->n; i++)
		if (r.mf->e[i].type == MF_HARDLINK && (!r.partial || (r.mf->e[i].wflags & W_SEL)))
			atomic_fetch_add(&r.pend[r.mf->e[r.mf->e[i].link].parent], 1);
	pt = progress_start(r.o, &r.prog);

	for (uint32_t i = 1; i < r.mf->n && !atomic_load(&r.fatal); i++) {
		struct mf_entry *e = &r.mf->e[i];
		struct stat st, *old;
		int dfd;

		if ((i & 31) == 0)
			service(&r, 0);
		if (r.partial && !(e->wflags & (W_SEL | W_ANC)))
			continue;	/* not selected: not even looked at in dest */
		if ((e->parent == 0 && strcmp(e->name, QDIR) == 0) ||
		    (r.mf->e[e->parent].wflags & W_SKIP)) {
			/* the quarantine of an earlier restore, saved: not restored
			 * over the live one */
			if (e->parent == 0)
				slog_notice("%s/%s: not restored (the quarantine of an earlier "
				    "restore)", dest, QDIR);
			e->wflags |= W_SKIP;
			if (e->type == MF_HARDLINK)	/* counted above */
				atomic_fetch_sub(&r.pend[r.mf->e[e->link].parent], 1);
			continue;
		}
		if (e->type == MF_HARDLINK && (r.mf->e[e->link].wflags & W_SKIP)) {
			atomic_fetch_sub(&r.pend[r.mf->e[e->link].parent], 1);
			continue;
		}
		if ((dfd = dirstack_goto(&ds, r.mf, e->parent, dir_popped, &r)) < 0) {
			rst_fatal(&r, dfd, "cannot open %s/%s: %s", dest,
			    mf_path(r.mf, e->parent, pbuf, sizeof(pbuf)), strerror(-dfd));
			break;
		}
		old = fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? &st : NULL;
		if (old == NULL && errno != ENOENT) {
			/* not even stat'able: a user's FUSE mount (root may not look) */
			if (clear_way(&r, dfd, i) < 0)
				break;
		}
		switch (e->type) {
		case MF_DIR:
			restore_dir(&r, &ds, dfd, i, old);
			break;
		case MF_FILE: {
			struct rjob *j = calloc(1, sizeof(*j));
			if (j == NULL) {
				rst_fatal(&r, -ENOMEM, "out of memory");
				break;
			}
			j->idx = i;
			j->objfd = -1;
			/* worth checking: what a complete earlier run left */
			j->keep = old != NULL && S_ISREG(old->st_mode) && old->st_nlink == 1 &&
			    old->st_uid == e->uid && old->st_gid == e->gid &&
			    (old->st_mode & 07777) == e->mode && (uint64_t)old->st_size == e->size &&
			    old->st_mtim.tv_sec == e->mtime_s && old->st_mtim.tv_nsec == e->mtime_ns;
			if (old != NULL && !j->keep && clear_way(&r, dfd, i) < 0) {
				free(j);
				break;
			}
			/* its object (or pack) is opened by the worker: in
			 * parallel, a round trip each on a network target */
			j->objoff = e->packed ? e->off : 0;
			atomic_fetch_add(&r.pend[e->parent], 1);
			wq_push(q, j);
			break;
		}
		case MF_HARDLINK:
			if (r.nlinks == r.linkcap) {
				size_t nc = r.linkcap ? r.linkcap * 2 : 64;
				uint32_t *nv = realloc(r.links, nc * sizeof(*nv));
				if (nv == NULL) {
					rst_fatal(&r, -ENOMEM, "out of memory");
					break;
				}
				r.links = nv;
				r.linkcap = nc;
			}
			/* both directories stay open and root-only until it is made
			 * (its file's directory: counted before the loop) */
			atomic_fetch_add(&r.pend[e->parent], 1);
			r.links[r.nlinks++] = i;
			break;
		case MF_SYMLINK:
			restore_symlink(&r, dfd, i, old);
			break;
		default:
			restore_special(&r, dfd, i, old);
			break;
		}
		stor_crashpoint("restore-entry");
	}
	wq_finish(q);
	q = NULL;
	/* the links (every file is done), then the directories left on the
	 * stack and waiting, children first, the destination last: their
	 * metadata, even after a failure (every name made has its final
	 * metadata already; a directory left root-only would lock users out) */
	service(&r, 1);
	dirstack_clear(&ds, dir_popped, &r);
	service(&r, 1);
	if (atomic_load(&r.fatal) == 0 && syncfs(r.destfd) < 0)
		rst_fatal(&r, -errno, "cannot sync %s: %s", dest, strerror(errno));
	res->bad = atomic_load(&r.bad);
	if (atomic_load(&r.fatal) == 0 && res->bad == 0 && !r.partial)
		adopt_restored(&r);
	res->files = r.prog.files_total;
	res->bytes = r.prog.bytes_total;
	res->files_copied = atomic_load((_Atomic uint64_t *)&r.prog.files_done);
	res->bytes_copied = atomic_load((_Atomic uint64_t *)&r.prog.bytes_done);
	res->meta_failed = atomic_load(&r.metafail);
	if (res->quarantined > 0)
		slog_warn("%llu entries that were in the way in %s were moved aside to %s",
		    (unsigned long long)res->quarantined, dest, res->quarantine);
	if ((rc = atomic_load(&r.fatal)) < 0)
		goto out;
	if (res->bad > 0) {
		rc = seterr(res, -EBADMSG, "%llu entries of the save in %s did not check out "
		    "(named above): the restore in %s is incomplete",
		    (unsigned long long)res->bad, savedir, dest);
		goto out;
	}
	rc = 0;
out:
	wq_finish(q);
	close_packs(&r);
	progress_stop(pt);
	if (r.dfd != NULL) {	/* a failure before the end: close what is open */
		for (size_t k = 0; k < ds.n; k++)
			r.dfd[ds.v[k].idx] = -1;
		for (size_t i = 0; i < r.mf->n; i++)
			if (r.dfd[i] >= 0)
				close(r.dfd[i]);
	}
	dirstack_clear(&ds, NULL, NULL);
	res->seconds = now_mono() - t0;
	close_objects(&r);
	if (lockfd >= 0)
		close(lockfd);
	if (r.qfd >= 0)
		close(r.qfd);
	if (r.savefd >= 0)
		close(r.savefd);
	if (r.destfd >= 0)
		close(r.destfd);
	free((void *)r.pend);
	free(r.dfd);
	free((void *)r.ino);
	free(r.defer);
	free(r.links);
	mf_free(r.mf);
	pthread_mutex_destroy(&r.mu);
	pthread_mutex_destroy(&r.pkmu);
	pthread_cond_destroy(&r.pkcv);
	return rc;
}

/* ------------------------------------------------------------------ */

static int
verify_impl(const char *savedir, const struct stor_opts *opts, struct stor_result *res,
    int incremental)
{
	static const struct stor_opts defopts;
	struct vset old = { 0 };
	struct vfy v = { 0 };
	struct rst *r = &v.r;
	struct progress_thread *pt = NULL;
	struct wq *q = NULL;
	double t0 = now_mono();
	int rc, lockfd = -1;

	memset(res, 0, sizeof(*res));
	r->o = opts ? opts : &defopts;
	r->res = res;
	r->savedir = savedir;
	r->dest = "";
	r->destfd = r->qfd = r->tmpdirfd = r->objroot = -1;
	for (int i = 0; i < 256; i++)
		r->objfd[i] = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->pkmu, NULL);
	pthread_cond_init(&r->pkcv, NULL);
	pthread_mutex_init(&v.vmu, NULL);
	raise_nofile();
	if ((rc = open_save(r, &lockfd)) < 0)
		goto out;
	/* after recover(): an object a delta just updated has a new ctime */
	if (incremental && (rc = vset_load(r->savefd, &old)) < 0) {
		slog_notice("%s/VERIFIED: %s: re-reading every object", savedir,
		    rc == -EBADMSG ? "damaged" : strerror(-rc));
		vset_free(&old);
	}
	if (incremental && old.no > 0 && old.ne > 0)
		v.old = &old;	/* else everything is read, as by the full verify */
	for (size_t i = 0; i < r->mf->n; i++)
		if (r->mf->e[i].type == MF_FILE) {
			r->prog.files_total++;
			r->prog.bytes_total += r->mf->e[i].size;
		}
	if ((q = wq_new(r->o->workers > 0 ? r->o->workers : workers_auto(r->savefd, 0), rjob_run,
	    &v)) == NULL) {
		rc = seterr(res, -ENOMEM, "out of memory");
		goto out;
	}
	pt = progress_start(r->o, &r->prog);
	/* no I/O on the target here: the workers open and stat the objects */
	for (uint32_t i = 1; i < r->mf->n && !atomic_load(&r->fatal); i++) {
		const struct mf_entry *e = &r->mf->e[i];
		struct rjob *j;

		if (e->type != MF_FILE)
			continue;
		if (e->obj == 0) {	/* empty file: nothing to read, the checksum must be of "" */
			unsigned char h[16];
			int werr;
			int zfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (zfd >= 0 && copy_range(zfd, 0, -1, 0, 0, CD_WHOLE | CD_HASHV(e), h, NULL,
			    &werr, NULL) == 0 &&
			    memcmp(h, e->hash, 16) != 0)
				bad_entry(r, i, "checksum mismatch");
			if (zfd >= 0)
				close(zfd);
			continue;
		}
		if ((j = calloc(1, sizeof(*j))) == NULL) {
			rst_fatal(r, -ENOMEM, "out of memory");
			break;
		}
		j->idx = i;
		j->objfd = -1;
		if (vset_add_ent(&v.now, e) < 0)	/* then no VERIFIED is written */
			atomic_store(&v.nomem, 1);
		wq_push(q, j);
	}
	wq_finish(q);
	q = NULL;
	/* the packs, as each was stat'ed when it was opened (once) */
	for (size_t i = 0; i < r->npk; i++)
		if (r->pk[i].fd >= 0 && vset_add_obj(&v.now, r->pk[i].id, &r->pk[i].st) < 0)
			atomic_store(&v.nomem, 1);
	res->files_reread = atomic_load(&v.reread);
	res->files_known = atomic_load(&v.known);
	res->bad = atomic_load(&r->bad);
	res->entries = r->mf->n;
	res->files = r->prog.files_total;
	res->bytes = r->prog.bytes_total;
	res->bytes_copied = atomic_load((_Atomic uint64_t *)&r->prog.bytes_done) -
	    atomic_load(&v.known_bytes);
	if ((rc = atomic_load(&r->fatal)) < 0)
		goto out;
	if (res->bad > 0) {
		rc = seterr(res, -EBADMSG, "%llu files of the save in %s did not check out "
		    "(named above)", (unsigned long long)res->bad, savedir);
		goto out;
	}
	/* all good: record it (not on a read-only target; a failure costs
	 * only a longer incremental verify next time) */
	if (lockfd >= 0 && !atomic_load(&v.nomem)) {
		int wrc = vset_write(r->savefd, &v.now, r->mf->gen);
		if (wrc < 0)
			slog_notice("cannot write %s/VERIFIED: %s (the next incremental verify "
			    "re-reads everything)", savedir, strerror(-wrc));
	}
	rc = 0;
out:
	wq_finish(q);
	vset_free(&old);
	vset_free(&v.now);
	close_packs(r);
	progress_stop(pt);
	res->seconds = now_mono() - t0;
	close_objects(r);
	if (lockfd >= 0)
		close(lockfd);
	if (r->savefd >= 0)
		close(r->savefd);
	mf_free(r->mf);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->pkmu);
	pthread_cond_destroy(&r->pkcv);
	pthread_mutex_destroy(&v.vmu);
	return rc;
}

int
stor_verify(const char *savedir, const struct stor_opts *opts, struct stor_result *res)
{
	return verify_impl(savedir, opts, res, 0);
}

int
stor_verify_incremental(const char *savedir, const struct stor_opts *opts,
    struct stor_result *res)
{
	return verify_impl(savedir, opts, res, 1);
}

/* ------------------------------------------------------------------ */

static int
info_entry(const struct mf_entry *e, void *arg)
{
	struct stor_save_info *info = arg;

	if (e->type == MF_FILE) {
		info->files++;
		info->bytes += e->size;
	}
	return 0;
}

int
stor_save_info(const char *savedir, struct stor_save_info *info)
{
	struct mf_stream *st = NULL;
	const struct manifest *mf;
	char err[256];
	int fd, rc;

	memset(info, 0, sizeof(*info));
	if ((fd = open(savedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* checked whole, counted as it is read: not held (2M entries are
	 * 240 MiB, and restore and `saves` ask this of every save first) */
	rc = mf_stream_open(fd, info_entry, info, &st, err, sizeof(err));
	close(fd);
	if (rc == -ENOENT || rc == -EBADMSG) {
		memset(info, 0, sizeof(*info));
		return 0;
	}
	if (rc < 0)
		return rc;
	mf = mf_stream_meta(st);
	info->complete = 1;
	info->prestage = mf->prestage;
	info->created = (time_t)mf->created;
	info->entries = mf_stream_count(st);
	snprintf(info->source, sizeof(info->source), "%s", mf->source ? mf->source : "");
	snprintf(info->cluster, sizeof(info->cluster), "%s", mf->cluster ? mf->cluster : "");
	snprintf(info->instance, sizeof(info->instance), "%s", mf->instance ? mf->instance : "");
	mf_stream_close(st);
	return 0;
}

int
stor_find_save(const char *target, const char *cluster, const char *instance,
    char **out, char *errmsg, size_t errlen)
{
	struct stor_save_info info;
	char *mine = stor_savedir(target, cluster, instance), *cdir = NULL, *found = NULL;
	size_t nfound = 0, pos = 0;
	struct dirent *de;
	DIR *d = NULL;
	int rc;

	*out = NULL;
	if (errlen)
		errmsg[0] = '\0';
	if (mine == NULL) {
		snprintf(errmsg, errlen, "unusable cluster name or instance id");
		return -EINVAL;
	}
	if ((rc = stor_save_info(mine, &info)) == 0 && info.complete) {
		*out = mine;
		return 0;
	}
	if (asprintf(&cdir, "%s/pcm-agent/%s", target, cluster) < 0) {
		free(mine);
		return -ENOMEM;
	}
	if ((d = opendir(cdir)) == NULL) {
		snprintf(errmsg, errlen, "no save of cluster %s under %s", cluster, target);
		rc = -ENOENT;
		goto out;
	}
	pos = (size_t)snprintf(errmsg, errlen, "several saves of cluster %s under %s:", cluster, target);
	while ((de = readdir(d)) != NULL) {
		char *p;
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", cdir, de->d_name) < 0)
			continue;
		if (stor_save_info(p, &info) == 0 && info.complete) {
			nfound++;
			if (pos < errlen)
				pos += (size_t)snprintf(errmsg + pos, errlen - pos, " %s", de->d_name);
			free(found);
			found = p;
		} else {
			free(p);
		}
	}
	if (nfound == 1) {
		*out = found;
		found = NULL;
		errmsg[0] = '\0';
		rc = 0;
	} else if (nfound == 0) {
		snprintf(errmsg, errlen, "no complete save of cluster %s under %s", cluster, target);
		rc = -ENOENT;
	} else {
		if (pos < errlen)
			snprintf(errmsg + pos, errlen - pos, " (pick one with --from DIR)");
		rc = -EEXIST;
	}
out:
	if (d != NULL)
		closedir(d);
	free(found);
	free(cdir);
	free(mine);
	return rc;
}

/* ------------------------------------------------------------------ */

int
stor_dir_matches(const char *savedir, const char *dir, int deep, struct stor_result *res)
{
	struct manifest *mf = NULL;
	struct dirstack ds = { 0 };
	char err[256], pbuf[PATH_MAX];
	uint64_t *inos = NULL;
	int sfd = -1, dfd = -1, rc;

	memset(res, 0, sizeof(*res));
	if ((sfd = open(savedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = seterr(res, -errno, "cannot open %s: %s", savedir, strerror(errno));
		goto out;
	}
	if ((rc = mf_load(sfd, &mf, err, sizeof(err))) < 0) {
		rc = seterr(res, rc == -EBADMSG ? -ENOENT : rc, "no complete save in %s: %s",
		    savedir, err);
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = seterr(res, -errno, "cannot open %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((inos = calloc(mf->n, sizeof(*inos))) == NULL ||
	    (ds.v = malloc(64 * sizeof(ds.v[0]))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	ds.cap = 64;
	ds.v[0].idx = 0;
	if ((ds.v[0].fd = dup(dfd)) < 0) {
		rc = -errno;
		goto out;
	}
	ds.n = 1;
	for (uint32_t i = 0; i < mf->n; i++) {
		const struct mf_entry *e = &mf->e[i];
		const char *why = NULL;
		struct stat st;
		int pfd;

		if (i == 0) {
			if (fstat(dfd, &st) < 0) {
				rc = -errno;
				goto out;
			}
		} else {
			if ((e->parent == 0 && strcmp(e->name, QDIR) == 0) ||
			    (mf->e[e->parent].wflags & W_SKIP)) {
				mf->e[i].wflags |= W_SKIP;	/* as restore does */
				continue;
			}
			if ((pfd = dirstack_goto(&ds, mf, e->parent, NULL, NULL)) < 0) {
				res->bad++;
				slog_info("differs: %s: its directory is missing", mf_path(mf, i, pbuf, sizeof(pbuf)));
				continue;
			}
			if (fstatat(pfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				res->bad++;
				slog_info("differs: %s: missing", mf_path(mf, i, pbuf, sizeof(pbuf)));
				continue;
			}
		}
		inos[i] = st.st_ino;
		switch (e->type) {
		case MF_DIR:
			if (!S_ISDIR(st.st_mode))
				why = "not a directory";
			break;
		case MF_FILE:
			if (!S_ISREG(st.st_mode))
				why = "not a regular file";
			else if ((uint64_t)st.st_size != e->size)
				why = "size";
			else if (st.st_mtim.tv_sec != e->mtime_s || st.st_mtim.tv_nsec != e->mtime_ns)
				why = "mtime";
			break;
		case MF_HARDLINK:
			if (!S_ISREG(st.st_mode) || st.st_ino != inos[e->link])
				why = "not the same file as its other name";
			break;
		case MF_SYMLINK: {
			char t[PATH_MAX];
			ssize_t n = S_ISLNK(st.st_mode) ?
			    readlinkat(ds.v[ds.n - 1].fd, e->name, t, sizeof(t) - 1) : -1;
			if (n < 0 || (t[n] = '\0', strcmp(t, e->target) != 0))
				why = "symlink target";
			break;
		}
		default:
			if ((e->type == MF_FIFO && !S_ISFIFO(st.st_mode)) ||
			    (e->type == MF_CHR && (!S_ISCHR(st.st_mode) || st.st_rdev != e->rdev)) ||
			    (e->type == MF_BLK && (!S_ISBLK(st.st_mode) || st.st_rdev != e->rdev)))
				why = "type or device";
		}
		if (why == NULL && e->type != MF_HARDLINK && e->type != MF_SYMLINK &&
		    ((st.st_mode & 07777) != e->mode || st.st_uid != e->uid || st.st_gid != e->gid))
			why = "owner or mode";
		if (why == NULL && deep && e->type == MF_FILE) {
			int ffd = safe_openat(ds.v[ds.n - 1].fd, e->name, O_RDONLY | O_NONBLOCK, 0, 0);
			unsigned char h[16];
			int werr;
			if (ffd < 0 || copy_range(ffd, 0, -1, 0, e->size, CD_WHOLE | CD_SPARSE |
			    CD_HASHV(e), h, NULL, &werr, NULL) < 0 ||
			    memcmp(h, e->hash, 16) != 0)
				why = "content";
			if (ffd >= 0)
				close(ffd);
		}
		if (why != NULL) {
			res->bad++;
			slog_info("differs: %s: %s", mf_path(mf, i, pbuf, sizeof(pbuf)), why);
		}
	}
	res->entries = mf->n;
	rc = res->bad == 0 ? 1 : 0;
out:
	dirstack_clear(&ds, NULL, NULL);
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	free(inos);
	mf_free(mf);
	return rc;
}
