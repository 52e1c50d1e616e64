/* SPDX-License-Identifier: GPL-2.0-or-later */
/* watch.c - the watch daemon's logic (see watch.h) */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aws/ec2.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "identity.h"
#include "journal.h"
#include "lock.h"
#include "log.h"
#include "maintfile.h"
#include "notify.h"
#include "output.h"
#include "plan_patch.h"
#include "sched/sched.h"
#include "watch.h"

/* terminal records are forgotten this long after their last change */
#define WATCH_KEEP_S	(90L * 86400)

static const char *const status_names[] = {
	[WATCH_ST_NEW] = "new",
	[WATCH_ST_IGNORED] = "ignored",
	[WATCH_ST_PLANNED] = "planned",
	[WATCH_ST_PREPARING] = "preparing",
	[WATCH_ST_CANCELED] = "canceled",
	[WATCH_ST_COMPLETED] = "completed",
};

const char *
watch_status_name(enum watch_status s)
{
	if ((size_t)s < sizeof(status_names) / sizeof(status_names[0]))
		return status_names[s];
	return "unknown";
}

int
watch_status_parse(const char *s, enum watch_status *out)
{
	for (size_t i = 0; s != NULL && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum watch_status)i;
			return 0;
		}
	return -EINVAL;
}

const char *
watch_action_name(enum watch_action a)
{
	switch (a) {
	case WATCH_ACT_NONE: return "none";
	case WATCH_ACT_IGNORE: return "ignore";
	case WATCH_ACT_PLAN: return "plan";
	case WATCH_ACT_REPLAN: return "replan";
	case WATCH_ACT_UNDO_CANCELED: return "undo-canceled";
	case WATCH_ACT_UNDO_COMPLETED: return "undo-completed";
	case WATCH_ACT_PREPARE: return "prepare";
	}
	return "unknown";
}

int
watch_code_known(const char *code)
{
	static const char *const codes[] = { "instance-reboot", "system-reboot",
		"system-maintenance", "instance-retirement", "instance-stop" };

	for (size_t i = 0; code != NULL && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

const char *
watch_code_method(const char *code)
{
	if (code != NULL && (strcmp(code, "instance-reboot") == 0 ||
	    strcmp(code, "system-reboot") == 0))
		return "reboot";
	return "stop-start";
}

time_t
watch_resv_start(time_t not_before, long margin, time_t now)
{
	time_t t = not_before - margin;

	return t > now ? t : now;
}

int
watch_unlisted_gone(const char *source, int imds_ok, int ec2_ok)
{
	if (source != NULL && strcmp(source, "ec2") == 0)
		return ec2_ok;
	return imds_ok;
}

static int
is_state(const char *s, const char *want)
{
	return s != NULL && strcmp(s, want) == 0;
}

enum watch_action
watch_decide(const struct watch_event *t, const struct watch_seen *seen, time_t now,
    const struct watch_params *p)
{
	if (t == NULL || t->status == WATCH_ST_NEW) {
		if (seen == NULL)
			return WATCH_ACT_NONE;
		if (!is_state(seen->state, "active") || !watch_code_known(seen->code) ||
		    seen->not_before <= 0)
			return t == NULL ? WATCH_ACT_IGNORE : WATCH_ACT_NONE;
		return WATCH_ACT_PLAN;
	}
	switch (t->status) {
	case WATCH_ST_PLANNED:
	case WATCH_ST_PREPARING:
		if (seen == NULL)
			return now < t->not_before ? WATCH_ACT_UNDO_CANCELED :
			    WATCH_ACT_UNDO_COMPLETED;
		if (is_state(seen->state, "canceled"))
			return WATCH_ACT_UNDO_CANCELED;
		if (is_state(seen->state, "completed"))
			return WATCH_ACT_UNDO_COMPLETED;
		if (t->status == WATCH_ST_PREPARING)
			return WATCH_ACT_NONE;
		if (seen->not_before > 0 && seen->not_before != t->not_before)
			return WATCH_ACT_REPLAN;
		if (t->reservation == NULL || !t->notified)
			return WATCH_ACT_PLAN;	/* finish what failed last time */
		if (p->auto_prepare && now >= t->not_before - p->prepare_lead &&
		    (t->not_after <= 0 || now < t->not_after))
			return WATCH_ACT_PREPARE;
		return WATCH_ACT_NONE;
	case WATCH_ST_CANCELED:
		/* canceled, then listed active again: a new plan */
		if (seen != NULL && is_state(seen->state, "active") && watch_code_known(seen->code) &&
		    seen->not_before > 0)
			return WATCH_ACT_PLAN;
		return WATCH_ACT_NONE;
	default:
		return WATCH_ACT_NONE;
	}
}

/* --- the state file --- */

void
watch_state_free(struct watch_state *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->n; i++) {
		struct watch_event *e = &st->v[i];
		free(e->id);
		free(e->code);
		free(e->description);
		free(e->state);
		free(e->source);
		free(e->reservation);
		free(e->prepare_method);
	}
	free(st->v);
	free(st);
}

struct watch_event *
watch_state_find(struct watch_state *st, const char *id)
{
	for (size_t i = 0; id != NULL && i < st->n; i++)
		if (strcmp(st->v[i].id, id) == 0)
			return &st->v[i];
	return NULL;
}

static struct watch_event *
state_add(struct watch_state *st, const char *id)
{
	struct watch_event *v = realloc(st->v, (st->n + 1) * sizeof(*v));

	if (v == NULL)
		return NULL;
	st->v = v;
	memset(&v[st->n], 0, sizeof(v[st->n]));
	if ((v[st->n].id = strdup(id)) == NULL)
		return NULL;
	v[st->n].prepare_rc = -1;
	return &v[st->n++];
}

static int
setstr(char **f, const char *s)
{
	char *c = NULL;

	if (s != NULL && (c = strdup(s)) == NULL)
		return -ENOMEM;
	free(*f);
	*f = c;
	return 0;
}

static const char *
jstr(json_object *o, const char *k)
{
	json_object *v;

	if (json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static int64_t
jint(json_object *o, const char *k, int64_t def)
{
	json_object *v;

	if (json_object_object_get_ex(o, k, &v) && (json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_boolean)))
		return json_object_get_int64(v);
	return def;
}

static void
seterr(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int
state_path(const char *state_dir, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s", state_dir, WATCH_EVENTS_FILE);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
watch_state_load(const char *state_dir, struct watch_state **out, char *errbuf, size_t errlen)
{
	struct watch_state *st = calloc(1, sizeof(*st));
	json_object *root = NULL, *evs;
	char path[PATH_MAX];
	int rc = 0;

	*out = NULL;
	if (st == NULL)
		return -ENOMEM;
	if ((rc = state_path(state_dir, path, sizeof(path))) < 0) {
		seterr(errbuf, errlen, "cannot read the events of %s: path too long", state_dir);
		goto out;
	}
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		*out = st;
		return 0;
	}
	if ((root = json_object_from_file(path)) == NULL ||
	    !json_object_object_get_ex(root, "events", &evs) ||
	    !json_object_is_type(evs, json_type_object)) {
		rc = -EBADMSG;
		seterr(errbuf, errlen, "cannot read %s: not the JSON of pcm-agent watch (%s; move "
		    "it away to start afresh: every event listed then is acted on again)", path,
		    json_util_get_last_err() ? json_util_get_last_err() : "no \"events\" object");
		goto out;
	}
	json_object_object_foreach(evs, id, o) {
		struct watch_event *e;
		if (!json_object_is_type(o, json_type_object))
			continue;
		if ((e = state_add(st, id)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		if (setstr(&e->code, jstr(o, "code")) < 0 ||
		    setstr(&e->description, jstr(o, "description")) < 0 ||
		    setstr(&e->state, jstr(o, "state")) < 0 ||
		    setstr(&e->source, jstr(o, "source")) < 0 ||
		    setstr(&e->reservation, jstr(o, "reservation")) < 0 ||
		    setstr(&e->prepare_method, jstr(o, "prepare_method")) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		if (watch_status_parse(jstr(o, "status"), &e->status) < 0) {
			rc = -EBADMSG;
			seterr(errbuf, errlen, "cannot read %s: event %s has no valid status (move "
			    "the file away to start afresh)", path, id);
			goto out;
		}
		e->not_before = (time_t)jint(o, "not_before", 0);
		e->not_after = (time_t)jint(o, "not_after", 0);
		e->first_seen = (time_t)jint(o, "first_seen", 0);
		e->updated = (time_t)jint(o, "updated", 0);
		e->resv_created = (int)jint(o, "resv_created", 0);
		e->resv_start = (time_t)jint(o, "resv_start", 0);
		e->resv_end = (time_t)jint(o, "resv_end", 0);
		e->notified = (int)jint(o, "notified", 0);
		e->prepare_started = (time_t)jint(o, "prepare_started", 0);
		e->prepare_pid = (pid_t)jint(o, "prepare_pid", 0);
		e->prepare_rc = (int)jint(o, "prepare_rc", -1);
	}
	*out = st;
	st = NULL;
out:
	json_object_put(root);
	watch_state_free(st);
	return rc;
}

static json_object *
jstr_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

int
watch_state_save(const char *state_dir, const struct watch_state *st)
{
	json_object *root = json_object_new_object(), *evs = json_object_new_object();
	char path[PATH_MAX];
	int rc;

	if (root == NULL || evs == NULL) {
		json_object_put(root);
		json_object_put(evs);
		return -ENOMEM;
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "events", evs);
	for (size_t i = 0; i < st->n; i++) {
		const struct watch_event *e = &st->v[i];
		json_object *o = json_object_new_object();
		if (e->status == WATCH_ST_NEW)
			continue;
		json_object_object_add(o, "code", jstr_or_null(e->code));
		json_object_object_add(o, "state", jstr_or_null(e->state));
		json_object_object_add(o, "description", jstr_or_null(e->description));
		json_object_object_add(o, "source", jstr_or_null(e->source));
		json_object_object_add(o, "not_before", json_object_new_int64(e->not_before));
		json_object_object_add(o, "not_after", json_object_new_int64(e->not_after));
		json_object_object_add(o, "status",
		    json_object_new_string(watch_status_name(e->status)));
		json_object_object_add(o, "first_seen", json_object_new_int64(e->first_seen));
		json_object_object_add(o, "updated", json_object_new_int64(e->updated));
		json_object_object_add(o, "reservation", jstr_or_null(e->reservation));
		json_object_object_add(o, "resv_created", json_object_new_boolean(e->resv_created));
		json_object_object_add(o, "resv_start", json_object_new_int64(e->resv_start));
		json_object_object_add(o, "resv_end", json_object_new_int64(e->resv_end));
		json_object_object_add(o, "notified", json_object_new_boolean(e->notified));
		json_object_object_add(o, "prepare_started",
		    json_object_new_int64(e->prepare_started));
		json_object_object_add(o, "prepare_pid", json_object_new_int(e->prepare_pid));
		json_object_object_add(o, "prepare_rc",
		    e->prepare_rc >= 0 ? json_object_new_int(e->prepare_rc) : NULL);
		json_object_object_add(o, "prepare_method", jstr_or_null(e->prepare_method));
		json_object_object_add(evs, e->id, o);
	}
	if ((rc = mkdir_p(state_dir, 0700)) == 0 &&
	    (rc = state_path(state_dir, path, sizeof(path))) == 0)
		rc = json_write_atomic(path, root, 0600);
	json_object_put(root);
	return rc;
}

/* --- the daemon --- */

struct watch {
	struct pcm_ctx		*ctx;
	struct watch_opts	 o;
	struct aws		*aws;
	struct sched		*sched;
	struct watch_state	*st;
	char			*instance_id;
	char			*cluster;
	int			 ec2_off;	/* denied or no credentials: noted once */
	int			 imds_failing;	/* to log the recovery */
	char			*dry_noted;	/* --dry-run: maintenance.json already "written" */
};

struct watch *
watch_new(struct pcm_ctx *ctx, const struct watch_opts *o)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->ctx = ctx;
	if (o != NULL)
		w->o = *o;
	return w;
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	aws_free(w->aws);
	sched_close(w->sched);
	watch_state_free(w->st);
	free(w->instance_id);
	free(w->cluster);
	free(w->dry_noted);
	free(w);
}

void
watch_reload(struct watch *w)
{
	w->ec2_off = 0;
	free(w->cluster);
	w->cluster = NULL;
	aws_free(w->aws);	/* the region may have changed */
	w->aws = NULL;
}

static const struct pcm_config *
cfg(const struct watch *w)
{
	return &w->ctx->cfg;
}

/* the sources' answers, alive during one poll */
struct seen_list {
	struct watch_seen *v;
	size_t		 n;
	int		 imds_ok;	/* IMDS answered */
	int		 ec2_ok;	/* EC2 answered */
	struct imds_events iev;
	struct ec2_statuses st;
};

static int
seen_add(struct seen_list *l, const struct watch_seen *s)
{
	struct watch_seen *v;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].id, s->id) == 0)
			return 0;	/* IMDS first: it has the state */
	if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	l->v = v;
	l->v[l->n++] = *s;
	return 0;
}

static void
seen_free(struct seen_list *l)
{
	free(l->v);
	imds_events_free(&l->iev);
	ec2_statuses_free(&l->st);
}

static const char *
imds_state_name(const struct imds_event *e)
{
	switch (e->state) {
	case IMDS_EVENT_ACTIVE: return "active";
	case IMDS_EVENT_CANCELED: return "canceled";
	case IMDS_EVENT_COMPLETED: return "completed";
	default: return e->state_str ? e->state_str : "unknown";
	}
}

/* "[Canceled] ..." / "[Completed] ..." in EC2's description */
static const char *
ec2_state_name(const struct ec2_event *e)
{
	if (e->description != NULL && strncmp(e->description, "[Canceled]", 10) == 0)
		return "canceled";
	if (e->description != NULL && strncmp(e->description, "[Completed]", 11) == 0)
		return "completed";
	return "active";
}

static int
fetch(struct watch *w, struct seen_list *l, json_object *sources)
{
	struct aws_error err = { 0 };
	int rc, nok = 0;

	if (w->aws == NULL) {
		struct aws_opts ao = { .region = cfg(w)->region };
		if ((w->aws = aws_new(&ao)) == NULL)
			return -ENOMEM;
	}
	rc = imds_scheduled_events(aws_imds(w->aws), &l->iev, &err);
	if (rc != AWS_OK) {
		log_warnx("cannot read the scheduled events from the instance metadata service: "
		    "%s", err.message);
		w->imds_failing = 1;
		json_object_object_add(sources, "imds", json_object_new_string(err.message));
	} else {
		if (w->imds_failing)
			log_info("the instance metadata service answers again");
		w->imds_failing = 0;
		nok++;
		l->imds_ok = 1;
		json_object_object_add(sources, "imds", json_object_new_string("ok"));
		for (size_t i = 0; i < l->iev.n; i++) {
			const struct imds_event *e = &l->iev.v[i];
			struct watch_seen s = { e->event_id, e->code, e->description,
				imds_state_name(e), "imds", e->not_before, e->not_after };
			if (seen_add(l, &s) < 0)
				return -ENOMEM;
		}
	}
	if (w->instance_id != NULL && strncmp(w->instance_id, "i-", 2) != 0) {
		free(w->instance_id);	/* the host name: IMDS was down, ask again */
		w->instance_id = NULL;
	}
	if (w->instance_id == NULL)
		w->instance_id = identity_instance_id(cfg(w));
	if (w->ec2_off) {
		json_object_object_add(sources, "ec2", json_object_new_string("off"));
	} else if (w->instance_id != NULL && strncmp(w->instance_id, "i-", 2) == 0) {
		memset(&err, 0, sizeof(err));
		rc = ec2_describe_instance_status(w->aws, w->instance_id, 0, &l->st, &err);
		if (rc == AWS_E_DENIED || rc == AWS_E_AUTH || rc == AWS_E_CONFIG) {
			/* once, until the config is reloaded: IMDS is enough */
			log_notice("EC2 DescribeInstanceStatus is not available (%s: %s): watching "
			    "the instance metadata service only (allow ec2:DescribeInstanceStatus "
			    "to the instance role to see events there too)", aws_rc_str(rc),
			    err.message);
			w->ec2_off = 1;
			json_object_object_add(sources, "ec2", json_object_new_string(err.message));
		} else if (rc != AWS_OK) {
			log_debug("cannot read the scheduled events from EC2: %s", err.message);
			json_object_object_add(sources, "ec2", json_object_new_string(err.message));
		} else {
			nok++;
			l->ec2_ok = 1;
			json_object_object_add(sources, "ec2", json_object_new_string("ok"));
			for (size_t i = 0; i < l->st.n; i++)
				for (size_t j = 0; j < l->st.v[i].nevents; j++) {
					const struct ec2_event *e = &l->st.v[i].events[j];
					struct watch_seen s = { e->id, e->code, e->description,
						ec2_state_name(e), "ec2", e->not_before,
						e->not_after };
					if (e->id == NULL || e->code == NULL)
						continue;
					if (seen_add(l, &s) < 0)
						return -ENOMEM;
				}
		}
	} else {
		json_object_object_add(sources, "ec2", json_object_new_string("no instance id"));
	}
	return nok > 0 ? 0 : -EHOSTUNREACH;
}

/* A prepare-restart journal is open: the reservation and maintenance.json
 * are the plan's. */
static int
plan_running(const struct watch *w)
{
	struct journal *j = NULL;
	int rc = journal_load(cfg(w)->state_dir, &j);

	journal_free(j);
	return rc != -ENOENT;
}

static int
sched_get(struct watch *w, struct sched **out)
{
	char errbuf[512];

	if (w->sched == NULL && sched_open(cfg(w), &w->sched, errbuf, sizeof(errbuf)) < 0) {
		log_warnx("%s", errbuf);
		return -EIO;
	}
	*out = w->sched;
	return 0;
}

static time_t
resv_end(const struct watch *w, const struct watch_event *e, time_t start)
{
	time_t end = start + cfg(w)->maintenance_duration;

	return e->not_after > end ? e->not_after : end;
}

static void
fill_maintfile(const struct watch *w, const struct watch_event *e, struct maintfile *m)
{
	m->phase = MAINT_PHASE_SCHEDULED;
	maintfile_set_str(&m->code, e->code);
	maintfile_set_str(&m->event_id, e->id);
	m->not_before = e->not_before;
	m->not_after = e->not_after;
	m->window_start = e->reservation ? e->resv_start : 0;
	m->window_end = !e->reservation ? 0 : e->resv_end > 0 ? e->resv_end :
	    resv_end(w, e, e->resv_start);
	maintfile_set_str(&m->reservation, e->reservation);
	maintfile_set_str(&m->message, e->description);
}

/* The notices of one change: summary (one line) to the log, text (the
 * people's notice) to wall and the webhook. */
static void
notices(struct watch *w, const struct watch_event *e, const char *summary, const char *text,
    json_object *acts)
{
	char errbuf[512], tb[256];

	log_notice("%s", summary);
	if (w->o.dry_run) {
		if (cfg(w)->notify_wall)
			json_object_array_add(acts, json_object_new_string("would wall"));
		if (cfg(w)->webhook_url)
			json_object_array_add(acts, json_object_new_string("would send the webhook"));
		return;
	}
	if (cfg(w)->notify_wall) {
		if (notify_wall(text, errbuf, sizeof(errbuf)) < 0)
			log_warnx("%s", errbuf);
		else
			json_object_array_add(acts, json_object_new_string("wall"));
	}
	if (cfg(w)->webhook_url != NULL) {
		struct notify_event ne = {
			.event_id = e->id, .code = e->code, .description = e->description,
			.instance_id = w->instance_id, .cluster = w->cluster, .state = e->state,
			.message = text, .not_before = e->not_before, .not_after = e->not_after,
		};
		struct notify_webhook_opts wo = {
			.url = cfg(w)->webhook_url, .headers = &cfg(w)->webhook_header,
			.cancel = w->o.stop,
		};
		const char *bo = getenv("PCM_TEST_WEBHOOK_BACKOFF_MS");
		char *body = cfg(w)->webhook_template ?
		    notify_expand(cfg(w)->webhook_template, &ne, 1) : notify_default_body(&ne);
		if (bo != NULL)
			wo.backoff_ms = atol(bo);
		if (body == NULL) {
			log_warnx("cannot send the webhook: out of memory");
		} else if (notify_webhook(&wo, body, errbuf, sizeof(errbuf)) < 0) {
			log_warnx("%s", errbuf);
		} else {
			log_info("webhook sent to %s (event %s, %s)",
			    notify_url_redacted(cfg(w)->webhook_url, tb, sizeof(tb)), e->id, e->state);
			json_object_array_add(acts, json_object_new_string("webhook"));
		}
		free(body);
	}
}

/* s with control characters (terminal escapes in a job name) as '?' */
static const char *
printable(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s != NULL && *s && i + 1 < len; s++)
		buf[i++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	buf[i] = '\0';
	return buf;
}

/* Running jobs that would fail at the event (outcome fail, time limit past
 * NotBefore), into arr; their listing appended to *text. */
static int
triage(struct watch *w, const struct watch_event *e, json_object *arr, char **text)
{
	struct sched_job_list *l = NULL;
	struct sched *s;
	size_t nrisk = 0;
	char tb[32], nbuf[128], ubuf[64];
	int rc;

	if ((rc = sched_get(w, &s)) < 0)
		return rc;
	if ((rc = sched_jobs_load(s, 0, &l)) < 0) {
		log_warnx("cannot list the jobs at risk: %s", sched_strerror(s));
		return rc;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct sched_job *j = &l->v[i];
		char *t;
		if (j->outcome != SCHED_OUTCOME_FAIL)
			continue;
		if (j->time_limit_s >= 0 && j->start_time > 0 &&
		    j->start_time + j->time_limit_s <= e->not_before)
			continue;	/* ends before the event at the latest */
		nrisk++;
		json_object_array_add(arr, sched_job_to_json(j, l->cluster_requeue));
		printable(j->name ? j->name : "-", nbuf, sizeof(nbuf));
		printable(j->user ? j->user : "?", ubuf, sizeof(ubuf));
		if (asprintf(&t, "%s%s  job %u (%s, user %s): %s, %s%s", *text,
		    nrisk == 1 ? "\nRunning jobs that will be lost at the maintenance unless they "
		    "end before it (they cannot be requeued):\n" : "\n", j->id, nbuf, ubuf,
		    j->batch ? "--no-requeue" : "interactive",
		    j->time_limit_s < 0 ? "no time limit" : "time limit past the event",
		    "") >= 0) {
			free(*text);
			*text = t;
		}
		log_notice("event %s: job %u of %s will fail at the maintenance (%s, %s "
		    "NotBefore %s)", e->id, j->id, ubuf,
		    j->batch ? "--no-requeue" : "interactive",
		    j->time_limit_s < 0 ? "no time limit, running at" : "time limit past",
		    output_iso8601(e->not_before, tb, sizeof(tb)));
	}
	sched_job_list_free(l);
	return (int)nrisk;
}

/* The cluster's login nodes (the plan's lookup: EC2 DescribeInstances by
 * tag) into rep, and the sentence that their users' shells will hang
 * appended to *text; nothing when there are none or the lookup failed
 * (logged: the notice goes out without it). */
static void
login_nodes(struct watch *w, json_object *rep, char **text)
{
	json_object *nodes;
	char *notice, *t;

	if (w->aws == NULL || w->cluster == NULL)
		return;
	if ((nodes = plan_login_nodes(w->aws, w->cluster)) == NULL)
		return;
	json_object_object_add(rep, "login_nodes", json_object_get(nodes));
	if ((notice = plan_login_notice(nodes)) != NULL &&
	    asprintf(&t, "%s\nOn the %s.", *text, notice) >= 0) {
		free(*text);
		*text = t;
	}
	free(notice);
	json_object_put(nodes);
}

static void
act_plan(struct watch *w, struct watch_event *e, time_t now, json_object *rep)
{
	json_object *acts = json_object_new_array(), *risk = json_object_new_array();
	const char *name = cfg(w)->reservation_name;
	char a[32], b[32];
	struct maintfile *m = NULL;
	char *text = NULL, *summary = NULL;
	int first = !e->notified, nrisk = 0;

	json_object_object_add(rep, "actions", acts);
	if (e->reservation == NULL) {
		/* with auto_prepare, no job should start that runs into the prepare */
		long margin = cfg(w)->auto_prepare && cfg(w)->prepare_lead > cfg(w)->event_margin ?
		    cfg(w)->prepare_lead : cfg(w)->event_margin;
		time_t start = watch_resv_start(e->not_before, margin, now);
		long dur = (long)(resv_end(w, e, start) - start);
		struct sched *s;
		int created = 0;

		if (w->o.dry_run) {
			log_info("dry run: would create maintenance reservation %s from %s to %s",
			    name, output_iso8601(start, a, sizeof(a)),
			    output_iso8601(start + dur, b, sizeof(b)));
			json_object_array_add(acts, json_object_new_string("would reserve"));
			created = 1;
		} else if (sched_get(w, &s) == 0 &&
		    sched_maint_start(s, name, start > now + 5 ? start : 0, dur, &created) == 0) {
			struct sched_resv *r = NULL;
			/* one already there keeps its own times: the window is its */
			if (!created && sched_resv_get(s, name, &r) == 0 && r->start_time > 0) {
				start = r->start_time;
				dur = (long)(r->end_time - r->start_time);
			}
			sched_resv_free(r);
			log_info("event %s: maintenance reservation %s from %s to %s%s", e->id, name,
			    output_iso8601(start, a, sizeof(a)),
			    output_iso8601(start + dur, b, sizeof(b)),
			    created ? "" : " (one was already there: left as it is)");
			json_object_array_add(acts, json_object_new_string(created ?
			    "reservation created" : "reservation already there"));
		} else {
			if (w->sched != NULL)
				log_warnx("event %s: cannot create the maintenance reservation: %s "
				    "(retried at the next poll)", e->id, sched_strerror(w->sched));
			start = 0;
		}
		if (start > 0) {
			setstr(&e->reservation, name);
			e->resv_created = created;
			e->resv_start = start;
			e->resv_end = start + dur;
		}
	}
	if (first) {
		if ((m = maintfile_new()) != NULL) {
			fill_maintfile(w, e, m);
			text = maintfile_notice(m, now, "");
		}
		if (text == NULL)
			text = strdup("A maintenance of the head node is scheduled.");
		if (text != NULL && (nrisk = triage(w, e, risk, &text)) < 0)
			json_object_array_add(acts, json_object_new_string("triage failed"));
		json_object_object_add(rep, "jobs_at_risk", json_object_get(risk));
		if (text != NULL)
			login_nodes(w, rep, &text);
		if (text != NULL && asprintf(&summary, "event %s: %s at %s (%s): %s; %s", e->id,
		    e->code, output_iso8601(e->not_before, a, sizeof(a)),
		    e->description ? e->description : "", e->reservation ?
		    "maintenance reservation placed" : "NO maintenance reservation yet",
		    nrisk < 0 ? "jobs at risk unknown (Slurm unavailable)" : nrisk == 0 ?
		    "no running job at risk" : "running jobs at risk listed above") >= 0)
			notices(w, e, summary, text, acts);
		e->notified = 1;
	}
	e->status = WATCH_ST_PLANNED;
	json_object_put(risk);
	maintfile_free(m);
	free(summary);
	free(text);
}

static void
act_undo(struct watch *w, struct watch_event *e, enum watch_action act, json_object *rep)
{
	json_object *acts = json_object_new_array();
	int completed = act == WATCH_ACT_UNDO_COMPLETED;
	int running = plan_running(w);
	char *text = NULL, tb[32];

	json_object_object_add(rep, "actions", acts);
	if (e->reservation != NULL && e->resv_created && !completed && running) {
		log_notice("event %s was canceled while prepare-restart is under way: the "
		    "reservation is left to it (run `pcm-agent abort` to undo it)", e->id);
	} else if (e->reservation != NULL && e->resv_created && !running) {
		struct sched *s;
		int deleted = 0;
		if (w->o.dry_run) {
			log_info("dry run: would remove maintenance reservation %s", e->reservation);
			json_object_array_add(acts, json_object_new_string("would unreserve"));
		} else if (sched_get(w, &s) == 0 && sched_maint_end(s, e->reservation, &deleted) == 0) {
			log_info("event %s %s: maintenance reservation %s %s", e->id,
			    completed ? "completed" : "canceled", e->reservation,
			    deleted ? "removed" : "was already gone");
			json_object_array_add(acts, json_object_new_string(deleted ?
			    "reservation removed" : "reservation already gone"));
		} else {
			log_warnx("event %s: cannot remove maintenance reservation %s: %s (remove "
			    "it with `pcm-agent maintenance end`)", e->id, e->reservation,
			    w->sched ? sched_strerror(w->sched) : "Slurm unavailable");
		}
	}
	if (e->notified && !completed &&
	    asprintf(&text, "The maintenance of the head node announced for %s "
	    "(%s, event %s) was canceled by AWS.%s", output_iso8601(e->not_before, tb,
	    sizeof(tb)), e->code, e->id, e->resv_created ? " The maintenance reservation is "
	    "removed: jobs start as usual." : "") >= 0) {
		free(e->state);
		e->state = strdup("canceled");
		notices(w, e, text, text, acts);
	}
	if (completed) {
		free(e->state);
		e->state = strdup("completed");
	}
	e->status = completed ? WATCH_ST_COMPLETED : WATCH_ST_CANCELED;
	free(text);
}

static void
act_replan(struct watch *w, struct watch_event *e, const struct watch_seen *s, time_t now,
    json_object *rep)
{
	char a[32], b[32];

	log_notice("event %s moved: NotBefore %s -> %s", e->id,
	    output_iso8601(e->not_before, a, sizeof(a)), output_iso8601(s->not_before, b, sizeof(b)));
	if (e->reservation != NULL && e->resv_created && !plan_running(w)) {
		struct sched *sc;
		if (w->o.dry_run)
			log_info("dry run: would move maintenance reservation %s", e->reservation);
		else if (sched_get(w, &sc) == 0 && sched_maint_end(sc, e->reservation, NULL) < 0)
			log_warnx("event %s: cannot remove maintenance reservation %s to move it: %s",
			    e->id, e->reservation, sched_strerror(sc));
		free(e->reservation);
		e->reservation = NULL;
	}
	e->not_before = s->not_before;
	e->not_after = s->not_after;
	e->notified = 0;
	act_plan(w, e, now, rep);
}

/* Start `pcm-agent watch --prepare-event ID --method M` (or
 * PCM_TEST_PREPARE_CMD with the same arguments). */
static int
act_prepare(struct watch *w, struct watch_event *e, time_t now, json_object *rep)
{
	const char *method = watch_code_method(e->code);
	const char *test_cmd = getenv("PCM_TEST_PREPARE_CMD");
	char self[PATH_MAX], a[32];
	const char *argv[16];
	size_t n = 0;
	pid_t pid;
	int rc;

	if (test_cmd != NULL && *test_cmd) {
		snprintf(self, sizeof(self), "%s", test_cmd);
	} else if (w->o.self != NULL) {
		snprintf(self, sizeof(self), "%s", w->o.self);
	} else {
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (k < 0) {
			rc = -errno;
			log_warn("event %s: cannot start prepare-restart: /proc/self/exe", e->id);
			return rc;
		}
		self[k] = '\0';
	}
	argv[n++] = self;
	if (w->o.config_path != NULL) {
		argv[n++] = "-c";
		argv[n++] = w->o.config_path;
	}
	argv[n++] = "--state-dir";
	argv[n++] = cfg(w)->state_dir;
	argv[n++] = "watch";
	argv[n++] = "--prepare-event";
	argv[n++] = e->id;
	argv[n++] = "--method";
	argv[n++] = method;
	argv[n] = NULL;
	json_object_object_add(rep, "prepare_method", json_object_new_string(method));
	if (w->o.dry_run) {
		log_info("dry run: would start prepare-restart (%s) for event %s (%s at %s)", method,
		    e->id, e->code, output_iso8601(e->not_before, a, sizeof(a)));
		e->status = WATCH_ST_PREPARING;
		return 0;
	}
	/* recorded before it starts: never twice, even after a crash here */
	e->status = WATCH_ST_PREPARING;
	e->prepare_started = now;
	e->prepare_rc = -1;
	setstr(&e->prepare_method, method);
	if ((rc = watch_state_save(cfg(w)->state_dir, w->st)) < 0) {
		log_warnx("event %s: cannot record the prepare-restart in %s/%s: %s; not started",
		    e->id, cfg(w)->state_dir, WATCH_EVENTS_FILE, strerror(-rc));
		e->status = WATCH_ST_PLANNED;
		return rc;
	}
	if ((pid = fork()) < 0) {
		rc = -errno;
		log_warn("event %s: cannot start prepare-restart: fork", e->id);
		return rc;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(self, (char *const *)argv);
		fprintf(stderr, "pcm-agent watch: cannot run %s: %s\n", self, strerror(errno));
		_exit(127);
	}
	e->prepare_pid = pid;
	log_notice("event %s (%s at %s): prepare-restart started (%s, pid %d), %ld s before "
	    "the event", e->id, e->code, output_iso8601(e->not_before, a, sizeof(a)), method,
	    (int)pid, (long)(e->not_before - now));
	json_object_object_add(rep, "prepare_pid", json_object_new_int(pid));
	return 0;
}

/* a prepare-restart that ended */
static int
reap(struct watch *w)
{
	int changed = 0;

	for (size_t i = 0; i < w->st->n; i++) {
		struct watch_event *e = &w->st->v[i];
		int status;
		pid_t r;
		if (e->prepare_pid <= 0)
			continue;
		r = waitpid(e->prepare_pid, &status, WNOHANG);
		if (r == 0)
			continue;
		if (r < 0) {
			/* not our child (the daemon restarted): the journal tells */
			log_debug("event %s: prepare-restart pid %d is not ours any more", e->id,
			    (int)e->prepare_pid);
			e->prepare_pid = 0;
			changed = 1;
			continue;
		}
		e->prepare_rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		e->prepare_pid = 0;
		changed = 1;
		if (e->prepare_rc == 0)
			log_notice("event %s: prepare-restart finished", e->id);
		else
			log_warnx("event %s: prepare-restart exited %d (see the log above and "
			    "`pcm-agent status`; run it again by hand)", e->id, e->prepare_rc);
	}
	return changed;
}

int
watch_reap(struct watch *w)
{
	int rc;

	if (w->st == NULL || !reap(w) || w->o.dry_run)
		return 0;
	if ((rc = watch_state_save(cfg(w)->state_dir, w->st)) < 0)
		log_warnx("cannot save the events in %s/%s: %s", cfg(w)->state_dir,
		    WATCH_EVENTS_FILE, strerror(-rc));
	return rc;
}

/* maintenance.json and the MOTD follow the earliest planned event. */
static void
reconcile_maintfile(struct watch *w, json_object *acts)
{
	struct maintfile *cur = NULL, *m = NULL;
	struct maintfile_error me;
	struct watch_event *best = NULL;
	int rc;

	if (plan_running(w))
		return;
	for (size_t i = 0; i < w->st->n; i++) {
		struct watch_event *e = &w->st->v[i];
		if (e->status == WATCH_ST_PLANNED && (best == NULL || e->not_before < best->not_before))
			best = e;
	}
	rc = maintfile_read(cfg(w)->run_dir, &cur, &me);
	if (best == NULL) {
		/* remove only a file about one of our events that is over (a
		 * preparing one: prepare-restart is about to write its own) */
		struct watch_event *fe = rc == 0 && cur->event_id != NULL ?
		    watch_state_find(w->st, cur->event_id) : NULL;
		if (fe != NULL && fe->status != WATCH_ST_PREPARING &&
		    cur->phase == MAINT_PHASE_SCHEDULED) {
			if (w->o.dry_run) {
				log_info("dry run: would remove %s/%s", cfg(w)->run_dir, MAINTFILE_NAME);
			} else if (maintfile_remove(cfg(w)->run_dir, &me) < 0) {
				log_warnx("%s", me.msg);
			} else {
				log_info("removed %s/%s", cfg(w)->run_dir, MAINTFILE_NAME);
				json_object_array_add(acts, json_object_new_string("maintfile removed"));
			}
		}
		goto out;
	}
	if ((m = maintfile_new()) == NULL)
		goto out;
	fill_maintfile(w, best, m);
	if (rc == 0 && cur->event_id != NULL && strcmp(cur->event_id, best->id) == 0 &&
	    cur->not_before == m->not_before && cur->window_start == m->window_start &&
	    cur->phase == m->phase)
		goto out;	/* up to date */
	if (rc == 0 && cur->phase != MAINT_PHASE_SCHEDULED)
		goto out;	/* a maintenance under way or resuming: not ours to change */
	if (w->o.dry_run) {
		if (w->dry_noted == NULL || strcmp(w->dry_noted, best->id) != 0)
			log_info("dry run: would write %s/%s for event %s", cfg(w)->run_dir,
			    MAINTFILE_NAME, best->id);
		setstr(&w->dry_noted, best->id);
	} else if (maintfile_write(cfg(w)->run_dir, m, &me) < 0 ||
	    maintfile_write_motd(cfg(w)->run_dir, m, &me) < 0) {
		log_warnx("%s", me.msg);
	} else {
		log_info("wrote %s/%s for event %s", cfg(w)->run_dir, MAINTFILE_NAME, best->id);
		json_object_array_add(acts, json_object_new_string("maintfile written"));
	}
out:
	maintfile_free(cur);
	maintfile_free(m);
}

static void
update_seen(struct watch_event *e, const struct watch_seen *s, time_t now)
{
	setstr(&e->code, s->code);
	setstr(&e->description, s->description);
	setstr(&e->state, s->state);
	setstr(&e->source, s->source);
	if (e->status == WATCH_ST_NEW || e->status == WATCH_ST_IGNORED) {
		e->not_before = s->not_before;
		e->not_after = s->not_after;
	}
	e->updated = now;
}

static json_object *
jtime(time_t t)
{
	char buf[32];

	return t > 0 ? json_object_new_string(output_iso8601(t, buf, sizeof(buf))) : NULL;
}

/*
 * The state-dir lock around an action on the reservation.  Without it the
 * plan_running() check and the action race with a manual prepare-restart (or
 * `maintenance start|end`): the daemon could see no journal, the operation
 * start and take over the reservation, and the daemon then delete it under
 * it.  Taken without waiting: when someone holds it the event is left as it
 * is and handled again at the next poll.  0, or -1 (skip, logged).
 */
static int
action_lock(struct watch *w, const struct watch_event *e, enum watch_action act,
    struct pcm_lock *lk)
{
	char holder[64] = "";
	pid_t pid = 0;
	int rc;

	lk->fd = -1;
	if (w->o.dry_run || (act != WATCH_ACT_PLAN && act != WATCH_ACT_REPLAN &&
	    act != WATCH_ACT_UNDO_CANCELED && act != WATCH_ACT_UNDO_COMPLETED))
		return 0;
	rc = lock_acquire(lk, cfg(w)->state_dir, "watch", &pid, holder, sizeof(holder));
	if (rc == -EWOULDBLOCK) {
		log_info("event %s: %s waits: pcm-agent %s (pid %ld) holds the lock (again at "
		    "the next poll)", e->id, watch_action_name(act), holder[0] ? holder : "?",
		    (long)pid);
		return -1;
	}
	if (rc < 0) {
		log_warnx("event %s: cannot take the lock in %s: %s (again at the next poll)",
		    e->id, cfg(w)->state_dir, strerror(-rc));
		return -1;
	}
	return 0;
}

/* Decide and act on one event until nothing more is to be done now. */
static int
handle(struct watch *w, struct watch_event *e, const struct watch_seen *s, time_t now,
    const struct watch_params *p, json_object *events)
{
	int changed = 0;

	for (int round = 0; round < 3; round++) {
		enum watch_action act = watch_decide(e, s, now, p);
		struct pcm_lock lk;
		json_object *rep;

		if (act == WATCH_ACT_NONE || action_lock(w, e, act, &lk) < 0)
			break;
		rep = json_object_new_object();
		json_object_object_add(rep, "id", json_object_new_string(e->id));
		json_object_object_add(rep, "code", jstr_or_null(s ? s->code : e->code));
		json_object_object_add(rep, "state", jstr_or_null(s ? s->state : "gone"));
		json_object_object_add(rep, "not_before", jtime(s ? s->not_before : e->not_before));
		json_object_object_add(rep, "action", json_object_new_string(watch_action_name(act)));
		changed = 1;
		if (e->first_seen == 0)
			e->first_seen = now;
		if (s != NULL && act != WATCH_ACT_REPLAN)
			update_seen(e, s, now);
		else
			e->updated = now;
		switch (act) {
		case WATCH_ACT_IGNORE:
			e->status = WATCH_ST_IGNORED;
			log_info("event %s (%s, %s): %s", e->id, e->code ? e->code : "?",
			    e->state ? e->state : "?", !watch_code_known(e->code) ?
			    "not a maintenance of this instance's host: ignored" :
			    "already over when first seen: nothing to do");
			break;
		case WATCH_ACT_PLAN:
			if (e->status == WATCH_ST_CANCELED) {
				e->notified = 0;
				free(e->reservation);
				e->reservation = NULL;
				e->not_before = s->not_before;
				e->not_after = s->not_after;
			}
			if (e->status == WATCH_ST_NEW || e->status == WATCH_ST_CANCELED) {
				e->not_before = s->not_before;
				e->not_after = s->not_after;
			}
			act_plan(w, e, now, rep);
			break;
		case WATCH_ACT_REPLAN:
			act_replan(w, e, s, now, rep);
			update_seen(e, s, now);
			break;
		case WATCH_ACT_UNDO_CANCELED:
		case WATCH_ACT_UNDO_COMPLETED:
			act_undo(w, e, act, rep);
			break;
		case WATCH_ACT_PREPARE:
			act_prepare(w, e, now, rep);
			break;
		case WATCH_ACT_NONE:
			break;
		}
		lock_release(&lk);
		json_object_object_add(rep, "status",
		    json_object_new_string(watch_status_name(e->status)));
		json_object_array_add(events, rep);
		if (e->status == WATCH_ST_PLANNED && e->reservation == NULL)
			break;	/* Slurm failed: next poll */
	}
	return changed;
}

int
watch_poll(struct watch *w, json_object **report, long *next_s)
{
	struct watch_params p = { cfg(w)->event_margin, cfg(w)->prepare_lead,
		(int)cfg(w)->auto_prepare };
	json_object *rep = json_object_new_object(), *sources = json_object_new_object();
	json_object *events = json_object_new_array(), *acts = json_object_new_array();
	struct seen_list l = { 0 };
	char errbuf[512];
	time_t now = time(NULL);
	int rc = 0, changed = 0;
	long next = 0;

	if (report != NULL)
		*report = NULL;
	json_object_object_add(rep, "time", jtime(now));
	json_object_object_add(rep, "dry_run", json_object_new_boolean(w->o.dry_run));
	json_object_object_add(rep, "sources", sources);
	json_object_object_add(rep, "events", events);
	json_object_object_add(rep, "actions", acts);
	if (w->st == NULL &&
	    (rc = watch_state_load(cfg(w)->state_dir, &w->st, errbuf, sizeof(errbuf))) < 0) {
		log_warnx("%s", errbuf);
		goto out;
	}
	if (w->cluster == NULL)
		w->cluster = identity_cluster_name(cfg(w));
	changed |= reap(w);
	if ((rc = fetch(w, &l, sources)) < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		struct watch_event *e = watch_state_find(w->st, l.v[i].id);
		if (e == NULL) {
			if (watch_decide(NULL, &l.v[i], now, &p) == WATCH_ACT_NONE)
				continue;
			if ((e = state_add(w->st, l.v[i].id)) == NULL) {
				rc = -ENOMEM;
				goto out;
			}
		}
		changed |= handle(w, e, &l.v[i], now, &p, events);
	}
	for (size_t i = 0; i < w->st->n; i++) {
		int listed = 0;
		if (!watch_unlisted_gone(w->st->v[i].source, l.imds_ok, l.ec2_ok))
			continue;
		for (size_t k = 0; k < l.n && !listed; k++)
			listed = strcmp(l.v[k].id, w->st->v[i].id) == 0;
		if (!listed)
			changed |= handle(w, &w->st->v[i], NULL, now, &p, events);
	}
	/* forget terminal records after a while */
	for (size_t i = 0; i < w->st->n;) {
		struct watch_event *e = &w->st->v[i];
		if ((e->status == WATCH_ST_IGNORED || e->status == WATCH_ST_CANCELED ||
		    e->status == WATCH_ST_COMPLETED) && e->updated > 0 &&
		    e->updated < now - WATCH_KEEP_S) {
			struct watch_event tmp = *e;
			for (size_t k = i; k + 1 < w->st->n; k++)
				w->st->v[k] = w->st->v[k + 1];
			w->st->n--;
			/* free the strings of the removed record */
			free(tmp.id); free(tmp.code); free(tmp.description); free(tmp.state);
			free(tmp.source); free(tmp.reservation); free(tmp.prepare_method);
			changed = 1;
			continue;
		}
		if (p.auto_prepare && e->status == WATCH_ST_PLANNED) {
			long due = (long)(e->not_before - p.prepare_lead - now);
			if (due > 0 && (next == 0 || due < next))
				next = due;
		}
		i++;
	}
	/* maintenance.json is prepare-restart's while it runs: same lock */
	if (w->o.dry_run) {
		reconcile_maintfile(w, acts);
	} else {
		struct pcm_lock lk;
		if (lock_acquire(&lk, cfg(w)->state_dir, "watch", NULL, NULL, 0) == 0) {
			reconcile_maintfile(w, acts);
			lock_release(&lk);
		}
	}
	if (changed && !w->o.dry_run &&
	    (rc = watch_state_save(cfg(w)->state_dir, w->st)) < 0)
		log_warnx("cannot save the events in %s/%s: %s (they may be acted on again)",
		    cfg(w)->state_dir, WATCH_EVENTS_FILE, strerror(-rc));
out:
	json_object_object_add(rep, "ok", json_object_new_boolean(rc == 0));
	if (next_s != NULL)
		*next_s = next;
	if (report != NULL)
		*report = rep;
	else
		json_object_put(rep);
	seen_free(&l);
	return rc;
}
