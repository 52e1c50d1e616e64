/* SPDX-License-Identifier: GPL-2.0-or-later */
/* log.c - see log.h */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int use_stderr = 1;
static int use_syslog;
static int verbose;
static const char *log_ident = "pcm-agent";

void
log_init(const char *ident, enum log_dest dest, int verbosity)
{
	if (ident != NULL)
		log_ident = ident;
	verbose = verbosity;
	switch (dest) {
	case LOG_DEST_STDERR:
		use_stderr = 1;
		use_syslog = 0;
		break;
	case LOG_DEST_SYSLOG:
		use_stderr = 0;
		use_syslog = 1;
		break;
	default:
		/*
		 * A terminal: stderr only.  Otherwise syslog, and stderr too so
		 * that scripts and cron see why a command failed, unless systemd
		 * already sends stderr to the journal (JOURNAL_STREAM).
		 */
		use_stderr = 1;
		use_syslog = !isatty(STDERR_FILENO) && getenv("JOURNAL_STREAM") == NULL;
		break;
	}
	if (use_syslog)
		openlog(log_ident, LOG_PID, LOG_DAEMON);
}

void
log_setverbose(int v)
{
	verbose = v;
}

int
log_getverbose(void)
{
	return verbose;
}

int
log_to_stderr(void)
{
	return use_stderr;
}

size_t
utf8_char(const unsigned char *p)
{
	size_t n = *p >= 0xc2 && *p <= 0xdf ? 1 : *p >= 0xe0 && *p <= 0xef ? 2 :
	    *p >= 0xf0 && *p <= 0xf4 ? 3 : 0, k;

	if (n == 0)
		return 0;
	for (k = 1; k <= n; k++)
		if ((p[k] & 0xc0) != 0x80)	/* the NUL at the end stops it too */
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;	/* overlong, surrogate, beyond U+10FFFF */
	return n + 1;
}

/*
 * msg with every control character (and DEL) and every byte that is not
 * part of a UTF-8 character, or is a C1 control, written \xHH: messages
 * carry file names from /scratch, which any user chooses, and a name must
 * not move root's cursor, retitle its terminal, or forge a line of the log.
 * NULL when out of memory.
 */
char *
log_clean(const char *msg)
{
	const unsigned char *p = (const unsigned char *)msg;
	char *out = malloc(strlen(msg) * 4 + 1), *o = out;

	if (out == NULL)
		return NULL;
	while (*p) {
		size_t n = utf8_char(p);

		if (n > 0 && !(p[0] == 0xc2 && p[1] < 0xa0)) {	/* not a C1 control */
			memcpy(o, p, n);
			o += n;
			p += n;
			continue;
		}
		if (*p < 0x20 || *p >= 0x7f)
			o += sprintf(o, "\\x%02x", *p);
		else
			*o++ = (char)*p;
		p++;
	}
	*o = '\0';
	return out;
}

static void
log_emit(int pri, const char *msg)
{
	char *clean = log_clean(msg);
	const char *m = clean != NULL ? clean : "(a message, not shown: out of memory)";

	if (use_syslog)
		syslog(pri, "%s", m);
	if (use_stderr) {
		const char *tag = "";

		if (pri <= LOG_ERR)
			tag = "error: ";
		else if (pri == LOG_WARNING || pri == LOG_NOTICE)
			tag = "warning: ";
		else if (pri == LOG_DEBUG)
			tag = "debug: ";
		fprintf(stderr, "%s: %s%s\n", log_ident, tag, m);
		fflush(stderr);
	}
	free(clean);
}

void
log_vlog(int pri, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (pri == LOG_DEBUG && verbose < 1)
		return;
	if (pri == LOG_INFO && verbose < 0)
		return;
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	log_emit(pri, msg != NULL ? msg : "(a message, not shown: out of memory)");
	free(msg);
}

static void
log_errno(int pri, int saved, const char *fmt, va_list ap)
{
	char *msg = NULL, *full = NULL;

	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	if (msg != NULL && asprintf(&full, "%s: %s", msg, strerror(saved)) == -1)
		full = NULL;
	/* one call so that syslog gets one line */
	log_emit(pri <= LOG_ERR ? pri : LOG_WARNING,
	    full != NULL ? full : "(a message, not shown: out of memory)");
	free(msg);
	free(full);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_ERR, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_errno(LOG_CRIT, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
