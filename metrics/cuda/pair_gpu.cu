/*
 * pair_gpu.cu: the GPU's half of sa_score_pair: voxel counts and boxes, surface
 * voxels, the two exact directed distance sets and their summaries, for two
 * masks resident on the GPU. The numbers are the CPU engine's, bit for bit:
 *
 *  - counts and boxes are integers;
 *  - distances come from the dense separable transform whose per-line steps are
 *    edt_line.h's shared functions (one line per thread; the envelope scratch of
 *    all lines interleaved, so that neighbouring threads read neighbouring
 *    addresses); every distance is the minimum over all feature voxels of the
 *    same expression the CPU evaluates, ((sx*dx)^2 + (sy*dy)^2) + (sz*dz)^2,
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

#define LINE_THREADS 128
#define VOXEL_THREADS 256
#define FLAG_REF 1u
#define FLAG_PRED 2u

/* ---- Counts and boxes ------------------------------------------------------- */

struct scan_result {
    unsigned long long ref, pred, both;
    unsigned int lo[2][3], hi[2][3]; /* [0] ref, [1] pred; lo = UINT_MAX when empty */
};

/* One block per group of rows; threads along x. */
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
    for (size_t row = blockIdx.x; row < rows; row += gridDim.x) {
        unsigned int y = (unsigned int)(row % (size_t)ny), z = (unsigned int)(row / (size_t)ny);
        size_t base = row * (size_t)nx;
        for (int x = threadIdx.x; x < nx; x += blockDim.x) {
            int a = gpu_mask_at(ref, base + x), b = gpu_mask_at(pred, base + x);
            c_ref += a, c_pred += b, c_both += a & b;
            unsigned int p[3] = {(unsigned int)x, y, z};
            for (int s = 0; s < 2; s++) {
                if (!(s ? b : a)) continue;
                for (int d = 0; d < 3; d++) {
                    lo[s][d] = min(lo[s][d], p[d]);
                    hi[s][d] = max(hi[s][d], p[d]);
                }
            }
        }
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
};

/* Inside and all 6 face neighbours inside (outside the image = outside). */
__device__ __forceinline__ int gpu_is_surface(const gpu_mask_view &m, const region_geometry &g, int x, int y, int z) {
    size_t nx = (size_t)g.nx, plane = nx * (size_t)g.ny, i = (size_t)z * plane + (size_t)y * nx + (size_t)x;
    if (!gpu_mask_at(m, i)) return 0;
    int inner = x > 0 && x + 1 < g.nx && y > 0 && y + 1 < g.ny && z > 0 && z + 1 < g.nz && gpu_mask_at(m, i - 1) &&
                gpu_mask_at(m, i + 1) && gpu_mask_at(m, i - nx) && gpu_mask_at(m, i + nx) &&
                gpu_mask_at(m, i - plane) && gpu_mask_at(m, i + plane);
    return !inner;
}

/* flags of the region: FLAG_REF where ref's surface, FLAG_PRED where pred's. */
__global__ void surface_kernel(gpu_mask_view ref, gpu_mask_view pred, region_geometry g, uint8_t *flags) {
    int i = blockIdx.x * blockDim.x + threadIdx.x, j = blockIdx.y, k = blockIdx.z;
    if (i >= g.rnx) return;
    int x = g.x0 + i, y = g.y0 + j, z = g.z0 + k;
    uint8_t f = 0;
    if (ref.base && gpu_is_surface(ref, g, x, y, z)) f |= FLAG_REF;
    if (pred.base && gpu_is_surface(pred, g, x, y, z)) f |= FLAG_PRED;
    flags[((size_t)k * g.rny + j) * g.rnx + i] = f;
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

/* The compact envelopes of all lines (edt_line.h), interleaved: element t of
 * line c at [t * lines + c]. 20 bytes a voxel of the longest line. */
struct envelope_scratch {
    uint16_t *vp, *vd;
    double *vf, *zb;
};

/* Pass X: one thread per row, but rows are read and written tile by tile
 * through shared memory, so that global accesses are coalesced (a thread
 * walking its own row would touch a new cache line every step). A block of
 * PASS_X_ROWS threads sweeps PASS_X_ROWS rows: forward over tiles left to right,
 * backward right to left, each thread carrying its row's state
 * (sa_line_nearest_forward / _backward). Rows are padded in shared memory so
 * that the threads of a warp hit different banks. */
#define PASS_X_ROWS 128
#define PASS_X_TILE 64

__device__ static void pass_x_load(const uint8_t *flags, const uint16_t *dx, size_t row0, size_t rows, int nx, int x0,
                                   int w, uint8_t (*s_flags)[PASS_X_TILE + 4], uint16_t (*s_d)[PASS_X_TILE + 2]) {
    for (int i = threadIdx.x; i < PASS_X_ROWS * PASS_X_TILE; i += blockDim.x) {
        int r = i / PASS_X_TILE, c = i % PASS_X_TILE;
        size_t row = row0 + (size_t)r;
        int inside = row < rows && c < w;
        s_flags[r][c] = inside ? flags[row * (size_t)nx + (size_t)(x0 + c)] : 0;
        if (dx) s_d[r][c] = inside ? dx[row * (size_t)nx + (size_t)(x0 + c)] : 0;
    }
}

__device__ static void pass_x_store(uint16_t *dx, size_t row0, size_t rows, int nx, int x0, int w,
                                    uint16_t (*s_d)[PASS_X_TILE + 2]) {
    for (int i = threadIdx.x; i < PASS_X_ROWS * PASS_X_TILE; i += blockDim.x) {
        int r = i / PASS_X_TILE, c = i % PASS_X_TILE;
        size_t row = row0 + (size_t)r;
        if (row < rows && c < w) dx[row * (size_t)nx + (size_t)(x0 + c)] = s_d[r][c];
    }
}

__global__ void pass_x_kernel(const uint8_t *flags, region_geometry g, uint8_t feature_bit, uint16_t *dx) {
    __shared__ uint8_t s_flags[PASS_X_ROWS][PASS_X_TILE + 4];
    __shared__ uint16_t s_d[PASS_X_ROWS][PASS_X_TILE + 2];
    size_t rows = (size_t)g.rny * g.rnz, row0 = (size_t)blockIdx.x * PASS_X_ROWS;
    int nx = g.rnx, tiles = (nx + PASS_X_TILE - 1) / PASS_X_TILE, r = threadIdx.x;
    int owns = r < PASS_X_ROWS && row0 + (size_t)r < rows;
    unsigned last = SA_EDT_NONE;
    for (int t = 0; t < tiles; t++) {
        int x0 = t * PASS_X_TILE, w = nx - x0 < PASS_X_TILE ? nx - x0 : PASS_X_TILE;
        pass_x_load(flags, NULL, row0, rows, nx, x0, w, s_flags, s_d);
        __syncthreads();
        if (owns) sa_line_nearest_forward(s_flags[r], feature_bit, w, &last, s_d[r]);
        __syncthreads();
        pass_x_store(dx, row0, rows, nx, x0, w, s_d);
        __syncthreads();
    }
    last = SA_EDT_NONE;
    for (int t = tiles - 1; t >= 0; t--) {
        int x0 = t * PASS_X_TILE, w = nx - x0 < PASS_X_TILE ? nx - x0 : PASS_X_TILE;
        pass_x_load(flags, dx, row0, rows, nx, x0, w, s_flags, s_d);
        __syncthreads();
        if (owns) sa_line_nearest_backward(s_flags[r], feature_bit, w, &last, s_d[r]);
        __syncthreads();
        pass_x_store(dx, row0, rows, nx, x0, w, s_d);
        __syncthreads();
    }
}

/* Pass Y: one thread per column (i, k), neighbouring threads along i. With
 * query_count (per (i, j) column), it evaluates only where pass Z will read. */
__global__ void pass_y_kernel(const uint16_t *dx, region_geometry g, double sx, double sy, envelope_scratch s,
                              const unsigned long long *query_count, uint32_t *entry) {
    size_t col = (size_t)blockIdx.x * blockDim.x + threadIdx.x, cols = (size_t)g.rnx * g.rnz;
    if (col >= cols) return;
    size_t i = col % (size_t)g.rnx, k = col / (size_t)g.rnx;
    size_t base = k * (size_t)g.rny * g.rnx + i;
    sa_edt_column_y_compact(dx + base, (size_t)g.rnx, g.rny, sx, sy, s.vp + col, s.vd + col, s.vf + col, s.zb + col,
                            cols, query_count ? query_count + i : NULL, (size_t)g.rnx, entry + base, (size_t)g.rnx);
}

/* Per-block partial results of pass Z. */
struct directed_partial {
    sa_exact_sum sum;
};

/* Pass Z: one thread per column (i, j) holding queries; evaluates the envelope
 * at each query voxel, writes the distance at the column's place in `out` (the
 * columns' exclusive prefix sum of query counts) and reduces max, exact sum and
 * the count within tau. */
__global__ void pass_z_kernel(const uint32_t *entry, const uint8_t *flags, uint8_t query_bit, region_geometry g,
                              double sx, double sy, double sz, double tau, envelope_scratch s,
                              const unsigned long long *query_count, const unsigned long long *query_offset, double *out,
                              unsigned long long *max_bits, unsigned long long *within, directed_partial *partials) {
    __shared__ sa_exact_sum s_sum[LINE_THREADS];
    __shared__ unsigned long long s_max, s_within;
    if (threadIdx.x == 0) s_max = 0, s_within = 0;
    size_t col = (size_t)blockIdx.x * blockDim.x + threadIdx.x, cols = (size_t)g.rnx * g.rny;
    sa_exact_sum sum;
    sa_exact_clear(&sum);
    double mx = 0.0;
    unsigned long long in_tau = 0;
    if (col < cols && query_count[col] > 0) {
        int j = (int)(col / (size_t)g.rnx);
        int count = sa_edt_column_z_compact(entry + col, cols, g.rnz, j, sx, sy, sz, s.vp + col, s.vf + col,
                                            s.zb + col, cols);
        unsigned long long at = query_offset[col];
        int kk = 0;
        for (int k = 0; k < g.rnz; k++) {
            if (!(flags[(size_t)k * cols + col] & query_bit)) continue;
            double d2 = INFINITY;
            if (count > 0) {
                kk = sa_envelope_seek_st(s.zb + col, count, kk, k, cols);
                sa_envelope_lowest(s.vp + col, s.vf + col, sz, count, kk, k, &d2, cols);
            }
            double d = sqrt(d2);
            out[at++] = d;
            if (d > mx) mx = d;
            sa_exact_add(&sum, d);
            in_tau += d <= tau;
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

/* ---- Host side -------------------------------------------------------------- */

/* Everything one comparison allocates, carved out of the masks' scratch. */
struct pair_buffers {
    uint8_t *flags;
    uint16_t *dx;
    uint32_t *entry;
    envelope_scratch env;
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

/* Lays out the buffers in one block of scratch; with base NULL only measures. */
static size_t layout(pair_buffers *b, char *base, size_t rvox, size_t cols_y, size_t line_y, size_t cols_z,
                     size_t line_z, size_t surface_total, size_t cub_bytes, size_t blocks_z) {
    size_t at = 0;
#define TAKE(field, type, n)                                   \
    do {                                                       \
        if (base) b->field = (type *)(base + at);              \
        at += align_up((size_t)(n) * sizeof(type));            \
    } while (0)
    size_t env = cols_y * line_y > cols_z * line_z ? cols_y * line_y : cols_z * line_z;
    TAKE(scan, scan_result, 1);
    TAKE(reduce, unsigned long long, 2);
    TAKE(flags, uint8_t, rvox);
    TAKE(dx, uint16_t, rvox);
    TAKE(entry, uint32_t, rvox);
    TAKE(env.vp, uint16_t, env);
    TAKE(env.vd, uint16_t, env);
    TAKE(env.vf, double, env);
    TAKE(env.zb, double, env);
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
    size_t rows = (size_t)g.rny * g.rnz, cols_y = (size_t)g.rnx * g.rnz, cols_z = (size_t)g.rnx * g.rny;
    unsigned blocks_z = gpu_blocks(cols_z, LINE_THREADS);
    pass_x_kernel<<<gpu_blocks(rows, PASS_X_ROWS), PASS_X_ROWS, 0, st>>>(b->flags, g, (uint8_t)feature_bit, b->dx);
    int q = query_bit == FLAG_REF ? 0 : 1;
    pass_y_kernel<<<gpu_blocks(cols_y, LINE_THREADS), LINE_THREADS, 0, st>>>(b->dx, g, sp[0], sp[1], b->env, b->count[q],
                                                                             b->entry);
    int rc = gpu_check(cudaMemsetAsync(b->reduce, 0, 2 * sizeof(unsigned long long), st), "clearing", err);
    if (rc) return rc;
    pass_z_kernel<<<blocks_z, LINE_THREADS, 0, st>>>(b->entry, b->flags, (uint8_t)query_bit, g, sp[0], sp[1], sp[2],
                                                     tau, b->env, b->count[q], b->offset[q], out, b->reduce,
                                                     b->reduce + 1, b->partials);
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
    unsigned scan_blocks = rows < 4096 ? (unsigned)rows : 4096;
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
                         nx, ny, nz};
    size_t rvox = sa_region_voxels(&r), cols_y = r.nx * r.nz, cols_z = r.nx * r.ny;
    size_t line_y = r.ny + 1, line_z = r.nz + 1;
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
    size_t need = layout(&b, NULL, rvox, cols_y, line_y, cols_z, line_z, 0, cub_bytes, blocks_z);
    rc = gpu_masks_work(m, need, &work, err);
    if (rc) return rc;
    layout(&b, (char *)work, rvox, cols_y, line_y, cols_z, line_z, 0, cub_bytes, blocks_z);

    /* 3. surfaces and their counts per column */
    dim3 sgrid(gpu_blocks(r.nx, VOXEL_THREADS), (unsigned)r.ny, (unsigned)r.nz);
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
    size_t n_pred = (size_t)totals[1], n_ref = (size_t)totals[0], total = n_pred + n_ref;
    rc = gpu_check(cub::DeviceRadixSort::SortKeys(NULL, sort_bytes, (const unsigned long long *)NULL,
                                                  (unsigned long long *)NULL, (int64_t)total, 0, 64, st),
                   "sizing a sort", err);
    if (rc) return rc;
    if (sort_bytes > cub_bytes) cub_bytes = sort_bytes; /* the CUB space is last: nothing before it moves */
    size_t full = layout(&b, NULL, rvox, cols_y, line_y, cols_z, line_z, total, cub_bytes, blocks_z);
    /* (a new allocation may come back at the same address, but not with the
     * same contents: what matters is whether the scratch was allocated again) */
    size_t bytes_before = m->work_bytes;
    rc = gpu_masks_work(m, full, &work, err);
    if (rc) return rc;
    layout(&b, (char *)work, rvox, cols_y, line_y, cols_z, line_z, total, cub_bytes, blocks_z);
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

__global__ void mask_flags_kernel(gpu_mask_view m, size_t n, uint8_t *flags) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) flags[i] = (uint8_t)gpu_mask_at(m, i);
}

/* Pass Z evaluated at every voxel: the distance in mm (INFINITY: no feature). */
__global__ void pass_z_full_kernel(const uint32_t *entry, region_geometry g, double sx, double sy, double sz,
                                   envelope_scratch s, double *out) {
    size_t col = (size_t)blockIdx.x * blockDim.x + threadIdx.x, cols = (size_t)g.rnx * g.rny;
    if (col >= cols) return;
    int j = (int)(col / (size_t)g.rnx);
    int count = sa_edt_column_z_compact(entry + col, cols, g.rnz, j, sx, sy, sz, s.vp + col, s.vf + col, s.zb + col,
                                        cols);
    int kk = 0;
    for (int k = 0; k < g.rnz; k++) {
        double d2 = INFINITY;
        if (count > 0) {
            kk = sa_envelope_seek_st(s.zb + col, count, kk, k, cols);
            sa_envelope_lowest(s.vp + col, s.vf + col, sz, count, kk, k, &d2, cols);
        }
        out[(size_t)k * cols + col] = sqrt(d2);
    }
}

extern "C" int sa_gpu_edt_full(sa_gpu_masks *m, int slot, double *host_out, float *kernel_ms, sa_error *err) {
    gpu_mask_view mv = gpu_masks_view(m, slot);
    if (!mv.base) return sa_error_set(err, "GPU: mask slot %d is empty", slot);
    const sa_grid *grid = &m->grid;
    region_geometry g = {0, 0, 0, (int)grid->nx, (int)grid->ny, (int)grid->nz,
                         (int)grid->nx, (int)grid->ny, (int)grid->nz};
    size_t n = m->nvox, cols_y = grid->nx * grid->nz, cols_z = grid->nx * grid->ny;
    size_t line = (grid->ny > grid->nz ? grid->ny : grid->nz) + 1;
    size_t env = (cols_y > cols_z ? cols_y : cols_z) * line;
    size_t need = align_up(n) + align_up(n * 2) + align_up(n * 4) + 2 * align_up(env * 2) + 2 * align_up(env * 8) +
                  align_up(n * 8);
    void *work;
    int rc = gpu_masks_work(m, need, &work, err);
    if (rc) return rc;
    char *at = (char *)work;
    uint8_t *flags = (uint8_t *)at; at += align_up(n);
    uint16_t *dx = (uint16_t *)at; at += align_up(n * 2);
    uint32_t *entry = (uint32_t *)at; at += align_up(n * 4);
    envelope_scratch s;
    s.vp = (uint16_t *)at; at += align_up(env * 2);
    s.vd = (uint16_t *)at; at += align_up(env * 2);
    s.vf = (double *)at; at += align_up(env * 8);
    s.zb = (double *)at; at += align_up(env * 8);
    double *out = (double *)at;
    cudaStream_t st = m->stream;
    cudaEvent_t e[5] = {NULL, NULL, NULL, NULL, NULL};
    for (int i = 0; i < 5 && !rc; i++) rc = gpu_check(cudaEventCreate(&e[i]), "an event", err);
    if (!rc) {
        const double *sp = grid->spacing;
        size_t rows = grid->ny * grid->nz;
        rc = gpu_check(cudaEventRecord(e[0], st), "timing", err);
        mask_flags_kernel<<<gpu_blocks(n, VOXEL_THREADS), VOXEL_THREADS, 0, st>>>(mv, n, flags);
        cudaEventRecord(e[1], st);
        pass_x_kernel<<<gpu_blocks(rows, PASS_X_ROWS), PASS_X_ROWS, 0, st>>>(flags, g, 1, dx);
        cudaEventRecord(e[2], st);
        pass_y_kernel<<<gpu_blocks(cols_y, LINE_THREADS), LINE_THREADS, 0, st>>>(dx, g, sp[0], sp[1], s, NULL, entry);
        cudaEventRecord(e[3], st);
        pass_z_full_kernel<<<gpu_blocks(cols_z, LINE_THREADS), LINE_THREADS, 0, st>>>(entry, g, sp[0], sp[1], sp[2],
                                                                                      s, out);
        cudaEventRecord(e[4], st);
        rc = gpu_check(cudaGetLastError(), "the distance transform", err);
    }
    if (!rc) rc = gpu_check(cudaEventSynchronize(e[4]), "the distance transform", err);
    if (!rc && kernel_ms) {
        rc = gpu_check(cudaEventElapsedTime(&kernel_ms[0], e[0], e[4]), "timing", err);
        for (int i = 0; i < 4 && !rc; i++) rc = gpu_check(cudaEventElapsedTime(&kernel_ms[1 + i], e[i], e[i + 1]), "timing", err);
    }
    if (!rc && host_out)
        rc = gpu_check(cudaMemcpy(host_out, out, n * sizeof(double), cudaMemcpyDeviceToHost), "reading the distances", err);
    for (int i = 0; i < 5; i++)
        if (e[i]) cudaEventDestroy(e[i]);
    return rc;
}
