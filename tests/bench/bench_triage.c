/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench_triage.c - time sched_jobs_load() (libslurm load + conversion +
 * triage), the path `pcm-agent jobs` and `status` take, per call.
 *
 *   bench_triage SLURM_CONF CALLS EXPECTED_JOBS
 *
 * Prints min / median / max milliseconds per call; exits 1 if a call fails
 * or returns fewer jobs than expected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "sched/sched.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct pcm_config cfg;
	struct sched *s = NULL;
	char err[1024];
	int calls, rc = 1;
	long expect;
	double *t = NULL;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_triage SLURM_CONF CALLS EXPECTED_JOBS\n");
		return 2;
	}
	calls = atoi(argv[2]);
	expect = atol(argv[3]);
	if (calls < 1 || config_init(&cfg) < 0)
		return 2;
	free(cfg.slurm_conf);
	cfg.slurm_conf = strdup(argv[1]);
	cfg.slurm_timeout = 60;
	if (sched_open(&cfg, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_triage: %s\n", err);
		goto out;
	}
	if ((t = calloc((size_t)calls, sizeof(*t))) == NULL)
		goto out;
	for (int i = 0; i < calls; i++) {
		struct sched_job_list *l = NULL;
		double t0 = now_ms();
		if (sched_jobs_load(s, 0, &l) < 0) {
			fprintf(stderr, "bench_triage: %s\n", sched_strerror(s));
			goto out;
		}
		t[i] = now_ms() - t0;
		if ((long)l->n < expect) {
			fprintf(stderr, "bench_triage: %zu jobs, expected %ld\n", l->n, expect);
			sched_job_list_free(l);
			goto out;
		}
		if (i == 0)
			printf("jobs per call: %zu (pending %u, running %u)\n", l->n,
			    l->summary.pending, l->summary.running);
		sched_job_list_free(l);
	}
	qsort(t, (size_t)calls, sizeof(*t), cmp_double);
	printf("sched_jobs_load + triage: %d calls, per call min %.1f ms, median %.1f ms, "
	    "max %.1f ms\n", calls, t[0], t[calls / 2], t[calls - 1]);
	rc = 0;
out:
	free(t);
	sched_close(s);
	config_free(&cfg);
	return rc;
}
