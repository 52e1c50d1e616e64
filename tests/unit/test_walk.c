/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_walk.c - the storage engine on a temp dir: safe opens, hostile names,
 * deep trees, planted symlinks (save and restore), incremental saves, a
 * damaged object, stor_dir_matches, stor_find_save */
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

static char top[] = "/tmp/pcm-test-walk.XXXXXX";
static char src[512], tgt[512], dst[512], outside[512];

static int
setup(void)
{
	if (mkdtemp(top) == NULL)
		return -1;
	snprintf(src, sizeof(src), "%s/src", top);
	snprintf(tgt, sizeof(tgt), "%s/tgt/save", top);
	snprintf(dst, sizeof(dst), "%s/dst", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	return mkdir(src, 0755) || mkdir(outside, 0755);
}

static int
teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	return system(cmd) == 0 ? 0 : -1;
}

static void
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "\n  command failed (%d): %s\n", rc, cmd);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
}

static void
writefile(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fputs(text, fp);
	fclose(fp);
}

static char *
readfile(const char *path)
{
	static char buf[4096];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return "(missing)";
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static int
save(struct stor_result *r)
{
	struct stor_opts o = { .workers = 3, .cluster = "c", .instance = "i" };
	int rc = stor_save(src, tgt, &o, r);
	if (rc != 0)
		fprintf(stderr, "\n  save: %s\n", r->errmsg);
	return rc;
}

static int
restore(struct stor_result *r)
{
	struct stor_opts o = { .workers = 2 };
	int rc = stor_restore(tgt, dst, &o, r);
	if (rc != 0)
		fprintf(stderr, "\n  restore: %s\n", r->errmsg);
	return rc;
}

/* distinct objects the MANIFEST refers to */
static size_t
objects_referred(void)
{
	struct manifest *mf = NULL;
	char err[256];
	size_t n = 0;
	int fd = open(tgt, O_RDONLY | O_DIRECTORY);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(mf_load(fd, &mf, err, sizeof(err)) == 0);
	close(fd);
	for (size_t i = 0; i < mf->n; i++) {
		int seen = 0;
		if (mf->e[i].type != MF_FILE || mf->e[i].obj == 0)
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = mf->e[k].type == MF_FILE && mf->e[k].obj == mf->e[i].obj;
		n += !seen;
	}
	mf_free(mf);
	return n;
}

static size_t
objects_on_disk(void)
{
	char cmd[700];
	unsigned long n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find %s/objects -type f ! -name '*.*' | wc -l", tgt);
	p = popen(cmd, "r");
	CU_ASSERT_FATAL(p != NULL);
	CU_ASSERT(fscanf(p, "%lu", &n) == 1);
	pclose(p);
	return n;
}

static void
test_safe_openat(void)
{
	char p[PATH_MAX];
	int dfd, fd;

	snprintf(p, sizeof(p), "%s/lnk", outside);
	CU_ASSERT_EQUAL_FATAL(symlink("/etc", p), 0);
	dfd = open(outside, O_RDONLY | O_DIRECTORY);
	CU_ASSERT_FATAL(dfd >= 0);
	CU_ASSERT(safe_openat(dfd, "lnk", O_RDONLY | O_DIRECTORY, 0, 0) < 0);
	CU_ASSERT_EQUAL(safe_openat(dfd, "lnk", O_RDONLY, 0, 0), -ELOOP);
	CU_ASSERT_EQUAL(safe_openat(dfd, "lnk/passwd", O_RDONLY, 0, 0), -ELOOP);
	CU_ASSERT(safe_openat(dfd, "..", O_RDONLY | O_DIRECTORY, 0, 0) < 0);
	CU_ASSERT(safe_openat(dfd, "/etc/passwd", O_RDONLY, 0, 0) < 0);
	fd = safe_openat(dfd, ".", O_RDONLY | O_DIRECTORY, 0, 0);
	CU_ASSERT(fd >= 0);
	close(fd);
	close(dfd);
	unlink(p);
}

/* newline and non-UTF-8 names, a 255-byte name, a tree deeper than PATH_MAX */
static void
test_hostile_names_and_depth(void)
{
	struct stor_result r;
	char name[300], p[PATH_MAX];

	memset(name, 'x', 255);
	name[255] = '\0';
	sh("cd %s && printf a > \"$(printf 'nl\\nname')\" && printf b > \"$(printf '\\377\\376%%%%=')\" "
	    "&& printf c > %s && mkdir -p deep", src, name);
	/* 40 levels of 200-byte names: about 8 KB of path */
	sh("python3 -c \"import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\n"
	    "for i in range(40):\n n='d%%0199d'%%i; os.mkdir(n,dir_fd=fd); "
	    "f2=os.open(n,os.O_RDONLY,dir_fd=fd); os.close(fd); fd=f2\n"
	    "f=os.open('leaf',os.O_WRONLY|os.O_CREAT,0o644,dir_fd=fd); os.write(f,b'bottom')\" %s/deep",
	    src);
	CU_ASSERT_EQUAL_FATAL(save(&r), 0);
	CU_ASSERT_EQUAL(r.files, 4);
	CU_ASSERT_EQUAL(restore(&r), 0);
	CU_ASSERT_EQUAL(stor_dir_matches(tgt, dst, 1, &r), 1);
	snprintf(p, sizeof(p), "%s/%s", dst, name);
	CU_ASSERT_STRING_EQUAL(readfile(p), "c");
	snprintf(p, sizeof(p), "%s/nl\nname", dst);
	CU_ASSERT_STRING_EQUAL(readfile(p), "a");
	snprintf(p, sizeof(p), "%s/\xff\xfe%%=", dst);
	CU_ASSERT_STRING_EQUAL(readfile(p), "b");
	sh("python3 -c \"import os,sys\nfd=os.open(sys.argv[1],os.O_RDONLY)\n"
	    "for i in range(40):\n f2=os.open('d%%0199d'%%i,os.O_RDONLY,dir_fd=fd); os.close(fd); fd=f2\n"
	    "f=os.open('leaf',os.O_RDONLY,dir_fd=fd); assert os.read(f,100)==b'bottom'\" %s/deep",
	    dst);
}

/* a symlink to a directory outside is saved as a symlink, never followed */
static void
test_planted_symlink_save(void)
{
	struct stor_result r;
	char p[PATH_MAX];
	struct stat st;

	writefile(strcat(strcpy(p, outside), "/secret"), "TOP SECRET\n");
	sh("ln -s %s %s/evil && ln -s %s/secret %s/evilfile", outside, src, outside, src);
	CU_ASSERT_EQUAL_FATAL(save(&r), 0);
	CU_ASSERT_EQUAL_FATAL(restore(&r), 0);
	snprintf(p, sizeof(p), "%s/evil", dst);
	CU_ASSERT_EQUAL(lstat(p, &st), 0);
	CU_ASSERT(S_ISLNK(st.st_mode));
	snprintf(p, sizeof(p), "%s/evilfile", dst);
	CU_ASSERT_EQUAL(lstat(p, &st), 0);
	CU_ASSERT(S_ISLNK(st.st_mode));
	/* no object holds the secret */
	sh("! grep -rq 'TOP SECRET' %s/objects", tgt);
	sh("rm %s/evil %s/evilfile", src, src);
}

/* symlinks planted in the destination are replaced, not written through */
static void
test_planted_symlink_restore(void)
{
	struct stor_result r;
	char p[PATH_MAX];
	struct stat st;

	sh("mkdir -p %s/sub && echo inner > %s/sub/file && echo top > %s/topfile", src, src, src);
	CU_ASSERT_EQUAL_FATAL(save(&r), 0);
	sh("rm -rf %s && mkdir -p %s && ln -s %s %s/sub && ln -s %s/victim %s/topfile",
	    dst, dst, outside, dst, outside, dst);
	writefile(strcat(strcpy(p, outside), "/victim"), "victim\n");
	CU_ASSERT_EQUAL_FATAL(restore(&r), 0);
	snprintf(p, sizeof(p), "%s/sub", dst);
	CU_ASSERT_EQUAL(lstat(p, &st), 0);
	CU_ASSERT(S_ISDIR(st.st_mode));
	snprintf(p, sizeof(p), "%s/file", outside);
	CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0);	/* nothing written outside */
	snprintf(p, sizeof(p), "%s/victim", outside);
	CU_ASSERT_STRING_EQUAL(readfile(p), "victim\n");
	snprintf(p, sizeof(p), "%s/topfile", dst);
	CU_ASSERT_STRING_EQUAL(readfile(p), "top\n");
	CU_ASSERT_EQUAL(stor_dir_matches(tgt, dst, 1, &r), 1);
}

static void
test_incremental(void)
{
	struct stor_result r;
	char p[PATH_MAX];

	CU_ASSERT_EQUAL_FATAL(save(&r), 0);
	CU_ASSERT_EQUAL(r.files_copied, 0);	/* nothing changed since the last save */
	CU_ASSERT_EQUAL(r.removed, 0);
	uint64_t files = r.files;
	sh("echo changed >> %s/topfile && rm %s/sub/file && echo new > %s/newfile", src, src, src);
	CU_ASSERT_EQUAL_FATAL(save(&r), 0);
	CU_ASSERT_EQUAL(r.files_copied, 2);
	CU_ASSERT_EQUAL(r.files_reused, files - 2);
	CU_ASSERT_EQUAL(r.removed, 1);
	/* the objects of the old versions are gone: exactly those referred to */
	CU_ASSERT_EQUAL(objects_on_disk(), objects_referred());
	sh("rm -rf %s", dst);
	CU_ASSERT_EQUAL_FATAL(restore(&r), 0);
	snprintf(p, sizeof(p), "%s/topfile", dst);
	CU_ASSERT_STRING_EQUAL(readfile(p), "top\nchanged\n");
	snprintf(p, sizeof(p), "%s/sub/file", dst);
	CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0);
	CU_ASSERT_EQUAL(stor_dir_matches(tgt, dst, 1, &r), 1);
	/* a change in dst is seen */
	sh("echo x >> %s/newfile", dst);
	CU_ASSERT_EQUAL(stor_dir_matches(tgt, dst, 0, &r), 0);
	CU_ASSERT_EQUAL(r.bad, 1);
}

/* a damaged object is found by verify and by restore, never "verified" */
static void
test_damage(void)
{
	struct stor_result r;
	struct stor_save_info info;

	CU_ASSERT_EQUAL(stor_verify(tgt, NULL, &r), 0);
	CU_ASSERT_EQUAL(stor_save_info(tgt, &info), 0);
	CU_ASSERT_EQUAL(info.complete, 1);
	CU_ASSERT_STRING_EQUAL(info.cluster, "c");
	/* flip the first byte of one object (same size) */
	sh("f=$(find %s/objects -type f | head -n1) && python3 -c 'import sys; "
	    "f = open(sys.argv[1], \"r+b\"); b = f.read(1); f.seek(0); f.write(bytes([b[0] ^ 255]))' $f",
	    tgt);
	CU_ASSERT_EQUAL(stor_verify(tgt, NULL, &r), -EBADMSG);
	CU_ASSERT_EQUAL(r.bad, 1);
	sh("rm -rf %s", dst);
	CU_ASSERT_EQUAL(stor_restore(tgt, dst, NULL, &r), -EBADMSG);
	CU_ASSERT_EQUAL(r.bad, 1);
	/* a fresh save repairs it?  No: unchanged files are not re-read.  The
	 * damage stays visible to verify until the file changes. */
	/* a truncated MANIFEST: no complete save */
	sh("cp %s/MANIFEST %s/M.bak && head -c 100 %s/M.bak > %s/MANIFEST", tgt, top, top, tgt);
	CU_ASSERT_EQUAL(stor_save_info(tgt, &info), 0);
	CU_ASSERT_EQUAL(info.complete, 0);
	CU_ASSERT_EQUAL(stor_verify(tgt, NULL, &r), -ENOENT);
	CU_ASSERT_EQUAL(stor_restore(tgt, dst, NULL, &r), -ENOENT);
	/* and the next save is a full one that repairs everything */
	CU_ASSERT_EQUAL_FATAL(save(&r), 0);
	CU_ASSERT_EQUAL(r.files_reused, 0);
	CU_ASSERT_EQUAL(stor_verify(tgt, NULL, &r), 0);
}

static void
test_find_save(void)
{
	char t[PATH_MAX], *out = NULL, err[512];
	struct stor_result r;
	struct stor_opts o = { .workers = 1 };

	snprintf(t, sizeof(t), "%s/efs", top);
	char *s1 = stor_savedir(t, "clu", "i-old");
	CU_ASSERT_EQUAL_FATAL(stor_save(src, s1, &o, &r), 0);
	/* a new instance id (stop/start): the only save of the cluster */
	CU_ASSERT_EQUAL(stor_find_save(t, "clu", "i-new", &out, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(out, s1);
	free(out);
	CU_ASSERT_EQUAL(stor_find_save(t, "other", "i-new", &out, err, sizeof(err)), -ENOENT);
	char *s2 = stor_savedir(t, "clu", "i-other");
	CU_ASSERT_EQUAL_FATAL(stor_save(src, s2, &o, &r), 0);
	CU_ASSERT_EQUAL(stor_find_save(t, "clu", "i-new", &out, err, sizeof(err)), -EEXIST);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "i-old"));
	CU_ASSERT_EQUAL(stor_find_save(t, "clu", "i-old", &out, err, sizeof(err)), 0);
	free(out);
	free(s1);
	free(s2);
}

/* small files go to packs; a pack less than half used is rewritten */
static int
save1(struct stor_result *r)	/* one worker: one pack, a deterministic layout */
{
	struct stor_opts o = { .workers = 1, .cluster = "c", .instance = "i" };
	int rc = stor_save(src, tgt, &o, r);
	if (rc != 0)
		fprintf(stderr, "\n  save: %s\n", r->errmsg);
	return rc;
}

static void
test_packs(void)
{
	struct stor_result r;

	sh("rm -rf %s/* && mkdir -p %s/p && cd %s/p && for i in $(seq 300); do "
	    "head -c 2000 /dev/urandom > f$i; done", src, src, src);
	CU_ASSERT_EQUAL_FATAL(save1(&r), 0);
	CU_ASSERT_EQUAL(objects_on_disk(), 1);	/* one pack, not 300 objects */
	CU_ASSERT_EQUAL(objects_on_disk(), objects_referred());
	/* 10 % removed: the pack stays */
	sh("cd %s/p && for i in $(seq 30); do rm f$i; done", src);
	CU_ASSERT_EQUAL_FATAL(save1(&r), 0);
	CU_ASSERT_EQUAL(r.files_copied, 0);
	CU_ASSERT_EQUAL(r.files_reused, 270);
	CU_ASSERT_EQUAL(objects_on_disk(), 1);
	/* 2/3 gone: the pack is mostly garbage, the 100 left are copied again */
	sh("cd %s/p && for i in $(seq 31 200); do rm f$i; done", src);
	CU_ASSERT_EQUAL_FATAL(save1(&r), 0);
	CU_ASSERT_EQUAL(r.removed, 170);
	CU_ASSERT_EQUAL(r.files_copied, 100);
	CU_ASSERT_EQUAL(r.files_reused, 0);
	CU_ASSERT_EQUAL(objects_on_disk(), 1);	/* the new pack; the old one is gone */
	CU_ASSERT_EQUAL(objects_on_disk(), objects_referred());
	sh("rm -rf %s", dst);
	CU_ASSERT_EQUAL_FATAL(restore(&r), 0);
	CU_ASSERT_EQUAL(stor_dir_matches(tgt, dst, 1, &r), 1);
	CU_ASSERT_EQUAL(stor_verify(tgt, NULL, &r), 0);
}

static void
test_refuses_overlap(void)
{
	struct stor_result r;
	char inside[1024];

	snprintf(inside, sizeof(inside), "%s/savehere", src);
	CU_ASSERT_EQUAL(stor_save(src, inside, NULL, &r), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.errmsg, "overlap"));
	rmdir(inside);
}

static const struct cu_test tests[] = {
	{ "safe_openat refuses symlinks, .. and absolute names", test_safe_openat },
	{ "newline, non-UTF-8, 255-byte names and a tree deeper than PATH_MAX", test_hostile_names_and_depth },
	{ "a symlink planted in the source is saved, never followed", test_planted_symlink_save },
	{ "symlinks planted in the destination are replaced, not written through", test_planted_symlink_restore },
	{ "incremental: unchanged reused, changed copied, removed removed", test_incremental },
	{ "damage is found by verify and restore; a broken manifest is no save", test_damage },
	{ "finding the save after the instance id changed", test_find_save },
	{ "small files in packs; a pack less than half used is rewritten", test_packs },
	{ "a save directory inside the source is refused", test_refuses_overlap },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("walk", tests, setup, teardown)
