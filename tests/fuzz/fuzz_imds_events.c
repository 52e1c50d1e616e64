/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_imds_events.c - libFuzzer: IMDS events/maintenance/scheduled parser
 * and its time formats. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/imds.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imds_events ev;
	struct aws_error e = { 0 };
	char *s;

	if (imds_events_parse((const char *)data, size, &ev, &e) == AWS_OK)
		imds_events_free(&ev);
	/* the time parser takes C strings */
	if ((s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		(void)imds_parse_time(s);
		free(s);
	}
	return 0;
}
