/* SPDX-License-Identifier: GPL-2.0-or-later */
/* step_restart.c - the restart request, never asked twice (see plan_int.h) */
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

int
step_restart_confirm(struct plan *p)
{
	char line[32];

	if (p->confirmed || p->o->yes || !isatty(STDIN_FILENO) || p->method == PLAN_METHOD_NONE)
		return 1;
	fprintf(stderr, "restart the head node %s now (%s)? [y/N] ", p->instance,
	    plan_method_name(p->method));
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	p->confirmed = line[0] == 'y' || line[0] == 'Y';
	return p->confirmed;
}

static void
print_next_command(struct plan *p)
{
	const char *region = aws_region(p->a, NULL);

	plan_say(p, "    restart: not requested (--no-restart). The cluster is ready; restart the head "
	    "node with one of:");
	plan_say(p, "      sudo reboot                      (a reboot keeps %s)", p->eph);
	plan_say(p, "      aws ssm start-automation-execution --document-name %s --parameters "
	    "InstanceId=%s%s%s", SSM_RESTART_DOCUMENT, p->instance, region ? " --region " : "",
	    region ? region : "");
	plan_say(p, "      pcm-agent restart-head-node --cluster-name %s%s%s   (from an admin's machine)",
	    p->cluster, region ? " --region " : "", region ? region : "");
	plan_say(p, "    then `pcm-agent resume` runs at boot (or run it by hand).");
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

/*
 * Before the restart step begins: a request recorded by an interrupted run
 * is checked, never made twice (PLAN_STEP_OVER when that settles the step),
 * and the admin confirms.
 */
int
step_restart_pre(struct plan *p)
{
	struct aws_error err = { 0 };
	char boot[64];
	const char *jboot, *jexec;
	enum step_state st = journal_step(p->j, "restart");

	plan_boot_id(boot, sizeof(boot));
	if (st == STEP_RUNNING && journal_data(p->j, "restart_requested_at") != NULL) {
		/* asked before and then interrupted: never ask twice */
		enum plan_method m = plan_method_parse(journal_data_str(p->j, "restart_method"));

		plan_say(p, "==> restart: a %s was requested before this run: checking", plan_method_name(m));
		jboot = journal_data_str(p->j, "restart_boot_id");
		if (jboot != NULL && strcmp(jboot, boot) != 0) {
			plan_step_end(p, "restart", STEP_DONE, "the head node restarted since the request: "
			    "run `pcm-agent resume`");
			return PLAN_STEP_OVER;
		}
		if (m == PLAN_METHOD_STOP_START && (jexec = journal_data_str(p->j, "ssm_execution"))) {
			struct ssm_execution ex = { 0 };

			if (ssm_get_execution(p->a, jexec, &ex, &err) != AWS_OK) {
				log_warnx("cannot read SSM execution %s: %s (run prepare-restart "
				    "again)", jexec, err.message);
				return aws_rc_exit(err.http_status ? AWS_E_SERVICE : AWS_E_TRANSPORT);
			}
			if (!ex.done || ex.success) {
				plan_step_end(p, "restart", STEP_DONE, "SSM execution %s is %s", jexec,
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
				plan_step_end(p, "restart", STEP_DONE, "under way (instance %s)", state);
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
			plan_step_end(p, "restart", STEP_DONE, "reboot requested before, not confirmed");
			return PLAN_STEP_OVER;
		}
		journal_step_set(p->j, "restart", STEP_PENDING, NULL);
	}
	if (!step_restart_confirm(p)) {
		log_warnx("restart not confirmed: the cluster stays prepared (run prepare-restart "
		    "again to restart, or `pcm-agent abort` to undo)");
		return PCM_EXIT_ERROR;
	}
	return PCM_EXIT_OK;
}

void
step_restart_what(struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s", p->method == PLAN_METHOD_REBOOT ? "EC2 RebootInstances" :
	    p->method == PLAN_METHOD_STOP_START ? "SSM AWS-RestartEC2Instance (stop, then start)" :
	    "none requested (--no-restart)");
}

int
step_restart_run(struct plan *p, struct step_out *out)
{
	struct aws_error err = { 0 };
	char boot[64], *exec = NULL;
	int rc;

	plan_boot_id(boot, sizeof(boot));
	plan_maint_phase(p, MAINT_PHASE_UNDER_WAY);
	if (p->method == PLAN_METHOD_NONE) {
		print_next_command(p);
		plan_jset_str(p->j, "restart_method", "none");
		return plan_out(out, STEP_DONE, "left to the administrator");
	}
	/* recorded before it is asked: a rerun must not ask again */
	{
		char iso[32];
		double t = plan_now();

		plan_jset_str(p->j, "restart_method", plan_method_name(p->method));
		plan_jset_str(p->j, "restart_boot_id", boot);
		if (p->method == PLAN_METHOD_STOP_START &&
		    journal_data_str(p->j, "ssm_client_token") == NULL) {
			char token[40];

			if ((rc = ssm_client_token_new(token, sizeof(token))) < 0) {
				log_warnx("cannot make an SSM ClientToken: %s", strerror(-rc));
				return PCM_EXIT_ERROR;
			}
			plan_jset_str(p->j, "ssm_client_token", token);
		}
		plan_jset_str(p->j, "restart_requested_iso", output_iso8601((time_t)t, iso, sizeof(iso)));
		plan_jset_double(p->j, "restart_requested_at", t);
		journal_copy_to(p->j, p->savedir ? p->savedir : p->ctx->cfg.state_dir);
	}
	plan_crashpoint("restart", "recorded");
	if (p->method == PLAN_METHOD_REBOOT)
		rc = ec2_reboot_instance(p->a, p->instance, 0, &err);
	else
		rc = ssm_restart_instance_token(p->a, p->instance, p->ctx->cfg.ssm_assume_role,
		    journal_data_str(p->j, "ssm_client_token"), &exec, &err);
	plan_crashpoint("restart", "sent");
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
		plan_jset_str(p->j, "ssm_execution", exec);
	plan_out(out, STEP_DONE, "%s requested%s%s", plan_method_name(p->method),
	    exec ? ": SSM execution " : "", exec ? exec : "");
	free(exec);
	return PCM_EXIT_OK;
}
