/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * save.c - save a tree into SAVEDIR (see storage.h for the layout).
 *
 *  1. lock SAVEDIR, load the previous MANIFEST (if any), remove objects
 *     it does not refer to (left by a crashed run);
 *  2. walk the source (sorted, pre-order) into a new manifest; a file whose
 *     size, mtime, ctime and inode match the previous save keeps its object;
 *  3. check the free space on the target;
 *  4. copy the other files into new objects with worker threads, each file
 *     checksummed as it passes and re-checked with fstat for changes;
 *  5. syncfs the target, write MANIFEST.tmp, fsync, rename to MANIFEST,
 *     fsync the directory: from here the new save is the complete one;
 *  6. remove the objects the new manifest does not refer to.
 * A crash before 5 leaves the previous save complete, after it the new.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "priv.h"

#define W_COPY	0x1	/* new manifest: data to copy */
#define W_DELTA	0x4	/* new manifest: try a librsync delta against the old object */

/*
 * Small files (up to PACK_MAX bytes, no holes) are appended to pack objects,
 * one open pack per worker, instead of an object each: a few creates on the
 * target instead of one per file (on EFS a create is a round trip).  Packs
 * are never modified; when less than half of a pack is still referred to,
 * its live files are copied again into new packs and it is removed.
 */
#define PACK_MAX	(64u << 10)
#define PACK_SIZE	(128u << 20)

struct pack {
	int		 fd;
	uint64_t	 id, off;
	struct pack	*next;
};

static __thread struct pack *tpack;	/* this worker's pack (threads live one save) */

/* Object ids, collected in runs (see collect_ids) */
struct idset {
	uint64_t	*ids;
	size_t		 n, cap;
	uint64_t	 last;
};

/* Packs of the previous save less than half referred to now: their files
 * are copied again (into new packs), so the old pack goes at the end. */
struct packuse {
	uint64_t	id, total, live;
};

struct hl {		/* (dev, ino) -> first entry, for files with nlink > 1 */
	uint64_t	 dev, ino;
	uint32_t	 idx;
	int		 used;
};

struct save {
	const struct stor_opts	*o;
	struct stor_result	*res;
	const char		*source, *savedir;
	int			 srcfd, savefd;
	int			 objfd[256];	/* objects/XX, -1: not there (yet) */
	int			 objsfd;	/* objects/ */
	pthread_mutex_t		 objmu;		/* creating an objects/XX */
	struct mf_stream	*old;		/* the previous manifest, read beside the walk */
	struct manifest		*mf;
	struct hl		*hl;
	size_t			 hlsize, hln;
	uint64_t		 srcdev;
	struct stor_progress	 prog;
	_Atomic uint64_t	 next_obj;
	_Atomic int		 fatal;
	pthread_mutex_t		 mu;
	uint64_t		 need;		/* bytes to be written */
	_Atomic uint64_t	 written;	/* bytes written to the target */
	_Atomic uint64_t	 ndelta;	/* files updated by a delta */
	_Atomic int		 deltas_marked;	/* SAVEDIR/DELTAS created */
	pthread_mutex_t		 packmu;
	struct pack		*packs;		/* every pack opened, closed by copy_phase */
	struct idset		 oids;		/* the previous save's objects (pass 1) */
	uint64_t		*old_ids;	/* = oids, sorted, once complete */
	size_t			 n_old_ids;
	int			 have_old_ids;
	struct packuse		*pu, *pu_cur;	/* the previous save's packs: bytes in each */
	size_t			 npu, capu;
	int			 dirty;		/* SAVING was there: a run crashed or failed */
	int			 marked;	/* this run created SAVING */
	struct excl		*excl;		/* exclude patterns (exclude.c), NULL: none */
};

static int objdir(struct save *s, uint64_t id);

static void
entry_from_stat(struct mf_entry *e, const struct stat *st)
{
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime_s = st->st_mtim.tv_sec;
	e->mtime_ns = (uint32_t)st->st_mtim.tv_nsec;
	e->ctime_s = st->st_ctim.tv_sec;
	e->ctime_ns = (uint32_t)st->st_ctim.tv_nsec;
	e->ino = st->st_ino;
	e->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		e->rdev = st->st_rdev;	/* shares its place with a packed file's offset */
}

static void
fatal_err(struct save *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fatal_err(struct save *s, int rc, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->mu);
	if (atomic_load(&s->fatal) == 0) {
		va_start(ap, fmt);
		vsnprintf(s->res->errmsg, sizeof(s->res->errmsg), fmt, ap);
		va_end(ap);
		atomic_store(&s->fatal, rc);
	}
	pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ */
/* hardlinks */

static long
hl_find(struct save *s, uint64_t dev, uint64_t ino)
{
	if (s->hlsize == 0)
		return -1;
	size_t h = (size_t)((ino * 0x9E3779B97F4A7C15ull) ^ dev) & (s->hlsize - 1);
	while (s->hl[h].used) {
		if (s->hl[h].dev == dev && s->hl[h].ino == ino)
			return s->hl[h].idx;
		h = (h + 1) & (s->hlsize - 1);
	}
	return -1;
}

static int
hl_add(struct save *s, uint64_t dev, uint64_t ino, uint32_t idx)
{
	if (s->hln * 2 >= s->hlsize) {
		size_t ns = s->hlsize ? s->hlsize * 2 : 1024;
		struct hl *nv = calloc(ns, sizeof(*nv)), *ov = s->hl;
		size_t os = s->hlsize;
		if (nv == NULL)
			return -ENOMEM;
		s->hl = nv;
		s->hlsize = ns;
		s->hln = 0;
		for (size_t i = 0; i < os; i++)
			if (ov[i].used)
				hl_add(s, ov[i].dev, ov[i].ino, ov[i].idx);
		free(ov);
	}
	size_t h = (size_t)((ino * 0x9E3779B97F4A7C15ull) ^ dev) & (s->hlsize - 1);
	while (s->hl[h].used)
		h = (h + 1) & (s->hlsize - 1);
	s->hl[h] = (struct hl){ dev, ino, idx, 1 };
	s->hln++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* phase 1: the walk */

static int
cmpname(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the names in dirfd, sorted bytewise; *out malloc'd array of malloc'd names */
static int
read_names(int dirfd, char ***out, size_t *nout)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if ((d = dir_stream(dirfd)) == NULL)
		return -errno;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nv = realloc(v, nc * sizeof(*nv));
			if (nv == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = nc;
		}
		if ((v[n] = strdup(de->d_name)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		n++;
		errno = 0;
	}
	if (errno != 0)
		rc = -errno;
out:
	closedir(d);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return rc;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmpname);
	*out = v;
	*nout = n;
	return 0;
}

static int
same_file(const struct mf_entry *o, const struct mf_entry *e)
{
	return o->type == MF_FILE && !(o->flags & MF_F_CHANGED) && o->size == e->size &&
	    o->mtime_s == e->mtime_s && o->mtime_ns == e->mtime_ns &&
	    o->ctime_s == e->ctime_s && o->ctime_ns == e->ctime_ns && o->ino == e->ino;
}

static int walk_dir(struct save *s, int dirfd, uint32_t idx, long oidx, unsigned depth);

static int
walk_entry(struct save *s, int dirfd, uint32_t parent, long oparent, char *name,
    unsigned depth)
{
	struct mf_entry e = { 0 };
	struct stat st;
	char pbuf[PATH_MAX];
	struct mf_entry *o = NULL;	/* the previous save's entry of this name */
	size_t oi = 0;
	long idx;
	int rc = 0, fd = -1;

	e.name = name;		/* owned from here */
	e.parent = parent;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT) {
			s->res->vanished++;
			rc = 0;
		} else {
			rc = -errno;
			fatal_err(s, rc, "cannot stat %s/%s: %s", s->source, name, strerror(errno));
		}
		goto out;
	}
	entry_from_stat(&e, &st);
	/* the quarantine of a restore (restore.c): root's, never saved, since
	 * restore would not put it back (a user's directory of that name is
	 * saved like any other) */
	if (parent == 0 && S_ISDIR(st.st_mode) && st.st_uid == 0 &&
	    strcmp(name, STOR_QUARANTINE) == 0) {
		s->res->excluded++;
		rc = 0;
		goto out;
	}
	/* excluded: not in the manifest (nor, so, in what the next save keeps) */
	if ((rc = excl_entry(s->excl, s->mf, parent, dirfd, name, &st, s->res)) != 0) {
		if (rc < 0)
			fatal_err(s, rc, "cannot match the excludes: %s", strerror(-rc));
		else
			rc = 0;
		goto out;
	}
	if (s->old != NULL && oparent >= 0)
		o = mf_stream_find(s->old, (uint32_t)oparent, depth, name, &oi);
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		if (st.st_nlink > 1) {
			long first = hl_find(s, st.st_dev, st.st_ino);
			if (first >= 0) {
				e.type = MF_HARDLINK;
				e.link = (uint32_t)first;
				e.size = 0;
				break;
			}
		}
		e.type = MF_FILE;
		if (o != NULL && same_file(o, &e)) {
			e.obj = o->obj;
			e.off = o->off;
			e.packed = o->packed;
			memcpy(e.hash, o->hash, 16);
			e.flags |= o->flags & MF_F_HASH2;	/* the checksum's version */
			e.xattrs = o->xattrs;
			e.nxattrs = o->nxattrs;
			o->xattrs = NULL;
			o->nxattrs = 0;
			s->res->files_reused++;
		} else {
			e.wflags |= W_COPY;
			s->prog.files_total++;
			s->prog.bytes_total += e.size;
			/* sparse files are copied whole: only their data is written,
			 * and a delta would have to roll over every hole */
			if (o != NULL && o->type == MF_FILE && o->obj != 0 && s->o->delta_min_size > 0 &&
			    e.size >= s->o->delta_min_size && o->size >= s->o->delta_min_size &&
			    (uint64_t)st.st_blocks * 512 >= e.size - e.size / 8) {
				/* changed large file: a delta against its object */
				e.wflags |= W_DELTA;
				e.obj = o->obj;
				memcpy(e.hash, o->hash, 16);
				s->need += (uint64_t)st.st_blocks * 512 / 4 + 4096;
			} else {
				s->need += (uint64_t)st.st_blocks * 512 + 4096;
			}
		}
		break;
	case S_IFDIR:
		e.type = MF_DIR;
		fd = safe_openat(dirfd, name, O_RDONLY | O_DIRECTORY, 0, 1);
		if (fd == -EXDEV) {
			slog_notice("skipping %s: a mount point inside the source",
			    mf_path(s->mf, parent, pbuf, sizeof(pbuf)));
			s->res->skipped++;
			goto out;
		}
		if (fd == -ENOENT || fd == -ELOOP || fd == -ENOTDIR) {
			slog_notice("%s/%s vanished or was replaced during the save",
			    mf_path(s->mf, parent, pbuf, sizeof(pbuf)), name);
			s->res->vanished++;
			goto out;
		}
		if (fd < 0) {
			rc = fd;
			fatal_err(s, rc, "cannot open directory %s/%s: %s",
			    mf_path(s->mf, parent, pbuf, sizeof(pbuf)), name, strerror(-fd));
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			rc = -errno;
			goto out;
		}
		{
			const char *mk = excl_dir(fd, &st, s->res);
			if (mk != NULL) {
				slog_info("not saving %s%s%s: it holds %s", parent ? mf_path(s->mf,
				    parent, pbuf, sizeof(pbuf)) : "", parent ? "/" : "", name, mk);
				goto out;
			}
		}
		entry_from_stat(&e, &st);
		if ((rc = xattrs_get(fd, NULL, &e)) < 0)
			goto out;
		break;
	case S_IFLNK: {
		size_t cap = PATH_MAX;
		ssize_t n;
		e.type = MF_SYMLINK;
		if ((e.target = malloc(cap + 1)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		n = readlinkat(dirfd, name, e.target, cap);
		if (n < 0 && (errno == ENOENT || errno == EINVAL)) {
			s->res->vanished++;
			goto out;
		}
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			fatal_err(s, rc, "cannot read symlink %s/%s: %s",
			    mf_path(s->mf, parent, pbuf, sizeof(pbuf)), name, strerror(-rc));
			goto out;
		}
		e.target[n] = '\0';
		/* its xattrs (security.* labels, trusted.*: user.* cannot be set
		 * on a symlink), through an O_PATH fd of the link itself */
		{
			char proc[64];
			struct stat st2;
			fd = safe_openat(dirfd, name, O_PATH, 0, 0);
			if (fd < 0 || fstat(fd, &st2) < 0 || st2.st_ino != st.st_ino ||
			    !S_ISLNK(st2.st_mode)) {
				s->res->vanished++;
				goto out;
			}
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			if ((rc = xattrs_get(-1, proc, &e)) < 0)
				goto out;
		}
		break;
	}
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK: {
		char proc[64];
		struct stat st2;
		e.type = S_ISFIFO(st.st_mode) ? MF_FIFO : S_ISCHR(st.st_mode) ? MF_CHR : MF_BLK;
		fd = safe_openat(dirfd, name, O_PATH, 0, 0);
		if (fd < 0 || fstat(fd, &st2) < 0 || st2.st_ino != st.st_ino ||
		    (st2.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
			s->res->vanished++;
			goto out;
		}
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if ((rc = xattrs_get(-1, proc, &e)) < 0)
			goto out;
		break;
	}
	case S_IFSOCK:
		slog_notice("skipping socket %s/%s", mf_path(s->mf, parent, pbuf, sizeof(pbuf)), name);
		s->res->skipped++;
		goto out;
	default:
		s->res->skipped++;
		goto out;
	}
	uint64_t dev = st.st_dev, ino = st.st_ino;
	int is_dir = e.type == MF_DIR, first_link = e.type == MF_FILE && st.st_nlink > 1;
	if ((idx = mf_add(s->mf, &e)) < 0) {
		rc = (int)idx;
		goto out;
	}
	if (first_link && (rc = hl_add(s, dev, ino, (uint32_t)idx)) < 0)
		goto out;
	if (is_dir) {
		long od = (o != NULL && o->type == MF_DIR) ? (long)oi : -1;
		rc = walk_dir(s, fd, (uint32_t)idx, od, depth + 1);
	}
out:
	if (fd >= 0)
		close(fd);
	mf_entry_clear(&e);
	return rc;
}

static int
walk_dir(struct save *s, int dirfd, uint32_t idx, long oidx, unsigned depth)
{
	char **names = NULL, pbuf[PATH_MAX];
	size_t n = 0, i;
	int rc;

	if ((rc = read_names(dirfd, &names, &n)) < 0) {
		fatal_err(s, rc, "cannot read directory %s: %s",
		    mf_path(s->mf, idx, pbuf, sizeof(pbuf)), strerror(-rc));
		return rc;
	}
	for (i = 0; i < n; i++) {
		char *nm = names[i];
		names[i] = NULL;
		if ((rc = walk_entry(s, dirfd, idx, oidx, nm, depth)) < 0 || atomic_load(&s->fatal))
			break;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc < 0 ? rc : atomic_load(&s->fatal);
}

static int
cmp_packuse(const void *a, const void *b)
{
	uint64_t x = ((const struct packuse *)a)->id, y = ((const struct packuse *)b)->id;
	return x < y ? -1 : x > y;
}

/* the entry for pack `id` in the sorted table pu[0..*n), added when missing
 * (there are few packs: a few per worker and GiB); NULL on ENOMEM */
static struct packuse *
packuse_get(struct packuse **pu, size_t *n, size_t *cap, uint64_t id)
{
	size_t lo = 0, hi = *n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((*pu)[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < *n && (*pu)[lo].id == id)
		return &(*pu)[lo];
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct packuse *nv = realloc(*pu, nc * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		*pu = nv;
		*cap = nc;
	}
	memmove(&(*pu)[lo + 1], &(*pu)[lo], (*n - lo) * sizeof(**pu));
	(*pu)[lo] = (struct packuse){ .id = id };
	(*n)++;
	return &(*pu)[lo];
}

/* s->pu: the bytes in each pack of the previous save (old_entry) */
static int
compact_packs(struct save *s)
{
	struct packuse *pu = s->pu, key;
	size_t n = s->npu;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < s->mf->n; i++) {
		const struct mf_entry *e = &s->mf->e[i];
		struct packuse *p;
		if (e->type != MF_FILE || !e->packed || (e->wflags & W_COPY))
			continue;
		key.id = e->obj;
		if ((p = bsearch(&key, pu, n, sizeof(*pu), cmp_packuse)) != NULL)
			p->live += e->size;
	}
	for (size_t i = 0; i < s->mf->n; i++) {
		struct mf_entry *e = &s->mf->e[i];
		struct packuse *p;
		if (e->type != MF_FILE || !e->packed || (e->wflags & W_COPY))
			continue;
		key.id = e->obj;
		p = bsearch(&key, pu, n, sizeof(*pu), cmp_packuse);
		if (p == NULL || p->live * 2 >= p->total)
			continue;
		e->wflags |= W_COPY;
		e->obj = 0;
		e->packed = 0;
		s->res->files_reused--;
		s->prog.files_total++;
		s->prog.bytes_total += e->size;
		s->need += e->size;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* phase 2: copy */

struct job {
	uint32_t	idx;
	int		fd;
};

static void
copy_job(void *p, void *arg)
{
	struct job *j = p;
	struct save *s = arg;
	struct mf_entry *e = &s->mf->e[j->idx];
	struct stat st1, st2;
	char name[32], pbuf[PATH_MAX];
	int ofd = -1, rc, werr = 0;
	uint64_t id = 0;
	struct sigw *sw = NULL;

	if (atomic_load(&s->fatal))
		goto out;
	if (fstat(j->fd, &st1) < 0 || !S_ISREG(st1.st_mode)) {
		slog_notice("%s was replaced during the save: left out",
		    mf_path(s->mf, j->idx, pbuf, sizeof(pbuf)));
		e->wflags |= MF_W_DROP;
		goto out;
	}
	entry_from_stat(e, &st1);
	for (uint32_t x = 0; x < e->nxattrs; x++) {	/* a re-copy: read them again */
		free(e->xattrs[x].name);
		free(e->xattrs[x].value);
	}
	free(e->xattrs);
	e->xattrs = NULL;
	e->nxattrs = 0;
	if ((rc = xattrs_get(j->fd, NULL, e)) < 0) {
		fatal_err(s, rc, "cannot read the xattrs of %s: %s",
		    mf_path(s->mf, j->idx, pbuf, sizeof(pbuf)), strerror(-rc));
		goto out;
	}
	/* made sparse since the walk (truncate -s 16T): a delta would read the holes */
	if ((e->wflags & W_DELTA) && (uint64_t)st1.st_blocks * 512 < e->size - e->size / 8) {
		e->wflags &= (uint16_t)~W_DELTA;
		e->obj = 0;
	}
	if ((e->wflags & W_DELTA) && e->size > 0) {
		unsigned char newhash[16];
		uint64_t w = 0;

		if (atomic_exchange(&s->deltas_marked, 1) == 0) {
			int mfd = openat(s->savefd, "DELTAS", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (mfd < 0) {
				rc = -errno;
				fatal_err(s, rc, "cannot create %s/DELTAS: %s", s->savedir, strerror(errno));
				goto out;
			}
			close(mfd);
		}
		id = e->obj;
		if ((ofd = objdir(s, id)) < 0) {
			rc = ofd;
			ofd = -1;
			fatal_err(s, rc, "cannot create %s/objects/%02x: %s", s->savedir,
			    (unsigned)(id & 0xff), strerror(-rc));
			goto out;
		}
		rc = delta_update(j->fd, e->size, ofd, id, s->mf->gen, e->hash,
		    newhash, &s->prog.bytes_done, &w, &werr);
		ofd = -1;	/* objects/XX: not ours to close */
		if (rc == 0) {
			memcpy(e->hash, newhash, 16);
			atomic_fetch_add(&s->written, 2 * w);	/* the log, then the object */
			atomic_fetch_add(&s->ndelta, 1);
			goto copied;
		}
		if (rc != -ENOENT && rc != -E2BIG && rc != -EPROTO) {
			if (werr && rc == -ENOSPC)
				fatal_err(s, rc, "target %s is full: the save needs about %s more "
				    "(free space there, or choose a larger target); the source is "
				    "untouched and the previous save intact", s->savedir,
				    fmt_bytes(s->need, pbuf, sizeof(pbuf)));
			else if (werr)
				fatal_err(s, rc, "cannot write to %s: %s", s->savedir, strerror(-rc));
			else
				fatal_err(s, rc, "cannot read %s/%s: %s", s->source,
				    mf_path(s->mf, j->idx, pbuf, sizeof(pbuf)), strerror(-rc));
			goto out;
		}
		/* no usable signature, or a delta bigger than the file's
		 * half: copy it whole into a new object */
		e->wflags &= (uint16_t)~W_DELTA;
		e->obj = 0;
	}
	if (e->size > 0 && e->size <= PACK_MAX &&
	    ((uint64_t)st1.st_blocks * 512 >= e->size || e->size <= 4096)) {
		struct pack *pk = tpack;
		if (pk == NULL || pk->off + e->size > PACK_SIZE) {
			if ((pk = calloc(1, sizeof(*pk))) == NULL) {
				fatal_err(s, -ENOMEM, "out of memory");
				goto out;
			}
			pk->id = atomic_fetch_add(&s->next_obj, 1);
			snprintf(name, sizeof(name), "%016llx", (unsigned long long)pk->id);
			if ((pk->fd = objdir(s, pk->id)) >= 0)
				pk->fd = openat(pk->fd, name,
				    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
			else
				errno = -pk->fd;
			if (pk->fd < 0) {
				rc = -errno;
				fatal_err(s, rc, "cannot create %s/objects/%02x/%s: %s", s->savedir,
				    (unsigned)(pk->id & 0xff), name, strerror(-rc));
				free(pk);
				goto out;
			}
			pthread_mutex_lock(&s->packmu);
			pk->next = s->packs;
			s->packs = pk;
			pthread_mutex_unlock(&s->packmu);
			tpack = pk;
		}
		rc = copy_range(j->fd, 0, pk->fd, pk->off, e->size, 0, e->hash,
		    &s->prog.bytes_done, &werr, NULL);
		if (rc == 0) {
			e->obj = pk->id;
			e->off = pk->off;
			e->packed = 1;
			pk->off += e->size;
			atomic_fetch_add(&s->written, e->size);
			goto copied;
		}
		goto failed;
	}
	if (e->size > 0) {
		id = atomic_fetch_add(&s->next_obj, 1);
		snprintf(name, sizeof(name), "%016llx", (unsigned long long)id);
		if ((ofd = objdir(s, id)) >= 0)
			ofd = openat(ofd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		else
			errno = -ofd;
		if (ofd < 0) {
			rc = -errno;
			fatal_err(s, rc, "cannot create %s/objects/%02x/%s: %s", s->savedir,
			    (unsigned)(id & 0xff), name, strerror(errno));
			goto out;
		}
	}
	if (ofd >= 0 && s->o->delta_min_size > 0 && e->size >= s->o->delta_min_size &&
	    (uint64_t)st1.st_blocks * 512 >= e->size - e->size / 8)
		sw = sigw_new();	/* the signature of a large file, as its data passes */
	rc = copy_data_sig(j->fd, ofd, e->size, (uint64_t)st1.st_blocks * 512 < e->size, e->hash,
	    &s->prog.bytes_done, &werr, sw);
failed:
	if (rc < 0) {
		if (werr && rc == -ENOSPC)
			fatal_err(s, rc, "target %s is full: the save needs about %s more "
			    "(free space there, or choose a larger target); the source is untouched "
			    "and the previous save intact", s->savedir,
			    fmt_bytes(s->need, pbuf, sizeof(pbuf)));
		else if (werr)
			fatal_err(s, rc, "cannot write to %s: %s", s->savedir, strerror(-rc));
		else
			fatal_err(s, rc, "cannot read %s/%s: %s", s->source,
			    mf_path(s->mf, j->idx, pbuf, sizeof(pbuf)), strerror(-rc));
		goto out;
	}
	e->obj = id;
	e->packed = 0;
	atomic_fetch_add(&s->written, (uint64_t)st1.st_blocks * 512);
	if (sw != NULL) {
		char sname[40];
		snprintf(sname, sizeof(sname), "%s.sig", name);
		if (sigw_write(sw, objdir(s, id), sname, e->hash) < 0)
			slog_info("no signature for %s: its next change is copied whole",
			    mf_path(s->mf, j->idx, pbuf, sizeof(pbuf)));
	}
copied:
	e->flags |= MF_F_HASH2;		/* copy_range and delta_update compute version 2 */
	if (fstat(j->fd, &st2) == 0 && (st2.st_size != st1.st_size ||
	    st2.st_mtim.tv_sec != st1.st_mtim.tv_sec || st2.st_mtim.tv_nsec != st1.st_mtim.tv_nsec ||
	    st2.st_ctim.tv_sec != st1.st_ctim.tv_sec || st2.st_ctim.tv_nsec != st1.st_ctim.tv_nsec)) {
		e->flags |= MF_F_CHANGED;
		pthread_mutex_lock(&s->mu);
		s->res->changed++;
		pthread_mutex_unlock(&s->mu);
		if (!s->o->prestage)
			slog_notice("%s changed while it was saved: the saved copy may be torn "
			    "(the next save copies it again)", mf_path(s->mf, j->idx, pbuf, sizeof(pbuf)));
	}
	atomic_fetch_add((_Atomic uint64_t *)&s->prog.files_done, 1);
	stor_crashpoint("save-object");
out:
	sigw_free(sw);
	if (ofd >= 0)
		close(ofd);
	close(j->fd);
	free(j);
}

static int
copy_phase(struct save *s)
{
	struct dirstack ds = { 0 };
	struct wq *q = NULL;
	long badparent = -1;
	char pbuf[PATH_MAX];
	int nw = s->o->workers > 0 ? s->o->workers : workers_auto(s->savefd, 1), rc = 0, fd;

	if ((fd = dup(s->srcfd)) < 0)
		return -errno;
	ds.v = NULL;
	if ((ds.v = malloc(64 * sizeof(ds.v[0]))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	ds.cap = 64;
	ds.v[0].idx = 0;
	ds.v[0].fd = fd;
	ds.n = 1;
	if ((q = wq_new(nw, copy_job, s)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 1; i < s->mf->n && !atomic_load(&s->fatal); i++) {
		struct mf_entry *e = &s->mf->e[i];
		struct job *j;
		int dfd, ffd;

		if (!(e->wflags & W_COPY))
			continue;
		if ((long)e->parent == badparent) {
			e->wflags |= MF_W_DROP;
			continue;
		}
		dfd = dirstack_goto(&ds, s->mf, e->parent, NULL, NULL);
		if (dfd < 0) {
			if (dfd == -ENOMEM) {
				rc = dfd;
				break;
			}
			slog_notice("directory %s vanished or was replaced during the save: "
			    "its files are left out", mf_path(s->mf, e->parent, pbuf, sizeof(pbuf)));
			badparent = e->parent;
			e->wflags |= MF_W_DROP;
			s->res->vanished++;
			continue;
		}
		ffd = safe_openat(dfd, e->name, O_RDONLY | O_NONBLOCK | O_NOATIME, 0, 0);
		if (ffd == -EPERM)
			ffd = safe_openat(dfd, e->name, O_RDONLY | O_NONBLOCK, 0, 0);
		if (ffd < 0) {
			if (ffd == -ENOENT || ffd == -ELOOP || ffd == -ENOTDIR || ffd == -ENXIO) {
				slog_notice("%s vanished or was replaced during the save: left out",
				    mf_path(s->mf, i, pbuf, sizeof(pbuf)));
				e->wflags |= MF_W_DROP;
				s->res->vanished++;
				continue;
			}
			rc = ffd;
			fatal_err(s, rc, "cannot open %s/%s: %s", s->source,
			    mf_path(s->mf, i, pbuf, sizeof(pbuf)), strerror(-ffd));
			break;
		}
		if ((j = malloc(sizeof(*j))) == NULL) {
			close(ffd);
			rc = -ENOMEM;
			break;
		}
		j->idx = (uint32_t)i;
		j->fd = ffd;
		wq_push(q, j);
	}
out:
	wq_finish(q);
	dirstack_clear(&ds, NULL, NULL);
	while (s->packs != NULL) {
		struct pack *pk = s->packs;
		s->packs = pk->next;
		if (close(pk->fd) < 0 && rc == 0 && atomic_load(&s->fatal) == 0)
			fatal_err(s, -errno, "cannot write to %s: %s", s->savedir, strerror(errno));
		free(pk);
	}
	if (rc == 0)
		rc = atomic_load(&s->fatal);
	return rc;
}

/* ------------------------------------------------------------------ */
/* objects: creation of the fan-out, garbage collection */

struct objdirs {
	struct save	*s;
	atomic_int	 next, err;
};

static void *
objdirs_run(void *arg)
{
	struct objdirs *od = arg;
	int i;

	while ((i = atomic_fetch_add(&od->next, 1)) < 256 && atomic_load(&od->err) == 0) {
		char nm[4];
		int fd;

		snprintf(nm, sizeof(nm), "%02x", i);
		fd = safe_openat(od->s->objsfd, nm, O_RDONLY | O_DIRECTORY, 0, 0);
		if (fd == -ENOENT)
			continue;	/* made when an object goes there */
		if (fd < 0) {
			atomic_store(&od->err, fd);
			break;
		}
		__atomic_store_n(&od->s->objfd[i], fd, __ATOMIC_RELEASE);
	}
	return NULL;
}

/*
 * objects/ (created if missing) and those of its 256 directories that
 * exist, opened; the others are made when the first object goes there
 * (objdir).  On a network target every directory is round trips (lookup,
 * mkdir, open), and mkdirs in one directory are serialized by the client's
 * lock on it: making all 256 up front cost a first save ~0.5 s at 1 ms per
 * operation and ~1.5 s at 3 ms (tests/bench/bench-network.sh), when a save
 * of small files uses one pack per worker.  The opens of an existing
 * fan-out are lookups, which run in parallel: 16 threads.  *fresh: objects/
 * was created now (it holds nothing to clean up).  Restore and verify take
 * a missing objects/XX as holding no object.
 */
static int
open_objdirs(struct save *s, int *fresh)
{
	struct objdirs od = { .s = s };
	pthread_t th[16];
	int nth = 0;

	*fresh = 0;
	if (mkdirat(s->savefd, "objects", 0700) == 0)
		*fresh = 1;
	else if (errno != EEXIST)
		return -errno;
	if ((s->objsfd = safe_openat(s->savefd, "objects", O_RDONLY | O_DIRECTORY, 0, 0)) < 0)
		return s->objsfd;
	if (*fresh)
		return 0;
	for (; nth < 16; nth++)
		if (pthread_create(&th[nth], NULL, objdirs_run, &od) != 0)
			break;
	objdirs_run(&od);	/* this thread too (all of it if none started) */
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	return atomic_load(&od.err);
}

/* objects/XX for object id, made and opened when missing: its fd, or -errno */
static int
objdir(struct save *s, uint64_t id)
{
	unsigned b = (unsigned)(id & 0xff);
	int fd = __atomic_load_n(&s->objfd[b], __ATOMIC_ACQUIRE);
	char nm[4];

	if (fd >= 0)
		return fd;
	pthread_mutex_lock(&s->objmu);
	if ((fd = s->objfd[b]) < 0) {
		snprintf(nm, sizeof(nm), "%02x", b);
		if (mkdirat(s->objsfd, nm, 0700) < 0 && errno != EEXIST)
			fd = -errno;
		else if ((fd = safe_openat(s->objsfd, nm, O_RDONLY | O_DIRECTORY, 0, 0)) >= 0)
			__atomic_store_n(&s->objfd[b], fd, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->objmu);
	return fd;
}

static int
cmpu64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* ids[0..n) sorted, each once; returns the new count */
static size_t
sort_uniq(uint64_t *ids, size_t n)
{
	size_t m = 0;

	if (n == 0)
		return 0;
	qsort(ids, n, sizeof(*ids), cmpu64);
	for (size_t i = 0; i < n; i++)
		if (m == 0 || ids[m - 1] != ids[i])
			ids[m++] = ids[i];
	return m;
}

/*
 * The object ids mf refers to, sorted, in a malloc'd array. 0 or -ENOMEM.
 * The workers' packs interleave, so the runs of one id are about as many as
 * the small files while the ids are few: the array is sorted and made
 * distinct whenever it fills, and grows only when that leaves it more than
 * half full (one slot per run was 8 bytes a file, 15 MiB at 2M files, at
 * the end of a save when the manifest is largest).
 */
static int
ids_add(struct idset *is, uint64_t id)
{
	if (id == 0 || id == is->last)
		return 0;
	is->last = id;
	if (is->n == is->cap && (is->n = sort_uniq(is->ids, is->n)) + 1 > is->cap / 2) {
		size_t nc = is->cap ? is->cap * 2 : 1024;
		uint64_t *nv = realloc(is->ids, nc * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		is->ids = nv;
		is->cap = nc;
	}
	is->ids[is->n++] = id;
	return 0;
}

/* sorted and distinct now; never NULL (an empty set is not "no set") */
static int
ids_done(struct idset *is)
{
	if (is->ids == NULL && (is->ids = malloc(sizeof(*is->ids))) == NULL)
		return -ENOMEM;
	is->n = sort_uniq(is->ids, is->n);
	return 0;
}

static int
collect_ids(const struct manifest *mf, uint64_t **out, size_t *nout)
{
	struct idset is = { 0 };

	*out = NULL;
	*nout = 0;
	for (size_t i = 0; i < mf->n; i++) {
		const struct mf_entry *e = &mf->e[i];
		if (e->type != MF_FILE || (e->wflags & MF_W_DROP))
			continue;
		if (ids_add(&is, e->obj) < 0) {
			free(is.ids);
			return -ENOMEM;
		}
	}
	if (ids_done(&is) < 0) {
		free(is.ids);
		return -ENOMEM;
	}
	*out = is.ids;
	*nout = is.n;
	return 0;
}

/* pass 1 over the previous manifest (mf_stream_open): its objects, and the
 * bytes in each of its packs (the table is per pack, not per run of one
 * pack's files: the workers' packs interleave, so runs are as many as
 * files) */
static int
old_entry(const struct mf_entry *e, void *arg)
{
	struct save *s = arg;

	if (e->type != MF_FILE || e->obj == 0)
		return 0;
	if (ids_add(&s->oids, e->obj) < 0)
		return -ENOMEM;
	if (e->packed) {
		if (s->pu_cur == NULL || s->pu_cur->id != e->obj) {
			s->pu_cur = packuse_get(&s->pu, &s->npu, &s->capu, e->obj);
			if (s->pu_cur == NULL)
				return -ENOMEM;
		}
		s->pu_cur->total += e->size;
	}
	return 0;
}

static void
old_forget(struct save *s)	/* what old_entry collected */
{
	free(s->oids.ids);
	memset(&s->oids, 0, sizeof(s->oids));
	free(s->pu);
	s->pu = s->pu_cur = NULL;
	s->npu = s->capu = 0;
}

/* Remove every object (and leftover temp file) that is not in ids[n]
 * (ids NULL: remove them all). */
static int
gc_ids(struct save *s, const uint64_t *ids, size_t n, int crashpoints)
{
	int rc = 0;

	for (int b = 0; b < 256; b++) {
		int fd;
		DIR *d;
		struct dirent *de;

		if (s->objfd[b] < 0)
			continue;	/* not made: nothing in it */
		fd = dup(s->objfd[b]);

		if (fd < 0 || (d = fdopendir(fd)) == NULL) {
			if (fd >= 0)
				close(fd);
			rc = -errno;
			break;
		}
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			char *end;
			uint64_t id;

			if (de->d_name[0] == '.')
				continue;
			errno = 0;
			id = strtoull(de->d_name, &end, 16);
			if (errno == 0 && (*end == '\0' || strcmp(end, ".sig") == 0) && ids != NULL &&
			    bsearch(&id, ids, n, sizeof(*ids), cmpu64) != NULL)
				continue;	/* an object, or its signature, still referred to */
			if (unlinkat(s->objfd[b], de->d_name, 0) < 0 && errno != ENOENT) {
				rc = -errno;
				continue;
			}
			if (crashpoints)
				stor_crashpoint("save-gc");
		}
		closedir(d);
	}
	return rc;
}

/* Remove every object mf does not refer to (mf NULL: all of them). */
/*
 * SAVING marks a save directory in which a save may have left objects no
 * manifest refers to: it is made (durably) before the first object of a
 * run is created and removed when the run has cleaned up after itself.  A
 * run that finds it scans objects/ (256 directories) for what no manifest
 * refers to; a clean run never lists objects/, it removes by id the objects
 * that its new manifest replaced.  (The two scans of every save were most
 * of a no-change save on a cold cache, and are 512 round trips on EFS.)
 */
#define SAVING "SAVING"

static int
mark_saving(struct save *s)
{
	int fd;

	if (s->marked || s->dirty)
		return 0;
	fd = openat(s->savefd, SAVING, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	if (fsync(s->savefd) < 0)
		return -errno;
	s->marked = 1;
	return 0;
}

/* Remove the objects (and signatures) in old[] but not in cur[] (both
 * sorted), by name. */
static int
gc_replaced(struct save *s, const uint64_t *old, size_t nold, const uint64_t *cur, size_t ncur)
{
	size_t j = 0;
	int rc = 0;

	for (size_t i = 0; i < nold; i++) {
		char nm[40];
		while (j < ncur && cur[j] < old[i])
			j++;
		if (j < ncur && cur[j] == old[i])
			continue;
		for (int sig = 0; sig < 2; sig++) {
			snprintf(nm, sizeof(nm), "%016llx%s", (unsigned long long)old[i],
			    sig ? ".sig" : "");
			if (s->objfd[old[i] & 0xff] >= 0 &&
			    unlinkat(s->objfd[old[i] & 0xff], nm, 0) < 0 && errno != ENOENT)
				rc = -errno;
		}
		stor_crashpoint("save-gc");
	}
	return rc;
}

static int
gc_objects(struct save *s, const struct manifest *mf, int crashpoints)
{
	uint64_t *ids = NULL;
	size_t n = 0;
	int rc;

	if (mf != NULL && (rc = collect_ids(mf, &ids, &n)) < 0)
		return rc;
	rc = gc_ids(s, ids, n, crashpoints);
	free(ids);
	return rc;
}

/* ------------------------------------------------------------------ */

static int
path_inside(const char *a, const char *b)	/* a is b or below b (real paths) */
{
	size_t n = strlen(b);
	if (n == 1)
		return 1;
	return strncmp(a, b, n) == 0 && (a[n] == '/' || a[n] == '\0');
}

int
stor_save(const char *source, const char *savedir, const struct stor_opts *opts,
    struct stor_result *res)
{
	static const struct stor_opts defopts;
	struct save s = { 0 };
	struct progress_thread *pt = NULL;
	char err[256], b1[32], b2[32], *rsrc = NULL, *rsave = NULL;
	struct stat st;
	struct statvfs sv;
	double t0 = now_mono();
	int rc, lockfd = -1, fresh = 0;

	memset(res, 0, sizeof(*res));
	s.o = opts ? opts : &defopts;
	s.res = res;
	s.source = source;
	s.savedir = savedir;
	s.srcfd = s.savefd = -1;
	for (int i = 0; i < 256; i++)
		s.objfd[i] = -1;
	s.objsfd = -1;
	pthread_mutex_init(&s.objmu, NULL);
	pthread_mutex_init(&s.mu, NULL);
	pthread_mutex_init(&s.packmu, NULL);
	raise_nofile();

	if ((rc = excl_new(s.o->exclude, s.o->nexclude, &s.excl, res->errmsg,
	    sizeof(res->errmsg))) < 0) {
		if (rc == -ENOMEM)
			seterr(res, rc, "out of memory");
		goto out;
	}
	if ((s.srcfd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = seterr(res, -errno, "cannot open the source %s: %s", source, strerror(errno));
		goto out;
	}
	if ((rc = stor_mkdir_p(savedir, 0700)) < 0) {
		rc = seterr(res, rc, "cannot create the save directory %s: %s", savedir, strerror(-rc));
		goto out;
	}
	if ((s.savefd = open(savedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = seterr(res, -errno, "cannot open the save directory %s: %s", savedir,
		    strerror(errno));
		goto out;
	}
	rsrc = realpath(source, NULL);
	rsave = realpath(savedir, NULL);
	if (rsrc != NULL && rsave != NULL && (path_inside(rsave, rsrc) || path_inside(rsrc, rsave))) {
		rc = seterr(res, -EINVAL, "the save directory %s and the source %s overlap "
		    "(choose a target outside the source)", savedir, source);
		goto out;
	}
	if ((lockfd = savedir_lock(s.savefd)) < 0) {
		rc = seterr(res, lockfd, lockfd == -EBUSY ?
		    "%s is in use by another pcm-agent save, restore or verify" :
		    "cannot lock %s: %s", savedir, strerror(-lockfd));
		goto out;
	}
	if ((rc = open_objdirs(&s, &fresh)) < 0) {
		rc = seterr(res, rc, "cannot create %s/objects: %s", savedir, strerror(-rc));
		goto out;
	}
	/* the previous manifest: checked whole, its object ids and pack use
	 * taken, then read again beside the walk (not held in memory) */
	rc = mf_stream_open(s.savefd, old_entry, &s, &s.old, err, sizeof(err));
	if (rc < 0)
		old_forget(&s);
	if (rc == -EBADMSG)
		slog_notice("the previous save in %s is not complete (%s): making a full save",
		    savedir, err);
	else if (rc < 0 && rc != -ENOENT) {
		rc = seterr(res, rc, "cannot read %s/MANIFEST: %s", savedir, err);
		goto out;
	}
	if (s.old != NULL) {
		if (ids_done(&s.oids) < 0) {
			rc = seterr(res, -ENOMEM, "out of memory");
			goto out;
		}
		s.old_ids = s.oids.ids;
		s.n_old_ids = s.oids.n;
		s.oids.ids = NULL;
		s.have_old_ids = 1;
		if (!mf_stream_sorted(s.old))
			slog_notice("%s/MANIFEST does not list its entries in the order pcm-agent "
			    "writes them: every file is copied again", savedir);
	}
	{
		int applied;
		const struct manifest *om = s.old ? mf_stream_meta(s.old) : NULL;
		if ((rc = delta_recover(s.savefd, s.objfd, om ? om->gen : 0, &applied)) < 0) {
			rc = seterr(res, rc, "cannot apply the pending delta logs in %s: %s",
			    savedir, strerror(-rc));
			goto out;
		}
		if (applied > 0)
			slog_notice("%s: finished applying %d delta logs of an interrupted save",
			    savedir, applied);
	}
	/* objects from a crashed or failed run: nothing refers to them */
	s.dirty = faccessat(s.savefd, SAVING, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if ((s.dirty || (s.old == NULL && !fresh)) &&
	    (rc = gc_ids(&s, s.old ? s.old_ids : NULL, s.n_old_ids, 0)) < 0) {
		rc = seterr(res, rc, "cannot clean %s/objects: %s", savedir, strerror(-rc));
		goto out;
	}
	unlinkat(s.savefd, "MANIFEST.tmp", 0);

	/* phase 1: walk */
	if ((s.mf = mf_new()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (s.old != NULL) {
		size_t on = mf_stream_count(s.old);
		if (mf_reserve(s.mf, on + on / 16 + 1024) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		s.next_obj = mf_stream_meta(s.old)->next_obj;
		s.mf->gen = mf_stream_meta(s.old)->gen + 1;
	} else {
		s.next_obj = 1;
		s.mf->gen = 1;
	}
	{
		struct mf_entry root = { 0 };
		if (fstat(s.srcfd, &st) < 0 || (root.name = strdup(".")) == NULL) {
			rc = seterr(res, -ENOMEM, "cannot stat %s", source);
			goto out;
		}
		s.srcdev = st.st_dev;
		entry_from_stat(&root, &st);
		root.type = MF_DIR;
		if ((rc = xattrs_get(s.srcfd, NULL, &root)) < 0) {
			mf_entry_clear(&root);
			rc = seterr(res, rc, "cannot read the xattrs of %s: %s", source, strerror(-rc));
			goto out;
		}
		if ((rc = (int)mf_add(s.mf, &root)) < 0)
			goto out;
	}
	pt = progress_start(s.o, &s.prog);
	if ((rc = walk_dir(&s, s.srcfd, 0, s.old ? 0 : -1, 0)) < 0) {
		seterr(res, rc, "cannot walk %s: %s", source, strerror(-rc));
		goto out;
	}
	if (s.old != NULL) {
		/* each previous entry is found at most once (names are unique);
		 * in a manifest out of order nothing is looked for: not known */
		if (mf_stream_sorted(s.old))
			res->removed = mf_stream_count(s.old) - 1 - mf_stream_matched(s.old);
		if ((rc = compact_packs(&s)) < 0)
			goto out;
		mf_stream_close(s.old);
		s.old = NULL;
	}
	old_forget(&s);

	/* the space it takes */
	if (fstatvfs(s.savefd, &sv) == 0) {
		uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
		uint64_t need = s.need + (uint64_t)s.mf->n * 200;
		if (need > avail) {
			rc = seterr(res, -ENOSPC, "target %s has %s free, the save needs %s "
			    "(free space there, or choose a larger target); the source is untouched "
			    "and the previous save intact", savedir, fmt_bytes(avail, b1, sizeof(b1)),
			    fmt_bytes(need, b2, sizeof(b2)));
			goto out;
		}
	}

	stor_crashpoint("save-checked");

	/* phase 2: copy (marked first when it will create objects) */
	for (size_t i = 0; i < s.mf->n; i++)
		if (s.mf->e[i].wflags & (W_COPY | W_DELTA)) {
			if ((rc = mark_saving(&s)) < 0) {
				rc = seterr(res, rc, "cannot write %s/" SAVING ": %s", savedir,
				    strerror(-rc));
				goto out;
			}
			break;
		}
	if ((rc = copy_phase(&s)) < 0)
		goto out;
	if (syncfs(s.savefd) < 0) {
		rc = seterr(res, -errno, "cannot sync %s: %s", savedir, strerror(errno));
		goto out;
	}
	stor_crashpoint("save-synced");

	/* the manifest, last */
	s.mf->next_obj = atomic_load(&s.next_obj);
	s.mf->created = time(NULL);
	s.mf->prestage = s.o->prestage;
	s.mf->source = rsrc ? strdup(rsrc) : strdup(source);
	s.mf->cluster = s.o->cluster ? strdup(s.o->cluster) : NULL;
	s.mf->instance = s.o->instance ? strdup(s.o->instance) : NULL;
	if ((rc = mf_write_tmp(s.savefd, s.mf)) < 0) {
		if (rc == -ENOSPC)
			seterr(res, rc, "target %s is full: no room for the manifest (free space "
			    "there); the previous save is intact", savedir);
		else
			seterr(res, rc, "cannot write %s/MANIFEST.tmp: %s", savedir, strerror(-rc));
		unlinkat(s.savefd, "MANIFEST.tmp", 0);
		goto out;
	}
	stor_crashpoint("save-manifest");
	if (renameat(s.savefd, "MANIFEST.tmp", s.savefd, "MANIFEST") < 0 || fsync(s.savefd) < 0) {
		rc = seterr(res, -errno, "cannot put %s/MANIFEST in place: %s", savedir,
		    strerror(errno));
		goto out;
	}
	stor_crashpoint("save-renamed");
	{
		/* this run's logs: it knows their objects (no scan of objects/) */
		int applied;
		uint64_t *dids = NULL;
		size_t nd = 0;
		for (size_t i = 0; i < s.mf->n; i++)
			if ((s.mf->e[i].wflags & W_DELTA) && !(s.mf->e[i].wflags & MF_W_DROP))
				nd++;
		if (nd > 0 && (dids = malloc(nd * sizeof(*dids))) == NULL)
			rc = -ENOMEM;
		else {
			nd = 0;
			for (size_t i = 0; i < s.mf->n; i++)
				if ((s.mf->e[i].wflags & W_DELTA) && !(s.mf->e[i].wflags & MF_W_DROP))
					dids[nd++] = s.mf->e[i].obj;
			rc = delta_apply_ids(s.savefd, s.objfd, dids, nd, s.mf->gen, &applied);
		}
		free(dids);
		if (rc < 0) {
			rc = seterr(res, rc, "cannot apply the delta logs in %s: %s (the next save, "
			    "restore or verify retries)", savedir, strerror(-rc));
			goto out_committed;
		}
	}
	{
		/* what the new manifest no longer refers to: by id, or by a scan
		 * after a crash or when this run left entries out (their objects
		 * may have been made); a first save into a new objects/ has
		 * nothing to remove (256 directories listed: 512 round trips) */
		int scan = s.dirty || (!s.have_old_ids && !fresh);
		uint64_t *ids = NULL;
		size_t n = 0;
		for (size_t i = 0; i < s.mf->n && !scan; i++)
			if (s.mf->e[i].wflags & MF_W_DROP)
				scan = 1;
		if (scan)
			rc = gc_objects(&s, s.mf, 1);
		else if ((rc = collect_ids(s.mf, &ids, &n)) == 0)
			rc = gc_replaced(&s, s.old_ids, s.n_old_ids, ids, n);
		free(ids);
		if (rc < 0) {
			slog_notice("cannot remove old objects from %s: %s (the next save retries)",
			    savedir, strerror(-rc));
			mark_saving(&s);	/* so that it does */
		} else if ((s.dirty || s.marked) && unlinkat(s.savefd, SAVING, 0) < 0 &&
		    errno != ENOENT) {
			slog_notice("cannot remove %s/" SAVING ": %s (the next save scans its "
			    "objects)", savedir, strerror(errno));
		}
	}
	rc = 0;
	for (size_t i = 0; i < s.mf->n; i++) {
		const struct mf_entry *e = &s.mf->e[i];
		if (e->wflags & MF_W_DROP)
			continue;
		res->entries++;
		if (e->type == MF_FILE) {
			res->files++;
			res->bytes += e->size;
			if (e->wflags & W_COPY) {
				res->files_copied++;
				res->bytes_copied += e->size;
			}
		}
	}
	res->files_delta = atomic_load(&s.ndelta);
	res->bytes_written = atomic_load(&s.written);
	if (0) {
out_committed:
		/* committed: the objects of the new manifest must stay */
		progress_stop(pt);
		pt = NULL;
		goto done;
	}
out:
	progress_stop(pt);
	/* the new objects of a failed save */
	if (rc < 0 && s.mf != NULL && s.objsfd >= 0) {
		if (s.have_old_ids)
			gc_ids(&s, s.old_ids, s.n_old_ids, 0);
		else
			gc_objects(&s, NULL, 0);
	}
done:
	if (rc < 0 && res->errmsg[0] == '\0')
		seterr(res, rc, "cannot save %s to %s: %s", source, savedir, strerror(-rc));
	res->seconds = now_mono() - t0;
	for (int i = 0; i < 256; i++)
		if (s.objfd[i] >= 0)
			close(s.objfd[i]);
	if (s.objsfd >= 0)
		close(s.objsfd);
	pthread_mutex_destroy(&s.objmu);
	if (lockfd >= 0)
		close(lockfd);
	if (s.srcfd >= 0)
		close(s.srcfd);
	if (s.savefd >= 0)
		close(s.savefd);
	free(s.hl);
	free(s.old_ids);
	old_forget(&s);
	free(rsrc);
	free(rsave);
	mf_stream_close(s.old);
	mf_free(s.mf);
	excl_free(s.excl);
	pthread_mutex_destroy(&s.mu);
	pthread_mutex_destroy(&s.packmu);
	return rc;
}
