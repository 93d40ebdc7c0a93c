/*
 * phantoms.h: deterministic (seeded) pairs of binary masks for the benchmark.
 *
 * The benchmark must compare SegArena's engine with ITK on data that looks like the
 * three kinds of cases the platform scores (MS lesions, PET tumours, CT organs) at
 * their real sizes, without shipping 100 MB of images. These generators build a
 * reference mask and a "prediction" that disagrees with it the way real models do
 * (missed and spurious lesions, boundaries shifted by about a voxel, smooth surface
 * errors of a few mm with a few outliers), in a second or two even for 78 M voxels.
 *
 * Masks hold 0 or 1 per voxel, x fastest: index = x + nx*(y + ny*z).
 */
#ifndef SEGARENA_BENCH_PHANTOMS_H
#define SEGARENA_BENCH_PHANTOMS_H

#include <stddef.h>
#include <stdint.h>

typedef enum bench_phantom_kind {
    BENCH_PHANTOM_MS,  /* small lesions in a brain-sized field of view */
    BENCH_PHANTOM_PET, /* 1-3 tumours, anisotropic voxels */
    BENCH_PHANTOM_CT   /* large organs (liver, spleen, kidneys, aorta) */
} bench_phantom_kind;

typedef struct bench_phantom_params {
    bench_phantom_kind kind;
    size_t size[3];
    double spacing[3]; /* mm */
    uint64_t seed;
    /* When non-zero, one structure is placed so that it is cut by the image border,
     * to exercise the "outside the image counts as background" surface rule. */
    int touch_border;
} bench_phantom_params;

typedef struct bench_phantom {
    size_t size[3];
    double spacing[3];
    uint8_t *ref;  /* malloc'ed, size[0]*size[1]*size[2] bytes */
    uint8_t *pred; /* same */
    int structures_ref;  /* number of structures (lesions, tumours, organs) in ref */
    int structures_pred; /* in pred (spurious ones included, missed ones excluded) */
} bench_phantom;

/* The benchmark's standard cases: full size, or tiny (quick != 0) for smoke tests. */
void bench_phantom_default_params(bench_phantom_kind kind, int quick, bench_phantom_params *p);

/* Generates the pair. Returns 0, or -1 when out of memory (out is then zeroed). */
int bench_phantom_generate(const bench_phantom_params *p, bench_phantom *out);

void bench_phantom_free(bench_phantom *ph);

const char *bench_phantom_kind_name(bench_phantom_kind kind);

/* One step of 6-connected dilation (grow != 0) or erosion of a 0/1 mask of
 * nx*ny*nz voxels (outside the image counts as outside): how the benchmarks'
 * simulated raters draw a boundary wider or tighter. */
void bench_morph_step(const uint8_t *in, uint8_t *out, size_t nx, size_t ny, size_t nz, int grow);

#endif
