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

static void ids_free(char **ids, size_t n) {
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
}

/* 1 when every name of a is in b and both hold as many (names within a list are
 * unique: the spec and the dataset refuse repeats). */
static int same_names(char **a, size_t na, char **b, size_t nb) {
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++) {
        size_t j = 0;
        while (j < nb && strcmp(a[i], b[j])) j++;
        if (j == nb) return 0;
    }
    return 1;
}

/* Names in *what ("dataset", "split", "input_roles", comma-separated) what the new
 * spec changes of what the phase's runs saw: its dataset, the set of cases its
 * split selects (a new split name selecting the same cases changes nothing) and
 * the set of input roles. 0, or -1 when a dataset cannot be read. */
static int runs_would_change(const char *data_dir, const sa_phase_row *row, int64_t dataset_id,
                             const sa_phase_spec *spec, char *what, size_t size, sa_error *err) {
    what[0] = '\0';
    if (dataset_id != row->dataset_id) {
        snprintf(what, size, "dataset");
        return 0;
    }
    sa_phase_spec old;
    sa_problems problems;
    sa_problems_init(&problems);
    int parsed = sa_phase_spec_parse(row->spec_json, "stored spec", &old, &problems, err);
    sa_problems_free(&problems);
    if (parsed) return sa_error_set(err, "phase %s: its stored spec does not parse", row->name);
    char **old_ids = NULL, **new_ids = NULL;
    size_t n_old = 0, n_new = 0;
    if (sa_phase_case_ids(data_dir, &old, &old_ids, &n_old, err)) return -1;
    if (sa_phase_case_ids(data_dir, spec, &new_ids, &n_new, err)) {
        ids_free(old_ids, n_old);
        return -1;
    }
    int same_cases = same_names(old_ids, n_old, new_ids, n_new);
    ids_free(old_ids, n_old);
    ids_free(new_ids, n_new);
    char *old_roles[SA_PHASE_MAX_ROLES], *new_roles[SA_PHASE_MAX_ROLES];
    for (size_t r = 0; r < old.n_input_roles; r++) old_roles[r] = old.input_roles[r];
    for (size_t r = 0; r < spec->n_input_roles; r++) new_roles[r] = (char *)spec->input_roles[r];
    int same_roles = same_names(old_roles, old.n_input_roles, new_roles, spec->n_input_roles);
    snprintf(what, size, "%s%s%s", same_cases ? "" : "split",
             !same_cases && !same_roles ? ", " : "", same_roles ? "" : "input_roles");
    return 0;
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
    /* what a run saw: another dataset, other cases (the split) or other input roles
     * make every earlier run belong to another phase (a rescore keeps its parent's
     * cases and outputs), so such a change waits for a phase without runs */
    char what[64] = "";
    if (rc == 0) rc = runs_would_change(data_dir, &row, dataset_id, &spec, what, sizeof what, err);
    char *json = NULL;
    if (rc == 0) rc = sa_phase_spec_to_json(&spec, &json, err);
    if (rc == 0) {
        /* judged against row.spec_json: applied only while it is still the stored one */
        rc = sa_store_phase_update_spec(st, phase_id, dataset_id, json, what[0] != '\0',
                                        row.spec_json, err);
        if (rc == SA_STORE_CONFLICT && strstr(err->msg, "meanwhile")) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            rc = sa_error_set(err, "%s: %s", spec_path, why);
        } else if (rc == SA_STORE_CONFLICT) {
            rc = sa_error_set(err, "%s: %s: the phase has runs, and what they saw cannot "
                                   "change; create a new phase instead",
                              spec_path, what);
        }
    }
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
