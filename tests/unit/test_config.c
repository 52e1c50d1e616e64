/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_config.c - the config parser, discovery and every error message */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "config.h"
#include "cu.h"
#include "log.h"

static char tmpdir[] = "/tmp/pcm-test-config.XXXXXX";

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

/* parse text; return 0/-1 and leave the message in err */
static int
parse(struct pcm_config *cfg, const char *text, struct cfg_error *err)
{
	CU_ASSERT_FATAL(config_init(cfg) == 0);
	return config_read_buf(cfg, "t.conf", text, strlen(text), err);
}

static void
expect_error(const char *text, const char *msg)
{
	struct pcm_config cfg;
	struct cfg_error err = { "" };

	CU_ASSERT_EQUAL(parse(&cfg, text, &err), -1);
	if (strcmp(err.msg, msg) != 0)
		fprintf(stderr, "\n  input: %s\n  want: %s\n  got:  %s\n", text, msg, err.msg);
	CU_ASSERT_STRING_EQUAL(err.msg, msg);
	config_free(&cfg);
}

static void
test_defaults(void)
{
	struct pcm_config cfg;

	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	CU_ASSERT_STRING_EQUAL(cfg.state_dir, "/var/lib/pcm-agent");
	CU_ASSERT_STRING_EQUAL(cfg.ephemeral_dir, "/scratch");
	CU_ASSERT_STRING_EQUAL(cfg.reservation_name, "pcm-maintenance");
	CU_ASSERT_STRING_EQUAL(cfg.restart_method, "none");
	CU_ASSERT_EQUAL(cfg.slurm_timeout, 30);
	CU_ASSERT_EQUAL(cfg.fleet_timeout, 900);
	CU_ASSERT_EQUAL(cfg.delta_min_size, 64L << 20);
	CU_ASSERT_EQUAL(cfg.auto_prepare, 0);
	CU_ASSERT_EQUAL(cfg.notify_wall, 1);
	CU_ASSERT_PTR_NULL(cfg.cluster_name);
	CU_ASSERT_EQUAL(cfg.src[0], CFG_SRC_DEFAULT);
	config_free(&cfg);
}

static void
test_good_file(void)
{
	struct pcm_config cfg;
	struct cfg_error err = { "" };
	const char *text =
	    "# comment\n"
	    "\n"
	    "   state_dir   =   /tmp/x   \n"
	    "cluster_name=alpha-1\n"
	    "workers = 8\n"
	    "fleet_timeout = 1h30m\n"
	    "auto_prepare = Yes\n"
	    "delta_min_size = 8MiB\n"
	    "restart_method = stop-start\n"
	    "webhook_template = \"  {Code} # at {NotBefore}  \"\n"
	    "webhook_header = Authorization: Bearer s3cret\n"
	    "webhook_header = X-Team: hpc\n"
	    "webhook_url = https://hooks.example.com/services/T0/B0/abc\n";

	CU_ASSERT_EQUAL_FATAL(parse(&cfg, text, &err), 0);
	CU_ASSERT_STRING_EQUAL(cfg.state_dir, "/tmp/x");
	CU_ASSERT_STRING_EQUAL(cfg.cluster_name, "alpha-1");
	CU_ASSERT_EQUAL(cfg.workers, 8);
	CU_ASSERT_EQUAL(cfg.fleet_timeout, 5400);
	CU_ASSERT_EQUAL(cfg.auto_prepare, 1);
	CU_ASSERT_EQUAL(cfg.delta_min_size, 8L << 20);
	CU_ASSERT_STRING_EQUAL(cfg.restart_method, "stop-start");
	CU_ASSERT_STRING_EQUAL(cfg.webhook_template, "  {Code} # at {NotBefore}  ");
	CU_ASSERT_EQUAL_FATAL(cfg.webhook_header.n, 2);
	CU_ASSERT_STRING_EQUAL(cfg.webhook_header.v[1], "X-Team: hpc");
	CU_ASSERT_EQUAL(cfg.src[0], CFG_SRC_FILE);
	CU_ASSERT_STRING_EQUAL(cfg.src_detail[0], "t.conf:3");

	/* the printed config never shows header values or the webhook path */
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	config_print(&cfg, fp);
	fclose(fp);
	CU_ASSERT_PTR_NULL(strstr(buf, "s3cret"));
	CU_ASSERT_PTR_NULL(strstr(buf, "T0/B0/abc"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "Authorization: ***"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "https://hooks.example.com/***"));
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "# config file: t.conf:4"));
	free(buf);
	struct json_object *j = config_to_json(&cfg);
	const char *js = json_object_to_json_string(j);
	CU_ASSERT_PTR_NULL(strstr(js, "s3cret"));
	CU_ASSERT_PTR_NULL(strstr(js, "abc"));
	json_object_put(j);
	config_free(&cfg);
}

static void
test_errors(void)
{
	expect_error("bogus = 1\n", "t.conf:1: unknown key 'bogus' (see pcm-agent.conf(5))");
	expect_error("# c\nstate_dir\n", "t.conf:2: expected 'key = value', got 'state_dir'");
	expect_error("state_dir = relative/dir\n",
	    "t.conf:1: state_dir: 'relative/dir' is not an absolute path");
	expect_error("workers = many\n",
	    "t.conf:1: workers: 'many' is not a whole number from 0 to 256");
	expect_error("workers = 257\n",
	    "t.conf:1: workers: '257' is not a whole number from 0 to 256");
	expect_error("workers = -1\n",
	    "t.conf:1: workers: '-1' is not a whole number from 0 to 256");
	expect_error("fleet_timeout = 5x\n",
	    "t.conf:1: fleet_timeout: '5x' is not a duration from 1s to 1d (e.g. 90s, 15m, 2h, 1d)");
	expect_error("fleet_timeout = 0\n",
	    "t.conf:1: fleet_timeout: '0' is not a duration from 1s to 1d (e.g. 90s, 15m, 2h, 1d)");
	expect_error("auto_prepare = maybe\n", "t.conf:1: auto_prepare: 'maybe' is not yes or no");
	expect_error("restart_method = halt\n",
	    "t.conf:1: restart_method: 'halt' is not one of none|reboot|stop-start");
	expect_error("cluster_name = a b\n",
	    "t.conf:1: cluster_name: 'a b' is not a valid name (letters, digits, '-', '_', '.')");
	expect_error("delta_min_size = 3Q\n",
	    "t.conf:1: delta_min_size: '3Q' is not a size (e.g. 4096, 64K, 8M, 1G)");
	expect_error("webhook_url = ftp://x\n",
	    "t.conf:1: webhook_url: not an http:// or https:// URL (it begins 'ftp')");
	expect_error("workers = 2\nworkers = 3\n", "t.conf:2: workers: set twice (first at line 1)");
	expect_error("target =\n", "t.conf:1: target: empty value (remove the line to use the default)");
	expect_error("target = \"/x\n", "t.conf:1: target: unbalanced quote in '\"/x'");
}

static void
test_nul_byte(void)
{
	struct pcm_config cfg;
	struct cfg_error err = { "" };

	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	CU_ASSERT_EQUAL(config_read_buf(&cfg, "t.conf", "workers = 1\0x", 13, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.msg, "t.conf: contains a NUL byte: not a text file");
	config_free(&cfg);
}

static void
test_parsers(void)
{
	long v;

	CU_ASSERT(parse_duration("90", &v) == 0 && v == 90);
	CU_ASSERT(parse_duration("2h", &v) == 0 && v == 7200);
	CU_ASSERT(parse_duration("1d2h3m4s", &v) == 0 && v == 93784);
	CU_ASSERT(parse_duration("1h30", &v) == -1);
	CU_ASSERT(parse_duration("", &v) == -1);
	CU_ASSERT(parse_duration("h", &v) == -1);
	CU_ASSERT(parse_duration("99999999999999999999d", &v) == -1);
	CU_ASSERT(parse_size("64K", &v) == 0 && v == 65536);
	CU_ASSERT(parse_size("1G", &v) == 0 && v == 1L << 30);
	CU_ASSERT(parse_size("1GB", &v) == 0 && v == 1L << 30);
	CU_ASSERT(parse_size("K", &v) == -1);
	CU_ASSERT(parse_bool("off", &v) == 0 && v == 0);
	CU_ASSERT(parse_bool("TRUE", &v) == 0 && v == 1);
	CU_ASSERT(parse_bool("2", &v) == -1);
	char b[32];
	CU_ASSERT_STRING_EQUAL(format_duration(5400, b, sizeof(b)), "1h30m");
	CU_ASSERT_STRING_EQUAL(format_duration(0, b, sizeof(b)), "0s");
	CU_ASSERT_STRING_EQUAL(format_duration(86401, b, sizeof(b)), "1d1s");
}

static void
test_file_missing(void)
{
	struct pcm_config cfg;
	struct cfg_error err = { "" };
	char path[256];

	snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	/* the default file may be absent; one given with -c must exist */
	CU_ASSERT_EQUAL(config_read_file(&cfg, path, 0, &err), 0);
	CU_ASSERT_EQUAL(config_read_file(&cfg, path, 1, &err), -1);
	char want[512];
	snprintf(want, sizeof(want), "cannot read config file %s: No such file or directory", path);
	CU_ASSERT_STRING_EQUAL(err.msg, want);
	/* a FIFO or a directory at the path is refused at once, never waited on */
	snprintf(path, sizeof(path), "%s/fifo.conf", tmpdir);
	CU_ASSERT_EQUAL_FATAL(mkfifo(path, 0600), 0);
	CU_ASSERT_EQUAL(config_read_file(&cfg, path, 1, &err), -1);
	snprintf(want, sizeof(want), "cannot read config file %s: not a regular file", path);
	CU_ASSERT_STRING_EQUAL(err.msg, want);
	CU_ASSERT_EQUAL(config_read_file(&cfg, tmpdir, 1, &err), -1);
	snprintf(want, sizeof(want), "cannot read config file %s: is a directory", tmpdir);
	CU_ASSERT_STRING_EQUAL(err.msg, want);
	config_free(&cfg);
}

static void
test_discovery(void)
{
	struct pcm_config cfg;
	struct cfg_error err = { "" };
	const char *cfn = writefile("cfnconfig",
	    "stack_name=prod-hpc\n"
	    "export cfn_region='eu-west-1'\n"
	    "cfn_ephemeral_dir=\"/local/scratch\"\n"
	    "cfn_node_type=HeadNode\n");
	char *cfnpath = strdup(cfn);
	const char *slurmconf = writefile("slurm.conf", "ClusterName=x\n");

	setenv("SLURM_CONF", slurmconf, 1);
	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	CU_ASSERT_EQUAL_FATAL(config_set(&cfg, "cfnconfig", cfnpath, CFG_SRC_CMDLINE, NULL, &err), 0);
	/* the file beats discovery */
	CU_ASSERT_EQUAL_FATAL(config_read_buf(&cfg, "t.conf", "region = us-east-2\n", 19, &err), 0);
	CU_ASSERT_EQUAL_FATAL(config_discover(&cfg, &err), 0);
	CU_ASSERT_STRING_EQUAL(cfg.cluster_name, "prod-hpc");
	CU_ASSERT_STRING_EQUAL(cfg.region, "us-east-2");
	CU_ASSERT_STRING_EQUAL(cfg.ephemeral_dir, "/local/scratch");
	CU_ASSERT_STRING_EQUAL(cfg.slurm_conf, slurmconf);
	CU_ASSERT_STRING_EQUAL(cfg.fleet_table, "parallelcluster-prod-hpc");
	config_free(&cfg);

	/* the command line beats the file */
	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	CU_ASSERT_EQUAL(config_read_buf(&cfg, "t.conf", "state_dir = /a\n", 15, &err), 0);
	CU_ASSERT_EQUAL(config_set(&cfg, "state_dir", "/b", CFG_SRC_CMDLINE, "--state-dir", &err), 0);
	CU_ASSERT_STRING_EQUAL(cfg.state_dir, "/b");
	CU_ASSERT_EQUAL(config_set(&cfg, "nokey", "/b", CFG_SRC_CMDLINE, "--x", &err), -1);
	CU_ASSERT_STRING_EQUAL(err.msg, "--x: unknown key 'nokey'");
	config_free(&cfg);

	/* a missing cfnconfig is not an error: off EC2, nothing is discovered */
	unsetenv("SLURM_CONF");
	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	CU_ASSERT_EQUAL(config_set(&cfg, "cfnconfig", "/nonexistent/cfnconfig", CFG_SRC_FILE, "x", &err), 0);
	CU_ASSERT_EQUAL(config_discover(&cfg, &err), 0);
	CU_ASSERT_PTR_NULL(cfg.cluster_name);
	CU_ASSERT_STRING_EQUAL(cfg.ephemeral_dir, "/scratch");
	config_free(&cfg);

	/* a discovered value that is not valid names its origin */
	const char *bad = writefile("cfnbad", "stack_name=bad name\n");
	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	CU_ASSERT_EQUAL(config_set(&cfg, "cfnconfig", bad, CFG_SRC_FILE, "x", &err), 0);
	CU_ASSERT_EQUAL(config_discover(&cfg, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cfnbad stack_name: cluster_name: 'bad name' is not a valid name"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "set cluster_name in the config file to override"));
	config_free(&cfg);
	free(cfnpath);
}

static void
test_shipped_example(void)
{
	struct pcm_config cfg;
	struct cfg_error err = { "" };
	const char *top = getenv("PCM_TOP");
	char path[1024];

	snprintf(path, sizeof(path), "%s/packaging/pcm-agent.conf", top ? top : ".");
	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	int rc = config_read_file(&cfg, path, 1, &err);
	if (rc)
		fprintf(stderr, "%s\n", err.msg);
	CU_ASSERT_EQUAL(rc, 0);
	config_free(&cfg);

	/* and every commented-out "#key = value" line in it parses too */
	FILE *fp = fopen(path, "r");
	CU_ASSERT_FATAL(fp != NULL);
	char line[1024];
	size_t nkeys_seen = 0;
	while (fgets(line, sizeof(line), fp)) {
		if (line[0] != '#' || line[1] == ' ' || line[1] == '#' || line[1] == '\n')
			continue;
		CU_ASSERT_FATAL(config_init(&cfg) == 0);
		rc = config_read_buf(&cfg, path, line + 1, strlen(line + 1), &err);
		if (rc)
			fprintf(stderr, "%s\n", err.msg);
		CU_ASSERT_EQUAL(rc, 0);
		config_free(&cfg);
		nkeys_seen++;
	}
	fclose(fp);
	CU_ASSERT(nkeys_seen >= 10);
}

/* user:password and ?token= in webhook_url: never in config check (text,
 * JSON) nor in the error for a bad URL */
static void
test_url_secrets_redacted(void)
{
	struct pcm_config cfg;
	struct cfg_error err = { "" };
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	CU_ASSERT_EQUAL_FATAL(parse(&cfg, "webhook_url = https://alice:pa55w0rd@hooks.example.com"
	    "/hook?token=t0kval\n", &err), 0);
	fp = open_memstream(&buf, &len);
	config_print(&cfg, fp);
	fclose(fp);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "https://***@hooks.example.com/***"));
	CU_ASSERT_PTR_NULL(strstr(buf, "pa55w0rd"));
	CU_ASSERT_PTR_NULL(strstr(buf, "alice"));
	CU_ASSERT_PTR_NULL(strstr(buf, "t0kval"));
	free(buf);
	struct json_object *j = config_to_json(&cfg);
	const char *js = json_object_to_json_string(j);
	CU_ASSERT_PTR_NULL(strstr(js, "pa55w0rd"));
	CU_ASSERT_PTR_NULL(strstr(js, "alice"));
	CU_ASSERT_PTR_NULL(strstr(js, "t0kval"));
	json_object_put(j);
	config_free(&cfg);

	CU_ASSERT_EQUAL(parse(&cfg, "webhook_url = htps://alice:pa55w0rd@h/?token=t0kval\n",
	    &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "not an http:// or https:// URL"));
	CU_ASSERT_PTR_NULL(strstr(err.msg, "pa55w0rd"));
	CU_ASSERT_PTR_NULL(strstr(err.msg, "t0kval"));
	config_free(&cfg);
}

static int
read_it(void *path)
{
	struct pcm_config cfg;
	struct cfg_error err = { "" };
	int rc;

	CU_ASSERT_FATAL(config_init(&cfg) == 0);
	rc = config_read_file(&cfg, path, 1, &err);
	config_free(&cfg);
	return rc;
}

/* a config holding a secret, readable by others: warned about, the fix named */
static void
test_exposed_secret_warned(void)
{
	const char *path;
	char *log;
	int rc;

	path = writefile("secret.conf", "webhook_header = Authorization: Bearer s3cret\n");
	CU_ASSERT_FATAL(chown(path, 0, 0) == 0 || geteuid() != 0);
	CU_ASSERT_FATAL(chmod(path, 0644) == 0);
	log = cu_capture_log(0, read_it, (void *)path, &rc);
	CU_ASSERT_EQUAL(rc, 0);
	if (geteuid() == 0) {
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "holds a secret (webhook_header) and is "
		    "readable by other users (mode 0644"));
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "chmod 0640"));
	} else {
		CU_ASSERT_PTR_NOT_NULL(strstr(log, "not root"));
	}
	CU_ASSERT_PTR_NULL(strstr(log, "s3cret"));
	free(log);

	/* 0640 root:root: nothing to say */
	CU_ASSERT_FATAL(chmod(path, 0640) == 0);
	log = cu_capture_log(0, read_it, (void *)path, &rc);
	if (geteuid() == 0)
		CU_ASSERT_STRING_EQUAL(log, "");
	free(log);

	/* no secret: 0644 is fine */
	path = writefile("plain.conf", "workers = 2\nwebhook_url = https://h.example.com/\n");
	CU_ASSERT_FATAL(chmod(path, 0644) == 0);
	log = cu_capture_log(0, read_it, (void *)path, &rc);
	if (geteuid() == 0)
		CU_ASSERT_STRING_EQUAL(log, "");
	free(log);

	/* the same checks on a stat, for every case */
	struct pcm_config cfg;
	struct cfg_error err = { "" };
	struct stat st = { .st_uid = 0, .st_gid = 0, .st_mode = S_IFREG | 0644 };
	char w[512];

	CU_ASSERT_EQUAL_FATAL(parse(&cfg, "webhook_url = https://u:p@h/\n", &err), 0);
	CU_ASSERT_EQUAL(config_file_exposed(&cfg, "/c", &st, w, sizeof(w)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(w, "holds a secret (webhook_url)"));
	st.st_mode = S_IFREG | 0640;
	CU_ASSERT_EQUAL(config_file_exposed(&cfg, "/c", &st, w, sizeof(w)), 0);
	st.st_gid = 100;	/* group-readable by a group other than root's */
	CU_ASSERT_EQUAL(config_file_exposed(&cfg, "/c", &st, w, sizeof(w)), 1);
	st.st_mode = S_IFREG | 0600;
	CU_ASSERT_EQUAL(config_file_exposed(&cfg, "/c", &st, w, sizeof(w)), 0);
	st.st_uid = 1000;
	CU_ASSERT_EQUAL(config_file_exposed(&cfg, "/c", &st, w, sizeof(w)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(w, "owned by uid 1000, not root"));
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(parse(&cfg, "webhook_url = http://h?token=x\n", &err), 0);
	st = (struct stat){ .st_mode = S_IFREG | 0604 };
	CU_ASSERT_EQUAL(config_file_exposed(&cfg, "/c", &st, w, sizeof(w)), 1);
	config_free(&cfg);
	CU_ASSERT_EQUAL_FATAL(parse(&cfg, "workers = 2\n", &err), 0);
	CU_ASSERT_EQUAL(config_file_exposed(&cfg, "/c", &st, w, sizeof(w)), 0);
	st.st_mode = S_IFREG | 0646;	/* writable by anyone: always */
	CU_ASSERT_EQUAL(config_file_exposed(&cfg, "/c", &st, w, sizeof(w)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(w, "writable by other users"));
	config_free(&cfg);
}

static const struct cu_test tests[] = {
	{ "defaults", test_defaults },
	{ "good file, sources, secrets masked", test_good_file },
	{ "every error message", test_errors },
	{ "NUL byte", test_nul_byte },
	{ "duration, size, bool parsers", test_parsers },
	{ "missing file", test_file_missing },
	{ "discovery and precedence", test_discovery },
	{ "shipped example config", test_shipped_example },
	{ "webhook_url user:password, ?token= redacted", test_url_secrets_redacted },
	{ "config with a secret readable by others: warned", test_exposed_secret_warned },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("config", tests, setup, teardown)
