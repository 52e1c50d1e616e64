/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_exclude.c - the exclude patterns (storage/exclude.c): every rule of
 * rsync's that the save keeps, byte names, bad patterns, the markers and
 * their owners, and a save that leaves the excluded out of its manifest
 * (and drops them from an earlier save) */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu.h"
#include "priv.h"

/* 1 when path (is_dir) is excluded by the one pattern pat */
static int
ex1(const char *pat, const char *path, int is_dir)
{
	const char *v[1] = { pat };
	struct excl *x = NULL;
	char err[256];
	int r;

	if (excl_new(v, 1, &x, err, sizeof(err)) < 0)
		return -1;
	r = excl_match_path(x, path, is_dir);
	excl_free(x);
	return r;
}

static void
test_name_patterns(void)
{
	/* no '/': the last name, at any depth */
	CU_ASSERT_EQUAL(ex1("*.o", "a.o", 0), 1);
	CU_ASSERT_EQUAL(ex1("*.o", "src/lib/a.o", 0), 1);
	CU_ASSERT_EQUAL(ex1("*.o", "src/a.o/b", 0), 0);	/* only the last name */
	CU_ASSERT_EQUAL(ex1("*.o", "a.oo", 0), 0);
	CU_ASSERT_EQUAL(ex1("core", "x/core", 0), 1);
	CU_ASSERT_EQUAL(ex1("core", "x/core.1", 0), 0);
	CU_ASSERT_EQUAL(ex1("core", "xcore", 0), 0);
	CU_ASSERT_EQUAL(ex1("?.tmp", "d/a.tmp", 0), 1);
	CU_ASSERT_EQUAL(ex1("?.tmp", "d/ab.tmp", 0), 0);
	CU_ASSERT_EQUAL(ex1("*", "anything/at/all", 0), 1);
}

static void
test_anchored(void)
{
	CU_ASSERT_EQUAL(ex1("/tmp", "tmp", 1), 1);
	CU_ASSERT_EQUAL(ex1("/tmp", "a/tmp", 1), 0);	/* anchored at the root only */
	CU_ASSERT_EQUAL(ex1("tmp", "a/tmp", 1), 1);	/* unanchored: any depth */
	CU_ASSERT_EQUAL(ex1("/a/b", "a/b", 0), 1);
	CU_ASSERT_EQUAL(ex1("/a/b", "x/a/b", 0), 0);
	CU_ASSERT_EQUAL(ex1("//a", "a", 0), 1);
}

static void
test_dir_only(void)
{
	CU_ASSERT_EQUAL(ex1("cache/", "x/cache", 1), 1);
	CU_ASSERT_EQUAL(ex1("cache/", "x/cache", 0), 0);	/* a file named cache is kept */
	CU_ASSERT_EQUAL(ex1("/build/", "build", 1), 1);
	CU_ASSERT_EQUAL(ex1("/build/", "build", 0), 0);
	CU_ASSERT_EQUAL(ex1("/build/", "a/build", 1), 0);
	/* dir/ + "***": the directory (any type) */
	CU_ASSERT_EQUAL(ex1("logs/***", "x/logs", 0), 1);
	CU_ASSERT_EQUAL(ex1("logs/***", "x/logs", 1), 1);
}

static void
test_star_slash(void)
{
	/* '*' does not cross '/', "**" does */
	CU_ASSERT_EQUAL(ex1("/a/*/c", "a/b/c", 0), 1);
	CU_ASSERT_EQUAL(ex1("/a/*/c", "a/b/x/c", 0), 0);
	CU_ASSERT_EQUAL(ex1("/a/**/c", "a/b/x/c", 0), 1);
	CU_ASSERT_EQUAL(ex1("/a/**/c", "a/b/c", 0), 1);
	CU_ASSERT_EQUAL(ex1("/a/**/c", "a/c", 0), 0);	/* rsync: the two '/' are literal */
	CU_ASSERT_EQUAL(ex1("/a/**", "a/b/c/d", 0), 1);
	CU_ASSERT_EQUAL(ex1("/a*", "a/b", 0), 0);
	CU_ASSERT_EQUAL(ex1("/a**", "a/b", 0), 1);
	CU_ASSERT_EQUAL(ex1("/*.log", "x.log", 0), 1);
	CU_ASSERT_EQUAL(ex1("/*.log", "d/x.log", 0), 0);
	CU_ASSERT_EQUAL(ex1("?", "/", 0), 0);
	/* unanchored with a '/': matched against every tail of the path */
	CU_ASSERT_EQUAL(ex1("b/c", "a/b/c", 0), 1);
	CU_ASSERT_EQUAL(ex1("b/c", "b/c", 0), 1);
	CU_ASSERT_EQUAL(ex1("b/c", "ab/c", 0), 0);	/* tails start after a '/' */
	CU_ASSERT_EQUAL(ex1("b/*.o", "x/b/y.o", 0), 1);
	CU_ASSERT_EQUAL(ex1("b/*.o", "b/y/z.o", 0), 0);
	CU_ASSERT_EQUAL(ex1("**.o", "x/y/z.o", 0), 1);
	CU_ASSERT_EQUAL(ex1("**/tmp", "tmp", 1), 0);
	CU_ASSERT_EQUAL(ex1("**/tmp", "x/tmp", 1), 1);
}

static void
test_classes_escapes(void)
{
	CU_ASSERT_EQUAL(ex1("[abc].txt", "b.txt", 0), 1);
	CU_ASSERT_EQUAL(ex1("[abc].txt", "d.txt", 0), 0);
	CU_ASSERT_EQUAL(ex1("[a-c]x", "bx", 0), 1);
	CU_ASSERT_EQUAL(ex1("[a-c]x", "dx", 0), 0);
	CU_ASSERT_EQUAL(ex1("[!a-c]x", "dx", 0), 1);
	CU_ASSERT_EQUAL(ex1("[^a-c]x", "ax", 0), 0);
	CU_ASSERT_EQUAL(ex1("[]]", "]", 0), 1);
	CU_ASSERT_EQUAL(ex1("/a[/]b", "a/b", 0), 0);	/* a set never matches '/' */
	CU_ASSERT_EQUAL(ex1("[ab", "[ab", 0), 1);	/* not closed: literal */
	CU_ASSERT_EQUAL(ex1("\\*", "*", 0), 1);
	CU_ASSERT_EQUAL(ex1("\\*", "x", 0), 0);
	CU_ASSERT_EQUAL(ex1("a\\?", "a?", 0), 1);
	CU_ASSERT_EQUAL(ex1("a\\?", "ab", 0), 0);
}

static void
test_byte_names(void)
{
	/* names are bytes: invalid UTF-8, high bytes in sets, newlines */
	CU_ASSERT_EQUAL(ex1("\xff*", "d/\xff\xfe.bin", 0), 1);
	CU_ASSERT_EQUAL(ex1("*\xe9", "d/caf\xe9", 0), 1);
	CU_ASSERT_EQUAL(ex1("caf\xc3\xa9", "d/caf\xc3\xa9", 0), 1);
	CU_ASSERT_EQUAL(ex1("caf?", "d/caf\xc3\xa9", 0), 0);	/* '?' is one byte */
	CU_ASSERT_EQUAL(ex1("caf??", "d/caf\xc3\xa9", 0), 1);
	CU_ASSERT_EQUAL(ex1("[\x80-\xff]", "\xc3", 0), 1);
	CU_ASSERT_EQUAL(ex1("[\x80-\xff]", "a", 0), 0);
	CU_ASSERT_EQUAL(ex1("a*b", "a\nb", 0), 1);
	CU_ASSERT_EQUAL(ex1("a?b", "a\nb", 0), 1);
}

static void
test_bad_patterns(void)
{
	char err[256];
	const char *v[2] = { "*.o", "/" };
	struct excl *x = (struct excl *)1;

	CU_ASSERT_EQUAL(stor_exclude_check("", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(stor_exclude_check("/", err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "'/'"));
	CU_ASSERT_EQUAL(stor_exclude_check("//", err, sizeof(err)), -EINVAL);
	CU_ASSERT_EQUAL(stor_exclude_check("/x", err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(excl_new(v, 2, &x, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NULL(x);
	CU_ASSERT_EQUAL(excl_new(v, 0, &x, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NULL(x);
	CU_ASSERT_EQUAL(excl_match_path(NULL, "a", 0), 0);
}

static void
test_many_patterns(void)
{
	const char *v[3] = { "*.o", "/scratch-tmp/", "**/.cache" };
	struct excl *x = NULL;
	char err[256];

	CU_ASSERT_EQUAL_FATAL(excl_new(v, 3, &x, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(excl_match_path(x, "a/b.o", 0), 1);
	CU_ASSERT_EQUAL(excl_match_path(x, "scratch-tmp", 1), 1);
	CU_ASSERT_EQUAL(excl_match_path(x, "scratch-tmp", 0), 0);
	CU_ASSERT_EQUAL(excl_match_path(x, "u/alice/.cache", 1), 1);
	CU_ASSERT_EQUAL(excl_match_path(x, "u/alice/cache", 1), 0);
	excl_free(x);
}

/* --- markers and a save ------------------------------------------------ */

static char top[] = "/tmp/pcm-test-exclude.XXXXXX";

static int
setup(void)
{
	return mkdtemp(top) == NULL ? -1 : 0;
}

static int
teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	return system(cmd) == 0 ? 0 : -1;
}

static void
put(const char *rel, const char *content)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(p, "w"));
	fputs(content, f);
	fclose(f);
}

static void
mkd(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	CU_ASSERT_EQUAL_FATAL(mkdir(p, 0755), 0);
}

static const char *
marker(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	const char *m;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	if ((fd = open(p, O_RDONLY | O_DIRECTORY)) < 0)
		return "open failed";
	fstat(fd, &st);
	m = excl_marker(fd, &st);
	close(fd);
	return m;
}

static void
test_markers(void)
{
	char p[PATH_MAX];

	mkd("m");
	mkd("m/plain");
	mkd("m/tagged");
	put("m/tagged/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n");
	mkd("m/badtag");
	put("m/badtag/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc56\n");
	mkd("m/short");
	put("m/short/CACHEDIR.TAG", "Signature: 8a477f");
	mkd("m/marked");
	put("m/marked/.pcm-agent-exclude", "");
	mkd("m/dirmarker");
	mkd("m/dirmarker/.pcm-agent-exclude");	/* a directory is no marker */
	mkd("m/other");
	put("m/other/.pcm-agent-exclude", "");
	mkd("m/fifo");	/* a FIFO named CACHEDIR.TAG: no marker, and no hang */
	snprintf(p, sizeof(p), "%s/m/fifo/CACHEDIR.TAG", top);
	CU_ASSERT_EQUAL_FATAL(mkfifo(p, 0644), 0);
	mkd("m/link");	/* a symlink to a tag is no tag */
	snprintf(p, sizeof(p), "%s/m/link/CACHEDIR.TAG", top);
	CU_ASSERT_EQUAL_FATAL(symlink("../tagged/CACHEDIR.TAG", p), 0);
	CU_ASSERT_PTR_NULL(marker("m/plain"));
	CU_ASSERT_STRING_EQUAL(marker("m/tagged"), "CACHEDIR.TAG");
	CU_ASSERT_PTR_NULL(marker("m/badtag"));
	CU_ASSERT_PTR_NULL(marker("m/short"));
	CU_ASSERT_STRING_EQUAL(marker("m/marked"), ".pcm-agent-exclude");
	CU_ASSERT_PTR_NULL(marker("m/dirmarker"));
	CU_ASSERT_PTR_NULL(marker("m/fifo"));
	CU_ASSERT_PTR_NULL(marker("m/link"));
	/* a marker owned by someone who owns neither the directory nor is root
	 * (a user's marker in a shared directory): ignored */
	snprintf(p, sizeof(p), "%s/m/other/.pcm-agent-exclude", top);
	if (geteuid() == 0) {
		CU_ASSERT_EQUAL(chown(p, 4242, 4242), 0);
		CU_ASSERT_PTR_NULL(marker("m/other"));
		/* the directory's owner's marker counts */
		snprintf(p, sizeof(p), "%s/m/other", top);
		CU_ASSERT_EQUAL(chown(p, 4242, 4242), 0);
		CU_ASSERT_STRING_EQUAL(marker("m/other"), ".pcm-agent-exclude");
	}
}

static long
find_entry(const struct manifest *mf, const char *name)
{
	for (size_t i = 0; i < mf->n; i++)
		if (strcmp(mf->e[i].name, name) == 0)
			return (long)i;
	return -1;
}

static void
test_save_excludes(void)
{
	char src[PATH_MAX], sd[PATH_MAX], err[256];
	const char *pats[2] = { "*.o", "/scratch/" };
	struct stor_opts o = { 0 };
	struct stor_result r;
	struct manifest *mf = NULL;
	int fd;

	mkd("s");
	mkd("s/src");
	mkd("s/src/scratch");
	put("s/src/scratch/tmp1", "12345");
	put("s/src/a.o", "123");
	put("s/src/a.c", "c");
	mkd("s/src/sub");
	mkd("s/src/sub/scratch");	/* not anchored at the root: kept */
	put("s/src/sub/scratch/keep", "k");
	mkd("s/src/cache");
	put("s/src/cache/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n");
	put("s/src/cache/blob", "0123456789");
	snprintf(src, sizeof(src), "%s/s/src", top);
	snprintf(sd, sizeof(sd), "%s/s/save", top);

	/* first save without patterns: all but the tagged cache */
	CU_ASSERT_EQUAL_FATAL(stor_save(src, sd, &o, &r), 0);
	CU_ASSERT_EQUAL(r.excluded, 3);	/* cache, its tag, its blob */
	CU_ASSERT_EQUAL(r.bytes_excluded, 44 + 10);
	fd = open(sd, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(mf_load(fd, &mf, err, sizeof(err)), 0);
	CU_ASSERT(find_entry(mf, "a.o") > 0);
	CU_ASSERT(find_entry(mf, "tmp1") > 0);
	CU_ASSERT_EQUAL(find_entry(mf, "cache"), -1);
	CU_ASSERT_EQUAL(find_entry(mf, "blob"), -1);
	mf_free(mf);
	mf = NULL;

	/* incremental with patterns: the excluded are dropped */
	o.exclude = pats;
	o.nexclude = 2;
	CU_ASSERT_EQUAL_FATAL(stor_save(src, sd, &o, &r), 0);
	CU_ASSERT_EQUAL(r.excluded, 3 + 1 + 2);	/* + a.o + scratch and tmp1 */
	CU_ASSERT_EQUAL(r.bytes_excluded, 54 + 3 + 5);
	CU_ASSERT_EQUAL(r.removed, 3);
	CU_ASSERT_EQUAL_FATAL(mf_load(fd, &mf, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(find_entry(mf, "a.o"), -1);
	CU_ASSERT_EQUAL(find_entry(mf, "tmp1"), -1);
	CU_ASSERT(find_entry(mf, "a.c") > 0);
	CU_ASSERT(find_entry(mf, "keep") > 0);
	mf_free(mf);
	close(fd);

	/* the dry-run scan agrees */
	CU_ASSERT_EQUAL(stor_exclude_scan(src, &o, &r), 0);
	CU_ASSERT_EQUAL(r.excluded, 6);
	CU_ASSERT_EQUAL(r.bytes_excluded, 62);
}

static const struct cu_test tests[] = {
	{ "names: last component, any depth", test_name_patterns },
	{ "leading / anchors at the root", test_anchored },
	{ "trailing / matches directories only", test_dir_only },
	{ "* stops at /, ** crosses it, tails", test_star_slash },
	{ "[sets], ranges, negation, escapes", test_classes_escapes },
	{ "names are bytes", test_byte_names },
	{ "bad patterns are refused", test_bad_patterns },
	{ "several patterns", test_many_patterns },
	{ "markers: CACHEDIR.TAG signature, owners", test_markers },
	{ "save: excluded are absent, dropped later", test_save_excludes },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("exclude", tests, setup, teardown)
