/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz_manifest.c - libFuzzer target for the manifest parser (make fuzz):
 * any input is rejected with a message or parsed into a manifest that
 * encodes back to text the parser accepts again, identically. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest *mf = NULL, *again = NULL;
	char err[256], *text = NULL;
	size_t len = 0;
	FILE *fp;

	if (mf_read_buf(data, size, &mf, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();	/* every rejection says why */
		return 0;
	}
	if ((fp = open_memstream(&text, &len)) == NULL)
		abort();
	if (mf_write(mf, fp) != 0)
		abort();
	fclose(fp);
	if (mf_read_buf(text, len, &again, err, sizeof(err)) != 0)
		abort();	/* what we write, we read */
	if (again->n != mf->n)
		abort();
	for (size_t i = 0; i < mf->n; i++)
		if (strcmp(mf->e[i].name, again->e[i].name) != 0 ||
		    mf->e[i].size != again->e[i].size || mf->e[i].nxattrs != again->e[i].nxattrs)
			abort();
	free(text);
	mf_free(mf);
	mf_free(again);
	return 0;
}
