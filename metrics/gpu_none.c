/*
 * gpu_none.c: the GPU functions of gpu.h in a build without CUDA. They exist so
 * that the engine links the same way in every build; each says there is no GPU.
 */
#include "gpu.h"

#define NO_CUDA "this SegArena was built without CUDA (SEGARENA_CUDA=OFF or no nvcc found)"

int sa_gpu_built(void) { return 0; }

void sa_gpu_cache_release(void) {}

int sa_gpu_device_count(sa_error *err) {
    sa_error_set(err, NO_CUDA);
    return 0;
}

int sa_gpu_ready(sa_error *err) {
    sa_error_set(err, NO_CUDA);
    return 0;
}

int sa_gpu_started(void) { return 0; }

int sa_gpu_masks_upload(const uint8_t *const *masks, size_t count, const sa_grid *g, int threads,
                        sa_gpu_masks **out, sa_error *err) {
    (void)masks, (void)count, (void)g, (void)threads;
    *out = NULL;
    return sa_error_set(err, NO_CUDA);
}

void sa_gpu_masks_free(sa_gpu_masks *m) { (void)m; }

int sa_gpu_consensus(sa_gpu_masks *m, const int *raters, size_t k, const sa_consensus_options *opt,
                     unsigned maps, sa_consensus_result *out, int *slot_out, sa_error *err) {
    (void)m, (void)raters, (void)k, (void)opt, (void)maps, (void)out, (void)slot_out;
    return sa_error_set(err, NO_CUDA);
}

void sa_gpu_masks_release(sa_gpu_masks *m, int slot) { (void)m, (void)slot; }

int sa_gpu_score_slots(sa_gpu_masks *m, int ref_slot, int pred_slot, double tau_mm,
                       sa_mask_scan *scan, sa_surface_summary *surf, sa_error *err) {
    (void)m, (void)ref_slot, (void)pred_slot, (void)tau_mm, (void)scan, (void)surf;
    return sa_error_set(err, NO_CUDA);
}

int sa_gpu_edt_full(sa_gpu_masks *m, int slot, double *host_out, float *kernel_ms, sa_error *err) {
    (void)m, (void)slot, (void)host_out, (void)kernel_ms;
    return sa_error_set(err, NO_CUDA);
}

void sa_gpu_force_wide_nodes(int on) { (void)on; }

void sa_gpu_set_upload_geometry(size_t piece_voxels, size_t copy_pieces, size_t staging_bytes) {
    (void)piece_voxels, (void)copy_pieces, (void)staging_bytes;
}
