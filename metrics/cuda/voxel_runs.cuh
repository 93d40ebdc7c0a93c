/*
 * voxel_runs.cuh: private to metrics/cuda/. Voxel passes in runs.
 *
 * The engine's voxel passes (patterns, counts, surfaces, the consensus's maps)
 * read a byte or two a voxel and do little with it, so they are bound by how
 * many loads are in flight, not by arithmetic. A thread therefore takes a run
 * of RUN consecutive voxels and issues all of the run's loads (16 bytes at a
 * time where the run is whole and aligned) before it computes or stores
 * anything: RUN loads in flight instead of one. A pass strides over its runs
 * with at most RUN_MAX_BLOCKS blocks (RUN_LOOP).
 *
 * Loading a run 16 bytes at a time needs the run whole and aligned, which
 * passes over the whole grid have. Passes over a box, or that read neighbours,
 * load element by element, and then a thread's run must not be contiguous:
 * the 32 lanes of a warp would read 32 different places at each load. For
 * them a warp takes a segment of SEGMENT voxels of one row and lane l its
 * voxels l, l + 32, l + 64, ... (LANE_RUN of them, SEGMENT_LOOP): each load of
 * the warp reads 32 neighbouring elements, and each lane still has LANE_RUN
 * loads (times the neighbours it reads) in flight.
 */
#ifndef SEGARENA_VOXEL_RUNS_CUH
#define SEGARENA_VOXEL_RUNS_CUH

#include <stdint.h>

#include "gpu_internal.cuh"

#define RUN 16
#define RUN_MAX_BLOCKS ((size_t)2048)

/* Blocks of `threads` for a pass over `runs` runs. */
static inline unsigned run_blocks(unsigned threads, size_t runs) {
    size_t b = gpu_blocks(runs, threads);
    return (unsigned)(b < RUN_MAX_BLOCKS ? b : RUN_MAX_BLOCKS);
}

#define LANE_RUN 4
#define SEGMENT (32 * LANE_RUN)

/* Segments of SEGMENT voxels covering rows of n voxels. */
__host__ __device__ static inline size_t segments_per_row(size_t n) { return (n + SEGMENT - 1) / SEGMENT; }

/* Blocks of `threads` (a multiple of 32) for a pass over `segments` segments. */
static inline unsigned segment_blocks(unsigned threads, size_t segments) {
    return run_blocks(threads, segments * 32);
}

/* w: the segment of this thread's warp; lane: threadIdx.x % 32. */
#define SEGMENT_LOOP(w, segments)                                                           \
    for (size_t w = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; w < (segments); \
         w += (size_t)gridDim.x * blockDim.x / 32)

#define RUN_LOOP(w, runs) \
    for (size_t w = (size_t)blockIdx.x * blockDim.x + threadIdx.x; w < (runs); w += (size_t)gridDim.x * blockDim.x)

__device__ __forceinline__ bool run_aligned(const void *p, unsigned n) {
    return n == RUN && ((uintptr_t)p & 15u) == 0;
}

/* n (<= RUN) elements from src, the rest 0. */
__device__ __forceinline__ void load_run(const uint8_t *src, unsigned n, uint32_t (&v)[RUN]) {
    if (run_aligned(src, n)) {
        uint4 q = *(const uint4 *)src;
        uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int u = 0; u < RUN; u++) v[u] = (w[u / 4] >> (8 * (u % 4))) & 0xFFu;
    } else {
#pragma unroll
        for (int u = 0; u < RUN; u++) v[u] = (unsigned)u < n ? src[u] : 0u;
    }
}

__device__ __forceinline__ void load_run(const uint16_t *src, unsigned n, uint32_t (&v)[RUN]) {
    if (run_aligned(src, n)) {
        uint4 q0 = ((const uint4 *)src)[0], q1 = ((const uint4 *)src)[1];
        uint32_t w[8] = {q0.x, q0.y, q0.z, q0.w, q1.x, q1.y, q1.z, q1.w};
#pragma unroll
        for (int u = 0; u < RUN; u++) v[u] = (w[u / 2] >> (16 * (u % 2))) & 0xFFFFu;
    } else {
#pragma unroll
        for (int u = 0; u < RUN; u++) v[u] = (unsigned)u < n ? src[u] : 0u;
    }
}

__device__ __forceinline__ void store_run(uint8_t *dst, unsigned n, const uint32_t (&v)[RUN]) {
    if (run_aligned(dst, n)) {
        uint32_t w[4] = {0, 0, 0, 0};
#pragma unroll
        for (int u = 0; u < RUN; u++) w[u / 4] |= (v[u] & 0xFFu) << (8 * (u % 4));
        *(uint4 *)dst = make_uint4(w[0], w[1], w[2], w[3]);
    } else {
#pragma unroll
        for (int u = 0; u < RUN; u++)
            if ((unsigned)u < n) dst[u] = (uint8_t)v[u];
    }
}

__device__ __forceinline__ void store_run(uint16_t *dst, unsigned n, const uint32_t (&v)[RUN]) {
    if (run_aligned(dst, n)) {
        uint32_t w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
#pragma unroll
        for (int u = 0; u < RUN; u++) w[u / 2] |= (v[u] & 0xFFFFu) << (16 * (u % 2));
        ((uint4 *)dst)[0] = make_uint4(w[0], w[1], w[2], w[3]);
        ((uint4 *)dst)[1] = make_uint4(w[4], w[5], w[6], w[7]);
    } else {
#pragma unroll
        for (int u = 0; u < RUN; u++)
            if ((unsigned)u < n) dst[u] = (uint16_t)v[u];
    }
}

__device__ __forceinline__ void store_run(float *dst, unsigned n, const float (&v)[RUN]) {
    if (run_aligned(dst, n)) {
#pragma unroll
        for (int q = 0; q < RUN / 4; q++)
            ((float4 *)dst)[q] = make_float4(v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]);
    } else {
#pragma unroll
        for (int u = 0; u < RUN; u++)
            if ((unsigned)u < n) dst[u] = v[u];
    }
}

/* n (<= RUN) elements of a mask view from index i0 (its elements, not yet its bit). */
__device__ __forceinline__ void load_view_run(const gpu_mask_view &v, size_t i0, unsigned n, uint32_t (&e)[RUN]) {
    if (v.width == 1)
        load_run((const uint8_t *)v.base + i0, n, e);
    else
        load_run((const uint16_t *)v.base + i0, n, e);
}

/* Grows the box lo..hi (x, y, z) by the voxels of a run of the flat grid (nx by
 * ny rows) from index i0, n of them, whose bit is set in `bits` (bit u: voxel
 * i0 + u). A run within one row is bound by its first and last such voxel; one
 * that goes on in the next row, voxel by voxel. */
__device__ __forceinline__ void run_bounds(unsigned bits, size_t i0, unsigned n, size_t nx, size_t ny,
                                           unsigned (&lo)[3], unsigned (&hi)[3]) {
    if (!bits) return;
    size_t row = i0 / nx;
    unsigned c[3] = {(unsigned)(i0 - row * nx), (unsigned)(row % ny), (unsigned)(row / ny)};
    if (c[0] + n <= nx) {
        unsigned first = c[0] + (unsigned)__ffs((int)bits) - 1u, last = c[0] + 31u - (unsigned)__clz((int)bits);
        lo[0] = min(lo[0], first), hi[0] = max(hi[0], last);
        for (int d = 1; d < 3; d++) lo[d] = min(lo[d], c[d]), hi[d] = max(hi[d], c[d]);
        return;
    }
    for (unsigned u = 0; u < n; u++) {
        if (bits >> u & 1u)
            for (int d = 0; d < 3; d++) lo[d] = min(lo[d], c[d]), hi[d] = max(hi[d], c[d]);
        if (++c[0] == nx) {
            c[0] = 0;
            if (++c[1] == ny) c[1] = 0, c[2]++;
        }
    }
}

#endif
