/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * identity.h - who this head node is, for naming its save:
 * TARGET/pcm-agent/<cluster>/<instance-id>/.
 */
#ifndef PCM_IDENTITY_H
#define PCM_IDENTITY_H

#include "config.h"

/*
 * The cluster name: cfg->cluster_name (config file or cfnconfig
 * stack_name), else Slurm's ClusterName= read from the cfg->slurm_conf
 * file, else the host name.  Returns a malloc'd string the caller frees;
 * NULL only when out of memory.
 */
char *identity_cluster_name(const struct pcm_config *cfg);

/*
 * The instance id: on a Nitro instance the kernel's DMI table has it
 * (sys_vendor "Amazon EC2", board_asset_tag i-...), read without a network
 * call (and without loading libcurl); else IMDS meta-data/instance-id; the
 * host name as the off-EC2 fallback (IMDS unreachable or
 * AWS_EC2_METADATA_DISABLED=true).  An IMDS endpoint set explicitly
 * (AWS_EC2_METADATA_SERVICE_ENDPOINT) is asked first.
 * malloc'd, caller frees; NULL only when out of memory.
 */
char *identity_instance_id(const struct pcm_config *cfg);

/* The instance id from the DMI directory `dir` (normally
 * /sys/devices/virtual/dmi/id): malloc'd, or NULL when it is not an EC2
 * Nitro instance's (no vendor "Amazon EC2", no i-<8 or 17 hex> tag). */
char *identity_dmi_instance_id(const char *dir);

/* ClusterName= from a slurm.conf file (plain parse, no libslurm); malloc'd
 * or NULL when absent or unreadable. */
char *identity_slurm_cluster_name(const char *slurm_conf);

#endif
