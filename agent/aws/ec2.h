/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aws/ec2.h - the EC2 calls pcm-agent makes (query API 2016-11-15, XML
 * answers parsed with libxml2).
 *
 * Every action takes dry_run: with it set, EC2 checks the permission and does
 * nothing; HTTP 412 DryRunOperation means allowed (AWS_OK), 403
 * UnauthorizedOperation means not (AWS_E_DENIED, err->code says which).
 * Errors follow http.h: AWS_OK or a negative enum aws_rc, err filled.
 * Every struct returned is owned by the caller and freed with its _free().
 */
#ifndef PCM_AWS_EC2_H
#define PCM_AWS_EC2_H

#include <time.h>

#include "aws/http.h"

struct ec2_tag {
	char	*key;
	char	*value;
};

struct ec2_instance {
	char	*id;
	char	*state;		/* pending running stopping stopped shutting-down terminated */
	int	 state_code;
	char	*type;		/* c5d.large */
	char	*az;
	char	*launch_time;	/* as received, ISO 8601 */
	struct ec2_tag *tags;
	size_t	 ntags;
	int	 instance_store;/* -1 unknown; else 1/0: the type has instance storage
				   (filled by ec2_describe_instances from
				   DescribeInstanceTypes) */
	long	 instance_store_gb;
	char	*private_ip;	/* NULL when absent */
	char	*private_dns;	/* NULL when absent */
};

struct ec2_instances {
	struct ec2_instance *v;
	size_t	 n;
};

/* Value of tag key on inst (borrowed) or NULL. */
const char *ec2_tag(const struct ec2_instance *inst, const char *key);
void ec2_instances_free(struct ec2_instances *l);

/* A DescribeInstances filter: name and one value ("tag:Name", "x"). */
struct ec2_filter {
	const char	*name;
	const char	*value;
};

/*
 * DescribeInstances by ids (nids may be 0) and/or filters, all pages, then
 * DescribeInstanceTypes for the instance-store presence of each type (a
 * failure there leaves instance_store = -1 and is not an error).
 * dry_run: only the permission check (out may be NULL; stays empty).
 */
int ec2_describe_instances(struct aws *a, const char *const *ids, size_t nids,
    const struct ec2_filter *filters, size_t nfilters, int dry_run,
    struct ec2_instances *out, struct aws_error *err);

/*
 * The login nodes of a cluster (ParallelCluster 3.11+ login-node pools):
 * DescribeInstances with the filters tag:parallelcluster:node-type=LoginNode
 * and tag:parallelcluster:cluster-name=CLUSTER, MaxResults pages (1000;
 * PCM_TEST_EC2_PAGE_SIZE for the tests) followed through NextToken; the
 * instances that are terminated, shutting down or stopped (no shell to hang)
 * are left out, and no DescribeInstanceTypes is made.  out is owned by the
 * caller (ec2_instances_free).
 */
int ec2_login_nodes(struct aws *a, const char *cluster, struct ec2_instances *out,
    struct aws_error *err);

/* Parse one DescribeInstances answer, appending to out; *next_token gets the
 * malloc'd NextToken or NULL.  For tests and the fuzzer. */
int ec2_parse_instances(const char *xml, size_t len, struct ec2_instances *out,
    char **next_token, struct aws_error *err);

/* Stop / Start / Reboot one instance.  force: StopInstances Force=true. */
int ec2_stop_instance(struct aws *a, const char *id, int force, int dry_run, struct aws_error *err);
int ec2_start_instance(struct aws *a, const char *id, int dry_run, struct aws_error *err);
int ec2_reboot_instance(struct aws *a, const char *id, int dry_run, struct aws_error *err);

struct ec2_event {
	char	*id;		/* instance-event-... */
	char	*code;		/* instance-reboot, system-reboot, system-maintenance,
				   instance-retirement, instance-stop */
	char	*description;	/* "[Completed] ..." / "[Canceled] ..." for past ones */
	time_t	 not_before, not_after, not_before_deadline;	/* 0 if absent */
};

struct ec2_status {
	char	*id;
	char	*state;		/* instance state name */
	char	*system_status;	/* ok impaired initializing insufficient-data not-applicable */
	char	*instance_status;
	struct ec2_event *events;
	size_t	 nevents;
};

struct ec2_statuses {
	struct ec2_status *v;
	size_t	 n;
};
void ec2_statuses_free(struct ec2_statuses *l);

/* DescribeInstanceStatus of one instance, IncludeAllInstances=true (so a
 * stopped instance is listed).  An unknown id gives n == 0.  With dry_run
 * only the permission is checked and out may be NULL. */
int ec2_describe_instance_status(struct aws *a, const char *id, int dry_run,
    struct ec2_statuses *out, struct aws_error *err);
int ec2_parse_instance_status(const char *xml, size_t len, struct ec2_statuses *out,
    struct aws_error *err);

/* Called by the waiters after each poll; may be NULL. */
typedef void (*ec2_progress_fn)(const char *id, const char *what, long elapsed_s, void *arg);

/*
 * Wait until instance id is in state ("stopped", "running"), polling every
 * poll_ms, for at most timeout_s: AWS_E_TIMEOUT then.  A state that cannot
 * lead to the wanted one (terminated) ends the wait with AWS_E_SERVICE.
 */
int ec2_wait_state(struct aws *a, const char *id, const char *state, long timeout_s,
    long poll_ms, ec2_progress_fn progress, void *arg, struct aws_error *err);
/* Wait until running with both status checks "ok". */
int ec2_wait_status_ok(struct aws *a, const char *id, long timeout_s, long poll_ms,
    ec2_progress_fn progress, void *arg, struct aws_error *err);

#endif
