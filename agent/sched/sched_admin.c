/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sched_admin.c - the few Slurm changes resume makes after a fleet start:
 * partitions back UP (aws-parallelcluster #707) and nodes left powering up
 * or down from before the stop reset (aws-parallelcluster-node #327).
 * Declared at the end of sched.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "sched_int.h"

static int
rpc_part_up(struct rpc *r)
{
	update_part_msg_t m;

	slurm_init_part_desc_msg(&m);
	m.name = r->str;
	m.state_up = PARTITION_UP;
	return slurm_update_partition(&m) == SLURM_SUCCESS ? 0 : -1;
}

int
sched_partition_set_up(struct sched *s, const char *name)
{
	struct rpc *r;
	int rc;

	if ((r = rpc_new(rpc_part_up)) == NULL || (r->str = strdup(name)) == NULL) {
		rpc_free(r);
		sched_seterr(s, "cannot set partition %s UP: out of memory", name);
		return -ENOMEM;
	}
	if ((rc = sched_rpc(s, r, "set a partition UP", NULL)) < 0)
		return rc;
	rpc_free(r);
	return 0;
}

/* r->id: the node_state to set; r->str: "NODES\nREASON" */
static int
rpc_node_state(struct rpc *r)
{
	update_node_msg_t m;
	char *nl = strchr(r->str, '\n');

	slurm_init_update_node_msg(&m);
	if (nl != NULL)
		*nl = '\0';
	m.node_names = r->str;
	m.node_state = r->id;
	if (nl != NULL && nl[1] != '\0')
		m.reason = nl + 1;
	return slurm_update_node(&m) == SLURM_SUCCESS ? 0 : -1;
}

static int
node_update(struct sched *s, const char *nodes, uint32_t state, const char *reason,
    const char *what)
{
	struct rpc *r;
	int rc;

	if ((r = rpc_new(rpc_node_state)) == NULL ||
	    asprintf(&r->str, "%s\n%s", nodes, reason ? reason : "") < 0) {
		if (r != NULL)
			r->str = NULL;
		rpc_free(r);
		sched_seterr(s, "cannot %s %s: out of memory", what, nodes);
		return -ENOMEM;
	}
	r->id = state;
	if ((rc = sched_rpc(s, r, what, NULL)) < 0)
		return rc;
	rpc_free(r);
	return 0;
}

int
sched_node_power_down_force(struct sched *s, const char *nodes, const char *reason)
{
	return node_update(s, nodes, NODE_STATE_POWER_DOWN | NODE_STATE_POWERED_DOWN, reason,
	    "power down");
}

int
sched_node_resume(struct sched *s, const char *nodes)
{
	return node_update(s, nodes, NODE_RESUME, NULL, "resume");
}

/*
 * Stuck: POWERING_UP across the stop (aws-parallelcluster-node #327: such a
 * node waits ResumeTimeout after the start before Slurm gives up on it).
 * POWERING_DOWN is what the fleet stop itself leaves for SuspendTimeout: it
 * ends by itself and is not reset.
 */
int
sched_node_stuck(const struct sched_node *n)
{
	return (n->state_raw & NODE_STATE_POWERING_UP) != 0;
}
