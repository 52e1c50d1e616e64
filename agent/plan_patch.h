/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan_patch.h - what the plan does for --patch and for login nodes,
 * independent of how the plan sequences its steps: the patch step and its
 * checks (patch.h does the update), the login nodes of the cluster (aws/ec2.h)
 * and the notice about them.
 *
 * Journal data written here:
 *   "patch": patch_result_json() of the update (also when it failed)
 *   "login_nodes": [ {"id", "name", "ip", "state"}, ... ]
 *
 * Functions return an enum pcm_exit and log why they failed.
 */
#ifndef PCM_PLAN_PATCH_H
#define PCM_PLAN_PATCH_H

#include <stdio.h>

#include "pcm.h"
#include "patch.h"

struct aws;
struct journal;
struct json_object;

/* The patch_cfg of the configuration (borrowed strings). */
void plan_patch_cfg(const struct pcm_config *cfg, struct patch_cfg *pc);

/* Preflight: the update can run (a known distribution or patch_command,
 * good patterns); *desc gets the commands, one a line (caller frees). */
int plan_patch_preflight(const struct pcm_config *cfg, char **desc);

/*
 * The patch step: the update, with a progress line on out every 10 s
 * (nothing when quiet), its result in the journal ("patch").  *detail gets
 * the step's one-line detail (caller frees).  PCM_EXIT_ERROR when the
 * update failed or timed out: the restart must not be requested.
 */
int plan_patch_run(const struct pcm_config *cfg, struct journal *j, FILE *out, int quiet,
    char **detail);

/* After the patch step: whether the update asks for a reboot, per the
 * journal: 1 yes, 0 no (why in buf), -1 no patch step result. */
int plan_patch_reboot_needed(const struct journal *j, char *why, size_t len);

/* At resume: the kernel the update installed against the running one; a
 * line for the summary in buf.  0 when it runs (or nothing to check), 1 when
 * an older kernel runs (the update's kernel did not boot: said loudly). */
int plan_patch_resume_check(const struct journal *j, char *buf, size_t len);

/*
 * The running login nodes of cluster (ParallelCluster 3.11+ login-node
 * pools; they mount /home and /opt/slurm from the head node): a new JSON
 * array (caller puts) of {"id", "name", "ip", "state"}, or NULL with the
 * reason logged (a missing permission or an error is a warning: the
 * restart does not depend on the list).
 */
struct json_object *plan_login_nodes(struct aws *a, const char *cluster);

/* "2 login nodes (i-0abc 10.0.0.5, i-0def 10.0.0.6): their users' shells
 * will hang ..." for the plan, the notices and the summary; NULL for an
 * empty or NULL list.  Caller frees. */
char *plan_login_notice(struct json_object *nodes);

#endif
