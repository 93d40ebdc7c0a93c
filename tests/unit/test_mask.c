/*
 * test_mask.c: unit tests of the in-memory image helpers: sa_mask_from_image
 * (label < 0: value > 0; label >= 0: value == label; refusals naming voxel and
 * value, float labels from 2^63 up) and sa_image_labels for every pixel type,
 * sa_image_same_geometry at the spec's tolerances, sa_image_grid, sa_pixel_size
 * and sa_pixel_type_name.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasets.h"
#include "test.h"

enum { NX = 4, NY = 3, NZ = 2, N = NX * NY * NZ };

/* Labels 0..3 in a fixed pattern, stored as `type`. */
static void make_label_image(sa_image *img, sa_pixel_type type) {
    memset(img, 0, sizeof *img);
    img->size[0] = NX;
    img->size[1] = NY;
    img->size[2] = NZ;
    for (int i = 0; i < 3; i++) img->spacing[i] = 1.0;
    img->direction[0] = img->direction[4] = img->direction[8] = 1.0;
    img->type = type;
    size_t psize = sa_pixel_size(type);
    unsigned char *data = calloc(N, psize);
    for (size_t i = 0; i < N; i++) {
        int v = i % 5 == 4 ? 0 : (int)((i * 3) % 4);
        unsigned char *p = data + i * psize;
        switch (type) {
        case SA_PIXEL_U8: *(uint8_t *)p = (uint8_t)v; break;
        case SA_PIXEL_I8: *(int8_t *)p = (int8_t)v; break;
        case SA_PIXEL_U16: *(uint16_t *)p = (uint16_t)v; break;
        case SA_PIXEL_I16: *(int16_t *)p = (int16_t)v; break;
        case SA_PIXEL_U32: *(uint32_t *)p = (uint32_t)v; break;
        case SA_PIXEL_I32: *(int32_t *)p = (int32_t)v; break;
        case SA_PIXEL_U64: *(uint64_t *)p = (uint64_t)v; break;
        case SA_PIXEL_I64: *(int64_t *)p = (int64_t)v; break;
        case SA_PIXEL_F32: *(float *)p = (float)v; break;
        case SA_PIXEL_F64: *(double *)p = (double)v; break;
        }
    }
    img->data = data;
}

static double value_at(const sa_image *img, size_t i) {
    const unsigned char *p = (const unsigned char *)img->data + i * sa_pixel_size(img->type);
    switch (img->type) {
    case SA_PIXEL_U8: return *(const uint8_t *)p;
    case SA_PIXEL_I8: return *(const int8_t *)p;
    case SA_PIXEL_U16: return *(const uint16_t *)p;
    case SA_PIXEL_I16: return *(const int16_t *)p;
    case SA_PIXEL_U32: return *(const uint32_t *)p;
    case SA_PIXEL_I32: return *(const int32_t *)p;
    case SA_PIXEL_U64: return (double)*(const uint64_t *)p;
    case SA_PIXEL_I64: return (double)*(const int64_t *)p;
    case SA_PIXEL_F32: return *(const float *)p;
    case SA_PIXEL_F64: return *(const double *)p;
    }
    return 0;
}

static void check_masks(sa_pixel_type type) {
    sa_image img;
    make_label_image(&img, type);
    sa_error err = {{0}};
    long labels_to_try[] = {-1, 0, 1, 2, 3, 7, 300, 70000};
    for (size_t k = 0; k < sizeof labels_to_try / sizeof *labels_to_try; k++) {
        long label = labels_to_try[k];
        uint8_t *mask = NULL;
        CHECK(sa_mask_from_image(&img, "img.nii", label, &mask, &err) == 0);
        int ok = mask != NULL;
        for (size_t i = 0; i < N && ok; i++) {
            double v = value_at(&img, i);
            int inside = label < 0 ? v > 0 : v == (double)label;
            if (mask[i] != inside) ok = 0;
        }
        CHECK(ok);
        free(mask);
    }
    long *labels = NULL;
    size_t count = 0;
    CHECK(sa_image_labels(&img, "img.nii", &labels, &count, &err) == 0);
    CHECK(count == 3);
    CHECK(labels && labels[0] == 1 && labels[1] == 2 && labels[2] == 3);
    free(labels);
    sa_image_free(&img);
    CHECK(img.data == NULL);
}

static int is_signed(sa_pixel_type t) {
    return t == SA_PIXEL_I8 || t == SA_PIXEL_I16 || t == SA_PIXEL_I32 || t == SA_PIXEL_I64 ||
           t == SA_PIXEL_F32 || t == SA_PIXEL_F64;
}

/* A negative value at voxel (1,2,1) is refused, naming file, voxel and value. */
static void check_negative_refused(sa_pixel_type type) {
    sa_image img;
    make_label_image(&img, type);
    size_t i = 1 + NX * (2 + NY * 1);
    unsigned char *p = (unsigned char *)img.data + i * sa_pixel_size(type);
    switch (type) {
    case SA_PIXEL_I8: *(int8_t *)p = -3; break;
    case SA_PIXEL_I16: *(int16_t *)p = -3; break;
    case SA_PIXEL_I32: *(int32_t *)p = -3; break;
    case SA_PIXEL_I64: *(int64_t *)p = -3; break;
    case SA_PIXEL_F32: *(float *)p = -3; break;
    case SA_PIXEL_F64: *(double *)p = -3; break;
    default: break;
    }
    sa_error err = {{0}};
    uint8_t *mask = NULL;
    CHECK(sa_mask_from_image(&img, "seg.nii.gz", -1, &mask, &err) == -1);
    CHECK(mask == NULL);
    CHECK(strncmp(err.msg, "seg.nii.gz: ", 12) == 0);
    CHECK_STR_CONTAINS(err.msg, "voxel (1,2,1)");
    CHECK_STR_CONTAINS(err.msg, "negative");
    CHECK_STR_CONTAINS(err.msg, "-3");
    long *labels = NULL;
    size_t count = 0;
    CHECK(sa_image_labels(&img, "seg.nii.gz", &labels, &count, &err) == -1);
    CHECK(labels == NULL && count == 0);
    sa_image_free(&img);
}

static void check_float_refusals(sa_pixel_type type) {
    double bad[] = {0.5, NAN, INFINITY, 2.25};
    const char *words[] = {"non-integer", "NaN", "infinite", "non-integer"};
    for (int k = 0; k < 4; k++) {
        sa_image img;
        make_label_image(&img, type);
        size_t i = 3 + NX * (1 + NY * 0);
        if (type == SA_PIXEL_F32) ((float *)img.data)[i] = (float)bad[k];
        else ((double *)img.data)[i] = bad[k];
        sa_error err = {{0}};
        uint8_t *mask = NULL;
        CHECK(sa_mask_from_image(&img, "p.mha", 2, &mask, &err) == -1);
        CHECK_STR_CONTAINS(err.msg, "p.mha: voxel (3,1,0)");
        CHECK_STR_CONTAINS(err.msg, words[k]);
        sa_image_free(&img);
    }
}

static void check_u64_too_large(void) {
    sa_image img;
    make_label_image(&img, SA_PIXEL_U64);
    ((uint64_t *)img.data)[5] = UINT64_MAX;
    sa_error err = {{0}};
    uint8_t *mask = NULL;
    CHECK(sa_mask_from_image(&img, "big.nrrd", -1, &mask, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "voxel (1,1,0)");
    CHECK_STR_CONTAINS(err.msg, "too large");
    sa_image_free(&img);
}

/* A float label of 2^63 does not fit a long: refused (it became a bogus label
 * through an overflowing cast); the largest value below it that the type holds
 * is a label; -2^63 is negative. */
static void check_float_too_large(sa_pixel_type type) {
    double two63 = ldexp(1.0, 63);
    double below = type == SA_PIXEL_F32 ? (double)nextafterf((float)two63, 0.0f) : nextafter(two63, 0.0);
    double values[] = {two63, -two63, below};
    for (int k = 0; k < 3; k++) {
        sa_image img;
        make_label_image(&img, type);
        if (type == SA_PIXEL_F32) ((float *)img.data)[5] = (float)values[k];
        else ((double *)img.data)[5] = values[k];
        sa_error err = {{0}};
        uint8_t *mask = NULL;
        long *labels = NULL;
        size_t count = 0;
        if (k < 2) {
            CHECK(sa_mask_from_image(&img, "big.nii", -1, &mask, &err) == -1);
            CHECK_STR_CONTAINS(err.msg, "big.nii: voxel (1,1,0)");
            CHECK_STR_CONTAINS(err.msg, k == 0 ? "too large" : "negative");
            CHECK(sa_image_labels(&img, "big.nii", &labels, &count, &err) == -1);
            CHECK(labels == NULL && count == 0);
        } else {
            CHECK(sa_image_labels(&img, "big.nii", &labels, &count, &err) == 0);
            CHECK(count == 4 && labels && labels[3] == (long)below);
            CHECK(sa_mask_from_image(&img, "big.nii", (long)below, &mask, &err) == 0);
            size_t hits = 0;
            for (size_t i = 0; mask && i < N; i++) hits += mask[i];
            CHECK(mask && mask[5] == 1 && hits == 1);
        }
        free(mask);
        free(labels);
        sa_image_free(&img);
    }
}

static void check_u8_large(void) {
    /* the hot path on a bigger image with every byte value */
    sa_image img = {0};
    img.size[0] = 256;
    img.size[1] = 33;
    img.size[2] = 7;
    for (int i = 0; i < 3; i++) img.spacing[i] = 1;
    img.type = SA_PIXEL_U8;
    size_t n = 256 * 33 * 7;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 131u);
    img.data = data;
    sa_error err = {{0}};
    uint8_t *mask = NULL;
    CHECK(sa_mask_from_image(&img, "x", 200, &mask, &err) == 0);
    size_t hits = 0, wrong = 0;
    for (size_t i = 0; i < n; i++) {
        hits += mask[i];
        wrong += mask[i] != (data[i] == 200);
    }
    CHECK(wrong == 0);
    CHECK(hits == n / 256);
    free(mask);
    long *labels = NULL;
    size_t count = 0;
    CHECK(sa_image_labels(&img, "x", &labels, &count, &err) == 0);
    CHECK(count == 255 && labels[0] == 1 && labels[254] == 255);
    free(labels);
    sa_image_free(&img);
}

static void check_geometry(void) {
    sa_image a, b;
    make_label_image(&a, SA_PIXEL_U8);
    make_label_image(&b, SA_PIXEL_I16);
    a.spacing[0] = b.spacing[0] = 0.8;
    sa_error err = {{0}};
    CHECK(sa_image_same_geometry(&a, "ref.nii.gz", &b, "pred.nii.gz", &err) == 0);
    /* within tolerance: spacing 1e-4 relative, origin 1e-4 mm, direction 1e-4 */
    b.spacing[0] = 0.8 * (1 + 0.9e-4);
    b.origin[1] = 0.9e-4;
    b.direction[1] = 0.9e-4;
    CHECK(sa_image_same_geometry(&a, "ref.nii.gz", &b, "pred.nii.gz", &err) == 0);
    b.spacing[0] = 0.8 * (1 + 1.1e-4);
    CHECK(sa_image_same_geometry(&a, "ref.nii.gz", &b, "pred.nii.gz", &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "geometry mismatch (spacing");
    CHECK_STR_CONTAINS(err.msg, "ref.nii.gz size 4x3x2 spacing 0.8x1x1");
    CHECK_STR_CONTAINS(err.msg, " vs pred.nii.gz size 4x3x2");
    b.spacing[0] = 0.8;
    b.origin[1] = 1.1e-4;
    CHECK(sa_image_same_geometry(&a, "ref.nii.gz", &b, "pred.nii.gz", &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "origin");
    b.origin[1] = 0;
    b.direction[1] = 1.1e-4;
    CHECK(sa_image_same_geometry(&a, "ref.nii.gz", &b, "pred.nii.gz", &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "direction");
    b.direction[1] = 0;
    b.size[2] = 1;
    CHECK(sa_image_same_geometry(&a, "ref.nii.gz", &b, "pred.nii.gz", &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "size");
    CHECK_STR_CONTAINS(err.msg, "pred.nii.gz size 4x3x1");
    b.size[2] = NZ;
    b.spacing[2] = NAN;
    CHECK(sa_image_same_geometry(&a, "ref.nii.gz", &b, "pred.nii.gz", &err) == -1);

    sa_grid g;
    sa_image_grid(&a, &g);
    CHECK(g.nx == NX && g.ny == NY && g.nz == NZ);
    CHECK(g.spacing[0] == 0.8 && g.spacing[1] == 1.0 && g.spacing[2] == 1.0);
    sa_image_free(&a);
    sa_image_free(&b);
}

int main(void) {
    for (int t = SA_PIXEL_U8; t <= SA_PIXEL_F64; t++) {
        check_masks((sa_pixel_type)t);
        if (is_signed((sa_pixel_type)t)) check_negative_refused((sa_pixel_type)t);
    }
    check_float_refusals(SA_PIXEL_F32);
    check_float_refusals(SA_PIXEL_F64);
    check_u64_too_large();
    check_float_too_large(SA_PIXEL_F32);
    check_float_too_large(SA_PIXEL_F64);
    check_u8_large();
    check_geometry();
    CHECK(sa_pixel_size(SA_PIXEL_U8) == 1 && sa_pixel_size(SA_PIXEL_I16) == 2 &&
          sa_pixel_size(SA_PIXEL_F32) == 4 && sa_pixel_size(SA_PIXEL_U64) == 8 &&
          sa_pixel_size(SA_PIXEL_F64) == 8);
    CHECK(strcmp(sa_pixel_type_name(SA_PIXEL_I64), "int64") == 0);
    CHECK(strcmp(sa_pixel_type_name(SA_PIXEL_F32), "float32") == 0);
    sa_image_free(NULL);
    return test_report("test_mask");
}
