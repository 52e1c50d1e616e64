/* SPDX-License-Identifier: GPL-2.0-or-later */
/* engine.c - the loop over a table of steps, and the helpers of every step (see plan_int.h) */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aws/ec2.h"
#include "aws/fleet.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "aws/ssm.h"
#include "aws/ssm_token.h"
#include "cmd_storage.h"
#include "identity.h"
#include "jobwait.h"
#include "journal.h"
#include "lock.h"
#include "log.h"
#include "maintfile.h"
#include "output.h"
#include "plan_int.h"
#include "sched/sched.h"
#include "storage.h"

const char *const plan_steps[] = {
	"preflight", "prestage", "reservation", "jobgate", "fleet_stop", "final_save", "restart",
	"restore", "health", "fleet_start", "unreserve", NULL,
};

static const char *const method_names[] = { "config", "none", "reboot", "stop-start" };

enum plan_method
plan_method_parse(const char *s)
{
	for (int i = 1; i < 4; i++)
		if (s != NULL && strcmp(s, method_names[i]) == 0)
			return (enum plan_method)i;
	return PLAN_METHOD_CONFIG;
}

const char *
plan_method_name(enum plan_method m)
{
	return (unsigned)m < 4 ? method_names[m] : "?";
}

double
plan_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
plan_say(struct plan *p, const char *fmt, ...)
{
	va_list ap;

	if (p->ctx->verbose < 0)
		return;
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fputc('\n', p->out);
	fflush(p->out);
}

/* The test hook of the storage engine (PCM_TEST_CRASH_AT) at plan points. */
void
plan_crashpoint(const char *step, const char *where)
{
	char name[64];

	snprintf(name, sizeof(name), "plan-%s-%s", step, where);
	stor_crashpoint(name);
}

/* This boot's id: a reboot or a stop/start changes it (PCM_TEST_BOOT_ID: tests). */
void
plan_boot_id(char *buf, size_t len)
{
	const char *t = getenv("PCM_TEST_BOOT_ID");
	FILE *fp;

	snprintf(buf, len, "unknown");
	if (t != NULL && *t != '\0') {
		snprintf(buf, len, "%s", t);
		return;
	}
	if ((fp = fopen("/proc/sys/kernel/random/boot_id", "re")) == NULL)
		return;
	if (fgets(buf, (int)len, fp) != NULL)
		buf[strcspn(buf, "\n")] = '\0';
	fclose(fp);
}

int
plan_jset_str(struct journal *j, const char *key, const char *val)
{
	if (j == NULL)
		return 0;
	return journal_data_set(j, key, val ? json_object_new_string(val) : NULL);
}

int
plan_jset_int(struct journal *j, const char *key, int64_t v)
{
	return j ? journal_data_set(j, key, json_object_new_int64(v)) : 0;
}

int
plan_jset_double(struct journal *j, const char *key, double v)
{
	return j ? journal_data_set(j, key, json_object_new_double(v)) : 0;
}

int64_t
plan_jget_int(struct journal *j, const char *key, int64_t dflt)
{
	struct json_object *o = j ? journal_data(j, key) : NULL;

	return o ? json_object_get_int64(o) : dflt;
}

double
plan_jget_double(struct journal *j, const char *key)
{
	struct json_object *o = j ? journal_data(j, key) : NULL;

	return o ? json_object_get_double(o) : 0;
}

void
plan_jadd_int(struct journal *j, const char *key, int64_t add)
{
	plan_jset_int(j, key, plan_jget_int(j, key, 0) + add);
}

int
plan_step_is_over(struct journal *j, const char *step)
{
	enum step_state st = journal_step(j, step);

	return st == STEP_DONE || st == STEP_SKIPPED;
}

int
plan_step_begin(struct plan *p, const char *step, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	p->nstep++;
	p->step_t0 = plan_now();
	plan_say(p, "==> %s: %s", step, what);
	if (p->j != NULL && (rc = journal_step_set(p->j, step, STEP_RUNNING, NULL)) < 0) {
		log_warnx("cannot record step %s in the journal %s: %s", step,
		    journal_path(p->j), strerror(-rc));
		return -1;
	}
	plan_crashpoint(step, "begin");
	return 0;
}

int
plan_step_end(struct plan *p, const char *step, enum step_state st, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	plan_crashpoint(step, "acted");
	if (p->j != NULL && (rc = journal_step_set(p->j, step, st, detail)) < 0) {
		log_warnx("cannot record step %s in the journal %s: %s", step,
		    journal_path(p->j), strerror(-rc));
		return -1;
	}
	plan_say(p, "    %s: %s%s%s (%.1f s)", step, step_state_name(st), detail[0] ? ": " : "", detail,
	    p->step_t0 > 0 ? plan_now() - p->step_t0 : 0.0);
	plan_crashpoint(step, "end");
	return 0;
}

void
plan_maint_phase(struct plan *p, enum maint_phase ph)
{
	struct maintfile_error me;
	struct maintfile *m = NULL;

	/* the event pcm-agent watch recorded (code, times) is kept: only the phase moves */
	if (maintfile_read(p->ctx->cfg.run_dir, &m, &me) == 0) {
		const char *lm = plan_login_message(p);

		m->phase = ph;
		if (lm[0] != '\0' && (m->message == NULL || strstr(m->message, lm + 1) == NULL)) {
			char *msg;
			if (asprintf(&msg, "%s%s", m->message ? m->message : "",
			    m->message ? lm : lm + 1) >= 0) {
				maintfile_set_str(&m->message, msg);
				free(msg);
			}
		}
		if (maintfile_write(p->ctx->cfg.run_dir, m, &me) < 0)
			log_notice("%s", me.msg);
		maintfile_free(m);
		return;
	}
	if ((m = maintfile_new()) == NULL)
		return;
	m->phase = ph;
	m->not_before = time(NULL);
	if (maintfile_set_str(&m->code, "head-node-restart") < 0 ||
	    maintfile_set_str(&m->reservation, p->ctx->cfg.reservation_name) < 0 ||
	    maintfile_set_str(&m->message, "the head node is being prepared for a restart by "
	    "pcm-agent prepare-restart.") < 0)
		goto out;
	if (plan_login_message(p)[0] != '\0') {
		char *msg;
		if (asprintf(&msg, "%s%s", m->message, plan_login_message(p)) >= 0) {
			maintfile_set_str(&m->message, msg);
			free(msg);
		}
	}
	if (p->o != NULL && p->o->trigger != NULL &&
	    strncmp(p->o->trigger, "instance-event-", 15) == 0)
		maintfile_set_str(&m->event_id, p->o->trigger);
	if (maintfile_write(p->ctx->cfg.run_dir, m, &me) < 0)
		log_notice("%s", me.msg);
out:
	maintfile_free(m);
}

void
plan_free(struct plan *p)
{
	sched_job_list_free(p->jobs);
	sched_close(p->s);
	aws_free(p->a);
	journal_free(p->j);
	free(p->cluster);
	free(p->instance);
	free(p->table);
	free(p->target);
	free(p->savedir);
	json_object_put(p->login_nodes);
}

int
plan_open_sched(struct plan *p)
{
	char err[512];

	if (p->s != NULL)
		return 0;
	if (sched_open(&p->ctx->cfg, &p->s, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return -1;
	}
	return 0;
}

int
plan_open_aws(struct plan *p)
{
	struct aws_opts ao = { 0 };

	if (p->a != NULL)
		return 0;
	ao.region = p->ctx->cfg.region;
	if ((p->a = aws_new(&ao)) == NULL) {
		log_warnx("cannot set up AWS access: out of memory");
		return -1;
	}
	return 0;
}

/* cluster, instance id, fleet table, target and savedir: from the journal
 * when it has them (a rerun), else found now. */
int
plan_identify(struct plan *p)
{
	struct aws_error err = { 0 };
	const char *v;

	if (plan_open_aws(p) < 0)
		return -1;
	if ((v = p->j ? journal_data_str(p->j, "cluster") : NULL) != NULL)
		p->cluster = strdup(v);
	else
		p->cluster = identity_cluster_name(&p->ctx->cfg);
	if ((v = p->j ? journal_data_str(p->j, "instance_id") : NULL) != NULL) {
		p->instance = strdup(v);
		p->instance_from_imds = (int)plan_jget_int(p->j, "instance_from_imds", 0);
	} else if (imds_instance_id(aws_imds(p->a), &p->instance, &err) == AWS_OK) {
		p->instance_from_imds = 1;
	} else {
		if (p->method == PLAN_METHOD_REBOOT || p->method == PLAN_METHOD_STOP_START) {
			log_warnx("cannot find this instance's id: %s (the %s restart needs the "
			    "EC2 instance metadata service; use --no-restart off EC2)", err.message,
			    plan_method_name(p->method));
			return -1;
		}
		log_info("no instance metadata (%s): using the host name", err.message);
		p->instance = identity_instance_id(&p->ctx->cfg);
	}
	if (p->cluster == NULL || p->instance == NULL) {
		log_warnx("cannot identify the cluster: out of memory");
		return -1;
	}
	if ((v = p->j ? journal_data_str(p->j, "fleet_table") : NULL) != NULL)
		p->table = strdup(v);
	else
		p->table = fleet_table_name(p->ctx->cfg.fleet_table, p->cluster);
	if (p->table == NULL) {
		log_warnx("cannot find the compute fleet table: no cluster name (set cluster_name "
		    "or fleet_table in the config)");
		return -1;
	}
	return 0;
}

void
plan_jobs_split(const struct sched_job_list *l, struct json_object **requeue, struct json_object **fail)
{
	*requeue = json_object_new_array();
	*fail = json_object_new_array();
	for (size_t i = 0; l != NULL && i < l->n; i++) {
		if (l->v[i].outcome == SCHED_OUTCOME_REQUEUE)
			json_object_array_add(*requeue, json_object_new_int64(l->v[i].id));
		else if (l->v[i].outcome == SCHED_OUTCOME_FAIL)
			json_object_array_add(*fail, json_object_new_int64(l->v[i].id));
	}
}

void
plan_print_jobs(struct plan *p, const struct sched_job_list *l, int fail_only)
{
	static const char *const hdr[] = { "JOBID", "USER", "NAME", "PARTITION", "STATE", "OUTCOME" };
	struct table *t = table_new(6, hdr);
	char id[32];

	if (t == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		const struct sched_job *jb = &l->v[i];
		const char *cells[6];

		if (jb->outcome != SCHED_OUTCOME_FAIL &&
		    (fail_only || jb->outcome != SCHED_OUTCOME_REQUEUE))
			continue;
		snprintf(id, sizeof(id), "%u", jb->id);
		cells[0] = id;
		cells[1] = jb->user ? jb->user : "?";
		cells[2] = jb->name ? jb->name : "";
		cells[3] = jb->partition ? jb->partition : "";
		cells[4] = sched_job_state_name(jb->state);
		cells[5] = jb->outcome == SCHED_OUTCOME_FAIL ? "would fail" : "requeued";
		table_add(t, cells);
	}
	table_print(t, p->out);
	table_free(t);
}

int
plan_open_journal(struct plan *p, const char *trigger, const char *mode)
{
	const char *state_dir = p->ctx->cfg.state_dir;
	int rc = journal_load(state_dir, &p->j);

	if (rc == -ENOENT) {
		const struct plan_step *t = plan_table(mode);

		if ((rc = journal_create(state_dir, trigger ? trigger : "manual",
		    plan_table_names_for(t, p), &p->j)) < 0) {
			log_warnx("cannot create the journal in %s: %s", state_dir, strerror(-rc));
			return -1;
		}
		/* the standard mode writes no "mode": its journals are the ones of before */
		if (strcmp(mode, "standard") != 0 && (rc = plan_jset_str(p->j, "mode", mode)) < 0) {
			log_warnx("cannot record the mode in the journal %s: %s",
			    journal_path(p->j), strerror(-rc));
			return -1;
		}
		p->steps = t;
		return 0;
	}
	if (rc == -EBADMSG) {
		log_warnx("cannot read the journal %s/journal.json: it is corrupt (move it away "
		    "after checking the state by hand)", state_dir);
		return -1;
	}
	if (rc < 0) {
		log_warnx("cannot read the journal in %s: %s", state_dir, strerror(-rc));
		return -1;
	}
	if ((p->steps = plan_table(plan_mode(p->j))) == NULL) {
		log_warnx("cannot continue operation %s: its mode %s is unknown to this version "
		    "(run the version that started it, or `pcm-agent abort`)", journal_id(p->j),
		    plan_mode(p->j));
		return -1;
	}
	return 1;
}

int
plan_take_lock(struct pcm_ctx *ctx, struct pcm_lock *lk, const char *what)
{
	return storage_lock(ctx, lk, what);
}

/*
 * The loop: every step of the phase, in the order of the table.  A step
 * over (done, skipped) is passed, or checked again by its `again` hook; a
 * step whose skip condition holds is recorded skipped; the others are
 * recorded running, run, and recorded with the state and detail they give.
 * A step that fails has recorded why (failed, or left running when nobody
 * knows whether it acted); the loop stops there with its exit code.
 */
static int
journal_has_step(const struct journal *j, const char *name)
{
	struct json_object *steps;

	return j != NULL && json_object_object_get_ex(journal_json(j), "steps", &steps) &&
	    json_object_object_get_ex(steps, name, NULL);
}

int
plan_run(struct plan *p, enum plan_phase phase)
{
	const struct plan_step *s;
	int rc;

	for (s = p->steps; s != NULL && s->name != NULL; s++) {
		struct step_out out;
		const char *why;
		char what[512];

		if (s->phase != phase)
			continue;
		if (s->wanted != NULL && !journal_has_step(p->j, s->name) && !s->wanted(p))
			continue;	/* an optional step this operation does without */
		if (plan_step_is_over(p->j, s->name)) {
			if (s->again != NULL && (rc = s->again(p)) != PCM_EXIT_OK)
				return rc;
			continue;
		}
		if (s->skip != NULL && (why = s->skip(p)) != NULL) {
			plan_step_begin(p, s->name, "%s", s->title);
			if (plan_step_end(p, s->name, STEP_SKIPPED, "%s", why) < 0)
				return PCM_EXIT_ERROR;
			continue;
		}
		if (s->pre != NULL) {
			rc = s->pre(p);
			if (rc == PLAN_STEP_OVER)
				continue;
			if (rc != PCM_EXIT_OK)
				return rc;
		}
		what[0] = '\0';
		if (s->what != NULL)
			s->what(p, what, sizeof(what));
		if (plan_step_begin(p, s->name, "%s", what) < 0)
			return PCM_EXIT_ERROR;
		out.st = STEP_DONE;
		out.detail[0] = '\0';
		rc = s->run(p, &out);
		if (out.st != STEP_PENDING && (rc == PCM_EXIT_OK || out.st == STEP_FAILED) &&
		    plan_step_end(p, s->name, out.st, "%s", out.detail) < 0)
			return PCM_EXIT_ERROR;
		if (rc != PCM_EXIT_OK)
			return rc;
	}
	return PCM_EXIT_OK;
}

/* abort: the undo hooks of every step, in the order of the table; each
 * decides from the journal whether there is anything to undo. */
int
plan_undo(struct plan *p)
{
	const struct plan_step *s;
	int rc;

	for (s = p->steps; s != NULL && s->name != NULL; s++)
		if (s->undo != NULL && (rc = s->undo(p)) != PCM_EXIT_OK)
			return rc;
	return PCM_EXIT_OK;
}

/* A run hook's result: the state and detail the loop records; PCM_EXIT_OK. */
int
plan_out(struct step_out *out, enum step_state st, const char *fmt, ...)
{
	va_list ap;

	out->st = st;
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
	return PCM_EXIT_OK;
}
