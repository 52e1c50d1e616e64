/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_patch.c - the OS update of --patch: distribution, commands, package
 * diff, kernels, and whole updates through tests/fakes/pkgmgr on PATH */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cu.h"
#include "journal.h"
#include "patch.h"
#include "plan_patch.h"

static char dir[] = "/tmp/pcm-test-patch.XXXXXX";
static char osr[256], mods[256], state[256], pkgdir[256], rr[256];

static void
put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	CU_ASSERT_FATAL(fp != NULL);
	fputs(text, fp);
	fclose(fp);
}

static char *
slurp(const char *path)
{
	static char buf[65536];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void
kernel_dir(const char *ver, int with_dep)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", mods, ver);
	mkdir(p, 0755);
	if (with_dep) {
		snprintf(p, sizeof(p), "%s/%s/modules.dep", mods, ver);
		put(p, "");
	}
}

static int
setup(void)
{
	char bin[PATH_MAX], fake[PATH_MAX], cmd[PATH_MAX * 2], *path;
	static const char *names[] = { "dnf", "yum", "apt-get", "rpm", "dpkg-query",
	    "needs-restarting", NULL };

	if (mkdtemp(dir) == NULL || realpath("tests/fakes/pkgmgr", fake) == NULL)
		return -1;
	snprintf(osr, sizeof(osr), "%s/os-release", dir);
	snprintf(mods, sizeof(mods), "%s/modules", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(pkgdir, sizeof(pkgdir), "%s/pkg", dir);
	snprintf(rr, sizeof(rr), "%s/reboot-required", dir);
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	mkdir(mods, 0755);
	mkdir(state, 0700);
	mkdir(pkgdir, 0755);
	mkdir(bin, 0755);
	for (int i = 0; names[i]; i++) {
		snprintf(cmd, sizeof(cmd), "%s/%s", bin, names[i]);
		if (symlink(fake, cmd) < 0)
			return -1;
	}
	if (asprintf(&path, "%s:%s", bin, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin") < 0)
		return -1;
	setenv("PATH", path, 1);
	free(path);
	setenv("FAKE_PKG_DIR", pkgdir, 1);
	setenv("PCM_TEST_MODULES_DIR", mods, 1);
	setenv("PCM_TEST_REBOOT_REQUIRED", rr, 1);
	setenv("PCM_TEST_KERNEL", "6.1.1", 1);
	return 0;
}

static int
teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct patch_cfg
cfg(void)
{
	struct patch_cfg c = { .state_dir = state, .exclude = PATCH_EXCLUDE_DEFAULT,
	    .timeout_s = 60, .os_release = osr, .modules_dir = mods, .reboot_required = rr,
	    .apt_preferences = "/nonexistent" };
	return c;
}

/* a fresh system: kernel 6.1.1 running and installed; updates for the
 * kernel, openssl and Slurm (which patch_exclude keeps) */
static void
fresh(const char *os)
{
	char cmd[PATH_MAX * 3];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/* %s/* %s/* %s", mods, state, pkgdir, rr);
	CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
	put(osr, os);
	kernel_dir("6.1.1", 1);
	snprintf(cmd, sizeof(cmd), "%s/installed", pkgdir);
	put(cmd, "kernel 6.1.1\nopenssl 3.0.1\nslurm 23.02.1\nmunge 0.5.15\nbash 5.2\n");
	snprintf(cmd, sizeof(cmd), "%s/updates", pkgdir);
	put(cmd, "slurm 23.11.0\nopenssl 3.0.2\nkernel 6.1.2\n");
	unsetenv("FAKE_PKG_FAIL");
	unsetenv("FAKE_PKG_HANG");
}

#define AL2023 "NAME=\"Amazon Linux\"\nVERSION_ID=\"2023\"\nID=\"amzn\"\n" \
	"PRETTY_NAME=\"Amazon Linux 2023\"\n"
#define UBUNTU "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n" \
	"PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n"

static void
test_detect(void)
{
	struct patch_cfg c = cfg();
	char name[128];

	put(osr, AL2023);
	CU_ASSERT_EQUAL(patch_detect(&c, name, sizeof(name)), PATCH_PM_DNF);
	CU_ASSERT_STRING_EQUAL(name, "Amazon Linux 2023");
	put(osr, "ID=\"amzn\"\nVERSION_ID=\"2\"\n");
	CU_ASSERT_EQUAL(patch_detect(&c, name, sizeof(name)), PATCH_PM_YUM);
	put(osr, UBUNTU);
	CU_ASSERT_EQUAL(patch_detect(&c, name, sizeof(name)), PATCH_PM_APT);
	put(osr, "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n");
	CU_ASSERT_EQUAL(patch_detect(&c, name, sizeof(name)), PATCH_PM_DNF);
	put(osr, "ID=\"rhel\"\nVERSION_ID=\"8.9\"\n");
	CU_ASSERT_EQUAL(patch_detect(&c, name, sizeof(name)), PATCH_PM_DNF);
	put(osr, "ID=arch\n");
	CU_ASSERT_EQUAL(patch_detect(&c, name, sizeof(name)), PATCH_PM_UNKNOWN);
	c.os_release = "/nonexistent/os-release";
	CU_ASSERT_EQUAL(patch_detect(&c, name, sizeof(name)), PATCH_PM_UNKNOWN);
	CU_ASSERT_PTR_NOT_NULL(strstr(name, "/nonexistent/os-release"));
}

static void
test_describe(void)
{
	struct patch_cfg c = cfg();
	struct patch_error err = { "" };
	char *s;

	put(osr, AL2023);
	c.exclude = "slurm* munge*";
	s = patch_describe(&c, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "dnf -y upgrade --security '--exclude=slurm*' '--exclude=munge*'\n");
	free(s);
	put(osr, UBUNTU);
	s = patch_describe(&c, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "DEBIAN_FRONTEND=noninteractive apt-get -q update\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "DEBIAN_FRONTEND=noninteractive apt-get -y"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "Dir::Etc::Preferences="));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, " upgrade\n"));
	free(s);
	/* a pattern that could smuggle something into a command or the pins */
	c.exclude = "slurm*\nPackage: *";
	CU_ASSERT_PTR_NULL(patch_describe(&c, &err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "patch_exclude"));
	/* unknown system: a clear error, unless patch_command says */
	c.exclude = "slurm*";
	put(osr, "ID=arch\n");
	CU_ASSERT_PTR_NULL(patch_describe(&c, &err));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "set patch_command"));
	c.command = "my-update --all";
	s = patch_describe(&c, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "/bin/sh -c 'my-update --all'\n");
	free(s);
}

static void
test_diff(void)
{
	struct patch_changes d;
	const char *before = "kernel 6.1.1\nbash 5.2\nkernel.x86_64 6.1.1\nold 1\nopenssl 3.0.1\n";
	const char *after = "bash 5.2\nkernel.x86_64 6.1.1\nkernel.x86_64 6.1.2\nnew 2\nopenssl 3.0.2\n";

	CU_ASSERT_EQUAL_FATAL(patch_diff(before, after, &d), 0);
	CU_ASSERT_EQUAL_FATAL(d.n, 4);
	CU_ASSERT_STRING_EQUAL(d.v[0].name, "kernel.x86_64");	/* one more installed */
	CU_ASSERT_STRING_EQUAL(d.v[0].from, "6.1.1");
	CU_ASSERT_STRING_EQUAL(d.v[0].to, "6.1.2");
	CU_ASSERT_STRING_EQUAL(d.v[1].name, "new");
	CU_ASSERT_PTR_NULL(d.v[1].from);
	CU_ASSERT_STRING_EQUAL(d.v[2].name, "old");
	CU_ASSERT_PTR_NULL(d.v[2].to);
	CU_ASSERT_STRING_EQUAL(d.v[3].name, "openssl");
	CU_ASSERT_STRING_EQUAL(d.v[3].from, "3.0.1");
	CU_ASSERT_STRING_EQUAL(d.v[3].to, "3.0.2");
	patch_changes_free(&d);
	CU_ASSERT_EQUAL(patch_diff(after, after, &d), 0);
	CU_ASSERT_EQUAL(d.n, 0);
}

static void
test_kernels(void)
{
	struct patch_cfg c = cfg();
	char k[128], why[256];

	fresh(AL2023);
	kernel_dir("6.1.10-1.amzn2023", 1);
	kernel_dir("6.1.9-1.amzn2023", 1);
	kernel_dir("6.1.200-1.amzn2023", 0);	/* leftovers of a removed kernel */
	patch_kernel_newest(&c, k, sizeof(k));
	CU_ASSERT_STRING_EQUAL(k, "6.1.10-1.amzn2023");
	setenv("PCM_TEST_KERNEL", "6.1.10-1.amzn2023", 1);
	CU_ASSERT_EQUAL(patch_reboot_needed(&c, PATCH_PM_DNF, why, sizeof(why)), 0);
	setenv("PCM_TEST_KERNEL", "6.1.9-1.amzn2023", 1);
	CU_ASSERT_EQUAL(patch_reboot_needed(&c, PATCH_PM_DNF, why, sizeof(why)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "6.1.10-1.amzn2023 is installed"));
	setenv("PCM_TEST_KERNEL", "6.1.10-1.amzn2023", 1);
	put(rr, "");
	CU_ASSERT_EQUAL(patch_reboot_needed(&c, PATCH_PM_APT, why, sizeof(why)), 1);
	setenv("PCM_TEST_KERNEL", "6.1.1", 1);
}

static const struct patch_change *
change(const struct patch_result *r, const char *name)
{
	for (size_t i = 0; i < r->changes.n; i++)
		if (strcmp(r->changes.v[i].name, name) == 0)
			return &r->changes.v[i];
	return NULL;
}

static void
check_updated(const struct patch_result *r, const char *kname, const char *oname,
    const char *sname)
{
	const struct patch_change *ch;

	CU_ASSERT_EQUAL(r->changes.n, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL((ch = change(r, oname)));
	CU_ASSERT_STRING_EQUAL(ch->from, "3.0.1");
	CU_ASSERT_STRING_EQUAL(ch->to, "3.0.2");
	CU_ASSERT_PTR_NOT_NULL_FATAL((ch = change(r, kname)));
	CU_ASSERT_STRING_EQUAL(ch->to, "6.1.2");
	CU_ASSERT_PTR_NULL(change(r, sname));	/* patch_exclude */
	CU_ASSERT_STRING_EQUAL(r->kernel_before, "6.1.1");
	CU_ASSERT_STRING_EQUAL(r->kernel_after, "6.1.2");
	CU_ASSERT_STRING_EQUAL(r->kernel_running, "6.1.1");
	CU_ASSERT_EQUAL(r->reboot_needed, 1);
}

static void
test_update_dnf(void)
{
	struct patch_cfg c = cfg();
	struct patch_result r;
	struct patch_error err = { "" };
	char p[PATH_MAX];
	int rc;

	fresh(AL2023);
	rc = patch_update(&c, NULL, NULL, &r, &err);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	check_updated(&r, "kernel.x86_64", "openssl.x86_64", "slurm.x86_64");
	snprintf(p, sizeof(p), "%s/calls", pkgdir);
	CU_ASSERT_PTR_NOT_NULL(strstr(slurp(p), "dnf -y upgrade --security --exclude=aws-parallelcluster* "
	    "--exclude=slurm*"));
	CU_ASSERT_PTR_NOT_NULL(strstr(slurp(r.log), "Upgraded: openssl 3.0.1 -> 3.0.2"));
	CU_ASSERT_PTR_NOT_NULL(strstr(slurp(r.log), "=== pcm-agent: done"));
	struct json_object *j = patch_result_json(&r);
	CU_ASSERT_EQUAL(json_object_array_length(json_object_object_get(j, "updated")), 2);
	json_object_put(j);
	patch_result_free(&r);

	/* a second run (after a crash) compares with the first run's list */
	rc = patch_update(&c, NULL, NULL, &r, &err);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(r.changes.n, 2);
	patch_result_free(&r);

	/* the next operation starts from the system as it is then */
	snprintf(p, sizeof(p), "%s/updates", pkgdir);
	put(p, "openssl 3.0.3\n");
	c.operation = "op-2";
	CU_ASSERT_EQUAL(patch_update(&c, NULL, NULL, &r, &err), 0);
	CU_ASSERT_EQUAL_FATAL(r.changes.n, 1);
	CU_ASSERT_STRING_EQUAL(r.changes.v[0].from, "3.0.2");
	CU_ASSERT_STRING_EQUAL(r.changes.v[0].to, "3.0.3");
	CU_ASSERT_STRING_EQUAL(r.kernel_before, "6.1.2");
	patch_result_free(&r);
	patch_forget(&c);
	snprintf(p, sizeof(p), "%s/" PATCH_BEFORE_NAME, state);
	CU_ASSERT_NOT_EQUAL(access(p, F_OK), 0);
}

static void
test_update_apt(void)
{
	struct patch_cfg c = cfg();
	struct patch_result r;
	struct patch_error err = { "" };
	char p[PATH_MAX];
	struct stat st;

	fresh(UBUNTU);
	CU_ASSERT_EQUAL_FATAL(patch_update(&c, NULL, NULL, &r, &err), 0);
	check_updated(&r, "kernel:amd64", "openssl:amd64", "slurm:amd64");
	CU_ASSERT_EQUAL(stat(rr, &st), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.reboot_why, "kernel 6.1.2 is installed"));
	snprintf(p, sizeof(p), "%s/patch-apt-preferences", state);
	CU_ASSERT_PTR_NOT_NULL(strstr(slurp(p), "Package: slurm\nPin: version 23.02.1\n"
	    "Pin-Priority: 1001\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(slurp(p), "Package: munge\n"));
	CU_ASSERT_PTR_NULL(strstr(slurp(p), "Package: openssl"));
	patch_result_free(&r);
}

static void
test_update_fails(void)
{
	struct patch_cfg c = cfg();
	struct patch_result r;
	struct patch_error err = { "" };

	fresh(AL2023);
	setenv("FAKE_PKG_FAIL", "1", 1);
	CU_ASSERT_EQUAL(patch_update(&c, NULL, NULL, &r, &err), PATCH_E_FAILED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "dnf exited 1"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Transaction failed"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, r.log));
	CU_ASSERT_EQUAL(r.changes.n, 1);	/* what it did before failing */
	patch_result_free(&r);
	unsetenv("FAKE_PKG_FAIL");

	/* a command that is not there */
	c.command = "/nonexistent/update";
	CU_ASSERT_EQUAL(patch_update(&c, NULL, NULL, &r, &err), PATCH_E_EXEC);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot run /bin/sh"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "/nonexistent/update"));
	patch_result_free(&r);
}

static int nprogress;
static char last_progress[256];

static void
progress(long elapsed_s, const char *line, void *arg)
{
	(void)elapsed_s;
	(void)arg;
	nprogress++;
	snprintf(last_progress, sizeof(last_progress), "%s", line);
}

static void
test_update_timeout(void)
{
	struct patch_cfg c = cfg();
	struct patch_result r;
	struct patch_error err = { "" };
	time_t t0 = time(NULL);

	fresh(AL2023);
	setenv("FAKE_PKG_HANG", "60", 1);
	c.timeout_s = 3;
	c.progress_s = 1;
	CU_ASSERT_EQUAL(patch_update(&c, progress, NULL, &r, &err), PATCH_E_TIMEOUT);
	CU_ASSERT(time(NULL) - t0 < 15);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "timed out after"));
	CU_ASSERT(nprogress >= 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(last_progress, "Downloading"));
	CU_ASSERT_EQUAL(r.changes.n, 0);
	patch_result_free(&r);
	unsetenv("FAKE_PKG_HANG");
}

static void
test_plan_glue(void)
{
	static const char *const steps[] = { "patch", NULL };
	struct json_object *nodes = json_tokener_parse("[{\"id\": \"i-0a\", \"ip\": \"10.0.0.5\"},"
	    " {\"id\": \"i-0b\", \"ip\": \"\"}]");
	struct journal *j = NULL;
	char *s, sd[300], buf[512];

	s = plan_login_notice(nodes);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "2 login nodes (i-0a 10.0.0.5, i-0b): their users' shells "
	    "will hang"));
	free(s);
	json_object_put(nodes);
	nodes = json_object_new_array();
	CU_ASSERT_PTR_NULL(plan_login_notice(nodes));
	CU_ASSERT_PTR_NULL(plan_login_notice(NULL));
	json_object_put(nodes);

	snprintf(sd, sizeof(sd), "%s/journal", dir);
	CU_ASSERT_EQUAL_FATAL(journal_create(sd, NULL, steps, &j), 0);
	CU_ASSERT_EQUAL(plan_patch_reboot_needed(j, buf, sizeof(buf)), -1);
	CU_ASSERT_EQUAL(plan_patch_resume_check(j, buf, sizeof(buf)), 0);	/* nothing to check */
	journal_data_set(j, "patch", json_tokener_parse("{\"kernel_running\": \"6.1.1\", "
	    "\"kernel_after\": \"6.1.2\", \"reboot_needed\": true, \"reboot_why\": \"x\"}"));
	CU_ASSERT_EQUAL(plan_patch_reboot_needed(j, buf, sizeof(buf)), 1);
	setenv("PCM_TEST_KERNEL", "6.1.2", 1);
	CU_ASSERT_EQUAL(plan_patch_resume_check(j, buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "kernel 6.1.2 runs (the OS update's; was 6.1.1)");
	setenv("PCM_TEST_KERNEL", "6.1.1", 1);
	CU_ASSERT_EQUAL(plan_patch_resume_check(j, buf, sizeof(buf)), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "NOT the 6.1.2"));
	journal_free(j);
}

static const struct cu_test tests[] = {
	{ "distribution from os-release", test_detect },
	{ "commands, exclusions, patch_command", test_describe },
	{ "package list diff", test_diff },
	{ "newest kernel, reboot needed", test_kernels },
	{ "dnf update through the fake", test_update_dnf },
	{ "apt update through the fake: pins, reboot-required", test_update_apt },
	{ "a failed update says why, with the log", test_update_fails },
	{ "a hanging update is killed at the timeout", test_update_timeout },
	{ "login notice, reboot decision, resume's kernel check", test_plan_glue },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("patch", tests, setup, teardown)
