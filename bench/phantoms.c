/*
 * phantoms.c: seeded generators of (reference, prediction) mask pairs for bench_score.
 *
 * Why it exists: the benchmark needs realistic masks at the sizes of real MS, PET and
 * CT cases, identical from run to run, without data files. Every structure (lesion,
 * tumour, organ) is the zero super-level set of an implicit function
 *     f(p) = max_e  r_e * (1 - |A_e (p - c_e)|)  +  noise(p)
 * where each e is a rotated ellipsoid (A_e maps it onto the unit ball, r_e is its mean
 * radius, so f is roughly a signed distance in mm) and noise is a sum of separable
 * cosine products (smooth, cheap: per-axis tables, a few multiply-adds per voxel).
 * The prediction uses the same construction with its own ellipsoids (jittered by about a
 * voxel for lesions), an added noise field (smooth surface errors of a few mm), a
 * constant offset (dilation/erosion), "cut" ellipsoids (missed parts) and extra
 * structures (false positives). Only each structure's bounding box is visited, so
 * generation costs well under a second per 10 M voxels.
 */
#include "phantoms.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ELL 4
#define MAX_NOISE 3
#define MAX_STRUCT 96

typedef struct ellipsoid {
    double c[3]; /* centre, mm */
    double a[9]; /* row-major: unit-ball coordinates = a * (p - c) */
    double rmean;
    double rot[9]; /* columns = axes (kept to compute the bounding box) */
    double r[3];
} ellipsoid;

typedef struct noise_term {
    double amp;      /* mm */
    double k[3];     /* rad / mm */
    double phase[3]; /* rad */
} noise_term;

typedef struct structure {
    ellipsoid ref_e[MAX_ELL];
    int n_ref; /* 0: the structure exists in the prediction only (false positive) */
    ellipsoid pred_e[MAX_ELL];
    int n_pred;    /* 0: missed by the prediction */
    int pred_same; /* prediction uses ref_e (and n_ref) */
    noise_term nr[MAX_NOISE];
    int n_nr;
    noise_term nt[MAX_NOISE];
    int n_nt;
    double offset; /* mm added to the prediction's f: > 0 dilates */
    ellipsoid cut; /* prediction removed inside it (a missed part) */
    int has_cut;
} structure;

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{ /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double rng_uniform(rng *r) /* [0, 1) */
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_range(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

static int rng_int(rng *r, int lo, int hi) /* inclusive */
{
    return lo + (int)(rng_uniform(r) * (double)(hi - lo + 1));
}

static const double PI = 3.14159265358979323846;

/* rotation Rz(az) * Ry(ay) * Rx(ax), row-major */
static void rotation(double az, double ay, double ax, double m[9])
{
    double cz = cos(az), sz = sin(az), cy = cos(ay), sy = sin(ay), cx = cos(ax), sx = sin(ax);
    m[0] = cz * cy;
    m[1] = cz * sy * sx - sz * cx;
    m[2] = cz * sy * cx + sz * sx;
    m[3] = sz * cy;
    m[4] = sz * sy * sx + cz * cx;
    m[5] = sz * sy * cx - cz * sx;
    m[6] = -sy;
    m[7] = cy * sx;
    m[8] = cy * cx;
}

static ellipsoid make_ellipsoid(const double c[3], const double r[3], double az, double ay,
                                double ax)
{
    ellipsoid e;
    memset(&e, 0, sizeof e);
    rotation(az, ay, ax, e.rot);
    for (int i = 0; i < 3; i++) {
        e.c[i] = c[i];
        e.r[i] = r[i];
        for (int j = 0; j < 3; j++)
            e.a[i * 3 + j] = e.rot[j * 3 + i] / r[i]; /* diag(1/r) * R^T */
    }
    e.rmean = (r[0] + r[1] + r[2]) / 3.0;
    return e;
}

static void random_noise(rng *g, noise_term *t, double amp, double wavelength_mm)
{
    t->amp = amp;
    for (int i = 0; i < 3; i++) {
        double wl = wavelength_mm * rng_range(g, 0.6, 1.6);
        t->k[i] = 2.0 * PI / wl;
        t->phase[i] = rng_range(g, 0.0, 2.0 * PI);
    }
}

static double noise_bound(const noise_term *t, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += fabs(t[i].amp);
    return s;
}

/* Expands the voxel box [lo, hi] to hold the part of e where its term of f can be
 * positive given `margin` mm of noise and offset. */
static void box_add(const ellipsoid *e, double margin, const bench_phantom_params *p,
                    long lo[3], long hi[3])
{
    double s = 1.0 + margin / e->rmean + 1e-9;
    for (int i = 0; i < 3; i++) {
        double h = 0;
        for (int j = 0; j < 3; j++) {
            double v = e->rot[i * 3 + j] * e->r[j] * s;
            h += v * v;
        }
        h = sqrt(h);
        long a = (long)floor((e->c[i] - h) / p->spacing[i]) - 1;
        long b = (long)ceil((e->c[i] + h) / p->spacing[i]) + 1;
        if (a < 0)
            a = 0;
        if (b > (long)p->size[i] - 1)
            b = (long)p->size[i] - 1;
        if (a < lo[i])
            lo[i] = a;
        if (b > hi[i])
            hi[i] = b;
    }
}

/* Per-ellipsoid state for a row: q = a*(p - c) at the current x, dq its x step. */
typedef struct row_state {
    double q[3], dq[3], rmean;
} row_state;

static void row_init(const ellipsoid *e, long x0, long y, long z, const double sp[3],
                     row_state *rs)
{
    double d[3] = {(double)x0 * sp[0] - e->c[0], (double)y * sp[1] - e->c[1],
                   (double)z * sp[2] - e->c[2]};
    for (int i = 0; i < 3; i++) {
        rs->q[i] = e->a[i * 3] * d[0] + e->a[i * 3 + 1] * d[1] + e->a[i * 3 + 2] * d[2];
        rs->dq[i] = e->a[i * 3] * sp[0];
    }
    rs->rmean = e->rmean;
}

static double ell_value(const row_state *rs, long step)
{
    double q0 = rs->q[0] + (double)step * rs->dq[0];
    double q1 = rs->q[1] + (double)step * rs->dq[1];
    double q2 = rs->q[2] + (double)step * rs->dq[2];
    return rs->rmean * (1.0 - sqrt(q0 * q0 + q1 * q1 + q2 * q2));
}

/* Draws one structure into the masks (OR). Returns -1 when out of memory. */
static int rasterize(const structure *s, const bench_phantom_params *p, uint8_t *ref,
                     uint8_t *pred)
{
    double margin = noise_bound(s->nr, s->n_nr) + noise_bound(s->nt, s->n_nt) +
                    (s->offset > 0 ? s->offset : 0);
    long lo[3] = {(long)p->size[0], (long)p->size[1], (long)p->size[2]};
    long hi[3] = {-1, -1, -1};
    for (int e = 0; e < s->n_ref; e++)
        box_add(&s->ref_e[e], margin, p, lo, hi);
    if (!s->pred_same)
        for (int e = 0; e < s->n_pred; e++)
            box_add(&s->pred_e[e], margin, p, lo, hi);
    for (int i = 0; i < 3; i++)
        if (lo[i] > hi[i])
            return 0; /* entirely outside the image */

    size_t nx = (size_t)(hi[0] - lo[0] + 1), ny = (size_t)(hi[1] - lo[1] + 1),
           nz = (size_t)(hi[2] - lo[2] + 1);
    int nn = s->n_nr + s->n_nt;
    /* per-axis cosine tables of every noise term */
    double *tab = malloc(sizeof(double) * (size_t)(nn > 0 ? nn : 1) * (nx + ny + nz));
    double *fr = malloc(sizeof(double) * nx);
    double *ft = malloc(sizeof(double) * nx);
    if (!tab || !fr || !ft) {
        free(tab);
        free(fr);
        free(ft);
        return -1;
    }
    const size_t axis_len[3] = {nx, ny, nz};
    for (int t = 0; t < nn; t++) {
        const noise_term *nt = t < s->n_nr ? &s->nr[t] : &s->nt[t - s->n_nr];
        double *base = tab + (size_t)t * (nx + ny + nz);
        size_t off = 0;
        for (int ax = 0; ax < 3; ax++) {
            for (size_t i = 0; i < axis_len[ax]; i++)
                base[off + i] =
                    cos(nt->k[ax] * (double)((long)i + lo[ax]) * p->spacing[ax] + nt->phase[ax]);
            off += axis_len[ax];
        }
    }

    const size_t sx = p->size[0], sxy = p->size[0] * p->size[1];
    row_state rs_ref[MAX_ELL], rs_pred[MAX_ELL], rs_cut;
    double rowamp[2 * MAX_NOISE];
    for (long z = lo[2]; z <= hi[2]; z++) {
        for (long y = lo[1]; y <= hi[1]; y++) {
            for (int t = 0; t < nn; t++) {
                const noise_term *nt = t < s->n_nr ? &s->nr[t] : &s->nt[t - s->n_nr];
                const double *base = tab + (size_t)t * (nx + ny + nz);
                rowamp[t] = nt->amp * base[nx + (size_t)(y - lo[1])] *
                            base[nx + ny + (size_t)(z - lo[2])];
            }
            for (int e = 0; e < s->n_ref; e++)
                row_init(&s->ref_e[e], lo[0], y, z, p->spacing, &rs_ref[e]);
            if (!s->pred_same)
                for (int e = 0; e < s->n_pred; e++)
                    row_init(&s->pred_e[e], lo[0], y, z, p->spacing, &rs_pred[e]);
            if (s->has_cut)
                row_init(&s->cut, lo[0], y, z, p->spacing, &rs_cut);

            for (size_t i = 0; i < nx; i++) {
                double nr = 0, ntv = 0;
                for (int t = 0; t < s->n_nr; t++)
                    nr += rowamp[t] * tab[(size_t)t * (nx + ny + nz) + i];
                for (int t = s->n_nr; t < nn; t++)
                    ntv += rowamp[t] * tab[(size_t)t * (nx + ny + nz) + i];
                double br = -INFINITY;
                for (int e = 0; e < s->n_ref; e++) {
                    double v = ell_value(&rs_ref[e], (long)i);
                    if (v > br)
                        br = v;
                }
                double bt = br;
                if (!s->pred_same) {
                    bt = -INFINITY;
                    for (int e = 0; e < s->n_pred; e++) {
                        double v = ell_value(&rs_pred[e], (long)i);
                        if (v > bt)
                            bt = v;
                    }
                }
                fr[i] = br + nr;
                double vt = bt + nr + ntv + s->offset;
                if (s->has_cut) {
                    double c = ell_value(&rs_cut, (long)i);
                    if (-c < vt)
                        vt = -c;
                }
                ft[i] = vt;
            }
            size_t row = (size_t)lo[0] + sx * (size_t)y + sxy * (size_t)z;
            for (size_t i = 0; i < nx; i++) {
                ref[row + i] |= (uint8_t)(fr[i] > 0);
                pred[row + i] |= (uint8_t)(ft[i] > 0);
            }
        }
    }
    free(tab);
    free(fr);
    free(ft);
    return 0;
}

static double fov(const bench_phantom_params *p, int axis)
{
    return (double)(p->size[axis] - 1) * p->spacing[axis];
}

/* ---- MS: lesions inside a brain-sized ellipsoid ---- */
static int build_ms(const bench_phantom_params *p, rng *g, structure *st)
{
    int n = 0;
    double brain_c[3], brain_r[3];
    for (int i = 0; i < 3; i++) {
        brain_c[i] = 0.5 * fov(p, i);
        brain_r[i] = 0.33 * fov(p, i);
    }
    double rcap = fmin(8.0, fmin(brain_r[0], fmin(brain_r[1], brain_r[2])) / 3.0);
    int lesions = rng_int(g, 5, 60);
    int spurious = rng_int(g, 0, lesions / 3 + 1);
    for (int l = 0; l < lesions + spurious && n < MAX_STRUCT; l++) {
        structure *s = &st[n++];
        memset(s, 0, sizeof *s);
        int fp = l >= lesions;
        double c[3];
        for (;;) { /* uniform inside 80 % of the brain */
            double q = 0;
            for (int i = 0; i < 3; i++) {
                double u = rng_range(g, -1, 1);
                c[i] = brain_c[i] + 0.8 * brain_r[i] * u;
                q += u * u;
            }
            if (q <= 1)
                break;
        }
        double u = rng_uniform(g);
        double r0 = fp ? rng_range(g, 1.5, 4.0) : 1.5 + 6.5 * u * u;
        if (r0 > rcap)
            r0 = rcap;
        ellipsoid *es = fp ? s->pred_e : s->ref_e;
        int ne = rng_uniform(g) < 0.3 ? 2 : 1;
        for (int e = 0; e < ne; e++) {
            double r[3], ce[3];
            for (int i = 0; i < 3; i++) {
                r[i] = r0 * rng_range(g, 0.7, 1.3);
                ce[i] = c[i] + (e ? rng_range(g, -r0, r0) : 0.0);
            }
            es[e] = make_ellipsoid(ce, r, rng_range(g, 0, PI), rng_range(g, -0.5, 0.5),
                                   rng_range(g, -0.5, 0.5));
        }
        random_noise(g, &s->nr[0], 0.25, 3.0 * r0);
        s->n_nr = 1;
        if (fp) {
            s->n_pred = ne;
            continue;
        }
        s->n_ref = ne;
        if (rng_uniform(g) < 0.2)
            continue; /* missed */
        /* detected: boundaries shifted by about one voxel */
        s->n_pred = ne;
        for (int e = 0; e < ne; e++) {
            double r[3], ce[3];
            for (int i = 0; i < 3; i++) {
                r[i] = fmax(0.8, s->ref_e[e].r[i] + rng_range(g, -1.0, 1.0) * p->spacing[i]);
                ce[i] = s->ref_e[e].c[i] + rng_range(g, -1.0, 1.0) * p->spacing[i];
            }
            ellipsoid tmp = make_ellipsoid(ce, r, 0, 0, 0);
            memcpy(tmp.rot, s->ref_e[e].rot, sizeof tmp.rot); /* keep the orientation */
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    tmp.a[i * 3 + j] = tmp.rot[j * 3 + i] / r[i];
            s->pred_e[e] = tmp;
        }
        random_noise(g, &s->nt[0], 0.3, 2.0 * r0);
        s->n_nt = 1;
    }
    return n;
}

/* ---- PET: one to three tumours, spheres or irregular ---- */
static int build_pet(const bench_phantom_params *p, rng *g, structure *st)
{
    int n = 0;
    double fmin_mm = fmin(fov(p, 0), fmin(fov(p, 1), fov(p, 2)));
    int tumours = rng_int(g, 1, 3);
    for (int t = 0; t < tumours; t++) {
        structure *s = &st[n++];
        memset(s, 0, sizeof *s);
        double r0 = fmin(rng_range(g, 8.0, 40.0), fmin_mm / 8.0);
        double c[3] = {rng_range(g, 0.3, 0.7) * fov(p, 0), rng_range(g, 0.3, 0.7) * fov(p, 1),
                       rng_range(g, 0.2, 0.8) * fov(p, 2)};
        if (rng_uniform(g) < 0.4) { /* sphere */
            double r[3] = {r0, r0, r0};
            s->ref_e[0] = make_ellipsoid(c, r, 0, 0, 0);
            s->n_ref = 1;
            random_noise(g, &s->nr[0], 0.05 * r0, 1.5 * r0);
            s->n_nr = 1;
        } else { /* irregular: several lobes and a rougher surface */
            s->n_ref = rng_int(g, 2, 4);
            for (int e = 0; e < s->n_ref; e++) {
                double r[3], ce[3];
                for (int i = 0; i < 3; i++) {
                    r[i] = r0 * rng_range(g, 0.5, 1.0);
                    ce[i] = c[i] + (e ? rng_range(g, -0.6, 0.6) * r0 : 0.0);
                }
                s->ref_e[e] = make_ellipsoid(ce, r, rng_range(g, 0, PI), rng_range(g, -1, 1),
                                             rng_range(g, -1, 1));
            }
            random_noise(g, &s->nr[0], 0.12 * r0, 0.8 * r0);
            random_noise(g, &s->nr[1], 0.05 * r0, 0.3 * r0);
            s->n_nr = 2;
        }
        /* prediction: dilated or eroded (threshold choice) plus smooth error */
        s->pred_same = 1;
        s->n_pred = s->n_ref;
        double off = rng_range(g, 2.0, 5.0);
        s->offset = rng_uniform(g) < 0.5 ? off : -0.5 * off;
        if (s->offset < -0.4 * r0)
            s->offset = -0.4 * r0;
        random_noise(g, &s->nt[0], 1.5, 40.0);
        random_noise(g, &s->nt[1], 0.6, 12.0);
        s->n_nt = 2;
    }
    if (rng_uniform(g) < 0.6) { /* a false-positive hot spot */
        structure *s = &st[n++];
        memset(s, 0, sizeof *s);
        double r0 = fmin(rng_range(g, 6.0, 12.0), fmin_mm / 10.0);
        double c[3] = {rng_range(g, 0.3, 0.7) * fov(p, 0), rng_range(g, 0.3, 0.7) * fov(p, 1),
                       rng_range(g, 0.2, 0.8) * fov(p, 2)};
        double r[3] = {r0, r0 * 0.8, r0 * 1.2};
        s->pred_e[0] = make_ellipsoid(c, r, rng_range(g, 0, PI), 0, 0);
        s->n_pred = 1;
    }
    return n;
}

/* ---- CT: large organs ---- */
typedef struct organ {
    double pos[3];  /* fraction of the field of view */
    double r[3][3]; /* radii (mm, at the reference scale) of up to 3 lobes */
    double lobe_off[3][3];
    int lobes;
    double angle;
    double rough; /* reference surface noise, mm */
} organ;

static int build_ct(const bench_phantom_params *p, rng *g, structure *st)
{
    static const organ organs[] = {
        /* liver */
        {{0.36, 0.45, 0.60},
         {{75, 60, 70}, {45, 40, 45}, {50, 35, 40}},
         {{0, 0, 0}, {50, -10, 15}, {-10, 20, -40}},
         3, 0.2, 2.0},
        /* spleen */
        {{0.72, 0.60, 0.62}, {{30, 50, 55}}, {{0, 0, 0}}, 1, 0.5, 1.5},
        /* kidneys */
        {{0.33, 0.72, 0.42}, {{28, 25, 50}}, {{0, 0, 0}}, 1, 0.35, 1.0},
        {{0.67, 0.72, 0.44}, {{28, 25, 50}}, {{0, 0, 0}}, 1, -0.35, 1.0},
        /* aorta */
        {{0.52, 0.62, 0.50}, {{12, 12, 130}}, {{0, 0, 0}}, 1, 0.0, 0.3},
    };
    /* organ sizes are for a 358 x 358 x 300 mm field of view; scale to this one */
    double scale = fmin(fmin(fov(p, 0) / 358.0, fov(p, 1) / 358.0), fov(p, 2) / 300.0);
    int n = 0;
    for (size_t o = 0; o < sizeof organs / sizeof organs[0]; o++) {
        const organ *og = &organs[o];
        structure *s = &st[n++];
        memset(s, 0, sizeof *s);
        double c[3];
        for (int i = 0; i < 3; i++)
            c[i] = og->pos[i] * fov(p, i) + rng_range(g, -5, 5) * scale;
        s->n_ref = og->lobes;
        for (int e = 0; e < og->lobes; e++) {
            double r[3], ce[3];
            for (int i = 0; i < 3; i++) {
                r[i] = og->r[e][i] * scale * rng_range(g, 0.9, 1.1);
                ce[i] = c[i] + og->lobe_off[e][i] * scale;
            }
            s->ref_e[e] = make_ellipsoid(ce, r, og->angle + rng_range(g, -0.1, 0.1),
                                         rng_range(g, -0.1, 0.1), rng_range(g, -0.1, 0.1));
        }
        double rough = fmax(0.3, og->rough * scale);
        random_noise(g, &s->nr[0], rough, 30.0 * scale);
        random_noise(g, &s->nr[1], 0.4 * rough, 10.0 * scale);
        s->n_nr = 2;
        /* prediction: smooth surface errors of a few mm */
        s->pred_same = 1;
        s->n_pred = s->n_ref;
        s->offset = rng_range(g, -0.5, 0.5) * scale;
        double err_mm = o == 4 ? 1.0 : 6.0; /* the aorta is easy to segment */
        random_noise(g, &s->nt[0], fmax(0.7, err_mm * scale), 60.0 * scale);
        random_noise(g, &s->nt[1], fmax(0.35, 0.4 * err_mm * scale), 20.0 * scale);
        s->n_nt = 2;
        if (o == 0) {
            /* outliers: a missed bite at the liver's edge ... */
            double cc[3] = {c[0] - 70 * scale, c[1], c[2] + 10 * scale};
            double rc[3] = {14 * scale, 14 * scale, 14 * scale};
            s->cut = make_ellipsoid(cc, rc, 0, 0, 0);
            s->has_cut = 1;
            /* ... and a false positive a few cm off the surface */
            structure *f = &st[n++];
            memset(f, 0, sizeof *f);
            double cf[3] = {c[0] + 20 * scale, c[1] - 85 * scale, c[2] - 20 * scale};
            double rf[3] = {9 * scale, 7 * scale, 10 * scale};
            f->pred_e[0] = make_ellipsoid(cf, rf, 0.3, 0, 0);
            f->n_pred = 1;
        }
    }
    return n;
}

void bench_phantom_default_params(bench_phantom_kind kind, int quick, bench_phantom_params *p)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    switch (kind) {
    case BENCH_PHANTOM_MS:
        p->size[0] = quick ? 60 : 181;
        p->size[1] = quick ? 64 : 217;
        p->size[2] = quick ? 48 : 181;
        p->spacing[0] = p->spacing[1] = p->spacing[2] = 1.0;
        p->seed = 9; /* 29 lesions in the reference, 26 in the prediction */
        break;
    case BENCH_PHANTOM_PET:
        p->size[0] = quick ? 64 : 344;
        p->size[1] = quick ? 64 : 344;
        p->size[2] = quick ? 40 : 220;
        p->spacing[0] = p->spacing[1] = 2.0;
        p->spacing[2] = 3.0;
        p->seed = 9; /* 3 tumours and a false-positive hot spot */
        break;
    case BENCH_PHANTOM_CT:
        p->size[0] = quick ? 96 : 512;
        p->size[1] = quick ? 96 : 512;
        p->size[2] = quick ? 64 : 300;
        p->spacing[0] = p->spacing[1] = 0.7;
        p->spacing[2] = 1.0;
        p->seed = 2019;
        p->touch_border = quick; /* the smoke test also covers the image-border rule */
        break;
    }
}

const char *bench_phantom_kind_name(bench_phantom_kind kind)
{
    switch (kind) {
    case BENCH_PHANTOM_MS:
        return "ms";
    case BENCH_PHANTOM_PET:
        return "pet";
    case BENCH_PHANTOM_CT:
        return "ct";
    }
    return "?";
}

int bench_phantom_generate(const bench_phantom_params *p, bench_phantom *out)
{
    memset(out, 0, sizeof *out);
    size_t n = p->size[0] * p->size[1] * p->size[2];
    structure *st = malloc(sizeof(structure) * MAX_STRUCT);
    uint8_t *ref = calloc(n, 1), *pred = calloc(n, 1);
    if (!st || !ref || !pred) {
        free(st);
        free(ref);
        free(pred);
        return -1;
    }
    rng g = {p->seed * 0x2545F4914F6CDD1DULL + (uint64_t)p->kind};
    int ns = 0;
    switch (p->kind) {
    case BENCH_PHANTOM_MS:
        ns = build_ms(p, &g, st);
        break;
    case BENCH_PHANTOM_PET:
        ns = build_pet(p, &g, st);
        break;
    case BENCH_PHANTOM_CT:
        ns = build_ct(p, &g, st);
        break;
    }
    if (p->touch_border && ns > 0) {
        /* move the first structure so that the plane z = 0 cuts it */
        structure *s = &st[0];
        double dz = -s->ref_e[0].c[2] + 0.3 * s->ref_e[0].r[2];
        for (int e = 0; e < s->n_ref; e++)
            s->ref_e[e].c[2] += dz;
        for (int e = 0; e < s->n_pred; e++)
            s->pred_e[e].c[2] += dz;
        if (s->has_cut)
            s->cut.c[2] += dz;
    }
    int nref = 0, npred = 0;
    for (int i = 0; i < ns; i++) {
        if (rasterize(&st[i], p, ref, pred) != 0) {
            free(st);
            free(ref);
            free(pred);
            return -1;
        }
        nref += st[i].n_ref > 0;
        npred += st[i].n_pred > 0 || (st[i].pred_same && st[i].n_ref > 0);
    }
    free(st);
    memcpy(out->size, p->size, sizeof out->size);
    memcpy(out->spacing, p->spacing, sizeof out->spacing);
    out->ref = ref;
    out->pred = pred;
    out->structures_ref = nref;
    out->structures_pred = npred;
    return 0;
}

void bench_phantom_free(bench_phantom *ph)
{
    free(ph->ref);
    free(ph->pred);
    memset(ph, 0, sizeof *ph);
}

void bench_morph_step(const uint8_t *in, uint8_t *out, size_t nx, size_t ny, size_t nz, int grow) {
    size_t plane = nx * ny;
    for (size_t z = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                size_t i = x + nx * (y + ny * z);
                uint8_t n[6] = {x > 0 ? in[i - 1] : 0, x + 1 < nx ? in[i + 1] : 0, y > 0 ? in[i - nx] : 0,
                                y + 1 < ny ? in[i + nx] : 0, z > 0 ? in[i - plane] : 0, z + 1 < nz ? in[i + plane] : 0};
                uint8_t any = in[i], all = in[i];
                for (int k = 0; k < 6; k++) any |= n[k], all &= n[k];
                out[i] = grow ? any : all;
            }
}
