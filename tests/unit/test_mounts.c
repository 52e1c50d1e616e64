/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_mounts.c - classification of the ephemeral volume and save targets
 * from fixture mountinfo files (tests/fixtures/mountinfo) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "storage.h"

static char fixdir[512];
static char sysfs[600];

static int
setup(void)
{
	const char *f = getenv("PCM_FIXTURES");
	snprintf(fixdir, sizeof(fixdir), "%s/mountinfo", f ? f : "tests/fixtures");
	snprintf(sysfs, sizeof(sysfs), "%s/sysfs", fixdir);
	return 0;
}

static struct stor_mounts *
load(const char *name, const char *eph, int allow_root)
{
	char path[700];
	struct stor_mounts *m = NULL;

	snprintf(path, sizeof(path), "%s/%s", fixdir, name);
	int rc = stor_mounts_load(path, eph, allow_root, sysfs, &m);
	if (rc != 0)
		fprintf(stderr, "\n  stor_mounts_load(%s): %s\n", path, strerror(-rc));
	CU_ASSERT_FATAL(rc == 0);
	CU_ASSERT_FATAL(m != NULL);
	return m;
}

static const struct stor_mount *
find(const struct stor_mounts *m, const char *target)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].target, target) == 0)
			return &m->v[i];
	return NULL;
}

#define EXPECT(m, tgt, kind_, cand) do { \
	const struct stor_mount *mt_ = find(m, tgt); \
	CU_ASSERT_PTR_NOT_NULL_FATAL(mt_); \
	if (mt_->kind != (kind_) || mt_->candidate != (cand)) \
		fprintf(stderr, "\n  %s: kind %s candidate %d (%s)\n", tgt, \
		    stor_fskind_name(mt_->kind), mt_->candidate, mt_->reason ? mt_->reason : "-"); \
	CU_ASSERT_EQUAL(mt_->kind, kind_); \
	CU_ASSERT_EQUAL(mt_->candidate, cand); \
} while (0)

static void
test_headnode_types(void)
{
	struct stor_mounts *m = load("headnode-efs-fsx.txt", "/scratch", 0);

	EXPECT(m, "/efs", STOR_FS_EFS, 1);
	EXPECT(m, "/efs2", STOR_FS_EFS, 1);
	EXPECT(m, "/efs-tls", STOR_FS_EFS, 1);
	EXPECT(m, "/fsx", STOR_FS_LUSTRE, 1);
	EXPECT(m, "/zfs", STOR_FS_NFS, 1);
	EXPECT(m, "/ontap", STOR_FS_NFS, 1);
	EXPECT(m, "/shared", STOR_FS_EBS, 1);
	EXPECT(m, "/readonly", STOR_FS_EBS, 0);
	CU_ASSERT_STRING_EQUAL(find(m, "/readonly")->reason, "mounted read-only");
	/* the ephemeral LVM volume: found, and never a target */
	CU_ASSERT_PTR_NOT_NULL_FATAL(m->ephemeral);
	CU_ASSERT_STRING_EQUAL(m->ephemeral->target, "/scratch");
	CU_ASSERT_STRING_EQUAL(m->ephemeral->source, "/dev/mapper/vg.01-lv_ephemeral");
	EXPECT(m, "/scratch", STOR_FS_INSTANCE, 0);
	CU_ASSERT_STRING_EQUAL(find(m, "/scratch")->reason, "the ephemeral volume itself");
	/* tmpfs listed but refused; proc/sys/cgroup/devtmpfs not listed */
	EXPECT(m, "/run", STOR_FS_TMPFS, 0);
	CU_ASSERT_PTR_NULL(find(m, "/proc"));
	CU_ASSERT_PTR_NULL(find(m, "/sys/fs/cgroup"));
	CU_ASSERT_PTR_NULL(find(m, "/dev"));
	/* the root volume and a bind of it are refused by default */
	CU_ASSERT_EQUAL(find(m, "/")->candidate, 0);
	CU_ASSERT_EQUAL(find(m, "/")->is_root, 1);
	CU_ASSERT_EQUAL(find(m, "/home")->candidate, 0);
	CU_ASSERT_EQUAL(find(m, "/home")->is_root, 1);
	/* the first candidate in mount order */
	CU_ASSERT_STRING_EQUAL(stor_mounts_pick(m, 0)->target, "/shared");
	stor_mounts_free(m);
}

static void
test_allow_root(void)
{
	struct stor_mounts *m = load("headnode-efs-fsx.txt", "/scratch", 1);

	CU_ASSERT_EQUAL(find(m, "/")->candidate, 1);
	CU_ASSERT_EQUAL(find(m, "/home")->candidate, 1);
	stor_mounts_free(m);
}

static void
test_nvme_instance_store(void)
{
	struct stor_mounts *m = load("scratch-on-nvme.txt", "/scratch", 0);

	/* model "Amazon EC2 NVMe Instance Storage" in the fake sysfs */
	EXPECT(m, "/scratch", STOR_FS_INSTANCE, 0);
	CU_ASSERT_PTR_NOT_NULL(m->ephemeral);
	/* a mount inside the ephemeral dir is not a target either */
	EXPECT(m, "/scratch/inner", STOR_FS_EBS, 0);
	CU_ASSERT_STRING_EQUAL(find(m, "/scratch/inner")->reason, "inside the ephemeral directory");
	EXPECT(m, "/mnt/ram", STOR_FS_TMPFS, 0);
	/* /data mounted twice: the overmount (nvme4n1) is the one seen */
	EXPECT(m, "/data", STOR_FS_EBS, 1);
	CU_ASSERT_STRING_EQUAL(find(m, "/data")->source, "/dev/nvme4n1");
	size_t ndata = 0;
	for (size_t i = 0; i < m->n; i++)
		ndata += strcmp(m->v[i].target, "/data") == 0;
	CU_ASSERT_EQUAL(ndata, 1);
	stor_mounts_free(m);
}

static void
test_ephemeral_elsewhere(void)
{
	/* ephemeral_dir = /data: now /data is the one that is refused */
	struct stor_mounts *m = load("scratch-on-nvme.txt", "/data/", 0);

	CU_ASSERT_PTR_NOT_NULL_FATAL(m->ephemeral);
	CU_ASSERT_STRING_EQUAL(m->ephemeral->target, "/data");
	EXPECT(m, "/data", STOR_FS_EBS, 0);
	stor_mounts_free(m);
}

static void
test_no_target(void)
{
	struct stor_mounts *m = load("no-target.txt", "/scratch", 0);

	CU_ASSERT_PTR_NULL(m->ephemeral);
	CU_ASSERT_PTR_NULL(stor_mounts_pick(m, 0));
	stor_mounts_free(m);
}

static void
test_missing_file(void)
{
	struct stor_mounts *m = NULL;

	CU_ASSERT_EQUAL(stor_mounts_load("/nonexistent/mountinfo", "/scratch", 0, NULL, &m), -ENOENT);
	CU_ASSERT_PTR_NULL(m);
}

static void
test_kind_names(void)
{
	CU_ASSERT_STRING_EQUAL(stor_fskind_name(STOR_FS_EFS), "efs");
	CU_ASSERT_STRING_EQUAL(stor_fskind_name(STOR_FS_LUSTRE), "fsx-lustre");
	CU_ASSERT_STRING_EQUAL(stor_fskind_name(STOR_FS_INSTANCE), "instance-store");
}

static void
test_savedir(void)
{
	char *s = stor_savedir("/efs/", "c1", "i-0abc");
	CU_ASSERT_STRING_EQUAL(s, "/efs/pcm-agent/c1/i-0abc");
	free(s);
	CU_ASSERT_PTR_NULL(stor_savedir("/efs", "../x", "i-1"));
	CU_ASSERT_PTR_NULL(stor_savedir("/efs", "c1", ".."));
	CU_ASSERT_PTR_NULL(stor_savedir("/efs", "", "i-1"));
}

static const struct cu_test tests[] = {
	{ "EFS, FSx Lustre/OpenZFS/ONTAP, EBS classified; ephemeral/tmpfs/root refused", test_headnode_types },
	{ "allow_root_target makes the root volume a candidate", test_allow_root },
	{ "NVMe instance store found through sysfs model; overmounts", test_nvme_instance_store },
	{ "ephemeral_dir set elsewhere", test_ephemeral_elsewhere },
	{ "no candidate at all", test_no_target },
	{ "a missing mountinfo file is -ENOENT", test_missing_file },
	{ "kind names", test_kind_names },
	{ "save directory naming refuses path tricks", test_savedir },
	{ NULL, NULL },
};

CU_MAIN_FIXTURE("mounts", tests, setup, NULL)
