/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sched_cluster.c - partitions, nodes and the maintenance reservation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "output.h"
#include "sched_int.h"

static int
dup_opt(char **dst, const char *src)
{
	if (src == NULL) {
		*dst = NULL;
		return 0;
	}
	return (*dst = strdup(src)) != NULL ? 0 : -ENOMEM;
}

/* --- partitions --- */

const char *
sched_partition_state_name(uint16_t state_up)
{
	switch (state_up) {
	case PARTITION_UP:
		return "UP";
	case PARTITION_DOWN:
		return "DOWN";
	case PARTITION_DRAIN:
		return "DRAIN";
	case PARTITION_INACTIVE:
		return "INACTIVE";
	default:
		return "UNKNOWN";
	}
}

static void
free_part_msg(void *p)
{
	slurm_free_partition_info_msg(p);
}

static int
rpc_load_partitions(struct rpc *r)
{
	partition_info_msg_t *msg = NULL;

	r->free_result = free_part_msg;
	if (slurm_load_partitions((time_t)0, &msg, SHOW_ALL) != SLURM_SUCCESS)
		return -1;
	r->result = msg;
	return 0;
}

void
sched_partition_list_free(struct sched_partition_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].state);
		free(l->v[i].nodes);
	}
	free(l->v);
	free(l);
}

int
sched_partitions_load(struct sched *s, struct sched_partition_list **out)
{
	struct sched_partition_list *l = NULL;
	partition_info_msg_t *msg = NULL;
	int rc;

	*out = NULL;
	if ((rc = sched_load(s, rpc_load_partitions, "load partitions", (void **)&msg)) < 0)
		return rc;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (msg->record_count > 0 &&
		(l->v = calloc(msg->record_count, sizeof(*l->v))) == NULL)) {
		rc = -ENOMEM;
		goto nomem;
	}
	for (uint32_t i = 0; i < msg->record_count; i++) {
		const partition_info_t *pi = &msg->partition_array[i];
		struct sched_partition *p = &l->v[l->n++];
		p->total_nodes = pi->total_nodes;
		p->is_default = (pi->flags & PART_FLAG_DEFAULT) != 0;
		if (dup_opt(&p->name, pi->name) < 0 || dup_opt(&p->nodes, pi->nodes) < 0 ||
		    dup_opt(&p->state, sched_partition_state_name(pi->state_up)) < 0) {
			rc = -ENOMEM;
			goto nomem;
		}
	}
	*out = l;
	l = NULL;
	rc = 0;
	goto out;
nomem:
	sched_seterr(s, "cannot load partitions: out of memory");
out:
	slurm_free_partition_info_msg(msg);
	sched_partition_list_free(l);
	return rc;
}

/* --- nodes --- */

const char *
sched_node_state_format(uint32_t state, char *buf, size_t len)
{
	static const char *const base_names[] = {
		[NODE_STATE_UNKNOWN] = "UNKNOWN",
		[NODE_STATE_DOWN] = "DOWN",
		[NODE_STATE_IDLE] = "IDLE",
		[NODE_STATE_ALLOCATED] = "ALLOCATED",
		[NODE_STATE_ERROR] = "ERROR",
		[NODE_STATE_MIXED] = "MIXED",
		[NODE_STATE_FUTURE] = "FUTURE",
	};
	static const struct {
		uint32_t	 flag;
		const char	*name;
	} flags[] = {
		{ NODE_STATE_DRAIN, "DRAIN" },
		{ NODE_STATE_COMPLETING, "COMPLETING" },
		{ NODE_STATE_NO_RESPOND, "NOT_RESPONDING" },
		{ NODE_STATE_POWERED_DOWN, "POWERED_DOWN" },
		{ NODE_STATE_POWERING_DOWN, "POWERING_DOWN" },
		{ NODE_STATE_POWERING_UP, "POWERING_UP" },
		{ NODE_STATE_POWER_DOWN, "POWER_DOWN" },
		{ NODE_STATE_FAIL, "FAIL" },
		{ NODE_STATE_MAINT, "MAINTENANCE" },
		{ NODE_STATE_RES, "RESERVED" },
		{ NODE_STATE_REBOOT_REQUESTED, "REBOOT_REQUESTED" },
		{ NODE_STATE_CLOUD, "CLOUD" },
	};
	uint32_t base = state & NODE_STATE_BASE;
	size_t off;

	snprintf(buf, len, "%s", base < sizeof(base_names) / sizeof(base_names[0]) &&
	    base_names[base] != NULL ? base_names[base] : "UNKNOWN");
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (!(state & flags[i].flag))
			continue;
		off = strlen(buf);
		if (off < len)
			snprintf(buf + off, len - off, "+%s", flags[i].name);
	}
	return buf;
}

static void
free_node_msg(void *p)
{
	slurm_free_node_info_msg(p);
}

static int
rpc_load_nodes(struct rpc *r)
{
	node_info_msg_t *msg = NULL;

	r->free_result = free_node_msg;
	if (slurm_load_node((time_t)0, &msg, SHOW_ALL) != SLURM_SUCCESS)
		return -1;
	r->result = msg;
	return 0;
}

void
sched_node_list_free(struct sched_node_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].state);
	}
	free(l->v);
	free(l);
}

int
sched_nodes_load(struct sched *s, struct sched_node_list **out)
{
	struct sched_node_list *l = NULL;
	node_info_msg_t *msg = NULL;
	char buf[256];
	int rc;

	*out = NULL;
	if ((rc = sched_load(s, rpc_load_nodes, "load nodes", (void **)&msg)) < 0)
		return rc;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (msg->record_count > 0 &&
		(l->v = calloc(msg->record_count, sizeof(*l->v))) == NULL)) {
		rc = -ENOMEM;
		goto nomem;
	}
	for (uint32_t i = 0; i < msg->record_count; i++) {
		const node_info_t *ni = &msg->node_array[i];
		struct sched_node *n;
		uint32_t base = ni->node_state & NODE_STATE_BASE;
		if (ni->name == NULL)	/* hole in the node table */
			continue;
		n = &l->v[l->n++];
		n->state_raw = ni->node_state;
		n->allocated = base == NODE_STATE_ALLOCATED || base == NODE_STATE_MIXED;
		n->responding = !(ni->node_state & NODE_STATE_NO_RESPOND);
		n->powered_down = (ni->node_state &
		    (NODE_STATE_POWERED_DOWN | NODE_STATE_POWERING_DOWN)) != 0;
		if (dup_opt(&n->name, ni->name) < 0 ||
		    dup_opt(&n->state, sched_node_state_format(ni->node_state, buf, sizeof(buf))) < 0) {
			rc = -ENOMEM;
			goto nomem;
		}
	}
	*out = l;
	l = NULL;
	rc = 0;
	goto out;
nomem:
	sched_seterr(s, "cannot load nodes: out of memory");
out:
	slurm_free_node_info_msg(msg);
	sched_node_list_free(l);
	return rc;
}

/* --- reservations --- */

static void
free_resv_msg(void *p)
{
	slurm_free_reservation_info_msg(p);
}

static int
rpc_load_resv(struct rpc *r)
{
	reserve_info_msg_t *msg = NULL;

	r->free_result = free_resv_msg;
	if (slurm_load_reservations((time_t)0, &msg) != SLURM_SUCCESS)
		return -1;
	r->result = msg;
	return 0;
}

void
sched_resv_free(struct sched_resv *r)
{
	if (r == NULL)
		return;
	free(r->name);
	free(r->nodes);
	free(r->users);
	free(r);
}

int
sched_resv_get(struct sched *s, const char *name, struct sched_resv **out)
{
	reserve_info_msg_t *msg = NULL;
	struct sched_resv *res = NULL;
	int rc;

	*out = NULL;
	if ((rc = sched_load(s, rpc_load_resv, "load reservations", (void **)&msg)) < 0)
		return rc;
	rc = -ENOENT;
	sched_seterr(s, "no reservation %s in Slurm", name);
	for (uint32_t i = 0; i < msg->record_count; i++) {
		const reserve_info_t *ri = &msg->reservation_array[i];
		if (ri->name == NULL || strcmp(ri->name, name) != 0)
			continue;
		if ((res = calloc(1, sizeof(*res))) == NULL ||
		    dup_opt(&res->name, ri->name) < 0 || dup_opt(&res->nodes, ri->node_list) < 0 ||
		    dup_opt(&res->users, ri->users) < 0) {
			sched_seterr(s, "cannot load reservations: out of memory");
			rc = -ENOMEM;
			goto out;
		}
		res->start_time = ri->start_time;
		res->end_time = ri->end_time;
		res->flags = ri->flags;
		res->maint = (ri->flags & RESERVE_FLAG_MAINT) != 0;
		res->ignore_jobs = (ri->flags & RESERVE_FLAG_IGN_JOBS) != 0;
		*out = res;
		res = NULL;
		rc = 0;
		break;
	}
out:
	slurm_free_reservation_info_msg(msg);
	sched_resv_free(res);
	return rc;
}

static int
rpc_create_resv(struct rpc *r)
{
	resv_desc_msg_t d;
	char *made;

	r->free_result = free;
	slurm_init_resv_desc_msg(&d);
	d.name = r->str;
	d.start_time = r->start;
	d.duration = r->minutes;
	d.flags = RESERVE_FLAG_MAINT | RESERVE_FLAG_IGN_JOBS;
	d.users = "root";
	d.node_list = "ALL";
	if ((made = slurm_create_reservation(&d)) == NULL)
		return -1;
	r->result = made;
	return 0;
}

int
sched_maint_start(struct sched *s, const char *name, time_t start, long duration_s,
    int *created)
{
	struct sched_resv *old = NULL;
	struct rpc *r;
	int rc, serr;

	if (created != NULL)
		*created = 0;
	if (duration_s <= 0) {
		sched_seterr(s, "cannot create reservation %s: duration must be positive", name);
		return -EINVAL;
	}
	rc = sched_resv_get(s, name, &old);
	if (rc == 0) {
		sched_resv_free(old);
		return 0;	/* already there: change nothing */
	}
	if (rc != -ENOENT)
		return rc;
	if ((r = rpc_new(rpc_create_resv)) == NULL || (r->str = strdup(name)) == NULL) {
		rpc_free(r);
		sched_seterr(s, "cannot create reservation %s: out of memory", name);
		return -ENOMEM;
	}
	r->start = start > 0 ? start : time(NULL);
	r->minutes = (uint32_t)((duration_s + 59) / 60);
	if ((rc = sched_rpc(s, r, "create the maintenance reservation", &serr)) < 0) {
		/* someone made it between our look and our create */
		if (rc == -EIO && serr == ESLURM_RESERVATION_NAME_DUP)
			return 0;
		return rc;
	}
	free(r->result);
	rpc_free(r);
	if (created != NULL)
		*created = 1;
	return 0;
}

static int
rpc_delete_resv(struct rpc *r)
{
	reservation_name_msg_t m = { .name = r->str };

	return slurm_delete_reservation(&m) == SLURM_SUCCESS ? 0 : -1;
}

int
sched_maint_end(struct sched *s, const char *name, int *deleted)
{
	struct rpc *r;
	int rc, serr;

	if (deleted != NULL)
		*deleted = 0;
	if ((r = rpc_new(rpc_delete_resv)) == NULL || (r->str = strdup(name)) == NULL) {
		rpc_free(r);
		sched_seterr(s, "cannot delete reservation %s: out of memory", name);
		return -ENOMEM;
	}
	if ((rc = sched_rpc(s, r, "delete the maintenance reservation", &serr)) < 0) {
		if (rc == -EIO && serr == ESLURM_RESERVATION_INVALID)
			return 0;	/* none: nothing to do */
		return rc;
	}
	rpc_free(r);
	if (deleted != NULL)
		*deleted = 1;
	return 0;
}

struct json_object *
sched_resv_to_json(const struct sched_resv *r)
{
	struct json_object *o = json_object_new_object();
	char ts[32];

	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "start_time",
	    json_object_new_string(output_iso8601(r->start_time, ts, sizeof(ts))));
	json_object_object_add(o, "end_time",
	    json_object_new_string(output_iso8601(r->end_time, ts, sizeof(ts))));
	json_object_object_add(o, "nodes", r->nodes ? json_object_new_string(r->nodes) : NULL);
	json_object_object_add(o, "users", r->users ? json_object_new_string(r->users) : NULL);
	json_object_object_add(o, "maint", json_object_new_boolean(r->maint));
	json_object_object_add(o, "ignore_jobs", json_object_new_boolean(r->ignore_jobs));
	json_object_object_add(o, "active", json_object_new_boolean(r->start_time <= time(NULL) &&
	    time(NULL) < r->end_time));
	return o;
}
