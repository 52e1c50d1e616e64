/* SPDX-License-Identifier: GPL-2.0-or-later */
/* step_save.c - the steps of the storage engine: prestage, final_save, restore (see plan_int.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <xxhash.h>

#include "aws/ec2.h"
#include "aws/fleet.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "aws/ssm.h"
#include "aws/ssm_token.h"
#include "cmd_storage.h"
#include "identity.h"
#include "jobwait.h"
#include "journal.h"
#include "lock.h"
#include "log.h"
#include "maintfile.h"
#include "output.h"
#include "plan_int.h"
#include "sched/sched.h"
#include "storage.h"

static void
save_progress_json(struct plan *p, const char *key, const struct stor_result *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "entries", json_object_new_int64((int64_t)r->entries));
	json_object_object_add(o, "files", json_object_new_int64((int64_t)r->files));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)r->bytes));
	json_object_object_add(o, "files_copied", json_object_new_int64((int64_t)r->files_copied));
	json_object_object_add(o, "bytes_copied", json_object_new_int64((int64_t)r->bytes_copied));
	json_object_object_add(o, "changed", json_object_new_int64((int64_t)r->changed));
	json_object_object_add(o, "seconds", json_object_new_double(r->seconds));
	journal_data_set(p->j, key, o);
}

static int
do_save(struct plan *p, int prestage, struct stor_result *res)
{
	struct stor_opts so;
	int rc;

	storage_opts(p->ctx, &so, prestage ? "pre-staging" : "saving");
	so.prestage = prestage;
	so.cluster = p->cluster;
	so.instance = p->instance;
	memset(res, 0, sizeof(*res));
	rc = stor_save(p->eph, p->savedir, &so, res);
	storage_progress_done();
	if (rc < 0) {
		log_warnx("cannot save %s to %s: %s", p->eph, p->savedir, res->errmsg);
		return -1;
	}
	if (res->excluded > 0) {
		char eb[32];
		log_notice("excluded from the save of %s: %llu entries (%s): lost at a stop/start",
		    p->eph, (unsigned long long)res->excluded,
		    output_bytes(res->bytes_excluded, eb, sizeof(eb)));
	}
	plan_jadd_int(p->j, "bytes_saved", (int64_t)res->bytes_copied);
	save_progress_json(p, prestage ? "prestage" : "final_save", res);
	journal_copy_to(p->j, p->savedir);
	return 0;
}

const char *
step_prestage_skip(struct plan *p)
{
	if (p->o->no_save)
		return "--no-save";
	return p->eph_empty ? "the ephemeral volume is empty" : NULL;
}

void
step_prestage_what(struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "saving %s to %s while jobs run", p->eph, p->savedir);
}

int
step_prestage_run(struct plan *p, struct step_out *out)
{
	struct stor_result res, vres;
	struct stor_opts so;
	char b[32];

	if (do_save(p, 1, &res) < 0) {
		journal_step_set(p->j, "prestage", STEP_FAILED, res.errmsg);
		return PCM_EXIT_ERROR;
	}
	/* verify it all now, while the fleet still runs: the final save's
	 * verify then re-reads only what it wrote (SAVEDIR/VERIFIED) */
	storage_opts(p->ctx, &so, "verifying the pre-stage save");
	memset(&vres, 0, sizeof(vres));
	if (stor_verify(p->savedir, &so, &vres) < 0) {
		log_warnx("cannot verify the pre-stage save %s: %s", p->savedir, vres.errmsg);
		storage_progress_done();
		journal_step_set(p->j, "prestage", STEP_FAILED, "verify failed");
		return PCM_EXIT_ERROR;
	}
	storage_progress_done();
	return plan_out(out, STEP_DONE, "%llu files, %s copied in %.1f s, verified "
	    "in %.1f s", (unsigned long long)res.files, output_bytes(res.bytes_copied, b, sizeof(b)),
	    res.seconds, vres.seconds);
}

/*
 * XXH3-128 of SAVEDIR/MANIFEST as 32 hex digits: the journal records which
 * save the operation made, and resume notices when the save was replaced
 * since.  0 or -errno.
 */
int
plan_manifest_sum(const char *savedir, char *hex, size_t len)
{
	XXH3_state_t *st = NULL;
	XXH128_hash_t h;
	char path[4096], buf[65536];
	ssize_t n;
	int fd, rc = 0;

	if (len < 33)
		return -ENOSPC;
	snprintf(path, sizeof(path), "%s/MANIFEST", savedir);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if ((st = XXH3_createState()) == NULL || XXH3_128bits_reset(st) != XXH_OK) {
		rc = -ENOMEM;
		goto out;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		XXH3_128bits_update(st, buf, (size_t)n);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	h = XXH3_128bits_digest(st);
	snprintf(hex, len, "%016llx%016llx", (unsigned long long)h.high64,
	    (unsigned long long)h.low64);
out:
	XXH3_freeState(st);
	close(fd);
	return rc;
}

const char *
step_final_save_skip(struct plan *p)
{
	return p->o->no_save ? "--no-save" : NULL;
}

void
step_final_save_what(struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "incremental save of %s to %s, then verify", p->eph, p->savedir);
}

int
step_final_save_run(struct plan *p, struct step_out *out)
{
	struct stor_result res, vres;
	struct stor_opts so;
	char b[32], vb[32];
	int rc, incr;

	if (do_save(p, 0, &res) < 0) {
		journal_step_set(p->j, "final_save", STEP_FAILED, res.errmsg);
		return PCM_EXIT_ERROR;
	}
	if (res.changed > 0)
		log_warnx("%llu files changed during the final save (named above): something on "
		    "the head node still writes to %s", (unsigned long long)res.changed, p->eph);
	/* after a pre-stage (verified whole): re-read only what is new */
	incr = journal_step(p->j, "prestage") == STEP_DONE;
	plan_say(p, "    final_save: saved in %.1f s; verifying (%s)", res.seconds,
	    incr ? "new objects" : "everything");
	storage_opts(p->ctx, &so, "verifying");
	memset(&vres, 0, sizeof(vres));
	rc = incr ? stor_verify_incremental(p->savedir, &so, &vres) :
	    stor_verify(p->savedir, &so, &vres);
	storage_progress_done();
	if (rc < 0) {
		log_warnx("cannot verify the save %s: %s", p->savedir, vres.errmsg);
		journal_step_set(p->j, "final_save", STEP_FAILED, "verify failed");
		return PCM_EXIT_ERROR;
	}
	{
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "incremental", json_object_new_boolean(incr));
		json_object_object_add(o, "files_reread",
		    json_object_new_int64((int64_t)vres.files_reread));
		json_object_object_add(o, "bytes_reread",
		    json_object_new_int64((int64_t)vres.bytes_copied));
		json_object_object_add(o, "files_known",
		    json_object_new_int64((int64_t)vres.files_known));
		json_object_object_add(o, "seconds", json_object_new_double(vres.seconds));
		journal_data_set(p->j, "final_verify", o);
	}
	plan_jset_str(p->j, "savedir", p->savedir);
	plan_jset_int(p->j, "no_save", 0);	/* a rerun without --no-save saved after all */
	{
		char sum[40];

		if ((rc = plan_manifest_sum(p->savedir, sum, sizeof(sum))) == 0)
			plan_jset_str(p->j, "manifest_xxh3", sum);
		else
			log_notice("cannot checksum %s/MANIFEST: %s", p->savedir, strerror(-rc));
	}
	plan_jset_int(p->j, "save_entries", (int64_t)res.entries);
	plan_jset_int(p->j, "save_bytes", (int64_t)res.bytes);
	journal_copy_to(p->j, p->savedir);
	return plan_out(out, STEP_DONE, "%llu entries, %s copied (%llu files "
	    "unchanged), verified: %llu files, %s re-read in %.1f s, %llu verified earlier",
	    (unsigned long long)res.entries, output_bytes(res.bytes_copied, b, sizeof(b)),
	    (unsigned long long)res.files_reused, (unsigned long long)vres.files_reread,
	    output_bytes(vres.bytes_copied, vb, sizeof(vb)), vres.seconds,
	    (unsigned long long)vres.files_known);
}

const char *
step_restore_skip(struct plan *p)
{
	if (journal_data_str(p->j, "savedir") == NULL || plan_jget_int(p->j, "no_save", 0))
		return "no save was made";
	return NULL;
}

int
step_restore_pre(struct plan *p)
{
	p->eph = journal_data_str(p->j, "ephemeral_dir");
	if (p->eph == NULL)
		p->eph = p->ctx->cfg.ephemeral_dir;
	return PCM_EXIT_OK;
}

void
step_restore_what(struct plan *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s from %s if it lacks the save's content", p->eph,
	    journal_data_str(p->j, "savedir"));
}

int
step_restore_run(struct plan *p, struct step_out *out)
{
	const char *savedir = journal_data_str(p->j, "savedir");
	struct stor_result res;
	struct stor_opts so;
	struct stat st;
	char b[32];
	int rc;

	if (!plan_step_is_over(p->j, "final_save"))
		log_warnx("the final save did not complete before the restart: using the "
		    "pre-stage save, which may miss the last changes");
	{
		struct stor_save_info info;

		if (stor_save_info(savedir, &info) < 0 || !info.complete)
			return plan_out(out, STEP_SKIPPED, "no complete save in %s (the "
			    "operation ended before its first save)", savedir);
	}
	if (stat(p->eph, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_warnx("cannot restore to %s: it is not a directory (is setup-ephemeral.service "
		    "done? run `pcm-agent resume` again once it is mounted)", p->eph);
		journal_step_set(p->j, "restore", STEP_FAILED, "no ephemeral dir");
		return PCM_EXIT_ERROR;
	}
	{
		const char *want = journal_data_str(p->j, "manifest_xxh3");
		char sum[40];

		if (want != NULL && plan_manifest_sum(savedir, sum, sizeof(sum)) == 0 &&
		    strcmp(sum, want) != 0)
			log_warnx("the save in %s changed since prepare-restart made it (another "
			    "save ran since): using it as it is now", savedir);
	}
	memset(&res, 0, sizeof(res));
	rc = stor_dir_matches(savedir, p->eph, 0, &res);
	if (rc == 1) {
		/* a reboot: the data is still there; check the data too, copy nothing */
		memset(&res, 0, sizeof(res));
		rc = stor_dir_matches(savedir, p->eph, 1, &res);
		if (rc == 1) {
			plan_jset_str(p->j, "restore_result", "verified in place");
			return plan_out(out, STEP_DONE, "%s still holds the save's %llu "
			    "entries: verified, nothing copied", p->eph,
			    (unsigned long long)res.entries);
		}
		log_notice("%s holds the save's files but %llu differ in content: restoring",
		    p->eph, (unsigned long long)res.bad);
	} else if (rc < 0) {
		log_warnx("cannot compare %s with the save %s: %s", p->eph, savedir, strerror(-rc));
		journal_step_set(p->j, "restore", STEP_FAILED, strerror(-rc));
		return PCM_EXIT_ERROR;
	}
	storage_opts(p->ctx, &so, "restoring");
	so.op_id = journal_id(p->j);	/* names the quarantine */
	memset(&res, 0, sizeof(res));
	rc = stor_restore(savedir, p->eph, &so, &res);
	if (res.quarantined > 0)	/* what users had put in the way: for the admin */
		plan_jset_str(p->j, "restore_quarantine", res.quarantine);
	storage_progress_done();
	if (rc < 0) {
		log_warnx("cannot restore %s to %s: %s", savedir, p->eph, res.errmsg);
		journal_step_set(p->j, "restore", STEP_FAILED, res.errmsg);
		return PCM_EXIT_ERROR;
	}
	plan_jset_str(p->j, "restore_result", "restored");
	plan_jset_int(p->j, "restore_bytes", (int64_t)res.bytes_copied);
	if (res.meta_failed > 0) {	/* the data is there: not a reason to keep the cluster down */
		plan_jset_int(p->j, "restore_meta_failed", (int64_t)res.meta_failed);
		log_notice("%llu entries of %s restored without all their metadata (named above)",
		    (unsigned long long)res.meta_failed, p->eph);
	}
	if (res.quarantined > 0)
		return plan_out(out, STEP_DONE, "%llu entries, %s written, checksums "
		    "verified; %llu entries in the way moved aside to %s",
		    (unsigned long long)res.entries, output_bytes(res.bytes_copied, b, sizeof(b)),
		    (unsigned long long)res.quarantined, res.quarantine);
	return plan_out(out, STEP_DONE, "%llu entries, %s written, checksums verified",
	    (unsigned long long)res.entries, output_bytes(res.bytes_copied, b, sizeof(b)));
}
