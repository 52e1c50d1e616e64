/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_jobwait.c - epilog notifications wake a waiter; the notifier never blocks */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cu.h"
#include "jobwait.h"

static char tmpdir[] = "/tmp/pcm-test-jobwait.XXXXXX";

static int
setup(void)
{
	/* a notifier that blocks would hang the suite: die loudly instead */
	alarm(120);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fork a notifier that tells dir about jobid after delay_ms */
static pid_t
notify_later(const char *dir, uint32_t jobid, int delay_ms)
{
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct timespec ts = { delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		_exit(jobwait_notify(dir, jobid) == 1 ? 0 : 1);
	}
	return pid;
}

static void
reap(pid_t pid)
{
	int status;
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_notify_wakes_waiter(void)
{
	struct jobwait *jw = NULL;
	uint32_t id = 0;
	struct stat st;
	double t0, dt;

	CU_ASSERT_EQUAL_FATAL(jobwait_open(tmpdir, &jw), 0);
	CU_ASSERT_EQUAL_FATAL(stat(jobwait_fifo_path(jw), &st), 0);
	CU_ASSERT(S_ISFIFO(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);	/* root only: SlurmUser is root */

	pid_t pid = notify_later(tmpdir, 4242, 300);
	t0 = now_s();
	CU_ASSERT_EQUAL(jobwait_next(jw, 10000, &id), 1);
	dt = now_s() - t0;
	CU_ASSERT_EQUAL(id, 4242);
	/* woken by the notification (about 0.3 s), not by the 10 s timeout */
	CU_ASSERT(dt >= 0.25 && dt < 1.0);
	if (!(dt < 1.0))
		fprintf(stderr, "\n  woke after %.3f s\n", dt);
	reap(pid);

	/* several notifications in a row are read at once; the last id wins */
	CU_ASSERT_EQUAL(jobwait_notify(tmpdir, 1), 1);
	CU_ASSERT_EQUAL(jobwait_notify(tmpdir, 2), 1);
	CU_ASSERT_EQUAL(jobwait_notify(tmpdir, 3), 1);
	CU_ASSERT_EQUAL(jobwait_next(jw, 1000, &id), 3);
	CU_ASSERT_EQUAL(id, 3);

	/* close removes our FIFO; a notify then tells nobody */
	char path[4200];
	snprintf(path, sizeof(path), "%s", jobwait_fifo_path(jw));
	jobwait_close(jw);
	CU_ASSERT_EQUAL(stat(path, &st), -1);
	CU_ASSERT_EQUAL(jobwait_notify(tmpdir, 5), 0);
	jobwait_close(NULL);
}

static void
test_two_waiters(void)
{
	struct jobwait *a = NULL, *b = NULL;
	uint32_t ia = 0, ib = 0;

	CU_ASSERT_EQUAL_FATAL(jobwait_open(tmpdir, &a), 0);
	CU_ASSERT_EQUAL_FATAL(jobwait_open(tmpdir, &b), 0);
	CU_ASSERT_STRING_NOT_EQUAL(jobwait_fifo_path(a), jobwait_fifo_path(b));
	CU_ASSERT_EQUAL(jobwait_notify(tmpdir, 77), 2);
	CU_ASSERT_EQUAL(jobwait_next(a, 1000, &ia), 1);
	CU_ASSERT_EQUAL(jobwait_next(b, 1000, &ib), 1);
	CU_ASSERT_EQUAL(ia, 77);
	CU_ASSERT_EQUAL(ib, 77);
	jobwait_close(a);
	jobwait_close(b);
}

/* Nobody waits: no directory, an unopened FIFO, a stale one, a full one:
 * notify returns at once every time. */
static void
test_notify_never_blocks(void)
{
	char dir[300], sub[400], fifo[500];
	double t0, dt;

	/* no jobwait directory at all */
	snprintf(dir, sizeof(dir), "%s/nobody", tmpdir);
	t0 = now_s();
	CU_ASSERT_EQUAL(jobwait_notify(dir, 1), 0);
	/* a FIFO nobody reads (a waiter that has not opened it yet / died) */
	snprintf(sub, sizeof(sub), "%s/%s", dir, JOBWAIT_SUBDIR);
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0755), 0);
	snprintf(fifo, sizeof(fifo), "%s/%ld.99.fifo", sub, (long)getpid());
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
	CU_ASSERT_EQUAL(jobwait_notify(dir, 2), 0);
	/* things that are not FIFOs are left alone (a regular file named like one) */
	snprintf(fifo, sizeof(fifo), "%s/%ld.98.fifo", sub, (long)getpid());
	FILE *fp = fopen(fifo, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fclose(fp);
	CU_ASSERT_EQUAL(jobwait_notify(dir, 3), 0);
	struct stat st;
	CU_ASSERT_EQUAL(stat(fifo, &st), 0);
	CU_ASSERT_EQUAL(st.st_size, 0);
	dt = now_s() - t0;
	CU_ASSERT(dt < 0.5);

	/* a waiter that never reads: the pipe fills up, notify still returns */
	struct jobwait *jw = NULL;
	CU_ASSERT_EQUAL_FATAL(jobwait_open(dir, &jw), 0);
	t0 = now_s();
	for (int i = 0; i < 40000; i++)	/* 40000 x "4000xx\n" > 64 KiB */
		if (jobwait_notify(dir, 400000 + (uint32_t)i) != 1) {
			CU_FAIL("notify did not count the waiter");
			break;
		}
	dt = now_s() - t0;
	CU_ASSERT(dt < 30.0);
	/* and the waiter still wakes, with whole messages only */
	uint32_t id = 0;
	int n = jobwait_next(jw, 1000, &id);
	CU_ASSERT(n > 1000);
	CU_ASSERT(id >= 400000 && id < 440000);
	jobwait_close(jw);
}

/* EpilogSlurmctld runs as SlurmUser ("slurm" on ParallelCluster): a
 * notifier that is not root must still reach a root waiter. */
/* a child as uid/gid (no supplementary groups) tells dir about jobid:
 * how many waiters it told, or -1 */
static int
notify_as(uid_t uid, gid_t gid, uint32_t jobid)
{
	int status;
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(100);
		_exit(jobwait_notify(tmpdir, jobid));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 100)
		return -1;
	return WEXITSTATUS(status);
}

/* a child as uid/gid opens path for writing: 0 or the errno */
static int
open_as(uid_t uid, gid_t gid, const char *path)
{
	int status;
	pid_t pid = fork();

	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(100);
		int fd = open(path, O_WRONLY | O_NONBLOCK);
		_exit(fd >= 0 ? 0 : errno);
	}
	CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * Who may wake a waiter: SlurmUser (the hook), nobody else.  With SlurmUser
 * root the FIFO is 0600; with another SlurmUser it is root's, group
 * SlurmUser's group, 0620.  Any other user cannot open it for writing.
 */
static void
test_notifier_not_root(void)
{
	struct jobwait *jw = NULL;
	uint32_t id = 0;
	struct stat st;

	if (geteuid() != 0) {
		fprintf(stderr, "\n  (not root: the SlurmUser case cannot be run here)\n");
		CU_PASS("not root");
		return;
	}
	/* mkdtemp made it 0700; run_dir is 0755 */
	CU_ASSERT_EQUAL_FATAL(chmod(tmpdir, 0755), 0);

	/* SlurmUser root: root only */
	CU_ASSERT_EQUAL_FATAL(jobwait_open(tmpdir, &jw), 0);
	CU_ASSERT_EQUAL_FATAL(stat(jobwait_fifo_path(jw), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(open_as(65534, 65534, jobwait_fifo_path(jw)), EACCES);
	CU_ASSERT_EQUAL(notify_as(65534, 65534, 666), 0);
	CU_ASSERT_EQUAL(jobwait_next(jw, 0, &id), 0);	/* not woken */
	jobwait_close(jw);

	/* SlurmUser 65534 (group 65534): that group may write, no one else */
	CU_ASSERT_EQUAL_FATAL(jobwait_open_for(tmpdir, 65534, &jw), 0);
	CU_ASSERT_EQUAL_FATAL(stat(jobwait_fifo_path(jw), &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0620);
	CU_ASSERT_EQUAL(st.st_uid, 0);
	CU_ASSERT_EQUAL(st.st_gid, 65534);
	CU_ASSERT_EQUAL(open_as(65533, 65533, jobwait_fifo_path(jw)), EACCES);
	CU_ASSERT_EQUAL(notify_as(65533, 65533, 666), 0);
	CU_ASSERT_EQUAL(jobwait_next(jw, 0, &id), 0);
	CU_ASSERT_EQUAL(notify_as(65534, 65534, 31337), 1);
	CU_ASSERT_EQUAL(jobwait_next(jw, 1000, &id), 1);
	CU_ASSERT_EQUAL(id, 31337);
	jobwait_close(jw);
	chmod(tmpdir, 0700);
}

/* SlurmUser read from slurm.conf; root when it names none */
static void
test_slurm_user(void)
{
	char conf[400], user[64];
	struct passwd *pw = getpwnam("nobody");
	gid_t gid = 0;
	FILE *fp;

	snprintf(conf, sizeof(conf), "%s/slurm.conf", tmpdir);
	fp = fopen(conf, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fputs("# SlurmUser=bin\nClusterName=x\n  slurmuser = nobody # the controller\n", fp);
	fclose(fp);
	if (pw != NULL) {
		CU_ASSERT_EQUAL(jobwait_slurm_user(conf, user, sizeof(user), &gid), 0);
		CU_ASSERT_STRING_EQUAL(user, "nobody");
		CU_ASSERT_EQUAL(gid, pw->pw_gid);
	}
	fp = fopen(conf, "w");
	fputs("SlurmUser=root\n", fp);
	fclose(fp);
	CU_ASSERT_EQUAL(jobwait_slurm_user(conf, user, sizeof(user), &gid), 0);
	CU_ASSERT_EQUAL(gid, (gid_t)-1);
	fp = fopen(conf, "w");
	fputs("ClusterName=x\n", fp);
	fclose(fp);
	CU_ASSERT_EQUAL(jobwait_slurm_user(conf, user, sizeof(user), &gid), 0);
	CU_ASSERT_STRING_EQUAL(user, "root");
	CU_ASSERT_EQUAL(gid, (gid_t)-1);
	fp = fopen(conf, "w");
	fputs("SlurmUser=no-such-user-pcm\n", fp);
	fclose(fp);
	CU_ASSERT_EQUAL(jobwait_slurm_user(conf, user, sizeof(user), &gid), -ENOENT);
	CU_ASSERT_EQUAL(gid, (gid_t)-1);
	unlink(conf);
}

static void
test_stale_fifo_removed(void)
{
	char sub[400], fifo[500];
	struct jobwait *jw = NULL;
	struct stat st;
	int status;
	pid_t dead = fork();

	CU_ASSERT_FATAL(dead >= 0);
	if (dead == 0)
		_exit(0);
	waitpid(dead, &status, 0);
	snprintf(sub, sizeof(sub), "%s/%s", tmpdir, JOBWAIT_SUBDIR);
	mkdir(sub, 0755);
	snprintf(fifo, sizeof(fifo), "%s/%ld.0.fifo", sub, (long)dead);
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
	CU_ASSERT_EQUAL_FATAL(jobwait_open(tmpdir, &jw), 0);
	CU_ASSERT_EQUAL(stat(fifo, &st), -1);	/* its waiter is gone */
	jobwait_close(jw);
}

static void
test_timeout(void)
{
	struct jobwait *jw = NULL;
	uint32_t id = 99;
	double t0, dt;

	CU_ASSERT_EQUAL_FATAL(jobwait_open(tmpdir, &jw), 0);
	t0 = now_s();
	CU_ASSERT_EQUAL(jobwait_next(jw, 300, &id), 0);
	dt = now_s() - t0;
	CU_ASSERT(dt >= 0.29 && dt < 1.0);
	CU_ASSERT_EQUAL(id, 0);
	CU_ASSERT_EQUAL(jobwait_next(jw, 0, &id), 0);
	jobwait_close(jw);
}

/* jobwait_until with a fake "Slurm": done once job 7 has been reported */
struct fake {
	int	done;		/* 1 once the awaited job ended */
	int	calls;
	uint32_t seen[16];
};

static int
fake_check(void *arg, uint32_t jobid)
{
	struct fake *f = arg;

	if (f->calls < 16)
		f->seen[f->calls] = jobid;
	f->calls++;
	if (jobid == 7)
		f->done = 1;
	return f->done;
}

static int
check_second_poll(void *arg, uint32_t jobid)
{
	struct fake *f = arg;
	(void)jobid;
	return ++f->calls >= 2;
}

static int
check_never(void *arg, uint32_t jobid)
{
	struct fake *f = arg;
	(void)jobid;
	f->calls++;
	return 0;
}

static int
check_error(void *arg, uint32_t jobid)
{
	(void)arg;
	(void)jobid;
	return -EHOSTUNREACH;
}

static void
test_until(void)
{
	struct jobwait *jw = NULL;
	struct jobwait_stats st;
	struct fake f = { 0 };
	double t0, dt;

	CU_ASSERT_EQUAL_FATAL(jobwait_open(tmpdir, &jw), 0);

	/* woken by the epilog of job 7, long before the 60 s poll */
	pid_t p1 = notify_later(tmpdir, 6, 100);
	pid_t p2 = notify_later(tmpdir, 7, 500);
	t0 = now_s();
	CU_ASSERT_EQUAL(jobwait_until(jw, fake_check, &f, 30, 60, &st), 0);
	dt = now_s() - t0;
	CU_ASSERT(dt < 1.5);
	CU_ASSERT_EQUAL(f.seen[0], 0);		/* the first check is immediate */
	CU_ASSERT_EQUAL(f.seen[f.calls - 1], 7);
	CU_ASSERT_EQUAL(st.last_jobid, 7);
	CU_ASSERT(st.done_by_notify);
	CU_ASSERT(st.notifications >= 2);
	reap(p1);
	reap(p2);

	/* already done: one check, no wait */
	f.calls = 0;
	f.done = 1;
	CU_ASSERT_EQUAL(jobwait_until(jw, fake_check, &f, 30, 60, &st), 0);
	CU_ASSERT_EQUAL(f.calls, 1);
	CU_ASSERT_EQUAL(st.checks, 1);

	/* no hook installed: the slow poll finds it (interval 1 s) */
	memset(&f, 0, sizeof(f));
	t0 = now_s();
	CU_ASSERT_EQUAL(jobwait_until(jw, check_second_poll, &f, 30, 1, &st), 0);
	dt = now_s() - t0;
	CU_ASSERT(dt >= 0.9 && dt < 2.5);
	CU_ASSERT_EQUAL(st.notifications, 0);
	CU_ASSERT_EQUAL(st.done_by_notify, 0);

	/* timeout */
	memset(&f, 0, sizeof(f));
	t0 = now_s();
	CU_ASSERT_EQUAL(jobwait_until(jw, check_never, &f, 1, 60, &st), -ETIMEDOUT);
	dt = now_s() - t0;
	CU_ASSERT(dt >= 0.9 && dt < 2.0);
	CU_ASSERT_EQUAL(f.calls, 2);		/* first look, last look */

	/* the check's error ends the wait */
	CU_ASSERT_EQUAL(jobwait_until(jw, check_error, NULL, 5, 1, NULL), -EHOSTUNREACH);
	jobwait_close(jw);
}

static const struct cu_test tests[] = {
	{ "notify wakes a waiter within a second", test_notify_wakes_waiter },
	{ "every waiter is told", test_two_waiters },
	{ "only SlurmUser may wake a waiter", test_notifier_not_root },
	{ "SlurmUser from slurm.conf", test_slurm_user },
	{ "notify without a waiter never blocks", test_notify_never_blocks },
	{ "stale FIFO of a dead waiter removed", test_stale_fifo_removed },
	{ "timeout", test_timeout },
	{ "jobwait_until: notify, poll fallback, timeout", test_until },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("jobwait", tests, setup, teardown)
