/* SPDX-License-Identifier: GPL-2.0-or-later */
/* plan.c - prepare-restart, resume, abort over the journal; see plan.h */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <xxhash.h>

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
#include "plan.h"
#include "sched/sched.h"
#include "storage.h"

const char *const plan_steps[] = {
	"preflight", "prestage", "reservation", "jobgate", "fleet_stop", "final_save", "restart",
	"restore", "health", "fleet_start", "unreserve", NULL,
};
#define NPREPARE	7

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

/* The run's state: what every step needs, filled by preflight or the journal. */
struct plan {
	struct pcm_ctx		*ctx;
	const struct plan_opts	*o;
	enum plan_method	 method;
	struct journal		*j;		/* NULL in a dry run */
	struct sched		*s;
	struct aws		*a;
	char			*cluster;
	char			*instance;	/* EC2 instance id (IMDS), or the host name */
	int			 instance_from_imds;
	char			*table;
	char			*target;
	char			*savedir;
	const char		*eph;		/* ephemeral_dir */
	int			 eph_empty;
	uint64_t		 eph_used;
	struct fleet_item	 fleet;		/* as read by preflight */
	struct sched_job_list	*jobs;
	FILE			*out;		/* step lines: stdout, stderr with --json */
	int			 nstep;
	double			 step_t0;	/* when the current step began */
};

/* --- small helpers --- */

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
say(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
say(struct plan *p, const char *fmt, ...)
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
static void
crashpoint(const char *step, const char *where)
{
	char name[64];

	snprintf(name, sizeof(name), "plan-%s-%s", step, where);
	stor_crashpoint(name);
}

/* This boot's id: a reboot or a stop/start changes it (PCM_TEST_BOOT_ID: tests). */
static void
boot_id(char *buf, size_t len)
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

static int
jset_str(struct journal *j, const char *key, const char *val)
{
	if (j == NULL)
		return 0;
	return journal_data_set(j, key, val ? json_object_new_string(val) : NULL);
}

static int
jset_int(struct journal *j, const char *key, int64_t v)
{
	return j ? journal_data_set(j, key, json_object_new_int64(v)) : 0;
}

static int
jset_double(struct journal *j, const char *key, double v)
{
	return j ? journal_data_set(j, key, json_object_new_double(v)) : 0;
}

static int64_t
jget_int(struct journal *j, const char *key, int64_t dflt)
{
	struct json_object *o = j ? journal_data(j, key) : NULL;

	return o ? json_object_get_int64(o) : dflt;
}

static double
jget_double(struct journal *j, const char *key)
{
	struct json_object *o = j ? journal_data(j, key) : NULL;

	return o ? json_object_get_double(o) : 0;
}

static void
jadd_int(struct journal *j, const char *key, int64_t add)
{
	jset_int(j, key, jget_int(j, key, 0) + add);
}

static int
step_is_over(struct journal *j, const char *step)
{
	enum step_state st = journal_step(j, step);

	return st == STEP_DONE || st == STEP_SKIPPED;
}

static int
step_begin(struct plan *p, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int
step_begin(struct plan *p, const char *step, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	p->nstep++;
	p->step_t0 = now_real();
	say(p, "==> %s: %s", step, what);
	if (p->j != NULL && (rc = journal_step_set(p->j, step, STEP_RUNNING, NULL)) < 0) {
		log_warnx("cannot record step %s in the journal %s: %s", step,
		    journal_path(p->j), strerror(-rc));
		return -1;
	}
	crashpoint(step, "begin");
	return 0;
}

static int
step_end(struct plan *p, const char *step, enum step_state st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int
step_end(struct plan *p, const char *step, enum step_state st, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	crashpoint(step, "acted");
	if (p->j != NULL && (rc = journal_step_set(p->j, step, st, detail)) < 0) {
		log_warnx("cannot record step %s in the journal %s: %s", step,
		    journal_path(p->j), strerror(-rc));
		return -1;
	}
	say(p, "    %s: %s%s%s (%.1f s)", step, step_state_name(st), detail[0] ? ": " : "", detail,
	    p->step_t0 > 0 ? now_real() - p->step_t0 : 0.0);
	crashpoint(step, "end");
	return 0;
}

static void
maint_phase(struct plan *p, enum maint_phase ph)
{
	struct maintfile_error me;
	struct maintfile *m = NULL;

	/* the event pcm-agent watch recorded (code, times) is kept: only the phase moves */
	if (maintfile_read(p->ctx->cfg.run_dir, &m, &me) == 0) {
		m->phase = ph;
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
	    "pcm-agent prepare-restart") < 0)
		goto out;
	if (p->o != NULL && p->o->trigger != NULL &&
	    strncmp(p->o->trigger, "instance-event-", 15) == 0)
		maintfile_set_str(&m->event_id, p->o->trigger);
	if (maintfile_write(p->ctx->cfg.run_dir, m, &me) < 0)
		log_notice("%s", me.msg);
out:
	maintfile_free(m);
}

static void
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
}

static int
dir_is_empty(const char *path)
{
	struct dirent *de;
	DIR *d;
	int empty = 1;

	if ((d = opendir(path)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "lost+found") == 0)
			continue;
		empty = 0;
		break;
	}
	closedir(d);
	return empty;
}

static int
open_sched(struct plan *p)
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

static int
open_aws(struct plan *p)
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
static int
identify(struct plan *p)
{
	struct aws_error err = { 0 };
	const char *v;

	if (open_aws(p) < 0)
		return -1;
	if ((v = p->j ? journal_data_str(p->j, "cluster") : NULL) != NULL)
		p->cluster = strdup(v);
	else
		p->cluster = identity_cluster_name(&p->ctx->cfg);
	if ((v = p->j ? journal_data_str(p->j, "instance_id") : NULL) != NULL) {
		p->instance = strdup(v);
		p->instance_from_imds = (int)jget_int(p->j, "instance_from_imds", 0);
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

static void
jobs_split(const struct sched_job_list *l, struct json_object **requeue, struct json_object **fail)
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

static void
print_jobs(struct plan *p, const struct sched_job_list *l, int fail_only)
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

/* --- preflight --- */

static int
preflight(struct plan *p)
{
	struct pcm_config *cfg = &p->ctx->cfg;
	struct aws_error err = { 0 };
	struct statvfs sv;
	struct stat st;
	int rc;

	if (identify(p) < 0)
		return PCM_EXIT_ERROR;
	/* Slurm */
	if (open_sched(p) < 0)
		return PCM_EXIT_ERROR;
	if (sched_ping(p->s) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	sched_job_list_free(p->jobs);
	p->jobs = NULL;
	if (sched_jobs_load(p->s, 0, &p->jobs) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	/* the fleet item, and that we may write it */
	if ((rc = fleet_get(p->a, p->table, &p->fleet, &err)) != AWS_OK) {
		log_warnx("cannot read the compute fleet status: %s%s", err.message, aws_hint(rc));
		return aws_rc_exit(rc);
	}
	if (p->fleet.status == FLEET_PROTECTED) {
		log_warnx("cannot stop the compute fleet: it is PROTECTED (clustermgtd found "
		    "repeated launch failures; fix them and set it RUNNING with `pcluster "
		    "update-compute-fleet --status START_REQUESTED`)");
		return PCM_EXIT_ERROR;
	}
	if (p->fleet.status == FLEET_START_REQUESTED || p->fleet.status == FLEET_STARTING) {
		log_warnx("cannot stop the compute fleet: a start is in progress (%s); wait "
		    "until it is RUNNING and run prepare-restart again", p->fleet.status_str);
		return PCM_EXIT_ERROR;
	}
	if ((rc = fleet_check_write(p->a, p->table, p->fleet.legacy, &err)) != AWS_OK) {
		log_warnx("cannot write the compute fleet status in %s: %s%s", p->table,
		    err.message, aws_hint(rc));
		return aws_rc_exit(rc);
	}
	/* the restart method's permission, without side effects; once per operation */
	if (p->j != NULL && step_is_over(p->j, "preflight") &&
	    plan_method_parse(journal_data_str(p->j, "method")) == p->method) {
		log_debug("permissions of the %s restart checked by an earlier run",
		    plan_method_name(p->method));
	} else if (p->method == PLAN_METHOD_REBOOT) {
		if ((rc = ec2_reboot_instance(p->a, p->instance, 1, &err)) != AWS_OK) {
			log_warnx("cannot reboot instance %s: %s%s", p->instance, err.message,
			    aws_hint(rc));
			return aws_rc_exit(rc);
		}
	} else if (p->method == PLAN_METHOD_STOP_START) {
		const char *denied = NULL;

		if ((rc = ssm_check_permissions(p->a, &denied, &err)) != AWS_OK) {
			log_warnx("cannot restart instance %s through SSM: %s%s%s%s", p->instance,
			    denied ? denied : "", denied ? " denied: " : "", err.message,
			    aws_hint(rc));
			return aws_rc_exit(rc);
		}
	}
	/* storage */
	p->eph = cfg->ephemeral_dir;
	if (p->o->no_save)
		return PCM_EXIT_OK;
	if (stat(p->eph, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_warnx("cannot save %s: it is not a directory (set ephemeral_dir, or use "
		    "--no-save when there is no ephemeral volume)", p->eph);
		return PCM_EXIT_ERROR;
	}
	if ((rc = dir_is_empty(p->eph)) < 0) {
		log_warnx("cannot read %s: %s", p->eph, strerror(-rc));
		return PCM_EXIT_ERROR;
	}
	p->eph_empty = rc;
	if (statvfs(p->eph, &sv) == 0)
		p->eph_used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	if (p->target == NULL) {
		const char *jt = p->j ? journal_data_str(p->j, "target") : NULL;

		if (jt != NULL)
			p->target = strdup(jt);
		else if (storage_pick_target(p->ctx, p->o->target, p->eph_used, &p->target) != 0)
			return PCM_EXIT_ERROR;
	}
	if (stat(p->target, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_warnx("cannot save to %s: it is not a directory (give --target DIR or set "
		    "target in the config)", p->target);
		return PCM_EXIT_ERROR;
	}
	if (p->savedir == NULL && p->j != NULL && journal_data_str(p->j, "savedir") != NULL)
		p->savedir = strdup(journal_data_str(p->j, "savedir"));	/* the first run's */
	if (p->savedir == NULL && (p->savedir = storage_savedir(p->ctx, p->target)) == NULL)
		return PCM_EXIT_ERROR;
	if (statvfs(p->target, &sv) == 0) {
		struct stor_save_info info;
		uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;

		if ((stor_save_info(p->savedir, &info) < 0 || !info.complete) &&
		    avail < p->eph_used) {
			char b1[32], b2[32];

			log_warnx("cannot save %s to %s: %s free, %s needed (choose another target "
			    "with --target, or free space)", p->eph, p->target,
			    output_bytes(avail, b1, sizeof(b1)), output_bytes(p->eph_used, b2, sizeof(b2)));
			return PCM_EXIT_ERROR;
		}
	}
	return PCM_EXIT_OK;
}

static void
print_plan(struct plan *p)
{
	struct pcm_config *cfg = &p->ctx->cfg;
	const struct sched_job_summary *sm = &p->jobs->summary;
	struct stor_result ex = { 0 };
	struct stor_opts so;
	char b[32], d[32];
	int have_ex = 0;

	/* what the saves would leave out (exclude patterns, markers) */
	if (!p->o->no_save && !p->eph_empty) {
		storage_opts(p->ctx, &so, "scanning");
		if (stor_exclude_scan(p->eph, &so, &ex) == 0)
			have_ex = 1;
		else
			log_warnx("cannot tell what the save would exclude: %s", ex.errmsg);
	}
	if (p->ctx->json) {
		struct json_object *o = json_object_new_object(), *rq, *fl;

		jobs_split(p->jobs, &rq, &fl);
		json_object_object_add(o, "dry_run", json_object_new_boolean(1));
		json_object_object_add(o, "cluster", json_object_new_string(p->cluster));
		json_object_object_add(o, "instance_id", json_object_new_string(p->instance));
		json_object_object_add(o, "fleet_table", json_object_new_string(p->table));
		json_object_object_add(o, "fleet", json_object_new_string(p->fleet.status_str));
		json_object_object_add(o, "method", json_object_new_string(plan_method_name(p->method)));
		json_object_object_add(o, "save", p->o->no_save ? NULL : json_object_new_string(p->savedir));
		if (have_ex) {
			json_object_object_add(o, "excluded_entries",
			    json_object_new_int64((int64_t)ex.excluded));
			json_object_object_add(o, "excluded_bytes",
			    json_object_new_int64((int64_t)ex.bytes_excluded));
		}
		json_object_object_add(o, "reservation", json_object_new_string(cfg->reservation_name));
		json_object_object_add(o, "jobs_requeued", rq);
		json_object_object_add(o, "jobs_failing", fl);
		json_object_object_add(o, "blocked", json_object_new_boolean(sm->fail > 0 &&
		    p->o->jobs == PLAN_JOBS_GATE));
		json_object_object_add(o, "jobs", sched_jobs_to_json(p->jobs));
		output_json(o);
		json_object_put(o);
		return;
	}
	printf("plan for cluster %s, head node %s (dry run: nothing changed)\n", p->cluster,
	    p->instance);
	printf("  1 preflight    ok: Slurm %s answers, fleet %s (%s), %s permitted\n",
	    sched_controller(p->s), p->fleet.status_str, p->table,
	    p->method == PLAN_METHOD_NONE ? "fleet write" : plan_method_name(p->method));
	if (p->o->no_save)
		printf("  2 prestage     skipped (--no-save)\n");
	else if (p->eph_empty)
		printf("  2 prestage     skipped: %s is empty\n", p->eph);
	else
		printf("  2 prestage     save %s (%s used) to %s while jobs run\n", p->eph,
		    output_bytes(p->eph_used, b, sizeof(b)), p->savedir);
	if (have_ex)
		printf("                 excluded: %llu entries (%s)%s\n",
		    (unsigned long long)ex.excluded, output_bytes(ex.bytes_excluded, b, sizeof(b)),
		    ex.excluded ? ", not saved: lost at a stop/start" : "");
	printf("  3 reservation  maintenance reservation %s (MAINT, IGNORE_JOBS, all nodes, "
	    "%s): no new job starts\n", cfg->reservation_name,
	    format_duration(cfg->maintenance_duration, d, sizeof(d)));
	printf("  4 jobgate      %u running: %u requeued, %u would fail%s\n", sm->running,
	    sm->requeue, sm->fail, sm->fail == 0 ? "" :
	    p->o->jobs == PLAN_JOBS_WAIT ? " (waited for: --wait-jobs)" :
	    p->o->jobs == PLAN_JOBS_FORCE ? " (lost: --force)" :
	    " -> stops here with exit 3 (use --wait-jobs or --force)");
	printf("  5 fleet_stop   %s\n", p->fleet.status == FLEET_RUNNING ?
	    "STOP_REQUESTED, wait for STOPPED" : "already stopped or stopping: nothing written");
	printf("  6 final_save   %s\n", p->o->no_save ? "skipped (--no-save)" :
	    "incremental save, verified against its manifest");
	printf("  7 restart      %s\n", p->method == PLAN_METHOD_REBOOT ?
	    "EC2 RebootInstances of this instance" : p->method == PLAN_METHOD_STOP_START ?
	    "SSM AWS-RestartEC2Instance (stop, then start)" : "none: the command to run is printed");
	if (sm->requeue + sm->fail > 0) {
		printf("\n");
		print_jobs(p, p->jobs, 0);
	}
}

/* --- the prepare steps --- */

static void
save_progress_json(struct plan *p, const char *key, const struct stor_result *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "entries", json_object_new_int64((int64_t)r->entries));
	json_object_object_add(o, "files", json_object_new_int64((int64_t)r->files));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)r->bytes));
	json_object_object_add(o, "files_copied", json_object_new_int64((int64_t)r->files_copied));
	json_object_object_add(o, "bytes_copied", json_object_new_int64((int64_t)r->bytes_copied));
	json_object_object_add(o, "changed", json_object_new_int64((int64_t)r->changed));
	json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
	journal_data_set(p->j, key, o);
}

static int
do_save(struct plan *p, int prestage, struct stor_result *res)
{
	struct stor_opts so;
	int rc;

	storage_opts(p->ctx, &so, prestage ? "pre-staging" : "saving");
	so.prestage = prestage;
	so.cluster = p->cluster;
	so.instance = p->instance;
	memset(res, 0, sizeof(*res));
	rc = stor_save(p->eph, p->savedir, &so, res);
	storage_progress_done();
	if (rc < 0) {
		log_warnx("cannot save %s to %s: %s", p->eph, p->savedir, res->errmsg);
		return -1;
	}
	if (res->excluded > 0) {
		char eb[32];
		log_notice("excluded from the save of %s: %llu entries (%s): lost at a stop/start",
		    p->eph, (unsigned long long)res->excluded,
		    output_bytes(res->bytes_excluded, eb, sizeof(eb)));
	}
	jadd_int(p->j, "bytes_saved", (int64_t)res->bytes_copied);
	save_progress_json(p, prestage ? "prestage" : "final_save", res);
	journal_copy_to(p->j, p->savedir);
	return 0;
}

static int
step_prestage(struct plan *p)
{
	struct stor_result res, vres;
	struct stor_opts so;
	char b[32];

	if (step_is_over(p->j, "prestage"))
		return 0;
	if (p->o->no_save || p->eph_empty) {
		step_begin(p, "prestage", "pre-stage save");
		return step_end(p, "prestage", STEP_SKIPPED, "%s", p->o->no_save ? "--no-save" :
		    "the ephemeral volume is empty");
	}
	if (step_begin(p, "prestage", "saving %s to %s while jobs run", p->eph, p->savedir) < 0)
		return -1;
	if (do_save(p, 1, &res) < 0) {
		journal_step_set(p->j, "prestage", STEP_FAILED, res.errmsg);
		return -1;
	}
	/* verify it all now, while the fleet still runs: the final save's
	 * verify then re-reads only what it wrote (SAVEDIR/VERIFIED) */
	storage_opts(p->ctx, &so, "verifying the pre-stage save");
	memset(&vres, 0, sizeof(vres));
	if (stor_verify(p->savedir, &so, &vres) < 0) {
		log_warnx("cannot verify the pre-stage save %s: %s", p->savedir, vres.errmsg);
		storage_progress_done();
		journal_step_set(p->j, "prestage", STEP_FAILED, "verify failed");
		return -1;
	}
	storage_progress_done();
	return step_end(p, "prestage", STEP_DONE, "%llu files, %s copied in %.1f s, verified "
	    "in %.1f s", (unsigned long long)res.files, output_bytes(res.bytes_copied, b, sizeof(b)),
	    res.seconds, vres.seconds);
}

/*
 * The reservation must be in force now, not merely exist: one made ahead of
 * an event (`maintenance start --at`, the watch daemon) starts later and
 * lets jobs start meanwhile, jobs that the fleet stop then kills.  So the
 * step creates it or corrects it (start now, end after the restart, MAINT
 * and IGNORE_JOBS, all nodes, root only), and a later run checks it again:
 * someone may have deleted or changed it while the job gate waited.
 */
static int
step_reservation(struct plan *p)
{
	const char *name = p->ctx->cfg.reservation_name;
	unsigned changed = 0;
	char what[160];

	if (step_is_over(p->j, "reservation")) {
		if (sched_maint_ensure(p->s, name, p->ctx->cfg.maintenance_duration,
		    &changed) < 0) {
			log_warnx("%s", sched_strerror(p->s));
			return -1;
		}
		if (changed & ~SCHED_MAINT_EXTENDED)
			log_warnx("maintenance reservation %s was not in force any more: %s", name,
			    sched_maint_changes(changed, what, sizeof(what)));
		else if (changed != 0)
			say(p, "    reservation: %s %s", name,
			    sched_maint_changes(changed, what, sizeof(what)));
		return 0;
	}
	if (step_begin(p, "reservation", "maintenance reservation %s on all nodes", name) < 0)
		return -1;
	jset_str(p->j, "reservation", name);
	if (sched_maint_ensure(p->s, name, p->ctx->cfg.maintenance_duration, &changed) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		journal_step_set(p->j, "reservation", STEP_FAILED, sched_strerror(p->s));
		return -1;
	}
	maint_phase(p, MAINT_PHASE_PREPARING);
	return step_end(p, "reservation", STEP_DONE, "%s %s: no new job starts", name,
	    sched_maint_changes(changed, what, sizeof(what)));
}

struct wait_arg {
	struct plan	*p;
	unsigned	 fail;
};

static int
check_jobs(void *arg, uint32_t jobid)
{
	struct wait_arg *w = arg;
	struct plan *p = w->p;

	(void)jobid;
	sched_job_list_free(p->jobs);
	p->jobs = NULL;
	if (sched_jobs_load(p->s, 0, &p->jobs) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		return -EIO;
	}
	if (p->jobs->summary.fail != w->fail) {
		w->fail = p->jobs->summary.fail;
		say(p, "    jobgate: %u job%s still to end", w->fail, w->fail == 1 ? "" : "s");
	}
	return p->jobs->summary.fail == 0;
}

static int
step_jobgate(struct plan *p)
{
	struct json_object *rq, *fl;
	unsigned nfail, nreq, waited = 0;

	if (step_is_over(p->j, "jobgate"))
		return PCM_EXIT_OK;
	if (step_begin(p, "jobgate", "running jobs: which are requeued, which would fail") < 0)
		return PCM_EXIT_ERROR;
	sched_job_list_free(p->jobs);
	p->jobs = NULL;
	if (sched_jobs_load(p->s, 0, &p->jobs) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		journal_step_set(p->j, "jobgate", STEP_FAILED, sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	nfail = p->jobs->summary.fail;
	if (nfail > 0 && p->o->jobs == PLAN_JOBS_GATE) {
		jobs_split(p->jobs, &rq, &fl);
		json_object_put(rq);
		journal_data_set(p->j, "jobs_blocking", fl);
		if (!p->ctx->json) {
			fprintf(p->out, "%u running job%s would fail if the fleet stopped now:\n",
			    nfail, nfail == 1 ? "" : "s");
			print_jobs(p, p->jobs, 1);
		}
		log_warnx("cannot go on: %u running job%s would fail (--no-requeue or "
		    "interactive); run prepare-restart again with --wait-jobs to wait for them or "
		    "--force to accept the loss, or `pcm-agent abort` (the maintenance "
		    "reservation %s stays until then)", nfail, nfail == 1 ? "" : "s",
		    p->ctx->cfg.reservation_name);
		step_end(p, "jobgate", STEP_FAILED, "%u jobs would fail", nfail);
		return PCM_EXIT_BLOCKED;
	}
	if (nfail > 0 && p->o->jobs == PLAN_JOBS_WAIT) {
		struct jobwait_stats stats = { 0 };
		struct wait_arg w = { p, nfail };
		struct jobwait *jw = NULL;
		long tmo = p->o->wait_timeout > 0 ? p->o->wait_timeout : p->ctx->cfg.wait_jobs_timeout;
		char d[32];
		int rc;

		say(p, "    jobgate: waiting up to %s for %u job%s to end",
		    format_duration(tmo, d, sizeof(d)), nfail, nfail == 1 ? "" : "s");
		char su[64];
		gid_t sg;
		if (jobwait_slurm_user(p->ctx->cfg.slurm_conf, su, sizeof(su), &sg) < 0)
			log_notice("SlurmUser %s is not a user here: the epilog cannot wake "
			    "us; polling Slurm", su);
		if ((rc = jobwait_open_for(p->ctx->cfg.run_dir, sg, &jw)) < 0)
			log_notice("cannot listen for job ends in %s/%s: %s; polling Slurm",
			    p->ctx->cfg.run_dir, JOBWAIT_SUBDIR, strerror(-rc));
		if (jw != NULL) {
			rc = jobwait_until(jw, check_jobs, &w, (int)tmo, 10, &stats);
		} else {
			long end = time(NULL) + tmo;

			while ((rc = check_jobs(&w, 0)) == 0 && time(NULL) < end)
				sleep(2);
			rc = rc == 1 ? 0 : rc == 0 ? -ETIMEDOUT : rc;
		}
		jobwait_close(jw);
		if (rc == -ETIMEDOUT) {
			log_warnx("cannot go on: %u job%s still running after %s (the maintenance "
			    "reservation %s stays; run prepare-restart again, or `pcm-agent abort`)",
			    w.fail, w.fail == 1 ? "" : "s", d, p->ctx->cfg.reservation_name);
			step_end(p, "jobgate", STEP_FAILED, "timed out waiting for %u jobs", w.fail);
			return PCM_EXIT_TIMEOUT;
		}
		if (rc < 0) {
			journal_step_set(p->j, "jobgate", STEP_FAILED, "wait failed");
			return PCM_EXIT_ERROR;
		}
		waited = nfail;
		jset_int(p->j, "jobs_waited", waited);
	}
	jobs_split(p->jobs, &rq, &fl);
	nreq = (unsigned)json_object_array_length(rq);
	nfail = (unsigned)json_object_array_length(fl);
	for (size_t i = 0; i < p->jobs->n; i++) {
		const struct sched_job *jb = &p->jobs->v[i];

		if (jb->outcome == SCHED_OUTCOME_FAIL)
			log_warnx("job %u (%s, user %s) will fail: --force", jb->id,
			    jb->name ? jb->name : "", jb->user ? jb->user : "?");
		else if (jb->outcome == SCHED_OUTCOME_REQUEUE)
			log_info("job %u (%s, user %s) will be requeued", jb->id,
			    jb->name ? jb->name : "", jb->user ? jb->user : "?");
	}
	journal_data_set(p->j, "jobs_requeue", rq);
	journal_data_set(p->j, "jobs_failed", fl);
	return step_end(p, "jobgate", STEP_DONE, "%u requeued, %u waited for, %u failed (--force)",
	    nreq, waited, nfail) < 0 ? PCM_EXIT_ERROR : PCM_EXIT_OK;
}

static void
fleet_progress(const struct fleet_item *now, long elapsed_s, void *arg)
{
	struct plan *p = arg;
	static char last[32];

	if (strcmp(last, now->status_str) != 0) {
		snprintf(last, sizeof(last), "%s", now->status_str);
		say(p, "    fleet: %s after %ld s", now->status_str, elapsed_s);
	}
}

static int
step_fleet_stop(struct plan *p)
{
	struct aws_error err = { 0 };
	struct fleet_item before = { 0 }, last = { 0 };
	enum fleet_outcome outcome = FLEET_ALREADY;
	int rc;

	if (step_is_over(p->j, "fleet_stop"))
		return PCM_EXIT_OK;
	if (step_begin(p, "fleet_stop", "compute fleet STOP_REQUESTED, wait for STOPPED") < 0)
		return PCM_EXIT_ERROR;
	/* what the fleet was before: recorded once, before anything is written */
	if (journal_data(p->j, "fleet_before") == NULL) {
		if ((rc = fleet_get(p->a, p->table, &before, &err)) != AWS_OK) {
			log_warnx("cannot read the compute fleet status: %s%s", err.message,
			    aws_hint(rc));
			journal_step_set(p->j, "fleet_stop", STEP_FAILED, err.message);
			return aws_rc_exit(rc);
		}
		jset_str(p->j, "fleet_before", before.status_str);
		jset_int(p->j, "fleet_stopped_by_agent", before.status == FLEET_RUNNING);
		if (before.status != FLEET_RUNNING)
			log_notice("the compute fleet was already %s: resume will not start it",
			    before.status_str);
	}
	rc = fleet_request(p->a, p->table, FLEET_STOP, &before, &outcome, &err);
	if (rc != AWS_OK) {
		log_warnx("cannot stop the compute fleet: %s%s", err.message, aws_hint(rc));
		journal_step_set(p->j, "fleet_stop", STEP_FAILED, err.message);
		return aws_rc_exit(rc);
	}
	if (outcome == FLEET_WROTE)
		jadd_int(p->j, "fleet_stop_writes", 1);
	crashpoint("fleet_stop", "requested");
	rc = fleet_wait(p->a, p->table, FLEET_STOP, p->ctx->cfg.fleet_timeout, aws_poll_ms(),
	    fleet_progress, p, &last, &err);
	if (rc != AWS_OK) {
		log_warnx("the compute fleet did not stop: %s (is clusterstatusmgtd running? "
		    "`systemctl status supervisord`)", err.message);
		journal_step_set(p->j, "fleet_stop", STEP_FAILED, err.message);
		return aws_rc_exit(rc);
	}
	if (jget_double(p->j, "fleet_stopped_at") == 0)
		jset_double(p->j, "fleet_stopped_at", now_real());
	/* Slurm's view: no compute node may still run a job */
	for (int i = 0; i < 60; i++) {
		struct sched_node_list *nl = NULL;
		unsigned alloc = 0;

		if (sched_nodes_load(p->s, &nl) < 0) {
			log_warnx("%s", sched_strerror(p->s));
			journal_step_set(p->j, "fleet_stop", STEP_FAILED, sched_strerror(p->s));
			return PCM_EXIT_ERROR;
		}
		for (size_t k = 0; k < nl->n; k++)
			alloc += nl->v[k].allocated != 0;
		sched_node_list_free(nl);
		if (alloc == 0)
			break;
		if (i == 59) {
			log_warnx("the compute fleet is STOPPED but Slurm still has %u allocated "
			    "node%s (see `sinfo`; run prepare-restart again once they are free)",
			    alloc, alloc == 1 ? "" : "s");
			journal_step_set(p->j, "fleet_stop", STEP_FAILED, "nodes still allocated");
			return PCM_EXIT_ERROR;
		}
		sleep(1);
	}
	return step_end(p, "fleet_stop", STEP_DONE, "STOPPED (was %s)",
	    journal_data_str(p->j, "fleet_before")) < 0 ? PCM_EXIT_ERROR : PCM_EXIT_OK;
}

/*
 * XXH3-128 of SAVEDIR/MANIFEST as 32 hex digits: the journal records which
 * save the operation made, and resume notices when the save was replaced
 * since.  0 or -errno.
 */
static int
manifest_sum(const char *savedir, char *hex, size_t len)
{
	XXH3_state_t *st = NULL;
	XXH128_hash_t h;
	char path[4096], buf[65536];
	ssize_t n;
	int fd, rc = 0;

	if (len < 33)
		return -ENOSPC;
	snprintf(path, sizeof(path), "%s/MANIFEST", savedir);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if ((st = XXH3_createState()) == NULL || XXH3_128bits_reset(st) != XXH_OK) {
		rc = -ENOMEM;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		XXH3_128bits_update(st, buf, (size_t)n);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	h = XXH3_128bits_digest(st);
	snprintf(hex, len, "%016llx%016llx", (unsigned long long)h.high64,
	    (unsigned long long)h.low64);
out:
	XXH3_freeState(st);
	close(fd);
	return rc;
}

static int
step_final_save(struct plan *p)
{
	struct stor_result res, vres;
	struct stor_opts so;
	char b[32], vb[32];
	int rc, incr;

	if (step_is_over(p->j, "final_save"))
		return 0;
	if (p->o->no_save) {
		step_begin(p, "final_save", "final save");
		return step_end(p, "final_save", STEP_SKIPPED, "--no-save");
	}
	if (step_begin(p, "final_save", "incremental save of %s to %s, then verify", p->eph,
	    p->savedir) < 0)
		return -1;
	if (do_save(p, 0, &res) < 0) {
		journal_step_set(p->j, "final_save", STEP_FAILED, res.errmsg);
		return -1;
	}
	if (res.changed > 0)
		log_warnx("%llu files changed during the final save (named above): something on "
		    "the head node still writes to %s", (unsigned long long)res.changed, p->eph);
	/* after a pre-stage (verified whole): re-read only what is new */
	incr = journal_step(p->j, "prestage") == STEP_DONE;
	say(p, "    final_save: saved in %.1f s; verifying (%s)", res.seconds,
	    incr ? "new objects" : "everything");
	storage_opts(p->ctx, &so, "verifying");
	memset(&vres, 0, sizeof(vres));
	rc = incr ? stor_verify_incremental(p->savedir, &so, &vres) :
	    stor_verify(p->savedir, &so, &vres);
	storage_progress_done();
	if (rc < 0) {
		log_warnx("cannot verify the save %s: %s", p->savedir, vres.errmsg);
		journal_step_set(p->j, "final_save", STEP_FAILED, "verify failed");
		return -1;
	}
	{
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "incremental", json_object_new_boolean(incr));
		json_object_object_add(o, "files_reread",
		    json_object_new_int64((int64_t)vres.files_reread));
		json_object_object_add(o, "bytes_reread",
		    json_object_new_int64((int64_t)vres.bytes_copied));
		json_object_object_add(o, "files_known",
		    json_object_new_int64((int64_t)vres.files_known));
		json_object_object_add(o, "seconds", json_object_new_double(vres.seconds));
		journal_data_set(p->j, "final_verify", o);
	}
	jset_str(p->j, "savedir", p->savedir);
	jset_int(p->j, "no_save", 0);	/* a rerun without --no-save saved after all */
	{
		char sum[40];

		if ((rc = manifest_sum(p->savedir, sum, sizeof(sum))) == 0)
			jset_str(p->j, "manifest_xxh3", sum);
		else
			log_notice("cannot checksum %s/MANIFEST: %s", p->savedir, strerror(-rc));
	}
	jset_int(p->j, "save_entries", (int64_t)res.entries);
	jset_int(p->j, "save_bytes", (int64_t)res.bytes);
	journal_copy_to(p->j, p->savedir);
	return step_end(p, "final_save", STEP_DONE, "%llu entries, %s copied (%llu files "
	    "unchanged), verified: %llu files, %s re-read in %.1f s, %llu verified earlier",
	    (unsigned long long)res.entries, output_bytes(res.bytes_copied, b, sizeof(b)),
	    (unsigned long long)res.files_reused, (unsigned long long)vres.files_reread,
	    output_bytes(vres.bytes_copied, vb, sizeof(vb)), vres.seconds,
	    (unsigned long long)vres.files_known);
}

static int
confirm(struct plan *p)
{
	char line[32];

	if (p->o->yes || !isatty(STDIN_FILENO) || p->method == PLAN_METHOD_NONE)
		return 1;
	fprintf(stderr, "restart the head node %s now (%s)? [y/N] ", p->instance,
	    plan_method_name(p->method));
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	return line[0] == 'y' || line[0] == 'Y';
}

static void
print_next_command(struct plan *p)
{
	const char *region = aws_region(p->a, NULL);

	say(p, "    restart: not requested (--no-restart). The cluster is ready; restart the head "
	    "node with one of:");
	say(p, "      sudo reboot                      (a reboot keeps %s)", p->eph);
	say(p, "      aws ssm start-automation-execution --document-name %s --parameters "
	    "InstanceId=%s%s%s", SSM_RESTART_DOCUMENT, p->instance, region ? " --region " : "",
	    region ? region : "");
	say(p, "      pcm-agent restart-head-node --cluster-name %s%s%s   (from an admin's machine)",
	    p->cluster, region ? " --region " : "", region ? region : "");
	say(p, "    then `pcm-agent resume` runs at boot (or run it by hand).");
}

/*
 * After an interrupted stop-start request: watch the instance for
 * PCM_RESTART_GRACE_S seconds (default 60): a state other than "running"
 * means SSM got the request.  Returns that state (static) or NULL.
 */
static const char *
restart_happened(struct plan *p)
{
	static char state[32];
	const char *g = getenv("PCM_RESTART_GRACE_S");
	long grace = g ? strtol(g, NULL, 10) : 60;
	long long end = aws_now_ms() + grace * 1000LL;
	struct aws_error err = { 0 };

	do {
		struct ec2_statuses sts = { 0 };

		if (ec2_describe_instance_status(p->a, p->instance, 0, &sts, &err) == AWS_OK &&
		    sts.n > 0 && sts.v[0].state != NULL && strcmp(sts.v[0].state, "running") != 0) {
			snprintf(state, sizeof(state), "%s", sts.v[0].state);
			ec2_statuses_free(&sts);
			return state;
		}
		ec2_statuses_free(&sts);
		aws_sleep_ms(1000);
	} while (aws_now_ms() < end);
	return NULL;
}

static int
step_restart(struct plan *p)
{
	struct aws_error err = { 0 };
	char boot[64], *exec = NULL;
	const char *jboot, *jexec;
	enum step_state st = journal_step(p->j, "restart");
	int rc;

	if (st == STEP_DONE || st == STEP_SKIPPED)
		return PCM_EXIT_OK;
	boot_id(boot, sizeof(boot));
	if (st == STEP_RUNNING && journal_data(p->j, "restart_requested_at") != NULL) {
		/* asked before and then interrupted: never ask twice */
		enum plan_method m = plan_method_parse(journal_data_str(p->j, "restart_method"));

		say(p, "==> restart: a %s was requested before this run: checking", plan_method_name(m));
		jboot = journal_data_str(p->j, "restart_boot_id");
		if (jboot != NULL && strcmp(jboot, boot) != 0) {
			step_end(p, "restart", STEP_DONE, "the head node restarted since the request: "
			    "run `pcm-agent resume`");
			return PCM_EXIT_OK;
		}
		if (m == PLAN_METHOD_STOP_START && (jexec = journal_data_str(p->j, "ssm_execution"))) {
			struct ssm_execution ex = { 0 };

			if (ssm_get_execution(p->a, jexec, &ex, &err) != AWS_OK) {
				log_warnx("cannot read SSM execution %s: %s (run prepare-restart "
				    "again)", jexec, err.message);
				return aws_rc_exit(err.http_status ? AWS_E_SERVICE : AWS_E_TRANSPORT);
			}
			if (!ex.done || ex.success) {
				step_end(p, "restart", STEP_DONE, "SSM execution %s is %s", jexec,
				    ex.status);
				return PCM_EXIT_OK;
			}
			log_warnx("SSM execution %s ended %s: %s; requesting the restart again",
			    jexec, ex.status, ex.failure);
		} else if (m == PLAN_METHOD_STOP_START &&
		    journal_data_str(p->j, "ssm_client_token") != NULL) {
			/* asked, answer not recorded: the same ClientToken makes SSM answer
			 * with the execution it started, or start it if it never got it */
			log_notice("the stop-start requested at %s was interrupted before its answer "
			    "was recorded: asking SSM again with the same ClientToken",
			    journal_data_str(p->j, "restart_requested_iso"));
		} else if (m == PLAN_METHOD_STOP_START) {
			/* asked without a token, answer not recorded: did it reach SSM? */
			const char *state = restart_happened(p);

			if (state != NULL) {
				step_end(p, "restart", STEP_DONE, "under way (instance %s)", state);
				return PCM_EXIT_OK;
			}
			log_notice("the stop-start requested at %s did not reach AWS (the instance is "
			    "still running): requesting it again",
			    journal_data_str(p->j, "restart_requested_iso"));
		} else if (m == PLAN_METHOD_REBOOT) {
			/* a reboot leaves no trace in EC2: never ask twice */
			log_warnx("a reboot of %s was requested at %s and this run was interrupted "
			    "before it was confirmed; it is not requested twice: if the head node does "
			    "not reboot within minutes, reboot it by hand (`sudo reboot`) or run "
			    "`pcm-agent abort`", p->instance,
			    journal_data_str(p->j, "restart_requested_iso"));
			step_end(p, "restart", STEP_DONE, "reboot requested before, not confirmed");
			return PCM_EXIT_OK;
		}
		journal_step_set(p->j, "restart", STEP_PENDING, NULL);
	}
	if (!confirm(p)) {
		log_warnx("restart not confirmed: the cluster stays prepared (run prepare-restart "
		    "again to restart, or `pcm-agent abort` to undo)");
		return PCM_EXIT_ERROR;
	}
	if (step_begin(p, "restart", "%s", p->method == PLAN_METHOD_REBOOT ? "EC2 RebootInstances" :
	    p->method == PLAN_METHOD_STOP_START ? "SSM AWS-RestartEC2Instance (stop, then start)" :
	    "none requested (--no-restart)") < 0)
		return PCM_EXIT_ERROR;
	maint_phase(p, MAINT_PHASE_UNDER_WAY);
	if (p->method == PLAN_METHOD_NONE) {
		print_next_command(p);
		jset_str(p->j, "restart_method", "none");
		return step_end(p, "restart", STEP_DONE, "left to the administrator") < 0 ?
		    PCM_EXIT_ERROR : PCM_EXIT_OK;
	}
	/* recorded before it is asked: a rerun must not ask again */
	{
		char iso[32];
		double t = now_real();

		jset_str(p->j, "restart_method", plan_method_name(p->method));
		jset_str(p->j, "restart_boot_id", boot);
		if (p->method == PLAN_METHOD_STOP_START &&
		    journal_data_str(p->j, "ssm_client_token") == NULL) {
			char token[40];

			if ((rc = ssm_client_token_new(token, sizeof(token))) < 0) {
				log_warnx("cannot make an SSM ClientToken: %s", strerror(-rc));
				return PCM_EXIT_ERROR;
			}
			jset_str(p->j, "ssm_client_token", token);
		}
		jset_str(p->j, "restart_requested_iso", output_iso8601((time_t)t, iso, sizeof(iso)));
		jset_double(p->j, "restart_requested_at", t);
		journal_copy_to(p->j, p->savedir ? p->savedir : p->ctx->cfg.state_dir);
	}
	crashpoint("restart", "recorded");
	if (p->method == PLAN_METHOD_REBOOT)
		rc = ec2_reboot_instance(p->a, p->instance, 0, &err);
	else
		rc = ssm_restart_instance_token(p->a, p->instance, p->ctx->cfg.ssm_assume_role,
		    journal_data_str(p->j, "ssm_client_token"), &exec, &err);
	crashpoint("restart", "sent");
	if (rc != AWS_OK) {
		log_warnx("cannot request the %s of %s: %s%s", plan_method_name(p->method),
		    p->instance, err.message, aws_hint(rc));
		if (rc == AWS_E_TRANSPORT || rc == AWS_E_TIMEOUT) {
			/* no answer: it may have been done; the next run checks, never re-asks blindly */
			return aws_rc_exit(rc);
		}
		/* refused: nothing happened, the next run may ask again */
		journal_data_set(p->j, "restart_requested_at", NULL);
		journal_step_set(p->j, "restart", STEP_FAILED, err.message);
		return aws_rc_exit(rc);
	}
	if (exec != NULL)
		jset_str(p->j, "ssm_execution", exec);
	rc = step_end(p, "restart", STEP_DONE, "%s requested%s%s", plan_method_name(p->method),
	    exec ? ": SSM execution " : "", exec ? exec : "");
	free(exec);
	return rc < 0 ? PCM_EXIT_ERROR : PCM_EXIT_OK;
}

static void
summary(struct plan *p, int rc)
{
	struct json_object *rq = journal_data(p->j, "jobs_requeue");
	struct json_object *fl = journal_data(p->j, "jobs_failed");
	double stopped = jget_double(p->j, "fleet_stopped_at");
	double req = jget_double(p->j, "restart_requested_at");
	char b[32], d[32];

	if (p->ctx->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "exit", json_object_new_int(rc));
		json_object_object_add(o, "journal", json_object_get(journal_json(p->j)));
		output_json(o);
		json_object_put(o);
		return;
	}
	if (stopped <= 0)
		snprintf(d, sizeof(d), "not stopped");
	else if ((req > 0 ? req : now_real()) - stopped < 60)
		snprintf(d, sizeof(d), "stopped for %.1f s", (req > 0 ? req : now_real()) - stopped);
	else
		snprintf(d, sizeof(d), "stopped for %s", format_duration((long)((req > 0 ? req :
		    now_real()) - stopped + 0.5), b, sizeof(b)));
	say(p, "summary: %zu jobs requeued, %lld waited for, %zu failed; %s saved; fleet %s%s",
	    rq ? json_object_array_length(rq) : 0,
	    (long long)jget_int(p->j, "jobs_waited", 0), fl ? json_object_array_length(fl) : 0,
	    output_bytes((unsigned long long)jget_int(p->j, "bytes_saved", 0), b, sizeof(b)), d,
	    stopped <= 0 ? "" : req > 0 ? " until the restart request" : " so far");
}

static int
open_journal(struct plan *p, const char *trigger)
{
	const char *state_dir = p->ctx->cfg.state_dir;
	int rc = journal_load(state_dir, &p->j);

	if (rc == -ENOENT) {
		if ((rc = journal_create(state_dir, trigger ? trigger : "manual",
		    (const char *const *)plan_steps, &p->j)) < 0) {
			log_warnx("cannot create the journal in %s: %s", state_dir, strerror(-rc));
			return -1;
		}
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
	return 1;
}

static int
take_lock(struct pcm_ctx *ctx, struct pcm_lock *lk, const char *what)
{
	return storage_lock(ctx, lk, what);
}

int
plan_prepare(struct pcm_ctx *ctx, const struct plan_opts *o)
{
	struct plan p = { .ctx = ctx, .o = o };
	struct pcm_lock lk = { .fd = -1 };
	int rc, rerun = 0;

	p.out = ctx->json ? stderr : stdout;
	p.method = o->method != PLAN_METHOD_CONFIG ? o->method :
	    plan_method_parse(ctx->cfg.restart_method);
	if (p.method == PLAN_METHOD_CONFIG)
		p.method = PLAN_METHOD_NONE;
	if ((rc = take_lock(ctx, &lk, "prepare-restart")) != 0)
		return rc;
	if (o->dry_run) {
		/* a journal in progress gives the identity, but nothing is written */
		if (journal_load(ctx->cfg.state_dir, &p.j) == 0)
			say(&p, "an operation is in progress (journal %s): run without --dry-run "
			    "to continue it", journal_id(p.j));
		journal_free(p.j);
		p.j = NULL;
		if ((rc = preflight(&p)) == PCM_EXIT_OK) {
			print_plan(&p);
			rc = p.jobs->summary.fail > 0 && o->jobs == PLAN_JOBS_GATE ?
			    PCM_EXIT_BLOCKED : PCM_EXIT_OK;
		}
		goto out;
	}
	if ((rc = open_journal(&p, o->trigger)) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	rerun = rc;
	if (strcmp(journal_phase(p.j), "prepare") != 0) {
		log_warnx("cannot prepare: operation %s is in phase %s (run `pcm-agent resume` to "
		    "finish it, or `pcm-agent abort`)", journal_id(p.j), journal_phase(p.j));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (rerun && o->method == PLAN_METHOD_CONFIG && journal_data_str(p.j, "method") != NULL &&
	    plan_method_parse(journal_data_str(p.j, "method")) != PLAN_METHOD_CONFIG)
		p.method = plan_method_parse(journal_data_str(p.j, "method"));	/* the first run's */
	if (rerun)
		say(&p, "continuing operation %s (journal %s)", journal_id(p.j), journal_path(p.j));
	else
		say(&p, "operation %s: prepare-restart (%s)", journal_id(p.j),
		    plan_method_name(p.method));
	if (step_is_over(p.j, "restart")) {
		say(&p, "prepare-restart is complete: %s (%s); `pcm-agent resume` runs at the next "
		    "boot (or `pcm-agent abort` to undo)", journal_step_detail(p.j, "restart"),
		    journal_data_str(p.j, "restart_requested_iso") ?
		    journal_data_str(p.j, "restart_requested_iso") : "no request");
		rc = PCM_EXIT_OK;
		goto out;
	}
	/* preflight runs on every run (cheap, and the world may have changed) */
	if (!step_is_over(p.j, "preflight")) {
		if (step_begin(&p, "preflight", "identity, Slurm, fleet, permissions, storage") < 0) {
			rc = PCM_EXIT_ERROR;
			goto out;
		}
	} else {
		say(&p, "==> preflight: checking again");
	}
	if ((rc = preflight(&p)) != PCM_EXIT_OK) {
		journal_step_set(p.j, "preflight", STEP_FAILED, "see the log");
		goto out;
	}
	if (!step_is_over(p.j, "preflight")) {
		jset_str(p.j, "cluster", p.cluster);
		jset_str(p.j, "instance_id", p.instance);
		jset_int(p.j, "instance_from_imds", p.instance_from_imds);
		jset_str(p.j, "fleet_table", p.table);
		jset_str(p.j, "ephemeral_dir", p.eph);
		if (p.target)
			jset_str(p.j, "target", p.target);
		if (p.savedir)
			jset_str(p.j, "savedir", p.savedir);
		jset_int(p.j, "no_save", o->no_save);
		jset_str(p.j, "method", plan_method_name(p.method));
		if (step_end(&p, "preflight", STEP_DONE, "cluster %s, instance %s, fleet %s, "
		    "%u running jobs", p.cluster, p.instance, p.fleet.status_str,
		    p.jobs->summary.running) < 0) {
			rc = PCM_EXIT_ERROR;
			goto out;
		}
	} else {
		/* a method given again on the command line wins from now on */
		jset_str(p.j, "method", plan_method_name(p.method));
		say(&p, "    preflight: ok");
	}
	if (step_prestage(&p) < 0 || step_reservation(&p) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if ((rc = step_jobgate(&p)) != PCM_EXIT_OK)
		goto out;
	if ((rc = step_fleet_stop(&p)) != PCM_EXIT_OK)
		goto out;
	if (step_final_save(&p) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	rc = step_restart(&p);
out:
	if (p.j != NULL && !o->dry_run)
		summary(&p, rc);
	plan_free(&p);
	lock_release(&lk);
	return rc;
}

/* --- resume --- */

static void
wall(struct pcm_ctx *ctx, const char *msg)
{
	FILE *fp;

	if (!ctx->cfg.notify_wall)
		return;
	if ((fp = popen("wall 2>/dev/null", "w")) == NULL)
		return;
	fprintf(fp, "%s\n", msg);
	pclose(fp);
}

static int
step_restore(struct plan *p)
{
	const char *savedir = journal_data_str(p->j, "savedir");
	struct stor_result res;
	struct stor_opts so;
	struct stat st;
	char b[32];
	int rc;

	if (step_is_over(p->j, "restore"))
		return 0;
	if (savedir == NULL || jget_int(p->j, "no_save", 0)) {
		step_begin(p, "restore", "restore the ephemeral volume");
		return step_end(p, "restore", STEP_SKIPPED, "no save was made");
	}
	p->eph = journal_data_str(p->j, "ephemeral_dir");
	if (p->eph == NULL)
		p->eph = p->ctx->cfg.ephemeral_dir;
	if (step_begin(p, "restore", "%s from %s if it lacks the save's content", p->eph,
	    savedir) < 0)
		return -1;
	if (!step_is_over(p->j, "final_save"))
		log_warnx("the final save did not complete before the restart: using the "
		    "pre-stage save, which may miss the last changes");
	{
		struct stor_save_info info;

		if (stor_save_info(savedir, &info) < 0 || !info.complete)
			return step_end(p, "restore", STEP_SKIPPED, "no complete save in %s (the "
			    "operation ended before its first save)", savedir);
	}
	if (stat(p->eph, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_warnx("cannot restore to %s: it is not a directory (is setup-ephemeral.service "
		    "done? run `pcm-agent resume` again once it is mounted)", p->eph);
		journal_step_set(p->j, "restore", STEP_FAILED, "no ephemeral dir");
		return -1;
	}
	{
		const char *want = journal_data_str(p->j, "manifest_xxh3");
		char sum[40];

		if (want != NULL && manifest_sum(savedir, sum, sizeof(sum)) == 0 &&
		    strcmp(sum, want) != 0)
			log_warnx("the save in %s changed since prepare-restart made it (another "
			    "save ran since): using it as it is now", savedir);
	}
	memset(&res, 0, sizeof(res));
	rc = stor_dir_matches(savedir, p->eph, 0, &res);
	if (rc == 1) {
		/* a reboot: the data is still there; check the data too, copy nothing */
		memset(&res, 0, sizeof(res));
		rc = stor_dir_matches(savedir, p->eph, 1, &res);
		if (rc == 1) {
			jset_str(p->j, "restore_result", "verified in place");
			return step_end(p, "restore", STEP_DONE, "%s still holds the save's %llu "
			    "entries: verified, nothing copied", p->eph,
			    (unsigned long long)res.entries);
		}
		log_notice("%s holds the save's files but %llu differ in content: restoring",
		    p->eph, (unsigned long long)res.bad);
	} else if (rc < 0) {
		log_warnx("cannot compare %s with the save %s: %s", p->eph, savedir, strerror(-rc));
		journal_step_set(p->j, "restore", STEP_FAILED, strerror(-rc));
		return -1;
	}
	storage_opts(p->ctx, &so, "restoring");
	so.op_id = journal_id(p->j);	/* names the quarantine */
	memset(&res, 0, sizeof(res));
	rc = stor_restore(savedir, p->eph, &so, &res);
	if (res.quarantined > 0)	/* what users had put in the way: for the admin */
		jset_str(p->j, "restore_quarantine", res.quarantine);
	storage_progress_done();
	if (rc < 0) {
		log_warnx("cannot restore %s to %s: %s", savedir, p->eph, res.errmsg);
		journal_step_set(p->j, "restore", STEP_FAILED, res.errmsg);
		return -1;
	}
	jset_str(p->j, "restore_result", "restored");
	jset_int(p->j, "restore_bytes", (int64_t)res.bytes_copied);
	if (res.quarantined > 0)
		return step_end(p, "restore", STEP_DONE, "%llu entries, %s written, checksums "
		    "verified; %llu entries in the way moved aside to %s",
		    (unsigned long long)res.entries, output_bytes(res.bytes_copied, b, sizeof(b)),
		    (unsigned long long)res.quarantined, res.quarantine);
	return step_end(p, "restore", STEP_DONE, "%llu entries, %s written, checksums verified",
	    (unsigned long long)res.entries, output_bytes(res.bytes_copied, b, sizeof(b)));
}

static int
step_health(struct plan *p)
{
	struct sched_partition_list *pl = NULL;
	struct sched_node_list *nl = NULL;
	struct fleet_item it = { 0 };
	struct aws_error err = { 0 };
	unsigned reset = 0;
	int rc = -1, tries;

	if (step_is_over(p->j, "health"))
		return 0;
	if (step_begin(p, "health", "slurmctld, partitions, nodes, compute fleet") < 0)
		return -1;
	if (open_sched(p) < 0)
		goto fail;
	/* at boot slurmctld may still be starting */
	for (tries = 0; sched_ping(p->s) < 0; tries++) {
		if (tries >= 12) {
			log_warnx("%s", sched_strerror(p->s));
			goto fail;
		}
		sched_close(p->s);
		p->s = NULL;
		sleep(5);
		if (open_sched(p) < 0)
			goto fail;
	}
	if (sched_partitions_load(p->s, &pl) < 0 || pl->n == 0) {
		log_warnx("%s", pl ? "Slurm has no partition (check slurm.conf)" :
		    sched_strerror(p->s));
		goto fail;
	}
	if (sched_nodes_load(p->s, &nl) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		goto fail;
	}
	for (size_t i = 0; i < nl->n; i++) {
		if (!sched_node_stuck(&nl->v[i]))
			continue;
		if (sched_node_power_down_force(p->s, nl->v[i].name,
		    "pcm-agent: reset after the head node restart") < 0) {
			log_warnx("cannot reset node %s (%s): %s", nl->v[i].name, nl->v[i].state,
			    sched_strerror(p->s));
			continue;
		}
		log_notice("node %s was %s from before the restart: reset (power_down_force)",
		    nl->v[i].name, nl->v[i].state);
		reset++;
	}
	if ((rc = fleet_get(p->a, p->table, &it, &err)) != AWS_OK) {
		log_warnx("cannot read the compute fleet status: %s%s", err.message, aws_hint(rc));
		rc = -1;
		goto fail;
	}
	if (it.status == FLEET_PROTECTED)
		log_warnx("the compute fleet is PROTECTED: clustermgtd stopped launching nodes "
		    "after failures; fix them, then `pcluster update-compute-fleet --status "
		    "START_REQUESTED`");
	rc = step_end(p, "health", STEP_DONE, "slurmctld answers, %zu partitions, %u stuck nodes "
	    "reset, fleet %s", pl->n, reset, it.status_str);
	goto out;
fail:
	journal_step_set(p->j, "health", STEP_FAILED, p->s ? sched_strerror(p->s) : "Slurm");
out:
	sched_partition_list_free(pl);
	sched_node_list_free(nl);
	return rc;
}

static int
fleet_start(struct plan *p, const char *step)
{
	struct aws_error err = { 0 };
	struct fleet_item last = { 0 };
	struct sched_partition_list *pl = NULL;
	int rc;

	rc = fleet_request(p->a, p->table, FLEET_START, NULL, NULL, &err);
	if (rc != AWS_OK) {
		log_warnx("cannot start the compute fleet: %s%s", err.message, aws_hint(rc));
		journal_step_set(p->j, step, STEP_FAILED, err.message);
		return aws_rc_exit(rc);
	}
	rc = fleet_wait(p->a, p->table, FLEET_START, p->ctx->cfg.fleet_timeout, aws_poll_ms(),
	    fleet_progress, p, &last, &err);
	if (rc != AWS_OK) {
		log_warnx("the compute fleet did not start: %s", err.message);
		journal_step_set(p->j, step, STEP_FAILED, err.message);
		return aws_rc_exit(rc);
	}
	/* a start can leave partitions INACTIVE (aws-parallelcluster #707) */
	if (open_sched(p) == 0 && sched_partitions_load(p->s, &pl) == 0) {
		for (size_t i = 0; i < pl->n; i++) {
			if (strcmp(pl->v[i].state, "UP") == 0)
				continue;
			if (sched_partition_set_up(p->s, pl->v[i].name) < 0)
				log_warnx("cannot set partition %s UP: %s", pl->v[i].name,
				    sched_strerror(p->s));
			else
				log_notice("partition %s was %s after the fleet start: set UP",
				    pl->v[i].name, pl->v[i].state);
		}
	}
	sched_partition_list_free(pl);
	return PCM_EXIT_OK;
}

static int
step_fleet_start(struct plan *p)
{
	const char *before = journal_data_str(p->j, "fleet_before");
	int rc;

	if (step_is_over(p->j, "fleet_start"))
		return PCM_EXIT_OK;
	if (!jget_int(p->j, "fleet_stopped_by_agent", 0)) {
		step_begin(p, "fleet_start", "compute fleet");
		return step_end(p, "fleet_start", STEP_SKIPPED, "%s", before ?
		    "the fleet was not RUNNING before prepare-restart: left as it is" :
		    "the fleet was not stopped") < 0 ? PCM_EXIT_ERROR : PCM_EXIT_OK;
	}
	if (step_begin(p, "fleet_start", "compute fleet START_REQUESTED, wait for RUNNING") < 0)
		return PCM_EXIT_ERROR;
	if ((rc = fleet_start(p, "fleet_start")) != PCM_EXIT_OK)
		return rc;
	return step_end(p, "fleet_start", STEP_DONE, "RUNNING") < 0 ? PCM_EXIT_ERROR : PCM_EXIT_OK;
}

static int
step_unreserve(struct plan *p)
{
	const char *name = journal_data_str(p->j, "reservation");
	struct maintfile_error me;
	int deleted = 0;

	if (step_is_over(p->j, "unreserve"))
		return 0;
	if (journal_step(p->j, "reservation") == STEP_PENDING) {
		/* not made by this operation (pcm-agent watch may own one of that name) */
		step_begin(p, "unreserve", "the maintenance reservation");
		if (maintfile_remove(p->ctx->cfg.run_dir, &me) < 0)
			log_notice("%s", me.msg);
		return step_end(p, "unreserve", STEP_SKIPPED, "prepare-restart made none");
	}
	if (name == NULL)
		name = p->ctx->cfg.reservation_name;
	if (step_begin(p, "unreserve", "delete the maintenance reservation %s", name) < 0)
		return -1;
	if (open_sched(p) < 0)
		return -1;
	if (sched_maint_end(p->s, name, &deleted) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		journal_step_set(p->j, "unreserve", STEP_FAILED, sched_strerror(p->s));
		return -1;
	}
	if (maintfile_remove(p->ctx->cfg.run_dir, &me) < 0)
		log_notice("%s", me.msg);
	return step_end(p, "unreserve", STEP_DONE, "%s %s", name, deleted ? "deleted" :
	    "was not there");
}

static void
resume_summary(struct plan *p, char *buf, size_t len)
{
	struct json_object *rq = journal_data(p->j, "jobs_requeue");
	const char *restored = journal_data_str(p->j, "restore_result");
	unsigned running = 0, pending = 0, n = 0;

	for (size_t i = 0; rq != NULL && i < json_object_array_length(rq); i++) {
		struct sched_job *jb = NULL;
		uint32_t id = (uint32_t)json_object_get_int64(json_object_array_get_idx(rq, i));

		n++;
		if (p->s != NULL && sched_job_get(p->s, id, &jb) == 0) {
			running += sched_job_is_running(jb->state);
			pending += jb->outcome == SCHED_OUTCOME_PENDING;
		}
		sched_job_free(jb);
	}
	snprintf(buf, len, "pcm-agent: the cluster is back after the head node restart "
	    "(operation %s): %s %s; compute fleet %s; reservation removed; %u requeued jobs: "
	    "%u running, %u pending", journal_id(p->j), p->eph ? p->eph : "ephemeral volume",
	    restored ? restored : "not saved", step_is_over(p->j, "fleet_start") &&
	    journal_step(p->j, "fleet_start") == STEP_DONE ? "started" : "left as it was", n,
	    running, pending);
}

int
plan_resume(struct pcm_ctx *ctx, const struct plan_resume_opts *ro)
{
	struct plan p = { .ctx = ctx };
	struct pcm_lock lk = { .fd = -1 };
	char boot[64], msg[1024];
	const char *jboot;
	int rc;

	p.out = ctx->json ? stderr : stdout;
	if (journal_load(ctx->cfg.state_dir, &p.j) == -ENOENT) {
		if (ctx->json) {
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "resumed", json_object_new_boolean(0));
			json_object_object_add(o, "reason", json_object_new_string("no journal"));
			output_json(o);
			json_object_put(o);
		} else {
			say(&p, "nothing to resume (no operation in %s)", ctx->cfg.state_dir);
		}
		return PCM_EXIT_OK;
	}
	journal_free(p.j);
	p.j = NULL;
	if ((rc = take_lock(ctx, &lk, "resume")) != 0)
		return rc;
	if ((rc = journal_load(ctx->cfg.state_dir, &p.j)) < 0) {
		if (rc == -ENOENT) {	/* closed by another run meanwhile */
			rc = PCM_EXIT_OK;
			goto out;
		}
		log_warnx("cannot read the journal in %s: %s", ctx->cfg.state_dir,
		    rc == -EBADMSG ? "it is corrupt (move it away after checking the state by "
		    "hand)" : strerror(-rc));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	boot_id(boot, sizeof(boot));
	jboot = journal_data_str(p.j, "restart_boot_id");
	if (strcmp(journal_phase(p.j), "prepare") == 0 && jboot != NULL &&
	    strcmp(jboot, boot) == 0 && !ro->force) {
		log_warnx("cannot resume yet: the %s requested at %s has not happened (same boot); "
		    "resume runs at the next boot (use --force to resume now, or `pcm-agent abort`)",
		    journal_data_str(p.j, "restart_method"),
		    journal_data_str(p.j, "restart_requested_iso"));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	say(&p, "operation %s: resume", journal_id(p.j));
	if (strcmp(journal_phase(p.j), "resume") != 0)
		journal_set_phase(p.j, "resume");
	maint_phase(&p, MAINT_PHASE_RESUMING);
	if (identify(&p) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (step_restore(&p) < 0 || step_health(&p) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if ((rc = step_fleet_start(&p)) != PCM_EXIT_OK)
		goto out;
	if (step_unreserve(&p) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	resume_summary(&p, msg, sizeof(msg));
	if (ctx->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "resumed", json_object_new_boolean(1));
		json_object_object_add(o, "journal", json_object_get(journal_json(p.j)));
		json_object_object_add(o, "summary", json_object_new_string(msg));
		output_json(o);
		json_object_put(o);
	} else {
		say(&p, "summary: %s", msg + strlen("pcm-agent: "));
	}
	if (!log_to_stderr())
		log_notice("%s", msg);	/* the journal/syslog of the boot */
	wall(ctx, msg);
	if ((rc = journal_close(p.j, "done")) < 0) {
		log_warnx("cannot close the journal: %s", strerror(-rc));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	rc = PCM_EXIT_OK;
out:
	plan_free(&p);
	lock_release(&lk);
	return rc;
}

/* --- abort --- */

int
plan_abort(struct pcm_ctx *ctx)
{
	struct plan p = { .ctx = ctx };
	struct pcm_lock lk = { .fd = -1 };
	struct maintfile_error me;
	char boot[64];
	const char *jboot, *name;
	int rc, deleted = 0;

	p.out = ctx->json ? stderr : stdout;
	if ((rc = take_lock(ctx, &lk, "abort")) != 0)
		return rc;
	rc = journal_load(ctx->cfg.state_dir, &p.j);
	if (rc == -ENOENT) {
		say(&p, "nothing to abort (no operation in %s)", ctx->cfg.state_dir);
		rc = PCM_EXIT_OK;
		goto out;
	}
	if (rc < 0) {
		log_warnx("cannot read the journal in %s: %s", ctx->cfg.state_dir, strerror(-rc));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	say(&p, "operation %s: abort (the save is kept)", journal_id(p.j));
	boot_id(boot, sizeof(boot));
	jboot = journal_data_str(p.j, "restart_boot_id");
	if (jboot != NULL && strcmp(jboot, boot) == 0)
		log_warnx("a %s was requested at %s: abort cannot cancel it",
		    journal_data_str(p.j, "restart_method"),
		    journal_data_str(p.j, "restart_requested_iso"));
	if (identify(&p) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (journal_step(p.j, "reservation") != STEP_PENDING &&
	    !step_is_over(p.j, "unreserve")) {
		name = journal_data_str(p.j, "reservation");
		if (name == NULL)
			name = ctx->cfg.reservation_name;
		if (open_sched(&p) < 0 || sched_maint_end(p.s, name, &deleted) < 0) {
			if (p.s)
				log_warnx("%s", sched_strerror(p.s));
			rc = PCM_EXIT_ERROR;
			goto out;
		}
		say(&p, "    reservation %s %s", name, deleted ? "deleted" : "was not there");
	}
	if (jget_int(p.j, "fleet_stopped_by_agent", 0) && !step_is_over(p.j, "fleet_start")) {
		say(&p, "==> fleet: START_REQUESTED, wait for RUNNING (the agent stopped it)");
		if ((rc = fleet_start(&p, "fleet_start")) != PCM_EXIT_OK)
			goto out;
		say(&p, "    fleet: RUNNING");
	}
	if (maintfile_remove(ctx->cfg.run_dir, &me) < 0)
		log_notice("%s", me.msg);
	if ((rc = journal_close(p.j, "aborted")) < 0) {
		log_warnx("cannot close the journal: %s", strerror(-rc));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	say(&p, "aborted; the save (if any) is kept");
	rc = PCM_EXIT_OK;
out:
	plan_free(&p);
	lock_release(&lk);
	return rc;
}

/* --- status --- */

struct json_object *
plan_status_json(const struct pcm_config *cfg, int *bad)
{
	struct journal *j = NULL;
	struct json_object *o;
	int rc = journal_load(cfg->state_dir, &j);

	if (rc == -ENOENT)
		return NULL;
	if (rc < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "cannot read the journal %s/journal.json: %s",
		    cfg->state_dir, rc == -EBADMSG ? "it is corrupt" : strerror(-rc));
		log_warnx("%s", msg);
		*bad = 1;
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(msg));
		return o;
	}
	o = json_object_get(journal_json(j));
	journal_free(j);
	return o;
}

void
plan_status_print(struct json_object *o)
{
	struct json_object *steps, *v, *st;
	const char *cur = NULL, *cur_state = NULL, *last_done = NULL;
	int ndone = 0, n = 0;

	if (o == NULL) {
		printf("%-12s none\n", "operation");
		return;
	}
	if (json_object_object_get_ex(o, "error", &v)) {
		printf("%-12s unreadable (%s)\n", "operation", json_object_get_string(v));
		return;
	}
	if (json_object_object_get_ex(o, "steps", &steps)) {
		for (int i = 0; plan_steps[i] != NULL; i++) {
			const char *s;

			if (!json_object_object_get_ex(steps, plan_steps[i], &v) ||
			    !json_object_object_get_ex(v, "state", &st))
				continue;
			n++;
			s = json_object_get_string(st);
			if (strcmp(s, "done") == 0 || strcmp(s, "skipped") == 0) {
				ndone++;
				last_done = plan_steps[i];
			} else if (cur == NULL && strcmp(s, "pending") != 0) {
				cur = plan_steps[i];
				cur_state = s;
			}
		}
	}
	printf("%-12s %s (%s, phase %s): %d of %d steps done", "operation",
	    json_object_object_get_ex(o, "id", &v) ? json_object_get_string(v) : "?",
	    json_object_object_get_ex(o, "trigger", &v) ? json_object_get_string(v) : "?",
	    json_object_object_get_ex(o, "phase", &v) ? json_object_get_string(v) : "?",
	    ndone, n);
	if (cur != NULL)
		printf("; %s %s", cur, cur_state);
	else if (last_done != NULL)
		printf("; last: %s", last_done);
	printf("\n");
}
