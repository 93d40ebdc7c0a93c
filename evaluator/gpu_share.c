/*
 * gpu_share.c: the metric engine and contestant containers share the host's GPUs.
 * A container gets a GPU only through its flock'ed lock file (sa_gpu_claim), so
 * scoring takes the same lock for the GPU it would use (CUDA device 0) for the
 * length of the scoring, and scores on the CPU when a container holds it; after
 * scoring it gives back the device memory the engine keeps between jobs, so that
 * the next container on that GPU finds its memory free (the CUDA context and its
 * local-memory reservation, about 1.5 GB, stay with the process: docs/gpu.md).
 * Both engines give the same numbers, bit for bit, so where a case is scored
 * never changes a result.
 */
#include "evaluator.h"
#include "submissions.h"

/* One decision, made here: a job this declines is scored on the CPU (device set to
 * cpu), so that sa_score_multi cannot take the GPU without the lock (with other
 * threads, or after another thread of the worker has started the GPU); a job this
 * takes finds the GPU started, so that auto's rule in sa_score_multi (any grid of
 * SA_GPU_AUTO_MIN_VOXELS or more once started) agrees, whatever the threads. */
int sa_scoring_gpu_take(const sa_grid *g, size_t raters, sa_multi_options *opt) {
    if (opt->score.device == SA_DEVICE_CPU) return -1;
    int is_auto = opt->score.device == SA_DEVICE_AUTO;
    /* auto's rule with the threads the job would have on the CPU (a worker scores
     * each case on one thread: sa_phase_multi_options) */
    if (is_auto && (raters > SA_GPU_MAX_RATERS ||
                    !sa_device_auto_size_ok(sa_grid_voxels(g), sa_multi_comparisons(raters, opt),
                                            opt->score.threads))) {
        opt->score.device = SA_DEVICE_CPU;
        return -1;
    }
    sa_error why;
    if (!sa_gpu_usable(&why)) { /* gpu: the engine says so itself, as an error */
        if (is_auto) opt->score.device = SA_DEVICE_CPU;
        return -1;
    }
    int index = sa_gpu_cuda_device0_index();
    if (index < 0) { /* CUDA's device 0 is not a GPU the locks can name */
        opt->score.device = SA_DEVICE_CPU;
        return -1;
    }
    int gpu = sa_gpu_claim_index(index);
    if (gpu < 0) {
        opt->score.device = SA_DEVICE_CPU; /* a container has it (or no lock file) */
        return -1;
    }
    if (is_auto && !sa_gpu_start(&why)) { /* could not be started: the CPU, lock given back */
        sa_gpu_release(gpu);
        opt->score.device = SA_DEVICE_CPU;
        return -1;
    }
    /* the GPU's own work is milliseconds; packing the masks for its upload is the
     * cost, and every core takes a share of it (one job of the process at a time
     * holds the lock; the numbers do not depend on the threads) */
    opt->score.threads = 0;
    return gpu;
}

void sa_scoring_gpu_give(int gpu) {
    if (gpu < 0) return;
    sa_gpu_free_cached();
    sa_gpu_release(gpu);
}
