/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan_int.h - the plan's engine and its steps (agent/plan/, internal).
 *
 * An operation is a table of steps per mode (struct plan_step): each has a
 * name (its key in the journal), a phase (prepare or resume), a skip
 * condition, what to run and what abort undoes.  One loop, plan_run(),
 * goes through the steps of a phase: a step already over is passed (or
 * checked again by its `again` hook), a skipped one is recorded skipped,
 * the others are recorded running, run, and recorded done, with the
 * crash points of the tests (PCM_TEST_CRASH_AT=plan-STEP-begin|acted|end)
 * around them and a line each on the output.  The journal format is the
 * one of journal.h; a journal without a "mode" is an operation of the
 * standard mode (every journal written before the modes existed).
 *
 *   engine.c       the loop, the journal and output helpers, identity
 *   steps.c        the tables of steps of each mode
 *   prepare.c      prepare-restart: preflight, the dry-run plan, the summary
 *   step_save.c    prestage, final_save, restore
 *   step_slurm.c   reservation, jobgate, health, unreserve
 *   step_fleet.c   fleet_stop, fleet_start
 *   step_restart.c restart
 *   step_patch.c   patch, patch_check (--patch); the login nodes
 *   resume.c       resume;  abort.c: abort;  status.c: status
 */
#ifndef PCM_PLAN_INT_H
#define PCM_PLAN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "aws/fleet.h"
#include "journal.h"
#include "lock.h"
#include "maintfile.h"
#include "plan.h"

struct aws;
struct sched;
struct sched_job_list;
struct json_object;

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
	const struct plan_step	*steps;		/* the mode's table */
	struct json_object	*login_nodes;	/* preflight: the cluster's login nodes
						   (NULL: unknown) */
	int			 no_save;	/* --no-save, or a keep-fleet reboot */
	int			 keep_fleet;
	int			 confirmed;	/* the admin said yes to the restart */
};

enum plan_phase {
	PLAN_PHASE_PREPARE,
	PLAN_PHASE_RESUME,
};

/* What a step's run hook tells the loop. */
struct step_out {
	enum step_state	 st;		/* DONE (default), SKIPPED, FAILED: the loop records it;
					 * PENDING: the step recorded its state itself */
	char		 detail[512];
};

/* A run hook's extra return value: the step ended by itself (pre hook). */
#define PLAN_STEP_OVER	(-1)

struct plan_step {
	const char	*name;		/* the journal's key */
	enum plan_phase	 phase;
	const char	*title;		/* the line of a skipped step */
	/* NULL or the reason to skip the step (recorded skipped, not run) */
	const char	*(*skip)(struct plan *p);
	/* a step over (done, skipped) on a later run: checked again; NULL: passed */
	int		 (*again)(struct plan *p);
	/* before the step begins: PCM_EXIT_OK, PLAN_STEP_OVER (ended by itself) or an exit */
	int		 (*pre)(struct plan *p);
	/* the line that announces the step */
	void		 (*what)(struct plan *p, char *buf, size_t len);
	/* the step: an exit code; out->st and out->detail are recorded */
	int		 (*run)(struct plan *p, struct step_out *out);
	/* abort: undo what the step did (NULL: nothing to undo); an exit code */
	int		 (*undo)(struct plan *p);
	/* NULL: the step is in every journal of the mode.  Else an optional
	 * step (--patch): in the journal only when this says so (when the
	 * journal is created, or on a later run); otherwise passed silently,
	 * so that operations without it look as before */
	int		 (*wanted)(struct plan *p);
};

/* steps.c: the table of a mode ("standard" for a journal without a mode);
 * NULL for an unknown mode.  The table ends with a step without a name. */
const struct plan_step *plan_table(const char *mode);
const char *plan_mode(const struct journal *j);
/* The step names of a table, NULL-terminated, for journal_create (static).
 * With p, the optional steps p does not want are left out. */
const char *const *plan_table_names(const struct plan_step *t);
const char *const *plan_table_names_for(const struct plan_step *t, struct plan *p);

/* engine.c */
int plan_run(struct plan *p, enum plan_phase phase);
int plan_undo(struct plan *p);
int plan_out(struct step_out *out, enum step_state st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

double plan_now(void);
void plan_say(struct plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void plan_crashpoint(const char *step, const char *where);
void plan_boot_id(char *buf, size_t len);
int plan_jset_str(struct journal *j, const char *key, const char *val);
int plan_jset_int(struct journal *j, const char *key, int64_t v);
int plan_jset_double(struct journal *j, const char *key, double v);
int64_t plan_jget_int(struct journal *j, const char *key, int64_t dflt);
double plan_jget_double(struct journal *j, const char *key);
void plan_jadd_int(struct journal *j, const char *key, int64_t add);
int plan_step_is_over(struct journal *j, const char *step);
int plan_step_begin(struct plan *p, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int plan_step_end(struct plan *p, const char *step, enum step_state st, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void plan_maint_phase(struct plan *p, enum maint_phase ph);
void plan_free(struct plan *p);
int plan_open_sched(struct plan *p);
int plan_open_aws(struct plan *p);
int plan_identify(struct plan *p);
void plan_jobs_split(const struct sched_job_list *l, struct json_object **requeue,
    struct json_object **fail);
void plan_print_jobs(struct plan *p, const struct sched_job_list *l, int fail_only);
int plan_open_journal(struct plan *p, const char *trigger, const char *mode);
int plan_take_lock(struct pcm_ctx *ctx, struct pcm_lock *lk, const char *what);

/* The standard mode's steps (step_*.c), for the tables of every mode. */
const char *step_prestage_skip(struct plan *p);
void step_prestage_what(struct plan *p, char *buf, size_t len);
int step_prestage_run(struct plan *p, struct step_out *out);
int step_reservation_again(struct plan *p);
void step_reservation_what(struct plan *p, char *buf, size_t len);
int step_reservation_run(struct plan *p, struct step_out *out);
int step_reservation_undo(struct plan *p);
void step_jobgate_what(struct plan *p, char *buf, size_t len);
int step_jobgate_run(struct plan *p, struct step_out *out);
void step_fleet_stop_what(struct plan *p, char *buf, size_t len);
int step_fleet_stop_run(struct plan *p, struct step_out *out);
int step_fleet_stop_undo(struct plan *p);
const char *step_final_save_skip(struct plan *p);
void step_final_save_what(struct plan *p, char *buf, size_t len);
int step_final_save_run(struct plan *p, struct step_out *out);
int step_restart_pre(struct plan *p);
void step_restart_what(struct plan *p, char *buf, size_t len);
int step_restart_run(struct plan *p, struct step_out *out);
const char *step_restore_skip(struct plan *p);
int step_restore_pre(struct plan *p);
void step_restore_what(struct plan *p, char *buf, size_t len);
int step_restore_run(struct plan *p, struct step_out *out);
void step_health_what(struct plan *p, char *buf, size_t len);
int step_health_run(struct plan *p, struct step_out *out);
const char *step_fleet_start_skip(struct plan *p);
void step_fleet_start_what(struct plan *p, char *buf, size_t len);
int step_fleet_start_run(struct plan *p, struct step_out *out);
const char *step_unreserve_skip(struct plan *p);
void step_unreserve_what(struct plan *p, char *buf, size_t len);
int step_unreserve_run(struct plan *p, struct step_out *out);
/* step_patch.c: --patch (the OS update, the restart skipped when no reboot
 * is needed, the kernel check of resume) and the login nodes of preflight */
int plan_patch_wanted(struct plan *p);
const char *step_patch_skip(struct plan *p);
void step_patch_what(struct plan *p, char *buf, size_t len);
int step_patch_run(struct plan *p, struct step_out *out);
const char *step_restart_skip(struct plan *p);
const char *step_patch_check_skip(struct plan *p);
void step_patch_check_what(struct plan *p, char *buf, size_t len);
int step_patch_check_run(struct plan *p, struct step_out *out);
void plan_login_preflight(struct plan *p);
/* "" or " " + the login-node notice of the journal (or preflight), for
 * messages (static buffer) */
const char *plan_login_message(struct plan *p);
/* prepare.c */
int step_preflight_again(struct plan *p);
void step_preflight_what(struct plan *p, char *buf, size_t len);
int step_preflight_run(struct plan *p, struct step_out *out);
/* step_restart.c: the admin's yes to the restart (asked once; 1 yes) */
int step_restart_confirm(struct plan *p);

/* keepfleet.c: the keep-fleet reboot */
int kf_preflight_again(struct plan *p);
int kf_reservation_again(struct plan *p);
int kf_reservation_undo(struct plan *p);
void kf_budget_what(struct plan *p, char *buf, size_t len);
void kf_budget_preview(struct plan *p, char *buf, size_t len, struct json_object *o);
int kf_budget_run(struct plan *p, struct step_out *out);
int kf_budget_undo(struct plan *p);
const char *kf_clustermgtd_skip(struct plan *p);
void kf_clustermgtd_what(struct plan *p, char *buf, size_t len);
int kf_clustermgtd_run(struct plan *p, struct step_out *out);
int kf_clustermgtd_undo(struct plan *p);
void kf_record_what(struct plan *p, char *buf, size_t len);
int kf_record_run(struct plan *p, struct step_out *out);
const char *kf_budget_wait_skip(struct plan *p);
void kf_budget_wait_what(struct plan *p, char *buf, size_t len);
int kf_budget_wait_run(struct plan *p, struct step_out *out);
int kf_slurmctld_pre(struct plan *p);
void kf_slurmctld_what(struct plan *p, char *buf, size_t len);
int kf_slurmctld_run(struct plan *p, struct step_out *out);
int kf_slurmctld_undo(struct plan *p);
void kf_wait_ctld_what(struct plan *p, char *buf, size_t len);
int kf_wait_ctld_run(struct plan *p, struct step_out *out);
void kf_nodes_what(struct plan *p, char *buf, size_t len);
int kf_nodes_run(struct plan *p, struct step_out *out);
void kf_jobs_what(struct plan *p, char *buf, size_t len);
int kf_jobs_run(struct plan *p, struct step_out *out);
void kf_settings_what(struct plan *p, char *buf, size_t len);
int kf_settings_run(struct plan *p, struct step_out *out);
void kf_summary(struct plan *p, char *buf, size_t len);

/* pcconf.c: one key of a ParallelCluster daemon config (ConfigParser file).
 * get: 1 found (value in val), 0 not there, -ENOENT no file, -EPERM not
 * root's or writable by others, -EINVAL not a regular file, -errno.
 * set: val NULL removes the key; atomic, owner and mode kept; 0 or -errno. */
int pcconf_get(const char *path, const char *section, const char *key, char *val,
    size_t vlen);
int pcconf_set(const char *path, const char *section, const char *key, const char *val);

/* step_save.c: XXH3-128 of SAVEDIR/MANIFEST (32 hex digits); 0 or -errno */
int plan_manifest_sum(const char *savedir, char *hex, size_t len);

#endif
