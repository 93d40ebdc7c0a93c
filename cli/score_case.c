/*
 * score_case.c: one case of `segarena score`: both files read (concurrently
 * when threads allow), geometry and mask values checked, then every requested
 * label scored. Any problem becomes one "<file>: <problem>" line in the result;
 * nothing is scored on data that failed a check.
 */
#include "score_case.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *path;
    sa_reader reader;
    sa_image image;
    sa_error err;
    int rc;
} read_job;

static void *read_main(void *p) {
    read_job *j = p;
    j->rc = sa_image_read_with(j->path, j->reader, &j->image, &j->err);
    return NULL;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void fail(case_result *res, const char *msg) {
    res->failed = 1;
    snprintf(res->error, sizeof res->error, "%s", msg);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Labels present in either image, ascending. */
static int union_labels(const sa_image *ref, const char *ref_path, const sa_image *pred,
                        const char *pred_path, case_result *res) {
    long *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    sa_error err;
    if (sa_image_labels(ref, ref_path, &a, &na, &err) || sa_image_labels(pred, pred_path, &b, &nb, &err)) {
        free(a);
        fail(res, err.msg);
        return -1;
    }
    size_t n = 0;
    long all[2 * SCORE_MAX_LABELS];
    for (size_t i = 0; i < na + nb; i++) {
        long v = i < na ? a[i] : b[i - na];
        int seen = 0;
        for (size_t k = 0; k < n; k++) seen |= all[k] == v;
        if (seen) continue;
        if (n == SCORE_MAX_LABELS) {
            free(a), free(b);
            fail(res, "too many labels (more than 256): choose some with --label");
            return -1;
        }
        all[n++] = v;
    }
    free(a), free(b);
    qsort(all, n, sizeof *all, cmp_long);
    res->n_blocks = n;
    memcpy(res->block_label, all, n * sizeof *all);
    return 0;
}

/* The engine takes non-zero bytes as inside: a uint8 image in binary mode is
 * used as it is, anything else goes through the checked conversion. */
static int mask_for(const sa_image *img, const char *path, long label, uint8_t **mask, int *owned,
                    case_result *res) {
    sa_error err;
    if (label < 0 && img->type == SA_PIXEL_U8) {
        *mask = img->data;
        *owned = 0;
        return 0;
    }
    if (sa_mask_from_image(img, path, label, mask, &err)) {
        fail(res, err.msg);
        return -1;
    }
    *owned = 1;
    return 0;
}

void score_case(const score_settings *s, int threads, case_result *res) {
    double start = now_seconds();
    res->failed = 0;
    res->error[0] = 0;
    res->n_blocks = 0;
    res->threads_used = threads;

    read_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    jobs[0].path = res->ref_path, jobs[0].reader = s->reader;
    jobs[1].path = res->pred_path, jobs[1].reader = s->reader;
    pthread_t reader;
    int concurrent = threads > 1 && pthread_create(&reader, NULL, read_main, &jobs[1]) == 0;
    read_main(&jobs[0]);
    if (concurrent)
        pthread_join(reader, NULL);
    else
        read_main(&jobs[1]);
    sa_image *ref = &jobs[0].image, *pred = &jobs[1].image;
    sa_error err;

    if (jobs[0].rc) {
        fail(res, jobs[0].err.msg);
        goto done;
    }
    if (jobs[1].rc) {
        fail(res, jobs[1].err.msg);
        goto done;
    }
    if (sa_image_same_geometry(ref, res->ref_path, pred, res->pred_path, &err)) {
        fail(res, err.msg);
        goto done;
    }
    memcpy(res->geometry.size, ref->size, sizeof ref->size);
    memcpy(res->geometry.spacing, ref->spacing, sizeof ref->spacing);
    memcpy(res->geometry.origin, ref->origin, sizeof ref->origin);
    memcpy(res->geometry.direction, ref->direction, sizeof ref->direction);
    res->geometry.pixel_type = sa_pixel_type_name(ref->type);

    if (s->all_labels) {
        if (union_labels(ref, res->ref_path, pred, res->pred_path, res)) goto done;
    } else if (s->n_labels) {
        res->n_blocks = s->n_labels;
        memcpy(res->block_label, s->labels, s->n_labels * sizeof *s->labels);
    } else {
        res->n_blocks = 1;
        res->block_label[0] = -1;
    }

    sa_grid grid;
    sa_image_grid(ref, &grid);
    sa_score_options opt = {s->tau_mm, threads};
    for (size_t b = 0; b < res->n_blocks; b++) {
        uint8_t *rm = NULL, *pm = NULL;
        int r_owned = 0, p_owned = 0;
        if (mask_for(ref, res->ref_path, res->block_label[b], &rm, &r_owned, res) ||
            mask_for(pred, res->pred_path, res->block_label[b], &pm, &p_owned, res)) {
            if (r_owned) free(rm);
            goto done;
        }
        int rc = sa_score_pair(rm, pm, &grid, &opt, &res->metrics[b], &err);
        if (r_owned) free(rm);
        if (p_owned) free(pm);
        if (rc) {
            res->failed = 1;
            snprintf(res->error, sizeof res->error, "%.300s: %.290s", res->pred_path, err.msg);
            goto done;
        }
    }
done:
    if (res->failed) res->n_blocks = 0;
    if (jobs[0].rc == 0) sa_image_free(ref);
    if (jobs[1].rc == 0) sa_image_free(pred);
    res->seconds = now_seconds() - start;
}
