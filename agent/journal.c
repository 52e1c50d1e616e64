/* SPDX-License-Identifier: GPL-2.0-or-later */
/* journal.c - see journal.h */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "journal.h"
#include "lock.h"
#include "output.h"

struct journal {
	char			*dir;
	char			*path;
	struct json_object	*root;
};

static const char *state_names[] = { "pending", "running", "done", "failed", "skipped" };

const char *
step_state_name(enum step_state s)
{
	return (unsigned)s < 5 ? state_names[s] : "?";
}

static int
state_from_name(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (s && strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

static int
fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int
json_write_atomic(const char *path, struct json_object *obj, int mode)
{
	char tmp[PATH_MAX];
	const char *text;
	size_t len;
	int fd, rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)) < 0)
		return -errno;
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto fail;
		}
		off += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		rc = errno ? -errno : -EIO;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto fail;
	}
	return fsync_dir(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

static const char *
now_iso(char *buf, size_t len)
{
	return output_iso8601(time(NULL), buf, len);
}

static int
journal_write(struct journal *j)
{
	char ts[32];

	json_object_object_add(j->root, "updated", json_object_new_string(now_iso(ts, sizeof(ts))));
	return json_write_atomic(j->path, j->root, 0600);
}

static struct journal *
journal_alloc(const char *state_dir)
{
	struct journal *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->dir = strdup(state_dir);
	if (j->dir == NULL || asprintf(&j->path, "%s/journal.json", state_dir) < 0) {
		j->path = NULL;
		journal_free(j);
		return NULL;
	}
	return j;
}

int
journal_create(const char *state_dir, const char *trigger,
    const char *const *steps, struct journal **out)
{
	struct journal *j;
	struct json_object *st;
	char ts[32], id[64];
	struct tm tm;
	time_t now = time(NULL);
	int rc;

	*out = NULL;
	if ((rc = mkdir_p(state_dir, 0700)) < 0)
		return rc;
	if ((j = journal_alloc(state_dir)) == NULL)
		return -ENOMEM;
	if (access(j->path, F_OK) == 0) {
		journal_free(j);
		return -EEXIST;
	}
	gmtime_r(&now, &tm);
	strftime(id, sizeof(id), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(id + strlen(id), sizeof(id) - strlen(id), "-%ld", (long)getpid());

	j->root = json_object_new_object();
	json_object_object_add(j->root, "version", json_object_new_int(1));
	json_object_object_add(j->root, "id", json_object_new_string(id));
	json_object_object_add(j->root, "trigger", json_object_new_string(trigger ? trigger : "manual"));
	json_object_object_add(j->root, "created", json_object_new_string(now_iso(ts, sizeof(ts))));
	json_object_object_add(j->root, "phase", json_object_new_string("prepare"));
	st = json_object_new_object();
	for (const char *const *s = steps; *s; s++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "state", json_object_new_string("pending"));
		json_object_object_add(st, *s, o);
	}
	json_object_object_add(j->root, "steps", st);
	json_object_object_add(j->root, "data", json_object_new_object());
	if ((rc = journal_write(j)) < 0) {
		journal_free(j);
		return rc;
	}
	*out = j;
	return 0;
}

int
journal_load(const char *state_dir, struct journal **out)
{
	struct journal *j;
	struct json_object *v;

	*out = NULL;
	if ((j = journal_alloc(state_dir)) == NULL)
		return -ENOMEM;
	if (access(j->path, F_OK) < 0) {
		int e = errno;
		journal_free(j);
		return -e;
	}
	j->root = json_object_from_file(j->path);
	if (j->root == NULL || !json_object_is_type(j->root, json_type_object) ||
	    !json_object_object_get_ex(j->root, "id", &v) ||
	    !json_object_object_get_ex(j->root, "steps", &v) ||
	    !json_object_is_type(v, json_type_object) ||
	    !json_object_object_get_ex(j->root, "data", &v) ||
	    !json_object_is_type(v, json_type_object)) {
		journal_free(j);
		return -EBADMSG;
	}
	*out = j;
	return 0;
}

void
journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	json_object_put(j->root);
	free(j->dir);
	free(j->path);
	free(j);
}

static const char *
root_str(const struct journal *j, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(j->root, key, &v))
		return NULL;
	return json_object_get_string(v);
}

const char *journal_id(const struct journal *j) { return root_str(j, "id"); }
const char *journal_trigger(const struct journal *j) { return root_str(j, "trigger"); }
const char *journal_phase(const struct journal *j) { return root_str(j, "phase"); }
const char *journal_path(const struct journal *j) { return j->path; }
struct json_object *journal_json(const struct journal *j) { return j->root; }

static struct json_object *
step_obj(const struct journal *j, const char *step)
{
	struct json_object *steps, *o;

	if (!json_object_object_get_ex(j->root, "steps", &steps) ||
	    !json_object_object_get_ex(steps, step, &o))
		return NULL;
	return o;
}

enum step_state
journal_step(const struct journal *j, const char *step)
{
	struct json_object *o = step_obj(j, step), *v;
	int s;

	if (o == NULL || !json_object_object_get_ex(o, "state", &v))
		return STEP_PENDING;
	s = state_from_name(json_object_get_string(v));
	return s < 0 ? STEP_PENDING : (enum step_state)s;
}

const char *
journal_step_detail(const struct journal *j, const char *step)
{
	struct json_object *o = step_obj(j, step), *v;

	if (o == NULL || !json_object_object_get_ex(o, "detail", &v))
		return NULL;
	return json_object_get_string(v);
}

int
journal_step_set(struct journal *j, const char *step, enum step_state st,
    const char *detail)
{
	struct json_object *steps, *o = step_obj(j, step);
	char ts[32];

	if (o == NULL) {
		if (!json_object_object_get_ex(j->root, "steps", &steps))
			return -EBADMSG;
		o = json_object_new_object();
		json_object_object_add(steps, step, o);
	}
	json_object_object_add(o, "state", json_object_new_string(step_state_name(st)));
	now_iso(ts, sizeof(ts));
	if (st == STEP_RUNNING)
		json_object_object_add(o, "started", json_object_new_string(ts));
	else if (st != STEP_PENDING)
		json_object_object_add(o, "ended", json_object_new_string(ts));
	if (detail != NULL)
		json_object_object_add(o, "detail", json_object_new_string(detail));
	return journal_write(j);
}

int
journal_set_phase(struct journal *j, const char *phase)
{
	json_object_object_add(j->root, "phase", json_object_new_string(phase));
	return journal_write(j);
}

int
journal_data_set(struct journal *j, const char *key, struct json_object *val)
{
	struct json_object *data;

	if (!json_object_object_get_ex(j->root, "data", &data)) {
		json_object_put(val);
		return -EBADMSG;
	}
	json_object_object_add(data, key, val);
	return journal_write(j);
}

struct json_object *
journal_data(const struct journal *j, const char *key)
{
	struct json_object *data, *v;

	if (!json_object_object_get_ex(j->root, "data", &data) ||
	    !json_object_object_get_ex(data, key, &v))
		return NULL;
	return v;
}

const char *
journal_data_str(const struct journal *j, const char *key)
{
	struct json_object *v = journal_data(j, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int
journal_copy_to(const struct journal *j, const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/journal.json", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return json_write_atomic(path, j->root, 0600);
}

int
journal_close(struct journal *j, const char *final_phase)
{
	char hist[PATH_MAX], dest[PATH_MAX];
	int rc;

	json_object_object_add(j->root, "phase", json_object_new_string(final_phase));
	if ((rc = journal_write(j)) < 0)
		return rc;
	if (snprintf(hist, sizeof(hist), "%s/history", j->dir) >= (int)sizeof(hist) ||
	    snprintf(dest, sizeof(dest), "%s/%s.json", hist, journal_id(j)) >= (int)sizeof(dest))
		return -ENAMETOOLONG;
	if ((rc = mkdir_p(hist, 0700)) < 0)
		return rc;
	if (rename(j->path, dest) < 0)
		return -errno;
	if ((rc = fsync_dir(dest)) < 0)
		return rc;
	return fsync_dir(j->path);
}
