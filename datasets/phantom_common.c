/*
 * phantom_common.c: shared pieces of the synthetic test sets (PRNG, smooth
 * noise, partial-volume ramps, blur, geometry) and the public entry points that
 * dispatch to the MS and PET generators.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"

/* ---- PRNG ---- */

uint64_t ph_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ph_rng_seed(ph_rng *r, uint64_t seed) {
    uint64_t s = seed;
    for (int i = 0; i < 4; i++) r->s[i] = ph_splitmix64(&s);
}

void ph_rng_stream(ph_rng *r, uint64_t seed, uint64_t kind, uint64_t index, uint64_t purpose) {
    uint64_t s = seed;
    uint64_t h = ph_splitmix64(&s);
    s = h ^ (kind * 0xd1b54a32d192ed03ull);
    h = ph_splitmix64(&s);
    s = h ^ (index * 0xabc98388fb8fac03ull);
    h = ph_splitmix64(&s);
    s = h ^ (purpose * 0x8cb92ba72f3d8dd7ull);
    ph_rng_seed(r, ph_splitmix64(&s));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ph_rng_u64(ph_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ph_uniform(ph_rng *r) { return (double)(ph_rng_u64(r) >> 11) * 0x1.0p-53; }

double ph_range(ph_rng *r, double lo, double hi) { return lo + (hi - lo) * ph_uniform(r); }

int ph_int(ph_rng *r, int lo, int hi) {
    if (hi <= lo) return lo;
    return lo + (int)(ph_rng_u64(r) % (uint64_t)(hi - lo + 1));
}

double ph_normal(ph_rng *r) {
    for (;;) {
        double u = 2.0 * ph_uniform(r) - 1.0, v = 2.0 * ph_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0) return u * sqrt(-2.0 * log(s) / s);
    }
}

/* ---- smooth noise ---- */

int ph_noise_init(ph_noise *f, ph_rng *r, const size_t size[3], const double cell[3]) {
    size_t total = 1;
    for (int a = 0; a < 3; a++) {
        f->cell[a] = cell[a] > 0.5 ? cell[a] : 0.5;
        f->n[a] = (size_t)((double)size[a] / f->cell[a]) + 3;
        total *= f->n[a];
    }
    f->v = malloc(total * sizeof *f->v);
    if (!f->v) return -1;
    for (size_t i = 0; i < total; i++) f->v[i] = (float)(2.0 * ph_uniform(r) - 1.0);
    return 0;
}

static inline double fade(double t) { return t * t * t * (t * (t * 6.0 - 15.0) + 10.0); }

double ph_noise_at(const ph_noise *f, double x, double y, double z) {
    double p[3] = {x / f->cell[0] + 1.0, y / f->cell[1] + 1.0, z / f->cell[2] + 1.0};
    size_t i0[3];
    double w[3];
    for (int a = 0; a < 3; a++) {
        double q = ph_clamp(p[a], 0.0, (double)f->n[a] - 1.000001);
        double fl = floor(q);
        i0[a] = (size_t)fl;
        w[a] = fade(q - fl);
    }
    const size_t sx = 1, sy = f->n[0], sz = f->n[0] * f->n[1];
    const float *b = f->v + i0[0] + sy * i0[1] + sz * i0[2];
    double c00 = b[0] + w[0] * (b[sx] - b[0]);
    double c10 = b[sy] + w[0] * (b[sy + sx] - b[sy]);
    double c01 = b[sz] + w[0] * (b[sz + sx] - b[sz]);
    double c11 = b[sz + sy] + w[0] * (b[sz + sy + sx] - b[sz + sy]);
    double c0 = c00 + w[1] * (c10 - c00), c1 = c01 + w[1] * (c11 - c01);
    return c0 + w[2] * (c1 - c0);
}

void ph_noise_free(ph_noise *f) {
    free(f->v);
    f->v = NULL;
}

double ph_pv(double d, double w) {
    double t = ph_clamp(0.5 + 0.5 * d / w, 0.0, 1.0);
    return t * t * (3.0 - 2.0 * t);
}

/* ---- blur ---- */

int ph_blur(float *v, const size_t size[3], const double sigma[3]) {
    size_t nmax = size[0] > size[1] ? size[0] : size[1];
    if (size[2] > nmax) nmax = size[2];
    float *line = malloc(nmax * sizeof *line);
    double *kern = NULL;
    if (!line) return -1;
    const size_t stride[3] = {1, size[0], size[0] * size[1]};
    for (int a = 0; a < 3; a++) {
        if (!(sigma[a] > 0.05)) continue;
        int rad = (int)ceil(3.0 * sigma[a]);
        double *k = realloc(kern, (size_t)(2 * rad + 1) * sizeof *k);
        if (!k) {
            free(kern);
            free(line);
            return -1;
        }
        kern = k;
        double sum = 0;
        for (int i = -rad; i <= rad; i++) sum += kern[i + rad] = exp(-0.5 * i * i / (sigma[a] * sigma[a]));
        for (int i = 0; i <= 2 * rad; i++) kern[i] /= sum;
        const int b1 = (a + 1) % 3, b2 = (a + 2) % 3;
        const long n = (long)size[a];
        for (size_t j2 = 0; j2 < size[b2]; j2++)
            for (size_t j1 = 0; j1 < size[b1]; j1++) {
                float *base = v + j1 * stride[b1] + j2 * stride[b2];
                for (long i = 0; i < n; i++) line[i] = base[(size_t)i * stride[a]];
                for (long i = 0; i < n; i++) {
                    double acc = 0;
                    for (int t = -rad; t <= rad; t++) {
                        long q = i + t;
                        q = q < 0 ? 0 : q >= n ? n - 1 : q;
                        acc += kern[t + rad] * line[q];
                    }
                    base[(size_t)i * stride[a]] = (float)acc;
                }
            }
    }
    free(kern);
    free(line);
    return 0;
}

/* ---- geometry ---- */

void ph_geometry(sa_image *img, const size_t size[3], const double spacing[3]) {
    memset(img, 0, sizeof *img);
    for (int a = 0; a < 3; a++) {
        img->size[a] = size[a];
        img->spacing[a] = spacing[a];
        /* RAS origin so that the grid centre sits at (0,0,0), rounded to 0.5 mm */
        double ras = -floor(((double)size[a] - 1.0) * spacing[a] * 0.5);
        img->origin[a] = a < 2 ? -ras : ras;
    }
    img->direction[0] = -1.0;
    img->direction[4] = -1.0;
    img->direction[8] = 1.0;
}

int ph_image_like(sa_image *out, const sa_image *geom, sa_pixel_type t) {
    *out = *geom;
    out->type = t;
    out->block = NULL;
    size_t n = geom->size[0] * geom->size[1] * geom->size[2];
    out->data = calloc(n, sa_pixel_size(t));
    return out->data ? 0 : -1;
}

/* ---- public ---- */

void sa_phantom_options_default(sa_phantom_options *opt, sa_phantom_kind kind) {
    memset(opt, 0, sizeof *opt);
    opt->kind = kind;
    opt->cases = 8;
    opt->seed = 1;
    opt->size[0] = 181;
    opt->size[1] = 217;
    opt->size[2] = 181;
    opt->tbr_lo = 3.0;
    opt->tbr_hi = 10.0;
    opt->threads = 0;
}

void sa_phantom_case_free(sa_phantom_case *c) {
    if (!c) return;
    for (size_t i = 0; i < SA_PHANTOM_MAX_IMAGES; i++) sa_image_free(&c->images[i]);
    for (size_t i = 0; i < 7; i++) free(c->raters[i]);
    free(c->truth);
    memset(c, 0, sizeof *c);
}

int sa_phantom_generate(const sa_phantom_options *opt, int index, sa_phantom_case *out,
                        sa_error *err) {
    memset(out, 0, sizeof *out);
    if (!opt) return sa_error_set(err, "phantom: no options");
    if (index < 0 || index >= 999) return sa_error_set(err, "phantom: case index %d out of range", index);
    if (opt->kind == SA_PHANTOM_MS) {
        for (int a = 0; a < 3; a++)
            if (opt->size[a] < 32 || opt->size[a] > 512)
                return sa_error_set(err, "phantom: MS grid sizes must be 32 to 512 voxels, not %zu",
                                    opt->size[a]);
        return ph_ms_generate(opt, index, out, err);
    }
    if (opt->kind == SA_PHANTOM_PET) {
        if (!(opt->tbr_lo >= 1.5 && opt->tbr_hi >= opt->tbr_lo && opt->tbr_hi <= 50.0))
            return sa_error_set(err, "phantom: tumour-to-background range %g..%g (need 1.5 <= LO <= HI <= 50)",
                                opt->tbr_lo, opt->tbr_hi);
        return ph_pet_generate(opt, index, out, err);
    }
    return sa_error_set(err, "phantom: unknown kind %d", (int)opt->kind);
}

double ph_ellipsoid_distance(const ph_ellipsoid *e, double x, double y, double z) {
    double p[3] = {x - e->c[0], y - e->c[1], z - e->c[2]};
    double q2 = 0, g2 = 0;
    for (int i = 0; i < 3; i++) {
        double t = (e->axis[i][0] * p[0] + e->axis[i][1] * p[1] + e->axis[i][2] * p[2]) / e->a[i];
        q2 += t * t;
        g2 += (t / e->a[i]) * (t / e->a[i]);
    }
    if (g2 < 1e-12) return fmin(e->a[0], fmin(e->a[1], e->a[2])); /* at the centre */
    double q = sqrt(q2);
    return (1.0 - q) * q / sqrt(g2);
}
