/* SPDX-License-Identifier: GPL-2.0-or-later */
/* abort.c - abort: undo what the steps did, keep the save (see plan_int.h) */
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
#include "patch.h"
#include "plan_int.h"
#include "sched/sched.h"
#include "storage.h"

int
plan_abort(struct pcm_ctx *ctx)
{
	struct plan p = { .ctx = ctx };
	struct pcm_lock lk = { .fd = -1 };
	struct maintfile_error me;
	char boot[64];
	const char *jboot;
	pid_t pg;
	int rc;

	p.out = ctx->json ? stderr : stdout;
	if ((rc = plan_take_lock(ctx, &lk, "abort")) != 0)
		return rc;
	rc = journal_load(ctx->cfg.state_dir, &p.j);
	if (rc == -ENOENT) {
		plan_say(&p, "nothing to abort (no operation in %s)", ctx->cfg.state_dir);
		rc = PCM_EXIT_OK;
		goto out;
	}
	if (rc < 0) {
		log_warnx("cannot read the journal in %s: %s", ctx->cfg.state_dir, strerror(-rc));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	plan_say(&p, "operation %s: abort (the save is kept)", journal_id(p.j));
	if ((pg = patch_running(ctx->cfg.state_dir)) != 0)
		log_warnx("the OS update a killed pcm-agent started (process group %d) still "
		    "runs: abort does not stop it (a package manager stopped in the middle can "
		    "leave the package database broken); the next --patch waits for it", (int)pg);
	plan_boot_id(boot, sizeof(boot));
	jboot = journal_data_str(p.j, "restart_boot_id");
	if (jboot != NULL && strcmp(jboot, boot) == 0)
		log_warnx("a %s was requested at %s: abort cannot cancel it",
		    journal_data_str(p.j, "restart_method"),
		    journal_data_str(p.j, "restart_requested_iso"));
	if (plan_identify(&p) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if ((p.steps = plan_table(plan_mode(p.j))) == NULL) {
		log_warnx("cannot abort operation %s: its mode %s is unknown to this version "
		    "(run the version that started it)", journal_id(p.j), plan_mode(p.j));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	/* the undo hooks in the order of the table: the reservation, then the fleet */
	if ((rc = plan_undo(&p)) != PCM_EXIT_OK)
		goto out;
	if (maintfile_remove(ctx->cfg.run_dir, &me) < 0)
		log_notice("%s", me.msg);
	if ((rc = journal_close(p.j, "aborted")) < 0) {
		log_warnx("cannot close the journal: %s", strerror(-rc));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	plan_say(&p, "aborted; the save (if any) is kept");
	rc = PCM_EXIT_OK;
out:
	plan_free(&p);
	lock_release(&lk);
	return rc;
}
