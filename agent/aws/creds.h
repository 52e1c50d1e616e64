/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * aws/creds.h - AWS credentials, resolved the way the SDKs do:
 *   1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 *   2. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 *      ~/.aws/credentials) then the shared config file (AWS_CONFIG_FILE,
 *      default ~/.aws/config), profile AWS_PROFILE or "default",
 *   3. the instance profile from IMDS (iam/security-credentials/ROLE), which
 *      expires: aws_call() refreshes it 5 minutes before Expiration.
 * A profile named explicitly (argument or AWS_PROFILE) must exist: no silent
 * fallback to the instance profile.  Profiles with role_arn,
 * credential_process, SSO or web identity are not supported (AWS_E_CONFIG,
 * "UnsupportedProfile").
 *
 * Secrets are never logged; creds_clear() wipes them before freeing.
 */
#ifndef PCM_AWS_CREDS_H
#define PCM_AWS_CREDS_H

#include <time.h>

#include "aws/http.h"

struct aws_creds {
	char	*access_key_id;		/* owned */
	char	*secret_access_key;	/* owned, secret */
	char	*session_token;		/* owned, secret; NULL if none */
	time_t	 expiration;		/* 0: does not expire */
	char	 source[96];		/* "environment", "shared credentials file
					   /root/.aws/credentials [default]",
					   "instance profile ROLE" */
};

/* Wipe and free the strings; the struct is zeroed.  NULL-safe. */
void creds_clear(struct aws_creds *c);
/* Deep copy; AWS_OK or AWS_E_NOMEM. */
int creds_copy(struct aws_creds *dst, const struct aws_creds *src);

/*
 * Resolve through the chain.  imds may be NULL (then step 3 is skipped).
 * profile NULL: AWS_PROFILE or "default".  On AWS_OK *out is filled (caller
 * calls creds_clear); AWS_E_AUTH with err->code "NoCredentials" and a message
 * naming every source tried when none has them.
 */
int creds_resolve(struct imds *imds, const char *profile, struct aws_creds *out,
    struct aws_error *err);

/* Step 2 alone: read profile from an INI file.  is_config: "[profile X]"
 * sections (except default).  AWS_OK, AWS_E_NOTFOUND (no file, no such
 * profile or no keys in it), AWS_E_CONFIG (unreadable). */
int creds_from_file(const char *path, const char *profile, int is_config,
    struct aws_creds *out, struct aws_error *err);

/* Read one key of a profile from an INI file (e.g. "region" from the config
 * file); malloc'd value or NULL. */
char *creds_ini_get(const char *path, const char *profile, int is_config, const char *key);

/* Does c need refreshing (expires within margin seconds)?  1 or 0. */
int creds_expiring(const struct aws_creds *c, long margin);

#endif
