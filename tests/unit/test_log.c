/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_log.c - messages cannot carry control characters to a terminal or the log */
#include <stdlib.h>
#include <string.h>

#include "cu.h"
#include "log.h"
#include "output.h"

static void
expect(const char *in, const char *want)
{
	char *out = log_clean(in);

	CU_ASSERT_FATAL(out != NULL);
	CU_ASSERT_STRING_EQUAL(out, want);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "log_clean: got '%s', want '%s'\n", out, want);
	free(out);
}

static void
test_clean(void)
{
	expect("plain text: /scratch/a b", "plain text: /scratch/a b");
	expect("", "");
	/* a terminal escape: retitle, move the cursor, clear the line */
	expect("x\033]2;pwned\007y", "x\\x1b]2;pwned\\x07y");
	expect("\033[2K\r", "\\x1b[2K\\x0d");
	/* a forged second line of the log */
	expect("a\npcm-agent: restore finished", "a\\x0apcm-agent: restore finished");
	expect("tab\there\x7f", "tab\\x09here\\x7f");
	/* UTF-8 is kept; C1 controls (CSI U+009B) and what is not UTF-8 are not */
	expect("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	expect("\xc2\x9b" "2J", "\\xc2\\x9b2J");
	expect("\xff\xfe", "\\xff\\xfe");
	expect("\xe0\x80\x80", "\\xe0\\x80\\x80");		/* overlong */
	expect("\xed\xa0\x80", "\\xed\\xa0\\x80");		/* a surrogate */
	expect("\xc3", "\\xc3");				/* cut short */
	expect("\xc3x", "\\xc3x");
}

/* a table cell (a job name, any user's) is one line of plain text too */
static void
test_table(void)
{
	static const char *const hdr[] = { "JOBID", "NAME" };
	const char *row[] = { "7", "x\033]2;owned\007\npcm-agent: ok \xc2\x9b" };
	struct table *t = table_new(2, hdr);
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	CU_ASSERT_FATAL(t != NULL && fp != NULL);
	CU_ASSERT_EQUAL(table_add(t, row), 0);
	table_print(t, fp);
	fclose(fp);
	CU_ASSERT_STRING_EQUAL(buf, "JOBID  NAME\n7      x\\x1b]2;owned\\x07\\x0apcm-agent: ok "
	    "\\xc2\\x9b\n");
	free(buf);
	table_free(t);
}

static const struct cu_test tests[] = {
	{ "control characters and bytes that are not UTF-8 are written \\xHH", test_clean },
	{ "table cells are escaped the same way", test_table },
	{ NULL, NULL },
};

CU_MAIN("log", tests)
