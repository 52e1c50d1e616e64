/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify.h - telling people about a maintenance: wall(1) and a webhook.
 *
 * The webhook is an HTTP POST (libcurl) of a body built from a template
 * (config webhook_template) with the event's fields:
 *   {EventId} {Code} {NotBefore} {NotAfter} {Description} {InstanceId}
 *   {Cluster} {State} {Message}
 * Times are ISO-8601 UTC ("" when unknown).  The template is a JSON text
 * (Slack, Teams, PagerDuty all take JSON), so every value is escaped as
 * the inside of a JSON string; an unknown {Name} is left as it is.
 * Without a template the body is a JSON object with those keys.
 * Custom headers (config webhook_header, "Name: value") are added as
 * given; their values are secrets (tokens) and never reach the log, at any
 * verbosity: messages name the header, never its value, and the URL is
 * logged without its path (a Slack URL's path is its secret).
 *
 * Errors: 0 or a negative errno; errbuf gets "cannot X: why".
 */
#ifndef PCM_NOTIFY_H
#define PCM_NOTIFY_H

#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "config.h"

/* The fields of one notice; any string may be NULL (expands to ""). */
struct notify_event {
	const char	*event_id;
	const char	*code;
	const char	*description;
	const char	*instance_id;
	const char	*cluster;
	const char	*state;		/* active, canceled, completed */
	const char	*message;	/* the notice text */
	time_t		 not_before;	/* 0: unknown */
	time_t		 not_after;
};

/*
 * tpl with every {Field} replaced; json_escape: values escaped for the
 * inside of a JSON string.  malloc'd, caller frees; NULL when out of
 * memory.
 */
char *notify_expand(const char *tpl, const struct notify_event *ev, int json_escape);

/* The default webhook body: a JSON object of the fields; caller frees. */
char *notify_default_body(const struct notify_event *ev);

/* url without userinfo, path or query (user:password@ becomes three stars and an @,
 * the path a slash and three stars), for logs and config check. */
const char *notify_url_redacted(const char *url, char *buf, size_t len);

struct notify_webhook_opts {
	const char		*url;
	const struct strlist	*headers;	/* "Name: value"; may be NULL */
	long			 timeout_ms;	/* one attempt; 0: 10000 */
	int			 attempts;	/* 0: 3 */
	long			 backoff_ms;	/* first retry after this, doubled; 0: 1000 */
	volatile sig_atomic_t	*cancel;	/* abort when *cancel != 0; may be NULL */
};

/*
 * POST body to o->url (Content-Type application/json when body is JSON,
 * else text/plain).  Retried on connection errors, 429 and 5xx.  0 on a
 * 2xx answer; -EIO (4xx, or 5xx after the last attempt), -ECONNREFUSED /
 * -ETIMEDOUT (transport), -EINVAL (bad URL or header), -ECANCELED.
 */
int notify_webhook(const struct notify_webhook_opts *o, const char *body,
    char *errbuf, size_t errlen);

/*
 * Send text to the terminals of logged-in users: wall(1), or the program
 * named by PCM_TEST_WALL_CMD (tests), text on its standard input.  Killed
 * after 10 s.  0, or -errno with errbuf filled.
 */
int notify_wall(const char *text, char *errbuf, size_t errlen);

#endif
