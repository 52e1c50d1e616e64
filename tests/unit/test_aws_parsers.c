/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_aws_parsers.c - the AWS answer parsers, error classes and local helpers
 * of agent/aws (no network: bodies as the services send them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/creds.h"
#include "aws/ec2.h"
#include "aws/fleet.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "aws/ssm.h"
#include "cu.h"

#define S(x) x, strlen(x)

static void
test_xml_error(void)
{
	struct aws_error e = { 0 };
	const char *b = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
	    "<Code>UnauthorizedOperation</Code><Message>You are not authorized to perform "
	    "this operation.</Message></Error></Errors><RequestID>r-1</RequestID></Response>";

	CU_ASSERT_EQUAL(aws_parse_xml_error(S(b), &e), 0);
	CU_ASSERT_STRING_EQUAL(e.code, "UnauthorizedOperation");
	CU_ASSERT_STRING_EQUAL(e.message, "You are not authorized to perform this operation.");
	/* the other shape (STS, moto's auth): ErrorResponse/Error */
	memset(&e, 0, sizeof(e));
	CU_ASSERT_EQUAL(aws_parse_xml_error(S("<ErrorResponse><Error><Type>Sender</Type><Code>"
	    "SignatureDoesNotMatch</Code><Message>bad\nsig</Message></Error></ErrorResponse>"), &e), 0);
	CU_ASSERT_STRING_EQUAL(e.code, "SignatureDoesNotMatch");
	CU_ASSERT_STRING_EQUAL(e.message, "bad sig");	/* one line */
	CU_ASSERT_EQUAL(aws_parse_xml_error(S("not xml"), &e), -1);
	CU_ASSERT_EQUAL(aws_parse_xml_error(S("<a><b/></a>"), &e), -1);
	CU_ASSERT_EQUAL(aws_parse_xml_error(NULL, 0, &e), -1);
}

static void
test_json_error(void)
{
	struct aws_error e = { 0 };

	CU_ASSERT_EQUAL(aws_parse_json_error(S("{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
	    "ConditionalCheckFailedException\",\"message\":\"The conditional request failed\"}"), &e), 0);
	CU_ASSERT_STRING_EQUAL(e.code, "ConditionalCheckFailedException");
	CU_ASSERT_STRING_EQUAL(e.message, "The conditional request failed");
	memset(&e, 0, sizeof(e));
	CU_ASSERT_EQUAL(aws_parse_json_error(S("{\"__type\":\"AccessDeniedException\",\"Message\":\"no\"}"), &e), 0);
	CU_ASSERT_STRING_EQUAL(e.code, "AccessDeniedException");
	CU_ASSERT_STRING_EQUAL(e.message, "no");
	CU_ASSERT_EQUAL(aws_parse_json_error(S("[1,2]"), &e), -1);
	CU_ASSERT_EQUAL(aws_parse_json_error(S("{\"__type\": 3}"), &e), -1);
	CU_ASSERT_EQUAL(aws_parse_json_error(S("{"), &e), -1);
}

static void
test_retry_and_classes(void)
{
	/* retried: throttling, 5xx, 429 */
	CU_ASSERT_TRUE(aws_retryable(503, "RequestLimitExceeded"));
	CU_ASSERT_TRUE(aws_retryable(400, "ThrottlingException"));
	CU_ASSERT_TRUE(aws_retryable(400, "ProvisionedThroughputExceededException"));
	CU_ASSERT_TRUE(aws_retryable(500, ""));
	CU_ASSERT_TRUE(aws_retryable(429, ""));
	/* never: client errors */
	CU_ASSERT_FALSE(aws_retryable(403, "UnauthorizedOperation"));
	CU_ASSERT_FALSE(aws_retryable(400, "ConditionalCheckFailedException"));
	CU_ASSERT_FALSE(aws_retryable(400, "ValidationException"));
	CU_ASSERT_FALSE(aws_retryable(412, "DryRunOperation"));

	CU_ASSERT_EQUAL(aws_classify(403, "UnauthorizedOperation"), AWS_E_DENIED);
	CU_ASSERT_EQUAL(aws_classify(400, "AccessDeniedException"), AWS_E_DENIED);
	CU_ASSERT_EQUAL(aws_classify(403, ""), AWS_E_DENIED);
	CU_ASSERT_EQUAL(aws_classify(403, "SignatureDoesNotMatch"), AWS_E_AUTH);
	CU_ASSERT_EQUAL(aws_classify(401, "AuthFailure"), AWS_E_AUTH);
	CU_ASSERT_EQUAL(aws_classify(400, "ExpiredTokenException"), AWS_E_AUTH);
	CU_ASSERT_EQUAL(aws_classify(400, "ConditionalCheckFailedException"), AWS_E_CONFLICT);
	CU_ASSERT_EQUAL(aws_classify(400, "ResourceNotFoundException"), AWS_E_NOTFOUND);
	CU_ASSERT_EQUAL(aws_classify(400, "InvalidInstanceID.NotFound"), AWS_E_NOTFOUND);
	CU_ASSERT_EQUAL(aws_classify(412, "DryRunOperation"), AWS_E_SERVICE);
	CU_ASSERT_EQUAL(aws_rc_exit(AWS_E_DENIED), 5);
	CU_ASSERT_EQUAL(aws_rc_exit(AWS_E_TIMEOUT), 4);
	CU_ASSERT_EQUAL(aws_rc_exit(AWS_E_CONFLICT), 1);
	CU_ASSERT_EQUAL(aws_rc_exit(AWS_OK), 0);
}

static const char instances_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
    "<requestId>x</requestId><reservationSet><item><reservationId>r-1</reservationId>"
    "<instancesSet><item><instanceId>i-0abc</instanceId><instanceState><code>80</code>"
    "<name>stopped</name></instanceState><instanceType>c5d.large</instanceType>"
    "<placement><availabilityZone>eu-west-1a</availabilityZone></placement>"
    "<launchTime>2026-01-02T03:04:05.000Z</launchTime><tagSet>"
    "<item><key>parallelcluster:node-type</key><value>HeadNode</value></item>"
    "<item><key>Name</key><value></value></item></tagSet></item>"
    "<item><instanceId>i-0def</instanceId><instanceState><code>16</code><name>running</name>"
    "</instanceState></item></instancesSet></item></reservationSet>"
    "<nextToken>tok2</nextToken></DescribeInstancesResponse>";

static void
test_ec2_instances(void)
{
	struct ec2_instances l = { 0 };
	char *next = NULL;

	CU_ASSERT_EQUAL_FATAL(ec2_parse_instances(S(instances_xml), &l, &next, NULL), AWS_OK);
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_STRING_EQUAL(l.v[0].id, "i-0abc");
	CU_ASSERT_STRING_EQUAL(l.v[0].state, "stopped");
	CU_ASSERT_EQUAL(l.v[0].state_code, 80);
	CU_ASSERT_STRING_EQUAL(l.v[0].type, "c5d.large");
	CU_ASSERT_STRING_EQUAL(l.v[0].az, "eu-west-1a");
	CU_ASSERT_EQUAL(l.v[0].ntags, 2);
	CU_ASSERT_STRING_EQUAL(ec2_tag(&l.v[0], "parallelcluster:node-type"), "HeadNode");
	CU_ASSERT_STRING_EQUAL(ec2_tag(&l.v[0], "Name"), "");
	CU_ASSERT_PTR_NULL(ec2_tag(&l.v[0], "nope"));
	CU_ASSERT_EQUAL(l.v[0].instance_store, -1);
	CU_ASSERT_STRING_EQUAL(l.v[1].type, "unknown");
	CU_ASSERT_STRING_EQUAL(next, "tok2");
	free(next);
	/* a second page appends */
	CU_ASSERT_EQUAL(ec2_parse_instances(S(instances_xml), &l, NULL, NULL), AWS_OK);
	CU_ASSERT_EQUAL(l.n, 4);
	ec2_instances_free(&l);
	CU_ASSERT_EQUAL(l.n, 0);
	ec2_instances_free(&l);	/* twice: harmless */

	struct aws_error e = { 0 };
	CU_ASSERT_EQUAL(ec2_parse_instances(S("<Other/>"), &l, NULL, &e), AWS_E_PARSE);
	CU_ASSERT_STRING_EQUAL(e.message, "EC2 answer: expected <DescribeInstancesResponse>");
	CU_ASSERT_EQUAL(ec2_parse_instances(S("<<<"), &l, NULL, &e), AWS_E_PARSE);
	CU_ASSERT_EQUAL(l.n, 0);
}

static void
test_ec2_status(void)
{
	const char *x =
	    "<DescribeInstanceStatusResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	    "<instanceStatusSet><item><instanceId>i-0abc</instanceId>"
	    "<instanceState><code>16</code><name>running</name></instanceState>"
	    "<systemStatus><status>impaired</status></systemStatus>"
	    "<instanceStatus><status>ok</status></instanceStatus>"
	    "<eventsSet><item><instanceEventId>instance-event-1</instanceEventId>"
	    "<code>instance-retirement</code><description>The instance is running on degraded "
	    "hardware</description><notBefore>2030-02-01T00:00:00.000Z</notBefore>"
	    "<notBeforeDeadline>2030-02-08T00:00:00Z</notBeforeDeadline></item></eventsSet>"
	    "</item></instanceStatusSet></DescribeInstanceStatusResponse>";
	struct ec2_statuses l = { 0 };

	CU_ASSERT_EQUAL_FATAL(ec2_parse_instance_status(S(x), &l, NULL), AWS_OK);
	CU_ASSERT_EQUAL_FATAL(l.n, 1);
	CU_ASSERT_STRING_EQUAL(l.v[0].state, "running");
	CU_ASSERT_STRING_EQUAL(l.v[0].system_status, "impaired");
	CU_ASSERT_STRING_EQUAL(l.v[0].instance_status, "ok");
	CU_ASSERT_EQUAL_FATAL(l.v[0].nevents, 1);
	CU_ASSERT_STRING_EQUAL(l.v[0].events[0].code, "instance-retirement");
	CU_ASSERT_STRING_EQUAL(l.v[0].events[0].id, "instance-event-1");
	CU_ASSERT_EQUAL(l.v[0].events[0].not_before, 1896134400);
	CU_ASSERT_EQUAL(l.v[0].events[0].not_before_deadline, 1896739200);
	CU_ASSERT_EQUAL(l.v[0].events[0].not_after, 0);
	ec2_statuses_free(&l);
}

static void
test_fleet_item(void)
{
	struct fleet_item it;
	struct aws_error e = { 0 };

	CU_ASSERT_EQUAL(fleet_parse_item(S("{\"Item\":{\"Id\":{\"S\":\"COMPUTE_FLEET\"},\"Data\":"
	    "{\"M\":{\"status\":{\"S\":\"STOPPING\"},\"lastStatusUpdatedTime\":{\"S\":"
	    "\"2021-12-21 18:12:07.485674+00:00\"}}}}}"), &it, &e), AWS_OK);
	CU_ASSERT_EQUAL(it.status, FLEET_STOPPING);
	CU_ASSERT_EQUAL(it.legacy, 0);
	CU_ASSERT_STRING_EQUAL(it.last_updated, "2021-12-21 18:12:07.485674+00:00");
	CU_ASSERT_EQUAL(fleet_parse_item(S("{\"Item\":{\"Id\":{\"S\":\"COMPUTE_FLEET\"},"
	    "\"Status\":{\"S\":\"RUNNING\"}}}"), &it, &e), AWS_OK);
	CU_ASSERT_EQUAL(it.status, FLEET_RUNNING);
	CU_ASSERT_EQUAL(it.legacy, 1);
	CU_ASSERT_STRING_EQUAL(it.last_updated, "");
	/* a status we do not know is kept as text */
	CU_ASSERT_EQUAL(fleet_parse_item(S("{\"Item\":{\"Status\":{\"S\":\"ENABLED\"}}}"), &it, &e), AWS_OK);
	CU_ASSERT_EQUAL(it.status, FLEET_UNKNOWN);
	CU_ASSERT_STRING_EQUAL(it.status_str, "ENABLED");
	CU_ASSERT_EQUAL(fleet_parse_item(S("{}"), &it, &e), AWS_E_NOTFOUND);
	CU_ASSERT_EQUAL(fleet_parse_item(S("{\"Item\":{\"Data\":{\"M\":{}}}}"), &it, &e), AWS_E_PARSE);
	CU_ASSERT_EQUAL(fleet_parse_item(S("{\"Item\":{\"Status\":{\"N\":\"1\"}}}"), &it, &e), AWS_E_PARSE);
	CU_ASSERT_EQUAL(fleet_parse_item(S("nope"), &it, &e), AWS_E_PARSE);

	for (int s = FLEET_UNKNOWN; s <= FLEET_PROTECTED; s++)
		CU_ASSERT_EQUAL((int)fleet_status_parse(fleet_status_str((enum fleet_status)s)), s);
	CU_ASSERT_EQUAL(fleet_status_parse("running"), FLEET_UNKNOWN);

	char *t = fleet_table_name(NULL, "c1");
	CU_ASSERT_STRING_EQUAL(t, "parallelcluster-c1");
	free(t);
	t = fleet_table_name("mine", "c1");
	CU_ASSERT_STRING_EQUAL(t, "mine");
	free(t);
	CU_ASSERT_PTR_NULL(fleet_table_name(NULL, NULL));
	CU_ASSERT_PTR_NULL(fleet_table_name("", ""));
}

static void
test_imds_events(void)
{
	const char *j = "[ {\n  \"NotBefore\" : \"21 Jan 2019 09:00:43 GMT\",\n  \"Code\" : "
	    "\"system-reboot\",\n  \"Description\" : \"scheduled reboot\",\n  \"EventId\" : "
	    "\"instance-event-0d59937288b749b32\",\n  \"NotAfter\" : \"21 Jan 2019 09:17:23 GMT\",\n"
	    "  \"State\" : \"active\"\n}, {\"Code\": \"instance-stop\", \"EventId\": \"e2\", "
	    "\"State\": \"canceled\", \"NotBeforeDeadline\": \"2019-01-28T00:00:00Z\"},"
	    " {\"Description\": \"no code: skipped\"}, 7 ]";
	struct imds_events ev;
	struct aws_error e = { 0 };

	CU_ASSERT_EQUAL_FATAL(imds_events_parse(S(j), &ev, &e), AWS_OK);
	CU_ASSERT_EQUAL_FATAL(ev.n, 2);
	CU_ASSERT_STRING_EQUAL(ev.v[0].code, "system-reboot");
	CU_ASSERT_STRING_EQUAL(ev.v[0].event_id, "instance-event-0d59937288b749b32");
	CU_ASSERT_STRING_EQUAL(ev.v[0].description, "scheduled reboot");
	CU_ASSERT_EQUAL(ev.v[0].state, IMDS_EVENT_ACTIVE);
	CU_ASSERT_EQUAL(ev.v[0].not_before, 1548061243);
	CU_ASSERT_EQUAL(ev.v[0].not_after, 1548062243);
	CU_ASSERT_EQUAL(ev.v[0].not_before_deadline, 0);
	CU_ASSERT_EQUAL(ev.v[1].state, IMDS_EVENT_CANCELED);
	CU_ASSERT_EQUAL(ev.v[1].not_before_deadline, 1548633600);
	CU_ASSERT_STRING_EQUAL(ev.v[1].description, "");
	imds_events_free(&ev);
	imds_events_free(&ev);

	CU_ASSERT_EQUAL(imds_events_parse(S("[]"), &ev, &e), AWS_OK);
	CU_ASSERT_EQUAL(ev.n, 0);
	CU_ASSERT_EQUAL(imds_events_parse(S("  \n"), &ev, &e), AWS_OK);
	CU_ASSERT_EQUAL(ev.n, 0);
	CU_ASSERT_EQUAL(imds_events_parse(S("{\"Code\":1}"), &ev, &e), AWS_E_PARSE);
	CU_ASSERT_STRING_EQUAL(e.message, "scheduled events: not a JSON list");
	CU_ASSERT_EQUAL(imds_events_parse(S("[{"), &ev, &e), AWS_E_PARSE);

	CU_ASSERT_EQUAL(imds_parse_time("21 Jan 2019 09:00:43 GMT"), 1548061243);
	CU_ASSERT_EQUAL(imds_parse_time("2019-01-21T09:00:43Z"), 1548061243);
	CU_ASSERT_EQUAL(imds_parse_time("2019-01-21T09:00:43.123Z"), 1548061243);
	CU_ASSERT_EQUAL(imds_parse_time("2019-01-21T11:00:43+02:00"), 1548061243);
	CU_ASSERT_EQUAL(imds_parse_time("21 Jan 2019 09:00:43 PST"), -1);
	CU_ASSERT_EQUAL(imds_parse_time("yesterday"), -1);
	CU_ASSERT_EQUAL(imds_parse_time(NULL), -1);
}

static void
test_ssm_execution(void)
{
	struct ssm_execution x;

	CU_ASSERT_EQUAL(ssm_parse_execution(S("{\"AutomationExecution\":{\"AutomationExecutionStatus\":"
	    "\"InProgress\"}}"), &x, NULL), AWS_OK);
	CU_ASSERT_STRING_EQUAL(x.status, "InProgress");
	CU_ASSERT_FALSE(x.done);
	CU_ASSERT_EQUAL(ssm_parse_execution(S("{\"AutomationExecution\":{\"AutomationExecutionStatus\":"
	    "\"Failed\",\"FailureMessage\":\"Step fails\"}}"), &x, NULL), AWS_OK);
	CU_ASSERT_TRUE(x.done);
	CU_ASSERT_FALSE(x.success);
	CU_ASSERT_STRING_EQUAL(x.failure, "Step fails");
	CU_ASSERT_EQUAL(ssm_parse_execution(S("{\"AutomationExecution\":{\"AutomationExecutionStatus\":"
	    "\"Success\"}}"), &x, NULL), AWS_OK);
	CU_ASSERT_TRUE(x.done && x.success);
	CU_ASSERT_EQUAL(ssm_parse_execution(S("{}"), &x, NULL), AWS_E_PARSE);
}

static char tmpdir[] = "/tmp/pcm-test-aws.XXXXXX";

static int
setup(void)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *
writefile(const char *name, const char *text)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	CU_ASSERT_FATAL(fp != NULL);
	fputs(text, fp);
	fclose(fp);
	return path;
}

static void
test_creds_files(void)
{
	struct aws_creds c;
	struct aws_error e = { 0 };
	char path[256], *r;

	snprintf(path, sizeof(path), "%s",
	    writefile("credentials", "# comment\n[default]\naws_access_key_id = AKIADEF\n"
	    "aws_secret_access_key=sdef\n\n[ other ]\n aws_access_key_id = AKIAOTH \n"
	    "aws_secret_access_key = soth\naws_session_token = tok\n[half]\naws_access_key_id=x\n"));
	CU_ASSERT_EQUAL(creds_from_file(path, "default", 0, &c, &e), AWS_OK);
	CU_ASSERT_STRING_EQUAL(c.access_key_id, "AKIADEF");
	CU_ASSERT_STRING_EQUAL(c.secret_access_key, "sdef");
	CU_ASSERT_PTR_NULL(c.session_token);
	creds_clear(&c);
	CU_ASSERT_PTR_NULL(c.access_key_id);
	CU_ASSERT_EQUAL(creds_from_file(path, "other", 0, &c, &e), AWS_OK);
	CU_ASSERT_STRING_EQUAL(c.access_key_id, "AKIAOTH");
	CU_ASSERT_STRING_EQUAL(c.session_token, "tok");
	creds_clear(&c);
	CU_ASSERT_EQUAL(creds_from_file(path, "half", 0, &c, &e), AWS_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "has only one of"));
	CU_ASSERT_EQUAL(creds_from_file(path, "nope", 0, &c, &e), AWS_E_NOTFOUND);
	CU_ASSERT_EQUAL(creds_from_file("/nonexistent/x", "default", 0, &c, &e), AWS_E_NOTFOUND);

	/* the config file: [profile X], but [default] */
	snprintf(path, sizeof(path), "%s", writefile("config", "[default]\nregion = eu-west-1\n"
	    "[profile dev]\nregion=us-west-2\naws_access_key_id=AKIADEV\naws_secret_access_key=sdev\n"
	    "[dev]\nregion=wrong\n"));
	r = creds_ini_get(path, "default", 1, "region");
	CU_ASSERT_STRING_EQUAL(r, "eu-west-1");
	free(r);
	r = creds_ini_get(path, "dev", 1, "region");
	CU_ASSERT_STRING_EQUAL(r, "us-west-2");
	free(r);
	CU_ASSERT_PTR_NULL(creds_ini_get(path, "dev", 1, "output"));
	CU_ASSERT_EQUAL(creds_from_file(path, "dev", 1, &c, &e), AWS_OK);
	CU_ASSERT_STRING_EQUAL(c.access_key_id, "AKIADEV");
	creds_clear(&c);

	/* the chain: environment first, files next, then a message naming all */
	unsetenv("AWS_PROFILE");
	setenv("AWS_SHARED_CREDENTIALS_FILE", writefile("c2", "[p]\naws_access_key_id=AKIAP\n"
	    "aws_secret_access_key=sp\n"), 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
	CU_ASSERT_EQUAL(creds_resolve(NULL, "p", &c, &e), AWS_OK);
	CU_ASSERT_STRING_EQUAL(c.access_key_id, "AKIAENV");
	CU_ASSERT_STRING_EQUAL(c.source, "environment");
	creds_clear(&c);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	CU_ASSERT_EQUAL(creds_resolve(NULL, "p", &c, &e), AWS_E_AUTH);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "must be set together"));
	unsetenv("AWS_ACCESS_KEY_ID");
	CU_ASSERT_EQUAL(creds_resolve(NULL, "p", &c, &e), AWS_OK);
	CU_ASSERT_STRING_EQUAL(c.access_key_id, "AKIAP");
	CU_ASSERT_PTR_NOT_NULL(strstr(c.source, "credentials file"));
	creds_clear(&c);
	/* a profile asked for by name must exist */
	CU_ASSERT_EQUAL(creds_resolve(NULL, "q", &c, &e), AWS_E_CONFIG);
	CU_ASSERT_STRING_EQUAL(e.code, "ProfileNotFound");
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "AWS profile [q] not found"));
	/* no profile named, nothing found, no IMDS: the whole chain is named */
	CU_ASSERT_EQUAL(creds_resolve(NULL, NULL, &c, &e), AWS_E_AUTH);
	CU_ASSERT_STRING_EQUAL(e.code, "NoCredentials");
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "no profile [default]"));
	/* what we cannot do is said, not skipped */
	setenv("AWS_SHARED_CREDENTIALS_FILE", writefile("c3", "[sso]\nsso_session = x\n"
	    "[assume]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n"), 1);
	CU_ASSERT_EQUAL(creds_resolve(NULL, "assume", &c, &e), AWS_E_CONFIG);
	CU_ASSERT_STRING_EQUAL(e.code, "UnsupportedProfile");
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "uses role_arn"));
	CU_ASSERT_EQUAL(creds_resolve(NULL, "sso", &c, &e), AWS_E_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "uses sso_session"));
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");

	c.expiration = time(NULL) + 100;
	CU_ASSERT_TRUE(creds_expiring(&c, 300));
	c.expiration = time(NULL) + 1000;
	CU_ASSERT_FALSE(creds_expiring(&c, 300));
	c.expiration = 0;
	CU_ASSERT_FALSE(creds_expiring(&c, 300));
}

static void
test_endpoints_and_region(void)
{
	struct aws_opts o = { .region = "eu-north-1" };
	struct aws *a = aws_new(&o);
	struct aws_error e = { 0 };
	char *u;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_EC2");
	unsetenv("AWS_ENDPOINT_URL_SSM");
	unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
	CU_ASSERT_STRING_EQUAL(aws_region(a, &e), "eu-north-1");
	u = aws_endpoint(a, AWS_SVC_EC2, &e);
	CU_ASSERT_STRING_EQUAL(u, "https://ec2.eu-north-1.amazonaws.com");
	free(u);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/", 1);
	setenv("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:6000", 1);
	u = aws_endpoint(a, AWS_SVC_DYNAMODB, &e);
	CU_ASSERT_STRING_EQUAL(u, "http://127.0.0.1:5000");
	free(u);
	u = aws_endpoint(a, AWS_SVC_SSM, &e);
	CU_ASSERT_STRING_EQUAL(u, "http://127.0.0.1:6000");
	free(u);
	setenv("AWS_ENDPOINT_URL_EC2", "ftp://x", 1);
	CU_ASSERT_PTR_NULL(aws_endpoint(a, AWS_SVC_EC2, &e));
	CU_ASSERT_STRING_EQUAL(e.code, "BadEndpoint");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_EC2");
	unsetenv("AWS_ENDPOINT_URL_SSM");
	aws_free(a);
	aws_free(NULL);

	/* no region anywhere, IMDS disabled: a message saying where to set it */
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	a = aws_new(NULL);
	CU_ASSERT_PTR_NULL(aws_region(a, &e));
	CU_ASSERT_STRING_EQUAL(e.code, "NoRegion");
	CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "AWS_EC2_METADATA_DISABLED"));
	aws_free(a);
	setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
	a = aws_new(NULL);
	CU_ASSERT_STRING_EQUAL(aws_region(a, &e), "ap-south-1");
	aws_free(a);
	setenv("AWS_REGION", "cn-north-1", 1);
	a = aws_new(NULL);
	u = aws_endpoint(a, AWS_SVC_EC2, &e);
	CU_ASSERT_STRING_EQUAL(u, "https://ec2.cn-north-1.amazonaws.com.cn");
	free(u);
	aws_free(a);
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_EC2_METADATA_DISABLED");

	u = aws_urlencode("a b/c~d=é");
	CU_ASSERT_STRING_EQUAL(u, "a%20b%2Fc~d%3D%C3%A9");
	free(u);
}

static const struct cu_test tests[] = {
	{ "EC2 XML errors", test_xml_error },
	{ "JSON errors", test_json_error },
	{ "retries and error classes", test_retry_and_classes },
	{ "DescribeInstances", test_ec2_instances },
	{ "DescribeInstanceStatus", test_ec2_status },
	{ "compute fleet item", test_fleet_item },
	{ "IMDS scheduled events", test_imds_events },
	{ "SSM execution", test_ssm_execution },
	{ "credentials files and chain", test_creds_files },
	{ "endpoints and region", test_endpoints_and_region },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("aws parsers", tests, setup, teardown)
