/*
 * nifti_write.c: SegArena's native NIfTI-1 writer (.nii, .nii.gz through
 * libdeflate). sa_image_write calls it for those extensions (inside its atomic
 * temporary-folder logic). The header carries the image's geometry twice, as
 * NIfTI wants it: sform (code 1) = the RAS affine, i.e. ITK's LPS geometry with
 * the first two rows negated; qform (code 1) = the same rotation as a
 * quaternion with qfac = pixdim[0] for left-handed frames. Spatial units mm.
 * Voxels are written little-endian whatever the host.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "datasets.h"

enum { HDR = 348, VOX_OFFSET = 352 };

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put_i16(uint8_t *p, int v) { put_u16(p, (uint16_t)(int16_t)v); }
static void put_i32(uint8_t *p, int32_t v) {
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i));
}
static void put_f32(uint8_t *p, double v) {
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i));
}

static int datatype_of(sa_pixel_type t, int *code) {
    switch (t) {
    case SA_PIXEL_U8: *code = 2; return 0;
    case SA_PIXEL_I16: *code = 4; return 0;
    case SA_PIXEL_I32: *code = 8; return 0;
    case SA_PIXEL_F32: *code = 16; return 0;
    case SA_PIXEL_F64: *code = 64; return 0;
    case SA_PIXEL_I8: *code = 256; return 0;
    case SA_PIXEL_U16: *code = 512; return 0;
    case SA_PIXEL_U32: *code = 768; return 0;
    case SA_PIXEL_I64: *code = 1024; return 0;
    case SA_PIXEL_U64: *code = 1280; return 0;
    }
    return -1;
}

/* nifti_mat44_to_quatern for an orthonormal R (columns = axis directions, RAS). */
static void to_quatern(double R[3][3], double *qb, double *qc, double *qd, double *qfac) {
    double det = R[0][0] * (R[1][1] * R[2][2] - R[1][2] * R[2][1]) -
                 R[0][1] * (R[1][0] * R[2][2] - R[1][2] * R[2][0]) +
                 R[0][2] * (R[1][0] * R[2][1] - R[1][1] * R[2][0]);
    *qfac = 1.0;
    if (det < 0) {
        *qfac = -1.0;
        for (int i = 0; i < 3; i++) R[i][2] = -R[i][2];
    }
    double a = R[0][0] + R[1][1] + R[2][2] + 1.0, b, c, d;
    if (a > 0.5) {
        a = 0.5 * sqrt(a);
        b = 0.25 * (R[2][1] - R[1][2]) / a;
        c = 0.25 * (R[0][2] - R[2][0]) / a;
        d = 0.25 * (R[1][0] - R[0][1]) / a;
    } else {
        double xd = 1.0 + R[0][0] - (R[1][1] + R[2][2]);
        double yd = 1.0 + R[1][1] - (R[0][0] + R[2][2]);
        double zd = 1.0 + R[2][2] - (R[0][0] + R[1][1]);
        if (xd > 1.0) {
            b = 0.5 * sqrt(xd);
            c = 0.25 * (R[0][1] + R[1][0]) / b;
            d = 0.25 * (R[0][2] + R[2][0]) / b;
            a = 0.25 * (R[2][1] - R[1][2]) / b;
        } else if (yd > 1.0) {
            c = 0.5 * sqrt(yd);
            b = 0.25 * (R[0][1] + R[1][0]) / c;
            d = 0.25 * (R[1][2] + R[2][1]) / c;
            a = 0.25 * (R[0][2] - R[2][0]) / c;
        } else {
            d = 0.5 * sqrt(zd);
            b = 0.25 * (R[0][2] + R[2][0]) / d;
            c = 0.25 * (R[1][2] + R[2][1]) / d;
            a = 0.25 * (R[1][0] - R[0][1]) / d;
        }
        if (a < 0.0) b = -b, c = -c, d = -d;
    }
    *qb = b, *qc = c, *qd = d;
}

static void fill_header(uint8_t *h, const sa_image *img, int code) {
    memset(h, 0, VOX_OFFSET);
    put_i32(h + 0, HDR);
    h[38] = 'r';
    put_i16(h + 40, 3);
    for (int i = 0; i < 3; i++) put_i16(h + 42 + 2 * i, (int)img->size[i]);
    for (int i = 3; i < 7; i++) put_i16(h + 42 + 2 * i, 1);
    put_i16(h + 70, code);
    put_i16(h + 72, (int)(8 * sa_pixel_size(img->type)));
    /* RAS rotation: LPS direction with the first two rows negated */
    double R[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) R[i][j] = img->direction[3 * i + j] * (i < 2 ? -1.0 : 1.0);
    double aff[3][4];
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++) aff[i][j] = R[i][j] * img->spacing[j];
        aff[i][3] = img->origin[i] * (i < 2 ? -1.0 : 1.0);
    }
    double qb, qc, qd, qfac;
    to_quatern(R, &qb, &qc, &qd, &qfac);
    put_f32(h + 76, qfac);
    for (int i = 0; i < 3; i++) put_f32(h + 80 + 4 * i, img->spacing[i]);
    for (int i = 3; i < 7; i++) put_f32(h + 80 + 4 * i, 0.0);
    put_f32(h + 108, VOX_OFFSET);
    put_f32(h + 112, 1.0); /* scl_slope: no rescaling */
    put_f32(h + 116, 0.0);
    h[123] = 2; /* NIFTI_UNITS_MM */
    memcpy(h + 148, "SegArena", 8);
    put_i16(h + 252, 1);
    put_i16(h + 254, 1);
    put_f32(h + 256, qb);
    put_f32(h + 260, qc);
    put_f32(h + 264, qd);
    for (int i = 0; i < 3; i++) put_f32(h + 268 + 4 * i, aff[i][3]);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) put_f32(h + 280 + 16 * r + 4 * c, aff[r][c]);
    memcpy(h + 344, "n+1\0", 4);
}

static int host_is_little(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void to_little(uint8_t *p, size_t count, size_t ps) {
    if (ps == 1 || host_is_little()) return;
    for (size_t i = 0; i < count; i++, p += ps)
        for (size_t a = 0, b = ps - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

static int write_all(const char *path, const uint8_t *buf, size_t len, sa_error *err) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return sa_error_set(err, "%s: cannot create: %s", path, strerror(errno));
    size_t w = fwrite(buf, 1, len, fp);
    int bad = w != len;
    if (fclose(fp) != 0) bad = 1;
    if (bad) {
        remove(path);
        return sa_error_set(err, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
    }
    return 0;
}

int sa_nifti_write(const char *path, const sa_image *img, int compress, sa_error *err) {
    int code;
    if (!path || !*path) return sa_error_set(err, "(empty path): no file name given");
    if (!img || !img->data || datatype_of(img->type, &code) != 0)
        return sa_error_set(err, "%s: nothing to write (no voxel data)", path);
    for (int i = 0; i < 3; i++)
        if (img->size[i] < 1 || img->size[i] > 32767)
            return sa_error_set(err, "%s: size %zu along axis %d does not fit NIfTI-1", path,
                                img->size[i], i);
    size_t ps = sa_pixel_size(img->type);
    size_t count = img->size[0] * img->size[1] * img->size[2];
    size_t len = VOX_OFFSET + count * ps;
    uint8_t *buf = malloc(len);
    if (!buf) return sa_error_set(err, "%s: out of memory", path);
    fill_header(buf, img, code);
    memcpy(buf + VOX_OFFSET, img->data, count * ps);
    to_little(buf + VOX_OFFSET, count, ps);
    int rc;
    if (!compress) {
        rc = write_all(path, buf, len, err);
    } else {
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
        size_t cap = c ? libdeflate_gzip_compress_bound(c, len) : 0;
        uint8_t *gz = c ? malloc(cap) : NULL;
        if (!c || !gz) {
            rc = sa_error_set(err, "%s: out of memory", path);
        } else {
            size_t n = libdeflate_gzip_compress(c, buf, len, gz, cap);
            rc = n ? write_all(path, gz, n, err) : sa_error_set(err, "%s: compression failed", path);
        }
        free(gz);
        if (c) libdeflate_free_compressor(c);
    }
    free(buf);
    return rc;
}
