/*
 * consensus.c: the consensus of several raters' masks of one case, the reference
 * that multi-rater scoring ranks submissions against (../shared/spec/metrics.md,
 * "Several raters per case"; docs/consensus.md says the same in prose).
 *
 *  - majority: a voxel is in the consensus when more than half of the K raters mark
 *    it (2·votes > K); the probability map is votes / K.
 *  - staple: binary STAPLE (Warfield, Zou & Wells 2004) on a fixed region (the union
 *    of the raters dilated by d voxels with 6-connectivity, or the whole image).
 *
 * Binary STAPLE has no spatial term: a voxel's W depends only on its vote pattern
 * (the set of raters that mark it), and the M-step sums are sums over voxels of
 * functions of that pattern. So EM runs over the distinct patterns present in the
 * region, each weighted by its voxel count: the same quantities as a per-voxel
 * implementation (only the order of the additions differs), at O(patterns × K) per
 * iteration instead of O(voxels × K). The voxels are touched four times in all: one
 * pass builds every voxel's pattern and the union's bounding box, one computes the
 * region (a city-block distance transform on the box, dilated_union only), one
 * counts the patterns, one writes W and the mask from the per-pattern table.
 *
 * Iteration order, initial values and convergence follow ITK 5.2's
 * STAPLEImageFilter::GenerateData (see sa_staple_em in staple_em.h, shared with
 * the GPU path, metrics/cuda/consensus_gpu.cu).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "parallel.h"
#include "staple_em.h"

void sa_consensus_options_default(sa_consensus_options *opt) {
    opt->method = SA_CONSENSUS_STAPLE;
    opt->region = SA_STAPLE_DILATED_UNION;
    opt->dilation_voxels = 2;
    opt->tolerance = 1e-7;
    opt->max_iterations = 100;
    opt->threshold = 0.5;
    opt->threads = 0;
}

void sa_consensus_free(sa_consensus_result *r) {
    if (!r) return;
    free(r->mask);
    free(r->probability);
    memset(r, 0, sizeof *r);
}

/* Images below this many voxels run on one thread (thread start-up would dominate). */
#define SMALL_IMAGE_VOXELS ((size_t)1 << 16)
/* Largest dilation: distances are kept in 16 bits, saturated at d + 1. */
#define MAX_DILATION 65534
/* K up to this many raters counts patterns in a direct table of 2^K entries. */
#define DIRECT_TABLE_MAX_RATERS 16

/* ---- Per-voxel vote patterns ------------------------------------------------
 * The pattern of a voxel has bit r set when rater r marks it. It is stored in the
 * narrowest of uint8_t (K <= 8), uint16_t (K <= 16) and uint32_t (K <= 32). */

#define DEFINE_BUILD_ROW(T, S)                                                          \
    /* Patterns of one row of n voxels at offset off; returns the OR of the row. */    \
    static unsigned build_row_##S(const uint8_t *const *raters, size_t k, size_t off, \
                                  size_t n, T *pat) {                                  \
        const uint8_t *m0 = raters[0] + off;                                           \
        for (size_t x = 0; x < n; x++) pat[x] = m0[x] ? (T)1 : (T)0;                   \
        for (size_t r = 1; r < k; r++) {                                               \
            const uint8_t *m = raters[r] + off;                                        \
            const T bit = (T)((T)1 << r); /* a constant: compare-and-select vectorises */ \
            for (size_t x = 0; x < n; x++) pat[x] |= m[x] ? bit : (T)0;                \
        }                                                                              \
        T acc = 0;                                                                     \
        for (size_t x = 0; x < n; x++) acc |= pat[x];                                  \
        return acc != 0;                                                               \
    }
DEFINE_BUILD_ROW(uint8_t, 8)
DEFINE_BUILD_ROW(uint16_t, 16)
DEFINE_BUILD_ROW(uint32_t, 32)

#define DEFINE_DIST_INIT_ROW(T, S)                                                      \
    /* Distances of a row before the transform: 0 on the union, cap elsewhere;       \
     * returns whether the row holds a union voxel. */                                \
    static unsigned dist_init_row_##S(const T *pat, size_t n, uint16_t cap, uint16_t *d) { \
        T acc = 0;                                                                     \
        for (size_t x = 0; x < n; x++) {                                               \
            d[x] = pat[x] ? 0 : cap;                                                   \
            acc |= pat[x];                                                             \
        }                                                                              \
        return acc != 0;                                                               \
    }
DEFINE_DIST_INIT_ROW(uint8_t, 8)
DEFINE_DIST_INIT_ROW(uint16_t, 16)
DEFINE_DIST_INIT_ROW(uint32_t, 32)

/* Direct-table kernels (K <= 16). */
#define DEFINE_TABLE_KERNELS(T, S)                                                      \
    /* Counts of the non-zero patterns of a row. */                                   \
    static void count_row_##S(const T *pat, size_t n, uint64_t *h) {                 \
        for (size_t x = 0; x < n; x++)                                                 \
            if (pat[x]) h[pat[x]]++;                                                   \
    }                                                                                  \
    /* W and mask of a row from the direct tables; entry `outside` (2^K) serves the   \
     * voxels beyond the region (d[x] > dil) when d is given. */                      \
    static void output_row_##S(const T *pat, const uint16_t *d, unsigned dil, size_t n, \
                               const float *wt, const uint8_t *mt, uint32_t outside,   \
                               float *wo, uint8_t *mo) {                               \
        if (d) {                                                                       \
            for (size_t x = 0; x < n; x++) {                                           \
                uint32_t t = sa_staple_entry(pat[x], d[x], dil, outside);              \
                wo[x] = wt[t];                                                         \
                mo[x] = mt[t];                                                         \
            }                                                                          \
        } else {                                                                       \
            for (size_t x = 0; x < n; x++) {                                           \
                wo[x] = wt[pat[x]];                                                    \
                mo[x] = mt[pat[x]];                                                    \
            }                                                                          \
        }                                                                              \
    }
DEFINE_TABLE_KERNELS(uint8_t, 8)
DEFINE_TABLE_KERNELS(uint16_t, 16)

static inline uint32_t pattern_at(const void *pat, int width, size_t i) {
    switch (width) {
    case 1: return ((const uint8_t *)pat)[i];
    case 2: return ((const uint16_t *)pat)[i];
    default: return ((const uint32_t *)pat)[i];
    }
}

/* ---- Hash of patterns (K > 16) ------------------------------------------------ */

typedef struct pattern_hash {
    uint32_t *keys;
    uint32_t *index; /* into the pattern list; UINT32_MAX = empty slot */
    size_t cap, used;
} pattern_hash;

static uint32_t hash32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static int hash_init(pattern_hash *h, size_t cap) {
    h->cap = cap;
    h->used = 0;
    h->keys = malloc(cap * sizeof *h->keys);
    h->index = malloc(cap * sizeof *h->index);
    if (!h->keys || !h->index) return -1;
    for (size_t i = 0; i < cap; i++) h->index[i] = UINT32_MAX;
    return 0;
}

static void hash_free(pattern_hash *h) {
    free(h->keys);
    free(h->index);
    h->keys = NULL;
    h->index = NULL;
}

static size_t hash_slot(const pattern_hash *h, uint32_t key) {
    size_t s = hash32(key) & (h->cap - 1);
    while (h->index[s] != UINT32_MAX && h->keys[s] != key) s = (s + 1) & (h->cap - 1);
    return s;
}

/* Index of key, or UINT32_MAX when absent. */
static uint32_t hash_find(const pattern_hash *h, uint32_t key) {
    return h->index[hash_slot(h, key)];
}

/* ---- The work shared by the passes ---------------------------------------------- */

typedef struct row_extent {
    size_t lo, hi; /* x extent of the union in a row; lo > hi when the row is empty */
} row_extent;

typedef struct slice_box {
    int has;
    size_t xlo, xhi, ylo, yhi;
} slice_box;

typedef struct staple_work {
    const uint8_t *const *raters;
    size_t k, nx, ny, nz;
    int width; /* bytes per pattern */
    void *pat; /* full grid */
    slice_box *sbox;

    /* box the later passes work on (inclusive, full-grid coordinates) */
    int dilated;
    size_t x0, x1, y0, y1, z0, z1, bx, by, bz;
    uint16_t *dist; /* box: city-block distance to the union, saturated at dil + 1 */
    unsigned dil;

    /* counting */
    uint64_t **hist;        /* per worker, 2^K entries (direct table) */
    uint64_t *region_count; /* per worker */

    /* output */
    const pattern_hash *hash;     /* K > 16 */
    const float *w_table;         /* per pattern (direct) or per pattern index (hash) */
    const uint8_t *m_table;
    uint32_t outside_index;       /* direct tables: the entry for outside the region */
    float w_outside;              /* W outside the region */
    uint8_t m_outside;
    int zero_filled;              /* outputs already zero; W = 0 and mask 0 outside */
    float *w_out;
    uint8_t *m_out;
} staple_work;

/* Pass 1, per slice: every voxel's pattern, and the slice's union box. */
static void pass_patterns(void *vctx, size_t z, int worker) {
    (void)worker;
    staple_work *w = vctx;
    slice_box *sb = &w->sbox[z];
    sb->has = 0;
    for (size_t y = 0; y < w->ny; y++) {
        size_t off = (z * w->ny + y) * w->nx;
        unsigned any;
        switch (w->width) {
        case 1: any = build_row_8(w->raters, w->k, off, w->nx, (uint8_t *)w->pat + off); break;
        case 2: any = build_row_16(w->raters, w->k, off, w->nx, (uint16_t *)w->pat + off); break;
        default: any = build_row_32(w->raters, w->k, off, w->nx, (uint32_t *)w->pat + off); break;
        }
        if (!any) continue;
        size_t a = 0, b = w->nx - 1;
        while (!pattern_at(w->pat, w->width, off + a)) a++;
        while (!pattern_at(w->pat, w->width, off + b)) b--;
        if (!sb->has) {
            sb->has = 1;
            sb->xlo = a, sb->xhi = b, sb->ylo = sb->yhi = y;
        } else {
            if (a < sb->xlo) sb->xlo = a;
            if (b > sb->xhi) sb->xhi = b;
            sb->yhi = y;
        }
    }
}

/* Pass 2a, per box slice: distance initialisation, then the 1-D city-block
 * transforms along x (each row) and along y (row after row). */
static void pass_dist_xy(void *vctx, size_t kz, int worker) {
    (void)worker;
    staple_work *w = vctx;
    size_t bx = w->bx, by = w->by;
    uint16_t cap = (uint16_t)(w->dil + 1);
    for (size_t j = 0; j < by; j++) {
        size_t off = ((w->z0 + kz) * w->ny + (w->y0 + j)) * w->nx + w->x0;
        uint16_t *d = w->dist + (kz * by + j) * bx;
        unsigned any;
        switch (w->width) {
        case 1: any = dist_init_row_8((const uint8_t *)w->pat + off, bx, cap, d); break;
        case 2: any = dist_init_row_16((const uint16_t *)w->pat + off, bx, cap, d); break;
        default: any = dist_init_row_32((const uint32_t *)w->pat + off, bx, cap, d); break;
        }
        if (!any) continue; /* all cap: the x transform leaves it so */
        sa_cityblock_line(d, bx, 1);
    }
    /* along y: sa_cityblock_line on every column, row after row (vectorises) */
    uint16_t *s = w->dist + kz * by * bx;
    for (size_t j = 1; j < by; j++)
        for (size_t i = 0; i < bx; i++) s[j * bx + i] = sa_cityblock_step(s[j * bx + i], s[(j - 1) * bx + i]);
    for (size_t j = by - 1; j-- > 0;)
        for (size_t i = 0; i < bx; i++) s[j * bx + i] = sa_cityblock_step(s[j * bx + i], s[(j + 1) * bx + i]);
}

/* Pass 2b, per box row index j: the 1-D transform along z. Separable because the
 * city-block distance is a sum of per-axis terms; exact with saturation at d + 1
 * (min and +1 commute with the cap). */
static void pass_dist_z(void *vctx, size_t j, int worker) {
    (void)worker;
    staple_work *w = vctx;
    size_t bx = w->bx, plane = w->bx * w->by;
    uint16_t *d = w->dist + j * bx;
    /* sa_cityblock_line on every z line of the row, plane after plane (vectorises) */
    for (size_t kz = 1; kz < w->bz; kz++)
        for (size_t i = 0; i < bx; i++)
            d[kz * plane + i] = sa_cityblock_step(d[kz * plane + i], d[(kz - 1) * plane + i]);
    for (size_t kz = w->bz - 1; kz-- > 0;)
        for (size_t i = 0; i < bx; i++)
            d[kz * plane + i] = sa_cityblock_step(d[kz * plane + i], d[(kz + 1) * plane + i]);
}

/* Pass 3 (K <= 16), per box slice: counts of the non-zero patterns (all inside the
 * region, whose voxels include the union's) and of the region's voxels; pattern 0
 * gets the difference afterwards. */
static void pass_count(void *vctx, size_t kz, int worker) {
    staple_work *w = vctx;
    uint64_t *h = w->hist[worker];
    uint64_t region = 0;
    for (size_t j = 0; j < w->by; j++) {
        size_t off = ((w->z0 + kz) * w->ny + (w->y0 + j)) * w->nx + w->x0;
        if (w->width == 1)
            count_row_8((const uint8_t *)w->pat + off, w->bx, h);
        else
            count_row_16((const uint16_t *)w->pat + off, w->bx, h);
        if (w->dilated) {
            const uint16_t *d = w->dist + (kz * w->by + j) * w->bx;
            uint16_t in = 0; /* bx <= 65535: 16-bit lanes vectorise */
            for (size_t i = 0; i < w->bx; i++) in = (uint16_t)(in + (d[i] <= w->dil));
            region += in;
        } else {
            region += w->bx;
        }
    }
    w->region_count[worker] += region;
}

static void fill_float(float *f, size_t n, float v) {
    if (v == 0.0f) {
        memset(f, 0, n * sizeof *f);
        return;
    }
    for (size_t i = 0; i < n; i++) f[i] = v;
}

/* Pass 4, per slice of the whole grid: W and the mask from the pattern tables.
 * With zero_filled (dilated_union: the outputs come from calloc and W = 0 outside
 * the region), voxels outside the box and rows without region voxels are skipped. */
static void pass_output(void *vctx, size_t z, int worker) {
    (void)worker;
    staple_work *w = vctx;
    size_t nx = w->nx, ny = w->ny;
    float *wo = w->w_out + z * nx * ny;
    uint8_t *mo = w->m_out + z * nx * ny;
    int skip = w->zero_filled;
    if (z < w->z0 || z > w->z1) {
        if (!skip) {
            fill_float(wo, nx * ny, w->w_outside);
            memset(mo, w->m_outside, nx * ny);
        }
        return;
    }
    size_t kz = z - w->z0;
    uint32_t last_key = 0, last_idx = w->hash ? hash_find(w->hash, 0) : 0;
    for (size_t y = 0; y < ny; y++) {
        float *wr = wo + y * nx;
        uint8_t *mr = mo + y * nx;
        if (y < w->y0 || y > w->y1) {
            if (!skip) {
                fill_float(wr, nx, w->w_outside);
                memset(mr, w->m_outside, nx);
            }
            continue;
        }
        if (!skip) {
            fill_float(wr, w->x0, w->w_outside);
            memset(mr, w->m_outside, w->x0);
            fill_float(wr + w->x1 + 1, nx - w->x1 - 1, w->w_outside);
            memset(mr + w->x1 + 1, w->m_outside, nx - w->x1 - 1);
        }
        size_t off = (z * ny + y) * nx + w->x0;
        const uint16_t *d = w->dilated ? w->dist + (kz * w->by + (y - w->y0)) * w->bx : NULL;
        if (d && skip) {
            uint16_t lo = UINT16_MAX;
            for (size_t i = 0; i < w->bx; i++) lo = d[i] < lo ? d[i] : lo;
            if (lo > w->dil) continue; /* no region voxel in this row */
        }
        wr += w->x0;
        mr += w->x0;
        if (!w->hash) {
            if (w->width == 1)
                output_row_8((const uint8_t *)w->pat + off, d, w->dil, w->bx, w->w_table,
                             w->m_table, w->outside_index, wr, mr);
            else
                output_row_16((const uint16_t *)w->pat + off, d, w->dil, w->bx, w->w_table,
                              w->m_table, w->outside_index, wr, mr);
            continue;
        }
        const uint32_t *pr = (const uint32_t *)w->pat + off;
        for (size_t i = 0; i < w->bx; i++) {
            if (d && d[i] > w->dil) {
                wr[i] = w->w_outside;
                mr[i] = w->m_outside;
                continue;
            }
            uint32_t p = pr[i];
            if (p != last_key) last_key = p, last_idx = hash_find(w->hash, p);
            wr[i] = w->w_table[last_idx];
            mr[i] = w->m_table[last_idx];
        }
    }
}

/* ---- EM over the vote patterns: sa_staple_em (staple_em.h) ---------------------- */

/* ---- STAPLE over the grid ------------------------------------------------------- */

/* out->mask and out->probability are allocated; out_zeroed: they are all zero. */
static int staple(const uint8_t *const *raters, size_t k, const sa_grid *g,
                  const sa_consensus_options *opt, int workers, int out_zeroed,
                  sa_consensus_result *out, sa_error *err) {
    size_t nx = g->nx, ny = g->ny, nz = g->nz, nvox = nx * ny * nz;
    staple_work w;
    memset(&w, 0, sizeof w);
    w.raters = raters;
    w.k = k;
    w.nx = nx, w.ny = ny, w.nz = nz;
    w.width = k <= 8 ? 1 : (k <= 16 ? 2 : 4);
    w.dilated = opt->region == SA_STAPLE_DILATED_UNION;
    int rc = -1;
    uint32_t *pat_list = NULL;
    double *cnt = NULL, *W = NULL;
    float *w_table = NULL;
    uint8_t *m_table = NULL;
    pattern_hash hash = {0};
    size_t n_pat = 0, box_vox = 0;
    uint64_t region = 0;
    int has = 0;

    w.pat = malloc(nvox * (size_t)w.width);
    w.sbox = malloc(nz * sizeof *w.sbox);
    if (!w.pat || !w.sbox) goto oom;
    sa_parallel_for(workers, nz, pass_patterns, &w);

    /* The union's box. */
    for (size_t z = 0; z < nz; z++) {
        const slice_box *s = &w.sbox[z];
        if (!s->has) continue;
        if (!has) {
            has = 1;
            w.x0 = s->xlo, w.x1 = s->xhi, w.y0 = s->ylo, w.y1 = s->yhi, w.z0 = w.z1 = z;
        } else {
            if (s->xlo < w.x0) w.x0 = s->xlo;
            if (s->xhi > w.x1) w.x1 = s->xhi;
            if (s->ylo < w.y0) w.y0 = s->ylo;
            if (s->yhi > w.y1) w.y1 = s->yhi;
            w.z1 = z;
        }
    }
    if (!has) {
        /* Nobody marks anything: empty consensus, no evidence against any rater. */
        for (size_t r = 0; r < k; r++) out->sensitivity[r] = out->specificity[r] = 1.0;
        out->prior = 0;
        out->iterations = 0;
        out->converged = 1;
        out->region_voxels = w.dilated ? 0 : (uint64_t)nvox;
        rc = 0;
        goto done;
    }
    if (w.dilated) { /* the region lies within the union's box grown by d, clipped */
        size_t d = (size_t)opt->dilation_voxels;
        w.dil = (unsigned)d;
        sa_staple_grow(&w.x0, &w.x1, d, nx);
        sa_staple_grow(&w.y0, &w.y1, d, ny);
        sa_staple_grow(&w.z0, &w.z1, d, nz);
    }
    w.bx = w.x1 - w.x0 + 1, w.by = w.y1 - w.y0 + 1, w.bz = w.z1 - w.z0 + 1;
    box_vox = w.bx * w.by * w.bz;
    if (w.dilated) {
        w.dist = malloc(box_vox * sizeof *w.dist);
        if (!w.dist) goto oom;
        sa_parallel_for(workers, w.bz, pass_dist_xy, &w);
        sa_parallel_for(workers, w.by, pass_dist_z, &w);
    }

    /* Distinct patterns of the region and their voxel counts. */
    if (k <= DIRECT_TABLE_MAX_RATERS) {
        size_t table = (size_t)1 << k;
        w.hist = calloc((size_t)workers, sizeof *w.hist);
        w.region_count = calloc((size_t)workers, sizeof *w.region_count);
        if (!w.hist || !w.region_count) goto oom;
        for (int i = 0; i < workers; i++)
            if (!(w.hist[i] = calloc(table, sizeof **w.hist))) goto oom;
        sa_parallel_for(workers, w.bz, pass_count, &w);
        for (int i = 1; i < workers; i++)
            for (size_t t = 0; t < table; t++) w.hist[0][t] += w.hist[i][t];
        for (int i = 0; i < workers; i++) region += w.region_count[i];
        if (!w.dilated) region += (uint64_t)(nvox - box_vox); /* outside the union's box */
        uint64_t nonzero = 0;
        for (size_t t = 1; t < table; t++) nonzero += w.hist[0][t];
        w.hist[0][0] = region - nonzero;
        n_pat = sa_staple_pattern_list(w.hist[0], table, NULL, NULL);
        pat_list = malloc(n_pat * sizeof *pat_list);
        cnt = malloc(n_pat * sizeof *cnt);
        W = malloc(n_pat * sizeof *W);
        w_table = calloc(table + 1, sizeof *w_table); /* + the outside entry */
        m_table = calloc(table + 1, sizeof *m_table);
        if (!pat_list || !cnt || !W || !w_table || !m_table) goto oom;
        sa_staple_pattern_list(w.hist[0], table, pat_list, cnt);
    } else {
        /* K > 16: a hash from pattern to its index, on one thread. */
        size_t cap_list = 64;
        uint64_t *counts = NULL;
        if (hash_init(&hash, 256)) goto oom;
        pat_list = malloc(cap_list * sizeof *pat_list);
        counts = calloc(cap_list, sizeof *counts);
        if (!pat_list || !counts) {
            free(counts);
            goto oom;
        }
        uint32_t last_key = 0, last_idx = UINT32_MAX;
        for (size_t kz = 0; kz < w.bz; kz++) {
            for (size_t j = 0; j < w.by; j++) {
                size_t off = ((w.z0 + kz) * ny + (w.y0 + j)) * nx + w.x0;
                const uint16_t *d = w.dist ? w.dist + (kz * w.by + j) * w.bx : NULL;
                for (size_t i = 0; i < w.bx; i++) {
                    if (d && d[i] > w.dil) continue;
                    uint32_t p = ((const uint32_t *)w.pat)[off + i];
                    region++;
                    if (p == last_key && last_idx != UINT32_MAX) {
                        counts[last_idx]++;
                        continue;
                    }
                    size_t s = hash_slot(&hash, p);
                    if (hash.index[s] == UINT32_MAX) {
                        if (n_pat == cap_list) {
                            size_t nc = cap_list * 2;
                            uint32_t *np = realloc(pat_list, nc * sizeof *np);
                            if (np) pat_list = np;
                            uint64_t *ncnt = np ? realloc(counts, nc * sizeof *ncnt) : NULL;
                            if (!np || !ncnt) {
                                free(counts);
                                goto oom;
                            }
                            counts = ncnt;
                            memset(counts + cap_list, 0, (nc - cap_list) * sizeof *counts);
                            cap_list = nc;
                        }
                        hash.keys[s] = p;
                        hash.index[s] = (uint32_t)n_pat;
                        pat_list[n_pat++] = p;
                        if (++hash.used * 2 > hash.cap) { /* grow and re-insert */
                            pattern_hash bigger;
                            if (hash_init(&bigger, hash.cap * 2)) {
                                hash_free(&bigger);
                                free(counts);
                                goto oom;
                            }
                            for (size_t t = 0; t < n_pat; t++) {
                                size_t bs = hash_slot(&bigger, pat_list[t]);
                                bigger.keys[bs] = pat_list[t];
                                bigger.index[bs] = (uint32_t)t;
                            }
                            bigger.used = n_pat;
                            hash_free(&hash);
                            hash = bigger;
                            s = hash_slot(&hash, p);
                        }
                    }
                    last_key = p;
                    last_idx = hash.index[s];
                    counts[last_idx]++;
                }
            }
        }
        if (!w.dilated && nvox > box_vox) {
            size_t s = hash_slot(&hash, 0);
            if (hash.index[s] == UINT32_MAX) {
                /* pattern 0 absent inside the box: add it (the list has room or grows) */
                uint32_t *np = realloc(pat_list, (n_pat + 1) * sizeof *np);
                uint64_t *ncnt = np ? realloc(counts, (n_pat + 1) * sizeof *ncnt) : NULL;
                if (np) pat_list = np;
                if (!np || !ncnt) {
                    free(counts);
                    goto oom;
                }
                counts = ncnt;
                counts[n_pat] = 0;
                pat_list[n_pat] = 0;
                hash.keys[s] = 0;
                hash.index[s] = (uint32_t)n_pat++;
                hash.used++; /* the table is at most half full plus one: still has room */
            }
            counts[hash.index[s]] += (uint64_t)(nvox - box_vox);
            region += (uint64_t)(nvox - box_vox);
        }
        cnt = malloc(n_pat * sizeof *cnt);
        W = malloc(n_pat * sizeof *W);
        w_table = malloc(n_pat * sizeof *w_table);
        m_table = malloc(n_pat * sizeof *m_table);
        if (!cnt || !W || !w_table || !m_table) {
            free(counts);
            goto oom;
        }
        for (size_t t = 0; t < n_pat; t++) cnt[t] = (double)counts[t];
        free(counts);
        w.hash = &hash;
    }

    sa_em_out em;
    sa_staple_em(pat_list, cnt, n_pat, k, opt, W, &em);
    for (size_t r = 0; r < k; r++) out->sensitivity[r] = em.p[r], out->specificity[r] = em.q[r];
    out->prior = em.prior;
    out->iterations = em.iterations;
    out->converged = em.converged;
    out->region_voxels = region;

    /* Tables for the output: W as float, the mask from the double W. */
    sa_staple_tables(pat_list, W, n_pat, opt->threshold, !w.hash, w.dilated, w_table, m_table,
                     &w.w_outside, &w.m_outside);
    if (!w.hash) {
        w.outside_index = (uint32_t)1 << k;
        w_table[w.outside_index] = w.w_outside;
        m_table[w.outside_index] = w.m_outside;
    }
    w.zero_filled = w.dilated && w.m_outside == 0 && out_zeroed;
    w.w_table = w_table;
    w.m_table = m_table;
    w.w_out = out->probability;
    w.m_out = out->mask;
    sa_parallel_for(workers, nz, pass_output, &w);
    rc = 0;
    goto done;

oom:
    rc = sa_error_set(err, "out of memory computing the STAPLE consensus of %zu raters", k);
done:
    if (rc == 0 && !has && !out_zeroed) {
        memset(out->mask, 0, nvox);
        memset(out->probability, 0, nvox * sizeof *out->probability);
    }
    if (w.hist)
        for (int i = 0; i < workers; i++) free(w.hist[i]);
    free(w.hist);
    free(w.region_count);
    free(w.pat);
    free(w.sbox);
    free(w.dist);
    free(pat_list);
    free(cnt);
    free(W);
    free(w_table);
    free(m_table);
    hash_free(&hash);
    return rc;
}

/* ---- Majority vote ------------------------------------------------------------------ */

typedef struct majority_work {
    const uint8_t *const *raters;
    size_t k, slice;
    uint8_t **votes; /* per worker, one slice */
    uint8_t *m_out;
    float *w_out;
} majority_work;

static void pass_majority(void *vctx, size_t z, int worker) {
    majority_work *w = vctx;
    size_t n = w->slice, off = z * n;
    uint8_t *v = w->votes[worker];
    memset(v, 0, n);
    for (size_t r = 0; r < w->k; r++) {
        const uint8_t *m = w->raters[r] + off;
        for (size_t i = 0; i < n; i++) v[i] += m[i] != 0;
    }
    uint8_t *mo = w->m_out + off;
    float *wo = w->w_out + off;
    unsigned k = (unsigned)w->k;
    for (size_t i = 0; i < n; i++) {
        mo[i] = sa_majority_mask(v[i], k);
        wo[i] = sa_majority_probability(v[i], k);
    }
}

/* ---- Entry point --------------------------------------------------------------------- */

int sa_consensus_options_check(const sa_consensus_options *opt, sa_error *err) {
    if (opt->method != SA_CONSENSUS_MAJORITY && opt->method != SA_CONSENSUS_STAPLE)
        return sa_error_set(err, "consensus: unknown method %d", (int)opt->method);
    if (opt->method == SA_CONSENSUS_STAPLE) {
        if (opt->region != SA_STAPLE_DILATED_UNION && opt->region != SA_STAPLE_IMAGE)
            return sa_error_set(err, "consensus: unknown STAPLE region %d", (int)opt->region);
        if (opt->dilation_voxels < 0 || opt->dilation_voxels > MAX_DILATION)
            return sa_error_set(err, "consensus: dilation_voxels %d is outside [0, %d]", opt->dilation_voxels,
                                MAX_DILATION);
        if (!(opt->tolerance >= 0) || !isfinite(opt->tolerance))
            return sa_error_set(err, "consensus: tolerance %g must be finite and >= 0", opt->tolerance);
        if (opt->max_iterations < 1)
            return sa_error_set(err, "consensus: max_iterations %d must be >= 1", opt->max_iterations);
        if (!isfinite(opt->threshold))
            return sa_error_set(err, "consensus: threshold %g must be finite", opt->threshold);
    }
    return 0;
}

int sa_consensus_check(const uint8_t *const *raters, size_t k, const sa_grid *g, const sa_consensus_options *opt,
                       sa_error *err) {
    if (sa_grid_check(g, err)) return -1;
    if (k == 0) return sa_error_set(err, "consensus: no rater masks given (k = 0)");
    if (k > SA_MAX_RATERS)
        return sa_error_set(err, "consensus: %zu raters, at most %d are supported", k, SA_MAX_RATERS);
    if (!raters) return sa_error_set(err, "consensus: no rater masks given");
    for (size_t r = 0; r < k; r++)
        if (!raters[r]) return sa_error_set(err, "consensus: rater %zu has no mask", r + 1);
    if (!opt) return 0; /* the defaults */
    return sa_consensus_options_check(opt, err);
}

int sa_consensus(const uint8_t *const *raters, size_t k, const sa_grid *g,
                 const sa_consensus_options *opt_in, sa_consensus_result *out, sa_error *err) {
    if (!out) return sa_error_set(err, "consensus: no result given");
    memset(out, 0, sizeof *out);
    if (sa_consensus_check(raters, k, g, opt_in, err)) return -1;
    sa_consensus_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        sa_consensus_options_default(&opt);

    size_t nvox = sa_grid_voxels(g);
    /* STAPLE on the dilated union writes only the box around the union into outputs
     * that calloc has zeroed (pages it never touches stay unmapped zero pages). */
    int zeroed = k > 1 && opt.method == SA_CONSENSUS_STAPLE && opt.region == SA_STAPLE_DILATED_UNION;
    if (zeroed) {
        out->mask = calloc(nvox, 1);
        out->probability = calloc(nvox, sizeof *out->probability);
    } else {
        out->mask = malloc(nvox);
        out->probability = malloc(nvox * sizeof *out->probability);
    }
    if (!out->mask || !out->probability) {
        sa_consensus_free(out);
        return sa_error_set(err, "out of memory for a consensus of %zu voxels", nvox);
    }
    out->raters = k;
    int workers = nvox < SMALL_IMAGE_VOXELS ? 1 : sa_parallel_workers(opt.threads, g->nz);

    if (k == 1) { /* the consensus of one rater is that rater */
        const uint8_t *m = raters[0];
        for (size_t i = 0; i < nvox; i++) {
            out->mask[i] = m[i] != 0;
            out->probability[i] = (float)out->mask[i];
        }
        return 0;
    }

    if (opt.method == SA_CONSENSUS_MAJORITY) {
        majority_work w = {raters, k, g->nx * g->ny, NULL, out->mask, out->probability};
        w.votes = calloc((size_t)workers, sizeof *w.votes);
        int ok = w.votes != NULL;
        for (int i = 0; ok && i < workers; i++) ok = (w.votes[i] = malloc(w.slice)) != NULL;
        if (ok) sa_parallel_for(workers, g->nz, pass_majority, &w);
        if (w.votes)
            for (int i = 0; i < workers; i++) free(w.votes[i]);
        free(w.votes);
        if (!ok) {
            sa_consensus_free(out);
            return sa_error_set(err, "out of memory computing the majority of %zu raters", k);
        }
        return 0;
    }

    if (staple(raters, k, g, &opt, workers, zeroed, out, err)) {
        sa_consensus_free(out);
        return -1;
    }
    return 0;
}
