/*
 * test_consensus_gpu.c: the GPU consensus (sa_gpu_consensus, metrics/cuda/
 * consensus_gpu.cu) against the CPU's sa_consensus, field for field and bit for
 * bit: majority, STAPLE on the dilated union (d = 0, 1, 2, 5, 8, 13) and on the
 * whole image, on random and phantom-like rater sets (k = 1..8, 15 and 16, the
 * GPU's limit: 16-bit patterns, a 65,536-entry table), grids of many
 * shapes (single voxels, 1-voxel-thick, anisotropic, rows longer than a block),
 * empty raters, all-empty sets and raters touching the border. The raters are
 * uploaded with a prediction-like mask and in shuffled slots, so the GPU must
 * renumber the raters' bits in rater order. Exits 77 (skipped) without a GPU.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "metrics.h"
#include "test.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static size_t rng_below(size_t n) { return (size_t)(rng_next() % n); }
static double rng_uniform(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }

static int cases_run, cases_failed;

/* Every field of two results the same, bit for bit. */
static int same_result(const sa_consensus_result *a, const sa_consensus_result *b, size_t nvox) {
    if (a->raters != b->raters) return 0;
    if (memcmp(a->mask, b->mask, nvox) != 0) return 0;
    if (memcmp(a->probability, b->probability, nvox * sizeof *a->probability) != 0) return 0;
    for (int r = 0; r < SA_MAX_RATERS; r++)
        if (!(a->sensitivity[r] == b->sensitivity[r]) || !(a->specificity[r] == b->specificity[r])) return 0;
    if (memcmp(a->sensitivity, b->sensitivity, sizeof a->sensitivity) != 0) return 0; /* also the sign of 0 */
    if (memcmp(a->specificity, b->specificity, sizeof a->specificity) != 0) return 0;
    return a->prior == b->prior && memcmp(&a->prior, &b->prior, sizeof a->prior) == 0 &&
           a->iterations == b->iterations && a->converged == b->converged &&
           a->region_voxels == b->region_voxels;
}

static void explain(const sa_consensus_result *gpu, const sa_consensus_result *cpu, size_t nvox) {
    fprintf(stderr, "    raters %zu/%zu prior %.17g/%.17g iterations %d/%d converged %d/%d region %llu/%llu\n",
            gpu->raters, cpu->raters, gpu->prior, cpu->prior, gpu->iterations, cpu->iterations, gpu->converged,
            cpu->converged, (unsigned long long)gpu->region_voxels, (unsigned long long)cpu->region_voxels);
    size_t bad = 0;
    for (size_t i = 0; i < nvox && bad < 5; i++)
        if (gpu->mask[i] != cpu->mask[i] || memcmp(&gpu->probability[i], &cpu->probability[i], sizeof(float))) {
            fprintf(stderr, "    voxel %zu: gpu %d %.9g, cpu %d %.9g\n", i, gpu->mask[i], gpu->probability[i],
                    cpu->mask[i], cpu->probability[i]);
            bad++;
        }
    for (int r = 0; r < SA_MAX_RATERS; r++)
        if (!(gpu->sensitivity[r] == cpu->sensitivity[r]) || !(gpu->specificity[r] == cpu->specificity[r]))
            fprintf(stderr, "    rater %d: p %.17g/%.17g q %.17g/%.17g\n", r, gpu->sensitivity[r],
                    cpu->sensitivity[r], gpu->specificity[r], cpu->specificity[r]);
}

/* ---- rater sets ------------------------------------------------------------------- */

enum { GEN_NOISE, GEN_BLOBS, GEN_BORDER, GEN_SPARSE, GEN_COUNT };

/* Balls around shared centres with per-rater radii and a little noise, as raters
 * of the same lesions; some raters empty, some full. */
static void make_raters(uint8_t **r, size_t k, const sa_grid *g, int gen) {
    size_t n = sa_grid_voxels(g);
    double c[4][3], rad[4];
    int nb = 1 + (int)rng_below(4);
    for (int b = 0; b < nb; b++) {
        if (gen == GEN_BORDER) { /* at corners and faces */
            c[b][0] = rng_below(2) ? 0 : (double)(g->nx - 1);
            c[b][1] = rng_below(2) ? 0 : (double)(g->ny - 1);
            c[b][2] = (double)rng_below(g->nz);
        } else {
            c[b][0] = (double)rng_below(g->nx);
            c[b][1] = (double)rng_below(g->ny);
            c[b][2] = (double)rng_below(g->nz);
        }
        rad[b] = 0.5 + 4.0 * rng_uniform();
    }
    double density = rng_uniform() * 0.6;
    for (size_t j = 0; j < k; j++) {
        int kind = (int)rng_below(12); /* 0: empty, 1: full, else the generator */
        double grow = 2.0 * rng_uniform() - 0.8;
        for (size_t i = 0; i < n; i++) {
            size_t x = i % g->nx, y = i / g->nx % g->ny, z = i / g->nx / g->ny;
            uint8_t v = 0;
            if (kind == 0) {
                v = 0;
            } else if (kind == 1 && gen != GEN_SPARSE) {
                v = 1;
            } else if (gen == GEN_NOISE) {
                v = rng_uniform() < density;
            } else if (gen == GEN_SPARSE) {
                v = rng_uniform() < 0.002;
            } else {
                for (int b = 0; b < nb && !v; b++) {
                    double dx = (double)x - c[b][0], dy = (double)y - c[b][1], dz = (double)z - c[b][2];
                    double rr = rad[b] + grow;
                    v = dx * dx + dy * dy + dz * dz <= rr * rr;
                }
                if (rng_uniform() < 0.01) v = !v;
            }
            r[j][i] = v ? (uint8_t)(1 + rng_below(255)) : 0; /* any non-zero byte is inside */
        }
    }
}

/* ---- one case ---------------------------------------------------------------------- */

static void one_option(sa_gpu_masks *m, const int *slots, uint8_t *const *raters, size_t k, const sa_grid *g,
                       const sa_consensus_options *opt, const char *what) {
    size_t nvox = sa_grid_voxels(g);
    sa_consensus_result gpu, cpu;
    sa_error err;
    int slot = -1;
    cases_run++;
    int rc = sa_gpu_consensus(m, slots, k, opt, SA_GPU_MAPS_ALL, &gpu, &slot, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  %s: sa_gpu_consensus failed: %s\n", what, err.msg);
        cases_failed++;
        return;
    }
    CHECK(slot >= 0);
    for (int threads = 1; threads >= 0; threads--) {
        sa_consensus_options o = *opt;
        o.threads = threads;
        CHECK(sa_consensus((const uint8_t *const *)raters, k, g, &o, &cpu, &err) == 0);
        int same = same_result(&gpu, &cpu, nvox);
        CHECK(same);
        if (!same) {
            fprintf(stderr, "  %s (grid %zux%zux%zu, k %zu, threads %d) differs:\n", what, g->nx, g->ny, g->nz, k,
                    threads);
            explain(&gpu, &cpu, nvox);
            cases_failed++;
        }
        sa_consensus_free(&cpu);
    }
    /* the slot holds the mask: the consensus of that one "rater" is it */
    if (slot >= 0) {
        sa_consensus_result again;
        sa_consensus_options o;
        sa_consensus_options_default(&o);
        o.method = SA_CONSENSUS_MAJORITY;
        int again_slot = -1;
        CHECK(sa_gpu_consensus(m, &slot, 1, &o, SA_GPU_MAPS_ALL, &again, &again_slot, &err) == 0);
        CHECK(again.mask && memcmp(again.mask, gpu.mask, nvox) == 0);
        sa_consensus_free(&again);
        sa_gpu_masks_release(m, again_slot);
        sa_gpu_masks_release(m, slot);
    }
    sa_consensus_free(&gpu);
}

static void one_case(const sa_grid *g, size_t k, int gen) {
    size_t nvox = sa_grid_voxels(g);
    uint8_t *raters[SA_MAX_RATERS], *pred = malloc(nvox);
    for (size_t j = 0; j < k; j++) raters[j] = malloc(nvox);
    CHECK(pred != NULL);
    make_raters(raters, k, g, gen);
    for (size_t i = 0; i < nvox; i++) pred[i] = rng_uniform() < 0.3;

    /* upload order: a shuffle of the raters and (when there is room) the prediction */
    size_t count = k < SA_GPU_MAX_UPLOAD ? k + 1 : k;
    const uint8_t *up[SA_GPU_MAX_UPLOAD];
    size_t perm[SA_GPU_MAX_UPLOAD];
    for (size_t i = 0; i < count; i++) perm[i] = i;
    for (size_t i = count; i > 1; i--) {
        size_t t = rng_below(i), s = perm[i - 1];
        perm[i - 1] = perm[t], perm[t] = s;
    }
    int slots[SA_MAX_RATERS];
    for (size_t s = 0; s < count; s++) {
        size_t who = perm[s]; /* who < k: rater who; k: the prediction */
        up[s] = who < k ? raters[who] : pred;
        if (who < k) slots[who] = (int)s;
    }
    sa_gpu_masks *m = NULL;
    sa_error err;
    int rc = sa_gpu_masks_upload(up, count, g, 1 + (int)rng_below(3), &m, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  upload failed: %s\n", err.msg);
        cases_failed++;
    } else {
        char what[128];
        sa_consensus_options opt;
        sa_consensus_options_default(&opt);
        if (rng_below(6) == 0) opt.threshold = rng_below(2) ? -0.25 : 0.9;
        if (rng_below(8) == 0) opt.max_iterations = 1 + (int)rng_below(3);

        opt.method = SA_CONSENSUS_MAJORITY;
        snprintf(what, sizeof what, "majority (gen %d)", gen);
        one_option(m, slots, raters, k, g, &opt, what);

        opt.method = SA_CONSENSUS_STAPLE;
        opt.region = SA_STAPLE_DILATED_UNION;
        /* up to 8 the window passes, beyond the line sweeps */
        const int dil[6] = {0, 1, 2, 5, 8, 13};
        for (int d = 0; d < 6; d++) {
            opt.dilation_voxels = dil[d];
            snprintf(what, sizeof what, "staple dilated_union d=%d thr=%g it=%d (gen %d)", dil[d], opt.threshold,
                     opt.max_iterations, gen);
            one_option(m, slots, raters, k, g, &opt, what);
        }
        opt.region = SA_STAPLE_IMAGE;
        snprintf(what, sizeof what, "staple image thr=%g it=%d (gen %d)", opt.threshold, opt.max_iterations, gen);
        one_option(m, slots, raters, k, g, &opt, what);
        sa_gpu_masks_free(m);
    }
    for (size_t j = 0; j < k; j++) free(raters[j]);
    free(pred);
}

/* Every rater empty, on the dilated union and the whole image. */
static void all_empty(const sa_grid *g, size_t k) {
    size_t nvox = sa_grid_voxels(g);
    uint8_t *z = calloc(nvox, 1);
    uint8_t *raters[SA_MAX_RATERS];
    const uint8_t *up[SA_GPU_MAX_UPLOAD];
    int slots[SA_MAX_RATERS];
    for (size_t j = 0; j < k; j++) raters[j] = z, up[j] = z, slots[j] = (int)j;
    sa_gpu_masks *m = NULL;
    sa_error err;
    CHECK(sa_gpu_masks_upload(up, k, g, 1, &m, &err) == 0);
    if (!m) return;
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    one_option(m, slots, raters, k, g, &opt, "all empty, dilated union");
    opt.region = SA_STAPLE_IMAGE;
    one_option(m, slots, raters, k, g, &opt, "all empty, image");
    opt.threshold = -1; /* still empty: nobody marks anything */
    one_option(m, slots, raters, k, g, &opt, "all empty, image, threshold -1");
    opt.method = SA_CONSENSUS_MAJORITY;
    one_option(m, slots, raters, k, g, &opt, "all empty, majority");
    sa_gpu_masks_free(m);
    free(z);
}

/* Bad arguments: -1 with a message, the result zeroed. */
static void errors(void) {
    sa_grid g = {4, 3, 2, {1, 1, 1}};
    uint8_t a[24] = {1}, b[24] = {0};
    const uint8_t *up[2] = {a, b};
    sa_gpu_masks *m = NULL;
    sa_error err;
    CHECK(sa_gpu_masks_upload(up, 2, &g, 1, &m, &err) == 0);
    if (!m) return;
    sa_consensus_result r;
    int slot = 7, slots[3] = {0, 1, 40};
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    CHECK(sa_gpu_consensus(m, slots, 0, &opt, SA_GPU_MAPS_ALL, &r, &slot, &err) == -1 && slot == -1 && r.mask == NULL);
    CHECK(sa_gpu_consensus(m, slots, 3, &opt, SA_GPU_MAPS_ALL, &r, &slot, &err) == -1 && r.mask == NULL); /* slot 40 is empty */
    opt.dilation_voxels = -1;
    CHECK(sa_gpu_consensus(m, slots, 2, &opt, SA_GPU_MAPS_ALL, &r, &slot, &err) == -1 && r.mask == NULL);
    CHECK_STR_CONTAINS(err.msg, "dilation_voxels");
    sa_consensus_options_default(&opt);
    CHECK(sa_gpu_consensus(m, slots, 2, &opt, SA_GPU_MAPS_ALL, &r, NULL, &err) == 0 && r.mask != NULL); /* no slot wanted */
    sa_consensus_free(&r);
    CHECK(sa_gpu_consensus(m, slots, 2, NULL, SA_GPU_MAPS_ALL, &r, &slot, &err) == 0 && slot >= 2); /* default options */
    sa_consensus_free(&r);
    sa_gpu_masks_release(m, slot);
    sa_gpu_masks_release(m, 0); /* an uploaded slot: not released */
    CHECK(sa_gpu_consensus(m, slots, 2, NULL, SA_GPU_MAPS_ALL, &r, &slot, &err) == 0);
    sa_consensus_free(&r);
    sa_gpu_masks_free(m);
}

/* sa_consensus_on_device (segarena consensus --device): gpu and auto on a large
 * image run on the GPU with sa_consensus's result; auto on a small one, and cpu,
 * stay on the CPU (auto says why); 16 raters run on the GPU; 17 are more than
 * the GPU takes (an
 * error with gpu, the CPU with auto); a missing rater mask or a bad option is
 * refused, with the CPU's message, before anything is uploaded. */
static void on_device(void) {
    sa_grid big = {256, 256, 72, {0.7, 0.7, 1.5}}, small = {40, 30, 20, {1, 1, 1}};
    enum { K = 17 };
    uint8_t *raters[K];
    size_t nvox = sa_grid_voxels(&big);
    for (size_t r = 0; r < K; r++) raters[r] = malloc(nvox);
    make_raters(raters, K, &big, GEN_BLOBS);
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    sa_consensus_result cpu, dev;
    sa_error err;
    for (int small_grid = 0; small_grid < 2; small_grid++) {
        const sa_grid *g = small_grid ? &small : &big;
        size_t n = sa_grid_voxels(g);
        CHECK(sa_consensus((const uint8_t *const *)raters, 7, g, &opt, &cpu, &err) == 0);
        for (int d = 0; d < 3; d++) {
            sa_device want = d == 0 ? SA_DEVICE_AUTO : d == 1 ? SA_DEVICE_CPU : SA_DEVICE_GPU;
            int rc = sa_consensus_on_device((const uint8_t *const *)raters, 7, g, &opt, want, &dev, &err);
            CHECK(rc == 0);
            if (rc) continue;
            int gpu_expected = want == SA_DEVICE_GPU || (want == SA_DEVICE_AUTO && !small_grid);
            CHECK(dev.gpu_used == gpu_expected);
            CHECK((dev.device_note != NULL) == (want == SA_DEVICE_AUTO && small_grid));
            CHECK(same_result(&dev, &cpu, n));
            sa_consensus_free(&dev);
        }
        sa_consensus_free(&cpu);
    }
    /* 16 raters, the most the GPU takes: on the GPU with gpu and auto */
    CHECK(sa_consensus((const uint8_t *const *)raters, 16, &big, &opt, &cpu, &err) == 0);
    for (int d = 0; d < 2; d++) {
        int rc = sa_consensus_on_device((const uint8_t *const *)raters, 16, &big, &opt,
                                        d ? SA_DEVICE_GPU : SA_DEVICE_AUTO, &dev, &err);
        CHECK(rc == 0);
        if (rc) continue;
        CHECK(dev.gpu_used == 1 && dev.device_note == NULL && same_result(&dev, &cpu, nvox));
        sa_consensus_free(&dev);
    }
    sa_consensus_free(&cpu);
    CHECK(sa_consensus_on_device((const uint8_t *const *)raters, K, &big, &opt, SA_DEVICE_GPU, &dev, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "at most 16 raters");
    CHECK(sa_consensus_on_device((const uint8_t *const *)raters, K, &big, &opt, SA_DEVICE_AUTO, &dev, &err) == 0);
    CHECK(dev.gpu_used == 0 && dev.device_note != NULL);
    CHECK(sa_consensus((const uint8_t *const *)raters, K, &big, &opt, &cpu, &err) == 0 && same_result(&dev, &cpu, nvox));
    sa_consensus_free(&dev), sa_consensus_free(&cpu);

    /* a missing rater mask is refused before the upload, whose packers read
     * every mask (it crashed them), with the CPU's message; so is a bad option */
    const uint8_t *missing[2] = {raters[0], NULL};
    sa_multi_options mo;
    sa_multi_options_default(&mo);
    sa_multi_result *multi = malloc(sizeof *multi);
    for (int d = 0; d < 2; d++) {
        sa_device want = d ? SA_DEVICE_GPU : SA_DEVICE_AUTO;
        CHECK(sa_consensus_on_device(missing, 2, &big, &opt, want, &dev, &err) == -1 && dev.mask == NULL);
        CHECK_STR_CONTAINS(err.msg, "consensus: rater 2 has no mask");
        mo.score.device = want;
        CHECK(sa_score_multi(raters[1], missing, 2, &big, &mo, multi, &err) == -1 && multi->consensus.mask == NULL);
        CHECK_STR_CONTAINS(err.msg, "consensus: rater 2 has no mask");
        sa_consensus_options bad = opt;
        bad.dilation_voxels = -3;
        CHECK(sa_consensus_on_device((const uint8_t *const *)raters, 3, &big, &bad, want, &dev, &err) == -1);
        CHECK_STR_CONTAINS(err.msg, "dilation_voxels -3");
    }
    free(multi);
    sa_gpu_masks *m = NULL;
    CHECK(sa_gpu_masks_upload(missing, 2, &big, 1, &m, &err) == -1 && m == NULL);
    CHECK_STR_CONTAINS(err.msg, "mask 2 of 2 to upload is missing");
    for (size_t r = 0; r < K; r++) free(raters[r]);
}

int main(void) {
    sa_error err;
    if (sa_gpu_device_count(&err) == 0) {
        printf("SKIP: %s\n", err.msg);
        return 77;
    }
    static const size_t grids[][3] = {
        {1, 1, 1},    {1, 1, 9},   {9, 1, 1},    {1, 11, 1},  {2, 2, 2},    {33, 1, 5},   {1, 40, 30},
        {64, 48, 3},  {300, 2, 2}, {257, 3, 4},  {17, 19, 23}, {5, 70, 9},  {31, 33, 1},  {40, 40, 40},
        {96, 80, 24},
    };
    static const size_t ks[] = {1, 2, 3, 4, 5, 6, 7, 8, 15, 16};
    size_t ng = sizeof grids / sizeof grids[0], nk = sizeof ks / sizeof ks[0];
    for (size_t gi = 0; gi < ng; gi++) {
        sa_grid g = {grids[gi][0], grids[gi][1], grids[gi][2], {1.0, 0.8, 2.5}};
        for (size_t ki = 0; ki < nk; ki++)
            for (int gen = 0; gen < GEN_COUNT; gen++) {
                if (sa_grid_voxels(&g) > 20000 && (ki + (size_t)gen) % 3 != 0) continue; /* keep it quick */
                one_case(&g, ks[ki], gen);
            }
        all_empty(&g, 1 + gi % 8);
    }
    /* one large grid: many blocks, shared and global histograms, k = 12, 13 */
    {
        sa_grid g = {160, 150, 120, {0.5, 0.5, 1.0}};
        one_case(&g, 12, GEN_BLOBS);
        one_case(&g, 13, GEN_NOISE);
        one_case(&g, 15, GEN_BORDER);
        /* the GPU's limit: 16 raters, 16-bit patterns, a 65,536-entry table (the
         * histogram in global memory); noise gives most of the patterns */
        one_case(&g, 16, GEN_NOISE);
        one_case(&g, 16, GEN_BLOBS);
    }
    errors();
    on_device();
    printf("%d cases, %d differing\n", cases_run, cases_failed);
    return test_report("test_consensus_gpu");
}
