/* SPDX-License-Identifier: GPL-2.0-or-later */
/* plan_patch.c - see plan_patch.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws/ec2.h"
#include "journal.h"
#include "log.h"
#include "plan_patch.h"

void
plan_patch_cfg(const struct pcm_config *cfg, struct patch_cfg *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->state_dir = cfg->state_dir;
	pc->command = cfg->patch_command;
	pc->exclude = cfg->patch_exclude;
	pc->timeout_s = cfg->patch_timeout;
}

int
plan_patch_preflight(const struct pcm_config *cfg, char **desc)
{
	struct patch_cfg pc;
	struct patch_error err = { "" };

	plan_patch_cfg(cfg, &pc);
	if ((*desc = patch_describe(&pc, &err)) == NULL) {
		log_warnx("cannot plan the OS update (--patch): %s", err.msg);
		return PCM_EXIT_ERROR;
	}
	return PCM_EXIT_OK;
}

struct progress_arg {
	FILE	*out;
	int	 quiet;
};

static void
progress(long elapsed_s, const char *line, void *arg)
{
	struct progress_arg *pa = arg;

	if (pa->quiet)
		return;
	fprintf(pa->out, "  patch: %ldm%02lds%s%s\n", elapsed_s / 60, elapsed_s % 60,
	    line[0] ? ": " : "", line);
	fflush(pa->out);
}

int
plan_patch_run(const struct pcm_config *cfg, struct journal *j, FILE *out, int quiet,
    char **detail)
{
	struct patch_cfg pc;
	struct patch_result r;
	struct patch_error err = { "" };
	struct progress_arg pa = { out, quiet };
	int rc, n = 0;

	*detail = NULL;
	plan_patch_cfg(cfg, &pc);
	pc.operation = j != NULL ? journal_id(j) : NULL;
	if (getenv("PCM_TEST_PATCH_PROGRESS_S") != NULL)
		pc.progress_s = atol(getenv("PCM_TEST_PATCH_PROGRESS_S"));
	rc = patch_update(&pc, progress, &pa, &r, &err);
	if (j != NULL)
		journal_data_set(j, "patch", patch_result_json(&r));
	for (size_t i = 0; i < r.changes.n; i++)
		n += r.changes.v[i].to != NULL;
	if (rc < 0) {
		log_warnx("%s%s", err.msg, n > 0 ? " (some packages were updated before: see the "
		    "log)" : "");
		*detail = strdup(err.msg);
		patch_result_free(&r);
		return PCM_EXIT_ERROR;
	}
	if (asprintf(detail, "%d package%s updated in %ld s%s%s%s; reboot %s (%s); log %s", n,
	    n == 1 ? "" : "s", r.elapsed_s,
	    strcmp(r.kernel_after, r.kernel_before) != 0 && r.kernel_after[0] ? ", kernel " : "",
	    strcmp(r.kernel_after, r.kernel_before) != 0 && r.kernel_after[0] ? r.kernel_after : "",
	    strcmp(r.kernel_after, r.kernel_before) != 0 && r.kernel_after[0] ? " installed" : "",
	    r.reboot_needed ? "needed" : "not needed", r.reboot_why, r.log) < 0)
		*detail = NULL;
	for (size_t i = 0; !quiet && i < r.changes.n; i++) {
		const struct patch_change *c = &r.changes.v[i];
		fprintf(out, "  patch: %s %s -> %s\n", c->name, c->from ? c->from : "(new)",
		    c->to ? c->to : "(removed)");
	}
	patch_result_free(&r);
	return PCM_EXIT_OK;
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) || v == NULL)
		return NULL;
	return json_object_get_string(v);
}

int
plan_patch_reboot_needed(const struct journal *j, char *why, size_t len)
{
	struct json_object *p = journal_data(j, "patch"), *v;

	if (p == NULL || !json_object_object_get_ex(p, "reboot_needed", &v)) {
		snprintf(why, len, "no OS update result in the journal");
		return -1;
	}
	snprintf(why, len, "%s", jstr(p, "reboot_why") ? jstr(p, "reboot_why") : "");
	return json_object_get_boolean(v) ? 1 : 0;
}

int
plan_patch_resume_check(const struct journal *j, char *buf, size_t len)
{
	struct json_object *p = journal_data(j, "patch");
	const char *after = jstr(p, "kernel_after"), *before = jstr(p, "kernel_running");
	char running[128];

	buf[0] = '\0';
	if (p == NULL || after == NULL || after[0] == '\0')
		return 0;
	patch_kernel_running(running, sizeof(running));
	if (strcmp(running, after) == 0) {
		snprintf(buf, len, "kernel %s runs (the OS update's; was %s)", running,
		    before ? before : "?");
		return 0;
	}
	if (strverscmp(running, after) > 0) {
		snprintf(buf, len, "kernel %s runs (newer than the OS update's %s)", running, after);
		return 0;
	}
	snprintf(buf, len, "kernel %s runs, NOT the %s the OS update installed: check the "
	    "boot loader's default (grubby --default-kernel) and reboot", running, after);
	log_warnx("%s", buf);
	return 1;
}

struct json_object *
plan_login_nodes(struct aws *a, const char *cluster)
{
	struct ec2_instances l = { 0 };
	struct aws_error err = { 0 };
	struct json_object *arr;
	int rc;

	if ((rc = ec2_login_nodes(a, cluster, &l, &err)) != AWS_OK) {
		log_warnx("cannot list the login nodes of cluster %s: %s%s", cluster ? cluster : "?",
		    err.message, rc == AWS_E_DENIED ? " (the policy in packaging/iam/ allows "
		    "ec2:DescribeInstances)" : "");
		return NULL;
	}
	arr = json_object_new_array();
	for (size_t i = 0; i < l.n; i++) {
		const struct ec2_instance *x = &l.v[i];
		struct json_object *o = json_object_new_object();
		const char *name = ec2_tag(x, "Name");

		json_object_object_add(o, "id", json_object_new_string(x->id));
		json_object_object_add(o, "name", json_object_new_string(name ? name : ""));
		json_object_object_add(o, "ip", json_object_new_string(x->private_ip ?
		    x->private_ip : ""));
		json_object_object_add(o, "state", json_object_new_string(x->state));
		json_object_array_add(arr, o);
	}
	ec2_instances_free(&l);
	return arr;
}

char *
plan_login_notice(struct json_object *nodes)
{
	size_t n = nodes ? json_object_array_length(nodes) : 0, len = 0;
	char *buf = NULL;
	FILE *fp;

	if (n == 0 || (fp = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(fp, "%zu login node%s (", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(nodes, i);
		const char *ip = jstr(o, "ip");

		fprintf(fp, "%s%s%s%s", i ? ", " : "", jstr(o, "id") ? jstr(o, "id") : "?",
		    ip && ip[0] ? " " : "", ip ? ip : "");
	}
	fprintf(fp, "): their users' shells will hang while the head node is down "
	    "(/home and /opt/slurm are NFS mounts from it) and go on when it is back");
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
