/*
 * mask.c: turning a label image into what the metric engine scores, a 0/1 byte
 * per voxel, and listing the labels an image holds. Label images must hold
 * non-negative integers; a negative, NaN, infinite or fractional value is refused
 * naming the file, the voxel (x,y,z) and the value. The uint8 path (the usual
 * mask type) is a single branch-free loop the compiler vectorises.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

static void voxel_xyz(const sa_image *img, size_t i, size_t *x, size_t *y, size_t *z) {
    *x = i % img->size[0];
    *y = (i / img->size[0]) % img->size[1];
    *z = i / (img->size[0] * img->size[1]);
}

/* Describes why value v at voxel i is not a label; returns -1. */
static int bad_voxel(const sa_image *img, const char *path, size_t i, double v, sa_error *err) {
    size_t x, y, z;
    voxel_xyz(img, i, &x, &y, &z);
    const char *what = isnan(v) ? "NaN" : !isfinite(v) ? "an infinite value"
                       : v < 0  ? "a negative value"
                       : v != floor(v) ? "a non-integer value"
                                       : "a value too large for a label";
    return sa_error_set(err, "%s: voxel (%zu,%zu,%zu) holds %s (%.17g); a label image holds "
                        "non-negative integers", path ? path : "(image)", x, y, z, what, v);
}

/* Finds the first voxel that is not a valid label (only called after a fast pass
 * found one) and reports it. */
static int report_first_bad(const sa_image *img, const char *path, size_t n, sa_error *err) {
    for (size_t i = 0; i < n; i++) {
        double v;
        switch (img->type) {
        case SA_PIXEL_I8: v = ((const int8_t *)img->data)[i]; break;
        case SA_PIXEL_I16: v = ((const int16_t *)img->data)[i]; break;
        case SA_PIXEL_I32: v = ((const int32_t *)img->data)[i]; break;
        case SA_PIXEL_I64: {
            int64_t s = ((const int64_t *)img->data)[i];
            if (s < 0) return bad_voxel(img, path, i, (double)s, err);
            continue;
        }
        case SA_PIXEL_U64: {
            uint64_t u = ((const uint64_t *)img->data)[i];
            if (u > (uint64_t)LONG_MAX) return bad_voxel(img, path, i, (double)u, err);
            continue;
        }
        case SA_PIXEL_F32: v = ((const float *)img->data)[i]; break;
        case SA_PIXEL_F64: v = ((const double *)img->data)[i]; break;
        default: continue;
        }
        if (!(v >= 0) || v != floor(v) || !isfinite(v) || v >= (double)LONG_MAX) /* 2^63 */
            return bad_voxel(img, path, i, v, err);
    }
    return sa_error_set(err, "%s: invalid label value", path ? path : "(image)");
}

/* One pass per integer type: out[i] = inside, bad |= "value is negative". */
#define MASK_SIGNED(T)                                                                 \
    do {                                                                               \
        const T *in = (const T *)img->data;                                            \
        T neg_any = 0;                                                                 \
        if (label < 0) {                                                               \
            for (size_t i = 0; i < n; i++) {                                           \
                neg_any |= (T)(in[i] < 0);                                             \
                out[i] = (uint8_t)(in[i] > 0);                                         \
            }                                                                          \
        } else {                                                                       \
            const T want = (T)label;                                                   \
            int representable = (long)want == label;                                   \
            for (size_t i = 0; i < n; i++) {                                           \
                neg_any |= (T)(in[i] < 0);                                             \
                out[i] = (uint8_t)(representable & (in[i] == want));                   \
            }                                                                          \
        }                                                                              \
        bad = neg_any != 0;                                                            \
    } while (0)

#define MASK_UNSIGNED(T)                                                               \
    do {                                                                               \
        const T *in = (const T *)img->data;                                            \
        if (label < 0) {                                                               \
            for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(in[i] != 0);             \
        } else {                                                                       \
            const T want = (T)label;                                                   \
            int representable = (unsigned long)want == (unsigned long)label;           \
            for (size_t i = 0; i < n; i++)                                             \
                out[i] = (uint8_t)(representable & (in[i] == want));                   \
        }                                                                              \
    } while (0)

#define MASK_FLOAT(T, FLOOR)                                                           \
    do {                                                                               \
        const T *in = (const T *)img->data;                                            \
        const T want = (T)label;                                                       \
        /* a label the type cannot hold exactly matches no voxel */                   \
        int representable = label >= 0 && (double)want == (double)label;              \
        int bad_any = 0;                                                               \
        for (size_t i = 0; i < n; i++) {                                               \
            T v = in[i];                                                               \
            bad_any |= !(v >= 0) | (v != FLOOR(v)) | (v >= (T)LONG_MAX); /* 2^63 */  \
            out[i] = (uint8_t)(label < 0 ? v > 0 : representable & (v == want));       \
        }                                                                              \
        bad = bad_any;                                                                 \
    } while (0)

int sa_mask_from_image(const sa_image *img, const char *path, long label, uint8_t **mask_out,
                       sa_error *err) {
    *mask_out = NULL;
    const char *name = path ? path : "(image)";
    if (!img || !img->data) return sa_error_set(err, "%s: image has no voxel data", name);
    size_t n = sa_image_voxel_count(img);
    if (n == 0) return sa_error_set(err, "%s: image is empty", name);
    uint8_t *out = malloc(n);
    if (!out) return sa_error_set(err, "%s: out of memory for a %zu-voxel mask", name, n);
    int bad = 0;
    switch (img->type) {
    case SA_PIXEL_U8: MASK_UNSIGNED(uint8_t); break;
    case SA_PIXEL_U16: MASK_UNSIGNED(uint16_t); break;
    case SA_PIXEL_U32: MASK_UNSIGNED(uint32_t); break;
    case SA_PIXEL_U64: {
        const uint64_t *in = (const uint64_t *)img->data;
        uint64_t high = 0;
        for (size_t i = 0; i < n; i++) high |= in[i];
        bad = high > (uint64_t)LONG_MAX;
        if (!bad) MASK_UNSIGNED(uint64_t);
        break;
    }
    case SA_PIXEL_I8: MASK_SIGNED(int8_t); break;
    case SA_PIXEL_I16: MASK_SIGNED(int16_t); break;
    case SA_PIXEL_I32: MASK_SIGNED(int32_t); break;
    case SA_PIXEL_I64: MASK_SIGNED(int64_t); break;
    case SA_PIXEL_F32: MASK_FLOAT(float, floorf); break;
    case SA_PIXEL_F64: MASK_FLOAT(double, floor); break;
    default:
        free(out);
        return sa_error_set(err, "%s: unknown pixel type", name);
    }
    if (bad) {
        free(out);
        return report_first_bad(img, path, n, err);
    }
    *mask_out = out;
    return 0;
}

/* ---- distinct labels ---- */

/* A small open-addressing set of positive longs (0 marks an empty slot). */
typedef struct label_set {
    long *slots;
    size_t cap, count;
} label_set;

static int label_set_add(label_set *s, long v) {
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        long *slots = calloc(cap, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < s->cap; i++) {
            long w = s->slots[i];
            if (!w) continue;
            size_t h = ((uint64_t)w * 0x9E3779B97F4A7C15ull) & (cap - 1);
            while (slots[h]) h = (h + 1) & (cap - 1);
            slots[h] = w;
        }
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    size_t h = ((uint64_t)v * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->slots[h]) {
        if (s->slots[h] == v) return 0;
        h = (h + 1) & (s->cap - 1);
    }
    s->slots[h] = v;
    s->count++;
    return 0;
}

static int compare_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Small integer types: a presence table, one pass. */
#define LABELS_BY_TABLE(T, OFFSET, RANGE)                                              \
    do {                                                                               \
        const T *in = (const T *)img->data;                                            \
        uint8_t *seen = calloc(RANGE, 1);                                              \
        if (!seen) return sa_error_set(err, "%s: out of memory", name);                \
        for (size_t i = 0; i < n; i++) seen[(long)in[i] + (OFFSET)] = 1;               \
        for (long v = 1; v + (OFFSET) < (long)(RANGE); v++)                            \
            if (seen[v + (OFFSET)] && label_set_add(&set, v) != 0) {                   \
                free(seen);                                                            \
                free(set.slots);                                                       \
                return sa_error_set(err, "%s: out of memory", name);                  \
            }                                                                          \
        free(seen);                                                                    \
    } while (0)

/* Wider types: a hash set, skipping runs of the same value (validated first:
 * every value is below 2^63, so (long)v is exact). */
#define LABELS_BY_SET(T)                                                               \
    do {                                                                               \
        const T *in = (const T *)img->data;                                            \
        T last = 0;                                                                    \
        for (size_t i = 0; i < n; i++) {                                               \
            T v = in[i];                                                               \
            if (v == last || !(v > 0)) continue;                                       \
            last = v;                                                                  \
            if (label_set_add(&set, (long)v) != 0) {                                   \
                free(set.slots);                                                       \
                return sa_error_set(err, "%s: out of memory", name);                   \
            }                                                                          \
        }                                                                              \
    } while (0)

int sa_image_labels(const sa_image *img, const char *path, long **labels_out, size_t *count_out,
                    sa_error *err) {
    *labels_out = NULL;
    *count_out = 0;
    const char *name = path ? path : "(image)";
    /* validate exactly as sa_mask_from_image does (one cheap pass) */
    uint8_t *mask = NULL;
    if (sa_mask_from_image(img, path, -1, &mask, err) != 0) return -1;
    free(mask);
    size_t n = sa_image_voxel_count(img);
    label_set set = {NULL, 0, 0};
    switch (img->type) {
    case SA_PIXEL_U8: LABELS_BY_TABLE(uint8_t, 0, 256); break;
    case SA_PIXEL_I8: LABELS_BY_TABLE(int8_t, 128, 256); break;
    case SA_PIXEL_U16: LABELS_BY_TABLE(uint16_t, 0, 65536); break;
    case SA_PIXEL_I16: LABELS_BY_TABLE(int16_t, 32768, 65536); break;
    case SA_PIXEL_U32: LABELS_BY_SET(uint32_t); break;
    case SA_PIXEL_I32: LABELS_BY_SET(int32_t); break;
    case SA_PIXEL_U64: LABELS_BY_SET(uint64_t); break;
    case SA_PIXEL_I64: LABELS_BY_SET(int64_t); break;
    case SA_PIXEL_F32: LABELS_BY_SET(float); break;
    case SA_PIXEL_F64: LABELS_BY_SET(double); break;
    }
    if (set.count == 0) {
        free(set.slots);
        return 0;
    }
    long *labels = malloc(set.count * sizeof *labels);
    if (!labels) {
        free(set.slots);
        return sa_error_set(err, "%s: out of memory", name);
    }
    size_t k = 0;
    for (size_t i = 0; i < set.cap; i++)
        if (set.slots[i]) labels[k++] = set.slots[i];
    free(set.slots);
    qsort(labels, k, sizeof *labels, compare_long);
    *labels_out = labels;
    *count_out = k;
    return 0;
}

/* The value of voxel i as a double (exact for every label a mask can hold). */
static double voxel_value(const sa_image *img, size_t i) {
    switch (img->type) {
    case SA_PIXEL_U8: return ((const uint8_t *)img->data)[i];
    case SA_PIXEL_I8: return ((const int8_t *)img->data)[i];
    case SA_PIXEL_U16: return ((const uint16_t *)img->data)[i];
    case SA_PIXEL_I16: return ((const int16_t *)img->data)[i];
    case SA_PIXEL_U32: return ((const uint32_t *)img->data)[i];
    case SA_PIXEL_I32: return ((const int32_t *)img->data)[i];
    case SA_PIXEL_U64: return (double)((const uint64_t *)img->data)[i];
    case SA_PIXEL_I64: return (double)((const int64_t *)img->data)[i];
    case SA_PIXEL_F32: return ((const float *)img->data)[i];
    case SA_PIXEL_F64: return ((const double *)img->data)[i];
    }
    return NAN;
}

int sa_image_check_binary(const sa_image *img, const char *path, sa_error *err) {
    size_t n = sa_image_voxel_count(img);
    if (img->type == SA_PIXEL_U8) { /* the common case, without conversions */
        const uint8_t *p = img->data;
        size_t i = 0;
        while (i < n && p[i] <= 1) i++;
        if (i == n) return 0;
        n = i + 1;
    }
    for (size_t i = 0; i < n; i++) {
        double v = voxel_value(img, i);
        if (v == 0.0 || v == 1.0) continue;
        size_t x, y, z;
        voxel_xyz(img, i, &x, &y, &z);
        return sa_error_set(err, "%s: voxel (%zu,%zu,%zu) holds %.17g; a binary mask holds only 0 and 1",
                            path ? path : "(image)", x, y, z, v);
    }
    return 0;
}
