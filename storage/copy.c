/* SPDX-License-Identifier: GPL-2.0-or-later */
/* copy.c - file data (holes kept, checksummed as it passes), xattrs, the
 * worker queue and the progress thread shared by save, restore and verify */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "priv.h"

#define BUFSZ		(4u << 20)
#define DIRECT_MIN	(8u << 20)	/* files from this size bypass the page cache */
#define DALIGN		4096u

static __thread unsigned char *tbuf;
static const unsigned char zeros[65536];

static unsigned char *
thread_buf(void)
{
	if (tbuf == NULL && posix_memalign((void **)&tbuf, 4096, BUFSZ) != 0)
		tbuf = NULL;
	return tbuf;
}

/*
 * The content checksum.  Version 1 (manifests before this one): XXH3-128
 * of the logical content, holes hashed as zeros, so a 16 TiB sparse file
 * cost 16 TiB of hashing.  Version 2 (MF_F_HASH2): the file is cut in
 * aligned CH_BLK blocks (the last one as long as what is left of the
 * file); each block that is not all zeros contributes its index (8 bytes,
 * big-endian) and its bytes, in order; then the size (8 bytes).  That is a
 * function of the logical content only (any layout of holes verifies, a
 * filesystem without SEEK_DATA too), and holes cost nothing: they are
 * never read nor hashed, only the map of the blocks that hold data is.
 * Zeros that were written are read (they are allocated) and skipped like
 * holes.  One chash at a time per thread (it uses the thread's block
 * buffer).
 */
#define CH_BLK	(64u << 10)

static __thread unsigned char *chbuf;

void
chash_init(struct chash *h, int v2)
{
	memset(h, 0, sizeof(*h));
	h->v2 = v2;
	XXH3_128bits_reset(&h->st);
}

static int
all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static void
ch_block(struct chash *h, uint64_t idx, const unsigned char *p, size_t len)
{
	unsigned char be[8];

	if (all_zero(p, len))
		return;
	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)(idx >> (56 - 8 * i));
	XXH3_128bits_update(&h->st, be, 8);
	XXH3_128bits_update(&h->st, p, len);
}

/* the buffered block is done; it is len bytes long (CH_BLK but the last) */
static void
ch_flush(struct chash *h, size_t len)
{
	if (!h->have)
		return;
	if (len > h->hi)
		memset(h->buf + h->hi, 0, len - h->hi);
	ch_block(h, h->blk, h->buf, len);
	h->have = 0;
}

/* n bytes of content at logical offset off (offsets increasing; what was
 * not fed is zeros) */
void
chash_feed(struct chash *h, uint64_t off, const void *data, size_t n)
{
	const unsigned char *p = data;

	if (!h->v2) {
		if (off > h->pos)
			chash_zeros(h, off - h->pos);
		XXH3_128bits_update(&h->st, p, n);
		h->pos = off + n;
		return;
	}
	while (n > 0) {
		uint64_t b = off / CH_BLK;
		size_t in = (size_t)(off % CH_BLK), c;

		if (h->have && h->blk != b)
			ch_flush(h, CH_BLK);	/* data follows: not the last block */
		if (!h->have && in == 0 && n >= CH_BLK) {
			ch_block(h, b, p, CH_BLK);
			off += CH_BLK;
			p += CH_BLK;
			n -= CH_BLK;
			continue;
		}
		if (!h->have) {
			if (chbuf == NULL && (chbuf = malloc(CH_BLK)) == NULL) {
				h->oom = 1;
				return;
			}
			h->buf = chbuf;
			h->blk = b;
			h->hi = 0;
			h->have = 1;
		}
		if (in > h->hi)
			memset(h->buf + h->hi, 0, in - h->hi);	/* a hole inside the block */
		c = CH_BLK - in < n ? CH_BLK - in : n;
		memcpy(h->buf + in, p, c);
		h->hi = in + c;
		off += c;
		p += c;
		n -= c;
		if (h->hi == CH_BLK)
			ch_flush(h, CH_BLK);
	}
	h->pos = off;
}

/* n bytes of zeros at the current position (a hole): version 1 only */
void
chash_zeros(struct chash *h, uint64_t n)
{
	if (h->v2) {
		h->pos += n;
		return;
	}
	while (n > 0) {
		size_t c = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;
		XXH3_128bits_update(&h->st, zeros, c);
		n -= c;
		h->pos += c;
	}
}

/* the checksum of `size` bytes of content; 0 or -ENOMEM */
int
chash_final(struct chash *h, uint64_t size, unsigned char out[16])
{
	XXH128_canonical_t c;

	if (h->v2) {
		unsigned char be[8];
		if (h->have) {
			uint64_t left = size > h->blk * CH_BLK ? size - h->blk * CH_BLK : 0;
			ch_flush(h, left < CH_BLK ? (size_t)left : CH_BLK);
		}
		for (int i = 0; i < 8; i++)
			be[i] = (unsigned char)(size >> (56 - 8 * i));
		XXH3_128bits_update(&h->st, be, 8);
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&h->st));
	memcpy(out, c.digest, 16);
	h->have = 0;
	return h->oom ? -ENOMEM : 0;
}

static void
sig_zeros(struct sigw *sw, uint64_t n)
{
	while (sw != NULL && n > 0) {
		size_t c = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;
		sigw_feed(sw, zeros, c);
		n -= c;
	}
}

static int
write_all(int fd, const unsigned char *p, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int
set_direct(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? fl | O_DIRECT : fl & ~O_DIRECT;
	return fcntl(fd, F_SETFL, fl);
}

static int direct_off = -1;

/*
 * Large files at once: each streams 4 MiB requests and hashes (XXH3,
 * librsync signature) between them, so a few keep the disk busy; more only
 * interleave.  Four per CPU (8 on 2 CPUs measured best, see workers_auto),
 * whatever the worker count that the small files want.
 */
static pthread_once_t big_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t big_cv = PTHREAD_COND_INITIALIZER;
static int big_free;

static void
big_init(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	big_free = ncpu < 1 ? 4 : ncpu > 4 ? 16 : (int)ncpu * 4;	/* 4 to 16 */
}

static void
big_get(void)
{
	pthread_once(&big_once, big_init);
	pthread_mutex_lock(&big_mu);
	while (big_free == 0)
		pthread_cond_wait(&big_cv, &big_mu);
	big_free--;
	pthread_mutex_unlock(&big_mu);
}

static void
big_put(void)
{
	pthread_mutex_lock(&big_mu);
	big_free++;
	pthread_cond_signal(&big_cv);
	pthread_mutex_unlock(&big_mu);
}

/*
 * Large files are copied with O_DIRECT on both sides: a buffered copy is
 * CPU-bound in the kernel here (page cache), a direct one runs at the
 * disk's speed for a fraction of the CPU (see tests/bench).  Off when the
 * filesystem refuses it, or with PCM_NO_DIRECT=1 (for the benchmark).
 */
static int
want_direct(int src, int dst, uint64_t size)
{
	if (direct_off < 0) {
		const char *e = getenv("PCM_NO_DIRECT");
		direct_off = e != NULL && *e != '\0' && strcmp(e, "0") != 0;
	}
	if (direct_off || size < DIRECT_MIN)
		return 0;
	if (set_direct(src, 1) < 0)
		return 0;
	if (dst >= 0 && set_direct(dst, 1) < 0) {
		set_direct(src, 0);
		return 0;
	}
	return 1;
}

static void
end_direct(int src, int dst, int *direct)
{
	if (*direct) {
		set_direct(src, 0);
		if (dst >= 0)
			set_direct(dst, 0);
		*direct = 0;
	}
}

int
copy_data(int src, int dst, uint64_t size, int maybe_sparse, unsigned char hash[16],
    uint64_t *progress, int *werr)
{
	return copy_range(src, 0, dst, 0, size, CD_WHOLE | (maybe_sparse ? CD_SPARSE : 0), hash,
	    progress, werr, NULL);
}

int
copy_data_sig(int src, int dst, uint64_t size, int maybe_sparse, unsigned char hash[16],
    uint64_t *progress, int *werr, struct sigw *sw)
{
	return copy_range(src, 0, dst, 0, size, CD_WHOLE | (maybe_sparse ? CD_SPARSE : 0), hash,
	    progress, werr, sw);
}

int
copy_range(int src, uint64_t soff, int dst, uint64_t doff, uint64_t size, int flags,
    unsigned char hash[16], uint64_t *progress, int *werr, struct sigw *sw)
{
	unsigned char *buf = thread_buf();
	struct chash st;
	uint64_t off = 0;
	int rc = 0, direct = 0, trunc = 0, big = 0;
	int maybe_sparse = (flags & CD_SPARSE) && soff == 0;

	*werr = 0;
	if (buf == NULL)
		return -ENOMEM;
	if (soff == 0 && doff == 0 && (flags & CD_WHOLE))
		direct = want_direct(src, dst, size);
	if (size >= DIRECT_MIN) {
		big_get();
		big = 1;
	}
	chash_init(&st, !(flags & CD_HASH1));
	if (maybe_sparse)
		trunc = 1;	/* a trailing hole is made by ftruncate */
	while (off < size) {
		uint64_t data = off, hole = size;

		if (maybe_sparse) {
			off_t d = lseek(src, (off_t)off, SEEK_DATA);
			if (d < 0) {
				if (errno == ENXIO)
					d = (off_t)size;	/* only a hole from here on */
				else
					d = (off_t)off;
			}
			data = (uint64_t)d > size ? size : (uint64_t)d;
			if (data > off) {
				chash_zeros(&st, data - off);
				sig_zeros(sw, data - off);
				if (progress)
					atomic_fetch_add((_Atomic uint64_t *)progress, data - off);
				off = data;
			}
			if (off >= size)
				break;
			off_t h = lseek(src, (off_t)off, SEEK_HOLE);
			hole = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
		}
		while (off < hole) {
			size_t want = hole - off > BUFSZ ? BUFSZ : (size_t)(hole - off);
			if (direct && (off % DALIGN != 0 || (want % DALIGN != 0 && hole != size)))
				end_direct(src, dst, &direct);	/* odd layout: buffered */
			if (direct && want % DALIGN != 0)
				want = (want + DALIGN - 1) / DALIGN * DALIGN;	/* the tail */
			ssize_t n = pread(src, buf, want, (off_t)(soff + off));
			if (n < 0 && errno == EINVAL && direct) {
				end_direct(src, dst, &direct);
				continue;
			}
			if (n > 0 && (uint64_t)n > size - off)
				n = (ssize_t)(size - off);	/* grew meanwhile: stop at size */
			if (n < 0) {
				if (errno == EINTR)
					continue;
				rc = -errno;
				goto out;
			}
			if (n == 0) {
				/* the source shrank under us: the rest reads as zeros
				 * (the caller sees the change with fstat) */
				chash_zeros(&st, size - off);
				sig_zeros(sw, size - off);
				if (dst >= 0 && !(flags & CD_WHOLE)) {
					/* in a pack: write the zeros */
					memset(buf, 0, BUFSZ < size - off ? BUFSZ : (size_t)(size - off));
					while (off < size) {
						size_t c = size - off > BUFSZ ? BUFSZ : (size_t)(size - off);
						if ((rc = write_all(dst, buf, c, (off_t)(doff + off))) < 0) {
							*werr = 1;
							goto out;
						}
						off += c;
					}
				}
				off = size;
				hole = size;
				trunc = 1;
				break;
			}
			chash_feed(&st, off, buf, (size_t)n);
			sigw_feed(sw, buf, (size_t)n);
			if (dst >= 0) {
				size_t wn = (size_t)n;
				if (direct && wn % DALIGN != 0) {
					/* the last piece: a whole block, cut by ftruncate below */
					size_t pad = (wn + DALIGN - 1) / DALIGN * DALIGN;
					memset(buf + wn, 0, pad - wn);
					wn = pad;
					trunc = 1;
				}
				if ((rc = write_all(dst, buf, wn, (off_t)(doff + off))) < 0) {
					*werr = 1;
					goto out;
				}
			}
			off += (uint64_t)n;
			if (progress)
				atomic_fetch_add((_Atomic uint64_t *)progress, (uint64_t)n);
		}
	}
	if (dst >= 0 && (flags & CD_WHOLE) && trunc && ftruncate(dst, (off_t)size) < 0) {
		rc = -errno;
		*werr = 1;
		goto out;
	}
	rc = chash_final(&st, size, hash);
out:
	end_direct(src, dst, &direct);
	if (big)
		big_put();
	return rc;
}

static int
wanted_xattr(const char *name)
{
	/* XFS shows its on-disk ACLs as trusted.SGI_ACL_*: they are the
	 * system.posix_acl_* ones again, and set by those on restore */
	if (strncmp(name, "trusted.SGI_ACL_", 16) == 0)
		return 0;
	return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 ||
	    strncmp(name, "security.", 9) == 0 || strcmp(name, "system.posix_acl_access") == 0 ||
	    strcmp(name, "system.posix_acl_default") == 0;
}

int
xattrs_get(int fd, const char *path, struct mf_entry *e)
{
	char *list = NULL;
	ssize_t n;
	int rc = 0;

	for (size_t cap = 1024;; cap *= 4) {
		free(list);
		if ((list = malloc(cap)) == NULL)
			return -ENOMEM;
		n = fd >= 0 ? flistxattr(fd, list, cap) : listxattr(path, list, cap);
		if (n >= 0)
			break;
		if (errno != ERANGE || cap > (1u << 24)) {
			rc = (errno == ENOTSUP || errno == ENODATA) ? 0 : -errno;
			goto out;
		}
	}
	for (char *p = list; p < list + n; p += strlen(p) + 1) {
		struct mf_xattr *nx;
		void *val = NULL;
		ssize_t vl;

		if (!wanted_xattr(p))
			continue;
		for (size_t cap = 256;; cap *= 4) {
			free(val);
			if ((val = malloc(cap)) == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			vl = fd >= 0 ? fgetxattr(fd, p, val, cap) : getxattr(path, p, val, cap);
			if (vl >= 0)
				break;
			if (errno != ERANGE || cap > (1u << 24))
				break;
		}
		if (vl < 0) {
			free(val);
			if (errno == ENODATA)
				continue;	/* removed meanwhile */
			rc = -errno;
			goto out;
		}
		if ((nx = realloc(e->xattrs, (e->nxattrs + 1) * sizeof(*nx))) == NULL) {
			free(val);
			rc = -ENOMEM;
			goto out;
		}
		e->xattrs = nx;
		nx[e->nxattrs].name = strdup(p);
		nx[e->nxattrs].value = val;
		nx[e->nxattrs].len = (size_t)vl;
		if (nx[e->nxattrs].name == NULL) {
			free(val);
			rc = -ENOMEM;
			goto out;
		}
		e->nxattrs++;
	}
out:
	free(list);
	return rc;
}

int
xattrs_set(int fd, const char *path, const struct mf_entry *e)
{
	int rc = 0;

	for (uint32_t i = 0; i < e->nxattrs; i++) {
		const struct mf_xattr *x = &e->xattrs[i];
		int r = fd >= 0 ? fsetxattr(fd, x->name, x->value, x->len, 0) :
		    setxattr(path, x->name, x->value, x->len, 0);
		if (r < 0 && rc == 0)
			rc = -errno;
	}
	return rc;
}

void
obj_path(uint64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "objects/%02x/%016llx", (unsigned)(id & 0xff), (unsigned long long)id);
}

int
seterr(struct stor_result *res, int rc, const char *fmt, ...)
{
	va_list ap;

	if (res->errmsg[0] != '\0')
		return rc;	/* the first error is the one that counts */
	va_start(ap, fmt);
	vsnprintf(res->errmsg, sizeof(res->errmsg), fmt, ap);
	va_end(ap);
	return rc;
}

int
savedir_lock(int savefd)
{
	int fd = openat(savefd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return errno == EROFS || errno == EACCES ? -EROFS : -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return fd;	/* held until close (or the process dies) */
}

double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* worker threads on a network target (see workers_auto) */
#define NET_WORKERS 32

int
workers_auto(int fd, int saving)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct statfs sf;
	int n;

	if (ncpu < 1)
		ncpu = 1;
	/* Local disks.  A save's small files wait on metadata reads, one at
	 * a time per thread, so many threads; its large files are held to 4
	 * per CPU at once (big_get).  Measured on 2 CPUs (bench, caches
	 * dropped), 200k files of 1-16 KiB: 4 workers 12.3-13.0 s, 8 9.0-9.9 s,
	 * 16 7.9-8.4 s; 8 x 512 MiB: 4 workers 5.2-5.9 s, 8 4.6-5.6 s (dd
	 * iflag=direct oflag=direct 5.0-5.5 s).  A restore creates files, which
	 * contend for their directories: 200k files took 8.0-9.0 s with 4
	 * workers, 9.7-12.3 s with 16, 11.6-15.2 s with 8 (noisy); verify too
	 * keeps the earlier 2 per CPU. */
	n = (int)ncpu * (saving ? 8 : 2);
	/* Network filesystems (NFS: EFS, FSx for OpenZFS/ONTAP; Lustre; FUSE:
	 * s3fs, sshfs, tests/fakes/latencyfs): latency, not CPU, is the limit,
	 * every file costs round trips that threads overlap.  Measured with
	 * latencyfs (tests/bench/bench-network.sh, storage/README.md). */
	if (fd >= 0 && fstatfs(fd, &sf) == 0 && (sf.f_type == 0x6969 /* NFS */ ||
	    sf.f_type == 0x0BD00BD0 /* Lustre */ || sf.f_type == 0x65735546 /* FUSE */))
		return n < NET_WORKERS ? NET_WORKERS : n;
	if (n < 4)
		n = 4;
	if (n > 32)
		n = 32;
	return n;
}

/* ------------------------------------------------------------------ */
/* the work queue */

#define WQ_CAP 256

struct wq {
	pthread_mutex_t	 mu;
	pthread_cond_t	 nonempty, nonfull;
	void		*ring[WQ_CAP];
	size_t		 head, count;
	int		 done;
	int		 nthreads;
	pthread_t	*threads;
	void		(*fn)(void *job, void *arg);
	void		*arg;
};

static void *
wq_main(void *p)
{
	struct wq *q = p;

	for (;;) {
		void *job;

		pthread_mutex_lock(&q->mu);
		while (q->count == 0 && !q->done)
			pthread_cond_wait(&q->nonempty, &q->mu);
		if (q->count == 0) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		job = q->ring[q->head];
		q->head = (q->head + 1) % WQ_CAP;
		q->count--;
		pthread_cond_signal(&q->nonfull);
		pthread_mutex_unlock(&q->mu);
		q->fn(job, q->arg);
	}
	free(tbuf);
	tbuf = NULL;
	free(chbuf);
	chbuf = NULL;
	return NULL;
}

struct wq *
wq_new(int nthreads, void (*fn)(void *job, void *arg), void *arg)
{
	struct wq *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->nonempty, NULL);
	pthread_cond_init(&q->nonfull, NULL);
	q->fn = fn;
	q->arg = arg;
	if ((q->threads = calloc((size_t)nthreads, sizeof(pthread_t))) == NULL) {
		free(q);
		return NULL;
	}
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&q->threads[i], NULL, wq_main, q) != 0)
			break;
		q->nthreads++;
	}
	if (q->nthreads == 0) {
		free(q->threads);
		free(q);
		return NULL;
	}
	return q;
}

void
wq_push(struct wq *q, void *job)
{
	pthread_mutex_lock(&q->mu);
	while (q->count == WQ_CAP)
		pthread_cond_wait(&q->nonfull, &q->mu);
	q->ring[(q->head + q->count) % WQ_CAP] = job;
	q->count++;
	pthread_cond_signal(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
}

void
wq_finish(struct wq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->done = 1;
	pthread_cond_broadcast(&q->nonempty);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->nonempty);
	pthread_cond_destroy(&q->nonfull);
	free(q->threads);
	free(q);
}

/* ------------------------------------------------------------------ */
/* the progress thread */

struct progress_thread {
	pthread_t		 th;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	int			 stop;
	const struct stor_opts	*o;
	struct stor_progress	*p;
	double			 t0;
};

static void *
progress_main(void *arg)
{
	struct progress_thread *t = arg;

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&t->cv, &t->mu, &ts);
		if (t->stop)
			break;
		struct stor_progress snap;
		snap.bytes_done = atomic_load((_Atomic uint64_t *)&t->p->bytes_done);
		snap.files_done = atomic_load((_Atomic uint64_t *)&t->p->files_done);
		snap.bytes_total = t->p->bytes_total;
		snap.files_total = t->p->files_total;
		snap.elapsed = now_mono() - t->t0;
		pthread_mutex_unlock(&t->mu);
		t->o->progress(&snap, t->o->progress_arg);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

struct progress_thread *
progress_start(const struct stor_opts *o, struct stor_progress *p)
{
	struct progress_thread *t;

	if (o == NULL || o->progress == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->o = o;
	t->p = p;
	t->t0 = now_mono();
	if (pthread_create(&t->th, NULL, progress_main, t) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

void
progress_stop(struct progress_thread *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->th, NULL);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
	free(t);
}

char *
stor_savedir(const char *target, const char *cluster, const char *instance)
{
	const char *parts[2] = { cluster, instance };
	size_t tl;
	char *out;

	if (target == NULL || *target == '\0')
		return NULL;
	for (int i = 0; i < 2; i++)
		if (parts[i] == NULL || *parts[i] == '\0' || strchr(parts[i], '/') != NULL ||
		    strcmp(parts[i], ".") == 0 || strcmp(parts[i], "..") == 0)
			return NULL;
	tl = strlen(target);
	while (tl > 1 && target[tl - 1] == '/')
		tl--;
	if (asprintf(&out, "%.*s/pcm-agent/%s/%s", (int)tl, target, cluster, instance) < 0)
		return NULL;
	return out;
}

int
stor_mkdir_p(const char *path, mode_t mode)
{
	char *buf = strdup(path);
	struct stat st;
	int rc = 0;

	if (buf == NULL)
		return -ENOMEM;
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST) {
				rc = -errno;
				break;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	free(buf);
	if (rc == 0 && stat(path, &st) < 0)
		rc = -errno;
	else if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	return rc;
}

const char *
fmt_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, u[i]);
	return buf;
}

static void (*logger)(int level, const char *msg);

void
stor_set_logger(void (*fn)(int level, const char *msg))
{
	logger = fn;
}

void
slog(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (logger != NULL)
		logger(level, msg);
	else if (level < 2)
		fprintf(stderr, "pcm-agent: %s%s\n", level == 0 ? "" : "warning: ", msg);
}
