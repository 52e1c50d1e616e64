/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl.h - libcurl and libxml2 are loaded when first used (see dl.c): the
 * agent calls them as usual, through their own headers.
 */
#ifndef PCM_AWS_DL_H
#define PCM_AWS_DL_H

/* Load libcurl / libxml2 now.  0, or -1 with the reason logged (once).
 * The functions of dl.c load them themselves; these are for a caller that
 * wants to fail early with its own message. */
int dl_curl(void);
int dl_xml(void);

#endif
