/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_triage.c - job triage rules and the jobs JSON, on constructed records */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <slurm/slurm.h>

#include "cu.h"
#include "sched/sched.h"

static struct sched_job
job(uint32_t state, int batch, int requeue)
{
	struct sched_job j;

	memset(&j, 0, sizeof(j));
	j.state = state;
	j.batch = batch;
	j.requeue = requeue;
	return j;
}

static enum sched_outcome
tri(uint32_t state, int batch, int requeue, int cluster)
{
	struct sched_job j = job(state, batch, requeue);
	return sched_triage(&j, cluster);
}

static void
test_running(void)
{
	/* the three rules of the issue */
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 1, 1, 1), SCHED_OUTCOME_REQUEUE);
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 1, 0, 1), SCHED_OUTCOME_FAIL);	/* --no-requeue */
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 0, 1, 1), SCHED_OUTCOME_FAIL);	/* srun/salloc */
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 0, 0, 1), SCHED_OUTCOME_FAIL);
	/* the job's own flag wins over JobRequeue */
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 1, 1, 0), SCHED_OUTCOME_REQUEUE);
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 1, 0, 1), SCHED_OUTCOME_FAIL);
}

static void
test_cluster_requeue(void)
{
	/* flag unset: JobRequeue decides */
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 1, -1, 1), SCHED_OUTCOME_REQUEUE);
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 1, -1, 0), SCHED_OUTCOME_FAIL);
	CU_ASSERT_EQUAL(tri(JOB_RUNNING, 0, -1, 1), SCHED_OUTCOME_FAIL);
}

static void
test_pending(void)
{
	CU_ASSERT_EQUAL(tri(JOB_PENDING, 1, 1, 1), SCHED_OUTCOME_PENDING);
	CU_ASSERT_EQUAL(tri(JOB_PENDING, 1, 0, 1), SCHED_OUTCOME_PENDING);
	CU_ASSERT_EQUAL(tri(JOB_PENDING, 0, 0, 0), SCHED_OUTCOME_PENDING);
	/* a completing job Slurm is requeueing goes back to the queue */
	CU_ASSERT_EQUAL(tri(JOB_PENDING | JOB_COMPLETING | JOB_REQUEUE, 1, 1, 1),
	    SCHED_OUTCOME_PENDING);
	CU_ASSERT_EQUAL(tri(JOB_NODE_FAIL | JOB_COMPLETING | JOB_REQUEUE, 1, 1, 1),
	    SCHED_OUTCOME_PENDING);
	CU_ASSERT_EQUAL(tri(JOB_FAILED | JOB_REQUEUE_HOLD, 1, 1, 1), SCHED_OUTCOME_PENDING);
}

static void
test_other_states(void)
{
	/* suspended and configuring jobs hold nodes like running ones */
	CU_ASSERT_EQUAL(tri(JOB_SUSPENDED, 1, 1, 1), SCHED_OUTCOME_REQUEUE);
	CU_ASSERT_EQUAL(tri(JOB_SUSPENDED, 1, 0, 1), SCHED_OUTCOME_FAIL);
	CU_ASSERT_EQUAL(tri(JOB_RUNNING | JOB_CONFIGURING, 1, 1, 1), SCHED_OUTCOME_REQUEUE);
	CU_ASSERT_EQUAL(tri(JOB_RUNNING | JOB_CONFIGURING, 0, 1, 1), SCHED_OUTCOME_FAIL);
	/* completing (epilog) and finished: nothing to lose */
	CU_ASSERT_EQUAL(tri(JOB_RUNNING | JOB_COMPLETING, 1, 0, 1), SCHED_OUTCOME_NONE);
	CU_ASSERT_EQUAL(tri(JOB_COMPLETE | JOB_COMPLETING, 0, 0, 1), SCHED_OUTCOME_NONE);
	for (uint32_t st = JOB_COMPLETE; st < JOB_END; st++)
		CU_ASSERT_EQUAL(tri(st, 1, 0, 1), SCHED_OUTCOME_NONE);
}

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(sched_outcome_name(SCHED_OUTCOME_REQUEUE), "requeue");
	CU_ASSERT_STRING_EQUAL(sched_outcome_name(SCHED_OUTCOME_FAIL), "fail");
	CU_ASSERT_STRING_EQUAL(sched_outcome_name(SCHED_OUTCOME_PENDING), "pending");
	CU_ASSERT_STRING_EQUAL(sched_outcome_name(SCHED_OUTCOME_NONE), "none");
	CU_ASSERT_STRING_EQUAL(sched_job_state_name(JOB_RUNNING), "RUNNING");
	CU_ASSERT_STRING_EQUAL(sched_job_state_name(JOB_PENDING), "PENDING");
	CU_ASSERT_STRING_EQUAL(sched_job_state_name(JOB_NODE_FAIL), "NODE_FAIL");
	CU_ASSERT_STRING_EQUAL(sched_job_state_name(JOB_COMPLETE), "COMPLETED");
	CU_ASSERT_STRING_EQUAL(sched_job_state_name(JOB_COMPLETE | JOB_COMPLETING), "COMPLETING");
	CU_ASSERT_STRING_EQUAL(sched_job_state_name(JOB_RUNNING | JOB_CONFIGURING), "CONFIGURING");
	CU_ASSERT_STRING_EQUAL(sched_job_state_name(200), "UNKNOWN");
	CU_ASSERT_STRING_EQUAL(sched_partition_state_name(PARTITION_UP), "UP");
	CU_ASSERT_STRING_EQUAL(sched_partition_state_name(PARTITION_INACTIVE), "INACTIVE");
	CU_ASSERT_STRING_EQUAL(sched_partition_state_name(PARTITION_DRAIN), "DRAIN");

	char buf[128];
	CU_ASSERT_STRING_EQUAL(sched_node_state_format(NODE_STATE_IDLE, buf, sizeof(buf)), "IDLE");
	CU_ASSERT_STRING_EQUAL(sched_node_state_format(NODE_STATE_MIXED | NODE_STATE_DRAIN,
	    buf, sizeof(buf)), "MIXED+DRAIN");
	CU_ASSERT_STRING_EQUAL(sched_node_state_format(NODE_STATE_IDLE | NODE_STATE_POWERED_DOWN,
	    buf, sizeof(buf)), "IDLE+POWERED_DOWN");
	/* truncation stays a string */
	CU_ASSERT_EQUAL(strlen(sched_node_state_format(NODE_STATE_IDLE | NODE_STATE_DRAIN |
	    NODE_STATE_POWERED_DOWN, buf, 8)), 7);
}

static struct sched_job_list *
make_list(void)
{
	struct sched_job_list *l = calloc(1, sizeof(*l));
	static const struct {
		uint32_t id, state;
		int batch, requeue;
		const char *user, *name;
		time_t start;
		long limit;
	} rows[] = {
		{ 101, JOB_RUNNING, 1, 1, "alice", "sim", 1764115200, 3600 },
		{ 102, JOB_RUNNING, 1, 0, "bob", "noreq", 1764115260, -1 },
		{ 103, JOB_RUNNING, 0, -1, "carol", "bash", 1764115320, 60 },
		{ 104, JOB_PENDING, 1, 1, "alice", "later", 0, 7200 },
	};

	l->n = sizeof(rows) / sizeof(rows[0]);
	l->v = calloc(l->n, sizeof(*l->v));
	l->cluster_requeue = 1;
	for (size_t i = 0; i < l->n; i++) {
		struct sched_job *j = &l->v[i];
		j->id = rows[i].id;
		j->state = rows[i].state;
		j->batch = rows[i].batch;
		j->requeue = rows[i].requeue;
		j->user = strdup(rows[i].user);
		j->name = strdup(rows[i].name);
		j->partition = strdup("q");
		j->start_time = rows[i].start;
		j->time_limit_s = rows[i].limit;
	}
	sched_jobs_triage(l);
	return l;
}

static void
test_summary(void)
{
	struct sched_job_list *l = make_list();

	CU_ASSERT_EQUAL(l->v[0].outcome, SCHED_OUTCOME_REQUEUE);
	CU_ASSERT_EQUAL(l->v[1].outcome, SCHED_OUTCOME_FAIL);
	CU_ASSERT_EQUAL(l->v[2].outcome, SCHED_OUTCOME_FAIL);
	CU_ASSERT_EQUAL(l->v[3].outcome, SCHED_OUTCOME_PENDING);
	CU_ASSERT_EQUAL(l->summary.running, 3);
	CU_ASSERT_EQUAL(l->summary.requeue, 1);
	CU_ASSERT_EQUAL(l->summary.fail, 2);
	CU_ASSERT_EQUAL(l->summary.pending, 1);
	sched_job_list_free(l);
	sched_job_list_free(NULL);
	sched_job_free(NULL);
	sched_resv_free(NULL);
}

static void
test_json(void)
{
	struct sched_job_list *l = make_list();
	struct json_object *o = sched_jobs_to_json(l);
	const char *want =
	    "{\"jobs\":["
	    "{\"id\":101,\"user\":\"alice\",\"name\":\"sim\",\"partition\":\"q\",\"state\":\"RUNNING\","
	    "\"batch\":true,\"requeue\":true,\"outcome\":\"requeue\","
	    "\"start_time\":\"2025-11-26T00:00:00Z\",\"time_limit_s\":3600},"
	    "{\"id\":102,\"user\":\"bob\",\"name\":\"noreq\",\"partition\":\"q\",\"state\":\"RUNNING\","
	    "\"batch\":true,\"requeue\":false,\"outcome\":\"fail\","
	    "\"start_time\":\"2025-11-26T00:01:00Z\",\"time_limit_s\":null},"
	    "{\"id\":103,\"user\":\"carol\",\"name\":\"bash\",\"partition\":\"q\",\"state\":\"RUNNING\","
	    "\"batch\":false,\"requeue\":true,\"outcome\":\"fail\","
	    "\"start_time\":\"2025-11-26T00:02:00Z\",\"time_limit_s\":60},"
	    "{\"id\":104,\"user\":\"alice\",\"name\":\"later\",\"partition\":\"q\",\"state\":\"PENDING\","
	    "\"batch\":true,\"requeue\":true,\"outcome\":\"pending\","
	    "\"start_time\":null,\"time_limit_s\":7200}],"
	    "\"summary\":{\"running\":3,\"requeue\":1,\"fail\":2,\"pending\":1}}";
	const char *got = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	CU_ASSERT_STRING_EQUAL(got, want);
	if (strcmp(got, want) != 0)
		printf("\ngot:  %s\nwant: %s\n", got, want);
	json_object_put(o);

	/* an empty list still has both keys */
	struct sched_job_list empty = { .n = 0 };
	o = sched_jobs_to_json(&empty);
	CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    "{\"jobs\":[],\"summary\":{\"running\":0,\"requeue\":0,\"fail\":0,\"pending\":0}}");
	json_object_put(o);
	sched_job_list_free(l);
}

static void
test_resv_json(void)
{
	struct sched_resv r = { .name = "pcm-maintenance", .nodes = "v[1-2]", .users = "root",
		.start_time = 1764115200, .end_time = 1764118800, .maint = 1, .ignore_jobs = 1 };
	struct json_object *o = sched_resv_to_json(&r);

	CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    "{\"name\":\"pcm-maintenance\",\"start_time\":\"2025-11-26T00:00:00Z\","
	    "\"end_time\":\"2025-11-26T01:00:00Z\",\"nodes\":\"v[1-2]\",\"users\":\"root\","
	    "\"maint\":true,\"ignore_jobs\":true,\"active\":false}");
	json_object_put(o);
}

/* issue 14: 23.11's backfill writes 525600 min into an unlimited job's limit */
static void
test_time_limit(void)
{
	CU_ASSERT_EQUAL(sched_time_limit_s(INFINITE), -1);
	CU_ASSERT_EQUAL(sched_time_limit_s(NO_VAL), -1);
	CU_ASSERT_EQUAL(sched_time_limit_s(525600), -1);
	CU_ASSERT_EQUAL(sched_time_limit_s(525599), 525599L * 60);
	CU_ASSERT_EQUAL(sched_time_limit_s(525601), 525601L * 60);
	CU_ASSERT_EQUAL(sched_time_limit_s(120), 7200);
	CU_ASSERT_EQUAL(sched_time_limit_s(0), 0);
}

/* the Slurm release built for, and the release comparison of the check */
static void
test_release(void)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%02d.%d", SLURM_VERSION_MAJOR(SLURM_VERSION_NUMBER),
	    SLURM_VERSION_MINOR(SLURM_VERSION_NUMBER), SLURM_VERSION_MICRO(SLURM_VERSION_NUMBER));
	CU_ASSERT_STRING_EQUAL(sched_built_version(), want);
	CU_ASSERT_TRUE(sched_same_release(sched_built_version(), want));
	CU_ASSERT_TRUE(sched_same_release("24.11.5", "24.11.6"));
	CU_ASSERT_TRUE(sched_same_release("24.11.5", "24.11"));
	CU_ASSERT_TRUE(sched_same_release("22.05.8", "22.05.8-4+deb12u3"));
	CU_ASSERT_FALSE(sched_same_release("24.11.5", "24.05.5"));
	CU_ASSERT_FALSE(sched_same_release("22.05.8", "24.11.5"));
	CU_ASSERT_FALSE(sched_same_release("23.11.10", "23.1.10"));
	CU_ASSERT_FALSE(sched_same_release("", "24.11.5"));
	CU_ASSERT_FALSE(sched_same_release(NULL, "24.11.5"));
	CU_ASSERT_FALSE(sched_same_release("x24.11", "24.11.5"));
}

static const struct cu_test tests[] = {
	{ "running jobs: requeue vs fail", test_running },
	{ "unset requeue flag: JobRequeue decides", test_cluster_requeue },
	{ "pending and being requeued", test_pending },
	{ "suspended, configuring, completing, finished", test_other_states },
	{ "state, outcome, partition and node names", test_names },
	{ "summary counts", test_summary },
	{ "jobs JSON shape", test_json },
	{ "reservation JSON", test_resv_json },
	{ "time limit: none, NO_VAL and backfill's 525600 min are unlimited", test_time_limit },
	{ "Slurm release built for and compared", test_release },
	{ NULL, NULL },
};

CU_MAIN("triage", tests)
