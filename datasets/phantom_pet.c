/*
 * phantom_pet.c: the PET phantom. An elliptic body with organ-like background
 * uptake (lungs, liver, heart wall, blood pool, spine, kidneys), one to three
 * tumours (spheres or irregular blobs, heterogeneous uptake, necrotic cores in
 * the large ones) whose mean uptake is TBR times the local background, TBR drawn
 * in the asked range. The activity is blurred by a Gaussian PSF (6 mm FWHM),
 * given Poisson-like noise (variance proportional to the mean), lightly
 * post-filtered and stored as float32 SUV on 4 mm voxels (4x4x2 mm with
 * --anisotropic). Three raters: 41% and adaptive 50% SUVmax thresholds and a
 * manual-like contour. Optional CT (int16 HU) on the same grid.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"

typedef ph_ellipsoid pet_ell; /* mm */

enum { O_LUNG_R, O_LUNG_L, O_LIVER, O_HEART, O_BLOOD, O_SPINE, O_KIDNEY_R, O_KIDNEY_L, N_ORGAN };
static const double organ_suv[N_ORGAN] = {0.35, 0.35, 2.1, 3.0, 1.7, 1.4, 3.2, 3.2};
static const double organ_hu[N_ORGAN] = {-820, -820, 55, 40, 45, 500, 35, 35};
static const double body_suv = 0.9, body_hu = 35, fat_hu = -100, tumour_hu = 45;

typedef struct pet_tumour {
    pet_ell blob[4];
    int n_blobs;
    double bg, tbr, scale; /* scale: activity factor after normalisation */
    double radius;
} pet_tumour;

static double ell_d(const pet_ell *e, double x, double y, double z) { return ph_ellipsoid_distance(e, x, y, z); }

static void ell_set(pet_ell *e, double cx, double cy, double cz, double ax, double ay, double az) {
    e->c[0] = cx, e->c[1] = cy, e->c[2] = cz;
    e->a[0] = ax, e->a[1] = ay, e->a[2] = az;
    memset(e->axis, 0, sizeof e->axis);
    for (int i = 0; i < 3; i++) e->axis[i][i] = 1;
}

static void ell_rotate(ph_rng *r, pet_ell *e) {
    double u1 = ph_uniform(r), u2 = ph_uniform(r) * 6.283185307179586, u3 = ph_uniform(r) * 6.283185307179586;
    double a = sqrt(1 - u1), b = sqrt(u1);
    double w = a * sin(u2), x = a * cos(u2), y = b * sin(u3), z = b * cos(u3);
    double m[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)},
                      {2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)},
                      {2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)}};
    memcpy(e->axis, m, sizeof m);
}

typedef struct pet_ctx {
    size_t n[3];
    double sp[3], ctr[3];
    double body_a[2];
    pet_ell organ[N_ORGAN];
    double suv[N_ORGAN];
    pet_tumour t[SA_PHANTOM_MAX_TUMOURS];
    int n_t;
    ph_noise shape, texture, bgvar;
} pet_ctx;

static void mm_of(const pet_ctx *p, size_t x, size_t y, size_t z, double mm[3]) {
    mm[0] = ((double)x - p->ctr[0]) * p->sp[0];
    mm[1] = ((double)y - p->ctr[1]) * p->sp[1];
    mm[2] = ((double)z - p->ctr[2]) * p->sp[2];
}

/* Body: signed distance (mm) to the elliptic outline. */
static double body_d(const pet_ctx *p, const double mm[3], double vx, double vy, double vz) {
    double u = mm[0] / p->body_a[0], v = mm[1] / p->body_a[1];
    double B = sqrt(u * u + v * v) * (1 + 0.03 * ph_noise_at(&p->shape, vx, vy, vz));
    return (1 - B) * p->body_a[1];
}

/* Which organ holds the point (deepest), or -1; *d gets that organ's distance. */
static int organ_at(const pet_ctx *p, const double mm[3], double *d) {
    int best = -1;
    double bd = -1e9;
    for (int o = 0; o < N_ORGAN; o++) {
        double od = ell_d(&p->organ[o], mm[0], mm[1], mm[2]);
        if (od > bd) bd = od, best = o;
    }
    *d = bd;
    return bd > 0 ? best : -1;
}

static void setup(pet_ctx *p, const sa_phantom_options *opt, ph_rng *r, const size_t n[3]) {
    for (int i = 0; i < 3; i++) {
        p->n[i] = n[i];
        p->ctr[i] = ((double)n[i] - 1) * 0.5;
    }
    p->sp[0] = p->sp[1] = 4.0;
    p->sp[2] = opt->anisotropic ? 2.0 : 4.0;
    p->body_a[0] = ph_range(r, 155, 185);
    p->body_a[1] = ph_range(r, 100, 120);
    double j = 1.0;
    ell_set(&p->organ[O_LUNG_R], 75 + ph_range(r, -5, 5), 0, 60, 52 * j, 68, 85);
    ell_set(&p->organ[O_LUNG_L], -78 + ph_range(r, -5, 5), 0, 60, 50 * j, 66, 85);
    ell_set(&p->organ[O_LIVER], 65, 10, -55 + ph_range(r, -8, 8), 78, 70, 55);
    ell_set(&p->organ[O_HEART], -22, 35, 10, 42, 38, 40);
    ell_set(&p->organ[O_BLOOD], -8, -28, 20, 12, 12, 110);
    ell_set(&p->organ[O_SPINE], 0, -75, 0, 17, 17, 200);
    ell_set(&p->organ[O_KIDNEY_R], 62, -45, -100, 24, 28, 45);
    ell_set(&p->organ[O_KIDNEY_L], -62, -45, -95, 24, 28, 45);
    for (int o = 0; o < N_ORGAN; o++) p->suv[o] = organ_suv[o] * ph_range(r, 0.85, 1.15);
    p->suv[O_HEART] = ph_range(r, 1.8, 6.0);
}

/* Places the tumours: in a lung, the liver or soft tissue, well inside. */
static void place_tumours(pet_ctx *p, const sa_phantom_options *opt, ph_rng *r) {
    p->n_t = ph_int(r, 1, 3);
    double zmax = (double)p->n[2] * p->sp[2] * 0.5 - 12;
    for (int k = 0; k < p->n_t; k++) {
        pet_tumour *t = &p->t[k];
        for (int tries = 0; tries < 5000; tries++) {
            double u = ph_uniform(r);
            int site = u < 0.45 ? 0 : u < 0.75 ? 1 : 2;
            double rad = site == 2 ? ph_range(r, 7, 15) : ph_range(r, 7, 24);
            double c[3] = {ph_range(r, -150, 150), ph_range(r, -100, 100), ph_range(r, -zmax, zmax)};
            double d;
            int o = organ_at(p, c, &d);
            double margin = rad + 10;
            if (site == 0 && !((o == O_LUNG_R || o == O_LUNG_L) && d > margin)) continue;
            if (site == 1 && !(o == O_LIVER && d > margin)) continue;
            if (site == 2) {
                if (o >= 0 || d > -margin) continue;
                double bd = (1 - sqrt((c[0] / p->body_a[0]) * (c[0] / p->body_a[0]) +
                                      (c[1] / p->body_a[1]) * (c[1] / p->body_a[1]))) * p->body_a[1];
                if (bd < margin + 10) continue;
            }
            int clash = 0;
            for (int q = 0; q < k; q++) {
                double dx = c[0] - p->t[q].blob[0].c[0], dy = c[1] - p->t[q].blob[0].c[1],
                       dz = c[2] - p->t[q].blob[0].c[2];
                if (sqrt(dx * dx + dy * dy + dz * dz) < rad + p->t[q].radius + 25) clash = 1;
            }
            if (clash) continue;
            t->radius = rad;
            t->bg = site == 2 ? body_suv : p->suv[o];
            t->tbr = ph_range(r, opt->tbr_lo, opt->tbr_hi);
            int sphere = ph_uniform(r) < 0.4;
            t->n_blobs = sphere ? 1 : ph_int(r, 2, 4);
            ell_set(&t->blob[0], c[0], c[1], c[2], rad, rad, rad);
            if (!sphere) {
                t->blob[0].a[1] = rad * ph_range(r, 0.7, 1.0);
                t->blob[0].a[2] = rad * ph_range(r, 0.6, 0.95);
                ell_rotate(r, &t->blob[0]);
                for (int b = 1; b < t->n_blobs; b++) {
                    double d3[3], s = 0;
                    for (int i = 0; i < 3; i++) d3[i] = ph_normal(r), s += d3[i] * d3[i];
                    s = sqrt(s) + 1e-9;
                    double rb = rad * ph_range(r, 0.4, 0.7);
                    ell_set(&t->blob[b], c[0] + d3[0] / s * rad * 0.7, c[1] + d3[1] / s * rad * 0.7,
                            c[2] + d3[2] / s * rad * 0.7, rb, rb * ph_range(r, 0.6, 1), rb * ph_range(r, 0.6, 1));
                    ell_rotate(r, &t->blob[b]);
                }
            }
            break;
        }
    }
}

static double tumour_d(const pet_tumour *t, const double mm[3]) {
    double best = -1e9;
    for (int b = 0; b < t->n_blobs; b++) {
        double d = ell_d(&t->blob[b], mm[0], mm[1], mm[2]);
        if (d > best) best = d;
    }
    return best;
}

/* Relative uptake inside a tumour (before normalisation): texture and a necrotic core. */
static double tumour_profile(const pet_ctx *p, const pet_tumour *t, double d, double vx, double vy, double vz) {
    double h = 1.0 + 0.25 * ph_noise_at(&p->texture, vx, vy, vz);
    if (t->radius > 14) h *= 1.0 - 0.65 * ph_pv(d - 0.55 * t->radius, 3.0);
    return h;
}

int ph_pet_generate(const sa_phantom_options *opt, int index, sa_phantom_case *out, sa_error *err) {
    size_t n[3] = {112, 80, opt->anisotropic ? 128 : 64};
    const size_t nx = n[0], ny = n[1], total = n[0] * n[1] * n[2];
    pet_ctx *p = calloc(1, sizeof *p);
    float *act = NULL, *sd = NULL;
    uint8_t *tid = NULL;
    int rc = -1;
    ph_rng ra, rn, rr;
    ph_rng_stream(&ra, opt->seed, 2, (uint64_t)index, 1);
    ph_rng_stream(&rn, opt->seed, 2, (uint64_t)index, 2);
    ph_rng_stream(&rr, opt->seed, 2, (uint64_t)index, 3);
    snprintf(out->id, sizeof out->id, "pet%02d", index + 1);
    if (!p) goto done;
    setup(p, opt, &ra, n);
    double c1[3] = {60 / 4.0, 60 / 4.0, 60 / p->sp[2]}, c2[3] = {7 / 4.0, 7 / 4.0, 7 / p->sp[2]},
           c3[3] = {80 / 4.0, 80 / 4.0, 80 / p->sp[2]};
    if (ph_noise_init(&p->shape, &ra, n, c1) || ph_noise_init(&p->texture, &ra, n, c2) ||
        ph_noise_init(&p->bgvar, &ra, n, c3))
        goto done;
    place_tumours(p, opt, &ra);
    act = malloc(total * sizeof *act);
    sd = malloc(total * sizeof *sd);
    tid = calloc(total, 1);
    out->truth = calloc(total, 1);
    if (!act || !sd || !tid || !out->truth) goto done;

    /* tumour distances, ids and normalisation of each tumour's mean uptake */
    double sum[SA_PHANTOM_MAX_TUMOURS] = {0}, cnt[SA_PHANTOM_MAX_TUMOURS] = {0};
    for (size_t z = 0, i = 0; z < n[2]; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++, i++) {
                double mm[3];
                mm_of(p, x, y, z, mm);
                float best = -50.0f;
                for (int k = 0; k < p->n_t; k++) {
                    double d = tumour_d(&p->t[k], mm);
                    if (d > best) best = (float)d, tid[i] = (uint8_t)(k + 1);
                }
                if (best < -40) tid[i] = 0;
                sd[i] = best;
                if (tid[i] && sd[i] > 0) {
                    out->truth[i] = 1;
                    sum[tid[i] - 1] += tumour_profile(p, &p->t[tid[i] - 1], sd[i], (double)x, (double)y, (double)z);
                    cnt[tid[i] - 1] += 1;
                }
            }
    for (int k = 0; k < p->n_t; k++) {
        pet_tumour *t = &p->t[k];
        double mean_profile = cnt[k] > 0 ? sum[k] / cnt[k] : 1.0;
        t->scale = t->tbr * t->bg / mean_profile;
        out->tbr[k] = t->tbr;
    }

    sa_image geom;
    ph_geometry(&geom, n, p->sp);
    if (ph_image_like(&out->images[0], &geom, SA_PIXEL_F32) != 0) goto done;
    out->roles[0] = "pet";
    out->n_images = 1;
    int16_t *ct = NULL;
    if (opt->ct) {
        if (ph_image_like(&out->images[1], &geom, SA_PIXEL_I16) != 0) goto done;
        out->roles[1] = "ct";
        out->n_images = 2;
        ct = out->images[1].data;
    }
    /* background (B) and each tumour at unit scale (T[k]) apart: the image is linear
     * in the tumour scales, which are then set so that the blurred, noiseless image
     * shows the asked ratio (tumour mean / mean of a shell 8-16 mm around it). */
    float *T[SA_PHANTOM_MAX_TUMOURS] = {NULL};
    float *tmp = malloc(total * sizeof *tmp);
    int ok = tmp != NULL;
    for (int k = 0; k < p->n_t && ok; k++) ok = (T[k] = calloc(total, sizeof *T[k])) != NULL;
    if (!ok) {
        free(tmp);
        for (int k = 0; k < p->n_t; k++) free(T[k]);
        goto done;
    }
    for (size_t z = 0, i = 0; z < n[2]; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++, i++) {
                double mm[3], X = (double)x, Y = (double)y, Z = (double)z;
                mm_of(p, x, y, z, mm);
                double bd = body_d(p, mm, X, Y, Z);
                double in_body = ph_pv(bd, 3.0);
                double a = body_suv * (1 + 0.12 * ph_noise_at(&p->bgvar, X, Y, Z));
                double fat = 1 - ph_pv(bd - 14, 4.0);
                double hu = fat * fat_hu + (1 - fat) * body_hu;
                for (int o = 0; o < N_ORGAN; o++) {
                    double od = ell_d(&p->organ[o], mm[0], mm[1], mm[2]);
                    double f = ph_pv(od, 3.0);
                    if (f <= 0) continue;
                    double oa = p->suv[o];
                    if (o == O_HEART) {
                        /* the wall takes up, the cavity is blood pool */
                        double cav = ph_pv(od - 12, 3.0);
                        oa = cav * p->suv[O_BLOOD] + (1 - cav) * p->suv[O_HEART];
                    }
                    a = (1 - f) * a + f * oa;
                    hu = (1 - f) * hu + f * organ_hu[o];
                }
                if (tid[i]) {
                    const pet_tumour *t = &p->t[tid[i] - 1];
                    double f = ph_pv(sd[i], 2.0);
                    if (f > 0) {
                        T[tid[i] - 1][i] = (float)(f * tumour_profile(p, t, sd[i], X, Y, Z) * in_body);
                        a = (1 - f) * a;
                        hu = (1 - f) * hu + f * tumour_hu;
                    }
                }
                act[i] = (float)(a * in_body);
                if (ct) {
                    hu = in_body * hu + (1 - in_body) * -1000.0 + 12.0 * ph_normal(&rn);
                    hu = floor(hu + 0.5);
                    ct[i] = (int16_t)ph_clamp(hu, -1024, 3071);
                }
            }
    /* PSF, calibration, Poisson-like noise, post-filter */
    const double psf = 6.0 / 2.3548200450309493;
    double sig[3] = {psf / p->sp[0], psf / p->sp[1], psf / p->sp[2]};
    double post[3] = {0.7, 0.7, 0.7 * 4.0 / p->sp[2]};
    ok = ph_blur(act, n, sig) == 0;
    for (int k = 0; k < p->n_t && ok; k++) ok = ph_blur(T[k], n, sig) == 0;
    /* means over the tumour (truth) and its shell, of B and T[k], after the post-filter */
    if (ok) memcpy(tmp, act, total * sizeof *tmp);
    if (ok) ok = ph_blur(tmp, n, post) == 0;
    for (int k = 0; k < p->n_t && ok; k++) {
        double mB = 0, sB = 0, mT = 0, sT = 0, ni = 0, ns = 0;
        for (size_t i = 0; i < total; i++) {
            if (tid[i] != k + 1) continue;
            if (sd[i] > 0) mB += tmp[i], ni++;
            else if (sd[i] <= -8 && sd[i] > -16) sB += tmp[i], ns++;
        }
        float *tk = malloc(total * sizeof *tk);
        if (!tk) {
            ok = 0;
            break;
        }
        memcpy(tk, T[k], total * sizeof *tk);
        ok = ph_blur(tk, n, post) == 0;
        for (size_t i = 0; i < total && ok; i++) {
            if (tid[i] != k + 1) continue;
            if (sd[i] > 0) mT += tk[i];
            else if (sd[i] <= -8 && sd[i] > -16) sT += tk[i];
        }
        free(tk);
        double tbr = p->t[k].tbr, scale = p->t[k].scale;
        if (ni > 0 && ns > 0) {
            mB /= ni, mT /= ni, sB /= ns, sT /= ns;
            double den = mT - tbr * sT;
            if (den > 1e-9 && tbr * sB - mB > 0) scale = (tbr * sB - mB) / den;
        }
        p->t[k].scale = scale;
    }
    for (int k = 0; k < p->n_t && ok; k++)
        for (size_t i = 0; i < total; i++) act[i] += (float)(p->t[k].scale * T[k][i]);
    free(tmp);
    for (int k = 0; k < p->n_t; k++) free(T[k]);
    if (!ok) goto done;
    for (size_t i = 0; i < total; i++) {
        double a = act[i] > 0.02 ? act[i] : 0.02;
        act[i] = (float)(act[i] + sqrt(a * 0.15) * ph_normal(&rn));
    }
    if (ph_blur(act, n, post) != 0) goto done;
    float *pet = out->images[0].data;
    for (size_t i = 0; i < total; i++) pet[i] = act[i] > 0 ? act[i] : 0.0f;

    /* raters */
    out->n_raters = 3;
    for (int k = 0; k < 3; k++)
        if (!(out->raters[k] = calloc(total, 1))) goto done;
    double smax[SA_PHANTOM_MAX_TUMOURS] = {0};
    for (size_t i = 0; i < total; i++)
        if (tid[i] && sd[i] > 0 && pet[i] > smax[tid[i] - 1]) smax[tid[i] - 1] = pet[i];
    double thr[2][SA_PHANTOM_MAX_TUMOURS], moff[SA_PHANTOM_MAX_TUMOURS];
    for (int k = 0; k < p->n_t; k++) {
        double bg = p->t[k].bg;
        thr[0][k] = smax[k] * (0.41 + 0.03 * ph_normal(&rr));
        thr[1][k] = bg + (smax[k] - bg) * (0.50 + 0.04 * ph_normal(&rr));
        moff[k] = ph_clamp(1.5 + 1.2 * ph_normal(&rr), -1.0, 4.0);
    }
    ph_noise wob;
    double cw[3] = {3, 3, 3 * 4.0 / p->sp[2]};
    if (ph_noise_init(&wob, &rr, n, cw) != 0) goto done;
    for (size_t z = 0, i = 0; z < n[2]; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++, i++) {
                if (!tid[i] || sd[i] < -12) continue;
                int k = tid[i] - 1;
                /* threshold raters work inside a box drawn around the tumour */
                if (pet[i] > thr[0][k]) out->raters[0][i] = 1;
                if (pet[i] > thr[1][k]) out->raters[1][i] = 1;
                if (sd[i] > -moff[k] + 2.5 * ph_noise_at(&wob, (double)x, (double)y, (double)z))
                    out->raters[2][i] = 1;
            }
    ph_noise_free(&wob);
    out->lesions_placed = (size_t)p->n_t;
    rc = 0;
done:
    if (rc != 0) {
        sa_phantom_case_free(out);
        sa_error_set(err, "phantom: out of memory");
    }
    if (p) {
        ph_noise_free(&p->shape);
        ph_noise_free(&p->texture);
        ph_noise_free(&p->bgvar);
    }
    free(p);
    free(act);
    free(sd);
    free(tid);
    return rc;
}
