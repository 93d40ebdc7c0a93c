/*
 * case_result.c: the stored JSON of one scored case (and of a case's human
 * reference), docs/evaluator.md "Stored case results". Every published metric is
 * kept, not only the phase's, so that a phase can later show other metrics without
 * rescoring; doubles are written with 17 significant digits so that they read back
 * bit-identical, and the values aggregation needs are read back from it.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"

/* Reason of every value of a failed case, and of a stored null whose reason is not
 * one of the engine's. */
static const char REASON_CASE_FAILED[] = "case_failed";
static const char REASON_UNDEFINED[] = "undefined";

/* The overlap counts every metric object carries after the metrics. */
#define COUNT_FIELD(f) {#f, offsetof(sa_pair_metrics, f)}
static const struct {
    const char *name;
    size_t offset;
} count_fields[] = {
    COUNT_FIELD(tp),         COUNT_FIELD(fp),         COUNT_FIELD(fn),
    COUNT_FIELD(tn),         COUNT_FIELD(ref_voxels), COUNT_FIELD(pred_voxels),
    COUNT_FIELD(ref_surface_voxels), COUNT_FIELD(pred_surface_voxels),
};

static sa_value lesion_value(const sa_lesion_metrics *m, const sa_lesion_metric_info *info) {
    const char *field = (const char *)m + info->offset;
    sa_value v;
    if (info->is_count) {
        uint64_t c;
        memcpy(&c, field, sizeof c);
        v.value = (double)c;
        v.reason = NULL;
    } else {
        memcpy(&v, field, sizeof v);
    }
    return v;
}

double sa_fov_diagonal_mm(const size_t size[3], const double spacing[3]) {
    double s = 0;
    for (int a = 0; a < 3; a++) {
        double e = (double)size[a] * spacing[a];
        s += e * e;
    }
    return sqrt(s);
}

static double fov_diagonal(const sa_grid *g) {
    const size_t n[3] = {g->nx, g->ny, g->nz};
    return sa_fov_diagonal_mm(n, g->spacing);
}

/* ---- writing ---- */

typedef struct builder {
    sa_error *err;
    int failed; /* an error is set (the first one wins) */
} builder;

static void fail(builder *b, const char *fmt, const char *where, const char *name) {
    if (b->failed) return;
    b->failed = 1;
    char msg[400];
    snprintf(msg, sizeof msg, fmt, where, name);
    sa_error_set(b->err, "case result: %s", msg);
}

/* Sets obj[key] = v (stealing v); a NULL v or a failed set is out of memory. */
static void set(builder *b, json_t *obj, const char *key, json_t *v) {
    if (!v || json_object_set_new(obj, key, v)) {
        if (!b->failed) {
            b->failed = 1;
            sa_error_set(b->err, "case result: out of memory (at \"%s\")", key);
        }
    }
}

static void set_value(builder *b, json_t *obj, const char *where, const char *name, sa_value v) {
    if (v.reason) {
        char key[96];
        snprintf(key, sizeof key, "%s_reason", name);
        set(b, obj, name, json_null());
        set(b, obj, key, json_string(v.reason));
    } else if (!isfinite(v.value)) {
        fail(b, "%s.%s: not a finite number (NaN or infinite values are never stored)", where, name);
    } else {
        set(b, obj, name, json_real(v.value));
    }
}

static void set_count(builder *b, json_t *obj, const char *where, const char *name, uint64_t c) {
    if (c > (uint64_t)INT64_MAX) fail(b, "%s.%s: count too large", where, name);
    else set(b, obj, name, json_integer((json_int_t)c));
}

/* One comparison: every metric, the lesion metrics when computed, the counts. */
static json_t *metric_object(builder *b, const sa_scores *sc, const char *where) {
    json_t *o = json_object();
    if (!o) {
        set(b, NULL, where, NULL);
        return NULL;
    }
    size_t n;
    const sa_metric_info *mt = sa_metric_table(&n);
    for (size_t i = 0; i < n; i++) set_value(b, o, where, mt[i].name, sa_metric_get(&sc->pair, &mt[i]));
    if (sc->has_lesions) {
        const sa_lesion_metric_info *lt = sa_lesion_metric_table(&n);
        for (size_t i = 0; i < n; i++) {
            if (lt[i].is_count) {
                uint64_t c;
                memcpy(&c, (const char *)&sc->lesions + lt[i].offset, sizeof c);
                set_count(b, o, where, lt[i].name, c);
            } else {
                set_value(b, o, where, lt[i].name, lesion_value(&sc->lesions, &lt[i]));
            }
        }
    }
    for (size_t i = 0; i < sizeof count_fields / sizeof count_fields[0]; i++) {
        uint64_t c;
        memcpy(&c, (const char *)&sc->pair + count_fields[i].offset, sizeof c);
        set_count(b, o, where, count_fields[i].name, c);
    }
    set(b, o, "both_empty", json_boolean(sc->pair.both_empty));
    return o;
}

/* The mean over raters, and "<name>_raters" where fewer raters than all had a value. */
static json_t *mean_object(builder *b, const sa_scores_mean *m) {
    json_t *o = json_object();
    if (!o) {
        set(b, NULL, "rater_mean", NULL);
        return NULL;
    }
    char key[96];
    size_t n;
    const sa_metric_info *mt = sa_metric_table(&n);
    for (size_t i = 0; i < n; i++) {
        set_value(b, o, "rater_mean", mt[i].name, m->pair[i]);
        if (m->pair_defined[i] < m->raters) {
            snprintf(key, sizeof key, "%s_raters", mt[i].name);
            set(b, o, key, json_integer(m->pair_defined[i]));
        }
    }
    if (m->has_lesions) {
        const sa_lesion_metric_info *lt = sa_lesion_metric_table(&n);
        for (size_t i = 0; i < n; i++) {
            set_value(b, o, "rater_mean", lt[i].name, m->lesion[i]);
            if (m->lesion_defined[i] < m->raters) {
                snprintf(key, sizeof key, "%s_raters", lt[i].name);
                set(b, o, key, json_integer(m->lesion_defined[i]));
            }
        }
    }
    return o;
}

static json_t *string_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *stamp_object(builder *b, const sa_case_stamp *st) {
    json_t *o = json_object();
    if (!o) return set(b, NULL, "stamp", NULL), NULL;
    set(b, o, "metric_version", json_integer(st->metric_version));
    set(b, o, "dataset_checksum", string_or_null(st->dataset_checksum));
    set(b, o, "image_digest", string_or_null(st->image_digest));
    set(b, o, "scoring_hash", string_or_null(st->scoring_hash));
    return o;
}

static json_t *case_object(builder *b, const sa_multi_result *r, const sa_grid *g, int with_both_empty) {
    json_t *o = json_object();
    if (!o) return set(b, NULL, "case", NULL), NULL;
    double fov = fov_diagonal(g);
    if (!isfinite(fov)) fail(b, "%s.%s: not a finite number", "case", "fov_diagonal_mm");
    else set(b, o, "fov_diagonal_mm", json_real(fov));
    if (with_both_empty) set(b, o, "both_empty", json_boolean(r->vs_consensus.pair.both_empty));
    set(b, o, "raters", json_integer((json_int_t)r->raters));
    return o;
}

/* {"<id>": metric object} of each rater's scores in `each`. */
static json_t *raters_object(builder *b, const sa_scores *each, size_t k, const char *const *ids,
                             const char *what) {
    json_t *o = json_object();
    if (!o) return set(b, NULL, what, NULL), NULL;
    char where[128];
    for (size_t i = 0; i < k && !b->failed; i++) {
        if (json_object_get(o, ids[i])) {
            fail(b, "%s: rater id \"%s\" is given twice", what, ids[i]);
            break;
        }
        snprintf(where, sizeof where, "%s.%s", what, ids[i]);
        set(b, o, ids[i], metric_object(b, &each[i], where));
    }
    return o;
}

static int check_inputs(const sa_multi_result *r, const char *const *rater_ids, const sa_grid *grid,
                        const sa_case_stamp *stamp, char **json, sa_error *err) {
    if (!json) return sa_error_set(err, "case result: no output pointer");
    *json = NULL;
    if (!r || !grid || !stamp || !rater_ids)
        return sa_error_set(err, "case result: missing result, grid, stamp or rater ids");
    if (r->raters < 1 || r->raters > SA_MAX_RATERS)
        return sa_error_set(err, "case result: %zu raters (between 1 and %d)", r->raters, SA_MAX_RATERS);
    for (size_t i = 0; i < r->raters; i++)
        if (!rater_ids[i] || !*rater_ids[i]) return sa_error_set(err, "case result: rater %zu has no id", i);
    return 0;
}

/* Dumps and frees root; 0 or -1. */
static int finish(builder *b, json_t *root, char **json) {
    if (!b->failed) {
        *json = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (!*json) {
            b->failed = 1;
            sa_error_set(b->err, "case result: out of memory writing the JSON");
        }
    }
    json_decref(root);
    return b->failed ? -1 : 0;
}

int sa_case_result_json(const sa_multi_result *r, const char *const *rater_ids, const sa_grid *grid,
                        const sa_phase_spec *spec, const sa_case_stamp *stamp, char **json, sa_error *err) {
    if (check_inputs(r, rater_ids, grid, stamp, json, err)) return -1;
    if (!spec) return sa_error_set(err, "case result: no phase spec");
    builder b = {err, 0};
    json_t *root = json_object();
    if (!root) return sa_error_set(err, "case result: out of memory");
    set(&b, root, "stamp", stamp_object(&b, stamp));

    json_t *conv = json_object();
    set(&b, root, "conventions", conv);
    if (conv) {
        set(&b, conv, "surface", json_string("inner boundary, 6-connectivity"));
        set(&b, conv, "percentile", json_string("linear (numpy default)"));
        set_value(&b, conv, "conventions", "tau_mm", (sa_value){r->vs_consensus.pair.tau_mm, NULL});
        int staple = spec->consensus.method == SA_CONSENSUS_STAPLE;
        set(&b, conv, "consensus", json_string(staple ? "staple" : "majority"));
        if (staple)
            set(&b, conv, "staple_region",
                json_string(spec->consensus.region == SA_STAPLE_IMAGE ? "image" : "dilated_union"));
        set(&b, conv, "label", spec->label > 0 ? json_integer(spec->label) : json_string("any"));
        if (r->vs_consensus.has_lesions) {
            json_t *l = json_object();
            set(&b, conv, "lesions", l);
            if (l) {
                set(&b, l, "connectivity", json_integer(spec->lesion.connectivity));
                const char *w = "conventions.lesions";
                set_value(&b, l, w, "min_volume_mm3", (sa_value){spec->lesion.min_volume_mm3, NULL});
                set_value(&b, l, w, "alpha", (sa_value){spec->lesion.alpha, NULL});
                set_value(&b, l, w, "beta", (sa_value){spec->lesion.beta, NULL});
                set_value(&b, l, w, "gamma", (sa_value){spec->lesion.gamma, NULL});
            }
        }
    }
    set(&b, root, "case", case_object(&b, r, grid, 1));
    set(&b, root, "consensus", metric_object(&b, &r->vs_consensus, "consensus"));
    set(&b, root, "raters", raters_object(&b, r->vs_rater, r->raters, rater_ids, "raters"));
    set(&b, root, "rater_mean", mean_object(&b, &r->rater_mean));
    if (spec->consensus.method == SA_CONSENSUS_STAPLE && r->raters >= 2) {
        json_t *st = json_object();
        set(&b, root, "staple", st);
        char where[128];
        for (size_t i = 0; st && i < r->raters && !b.failed; i++) {
            json_t *o = json_object();
            set(&b, st, rater_ids[i], o);
            if (!o) break;
            snprintf(where, sizeof where, "staple.%s", rater_ids[i]);
            set_value(&b, o, where, "sensitivity", (sa_value){r->consensus.sensitivity[i], NULL});
            set_value(&b, o, where, "specificity", (sa_value){r->consensus.specificity[i], NULL});
        }
    }
    return finish(&b, root, json);
}

int sa_human_reference_json(const sa_multi_result *r, const char *const *rater_ids, const sa_grid *grid,
                            const sa_case_stamp *stamp, char **json, sa_error *err) {
    if (check_inputs(r, rater_ids, grid, stamp, json, err)) return -1;
    if (!r->has_human_reference)
        return sa_error_set(err, "case result: the human reference was not computed for this case");
    builder b = {err, 0};
    json_t *root = json_object();
    if (!root) return sa_error_set(err, "case result: out of memory");
    set(&b, root, "stamp", stamp_object(&b, stamp));
    set(&b, root, "case", case_object(&b, r, grid, 0));
    set(&b, root, "raters", raters_object(&b, r->human_reference, r->raters, rater_ids, "raters"));
    return finish(&b, root, json);
}

/* ---- reading ---- */

void sa_case_values_failed(sa_case_values *out, double fov_diagonal_mm) {
    memset(out, 0, sizeof *out);
    out->failed = 1;
    out->fov_diagonal_mm = fov_diagonal_mm;
    for (size_t i = 0; i < sizeof out->pair / sizeof out->pair[0]; i++) out->pair[i].reason = REASON_CASE_FAILED;
    for (size_t i = 0; i < sizeof out->lesion / sizeof out->lesion[0]; i++)
        out->lesion[i].reason = REASON_CASE_FAILED;
}

/* The engine's static reason string equal to s (unknown ones: "undefined"). */
static const char *known_reason(const char *s) {
    static const char *const known[] = {SA_REASON_EMPTY_REFERENCE, SA_REASON_EMPTY_PREDICTION,
                                        SA_REASON_NO_BACKGROUND, SA_REASON_NO_REFERENCE_LESIONS,
                                        SA_REASON_NO_PREDICTED_LESIONS, REASON_CASE_FAILED};
    for (size_t i = 0; s && i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(s, known[i])) return known[i];
    return REASON_UNDEFINED;
}

static json_t *load(const char *json, sa_error *err) {
    json_error_t jerr;
    json_t *root = json ? json_loads(json, 0, &jerr) : NULL;
    if (!root) {
        sa_error_set(err, "case result: not JSON (line %d: %s)", json ? jerr.line : 0,
                     json ? jerr.text : "no text");
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        sa_error_set(err, "case result: not a JSON object");
        return NULL;
    }
    return root;
}

/* A stored value: a number, or null with its reason. */
static int read_value(json_t *obj, const char *where, const char *name, sa_value *out, sa_error *err) {
    json_t *v = json_object_get(obj, name);
    if (!v) return sa_error_set(err, "case result: %s.%s: missing", where, name);
    if (json_is_null(v)) {
        char key[96];
        snprintf(key, sizeof key, "%s_reason", name);
        json_t *why = json_object_get(obj, key);
        *out = (sa_value){0.0, known_reason(json_is_string(why) ? json_string_value(why) : NULL)};
        return 0;
    }
    if (!json_is_number(v)) return sa_error_set(err, "case result: %s.%s: not a number or null", where, name);
    *out = (sa_value){json_number_value(v), NULL};
    return 0;
}

/* The "case" object's field-of-view diagonal (and both_empty when stored there). */
static int read_case(json_t *root, sa_case_values *out, sa_error *err) {
    json_t *c = json_object_get(root, "case");
    if (!json_is_object(c)) return sa_error_set(err, "case result: case: missing or not an object");
    json_t *fov = json_object_get(c, "fov_diagonal_mm");
    if (!json_is_number(fov))
        return sa_error_set(err, "case result: case.fov_diagonal_mm: missing or not a number");
    out->fov_diagonal_mm = json_number_value(fov);
    json_t *be = json_object_get(c, "both_empty");
    if (json_is_boolean(be)) out->both_empty = json_is_true(be);
    return 0;
}

static int read_metric_object(json_t *obj, const char *where, sa_case_values *out, sa_error *err) {
    if (!json_is_object(obj)) return sa_error_set(err, "case result: %s: missing or not an object", where);
    size_t n;
    const sa_metric_info *mt = sa_metric_table(&n);
    if (n > sizeof out->pair / sizeof out->pair[0])
        return sa_error_set(err, "case result: metric table too large");
    for (size_t i = 0; i < n; i++)
        if (read_value(obj, where, mt[i].name, &out->pair[i], err)) return -1;
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&n);
    if (n > sizeof out->lesion / sizeof out->lesion[0])
        return sa_error_set(err, "case result: lesion table too large");
    size_t present = 0;
    for (size_t i = 0; i < n; i++) present += json_object_get(obj, lt[i].name) != NULL;
    if (present && present < n)
        return sa_error_set(err, "case result: %s: some lesion metrics are missing", where);
    out->has_lesions = present == n;
    for (size_t i = 0; i < n && out->has_lesions; i++) {
        if (read_value(obj, where, lt[i].name, &out->lesion[i], err)) return -1;
        if (lt[i].is_count && out->lesion[i].reason)
            return sa_error_set(err, "case result: %s.%s: a count cannot be null", where, lt[i].name);
    }
    json_t *be = json_object_get(obj, "both_empty");
    if (!json_is_boolean(be))
        return sa_error_set(err, "case result: %s.both_empty: missing or not a boolean", where);
    out->both_empty = json_is_true(be);
    return 0;
}

int sa_case_values_from_json(const char *json, sa_case_values *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    json_t *root = load(json, err);
    if (!root) return -1;
    int rc = read_case(root, out, err) ||
                     read_metric_object(json_object_get(root, "consensus"), "consensus", out, err)
                 ? -1
                 : 0;
    json_t *hash = json_object_get(json_object_get(root, "stamp"), "scoring_hash");
    if (rc == 0 && json_is_string(hash) && strlen(json_string_value(hash)) < sizeof out->scoring_hash)
        snprintf(out->scoring_hash, sizeof out->scoring_hash, "%s", json_string_value(hash));
    json_decref(root);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

int sa_case_result_scoring_hash(const char *json, char hash[65]) {
    hash[0] = '\0';
    json_t *root = json ? json_loads(json, 0, NULL) : NULL;
    json_t *v = json_object_get(json_object_get(root, "stamp"), "scoring_hash");
    int rc = json_is_string(v) && strlen(json_string_value(v)) < 65 ? 0 : -1;
    if (rc == 0) snprintf(hash, 65, "%s", json_string_value(v));
    json_decref(root);
    return rc;
}

int sa_case_values_from_human_json(const char *json, const char *rater_id, sa_case_values *out,
                                   sa_error *err) {
    memset(out, 0, sizeof *out);
    if (!rater_id) return sa_error_set(err, "case result: no rater id");
    json_t *root = load(json, err);
    if (!root) return -1;
    int rc;
    json_t *raters = json_object_get(root, "raters");
    if (!json_is_object(raters)) {
        rc = sa_error_set(err, "case result: raters: missing or not an object");
    } else if (!json_object_get(raters, rater_id)) {
        rc = 0;
    } else {
        char where[128];
        snprintf(where, sizeof where, "raters.%s", rater_id);
        rc = read_case(root, out, err) || read_metric_object(json_object_get(raters, rater_id), where, out, err)
                 ? -1
                 : 1;
    }
    json_decref(root);
    if (rc != 1) memset(out, 0, sizeof *out);
    return rc;
}

int sa_human_json_raters(const char *json, char ***ids, size_t *n, sa_error *err) {
    *ids = NULL;
    *n = 0;
    json_t *root = load(json, err);
    if (!root) return -1;
    json_t *raters = json_object_get(root, "raters");
    if (!json_is_object(raters)) {
        json_decref(root);
        return sa_error_set(err, "case result: raters: missing or not an object");
    }
    size_t count = json_object_size(raters);
    char **list = calloc(count ? count : 1, sizeof *list);
    int rc = list ? 0 : -1;
    const char *key;
    json_t *v;
    size_t k = 0;
    json_object_foreach(raters, key, v) {
        if (rc) break;
        size_t len = strlen(key) + 1;
        if (!(list[k] = malloc(len))) {
            rc = -1;
            break;
        }
        memcpy(list[k++], key, len);
    }
    json_decref(root);
    if (rc) {
        for (size_t i = 0; list && i < k; i++) free(list[i]);
        free(list);
        return sa_error_set(err, "case result: out of memory listing the raters");
    }
    *ids = list;
    *n = k;
    return 0;
}
