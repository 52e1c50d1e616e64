/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * delta.c - librsync deltas for large changed files, applied in place,
 * crash-safely.
 *
 * A save copying a file of delta_min_size or more also computes its librsync
 * signature as the data passes (RS_RK_MD4_SIG_MAGIC: rabinkarp rolling sum,
 * MD4 truncated to 8 bytes, 16 KiB blocks) plus an XXH3-64 of every aligned
 * 16 KiB block, and stores both beside the object as objects/XX/ID.sig,
 * headed by the XXH3-128 of the content they describe: a signature whose
 * hash is not the manifest's is never used.
 *
 * When such a file changes, the next save reads the source once comparing
 * each aligned block's XXH3-64 with the stored one (changes in place: the
 * common case, at the speed of reading); the blocks that differ go to the
 * log and get their librsync sums patched into the new signature.  When
 * more than a quarter differs (data moved), it streams the source again
 * through rs_delta against the stored librsync signature, which finds
 * moved blocks, computing the new signature as the data passes.  The delta is turned into a redo log, objects/XX/ID.log: every
 * range of the new content that is not already at the same offset in the
 * object (literals, and copies from other offsets, read from the object now,
 * before anything is written to it), plus the new size and checksum.  Logs
 * are synced with the other objects, before the manifest; the manifest's
 * generation number is in each log.  After the new MANIFEST is in place the
 * logs are applied to the objects, synced, and removed.  A crash:
 *   - before the rename: the logs carry a generation the manifest does not
 *     have; the next run deletes them; the objects were never touched;
 *   - after it: the next run (save, restore or verify) finds the DELTAS
 *     marker, replays every log of the manifest's generation (idempotent:
 *     absolute offsets), then removes them.
 * Only the changed blocks are written to the target (twice: log, object).
 * When more than half of the file would go through the log (content
 * shifted by an insertion), the file is copied whole into a new object.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librsync.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "priv.h"

#define SIG_BLOCK	(16u << 10)
#define SIG_STRONG	8
#define SIG_MAGIC	"PCMSIG3\n"
#define LOG_MAGIC	"PCMLOG1\n"
#define IOBUF		(1u << 20)

/* ------------------------------------------------------------------ */
/* a growing byte buffer */

struct bbuf {
	unsigned char	*p;
	size_t		 n, cap;
};

static int
bb_put(struct bbuf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		size_t nc = b->cap ? b->cap : 65536;
		while (nc < b->n + n)
			nc *= 2;
		unsigned char *np = realloc(b->p, nc);
		if (np == NULL)
			return -ENOMEM;
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* signature generation while data passes */

struct sigw {
	rs_job_t	*job;
	struct bbuf	 out;		/* librsync signature */
	struct bbuf	 aligned;	/* XXH3-64 of each SIG_BLOCK block, in order */
	XXH3_state_t	 bst;
	uint64_t	 bfill;		/* bytes of the current block so far */
	uint64_t	 seed;		/* secret: see random_seed() */
	int		 failed;
};

/*
 * The aligned XXH3-64 are seeded with a random secret kept in the
 * signature file (in the root-only save directory): XXH3 is not made to
 * resist crafted collisions, and a user who could make a changed block
 * hash like the old one would make the save keep the old block (verify
 * would then fail, which could hold a restart up).  Without the seed they
 * cannot aim.
 */
static uint64_t
random_seed(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)now_mono() ^ ((uint64_t)getpid() << 32);
	return v;
}

struct sigw *
sigw_new(void)
{
	struct sigw *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	if ((w->job = rs_sig_begin(SIG_BLOCK, SIG_STRONG, RS_RK_MD4_SIG_MAGIC)) == NULL) {
		free(w);
		return NULL;
	}
	w->seed = random_seed();
	XXH3_64bits_reset_withSeed(&w->bst, w->seed);
	return w;
}

static int
job_run(rs_job_t *job, const void *data, size_t len, int eof, struct bbuf *out)
{
	char obuf[65536];
	rs_buffers_t b = {
		.next_in = (char *)data, .avail_in = len, .eof_in = eof,
	};
	rs_result r;

	do {
		b.next_out = obuf;
		b.avail_out = sizeof(obuf);
		r = rs_job_iter(job, &b);
		if (r != RS_DONE && r != RS_BLOCKED)
			return -EIO;
		if (sizeof(obuf) - b.avail_out > 0 &&
		    bb_put(out, obuf, sizeof(obuf) - b.avail_out) < 0)
			return -ENOMEM;
	} while (b.avail_in > 0 || (eof && r != RS_DONE) || b.avail_out == 0);
	return 0;
}

static void
aligned_feed(struct sigw *w, const unsigned char *p, size_t len)
{
	while (len > 0) {
		size_t c = SIG_BLOCK - w->bfill < len ? (size_t)(SIG_BLOCK - w->bfill) : len;
		XXH3_64bits_update(&w->bst, p, c);
		w->bfill += c;
		p += c;
		len -= c;
		if (w->bfill == SIG_BLOCK) {
			uint64_t h = XXH3_64bits_digest(&w->bst);
			if (bb_put(&w->aligned, &h, 8) < 0)
				w->failed = 1;
			XXH3_64bits_reset_withSeed(&w->bst, w->seed);
			w->bfill = 0;
		}
	}
}

void
sigw_feed(struct sigw *w, const void *data, size_t len)
{
	if (w == NULL || w->failed)
		return;
	aligned_feed(w, data, len);
	if (job_run(w->job, data, len, 0, &w->out) < 0)
		w->failed = 1;
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* write a signature file: magic, content hash, block count, the aligned
 * XXH3-64 table, the librsync signature */
static int
sig_file_write(int dirfd, const char *name, const unsigned char hash[16], uint64_t seed,
    const struct bbuf *aligned, const struct bbuf *rsig)
{
	unsigned char hdr[8 + 16 + 8 + 8];
	int fd, rc = 0;

	memcpy(hdr, SIG_MAGIC, 8);
	memcpy(hdr + 8, hash, 16);
	put64(hdr + 24, aligned->n / 8);
	put64(hdr + 32, seed);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
	    write(fd, aligned->p, aligned->n) != (ssize_t)aligned->n ||
	    write(fd, rsig->p, rsig->n) != (ssize_t)rsig->n)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(dirfd, name, 0);
	return rc;
}

void
sigw_free(struct sigw *w)
{
	if (w == NULL)
		return;
	if (w->job)
		rs_job_free(w->job);
	free(w->out.p);
	free(w->aligned.p);
	free(w);
}

/* Finish and write dirfd/name (ID.sig or ID.sig.new). */
int
sigw_write(struct sigw *w, int dirfd, const char *name, const unsigned char hash[16])
{
	if (w->bfill > 0) {	/* the last, short block */
		uint64_t h = XXH3_64bits_digest(&w->bst);
		w->bfill = 0;
		if (bb_put(&w->aligned, &h, 8) < 0)
			return -ENOMEM;
	}
	if (w->failed || job_run(w->job, "", 0, 1, &w->out) < 0)
		return -EIO;
	return sig_file_write(dirfd, name, hash, w->seed, &w->aligned, &w->out);
}

/* A stored signature: the aligned table and the raw librsync signature. */
struct sigfile {
	struct bbuf	 aligned;
	struct bbuf	 rsig;
	uint64_t	 seed;
};

static void
sigfile_free(struct sigfile *f)
{
	free(f->aligned.p);
	free(f->rsig.p);
	memset(f, 0, sizeof(*f));
}

static uint64_t be(const unsigned char *p, int n);

/* Read dirfd/name if it describes content `hash` (else -ESTALE). */
static int
sig_read(int dirfd, const char *name, const unsigned char hash[16], struct sigfile *f)
{
	unsigned char hdr[40];
	char buf[65536];
	uint64_t nb;
	ssize_t n;
	int fd, rc = 0;

	memset(f, 0, sizeof(*f));
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if (read(fd, hdr, 40) != 40 || memcmp(hdr, SIG_MAGIC, 8) != 0 ||
	    memcmp(hdr + 8, hash, 16) != 0 || (nb = be(hdr + 24, 8)) > (1ull << 32)) {
		rc = -ESTALE;
		goto out;
	}
	f->seed = be(hdr + 32, 8);
	while (f->aligned.n < nb * 8 && rc == 0) {
		size_t want = nb * 8 - f->aligned.n < sizeof(buf) ? nb * 8 - f->aligned.n : sizeof(buf);
		n = read(fd, buf, want);
		if (n <= 0)
			rc = n < 0 ? -errno : -ESTALE;
		else
			rc = bb_put(&f->aligned, buf, (size_t)n);
	}
	while (rc == 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		rc = bb_put(&f->rsig, buf, (size_t)n);
	if (rc == 0 && n < 0)
		rc = -errno;
	/* the librsync header: magic, block length, strong sum length */
	if (rc == 0 && (f->rsig.n < 12 || be(f->rsig.p, 4) != RS_RK_MD4_SIG_MAGIC ||
	    be(f->rsig.p + 4, 4) != SIG_BLOCK || be(f->rsig.p + 8, 4) != SIG_STRONG ||
	    (f->rsig.n - 12) != nb * (4 + SIG_STRONG)))
		rc = -ESTALE;
out:
	close(fd);
	if (rc < 0)
		sigfile_free(f);
	return rc;
}

/* the librsync signature of a sigfile, loaded and indexed */
static int
sig_load(const struct sigfile *f, rs_signature_t **out)
{
	struct bbuf dummy = { 0 };
	rs_signature_t *sig = NULL;
	rs_job_t *job;
	int rc;

	*out = NULL;
	if ((job = rs_loadsig_begin(&sig)) == NULL)
		return -ENOMEM;
	rc = job_run(job, f->rsig.p, f->rsig.n, 1, &dummy);
	rs_job_free(job);
	free(dummy.p);
	if (rc == 0 && rs_build_hash_table(sig) != RS_DONE)
		rc = -EIO;
	if (rc < 0) {
		if (sig)
			rs_free_sumset(sig);
		return rc;
	}
	*out = sig;
	return 0;
}

/* the librsync sums (weak + strong, 12 bytes) of one block into out */
static int
block_sums(const void *data, size_t len, unsigned char out[4 + SIG_STRONG])
{
	struct bbuf b = { 0 };
	rs_job_t *job = rs_sig_begin(SIG_BLOCK, SIG_STRONG, RS_RK_MD4_SIG_MAGIC);
	int rc;

	if (job == NULL)
		return -ENOMEM;
	rc = job_run(job, data, len, 1, &b);
	rs_job_free(job);
	if (rc == 0 && b.n != 12 + 4 + SIG_STRONG)
		rc = -EIO;
	if (rc == 0)
		memcpy(out, b.p + 12, 4 + SIG_STRONG);
	free(b.p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* the redo log */

struct rlog {
	int		 fd;
	int		 objfd;		/* the object, read for copies from elsewhere */
	uint64_t	 oldsize;
	uint64_t	 off;		/* pending record: offset, data */
	struct bbuf	 data;
	uint64_t	 written;
	int		 err;
};

static int
rlog_flush(struct rlog *l)
{
	unsigned char hdr[12];

	if (l->data.n == 0 || l->err)
		return l->err;
	for (int i = 0; i < 8; i++)
		hdr[i] = (unsigned char)(l->off >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		hdr[8 + i] = (unsigned char)(l->data.n >> (24 - 8 * i));
	if (write(l->fd, hdr, 12) != 12 || write(l->fd, l->data.p, l->data.n) != (ssize_t)l->data.n) {
		l->err = errno ? -errno : -EIO;
		return l->err;
	}
	l->written += 12 + l->data.n;
	l->data.n = 0;
	return 0;
}

/* data for [off, off + n): records of at most IOBUF bytes, which is what
 * log_replay (and FORMAT.md 7.1) accepts, however much comes at once */
static void
rlog_put(struct rlog *l, uint64_t off, const void *d, size_t n)
{
	const unsigned char *p = d;

	while (n > 0 && !l->err) {
		size_t c = n > IOBUF ? IOBUF : n;
		if (l->data.n > 0 && (off != l->off + l->data.n || l->data.n + c > IOBUF))
			rlog_flush(l);
		if (l->data.n == 0)
			l->off = off;
		if (bb_put(&l->data, p, c) < 0)
			l->err = -ENOMEM;
		off += c;
		p += c;
		n -= c;
	}
}

/* a copy command of the delta: new[outpos..+len] = old[where..+len] */
static void
rlog_copy(struct rlog *l, uint64_t where, uint64_t len, uint64_t outpos)
{
	unsigned char buf[65536], cur[65536];

	if (where == outpos)
		return;		/* already there */
	while (len > 0 && !l->err) {
		size_t c = len > sizeof(buf) ? sizeof(buf) : (size_t)len;
		ssize_t n = pread(l->objfd, buf, c, (off_t)where);
		if (n < 0) {
			l->err = -errno;
			return;
		}
		if (n == 0) {
			l->err = -EPROTO;	/* a copy beyond the old object */
			return;
		}
		/* repeated blocks (zeros...) match elsewhere: often the same
		 * bytes are already at outpos */
		ssize_t m = outpos + (uint64_t)n <= l->oldsize ?
		    pread(l->objfd, cur, (size_t)n, (off_t)outpos) : -1;
		if (m != n || memcmp(buf, cur, (size_t)n) != 0)
			rlog_put(l, outpos, buf, (size_t)n);
		where += (uint64_t)n;
		outpos += (uint64_t)n;
		len -= (uint64_t)n;
	}
}

/* ------------------------------------------------------------------ */
/* parsing librsync's delta stream, incrementally */

struct dparse {
	unsigned char	 hdr[17];
	size_t		 hlen, hneed;
	int		 magic;		/* magic seen */
	uint64_t	 lit;		/* literal bytes still to come */
	uint64_t	 outpos;
	int		 ended, bad;
};

static uint64_t
be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static const int nsz[4] = { 1, 2, 4, 8 };

/* bytes of parameters after opcode op; -1 unknown */
static int
op_params(unsigned op)
{
	if (op == 0 || (op >= 0x01 && op <= 0x40))
		return 0;
	if (op >= 0x41 && op <= 0x44)
		return nsz[op - 0x41];
	if (op >= 0x45 && op <= 0x54)
		return nsz[(op - 0x45) / 4] + nsz[(op - 0x45) % 4];
	return -1;
}

static void
dp_feed(struct dparse *d, struct rlog *l, const unsigned char *p, size_t n)
{
	while (n > 0 && !d->bad && !d->ended) {
		if (d->magic < 4) {
			d->hdr[d->magic++] = *p++;
			n--;
			if (d->magic == 4 && be(d->hdr, 4) != RS_DELTA_MAGIC)
				d->bad = 1;
			continue;
		}
		if (d->lit > 0) {
			size_t c = d->lit < n ? (size_t)d->lit : n;
			rlog_put(l, d->outpos, p, c);
			d->outpos += c;
			d->lit -= c;
			p += c;
			n -= c;
			continue;
		}
		if (d->hlen == 0) {
			int np = op_params(*p);
			if (np < 0) {
				d->bad = 1;
				return;
			}
			d->hneed = 1 + (size_t)np;
		}
		d->hdr[d->hlen++] = *p++;
		n--;
		if (d->hlen < d->hneed)
			continue;
		unsigned op = d->hdr[0];
		d->hlen = 0;
		if (op == 0) {
			d->ended = 1;
		} else if (op <= 0x40) {
			d->lit = op;
		} else if (op <= 0x44) {
			d->lit = be(d->hdr + 1, nsz[op - 0x41]);
		} else {
			int a = nsz[(op - 0x45) / 4], b = nsz[(op - 0x45) % 4];
			uint64_t where = be(d->hdr + 1, a), len = be(d->hdr + 1 + a, b);
			rlog_copy(l, where, len, d->outpos);
			d->outpos += len;
		}
	}
}

/* ------------------------------------------------------------------ */

/*
 * The fast path for changes in place: compare the XXH3-64 of each aligned
 * block of the source with the stored one; log the blocks that differ and
 * patch their librsync sums and table entries into a new signature.  No
 * rolling checksum: as fast as the source can be read.  -E2BIG when more
 * than a quarter of the file differs (then librsync looks for moved data).
 */
static int
aligned_update(int src, uint64_t size, struct sigfile *f, struct rlog *l, unsigned char *buf,
    unsigned char newhash[16], uint64_t *progress)
{
	struct chash st;
	uint64_t off = 0, oldn = f->aligned.n / 8, newn = (size + SIG_BLOCK - 1) / SIG_BLOCK;
	uint64_t changed = 0, oldsize = l->oldsize;

	/* the new signature starts as the old one, resized */
	if (newn > oldn) {
		unsigned char zero[12] = { 0 };
		for (uint64_t i = oldn; i < newn; i++)
			if (bb_put(&f->aligned, zero, 8) < 0 || bb_put(&f->rsig, zero, 12) < 0)
				return -ENOMEM;
	}
	f->aligned.n = newn * 8;
	f->rsig.n = 12 + newn * 12;
	chash_init(&st, 1);
	while (off < size) {
		size_t want = size - off > IOBUF ? IOBUF : (size_t)(size - off);
		ssize_t n = pread(src, buf, want, (off_t)off);
		if (n < 0)
			return -errno;
		if (n == 0) {	/* shrank: the rest reads as zeros */
			n = (ssize_t)want;
			memset(buf, 0, want);
		}
		chash_feed(&st, off, buf, (size_t)n);
		for (size_t b = 0; b < (size_t)n; b += SIG_BLOCK) {
			uint64_t pos = off + b, idx = pos / SIG_BLOCK;
			size_t bl = (size_t)n - b < SIG_BLOCK ? (size_t)n - b : SIG_BLOCK;
			uint64_t h = XXH3_64bits_withSeed(buf + b, bl, f->seed), old;
			/* the same block: same hash over the same length */
			uint64_t oldlen = pos >= oldsize ? 0 :
			    oldsize - pos < SIG_BLOCK ? oldsize - pos : SIG_BLOCK;
			memcpy(&old, f->aligned.p + idx * 8, 8);
			if (idx < oldn && oldlen == bl && old == h)
				continue;
			rlog_put(l, pos, buf + b, bl);
			memcpy(f->aligned.p + idx * 8, &h, 8);
			if (block_sums(buf + b, bl, f->rsig.p + 12 + idx * 12) < 0)
				return -EPROTO;	/* librsync failed us: copy it whole */
			changed += bl;
		}
		if (l->err)
			return l->err;
		if (changed > size / 4 + SIG_BLOCK)
			return -E2BIG;
		off += (uint64_t)n;
		if (progress)
			__atomic_fetch_add(progress, (uint64_t)n, __ATOMIC_RELAXED);
	}
	return chash_final(&st, size, newhash);
}

/* (re)start the log file: header only */
static int
log_begin(struct rlog *l, int dirfd, const char *lname, uint64_t gen, uint64_t id)
{
	unsigned char hdr[8 + 8 + 8];

	if (l->fd >= 0)
		close(l->fd);
	l->data.n = 0;
	l->written = 0;
	l->err = 0;
	l->fd = openat(dirfd, lname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (l->fd < 0)
		return -errno;
	memcpy(hdr, LOG_MAGIC, 8);
	put64(hdr + 8, gen);
	put64(hdr + 16, id);
	if (write(l->fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return errno ? -errno : -EIO;
	return 0;
}

/* the librsync path: a rolling delta against the stored signature, which
 * finds data that moved; the new signature computed as the data passes */
static int
rsync_update(int src, uint64_t size, const struct sigfile *f, struct rlog *l,
    unsigned char *buf, unsigned char newhash[16], struct sigw **nwp, uint64_t *progress)
{
	rs_signature_t *sig = NULL;
	rs_job_t *djob = NULL;
	struct dparse dp = { 0 };
	struct bbuf dout = { 0 };
	struct chash st;
	uint64_t off = 0;
	int rc;

	if ((rc = sig_load(f, &sig)) < 0)
		return -ENOENT;
	if ((djob = rs_delta_begin(sig)) == NULL || (*nwp = sigw_new()) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	chash_init(&st, 1);
	while (off < size) {
		size_t want = size - off > IOBUF ? IOBUF : (size_t)(size - off);
		ssize_t n = pread(src, buf, want, (off_t)off);
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0) {	/* shrank: the rest reads as zeros */
			n = (ssize_t)want;
			memset(buf, 0, want);
		}
		chash_feed(&st, off, buf, (size_t)n);
		sigw_feed(*nwp, buf, (size_t)n);
		dout.n = 0;
		if ((rc = job_run(djob, buf, (size_t)n, 0, &dout)) < 0)
			goto out;
		dp_feed(&dp, l, dout.p, dout.n);
		off += (uint64_t)n;
		if (progress)
			__atomic_fetch_add(progress, (uint64_t)n, __ATOMIC_RELAXED);
	}
	dout.n = 0;
	if ((rc = job_run(djob, "", 0, 1, &dout)) < 0)
		goto out;
	dp_feed(&dp, l, dout.p, dout.n);
	if (dp.bad || !dp.ended || dp.outpos != size || l->err == -EPROTO) {
		rc = -EPROTO;	/* a delta we do not understand: copy it whole */
		goto out;
	}
	rc = chash_final(&st, size, newhash);
out:
	if (djob)
		rs_job_free(djob);
	if (sig)
		rs_free_sumset(sig);
	free(dout.p);
	return rc;
}

int
delta_update(int src, uint64_t size, int dirfd, uint64_t id, uint64_t gen,
    const unsigned char oldhash[16], unsigned char newhash[16], uint64_t *progress,
    uint64_t *written, int *werr)
{
	char name[24], sname[64], lname[64], nsname[64];
	struct sigfile f;
	struct sigw *nw = NULL;
	struct rlog l = { .fd = -1, .objfd = -1 };
	unsigned char *buf = NULL;
	struct stat ost;
	int rc;

	*werr = 0;
	*written = 0;
	snprintf(name, sizeof(name), "%016llx", (unsigned long long)id);
	snprintf(sname, sizeof(sname), "%s.sig", name);
	snprintf(lname, sizeof(lname), "%s.log", name);
	snprintf(nsname, sizeof(nsname), "%s.sig.new", name);
	if (sig_read(dirfd, sname, oldhash, &f) < 0)
		return -ENOENT;		/* no usable signature: copy it whole */
	if ((l.objfd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(l.objfd, &ost) < 0) {
		rc = -ENOENT;
		goto out;
	}
	l.oldsize = (uint64_t)ost.st_size;
	if ((buf = malloc(IOBUF)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = log_begin(&l, dirfd, lname, gen, id)) < 0) {
		*werr = 1;
		goto out;
	}
	/* changes in place first; librsync when data moved */
	if ((rc = aligned_update(src, size, &f, &l, buf, newhash, progress)) == -E2BIG) {
		struct sigfile orig;
		if (sig_read(dirfd, sname, oldhash, &orig) < 0) {
			rc = -ENOENT;
			goto out;
		}
		sigfile_free(&f);
		f = orig;
		if ((rc = log_begin(&l, dirfd, lname, gen, id)) < 0) {
			*werr = 1;
			goto out;
		}
		rc = rsync_update(src, size, &f, &l, buf, newhash, &nw, progress);
	}
	if (rc < 0) {
		if (rc == -EIO || rc == -ENOSPC || rc == -EDQUOT)
			*werr = l.err == rc;
		goto out;
	}
	if ((rc = rlog_flush(&l)) < 0) {
		*werr = rc != -EPROTO;
		goto out;
	}
	if (l.written > size / 2) {
		/* shifted content (an insertion): log + apply would write more
		 * than a new copy */
		rc = -E2BIG;
		goto out;
	}
	{
		unsigned char tail[12 + 8 + 16];
		/* end record: offset all ones, then the new size and checksum */
		memset(tail, 0xff, 8);
		memset(tail + 8, 0, 4);
		put64(tail + 12, size);
		memcpy(tail + 20, newhash, 16);
		if (write(l.fd, tail, sizeof(tail)) != (ssize_t)sizeof(tail)) {
			rc = errno ? -errno : -EIO;
			*werr = 1;
			goto out;
		}
		l.written += sizeof(tail);
	}
	/* the new signature: patched (aligned path) or computed (librsync) */
	rc = nw != NULL ? sigw_write(nw, dirfd, nsname, newhash) :
	    sig_file_write(dirfd, nsname, newhash, f.seed, &f.aligned, &f.rsig);
	if (rc < 0) {
		*werr = 1;
		goto out;
	}
	*written = l.written;
	rc = 0;
out:
	if (l.fd >= 0 && close(l.fd) < 0 && rc == 0) {
		rc = -errno;
		*werr = 1;
	}
	if (rc < 0 && l.fd >= 0)
		unlinkat(dirfd, lname, 0);
	if (l.objfd >= 0)
		close(l.objfd);
	sigw_free(nw);
	sigfile_free(&f);
	free(l.data.p);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* applying the logs */

/* the records of an open log (after its header) onto ofd; 0 or -errno */
static int
log_replay(int lfd, int ofd, int crashpoints)
{
	unsigned char rh[12], *buf;
	int rc = 0;

	if ((buf = malloc(IOBUF)) == NULL)
		return -ENOMEM;
	for (;;) {
		if (read(lfd, rh, 12) != 12) {
			rc = -EBADMSG;	/* a log of the committed generation must be whole */
			break;
		}
		uint64_t off = be(rh, 8);
		uint32_t len = (uint32_t)be(rh + 8, 4);
		if (off == UINT64_MAX) {
			unsigned char tail[24];
			if (read(lfd, tail, 24) != 24)
				rc = -EBADMSG;
			else if (ftruncate(ofd, (off_t)be(tail, 8)) < 0 || fsync(ofd) < 0)
				rc = -errno;
			break;
		}
		if (len > IOBUF || read(lfd, buf, len) != (ssize_t)len) {
			rc = -EBADMSG;
			break;
		}
		if (pwrite(ofd, buf, len, (off_t)off) != (ssize_t)len) {
			rc = -errno;
			break;
		}
		if (crashpoints)
			stor_crashpoint("delta-record");
	}
	free(buf);
	return rc;
}

/* hdr (24 bytes read) is the header of a log of object `oname` (hex id)
 * written for the manifest of generation gen: else it is of a save that
 * never committed, torn, or not this object's (damage), and not applied */
static int
log_ours(const unsigned char hdr[24], const char *oname, uint64_t gen)
{
	char *end;
	unsigned long long id;

	errno = 0;
	id = strtoull(oname, &end, 16);
	return memcmp(hdr, LOG_MAGIC, 8) == 0 && be(hdr + 8, 8) == gen && errno == 0 &&
	    *end == '\0' && be(hdr + 16, 8) == id;
}

/* Apply dirfd/ID.log to dirfd/ID if it is of generation gen; remove it.
 * Returns 1 applied, 0 discarded (another generation), -errno. */
static int
log_apply(int dirfd, const char *lname, uint64_t gen)
{
	char oname[64];
	unsigned char hdr[24];
	int lfd = -1, ofd = -1, rc;
	size_t blen = strlen(lname) - 4;

	if (blen >= sizeof(oname))
		return -EINVAL;
	memcpy(oname, lname, blen);
	oname[blen] = '\0';
	if ((lfd = openat(dirfd, lname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if (read(lfd, hdr, 24) != 24 || !log_ours(hdr, oname, gen)) {
		rc = 0;		/* torn, or of a manifest that never was: drop it */
		goto drop;
	}
	if ((ofd = openat(dirfd, oname, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = log_replay(lfd, ofd, 1)) < 0)
		goto out;
	{
		char sn[80], nsn[80];
		snprintf(sn, sizeof(sn), "%s.sig", oname);
		snprintf(nsn, sizeof(nsn), "%s.sig.new", oname);
		if (renameat(dirfd, nsn, dirfd, sn) < 0 && errno != ENOENT) {
			rc = -errno;
			goto out;
		}
	}
	stor_crashpoint("delta-applied");
	rc = 1;
drop:
	if (unlinkat(dirfd, lname, 0) < 0 && rc >= 0)
		rc = -errno;
out:
	if (ofd >= 0)
		close(ofd);
	close(lfd);
	return rc;
}

int
delta_overlay(int dirfd, uint64_t id, uint64_t gen, int tmpdirfd)
{
	char lname[40], oname[24];
	unsigned char hdr[24], h[16];
	struct stat st;
	int lfd = -1, ofd = -1, tfd = -1, own = -1, werr, rc;

	snprintf(oname, sizeof(oname), "%016llx", (unsigned long long)id);
	snprintf(lname, sizeof(lname), "%s.log", oname);
	if ((lfd = openat(dirfd, lname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	if (read(lfd, hdr, 24) != 24 || !log_ours(hdr, oname, gen)) {
		rc = -ENOENT;	/* not of this manifest: the object is as it was */
		goto out;
	}
	if ((ofd = openat(dirfd, oname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    fstat(ofd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (tmpdirfd < 0 && (tmpdirfd = own = open("/var/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		tmpdirfd = own = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmpdirfd < 0 || (tfd = openat(tmpdirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = copy_range(ofd, 0, tfd, 0, (uint64_t)st.st_size, CD_WHOLE | CD_SPARSE, h, NULL,
	    &werr, NULL)) < 0 || (rc = log_replay(lfd, tfd, 0)) < 0)
		goto out;
	rc = tfd;
	tfd = -1;
out:
	if (tfd >= 0)
		close(tfd);
	if (ofd >= 0)
		close(ofd);
	if (own >= 0)
		close(own);
	close(lfd);
	return rc;
}

/* DELTAS done with: synced when logs were applied, then removed */
static int
deltas_done(int savefd, int applied)
{
	if (applied > 0 && syncfs(savefd) < 0)
		return -errno;
	if (unlinkat(savefd, "DELTAS", 0) < 0 && errno != ENOENT)
		return -errno;
	fsync(savefd);
	return 0;
}

int
delta_apply_ids(int savefd, const int objfd[256], const uint64_t *ids, size_t n, uint64_t gen,
    int *applied)
{
	int rc = 0;

	*applied = 0;
	if (faccessat(savefd, "DELTAS", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char lname[40];
		int r;
		snprintf(lname, sizeof(lname), "%016llx.log", (unsigned long long)ids[i]);
		if ((r = log_apply(objfd[ids[i] & 0xff], lname, gen)) == -ENOENT)
			continue;	/* no log: nothing changed in place */
		if (r < 0 && rc == 0)
			rc = r;
		if (r > 0)
			(*applied)++;
	}
	return rc == 0 ? deltas_done(savefd, *applied) : rc;
}

int
delta_recover(int savefd, const int objfd[256], uint64_t gen, int *applied)
{
	int rc = 0;

	*applied = 0;
	if (faccessat(savefd, "DELTAS", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	for (int b = 0; b < 256; b++) {
		int fd;
		DIR *d;
		struct dirent *de;

		if (objfd[b] < 0)
			continue;
		if ((fd = dup(objfd[b])) < 0 || (d = fdopendir(fd)) == NULL) {
			if (fd >= 0)
				close(fd);
			return -errno;
		}
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);
			if (n > 4 && strcmp(de->d_name + n - 4, ".log") == 0) {
				int r = log_apply(objfd[b], de->d_name, gen);
				if (r < 0 && rc == 0)
					rc = r;
				if (r > 0)
					(*applied)++;
			}
		}
		closedir(d);
	}
	return rc == 0 ? deltas_done(savefd, *applied) : rc;
}
