/*
 * pair_gpu.cu: the GPU's half of sa_score_pair: voxel counts and boxes, surface
 * voxels, the two exact directed distance sets and their summaries, for two
 * masks resident on the GPU. The numbers are the CPU engine's, bit for bit:
 *
 *  - counts and boxes are integers;
 *  - distances come from the dense separable transform whose per-line steps are
 *    edt_line.h's shared functions: pass X from each row's bits (a warp a row,
 *    sa_row_bits_nearest), passes Y and Z one line per thread with the lean
 *    envelope (4 bytes a parabola, in the thread's own cached local memory),
 *    deciding exactly as the CPU's envelope; every distance is the same
 *    expression the CPU evaluates, ((sx*dx)^2 + (sy*dy)^2) + (sz*dz)^2,
 *    compiled without fused multiply-add, then an IEEE sqrt;
 *  - sums are exact (exact_sum.h), so the order the threads add in is irrelevant;
 *  - percentiles read the order statistics from a radix sort (CUB) and combine
 *    them with percentile_rule.h.
 *
 * The work runs on the box that holds both masks (a separable transform on a box
 * that holds every feature is exact in it). Layout of the region arrays: voxel
 * (i, j, k) of the box at (k * rny + j) * rnx + i.
 */
#include <cub/cub.cuh>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "edt_line.h"
#include "exact_sum.h"
#include "gpu_internal.cuh"
#include "percentile_rule.h"
#include "voxel_runs.cuh"

#define LINE_THREADS 128
#define VOXEL_THREADS 256
#define FLAG_REF 1u
#define FLAG_PRED 2u

/* ---- Counts and boxes ------------------------------------------------------- */

struct scan_result {
    unsigned long long ref, pred, both;
    unsigned int lo[2][3], hi[2][3]; /* [0] ref, [1] pred; lo = UINT_MAX when empty */
};

/* Counts and boxes of both masks: a thread a run of RUN voxels of the flat
 * grid (voxel_runs.cuh), per-block partials in shared memory. */
__global__ void scan_kernel(gpu_mask_view ref, gpu_mask_view pred, int nx, int ny, size_t rows, scan_result *out) {
    __shared__ unsigned long long s_count[3];
    __shared__ unsigned int s_lo[2][3], s_hi[2][3];
    if (threadIdx.x < 3) s_count[threadIdx.x] = 0;
    if (threadIdx.x < 6) {
        s_lo[threadIdx.x / 3][threadIdx.x % 3] = 0xFFFFFFFFu;
        s_hi[threadIdx.x / 3][threadIdx.x % 3] = 0;
    }
    __syncthreads();
    unsigned long long c_ref = 0, c_pred = 0, c_both = 0;
    unsigned int lo[2][3] = {{0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}};
    unsigned int hi[2][3] = {{0, 0, 0}, {0, 0, 0}};
    const size_t nvox = rows * (size_t)nx;
    const bool shared_element = ref.base == pred.base && ref.width == pred.width;
    RUN_LOOP(w, (nvox + RUN - 1) / RUN) {
        size_t i0 = w * RUN;
        unsigned n = nvox - i0 < RUN ? (unsigned)(nvox - i0) : RUN;
        uint32_t ea[RUN], eb[RUN];
        load_view_run(ref, i0, n, ea);
        if (!shared_element) load_view_run(pred, i0, n, eb);
        unsigned bits[2] = {0, 0}; /* bit u: voxel i0 + u is in ref, in pred */
#pragma unroll
        for (int u = 0; u < RUN; u++) {
            bits[0] |= (unsigned)((ea[u] & ref.bit) != 0) << u;
            bits[1] |= (unsigned)(((shared_element ? ea[u] : eb[u]) & pred.bit) != 0) << u;
        }
        c_ref += (unsigned)__popc(bits[0]), c_pred += (unsigned)__popc(bits[1]);
        c_both += (unsigned)__popc(bits[0] & bits[1]);
        for (int s = 0; s < 2; s++) run_bounds(bits[s], i0, n, (size_t)nx, (size_t)ny, lo[s], hi[s]);
    }
    atomicAdd(&s_count[0], c_ref);
    atomicAdd(&s_count[1], c_pred);
    atomicAdd(&s_count[2], c_both);
    for (int s = 0; s < 2; s++)
        for (int d = 0; d < 3; d++) {
            if (lo[s][d] != 0xFFFFFFFFu) atomicMin(&s_lo[s][d], lo[s][d]);
            if (hi[s][d]) atomicMax(&s_hi[s][d], hi[s][d]);
        }
    __syncthreads();
    if (threadIdx.x == 0) {
        atomicAdd(&out->ref, s_count[0]);
        atomicAdd(&out->pred, s_count[1]);
        atomicAdd(&out->both, s_count[2]);
        for (int s = 0; s < 2; s++)
            for (int d = 0; d < 3; d++) {
                atomicMin(&out->lo[s][d], s_lo[s][d]);
                atomicMax(&out->hi[s][d], s_hi[s][d]);
            }
    }
}

/* ---- Surfaces --------------------------------------------------------------- */

struct region_geometry {
    int x0, y0, z0;    /* box origin in the grid */
    int rnx, rny, rnz; /* box size */
    int nx, ny, nz;    /* grid size */
    int z_packed;      /* pass Z's nodes pack into 32 bits (z_nodes_packed, decided once a job) */
};

/* A segment's voxels (lane voxel u at region x i0 + 32u of row (y, z)) and
 * their 6 face neighbours, as elements of a mask view: e[u][0] the voxel, then
 * -x, +x, -y, +y, -z, +z; 0 outside the image (outside counts as outside).
 * Every load is issued before any is used. */
template <typename T>
__device__ __forceinline__ void load_neighbourhoods(const T *base, const region_geometry &g, int i0, int y, int z,
                                                    uint32_t (&e)[LANE_RUN][7]) {
    size_t nx = (size_t)g.nx, plane = nx * (size_t)g.ny, row = (size_t)z * plane + (size_t)y * nx;
#pragma unroll
    for (int u = 0; u < LANE_RUN; u++) {
        int i = i0 + 32 * u, x = g.x0 + i;
        bool in = i < g.rnx;
        size_t at = row + (size_t)x;
        e[u][0] = in ? base[at] : 0u;
        e[u][1] = in && x > 0 ? base[at - 1] : 0u;
        e[u][2] = in && x + 1 < g.nx ? base[at + 1] : 0u;
        e[u][3] = in && y > 0 ? base[at - nx] : 0u;
        e[u][4] = in && y + 1 < g.ny ? base[at + nx] : 0u;
        e[u][5] = in && z > 0 ? base[at - plane] : 0u;
        e[u][6] = in && z + 1 < g.nz ? base[at + plane] : 0u;
    }
}

__device__ __forceinline__ void load_neighbourhoods(const gpu_mask_view &v, const region_geometry &g, int i0, int y,
                                                    int z, uint32_t (&e)[LANE_RUN][7]) {
    if (v.width == 1)
        load_neighbourhoods((const uint8_t *)v.base, g, i0, y, z, e);
    else
        load_neighbourhoods((const uint16_t *)v.base, g, i0, y, z, e);
}

/* Adds flag to f[u] where lane voxel u is on the surface of the mask of `bit`:
 * inside, and not all 6 face neighbours inside. */
__device__ __forceinline__ void surface_flags(const uint32_t (&e)[LANE_RUN][7], uint32_t bit, uint32_t flag,
                                              uint32_t (&f)[LANE_RUN]) {
#pragma unroll
    for (int u = 0; u < LANE_RUN; u++) {
        bool inner = (e[u][1] & bit) && (e[u][2] & bit) && (e[u][3] & bit) && (e[u][4] & bit) && (e[u][5] & bit) &&
                     (e[u][6] & bit);
        if ((e[u][0] & bit) && !inner) f[u] |= flag;
    }
}

/* flags of the region: FLAG_REF where ref's surface, FLAG_PRED where pred's; a
 * warp a segment of a row of the region (voxel_runs.cuh). */
__global__ void surface_kernel(gpu_mask_view ref, gpu_mask_view pred, region_geometry g, uint8_t *flags) {
    const size_t per_row = segments_per_row((size_t)g.rnx), rows = (size_t)g.rny * g.rnz;
    const bool shared_element = ref.base && ref.base == pred.base && ref.width == pred.width;
    SEGMENT_LOOP(w, rows * per_row) {
        size_t row = w / per_row;
        int i0 = (int)((w - row * per_row) * SEGMENT) + (int)(threadIdx.x & 31u);
        int y = g.y0 + (int)(row % (size_t)g.rny), z = g.z0 + (int)(row / (size_t)g.rny);
        uint32_t e[LANE_RUN][7], f[LANE_RUN];
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++) f[u] = 0;
        if (ref.base) {
            load_neighbourhoods(ref, g, i0, y, z, e);
            surface_flags(e, ref.bit, FLAG_REF, f);
        }
        if (pred.base) {
            if (!shared_element) load_neighbourhoods(pred, g, i0, y, z, e); /* pred's elements are elsewhere */
            surface_flags(e, pred.bit, FLAG_PRED, f);
        }
#pragma unroll
        for (int u = 0; u < LANE_RUN; u++)
            if (i0 + 32 * u < g.rnx) flags[row * (size_t)g.rnx + i0 + 32 * u] = (uint8_t)f[u];
    }
}

/* Per column (i, j): how many voxels along z carry each flag. */
__global__ void column_count_kernel(const uint8_t *flags, region_geometry g, unsigned long long *count_ref,
                                    unsigned long long *count_pred) {
    size_t col = (size_t)blockIdx.x * blockDim.x + threadIdx.x, cols = (size_t)g.rnx * g.rny;
    if (col >= cols) return;
    unsigned long long r = 0, p = 0;
    for (int k = 0; k < g.rnz; k++) {
        uint8_t f = flags[(size_t)k * cols + col];
        r += f & FLAG_REF;
        p += (f & FLAG_PRED) >> 1;
    }
    count_ref[col] = r;
    count_pred[col] = p;
}

/* ---- The transform ---------------------------------------------------------- */

/* Pass X from bits: one warp per row. The row's feature bits are gathered into
 * shared memory as 32-bit words (by ballot; VEC: 16 bytes a lane, packed with
 * sa_byte_bits4, where rows allow it), with, per word, the nearest word at
 * or before it and at or after it that holds a feature (warp scans); then each
 * voxel's distance is sa_row_bits_nearest, written coalesced. Rows are the
 * region's (row = k * rny + j, voxel row * rnx + i of `in`). Shared memory:
 * 3 * words 32-bit values per warp. */
template <int VEC>
__global__ void pass_x_kernel(gpu_mask_view in, region_geometry g, uint16_t *dx) {
    extern __shared__ uint32_t s_rows[];
    const unsigned full = 0xFFFFFFFFu;
    int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int nx = g.rnx, words = (nx + 31) >> 5;
    uint32_t *bits = s_rows + (size_t)warp * 3 * words;
    int *left = (int *)(bits + words), *right = left + words;
    size_t rows = (size_t)g.rny * g.rnz;
    for (size_t row = (size_t)blockIdx.x * warps + warp; row < rows; row += (size_t)gridDim.x * warps) {
        size_t base = row * (size_t)nx;
        if (VEC) { /* 16 bytes a lane (nx % 16 == 0, width 1, aligned): 512 voxels a load */
            const uint4 *v = (const uint4 *)((const uint8_t *)in.base + base);
            int b = __ffs((int)in.bit) - 1;
            for (int c0 = 0; c0 < nx; c0 += 512) {
                int x = c0 + 16 * lane;
                uint32_t half = 0;
                if (x < nx) {
                    uint4 q = v[x >> 4];
                    half = sa_byte_bits4(q.x, b) | sa_byte_bits4(q.y, b) << 4 | sa_byte_bits4(q.z, b) << 8 |
                           sa_byte_bits4(q.w, b) << 12;
                }
                uint32_t upper = __shfl_down_sync(full, half, 1);
                if (!(lane & 1) && x < nx) bits[x >> 5] = half | upper << 16;
            }
        } else {
            for (int w0 = 0; w0 < words; w0 += 4) { /* four loads in flight, then their ballots */
                int inside[4];
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    int x = ((w0 + u) << 5) + lane;
                    inside[u] = x < nx && gpu_mask_at(in, base + (size_t)x);
                }
#pragma unroll
                for (int u = 0; u < 4; u++)
                    if (w0 + u < words) { /* the same for the whole warp */
                        uint32_t b = __ballot_sync(full, inside[u]);
                        if (lane == 0) bits[w0 + u] = b;
                    }
            }
        }
        __syncwarp();
        int carry = -1;
        for (int w0 = 0; w0 < words; w0 += 32) {
            int w = w0 + lane;
            int v = w < words && bits[w] ? w : -1;
            for (int o = 1; o < 32; o <<= 1) {
                int t = __shfl_up_sync(full, v, o);
                if (lane >= o && t > v) v = t;
            }
            if (carry > v) v = carry;
            if (w < words) left[w] = v;
            carry = __shfl_sync(full, v, 31);
        }
        carry = words;
        for (int w0 = ((words - 1) >> 5) << 5; w0 >= 0; w0 -= 32) {
            int w = w0 + lane;
            int v = w < words && bits[w] ? w : words;
            for (int o = 1; o < 32; o <<= 1) {
                int t = __shfl_down_sync(full, v, o);
                if (lane + o < 32 && t < v) v = t;
            }
            if (carry < v) v = carry;
            if (w < words) right[w] = v;
            carry = __shfl_sync(full, v, 0);
        }
        __syncwarp();
        uint16_t *d = dx + base;
        if (VEC) { /* 8 voxels a lane, one 16-byte store */
            for (int x0 = 8 * lane; x0 < nx; x0 += 256) {
                unsigned r[8];
                sa_row_bits_nearest_run(bits, left, right, words, x0, 8, r); /* one word: x0 % 8 == 0 */
                *(uint4 *)(d + x0) = make_uint4(r[0] | r[1] << 16, r[2] | r[3] << 16, r[4] | r[5] << 16,
                                                r[6] | r[7] << 16); /* x0 + 8 <= nx: nx % 16 == 0 */
            }
        } else {
            for (int x = lane; x < nx; x += 32) d[x] = (uint16_t)sa_row_bits_nearest(bits, left, right, words, x);
        }
        __syncwarp(); /* the next row reuses the shared arrays */
    }
}

static void launch_pass_x(gpu_mask_view in, const region_geometry &g, uint16_t *dx, cudaStream_t st) {
    size_t rows = (size_t)g.rny * g.rnz;
    size_t per_warp = (size_t)3 * ((g.rnx + 31) / 32) * sizeof(uint32_t); /* at most 24 KB (rnx <= 65535) */
    int warps = 8;
    while (warps > 1 && (size_t)warps * per_warp > 48 * 1024) warps /= 2;
    size_t blocks = (rows + warps - 1) / warps;
    if (blocks > ((size_t)1 << 20)) blocks = (size_t)1 << 20; /* the warps then take several rows each */
    int vec = in.width == 1 && g.rnx % 16 == 0 && (uintptr_t)in.base % 16 == 0 && (uintptr_t)dx % 16 == 0;
    if (vec)
        pass_x_kernel<1><<<(unsigned)blocks, warps * 32, (size_t)warps * per_warp, st>>>(in, g, dx);
    else
        pass_x_kernel<0><<<(unsigned)blocks, warps * 32, (size_t)warps * per_warp, st>>>(in, g, dx);
}

/* Passes Y and Z keep each line's lean envelope (edt_line.h: a 32-bit node a
 * parabola, and pass Z on regions too large to pack its nodes a 16-bit root
 * too) in the thread's own arrays, which the GPU keeps in its cached local
 * memory: a kernel is compiled for lines of up to LOCAL = 256, 512 and 1024
 * voxels. Longer lines use LOCAL = 0: the envelopes in global scratch, element t
 * of line c at [t * lines + c]. */
struct lean_scratch {
    uint32_t *node;
    uint16_t *root;
};

static int lean_class(int n) { return n <= 256 ? 256 : n <= 512 ? 512 : n <= 1024 ? 1024 : 0; }

/* Launches kernel<LOCAL> for the size class of a line of n. */
#define LAUNCH_LEAN(kernel, n, blocks, threads, stream, ...)                         \
    do {                                                                             \
        switch (lean_class(n)) {                                                     \
        case 256: kernel<256><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break;   \
        case 512: kernel<512><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break;   \
        case 1024: kernel<1024><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break; \
        default: kernel<0><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break;      \
        }                                                                            \
    } while (0)

/* The envelope arrays of line `col` of `lines`: the thread's own or the scratch's. */
#define LEAN_NODES(s, col, lines)                                 \
    uint32_t own_node[LOCAL > 0 ? LOCAL : 1];                     \
    uint32_t *node = LOCAL > 0 ? own_node : (s).node + (col);     \
    const size_t st = LOCAL > 0 ? 1 : (lines)

/* Pass Z's store (sa_edt_z_layout): PACKED says at compile time that the nodes
 * hold their roots (the host checked that they fit), which spares the kernel
 * the other layout's registers; unpacked regions use the global scratch. */
#define LEAN_Z_STORE(s, col, ls, h)                                                                       \
    sa_lean_store ls;                                                                                     \
    sa_height_rule h;                                                                                     \
    sa_edt_z_layout(g.rnx, g.rny, g.rnz, (int)((col) / (size_t)g.rnx), sx, sy, PACKED, node,              \
                    PACKED ? NULL : (s).root + (col), st, &ls, &h);                                       \
    if (PACKED) ls.root = NULL

static volatile int force_wide_nodes; /* tests: sa_gpu_force_wide_nodes */

extern "C" void sa_gpu_force_wide_nodes(int on) { force_wide_nodes = on; }

/* Whether pass Z's nodes pack for a region. */
static int z_nodes_packed(const region_geometry &g) {
    if (force_wide_nodes) return 0;
    sa_lean_store ls;
    sa_height_rule h;
    uint16_t root;
    sa_edt_z_layout(g.rnx, g.rny, g.rnz, 0, 1.0, 1.0, 1, NULL, &root, 1, &ls, &h);
    return ls.root == NULL;
}

/* Launches pass Z's kernel<LOCAL, PACKED> for a region. */
#define LAUNCH_LEAN_Z(kernel, g, blocks, threads, stream, ...)                          \
    do {                                                                                \
        switch ((g).z_packed ? lean_class((g).rnz) : -1) {                               \
        case 256: kernel<256, 1><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break;   \
        case 512: kernel<512, 1><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break;   \
        case 1024: kernel<1024, 1><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break; \
        case 0: kernel<0, 1><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break;       \
        default: kernel<0, 0><<<blocks, threads, 0, stream>>>(__VA_ARGS__); break;      \
        }                                                                               \
    } while (0)

/* Pass Y: one thread per column (i, k), neighbouring threads along i. With
 * query_count (per (i, j) column), it evaluates only where pass Z will read. */
template <int LOCAL>
__global__ void pass_y_kernel(const uint16_t *dx, region_geometry g, double sx, double sy, lean_scratch s,
                              const unsigned long long *query_count, uint32_t *entry) {
    size_t col = (size_t)blockIdx.x * blockDim.x + threadIdx.x, cols = (size_t)g.rnx * g.rnz;
    if (col >= cols) return;
    size_t i = col % (size_t)g.rnx, k = col / (size_t)g.rnx;
    size_t base = k * (size_t)g.rny * g.rnx + i;
    LEAN_NODES(s, col, cols);
    sa_edt_column_y_lean(dx + base, (size_t)g.rnx, g.rny, sx, sy, node, st, query_count ? query_count + i : NULL,
                         (size_t)g.rnx, entry + base, (size_t)g.rnx);
}

/* Per-block partial results of pass Z. */
struct directed_partial {
    sa_exact_sum sum;
};

/* Pass Z: one thread per column (i, j) holding queries; evaluates the envelope
 * at each query voxel, writes the distance at the column's place in `out` (the
 * columns' exclusive prefix sum of query counts) and reduces max, exact sum and
 * the count within tau. */
template <int LOCAL, int PACKED>
__global__ void pass_z_kernel(const uint32_t *entry, const uint8_t *flags, uint8_t query_bit, region_geometry g,
                              double sx, double sy, double sz, double tau, lean_scratch s,
                              const unsigned long long *query_count, const unsigned long long *query_offset,
                              double *out, unsigned long long *max_bits, unsigned long long *within,
                              directed_partial *partials) {
    __shared__ sa_exact_sum s_sum[LINE_THREADS];
    __shared__ unsigned long long s_max, s_within;
    if (threadIdx.x == 0) s_max = 0, s_within = 0;
    size_t col = (size_t)blockIdx.x * blockDim.x + threadIdx.x, cols = (size_t)g.rnx * g.rny;
    sa_exact_sum sum;
    sa_exact_clear(&sum);
    double mx = 0.0;
    unsigned long long in_tau = 0;
    if (col < cols && query_count[col] > 0) {
        LEAN_NODES(s, col, cols);
        LEAN_Z_STORE(s, col, ls, h);
        int count = sa_edt_column_z_lean(entry + col, cols, g.rnz, sz, &ls, &h);
        sa_lean_cursor c;
        sa_lean_cursor_start(&c, count, &h, &ls);
        unsigned long long at = query_offset[col];
        for (int k0 = 0; k0 < g.rnz; k0 += SA_EDT_READ_AHEAD) {
            unsigned queries = 0; /* bit u: voxel k0 + u is a query (read together: loads in flight) */
#pragma unroll
            for (int u = 0; u < SA_EDT_READ_AHEAD; u++)
                if (k0 + u < g.rnz && (flags[(size_t)(k0 + u) * cols + col] & query_bit)) queries |= 1u << u;
            for (; queries; queries &= queries - 1) {
                int u = __ffs((int)queries) - 1;
                double d2 = INFINITY;
                int at_root;
                uint32_t pay;
                if (count > 0) sa_lean_lowest(&c, k0 + u, sz, &h, &ls, &d2, &at_root, &pay);
                double d = sqrt(d2);
                out[at++] = d;
                if (d > mx) mx = d;
                sa_exact_add(&sum, d);
                in_tau += d <= tau;
            }
        }
    }
    s_sum[threadIdx.x] = sum;
    __syncthreads();
    if (mx > 0) atomicMax(&s_max, (unsigned long long)__double_as_longlong(mx));
    if (in_tau) atomicAdd(&s_within, in_tau);
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) sa_exact_merge(&s_sum[threadIdx.x], &s_sum[threadIdx.x + half]);
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partials[blockIdx.x].sum = s_sum[0];
        if (s_max) atomicMax(max_bits, s_max);
        if (s_within) atomicAdd(within, s_within);
    }
}

template <int LOCAL, int PACKED>
__global__ void pass_z_full_kernel(const uint32_t *entry, region_geometry g, double sx, double sy, double sz,
                                   lean_scratch s, double *out);

/* The local memory (bytes a thread) the line kernels of the largest class need;
 * reserved at the start of a job (gpu_reserve_local). */
static int reserve_line_kernels(sa_error *err) {
    static size_t need;
    if (!need) {
        cudaFuncAttributes a[3];
        if (cudaFuncGetAttributes(&a[0], pass_y_kernel<1024>) != cudaSuccess ||
            cudaFuncGetAttributes(&a[1], pass_z_kernel<1024, 1>) != cudaSuccess ||
            cudaFuncGetAttributes(&a[2], pass_z_full_kernel<1024, 1>) != cudaSuccess)
            return gpu_check(cudaGetLastError(), "reading the line kernels' attributes", err);
        size_t most = 0;
        for (int i = 0; i < 3; i++)
            if (a[i].localSizeBytes > most) most = a[i].localSizeBytes;
        need = (most + 255) & ~(size_t)255;
    }
    return gpu_reserve_local(need, err);
}

/* ---- Host side -------------------------------------------------------------- */

/* Everything one comparison allocates, carved out of the masks' scratch. */
struct pair_buffers {
    uint8_t *flags;
    uint16_t *dx;
    uint32_t *entry;
    lean_scratch lean;
    unsigned long long *count[2];      /* per (i, j) column: ref, pred surface voxels */
    unsigned long long *offset[2];     /* exclusive prefix sums of count */
    double *dist;                      /* D_TR then D_RT */
    unsigned long long *sorted;        /* the keys, sorted */
    directed_partial *partials;
    unsigned long long *reduce;        /* [0] max bits, [1] within tau */
    scan_result *scan;
    void *cub_temp;
    size_t cub_bytes;
};

static size_t align_up(size_t n) { return (n + 255) & ~(size_t)255; }

/* Global envelope scratch (elements) for a region (g.z_packed decided): nodes
 * for the lines too long for a thread's own arrays, and for pass Z when its
 * nodes do not pack (it then runs kernel<0, 0>, its envelopes all in global
 * scratch); roots only in that case, since packed nodes hold their roots (a
 * 2048x2048x600 box, packed, needs no roots: 5 GB less). */
static void lean_scratch_elements(const region_geometry &g, size_t *nodes, size_t *roots) {
    size_t env = 0, cols_y = (size_t)g.rnx * g.rnz, cols_z = (size_t)g.rnx * g.rny;
    if (!lean_class(g.rny) && cols_y * (size_t)g.rny > env) env = cols_y * (size_t)g.rny;
    if ((!lean_class(g.rnz) || !g.z_packed) && cols_z * (size_t)g.rnz > env) env = cols_z * (size_t)g.rnz;
    *nodes = env;
    *roots = g.z_packed ? 0 : cols_z * (size_t)g.rnz;
}

/* Lays out the buffers in one block of scratch; with base NULL only measures. */
static size_t layout(pair_buffers *b, char *base, size_t rvox, size_t env_nodes, size_t env_roots, size_t cols_z,
                     size_t surface_total, size_t cub_bytes, size_t blocks_z) {
    size_t at = 0;
#define TAKE(field, type, n)                                   \
    do {                                                       \
        if (base) b->field = (type *)(base + at);              \
        at += align_up((size_t)(n) * sizeof(type));            \
    } while (0)
    TAKE(scan, scan_result, 1);
    TAKE(reduce, unsigned long long, 2);
    TAKE(flags, uint8_t, rvox);
    TAKE(dx, uint16_t, rvox);
    TAKE(entry, uint32_t, rvox);
    TAKE(lean.node, uint32_t, env_nodes);
    TAKE(lean.root, uint16_t, env_roots);
    TAKE(count[0], unsigned long long, cols_z);
    TAKE(count[1], unsigned long long, cols_z);
    TAKE(offset[0], unsigned long long, cols_z + 1);
    TAKE(offset[1], unsigned long long, cols_z + 1);
    TAKE(dist, double, surface_total ? surface_total : 1);
    TAKE(sorted, unsigned long long, surface_total ? surface_total : 1);
    TAKE(partials, directed_partial, blocks_z);
    if (base) b->cub_temp = base + at, b->cub_bytes = cub_bytes;
    at += align_up(cub_bytes);
#undef TAKE
    return at;
}

/* The order statistics a percentile needs, read from a sorted key array. */
static int sorted_percentile(const unsigned long long *d_sorted, size_t n, cudaStream_t st, double *out,
                             sa_error *err) {
    double t;
    size_t i = sa_percentile_rank(n, 95.0, &t);
    double ab[2];
    size_t take = i + 1 < n ? 2 : 1;
    int rc = gpu_check(cudaMemcpyAsync(ab, d_sorted + i, take * sizeof(double), cudaMemcpyDeviceToHost, st),
                       "reading a percentile", err);
    if (!rc) rc = gpu_check(cudaStreamSynchronize(st), "reading a percentile", err);
    if (rc) return rc;
    if (take == 1) ab[1] = ab[0];
    *out = sa_percentile_combine(ab[0], ab[1], t);
    return 0;
}

/* One directed set: features carry feature_bit, queries query_bit; n queries. */
static int directed(sa_gpu_masks *m, pair_buffers *b, const region_geometry &g, int feature_bit, int query_bit,
                    double tau, double *out, size_t n, sa_directed_summary *sum, sa_error *err) {
    cudaStream_t st = m->stream;
    const double *sp = m->grid.spacing;
    size_t cols_y = (size_t)g.rnx * g.rnz, cols_z = (size_t)g.rnx * g.rny;
    unsigned blocks_z = gpu_blocks(cols_z, LINE_THREADS);
    gpu_mask_view features = {b->flags, 1, (uint32_t)feature_bit};
    launch_pass_x(features, g, b->dx, st);
    int q = query_bit == FLAG_REF ? 0 : 1;
    LAUNCH_LEAN(pass_y_kernel, g.rny, gpu_blocks(cols_y, LINE_THREADS), LINE_THREADS, st, b->dx, g, sp[0], sp[1],
                b->lean, b->count[q], b->entry);
    int rc = gpu_check(cudaMemsetAsync(b->reduce, 0, 2 * sizeof(unsigned long long), st), "clearing", err);
    if (rc) return rc;
    LAUNCH_LEAN_Z(pass_z_kernel, g, blocks_z, LINE_THREADS, st, b->entry, b->flags, (uint8_t)query_bit, g, sp[0],
                sp[1], sp[2], tau, b->lean, b->count[q], b->offset[q], out, b->reduce, b->reduce + 1, b->partials);
    rc = gpu_check(cudaGetLastError(), "the distance transform", err);
    /* the summary: exact sum from the block partials, max and count */
    directed_partial *host = (directed_partial *)malloc(blocks_z * sizeof *host);
    unsigned long long red[2];
    if (!host) return sa_error_set(err, "out of memory");
    if (!rc) rc = gpu_check(cudaMemcpyAsync(host, b->partials, blocks_z * sizeof *host, cudaMemcpyDeviceToHost, st),
                            "reading the sums", err);
    if (!rc) rc = gpu_check(cudaMemcpyAsync(red, b->reduce, sizeof red, cudaMemcpyDeviceToHost, st), "reading the sums", err);
    if (!rc) rc = gpu_check(cudaStreamSynchronize(st), "the distance transform", err);
    if (!rc) {
        sa_exact_sum total;
        sa_exact_clear(&total);
        for (unsigned i = 0; i < blocks_z; i++) sa_exact_merge(&total, &host[i].sum);
        sum->count = n;
        sum->sum = sa_exact_round(&total);
        double mx;
        memcpy(&mx, &red[0], sizeof mx);
        sum->max = mx;
        sum->within_tau = red[1];
    }
    free(host);
    return rc;
}

/* Sorts keys[0..n) into b->sorted and returns their 95th percentile. */
static int sort_percentile(sa_gpu_masks *m, pair_buffers *b, const double *keys, size_t n, double *p95,
                           sa_error *err) {
    size_t bytes = b->cub_bytes;
    int rc = gpu_check(cub::DeviceRadixSort::SortKeys(b->cub_temp, bytes, (const unsigned long long *)keys, b->sorted,
                                                      (int64_t)n, 0, 64, m->stream),
                       "sorting distances", err);
    return rc ? rc : sorted_percentile(b->sorted, n, m->stream, p95, err);
}

extern "C" int sa_gpu_score_slots(sa_gpu_masks *m, int ref_slot, int pred_slot, double tau_mm, sa_mask_scan *scan,
                                  sa_surface_summary *surf, sa_error *err) {
    gpu_mask_view ref = gpu_masks_view(m, ref_slot), pred = gpu_masks_view(m, pred_slot);
    if (!ref.base || !pred.base) return sa_error_set(err, "GPU: mask slot %d or %d is empty", ref_slot, pred_slot);
    memset(scan, 0, sizeof *scan);
    memset(surf, 0, sizeof *surf);
    const sa_grid *grid = &m->grid;
    cudaStream_t st = m->stream;
    int nx = (int)grid->nx, ny = (int)grid->ny, nz = (int)grid->nz;

    /* 1. counts and boxes, in a small scratch first */
    void *work;
    int rc = gpu_masks_work(m, 4096, &work, err);
    if (rc) return rc;
    scan_result init, res;
    memset(&init, 0, sizeof init);
    memset(init.lo, 0xFF, sizeof init.lo);
    scan_result *d_scan = (scan_result *)work;
    size_t rows = (size_t)ny * nz;
    unsigned scan_blocks = run_blocks(VOXEL_THREADS, (rows * (size_t)nx + RUN - 1) / RUN);
    rc = gpu_check(cudaMemcpyAsync(d_scan, &init, sizeof init, cudaMemcpyHostToDevice, st), "counting", err);
    if (rc) return rc;
    scan_kernel<<<scan_blocks, VOXEL_THREADS, 0, st>>>(ref, pred, nx, ny, rows, d_scan);
    rc = gpu_check(cudaGetLastError(), "counting", err);
    if (!rc) rc = gpu_check(cudaMemcpyAsync(&res, d_scan, sizeof res, cudaMemcpyDeviceToHost, st), "counting", err);
    if (!rc) rc = gpu_check(cudaStreamSynchronize(st), "counting", err);
    if (rc) return rc;
    scan->ref_voxels = res.ref;
    scan->pred_voxels = res.pred;
    scan->both_voxels = res.both;
    scan->ref_has = res.ref > 0;
    scan->pred_has = res.pred > 0;
    for (int d = 0; d < 3; d++) {
        scan->ref_box.lo[d] = scan->ref_has ? res.lo[0][d] : 0;
        scan->ref_box.hi[d] = scan->ref_has ? res.hi[0][d] : 0;
        scan->pred_box.lo[d] = scan->pred_has ? res.lo[1][d] : 0;
        scan->pred_box.hi[d] = scan->pred_has ? res.hi[1][d] : 0;
    }
    if (!scan->ref_has && !scan->pred_has) return 0;

    /* 2. the region: the box of both masks (or of the one that is not empty) */
    sa_region r;
    if (scan->ref_has && scan->pred_has)
        sa_region_from_boxes(&r, &scan->ref_box, &scan->pred_box);
    else
        sa_region_from_box(&r, scan->ref_has ? &scan->ref_box : &scan->pred_box);
    region_geometry g = {(int)r.box.lo[0], (int)r.box.lo[1], (int)r.box.lo[2], (int)r.nx, (int)r.ny, (int)r.nz,
                         nx, ny, nz, 0};
    g.z_packed = z_nodes_packed(g);
    size_t rvox = sa_region_voxels(&r), cols_z = r.nx * r.ny;
    size_t env_nodes, env_roots;
    lean_scratch_elements(g, &env_nodes, &env_roots);
    unsigned blocks_z = gpu_blocks(cols_z, LINE_THREADS);

    /* CUB's temporary storage for the scans; the sorts' is sized once the
     * surfaces are counted (step 4) */
    size_t scan_bytes = 0, sort_bytes = 0;
    rc = gpu_check(cub::DeviceScan::ExclusiveSum(NULL, scan_bytes, (unsigned long long *)NULL, (unsigned long long *)NULL,
                                                 (int64_t)cols_z + 1, st),
                   "sizing a scan", err);
    if (rc) return rc;
    size_t cub_bytes = scan_bytes;
    /* The surfaces are at most the region: size the distance arrays for that
     * only when needed, after counting (a second layout). */
    pair_buffers b;
    memset(&b, 0, sizeof b);
    size_t need = layout(&b, NULL, rvox, env_nodes, env_roots, cols_z, 0, cub_bytes, blocks_z);
    rc = gpu_masks_work(m, need, &work, err);
    if (rc) return rc;
    layout(&b, (char *)work, rvox, env_nodes, env_roots, cols_z, 0, cub_bytes, blocks_z);

    /* 3. surfaces and their counts per column */
    unsigned sgrid = segment_blocks(VOXEL_THREADS, (size_t)r.ny * r.nz * segments_per_row(r.nx));
    surface_kernel<<<sgrid, VOXEL_THREADS, 0, st>>>(scan->ref_has ? ref : gpu_mask_view{NULL, 1, 1u},
                                                   scan->pred_has ? pred : gpu_mask_view{NULL, 1, 1u}, g, b.flags);
    column_count_kernel<<<gpu_blocks(cols_z, LINE_THREADS), LINE_THREADS, 0, st>>>(b.flags, g, b.count[0], b.count[1]);
    rc = gpu_check(cudaGetLastError(), "finding the surfaces", err);
    unsigned long long totals[2] = {0, 0};
    for (int s = 0; s < 2 && !rc; s++) {
        /* the total is the last offset plus the last count */
        size_t bytes = b.cub_bytes;
        rc = gpu_check(cub::DeviceScan::ExclusiveSum(b.cub_temp, bytes, b.count[s], b.offset[s], (int64_t)cols_z, st),
                           "counting the surfaces", err);
        if (!rc) {
            unsigned long long last_offset;
            unsigned long long last_count;
            rc = gpu_check(cudaMemcpyAsync(&last_offset, b.offset[s] + cols_z - 1, sizeof last_offset,
                                           cudaMemcpyDeviceToHost, st), "counting the surfaces", err);
            if (!rc) rc = gpu_check(cudaMemcpyAsync(&last_count, b.count[s] + cols_z - 1, sizeof last_count,
                                                    cudaMemcpyDeviceToHost, st), "counting the surfaces", err);
            if (!rc) rc = gpu_check(cudaStreamSynchronize(st), "counting the surfaces", err);
            totals[s] = last_offset + last_count;
        }
    }
    if (rc) return rc;
    surf->ref_surface_voxels = totals[0];
    surf->pred_surface_voxels = totals[1];
    if (!scan->ref_has || !scan->pred_has) return 0;

    /* 4. the distances: D_TR (pred's surface to ref's) then D_RT, back to back */
    rc = reserve_line_kernels(err);
    if (rc) return rc;
    size_t n_pred = (size_t)totals[1], n_ref = (size_t)totals[0], total = n_pred + n_ref;
    rc = gpu_check(cub::DeviceRadixSort::SortKeys(NULL, sort_bytes, (const unsigned long long *)NULL,
                                                  (unsigned long long *)NULL, (int64_t)total, 0, 64, st),
                   "sizing a sort", err);
    if (rc) return rc;
    if (sort_bytes > cub_bytes) cub_bytes = sort_bytes; /* the CUB space is last: nothing before it moves */
    size_t full = layout(&b, NULL, rvox, env_nodes, env_roots, cols_z, total, cub_bytes, blocks_z);
    /* (a new allocation may come back at the same address, but not with the
     * same contents: what matters is whether the scratch was allocated again) */
    size_t bytes_before = m->work_bytes;
    rc = gpu_masks_work(m, full, &work, err);
    if (rc) return rc;
    layout(&b, (char *)work, rvox, env_nodes, env_roots, cols_z, total, cub_bytes, blocks_z);
    if (m->work_bytes != bytes_before) { /* the scratch was replaced: redo the surfaces (cheap) */
        surface_kernel<<<sgrid, VOXEL_THREADS, 0, st>>>(ref, pred, g, b.flags);
        column_count_kernel<<<gpu_blocks(cols_z, LINE_THREADS), LINE_THREADS, 0, st>>>(b.flags, g, b.count[0],
                                                                                      b.count[1]);
        rc = gpu_check(cudaGetLastError(), "finding the surfaces", err);
        for (int s = 0; s < 2 && !rc; s++) {
            size_t bytes = b.cub_bytes;
            rc = gpu_check(cub::DeviceScan::ExclusiveSum(b.cub_temp, bytes, b.count[s], b.offset[s], (int64_t)cols_z, st),
                           "counting the surfaces", err);
        }
        if (rc) return rc;
    }
    surf->has_distances = 1;
    double *d_tr = b.dist, *d_rt = b.dist + n_pred;
    rc = directed(m, &b, g, FLAG_REF, FLAG_PRED, tau_mm, d_tr, n_pred, &surf->pred_to_ref, err);
    if (!rc) rc = directed(m, &b, g, FLAG_PRED, FLAG_REF, tau_mm, d_rt, n_ref, &surf->ref_to_pred, err);
    /* 5. percentiles: each set, then both together */
    if (!rc) rc = sort_percentile(m, &b, d_tr, n_pred, &surf->pred_to_ref.p95, err);
    if (!rc) rc = sort_percentile(m, &b, d_rt, n_ref, &surf->ref_to_pred.p95, err);
    if (!rc) rc = sort_percentile(m, &b, b.dist, total, &surf->p95_pooled, err);
    return rc;
}

/* ---- The whole-grid transform (benchmarks: the EDT alone) -------------------- */

/* Pass Z evaluated at every voxel: the distance in mm (INFINITY: no feature). */
template <int LOCAL, int PACKED>
__global__ void pass_z_full_kernel(const uint32_t *entry, region_geometry g, double sx, double sy, double sz,
                                   lean_scratch s, double *out) {
    size_t col = (size_t)blockIdx.x * blockDim.x + threadIdx.x, cols = (size_t)g.rnx * g.rny;
    if (col >= cols) return;
    LEAN_NODES(s, col, cols);
    LEAN_Z_STORE(s, col, ls, h);
    int count = sa_edt_column_z_lean(entry + col, cols, g.rnz, sz, &ls, &h);
    sa_lean_cursor c;
    sa_lean_cursor_start(&c, count, &h, &ls);
    for (int k = 0; k < g.rnz; k++) {
        double d2 = INFINITY;
        int at_root;
        uint32_t pay;
        if (count > 0) sa_lean_lowest(&c, k, sz, &h, &ls, &d2, &at_root, &pay);
        out[(size_t)k * cols + col] = sqrt(d2);
    }
}


extern "C" int sa_gpu_edt_full(sa_gpu_masks *m, int slot, double *host_out, float *kernel_ms, sa_error *err) {
    gpu_mask_view mv = gpu_masks_view(m, slot);
    if (!mv.base) return sa_error_set(err, "GPU: mask slot %d is empty", slot);
    const sa_grid *grid = &m->grid;
    region_geometry g = {0, 0, 0, (int)grid->nx, (int)grid->ny, (int)grid->nz,
                         (int)grid->nx, (int)grid->ny, (int)grid->nz, 0};
    size_t n = m->nvox, cols_y = grid->nx * grid->nz, cols_z = grid->nx * grid->ny;
    /* global envelope scratch only for lines too long for a thread's own arrays */
    g.z_packed = z_nodes_packed(g);
    int rc = reserve_line_kernels(err);
    if (rc) return rc;
    size_t env_nodes, env_roots;
    lean_scratch_elements(g, &env_nodes, &env_roots);
    size_t need = align_up(n * 2) + align_up(n * 4) + align_up(env_nodes * 4) + align_up(env_roots * 2) + align_up(n * 8);
    void *work;
    rc = gpu_masks_work(m, need, &work, err);
    if (rc) return rc;
    char *at = (char *)work;
    uint16_t *dx = (uint16_t *)at; at += align_up(n * 2);
    uint32_t *entry = (uint32_t *)at; at += align_up(n * 4);
    lean_scratch ls;
    ls.node = (uint32_t *)at; at += align_up(env_nodes * 4);
    ls.root = (uint16_t *)at; at += align_up(env_roots * 2);
    double *out = (double *)at;
    cudaStream_t st = m->stream;
    cudaEvent_t e[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4 && !rc; i++) rc = gpu_check(cudaEventCreate(&e[i]), "an event", err);
    if (!rc) {
        const double *sp = grid->spacing;
        rc = gpu_check(cudaEventRecord(e[0], st), "timing", err);
        launch_pass_x(mv, g, dx, st);
        cudaEventRecord(e[1], st);
        LAUNCH_LEAN(pass_y_kernel, g.rny, gpu_blocks(cols_y, LINE_THREADS), LINE_THREADS, st, dx, g, sp[0], sp[1], ls,
                    (const unsigned long long *)NULL, entry);
        cudaEventRecord(e[2], st);
        LAUNCH_LEAN_Z(pass_z_full_kernel, g, gpu_blocks(cols_z, LINE_THREADS), LINE_THREADS, st, entry, g, sp[0],
                      sp[1], sp[2], ls, out);
        cudaEventRecord(e[3], st);
        rc = gpu_check(cudaGetLastError(), "the distance transform", err);
    }
    if (!rc) rc = gpu_check(cudaEventSynchronize(e[3]), "the distance transform", err);
    if (!rc && kernel_ms) {
        rc = gpu_check(cudaEventElapsedTime(&kernel_ms[0], e[0], e[3]), "timing", err);
        for (int i = 0; i < 3 && !rc; i++) rc = gpu_check(cudaEventElapsedTime(&kernel_ms[1 + i], e[i], e[i + 1]), "timing", err);
    }
    if (!rc && host_out)
        rc = gpu_check(cudaMemcpy(host_out, out, n * sizeof(double), cudaMemcpyDeviceToHost), "reading the distances", err);
    for (int i = 0; i < 4; i++)
        if (e[i]) cudaEventDestroy(e[i]);
    return rc;
}
