/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_ec2_xml.c - libFuzzer: the EC2 XML answer parsers (DescribeInstances,
 * DescribeInstanceStatus, error bodies).  make fuzz */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "aws/ec2.h"
#include "aws/http.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ec2_instances l = { 0 };
	struct ec2_statuses s = { 0 };
	struct aws_error e = { 0 };
	char *next = NULL;

	if (ec2_parse_instances((const char *)data, size, &l, &next, &e) == AWS_OK)
		for (size_t i = 0; i < l.n; i++)
			(void)ec2_tag(&l.v[i], "parallelcluster:node-type");
	ec2_instances_free(&l);
	free(next);
	(void)ec2_parse_instance_status((const char *)data, size, &s, &e);
	ec2_statuses_free(&s);
	(void)aws_parse_xml_error((const char *)data, size, &e);
	return 0;
}
