/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sched.c - libslurm lifecycle, reachability and the deadline on RPCs.
 *
 * libslurm has two traps: it exit()s from fatal() when it cannot load its
 * config, and with slurmctld down each RPC retries its connection for about
 * nine seconds.  The config is checked (and loaded once in a child process)
 * before slurm_init(); every RPC runs in a worker thread the caller waits
 * for at most slurm_timeout seconds, and a slow answer triggers a TCP
 * connect to the controller to tell "down" from "slow" (see sched_rpc).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "config.h"
#include "log.h"
#include "sched_int.h"

/* libslurm's parsed slurm.conf: exported by libslurm (read_config.c) but
 * not declared in its headers; its type is the public slurm_conf_t. */
extern slurm_conf_t slurm_conf;

static int sched_opened;	/* libslurm is process-global */
/* Worker threads given up on and still inside libslurm (process-global like
 * libslurm): while any is, no new RPC starts and slurm_fini() is skipped. */
static atomic_int sched_stuck;

const char *
sched_built_version(void)
{
	static char v[32];

	if (v[0] == '\0')
		snprintf(v, sizeof(v), "%d.%02d.%d", SLURM_VERSION_MAJOR(SLURM_VERSION_NUMBER),
		    SLURM_VERSION_MINOR(SLURM_VERSION_NUMBER),
		    SLURM_VERSION_MICRO(SLURM_VERSION_NUMBER));
	return v;
}

/* "24.11.5" -> 24, 11; 0 or -1 */
static int
release_parse(const char *v, unsigned *major, unsigned *minor)
{
	char *end;
	unsigned long a, b;

	if (v == NULL || *v < '0' || *v > '9')
		return -1;
	a = strtoul(v, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return -1;
	b = strtoul(end + 1, &end, 10);
	if (*end != '.' && *end != '\0' && *end != '-')
		return -1;
	*major = (unsigned)a;
	*minor = (unsigned)b;
	return 0;
}

int
sched_same_release(const char *a, const char *b)
{
	unsigned amaj, amin, bmaj, bmin;

	if (release_parse(a, &amaj, &amin) < 0 || release_parse(b, &bmaj, &bmin) < 0)
		return 0;
	return amaj == bmaj && amin == bmin;
}

void
sched_seterr(struct sched *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

const char *
sched_strerror(const struct sched *s)
{
	return s != NULL ? s->err : "";
}

const char *
sched_cluster_name(const struct sched *s)
{
	return s->cluster_name != NULL ? s->cluster_name : "";
}

const char *
sched_controller(const struct sched *s)
{
	return s->controller;
}

int
sched_cluster_requeue(const struct sched *s)
{
	return s->job_requeue;
}

unsigned
sched_msg_timeout(const struct sched *s)
{
	return s->msg_timeout;
}

/*
 * Load the config in a child first: libslurm exit()s from fatal() on a
 * config it cannot parse, and that must not be us.  Returns 0 or -EINVAL.
 */
static int
probe_config_in_child(void)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 0;	/* cannot probe: go on, slurm_init may still work */
	if (pid == 0) {
		slurm_init(NULL);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return 0;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EINVAL;
}

int
sched_open(const struct pcm_config *cfg, struct sched **out, char *errbuf, size_t errlen)
{
	struct sched *s = NULL;
	const char *path = cfg->slurm_conf;
	struct stat st;
	int fd = -1, rc;

	*out = NULL;
	if (path == NULL || *path == '\0') {
		snprintf(errbuf, errlen, "cannot find the Slurm config: none of SLURM_CONF, "
		    "/opt/slurm/etc/slurm.conf, /etc/slurm/slurm.conf exists "
		    "(set slurm_conf in the pcm-agent config)");
		rc = -ENOENT;
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "cannot use Slurm config %s: %s "
		    "(set slurm_conf in the pcm-agent config or SLURM_CONF to the cluster's slurm.conf)",
		    path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "cannot use Slurm config %s: not a regular file "
		    "(set slurm_conf to the cluster's slurm.conf)", path);
		rc = -EINVAL;
		goto out;
	}
	if (sched_opened) {
		snprintf(errbuf, errlen, "cannot open Slurm twice in one process");
		rc = -EBUSY;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(errbuf, errlen, "cannot open Slurm: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	s->timeout_s = cfg->slurm_timeout > 0 ? cfg->slurm_timeout : 30;
	if ((s->conf_path = strdup(path)) == NULL) {
		snprintf(errbuf, errlen, "cannot open Slurm: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	if (setenv("SLURM_CONF", path, 1) < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "cannot set SLURM_CONF: %s", strerror(-rc));
		goto out;
	}
	if (probe_config_in_child() < 0) {
		snprintf(errbuf, errlen, "cannot load Slurm config %s: libslurm rejected it "
		    "(see its message above; check the file, e.g. with `scontrol show config`)", path);
		rc = -EINVAL;
		goto out;
	}
	slurm_init(NULL);
	sched_opened = 1;
	s->inited = 1;
	(void)sched_built_version();	/* its buffer filled before any worker thread reads it */
#ifdef PCM_SLURM_API_MAJOR
	/* libslurm's API number is its soname's: another one is another release */
	if (SLURM_VERSION_MAJOR(slurm_api_version()) != PCM_SLURM_API_MAJOR) {
		snprintf(errbuf, errlen, "libslurm is libslurm.so.%ld, but pcm-agent was built for "
		    "Slurm %s (libslurm.so.%d): Slurm was upgraded or replaced; rebuild and "
		    "reinstall pcm-agent against the installed Slurm",
		    SLURM_VERSION_MAJOR(slurm_api_version()), sched_built_version(),
		    PCM_SLURM_API_MAJOR);
		rc = -EPROTO;
		goto out;
	}
#endif

	if (slurm_conf.cluster_name != NULL && (s->cluster_name = strdup(slurm_conf.cluster_name)) == NULL) {
		snprintf(errbuf, errlen, "cannot open Slurm: out of memory");
		rc = -ENOMEM;
		goto out;
	}
	s->job_requeue = slurm_conf.job_requeue != 0;
	s->msg_timeout = slurm_conf.msg_timeout;
	s->port = slurm_conf.slurmctld_port;
	s->nctl = slurm_conf.control_cnt < SCHED_MAX_CTL ? slurm_conf.control_cnt : SCHED_MAX_CTL;
	for (size_t i = 0; i < s->nctl; i++) {
		const char *a = slurm_conf.control_addr != NULL && slurm_conf.control_addr[i] != NULL ?
		    slurm_conf.control_addr[i] :
		    (slurm_conf.control_machine != NULL ? slurm_conf.control_machine[i] : NULL);
		if (a == NULL || (s->ctl_addr[i] = strdup(a)) == NULL) {
			snprintf(errbuf, errlen, "cannot use Slurm config %s: no SlurmctldHost "
			    "(add SlurmctldHost= to it)", path);
			rc = -EINVAL;
			goto out;
		}
	}
	if (s->nctl == 0) {
		snprintf(errbuf, errlen, "cannot use Slurm config %s: no SlurmctldHost "
		    "(add SlurmctldHost= to it)", path);
		rc = -EINVAL;
		goto out;
	}
	snprintf(s->controller, sizeof(s->controller), "%s:%u",
	    slurm_conf.control_machine != NULL && slurm_conf.control_machine[0] != NULL ?
	    slurm_conf.control_machine[0] : s->ctl_addr[0], s->port);
	log_debug("slurm: config %s, controller %s, cluster %s, JobRequeue=%d",
	    path, s->controller, sched_cluster_name(s), s->job_requeue);
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	sched_close(s);
	return rc;
}

void
sched_close(struct sched *s)
{
	if (s == NULL)
		return;
	/* with a worker thread still inside libslurm, leave libslurm alone */
	if (s->inited && atomic_load(&sched_stuck) == 0) {
		slurm_fini();
		sched_opened = 0;
	}
	for (size_t i = 0; i < s->nctl; i++)
		free(s->ctl_addr[i]);
	free(s->cluster_name);
	free(s->conf_path);
	free(s);
}

/* Connect to host:port within timeout_ms; 0 or -errno. */
static int
tcp_probe(const char *host, unsigned port, int timeout_ms)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *ai;
	char portstr[16];
	int rc = -EHOSTUNREACH;

	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0)
		return -EADDRNOTAVAIL;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			rc = 0;
		} else if (errno != EINPROGRESS) {
			rc = -errno;
		} else {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int n = poll(&p, 1, timeout_ms), soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (n == 0)
				rc = -ETIMEDOUT;
			else if (n < 0)
				rc = -errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				rc = -errno;
			else
				rc = soerr != 0 ? -soerr : 0;
		}
		close(fd);
		if (rc == 0)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

static void
seterr_unreachable(struct sched *s, const char *why)
{
	sched_seterr(s, "cannot reach slurmctld (%s from %s): %s "
	    "(is slurmctld running? `systemctl status slurmctld`)",
	    s->controller, s->conf_path, why);
}

/*
 * Does any controller accept a connection within timeout_ms?  0, or
 * -EHOSTUNREACH / -ETIMEDOUT with s->err set.  Only used when an RPC is
 * slow to answer: slurmctld logs an error for every connection that closes
 * without a message, so the fast path never probes.
 */
static int
sched_reachable(struct sched *s, int timeout_ms)
{
	int rc = -EHOSTUNREACH;

	for (size_t i = 0; i < s->nctl; i++) {
		rc = tcp_probe(s->ctl_addr[i], s->port, timeout_ms);
		if (rc == 0)
			return 0;
	}
	if (rc == -EADDRNOTAVAIL)
		seterr_unreachable(s, "cannot resolve the controller's address");
	else if (rc == -ETIMEDOUT)
		seterr_unreachable(s, "no answer to a connection");
	else
		seterr_unreachable(s, strerror(-rc));
	return rc == -ETIMEDOUT ? -ETIMEDOUT : -EHOSTUNREACH;
}

/* --- RPCs under a deadline --- */

void
rpc_free(struct rpc *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->str);
	free(r->ctl_version);
	free(r);
}

/*
 * slurmctld's version into r->ctl_version; -1 with errno set, or with
 * r->version_error when it is of another release than built for (or
 * speaks another protocol).
 */
static int
rpc_check_version(struct rpc *r)
{
	slurm_conf_t *c = NULL;

	if (slurm_load_ctl_conf((time_t)0, &c) != SLURM_SUCCESS) {
		if (errno == SLURM_PROTOCOL_VERSION_ERROR)
			r->version_error = 1;
		return -1;
	}
	r->ctl_version = c->version != NULL ? strdup(c->version) : NULL;
	slurm_free_ctl_conf(c);
	if (r->ctl_version == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (!sched_same_release(r->ctl_version, sched_built_version())) {
		r->version_error = 1;
		errno = SLURM_PROTOCOL_VERSION_ERROR;
		return -1;
	}
	return 0;
}

static void *
rpc_thread(void *arg)
{
	struct rpc *r = arg;
	int rc, abandoned;

	errno = 0;
	rc = r->check_version ? rpc_check_version(r) : 0;
	if (rc == 0)
		rc = r->fn(r);
	/* libslurm sets errno (thread-local); slurm_get_errno() only returned
	 * it and is gone since 24.11 */
	r->serr = rc != 0 ? errno : 0;
	pthread_mutex_lock(&r->mu);
	r->rc = rc;
	r->done = 1;
	abandoned = r->abandoned;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (abandoned) {
		if (r->result != NULL && r->free_result != NULL)
			r->free_result(r->result);
		rpc_free(r);
		atomic_fetch_sub(&sched_stuck, 1);
	}
	return NULL;
}

struct rpc *
rpc_new(int (*fn)(struct rpc *))
{
	struct rpc *r = calloc(1, sizeof(*r));
	pthread_condattr_t ca;

	if (r == NULL)
		return NULL;
	r->fn = fn;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	return r;
}

/* the first of the socket errors: 23.02 dropped 5000-5002 */
#if SLURM_VERSION_NUMBER >= SLURM_VERSION_NUM(23, 2, 0)
#define SCHED_SOCKET_ERROR_FIRST	ESLURM_PROTOCOL_INCOMPLETE_PACKET
#else
#define SCHED_SOCKET_ERROR_FIRST	SLURM_PROTOCOL_SOCKET_IMPL_ZERO_RECV_LENGTH
#endif

static int
is_comm_error(int serr)
{
	return (serr >= SLURM_COMMUNICATIONS_CONNECTION_ERROR &&
		serr <= SLURM_COMMUNICATIONS_MISSING_SOCKET_ERROR) ||
	    (serr >= SLURMCTLD_COMMUNICATIONS_CONNECTION_ERROR &&
		serr <= SLURMCTLD_COMMUNICATIONS_SHUTDOWN_ERROR) ||
	    (serr >= SCHED_SOCKET_ERROR_FIRST && serr <= SLURM_PROTOCOL_SOCKET_ZERO_BYTES_SENT) ||
	    serr == ECONNREFUSED || serr == ETIMEDOUT;
}

/* what a slurmctld of another protocol version answers (see sched_rpc) */
static int
is_protocol_error(int serr)
{
	return serr == SLURM_PROTOCOL_VERSION_ERROR || serr == SLURM_ERROR ||
	    serr == SLURM_PROTOCOL_SOCKET_ZERO_BYTES_SENT ||
	    serr == SLURM_COMMUNICATIONS_RECEIVE_ERROR ||
	    serr == ESLURM_PROTOCOL_INCOMPLETE_PACKET;
}

static long
ms_until(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void
ts_add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

/* Wait for r until t (CLOCK_MONOTONIC); returns r->done.  Called locked. */
static int
rpc_wait_until(struct rpc *r, const struct timespec *t)
{
	while (!r->done) {
		if (pthread_cond_timedwait(&r->cv, &r->mu, t) == ETIMEDOUT)
			break;
	}
	return r->done;
}

/*
 * Run r->fn in a worker thread and wait for it, all within the handle's
 * timeout.  When it has not answered after SCHED_PROBE_MS, a TCP connect
 * to the controller tells "down" (refused: fail now) from "slow" (wait on).
 * On 0 the caller owns r (and r->result).  On error r is freed, or left to
 * the abandoned thread, and s->err says what failed ("what" names the
 * call).  A Slurm error is -EIO, with Slurm's errno in *serr_out (if not
 * NULL) to tell "no such job" from a failure.
 */
#define SCHED_PROBE_MS	300

int
sched_rpc(struct sched *s, struct rpc *r, const char *what, int *serr_out)
{
	struct timespec deadline, probe_at;
	pthread_attr_t attr;
	pthread_t tid;
	int rc, done;

	if (serr_out != NULL)
		*serr_out = 0;
	if (atomic_load(&sched_stuck) > 0) {
		/* an earlier call is still inside libslurm; s->err says why */
		if (s->err[0] == '\0')
			seterr_unreachable(s, "an earlier request is still waiting for an answer");
		rpc_free(r);
		return -EHOSTUNREACH;
	}
	s->err[0] = '\0';
	r->check_version = !s->ctl_checked;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	probe_at = deadline;
	ts_add_ms(&deadline, s->timeout_s * 1000);
	ts_add_ms(&probe_at, SCHED_PROBE_MS);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, rpc_thread, r);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		sched_seterr(s, "cannot %s: cannot start a thread: %s", what, strerror(rc));
		rpc_free(r);
		return -rc;
	}
	pthread_mutex_lock(&r->mu);
	done = rpc_wait_until(r, s->timeout_s * 1000 > SCHED_PROBE_MS ? &probe_at : &deadline);
	pthread_mutex_unlock(&r->mu);
	rc = 0;
	if (!done) {
		long left = ms_until(&deadline);
		rc = sched_reachable(s, left > 0 ? (int)left : 1);
		pthread_mutex_lock(&r->mu);
		done = rc == 0 ? rpc_wait_until(r, &deadline) : r->done;
		if (!done) {
			r->abandoned = 1;	/* the thread frees r when libslurm returns */
			atomic_fetch_add(&sched_stuck, 1);
		}
		pthread_mutex_unlock(&r->mu);
	}
	if (!done) {
		if (rc == 0) {
			char why[128];
			snprintf(why, sizeof(why), "no answer to %s within %lds (slurm_timeout)",
			    what, s->timeout_s);
			seterr_unreachable(s, why);
			rc = -ETIMEDOUT;
		}
		return rc;
	}
	if (r->check_version && !r->version_error && r->ctl_version != NULL)
		s->ctl_checked = 1;
	/*
	 * A slurmctld too old or too new for this libslurm does not say its
	 * version: an older one closes the connection (zero bytes), a newer one
	 * answers in a protocol libslurm cannot read ("Unspecified error").
	 * When the controller accepts connections, that is what it means.
	 */
	if (r->rc != 0 && r->check_version && !r->version_error && r->ctl_version == NULL &&
	    is_protocol_error(r->serr) && sched_reachable(s, SCHED_PROBE_MS) == 0)
		r->version_error = 1;
	if (r->rc != 0) {
		int serr = r->serr;
		if (serr_out != NULL)
			*serr_out = serr;
		if (r->version_error && r->ctl_version != NULL) {
			sched_seterr(s, "cannot %s: slurmctld (%s from %s) runs Slurm %s, but "
			    "pcm-agent was built for Slurm %s: Slurm was upgraded or replaced; "
			    "rebuild and reinstall pcm-agent (and spank_pcm.so) against the "
			    "cluster's Slurm", what, s->controller, s->conf_path, r->ctl_version,
			    sched_built_version());
			rc = -EPROTO;
		} else if (r->version_error) {
			sched_seterr(s, "cannot %s: slurmctld (%s from %s) does not speak the protocol "
			    "of Slurm %s, which pcm-agent was built for (%s): it runs another Slurm "
			    "release; Slurm was upgraded or replaced: rebuild and reinstall pcm-agent "
			    "(and spank_pcm.so) against the cluster's Slurm", what, s->controller,
			    s->conf_path, sched_built_version(),
			    serr != 0 ? slurm_strerror(serr) : "no answer");
			rc = -EPROTO;
		} else if (is_comm_error(serr)) {
			seterr_unreachable(s, slurm_strerror(serr));
			rc = -EHOSTUNREACH;
		} else {
			sched_seterr(s, "cannot %s: %s", what,
			    serr != 0 ? slurm_strerror(serr) : "failed");
			rc = -EIO;
		}
		if (r->result != NULL && r->free_result != NULL)
			r->free_result(r->result);
		rpc_free(r);
		return rc;
	}
	return 0;
}

/* Run a load RPC (fn stores a Slurm message in r->result); on 0, *result is
 * that message, owned by the caller (free it with Slurm's matching free). */
int
sched_load(struct sched *s, int (*fn)(struct rpc *), const char *what, void **result)
{
	struct rpc *r;
	int rc;

	*result = NULL;
	if ((r = rpc_new(fn)) == NULL) {
		sched_seterr(s, "cannot %s: out of memory", what);
		return -ENOMEM;
	}
	if ((rc = sched_rpc(s, r, what, NULL)) < 0)
		return rc;	/* sched_rpc freed r */
	*result = r->result;
	rpc_free(r);
	return 0;
}

static int
rpc_ping(struct rpc *r)
{
	/* slurm_ping(0) is the primary; try the backups too */
	for (int i = 0; i < (int)r->id; i++) {
		if (slurm_ping(i) == SLURM_SUCCESS)
			return 0;
	}
	return -1;
}

int
sched_ping(struct sched *s)
{
	struct rpc *r = rpc_new(rpc_ping);
	int rc;

	if (r == NULL) {
		sched_seterr(s, "cannot ping slurmctld: out of memory");
		return -ENOMEM;
	}
	r->id = (uint32_t)s->nctl;
	if ((rc = sched_rpc(s, r, "ping slurmctld", NULL)) < 0)
		return rc;
	rpc_free(r);
	return 0;
}
