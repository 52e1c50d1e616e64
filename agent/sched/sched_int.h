/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sched_int.h - shared inside agent/sched/ only: the handle and the RPC
 * runner (see sched.c).
 */
#ifndef PCM_SCHED_INT_H
#define PCM_SCHED_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "sched.h"

#define SCHED_MAX_CTL	8

struct sched {
	char		*conf_path;
	char		*cluster_name;		/* NULL if slurm.conf has none */
	char		*ctl_addr[SCHED_MAX_CTL];	/* SlurmctldHost addresses */
	size_t		 nctl;
	unsigned	 port;
	char		 controller[320];	/* "host:port" */
	int		 job_requeue;		/* JobRequeue */
	unsigned	 msg_timeout;		/* MessageTimeout, s */
	long		 timeout_s;
	int		 inited;		/* slurm_init() done */
	int		 ctl_checked;		/* slurmctld's release checked */
	char		 err[1024];
};

/*
 * One libslurm call run in a worker thread.  fn fills result (and sets
 * free_result so an abandoned call can free it) and returns 0, or
 * returns -1 with slurm's errno set.  Inputs: id, str (owned, freed with
 * the rpc), start, minutes, end, flags.
 */
struct rpc {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 done;
	int		 abandoned;
	int		 (*fn)(struct rpc *);
	int		 rc;
	int		 serr;		/* libslurm's errno after a failure */
	void		*result;
	void		(*free_result)(void *);
	uint32_t	 id;
	char		*str;
	time_t		 start;
	uint32_t	 minutes;
	time_t		 end;		/* reservation update: new end, 0 = keep */
	uint64_t	 flags;		/* reservation update: RESERVE_FLAG_* to set */
	/* set by sched_rpc on a handle's first RPC: ask slurmctld its
	 * version first, and run fn only if it is of the release built for */
	int		 check_version;
	int		 version_error;	/* the check failed (ctl_version says) */
	char		*ctl_version;	/* slurmctld's, NULL if it did not answer */
};

struct rpc *rpc_new(int (*fn)(struct rpc *));
void rpc_free(struct rpc *r);
int sched_rpc(struct sched *s, struct rpc *r, const char *what, int *serr_out);
int sched_load(struct sched *s, int (*fn)(struct rpc *), const char *what, void **result);
void sched_seterr(struct sched *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
