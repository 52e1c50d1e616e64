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

void
log_vlog(int pri, const char *fmt, va_list ap)
{
	if (pri == LOG_DEBUG && verbose < 1)
		return;
	if (pri == LOG_INFO && verbose < 0)
		return;
	if (use_syslog) {
		va_list cp;
		va_copy(cp, ap);
		vsyslog(pri, fmt, cp);
		va_end(cp);
	}
	if (use_stderr) {
		const char *tag = "";

		if (pri <= LOG_ERR)
			tag = "error: ";
		else if (pri == LOG_WARNING || pri == LOG_NOTICE)
			tag = "warning: ";
		else if (pri == LOG_DEBUG)
			tag = "debug: ";
		fprintf(stderr, "%s: %s", log_ident, tag);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		fflush(stderr);
	}
}

static void
log_errno(int pri, int saved, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) == -1) {
		log_vlog(pri, fmt, ap);
		return;
	}
	/* one call so that syslog gets one line */
	if (use_syslog)
		syslog(pri, "%s: %s", msg, strerror(saved));
	if (use_stderr) {
		fprintf(stderr, "%s: %s%s: %s\n", log_ident,
		    pri <= LOG_ERR ? "error: " : "warning: ", msg, strerror(saved));
		fflush(stderr);
	}
	free(msg);
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
