/*
 * bench_gpu.c: the GPU engine against the CPU engine on all cores of the same
 * machine, on CT-sized volumes (512x512x300 at 0.7x0.7x1 mm, and 512^3 at 1 mm)
 * with 7 simulated raters, and the dense transform alone (whose time
 * bench_gpu.py sets against CuPy's distance_transform_edt).
 *
 * For each volume it times, after one warm-up run, the best of --repeat runs
 * (on the CPU too, unless --cpu-repeat says otherwise), masks already in memory:
 *   - "vs consensus": the STAPLE consensus of the 7 raters and every overlap and
 *     surface metric of the prediction against it (the ranked scores);
 *   - "multi": that plus every metric against each of the 7 raters;
 * on the CPU (every online core) and on the GPU (end to end from host masks:
 * packing, upload, kernels, results back), with the GPU time split into its
 * steps; checks that both give the same numbers, bit for bit; and times the
 * dense transform of the whole grid on the GPU (kernels only) and the CPU
 * engine's sa_edt_squared on all cores.
 * Lesion-wise detection (connected components) is not included: it runs on the
 * CPU on both paths. The CPU side does a little more work: sa_consensus always
 * writes STAPLE's W as a float map (over the raters' box) besides the mask, while
 * the GPU path asks for no maps (docs/benchmarks.md gives what W costs).
 *
 * A third, smaller volume (160^3 = 4.1 M voxels) shows the GPU's lead on a small
 * volume; --sweep and --cold below give where it starts to win.
 *
 * --sweep times, instead, one pair and the 7-rater case on cubes from 64^3 to
 * 256^3 (32^3 and 48^3 too), CPU against GPU, for --device auto's rule, warm; --cold times
 * what a fresh process pays on one size, for one pair or (--multi) 7 raters (run
 * once per size, each a new process).
 *
 * usage: bench_gpu [--quick|--sweep|--cold NX NY NZ [--multi]] [--repeat N] [--cpu-repeat N] [--only 300|512|160]
 *                  [--dump-dir DIR]   (writes the EDT input mask for bench_gpu.py)
 * Each case's RESULT line gives the GPU's EDT time and, for bench_gpu.py's check
 * against CuPy, the largest of its distances and their exact sum.
 * Exit status: 0 measured, 1 a failure or a GPU/CPU mismatch, 2 usage, 77 no GPU.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exact_sum.h"
#include "gpu.h"
#include "metrics.h"
#include "parallel.h"
#include "phantoms.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x60d2016ull;
static double uniform(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Rater k: the truth with its own boundary habit and a few false positives. */
static void make_rater(const uint8_t *truth, const sa_grid *g, int k, uint8_t *out) {
    static const int habit[7] = {0, 1, -1, 0, 1, 0, -1};
    size_t n = sa_grid_voxels(g);
    int h = habit[k % 7];
    if (h)
        bench_morph_step(truth, out, g->nx, g->ny, g->nz, h > 0);
    else
        memcpy(out, truth, n);
    for (int f = 0; f < 3; f++) {
        long cx = (long)((0.2 + 0.6 * uniform()) * (double)g->nx), cy = (long)((0.2 + 0.6 * uniform()) * (double)g->ny),
             cz = (long)((0.2 + 0.6 * uniform()) * (double)g->nz);
        for (long dz = -2; dz <= 2; dz++)
            for (long dy = -2; dy <= 2; dy++)
                for (long dx = -2; dx <= 2; dx++)
                    if (dx * dx + dy * dy + dz * dz <= 4)
                        out[(size_t)(cx + dx) + g->nx * ((size_t)(cy + dy) + g->ny * (size_t)(cz + dz))] = 1;
    }
}

/* Two doubles with the same bits (the GPU's results are the CPU's, bit for bit). */
static int same_bits(double a, double b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

static int same_value(sa_value a, sa_value b) {
    if (!a.reason != !b.reason) return 0;
    if (a.reason) return strcmp(a.reason, b.reason) == 0;
    return same_bits(a.value, b.value);
}

/* Every result field, one by one (a memcmp of the whole struct also compared its
 * padding bytes, whose contents C leaves unspecified); threads_used, gpu_used and
 * device_note say how it ran, not what it found. A field added to sa_pair_metrics
 * must be added here: the assertions below fail to compile until it is. */
#define SAME_PAIR_VALUES(first, count, next) \
    _Static_assert(offsetof(sa_pair_metrics, next) == offsetof(sa_pair_metrics, first) + (count) * sizeof(sa_value), \
                   "sa_pair_metrics changed: compare the new field in same_pair")
_Static_assert(offsetof(sa_pair_metrics, both_empty) == offsetof(sa_pair_metrics, tp) + 8 * sizeof(uint64_t),
               "sa_pair_metrics changed: compare the new field in same_pair");
SAME_PAIR_VALUES(dice, 10, hd);
SAME_PAIR_VALUES(hd, 7, tau_mm);
_Static_assert(offsetof(sa_pair_metrics, hd_pred_to_ref) == offsetof(sa_pair_metrics, tau_mm) + sizeof(double),
               "sa_pair_metrics changed: compare the new field in same_pair");
SAME_PAIR_VALUES(hd_pred_to_ref, 6, threads_used);

static int same_pair(const sa_pair_metrics *a, const sa_pair_metrics *b) {
    static const size_t values[] = {
        offsetof(sa_pair_metrics, dice), offsetof(sa_pair_metrics, jaccard),
        offsetof(sa_pair_metrics, sensitivity), offsetof(sa_pair_metrics, specificity),
        offsetof(sa_pair_metrics, ppv), offsetof(sa_pair_metrics, volume_ref_ml),
        offsetof(sa_pair_metrics, volume_pred_ml), offsetof(sa_pair_metrics, abs_volume_diff_ml),
        offsetof(sa_pair_metrics, rve_percent), offsetof(sa_pair_metrics, pet_accuracy),
        offsetof(sa_pair_metrics, hd), offsetof(sa_pair_metrics, hd95),
        offsetof(sa_pair_metrics, hd95_pooled), offsetof(sa_pair_metrics, hd95_mean),
        offsetof(sa_pair_metrics, assd), offsetof(sa_pair_metrics, masd),
        offsetof(sa_pair_metrics, nsd), offsetof(sa_pair_metrics, hd_pred_to_ref),
        offsetof(sa_pair_metrics, hd_ref_to_pred), offsetof(sa_pair_metrics, p95_pred_to_ref),
        offsetof(sa_pair_metrics, p95_ref_to_pred), offsetof(sa_pair_metrics, mean_pred_to_ref),
        offsetof(sa_pair_metrics, mean_ref_to_pred),
    };
    int same = a->tp == b->tp && a->fp == b->fp && a->fn == b->fn && a->tn == b->tn &&
               a->ref_voxels == b->ref_voxels && a->pred_voxels == b->pred_voxels &&
               a->ref_surface_voxels == b->ref_surface_voxels && a->pred_surface_voxels == b->pred_surface_voxels &&
               a->both_empty == b->both_empty && same_bits(a->tau_mm, b->tau_mm);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        sa_value va, vb;
        memcpy(&va, (const char *)a + values[i], sizeof va);
        memcpy(&vb, (const char *)b + values[i], sizeof vb);
        same &= same_value(va, vb);
    }
    return same;
}

typedef struct timing {
    double best, upload, consensus, score;
} timing;

/* The consensus and the metrics against it, on the CPU (gpu == 0) or the GPU. */
static int vs_consensus(const uint8_t *pred, uint8_t *const *raters, size_t k, const sa_grid *g, int gpu,
                        sa_pair_metrics *out, timing *t, sa_error *err) {
    sa_multi_options opt;
    sa_multi_options_default(&opt);
    double t0 = now();
    sa_consensus_result c;
    if (!gpu) {
        opt.score.device = SA_DEVICE_CPU;
        if (sa_consensus((const uint8_t *const *)raters, k, g, &opt.consensus, &c, err)) return -1;
        double t1 = now();
        int rc = sa_score_pair(c.mask, pred, g, &opt.score, out, err);
        sa_consensus_free(&c);
        t->consensus = t1 - t0, t->score = now() - t1, t->upload = 0;
        return rc;
    }
    const uint8_t *masks[SA_GPU_MAX_UPLOAD];
    int which[SA_GPU_MAX_UPLOAD];
    for (size_t i = 0; i < k; i++) masks[i] = raters[i], which[i] = (int)i;
    masks[k] = pred;
    sa_gpu_masks *gm;
    if (sa_gpu_masks_upload(masks, k + 1, g, 0, &gm, err)) return -1;
    double t1 = now();
    /* the maps (mask, W) stay on the GPU: the metrics do not need them on the host */
    int slot, rc = sa_gpu_consensus(gm, which, k, &opt.consensus, 0, &c, &slot, err);
    double t2 = now();
    if (rc == 0) {
        sa_mask_scan scan;
        sa_surface_summary surf;
        sa_score_options so;
        rc = sa_score_options_resolve(g, &opt.score, &so, err);
        if (!rc) rc = sa_gpu_score_slots(gm, slot, (int)k, so.tau_mm, &scan, &surf, err);
        if (!rc) sa_pair_metrics_finish(g, &scan, &surf, &so, out);
        sa_consensus_free(&c);
    }
    sa_gpu_masks_free(gm);
    t->upload = t1 - t0, t->consensus = t2 - t1, t->score = now() - t2;
    return rc ? -1 : 0;
}

/* The floor under "pack+upload": every core reading the k+1 masks once and
 * doing nothing with them (an OR of all bytes, so the reads are not dropped). */
typedef struct {
    const uint8_t *const *masks;
    size_t count, n;
    unsigned long long seen[1024];
} read_job;

#define READ_PIECE ((size_t)1 << 16)

static void read_piece(void *vctx, size_t item, int worker) {
    read_job *j = vctx;
    size_t lo = item * READ_PIECE, hi = lo + READ_PIECE < j->n ? lo + READ_PIECE : j->n;
    unsigned long long acc = 0;
    for (size_t b = 0; b < j->count; b++) {
        const uint8_t *m = j->masks[b];
        for (size_t i = lo; i + 8 <= hi; i += 8) {
            unsigned long long w;
            memcpy(&w, m + i, 8);
            acc |= w;
        }
    }
    j->seen[worker % 1024] |= acc;
}

static double host_read_floor(const uint8_t *const *masks, size_t count, size_t n, int repeat) {
    static read_job j;
    j.masks = masks, j.count = count, j.n = n;
    double best = 1e30;
    size_t pieces = (n + READ_PIECE - 1) / READ_PIECE;
    for (int r = 0; r < repeat + 1; r++) {
        double t0 = now();
        sa_parallel_for(sa_parallel_workers(0, pieces), pieces, read_piece, &j);
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    return best;
}

static int multi(const uint8_t *pred, uint8_t *const *raters, size_t k, const sa_grid *g, int gpu,
                 sa_multi_result *out, sa_error *err) {
    sa_multi_options opt;
    sa_multi_options_default(&opt);
    opt.score.device = gpu ? SA_DEVICE_GPU : SA_DEVICE_CPU;
    opt.consensus_maps = 0; /* the scores only */
    return sa_score_multi(pred, (const uint8_t *const *)raters, k, g, &opt, out, err);
}

/* The CT phantom at nx x ny x nz voxels of sp mm, and k (0..7) raters made from its
 * reference (raters[0..k-1], malloc'ed). 0, or 1 with a message printed. */
static int make_data(size_t nx, size_t ny, size_t nz, const double sp[3], size_t k, bench_phantom *ph,
                     uint8_t **raters) {
    bench_phantom_params pp;
    bench_phantom_default_params(BENCH_PHANTOM_CT, 0, &pp);
    pp.size[0] = nx, pp.size[1] = ny, pp.size[2] = nz;
    for (int a = 0; a < 3; a++) pp.spacing[a] = sp[a];
    if (bench_phantom_generate(&pp, ph)) {
        fprintf(stderr, "bench_gpu: phantom generation failed (out of memory?)\n");
        return 1;
    }
    sa_grid g = {nx, ny, nz, {sp[0], sp[1], sp[2]}};
    size_t n = sa_grid_voxels(&g);
    for (size_t i = 0; i < k; i++) {
        raters[i] = malloc(n);
        if (!raters[i]) {
            fprintf(stderr, "bench_gpu: out of memory\n");
            return 1;
        }
        make_rater(ph->ref, &g, (int)i, raters[i]);
    }
    return 0;
}

static void free_data(bench_phantom *ph, uint8_t **raters, size_t k) {
    for (size_t i = 0; i < k; i++) free(raters[i]);
    bench_phantom_free(ph);
}

/* --sweep: where the GPU starts to win once started, for --device auto's grid
 * floor (SA_GPU_AUTO_MIN_VOXELS). Cubes of the CT phantom at 1 mm from 32^3 to 256^3;
 * for each, warm (the CUDA context made by an earlier call), the best of
 * `repeat` runs after a warm-up, on every core and on the GPU forced
 * (SA_DEVICE_GPU, the path auto takes above the threshold):
 *   - "pair": sa_score_pair of the prediction against one rater (`segarena score`);
 *   - "multi": sa_score_multi against the 7 raters (an evaluation's case).
 * Results are compared bit for bit, as above. */
static int sweep_case(size_t side, int repeat) {
    const size_t k = 7;
    const double sp[3] = {1.0, 1.0, 1.0};
    bench_phantom ph;
    uint8_t *raters[7];
    if (make_data(side, side, side, sp, k, &ph, raters)) return 1;
    sa_grid g = {side, side, side, {sp[0], sp[1], sp[2]}};
    size_t n = sa_grid_voxels(&g);
    sa_error err;
    double best[2][2] = {{1e30, 1e30}, {1e30, 1e30}}; /* [pair|multi][cpu|gpu] */
    sa_pair_metrics p[2];
    sa_multi_result *m[2] = {malloc(sizeof *m[0]), malloc(sizeof *m[1])};
    int gpu_used = 1;
    if (!m[0] || !m[1]) {
        fprintf(stderr, "bench_gpu: out of memory\n");
        return 1;
    }
    for (int dev = 0; dev < 2; dev++) {
        for (int r = 0; r < repeat + 1; r++) {
            sa_score_options so;
            sa_score_options_default(&so);
            so.device = dev ? SA_DEVICE_GPU : SA_DEVICE_CPU;
            double t0 = now();
            if (sa_score_pair(raters[0], ph.pred, &g, &so, &p[dev], &err)) {
                fprintf(stderr, "bench_gpu: sweep %zu^3 pair: %s\n", side, err.msg);
                return 1;
            }
            double dt = now() - t0;
            if (r > 0 && dt < best[0][dev]) best[0][dev] = dt;
            if (dev) gpu_used &= p[dev].gpu_used;
        }
        for (int r = 0; r < repeat + 1; r++) {
            double t0 = now();
            if (multi(ph.pred, raters, k, &g, dev, m[dev], &err)) {
                fprintf(stderr, "bench_gpu: sweep %zu^3 multi: %s\n", side, err.msg);
                return 1;
            }
            double dt = now() - t0;
            if (r > 0 && dt < best[1][dev]) best[1][dev] = dt;
            if (dev) gpu_used &= m[dev]->gpu_used;
            if (r < repeat) sa_multi_result_free(m[dev]);
        }
    }
    int same = same_pair(&p[0], &p[1]) && same_pair(&m[0]->vs_consensus.pair, &m[1]->vs_consensus.pair);
    for (size_t i = 0; i < k; i++) same &= same_pair(&m[0]->vs_rater[i].pair, &m[1]->vs_rater[i].pair);
    printf("sweep %3zu^3 (%5.2f M voxels%s): pair CPU %7.2f ms, GPU %7.2f ms: %5.2fx | multi CPU %8.2f ms, "
           "GPU %7.2f ms: %5.2fx | identical: %s%s\n",
           side, (double)n / 1e6, n >= SA_GPU_AUTO_MIN_VOXELS ? ", auto: GPU" : ", auto: CPU", best[0][0] * 1e3,
           best[0][1] * 1e3, best[0][0] / best[0][1], best[1][0] * 1e3, best[1][1] * 1e3, best[1][0] / best[1][1],
           same ? "yes" : "NO", gpu_used ? "" : " (the GPU was NOT used)");
    sa_multi_result_free(m[0]), sa_multi_result_free(m[1]);
    free(m[0]), free(m[1]);
    free_data(&ph, raters, k);
    return !same || !gpu_used;
}

/* --cold NX NY NZ [--multi]: what a fresh process (`segarena score` on one pair,
 * or with --multi on 7 raters, as a worker's first case) pays to use the GPU, for
 * --device auto's rule; run it once per size, each time a new process. Times, in
 * order: the driver's device count (CUDA's initialisation), the first kernel load
 * (the context), the first job on the GPU (device buffers, pinned staging), a
 * second one (warm); then the job on the CPU on every core and on 2 threads, best
 * of `repeat` after a warm-up. Prints what auto chooses in a fresh process
 * (sa_device_auto_size_ok before anything is started) and which side was faster. */
typedef struct cold_job {
    const uint8_t *pred;
    uint8_t *const *raters;
    size_t k; /* 1: a pair (raters[0] the reference) */
    sa_grid g;
} cold_job;

static int cold_run(const cold_job *j, sa_device dev, int threads, sa_pair_metrics *out, sa_error *err) {
    if (j->k == 1) {
        sa_score_options so;
        sa_score_options_default(&so);
        so.device = dev, so.threads = threads;
        int rc = sa_score_pair(j->raters[0], j->pred, &j->g, &so, out, err);
        if (rc == 0 && dev == SA_DEVICE_GPU && !out->gpu_used) rc = sa_error_set(err, "the GPU was not used");
        return rc;
    }
    sa_multi_options mo;
    sa_multi_options_default(&mo);
    mo.consensus_maps = 0;
    mo.score.device = dev, mo.score.threads = threads;
    sa_multi_result *m = malloc(sizeof *m);
    if (!m) return sa_error_set(err, "out of memory");
    int rc = sa_score_multi(j->pred, (const uint8_t *const *)j->raters, j->k, &j->g, &mo, m, err);
    if (rc == 0) {
        if (dev == SA_DEVICE_GPU && !m->gpu_used) rc = sa_error_set(err, "the GPU was not used");
        *out = m->vs_consensus.pair; /* the ranked scores; the rest compared by the sweep */
        sa_multi_result_free(m);
    }
    free(m);
    return rc;
}

static int cold_case(size_t nx, size_t ny, size_t nz, int with_raters, int repeat) {
    const double sp[3] = {1.0, 1.0, 1.0};
    bench_phantom ph;
    uint8_t *raters[7] = {0};
    size_t made = with_raters ? 7 : 0;
    if (make_data(nx, ny, nz, sp, made, &ph, raters)) return 1;
    if (!with_raters) raters[0] = ph.ref; /* a pair: the reference against the prediction */
    cold_job j = {ph.pred, NULL, with_raters ? 7 : 1, {nx, ny, nz, {sp[0], sp[1], sp[2]}}};
    size_t n = sa_grid_voxels(&j.g);
    j.raters = raters;
    size_t comparisons = j.k == 1 ? 1 : sa_multi_comparisons(j.k, NULL);
    int auto_gpu = sa_device_auto_size_ok(n, comparisons, 0); /* asked before anything starts */
    sa_error err;
    double t0 = now();
    int count = sa_gpu_device_count(&err);
    double t_count = now() - t0;
    t0 = now();
    int ready = count > 0 && sa_gpu_ready(&err);
    double t_ready = now() - t0;
    if (!ready) {
        printf("SKIP: bench_gpu --cold needs a GPU: %s\n", err.msg);
        return 77;
    }
    sa_pair_metrics gpu_res, cpu_res;
    double t_job[2];
    for (int r = 0; r < 2; r++) {
        t0 = now();
        if (cold_run(&j, SA_DEVICE_GPU, 0, &gpu_res, &err)) {
            fprintf(stderr, "bench_gpu: --cold GPU: %s\n", err.msg);
            return 1;
        }
        t_job[r] = now() - t0;
    }
    double cpu_best[2] = {1e30, 1e30};
    static const int threads[2] = {0, 2};
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < repeat + 1; r++) {
            t0 = now();
            if (cold_run(&j, SA_DEVICE_CPU, threads[c], &cpu_res, &err)) {
                fprintf(stderr, "bench_gpu: --cold CPU: %s\n", err.msg);
                return 1;
            }
            double dt = now() - t0;
            if (r > 0 && dt < cpu_best[c]) cpu_best[c] = dt;
        }
    int same = same_pair(&cpu_res, &gpu_res);
    double gpu_total = t_count + t_ready + t_job[0];
    printf("cold %-5s %zux%zux%zu (%6.2f M voxels): device count %6.1f ms, context %6.1f ms, first job %6.1f ms "
           "(fresh process: %6.1f ms), warm job %6.2f ms | CPU %d threads %7.2f ms, 2 threads %7.2f ms | auto in a "
           "fresh process: %s; faster there: %s on %d threads, %s on 2 | identical: %s\n",
           j.k == 1 ? "pair" : "multi", nx, ny, nz, (double)n / 1e6, t_count * 1e3, t_ready * 1e3, t_job[0] * 1e3,
           gpu_total * 1e3, t_job[1] * 1e3, sa_cpu_count(), cpu_best[0] * 1e3, cpu_best[1] * 1e3,
           auto_gpu ? "GPU" : "CPU", gpu_total < cpu_best[0] ? "GPU" : "CPU", sa_cpu_count(),
           gpu_total < cpu_best[1] ? "GPU" : "CPU", same ? "yes" : "NO");
    free_data(&ph, raters, made);
    return !same;
}

static int run_case(size_t nx, size_t ny, size_t nz, const double sp[3], int repeat, int cpu_repeat,
                    const char *dump_dir, const char *label) {
    const size_t k = 7;
    double tg = now();
    bench_phantom ph;
    uint8_t *raters[7];
    if (make_data(nx, ny, nz, sp, k, &ph, raters)) return 1;
    sa_grid g = {nx, ny, nz, {sp[0], sp[1], sp[2]}};
    size_t n = sa_grid_voxels(&g);
    printf("\n== %s: %zux%zux%zu at %gx%gx%g mm, %zu raters, CT phantom (data made in %.1f s)\n", label, nx, ny, nz,
           sp[0], sp[1], sp[2], k, now() - tg);
    sa_error err;
    int failed = 0;

    /* vs consensus */
    sa_pair_metrics m_cpu, m_gpu;
    timing cpu = {1e30, 0, 0, 0}, gpu = {1e30, 0, 0, 0}, t;
    for (int r = 0; r < cpu_repeat + 1; r++) { /* the first run warms up, as the GPU's */
        double t0 = now();
        if (vs_consensus(ph.pred, raters, k, &g, 0, &m_cpu, &t, &err)) {
            fprintf(stderr, "bench_gpu: CPU: %s\n", err.msg);
            return 1;
        }
        t.best = now() - t0;
        if (r > 0 && t.best < cpu.best) cpu = t;
    }
    /* the first call: what a one-shot `segarena score` pays on top (in the first
     * section of a run also the CUDA context); the runs timed below are warm */
    static int first_section = 1;
    double cold_s = now();
    if (vs_consensus(ph.pred, raters, k, &g, 1, &m_gpu, &t, &err)) { /* warm-up */
        fprintf(stderr, "bench_gpu: GPU: %s\n", err.msg);
        return 1;
    }
    cold_s = now() - cold_s;
    for (int r = 0; r < repeat; r++) {
        double t0 = now();
        if (vs_consensus(ph.pred, raters, k, &g, 1, &m_gpu, &t, &err)) {
            fprintf(stderr, "bench_gpu: GPU: %s\n", err.msg);
            return 1;
        }
        t.best = now() - t0;
        if (t.best < gpu.best) gpu = t;
    }
    int same = same_pair(&m_cpu, &m_gpu);
    failed |= !same;
    printf("surfaces: consensus %llu, prediction %llu voxels; hd95 %.6g mm, assd %.6g mm, dice %.6g\n",
           (unsigned long long)m_cpu.ref_surface_voxels, (unsigned long long)m_cpu.pred_surface_voxels,
           m_cpu.hd95.value, m_cpu.assd.value, m_cpu.dice.value);
    printf("vs consensus  CPU (%d threads): %8.1f ms (consensus %.1f, metrics %.1f)\n", sa_cpu_count(),
           cpu.best * 1e3, cpu.consensus * 1e3, cpu.score * 1e3);
    printf("vs consensus  GPU:             %8.1f ms (pack+upload %.1f, consensus %.1f, metrics %.1f)\n",
           gpu.best * 1e3, gpu.upload * 1e3, gpu.consensus * 1e3, gpu.score * 1e3);
    printf("vs consensus  GPU first call:  %8.1f ms (%s)\n", cold_s * 1e3,
           first_section ? "CUDA context, device buffers and pinned staging made: a one-shot run's cost"
                         : "device buffers for this size made");
    first_section = 0;
    {
        const uint8_t *all[SA_GPU_MAX_UPLOAD];
        for (size_t i = 0; i < k; i++) all[i] = raters[i];
        all[k] = ph.pred;
        double floor_s = host_read_floor(all, k + 1, sa_grid_voxels(&g), repeat);
        printf("host memory: reading the %zu masks once on %d threads takes %.1f ms (%.1f GB/s): the floor under "
               "pack+upload\n", k + 1, sa_cpu_count(), floor_s * 1e3,
               (double)(k + 1) * (double)sa_grid_voxels(&g) / floor_s / 1e9);
    }
    printf("vs consensus  GPU/CPU speed-up: %.1fx (target >= 20x); GPU full metric set %.1f ms (target < 25 ms); "
           "identical results: %s\n",
           cpu.best / gpu.best, gpu.best * 1e3, same ? "yes" : "NO");

    /* multi: the consensus and each rater */
    sa_multi_result *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    double best_cpu = 1e30, best_gpu = 1e30;
    for (int r = 0; r < cpu_repeat + 1; r++) { /* each side: a warm-up, then the best of its runs */
        double t0 = now();
        if (multi(ph.pred, raters, k, &g, 0, a, &err)) {
            fprintf(stderr, "bench_gpu: CPU multi: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (r > 0 && dt < best_cpu) best_cpu = dt;
        if (r < cpu_repeat) sa_multi_result_free(a);
    }
    for (int r = 0; r < repeat + 1; r++) {
        double t0 = now();
        if (multi(ph.pred, raters, k, &g, 1, b, &err)) {
            fprintf(stderr, "bench_gpu: GPU multi: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (r > 0 && dt < best_gpu) best_gpu = dt;
        if (r < repeat) sa_multi_result_free(b);
    }
    int same_multi = same_pair(&a->vs_consensus.pair, &b->vs_consensus.pair) &&
                     a->consensus.iterations == b->consensus.iterations && a->consensus.prior == b->consensus.prior;
    for (size_t i = 0; i < k; i++) same_multi &= same_pair(&a->vs_rater[i].pair, &b->vs_rater[i].pair);
    failed |= !same_multi;
    printf("multi (consensus + 7 raters)  CPU %8.1f ms, GPU %8.1f ms: %.1fx; identical results: %s\n",
           best_cpu * 1e3, best_gpu * 1e3, best_cpu / best_gpu, same_multi ? "yes" : "NO");
    sa_multi_result_free(a), sa_multi_result_free(b);
    free(a), free(b);

    /* the dense transform alone, of the reference mask (distance to its voxels) */
    const uint8_t *one[1] = {ph.ref};
    sa_gpu_masks *gm;
    if (sa_gpu_masks_upload(one, 1, &g, 0, &gm, &err)) {
        fprintf(stderr, "bench_gpu: %s\n", err.msg);
        return 1;
    }
    double *d2 = malloc(n * sizeof *d2);
    if (!d2) {
        fprintf(stderr, "bench_gpu: out of memory\n");
        return 1;
    }
    float ms[4], best[4] = {1e30f, 0, 0, 0}, best_ms;
    for (int r = 0; r < repeat + 1; r++) {
        /* the first run warms up and brings the distances back for the check against
         * CuPy's; the timed runs (kernels only, CUDA events) leave them on the GPU */
        if (sa_gpu_edt_full(gm, 0, r == 0 ? d2 : NULL, ms, &err)) {
            fprintf(stderr, "bench_gpu: EDT: %s\n", err.msg);
            return 1;
        }
        if (r > 0 && ms[0] < best[0]) memcpy(best, ms, sizeof best);
    }
    best_ms = best[0];
    sa_gpu_masks_free(gm);
    /* what bench_gpu.py compares with CuPy's distances: the largest and the exact sum
     * (rounded once, so it does not depend on an order of additions) */
    double edt_max = 0;
    sa_exact_sum edt_sum;
    sa_exact_clear(&edt_sum);
    for (size_t i = 0; i < n; i++) {
        if (!(d2[i] <= edt_max)) edt_max = d2[i]; /* a NaN or an infinity shows */
        if (isfinite(d2[i])) sa_exact_add(&edt_sum, d2[i]);
    }
    double cpu_edt = 1e30;
    for (int r = 0; r < cpu_repeat + 1; r++) { /* the first run warms up, as the GPU's */
        double t0 = now();
        if (sa_edt_squared(ph.ref, &g, 0, d2, &err)) {
            fprintf(stderr, "bench_gpu: CPU EDT: %s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (r > 0 && dt < cpu_edt) cpu_edt = dt;
    }
    free(d2);
    printf("EDT alone (whole grid)  GPU kernels %.2f ms (pass x %.2f, y %.2f, z %.2f), CPU engine %.1f ms: %.1fx\n",
           best_ms, best[1], best[2], best[3], cpu_edt * 1e3, cpu_edt * 1e3 / best_ms);
    printf("RESULT %s edt_gpu_ms=%.4f nx=%zu ny=%zu nz=%zu sx=%.17g sy=%.17g sz=%.17g edt_max=%.17g edt_sum=%.17g\n",
           label, best_ms, nx, ny, nz, sp[0], sp[1], sp[2], edt_max, sa_exact_round(&edt_sum));
    if (dump_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.mask", dump_dir, label);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(ph.ref, 1, n, f) != n) {
            fprintf(stderr, "bench_gpu: cannot write %s\n", path);
            failed = 1;
        }
        if (f) fclose(f);
    }
    free_data(&ph, raters, k);
    return failed;
}

int main(int argc, char **argv) {
    size_t cold[3] = {0, 0, 0};
    int cold_multi = 0;
    int quick = 0, sweep = 0, repeat = 5, cpu_repeat = 5, cpu_repeat_given = 0; /* default: --repeat's */
    const char *dump_dir = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--sweep")) sweep = 1;
        else if (!strcmp(argv[i], "--multi")) cold_multi = 1;
        else if (!strcmp(argv[i], "--cold") && i + 3 < argc) {
            for (int a = 0; a < 3; a++) cold[a] = strtoul(argv[++i], NULL, 10);
            if (!cold[0] || !cold[1] || !cold[2]) {
                fprintf(stderr, "bench_gpu: --cold takes three sizes > 0\n");
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cpu-repeat") && i + 1 < argc) cpu_repeat = atoi(argv[++i]), cpu_repeat_given = 1;
        else if (!strcmp(argv[i], "--dump-dir") && i + 1 < argc) dump_dir = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else {
            fprintf(stderr, "usage: bench_gpu [--quick|--sweep|--cold NX NY NZ [--multi]] [--repeat N] [--cpu-repeat N] [--only 300|512|160] [--dump-dir DIR]\n");
            return 2;
        }
    }
    if (!cpu_repeat_given) cpu_repeat = repeat;
    if (repeat < 1 || cpu_repeat < 1) {
        fprintf(stderr, "bench_gpu: --repeat and --cpu-repeat take >= 1\n");
        return 2;
    }
    if ((cold_multi && !cold[0]) || quick + sweep + !!cold[0] > 1) {
        fprintf(stderr, "bench_gpu: --quick, --sweep and --cold go alone; --multi goes with --cold\n");
        return 2;
    }
    if (cold[0]) return cold_case(cold[0], cold[1], cold[2], cold_multi, repeat); /* first: nothing may touch CUDA before */

    sa_error why;
    if (!sa_gpu_usable(&why)) {
        printf("SKIP: bench_gpu needs a GPU: %s\n", why.msg);
        return 77;
    }
    printf("bench_gpu: CPU engine on %d cores vs the GPU engine; each time is the best of %d runs on the GPU and "
           "%d on the CPU, after one warm-up run each%s\n", sa_cpu_count(), quick ? 1 : repeat, quick ? 1 : cpu_repeat,
           !quick && cpu_repeat != repeat ? " (--cpu-repeat: not the same count)" : "");
    printf("note: the CPU's consensus also writes STAPLE's W, a float per voxel of the raters' box, into host memory; "
           "the GPU path asks for no maps (its mask stays on the GPU for the metrics, W is not written)\n");
    int failed = 0;
    if (quick) {
        const double s[3] = {0.7, 0.7, 1.0};
        return run_case(96, 96, 64, s, 1, 1, dump_dir, "quick");
    }
    if (sweep) {
        static const size_t sides[] = {32, 48, 64, 96, 128, 144, 160, 176, 192, 224, 256};
        printf("sweep: once a process has started the GPU, --device auto uses it from %zu voxels "
               "(SA_GPU_AUTO_MIN_VOXELS); warm times, the CUDA context already made\n", (size_t)SA_GPU_AUTO_MIN_VOXELS);
        for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) failed |= sweep_case(sides[i], repeat);
        return failed;
    }
    const double ct[3] = {0.7, 0.7, 1.0}, iso[3] = {1.0, 1.0, 1.0};
    if (!only || !strcmp(only, "300")) failed |= run_case(512, 512, 300, ct, repeat, cpu_repeat, dump_dir, "ct512x512x300");
    if (!only || !strcmp(only, "512")) failed |= run_case(512, 512, 512, iso, repeat, cpu_repeat, dump_dir, "ct512cube");
    if (!only || !strcmp(only, "160")) failed |= run_case(160, 160, 160, iso, repeat, cpu_repeat, NULL, "ct160cube");
    return failed;
}
