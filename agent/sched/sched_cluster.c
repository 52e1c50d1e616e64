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
	free(r->accounts);
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
		    dup_opt(&res->users, ri->users) < 0 ||
		    dup_opt(&res->accounts, ri->accounts) < 0) {
			sched_seterr(s, "cannot load reservations: out of memory");
			rc = -ENOMEM;
			goto out;
		}
		res->start_time = ri->start_time;
		res->end_time = ri->end_time;
		res->flags = ri->flags;
		res->node_cnt = ri->node_cnt;
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

/* Flags that let jobs into a maintenance reservation or make it go away
 * before the restart: FLEX (jobs may use nodes outside it), ANY_NODES (a
 * licence/burst-buffer reservation that holds no nodes), PURGE_COMP (deleted
 * once idle), MAGNETIC (jobs join it without asking). */
#define MAINT_BAD_FLAGS	(RESERVE_FLAG_FLEX | RESERVE_FLAG_ANY_NODES | \
	RESERVE_FLAG_PURGE_COMP | RESERVE_FLAG_MAGNETIC)
#define MAINT_FIX_FLAGS	(RESERVE_FLAG_MAINT | RESERVE_FLAG_IGN_JOBS | RESERVE_FLAG_NO_FLEX | \
	RESERVE_FLAG_NO_ANY_NODES | RESERVE_FLAG_NO_PURGE_COMP | RESERVE_FLAG_NO_MAGNETIC)

/* r->id: SCHED_MAINT_* bits to correct; r->start, r->end: new times (0 =
 * keep); r->flags: flags to set (0 = keep). */
static int
rpc_update_resv(struct rpc *r)
{
	resv_desc_msg_t d;

	slurm_init_resv_desc_msg(&d);
	d.name = r->str;
	if (r->start > 0)
		d.start_time = r->start;
	if (r->end > 0)
		d.end_time = r->end;
	if (r->flags != 0)
		d.flags = r->flags;
	if (r->id & SCHED_MAINT_NODES)
		d.node_list = "ALL";
	if (r->id & SCHED_MAINT_USERS)
		d.users = "root";
	return slurm_update_reservation(&d) == SLURM_SUCCESS ? 0 : -1;
}

/* What keeps r from holding back every job now and until want_end. */
static unsigned
maint_faults(const struct sched_resv *r, time_t now, time_t want_end, size_t nnodes)
{
	unsigned f = 0;

	if (r->start_time > now)
		f |= SCHED_MAINT_STARTED;
	if (r->end_time < want_end)
		f |= SCHED_MAINT_EXTENDED;
	if (!(r->flags & RESERVE_FLAG_MAINT) || !(r->flags & RESERVE_FLAG_IGN_JOBS) ||
	    (r->flags & MAINT_BAD_FLAGS))
		f |= SCHED_MAINT_FLAGS;
	if (r->node_cnt < nnodes)
		f |= SCHED_MAINT_NODES;
	if (r->users == NULL || strcmp(r->users, "root") != 0)
		f |= SCHED_MAINT_USERS;
	return f;
}

const char *
sched_maint_changes(unsigned c, char *buf, size_t len)
{
	static const struct {
		unsigned	 bit;
		const char	*what;
	} names[] = {
		{ SCHED_MAINT_CREATED, "created" },
		{ SCHED_MAINT_STARTED, "start moved to now" },
		{ SCHED_MAINT_EXTENDED, "end moved later" },
		{ SCHED_MAINT_FLAGS, "flags corrected to MAINT,IGNORE_JOBS" },
		{ SCHED_MAINT_NODES, "now on all nodes" },
		{ SCHED_MAINT_USERS, "users now root only" },
	};
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(c & names[i].bit))
			continue;
		snprintf(buf + off, len - off, "%s%s", off > 0 ? ", " : "", names[i].what);
		off = strlen(buf);
	}
	if (off == 0)
		snprintf(buf, len, "already in force");
	return buf;
}

int
sched_maint_ensure(struct sched *s, const char *name, long duration_s, unsigned *changed)
{
	struct sched_node_list *nodes = NULL;
	struct sched_resv *r = NULL;
	struct rpc *u;
	time_t now = time(NULL), want_end = now + duration_s;
	unsigned fix;
	int created = 0, rc;

	if (changed != NULL)
		*changed = 0;
	if (duration_s <= 0) {
		sched_seterr(s, "cannot create reservation %s: duration must be positive", name);
		return -EINVAL;
	}
	if ((rc = sched_resv_get(s, name, &r)) == -ENOENT) {
		if ((rc = sched_maint_start(s, name, now, duration_s, &created)) < 0)
			return rc;
		if (created) {
			if (changed != NULL)
				*changed = SCHED_MAINT_CREATED;
			return 0;
		}
		/* made by someone else meanwhile: check it like any other */
		rc = sched_resv_get(s, name, &r);
	}
	if (rc < 0)
		return rc;
	if (r->accounts != NULL && *r->accounts != '\0') {
		sched_seterr(s, "reservation %s lets jobs of accounts %s in: it cannot keep jobs "
		    "from starting (delete it with `scontrol delete reservationname=%s` and run "
		    "again)", name, r->accounts, name);
		rc = -EINVAL;
		goto out;
	}
	if (r->flags & RESERVE_FLAG_TIME_FLOAT) {
		sched_seterr(s, "reservation %s has a floating start time (TIME_FLOAT): it is never "
		    "in force (delete it with `scontrol delete reservationname=%s` and run "
		    "again)", name, name);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = sched_nodes_load(s, &nodes)) < 0)
		goto out;
	if ((fix = maint_faults(r, now, want_end, nodes->n)) == 0)
		goto out;
	if ((u = rpc_new(rpc_update_resv)) == NULL || (u->str = strdup(name)) == NULL) {
		rpc_free(u);
		sched_seterr(s, "cannot update reservation %s: out of memory", name);
		rc = -ENOMEM;
		goto out;
	}
	u->id = fix;
	if (fix & SCHED_MAINT_STARTED)
		u->start = now;
	if (fix & (SCHED_MAINT_STARTED | SCHED_MAINT_EXTENDED))
		u->end = r->end_time > want_end ? r->end_time : want_end;
	if (fix & SCHED_MAINT_FLAGS)
		u->flags = MAINT_FIX_FLAGS;
	if ((rc = sched_rpc(s, u, "update the maintenance reservation", NULL)) < 0)
		goto out;
	rpc_free(u);
	/* read it back: only what Slurm holds counts */
	sched_resv_free(r);
	r = NULL;
	if ((rc = sched_resv_get(s, name, &r)) < 0)
		goto out;
	/* ALL may hold fewer nodes than the node table (FUTURE nodes): what the
	 * update made of it is all there is; a few seconds of slack for the
	 * controller's clock and a minute for its rounding of the end */
	if (maint_faults(r, time(NULL) + 5, want_end - 60, nodes->n) & ~SCHED_MAINT_NODES) {
		char a[32];
		sched_seterr(s, "reservation %s is still not a maintenance reservation in force "
		    "after the update (start %s, flags%s%s, users %s): check it with `scontrol "
		    "show reservation %s`", name, output_iso8601(r->start_time, a, sizeof(a)),
		    r->maint ? " MAINT" : "", r->ignore_jobs ? " IGNORE_JOBS" : "",
		    r->users ? r->users : "-", name);
		rc = -EIO;
		goto out;
	}
	if (changed != NULL)
		*changed = fix;
	rc = 0;
out:
	sched_node_list_free(nodes);
	sched_resv_free(r);
	return rc;
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
