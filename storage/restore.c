/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * restore.c - restore a save into a directory, verify a save, compare a
 * directory with a save, find a save.
 *
 * Restore creates entries in manifest order (pre-order) beneath the
 * destination through directory fds with no symlink following: anything
 * in the way (a planted symlink, a file where a directory belongs) is
 * removed and replaced, never followed.  File data is copied by worker
 * threads from the objects, checksummed as it is written; owners, xattrs,
 * modes and times follow the data, and a directory's metadata is applied
 * once everything below it is created.  A file already there with the
 * saved size and mtime (a crashed earlier run) is re-read and checked
 * instead of copied again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "priv.h"

struct rst {
	const struct stor_opts	*o;
	struct stor_result	*res;
	const char		*savedir, *dest;
	int			 savefd, destfd;
	int			 objfd[256];
	struct manifest		*mf;
	struct stor_progress	 prog;
	_Atomic int		 fatal;
	_Atomic uint64_t	 bad;
	pthread_mutex_t		 mu;
	struct { uint64_t id; int fd; } *pk;	/* open packs (main thread) */
	size_t			 npk, pkcap, pklast;
};

struct rjob {
	uint32_t	idx;
	int		objfd;		/* -1: empty file */
	int		dstfd;		/* -1: verify the object only */
	int		existing;	/* dst already holds a file of the right size and mtime */
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

static int
open_objects(int savefd, int objfd[256])
{
	int ofd = safe_openat(savefd, "objects", O_RDONLY | O_DIRECTORY, 0, 0);

	for (int i = 0; i < 256; i++)
		objfd[i] = -1;
	if (ofd < 0)
		return ofd;
	for (int i = 0; i < 256; i++) {
		char nm[4];
		snprintf(nm, sizeof(nm), "%02x", i);
		objfd[i] = safe_openat(ofd, nm, O_RDONLY | O_DIRECTORY, 0, 0);
		if (objfd[i] < 0 && objfd[i] != -ENOENT) {
			int rc = objfd[i];
			close(ofd);
			return rc;
		}
	}
	close(ofd);
	return 0;
}

static void
close_objects(int objfd[256])
{
	for (int i = 0; i < 256; i++)
		if (objfd[i] >= 0)
			close(objfd[i]);
}

static int
open_object(int objfd[256], uint64_t id)
{
	char nm[32];
	int fd;

	if (objfd[id & 0xff] < 0)
		return -ENOENT;
	snprintf(nm, sizeof(nm), "%016llx", (unsigned long long)id);
	fd = openat(objfd[id & 0xff], nm, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* The fd holding e's data: its own object (the caller closes it), or a
 * pack kept open for every file in it (*shared = 1).  -errno if missing. */
static int
entry_objfd(struct rst *r, const struct mf_entry *e, int *shared)
{
	int fd;

	*shared = 0;
	if (!e->packed)
		return open_object(r->objfd, e->obj);
	if (r->npk > 0 && r->pk[r->pklast].id == e->obj) {
		*shared = 1;
		return r->pk[r->pklast].fd;
	}
	for (size_t i = 0; i < r->npk; i++)
		if (r->pk[i].id == e->obj) {
			r->pklast = i;
			*shared = 1;
			return r->pk[i].fd;
		}
	if ((fd = open_object(r->objfd, e->obj)) < 0)
		return fd;
	if (r->npk == r->pkcap) {
		size_t nc = r->pkcap ? r->pkcap * 2 : 16;
		void *nv = realloc(r->pk, nc * sizeof(r->pk[0]));
		if (nv == NULL) {
			close(fd);
			return -ENOMEM;
		}
		r->pk = nv;
		r->pkcap = nc;
	}
	r->pk[r->npk].id = e->obj;
	r->pk[r->npk].fd = fd;
	r->pklast = r->npk++;
	*shared = 1;
	return fd;
}

static void
close_packs(struct rst *r)
{
	for (size_t i = 0; i < r->npk; i++)
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

/* a save interrupted after its manifest was committed: finish it first */
static int
recover(struct rst *r)
{
	int applied, rc;

	if ((rc = delta_recover(r->savefd, r->objfd, r->mf->gen, &applied)) < 0)
		return seterr(r->res, rc, "cannot apply the pending delta logs in %s: %s",
		    r->savedir, strerror(-rc));
	if (applied > 0)
		slog_notice("%s: finished applying %d delta logs of an interrupted save",
		    r->savedir, applied);
	return 0;
}

/* owner, xattrs (ACLs), mode, times of an open file or directory */
static int
apply_meta_fd(int fd, const struct mf_entry *e)
{
	struct timespec ts[2];
	int rc = 0;

	if (fchown(fd, e->uid, e->gid) < 0)
		rc = -errno;
	int x = xattrs_set(fd, NULL, e);
	if (x < 0 && x != -ENOTSUP && rc == 0)
		rc = x;
	if (fchmod(fd, e->mode) < 0 && rc == 0)
		rc = -errno;
	set_times(ts, e);
	if (futimens(fd, ts) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static void
bad_entry(struct rst *r, uint32_t idx, const char *why)
{
	char pbuf[PATH_MAX];

	atomic_fetch_add(&r->bad, 1);
	slog_warn("%s: %s", mf_path(r->mf, idx, pbuf, sizeof(pbuf)), why);
}

static void
rjob_run(void *p, void *arg)
{
	struct rjob *j = p;
	struct rst *r = arg;
	const struct mf_entry *e = &r->mf->e[j->idx];
	unsigned char h[16];
	char pbuf[PATH_MAX];
	struct stat st;
	int rc, werr = 0;

	if (atomic_load(&r->fatal))
		goto out;
	if (j->existing) {
		/* a file left by an interrupted run: check it rather than copy it */
		rc = copy_data(j->dstfd, -1, e->size, 1, h, NULL, &werr);
		if (rc == 0 && memcmp(h, e->hash, 16) == 0) {
			atomic_fetch_add((_Atomic uint64_t *)&r->prog.bytes_done, e->size);
			goto meta;
		}
		if (ftruncate(j->dstfd, 0) < 0) {
			rc = -errno;
			rst_fatal(r, rc, "cannot truncate %s/%s: %s", r->dest,
			    mf_path(r->mf, j->idx, pbuf, sizeof(pbuf)), strerror(errno));
			goto out;
		}
	}
	if (j->objfd >= 0) {
		if (fstat(j->objfd, &st) < 0 || (e->packed ?
		    (uint64_t)st.st_size < j->objoff + e->size : (uint64_t)st.st_size != e->size)) {
			bad_entry(r, j->idx, "its saved object has the wrong size (the save is damaged)");
			goto out;
		}
	} else if (e->size != 0) {
		bad_entry(r, j->idx, "its saved object is missing (the save is damaged)");
		goto out;
	}
	rc = copy_range(j->objfd >= 0 ? j->objfd : j->dstfd, j->objoff, j->dstfd, 0, e->size,
	    CD_WHOLE | (e->packed ? 0 : CD_SPARSE), h, &r->prog.bytes_done, &werr, NULL);
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
		/* times are not set: a run after the save is repaired tries again */
		bad_entry(r, j->idx, "checksum mismatch: the saved copy is damaged");
		goto out;
	}
meta:
	if (j->dstfd >= 0) {
		if ((rc = apply_meta_fd(j->dstfd, e)) < 0)
			slog_notice("%s/%s: cannot set owner, mode, xattrs or times: %s", r->dest,
			    mf_path(r->mf, j->idx, pbuf, sizeof(pbuf)), strerror(-rc));
		stor_crashpoint("restore-file");
	}
	atomic_fetch_add((_Atomic uint64_t *)&r->prog.files_done, 1);
out:
	if (j->objfd >= 0 && !j->shared)
		close(j->objfd);
	if (j->dstfd >= 0)
		close(j->dstfd);
	free(j);
}

static void
dir_popped(uint32_t idx, int fd, void *arg)
{
	struct rst *r = arg;
	char pbuf[PATH_MAX];
	int rc;

	if ((rc = apply_meta_fd(fd, &r->mf->e[idx])) < 0)
		slog_notice("%s/%s: cannot set owner, mode, xattrs or times: %s", r->dest,
		    mf_path(r->mf, idx, pbuf, sizeof(pbuf)), strerror(-rc));
	close(fd);
	stor_crashpoint("restore-dirmeta");
}

/* remove what is in the way at dfd/name (never following it) */
static int
clear_way(struct rst *r, int dfd, uint32_t idx, const struct stat *st)
{
	char pbuf[PATH_MAX];

	if (S_ISDIR(st->st_mode)) {
		if (unlinkat(dfd, r->mf->e[idx].name, AT_REMOVEDIR) == 0)
			return 0;
		return rst_fatal(r, -ENOTEMPTY, "cannot restore %s/%s: a non-empty directory is "
		    "in the way (move it aside and run restore again)", r->dest,
		    mf_path(r->mf, idx, pbuf, sizeof(pbuf)));
	}
	if (unlinkat(dfd, r->mf->e[idx].name, 0) < 0 && errno != ENOENT) {
		int rc = -errno;
		rst_fatal(r, rc, "cannot remove %s/%s: %s", r->dest,
		    mf_path(r->mf, idx, pbuf, sizeof(pbuf)), strerror(errno));
		return rc;
	}
	return 0;
}

static int
restore_special(struct rst *r, int dfd, uint32_t i, const struct stat *old, int exists)
{
	const struct mf_entry *e = &r->mf->e[i];
	mode_t type = e->type == MF_FIFO ? S_IFIFO : e->type == MF_CHR ? S_IFCHR : S_IFBLK;
	struct timespec ts[2];
	char proc[64], pbuf[PATH_MAX];
	struct stat st;
	int fd, rc;

	if (exists && !((old->st_mode & S_IFMT) == type &&
	    (type == S_IFIFO || old->st_rdev == (dev_t)e->rdev))) {
		if ((rc = clear_way(r, dfd, i, old)) < 0)
			return rc;
		exists = 0;
	}
	if (!exists && mknodat(dfd, e->name, type | 0600, (dev_t)e->rdev) < 0) {
		rc = -errno;
		rst_fatal(r, rc, "cannot create %s/%s: %s", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(errno));
		return rc;
	}
	if ((fd = safe_openat(dfd, e->name, O_PATH, 0, 0)) < 0)
		return rst_fatal(r, fd, "cannot open %s/%s: %s", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(-fd));
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type) {
		close(fd);
		return rst_fatal(r, -EAGAIN, "%s/%s was replaced while it was restored",
		    r->dest, mf_path(r->mf, i, pbuf, sizeof(pbuf)));
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = 0;
	if (fchownat(fd, "", e->uid, e->gid, AT_EMPTY_PATH) < 0)
		rc = -errno;
	if (xattrs_set(-1, proc, e) < 0 && rc == 0)
		rc = -errno;
	if (chmod(proc, e->mode) < 0 && rc == 0)
		rc = -errno;
	set_times(ts, e);
	if (utimensat(AT_FDCWD, proc, ts, 0) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		slog_notice("%s/%s: cannot set owner, mode, xattrs or times: %s", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(-rc));
	close(fd);
	return 0;
}

static int
restore_symlink(struct rst *r, int dfd, uint32_t i, const struct stat *old, int exists)
{
	const struct mf_entry *e = &r->mf->e[i];
	char pbuf[PATH_MAX], cur[PATH_MAX];
	struct timespec ts[2];
	int rc;

	if (exists && S_ISLNK(old->st_mode)) {
		ssize_t n = readlinkat(dfd, e->name, cur, sizeof(cur) - 1);
		if (n >= 0) {
			cur[n] = '\0';
			if (strcmp(cur, e->target) == 0)
				goto meta;
		}
	}
	if (exists && (rc = clear_way(r, dfd, i, old)) < 0)
		return rc;
	if (symlinkat(e->target, dfd, e->name) < 0) {
		rc = -errno;
		rst_fatal(r, rc, "cannot create symlink %s/%s: %s", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(errno));
		return rc;
	}
meta:
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
		if (rc < 0)
			slog_notice("%s/%s: cannot set the xattrs of the symlink: %s", r->dest,
			    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(-rc));
	}
	return 0;
}

static int
restore_hardlink(struct rst *r, struct dirstack *ds, int dfd, uint32_t i,
    const struct stat *old, int exists)
{
	const struct mf_entry *e = &r->mf->e[i], *t = &r->mf->e[r->mf->e[i].link];
	char pbuf[PATH_MAX];
	struct stat tst;
	int tfd = -1, own = 0, rc;

	for (size_t k = 0; k < ds->n; k++)
		if (ds->v[k].idx == t->parent)
			tfd = ds->v[k].fd;
	if (tfd < 0) {
		if ((tfd = safe_open_entry_dir(r->destfd, r->mf, t->parent)) < 0)
			return rst_fatal(r, tfd, "cannot open the directory of %s: %s",
			    mf_path(r->mf, e->link, pbuf, sizeof(pbuf)), strerror(-tfd));
		own = 1;
	}
	if (fstatat(tfd, t->name, &tst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(tst.st_mode)) {
		rc = rst_fatal(r, -ENOENT, "cannot link %s/%s: %s is not there",
		    r->dest, e->name, mf_path(r->mf, e->link, pbuf, sizeof(pbuf)));
		goto out;
	}
	rc = 0;
	if (exists && old->st_ino == tst.st_ino && old->st_dev == tst.st_dev)
		goto out;
	if (exists && (rc = clear_way(r, dfd, i, old)) < 0)
		goto out;
	if (linkat(tfd, t->name, dfd, e->name, 0) < 0) {
		rc = -errno;
		rst_fatal(r, rc, "cannot link %s/%s: %s", r->dest,
		    mf_path(r->mf, i, pbuf, sizeof(pbuf)), strerror(errno));
	}
out:
	if (own)
		close(tfd);
	return rc;
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

		if (e->type != MF_FILE)
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

/*
 * Open r->savedir for reading a complete save: the directory, its lock
 * (none on a read-only target: nobody can change it under us), the
 * MANIFEST, the object directories, then finish any delta left by a crash.
 * *lockfd is the lock to close (or < 0).  0 or -errno with r->res filled.
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
	if ((rc = open_objects(r->savefd, r->objfd)) < 0 && rc != -ENOENT)
		return seterr(res, rc, "cannot open %s/objects: %s", savedir, strerror(-rc));
	return recover(r);
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
	r.savefd = r.destfd = -1;
	for (int i = 0; i < 256; i++)
		r.objfd[i] = -1;
	pthread_mutex_init(&r.mu, NULL);
	raise_nofile();

	if ((rc = open_save(&r, &lockfd)) < 0)
		goto out;
	if ((rc = stor_mkdir_p(dest, 0700)) < 0 ||
	    (r.destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = seterr(res, rc < 0 ? rc : -errno, "cannot open the destination %s: %s", dest,
		    strerror(rc < 0 ? -rc : errno));
		goto out;
	}
	for (size_t i = 0; i < r.mf->n; i++)
		if (r.mf->e[i].type == MF_FILE) {
			r.prog.files_total++;
			r.prog.bytes_total += r.mf->e[i].size;
		}
	nw = r.o->workers > 0 ? r.o->workers : workers_auto(r.savefd, 0);
	if ((q = wq_new(nw, rjob_run, &r)) == NULL ||
	    (ds.v = malloc(64 * sizeof(ds.v[0]))) == NULL) {
		rc = seterr(res, -ENOMEM, "out of memory");
		goto out;
	}
	ds.cap = 64;
	if ((ds.v[0].fd = dup(r.destfd)) < 0) {
		rc = -errno;
		goto out;
	}
	ds.v[0].idx = 0;
	ds.n = 1;
	pt = progress_start(r.o, &r.prog);

	for (uint32_t i = 1; i < r.mf->n && !atomic_load(&r.fatal); i++) {
		const struct mf_entry *e = &r.mf->e[i];
		struct stat st;
		int dfd, exists;

		if ((dfd = dirstack_goto(&ds, r.mf, e->parent, dir_popped, &r)) < 0) {
			rst_fatal(&r, dfd, "cannot open %s/%s: %s", dest,
			    mf_path(r.mf, e->parent, pbuf, sizeof(pbuf)), strerror(-dfd));
			break;
		}
		exists = fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		switch (e->type) {
		case MF_DIR:
			if (exists && !S_ISDIR(st.st_mode)) {
				if (clear_way(&r, dfd, i, &st) < 0)
					break;
				exists = 0;
			}
			if (!exists && mkdirat(dfd, e->name, 0700) < 0) {
				rst_fatal(&r, -errno, "cannot create %s/%s: %s", dest,
				    mf_path(r.mf, i, pbuf, sizeof(pbuf)), strerror(errno));
				break;
			}
			/* push it: its metadata is applied when it is left */
			if ((rc = dirstack_goto(&ds, r.mf, i, dir_popped, &r)) < 0)
				rst_fatal(&r, rc, "cannot open %s/%s: %s", dest,
				    mf_path(r.mf, i, pbuf, sizeof(pbuf)), strerror(-rc));
			break;
		case MF_FILE: {
			struct rjob *j = calloc(1, sizeof(*j));
			if (j == NULL) {
				rst_fatal(&r, -ENOMEM, "out of memory");
				break;
			}
			j->idx = i;
			j->objfd = j->dstfd = -1;
			if (exists && S_ISREG(st.st_mode) && (uint64_t)st.st_size == e->size &&
			    st.st_mtim.tv_sec == e->mtime_s && st.st_mtim.tv_nsec == e->mtime_ns) {
				j->dstfd = safe_openat(dfd, e->name, O_RDWR, 0, 0);
				j->existing = j->dstfd >= 0;
			}
			if (!j->existing) {
				if (exists && clear_way(&r, dfd, i, &st) < 0) {
					free(j);
					break;
				}
				j->dstfd = safe_openat(dfd, e->name, O_WRONLY | O_CREAT | O_EXCL, 0600, 0);
			}
			if (j->dstfd < 0) {
				rst_fatal(&r, j->dstfd, "cannot create %s/%s: %s", dest,
				    mf_path(r.mf, i, pbuf, sizeof(pbuf)), strerror(-j->dstfd));
				free(j);
				break;
			}
			if (e->obj != 0 && (j->objfd = entry_objfd(&r, e, &j->shared)) < 0) {
				bad_entry(&r, i, "its saved object is missing (the save is damaged)");
				close(j->dstfd);
				free(j);
				break;
			}
			j->objoff = e->packed ? e->off : 0;
			wq_push(q, j);
			break;
		}
		case MF_HARDLINK:
			restore_hardlink(&r, &ds, dfd, i, &st, exists);
			break;
		case MF_SYMLINK:
			restore_symlink(&r, dfd, i, &st, exists);
			break;
		default:
			restore_special(&r, dfd, i, &st, exists);
			break;
		}
		stor_crashpoint("restore-entry");
	}
	wq_finish(q);
	q = NULL;
	if (atomic_load(&r.fatal) == 0) {
		/* directories left on the stack, then the root: their children are done */
		dirstack_clear(&ds, dir_popped, &r);
		if (syncfs(r.destfd) < 0)
			rst_fatal(&r, -errno, "cannot sync %s: %s", dest, strerror(errno));
	}
	res->bad = atomic_load(&r.bad);
	if (atomic_load(&r.fatal) == 0 && res->bad == 0)
		adopt_restored(&r);
	res->entries = r.mf->n;
	res->files = r.prog.files_total;
	res->bytes = r.prog.bytes_total;
	res->files_copied = atomic_load((_Atomic uint64_t *)&r.prog.files_done);
	res->bytes_copied = atomic_load((_Atomic uint64_t *)&r.prog.bytes_done);
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
	dirstack_clear(&ds, NULL, NULL);
	res->seconds = now_mono() - t0;
	close_objects(r.objfd);
	if (lockfd >= 0)
		close(lockfd);
	if (r.savefd >= 0)
		close(r.savefd);
	if (r.destfd >= 0)
		close(r.destfd);
	mf_free(r.mf);
	pthread_mutex_destroy(&r.mu);
	return rc;
}

/* ------------------------------------------------------------------ */

static int
verify_impl(const char *savedir, const struct stor_opts *opts, struct stor_result *res,
    int incremental)
{
	static const struct stor_opts defopts;
	struct vset old = { 0 }, now = { 0 };
	uint64_t known_bytes = 0;
	int rec_ok = 1;
	struct rst r = { 0 };
	struct progress_thread *pt = NULL;
	struct wq *q = NULL;
	double t0 = now_mono();
	int rc, lockfd = -1;

	memset(res, 0, sizeof(*res));
	r.o = opts ? opts : &defopts;
	r.res = res;
	r.savedir = savedir;
	r.dest = "";
	r.destfd = -1;
	for (int i = 0; i < 256; i++)
		r.objfd[i] = -1;
	pthread_mutex_init(&r.mu, NULL);
	raise_nofile();
	if ((rc = open_save(&r, &lockfd)) < 0)
		goto out;
	/* after recover(): an object a delta just updated has a new ctime */
	if (incremental && (rc = vset_load(r.savefd, &old)) < 0) {
		slog_notice("%s/VERIFIED: %s: re-reading every object", savedir,
		    rc == -EBADMSG ? "damaged" : strerror(-rc));
		vset_free(&old);
	}
	for (size_t i = 0; i < r.mf->n; i++)
		if (r.mf->e[i].type == MF_FILE) {
			r.prog.files_total++;
			r.prog.bytes_total += r.mf->e[i].size;
		}
	if ((q = wq_new(r.o->workers > 0 ? r.o->workers : workers_auto(r.savefd, 0), rjob_run, &r)) == NULL) {
		rc = seterr(res, -ENOMEM, "out of memory");
		goto out;
	}
	pt = progress_start(r.o, &r.prog);
	for (uint32_t i = 1; i < r.mf->n && !atomic_load(&r.fatal); i++) {
		const struct mf_entry *e = &r.mf->e[i];
		struct rjob *j;

		if (e->type != MF_FILE)
			continue;
		if ((j = calloc(1, sizeof(*j))) == NULL) {
			rst_fatal(&r, -ENOMEM, "out of memory");
			break;
		}
		j->idx = i;
		j->dstfd = -1;
		j->objfd = -1;
		if (e->obj != 0 && (j->objfd = entry_objfd(&r, e, &j->shared)) < 0) {
			bad_entry(&r, i, "its saved object is missing");
			free(j);
			continue;
		}
		j->objoff = e->packed ? e->off : 0;
		if (e->obj != 0) {
			struct stat st;
			int nomem = 0;

			if (fstat(j->objfd, &st) < 0) {
				rst_fatal(&r, -errno, "cannot stat the object of an entry in %s: %s",
				    savedir, strerror(errno));
				if (!j->shared)
					close(j->objfd);
				free(j);
				break;
			}
			if (vset_add_obj(&now, e->obj, &st) < 0 || vset_add_ent(&now, e) < 0)
				nomem = 1;
			if (!nomem && incremental && vset_has(&old, e, &st)) {
				/* verified before, the object unchanged since: only its size */
				if (e->packed ? (uint64_t)st.st_size < e->off + e->size :
				    (uint64_t)st.st_size != e->size)
					bad_entry(&r, i, "its saved object has the wrong size "
					    "(the save is damaged)");
				res->files_known++;
				known_bytes += e->size;
				atomic_fetch_add((_Atomic uint64_t *)&r.prog.bytes_done, e->size);
				atomic_fetch_add((_Atomic uint64_t *)&r.prog.files_done, 1);
				if (!j->shared)
					close(j->objfd);
				free(j);
				continue;
			}
			if (nomem)	/* then no VERIFIED is written */
				rec_ok = 0;
		}
		if (e->obj == 0) {	/* empty file: nothing to read, the checksum must be of "" */
			unsigned char h[16];
			int werr;
			int zfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (zfd >= 0 && copy_data(zfd, -1, 0, 0, h, NULL, &werr) == 0 &&
			    memcmp(h, e->hash, 16) != 0)
				bad_entry(&r, i, "checksum mismatch");
			if (zfd >= 0)
				close(zfd);
			free(j);
			continue;
		}
		res->files_reread++;
		wq_push(q, j);
	}
	wq_finish(q);
	q = NULL;
	res->bad = atomic_load(&r.bad);
	res->entries = r.mf->n;
	res->files = r.prog.files_total;
	res->bytes = r.prog.bytes_total;
	res->bytes_copied = atomic_load((_Atomic uint64_t *)&r.prog.bytes_done) - known_bytes;
	if ((rc = atomic_load(&r.fatal)) < 0)
		goto out;
	if (res->bad > 0) {
		rc = seterr(res, -EBADMSG, "%llu files of the save in %s did not check out "
		    "(named above)", (unsigned long long)res->bad, savedir);
		goto out;
	}
	/* all good: record it (not on a read-only target; a failure costs
	 * only a longer incremental verify next time) */
	if (lockfd >= 0 && rec_ok) {
		int wrc = vset_write(r.savefd, &now, r.mf->gen);
		if (wrc < 0)
			slog_notice("cannot write %s/VERIFIED: %s (the next incremental verify "
			    "re-reads everything)", savedir, strerror(-wrc));
	}
	rc = 0;
out:
	vset_free(&old);
	vset_free(&now);
	wq_finish(q);
	close_packs(&r);
	progress_stop(pt);
	res->seconds = now_mono() - t0;
	close_objects(r.objfd);
	if (lockfd >= 0)
		close(lockfd);
	if (r.savefd >= 0)
		close(r.savefd);
	mf_free(r.mf);
	pthread_mutex_destroy(&r.mu);
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

int
stor_save_info(const char *savedir, struct stor_save_info *info)
{
	struct manifest *mf = NULL;
	char err[256];
	int fd, rc;

	memset(info, 0, sizeof(*info));
	if ((fd = open(savedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = mf_load(fd, &mf, err, sizeof(err));
	close(fd);
	if (rc == -ENOENT || rc == -EBADMSG)
		return 0;
	if (rc < 0)
		return rc;
	info->complete = 1;
	info->prestage = mf->prestage;
	info->created = (time_t)mf->created;
	info->entries = mf->n;
	for (size_t i = 0; i < mf->n; i++)
		if (mf->e[i].type == MF_FILE) {
			info->files++;
			info->bytes += mf->e[i].size;
		}
	snprintf(info->source, sizeof(info->source), "%s", mf->source ? mf->source : "");
	snprintf(info->cluster, sizeof(info->cluster), "%s", mf->cluster ? mf->cluster : "");
	snprintf(info->instance, sizeof(info->instance), "%s", mf->instance ? mf->instance : "");
	mf_free(mf);
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
	int sfd = -1, dfd = -1, objfd[256], rc;

	memset(res, 0, sizeof(*res));
	for (int i = 0; i < 256; i++)
		objfd[i] = -1;
	if ((sfd = open(savedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = seterr(res, -errno, "cannot open %s: %s", savedir, strerror(errno));
		goto out;
	}
	if ((rc = mf_load(sfd, &mf, err, sizeof(err))) < 0) {
		rc = seterr(res, rc == -EBADMSG ? -ENOENT : rc, "no complete save in %s: %s",
		    savedir, err);
		goto out;
	}
	if (deep && (rc = open_objects(sfd, objfd)) < 0 && rc != -ENOENT)
		goto out;
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
			if (ffd < 0 || copy_data(ffd, -1, e->size, 1, h, NULL, &werr) < 0 ||
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
	close_objects(objfd);
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	free(inos);
	mf_free(mf);
	return rc;
}
