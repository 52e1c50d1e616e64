/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aws/imds.h - the EC2 instance metadata service, IMDSv2 only.
 *
 * A token is fetched with PUT /latest/api/token (TTL 6 h) and sent with every
 * GET; it is refreshed a minute before it expires, and once more when the
 * service answers 401.  Timeouts are short (1 s connect, 2 s per request, 2
 * attempts): off EC2 every call fails within a few seconds with
 * AWS_E_TRANSPORT and a message that says so.
 *
 * Environment:
 *   AWS_EC2_METADATA_SERVICE_ENDPOINT  base URL (default http://169.254.169.254)
 *   AWS_EC2_METADATA_DISABLED=true     every call fails with AWS_E_CONFIG
 *
 * Typical use (another module needing the instance id):
 *
 *	struct imds *m = imds_new();
 *	struct aws_error err;
 *	char *id = NULL;
 *	if (imds_instance_id(m, &id, &err) != AWS_OK)
 *		log_warnx("cannot get the instance id: %s", err.message);
 *	...
 *	free(id);
 *	imds_free(m);
 *
 * Or, with a struct aws, use the context's own client: aws_imds(a).
 * Results are cached per struct imds (the metadata does not change while we
 * run), except the scheduled events and the credentials, fetched each time.
 * An imds is not thread-safe: one per thread.
 */
#ifndef PCM_AWS_IMDS_H
#define PCM_AWS_IMDS_H

#include <time.h>

#include "aws/http.h"

struct imds;
struct aws_creds;

/* New client reading the environment; NULL only when out of memory. */
struct imds *imds_new(void);
/* NULL-safe. */
void imds_free(struct imds *m);

/* Override the endpoint (tests); copied. */
int imds_set_endpoint(struct imds *m, const char *base_url);

/*
 * GET /latest/<path> (e.g. "meta-data/instance-id").  On AWS_OK *out is a
 * malloc'd NUL-terminated body (caller frees).  AWS_E_NOTFOUND on 404,
 * AWS_E_TRANSPORT when unreachable, AWS_E_CONFIG when disabled.
 */
int imds_get(struct imds *m, const char *path, char **out, struct aws_error *err);

/* Identity; each *out is malloc'd (caller frees), cached after the first call. */
int imds_instance_id(struct imds *m, char **out, struct aws_error *err);
int imds_region(struct imds *m, char **out, struct aws_error *err);
int imds_availability_zone(struct imds *m, char **out, struct aws_error *err);
int imds_instance_type(struct imds *m, char **out, struct aws_error *err);

/* The instance profile's credentials (meta-data/iam/security-credentials/
 * then /ROLE).  out is filled (creds_clear() it); AWS_E_NOTFOUND when the
 * instance has no role. */
int imds_role_creds(struct imds *m, struct aws_creds *out, struct aws_error *err);

/* One entry of meta-data/events/maintenance/scheduled. */
enum imds_event_state {
	IMDS_EVENT_ACTIVE,
	IMDS_EVENT_CANCELED,
	IMDS_EVENT_COMPLETED,
	IMDS_EVENT_UNKNOWN,
};

struct imds_event {
	char	*code;		/* instance-reboot, system-reboot, system-maintenance,
				   instance-retirement, instance-stop */
	char	*description;
	char	*event_id;	/* instance-event-0123456789abcdef0 */
	char	*state_str;	/* as received */
	enum imds_event_state state;
	time_t	 not_before;	/* 0 if absent or unparseable */
	time_t	 not_after;	/* 0 if absent */
	time_t	 not_before_deadline;	/* 0 if absent */
};

struct imds_events {
	struct imds_event *v;	/* owned; imds_events_free() */
	size_t	 n;
};

/* Fetch and parse the scheduled events (fresh each call).  An instance with
 * none gives n == 0 (IMDS answers "[]" or 404). */
int imds_scheduled_events(struct imds *m, struct imds_events *out, struct aws_error *err);

/* Parse the JSON list (exposed for tests and the fuzzer).  AWS_E_PARSE with
 * a message on malformed input; entries lacking Code or EventId are skipped.
 * Times: "21 Jan 2019 09:00:43 GMT" (what IMDS sends) or ISO 8601. */
int imds_events_parse(const char *json, size_t len, struct imds_events *out,
    struct aws_error *err);
void imds_events_free(struct imds_events *ev);

/* "21 Jan 2019 09:00:43 GMT" or "2019-01-21T09:00:43Z" (also .sss, +00:00)
 * -> time_t; -1 when neither. */
time_t imds_parse_time(const char *s);

#endif
