/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan.h - prepare-restart, resume and abort: the one module that knows
 * Slurm (sched/), the storage engine (storage/) and AWS (aws/).
 *
 * The procedure is a list of steps kept in the journal (journal.h); each
 * step is recorded running before it starts and done (or failed, skipped)
 * after, and each is idempotent, so running prepare-restart again after a
 * crash continues at the first step not done.  What must never happen
 * twice is recorded before it is done and checked with the service after:
 *   - the fleet stop: the status before is recorded once; the conditional
 *     write (fleet_request) writes nothing when a stop is already requested,
 *     under way or done;
 *   - the restart request: the request time, boot id and (stop-start) the
 *     SSM ClientToken are recorded first; a later run that finds the step
 *     started checks the boot id and the SSM execution, asks SSM again
 *     only with the same ClientToken (SSM answers with the execution it
 *     already started), and never asks for a reboot twice.
 *
 * Prepare steps: preflight prestage reservation jobgate fleet_stop
 * final_save patch restart.  Resume steps: restore health patch_check
 * fleet_start unreserve.  (patch and patch_check: --patch only; plan_steps[]
 * lists the steps of the journals written before they existed.)
 * The code is in agent/plan/: each mode is a table of steps run by one
 * loop (agent/plan/plan_int.h).
 *
 * Every function returns an enum pcm_exit and logs why it failed.
 */
#ifndef PCM_PLAN_H
#define PCM_PLAN_H

#include "pcm.h"

enum plan_method {
	PLAN_METHOD_CONFIG = 0,	/* restart_method of the config */
	PLAN_METHOD_NONE,	/* print the command for the admin */
	PLAN_METHOD_REBOOT,	/* EC2 RebootInstances on itself */
	PLAN_METHOD_STOP_START,	/* SSM AWS-RestartEC2Instance */
};

enum plan_jobs {
	PLAN_JOBS_GATE = 0,	/* jobs that would fail: stop, exit 3 */
	PLAN_JOBS_WAIT,		/* wait for them to end (exit 4 on timeout) */
	PLAN_JOBS_FORCE,	/* go on: they fail, named in the log and journal */
};

struct plan_opts {
	enum plan_method method;
	enum plan_jobs	 jobs;
	long		 wait_timeout;	/* seconds; 0: wait_jobs_timeout of the config */
	int		 no_save;
	const char	*target;	/* NULL: config / first candidate mount */
	int		 dry_run;
	int		 yes;		/* no confirmation before the restart */
	int		 patch;		/* --patch: the OS update before the restart */
	const char	*trigger;	/* NULL: "manual"; else an EC2 EventId */
	int		 keep_fleet;	/* --keep-fleet: reboot with the fleet and jobs running */
};

/* "none", "reboot", "stop-start"; PLAN_METHOD_CONFIG for anything else. */
enum plan_method plan_method_parse(const char *s);
const char *plan_method_name(enum plan_method m);

/* The journal's step names of the standard mode, in order (static, NULL-terminated). */
extern const char *const plan_steps[];

int plan_prepare(struct pcm_ctx *ctx, const struct plan_opts *o);

struct plan_resume_opts {
	int	force;		/* resume even when the restart asked for has not happened */
};
/* Safe at every boot: no journal -> PCM_EXIT_OK at once. */
int plan_resume(struct pcm_ctx *ctx, const struct plan_resume_opts *o);

/* The seconds an instance type adds to the first-use outage estimate of a
 * keep-fleet reboot (the table is in plan/keepfleet.c): 900 for a *.metal*
 * type, 600 for a high-memory one (u-*, u7*, x1*, x2i*), else 0; *what (may
 * be NULL) names the kind, a static string, NULL for 0.  Pure. */
long plan_instance_reboot_extra(const char *type, const char **what);

/* Undo what was done (reservation, fleet stop); keeps the save. */
int plan_abort(struct pcm_ctx *ctx);

/* For `pcm-agent status`: the open journal (a new reference, the caller
 * puts it), NULL when no operation is in progress, {"error": MSG} when it
 * cannot be read (*bad = 1 after a warning); and its one-line summary on
 * stdout. */
struct json_object;
struct json_object *plan_status_json(const struct pcm_config *cfg, int *bad);
void plan_status_print(struct json_object *o);

#endif
