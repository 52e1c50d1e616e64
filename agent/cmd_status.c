/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_status.c - pcm-agent status: what the head node's cluster looks like now.
 *
 * The report is a list of sections; each collects its part into a JSON
 * object (the --json output, one key per section) and prints the same data
 * for people.  Adding a section (fleet, save, ...) takes one collect and one
 * print function and a row in sections[].
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "commands.h"
#include "log.h"
#include "output.h"
#include "plan.h"
#include "sched/sched.h"

const char help_status[] =
    "usage: pcm-agent status [--json]\n"
    "\n"
    "Show the cluster's identity (cluster name, region), whether slurmctld\n"
    "answers, the partitions and their states, the nodes, the jobs summary\n"
    "(what a fleet stop would do: requeue, fail, pending) and the maintenance\n"
    "reservation, and the prepare-restart / resume operation in progress.\n"
    "Changes nothing.\n"
    "\n"
    "options:\n"
    "  --json   one object with a key per section: cluster, slurm, jobs,\n"
    "           maintenance (slurm.partitions, slurm.nodes, jobs and\n"
    "           maintenance are null when Slurm cannot be asked; operation\n"
    "           is the journal, null when no operation is in progress)\n"
    "\n"
    "Exit status: 0; 1 when a section could not be read (e.g. slurmctld down),\n"
    "after printing everything else.\n";

/* What the sections share: the Slurm handle, opened once. */
struct status_run {
	struct pcm_ctx	*ctx;
	struct sched	*sched;
	int		 sched_tried;
	char		 sched_err[1024];
	int		 slurm_ok;	/* reachable */
};

static struct sched *
run_sched(struct status_run *run)
{
	if (!run->sched_tried) {
		run->sched_tried = 1;
		if (sched_open(&run->ctx->cfg, &run->sched, run->sched_err,
		    sizeof(run->sched_err)) < 0)
			run->sched = NULL;
	}
	return run->sched;
}

static struct json_object *
jstr(const char *s)
{
	return s != NULL && *s != '\0' ? json_object_new_string(s) : NULL;
}

/* --- cluster --- */

static struct json_object *
collect_cluster(struct status_run *run, int *bad)
{
	struct json_object *o = json_object_new_object();
	struct sched *s = run_sched(run);

	(void)bad;
	json_object_object_add(o, "name", jstr(run->ctx->cfg.cluster_name));
	json_object_object_add(o, "region", jstr(run->ctx->cfg.region));
	json_object_object_add(o, "slurm_cluster", s ? jstr(sched_cluster_name(s)) : NULL);
	return o;
}

static const char *
js(struct json_object *o, const char *key, const char *dflt)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
		return dflt;
	return json_object_get_string(v);
}

static long long
ji(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
		return 0;
	return json_object_get_int64(v);
}

static void
print_cluster(struct json_object *o)
{
	printf("%-12s %s (region %s; Slurm ClusterName %s)\n", "cluster",
	    js(o, "name", "(unknown)"), js(o, "region", "unknown"),
	    js(o, "slurm_cluster", "unknown"));
}

/* --- slurm: controller, partitions, nodes --- */

static struct json_object *
collect_slurm(struct status_run *run, int *bad)
{
	struct json_object *o = json_object_new_object();
	struct sched_partition_list *pl = NULL;
	struct sched_node_list *nl = NULL;
	struct sched *s = run_sched(run);

	json_object_object_add(o, "conf", jstr(run->ctx->cfg.slurm_conf));
	json_object_object_add(o, "controller", s ? jstr(sched_controller(s)) : NULL);
	if (s == NULL || sched_ping(s) < 0 || sched_partitions_load(s, &pl) < 0 ||
	    sched_nodes_load(s, &nl) < 0) {
		/* same keys as when reachable; what could not be read is null */
		json_object_object_add(o, "reachable", json_object_new_boolean(0));
		json_object_object_add(o, "error", json_object_new_string(s == NULL ?
		    run->sched_err : sched_strerror(s)));
		json_object_object_add(o, "partitions", NULL);
		json_object_object_add(o, "nodes", NULL);
		*bad = 1;
		goto out;
	}
	run->slurm_ok = 1;
	json_object_object_add(o, "reachable", json_object_new_boolean(1));
	json_object_object_add(o, "error", NULL);

	struct json_object *pa = json_object_new_array();
	for (size_t i = 0; i < pl->n; i++) {
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "name", jstr(pl->v[i].name));
		json_object_object_add(p, "state", jstr(pl->v[i].state));
		json_object_object_add(p, "nodes", jstr(pl->v[i].nodes));
		json_object_object_add(p, "total_nodes", json_object_new_int64(pl->v[i].total_nodes));
		json_object_object_add(p, "default", json_object_new_boolean(pl->v[i].is_default));
		json_object_array_add(pa, p);
	}
	json_object_object_add(o, "partitions", pa);

	struct json_object *na = json_object_new_array();
	for (size_t i = 0; i < nl->n; i++) {
		struct json_object *n = json_object_new_object();
		json_object_object_add(n, "name", jstr(nl->v[i].name));
		json_object_object_add(n, "state", jstr(nl->v[i].state));
		json_object_object_add(n, "allocated", json_object_new_boolean(nl->v[i].allocated));
		json_object_object_add(n, "responding", json_object_new_boolean(nl->v[i].responding));
		json_object_object_add(n, "powered_down",
		    json_object_new_boolean(nl->v[i].powered_down));
		json_object_array_add(na, n);
	}
	json_object_object_add(o, "nodes", na);
out:
	sched_partition_list_free(pl);
	sched_node_list_free(nl);
	return o;
}

static void
print_slurm(struct json_object *o)
{
	struct json_object *a, *reach;
	int ok = json_object_object_get_ex(o, "reachable", &reach) &&
	    json_object_get_boolean(reach);

	printf("%-12s %s (%s): %s\n", "slurmctld", js(o, "controller", "?"),
	    js(o, "conf", "no slurm.conf"), ok ? "reachable" : "NOT reachable");
	if (!ok) {
		printf("%-12s %s\n", "", js(o, "error", ""));
		return;
	}
	if (json_object_object_get_ex(o, "partitions", &a)) {
		for (size_t i = 0; i < json_object_array_length(a); i++) {
			struct json_object *p = json_object_array_get_idx(a, i);
			printf("%-12s %s %s (%lld nodes: %s)\n", i == 0 ? "partitions" : "",
			    js(p, "name", "?"), js(p, "state", "?"), ji(p, "total_nodes"),
			    js(p, "nodes", "-"));
		}
	}
	if (json_object_object_get_ex(o, "nodes", &a)) {
		size_t n = json_object_array_length(a), alloc = 0, down = 0, off = 0;
		for (size_t i = 0; i < n; i++) {
			struct json_object *x = json_object_array_get_idx(a, i), *v;
			if (json_object_object_get_ex(x, "allocated", &v) && json_object_get_boolean(v))
				alloc++;
			if (json_object_object_get_ex(x, "powered_down", &v) && json_object_get_boolean(v))
				off++;
			else if (strncmp(js(x, "state", ""), "DOWN", 4) == 0 ||
			    (json_object_object_get_ex(x, "responding", &v) && !json_object_get_boolean(v)))
				down++;
		}
		printf("%-12s %zu: %zu allocated, %zu down or not responding, %zu powered down\n",
		    "nodes", n, alloc, down, off);
	}
}

/* --- jobs --- */

static struct json_object *
collect_jobs(struct status_run *run, int *bad)
{
	struct sched_job_list *l = NULL;
	struct json_object *o;

	if (!run->slurm_ok)
		return NULL;
	if (sched_jobs_load(run->sched, 0, &l) < 0) {
		log_warnx("%s", sched_strerror(run->sched));
		*bad = 1;
		return NULL;
	}
	o = sched_summary_to_json(&l->summary);
	sched_job_list_free(l);
	return o;
}

static void
print_jobs(struct json_object *o)
{
	if (o == NULL) {
		printf("%-12s unknown\n", "jobs");
		return;
	}
	printf("%-12s %lld running (%lld requeue, %lld fail), %lld pending\n", "jobs",
	    ji(o, "running"), ji(o, "requeue"), ji(o, "fail"), ji(o, "pending"));
}

/* --- maintenance reservation --- */

static struct json_object *
collect_maintenance(struct status_run *run, int *bad)
{
	const char *name = run->ctx->cfg.reservation_name;
	struct sched_resv *r = NULL;
	struct json_object *o;
	int rc;

	if (!run->slurm_ok)
		return NULL;
	rc = sched_resv_get(run->sched, name, &r);
	if (rc < 0 && rc != -ENOENT) {
		log_warnx("%s", sched_strerror(run->sched));
		*bad = 1;
		return NULL;
	}
	o = json_object_new_object();
	json_object_object_add(o, "name", jstr(name));
	json_object_object_add(o, "reservation", r ? sched_resv_to_json(r) : NULL);
	sched_resv_free(r);
	return o;
}

static void
print_maintenance(struct json_object *o)
{
	struct json_object *r;

	if (o == NULL) {
		printf("%-12s unknown\n", "maintenance");
		return;
	}
	if (!json_object_object_get_ex(o, "reservation", &r) || r == NULL) {
		printf("%-12s none (no reservation %s)\n", "maintenance", js(o, "name", "?"));
		return;
	}
	printf("%-12s %s %s to %s\n", "maintenance", js(r, "name", "?"),
	    js(r, "start_time", "?"), js(r, "end_time", "?"));
}

/* --- the prepare-restart / resume operation in progress (agent/plan/) --- */

static struct json_object *
collect_operation(struct status_run *run, int *bad)
{
	return plan_status_json(&run->ctx->cfg, bad);
}

static const struct status_section {
	const char		*name;
	struct json_object	*(*collect)(struct status_run *, int *bad);
	void			(*print)(struct json_object *);
} sections[] = {
	{ "cluster", collect_cluster, print_cluster },
	{ "slurm", collect_slurm, print_slurm },
	{ "jobs", collect_jobs, print_jobs },
	{ "maintenance", collect_maintenance, print_maintenance },
	{ "operation", collect_operation, plan_status_print },
};

int
cmd_status(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct status_run run = { .ctx = ctx };
	struct json_object *all;
	int ch, bad = 0;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctx->json = 1;
			break;
		default:
			return cmd_usage_error("status", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("status", "unexpected argument '%s'", argv[optind]);

	all = json_object_new_object();
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		struct json_object *o = sections[i].collect(&run, &bad);
		json_object_object_add(all, sections[i].name, o);
		if (!ctx->json)
			sections[i].print(o);
	}
	if (ctx->json)
		output_json(all);
	json_object_put(all);
	if (run.sched == NULL && run.sched_tried)
		log_warnx("%s", run.sched_err);
	else if (!run.slurm_ok && run.sched != NULL)
		log_warnx("%s", sched_strerror(run.sched));
	sched_close(run.sched);
	return bad ? PCM_EXIT_ERROR : PCM_EXIT_OK;
}
