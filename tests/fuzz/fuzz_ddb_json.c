/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_ddb_json.c - libFuzzer: the JSON answer parsers (DynamoDB GetItem of
 * the compute-fleet item, SSM GetAutomationExecution, JSON error bodies). */
#include <stddef.h>
#include <stdint.h>

#include "aws/fleet.h"
#include "aws/http.h"
#include "aws/ssm.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fleet_item it;
	struct ssm_execution x;
	struct aws_error e = { 0 };

	if (fleet_parse_item((const char *)data, size, &it, &e) == AWS_OK)
		(void)fleet_status_parse(it.status_str);
	(void)ssm_parse_execution((const char *)data, size, &x, &e);
	(void)aws_parse_json_error((const char *)data, size, &e);
	return 0;
}
