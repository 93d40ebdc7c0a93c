/*
 * organise.c: what an organiser does before any submission: define a phase on a
 * stored dataset (checked against the dataset: it exists and verifies, the split
 * has cases, the input roles exist), change its spec, and find it again by
 * "CHALLENGE/PHASE".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"
#include "store.h"

int sa_dataset_checksum(const char *data_dir, const char *name, char hex[65], sa_error *err) {
    char dir[4096], manifest[4200];
    if (sa_dataset_dir(data_dir, name, dir, sizeof dir, err)) return -1;
    snprintf(manifest, sizeof manifest, "%s/dataset.json", dir);
    uint64_t bytes;
    return sa_file_sha256(manifest, hex, &bytes, err);
}

static int split_matches(const sa_phase_spec *spec, const sa_dataset_case *c) {
    return spec->split[0] == '\0' || (c->split && !strcmp(c->split, spec->split));
}

int sa_phase_case_ids(const char *data_dir, const sa_phase_spec *spec, char ***ids, size_t *n,
                      sa_error *err) {
    *ids = NULL;
    *n = 0;
    sa_dataset ds;
    sa_problems problems;
    sa_problems_init(&problems);
    if (sa_dataset_open(data_dir, spec->dataset, &ds, &problems, err)) {
        sa_problems_free(&problems);
        return -1;
    }
    sa_problems_free(&problems);
    char **out = calloc(ds.n_cases ? ds.n_cases : 1, sizeof *out);
    size_t k = 0;
    int rc = out ? 0 : sa_error_set(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < ds.n_cases; i++) {
        if (!split_matches(spec, &ds.cases[i])) continue;
        out[k] = strdup(ds.cases[i].id);
        if (!out[k]) rc = sa_error_set(err, "out of memory");
        else k++;
    }
    sa_dataset_free(&ds);
    if (rc) {
        for (size_t i = 0; i < k; i++) free(out[i]);
        free(out);
        return -1;
    }
    *ids = out;
    *n = k;
    return 0;
}

/* The checks of a spec against its dataset; records the dataset in the store. */
static int check_against_dataset(sa_store *st, const char *data_dir, const sa_phase_spec *spec,
                                 const char *label, int64_t *dataset_id, sa_problems *problems,
                                 sa_error *err) {
    sa_dataset ds;
    if (sa_dataset_open(data_dir, spec->dataset, &ds, problems, err)) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return sa_error_set(err, "%s: dataset '%s': %s", label, spec->dataset, why);
    }
    size_t in_split = 0;
    for (size_t i = 0; i < ds.n_cases; i++) in_split += split_matches(spec, &ds.cases[i]);
    if (in_split == 0)
        sa_problems_add(problems, "%s: split: dataset '%s' has no case in split '%s'", label,
                        spec->dataset, spec->split);
    for (size_t r = 0; r < spec->n_input_roles; r++) {
        int found = 0;
        for (size_t k = 0; k < ds.n_roles; k++) found |= !strcmp(ds.roles[k], spec->input_roles[r]);
        if (!found)
            sa_problems_add(problems, "%s: input_roles: dataset '%s' has no role '%s'", label,
                            spec->dataset, spec->input_roles[r]);
    }
    if (ds.n_raters == 0)
        sa_problems_add(problems, "%s: dataset: '%s' has no rater masks to score against", label,
                        spec->dataset);
    if (ds.n_raters > SA_MAX_RATERS)
        sa_problems_add(problems, "%s: dataset: '%s' has %zu raters (at most %d)", label,
                        spec->dataset, ds.n_raters, SA_MAX_RATERS);
    char kind[32];
    snprintf(kind, sizeof kind, "%s", ds.kind ? ds.kind : "");
    size_t n_cases = ds.n_cases;
    sa_dataset_free(&ds);
    if (problems->count) return sa_error_set(err, "%s", problems->msg[0]);

    sa_problems bad;
    sa_problems_init(&bad);
    if (sa_dataset_verify(data_dir, spec->dataset, &bad, err)) {
        for (size_t i = 0; i < bad.count; i++) sa_problems_add(problems, "%s", bad.msg[i]);
        sa_problems_free(&bad);
        return sa_error_set(err, "%s: dataset '%s' does not verify: %s", label, spec->dataset,
                            problems->count ? problems->msg[0] : err->msg);
    }
    sa_problems_free(&bad);
    char checksum[65];
    if (sa_dataset_checksum(data_dir, spec->dataset, checksum, err)) return -1;
    return sa_store_dataset_record(st, spec->dataset, checksum, kind, (int64_t)n_cases, dataset_id,
                                   err);
}

int sa_phase_create(sa_store *st, const char *data_dir, const char *challenge_slug,
                    const char *spec_path, int64_t *phase_id, sa_problems *problems,
                    sa_error *err) {
    sa_phase_spec spec;
    if (sa_phase_spec_read(spec_path, &spec, problems, err)) return -1;
    sa_challenge_row ch;
    int found = sa_store_challenge_get(st, challenge_slug, &ch, err);
    if (found < 0) return -1;
    if (found == 0) return sa_error_set(err, "no challenge '%s'", challenge_slug);
    int64_t challenge_id = ch.id;
    sa_challenge_row_free(&ch);

    int64_t dataset_id;
    if (check_against_dataset(st, data_dir, &spec, spec_path, &dataset_id, problems, err))
        return -1;
    char *json = NULL;
    if (sa_phase_spec_to_json(&spec, &json, err)) return -1;
    int rc = sa_store_phase_add(st, challenge_id, spec.name, dataset_id, json, phase_id, err);
    free(json);
    if (rc == SA_STORE_CONFLICT)
        return sa_error_set(err, "challenge '%s' already has a phase '%s' (change it with "
                                 "`segarena phase update`)",
                            challenge_slug, spec.name);
    size_t computed;
    if (rc == 0) rc = sa_phase_human_reference(st, data_dir, &spec, &computed, err);
    return rc;
}

int sa_phase_update(sa_store *st, const char *data_dir, int64_t phase_id, const char *spec_path,
                    sa_problems *problems, sa_error *err) {
    sa_phase_spec spec;
    if (sa_phase_spec_read(spec_path, &spec, problems, err)) return -1;
    sa_phase_row row;
    int found = sa_store_phase_get_by_id(st, phase_id, &row, err);
    if (found <= 0) return found < 0 ? -1 : sa_error_set(err, "no phase %lld", (long long)phase_id);
    int rc = 0;
    if (strcmp(spec.name, row.name))
        rc = sa_error_set(err, "%s: name: '%s' differs from the phase's name '%s' (a phase "
                               "keeps its name)",
                          spec_path, spec.name, row.name);
    int64_t dataset_id = 0;
    if (rc == 0)
        rc = check_against_dataset(st, data_dir, &spec, spec_path, &dataset_id, problems, err);
    if (rc == 0 && dataset_id != row.dataset_id) {
        sa_run_row *runs = NULL;
        size_t n_runs = 0;
        rc = sa_store_run_list(st, phase_id, 0, &runs, &n_runs, err);
        if (rc == 0 && n_runs > 0)
            rc = sa_error_set(err, "%s: dataset: the phase has %zu run(s) on another dataset; "
                                   "create a new phase instead",
                              spec_path, n_runs);
        sa_run_rows_free(runs, n_runs);
    }
    char *json = NULL;
    if (rc == 0) rc = sa_phase_spec_to_json(&spec, &json, err);
    if (rc == 0) rc = sa_store_phase_update_spec(st, phase_id, dataset_id, json, err);
    free(json);
    size_t computed;
    if (rc == 0) rc = sa_phase_human_reference(st, data_dir, &spec, &computed, err);
    sa_phase_row_free(&row);
    return rc;
}

static int parse_phase_id(const char *ref, int64_t *id) {
    char *end;
    errno = 0;
    long long v = strtoll(ref, &end, 10);
    if (errno || end == ref || *end || v <= 0) return 0;
    *id = v;
    return 1;
}

int sa_phase_find(sa_store *st, const char *ref, int64_t *phase_id, sa_phase_spec *spec,
                  sa_error *err) {
    sa_phase_row row;
    int found;
    int64_t id;
    if (parse_phase_id(ref, &id)) {
        found = sa_store_phase_get_by_id(st, id, &row, err);
        if (found == 0) sa_error_set(err, "no phase with id %lld", (long long)id);
    } else {
        const char *slash = strchr(ref, '/');
        if (!slash || slash == ref || !slash[1] || (size_t)(slash - ref) >= 64)
            return sa_error_set(err, "'%s': a phase is named CHALLENGE/PHASE (or by its id)", ref);
        char challenge[64];
        memcpy(challenge, ref, (size_t)(slash - ref));
        challenge[slash - ref] = '\0';
        found = sa_store_phase_get(st, challenge, slash + 1, &row, err);
        if (found == 0) sa_error_set(err, "no phase '%s'", ref);
    }
    if (found <= 0) return found;
    *phase_id = row.id;
    int rc = 1;
    if (spec) {
        sa_problems problems;
        sa_problems_init(&problems);
        char label[160];
        snprintf(label, sizeof label, "phase %s/%s (stored spec)", row.challenge, row.name);
        if (sa_phase_spec_parse(row.spec_json, label, spec, &problems, err)) rc = -1;
        sa_problems_free(&problems);
    }
    sa_phase_row_free(&row);
    return rc;
}
