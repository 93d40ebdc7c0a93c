/*
 * human_reference.c: the raters' own scores, each rater against the consensus of
 * the others (MSSEG 2016's "rater 1..K" rows), computed once per dataset and
 * scoring configuration when a phase is set up or its scoring changes, and
 * stored, so that no submission's case pays for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_internal.h"

int sa_human_reference_store(sa_store *st, const sa_multi_result *r, const char *const *rater_ids,
                             const sa_grid *grid, const sa_case_stamp *stamp, const char *case_id,
                             sa_error *err) {
    char *json = NULL;
    if (sa_human_reference_json(r, rater_ids, grid, stamp, &json, err)) return -1;
    int rc = sa_store_human_ref_put(st, stamp->scoring_hash, case_id, json, err);
    free(json);
    return rc;
}

/* One case: the leave-one-out scores come with sa_score_multi's human
 * reference; rater 0 stands in as the prediction (its other scores are dropped). */
static int case_human_reference(sa_store *st, const char *dataset_dir, const sa_dataset *ds,
                                size_t case_index, const sa_phase_spec *spec,
                                const sa_case_stamp *stamp, sa_error *err) {
    sa_case_masks masks;
    if (sa_case_masks_read(dataset_dir, ds, case_index, spec->label, &masks, err)) return -1;
    sa_multi_options opt;
    sa_phase_multi_options(spec, &opt);
    opt.human_reference = 1;
    opt.score.threads = 0; /* the organiser waits: use every core */
    opt.consensus.threads = 0;
    sa_multi_result *res = calloc(1, sizeof *res);
    int rc = res ? 0 : sa_error_set(err, "out of memory");
    if (rc == 0) {
        int gpu = sa_scoring_gpu_take(&masks.grid, masks.k, &opt); /* not one a container holds */
        rc = sa_score_multi(masks.raters[0], (const uint8_t *const *)masks.raters, masks.k,
                            &masks.grid, &opt, res, err);
        sa_scoring_gpu_give(gpu);
    }
    if (rc == 0) {
        rc = sa_human_reference_store(st, res, (const char *const *)ds->raters, &masks.grid,
                                      stamp, ds->cases[case_index].id, err);
        sa_multi_result_free(res);
    }
    free(res);
    sa_case_masks_free(&masks);
    return rc;
}

int sa_phase_human_reference(sa_store *st, const char *data_dir, const sa_phase_spec *spec,
                             size_t *computed, sa_error *err) {
    *computed = 0;
    if (!spec->human_reference) return 0;
    sa_dataset ds;
    sa_problems problems;
    sa_problems_init(&problems);
    int rc = sa_dataset_open(data_dir, spec->dataset, &ds, &problems, err);
    sa_problems_free(&problems);
    if (rc) return -1;
    char dir[4096], checksum[65], hash[65];
    rc = sa_dataset_dir(data_dir, spec->dataset, dir, sizeof dir, err);
    if (rc == 0) rc = sa_dataset_checksum(data_dir, spec->dataset, checksum, err);
    if (rc || ds.n_raters < 2) {
        sa_dataset_free(&ds);
        return rc; /* one rater: nobody to compare it with */
    }
    sa_phase_scoring_hash(spec, checksum, hash);
    sa_case_stamp stamp = {SA_METRIC_DEFINITION_VERSION, checksum, "", hash};
    for (size_t i = 0; rc == 0 && i < ds.n_cases; i++) {
        if (spec->split[0] && (!ds.cases[i].split || strcmp(ds.cases[i].split, spec->split)))
            continue;
        char *stored = NULL;
        int have = sa_store_human_ref_get(st, hash, ds.cases[i].id, &stored, err);
        free(stored);
        if (have < 0) rc = -1;
        if (have != 0) continue;
        rc = case_human_reference(st, dir, &ds, i, spec, &stamp, err);
        if (rc == 0) (*computed)++;
    }
    sa_dataset_free(&ds);
    return rc;
}
