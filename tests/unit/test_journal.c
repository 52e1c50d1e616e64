/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_journal.c - the prepare-restart journal: atomic, resumable, closed to history */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cu.h"
#include "journal.h"

static char dir[] = "/tmp/pcm-test-journal.XXXXXX";
static const char *const steps[] = { "preflight", "prestage", "reservation", NULL };

static int setup(void) { return mkdtemp(dir) ? 0 : -1; }
static int
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_lifecycle(void)
{
	struct journal *j = NULL, *k = NULL;
	char sd[256], path[1024];

	snprintf(sd, sizeof(sd), "%s/state/sub", dir);
	CU_ASSERT_EQUAL_FATAL(journal_create(sd, "event-123", steps, &j), 0);
	struct stat st;
	CU_ASSERT_EQUAL(stat(sd, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	CU_ASSERT_STRING_EQUAL(journal_trigger(j), "event-123");
	CU_ASSERT_STRING_EQUAL(journal_phase(j), "prepare");
	CU_ASSERT_EQUAL(journal_step(j, "preflight"), STEP_PENDING);

	/* a second journal cannot be opened over the first */
	CU_ASSERT_EQUAL(journal_create(sd, NULL, steps, &k), -EEXIST);
	CU_ASSERT_PTR_NULL(k);

	CU_ASSERT_EQUAL(journal_step_set(j, "preflight", STEP_RUNNING, NULL), 0);
	CU_ASSERT_EQUAL(journal_step_set(j, "preflight", STEP_DONE, "all good"), 0);
	CU_ASSERT_EQUAL(journal_step_set(j, "prestage", STEP_RUNNING, NULL), 0);
	CU_ASSERT_EQUAL(journal_data_set(j, "reservation", json_object_new_string("pcm-maintenance")), 0);
	CU_ASSERT_EQUAL(journal_data_set(j, "fleet_before", json_object_new_string("RUNNING")), 0);

	/* a fresh process (kill -9 in between) sees exactly what was recorded */
	CU_ASSERT_EQUAL_FATAL(journal_load(sd, &k), 0);
	CU_ASSERT_STRING_EQUAL(journal_id(k), journal_id(j));
	CU_ASSERT_EQUAL(journal_step(k, "preflight"), STEP_DONE);
	CU_ASSERT_STRING_EQUAL(journal_step_detail(k, "preflight"), "all good");
	CU_ASSERT_EQUAL(journal_step(k, "prestage"), STEP_RUNNING);
	CU_ASSERT_EQUAL(journal_step(k, "reservation"), STEP_PENDING);
	CU_ASSERT_STRING_EQUAL(journal_data_str(k, "fleet_before"), "RUNNING");
	CU_ASSERT_PTR_NULL(journal_data_str(k, "nothing"));
	journal_free(k);

	/* no temp file is left behind */
	snprintf(path, sizeof(path), "%s/journal.json.tmp.%ld", sd, (long)getpid());
	CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0);

	/* a copy next to the save */
	char copydir[256];
	snprintf(copydir, sizeof(copydir), "%s", dir);
	CU_ASSERT_EQUAL(journal_copy_to(j, copydir), 0);
	snprintf(path, sizeof(path), "%s/journal.json", copydir);
	struct json_object *c = json_object_from_file(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	struct json_object *v;
	CU_ASSERT(json_object_object_get_ex(c, "id", &v) &&
	    strcmp(json_object_get_string(v), journal_id(j)) == 0);
	json_object_put(c);

	/* closing moves it to history; a new one can start */
	char id[64];
	snprintf(id, sizeof(id), "%s", journal_id(j));
	CU_ASSERT_EQUAL(journal_close(j, "done"), 0);
	journal_free(j);
	CU_ASSERT_EQUAL(journal_load(sd, &k), -ENOENT);
	snprintf(path, sizeof(path), "%s/history/%s.json", sd, id);
	CU_ASSERT_EQUAL(access(path, F_OK), 0);
	CU_ASSERT_EQUAL(journal_create(sd, NULL, steps, &j), 0);
	journal_free(j);
}

static void
test_corrupt(void)
{
	struct journal *j = NULL;
	char sd[256], path[1024];

	snprintf(sd, sizeof(sd), "%s/corrupt", dir);
	CU_ASSERT_EQUAL(mkdir(sd, 0700), 0);
	snprintf(path, sizeof(path), "%s/journal.json", sd);
	FILE *fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fputs("{\"id\": \"x\", \"steps\": [", fp);	/* truncated */
	fclose(fp);
	CU_ASSERT_EQUAL(journal_load(sd, &j), -EBADMSG);
	CU_ASSERT_PTR_NULL(j);
	fp = fopen(path, "w");
	fputs("{\"id\": \"x\", \"steps\": [], \"data\": {}}", fp);	/* wrong type */
	fclose(fp);
	CU_ASSERT_EQUAL(journal_load(sd, &j), -EBADMSG);
}

static const struct cu_test tests[] = {
	{ "create, steps, data, reload, copy, close", test_lifecycle },
	{ "corrupt journal refused", test_corrupt },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("journal", tests, setup, teardown)
