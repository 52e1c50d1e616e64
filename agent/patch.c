/* SPDX-License-Identifier: GPL-2.0-or-later */
/* patch.c - see patch.h */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "log.h"
#include "patch.h"

static int
seterr(struct patch_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
seterr(struct patch_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static const char *
path_or(const char *set, const char *env, const char *dflt)
{
	const char *e;

	if (set != NULL)
		return set;
	if ((e = getenv(env)) != NULL && e[0] == '/')
		return e;
	return dflt;
}

#define OS_RELEASE(c)	path_or((c)->os_release, "PCM_TEST_OS_RELEASE", "/etc/os-release")
#define REBOOT_REQ(c)	path_or((c)->reboot_required, "PCM_TEST_REBOOT_REQUIRED", \
			    "/var/run/reboot-required")
#define MODULES_DIR(c)	path_or((c)->modules_dir, "PCM_TEST_MODULES_DIR", "/lib/modules")
#define APT_PREFS(c)	path_or((c)->apt_preferences, "PCM_TEST_APT_PREFERENCES", \
			    "/etc/apt/preferences")

const char *
patch_pm_name(enum patch_pm pm)
{
	switch (pm) {
	case PATCH_PM_DNF: return "dnf";
	case PATCH_PM_YUM: return "yum";
	case PATCH_PM_APT: return "apt";
	case PATCH_PM_UNKNOWN: break;
	}
	return "unknown";
}

/* value of KEY= in an os-release line, unquoted, into buf */
static int
osr_value(const char *line, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key), n;
	const char *v;

	if (strncmp(line, key, kl) != 0 || line[kl] != '=')
		return 0;
	v = line + kl + 1;
	n = strcspn(v, "\n");
	if (n > 0 && (v[0] == '"' || v[0] == '\'')) {
		v++;
		n = strcspn(v, "\"'\n");
	}
	snprintf(buf, len, "%.*s", (int)n, v);
	return 1;
}

/* whether word is one of the space-separated words of list */
static int
has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; *p; ) {
		size_t n = strcspn(p, " ");
		if (n == wl && strncmp(p, word, n) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

enum patch_pm
patch_detect(const struct patch_cfg *c, char *name, size_t len)
{
	const char *path = OS_RELEASE(c);
	char line[512], id[64] = "", like[256] = "", ver[64] = "", pretty[128] = "";
	FILE *fp = fopen(path, "re");
	enum patch_pm pm = PATCH_PM_UNKNOWN;

	if (fp == NULL) {
		snprintf(name, len, "%s unreadable", path);
		return PATCH_PM_UNKNOWN;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		osr_value(line, "ID", id, sizeof(id));
		osr_value(line, "ID_LIKE", like, sizeof(like));
		osr_value(line, "VERSION_ID", ver, sizeof(ver));
		osr_value(line, "PRETTY_NAME", pretty, sizeof(pretty));
	}
	fclose(fp);
	snprintf(name, len, "%s", pretty[0] ? pretty : id[0] ? id : "unknown");
	if (strcmp(id, "amzn") == 0)
		pm = strcmp(ver, "2") == 0 ? PATCH_PM_YUM : PATCH_PM_DNF;
	else if (strcmp(id, "debian") == 0 || strcmp(id, "ubuntu") == 0 ||
	    has_word(like, "debian") || has_word(like, "ubuntu"))
		pm = PATCH_PM_APT;
	else if (strcmp(id, "centos") == 0 && strncmp(ver, "7", 1) == 0)
		pm = PATCH_PM_YUM;
	else if (strcmp(id, "rhel") == 0 || strcmp(id, "fedora") == 0 ||
	    strcmp(id, "centos") == 0 || strcmp(id, "rocky") == 0 ||
	    strcmp(id, "almalinux") == 0 || has_word(like, "rhel") || has_word(like, "fedora"))
		pm = PATCH_PM_DNF;
	return pm;
}

/* ---- exclusions ---- */

/* patch_exclude: space-separated globs of package names */
static int
check_patterns(const char *list, struct patch_error *err)
{
	for (const char *p = list ? list : ""; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr(" *?[]._+-:", *p) == NULL)
			return seterr(err, PATCH_E_CONFIG, "patch_exclude '%s': character '%c' "
			    "is not allowed in a package pattern (letters, digits and . _ + - : "
			    "* ? [ ] only)", list, isprint((unsigned char)*p) ? *p : '?');
	return 0;
}

static int
excluded(const char *list, const char *name)
{
	char pat[256];

	for (const char *p = list ? list : ""; *p; ) {
		size_t n = strcspn(p, " ");
		if (n > 0 && n < sizeof(pat)) {
			snprintf(pat, sizeof(pat), "%.*s", (int)n, p);
			if (fnmatch(pat, name, 0) == 0)
				return 1;
		}
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

/* ---- commands ---- */

struct argv {
	char	**v;
	size_t	  n;
};

static int
argv_add(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int
argv_add(struct argv *a, const char *fmt, ...)
{
	char **nv, *s;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	if ((nv = realloc(a->v, (a->n + 2) * sizeof(*nv))) == NULL) {
		free(s);
		return -1;
	}
	a->v = nv;
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	return 0;
}

static void
argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

#define MAXCMDS 2

static void
cmds_free(struct argv *cmds)
{
	for (int i = 0; i < MAXCMDS; i++)
		argv_free(&cmds[i]);
}

static int
add_excludes(struct argv *a, const char *list)
{
	for (const char *p = list ? list : ""; *p; ) {
		size_t n = strcspn(p, " ");
		if (n > 0 && argv_add(a, "--exclude=%.*s", (int)n, p) < 0)
			return -1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

static void
apt_prefs_path(const struct patch_cfg *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s/patch-apt-preferences", c->state_dir);
}

/* the commands of the update into cmds[MAXCMDS] (unused ones empty) */
static int
build_cmds(const struct patch_cfg *c, enum patch_pm pm, const char *osname,
    struct argv *cmds, struct patch_error *err)
{
	char prefs[1024];
	int r = 0;

	memset(cmds, 0, MAXCMDS * sizeof(*cmds));
	if (c->command != NULL && c->command[0] != '\0') {
		r |= argv_add(&cmds[0], "/bin/sh");
		r |= argv_add(&cmds[0], "-c");
		r |= argv_add(&cmds[0], "%s", c->command);
		goto out;
	}
	if (check_patterns(c->exclude, err) < 0)
		return PATCH_E_CONFIG;
	switch (pm) {
	case PATCH_PM_DNF:
	case PATCH_PM_YUM:
		r |= argv_add(&cmds[0], "%s", pm == PATCH_PM_DNF ? "dnf" : "yum");
		r |= argv_add(&cmds[0], "-y");
		r |= argv_add(&cmds[0], "%s", pm == PATCH_PM_DNF ? "upgrade" : "update");
		r |= argv_add(&cmds[0], "--security");
		r |= add_excludes(&cmds[0], c->exclude);
		break;
	case PATCH_PM_APT:
		apt_prefs_path(c, prefs, sizeof(prefs));
		r |= argv_add(&cmds[0], "apt-get");
		r |= argv_add(&cmds[0], "-q");
		r |= argv_add(&cmds[0], "update");
		r |= argv_add(&cmds[1], "apt-get");
		r |= argv_add(&cmds[1], "-y");
		r |= argv_add(&cmds[1], "-o");
		r |= argv_add(&cmds[1], "Dpkg::Options::=--force-confdef");
		r |= argv_add(&cmds[1], "-o");
		r |= argv_add(&cmds[1], "Dpkg::Options::=--force-confold");
		r |= argv_add(&cmds[1], "-o");
		r |= argv_add(&cmds[1], "DPkg::Lock::Timeout=300");
		r |= argv_add(&cmds[1], "-o");
		r |= argv_add(&cmds[1], "Dir::Etc::Preferences=%s", prefs);
		r |= argv_add(&cmds[1], "upgrade");
		break;
	case PATCH_PM_UNKNOWN:
		return seterr(err, PATCH_E_CONFIG, "cannot tell how to update this system "
		    "(%s, from %s): set patch_command in the config", osname, OS_RELEASE(c));
	}
out:
	if (r != 0) {
		cmds_free(cmds);
		return seterr(err, PATCH_E_NOMEM, "out of memory");
	}
	return 0;
}

static void
append_quoted(FILE *fp, const char *s)
{
	if (s[0] != '\0' && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_=.,/:+") == strlen(s)) {
		fputs(s, fp);
		return;
	}
	fputc('\'', fp);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", fp);
		else
			fputc(*s, fp);
	fputc('\'', fp);
}

static char *
describe_cmds(enum patch_pm pm, const struct argv *cmds)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	if (fp == NULL)
		return NULL;
	for (int i = 0; i < MAXCMDS; i++) {
		if (cmds[i].n == 0)
			continue;
		if (pm == PATCH_PM_APT && cmds[i].v[0][0] != '/')
			fputs("DEBIAN_FRONTEND=noninteractive ", fp);
		for (size_t k = 0; k < cmds[i].n; k++) {
			if (k > 0)
				fputc(' ', fp);
			append_quoted(fp, cmds[i].v[k]);
		}
		fputc('\n', fp);
	}
	if (fclose(fp) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *
patch_describe(const struct patch_cfg *c, struct patch_error *err)
{
	struct argv cmds[MAXCMDS];
	char osname[128];
	enum patch_pm pm = patch_detect(c, osname, sizeof(osname));
	char *s;

	if (build_cmds(c, pm, osname, cmds, err) < 0)
		return NULL;
	s = describe_cmds(pm, cmds);
	cmds_free(cmds);
	if (s == NULL)
		seterr(err, PATCH_E_NOMEM, "out of memory");
	return s;
}

/* ---- kernels ---- */

void
patch_kernel_running(char *buf, size_t len)
{
	const char *t = getenv("PCM_TEST_KERNEL");
	struct utsname u;

	if (t != NULL && t[0] != '\0')
		snprintf(buf, len, "%s", t);
	else if (uname(&u) == 0)
		snprintf(buf, len, "%s", u.release);
	else
		snprintf(buf, len, "unknown");
}

void
patch_kernel_newest(const struct patch_cfg *c, char *buf, size_t len)
{
	const char *dir = MODULES_DIR(c);
	DIR *d = opendir(dir);
	struct dirent *e;
	char best[256] = "";

	buf[0] = '\0';
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char p[1024];
		struct stat st;

		if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(best))
			continue;
		snprintf(p, sizeof(p), "%s/%s/modules.dep", dir, e->d_name);
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (best[0] == '\0' || strverscmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	}
	closedir(d);
	snprintf(buf, len, "%s", best);
}

/* ---- running programs ---- */

static int
in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[1024];

	if (path == NULL)
		path = "/usr/sbin:/usr/bin:/sbin:/bin";
	for (const char *p = path; *p; ) {
		size_t n = strcspn(p, ":");
		if (n > 0) {
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
			if (access(buf, X_OK) == 0)
				return 1;
		}
		p += n;
		p += strspn(p, ":");
	}
	return 0;
}

/* In the child: stdin from /dev/null, stdout to out, stderr to errfd (-1:
 * /dev/null), its own process group, a plain C locale. */
static void
child_exec(char *const *argv, int out, int errfd)
{
	int nul = open("/dev/null", O_RDWR);

	setpgid(0, 0);
	if (nul >= 0)
		dup2(nul, 0);
	dup2(out, 1);
	dup2(errfd >= 0 ? errfd : nul, 2);
	setenv("LC_ALL", "C", 1);
	setenv("DEBIAN_FRONTEND", "noninteractive", 1);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* run argv, stdout into *out (malloc'd); the exit status in *status */
static int
run_capture(char *const *argv, char **out, int *status, struct patch_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int fds[2], rc = 0;
	pid_t pid;
	FILE *fp;

	*out = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return seterr(err, PATCH_E_EXEC, "cannot run %s: pipe: %s", argv[0], strerror(errno));
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return seterr(err, PATCH_E_EXEC, "cannot run %s: fork: %s", argv[0], strerror(errno));
	}
	if (pid == 0)
		child_exec(argv, fds[1], -1);
	close(fds[1]);
	if ((fp = open_memstream(&buf, &len)) == NULL) {
		rc = seterr(err, PATCH_E_NOMEM, "out of memory");
	} else {
		char chunk[8192];
		ssize_t n;
		while ((n = read(fds[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
			if (n > 0)
				fwrite(chunk, 1, (size_t)n, fp);
		fclose(fp);
	}
	close(fds[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sort the lines of text in place (it is replaced) */
static int
sort_lines(char **text)
{
	char **v = NULL, *p, *save = NULL, *buf = NULL;
	size_t n = 0, cap = 0, len = 0;
	FILE *fp;
	int rc = -1;

	for (p = strtok_r(*text, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		if (n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
			if (nv == NULL)
				goto out;
			v = nv;
		}
		v[n++] = p;
	}
	qsort(v, n, sizeof(*v), cmp_str);
	if ((fp = open_memstream(&buf, &len)) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		fprintf(fp, "%s\n", v[i]);
	if (fclose(fp) != 0)
		goto out;
	free(*text);
	*text = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	free(v);
	return rc;
}

int
patch_packages(enum patch_pm pm, char **out, struct patch_error *err)
{
	static char *const rpm[] = { "rpm", "-qa", "--qf",
	    "%{NAME}.%{ARCH} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n", NULL };
	static char *const dpkg[] = { "dpkg-query", "-W", "-f",
	    "${db:Status-Abbrev}${Package}:${Architecture} ${Version}\\n", NULL };
	char *const *argv;
	char *text = NULL;
	int st, rc;

	*out = NULL;
	if (pm == PATCH_PM_UNKNOWN)	/* patch_command on a system we do not know */
		pm = in_path("rpm") ? PATCH_PM_DNF : in_path("dpkg-query") ? PATCH_PM_APT :
		    PATCH_PM_UNKNOWN;
	if (pm == PATCH_PM_UNKNOWN)
		return seterr(err, PATCH_E_EXEC, "cannot list the installed packages: neither "
		    "rpm nor dpkg-query on PATH");
	argv = pm == PATCH_PM_APT ? dpkg : rpm;
	if ((rc = run_capture(argv, &text, &st, err)) < 0)
		return rc;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		free(text);
		return seterr(err, PATCH_E_FAILED, "cannot list the installed packages: %s "
		    "exited %d", argv[0], WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	}
	if (pm == PATCH_PM_APT) {	/* keep "ii " (installed) lines, without it */
		char *w = text;
		for (char *l = text; *l; ) {
			size_t n = strcspn(l, "\n");
			if (n > 3 && strncmp(l, "ii ", 3) == 0) {
				memmove(w, l + 3, n - 3);
				w += n - 3;
				*w++ = '\n';
			}
			l += n;
			l += *l == '\n';
		}
		*w = '\0';
	}
	if (sort_lines(&text) < 0) {
		free(text);
		return seterr(err, PATCH_E_NOMEM, "out of memory");
	}
	*out = text;
	return 0;
}

/* ---- the diff ---- */

struct pkg {
	char	*name;
	char	*ver;
};

static int
cmp_pkg(const void *a, const void *b)
{
	const struct pkg *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strverscmp(x->ver, y->ver);
}

/* "name version" lines (others ignored: the "kernel" header, blanks) */
static int
parse_pkgs(const char *text, struct pkg **out, size_t *nout)
{
	struct pkg *v = NULL;
	size_t n = 0;

	for (const char *l = text ? text : ""; *l; ) {
		size_t len = strcspn(l, "\n"), nl = strcspn(l, " ");
		if (nl < len && nl > 0 && strncmp(l, "kernel ", 7) != 0 &&
		    strncmp(l, "operation ", 10) != 0) {
			struct pkg *nv = realloc(v, (n + 1) * sizeof(*v));
			if (nv == NULL)
				goto nomem;
			v = nv;
			v[n].name = strndup(l, nl);
			v[n].ver = strndup(l + nl + 1, len - nl - 1);
			n++;
			if (v[n - 1].name == NULL || v[n - 1].ver == NULL)
				goto nomem;
		}
		l += len;
		l += *l == '\n';
	}
	qsort(v, n, sizeof(*v), cmp_pkg);
	*out = v;
	*nout = n;
	return 0;
nomem:
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].ver);
	}
	free(v);
	return -1;
}

static void
pkgs_free(struct pkg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].ver);
	}
	free(v);
}

void
patch_changes_free(struct patch_changes *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].from);
		free(l->v[i].to);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
has_ver(const struct pkg *v, size_t n, const char *ver)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].ver, ver) == 0)
			return 1;
	return 0;
}

/* the versions of g (ng) not in other, comma-separated; NULL when none */
static char *
versions_not_in(const struct pkg *g, size_t ng, const struct pkg *other, size_t nother)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	int any = 0;

	if (fp == NULL)
		return NULL;
	for (size_t i = 0; i < ng; i++)
		if (!has_ver(other, nother, g[i].ver))
			fprintf(fp, "%s%s", any++ ? "," : "", g[i].ver);
	fclose(fp);
	if (!any) {
		free(buf);
		return NULL;
	}
	return buf;
}

int
patch_diff(const char *before, const char *after, struct patch_changes *out)
{
	struct pkg *b = NULL, *a = NULL;
	size_t nb = 0, na = 0, i = 0, j = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (parse_pkgs(before, &b, &nb) < 0 || parse_pkgs(after, &a, &na) < 0)
		goto out;
	while (i < nb || j < na) {
		size_t i2 = i, j2 = j;
		const char *name;
		int c = i >= nb ? 1 : j >= na ? -1 : strcmp(b[i].name, a[j].name);

		name = c <= 0 ? b[i].name : a[j].name;
		if (c <= 0)
			while (i2 < nb && strcmp(b[i2].name, name) == 0)
				i2++;
		if (c >= 0)
			while (j2 < na && strcmp(a[j2].name, name) == 0)
				j2++;
		char *from = versions_not_in(b + i, i2 - i, a + j, j2 - j);
		char *to = versions_not_in(a + j, j2 - j, b + i, i2 - i);
		if (from == NULL && to != NULL && i2 > i)	/* kernel: one more installed */
			from = strdup(b[i2 - 1].ver);
		if (from != NULL || to != NULL) {
			struct patch_change *nv = realloc(out->v, (out->n + 1) * sizeof(*nv));
			if (nv == NULL || (out->v = nv, (nv[out->n].name = strdup(name)) == NULL)) {
				free(from);
				free(to);
				goto out;
			}
			nv[out->n].from = from;
			nv[out->n].to = to;
			out->n++;
		}
		i = i2;
		j = j2;
	}
	rc = 0;
out:
	pkgs_free(b, nb);
	pkgs_free(a, na);
	if (rc < 0)
		patch_changes_free(out);
	return rc;
}

/* ---- reboot needed ---- */

int
patch_reboot_needed(const struct patch_cfg *c, enum patch_pm pm, char *why, size_t len)
{
	char running[128], newest[128];
	struct stat st;

	patch_kernel_running(running, sizeof(running));
	patch_kernel_newest(c, newest, sizeof(newest));
	if (newest[0] != '\0' && strcmp(newest, running) != 0 &&
	    strverscmp(newest, running) > 0) {
		snprintf(why, len, "kernel %s is installed, %s is running", newest, running);
		return 1;
	}
	if (stat(REBOOT_REQ(c), &st) == 0) {
		snprintf(why, len, "%s exists", REBOOT_REQ(c));
		return 1;
	}
	if ((pm == PATCH_PM_DNF || pm == PATCH_PM_YUM) && in_path("needs-restarting")) {
		static char *const nr[] = { "needs-restarting", "-r", NULL };
		char *text = NULL;
		int status;

		if (run_capture(nr, &text, &status, NULL) == 0 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 1) {
			snprintf(why, len, "needs-restarting -r says so");
			free(text);
			return 1;
		}
		free(text);
	}
	snprintf(why, len, "kernel %s is running%s, no %s%s", running,
	    newest[0] ? " and is the newest" : "", REBOOT_REQ(c),
	    pm == PATCH_PM_DNF || pm == PATCH_PM_YUM ? ", needs-restarting -r: no" : "");
	return 0;
}

/* ---- the update ---- */

/* the last non-empty line of the log (after the offset), printable */
static void
log_last_line(int fd, off_t from, char *buf, size_t len)
{
	char tail[1024];
	off_t end = lseek(fd, 0, SEEK_END), start = end - (off_t)sizeof(tail) + 1;
	ssize_t n;
	char *l, *e;

	buf[0] = '\0';
	if (start < from)
		start = from;
	if (end <= start || (n = pread(fd, tail, (size_t)(end - start), start)) <= 0)
		return;
	tail[n] = '\0';
	for (e = tail + n; e > tail && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '); e--)
		;
	*e = '\0';
	for (l = e; l > tail && l[-1] != '\n' && l[-1] != '\r'; l--)
		;
	size_t k = 0;
	for (; *l && k + 1 < len; l++)
		buf[k++] = isprint((unsigned char)*l) ? *l : '?';
	buf[k] = '\0';
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The package manager runs in a process group of its own: when pcm-agent is
 * killed (kill -9, Ctrl-C, a crash, its terminal closed) it goes on to the end of its
 * transaction, as it must (a package manager killed in the middle can leave
 * the rpm or dpkg database half-written).  So that a rerun does not start a
 * second update beside it, STATE_DIR/patch.pid records "PGID STARTTIME" of
 * the running command before it may start (the child waits on a pipe for
 * the record: a pcm-agent killed before writing it leaves no update
 * running), and is removed when pcm-agent has seen it end.
 */
#define PATCH_PID_NAME	"patch.pid"

static char *read_file(const char *path);
static int write_atomic(const char *path, const char *text);

/* from /proc/PID/stat: the state (field 3), the process group (5) and the
 * start time in clock ticks (22); -1 when there is no such process */
static int
proc_stat(pid_t pid, char *state, long long *pgrp, unsigned long long *start)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%c %*d %lld %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
	    "%*d %*d %*d %llu", state, pgrp, start) != 3)
		return -1;
	return 0;
}

/* some process of group pg has not ended (zombies have) */
static int
group_alive(pid_t pg)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int alive = 0;

	if (d == NULL)
		return kill(-pg, 0) == 0;
	while (!alive && (de = readdir(d)) != NULL) {
		char st, *end;
		long long grp;
		unsigned long long t;
		long pid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || pid <= 0)
			continue;
		if (proc_stat((pid_t)pid, &st, &grp, &t) == 0 && grp == pg && st != 'Z')
			alive = 1;
	}
	closedir(d);
	return alive;
}

static void
pid_path(const char *state_dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" PATCH_PID_NAME, state_dir);
}

/*
 * The update an earlier pcm-agent started, if it still runs: its process
 * group id, else 0 (a stale record is removed).  Still running: a process
 * of that group has not ended, and the group's leader is either gone (the
 * package manager under sh -c goes on) or the one recorded (its start time:
 * not a reused pid).
 */
pid_t
patch_running(const char *state_dir)
{
	char path[1024], *text, st;
	long long pg = 0, grp;
	unsigned long long start = 0, t;

	pid_path(state_dir, path, sizeof(path));
	if ((text = read_file(path)) == NULL)
		return 0;
	if (sscanf(text, "%lld %llu", &pg, &start) != 2 || pg <= 1 || pg > INT_MAX) {
		free(text);
		unlink(path);
		return 0;
	}
	free(text);
	if ((proc_stat((pid_t)pg, &st, &grp, &t) < 0 || t == start) && group_alive((pid_t)pg))
		return (pid_t)pg;
	unlink(path);
	return 0;
}

/* one command, its output appended to the log fd, until deadline_ms */
static int
run_logged(char *const *argv, const char *state_dir, int logfd, const char *logpath,
    long long start_ms, long long deadline_ms, long progress_s, patch_progress_fn progress,
    void *arg, struct patch_error *err)
{
	long long next = now_ms() + progress_s * 1000LL;
	off_t from = lseek(logfd, 0, SEEK_END);
	char last[200], ppath[1024], rec[64];
	int status, go[2];
	pid_t pid;

	pid_path(state_dir, ppath, sizeof(ppath));
	if (pipe2(go, O_CLOEXEC) < 0)
		return seterr(err, PATCH_E_EXEC, "cannot run %s: pipe: %s", argv[0], strerror(errno));
	if ((pid = fork()) < 0) {
		close(go[0]);
		close(go[1]);
		return seterr(err, PATCH_E_EXEC, "cannot run %s: fork: %s", argv[0], strerror(errno));
	}
	if (pid == 0) {
		char c = 0;
		ssize_t n;

		close(go[1]);
		setpgid(0, 0);
		/* start only once recorded: EOF means pcm-agent died before */
		while ((n = read(go[0], &c, 1)) < 0 && errno == EINTR)
			;
		if (n != 1 || c != 'g')
			_exit(126);
		child_exec(argv, logfd, logfd);
	}
	close(go[0]);
	setpgid(pid, pid);
	{
		char st;
		long long grp;
		unsigned long long t = 0;

		proc_stat(pid, &st, &grp, &t);
		snprintf(rec, sizeof(rec), "%d %llu\n", (int)pid, t);
	}
	if (write_atomic(ppath, rec) < 0 || write(go[1], "g", 1) != 1) {
		int e = errno;

		close(go[1]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		unlink(ppath);
		return seterr(err, PATCH_E_IO, "cannot record the OS update in %s: %s; not run",
		    ppath, strerror(e));
	}
	close(go[1]);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return seterr(err, PATCH_E_EXEC, "%s: waitpid: %s", argv[0], strerror(errno));
		if (deadline_ms > 0 && now_ms() >= deadline_ms) {
			kill(-pid, SIGTERM);
			for (int k = 0; k < 50 && waitpid(pid, &status, WNOHANG) == 0; k++)
				sleep_ms(100);
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			unlink(ppath);
			dprintf(logfd, "=== pcm-agent: timed out after %lld s, killed\n",
			    (now_ms() - start_ms) / 1000);
			return seterr(err, PATCH_E_TIMEOUT, "the OS update timed out after %lld s "
			    "(%s killed; patch_timeout; see %s)", (now_ms() - start_ms) / 1000,
			    argv[0], logpath);
		}
		if (progress != NULL && now_ms() >= next) {
			log_last_line(logfd, from, last, sizeof(last));
			progress((long)((now_ms() - start_ms) / 1000), last, arg);
			next = now_ms() + progress_s * 1000LL;
		}
		sleep_ms(100);
	}
	/* ended while watched: what it left running (a daemon a package's
	 * script started) is not an update in progress */
	unlink(ppath);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	log_last_line(logfd, from, last, sizeof(last));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return seterr(err, PATCH_E_EXEC, "cannot run %s (%s; see %s)", argv[0],
		    last, logpath);
	if (WIFEXITED(status))
		return seterr(err, PATCH_E_FAILED, "the OS update failed: %s exited %d "
		    "(last output: \"%s\"; see %s)", argv[0], WEXITSTATUS(status), last, logpath);
	return seterr(err, PATCH_E_FAILED, "the OS update failed: %s killed by signal %d "
	    "(see %s)", argv[0], WTERMSIG(status), logpath);
}

static char *
read_file(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	char chunk[8192];
	size_t n;

	if (fp == NULL)
		return NULL;
	if ((mem = open_memstream(&buf, &len)) == NULL) {
		fclose(fp);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		fwrite(chunk, 1, n, mem);
	fclose(fp);
	if (fclose(mem) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* write text to path atomically, 0600 */
static int
write_atomic(const char *path, const char *text)
{
	char tmp[1100];
	size_t len = strlen(text);
	int fd, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (write(fd, text, len) == (ssize_t)len && fsync(fd) == 0)
		rc = 0;
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -1;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* the apt preferences of the run: the system's, then each excluded
 * installed package pinned to its installed version */
static int
write_apt_prefs(const struct patch_cfg *c, const char *before, struct patch_error *err)
{
	char path[1024], *sys = read_file(APT_PREFS(c)), *buf = NULL;
	struct pkg *v = NULL;
	size_t n = 0, len = 0;
	FILE *fp;
	int rc;

	apt_prefs_path(c, path, sizeof(path));
	if (parse_pkgs(before, &v, &n) < 0 || (fp = open_memstream(&buf, &len)) == NULL) {
		free(sys);
		pkgs_free(v, n);
		return seterr(err, PATCH_E_NOMEM, "out of memory");
	}
	if (sys != NULL)
		fprintf(fp, "%s\n\n", sys);
	for (size_t i = 0; i < n; i++) {
		size_t nl = strcspn(v[i].name, ":");
		char name[256];

		snprintf(name, sizeof(name), "%.*s", (int)nl, v[i].name);
		if (!excluded(c->exclude, name))
			continue;
		fprintf(fp, "# patch_exclude (pcm-agent)\nPackage: %s\nPin: version %s\n"
		    "Pin-Priority: 1001\n\n", name, v[i].ver);
	}
	fclose(fp);
	rc = write_atomic(path, buf ? buf : "") < 0 ?
	    seterr(err, PATCH_E_IO, "cannot write %s: %s", path, strerror(errno)) : 0;
	free(sys);
	free(buf);
	pkgs_free(v, n);
	return rc;
}

void
patch_result_free(struct patch_result *r)
{
	if (r != NULL)
		patch_changes_free(&r->changes);
}

void
patch_forget(const struct patch_cfg *c)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/" PATCH_BEFORE_NAME, c->state_dir);
	unlink(path);
	apt_prefs_path(c, path, sizeof(path));
	unlink(path);
}

/*
 * An update an earlier pcm-agent started (it was killed meanwhile) still
 * runs: wait for it to end, within the timeout of this one; it is not
 * stopped (see above).  0 when none runs (any more).
 */
static int
wait_earlier(const struct patch_cfg *c, long long start_ms, long long deadline_ms,
    patch_progress_fn progress, void *arg, struct patch_error *err)
{
	long long next = 0;
	pid_t pg = patch_running(c->state_dir);
	char line[200];

	if (pg == 0)
		return 0;
	log_notice("the OS update an earlier pcm-agent started (process group %d) still runs: "
	    "waiting for it to end (it is not stopped: a package manager stopped in the middle "
	    "can leave the package database broken)", (int)pg);
	snprintf(line, sizeof(line), "waiting for the OS update of an earlier run "
	    "(process group %d) to end", (int)pg);
	while ((pg = patch_running(c->state_dir)) != 0) {
		if (deadline_ms > 0 && now_ms() >= deadline_ms)
			return seterr(err, PATCH_E_TIMEOUT, "the OS update an earlier pcm-agent "
			    "started (process group %d) still runs after %lld s (patch_timeout): "
			    "not stopped; wait for it to end (see %s/" PATCH_LOG_NAME "), then run "
			    "prepare-restart again", (int)pg, (now_ms() - start_ms) / 1000,
			    c->state_dir);
		if (progress != NULL && now_ms() >= next) {
			progress((long)((now_ms() - start_ms) / 1000), line, arg);
			next = now_ms() + (c->progress_s > 0 ? c->progress_s : 10) * 1000LL;
		}
		sleep_ms(200);
	}
	log_info("the OS update of the earlier run has ended: running the update again "
	    "(what it left to do)");
	return 0;
}

int
patch_update(const struct patch_cfg *c, patch_progress_fn progress, void *arg,
    struct patch_result *r, struct patch_error *err)
{
	struct argv cmds[MAXCMDS] = { { 0 } };
	char osname[128], bpath[1024], *before = NULL, *after = NULL;
	long long start = now_ms(), deadline;
	int logfd = -1, rc;
	struct patch_error e2;

	memset(r, 0, sizeof(*r));
	snprintf(r->log, sizeof(r->log), "%s/" PATCH_LOG_NAME, c->state_dir);
	snprintf(bpath, sizeof(bpath), "%s/" PATCH_BEFORE_NAME, c->state_dir);
	r->pm = patch_detect(c, osname, sizeof(osname));
	patch_kernel_running(r->kernel_running, sizeof(r->kernel_running));
	if ((rc = build_cmds(c, r->pm, osname, cmds, err)) < 0)
		goto out;
	deadline = c->timeout_s > 0 ? start + c->timeout_s * 1000LL : 0;
	if ((rc = wait_earlier(c, start, deadline, progress, arg, err)) < 0)
		goto out;

	/* before: the first run's list of this operation wins */
	if ((before = read_file(bpath)) != NULL) {
		char want[256];

		snprintf(want, sizeof(want), "operation %s\n", c->operation ? c->operation : "-");
		if (strncmp(before, want, strlen(want)) != 0) {	/* another operation's */
			free(before);
			before = NULL;
		}
	}
	if (before == NULL) {
		char *list = NULL, *text;
		char kernel[128];

		if ((rc = patch_packages(r->pm, &list, err)) < 0)
			goto out;
		patch_kernel_newest(c, kernel, sizeof(kernel));
		if (asprintf(&text, "operation %s\nkernel %s\n%s", c->operation ? c->operation : "-",
		    kernel[0] ? kernel : "-", list) < 0) {
			free(list);
			rc = seterr(err, PATCH_E_NOMEM, "out of memory");
			goto out;
		}
		free(list);
		if (write_atomic(bpath, text) < 0) {
			rc = seterr(err, PATCH_E_IO, "cannot write %s: %s", bpath, strerror(errno));
			free(text);
			goto out;
		}
		before = text;
	}
	const char *kl = strstr(before, "\nkernel ");
	if (kl != NULL) {
		size_t n = strcspn(kl + 8, "\n");
		snprintf(r->kernel_before, sizeof(r->kernel_before), "%.*s", (int)n, kl + 8);
		if (strcmp(r->kernel_before, "-") == 0)
			r->kernel_before[0] = '\0';
	}
	if (r->pm == PATCH_PM_APT && (c->command == NULL || c->command[0] == '\0') &&
	    (rc = write_apt_prefs(c, before, err)) < 0)
		goto out;

	if ((logfd = open(r->log, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
	    0600)) < 0) {
		rc = seterr(err, PATCH_E_IO, "cannot open the log %s: %s", r->log, strerror(errno));
		goto out;
	}
	for (int i = 0; i < MAXCMDS; i++) {
		char *desc;
		time_t t = time(NULL);
		char when[32];
		struct argv one[MAXCMDS] = { cmds[i] };

		if (cmds[i].n == 0)
			continue;
		desc = describe_cmds(r->pm, one);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		dprintf(logfd, "=== %s pcm-agent: %s", when, desc ? desc : "?\n");
		free(desc);
		rc = run_logged(cmds[i].v, c->state_dir, logfd, r->log, start, deadline,
		    c->progress_s > 0 ? c->progress_s : 10, progress, arg, err);
		if (rc < 0)
			break;
	}
	r->elapsed_s = (long)((now_ms() - start) / 1000);
	dprintf(logfd, "=== pcm-agent: %s after %ld s\n", rc == 0 ? "done" : "FAILED",
	    r->elapsed_s);

	/* after, also when it failed: what did it change before failing? */
	if (patch_packages(r->pm, &after, rc < 0 ? &e2 : err) < 0) {
		if (rc == 0)
			rc = PATCH_E_FAILED;
		goto out;
	}
	if (patch_diff(before, after, &r->changes) < 0 && rc == 0)
		rc = seterr(err, PATCH_E_NOMEM, "out of memory");
	patch_kernel_newest(c, r->kernel_after, sizeof(r->kernel_after));
	r->reboot_needed = patch_reboot_needed(c, r->pm, r->reboot_why, sizeof(r->reboot_why));
out:
	if (logfd >= 0)
		close(logfd);
	cmds_free(cmds);
	free(before);
	free(after);
	return rc;
}

struct json_object *
patch_result_json(const struct patch_result *r)
{
	struct json_object *o = json_object_new_object(), *u = json_object_new_array();

	json_object_object_add(o, "pm", json_object_new_string(patch_pm_name(r->pm)));
	json_object_object_add(o, "kernel_running", json_object_new_string(r->kernel_running));
	json_object_object_add(o, "kernel_before", json_object_new_string(r->kernel_before));
	json_object_object_add(o, "kernel_after", json_object_new_string(r->kernel_after));
	for (size_t i = 0; i < r->changes.n; i++) {
		const struct patch_change *ch = &r->changes.v[i];
		struct json_object *x = json_object_new_object();
		json_object_object_add(x, "name", json_object_new_string(ch->name));
		json_object_object_add(x, "from", ch->from ? json_object_new_string(ch->from) : NULL);
		json_object_object_add(x, "to", ch->to ? json_object_new_string(ch->to) : NULL);
		json_object_array_add(u, x);
	}
	json_object_object_add(o, "updated", u);
	json_object_object_add(o, "reboot_needed", json_object_new_boolean(r->reboot_needed));
	json_object_object_add(o, "reboot_why", json_object_new_string(r->reboot_why));
	json_object_object_add(o, "log", json_object_new_string(r->log));
	json_object_object_add(o, "elapsed_s", json_object_new_int64(r->elapsed_s));
	return o;
}
