/*
 * gpu.h: private. What the engine's C code asks of the GPU, as plain C functions.
 *
 * Built from metrics/cuda/ (CUDA) when the build has CUDA, else from gpu_none.c,
 * whose functions say why there is no GPU. Nothing here decides between CPU and
 * GPU (device.c does); every function gives exactly what its CPU counterpart
 * gives, bit for bit, because the per-line and per-voxel steps are the shared
 * SA_HOST_DEVICE functions of edt_line.h, exact_sum.h, percentile_rule.h and
 * staple_em.h.
 *
 * Masks live on the GPU packed one pattern per voxel (sa_gpu_masks): bit b of a
 * voxel's pattern is mask b of the upload, so that K raters and a prediction
 * cross the bus once, as one byte (K + 1 <= 8) or two (<= 16) per voxel. Masks
 * computed on the GPU (a consensus) get further slots.
 */
#ifndef SEGARENA_GPU_H
#define SEGARENA_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Return code of the functions below when the GPU lacks the memory for the job
 * (nothing was changed; the caller may fall back to the CPU). */
#define SA_GPU_NO_MEMORY (-2)
/* Return code of an upload when the host lacks the pinned (page-locked) memory
 * the masks are staged through (nothing was changed; the caller may fall back). */
#define SA_GPU_NO_HOST_MEMORY (-3)

/* The note --device auto gives when a GPU job returned rc (SA_GPU_NO_MEMORY,
 * SA_GPU_NO_HOST_MEMORY, or another failure) and the CPU computed it instead:
 * static text (device.c). */
const char *sa_gpu_fallback_note(int rc);

/* Masks that one upload can hold (bits of a 16-bit pattern). */
#define SA_GPU_MAX_UPLOAD 16
/* Slots in all: uploaded masks and masks computed on the GPU. */
#define SA_GPU_MAX_SLOTS 64

/* Usable CUDA devices: > 0, or 0 with err saying why there is none (built
 * without CUDA, no driver, no device, no code in this build for its compute
 * capability, a sticky error earlier in this process, or busy: held by another
 * process, asked again some seconds later). Creates no CUDA context; cheap
 * after the first call. */
int sa_gpu_device_count(sa_error *err);
/* Frees the device blocks kept between jobs (sa_gpu_free_cached). */
void sa_gpu_cache_release(void);

/* Whether GPU 0 can run a job now: sa_gpu_device_count, then, until it once
 * succeeds, a kernel of this build loaded on it (which creates the context):
 * 1, or 0 with err saying why. Called before a job's first upload. */
int sa_gpu_ready(sa_error *err);
/* 1 when sa_gpu_ready has started the GPU in this process and it is still usable
 * (no CUDA call: auto's size rule asks it before anything else). */
int sa_gpu_started(void);

/* Masks resident on the GPU (opaque). */
typedef struct sa_gpu_masks sa_gpu_masks;

/* Uploads count (1..SA_GPU_MAX_UPLOAD) full-grid byte masks (non-zero = inside)
 * as slots 0..count-1. The host packs them into patterns with `threads` threads.
 * A NULL mask or an invalid grid is refused before anything is read.
 * Returns 0, SA_GPU_NO_MEMORY, SA_GPU_NO_HOST_MEMORY, or -1 with err set. */
int sa_gpu_masks_upload(const uint8_t *const *masks, size_t count, const sa_grid *g, int threads,
                        sa_gpu_masks **out, sa_error *err);
void sa_gpu_masks_free(sa_gpu_masks *m);

/* Which of the consensus maps sa_gpu_consensus copies back to the host (the
 * copies cost more than the consensus itself on large grids). */
#define SA_GPU_MAP_MASK 1u
#define SA_GPU_MAP_PROBABILITY 2u
#define SA_GPU_MAPS_ALL 3u

/* The consensus of the raters in slots raters[0..k-1] (uploaded slots, in
 * rater order), exactly as sa_consensus computes it: out is filled as by
 * sa_consensus, except that out->mask and out->probability are NULL unless
 * `maps` asks for them; the mask stays on the GPU as a new slot, *slot_out.
 * Returns 0, SA_GPU_NO_MEMORY or -1. */
int sa_gpu_consensus(sa_gpu_masks *m, const int *raters, size_t k, const sa_consensus_options *opt,
                     unsigned maps, sa_consensus_result *out, int *slot_out, sa_error *err);

/* Frees the GPU copy of a computed slot (a consensus no longer needed). */
void sa_gpu_masks_release(sa_gpu_masks *m, int slot);

/* Everything sa_score_pair needs from two masks of m: the voxel counts and boxes
 * (*scan) and, when neither mask is empty, the surface summary (*surf). */
int sa_gpu_score_slots(sa_gpu_masks *m, int ref_slot, int pred_slot, double tau_mm,
                       sa_mask_scan *scan, sa_surface_summary *surf, sa_error *err);

/* For benchmarks and tests: the exact distance (mm) from every voxel of the grid
 * to the nearest voxel of mask `slot` (INFINITY when it is empty), the dense
 * transform alone. host_out (nvox doubles) may be NULL; kernel_ms (NULL or 4
 * floats) gets the GPU time of the kernels (CUDA events): all, then pass X,
 * pass Y and pass Z. */
int sa_gpu_edt_full(sa_gpu_masks *m, int slot, double *host_out, float *kernel_ms, sa_error *err);

/* For tests: pass Z keeps its parabolas' roots apart (the layout of regions too
 * large to pack them, 2^33 voxels and more) even where they would pack. */
void sa_gpu_force_wide_nodes(int on);

/* For tests: an upload's packing in pieces of piece_voxels (default 65,536),
 * copies of copy_pieces pieces (default 64), through a pinned staging buffer
 * of at most staging_bytes (default 256 MiB); 0 keeps a default. Small values
 * make small volumes take the paths of large ones: several copies queued
 * while later pieces are packed, partial last pieces and copies, several
 * rounds through the buffer. */
void sa_gpu_set_upload_geometry(size_t piece_voxels, size_t copy_pieces, size_t staging_bytes);

#ifdef __cplusplus
}
#endif
#endif
