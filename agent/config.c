/* SPDX-License-Identifier: GPL-2.0-or-later */
/* config.c - see config.h */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "notify.h"
#include "patch.h"

enum cfg_type {
	T_STR,		/* free text */
	T_PATH,		/* absolute path */
	T_NAME,		/* identifier: letters, digits, - _ . */
	T_BOOL,
	T_INT,
	T_DURATION,
	T_SIZE,
	T_ENUM,
	T_LIST,		/* may repeat; each occurrence appends */
	T_URL,
};

struct cfg_key {
	const char	*name;
	enum cfg_type	 type;
	size_t		 off;
	const char	*def;		/* default as text, NULL = unset */
	long		 min, max;	/* T_INT bounds */
	const char	*choices;	/* T_ENUM: "a|b|c" */
	const char	*help;
};

#define F(field) offsetof(struct pcm_config, field)

static const struct cfg_key keys[] = {
	{ "state_dir", T_PATH, F(state_dir), "/var/lib/pcm-agent", 0, 0, NULL,
	  "directory for the journal, lock and event bookkeeping (root volume)" },
	{ "run_dir", T_PATH, F(run_dir), "/run/pcm-agent", 0, 0, NULL,
	  "directory for maintenance.json and the MOTD snippet" },
	{ "cfnconfig", T_PATH, F(cfnconfig), "/etc/parallelcluster/cfnconfig", 0, 0, NULL,
	  "ParallelCluster's node config, read for discovery" },
	{ "cluster_name", T_NAME, F(cluster_name), NULL, 0, 0, NULL,
	  "cluster (CloudFormation stack) name; discovered from cfnconfig stack_name" },
	{ "region", T_NAME, F(region), NULL, 0, 0, NULL,
	  "AWS region; discovered from cfnconfig cfn_region, AWS_REGION or IMDS" },
	{ "slurm_conf", T_PATH, F(slurm_conf), NULL, 0, 0, NULL,
	  "slurm.conf; discovered from SLURM_CONF, /opt/slurm/etc, /etc/slurm" },
	{ "slurm_timeout", T_DURATION, F(slurm_timeout), "30s", 1, 3600, NULL,
	  "give up on an unresponsive slurmctld after this long" },
	{ "reservation_name", T_NAME, F(reservation_name), "pcm-maintenance", 0, 0, NULL,
	  "name of the Slurm maintenance reservation" },
	{ "maintenance_duration", T_DURATION, F(maintenance_duration), "1d", 60, 366L * 86400, NULL,
	  "default length of a maintenance reservation" },
	{ "ephemeral_dir", T_PATH, F(ephemeral_dir), "/scratch", 0, 0, NULL,
	  "the instance-store volume to save; discovered from cfnconfig cfn_ephemeral_dir" },
	{ "target", T_PATH, F(target), NULL, 0, 0, NULL,
	  "mount point to save to (EFS, FSx, EBS); chosen automatically when unset" },
	{ "allow_root_target", T_BOOL, F(allow_root_target), "no", 0, 0, NULL,
	  "allow saving to the root volume" },
	{ "mountinfo", T_PATH, F(mountinfo), "/proc/self/mountinfo", 0, 0, NULL,
	  "mount table read to find the ephemeral volume and targets" },
	{ "workers", T_INT, F(workers), "0", 0, 256, NULL,
	  "copy threads; 0 chooses from the CPU count and the target type" },
	{ "delta_min_size", T_SIZE, F(delta_min_size), "64M", 0, LONG_MAX, NULL,
	  "changed files at least this large are updated with librsync deltas" },
	{ "exclude", T_LIST, F(exclude), NULL, 0, 0, NULL,
	  "leave out of the save what matches this rsync-style pattern; may repeat" },
	{ "fleet_table", T_NAME, F(fleet_table), NULL, 0, 0, NULL,
	  "DynamoDB table of the compute fleet status; default parallelcluster-<cluster_name>" },
	{ "fleet_timeout", T_DURATION, F(fleet_timeout), "15m", 1, 86400, NULL,
	  "how long to wait for the fleet to reach STOPPED or RUNNING" },
	{ "restart_method", T_ENUM, F(restart_method), "none", 0, 0, "none|reboot|stop-start",
	  "what prepare-restart does at the end when no option says" },
	{ "ssm_assume_role", T_STR, F(ssm_assume_role), NULL, 0, 0, NULL,
	  "AutomationAssumeRole ARN for AWS-RestartEC2Instance" },
	{ "wait_jobs_timeout", T_DURATION, F(wait_jobs_timeout), "4h", 1, 366L * 86400, NULL,
	  "default timeout of prepare-restart --wait-jobs" },
	{ "patch", T_BOOL, F(patch), "no", 0, 0, NULL,
	  "prepare-restart updates the OS packages before the restart (as --patch)" },
	{ "patch_command", T_STR, F(patch_command), NULL, 0, 0, NULL,
	  "the OS update command (sh -c); default dnf/yum --security or apt-get upgrade" },
	{ "patch_exclude", T_STR, F(patch_exclude), PATCH_EXCLUDE_DEFAULT, 0, 0, NULL,
	  "package globs the OS update leaves alone (space-separated)" },
	{ "patch_timeout", T_DURATION, F(patch_timeout), "1h", 1, 86400, NULL,
	  "the OS update is killed and fails after this long" },
	/* keep-fleet reboot (issue 12 part 3) */
	{ "keep_fleet", T_BOOL, F(keep_fleet), "no", 0, 0, NULL,
	  "prepare-restart --reboot keeps the compute fleet and its jobs running (--keep-fleet)" },
	{ "clustermgtd_conf", T_PATH, F(clustermgtd_conf),
	  "/etc/parallelcluster/slurm_plugin/parallelcluster_clustermgtd.conf", 0, 0, NULL,
	  "clustermgtd's config; keep-fleet sets disable_all_cluster_management in it" },
	{ "computemgtd_conf", T_PATH, F(computemgtd_conf),
	  "/opt/slurm/etc/pcluster/.slurm_plugin/parallelcluster_computemgtd.conf", 0, 0, NULL,
	  "computemgtd's config (shared); its clustermgtd_timeout is the downtime budget" },
	{ "reboot_estimate", T_DURATION, F(reboot_estimate), "0", 0, 86400, NULL,
	  "how long the head node is away for a reboot; 0: estimated from the history" },
	{ "keep_fleet_max_budget", T_DURATION, F(keep_fleet_max_budget), "1h", 60, 86400, NULL,
	  "keep-fleet widens clustermgtd_timeout up to this, and refuses beyond" },
	{ "resume_wait", T_DURATION, F(resume_wait), "10m", 1, 86400, NULL,
	  "resume after a keep-fleet reboot waits this long for slurmctld, then for the nodes" },
	{ "poll_interval", T_DURATION, F(poll_interval), "60s", 1, 86400, NULL,
	  "how often the watch daemon polls for scheduled events" },
	{ "event_margin", T_DURATION, F(event_margin), "15m", 0, 7L * 86400, NULL,
	  "the maintenance reservation starts this long before an event's NotBefore" },
	{ "auto_prepare", T_BOOL, F(auto_prepare), "no", 0, 0, NULL,
	  "run prepare-restart by itself ahead of a scheduled event" },
	{ "prepare_lead", T_DURATION, F(prepare_lead), "30m", 0, 7L * 86400, NULL,
	  "with auto_prepare: start this long before the event's NotBefore" },
	{ "notify_wall", T_BOOL, F(notify_wall), "yes", 0, 0, NULL,
	  "send maintenance notices to logged-in users with wall" },
	{ "webhook_url", T_URL, F(webhook_url), NULL, 0, 0, NULL,
	  "POST maintenance notices to this URL" },
	{ "webhook_template", T_STR, F(webhook_template), NULL, 0, 0, NULL,
	  "body of the webhook; {EventId} {Code} {NotBefore} ... are replaced" },
	{ "webhook_header", T_LIST, F(webhook_header), NULL, 0, 0, NULL,
	  "extra HTTP header for the webhook, \"Name: value\"; may repeat" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

size_t
config_nkeys(void)
{
	return NKEYS;
}

const char *
config_key_name(size_t i)
{
	return i < NKEYS ? keys[i].name : NULL;
}

const char *
config_key_help(size_t i)
{
	return i < NKEYS ? keys[i].help : NULL;
}

const char *
config_source_name(enum cfg_source s)
{
	switch (s) {
	case CFG_SRC_DEFAULT: return "default";
	case CFG_SRC_DISCOVERED: return "discovered";
	case CFG_SRC_FILE: return "config file";
	case CFG_SRC_CMDLINE: return "command line";
	}
	return "?";
}

static const struct cfg_key *
find_key(const char *name, size_t *idx)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0) {
			if (idx)
				*idx = i;
			return &keys[i];
		}
	return NULL;
}

static void
seterr(struct cfg_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

int
parse_bool(const char *s, long *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
parse_duration(const char *s, long *out)
{
	long total = 0;
	const char *p = s;

	if (*p == '\0')
		return -1;
	while (*p) {
		char *end;
		long mult;

		if (!isdigit((unsigned char)*p))
			return -1;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (errno || v < 0)
			return -1;
		switch (*end) {
		case '\0':
			if (p != s)	/* "1h30" is ambiguous */
				return -1;
			mult = 1;
			break;
		case 's': mult = 1; end++; break;
		case 'm': mult = 60; end++; break;
		case 'h': mult = 3600; end++; break;
		case 'd': mult = 86400; end++; break;
		default:
			return -1;
		}
		if (v > LONG_MAX / mult || total > LONG_MAX - v * mult)
			return -1;
		total += v * mult;
		p = end;
	}
	*out = total;
	return 0;
}

const char *
format_duration(long secs, char *buf, size_t len)
{
	static const struct { long n; char c; } u[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
	size_t used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (secs <= 0) {
		snprintf(buf, len, "0s");
		return buf;
	}
	for (size_t i = 0; i < 4 && used < len; i++) {
		if (secs >= u[i].n) {
			int n = snprintf(buf + used, len - used, "%ld%c", secs / u[i].n, u[i].c);
			if (n < 0)
				break;
			used += (size_t)n;
			secs %= u[i].n;
		}
	}
	return buf;
}

int
parse_size(const char *s, long *out)
{
	char *end;
	long mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || v < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mult = 1L << 10; end++; break;
	case 'M': mult = 1L << 20; end++; break;
	case 'G': mult = 1L << 30; end++; break;
	case 'T': mult = 1L << 40; end++; break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'B')	/* "64MiB", "64MB" */
		end++;
	if (*end == 'B')
		end++;
	if (*end != '\0' || v > LONG_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

static int
valid_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return 0;
	return 1;
}

/* Store a value for key k; on error fills err with "WHERE: key 'x': why". */
static int
set_value(struct pcm_config *cfg, size_t idx, const char *value,
    enum cfg_source src, const char *where, struct cfg_error *err)
{
	const struct cfg_key *k = &keys[idx];
	char *base = (char *)cfg;
	long n;

	switch (k->type) {
	case T_PATH:
		if (value[0] != '/') {
			seterr(err, "%s: %s: '%s' is not an absolute path", where, k->name, value);
			return -1;
		}
		break;
	case T_NAME:
		if (!valid_name(value)) {
			seterr(err, "%s: %s: '%s' is not a valid name (letters, digits, '-', '_', '.')",
			    where, k->name, value);
			return -1;
		}
		break;
	case T_URL:
		if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
			/* not the value: it may hold a password */
			seterr(err, "%s: %s: not an http:// or https:// URL (it begins '%.*s')", where,
			    k->name, (int)strcspn(value, ":/@?"), value);
			return -1;
		}
		break;
	case T_ENUM: {
		size_t vl = strlen(value);
		const char *c = k->choices;
		int ok = 0;

		while (*c) {
			size_t cl = strcspn(c, "|");
			if (cl == vl && strncmp(c, value, vl) == 0)
				ok = 1;
			c += cl;
			if (*c == '|')
				c++;
		}
		if (!ok) {
			seterr(err, "%s: %s: '%s' is not one of %s", where, k->name, value, k->choices);
			return -1;
		}
		break;
	}
	case T_BOOL:
		if (parse_bool(value, &n) < 0) {
			seterr(err, "%s: %s: '%s' is not yes or no", where, k->name, value);
			return -1;
		}
		*(long *)(base + k->off) = n;
		goto stored;
	case T_INT: {
		char *end;
		errno = 0;
		n = strtol(value, &end, 10);
		if (errno || *value == '\0' || *end != '\0' || n < k->min || n > k->max) {
			seterr(err, "%s: %s: '%s' is not a whole number from %ld to %ld",
			    where, k->name, value, k->min, k->max);
			return -1;
		}
		*(long *)(base + k->off) = n;
		goto stored;
	}
	case T_DURATION: {
		char lo[32], hi[32];
		if (parse_duration(value, &n) < 0 || n < k->min || n > k->max) {
			seterr(err, "%s: %s: '%s' is not a duration from %s to %s (e.g. 90s, 15m, 2h, 1d)",
			    where, k->name, value, format_duration(k->min, lo, sizeof(lo)),
			    format_duration(k->max, hi, sizeof(hi)));
			return -1;
		}
		*(long *)(base + k->off) = n;
		goto stored;
	}
	case T_SIZE:
		if (parse_size(value, &n) < 0) {
			seterr(err, "%s: %s: '%s' is not a size (e.g. 4096, 64K, 8M, 1G)", where, k->name, value);
			return -1;
		}
		*(long *)(base + k->off) = n;
		goto stored;
	case T_LIST: {
		struct strlist *l = (struct strlist *)(base + k->off);
		char **nv = realloc(l->v, (l->n + 2) * sizeof(*nv));
		if (nv == NULL) {
			seterr(err, "%s: out of memory", where);
			return -1;
		}
		l->v = nv;
		if ((l->v[l->n] = strdup(value)) == NULL) {
			seterr(err, "%s: out of memory", where);
			return -1;
		}
		l->v[++l->n] = NULL;
		goto stored;
	}
	case T_STR:
		break;
	}
	/* string-valued types */
	{
		char **slot = (char **)(base + k->off);
		char *dup = strdup(value);
		if (dup == NULL) {
			seterr(err, "%s: out of memory", where);
			return -1;
		}
		free(*slot);
		*slot = dup;
	}
stored:
	cfg->src[idx] = src;
	free(cfg->src_detail[idx]);
	cfg->src_detail[idx] = where ? strdup(where) : NULL;
	return 0;
}

int
config_init(struct pcm_config *cfg)
{
	struct cfg_error err;

	memset(cfg, 0, sizeof(*cfg));
	cfg->src = calloc(NKEYS, sizeof(*cfg->src));
	cfg->src_detail = calloc(NKEYS, sizeof(*cfg->src_detail));
	if (cfg->src == NULL || cfg->src_detail == NULL)
		return -1;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].def == NULL)
			continue;
		if (set_value(cfg, i, keys[i].def, CFG_SRC_DEFAULT, NULL, &err) < 0)
			return -1;	/* a bad built-in default: caught by the unit tests */
	}
	return 0;
}

void
config_free(struct pcm_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		char *base = (char *)cfg;
		switch (keys[i].type) {
		case T_STR: case T_PATH: case T_NAME: case T_ENUM: case T_URL:
			free(*(char **)(base + keys[i].off));
			break;
		case T_LIST: {
			struct strlist *l = (struct strlist *)(base + keys[i].off);
			for (size_t j = 0; j < l->n; j++)
				free(l->v[j]);
			free(l->v);
			break;
		}
		default:
			break;
		}
		if (cfg->src_detail)
			free(cfg->src_detail[i]);
	}
	free(cfg->src);
	free(cfg->src_detail);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

int
config_set(struct pcm_config *cfg, const char *key, const char *value,
    enum cfg_source src, const char *detail, struct cfg_error *err)
{
	size_t idx = 0;

	if (find_key(key, &idx) == NULL) {
		seterr(err, "%s: unknown key '%s'", detail ? detail : "command line", key);
		return -1;
	}
	return set_value(cfg, idx, value, src, detail ? detail : config_source_name(src), err);
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
config_read_buf(struct pcm_config *cfg, const char *name, const char *buf,
    size_t len, struct cfg_error *err)
{
	unsigned *seen_line = calloc(NKEYS, sizeof(*seen_line));
	char *copy = NULL;
	int rc = -1;
	unsigned lineno = 0;
	char *line, *next;

	if (seen_line == NULL || (copy = malloc(len + 1)) == NULL) {
		seterr(err, "%s: out of memory", name);
		goto out;
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';
	if (memchr(copy, '\0', len) != NULL) {
		seterr(err, "%s: contains a NUL byte: not a text file", name);
		goto out;
	}

	for (line = copy; line != NULL; line = next) {
		char where[PATH_MAX + 32], *key, *val, *eq;
		size_t idx;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		snprintf(where, sizeof(where), "%s:%u", name, lineno);
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			seterr(err, "%s: expected 'key = value', got '%.64s'", where, key);
			goto out;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		if (find_key(key, &idx) == NULL) {
			seterr(err, "%s: unknown key '%.64s' (see pcm-agent.conf(5))", where, key);
			goto out;
		}
		if (keys[idx].type != T_LIST && seen_line[idx]) {
			seterr(err, "%s: %s: set twice (first at line %u)", where, key, seen_line[idx]);
			goto out;
		}
		seen_line[idx] = lineno;
		/* "quoted" values keep leading/trailing blanks and '#' */
		size_t vl = strlen(val);
		if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
			val[vl - 1] = '\0';
			val++;
		} else if (vl > 0 && (val[0] == '"' || val[vl - 1] == '"') && keys[idx].type != T_STR
		    && keys[idx].type != T_LIST) {
			seterr(err, "%s: %s: unbalanced quote in '%s'", where, key, val);
			goto out;
		}
		if (*val == '\0') {
			seterr(err, "%s: %s: empty value (remove the line to use the default)", where, key);
			goto out;
		}
		if (set_value(cfg, idx, val, CFG_SRC_FILE, where, err) < 0)
			goto out;
	}
	rc = 0;
out:
	free(seen_line);
	free(copy);
	return rc;
}

/* A webhook URL that is a credential: user:password, a query (?token=),
 * or a path (Slack, Teams: the path is the key). */
static int
url_is_secret(const char *url)
{
	const char *host = url ? strstr(url, "://") : NULL;
	size_t al;

	if (host == NULL)
		return url != NULL;
	host += 3;
	al = strcspn(host, "/?#");
	if (memchr(host, '@', al) != NULL)
		return 1;
	return host[al] != '\0' && strcmp(host + al, "/") != 0;
}

static int exposure_warnings = 1;

void
config_warn_exposure(int on)
{
	exposure_warnings = on;
}

int
config_file_exposed(const struct pcm_config *cfg, const char *path, const struct stat *st,
    char *buf, size_t len)
{
	int secret = cfg->webhook_header.n > 0 || url_is_secret(cfg->webhook_url);
	mode_t m = st->st_mode & 07777;

	if (st->st_uid != 0) {
		snprintf(buf, len, "config file %s is owned by uid %lu, not root: its owner decides "
		    "what pcm-agent does as root (chown root:root %s; chmod 0640 %s)", path,
		    (unsigned long)st->st_uid, path, path);
		return 1;
	}
	if ((m & S_IWOTH) || ((m & S_IWGRP) && st->st_gid != 0)) {
		snprintf(buf, len, "config file %s is writable by other users (mode %04o, group "
		    "%lu): they decide what pcm-agent does as root (chmod 0640 %s)", path,
		    (unsigned)m, (unsigned long)st->st_gid, path);
		return 1;
	}
	if (secret && ((m & S_IROTH) || ((m & S_IRGRP) && st->st_gid != 0))) {
		snprintf(buf, len, "config file %s holds a secret (%s) and is readable by other "
		    "users (mode %04o, group %lu): chmod 0640 %s, owner root:root", path,
		    cfg->webhook_header.n > 0 ? "webhook_header" : "webhook_url", (unsigned)m,
		    (unsigned long)st->st_gid, path);
		return 1;
	}
	return 0;
}

int
config_read_file(struct pcm_config *cfg, const char *path, int must_exist,
    struct cfg_error *err)
{
	FILE *fp;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = -1;

	/* non-blocking, then regular files only: a FIFO or device planted at
	 * the path must not hang a Slurm hook that reads the config */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;

	if (fd < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		seterr(err, "cannot read config file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		seterr(err, "cannot read config file %s: %s", path,
		    S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
		close(fd);
		return -1;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		seterr(err, "cannot read config file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (1 << 20)) {
				seterr(err, "%s: larger than 1 MiB: not a config file", path);
				goto out;
			}
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				seterr(err, "%s: out of memory", path);
				goto out;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		seterr(err, "cannot read config file %s: %s", path, strerror(errno));
		goto out;
	}
	if (config_read_buf(cfg, path, buf ? buf : "", len, err) < 0)
		goto out;
	/* the file as opened, not the path again: no race with a rename */
	{
		char w[PATH_MAX + 256];
		if (exposure_warnings && config_file_exposed(cfg, path, &st, w, sizeof(w)))
			log_warnx("%s", w);
	}
	free(cfg->path);
	cfg->path = strdup(path);
	rc = 0;
out:
	free(buf);
	fclose(fp);
	return rc;
}

char *
shellvar_get(const char *path, const char *key, int *errp)
{
	FILE *fp;
	char line[4096];
	char *found = NULL;
	size_t kl = strlen(key);

	*errp = 0;
	if ((fp = fopen(path, "re")) == NULL) {
		*errp = errno;
		return NULL;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = trim(line);

		if (strncmp(p, "export ", 7) == 0)
			p = trim(p + 7);
		if (strncmp(p, key, kl) != 0 || p[kl] != '=')
			continue;
		p += kl + 1;
		size_t vl = strlen(p);
		if (vl >= 2 && (p[0] == '"' || p[0] == '\'') && p[vl - 1] == p[0]) {
			p[vl - 1] = '\0';
			p++;
		}
		free(found);		/* the last assignment wins, as in sh */
		found = strdup(p);
	}
	fclose(fp);
	return found;
}

/* Set key idx from discovery if it is still at its default. */
static int
discover_one(struct pcm_config *cfg, const char *key, const char *value,
    const char *from, struct cfg_error *err)
{
	size_t idx = 0;
	struct cfg_error e2;

	find_key(key, &idx);
	if (value == NULL || *value == '\0' || cfg->src[idx] > CFG_SRC_DISCOVERED)
		return 0;
	if (set_value(cfg, idx, value, CFG_SRC_DISCOVERED, from, &e2) < 0) {
		seterr(err, "%s (discovered value; set %s in the config file to override)", e2.msg, key);
		return -1;
	}
	return 0;
}

int
config_discover(struct pcm_config *cfg, struct cfg_error *err)
{
	static const struct { const char *var, *key; } cfn[] = {
		{ "stack_name", "cluster_name" },
		{ "cfn_region", "region" },
		{ "cfn_ephemeral_dir", "ephemeral_dir" },
	};
	int e;

	if (cfg->cfnconfig != NULL) {
		for (size_t i = 0; i < sizeof(cfn) / sizeof(cfn[0]); i++) {
			char *v = shellvar_get(cfg->cfnconfig, cfn[i].var, &e);
			if (v == NULL && e != 0 && e != ENOENT) {
				seterr(err, "cannot read %s: %s", cfg->cfnconfig, strerror(e));
				return -1;
			}
			char from[PATH_MAX + 32];
			snprintf(from, sizeof(from), "%s %s", cfg->cfnconfig, cfn[i].var);
			int rc = discover_one(cfg, cfn[i].key, v, from, err);
			free(v);
			if (rc < 0)
				return -1;
			if (e == ENOENT)
				break;
		}
	}

	size_t idx = 0;
	find_key("slurm_conf", &idx);
	if (cfg->src[idx] <= CFG_SRC_DISCOVERED) {
		const char *env = getenv("SLURM_CONF");
		const char *cands[] = { "/opt/slurm/etc/slurm.conf", "/etc/slurm/slurm.conf" };

		if (env != NULL && *env != '\0') {
			if (discover_one(cfg, "slurm_conf", env, "SLURM_CONF", err) < 0)
				return -1;
		} else {
			for (size_t i = 0; i < 2; i++)
				if (access(cands[i], F_OK) == 0) {
					if (discover_one(cfg, "slurm_conf", cands[i], "search", err) < 0)
						return -1;
					break;
				}
		}
	}

	find_key("fleet_table", &idx);
	if (cfg->fleet_table == NULL && cfg->cluster_name != NULL) {
		char t[300];
		snprintf(t, sizeof(t), "parallelcluster-%s", cfg->cluster_name);
		if (discover_one(cfg, "fleet_table", t, "parallelcluster-<cluster_name>", err) < 0)
			return -1;
	}
	return 0;
}

static char *
value_text(const struct pcm_config *cfg, size_t i)
{
	const struct cfg_key *k = &keys[i];
	const char *base = (const char *)cfg;
	char *out = NULL;
	long n;

	switch (k->type) {
	case T_BOOL:
		return strdup(*(const long *)(base + k->off) ? "yes" : "no");
	case T_INT:
		if (asprintf(&out, "%ld", *(const long *)(base + k->off)) < 0)
			return NULL;
		return out;
	case T_DURATION: {
		char b[64];
		return strdup(format_duration(*(const long *)(base + k->off), b, sizeof(b)));
	}
	case T_SIZE:
		n = *(const long *)(base + k->off);
		if (asprintf(&out, "%ld", n) < 0)
			return NULL;
		return out;
	case T_LIST: {
		/* header values may be credentials: show names only */
		const struct strlist *l = (const struct strlist *)(base + k->off);
		size_t tot = 1;
		for (size_t j = 0; j < l->n; j++)
			tot += strlen(l->v[j]) + 8;
		if (l->n == 0 || (out = malloc(tot)) == NULL)
			return NULL;
		out[0] = '\0';
		for (size_t j = 0; j < l->n; j++) {
			if (j)
				strcat(out, "; ");
			strncat(out, l->v[j], strcspn(l->v[j], ":"));
			strcat(out, ": ***");
		}
		return out;
	}
	case T_URL: {
		/* userinfo, path and query may be credentials (Slack, Teams, ?token=) */
		const char *s = *(char *const *)(base + k->off);
		char b[512];
		if (s == NULL)
			return NULL;
		return strdup(notify_url_redacted(s, b, sizeof(b)));
	}
	default: {
		const char *s = *(char *const *)(base + k->off);
		return s ? strdup(s) : NULL;
	}
	}
}

void
config_print(const struct pcm_config *cfg, FILE *fp)
{
	fprintf(fp, "# configuration OK%s%s\n", cfg->path ? ": " : " (no config file read)",
	    cfg->path ? cfg->path : "");
	for (size_t i = 0; i < NKEYS; i++) {
		char *v = value_text(cfg, i);
		char src[PATH_MAX + 64];

		if (cfg->src_detail[i] && cfg->src[i] != CFG_SRC_DEFAULT)
			snprintf(src, sizeof(src), "%s: %s", config_source_name(cfg->src[i]),
			    cfg->src_detail[i]);
		else
			snprintf(src, sizeof(src), "%s", config_source_name(cfg->src[i]));
		if (v != NULL)
			fprintf(fp, "%-22s = %-32s # %s\n", keys[i].name, v, src);
		else
			fprintf(fp, "#%-21s   (unset)%-25s # %s\n", keys[i].name, "", src);
		free(v);
	}
}

struct json_object *
config_to_json(const struct pcm_config *cfg)
{
	struct json_object *root = json_object_new_object();
	struct json_object *vals = json_object_new_object();

	json_object_object_add(root, "file", cfg->path ? json_object_new_string(cfg->path) : NULL);
	for (size_t i = 0; i < NKEYS; i++) {
		struct json_object *e = json_object_new_object();
		const char *base = (const char *)cfg;
		char *v;

		switch (keys[i].type) {
		case T_BOOL:
			json_object_object_add(e, "value",
			    json_object_new_boolean(*(const long *)(base + keys[i].off) != 0));
			break;
		case T_INT: case T_DURATION: case T_SIZE:
			json_object_object_add(e, "value",
			    json_object_new_int64(*(const long *)(base + keys[i].off)));
			break;
		default:
			v = value_text(cfg, i);
			json_object_object_add(e, "value", v ? json_object_new_string(v) : NULL);
			free(v);
			break;
		}
		json_object_object_add(e, "source", json_object_new_string(config_source_name(cfg->src[i])));
		if (cfg->src_detail[i] && cfg->src[i] != CFG_SRC_DEFAULT)
			json_object_object_add(e, "from", json_object_new_string(cfg->src_detail[i]));
		json_object_object_add(vals, keys[i].name, e);
	}
	json_object_object_add(root, "config", vals);
	return root;
}
