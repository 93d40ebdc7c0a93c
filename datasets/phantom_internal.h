/*
 * phantom_internal.h: what the synthetic test-set generators share (phantom_*.c,
 * bids_write.c): a portable PRNG, smooth noise fields, partial-volume ramps,
 * Gaussian blur. Nothing here depends on the C library's rand() or on the thread
 * count, so a seed gives the same bytes everywhere.
 */
#ifndef SEGARENA_PHANTOM_INTERNAL_H
#define SEGARENA_PHANTOM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "datasets.h"

/* xoshiro256** seeded through splitmix64. */
typedef struct ph_rng {
    uint64_t s[4];
} ph_rng;

uint64_t ph_splitmix64(uint64_t *state);
void ph_rng_seed(ph_rng *r, uint64_t seed);
/* A stream for one purpose of one case: (seed, kind, case, purpose) -> rng. */
void ph_rng_stream(ph_rng *r, uint64_t seed, uint64_t kind, uint64_t index, uint64_t purpose);
uint64_t ph_rng_u64(ph_rng *r);
double ph_uniform(ph_rng *r);                   /* [0, 1), 53 bits */
double ph_range(ph_rng *r, double lo, double hi); /* [lo, hi) */
int ph_int(ph_rng *r, int lo, int hi);          /* lo..hi inclusive */
double ph_normal(ph_rng *r);                    /* N(0,1), Marsaglia polar */

/* Smooth value noise: random lattice values in [-1, 1] every `cell` voxels,
 * interpolated with a C2 quintic fade. Roughly zero-mean, amplitude <= 1. */
typedef struct ph_noise {
    size_t n[3];
    double cell[3]; /* voxels per lattice cell along x, y, z */
    float *v;
} ph_noise;

int ph_noise_init(ph_noise *f, ph_rng *r, const size_t size[3], const double cell[3]);
double ph_noise_at(const ph_noise *f, double x, double y, double z);
void ph_noise_free(ph_noise *f);

/* Partial-volume fraction of a voxel whose centre is d voxels inside a boundary
 * (d < 0 outside): a smooth ramp from 0 at d = -w to 1 at d = +w. */
double ph_pv(double d, double w);

/* In-place separable Gaussian blur of a float volume, sigma in voxels per axis
 * (0 = no blur on that axis), edges clamped. Returns 0 or -1 (out of memory). */
int ph_blur(float *v, const size_t size[3], const double sigma[3]);

/* Geometry of a case: spacing, RAS origin centred on the grid, LPS direction
 * diag(-1,-1,1) (a RAS-oriented NIfTI). */
void ph_geometry(sa_image *img, const size_t size[3], const double spacing[3]);

/* An image with img's geometry and freshly allocated voxels of type t (zeroed). */
int ph_image_like(sa_image *out, const sa_image *geom, sa_pixel_type t);

static inline double ph_clamp(double x, double lo, double hi) {
    return x < lo ? lo : x > hi ? hi : x;
}

int ph_ms_generate(const sa_phantom_options *opt, int index, sa_phantom_case *out, sa_error *err);
int ph_pet_generate(const sa_phantom_options *opt, int index, sa_phantom_case *out, sa_error *err);

/* An ellipsoid: centre, unit axis directions (rows) and semi-axes, in one unit
 * (voxels for MS, mm for PET). */
typedef struct ph_ellipsoid {
    double c[3];
    double axis[3][3];
    double a[3];
} ph_ellipsoid;

/* First-order signed distance to its surface (> 0 inside), in its unit: smooth
 * boundaries for partial-volume blending (phantom_common.c). */
double ph_ellipsoid_distance(const ph_ellipsoid *e, double x, double y, double z);

/* Raters (phantom_raters.c). */
typedef struct ph_lesion_info {
    double voxels;    /* true volume in voxels */
    double centre[3]; /* voxel coordinates */
    double radius;    /* a typical radius, voxels */
} ph_lesion_info;

/* MS raters from the truth's signed distance (voxels, > 0 inside, clamped to
 * +-sd_clamp) and lesion ids (0 = none, 1..n). FP candidates are voxels where
 * mimic != 0 (FLAIR-bright non-lesions). */
int ph_ms_raters(ph_rng *r, const size_t size[3], const float *sd, const uint16_t *lid,
                 const ph_lesion_info *les, size_t n_les, const uint8_t *mimic,
                 uint8_t *const *masks, size_t n_raters);

#endif
