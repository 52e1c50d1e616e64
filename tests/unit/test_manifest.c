/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_manifest.c - manifest encode/decode, every check of the parser, lookup */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu.h"
#include "priv.h"

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	CU_ASSERT_FATAL(p != NULL);
	return p;
}

static void
add(struct manifest *mf, int type, uint32_t parent, const char *name)
{
	struct mf_entry e = { 0 };

	e.type = (uint8_t)type;
	e.parent = parent;
	e.name = xstrdup(name);
	e.mode = 0755;
	e.mtime_s = 1700000000;
	e.mtime_ns = 123456789;
	e.ctime_s = -5;
	e.ctime_ns = 1;
	CU_ASSERT_FATAL(mf_add(mf, &e) >= 0);
}

/* a manifest with every kind of entry and hostile names */
static struct manifest *
sample(void)
{
	struct manifest *mf = mf_new();
	char longname[256];

	memset(longname, 'n', 255);
	longname[255] = '\0';
	CU_ASSERT_FATAL(mf != NULL);
	mf->next_obj = 10;
	mf->created = 1700000001;
	mf->source = xstrdup("/scratch dir");
	mf->cluster = xstrdup("c=1");
	mf->instance = xstrdup("i-0abc");
	add(mf, MF_DIR, 0, ".");			/* 0 */
	add(mf, MF_DIR, 0, "dir with space");		/* 1 */
	add(mf, MF_FILE, 1, "new\nline%=-");		/* 2 */
	mf->e[2].size = 5;
	mf->e[2].obj = 9;
	mf->e[2].mode = 04755;
	mf->e[2].uid = 4294967294u;
	memset(mf->e[2].hash, 0xab, 16);
	mf->e[2].flags = MF_F_CHANGED;
	mf->e[2].xattrs = calloc(2, sizeof(struct mf_xattr));
	mf->e[2].nxattrs = 2;
	mf->e[2].xattrs[0].name = xstrdup("user.a b");
	mf->e[2].xattrs[0].value = malloc(3);
	memcpy(mf->e[2].xattrs[0].value, "\0=\n", 3);
	mf->e[2].xattrs[0].len = 3;
	mf->e[2].xattrs[1].name = xstrdup("user.empty");
	mf->e[2].xattrs[1].value = malloc(1);
	mf->e[2].xattrs[1].len = 0;
	add(mf, MF_HARDLINK, 1, "-");			/* 3 */
	mf->e[3].link = 2;
	add(mf, MF_SYMLINK, 0, "\xff\xfe");		/* 4 */
	mf->e[4].target = xstrdup("../x y");
	add(mf, MF_CHR, 0, longname);			/* 5 */
	mf->e[5].rdev = 259;
	add(mf, MF_FIFO, 0, "fifo");			/* 6 */
	add(mf, MF_FILE, 0, "empty");			/* 7 */
	add(mf, MF_FILE, 0, "packed");			/* 8 */
	mf->e[8].size = 100;
	mf->e[8].obj = 3;
	mf->e[8].packed = 1;
	mf->e[8].off = 123456789;
	return mf;
}

static char *
encode(struct manifest *mf, size_t *len)
{
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);

	CU_ASSERT_FATAL(fp != NULL);
	CU_ASSERT_EQUAL(mf_write(mf, fp), 0);
	fclose(fp);
	return buf;
}

static void
test_roundtrip(void)
{
	struct manifest *mf = sample(), *back = NULL;
	char err[256] = "", pbuf[512];
	size_t len;
	char *text = encode(mf, &len);

	int rc = mf_read_buf(text, len, &back, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "\n  %s\n%s", err, text);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL_FATAL(back->n, mf->n);
	CU_ASSERT_EQUAL(back->next_obj, 10);
	CU_ASSERT_EQUAL(back->created, 1700000001);
	CU_ASSERT_STRING_EQUAL(back->source, "/scratch dir");
	CU_ASSERT_STRING_EQUAL(back->cluster, "c=1");
	for (size_t i = 0; i < mf->n; i++) {
		const struct mf_entry *a = &mf->e[i], *b = &back->e[i];
		CU_ASSERT_STRING_EQUAL(a->name, b->name);
		CU_ASSERT_EQUAL(a->type, b->type);
		CU_ASSERT_EQUAL(a->parent, b->parent);
		CU_ASSERT_EQUAL(a->mode, b->mode);
		CU_ASSERT_EQUAL(a->uid, b->uid);
		CU_ASSERT_EQUAL(a->mtime_s, b->mtime_s);
		CU_ASSERT_EQUAL(a->mtime_ns, b->mtime_ns);
		CU_ASSERT_EQUAL(a->ctime_s, b->ctime_s);
		CU_ASSERT_EQUAL(a->size, b->size);
		CU_ASSERT_EQUAL(a->obj, b->obj);
		CU_ASSERT_EQUAL(a->packed, b->packed);
		if (a->packed)
			CU_ASSERT_EQUAL(a->off, b->off);
		if (a->type == MF_CHR || a->type == MF_BLK)
			CU_ASSERT_EQUAL(a->rdev, b->rdev);
		if (a->type == MF_HARDLINK)
			CU_ASSERT_EQUAL(a->link, b->link);
		CU_ASSERT_EQUAL(a->flags, b->flags);
		CU_ASSERT_EQUAL(a->nxattrs, b->nxattrs);
		if (a->type == MF_FILE)
			CU_ASSERT_EQUAL(memcmp(a->hash, b->hash, 16), 0);
	}
	CU_ASSERT_STRING_EQUAL(back->e[4].target, "../x y");
	CU_ASSERT_EQUAL(back->e[2].xattrs[0].len, 3);
	CU_ASSERT_EQUAL(memcmp(back->e[2].xattrs[0].value, "\0=\n", 3), 0);
	CU_ASSERT_STRING_EQUAL(back->e[2].xattrs[0].name, "user.a b");
	CU_ASSERT_EQUAL(back->e[2].xattrs[1].len, 0);
	CU_ASSERT_EQUAL(strlen(back->e[5].name), 255);
	/* lookup by (parent, name) */
	CU_ASSERT_EQUAL(mf_lookup(back, 1, "new\nline%=-"), 2);
	CU_ASSERT_EQUAL(mf_lookup(back, 0, "new\nline%=-"), -1);
	CU_ASSERT_EQUAL(mf_lookup(back, 1, "-"), 3);
	CU_ASSERT_STRING_EQUAL(mf_path(back, 2, pbuf, sizeof(pbuf)), "dir with space/new\nline%=-");
	/* the text has one line per entry: names are escaped */
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	CU_ASSERT_EQUAL(lines, mf->n + 3);
	free(text);
	mf_free(mf);
	mf_free(back);
}

/* paths as ls and restore --path take them (list.c) */
static void
test_find_path(void)
{
	struct manifest *mf = sample(), *back = NULL;
	char err[256];
	size_t len, idx = 99;
	char *text = encode(mf, &len);

	CU_ASSERT_EQUAL_FATAL(mf_read_buf(text, len, &back, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(mf_find_path(back, NULL, &idx), 0);
	CU_ASSERT_EQUAL(idx, 0);
	CU_ASSERT_EQUAL(mf_find_path(back, "/", &idx), 0);
	CU_ASSERT_EQUAL(idx, 0);
	CU_ASSERT_EQUAL(mf_find_path(back, "", &idx), 0);
	CU_ASSERT_EQUAL(idx, 0);
	CU_ASSERT_EQUAL(mf_find_path(back, "dir with space/new\nline%=-", &idx), 0);
	CU_ASSERT_EQUAL(idx, 2);
	CU_ASSERT_EQUAL(mf_find_path(back, "//./dir with space//-/", &idx), 0);
	CU_ASSERT_EQUAL(idx, 3);
	CU_ASSERT_EQUAL(mf_find_path(back, "\xff\xfe", &idx), 0);
	CU_ASSERT_EQUAL(idx, 4);
	idx = 99;
	CU_ASSERT_EQUAL(mf_find_path(back, "dir with space/../fifo", &idx), -ENOENT);
	CU_ASSERT_EQUAL(idx, 0);	/* untouched but zeroed: never a partial walk */
	CU_ASSERT_EQUAL(mf_find_path(back, "..", &idx), -ENOENT);
	CU_ASSERT_EQUAL(mf_find_path(back, "fifo/x", &idx), -ENOENT);	/* not a directory */
	CU_ASSERT_EQUAL(mf_find_path(back, "dir with spac", &idx), -ENOENT);
	CU_ASSERT_EQUAL(mf_find_path(back, "new\nline%=-", &idx), -ENOENT);	/* not at the top */
	free(text);
	mf_free(mf);
	mf_free(back);
}

/* dropped entries are left out, and what hangs on them too */
static void
test_drop(void)
{
	struct manifest *mf = sample(), *back = NULL;
	char err[256];
	size_t len;

	mf->e[2].wflags |= MF_W_DROP;	/* the hardlink 3 refers to it */
	char *text = encode(mf, &len);
	CU_ASSERT_EQUAL_FATAL(mf_read_buf(text, len, &back, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(back->n, mf->n - 2);
	CU_ASSERT_EQUAL(mf_lookup(back, 1, "-"), -1);
	CU_ASSERT(mf_lookup(back, 0, "fifo") > 0);
	free(text);
	mf_free(mf);
	mf_free(back);
}

static void
expect_bad(const char *text, const char *msg)
{
	struct manifest *mf = (struct manifest *)1;
	char err[256] = "";

	CU_ASSERT_EQUAL(mf_read_buf(text, strlen(text), &mf, err, sizeof(err)), -EBADMSG);
	CU_ASSERT_PTR_NULL(mf);
	if (strstr(err, msg) == NULL)
		fprintf(stderr, "\n  want '%s' in '%s'\n", msg, err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, msg));
}

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

static char *
sealed(const char *body, int count)
{
	XXH128_canonical_t c;
	char hx[33], *out;

	XXH128_canonicalFromHash(&c, XXH3_128bits(body, strlen(body)));
	hash_hex(c.digest, hx);
	CU_ASSERT_FATAL(asprintf(&out, "%send %d %s\n", body, count, hx) > 0);
	return out;
}

#define HDR "pcm-agent-manifest 1\nmeta created=1 next_obj=5 prestage=0 source=/s cluster=c instance=i\n"
#define ROOT "d 0 . 755 0 0 1.000000000 0 2 1.000000000 0 - 0 0 - 0\n"

static void
test_parser_errors(void)
{
	char *t;

	/* the good one first, so that the others fail for their own reason */
	t = sealed(HDR ROOT "f 0 a 644 0 0 1.000000000 3 7 1.000000000 1 "
	    "00112233445566778899aabbccddeeff 0 0 - 0\n", 2);
	{
		struct manifest *mf = NULL;
		char err[256];
		CU_ASSERT_EQUAL(mf_read_buf(t, strlen(t), &mf, err, sizeof(err)), 0);
		mf_free(mf);
	}
	/* a flipped byte */
	*strstr(t, "00112233") = '1';
	expect_bad(t, "checksum mismatch");
	free(t);
	/* no trailer: an interrupted write */
	expect_bad(HDR ROOT, "no end line");
	/* wrong count */
	t = sealed(HDR ROOT, 2);
	expect_bad(t, "1 entries, the end line says 2");
	free(t);
	/* text after the end */
	t = sealed(HDR ROOT, 1);
	char *t2;
	CU_ASSERT_FATAL(asprintf(&t2, "%sjunk\n", t) > 0);
	expect_bad(t2, "text after the end line");
	free(t);
	free(t2);
	/* the first entry must be "." */
	t = sealed(HDR "d 0 x 755 0 0 1.000000000 0 2 1.000000000 0 - 0 0 - 0\n", 1);
	expect_bad(t, "the first entry must be");
	free(t);
	/* names that would escape the tree */
	t = sealed(HDR ROOT "d 0 .. 755 0 0 1.000000000 0 2 1.000000000 0 - 0 0 - 0\n", 2);
	expect_bad(t, "bad name");
	free(t);
	t = sealed(HDR ROOT "d 0 a/b 755 0 0 1.000000000 0 2 1.000000000 0 - 0 0 - 0\n", 2);
	expect_bad(t, "bad name");
	free(t);
	t = sealed(HDR ROOT "d 0 a%00b 755 0 0 1.000000000 0 2 1.000000000 0 - 0 0 - 0\n", 2);
	expect_bad(t, "bad name");
	free(t);
	/* parent not a directory on the current path */
	t = sealed(HDR ROOT "p 0 f 644 0 0 1.000000000 0 2 1.000000000 0 - 0 0 - 0\n"
	    "p 1 g 644 0 0 1.000000000 0 2 1.000000000 0 - 0 0 - 0\n", 3);
	expect_bad(t, "parent 1 is not a directory on the current path");
	free(t);
	/* hardlink to something that is not an earlier file */
	t = sealed(HDR ROOT "h 0 f 644 0 0 1.000000000 0 2 1.000000000 0 - 0 0 - 0\n", 2);
	expect_bad(t, "hardlink to 0");
	free(t);
	/* object id not below next_obj */
	t = sealed(HDR ROOT "f 0 a 644 0 0 1.000000000 3 7 1.000000000 5 "
	    "00112233445566778899aabbccddeeff 0 0 - 0\n", 2);
	expect_bad(t, "bad object id");
	free(t);
	/* bad checksum text, bad mode, bad time */
	t = sealed(HDR ROOT "f 0 a 644 0 0 1.000000000 3 7 1.000000000 1 0011 0 0 - 0\n", 2);
	expect_bad(t, "bad checksum");
	free(t);
	t = sealed(HDR ROOT "p 0 a 17777 0 0 1.000000000 0 7 1.000000000 0 - 0 0 - 0\n", 2);
	expect_bad(t, "bad number");
	free(t);
	t = sealed(HDR ROOT "p 0 a 644 0 0 1.5 0 7 1.000000000 0 - 0 0 - 0\n", 2);
	expect_bad(t, "bad number");
	free(t);
	/* duplicate names */
	t = sealed(HDR ROOT "p 0 a 644 0 0 1.000000000 0 7 1.000000000 0 - 0 0 - 0\n"
	    "p 0 a 644 0 0 1.000000000 0 7 1.000000000 0 - 0 0 - 0\n", 3);
	expect_bad(t, "same name");
	free(t);
	/* too few fields, unknown type, not a manifest */
	t = sealed(HDR ROOT "p 0 a 644\n", 2);
	expect_bad(t, "fields");
	free(t);
	t = sealed(HDR ROOT "z 0 a 644 0 0 1.000000000 0 7 1.000000000 0 - 0 0 - 0\n", 2);
	expect_bad(t, "unknown entry type");
	free(t);
	expect_bad("hello\n", "not a pcm-agent manifest");
	/* a pack offset on something that is not a file, a bad offset */
	t = sealed(HDR ROOT "p 0 a 644 0 0 1.000000000 0 7 1.000000000 0@5 - 0 0 - 0\n", 2);
	expect_bad(t, "a checksum or object on an entry that is not a file");
	free(t);
	t = sealed(HDR ROOT "f 0 a 644 0 0 1.000000000 3 7 1.000000000 1@x "
	    "00112233445566778899aabbccddeeff 0 0 - 0\n", 2);
	expect_bad(t, "bad pack offset");
	free(t);
	/* an empty symlink target */
	t = sealed(HDR ROOT "l 0 a 777 0 0 1.000000000 0 7 1.000000000 0 - 0 0 - 0\n", 2);
	expect_bad(t, "empty symlink target");
	free(t);
}

/* ------------------------------------------------------------------ */
/* the streamed previous manifest (save.c) finds what mf_lookup finds */

static const char *const stream_names[] = {
	"a", "a b", "aa", "B", "b", "-", "%", "z", "\x80x", "\xff", "n\nl", "ab",
};
#define NSTREAM_NAMES (sizeof(stream_names) / sizeof(stream_names[0]))

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* a random tree below `parent`, children in strcmp order, pre-order */
static void
gen_tree(struct manifest *mf, uint32_t parent, int depth, unsigned *seed)
{
	const char *pick[NSTREAM_NAMES];
	size_t k = 0;

	for (size_t i = 0; i < NSTREAM_NAMES; i++)
		if (rand_r(seed) % 100 < (depth == 0 ? 80 : 45))
			pick[k++] = stream_names[i];
	qsort(pick, k, sizeof(*pick), cmpstr);
	for (size_t i = 0; i < k; i++) {
		int r = rand_r(seed) % 10;
		int type = depth < 4 && r < 4 ? MF_DIR : r < 8 ? MF_FILE : MF_SYMLINK;
		uint32_t idx = (uint32_t)mf->n;

		add(mf, type, parent, pick[i]);
		if (type == MF_SYMLINK)
			mf->e[idx].target = xstrdup("t");
		if (type == MF_DIR)
			gen_tree(mf, idx, depth + 1, seed);
	}
}

static struct manifest *
random_manifest(unsigned seed)
{
	struct manifest *mf = mf_new();

	CU_ASSERT_FATAL(mf != NULL);
	add(mf, MF_DIR, 0, ".");
	gen_tree(mf, 0, 0, &seed);
	return mf;
}

static int
count_visit(const struct mf_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
	return 0;
}

static int
fail_visit(const struct mf_entry *e, void *arg)
{
	(void)arg;
	return e->type == MF_SYMLINK ? -ENOMEM : 0;
}

static void
test_stream(void)
{
	char dir[] = "/tmp/test_manifest.XXXXXX", err[256];

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(dfd >= 0);
	for (unsigned round = 0; round < 60; round++) {
		struct manifest *old = random_manifest(round * 2 + 1), *now =
		    random_manifest(round * 2 + 2), *mem = NULL;
		struct mf_stream *st = NULL;
		size_t visited = 0, found = 0;
		long *od = calloc(now->n, sizeof(*od));
		unsigned *depth = calloc(now->n, sizeof(*depth)), seed = round;

		CU_ASSERT_FATAL(od != NULL && depth != NULL);
		CU_ASSERT_FATAL(mf_write_tmp(dfd, old) == 0 && mf_commit(dfd) == 0);
		CU_ASSERT_FATAL(mf_load(dfd, &mem, err, sizeof(err)) == 0);
		CU_ASSERT_FATAL(mf_stream_open(dfd, count_visit, &visited, &st, err,
		    sizeof(err)) == 0);
		CU_ASSERT_EQUAL(visited, old->n);
		CU_ASSERT_EQUAL(mf_stream_count(st), old->n);
		CU_ASSERT(mf_stream_sorted(st));
		/* the walk: every entry of `now` in its order, looked up below a
		 * directory that was found; some not looked up (excluded) */
		od[0] = 0;
		for (size_t i = 1; i < now->n; i++) {
			const struct mf_entry *e = &now->e[i];
			long want = -1;
			size_t got_idx = 0;
			struct mf_entry *got = NULL;

			od[i] = -1;
			depth[i] = depth[e->parent] + 1;
			if (od[e->parent] < 0 || rand_r(&seed) % 8 == 0)
				continue;
			want = mf_lookup(mem, (uint32_t)od[e->parent], e->name);
			got = mf_stream_find(st, (uint32_t)od[e->parent], depth[e->parent], e->name,
			    &got_idx);
			CU_ASSERT_EQUAL(got != NULL, want >= 0);
			if (got == NULL || want < 0)
				continue;
			found++;
			CU_ASSERT_EQUAL(got_idx, (size_t)want);
			CU_ASSERT_STRING_EQUAL(got->name, e->name);
			CU_ASSERT_EQUAL(got->type, mem->e[want].type);
			if (e->type == MF_DIR && got->type == MF_DIR)
				od[i] = want;
		}
		CU_ASSERT(found > 0);
		CU_ASSERT_EQUAL(mf_stream_matched(st), found);
		mf_stream_close(st);
		mf_free(mem);
		mf_free(old);
		mf_free(now);
		free(od);
		free(depth);
	}
	/* out of order (not written by pcm-agent): read, but nothing found */
	{
		struct manifest *mf = mf_new();
		struct mf_stream *st = NULL;
		size_t idx, visited = 0;

		add(mf, MF_DIR, 0, ".");
		add(mf, MF_FILE, 0, "b");
		add(mf, MF_FILE, 0, "a");
		CU_ASSERT_FATAL(mf_write_tmp(dfd, mf) == 0 && mf_commit(dfd) == 0);
		CU_ASSERT_FATAL(mf_stream_open(dfd, count_visit, &visited, &st, err,
		    sizeof(err)) == 0);
		CU_ASSERT_EQUAL(visited, 3);
		CU_ASSERT(!mf_stream_sorted(st));
		CU_ASSERT(mf_stream_find(st, 0, 0, "b", &idx) == NULL);
		mf_stream_close(st);
		/* a visitor's error stops the read with it */
		mf->e[2].type = MF_SYMLINK;
		mf->e[2].target = xstrdup("t");
		CU_ASSERT_FATAL(mf_write_tmp(dfd, mf) == 0 && mf_commit(dfd) == 0);
		CU_ASSERT_EQUAL(mf_stream_open(dfd, fail_visit, NULL, &st, err, sizeof(err)), -ENOMEM);
		CU_ASSERT(st == NULL);
		/* two entries of one name: refused, as mf_load refuses them */
		mf->e[2].type = MF_FILE;
		free(mf->e[2].target);
		mf->e[2].target = NULL;
		mf->e[2].name = mf->e[1].name;
		CU_ASSERT_FATAL(mf_write_tmp(dfd, mf) == 0 && mf_commit(dfd) == 0);
		CU_ASSERT_EQUAL(mf_stream_open(dfd, NULL, NULL, &st, err, sizeof(err)), -EBADMSG);
		CU_ASSERT(strstr(err, "same name") != NULL);
		mf->e[2].name = (char *)"c";	/* (names are the manifest's chunks: not freed) */
		CU_ASSERT_FATAL(mf_write_tmp(dfd, mf) == 0 && mf_commit(dfd) == 0);
		mf_free(mf);
	}
	/* damaged: refused as mf_load refuses it */
	{
		int fd = openat(dfd, "MANIFEST", O_WRONLY | O_APPEND);
		struct mf_stream *st = NULL;
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT(write(fd, "x\n", 2) == 2);
		close(fd);
		CU_ASSERT_EQUAL(mf_stream_open(dfd, NULL, NULL, &st, err, sizeof(err)), -EBADMSG);
		CU_ASSERT(strstr(err, "after the end line") != NULL);
		unlinkat(dfd, "MANIFEST", 0);
		CU_ASSERT_EQUAL(mf_stream_open(dfd, NULL, NULL, &st, err, sizeof(err)), -ENOENT);
	}
	close(dfd);
	rmdir(dir);
}

static const struct cu_test tests[] = {
	{ "every entry type and hostile names survive encode/decode", test_roundtrip },
	{ "dropped entries and their hardlinks are left out", test_drop },
	{ "paths below the saved root are found as ls and restore --path take them",
	    test_find_path },
	{ "the parser rejects damage, truncation and escaping names", test_parser_errors },
	{ "the streamed previous manifest finds what the index finds, in walk order",
	    test_stream },
	{ NULL, NULL },
};

CU_MAIN("manifest", tests)
