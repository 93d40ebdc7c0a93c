/*
 * score.c: every overlap and surface metric of one (reference, prediction) pair,
 * with the spec's rules for empty masks and zero denominators.
 *
 * Pipeline: one pass over both masks (counts and bounding boxes), surfaces of
 * both masks inside their common bounding box, the two directed distance sets
 * (each an exact transform restricted to that box), then reductions to a
 * surface summary (engine.h) from which the metrics follow. The GPU path
 * (gpu.h) produces the same counts and summary, bit for bit; device.c picks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "exact_sum.h"
#include "gpu.h"

/* Every field set (the caller's struct may hold anything): tau 1 mm, all
 * cores, device auto (metrics.h, docs/gpu.md). */
void sa_score_options_default(sa_score_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->tau_mm = 1.0;
    opt->threads = 0;
    opt->device = SA_DEVICE_AUTO;
}

static sa_value defined(double v) { return (sa_value){v, NULL}; }
static sa_value undefined(const char *reason) { return (sa_value){0.0, reason}; }
static sa_value ratio(uint64_t num, uint64_t den, const char *reason_if_zero) {
    return den ? defined((double)num / (double)den) : undefined(reason_if_zero);
}

static void overlap_metrics(sa_pair_metrics *m, double voxel_ml) {
    uint64_t tp = m->tp, fp = m->fp, fn = m->fn;
    if (m->both_empty) {
        m->dice = defined(1.0);
        m->jaccard = defined(1.0);
    } else {
        m->dice = defined(2.0 * (double)tp / (2.0 * (double)tp + (double)fp + (double)fn));
        m->jaccard = defined((double)tp / (double)(tp + fp + fn));
    }
    m->sensitivity = ratio(tp, tp + fn, SA_REASON_EMPTY_REFERENCE);
    m->ppv = ratio(tp, tp + fp, SA_REASON_EMPTY_PREDICTION);
    m->specificity = ratio(m->tn, m->tn + fp, SA_REASON_NO_BACKGROUND);

    double vr = (double)m->ref_voxels * voxel_ml, vt = (double)m->pred_voxels * voxel_ml;
    m->volume_ref_ml = defined(vr);
    m->volume_pred_ml = defined(vt);
    m->abs_volume_diff_ml = defined(fabs(vt - vr));
    m->rve_percent = m->ref_voxels ? defined((vt - vr) / vr * 100.0) : undefined(SA_REASON_EMPTY_REFERENCE);
    if (m->sensitivity.reason)
        m->pet_accuracy = undefined(m->sensitivity.reason);
    else if (m->ppv.reason)
        m->pet_accuracy = undefined(m->ppv.reason);
    else
        m->pet_accuracy = defined((m->sensitivity.value + m->ppv.value) / 2.0);
}

static void set_all_distances(sa_pair_metrics *m, sa_value v) {
    m->hd = m->hd95 = m->hd95_pooled = m->hd95_mean = m->assd = m->masd = v;
    m->hd_pred_to_ref = m->hd_ref_to_pred = v;
    m->p95_pred_to_ref = m->p95_ref_to_pred = v;
    m->mean_pred_to_ref = m->mean_ref_to_pred = v;
}

void sa_directed_summarize(double *d, size_t n, double tau, sa_directed_summary *out) {
    sa_exact_sum sum;
    sa_exact_clear(&sum);
    out->count = n;
    out->max = 0.0;
    out->within_tau = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] > out->max) out->max = d[i];
        sa_exact_add(&sum, d[i]);
        out->within_tau += d[i] <= tau;
    }
    out->sum = sa_exact_round(&sum);
    out->p95 = n ? sa_percentile(d, n, 95.0) : 0.0; /* reorders d */
}

/* The distance metrics from the two directed summaries (both paths). */
static void distance_metrics(const sa_surface_summary *s, sa_pair_metrics *m) {
    const sa_directed_summary *tr = &s->pred_to_ref, *rt = &s->ref_to_pred;
    m->hd_pred_to_ref = defined(tr->max);
    m->hd_ref_to_pred = defined(rt->max);
    m->hd = defined(tr->max > rt->max ? tr->max : rt->max);
    m->mean_pred_to_ref = defined(tr->sum / (double)tr->count);
    m->mean_ref_to_pred = defined(rt->sum / (double)rt->count);
    m->assd = defined((tr->sum + rt->sum) / (double)(tr->count + rt->count));
    m->masd = defined((m->mean_pred_to_ref.value + m->mean_ref_to_pred.value) / 2.0);
    m->nsd = defined((double)(tr->within_tau + rt->within_tau) / (double)(tr->count + rt->count));
    m->p95_pred_to_ref = defined(tr->p95);
    m->p95_ref_to_pred = defined(rt->p95);
    m->hd95 = defined(tr->p95 > rt->p95 ? tr->p95 : rt->p95);
    m->hd95_mean = defined((tr->p95 + rt->p95) / 2.0);
    m->hd95_pooled = defined(s->p95_pooled);
}

/* The CPU's surface summary: both directed distance sets, stored back to back
 * (D_TR then D_RT), each an exact transform restricted to the pair's box. */
static int surface_summary_cpu(const uint8_t *ref, const uint8_t *pred, const sa_grid *g,
                               const sa_mask_scan *scan, const sa_score_options *opt,
                               sa_surface_summary *out, sa_error *err) {
    sa_region r;
    sa_region_from_boxes(&r, &scan->ref_box, &scan->pred_box);
    sa_points surf_ref = {0}, surf_pred = {0};
    double *dist = NULL;
    void *work = NULL;
    int rc = -1;
    if (sa_surface_points(ref, g, &r, opt->threads, &surf_ref, err) ||
        sa_surface_points(pred, g, &r, opt->threads, &surf_pred, err))
        goto done;
    size_t n_ref = surf_ref.count, n_pred = surf_pred.count;
    out->ref_surface_voxels = n_ref;
    out->pred_surface_voxels = n_pred;
    out->has_distances = 1;

    dist = malloc((n_ref + n_pred) * sizeof *dist);
    work = malloc(sa_region_voxels(&r) * SA_EDT_WORK_BYTES);
    if (!dist || !work) {
        sa_error_set(err, "out of memory for surface distances (%zu voxels)", sa_region_voxels(&r));
        goto done;
    }
    double *d_tr = dist, *d_rt = dist + n_pred;
    if (sa_edt_query_distances(&surf_ref, &surf_pred, &r, g->spacing, opt->threads, work, d_tr, err) ||
        sa_edt_query_distances(&surf_pred, &surf_ref, &r, g->spacing, opt->threads, work, d_rt, err))
        goto done;
    /* Percentiles reorder their input: each half first, then the union. */
    sa_directed_summarize(d_tr, n_pred, opt->tau_mm, &out->pred_to_ref);
    sa_directed_summarize(d_rt, n_ref, opt->tau_mm, &out->ref_to_pred);
    out->p95_pooled = sa_percentile(dist, n_pred + n_ref, 95.0);
    rc = 0;
done:
    sa_points_free(&surf_ref), sa_points_free(&surf_pred);
    free(dist), free(work);
    return rc;
}

/* With one mask empty no distance exists, but the other's surface size is
 * still reported. */
static int surface_counts_only(const uint8_t *ref, const uint8_t *pred, const sa_grid *g,
                               const sa_mask_scan *scan, int threads, sa_pair_metrics *m,
                               sa_error *err) {
    sa_region r;
    sa_region_from_box(&r, scan->ref_has ? &scan->ref_box : &scan->pred_box);
    sa_points surf;
    if (sa_surface_points(scan->ref_has ? ref : pred, g, &r, threads, &surf, err)) return -1;
    if (scan->ref_has)
        m->ref_surface_voxels = surf.count;
    else
        m->pred_surface_voxels = surf.count;
    sa_points_free(&surf);
    return 0;
}

/* Options resolved for a grid; -1 with a message when they are unusable. */
int sa_score_options_resolve(const sa_grid *grid, const sa_score_options *opt_in, sa_score_options *opt,
                             sa_error *err) {
    if (opt_in)
        *opt = *opt_in;
    else
        sa_score_options_default(opt);
    if (sa_grid_check(grid, err)) return -1;
    if (!isfinite(opt->tau_mm) || opt->tau_mm < 0)
        return sa_error_set(err, "invalid NSD tolerance tau %g mm (must be finite and >= 0)", opt->tau_mm);
    if (opt->threads <= 0) opt->threads = sa_cpu_count();
    /* Below about a million voxels, starting threads costs more than they save. */
    if (sa_grid_voxels(grid) < ((size_t)1 << 20)) opt->threads = 1;
    return 0;
}

/* The metrics from the voxel counts and, when neither mask is empty, the
 * surface summary (surf may be NULL otherwise). */
void sa_pair_metrics_finish(const sa_grid *grid, const sa_mask_scan *scan, const sa_surface_summary *surf,
                            const sa_score_options *opt, sa_pair_metrics *out) {
    sa_pair_metrics m;
    memset(&m, 0, sizeof m);
    m.tau_mm = opt->tau_mm;
    m.threads_used = opt->threads;
    uint64_t n = (uint64_t)sa_grid_voxels(grid);
    m.ref_voxels = scan->ref_voxels;
    m.pred_voxels = scan->pred_voxels;
    m.tp = scan->both_voxels;
    m.fp = scan->pred_voxels - scan->both_voxels;
    m.fn = scan->ref_voxels - scan->both_voxels;
    m.tn = n - m.tp - m.fp - m.fn;
    m.both_empty = !scan->ref_has && !scan->pred_has;
    if (surf) {
        m.ref_surface_voxels = surf->ref_surface_voxels;
        m.pred_surface_voxels = surf->pred_surface_voxels;
    }

    double voxel_ml = grid->spacing[0] * grid->spacing[1] * grid->spacing[2] / 1000.0;
    overlap_metrics(&m, voxel_ml);

    if (m.both_empty) {
        set_all_distances(&m, defined(0.0));
        m.nsd = defined(1.0);
    } else if (!scan->ref_has || !scan->pred_has) {
        const char *why = !scan->ref_has ? SA_REASON_EMPTY_REFERENCE : SA_REASON_EMPTY_PREDICTION;
        set_all_distances(&m, undefined(why));
        m.nsd = defined(0.0);
    } else {
        distance_metrics(surf, &m);
    }
    *out = m;
}

/* The CPU path: counts, then surfaces and distances, or the non-empty side's
 * surface size alone (for explanation) when one mask is empty. */
static int score_cpu(const uint8_t *ref, const uint8_t *pred, const sa_grid *grid, const sa_score_options *opt,
                     sa_pair_metrics *out, sa_error *err) {
    sa_mask_scan scan;
    if (sa_mask_scan_pair(ref, pred, grid, opt->threads, &scan, err)) return -1;
    sa_surface_summary surf;
    memset(&surf, 0, sizeof surf);
    if (scan.ref_has && scan.pred_has) {
        if (surface_summary_cpu(ref, pred, grid, &scan, opt, &surf, err)) return -1;
    } else if (scan.ref_has || scan.pred_has) {
        sa_pair_metrics counts;
        memset(&counts, 0, sizeof counts);
        if (surface_counts_only(ref, pred, grid, &scan, opt->threads, &counts, err)) return -1;
        surf.ref_surface_voxels = counts.ref_surface_voxels;
        surf.pred_surface_voxels = counts.pred_surface_voxels;
    }
    sa_pair_metrics_finish(grid, &scan, &surf, opt, out);
    return 0;
}

/* The GPU path: both masks uploaded once, everything computed there. Returns
 * SA_GPU_NO_MEMORY when the GPU cannot hold the job. */
static int score_gpu(const uint8_t *ref, const uint8_t *pred, const sa_grid *grid, const sa_score_options *opt,
                     sa_pair_metrics *out, sa_error *err) {
    const uint8_t *masks[2] = {ref, pred};
    sa_gpu_masks *gm = NULL;
    int rc = sa_gpu_masks_upload(masks, 2, grid, opt->threads, &gm, err);
    if (rc) return rc;
    sa_mask_scan scan;
    sa_surface_summary surf;
    memset(&surf, 0, sizeof surf);
    rc = sa_gpu_score_slots(gm, 0, 1, opt->tau_mm, &scan, &surf, err);
    sa_gpu_masks_free(gm);
    if (rc) return rc;
    sa_pair_metrics_finish(grid, &scan, &surf, opt, out);
    out->gpu_used = 1;
    return 0;
}

int sa_score_pair(const uint8_t *ref, const uint8_t *pred, const sa_grid *grid,
                  const sa_score_options *opt_in, sa_pair_metrics *out, sa_error *err) {
    if (!ref || !pred || !out) return sa_error_set(err, "no mask given");
    sa_score_options opt;
    if (sa_score_options_resolve(grid, opt_in, &opt, err)) return -1;
    const char *note = NULL;
    int on_gpu = sa_device_choose(opt.device, sa_grid_voxels(grid), 1, opt.threads, &note, err);
    if (on_gpu < 0) return -1;
    if (on_gpu) {
        int rc = score_gpu(ref, pred, grid, &opt, out, err);
        if (rc == 0) return 0;
        if (opt.device == SA_DEVICE_GPU) return -1; /* err says what went wrong */
        /* auto: the CPU gives the same numbers (out is untouched until success) */
        note = sa_gpu_fallback_note(rc); /* GPU memory, pinned host memory, or another failure */
    }
    if (score_cpu(ref, pred, grid, &opt, out, err)) return -1;
    out->device_note = note;
    return 0;
}

int sa_score_both_empty(const sa_grid *grid, const sa_score_options *opt_in, sa_pair_metrics *out,
                        sa_error *err) {
    if (!out) return sa_error_set(err, "no result given");
    sa_score_options opt;
    if (sa_score_options_resolve(grid, opt_in, &opt, err)) return -1;
    sa_mask_scan scan;
    memset(&scan, 0, sizeof scan);
    sa_pair_metrics_finish(grid, &scan, NULL, &opt, out);
    return 0;
}
