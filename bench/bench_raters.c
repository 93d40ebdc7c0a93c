/*
 * bench_raters.c: the multi-rater benchmark. On the MS-sized phantom with 7
 * simulated raters it times SegArena's whole evaluation of one case (STAPLE
 * consensus, every metric against the consensus and each rater, lesion-wise
 * detection; and again with the leave-one-out human reference) against ITK
 * 5.2's STAPLEImageFilter + ConnectedComponentImageFilter doing only their part
 * (the consensus, and the components of the 9 masks the lesion detection needs),
 * and prints the ratios against the targets: >= 5x faster than those ITK
 * filters, whole evaluation < 0.5 s.
 *
 * The ratio compares the same work: SegArena's STAPLE then runs on the whole
 * image, as ITK's does (its default region, the raters' union dilated by 2
 * voxels, is timed too, on an extra line). Before any time is trusted the
 * consensus is checked against ITK's on that region (each rater's sensitivity
 * and specificity, every voxel's W, the mask) and the component counts of the 9
 * masks against ITK's. Every time is the best of --repeat runs, ITK's too; the
 * engine runs on the CPU (device cpu) even in a CUDA build.
 *
 * usage: bench_raters [--raters K] [--repeat N] [--quick]
 * Exit status: 0 everything agrees (whatever the targets), 1 a disagreement or
 * a failure, 2 bad usage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itk_raters_peer.h"
#include "metrics.h"
#include "phantoms.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x5151d2016ull;
static double uniform(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Rater k: the truth with its own boundary habit (wider, tighter or as is), small
 * lesions missed now and then, and a false positive or two. Rater 6 is the
 * conservative one: tighter and misses more. */
static void make_rater(const uint8_t *truth, const uint32_t *labels, uint32_t n_lesions, const uint32_t *volume,
                       const sa_grid *g, int k, uint8_t *out) {
    static const int habit[7] = {0, 1, -1, 0, 1, 0, -1};
    size_t n = sa_grid_voxels(g);
    double miss = k == 6 ? 0.35 : 0.10;
    uint8_t *keep = calloc(n_lesions + 1, 1);
    for (uint32_t l = 1; l <= n_lesions; l++) keep[l] = !(volume[l] < 60 && uniform() < miss);
    uint8_t *tmp = malloc(n);
    for (size_t i = 0; i < n; i++) tmp[i] = truth[i] && keep[labels[i]];
    int h = habit[k % 7];
    if (h)
        bench_morph_step(tmp, out, g->nx, g->ny, g->nz, h > 0);
    else
        memcpy(out, tmp, n);
    int fps = 1 + (int)(uniform() * 2);
    for (int f = 0; f < fps; f++) {
        double c[3] = {0.2 + 0.6 * uniform(), 0.2 + 0.6 * uniform(), 0.2 + 0.6 * uniform()};
        long cx = (long)(c[0] * (double)g->nx), cy = (long)(c[1] * (double)g->ny), cz = (long)(c[2] * (double)g->nz);
        for (long dz = -2; dz <= 2; dz++)
            for (long dy = -2; dy <= 2; dy++)
                for (long dx = -2; dx <= 2; dx++)
                    if (dx * dx + dy * dy + dz * dz <= 4) out[(size_t)(cx + dx) + g->nx * ((size_t)(cy + dy) + g->ny * (size_t)(cz + dz))] = 1;
    }
    free(tmp);
    free(keep);
}

/* PASS or MISS; a quick run's sizes are too small to judge the targets. */
static const char *verdict(int quick, int pass) {
    return quick ? "(quick: not judged)" : pass ? "PASS" : "MISS";
}

static double best_of(int repeat, double (*fn)(void *), void *ctx) {
    double best = 1e30;
    for (int r = 0; r < repeat; r++) {
        double t = fn(ctx);
        if (t < best) best = t;
    }
    return best;
}

typedef struct {
    const uint8_t *pred;
    const uint8_t *const *raters;
    size_t k;
    const sa_grid *g;
    sa_multi_options opt;
    sa_multi_result *result;
    int failed;
} engine_run;

static double run_engine(void *p) {
    engine_run *e = p;
    sa_error err;
    double t0 = now();
    if (sa_score_multi(e->pred, e->raters, e->k, e->g, &e->opt, e->result, &err)) {
        fprintf(stderr, "bench_raters: %s\n", err.msg);
        e->failed = 1;
        return 0;
    }
    double t = now() - t0;
    sa_multi_result_free(e->result);
    return t;
}

int main(int argc, char **argv) {
    int k = 7, repeat = 3, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--raters") && i + 1 < argc) k = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: bench_raters [--raters K] [--repeat N] [--quick]\n");
            return 2;
        }
    }
    if (k < 2 || k > 16 || repeat < 1) {
        fprintf(stderr, "bench_raters: --raters takes 2..16, --repeat >= 1\n");
        return 2;
    }
    bench_phantom_params pp;
    bench_phantom_default_params(BENCH_PHANTOM_MS, quick, &pp);
    bench_phantom ph;
    if (bench_phantom_generate(&pp, &ph)) {
        fprintf(stderr, "bench_raters: phantom generation failed\n");
        return 1;
    }
    sa_grid g = {ph.size[0], ph.size[1], ph.size[2], {ph.spacing[0], ph.spacing[1], ph.spacing[2]}};
    size_t n = sa_grid_voxels(&g);
    sa_error err;

    /* the raters, from the phantom's reference as the truth */
    uint32_t *labels = malloc(n * sizeof *labels), n_lesions = 0;
    if (sa_connected_components(ph.ref, &g, 6, labels, &n_lesions, &err)) {
        fprintf(stderr, "bench_raters: %s\n", err.msg);
        return 1;
    }
    uint32_t *volume = calloc(n_lesions + 1, sizeof *volume);
    for (size_t i = 0; i < n; i++) volume[labels[i]]++;
    uint8_t *raters[16];
    for (int r = 0; r < k; r++) {
        raters[r] = malloc(n);
        make_rater(ph.ref, labels, n_lesions, volume, &g, r, raters[r]);
    }
    printf("SegArena multi-rater benchmark: %d raters on %zux%zux%zu voxels (%.1f M) at %gx%gx%g mm, %u lesions in the truth\n",
           k, g.nx, g.ny, g.nz, (double)n / 1e6, g.spacing[0], g.spacing[1], g.spacing[2], n_lesions);

    sa_multi_result *result = malloc(sizeof *result);
    engine_run e = {.pred = ph.pred, .raters = (const uint8_t *const *)raters, .k = (size_t)k, .g = &g, .result = result};
    sa_multi_options_default(&e.opt);
    e.opt.lesions = 1;
    e.opt.score.device = SA_DEVICE_CPU; /* the CPU engine, even in a CUDA build with a GPU */
    /* [region][threads]: region 0 the whole image (ITK's STAPLE region: the compared
     * work), 1 the dilated union (SegArena's default, what the evaluator runs) */
    const sa_staple_region regions[2] = {SA_STAPLE_IMAGE, SA_STAPLE_DILATED_UNION};
    double t_eval[2][2], t_human[2];
    for (int threads = 1; threads <= 2; threads++) {
        e.opt.score.threads = e.opt.consensus.threads = threads == 1 ? 1 : 0;
        for (int r = 0; r < 2; r++) {
            e.opt.consensus.region = regions[r];
            e.opt.human_reference = 0;
            t_eval[r][threads - 1] = best_of(repeat, run_engine, &e);
        }
        e.opt.consensus.region = SA_STAPLE_DILATED_UNION;
        e.opt.human_reference = 1;
        t_human[threads - 1] = best_of(repeat, run_engine, &e);
    }
    if (e.failed) return 1;

    /* the consensus on ITK's region, for the agreement checks, and the components
     * SegArena finds: raters, consensus, prediction */
    e.opt.score.threads = e.opt.consensus.threads = 1, e.opt.human_reference = 0;
    e.opt.consensus.region = SA_STAPLE_IMAGE;
    if (sa_score_multi(ph.pred, e.raters, (size_t)k, &g, &e.opt, result, &err)) {
        fprintf(stderr, "bench_raters: %s\n", err.msg);
        return 1;
    }
    if (result->gpu_used || !result->consensus.mask || !result->consensus.probability) {
        fprintf(stderr, "bench_raters: the engine %s\n",
                result->gpu_used ? "ran on the GPU although asked for the CPU" : "returned no consensus maps");
        return 1;
    }
    const uint8_t *masks[BENCH_ITK_MAX_MASKS];
    size_t n_masks = 0;
    for (int r = 0; r < k; r++) masks[n_masks++] = raters[r];
    masks[n_masks++] = result->consensus.mask;
    masks[n_masks++] = ph.pred;
    uint32_t ours[BENCH_ITK_MAX_MASKS];
    for (size_t m = 0; m < n_masks; m++)
        if (sa_connected_components(masks[m], &g, 6, labels, &ours[m], &err)) {
            fprintf(stderr, "bench_raters: components of mask %zu: %s\n", m + 1, err.msg);
            return 1;
        }

    bench_itk_raters_result itk;
    double spacing[3] = {g.spacing[0], g.spacing[1], g.spacing[2]};
    double *itk_w = malloc(n * sizeof *itk_w);
    if (!itk_w) {
        fprintf(stderr, "bench_raters: out of memory\n");
        return 1;
    }
    if (bench_itk_staple_and_components((const uint8_t *const *)raters, (size_t)k, masks, n_masks, ph.size, spacing, 1,
                                        repeat, itk_w, &itk)) {
        fprintf(stderr, "bench_raters: ITK: %s\n", itk.error);
        return 1;
    }
    int agree_cc = 1;
    for (size_t m = 0; m < n_masks; m++) agree_cc &= ours[m] == itk.components[m];
    /* The consensus against ITK's, on the same region (test_staple_itk's rules): each
     * rater's sensitivity and specificity and every voxel's W within 1e-6, the masks
     * equal except where ITK's W is within 1e-6 of the 0.5 threshold. */
    const double tol = 1e-6;
    const sa_consensus_result *c = &result->consensus;
    double worst_pq = 0, worst_w = 0;
    size_t mask_diff = 0;
    for (int r = 0; r < k; r++) {
        double dp = fabs(c->sensitivity[r] - itk.sensitivity[r]), dq = fabs(c->specificity[r] - itk.specificity[r]);
        worst_pq = fmax(worst_pq, fmax(dp, dq));
    }
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)c->probability[i] - itk_w[i]);
        if (!(d <= worst_w)) worst_w = d; /* a NaN counts as the worst */
        if (c->mask[i] != (itk_w[i] > 0.5) && !(fabs(itk_w[i] - 0.5) <= tol)) mask_diff++;
    }
    free(itk_w);
    int agree_staple = worst_pq <= tol && worst_w <= tol && mask_diff == 0;
    double t_itk = itk.t_staple + itk.t_components;

    printf("\nagreement: 6-connected component counts of the %zu masks %s (ITK ConnectedComponentImageFilter)\n",
           n_masks, agree_cc ? "identical" : "DIFFER");
    printf("agreement: STAPLE on the whole image (SegArena's region = image, as ITK): %s; largest |difference| of the\n"
           "  sensitivities and specificities %.2g, of W %.2g (tolerance %g), %zu mask voxels differ away from W = 0.5\n",
           agree_staple ? "same consensus" : "DIFFERENT CONSENSUS", worst_pq, worst_w, tol, mask_diff);
    printf("  iterations: SegArena %d (%s), ITK's ElapsedIterations %d (the 0-based index of its last one:\n"
           "  on convergence SegArena's count is ITK's + 1; the two stopping tests may differ by one iteration)\n",
           c->iterations, c->converged ? "converged" : "not converged", itk.staple_iterations);
    for (int r = 0; r < k; r++)
        printf("  rater %d  sensitivity %.6f / ITK %.6f   specificity %.6f / ITK %.6f\n", r + 1, c->sensitivity[r],
               itk.sensitivity[r], c->specificity[r], itk.specificity[r]);
    printf("\n%-76s %10s\n", "", "seconds");
    printf("%-76s %10.4f\n", "ITK STAPLEImageFilter, 1 thread", itk.t_staple);
    printf("%-76s %10.4f\n", "ITK ConnectedComponentImageFilter x 9 masks, 1 thread", itk.t_components);
    printf("%-76s %10.4f\n", "SegArena whole evaluation, STAPLE on the whole image, 1 thread", t_eval[0][0]);
    printf("%-76s %10.4f\n", "SegArena whole evaluation, STAPLE on the whole image, all cores", t_eval[0][1]);
    printf("%-76s %10.4f\n", "SegArena whole evaluation, STAPLE on the dilated union (default), 1 thread",
           t_eval[1][0]);
    printf("%-76s %10.4f\n", "SegArena whole evaluation, STAPLE on the dilated union (default), all cores",
           t_eval[1][1]);
    printf("%-76s %10.4f\n", "SegArena with the human reference (dilated union), 1 thread", t_human[0]);
    printf("%-76s %10.4f\n", "SegArena with the human reference (dilated union), all cores", t_human[1]);
    printf("  (every time is the best of %d runs, ITK's too; whole evaluation = STAPLE consensus + every\n"
           "   metric against the consensus and each of the %d raters + lesion detection for those %d\n"
           "   comparisons; CPU engine)\n", repeat, k, k + 1);
    double ratio = t_itk / t_eval[0][0];
    printf("\n=== targets%s\n", quick ? " (quick run: sizes too small to judge them; run without --quick)" : "");
    printf("  %s  ITK filters (their part only) / SegArena whole evaluation, STAPLE on the whole image as ITK's,\n"
           "        1 thread = %.1fx (target >= 5x)\n", verdict(quick, ratio >= 5), ratio);
    printf("  %s  whole evaluation of one case (default region), all cores = %.3f s (target < 0.5 s)\n",
           verdict(quick, t_eval[1][1] < 0.5), t_eval[1][1]);
    printf("  %s  with the human reference, all cores = %.3f s (same target, for information)\n",
           verdict(quick, t_human[1] < 0.5), t_human[1]);
    sa_multi_result_free(result);
    free(result);
    for (int r = 0; r < k; r++) free(raters[r]);
    free(labels), free(volume);
    bench_phantom_free(&ph);
    if (!agree_cc || !agree_staple) {
        printf("RESULT: SegArena and ITK disagree (above): the numbers cannot be trusted\n");
        return 1;
    }
    return 0;
}
