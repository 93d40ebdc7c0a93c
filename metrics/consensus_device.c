/*
 * consensus_device.c: the consensus of several raters on the CPU or the GPU, as
 * --device asks (device.c's rule), for `segarena consensus`; sa_score_multi
 * makes the same choice for its own consensus (multi_rater.c).
 */
#include <string.h>

#include "engine.h"
#include "gpu.h"

int sa_consensus_on_device(const uint8_t *const *raters, size_t k, const sa_grid *g,
                           const sa_consensus_options *opt, sa_device device, sa_consensus_result *out,
                           sa_error *err) {
    if (!out) return sa_error_set(err, "consensus: no result given");
    memset(out, 0, sizeof *out);
    /* sa_consensus's checks, before the device is chosen or a mask is read: the
     * upload packs every voxel of every rater */
    if (sa_consensus_check(raters, k, g, opt, err)) return -1;
    const char *note = NULL;
    int on_gpu;
    if (device == SA_DEVICE_AUTO && k > SA_GPU_MAX_UPLOAD) {
        on_gpu = 0; /* decided before the GPU is asked: auto would not start it for nothing */
        note = "more raters than the GPU path takes: computed on the CPU";
    } else {
        on_gpu = sa_device_choose(device, sa_grid_voxels(g), 1, opt ? opt->threads : 0, &note, err);
        if (on_gpu < 0) return -1;
        if (on_gpu && k > SA_GPU_MAX_UPLOAD) /* gpu asked for */
            return sa_error_set(err, "--device gpu: at most %d raters on the GPU, %zu given", SA_GPU_MAX_UPLOAD, k);
    }
    if (on_gpu) {
        int slots[SA_GPU_MAX_UPLOAD];
        for (size_t r = 0; r < k; r++) slots[r] = (int)r;
        sa_gpu_masks *m = NULL;
        int rc = sa_gpu_masks_upload(raters, k, g, opt ? opt->threads : 0, &m, err);
        if (rc == 0) rc = sa_gpu_consensus(m, slots, k, opt, SA_GPU_MAPS_ALL, out, NULL, err);
        sa_gpu_masks_free(m);
        if (rc == 0) {
            out->gpu_used = 1, out->device_note = NULL;
            return 0;
        }
        if (device == SA_DEVICE_GPU) return -1; /* err says what went wrong */
        /* auto: the CPU gives the same result (sa_gpu_consensus freed out) */
        note = sa_gpu_fallback_note(rc);
    }
    if (sa_consensus(raters, k, g, opt, out, err)) return -1;
    out->gpu_used = 0, out->device_note = note;
    return 0;
}
