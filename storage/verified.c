/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * verified.c - SAVEDIR/VERIFIED: what the last successful verify re-read
 * and found good, so that an incremental verify re-reads only the rest.
 *
 * Format (text, one record a line):
 *   pcm-agent-verified 1 GEN
 *   o ID INO SIZE MTIME_S MTIME_NS CTIME_S CTIME_NS   an object as it was stat'ed
 *   e ID OFF SIZE XXH3-128                             an entry checked against it
 *   end NLINES XXH3-64-OF-ALL-THE-TEXT-ABOVE
 * Written to VERIFIED.tmp, fsynced, renamed, directory fsynced.  A file
 * that does not parse or whose trailer does not check out is ignored
 * (everything is re-read).
 *
 * An entry counts as verified when its (object, offset, size, checksum)
 * is listed AND its object still has the inode, size, mtime and ctime
 * recorded: a replaced object (a new file under a reused id), a delta
 * applied in place or a truncation changes them, and the entry is re-read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "priv.h"

void
vset_free(struct vset *v)
{
	if (v == NULL)
		return;
	free(v->o);
	free(v->e);
	memset(v, 0, sizeof(*v));
}

static int
vobj_cmp(const void *a, const void *b)
{
	const struct vobj *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int
vent_cmp(const void *a, const void *b)
{
	const struct vent *x = a, *y = b;

	if (x->obj != y->obj)
		return x->obj < y->obj ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return memcmp(x->hash, y->hash, 16);
}

int
vset_add_obj(struct vset *v, uint64_t id, const struct stat *st)
{
	if (v->no > 0 && v->o[v->no - 1].id == id)
		return 0;	/* packs: the same object for many entries in a row */
	if (v->no == v->ocap) {
		size_t nc = v->ocap ? v->ocap * 2 : 256;
		void *nv = realloc(v->o, nc * sizeof(v->o[0]));
		if (nv == NULL)
			return -ENOMEM;
		v->o = nv;
		v->ocap = nc;
	}
	v->o[v->no++] = (struct vobj){ .id = id, .ino = st->st_ino, .size = (uint64_t)st->st_size,
	    .mt_s = st->st_mtim.tv_sec, .mt_ns = st->st_mtim.tv_nsec,
	    .ct_s = st->st_ctim.tv_sec, .ct_ns = st->st_ctim.tv_nsec };
	return 0;
}

int
vset_add_ent(struct vset *v, const struct mf_entry *e)
{
	if (v->ne == v->ecap) {
		size_t nc = v->ecap ? v->ecap * 2 : 1024;
		void *nv = realloc(v->e, nc * sizeof(v->e[0]));
		if (nv == NULL)
			return -ENOMEM;
		v->e = nv;
		v->ecap = nc;
	}
	v->e[v->ne].obj = e->obj;
	v->e[v->ne].off = e->packed ? e->off : 0;
	v->e[v->ne].size = e->size;
	memcpy(v->e[v->ne].hash, e->hash, 16);
	v->ne++;
	return 0;
}

/* sort and drop duplicates (an object met twice, not in a row) */
static void
vset_sort(struct vset *v)
{
	size_t k = 0;

	if (v->no > 1)
		qsort(v->o, v->no, sizeof(v->o[0]), vobj_cmp);
	for (size_t i = 0; i < v->no; i++)
		if (k == 0 || v->o[k - 1].id != v->o[i].id)
			v->o[k++] = v->o[i];
	v->no = k;
	if (v->ne > 1)
		qsort(v->e, v->ne, sizeof(v->e[0]), vent_cmp);
	k = 0;
	for (size_t i = 0; i < v->ne; i++)
		if (k == 0 || vent_cmp(&v->e[k - 1], &v->e[i]) != 0)
			v->e[k++] = v->e[i];
	v->ne = k;
}

int
vset_has(const struct vset *v, const struct mf_entry *e, const struct stat *st)
{
	struct vobj ko = { .id = e->obj };
	struct vent ke = { .obj = e->obj, .off = e->packed ? e->off : 0, .size = e->size };
	const struct vobj *o;

	if (v->no == 0 || v->ne == 0)
		return 0;
	memcpy(ke.hash, e->hash, 16);
	if ((o = bsearch(&ko, v->o, v->no, sizeof(v->o[0]), vobj_cmp)) == NULL)
		return 0;
	if (o->ino != st->st_ino || o->size != (uint64_t)st->st_size ||
	    o->mt_s != st->st_mtim.tv_sec || o->mt_ns != st->st_mtim.tv_nsec ||
	    o->ct_s != st->st_ctim.tv_sec || o->ct_ns != st->st_ctim.tv_nsec)
		return 0;
	return bsearch(&ke, v->e, v->ne, sizeof(v->e[0]), vent_cmp) != NULL;
}

static int
unhex16(const char *s, unsigned char out[16])
{
	for (int i = 0; i < 16; i++) {
		unsigned int b;
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = (unsigned char)b;
	}
	return s[32] == '\0' ? 0 : -1;
}

/* parse buf (NUL-terminated, modified); -EBADMSG when it does not check out */
static int
vset_parse(char *buf, size_t len, struct vset *v)
{
	char *end, *line, *save = NULL;
	unsigned long long gen, nl, sum;
	size_t lines = 0;
	int rc;

	/* the trailer: the last line */
	if (len < 2 || buf[len - 1] != '\n')
		return -EBADMSG;
	buf[len - 1] = '\0';
	if ((end = strrchr(buf, '\n')) == NULL)
		return -EBADMSG;
	end++;
	if (sscanf(end, "end %llu %llx", &nl, &sum) != 2 ||
	    XXH3_64bits(buf, (size_t)(end - buf)) != (XXH64_hash_t)sum)
		return -EBADMSG;
	end[-1] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		lines++;
		if (lines == 1) {
			if (sscanf(line, "pcm-agent-verified 1 %llu", &gen) != 1)
				return -EBADMSG;
			v->gen = gen;
		} else if (line[0] == 'o') {
			unsigned long long id, ino, size, ms, mn, cs, cn;
			struct stat st = { 0 };
			if (sscanf(line, "o %llx %llu %llu %llu %llu %llu %llu", &id, &ino, &size,
			    &ms, &mn, &cs, &cn) != 7)
				return -EBADMSG;
			st.st_ino = ino;
			st.st_size = (off_t)size;
			st.st_mtim.tv_sec = (time_t)ms;
			st.st_mtim.tv_nsec = (long)mn;
			st.st_ctim.tv_sec = (time_t)cs;
			st.st_ctim.tv_nsec = (long)cn;
			if ((rc = vset_add_obj(v, id, &st)) < 0)
				return rc;
		} else if (line[0] == 'e') {
			unsigned long long id, off, size;
			char hex[33];
			struct mf_entry e = { 0 };
			if (sscanf(line, "e %llx %llu %llu %32s", &id, &off, &size, hex) != 4 ||
			    unhex16(hex, e.hash) < 0)
				return -EBADMSG;
			e.obj = id;
			e.off = off;
			e.packed = 1;
			e.size = size;
			if ((rc = vset_add_ent(v, &e)) < 0)
				return rc;
		} else
			return -EBADMSG;
	}
	if (lines != nl)
		return -EBADMSG;
	vset_sort(v);
	return 0;
}

int
vset_load(int savefd, struct vset *v)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc;

	memset(v, 0, sizeof(*v));
	if ((fd = safe_openat(savefd, "VERIFIED", O_RDONLY, 0, 0)) < 0)
		return fd == -ENOENT ? 0 : fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)1 << 32) {
		rc = -EBADMSG;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EBADMSG;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	rc = vset_parse(buf, got, v);
out:
	if (rc < 0)
		vset_free(v);
	free(buf);
	close(fd);
	return rc;
}

int
vset_write(int savefd, struct vset *v, uint64_t gen)
{
	char *text = NULL, hex[33];
	size_t len = 0;
	FILE *mem;
	int fd = -1, rc = 0;

	vset_sort(v);
	if ((mem = open_memstream(&text, &len)) == NULL)
		return -errno;
	fprintf(mem, "pcm-agent-verified 1 %llu\n", (unsigned long long)gen);
	for (size_t i = 0; i < v->no; i++) {
		const struct vobj *o = &v->o[i];
		fprintf(mem, "o %016llx %llu %llu %lld %u %lld %u\n", (unsigned long long)o->id,
		    (unsigned long long)o->ino, (unsigned long long)o->size, (long long)o->mt_s,
		    o->mt_ns, (long long)o->ct_s, o->ct_ns);
	}
	for (size_t i = 0; i < v->ne; i++) {
		hash_hex(v->e[i].hash, hex);
		fprintf(mem, "e %016llx %llu %llu %s\n", (unsigned long long)v->e[i].obj,
		    (unsigned long long)v->e[i].off, (unsigned long long)v->e[i].size, hex);
	}
	if (fclose(mem) != 0) {
		free(text);
		return -ENOMEM;
	}
	{
		char tr[64];
		int tl = snprintf(tr, sizeof(tr), "end %llu %016llx\n",
		    (unsigned long long)(1 + v->no + v->ne),
		    (unsigned long long)XXH3_64bits(text, len));
		if ((fd = safe_openat(savefd, "VERIFIED.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0600, 0)) < 0) {
			rc = fd;
			fd = -1;
			goto out;
		}
		for (size_t off = 0; off < len;) {
			ssize_t n = write(fd, text + off, len - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = -errno;
				goto out;
			}
			off += (size_t)n;
		}
		if (write(fd, tr, (size_t)tl) != tl) {
			rc = errno ? -errno : -EIO;
			goto out;
		}
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		rc = -errno;
		fd = -1;
		goto out;
	}
	fd = -1;
	if (renameat(savefd, "VERIFIED.tmp", savefd, "VERIFIED") < 0 || fsync(savefd) < 0)
		rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlinkat(savefd, "VERIFIED.tmp", 0);
	free(text);
	return rc;
}
