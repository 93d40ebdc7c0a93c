/*
 * test_metrics_properties.c: the engine against an independent brute-force
 * reference on many random small masks and spacings (distance transform,
 * surfaces, directed distances, every surface metric), and the properties the
 * definitions promise: symmetry, self-comparison, thread-count invariance.
 */
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "metrics.h"
#include "reference_metrics.h"

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return rng_state;
}
static double uniform(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

/* Random mask: scattered voxels, boxes and balls, or a mixture. */
static void random_mask(uint8_t *m, const sa_grid *g) {
    size_t n = sa_grid_voxels(g);
    memset(m, 0, n);
    int kind = (int)(rng() % 4);
    double density = kind == 0 ? uniform() * 0.5 : uniform() * 0.05;
    for (size_t i = 0; i < n; i++) m[i] = uniform() < density;
    if (kind >= 1) {
        int shapes = 1 + (int)(rng() % 3);
        for (int s = 0; s < shapes; s++) {
            double c[3] = {uniform() * (double)g->nx, uniform() * (double)g->ny, uniform() * (double)g->nz};
            double r = 0.5 + uniform() * 4.0;
            int ball = (int)(rng() % 2);
            for (size_t z = 0; z < g->nz; z++)
                for (size_t y = 0; y < g->ny; y++)
                    for (size_t x = 0; x < g->nx; x++) {
                        double dx = (double)x - c[0], dy = (double)y - c[1], dz = (double)z - c[2];
                        int in = ball ? dx * dx + dy * dy + dz * dz <= r * r
                                      : fabs(dx) <= r && fabs(dy) <= r * 0.7 && fabs(dz) <= r * 1.3;
                        if (in) m[x + g->nx * (y + g->ny * z)] = (uint8_t)(kind == 3 ? 1 + rng() % 200 : 1);
                    }
        }
    }
}

static void random_grid(sa_grid *g) {
    g->nx = 1 + rng() % 11;
    g->ny = 1 + rng() % 11;
    g->nz = 1 + rng() % 11;
    for (int a = 0; a < 3; a++) {
        static const double nice[] = {1.0, 0.5, 0.7, 2.0, 3.0, 0.976562};
        g->spacing[a] = rng() % 2 ? nice[rng() % 6] : 0.2 + uniform() * 3.0;
    }
}

static int close_rel(double a, double b) { return fabs(a - b) <= 1e-12 * (fabs(b) > 1 ? fabs(b) : 1); }

static int bitwise_exact_edt, edt_values;

static void check_edt(const uint8_t *m, const sa_grid *g) {
    size_t n = sa_grid_voxels(g);
    double *d2 = malloc(n * sizeof *d2);
    sa_error err;
    CHECK(sa_edt_squared(m, g, (int)(rng() % 3), d2, &err) == 0);
    int ok = 1;
    for (size_t z = 0; z < g->nz; z++)
        for (size_t y = 0; y < g->ny; y++)
            for (size_t x = 0; x < g->nx; x++) {
                long p[3] = {(long)x, (long)y, (long)z};
                double best = INFINITY;
                for (size_t zz = 0; zz < g->nz; zz++)
                    for (size_t yy = 0; yy < g->ny; yy++)
                        for (size_t xx = 0; xx < g->nx; xx++)
                            if (m[xx + g->nx * (yy + g->ny * zz)]) {
                                long q[3] = {(long)xx, (long)yy, (long)zz};
                                double d = ref_sqdist(p, q, g->spacing);
                                if (d < best) best = d;
                            }
                double got = d2[x + g->nx * (y + g->ny * z)];
                edt_values++;
                bitwise_exact_edt += got == best;
                if (!(isinf(best) ? isinf(got) : close_rel(got, best))) {
                    if (ok) fprintf(stderr, "EDT mismatch at (%zu,%zu,%zu) grid %zux%zux%zu: %.17g vs %.17g\n",
                                    x, y, z, g->nx, g->ny, g->nz, got, best);
                    ok = 0;
                }
            }
    CHECK(ok);
    free(d2);
}

/* Every surface metric against the brute-force reference. */
static void check_pair(const uint8_t *r, const uint8_t *t, const sa_grid *g, double tau) {
    size_t n = sa_grid_voxels(g);
    sa_score_options opt = {tau, 1 + (int)(rng() % 3), SA_DEVICE_CPU};
    sa_pair_metrics m;
    sa_error err;
    CHECK(sa_score_pair(r, t, g, &opt, &m, &err) == 0);

    long(*sr)[3] = malloc((n + 1) * sizeof *sr), (*st)[3] = malloc((n + 1) * sizeof *st);
    size_t nr = ref_surface(r, g, sr), nt = ref_surface(t, g, st);
    CHECK(m.ref_surface_voxels == nr);
    CHECK(m.pred_surface_voxels == nt);
    uint64_t tp = 0, fp = 0, fn = 0;
    for (size_t i = 0; i < n; i++) tp += r[i] && t[i], fp += !r[i] && t[i], fn += r[i] && !t[i];
    CHECK(m.tp == tp && m.fp == fp && m.fn == fn && m.tn == n - tp - fp - fn);

    if (nr && nt) {
        double *dtr = malloc((nt + nr) * sizeof *dtr), *drt = dtr + nt;
        ref_directed(st, nt, sr, nr, g->spacing, dtr);
        ref_directed(sr, nr, st, nt, g->spacing, drt);
        double max_tr = 0, max_rt = 0, sum_tr = 0, sum_rt = 0;
        size_t within = 0;
        for (size_t i = 0; i < nt; i++) max_tr = fmax(max_tr, dtr[i]), sum_tr += dtr[i], within += dtr[i] <= tau;
        for (size_t i = 0; i < nr; i++) max_rt = fmax(max_rt, drt[i]), sum_rt += drt[i], within += drt[i] <= tau;
        double p_tr = ref_percentile(dtr, nt, 95), p_rt = ref_percentile(drt, nr, 95);
        int ok = close_rel(m.hd.value, fmax(max_tr, max_rt)) && close_rel(m.hd_pred_to_ref.value, max_tr) &&
                 close_rel(m.hd95.value, fmax(p_tr, p_rt)) &&
                 close_rel(m.hd95_mean.value, (p_tr + p_rt) / 2) &&
                 close_rel(m.hd95_pooled.value, ref_percentile(dtr, nt + nr, 95)) &&
                 close_rel(m.assd.value, (sum_tr + sum_rt) / (double)(nt + nr)) &&
                 close_rel(m.masd.value, (sum_tr / (double)nt + sum_rt / (double)nr) / 2) &&
                 m.nsd.value == (double)within / (double)(nt + nr) && !m.hd.reason && !m.nsd.reason;
        if (!ok)
            fprintf(stderr, "surface metrics differ: grid %zux%zux%zu sp %g %g %g: hd %.17g/%.17g hd95 %.17g/%.17g assd %.17g/%.17g nsd %g/%g\n",
                    g->nx, g->ny, g->nz, g->spacing[0], g->spacing[1], g->spacing[2], m.hd.value,
                    fmax(max_tr, max_rt), m.hd95.value, fmax(p_tr, p_rt), m.assd.value,
                    (sum_tr + sum_rt) / (double)(nt + nr), m.nsd.value, (double)within / (double)(nt + nr));
        CHECK(ok);

        /* the public directed-distance API on the surfaces, voxel by voxel */
        uint8_t *surf_t = calloc(n, 1), *surf_r = calloc(n, 1);
        CHECK(sa_surface_extract(t, g, surf_t) == nt);
        CHECK(sa_surface_extract(r, g, surf_r) == nr);
        double *got;
        size_t count;
        CHECK(sa_directed_distances(surf_t, surf_r, g, 2, &got, &count, &err) == 0);
        CHECK(count == nt);
        int same = 1;
        for (size_t i = 0; i < nt && i < count; i++) same &= close_rel(got[i], dtr[i]);
        CHECK(same);
        free(got), free(surf_t), free(surf_r), free(dtr);
    }
    free(sr), free(st);
}

static int same_value(sa_value a, sa_value b) {
    return (a.reason == NULL) == (b.reason == NULL) && (a.reason ? strcmp(a.reason, b.reason) == 0 : a.value == b.value);
}

/* Equal values, or both undefined (the reason names the side, so it swaps). */
static int same_when_swapped(sa_value a, sa_value b) {
    return (a.reason == NULL) == (b.reason == NULL) && (a.reason || a.value == b.value);
}

static void check_symmetry_and_threads(const uint8_t *r, const uint8_t *t, const sa_grid *g) {
    sa_score_options o1 = {1.0, 1, SA_DEVICE_CPU}, o3 = {1.0, 3, SA_DEVICE_CPU};
    sa_pair_metrics a, b, c;
    sa_error err;
    CHECK(sa_score_pair(r, t, g, &o1, &a, &err) == 0);
    CHECK(sa_score_pair(r, t, g, &o3, &b, &err) == 0);
    CHECK(sa_score_pair(t, r, g, &o1, &c, &err) == 0);
    /* thread count never changes a bit */
    b.threads_used = a.threads_used;
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    /* symmetric definitions */
    CHECK(same_value(a.dice, c.dice) && same_value(a.jaccard, c.jaccard) && same_value(a.nsd, c.nsd));
    CHECK(same_when_swapped(a.hd, c.hd) && same_when_swapped(a.hd95, c.hd95));
    CHECK(same_when_swapped(a.hd95_mean, c.hd95_mean) && same_when_swapped(a.hd95_pooled, c.hd95_pooled));
    CHECK(a.assd.reason ? c.assd.reason != NULL : close_rel(a.assd.value, c.assd.value));
    CHECK(a.masd.reason ? c.masd.reason != NULL : close_rel(a.masd.value, c.masd.value));
    CHECK(same_when_swapped(a.sensitivity, c.ppv) && same_when_swapped(a.ppv, c.sensitivity));
    CHECK(same_when_swapped(a.hd_pred_to_ref, c.hd_ref_to_pred));
    /* self-comparison */
    sa_pair_metrics s;
    CHECK(sa_score_pair(r, r, g, &o1, &s, &err) == 0);
    CHECK(s.dice.value == 1.0 && s.jaccard.value == 1.0 && s.nsd.value == 1.0);
    CHECK(s.hd.value == 0.0 && s.hd95.value == 0.0 && s.assd.value == 0.0 && s.masd.value == 0.0);
}

/* Larger grids with objects far apart, so that the transform's band rounds
 * (a first band of 10 voxels, then wider ones) all take part; each directed
 * distance is checked against the brute force. */
static void check_band_rounds(void) {
    for (int iter = 0; iter < 24; iter++) {
        sa_grid g = {24 + rng() % 40, 20 + rng() % 36, 16 + rng() % 40, {0, 0, 0}};
        for (int a = 0; a < 3; a++) g.spacing[a] = 0.4 + uniform() * 2.6;
        size_t n = sa_grid_voxels(&g);
        uint8_t *r = calloc(n, 1), *t = calloc(n, 1);
        for (int side = 0; side < 2; side++) {
            uint8_t *m = side ? t : r;
            int blobs = 1 + (int)(rng() % 4);
            for (int b = 0; b < blobs; b++) {
                double c[3] = {uniform() * (double)g.nx, uniform() * (double)g.ny, uniform() * (double)g.nz};
                double rad = 1.0 + uniform() * 6.0;
                for (size_t z = 0; z < g.nz; z++)
                    for (size_t y = 0; y < g.ny; y++)
                        for (size_t x = 0; x < g.nx; x++) {
                            double dx = (double)x - c[0], dy = (double)y - c[1], dz = (double)z - c[2];
                            if (dx * dx + dy * dy + dz * dz <= rad * rad) m[x + g.nx * (y + g.ny * z)] = 1;
                        }
            }
            for (int s = 0; s < 5; s++) m[rng() % n] = 1; /* stray voxels, far from the rest */
        }
        check_pair(r, t, &g, 2.0);
        free(r), free(t);
    }
}

/* Above a million voxels the engine really runs several threads: results must
 * not change by a single bit with their number. */
static void check_threads_large(void) {
    sa_grid g = {128, 112, 80, {0.7, 0.9, 1.6}};
    size_t n = sa_grid_voxels(&g);
    uint8_t *r = calloc(n, 1), *t = calloc(n, 1);
    for (int side = 0; side < 2; side++)
        for (int b = 0; b < 6; b++) {
            double c[3] = {uniform() * 128, uniform() * 112, uniform() * 80}, rad = 3 + uniform() * 25;
            for (size_t z = 0; z < g.nz; z++)
                for (size_t y = 0; y < g.ny; y++)
                    for (size_t x = 0; x < g.nx; x++) {
                        double dx = (double)x - c[0], dy = (double)y - c[1], dz = (double)z - c[2];
                        if (dx * dx + dy * dy + dz * dz <= rad * rad) (side ? t : r)[x + g.nx * (y + g.ny * z)] = 1;
                    }
        }
    sa_pair_metrics m[3];
    sa_error err;
    for (int i = 0; i < 3; i++) {
        sa_score_options opt = {1.0, i + 1, SA_DEVICE_CPU};
        CHECK(sa_score_pair(r, t, &g, &opt, &m[i], &err) == 0);
        CHECK(m[i].threads_used == i + 1);
        m[i].threads_used = 0;
    }
    CHECK(memcmp(&m[0], &m[1], sizeof m[0]) == 0 && memcmp(&m[0], &m[2], sizeof m[0]) == 0);
    CHECK(m[0].ref_surface_voxels > 1000 && !m[0].hd.reason);
    free(r), free(t);
}

int main(void) {
    check_threads_large();
    check_band_rounds();
    for (int iter = 0; iter < 400; iter++) {
        sa_grid g;
        random_grid(&g);
        size_t n = sa_grid_voxels(&g);
        uint8_t *r = malloc(n), *t = malloc(n);
        random_mask(r, &g);
        random_mask(t, &g);
        if (iter % 7 == 0) memset(t, 0, n);
        if (iter % 11 == 0) memset(r, 0, n);
        if (iter % 2 == 0) check_edt(r, &g);
        double tau = (double)(rng() % 4) * 0.5 * g.spacing[rng() % 3];
        check_pair(r, t, &g, tau);
        check_symmetry_and_threads(r, t, &g);
        free(r), free(t);
    }
    printf("EDT: %d of %d values bit-identical to the brute-force minimum\n", bitwise_exact_edt, edt_values);
    return test_report("test_metrics_properties");
}
