/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_watch.c - the watch daemon's event bookkeeping: the decision table,
 * the reservation start, the restart method, events.json round trip */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu.h"
#include "watch.h"

static char tmpdir[] = "/tmp/pcm-test-watch.XXXXXX";

static int
setup(void)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

#define NOW	1800000000L
#define NB	(NOW + 3600)

static const struct watch_params P = { .event_margin = 900, .prepare_lead = 1800,
	.auto_prepare = 0 };
static const struct watch_params PA = { .event_margin = 900, .prepare_lead = 1800,
	.auto_prepare = 1 };

static struct watch_seen
seen(const char *state, const char *code, time_t nb)
{
	struct watch_seen s = { "instance-event-1", code, "d", state, "imds", nb, nb + 7200 };
	return s;
}

static struct watch_event
tracked(enum watch_status st)
{
	struct watch_event e = { 0 };
	e.id = "instance-event-1";
	e.code = "system-reboot";
	e.not_before = NB;
	e.not_after = NB + 7200;
	e.status = st;
	e.reservation = "pcm-maintenance";
	e.resv_created = 1;
	e.notified = 1;
	e.prepare_rc = -1;
	return e;
}

static void
test_new_events(void)
{
	struct watch_seen s = seen("active", "system-reboot", NB);

	CU_ASSERT_EQUAL(watch_decide(NULL, &s, NOW, &P), WATCH_ACT_PLAN);
	s = seen("active", "instance-retirement", NB);
	CU_ASSERT_EQUAL(watch_decide(NULL, &s, NOW, &P), WATCH_ACT_PLAN);
	/* already over when first seen: recorded, nothing done */
	s = seen("canceled", "system-reboot", NB);
	CU_ASSERT_EQUAL(watch_decide(NULL, &s, NOW, &P), WATCH_ACT_IGNORE);
	s = seen("completed", "system-reboot", NB);
	CU_ASSERT_EQUAL(watch_decide(NULL, &s, NOW, &P), WATCH_ACT_IGNORE);
	/* a code we do not know, or no NotBefore */
	s = seen("active", "fleet-rebalance", NB);
	CU_ASSERT_EQUAL(watch_decide(NULL, &s, NOW, &P), WATCH_ACT_IGNORE);
	s = seen("active", "system-reboot", 0);
	CU_ASSERT_EQUAL(watch_decide(NULL, &s, NOW, &P), WATCH_ACT_IGNORE);
	/* not listed and not known: nothing */
	CU_ASSERT_EQUAL(watch_decide(NULL, NULL, NOW, &P), WATCH_ACT_NONE);
}

static void
test_planned_once(void)
{
	struct watch_event e = tracked(WATCH_ST_PLANNED);
	struct watch_seen s = seen("active", "system-reboot", NB);

	/* the same event again: nothing, poll after poll */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW + i, &P), WATCH_ACT_NONE);
	/* ignored and terminal records stay quiet */
	e.status = WATCH_ST_IGNORED;
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_NONE);
	e.status = WATCH_ST_COMPLETED;
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_NONE);
	e.status = WATCH_ST_PREPARING;
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &PA), WATCH_ACT_NONE);
}

static void
test_unfinished_plan_retried(void)
{
	struct watch_event e = tracked(WATCH_ST_PLANNED);
	struct watch_seen s = seen("active", "system-reboot", NB);

	e.reservation = NULL;	/* Slurm was down */
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_PLAN);
	e.reservation = "pcm-maintenance";
	e.notified = 0;
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_PLAN);
}

static void
test_cancel_complete(void)
{
	struct watch_event e = tracked(WATCH_ST_PLANNED);
	struct watch_seen s = seen("canceled", "system-reboot", NB);

	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_UNDO_CANCELED);
	s = seen("completed", "system-reboot", NB);
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_UNDO_COMPLETED);
	/* a prepare under way is still told */
	e.status = WATCH_ST_PREPARING;
	s = seen("canceled", "system-reboot", NB);
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_UNDO_CANCELED);
	/* no longer listed: before NotBefore it was canceled, after it happened */
	e.status = WATCH_ST_PLANNED;
	CU_ASSERT_EQUAL(watch_decide(&e, NULL, NOW, &P), WATCH_ACT_UNDO_CANCELED);
	CU_ASSERT_EQUAL(watch_decide(&e, NULL, NB + 1, &P), WATCH_ACT_UNDO_COMPLETED);
	/* a canceled event listed canceled again: nothing; active again: planned again */
	e.status = WATCH_ST_CANCELED;
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_NONE);
	CU_ASSERT_EQUAL(watch_decide(&e, NULL, NOW, &P), WATCH_ACT_NONE);
	s = seen("active", "system-reboot", NB + 600);
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_PLAN);
}

static void
test_rescheduled(void)
{
	struct watch_event e = tracked(WATCH_ST_PLANNED);
	struct watch_seen s = seen("active", "system-reboot", NB + 86400);

	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_REPLAN);
	/* no NotBefore in the answer is not a move */
	s = seen("active", "system-reboot", 0);
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW, &P), WATCH_ACT_NONE);
}

static void
test_auto_prepare_timing(void)
{
	struct watch_event e = tracked(WATCH_ST_PLANNED);
	struct watch_seen s = seen("active", "system-reboot", NB);

	/* NB - lead = NOW + 1800 */
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW + 1799, &PA), WATCH_ACT_NONE);
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW + 1800, &PA), WATCH_ACT_PREPARE);
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NB + 10, &PA), WATCH_ACT_PREPARE);
	/* after the window: too late */
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NB + 7200, &PA), WATCH_ACT_NONE);
	/* not without auto_prepare */
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW + 1800, &P), WATCH_ACT_NONE);
	/* once: recorded as preparing, never again */
	e.status = WATCH_ST_PREPARING;
	CU_ASSERT_EQUAL(watch_decide(&e, &s, NOW + 1800, &PA), WATCH_ACT_NONE);
}

static void
test_resv_start_and_method(void)
{
	CU_ASSERT_EQUAL(watch_resv_start(NB, 900, NOW), NB - 900);
	CU_ASSERT_EQUAL(watch_resv_start(NB, 0, NOW), NB);
	/* never in the past */
	CU_ASSERT_EQUAL(watch_resv_start(NOW + 60, 900, NOW), NOW);
	CU_ASSERT_STRING_EQUAL(watch_code_method("system-reboot"), "reboot");
	CU_ASSERT_STRING_EQUAL(watch_code_method("instance-reboot"), "reboot");
	CU_ASSERT_STRING_EQUAL(watch_code_method("instance-retirement"), "stop-start");
	CU_ASSERT_STRING_EQUAL(watch_code_method("instance-stop"), "stop-start");
	CU_ASSERT_STRING_EQUAL(watch_code_method("system-maintenance"), "stop-start");
	CU_ASSERT(watch_code_known("system-maintenance"));
	CU_ASSERT(!watch_code_known("SYSTEM-REBOOT"));
	CU_ASSERT(!watch_code_known(NULL));
}

static void
test_status_names(void)
{
	enum watch_status st;

	for (int i = WATCH_ST_NEW; i <= WATCH_ST_COMPLETED; i++) {
		CU_ASSERT_EQUAL(watch_status_parse(watch_status_name(i), &st), 0);
		CU_ASSERT_EQUAL((int)st, i);
	}
	CU_ASSERT_EQUAL(watch_status_parse("bogus", &st), -EINVAL);
	CU_ASSERT_EQUAL(watch_status_parse(NULL, &st), -EINVAL);
}

static void
test_state_round_trip(void)
{
	char dir[300], err[512] = "";
	struct watch_state st = { 0 }, *got = NULL;
	struct watch_event v[2];
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	/* missing file: empty state */
	CU_ASSERT_EQUAL(watch_state_load(dir, &got, err, sizeof(err)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_EQUAL(got->n, 0);
	watch_state_free(got);

	v[0] = tracked(WATCH_ST_PREPARING);
	v[0].prepare_started = NOW;
	v[0].prepare_pid = 1234;
	v[0].prepare_method = "reboot";
	v[0].resv_start = NB - 900;
	v[0].resv_end = NB + 7200;
	v[0].description = "with \"quotes\"";
	v[1] = tracked(WATCH_ST_IGNORED);
	v[1].id = "instance-event-2";
	v[1].reservation = NULL;
	v[1].resv_created = 0;
	v[1].notified = 0;
	st.v = v;
	st.n = 2;
	CU_ASSERT_EQUAL_FATAL(watch_state_save(dir, &st), 0);
	snprintf(err, sizeof(err), "%s/%s", dir, WATCH_EVENTS_FILE);
	CU_ASSERT_EQUAL(stat(err, &sb), 0);
	CU_ASSERT_EQUAL(sb.st_mode & 0777, 0600);

	CU_ASSERT_EQUAL_FATAL(watch_state_load(dir, &got, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL_FATAL(got->n, 2);
	struct watch_event *a = watch_state_find(got, "instance-event-1");
	struct watch_event *b = watch_state_find(got, "instance-event-2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(a->status, WATCH_ST_PREPARING);
	CU_ASSERT_EQUAL(a->not_before, NB);
	CU_ASSERT_EQUAL(a->not_after, NB + 7200);
	CU_ASSERT_STRING_EQUAL(a->reservation, "pcm-maintenance");
	CU_ASSERT_EQUAL(a->resv_created, 1);
	CU_ASSERT_EQUAL(a->resv_start, NB - 900);
	CU_ASSERT_EQUAL(a->resv_end, NB + 7200);
	CU_ASSERT_EQUAL(a->notified, 1);
	CU_ASSERT_EQUAL(a->prepare_started, NOW);
	CU_ASSERT_EQUAL(a->prepare_pid, 1234);
	CU_ASSERT_EQUAL(a->prepare_rc, -1);
	CU_ASSERT_STRING_EQUAL(a->prepare_method, "reboot");
	CU_ASSERT_STRING_EQUAL(a->description, "with \"quotes\"");
	CU_ASSERT_EQUAL(b->status, WATCH_ST_IGNORED);
	CU_ASSERT_PTR_NULL(b->reservation);
	CU_ASSERT_EQUAL(b->resv_created, 0);
	CU_ASSERT_PTR_NULL(watch_state_find(got, "instance-event-3"));
	/* the decision on the reloaded record: still nothing to do (acted on once) */
	struct watch_seen s = seen("active", "system-reboot", NB);
	CU_ASSERT_EQUAL(watch_decide(a, &s, NOW, &PA), WATCH_ACT_NONE);
	watch_state_free(got);
}

static void
test_state_bad_file(void)
{
	char dir[300], path[400], err[512] = "";
	struct watch_state *got = (struct watch_state *)1;
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s/bad", tmpdir);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/%s", dir, WATCH_EVENTS_FILE);
	fp = fopen(path, "w");
	fputs("{\"version\":1,\"events\":[", fp);
	fclose(fp);
	CU_ASSERT_EQUAL(watch_state_load(dir, &got, err, sizeof(err)), -EBADMSG);
	CU_ASSERT_PTR_NULL(got);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "move it away"));
	fp = fopen(path, "w");
	fputs("{\"version\":1,\"events\":{\"instance-event-9\":{\"status\":\"weird\"}}}", fp);
	fclose(fp);
	CU_ASSERT_EQUAL(watch_state_load(dir, &got, err, sizeof(err)), -EBADMSG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "instance-event-9"));
}

/* an unlisted event is gone only when the source it came from answered */
static void
test_unlisted_gone(void)
{
	CU_ASSERT_TRUE(watch_unlisted_gone("imds", 1, 0));
	CU_ASSERT_TRUE(watch_unlisted_gone("imds", 1, 1));
	CU_ASSERT_FALSE(watch_unlisted_gone("imds", 0, 1));
	CU_ASSERT_TRUE(watch_unlisted_gone("ec2", 0, 1));
	CU_ASSERT_TRUE(watch_unlisted_gone("ec2", 1, 1));
	CU_ASSERT_FALSE(watch_unlisted_gone("ec2", 1, 0));	/* EC2 failed: not gone */
	CU_ASSERT_FALSE(watch_unlisted_gone("ec2", 0, 0));
	CU_ASSERT_TRUE(watch_unlisted_gone(NULL, 1, 0));	/* old record: IMDS */
	CU_ASSERT_FALSE(watch_unlisted_gone(NULL, 0, 1));
}

static const struct cu_test tests[] = {
	{ "new events", test_new_events },
	{ "planned: acted on once", test_planned_once },
	{ "unfinished plan retried", test_unfinished_plan_retried },
	{ "cancel and complete", test_cancel_complete },
	{ "rescheduled", test_rescheduled },
	{ "auto_prepare timing", test_auto_prepare_timing },
	{ "reservation start, method", test_resv_start_and_method },
	{ "status names", test_status_names },
	{ "events.json round trip", test_state_round_trip },
	{ "events.json bad file", test_state_bad_file },
	{ "unlisted event gone", test_unlisted_gone },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("watch", tests, setup, teardown)
