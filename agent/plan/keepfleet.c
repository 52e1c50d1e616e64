/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * keepfleet.c - the steps of the keep-fleet reboot (see plan_int.h and
 * ../shared/notes/keep-fleet-reboot.md): the compute fleet and its jobs go
 * on running while the head node reboots.
 *
 * What kills compute nodes while the head node is away is computemgtd: on
 * every node, once clustermgtd's heartbeat is older than its
 * clustermgtd_timeout (600 s by default, re-read only every 10 minutes) and
 * Slurm does not answer, it shuts the node down.  So:
 *   budget       the outage must fit clustermgtd_timeout with a margin; if
 *                not, a larger clustermgtd_timeout is written (the old value
 *                journaled) and the reboot waits until every computemgtd
 *                must have re-read it; computemgtd is never disabled: a head
 *                node that never comes back must not leave a fleet billing;
 *   clustermgtd  disable_all_cluster_management = True (old value
 *                journaled): after the boot, clustermgtd does not replace
 *                the nodes that have not re-registered yet;
 *   record       the running jobs and every node's state;
 *   budget_wait  the countdown of the widened budget;
 *   slurmctld    slurmctld stopped right before the reboot: its SIGTERM
 *                handler writes the whole state (jobs, nodes, reservations)
 *                to StateSaveLocation and exits, so the state the next boot
 *                recovers is known to be complete and the outage has an
 *                exact start.  (The reboot's systemd would send the same
 *                SIGTERM, but a save that fails there is seen by nobody.
 *                Slurm has no RPC that only saves the state.)
 * resume: wait for slurmctld and the nodes, compare the jobs, restore both
 * configs, end the reservation, report down time against the budget.
 */
#include <errno.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aws/http.h"
#include "aws/imds.h"
#include "config.h"
#include "journal.h"
#include "plan.h"
#include "log.h"
#include "plan_int.h"
#include "sched/sched.h"

#define CM_SECTION	"clustermgtd"
#define CM_KEY		"disable_all_cluster_management"
#define CD_SECTION	"computemgtd"
#define CD_TIMEOUT	"clustermgtd_timeout"
#define CD_DISABLE	"disable_computemgtd_actions"
#define CD_DEFAULT	600L	/* computemgtd's default clustermgtd_timeout */
#define CD_RELOAD_S	660L	/* 10 loops of 60 s, and one more */

static long
env_seconds(const char *name, long dflt)
{
	const char *v = getenv(name);	/* test hooks: PCM_TEST_* */
	char *end;
	long n;

	if (v == NULL || *v == '\0')
		return dflt;
	n = strtol(v, &end, 10);
	return *end == '\0' && n >= 0 ? n : dflt;
}

static int
is_true(const char *v)
{
	return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0;
}

/* slurmctld's first ping round after its start comes within this (s) */
#define KF_PING_SETTLE_S	5

/* --- the budget --- */

/* "Startup finished in ... = 1min 2.345s": seconds, or -1 */
static long
systemd_boot_seconds(void)
{
	FILE *fp = popen("systemd-analyze 2>/dev/null", "r");
	char line[512];
	double total = -1;

	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *eq = strrchr(line, '=');
		double t = 0, v;
		char unit[16];
		int n;

		if (strncmp(line, "Startup finished", 16) != 0 || eq == NULL)
			continue;
		for (char *p = eq + 1; sscanf(p, " %lf%15[a-z]%n", &v, unit, &n) == 2; p += n)
			t += strcmp(unit, "min") == 0 ? v * 60 : strcmp(unit, "ms") == 0 ?
			    v / 1000 : strcmp(unit, "h") == 0 ? v * 3600 : v;
		total = t;
	}
	pclose(fp);
	return total > 0 ? (long)(total + 0.5) : -1;
}

static double
iso_to_epoch(const char *iso)
{
	struct tm tm = { 0 };

	if (iso == NULL || strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return 0;
	return (double)timegm(&tm);
}

/*
 * The head node's outage on a reboot, from the operations in STATE_DIR/
 * history: the measured down time of keep-fleet reboots, and for the other
 * reboots the time from the request to resume's first step (an upper bound).
 * The longest of the last ones; 0 when there is none.
 */
static long
history_outage(const char *state_dir, int *n)
{
	char dir[4096];
	struct dirent *de;
	DIR *d;
	long worst = 0;

	*n = 0;
	snprintf(dir, sizeof(dir), "%s/history", state_dir);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[4400];
		struct json_object *o, *data, *steps, *v, *st;
		double req, first = 0;
		long out = 0;

		if (strstr(de->d_name, ".json") == NULL || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((o = json_object_from_file(path)) == NULL)
			continue;
		if (!json_object_object_get_ex(o, "data", &data) ||
		    !json_object_object_get_ex(data, "restart_method", &v) ||
		    strcmp(json_object_get_string(v), "reboot") != 0) {
			json_object_put(o);
			continue;
		}
		if (json_object_object_get_ex(data, "kf_down_s", &v)) {
			out = json_object_get_int64(v);
		} else if (json_object_object_get_ex(data, "restart_requested_at", &v) &&
		    (req = json_object_get_double(v)) > 0 &&
		    json_object_object_get_ex(o, "steps", &steps)) {
			static const char *const resume_first[] = { "restore", "kf_wait_slurmctld", NULL };

			for (int i = 0; resume_first[i] != NULL && first == 0; i++)
				if (json_object_object_get_ex(steps, resume_first[i], &st) &&
				    json_object_object_get_ex(st, "started", &v))
					first = iso_to_epoch(json_object_get_string(v));
			if (first > req)
				out = (long)(first - req + 0.5);
		}
		json_object_put(o);
		if (out > 0) {
			(*n)++;
			if (out > worst)
				worst = out;
		}
	}
	closedir(d);
	return worst;
}

/*
 * What the instance type adds to a first-use estimate (systemd-analyze only
 * sees the boot of the OS, not what comes before it).  Deliberately small
 * and conservative: allowances, not measurements; reboot_estimate overrides
 * them and after the first reboot the history measures the real outage.
 *
 *   *.metal*              +900 s  bare metal: the reboot runs the firmware's
 *                                 POST of the whole machine (all of its
 *                                 memory, devices), minutes more than a
 *                                 virtual instance before the OS starts
 *   u-*, u7*, x1*, x2i*   +600 s  high-memory instances (up to tens of TiB):
 *                                 the memory test and the kernel's init of
 *                                 that much memory
 *   anything else           0
 *
 * A type that is both (u-6tb1.metal) gets the larger, not the sum.
 */
long
plan_instance_reboot_extra(const char *type, const char **what)
{
	static const char *const bigmem[] = { "u-", "u7", "x1", "x2i", NULL };

	if (what != NULL)
		*what = NULL;
	if (type == NULL || *type == '\0')
		return 0;
	if (strstr(type, ".metal") != NULL) {
		if (what != NULL)
			*what = "a metal instance";
		return 900;
	}
	for (int i = 0; bigmem[i] != NULL; i++)
		if (strncmp(type, bigmem[i], strlen(bigmem[i])) == 0) {
			if (what != NULL)
				*what = "a high-memory instance";
			return 600;
		}
	return 0;
}

/* ", + 900 s for a metal instance (c5.metal)" or "; c5.large: no extra" or
 * "; instance type unknown (IMDS: ...)" appended to src; the extra seconds */
static long
type_extra(struct plan *p, char *src, size_t len)
{
	struct aws_error err = { 0 };
	const char *what;
	char *type = NULL;
	size_t o = strlen(src);
	long extra;

	if (plan_open_aws(p) < 0 ||
	    imds_instance_type(aws_imds(p->a), &type, &err) != AWS_OK) {
		snprintf(src + o, len - o, "; instance type unknown (IMDS: %s), no extra for it",
		    err.message[0] ? err.message : "out of memory");
		return 0;
	}
	if ((extra = plan_instance_reboot_extra(type, &what)) > 0)
		snprintf(src + o, len - o, ", + %ld s for %s (%s)", extra, what, type);
	else
		snprintf(src + o, len - o, "; %s: no extra for the instance type", type);
	free(type);
	return extra;
}

/* The estimate of this head node's outage and where it comes from. */
static long
outage_estimate(struct plan *p, char *src, size_t len)
{
	long est, boot;
	int n;

	if (p->ctx->cfg.reboot_estimate > 0) {
		snprintf(src, len, "reboot_estimate of the config");
		return p->ctx->cfg.reboot_estimate;
	}
	if ((est = history_outage(p->ctx->cfg.state_dir, &n)) > 0) {
		snprintf(src, len, "the longest of %d earlier reboot%s", n, n == 1 ? "" : "s");
		return est;
	}
	if ((boot = systemd_boot_seconds()) > 0) {
		/* shutdown, the EC2 reboot itself, firmware: about 2 min more than the boot */
		snprintf(src, len, "first use: systemd-analyze boot of %ld s, doubled, + 120 s", boot);
		est = 2 * boot + 120;
	} else {
		snprintf(src, len, "first use: a default of 5 min");
		est = 300;
	}
	return est + type_extra(p, src, len);
}

static long
margin_of(long est)
{
	return est / 2 > 60 ? est / 2 : 60;
}

int
kf_budget_run(struct plan *p, struct step_out *out)
{
	const char *path = p->ctx->cfg.computemgtd_conf;
	char v[256], src[512], d1[32], d2[32];
	long est, need, timeout = CD_DEFAULT, widened;
	int rc;

	/* a rerun after a crash between the write and its time: the wait starts now */
	if (journal_data(p->j, "kf_timeout_written") != NULL &&
	    plan_jget_double(p->j, "kf_widened_at") == 0)
		plan_jset_double(p->j, "kf_widened_at", plan_now());
	est = outage_estimate(p, src, sizeof(src));
	need = est + margin_of(est);
	plan_jset_int(p->j, "kf_estimate_s", est);
	plan_jset_str(p->j, "kf_estimate_source", src);
	rc = pcconf_get(path, CD_SECTION, CD_DISABLE, v, sizeof(v));
	if (rc == -ENOENT) {
		log_warnx("no computemgtd config at %s (not a ParallelCluster head node? set "
		    "computemgtd_conf): no downtime budget known, going on", path);
		return plan_out(out, STEP_DONE, "no computemgtd config (%s): no budget; outage "
		    "estimate %ld s (%s)", path, est, src);
	}
	if (rc < 0) {
		log_warnx("cannot read computemgtd's config %s: %s", path, rc == -EPERM ?
		    "not owned by root or writable by others (fix its owner and mode)" :
		    rc == -EINVAL ? "not a regular file" : strerror(-rc));
		journal_step_set(p->j, "kf_budget", STEP_FAILED, "computemgtd config unreadable");
		return PCM_EXIT_ERROR;
	}
	if (rc == 1 && is_true(v)) {
		plan_jset_int(p->j, "kf_budget_s", 0);
		return plan_out(out, STEP_DONE, "computemgtd's actions are disabled "
		    "(%s = %s): compute nodes never shut themselves down", CD_DISABLE, v);
	}
	if ((rc = pcconf_get(path, CD_SECTION, CD_TIMEOUT, v, sizeof(v))) == 1) {
		char *end;

		timeout = strtol(v, &end, 10);
		if (*end != '\0' || timeout <= 0) {
			log_warnx("%s: %s = %s is not a number of seconds", path, CD_TIMEOUT, v);
			journal_step_set(p->j, "kf_budget", STEP_FAILED, "bad clustermgtd_timeout");
			return PCM_EXIT_ERROR;
		}
	}
	plan_jset_int(p->j, "kf_budget_before_s", timeout);
	if (need <= timeout) {
		plan_jset_int(p->j, "kf_budget_s", timeout);
		return plan_out(out, STEP_DONE, "budget %s (clustermgtd_timeout); outage estimate "
		    "%ld s (%s) + %ld s margin fits", format_duration(timeout, d1, sizeof(d1)),
		    est, src, margin_of(est));
	}
	if (need > p->ctx->cfg.keep_fleet_max_budget) {
		log_warnx("cannot keep the fleet: the head node's outage is estimated at %ld s (%s), "
		    "%ld s with the margin, more than computemgtd's budget of %ld s "
		    "(clustermgtd_timeout in %s) and more than keep_fleet_max_budget (%s) allows "
		    "to widen it to; compute nodes would shut themselves down.  Use the standard "
		    "restart (without --keep-fleet), or raise keep_fleet_max_budget, or set "
		    "reboot_estimate if the estimate is wrong", est, src, need, timeout, path,
		    format_duration(p->ctx->cfg.keep_fleet_max_budget, d2, sizeof(d2)));
		plan_out(out, STEP_FAILED, "estimate %ld s + margin exceeds the budget %ld s and "
		    "keep_fleet_max_budget", est, timeout);
		return PCM_EXIT_ERROR;
	}
	/* widen: a whole number of minutes */
	widened = (need + 59) / 60 * 60;
	/* the value before pcm-agent's first write, recorded once */
	if (journal_data(p->j, "kf_timeout_written") == NULL) {
		if (rc == 1)
			plan_jset_str(p->j, "kf_timeout_before", v);
		plan_jset_int(p->j, "kf_timeout_had_key", rc == 1);
	}
	snprintf(v, sizeof(v), "%ld", widened);
	plan_jset_int(p->j, "kf_timeout_written", widened);	/* before it is written */
	if ((rc = pcconf_set(path, CD_SECTION, CD_TIMEOUT, v)) < 0) {
		log_warnx("cannot write %s = %s into %s: %s", CD_TIMEOUT, v, path, strerror(-rc));
		journal_data_set(p->j, "kf_timeout_written", NULL);
		journal_step_set(p->j, "kf_budget", STEP_FAILED, "cannot write the computemgtd config");
		return PCM_EXIT_ERROR;
	}
	plan_jset_double(p->j, "kf_widened_at", plan_now());
	plan_jset_int(p->j, "kf_budget_s", widened);
	log_notice("computemgtd's clustermgtd_timeout widened from %ld s to %ld s in %s: the "
	    "reboot waits until every compute node has re-read it", timeout, widened, path);
	return plan_out(out, STEP_DONE, "budget widened from %ld s to %s (clustermgtd_timeout); "
	    "outage estimate %ld s (%s)", timeout, format_duration(widened, d1, sizeof(d1)), est,
	    src);
}

/* The dry run's view of the budget step: the estimate and what kf_budget
 * would do with it, nothing written; in words into buf, and into o (JSON)
 * when o is not NULL. */
void
kf_budget_preview(struct plan *p, char *buf, size_t len, struct json_object *o)
{
	const char *path = p->ctx->cfg.computemgtd_conf, *verdict;
	char v[256], src[512], d1[32], d2[32];
	long est = outage_estimate(p, src, sizeof(src)), need = est + margin_of(est);
	long timeout = CD_DEFAULT, widened = 0;
	int rc = pcconf_get(path, CD_SECTION, CD_DISABLE, v, sizeof(v)), known = 0;

	if (rc == 1 && is_true(v)) {
		verdict = "no budget";
		snprintf(buf, len, "outage estimate %ld s (%s); computemgtd's actions are "
		    "disabled: no budget", est, src);
	} else if (rc < 0) {
		verdict = rc == -ENOENT ? "no budget" : "unreadable";
		snprintf(buf, len, "outage estimate %ld s (%s); %s", est, src, rc == -ENOENT ?
		    "no computemgtd config: no budget known" : "computemgtd's config unreadable: "
		    "prepare-restart stops here");
	} else {
		known = 1;
		if (pcconf_get(path, CD_SECTION, CD_TIMEOUT, v, sizeof(v)) == 1)
			timeout = strtol(v, NULL, 10);
		if (need <= timeout) {
			verdict = "fits";
			snprintf(buf, len, "outage estimate %ld s (%s) + %ld s margin fits the "
			    "budget of %ld s", est, src, margin_of(est), timeout);
		} else if (need > p->ctx->cfg.keep_fleet_max_budget) {
			verdict = "refused";
			snprintf(buf, len, "outage estimate %ld s (%s) + %ld s margin does not fit "
			    "the budget of %ld s nor keep_fleet_max_budget (%s): prepare-restart "
			    "refuses", est, src, margin_of(est), timeout,
			    format_duration(p->ctx->cfg.keep_fleet_max_budget, d2, sizeof(d2)));
		} else {
			verdict = "widened";
			widened = (need + 59) / 60 * 60;
			snprintf(buf, len, "outage estimate %ld s (%s) + %ld s margin: the budget "
			    "of %ld s widened to %s", est, src, margin_of(est), timeout,
			    format_duration(widened, d1, sizeof(d1)));
		}
	}
	if (o == NULL)
		return;
	json_object_object_add(o, "outage_estimate_s", json_object_new_int64(est));
	json_object_object_add(o, "outage_estimate_source", json_object_new_string(src));
	json_object_object_add(o, "outage_margin_s", json_object_new_int64(margin_of(est)));
	json_object_object_add(o, "budget_s", known ? json_object_new_int64(timeout) : NULL);
	json_object_object_add(o, "budget", json_object_new_string(verdict));
	json_object_object_add(o, "budget_widened_to_s", widened ?
	    json_object_new_int64(widened) : NULL);
}

void
kf_budget_what(struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "downtime budget: computemgtd's clustermgtd_timeout (%s) against "
	    "the outage estimate", p->ctx->cfg.computemgtd_conf);
}

/* restore computemgtd's clustermgtd_timeout as it was; 0 or an exit */
static int
restore_timeout(struct plan *p)
{
	const char *path = p->ctx->cfg.computemgtd_conf;
	const char *old = journal_data_str(p->j, "kf_timeout_before");
	int rc;

	if (journal_data(p->j, "kf_timeout_written") == NULL ||
	    plan_jget_int(p->j, "kf_timeout_restored", 0))
		return PCM_EXIT_OK;
	if ((rc = pcconf_set(path, CD_SECTION, CD_TIMEOUT, old)) < 0) {
		log_warnx("cannot restore %s in %s: %s (set it back by hand to %s)", CD_TIMEOUT, path,
		    strerror(-rc), old ? old : "its default: remove the line");
		return PCM_EXIT_ERROR;
	}
	plan_jset_int(p->j, "kf_timeout_restored", 1);
	plan_say(p, "    computemgtd: %s %s%s in %s", CD_TIMEOUT, old ? "restored to " :
	    "removed (default 600 s)", old ? old : "", path);
	return PCM_EXIT_OK;
}

static int
restore_clustermgtd(struct plan *p)
{
	const char *path = p->ctx->cfg.clustermgtd_conf;
	const char *old = journal_data_str(p->j, "kf_cm_before");
	int rc;

	if (!plan_jget_int(p->j, "kf_cm_set", 0) || plan_jget_int(p->j, "kf_cm_restored", 0))
		return PCM_EXIT_OK;
	if ((rc = pcconf_set(path, CM_SECTION, CM_KEY, old)) < 0) {
		log_warnx("cannot restore %s in %s: %s (set it back by hand to %s)", CM_KEY, path,
		    strerror(-rc), old ? old : "False");
		return PCM_EXIT_ERROR;
	}
	plan_jset_int(p->j, "kf_cm_restored", 1);
	plan_say(p, "    clustermgtd: %s %s%s", CM_KEY, old ? "restored to " : "removed (default "
	    "False)", old ? old : "");
	return PCM_EXIT_OK;
}

int
kf_budget_undo(struct plan *p)
{
	return restore_timeout(p);
}

/* --- clustermgtd --- */

const char *
kf_clustermgtd_skip(struct plan *p)
{
	static char why[600];

	if (access(p->ctx->cfg.clustermgtd_conf, F_OK) == 0)
		return NULL;
	log_warnx("no clustermgtd config at %s (not a ParallelCluster head node? set "
	    "clustermgtd_conf): nothing to disable, going on", p->ctx->cfg.clustermgtd_conf);
	snprintf(why, sizeof(why), "no clustermgtd config at %s", p->ctx->cfg.clustermgtd_conf);
	return why;
}

void
kf_clustermgtd_what(struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "clustermgtd: %s = True in %s (no node replaced while they "
	    "re-register)", CM_KEY, p->ctx->cfg.clustermgtd_conf);
}

int
kf_clustermgtd_run(struct plan *p, struct step_out *out)
{
	const char *path = p->ctx->cfg.clustermgtd_conf;
	char v[256];
	int rc;

	if (!plan_jget_int(p->j, "kf_cm_set", 0)) {
		if ((rc = pcconf_get(path, CM_SECTION, CM_KEY, v, sizeof(v))) < 0) {
			log_warnx("cannot read clustermgtd's config %s: %s", path, rc == -EPERM ?
			    "not owned by root or writable by others (fix its owner and mode)" :
			    strerror(-rc));
			journal_step_set(p->j, "kf_clustermgtd", STEP_FAILED, "config unreadable");
			return PCM_EXIT_ERROR;
		}
		if (rc == 1)
			plan_jset_str(p->j, "kf_cm_before", v);
		plan_jset_int(p->j, "kf_cm_set", 1);	/* before it is written */
	}
	if ((rc = pcconf_set(path, CM_SECTION, CM_KEY, "True")) < 0) {
		log_warnx("cannot write %s into %s: %s", CM_KEY, path, strerror(-rc));
		journal_step_set(p->j, "kf_clustermgtd", STEP_FAILED, "cannot write the config");
		return PCM_EXIT_ERROR;
	}
	return plan_out(out, STEP_DONE, "%s = True (was %s)", CM_KEY,
	    journal_data_str(p->j, "kf_cm_before") ? journal_data_str(p->j, "kf_cm_before") :
	    "unset: False");
}

int
kf_clustermgtd_undo(struct plan *p)
{
	return restore_clustermgtd(p);
}

/* --- record --- */

void
kf_record_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "the running jobs and the state of every node");
}

static int
node_up(const struct sched_node *n)
{
	return n->responding && !n->powered_down && strncmp(n->state, "DOWN", 4) != 0 &&
	    strstr(n->state, "FAIL") == NULL;
}

int
kf_record_run(struct plan *p, struct step_out *out)
{
	struct sched_job_list *jl = NULL;
	struct sched_node_list *nl = NULL;
	struct json_object *jobs, *nodes;
	unsigned nrun = 0, nup = 0;

	if (sched_jobs_load(p->s, 0, &jl) < 0 || sched_nodes_load(p->s, &nl) < 0) {
		log_warnx("%s", sched_strerror(p->s));
		journal_step_set(p->j, "kf_record", STEP_FAILED, sched_strerror(p->s));
		sched_job_list_free(jl);
		return PCM_EXIT_ERROR;
	}
	jobs = json_object_new_array();
	for (size_t i = 0; i < jl->n; i++) {
		const struct sched_job *jb = &jl->v[i];
		struct json_object *o;

		if (!sched_job_is_running(jb->state))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int64(jb->id));
		json_object_object_add(o, "start", json_object_new_int64((int64_t)jb->start_time));
		json_object_object_add(o, "user", json_object_new_string(jb->user ? jb->user : "?"));
		json_object_object_add(o, "name", json_object_new_string(jb->name ? jb->name : ""));
		json_object_object_add(o, "requeue", json_object_new_int(jb->outcome ==
		    SCHED_OUTCOME_REQUEUE));
		json_object_array_add(jobs, o);
		nrun++;
	}
	nodes = json_object_new_array();
	for (size_t i = 0; i < nl->n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(nl->v[i].name));
		json_object_object_add(o, "state", json_object_new_string(nl->v[i].state));
		json_object_object_add(o, "up", json_object_new_boolean(node_up(&nl->v[i])));
		json_object_array_add(nodes, o);
		nup += node_up(&nl->v[i]);
	}
	journal_data_set(p->j, "kf_jobs", jobs);
	journal_data_set(p->j, "kf_nodes", nodes);
	plan_out(out, STEP_DONE, "%u running jobs, %zu nodes (%u up)", nrun, nl->n, nup);
	sched_job_list_free(jl);
	sched_node_list_free(nl);
	return PCM_EXIT_OK;
}

/* --- the wait for computemgtd to re-read its config --- */

const char *
kf_budget_wait_skip(struct plan *p)
{
	return plan_jget_double(p->j, "kf_widened_at") > 0 ? NULL : "the budget was not widened";
}

void
kf_budget_wait_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "until every computemgtd has re-read clustermgtd_timeout (it "
	    "re-reads its config every 10 minutes)");
}

int
kf_budget_wait_run(struct plan *p, struct step_out *out)
{
	/* PCM_TEST_KEEPFLEET_RELOAD_S: test hook, the 11 minutes made short */
	long reload = env_seconds("PCM_TEST_KEEPFLEET_RELOAD_S", CD_RELOAD_S);
	double until = plan_jget_double(p->j, "kf_widened_at") + (double)reload;
	long left, last = -1;
	char d[32];

	while ((left = (long)(until - plan_now() + 0.999)) > 0) {
		if (last < 0 || last - left >= (left > 120 ? 60 : 10)) {
			plan_say(p, "    budget_wait: %s left", format_duration(left, d, sizeof(d)));
			last = left;
		}
		sleep(left < 1 ? (unsigned)left : 1);
	}
	return plan_out(out, STEP_DONE, "%ld s after the budget was widened", reload);
}

/* --- slurmctld --- */

static int
run_cmd(const char *cmd)
{
	int st = system(cmd);

	if (st == -1)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static const char *
ctld_cmd(int stop)
{
	/* PCM_TEST_SLURMCTLD_STOP / _START: test hooks (the bed has no systemd) */
	const char *t = getenv(stop ? "PCM_TEST_SLURMCTLD_STOP" : "PCM_TEST_SLURMCTLD_START");

	if (t != NULL && *t != '\0')
		return t;
	return stop ? "systemctl stop slurmctld" : "systemctl start slurmctld";
}

int
kf_slurmctld_pre(struct plan *p)
{
	/* the confirmation comes before slurmctld stops, not after */
	return step_restart_confirm(p) ? PCM_EXIT_OK : PCM_EXIT_ERROR;
}

void
kf_slurmctld_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "stop slurmctld: it saves its whole state, then the reboot");
}

int
kf_slurmctld_run(struct plan *p, struct step_out *out)
{
	const char *cmd = ctld_cmd(1);
	int rc;

	plan_jset_int(p->j, "kf_ctld_stopped", 1);	/* before: abort starts it again */
	if ((rc = run_cmd(cmd)) < 0) {
		log_warnx("cannot stop slurmctld (`%s` failed): run prepare-restart again, or "
		    "`pcm-agent abort`", cmd);
		journal_step_set(p->j, "kf_slurmctld", STEP_FAILED, "stop failed");
		return PCM_EXIT_ERROR;
	}
	sched_close(p->s);
	p->s = NULL;
	plan_jset_double(p->j, "kf_down_at", plan_now());
	return plan_out(out, STEP_DONE, "slurmctld stopped (`%s`); its state is saved", cmd);
}

int
kf_slurmctld_undo(struct plan *p)
{
	const char *cmd = ctld_cmd(0);

	if (!plan_jget_int(p->j, "kf_ctld_stopped", 0) || journal_data(p->j, "kf_up_at") != NULL)
		return PCM_EXIT_OK;
	if (plan_open_sched(p) < 0)
		return PCM_EXIT_ERROR;
	if (sched_ping(p->s) == 0)
		return PCM_EXIT_OK;	/* running again (the reboot happened, or started before) */
	plan_say(p, "==> slurmctld: start it again (`%s`)", cmd);
	if (run_cmd(cmd) < 0) {
		log_warnx("cannot start slurmctld (`%s` failed): start it by hand", cmd);
		return PCM_EXIT_ERROR;
	}
	/* the same handle (libslurm is once per process): it answers once slurmctld is up */
	for (int i = 0; sched_ping(p->s) < 0; i++) {
		if (i >= 60) {
			log_warnx("slurmctld started but does not answer: %s", sched_strerror(p->s));
			return PCM_EXIT_ERROR;
		}
		sleep(1);
	}
	plan_jset_double(p->j, "kf_up_at", plan_now());
	return PCM_EXIT_OK;
}

/* abort: the reservation needs slurmctld, which may be stopped for the reboot
 * (abort runs the undo hooks in the order of the table) */
int
kf_reservation_undo(struct plan *p)
{
	int rc;

	if ((rc = kf_slurmctld_undo(p)) != PCM_EXIT_OK)
		return rc;
	return step_reservation_undo(p);
}

/* abort and rerun, once slurmctld is stopped: no Slurm to check any more */
int
kf_preflight_again(struct plan *p)
{
	if (plan_jget_int(p->j, "kf_ctld_stopped", 0)) {
		plan_say(p, "==> preflight: slurmctld is stopped for the reboot: not checked again");
		return plan_identify(p) < 0 ? PCM_EXIT_ERROR : PCM_EXIT_OK;
	}
	return step_preflight_again(p);
}

int
kf_reservation_again(struct plan *p)
{
	return plan_jget_int(p->j, "kf_ctld_stopped", 0) ? PCM_EXIT_OK :
	    step_reservation_again(p);
}

/* --- resume --- */

void
kf_wait_ctld_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "wait for slurmctld");
}

int
kf_wait_ctld_run(struct plan *p, struct step_out *out)
{
	long tmo = p->ctx->cfg.resume_wait;
	double end = plan_now() + (double)tmo, down, up;
	char d[32];

	if (plan_open_sched(p) < 0) {
		journal_step_set(p->j, "kf_wait_slurmctld", STEP_FAILED, "Slurm config");
		return PCM_EXIT_ERROR;
	}
	/* one handle, polled (libslurm is once per process) */
	while (sched_ping(p->s) < 0) {
		if (plan_now() >= end) {
			log_warnx("slurmctld does not answer within %s (resume_wait): %s (start it, "
			    "then run `pcm-agent resume` again)", format_duration(tmo, d, sizeof(d)),
			    sched_strerror(p->s));
			journal_step_set(p->j, "kf_wait_slurmctld", STEP_FAILED, "slurmctld down");
			return PCM_EXIT_ERROR;
		}
		sleep(2);
	}
	up = plan_now();
	if (journal_data(p->j, "kf_up_at") == NULL)
		plan_jset_double(p->j, "kf_up_at", up);
	up = plan_jget_double(p->j, "kf_up_at");
	down = plan_jget_double(p->j, "kf_down_at");
	if (down > 0)
		plan_jset_int(p->j, "kf_down_s", (int64_t)(up - down + 0.5));
	return plan_out(out, STEP_DONE, "slurmctld answers%s", down > 0 ? "" :
	    " (its stop was not recorded)");
}

void
kf_nodes_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "wait until every node that was up has re-registered");
}

int
kf_nodes_run(struct plan *p, struct step_out *out)
{
	struct json_object *rec = journal_data(p->j, "kf_nodes"), *lost = NULL;
	long tmo = p->ctx->cfg.resume_wait;
	double end = plan_now() + (double)tmo, settled;
	unsigned want = 0, back = 0;
	char names[512], d[32];

	/*
	 * A node recovered from slurmctld's saved state counts as responding
	 * until slurmctld's first ping of it fails: the first round runs a
	 * few seconds after its start, a node that does not answer is marked
	 * once the RPC's MessageTimeout has passed.  Until then "responding"
	 * says nothing: count a node back only after that, from the moment
	 * slurmctld first answered us (at or after its start).
	 */
	settled = plan_jget_double(p->j, "kf_up_at") + KF_PING_SETTLE_S +
	    2.0 * sched_msg_timeout(p->s);
	if (settled > end)
		end = settled;

	for (;;) {
		struct sched_node_list *nl = NULL;

		if (sched_nodes_load(p->s, &nl) < 0) {
			log_warnx("%s", sched_strerror(p->s));
			journal_step_set(p->j, "kf_nodes", STEP_FAILED, sched_strerror(p->s));
			return PCM_EXIT_ERROR;
		}
		want = back = 0;
		names[0] = '\0';
		json_object_put(lost);
		lost = json_object_new_array();
		for (size_t i = 0; rec != NULL && i < json_object_array_length(rec); i++) {
			struct json_object *r = json_object_array_get_idx(rec, i), *v;
			const char *name;
			const struct sched_node *now = NULL;

			if (!json_object_object_get_ex(r, "up", &v) || !json_object_get_boolean(v) ||
			    !json_object_object_get_ex(r, "name", &v))
				continue;
			name = json_object_get_string(v);
			want++;
			for (size_t k = 0; k < nl->n; k++)
				if (strcmp(nl->v[k].name, name) == 0)
					now = &nl->v[k];
			if (now != NULL && node_up(now)) {
				back++;
				continue;
			}
			{
				struct json_object *o = json_object_new_object();

				json_object_object_add(o, "name", json_object_new_string(name));
				json_object_object_add(o, "state", json_object_new_string(now ?
				    now->state : "gone"));
				json_object_array_add(lost, o);
			}
			if (strlen(names) + strlen(name) + 40 < sizeof(names))
				snprintf(names + strlen(names), sizeof(names) - strlen(names),
				    "%s%s (%s)", names[0] ? ", " : "", name, now ? now->state : "gone");
		}
		sched_node_list_free(nl);
		if ((back == want && plan_now() >= settled) || plan_now() >= end)
			break;
		sleep(2);
	}
	journal_data_set(p->j, "kf_nodes_lost", lost);
	if (back < want) {
		log_warnx("%u of %u nodes that were up before the reboot did not re-register "
		    "within %s (resume_wait): %s", want - back, want,
		    format_duration(tmo, d, sizeof(d)), names);
		return plan_out(out, STEP_DONE, "%u of %u nodes back; not back within %s "
		    "(resume_wait): %s", back, want, format_duration(tmo, d, sizeof(d)), names);
	}
	return plan_out(out, STEP_DONE, "%u of %u nodes back", back, want);
}

void
kf_jobs_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "the running jobs against the ones recorded before the reboot");
}

int
kf_jobs_run(struct plan *p, struct step_out *out)
{
	struct json_object *rec = journal_data(p->j, "kf_jobs"), *lost;
	unsigned kept = 0, n = 0, ended = 0;

	lost = json_object_new_array();
	for (size_t i = 0; rec != NULL && i < json_object_array_length(rec); i++) {
		struct json_object *r = json_object_array_get_idx(rec, i), *v, *o;
		uint32_t id = 0;
		int64_t start = 0;
		struct sched_job *jb = NULL;
		char state[64], reason[256];
		int rc;

		if (json_object_object_get_ex(r, "id", &v))
			id = (uint32_t)json_object_get_int64(v);
		if (json_object_object_get_ex(r, "start", &v))
			start = json_object_get_int64(v);
		n++;
		rc = sched_job_get(p->s, id, &jb);
		if (rc == 0 && sched_job_is_running(jb->state) &&
		    (int64_t)jb->start_time == start) {
			kept++;
			sched_job_free(jb);
			continue;
		}
		if (rc == 0 && strcmp(sched_job_state_name(jb->state), "COMPLETED") == 0) {
			ended++;	/* it ended well meanwhile: not a loss */
			sched_job_free(jb);
			continue;
		}
		if (rc == 0) {
			snprintf(state, sizeof(state), "%s", sched_job_state_name(jb->state));
			snprintf(reason, sizeof(reason), "%s%s", sched_job_is_running(jb->state) ?
			    "started again (requeued) " : "", jb->reason ? jb->reason : "");
		} else {
			snprintf(state, sizeof(state), "unknown");
			snprintf(reason, sizeof(reason), "%s", rc == -ENOENT ? "no longer in Slurm" :
			    sched_strerror(p->s));
		}
		sched_job_free(jb);
		log_warnx("job %u did not keep running across the reboot: %s (%s)", id, state,
		    reason);
		o = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int64(id));
		json_object_object_add(o, "state", json_object_new_string(state));
		json_object_object_add(o, "reason", json_object_new_string(reason));
		json_object_array_add(lost, o);
	}
	plan_jset_int(p->j, "kf_jobs_kept", kept);
	plan_jset_int(p->j, "kf_jobs_completed", ended);
	journal_data_set(p->j, "kf_jobs_lost", lost);
	if (ended > 0)
		return plan_out(out, STEP_DONE, "%u of %u jobs kept running, %u completed meanwhile",
		    kept, n, ended);
	return plan_out(out, STEP_DONE, "%u of %u jobs kept running", kept, n);
}

void
kf_settings_what(struct plan *p, char *buf, size_t len)
{
	(void)p;
	snprintf(buf, len, "restore the clustermgtd and computemgtd settings");
}

int
kf_settings_run(struct plan *p, struct step_out *out)
{
	int rc;

	if ((rc = restore_clustermgtd(p)) != PCM_EXIT_OK ||
	    (rc = restore_timeout(p)) != PCM_EXIT_OK) {
		journal_step_set(p->j, "kf_settings", STEP_FAILED, "see the log");
		return rc;
	}
	return plan_out(out, STEP_DONE, "%s%s", plan_jget_int(p->j, "kf_cm_set", 0) ?
	    "clustermgtd restored" : "clustermgtd untouched", journal_data(p->j,
	    "kf_timeout_written") ? ", clustermgtd_timeout restored" : "");
}

/* The resume summary of a keep-fleet reboot. */
void
kf_summary(struct plan *p, char *buf, size_t len)
{
	struct json_object *lost = journal_data(p->j, "kf_jobs_lost");
	struct json_object *nlost = journal_data(p->j, "kf_nodes_lost");
	long down = (long)plan_jget_int(p->j, "kf_down_s", -1);
	long budget = (long)plan_jget_int(p->j, "kf_budget_s", -1);
	size_t nl = lost ? json_object_array_length(lost) : 0, o;

	o = (size_t)snprintf(buf, len, "pcm-agent: the head node is back after a keep-fleet "
	    "reboot (operation %s): ", journal_id(p->j));
	if (down < 0)
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "down time unknown");
	else
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "down %ld s", down);
	if (budget > 0)
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, " of a %ld s budget%s",
		    budget, down > budget ? " (EXCEEDED: compute nodes may have shut "
		    "themselves down)" : "");
	else if (budget == 0)
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, " (computemgtd's actions "
		    "are disabled: no budget)");
	else
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, " (no computemgtd budget "
		    "known)");
	o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "; %lld jobs kept running",
	    (long long)plan_jget_int(p->j, "kf_jobs_kept", 0));
	if (plan_jget_int(p->j, "kf_jobs_completed", 0) > 0)
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, ", %lld completed meanwhile",
		    (long long)plan_jget_int(p->j, "kf_jobs_completed", 0));
	for (size_t i = 0; i < nl; i++) {
		struct json_object *r = json_object_array_get_idx(lost, i), *id, *st, *why;

		json_object_object_get_ex(r, "id", &id);
		json_object_object_get_ex(r, "state", &st);
		json_object_object_get_ex(r, "reason", &why);
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s job %lld %s (%s)",
		    i == 0 ? "; did not survive:" : ",", (long long)json_object_get_int64(id),
		    json_object_get_string(st), json_object_get_string(why));
	}
	if (nlost != NULL && json_object_array_length(nlost) > 0)
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "; %zu nodes did not "
		    "re-register", json_object_array_length(nlost));
	snprintf(buf + (o < len ? o : len - 1), o < len ? len - o : 1, "; reservation removed");
}
