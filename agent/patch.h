/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * patch.h - the OS update of prepare-restart --patch: run the distribution's
 * package manager (or patch_command), its output in a log file, under a
 * timeout, and say what it changed: the packages updated (rpm -qa /
 * dpkg-query before and after), the kernel (running, newest installed) and
 * whether a reboot is needed (needs-restarting -r, /var/run/reboot-required,
 * a newer kernel than the running one).
 *
 * Knows nothing of Slurm, AWS or the journal; the plan calls it.
 *
 *   dnf  (Amazon Linux 2023, RHEL, Rocky, Alma, Fedora):
 *        dnf -y upgrade --security --exclude=PATTERN...
 *   yum  (Amazon Linux 2, CentOS 7): yum -y update --security --exclude=...
 *   apt  (Ubuntu, Debian): apt-get update, then apt-get -y upgrade with
 *        DEBIAN_FRONTEND=noninteractive, the old config files kept, and the
 *        excluded packages pinned to priority -1 in a preferences file of
 *        ours (-o Dir::Etc::Preferences=STATE_DIR/patch-apt-preferences,
 *        holding the system's /etc/apt/preferences too): nothing of the
 *        system changes, so a killed run leaves no hold behind.
 * patch_command replaces all of this (run by /bin/sh -c; no exclusions).
 *
 * Functions return 0 or a negative enum patch_rc with err->msg filled
 * (what failed, then why, naming the log file when there is one).
 */
#ifndef PCM_PATCH_H
#define PCM_PATCH_H

#include <stddef.h>
#include <sys/types.h>

enum patch_rc {
	PATCH_OK = 0,
	PATCH_E_CONFIG = -1,	/* unknown distribution, bad pattern */
	PATCH_E_EXEC = -2,	/* the command could not be started */
	PATCH_E_FAILED = -3,	/* it exited non-zero or was killed */
	PATCH_E_TIMEOUT = -4,	/* it ran longer than the timeout (killed) */
	PATCH_E_IO = -5,	/* log file, snapshot, state dir */
	PATCH_E_NOMEM = -6,
};

struct patch_error {
	char	msg[512];
};

enum patch_pm {
	PATCH_PM_UNKNOWN = 0,
	PATCH_PM_DNF,
	PATCH_PM_YUM,
	PATCH_PM_APT,
};

/* What the module reads, every path overridable for the tests. */
struct patch_cfg {
	const char	*state_dir;	/* log, snapshots, apt preferences */
	const char	*command;	/* patch_command; NULL: the distribution's */
	const char	*exclude;	/* patch_exclude: space-separated globs */
	long		 timeout_s;	/* whole update; 0: none */
	long		 progress_s;	/* progress callback period; 0: 10 s */
	const char	*operation;	/* the before list is kept only for the same
					   operation (journal id); NULL: "-" */
	/* NULL: the defaults; the environment variables in brackets
	 * (for the tests) override those defaults */
	const char	*os_release;	 /* /etc/os-release [PCM_TEST_OS_RELEASE] */
	const char	*reboot_required;/* /var/run/reboot-required [PCM_TEST_REBOOT_REQUIRED] */
	const char	*modules_dir;	 /* /lib/modules [PCM_TEST_MODULES_DIR] */
	const char	*apt_preferences;/* /etc/apt/preferences [PCM_TEST_APT_PREFERENCES] */
};

/* patch_exclude by default: the cluster is version-locked to its AMI
 * (ParallelCluster's own packages, Slurm, munge, PMIx, EFA's libfabric). */
#define PATCH_EXCLUDE_DEFAULT \
	"aws-parallelcluster* slurm* libslurm* munge* libmunge* pmix* libpmix* " \
	"efa* libfabric*"

/* The log file of the update: STATE_DIR/patch.log. */
#define PATCH_LOG_NAME		"patch.log"
/* The package list before the update (first lines "operation ID" and
 * "kernel RELEASE"). */
#define PATCH_BEFORE_NAME	"patch-before.txt"

/* Package manager from os-release (ID, ID_LIKE, VERSION_ID); name gets
 * "Amazon Linux 2023" (PRETTY_NAME) or the path when unreadable. */
enum patch_pm patch_detect(const struct patch_cfg *c, char *name, size_t len);
const char *patch_pm_name(enum patch_pm pm);

/* The commands the update runs, for the plan and --dry-run: a malloc'd
 * text, one command a line, shell-quoted for reading (caller frees). */
char *patch_describe(const struct patch_cfg *c, struct patch_error *err);

/* The running kernel (uname -r; PCM_TEST_KERNEL for the tests). */
void patch_kernel_running(char *buf, size_t len);
/* The newest kernel installed: the highest version (strverscmp) of the
 * directories of modules_dir that hold modules.dep; "" when none. */
void patch_kernel_newest(const struct patch_cfg *c, char *buf, size_t len);

/* The installed packages, "name version" lines, sorted (malloc'd). */
int patch_packages(enum patch_pm pm, char **out, struct patch_error *err);

/* One change between two package lists. */
struct patch_change {
	char	*name;
	char	*from;		/* NULL: newly installed */
	char	*to;		/* NULL: removed */
};
struct patch_changes {
	struct patch_change *v;
	size_t	 n;
};
int patch_diff(const char *before, const char *after, struct patch_changes *out);
void patch_changes_free(struct patch_changes *l);

/* Progress of a running update: elapsed seconds and the last line of its
 * output (borrowed; may be ""). */
typedef void (*patch_progress_fn)(long elapsed_s, const char *last_line, void *arg);

struct patch_result {
	enum patch_pm	pm;
	char	kernel_running[128];	/* uname -r during the update */
	char	kernel_before[128];	/* newest installed before */
	char	kernel_after[128];	/* newest installed after */
	struct patch_changes changes;
	int	reboot_needed;		/* 1 / 0 */
	char	reboot_why[256];	/* what said so, or why not */
	char	log[1024];		/* the log file */
	long	elapsed_s;
};

/* The OS update an earlier pcm-agent started in state_dir (STATE_DIR/
 * patch.pid) if it still runs: its process group id; 0 when none (a stale
 * record is removed).  A pcm-agent killed during the update leaves the
 * package manager running in its own process group; patch_update() waits
 * for it before it starts anything. */
pid_t patch_running(const char *state_dir);

/*
 * The whole update: the package list before (STATE_DIR/patch-before.txt,
 * kept when it exists already for the same c->operation: a run after a
 * crash compares with the first; another operation's is replaced), the
 * commands with their output appended to STATE_DIR/patch.log,
 * the list after, the changes and whether a reboot is needed.  r is filled
 * as far as it got (the log path always).  Free with patch_result_free().
 */
int patch_update(const struct patch_cfg *c, patch_progress_fn progress, void *arg,
    struct patch_result *r, struct patch_error *err);
void patch_result_free(struct patch_result *r);
/* Remove the before list (the operation is over). */
void patch_forget(const struct patch_cfg *c);

struct json_object;
/* {"pm", "kernel_running", "kernel_before", "kernel_after", "updated": [...],
 * "reboot_needed", "reboot_why", "log", "elapsed_s"} (owned by the caller) */
struct json_object *patch_result_json(const struct patch_result *r);

/* Whether a reboot is needed now: 1 yes, 0 no; why in buf. */
int patch_reboot_needed(const struct patch_cfg *c, enum patch_pm pm, char *why, size_t len);

#endif
