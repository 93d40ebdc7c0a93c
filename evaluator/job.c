/*
 * job.c: one case of one run, from the claimed job to the stored result: run the
 * contestant's container on the case (or, for a rescore, take the output its
 * parent run stored), keep the log and the mask under runs/<run>/<case>/<attempt>/, score
 * the mask against the consensus and every rater, and store the result with the
 * job's lease as a fence, so that a case is stored once even when a worker that
 * lost its lease finishes late. The lease is renewed by a heartbeat thread for
 * the whole job: container (or the parent's output), scoring and storing.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "worker_internal.h"

static double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the lease heartbeat ---- */

typedef struct heartbeat {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop, lost, started;
    const char *data_dir;
    sa_job_row job;
    double lease_seconds;
} heartbeat;

static void *heartbeat_main(void *arg) {
    heartbeat *hb = arg;
    sa_store *st = NULL;
    sa_error err;
    pthread_mutex_lock(&hb->lock);
    while (!hb->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double step = hb->lease_seconds / 3.0;
        until.tv_sec += (time_t)step;
        until.tv_nsec += (long)((step - floor(step)) * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&hb->wake, &hb->lock, &until);
        if (hb->stop) break;
        pthread_mutex_unlock(&hb->lock);
        if (!st && sa_store_open(hb->data_dir, 0, &st, &err)) st = NULL; /* retried next round */
        int renewed = st ? sa_store_job_renew(st, &hb->job, hb->lease_seconds, &err) : -1;
        pthread_mutex_lock(&hb->lock);
        if (renewed == 0) hb->lost = 1; /* errors: keep trying; the lease may still hold */
    }
    pthread_mutex_unlock(&hb->lock);
    if (st) sa_store_close(st);
    return NULL;
}

static void heartbeat_start(heartbeat *hb, const char *data_dir, const sa_job_row *job,
                            double lease_seconds) {
    memset(hb, 0, sizeof *hb);
    pthread_mutex_init(&hb->lock, NULL);
    pthread_cond_init(&hb->wake, NULL);
    hb->data_dir = data_dir;
    hb->job = *job;
    hb->lease_seconds = lease_seconds;
    hb->started = pthread_create(&hb->thread, NULL, heartbeat_main, hb) == 0;
}

static int lease_lost(heartbeat *hb) {
    pthread_mutex_lock(&hb->lock);
    int lost = hb->lost;
    pthread_mutex_unlock(&hb->lock);
    return lost;
}

static void heartbeat_stop(heartbeat *hb) {
    pthread_mutex_lock(&hb->lock);
    hb->stop = 1;
    pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->lock);
    if (hb->started) pthread_join(hb->thread, NULL);
    pthread_cond_destroy(&hb->wake);
    pthread_mutex_destroy(&hb->lock);
}

/* ---- what one job needs to know ---- */

typedef struct job_context {
    sa_worker_shared *w;
    sa_store *st;
    const sa_job_row *job;
    sa_run_row run;
    sa_submission_row sub;
    sa_phase_spec spec;
    sa_dataset ds;
    size_t case_index;
    char dataset_dir[4096];
    char dataset_checksum[65];
    char case_dir[4096]; /* DATA_DIR/runs/<run>/<case>/<attempt> */
    char run_token[96];
    double fov_mm; /* the scoring grid's diagonal, once the raters were read (else 0) */
} job_context;

static int load_context(job_context *c, sa_error *err) {
    const char *data_dir = c->w->opt->data_dir;
    int found = sa_store_run_get(c->st, c->job->run_id, &c->run, err);
    if (found <= 0) return found < 0 ? -1 : sa_error_set(err, "job of unknown run %lld",
                                                          (long long)c->job->run_id);
    found = sa_store_submission_get(c->st, c->run.submission_id, &c->sub, err);
    if (found <= 0) return found < 0 ? -1 : sa_error_set(err, "run %lld: unknown submission",
                                                          (long long)c->run.id);
    sa_problems problems;
    sa_problems_init(&problems);
    char label[64];
    snprintf(label, sizeof label, "run %lld (stored spec)", (long long)c->run.id);
    int rc = sa_phase_spec_parse(c->run.config_json, label, &c->spec, &problems, err);
    if (rc == 0) rc = sa_dataset_open(data_dir, c->spec.dataset, &c->ds, &problems, err);
    sa_problems_free(&problems);
    if (rc) return -1;
    c->case_index = c->ds.n_cases;
    for (size_t i = 0; i < c->ds.n_cases; i++)
        if (!strcmp(c->ds.cases[i].id, c->job->case_id)) c->case_index = i;
    if (c->case_index == c->ds.n_cases)
        return sa_error_set(err, "run %lld: dataset '%s' has no case '%s'", (long long)c->run.id,
                            c->spec.dataset, c->job->case_id);
    if (sa_dataset_dir(data_dir, c->spec.dataset, c->dataset_dir, sizeof c->dataset_dir, err) ||
        sa_dataset_checksum(data_dir, c->spec.dataset, c->dataset_checksum, err))
        return -1;
    if (snprintf(c->case_dir, sizeof c->case_dir, "%s/runs/%lld/%s/%lld", data_dir,
                 (long long)c->run.id, c->job->case_id, (long long)c->job->attempts) >= (int)sizeof c->case_dir)
        return sa_error_set(err, "%s: path too long", data_dir);
    sa_worker_run_token(c->w, c->run.id, (int)c->job->attempts, c->run_token, sizeof c->run_token);
    /* this attempt's own folder (another attempt's, whose worker may still be
     * writing after losing its lease, is never touched) */
    sa_remove_tree(c->case_dir);
    return sa_mkdir_p(c->case_dir, 0700, err);
}

static void free_context(job_context *c) {
    sa_run_row_free(&c->run);
    sa_submission_row_free(&c->sub);
    sa_dataset_free(&c->ds);
}

/* "runs/<run>/<case>/<attempt>/<name>" relative to the data directory (what the store keeps). */
static char *relative_path(const job_context *c, const char *name) {
    char buf[512];
    snprintf(buf, sizeof buf, "runs/%lld/%s/%lld/%s", (long long)c->run.id, c->job->case_id,
             (long long)c->job->attempts, name);
    return strdup(buf);
}

/* ---- scoring a kept mask ---- */

/* Scores the mask at pred_path against the case's raters into the result JSON;
 * the human reference is stored too if the phase set-up did not (an older phase).
 * A problem with the mask itself comes back as *mask_problem (the case fails;
 * *wrong_geometry says whether it is a grid other than the raters'), anything
 * else as -1. */
static int score_case(job_context *c, const char *pred_path, char **result_json,
                      char *mask_problem, size_t problem_size, int *wrong_geometry, sa_error *err) {
    sa_case_masks masks;
    mask_problem[0] = '\0';
    *wrong_geometry = 0;
    if (sa_case_masks_read(c->dataset_dir, &c->ds, c->case_index, c->spec.label, &masks, err))
        return -1;
    const size_t grid_size[3] = {masks.grid.nx, masks.grid.ny, masks.grid.nz};
    c->fov_mm = sa_fov_diagonal_mm(grid_size, masks.grid.spacing);
    uint8_t *pred = NULL;
    sa_error perr;
    int rc = 0;
    int read_rc = sa_case_mask_read(pred_path, c->spec.label, &masks, &pred, &perr);
    if (read_rc == SA_IMAGE_READ_NOT_RUN) { /* this host could not read it: retried */
        sa_error_set(err, "%s", perr.msg);
        sa_case_masks_free(&masks);
        return -1;
    }
    if (read_rc) {
        *wrong_geometry = read_rc == -2;
        snprintf(mask_problem, problem_size, "%s", perr.msg);
        sa_case_masks_free(&masks);
        return 0;
    }
    sa_multi_options opt;
    sa_phase_multi_options(&c->spec, &opt);
    char hash[65];
    sa_phase_scoring_hash(&c->spec, c->dataset_checksum, hash);
    if (c->spec.human_reference && masks.k >= 2) {
        char *stored = NULL;
        int have = sa_store_human_ref_get(c->st, hash, c->job->case_id, &stored, err);
        free(stored);
        if (have < 0) rc = -1;
        opt.human_reference = have == 0;
    }
    sa_multi_result *res = rc ? NULL : calloc(1, sizeof *res);
    if (rc == 0 && !res) rc = sa_error_set(err, "out of memory");
    if (rc == 0) {
        int gpu = sa_scoring_gpu_take(&masks.grid, masks.k, &opt);
        rc = sa_score_multi(pred, (const uint8_t *const *)masks.raters, masks.k, &masks.grid, &opt,
                            res, err);
        sa_scoring_gpu_give(gpu);
    }
    if (rc == 0) {
        sa_case_stamp stamp = {SA_METRIC_DEFINITION_VERSION, c->dataset_checksum,
                               c->sub.image_digest, hash};
        rc = sa_case_result_json(res, (const char *const *)c->ds.raters, &masks.grid, &c->spec,
                                 &stamp, result_json, err);
        if (rc == 0 && opt.human_reference)
            rc = sa_human_reference_store(c->st, res, (const char *const *)c->ds.raters,
                                          &masks.grid, &stamp, c->job->case_id, err);
        sa_multi_result_free(res);
    }
    free(res);
    free(pred);
    sa_case_masks_free(&masks);
    return rc;
}

/* ---- running the container ---- */

/* Runs the case's container: 1 with *res classified, 0 when no GPU is free (the
 * job is to be given back, uncounted), -1 on platform errors. */
static int run_container(job_context *c, sa_run_result *res, sa_error *err) {
    const sa_worker_options *opt = c->w->opt;
    const sa_dataset_case *dc = &c->ds.cases[c->case_index];
    sa_run_input inputs[SA_PHASE_MAX_ROLES];
    char paths[SA_PHASE_MAX_ROLES][4200];
    for (size_t r = 0; r < c->spec.n_input_roles; r++) {
        size_t role = c->ds.n_roles;
        for (size_t i = 0; i < c->ds.n_roles; i++)
            if (!strcmp(c->ds.roles[i], c->spec.input_roles[r])) role = i;
        if (role == c->ds.n_roles || !dc->inputs[role].path)
            return sa_error_set(err, "case %s has no '%s' input", dc->id, c->spec.input_roles[r]);
        snprintf(paths[r], sizeof paths[r], "%s/%s", c->dataset_dir, dc->inputs[role].path);
        inputs[r].role = c->spec.input_roles[r];
        inputs[r].path = paths[r];
    }
    /* The output is checked against the grid it is scored on (the first rater's
     * mask, which the import holds within 1e-4 of every input), so that a mask the
     * sandbox accepts is never refused at scoring by tolerances adding up. */
    char reference[4200];
    if (c->ds.n_raters == 0 || !dc->raters[0].path)
        return sa_error_set(err, "case %s has no rater mask", dc->id);
    snprintf(reference, sizeof reference, "%s/%s", c->dataset_dir, dc->raters[0].path);
    char scratch[4200];
    snprintf(scratch, sizeof scratch, "%s/scratch", opt->data_dir);
    if (sa_mkdir_p(scratch, 0711, err)) return -1;

    /* an earlier attempt's container and scratch folder may still be there (its
     * worker died or lost the lease); only earlier ones: a later attempt is one that
     * took this job over (whose own worker removes this one's) */
    if (c->job->attempts > 1 &&
        sa_worker_remove_earlier_attempts(c->w, c->run.id, c->job->case_id, (int)c->job->attempts, err))
        return -1;

    /* recorded before schema 5: worked out again from the kept archive, once */
    if (!c->sub.run_user[0] && sa_submission_recover_run_user(c->st, opt->data_dir, &c->sub, err))
        return -1;
    sa_run_limits lim = c->spec.limits;
    lim.gpu = -1;
    if (c->spec.gpu && c->w->n_gpus > 0) {
        lim.gpu = sa_gpu_claim(c->w->n_gpus);
        if (lim.gpu == -2)
            return sa_error_set(err, "cannot open a GPU lock file (SEGARENA_GPU_LOCK_DIR, /run/lock "
                                     "or /tmp)");
        if (lim.gpu < 0) return 0; /* every GPU busy: back to the queue */
    }
    sa_run_request req = {
        .engine = opt->engine,
        .image = c->sub.image_name,
        .run_id = c->run_token,
        .case_id = c->job->case_id,
        .inputs = inputs,
        .n_inputs = c->spec.n_input_roles,
        .reference = reference,
        .scratch_dir = scratch,
        .user = c->sub.run_user, /* numeric uid:gid from intake: the engine resolves no name */
    };
    int rc = sa_run_case(&req, &lim, res, err);
    if (lim.gpu >= 0) sa_gpu_release(lim.gpu);
    if (rc) return -1;
    return 1;
}

static void remove_work_folder(job_context *c) {
    char work[4300];
    snprintf(work, sizeof work, "%s/scratch/%s-%s", c->w->opt->data_dir, c->run_token,
             c->job->case_id);
    sa_remove_tree(work);
}

static const char *file_ext(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strchr(base, '.');
    return dot ? dot : "";
}

/* Once this attempt's result is stored (the only one of the case that ever will
 * be), the folders other attempts left under runs/<run>/<case>/ go (a worker that
 * lost its lease checks it before writing there, and removes its own folder). */
static void remove_other_attempt_folders(const job_context *c) {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", c->case_dir);
    char *slash = strrchr(parent, '/');
    if (!slash) return;
    *slash = '\0';
    sa_attempt_folders_remove(parent, (long long)c->job->attempts);
}

static int complete_and_report(job_context *c, sa_case_result_row *row, double started,
                               sa_error *err) {
    row->platform_seconds = monotonic_seconds() - started - row->container_seconds;
    if (row->platform_seconds < 0) row->platform_seconds = 0;
    row->run_id = c->run.id;
    snprintf(row->case_id, sizeof row->case_id, "%s", c->job->case_id);
    row->metric_version = SA_METRIC_DEFINITION_VERSION;
    snprintf(row->dataset_checksum, sizeof row->dataset_checksum, "%s", c->dataset_checksum);
    snprintf(row->image_digest, sizeof row->image_digest, "%s", c->sub.image_digest);
    /* the scoring grid's diagonal, read now for a case that failed before scoring
     * (0, unknown, when even that fails: the board then takes another result's) */
    sa_error ignored;
    if (c->fov_mm <= 0) (void)sa_case_scoring_fov(c->dataset_dir, &c->ds, c->case_index, &c->fov_mm, &ignored);
    row->fov_diagonal_mm = c->fov_mm;
    row->attempts = c->job->attempts;
    row->finished = sa_store_now();
    int stored = sa_store_job_complete(c->st, c->job, row, err);
    if (stored == 0) sa_remove_tree(c->case_dir); /* fenced off: this attempt's files are no one's */
    if (stored <= 0) return stored;
    remove_other_attempt_folders(c);
    sa_run_progress p;
    if (sa_store_run_progress(c->st, c->run.id, &p, err)) return -1;
    sa_worker_event ev = {.kind = SA_WORKER_CASE_DONE,
                          .run_id = c->run.id,
                          .case_id = c->job->case_id,
                          .error_class = row->error_class,
                          .container_seconds = row->container_seconds,
                          .platform_seconds = row->platform_seconds,
                          .progress = &p};
    sa_worker_emit(c->w, &ev);
    if (p.queued == 0 && p.running == 0 && sa_worker_finish_run(c->w, c->st, c->run.id, err))
        return -1;
    return 1;
}

/* The case result of a rescore whose parent case failed: the same failure. */
static int carry_parent_failure(const sa_case_result_row *parent, sa_case_result_row *row) {
    snprintf(row->status, sizeof row->status, "%s", parent->status);
    snprintf(row->error_class, sizeof row->error_class, "%s", parent->error_class);
    row->container_seconds = 0; /* no container ran for this run */
    row->peak_memory_bytes = parent->peak_memory_bytes;
    row->exit_code = parent->exit_code;
    row->detail = parent->detail ? strdup(parent->detail) : NULL;
    row->log_path = parent->log_path ? strdup(parent->log_path) : NULL;
    return 0;
}

int sa_job_execute(sa_worker_shared *w, sa_store *st, const sa_job_row *job, sa_error *err) {
    double started = monotonic_seconds();
    job_context c;
    memset(&c, 0, sizeof c);
    c.w = w;
    c.st = st;
    c.job = job;
    sa_case_result_row row;
    memset(&row, 0, sizeof row);
    row.peak_memory_bytes = -1;
    row.exit_code = -1;
    sa_run_result res;
    memset(&res, 0, sizeof res);
    char *result_json = NULL;
    char pred_path[4300] = "";
    /* the lease is renewed for the whole job, container, scoring and storing */
    heartbeat hb;
    heartbeat_start(&hb, w->opt->data_dir, job, w->opt->lease_seconds);
    int rc = hb.started ? load_context(&c, err) : sa_error_set(err, "cannot start a thread");
    if (rc) goto done;

    if (!strcmp(c.run.kind, "rescore")) {
        sa_case_result_row parent;
        int found = sa_store_case_result_get(st, c.run.parent_run_id, job->case_id, &parent, err);
        if (found <= 0) {
            rc = found < 0 ? -1 : sa_error_set(err, "run %lld: its parent run has no case '%s'",
                                               (long long)c.run.id, job->case_id);
            goto done;
        }
        if (strcmp(parent.status, "succeeded") || !parent.output_path) {
            carry_parent_failure(&parent, &row);
        } else {
            snprintf(row.status, sizeof row.status, "succeeded");
            snprintf(row.error_class, sizeof row.error_class, "succeeded");
            row.container_seconds = 0;
            row.peak_memory_bytes = parent.peak_memory_bytes;
            row.exit_code = parent.exit_code;
            row.output_path = strdup(parent.output_path);
            row.log_path = parent.log_path ? strdup(parent.log_path) : NULL;
            snprintf(pred_path, sizeof pred_path, "%s/%s", w->opt->data_dir, parent.output_path);
        }
        sa_case_result_row_free(&parent);
    } else {
        /* the lease, asked now (a stalled process's heartbeat may not have noticed
         * yet): taken over while loading, the new holder runs it */
        int held = lease_lost(&hb) ? 0 : sa_store_job_renew(st, job, w->opt->lease_seconds, err);
        if (held <= 0) {
            if (held == 0) sa_remove_tree(c.case_dir); /* this attempt's own, still empty */
            rc = held < 0 ? -1 : 0;
            goto done;
        }
        int ran = run_container(&c, &res, err);
        if (ran <= 0) {
            rc = ran < 0 ? -1 : SA_JOB_GIVEN_BACK;
            if (ran == 0) sa_store_job_give_back(st, job, err); /* no GPU free: not an attempt */
            goto done;
        }
        if (res.cls == SA_RUN_ENGINE_ERROR && job->attempts < SA_ENGINE_ERROR_ATTEMPTS) {
            remove_work_folder(&c);
            sa_worker_event ev = {.kind = SA_WORKER_CASE_RETRY, .run_id = c.run.id,
                                  .case_id = job->case_id, .error_class = res.class_text,
                                  .message = res.detail};
            sa_worker_emit(w, &ev);
            /* retried after a delay that grows with each claim */
            double not_before = sa_store_now() + sa_worker_retry_delay(w, job->attempts);
            rc = sa_store_job_release_until(st, job, not_before, 1, err) < 0 ? -1 : SA_JOB_GIVEN_BACK;
            goto done;
        }
        snprintf(row.status, sizeof row.status, "%s", res.succeeded ? "succeeded" : "failed");
        snprintf(row.error_class, sizeof row.error_class, "%s", res.class_text);
        row.container_seconds = res.wall_seconds;
        row.peak_memory_bytes = res.peak_memory_bytes;
        row.exit_code = res.exit_code;
        row.detail = res.detail[0] ? strdup(res.detail) : NULL;
        /* nothing is written under runs/ for a job this worker no longer holds */
        held = lease_lost(&hb) ? 0 : sa_store_job_renew(st, job, w->opt->lease_seconds, err);
        if (held <= 0) {
            remove_work_folder(&c);
            if (held == 0) sa_remove_tree(c.case_dir);
            rc = held < 0 ? -1 : 0;
            goto done;
        }
        if (res.log && res.log_len) {
            char log_path[4300];
            snprintf(log_path, sizeof log_path, "%s/log.txt", c.case_dir);
            if ((rc = sa_write_atomic(log_path, res.log, res.log_len, 0600, err))) goto done;
            row.log_path = relative_path(&c, "log.txt");
        }
        if (res.succeeded && res.output_path) {
            char out_dir[4300];
            snprintf(out_dir, sizeof out_dir, "%s/output", c.case_dir);
            if ((rc = sa_mkdir_p(out_dir, 0700, err))) goto done;
            char name[64];
            snprintf(name, sizeof name, "output/segmentation%s", file_ext(res.output_path));
            snprintf(pred_path, sizeof pred_path, "%s/%s", c.case_dir, name);
            if ((rc = sa_move_file(res.output_path, pred_path, 0644, err))) goto done;
            row.output_path = relative_path(&c, name);
        }
        remove_work_folder(&c);
    }

    if (lease_lost(&hb)) { /* taken over: scoring would be wasted */
        rc = 0;
        goto done;
    }
    if (pred_path[0]) {
        char problem[512];
        int wrong_geometry = 0;
        if ((rc = score_case(&c, pred_path, &result_json, problem, sizeof problem, &wrong_geometry, err)))
            goto done;
        if (problem[0]) {
            /* the stored mask is unusable (a rescore after the files changed) */
            snprintf(row.status, sizeof row.status, "failed");
            snprintf(row.error_class, sizeof row.error_class, "%s",
                     !strcmp(c.run.kind, "rescore") ? "engine_error: stored output unusable"
                     : wrong_geometry              ? "invalid_output: wrong geometry"
                                                   : "invalid_output: not an image");
            free(row.detail);
            row.detail = strdup(problem);
        } else {
            /* nothing is written under runs/ for a job this worker no longer holds
             * (a rescore had not asked yet) */
            int held = lease_lost(&hb) ? 0 : sa_store_job_renew(st, job, w->opt->lease_seconds, err);
            if (held <= 0) {
                if (held == 0) sa_remove_tree(c.case_dir);
                rc = held < 0 ? -1 : 0;
                goto done;
            }
            char result_path[4300];
            snprintf(result_path, sizeof result_path, "%s/result.json", c.case_dir);
            if ((rc = sa_write_atomic(result_path, result_json, strlen(result_json), 0600, err)))
                goto done;
            row.result_json = result_json;
        }
    }
    rc = complete_and_report(&c, &row, started, err);
    if (rc > 0) rc = 1;

done:
    heartbeat_stop(&hb);
    row.result_json = NULL;
    free(result_json);
    free(row.detail);
    free(row.output_path);
    free(row.log_path);
    sa_run_result_free(&res);
    free_context(&c);
    return rc;
}

int sa_job_store_platform_failure(sa_worker_shared *w, sa_store *st, const sa_job_row *job,
                                  const char *message, sa_error *err) {
    sa_case_result_row row;
    memset(&row, 0, sizeof row);
    row.run_id = job->run_id;
    snprintf(row.case_id, sizeof row.case_id, "%s", job->case_id);
    snprintf(row.status, sizeof row.status, "failed");
    snprintf(row.error_class, sizeof row.error_class, "engine_error: platform error");
    row.peak_memory_bytes = -1;
    row.exit_code = -1;
    row.detail = (char *)message;
    row.metric_version = SA_METRIC_DEFINITION_VERSION;
    row.attempts = job->attempts;
    row.finished = sa_store_now();
    sa_run_row run;
    if (sa_store_run_get(st, job->run_id, &run, err) == 1) {
        sa_submission_row sub;
        if (sa_store_submission_get(st, run.submission_id, &sub, err) == 1) {
            snprintf(row.image_digest, sizeof row.image_digest, "%s", sub.image_digest);
            sa_submission_row_free(&sub);
        }
        /* the dataset's checksum, as a scored case records it, where it can still be
         * had (the failure may be the dataset's own): the leaderboard judges a
         * failed case's scoring configuration by it */
        sa_phase_spec spec;
        sa_problems problems;
        sa_problems_init(&problems);
        sa_error ignored;
        int parsed = sa_phase_spec_parse(run.config_json, "run", &spec, &problems, &ignored) == 0;
        if (parsed &&
            sa_dataset_checksum(w->opt->data_dir, spec.dataset, row.dataset_checksum, &ignored) != 0)
            row.dataset_checksum[0] = '\0';
        sa_problems_free(&problems);
        /* and the case's diagonal, the distance penalty every failed case of it gets */
        sa_dataset ds;
        char dir[4096];
        sa_problems_init(&problems);
        if (parsed && sa_dataset_open(w->opt->data_dir, spec.dataset, &ds, &problems, &ignored) == 0) {
            for (size_t i = 0; i < ds.n_cases; i++)
                if (!strcmp(ds.cases[i].id, job->case_id) &&
                    sa_dataset_dir(w->opt->data_dir, spec.dataset, dir, sizeof dir, &ignored) == 0)
                    (void)sa_case_scoring_fov(dir, &ds, i, &row.fov_diagonal_mm, &ignored);
            sa_dataset_free(&ds);
        }
        sa_problems_free(&problems);
        sa_run_row_free(&run);
    }
    int stored = sa_store_job_complete(st, job, &row, err);
    if (stored <= 0) return stored;
    /* the stored failure refers to no attempt's files: every attempt's folder goes */
    char parent[4300];
    snprintf(parent, sizeof parent, "%s/runs/%lld/%s", w->opt->data_dir, (long long)job->run_id,
             job->case_id);
    sa_attempt_folders_remove(parent, -1);
    sa_worker_event ev = {.kind = SA_WORKER_CASE_DONE, .run_id = job->run_id,
                          .case_id = job->case_id, .error_class = row.error_class};
    sa_worker_emit(w, &ev);
    sa_run_progress p;
    if (sa_store_run_progress(st, job->run_id, &p, err)) return -1;
    if (p.queued == 0 && p.running == 0 && sa_worker_finish_run(w, st, job->run_id, err))
        return -1;
    return 1;
}
