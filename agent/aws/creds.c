/* SPDX-License-Identifier: GPL-2.0-or-later */
/* aws/creds.c - see creds.h */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/creds.h"
#include "aws/imds.h"
#include "log.h"

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
creds_clear(struct aws_creds *c)
{
	if (c == NULL)
		return;
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int
creds_copy(struct aws_creds *dst, const struct aws_creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->access_key_id = src->access_key_id ? strdup(src->access_key_id) : NULL;
	dst->secret_access_key = src->secret_access_key ? strdup(src->secret_access_key) : NULL;
	dst->session_token = src->session_token ? strdup(src->session_token) : NULL;
	dst->expiration = src->expiration;
	memcpy(dst->source, src->source, sizeof(dst->source));
	if ((src->access_key_id && !dst->access_key_id) ||
	    (src->secret_access_key && !dst->secret_access_key) ||
	    (src->session_token && !dst->session_token)) {
		creds_clear(dst);
		return AWS_E_NOMEM;
	}
	return AWS_OK;
}

int
creds_expiring(const struct aws_creds *c, long margin)
{
	return c->expiration != 0 && time(NULL) + margin >= c->expiration;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Is this "[...]" header line the section of profile? */
static int
is_section(char *line, const char *profile, int is_config)
{
	char *end = strrchr(line, ']'), *name;

	if (line[0] != '[' || end == NULL)
		return 0;
	*end = '\0';
	name = trim(line + 1);
	if (is_config && strcmp(profile, "default") != 0) {
		if (strncmp(name, "profile", 7) != 0 || !isspace((unsigned char)name[7]))
			return 0;
		name = trim(name + 8);
	}
	return strcmp(name, profile) == 0;
}

/*
 * Walk the section of profile; call fn(key, value) for each key.  Returns 1
 * when the section was found, 0 when not, -errno when unreadable.
 */
static int
ini_walk(const char *path, const char *profile, int is_config,
    void (*fn)(const char *k, char *v, void *arg), void *arg)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int in = 0, found = 0;

	if (fp == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (getline(&line, &cap, fp) > 0) {
		char *s = trim(line), *eq;

		if (*s == '#' || *s == ';' || *s == '\0')
			continue;
		if (*s == '[') {
			in = is_section(s, profile, is_config);
			found |= in;
			continue;
		}
		if (!in || (eq = strchr(s, '=')) == NULL)
			continue;
		*eq = '\0';
		fn(trim(s), trim(eq + 1), arg);
	}
	if (line) {
		explicit_bzero(line, cap);
		free(line);
	}
	fclose(fp);
	return found;
}

struct get_arg {
	const char	*key;
	char		*val;
};

static void
get_fn(const char *k, char *v, void *arg)
{
	struct get_arg *g = arg;

	if (strcmp(k, g->key) == 0) {
		free(g->val);
		g->val = strdup(v);
	}
}

char *
creds_ini_get(const char *path, const char *profile, int is_config, const char *key)
{
	struct get_arg g = { key, NULL };

	if (ini_walk(path, profile, is_config, get_fn, &g) <= 0) {
		free(g.val);
		return NULL;
	}
	return g.val;
}

struct creds_arg {
	struct aws_creds	*c;
	char			 unsupported[40];	/* a key we cannot honour */
};

static void
creds_fn(const char *k, char *v, void *arg)
{
	static const char *const unsupported[] = { "role_arn", "credential_process",
		"sso_session", "sso_start_url", "web_identity_token_file", NULL };
	struct creds_arg *ca = arg;
	struct aws_creds *c = ca->c;
	char **slot = NULL;

	for (size_t i = 0; unsupported[i]; i++)
		if (strcmp(k, unsupported[i]) == 0)
			snprintf(ca->unsupported, sizeof(ca->unsupported), "%s", k);
	if (strcmp(k, "aws_access_key_id") == 0)
		slot = &c->access_key_id;
	else if (strcmp(k, "aws_secret_access_key") == 0)
		slot = &c->secret_access_key;
	else if (strcmp(k, "aws_session_token") == 0)
		slot = &c->session_token;
	if (slot == NULL || *v == '\0')
		return;
	wipe_free(*slot);
	*slot = strdup(v);
	explicit_bzero(v, strlen(v));
}

int
creds_from_file(const char *path, const char *profile, int is_config,
    struct aws_creds *out, struct aws_error *err)
{
	struct creds_arg ca = { out, "" };
	int r;

	memset(out, 0, sizeof(*out));
	r = ini_walk(path, profile, is_config, creds_fn, &ca);
	if (r < 0) {
		creds_clear(out);
		return aws_seterr(err, AWS_E_CONFIG, 0, "NoCredentials",
		    "cannot read AWS credentials file %s: %s", path, strerror(-r));
	}
	if (r == 0 || out->access_key_id == NULL || out->secret_access_key == NULL) {
		int partial = out->access_key_id || out->secret_access_key;
		creds_clear(out);
		if (partial)
			return aws_seterr(err, AWS_E_CONFIG, 0, "NoCredentials",
			    "AWS credentials file %s: profile [%s] has only one of "
			    "aws_access_key_id and aws_secret_access_key", path, profile);
		if (ca.unsupported[0])
			return aws_seterr(err, AWS_E_CONFIG, 0, "UnsupportedProfile",
			    "AWS profile [%s] in %s uses %s, which pcm-agent does not support "
			    "(give the profile static keys, or use the instance profile)",
			    profile, path, ca.unsupported);
		return aws_seterr(err, AWS_E_NOTFOUND, 0, "NoCredentials",
		    "no profile [%s] with keys in %s", profile, path);
	}
	snprintf(out->source, sizeof(out->source), "%s [%s]", path, profile);
	return AWS_OK;
}

static char *
home_path(const char *env, const char *rel)
{
	const char *p = getenv(env), *home;
	char *s;

	if (p && *p)
		return strdup(p);
	if ((home = getenv("HOME")) == NULL || *home == '\0')
		return NULL;
	if (asprintf(&s, "%s/%s", home, rel) < 0)
		return NULL;
	return s;
}

int
creds_resolve(struct imds *imds, const char *profile, struct aws_creds *out,
    struct aws_error *err)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tok = getenv("AWS_SESSION_TOKEN");
	struct aws_error ferr = { 0 }, ierr = { 0 };
	char *paths[2] = { NULL, NULL };
	int rc = AWS_OK, explicit;

	memset(out, 0, sizeof(*out));
	if (profile == NULL || *profile == '\0')
		profile = getenv("AWS_PROFILE");
	explicit = profile != NULL && *profile != '\0';
	if (!explicit)
		profile = "default";

	/* 1. environment */
	if (ak && *ak && sk && *sk) {
		out->access_key_id = strdup(ak);
		out->secret_access_key = strdup(sk);
		out->session_token = tok && *tok ? strdup(tok) : NULL;
		if (!out->access_key_id || !out->secret_access_key || (tok && *tok && !out->session_token)) {
			creds_clear(out);
			return aws_seterr(err, AWS_E_NOMEM, 0, "NoMemory", "out of memory");
		}
		snprintf(out->source, sizeof(out->source), "environment");
		return AWS_OK;
	}
	if ((ak && *ak) || (sk && *sk))
		return aws_seterr(err, AWS_E_AUTH, 0, "NoCredentials",
		    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together "
		    "(only one is set)");

	/* 2. shared files */
	paths[0] = home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	paths[1] = home_path("AWS_CONFIG_FILE", ".aws/config");
	for (int i = 0; i < 2; i++) {
		if (paths[i] == NULL)
			continue;
		rc = creds_from_file(paths[i], profile, i == 1, out, &ferr);
		if (rc == AWS_OK) {
			char src[sizeof(out->source)];
			memcpy(src, out->source, sizeof(src));
			snprintf(out->source, sizeof(out->source), "%s file %.*s",
			    i == 0 ? "credentials" : "config", 70, src);
			goto out;
		}
		if (rc != AWS_E_NOTFOUND) {
			if (err)
				*err = ferr;
			goto out;
		}
	}

	/* a profile asked for by name must exist: never fall back silently */
	if (explicit) {
		rc = aws_seterr(err, AWS_E_CONFIG, 0, "ProfileNotFound",
		    "AWS profile [%s] not found with keys in %s or %s (AWS_PROFILE)", profile,
		    paths[0] ? paths[0] : "~/.aws/credentials", paths[1] ? paths[1] : "~/.aws/config");
		goto out;
	}

	/* 3. instance profile */
	if (imds != NULL) {
		rc = imds_role_creds(imds, out, &ierr);
		if (rc == AWS_OK)
			goto out;
	} else {
		snprintf(ierr.message, sizeof(ierr.message), "IMDS not consulted");
	}
	rc = aws_seterr(err, AWS_E_AUTH, 0, "NoCredentials",
	    "no AWS credentials: not in the environment (AWS_ACCESS_KEY_ID), no profile [%s] "
	    "in %s or %s, and no instance profile (IMDS: %s)", profile,
	    paths[0] ? paths[0] : "~/.aws/credentials", paths[1] ? paths[1] : "~/.aws/config",
	    ierr.message);
out:
	free(paths[0]);
	free(paths[1]);
	return rc;
}
