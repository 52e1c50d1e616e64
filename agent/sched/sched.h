/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sched.h - the Slurm side of pcm-agent, through libslurm: jobs and their
 * triage, partitions, nodes, the maintenance reservation.
 *
 * Lifecycle: sched_open() checks that the Slurm config exists and is
 * readable (libslurm calls exit() when it is not), points SLURM_CONF at it
 * and initialises libslurm; it does not contact slurmctld, so ClusterName
 * and the controller's address are known even when slurmctld is down.
 * sched_close() releases everything (NULL-safe).  One handle per process:
 * libslurm keeps global state.
 *
 * Calls that talk to slurmctld run the RPC in a worker thread under a
 * deadline of cfg->slurm_timeout seconds.  If it has not answered after
 * 0.3 s, a TCP connect to SlurmctldHost:SlurmctldPort tells a controller
 * that is down (refused: fail at once, instead of libslurm's ~9 s of
 * retries) from a slow one (wait on until the deadline).  The worker
 * thread of a call given up on is left to finish inside libslurm; until it
 * has, later calls fail at once with the same message (a waiter polling
 * sched_job_get() recovers once slurmctld is back).
 *
 * Errors: functions return 0 or a negative errno (-ENOENT: no such job or
 * reservation; -EHOSTUNREACH: slurmctld not reachable; -ETIMEDOUT; -EIO:
 * Slurm said no); sched_strerror() gives the full message, e.g.
 * "cannot reach slurmctld (vm:6817 from /etc/slurm/slurm.conf): Connection
 * refused (is slurmctld running? `systemctl status slurmctld`)".
 *
 * Memory: every list and record returned is owned by the caller and freed
 * with the matching *_free() (NULL-safe).  Strings returned as const char *
 * are borrowed from the handle or static.
 */
#ifndef PCM_SCHED_H
#define PCM_SCHED_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct pcm_config;
struct json_object;
struct sched;

/* What happens to a job if the compute fleet stopped now. */
enum sched_outcome {
	SCHED_OUTCOME_NONE,	/* finished or finishing: nothing to lose ("none") */
	SCHED_OUTCOME_PENDING,	/* waits in the queue, untouched ("pending") */
	SCHED_OUTCOME_REQUEUE,	/* killed and requeued, starts over ("requeue") */
	SCHED_OUTCOME_FAIL,	/* killed, ends NODE_FAIL: work lost ("fail") */
};

/* The job state's base values and flags are Slurm's (slurm.h job_states). */
struct sched_job {
	uint32_t	 id;
	uint32_t	 array_job_id;	/* 0 unless one element of a job array */
	uint32_t	 array_task_id;
	uint32_t	 uid;
	char		*user;		/* getpwuid name, or the uid in decimal */
	char		*name;
	char		*partition;
	char		*nodes;		/* may be NULL */
	char		*reason;	/* why pending, "None" otherwise; may be NULL */
	uint32_t	 state;		/* Slurm job_state: base | flags */
	int		 batch;		/* 1: sbatch; 0: srun/salloc */
	int		 requeue;	/* 1/0; -1: not set, cluster JobRequeue applies */
	time_t		 submit_time;
	time_t		 start_time;	/* 0 if not started (expected start not kept) */
	long		 time_limit_s;	/* -1: unlimited */
	long		 elapsed_s;	/* run time so far (squeue's TIME) */
	enum sched_outcome outcome;	/* filled by the loaders through sched_triage() */
};

struct sched_job_summary {
	unsigned	 running;	/* RUNNING, SUSPENDED or CONFIGURING */
	unsigned	 requeue;
	unsigned	 fail;
	unsigned	 pending;
};

struct sched_job_list {
	struct sched_job	*v;
	size_t			 n;
	struct sched_job_summary summary;
	int			 cluster_requeue;	/* JobRequeue of slurm.conf */
	time_t			 now;			/* when loaded */
};

struct sched_partition {
	char		*name;
	char		*state;		/* "UP", "DOWN", "DRAIN", "INACTIVE" */
	char		*nodes;		/* may be NULL */
	uint32_t	 total_nodes;
	int		 is_default;
};

struct sched_partition_list {
	struct sched_partition	*v;
	size_t			 n;
};

struct sched_node {
	char		*name;
	char		*state;		/* "IDLE", "MIXED+DRAIN", "IDLE+POWERED_DOWN", ... */
	uint32_t	 state_raw;	/* Slurm node_state: base | flags */
	int		 allocated;	/* runs jobs (ALLOCATED or MIXED) */
	int		 responding;	/* not NOT_RESPONDING */
	int		 powered_down;	/* POWERED_DOWN or POWERING_DOWN */
};

struct sched_node_list {
	struct sched_node	*v;
	size_t			 n;
};

struct sched_resv {
	char		*name;
	char		*nodes;		/* node list, may be NULL */
	char		*users;		/* may be NULL */
	time_t		 start_time;
	time_t		 end_time;
	uint64_t	 flags;		/* Slurm RESERVE_FLAG_* */
	uint32_t	 node_cnt;	/* nodes it holds */
	char		*accounts;	/* accounts allowed in, may be NULL */
	int		 maint;		/* has MAINT */
	int		 ignore_jobs;	/* has IGNORE_JOBS */
};

/* --- lifecycle --- */

/*
 * Open libslurm with cfg->slurm_conf (must exist and be readable).  On
 * failure returns a negative errno, *out = NULL, and the message in errbuf
 * ("cannot use Slurm config FILE: why (what to do)").
 */
int sched_open(const struct pcm_config *cfg, struct sched **out, char *errbuf, size_t errlen);
void sched_close(struct sched *s);

/* The message of the last failed call on s (borrowed; "" if none). */
const char *sched_strerror(const struct sched *s);

/* ClusterName from slurm.conf, or "" (borrowed; no RPC). */
const char *sched_cluster_name(const struct sched *s);
/* The controller as "host:port" from slurm.conf (borrowed; no RPC). */
const char *sched_controller(const struct sched *s);
/* JobRequeue from slurm.conf: 1 (Slurm's default) or 0 (no RPC). */
int sched_cluster_requeue(const struct sched *s);
/* MessageTimeout from slurm.conf, seconds (no RPC). */
unsigned sched_msg_timeout(const struct sched *s);

/* Is slurmctld answering?  0, or -EHOSTUNREACH / -ETIMEDOUT / -EIO. */
int sched_ping(struct sched *s);

/* --- jobs --- */

/*
 * Every job slurmctld knows, triaged.  all = 0 leaves out finished jobs
 * (outcome NONE and not COMPLETING); all = 1 keeps them.  The summary
 * counts the jobs in the list.
 */
int sched_jobs_load(struct sched *s, int all, struct sched_job_list **out);
void sched_job_list_free(struct sched_job_list *l);

/* One job by id, triaged (for waiting on jobs).  -ENOENT when slurmctld no
 * longer knows it (finished longer than MinJobAge ago). */
int sched_job_get(struct sched *s, uint32_t id, struct sched_job **out);
void sched_job_free(struct sched_job *j);

/*
 * The triage rule, a pure function of the job's state, batch flag and
 * requeue flag (cluster_requeue is JobRequeue, used only when the job's own
 * flag is unset, job->requeue < 0):
 *   RUNNING / SUSPENDED / CONFIGURING (nodes booting) hold nodes:
 *       batch job with requeue                 -> REQUEUE
 *       batch job with --no-requeue (requeue 0) -> FAIL
 *       any non-batch job (srun, salloc)        -> FAIL
 *   PENDING                                      -> PENDING
 *   being requeued (REQUEUE / REQUEUE_HOLD / SPECIAL_EXIT flags on a
 *       completing job)                          -> PENDING
 *   COMPLETING (epilog running) and every finished state (COMPLETED,
 *       CANCELLED, FAILED, TIMEOUT, NODE_FAIL, PREEMPTED, BOOT_FAIL,
 *       DEADLINE, OOM)                           -> NONE
 * Slurm 22.05 resolves JobRequeue into each job's requeue flag at submit
 * time (checked against a real slurmctld with JobRequeue=0 and =1; see
 * tests/integration/0103-jobs-jobrequeue0.sh), so the job's flag wins.
 */
enum sched_outcome sched_triage(const struct sched_job *job, int cluster_requeue);

/* Triage every job of l and recount l->summary. */
void sched_jobs_triage(struct sched_job_list *l);

/* "none", "pending", "requeue", "fail" (static). */
const char *sched_outcome_name(enum sched_outcome o);
/* "RUNNING", "PENDING", "COMPLETING", "CONFIGURING", "NODE_FAIL", ... (static) */
const char *sched_job_state_name(uint32_t state);
/* Is the job holding nodes (RUNNING, SUSPENDED, CONFIGURING)? */
int sched_job_is_running(uint32_t state);

/*
 * A time limit in minutes (Slurm's job time_limit) in seconds; -1 for
 * none: INFINITE, NO_VAL, and SCHED_YEAR_MINUTES, which the backfill
 * scheduler writes into the limit of a job without one in a partition
 * with MaxTime=INFINITE when it starts it.
 */
#define SCHED_YEAR_MINUTES	(365 * 24 * 60)
long sched_time_limit_s(uint32_t minutes);

/*
 * JSON (owned by caller):
 * {"jobs":[{"id":1,"user":"alice","name":"x","partition":"q","state":"RUNNING",
 *   "batch":true,"requeue":false,"outcome":"fail","start_time":"ISO-8601"|null,
 *   "time_limit_s":3600|null}],
 *  "summary":{"running":N,"requeue":N,"fail":N,"pending":N}}
 * "requeue" is the effective flag (the job's, or JobRequeue when unset).
 */
struct json_object *sched_jobs_to_json(const struct sched_job_list *l);
struct json_object *sched_job_to_json(const struct sched_job *j, int cluster_requeue);
struct json_object *sched_summary_to_json(const struct sched_job_summary *sum);

/* --- the Slurm release --- */

/*
 * The Slurm release pcm-agent was built against ("24.11.5", static).  The
 * agent and spank_pcm.so only work with that release (libslurm's soname
 * and SPANK's plugin_version follow it).  sched_open() fails with -EPROTO
 * when the libslurm loaded is of another release; the first RPC of a
 * handle asks slurmctld its version and fails with -EPROTO when it is of
 * another release (major.minor) - both errors say to rebuild the package.
 */
const char *sched_built_version(void);
/* 1 when Slurm release strings a and b ("24.11.5") share major.minor */
int sched_same_release(const char *a, const char *b);

/* --- partitions and nodes --- */

int sched_partitions_load(struct sched *s, struct sched_partition_list **out);
void sched_partition_list_free(struct sched_partition_list *l);
/* "UP", "DOWN", "DRAIN", "INACTIVE" or "UNKNOWN" for Slurm's state_up (static) */
const char *sched_partition_state_name(uint16_t state_up);

int sched_nodes_load(struct sched *s, struct sched_node_list **out);
void sched_node_list_free(struct sched_node_list *l);
/* "IDLE+DRAIN" style into buf, for Slurm's node_state */
const char *sched_node_state_format(uint32_t state, char *buf, size_t len);

/* --- reservations --- */

/* The reservation called name; -ENOENT if there is none. */
int sched_resv_get(struct sched *s, const char *name, struct sched_resv **out);
void sched_resv_free(struct sched_resv *r);

/*
 * The maintenance reservation: MAINT|IGNORE_JOBS, users=root, all nodes,
 * from start (0 = now) for duration_s (rounded up to whole minutes).
 * Idempotent: if a reservation called name exists, nothing changes and
 * *created = 0 (the caller says so); otherwise *created = 1.  *created may
 * be NULL.
 */
int sched_maint_start(struct sched *s, const char *name, time_t start, long duration_s,
    int *created);

/* What sched_maint_ensure changed (bits of *changed). */
#define SCHED_MAINT_CREATED	0x01	/* there was none: made it */
#define SCHED_MAINT_STARTED	0x02	/* it began later: now it begins now */
#define SCHED_MAINT_EXTENDED	0x04	/* it ended too soon: end moved later */
#define SCHED_MAINT_FLAGS	0x08	/* MAINT/IGNORE_JOBS added, FLEX etc. removed */
#define SCHED_MAINT_NODES	0x10	/* it did not hold every node: now ALL */
#define SCHED_MAINT_USERS	0x20	/* users other than root: now root only */

/*
 * Make sure the maintenance reservation is in force now: start <= now, end
 * at least duration_s from now, MAINT and IGNORE_JOBS without the flags that
 * let jobs in or make it go away (FLEX, ANY_NODES, PURGE_COMP, MAGNETIC),
 * every node, users root only.  Creates it if missing, otherwise corrects it
 * with one update (a reservation that starts later, e.g. from `maintenance
 * start --at`, is moved to now) and reads it back.  *changed (may be NULL)
 * gets the SCHED_MAINT_* bits; 0 when it was right already.  A reservation
 * that cannot be corrected (accounts allowed in, TIME_FLOAT) is an error
 * naming what to do.
 */
int sched_maint_ensure(struct sched *s, const char *name, long duration_s, unsigned *changed);
/* "created", "start moved to now, flags corrected", ... for *changed; buf */
const char *sched_maint_changes(unsigned changed, char *buf, size_t len);

/* Delete it; *deleted = 0 if there was none (not an error). */
int sched_maint_end(struct sched *s, const char *name, int *deleted);

struct json_object *sched_resv_to_json(const struct sched_resv *r);	/* owned */

/* --- changes made by resume (sched_admin.c) --- */

/* Set partition name UP (a start can leave it INACTIVE). */
int sched_partition_set_up(struct sched *s, const char *name);
/* scontrol update nodename=NODES state=power_down_force reason=REASON */
int sched_node_power_down_force(struct sched *s, const char *nodes, const char *reason);
/* scontrol update nodename=NODES state=resume */
int sched_node_resume(struct sched *s, const char *nodes);
/* 1 when the node was left POWERING_UP across a stop (not POWERING_DOWN:
 * that ends by itself). */
int sched_node_stuck(const struct sched_node *n);

#endif
