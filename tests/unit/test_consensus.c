/*
 * test_consensus.c: unit tests of sa_consensus (metrics/consensus.c). The library
 * runs STAPLE's EM over vote patterns; this test carries a plain per-voxel STAPLE
 * (its own dilation by repeated 6-neighbour steps, plain loops over voxels) written
 * from ../shared/spec/metrics.md and compares the two on random cases, besides
 * hand-checked majority votes, degenerate raters, region sizes and errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "test.h"

/* ---- random numbers ------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_unit(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }
static size_t rng_below(size_t n) { return (size_t)(rng_next() % n); }

/* ---- the plain reference STAPLE -------------------------------------------------- */

typedef struct ref_result {
    double *W;
    uint8_t *mask;
    double p[SA_MAX_RATERS], q[SA_MAX_RATERS], prior;
    int iterations, converged;
    uint64_t region;
} ref_result;

/* One 6-neighbour dilation step of in into out (clipped to the image). */
static void dilate6(const uint8_t *in, uint8_t *out, size_t nx, size_t ny, size_t nz) {
    for (size_t z = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                size_t i = x + nx * (y + ny * z);
                uint8_t v = in[i];
                if (x > 0 && in[i - 1]) v = 1;
                if (x + 1 < nx && in[i + 1]) v = 1;
                if (y > 0 && in[i - nx]) v = 1;
                if (y + 1 < ny && in[i + nx]) v = 1;
                if (z > 0 && in[i - nx * ny]) v = 1;
                if (z + 1 < nz && in[i + nx * ny]) v = 1;
                out[i] = v != 0;
            }
}

static void ref_staple(const uint8_t *const *raters, size_t k, const sa_grid *g,
                       const sa_consensus_options *opt, ref_result *o) {
    size_t n = sa_grid_voxels(g);
    uint8_t *region = calloc(n, 1), *tmp = calloc(n, 1);
    memset(o, 0, sizeof *o);
    o->W = calloc(n, sizeof *o->W);
    o->mask = calloc(n, 1);
    int any = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < k; r++)
            if (raters[r][i]) region[i] = 1, any = 1;
    if (opt->region == SA_STAPLE_IMAGE) {
        memset(region, 1, n);
    } else {
        for (int s = 0; s < opt->dilation_voxels; s++) {
            dilate6(region, tmp, g->nx, g->ny, g->nz);
            memcpy(region, tmp, n);
        }
    }
    o->region = 0;
    for (size_t i = 0; i < n; i++) o->region += region[i];
    if (!any) {
        for (size_t r = 0; r < k; r++) o->p[r] = o->q[r] = 1;
        o->prior = 0;
        o->iterations = 0;
        o->converged = 1;
        if (opt->region == SA_STAPLE_DILATED_UNION) o->region = 0;
        free(region);
        free(tmp);
        return;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!region[i]) continue;
        int votes = 0;
        for (size_t r = 0; r < k; r++) votes += raters[r][i] != 0;
        o->W[i] = (double)votes / (double)k;
        sum += o->W[i];
    }
    double gamma = sum / (double)o->region;
    o->prior = gamma;
    double lp[SA_MAX_RATERS] = {0}, lq[SA_MAX_RATERS] = {0};
    o->converged = 0;
    for (int it = 0; it < opt->max_iterations; it++) {
        for (size_t r = 0; r < k; r++) {
            double pn = 0, pd = 0, qn = 0, qd = 0;
            for (size_t i = 0; i < n; i++) {
                if (!region[i]) continue;
                if (raters[r][i])
                    pn += o->W[i];
                else
                    qn += 1.0 - o->W[i];
                pd += o->W[i];
                qd += 1.0 - o->W[i];
            }
            o->p[r] = pd > 0 ? pn / pd : 1.0;
            o->q[r] = qd > 0 ? qn / qd : 1.0;
        }
        for (size_t i = 0; i < n; i++) {
            if (!region[i]) continue;
            double a = 1, b = 1;
            for (size_t r = 0; r < k; r++) {
                if (raters[r][i])
                    a *= o->p[r], b *= 1.0 - o->q[r];
                else
                    a *= 1.0 - o->p[r], b *= o->q[r];
            }
            double den = gamma * a + (1.0 - gamma) * b;
            o->W[i] = den > 0 ? gamma * a / den : 0.0;
        }
        o->iterations = it + 1;
        int done = it > 0;
        for (size_t r = 0; r < k; r++)
            if (fabs(o->p[r] - lp[r]) > opt->tolerance || fabs(o->q[r] - lq[r]) > opt->tolerance)
                done = 0;
        memcpy(lp, o->p, sizeof lp);
        memcpy(lq, o->q, sizeof lq);
        if (done) {
            o->converged = 1;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) o->mask[i] = o->W[i] > opt->threshold;
    free(region);
    free(tmp);
}

static void ref_free(ref_result *o) {
    free(o->W);
    free(o->mask);
}

/* ---- random cases ------------------------------------------------------------------ */

/* Raters who see a common truth (balls, sparse; or a 40% random field, dense) with
 * their own sensitivity and false-positive rate, plus a few blobs of their own. */
static void make_case(uint8_t **raters, size_t k, const sa_grid *g, int dense) {
    size_t nx = g->nx, ny = g->ny, nz = g->nz, n = nx * ny * nz;
    uint8_t *truth = calloc(n, 1);
    if (dense) {
        for (size_t i = 0; i < n; i++) truth[i] = rng_unit() < 0.4;
    } else {
        size_t balls = 1 + rng_below(4);
        for (size_t b = 0; b < balls; b++) {
            double cx = rng_unit() * nx, cy = rng_unit() * ny, cz = rng_unit() * nz;
            double rad = 0.8 + rng_unit() * 2.5;
            for (size_t z = 0; z < nz; z++)
                for (size_t y = 0; y < ny; y++)
                    for (size_t x = 0; x < nx; x++) {
                        double dx = x - cx, dy = y - cy, dz = z - cz;
                        if (dx * dx + dy * dy + dz * dz <= rad * rad) truth[x + nx * (y + ny * z)] = 1;
                    }
        }
    }
    for (size_t r = 0; r < k; r++) {
        double sens = 0.6 + 0.4 * rng_unit(), fpr = (dense ? 0.2 : 0.01) * rng_unit();
        for (size_t i = 0; i < n; i++)
            raters[r][i] = truth[i] ? (uint8_t)(rng_unit() < sens) : (uint8_t)(rng_unit() < fpr);
        if (!dense && rng_unit() < 0.5) { /* a small blob of this rater's own */
            size_t x = rng_below(nx), y = rng_below(ny), z = rng_below(nz);
            for (size_t dz = 0; dz < 2 && z + dz < nz; dz++)
                for (size_t dy = 0; dy < 2 && y + dy < ny; dy++)
                    for (size_t dx = 0; dx < 2 && x + dx < nx; dx++)
                        raters[r][(x + dx) + nx * ((y + dy) + ny * (z + dz))] = (uint8_t)(1 + rng_below(3));
        }
    }
    free(truth);
}

/* Compares the library against the reference; returns the number of failures. */
static int compare_case(uint8_t **raters, size_t k, const sa_grid *g, const sa_consensus_options *opt,
                        const char *what) {
    int before = test_failed_count;
    sa_consensus_result res;
    sa_error err = {{0}};
    ref_result ref = {0};
    int rc = sa_consensus((const uint8_t *const *)raters, k, g, opt, &res, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "%s: %s\n", what, err.msg);
        return 1;
    }
    ref_staple((const uint8_t *const *)raters, k, g, opt, &ref);
    CHECK(res.raters == k);
    CHECK(res.iterations == ref.iterations);
    CHECK(res.converged == ref.converged);
    CHECK(res.region_voxels == ref.region);
    CHECK_NEAR(res.prior, ref.prior, 1e-12);
    for (size_t r = 0; r < k; r++) {
        CHECK_NEAR(res.sensitivity[r], ref.p[r], 1e-9);
        CHECK_NEAR(res.specificity[r], ref.q[r], 1e-9);
    }
    size_t n = sa_grid_voxels(g), bad_w = 0, bad_m = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        /* the map is stored as float: allow its rounding on top of 1e-9 */
        double d = fabs((double)res.probability[i] - ref.W[i]);
        if (d > 1e-9 + ref.W[i] * 0x1p-24) bad_w++;
        if (d > worst) worst = d;
        if (res.mask[i] != ref.mask[i] && fabs(ref.W[i] - opt->threshold) > 1e-9) bad_m++;
    }
    CHECK(bad_w == 0);
    CHECK(bad_m == 0);
    if (test_failed_count != before)
        fprintf(stderr, "%s: K=%zu %zux%zux%zu: %zu W and %zu mask differences (max |dW| %g), "
                        "iterations %d vs %d\n",
                what, k, g->nx, g->ny, g->nz, bad_w, bad_m, worst, res.iterations, ref.iterations);
    sa_consensus_free(&res);
    ref_free(&ref);
    return test_failed_count - before;
}

static uint8_t **alloc_raters(size_t k, size_t n) {
    uint8_t **r = malloc(k * sizeof *r);
    for (size_t i = 0; i < k; i++) r[i] = calloc(n, 1);
    return r;
}

static void free_raters(uint8_t **r, size_t k) {
    for (size_t i = 0; i < k; i++) free(r[i]);
    free(r);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_random_vs_reference(void) {
    const size_t ks[] = {2, 3, 4, 5, 7, 9, 12, 17, 20};
    for (int rep = 0; rep < 60; rep++) {
        size_t k = ks[rep % (sizeof ks / sizeof ks[0])];
        sa_grid g = {1 + rng_below(14), 1 + rng_below(13), 1 + rng_below(12), {1, 1, 1}};
        size_t n = sa_grid_voxels(&g);
        uint8_t **raters = alloc_raters(k, n);
        int dense = rep % 3 == 2;
        make_case(raters, k, &g, dense);
        sa_consensus_options opt;
        sa_consensus_options_default(&opt);
        compare_case(raters, k, &g, &opt, dense ? "dense, dilated union" : "sparse, dilated union");
        opt.region = SA_STAPLE_IMAGE;
        compare_case(raters, k, &g, &opt, dense ? "dense, image" : "sparse, image");
        opt.region = SA_STAPLE_DILATED_UNION;
        opt.dilation_voxels = (int)rng_below(5);
        compare_case(raters, k, &g, &opt, "other dilation");
        free_raters(raters, k);
    }
}

/* A grid above the one-thread limit: the same result on 1 and 2 threads, and the
 * same as the reference. */
static void test_threads(void) {
    sa_grid g = {61, 47, 39, {1, 1, 1}};
    size_t n = sa_grid_voxels(&g), k = 7;
    uint8_t **raters = alloc_raters(k, n);
    make_case(raters, k, &g, 0);
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    compare_case(raters, k, &g, &opt, "threads");
    sa_consensus_result a, b;
    opt.threads = 1;
    CHECK(sa_consensus((const uint8_t *const *)raters, k, &g, &opt, &a, NULL) == 0);
    opt.threads = 2;
    CHECK(sa_consensus((const uint8_t *const *)raters, k, &g, &opt, &b, NULL) == 0);
    CHECK(memcmp(a.mask, b.mask, n) == 0);
    CHECK(memcmp(a.probability, b.probability, n * sizeof(float)) == 0);
    CHECK(a.iterations == b.iterations && a.region_voxels == b.region_voxels);
    for (size_t r = 0; r < k; r++) CHECK(a.sensitivity[r] == b.sensitivity[r]);
    sa_consensus_free(&a);
    sa_consensus_free(&b);
    free_raters(raters, k);
}

static void test_identical_raters(void) {
    sa_grid g = {9, 8, 7, {1, 1, 1}};
    size_t n = sa_grid_voxels(&g), k = 4;
    uint8_t **raters = alloc_raters(k, n);
    make_case(raters, 1, &g, 0);
    raters[0][3] = 1;
    for (size_t r = 1; r < k; r++) memcpy(raters[r], raters[0], n);
    for (int mode = 0; mode < 2; mode++) {
        sa_consensus_options opt;
        sa_consensus_options_default(&opt);
        opt.region = mode ? SA_STAPLE_IMAGE : SA_STAPLE_DILATED_UNION;
        sa_consensus_result res;
        CHECK(sa_consensus((const uint8_t *const *)raters, k, &g, &opt, &res, NULL) == 0);
        for (size_t r = 0; r < k; r++) {
            CHECK_NEAR(res.sensitivity[r], 1.0, 1e-9);
            CHECK_NEAR(res.specificity[r], 1.0, 1e-9);
        }
        size_t diff = 0;
        for (size_t i = 0; i < n; i++)
            diff += res.mask[i] != (raters[0][i] != 0) || res.probability[i] != (float)(raters[0][i] != 0);
        CHECK(diff == 0);
        CHECK(res.converged == 1);
        sa_consensus_free(&res);
    }
    free_raters(raters, k);
}

static void test_empty_rater(void) {
    sa_grid g = {12, 11, 10, {1, 1, 1}};
    size_t n = sa_grid_voxels(&g), k = 4;
    uint8_t **raters = alloc_raters(k, n);
    make_case(raters, k - 1, &g, 0);
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    sa_consensus_result res;
    CHECK(sa_consensus((const uint8_t *const *)raters, k, &g, &opt, &res, NULL) == 0);
    CHECK(res.sensitivity[k - 1] < 1e-3);
    CHECK(res.specificity[k - 1] > 0.9);
    sa_consensus_free(&res);
    compare_case(raters, k, &g, &opt, "empty rater");

    /* nobody marks anything: empty consensus, p = q = 1, empty region */
    for (size_t r = 0; r < k; r++) memset(raters[r], 0, n);
    CHECK(sa_consensus((const uint8_t *const *)raters, k, &g, &opt, &res, NULL) == 0);
    size_t set = 0;
    for (size_t i = 0; i < n; i++) set += res.mask[i] != 0 || res.probability[i] != 0;
    CHECK(set == 0);
    CHECK(res.region_voxels == 0 && res.converged == 1 && res.iterations == 0);
    CHECK(res.sensitivity[0] == 1 && res.specificity[0] == 1 && res.prior == 0);
    sa_consensus_free(&res);
    compare_case(raters, k, &g, &opt, "all empty");
    opt.region = SA_STAPLE_IMAGE;
    compare_case(raters, k, &g, &opt, "all empty, image");

    /* everybody marks everything */
    for (size_t r = 0; r < k; r++) memset(raters[r], 1, n);
    opt.region = SA_STAPLE_DILATED_UNION;
    CHECK(sa_consensus((const uint8_t *const *)raters, k, &g, &opt, &res, NULL) == 0);
    set = 0;
    for (size_t i = 0; i < n; i++) set += res.mask[i] == 1 && res.probability[i] == 1.0f;
    CHECK(set == n);
    CHECK(res.region_voxels == n && res.prior == 1);
    sa_consensus_free(&res);
    compare_case(raters, k, &g, &opt, "all full");
    free_raters(raters, k);
}

/* Every vote pattern of K raters once, one voxel each: the majority by hand is
 * 2 * votes > K. */
static void test_majority(void) {
    const size_t ks[] = {2, 3, 4, 7};
    for (size_t t = 0; t < 4; t++) {
        size_t k = ks[t], n = (size_t)1 << k;
        sa_grid g = {n, 1, 1, {1, 1, 1}};
        uint8_t **raters = alloc_raters(k, n);
        for (size_t i = 0; i < n; i++)
            for (size_t r = 0; r < k; r++) raters[r][i] = (i >> r) & 1 ? (uint8_t)(1 + r) : 0;
        sa_consensus_options opt;
        sa_consensus_options_default(&opt);
        opt.method = SA_CONSENSUS_MAJORITY;
        sa_consensus_result res;
        CHECK(sa_consensus((const uint8_t *const *)raters, k, &g, &opt, &res, NULL) == 0);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            int votes = __builtin_popcount((unsigned)i);
            bad += res.mask[i] != (2 * votes > (int)k);
            bad += res.probability[i] != (float)((double)votes / (double)k);
        }
        CHECK(bad == 0);
        CHECK(res.sensitivity[0] == 0 && res.iterations == 0 && res.region_voxels == 0);
        sa_consensus_free(&res);
        free_raters(raters, k);
    }
    /* by hand: K = 4, 2 votes is not a majority, 3 is; K = 3, 2 is; K = 2, 1 is not */
    uint8_t a[4] = {1, 1, 1, 0}, b[4] = {1, 1, 0, 0}, c[4] = {1, 0, 1, 0}, d[4] = {0, 0, 0, 1};
    const uint8_t *four[4] = {a, b, c, d}, *three[3] = {a, b, c}, *two[2] = {b, c};
    sa_grid g = {4, 1, 1, {1, 1, 1}};
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    opt.method = SA_CONSENSUS_MAJORITY;
    sa_consensus_result res;
    CHECK(sa_consensus(four, 4, &g, &opt, &res, NULL) == 0); /* votes 3, 2, 2, 1 */
    CHECK(res.mask[0] == 1 && res.mask[1] == 0 && res.mask[2] == 0 && res.mask[3] == 0);
    CHECK(res.probability[0] == 0.75f && res.probability[1] == 0.5f && res.probability[3] == 0.25f);
    sa_consensus_free(&res);
    CHECK(sa_consensus(three, 3, &g, &opt, &res, NULL) == 0); /* votes 3, 2, 2, 0 */
    CHECK(res.mask[0] == 1 && res.mask[1] == 1 && res.mask[2] == 1 && res.mask[3] == 0);
    sa_consensus_free(&res);
    CHECK(sa_consensus(two, 2, &g, &opt, &res, NULL) == 0); /* votes 2, 1, 1, 0 */
    CHECK(res.mask[0] == 1 && res.mask[1] == 0 && res.mask[2] == 0 && res.mask[3] == 0);
    CHECK(res.probability[1] == 0.5f);
    sa_consensus_free(&res);
}

static void test_one_rater(void) {
    uint8_t m[6] = {0, 3, 1, 0, 255, 0};
    const uint8_t *one[1] = {m};
    sa_grid g = {3, 2, 1, {1, 1, 1}};
    for (int method = 0; method < 2; method++) {
        sa_consensus_options opt;
        sa_consensus_options_default(&opt);
        opt.method = method ? SA_CONSENSUS_STAPLE : SA_CONSENSUS_MAJORITY;
        sa_consensus_result res;
        CHECK(sa_consensus(one, 1, &g, &opt, &res, NULL) == 0);
        size_t bad = 0;
        for (size_t i = 0; i < 6; i++)
            bad += res.mask[i] != (m[i] != 0) || res.probability[i] != (m[i] ? 1.0f : 0.0f);
        CHECK(bad == 0);
        CHECK(res.raters == 1 && res.sensitivity[0] == 0 && res.iterations == 0);
        sa_consensus_free(&res);
    }
}

/* The region is the set of voxels within city-block distance d of the union. */
static void test_region_size(void) {
    sa_grid g = {7, 7, 7, {1, 1, 1}};
    uint8_t m[343] = {0}, e[343] = {0};
    const uint8_t *two[2] = {m, e};
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    sa_consensus_result res;
    m[3 + 7 * (3 + 7 * 3)] = 1; /* centre: 1 + 6 + 18 voxels within distance 2 */
    CHECK(sa_consensus(two, 2, &g, &opt, &res, NULL) == 0);
    CHECK(res.region_voxels == 25);
    size_t nonzero = 0;
    for (size_t i = 0; i < 343; i++) nonzero += res.probability[i] != 0;
    CHECK(nonzero <= 25);
    sa_consensus_free(&res);
    m[3 + 7 * (3 + 7 * 3)] = 0;
    m[0] = 1; /* corner, clipped: points with x, y, z >= 0 and x + y + z <= 2 */
    CHECK(sa_consensus(two, 2, &g, &opt, &res, NULL) == 0);
    CHECK(res.region_voxels == 10);
    sa_consensus_free(&res);
    opt.dilation_voxels = 0;
    CHECK(sa_consensus(two, 2, &g, &opt, &res, NULL) == 0);
    CHECK(res.region_voxels == 1);
    sa_consensus_free(&res);
    opt.dilation_voxels = 1000; /* beyond the image: the whole image */
    CHECK(sa_consensus(two, 2, &g, &opt, &res, NULL) == 0);
    CHECK(res.region_voxels == 343);
    sa_consensus_free(&res);
    opt.region = SA_STAPLE_IMAGE;
    CHECK(sa_consensus(two, 2, &g, &opt, &res, NULL) == 0);
    CHECK(res.region_voxels == 343);
    sa_consensus_free(&res);
}

static void test_errors(void) {
    uint8_t m[8] = {1};
    const uint8_t *rs[2] = {m, NULL};
    sa_grid g = {2, 2, 2, {1, 1, 1}};
    sa_consensus_result res;
    sa_error err = {{0}};
    CHECK(sa_consensus(rs, 0, &g, NULL, &res, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "k = 0");
    CHECK(res.mask == NULL && res.probability == NULL);
    sa_consensus_free(&res); /* harmless after a failure */
    CHECK(sa_consensus(rs, SA_MAX_RATERS + 1, &g, NULL, &res, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "at most 32");
    CHECK(sa_consensus(rs, 2, &g, NULL, &res, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "rater 2");
    rs[1] = m;
    sa_grid bad = {0, 2, 2, {1, 1, 1}};
    CHECK(sa_consensus(rs, 2, &bad, NULL, &res, &err) == -1);
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    opt.max_iterations = 0;
    CHECK(sa_consensus(rs, 2, &g, &opt, &res, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "max_iterations");
    sa_consensus_options_default(&opt);
    opt.dilation_voxels = -1;
    CHECK(sa_consensus(rs, 2, &g, &opt, &res, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "dilation_voxels");
    sa_consensus_options_default(&opt);
    opt.tolerance = NAN;
    CHECK(sa_consensus(rs, 2, &g, &opt, &res, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "tolerance");
    /* defaults when opt is NULL */
    CHECK(sa_consensus(rs, 2, &g, NULL, &res, &err) == 0);
    CHECK(res.mask[0] == 1 && res.region_voxels == 7); /* (1,1,1) is at distance 3 */
    sa_consensus_free(&res);
    sa_consensus_free(NULL);
}

static void test_defaults(void) {
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    CHECK(opt.method == SA_CONSENSUS_STAPLE && opt.region == SA_STAPLE_DILATED_UNION);
    CHECK(opt.dilation_voxels == 2 && opt.tolerance == 1e-7 && opt.max_iterations == 100);
    CHECK(opt.threshold == 0.5 && opt.threads == 0);
}

/* K > 16 counts patterns through a hash; with region = image, pattern 0 may occur
 * only outside the union's box. */
static void test_many_raters(void) {
    sa_grid g = {5, 6, 7, {1, 1, 1}};
    size_t n = sa_grid_voxels(&g);
    for (size_t k = 17; k <= SA_MAX_RATERS; k += 15) {
        uint8_t **raters = alloc_raters(k, n);
        for (size_t r = 0; r < k; r++) {
            raters[r][2 + 5 * (3 + 6 * 4)] = 1;
            raters[r][3 + 5 * (3 + 6 * 4)] = r % 3 != 0;
        }
        sa_consensus_options opt;
        sa_consensus_options_default(&opt);
        compare_case(raters, k, &g, &opt, "many raters, dilated union");
        opt.region = SA_STAPLE_IMAGE;
        compare_case(raters, k, &g, &opt, "many raters, image");
        opt.method = SA_CONSENSUS_MAJORITY;
        sa_consensus_result res;
        CHECK(sa_consensus((const uint8_t *const *)raters, k, &g, &opt, &res, NULL) == 0);
        CHECK(res.mask[2 + 5 * (3 + 6 * 4)] == 1 && res.mask[3 + 5 * (3 + 6 * 4)] == 1);
        sa_consensus_free(&res);
        free_raters(raters, k);
    }
}

int main(void) {
    test_defaults();
    test_majority();
    test_one_rater();
    test_identical_raters();
    test_empty_rater();
    test_region_size();
    test_errors();
    test_many_raters();
    test_random_vs_reference();
    test_threads();
    return test_report("test_consensus");
}
