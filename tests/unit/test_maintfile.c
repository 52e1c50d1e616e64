/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_maintfile.c - maintenance.json: round trip, atomic replace, bad files, MOTD */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cu.h"
#include "maintfile.h"

static char tmpdir[] = "/tmp/pcm-test-maintfile.XXXXXX";
static char rundir[256];

static int
setup(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* run_dir does not exist yet: maintfile_write creates it */
	snprintf(rundir, sizeof(rundir), "%s/run/pcm-agent", tmpdir);
	return 0;
}

static int
teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct maintfile *
sample(void)
{
	struct maintfile *m = maintfile_new();

	CU_ASSERT_FATAL(m != NULL);
	m->phase = MAINT_PHASE_SCHEDULED;
	CU_ASSERT_FATAL(maintfile_set_str(&m->code, "system-reboot") == 0);
	CU_ASSERT_FATAL(maintfile_set_str(&m->event_id, "instance-event-0123456789abcdef0") == 0);
	CU_ASSERT_FATAL(maintfile_set_str(&m->reservation, "pcm-maintenance") == 0);
	CU_ASSERT_FATAL(maintfile_set_str(&m->message, "Reboot for the kernel \"fix\"") == 0);
	m->not_before = 1795662000;	/* 2026-11-26T03:00:00Z */
	m->not_after = 1795669200;	/* 2026-11-26T05:00:00Z */
	m->window_start = 1795661100;	/* 02:45 */
	m->window_end = 1795669200;
	return m;
}

static void
writefile(const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", rundir, name);
	fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fputs(text, fp);
	fclose(fp);
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	CU_ASSERT_FATAL(fp != NULL && buf != NULL);
	n = fread(buf, 1, 65535, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void
test_round_trip(void)
{
	struct maintfile *m = sample(), *r = NULL;
	struct maintfile_error err = { "" };
	char path[512];
	struct stat st;

	CU_ASSERT_EQUAL_FATAL(maintfile_write(rundir, m, &err), 0);
	CU_ASSERT(m->updated > 0);
	CU_ASSERT_EQUAL(maintfile_read(rundir, &r, &err), 0);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_EQUAL(r->phase, MAINT_PHASE_SCHEDULED);
	CU_ASSERT_STRING_EQUAL(r->code, "system-reboot");
	CU_ASSERT_STRING_EQUAL(r->event_id, "instance-event-0123456789abcdef0");
	CU_ASSERT_STRING_EQUAL(r->reservation, "pcm-maintenance");
	CU_ASSERT_STRING_EQUAL(r->message, "Reboot for the kernel \"fix\"");
	CU_ASSERT_EQUAL(r->not_before, 1795662000);
	CU_ASSERT_EQUAL(r->not_after, 1795669200);
	CU_ASSERT_EQUAL(r->window_start, 1795661100);
	CU_ASSERT_EQUAL(r->window_end, 1795669200);
	CU_ASSERT_EQUAL(r->updated, m->updated);

	/* readable by every user's sbatch */
	CU_ASSERT_EQUAL(maintfile_path(rundir, path, sizeof(path)), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);
	CU_ASSERT_EQUAL_FATAL(stat(rundir, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0755);

	/* the documented format: ISO-8601 beside the epoch */
	char *text = slurp(path);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"not_before\": \"2026-11-26T03:00:00Z\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"not_before_epoch\": 1795662000"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"start\": \"2026-11-26T02:45:00Z\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"phase\": \"scheduled\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\"version\": 1"));
	free(text);

	/* every phase survives the trip; optional strings may be absent */
	for (int p = MAINT_PHASE_SCHEDULED; p <= MAINT_PHASE_RESUMING; p++) {
		struct maintfile *q = NULL;
		m->phase = (enum maint_phase)p;
		CU_ASSERT_EQUAL(maintfile_set_str(&m->event_id, NULL), 0);
		CU_ASSERT_EQUAL(maintfile_set_str(&m->message, NULL), 0);
		m->not_after = 0;
		CU_ASSERT_EQUAL_FATAL(maintfile_write(rundir, m, &err), 0);
		CU_ASSERT_EQUAL_FATAL(maintfile_read(rundir, &q, &err), 0);
		CU_ASSERT_EQUAL(q->phase, (enum maint_phase)p);
		CU_ASSERT_PTR_NULL(q->event_id);
		CU_ASSERT_PTR_NULL(q->message);
		CU_ASSERT_EQUAL(q->not_after, 0);
		maintfile_free(q);
	}
	maintfile_free(r);
	maintfile_free(m);
	maintfile_free(NULL);
}

static void
test_phase_names(void)
{
	enum maint_phase p;

	CU_ASSERT_STRING_EQUAL(maintfile_phase_name(MAINT_PHASE_UNDER_WAY), "under-way");
	CU_ASSERT_EQUAL(maintfile_phase_parse("resuming", &p), 0);
	CU_ASSERT_EQUAL(p, MAINT_PHASE_RESUMING);
	CU_ASSERT_EQUAL(maintfile_phase_parse("under_way", &p), -EINVAL);
	CU_ASSERT_EQUAL(maintfile_phase_parse("", &p), -EINVAL);
}

/* ISO strings alone (a file written by hand or by another tool) */
static void
test_iso_only(void)
{
	struct maintfile *r = NULL;
	struct maintfile_error err = { "" };

	writefile(MAINTFILE_NAME,
	    "{\"phase\":\"under-way\",\"event\":{\"code\":\"instance-stop\","
	    "\"not_before\":\"2026-11-26T03:00:00Z\"},\"reservation\":null}");
	CU_ASSERT_EQUAL_FATAL(maintfile_read(rundir, &r, &err), 0);
	CU_ASSERT_EQUAL(r->phase, MAINT_PHASE_UNDER_WAY);
	CU_ASSERT_EQUAL(r->not_before, 1795662000);
	CU_ASSERT_EQUAL(r->window_start, 0);
	CU_ASSERT_PTR_NULL(r->reservation);
	maintfile_free(r);
}

/* Atomic replace: the new file is a new inode put in place by rename, no
 * temp file stays behind, and a reader never sees half a file. */
static void
test_atomic_replace(void)
{
	struct maintfile *m = sample();
	struct maintfile_error err;
	char path[512];
	struct stat before, after;
	int fd;

	CU_ASSERT_EQUAL_FATAL(maintfile_write(rundir, m, &err), 0);
	CU_ASSERT_EQUAL(maintfile_path(rundir, path, sizeof(path)), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &before), 0);
	fd = open(path, O_RDONLY);
	CU_ASSERT_FATAL(fd >= 0);

	m->phase = MAINT_PHASE_PREPARING;
	CU_ASSERT_EQUAL_FATAL(maintfile_write(rundir, m, &err), 0);
	CU_ASSERT_EQUAL_FATAL(stat(path, &after), 0);
	CU_ASSERT_NOT_EQUAL(before.st_ino, after.st_ino);
	/* the reader that had the old file open still reads the old file whole */
	char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	CU_ASSERT_FATAL(n > 0);
	buf[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "\"phase\": \"scheduled\""));
	close(fd);

	/* nothing but our two names in run_dir */
	DIR *d = opendir(rundir);
	struct dirent *de;
	CU_ASSERT_FATAL(d != NULL);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    strcmp(de->d_name, "..") == 0))
			continue;
		if (strcmp(de->d_name, MAINTFILE_NAME) != 0 &&
		    strcmp(de->d_name, MAINTFILE_MOTD_NAME) != 0) {
			fprintf(stderr, "\n  left behind: %s\n", de->d_name);
			CU_FAIL("a temp file was left in run_dir");
		}
	}
	closedir(d);

	/* a writer replacing the file as fast as it can; every read parses */
	pid_t pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		struct maintfile_error e2;
		for (int i = 0; i < 300; i++) {
			m->phase = (enum maint_phase)(i % 4);
			if (maintfile_write(rundir, m, &e2) < 0)
				_exit(1);
		}
		_exit(0);
	}
	int bad = 0, reads = 0, status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		struct maintfile *r = NULL;
		struct maintfile_error e3;
		if (maintfile_read(rundir, &r, &e3) != 0) {
			fprintf(stderr, "\n  torn read: %s\n", e3.msg);
			bad++;
		}
		reads++;
		maintfile_free(r);
	}
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(reads > 0);
	maintfile_free(m);
}

static void
expect_read_error(const char *content, int want_rc, const char *want_msg)
{
	struct maintfile *r = (struct maintfile *)1;
	struct maintfile_error err = { "" };
	int rc;

	writefile(MAINTFILE_NAME, content);
	rc = maintfile_read(rundir, &r, &err);
	if (rc != want_rc || strstr(err.msg, want_msg) == NULL)
		fprintf(stderr, "\n  input: %s\n  want: %d %s\n  got:  %d %s\n", content,
		    want_rc, want_msg, rc, err.msg);
	CU_ASSERT_EQUAL(rc, want_rc);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want_msg));
	/* every message names the file and what to do */
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, rundir));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "(remove it; pcm-agent watch writes it again)"));
}

static void
test_garbage(void)
{
	expect_read_error("", -EINVAL, "cannot parse maintenance state");
	expect_read_error("", -EINVAL, "empty file");
	expect_read_error("\x7f" "ELF\x02\x01", -EINVAL, "cannot parse maintenance state");
	expect_read_error("{\"phase\": \"scheduled\", \"event\": {", -EINVAL, "truncated JSON");
	expect_read_error("[1,2,3]", -EINVAL, "not a JSON object");
	expect_read_error("{\"phase\":\"scheduled\",\"event\":{\"code\":\"x\","
	    "\"not_before_epoch\":5}} trailing", -EINVAL, "text after the JSON object");
	expect_read_error("{\"phase\":\"later\",\"event\":{\"code\":\"x\",\"not_before_epoch\":5}}",
	    -EINVAL, "missing or invalid phase");
	expect_read_error("{\"phase\":\"scheduled\"}", -EINVAL, "missing or invalid event");
	expect_read_error("{\"phase\":\"scheduled\",\"event\":{\"code\":\"x\"}}",
	    -EINVAL, "not_before is missing");
	expect_read_error("{\"phase\":\"scheduled\",\"event\":{\"code\":\"x\","
	    "\"not_before\":\"tomorrow\"}}", -EINVAL, "missing or invalid event.not_before");
	expect_read_error("{\"phase\":\"scheduled\",\"event\":{\"code\":\"x\","
	    "\"not_before_epoch\":\"5\"}}", -EINVAL, "missing or invalid event.not_before");
	expect_read_error("{\"phase\":\"scheduled\",\"event\":{\"code\":7,"
	    "\"not_before_epoch\":5}}", -EINVAL, "missing or invalid event.code");
	expect_read_error("{\"phase\":\"scheduled\",\"event\":{\"code\":\"a b\\u001b[2J\","
	    "\"not_before_epoch\":5}}", -EINVAL, "is not a plain name");
	expect_read_error("{\"phase\":\"scheduled\",\"event\":{\"code\":\"x\","
	    "\"not_before_epoch\":50,\"not_after_epoch\":40}}", -EINVAL,
	    "not_after is before not_before");
	expect_read_error("{\"phase\":\"scheduled\",\"event\":{\"code\":\"x\","
	    "\"not_before_epoch\":50},\"window\":[]}", -EINVAL, "missing or invalid window");
}

static void
test_missing_and_not_regular(void)
{
	struct maintfile *r = NULL;
	struct maintfile_error err = { "" };
	char path[512];

	CU_ASSERT_EQUAL(maintfile_remove(rundir, &err), 0);
	CU_ASSERT_EQUAL(maintfile_remove(rundir, &err), 0);	/* twice is fine */
	CU_ASSERT_EQUAL(maintfile_read(rundir, &r, &err), -ENOENT);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "no maintenance is planned"));

	/* a directory (or a fifo) where the file should be: an error, never a hang */
	CU_ASSERT_EQUAL(maintfile_path(rundir, path, sizeof(path)), 0);
	CU_ASSERT_EQUAL_FATAL(mkdir(path, 0755), 0);
	CU_ASSERT_EQUAL(maintfile_read(rundir, &r, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a regular file"));
	rmdir(path);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0644), 0);
	alarm(10);	/* a blocking open would hang here: fail loudly instead */
	CU_ASSERT_EQUAL(maintfile_read(rundir, &r, &err), -EINVAL);
	alarm(0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not a regular file"));
	unlink(path);
}

static void
test_write_refuses_invalid(void)
{
	struct maintfile *m = sample();
	struct maintfile_error err = { "" };

	m->not_before = 0;
	CU_ASSERT_EQUAL(maintfile_write(rundir, m, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not_before is missing"));
	m->not_before = 100;
	CU_ASSERT_EQUAL(maintfile_set_str(&m->reservation, "x;rm -rf /"), 0);
	CU_ASSERT_EQUAL(maintfile_write(rundir, m, &err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "reservation 'x;rm -rf /' is not a plain name"));
	maintfile_free(m);

	/* run_dir under a regular file: the error names it */
	char bad[512];
	snprintf(bad, sizeof(bad), "%s/plainfile", tmpdir);
	FILE *fp = fopen(bad, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fclose(fp);
	strcat(bad, "/run");
	m = sample();
	CU_ASSERT(maintfile_write(bad, m, &err) < 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot create"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad));
	maintfile_free(m);
}

static void
test_motd(void)
{
	struct maintfile *m = sample();
	struct maintfile_error err = { "" };
	char path[512];
	struct stat st;

	CU_ASSERT_EQUAL_FATAL(maintfile_write_motd(rundir, m, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", rundir, MAINTFILE_MOTD_NAME);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);
	char *text = slurp(path);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "HEAD-NODE MAINTENANCE SCHEDULED: system-reboot at "
	    "2026-11-26 03:00 UTC\n(at the latest by 2026-11-26 05:00 UTC)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "From 2026-11-26 02:45 UTC no new job starts "
	    "(reservation pcm-maintenance)"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "ask for a --time that ends before 2026-11-26 02:45 UTC"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "--no-requeue"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "PCM_MAINTENANCE_NOT_BEFORE"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "Message from the administrator: Reboot for the "
	    "kernel \"fix\""));
	/* the MOTD does not go stale: no "(in 2h)" */
	CU_ASSERT_PTR_NULL(strstr(text, "(in "));
	/* fits a terminal */
	for (char *p = text, *nl; *p; p = nl + 1) {
		nl = strchrnul(p, '\n');
		if (nl - p > 80)
			fprintf(stderr, "\n  too long: %.*s\n", (int)(nl - p), p);
		CU_ASSERT(nl - p <= 80);
		if (*nl == '\0')
			break;
	}
	free(text);

	/* relative time when asked; control characters never reach a terminal */
	CU_ASSERT_EQUAL(maintfile_set_str(&m->message, "line1\nline2\x1b[2J"), 0);
	m->phase = MAINT_PHASE_UNDER_WAY;
	text = maintfile_notice(m, m->not_before - 7500, "pcm: ");
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "pcm: HEAD-NODE MAINTENANCE UNDER WAY: system-reboot, "
	    "planned for 2026-11-26 03:00 UTC\npcm: (in 2h05m; at the latest by 2026-11-26 05:00 UTC)\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "line1 line2 [2J"));
	CU_ASSERT_PTR_NULL(strchr(text, '\x1b'));
	/* every line carries the prefix */
	for (char *p = text; (p = strchr(p, '\n')) != NULL && p[1]; p++)
		CU_ASSERT_EQUAL(strncmp(p + 1, "pcm: ", 5), 0);
	free(text);

	/* resuming: the end of it, no deadline advice */
	m->phase = MAINT_PHASE_RESUMING;
	text = maintfile_notice(m, 0, "");
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "The head-node maintenance (system-reboot) is ending"));
	CU_ASSERT_PTR_NULL(strstr(text, "--no-requeue"));
	free(text);

	/* maintfile_remove takes the MOTD away too */
	CU_ASSERT_EQUAL(maintfile_remove(rundir, &err), 0);
	CU_ASSERT_EQUAL(stat(path, &st), -1);
	maintfile_free(m);
}

static const struct cu_test tests[] = {
	{ "round trip", test_round_trip },
	{ "phase names", test_phase_names },
	{ "ISO-8601 only", test_iso_only },
	{ "atomic replace", test_atomic_replace },
	{ "garbage file: clear error", test_garbage },
	{ "missing file, not a regular file", test_missing_and_not_regular },
	{ "write refuses invalid state", test_write_refuses_invalid },
	{ "MOTD snippet and notice text", test_motd },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("maintfile", tests, setup, teardown)
