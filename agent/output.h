/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * output.h - what commands print on stdout: JSON for --json, aligned
 * tables for people.  Diagnostics go through log.h, never here.
 */
#ifndef PCM_OUTPUT_H
#define PCM_OUTPUT_H

#include <stdio.h>
#include <time.h>

struct json_object;

/* Print obj (pretty when stdout is a terminal) and a newline; does not free it. */
void output_json(struct json_object *obj);

/* ISO-8601 UTC "2026-11-25T23:57:44Z" into buf; "" for t <= 0. */
const char *output_iso8601(time_t t, char *buf, size_t len);
/* "3d04h", "1:02:03", "12:34": Slurm-style elapsed time into buf. */
const char *output_elapsed(long secs, char *buf, size_t len);
/* "4.2 GiB" style into buf. */
const char *output_bytes(unsigned long long n, char *buf, size_t len);

/* A table printed with columns aligned to their widest cell. */
struct table;
struct table *table_new(size_t ncols, const char *const *headers);
/* Adds a row; takes ncols strings (NULL prints "-"); copies them. 0 or -1. */
int table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *fp);
void table_free(struct table *t);

#endif
