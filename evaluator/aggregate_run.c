/*
 * aggregate_run.c: the numbers of one run's cases. sa_run_aggregate_json is what
 * a run stores when its last case is done (per metric of its frozen spec: mean,
 * median, std, bootstrap CI and n; failed cases per class), and the helpers of
 * board_internal.h are the same steps that each row of the leaderboard goes
 * through, so that a run and its row always agree.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "board_internal.h"

int sa_board_case_load(const sa_case_result_row *res, sa_case_values *out, sa_error *err) {
    if (!res || strcmp(res->status, "succeeded") != 0) {
        /* its own case's diagonal where the result recorded it (0: found elsewhere) */
        sa_case_values_failed(out, res && res->fov_diagonal_mm > 0 ? res->fov_diagonal_mm : 0);
        return 0;
    }
    if (!res->result_json)
        return sa_error_set(err, "run %lld, case %s: succeeded but has no scores", (long long)res->run_id,
                            res->case_id);
    sa_error why;
    if (sa_case_values_from_json_cached(res->result_json, out, &why))
        return sa_error_set(err, "run %lld, case %s: %s", (long long)res->run_id, res->case_id, why.msg);
    return 0;
}

void sa_manifest_fov_init(sa_manifest_fov *m, sa_store *st, const char *dataset) {
    memset(m, 0, sizeof *m);
    m->st = st;
    m->dataset = dataset;
}

double sa_manifest_fov_case(sa_manifest_fov *m, const char *case_id) {
    if (!m || !case_id) return 0;
    if (!m->tried) { /* read once, at the first need; unreadable: no diagonal from it */
        m->tried = 1;
        sa_problems problems;
        sa_problems_init(&problems);
        sa_error ignored;
        const char *dir = m->st ? sa_store_data_dir(m->st) : NULL;
        m->ok = dir && m->dataset && m->dataset[0] &&
                sa_dataset_open(dir, m->dataset, &m->ds, &problems, &ignored) == 0;
        sa_problems_free(&problems);
    }
    if (!m->ok) return 0;
    for (size_t i = 0; i < m->ds.n_cases; i++)
        if (!strcmp(m->ds.cases[i].id, case_id)) {
            double fov = sa_fov_diagonal_mm(m->ds.cases[i].size, m->ds.cases[i].spacing);
            return isfinite(fov) && fov > 0 ? fov : 0;
        }
    return 0;
}

void sa_manifest_fov_free(sa_manifest_fov *m) {
    if (m->ok) sa_dataset_free(&m->ds);
    memset(m, 0, sizeof *m);
}

void sa_case_fov_init(sa_case_fov *f, sa_store *st, int64_t phase_id) {
    memset(f, 0, sizeof *f);
    f->st = st;
    f->phase_id = phase_id;
}

static int case_fov_load(sa_case_fov *f, sa_error *err) {
    f->loaded = 1;
    sa_phase_row phase;
    int found = sa_store_phase_get_by_id(f->st, f->phase_id, &phase, err);
    if (found <= 0) return found == 0 ? sa_error_set(err, "no phase %lld", (long long)f->phase_id) : -1;
    char label[160], hash[65];
    snprintf(label, sizeof label, "phase %s/%s", phase.challenge, phase.name);
    sa_phase_spec spec;
    sa_dataset_row ds;
    int rc = sa_board_spec_parse(phase.spec_json, label, &spec, err);
    if (rc == 0) rc = sa_store_dataset_get_by_id(f->st, phase.dataset_id, &ds, err);
    if (rc == 0) {
        sa_phase_scoring_hash(&spec, ds.checksum, hash);
        snprintf(f->dataset, sizeof f->dataset, "%s", spec.dataset);
        sa_manifest_fov_init(&f->manifest, f->st, f->dataset);
        rc = sa_store_phase_case_fov(f->st, f->phase_id, hash, ds.checksum, &f->ids, &f->fov, &f->n, err);
    }
    sa_phase_row_free(&phase);
    return rc ? -1 : 0;
}

static int compare_ids(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sa_case_fov_get(sa_case_fov *f, const char *case_id, double *fov, sa_error *err) {
    *fov = 0;
    if (!f->loaded && case_fov_load(f, err)) return -1;
    char **hit = f->n ? bsearch(&case_id, f->ids, f->n, sizeof *f->ids, compare_ids) : NULL;
    *fov = hit ? f->fov[hit - f->ids] : sa_manifest_fov_case(&f->manifest, case_id);
    return 0;
}

void sa_case_fov_free(sa_case_fov *f) {
    sa_strings_free(f->ids, f->n);
    free(f->fov);
    sa_manifest_fov_free(&f->manifest);
    memset(f, 0, sizeof *f);
}

int sa_board_fill_failed_fov(sa_case_values *cv, size_t n_entries, size_t n_cases,
                             const char *const *case_ids, sa_case_fov *src, size_t *unknown,
                             unsigned char *left_out, sa_error *err) {
    *unknown = 0;
    for (size_t c = 0; c < n_cases; c++) {
        if (left_out) left_out[c] = 0;
        int needed = 0;
        for (size_t e = 0; e < n_entries && !needed; e++)
            needed = cv[e * n_cases + c].failed && !(cv[e * n_cases + c].fov_diagonal_mm > 0);
        if (!needed) continue;
        /* a diagonal a result of the case holds (a scored one's, or one a failed
         * result recorded: both are the scoring grid's, so that every failure of
         * the case costs the same bits), else src's (other runs, the human
         * reference, the manifest) */
        double fov = 0;
        for (size_t e = 0; e < n_entries && fov <= 0; e++)
            if (cv[e * n_cases + c].fov_diagonal_mm > 0) fov = cv[e * n_cases + c].fov_diagonal_mm;
        if (fov <= 0 && sa_case_fov_get(src, case_ids[c], &fov, err)) return -1;
        if (!(fov > 0)) { /* no value on distance metrics: sa_aggregate_value */
            fov = 0;
            ++*unknown;
            if (left_out) left_out[c] = 1;
        }
        for (size_t e = 0; e < n_entries; e++)
            if (cv[e * n_cases + c].failed && !(cv[e * n_cases + c].fov_diagonal_mm > 0))
                cv[e * n_cases + c].fov_diagonal_mm = fov;
    }
    return 0;
}

int sa_board_metric_values(const sa_phase_spec *spec, const sa_case_values *cv, size_t n_cases,
                           double *values, sa_error *err) {
    for (size_t m = 0; m < spec->n_metrics; m++) {
        for (size_t c = 0; c < n_cases; c++) {
            double v;
            int rc = sa_aggregate_value(&cv[c], spec->metrics[m], spec->distance_cap_mm, &v);
            if (rc < 0) return sa_error_set(err, "phase %s: unknown metric '%s'", spec->name, spec->metrics[m]);
            values[m * n_cases + c] = rc == 1 ? v : NAN;
        }
    }
    return 0;
}

int sa_board_metric_stats(const sa_phase_spec *spec, const double *values, size_t n_cases,
                          sa_metric_stats *stats, sa_error *err) {
    double *used = malloc((n_cases + 1) * sizeof *used);
    if (!used) return sa_error_set(err, "out of memory");
    int rc = 0;
    for (size_t m = 0; m < spec->n_metrics && rc == 0; m++) {
        size_t n = 0;
        for (size_t c = 0; c < n_cases; c++)
            if (!isnan(values[m * n_cases + c])) used[n++] = values[m * n_cases + c];
        rc = sa_metric_stats_compute_cached(used, n, (size_t)spec->bootstrap_resamples, spec->bootstrap_seed,
                                            &stats[m], err);
    }
    free(used);
    return rc;
}

json_t *sa_board_json_number(double v) {
    return isfinite(v) ? json_real(v) : json_null();
}

/* evaluator.h: the one place invalid UTF-8 becomes U+FFFD (the web layer's
 * sa_utf8_repair calls it too). */
char *sa_text_valid_utf8(const char *s) {
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1); /* each bad byte becomes 3 */
    if (!out) return NULL;
    size_t n = 0;
    for (const char *p = s; *p;) {
        size_t k = sa_utf8_char_len(p);
        if (k == 0) {
            memcpy(out + n, "\xEF\xBF\xBD", 3);
            n += 3;
            p++;
            continue;
        }
        memcpy(out + n, p, k);
        n += k;
        p += k;
    }
    out[n] = '\0';
    return out;
}

json_t *sa_board_json_text(const char *s) {
    if (!s) return json_null();
    char *valid = sa_text_valid_utf8(s);
    json_t *v = valid ? json_string(valid) : NULL;
    free(valid);
    return v;
}

int sa_board_json_set_text(json_t *object, const char *key, json_t *value) {
    char *valid = sa_text_valid_utf8(key ? key : "");
    int rc = valid ? json_object_set_new(object, valid, value) : (json_decref(value), -1);
    free(valid);
    return rc;
}

json_t *sa_board_metrics_json(const sa_phase_spec *spec, const sa_metric_stats *stats) {
    json_t *all = json_object();
    for (size_t m = 0; all && m < spec->n_metrics; m++) {
        const sa_metric_stats *s = &stats[m];
        double none = NAN; /* written as null: no value to summarise */
        json_t *one = json_object();
        if (!one || json_object_set_new(all, spec->metrics[m], one) != 0) {
            json_decref(all);
            return NULL;
        }
        json_object_set_new(one, "mean", sa_board_json_number(s->n ? s->mean : none));
        json_object_set_new(one, "median", sa_board_json_number(s->n ? s->median : none));
        json_object_set_new(one, "std", sa_board_json_number(s->n ? s->std : none));
        json_object_set_new(one, "ci_lo", sa_board_json_number(s->n ? s->ci_lo : none));
        json_object_set_new(one, "ci_hi", sa_board_json_number(s->n ? s->ci_hi : none));
        json_object_set_new(one, "n", json_integer((json_int_t)s->n));
    }
    return all;
}

int sa_board_json_dump(json_t *root, int pretty, char **json, sa_error *err) {
    *json = json_dumps(root, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    return *json ? 0 : sa_error_set(err, "out of memory");
}

int sa_board_spec_parse(const char *json_text, const char *label, sa_phase_spec *spec, sa_error *err) {
    sa_problems problems;
    sa_problems_init(&problems);
    int rc = sa_phase_spec_parse(json_text ? json_text : "", label, spec, &problems, err);
    if (rc != 0 && problems.count > 0)
        sa_error_set(err, "%s: stored spec is not valid: %s", label, problems.msg[0]);
    sa_problems_free(&problems);
    return rc ? -1 : 0;
}

/* Gives each failed case of the run that did not record its own field of view
 * (results stored before they did, platform failures) the one the board would
 * give it (sa_case_fov: another run's result, the human reference, the
 * manifest); *unknown: the cases left with none (no distance value). */
static int fill_failed_fov_of_run(sa_store *st, const sa_run_row *run, const sa_case_result_row *results,
                                  sa_case_values *cv, size_t n, size_t *unknown, sa_error *err) {
    const char **ids = malloc((n + 1) * sizeof *ids);
    if (!ids) return sa_error_set(err, "out of memory");
    for (size_t c = 0; c < n; c++) ids[c] = results[c].case_id;
    sa_case_fov src;
    sa_case_fov_init(&src, st, run->phase_id);
    int rc = sa_board_fill_failed_fov(cv, 1, n, ids, &src, unknown, NULL, err);
    sa_case_fov_free(&src);
    free(ids);
    return rc;
}

/* {"<class>": count} of the run's failed cases. */
static json_t *failure_classes_json(sa_store *st, int64_t run_id, sa_error *err) {
    char **classes;
    int64_t *counts;
    size_t n;
    if (sa_store_run_failure_classes(st, run_id, &classes, &counts, &n, err)) return NULL;
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < n; i++) json_object_set_new(obj, classes[i], json_integer((json_int_t)counts[i]));
    sa_class_counts_free(classes, counts, n);
    if (!obj) sa_error_set(err, "out of memory");
    return obj;
}

int sa_run_aggregate_json(sa_store *st, int64_t run_id, char **json, sa_error *err) {
    *json = NULL;
    sa_run_row run;
    int found = sa_store_run_get(st, run_id, &run, err);
    if (found <= 0) return found == 0 ? sa_error_set(err, "no run %lld", (long long)run_id) : -1;
    char label[64];
    snprintf(label, sizeof label, "run %lld", (long long)run_id);
    sa_phase_spec spec;
    sa_case_result_row *results = NULL;
    size_t n = 0, succeeded = 0, no_cap = 0;
    sa_case_values *cv = NULL;
    double *values = NULL;
    sa_metric_stats stats[SA_PHASE_MAX_METRICS];
    json_t *root = NULL;
    int rc = -1;
    if (sa_board_spec_parse(run.config_json, label, &spec, err)) goto done;
    if (sa_store_case_results(st, run_id, &results, &n, err)) goto done;
    cv = malloc((n + 1) * sizeof *cv);
    values = malloc((spec.n_metrics * n + 1) * sizeof *values);
    if (!cv || !values) {
        sa_error_set(err, "out of memory");
        goto done;
    }
    for (size_t c = 0; c < n; c++) {
        if (sa_board_case_load(&results[c], &cv[c], err)) goto done;
        if (!cv[c].failed) succeeded++;
    }
    if (spec.distance_cap_mm <= 0 && fill_failed_fov_of_run(st, &run, results, cv, n, &no_cap, err))
        goto done;
    if (sa_board_metric_values(&spec, cv, n, values, err) ||
        sa_board_metric_stats(&spec, values, n, stats, err))
        goto done;

    json_t *failed = failure_classes_json(st, run_id, err);
    if (!failed) goto done;
    root = json_object();
    json_t *metrics = sa_board_metrics_json(&spec, stats);
    if (!root || !metrics) {
        json_decref(failed);
        json_decref(metrics);
        sa_error_set(err, "out of memory");
        goto done;
    }
    json_object_set_new(root, "cases", json_integer((json_int_t)n));
    json_object_set_new(root, "succeeded", json_integer((json_int_t)succeeded));
    json_object_set_new(root, "failed", failed);
    /* failed cases whose diagonal is known nowhere: left out of distance metrics */
    json_object_set_new(root, "cases_without_distance_cap", json_integer((json_int_t)no_cap));
    json_object_set_new(root, "metrics", metrics);
    json_object_set_new(root, "metric_version", json_integer(SA_METRIC_DEFINITION_VERSION));
    json_object_set_new(root, "aggregation_version", json_integer(SA_AGGREGATION_VERSION));
    rc = sa_board_json_dump(root, 0, json, err);
done:
    json_decref(root);
    free(values);
    free(cv);
    sa_case_result_rows_free(results, n);
    sa_run_row_free(&run);
    return rc;
}

int sa_run_aggregate_current(sa_store *st, const struct sa_run_row *run, char **json, sa_error *err) {
    *json = NULL;
    if (!run->aggregate_json) return 0;
    json_t *stored = json_loads(run->aggregate_json, 0, NULL);
    json_t *version = json_object_get(stored, "aggregation_version");
    json_t *no_cap = json_object_get(stored, "cases_without_distance_cap");
    int current = json_is_integer(version) && json_integer_value(version) == SA_AGGREGATION_VERSION &&
                  json_is_integer(no_cap) && json_integer_value(no_cap) == 0;
    json_decref(stored);
    if (current) {
        *json = strdup(run->aggregate_json);
        return *json ? 0 : sa_error_set(err, "out of memory");
    }
    /* stored under older rules, or with a case whose cap was unknown then */
    sa_error why;
    if (sa_run_aggregate_json(st, run->id, json, &why))
        return sa_error_set(err, "run %lld: its aggregate, stored under older rules, cannot be computed again: %s",
                            (long long)run->id, why.msg);
    return 0;
}
