/*
 * test_gpu_share.c: the evaluator's GPU lock (evaluator/gpu_share.c) and the
 * metric engine's choice of device (metrics/device.c) make one decision. A worker
 * takes the lock that contestant containers also take before it scores a case on
 * the GPU; if sa_score_multi then chose the GPU for a case the lock was declined
 * for, the engine would use a GPU a container may hold. They disagreed once: the
 * lock judged auto's rule on all cores, the scoring on the case's one thread, and
 * a GPU started meanwhile by another of the worker's threads moved small cases to
 * it without the lock.
 *
 * Both files are compiled into this test over a stand-in GPU layer and lock files
 * (below), so every state can be set: GPU usable or not, started or not, starting
 * fails, the lock free or held by a container, CUDA's device 0 nameable or not.
 * For each, across grids, raters, threads and the human reference, the decision
 * sa_score_multi makes right after sa_scoring_gpu_take (its sa_device_choose call,
 * after its check of the raters) must be "GPU" exactly when the lock was taken,
 * also when another thread starts the GPU between the two.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../test.h"
#include "engine.h"
#include "evaluator.h"
#include "gpu.h"

/* ---- the stand-in GPU layer and lock files ---- */
static int gpu_usable = 1, gpu_started, start_fails, lock_held_by_container, device0_unnamed, cores = 16;
static int locks_taken, locks_given;

int sa_gpu_built(void) { return 1; }
int sa_gpu_device_count(sa_error *err) {
    if (!gpu_usable) sa_error_set(err, "no GPU (stand-in)");
    return gpu_usable;
}
int sa_gpu_ready(sa_error *err) {
    if (!gpu_usable || start_fails) return sa_error_set(err, "cannot start (stand-in)"), 0;
    gpu_started = 1;
    return 1;
}
int sa_gpu_started(void) { return gpu_started && gpu_usable; }
void sa_gpu_cache_release(void) {}
int sa_cpu_count(void) { return cores; }
int sa_gpu_cuda_device0_index(void) { return device0_unnamed ? -1 : 0; }
int sa_gpu_claim_index(int gpu) {
    if (lock_held_by_container) return -1;
    locks_taken++;
    return gpu;
}
void sa_gpu_release(int gpu) {
    (void)gpu;
    locks_given++;
}
size_t sa_grid_voxels(const sa_grid *g) { return g->nx * g->ny * g->nz; }
int sa_error_set(sa_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* What sa_score_multi decides with these options (metrics/multi_rater.c). */
static int multi_uses_gpu(const sa_grid *g, size_t k, const sa_multi_options *opt) {
    if (opt->score.device == SA_DEVICE_AUTO && k + 1 > SA_GPU_MAX_UPLOAD) return 0;
    const char *note;
    sa_error err;
    return sa_device_choose(opt->score.device, sa_grid_voxels(g), sa_multi_comparisons(k, opt), opt->score.threads,
                            &note, &err) == 1;
}

static int cases, disagreements;

static void one(const sa_grid *g, size_t k, int human_reference, int threads, int started_meanwhile) {
    sa_multi_options opt;
    memset(&opt, 0, sizeof opt);
    opt.score.device = SA_DEVICE_AUTO, opt.score.threads = threads, opt.human_reference = human_reference;
    int lock = sa_scoring_gpu_take(g, k, &opt);
    if (started_meanwhile && gpu_usable) gpu_started = 1; /* another of the worker's threads */
    int gpu = multi_uses_gpu(g, k, &opt);
    cases++;
    if ((lock >= 0) != gpu) {
        disagreements++;
        if (disagreements <= 10)
            fprintf(stderr, "  %zux%zux%zu, %zu raters%s, %d threads, usable %d started %d start-fails %d "
                            "container %d unnamed %d meanwhile %d: lock %d, scoring on the %s\n",
                    g->nx, g->ny, g->nz, k, human_reference ? " + human reference" : "", threads, gpu_usable,
                    gpu_started, start_fails, lock_held_by_container, device0_unnamed, started_meanwhile, lock,
                    gpu ? "GPU" : "CPU");
    }
    if (lock >= 0) {
        CHECK(opt.score.threads == 0); /* the upload packed on every core */
        sa_scoring_gpu_give(lock);
    }
}

int main(void) {
    static const size_t sides[][3] = {{32, 32, 32},    {64, 64, 64},    {128, 128, 128}, {256, 256, 128},
                                      {256, 256, 256}, {320, 320, 320}, {512, 512, 300}};
    static const size_t raters[] = {1, 2, 3, 7, 15, 16, 17};
    for (int state = 0; state < 64; state++) {
        for (size_t s = 0; s < sizeof sides / sizeof sides[0]; s++)
            for (size_t r = 0; r < sizeof raters / sizeof raters[0]; r++)
                for (int hr = 0; hr < 2; hr++)
                    for (int threads = 0; threads <= 2; threads++)
                        for (int meanwhile = 0; meanwhile < 2; meanwhile++) {
                            gpu_usable = !(state & 1), gpu_started = (state >> 1) & 1, start_fails = (state >> 2) & 1;
                            lock_held_by_container = (state >> 3) & 1, device0_unnamed = (state >> 4) & 1;
                            cores = state & 32 ? 2 : 16;
                            sa_grid g = {sides[s][0], sides[s][1], sides[s][2], {1, 1, 1}};
                            one(&g, raters[r], hr, threads, meanwhile);
                        }
    }
    printf("%d decisions, %d where the lock and the scoring disagreed\n", cases, disagreements);
    CHECK(disagreements == 0);
    CHECK(locks_taken == locks_given && locks_taken > 0);

    /* cpu asked for: no lock, no GPU; gpu asked for: the lock when one is free */
    sa_grid g = {256, 256, 256, {1, 1, 1}};
    gpu_usable = 1, gpu_started = 0, start_fails = 0, lock_held_by_container = 0, device0_unnamed = 0;
    sa_multi_options opt;
    memset(&opt, 0, sizeof opt);
    opt.score.device = SA_DEVICE_CPU;
    CHECK(sa_scoring_gpu_take(&g, 7, &opt) == -1 && opt.score.device == SA_DEVICE_CPU);
    opt.score.device = SA_DEVICE_GPU, opt.score.threads = 1;
    sa_grid small = {8, 8, 8, {1, 1, 1}};
    int lock = sa_scoring_gpu_take(&small, 7, &opt);
    CHECK(lock >= 0 && opt.score.device == SA_DEVICE_GPU);
    sa_scoring_gpu_give(lock);
    return test_report("test_gpu_share");
}
