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
 * the full class.
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

void sa_web_run_view_free(sa_run_view *v) {
    sa_class_counts_free(v->classes, v->counts, v->n);
    memset(v, 0, sizeof *v);
}
