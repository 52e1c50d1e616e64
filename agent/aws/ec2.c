/* SPDX-License-Identifier: GPL-2.0-or-later */
/* aws/ec2.c - see ec2.h */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "aws/ec2.h"
#include "aws/imds.h"
#include "log.h"

#define EC2_VERSION "2016-11-15"

/* ---- XML helpers ---- */

static xmlNode *
child(xmlNode *n, const char *name)
{
	if (n == NULL)
		return NULL;
	for (xmlNode *c = n->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0)
			return c;
	return NULL;
}

/* malloc'd text of n's child name ("" when empty), NULL when absent */
static char *
text(xmlNode *n, const char *name)
{
	xmlNode *c = name ? child(n, name) : n;
	xmlChar *s;
	char *r;

	if (c == NULL)
		return NULL;
	s = xmlNodeGetContent(c);
	r = strdup(s ? (const char *)s : "");
	xmlFree(s);
	return r;
}

static xmlDoc *
parse_doc(const char *xml, size_t len, const char *root, struct aws_error *err)
{
	xmlDoc *doc;
	xmlNode *r;

	if (xml == NULL || len == 0 || len > INT32_MAX) {
		aws_seterr(err, AWS_E_PARSE, 0, "ParseError", "EC2 answer: empty");
		return NULL;
	}
	doc = xmlReadMemory(xml, (int)len, "ec2.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		aws_seterr(err, AWS_E_PARSE, 0, "ParseError", "EC2 answer: not XML");
		return NULL;
	}
	r = xmlDocGetRootElement(doc);
	if (r == NULL || xmlStrcmp(r->name, BAD_CAST root) != 0) {
		aws_seterr(err, AWS_E_PARSE, 0, "ParseError", "EC2 answer: expected <%s>", root);
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

/* ---- instances ---- */

const char *
ec2_tag(const struct ec2_instance *inst, const char *key)
{
	for (size_t i = 0; i < inst->ntags; i++)
		if (strcmp(inst->tags[i].key, key) == 0)
			return inst->tags[i].value;
	return NULL;
}

static void
instance_free(struct ec2_instance *x)
{
	free(x->id);
	free(x->state);
	free(x->type);
	free(x->az);
	free(x->launch_time);
	free(x->private_ip);
	free(x->private_dns);
	for (size_t i = 0; i < x->ntags; i++) {
		free(x->tags[i].key);
		free(x->tags[i].value);
	}
	free(x->tags);
}

void
ec2_instances_free(struct ec2_instances *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		instance_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
parse_instance(xmlNode *item, struct ec2_instance *x)
{
	xmlNode *st = child(item, "instanceState"), *tags = child(item, "tagSet");
	char *code;

	memset(x, 0, sizeof(*x));
	x->instance_store = -1;
	if ((x->id = text(item, "instanceId")) == NULL || x->id[0] == '\0')
		return -1;
	x->state = text(st, "name");
	if ((code = text(st, "code")) != NULL)
		x->state_code = atoi(code) & 0xff;
	free(code);
	x->type = text(item, "instanceType");
	x->az = text(child(item, "placement"), "availabilityZone");
	x->launch_time = text(item, "launchTime");
	x->private_ip = text(item, "privateIpAddress");
	x->private_dns = text(item, "privateDnsName");
	if (x->state == NULL)
		x->state = strdup("unknown");
	if (x->type == NULL)
		x->type = strdup("unknown");
	if (x->state == NULL || x->type == NULL)
		return -1;
	if (tags != NULL) {
		size_t n = 0;
		for (xmlNode *t = tags->children; t; t = t->next)
			n += t->type == XML_ELEMENT_NODE;
		if (n > 0 && (x->tags = calloc(n, sizeof(*x->tags))) == NULL)
			return -1;
		for (xmlNode *t = tags->children; t; t = t->next) {
			if (t->type != XML_ELEMENT_NODE)
				continue;
			char *k = text(t, "key"), *v = text(t, "value");
			if (k == NULL) {
				free(v);
				continue;
			}
			x->tags[x->ntags].key = k;
			x->tags[x->ntags].value = v ? v : strdup("");
			if (x->tags[x->ntags++].value == NULL)
				return -1;
		}
	}
	return 0;
}

int
ec2_parse_instances(const char *xml, size_t len, struct ec2_instances *out,
    char **next_token, struct aws_error *err)
{
	xmlDoc *doc;
	xmlNode *root, *rs;
	int rc = AWS_OK;

	if (next_token)
		*next_token = NULL;
	if ((doc = parse_doc(xml, len, "DescribeInstancesResponse", err)) == NULL)
		return AWS_E_PARSE;
	root = xmlDocGetRootElement(doc);
	rs = child(root, "reservationSet");
	for (xmlNode *r = rs ? rs->children : NULL; r; r = r->next) {
		xmlNode *is = child(r, "instancesSet");
		for (xmlNode *i = is ? is->children : NULL; i; i = i->next) {
			struct ec2_instance x, *nv;

			if (i->type != XML_ELEMENT_NODE)
				continue;
			if (parse_instance(i, &x) < 0) {
				instance_free(&x);
				continue;
			}
			if ((nv = realloc(out->v, (out->n + 1) * sizeof(*nv))) == NULL) {
				instance_free(&x);
				rc = aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
				goto out;
			}
			out->v = nv;
			out->v[out->n++] = x;
		}
	}
	if (next_token) {
		char *t = text(root, "nextToken");
		if (t && *t)
			*next_token = t;
		else
			free(t);
	}
out:
	xmlFreeDoc(doc);
	return rc;
}

/* append "&Name=urlencode(value)" to *body */
static int
addp(char **body, const char *fmt_name, int idx, const char *value)
{
	char name[64], *v = aws_urlencode(value), *nb;
	int n;

	if (v == NULL)
		return -1;
	if (idx > 0)
		snprintf(name, sizeof(name), fmt_name, idx);
	else
		snprintf(name, sizeof(name), "%s", fmt_name);
	n = asprintf(&nb, "%s&%s=%s", *body, name, v);
	free(v);
	if (n < 0)
		return -1;
	free(*body);
	*body = nb;
	return 0;
}

static char *
new_body(const char *action, int dry_run)
{
	char *b;

	if (asprintf(&b, "Action=%s&Version=" EC2_VERSION "%s", action,
	    dry_run ? "&DryRun=true" : "") < 0)
		return NULL;
	return b;
}

/* A DryRun call: 412 DryRunOperation = allowed. */
static int
dry_result(int rc, struct aws_error *err, const char *what)
{
	if (rc == AWS_E_SERVICE && err && strcmp(err->code, "DryRunOperation") == 0) {
		log_debug("ec2: %s allowed (DryRun)", what);
		memset(err, 0, sizeof(*err));
		return AWS_OK;
	}
	if (rc == AWS_OK)	/* a DryRun must not succeed; treat as allowed */
		return AWS_OK;
	return rc;
}

static int
call(struct aws *a, const char *action, char *body, int dry_run, struct aws_buf *out,
    struct aws_error *err)
{
	struct aws_error e = { 0 };
	int rc;

	if (body == NULL)
		return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
	rc = aws_call(a, AWS_SVC_EC2, action, body, out, &e);
	if (dry_run) {
		rc = dry_result(rc, &e, action);
		aws_buf_free(out);
	}
	if (err)
		*err = e;
	return rc;
}

static void
fill_instance_store(struct aws *a, struct ec2_instances *l)
{
	struct aws_buf b = { 0 };
	char *body = new_body("DescribeInstanceTypes", 0);
	xmlDoc *doc = NULL;
	int k = 0;

	for (size_t i = 0; i < l->n && body; i++) {
		int seen = 0;
		for (size_t j = 0; j < i; j++)
			seen |= strcmp(l->v[j].type, l->v[i].type) == 0;
		if (!seen && addp(&body, "InstanceType.%d", ++k, l->v[i].type) < 0) {
			free(body);
			body = NULL;
		}
	}
	if (body == NULL || k == 0 || aws_call(a, AWS_SVC_EC2, "DescribeInstanceTypes", body, &b, NULL) != AWS_OK)
		goto out;
	if ((doc = parse_doc(b.data, b.len, "DescribeInstanceTypesResponse", NULL)) == NULL)
		goto out;
	xmlNode *set = child(xmlDocGetRootElement(doc), "instanceTypeSet");
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
		char *type = text(it, "instanceType"), *sup = text(it, "instanceStorageSupported");
		char *gb = text(child(it, "instanceStorageInfo"), "totalSizeInGB");
		for (size_t i = 0; type && i < l->n; i++) {
			if (strcmp(l->v[i].type, type) != 0)
				continue;
			l->v[i].instance_store = sup && strcmp(sup, "true") == 0;
			l->v[i].instance_store_gb = gb ? atol(gb) : 0;
		}
		free(type);
		free(sup);
		free(gb);
	}
out:
	xmlFreeDoc(doc);
	aws_buf_free(&b);
	free(body);
}

/* DescribeInstances, all pages; max_results > 0: MaxResults (not with ids);
 * types: DescribeInstanceTypes after */
static int
describe_instances(struct aws *a, const char *const *ids, size_t nids,
    const struct ec2_filter *filters, size_t nfilters, long max_results, int types,
    int dry_run, struct ec2_instances *out, struct aws_error *err)
{
	struct ec2_instances tmp;
	char *token = NULL;
	int rc = AWS_OK, pages = 0;

	if (out == NULL)	/* allowed with dry_run */
		out = &tmp;
	memset(out, 0, sizeof(*out));
	do {
		struct aws_buf b = { 0 };
		char *body = new_body("DescribeInstances", dry_run);

		for (size_t i = 0; i < nids && body; i++)
			if (addp(&body, "InstanceId.%d", (int)i + 1, ids[i]) < 0) {
				free(body);
				body = NULL;
			}
		for (size_t i = 0; i < nfilters && body; i++) {
			char nm[48];
			snprintf(nm, sizeof(nm), "Filter.%zu.Name", i + 1);
			if (addp(&body, nm, 0, filters[i].name) < 0)
				goto nomem;
			snprintf(nm, sizeof(nm), "Filter.%zu.Value.1", i + 1);
			if (addp(&body, nm, 0, filters[i].value) < 0)
				goto nomem;
			continue;
nomem:
			free(body);
			body = NULL;
		}
		if (body && max_results > 0 && nids == 0) {
			char mr[24];
			snprintf(mr, sizeof(mr), "%ld", max_results);
			if (addp(&body, "MaxResults", 0, mr) < 0) {
				free(body);
				body = NULL;
			}
		}
		if (body && token && addp(&body, "NextToken", 0, token) < 0) {
			free(body);
			body = NULL;
		}
		free(token);
		token = NULL;
		rc = call(a, "DescribeInstances", body, dry_run, &b, err);
		free(body);
		if (rc != AWS_OK || dry_run) {
			aws_buf_free(&b);
			break;
		}
		rc = ec2_parse_instances(b.data, b.len, out, &token, err);
		aws_buf_free(&b);
	} while (rc == AWS_OK && token != NULL && ++pages < 100);
	free(token);
	if (rc != AWS_OK) {
		ec2_instances_free(out);
		return rc;
	}
	if (!dry_run && types && out->n > 0)
		fill_instance_store(a, out);
	if (out == &tmp)
		ec2_instances_free(out);
	return rc;
}

int
ec2_describe_instances(struct aws *a, const char *const *ids, size_t nids,
    const struct ec2_filter *filters, size_t nfilters, int dry_run,
    struct ec2_instances *out, struct aws_error *err)
{
	return describe_instances(a, ids, nids, filters, nfilters, 0, 1, dry_run, out, err);
}

int
ec2_login_nodes(struct aws *a, const char *cluster, struct ec2_instances *out,
    struct aws_error *err)
{
	const struct ec2_filter f[] = {
		{ "tag:parallelcluster:node-type", "LoginNode" },
		{ "tag:parallelcluster:cluster-name", cluster },
	};
	const char *e = getenv("PCM_TEST_EC2_PAGE_SIZE");
	long page = e != NULL && atol(e) >= 5 && atol(e) <= 1000 ? atol(e) : 1000;
	size_t k = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (cluster == NULL || cluster[0] == '\0')
		return aws_seterr(err, AWS_E_CONFIG, 0, "MissingParameter",
		    "login nodes: no cluster name (set cluster_name)");
	rc = describe_instances(a, NULL, 0, f, 2, page, 0, 0, out, err);
	if (rc != AWS_OK)
		return rc;
	for (size_t i = 0; i < out->n; i++) {
		const char *st = out->v[i].state;
		/* the filters again: a service that ignores one must not list
		 * another cluster's instances */
		const char *nt = ec2_tag(&out->v[i], "parallelcluster:node-type");
		const char *cn = ec2_tag(&out->v[i], "parallelcluster:cluster-name");
		if (strcmp(st, "terminated") == 0 || strcmp(st, "shutting-down") == 0 ||
		    strcmp(st, "stopped") == 0 || nt == NULL || strcmp(nt, "LoginNode") != 0 ||
		    cn == NULL || strcmp(cn, cluster) != 0) {
			instance_free(&out->v[i]);
			continue;
		}
		out->v[k++] = out->v[i];
	}
	out->n = k;
	if (k == 0) {
		free(out->v);
		out->v = NULL;
	}
	return AWS_OK;
}

static int
one_instance_action(struct aws *a, const char *action, const char *id, const char *extra,
    int dry_run, struct aws_error *err)
{
	struct aws_buf b = { 0 };
	char *body = new_body(action, dry_run);
	int rc;

	if (body && addp(&body, "InstanceId.%d", 1, id) < 0) {
		free(body);
		body = NULL;
	}
	if (body && extra) {
		char *nb;
		if (asprintf(&nb, "%s&%s", body, extra) < 0)
			nb = NULL;
		free(body);
		body = nb;
	}
	rc = call(a, action, body, dry_run, &b, err);
	free(body);
	aws_buf_free(&b);
	if (rc == AWS_OK && !dry_run)
		log_info("ec2: %s %s requested", action, id);
	return rc;
}

int
ec2_stop_instance(struct aws *a, const char *id, int force, int dry_run, struct aws_error *err)
{
	return one_instance_action(a, "StopInstances", id, force ? "Force=true" : NULL, dry_run, err);
}

int
ec2_start_instance(struct aws *a, const char *id, int dry_run, struct aws_error *err)
{
	return one_instance_action(a, "StartInstances", id, NULL, dry_run, err);
}

int
ec2_reboot_instance(struct aws *a, const char *id, int dry_run, struct aws_error *err)
{
	return one_instance_action(a, "RebootInstances", id, NULL, dry_run, err);
}

/* ---- instance status ---- */

void
ec2_statuses_free(struct ec2_statuses *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		struct ec2_status *s = &l->v[i];
		free(s->id);
		free(s->state);
		free(s->system_status);
		free(s->instance_status);
		for (size_t j = 0; j < s->nevents; j++) {
			free(s->events[j].id);
			free(s->events[j].code);
			free(s->events[j].description);
		}
		free(s->events);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static time_t
xtime(xmlNode *n, const char *name)
{
	char *s = text(n, name);
	time_t t = s ? imds_parse_time(s) : 0;

	free(s);
	return t > 0 ? t : 0;
}

int
ec2_parse_instance_status(const char *xml, size_t len, struct ec2_statuses *out,
    struct aws_error *err)
{
	xmlDoc *doc;
	xmlNode *set;
	int rc = AWS_OK;

	memset(out, 0, sizeof(*out));
	if ((doc = parse_doc(xml, len, "DescribeInstanceStatusResponse", err)) == NULL)
		return AWS_E_PARSE;
	set = child(xmlDocGetRootElement(doc), "instanceStatusSet");
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
		struct ec2_status *s, *nv;
		xmlNode *evs;

		if (it->type != XML_ELEMENT_NODE)
			continue;
		if ((nv = realloc(out->v, (out->n + 1) * sizeof(*nv))) == NULL)
			goto nomem;
		out->v = nv;
		s = &out->v[out->n];
		memset(s, 0, sizeof(*s));
		s->id = text(it, "instanceId");
		if (s->id == NULL || s->id[0] == '\0') {
			free(s->id);
			continue;
		}
		out->n++;
		s->state = text(child(it, "instanceState"), "name");
		s->system_status = text(child(it, "systemStatus"), "status");
		s->instance_status = text(child(it, "instanceStatus"), "status");
		evs = child(it, "eventsSet");
		for (xmlNode *e = evs ? evs->children : NULL; e; e = e->next) {
			struct ec2_event *ev, *ne;

			if (e->type != XML_ELEMENT_NODE)
				continue;
			if ((ne = realloc(s->events, (s->nevents + 1) * sizeof(*ne))) == NULL)
				goto nomem;
			s->events = ne;
			ev = &s->events[s->nevents++];
			ev->id = text(e, "instanceEventId");
			ev->code = text(e, "code");
			ev->description = text(e, "description");
			ev->not_before = xtime(e, "notBefore");
			ev->not_after = xtime(e, "notAfter");
			ev->not_before_deadline = xtime(e, "notBeforeDeadline");
		}
	}
	goto out;
nomem:
	ec2_statuses_free(out);
	rc = aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
out:
	xmlFreeDoc(doc);
	return rc;
}

int
ec2_describe_instance_status(struct aws *a, const char *id, int dry_run,
    struct ec2_statuses *out, struct aws_error *err)
{
	struct aws_buf b = { 0 };
	char *body = new_body("DescribeInstanceStatus", dry_run);
	struct ec2_statuses tmp;
	int rc;

	if (out == NULL)	/* allowed with dry_run */
		out = &tmp;
	memset(out, 0, sizeof(*out));
	if (body && addp(&body, "IncludeAllInstances", 0, "true") < 0) {
		free(body);
		body = NULL;
	}
	if (body && id && addp(&body, "InstanceId.%d", 1, id) < 0) {
		free(body);
		body = NULL;
	}
	rc = call(a, "DescribeInstanceStatus", body, dry_run, &b, err);
	free(body);
	if (rc == AWS_OK && !dry_run)
		rc = ec2_parse_instance_status(b.data, b.len, out, err);
	aws_buf_free(&b);
	if (out == &tmp)
		ec2_statuses_free(out);
	return rc;
}

/* ---- waiters ---- */

int
ec2_wait_state(struct aws *a, const char *id, const char *state, long timeout_s,
    long poll_ms, ec2_progress_fn progress, void *arg, struct aws_error *err)
{
	long long start = aws_now_ms();
	char last[32] = "";

	for (;;) {
		struct ec2_instances l;
		const char *ids[1] = { id };
		long elapsed;
		int rc = ec2_describe_instances(a, ids, 1, NULL, 0, 0, &l, err);

		if (rc != AWS_OK)
			return rc;
		if (l.n == 0) {
			ec2_instances_free(&l);
			return aws_seterr(err, AWS_E_NOTFOUND, 0, "InvalidInstanceID.NotFound",
			    "instance %s not found", id);
		}
		snprintf(last, sizeof(last), "%s", l.v[0].state);
		ec2_instances_free(&l);
		elapsed = (long)((aws_now_ms() - start) / 1000);
		if (progress)
			progress(id, last, elapsed, arg);
		if (strcmp(last, state) == 0)
			return AWS_OK;
		if (strcmp(last, "terminated") == 0 || strcmp(last, "shutting-down") == 0)
			return aws_seterr(err, AWS_E_SERVICE, 0, "InstanceTerminated",
			    "instance %s is %s: it will never be %s", id, last, state);
		if (aws_now_ms() - start + poll_ms > timeout_s * 1000LL)
			return aws_seterr(err, AWS_E_TIMEOUT, 0, "Timeout",
			    "instance %s still %s after %ld s, waiting for %s", id, last,
			    elapsed, state);
		aws_sleep_ms(poll_ms);
	}
}

int
ec2_wait_status_ok(struct aws *a, const char *id, long timeout_s, long poll_ms,
    ec2_progress_fn progress, void *arg, struct aws_error *err)
{
	long long start = aws_now_ms();

	for (;;) {
		struct ec2_statuses l;
		char what[96] = "not listed";
		int done = 0, rc = ec2_describe_instance_status(a, id, 0, &l, err);
		long elapsed;

		if (rc != AWS_OK)
			return rc;
		if (l.n > 0) {
			const struct ec2_status *s = &l.v[0];
			snprintf(what, sizeof(what), "%s, system %s, instance %s",
			    s->state ? s->state : "?", s->system_status ? s->system_status : "?",
			    s->instance_status ? s->instance_status : "?");
			done = s->state && strcmp(s->state, "running") == 0 &&
			    s->system_status && strcmp(s->system_status, "ok") == 0 &&
			    s->instance_status && strcmp(s->instance_status, "ok") == 0;
		}
		ec2_statuses_free(&l);
		elapsed = (long)((aws_now_ms() - start) / 1000);
		if (progress)
			progress(id, what, elapsed, arg);
		if (done)
			return AWS_OK;
		if (aws_now_ms() - start + poll_ms > timeout_s * 1000LL)
			return aws_seterr(err, AWS_E_TIMEOUT, 0, "Timeout",
			    "instance %s status checks not ok after %ld s (%s)", id, elapsed, what);
		aws_sleep_ms(poll_ms);
	}
}
