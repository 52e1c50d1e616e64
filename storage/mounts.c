/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mounts.c - the ephemeral volume and the save targets, from mountinfo via libmount */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <libmount/libmount.h>

#include "storage.h"

const char *
stor_fskind_name(enum stor_fskind k)
{
	switch (k) {
	case STOR_FS_EFS:	return "efs";
	case STOR_FS_LUSTRE:	return "fsx-lustre";
	case STOR_FS_NFS:	return "nfs";
	case STOR_FS_EBS:	return "ebs";
	case STOR_FS_INSTANCE:	return "instance-store";
	case STOR_FS_TMPFS:	return "tmpfs";
	default:		return "other";
	}
}

static int
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* path is dir or below it */
static int
path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/')
		return 1;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int
same_path(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	while (na > 1 && a[na - 1] == '/')
		na--;
	while (nb > 1 && b[nb - 1] == '/')
		nb--;
	return na == nb && strncmp(a, b, na) == 0;
}

/* Is this block device an EC2 instance store?  The ParallelCluster LVM
 * volume, or an NVMe disk whose model says so. */
static int
is_instance_store(const char *source, const char *sysfs)
{
	char path[512], model[128], dev[64];
	const char *name;
	ssize_t n;
	int fd;

	if (strstr(source, "lv_ephemeral") != NULL || has_prefix(source, "/dev/vg.01/") ||
	    has_prefix(source, "/dev/mapper/vg.01-"))
		return 1;
	if (!has_prefix(source, "/dev/"))
		return 0;
	name = source + 5;
	if (strchr(name, '/') != NULL || strlen(name) >= sizeof(dev))
		return 0;
	strcpy(dev, name);
	for (int pass = 0; pass < 2; pass++) {
		snprintf(path, sizeof(path), "%s/class/block/%s/device/model",
		    sysfs ? sysfs : "/sys", dev);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			n = read(fd, model, sizeof(model) - 1);
			close(fd);
			if (n > 0) {
				model[n] = '\0';
				return strstr(model, "Instance Storage") != NULL;
			}
		}
		/* a partition: nvme1n1p1 -> nvme1n1, xvdb1 -> xvdb */
		char *p = strrchr(dev, 'p');
		if (has_prefix(dev, "nvme") && p != NULL && p[1] >= '0' && p[1] <= '9')
			*p = '\0';
		else {
			size_t l = strlen(dev);
			while (l > 0 && dev[l - 1] >= '0' && dev[l - 1] <= '9')
				dev[--l] = '\0';
		}
	}
	return 0;
}

static enum stor_fskind
classify(const char *fstype, const char *source, const char *opts, const char *sysfs)
{
	if (strcmp(fstype, "efs") == 0)
		return STOR_FS_EFS;
	if (strcmp(fstype, "lustre") == 0)
		return STOR_FS_LUSTRE;
	if (strcmp(fstype, "nfs4") == 0 || strcmp(fstype, "nfs") == 0) {
		/* fs-0123.efs.REGION.amazonaws.com:/ or fs-0123:/ ; efs-utils
		 * with TLS mounts 127.0.0.1:/ through its stunnel on port=20xxx */
		if (strstr(source, ".efs.") != NULL)
			return STOR_FS_EFS;
		if (strstr(source, ".fsx.") != NULL)
			return STOR_FS_NFS;	/* FSx for OpenZFS / ONTAP */
		if (has_prefix(source, "fs-") && strcspn(source, ".:") == strcspn(source, ":"))
			return STOR_FS_EFS;	/* fs-0123:/ (efs-utils style, no DNS name) */
		if (has_prefix(source, "127.0.0.1:") && opts != NULL && strstr(opts, "port=20") != NULL)
			return STOR_FS_EFS;
		return STOR_FS_NFS;
	}
	if (strcmp(fstype, "tmpfs") == 0 || strcmp(fstype, "ramfs") == 0)
		return STOR_FS_TMPFS;
	if (has_prefix(source, "/dev/") && (strcmp(fstype, "ext4") == 0 ||
	    strcmp(fstype, "xfs") == 0 || strcmp(fstype, "btrfs") == 0 ||
	    strcmp(fstype, "ext3") == 0))
		return is_instance_store(source, sysfs) ? STOR_FS_INSTANCE : STOR_FS_EBS;
	return STOR_FS_OTHER;
}

void
stor_mounts_free(struct stor_mounts *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].target);
		free(m->v[i].source);
		free(m->v[i].fstype);
	}
	free(m->v);
	free(m);
}

static int
ro_mount(struct libmnt_fs *fs)
{
	const char *vo = mnt_fs_get_vfs_options(fs);
	char *val = NULL;
	size_t len = 0;

	return vo != NULL && mnt_optstr_get_option(vo, "ro", &val, &len) == 0;
}

int
stor_mounts_load(const char *mountinfo, const char *ephemeral_dir, int allow_root,
    const char *sysfs, struct stor_mounts **out)
{
	struct libmnt_table *tb = NULL;
	struct libmnt_iter *it = NULL;
	struct libmnt_fs *fs;
	struct stor_mounts *m = NULL;
	const char *root_source = NULL;
	int rc;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL || (tb = mnt_new_table()) == NULL ||
	    (it = mnt_new_iter(MNT_ITER_FORWARD)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = mnt_table_parse_file(tb, mountinfo)) < 0) {
		if (rc > -4096 && access(mountinfo, R_OK) < 0)
			rc = -errno;
		else if (rc >= -1)
			rc = -EINVAL;
		goto out;
	}
	/* the root device: mounts on it go down with the instance's root volume */
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *t = mnt_fs_get_target(fs), *s = mnt_fs_get_source(fs);
		if (t != NULL && strcmp(t, "/") == 0 && s != NULL)
			root_source = s;	/* the last one wins (overmounts) */
	}
	mnt_reset_iter(it, MNT_ITER_FORWARD);
	while (mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *t = mnt_fs_get_target(fs), *s = mnt_fs_get_source(fs);
		const char *type = mnt_fs_get_fstype(fs);
		struct stor_mount *mt;
		enum stor_fskind kind;

		if (t == NULL || type == NULL)
			continue;
		if (s == NULL)
			s = "none";
		kind = classify(type, s, mnt_fs_get_fs_options(fs), sysfs);
		if (kind == STOR_FS_OTHER && (mnt_fs_is_pseudofs(fs) || !has_prefix(s, "/dev/")) &&
		    strcmp(t, "/") != 0 && !(ephemeral_dir && same_path(t, ephemeral_dir)))
			continue;	/* proc, sysfs, cgroup, overlay layers ... */
		/* an overmount hides the mount below it */
		for (size_t i = 0; i < m->n; i++) {
			if (strcmp(m->v[i].target, t) == 0) {
				free(m->v[i].target);
				free(m->v[i].source);
				free(m->v[i].fstype);
				memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(m->v[0]));
				m->n--;
				break;
			}
		}
		struct stor_mount *nv = realloc(m->v, (m->n + 1) * sizeof(*nv));
		if (nv == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		m->v = nv;
		mt = &m->v[m->n];
		memset(mt, 0, sizeof(*mt));
		mt->target = strdup(t);
		mt->source = strdup(s);
		mt->fstype = strdup(type);
		m->n++;
		if (mt->target == NULL || mt->source == NULL || mt->fstype == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		mt->kind = kind;
		mt->is_root = strcmp(t, "/") == 0 ||
		    (root_source != NULL && has_prefix(s, "/dev/") && strcmp(s, root_source) == 0);
		mt->is_ephemeral = ephemeral_dir != NULL && same_path(t, ephemeral_dir);
		mt->candidate = 0;
		if (mt->is_ephemeral)
			mt->reason = "the ephemeral volume itself";
		else if (ephemeral_dir != NULL && path_within(t, ephemeral_dir))
			mt->reason = "inside the ephemeral directory";
		else if (kind == STOR_FS_TMPFS)
			mt->reason = "tmpfs: in memory, gone after a restart";
		else if (kind == STOR_FS_INSTANCE)
			mt->reason = "instance store: wiped by a stop/start";
		else if (mt->is_root && !allow_root)
			mt->reason = "the root volume (set allow_root_target = yes to use it)";
		else if (ro_mount(fs))
			mt->reason = "mounted read-only";
		else if (kind == STOR_FS_OTHER && !mt->is_root)
			mt->reason = "unknown filesystem type";
		else
			mt->candidate = 1;
	}
	for (size_t i = 0; i < m->n; i++) {
		struct stor_mount *mt = &m->v[i];
		struct statvfs sv;

		if (mt->is_ephemeral)
			m->ephemeral = mt;
		/* only a path that is really this mount point: a fixture's
		 * mounts may not exist here */
		if (statvfs(mt->target, &sv) == 0) {
			mt->have_space = 1;
			mt->size = (uint64_t)sv.f_blocks * sv.f_frsize;
			mt->free = (uint64_t)sv.f_bavail * sv.f_frsize;
			mt->used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
		}
	}
	*out = m;
	m = NULL;
	rc = 0;
out:
	mnt_free_iter(it);
	mnt_unref_table(tb);
	stor_mounts_free(m);
	return rc;
}

const struct stor_mount *
stor_mounts_pick(const struct stor_mounts *m, uint64_t need)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct stor_mount *mt = &m->v[i];
		if (!mt->candidate)
			continue;
		if (need == 0 || !mt->have_space || mt->free >= need)
			return mt;
	}
	return NULL;
}
