/*
 * phantom_ms.c: the MS brain phantom. A head of nested smooth surfaces (scalp,
 * skull, subarachnoid CSF, cortex with a folded grey/white boundary, white
 * matter, ventricles, deep grey nuclei), 5-60 white-matter lesions (blobs of
 * ellipsoids, mostly periventricular and juxtacortical), FLAIR-bright mimics
 * (periventricular caps, CSF flow artefacts), five MR contrasts with a smooth
 * multiplicative bias field and Rician noise, stored as int16. The true lesion
 * mask comes from a signed-distance field (voxels) that the raters reuse.
 * docs/phantoms.md describes the model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"

enum { C_FLAIR, C_T1, C_T2, C_DP, C_T1GD, N_CONTRAST };
enum { T_BG, T_SCALP, T_SKULL, T_CSF, T_GM, T_WM, T_LESION, T_CAP, N_TISSUE };

/* Relative intensities (int16 units) of each tissue in each contrast. */
static const double intensity[N_CONTRAST][N_TISSUE] = {
    /*          bg  scalp skull  csf   gm   wm  lesion cap */
    [C_FLAIR] = {0, 380, 40, 70, 440, 330, 680, 620},
    [C_T1] = {0, 750, 60, 180, 430, 620, 380, 560},
    [C_T2] = {0, 420, 40, 950, 520, 380, 720, 620},
    [C_DP] = {0, 650, 80, 780, 720, 620, 760, 720},
    [C_T1GD] = {0, 760, 60, 185, 440, 620, 390, 560},
};
static const double noise_sigma = 20.0;
static const double flair_artefact = 620.0; /* CSF not nulled on FLAIR */
static const double t1gd_enhancing = 880.0;

typedef ph_ellipsoid ellipsoid;

#define MAX_VENT 8
#define MAX_DEEP 4
#define MAX_HORN 4
#define MAX_ART 4
#define MAX_BLOBS 5
#define MAX_LESIONS 60

typedef struct lesion {
    ellipsoid blob[MAX_BLOBS];
    int n_blobs;
    double contrast;  /* 0.45..1.2 of the nominal lesion/WM difference */
    int enhancing;
} lesion;

typedef struct ms_ctx {
    size_t n[3];
    double ctr[3], half[3];   /* grid centre and half-size, voxels */
    double ax[3];             /* head semi-axes, normalised */
    double reff;              /* voxels per normalised unit (mean) */
    double scale;             /* anatomy scale vs the 181x217x181 grid */
    double les_scale;         /* lesion-size scale: max(scale, 0.6) */
    ph_noise shape, gyri1, gyri2, vent, bias1, bias2, lesion_edge;
    ellipsoid vent_e[MAX_VENT];
    int n_vent;
    ellipsoid deep[MAX_DEEP];
    ellipsoid horn[MAX_HORN];
    ellipsoid art[MAX_ART];
    int n_art;
    double art_level[MAX_ART];
    double bias_mix[N_CONTRAST][2];
    lesion les[MAX_LESIONS];
    int n_les;
} ms_ctx;

static double ellipsoid_d(const ellipsoid *e, double x, double y, double z) {
    return ph_ellipsoid_distance(e, x, y, z);
}

static double ellipsoid_reach(const ellipsoid *e) {
    double m = e->a[0];
    if (e->a[1] > m) m = e->a[1];
    if (e->a[2] > m) m = e->a[2];
    return m;
}

static void axis_aligned(ellipsoid *e) {
    memset(e->axis, 0, sizeof e->axis);
    for (int i = 0; i < 3; i++) e->axis[i][i] = 1.0;
}

/* Random rotation (uniform quaternion). */
static void random_axes(ph_rng *r, double ax[3][3]) {
    double u1 = ph_uniform(r), u2 = ph_uniform(r) * 6.283185307179586, u3 = ph_uniform(r) * 6.283185307179586;
    double a = sqrt(1 - u1), b = sqrt(u1);
    double qw = a * sin(u2), qx = a * cos(u2), qy = b * sin(u3), qz = b * cos(u3);
    ax[0][0] = 1 - 2 * (qy * qy + qz * qz);
    ax[0][1] = 2 * (qx * qy - qz * qw);
    ax[0][2] = 2 * (qx * qz + qy * qw);
    ax[1][0] = 2 * (qx * qy + qz * qw);
    ax[1][1] = 1 - 2 * (qx * qx + qz * qz);
    ax[1][2] = 2 * (qy * qz - qx * qw);
    ax[2][0] = 2 * (qx * qz - qy * qw);
    ax[2][1] = 2 * (qy * qz + qx * qw);
    ax[2][2] = 1 - 2 * (qx * qx + qy * qy);
}

/* Axes whose first row is the unit vector n (the others random around it). */
static void axes_along(ph_rng *r, const double n[3], double ax[3][3]) {
    double t[3];
    random_axes(r, ax);
    memcpy(t, ax[1], sizeof t);
    for (int i = 0; i < 3; i++) ax[0][i] = n[i];
    double d = t[0] * n[0] + t[1] * n[1] + t[2] * n[2];
    for (int i = 0; i < 3; i++) t[i] -= d * n[i];
    double len = sqrt(t[0] * t[0] + t[1] * t[1] + t[2] * t[2]);
    if (len < 1e-6) {
        t[0] = n[1], t[1] = -n[0], t[2] = 0;
        len = sqrt(t[0] * t[0] + t[1] * t[1]);
        if (len < 1e-6) t[0] = 1, t[1] = 0, len = 1;
    }
    for (int i = 0; i < 3; i++) ax[1][i] = t[i] / len;
    ax[2][0] = n[1] * ax[1][2] - n[2] * ax[1][1];
    ax[2][1] = n[2] * ax[1][0] - n[0] * ax[1][2];
    ax[2][2] = n[0] * ax[1][1] - n[1] * ax[1][0];
}

static void random_dir(ph_rng *r, double d[3]) {
    for (;;) {
        for (int i = 0; i < 3; i++) d[i] = 2 * ph_uniform(r) - 1;
        double s = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if (s > 1e-4 && s <= 1) {
            s = sqrt(s);
            for (int i = 0; i < 3; i++) d[i] /= s;
            return;
        }
    }
}

/* ---- the head's surfaces ---- */

static double head_level(const ms_ctx *m, double x, double y, double z) {
    double u = (x - m->ctr[0]) / m->half[0] / m->ax[0];
    double v = (y - m->ctr[1]) / m->half[1] / m->ax[1];
    double w = (z - m->ctr[2]) / m->half[2] / m->ax[2];
    return sqrt(u * u + v * v + w * w) * (1.0 + 0.035 * ph_noise_at(&m->shape, x, y, z));
}

static double gw_level(const ms_ctx *m, double x, double y, double z) {
    return 0.745 + 0.055 * ph_noise_at(&m->gyri1, x, y, z) + 0.025 * ph_noise_at(&m->gyri2, x, y, z);
}

static double vent_d(const ms_ctx *m, double x, double y, double z, int with_noise) {
    double best = -1e9;
    for (int i = 0; i < m->n_vent; i++) {
        const ellipsoid *e = &m->vent_e[i];
        double reach = ellipsoid_reach(e) + 6;
        if (fabs(x - e->c[0]) > reach || fabs(y - e->c[1]) > reach || fabs(z - e->c[2]) > reach) continue;
        double d = ellipsoid_d(e, x, y, z);
        if (d > best) best = d;
    }
    if (best < -1e8) return -20;
    if (with_noise && best > -8) best += 0.9 * m->scale * ph_noise_at(&m->vent, x, y, z);
    return best;
}

static void norm_point(const ms_ctx *m, const double u[3], double p[3]) {
    for (int i = 0; i < 3; i++) p[i] = m->ctr[i] + u[i] * m->half[i];
}

static void norm_ellipsoid(const ms_ctx *m, ellipsoid *e, double cu, double cv, double cw, double au,
                           double av, double aw) {
    double u[3] = {cu, cv, cw};
    norm_point(m, u, e->c);
    e->a[0] = au * m->half[0];
    e->a[1] = av * m->half[1];
    e->a[2] = aw * m->half[2];
    axis_aligned(e);
}

/* ---- lesions ---- */

static void make_lesion(ms_ctx *m, ph_rng *r, lesion *l, const double c[3], const double *normal) {
    /* radius: log-uniform 1.3..7.5 mm on the full-size grid, with a few large */
    double rad = exp(ph_range(r, log(1.3), log(ph_uniform(r) < 0.15 ? 9.0 : 5.5)));
    rad *= m->les_scale;
    if (rad < 1.1) rad = 1.1;
    l->n_blobs = 1 + (rad > 2.5 ? ph_int(r, 0, 3) : ph_int(r, 0, 1));
    l->contrast = ph_range(r, 0.3, 1.15);
    l->enhancing = ph_uniform(r) < 0.2;
    for (int b = 0; b < l->n_blobs; b++) {
        ellipsoid *e = &l->blob[b];
        double rb = b == 0 ? rad : rad * ph_range(r, 0.45, 0.8);
        if (rb < 1.0) rb = 1.0;
        if (b == 0 && normal) {
            axes_along(r, normal, e->axis);
            e->a[0] = rb * ph_range(r, 1.2, 1.8); /* Dawson's fingers: long along the normal */
            e->a[1] = rb * ph_range(r, 0.7, 1.0);
            e->a[2] = rb * ph_range(r, 0.6, 0.9);
        } else {
            random_axes(r, e->axis);
            e->a[0] = rb;
            e->a[1] = rb * ph_range(r, 0.55, 1.0);
            e->a[2] = rb * ph_range(r, 0.45, 0.9);
        }
        if (b == 0) {
            memcpy(e->c, c, sizeof e->c);
        } else {
            double d[3];
            random_dir(r, d);
            const ellipsoid *f = &l->blob[0];
            for (int i = 0; i < 3; i++) e->c[i] = f->c[i] + d[i] * f->a[0] * ph_range(r, 0.5, 0.9);
        }
    }
}

static int inside_grid(const ms_ctx *m, const double p[3], double margin) {
    for (int i = 0; i < 3; i++)
        if (p[i] < margin || p[i] > (double)m->n[i] - 1 - margin) return 0;
    return 1;
}

static int place_lesions(ms_ctx *m, ph_rng *r) {
    int want = ph_int(r, 8, 48);
    int tries = 0;
    m->n_les = 0;
    while (m->n_les < want && tries++ < 4000) {
        double u = ph_uniform(r), c[3], n[3];
        int have_normal = 0;
        if (u < 0.5) {
            /* periventricular: just outside a ventricle, along its outward normal */
            const ellipsoid *e = &m->vent_e[ph_int(r, 0, m->n_vent - 2)]; /* not the 3rd */
            double d[3];
            random_dir(r, d);
            if (fabs(d[2]) > 0.9) continue;
            double p[3];
            for (int i = 0; i < 3; i++) p[i] = e->c[i] + d[i] * e->a[i];
            double g[3], gl = 0;
            for (int i = 0; i < 3; i++) g[i] = d[i] / e->a[i], gl += g[i] * g[i];
            gl = sqrt(gl);
            for (int i = 0; i < 3; i++) n[i] = g[i] / gl;
            double off = ph_range(r, 1.0, 3.5) * m->scale + 1.0;
            for (int i = 0; i < 3; i++) c[i] = p[i] + n[i] * off;
            if (vent_d(m, c[0], c[1], c[2], 0) > -0.5) continue;
            have_normal = 1;
        } else if (u < 0.82) {
            /* juxtacortical: white matter just under the grey/white boundary */
            double d[3];
            random_dir(r, d);
            if (d[2] < -0.35) continue;
            double depth = ph_range(r, 0.01, 0.04), t;
            int found = 0;
            for (t = 0.3; t < 1.0; t += 0.004) {
                double q[3] = {d[0] * t * m->ax[0], d[1] * t * m->ax[1], d[2] * t * m->ax[2]};
                norm_point(m, q, c);
                if (head_level(m, c[0], c[1], c[2]) > gw_level(m, c[0], c[1], c[2]) - depth) {
                    found = 1;
                    break;
                }
            }
            if (!found) continue;
            if (vent_d(m, c[0], c[1], c[2], 0) > -3) continue;
        } else {
            /* deep white matter */
            double q[3];
            for (int i = 0; i < 3; i++) q[i] = ph_range(r, -0.6, 0.6) * m->ax[i];
            norm_point(m, q, c);
            if (head_level(m, c[0], c[1], c[2]) > gw_level(m, c[0], c[1], c[2]) - 0.08) continue;
            if (vent_d(m, c[0], c[1], c[2], 0) > -3) continue;
            int in_deep = 0;
            for (int i = 0; i < MAX_DEEP; i++)
                if (ellipsoid_d(&m->deep[i], c[0], c[1], c[2]) > -2) in_deep = 1;
            if (in_deep) continue;
        }
        if (!inside_grid(m, c, 4)) continue;
        make_lesion(m, r, &m->les[m->n_les], c, have_normal ? n : NULL);
        m->n_les++;
    }
    return m->n_les;
}

/* ---- anatomy set-up ---- */

static int setup(ms_ctx *m, const sa_phantom_options *opt, ph_rng *r) {
    for (int i = 0; i < 3; i++) {
        m->n[i] = opt->size[i];
        m->ctr[i] = ((double)opt->size[i] - 1) * 0.5;
        m->half[i] = (double)opt->size[i] * 0.5;
    }
    m->ctr[2] -= 0.03 * m->half[2];
    m->ax[0] = ph_range(r, 0.80, 0.86);
    m->ax[1] = ph_range(r, 0.83, 0.89);
    m->ax[2] = ph_range(r, 0.82, 0.88);
    m->reff = (m->ax[0] * m->half[0] + m->ax[1] * m->half[1] + m->ax[2] * m->half[2]) / 3.0;
    m->scale = cbrt((double)opt->size[0] * (double)opt->size[1] * (double)opt->size[2] / (181.0 * 217.0 * 181.0));
    m->les_scale = m->scale > 0.6 ? m->scale : 0.6;
    double s = m->scale;
    double c_shape[3] = {40 * s + 4, 40 * s + 4, 40 * s + 4};
    double c_g1[3] = {11 * s + 2, 11 * s + 2, 11 * s + 2};
    double c_g2[3] = {5 * s + 1.5, 5 * s + 1.5, 5 * s + 1.5};
    double c_v[3] = {12 * s + 2, 12 * s + 2, 12 * s + 2};
    double c_b[3] = {90 * s + 8, 90 * s + 8, 90 * s + 8};
    double c_b2[3] = {55 * s + 6, 55 * s + 6, 55 * s + 6};
    double c_e[3] = {2.5, 2.5, 2.5};
    if (ph_noise_init(&m->shape, r, m->n, c_shape) || ph_noise_init(&m->gyri1, r, m->n, c_g1) ||
        ph_noise_init(&m->gyri2, r, m->n, c_g2) || ph_noise_init(&m->vent, r, m->n, c_v) ||
        ph_noise_init(&m->bias1, r, m->n, c_b) || ph_noise_init(&m->bias2, r, m->n, c_b2) ||
        ph_noise_init(&m->lesion_edge, r, m->n, c_e))
        return -1;
    /* lateral ventricles (body, frontal horn, occipital horn each side), 3rd ventricle */
    double k = ph_range(r, 0.8, 1.35); /* atrophy */
    double asym = ph_range(r, 0.9, 1.1);
    int n = 0;
    for (int side = -1; side <= 1; side += 2) {
        double f = side < 0 ? asym : 1.0;
        norm_ellipsoid(m, &m->vent_e[n++], side * 0.085, 0.0, 0.16, 0.055 * k * f, 0.30, 0.085 * k * f);
        norm_ellipsoid(m, &m->vent_e[n++], side * 0.10, 0.26, 0.09, 0.06 * k * f, 0.13, 0.10 * k);
        norm_ellipsoid(m, &m->vent_e[n++], side * 0.13, -0.30, 0.07, 0.05 * k * f, 0.14, 0.07 * k);
    }
    norm_ellipsoid(m, &m->vent_e[n++], 0.0, -0.02, 0.02, 0.014 * k, 0.12, 0.08);
    m->n_vent = n;
    norm_ellipsoid(m, &m->deep[0], -0.10, -0.10, 0.03, 0.075, 0.11, 0.08);
    norm_ellipsoid(m, &m->deep[1], 0.10, -0.10, 0.03, 0.075, 0.11, 0.08);
    norm_ellipsoid(m, &m->deep[2], -0.22, 0.10, 0.04, 0.05, 0.14, 0.09);
    norm_ellipsoid(m, &m->deep[3], 0.22, 0.10, 0.04, 0.05, 0.14, 0.09);
    /* where the periventricular caps sit: the tips of the frontal and occipital horns */
    norm_ellipsoid(m, &m->horn[0], -0.11, 0.37, 0.08, 0.11, 0.10, 0.12);
    norm_ellipsoid(m, &m->horn[1], 0.11, 0.37, 0.08, 0.11, 0.10, 0.12);
    norm_ellipsoid(m, &m->horn[2], -0.14, -0.43, 0.06, 0.10, 0.09, 0.11);
    norm_ellipsoid(m, &m->horn[3], 0.14, -0.43, 0.06, 0.10, 0.09, 0.11);
    /* FLAIR CSF flow artefacts: in the ventricles or in the sulcal CSF */
    m->n_art = ph_int(r, 2, MAX_ART);
    for (int i = 0; i < m->n_art; i++) {
        ellipsoid *e = &m->art[i];
        if (ph_uniform(r) < 0.5) {
            const ellipsoid *v = &m->vent_e[ph_int(r, 0, m->n_vent - 1)];
            memcpy(e->c, v->c, sizeof e->c);
        } else {
            double d[3], q[3];
            random_dir(r, d);
            if (d[2] < 0) d[2] = -d[2];
            for (int j = 0; j < 3; j++) q[j] = d[j] * 0.87 * m->ax[j];
            norm_point(m, q, e->c);
        }
        random_axes(r, e->axis);
        double rad = (ph_range(r, 5, 11)) * m->scale + 1.5;
        e->a[0] = rad;
        e->a[1] = rad * ph_range(r, 0.5, 1);
        e->a[2] = rad * ph_range(r, 0.4, 0.8);
        m->art_level[i] = ph_range(r, 0.6, 1.0);
    }
    for (int c = 0; c < N_CONTRAST; c++) {
        m->bias_mix[c][0] = ph_range(r, 0.10, 0.18) * (ph_uniform(r) < 0.5 ? -1 : 1);
        m->bias_mix[c][1] = ph_range(r, 0.03, 0.07);
    }
    place_lesions(m, r);
    return 0;
}

static void ctx_free(ms_ctx *m) {
    ph_noise_free(&m->shape);
    ph_noise_free(&m->gyri1);
    ph_noise_free(&m->gyri2);
    ph_noise_free(&m->vent);
    ph_noise_free(&m->bias1);
    ph_noise_free(&m->bias2);
    ph_noise_free(&m->lesion_edge);
}

/* Renders the lesions' signed distance (max over blobs) and lesion ids. */
static void render_lesions(const ms_ctx *m, float *sd, uint16_t *lid) {
    const size_t nx = m->n[0], ny = m->n[1];
    for (int l = 0; l < m->n_les; l++) {
        for (int b = 0; b < m->les[l].n_blobs; b++) {
            const ellipsoid *e = &m->les[l].blob[b];
            double reach = ellipsoid_reach(e) + 5;
            long lo[3], hi[3];
            for (int i = 0; i < 3; i++) {
                lo[i] = (long)floor(e->c[i] - reach);
                hi[i] = (long)ceil(e->c[i] + reach);
                if (lo[i] < 0) lo[i] = 0;
                if (hi[i] > (long)m->n[i] - 1) hi[i] = (long)m->n[i] - 1;
            }
            for (long z = lo[2]; z <= hi[2]; z++)
                for (long y = lo[1]; y <= hi[1]; y++)
                    for (long x = lo[0]; x <= hi[0]; x++) {
                        size_t i = (size_t)x + nx * ((size_t)y + ny * (size_t)z);
                        double d = ellipsoid_d(e, (double)x, (double)y, (double)z);
                        if (d > sd[i]) {
                            sd[i] = (float)d;
                            lid[i] = (uint16_t)(l + 1);
                        }
                    }
        }
    }
    /* irregular edges: a fine smooth perturbation of the level set */
    size_t total = nx * ny * m->n[2];
    for (size_t i = 0; i < total; i++) {
        if (!lid[i] || sd[i] < -5) continue;
        size_t x = i % nx, y = (i / nx) % ny, z = i / (nx * ny);
        sd[i] += (float)(0.45 * m->les_scale * ph_noise_at(&m->lesion_edge, (double)x, (double)y, (double)z));
    }
}

static int16_t to_i16(double v) {
    v = floor(v + 0.5);
    return (int16_t)(v > 32767 ? 32767 : v < 0 ? 0 : v);
}

int ph_ms_generate(const sa_phantom_options *opt, int index, sa_phantom_case *out, sa_error *err) {
    ms_ctx *m = calloc(1, sizeof *m);
    if (!m) return sa_error_set(err, "phantom: out of memory");
    ph_rng r_anat, r_noise, r_raters;
    ph_rng_stream(&r_anat, opt->seed, 1, (uint64_t)index, 1);
    ph_rng_stream(&r_noise, opt->seed, 1, (uint64_t)index, 2);
    ph_rng_stream(&r_raters, opt->seed, 1, (uint64_t)index, 3);
    snprintf(out->id, sizeof out->id, "ms%02d", index + 1);
    const size_t nx = opt->size[0], ny = opt->size[1], nz = opt->size[2], total = nx * ny * nz;
    float *sd = NULL;
    uint16_t *lid = NULL;
    uint8_t *mimic = NULL;
    ph_lesion_info *info = NULL;
    int rc = -1;
    if (setup(m, opt, &r_anat) != 0) goto done;
    sd = malloc(total * sizeof *sd);
    lid = calloc(total, sizeof *lid);
    mimic = calloc(total, 1);
    info = calloc((size_t)m->n_les + 1, sizeof *info);
    out->truth = calloc(total, 1);
    if (!sd || !lid || !mimic || !info || !out->truth) goto done;
    for (size_t i = 0; i < total; i++) sd[i] = -8.0f;
    render_lesions(m, sd, lid);

    sa_image geom;
    const double spacing[3] = {1, 1, 1};
    ph_geometry(&geom, opt->size, spacing);
    static const char *roles[N_CONTRAST] = {"flair", "t1", "t2", "dp", "t1gd"};
    int16_t *img[N_CONTRAST];
    for (int c = 0; c < N_CONTRAST; c++) {
        if (ph_image_like(&out->images[c], &geom, SA_PIXEL_I16) != 0) goto done;
        out->roles[c] = roles[c];
        img[c] = out->images[c].data;
    }
    out->n_images = N_CONTRAST;

    const double reff = m->reff, s = m->scale;
    const double cap_w = 1.5 + 3.0 * s;
    for (size_t z = 0, i = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++, i++) {
                double X = (double)x, Y = (double)y, Z = (double)z;
                double L = head_level(m, X, Y, Z);
                double f[N_TISSUE] = {0};
                double in_head = ph_pv((1.0 - L) * reff, 1.0);
                double sig[N_CONTRAST];
                double les = 0, cap = 0, art = 0;
                if (in_head <= 0) {
                    f[T_BG] = 1;
                } else {
                    double in_skull = ph_pv((0.95 - L) * reff, 0.8);
                    double in_cran = ph_pv((0.905 - L) * reff, 0.8);
                    double in_brain = ph_pv((0.872 - L) * reff, 0.9);
                    double in_wm = 0;
                    if (in_brain > 0) in_wm = ph_pv((gw_level(m, X, Y, Z) - L) * reff, 0.9);
                    f[T_BG] = 1 - in_head;
                    f[T_SCALP] = in_head - in_skull;
                    f[T_SKULL] = in_skull - in_cran;
                    f[T_CSF] = in_cran - in_brain;
                    f[T_GM] = in_brain - in_wm;
                    f[T_WM] = in_wm;
                    if (in_wm > 0) {
                        double dg = -1e9;
                        for (int k = 0; k < MAX_DEEP; k++) {
                            double d = ellipsoid_d(&m->deep[k], X, Y, Z);
                            if (d > dg) dg = d;
                        }
                        double g = ph_pv(dg, 1.0) * 0.6;
                        f[T_GM] += f[T_WM] * g;
                        f[T_WM] *= 1 - g;
                        double dv = vent_d(m, X, Y, Z, 1);
                        if (dv > -6) {
                            double v = ph_pv(dv, 0.7);
                            f[T_CSF] += (f[T_GM] + f[T_WM]) * v;
                            f[T_GM] *= 1 - v;
                            f[T_WM] *= 1 - v;
                            if (dv < 0.5 && dv > -cap_w - 1.5) {
                                double hw = 0;
                                for (int k = 0; k < MAX_HORN; k++) {
                                    double h = ph_pv(ellipsoid_d(&m->horn[k], X, Y, Z), 2.0);
                                    if (h > hw) hw = h;
                                }
                                cap = hw * ph_pv(dv + cap_w, 0.8) * (1 - v) * f[T_WM] / (f[T_WM] + f[T_GM] + 1e-9);
                            }
                        }
                    }
                    for (int k = 0; k < m->n_art; k++) {
                        double a = ph_pv(ellipsoid_d(&m->art[k], X, Y, Z), 1.5) * m->art_level[k];
                        if (a > art) art = a;
                    }
                    /* lesions live in the parenchyma */
                    double par = f[T_GM] + f[T_WM];
                    if (lid[i]) {
                        double lim = (par - 0.5) * 3.0;
                        if (sd[i] > lim) sd[i] = (float)lim;
                        les = ph_pv(sd[i], 0.6);
                    }
                }
                out->truth[i] = lid[i] && sd[i] > 0;
                if (cap > 0.5 || (art * f[T_CSF] > 0.5)) mimic[i] = 1;
                double b1 = ph_noise_at(&m->bias1, X, Y, Z), b2 = ph_noise_at(&m->bias2, X, Y, Z);
                for (int c = 0; c < N_CONTRAST; c++) {
                    double v = 0;
                    for (int t = 0; t < T_LESION; t++) v += f[t] * intensity[c][t];
                    if (c == C_FLAIR && art > 0)
                        v += art * f[T_CSF] * (flair_artefact - intensity[c][T_CSF]);
                    if (cap > 0) v += cap * (intensity[c][T_CAP] - intensity[c][T_WM]);
                    if (les > 0) {
                        const lesion *l = &m->les[lid[i] - 1];
                        double target = intensity[c][T_WM] + l->contrast * (intensity[c][T_LESION] - intensity[c][T_WM]);
                        if (c == C_T1GD && l->enhancing) target = t1gd_enhancing;
                        v = (1 - les) * v + les * target;
                    }
                    double bias = exp(m->bias_mix[c][0] * b1 + m->bias_mix[c][1] * b2);
                    v *= bias;
                    double n1, n2;
                    /* Rician: magnitude of the signal plus complex Gaussian noise */
                    for (;;) {
                        double u = 2.0 * ph_uniform(&r_noise) - 1.0, w = 2.0 * ph_uniform(&r_noise) - 1.0;
                        double q = u * u + w * w;
                        if (q > 0.0 && q < 1.0) {
                            double k = sqrt(-2.0 * log(q) / q);
                            n1 = u * k, n2 = w * k;
                            break;
                        }
                    }
                    double re = v + noise_sigma * n1, im = noise_sigma * n2;
                    sig[c] = sqrt(re * re + im * im);
                    img[c][i] = to_i16(sig[c]);
                }
            }

    /* lesion table (true volumes), then the raters */
    for (size_t i = 0; i < total; i++)
        if (out->truth[i]) info[lid[i] - 1].voxels += 1;
    for (int l = 0; l < m->n_les; l++) {
        memcpy(info[l].centre, m->les[l].blob[0].c, sizeof info[l].centre);
        info[l].radius = m->les[l].blob[0].a[1];
    }
    out->n_raters = 7;
    for (int k = 0; k < 7; k++)
        if (!(out->raters[k] = calloc(total, 1))) goto done;
    if (ph_ms_raters(&r_raters, opt->size, sd, lid, info, (size_t)m->n_les, mimic, out->raters, 7) != 0) goto done;
    out->lesions_placed = (size_t)m->n_les;
    rc = 0;
done:
    if (rc != 0) {
        sa_phantom_case_free(out);
        sa_error_set(err, "phantom: out of memory");
    }
    ctx_free(m);
    free(m);
    free(sd);
    free(lid);
    free(mimic);
    free(info);
    return rc;
}
