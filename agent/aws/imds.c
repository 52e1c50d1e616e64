/* SPDX-License-Identifier: GPL-2.0-or-later */
/* aws/imds.c - see imds.h */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "aws/creds.h"
#include "aws/dl.h"
#include "aws/imds.h"
#include "log.h"

#define IMDS_DEFAULT	"http://169.254.169.254"
#define TOKEN_TTL	21600
#define CONNECT_MS	1000
#define REQUEST_MS	2000
#define ATTEMPTS	2

struct imds {
	char	*base;
	int	 disabled;
	char	*token;
	time_t	 token_expires;
	char	*cache[4];	/* instance-id, region, az, type */
};

struct imds *
imds_new(void)
{
	const char *e = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *d = getenv("AWS_EC2_METADATA_DISABLED");
	struct imds *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	if (imds_set_endpoint(m, e && *e ? e : IMDS_DEFAULT) != AWS_OK) {
		free(m);
		return NULL;
	}
	m->disabled = d && strcasecmp(d, "true") == 0;
	return m;
}

static void
drop_token(struct imds *m)
{
	if (m->token) {
		explicit_bzero(m->token, strlen(m->token));
		free(m->token);
	}
	m->token = NULL;
	m->token_expires = 0;
}

void
imds_free(struct imds *m)
{
	if (m == NULL)
		return;
	drop_token(m);
	for (size_t i = 0; i < 4; i++)
		free(m->cache[i]);
	free(m->base);
	free(m);
}

int
imds_set_endpoint(struct imds *m, const char *base_url)
{
	size_t n = strlen(base_url);
	char *b;

	while (n > 0 && base_url[n - 1] == '/')
		n--;
	if ((b = strndup(base_url, n)) == NULL)
		return AWS_E_NOMEM;
	free(m->base);
	m->base = b;
	drop_token(m);
	return AWS_OK;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct aws_buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > (1u << 20))
		return 0;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (p == NULL)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* X-aws-ec2-metadata-token-ttl-seconds of the token answer */
static size_t
ttl_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	static const char name[] = "x-aws-ec2-metadata-token-ttl-seconds:";
	size_t len = size * n;
	long *ttl = arg;

	if (len > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		char v[24];
		size_t vl = len - (sizeof(name) - 1);
		if (vl >= sizeof(v))
			vl = sizeof(v) - 1;
		memcpy(v, buf + sizeof(name) - 1, vl);
		v[vl] = '\0';
		*ttl = strtol(v, NULL, 10);
	}
	return len;
}

/* One HTTP exchange with retries on transport errors and 5xx. */
static int
request(struct imds *m, int put, const char *path, const char *header, struct aws_buf *out,
    long *status, long *ttl, struct aws_error *err)
{
	char url[512], errbuf[CURL_ERROR_SIZE];
	CURLcode cc = CURLE_OK;
	int attempt;

	*status = 0;
	snprintf(url, sizeof(url), "%s/latest/%s", m->base, path);
	for (attempt = 1; attempt <= ATTEMPTS; attempt++) {
		struct curl_slist *h = NULL;
		CURL *curl = curl_easy_init();

		if (curl == NULL)
			return dl_curl() < 0 ?
			    aws_seterr(err, AWS_E_CONFIG, 0, "NoLibcurl", "libcurl could not be loaded") :
			    aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
		aws_buf_free(out);
		errbuf[0] = '\0';
		if (header && (h = curl_slist_append(NULL, header)) == NULL) {
			curl_easy_cleanup(curl);
			return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
		}
		curl_easy_setopt(curl, CURLOPT_URL, url);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)REQUEST_MS);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
		if (put)
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
		if (ttl) {
			curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ttl_header_cb);
			curl_easy_setopt(curl, CURLOPT_HEADERDATA, ttl);
		}
		cc = curl_easy_perform(curl);
		if (cc == CURLE_OK)
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
		curl_easy_cleanup(curl);
		if (h)
			explicit_bzero(h->data, strlen(h->data));
		curl_slist_free_all(h);
		if (cc == CURLE_OK && *status < 500)
			return AWS_OK;
		log_debug("imds: %s %s attempt %d: %s", put ? "PUT" : "GET", path, attempt,
		    cc != CURLE_OK ? (errbuf[0] ? errbuf : curl_easy_strerror(cc)) : "HTTP 5xx");
	}
	if (cc == CURLE_OK)
		return aws_seterr(err, AWS_E_SERVICE, *status, "IMDSError",
		    "the instance metadata service at %s answered HTTP %ld to %s", m->base,
		    *status, path);
	aws_seterr(err, AWS_E_TRANSPORT, 0, cc == CURLE_OPERATION_TIMEDOUT ? "Timeout" : "ConnectionError",
	    "cannot reach the instance metadata service at %s: %s (not on EC2? on a "
	    "ParallelCluster head node only root may reach it; otherwise set "
	    "AWS_EC2_METADATA_SERVICE_ENDPOINT, or AWS_EC2_METADATA_DISABLED=true and the "
	    "region and credentials by hand)",
	    m->base, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	return AWS_E_TRANSPORT;
}

static int
get_token(struct imds *m, struct aws_error *err)
{
	struct aws_buf b = { 0 };
	char hdr[80];
	long status, ttl = TOKEN_TTL;
	int rc;

	if (m->token && time(NULL) + 60 < m->token_expires)
		return AWS_OK;
	drop_token(m);
	snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token-ttl-seconds: %d", TOKEN_TTL);
	if ((rc = request(m, 1, "api/token", hdr, &b, &status, &ttl, err)) != AWS_OK)
		goto out;
	if (status != 200 || b.len == 0 || memchr(b.data, '\n', b.len) != NULL) {
		rc = aws_seterr(err, AWS_E_SERVICE, status, "IMDSError",
		    "the instance metadata service at %s refused an IMDSv2 token (HTTP %ld)",
		    m->base, status);
		goto out;
	}
	m->token = b.data;
	b.data = NULL;
	/* the service may grant less than asked: refresh by what it says */
	if (ttl <= 0 || ttl > TOKEN_TTL)
		ttl = TOKEN_TTL;
	m->token_expires = time(NULL) + ttl;
	log_debug("imds: got a session token (TTL %ld s)", ttl);
out:
	if (b.data)
		explicit_bzero(b.data, b.len);
	aws_buf_free(&b);
	return rc;
}

int
imds_get(struct imds *m, const char *path, char **out, struct aws_error *err)
{
	struct aws_buf b = { 0 };
	char *hdr = NULL;
	long status = 0;
	int rc, tries;

	*out = NULL;
	if (m->disabled)
		return aws_seterr(err, AWS_E_CONFIG, 0, "IMDSDisabled",
		    "the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED=true)");
	for (tries = 0; tries < 2; tries++) {
		if ((rc = get_token(m, err)) != AWS_OK)
			return rc;
		if (asprintf(&hdr, "X-aws-ec2-metadata-token: %s", m->token) < 0)
			return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
		rc = request(m, 0, path, hdr, &b, &status, NULL, err);
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
		hdr = NULL;
		if (rc != AWS_OK)
			return rc;
		if (status != 401)
			break;
		log_debug("imds: token refused (401), fetching a new one");
		drop_token(m);
		aws_buf_free(&b);
	}
	if (status == 404) {
		aws_buf_free(&b);
		return aws_seterr(err, AWS_E_NOTFOUND, 404, "NotFound",
		    "instance metadata %s not found", path);
	}
	if (status != 200) {
		aws_buf_free(&b);
		return aws_seterr(err, AWS_E_SERVICE, status, "IMDSError",
		    "the instance metadata service answered HTTP %ld to %s", status, path);
	}
	if (b.data == NULL && (b.data = strdup("")) == NULL)
		return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
	*out = b.data;
	return AWS_OK;
}

static int
cached(struct imds *m, int slot, const char *path, char **out, struct aws_error *err)
{
	char *v;
	int rc;

	*out = NULL;
	if (m->cache[slot] == NULL) {
		if ((rc = imds_get(m, path, &v, err)) != AWS_OK)
			return rc;
		/* one token: strip whitespace */
		v[strcspn(v, " \t\r\n")] = '\0';
		if (*v == '\0') {
			free(v);
			return aws_seterr(err, AWS_E_PARSE, 200, "ParseError",
			    "instance metadata %s is empty", path);
		}
		m->cache[slot] = v;
	}
	if ((*out = strdup(m->cache[slot])) == NULL)
		return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
	return AWS_OK;
}

int
imds_instance_id(struct imds *m, char **out, struct aws_error *err)
{
	return cached(m, 0, "meta-data/instance-id", out, err);
}

int
imds_region(struct imds *m, char **out, struct aws_error *err)
{
	return cached(m, 1, "meta-data/placement/region", out, err);
}

int
imds_availability_zone(struct imds *m, char **out, struct aws_error *err)
{
	return cached(m, 2, "meta-data/placement/availability-zone", out, err);
}

int
imds_instance_type(struct imds *m, char **out, struct aws_error *err)
{
	return cached(m, 3, "meta-data/instance-type", out, err);
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int
imds_role_creds(struct imds *m, struct aws_creds *out, struct aws_error *err)
{
	char *roles = NULL, *body = NULL, *path = NULL;
	struct json_object *o = NULL;
	const char *ak, *sk, *tok, *exp, *code;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = imds_get(m, "meta-data/iam/security-credentials/", &roles, err)) != AWS_OK) {
		if (rc == AWS_E_NOTFOUND)
			aws_seterr(err, rc, 404, "NoRole", "the instance has no IAM instance profile");
		goto out;
	}
	roles[strcspn(roles, "\r\n")] = '\0';
	if (roles[0] == '\0' || strchr(roles, '/') != NULL) {
		rc = aws_seterr(err, AWS_E_NOTFOUND, 200, "NoRole",
		    "the instance has no IAM instance profile");
		goto out;
	}
	if (asprintf(&path, "meta-data/iam/security-credentials/%s", roles) < 0) {
		path = NULL;
		rc = aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
		goto out;
	}
	if ((rc = imds_get(m, path, &body, err)) != AWS_OK)
		goto out;
	o = json_tokener_parse(body);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		rc = aws_seterr(err, AWS_E_PARSE, 200, "ParseError",
		    "instance profile %s: the credentials are not a JSON object", roles);
		goto out;
	}
	code = jstr(o, "Code");
	if (code && strcmp(code, "Success") != 0) {
		rc = aws_seterr(err, AWS_E_AUTH, 200, code,
		    "instance profile %s: IMDS says %s", roles, code);
		goto out;
	}
	ak = jstr(o, "AccessKeyId");
	sk = jstr(o, "SecretAccessKey");
	tok = jstr(o, "Token");
	exp = jstr(o, "Expiration");
	if (!ak || !sk || !*ak || !*sk) {
		rc = aws_seterr(err, AWS_E_PARSE, 200, "ParseError",
		    "instance profile %s: no AccessKeyId/SecretAccessKey in the answer", roles);
		goto out;
	}
	out->access_key_id = strdup(ak);
	out->secret_access_key = strdup(sk);
	out->session_token = tok && *tok ? strdup(tok) : NULL;
	if (!out->access_key_id || !out->secret_access_key || (tok && *tok && !out->session_token)) {
		creds_clear(out);
		rc = aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
		goto out;
	}
	if (exp) {
		time_t t = imds_parse_time(exp);
		/* unparseable: refresh in 5 minutes rather than never */
		out->expiration = t > 0 ? t : time(NULL) + 600;
	}
	snprintf(out->source, sizeof(out->source), "instance profile %.60s", roles);
	rc = AWS_OK;
out:
	if (body) {
		explicit_bzero(body, strlen(body));
		free(body);
	}
	if (o) {
		/* json-c copied the secret strings: wipe them in place */
		const char *keys[] = { "SecretAccessKey", "Token" };
		for (size_t i = 0; i < 2; i++) {
			const char *s = jstr(o, keys[i]);
			if (s)
				explicit_bzero((char *)s, strlen(s));
		}
		json_object_put(o);
	}
	free(roles);
	free(path);
	return rc;
}

/* ---- scheduled events ---- */

time_t
imds_parse_time(const char *s)
{
	struct tm tm;
	const char *e;

	if (s == NULL)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	memset(&tm, 0, sizeof(tm));
	if ((e = strptime(s, "%d %b %Y %H:%M:%S", &tm)) != NULL) {
		while (isspace((unsigned char)*e))
			e++;
		if (*e == '\0' || strcmp(e, "GMT") == 0 || strcmp(e, "UTC") == 0)
			return timegm(&tm);
		return -1;
	}
	memset(&tm, 0, sizeof(tm));
	if ((e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) != NULL) {
		long off = 0;
		if (*e == '.')
			for (e++; isdigit((unsigned char)*e); e++)
				;
		if (*e == 'Z') {
			e++;
		} else if ((*e == '+' || *e == '-') && isdigit((unsigned char)e[1]) &&
		    isdigit((unsigned char)e[2]) && e[3] == ':' && isdigit((unsigned char)e[4]) &&
		    isdigit((unsigned char)e[5])) {
			off = ((e[1] - '0') * 10 + (e[2] - '0')) * 3600 + ((e[4] - '0') * 10 + (e[5] - '0')) * 60;
			if (*e == '+')
				off = -off;
			e += 6;
		}
		if (*e != '\0')
			return -1;
		return timegm(&tm) + off;
	}
	return -1;
}

void
imds_events_free(struct imds_events *ev)
{
	if (ev == NULL)
		return;
	for (size_t i = 0; i < ev->n; i++) {
		free(ev->v[i].code);
		free(ev->v[i].description);
		free(ev->v[i].event_id);
		free(ev->v[i].state_str);
	}
	free(ev->v);
	ev->v = NULL;
	ev->n = 0;
}

static time_t
jtime(struct json_object *o, const char *key)
{
	const char *s = jstr(o, key);
	time_t t = s ? imds_parse_time(s) : 0;

	return t > 0 ? t : 0;
}

int
imds_events_parse(const char *json, size_t len, struct imds_events *out, struct aws_error *err)
{
	struct json_tokener *tok;
	struct json_object *arr = NULL;
	enum json_tokener_error jerr;
	size_t n;
	int rc = AWS_OK;

	memset(out, 0, sizeof(*out));
	if (len > (1u << 20))
		return aws_seterr(err, AWS_E_PARSE, 0, "ParseError", "scheduled events: answer too large");
	/* empty answer: no events */
	size_t i0 = 0;
	while (i0 < len && isspace((unsigned char)json[i0]))
		i0++;
	if (i0 == len)
		return AWS_OK;
	if ((tok = json_tokener_new()) == NULL)
		return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
	arr = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (arr == NULL || jerr != json_tokener_success) {
		rc = aws_seterr(err, AWS_E_PARSE, 0, "ParseError",
		    "scheduled events: not JSON (%s)", json_tokener_error_desc(jerr));
		goto out;
	}
	if (!json_object_is_type(arr, json_type_array)) {
		rc = aws_seterr(err, AWS_E_PARSE, 0, "ParseError", "scheduled events: not a JSON list");
		goto out;
	}
	n = json_object_array_length(arr);
	if (n == 0)
		goto out;
	if ((out->v = calloc(n, sizeof(*out->v))) == NULL) {
		rc = aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct imds_event *e = &out->v[out->n];
		const char *code, *id, *desc, *state;

		if (!json_object_is_type(o, json_type_object))
			continue;
		code = jstr(o, "Code");
		id = jstr(o, "EventId");
		if (code == NULL || id == NULL)
			continue;
		desc = jstr(o, "Description");
		state = jstr(o, "State");
		e->code = strdup(code);
		e->event_id = strdup(id);
		e->description = strdup(desc ? desc : "");
		e->state_str = strdup(state ? state : "");
		out->n++;
		if (!e->code || !e->event_id || !e->description || !e->state_str) {
			imds_events_free(out);
			rc = aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
			goto out;
		}
		if (state == NULL)
			e->state = IMDS_EVENT_UNKNOWN;
		else if (strcasecmp(state, "active") == 0)
			e->state = IMDS_EVENT_ACTIVE;
		else if (strcasecmp(state, "canceled") == 0 || strcasecmp(state, "cancelled") == 0)
			e->state = IMDS_EVENT_CANCELED;
		else if (strcasecmp(state, "completed") == 0)
			e->state = IMDS_EVENT_COMPLETED;
		else
			e->state = IMDS_EVENT_UNKNOWN;
		e->not_before = jtime(o, "NotBefore");
		e->not_after = jtime(o, "NotAfter");
		e->not_before_deadline = jtime(o, "NotBeforeDeadline");
	}
out:
	json_object_put(arr);
	return rc;
}

int
imds_scheduled_events(struct imds *m, struct imds_events *out, struct aws_error *err)
{
	char *body = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = imds_get(m, "meta-data/events/maintenance/scheduled", &body, err);
	if (rc == AWS_E_NOTFOUND)
		return AWS_OK;
	if (rc != AWS_OK)
		return rc;
	rc = imds_events_parse(body, strlen(body), out, err);
	free(body);
	return rc;
}
