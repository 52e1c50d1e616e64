/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aws/http.h - signed, retried calls to AWS APIs (EC2, DynamoDB, SSM).
 *
 * One `struct aws` per program run: it holds the region, the credentials
 * (resolved lazily through the SDK chain, see creds.h, refreshed before they
 * expire), the IMDS client and the retry policy.  The service modules
 * (ec2.h, fleet.h, ssm.h) take it as their first argument.
 *
 * Transport and signing are libcurl's: CURLOPT_AWS_SIGV4
 * ("aws:amz:REGION:SERVICE"), bodies always POSTed with CURLOPT_POSTFIELDS
 * (libcurl 7.88 signs query strings wrongly), the session token added as an
 * X-Amz-Security-Token header.
 *
 * Retries follow the SDKs' "standard" mode: throttling codes, HTTP 5xx and
 * connection errors are retried with exponential backoff and full jitter,
 * bounded by max_attempts and by total_timeout_ms for one call; any other
 * 4xx is returned at once.
 *
 * Endpoints: AWS_ENDPOINT_URL_EC2 / _DYNAMODB / _SSM, then AWS_ENDPOINT_URL,
 * else https://SERVICE.REGION.amazonaws.com(.cn).
 * Region: aws_opts.region, AWS_REGION, AWS_DEFAULT_REGION, the shared config
 * file's profile, then IMDS.
 *
 * A struct aws is not thread-safe: one per thread (the credentials and the
 * IMDS client it holds are refreshed in place).
 *
 * Error convention for every aws/ module: functions return AWS_OK (0) or a
 * negative enum aws_rc, and fill the caller's struct aws_error (may be NULL)
 * with the service's code and message and the HTTP status.  Nothing here
 * logs a secret, at any verbosity.
 */
#ifndef PCM_AWS_HTTP_H
#define PCM_AWS_HTTP_H

#include <stddef.h>

enum aws_rc {
	AWS_OK = 0,
	AWS_E_SERVICE = -1,	/* the service answered an error (err->code, ->message) */
	AWS_E_TRANSPORT = -2,	/* no answer: connection refused/reset/timed out, after retries */
	AWS_E_DENIED = -3,	/* permission missing: UnauthorizedOperation, AccessDenied* */
	AWS_E_AUTH = -4,	/* no or bad credentials: signature, unknown key, expired */
	AWS_E_CONFLICT = -5,	/* a conditional write lost to a concurrent writer */
	AWS_E_PARSE = -6,	/* an answer we could not parse */
	AWS_E_TIMEOUT = -7,	/* a waiter's deadline passed */
	AWS_E_REFUSED = -8,	/* we refuse: the requested change is not allowed now */
	AWS_E_NOTFOUND = -9,	/* the thing asked for does not exist */
	AWS_E_CONFIG = -10,	/* no region, IMDS disabled, bad endpoint, ... */
	AWS_E_NOMEM = -11,
	AWS_E_INVAL = -12,	/* bad argument */
};

/* What the user can do about an aws_rc, " (attach ...)", or "" (static). */
const char *aws_hint(int rc);
/* "service error", "permission denied", ...: a short name for an aws_rc. */
const char *aws_rc_str(int rc);
/* The pcm-agent exit status (enum pcm_exit) for an aws_rc: 0 for AWS_OK,
 * 4 (PCM_EXIT_TIMEOUT) for AWS_E_TIMEOUT, 5 (PCM_EXIT_PERMISSION) for
 * AWS_E_DENIED, 1 for everything else. */
int aws_rc_exit(int rc);

/* Filled on error.  code: the service's error code ("UnauthorizedOperation",
 * "ConditionalCheckFailedException"), or one of ours ("ConnectionError",
 * "Timeout", "NoCredentials", "NoRegion", "ParseError").  message: the
 * service's message or ours, never a secret. */
struct aws_error {
	long	 http_status;	/* of the last answer; 0 if none */
	int	 attempts;	/* attempts made by the failing call */
	char	 code[64];
	char	 message[512];
};

/* Fill err (if not NULL) and return rc. */
int aws_seterr(struct aws_error *err, int rc, long http_status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

enum aws_service {
	AWS_SVC_EC2,		/* query protocol, XML answers */
	AWS_SVC_DYNAMODB,	/* JSON 1.0, X-Amz-Target DynamoDB_20120810.Op */
	AWS_SVC_SSM,		/* JSON 1.1, X-Amz-Target AmazonSSM.Op */
};

/* Options; zero means "the default" for every number, NULL for strings. */
struct aws_opts {
	const char	*region;		/* NULL: env, config file, IMDS */
	const char	*profile;		/* NULL: AWS_PROFILE or "default" */
	long		 connect_timeout_ms;	/* 3000 */
	long		 request_timeout_ms;	/* one attempt: 20000 */
	long		 total_timeout_ms;	/* one call, all attempts: 60000, or
						   PCM_AWS_TOTAL_TIMEOUT_MS */
	int		 max_attempts;		/* AWS_MAX_ATTEMPTS, else 5 */
	long		 backoff_base_ms;	/* 500, or PCM_AWS_BACKOFF_BASE_MS */
	long		 backoff_max_ms;	/* 20000 */
};

struct aws;
struct imds;
struct aws_creds;

/* A new context; never touches the network.  NULL only when out of memory.
 * opts may be NULL; its strings are copied. */
struct aws *aws_new(const struct aws_opts *opts);
/* Frees it and wipes the credentials it held.  NULL-safe. */
void aws_free(struct aws *a);

/* The region, resolved once (see above).  Borrowed: valid until aws_free().
 * NULL with err filled (AWS_E_CONFIG) when no source has one. */
const char *aws_region(struct aws *a, struct aws_error *err);

/* The IMDS client of this context (created on first use; borrowed). */
struct imds *aws_imds(struct aws *a);

/* The credentials, resolved or refreshed as needed.  Borrowed: valid until
 * the next call on a, or aws_free(). */
int aws_get_creds(struct aws *a, const struct aws_creds **out, struct aws_error *err);

/* Force credentials for this context (tests, callers that got them
 * elsewhere); copied. */
int aws_set_creds(struct aws *a, const struct aws_creds *c);

/* The endpoint base URL for svc ("https://ec2.eu-west-1.amazonaws.com"),
 * malloc'd, caller frees; NULL with err filled. */
char *aws_endpoint(struct aws *a, enum aws_service svc, struct aws_error *err);

/* A growing response buffer; body is NUL-terminated.  aws_buf_free() frees. */
struct aws_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void aws_buf_free(struct aws_buf *b);

/*
 * One API call: POST body to svc's endpoint, signed, with retries.
 *   EC2: op is the Action (for messages), body the whole form
 *        ("Action=DescribeInstances&Version=2016-11-15&...", form-encoded).
 *   DynamoDB / SSM: op is the operation ("GetItem"), body the JSON request.
 * On AWS_OK, out holds the 2xx answer (caller frees with aws_buf_free).
 * Otherwise out is empty and err says why; the rc classifies it.
 */
int aws_call(struct aws *a, enum aws_service svc, const char *op, const char *body,
    struct aws_buf *out, struct aws_error *err);

/* Error body parsers (exposed for tests and fuzzers): fill err->code and
 * err->message from an EC2 XML error or a JSON {"__type","message"} body.
 * 0 when something was found, -1 otherwise (err left with what it had). */
int aws_parse_xml_error(const char *body, size_t len, struct aws_error *err);
int aws_parse_json_error(const char *body, size_t len, struct aws_error *err);

/* Is this (HTTP status, service code) retried?  1 or 0. */
int aws_retryable(long http_status, const char *code);
/* The aws_rc of a non-2xx answer: AWS_E_DENIED (UnauthorizedOperation,
 * AccessDenied*), AWS_E_AUTH (signature, unknown key, expired token),
 * AWS_E_CONFLICT (ConditionalCheckFailedException), AWS_E_NOTFOUND
 * (ResourceNotFoundException, *NotFound*), else AWS_E_SERVICE. */
int aws_classify(long http_status, const char *code);

/* Form-encode s (RFC 3986 unreserved kept) into a malloc'd string. */
char *aws_urlencode(const char *s);

/* Polling interval of the waiters: PCM_AWS_POLL_MS, else 5000. */
long aws_poll_ms(void);

/* Monotonic milliseconds, for waiters. */
long long aws_now_ms(void);
/* Sleep ms milliseconds (interrupted sleeps resumed). */
void aws_sleep_ms(long ms);

#endif
