/* SPDX-License-Identifier: GPL-2.0-or-later */
/* maintfile.c - see maintfile.h */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "lock.h"
#include "maintfile.h"
#include "output.h"
#include "../slurm-plugin/pcm_notice.h"

/* the biggest maintenance.json we read: a few hundred bytes in practice */
#define MAINTFILE_MAX	65536

static const char *const phase_names[] = {
	[MAINT_PHASE_SCHEDULED] = "scheduled",
	[MAINT_PHASE_PREPARING] = "preparing",
	[MAINT_PHASE_UNDER_WAY] = "under-way",
	[MAINT_PHASE_RESUMING] = "resuming",
};
#define NPHASES (sizeof(phase_names) / sizeof(phase_names[0]))

static void __attribute__((format(printf, 2, 3)))
seterr(struct maintfile_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

struct maintfile *
maintfile_new(void)
{
	return calloc(1, sizeof(struct maintfile));
}

void
maintfile_free(struct maintfile *m)
{
	if (m == NULL)
		return;
	free(m->code);
	free(m->event_id);
	free(m->reservation);
	free(m->message);
	free(m);
}

int
maintfile_set_str(char **field, const char *s)
{
	char *c = NULL;

	if (s != NULL && (c = strdup(s)) == NULL)
		return -ENOMEM;
	free(*field);
	*field = c;
	return 0;
}

const char *
maintfile_phase_name(enum maint_phase p)
{
	if ((size_t)p < NPHASES)
		return phase_names[p];
	return "unknown";
}

int
maintfile_phase_parse(const char *s, enum maint_phase *out)
{
	for (size_t i = 0; i < NPHASES; i++) {
		if (strcmp(s, phase_names[i]) == 0) {
			*out = (enum maint_phase)i;
			return 0;
		}
	}
	return -EINVAL;
}

int
maintfile_path(const char *run_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", run_dir, MAINTFILE_NAME);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* an event code, event id or reservation name: printable, no blanks */
static int
plain_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 256)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

int
maintfile_validate(const struct maintfile *m, struct maintfile_error *err)
{
	if ((size_t)m->phase >= NPHASES) {
		seterr(err, "invalid maintenance state: unknown phase %d", (int)m->phase);
		return -EINVAL;
	}
	if (m->code == NULL || !plain_name(m->code)) {
		seterr(err, "invalid maintenance state: event code '%s' is not a plain name "
		    "(letters, digits, '-', '_', '.', ':')", m->code ? m->code : "");
		return -EINVAL;
	}
	if (m->event_id != NULL && !plain_name(m->event_id)) {
		seterr(err, "invalid maintenance state: event id '%s' is not a plain name",
		    m->event_id);
		return -EINVAL;
	}
	if (m->reservation != NULL && !plain_name(m->reservation)) {
		seterr(err, "invalid maintenance state: reservation '%s' is not a plain name",
		    m->reservation);
		return -EINVAL;
	}
	if (m->not_before <= 0) {
		seterr(err, "invalid maintenance state: not_before is missing");
		return -EINVAL;
	}
	if (m->not_after != 0 && m->not_after < m->not_before) {
		seterr(err, "invalid maintenance state: not_after is before not_before");
		return -EINVAL;
	}
	if (m->window_start < 0 || m->window_end < 0 ||
	    (m->window_end != 0 && m->window_start != 0 && m->window_end < m->window_start)) {
		seterr(err, "invalid maintenance state: the window ends before it starts");
		return -EINVAL;
	}
	if (m->message != NULL && strlen(m->message) > 4096) {
		seterr(err, "invalid maintenance state: message longer than 4096 bytes");
		return -EINVAL;
	}
	return 0;
}

/* obj[key] = ISO string, obj[key_epoch] = t; 0 or -1 */
static int
add_time(struct json_object *obj, const char *key, time_t t)
{
	char iso[32], k[64];

	output_iso8601(t, iso, sizeof(iso));
	snprintf(k, sizeof(k), "%s_epoch", key);
	if (json_object_object_add(obj, key, json_object_new_string(iso)) < 0 ||
	    json_object_object_add(obj, k, json_object_new_int64((int64_t)t)) < 0)
		return -1;
	return 0;
}

static struct json_object *
str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

struct json_object *
maintfile_to_json(const struct maintfile *m)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ev = json_object_new_object();
	struct json_object *win = json_object_new_object();

	if (o == NULL || ev == NULL || win == NULL)
		goto fail;
	if (json_object_object_add(ev, "code", str_or_null(m->code)) < 0 ||
	    json_object_object_add(ev, "event_id", str_or_null(m->event_id)) < 0 ||
	    add_time(ev, "not_before", m->not_before) < 0 ||
	    add_time(ev, "not_after", m->not_after) < 0 ||
	    add_time(win, "start", m->window_start) < 0 ||
	    add_time(win, "end", m->window_end) < 0)
		goto fail;
	if (json_object_object_add(o, "version", json_object_new_int(MAINTFILE_VERSION)) < 0 ||
	    json_object_object_add(o, "phase",
		json_object_new_string(maintfile_phase_name(m->phase))) < 0)
		goto fail;
	if (json_object_object_add(o, "event", ev) < 0)
		goto fail;
	ev = NULL;
	if (json_object_object_add(o, "window", win) < 0)
		goto fail;
	win = NULL;
	if (json_object_object_add(o, "reservation", str_or_null(m->reservation)) < 0 ||
	    json_object_object_add(o, "message", str_or_null(m->message)) < 0 ||
	    add_time(o, "updated", m->updated) < 0)
		goto fail;
	return o;
fail:
	json_object_put(ev);
	json_object_put(win);
	json_object_put(o);
	return NULL;
}

/*
 * A time member: key_epoch (an integer) wins; else key as ISO-8601
 * "YYYY-MM-DDTHH:MM:SSZ"; "" / null / absent = 0.  0 or -1.
 */
static int
get_time(struct json_object *parent, const char *key, time_t *out)
{
	struct json_object *v;
	char k[64];

	*out = 0;
	snprintf(k, sizeof(k), "%s_epoch", key);
	if (json_object_object_get_ex(parent, k, &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_int))
			return -1;
		int64_t e = json_object_get_int64(v);
		if (e < 0)
			return -1;
		*out = (time_t)e;
		return 0;
	}
	if (!json_object_object_get_ex(parent, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	const char *s = json_object_get_string(v);
	if (*s == '\0')
		return 0;
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || strcmp(end, "Z") != 0)
		return -1;
	*out = timegm(&tm);
	return 0;
}

/* a string member; absent or null = NULL; 0, -1 wrong type, -ENOMEM */
static int
get_str(struct json_object *parent, const char *key, char **out)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(parent, key, &v) || v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	if ((*out = strdup(json_object_get_string(v))) == NULL)
		return -ENOMEM;
	return 0;
}

int
maintfile_from_json(struct json_object *obj, const char *name, struct maintfile **out,
    struct maintfile_error *err)
{
	struct maintfile *m = NULL;
	struct json_object *v, *ev, *win = NULL;
	const char *bad = NULL;
	int rc;

	*out = NULL;
	if (!json_object_is_type(obj, json_type_object)) {
		seterr(err, "cannot use maintenance state %s: not a JSON object "
		    "(remove it; pcm-agent watch writes it again)", name);
		return -EINVAL;
	}
	if ((m = maintfile_new()) == NULL) {
		seterr(err, "cannot read maintenance state %s: out of memory", name);
		return -ENOMEM;
	}
	if (json_object_object_get_ex(obj, "version", &v) &&
	    (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1)) {
		bad = "version";
		goto bad;
	}
	if (!json_object_object_get_ex(obj, "phase", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    maintfile_phase_parse(json_object_get_string(v), &m->phase) < 0) {
		bad = "phase (scheduled, preparing, under-way or resuming)";
		goto bad;
	}
	if (!json_object_object_get_ex(obj, "event", &ev) ||
	    !json_object_is_type(ev, json_type_object)) {
		bad = "event (an object)";
		goto bad;
	}
	if (json_object_object_get_ex(obj, "window", &win) && win != NULL &&
	    !json_object_is_type(win, json_type_object)) {
		bad = "window (an object)";
		goto bad;
	}
	if ((rc = get_str(ev, "code", &m->code)) == -1) {
		bad = "event.code";
		goto bad;
	}
	if (rc == 0 && (rc = get_str(ev, "event_id", &m->event_id)) == -1) {
		bad = "event.event_id";
		goto bad;
	}
	if (rc == 0 && (rc = get_str(obj, "reservation", &m->reservation)) == -1) {
		bad = "reservation";
		goto bad;
	}
	if (rc == 0 && (rc = get_str(obj, "message", &m->message)) == -1) {
		bad = "message";
		goto bad;
	}
	if (rc == -ENOMEM) {
		seterr(err, "cannot read maintenance state %s: out of memory", name);
		maintfile_free(m);
		return -ENOMEM;
	}
	if (get_time(ev, "not_before", &m->not_before) < 0) {
		bad = "event.not_before";
		goto bad;
	}
	if (get_time(ev, "not_after", &m->not_after) < 0) {
		bad = "event.not_after";
		goto bad;
	}
	if (win != NULL && get_time(win, "start", &m->window_start) < 0) {
		bad = "window.start";
		goto bad;
	}
	if (win != NULL && get_time(win, "end", &m->window_end) < 0) {
		bad = "window.end";
		goto bad;
	}
	if (get_time(obj, "updated", &m->updated) < 0) {
		bad = "updated";
		goto bad;
	}
	struct maintfile_error verr;
	if (maintfile_validate(m, &verr) < 0) {
		seterr(err, "cannot use maintenance state %s: %s "
		    "(remove it; pcm-agent watch writes it again)", name, verr.msg);
		maintfile_free(m);
		return -EINVAL;
	}
	*out = m;
	return 0;
bad:
	seterr(err, "cannot use maintenance state %s: missing or invalid %s "
	    "(remove it; pcm-agent watch writes it again)", name, bad);
	maintfile_free(m);
	return -EINVAL;
}

int
maintfile_atomic_write(const char *dir, const char *name, const char *buf, size_t len,
    int mode)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd = -1, dfd = -1, rc;
	size_t off = 0;

	if (snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= (int)sizeof(dst) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name, (long)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    (mode_t)mode)) < 0) {
		rc = -errno;
		goto out;
	}
	/* the umask must not take the read bit from sbatch's users */
	if (fchmod(fd, (mode_t)mode) < 0) {
		rc = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (rename(tmp, dst) < 0) {
		rc = -errno;
		goto out;
	}
	if (fsync(dfd) < 0) {
		rc = -errno;
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		(void)unlink(tmp);
	close(dfd);
	return rc;
}

int
maintfile_write(const char *run_dir, struct maintfile *m, struct maintfile_error *err)
{
	struct json_object *o = NULL;
	struct maintfile_error verr;
	const char *text;
	int rc;

	if ((rc = maintfile_validate(m, &verr)) < 0) {
		seterr(err, "cannot write the maintenance state in %s: %s", run_dir, verr.msg);
		return rc;
	}
	m->updated = time(NULL);
	if ((o = maintfile_to_json(m)) == NULL) {
		seterr(err, "cannot write the maintenance state in %s: out of memory", run_dir);
		return -ENOMEM;
	}
	if ((rc = mkdir_p(run_dir, 0755)) < 0) {
		seterr(err, "cannot create %s: %s (check run_dir in the configuration)",
		    run_dir, strerror(-rc));
		goto out;
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *withnl = NULL;
	if (asprintf(&withnl, "%s\n", text) < 0) {
		seterr(err, "cannot write the maintenance state in %s: out of memory", run_dir);
		rc = -ENOMEM;
		goto out;
	}
	rc = maintfile_atomic_write(run_dir, MAINTFILE_NAME, withnl, strlen(withnl), 0644);
	free(withnl);
	if (rc < 0)
		seterr(err, "cannot write %s/%s: %s (check that run_dir is writable)",
		    run_dir, MAINTFILE_NAME, strerror(-rc));
out:
	json_object_put(o);
	return rc;
}

int
maintfile_read_path(const char *path, struct maintfile **out, struct maintfile_error *err)
{
	struct json_object *obj = NULL;
	struct json_tokener *tok = NULL;
	char *buf = NULL;
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd = -1, rc;

	*out = NULL;
	/* O_NONBLOCK: a FIFO planted there must not hang a Slurm prolog */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			seterr(err, "no maintenance state %s: no maintenance is planned", path);
		else
			seterr(err, "cannot read maintenance state %s: %s", path, strerror(-rc));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		seterr(err, "cannot read maintenance state %s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAINTFILE_MAX) {
		rc = -EINVAL;
		seterr(err, "cannot use maintenance state %s: not a regular file of at most "
		    "%d bytes (remove it; pcm-agent watch writes it again)", path, MAINTFILE_MAX);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = -ENOMEM;
		seterr(err, "cannot read maintenance state %s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size &&
	    (n = read(fd, buf + got, (size_t)st.st_size - got)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			seterr(err, "cannot read maintenance state %s: %s", path, strerror(-rc));
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	if ((tok = json_tokener_new()) == NULL) {
		rc = -ENOMEM;
		seterr(err, "cannot read maintenance state %s: out of memory", path);
		goto out;
	}
	obj = json_tokener_parse_ex(tok, buf, (int)got);
	if (obj != NULL) {
		/* one document, then only blanks */
		size_t end = json_tokener_get_parse_end(tok);
		while (end < got && strchr(" \t\r\n", buf[end]) != NULL)
			end++;
		if (end != got) {
			rc = -EINVAL;
			seterr(err, "cannot parse maintenance state %s: text after the JSON "
			    "object (remove it; pcm-agent watch writes it again)", path);
			goto out;
		}
	} else if (json_tokener_get_error(tok) == json_tokener_continue) {
		rc = -EINVAL;
		seterr(err, "cannot parse maintenance state %s: %s "
		    "(remove it; pcm-agent watch writes it again)", path,
		    got == 0 ? "empty file" : "truncated JSON");
		goto out;
	}
	if (obj == NULL) {
		rc = -EINVAL;
		seterr(err, "cannot parse maintenance state %s: %s "
		    "(remove it; pcm-agent watch writes it again)", path,
		    got == 0 ? "empty file" :
		    json_tokener_error_desc(json_tokener_get_error(tok)));
		goto out;
	}
	rc = maintfile_from_json(obj, path, out, err);
out:
	json_object_put(obj);
	if (tok != NULL)
		json_tokener_free(tok);
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

int
maintfile_read(const char *run_dir, struct maintfile **out, struct maintfile_error *err)
{
	char path[PATH_MAX];

	*out = NULL;
	if (maintfile_path(run_dir, path, sizeof(path)) < 0) {
		seterr(err, "cannot read the maintenance state in %s: path too long", run_dir);
		return -ENAMETOOLONG;
	}
	return maintfile_read_path(path, out, err);
}

int
maintfile_remove(const char *run_dir, struct maintfile_error *err)
{
	static const char *const names[] = { MAINTFILE_NAME, MAINTFILE_MOTD_NAME };
	char path[PATH_MAX];
	int dfd;

	for (size_t i = 0; i < 2; i++) {
		if (snprintf(path, sizeof(path), "%s/%s", run_dir, names[i]) >=
		    (int)sizeof(path)) {
			seterr(err, "cannot remove the maintenance state in %s: path too long",
			    run_dir);
			return -ENAMETOOLONG;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			int rc = -errno;
			seterr(err, "cannot remove %s: %s (remove it by hand: users are still "
			    "told a maintenance is planned)", path, strerror(errno));
			return rc;
		}
	}
	if ((dfd = open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

char *
maintfile_notice(const struct maintfile *m, time_t now, const char *prefix)
{
	struct pcm_notice n = {
		.phase = maintfile_phase_name(m->phase),
		.code = m->code,
		.event_id = m->event_id,
		.not_before = (long long)m->not_before,
		.not_after = (long long)m->not_after,
		.window_start = (long long)m->window_start,
		.reservation = m->reservation,
		.message = m->message,
	};

	return pcm_notice_format(&n, (long long)now, prefix ? prefix : "");
}

int
maintfile_write_motd(const char *run_dir, const struct maintfile *m, struct maintfile_error *err)
{
	char *text;
	int rc;

	if ((text = maintfile_notice(m, 0, "")) == NULL) {
		seterr(err, "cannot write %s/%s: out of memory", run_dir, MAINTFILE_MOTD_NAME);
		return -ENOMEM;
	}
	if ((rc = mkdir_p(run_dir, 0755)) < 0) {
		seterr(err, "cannot create %s: %s (check run_dir in the configuration)",
		    run_dir, strerror(-rc));
		goto out;
	}
	rc = maintfile_atomic_write(run_dir, MAINTFILE_MOTD_NAME, text, strlen(text), 0644);
	if (rc < 0)
		seterr(err, "cannot write %s/%s: %s (check that run_dir is writable)",
		    run_dir, MAINTFILE_MOTD_NAME, strerror(-rc));
out:
	free(text);
	return rc;
}
