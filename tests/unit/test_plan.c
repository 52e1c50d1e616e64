/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_plan.c - plan.c without the bed: method names, the step list, the
 * status section over a real journal (the procedure itself is tested end to
 * end by tests/integration/050x). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aws/ssm_token.h"
#include "config.h"
#include "cu.h"
#include "journal.h"
#include "plan.h"

static char dir[] = "/tmp/pcm-test-plan.XXXXXX";

static int setup(void) { return mkdtemp(dir) ? 0 : -1; }
static int
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_methods(void)
{
	CU_ASSERT_EQUAL(plan_method_parse("none"), PLAN_METHOD_NONE);
	CU_ASSERT_EQUAL(plan_method_parse("reboot"), PLAN_METHOD_REBOOT);
	CU_ASSERT_EQUAL(plan_method_parse("stop-start"), PLAN_METHOD_STOP_START);
	CU_ASSERT_EQUAL(plan_method_parse("stop_start"), PLAN_METHOD_CONFIG);
	CU_ASSERT_EQUAL(plan_method_parse(NULL), PLAN_METHOD_CONFIG);
	CU_ASSERT_EQUAL(plan_method_parse("config"), PLAN_METHOD_CONFIG);
	for (int m = PLAN_METHOD_NONE; m <= PLAN_METHOD_STOP_START; m++)
		CU_ASSERT_EQUAL((int)plan_method_parse(plan_method_name((enum plan_method)m)), m);
}

static void
test_steps(void)
{
	static const char *const want[] = { "preflight", "prestage", "reservation", "jobgate",
	    "fleet_stop", "final_save", "restart", "restore", "health", "fleet_start",
	    "unreserve", NULL };
	int i;

	for (i = 0; want[i] != NULL; i++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(plan_steps[i]);
		CU_ASSERT_STRING_EQUAL(plan_steps[i], want[i]);
	}
	CU_ASSERT_PTR_NULL(plan_steps[i]);
}

/* plan_status_print's line for the journal in dir, captured from stdout */
static void
status_line(const struct pcm_config *cfg, char *buf, size_t len, int *bad)
{
	char path[512];
	struct json_object *o;
	int fd, saved;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/status.out", dir);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	o = plan_status_json(cfg, bad);
	plan_status_print(o);
	json_object_put(o);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	buf[0] = '\0';
	if ((fp = fopen(path, "r")) != NULL) {
		if (fgets(buf, (int)len, fp) == NULL)
			buf[0] = '\0';
		fclose(fp);
	}
}

static void
test_status(void)
{
	struct pcm_config cfg;
	struct journal *j = NULL;
	char sd[256], line[512];
	int bad = 0;

	snprintf(sd, sizeof(sd), "%s/state", dir);
	CU_ASSERT_EQUAL_FATAL(config_init(&cfg), 0);
	free(cfg.state_dir);
	cfg.state_dir = strdup(sd);

	status_line(&cfg, line, sizeof(line), &bad);
	CU_ASSERT_STRING_EQUAL(line, "operation    none\n");
	CU_ASSERT_EQUAL(bad, 0);

	CU_ASSERT_EQUAL_FATAL(journal_create(sd, "instance-event-0abc", plan_steps, &j), 0);
	CU_ASSERT_EQUAL(journal_step_set(j, "preflight", STEP_DONE, NULL), 0);
	CU_ASSERT_EQUAL(journal_step_set(j, "prestage", STEP_SKIPPED, NULL), 0);
	CU_ASSERT_EQUAL(journal_step_set(j, "reservation", STEP_DONE, NULL), 0);
	CU_ASSERT_EQUAL(journal_step_set(j, "jobgate", STEP_RUNNING, NULL), 0);
	status_line(&cfg, line, sizeof(line), &bad);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, "(instance-event-0abc, phase prepare): 3 of 11 steps "
	    "done; jobgate running\n"));
	CU_ASSERT_EQUAL(strncmp(line, "operation    ", 13), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(line, journal_id(j)));
	CU_ASSERT_EQUAL(bad, 0);

	/* a corrupt journal: reported, not hidden */
	{
		char path[512];
		FILE *fp;

		snprintf(path, sizeof(path), "%s/journal.json", sd);
		CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(path, "w"));
		fputs("{ not json", fp);
		fclose(fp);
		status_line(&cfg, line, sizeof(line), &bad);
		CU_ASSERT_EQUAL(bad, 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(line, "unreadable"));
	}
	journal_free(j);
	config_free(&cfg);
}

static void
test_client_token(void)
{
	char a[40], b[40];

	CU_ASSERT_EQUAL(ssm_client_token_new(a, 36), -ENOSPC);
	CU_ASSERT_EQUAL_FATAL(ssm_client_token_new(a, sizeof(a)), 0);
	CU_ASSERT_EQUAL_FATAL(ssm_client_token_new(b, sizeof(b)), 0);
	CU_ASSERT_EQUAL(strlen(a), 36);
	CU_ASSERT_EQUAL(strspn(a, "0123456789abcdef-"), 36);
	CU_ASSERT(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
	CU_ASSERT_EQUAL(a[14], '4');				/* version 4 */
	CU_ASSERT_PTR_NOT_NULL(strchr("89ab", a[19]));		/* RFC 4122 variant */
	CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

/* the keep-fleet first-use estimate: what the instance type adds */
static void
test_instance_extra(void)
{
	static const struct { const char *type; long extra; const char *what; } t[] = {
		{ "c5.metal", 900, "a metal instance" },
		{ "m7i.metal-24xl", 900, "a metal instance" },
		{ "i4i.metal", 900, "a metal instance" },
		{ "u-6tb1.metal", 900, "a metal instance" },	/* both: the larger */
		{ "u-6tb1.112xlarge", 600, "a high-memory instance" },
		{ "u7i-12tb.224xlarge", 600, "a high-memory instance" },
		{ "x1e.32xlarge", 600, "a high-memory instance" },
		{ "x1.16xlarge", 600, "a high-memory instance" },
		{ "x2iedn.32xlarge", 600, "a high-memory instance" },
		{ "x2idn.24xlarge", 600, "a high-memory instance" },
		{ "c5d.large", 0, NULL },
		{ "m5.24xlarge", 0, NULL },
		{ "x2gd.xlarge", 0, NULL },	/* Graviton, not high-memory */
		{ "r7iz.metalx", 900, "a metal instance" },	/* *.metal*, as documented */
		{ "", 0, NULL },
	};
	const char *what = "untouched";

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CU_ASSERT_EQUAL(plan_instance_reboot_extra(t[i].type, &what), t[i].extra);
		if (t[i].what == NULL) {
			CU_ASSERT_PTR_NULL(what);
		} else {
			CU_ASSERT_PTR_NOT_NULL_FATAL(what);
			CU_ASSERT_STRING_EQUAL(what, t[i].what);
		}
	}
	CU_ASSERT_EQUAL(plan_instance_reboot_extra(NULL, &what), 0);
	CU_ASSERT_PTR_NULL(what);
	CU_ASSERT_EQUAL(plan_instance_reboot_extra("c6i.metal", NULL), 900);
}

static const struct cu_test tests[] = {
	{ "keep-fleet estimate: the instance type's extra", test_instance_extra },
	{ "SSM ClientToken: a fresh UUID v4", test_client_token },
	{ "method names round-trip; unknown is config", test_methods },
	{ "the journal's steps, in order", test_steps },
	{ "status: none, in progress, corrupt", test_status },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("plan", tests, setup, teardown)
