/*
 * test_metrics_hand.c: tiny volumes whose every metric was worked out by hand
 * (the working is in the comments): single voxels, anisotropic spacing, objects
 * on the image border, thin plates, percentile interpolation and each empty-mask
 * rule of ../shared/spec/metrics.md.
 */
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "metrics.h"

#define EPS 1e-12

typedef struct {
    sa_grid g;
    uint8_t *r, *t;
} pair;

static pair make(size_t nx, size_t ny, size_t nz, double sx, double sy, double sz) {
    pair p = {{nx, ny, nz, {sx, sy, sz}}, calloc(nx * ny * nz, 1), calloc(nx * ny * nz, 1)};
    return p;
}
static void set(pair *p, uint8_t *m, size_t x, size_t y, size_t z) { m[x + p->g.nx * (y + p->g.ny * z)] = 1; }
static void release(pair *p) { free(p->r), free(p->t); }

static sa_pair_metrics score(pair *p, double tau) {
    sa_score_options opt = {tau, 2, SA_DEVICE_CPU};
    sa_pair_metrics m;
    sa_error err;
    memset(&m, 0xff, sizeof m);
    if (sa_score_pair(p->r, p->t, &p->g, &opt, &m, &err)) fprintf(stderr, "score failed: %s\n", err.msg);
    return m;
}

static int undefined_because(sa_value v, const char *reason) { return v.reason && strcmp(v.reason, reason) == 0; }

/* R = voxel (1,1,1), T = voxel (3,1,1), 1 mm: every distance is 2 mm. */
static void single_voxels(void) {
    pair p = make(5, 5, 5, 1, 1, 1);
    set(&p, p.r, 1, 1, 1);
    set(&p, p.t, 3, 1, 1);
    sa_pair_metrics m = score(&p, 1.0);
    CHECK(m.tp == 0 && m.fp == 1 && m.fn == 1 && m.tn == 123);
    CHECK_NEAR(m.dice.value, 0.0, EPS);
    CHECK_NEAR(m.hd.value, 2.0, EPS);
    CHECK_NEAR(m.hd95.value, 2.0, EPS);
    CHECK_NEAR(m.assd.value, 2.0, EPS);
    CHECK_NEAR(m.masd.value, 2.0, EPS);
    CHECK_NEAR(m.nsd.value, 0.0, EPS);
    CHECK(m.ref_surface_voxels == 1 && m.pred_surface_voxels == 1);
    m = score(&p, 2.0); /* d <= tau counts */
    CHECK_NEAR(m.nsd.value, 1.0, EPS);
    CHECK_NEAR(m.volume_ref_ml.value, 0.001, EPS);
    release(&p);
}

/* Spacing 0.5 x 2 x 3 mm: (0,0,0) to (1,1,1) is sqrt(0.25 + 4 + 9) mm. */
static void anisotropic_voxels(void) {
    pair p = make(3, 3, 3, 0.5, 2, 3);
    set(&p, p.r, 0, 0, 0);
    set(&p, p.t, 1, 1, 1);
    sa_pair_metrics m = score(&p, 1.0);
    CHECK_NEAR(m.hd.value, sqrt(13.25), EPS);
    CHECK_NEAR(m.hd95.value, sqrt(13.25), EPS);
    CHECK_NEAR(m.assd.value, sqrt(13.25), EPS);
    CHECK_NEAR(m.volume_ref_ml.value, 0.003, EPS); /* 0.5*2*3 mm^3 */
    /* along z alone the step is 3 mm, along x 0.5 mm */
    memset(p.t, 0, 27);
    set(&p, p.t, 0, 0, 2);
    m = score(&p, 1.0);
    CHECK_NEAR(m.hd.value, 6.0, EPS);
    memset(p.t, 0, 27);
    set(&p, p.t, 2, 0, 0);
    m = score(&p, 1.0);
    CHECK_NEAR(m.hd.value, 1.0, EPS);
    CHECK_NEAR(m.nsd.value, 1.0, EPS);
    release(&p);
}

/* R = cube x,y,z in [1,3]; T = the same cube moved to x in [2,4]; 5^3 grid.
 * Each cube has 26 surface voxels (all but its centre). D_TR: the 9 voxels of
 * T's face x=4 are 1 mm from R's face x=3; T's surface voxel (2,2,2) is R's
 * centre, 1 mm from R's surface; the other 16 lie on R's surface: 10 ones and 16
 * zeros, and D_RT mirrors it. HD = 1; P95 of 26 sorted values takes positions
 * 23.75 -> 23 and 24, both 1; ASSD = 20/52; NSD(1) = 1, NSD(0.5) = 32/52.
 * Overlap: TP = 18, FP = FN = 9, TN = 125 - 36 = 89. */
static void shifted_cubes(void) {
    pair p = make(5, 5, 5, 1, 1, 1);
    for (size_t z = 1; z <= 3; z++)
        for (size_t y = 1; y <= 3; y++)
            for (size_t x = 1; x <= 3; x++) set(&p, p.r, x, y, z), set(&p, p.t, x + 1, y, z);
    sa_pair_metrics m = score(&p, 1.0);
    CHECK(m.tp == 18 && m.fp == 9 && m.fn == 9 && m.tn == 89);
    CHECK(m.ref_surface_voxels == 26 && m.pred_surface_voxels == 26);
    CHECK_NEAR(m.dice.value, 2.0 / 3.0, EPS);
    CHECK_NEAR(m.jaccard.value, 0.5, EPS);
    CHECK_NEAR(m.sensitivity.value, 18.0 / 27.0, EPS);
    CHECK_NEAR(m.ppv.value, 18.0 / 27.0, EPS);
    CHECK_NEAR(m.specificity.value, 89.0 / 98.0, EPS);
    CHECK_NEAR(m.pet_accuracy.value, 18.0 / 27.0, EPS);
    CHECK_NEAR(m.rve_percent.value, 0.0, EPS);
    CHECK_NEAR(m.abs_volume_diff_ml.value, 0.0, EPS);
    CHECK_NEAR(m.hd.value, 1.0, EPS);
    CHECK_NEAR(m.hd95.value, 1.0, EPS);
    CHECK_NEAR(m.hd95_pooled.value, 1.0, EPS);
    CHECK_NEAR(m.assd.value, 20.0 / 52.0, EPS);
    CHECK_NEAR(m.masd.value, 10.0 / 26.0, EPS);
    CHECK_NEAR(m.nsd.value, 1.0, EPS);
    m = score(&p, 0.5);
    CHECK_NEAR(m.nsd.value, 32.0 / 52.0, EPS);
    release(&p);
}

/* R = the whole 2x2x2 image (every voxel touches the border, so all 8 are
 * surface); T empty. No background: specificity undefined. */
static void border_object_and_empty_prediction(void) {
    pair p = make(2, 2, 2, 1, 1, 1);
    memset(p.r, 1, 8);
    sa_pair_metrics m = score(&p, 1.0);
    CHECK(m.ref_surface_voxels == 8);
    CHECK(!m.both_empty);
    CHECK(m.dice.value == 0.0 && !m.dice.reason);
    CHECK(m.jaccard.value == 0.0 && m.nsd.value == 0.0 && !m.nsd.reason);
    CHECK(m.sensitivity.value == 0.0 && !m.sensitivity.reason);
    CHECK(undefined_because(m.ppv, SA_REASON_EMPTY_PREDICTION));
    CHECK(undefined_because(m.specificity, SA_REASON_NO_BACKGROUND));
    CHECK(undefined_because(m.pet_accuracy, SA_REASON_EMPTY_PREDICTION));
    CHECK(undefined_because(m.hd, SA_REASON_EMPTY_PREDICTION));
    CHECK(undefined_because(m.hd95, SA_REASON_EMPTY_PREDICTION));
    CHECK(undefined_because(m.hd95_pooled, SA_REASON_EMPTY_PREDICTION));
    CHECK(undefined_because(m.hd95_mean, SA_REASON_EMPTY_PREDICTION));
    CHECK(undefined_because(m.assd, SA_REASON_EMPTY_PREDICTION));
    CHECK(undefined_because(m.masd, SA_REASON_EMPTY_PREDICTION));
    CHECK_NEAR(m.rve_percent.value, -100.0, EPS);
    release(&p);
}

static void empty_reference(void) {
    pair p = make(4, 4, 4, 1, 1, 1);
    set(&p, p.t, 1, 2, 3);
    sa_pair_metrics m = score(&p, 1.0);
    CHECK(m.dice.value == 0.0 && m.nsd.value == 0.0);
    CHECK(undefined_because(m.sensitivity, SA_REASON_EMPTY_REFERENCE));
    CHECK(m.ppv.value == 0.0 && !m.ppv.reason);
    CHECK(undefined_because(m.rve_percent, SA_REASON_EMPTY_REFERENCE));
    CHECK(undefined_because(m.hd, SA_REASON_EMPTY_REFERENCE));
    CHECK(undefined_because(m.assd, SA_REASON_EMPTY_REFERENCE));
    CHECK(m.pred_surface_voxels == 1 && m.ref_surface_voxels == 0);
    release(&p);
}

static void both_empty(void) {
    pair p = make(3, 4, 5, 1, 1, 1);
    sa_pair_metrics m = score(&p, 1.0);
    /* the shortcut without masks gives the very same result */
    sa_pair_metrics shortcut;
    sa_score_options opt = {1.0, 2, SA_DEVICE_CPU};
    CHECK(sa_score_both_empty(&p.g, &opt, &shortcut, NULL) == 0);
    CHECK(memcmp(&shortcut, &m, sizeof m) == 0);
    CHECK(m.both_empty);
    CHECK(m.dice.value == 1.0 && m.jaccard.value == 1.0 && m.nsd.value == 1.0);
    CHECK(m.hd.value == 0.0 && !m.hd.reason && m.hd95.value == 0.0 && m.assd.value == 0.0 && m.masd.value == 0.0);
    CHECK(m.hd95_pooled.value == 0.0 && m.hd95_mean.value == 0.0);
    CHECK(undefined_because(m.sensitivity, SA_REASON_EMPTY_REFERENCE));
    CHECK(undefined_because(m.ppv, SA_REASON_EMPTY_PREDICTION));
    CHECK(m.specificity.value == 1.0);
    CHECK(undefined_because(m.rve_percent, SA_REASON_EMPTY_REFERENCE));
    CHECK(m.volume_ref_ml.value == 0.0 && m.abs_volume_diff_ml.value == 0.0);
    release(&p);
}

/* Thin plates: R = plane z=1, T = plane z=3 (on the border), z spacing 2.5 mm:
 * every voxel of either is surface and 5 mm from the other plate. */
static void thin_plates(void) {
    pair p = make(4, 3, 4, 0.8, 1.1, 2.5);
    for (size_t y = 0; y < 3; y++)
        for (size_t x = 0; x < 4; x++) set(&p, p.r, x, y, 1), set(&p, p.t, x, y, 3);
    sa_pair_metrics m = score(&p, 5.0);
    CHECK(m.ref_surface_voxels == 12 && m.pred_surface_voxels == 12);
    CHECK_NEAR(m.hd.value, 5.0, EPS);
    CHECK_NEAR(m.hd95.value, 5.0, EPS);
    CHECK_NEAR(m.assd.value, 5.0, EPS);
    CHECK_NEAR(m.nsd.value, 1.0, EPS);
    m = score(&p, 4.99);
    CHECK_NEAR(m.nsd.value, 0.0, EPS);
    release(&p);
}

/* R = voxel (0,0,0); T = the 10-voxel line x = 0..9 (all surface), 1 mm.
 * D_TR = {0..9}: P95 at position 9*0.95 = 8.55 between 8 and 9: t = 0.55 >= 0.5,
 * so 9 - (9-8)*0.45 = 8.55. D_RT = {0}. Pooled {0,0,1..9}: position 10*0.95 = 9.5
 * between 8 and 9 -> 8.5. ASSD = 45/11, MASD = (4.5 + 0)/2. RVE = +900 %,
 * PET accuracy = (1 + 0.1)/2. */
static void percentile_line(void) {
    pair p = make(10, 1, 1, 1, 1, 1);
    set(&p, p.r, 0, 0, 0);
    for (size_t x = 0; x < 10; x++) set(&p, p.t, x, 0, 0);
    sa_pair_metrics m = score(&p, 1.0);
    CHECK_NEAR(m.hd.value, 9.0, EPS);
    CHECK_NEAR(m.p95_pred_to_ref.value, 8.55, EPS);
    CHECK_NEAR(m.p95_ref_to_pred.value, 0.0, EPS);
    CHECK_NEAR(m.hd95.value, 8.55, EPS);
    CHECK_NEAR(m.hd95_mean.value, 4.275, EPS);
    CHECK_NEAR(m.hd95_pooled.value, 8.5, EPS);
    CHECK_NEAR(m.assd.value, 45.0 / 11.0, EPS);
    CHECK_NEAR(m.masd.value, 2.25, EPS);
    CHECK_NEAR(m.nsd.value, 3.0 / 11.0, EPS); /* 0, 1 of D_TR and the 0 of D_RT */
    CHECK_NEAR(m.rve_percent.value, 900.0, EPS);
    CHECK_NEAR(m.pet_accuracy.value, 0.55, EPS);
    release(&p);
}

/* NSD counts d <= tau on the computed distance, literally: 3 voxels of 0.1 mm
 * are sqrt((0.1*3)^2) = 0.30000000000000004 mm, above tau = 0.3, so they do not
 * count; tau between the distance steps (0.35) is safe. docs/metrics.md and
 * `segarena score --help` say so. */
static void nsd_at_tau(void) {
    pair p = make(8, 1, 1, 0.1, 1, 1);
    set(&p, p.r, 0, 0, 0);
    set(&p, p.t, 3, 0, 0);
    sa_pair_metrics m = score(&p, 0.3);
    CHECK(m.hd.value == 0.30000000000000004 && m.hd.value > 0.3);
    CHECK(m.nsd.value == 0.0);
    m = score(&p, 0.35);
    CHECK(m.nsd.value == 1.0);
    release(&p);
}

/* Bad arguments come back as errors, not crashes or numbers. */
static void bad_arguments(void) {
    uint8_t a[8] = {0}, b[8] = {0};
    sa_pair_metrics m;
    sa_error err;
    sa_grid g = {2, 2, 2, {1, NAN, 1}};
    CHECK(sa_score_pair(a, b, &g, NULL, &m, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "spacing");
    g.spacing[1] = 0;
    CHECK(sa_score_pair(a, b, &g, NULL, &m, &err) == -1);
    g.spacing[1] = 1;
    g.nz = 0;
    CHECK(sa_score_pair(a, b, &g, NULL, &m, &err) == -1);
    g.nz = 2;
    sa_score_options opt = {-1, 1, SA_DEVICE_CPU};
    CHECK(sa_score_pair(a, b, &g, &opt, &m, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "tau");
    CHECK(sa_score_pair(a, b, &g, NULL, &m, &err) == 0);
}

/* sa_score_options_default sets every field, whatever the struct held before
 * (a stack struct's garbage once decided the device: GPU, or an invalid one). */
static void options_default(void) {
    for (int garbage = 0; garbage < 256; garbage += 0x55) {
        sa_score_options opt;
        memset(&opt, garbage, sizeof opt);
        opt.device = SA_DEVICE_GPU;
        sa_score_options_default(&opt);
        CHECK(opt.device == SA_DEVICE_AUTO && opt.tau_mm == 1.0 && opt.threads == 0);
        sa_score_options zero;
        memset(&zero, 0, sizeof zero);
        zero.tau_mm = 1.0;
        CHECK(memcmp(&opt, &zero, sizeof opt) == 0); /* padding included */
    }
}

int main(void) {
    single_voxels();
    anisotropic_voxels();
    shifted_cubes();
    border_object_and_empty_prediction();
    empty_reference();
    both_empty();
    thin_plates();
    percentile_line();
    nsd_at_tau();
    bad_arguments();
    options_default();
    return test_report("test_metrics_hand");
}
