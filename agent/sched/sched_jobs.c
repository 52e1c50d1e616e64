/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sched_jobs.c - jobs: load, triage, JSON.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "output.h"
#include "sched_int.h"

/* exported by libslurm (slurm_protocol_defs.c) but not declared in slurm.h;
 * renamed in 24.05 */
#if SLURM_VERSION_NUMBER >= SLURM_VERSION_NUM(24, 5, 0)
extern const char *slurm_job_state_reason_string(enum job_state_reason inx);
#define sched_reason_string(r)	slurm_job_state_reason_string(r)
#else
extern const char *slurm_job_reason_string(enum job_state_reason inx);
#define sched_reason_string(r)	slurm_job_reason_string(r)
#endif

/* --- triage: pure functions --- */

int
sched_job_is_running(uint32_t state)
{
	uint32_t base = state & JOB_STATE_BASE;

	if (base == JOB_RUNNING || base == JOB_SUSPENDED)
		return !(state & JOB_COMPLETING);
	return 0;
}

enum sched_outcome
sched_triage(const struct sched_job *job, int cluster_requeue)
{
	uint32_t base = job->state & JOB_STATE_BASE;
	int requeue = job->requeue >= 0 ? job->requeue != 0 : cluster_requeue != 0;

	if (base == JOB_PENDING)
		return SCHED_OUTCOME_PENDING;
	/* ending, but Slurm puts it back in the queue */
	if (job->state & (JOB_REQUEUE | JOB_REQUEUE_HOLD | JOB_SPECIAL_EXIT | JOB_REQUEUE_FED))
		return SCHED_OUTCOME_PENDING;
	if (sched_job_is_running(job->state)) {
		if (job->batch && requeue)
			return SCHED_OUTCOME_REQUEUE;
		return SCHED_OUTCOME_FAIL;
	}
	/* COMPLETING (epilog) and every finished state: nothing left to lose */
	return SCHED_OUTCOME_NONE;
}

const char *
sched_outcome_name(enum sched_outcome o)
{
	switch (o) {
	case SCHED_OUTCOME_PENDING:
		return "pending";
	case SCHED_OUTCOME_REQUEUE:
		return "requeue";
	case SCHED_OUTCOME_FAIL:
		return "fail";
	case SCHED_OUTCOME_NONE:
	default:
		return "none";
	}
}

const char *
sched_job_state_name(uint32_t state)
{
	static const char *const names[] = {
		[JOB_PENDING] = "PENDING",
		[JOB_RUNNING] = "RUNNING",
		[JOB_SUSPENDED] = "SUSPENDED",
		[JOB_COMPLETE] = "COMPLETED",
		[JOB_CANCELLED] = "CANCELLED",
		[JOB_FAILED] = "FAILED",
		[JOB_TIMEOUT] = "TIMEOUT",
		[JOB_NODE_FAIL] = "NODE_FAIL",
		[JOB_PREEMPTED] = "PREEMPTED",
		[JOB_BOOT_FAIL] = "BOOT_FAIL",
		[JOB_DEADLINE] = "DEADLINE",
		[JOB_OOM] = "OUT_OF_MEMORY",
	};
	uint32_t base = state & JOB_STATE_BASE;

	/* the flags squeue shows in place of the base state */
	if (state & JOB_COMPLETING)
		return "COMPLETING";
	if (state & JOB_CONFIGURING)
		return "CONFIGURING";
	if (state & JOB_REQUEUE)
		return "REQUEUED";
	if (base < sizeof(names) / sizeof(names[0]) && names[base] != NULL)
		return names[base];
	return "UNKNOWN";
}

void
sched_jobs_triage(struct sched_job_list *l)
{
	memset(&l->summary, 0, sizeof(l->summary));
	for (size_t i = 0; i < l->n; i++) {
		struct sched_job *j = &l->v[i];
		j->outcome = sched_triage(j, l->cluster_requeue);
		if (sched_job_is_running(j->state))
			l->summary.running++;
		switch (j->outcome) {
		case SCHED_OUTCOME_PENDING:
			l->summary.pending++;
			break;
		case SCHED_OUTCOME_REQUEUE:
			l->summary.requeue++;
			break;
		case SCHED_OUTCOME_FAIL:
			l->summary.fail++;
			break;
		case SCHED_OUTCOME_NONE:
			break;
		}
	}
}

/*
 * A job's time limit (minutes, as Slurm has it) in seconds, -1 for none.
 * The backfill scheduler (22.05 to 25.11 at least) writes 525600 minutes
 * (YEAR_MINUTES) into the limit of a job that has none in a partition with
 * MaxTime=INFINITE when it starts it: that is "unlimited" too.  A job that
 * asked for exactly 365 days reads as unlimited.
 */
long
sched_time_limit_s(uint32_t minutes)
{
	if (minutes == INFINITE || minutes == NO_VAL || minutes == SCHED_YEAR_MINUTES)
		return -1;
	return (long)minutes * 60;
}

/* --- JSON --- */

static struct json_object *
json_str_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

struct json_object *
sched_job_to_json(const struct sched_job *j, int cluster_requeue)
{
	struct json_object *o = json_object_new_object();
	char ts[32];
	int requeue = j->requeue >= 0 ? j->requeue != 0 : cluster_requeue != 0;

	json_object_object_add(o, "id", json_object_new_int64(j->id));
	json_object_object_add(o, "user", json_str_or_null(j->user));
	json_object_object_add(o, "name", json_str_or_null(j->name));
	json_object_object_add(o, "partition", json_str_or_null(j->partition));
	json_object_object_add(o, "state", json_object_new_string(sched_job_state_name(j->state)));
	json_object_object_add(o, "batch", json_object_new_boolean(j->batch));
	json_object_object_add(o, "requeue", json_object_new_boolean(requeue));
	json_object_object_add(o, "outcome", json_object_new_string(sched_outcome_name(j->outcome)));
	json_object_object_add(o, "start_time", j->start_time > 0 ?
	    json_object_new_string(output_iso8601(j->start_time, ts, sizeof(ts))) : NULL);
	json_object_object_add(o, "time_limit_s", j->time_limit_s >= 0 ?
	    json_object_new_int64(j->time_limit_s) : NULL);
	return o;
}

struct json_object *
sched_summary_to_json(const struct sched_job_summary *sum)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "running", json_object_new_int64(sum->running));
	json_object_object_add(o, "requeue", json_object_new_int64(sum->requeue));
	json_object_object_add(o, "fail", json_object_new_int64(sum->fail));
	json_object_object_add(o, "pending", json_object_new_int64(sum->pending));
	return o;
}

struct json_object *
sched_jobs_to_json(const struct sched_job_list *l)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array_ext((int)l->n);

	for (size_t i = 0; i < l->n; i++)
		json_object_array_add(a, sched_job_to_json(&l->v[i], l->cluster_requeue));
	json_object_object_add(o, "jobs", a);
	json_object_object_add(o, "summary", sched_summary_to_json(&l->summary));
	return o;
}

/* --- loading --- */

/* getpwuid is slow for many jobs of few users: remember the last ones */
struct uidcache {
	uint32_t uid[32];
	char	*name[32];
	size_t	 n;
};

static char *
user_name(struct uidcache *uc, uint32_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024], num[16];
	const char *name;
	char *copy;

	for (size_t i = 0; i < uc->n; i++)
		if (uc->uid[i] == uid)
			return strdup(uc->name[i]);
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL) {
		name = res->pw_name;
	} else {
		snprintf(num, sizeof(num), "%u", uid);
		name = num;
	}
	if ((copy = strdup(name)) == NULL)
		return NULL;
	if (uc->n < sizeof(uc->uid) / sizeof(uc->uid[0])) {
		uc->uid[uc->n] = uid;
		if ((uc->name[uc->n] = strdup(name)) != NULL)
			uc->n++;
	}
	return copy;
}

static void
uidcache_free(struct uidcache *uc)
{
	for (size_t i = 0; i < uc->n; i++)
		free(uc->name[i]);
	uc->n = 0;
}

static void
job_clear(struct sched_job *j)
{
	free(j->user);
	free(j->name);
	free(j->partition);
	free(j->nodes);
	free(j->reason);
	memset(j, 0, sizeof(*j));
}

static int
dup_opt(char **dst, const char *src)
{
	if (src == NULL) {
		*dst = NULL;
		return 0;
	}
	return (*dst = strdup(src)) != NULL ? 0 : -ENOMEM;
}

/* Seconds the job has run (squeue's rule), at now. */
static long
job_elapsed(const slurm_job_info_t *ji, time_t now)
{
	uint32_t base = ji->job_state & JOB_STATE_BASE;
	time_t end;

	if (base == JOB_PENDING || ji->start_time == 0)
		return 0;
	if (base == JOB_SUSPENDED)
		return (long)ji->pre_sus_time;
	end = (base == JOB_RUNNING || ji->end_time == 0) ? now : ji->end_time;
	if (ji->suspend_time != 0)
		return (long)(end - ji->suspend_time + ji->pre_sus_time);
	return (long)(end - ji->start_time);
}

static int
job_fill(struct sched_job *j, const slurm_job_info_t *ji, struct uidcache *uc, time_t now)
{
	uint32_t base = ji->job_state & JOB_STATE_BASE;

	memset(j, 0, sizeof(*j));
	j->id = ji->job_id;
	/* one element of an array; a pending array's single record is not */
	if (ji->array_job_id != 0 && ji->array_task_id != NO_VAL) {
		j->array_job_id = ji->array_job_id;
		j->array_task_id = ji->array_task_id;
	}
	j->uid = ji->user_id;
	j->state = ji->job_state;
	j->batch = ji->batch_flag != 0;
	j->requeue = ji->requeue == NO_VAL16 ? -1 : ji->requeue != 0;
	j->submit_time = ji->submit_time;
	/* for a pending job start_time is only Slurm's guess */
	j->start_time = base == JOB_PENDING ? 0 : ji->start_time;
	j->time_limit_s = sched_time_limit_s(ji->time_limit);
	j->elapsed_s = job_elapsed(ji, now);
	if ((j->user = user_name(uc, ji->user_id)) == NULL ||
	    dup_opt(&j->name, ji->name) < 0 ||
	    dup_opt(&j->partition, ji->partition) < 0 ||
	    dup_opt(&j->nodes, ji->nodes) < 0 ||
	    dup_opt(&j->reason, ji->state_reason != WAIT_NO_REASON ?
		sched_reason_string(ji->state_reason) : NULL) < 0) {
		job_clear(j);
		return -ENOMEM;
	}
	return 0;
}

void
sched_job_list_free(struct sched_job_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		job_clear(&l->v[i]);
	free(l->v);
	free(l);
}

void
sched_job_free(struct sched_job *j)
{
	if (j == NULL)
		return;
	job_clear(j);
	free(j);
}

static void
free_job_msg(void *p)
{
	slurm_free_job_info_msg(p);
}

static int
rpc_load_jobs(struct rpc *r)
{
	job_info_msg_t *msg = NULL;

	r->free_result = free_job_msg;
	if (slurm_load_jobs((time_t)0, &msg, SHOW_ALL) != SLURM_SUCCESS)
		return -1;
	r->result = msg;
	return 0;
}

static int
rpc_load_job(struct rpc *r)
{
	job_info_msg_t *msg = NULL;

	r->free_result = free_job_msg;
	if (slurm_load_job(&msg, r->id, SHOW_ALL) != SLURM_SUCCESS)
		return -1;
	r->result = msg;
	return 0;
}

int
sched_jobs_load(struct sched *s, int all, struct sched_job_list **out)
{
	struct sched_job_list *l = NULL;
	struct uidcache uc = { .n = 0 };
	job_info_msg_t *msg = NULL;
	int rc;

	*out = NULL;
	if ((rc = sched_load(s, rpc_load_jobs, "load jobs", (void **)&msg)) < 0)
		return rc;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (msg->record_count > 0 &&
		(l->v = calloc(msg->record_count, sizeof(*l->v))) == NULL)) {
		sched_seterr(s, "cannot load jobs: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	l->cluster_requeue = s->job_requeue;
	l->now = time(NULL);
	for (uint32_t i = 0; i < msg->record_count; i++) {
		const slurm_job_info_t *ji = &msg->job_array[i];
		if (!all && sched_triage(&(struct sched_job){ .state = ji->job_state,
			.batch = ji->batch_flag != 0, .requeue = 0 }, 0) == SCHED_OUTCOME_NONE &&
		    !(ji->job_state & JOB_COMPLETING))
			continue;
		if (job_fill(&l->v[l->n], ji, &uc, l->now) < 0) {
			sched_seterr(s, "cannot load jobs: out of memory");
			rc = -ENOMEM;
			goto out;
		}
		l->n++;
	}
	sched_jobs_triage(l);
	*out = l;
	l = NULL;
	rc = 0;
out:
	uidcache_free(&uc);
	slurm_free_job_info_msg(msg);
	sched_job_list_free(l);
	return rc;
}

int
sched_job_get(struct sched *s, uint32_t id, struct sched_job **out)
{
	struct uidcache uc = { .n = 0 };
	struct sched_job *j = NULL;
	job_info_msg_t *msg = NULL;
	struct rpc *r;
	char what[48];
	int rc, serr;

	*out = NULL;
	if ((r = rpc_new(rpc_load_job)) == NULL) {
		sched_seterr(s, "cannot load job %u: out of memory", id);
		return -ENOMEM;
	}
	r->id = id;
	snprintf(what, sizeof(what), "load job %u", id);
	if ((rc = sched_rpc(s, r, what, &serr)) < 0) {
		if (rc == -EIO && serr == ESLURM_INVALID_JOB_ID) {
			sched_seterr(s, "no job %u in Slurm (finished, or never existed)", id);
			return -ENOENT;
		}
		return rc;
	}
	msg = r->result;
	rpc_free(r);
	if (msg->record_count == 0) {
		sched_seterr(s, "no job %u in Slurm (finished, or never existed)", id);
		rc = -ENOENT;
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    job_fill(j, &msg->job_array[0], &uc, time(NULL)) < 0) {
		sched_seterr(s, "cannot load job %u: out of memory", id);
		rc = -ENOMEM;
		goto out;
	}
	j->outcome = sched_triage(j, s->job_requeue);
	*out = j;
	j = NULL;
	rc = 0;
out:
	uidcache_free(&uc);
	slurm_free_job_info_msg(msg);
	free(j);
	return rc;
}
