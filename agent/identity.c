/* identity.c - see identity.h */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "aws/imds.h"
#include "identity.h"

char *
identity_slurm_cluster_name(const char *slurm_conf)
{
	char *line = NULL, *val = NULL;
	size_t cap = 0;
	FILE *fp;

	if (slurm_conf == NULL || (fp = fopen(slurm_conf, "re")) == NULL)
		return NULL;
	while (getline(&line, &cap, fp) > 0) {
		char *p = line, *end;

		while (isspace((unsigned char)*p))
			p++;
		if (strncasecmp(p, "ClusterName", 11) != 0)
			continue;
		p += 11;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, " \t\r\n#");
		if (end == p)
			continue;
		free(val);
		val = strndup(p, (size_t)(end - p));	/* the last one wins, as in Slurm */
	}
	free(line);
	fclose(fp);
	return val;
}

static char *
hostname(void)
{
	char buf[256];

	if (gethostname(buf, sizeof(buf)) < 0 || buf[0] == '\0')
		return strdup("localhost");
	buf[sizeof(buf) - 1] = '\0';
	return strdup(buf);
}

char *
identity_cluster_name(const struct pcm_config *cfg)
{
	char *s;

	if (cfg->cluster_name != NULL && cfg->cluster_name[0] != '\0')
		return strdup(cfg->cluster_name);
	if ((s = identity_slurm_cluster_name(cfg->slurm_conf)) != NULL)
		return s;
	return hostname();
}

char *
identity_instance_id(const struct pcm_config *cfg)
{
	struct aws_error err = { 0 };
	struct imds *m;
	char *id = NULL;

	(void)cfg;
	/* IMDS first; off EC2 (or with AWS_EC2_METADATA_DISABLED) the host name */
	if ((m = imds_new()) != NULL && imds_instance_id(m, &id, &err) != AWS_OK)
		id = NULL;
	imds_free(m);
	return id != NULL ? id : hostname();
}
