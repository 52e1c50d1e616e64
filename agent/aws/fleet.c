/* SPDX-License-Identifier: GPL-2.0-or-later */
/* aws/fleet.c - see fleet.h */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <json-c/json.h>

#include "aws/fleet.h"
#include "log.h"

static const char *const status_names[] = {
	[FLEET_UNKNOWN] = "UNKNOWN",
	[FLEET_START_REQUESTED] = "START_REQUESTED",
	[FLEET_STARTING] = "STARTING",
	[FLEET_RUNNING] = "RUNNING",
	[FLEET_STOP_REQUESTED] = "STOP_REQUESTED",
	[FLEET_STOPPING] = "STOPPING",
	[FLEET_STOPPED] = "STOPPED",
	[FLEET_PROTECTED] = "PROTECTED",
};

const char *
fleet_status_str(enum fleet_status s)
{
	return (size_t)s < sizeof(status_names) / sizeof(status_names[0]) ? status_names[s] : "UNKNOWN";
}

enum fleet_status
fleet_status_parse(const char *s)
{
	for (size_t i = 1; s && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum fleet_status)i;
	return FLEET_UNKNOWN;
}

char *
fleet_table_name(const char *fleet_table, const char *cluster)
{
	char *s;

	if (fleet_table && *fleet_table)
		return strdup(fleet_table);
	if (cluster == NULL || *cluster == '\0')
		return NULL;
	if (asprintf(&s, "parallelcluster-%s", cluster) < 0)
		return NULL;
	return s;
}

/* {"S": "..."} -> the string, or NULL */
static const char *
attr_s(struct json_object *o, const char *key)
{
	struct json_object *a, *s;

	if (o == NULL || !json_object_object_get_ex(o, key, &a) ||
	    !json_object_is_type(a, json_type_object) ||
	    !json_object_object_get_ex(a, "S", &s) || !json_object_is_type(s, json_type_string))
		return NULL;
	return json_object_get_string(s);
}

int
fleet_parse_item(const char *json, size_t len, struct fleet_item *out, struct aws_error *err)
{
	struct json_tokener *tok;
	struct json_object *o = NULL, *item, *data, *m;
	const char *st, *lut;
	int rc = AWS_OK;

	memset(out, 0, sizeof(*out));
	if (json == NULL || len == 0 || len > INT32_MAX)
		return aws_seterr(err, AWS_E_PARSE, 0, "ParseError", "DynamoDB answer: empty");
	if ((tok = json_tokener_new()) == NULL)
		return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
	o = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		rc = aws_seterr(err, AWS_E_PARSE, 0, "ParseError", "DynamoDB answer: not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(o, "Item", &item) || !json_object_is_type(item, json_type_object)) {
		rc = aws_seterr(err, AWS_E_NOTFOUND, 0, "NoItem", "no COMPUTE_FLEET item");
		goto out;
	}
	if (json_object_object_get_ex(item, "Data", &data) && json_object_is_type(data, json_type_object) &&
	    json_object_object_get_ex(data, "M", &m) && json_object_is_type(m, json_type_object)) {
		st = attr_s(m, "status");
		lut = attr_s(m, "lastStatusUpdatedTime");
	} else {
		st = attr_s(item, "Status");
		lut = attr_s(item, "LastUpdatedTime");
		out->legacy = 1;
	}
	if (st == NULL) {
		rc = aws_seterr(err, AWS_E_PARSE, 0, "ParseError",
		    "the COMPUTE_FLEET item has neither Data.status nor Status");
		goto out;
	}
	snprintf(out->status_str, sizeof(out->status_str), "%s", st);
	snprintf(out->last_updated, sizeof(out->last_updated), "%s", lut ? lut : "");
	out->status = fleet_status_parse(st);
out:
	json_object_put(o);
	return rc;
}

static int
call_json(struct aws *a, const char *op, struct json_object *req, struct aws_buf *out,
    struct aws_error *err)
{
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);

	if (body == NULL)
		return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
	return aws_call(a, AWS_SVC_DYNAMODB, op, body, out, err);
}

static struct json_object *
s_attr(const char *v)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "S", json_object_new_string(v));
	return o;
}

static struct json_object *
fleet_key(void)
{
	struct json_object *k = json_object_new_object();

	json_object_object_add(k, "Id", s_attr("COMPUTE_FLEET"));
	return k;
}

int
fleet_get(struct aws *a, const char *table, struct fleet_item *out, struct aws_error *err)
{
	struct json_object *req = json_object_new_object();
	struct aws_buf b = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	json_object_object_add(req, "TableName", json_object_new_string(table));
	json_object_object_add(req, "Key", fleet_key());
	json_object_object_add(req, "ConsistentRead", json_object_new_boolean(1));
	rc = call_json(a, "GetItem", req, &b, err);
	json_object_put(req);
	if (rc == AWS_E_NOTFOUND) {
		char code[64];
		snprintf(code, sizeof(code), "%s", err ? err->code : "ResourceNotFoundException");
		aws_seterr(err, rc, err ? err->http_status : 400, code,
		    "DynamoDB table %s not found (is the cluster name right? set cluster_name "
		    "or fleet_table)", table);
		goto out;
	}
	if (rc != AWS_OK)
		goto out;
	rc = fleet_parse_item(b.data, b.len, out, err);
	if (rc == AWS_E_NOTFOUND)
		aws_seterr(err, rc, 200, "NoItem",
		    "table %s has no COMPUTE_FLEET item (not a ParallelCluster 3 Slurm cluster?)",
		    table);
out:
	aws_buf_free(&b);
	return rc;
}

/* str(datetime.now(tz=timezone.utc)): "2021-12-21 18:12:07.485674+00:00" */
static void
pcluster_now(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	char d[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, len, "%s.%06ld+00:00", d, (long)tv.tv_usec);
}

static int
write_status(struct aws *a, const char *table, const struct fleet_item *cur,
    enum fleet_status next, struct aws_error *err)
{
	struct json_object *req = json_object_new_object();
	struct json_object *names = json_object_new_object(), *vals = json_object_new_object();
	struct aws_buf b = { 0 };
	char now[64];
	int rc;

	pcluster_now(now, sizeof(now));
	json_object_object_add(req, "TableName", json_object_new_string(table));
	if (!cur->legacy) {
		json_object_object_add(req, "Key", fleet_key());
		json_object_object_add(req, "UpdateExpression",
		    json_object_new_string("set #dt.#st=:s, #dt.#lut=:t"));
		json_object_object_add(req, "ConditionExpression",
		    json_object_new_string("#dt.#st = :c"));
		json_object_object_add(names, "#dt", json_object_new_string("Data"));
		json_object_object_add(names, "#st", json_object_new_string("status"));
		json_object_object_add(names, "#lut", json_object_new_string("lastStatusUpdatedTime"));
		json_object_object_add(vals, ":s", s_attr(fleet_status_str(next)));
		json_object_object_add(vals, ":t", s_attr(now));
		json_object_object_add(vals, ":c", s_attr(cur->status_str));
	} else {
		struct json_object *item = json_object_new_object();
		json_object_object_add(item, "Id", s_attr("COMPUTE_FLEET"));
		json_object_object_add(item, "Status", s_attr(fleet_status_str(next)));
		json_object_object_add(item, "LastUpdatedTime", s_attr(now));
		json_object_object_add(req, "Item", item);
		json_object_object_add(req, "ConditionExpression", json_object_new_string("#st = :c"));
		json_object_object_add(names, "#st", json_object_new_string("Status"));
		json_object_object_add(vals, ":c", s_attr(cur->status_str));
	}
	json_object_object_add(req, "ExpressionAttributeNames", names);
	json_object_object_add(req, "ExpressionAttributeValues", vals);
	rc = call_json(a, cur->legacy ? "PutItem" : "UpdateItem", req, &b, err);
	json_object_put(req);
	aws_buf_free(&b);
	return rc;
}

int
fleet_request(struct aws *a, const char *table, enum fleet_action action,
    struct fleet_item *before, enum fleet_outcome *outcome, struct aws_error *err)
{
	struct fleet_item cur, after;
	enum fleet_status want = action == FLEET_STOP ? FLEET_STOP_REQUESTED : FLEET_START_REQUESTED;
	const char *verb = action == FLEET_STOP ? "stop" : "start";
	struct aws_error e2;
	int rc;

	if (outcome)
		*outcome = FLEET_ALREADY;
	if ((rc = fleet_get(a, table, &cur, err)) != AWS_OK)
		return rc;
	if (before)
		*before = cur;
	switch (cur.status) {
	case FLEET_UNKNOWN:
		return aws_seterr(err, AWS_E_PARSE, 0, "UnknownStatus",
		    "cannot %s the compute fleet: unknown status '%s' in %s", verb,
		    cur.status_str, table);
	case FLEET_PROTECTED:
		return aws_seterr(err, AWS_E_REFUSED, 0, "FleetProtected",
		    "cannot %s the compute fleet: it is PROTECTED (partitions with repeated "
		    "bootstrap failures); fix the cause, then use `pcluster update-compute-fleet`",
		    verb);
	case FLEET_STOP_REQUESTED:
	case FLEET_STOPPING:
	case FLEET_STOPPED:
		if (action == FLEET_STOP)
			return AWS_OK;
		if (cur.status != FLEET_STOPPED)
			return aws_seterr(err, AWS_E_REFUSED, 0, "StopInProgress",
			    "cannot start the compute fleet: it is %s; wait until it is STOPPED "
			    "(`pcm-agent fleet status`), then start it", cur.status_str);
		break;
	case FLEET_START_REQUESTED:
	case FLEET_STARTING:
	case FLEET_RUNNING:
		if (action == FLEET_START)
			return AWS_OK;
		if (cur.status != FLEET_RUNNING)
			return aws_seterr(err, AWS_E_REFUSED, 0, "StartInProgress",
			    "cannot stop the compute fleet: it is %s; wait until it is RUNNING "
			    "(`pcm-agent fleet status`), then stop it", cur.status_str);
		break;
	}
	rc = write_status(a, table, &cur, want, err);
	if (rc == AWS_E_CONFLICT) {
		const char *now = "unknown";
		if (fleet_get(a, table, &after, &e2) == AWS_OK) {
			now = after.status_str;
			/* our own write, retried after its answer was lost (or the
			 * same request from someone else): the request stands */
			if (after.status == want && err && err->attempts > 1) {
				log_notice("compute fleet: %s is in place (a retried write, or the "
				    "same request from elsewhere)", after.status_str);
				memset(err, 0, sizeof(*err));
				if (outcome)
					*outcome = FLEET_WROTE;
				return AWS_OK;
			}
		}
		return aws_seterr(err, AWS_E_CONFLICT, 400, "ConditionalCheckFailedException",
		    "cannot %s the compute fleet: its status changed from %s to %s while we "
		    "wrote %s (another pcluster or pcm-agent?); nothing overwritten", verb,
		    cur.status_str, now, fleet_status_str(want));
	}
	if (rc != AWS_OK)
		return rc;
	log_info("compute fleet: %s -> %s (table %s)", cur.status_str, fleet_status_str(want), table);
	if (outcome)
		*outcome = FLEET_WROTE;
	return AWS_OK;
}

int
fleet_check_write(struct aws *a, const char *table, int legacy, struct aws_error *err)
{
	struct json_object *req = json_object_new_object();
	struct json_object *vals = json_object_new_object();
	struct aws_buf b = { 0 };
	int rc;

	json_object_object_add(req, "TableName", json_object_new_string(table));
	if (legacy) {
		struct json_object *item = json_object_new_object();
		json_object_object_add(item, "Id", s_attr("COMPUTE_FLEET"));
		json_object_object_add(item, "PcmAgentProbe", s_attr("x"));
		json_object_object_add(req, "Item", item);
	} else {
		json_object_object_add(req, "Key", fleet_key());
		json_object_object_add(req, "UpdateExpression", json_object_new_string("SET PcmAgentProbe = :v"));
		json_object_object_add(vals, ":v", s_attr("x"));
		json_object_object_add(req, "ExpressionAttributeValues", vals);
		vals = NULL;
	}
	json_object_put(vals);
	/* never true: the item both exists and does not */
	json_object_object_add(req, "ConditionExpression",
	    json_object_new_string("attribute_exists(Id) AND attribute_not_exists(Id)"));
	rc = call_json(a, legacy ? "PutItem" : "UpdateItem", req, &b, err);
	json_object_put(req);
	aws_buf_free(&b);
	if (rc == AWS_E_CONFLICT) {
		if (err)
			memset(err, 0, sizeof(*err));
		return AWS_OK;
	}
	if (rc == AWS_OK)	/* cannot happen; nothing was meant to be written */
		return aws_seterr(err, AWS_E_SERVICE, 200, "UnexpectedSuccess",
		    "the permission probe on %s was not refused by its condition", table);
	return rc;
}

int
fleet_wait(struct aws *a, const char *table, enum fleet_action action, long timeout_s,
    long poll_ms, fleet_progress_fn progress, void *arg, struct fleet_item *last,
    struct aws_error *err)
{
	enum fleet_status path[3], goal;
	long long start = aws_now_ms();
	struct fleet_item cur;
	int rc;

	if (action == FLEET_STOP) {
		path[0] = FLEET_STOP_REQUESTED; path[1] = FLEET_STOPPING; path[2] = goal = FLEET_STOPPED;
	} else {
		path[0] = FLEET_START_REQUESTED; path[1] = FLEET_STARTING; path[2] = goal = FLEET_RUNNING;
	}
	for (;;) {
		long elapsed;

		if ((rc = fleet_get(a, table, &cur, err)) != AWS_OK)
			return rc;
		if (last)
			*last = cur;
		elapsed = (long)((aws_now_ms() - start) / 1000);
		if (progress)
			progress(&cur, elapsed, arg);
		if (cur.status == goal)
			return AWS_OK;
		if (cur.status != path[0] && cur.status != path[1])
			return aws_seterr(err, AWS_E_CONFLICT, 0, "UnexpectedStatus",
			    "the compute fleet went to %s while waiting for %s (a concurrent "
			    "request?)", cur.status_str, fleet_status_str(goal));
		if (aws_now_ms() - start + poll_ms > timeout_s * 1000LL)
			return aws_seterr(err, AWS_E_TIMEOUT, 0, "Timeout",
			    "the compute fleet is still %s after %ld s, waiting for %s (is "
			    "clusterstatusmgtd running on the head node?)", cur.status_str,
			    elapsed, fleet_status_str(goal));
		aws_sleep_ms(poll_ms);
	}
}
