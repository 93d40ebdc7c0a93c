/*
 * nifti_native.c: SegArena's fast path for plain 3D NIfTI-1 files. ITK reads
 * .nii.gz through zlib one small block at a time; here the whole file is read,
 * inflated by libdeflate in one call per gzip member straight into the final
 * buffer, and the geometry is computed with the same float arithmetic as ITK
 * 5.2's NiftiImageIO (over its bundled nifti1_io), so both readers give the same
 * voxels and bit-identical doubles (tests/integration/test_image_io_nifti.c).
 *
 * Anything this file cannot reproduce with certainty returns SA_NATIVE_NEEDS_ITK
 * so the caller falls back to ITK: Analyze, two-file NIfTI, more than 3
 * dimensions (a 4th of size 1 is fine), 1D/2D, rescaling (scl_slope/scl_inter),
 * intents other than none/label, units other than mm, an sform that is not
 * clearly orthonormal or whose choice over the qform depends on ITK's SVD test.
 * NIfTI-2, and a header whose size field disagrees with its NIfTI-1 magic, are
 * refused by either reader (parse_header).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libdeflate.h>
#include <zlib.h>

#include "image_internal.h"

enum { NIFTI1_HEADER_SIZE = 348, NIFTI1_MIN_VOX_OFFSET = 352 };
/* The largest length (pixdim, srow, qoffset) a header may hold: 1e9 mm is 1000
 * km, far beyond any scanner (and 1e6 m or 1e12 um in the other units), yet its
 * square stays far inside float range, so ITK's float SVD stays finite. */
#define NIFTI_MAX_LENGTH 1e9f

/* nifti1.h datatype codes */
enum {
    DT_UINT8 = 2, DT_INT16 = 4, DT_INT32 = 8, DT_FLOAT32 = 16, DT_FLOAT64 = 64,
    DT_INT8 = 256, DT_UINT16 = 512, DT_UINT32 = 768, DT_INT64 = 1024, DT_UINT64 = 1280
};
enum { XFORM_UNKNOWN = 0, XFORM_SCANNER_ANAT = 1 };
enum { INTENT_NONE = 0, INTENT_LABEL = 1002, INTENT_NEURONAME = 1003 };
enum { UNITS_UNKNOWN = 0, UNITS_MM = 2 };

/* The fields of a NIfTI-1 header this reader uses, in host byte order. */
typedef struct nifti1_fields {
    int16_t dim[8];
    int16_t intent_code, datatype;
    float pixdim[8];
    float vox_offset, scl_slope, scl_inter;
    uint8_t xyzt_units;
    int16_t qform_code, sform_code;
    float quatern_b, quatern_c, quatern_d, qoffset_x, qoffset_y, qoffset_z;
    float srow[3][4];
    char magic[4];
    int swapped;
} nifti1_fields;

/* nifti1_io's mat44: single precision, as ITK 5.2 uses it. */
typedef struct mat44 {
    float m[4][4];
} mat44;

static uint16_t swap16(uint16_t v) { return (uint16_t)((v >> 8) | (v << 8)); }
static uint32_t swap32(uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}
static uint64_t swap64(uint64_t v) {
    return ((uint64_t)swap32((uint32_t)v) << 32) | swap32((uint32_t)(v >> 32));
}

static int16_t get_i16(const uint8_t *p, int swapped) {
    uint16_t v;
    memcpy(&v, p, 2);
    if (swapped) v = swap16(v);
    int16_t r;
    memcpy(&r, &v, 2);
    return r;
}
static int32_t get_i32(const uint8_t *p, int swapped) {
    uint32_t v;
    memcpy(&v, p, 4);
    if (swapped) v = swap32(v);
    int32_t r;
    memcpy(&r, &v, 4);
    return r;
}
static float get_f32(const uint8_t *p, int swapped) {
    uint32_t v;
    memcpy(&v, p, 4);
    if (swapped) v = swap32(v);
    float r;
    memcpy(&r, &v, 4);
    return r;
}

/* nifti1_io's FIXED_FLOAT: non-finite header floats read as 0. */
static float fixed_float(float x) { return isfinite(x) ? x : 0.0f; }

/* 1 when h holds a NIfTI-1 magic ("n+1" or "ni1") at byte 344. */
static int has_nifti1_magic(const uint8_t *h) {
    return memcmp(h + 344, "n+1\0", 4) == 0 || memcmp(h + 344, "ni1\0", 4) == 0;
}

/* Parses the 348-byte header. Returns 0 or -1 (not a NIfTI-1 header SegArena
 * reads; reason in why). The version is that of the magic, as niftilib decides
 * it: ITK 5.2's niftilib reads any header with a NIfTI-1 magic as NIfTI-1,
 * whatever its size field says, so a size field that disagrees with the magic is
 * refused here rather than passed on unchecked. */
static int parse_header(const uint8_t *h, nifti1_fields *f, sa_error *why) {
    int32_t size_le = get_i32(h, 0), size_be = get_i32(h, 1);
    if (size_le == NIFTI1_HEADER_SIZE) {
        f->swapped = 0;
    } else if (size_be == NIFTI1_HEADER_SIZE) {
        f->swapped = 1;
    } else if (has_nifti1_magic(h)) {
        int32_t size = size_be == 540 ? size_be : size_le;
        return sa_error_set(why, "sizeof_hdr %d does not match its NIfTI-1 magic '%.3s' (a "
                            "NIfTI-1 header has 348)", (int)size, (const char *)h + 344);
    } else if ((size_le == 540 || size_be == 540) &&
               (memcmp(h + 4, "n+2\0", 4) == 0 || memcmp(h + 4, "ni2\0", 4) == 0)) {
        /* ITK 5.2's niftilib reads NIfTI-1 only ("unknown or unreadable image
         * format"): said here, with what to do about it */
        return sa_error_set(why, "a NIfTI-2 header (sizeof_hdr 540, magic '%.3s'); SegArena "
                            "reads NIfTI-1 only: save the image as NIfTI-1", (const char *)h + 4);
    } else {
        return sa_error_set(why, "not a NIfTI file (header size field is %d, expected 348)",
                            (int)size_le);
    }
    int s = f->swapped;
    for (int i = 0; i < 8; i++) f->dim[i] = get_i16(h + 40 + 2 * i, s);
    f->intent_code = get_i16(h + 68, s);
    f->datatype = get_i16(h + 70, s);
    for (int i = 0; i < 8; i++) f->pixdim[i] = get_f32(h + 76 + 4 * i, s);
    f->vox_offset = get_f32(h + 108, s);
    f->scl_slope = get_f32(h + 112, s);
    f->scl_inter = get_f32(h + 116, s);
    f->xyzt_units = h[123];
    f->qform_code = get_i16(h + 252, s);
    f->sform_code = get_i16(h + 254, s);
    f->quatern_b = get_f32(h + 256, s);
    f->quatern_c = get_f32(h + 260, s);
    f->quatern_d = get_f32(h + 264, s);
    f->qoffset_x = get_f32(h + 268, s);
    f->qoffset_y = get_f32(h + 272, s);
    f->qoffset_z = get_f32(h + 276, s);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) f->srow[r][c] = get_f32(h + 280 + 16 * r + 4 * c, s);
    memcpy(f->magic, h + 344, 4);
    return 0;
}

static int pixel_type_of(int16_t datatype, sa_pixel_type *t) {
    switch (datatype) {
    case DT_UINT8: *t = SA_PIXEL_U8; return 0;
    case DT_INT8: *t = SA_PIXEL_I8; return 0;
    case DT_UINT16: *t = SA_PIXEL_U16; return 0;
    case DT_INT16: *t = SA_PIXEL_I16; return 0;
    case DT_UINT32: *t = SA_PIXEL_U32; return 0;
    case DT_INT32: *t = SA_PIXEL_I32; return 0;
    case DT_UINT64: *t = SA_PIXEL_U64; return 0;
    case DT_INT64: *t = SA_PIXEL_I64; return 0;
    case DT_FLOAT32: *t = SA_PIXEL_F32; return 0;
    case DT_FLOAT64: *t = SA_PIXEL_F64; return 0;
    default: return -1;
    }
}

/* nifti_quatern_to_mat44 from nifti1_io.c, with its exact mix of float, double
 * and long double arithmetic (the 2.0l factors round through long double). */
static mat44 quatern_to_mat44(float qb, float qc, float qd, float qx, float qy, float qz,
                              float dx, float dy, float dz, float qfac) {
    mat44 R;
    double a, b = qb, c = qc, d = qd, xd, yd, zd;
    R.m[3][0] = R.m[3][1] = R.m[3][2] = 0.0f;
    R.m[3][3] = 1.0f;
    a = 1.0l - (b * b + c * c + d * d);
    if (a < 1.e-7l) {
        a = 1.0l / sqrt(b * b + c * c + d * d);
        b *= a;
        c *= a;
        d *= a;
        a = 0.0l;
    } else {
        a = sqrt(a);
    }
    xd = (dx > 0.0) ? dx : 1.0l;
    yd = (dy > 0.0) ? dy : 1.0l;
    zd = (dz > 0.0) ? dz : 1.0l;
    if (qfac < 0.0) zd = -zd;
    R.m[0][0] = (float)((a * a + b * b - c * c - d * d) * xd);
    R.m[0][1] = (float)(2.0l * (b * c - a * d) * yd);
    R.m[0][2] = (float)(2.0l * (b * d + a * c) * zd);
    R.m[1][0] = (float)(2.0l * (b * c + a * d) * xd);
    R.m[1][1] = (float)((a * a + c * c - b * b - d * d) * yd);
    R.m[1][2] = (float)(2.0l * (c * d - a * b) * zd);
    R.m[2][0] = (float)(2.0l * (b * d - a * c) * xd);
    R.m[2][1] = (float)(2.0l * (c * d + a * b) * yd);
    R.m[2][2] = (float)((a * a + d * d - c * c - b * b) * zd);
    R.m[0][3] = qx;
    R.m[1][3] = qy;
    R.m[2][3] = qz;
    return R;
}

/* ITK's first test (qform_sform_are_similar): element-wise in float, 3x3 within
 * 1e-5, translation column and bottom row one-norms within 1e-7. */
static int qform_sform_are_similar(const mat44 *s, const mat44 *q) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if ((double)fabsf(s->m[i][j] - q->m[i][j]) > 1e-5) return 0;
    float col = 0.0f, row = 0.0f;
    for (int i = 0; i < 4; i++) col += fabsf(s->m[i][3] - q->m[i][3]);
    for (int j = 0; j < 4; j++) row += fabsf(s->m[3][j] - q->m[3][j]);
    return (double)col <= 1e-7 && (double)row <= 1e-7;
}

/* 1 when the sform's 3x3 is orthonormal after removing column scales by a wide
 * margin (1e-6, where ITK's test allows 1e-4) and its column lengths match pixdim
 * to 1e-3; 0 when clearly not; -1 when the answer is close enough to ITK's
 * thresholds that only ITK should decide. */
static int sform_clearly_orthonormal(const mat44 *s, const float pixdim[3]) {
    double col[3][3];
    for (int j = 0; j < 3; j++) {
        double n = 0;
        for (int i = 0; i < 3; i++) n += (double)s->m[i][j] * (double)s->m[i][j];
        n = sqrt(n);
        if (!(n > 0) || !isfinite(n)) return 0;
        if (fabs(n - (double)pixdim[j]) > 1e-3) return -1;
        for (int i = 0; i < 3; i++) col[j][i] = (double)s->m[i][j] / n;
    }
    double worst = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            double dot = 0;
            for (int i = 0; i < 3; i++) dot += col[a][i] * col[b][i];
            worst = fmax(worst, fabs(dot - (a == b ? 1.0 : 0.0)));
        }
    if (worst < 1e-6) return 1;
    return worst > 1e-3 ? 0 : -1;
}

/* ITK's Normalize() for one direction column. */
static void normalize3(double v[3]) {
    double sum = 0;
    for (int i = 0; i < 3; i++) sum += v[i] * v[i];
    if (sum == 0.0) return;
    sum = sqrt(sum);
    for (int i = 0; i < 3; i++) v[i] = v[i] / sum;
}

/* Checks the header is one the native path reproduces and fills the image's
 * size, type and geometry. Returns 0, -1 or NEEDS_ITK (reason in why). */
static int geometry_from_header(const nifti1_fields *f, sa_image *out, sa_error *why) {
    if (memcmp(f->magic, "n+1\0", 4) != 0) {
        if (memcmp(f->magic, "ni1\0", 4) == 0) sa_error_set(why, "two-file NIfTI header");
        else sa_error_set(why, "Analyze 7.5 header (no NIfTI magic)");
        return SA_NATIVE_NEEDS_ITK;
    }
    if (f->dim[0] < 3 || f->dim[0] > 7) {
        sa_error_set(why, "dim[0] is %d", f->dim[0]);
        return SA_NATIVE_NEEDS_ITK;
    }
    if (f->dim[0] > 4 || (f->dim[0] == 4 && f->dim[4] != 1)) {
        sa_error_set(why, "%dD image", f->dim[0]);
        return SA_NATIVE_NEEDS_ITK;
    }
    for (int i = 1; i <= 3; i++)
        if (f->dim[i] < 1) return sa_error_set(why, "dimension %d has size %d", i, f->dim[i]);
    if (pixel_type_of(f->datatype, &out->type) != 0) {
        sa_error_set(why, "NIfTI datatype %d", f->datatype);
        return SA_NATIVE_NEEDS_ITK;
    }
    if (f->intent_code != INTENT_NONE && f->intent_code != INTENT_LABEL &&
        f->intent_code != INTENT_NEURONAME) {
        sa_error_set(why, "intent code %d", f->intent_code);
        return SA_NATIVE_NEEDS_ITK;
    }
    /* ITK: a slope of ~0 means 1; it rescales when slope != 1 or intercept != 0. */
    double slope = fixed_float(f->scl_slope), inter = fixed_float(f->scl_inter);
    if (fabs(slope) < 2.220446049250313e-16) slope = 1.0;
    if (fabs(slope - 1.0) > 2.220446049250313e-16 || fabs(inter) > 2.220446049250313e-16) {
        sa_error_set(why, "scl_slope %g / scl_inter %g rescale the voxels", slope, inter);
        return SA_NATIVE_NEEDS_ITK;
    }
    int space_units = f->xyzt_units & 0x07;
    if (space_units != UNITS_UNKNOWN && space_units != UNITS_MM) {
        sa_error_set(why, "spatial units code %d (not mm)", space_units);
        return SA_NATIVE_NEEDS_ITK;
    }
    if (!(f->vox_offset >= NIFTI1_MIN_VOX_OFFSET) || f->vox_offset != floorf(f->vox_offset) ||
        f->vox_offset > 1e9f) {
        sa_error_set(why, "vox_offset %g", (double)f->vox_offset);
        return SA_NATIVE_NEEDS_ITK;
    }
    float dx = f->pixdim[1], dy = f->pixdim[2], dz = f->pixdim[3];
    if (!(dx > 0 && dy > 0 && dz > 0 && isfinite(dx) && isfinite(dy) && isfinite(dz))) {
        /* ITK decides what such a file means; image.c then refuses the spacing */
        sa_error_set(why, "pixdim %g %g %g", (double)dx, (double)dy, (double)dz);
        return SA_NATIVE_NEEDS_ITK;
    }
    for (int i = 0; i < 3; i++) out->size[i] = (size_t)f->dim[i + 1];
    out->spacing[0] = (double)dx;
    out->spacing[1] = (double)dy;
    out->spacing[2] = (double)dz;

    int qcode = f->qform_code > 0 ? f->qform_code : XFORM_UNKNOWN;
    int scode = f->sform_code > 0 ? f->sform_code : XFORM_UNKNOWN;
    if (qcode == XFORM_UNKNOWN && scode == XFORM_UNKNOWN) {
        /* ITK: origin 0, identity direction */
        for (int i = 0; i < 3; i++) out->origin[i] = 0.0;
        for (int i = 0; i < 9; i++) out->direction[i] = (i % 4 == 0) ? 1.0 : 0.0;
        return 0;
    }
    /* qto_xyz and sto_xyz exactly as nifti_convert_nhdr2nim builds them */
    mat44 q = {{{0}}}, s = {{{0}}};
    if (qcode == XFORM_UNKNOWN) {
        q.m[0][0] = dx;
        q.m[1][1] = dy;
        q.m[2][2] = dz;
        q.m[3][3] = 1.0f;
    } else {
        float qfac = (f->pixdim[0] < 0.0f) ? -1.0f : 1.0f;
        q = quatern_to_mat44(fixed_float(f->quatern_b), fixed_float(f->quatern_c),
                             fixed_float(f->quatern_d), fixed_float(f->qoffset_x),
                             fixed_float(f->qoffset_y), fixed_float(f->qoffset_z), dx, dy, dz,
                             qfac);
    }
    if (scode != XFORM_UNKNOWN) {
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) s.m[r][c] = f->srow[r][c];
        s.m[3][3] = 1.0f;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                if (!isfinite(s.m[r][c]))
                    return sa_error_set(why, "sform (srow_%c[%d]) is %g; it must be finite",
                                        "xyz"[r], c, (double)s.m[r][c]);
    }
    const float pix[3] = {dx, dy, dz};
    const mat44 *chosen;
    if (scode == XFORM_UNKNOWN) {
        chosen = &q; /* the sform (all zero) is neither similar nor decomposable */
    } else if (qcode != XFORM_UNKNOWN && qform_sform_are_similar(&s, &q)) {
        chosen = &s; /* ITK prefers the sform's precision when both agree */
    } else {
        int ortho = sform_clearly_orthonormal(&s, pix);
        if (ortho != 1) {
            sa_error_set(why, "sform is %s", ortho == 0 ? "not orthonormal (skew or shear)"
                                                        : "near ITK's orthonormality threshold");
            return SA_NATIVE_NEEDS_ITK;
        }
        if (qcode == XFORM_UNKNOWN || scode == XFORM_SCANNER_ANAT) {
            chosen = &s;
        } else {
            sa_error_set(why, "sform (code %d) and qform differ; ITK's SVD comparison decides",
                         scode);
            return SA_NATIVE_NEEDS_ITK;
        }
    }
    /* RAS (NIfTI) to LPS (ITK): negate the first two rows and coordinates. */
    out->origin[0] = -(double)chosen->m[0][3];
    out->origin[1] = -(double)chosen->m[1][3];
    out->origin[2] = (double)chosen->m[2][3];
    for (int j = 0; j < 3; j++) {
        double v[3];
        for (int i = 0; i < 3; i++) {
            v[i] = (double)chosen->m[i][j];
            if (i < 2) v[i] *= -1.0;
        }
        normalize3(v);
        for (int i = 0; i < 3; i++) out->direction[i * 3 + j] = v[i];
    }
    return 0;
}

static void swap_voxels(void *data, size_t count, size_t pixel_size) {
    if (pixel_size == 2) {
        uint16_t *p = data;
        for (size_t i = 0; i < count; i++) p[i] = swap16(p[i]);
    } else if (pixel_size == 4) {
        uint32_t *p = data;
        for (size_t i = 0; i < count; i++) p[i] = swap32(p[i]);
    } else if (pixel_size == 8) {
        uint64_t *p = data;
        for (size_t i = 0; i < count; i++) p[i] = swap64(p[i]);
    }
}

/* Reads a whole file into memory. */
static int slurp(const char *path, uint8_t **buf_out, size_t *len_out, sa_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sa_image_io_failure(path, "open", errno, err);
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || st.st_size < 0) {
        int e = errno;
        fclose(fp);
        return sa_image_io_failure(path, "stat", e, err);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(fp);
        return sa_error_set(err, "%s: out of memory (%zu bytes)", path, len);
    }
    size_t got = fread(buf, 1, len, fp);
    int read_error = ferror(fp) ? errno : 0;
    fclose(fp);
    if (read_error) {
        free(buf);
        return sa_image_io_failure(path, "read", read_error, err);
    }
    if (got != len) {
        free(buf);
        return sa_error_set(err, "%s: changed while it was read (%zu of %zu bytes)", path, got,
                            len);
    }
    *buf_out = buf;
    *len_out = len;
    return 0;
}

static int is_gzip(const uint8_t *p, size_t len) { return len >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

/* Inflates the first `want` bytes of a gzip stream with zlib (just the header). */
static size_t inflate_prefix(const uint8_t *in, size_t in_len, uint8_t *out, size_t want) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return 0;
    size_t got = 0;
    while (got < want) {
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)(in_len > 0x40000000u ? 0x40000000u : in_len);
        zs.next_out = out + got;
        zs.avail_out = (uInt)(want - got);
        size_t in_before = zs.avail_in;
        int rc = inflate(&zs, Z_NO_FLUSH);
        size_t consumed = in_before - zs.avail_in;
        in += consumed;
        in_len -= consumed;
        got = want - zs.avail_out;
        if (rc == Z_STREAM_END) {
            /* a member ended inside the header: continue with the next one */
            if (in_len < 2 || inflateReset(&zs) != Z_OK) break;
        } else if (rc != Z_OK) {
            break;
        }
    }
    inflateEnd(&zs);
    return got;
}

/* Inflates every gzip member of in[] into out[0..cap). Returns 0 with *produced,
 * or -1 (corrupt, or more data than cap; message in err). */
static int inflate_all_members(const char *path, const uint8_t *in, size_t in_len, uint8_t *out,
                               size_t cap, size_t *produced, sa_error *err) {
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (!d) return sa_error_set(err, "%s: out of memory", path);
    size_t pos = 0, written = 0;
    int rc = 0;
    while (pos < in_len) {
        if (!is_gzip(in + pos, in_len - pos)) {
            rc = sa_error_set(err, "%s: corrupt gzip data (%zu unexpected bytes after the "
                              "compressed stream)", path, in_len - pos);
            break;
        }
        size_t used_in = 0, used_out = 0;
        enum libdeflate_result r = libdeflate_gzip_decompress_ex(
            d, in + pos, in_len - pos, out + written, cap - written, &used_in, &used_out);
        if (r == LIBDEFLATE_SUCCESS) {
            pos += used_in;
            written += used_out;
        } else if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
            /* NIfTI has an exact length; ITK would inflate the rest (a gzip bomb) */
            rc = sa_error_set(err, "%s: the gzip stream holds more data than the header "
                              "describes (%zu bytes of header and voxels)", path, cap);
            break;
        } else {
            rc = sa_error_set(err, "%s: truncated or corrupt gzip data (member at byte %zu does "
                              "not inflate, or its CRC/length check fails)", path, pos);
            break;
        }
    }
    libdeflate_free_decompressor(d);
    *produced = written;
    return rc;
}

/* The first 348 bytes of a .nii or .nii.gz (inflated when gzip), read from at
 * most the first MiB of the file so that a large file is not loaded for this. */
static int read_header_bytes(const char *path, uint8_t h[NIFTI1_HEADER_SIZE], size_t *got,
                             sa_error *err) {
    enum { PREFIX = 1 << 20 };
    FILE *fp = fopen(path, "rb");
    if (!fp) return sa_image_io_failure(path, "open", errno, err);
    uint8_t *in = malloc(PREFIX);
    if (!in) {
        fclose(fp);
        return sa_error_set(err, "%s: out of memory", path);
    }
    size_t in_len = fread(in, 1, PREFIX, fp);
    int read_error = ferror(fp) ? errno : 0;
    fclose(fp);
    if (read_error) {
        free(in);
        return sa_image_io_failure(path, "read", read_error, err);
    }
    if (is_gzip(in, in_len)) {
        *got = inflate_prefix(in, in_len, h, NIFTI1_HEADER_SIZE);
        free(in);
        if (*got != NIFTI1_HEADER_SIZE)
            return sa_error_set(err, "%s: truncated or corrupt gzip data (cannot inflate the "
                                "348-byte NIfTI header)", path);
        return 0;
    }
    *got = in_len < NIFTI1_HEADER_SIZE ? in_len : NIFTI1_HEADER_SIZE;
    memcpy(h, in, *got);
    free(in);
    return 0;
}

static const char *datatype_name(int16_t dt) {
    switch (dt) {
    case 0: return "unknown";
    case 1: return "binary";
    case 32: return "complex64";
    case 128: return "RGB24";
    case 1536: return "float128";
    case 1792: return "complex128";
    case 2048: return "complex256";
    case 2304: return "RGBA32";
    default: return "not a NIfTI-1 datatype";
    }
}

/* The header checks of sa_nifti_precheck_header on a parsed header. */
static int check_header_fields(const char *path, const nifti1_fields *f, sa_error *err) {
    if (f->dim[0] < 1 || f->dim[0] > 7)
        return sa_error_set(err, "%s: dim[0] is %d; a NIfTI-1 header holds 1 to 7 dimensions",
                            path, f->dim[0]);
    for (int i = 1; i <= f->dim[0]; i++)
        if (f->dim[i] < 1)
            return sa_error_set(err, "%s: dim[%d] is %d; every dimension needs a size of at "
                                "least 1", path, i, f->dim[i]);
    sa_pixel_type type;
    if (pixel_type_of(f->datatype, &type) != 0)
        return sa_error_set(err, "%s: NIfTI datatype %d (%s) is not supported; images hold "
                            "integer or floating-point scalars", path, f->datatype,
                            datatype_name(f->datatype));
    /* a .nii/.nii.gz is one file: niftilib reads a "ni1" (or Analyze, no magic)
     * header in it as a header whose voxels are in a .img beside it, or in the
     * file itself at a guessed offset, and any other "n+?" as one file; the checks
     * here (vox_offset, truncation, NaN) are those of "n+1" */
    if (memcmp(f->magic, "n+1\0", 4) != 0) {
        char shown[4];
        for (int i = 0; i < 3; i++) shown[i] = isprint((unsigned char)f->magic[i]) ? f->magic[i] : '?';
        shown[3] = '\0';
        if (memcmp(f->magic, "ni1\0", 4) == 0)
            return sa_error_set(err, "%s: NIfTI magic 'ni1' marks a two-file header (.hdr and "
                                ".img); a .nii file must be a single-file NIfTI-1 (magic 'n+1')",
                                path);
        if (!f->magic[0] && !f->magic[1] && !f->magic[2])
            return sa_error_set(err, "%s: no NIfTI magic (an Analyze 7.5 header); a .nii file "
                                "must be a single-file NIfTI-1 (magic 'n+1')", path);
        return sa_error_set(err, "%s: NIfTI magic '%s' is not 'n+1' (a single-file NIfTI-1 "
                            "header; Analyze 7.5 and two-file headers are not read)", path, shown);
    }
    if (!isfinite(f->vox_offset) || f->vox_offset < NIFTI1_MIN_VOX_OFFSET)
        return sa_error_set(err, "%s: vox_offset %g is invalid for a single-file NIfTI (must be "
                            ">= %d)", path, (double)f->vox_offset, NIFTI1_MIN_VOX_OFFSET);
    /* niftilib casts vox_offset to int: a larger one wraps and it reads the voxels
     * from byte 348 (and converting it to size_t here would be undefined) */
    if ((double)f->vox_offset > (double)INT_MAX)
        return sa_error_set(err, "%s: vox_offset %g is beyond %d, the largest offset niftilib "
                            "reads", path, (double)f->vox_offset, INT_MAX);
    int ndim = f->dim[0];
    for (int i = 1; i <= ndim && i <= 3; i++) {
        if (!(f->pixdim[i] > 0) || !isfinite(f->pixdim[i]))
            return sa_error_set(err, "%s: spacing (pixdim[%d]) is %g; spacing must be positive "
                                "and finite", path, i, (double)f->pixdim[i]);
        if (f->pixdim[i] > NIFTI_MAX_LENGTH)
            return sa_error_set(err, "%s: spacing (pixdim[%d]) is %g, beyond %g (a physical "
                                "length)", path, i, (double)f->pixdim[i], NIFTI_MAX_LENGTH);
    }
    /* niftilib reads a non-finite quaternion or offset as 0 (FIXED_FLOAT): a
     * silent origin of 0 or a different rotation */
    if (f->qform_code > 0) {
        const float q[6] = {f->quatern_b, f->quatern_c, f->quatern_d,
                            f->qoffset_x, f->qoffset_y, f->qoffset_z};
        static const char *const names[6] = {"quatern_b", "quatern_c", "quatern_d",
                                             "qoffset_x", "qoffset_y", "qoffset_z"};
        for (int i = 0; i < 6; i++) {
            if (!isfinite(q[i]))
                return sa_error_set(err, "%s: qform %s is %g; it must be finite", path, names[i],
                                    (double)q[i]);
            if (i >= 3 && fabsf(q[i]) > NIFTI_MAX_LENGTH)
                return sa_error_set(err, "%s: qform %s is %g; offsets beyond 1e9 are no "
                                    "physical length", path, names[i], (double)q[i]);
        }
    }
    /* the transforms ITK decomposes (vnl_svd<float> on the sform aborts on a
     * non-finite entry and never converges on entries near FLT_MAX) */
    if (f->sform_code > 0)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) {
                float v = f->srow[r][c];
                if (!isfinite(v) || fabsf(v) > NIFTI_MAX_LENGTH)
                    return sa_error_set(err, "%s: sform (srow_%c[%d]) is %g; %s", path, "xyz"[r],
                                        c, (double)v, isfinite(v) ? "entries beyond 1e9 are no "
                                        "physical length" : "it must be finite");
            }
    return 0;
}

int sa_nifti_precheck_header(const char *path, sa_error *err) {
    uint8_t h[NIFTI1_HEADER_SIZE];
    size_t got = 0;
    int rc = read_header_bytes(path, h, &got, err);
    if (rc != 0) return rc;
    if (got == 0) return sa_error_set(err, "%s: empty file", path);
    if (got != sizeof h)
        return sa_error_set(err, "%s: truncated NIfTI header (%zu bytes; a NIfTI-1 header has 348)",
                            path, got);
    nifti1_fields f;
    sa_error why = {{0}};
    if (parse_header(h, &f, &why) != 0) return sa_error_set(err, "%s: %s", path, why.msg);
    return check_header_fields(path, &f, err);
}

/* Walks the voxel bytes of a float image as they stream past (in pieces of any
 * length) and remembers the first voxel that is NaN or infinite. */
typedef struct voxel_scan {
    size_t offset, need;    /* voxel data: bytes [offset, offset + need) of the stream */
    size_t pos;             /* stream bytes seen so far */
    size_t psize;           /* 4 (float32) or 8 (float64); 0: no scan */
    int swapped;
    uint8_t carry[8];
    size_t carry_len;
    size_t index;           /* voxels completed */
    size_t bad;             /* first non-finite voxel, or SIZE_MAX */
    int bad_is_nan, bad_negative;
} voxel_scan;

static void scan_value(voxel_scan *s, const uint8_t *p) {
    if (s->bad != SIZE_MAX) return;
    int nonfinite = 0, nan = 0, neg = 0;
    if (s->psize == 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        if (s->swapped) v = swap32(v);
        nonfinite = (v & 0x7f800000u) == 0x7f800000u;
        nan = (v & 0x007fffffu) != 0;
        neg = (v >> 31) != 0;
    } else {
        uint64_t v;
        memcpy(&v, p, 8);
        if (s->swapped) v = swap64(v);
        nonfinite = (v & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
        nan = (v & 0x000fffffffffffffull) != 0;
        neg = (v >> 63) != 0;
    }
    if (nonfinite) {
        s->bad = s->index;
        s->bad_is_nan = nan;
        s->bad_negative = neg;
    }
}

static void scan_feed(voxel_scan *s, const uint8_t *buf, size_t len) {
    size_t start = s->pos, end = s->pos + len;
    s->pos = end;
    if (s->psize == 0 || s->bad != SIZE_MAX) return;
    size_t lo = start > s->offset ? start : s->offset;
    size_t hi = end < s->offset + s->need ? end : s->offset + s->need;
    if (lo >= hi) return;
    const uint8_t *p = buf + (lo - start);
    size_t n = hi - lo;
    if (s->carry_len) {
        size_t take = s->psize - s->carry_len;
        if (take > n) take = n;
        memcpy(s->carry + s->carry_len, p, take);
        s->carry_len += take;
        p += take;
        n -= take;
        if (s->carry_len < s->psize) return;
        scan_value(s, s->carry);
        s->index++;
        s->carry_len = 0;
    }
    for (; n >= s->psize && s->bad == SIZE_MAX; p += s->psize, n -= s->psize, s->index++)
        scan_value(s, p);
    if (s->bad != SIZE_MAX) return;
    memcpy(s->carry, p, n);
    s->carry_len = n;
}

/* Streams a whole file (inflating every gzip member; CRC and length checked)
 * through scan_feed. *total gets the stream's length. A gzip stream is refused
 * as soon as it inflates past scan->offset + scan->need. Returns 0 or -1. */
static int stream_file(const char *path, voxel_scan *scan, size_t *total, sa_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sa_image_io_failure(path, "open", errno, err);
    enum { CHUNK = 1 << 18 };
    uint8_t *in = malloc(CHUNK), *out = malloc(CHUNK);
    int rc = (in && out) ? 0 : sa_error_set(err, "%s: out of memory", path);
    size_t in_len = rc == 0 ? fread(in, 1, CHUNK, fp) : 0;
    if (rc == 0 && !is_gzip(in, in_len)) { /* niftilib reads such a file as uncompressed */
        while (in_len > 0) {
            scan_feed(scan, in, in_len);
            in_len = fread(in, 1, CHUNK, fp);
        }
        if (ferror(fp)) rc = sa_image_io_failure(path, "read", errno, err);
    } else if (rc == 0) {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, 15 + 16) != Z_OK) rc = sa_error_set(err, "%s: out of memory", path);
        zs.next_in = in;
        zs.avail_in = (uInt)in_len;
        int member_done = 0;
        while (rc == 0) {
            if (zs.avail_in == 0) {
                in_len = fread(in, 1, CHUNK, fp);
                if (ferror(fp)) {
                    rc = sa_image_io_failure(path, "read", errno, err);
                    break;
                }
                if (in_len == 0) break; /* end of file */
                zs.next_in = in;
                zs.avail_in = (uInt)in_len;
            }
            if (member_done) { /* another member must follow, or nothing */
                if (zs.avail_in < 2 && !feof(fp)) {
                    /* too few bytes to see a magic number: pull more */
                    memmove(in, zs.next_in, zs.avail_in);
                    size_t more = fread(in + zs.avail_in, 1, CHUNK - zs.avail_in, fp);
                    if (ferror(fp)) {
                        rc = sa_image_io_failure(path, "read", errno, err);
                        break;
                    }
                    zs.next_in = in;
                    zs.avail_in += (uInt)more;
                }
                if (!is_gzip(zs.next_in, zs.avail_in)) {
                    rc = sa_error_set(err, "%s: corrupt gzip data (unexpected bytes after the "
                                      "compressed stream)", path);
                    break;
                }
                inflateReset(&zs);
                member_done = 0;
            }
            zs.next_out = out;
            zs.avail_out = CHUNK;
            int z = inflate(&zs, Z_NO_FLUSH);
            scan_feed(scan, out, CHUNK - zs.avail_out);
            if (scan->pos > scan->offset && scan->pos - scan->offset > scan->need) {
                /* an exact-length format: what follows could be a gzip bomb */
                rc = sa_error_set(err, "%s: the gzip stream holds more data than the header "
                                  "describes (%zu bytes of header and voxels)", path,
                                  scan->offset + scan->need);
                break;
            }
            if (z == Z_STREAM_END) member_done = 1;
            else if (z == Z_BUF_ERROR && zs.avail_in == 0) continue; /* needs more input */
            else if (z != Z_OK)
                rc = sa_error_set(err, "%s: corrupt gzip data (%s)", path,
                                  zs.msg ? zs.msg : "inflate error");
        }
        if (rc == 0 && !member_done)
            rc = sa_error_set(err, "%s: truncated gzip data (the compressed stream ends early)",
                              path);
        inflateEnd(&zs);
    }
    fclose(fp);
    free(in);
    free(out);
    *total = scan->pos;
    return rc;
}

int sa_nifti_precheck_data(const char *path, sa_error *err) {
    uint8_t h[NIFTI1_HEADER_SIZE];
    size_t got = 0;
    int rc = read_header_bytes(path, h, &got, err);
    if (rc != 0) return rc;
    nifti1_fields f;
    sa_error why = {{0}};
    if (got != sizeof h || parse_header(h, &f, &why) != 0 || check_header_fields(path, &f, &why))
        return 0; /* sa_nifti_precheck_header has judged it */
    voxel_scan scan;
    memset(&scan, 0, sizeof scan);
    scan.bad = SIZE_MAX;
    sa_pixel_type type = SA_PIXEL_U8;
    if (pixel_type_of(f.datatype, &type) != 0) return 0;
    size_t need = sa_pixel_size(type), voxels = 1;
    int extra_dims = 0;
    for (int i = 1; i <= f.dim[0]; i++) {
        if (need > SIZE_MAX / (size_t)f.dim[i] || voxels > SIZE_MAX / (size_t)f.dim[i])
            return sa_error_set(err, "%s: image is too large", path);
        need *= (size_t)f.dim[i];
        voxels *= (size_t)f.dim[i];
        if (i > 3 && f.dim[i] != 1) extra_dims = 1;
    }
    scan.offset = (size_t)f.vox_offset;
    scan.need = need;
    scan.swapped = f.swapped;
    /* a 4D image is refused later; only 3D float voxels are scanned */
    if (!extra_dims && (type == SA_PIXEL_F32 || type == SA_PIXEL_F64))
        scan.psize = sa_pixel_size(type);
    size_t file_bytes = 0;
    if ((rc = stream_file(path, &scan, &file_bytes, err)) != 0) return rc;
    if (file_bytes < scan.offset || file_bytes - scan.offset < need)
        return sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel data, "
                            "the file holds %zu", path, need,
                            file_bytes > scan.offset ? file_bytes - scan.offset : (size_t)0);
    if (scan.bad != SIZE_MAX) {
        size_t nx = (size_t)f.dim[1], ny = f.dim[0] >= 2 ? (size_t)f.dim[2] : 1;
        size_t i = scan.bad;
        return sa_error_set(err, "%s: voxel (%zu,%zu,%zu) holds %s; non-finite voxel values are "
                            "refused (ITK's NIfTI reader would silently read them as 0)", path,
                            i % nx, (i / nx) % ny, i / (nx * ny),
                            scan.bad_is_nan ? "NaN" : scan.bad_negative ? "-Inf" : "+Inf");
    }
    return 0;
}

/* Reads an uncompressed .nii: header, then the voxels straight into their buffer. */
static int read_plain(const char *path, FILE *fp, sa_header_check_fn check, void *ctx,
                      sa_image *out, sa_error *err) {
    uint8_t h[NIFTI1_HEADER_SIZE];
    if (fread(h, 1, sizeof h, fp) != sizeof h)
        return ferror(fp) ? sa_image_io_failure(path, "read", errno, err)
                          : sa_error_set(err, "%s: truncated NIfTI header (file shorter than 348 "
                                         "bytes)", path);
    nifti1_fields f;
    sa_error why = {{0}};
    int rc = parse_header(h, &f, &why);
    if (rc == 0 && check_header_fields(path, &f, err) != 0) return -1;
    if (rc == 0) rc = geometry_from_header(&f, out, &why);
    if (rc == SA_NATIVE_NEEDS_ITK) {
        if (err) *err = why;
        return rc;
    }
    if (rc != 0) return sa_error_set(err, "%s: %s", path, why.msg);
    if (check && (rc = check(out, ctx, err)) != 0) return rc;
    size_t voxels = sa_image_voxel_count(out), psize = sa_pixel_size(out->type);
    if (voxels == 0 || voxels > SIZE_MAX / psize)
        return sa_error_set(err, "%s: image too large", path);
    size_t bytes = voxels * psize;
    /* the file's length first: a header that declares more than the file holds
     * must not cost an allocation of what it declares */
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode)) {
        size_t file_bytes = (size_t)st.st_size, offset = (size_t)f.vox_offset;
        size_t have = file_bytes > offset ? file_bytes - offset : 0;
        if (have < bytes)
            return sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel "
                                "data, the file holds %zu", path, bytes, have);
    }
    if (fseeko(fp, (off_t)f.vox_offset, SEEK_SET) != 0)
        return sa_error_set(err, "%s: cannot seek to voxel data: %s", path, strerror(errno));
    out->data = malloc(bytes);
    if (!out->data) return sa_error_set(err, "%s: out of memory (%zu bytes)", path, bytes);
    size_t got = fread(out->data, 1, bytes, fp);
    if (got != bytes && ferror(fp)) {
        int e = errno;
        free(out->data);
        out->data = NULL;
        return sa_image_io_failure(path, "read", e, err);
    }
    if (got != bytes) {
        free(out->data);
        out->data = NULL;
        return sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel data, "
                            "the file holds %zu", path, bytes, got);
    }
    if (f.swapped) swap_voxels(out->data, voxels, psize);
    return 0;
}

/* Reads a .nii.gz (or a plain .nii that only has the suffix): whole file in,
 * header through zlib, all voxels through libdeflate into one block. */
static int read_gz(const char *path, sa_header_check_fn check, void *ctx, sa_image *out,
                   sa_error *err) {
    uint8_t *in = NULL;
    size_t in_len = 0;
    int rc = slurp(path, &in, &in_len, err);
    if (rc != 0) return rc;
    if (!is_gzip(in, in_len)) {
        free(in);
        FILE *fp = fopen(path, "rb");
        if (!fp) return sa_image_io_failure(path, "open", errno, err);
        rc = read_plain(path, fp, check, ctx, out, err);
        fclose(fp);
        return rc;
    }
    uint8_t h[NIFTI1_HEADER_SIZE];
    if (inflate_prefix(in, in_len, h, sizeof h) != sizeof h) {
        free(in);
        return sa_error_set(err, "%s: truncated or corrupt gzip data (cannot inflate the NIfTI "
                            "header)", path);
    }
    nifti1_fields f;
    sa_error why = {{0}};
    rc = parse_header(h, &f, &why);
    if (rc == 0 && check_header_fields(path, &f, err) != 0) {
        free(in);
        return -1;
    }
    if (rc == 0) rc = geometry_from_header(&f, out, &why);
    if (rc != 0) {
        free(in);
        if (rc == SA_NATIVE_NEEDS_ITK) {
            if (err) *err = why;
            return rc;
        }
        return sa_error_set(err, "%s: %s", path, why.msg);
    }
    if (check && (rc = check(out, ctx, err)) != 0) {
        free(in);
        return rc;
    }
    size_t voxels = sa_image_voxel_count(out), psize = sa_pixel_size(out->type);
    size_t offset = (size_t)f.vox_offset;
    if (voxels == 0 || voxels > (SIZE_MAX - offset) / psize) {
        free(in);
        return sa_error_set(err, "%s: image too large", path);
    }
    size_t total = offset + voxels * psize;
    /* deflate packs at most 1032 bytes into one: a header that declares more than
     * the gzip stream can hold is refused before its size is allocated */
    if (in_len < (SIZE_MAX - 4096) / 1032 && total > in_len * 1032 + 4096) {
        free(in);
        return sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel data, "
                            "more than a %zu-byte gzip stream can hold", path, voxels * psize,
                            in_len);
    }
    uint8_t *block = malloc(total);
    if (!block) {
        free(in);
        return sa_error_set(err, "%s: out of memory (%zu bytes)", path, total);
    }
    size_t produced = 0;
    rc = inflate_all_members(path, in, in_len, block, total, &produced, err);
    free(in);
    if (rc == 0 && produced != total)
        rc = sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel data, the "
                          "gzip stream holds %zu", path, voxels * psize,
                          produced > offset ? produced - offset : 0);
    if (rc != 0) {
        free(block);
        return rc;
    }
    if (offset % 16 == 0) { /* malloc alignment holds for every pixel type */
        out->block = block;
        out->data = block + offset;
    } else {
        memmove(block, block + offset, voxels * psize);
        out->data = block;
    }
    if (f.swapped) swap_voxels(out->data, voxels, psize);
    return 0;
}

int sa_nifti_native_read(const char *path, sa_header_check_fn check, void *ctx, sa_image *out,
                         sa_error *err) {
    memset(out, 0, sizeof *out);
    int rc;
    if (sa_has_suffix(path, ".gz")) {
        rc = read_gz(path, check, ctx, out, err);
    } else {
        FILE *fp = fopen(path, "rb");
        if (!fp) return sa_image_io_failure(path, "open", errno, err);
        rc = read_plain(path, fp, check, ctx, out, err);
        fclose(fp);
    }
    if (rc != 0) {
        free(out->block ? out->block : out->data);
        memset(out, 0, sizeof *out);
    }
    return rc;
}
