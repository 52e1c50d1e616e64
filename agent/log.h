/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * log.h - the one logging API of pcm-agent (after OpenBSD's log.h).
 *
 * To stderr when it is a terminal (or when asked), to syslog otherwise.
 * Messages say what failed first, then why:
 *   log_warnx("cannot stop instance %s: %s", id, why);
 * log_warn() appends ": strerror(errno)".  fatal()/fatalx() exit(1) and are
 * for start-up only; library code returns errors instead.
 *
 * Never pass credentials to these functions.
 */
#ifndef PCM_LOG_H
#define PCM_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_dest {
	LOG_DEST_AUTO,   /* stderr if it is a tty, else syslog */
	LOG_DEST_STDERR,
	LOG_DEST_SYSLOG,
};

/* verbosity: -1 quiet (warnings only), 0 normal (info), 1 debug, 2 trace */
void log_init(const char *ident, enum log_dest dest, int verbosity);
void log_setverbose(int verbosity);
int log_getverbose(void);
int log_to_stderr(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a warning that is not an error: "warning: file x vanished during the save" */
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_vlog(int pri, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* msg with control characters and bytes that are not UTF-8 as \xHH
 * (malloc'd; NULL: out of memory): every message goes through it */
char *log_clean(const char *msg);
/* bytes of the whole, minimal UTF-8 character of 2 to 4 bytes at p (up to
 * U+10FFFF, no surrogate), else 0 */
size_t utf8_char(const unsigned char *p);
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
