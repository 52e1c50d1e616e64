/* SPDX-License-Identifier: GPL-2.0-or-later */
/* notify.c - wall(1) and webhook notices (see notify.h) */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "aws/dl.h"
#include "log.h"
#include "notify.h"
#include "output.h"

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

/* a growing string */
struct sbuf {
	char	*s;
	size_t	 len, cap;
	int	 oom;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* s escaped as the inside of a JSON string (RFC 8259: ", \, controls) */
static void
sb_add_json(struct sbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"':  sb_add(b, "\\\"", 2); break;
		case '\\': sb_add(b, "\\\\", 2); break;
		case '\n': sb_add(b, "\\n", 2); break;
		case '\r': sb_add(b, "\\r", 2); break;
		case '\t': sb_add(b, "\\t", 2); break;
		case '\b': sb_add(b, "\\b", 2); break;
		case '\f': sb_add(b, "\\f", 2); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				sb_add(b, esc, 6);
			} else {
				sb_add(b, (const char *)p, 1);
			}
		}
	}
}

static const char *
tstr(time_t t, char *buf, size_t len)
{
	if (t <= 0)
		return "";
	return output_iso8601(t, buf, len);
}

/* the value of field name (len n) of ev, or NULL if not a field */
static const char *
field(const struct notify_event *ev, const char *name, size_t n, char *tbuf, size_t tlen)
{
#define F(lit, val) \
	if (n == sizeof(lit) - 1 && memcmp(name, lit, n) == 0) \
		return (val) ? (val) : ""
	F("EventId", ev->event_id);
	F("Code", ev->code);
	F("Description", ev->description);
	F("InstanceId", ev->instance_id);
	F("Cluster", ev->cluster);
	F("State", ev->state);
	F("Message", ev->message);
	F("NotBefore", tstr(ev->not_before, tbuf, tlen));
	F("NotAfter", tstr(ev->not_after, tbuf, tlen));
#undef F
	return NULL;
}

char *
notify_expand(const char *tpl, const struct notify_event *ev, int json_escape)
{
	struct sbuf b = { 0 };
	const char *p = tpl;

	sb_add(&b, "", 0);
	while (*p) {
		const char *open = strchr(p, '{'), *close, *v;
		char tbuf[32];

		if (open == NULL) {
			sb_add(&b, p, strlen(p));
			break;
		}
		sb_add(&b, p, (size_t)(open - p));
		close = open + 1;
		while (*close && ((*close >= 'A' && *close <= 'Z') || (*close >= 'a' && *close <= 'z')))
			close++;
		if (*close == '}' &&
		    (v = field(ev, open + 1, (size_t)(close - open - 1), tbuf, sizeof(tbuf))) != NULL) {
			if (json_escape)
				sb_add_json(&b, v);
			else
				sb_add(&b, v, strlen(v));
			p = close + 1;
		} else {
			sb_add(&b, "{", 1);	/* not one of ours: kept as it is */
			p = open + 1;
		}
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

char *
notify_default_body(const struct notify_event *ev)
{
	static const char tpl[] =
	    "{\"EventId\":\"{EventId}\",\"Code\":\"{Code}\",\"State\":\"{State}\","
	    "\"NotBefore\":\"{NotBefore}\",\"NotAfter\":\"{NotAfter}\","
	    "\"Description\":\"{Description}\",\"InstanceId\":\"{InstanceId}\","
	    "\"Cluster\":\"{Cluster}\",\"Message\":\"{Message}\"}";

	return notify_expand(tpl, ev, 1);
}

/*
 * For logs and `config check`: scheme and host only.  The userinfo
 * (user:password@) becomes three stars and an @; the path, query and
 * fragment become a slash and three stars (a Slack or Teams webhook's path is its credential, a query often
 * holds a token).  An authority whose port is not a number may be a
 * password cut by a '/' in it: then all of it is hidden.
 */
const char *
notify_url_redacted(const char *url, char *buf, size_t len)
{
	const char *host = url ? strstr(url, "://") : NULL;
	const char *at, *colon;
	size_t al;
	int hidden = 0;

	if (host == NULL) {
		snprintf(buf, len, "(bad URL)");
		return buf;
	}
	host += 3;
	al = strcspn(host, "/?#");
	/* the last '@' of the authority ends the userinfo */
	at = memrchr(host, '@', al);
	if (at != NULL) {
		al -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	colon = memchr(host, ':', al);
	if (colon != NULL && host[0] != '[') {
		for (const char *c = colon + 1; c < host + al; c++)
			if (*c < '0' || *c > '9')
				hidden = 1;
	}
	if (hidden)
		snprintf(buf, len, "%.*s***%s", (int)(strstr(url, "://") + 3 - url), url,
		    host[al] ? "/***" : "");
	else
		snprintf(buf, len, "%.*s%s%.*s%s", (int)(strstr(url, "://") + 3 - url), url,
		    at != NULL ? "***@" : "", (int)al, host, host[al] ? "/***" : "");
	return buf;
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

static int
progress_cancel(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	volatile sig_atomic_t *cancel = arg;

	(void)dt; (void)dn; (void)ut; (void)un;
	return cancel != NULL && *cancel != 0;
}

/* a header "Name: value" with a token name and no CR/LF */
static int
header_ok(const char *h)
{
	size_t n = strcspn(h, ":");

	if (n == 0 || h[n] != ':' || strpbrk(h, "\r\n") != NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (h[i] == ' ' || h[i] == '\t')
			return 0;
	return 1;
}

static void
sleep_ms_cancel(long ms, volatile sig_atomic_t *cancel)
{
	while (ms > 0 && !(cancel && *cancel)) {
		long step = ms > 100 ? 100 : ms;
		struct timespec ts = { step / 1000, (step % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

int
notify_webhook(const struct notify_webhook_opts *o, const char *body, char *errbuf,
    size_t errlen)
{
	struct curl_slist *hdrs = NULL, *tmp;
	json_object *parsed = NULL;
	CURL *curl = NULL;
	char ubuf[256];
	long timeout = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	int attempts = o->attempts > 0 ? o->attempts : 3;
	long backoff = o->backoff_ms > 0 ? o->backoff_ms : 1000;
	int rc = 0;

	notify_url_redacted(o->url, ubuf, sizeof(ubuf));
	if (o->url == NULL || (strncmp(o->url, "http://", 7) != 0 &&
	    strncmp(o->url, "https://", 8) != 0)) {
		seterr(errbuf, errlen, "cannot send the webhook to %s: not an http(s) URL "
		    "(check webhook_url)", ubuf);
		return -EINVAL;
	}
	if ((curl = curl_easy_init()) == NULL) {
		seterr(errbuf, errlen, "cannot send the webhook to %s: %s", ubuf,
		    dl_curl() < 0 ? "libcurl could not be loaded" : "out of memory");
		return -ENOMEM;
	}
	parsed = json_tokener_parse(body);
	tmp = curl_slist_append(NULL, parsed ? "Content-Type: application/json" :
	    "Content-Type: text/plain; charset=utf-8");
	json_object_put(parsed);
	if (tmp == NULL) {
		rc = -ENOMEM;
		seterr(errbuf, errlen, "cannot send the webhook to %s: out of memory", ubuf);
		goto out;
	}
	hdrs = tmp;
	if ((tmp = curl_slist_append(hdrs, "Expect:")) != NULL)
		hdrs = tmp;
	for (size_t i = 0; o->headers != NULL && i < o->headers->n; i++) {
		const char *h = o->headers->v[i];
		if (!header_ok(h)) {
			/* name only: the value may be a token */
			rc = -EINVAL;
			seterr(errbuf, errlen, "cannot send the webhook to %s: header '%.*s' is not "
			    "\"Name: value\" (check webhook_header)", ubuf,
			    (int)strcspn(h, ": \t\r\n"), h);
			goto out;
		}
		if ((tmp = curl_slist_append(hdrs, h)) == NULL) {
			rc = -ENOMEM;
			seterr(errbuf, errlen, "cannot send the webhook to %s: out of memory", ubuf);
			goto out;
		}
		hdrs = tmp;
	}
	curl_easy_setopt(curl, CURLOPT_URL, o->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout < 5000 ? timeout : 5000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "pcm-agent/" "webhook");
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cancel);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)o->cancel);

	for (int attempt = 1; attempt <= attempts; attempt++) {
		long status = 0;
		CURLcode cc = curl_easy_perform(curl);
		int retry = 0;

		if (cc == CURLE_ABORTED_BY_CALLBACK || (o->cancel && *o->cancel)) {
			rc = -ECANCELED;
			seterr(errbuf, errlen, "cannot send the webhook to %s: stopped", ubuf);
			break;
		}
		if (cc != CURLE_OK) {
			rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
			seterr(errbuf, errlen, "cannot send the webhook to %s: %s (after %d "
			    "attempt%s; check webhook_url and the network)", ubuf,
			    curl_easy_strerror(cc), attempt, attempt > 1 ? "s" : "");
			retry = 1;
		} else {
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
			if (status >= 200 && status < 300) {
				rc = 0;
				log_debug("webhook to %s: HTTP %ld (attempt %d)", ubuf, status, attempt);
				break;
			}
			rc = -EIO;
			retry = status == 429 || status >= 500;
			seterr(errbuf, errlen, "cannot send the webhook to %s: HTTP %ld (after %d "
			    "attempt%s; %s)", ubuf, status, attempt, attempt > 1 ? "s" : "",
			    retry ? "the receiver failed" : "check webhook_url, webhook_header "
			    "and webhook_template");
		}
		if (!retry || attempt == attempts)
			break;
		log_debug("webhook to %s failed (attempt %d of %d), retrying in %ld ms", ubuf,
		    attempt, attempts, backoff);
		sleep_ms_cancel(backoff, o->cancel);
		backoff *= 2;
	}
out:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	return rc;
}

int
notify_wall(const char *text, char *errbuf, size_t errlen)
{
	const char *cmd = getenv("PCM_TEST_WALL_CMD");
	int pfd[2] = { -1, -1 }, status = 0, rc = 0;
	size_t len = strlen(text), off = 0;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	pid_t pid;

	if (cmd == NULL || *cmd == '\0')
		cmd = "wall";
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = -errno;
		seterr(errbuf, errlen, "cannot run %s: pipe: %s", cmd, strerror(errno));
		return rc;
	}
	if ((pid = fork()) < 0) {
		rc = -errno;
		seterr(errbuf, errlen, "cannot run %s: fork: %s", cmd, strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(pfd[0], 0) < 0)
			_exit(127);
		execlp(cmd, cmd, (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	sigaction(SIGPIPE, &ign, &old);
	while (off < len) {
		ssize_t n = write(pfd[1], text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(pfd[1]);
	sigaction(SIGPIPE, &old, NULL);
	for (int i = 0; i < 100; i++) {	/* 10 s */
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			goto done;
		if (w < 0 && errno != EINTR) {
			rc = -errno;
			seterr(errbuf, errlen, "cannot run %s: waitpid: %s", cmd, strerror(errno));
			return rc;
		}
		struct timespec ts = { 0, 100000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	seterr(errbuf, errlen, "cannot notify the logged-in users: %s took more than 10 s "
	    "(killed)", cmd);
	return -ETIMEDOUT;
done:
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		seterr(errbuf, errlen, "cannot notify the logged-in users: %s not found or not "
		    "executable (install util-linux's wall, or set notify_wall = no)", cmd);
	else
		seterr(errbuf, errlen, "cannot notify the logged-in users: %s exited %d", cmd,
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return -EIO;
}
