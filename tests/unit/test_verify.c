/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_verify.c - stor_verify_incremental: re-reads only objects not
 * verified before (counted), still catches a damaged new object, a missing
 * or truncated old one, a delta-updated object; stor_verify (full) still
 * catches damage to an old object that the incremental verify cannot see.
 * A save of checksum version 1 (holes hashed as zeros: a manifest written
 * before version 2) still verifies, restores and finds damage, and the
 * next save keeps its unchanged entries' version 1 checksums. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu.h"
#include "priv.h"

static char top[] = "/tmp/pcm-test-verify.XXXXXX";
static char src[512], tgt[512];
static struct stor_opts so = { .workers = 2, .delta_min_size = 256 * 1024 };

static void
quiet(int level, const char *msg)
{
	(void)level;
	(void)msg;
}

static void
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "\n  command failed (%d): %s\n", rc, cmd);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/* invert one byte of a file in place: damage, whatever the byte was (a
 * constant written over random data was a no-op once in 256 runs) */
static void
flip(const char *path, off_t off)
{
	unsigned char b;
	int fd = open(path, O_RDWR);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(pread(fd, &b, 1, off) == 1);
	b ^= 0xff;
	CU_ASSERT_FATAL(pwrite(fd, &b, 1, off) == 1);
	close(fd);
}

static int
setup(void)
{
	if (mkdtemp(top) == NULL)
		return -1;
	stor_set_logger(quiet);
	snprintf(src, sizeof(src), "%s/src", top);
	snprintf(tgt, sizeof(tgt), "%s/save", top);
	return 0;
}

static int
teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	return system(cmd) == 0 ? 0 : -1;
}

/* a fresh tree: 4 files of 200 KiB (objects), 1 of 1 MiB (delta-able),
 * 30 small files (a pack); saved and fully verified */
static void
fresh(void)
{
	struct stor_result r;

	sh("rm -rf %s %s && mkdir -p %s/small", src, tgt, src);
	for (int i = 1; i <= 4; i++)
		sh("head -c 204800 /dev/urandom > %s/a%d", src, i);
	sh("head -c 1048576 /dev/urandom > %s/big", src);
	sh("for i in $(seq 1 30); do head -c 1000 /dev/urandom > %s/small/s$i; done", src);
	CU_ASSERT_EQUAL_FATAL(stor_save(src, tgt, &so, &r), 0);
	CU_ASSERT_EQUAL_FATAL(stor_verify(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 35);
	CU_ASSERT_EQUAL(r.files_known, 0);
	CU_ASSERT_EQUAL(r.bytes_copied, 4 * 204800 + 1048576 + 30 * 1000);
}

/* "objects/XX/ID" of file `name` (top level or small/NAME) in the save */
static void
objpath(const char *name, char *out, size_t len)
{
	struct manifest *mf = NULL;
	char err[256], rel[64];
	long i;
	int fd = open(tgt, O_RDONLY | O_DIRECTORY);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(mf_load(fd, &mf, err, sizeof(err)), 0);
	close(fd);
	CU_ASSERT_EQUAL_FATAL(mf_index(mf), 0);
	i = mf_lookup(mf, 0, name);
	CU_ASSERT_FATAL(i > 0);
	CU_ASSERT_FATAL(mf->e[i].obj != 0);
	obj_path(mf->e[i].obj, rel, sizeof(rel));
	snprintf(out, len, "%s/%s", tgt, rel);
	mf_free(mf);
}

static void
test_only_new(void)
{
	struct stor_result r;

	fresh();
	/* nothing new: nothing re-read */
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 0);
	CU_ASSERT_EQUAL(r.files_known, 35);
	CU_ASSERT_EQUAL(r.bytes_copied, 0);
	/* one file replaced, one new, one small new: only those three */
	sh("head -c 204800 /dev/urandom > %s/a1 && head -c 204800 /dev/urandom > %s/n1 && "
	    "echo new > %s/small/new", src, src, src);
	CU_ASSERT_EQUAL_FATAL(stor_save(src, tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_copied, 3);
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 3);
	CU_ASSERT_EQUAL(r.files_known, 34);
	CU_ASSERT_EQUAL(r.bytes_copied, 2 * 204800 + 4);
	/* and the VERIFIED it wrote covers them: nothing again */
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 0);
	CU_ASSERT_EQUAL(r.files_known, 37);
	/* the full verify re-reads everything regardless */
	CU_ASSERT_EQUAL(stor_verify(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 37);
}

static void
test_delta_is_new(void)
{
	struct stor_result r;

	fresh();
	sh("printf XXXX | dd of=%s/big bs=1 seek=300000 conv=notrunc status=none", src);
	CU_ASSERT_EQUAL_FATAL(stor_save(src, tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_delta, 1);	/* updated in place, same object id */
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 1);
	CU_ASSERT_EQUAL(r.bytes_copied, 1048576);
}

static void
test_damaged_new(void)
{
	struct stor_result r;
	char p[1024];

	fresh();
	sh("head -c 204800 /dev/urandom > %s/n1", src);
	CU_ASSERT_EQUAL_FATAL(stor_save(src, tgt, &so, &r), 0);
	objpath("n1", p, sizeof(p));
	flip(p, 1000);
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), -EBADMSG);
	CU_ASSERT_EQUAL(r.bad, 1);
	CU_ASSERT_EQUAL(r.files_reread, 1);
	/* a failed verify records nothing: it is caught again */
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), -EBADMSG);
	CU_ASSERT_EQUAL(r.bad, 1);
}

static void
test_old_missing_truncated(void)
{
	struct stor_result r;
	char p2[1024], p3[1024];

	fresh();
	sh("head -c 204800 /dev/urandom > %s/n1", src);
	CU_ASSERT_EQUAL_FATAL(stor_save(src, tgt, &so, &r), 0);
	objpath("a2", p2, sizeof(p2));
	objpath("a3", p3, sizeof(p3));
	sh("truncate -s 1000 %s && rm %s", p2, p3);
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), -EBADMSG);
	CU_ASSERT_EQUAL(r.bad, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.errmsg, "did not check out"));
}

/* damage an old object and make VERIFIED believe its stat (bit rot does
 * not change mtime/ctime): only the full verify can find it */
static void
test_bitrot_full_only(void)
{
	struct stor_result r;
	struct vset v, w = { 0 };
	struct stat st;
	char p[1024];
	int fd;

	fresh();
	objpath("a4", p, sizeof(p));
	flip(p, 5);
	CU_ASSERT_EQUAL_FATAL(stat(p, &st), 0);
	fd = open(tgt, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(vset_load(fd, &v), 0);
	CU_ASSERT_FATAL(v.no > 0 && v.ne == 35);
	for (size_t i = 0; i < v.no; i++) {
		struct stat o = { 0 };
		o.st_ino = v.o[i].ino;
		o.st_size = (off_t)v.o[i].size;
		o.st_mtim.tv_sec = v.o[i].mt_s;
		o.st_mtim.tv_nsec = v.o[i].mt_ns;
		o.st_ctim.tv_sec = v.o[i].ct_s;
		o.st_ctim.tv_nsec = v.o[i].ct_ns;
		CU_ASSERT_EQUAL(vset_add_obj(&w, v.o[i].id, o.st_ino == st.st_ino ? &st : &o), 0);
	}
	w.e = v.e;
	w.ne = v.ne;
	v.e = NULL;
	CU_ASSERT_EQUAL(vset_write(fd, &w, v.gen), 0);
	vset_free(&v);
	vset_free(&w);
	close(fd);
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);	/* the documented limit */
	CU_ASSERT_EQUAL(r.files_reread, 0);
	CU_ASSERT_EQUAL(stor_verify(tgt, &so, &r), -EBADMSG);
	CU_ASSERT_EQUAL(r.bad, 1);
}

static void
test_bad_verified_file(void)
{
	struct stor_result r;

	fresh();
	/* one changed byte in VERIFIED: its trailer does not check out */
	sh("sed -i '2s/^o 0/o 1/' %s/VERIFIED", tgt);
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 35);
	sh("printf garbage > %s/VERIFIED", tgt);
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 35);
	sh("rm %s/VERIFIED", tgt);
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 35);
	CU_ASSERT_EQUAL(stor_verify_incremental(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reread, 0);
}

/* the save in tgt turned into one of version 1: every checksum recomputed
 * the old way (from the source, unchanged), the flags cleared */
static void
to_v1(void)
{
	struct manifest *mf = NULL;
	char err[256], pbuf[PATH_MAX], path[PATH_MAX * 2], head[32];
	int fd = open(tgt, O_RDONLY | O_DIRECTORY), nv1 = 0;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(mf_load(fd, &mf, err, sizeof(err)), 0);
	for (size_t i = 0; i < mf->n; i++) {
		struct mf_entry *e = &mf->e[i];
		unsigned char h[16];
		int sfd, werr;

		if (e->type != MF_FILE)
			continue;
		CU_ASSERT(e->flags & MF_F_HASH2);
		snprintf(path, sizeof(path), "%s/%s", src, mf_path(mf, i, pbuf, sizeof(pbuf)));
		CU_ASSERT_FATAL((sfd = open(path, O_RDONLY)) >= 0);
		CU_ASSERT_EQUAL_FATAL(copy_range(sfd, 0, -1, 0, e->size, CD_WHOLE | CD_SPARSE |
		    CD_HASH1, h, NULL, &werr, NULL), 0);
		close(sfd);
		CU_ASSERT(memcmp(h, e->hash, 16) != 0);	/* the two versions differ */
		memcpy(e->hash, h, 16);
		e->flags &= (uint8_t)~MF_F_HASH2;
		nv1++;
	}
	CU_ASSERT(nv1 > 30);
	CU_ASSERT_EQUAL_FATAL(mf_write_tmp(fd, mf), 0);
	CU_ASSERT_EQUAL_FATAL(mf_commit(fd), 0);
	mf_free(mf);
	close(fd);
	snprintf(path, sizeof(path), "%s/MANIFEST", tgt);
	FILE *fp = fopen(path, "r");
	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT_FATAL(fgets(head, sizeof(head), fp) != NULL);
	fclose(fp);
	CU_ASSERT_STRING_EQUAL(head, "pcm-agent-manifest 1\n");
}

static void
test_v1_checksums(void)
{
	struct stor_result r;
	char out[PATH_MAX], obj[PATH_MAX];

	fresh();
	/* a sparse file: its version 1 checksum hashed the holes */
	sh("truncate -s 64M %s/sparse && printf data | dd of=%s/sparse bs=1M seek=40 "
	    "conv=notrunc status=none", src, src);
	CU_ASSERT_EQUAL_FATAL(stor_save(src, tgt, &so, &r), 0);
	to_v1();
	sh("rm -f %s/VERIFIED", tgt);
	CU_ASSERT_EQUAL(stor_verify(tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.bad, 0);
	snprintf(out, sizeof(out), "%s/out", top);
	sh("rm -rf %s", out);
	CU_ASSERT_EQUAL(stor_restore(tgt, out, &so, &r), 0);
	CU_ASSERT_EQUAL(r.bad, 0);
	sh("diff -r %s %s", src, out);
	CU_ASSERT_EQUAL(stor_dir_matches(tgt, out, 1, &r), 1);
	/* an unchanged file keeps its version 1 checksum through the next
	 * save, a changed one gets version 2: both verify */
	sh("head -c 204800 /dev/urandom > %s/a1", src);
	CU_ASSERT_EQUAL_FATAL(stor_save(src, tgt, &so, &r), 0);
	CU_ASSERT_EQUAL(r.files_reused, 35);
	CU_ASSERT_EQUAL(stor_verify(tgt, &so, &r), 0);
	sh("head -1 %s/MANIFEST | grep -qx 'pcm-agent-manifest 2'", tgt);
	sh("awk '$3 == \"a2\" && $16 == \"0\"' %s/MANIFEST | grep -q .", tgt);
	/* damage in a version 1 entry is still found */
	objpath("a2", obj, sizeof(obj));
	flip(obj, 100);
	CU_ASSERT_EQUAL(stor_verify(tgt, &so, &r), -EBADMSG);
	CU_ASSERT_EQUAL(r.bad, 1);
}

/* version 2 checksum of buf[0..n) fed in pieces of `step` bytes, pieces
 * that are all zeros left out (holes) when skip */
static void
h2(const unsigned char *buf, size_t n, size_t step, int skip, unsigned char out[16])
{
	struct chash h;

	chash_init(&h, 1);
	for (size_t off = 0; off < n; off += step) {
		size_t c = n - off < step ? n - off : step, z = 0;
		while (z < c && buf[off + z] == 0)
			z++;
		if (skip && z == c)
			continue;
		chash_feed(&h, off, buf + off, c);
	}
	CU_ASSERT_EQUAL(chash_final(&h, n, out), 0);
}

static void
test_hash2_layout(void)
{
	size_t n = 5 * 65536 + 1234;
	unsigned char *buf = calloc(1, n), a[16], b[16];
	static const size_t steps[] = { 1, 4096, 4097, 65536, 65537, 200000, 5 * 65536 + 1234 };

	CU_ASSERT_FATAL(buf != NULL);
	for (size_t i = 0; i < 3000; i++)	/* data in blocks 0, 2 (its end) and 5 */
		buf[i] = (unsigned char)(i * 7 + 1);
	for (size_t i = 3 * 65536 - 100; i < 3 * 65536; i++)
		buf[i] = 0x5a;
	buf[n - 1] = 1;
	h2(buf, n, n, 0, a);
	/* any chunking, holes or written zeros: the same checksum */
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
		for (int skip = 0; skip <= 1; skip++) {
			h2(buf, n, steps[k], skip, b);
			CU_ASSERT(memcmp(a, b, 16) == 0);
		}
	/* the map counts: the same bytes one block later differ */
	memmove(buf + 65536, buf, 3000);
	memset(buf, 0, 3000);
	h2(buf, n, 4096, 1, b);
	CU_ASSERT(memcmp(a, b, 16) != 0);
	/* and the size: one more zero byte at the end */
	buf[n - 1] = 0;
	h2(buf, n, 4096, 1, a);
	h2(buf, n - 1, 4096, 1, b);
	CU_ASSERT(memcmp(a, b, 16) != 0);
	/* a damaged byte */
	buf[3 * 65536 - 50] ^= 1;
	h2(buf, n, 4096, 1, b);
	CU_ASSERT(memcmp(a, b, 16) != 0);
	free(buf);
}

static const struct cu_test tests[] = {
	{ "checksum version 2: layout-independent, map and size count", test_hash2_layout },
	{ "a save of checksum version 1 verifies and restores", test_v1_checksums },
	{ "incremental verify re-reads only new objects", test_only_new },
	{ "a delta-updated object is re-read", test_delta_is_new },
	{ "a damaged new object is caught", test_damaged_new },
	{ "a missing or truncated old object is caught", test_old_missing_truncated },
	{ "damage with an unchanged stat: only the full verify", test_bitrot_full_only },
	{ "a damaged or missing VERIFIED: everything re-read", test_bad_verified_file },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("verify", tests, setup, teardown)
