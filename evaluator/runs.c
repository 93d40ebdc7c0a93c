/*
 * runs.c: queuing a run: one submission on its phase, with the phase's spec
 * frozen into the run so that later changes to the phase never alter what a run
 * meant. A first evaluation or a rerun queues one job per case of the phase's
 * split; a rescore queues one job per case its parent run stored, and its
 * workers read the parent's outputs instead of running containers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"
#include "store.h"

static int kind_valid(const char *kind) {
    return !strcmp(kind, "evaluate") || !strcmp(kind, "rerun") || !strcmp(kind, "rescore");
}

/* Case ids of the parent run's stored results (a rescore scores exactly those). */
static int parent_case_ids(sa_store *st, int64_t parent, char ***ids, size_t *n, sa_error *err) {
    sa_case_result_row *rows = NULL;
    size_t k = 0;
    *ids = NULL;
    *n = 0;
    if (sa_store_case_results(st, parent, &rows, &k, err)) return -1;
    char **out = calloc(k ? k : 1, sizeof *out);
    int rc = out ? 0 : sa_error_set(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < k; i++)
        if (!(out[i] = strdup(rows[i].case_id))) rc = sa_error_set(err, "out of memory");
    sa_case_result_rows_free(rows, k);
    if (rc) {
        if (out) sa_strings_free(out, k);
        return -1;
    }
    *ids = out;
    *n = k;
    return 0;
}

/* A refusal of the request (not the platform's failure): SA_RUN_REFUSED. */
static int refused(int set) {
    (void)set; /* sa_error_set's -1: the message is in err */
    return SA_RUN_REFUSED;
}

int sa_run_queue(sa_store *st, const char *data_dir, int64_t submission_id, const char *kind,
                 int64_t parent_run, int64_t *run_id, sa_error *err) {
    if (!kind || !kind_valid(kind))
        return refused(sa_error_set(err, "run kind '%s': expected evaluate, rerun or rescore",
                                    kind ? kind : ""));
    sa_submission_row sub;
    int found = sa_store_submission_get(st, submission_id, &sub, err);
    if (found <= 0)
        return found < 0 ? -1 : refused(sa_error_set(err, "no submission %lld", (long long)submission_id));
    int rc = 0;
    if (strcmp(sub.status, "ready"))
        rc = sa_error_set(err, "submission %lld was refused at intake; it cannot run",
                          (long long)submission_id);
    int64_t phase_id = sub.phase_id;
    sa_submission_row_free(&sub);
    if (rc) return SA_RUN_REFUSED;

    if (parent_run) {
        sa_run_row parent;
        found = sa_store_run_get(st, parent_run, &parent, err);
        if (found <= 0)
            return found < 0 ? -1 : refused(sa_error_set(err, "no run %lld", (long long)parent_run));
        if (parent.submission_id != submission_id)
            rc = sa_error_set(err, "run %lld is not a run of submission %lld",
                              (long long)parent_run, (long long)submission_id);
        else if (!strcmp(kind, "rescore") && strcmp(parent.status, "done") &&
                 strcmp(parent.status, "cancelled"))
            rc = sa_error_set(err, "run %lld is %s: only a finished run can be rescored",
                              (long long)parent_run, parent.status);
        sa_run_row_free(&parent);
        if (rc) return SA_RUN_REFUSED;
    } else if (!strcmp(kind, "rescore")) {
        return refused(sa_error_set(err, "a rescore needs the run whose outputs it scores again"));
    }

    /* the run is made only on the phase's spec as read here (the store's insert
     * checks it); a `phase update` in between makes it read the new one again */
    for (int attempt = 0;; attempt++) {
        char ref[32];
        snprintf(ref, sizeof ref, "%lld", (long long)phase_id);
        sa_phase_spec spec;
        sa_phase_row row;
        int got = sa_store_phase_get_by_id(st, phase_id, &row, err);
        if (got <= 0) return got < 0 ? -1 : sa_error_set(err, "no phase %lld", (long long)phase_id);
        if (sa_phase_find(st, ref, &phase_id, &spec, err) <= 0) {
            sa_phase_row_free(&row);
            return -1;
        }
        char **ids = NULL;
        size_t n = 0;
        if (!strcmp(kind, "rescore"))
            rc = parent_case_ids(st, parent_run, &ids, &n, err);
        else
            rc = sa_phase_case_ids(data_dir, &spec, &ids, &n, err);
        if (rc == 0 && n == 0) rc = refused(sa_error_set(err, "nothing to run: no case"));
        char *config = NULL;
        if (rc == 0) rc = sa_phase_spec_to_json(&spec, &config, err);
        if (rc == 0 && !strcmp(kind, "evaluate")) /* a first evaluation: only while it has no run */
            rc = sa_store_run_create_first(st, submission_id, phase_id, kind, config,
                                           (const char *const *)ids, n, run_id, row.spec_json, err);
        else if (rc == 0)
            rc = sa_store_run_create(st, submission_id, phase_id, kind, parent_run, config,
                                     (const char *const *)ids, n, run_id, row.spec_json, err);
        free(config);
        sa_strings_free(ids, n);
        sa_phase_row_free(&row);
        if (rc == SA_STORE_CONFLICT && strstr(err->msg, "spec changed") && attempt < 3) continue;
        return rc;
    }
}
