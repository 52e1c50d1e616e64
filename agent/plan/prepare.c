/* SPDX-License-Identifier: GPL-2.0-or-later */
/* prepare.c - prepare-restart: preflight, the dry-run plan, the loop, the summary (see plan_int.h) */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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
#include "plan_patch.h"
#include "sched/sched.h"
#include "storage.h"

static int
dir_is_empty(const char *path)
{
	struct dirent *de;
	DIR *d;
	int empty = 1;

	if ((d = opendir(path)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "lost+found") == 0)
			continue;
		empty = 0;
		break;
	}
	closedir(d);
	return empty;
}

static int
preflight(struct plan *p)
{
	struct pcm_config *cfg = &p->ctx->cfg;
	struct aws_error err = { 0 };
	struct statvfs sv;
	struct stat st;
	int rc;

	if (plan_identify(p) < 0)
		return PCM_EXIT_ERROR;
	/* Slurm */
	if (plan_open_sched(p) < 0)
		return PCM_EXIT_ERROR;
	if (sched_ping(p->s) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	sched_job_list_free(p->jobs);
	p->jobs = NULL;
	if (sched_jobs_load(p->s, 0, &p->jobs) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		return PCM_EXIT_ERROR;
	}
	/* the fleet item, and that we may write it (keep-fleet: the fleet is not touched) */
	if (p->keep_fleet) {
		snprintf(p->fleet.status_str, sizeof(p->fleet.status_str), "not touched");
	} else if ((rc = fleet_get(p->a, p->table, &p->fleet, &err)) != AWS_OK) {
		log_warnx("cannot read the compute fleet status: %s%s", err.message, aws_hint(rc));
		return aws_rc_exit(rc);
	}
	if (!p->keep_fleet && p->fleet.status == FLEET_PROTECTED) {
		log_warnx("cannot stop the compute fleet: it is PROTECTED (clustermgtd found "
		    "repeated launch failures; fix them and set it RUNNING with `pcluster "
		    "update-compute-fleet --status START_REQUESTED`)");
		return PCM_EXIT_ERROR;
	}
	if (!p->keep_fleet &&
	    (p->fleet.status == FLEET_START_REQUESTED || p->fleet.status == FLEET_STARTING)) {
		log_warnx("cannot stop the compute fleet: a start is in progress (%s); wait "
		    "until it is RUNNING and run prepare-restart again", p->fleet.status_str);
		return PCM_EXIT_ERROR;
	}
	if (!p->keep_fleet &&
	    (rc = fleet_check_write(p->a, p->table, p->fleet.legacy, &err)) != AWS_OK) {
		log_warnx("cannot write the compute fleet status in %s: %s%s", p->table,
		    err.message, aws_hint(rc));
		return aws_rc_exit(rc);
	}
	/* the restart method's permission, without side effects; once per operation */
	if (p->j != NULL && plan_step_is_over(p->j, "preflight") &&
	    plan_method_parse(journal_data_str(p->j, "method")) == p->method) {
		log_debug("permissions of the %s restart checked by an earlier run",
		    plan_method_name(p->method));
	} else if (p->method == PLAN_METHOD_REBOOT) {
		if ((rc = ec2_reboot_instance(p->a, p->instance, 1, &err)) != AWS_OK) {
			log_warnx("cannot reboot instance %s: %s%s", p->instance, err.message,
			    aws_hint(rc));
			return aws_rc_exit(rc);
		}
	} else if (p->method == PLAN_METHOD_STOP_START) {
		const char *denied = NULL;

		if ((rc = ssm_check_permissions(p->a, &denied, &err)) != AWS_OK) {
			log_warnx("cannot restart instance %s through SSM: %s%s%s%s", p->instance,
			    denied ? denied : "", denied ? " denied: " : "", err.message,
			    aws_hint(rc));
			return aws_rc_exit(rc);
		}
	}
	/* the OS update can be planned; the login nodes (a warning when unknown) */
	if (plan_patch_wanted(p)) {
		char *desc = NULL;

		if ((rc = plan_patch_preflight(cfg, &desc)) != PCM_EXIT_OK)
			return rc;
		free(desc);
		plan_jset_int(p->j, "patch_requested", 1);
	}
	plan_login_preflight(p);
	/* storage */
	p->eph = cfg->ephemeral_dir;
	if (p->no_save)
		return PCM_EXIT_OK;
	if (stat(p->eph, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_warnx("cannot save %s: it is not a directory (set ephemeral_dir, or use "
		    "--no-save when there is no ephemeral volume)", p->eph);
		return PCM_EXIT_ERROR;
	}
	if ((rc = dir_is_empty(p->eph)) < 0) {
		log_warnx("cannot read %s: %s", p->eph, strerror(-rc));
		return PCM_EXIT_ERROR;
	}
	p->eph_empty = rc;
	if (statvfs(p->eph, &sv) == 0)
		p->eph_used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
	if (p->target == NULL) {
		const char *jt = p->j ? journal_data_str(p->j, "target") : NULL;

		if (jt != NULL)
			p->target = strdup(jt);
		else if (storage_pick_target(p->ctx, p->o->target, p->eph_used, &p->target) != 0)
			return PCM_EXIT_ERROR;
	}
	if (stat(p->target, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_warnx("cannot save to %s: it is not a directory (give --target DIR or set "
		    "target in the config)", p->target);
		return PCM_EXIT_ERROR;
	}
	if (p->savedir == NULL && p->j != NULL && journal_data_str(p->j, "savedir") != NULL)
		p->savedir = strdup(journal_data_str(p->j, "savedir"));	/* the first run's */
	if (p->savedir == NULL && (p->savedir = storage_savedir(p->ctx, p->target)) == NULL)
		return PCM_EXIT_ERROR;
	if (statvfs(p->target, &sv) == 0) {
		struct stor_save_info info;
		uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;

		if ((stor_save_info(p->savedir, &info) < 0 || !info.complete) &&
		    avail < p->eph_used) {
			char b1[32], b2[32];

			log_warnx("cannot save %s to %s: %s free, %s needed (choose another target "
			    "with --target, or free space)", p->eph, p->target,
			    output_bytes(avail, b1, sizeof(b1)), output_bytes(p->eph_used, b2, sizeof(b2)));
			return PCM_EXIT_ERROR;
		}
	}
	return PCM_EXIT_OK;
}

/* the dry-run lines of the OS update and of the login nodes; pad widens the
 * name column (the keep-fleet plan's is 3 wider) */
static void
print_patch_plan(struct plan *p, int pad)
{
	struct pcm_config *cfg = &p->ctx->cfg;
	struct patch_cfg pc;
	char *desc, *save = NULL, d[32];

	if (!plan_patch_wanted(p))
		return;
	plan_patch_cfg(cfg, &pc);
	desc = patch_describe(&pc, NULL);
	printf("    patch        %*sthe OS update (log %s/" PATCH_LOG_NAME ", timeout %s):\n",
	    pad, "", cfg->state_dir, format_duration(cfg->patch_timeout, d, sizeof(d)));
	for (char *l = desc ? strtok_r(desc, "\n", &save) : NULL; l;
	    l = strtok_r(NULL, "\n", &save))
		printf("                 %*s  %s\n", pad, "", l);
	printf("                 %*sno restart if it fails%s\n", pad, "", p->o->method ==
	    PLAN_METHOD_REBOOT || p->o->method == PLAN_METHOD_STOP_START ? "" :
	    "; none either when no reboot is needed");
	free(desc);
}

static void
print_login_plan(struct plan *p, int pad)
{
	char *notice;

	if (p->login_nodes == NULL) {
		printf("    login nodes  %*sunknown (see the warning)\n", pad, "");
	} else if (json_object_array_length(p->login_nodes) == 0) {
		printf("    login nodes  %*snone\n", pad, "");
	} else {
		notice = plan_login_notice(p->login_nodes);
		printf("    login nodes  %*s%s\n", pad, "", notice ? notice : "?");
		free(notice);
	}
}

static void
print_plan(struct plan *p)
{
	struct pcm_config *cfg = &p->ctx->cfg;
	const struct sched_job_summary *sm = &p->jobs->summary;
	struct stor_result ex = { 0 };
	struct stor_opts so;
	char b[32], d[32];
	int have_ex = 0;

	/* what the saves would leave out (exclude patterns, markers) */
	if (!p->no_save && !p->eph_empty) {
		storage_opts(p->ctx, &so, "scanning");
		if (stor_exclude_scan(p->eph, &so, &ex) == 0)
			have_ex = 1;
		else
			log_warnx("cannot tell what the save would exclude: %s", ex.errmsg);
	}

	if (p->ctx->json) {
		struct json_object *o = json_object_new_object(), *rq, *fl;

		plan_jobs_split(p->jobs, &rq, &fl);
		json_object_object_add(o, "dry_run", json_object_new_boolean(1));
		json_object_object_add(o, "cluster", json_object_new_string(p->cluster));
		json_object_object_add(o, "instance_id", json_object_new_string(p->instance));
		json_object_object_add(o, "fleet_table", json_object_new_string(p->table));
		json_object_object_add(o, "fleet", json_object_new_string(p->fleet.status_str));
		json_object_object_add(o, "method", json_object_new_string(plan_method_name(p->method)));
		/* keep-fleet saves nothing (p->no_save), whatever --no-save says */
		json_object_object_add(o, "save", p->no_save || p->savedir == NULL ? NULL :
		    json_object_new_string(p->savedir));
		if (have_ex) {
			json_object_object_add(o, "excluded_entries",
			    json_object_new_int64((int64_t)ex.excluded));
			json_object_object_add(o, "excluded_bytes",
			    json_object_new_int64((int64_t)ex.bytes_excluded));
		}
		json_object_object_add(o, "reservation", json_object_new_string(cfg->reservation_name));
		json_object_object_add(o, "jobs_requeued", rq);
		json_object_object_add(o, "jobs_failing", fl);
		json_object_object_add(o, "blocked", json_object_new_boolean(!p->keep_fleet &&
		    sm->fail > 0 && p->o->jobs == PLAN_JOBS_GATE));
		json_object_object_add(o, "keep_fleet", json_object_new_boolean(p->keep_fleet));
		json_object_object_add(o, "jobs", sched_jobs_to_json(p->jobs));
		json_object_object_add(o, "login_nodes", json_object_get(p->login_nodes));
		if (p->keep_fleet) {
			char est[1024];
			struct json_object *kf = json_object_new_object();

			kf_budget_preview(p, est, sizeof(est), kf);
			json_object_object_add(o, "keep_fleet_budget", kf);
		}
		if (plan_patch_wanted(p)) {
			struct patch_cfg pc;
			char *desc;

			plan_patch_cfg(cfg, &pc);
			desc = patch_describe(&pc, NULL);
			json_object_object_add(o, "patch", desc ? json_object_new_string(desc) : NULL);
			free(desc);
		}
		output_json(o);
		json_object_put(o);
		return;
	}
	char est[1024];

	printf("plan for cluster %s, head node %s (dry run: nothing changed)\n", p->cluster,
	    p->instance);
	if (p->keep_fleet) {
		printf("  1 preflight       ok: Slurm %s answers, reboot permitted\n",
		    sched_controller(p->s));
		printf("  2 kf_budget       computemgtd's clustermgtd_timeout (%s) against the "
		    "outage estimate; widened (and waited for) when short\n", cfg->computemgtd_conf);
		kf_budget_preview(p, est, sizeof(est), NULL);
		printf("                    %s\n", est);
		printf("  3 reservation     maintenance reservation %s: no new job starts\n",
		    cfg->reservation_name);
		printf("  4 kf_clustermgtd  disable_all_cluster_management = True in %s\n",
		    cfg->clustermgtd_conf);
		printf("  5 kf_record       %u running jobs and every node's state recorded; they "
		    "keep running\n", sm->running);
		print_patch_plan(p, 3);
		printf("    kf_budget_wait  when the budget was widened: until every compute node "
		    "has re-read it\n");
		printf("  6 kf_slurmctld    slurmctld stopped (it saves its state)\n");
		printf("  7 restart         EC2 RebootInstances of this instance; the compute "
		    "fleet is not touched\n");
		print_login_plan(p, 3);
		return;
	}
	printf("  1 preflight    ok: Slurm %s answers, fleet %s (%s), %s permitted\n",
	    sched_controller(p->s), p->fleet.status_str, p->table,
	    p->method == PLAN_METHOD_NONE ? "fleet write" : plan_method_name(p->method));
	if (p->o->no_save)
		printf("  2 prestage     skipped (--no-save)\n");
	else if (p->eph_empty)
		printf("  2 prestage     skipped: %s is empty\n", p->eph);
	else
		printf("  2 prestage     save %s (%s used) to %s while jobs run\n", p->eph,
		    output_bytes(p->eph_used, b, sizeof(b)), p->savedir);
	if (have_ex)
		printf("                 excluded: %llu entries (%s)%s\n",
		    (unsigned long long)ex.excluded, output_bytes(ex.bytes_excluded, b, sizeof(b)),
		    ex.excluded ? ", not saved: lost at a stop/start" : "");
	printf("  3 reservation  maintenance reservation %s (MAINT, IGNORE_JOBS, all nodes, "
	    "%s): no new job starts\n", cfg->reservation_name,
	    format_duration(cfg->maintenance_duration, d, sizeof(d)));
	printf("  4 jobgate      %u running: %u requeued, %u would fail%s\n", sm->running,
	    sm->requeue, sm->fail, sm->fail == 0 ? "" :
	    p->o->jobs == PLAN_JOBS_WAIT ? " (waited for: --wait-jobs)" :
	    p->o->jobs == PLAN_JOBS_FORCE ? " (lost: --force)" :
	    " -> stops here with exit 3 (use --wait-jobs or --force)");
	printf("  5 fleet_stop   %s\n", p->fleet.status == FLEET_RUNNING ?
	    "STOP_REQUESTED, wait for STOPPED" : "already stopped or stopping: nothing written");
	printf("  6 final_save   %s\n", p->o->no_save ? "skipped (--no-save)" :
	    "incremental save, verified against its manifest");
	print_patch_plan(p, 0);
	printf("  7 restart      %s\n", p->method == PLAN_METHOD_REBOOT ?
	    "EC2 RebootInstances of this instance" : p->method == PLAN_METHOD_STOP_START ?
	    "SSM AWS-RestartEC2Instance (stop, then start)" : "none: the command to run is printed");
	print_login_plan(p, 0);
	if (sm->requeue + sm->fail > 0) {
		printf("\n");
		plan_print_jobs(p, p->jobs, 0);
	}
}

static void
summary(struct plan *p, int rc)
{
	struct json_object *rq = journal_data(p->j, "jobs_requeue");
	struct json_object *fl = journal_data(p->j, "jobs_failed");
	double stopped = plan_jget_double(p->j, "fleet_stopped_at");
	double req = plan_jget_double(p->j, "restart_requested_at");
	char b[32], d[32];

	if (p->ctx->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "exit", json_object_new_int(rc));
		json_object_object_add(o, "journal", json_object_get(journal_json(p->j)));
		output_json(o);
		json_object_put(o);
		return;
	}
	if (p->keep_fleet) {
		struct json_object *jobs = journal_data(p->j, "kf_jobs");

		plan_say(p, "summary: keep-fleet reboot: %zu running jobs recorded; budget %s; outage "
		    "estimate %lld s (%s); the fleet was not touched",
		    jobs ? json_object_array_length(jobs) : 0,
		    journal_data(p->j, "kf_budget_s") == NULL ? "not known" :
		    plan_jget_int(p->j, "kf_budget_s", 0) == 0 ? "none (computemgtd's actions "
		    "are disabled)" : (snprintf(b, sizeof(b), "%lld s",
		    (long long)plan_jget_int(p->j, "kf_budget_s", 0)), b),
		    (long long)plan_jget_int(p->j, "kf_estimate_s", 0),
		    journal_data_str(p->j, "kf_estimate_source") ?
		    journal_data_str(p->j, "kf_estimate_source") : "not made yet");
		return;
	}
	if (stopped <= 0)
		snprintf(d, sizeof(d), "not stopped");
	else if ((req > 0 ? req : plan_now()) - stopped < 60)
		snprintf(d, sizeof(d), "stopped for %.1f s", (req > 0 ? req : plan_now()) - stopped);
	else
		snprintf(d, sizeof(d), "stopped for %s", format_duration((long)((req > 0 ? req :
		    plan_now()) - stopped + 0.5), b, sizeof(b)));
	plan_say(p, "summary: %zu jobs requeued, %lld waited for, %zu failed; %s saved; fleet %s%s",
	    rq ? json_object_array_length(rq) : 0,
	    (long long)plan_jget_int(p->j, "jobs_waited", 0), fl ? json_object_array_length(fl) : 0,
	    output_bytes((unsigned long long)plan_jget_int(p->j, "bytes_saved", 0), b, sizeof(b)), d,
	    stopped <= 0 ? "" : req > 0 ? " until the restart request" : " so far");
}

/* preflight runs on every run (cheap, and the world may have changed) */
void
step_preflight_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "identity, Slurm, fleet, permissions, storage");
}

int
step_preflight_run(struct plan *p, struct step_out *out)
{
	int rc;

	if ((rc = preflight(p)) != PCM_EXIT_OK) {
		journal_step_set(p->j, "preflight", STEP_FAILED, "see the log");
		out->st = STEP_PENDING;
		return rc;
	}
	plan_jset_str(p->j, "cluster", p->cluster);
	plan_jset_str(p->j, "instance_id", p->instance);
	plan_jset_int(p->j, "instance_from_imds", p->instance_from_imds);
	plan_jset_str(p->j, "fleet_table", p->table);
	plan_jset_str(p->j, "ephemeral_dir", p->eph);
	if (p->target)
		plan_jset_str(p->j, "target", p->target);
	if (p->savedir)
		plan_jset_str(p->j, "savedir", p->savedir);
	plan_jset_int(p->j, "no_save", p->no_save);
	plan_jset_str(p->j, "method", plan_method_name(p->method));
	snprintf(out->detail, sizeof(out->detail), "cluster %s, instance %s, fleet %s, "
	    "%u running jobs", p->cluster, p->instance, p->fleet.status_str,
	    p->jobs->summary.running);
	return PCM_EXIT_OK;
}

int
step_preflight_again(struct plan *p)
{
	int rc;

	plan_say(p, "==> preflight: checking again");
	if ((rc = preflight(p)) != PCM_EXIT_OK) {
		journal_step_set(p->j, "preflight", STEP_FAILED, "see the log");
		return rc;
	}
	/* a method given again on the command line wins from now on */
	plan_jset_str(p->j, "method", plan_method_name(p->method));
	plan_say(p, "    preflight: ok");
	return PCM_EXIT_OK;
}

/*
 * The exclude patterns of the operation: a rerun keeps those of the run that
 * began it (config and --exclude: a rerun need not repeat --exclude), adds
 * its own, and the journal keeps the union.
 */
static int
journal_excludes(struct plan *p, int rerun)
{
	struct strlist *l = &p->ctx->cfg.exclude;
	struct json_object *arr = journal_data(p->j, "excludes"), *now;
	char err[256];

	if (arr != NULL && !json_object_is_type(arr, json_type_array))
		arr = NULL;
	for (size_t i = 0; rerun && arr != NULL && i < json_object_array_length(arr); i++) {
		const char *pat = json_object_get_string(json_object_array_get_idx(arr, i));
		size_t k;

		if (pat == NULL)
			continue;
		for (k = 0; k < l->n && strcmp(l->v[k], pat) != 0; k++)
			;
		if (k < l->n)
			continue;
		if (storage_add_exclude(p->ctx, pat, err, sizeof(err)) < 0) {
			log_warnx("cannot continue operation %s: its exclude pattern '%s' is "
			    "refused: %s (`pcm-agent abort` to begin again)", journal_id(p->j),
			    pat, err);
			return -1;
		}
		plan_say(p, "excluding '%s' as the interrupted run did", pat);
	}
	if ((now = json_object_new_array()) == NULL)
		return -1;
	for (size_t k = 0; k < l->n; k++)
		json_object_array_add(now, json_object_new_string(l->v[k]));
	return journal_data_set(p->j, "excludes", now) < 0 ? -1 : 0;
}

int
plan_prepare(struct pcm_ctx *ctx, const struct plan_opts *o)
{
	struct plan p = { .ctx = ctx, .o = o };
	struct pcm_lock lk = { .fd = -1 };
	int rc, rerun = 0;

	p.out = ctx->json ? stderr : stdout;
	p.method = o->method != PLAN_METHOD_CONFIG ? o->method :
	    plan_method_parse(ctx->cfg.restart_method);
	if (p.method == PLAN_METHOD_CONFIG)
		p.method = PLAN_METHOD_NONE;
	p.no_save = o->no_save;
	p.keep_fleet = o->keep_fleet;
	if (o->keep_fleet && p.method != PLAN_METHOD_REBOOT) {
		log_warnx("cannot keep the fleet with the %s method: --keep-fleet needs --reboot "
		    "(restart_method = reboot)", plan_method_name(p.method));
		return PCM_EXIT_USAGE;
	}
	if (!o->keep_fleet && ctx->cfg.keep_fleet) {
		if (p.method == PLAN_METHOD_REBOOT)
			p.keep_fleet = 1;
		else
			log_notice("keep_fleet = yes applies to reboots only: the %s stops the "
			    "compute fleet", plan_method_name(p.method));
	}
	if (p.keep_fleet)
		p.no_save = 1;	/* a reboot keeps the instance store */
	/* started by the watch daemon (a trigger): the daemon takes the lock
	 * for moments of its own (reservation actions, maintenance.json) that
	 * may meet our start; wait those out, not a real operation's */
	if ((rc = o->trigger != NULL ? storage_lock_wait(ctx, &lk, "prepare-restart", 30) :
	    plan_take_lock(ctx, &lk, "prepare-restart")) != 0)
		return rc;
	if (o->dry_run) {
		/* a journal in progress gives the identity, but nothing is written */
		if (journal_load(ctx->cfg.state_dir, &p.j) == 0)
			plan_say(&p, "an operation is in progress (journal %s): run without --dry-run "
			    "to continue it", journal_id(p.j));
		journal_free(p.j);
		p.j = NULL;
		if ((rc = preflight(&p)) == PCM_EXIT_OK) {
			print_plan(&p);
			/* keep-fleet: no job is lost, no job gate */
			rc = !p.keep_fleet && p.jobs->summary.fail > 0 &&
			    o->jobs == PLAN_JOBS_GATE ? PCM_EXIT_BLOCKED : PCM_EXIT_OK;
		}
		goto out;
	}
	if ((rc = plan_open_journal(&p, o->trigger, p.keep_fleet ? "keep-fleet" :
	    "standard")) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	rerun = rc;
	/* a rerun continues the operation as it began */
	if (rerun && o->keep_fleet && strcmp(plan_mode(p.j), "keep-fleet") != 0) {
		log_warnx("cannot continue operation %s with --keep-fleet: it began without (run "
		    "it again without --keep-fleet, or `pcm-agent abort` first)", journal_id(p.j));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	p.keep_fleet = strcmp(plan_mode(p.j), "keep-fleet") == 0;
	if (p.keep_fleet)
		p.no_save = 1;
	if (strcmp(journal_phase(p.j), "prepare") != 0) {
		log_warnx("cannot prepare: operation %s is in phase %s (run `pcm-agent resume` to "
		    "finish it, or `pcm-agent abort`)", journal_id(p.j), journal_phase(p.j));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (rerun && o->method == PLAN_METHOD_CONFIG && journal_data_str(p.j, "method") != NULL &&
	    plan_method_parse(journal_data_str(p.j, "method")) != PLAN_METHOD_CONFIG)
		p.method = plan_method_parse(journal_data_str(p.j, "method"));	/* the first run's */
	if (rerun)
		plan_say(&p, "continuing operation %s (journal %s)", journal_id(p.j), journal_path(p.j));
	else
		plan_say(&p, "operation %s: prepare-restart (%s)", journal_id(p.j),
		    plan_method_name(p.method));
	if (journal_excludes(&p, rerun) < 0) {
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (plan_step_is_over(p.j, "restart")) {
		plan_say(&p, "prepare-restart is complete: %s (%s); `pcm-agent resume` runs at the next "
		    "boot (or `pcm-agent abort` to undo)", journal_step_detail(p.j, "restart"),
		    journal_data_str(p.j, "restart_requested_iso") ?
		    journal_data_str(p.j, "restart_requested_iso") : "no request");
		rc = PCM_EXIT_OK;
		goto out;
	}
	rc = plan_run(&p, PLAN_PHASE_PREPARE);
out:
	if (p.j != NULL && !o->dry_run)
		summary(&p, rc);
	plan_free(&p);
	lock_release(&lk);
	return rc;
}
