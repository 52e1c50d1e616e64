/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_notify.c - webhook template expansion (JSON escaping), the default
 * body, URL redaction, retries, and that header values never reach the log */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cu.h"
#include "log.h"
#include "notify.h"

static const struct notify_event ev = {
	.event_id = "instance-event-0123456789abcdef0",
	.code = "system-reboot",
	.description = "say \"hi\"\\ now\n\ttab\x01",
	.instance_id = "i-0abc",
	.cluster = "c1",
	.state = "active",
	.message = "line1\nline2",
	.not_before = 1795662000,	/* 2026-11-26T03:00:00Z */
	.not_after = 0,
};

static void
test_expand_fields(void)
{
	char *s = notify_expand("{Code}|{EventId}|{InstanceId}|{Cluster}|{State}|{NotBefore}|"
	    "{NotAfter}|{Unknown}|{|{Code", &ev, 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "system-reboot|instance-event-0123456789abcdef0|i-0abc|c1|"
	    "active|2026-11-26T03:00:00Z||{Unknown}|{|{Code");
	free(s);
}

static void
test_expand_json_escaping(void)
{
	char *s = notify_expand("{\"d\": \"{Description}\", \"m\": \"{Message}\"}", &ev, 1);
	json_object *o, *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "{\"d\": \"say \\\"hi\\\"\\\\ now\\n\\ttab\\u0001\", "
	    "\"m\": \"line1\\nline2\"}");
	o = json_tokener_parse(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(json_object_object_get_ex(o, "d", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), ev.description);
	json_object_put(o);
	free(s);
	/* raw: no escaping */
	s = notify_expand("{Description}", &ev, 0);
	CU_ASSERT_STRING_EQUAL(s, ev.description);
	free(s);
}

static void
test_expand_null_fields(void)
{
	struct notify_event e = { 0 };
	char *s = notify_expand("[{EventId}][{NotBefore}][{Message}]", &e, 1);

	CU_ASSERT_STRING_EQUAL(s, "[][][]");
	free(s);
}

static void
test_default_body(void)
{
	char *s = notify_default_body(&ev);
	json_object *o = s ? json_tokener_parse(s) : NULL, *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(json_object_object_get_ex(o, "EventId", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), ev.event_id);
	CU_ASSERT(json_object_object_get_ex(o, "Description", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), ev.description);
	CU_ASSERT(json_object_object_get_ex(o, "NotBefore", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), "2026-11-26T03:00:00Z");
	CU_ASSERT(json_object_object_get_ex(o, "NotAfter", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), "");
	json_object_put(o);
	free(s);
}

static void
test_url_redacted(void)
{
	char b[128];

	CU_ASSERT_STRING_EQUAL(notify_url_redacted("https://hooks.slack.com/services/T/B/X", b,
	    sizeof(b)), "https://hooks.slack.com/***");
	CU_ASSERT_STRING_EQUAL(notify_url_redacted("http://127.0.0.1:8080?token=x", b, sizeof(b)),
	    "http://127.0.0.1:8080/***");
	CU_ASSERT_STRING_EQUAL(notify_url_redacted("http://h", b, sizeof(b)), "http://h");
	CU_ASSERT_STRING_EQUAL(notify_url_redacted("nonsense", b, sizeof(b)), "(bad URL)");
	/* userinfo: never the user or the password */
	CU_ASSERT_STRING_EQUAL(notify_url_redacted("https://alice:pa55w0rd@hooks.example.com/x?token=t0k",
	    b, sizeof(b)), "https://***@hooks.example.com/***");
	CU_ASSERT_STRING_EQUAL(notify_url_redacted("https://alice:p@ss@h:8443", b, sizeof(b)),
	    "https://***@h:8443");
	CU_ASSERT_STRING_EQUAL(notify_url_redacted("http://h?token=t0k", b, sizeof(b)), "http://h/***");
	/* a password with a '/' in it cuts the authority short: hide all of it */
	CU_ASSERT_STRING_EQUAL(notify_url_redacted("https://alice:pa/55@h/x", b, sizeof(b)),
	    "https://***/***");
	CU_ASSERT_STRING_EQUAL(notify_url_redacted("http://[::1]:8080/x", b, sizeof(b)),
	    "http://[::1]:8080/***");
}

/* A tiny HTTP server on 127.0.0.1: answers `status` to every request and
 * keeps the last request it read. */
struct srv {
	int		 fd;
	int		 port;
	int		 status;
	int		 nreq;
	char		 last[8192];
	pthread_t	 th;
};

static void *
srv_run(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		char buf[8192];
		size_t off = 0;
		if (c < 0)
			return NULL;
		/* read headers and the body (Content-Length) */
		for (;;) {
			ssize_t n = read(c, buf + off, sizeof(buf) - 1 - off);
			if (n <= 0)
				break;
			off += (size_t)n;
			buf[off] = '\0';
			char *end = strstr(buf, "\r\n\r\n");
			char *cl = strcasestr(buf, "Content-Length:");
			if (end && (!cl || off >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10)))
				break;
		}
		buf[off] = '\0';
		memcpy(s->last, buf, off + 1);
		s->nreq++;
		char ans[128];
		int n = snprintf(ans, sizeof(ans), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n", s->status);
		if (write(c, ans, (size_t)n) < 0)
			perror("write");
		close(c);
	}
}

static int
srv_start(struct srv *s, int status)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->status = status;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->fd, 8) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al) < 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->th, NULL, srv_run, s);
}

static void
srv_stop(struct srv *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->th, NULL);
}

#define SECRET "Bearer sekrit-6f1d2e"

struct send_args {
	struct notify_webhook_opts o;
	const char *body;
	char err[512];
};

static int
do_send(void *arg)
{
	struct send_args *a = arg;
	int rc = notify_webhook(&a->o, a->body, a->err, sizeof(a->err));

	if (rc < 0)
		log_warnx("%s", a->err);	/* what the daemon does */
	return rc;
}

static void
test_webhook_ok_headers_sent_not_logged(void)
{
	char *hv[] = { "Authorization: " SECRET, "X-Extra: v" };
	struct strlist hl = { hv, 2 };
	struct send_args a = { .body = "{\"a\":1}" };
	struct srv s;
	char url[128];
	char *log;
	int rc;

	CU_ASSERT_FATAL(srv_start(&s, 200) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/services/PATHSECRET", s.port);
	a.o.url = url;
	a.o.headers = &hl;
	log = cu_capture_log(2, do_send, &a, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(s.nreq, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.last, "Authorization: " SECRET "\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.last, "Content-Type: application/json\r\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s.last, "\r\n\r\n{\"a\":1}"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "webhook to http://127.0.0.1"));	/* debug line */
	CU_ASSERT_PTR_NULL(strstr(log, "sekrit"));
	CU_ASSERT_PTR_NULL(strstr(log, "PATHSECRET"));
	free(log);
	srv_stop(&s);
}

static void
test_webhook_retries_then_fails_not_logged(void)
{
	char *hv[] = { "Authorization: " SECRET };
	struct strlist hl = { hv, 1 };
	struct send_args a = { .body = "plain text" };
	struct srv s;
	char url[128];
	char *log;
	int rc;

	CU_ASSERT_FATAL(srv_start(&s, 503) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
	a.o.url = url;
	a.o.headers = &hl;
	a.o.attempts = 3;
	a.o.backoff_ms = 10;
	log = cu_capture_log(2, do_send, &a, &rc);
	CU_ASSERT_EQUAL(rc, -EIO);
	CU_ASSERT_EQUAL(s.nreq, 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(s.last, "Content-Type: text/plain"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "HTTP 503 (after 3 attempts"));
	CU_ASSERT_PTR_NULL(strstr(log, "sekrit"));
	free(log);
	srv_stop(&s);

	/* a 4xx is not retried */
	CU_ASSERT_FATAL(srv_start(&s, 403) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", s.port);
	log = cu_capture_log(2, do_send, &a, &rc);
	CU_ASSERT_EQUAL(rc, -EIO);
	CU_ASSERT_EQUAL(s.nreq, 1);
	CU_ASSERT_PTR_NULL(strstr(log, "sekrit"));
	free(log);
	srv_stop(&s);
}

/* user:password and ?token= in the URL: sent, never logged (success at
 * debug level, failures as warnings) */
static void
test_webhook_userinfo_query_not_logged(void)
{
	struct send_args a = { .body = "{}" };
	struct srv s;
	char url[160];
	char *log;
	int rc;

	for (int status = 200; status <= 503; status += 303) {
		CU_ASSERT_FATAL(srv_start(&s, status) == 0);
		snprintf(url, sizeof(url), "http://alice:pa55w0rd@127.0.0.1:%d/x?token=t0kval",
		    s.port);
		a.o.url = url;
		a.o.attempts = 2;
		a.o.backoff_ms = 10;
		log = cu_capture_log(2, do_send, &a, &rc);
		CU_ASSERT_EQUAL(rc, status == 200 ? 0 : -EIO);
		CU_ASSERT(s.nreq >= 1);
		CU_ASSERT_PTR_NOT_NULL(strstr(s.last, "Authorization: Basic "));
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "http://***@127.0.0.1:"));
		CU_ASSERT_PTR_NULL(strstr(log, "pa55w0rd"));
		CU_ASSERT_PTR_NULL(strstr(log, "alice"));
		CU_ASSERT_PTR_NULL(strstr(log, "t0kval"));
		free(log);
		srv_stop(&s);
	}
}

static void
test_webhook_bad_header_and_refused(void)
{
	char *hv[] = { "Authorization " SECRET };	/* no colon */
	struct strlist hl = { hv, 1 };
	struct send_args a = { .body = "{}" };
	char *log;
	int rc;

	a.o.url = "http://127.0.0.1:1/x";
	a.o.headers = &hl;
	log = cu_capture_log(2, do_send, &a, &rc);
	CU_ASSERT_EQUAL(rc, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "header 'Authorization' is not"));
	CU_ASSERT_PTR_NULL(strstr(log, "sekrit"));
	free(log);

	hv[0] = "Authorization: " SECRET;
	a.o.attempts = 2;
	a.o.backoff_ms = 10;
	log = cu_capture_log(2, do_send, &a, &rc);
	CU_ASSERT_EQUAL(rc, -ECONNREFUSED);
	CU_ASSERT_PTR_NOT_NULL(strstr(log, "after 2 attempts"));
	CU_ASSERT_PTR_NULL(strstr(log, "sekrit"));
	free(log);

	a.o.url = "ftp://example.com/x";
	log = cu_capture_log(2, do_send, &a, &rc);
	CU_ASSERT_EQUAL(rc, -EINVAL);
	free(log);
}

static void
test_wall_cmd(void)
{
	char dir[] = "/tmp/pcm-test-wall.XXXXXX", script[256], out[256], buf[256] = "";
	char err[512];
	FILE *fp;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(script, sizeof(script), "%s/wall", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	fp = fopen(script, "w");
	fprintf(fp, "#!/bin/sh\ncat >%s\n", out);
	fclose(fp);
	chmod(script, 0755);
	setenv("PCM_TEST_WALL_CMD", script, 1);
	CU_ASSERT_EQUAL(notify_wall("hello users\n", err, sizeof(err)), 0);
	fp = fopen(out, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
	CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	CU_ASSERT_STRING_EQUAL(buf, "hello users\n");
	/* a failing command is an error naming it */
	fp = fopen(script, "w");
	fprintf(fp, "#!/bin/sh\nexit 3\n");
	fclose(fp);
	CU_ASSERT_EQUAL(notify_wall("x", err, sizeof(err)), -EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "exited 3"));
	setenv("PCM_TEST_WALL_CMD", "/nonexistent/wall", 1);
	CU_ASSERT_EQUAL(notify_wall("x", err, sizeof(err)), -EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not found"));
	unsetenv("PCM_TEST_WALL_CMD");
	snprintf(buf, sizeof(buf), "rm -rf %s", dir);
	CU_ASSERT_EQUAL(system(buf), 0);
}

static const struct cu_test tests[] = {
	{ "template fields", test_expand_fields },
	{ "template JSON escaping", test_expand_json_escaping },
	{ "template NULL fields", test_expand_null_fields },
	{ "default body is JSON", test_default_body },
	{ "URL redacted for logs", test_url_redacted },
	{ "webhook sends headers, logs no value", test_webhook_ok_headers_sent_not_logged },
	{ "webhook retries 5xx, not 4xx", test_webhook_retries_then_fails_not_logged },
	{ "webhook user:password, ?token= never logged", test_webhook_userinfo_query_not_logged },
	{ "webhook bad header, refused", test_webhook_bad_header_and_refused },
	{ "wall command", test_wall_cmd },
	{ NULL, NULL },
};

CU_MAIN("notify", tests)
