/*
 * gpu_internal.cuh: private to metrics/cuda/. The resident masks (sa_gpu_masks),
 * how a kernel reads one mask of them, and the error and launch helpers that
 * every .cu file of the engine shares.
 */
#ifndef SEGARENA_GPU_INTERNAL_CUH
#define SEGARENA_GPU_INTERNAL_CUH

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu.h"

/* One mask as a kernel sees it: a voxel is inside when (element & bit) != 0,
 * elements of `width` bytes (1 or 2) at base. */
struct gpu_mask_view {
    const void *base;
    int width;
    uint32_t bit;
};

__device__ __forceinline__ int gpu_mask_at(const gpu_mask_view &v, size_t i) {
    uint32_t e = v.width == 1 ? (uint32_t)((const uint8_t *)v.base)[i] : (uint32_t)((const uint16_t *)v.base)[i];
    return (e & v.bit) != 0;
}

struct sa_gpu_masks {
    sa_grid grid;
    size_t nvox;
    int width;             /* bytes per pattern: 1 (<= 8 masks) or 2 */
    void *d_pattern;       /* nvox * width: bit b = uploaded mask b */
    int uploaded;          /* slots 0..uploaded-1 */
    uint8_t *d_slot[SA_GPU_MAX_SLOTS]; /* computed slots: 0/1 bytes, nvox each; NULL = free */
    cudaStream_t stream;
    void *work;            /* scratch kept between comparisons (pair_gpu.cu) */
    size_t work_bytes;
};

/* Device scratch of at least `bytes` from m->work (grown when needed; its old
 * contents are lost). Returns 0, SA_GPU_NO_MEMORY or -1. */
int gpu_masks_work(sa_gpu_masks *m, size_t bytes, void **out, sa_error *err);

/* The view of slot s (uploaded or computed); base NULL when the slot is empty. */
gpu_mask_view gpu_masks_view(const sa_gpu_masks *m, int slot);

/* Registers a computed 0/1 mask (device memory the set now owns) as a new slot.
 * Returns the slot, or -1 with err set when every slot is taken. */
int gpu_masks_add(sa_gpu_masks *m, uint8_t *d_mask, sa_error *err);

/* Returns 0 for cudaSuccess, else -1 (SA_GPU_NO_MEMORY for an allocation
 * failure) with err set to "<what>: <CUDA's message>". An error CUDA documents
 * as sticky makes the GPU unusable for the rest of the process; a GPU held by
 * another process (cudaErrorDevicesUnavailable) counts as absent for a while
 * (masks.cu, device discovery). */
int gpu_check(cudaError_t e, const char *what, sa_error *err);

/* err = "GPU: <what>: N MB of GPU memory needed, M MB free (of T MB)", for a
 * request of `bytes` the GPU could not meet. */
void gpu_no_memory(const char *what, size_t bytes, sa_error *err);

/* Device memory: a block kept from an earlier job when one fits, else
 * cudaMalloc; a failure is reported through gpu_check, SA_GPU_NO_MEMORY with
 * the sizes (gpu_no_memory).
 * gpu_alloc_sized also says how many bytes the block holds (*got >= bytes). */
int gpu_alloc(void **p, size_t bytes, const char *what, sa_error *err);
int gpu_alloc_sized(void **p, size_t bytes, size_t *got, const char *what, sa_error *err);

/* Gives back a block of gpu_alloc (NULL: nothing) once the work queued on st is
 * done: it is kept for a later job, or freed. */
void gpu_free(void *p, cudaStream_t st);

/* Frees every kept block (when memory runs short, and at exit). */
void gpu_kept_release(void);

/* Reserves `bytes_per_thread` of local memory (cudaLimitStackSize) for every
 * thread the GPU can hold, giving the kept blocks back if that is what is
 * missing. Returns 0, SA_GPU_NO_MEMORY or -1. */
int gpu_reserve_local(size_t bytes_per_thread, sa_error *err);

/* Blocks of `threads` threads covering n items (at least 1). */
static inline unsigned gpu_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b ? b : 1);
}

#endif
