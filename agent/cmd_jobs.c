/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_jobs.c - pcm-agent jobs: every job and what a fleet stop would do to it */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "commands.h"
#include "log.h"
#include "output.h"
#include "sched/sched.h"

const char help_jobs[] =
    "usage: pcm-agent jobs [--json] [--all]\n"
    "\n"
    "List the Slurm jobs and, for each, what happens to it if the compute\n"
    "fleet stopped now (OUTCOME):\n"
    "  requeue  a running batch job that Slurm requeues; it starts over later\n"
    "  fail     a running job that would end NODE_FAIL: a batch job submitted\n"
    "           with --no-requeue (or JobRequeue=0), or any srun/salloc job\n"
    "  pending  waits in the queue, untouched\n"
    "  none     finished or finishing (only with --all)\n"
    "Columns: ID, USER, NAME, PARTITION, STATE, ELAPSED, TIME_LEFT, OUTCOME.\n"
    "\n"
    "options:\n"
    "  --json   {\"jobs\":[{\"id\",\"user\",\"name\",\"partition\",\"state\",\"batch\",\n"
    "           \"requeue\",\"outcome\",\"start_time\",\"time_limit_s\"}],\n"
    "           \"summary\":{\"running\",\"requeue\",\"fail\",\"pending\"}}\n"
    "           (start_time null before the start, time_limit_s null if unlimited)\n"
    "  --all    also list finished jobs Slurm still remembers\n"
    "\n"
    "Exit status: 0, or 1 when Slurm cannot be reached (within slurm_timeout).\n";

static void
print_table(const struct sched_job_list *l)
{
	static const char *const hdr[] = { "ID", "USER", "NAME", "PARTITION", "STATE",
		"ELAPSED", "TIME_LEFT", "OUTCOME" };
	struct table *t = table_new(8, hdr);
	char id[24], el[32], left[32];

	for (size_t i = 0; t != NULL && i < l->n; i++) {
		const struct sched_job *j = &l->v[i];
		long rem;
		if (j->array_job_id != 0)
			snprintf(id, sizeof(id), "%u_%u", j->array_job_id, j->array_task_id);
		else
			snprintf(id, sizeof(id), "%u", j->id);
		output_elapsed(j->elapsed_s, el, sizeof(el));
		if (j->time_limit_s < 0) {
			snprintf(left, sizeof(left), "UNLIMITED");
		} else {
			rem = j->time_limit_s - j->elapsed_s;
			output_elapsed(rem > 0 ? rem : 0, left, sizeof(left));
		}
		const char *row[] = { id, j->user, j->name, j->partition,
			sched_job_state_name(j->state), el, left, sched_outcome_name(j->outcome) };
		table_add(t, row);
	}
	if (t != NULL && l->n > 0)
		table_print(t, stdout);
	table_free(t);
	printf("%s%u running (%u requeue, %u fail), %u pending\n", l->n > 0 ? "\n" : "",
	    l->summary.running, l->summary.requeue, l->summary.fail, l->summary.pending);
}

int
cmd_jobs(struct pcm_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct sched_job_list *l = NULL;
	struct sched *s = NULL;
	char err[1024];
	int ch, all = 0, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			ctx->json = 1;
			break;
		case 'a':
			all = 1;
			break;
		default:
			return cmd_usage_error("jobs", "bad option");
		}
	}
	if (optind < argc)
		return cmd_usage_error("jobs", "unexpected argument '%s'", argv[optind]);

	if (sched_open(&ctx->cfg, &s, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return PCM_EXIT_ERROR;
	}
	if (sched_jobs_load(s, all, &l) < 0) {
		log_warnx("%s", sched_strerror(s));
		rc = PCM_EXIT_ERROR;
		goto out;
	}
	if (ctx->json) {
		struct json_object *o = sched_jobs_to_json(l);
		output_json(o);
		json_object_put(o);
	} else {
		print_table(l);
	}
	rc = PCM_EXIT_OK;
out:
	sched_job_list_free(l);
	sched_close(s);
	return rc;
}
