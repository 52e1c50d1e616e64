/* SPDX-License-Identifier: GPL-2.0-or-later */
/* resume.c - resume after the restart (see plan_int.h) */
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
	    restored ? restored : "not saved", plan_step_is_over(p->j, "fleet_start") &&
	    journal_step(p->j, "fleet_start") == STEP_DONE ? "started" : "left as it was", n,
	    running, pending);
	/* --patch: what the OS update did and which kernel runs */
	if (journal_step(p->j, "patch_check") == STEP_DONE) {
		size_t k = strlen(buf);
		snprintf(buf + k, len - k, "; OS update: %s",
		    journal_step_detail(p->j, "patch_check") ? journal_step_detail(p->j,
		    "patch_check") : "?");
	}
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
			plan_say(&p, "nothing to resume (no operation in %s)", ctx->cfg.state_dir);
		}
		return PCM_EXIT_OK;
	}
	journal_free(p.j);
	p.j = NULL;
	if ((rc = plan_take_lock(ctx, &lk, "resume")) != 0)
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
	if ((p.steps = plan_table(plan_mode(p.j))) == NULL) {
		log_warnx("cannot resume operation %s: its mode %s is unknown to this version "
		    "(run the version that started it)", journal_id(p.j), plan_mode(p.j));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	plan_boot_id(boot, sizeof(boot));
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
	plan_say(&p, "operation %s: resume", journal_id(p.j));
	if (strcmp(journal_phase(p.j), "resume") != 0)
		journal_set_phase(p.j, "resume");
	plan_maint_phase(&p, MAINT_PHASE_RESUMING);
	if (plan_identify(&p) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if ((rc = plan_run(&p, PLAN_PHASE_RESUME)) != PCM_EXIT_OK)
		goto out;
	if (strcmp(plan_mode(p.j), "keep-fleet") == 0)
		kf_summary(&p, msg, sizeof(msg));
	else
		resume_summary(&p, msg, sizeof(msg));
	if (ctx->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "resumed", json_object_new_boolean(1));
		json_object_object_add(o, "journal", json_object_get(journal_json(p.j)));
		json_object_object_add(o, "summary", json_object_new_string(msg));
		output_json(o);
		json_object_put(o);
	} else {
		plan_say(&p, "summary: %s", msg + strlen("pcm-agent: "));
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
