/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pcm_notice.h - the one text that tells users about a head-node
 * maintenance.  Header-only, so that the SPANK plugin (which links nothing
 * of ours) and agent/maintfile.c (the MOTD snippet) tell the same story.
 *
 * Needs only libc.  Times are printed in UTC: a head node and its users
 * may not share a time zone, and "03:00 UTC" is never ambiguous.
 */
#ifndef PCM_NOTICE_H
#define PCM_NOTICE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The environment variable the SPANK plugin sets for jobs: NotBefore in
 * seconds since the epoch, "1795662000" (spank_pcm(8)). */
#define PCM_NOTICE_ENV		"PCM_MAINTENANCE_NOT_BEFORE"
/* The sbatch/srun/salloc option that silences the notice. */
#define PCM_NOTICE_ACK_OPT	"pcm-ack-maintenance"

/* What a notice needs; every string may be NULL, every time 0 (unknown). */
struct pcm_notice {
	const char	*phase;		/* scheduled | preparing | under-way | resuming */
	const char	*code;		/* system-reboot, instance-retirement, ... */
	const char	*event_id;
	long long	 not_before;	/* epoch seconds */
	long long	 not_after;
	long long	 window_start;	/* no new job starts after this */
	const char	*reservation;
	const char	*message;	/* the administrator's own words */
};

static inline const char *
pcm_notice_time(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "an unknown time");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
	return buf;
}

/* Print s with control characters (newlines, escapes) as spaces. */
static inline void
pcm_notice_puts_clean(FILE *fp, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, fp);
}

/* "in 2h05m" / "now" for t relative to now; "" when now is 0. */
static inline const char *
pcm_notice_rel(long long t, long long now, char *buf, size_t len)
{
	long long d = t - now;

	if (now <= 0 || t <= 0)
		snprintf(buf, len, "%s", "");
	else if (d <= 0)
		snprintf(buf, len, "now");
	else if (d < 3600)
		snprintf(buf, len, "in %lldm", (d + 59) / 60);
	else if (d < 2 * 86400)
		snprintf(buf, len, "in %lldh%02lldm", d / 3600, (d % 3600) / 60);
	else
		snprintf(buf, len, "in %lld days", d / 86400);
	return buf;
}

/* "(in 2h05m; at the latest by 2026-11-26 05:00 UTC)\n", or nothing */
static inline void
pcm_notice_when(FILE *fp, const char *prefix, const char *rel, long long not_after,
    const char *na)
{
	if (*rel == '\0' && not_after <= 0)
		return;
	fprintf(fp, "%s(%s%s%s%s)\n", prefix, rel, *rel && not_after > 0 ? "; " : "",
	    not_after > 0 ? "at the latest by " : "", not_after > 0 ? na : "");
}

/*
 * Format the notice, one line per "\n", each line starting with prefix.
 * now: the current time for "(in 2h05m)", or 0 for a text that does not go
 * stale (the MOTD).  Returns a malloc'd string the caller frees, or NULL
 * when out of memory.
 */
static inline char *
pcm_notice_format(const struct pcm_notice *n, long long now, const char *prefix)
{
	char *text = NULL, nb[40], na[40], ws[40], rel[32];
	size_t len = 0;
	const char *phase = n->phase ? n->phase : "scheduled";
	const char *code = n->code && *n->code ? n->code : "maintenance";
	long long start = n->window_start > 0 ? n->window_start : n->not_before;
	FILE *fp = open_memstream(&text, &len);

	if (fp == NULL)
		return NULL;
	pcm_notice_time(n->not_before, nb, sizeof(nb));
	pcm_notice_time(n->not_after, na, sizeof(na));
	pcm_notice_time(start, ws, sizeof(ws));
	pcm_notice_rel(n->not_before, now, rel, sizeof(rel));

	if (strcmp(phase, "resuming") == 0) {
		fprintf(fp, "%sThe head-node maintenance (%s) is ending: the cluster is resuming\n"
		    "%sand pending jobs start again shortly.\n", prefix, code, prefix);
		goto tail;
	}
	if (strcmp(phase, "scheduled") == 0) {
		fprintf(fp, "%sHEAD-NODE MAINTENANCE SCHEDULED: %s at %s\n", prefix, code, nb);
		pcm_notice_when(fp, prefix, rel, n->not_after, na);
		fprintf(fp, "%sFrom %s no new job starts", prefix, ws);
		if (n->reservation && *n->reservation)
			fprintf(fp, " (reservation %s)", n->reservation);
		fprintf(fp, ":\n%sa job whose time limit reaches past that time waits until it is over.\n",
		    prefix);
	} else {
		/* preparing, under-way, or a phase newer than this text */
		fprintf(fp, "%sHEAD-NODE MAINTENANCE UNDER WAY: %s, planned for %s\n",
		    prefix, code, nb);
		pcm_notice_when(fp, prefix, rel, n->not_after, na);
		fprintf(fp, "%sNew jobs wait until it is over", prefix);
		if (n->reservation && *n->reservation)
			fprintf(fp, " (reservation %s)", n->reservation);
		fprintf(fp, ".\n");
	}
	fprintf(fp,
	    "%sWhen the head node goes down, running jobs submitted with --no-requeue\n"
	    "%sand interactive jobs (srun, salloc) are killed and lose their work;\n"
	    "%sother batch jobs are requeued and start again from the beginning.\n"
	    "%sTo lose nothing: ask for a --time that ends before %s,\n"
	    "%sdo not use --no-requeue, and checkpoint before $" PCM_NOTICE_ENV "\n"
	    "%s(seconds since the epoch, set in your job's environment).\n",
	    prefix, prefix, prefix, prefix, ws, prefix, prefix);
tail:
	if (n->message && *n->message) {
		fprintf(fp, "%sMessage from the administrator: ", prefix);
		pcm_notice_puts_clean(fp, n->message);
		fputc('\n', fp);
	}
	if (n->event_id && *n->event_id) {
		fprintf(fp, "%s(EC2 event ", prefix);
		pcm_notice_puts_clean(fp, n->event_id);
		fprintf(fp, ")\n");
	}
	if (fclose(fp) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

#endif
