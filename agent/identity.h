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
 * The instance id.  For now this is the host name: IMDS (instance-id) is
 * not wired in yet; when it is, this function asks IMDS first and keeps
 * the host name as the off-EC2 fallback.  malloc'd, caller frees; NULL
 * only when out of memory.
 */
char *identity_instance_id(const struct pcm_config *cfg);

/* ClusterName= from a slurm.conf file (plain parse, no libslurm); malloc'd
 * or NULL when absent or unreadable. */
char *identity_slurm_cluster_name(const char *slurm_conf);

#endif
