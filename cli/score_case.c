/*
 * score_case.c: one case of `segarena score`: the files read (concurrently when
 * threads allow), geometry and mask values checked, then every requested label
 * scored against one reference or against several raters. Any problem becomes
 * one "<file>: <problem>" line in the result; nothing is scored on data that
 * failed a check.
 */
#include "score_case.h"

#include "read_images.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Adds one problem line to the case's error (lines joined by '\n': every bad
 * file gets its own line). Lines that no longer fit are counted, and the last
 * line says how many were left out. */
static void fail(case_result *res, const char *msg) {
    static const char more[] = "\n(problems not shown: %zu more)";
    size_t len = strlen(res->error), need = strlen(msg) + (len ? 1 : 0);
    res->failed = 1;
    if (res->problems_left_out == 0 && len + need + sizeof more + 20 < sizeof res->error) {
        snprintf(res->error + len, sizeof res->error - len, "%s%s", len ? "\n" : "", msg);
        return;
    }
    if (res->problems_left_out++ > 0) { /* drop the previous count line */
        char *nl = strrchr(res->error, '\n');
        if (nl) *nl = '\0';
        len = strlen(res->error);
    }
    snprintf(res->error + len, sizeof res->error - len, more, res->problems_left_out);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Labels present in any of the images, ascending; more than SCORE_MAX_LABELS
 * fail the case, naming the file that brought the union over. */
static int union_labels(read_job *jobs, size_t n, case_result *res) {
    long all[SCORE_MAX_LABELS];
    size_t count = 0;
    for (size_t i = 1; i <= n; i++) { /* the references first, then the prediction */
        size_t f = i % n;
        long *labels = NULL;
        size_t nl = 0;
        sa_error err;
        if (sa_image_labels(&jobs[f].image, jobs[f].path, &labels, &nl, &err)) {
            fail(res, err.msg); /* and on to the other files: each bad one gets its line */
            continue;
        }
        if (res->failed) { /* a file before this one is bad: its labels do not matter */
            free(labels);
            continue;
        }
        for (size_t i = 0; i < nl; i++) {
            size_t k = 0;
            while (k < count && all[k] != labels[i]) k++;
            if (k < count) continue;
            if (count == SCORE_MAX_LABELS) { /* this file's labels push the case's union over */
                free(labels);
                res->failed = 1;
                snprintf(res->error, sizeof res->error,
                         "%.900s: more than %d labels in this case's masks together (--label all scores at most "
                         "%d): choose some with --label",
                         jobs[f].path, SCORE_MAX_LABELS, SCORE_MAX_LABELS);
                return -1;
            }
            all[count++] = labels[i];
        }
        free(labels);
    }
    if (res->failed) return -1;
    qsort(all, count, sizeof *all, cmp_long);
    res->n_blocks = count;
    memcpy(res->block_label, all, count * sizeof *all);
    return 0;
}

/* The engine takes non-zero bytes as inside: a uint8 image in binary mode is
 * used as it is, anything else goes through the checked conversion. Raters are
 * read as the one reference is (shared/spec/metrics.md: a mask is value > 0, or
 * == L; the one-rater form is the K-rater form with K = 1): a 0/255 rater is
 * accepted, negative, fractional and NaN values are refused. */
static int mask_for(const read_job *job, long label, uint8_t **mask, int *owned, case_result *res) {
    sa_error err;
    if (label < 0 && job->image.type == SA_PIXEL_U8) {
        *mask = job->image.data;
        *owned = 0;
        return 0;
    }
    if (sa_mask_from_image(&job->image, job->path, label, mask, &err)) {
        fail(res, err.msg);
        return -1;
    }
    *owned = 1;
    return 0;
}

/* Scores one label. jobs[0] is the prediction, jobs[1..] the reference(s). */
static int score_label(const score_settings *s, read_job *jobs, size_t n_refs, size_t b, int threads,
                       case_result *res) {
    uint8_t *masks[SA_MAX_RATERS + 1] = {0};
    int owned[SA_MAX_RATERS + 1] = {0};
    long label = res->block_label[b];
    int rc = -1;
    sa_error err;
    /* every file's mask, the references' first: each bad file gets its line */
    for (size_t i = 1; i <= n_refs + 1; i++) {
        size_t f = i % (n_refs + 1);
        mask_for(&jobs[f], label, &masks[f], &owned[f], res);
    }
    if (res->failed) goto done;
    /* The reference's grid (the first rater's with several): the geometry
     * check lets the prediction's spacing differ by up to 1e-4, and a
     * contestant's header must not move distances, NSD, volumes or the lesion
     * volume filter. The output's inputs.spacing_mm is this spacing too. */
    sa_grid grid;
    sa_image_grid(&jobs[1].image, &grid);
    sa_multi_options opt = s->options;
    opt.score.threads = threads;
    opt.consensus_maps = 0; /* the output holds scores only (segarena consensus writes the maps) */
    if (s->n_raters >= 2) {
        res->multi[b] = malloc(sizeof *res->multi[b]);
        if (!res->multi[b]) {
            res->failed = 1;
            snprintf(res->error, sizeof res->error, "%.300s: out of memory", res->pred_path);
            goto done;
        }
        if (sa_score_multi(masks[0], (const uint8_t *const *)&masks[1], n_refs, &grid, &opt, res->multi[b], &err)) {
            free(res->multi[b]);
            res->multi[b] = NULL;
            res->failed = 1;
            snprintf(res->error, sizeof res->error, "%.250s: scoring against the %zu raters: %.290s", res->pred_path,
                     n_refs, err.msg);
            goto done;
        }
    } else {
        sa_scores *out = &res->scores[b];
        memset(out, 0, sizeof *out);
        if (sa_score_pair(masks[1], masks[0], &grid, &opt.score, &out->pair, &err)) {
            res->failed = 1;
            snprintf(res->error, sizeof res->error, "%.200s: scoring against %.200s: %.190s", res->pred_path,
                     res->ref_path, err.msg);
            goto done;
        }
        if (opt.lesions) {
            sa_lesions *rl = NULL, *pl = NULL;
            int lrc = sa_lesions_find(masks[1], &grid, &opt.lesion, &rl, &err) ||
                      sa_lesions_find(masks[0], &grid, &opt.lesion, &pl, &err) ||
                      sa_lesions_match(rl, pl, &opt.lesion, &out->lesions, &err);
            sa_lesions_free(rl);
            sa_lesions_free(pl);
            if (lrc) {
                res->failed = 1;
                snprintf(res->error, sizeof res->error, "%.200s: lesions against %.200s: %.190s", res->pred_path,
                         res->ref_path, err.msg);
                goto done;
            }
            out->has_lesions = 1;
        }
    }
    rc = 0;
done:
    for (size_t f = 0; f <= n_refs; f++)
        if (owned[f]) free(masks[f]);
    return rc;
}

void case_result_clear(case_result *res) {
    for (size_t b = 0; b < SCORE_MAX_LABELS; b++) {
        if (!res->multi[b]) continue;
        sa_multi_result_free(res->multi[b]);
        free(res->multi[b]);
        res->multi[b] = NULL;
    }
}

void score_case(const score_settings *s, int threads, case_result *res) {
    double start = now_seconds();
    res->failed = 0;
    res->error[0] = 0;
    res->problems_left_out = 0;
    res->n_blocks = 0;
    res->threads_used = threads;
    res->gpu_used = 0;
    res->device_note = NULL;

    /* jobs[0]: the prediction; then the reference or the raters */
    size_t n_refs = s->n_raters >= 2 ? s->n_raters : 1;
    read_job jobs[SA_MAX_RATERS + 1];
    memset(jobs, 0, sizeof jobs);
    jobs[0].path = res->pred_path;
    for (size_t i = 0; i < n_refs; i++) jobs[1 + i].path = s->n_raters >= 2 ? s->rater_paths[i] : res->ref_path;
    for (size_t i = 0; i <= n_refs; i++) jobs[i].reader = s->reader;
    read_images(jobs, n_refs + 1, threads);
    sa_error err;

    /* Every bad file gets its own line (the references' first, then the
     * prediction's): files that cannot be read; with all read, each file whose
     * geometry differs from the (first) reference's; and, once something is
     * wrong, the values of the files not yet named (the mask conversion below
     * checks them when nothing is). */
    int named[SA_MAX_RATERS + 1] = {0};
    for (size_t i = 1; i <= n_refs + 1; i++) {
        size_t f = i % (n_refs + 1);
        if (jobs[f].rc) {
            fail(res, jobs[f].err.msg);
            named[f] = 1;
        }
    }
    if (!res->failed) {
        for (size_t i = 2; i <= n_refs + 1; i++) {
            size_t f = i % (n_refs + 1);
            if (sa_image_same_geometry(&jobs[1].image, jobs[1].path, &jobs[f].image, jobs[f].path, &err)) {
                fail(res, err.msg);
                named[f] = 1;
            }
        }
    }
    if (res->failed) {
        for (size_t i = 1; i <= n_refs + 1; i++) {
            size_t f = i % (n_refs + 1);
            uint8_t *mask = NULL;
            if (!named[f] && !jobs[f].rc && sa_mask_from_image(&jobs[f].image, jobs[f].path, -1, &mask, &err))
                fail(res, err.msg);
            free(mask);
        }
        goto done;
    }
    const sa_image *ref = &jobs[1].image;
    memcpy(res->geometry.size, ref->size, sizeof ref->size);
    memcpy(res->geometry.spacing, ref->spacing, sizeof ref->spacing);
    memcpy(res->geometry.origin, ref->origin, sizeof ref->origin);
    memcpy(res->geometry.direction, ref->direction, sizeof ref->direction);
    res->geometry.pixel_type = sa_pixel_type_name(ref->type);

    if (s->all_labels) {
        if (union_labels(jobs, n_refs + 1, res)) goto done;
        if (res->n_blocks == 0) { /* no label anywhere: one block, both empty */
            res->n_blocks = 1;
            res->block_label[0] = -1;
        }
    } else if (s->n_labels) {
        res->n_blocks = s->n_labels;
        memcpy(res->block_label, s->labels, s->n_labels * sizeof *s->labels);
    } else {
        res->n_blocks = 1;
        res->block_label[0] = -1;
    }
    res->threads_used = 1;
    for (size_t b = 0; b < res->n_blocks; b++) {
        if (score_label(s, jobs, n_refs, b, threads, res)) goto done;
        const sa_pair_metrics *m = res->multi[b] ? &res->multi[b]->vs_consensus.pair : &res->scores[b].pair;
        if (m->threads_used > res->threads_used) res->threads_used = m->threads_used; /* what really ran */
        if (m->gpu_used) res->gpu_used = 1;
        if (m->device_note) res->device_note = m->device_note;
    }
done:
    if (res->failed) {
        case_result_clear(res);
        res->n_blocks = 0;
    }
    free_images(jobs, n_refs + 1);
    res->seconds = now_seconds() - start;
}
