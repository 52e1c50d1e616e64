/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * config.h - the one configuration of pcm-agent.
 *
 * Precedence, highest first: command line, config file, discovery
 * (/etc/parallelcluster/cfnconfig, SLURM_CONF, ...), built-in default.
 * Every key is one row of the table in config.c; adding a key takes a field
 * here, a row there, a line in packaging/pcm-agent.conf and in
 * man/pcm-agent.conf.5 (tests/integration/0900-docs.sh checks the last two).
 */
#ifndef PCM_CONFIG_H
#define PCM_CONFIG_H

#include <stdio.h>
#include <stddef.h>

#define PCM_DEFAULT_CONFIG   "/etc/pcm-agent/pcm-agent.conf"

enum cfg_source {
	CFG_SRC_DEFAULT,
	CFG_SRC_DISCOVERED,
	CFG_SRC_FILE,
	CFG_SRC_CMDLINE,
};

struct strlist {
	char	**v;
	size_t	  n;
};

struct pcm_config {
	/* general */
	char	*state_dir;
	char	*run_dir;
	char	*cfnconfig;
	char	*cluster_name;
	char	*region;
	/* slurm */
	char	*slurm_conf;
	long	 slurm_timeout;		/* seconds */
	char	*reservation_name;
	long	 maintenance_duration;	/* seconds */
	/* storage */
	char	*ephemeral_dir;
	char	*target;
	long	 allow_root_target;	/* bool */
	char	*mountinfo;
	long	 workers;		/* 0 = automatic */
	long	 delta_min_size;	/* bytes */
	struct strlist exclude;		/* save: rsync-style patterns */
	/* fleet and restart */
	char	*fleet_table;
	long	 fleet_timeout;		/* seconds */
	char	*restart_method;	/* none | reboot | stop-start */
	char	*ssm_assume_role;
	long	 wait_jobs_timeout;	/* seconds */
	/* the OS update (prepare-restart --patch) */
	long	 patch;			/* bool */
	char	*patch_command;		/* NULL: the distribution's */
	char	*patch_exclude;		/* space-separated package globs */
	long	 patch_timeout;		/* seconds */
	/* keep-fleet reboot */
	long	 keep_fleet;		/* bool */
	char	*clustermgtd_conf;
	char	*computemgtd_conf;
	long	 reboot_estimate;	/* seconds; 0: estimated */
	long	 keep_fleet_max_budget;	/* seconds */
	long	 resume_wait;	/* seconds: keep-fleet resume's waits for slurmctld, the nodes */
	/* watch daemon */
	long	 poll_interval;		/* seconds */
	long	 event_margin;		/* seconds */
	long	 auto_prepare;		/* bool */
	long	 prepare_lead;		/* seconds */
	long	 notify_wall;		/* bool */
	char	*webhook_url;
	char	*webhook_template;
	struct strlist webhook_header;

	/* where each value came from; indexed like the key table */
	enum cfg_source *src;
	char	**src_detail;		/* "FILE:LINE" or discovery file, may be NULL */
	char	*path;			/* the config file read, NULL if none */
};

/* errors carry the full message: "FILE:LINE: key 'x': why" */
struct cfg_error {
	char	msg[512];
};

/* Defaults only; no file, no discovery. */
int config_init(struct pcm_config *cfg);

/*
 * Read a config file.  A missing file is an error only when must_exist.
 * Returns 0 or -1 with err filled.
 */
int config_read_file(struct pcm_config *cfg, const char *path, int must_exist,
    struct cfg_error *err);

/*
 * Whether a config file read as cfg and whose fstat is st is exposed: owned
 * by someone other than root, writable by group or other (whoever can write
 * it decides what pcm-agent does as root), or, when it holds a secret
 * (webhook_header, a webhook_url with user:password, a query or a path),
 * readable by other users or by a group other than root's.  Returns 1 with
 * the warning (naming the file, what is wrong and the fix) in buf, else 0.
 * config_read_file() logs it.
 */
struct stat;
int config_file_exposed(const struct pcm_config *cfg, const char *path,
    const struct stat *st, char *buf, size_t len);
/* Whether config_read_file() logs that warning (default on; the Slurm hooks,
 * run for every job, turn it off: the commands an admin runs say it). */
void config_warn_exposure(int on);

/* Parse config text (for tests and the fuzzer); name is used in messages. */
int config_read_buf(struct pcm_config *cfg, const char *name, const char *buf,
    size_t len, struct cfg_error *err);

/* Set one key from the command line (or a test). */
int config_set(struct pcm_config *cfg, const char *key, const char *value,
    enum cfg_source src, const char *detail, struct cfg_error *err);

/*
 * Fill keys still at their default from discovery: cfg->cfnconfig
 * (stack_name, cfn_region, cfn_ephemeral_dir) and the Slurm config search
 * (SLURM_CONF, /opt/slurm/etc/slurm.conf, /etc/slurm/slurm.conf).
 * Missing discovery files are not errors; an unreadable one is.
 */
int config_discover(struct pcm_config *cfg, struct cfg_error *err);

/* Free everything config_init() and the readers allocated. */
void config_free(struct pcm_config *cfg);

/* Print the effective configuration, with sources. */
void config_print(const struct pcm_config *cfg, FILE *fp);
struct json_object;
struct json_object *config_to_json(const struct pcm_config *cfg); /* owned by caller */

/* The key table, for --help, the docs test and config check. */
size_t config_nkeys(void);
const char *config_key_name(size_t i);
const char *config_key_help(size_t i);
const char *config_source_name(enum cfg_source src);

/* Parsers shared with the command line; 0 or -1. */
int parse_duration(const char *s, long *out);	/* "90", "90s", "15m", "2h", "1d", "1h30m" */
int parse_size(const char *s, long *out);	/* "4096", "64K", "8M", "1G" */
int parse_bool(const char *s, long *out);	/* yes/no true/false on/off 1/0 */
/* "1h30m" style, into buf */
const char *format_duration(long secs, char *buf, size_t len);

/* Read a shell-style KEY=value file (cfnconfig); returns malloc'd value or NULL. */
char *shellvar_get(const char *path, const char *key, int *err);

#endif
