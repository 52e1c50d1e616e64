/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aws/fleet.h - the ParallelCluster compute-fleet status item in DynamoDB.
 *
 * Table parallelcluster-<cluster> (or the configured fleet_table), item
 * Id = "COMPUTE_FLEET", in either format:
 *   3.2.0+   Data (M) = { status (S), lastStatusUpdatedTime (S) }
 *   older    Status (S), LastUpdatedTime (S)
 *
 * Writes are what `pcluster update-compute-fleet` does: read the status,
 * then one conditional write (UpdateItem "set #dt.#st=:s, #dt.#lut=:t" with
 * the condition Data.status = <status read>; PutItem with Status = <read>
 * for the old format).  Only STOP_REQUESTED and START_REQUESTED are ever
 * written; clusterstatusmgtd on the head node does the rest.  A write lost to
 * a concurrent writer is AWS_E_CONFLICT and is never retried over the other
 * writer's value.
 *
 * Errors follow http.h (AWS_OK or a negative enum aws_rc, err filled).
 */
#ifndef PCM_AWS_FLEET_H
#define PCM_AWS_FLEET_H

#include "aws/http.h"

enum fleet_status {
	FLEET_UNKNOWN = 0,
	FLEET_START_REQUESTED,
	FLEET_STARTING,
	FLEET_RUNNING,
	FLEET_STOP_REQUESTED,
	FLEET_STOPPING,
	FLEET_STOPPED,
	FLEET_PROTECTED,
};

/* "RUNNING", ...; "UNKNOWN" for FLEET_UNKNOWN. */
const char *fleet_status_str(enum fleet_status s);
/* FLEET_UNKNOWN for anything else. */
enum fleet_status fleet_status_parse(const char *s);

struct fleet_item {
	enum fleet_status status;
	char	 status_str[32];	/* as stored (also when UNKNOWN) */
	char	 last_updated[64];	/* as stored, "" if absent */
	int	 legacy;		/* 1: flat pre-3.2 item */
};

/* The table name: fleet_table if set, else "parallelcluster-<cluster>".
 * malloc'd (caller frees); NULL if both are NULL/empty or out of memory. */
char *fleet_table_name(const char *fleet_table, const char *cluster);

/* GetItem (consistent read).  AWS_E_NOTFOUND when the table or the item is
 * missing (message says which and what to check). */
int fleet_get(struct aws *a, const char *table, struct fleet_item *out, struct aws_error *err);

/* Parse a GetItem answer (for tests and the fuzzer).  AWS_E_NOTFOUND when it
 * has no Item; AWS_E_PARSE when the item has neither format. */
int fleet_parse_item(const char *json, size_t len, struct fleet_item *out, struct aws_error *err);

enum fleet_action {
	FLEET_STOP,	/* write STOP_REQUESTED, wait for STOPPED */
	FLEET_START,	/* write START_REQUESTED, wait for RUNNING */
};

/* What fleet_request() did. */
enum fleet_outcome {
	FLEET_WROTE,	/* the *_REQUESTED status was written */
	FLEET_ALREADY,	/* already requested, in progress or done: nothing written */
};

/*
 * Read, check, write conditionally.
 *   STOP:  RUNNING -> STOP_REQUESTED; STOP_REQUESTED/STOPPING/STOPPED: ALREADY;
 *          START_REQUESTED/STARTING: AWS_E_REFUSED (a start is in progress).
 *   START: STOPPED -> START_REQUESTED; START_REQUESTED/STARTING/RUNNING: ALREADY;
 *          STOP_REQUESTED/STOPPING: AWS_E_REFUSED (a stop is in progress).
 *   PROTECTED: AWS_E_REFUSED for both.  UNKNOWN: AWS_E_PARSE.
 * before (may be NULL) gets the item read; *outcome (may be NULL) what was
 * done.  AWS_E_CONFLICT when the item changed between read and write: the
 * message names the status found after.
 */
int fleet_request(struct aws *a, const char *table, enum fleet_action action,
    struct fleet_item *before, enum fleet_outcome *outcome, struct aws_error *err);

/*
 * Permission probe for the write fleet_request() would make (UpdateItem, or
 * PutItem when legacy) without changing anything: the same call with a
 * condition that can never hold.  ConditionalCheckFailed means allowed
 * (AWS_OK); AWS_E_DENIED when not.
 */
int fleet_check_write(struct aws *a, const char *table, int legacy, struct aws_error *err);

/* Called on every poll of fleet_wait(); may be NULL. */
typedef void (*fleet_progress_fn)(const struct fleet_item *now, long elapsed_s, void *arg);

/*
 * Poll until STOPPED (FLEET_STOP) or RUNNING (FLEET_START), every poll_ms,
 * at most timeout_s (AWS_E_TIMEOUT).  A status outside the path
 * (e.g. START_REQUESTED while stopping) ends the wait with AWS_E_CONFLICT.
 * last (may be NULL) gets the last item read.
 */
int fleet_wait(struct aws *a, const char *table, enum fleet_action action, long timeout_s,
    long poll_ms, fleet_progress_fn progress, void *arg, struct fleet_item *last,
    struct aws_error *err);

#endif
