/*
 * run_view.c: how much of a run's progress a viewer sees (the API's run JSON
 * and the run and submission pages both show it from here). Who sees case
 * details (organisers; the owner team where the phase has show_case_details)
 * sees the progress as it happens and each failure class as stored ("exit_code
 * 3"). In a phase without case details the owner team sees, while the run is
 * queued or running, only its status (cases run one after another, so counts
 * and timings that move as each case finishes would tell the class and time of
 * each case); once no case of it is left, the counts, the mean time and the
 * failures per base class ("exit_code", "invalid_output": a number or detail
 * after the class could carry bits of the hidden inputs). The stored rows keep
 * the full class. The run's aggregate (once the phase is published) is given
 * to such a viewer rebuilt from a whitelist (counts, the metrics' summaries,
 * failures per base class), never as the stored JSON, whose "failed" holds the
 * full classes.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

size_t sa_web_class_base_len(const char *error_class) {
    return strcspn(error_class, ": ");
}

static int run_active(const sa_run_row *run) {
    return !strcmp(run->status, "queued") || !strcmp(run->status, "running");
}

/* Merges classes[0..n-1] (with counts) by base name, in place: most frequent
 * first, then by name, as the store orders them. */
static void collapse_classes(char **classes, int64_t *counts, size_t *n) {
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        classes[i][sa_web_class_base_len(classes[i])] = '\0';
        size_t k = 0;
        while (k < kept && strcmp(classes[k], classes[i])) k++;
        if (k < kept) {
            counts[k] += counts[i];
            free(classes[i]);
            continue;
        }
        classes[kept] = classes[i];
        counts[kept++] = counts[i];
    }
    *n = kept;
    for (size_t i = 1; i < kept; i++) /* insertion sort: a handful of classes */
        for (size_t j = i; j > 0 && (counts[j] > counts[j - 1] ||
                                     (counts[j] == counts[j - 1] && strcmp(classes[j], classes[j - 1]) < 0));
             j--) {
            char *c = classes[j];
            int64_t v = counts[j];
            classes[j] = classes[j - 1], counts[j] = counts[j - 1];
            classes[j - 1] = c, counts[j - 1] = v;
        }
}

int sa_web_run_view(sa_web_call *call, const sa_run_row *run, const sa_subject *about,
                    sa_run_view *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    out->details = sa_web_allowed(&call->who, SA_ACT_READ_CASE_DETAILS, about);
    if (sa_store_run_progress(call->st, run->id, &out->progress, err)) return -1;
    int over = !run_active(run) && out->progress.queued == 0 && out->progress.running == 0;
    out->counts_shown = out->details || over;
    if (!out->counts_shown) {
        memset(&out->progress, 0, sizeof out->progress);
        return 0;
    }
    if (sa_store_run_failure_classes(call->st, run->id, &out->classes, &out->counts, &out->n, err))
        return -1;
    if (!out->details) collapse_classes(out->classes, out->counts, &out->n);
    return 0;
}

/* The summary fields of one metric ({"mean", "median", "std", "ci_lo", "ci_hi":
 * number or null, "n": integer}), nothing else. Over fewer than
 * SA_BOARD_MIN_HIDDEN_VALUES values the median, the std and the interval are
 * null, as on the public board: with so few cases they are, or with the mean
 * give away, single cases' values. */
static json_t *metric_summary(json_t *stored) {
    static const char *const numbers[] = {"mean", "median", "std", "ci_lo", "ci_hi"};
    json_t *n = json_object_get(stored, "n");
    json_int_t count = json_is_integer(n) ? json_integer_value(n) : 0;
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof numbers / sizeof *numbers; i++) {
        json_t *v = json_object_get(stored, numbers[i]);
        int withheld = i != 0 && count < SA_BOARD_MIN_HIDDEN_VALUES;
        json_object_set_new(o, numbers[i], json_is_number(v) && !withheld
                                               ? json_real(json_number_value(v))
                                               : json_null());
    }
    if (o) json_object_set_new(o, "n", json_integer(count));
    return o;
}

/* {"<base class>": count} of a stored {"<class>": count}. */
static json_t *collapsed_failures(json_t *stored) {
    size_t n = json_is_object(stored) ? json_object_size(stored) : 0, k = 0;
    char **classes = calloc(n + 1, sizeof *classes);
    int64_t *counts = calloc(n + 1, sizeof *counts);
    json_t *out = classes && counts ? json_object() : NULL;
    const char *key;
    json_t *v;
    if (out)
        json_object_foreach(stored, key, v) {
            if (!json_is_integer(v)) continue;
            if (!(classes[k] = strdup(key))) {
                json_decref(out);
                out = NULL;
                break;
            }
            counts[k++] = json_integer_value(v);
        }
    if (out) collapse_classes(classes, counts, &k);
    for (size_t i = 0; out && i < k; i++)
        sa_web_json_set_text(out, classes[i], json_integer(counts[i]));
    if (classes) sa_class_counts_free(classes, counts, k);
    else free(counts);
    return out;
}

json_t *sa_web_run_aggregate(sa_web_call *call, const sa_run_row *run, const sa_subject *about) {
    int details = sa_web_allowed(&call->who, SA_ACT_READ_CASE_DETAILS, about);
    if (!run->aggregate_json || !(about->phase_published || details)) return NULL;
    /* as it reads now: one stored under older rules is computed again (never a
     * stale number); one that cannot be is not shown */
    char *text = NULL;
    sa_error err;
    if (sa_run_aggregate_current(call->st, run, &text, &err) || !text) {
        if (!text) sa_web_log(call->ctx, "run %lld: aggregate not shown: %s", (long long)run->id, err.msg);
        free(text);
        return NULL;
    }
    json_error_t jerr;
    json_t *stored = json_loads(text, 0, &jerr);
    free(text);
    if (!json_is_object(stored) || details) return stored;
    json_t *out = json_object(), *metrics = json_object();
    json_t *sm = json_object_get(stored, "metrics");
    const char *name;
    json_t *one;
    if (metrics && json_is_object(sm))
        json_object_foreach(sm, name, one) {
            if (json_is_object(one)) sa_web_json_set_text(metrics, name, metric_summary(one));
        }
    json_t *cases = json_object_get(stored, "cases"), *ok = json_object_get(stored, "succeeded"),
           *version = json_object_get(stored, "metric_version");
    json_t *failed = collapsed_failures(json_object_get(stored, "failed"));
    if (out && metrics && failed) {
        json_object_set_new(out, "cases", json_integer(json_integer_value(cases)));
        json_object_set_new(out, "succeeded", json_integer(json_integer_value(ok)));
        json_object_set_new(out, "failed", failed);
        json_object_set_new(out, "metrics", metrics);
        json_object_set_new(out, "metric_version", json_integer(json_integer_value(version)));
    } else {
        json_decref(out), json_decref(metrics), json_decref(failed);
        out = NULL;
    }
    json_decref(stored);
    return out;
}

void sa_web_run_view_free(sa_run_view *v) {
    sa_class_counts_free(v->classes, v->counts, v->n);
    memset(v, 0, sizeof *v);
}
