/* SPDX-License-Identifier: GPL-2.0-or-later */
/* step_fleet.c - the compute fleet: fleet_stop, fleet_start (see plan_int.h) */
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

static void
fleet_progress(const struct fleet_item *now, long elapsed_s, void *arg)
{
	struct plan *p = arg;
	static char last[32];

	if (strcmp(last, now->status_str) != 0) {
		snprintf(last, sizeof(last), "%s", now->status_str);
		plan_say(p, "    fleet: %s after %ld s", now->status_str, elapsed_s);
	}
}

void
step_fleet_stop_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "compute fleet STOP_REQUESTED, wait for STOPPED");
}

int
step_fleet_stop_run(struct plan *p, struct step_out *out)
{
	struct aws_error err = { 0 };
	struct fleet_item before = { 0 }, last = { 0 };
	enum fleet_outcome outcome = FLEET_ALREADY;
	int rc;

	/* what the fleet was before: recorded once, before anything is written */
	if (journal_data(p->j, "fleet_before") == NULL) {
		if ((rc = fleet_get(p->a, p->table, &before, &err)) != AWS_OK) {
			log_warnx("cannot read the compute fleet status: %s%s", err.message,
			    aws_hint(rc));
			journal_step_set(p->j, "fleet_stop", STEP_FAILED, err.message);
			return aws_rc_exit(rc);
		}
		plan_jset_str(p->j, "fleet_before", before.status_str);
		plan_jset_int(p->j, "fleet_stopped_by_agent", before.status == FLEET_RUNNING);
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
		plan_jadd_int(p->j, "fleet_stop_writes", 1);
	plan_crashpoint("fleet_stop", "requested");
	rc = fleet_wait(p->a, p->table, FLEET_STOP, p->ctx->cfg.fleet_timeout, aws_poll_ms(),
	    fleet_progress, p, &last, &err);
	if (rc != AWS_OK) {
		log_warnx("the compute fleet did not stop: %s (is clusterstatusmgtd running? "
		    "`systemctl status supervisord`)", err.message);
		journal_step_set(p->j, "fleet_stop", STEP_FAILED, err.message);
		return aws_rc_exit(rc);
	}
	if (plan_jget_double(p->j, "fleet_stopped_at") == 0)
		plan_jset_double(p->j, "fleet_stopped_at", plan_now());
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
	return plan_out(out, STEP_DONE, "STOPPED (was %s)",
	    journal_data_str(p->j, "fleet_before"));
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
	if (plan_open_sched(p) == 0 && sched_partitions_load(p->s, &pl) == 0) {
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

const char *
step_fleet_start_skip(struct plan *p)
{
	if (plan_jget_int(p->j, "fleet_stopped_by_agent", 0))
		return NULL;
	return journal_data_str(p->j, "fleet_before") != NULL ?
	    "the fleet was not RUNNING before prepare-restart: left as it is" :
	    "the fleet was not stopped";
}

void
step_fleet_start_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "compute fleet START_REQUESTED, wait for RUNNING");
}

int
step_fleet_start_run(struct plan *p, struct step_out *out)
{
	int rc;

	if ((rc = fleet_start(p, "fleet_start")) != PCM_EXIT_OK)
		return rc;
	return plan_out(out, STEP_DONE, "RUNNING");
}

/* abort: start the fleet this operation stopped, unless resume started it */
int
step_fleet_stop_undo(struct plan *p)
{
	int rc;

	if (!plan_jget_int(p->j, "fleet_stopped_by_agent", 0) ||
	    plan_step_is_over(p->j, "fleet_start"))
		return PCM_EXIT_OK;
	plan_say(p, "==> fleet: START_REQUESTED, wait for RUNNING (the agent stopped it)");
	if ((rc = fleet_start(p, "fleet_start")) != PCM_EXIT_OK)
		return rc;
	plan_say(p, "    fleet: RUNNING");
	return PCM_EXIT_OK;
}
