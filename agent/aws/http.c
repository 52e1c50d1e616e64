/* SPDX-License-Identifier: GPL-2.0-or-later */
/* aws/http.c - see http.h */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "log.h"
#include "pcm.h"

#define MAX_BODY	(16u << 20)	/* answers larger than this are refused */
#define CREDS_MARGIN	300		/* refresh expiring credentials 5 min early */

struct aws {
	char		*region;	/* resolved */
	char		*region_opt;	/* from opts */
	char		*profile;
	long		 connect_timeout_ms;
	long		 request_timeout_ms;
	long		 total_timeout_ms;
	int		 max_attempts;
	long		 backoff_base_ms;
	long		 backoff_max_ms;
	struct imds	*imds;
	struct aws_creds creds;
	CURL		*curl;		/* kept between calls: connections are reused */
	int		 have_creds;
	int		 creds_forced;
	unsigned int	 seed;
};

static const struct svc_info {
	const char	*name;		/* signing name, host prefix */
	const char	*env;		/* AWS_ENDPOINT_URL_<env> */
	const char	*content_type;
	const char	*target_prefix;	/* X-Amz-Target prefix; NULL = query protocol */
} services[] = {
	[AWS_SVC_EC2] = { "ec2", "EC2", "application/x-www-form-urlencoded; charset=utf-8", NULL },
	[AWS_SVC_DYNAMODB] = { "dynamodb", "DYNAMODB", "application/x-amz-json-1.0",
	    "DynamoDB_20120810" },
	[AWS_SVC_SSM] = { "ssm", "SSM", "application/x-amz-json-1.1", "AmazonSSM" },
};

const char *
aws_rc_str(int rc)
{
	switch (rc) {
	case AWS_OK: return "ok";
	case AWS_E_SERVICE: return "service error";
	case AWS_E_TRANSPORT: return "no answer";
	case AWS_E_DENIED: return "permission denied";
	case AWS_E_AUTH: return "credentials rejected";
	case AWS_E_CONFLICT: return "concurrent change";
	case AWS_E_PARSE: return "unparseable answer";
	case AWS_E_TIMEOUT: return "timed out";
	case AWS_E_REFUSED: return "refused";
	case AWS_E_NOTFOUND: return "not found";
	case AWS_E_CONFIG: return "configuration";
	case AWS_E_NOMEM: return "out of memory";
	case AWS_E_INVAL: return "invalid argument";
	}
	return "unknown error";
}

const char *
aws_hint(int rc)
{
	switch (rc) {
	case AWS_E_DENIED:
		return " (attach packaging/iam/pcm-agent-policy.json to the role; `pcm-agent check` "
		    "lists what is missing)";
	case AWS_E_AUTH:
		return " (check the AWS credentials in use: `pcm-agent -v` says where they come "
		    "from)";
	case AWS_E_TRANSPORT:
		return " (is the endpoint reachable? AWS_ENDPOINT_URL*, proxy settings; "
		    "AWS_MAX_ATTEMPTS allows more retries)";
	default:
		return "";
	}
}

int
aws_rc_exit(int rc)
{
	switch (rc) {
	case AWS_OK: return PCM_EXIT_OK;
	case AWS_E_TIMEOUT: return PCM_EXIT_TIMEOUT;
	case AWS_E_DENIED: return PCM_EXIT_PERMISSION;
	default: return PCM_EXIT_ERROR;
	}
}

int
aws_seterr(struct aws_error *err, int rc, long http_status, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return rc;
	err->http_status = http_status;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return rc;
}

static long
env_long(const char *name, long def)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end != '\0' || v <= 0) {
		log_warnx("ignoring %s='%s': not a positive whole number", name, s);
		return def;
	}
	return v;
}

long long
aws_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long
aws_poll_ms(void)
{
	return env_long("PCM_AWS_POLL_MS", 5000);
}

void
aws_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (ms <= 0)
		return;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void
aws_buf_free(struct aws_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static char *
xstrdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct aws *
aws_new(const struct aws_opts *opts)
{
	static curl_version_info_data *once;
	struct aws_opts zero = { 0 };
	struct aws *a;

	if (once == NULL) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		once = curl_version_info(CURLVERSION_NOW);
	}
	if (opts == NULL)
		opts = &zero;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->region_opt = xstrdup_or_null(opts->region);
	a->profile = xstrdup_or_null(opts->profile);
	if ((opts->region && !a->region_opt) || (opts->profile && !a->profile)) {
		aws_free(a);
		return NULL;
	}
	a->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 3000;
	a->request_timeout_ms = opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 20000;
	a->total_timeout_ms = opts->total_timeout_ms > 0 ? opts->total_timeout_ms :
	    env_long("PCM_AWS_TOTAL_TIMEOUT_MS", 60000);
	a->max_attempts = opts->max_attempts > 0 ? opts->max_attempts :
	    (int)env_long("AWS_MAX_ATTEMPTS", 5);
	a->backoff_base_ms = opts->backoff_base_ms > 0 ? opts->backoff_base_ms :
	    env_long("PCM_AWS_BACKOFF_BASE_MS", 500);
	a->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 20000;
	a->seed = (unsigned int)time(NULL) ^ ((unsigned int)getpid() << 16) ^
	    (unsigned int)(uintptr_t)a;
	return a;
}

void
aws_free(struct aws *a)
{
	if (a == NULL)
		return;
	creds_clear(&a->creds);
	if (a->curl)
		curl_easy_cleanup(a->curl);
	imds_free(a->imds);
	free(a->region);
	free(a->region_opt);
	free(a->profile);
	free(a);
}

struct imds *
aws_imds(struct aws *a)
{
	if (a->imds == NULL)
		a->imds = imds_new();
	return a->imds;
}

static const char *
profile_name(const struct aws *a)
{
	const char *p = a->profile;

	if (p == NULL || *p == '\0')
		p = getenv("AWS_PROFILE");
	return p && *p ? p : "default";
}

static char *
config_file_path(void)
{
	const char *p = getenv("AWS_CONFIG_FILE"), *home;
	char *s = NULL;

	if (p && *p)
		return strdup(p);
	if ((home = getenv("HOME")) == NULL || *home == '\0')
		return NULL;
	if (asprintf(&s, "%s/.aws/config", home) < 0)
		return NULL;
	return s;
}

const char *
aws_region(struct aws *a, struct aws_error *err)
{
	const char *env;
	struct aws_error ierr = { 0 };
	char *r = NULL, *path;
	struct imds *m;

	if (a->region != NULL)
		return a->region;
	if (a->region_opt && *a->region_opt)
		r = strdup(a->region_opt);
	else if ((env = getenv("AWS_REGION")) && *env)
		r = strdup(env);
	else if ((env = getenv("AWS_DEFAULT_REGION")) && *env)
		r = strdup(env);
	else if ((path = config_file_path()) != NULL) {
		r = creds_ini_get(path, profile_name(a), 1, "region");
		free(path);
	}
	if (r == NULL && (m = aws_imds(a)) != NULL && imds_region(m, &r, &ierr) != AWS_OK) {
		aws_seterr(err, AWS_E_CONFIG, 0, "NoRegion",
		    "cannot find the AWS region: not in the config (region), AWS_REGION, "
		    "AWS_DEFAULT_REGION or the AWS config file, and IMDS: %s "
		    "(set region = ... in the config or --region)", ierr.message);
		return NULL;
	}
	if (r == NULL) {
		aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
		return NULL;
	}
	a->region = r;
	log_debug("aws: region %s", r);
	return r;
}

int
aws_set_creds(struct aws *a, const struct aws_creds *c)
{
	creds_clear(&a->creds);
	a->have_creds = 0;
	if (creds_copy(&a->creds, c) != AWS_OK)
		return AWS_E_NOMEM;
	a->have_creds = 1;
	a->creds_forced = 1;
	return AWS_OK;
}

int
aws_get_creds(struct aws *a, const struct aws_creds **out, struct aws_error *err)
{
	int rc;

	if (a->have_creds && (a->creds_forced || !creds_expiring(&a->creds, CREDS_MARGIN))) {
		*out = &a->creds;
		return AWS_OK;
	}
	if (a->have_creds)
		log_debug("aws: credentials from %s expire soon, refreshing", a->creds.source);
	creds_clear(&a->creds);
	a->have_creds = 0;
	if ((rc = creds_resolve(aws_imds(a), a->profile, &a->creds, err)) != AWS_OK)
		return rc;
	a->have_creds = 1;
	log_debug("aws: credentials from %s", a->creds.source);
	*out = &a->creds;
	return AWS_OK;
}

char *
aws_endpoint(struct aws *a, enum aws_service svc, struct aws_error *err)
{
	const struct svc_info *si = &services[svc];
	char envname[64];
	const char *e, *region;
	char *url = NULL;
	size_t n;

	snprintf(envname, sizeof(envname), "AWS_ENDPOINT_URL_%s", si->env);
	if ((e = getenv(envname)) == NULL || *e == '\0')
		e = getenv("AWS_ENDPOINT_URL");
	if (e != NULL && *e != '\0') {
		if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0) {
			aws_seterr(err, AWS_E_CONFIG, 0, "BadEndpoint",
			    "endpoint '%s' (from %s or AWS_ENDPOINT_URL) is not an http:// or "
			    "https:// URL", e, envname);
			return NULL;
		}
		n = strlen(e);
		while (n > 0 && e[n - 1] == '/')
			n--;
		if (asprintf(&url, "%.*s", (int)n, e) < 0)
			url = NULL;
	} else {
		if ((region = aws_region(a, err)) == NULL)
			return NULL;
		if (asprintf(&url, "https://%s.%s.amazonaws.com%s", si->name, region,
		    strncmp(region, "cn-", 3) == 0 ? ".cn" : "") < 0)
			url = NULL;
	}
	if (url == NULL)
		aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
	return url;
}

char *
aws_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

/* ---- error bodies ---- */

static void
copy_trim(char *dst, size_t len, const char *src)
{
	while (*src && isspace((unsigned char)*src))
		src++;
	snprintf(dst, len, "%s", src);
	for (size_t n = strlen(dst); n > 0 && isspace((unsigned char)dst[n - 1]); n--)
		dst[n - 1] = '\0';
	/* one line: control characters from a hostile server become spaces */
	for (char *p = dst; *p; p++)
		if (iscntrl((unsigned char)*p))
			*p = ' ';
}

static xmlNode *
xml_find(xmlNode *n, const char *name, int depth)
{
	for (; n != NULL; n = n->next) {
		if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0)
			return n;
		if (depth < 8) {
			xmlNode *c = xml_find(n->children, name, depth + 1);
			if (c)
				return c;
		}
	}
	return NULL;
}

int
aws_parse_xml_error(const char *body, size_t len, struct aws_error *err)
{
	xmlDoc *doc;
	xmlNode *e, *c;
	int found = -1;

	if (body == NULL || len == 0 || len > INT32_MAX)
		return -1;
	doc = xmlReadMemory(body, (int)len, "error.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return -1;
	if ((e = xml_find(xmlDocGetRootElement(doc), "Error", 0)) != NULL) {
		if ((c = xml_find(e->children, "Code", 0)) != NULL) {
			xmlChar *s = xmlNodeGetContent(c);
			if (s && err)
				copy_trim(err->code, sizeof(err->code), (const char *)s);
			xmlFree(s);
			found = 0;
		}
		if ((c = xml_find(e->children, "Message", 0)) != NULL) {
			xmlChar *s = xmlNodeGetContent(c);
			if (s && err)
				copy_trim(err->message, sizeof(err->message), (const char *)s);
			xmlFree(s);
			found = 0;
		}
	}
	xmlFreeDoc(doc);
	return found;
}

int
aws_parse_json_error(const char *body, size_t len, struct aws_error *err)
{
	struct json_tokener *tok;
	struct json_object *o = NULL, *v;
	int found = -1;

	if (body == NULL || len == 0 || len > INT32_MAX)
		return -1;
	if ((tok = json_tokener_new()) == NULL)
		return -1;
	o = json_tokener_parse_ex(tok, body, (int)len);
	json_tokener_free(tok);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		goto out;
	if ((json_object_object_get_ex(o, "__type", &v) || json_object_object_get_ex(o, "code", &v)) &&
	    json_object_is_type(v, json_type_string)) {
		const char *t = json_object_get_string(v), *h = strrchr(t, '#');
		if (err)
			copy_trim(err->code, sizeof(err->code), h ? h + 1 : t);
		found = 0;
	}
	if ((json_object_object_get_ex(o, "message", &v) || json_object_object_get_ex(o, "Message", &v)) &&
	    json_object_is_type(v, json_type_string)) {
		if (err)
			copy_trim(err->message, sizeof(err->message), json_object_get_string(v));
		found = 0;
	}
out:
	json_object_put(o);
	return found;
}

/* ---- retry policy ---- */

static const char *const throttling_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
	"TooManyRequestsException", "ProvisionedThroughputExceededException",
	"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
	"LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
	"EC2ThrottledException", "RequestTimeout", "RequestTimeoutException",
	"InternalError", "InternalFailure", "InternalServerError", "ServiceUnavailable", NULL,
};

int
aws_retryable(long status, const char *code)
{
	if (status >= 500 || status == 429)
		return 1;
	for (size_t i = 0; code && throttling_codes[i]; i++)
		if (strcmp(code, throttling_codes[i]) == 0)
			return 1;
	return 0;
}

static const char *const denied_codes[] = {
	"UnauthorizedOperation", "AccessDenied", "AccessDeniedException",
	"UnauthorizedAccess", "OptInRequired", NULL,
};
static const char *const auth_codes[] = {
	"AuthFailure", "SignatureDoesNotMatch", "InvalidSignatureException",
	"UnrecognizedClientException", "InvalidClientTokenId", "IncompleteSignature",
	"MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException",
	"RequestExpired", "InvalidAccessKeyId", NULL,
};

static int
in_list(const char *code, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(code, list[i]) == 0)
			return 1;
	return 0;
}

int
aws_classify(long status, const char *code)
{
	if (in_list(code, denied_codes))
		return AWS_E_DENIED;
	if (in_list(code, auth_codes))
		return AWS_E_AUTH;
	if (strcmp(code, "ConditionalCheckFailedException") == 0)
		return AWS_E_CONFLICT;
	if (strcmp(code, "ResourceNotFoundException") == 0 || strstr(code, "NotFound") != NULL)
		return AWS_E_NOTFOUND;
	if (status == 403 && code[0] == '\0')
		return AWS_E_DENIED;
	return AWS_E_SERVICE;
}

/* ---- the request ---- */

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct aws_buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > MAX_BODY)
		return 0;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
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

/* One attempt.  Returns the curl code; *status the HTTP status. */
static CURLcode
perform(struct aws *a, const struct svc_info *si, const char *url, const char *region,
    const char *op, const char *body, const struct aws_creds *c, long timeout_ms,
    struct aws_buf *out, long *status, char *errbuf)
{
	struct curl_slist *hdrs = NULL, *h;
	char sigv4[128], line[256], *tok = NULL;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	CURL *curl;

	*status = 0;
	errbuf[0] = '\0';
	/* one handle per context: curl keeps its connections (and TLS sessions)
	 * across calls; reset clears every option of the previous call */
	if (a->curl == NULL && (a->curl = curl_easy_init()) == NULL)
		return CURLE_FAILED_INIT;
	curl = a->curl;
	curl_easy_reset(curl);
	snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:%s", region, si->name);
	snprintf(line, sizeof(line), "Content-Type: %s", si->content_type);
	if ((h = curl_slist_append(hdrs, line)) == NULL)
		goto out;
	hdrs = h;
	if (si->target_prefix) {
		snprintf(line, sizeof(line), "X-Amz-Target: %s.%s", si->target_prefix, op);
		if ((h = curl_slist_append(hdrs, line)) == NULL)
			goto out;
		hdrs = h;
	}
	if (c->session_token) {
		if (asprintf(&tok, "X-Amz-Security-Token: %s", c->session_token) < 0) {
			tok = NULL;
			goto out;
		}
		h = curl_slist_append(hdrs, tok);
		explicit_bzero(tok, strlen(tok));
		if (h == NULL)
			goto out;
		hdrs = h;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(curl, CURLOPT_USERNAME, c->access_key_id);
	curl_easy_setopt(curl, CURLOPT_PASSWORD, c->secret_access_key);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, a->connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "pcm-agent/0.1 (libcurl)");
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
out:
	/* nothing of this call may stay in the handle: the header list and
	 * the key are about to be wiped */
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(curl, CURLOPT_USERNAME, "");
	curl_easy_setopt(curl, CURLOPT_PASSWORD, "");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);	/* on our stack */
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, NULL);
	/* the list holds the token: wipe it before freeing */
	for (h = hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
	free(tok);
	return cc;
}

static long
backoff(struct aws *a, int attempt)
{
	long cap = a->backoff_base_ms;

	for (int i = 1; i < attempt && cap < a->backoff_max_ms; i++)
		cap *= 2;
	if (cap > a->backoff_max_ms)
		cap = a->backoff_max_ms;
	return (long)(rand_r(&a->seed) % (cap + 1));	/* full jitter */
}

int
aws_call(struct aws *a, enum aws_service svc, const char *op, const char *body,
    struct aws_buf *out, struct aws_error *err)
{
	const struct svc_info *si = &services[svc];
	const struct aws_creds *c;
	struct aws_error e = { 0 };
	const char *region;
	char *url = NULL;
	char errbuf[CURL_ERROR_SIZE];
	long long start = aws_now_ms(), t0;
	int attempt, rc, refreshed = 0;
	long status = 0;

	memset(out, 0, sizeof(*out));
	if (err)
		memset(err, 0, sizeof(*err));
	if ((region = aws_region(a, err)) == NULL)
		return AWS_E_CONFIG;
	if ((url = aws_endpoint(a, svc, &e)) == NULL) {
		if (err)
			*err = e;
		return strcmp(e.code, "NoMemory") == 0 ? AWS_E_NOMEM : AWS_E_CONFIG;
	}
	for (attempt = 1;; attempt++) {
		long long now = aws_now_ms(), left = a->total_timeout_ms - (now - start);
		CURLcode cc;

		if ((rc = aws_get_creds(a, &c, err)) != AWS_OK)
			goto out;
		aws_buf_free(out);
		memset(&e, 0, sizeof(e));
		t0 = now;
		cc = perform(a, si, url, region, op, body, c,
		    left < a->request_timeout_ms ? (left > 1 ? left : 1) : a->request_timeout_ms,
		    out, &status, errbuf);
		e.attempts = attempt;
		if (cc != CURLE_OK) {
			const char *code = cc == CURLE_OPERATION_TIMEDOUT ? "Timeout" : "ConnectionError";
			aws_seterr(&e, AWS_E_TRANSPORT, 0, code, "%s%s%s",
			    curl_easy_strerror(cc), errbuf[0] ? ": " : "", errbuf);
			log_debug("aws: %s %s attempt %d: %s (%lld ms)", si->name, op, attempt,
			    e.message, aws_now_ms() - t0);
			rc = AWS_E_TRANSPORT;
			if (cc == CURLE_OUT_OF_MEMORY || cc == CURLE_UNSUPPORTED_PROTOCOL ||
			    cc == CURLE_URL_MALFORMAT)
				goto fail;
		} else if (status >= 200 && status < 300) {
			log_debug("aws: %s %s -> %ld (attempt %d, %lld ms, %zu bytes)", si->name,
			    op, status, attempt, aws_now_ms() - t0, out->len);
			if (log_getverbose() >= 2)
				log_debug("aws: %s %s answer: %.*s", si->name, op,
				    out->len > 4000 ? 4000 : (int)out->len, out->data ? out->data : "");
			rc = AWS_OK;
			goto out;
		} else {
			e.http_status = status;
			/* JSON services may still answer XML (front ends, moto's auth) */
			if (svc == AWS_SVC_EC2 || aws_parse_json_error(out->data, out->len, &e) < 0)
				aws_parse_xml_error(out->data, out->len, &e);
			if (e.message[0] == '\0')
				snprintf(e.message, sizeof(e.message), "HTTP %ld", status);
			log_debug("aws: %s %s attempt %d -> %ld %s: %s", si->name, op, attempt,
			    status, e.code, e.message);
			rc = aws_classify(status, e.code);
			/* expired instance-profile credentials: refresh once and retry */
			if (rc == AWS_E_AUTH && !refreshed && !a->creds_forced &&
			    a->creds.expiration != 0 && strstr(e.code, "Expired") != NULL) {
				refreshed = 1;
				creds_clear(&a->creds);
				a->have_creds = 0;
				continue;
			}
			if (!aws_retryable(status, e.code))
				goto fail;
		}
		/* retryable */
		if (attempt >= a->max_attempts) {
			snprintf(e.message + strlen(e.message), sizeof(e.message) - strlen(e.message),
			    " (gave up after %d attempts)", attempt);
			goto fail;
		}
		long d = backoff(a, attempt);
		now = aws_now_ms();
		if (now + d >= start + a->total_timeout_ms) {
			snprintf(e.message + strlen(e.message), sizeof(e.message) - strlen(e.message),
			    " (gave up after %d attempts in %.1f s)", attempt, (now - start) / 1000.0);
			goto fail;
		}
		log_debug("aws: %s %s: retrying in %ld ms", si->name, op, d);
		aws_sleep_ms(d);
	}
fail:
	if (rc == AWS_OK)
		rc = AWS_E_SERVICE;
	aws_buf_free(out);
	if (err) {
		*err = e;
		/* the user sees the service's code: "RequestLimitExceeded (HTTP 503): ..." */
		if (e.code[0] != '\0' && strncmp(e.message, e.code, strlen(e.code)) != 0) {
			if (e.http_status > 0)
				snprintf(err->message, sizeof(err->message), "%s (HTTP %ld): %.400s",
				    e.code, e.http_status, e.message);
			else
				snprintf(err->message, sizeof(err->message), "%s: %.400s", e.code, e.message);
		}
	}
out:
	free(url);
	return rc;
}
