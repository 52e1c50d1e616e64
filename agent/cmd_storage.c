/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cmd_storage.c - shared by cmd_targets/save/restore/verify; see cmd_storage.h */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cmd_storage.h"
#include "identity.h"
#include "lock.h"
#include "log.h"
#include "output.h"

int
storage_pick_target(struct pcm_ctx *ctx, const char *arg, uint64_t need, char **out)
{
	const struct pcm_config *cfg = &ctx->cfg;
	struct stor_mounts *m = NULL;
	const struct stor_mount *mt;
	int rc;

	*out = NULL;
	if (arg != NULL || cfg->target != NULL) {
		if ((*out = strdup(arg ? arg : cfg->target)) == NULL)
			return PCM_EXIT_ERROR;
		return 0;
	}
	if ((rc = stor_mounts_load(cfg->mountinfo, cfg->ephemeral_dir, (int)cfg->allow_root_target,
	    NULL, &m)) < 0) {
		log_warnx("cannot read the mounts from %s: %s", cfg->mountinfo, strerror(-rc));
		return PCM_EXIT_ERROR;
	}
	if ((mt = stor_mounts_pick(m, need)) == NULL) {
		log_warnx("no save target: no EFS, FSx or EBS mount with room for the save "
		    "(see `pcm-agent targets`; set target = PATH in the config or use --target)");
		stor_mounts_free(m);
		return PCM_EXIT_ERROR;
	}
	*out = strdup(mt->target);
	stor_mounts_free(m);
	return *out ? 0 : PCM_EXIT_ERROR;
}

char *
storage_savedir(struct pcm_ctx *ctx, const char *target)
{
	char *cluster = identity_cluster_name(&ctx->cfg);
	char *inst = identity_instance_id(&ctx->cfg);
	char *s = NULL;

	if (cluster && inst && (s = stor_savedir(target, cluster, inst)) == NULL)
		log_warnx("cannot name the save directory under %s: cluster name '%s' or "
		    "instance id '%s' is not usable as a directory name (set cluster_name)",
		    target, cluster, inst);
	free(cluster);
	free(inst);
	return s;
}

int
storage_lock(struct pcm_ctx *ctx, struct pcm_lock *lk, const char *what)
{
	return storage_lock_wait(ctx, lk, what, 0);
}

int
storage_lock_wait(struct pcm_ctx *ctx, struct pcm_lock *lk, const char *what, int wait_s)
{
	char holder[64] = "";
	pid_t pid = 0;
	int rc;

	for (int waited_ms = 0;; waited_ms += 100) {
		rc = lock_acquire(lk, ctx->cfg.state_dir, what, &pid, holder, sizeof(holder));
		if (rc != -EWOULDBLOCK || waited_ms >= wait_s * 1000)
			break;
		usleep(100 * 1000);
	}
	if (rc == -EWOULDBLOCK) {
		log_warnx("cannot %s: another pcm-agent operation (%s, pid %ld) holds the lock "
		    "%s/lock (wait for it to finish)", what, holder[0] ? holder : "?", (long)pid,
		    ctx->cfg.state_dir);
		return PCM_EXIT_LOCKED;
	}
	if (rc < 0) {
		log_warnx("cannot take the lock in %s: %s", ctx->cfg.state_dir, strerror(-rc));
		return PCM_EXIT_ERROR;
	}
	return 0;
}

static int progress_shown;

static void
storage_log(int level, const char *msg)
{
	if (progress_shown) {
		fprintf(stderr, "\r\033[K");
		progress_shown = 0;
	}
	if (level == 0)
		log_warnx("%s", msg);
	else if (level == 1)
		log_notice("%s", msg);
	else
		log_info("%s", msg);
}

static void
show_progress(const struct stor_progress *p, void *arg)
{
	const char *verb = arg;
	char b1[32], b2[32], b3[32], eta[32] = "-";
	double rate = p->elapsed > 0 ? p->bytes_done / p->elapsed : 0;

	if (rate > 0 && p->bytes_total > p->bytes_done)
		output_elapsed((long)((p->bytes_total - p->bytes_done) / rate), eta, sizeof(eta));
	fprintf(stderr, "\r%s %s / %s, %llu / %llu files, %s/s, ETA %s\033[K", verb,
	    output_bytes(p->bytes_done, b1, sizeof(b1)), output_bytes(p->bytes_total, b2, sizeof(b2)),
	    (unsigned long long)p->files_done, (unsigned long long)p->files_total,
	    output_bytes((unsigned long long)rate, b3, sizeof(b3)), eta);
	fflush(stderr);
	progress_shown = 1;
}

int
storage_add_exclude(struct pcm_ctx *ctx, const char *pattern, char *err, size_t errlen)
{
	struct strlist *l = &ctx->cfg.exclude;
	char **nv;
	int rc;

	if ((rc = stor_exclude_check(pattern, err, errlen)) < 0)
		return rc;
	if ((nv = realloc(l->v, (l->n + 2) * sizeof(*nv))) == NULL)
		goto nomem;
	l->v = nv;
	if ((nv[l->n] = strdup(pattern)) == NULL)
		goto nomem;
	l->v[++l->n] = NULL;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

void
storage_opts(struct pcm_ctx *ctx, struct stor_opts *o, const char *verb)
{
	memset(o, 0, sizeof(*o));
	stor_set_logger(storage_log);
	o->workers = (int)ctx->cfg.workers;
	o->delta_min_size = (uint64_t)ctx->cfg.delta_min_size;
	o->exclude = (const char *const *)ctx->cfg.exclude.v;
	o->nexclude = ctx->cfg.exclude.n;
	if (!ctx->json && ctx->verbose >= 0 && isatty(STDERR_FILENO)) {
		o->progress = show_progress;
		o->progress_arg = (void *)verb;
	}
}

void
storage_progress_done(void)
{
	if (progress_shown)
		fprintf(stderr, "\r\033[K");
	progress_shown = 0;
}

void
storage_print_json(const char *op, int ok, const char *path1, const char *path2,
    const struct stor_result *r)
{
	storage_print_json_paths(op, ok, path1, path2, r, NULL, 0);
}

void
storage_print_json_paths(const char *op, int ok, const char *path1, const char *path2,
    const struct stor_result *r, const char *const *paths, size_t npaths)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "operation", json_object_new_string(op));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	if (path1)
		json_object_object_add(o, "savedir", json_object_new_string(path1));
	if (path2)
		json_object_object_add(o, strcmp(op, "save") == 0 ? "source" : "destination",
		    json_object_new_string(path2));
	json_object_object_add(o, "entries", json_object_new_int64((int64_t)r->entries));
	json_object_object_add(o, "files", json_object_new_int64((int64_t)r->files));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)r->bytes));
	json_object_object_add(o, "files_copied", json_object_new_int64((int64_t)r->files_copied));
	json_object_object_add(o, "bytes_copied", json_object_new_int64((int64_t)r->bytes_copied));
	json_object_object_add(o, "files_reused", json_object_new_int64((int64_t)r->files_reused));
	json_object_object_add(o, "files_delta", json_object_new_int64((int64_t)r->files_delta));
	json_object_object_add(o, "bytes_written", json_object_new_int64((int64_t)r->bytes_written));
	json_object_object_add(o, "removed", json_object_new_int64((int64_t)r->removed));
	json_object_object_add(o, "changed", json_object_new_int64((int64_t)r->changed));
	json_object_object_add(o, "vanished", json_object_new_int64((int64_t)r->vanished));
	json_object_object_add(o, "skipped", json_object_new_int64((int64_t)r->skipped));
	json_object_object_add(o, "bad", json_object_new_int64((int64_t)r->bad));
	if (strcmp(op, "restore") == 0) {
		json_object_object_add(o, "quarantined",
		    json_object_new_int64((int64_t)r->quarantined));
		if (r->quarantine[0])
			json_object_object_add(o, "quarantine",
			    json_object_new_string(r->quarantine));
		json_object_object_add(o, "links_split",
		    json_object_new_int64((int64_t)r->links_split));
		json_object_object_add(o, "meta_failed",
		    json_object_new_int64((int64_t)r->meta_failed));
	}
	if (strcmp(op, "verify") == 0) {
		json_object_object_add(o, "files_reread",
		    json_object_new_int64((int64_t)r->files_reread));
		json_object_object_add(o, "files_known",
		    json_object_new_int64((int64_t)r->files_known));
	}
	if (npaths > 0) {
		struct json_object *a = json_object_new_array();

		for (size_t i = 0; i < npaths; i++)
			json_object_array_add(a, json_object_new_string(paths[i] ? paths[i] : "?"));
		json_object_object_add(o, "paths", a);
	}
	if (strcmp(op, "save") == 0) {
		json_object_object_add(o, "excluded", json_object_new_int64((int64_t)r->excluded));
		json_object_object_add(o, "bytes_excluded",
		    json_object_new_int64((int64_t)r->bytes_excluded));
	}
	json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
	if (!ok && r->errmsg[0])
		json_object_object_add(o, "error", json_object_new_string(r->errmsg));
	output_json(o);
	json_object_put(o);
}
