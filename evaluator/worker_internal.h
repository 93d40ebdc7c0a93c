/*
 * worker_internal.h: what worker.c (threads, claiming, idling) and job.c (one
 * case, from container to stored result) share. Not part of the public API.
 */
#ifndef SEGARENA_WORKER_INTERNAL_H
#define SEGARENA_WORKER_INTERNAL_H

#include <pthread.h>

#include "evaluator.h"
#include "store.h"

/* Engine errors of one case are retried this many times in all before the case
 * is stored as failed with its engine_error class. */
#define SA_ENGINE_ERROR_ATTEMPTS 3

typedef struct sa_worker_shared {
    const sa_worker_options *opt;
    pthread_mutex_t event_lock;
    char instance[16]; /* the store's instance tag (container names) */
    int n_gpus;        /* GPUs this host can pass in */
    /* claiming paused while the data directory takes no writes (worker.c) */
    pthread_mutex_t pause_lock;
    int paused;
    double paused_until; /* sa_store_now() of the next look */
    double last_sweep;   /* sa_store_now() of the last sweep for leftovers (pause_lock) */
    int sweeping;        /* a thread is sweeping now (pause_lock) */
} sa_worker_shared;

/* How long a case waits in the queue after its claim number `attempts` ended in a
 * platform or engine error (opt->retry_delays, or 30 s, 2 min, 10 min, 30 min). */
double sa_worker_retry_delay(const sa_worker_shared *w, int64_t attempts);

/* Serialised call of opt->on_event. */
void sa_worker_emit(sa_worker_shared *w, const sa_worker_event *ev);

/* The token of one attempt's container name and scratch folder:
 * "<instance>.<run id>.<attempt>". Each attempt has its own, so that a worker that
 * lost its lease (stalled, then woke) can neither remove nor overwrite what the
 * attempt that took the job over stages, runs or keeps. */
void sa_worker_run_token(const sa_worker_shared *w, int64_t run_id, int attempt, char *buf,
                         size_t size);
/* Removes the containers and scratch folders of run_id/case_id's attempts before
 * `attempt` (a worker that died or lost its lease left them); never a later
 * attempt's, which would be the one that took this job over. 0 or -1. */
int sa_worker_remove_earlier_attempts(const sa_worker_shared *w, int64_t run_id,
                                      const char *case_id, int attempt, sa_error *err);

/* Removes the attempt folders (numeric names) under parent, runs/<run>/<case>,
 * but keep's (-1: all of them); attempt_folders.c. */
void sa_attempt_folders_remove(const char *parent, long long keep);
/* The worker's sweep of runs/: in every runs/<run>/<case>/ whose case result is
 * committed, the attempt folders that result does not keep (a worker killed
 * between the commit and its own removal of them left them). Cases without a
 * committed result (queued, running, in anyone's hands) are not touched. 0, or
 * -1 when runs/ cannot be listed. */
int sa_attempt_folders_sweep(const char *data_dir, sa_store *st, sa_error *err);

/* The worker's sweep of submission images (submit.c): each name of this data
 * directory ("localhost/segarena/sub-<instance>-<id>") that no submission row
 * names, left by an upload killed between its load and its record (or a removal
 * that failed), is removed from the engine (never forced: only untagged when the
 * image has other names), under its image's lock (not waiting: an upload of it
 * in progress keeps it). Best effort. */
void sa_submit_sweep_images(sa_store *st, const char *data_dir, sa_engine_kind engine);

/* A failing platform (disk full, unreadable dataset file) gives a job back this
 * many times in all; then the case is stored as failed with an engine_error. */
#define SA_PLATFORM_ERROR_ATTEMPTS 5

/* A job claimed more often than this (each engine-error retry, platform give-back
 * and takeover of a dead or stalled worker's lease is a claim; waiting for a GPU
 * is not) is stored as failed instead of run again: a case that kills its worker
 * every time must not be retried forever, its run never finishing. */
#define SA_CLAIM_LIMIT 8

/* sa_job_execute's result when the job went back to the queue to be retried later
 * (an engine error, no GPU free): the worker waits a moment before claiming. */
#define SA_JOB_GIVEN_BACK 2

/* Runs one claimed job to its end, renewing its lease all along: stored (1),
 * lost to another worker (0), given back (SA_JOB_GIVEN_BACK), or -1 with err when
 * the platform could not handle it (the caller gives the job back or, after
 * SA_PLATFORM_ERROR_ATTEMPTS, stores the failure with sa_job_store_platform_failure). */
int sa_job_execute(sa_worker_shared *w, sa_store *st, const sa_job_row *job, sa_error *err);

/* Stores the case as failed with class "engine_error: platform error" (the
 * message goes to the organisers' detail only). 1 stored, 0 lease lost, -1. */
int sa_job_store_platform_failure(sa_worker_shared *w, sa_store *st, const sa_job_row *job,
                                  const char *message, sa_error *err);

/* Aggregates and marks done a run with no job left; emits RUN_DONE when this
 * call finished it. 0 or -1. */
int sa_worker_finish_run(sa_worker_shared *w, sa_store *st, int64_t run_id, sa_error *err);

/* The raters' masks of one dataset case (case_masks.c), read once per case. */
typedef struct sa_case_masks {
    size_t k;
    uint8_t *raters[SA_MAX_RATERS];
    sa_grid grid;
    sa_image first;          /* rater 0's image: the geometry masks must match */
    char first_path[4200];
} sa_case_masks;

/* Reads every rater mask of ds->cases[case_index] (label < 0: > 0 is inside). */
int sa_case_masks_read(const char *dataset_dir, const sa_dataset *ds, size_t case_index,
                       long label, sa_case_masks *out, sa_error *err);
void sa_case_masks_free(sa_case_masks *m);
/* The field-of-view diagonal of the case's scoring grid (rater 0's image), the one
 * a scored result of the case records: 0, or -1 when that image cannot be read. */
int sa_case_scoring_fov(const char *dataset_dir, const sa_dataset *ds, size_t case_index,
                        double *fov_mm, sa_error *err);
/* Reads a mask on the raters' grid (geometry checked against rater 0, on the
 * header, before voxel memory is allocated). 0; -2 for another grid; -1 for any
 * other problem. */
int sa_case_mask_read(const char *path, long label, const sa_case_masks *like, uint8_t **mask,
                      sa_error *err);

/* Serialises and stores a case's human reference (first one stored wins). */
int sa_human_reference_store(sa_store *st, const sa_multi_result *r, const char *const *rater_ids,
                             const sa_grid *grid, const sa_case_stamp *stamp, const char *case_id,
                             sa_error *err);

/* A ready submission recorded before schema 5 has no run user: it is worked out
 * again, as intake did, from the archive kept at uploads/<sha256>.tar (whose
 * image must still be the submission's), and recorded; sub->run_user is filled.
 * 0, or -1 with err (the archive gone or no longer accepted: submit it again). */
int sa_submission_recover_run_user(sa_store *st, const char *data_dir, sa_submission_row *sub,
                                   sa_error *err);

#endif
