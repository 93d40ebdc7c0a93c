/*
 * test_edt_line.c: the logic the GPU kernels run, run on the CPU in every CI.
 *
 * The CUDA engine (metrics/cuda/) is made of launches around shared
 * SA_HOST_DEVICE functions: the per-line steps of the dense transform
 * (edt_line.h), the exact sum (exact_sum.h) and the percentile rule
 * (percentile_rule.h). This test drives those same functions the way the kernels
 * do (one line at a time, the envelope scratch of all lines interleaved with a
 * stride, queries gathered per column) and checks the results bit for bit
 * against a brute-force minimum and against the CPU engine; and it checks the
 * exact sum against integer arithmetic and its independence of order. It also
 * checks the bound of the CPU transform's 32-bit column places on numbers (the
 * boxes that reach it need tens of GB).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "edt_line.h"
#include "engine.h"
#include "exact_sum.h"
#include "metrics.h"
#include "percentile_rule.h"

static uint64_t state = 0x243F6A8885A308D3ull;
static uint64_t rng(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
}
static double uniform(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

/* The dense transform as the GPU runs it: pass X per row, pass Y per (x, z)
 * column, pass Z per (x, y) column evaluated at every voxel; d2 out. */
static uint32_t *last_entries; /* dense_edt's pass Y result, kept for the lean check */

static void dense_edt(const uint8_t *flags, int nx, int ny, int nz, const double s[3], double *d2) {
    size_t n = (size_t)nx * ny * nz, cols_y = (size_t)nx * nz, cols_z = (size_t)nx * ny;
    uint16_t *dx = malloc(n * sizeof *dx);
    uint32_t *entry = malloc(n * sizeof *entry);
    size_t line = (size_t)(ny > nz ? ny : nz) + 1, cols = cols_y > cols_z ? cols_y : cols_z;
    int *pos = malloc(line * cols * sizeof *pos), *v = malloc(line * cols * sizeof *v);
    double *f = malloc(line * cols * sizeof *f);
    for (size_t row = 0; row < (size_t)ny * nz; row++) sa_line_nearest(flags + row * nx, 1, nx, dx + row * nx);
    for (size_t col = 0; col < cols_y; col++) {
        size_t i = col % nx, k = col / nx, base = k * (size_t)ny * nx + i;
        sa_edt_column_y(dx + base, (size_t)nx, ny, s[0], s[1], pos + col, f + col, v + col, cols_y, NULL, 0,
                        entry + base, (size_t)nx);
    }
    /* pass Y again, evaluated only where a random "needed" mask of (x, y)
     * columns says (as the GPU does for the columns that hold a query): the
     * entries it writes are the same */
    unsigned long long *need = malloc(cols_z * sizeof *need);
    uint32_t *partial = malloc(n * sizeof *partial);
    for (size_t c = 0; c < cols_z; c++) need[c] = rng() % 3 == 0;
    memset(partial, 0xAB, n * sizeof *partial);
    for (size_t col = 0; col < cols_y; col++) {
        size_t i = col % nx, k = col / nx, base = k * (size_t)ny * nx + i;
        sa_edt_column_y(dx + base, (size_t)nx, ny, s[0], s[1], pos + col, f + col, v + col, cols_y, need + i,
                        (size_t)nx, partial + base, (size_t)nx);
    }
    int partial_ok = 1;
    for (size_t at = 0; at < n; at++) {
        size_t c = at % cols_z; /* the (x, y) column of voxel at */
        if (need[c]) partial_ok &= partial[at] == entry[at];
        else partial_ok &= partial[at] == 0xABABABABu;
    }
    CHECK(partial_ok);
    free(need), free(partial);
    free(last_entries);
    last_entries = malloc(n * sizeof *last_entries);
    memcpy(last_entries, entry, n * sizeof *entry);
    for (size_t col = 0; col < cols_z; col++) {
        int j = (int)(col / nx);
        int count = sa_edt_column_z_build(entry + col, cols_z, nz, j, s[0], s[1], s[2], pos + col, f + col, v + col,
                                          cols_z);
        int kk = 0;
        for (int k = 0; k < nz; k++) {
            double value = INFINITY;
            if (count > 0) kk = sa_envelope_lowest_st(pos + col, f + col, s[2], v + col, count, kk, k, &value, cols_z);
            d2[(size_t)k * cols_z + col] = value;
        }
    }
    free(dx), free(entry), free(pos), free(v), free(f);
}

/* The same transform with the lean envelope the GPU keeps (one node a parabola;
 * heights recomputed), pass Z's nodes packed or not: entries and
 * d2 must be the same bits again. */
static void dense_edt_lean(const uint8_t *flags, int nx, int ny, int nz, const double s[3], int packed,
                           uint32_t *entry, double *d2) {
    size_t n = (size_t)nx * ny * nz, cols_y = (size_t)nx * nz, cols_z = (size_t)nx * ny;
    uint16_t *dx = malloc(n * sizeof *dx);
    size_t line = (size_t)(ny > nz ? ny : nz) + 1, cols = cols_y > cols_z ? cols_y : cols_z;
    uint32_t *node = malloc(line * cols * sizeof *node);
    uint16_t *root = malloc(line * cols * sizeof *root);
    for (size_t row = 0; row < (size_t)ny * nz; row++) sa_line_nearest(flags + row * nx, 1, nx, dx + row * nx);
    for (size_t col = 0; col < cols_y; col++) {
        size_t i = col % nx, k = col / nx, base = k * (size_t)ny * nx + i;
        sa_edt_column_y_lean(dx + base, (size_t)nx, ny, s[0], s[1], node + col, cols_y, NULL, 0, entry + base,
                             (size_t)nx);
    }
    for (size_t col = 0; col < cols_z; col++) {
        sa_lean_store st;
        sa_height_rule h;
        sa_edt_z_layout(nx, ny, nz, (int)(col / nx), s[0], s[1], packed, node + col, root + col, cols_z, &st, &h);
        int count = sa_edt_column_z_lean(entry + col, cols_z, nz, s[2], &st, &h);
        sa_lean_cursor c;
        sa_lean_cursor_start(&c, count, &h, &st);
        for (int k = 0; k < nz; k++) {
            double value = INFINITY;
            int r = 0;
            uint32_t pay = 0;
            if (count > 0) sa_lean_lowest(&c, k, s[2], &h, &st, &value, &r, &pay);
            d2[(size_t)k * cols_z + col] = value;
        }
    }
    free(dx), free(node), free(root);
}

/* The minimum over every feature of the documented expression. */
static double brute_d2(const uint8_t *flags, int nx, int ny, int nz, const double s[3], int x, int y, int z) {
    double best = INFINITY;
    for (int c = 0; c < nz; c++)
        for (int b = 0; b < ny; b++)
            for (int a = 0; a < nx; a++) {
                if (!flags[((size_t)c * ny + b) * nx + a]) continue;
                double tx = s[0] * (double)(x - a), ty = s[1] * (double)(y - b), tz = s[2] * (double)(z - c);
                double d = (tx * tx + ty * ty) + tz * tz;
                if (d < best) best = d;
            }
    return best;
}

/* The dense transform against the brute force. With random spacings, two
 * different integer offsets practically never have the same exact length, and
 * every value must be the brute-force minimum bit for bit. With isotropic
 * spacings like 0.7 or 1.1 mm they often do (9+4+1 = 4+9+1), the orders of
 * their sums round differently, and the envelope, which sees exact ties, may
 * keep the one that rounds an ulp higher: there the value must lie between the
 * minimum and 4 ulps above it (it is always some feature's rounded value, so
 * never below). Both engines make the same choice (check_pair_path). */
static void check_dense_transform(void) {
    int bit_exact = 0, values = 0, engine_same = 0, tie_values = 0, tie_exact = 0, tie_in_bound = 0;
    for (int iter = 0; iter < 190; iter++) {
        int nx = 1 + (int)(rng() % 23), ny = 1 + (int)(rng() % 19), nz = 1 + (int)(rng() % 17);
        double s[3];
        int ties = iter >= 150; /* isotropic 0.7 or 1.1 mm */
        for (int a = 0; a < 3; a++) s[a] = ties ? (iter % 2 ? 0.7 : 1.1) : iter % 5 == 0 ? 1.0 : 0.3 + uniform() * 3.0;
        size_t n = (size_t)nx * ny * nz;
        uint8_t *flags = calloc(n, 1);
        double density = iter % 4 == 0 ? 0.002 : uniform() * 0.2;
        for (size_t i = 0; i < n; i++) flags[i] = uniform() < density;
        if (iter % 9 == 0) flags[rng() % n] = 1; /* a single feature */
        int any = 0;
        for (size_t i = 0; i < n; i++) any |= flags[i];
        double *d2 = malloc(n * sizeof *d2), *engine = malloc(n * sizeof *engine);
        dense_edt(flags, nx, ny, nz, s, d2);
        for (int z = 0; z < nz; z++)
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++) {
                    double want = brute_d2(flags, nx, ny, nz, s, x, y, z);
                    double got = d2[((size_t)z * ny + y) * nx + x];
                    if (ties) {
                        tie_values++;
                        tie_exact += memcmp(&want, &got, sizeof got) == 0;
                        tie_in_bound += got >= want && got <= want * (1.0 + 4.0 * 2.220446049250313e-16);
                        continue;
                    }
                    values++;
                    if (memcmp(&want, &got, sizeof got) == 0) bit_exact++;
                    else fprintf(stderr, "dense EDT %dx%dx%d (%g %g %g) at %d,%d,%d: %.17g, brute force %.17g\n",
                                 nx, ny, nz, s[0], s[1], s[2], x, y, z, got, want);
                }
        /* the lean envelope (the GPU's) gives the same entries and values, its
         * pass Z nodes packed or not */
        uint32_t *centry = malloc(n * sizeof *centry);
        double *cd2 = malloc(n * sizeof *cd2);
        for (int packed = 0; packed < 2; packed++) {
            dense_edt_lean(flags, nx, ny, nz, s, packed, centry, cd2);
            CHECK(memcmp(centry, last_entries, n * sizeof *centry) == 0);
            CHECK(memcmp(cd2, d2, n * sizeof *cd2) == 0);
        }
        free(centry), free(cd2);
        /* the CPU engine's transform gives the same bits */
        sa_grid g = {(size_t)nx, (size_t)ny, (size_t)nz, {s[0], s[1], s[2]}};
        sa_error err;
        CHECK(sa_edt_squared(flags, &g, 1, engine, &err) == 0);
        if (!any || memcmp(engine, d2, n * sizeof *d2) == 0) engine_same++;
        free(flags), free(d2), free(engine);
    }
    CHECK(bit_exact == values);
    CHECK(tie_in_bound == tie_values);
    CHECK(engine_same == 190);
    printf("dense transform: %d of %d values bit-identical to the brute force (random spacings); isotropic 0.7 and "
           "1.1 mm: %d of %d identical, all within 4 ulps above; %d of 190 grids equal to sa_edt_squared\n",
           bit_exact, values, tie_exact, tie_values, engine_same);
}

/* The argument for bit-identity between the engines, checked directly: the CPU's
 * band-limited transform at query voxels (sa_edt_query_distances) against the
 * GPU's dense pipeline driven as the kernels drive it (dense_edt_lean), on
 * isotropic spacings such as 0.7 and 1.1 mm, where different integer offsets
 * with the same squared length round differently (exact ties) and a separable
 * transform is not always the brute-force minimum of the rounded expression;
 * sparse features make the CPU go through several band rounds. */
static void check_pair_path(void) {
    long queries = 0, differ = 0;
    static const double iso[] = {0.7, 1.1, 1.0, 0.9765625};
    for (int it = 0; it < 160; it++) {
        int nx = 2 + (int)(rng() % 50), ny = 2 + (int)(rng() % 26), nz = 2 + (int)(rng() % 26);
        double s[3];
        for (int a = 0; a < 3; a++) s[a] = it % 5 == 4 ? 0.3 + uniform() * 2.0 : iso[it % 4];
        size_t n = (size_t)nx * ny * nz;
        uint8_t *m[2] = {calloc(n, 1), calloc(n, 1)};
        for (int w = 0; w < 2; w++) {
            int blobs = 1 + (int)(rng() % 4);
            for (int b = 0; b < blobs; b++) {
                double c[3] = {uniform() * nx, uniform() * ny, uniform() * nz}, r = 1 + uniform() * 3;
                for (int z = 0; z < nz; z++)
                    for (int y = 0; y < ny; y++)
                        for (int x = 0; x < nx; x++) {
                            double dx = x - c[0], dy = y - c[1], dz = z - c[2];
                            if (dx * dx + dy * dy + dz * dz < r * r) m[w][((size_t)z * ny + y) * nx + x] = 1;
                        }
            }
            double stray = uniform() < 0.5 ? 0.002 : uniform() * 0.1;
            for (size_t i = 0; i < n; i++)
                if (uniform() < stray) m[w][i] = 1;
        }
        sa_grid g = {(size_t)nx, (size_t)ny, (size_t)nz, {s[0], s[1], s[2]}};
        sa_error err;
        sa_mask_scan scan;
        if (sa_mask_scan_pair(m[0], m[1], &g, 1, &scan, &err) || !scan.ref_has || !scan.pred_has) {
            free(m[0]), free(m[1]);
            continue;
        }
        sa_region r;
        sa_region_from_boxes(&r, &scan.ref_box, &scan.pred_box);
        sa_points feat, query;
        CHECK(sa_surface_points(m[0], &g, &r, 1, &feat, &err) == 0);
        CHECK(sa_surface_points(m[1], &g, &r, 1, &query, &err) == 0);
        size_t rv = sa_region_voxels(&r);
        void *work = malloc(rv * SA_EDT_WORK_BYTES);
        double *cpu = malloc((query.count ? query.count : 1) * sizeof *cpu), *d2 = malloc(rv * sizeof *d2);
        uint32_t *entry = malloc(rv * sizeof *entry);
        uint8_t *flags = calloc(rv, 1);
        CHECK(sa_edt_query_distances(&feat, &query, &r, s, 1, work, cpu, &err) == 0);
        for (size_t row = 0; row < r.ny * r.nz; row++)
            for (size_t p = feat.row_start[row]; p < feat.row_start[row + 1]; p++) flags[row * r.nx + feat.x[p]] = 1;
        dense_edt_lean(flags, (int)r.nx, (int)r.ny, (int)r.nz, s, 1, entry, d2);
        for (size_t row = 0; row < r.ny * r.nz; row++)
            for (size_t p = query.row_start[row]; p < query.row_start[row + 1]; p++) {
                double gpu = sqrt(d2[row * r.nx + query.x[p]]);
                queries++;
                if (memcmp(&gpu, &cpu[p], sizeof gpu)) {
                    if (differ < 5) fprintf(stderr, "pair path %dx%dx%d (%g): CPU %.17g, GPU-style %.17g\n", nx, ny, nz, s[0], cpu[p], gpu);
                    differ++;
                }
            }
        sa_points_free(&feat), sa_points_free(&query);
        free(work), free(cpu), free(d2), free(entry), free(flags), free(m[0]), free(m[1]);
    }
    CHECK(differ == 0);
    printf("pair path: %ld query distances, %ld differ between the CPU's band-limited transform and the GPU's dense one\n",
           queries, differ);
}

/* sa_line_nearest against its definition, on lines with 0, 1 and many features. */
static void check_line_nearest(void) {
    for (int iter = 0; iter < 500; iter++) {
        int n = 1 + (int)(rng() % 90);
        uint8_t flags[96];
        uint16_t d[96];
        for (int x = 0; x < n; x++) flags[x] = (uint8_t)((uniform() < (iter % 3 == 0 ? 0.0 : 0.1)) ? 2 : 0);
        sa_line_nearest(flags, 2, n, d);
        /* the same from the row's bits (the GPU's pass X) */
        uint32_t bits[3] = {0, 0, 0};
        int words = (n + 31) / 32, left_word[3], right_word[3];
        for (int x = 0; x < n; x++)
            if (flags[x] & 2) bits[x >> 5] |= 1u << (x & 31);
        for (int w = 0, last_nz = -1; w < words; w++) left_word[w] = last_nz = bits[w] ? w : last_nz;
        for (int w = words - 1, next_nz = words; w >= 0; w--) right_word[w] = next_nz = bits[w] ? w : next_nz;
        int from_bits = 1;
        for (int x = 0; x < n; x++) from_bits &= sa_row_bits_nearest(bits, left_word, right_word, words, x) == d[x];
        /* and in runs of up to 8 within a word, as the GPU's 16-byte stores do */
        for (int x0 = 0; x0 < n;) {
            int count = 1 + (int)(rng() % 8);
            if (x0 % 32 + count > 32) count = 32 - x0 % 32;
            if (x0 + count > n) count = n - x0;
            unsigned run[8];
            sa_row_bits_nearest_run(bits, left_word, right_word, words, x0, count, run);
            for (int i = 0; i < count; i++) from_bits &= run[i] == d[x0 + i];
            x0 += count;
        }
        CHECK(from_bits);
        int ok = 1;
        for (int x = 0; x < n; x++) {
            unsigned best = SA_EDT_NONE;
            for (int a = 0; a < n; a++)
                if (flags[a] & 2) {
                    unsigned dist = (unsigned)abs(a - x);
                    if (dist < best) best = dist;
                }
            ok &= d[x] == best;
        }
        CHECK(ok);
    }
}

/* Long lines with many samples, where parabolas are hidden and popped often:
 * the lean envelope (pass Y, and pass Z with nodes packed and not) decides
 * exactly as the reference envelope (sa_envelope_build_st and
 * sa_envelope_lowest_st), entry for entry and value for value, sparse and dense, with ties. */
static void check_lean_lines(void) {
    enum { N = 700 };
    static uint16_t dx[N], root[N + 1];
    static int pos[N + 1], v[N + 1];
    static double f[N + 1];
    static uint32_t node[N + 1], ce[N], le[N], en[N];
    long compared = 0;
    for (int iter = 0; iter < 400; iter++) {
        int n = 1 + (int)(rng() % N);
        double sx = iter % 3 ? 0.3 + uniform() * 2.5 : 0.7, sy = iter % 3 ? 0.3 + uniform() * 2.5 : 0.7;
        double p_feature = iter % 4 == 0 ? 0.01 : uniform();
        unsigned span = 1 + (unsigned)(rng() % (iter % 2 ? 8 : 400));
        for (int j = 0; j < n; j++) dx[j] = uniform() < p_feature ? (uint16_t)(rng() % span) : SA_EDT_NONE;
        sa_edt_column_y(dx, 1, n, sx, sy, pos, f, v, 1, NULL, 0, ce, 1);
        sa_edt_column_y_lean(dx, 1, n, sx, sy, node, 1, NULL, 0, le, 1);
        CHECK(memcmp(ce, le, (size_t)n * sizeof *ce) == 0);
        /* pass Z over random entries of row j of a region of span x 512 columns */
        int j = (int)(rng() % 512);
        for (int k = 0; k < n; k++)
            en[k] = uniform() < p_feature ? ((uint32_t)(rng() % span) << 16) | (uint32_t)(rng() % 512) : SA_EDT_ENTRY_NONE;
        double sz = iter % 3 ? 0.3 + uniform() * 2.5 : 0.7;
        int cc = sa_edt_column_z_build(en, 1, n, j, sx, sy, sz, pos, f, v, 1);
        for (int packed = 0; packed < 2; packed++) {
            sa_lean_store st;
            sa_height_rule h;
            sa_edt_z_layout((int)span, 512, n, j, sx, sy, packed, node, root, 1, &st, &h);
            CHECK((st.root == NULL) == packed);
            int lc = sa_edt_column_z_lean(en, 1, n, sz, &st, &h);
            CHECK(cc == lc);
            if (cc != lc || cc == 0) continue;
            sa_lean_cursor c;
            sa_lean_cursor_start(&c, lc, &h, &st);
            int kk = 0, same = 1;
            for (int k = 0; k < n; k++) {
                if (rng() % 4 == 0) continue; /* queries skip voxels */
                double a, b = 0.0;
                int r = 0;
                uint32_t pay = 0;
                kk = sa_envelope_lowest_st(pos, f, sz, v, cc, kk, k, &a, 1);
                sa_lean_lowest(&c, k, sz, &h, &st, &b, &r, &pay);
                same &= memcmp(&a, &b, sizeof a) == 0 && r == pos[v[kk]];
                compared++;
            }
            CHECK(same);
        }
    }
    /* the packing's limits: a region too wide for 32-bit nodes keeps its roots apart */
    sa_lean_store st;
    sa_height_rule h;
    sa_edt_z_layout(4096, 4096, 1024, 0, 1, 1, 1, node, root, 1, &st, &h);
    CHECK(st.root == root && h.row_bits == 16);
    sa_edt_z_layout(2048, 2048, 1024, 0, 1, 1, 1, node, root, 1, &st, &h);
    CHECK(st.root == NULL && h.row_bits == 11 && st.shift == 22);
    CHECK(sa_bits_below(0) == 0 && sa_bits_below(1) == 0 && sa_bits_below(2) == 1 && sa_bits_below(512) == 9 &&
          sa_bits_below(513) == 10 && sa_bits_below(65535) == 16);
    printf("lean envelope: %ld pass-Z evaluations and 400 pass-Y lines identical to the reference envelope's\n", compared);
}

/* sa_byte_bits4 against its definition, every bit of every byte pattern that
 * matters (each byte 0, the bit alone, other bits, all bits). */
static void check_byte_bits(void) {
    static const uint8_t kinds[4] = {0x00, 0x01, 0xFE, 0xFF};
    int ok = 1;
    for (int b = 0; b < 8; b++)
        for (int pattern = 0; pattern < 256; pattern++) {
            uint8_t bytes[4];
            for (int i = 0; i < 4; i++) {
                uint8_t k = kinds[(pattern >> (2 * i)) & 3];
                bytes[i] = k == 0x01 ? (uint8_t)(1u << b) : k == 0xFE ? (uint8_t)~(1u << b) : k;
            }
            uint32_t word = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
                            (uint32_t)bytes[3] << 24, want = 0;
            for (int i = 0; i < 4; i++) want |= (uint32_t)((bytes[i] >> b) & 1u) << i;
            ok &= sa_byte_bits4(word, b) == want;
        }
    CHECK(ok);
}

/* The exact sum: equal to integer arithmetic on multiples of 2^-80, the same
 * bits whatever the order and grouping, and correctly rounded. */
static void check_exact_sum(void) {
    /* rounding: 1 + 2^-53 is a tie (to even: 1); with 2^-80 more it rounds up */
    sa_exact_sum a;
    sa_exact_clear(&a);
    sa_exact_add(&a, 1.0);
    sa_exact_add(&a, ldexp(1.0, -53));
    CHECK(sa_exact_round(&a) == 1.0);
    sa_exact_add(&a, ldexp(1.0, -80));
    CHECK(sa_exact_round(&a) == 1.0 + ldexp(1.0, -52));
    sa_exact_clear(&a);
    CHECK(sa_exact_round(&a) == 0.0);
    sa_exact_add(&a, 0.0);
    CHECK(sa_exact_round(&a) == 0.0);
    sa_exact_add(&a, 3.0);
    sa_exact_add(&a, ldexp(1.0, -70));
    CHECK(sa_exact_round(&a) == 3.0); /* far below half an ulp */
    /* large totals: 2^40 values of 2^50 would be 2^90; here a few big ones */
    sa_exact_clear(&a);
    for (int i = 0; i < 1000; i++) sa_exact_add(&a, ldexp(1.0, 59));
    CHECK(sa_exact_round(&a) == 1000.0 * ldexp(1.0, 59));

    /* many random distances: any order, any grouping, the same bits; and the
     * value agrees with a long double sum to its precision */
    enum { N = 20000 };
    static double d[N];
    for (int i = 0; i < N; i++) d[i] = sqrt(uniform() * 4000.0) * (uniform() < 0.1 ? 0.0 : 1.0);
    sa_exact_sum fwd, bwd, grouped;
    sa_exact_clear(&fwd), sa_exact_clear(&bwd), sa_exact_clear(&grouped);
    long double ref = 0;
    for (int i = 0; i < N; i++) sa_exact_add(&fwd, d[i]), ref += d[i];
    for (int i = N - 1; i >= 0; i--) sa_exact_add(&bwd, d[i]);
    for (int g0 = 0; g0 < N; g0 += 97) {
        sa_exact_sum part;
        sa_exact_clear(&part);
        for (int i = g0; i < g0 + 97 && i < N; i++) sa_exact_add(&part, d[i]);
        sa_exact_merge(&grouped, &part);
    }
    double f = sa_exact_round(&fwd), b = sa_exact_round(&bwd), gr = sa_exact_round(&grouped);
    CHECK(memcmp(&f, &b, sizeof f) == 0 && memcmp(&f, &gr, sizeof f) == 0);
    CHECK(fabsl((long double)f - ref) <= fabsl(ref) * 1e-15L);

    /* exact against integers: values k * 2^-10 sum to an integer multiple */
    sa_exact_clear(&a);
    uint64_t units = 0;
    for (int i = 0; i < 5000; i++) {
        uint64_t k = rng() % (1u << 20);
        units += k;
        sa_exact_add(&a, ldexp((double)k, -10));
    }
    CHECK(sa_exact_round(&a) == ldexp((double)units, -10));
}

/* The split percentile rule gives sa_percentile's results. */
static void check_percentile_rule(void) {
    for (int iter = 0; iter < 200; iter++) {
        size_t n = 1 + rng() % 300;
        double *v = malloc(n * sizeof *v), *sorted = malloc(n * sizeof *sorted);
        for (size_t i = 0; i < n; i++) v[i] = floor(uniform() * 50.0) * 0.37;
        memcpy(sorted, v, n * sizeof *v);
        for (size_t i = 1; i < n; i++) /* insertion sort: the reference order */
            for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                double t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        double q = iter % 3 ? 95.0 : uniform() * 100.0, t;
        size_t i = sa_percentile_rank(n, q, &t);
        double from_sorted = sa_percentile_combine(sorted[i], i + 1 < n ? sorted[i + 1] : sorted[i], t);
        double engine = sa_percentile(v, n, q);
        CHECK(memcmp(&from_sorted, &engine, sizeof engine) == 0);
        free(v), free(sorted);
    }
}

/* The envelope's one comparison, sa_parabola_hidden, against the breakpoint
 * rule it multiplies out, decided exactly in integers (integer heights and
 * squared spacing: every quantity is exact); and the envelope along one line
 * against the minimum over all its samples, at every point and at points
 * skipped at random, bit for bit (random heights: no two values tie). */
static void check_envelope_line(void) {
    long decisions = 0, hidden = 0, ties = 0;
    int ok = 1;
    for (int it = 0; it < 200000; it++) {
        int b = (int)(rng() % 300), p = b + 1 + (int)(rng() % 300), q = p + 1 + (int)(rng() % 300);
        long long w2 = 1 + (long long)(rng() % 9), span = it % 2 ? 50 : 2000000;
        long long fb = (long long)(rng() % span), fp = (long long)(rng() % span), fq = (long long)(rng() % span);
        if (it % 7 == 0) { /* put q exactly on the tie */
            /* breakpoint(p, q) == breakpoint(b, p) <=> (fq - fp) c + w2 a c (a + c) == (fp - fb) a */
            long long a = q - p, c = p - b, rhs = (fp - fb) * a - w2 * a * c * (a + c);
            if (rhs % c == 0 && fp + rhs / c >= 0) fq = fp + rhs / c, ties++;
        }
        /* breakpoint(x, y) = n / d with n = (fy - fx) + w2 (y^2 - x^2), d = 2 w2 (y - x) */
        long long n1 = (fq - fp) + w2 * ((long long)q * q - (long long)p * p), d1 = 2 * w2 * (q - p);
        long long n2 = (fp - fb) + w2 * ((long long)p * p - (long long)b * b), d2 = 2 * w2 * (p - b);
        int want = n1 * d2 <= n2 * d1; /* below 2^40: exact */
        int got = sa_parabola_hidden(b, (double)fb, p, (double)fp, q, (double)fq, (double)w2);
        ok &= want == got;
        decisions++, hidden += got;
    }
    CHECK(ok);
    CHECK(hidden > 1000 && hidden < decisions - 1000);
    CHECK(ties > 100);

    enum { L = 400 };
    static int pos[L], v[L];
    static double f[L];
    long values = 0, exact = 0;
    for (int it = 0; it < 3000; it++) {
        int n = 1 + (int)(rng() % L), m = 0;
        double w = 0.2 + uniform() * 3.0, density = it % 3 ? uniform() : 0.02, scale = uniform() * 500.0;
        for (int y = 0; y < n; y++)
            if (uniform() < density || (m == 0 && y == n - 1)) pos[m] = y, f[m] = uniform() * scale, m++;
        int count = sa_envelope_build(pos, f, m, w, v);
        CHECK(count >= 1 && count <= m);
        int k = 0, skip = it % 2;
        for (int y = 0; y < n; y++) {
            if (skip && rng() % 3 == 0) continue;
            double got, want = INFINITY;
            k = sa_envelope_lowest(pos, f, w, v, count, k, y, &got);
            for (int t = 0; t < m; t++) {
                double value = sa_parabola(f[t], w, pos[t], y);
                if (value < want) want = value;
            }
            values++;
            exact += memcmp(&got, &want, sizeof got) == 0;
        }
    }
    CHECK(exact == values);

    /* The walk chooses the same parabola whichever earlier points it visited
     * (the CPU evaluates some, the GPU all): a walk over every point, one
     * over random points, and one started afresh at each point, on heights
     * made as the transform makes them (squares of 0.7 mm steps, so values
     * tie or nearly tie) and on spacings so small along the line that the
     * parabolas' values round together (1e-6 and 1e-3 mm across 0.7 mm). */
    long walks = 0, same_walk = 0;
    static const double along[] = {1e-6, 1e-3, 0.7, 1.3};
    for (int it = 0; it < 400; it++) {
        int n = 2 + (int)(rng() % (L - 1)), m = 0;
        double w = along[it % 4];
        int base = it % 2 ? 270 : 3000;
        for (int y = 0; y < n; y++)
            if (rng() % 3 == 0) pos[m] = y, f[m] = sa_axis_sq(0.7, base + (int)(rng() % 4)), m++;
        if (!m) continue;
        int count = sa_envelope_build(pos, f, m, w, v), every = 0, some = 0;
        for (int y = 0; y < n; y++) {
            double a, b, c;
            every = sa_envelope_lowest(pos, f, w, v, count, every, y, &a);
            int fresh = sa_envelope_lowest(pos, f, w, v, count, 0, y, &c);
            if (rng() % 3) { /* the skipping walk visits this point */
                some = sa_envelope_lowest(pos, f, w, v, count, some, y, &b);
                walks++, same_walk += some == every && memcmp(&a, &b, sizeof a) == 0;
            }
            walks++, same_walk += fresh == every && memcmp(&a, &c, sizeof a) == 0;
        }
    }
    /* the smallest such case (found in review): samples at 0, 1, 3 of heights
     * (0.7*270)^2, (0.7*270)^2, (0.7*271)^2, 1e-6 mm along the line, at 3 */
    {
        int p3[3] = {0, 1, 3}, v3[3];
        double f3[3] = {sa_axis_sq(0.7, 270), sa_axis_sq(0.7, 270), sa_axis_sq(0.7, 271)}, a, b;
        int c3 = sa_envelope_build(p3, f3, 3, 1e-6, v3), k = 0;
        for (int y = 0; y <= 2; y++) k = sa_envelope_lowest(p3, f3, 1e-6, v3, c3, k, y, &a);
        int after = sa_envelope_lowest(p3, f3, 1e-6, v3, c3, k, 3, &a);
        int fresh = sa_envelope_lowest(p3, f3, 1e-6, v3, c3, 0, 3, &b);
        CHECK(after == fresh && memcmp(&a, &b, sizeof a) == 0);
    }
    CHECK(walks > 10000 && same_walk == walks);
    printf("envelope: %ld hide decisions equal to the exact breakpoint rule (%ld hidden, %ld exact ties); %ld of %ld "
           "line values equal to the minimum over all samples; %ld of %ld walks chose as a walk over every point\n",
           decisions, hidden, ties, exact, values, same_walk, walks);
}

/* The CPU transform numbers the (x, y) columns that hold a query in 32 bits:
 * every box the grid allows (65535 x 65535 columns, all of them surface in a
 * one-slice image) must fit, past 2^31 columns included (a signed counter
 * wrapped there), and a larger box is refused with a message, never numbered. */
static void check_column_places(void) {
    CHECK(sa_edt_columns_fit(1, 1));
    CHECK(sa_edt_columns_fit(46341, 46341)); /* 2147488281 columns: past INT32_MAX */
    CHECK(sa_edt_columns_fit(65535, 65535)); /* the grid's limit */
    CHECK(sa_edt_columns_fit(1, (size_t)UINT32_MAX - 1));
    CHECK(!sa_edt_columns_fit(1, (size_t)UINT32_MAX));
    CHECK(!sa_edt_columns_fit(65536, 65536));
    CHECK(!sa_edt_columns_fit(SIZE_MAX, 2)); /* the product would overflow */
    CHECK(!sa_edt_columns_fit(0, 5));
    sa_region r = {{{0, 0, 0}, {65536, 65536, 0}}, 65537, 65537, 1};
    sa_points none = {0};
    double d = 0;
    sa_error err = {{0}};
    CHECK(sa_edt_query_distances(&none, &none, &r, (const double[3]){1, 1, 1}, 1, NULL, &d, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "65537 x 65537 columns");
}

int main(void) {
    check_line_nearest();
    check_byte_bits();
    check_envelope_line();
    check_dense_transform();
    check_lean_lines();
    check_pair_path();
    check_exact_sum();
    check_percentile_rule();
    check_column_places();
    free(last_entries);
    return test_report("test_edt_line");
}
