/* SPDX-License-Identifier: GPL-2.0-or-later */
/* steps.c - the tables of steps of each mode (see plan_int.h) */
#include <string.h>

#include "journal.h"
#include "plan_int.h"

#define PREPARE	PLAN_PHASE_PREPARE
#define RESUME	PLAN_PHASE_RESUME

/*
 * The standard mode: stop the compute fleet, save /scratch, restart; at the
 * boot restore /scratch, start the fleet.  Its names are plan_steps[] and,
 * skipped unless --patch, patch and patch_check (the
 * journal of every operation of this mode, also those written before the
 * table existed).
 */
static const struct plan_step standard[] = {
	{ .name = "preflight", .phase = PREPARE, .again = step_preflight_again,
	  .what = step_preflight_what, .run = step_preflight_run },
	{ .name = "prestage", .phase = PREPARE, .title = "pre-stage save",
	  .skip = step_prestage_skip, .what = step_prestage_what, .run = step_prestage_run },
	{ .name = "reservation", .phase = PREPARE, .again = step_reservation_again,
	  .what = step_reservation_what, .run = step_reservation_run,
	  .undo = step_reservation_undo },
	{ .name = "jobgate", .phase = PREPARE, .what = step_jobgate_what,
	  .run = step_jobgate_run },
	{ .name = "fleet_stop", .phase = PREPARE, .what = step_fleet_stop_what,
	  .run = step_fleet_stop_run, .undo = step_fleet_stop_undo },
	{ .name = "final_save", .phase = PREPARE, .title = "final save",
	  .skip = step_final_save_skip, .what = step_final_save_what,
	  .run = step_final_save_run },
	{ .name = "patch", .phase = PREPARE, .title = "the OS update",
	  .skip = step_patch_skip, .what = step_patch_what, .run = step_patch_run,
	  .wanted = plan_patch_wanted },
	{ .name = "restart", .phase = PREPARE, .title = "restart", .skip = step_restart_skip,
	  .pre = step_restart_pre, .what = step_restart_what, .run = step_restart_run },
	{ .name = "restore", .phase = RESUME, .title = "restore the ephemeral volume",
	  .skip = step_restore_skip, .pre = step_restore_pre, .what = step_restore_what,
	  .run = step_restore_run },
	{ .name = "health", .phase = RESUME, .what = step_health_what, .run = step_health_run },
	{ .name = "patch_check", .phase = RESUME, .title = "the kernel of the OS update",
	  .skip = step_patch_check_skip, .what = step_patch_check_what,
	  .run = step_patch_check_run, .wanted = plan_patch_wanted },
	{ .name = "fleet_start", .phase = RESUME, .title = "compute fleet",
	  .skip = step_fleet_start_skip, .what = step_fleet_start_what,
	  .run = step_fleet_start_run },
	{ .name = "unreserve", .phase = RESUME, .title = "the maintenance reservation",
	  .skip = step_unreserve_skip, .what = step_unreserve_what, .run = step_unreserve_run },
	{ .name = NULL },
};

/*
 * The keep-fleet reboot (keepfleet.c): no fleet stop, no job gate, no save
 * (a reboot keeps the instance store); the compute nodes go on running
 * their jobs while the head node is away, within computemgtd's budget.
 */
static const struct plan_step keep_fleet[] = {
	{ .name = "preflight", .phase = PREPARE, .again = kf_preflight_again,
	  .what = step_preflight_what, .run = step_preflight_run },
	{ .name = "kf_budget", .phase = PREPARE, .what = kf_budget_what, .run = kf_budget_run,
	  .undo = kf_budget_undo },
	{ .name = "reservation", .phase = PREPARE, .again = kf_reservation_again,
	  .what = step_reservation_what, .run = step_reservation_run,
	  .undo = kf_reservation_undo },
	{ .name = "kf_clustermgtd", .phase = PREPARE, .title = "clustermgtd",
	  .skip = kf_clustermgtd_skip, .what = kf_clustermgtd_what, .run = kf_clustermgtd_run,
	  .undo = kf_clustermgtd_undo },
	{ .name = "kf_record", .phase = PREPARE, .what = kf_record_what, .run = kf_record_run },
	/* the OS update while computemgtd re-reads the widened budget */
	{ .name = "patch", .phase = PREPARE, .title = "the OS update",
	  .skip = step_patch_skip, .what = step_patch_what, .run = step_patch_run,
	  .wanted = plan_patch_wanted },
	{ .name = "kf_budget_wait", .phase = PREPARE, .title = "the widened budget",
	  .skip = kf_budget_wait_skip, .what = kf_budget_wait_what, .run = kf_budget_wait_run },
	{ .name = "kf_slurmctld", .phase = PREPARE, .pre = kf_slurmctld_pre,
	  .what = kf_slurmctld_what, .run = kf_slurmctld_run, .undo = kf_slurmctld_undo },
	{ .name = "restart", .phase = PREPARE, .pre = step_restart_pre,
	  .what = step_restart_what, .run = step_restart_run },
	{ .name = "kf_wait_slurmctld", .phase = RESUME, .what = kf_wait_ctld_what,
	  .run = kf_wait_ctld_run },
	{ .name = "patch_check", .phase = RESUME, .title = "the kernel of the OS update",
	  .skip = step_patch_check_skip, .what = step_patch_check_what,
	  .run = step_patch_check_run, .wanted = plan_patch_wanted },
	{ .name = "kf_nodes", .phase = RESUME, .what = kf_nodes_what, .run = kf_nodes_run },
	{ .name = "kf_jobs", .phase = RESUME, .what = kf_jobs_what, .run = kf_jobs_run },
	{ .name = "kf_settings", .phase = RESUME, .what = kf_settings_what,
	  .run = kf_settings_run },
	{ .name = "unreserve", .phase = RESUME, .title = "the maintenance reservation",
	  .skip = step_unreserve_skip, .what = step_unreserve_what, .run = step_unreserve_run },
	{ .name = NULL },
};

static const struct {
	const char		*mode;
	const struct plan_step	*table;
} modes[] = {
	{ "standard", standard },
	{ "keep-fleet", keep_fleet },
};

const struct plan_step *
plan_table(const char *mode)
{
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(modes[i].mode, mode) == 0)
			return modes[i].table;
	return NULL;
}

const char *
plan_mode(const struct journal *j)
{
	const char *m = j ? journal_data_str(j, "mode") : NULL;

	return m != NULL ? m : "standard";
}

const char *const *
plan_table_names_for(const struct plan_step *t, struct plan *p)
{
	static const char *names[64];
	size_t n = 0;

	for (; t != NULL && t->name != NULL && n + 1 < sizeof(names) / sizeof(names[0]); t++)
		if (p == NULL || t->wanted == NULL || t->wanted(p))
			names[n++] = t->name;
	names[n] = NULL;
	return names;
}

const char *const *
plan_table_names(const struct plan_step *t)
{
	return plan_table_names_for(t, NULL);
}
