/* SPDX-License-Identifier: GPL-2.0-or-later */
/* step_slurm.c - the steps of Slurm: reservation, jobgate, health, unreserve (see plan_int.h) */
#include <errno.h>
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

/*
 * The reservation must be in force now, not merely exist: one made ahead of
 * an event (`maintenance start --at`, the watch daemon) starts later and
 * lets jobs start meanwhile, jobs that the fleet stop then kills.  So the
 * step creates it or corrects it (start now, end after the restart, MAINT
 * and IGNORE_JOBS, all nodes, root only), and a later run checks it again:
 * someone may have deleted or changed it while the job gate waited.
 */
int
step_reservation_again(struct plan *p)
{
	const char *name = p->ctx->cfg.reservation_name;
	unsigned changed = 0;
	char what[160];

	if (sched_maint_ensure(p->s, name, p->ctx->cfg.maintenance_duration, &changed) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	if (changed & ~SCHED_MAINT_EXTENDED)
		log_warnx("maintenance reservation %s was not in force any more: %s", name,
		    sched_maint_changes(changed, what, sizeof(what)));
	else if (changed != 0)
		plan_say(p, "    reservation: %s %s", name,
		    sched_maint_changes(changed, what, sizeof(what)));
	return PCM_EXIT_OK;
}

void
step_reservation_what(struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "maintenance reservation %s on all nodes",
	    p->ctx->cfg.reservation_name);
}

int
step_reservation_run(struct plan *p, struct step_out *out)
{
	const char *name = p->ctx->cfg.reservation_name;
	unsigned changed = 0;
	char what[160];

	plan_jset_str(p->j, "reservation", name);
	if (sched_maint_ensure(p->s, name, p->ctx->cfg.maintenance_duration, &changed) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		journal_step_set(p->j, "reservation", STEP_FAILED, sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	plan_maint_phase(p, MAINT_PHASE_PREPARING);
	return plan_out(out, STEP_DONE, "%s %s: no new job starts", name,
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
		plan_say(p, "    jobgate: %u job%s still to end", w->fail, w->fail == 1 ? "" : "s");
	}
	return p->jobs->summary.fail == 0;
}

void
step_jobgate_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "running jobs: which are requeued, which would fail");
}

int
step_jobgate_run(struct plan *p, struct step_out *out)
{
	struct json_object *rq, *fl;
	unsigned nfail, nreq, waited = 0;

	sched_job_list_free(p->jobs);
	p->jobs = NULL;
	if (sched_jobs_load(p->s, 0, &p->jobs) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		journal_step_set(p->j, "jobgate", STEP_FAILED, sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	nfail = p->jobs->summary.fail;
	if (nfail > 0 && p->o->jobs == PLAN_JOBS_GATE) {
		plan_jobs_split(p->jobs, &rq, &fl);
		json_object_put(rq);
		journal_data_set(p->j, "jobs_blocking", fl);
		if (!p->ctx->json) {
			fprintf(p->out, "%u running job%s would fail if the fleet stopped now:\n",
			    nfail, nfail == 1 ? "" : "s");
			plan_print_jobs(p, p->jobs, 1);
		}
		log_warnx("cannot go on: %u running job%s would fail (--no-requeue or "
		    "interactive); run prepare-restart again with --wait-jobs to wait for them or "
		    "--force to accept the loss, or `pcm-agent abort` (the maintenance "
		    "reservation %s stays until then)", nfail, nfail == 1 ? "" : "s",
		    p->ctx->cfg.reservation_name);
		plan_out(out, STEP_FAILED, "%u jobs would fail", nfail);
		return PCM_EXIT_BLOCKED;
	}
	if (nfail > 0 && p->o->jobs == PLAN_JOBS_WAIT) {
		struct jobwait_stats stats = { 0 };
		struct wait_arg w = { p, nfail };
		struct jobwait *jw = NULL;
		long tmo = p->o->wait_timeout > 0 ? p->o->wait_timeout : p->ctx->cfg.wait_jobs_timeout;
		char d[32];
		int rc;

		plan_say(p, "    jobgate: waiting up to %s for %u job%s to end",
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
			plan_out(out, STEP_FAILED, "timed out waiting for %u jobs", w.fail);
			return PCM_EXIT_TIMEOUT;
		}
		if (rc < 0) {
			journal_step_set(p->j, "jobgate", STEP_FAILED, "wait failed");
			return PCM_EXIT_ERROR;
		}
		waited = nfail;
		plan_jset_int(p->j, "jobs_waited", waited);
	}
	plan_jobs_split(p->jobs, &rq, &fl);
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
	return plan_out(out, STEP_DONE, "%u requeued, %u waited for, %u failed (--force)",
	    nreq, waited, nfail);
}

void
step_health_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "slurmctld, partitions, nodes, compute fleet");
}

int
step_health_run(struct plan *p, struct step_out *out)
{
	struct sched_partition_list *pl = NULL;
	struct sched_node_list *nl = NULL;
	struct fleet_item it = { 0 };
	struct aws_error err = { 0 };
	unsigned reset = 0;
	int rc = PCM_EXIT_ERROR, tries;

	if (plan_open_sched(p) < 0)
		goto fail;
	/* at boot slurmctld may still be starting: one handle, polled
	 * (libslurm is opened once per process: after a request that timed
	 * out, closing and opening again would fail) */
	for (tries = 0; sched_ping(p->s) < 0; tries++) {
		if (tries >= 12) {
			log_warnx("%s", sched_strerror(p->s));
			goto fail;
		}
		sleep(5);
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
		rc = PCM_EXIT_ERROR;
		goto fail;
	}
	if (it.status == FLEET_PROTECTED)
		log_warnx("the compute fleet is PROTECTED: clustermgtd stopped launching nodes "
		    "after failures; fix them, then `pcluster update-compute-fleet --status "
		    "START_REQUESTED`");
	rc = plan_out(out, STEP_DONE, "slurmctld answers, %zu partitions, %u stuck nodes "
	    "reset, fleet %s", pl->n, reset, it.status_str);
	goto out;
fail:
	journal_step_set(p->j, "health", STEP_FAILED, p->s ? sched_strerror(p->s) : "Slurm");
out:
	sched_partition_list_free(pl);
	sched_node_list_free(nl);
	return rc;
}

const char *
step_unreserve_skip(struct plan *p)
{
	struct maintfile_error me;

	if (journal_step(p->j, "reservation") != STEP_PENDING)
		return NULL;
	/* not made by this operation (pcm-agent watch may own one of that name) */
	if (maintfile_remove(p->ctx->cfg.run_dir, &me) < 0)
		log_notice("%s", me.msg);
	return "prepare-restart made none";
}

static const char *
reservation_name(struct plan *p)
{
	const char *name = journal_data_str(p->j, "reservation");

	return name != NULL ? name : p->ctx->cfg.reservation_name;
}

void
step_unreserve_what(struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "delete the maintenance reservation %s", reservation_name(p));
}

int
step_unreserve_run(struct plan *p, struct step_out *out)
{
	const char *name = reservation_name(p);
	struct maintfile_error me;
	int deleted = 0;

	if (plan_open_sched(p) < 0)
		return PCM_EXIT_ERROR;
	if (sched_maint_end(p->s, name, &deleted) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		journal_step_set(p->j, "unreserve", STEP_FAILED, sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	if (maintfile_remove(p->ctx->cfg.run_dir, &me) < 0)
		log_notice("%s", me.msg);
	return plan_out(out, STEP_DONE, "%s %s", name, deleted ? "deleted" :
	    "was not there");
}

/* abort: the reservation this operation made, unless resume removed it */
int
step_reservation_undo(struct plan *p)
{
	int deleted = 0;

	if (journal_step(p->j, "reservation") == STEP_PENDING ||
	    plan_step_is_over(p->j, "unreserve"))
		return PCM_EXIT_OK;
	if (plan_open_sched(p) < 0 || sched_maint_end(p->s, reservation_name(p), &deleted) < 0) {
		if (p->s)
			log_warnx("%s", sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	plan_say(p, "    reservation %s %s", reservation_name(p), deleted ? "deleted" :
	    "was not there");
	return PCM_EXIT_OK;
}
