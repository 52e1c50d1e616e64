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
 * The instance id: IMDS meta-data/instance-id first, the host name as the
 * off-EC2 fallback (IMDS unreachable or AWS_EC2_METADATA_DISABLED=true).
 * malloc'd, caller frees; NULL only when out of memory.
 */
char *identity_instance_id(const struct pcm_config *cfg);

/* ClusterName= from a slurm.conf file (plain parse, no libslurm); malloc'd
 * or NULL when absent or unreadable. */
char *identity_slurm_cluster_name(const char *slurm_conf);

#endif
