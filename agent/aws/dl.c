/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dl.c - libcurl and libxml2, loaded the first time they are used.
 *
 * pcm-agent is not linked against them: together they bring ~40 shared
 * libraries (TLS, Kerberos, LDAP, ICU, ...) that take 8 MiB of resident
 * memory and most of a cold start, and the commands that never talk to AWS
 * (save, restore, verify, targets, jobs, the hooks) do not need them.  This
 * file defines the few functions the agent calls, with libcurl's and
 * libxml2's own prototypes (so callers, and curl's compile-time type checks
 * of curl_easy_setopt, see the real declarations); each one loads the
 * library on first use and calls through to it.  systemd does the same
 * with its optional libraries.
 *
 * When a library cannot be loaded, the constructors fail the way they do
 * without memory (curl_easy_init and xmlReadMemory return NULL,
 * curl_global_init an error) and the reason is logged once: "cannot load
 * libcurl.so.4: ... (install libcurl4)".  The packages depend on both.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "dl.h"
#include "log.h"

#ifndef PCM_LIBCURL
#define PCM_LIBCURL "libcurl.so.4"
#endif
#ifndef PCM_LIBXML2
#define PCM_LIBXML2 "libxml2.so.2"
#endif

static struct {
	CURLcode (*global_init)(long);
	curl_version_info_data *(*version_info)(CURLversion);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_perform)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} c;

static struct {
	xmlDocPtr (*read_memory)(const char *, int, const char *, const char *, int);
	xmlNodePtr (*root)(const xmlDoc *);
	void (*free_doc)(xmlDocPtr);
	xmlChar *(*content)(const xmlNode *);
	int (*strcmp_)(const xmlChar *, const xmlChar *);
} x;

/* libxml2 exports xmlFree as a variable (a function pointer), or with
 * per-thread allocators as a function returning its address */
#ifdef LIBXML_THREAD_ALLOC_ENABLED
static xmlFreeFunc free_fn;

xmlFreeFunc *
__xmlFree(void)
{
	return &free_fn;
}
#define FREE_FN free_fn
#else
xmlFreeFunc xmlFree;
#define FREE_FN xmlFree
#endif

struct lib {
	const char	*soname, *env, *package;
	pthread_once_t	 once;
	int		 ok;
	void		*h;
};

static struct lib lcurl = { PCM_LIBCURL, "PCM_TEST_LIBCURL", "libcurl4", PTHREAD_ONCE_INIT, 0, NULL };
static struct lib lxml = { PCM_LIBXML2, "PCM_TEST_LIBXML2", "libxml2", PTHREAD_ONCE_INIT, 0, NULL };

/* resolve `name` into *slot; 0, or -1 with the reason logged */
static int
sym(struct lib *l, const char *name, void *slot)
{
	void *p = dlsym(l->h, name);

	if (p == NULL) {
		log_warnx("cannot load %s: it has no %s (install a current %s)", l->soname, name,
		    l->package);
		return -1;
	}
	*(void **)slot = p;
	return 0;
}

static void *
open_lib(struct lib *l)
{
	/* the test hook names another file, to see the failure */
	const char *name = getenv(l->env);
	void *h = dlopen(name && *name ? name : l->soname, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL)
		log_warnx("cannot load %s: %s (install %s)", l->soname, dlerror(), l->package);
	return h;
}

static void
load_curl(void)
{
	struct lib *l = &lcurl;

	if ((l->h = open_lib(l)) == NULL)
		return;
	l->ok = sym(l, "curl_global_init", &c.global_init) == 0 &&
	    sym(l, "curl_version_info", &c.version_info) == 0 &&
	    sym(l, "curl_easy_init", &c.easy_init) == 0 &&
	    sym(l, "curl_easy_cleanup", &c.easy_cleanup) == 0 &&
	    sym(l, "curl_easy_reset", &c.easy_reset) == 0 &&
	    sym(l, "curl_easy_setopt", &c.easy_setopt) == 0 &&
	    sym(l, "curl_easy_getinfo", &c.easy_getinfo) == 0 &&
	    sym(l, "curl_easy_perform", &c.easy_perform) == 0 &&
	    sym(l, "curl_easy_strerror", &c.easy_strerror) == 0 &&
	    sym(l, "curl_slist_append", &c.slist_append) == 0 &&
	    sym(l, "curl_slist_free_all", &c.slist_free_all) == 0;
}

static void
load_xml(void)
{
	struct lib *l = &lxml;
#ifdef LIBXML_THREAD_ALLOC_ENABLED
	xmlFreeFunc *(*fpf)(void) = NULL;
#else
	xmlFreeFunc *fp = NULL;
#endif

	if ((l->h = open_lib(l)) == NULL)
		return;
	l->ok = sym(l, "xmlReadMemory", &x.read_memory) == 0 &&
	    sym(l, "xmlDocGetRootElement", &x.root) == 0 &&
	    sym(l, "xmlFreeDoc", &x.free_doc) == 0 &&
	    sym(l, "xmlNodeGetContent", &x.content) == 0 &&
	    sym(l, "xmlStrcmp", &x.strcmp_) == 0 &&
#ifdef LIBXML_THREAD_ALLOC_ENABLED
	    sym(l, "__xmlFree", &fpf) == 0;
	if (l->ok)
		FREE_FN = *fpf();
#else
	    sym(l, "xmlFree", &fp) == 0;
	if (l->ok)
		FREE_FN = *fp;
#endif
}

int
dl_curl(void)
{
	pthread_once(&lcurl.once, load_curl);
	return lcurl.ok ? 0 : -1;
}

int
dl_xml(void)
{
	pthread_once(&lxml.once, load_xml);
	return lxml.ok ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* libcurl */

CURLcode
curl_global_init(long flags)
{
	return dl_curl() == 0 ? c.global_init(flags) : CURLE_FAILED_INIT;
}

curl_version_info_data *
curl_version_info(CURLversion v)
{
	return dl_curl() == 0 ? c.version_info(v) : NULL;
}

CURL *
curl_easy_init(void)
{
	return dl_curl() == 0 ? c.easy_init() : NULL;
}

/* the calls below take a handle or a list that only the loaded library
 * could have made: it is loaded */
void
curl_easy_cleanup(CURL *h)
{
	if (h != NULL)
		c.easy_cleanup(h);
}

void
curl_easy_reset(CURL *h)
{
	c.easy_reset(h);
}

/* One argument follows the option, its type given by the option's range,
 * as libcurl itself reads it. */
CURLcode
(curl_easy_setopt)(CURL *h, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = c.easy_setopt(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = c.easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = c.easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = c.easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = c.easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode
(curl_easy_getinfo)(CURL *h, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	va_start(ap, info);	/* always a pointer */
	rc = c.easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode
curl_easy_perform(CURL *h)
{
	return c.easy_perform(h);
}

const char *
curl_easy_strerror(CURLcode cc)
{
	return dl_curl() == 0 ? c.easy_strerror(cc) : "libcurl could not be loaded";
}

struct curl_slist *
curl_slist_append(struct curl_slist *l, const char *s)
{
	return dl_curl() == 0 ? c.slist_append(l, s) : NULL;
}

void
curl_slist_free_all(struct curl_slist *l)
{
	if (l != NULL)
		c.slist_free_all(l);
}

/* ------------------------------------------------------------------ */
/* libxml2 */

xmlDocPtr
xmlReadMemory(const char *buf, int size, const char *url, const char *enc, int options)
{
	return dl_xml() == 0 ? x.read_memory(buf, size, url, enc, options) : NULL;
}

xmlNodePtr
xmlDocGetRootElement(const xmlDoc *doc)
{
	return doc != NULL ? x.root(doc) : NULL;
}

void
xmlFreeDoc(xmlDocPtr doc)
{
	if (doc != NULL)
		x.free_doc(doc);
}

xmlChar *
xmlNodeGetContent(const xmlNode *n)
{
	return n != NULL ? x.content(n) : NULL;
}

int
xmlStrcmp(const xmlChar *a, const xmlChar *b)
{
	if (dl_xml() == 0)
		return x.strcmp_(a, b);
	return strcmp(a ? (const char *)a : "", b ? (const char *)b : "");
}
