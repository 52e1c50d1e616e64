/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * step_patch.c - the steps of --patch (the OS update; the restart skipped
 * when no reboot is needed; resume's kernel check) and the login nodes of
 * preflight (see plan_int.h; the work is in plan_patch.c and patch.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "plan_int.h"
#include "plan_patch.h"

int
plan_patch_wanted(struct plan *p)
{
	if (p->o != NULL && p->o->patch)
		return 1;
	if (p->ctx->cfg.patch)
		return 1;
	return p->j != NULL && plan_jget_int(p->j, "patch_requested", 0) == 1;
}

const char *
step_patch_skip(struct plan *p)
{
	return plan_patch_wanted(p) ? NULL : "not asked for (--patch, patch = yes)";
}

void
step_patch_what(struct plan *p, char *buf, size_t len)
{
	struct patch_cfg pc;
	char *desc;

	plan_patch_cfg(&p->ctx->cfg, &pc);
	if ((desc = patch_describe(&pc, NULL)) == NULL) {
		snprintf(buf, len, "the OS update");
		return;
	}
	for (char *s = desc; *s; s++)
		if (*s == '\n')
			*s = s[1] ? ';' : '\0';
	snprintf(buf, len, "the OS update: %s", desc);
	free(desc);
}

int
step_patch_run(struct plan *p, struct step_out *out)
{
	char *detail = NULL;
	int rc = plan_patch_run(&p->ctx->cfg, p->j, p->out, p->ctx->verbose < 0, &detail);

	plan_out(out, rc == PCM_EXIT_OK ? STEP_DONE : STEP_FAILED, "%s", detail ? detail : "");
	free(detail);
	if (rc != PCM_EXIT_OK)
		plan_say(p, "the restart is not requested after a failed OS update: fix it and run "
		    "prepare-restart again, or `pcm-agent abort`");
	return rc;
}

const char *
step_restart_skip(struct plan *p)
{
	static char why[640];
	char r[256];

	if (p->j == NULL || !plan_patch_wanted(p) || journal_step(p->j, "patch") != STEP_DONE)
		return NULL;
	if (p->o->method == PLAN_METHOD_REBOOT || p->o->method == PLAN_METHOD_STOP_START)
		return NULL;	/* asked for: done whatever the update says */
	if (plan_patch_reboot_needed(p->j, r, sizeof(r)) != 0)
		return NULL;
	snprintf(why, sizeof(why), "no reboot needed after the OS update (%s); run `pcm-agent "
	    "resume` now to end the maintenance", r);
	return why;
}

const char *
step_patch_check_skip(struct plan *p)
{
	struct json_object *r = journal_data(p->j, "patch");

	return r == NULL ? "no OS update in this operation" : NULL;
}

void
step_patch_check_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "the kernel the OS update installed");
}

int
step_patch_check_run(struct plan *p, struct step_out *out)
{
	char line[512];

	plan_patch_resume_check(p->j, line, sizeof(line));
	return plan_out(out, STEP_DONE, "%s", line[0] ? line : "no kernel installed by the update");
}

void
plan_login_preflight(struct plan *p)
{
	char *notice;

	json_object_put(p->login_nodes);
	p->login_nodes = plan_login_nodes(p->a, p->cluster);
	if (p->login_nodes == NULL)
		return;
	if (p->j != NULL)
		journal_data_set(p->j, "login_nodes", json_object_get(p->login_nodes));
	/* a dry run says it in the plan */
	if (p->j != NULL && (notice = plan_login_notice(p->login_nodes)) != NULL) {
		plan_say(p, "    preflight: %s", notice);
		free(notice);
	}
}

const char *
plan_login_message(struct plan *p)
{
	static char buf[2048];
	struct json_object *nodes = p->login_nodes;
	char *notice;

	if (nodes == NULL && p->j != NULL)
		nodes = journal_data(p->j, "login_nodes");
	buf[0] = '\0';
	if ((notice = plan_login_notice(nodes)) != NULL) {
		snprintf(buf, sizeof(buf), " On the %s.", notice);
		free(notice);
	}
	return buf;
}
