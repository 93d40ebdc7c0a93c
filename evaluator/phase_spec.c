/*
 * phase_spec.c: the phase spec (schema segarena-phase/1, docs/phase.md), the JSON
 * an organiser writes to define a challenge phase: which dataset cases, which input
 * roles, how cases are scored and ranked, the container limits, the quota, dates and
 * who sees what. Parsing lists every problem at once; writing gives one canonical
 * text (every default written out, fixed key order) that parses back to the same
 * struct; the scoring hash names what a case's scores depend on, so that stored
 * results can be reused or known to need a rescore.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"

#define MIB 1048576ull
#define MAX_MIB (1ll << 24)          /* 16 TiB: keeps every size far from overflow */
#define MAX_PIDS 4194304ll           /* Linux's largest pid_max */
#define MAX_QUOTA_DAYS 36600.0       /* a century */
#define MAX_TITLE_BYTES 255

/* ---- names ---- */

const char *sa_rank_rule_name(sa_rank_rule r) {
    switch (r) {
    case SA_RANK_SCORE: return "score";
    case SA_RANK_MEAN_RANK: return "mean_rank";
    case SA_RANK_THEN_AGGREGATE: return "rank_then_aggregate";
    }
    return "unknown";
}

const char *sa_entry_rule_name(sa_entry_rule r) {
    switch (r) {
    case SA_ENTRY_LATEST: return "latest";
    case SA_ENTRY_BEST: return "best";
    case SA_ENTRY_SELECTED: return "selected";
    }
    return "unknown";
}

static const char *method_name(sa_consensus_method m) {
    return m == SA_CONSENSUS_MAJORITY ? "majority" : "staple";
}

static const char *region_name(sa_staple_region r) {
    return r == SA_STAPLE_IMAGE ? "image" : "dilated_union";
}

/* Direction of a published metric name as the leaderboard ranks it: 1 higher is
 * better, 0 lower, -1 not rankable (volumes, abs_volume_diff_ml, rve_percent, lesion
 * counts: aggregate.c has no substitution for them); -2 unknown. *is_lesion says
 * whether it is a lesion metric. */
static int metric_direction(const char *name, int *is_lesion) {
    size_t n;
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&n);
    *is_lesion = 0;
    for (size_t i = 0; i < n; i++) *is_lesion |= !strcmp(lt[i].name, name);
    if (sa_metric_agg_kind(name) < 0) return -2;
    return sa_metric_direction(name);
}

/* ---- defaults ---- */

void sa_phase_spec_default(sa_phase_spec *spec) {
    static const char *const metrics[] = {"dice", "hd95", "assd", "nsd", "sensitivity", "ppv"};
    memset(spec, 0, sizeof *spec);
    spec->label = -1;
    sa_consensus_options_default(&spec->consensus);
    spec->tau_mm = 1.0;
    spec->lesions = 0;
    sa_lesion_options_default(&spec->lesion);
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++)
        snprintf(spec->metrics[i], sizeof spec->metrics[i], "%s", metrics[i]);
    spec->n_metrics = sizeof metrics / sizeof metrics[0];
    spec->rule = SA_RANK_MEAN_RANK;
    snprintf(spec->ranked[0].name, sizeof spec->ranked[0].name, "dice");
    spec->ranked[0].higher_is_better = 1;
    snprintf(spec->ranked[1].name, sizeof spec->ranked[1].name, "hd95");
    spec->ranked[1].higher_is_better = 0;
    spec->n_ranked = 2;
    spec->distance_cap_mm = 0;
    sa_run_limits_default(&spec->limits);
    spec->gpu = 0;
    spec->max_upload_bytes = 10240ull * MIB;
    spec->quota_submissions = 0;
    spec->quota_days = 0;
    spec->opens = spec->closes = 0;
    spec->show_case_details = 0;
    spec->show_logs = 0;
    spec->leaderboard_entry = SA_ENTRY_LATEST;
    spec->auto_evaluate = 1;
    spec->human_reference = 1;
    spec->bootstrap_resamples = 1000;
    spec->bootstrap_seed = 20160101;
}

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static long long days_from_civil(long long y, int m, int d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, int *m, int *d) {
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(long long y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* n decimal digits at *p (exactly n), advancing p; -1 when not digits. */
static int digits(const char **p, int n) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return v;
}

int sa_iso8601_parse(const char *text, double *out) {
    if (!text || !out) return -1;
    const char *p = text;
    int y = digits(&p, 4);
    if (y < 0 || *p++ != '-') return -1;
    int mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-') return -1;
    int d = digits(&p, 2);
    if (d < 1 || d > days_in_month(y, mo) || *p++ != 'T') return -1;
    int h = digits(&p, 2);
    if (h < 0 || h > 23 || *p++ != ':') return -1;
    int mi = digits(&p, 2);
    if (mi < 0 || mi > 59) return -1;
    int s = 0;
    if (*p == ':') {
        p++;
        s = digits(&p, 2);
        if (s < 0 || s > 59) return -1;
    }
    long long offset = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = digits(&p, 2);
        if (oh < 0 || oh > 23 || *p++ != ':') return -1;
        int om = digits(&p, 2);
        if (om < 0 || om > 59) return -1;
        offset = sign * (oh * 3600ll + om * 60ll);
    } else {
        return -1;
    }
    if (*p) return -1;
    long long t = days_from_civil(y, mo, d) * 86400ll + h * 3600ll + mi * 60ll + s - offset;
    *out = (double)t;
    return 0;
}

void sa_iso8601_format(double t, char buf[32]) {
    if (!isfinite(t) || fabs(t) > 253402300799.0 * 2) t = 0; /* beyond any calendar we print */
    long long secs = (long long)floor(t);
    long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    long long rem = secs - days * 86400;
    long long y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    char text[128];
    int n = snprintf(text, sizeof text, "%04lld-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
                     (int)(rem / 60 % 60), (int)(rem % 60));
    size_t len = n < 0 ? 0 : (size_t)n < 31 ? (size_t)n : 31;
    memcpy(buf, text, len);
    buf[len] = 0;
}

/* ---- parsing ---- */

typedef struct checker {
    const char *label;
    sa_problems *problems;
    size_t first;
    int oom;
} checker;

static void bad(checker *c, const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void bad(checker *c, const char *path, const char *fmt, ...) {
    char buf[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (sa_problems_add(c->problems, "%s: %s: %s", c->label, path, buf)) c->oom = 1;
}

/* "prefix.key" (or "key" at the top level) into buf. */
static const char *key_path(char *buf, size_t size, const char *prefix, const char *key) {
    if (prefix && *prefix) snprintf(buf, size, "%s.%s", prefix, key);
    else snprintf(buf, size, "%s", key);
    return buf;
}

static void only_keys(checker *c, const char *prefix, json_t *obj, const char *const *allowed) {
    const char *key;
    json_t *v;
    char path[300];
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++) ok |= !strcmp(allowed[i], key);
        if (!ok) bad(c, key_path(path, sizeof path, prefix, key), "unknown key");
    }
}

/* A JSON number as a double, -0 read as 0 (so that writing it back gives the same). */
static double number_of(json_t *v) {
    double x = json_number_value(v);
    return x == 0 ? 0.0 : x;
}

/* A number in [lo, hi] (lo excluded when lo_open). 1 set, 0 absent, -1 bad. */
static int get_number(checker *c, const char *prefix, json_t *obj, const char *key, double lo, int lo_open,
                      double hi, double *out) {
    json_t *v = json_object_get(obj, key);
    char path[300];
    if (!v) return 0;
    double x = json_is_number(v) ? number_of(v) : NAN;
    if (!json_is_number(v) || !isfinite(x) || (lo_open ? !(x > lo) : !(x >= lo)) || !(x <= hi)) {
        bad(c, key_path(path, sizeof path, prefix, key), "must be a number from %.15g%s to %.15g", lo,
            lo_open ? " (excluded)" : "", hi);
        return -1;
    }
    *out = x;
    return 1;
}

/* An integer in [lo, hi] (a real with no fractional part counts). 1, 0 absent, -1. */
static int get_integer(checker *c, const char *prefix, json_t *obj, const char *key, long long lo,
                       long long hi, long long *out) {
    json_t *v = json_object_get(obj, key);
    char path[300];
    if (!v) return 0;
    int ok = 0;
    long long x = 0;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
        ok = 1;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 9.0e15) {
            x = (long long)d;
            ok = 1;
        }
    }
    if (!ok || x < lo || x > hi) {
        bad(c, key_path(path, sizeof path, prefix, key), "must be an integer from %lld to %lld", lo, hi);
        return -1;
    }
    *out = x;
    return 1;
}

static int get_bool(checker *c, const char *prefix, json_t *obj, const char *key, int *out) {
    json_t *v = json_object_get(obj, key);
    char path[300];
    if (!v) return 0;
    if (!json_is_boolean(v)) {
        bad(c, key_path(path, sizeof path, prefix, key), "must be true or false");
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

/* A string; required ones missing are a problem. Returns it or NULL. */
static const char *get_string(checker *c, const char *prefix, json_t *obj, const char *key, int required) {
    json_t *v = json_object_get(obj, key);
    char path[300];
    if (!v) {
        if (required) bad(c, key_path(path, sizeof path, prefix, key), "missing (required)");
        return NULL;
    }
    if (!json_is_string(v)) {
        bad(c, key_path(path, sizeof path, prefix, key), "must be a string");
        return NULL;
    }
    return json_string_value(v);
}

/* One of names[] (NULL-terminated); index or -1. */
static int get_enum(checker *c, const char *prefix, json_t *obj, const char *key, const char *const *names,
                    const char *expected) {
    json_t *v = json_object_get(obj, key);
    char path[300];
    if (!v) return -1;
    if (json_is_string(v))
        for (int i = 0; names[i]; i++)
            if (!strcmp(names[i], json_string_value(v))) return i;
    bad(c, key_path(path, sizeof path, prefix, key), "must be %s", expected);
    return -1;
}

/* An object under key; NULL when absent or (a problem) not an object. */
static json_t *get_object(checker *c, const char *prefix, json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    char path[300];
    if (!v) return NULL;
    if (!json_is_object(v)) {
        bad(c, key_path(path, sizeof path, prefix, key), "must be an object");
        return NULL;
    }
    return v;
}

/* An id that also fits the spec's 64-byte fields (63 characters and the end). */
static int id_fits(checker *c, const char *path, const char *s, size_t size) {
    if (!sa_dataset_id_valid(s)) {
        bad(c, path, "\"%s\" is not a valid id ([A-Za-z0-9][A-Za-z0-9._-]{0,62})", s);
        return 0;
    }
    if (strlen(s) >= size) {
        bad(c, path, "\"%s\" is longer than %zu characters", s, size - 1);
        return 0;
    }
    return 1;
}

static void parse_roles(checker *c, json_t *root, sa_phase_spec *out) {
    json_t *a = json_object_get(root, "input_roles");
    char path[64];
    if (!a) return bad(c, "input_roles", "missing (required)");
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > SA_PHASE_MAX_ROLES)
        return bad(c, "input_roles", "must be an array of 1 to %d role ids", SA_PHASE_MAX_ROLES);
    memset(out->input_roles, 0, sizeof out->input_roles);
    out->n_input_roles = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        snprintf(path, sizeof path, "input_roles[%zu]", i);
        if (!json_is_string(v)) {
            bad(c, path, "must be a string");
            continue;
        }
        const char *s = json_string_value(v);
        if (!id_fits(c, path, s, sizeof out->input_roles[0])) continue;
        if (!strcmp(s, "case")) {
            bad(c, path, "\"case\" is reserved (/input/case.json describes the case)");
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < out->n_input_roles; j++) dup |= !strcmp(out->input_roles[j], s);
        if (dup) {
            bad(c, path, "\"%s\" is listed twice", s);
            continue;
        }
        snprintf(out->input_roles[out->n_input_roles++], sizeof out->input_roles[0], "%s", s);
    }
}

static void parse_consensus(checker *c, json_t *root, sa_phase_spec *out) {
    static const char *const keys[] = {"method", "region", NULL};
    static const char *const methods[] = {"majority", "staple", NULL};
    static const char *const regions[] = {"dilated_union", "image", NULL};
    json_t *o = get_object(c, "", root, "consensus");
    if (!o) return;
    only_keys(c, "consensus", o, keys);
    int m = get_enum(c, "consensus", o, "method", methods, "\"staple\" or \"majority\"");
    if (m >= 0) out->consensus.method = m == 0 ? SA_CONSENSUS_MAJORITY : SA_CONSENSUS_STAPLE;
    int r = get_enum(c, "consensus", o, "region", regions, "\"dilated_union\" or \"image\"");
    if (r >= 0) out->consensus.region = r == 0 ? SA_STAPLE_DILATED_UNION : SA_STAPLE_IMAGE;
}

/* "lesions": the options; *enabled_given receives -1 (absent), 0 or 1. */
static void parse_lesions(checker *c, json_t *root, sa_phase_spec *out, int *enabled_given) {
    static const char *const keys[] = {"enabled", "connectivity", "min_volume_mm3", "alpha", "beta", "gamma",
                                       NULL};
    json_t *o = get_object(c, "", root, "lesions");
    if (!o) return;
    only_keys(c, "lesions", o, keys);
    int e = 0;
    if (get_bool(c, "lesions", o, "enabled", &e) == 1) *enabled_given = e;
    long long conn;
    if (get_integer(c, "lesions", o, "connectivity", 6, 26, &conn) == 1) {
        if (conn != 6 && conn != 18 && conn != 26) bad(c, "lesions.connectivity", "must be 6, 18 or 26");
        else out->lesion.connectivity = (int)conn;
    }
    get_number(c, "lesions", o, "min_volume_mm3", 0, 0, 1e12, &out->lesion.min_volume_mm3);
    get_number(c, "lesions", o, "alpha", 0, 0, 1, &out->lesion.alpha);
    get_number(c, "lesions", o, "beta", 0, 0, 1, &out->lesion.beta);
    get_number(c, "lesions", o, "gamma", 0, 0, 1, &out->lesion.gamma);
}

static void parse_metrics(checker *c, json_t *root, sa_phase_spec *out) {
    json_t *a = json_object_get(root, "metrics");
    char path[64];
    if (!a) return;
    if (!json_is_array(a) || json_array_size(a) > SA_PHASE_MAX_METRICS)
        return bad(c, "metrics", "must be an array of at most %d metric names", SA_PHASE_MAX_METRICS);
    memset(out->metrics, 0, sizeof out->metrics);
    out->n_metrics = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        snprintf(path, sizeof path, "metrics[%zu]", i);
        if (!json_is_string(v)) {
            bad(c, path, "must be a metric name");
            continue;
        }
        const char *s = json_string_value(v);
        int lesion;
        if (metric_direction(s, &lesion) == -2) {
            bad(c, path, "unknown metric \"%s\"", s);
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < out->n_metrics; j++) dup |= !strcmp(out->metrics[j], s);
        if (dup) {
            bad(c, path, "\"%s\" is listed twice", s);
            continue;
        }
        snprintf(out->metrics[out->n_metrics++], sizeof out->metrics[0], "%s", s);
    }
}

static void parse_ranking(checker *c, json_t *root, sa_phase_spec *out) {
    static const char *const keys[] = {"rule", "metrics", NULL};
    static const char *const item_keys[] = {"name", "direction", NULL};
    static const char *const rules[] = {"score", "mean_rank", "rank_then_aggregate", NULL};
    static const char *const directions[] = {"lower", "higher", NULL};
    json_t *o = get_object(c, "", root, "ranking");
    if (!o) return;
    only_keys(c, "ranking", o, keys);
    int r = get_enum(c, "ranking", o, "rule", rules, "\"score\", \"mean_rank\" or \"rank_then_aggregate\"");
    if (r >= 0) out->rule = r == 0 ? SA_RANK_SCORE : r == 1 ? SA_RANK_MEAN_RANK : SA_RANK_THEN_AGGREGATE;
    json_t *a = json_object_get(o, "metrics");
    if (!a) return;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > SA_PHASE_MAX_RANKED)
        return bad(c, "ranking.metrics", "must be an array of 1 to %d {\"name\", \"direction\"} objects",
                   SA_PHASE_MAX_RANKED);
    memset(out->ranked, 0, sizeof out->ranked);
    out->n_ranked = 0;
    char path[64];
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *v = json_array_get(a, i);
        snprintf(path, sizeof path, "ranking.metrics[%zu]", i);
        if (!json_is_object(v)) {
            bad(c, path, "must be an object {\"name\", \"direction\"}");
            continue;
        }
        only_keys(c, path, v, item_keys);
        const char *name = get_string(c, path, v, "name", 1);
        int dir = get_enum(c, path, v, "direction", directions, "\"higher\" or \"lower\"");
        if (!name) continue;
        char npath[96];
        snprintf(npath, sizeof npath, "%s.name", path);
        int lesion, own = metric_direction(name, &lesion);
        if (own == -2) {
            bad(c, npath, "unknown metric \"%s\"", name);
            continue;
        }
        if (own == -1) {
            bad(c, npath, "\"%s\" is not rankable (volumes, rve_percent and lesion counts are only reported)",
                name);
            continue;
        }
        if (dir >= 0 && dir != own) {
            char dpath[96];
            snprintf(dpath, sizeof dpath, "%s.direction", path);
            bad(c, dpath, "\"%s\" disagrees with %s, where %s is better", directions[dir], name,
                own ? "higher" : "lower");
            continue;
        }
        int dup = 0;
        for (size_t j = 0; j < out->n_ranked; j++) dup |= !strcmp(out->ranked[j].name, name);
        if (dup) {
            bad(c, npath, "\"%s\" is ranked twice", name);
            continue;
        }
        snprintf(out->ranked[out->n_ranked].name, sizeof out->ranked[0].name, "%s", name);
        out->ranked[out->n_ranked++].higher_is_better = own;
    }
}

/* A size in MiB into bytes. */
static void get_mib(checker *c, const char *prefix, json_t *obj, const char *key, long long lo, uint64_t *out) {
    long long v;
    if (get_integer(c, prefix, obj, key, lo, MAX_MIB, &v) == 1) *out = (uint64_t)v * MIB;
}

static void parse_limits(checker *c, json_t *root, sa_phase_spec *out) {
    static const char *const keys[] = {"wall_seconds", "memory_mb", "cpus", "pids", "output_mb", "tmp_mb", "gpu",
                                       NULL};
    json_t *o = get_object(c, "", root, "limits");
    if (!o) return;
    only_keys(c, "limits", o, keys);
    get_number(c, "limits", o, "wall_seconds", 10, 0, 86400, &out->limits.wall_seconds);
    get_mib(c, "limits", o, "memory_mb", 16, &out->limits.memory_bytes);
    /* 0.01: the smallest share podman can run (a CFS quota of 1 ms per 100 ms
     * period); below it every case failed as an engine error */
    get_number(c, "limits", o, "cpus", 0.01, 0, 256, &out->limits.cpus);
    long long pids;
    if (get_integer(c, "limits", o, "pids", 8, MAX_PIDS, &pids) == 1) out->limits.pids = (long)pids;
    get_mib(c, "limits", o, "output_mb", 1, &out->limits.output_bytes);
    get_mib(c, "limits", o, "tmp_mb", 1, &out->limits.tmp_bytes);
    get_bool(c, "limits", o, "gpu", &out->gpu);
}

static void parse_quota(checker *c, json_t *root, sa_phase_spec *out) {
    static const char *const keys[] = {"submissions", "days", NULL};
    json_t *o = json_object_get(root, "quota");
    if (!o || json_is_null(o)) return;
    if (!json_is_object(o)) return bad(c, "quota", "must be {\"submissions\": N, \"days\": D} or null");
    only_keys(c, "quota", o, keys);
    long long n;
    double days;
    int has_n = get_integer(c, "quota", o, "submissions", 1, 1000000, &n);
    int has_d = get_number(c, "quota", o, "days", 0, 1, MAX_QUOTA_DAYS, &days);
    if (has_n == 0) bad(c, "quota.submissions", "missing (required in a quota)");
    if (has_d == 0) bad(c, "quota.days", "missing (required in a quota)");
    if (has_n == 1 && has_d == 1) {
        out->quota_submissions = (int)n;
        out->quota_days = days;
    }
}

/* "opens"/"closes": an ISO 8601 string or null. 1 set, 0 absent, -1 bad. */
static int get_date(checker *c, json_t *root, const char *key, double *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    double t;
    if (!json_is_string(v) || sa_iso8601_parse(json_string_value(v), &t)) {
        bad(c, key, "must be an ISO 8601 UTC time such as \"2026-11-01T00:00:00Z\" (or null)");
        return -1;
    }
    if (!(t > 0)) {
        bad(c, key, "must be after 1970-01-01T00:00:00Z");
        return -1;
    }
    *out = t;
    return 1;
}

static void parse_bootstrap(checker *c, json_t *root, sa_phase_spec *out) {
    static const char *const keys[] = {"resamples", "seed", NULL};
    json_t *o = get_object(c, "", root, "bootstrap");
    if (!o) return;
    only_keys(c, "bootstrap", o, keys);
    long long v;
    if (get_integer(c, "bootstrap", o, "resamples", 1, 100000, &v) == 1) out->bootstrap_resamples = (int)v;
    if (get_integer(c, "bootstrap", o, "seed", 0, INT64_MAX, &v) == 1) out->bootstrap_seed = (uint64_t)v;
}

/* Everything after the per-key checks: ranked metrics in metrics, the lesion switch,
 * the score rule's single metric. */
static void cross_checks(checker *c, sa_phase_spec *out, int enabled_given) {
    if (out->rule == SA_RANK_SCORE && out->n_ranked != 1)
        bad(c, "ranking.metrics", "the \"score\" rule ranks on exactly one metric, not %zu", out->n_ranked);
    for (size_t i = 0; i < out->n_ranked; i++) {
        int listed = 0;
        for (size_t j = 0; j < out->n_metrics; j++) listed |= !strcmp(out->metrics[j], out->ranked[i].name);
        if (listed) continue;
        if (out->n_metrics == SA_PHASE_MAX_METRICS) {
            bad(c, "metrics", "no room for ranked metric \"%s\" (at most %d metrics)", out->ranked[i].name,
                SA_PHASE_MAX_METRICS);
            continue;
        }
        snprintf(out->metrics[out->n_metrics++], sizeof out->metrics[0], "%s", out->ranked[i].name);
    }
    const char *lesion_metric = NULL;
    for (size_t j = 0; j < out->n_metrics && !lesion_metric; j++) {
        int lesion;
        metric_direction(out->metrics[j], &lesion);
        if (lesion) lesion_metric = out->metrics[j];
    }
    if (enabled_given < 0) out->lesions = lesion_metric != NULL;
    else if (!enabled_given && lesion_metric)
        bad(c, "lesions.enabled", "false, but lesion metric \"%s\" is listed or ranked", lesion_metric);
    else out->lesions = enabled_given;
    if (out->show_logs && !out->show_case_details)
        bad(c, "show_logs", "true needs \"show_case_details\": true (logs are per case)");
    if (out->opens > 0 && out->closes > 0 && !(out->closes > out->opens))
        bad(c, "closes", "must be later than \"opens\"");
}

static void parse_root(checker *c, json_t *root, sa_phase_spec *out) {
    static const char *const keys[] = {
        "schema", "name", "title", "dataset", "split", "input_roles", "label", "consensus", "tau_mm",
        "lesions", "metrics", "ranking", "distance_cap_mm", "limits", "max_upload_mb", "quota", "opens",
        "closes", "show_case_details", "show_logs", "leaderboard_entry", "auto_evaluate",
        "human_reference", "bootstrap", NULL};
    static const char *const entries[] = {"latest", "best", "selected", NULL};
    only_keys(c, "", root, keys);
    const char *s = get_string(c, "", root, "schema", 1);
    if (s && strcmp(s, SA_PHASE_SCHEMA)) bad(c, "schema", "must be \"%s\"", SA_PHASE_SCHEMA);
    if ((s = get_string(c, "", root, "name", 1)) && id_fits(c, "name", s, sizeof out->name))
        snprintf(out->name, sizeof out->name, "%s", s);
    if ((s = get_string(c, "", root, "title", 0))) {
        if (strlen(s) > MAX_TITLE_BYTES) bad(c, "title", "longer than %d bytes", MAX_TITLE_BYTES);
        else snprintf(out->title, sizeof out->title, "%s", s);
    }
    if ((s = get_string(c, "", root, "dataset", 1)) && id_fits(c, "dataset", s, sizeof out->dataset))
        snprintf(out->dataset, sizeof out->dataset, "%s", s);
    if ((s = get_string(c, "", root, "split", 0)) && (!*s || id_fits(c, "split", s, sizeof out->split)))
        snprintf(out->split, sizeof out->split, "%s", s);
    parse_roles(c, root, out);

    json_t *label = json_object_get(root, "label");
    if (label && json_is_string(label) && !strcmp(json_string_value(label), "any")) out->label = -1;
    else if (label) {
        double v = json_is_number(label) ? json_number_value(label) : 0;
        if (!(v >= 1 && v <= INT32_MAX && v == floor(v)))
            bad(c, "label", "must be an integer from 1 to %ld (the label value), or \"any\"", (long)INT32_MAX);
        else out->label = (long)v;
    }
    parse_consensus(c, root, out);
    get_number(c, "", root, "tau_mm", 0, 0, 1e6, &out->tau_mm);
    int enabled_given = -1;
    parse_lesions(c, root, out, &enabled_given);
    parse_metrics(c, root, out);
    parse_ranking(c, root, out);

    json_t *cap = json_object_get(root, "distance_cap_mm");
    if (cap && !json_is_null(cap)) get_number(c, "", root, "distance_cap_mm", 0, 0, 1e9, &out->distance_cap_mm);
    parse_limits(c, root, out);
    get_mib(c, "", root, "max_upload_mb", 1, &out->max_upload_bytes);
    parse_quota(c, root, out);
    get_date(c, root, "opens", &out->opens);
    get_date(c, root, "closes", &out->closes);
    get_bool(c, "", root, "show_case_details", &out->show_case_details);
    get_bool(c, "", root, "show_logs", &out->show_logs);
    int e = get_enum(c, "", root, "leaderboard_entry", entries, "\"latest\", \"best\" or \"selected\"");
    if (e >= 0) out->leaderboard_entry = e == 0 ? SA_ENTRY_LATEST : e == 1 ? SA_ENTRY_BEST : SA_ENTRY_SELECTED;
    get_bool(c, "", root, "auto_evaluate", &out->auto_evaluate);
    get_bool(c, "", root, "human_reference", &out->human_reference);
    parse_bootstrap(c, root, out);
    cross_checks(c, out, enabled_given);
    if (!out->title[0]) snprintf(out->title, sizeof out->title, "%s", out->name);
}

int sa_phase_spec_parse(const char *json_text, const char *label, sa_phase_spec *out, sa_problems *problems,
                        sa_error *err) {
    sa_problems local;
    sa_problems_init(&local);
    if (!problems) problems = &local;
    if (!label) label = "phase spec";
    sa_phase_spec_default(out);
    checker c = {label, problems, problems->count, 0};
    json_error_t jerr;
    json_t *root = json_text ? json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!root) {
        const char *why = json_text ? jerr.text : "no text";
        int line = json_text ? jerr.line : 0;
        sa_problems_add(problems, "%s: not JSON (line %d: %s)", label, line, why);
        sa_problems_free(&local);
        return sa_error_set(err, "%s: not JSON (line %d: %s)", label, line, why);
    }
    if (!json_is_object(root)) bad(&c, "top level", "must be an object");
    else parse_root(&c, root, out);
    json_decref(root);
    int rc = 0;
    if (c.oom) rc = sa_error_set(err, "%s: out of memory", label);
    else if (problems->count > c.first) rc = sa_error_set(err, "%s", problems->msg[c.first]);
    sa_problems_free(&local);
    return rc;
}

int sa_phase_spec_read(const char *path, sa_phase_spec *out, sa_problems *problems, sa_error *err) {
    sa_phase_spec_default(out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        sa_error_set(err, "%s: cannot open (%s)", path, strerror(errno));
        if (problems) sa_problems_add(problems, "%s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (n + 1 >= cap) {
            if (cap >= (64u << 20)) { /* no phase spec is that large */
                rc = sa_error_set(err, "%s: larger than 64 MiB", path);
                break;
            }
            char *nb = realloc(buf, cap *= 2);
            if (!nb) break;
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (!rc && !buf) rc = sa_error_set(err, "%s: out of memory", path);
    else if (!rc && ferror(f)) rc = sa_error_set(err, "%s: read error", path);
    fclose(f);
    if (rc) {
        if (problems) sa_problems_add(problems, "%s", err ? err->msg : "cannot read");
        free(buf);
        return -1;
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        free(buf);
        sa_error_set(err, "%s: holds a NUL byte (not a JSON text)", path);
        if (problems) sa_problems_add(problems, "%s: holds a NUL byte (not a JSON text)", path);
        return -1;
    }
    rc = sa_phase_spec_parse(buf, path, out, problems, err);
    free(buf);
    return rc;
}

/* ---- writing: a small pretty printer, so that numbers come out in their shortest
 * form that reads back to the same double (jansson always writes 17 digits) ---- */

typedef struct emitter {
    char *buf;
    size_t len, cap;
    int depth;
    int first[8]; /* per depth: nothing written yet in this object */
    const char *bad; /* the first key that could not be written */
    int oom;
} emitter;

static void put(emitter *e, const char *s) {
    size_t n = strlen(s);
    if (e->oom) return;
    if (e->len + n + 1 > e->cap) {
        size_t cap = e->cap ? e->cap : 2048;
        while (e->len + n + 1 > cap) cap *= 2;
        char *nb = realloc(e->buf, cap);
        if (!nb) {
            e->oom = 1;
            return;
        }
        e->buf = nb;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, s, n + 1);
    e->len += n;
}

static void newline(emitter *e) {
    put(e, "\n");
    for (int i = 0; i < e->depth; i++) put(e, "  ");
}

/* The shortest "%.*g" text that reads back to v (v finite). */
void sa_format_number(char buf[40], double v) {
    if (v == 0) v = 0.0; /* no "-0" */
    if (v == floor(v) && fabs(v) < 1e15) { /* whole numbers as integers: 600, not 6e+02 */
        snprintf(buf, 40, "%.0f", v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, 40, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static void put_string(emitter *e, const char *s) {
    json_t *j = json_string(s ? s : "");
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!text) {
        if (!e->bad) e->bad = "a string that is not valid UTF-8";
        put(e, "\"\"");
        return;
    }
    put(e, text);
    free(text);
}

static void put_number(emitter *e, double v) {
    char buf[40];
    if (!isfinite(v)) {
        if (!e->bad) e->bad = "a number that is not finite";
        put(e, "0");
        return;
    }
    sa_format_number(buf, v);
    put(e, buf);
}

static void put_integer(emitter *e, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    put(e, buf);
}

static void key(emitter *e, const char *k) {
    if (!e->first[e->depth]) put(e, ",");
    e->first[e->depth] = 0;
    newline(e);
    put_string(e, k);
    put(e, ": ");
}

static void open_object(emitter *e) {
    put(e, "{");
    e->depth++;
    e->first[e->depth] = 1;
}

static void close_object(emitter *e) {
    e->depth--;
    newline(e);
    put(e, "}");
}

static void put_bool(emitter *e, int v) { put(e, v ? "true" : "false"); }

int sa_phase_spec_to_json(const sa_phase_spec *spec, char **json_out, sa_error *err) {
    *json_out = NULL;
    if (spec->n_input_roles > SA_PHASE_MAX_ROLES || spec->n_metrics > SA_PHASE_MAX_METRICS ||
        spec->n_ranked > SA_PHASE_MAX_RANKED)
        return sa_error_set(err, "phase %s: more roles, metrics or ranked metrics than a spec holds", spec->name);
    emitter e = {0};
    char date[32];
    open_object(&e);
    key(&e, "schema"), put_string(&e, SA_PHASE_SCHEMA);
    key(&e, "name"), put_string(&e, spec->name);
    key(&e, "title"), put_string(&e, spec->title[0] ? spec->title : spec->name);
    key(&e, "dataset"), put_string(&e, spec->dataset);
    key(&e, "split"), put_string(&e, spec->split);
    key(&e, "input_roles"), put(&e, "[");
    for (size_t i = 0; i < spec->n_input_roles; i++) {
        if (i) put(&e, ", ");
        put_string(&e, spec->input_roles[i]);
    }
    put(&e, "]");
    key(&e, "label");
    if (spec->label > 0) put_integer(&e, spec->label);
    else put_string(&e, "any");

    key(&e, "consensus"), open_object(&e);
    key(&e, "method"), put_string(&e, method_name(spec->consensus.method));
    key(&e, "region"), put_string(&e, region_name(spec->consensus.region));
    close_object(&e);
    key(&e, "tau_mm"), put_number(&e, spec->tau_mm);
    key(&e, "lesions"), open_object(&e);
    key(&e, "enabled"), put_bool(&e, spec->lesions);
    key(&e, "connectivity"), put_integer(&e, spec->lesion.connectivity);
    key(&e, "min_volume_mm3"), put_number(&e, spec->lesion.min_volume_mm3);
    key(&e, "alpha"), put_number(&e, spec->lesion.alpha);
    key(&e, "beta"), put_number(&e, spec->lesion.beta);
    key(&e, "gamma"), put_number(&e, spec->lesion.gamma);
    close_object(&e);

    key(&e, "metrics"), put(&e, "[");
    for (size_t i = 0; i < spec->n_metrics; i++) {
        if (i) put(&e, ", ");
        put_string(&e, spec->metrics[i]);
    }
    put(&e, "]");
    key(&e, "ranking"), open_object(&e);
    key(&e, "rule"), put_string(&e, sa_rank_rule_name(spec->rule));
    key(&e, "metrics"), put(&e, "[");
    for (size_t i = 0; i < spec->n_ranked; i++) {
        put(&e, i ? ", {\"name\": " : "{\"name\": ");
        put_string(&e, spec->ranked[i].name);
        put(&e, spec->ranked[i].higher_is_better ? ", \"direction\": \"higher\"}" : ", \"direction\": \"lower\"}");
    }
    put(&e, "]");
    close_object(&e);
    key(&e, "distance_cap_mm");
    if (spec->distance_cap_mm > 0) put_number(&e, spec->distance_cap_mm);
    else put(&e, "null");

    key(&e, "limits"), open_object(&e);
    key(&e, "wall_seconds"), put_number(&e, spec->limits.wall_seconds);
    key(&e, "memory_mb"), put_integer(&e, (long long)(spec->limits.memory_bytes / MIB));
    key(&e, "cpus"), put_number(&e, spec->limits.cpus);
    key(&e, "pids"), put_integer(&e, spec->limits.pids);
    key(&e, "output_mb"), put_integer(&e, (long long)(spec->limits.output_bytes / MIB));
    key(&e, "tmp_mb"), put_integer(&e, (long long)(spec->limits.tmp_bytes / MIB));
    key(&e, "gpu"), put_bool(&e, spec->gpu);
    close_object(&e);
    key(&e, "max_upload_mb"), put_integer(&e, (long long)(spec->max_upload_bytes / MIB));
    key(&e, "quota");
    if (spec->quota_submissions > 0) {
        open_object(&e);
        key(&e, "submissions"), put_integer(&e, spec->quota_submissions);
        key(&e, "days"), put_number(&e, spec->quota_days);
        close_object(&e);
    } else {
        put(&e, "null");
    }
    key(&e, "opens");
    if (spec->opens > 0) sa_iso8601_format(spec->opens, date), put_string(&e, date);
    else put(&e, "null");
    key(&e, "closes");
    if (spec->closes > 0) sa_iso8601_format(spec->closes, date), put_string(&e, date);
    else put(&e, "null");
    key(&e, "show_case_details"), put_bool(&e, spec->show_case_details);
    key(&e, "show_logs"), put_bool(&e, spec->show_logs);
    key(&e, "leaderboard_entry"), put_string(&e, sa_entry_rule_name(spec->leaderboard_entry));
    key(&e, "auto_evaluate"), put_bool(&e, spec->auto_evaluate);
    key(&e, "human_reference"), put_bool(&e, spec->human_reference);
    key(&e, "bootstrap"), open_object(&e);
    key(&e, "resamples"), put_integer(&e, spec->bootstrap_resamples);
    if (spec->bootstrap_seed > (uint64_t)INT64_MAX && !e.bad) e.bad = "a bootstrap seed above 2^63 - 1";
    key(&e, "seed"), put_integer(&e, (long long)(spec->bootstrap_seed & (uint64_t)INT64_MAX));
    close_object(&e);
    close_object(&e);
    put(&e, "\n");
    if (e.oom || e.bad) {
        free(e.buf);
        return e.oom ? sa_error_set(err, "phase %s: out of memory writing the spec", spec->name)
                     : sa_error_set(err, "phase %s: cannot write %s", spec->name, e.bad);
    }
    *json_out = e.buf;
    return 0;
}

/* ---- scoring hash ---- */

static void hash_text(crypto_hash_sha256_state *st, const char *s) {
    crypto_hash_sha256_update(st, (const unsigned char *)s, strlen(s));
}

/* A JSON string of arbitrary bytes: quotes, backslashes and control bytes escaped. */
static void hash_string(crypto_hash_sha256_state *st, const char *s) {
    char buf[8];
    hash_text(st, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') snprintf(buf, sizeof buf, "\\%c", *p);
        else if (*p < 0x20) snprintf(buf, sizeof buf, "\\u%04x", *p);
        else buf[0] = (char)*p, buf[1] = 0;
        hash_text(st, buf);
    }
    hash_text(st, "\"");
}

static void hash_number(crypto_hash_sha256_state *st, double v) {
    char buf[40];
    if (!isfinite(v)) snprintf(buf, sizeof buf, "null");
    else sa_format_number(buf, v);
    hash_text(st, buf);
}

static void hash_integer(crypto_hash_sha256_state *st, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    hash_text(st, buf);
}

/* The canonical text hashed (compact JSON, this key order):
 * {"metric_version":1,"dataset_checksum":"..","label":"any"|N,"consensus":{"method":..
 * [,"region","dilation_voxels","tolerance","max_iterations","threshold" for STAPLE]},
 * "tau_mm":..,"lesions":{"enabled":b[,"connectivity","min_volume_mm3","alpha","beta",
 * "gamma" when enabled]}}. What cannot change a score is left out. */
void sa_phase_scoring_hash(const sa_phase_spec *spec, const char *dataset_checksum, char hex[65]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    if (sodium_init() < 0) { /* cannot happen with a working libsodium */
        memset(hex, '0', 64);
        hex[64] = 0;
        return;
    }
    crypto_hash_sha256_init(&st);
    hash_text(&st, "{\"metric_version\":");
    hash_integer(&st, SA_METRIC_DEFINITION_VERSION);
    hash_text(&st, ",\"dataset_checksum\":");
    hash_string(&st, dataset_checksum);
    hash_text(&st, ",\"label\":");
    if (spec->label > 0) hash_integer(&st, spec->label);
    else hash_text(&st, "\"any\"");
    const sa_consensus_options *co = &spec->consensus;
    hash_text(&st, ",\"consensus\":{\"method\":");
    hash_string(&st, method_name(co->method));
    if (co->method == SA_CONSENSUS_STAPLE) {
        hash_text(&st, ",\"region\":");
        hash_string(&st, region_name(co->region));
        hash_text(&st, ",\"dilation_voxels\":");
        hash_integer(&st, co->dilation_voxels);
        hash_text(&st, ",\"tolerance\":");
        hash_number(&st, co->tolerance);
        hash_text(&st, ",\"max_iterations\":");
        hash_integer(&st, co->max_iterations);
        hash_text(&st, ",\"threshold\":");
        hash_number(&st, co->threshold);
    }
    hash_text(&st, "},\"tau_mm\":");
    hash_number(&st, spec->tau_mm);
    hash_text(&st, ",\"lesions\":{\"enabled\":");
    hash_text(&st, spec->lesions ? "true" : "false");
    if (spec->lesions) {
        hash_text(&st, ",\"connectivity\":");
        hash_integer(&st, spec->lesion.connectivity);
        hash_text(&st, ",\"min_volume_mm3\":");
        hash_number(&st, spec->lesion.min_volume_mm3);
        hash_text(&st, ",\"alpha\":");
        hash_number(&st, spec->lesion.alpha);
        hash_text(&st, ",\"beta\":");
        hash_number(&st, spec->lesion.beta);
        hash_text(&st, ",\"gamma\":");
        hash_number(&st, spec->lesion.gamma);
    }
    hash_text(&st, "}}");
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(hex, 65, digest, sizeof digest);
}

void sa_phase_multi_options(const sa_phase_spec *spec, sa_multi_options *opt) {
    sa_multi_options_default(opt);
    opt->score.tau_mm = spec->tau_mm;
    opt->score.threads = 1;
    opt->consensus = spec->consensus;
    opt->consensus.threads = 1;
    opt->lesions = spec->lesions;
    opt->lesion = spec->lesion;
    opt->human_reference = 0;
    opt->consensus_maps = 0; /* workers store scores, never the consensus maps: on a GPU they stay there */
}
