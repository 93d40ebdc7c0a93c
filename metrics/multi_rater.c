/*
 * multi_rater.c: a prediction against several raters, as the spec's "Several
 * raters per case" asks: against their consensus (the ranked scores), against
 * each rater, the mean over raters, and the human reference (each rater against
 * the consensus of the others). Lesion sets are found once per mask and reused
 * by every comparison that involves that mask.
 *
 * On the GPU (device.c decides) the K raters and the prediction are uploaded
 * once; consensus, surfaces and distances are computed there, and only lesion
 * detection (connected components) runs on the CPU, on the host copies.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gpu.h"

void sa_multi_options_default(sa_multi_options *opt) {
    memset(opt, 0, sizeof *opt);
    sa_score_options_default(&opt->score);
    sa_consensus_options_default(&opt->consensus);
    sa_lesion_options_default(&opt->lesion);
    opt->consensus_maps = 1;
}

void sa_multi_result_free(sa_multi_result *r) {
    if (r) sa_consensus_free(&r->consensus);
}

static void mean_of_values(const sa_value *v, size_t n, sa_value *mean, unsigned *defined) {
    double sum = 0;
    unsigned count = 0;
    const char *reason = NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i].reason) {
            if (!reason) reason = v[i].reason;
            continue;
        }
        sum += v[i].value;
        count++;
    }
    *defined = count;
    *mean = count ? (sa_value){sum / count, NULL} : (sa_value){0.0, reason};
}

void sa_scores_mean_of(const sa_scores *each, size_t n, sa_scores_mean *out) {
    memset(out, 0, sizeof *out);
    out->raters = (unsigned)n;
    sa_value values[SA_MAX_RATERS];
    if (n > SA_MAX_RATERS) n = SA_MAX_RATERS;
    size_t count;
    const sa_metric_info *table = sa_metric_table(&count);
    for (size_t m = 0; m < count && m < 24; m++) {
        for (size_t i = 0; i < n; i++) values[i] = sa_metric_get(&each[i].pair, &table[m]);
        mean_of_values(values, n, &out->pair[m], &out->pair_defined[m]);
    }
    out->has_lesions = n > 0 && each[0].has_lesions;
    if (!out->has_lesions) return;
    const sa_lesion_metric_info *lt = sa_lesion_metric_table(&count);
    for (size_t m = 0; m < count && m < 12; m++) {
        for (size_t i = 0; i < n; i++) {
            const char *field = (const char *)&each[i].lesions + lt[m].offset;
            if (lt[m].is_count) {
                uint64_t c;
                memcpy(&c, field, sizeof c);
                values[i] = (sa_value){(double)c, NULL};
            } else {
                memcpy(&values[i], field, sizeof values[i]);
            }
        }
        mean_of_values(values, n, &out->lesion[m], &out->lesion_defined[m]);
    }
}

/* The GPU side of a multi-rater scoring: masks uploaded once (raters in slots
 * 0..k-1, the prediction in slot k); NULL on the CPU path. */
typedef struct gpu_side {
    sa_gpu_masks *masks;
    int pred_slot;
} gpu_side;

/* One comparison; ref_lesions and pred_lesions are NULL without lesions. On the
 * GPU the masks are the slots ref_slot and gpu->pred_slot. */
static int compare(const uint8_t *ref, const uint8_t *pred, const gpu_side *gpu, int ref_slot,
                   const sa_lesions *ref_lesions, const sa_lesions *pred_lesions, const sa_grid *g,
                   const sa_multi_options *opt, sa_scores *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    if (gpu) {
        sa_score_options so;
        if (sa_score_options_resolve(g, &opt->score, &so, err)) return -1;
        sa_mask_scan scan;
        sa_surface_summary surf;
        int rc = sa_gpu_score_slots(gpu->masks, ref_slot, gpu->pred_slot, so.tau_mm, &scan, &surf, err);
        if (rc) return rc;
        sa_pair_metrics_finish(g, &scan, &surf, &so, &out->pair);
        out->pair.gpu_used = 1;
    } else if (sa_score_pair(ref, pred, g, &opt->score, &out->pair, err)) {
        return -1;
    }
    if (ref_lesions && pred_lesions) {
        if (sa_lesions_match(ref_lesions, pred_lesions, &opt->lesion, &out->lesions, err)) return -1;
        out->has_lesions = 1;
    }
    return 0;
}

/* The consensus of raters[i] for the i listed in which[0..n-1], on the GPU
 * (then *slot is its slot there) or on the CPU (*slot = -1). */
static int consensus_of(const uint8_t *const *raters, const int *which, size_t n, const gpu_side *gpu,
                        const sa_grid *g, const sa_consensus_options *opt, unsigned maps, sa_consensus_result *out,
                        int *slot, sa_error *err) {
    *slot = -1;
    if (gpu) return sa_gpu_consensus(gpu->masks, which, n, opt, maps, out, slot, err);
    const uint8_t *chosen[SA_MAX_RATERS];
    for (size_t i = 0; i < n; i++) chosen[i] = raters[which[i]];
    return sa_consensus(chosen, n, g, opt, out, err);
}

/* Each rater against the consensus of the other k - 1. */
static int human_reference(const uint8_t *const *raters, size_t k, const sa_grid *g, const gpu_side *gpu,
                           sa_lesions *const *rater_lesions, const sa_multi_options *opt,
                           sa_multi_result *out, sa_error *err) {
    int others[SA_MAX_RATERS];
    for (size_t left_out = 0; left_out < k; left_out++) {
        size_t n = 0;
        for (size_t i = 0; i < k; i++)
            if (i != left_out) others[n++] = (int)i;
        sa_consensus_result c;
        int slot;
        int rc = consensus_of(raters, others, n, gpu, g, &opt->consensus, opt->lesions ? SA_GPU_MAP_MASK : 0, &c,
                              &slot, err);
        if (rc) return rc;
        sa_lesions *cl = NULL;
        rc = opt->lesions ? sa_lesions_find(c.mask, g, &opt->lesion, &cl, err) : 0;
        if (rc == 0) {
            /* rater left_out is the "prediction" here: on the GPU, its slot */
            gpu_side as_pred = gpu ? (gpu_side){gpu->masks, (int)left_out} : (gpu_side){NULL, 0};
            rc = compare(c.mask, raters[left_out], gpu ? &as_pred : NULL, slot, cl,
                         opt->lesions ? rater_lesions[left_out] : NULL, g, opt, &out->human_reference[left_out], err);
        }
        if (gpu) sa_gpu_masks_release(gpu->masks, slot);
        sa_lesions_free(cl);
        sa_consensus_free(&c);
        if (rc) return rc;
    }
    out->has_human_reference = 1;
    return 0;
}

/* Everything after the options are checked, on the GPU (gpu != NULL) or the
 * CPU. Returns 0, -1, or SA_GPU_NO_MEMORY (out freed: the caller may retry on
 * the CPU). */
static int score_multi_on(const uint8_t *pred, const uint8_t *const *raters, size_t k, const sa_grid *g,
                          const sa_multi_options *opt, const gpu_side *gpu, sa_multi_result *out, sa_error *err) {
    sa_lesions *pred_lesions = NULL, *consensus_lesions = NULL, *rater_lesions[SA_MAX_RATERS] = {0};
    int all[SA_MAX_RATERS], consensus_slot = -1;
    for (size_t i = 0; i < k; i++) all[i] = (int)i;
    unsigned maps = opt->consensus_maps ? SA_GPU_MAPS_ALL : (opt->lesions ? SA_GPU_MAP_MASK : 0);
    int rc = consensus_of(raters, all, k, gpu, g, &opt->consensus, maps, &out->consensus, &consensus_slot, err);
    if (rc) goto done;
    rc = -1;
    if (opt->lesions) {
        if (sa_lesions_find(pred, g, &opt->lesion, &pred_lesions, err) ||
            sa_lesions_find(out->consensus.mask, g, &opt->lesion, &consensus_lesions, err))
            goto done;
        for (size_t i = 0; i < k; i++)
            if (sa_lesions_find(raters[i], g, &opt->lesion, &rater_lesions[i], err)) goto done;
    }
    rc = compare(out->consensus.mask, pred, gpu, consensus_slot, consensus_lesions, pred_lesions, g, opt,
                 &out->vs_consensus, err);
    for (size_t i = 0; i < k && !rc; i++)
        rc = compare(raters[i], pred, gpu, (int)i, rater_lesions[i], pred_lesions, g, opt, &out->vs_rater[i], err);
    if (rc) goto done;
    sa_scores_mean_of(out->vs_rater, k, &out->rater_mean);
    if (opt->human_reference) rc = human_reference(raters, k, g, gpu, rater_lesions, opt, out, err);
done:
    sa_lesions_free(pred_lesions);
    sa_lesions_free(consensus_lesions);
    for (size_t i = 0; i < k && i < SA_MAX_RATERS; i++) sa_lesions_free(rater_lesions[i]);
    if (rc) sa_multi_result_free(out);
    return rc;
}

/* Everything sa_score_multi needs of its arguments, checked before the device is
 * chosen (the GPU path reads every mask at once, in the upload; the CPU path would
 * find a missing mask or a bad option only part way). */
static int multi_check(const uint8_t *pred, const uint8_t *const *raters, size_t k, const sa_grid *g,
                       const sa_multi_options *opt, sa_error *err) {
    if (!pred || !raters) return sa_error_set(err, "no mask given");
    if (k < 1 || k > SA_MAX_RATERS) return sa_error_set(err, "%zu raters: between 1 and %d are supported", k, SA_MAX_RATERS);
    if (opt->human_reference && k < 2) return sa_error_set(err, "the human reference needs at least 2 raters");
    if (sa_consensus_check(raters, k, g, &opt->consensus, err)) return -1; /* the grid, every rater */
    sa_score_options resolved;
    if (sa_score_options_resolve(g, &opt->score, &resolved, err)) return -1;
    if (opt->lesions && sa_lesion_options_check(&opt->lesion, err)) return -1;
    return 0;
}

int sa_score_multi(const uint8_t *pred, const uint8_t *const *raters, size_t k, const sa_grid *g,
                   const sa_multi_options *opt_in, sa_multi_result *out, sa_error *err) {
    sa_multi_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        sa_multi_options_default(&opt);
    memset(out, 0, sizeof *out);
    if (multi_check(pred, raters, k, g, &opt, err)) return -1;

    const char *note = NULL;
    int on_gpu;
    if (opt.score.device == SA_DEVICE_AUTO && k + 1 > SA_GPU_MAX_UPLOAD) {
        on_gpu = 0; /* decided before the GPU is asked: auto would not start it for nothing */
        note = "more raters than the GPU path takes: computed on the CPU";
    } else {
        on_gpu = sa_device_choose(opt.score.device, sa_grid_voxels(g), sa_multi_comparisons(k, &opt),
                                  opt.score.threads, &note, err);
        if (on_gpu < 0) return -1;
        if (on_gpu && k + 1 > SA_GPU_MAX_UPLOAD) /* gpu asked for */
            return sa_error_set(err, "--device gpu: at most %d raters on the GPU, %zu given", SA_GPU_MAX_UPLOAD - 1, k);
    }
    if (on_gpu) {
        const uint8_t *masks[SA_GPU_MAX_UPLOAD];
        for (size_t i = 0; i < k; i++) masks[i] = raters[i];
        masks[k] = pred;
        gpu_side gpu = {NULL, (int)k};
        int rc = sa_gpu_masks_upload(masks, k + 1, g, opt.score.threads, &gpu.masks, err);
        if (rc == 0) {
            out->raters = k;
            rc = score_multi_on(pred, raters, k, g, &opt, &gpu, out, err);
        }
        sa_gpu_masks_free(gpu.masks);
        if (rc == 0) {
            out->gpu_used = out->consensus.gpu_used = 1;
            return 0;
        }
        if (opt.score.device == SA_DEVICE_GPU) return -1; /* err says what went wrong */
        /* auto: the CPU gives the same numbers (out was freed on the way out) */
        note = sa_gpu_fallback_note(rc);
        memset(out, 0, sizeof *out);
    }
    /* the CPU path: the pairs must not go back to the GPU one by one */
    opt.score.device = SA_DEVICE_CPU;
    out->raters = k;
    int rc = score_multi_on(pred, raters, k, g, &opt, NULL, out, err);
    if (rc) return -1;
    out->device_note = out->consensus.device_note = note;
    out->vs_consensus.pair.device_note = note;
    for (size_t i = 0; i < k; i++) {
        out->vs_rater[i].pair.device_note = note;
        if (out->has_human_reference) out->human_reference[i].pair.device_note = note;
    }
    return 0;
}
