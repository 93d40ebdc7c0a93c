/*
 * device.c: where a job runs, CPU or GPU: the one place that applies the rule of
 * --device auto|cpu|gpu (docs/gpu.md), so that scoring and consensus agree.
 */
#include <math.h>
#include <string.h>

#include "engine.h"
#include "gpu.h"
#include "parallel.h"

const char *sa_device_name(sa_device d) {
    switch (d) {
    case SA_DEVICE_CPU: return "cpu";
    case SA_DEVICE_GPU: return "gpu";
    default: return "auto";
    }
}

int sa_device_parse(const char *word, sa_device *out) {
    if (!word) return -1;
    if (!strcmp(word, "auto")) *out = SA_DEVICE_AUTO;
    else if (!strcmp(word, "cpu")) *out = SA_DEVICE_CPU;
    else if (!strcmp(word, "gpu")) *out = SA_DEVICE_GPU;
    else return -1;
    return 0;
}

int sa_gpu_usable(sa_error *err) { return sa_gpu_device_count(err) > 0; }

int sa_gpu_start(sa_error *err) { return sa_gpu_ready(err); }

void sa_gpu_free_cached(void) { sa_gpu_cache_release(); }

_Static_assert(SA_GPU_MAX_RATERS == SA_GPU_MAX_UPLOAD - 1, "the raters and the prediction share one upload");

int sa_device_auto_size_ok(size_t voxels, size_t comparisons, int threads) {
    if (voxels < SA_GPU_AUTO_MIN_VOXELS) return 0;
    if (sa_gpu_started()) return 1;
    int cores = sa_cpu_count();
    if (threads <= 0 || threads > cores) threads = cores;
    double work = (double)voxels * (double)(comparisons ? comparisons : 1);
    return work >= (double)SA_GPU_AUTO_START_WORK * sqrt((double)(threads > 0 ? threads : 1));
}

size_t sa_multi_comparisons(size_t k, const sa_multi_options *opt) {
    return k + 1 + (opt && opt->human_reference ? k : 0);
}

int sa_device_choose(sa_device want, size_t voxels, size_t comparisons, int threads, const char **note,
                     sa_error *err) {
    *note = NULL;
    if (want == SA_DEVICE_CPU) return 0;
    /* sa_gpu_ready, not only sa_gpu_device_count: a GPU this build has no code
     * for, or one another process holds, is found here, before any mask is packed */
    if (want == SA_DEVICE_GPU) {
        sa_error why;
        if (sa_gpu_ready(&why)) return 1;
        return sa_error_set(err, "--device gpu: no usable GPU (%s)", why.msg);
    }
    if (!sa_gpu_built()) {
        *note = "this build has no GPU engine (built without CUDA): computed on the CPU";
        return 0;
    }
    if (voxels < SA_GPU_AUTO_MIN_VOXELS) {
        *note = "volume below the GPU threshold: computed on the CPU";
        return 0;
    }
    if (!sa_device_auto_size_ok(voxels, comparisons, threads)) {
        *note = "too little work to repay starting the GPU in this process: computed on the CPU";
        return 0;
    }
    if (!sa_gpu_ready(NULL)) {
        *note = "no usable GPU: computed on the CPU";
        return 0;
    }
    return 1;
}

const char *sa_gpu_fallback_note(int rc) {
    switch (rc) {
    case SA_GPU_NO_MEMORY: return "the GPU has too little free memory for this volume: computed on the CPU";
    case SA_GPU_NO_HOST_MEMORY:
        return "too little pinned host memory to stage the masks for the GPU: computed on the CPU";
    default: return "the GPU failed on this job: computed on the CPU";
    }
}
