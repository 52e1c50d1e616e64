/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_sched_open.c - sched_open() refuses a missing or broken slurm.conf
 * with a clear message, and libslurm never exits the process. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "cu.h"
#include "sched/sched.h"

static char tmpdir[] = "/tmp/pcm-test-sched.XXXXXX";

static int
setup(void)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
try_open(const char *path, char *err, size_t len)
{
	struct pcm_config cfg;
	struct sched *s = (struct sched *)1;
	int rc;

	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	free(cfg.slurm_conf);
	cfg.slurm_conf = path ? strdup(path) : NULL;
	err[0] = '\0';
	rc = sched_open(&cfg, &s, err, len);
	if (rc < 0)
		CU_ASSERT_PTR_NULL(s);
	sched_close(rc == 0 ? s : NULL);
	config_free(&cfg);
	return rc;
}

static void
test_missing(void)
{
	char err[1024], path[256];

	snprintf(path, sizeof(path), "%s/nope/slurm.conf", tmpdir);
	CU_ASSERT_EQUAL(try_open(path, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot use Slurm config"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file or directory"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "set slurm_conf"));
}

static void
test_none_found(void)
{
	char err[1024];

	CU_ASSERT_EQUAL(try_open(NULL, err, sizeof(err)), -ENOENT);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot find the Slurm config"));
}

static void
test_directory(void)
{
	char err[1024];

	CU_ASSERT_EQUAL(try_open(tmpdir, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a regular file"));
}

static void
test_unreadable(void)
{
	char err[1024], path[256];
	FILE *fp;

	if (geteuid() == 0)
		return;	/* root reads anything; covered by the other cases */
	snprintf(path, sizeof(path), "%s/noread.conf", tmpdir);
	fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fputs("ClusterName=x\n", fp);
	fclose(fp);
	chmod(path, 0);
	CU_ASSERT_EQUAL(try_open(path, err, sizeof(err)), -EACCES);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "Permission denied"));
}

/* libslurm calls fatal() -> exit() on a config it cannot parse; we survive */
static void
test_garbage(void)
{
	char err[1024], path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/garbage.conf", tmpdir);
	fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fputs("this is not=slurm\nFrobnicate=1\n", fp);
	fclose(fp);
	CU_ASSERT_EQUAL(try_open(path, err, sizeof(err)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot load Slurm config"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
}

static const struct cu_test tests[] = {
	{ "missing slurm.conf: clear error", test_missing },
	{ "no slurm.conf anywhere: clear error", test_none_found },
	{ "a directory is not a config", test_directory },
	{ "unreadable slurm.conf", test_unreadable },
	{ "unparsable slurm.conf: no exit from libslurm", test_garbage },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("sched_open", tests, setup, teardown)
