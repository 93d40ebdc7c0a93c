/*
 * submit.c: taking a submission for a phase, in the order that wastes the least
 * and leaks the least: the phase's dates and the team's quota first (nothing is
 * read), then the upload is copied under uploads/ (streamed, capped, hashed),
 * validated and loaded by submissions/, checked for a duplicate image in the
 * phase, renamed to uploads/<sha256>.tar (a refused archive is deleted instead,
 * its sha256 and size kept in its row), recorded (quota checked again in the
 * same transaction), and queued for evaluation when the phase says so. A
 * refusal's reason names no server path: the engine's full message goes to
 * the outcome's detail, for the server's log. An image loaded for an upload that
 * is then refused (quota or dates checked again, a store error) is removed
 * unless a submission row names it; uploads of one image hold its lock file from
 * the load to the record, so that removal never takes an image being recorded.
 * The worker's sweep removes, the same way, the names an upload killed between
 * its load and its record left (each data directory has its own names).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "evaluator.h"
#include "files.h"
#include "store.h"
#include "worker_internal.h"

const char *sa_submit_refusal_name(sa_submit_refusal r) {
    switch (r) {
    case SA_SUBMIT_ACCEPTED: return "accepted";
    case SA_SUBMIT_NOT_OPEN: return "not_open";
    case SA_SUBMIT_CLOSED: return "closed";
    case SA_SUBMIT_QUOTA: return "quota";
    case SA_SUBMIT_TOO_LARGE: return "too_large";
    case SA_SUBMIT_INVALID: return "invalid";
    case SA_SUBMIT_DUPLICATE: return "duplicate";
    }
    return "unknown";
}

static int refuse(sa_submit_outcome *out, sa_submit_refusal why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(sa_submit_outcome *out, sa_submit_refusal why, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    out->refusal = why;
    return 0;
}

/* Copies the upload into DATA_DIR/uploads/.upload-XXXXXX (its name in dst),
 * hashing as it goes and stopping past max_bytes (*too_large = 1, nothing
 * kept). The copy keeps that name until intake accepts it (keep_upload): a
 * refused archive is deleted, so that refusals, which count against no quota,
 * never fill the disk. */
static int store_upload(const char *data_dir, const char *src, uint64_t max_bytes, char *dst,
                        size_t dst_size, char sha_hex[65], uint64_t *bytes, int *too_large,
                        sa_error *err) {
    *too_large = 0;
    *bytes = 0;
    char uploads[4096], tmp[4200];
    snprintf(uploads, sizeof uploads, "%s/uploads", data_dir);
    if (sa_mkdir_p(uploads, 0700, err)) return -1;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return sa_error_set(err, "%s: %s", src, strerror(errno));
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return sa_error_set(err, "%s: not a regular file", src);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(in);
        *too_large = 1;
        *bytes = (uint64_t)st.st_size;
        return 0;
    }
    snprintf(tmp, sizeof tmp, "%s/.upload-XXXXXX", uploads);
    int out = mkstemp(tmp);
    if (out < 0) {
        close(in);
        return sa_error_set(err, "%s: cannot create a file: %s", uploads, strerror(errno));
    }
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    static unsigned char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t k = read(in, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            rc = sa_error_set(err, "%s: read: %s", src, strerror(errno));
            break;
        }
        if (k == 0) break;
        *bytes += (uint64_t)k;
        if (*bytes > max_bytes) {
            *too_large = 1;
            break;
        }
        crypto_hash_sha256_update(&h, buf, (unsigned long long)k);
        for (ssize_t done = 0; done < k;) {
            ssize_t w = write(out, buf + done, (size_t)(k - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                rc = sa_error_set(err, "%s: write: %s", uploads, strerror(errno));
                break;
            }
            done += w;
        }
        if (rc) break;
    }
    close(in);
    if (rc == 0 && !*too_large && fsync(out) != 0)
        rc = sa_error_set(err, "%s: fsync: %s", uploads, strerror(errno));
    if (close(out) != 0 && rc == 0) rc = sa_error_set(err, "%s: close: %s", uploads, strerror(errno));
    if (rc || *too_large) {
        unlink(tmp);
        return rc;
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, digest);
    sodium_bin2hex(sha_hex, 65, digest, sizeof digest);
    chmod(tmp, 0400);
    if (snprintf(dst, dst_size, "%s", tmp) >= (int)dst_size) {
        unlink(tmp);
        return sa_error_set(err, "%s: path too long", uploads);
    }
    return 0;
}

/* The accepted upload (at its temporary name) renamed to uploads/<sha256>.tar;
 * on success the temporary name is gone (*kept = 1). */
static int keep_upload(const char *data_dir, const char *tmp, const char *sha_hex, int *kept,
                       sa_error *err) {
    char dst[4300];
    snprintf(dst, sizeof dst, "%s/uploads/%s.tar", data_dir, sha_hex);
    if (rename(tmp, dst) != 0)
        return sa_error_set(err, "%s: cannot store the upload: %s", dst, strerror(errno));
    *kept = 1;
    return 0;
}

/* An intake or engine message made fit for the challenger: the stored copy,
 * the scratch folder and the uploads folder (as given and as resolved) read
 * "the upload", any other absolute path "(a server path)". */
static void hide_server_paths(char *msg, size_t cap, const char *data_dir, const char *upload,
                              const char *tar, const char *scratch) {
    char uploads[4200], real[4][4096];
    snprintf(uploads, sizeof uploads, "%s/uploads", data_dir);
    const char *given[4] = {upload, tar, scratch, uploads};
    const char *paths[8];
    size_t n = 0;
    for (size_t i = 0; i < 4; i++) paths[n++] = given[i];
    for (size_t i = 0; i < 4; i++)
        if (given[i][0] && realpath(given[i], real[i])) paths[n++] = real[i];
    sa_hide_paths(msg, cap, paths, n, "the upload");
}

/* The phase's dates and the team's quota at time now: 0 with out->refusal set
 * (or left accepted), -1 on store errors. */
static int check_dates_and_quota(sa_store *st, const sa_phase_spec *spec, int64_t phase_id,
                                 int64_t team_id, double now, sa_submit_outcome *out,
                                 sa_error *err) {
    char when[32];
    if (spec->opens > 0 && now < spec->opens) {
        sa_iso8601_format(spec->opens, when);
        return refuse(out, SA_SUBMIT_NOT_OPEN, "phase '%s' opens at %s", spec->name, when);
    }
    if (spec->closes > 0 && now >= spec->closes) {
        sa_iso8601_format(spec->closes, when);
        return refuse(out, SA_SUBMIT_CLOSED, "phase '%s' closed at %s", spec->name, when);
    }
    if (spec->quota_submissions <= 0) return 0;
    double window = spec->quota_days * 86400.0;
    int64_t used = 0;
    double oldest = 0;
    if (sa_store_quota_used(st, phase_id, team_id, now - window, spec->quota_submissions, &used,
                            &oldest, err))
        return -1;
    if (used >= spec->quota_submissions) {
        out->next_slot = oldest + window;
        sa_iso8601_format(out->next_slot, when);
        return refuse(out, SA_SUBMIT_QUOTA,
                      "quota used: %lld of %d submissions in %g day(s); the next one is "
                      "possible from %s",
                      (long long)used, spec->quota_submissions, spec->quota_days, when);
    }
    return 0;
}

int sa_quota_check(sa_store *st, int64_t phase_id, int64_t team_id, double now,
                   sa_submit_outcome *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)phase_id);
    sa_phase_spec spec;
    int found = sa_phase_find(st, ref, &phase_id, &spec, err);
    if (found <= 0) return -1;
    return check_dates_and_quota(st, &spec, phase_id, team_id, now, out, err);
}

static int record_invalid(sa_store *st, const sa_submit_request *req, const char *sha,
                          uint64_t bytes, sa_submit_outcome *out, sa_error *err) {
    sa_submission_row row;
    memset(&row, 0, sizeof row);
    row.phase_id = req->phase_id;
    row.team_id = req->team_id;
    row.user_id = req->user_id;
    snprintf(row.status, sizeof row.status, "invalid");
    row.intake_reason = out->reason;
    snprintf(row.upload_sha256, sizeof row.upload_sha256, "%s", sha ? sha : "");
    row.upload_bytes = (int64_t)bytes;
    row.created = sa_store_now();
    return sa_store_submission_add(st, &row, &out->submission_id, err) < 0 ? -1 : 0;
}

/* The ready submission of the phase with this image (*dup its id, 0: none;
 * *dup_team its team). */
static int find_duplicate(sa_store *st, int64_t phase_id, const char *digest, int64_t *dup,
                          int64_t *dup_team, sa_error *err) {
    sa_submission_row *rows = NULL;
    size_t n = 0;
    *dup = *dup_team = 0;
    if (sa_store_submission_list(st, phase_id, 0, &rows, &n, err)) return -1;
    for (size_t i = 0; i < n && !*dup; i++)
        if (!strcmp(rows[i].status, "ready") && !strcmp(rows[i].image_digest, digest)) {
            *dup = rows[i].id;
            *dup_team = rows[i].team_id;
        }
    sa_submission_rows_free(rows, n);
    return 0;
}

/* Holds DATA_DIR/locks/image-<id>.lock (sa_intake_image_lock) while an upload of
 * that image is loaded and recorded: returns the descriptor, or -1 with err set. */
static int lock_image(const char *data_dir, const char *image_id, sa_error *err) {
    char path[4300];
    snprintf(path, sizeof path, "%s/locks", data_dir);
    if (sa_mkdir_p(path, 0700, err)) return -1;
    return sa_intake_image_lock(path, image_id, 1, err);
}

/* An image loaded for an upload that was not recorded: removed from the engine
 * unless a submission row (another phase's, or one recorded meanwhile) names it.
 * Best effort: a failure leaves an unused image, never a row without its image. */
static void forget_loaded_image(sa_store *st, sa_engine_kind engine, const char *image_name) {
    sa_error err = {{0}};
    int used = 1;
    if (sa_store_submission_image_used(st, image_name, &used, &err) == 0 && !used)
        sa_engine_remove_image(engine, image_name, &err);
}

void sa_submit_sweep_images(sa_store *st, const char *data_dir, sa_engine_kind engine) {
    char **names = NULL;
    size_t n = 0;
    sa_error err;
    if (sa_intake_submission_names(sa_store_instance(st), &names, &n, &err)) return;
    char lock_dir[4300];
    snprintf(lock_dir, sizeof lock_dir, "%s/locks", data_dir);
    for (size_t i = 0; i < n; i++) {
        const char *id = names[i] + strlen(names[i]) - 32; /* listed as sub-<instance>-<32 hex> */
        /* not waiting: an upload of the image holds it from its load to its row */
        int fd = sa_intake_image_lock(lock_dir, id, 0, &err);
        if (fd >= 0) {
            forget_loaded_image(st, engine, names[i]);
            close(fd);
        }
        free(names[i]);
    }
    free(names);
}

int sa_submit(sa_store *st, const sa_submit_request *req, sa_submit_outcome *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    if (sodium_init() < 0) return sa_error_set(err, "libsodium could not start");
    char ref[32];
    snprintf(ref, sizeof ref, "%lld", (long long)req->phase_id);
    sa_phase_spec spec;
    int64_t phase_id;
    int found = sa_phase_find(st, ref, &phase_id, &spec, err);
    if (found <= 0) return -1;

    if (check_dates_and_quota(st, &spec, phase_id, req->team_id, sa_store_now(), out, err))
        return -1;
    if (out->refusal) return 0;

    const char *shown = req->display_name ? req->display_name : req->archive_path;
    char upload[4300], sha[65] = "";
    uint64_t bytes = 0;
    int too_large = 0, kept = 0, loaded = 0, recorded = 0, image_lock = -1;
    if (store_upload(req->data_dir, req->archive_path, spec.max_upload_bytes, upload, sizeof upload,
                     sha, &bytes, &too_large, err))
        return -1;
    if (too_large) {
        refuse(out, SA_SUBMIT_TOO_LARGE, "%s: too large: more than the phase's %llu MiB",
               shown, (unsigned long long)(spec.max_upload_bytes >> 20));
        return record_invalid(st, req, NULL, bytes, out, err);
    }

    /* intake: validated by SegArena, then loaded under a name derived from the
     * image's identity */
    char scratch[4200];
    snprintf(scratch, sizeof scratch, "%s/scratch", req->data_dir);
    if (sa_mkdir_p(scratch, 0711, err)) {
        unlink(upload);
        return -1;
    }
    snprintf(scratch, sizeof scratch, "%s/scratch/intake-XXXXXX", req->data_dir);
    if (!mkdtemp(scratch)) {
        sa_error_set(err, "%s: %s", scratch, strerror(errno));
        unlink(upload);
        return -1;
    }
    sa_intake_limits lim;
    sa_intake_limits_default(&lim);
    lim.max_upload_bytes = spec.max_upload_bytes;
    lim.max_unpacked_bytes = spec.max_upload_bytes * 4 > spec.max_upload_bytes
                                 ? spec.max_upload_bytes * 4 : spec.max_upload_bytes;
    char tar[4300] = "";
    sa_error ierr;
    int rc = 0;
    if (sa_intake_inspect(upload, &lim, scratch, &out->image, tar, sizeof tar, &ierr) != 0) {
        snprintf(out->detail, sizeof out->detail, "%s", ierr.msg);
        /* the reason names our stored copy; say it about the file the user gave */
        char *msg = strncmp(ierr.msg, upload, strlen(upload)) ? ierr.msg : ierr.msg + strlen(upload);
        int named = msg != ierr.msg;
        hide_server_paths(msg, sizeof ierr.msg - (size_t)(msg - ierr.msg), req->data_dir, upload,
                          tar, scratch);
        refuse(out, SA_SUBMIT_INVALID, "%s%s%s (%s)", shown, named ? "" : ": ", msg,
               sa_intake_refusal_name(out->image.refusal));
        rc = record_invalid(st, req, sha, bytes, out, err);
        goto cleanup;
    }
    int64_t dup = 0, dup_team = 0;
    if ((rc = find_duplicate(st, phase_id, out->image.config_digest, &dup, &dup_team, err)))
        goto cleanup;
    if (dup && dup_team == req->team_id) {
        refuse(out, SA_SUBMIT_DUPLICATE, "%s: the same image (%s) is already submission %lld of "
                                         "this phase",
               shown, out->image.config_digest, (long long)dup);
        goto cleanup;
    }
    if (dup) { /* another team's: neither its id nor its team is told */
        refuse(out, SA_SUBMIT_DUPLICATE, "%s: this image (%s) was already submitted to this phase",
               shown, out->image.config_digest);
        goto cleanup;
    }
    char image_id[40], image_name[160], name_id[64];
    const char *hex = strchr(out->image.config_digest, ':');
    snprintf(image_id, sizeof image_id, "%.32s", hex ? hex + 1 : out->image.config_digest);
    /* the data directory's own name of the image ("sub-<instance>-<id>"): another
     * data directory's submissions of the same image have theirs, so that
     * removing this one's (a refused upload's, the sweep's) only ever untags */
    snprintf(name_id, sizeof name_id, "%s-%s", sa_store_instance(st), image_id);
    if (sa_intake_image_name(name_id, image_name, sizeof image_name, err)) {
        rc = -1;
        goto cleanup;
    }
    if ((image_lock = lock_image(req->data_dir, image_id, err)) < 0) {
        rc = -1;
        goto cleanup;
    }
    /* the load's temporary name is tied to this data directory and held by a
     * lock under locks/: the worker's sweep removes it if this process dies */
    char lock_dir[4300];
    snprintf(lock_dir, sizeof lock_dir, "%s/locks", req->data_dir);
    sa_intake_owner owner = {.lock_dir = lock_dir, .tag = sa_store_instance(st)};
    int load = sa_intake_load(tar, &out->image, image_name, &owner, &ierr);
    if (load == SA_INTAKE_LOAD_ENGINE_FAILED) {
        /* the host's trouble, not the image's: nothing recorded, the archive not
         * kept; the organiser's (or the server log's) error, paths and all */
        rc = sa_error_set(err, "%s: not loaded: %s", shown, ierr.msg);
        goto cleanup;
    }
    if (load != 0) {
        out->image.refusal = SA_REFUSED_ENGINE;
        /* the engine's message names the tar and the engine's own scratch
         * folders (skopeo's stderr): the full text for the server's log only */
        snprintf(out->detail, sizeof out->detail, "%s", ierr.msg);
        hide_server_paths(ierr.msg, sizeof ierr.msg, req->data_dir, upload, tar, scratch);
        refuse(out, SA_SUBMIT_INVALID, "%s: the engine refused it: %s (engine)", shown,
               ierr.msg);
        rc = record_invalid(st, req, sha, bytes, out, err);
        goto cleanup;
    }
    loaded = 1;
    if ((rc = keep_upload(req->data_dir, upload, sha, &kept, err))) goto cleanup;

    /* record it, the quota checked again with the insert */
    sa_submission_row row;
    memset(&row, 0, sizeof row);
    row.phase_id = phase_id;
    row.team_id = req->team_id;
    row.user_id = req->user_id;
    snprintf(row.status, sizeof row.status, "ready");
    snprintf(row.image_digest, sizeof row.image_digest, "%s", out->image.config_digest);
    snprintf(row.image_name, sizeof row.image_name, "%s", image_name);
    snprintf(row.upload_sha256, sizeof row.upload_sha256, "%s", sha);
    row.upload_bytes = (int64_t)bytes;
    sa_image_run_user(&out->image, row.run_user, sizeof row.run_user);
    if ((rc = sa_store_begin(st, err))) goto cleanup;
    row.created = sa_store_now();
    if (check_dates_and_quota(st, &spec, phase_id, req->team_id, row.created, out, err)) {
        sa_store_rollback(st);
        rc = -1;
        goto cleanup;
    }
    if (out->refusal) {
        sa_store_rollback(st);
        goto cleanup;
    }
    int added = sa_store_submission_add(st, &row, &out->submission_id, err);
    if (added == SA_STORE_CONFLICT) {
        sa_store_rollback(st);
        refuse(out, SA_SUBMIT_DUPLICATE, "%s: the same image (%s) is already a submission of "
                                         "this phase",
               shown, out->image.config_digest);
        goto cleanup;
    }
    if (added != 0 || sa_store_commit(st, err) != 0) {
        sa_store_rollback(st);
        rc = -1;
        goto cleanup;
    }
    recorded = 1;
    if (spec.auto_evaluate) {
        rc = sa_run_queue(st, req->data_dir, out->submission_id, "evaluate", 0, &out->run_id, err);
        if (rc == SA_STORE_CONFLICT) { /* a worker's sweep queued it first: that run is its run */
            sa_run_row *runs = NULL;
            size_t n_runs = 0;
            rc = sa_store_run_list(st, 0, out->submission_id, &runs, &n_runs, err);
            if (rc == 0 && n_runs > 0) out->run_id = runs[0].id;
            sa_run_rows_free(runs, n_runs);
        }
    }

cleanup:
    if (loaded && !recorded) forget_loaded_image(st, req->engine, image_name);
    if (image_lock >= 0) close(image_lock);
    /* a refused archive is not kept (its sha256 and size are in its row) */
    if (!kept) unlink(upload);
    sa_remove_tree(scratch);
    return rc;
}

int sa_submission_recover_run_user(sa_store *st, const char *data_dir, sa_submission_row *sub,
                                   sa_error *err) {
    char archive[4300], scratch[4200], tar[4300] = "";
    snprintf(archive, sizeof archive, "%s/uploads/%s.tar", data_dir, sub->upload_sha256);
    if (!sub->upload_sha256[0] || access(archive, R_OK) != 0)
        return sa_error_set(err, "submission %lld has no recorded user (stored before schema 5) "
                                 "and its archive uploads/%s.tar is gone: submit the image again",
                            (long long)sub->id, sub->upload_sha256);
    snprintf(scratch, sizeof scratch, "%s/scratch", data_dir);
    if (sa_mkdir_p(scratch, 0711, err)) return -1;
    snprintf(scratch, sizeof scratch, "%s/scratch/intake-XXXXXX", data_dir);
    if (!mkdtemp(scratch)) return sa_error_set(err, "%s: %s", scratch, strerror(errno));
    sa_intake_limits lim;
    sa_intake_limits_default(&lim);
    struct stat sb;
    if (stat(archive, &sb) == 0 && (uint64_t)sb.st_size > lim.max_upload_bytes)
        lim.max_upload_bytes = (uint64_t)sb.st_size; /* accepted once under the phase's own cap */
    sa_image_info info;
    sa_error ierr;
    int rc = 0;
    if (sa_intake_inspect(archive, &lim, scratch, &info, tar, sizeof tar, &ierr) != 0)
        rc = sa_error_set(err, "submission %lld has no recorded user (stored before schema 5) and "
                               "intake now refuses its archive (%s): submit the image again",
                          (long long)sub->id, sa_intake_refusal_name(info.refusal));
    else if (strcmp(info.config_digest, sub->image_digest) != 0)
        rc = sa_error_set(err, "submission %lld: its archive uploads/%s.tar holds image %s, not %s",
                          (long long)sub->id, sub->upload_sha256, info.config_digest,
                          sub->image_digest);
    if (rc == 0) {
        char user[sizeof sub->run_user];
        sa_image_run_user(&info, user, sizeof user);
        rc = sa_store_submission_set_run_user(st, sub->id, user, err);
        if (rc == 0) snprintf(sub->run_user, sizeof sub->run_user, "%s", user);
    }
    sa_remove_tree(scratch);
    return rc;
}
