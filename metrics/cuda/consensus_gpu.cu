/*
 * consensus_gpu.cu: the consensus of several raters (sa_consensus, consensus.c)
 * on the GPU, from masks already resident there (sa_gpu_masks), bit for bit as the
 * CPU computes it.
 *
 * The voxel passes run on the GPU; what decides a result is shared with the CPU
 * through staple_em.h (the majority rule, the city-block step and line, EM, the
 * output tables). Everything the kernels compute is integer (patterns, box,
 * distances, counts: exact in any order), and the floats they write are looked up
 * in tables that the host fills with the CPU's own functions.
 *
 *  - k == 1 and majority: one per-voxel pass (k_majority): the voter pattern, its
 *    popcount, and a table of k + 1 (probability, mask) pairs.
 *  - STAPLE: k_patterns (each voxel's pattern of the k raters, renumbered 0..k-1
 *    in rater order, and the union's box), for dilated_union the city-block
 *    distance to the union on the box grown by d, saturated at d + 1 (for
 *    d <= 8 three window passes, k_dist_x_window and k_dist_axis_window, each
 *    voxel on its own; beyond, k_dist_init and three k_dist_lines sweeps),
 *    k_count (the pattern histogram of the region and the region's voxel
 *    count), then on the host the pattern list and EM (sa_staple_em:
 *    O(patterns x K) per iteration, microseconds, so it stays on the host), then
 *    k_output (W and the mask from the tables, whole grid).
 *  - The voxel passes take runs of 16 voxels a thread, all loads first
 *    (RUN_LOOP, below): they are bound by memory latency.
 *
 * Compile with --fmad=false (nvcc) and, for the host side, without contraction.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.cuh"
#include "staple_em.h"
#include "voxel_runs.cuh"

/* Up to 2^12 patterns the histogram is kept per block in shared memory. */
#define SHARED_HIST_MAX_RATERS 12
#define THREADS 256

/* ---- The raters' pattern ------------------------------------------------------------ */

/* The k raters as views of the resident masks, in rater order. */
struct rater_views {
    gpu_mask_view v[SA_GPU_MAX_UPLOAD];
    int k;
};

/* The raters' patterns of voxels [i0, i0 + n): bit r set when rater r marks the
 * voxel; raters sharing an element (the uploaded pattern) read it once. */
__device__ __forceinline__ void rater_patterns(const rater_views &rv, size_t i0, unsigned n, uint32_t (&p)[RUN]) {
    uint32_t e[RUN];
    const void *base = nullptr;
    int width = 0;
#pragma unroll
    for (int u = 0; u < RUN; u++) p[u] = 0, e[u] = 0;
    for (int r = 0; r < rv.k; r++) {
        const gpu_mask_view &v = rv.v[r];
        if (v.base != base || v.width != width) {
            base = v.base;
            width = v.width;
            load_view_run(v, i0, n, e);
        }
#pragma unroll
        for (int u = 0; u < RUN; u++)
            if (e[u] & v.bit) p[u] |= 1u << r;
    }
}

/* ---- Kernels -------------------------------------------------------------------------- */

/* Per voxel: (probability, mask) of the vote count (k == 1 and majority). */
struct vote_table {
    float w[SA_GPU_MAX_UPLOAD + 1];
    uint8_t m[SA_GPU_MAX_UPLOAD + 1];
};

__global__ void k_majority(rater_views rv, size_t n, vote_table t, float *prob, uint8_t *mask) {
    RUN_LOOP(w, (n + RUN - 1) / RUN) {
        size_t i0 = w * RUN;
        unsigned cnt = n - i0 < RUN ? (unsigned)(n - i0) : RUN;
        uint32_t p[RUN], m[RUN];
        float f[RUN];
        rater_patterns(rv, i0, cnt, p);
#pragma unroll
        for (int u = 0; u < RUN; u++) {
            int v = __popc(p[u]);
            f[u] = t.w[v], m[u] = t.m[v];
        }
        if (prob) store_run(prob + i0, cnt, f);
        store_run(mask + i0, cnt, m);
    }
}

/* Per voxel of the grid: the raters' pattern, and the union's box
 * box[0..2] = min x, y, z (UINT_MAX when empty), box[3..5] = max. */
__global__ void k_patterns(rater_views rv, size_t nx, size_t ny, size_t nvox, uint16_t *pat, unsigned *box) {
    __shared__ unsigned s[6];
    if (threadIdx.x == 0) s[0] = s[1] = s[2] = UINT_MAX, s[3] = s[4] = s[5] = 0;
    __syncthreads();
    unsigned lo[3] = {UINT_MAX, UINT_MAX, UINT_MAX}, hi[3] = {0, 0, 0};
    RUN_LOOP(w, (nvox + RUN - 1) / RUN) {
        size_t i0 = w * RUN;
        unsigned cnt = nvox - i0 < RUN ? (unsigned)(nvox - i0) : RUN;
        uint32_t p[RUN];
        rater_patterns(rv, i0, cnt, p);
        store_run(pat + i0, cnt, p);
        unsigned bits = 0; /* bit u: voxel i0 + u is in the union */
#pragma unroll
        for (int u = 0; u < RUN; u++) bits |= (unsigned)(p[u] != 0) << u;
        run_bounds(bits, i0, cnt, nx, ny, lo, hi);
    }
    if (lo[0] != UINT_MAX)
        for (int a = 0; a < 3; a++) atomicMin(&s[a], lo[a]), atomicMax(&s[3 + a], hi[a]);
    __syncthreads();
    if (threadIdx.x == 0 && s[0] != UINT_MAX)
        for (int a = 0; a < 3; a++) atomicMin(&box[a], s[a]), atomicMax(&box[3 + a], s[3 + a]);
}

/* The region's box: origin (x0, y0, z0) in the grid, size bx x by x bz. */
struct box3 {
    size_t x0, y0, z0, x1, y1, z1, bx, by, bz;
};

/* Box passes go by segments (voxel_runs.cuh): segment w lies along x of box
 * row w / per_row (y = row % by, z = row / by within the box); a lane's voxels
 * are at box x = x0, x0 + 32, ... (box_segment). */
__host__ __device__ static inline size_t box_segments(const box3 &b) { return segments_per_row(b.bx) * b.by * b.bz; }

struct box_segment {
    size_t row, x0; /* the lane's first voxel: x0, then x0 + 32, ... */
};

__device__ __forceinline__ box_segment box_segment_at(const box3 &b, size_t w) {
    size_t per_row = segments_per_row(b.bx);
    box_segment s;
    s.row = w / per_row;
    s.x0 = (w - s.row * per_row) * SEGMENT + (threadIdx.x & 31u);
    return s;
}

/* The grid index of box voxel (x, row). */
__device__ __forceinline__ size_t box_to_grid(const box3 &b, size_t nx, size_t ny, size_t row, size_t x) {
    return ((b.z0 + row / b.by) * ny + (b.y0 + row % b.by)) * nx + b.x0 + x;
}

/* Dilations up to this many voxels use the window passes below; larger ones
 * the line sweeps (sa_cityblock_line). */
#define WINDOW_MAX_DILATION 8

/* The city-block passes for d <= WINDOW_MAX_DILATION, each voxel on its own:
 * after the sweeps along an axis, a voxel holds min over the line of
 * (in[x'] + |x - x'|), and as every value is at most the cap d + 1, only x'
 * within d of x can lower it. Pass x starts from the union itself: 0 on it, the
 * cap elsewhere (what k_dist_init writes), so it needs only the union's bits
 * within d along the row. */
__global__ void k_dist_x_window(const uint16_t *pat, size_t nx, size_t ny, box3 b, unsigned d, uint16_t *out) {
    const unsigned cap = d + 1;
    SEGMENT_LOOP(w, box_segments(b)) {
        box_segment sg = box_segment_at(b, w);
        const uint16_t *row = pat + box_to_grid(b, nx, ny, sg.row, 0);
        uint32_t v[LANE_RUN];
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++) {
            size_t x = sg.x0 + 32 * u;
            v[u] = cap;
            if (x >= b.bx) continue;
            for (unsigned t = d + 1; t-- > 0;) /* nearest last: every load independent */
                if ((x >= t && row[x - t]) || (x + t < b.bx && row[x + t])) v[u] = t;
        }
        uint16_t *o = out + sg.row * b.bx;
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++)
            if (sg.x0 + 32 * u < b.bx) o[sg.x0 + 32 * u] = (uint16_t)v[u];
    }
}

/* Along y (axis 1) or z (axis 2) of the box: out = min over |t| <= d of
 * in[at t along the axis] + |t|. */
__global__ void k_dist_axis_window(const uint16_t *in, box3 b, int axis, unsigned d, uint16_t *out) {
    const size_t stride = axis == 1 ? b.bx : b.bx * b.by, len = axis == 1 ? b.by : b.bz;
    SEGMENT_LOOP(w, box_segments(b)) {
        box_segment sg = box_segment_at(b, w);
        size_t c = axis == 1 ? sg.row % b.by : sg.row / b.by, base = sg.row * b.bx + sg.x0;
        uint32_t v[LANE_RUN];
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++) v[u] = sg.x0 + 32 * u < b.bx ? in[base + 32 * u] : 0u;
        for (unsigned t = 1; t <= d; t++) {
            bool below = c >= t, above = c + t < len;
            size_t off = (size_t)t * stride;
#pragma unroll
            for (int u = 0; u < LANE_RUN; u++) {
                if (sg.x0 + 32 * u >= b.bx) continue;
                if (below) {
                    uint32_t a = in[base + 32 * u - off] + t;
                    v[u] = a < v[u] ? a : v[u];
                }
                if (above) {
                    uint32_t a = in[base + 32 * u + off] + t;
                    v[u] = a < v[u] ? a : v[u];
                }
            }
        }
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++)
            if (sg.x0 + 32 * u < b.bx) out[base + 32 * u] = (uint16_t)v[u];
    }
}

/* Larger dilations: per voxel of the box, 0 on the union, cap (d + 1)
 * elsewhere; then k_dist_lines along each axis. */
__global__ void k_dist_init(const uint16_t *pat, size_t nx, size_t ny, box3 b, uint16_t cap, uint16_t *dist) {
    SEGMENT_LOOP(w, box_segments(b)) {
        box_segment sg = box_segment_at(b, w);
        const uint16_t *src = pat + box_to_grid(b, nx, ny, sg.row, 0);
        uint16_t *o = dist + sg.row * b.bx;
        uint32_t p[LANE_RUN];
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++) p[u] = sg.x0 + 32 * u < b.bx ? src[sg.x0 + 32 * u] : 0u;
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++)
            if (sg.x0 + 32 * u < b.bx) o[sg.x0 + 32 * u] = p[u] ? 0 : cap;
    }
}

/* One thread per line of the box: sa_cityblock_line on n values at stride, the
 * line L starting at (L % inner) + (L / inner) * outer. */
__global__ void k_dist_lines(uint16_t *dist, size_t lines, size_t inner, size_t outer, size_t n, size_t stride) {
    for (size_t L = (size_t)blockIdx.x * blockDim.x + threadIdx.x; L < lines; L += (size_t)gridDim.x * blockDim.x)
        sa_cityblock_line(dist + (L % inner) + (L / inner) * outer, n, stride);
}

/* Per voxel of the box: counts of the non-zero patterns of the region (hist, 2^k
 * entries; entry 0 is left to the host) and of the region's voxels (*region).
 * dist NULL: the whole box is region. SHARED: per-block counts in shared memory. */
template <bool SHARED>
__global__ void k_count(const uint16_t *pat, const uint16_t *dist, unsigned dil, size_t nx, size_t ny, box3 b,
                        size_t table, unsigned long long *hist, unsigned long long *region) {
    extern __shared__ unsigned long long sh[];
    __shared__ unsigned long long s_region;
    if (SHARED)
        for (size_t t = threadIdx.x; t < table; t += blockDim.x) sh[t] = 0;
    if (threadIdx.x == 0) s_region = 0;
    __syncthreads();
    unsigned long long in_region = 0;
    SEGMENT_LOOP(w, box_segments(b)) {
        box_segment sg = box_segment_at(b, w);
        const uint16_t *src = pat + box_to_grid(b, nx, ny, sg.row, 0);
        uint32_t p[LANE_RUN], dv[LANE_RUN];
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++) {
            size_t x = sg.x0 + 32 * u;
            p[u] = x < b.bx ? src[x] : 0u;
            dv[u] = dist && x < b.bx ? dist[sg.row * b.bx + x] : 0u;
        }
        /* a region holds few patterns, most of it one or two: the lanes of a
         * warp with the same pattern add once, their count (every lane takes
         * part in the match) */
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++) {
            bool counted = sg.x0 + 32 * u < b.bx && dv[u] <= dil;
            in_region += counted;
            uint32_t key = counted ? p[u] : 0u;
            unsigned peers = __match_any_sync(0xFFFFFFFFu, key);
            if (key && (threadIdx.x & 31u) == (unsigned)__ffs((int)peers) - 1u)
                atomicAdd(SHARED ? &sh[key] : &hist[key], (unsigned long long)__popc(peers));
        }
    }
    if (in_region) atomicAdd(&s_region, in_region);
    __syncthreads();
    if (SHARED)
        for (size_t t = threadIdx.x; t < table; t += blockDim.x)
            if (sh[t]) atomicAdd(&hist[t], sh[t]);
    if (threadIdx.x == 0 && s_region) atomicAdd(region, s_region);
}

/* Per voxel of the grid: W and the mask from the tables (entry `outside` for
 * voxels outside the box or, with dist, outside the region). */
__global__ void k_output(const uint16_t *pat, const uint16_t *dist, unsigned dil, size_t nx, size_t ny, size_t rows,
                         box3 b, const float *wt, const uint8_t *mt, uint32_t outside, float *prob, uint8_t *mask) {
    const size_t per_row = segments_per_row(nx);
    SEGMENT_LOOP(w, rows * per_row) {
        size_t row = w / per_row, x0 = (w - row * per_row) * SEGMENT + (threadIdx.x & 31u);
        size_t y = row % ny, z = row / ny, i0 = row * nx;
        bool row_in = y >= b.y0 && y <= b.y1 && z >= b.z0 && z <= b.z1;
        size_t d0 = row_in ? ((z - b.z0) * b.by + (y - b.y0)) * b.bx : 0;
        uint32_t p[LANE_RUN], dv[LANE_RUN];
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++) {
            size_t x = x0 + 32 * u;
            bool in = row_in && x < nx && x >= b.x0 && x <= b.x1;
            p[u] = in ? pat[i0 + x] : 0u;
            dv[u] = in && dist ? dist[d0 + x - b.x0] : 0u;
        }
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++) {
            size_t x = x0 + 32 * u;
            if (x >= nx) continue;
            uint32_t t = outside;
            if (row_in && x >= b.x0 && x <= b.x1) t = dist ? sa_staple_entry(p[u], (uint16_t)dv[u], dil, outside) : p[u];
            if (prob) prob[i0 + x] = wt[t]; /* NULL: W is not wanted */
            mask[i0 + x] = mt[t];
        }
    }
}

/* ---- Host side ---------------------------------------------------------------------- */

/* Everything one consensus holds, freed by job_free. */
struct job {
    sa_gpu_masks *m;
    size_t k, nvox;
    sa_consensus_options opt;
    rater_views rv;
    sa_error *err;

    uint8_t *d_mask;
    float *d_prob;
    uint16_t *d_pat, *d_dist, *d_dist2;
    void *d_small; /* region, hist, box, W and mask tables */
    uint64_t *h_hist;
    uint32_t *pat_list;
    double *cnt, *W;
    float *w_table;
    uint8_t *m_table;
};

static void job_free(job *j) {
    /* gpu_free waits for the work in flight; its errors are those already reported */
    cudaStream_t st = j->m->stream;
    gpu_free(j->d_mask, st);
    gpu_free(j->d_prob, st);
    gpu_free(j->d_pat, st);
    gpu_free(j->d_dist, st);
    gpu_free(j->d_dist2, st);
    gpu_free(j->d_small, st);
    j->d_mask = NULL, j->d_prob = NULL, j->d_pat = NULL, j->d_dist = NULL, j->d_dist2 = NULL, j->d_small = NULL;
    free(j->h_hist);
    free(j->pat_list);
    free(j->cnt);
    free(j->W);
    free(j->w_table);
    free(j->m_table);
    j->h_hist = NULL, j->pat_list = NULL, j->cnt = NULL, j->W = NULL, j->w_table = NULL, j->m_table = NULL;
}

#define TRY(x)                   \
    do {                         \
        int try_rc_ = (x);       \
        if (try_rc_) return try_rc_; \
    } while (0)

static int host_oom(job *j) {
    return sa_error_set(j->err, "out of memory computing the STAPLE consensus of %zu raters", j->k);
}

/* k == 1 and majority: the vote table from the CPU's rule. */
static int run_majority(job *j) {
    vote_table t;
    memset(&t, 0, sizeof t);
    for (unsigned v = 0; v <= (unsigned)j->k; v++) {
        t.w[v] = sa_majority_probability(v, (unsigned)j->k);
        t.m[v] = sa_majority_mask(v, (unsigned)j->k);
    }
    k_majority<<<run_blocks(THREADS, (j->nvox + RUN - 1) / RUN), THREADS, 0, j->m->stream>>>(j->rv, j->nvox, t, j->d_prob, j->d_mask);
    return gpu_check(cudaGetLastError(), "consensus: majority kernel", j->err);
}

static int run_staple(job *j, sa_consensus_result *out) {
    sa_gpu_masks *m = j->m;
    cudaStream_t st = m->stream;
    sa_error *err = j->err;
    size_t nx = m->grid.nx, ny = m->grid.ny, nz = m->grid.nz, nvox = j->nvox, k = j->k;
    size_t table = (size_t)1 << k;
    int dilated = j->opt.region == SA_STAPLE_DILATED_UNION;

    /* the small buffer: region (1) and hist (table) as u64, box (6 u32), then the
     * W table (table + 1 floats) and the mask table (table + 1 bytes) */
    size_t off_box = (1 + table) * sizeof(uint64_t);
    size_t off_w = off_box + 8 * sizeof(unsigned);
    size_t off_m = off_w + (table + 1) * sizeof(float);
    size_t small_bytes = off_m + (table + 1);
    TRY(gpu_alloc((void **)&j->d_pat, nvox * sizeof(uint16_t), "consensus: patterns", err));
    TRY(gpu_alloc(&j->d_small, small_bytes, "consensus: tables", err));
    char *small = (char *)j->d_small;
    unsigned long long *d_region = (unsigned long long *)small;
    unsigned long long *d_hist = d_region + 1;
    unsigned *d_box = (unsigned *)(small + off_box);
    float *d_wt = (float *)(small + off_w);
    uint8_t *d_mt = (uint8_t *)(small + off_m);
    TRY(gpu_check(cudaMemsetAsync(small, 0, off_box, st), "consensus: clearing the counts", err));
    TRY(gpu_check(cudaMemsetAsync(d_box, 0xFF, 3 * sizeof(unsigned), st), "consensus: clearing the box", err));
    TRY(gpu_check(cudaMemsetAsync(d_box + 3, 0, 3 * sizeof(unsigned), st), "consensus: clearing the box", err));

    /* patterns and the union's box */
    k_patterns<<<run_blocks(THREADS, (nvox + RUN - 1) / RUN), THREADS, 0, st>>>(j->rv, nx, ny, nvox, j->d_pat, d_box);
    TRY(gpu_check(cudaGetLastError(), "consensus: pattern kernel", err));
    unsigned hbox[6];
    TRY(gpu_check(cudaMemcpyAsync(hbox, d_box, sizeof hbox, cudaMemcpyDeviceToHost, st), "consensus: reading the box", err));
    TRY(gpu_check(cudaStreamSynchronize(st), "consensus: pattern pass", err));

    if (hbox[0] == UINT_MAX) {
        /* Nobody marks anything: empty consensus, no evidence against any rater
         * (as consensus.c). */
        for (size_t r = 0; r < k; r++) out->sensitivity[r] = out->specificity[r] = 1.0;
        out->prior = 0;
        out->iterations = 0;
        out->converged = 1;
        out->region_voxels = dilated ? 0 : (uint64_t)nvox;
        TRY(gpu_check(cudaMemsetAsync(j->d_mask, 0, nvox, st), "consensus: clearing the mask", err));
        if (j->d_prob)
            TRY(gpu_check(cudaMemsetAsync(j->d_prob, 0, nvox * sizeof(float), st), "consensus: clearing W", err));
        return 0;
    }

    box3 b;
    b.x0 = hbox[0], b.y0 = hbox[1], b.z0 = hbox[2], b.x1 = hbox[3], b.y1 = hbox[4], b.z1 = hbox[5];
    unsigned dil = 0;
    if (dilated) { /* the region lies within the union's box grown by d, clipped */
        size_t d = (size_t)j->opt.dilation_voxels;
        dil = (unsigned)d;
        sa_staple_grow(&b.x0, &b.x1, d, nx);
        sa_staple_grow(&b.y0, &b.y1, d, ny);
        sa_staple_grow(&b.z0, &b.z1, d, nz);
    }
    b.bx = b.x1 - b.x0 + 1, b.by = b.y1 - b.y0 + 1, b.bz = b.z1 - b.z0 + 1;
    size_t box_vox = b.bx * b.by * b.bz;

    if (dilated) {
        TRY(gpu_alloc((void **)&j->d_dist, box_vox * sizeof(uint16_t), "consensus: distances", err));
        unsigned blocks = segment_blocks(THREADS, box_segments(b));
        if (dil <= WINDOW_MAX_DILATION) { /* x: union -> d_dist, y: -> d_dist2, z: -> d_dist */
            TRY(gpu_alloc((void **)&j->d_dist2, box_vox * sizeof(uint16_t), "consensus: distances", err));
            k_dist_x_window<<<blocks, THREADS, 0, st>>>(j->d_pat, nx, ny, b, dil, j->d_dist);
            k_dist_axis_window<<<blocks, THREADS, 0, st>>>(j->d_dist, b, 1, dil, j->d_dist2);
            k_dist_axis_window<<<blocks, THREADS, 0, st>>>(j->d_dist2, b, 2, dil, j->d_dist);
            TRY(gpu_check(cudaGetLastError(), "consensus: distance kernels", err));
        } else {
            k_dist_init<<<blocks, THREADS, 0, st>>>(j->d_pat, nx, ny, b, (uint16_t)(dil + 1), j->d_dist);
            TRY(gpu_check(cudaGetLastError(), "consensus: distance kernel", err));
            /* along x (lines = rows of the box), y (lines = (x, z)), z (lines = (x, y)) */
            size_t lines[3] = {b.by * b.bz, b.bx * b.bz, b.bx * b.by};
            size_t inner[3] = {1, b.bx, b.bx * b.by};
            size_t outer[3] = {b.bx, b.bx * b.by, 0};
            size_t len[3] = {b.bx, b.by, b.bz};
            size_t stride[3] = {1, b.bx, b.bx * b.by};
            for (int a = 0; a < 3; a++) {
                if (len[a] < 2) continue; /* nothing to propagate */
                size_t line_blocks = gpu_blocks(lines[a], THREADS);
                if (line_blocks > ((size_t)1 << 20)) line_blocks = (size_t)1 << 20;
                k_dist_lines<<<(unsigned)line_blocks, THREADS, 0, st>>>(j->d_dist, lines[a], inner[a], outer[a],
                                                                       len[a], stride[a]);
                TRY(gpu_check(cudaGetLastError(), "consensus: distance line kernel", err));
            }
        }
    }

    /* the region's pattern counts */
    unsigned count_blocks = segment_blocks(THREADS, box_segments(b));
    if (k <= SHARED_HIST_MAX_RATERS)
        k_count<true><<<count_blocks, THREADS, table * sizeof(unsigned long long), st>>>(j->d_pat, j->d_dist, dil, nx,
                                                                                        ny, b, table, d_hist, d_region);
    else
        k_count<false><<<count_blocks, THREADS, 0, st>>>(j->d_pat, j->d_dist, dil, nx, ny, b, table, d_hist, d_region);
    TRY(gpu_check(cudaGetLastError(), "consensus: count kernel", err));
    j->h_hist = (uint64_t *)malloc((1 + table) * sizeof(uint64_t));
    if (!j->h_hist) return host_oom(j);
    TRY(gpu_check(cudaMemcpyAsync(j->h_hist, d_region, (1 + table) * sizeof(uint64_t), cudaMemcpyDeviceToHost, st),
                  "consensus: reading the counts", err));
    TRY(gpu_check(cudaStreamSynchronize(st), "consensus: count pass", err));

    /* as consensus.c: pattern 0 gets the region's voxels that no rater marks */
    uint64_t region = j->h_hist[0], *hist = j->h_hist + 1;
    if (!dilated) region += (uint64_t)(nvox - box_vox); /* outside the union's box */
    uint64_t nonzero = 0;
    for (size_t t = 1; t < table; t++) nonzero += hist[t];
    hist[0] = region - nonzero;
    size_t n_pat = sa_staple_pattern_list(hist, table, NULL, NULL);
    j->pat_list = (uint32_t *)malloc((n_pat ? n_pat : 1) * sizeof(uint32_t));
    j->cnt = (double *)malloc((n_pat ? n_pat : 1) * sizeof(double));
    j->W = (double *)malloc((n_pat ? n_pat : 1) * sizeof(double));
    j->w_table = (float *)calloc(table + 1, sizeof(float));
    j->m_table = (uint8_t *)calloc(table + 1, 1);
    if (!j->pat_list || !j->cnt || !j->W || !j->w_table || !j->m_table) return host_oom(j);
    sa_staple_pattern_list(hist, table, j->pat_list, j->cnt);

    /* EM over the patterns, on the host: O(patterns x K) per iteration, microseconds
     * (at most 2^k patterns), and the very function consensus.c runs. */
    sa_em_out em;
    sa_staple_em(j->pat_list, j->cnt, n_pat, k, &j->opt, j->W, &em);
    for (size_t r = 0; r < k; r++) out->sensitivity[r] = em.p[r], out->specificity[r] = em.q[r];
    out->prior = em.prior;
    out->iterations = em.iterations;
    out->converged = em.converged;
    out->region_voxels = region;

    /* the output tables, the outside entry last */
    float w_outside;
    uint8_t m_outside;
    sa_staple_tables(j->pat_list, j->W, n_pat, j->opt.threshold, 1, dilated, j->w_table, j->m_table, &w_outside,
                     &m_outside);
    j->w_table[table] = w_outside;
    j->m_table[table] = m_outside;
    TRY(gpu_check(cudaMemcpyAsync(d_wt, j->w_table, (table + 1) * sizeof(float), cudaMemcpyHostToDevice, st),
                  "consensus: W table", err));
    TRY(gpu_check(cudaMemcpyAsync(d_mt, j->m_table, table + 1, cudaMemcpyHostToDevice, st), "consensus: mask table",
                  err));
    size_t rows = ny * nz;
    k_output<<<segment_blocks(THREADS, rows * segments_per_row(nx)), THREADS, 0, st>>>(
        j->d_pat, j->d_dist, dil, nx, ny, rows, b, d_wt, d_mt, (uint32_t)table, j->d_prob, j->d_mask);
    return gpu_check(cudaGetLastError(), "consensus: output kernel", err);
}

/* The checks of sa_consensus, with its messages; the options by consensus.c's
 * own function. */
static int check_args(sa_gpu_masks *m, const int *raters, size_t k, const sa_consensus_options *opt,
                      sa_error *err) {
    if (!m) return sa_error_set(err, "consensus: no GPU masks given");
    if (k == 0) return sa_error_set(err, "consensus: no rater masks given (k = 0)");
    if (k > SA_MAX_RATERS)
        return sa_error_set(err, "consensus: %zu raters, at most %d are supported", k, SA_MAX_RATERS);
    if (k > SA_GPU_MAX_UPLOAD)
        return sa_error_set(err, "consensus: %zu raters, at most %d on the GPU", k, SA_GPU_MAX_UPLOAD);
    if (!raters) return sa_error_set(err, "consensus: no rater masks given");
    for (size_t r = 0; r < k; r++) {
        int s = raters[r];
        if (s < 0 || s >= SA_GPU_MAX_SLOTS || !gpu_masks_view(m, s).base)
            return sa_error_set(err, "consensus: rater %zu has no mask (GPU slot %d)", r + 1, s);
    }
    return sa_consensus_options_check(opt, err); /* consensus.c's own check */
}

static int run(job *j, unsigned maps, sa_consensus_result *out, int *slot_out) {
    sa_gpu_masks *m = j->m;
    cudaStream_t st = m->stream;
    size_t nvox = j->nvox;
    if (maps & SA_GPU_MAP_MASK) out->mask = (uint8_t *)malloc(nvox);
    if (maps & SA_GPU_MAP_PROBABILITY) out->probability = (float *)malloc(nvox * sizeof(float));
    if (((maps & SA_GPU_MAP_MASK) && !out->mask) || ((maps & SA_GPU_MAP_PROBABILITY) && !out->probability))
        return sa_error_set(j->err, "out of memory for a consensus of %zu voxels", nvox);
    out->raters = j->k;
    TRY(gpu_alloc((void **)&j->d_mask, nvox, "consensus: mask", j->err));
    if (maps & SA_GPU_MAP_PROBABILITY) /* W is written only when it is wanted */
        TRY(gpu_alloc((void **)&j->d_prob, nvox * sizeof(float), "consensus: probabilities", j->err));

    if (j->k == 1 || j->opt.method == SA_CONSENSUS_MAJORITY)
        TRY(run_majority(j)); /* with k == 1: the rater's mask, probability 0 or 1, as the CPU */
    else
        TRY(run_staple(j, out));

    if (out->mask)
        TRY(gpu_check(cudaMemcpyAsync(out->mask, j->d_mask, nvox, cudaMemcpyDeviceToHost, st),
                      "consensus: reading the mask", j->err));
    if (out->probability)
        TRY(gpu_check(cudaMemcpyAsync(out->probability, j->d_prob, nvox * sizeof(float), cudaMemcpyDeviceToHost, st),
                      "consensus: reading W", j->err));
    TRY(gpu_check(cudaStreamSynchronize(st), "consensus", j->err));

    if (slot_out) {
        int slot = gpu_masks_add(m, j->d_mask, j->err);
        if (slot < 0) return -1;
        j->d_mask = NULL; /* the set owns it now */
        *slot_out = slot;
    }
    return 0;
}

extern "C" int sa_gpu_consensus(sa_gpu_masks *m, const int *raters, size_t k, const sa_consensus_options *opt_in,
                                unsigned maps, sa_consensus_result *out, int *slot_out, sa_error *err) {
    if (!out) return sa_error_set(err, "consensus: no result given");
    memset(out, 0, sizeof *out);
    if (slot_out) *slot_out = -1;
    job j;
    memset(&j, 0, sizeof j);
    if (opt_in)
        j.opt = *opt_in;
    else
        sa_consensus_options_default(&j.opt);
    if (check_args(m, raters, k, &j.opt, err)) return -1;
    j.m = m;
    j.k = k;
    j.nvox = m->nvox;
    j.err = err;
    j.rv.k = (int)k;
    for (size_t r = 0; r < k; r++) j.rv.v[r] = gpu_masks_view(m, raters[r]);

    int rc = run(&j, maps, out, slot_out);
    job_free(&j);
    if (rc) {
        sa_consensus_free(out);
        if (slot_out) *slot_out = -1;
    }
    return rc;
}

/* sa_gpu_masks_release (freeing a computed slot) lives in masks.cu. */
