/* SPDX-License-Identifier: GPL-2.0-or-later */
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

/* the first line of dir/name, without its newline, into buf; 0 or -1 */
static int
read_line(const char *dir, const char *name, char *buf, size_t len)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, (int)len, fp) == NULL) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

char *
identity_dmi_instance_id(const char *dir)
{
	char vendor[64], tag[64];
	size_t n;

	if (read_line(dir, "sys_vendor", vendor, sizeof(vendor)) < 0 ||
	    strcmp(vendor, "Amazon EC2") != 0 ||
	    read_line(dir, "board_asset_tag", tag, sizeof(tag)) < 0 ||
	    strncmp(tag, "i-", 2) != 0)
		return NULL;
	n = strlen(tag + 2);
	if ((n != 8 && n != 17) || strspn(tag + 2, "0123456789abcdef") != n)
		return NULL;
	return strdup(tag);
}

char *
identity_instance_id(const struct pcm_config *cfg)
{
	struct aws_error err = { 0 };
	const char *dmi = getenv("PCM_TEST_DMI_DIR");
	const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	struct imds *m;
	char *id = NULL;

	(void)cfg;
	/* a Nitro instance's own DMI table: no network, no libcurl (an
	 * endpoint set by hand means that IMDS is the one to ask) */
	if ((ep == NULL || *ep == '\0') &&
	    (id = identity_dmi_instance_id(dmi && *dmi ? dmi : "/sys/devices/virtual/dmi/id")) != NULL)
		return id;
	/* IMDS; off EC2 (or with AWS_EC2_METADATA_DISABLED) the host name */
	if ((m = imds_new()) != NULL && imds_instance_id(m, &id, &err) != AWS_OK)
		id = NULL;
	imds_free(m);
	return id != NULL ? id : hostname();
}
