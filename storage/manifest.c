/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * manifest.c - the save's manifest: encode, decode, look up.
 *
 * Text, one line per entry, fields separated by one space; strings are
 * bytes with every byte outside 0x21-0x7e and '%', '=' written %XX, an
 * empty string written "-" (and a literal "-" as %2D):
 *
 *   pcm-agent-manifest 2
 *   meta created=SECS next_obj=N gen=N prestage=0|1 source=S cluster=S instance=S
 *   TYPE PARENT NAME MODE UID GID MTIME SIZE INO CTIME OBJ HASH RDEV LINK TARGET FLAGS [XNAME=XVALUE]...
 *   ...
 *   end COUNT XXH3-128-OF-ALL-THE-TEXT-ABOVE
 *
 * TYPE d f h l p c b; PARENT the index of an earlier directory (entries
 * are in pre-order: a directory, then everything below it); MODE octal
 * permission bits; times SECS.NSECS; OBJ hex object id (0: none), or
 * ID@OFFSET for a small file stored in a pack object at that offset; HASH
 * 32 hex digits of XXH3-128 of the data or "-".  FLAGS hex: 1 the file
 * changed while it was read, 2 HASH is the version 2 checksum (holes not
 * hashed, see copy.c).  Version 1 manifests (no version 2 checksums) are
 * read, and written when no entry has a version 2 checksum; version 2 is
 * written otherwise, so that an older pcm-agent refuses the save instead of
 * finding every file damaged.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "priv.h"

#define MF_MAGIC "pcm-agent-manifest 2"
#define MF_MAGIC1 "pcm-agent-manifest 1"

_Static_assert(sizeof(struct mf_entry) <= 112, "keep manifest entries small (memory at 200k files)");

struct mf_chunk {
	struct mf_chunk	*next;
	size_t		 used, cap;
	char		 data[];
};

static char *
names_dup(struct manifest *mf, const char *name)
{
	size_t len = strlen(name) + 1;
	struct mf_chunk *c = mf->names;

	if (c == NULL || c->cap - c->used < len) {
		size_t cap = len > 65536 ? len : 65536;
		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->next = mf->names;
		c->used = 0;
		c->cap = cap;
		mf->names = c;
	}
	char *p = c->data + c->used;
	memcpy(p, name, len);
	c->used += len;
	return p;
}

struct manifest *
mf_new(void)
{
	struct manifest *mf = calloc(1, sizeof(*mf));

	if (mf != NULL)
		mf->next_obj = 1;
	return mf;
}

void
mf_entry_clear(struct mf_entry *e)
{
	free(e->name);
	if (e->type == MF_SYMLINK)
		free(e->target);
	for (uint32_t i = 0; i < e->nxattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	e->name = NULL;
	if (e->type == MF_SYMLINK)
		e->target = NULL;
	e->xattrs = NULL;
	e->nxattrs = 0;
}

void
mf_free(struct manifest *mf)
{
	if (mf == NULL)
		return;
	for (size_t i = 0; i < mf->n; i++) {
		mf->e[i].name = NULL;	/* in the chunks */
		mf_entry_clear(&mf->e[i]);
	}
	while (mf->names != NULL) {
		struct mf_chunk *c = mf->names;
		mf->names = c->next;
		free(c);
	}
	free(mf->e);
	free(mf->htab);
	free(mf->source);
	free(mf->cluster);
	free(mf->instance);
	free(mf);
}

int
mf_reserve(struct manifest *mf, size_t n)
{
	struct mf_entry *nv;

	if (n <= mf->cap)
		return 0;
	if ((nv = realloc(mf->e, n * sizeof(*nv))) == NULL)
		return -ENOMEM;
	mf->e = nv;
	mf->cap = n;
	return 0;
}

long
mf_add(struct manifest *mf, struct mf_entry *e)
{
	if (mf->n == mf->cap) {
		/* grow by half: less slack than doubling at 200k entries */
		if (mf->n >= UINT32_MAX - 1 || mf_reserve(mf, mf->cap ? mf->cap + mf->cap / 2 : 1024) < 0) {
			mf_entry_clear(e);
			return -ENOMEM;
		}
	}
	char *nm = names_dup(mf, e->name ? e->name : "");
	if (nm == NULL) {
		mf_entry_clear(e);
		return -ENOMEM;
	}
	free(e->name);
	e->name = nm;
	mf->e[mf->n] = *e;
	memset(e, 0, sizeof(*e));
	return (long)mf->n++;
}

const char *
mf_path(const struct manifest *mf, size_t i, char *buf, size_t len)
{
	size_t chain[64], n = 0, pos = 0;
	int cut = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (i == 0 || i >= mf->n) {
		snprintf(buf, len, ".");
		return buf;
	}
	while (i != 0) {
		if (n == 64) {
			cut = 1;
			break;
		}
		chain[n++] = i;
		i = mf->e[i].parent;
	}
	if (cut)
		pos += snprintf(buf, len, ".../");
	while (n > 0 && pos < len) {
		const char *nm = mf->e[chain[--n]].name;
		pos += snprintf(buf + pos, len - pos, "%s%s", nm, n ? "/" : "");
	}
	if (pos >= len && len > 4)
		strcpy(buf + len - 4, "...");
	return buf;
}

/* ------------------------------------------------------------------ */
/* writing */

struct lbuf {
	char	*p;
	size_t	 n, cap;
	int	 oom;
};

static void
lb_putc(struct lbuf *b, char c)
{
	if (b->n + 1 >= b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 4096;
		char *np = realloc(b->p, nc);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	b->p[b->n++] = c;
}

static void
lb_puts(struct lbuf *b, const char *s)
{
	while (*s)
		lb_putc(b, *s++);
}

static void __attribute__((format(printf, 2, 3)))
lb_printf(struct lbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	lb_puts(b, tmp);
}

static void
lb_esc(struct lbuf *b, const void *data, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = data;

	if (len == 0) {
		lb_putc(b, '-');
		return;
	}
	if (len == 1 && s[0] == '-') {
		lb_puts(b, "%2D");
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		if (c <= 0x20 || c >= 0x7f || c == '%' || c == '=') {
			lb_putc(b, '%');
			lb_putc(b, hex[c >> 4]);
			lb_putc(b, hex[c & 15]);
		} else {
			lb_putc(b, (char)c);
		}
	}
}

void
hash_hex(const unsigned char h[16], char out[33])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[h[i] >> 4];
		out[2 * i + 1] = hex[h[i] & 15];
	}
	out[32] = '\0';
}

static int
emit(FILE *fp, XXH3_state_t *st, struct lbuf *b)
{
	if (b->oom)
		return -ENOMEM;
	XXH3_128bits_update(st, b->p, b->n);
	if (fwrite(b->p, 1, b->n, fp) != b->n)
		return -EIO;
	b->n = 0;
	return 0;
}

int
mf_write(struct manifest *mf, FILE *fp)
{
	XXH3_state_t *st = XXH3_createState();
	struct lbuf b = { 0 };
	uint32_t *map = NULL;
	size_t count = 0;
	int rc;

	int drops = 0, v2 = 0;
	for (size_t i = 0; i < mf->n; i++) {
		drops |= (mf->e[i].wflags & MF_W_DROP) != 0;
		v2 |= (mf->e[i].flags & MF_F_HASH2) != 0;
	}
	if (st == NULL || (drops && (map = malloc((mf->n + 1) * sizeof(*map))) == NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	XXH3_128bits_reset(st);
	lb_puts(&b, v2 ? MF_MAGIC "\n" : MF_MAGIC1 "\n");
	lb_printf(&b, "meta created=%" PRId64 " next_obj=%" PRIu64 " gen=%" PRIu64
	    " prestage=%d source=", mf->created, mf->next_obj, mf->gen, mf->prestage ? 1 : 0);
	lb_esc(&b, mf->source ? mf->source : "", mf->source ? strlen(mf->source) : 0);
	lb_puts(&b, " cluster=");
	lb_esc(&b, mf->cluster ? mf->cluster : "", mf->cluster ? strlen(mf->cluster) : 0);
	lb_puts(&b, " instance=");
	lb_esc(&b, mf->instance ? mf->instance : "", mf->instance ? strlen(mf->instance) : 0);
	lb_putc(&b, '\n');
	if ((rc = emit(fp, st, &b)) < 0)
		goto out;
	for (size_t i = 0; i < mf->n; i++) {
		const struct mf_entry *e = &mf->e[i];
		char hx[33];

		if (map != NULL) {
			if (e->wflags & MF_W_DROP) {
				map[i] = UINT32_MAX;
				continue;
			}
			/* a dropped parent or link target drops the entry too */
			if (i > 0 && (map[e->parent] == UINT32_MAX ||
			    (e->type == MF_HARDLINK && map[e->link] == UINT32_MAX))) {
				map[i] = UINT32_MAX;
				continue;
			}
			map[i] = (uint32_t)count;
		}
		count++;
		if (e->type == MF_FILE)
			hash_hex(e->hash, hx);
		lb_printf(&b, "%c %" PRIu32 " ", e->type, i == 0 ? 0 : map ? map[e->parent] : e->parent);
		lb_esc(&b, e->name, strlen(e->name));
		lb_printf(&b, " %o %" PRIu32 " %" PRIu32 " %" PRId64 ".%09" PRIu32 " %" PRIu64
		    " %" PRIu64 " %" PRId64 ".%09" PRIu32 " %" PRIx64,
		    e->mode & 07777, e->uid, e->gid, e->mtime_s, e->mtime_ns, e->size, e->ino,
		    e->ctime_s, e->ctime_ns, e->obj);
		if (e->packed)
			lb_printf(&b, "@%" PRIu64, e->off);
		lb_printf(&b, " %s %" PRIu64 " %" PRIu32 " ", e->type == MF_FILE ? hx : "-",
		    e->type == MF_CHR || e->type == MF_BLK ? e->rdev : 0,
		    e->type == MF_HARDLINK ? (map ? map[e->link] : e->link) : 0);
		if (e->type == MF_SYMLINK)
			lb_esc(&b, e->target, strlen(e->target));
		else
			lb_putc(&b, '-');
		lb_printf(&b, " %x", e->flags);
		for (uint32_t x = 0; x < e->nxattrs; x++) {
			lb_putc(&b, ' ');
			lb_esc(&b, e->xattrs[x].name, strlen(e->xattrs[x].name));
			lb_putc(&b, '=');
			lb_esc(&b, e->xattrs[x].value, e->xattrs[x].len);
		}
		lb_putc(&b, '\n');
		if ((rc = emit(fp, st, &b)) < 0)
			goto out;
	}
	{
		XXH128_hash_t h = XXH3_128bits_digest(st);
		XXH128_canonical_t c;
		char hx[33];

		XXH128_canonicalFromHash(&c, h);
		hash_hex(c.digest, hx);
		lb_printf(&b, "end %zu %s\n", count, hx);
		if (b.oom) {
			rc = -ENOMEM;
			goto out;
		}
		if (fwrite(b.p, 1, b.n, fp) != b.n) {
			rc = -EIO;
			goto out;
		}
	}
	rc = fflush(fp) == 0 ? 0 : -errno;
out:
	free(b.p);
	free(map);
	XXH3_freeState(st);
	return rc;
}

int
mf_write_tmp(int savefd, struct manifest *mf)
{
	FILE *fp = NULL;
	int fd, rc;

	fd = openat(savefd, "MANIFEST.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return -errno;
	if ((fp = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	setvbuf(fp, NULL, _IOFBF, 1 << 20);
	if ((rc = mf_write(mf, fp)) < 0)
		goto out;
	if (fsync(fileno(fp)) < 0) {
		rc = -errno;
		goto out;
	}
out:
	if (fclose(fp) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

int
mf_commit(int savefd)
{
	if (renameat(savefd, "MANIFEST.tmp", savefd, "MANIFEST") < 0 || fsync(savefd) < 0)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ */
/* reading */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Unescape tok into a malloc'd buffer; *len its length.  NULL on a bad
 * escape (errno EBADMSG) or no memory.  allow_nul: xattr values. */
static char *
unesc(const char *tok, size_t *len, int allow_nul)
{
	size_t n = strlen(tok), o = 0;
	char *out;

	if (strcmp(tok, "-") == 0)
		n = 0;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)tok[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				goto bad;
			hi = hexval(tok[i + 1]);
			lo = hexval(tok[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (unsigned char)(hi << 4 | lo);
			if (c == 0 && !allow_nul)
				goto bad;
			i += 2;
		} else if (c <= 0x20 || c >= 0x7f || c == '=') {
			goto bad;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*len = o;
	return out;
bad:
	free(out);
	errno = EBADMSG;
	return NULL;
}

static int
parse_u64(const char *s, int base, uint64_t *out)
{
	char *end;

	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static int
parse_u32(const char *s, int base, uint32_t *out)
{
	uint64_t v;

	if (parse_u64(s, base, &v) < 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* SECS.NNNNNNNNN, SECS may be negative */
static int
parse_time(const char *s, int64_t *sec, uint32_t *nsec)
{
	const char *dot = strchr(s, '.');
	char *end;
	uint64_t ns;

	if (dot == NULL || dot == s || strlen(dot + 1) != 9)
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end != dot || s[0] == '+' || s[0] == ' ')
		return -1;
	if (parse_u64(dot + 1, 10, &ns) < 0 || ns > 999999999)
		return -1;
	*sec = v;
	*nsec = (uint32_t)ns;
	return 0;
}

static int
parse_hash(const char *s, unsigned char h[16])
{
	if (strlen(s) != 32)
		return -1;
	for (int i = 0; i < 16; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		h[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

#define NFIELDS 16

struct rd {
	char		*err;
	size_t		 errlen;
	unsigned long	 line;
	uint32_t	*stack;		/* current directory path, for the pre-order check */
	size_t		 sn, scap;
	int		 v1;		/* a version 1 manifest: no version 2 checksums */
	/* streaming (mf_stream): entries are not kept, so which are files is
	 * a bitmap (the hard link check), and the siblings' order is checked
	 * with the last name seen at each level of the path */
	int		 stream, order;
	uint8_t		*fbits;
	size_t		 fbcap;
	char		*lastnm;	/* scap names of up to 255 bytes, 256 apart */
	int		 unsorted;	/* siblings not in strictly increasing strcmp order */
};

static int
rd_isfile(const struct rd *r, const struct manifest *mf, size_t i)
{
	if (r->stream)
		return i / 8 < r->fbcap && (r->fbits[i / 8] >> (i % 8) & 1);
	return mf->e[i].type == MF_FILE;
}

static int __attribute__((format(printf, 2, 3)))
rd_err(struct rd *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, r->errlen, "line %lu: ", r->line);

	if (n >= 0 && (size_t)n < r->errlen) {
		va_start(ap, fmt);
		vsnprintf(r->err + n, r->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static int
valid_name(const char *s, size_t len)
{
	return len > 0 && len <= 255 && memchr(s, '/', len) == NULL &&
	    strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Parse entry `idx` of mf (mf: the meta fields, and the earlier entries
 * when not streaming) from line into e (cleared on failure). */
static int
parse_entry_into(struct rd *r, const struct manifest *mf, size_t idx, char *line,
    struct mf_entry *out)
{
	char *f[NFIELDS], *save = NULL, *tok;
	struct mf_entry e = { 0 };
	size_t nf = 0, len;
	uint64_t v64, rdev, poff = 0;
	uint32_t mode, link;
	int rc;

	for (tok = strtok_r(line, " ", &save); tok != NULL;
	    tok = nf < NFIELDS ? strtok_r(NULL, " ", &save) : NULL) {
		f[nf++] = tok;
		if (nf == NFIELDS)
			break;
	}
	if (nf < NFIELDS)
		return rd_err(r, "%zu fields, want at least %d", nf, NFIELDS);
	if (strlen(f[0]) != 1 || strchr("dfhlpcb", f[0][0]) == NULL)
		return rd_err(r, "unknown entry type '%s'", f[0]);
	e.type = (uint8_t)f[0][0];
	if (parse_u32(f[1], 10, &e.parent) < 0)
		return rd_err(r, "bad parent '%s'", f[1]);
	if ((e.name = unesc(f[2], &len, 0)) == NULL) {
		rc = errno == ENOMEM ? -ENOMEM : rd_err(r, "bad name");
		goto fail;
	}
	if (idx == 0) {
		if (e.type != MF_DIR || strcmp(e.name, ".") != 0 || e.parent != 0) {
			rc = rd_err(r, "the first entry must be the directory \".\"");
			goto fail;
		}
	} else {
		if (!valid_name(e.name, len)) {
			rc = rd_err(r, "bad name (empty, '.', '..', '/' or longer than 255 bytes)");
			goto fail;
		}
		/* pre-order: the parent is on the current path */
		while (r->sn > 0 && r->stack[r->sn - 1] != e.parent)
			r->sn--;
		if (r->sn == 0) {
			rc = rd_err(r, "parent %" PRIu32 " is not a directory on the current path", e.parent);
			goto fail;
		}
		if (r->order) {
			char *last = r->lastnm + (r->sn - 1) * 256;
			int c = strcmp(last, e.name);
			if (c == 0) {	/* refused as mf_index refuses it */
				rc = rd_err(r, "two entries with the same name in one directory");
				goto fail;
			}
			if (c > 0)
				r->unsorted = 1;
			memcpy(last, e.name, len + 1);
		}
	}
	{
		char *at = strchr(f[10], '@');
		if (at != NULL) {
			*at = '\0';
			if (parse_u64(at + 1, 10, &poff) < 0) {
				rc = rd_err(r, "bad pack offset");
				goto fail;
			}
			e.packed = 1;
		}
	}
	if (parse_u32(f[3], 8, &mode) < 0 || mode > 07777 ||
	    parse_u32(f[4], 10, &e.uid) < 0 || parse_u32(f[5], 10, &e.gid) < 0 ||
	    parse_time(f[6], &e.mtime_s, &e.mtime_ns) < 0 ||
	    parse_u64(f[7], 10, &e.size) < 0 || parse_u64(f[8], 10, &e.ino) < 0 ||
	    parse_time(f[9], &e.ctime_s, &e.ctime_ns) < 0 ||
	    parse_u64(f[10], 16, &e.obj) < 0 || parse_u64(f[12], 10, &rdev) < 0 ||
	    parse_u32(f[13], 10, &link) < 0 || parse_u64(f[15], 16, &v64) < 0 || v64 > 0xff) {
		rc = rd_err(r, "bad number in mode, owner, time, size, object, device, link or flags");
		goto fail;
	}
	e.flags = (uint8_t)v64;
	if (r->v1 && (e.flags & MF_F_HASH2)) {
		rc = rd_err(r, "a version 2 checksum in a version 1 manifest");
		goto fail;
	}
	e.mode = (uint16_t)mode;
	if (e.type == MF_CHR || e.type == MF_BLK)
		e.rdev = rdev;
	else if (rdev != 0) {
		rc = rd_err(r, "a device number on an entry that is not a device");
		goto fail;
	}
	if (e.type == MF_FILE) {
		if (parse_hash(f[11], e.hash) < 0) {
			rc = rd_err(r, "bad checksum '%s'", f[11]);
			goto fail;
		}
		if ((e.size > 0) != (e.obj != 0) || (e.obj != 0 && e.obj >= mf->next_obj)) {
			rc = rd_err(r, "bad object id for a file of %" PRIu64 " bytes", e.size);
			goto fail;
		}
		if (e.packed && poff > UINT64_MAX - e.size) {
			rc = rd_err(r, "bad pack offset");
			goto fail;
		}
		if (e.packed)
			e.off = poff;
	} else if (strcmp(f[11], "-") != 0 || e.obj != 0 || e.packed) {
		rc = rd_err(r, "a checksum or object on an entry that is not a file");
		goto fail;
	}
	if (e.type == MF_HARDLINK) {
		if (link >= idx || !rd_isfile(r, mf, link)) {
			rc = rd_err(r, "hardlink to %" PRIu32 ", which is not an earlier file", link);
			goto fail;
		}
		e.link = link;
	} else if (link != 0) {
		rc = rd_err(r, "a link index on an entry that is not a hardlink");
		goto fail;
	}
	if (e.type == MF_SYMLINK) {
		if ((e.target = unesc(f[14], &len, 0)) == NULL) {
			rc = errno == ENOMEM ? -ENOMEM : rd_err(r, "bad symlink target");
			goto fail;
		}
		if (len == 0) {
			rc = rd_err(r, "empty symlink target");
			goto fail;
		}
	} else if (strcmp(f[14], "-") != 0) {
		rc = rd_err(r, "a link target on an entry that is not a symlink");
		goto fail;
	}
	/* the rest: xattrs */
	for (tok = strtok_r(NULL, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		struct mf_xattr *nx;
		size_t vlen;

		if (eq == NULL || eq == tok) {
			rc = rd_err(r, "bad xattr '%.40s'", tok);
			goto fail;
		}
		*eq = '\0';
		if ((nx = realloc(e.xattrs, (e.nxattrs + 1) * sizeof(*nx))) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		e.xattrs = nx;
		nx = &e.xattrs[e.nxattrs];
		nx->name = unesc(tok, &len, 0);
		nx->value = nx->name ? unesc(eq + 1, &vlen, 1) : NULL;
		if (nx->name == NULL || nx->value == NULL || len == 0) {
			int oom = errno == ENOMEM;
			free(nx->name);
			free(nx->value);
			rc = oom ? -ENOMEM : rd_err(r, "bad xattr name or value");
			goto fail;
		}
		nx->len = vlen;
		e.nxattrs++;
	}
	if (e.type == MF_DIR) {
		if (r->sn == r->scap) {
			size_t nc = r->scap ? r->scap * 2 : 64;
			uint32_t *ns = realloc(r->stack, nc * sizeof(*ns));
			if (ns == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
			r->stack = ns;
			if (r->order) {
				char *nl = realloc(r->lastnm, nc * 256);
				if (nl == NULL) {
					rc = -ENOMEM;
					goto fail;
				}
				r->lastnm = nl;
			}
			r->scap = nc;
		}
		if (r->order)
			r->lastnm[r->sn * 256] = '\0';	/* no child seen yet */
		r->stack[r->sn++] = (uint32_t)idx;
	}
	if (r->stream && e.type == MF_FILE) {
		if (idx / 8 >= r->fbcap) {
			size_t nc = r->fbcap ? r->fbcap * 2 : 4096;
			uint8_t *nb;
			while (idx / 8 >= nc)
				nc *= 2;
			if ((nb = realloc(r->fbits, nc)) == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
			memset(nb + r->fbcap, 0, nc - r->fbcap);
			r->fbits = nb;
			r->fbcap = nc;
		}
		r->fbits[idx / 8] |= (uint8_t)(1u << (idx % 8));
	}
	*out = e;
	return 0;
fail:
	mf_entry_clear(&e);
	return rc;
}

static int
parse_entry(struct rd *r, struct manifest *mf, char *line)
{
	struct mf_entry e;
	int rc = parse_entry_into(r, mf, mf->n, line, &e);

	if (rc < 0)
		return rc;
	long idx = mf_add(mf, &e);
	return idx < 0 ? (int)idx : 0;
}

static int
parse_meta(struct rd *r, struct manifest *mf, char *line)
{
	char *save = NULL, *tok = strtok_r(line, " ", &save);
	int seen = 0;

	if (tok == NULL || strcmp(tok, "meta") != 0)
		return rd_err(r, "expected the meta line");
	while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		char *eq = strchr(tok, '='), **dst = NULL;
		uint64_t v;
		size_t len;

		if (eq == NULL)
			return rd_err(r, "bad meta field '%.40s'", tok);
		*eq++ = '\0';
		if (strcmp(tok, "created") == 0) {
			errno = 0;
			char *end;
			mf->created = strtoll(eq, &end, 10);
			if (errno || *end || end == eq)
				return rd_err(r, "bad created");
		} else if (strcmp(tok, "next_obj") == 0) {
			if (parse_u64(eq, 10, &v) < 0 || v == 0)
				return rd_err(r, "bad next_obj");
			mf->next_obj = v;
			seen = 1;
		} else if (strcmp(tok, "gen") == 0) {
			if (parse_u64(eq, 10, &v) < 0)
				return rd_err(r, "bad gen");
			mf->gen = v;
		} else if (strcmp(tok, "prestage") == 0) {
			if (parse_u64(eq, 10, &v) < 0 || v > 1)
				return rd_err(r, "bad prestage");
			mf->prestage = (int)v;
		} else if (strcmp(tok, "source") == 0) {
			dst = &mf->source;
		} else if (strcmp(tok, "cluster") == 0) {
			dst = &mf->cluster;
		} else if (strcmp(tok, "instance") == 0) {
			dst = &mf->instance;
		}	/* unknown keys: from a newer version, ignored */
		if (dst != NULL) {
			free(*dst);
			if ((*dst = unesc(eq, &len, 0)) == NULL)
				return errno == ENOMEM ? -ENOMEM : rd_err(r, "bad %s", tok);
		}
	}
	return seen ? 0 : rd_err(r, "meta line without next_obj");
}

/* pass 1 of a stream: every entry is checked and given to fn, not kept */
struct mf_visit {
	int	(*fn)(const struct mf_entry *e, void *arg);	/* <0: stop with that */
	void	*arg;
	size_t	 count;
};

static void
rd_free(struct rd *r)
{
	free(r->stack);
	free(r->fbits);
	free(r->lastnm);
}

/* hint: entries expected (0: unknown); v: stream them to v (then *out
 * holds the meta fields only, and no entry) */
static int
read_manifest(FILE *fp, size_t hint, struct rd *rp, struct mf_visit *v, struct manifest **out)
{
	struct manifest *mf = mf_new();
	XXH3_state_t *st = XXH3_createState();
	struct rd r = *rp;
	char *line = NULL, *err = r.err;
	size_t cap = 0, errlen = r.errlen;
	ssize_t len;
	int rc, done = 0;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (mf == NULL || st == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	XXH3_128bits_reset(st);
	{
		/* about 90 bytes a line: room for the entries up front (the
		 * slack is given back at the end) rather than growing */
		if (v == NULL && hint > 0 && hint < (1u << 26) && mf_reserve(mf, hint + 64) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	while ((len = getline(&line, &cap, fp)) > 0) {
		r.line++;
		if (done) {
			rc = rd_err(&r, "text after the end line");
			goto out;
		}
		if (line[len - 1] != '\n') {
			rc = rd_err(&r, "truncated (no newline)");
			goto out;
		}
		if (memchr(line, '\0', (size_t)len) != NULL) {
			rc = rd_err(&r, "NUL byte");
			goto out;
		}
		if (strncmp(line, "end ", 4) == 0 && r.line > 2) {
			XXH128_canonical_t c;
			char hx[33], want[80];
			unsigned long long count;
			char *end;

			XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
			hash_hex(c.digest, hx);
			line[len - 1] = '\0';
			errno = 0;
			count = strtoull(line + 4, &end, 10);
			if (errno || end == line + 4 || *end != ' ' || line[4] == '-') {
				rc = rd_err(&r, "bad end line");
				goto out;
			}
			if (count != (v ? v->count : mf->n)) {
				rc = rd_err(&r, "%zu entries, the end line says %llu",
				    v ? v->count : mf->n, count);
				goto out;
			}
			snprintf(want, sizeof(want), "%s", end + 1);
			if (strcmp(want, hx) != 0) {
				rc = rd_err(&r, "checksum mismatch: the manifest is damaged");
				goto out;
			}
			done = 1;
			continue;
		}
		XXH3_128bits_update(st, line, (size_t)len);
		line[len - 1] = '\0';
		if (r.line == 1) {
			if (strcmp(line, MF_MAGIC) == 0) {
				r.v1 = 0;
			} else if (strcmp(line, MF_MAGIC1) == 0) {
				r.v1 = 1;
			} else {
				rc = rd_err(&r, "not a pcm-agent manifest (no \"" MF_MAGIC "\" header)");
				goto out;
			}
		} else if (r.line == 2) {
			if ((rc = parse_meta(&r, mf, line)) < 0)
				goto out;
		} else if (v != NULL) {
			struct mf_entry e;
			if ((rc = parse_entry_into(&r, mf, v->count, line, &e)) < 0)
				goto out;
			rc = v->fn != NULL ? v->fn(&e, v->arg) : 0;
			mf_entry_clear(&e);
			if (rc < 0)
				goto out;
			v->count++;
		} else if ((rc = parse_entry(&r, mf, line)) < 0) {
			goto out;
		}
	}
	if (ferror(fp)) {
		rc = -EIO;
		snprintf(err, errlen, "read error");
		goto out;
	}
	if (!done) {
		r.line++;
		rc = rd_err(&r, "no end line: an incomplete manifest");
		goto out;
	}
	if ((v ? v->count : mf->n) == 0) {
		rc = rd_err(&r, "no entries");
		goto out;
	}
	if (v != NULL)
		goto ok;
	if (mf->cap > mf->n + 16) {	/* give the slack back */
		struct mf_entry *nv = realloc(mf->e, mf->n * sizeof(*nv));
		if (nv != NULL) {
			mf->e = nv;
			mf->cap = mf->n;
		}
	}
	if ((rc = mf_index(mf)) < 0) {
		if (rc == -EEXIST)
			rc = rd_err(&r, "two entries with the same name in one directory");
		goto out;
	}
ok:
	*out = mf;
	mf = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM && errlen > 0)
		snprintf(err, errlen, "out of memory");
	free(line);
	*rp = r;
	XXH3_freeState(st);
	mf_free(mf);
	return rc;
}

int
mf_read(FILE *fp, struct manifest **out, char *err, size_t errlen)
{
	struct rd r = { .err = err, .errlen = errlen };
	int rc = read_manifest(fp, 0, &r, NULL, out);

	rd_free(&r);
	return rc;
}

int
mf_read_buf(const void *buf, size_t len, struct manifest **out, char *err, size_t errlen)
{
	FILE *fp;
	int rc;

	if (len == 0) {
		snprintf(err, errlen, "empty manifest");
		*out = NULL;
		return -EBADMSG;
	}
	if ((fp = fmemopen((void *)buf, len, "r")) == NULL)
		return -errno;
	rc = mf_read(fp, out, err, errlen);
	fclose(fp);
	return rc;
}

int
mf_load(int savefd, struct manifest **out, char *err, size_t errlen)
{
	int fd = openat(savefd, "MANIFEST", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *fp;
	int rc;

	*out = NULL;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s", strerror(-rc));
		return rc;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	struct stat st;
	struct rd r = { .err = err, .errlen = errlen };
	rc = read_manifest(fp, fstat(fd, &st) == 0 ? (size_t)st.st_size / 90 : 0, &r, NULL, out);
	rd_free(&r);
	fclose(fp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* streaming: the previous save's MANIFEST beside a save's walk */

struct mf_stream {
	FILE		*fp;
	struct manifest	*hdr;		/* the meta fields (no entries) */
	size_t		 count;		/* entries in the file */
	struct rd	 r;
	char		*line;
	size_t		 cap;
	struct mf_entry	 cur;		/* the entry read last */
	size_t		 curidx, next;	/* its index; the next one's */
	size_t		 anc;		/* cur's ancestors are r.stack[0..anc) */
	size_t		 matched;
	int		 have;		/* cur is read and not passed yet */
	int		 end;		/* the entries are over (or could not be read) */
	char		 err[128];
};

int
mf_stream_open(int savefd, int (*visit)(const struct mf_entry *e, void *arg), void *arg,
    struct mf_stream **out, char *err, size_t errlen)
{
	struct mf_stream *st = calloc(1, sizeof(*st));
	struct mf_visit v = { .fn = visit, .arg = arg };
	int fd = -1, rc;

	*out = NULL;
	if (st == NULL)
		return -ENOMEM;
	st->r = (struct rd){ .err = err, .errlen = errlen, .stream = 1, .order = 1 };
	if ((fd = openat(savefd, "MANIFEST", O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s", strerror(-rc));
		goto fail;
	}
	if ((st->fp = fdopen(fd, "r")) == NULL) {
		rc = -errno;
		close(fd);
		goto fail;
	}
	/* pass 1: all of it checked (trailer included) before any is trusted */
	if ((rc = read_manifest(st->fp, 0, &st->r, &v, &st->hdr)) < 0)
		goto fail;
	st->count = v.count;
	/* pass 2, one entry at a time as the walk asks: from the top */
	rewind(st->fp);
	st->r.sn = 0;
	st->r.line = 0;
	st->r.err = st->err;
	st->r.errlen = sizeof(st->err);
	st->r.order = 0;
	for (int i = 0; i < 2; i++)	/* header and meta lines */
		if (getline(&st->line, &st->cap, st->fp) <= 0) {
			rc = -EIO;
			snprintf(err, errlen, "read error");
			goto fail;
		}
	st->r.line = 2;
	*out = st;
	return 0;
fail:
	mf_stream_close(st);
	return rc;
}

const struct manifest *
mf_stream_meta(const struct mf_stream *st)
{
	return st->hdr;
}

size_t
mf_stream_count(const struct mf_stream *st)
{
	return st->count;
}

size_t
mf_stream_matched(const struct mf_stream *st)
{
	return st->matched;
}

int
mf_stream_sorted(const struct mf_stream *st)
{
	return !st->r.unsorted;
}

/* the next entry into cur; 0 at the end, -1 on an error (logged once) */
static int
stream_next(struct mf_stream *st)
{
	ssize_t len;

	mf_entry_clear(&st->cur);
	memset(&st->cur, 0, sizeof(st->cur));
	if (st->end)
		return 0;
	len = getline(&st->line, &st->cap, st->fp);
	st->r.line++;
	if (len <= 0 || st->line[len - 1] != '\n' || strncmp(st->line, "end ", 4) == 0) {
		if (len <= 0 || strncmp(st->line, "end ", 4) != 0)
			slog_notice("the previous MANIFEST could not be read again at line %lu: "
			    "the rest of its files are copied again", st->r.line);
		st->end = 1;
		return 0;
	}
	st->line[len - 1] = '\0';
	if (parse_entry_into(&st->r, st->hdr, st->next, st->line, &st->cur) < 0) {
		slog_notice("the previous MANIFEST changed under the save (%s): the rest of "
		    "its files are copied again", st->err);
		st->end = 1;
		return -1;
	}
	st->curidx = st->next++;
	st->anc = st->r.sn - (st->cur.type == MF_DIR);
	st->have = 1;
	return 1;
}

struct mf_entry *
mf_stream_find(struct mf_stream *st, uint32_t dir, unsigned depth, const char *name,
    size_t *idx)
{
	if (st == NULL || st->r.unsorted)
		return NULL;
	if (st->next == 0) {	/* entry 0, the root, is not looked up */
		if (stream_next(st) <= 0)
			return NULL;
		st->have = 0;
	}
	for (;;) {
		if (!st->have && stream_next(st) <= 0)
			return NULL;
		/* cur's parent is r.stack[anc - 1]: past dir's subtree, or in it */
		if (st->anc < depth + 1 || st->r.stack[depth] != dir)
			return NULL;
		if (st->anc == depth + 1) {	/* a child of dir */
			int c = strcmp(st->cur.name, name);
			if (c == 0) {
				st->have = 0;
				st->matched++;
				*idx = st->curidx;
				return &st->cur;
			}
			if (c > 0)
				return NULL;
		}
		st->have = 0;	/* a name before this one, or below a child: not in the source */
	}
}

void
mf_stream_close(struct mf_stream *st)
{
	if (st == NULL)
		return;
	mf_entry_clear(&st->cur);
	if (st->fp != NULL)
		fclose(st->fp);
	mf_free(st->hdr);
	rd_free(&st->r);
	free(st->line);
	free(st);
}

/* ------------------------------------------------------------------ */
/* lookup by (parent, name) */

static uint64_t
keyhash(uint32_t parent, const char *name)
{
	return XXH3_64bits_withSeed(name, strlen(name), parent);
}

int
mf_index(struct manifest *mf)
{
	size_t size = 16;

	while (size < mf->n + mf->n / 4)	/* load up to 0.8: memory at 200k entries */
		size *= 2;
	free(mf->htab);
	if ((mf->htab = malloc(size * sizeof(*mf->htab))) == NULL)
		return -ENOMEM;
	memset(mf->htab, 0xff, size * sizeof(*mf->htab));
	mf->hsize = size;
	for (size_t i = 1; i < mf->n; i++) {
		size_t h = keyhash(mf->e[i].parent, mf->e[i].name) & (size - 1);
		while (mf->htab[h] != UINT32_MAX) {
			const struct mf_entry *o = &mf->e[mf->htab[h]];
			if (o->parent == mf->e[i].parent && strcmp(o->name, mf->e[i].name) == 0)
				return -EEXIST;
			h = (h + 1) & (size - 1);
		}
		mf->htab[h] = (uint32_t)i;
	}
	return 0;
}

long
mf_lookup(const struct manifest *mf, uint32_t parent, const char *name)
{
	if (mf == NULL || mf->htab == NULL)
		return -1;
	size_t h = keyhash(parent, name) & (mf->hsize - 1);
	while (mf->htab[h] != UINT32_MAX) {
		const struct mf_entry *o = &mf->e[mf->htab[h]];
		if (o->parent == parent && strcmp(o->name, name) == 0)
			return mf->htab[h];
		h = (h + 1) & (mf->hsize - 1);
	}
	return -1;
}
