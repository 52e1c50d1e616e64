/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_identity.c - naming the save: the instance id from a Nitro
 * instance's DMI table (fixture directories), ClusterName from slurm.conf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu.h"
#include "identity.h"

static char dir[] = "/tmp/pcm-test-identity.XXXXXX";

static int setup(void) { return mkdtemp(dir) ? 0 : -1; }
static int
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
put(const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (text == NULL) {
		unlink(path);
		return;
	}
	CU_ASSERT_PTR_NOT_NULL_FATAL(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

/* the id read from a DMI table with this vendor and tag (NULL: no file) */
static char *
dmi(const char *vendor, const char *tag)
{
	put("sys_vendor", vendor);
	put("board_asset_tag", tag);
	return identity_dmi_instance_id(dir);
}

static void
expect(char *got, const char *want)
{
	if (want == NULL) {
		CU_ASSERT_PTR_NULL(got);
	} else {
		CU_ASSERT_PTR_NOT_NULL(got);
		if (got != NULL)
			CU_ASSERT_STRING_EQUAL(got, want);
	}
	free(got);
}

static void
test_dmi(void)
{
	/* as a Nitro instance's kernel shows them (with the newline) */
	expect(dmi("Amazon EC2\n", "i-0123456789abcdef0\n"), "i-0123456789abcdef0");
	expect(dmi("Amazon EC2\n", "i-0a1b2c3d\n"), "i-0a1b2c3d");	/* the old 8-digit ids */
	/* not EC2, or not an instance id: nothing (then IMDS, then the host name) */
	expect(dmi("QEMU\n", "i-0123456789abcdef0\n"), NULL);
	expect(dmi("Amazon EC2 \n", "i-0123456789abcdef0\n"), NULL);
	expect(dmi("Amazon EC2\n", "\n"), NULL);
	expect(dmi("Amazon EC2\n", "i-0123456789ABCDEF0\n"), NULL);
	expect(dmi("Amazon EC2\n", "i-0123456789abcdef\n"), NULL);	/* 16 digits */
	expect(dmi("Amazon EC2\n", "i-../../etc/passwd\n"), NULL);
	expect(dmi("Amazon EC2\n", "Not Specified\n"), NULL);
	expect(dmi("Amazon EC2\n", NULL), NULL);
	expect(dmi(NULL, "i-0123456789abcdef0\n"), NULL);
	expect(identity_dmi_instance_id("/nonexistent"), NULL);
}

static void
test_slurm_cluster_name(void)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/slurm.conf", dir);
	put("slurm.conf", "# ClusterName=commented\nSlurmctldHost=h\n"
	    "  clustername = first # comment\nClusterName=second\nClusterNameX=no\n");
	expect(identity_slurm_cluster_name(path), "second");	/* the last wins, as in Slurm */
	put("slurm.conf", "SlurmctldHost=h\nClusterName=\n");
	expect(identity_slurm_cluster_name(path), NULL);
	expect(identity_slurm_cluster_name("/nonexistent/slurm.conf"), NULL);
	expect(identity_slurm_cluster_name(NULL), NULL);
}

static const struct cu_test tests[] = {
	{ "instance id from a Nitro DMI table, nothing from others", test_dmi },
	{ "ClusterName from slurm.conf", test_slurm_cluster_name },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("identity", tests, setup, teardown)
