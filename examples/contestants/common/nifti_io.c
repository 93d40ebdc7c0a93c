#include "nifti_io.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int16_t get_i16(const unsigned char *p) { return (int16_t)(p[0] | (p[1] << 8)); }
static float get_f32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static void put_i16(unsigned char *p, int v) { p[0] = (unsigned char)(v & 0xff); p[1] = (unsigned char)((v >> 8) & 0xff); }
static void put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    p[0] = u & 0xff; p[1] = (u >> 8) & 0xff; p[2] = (u >> 16) & 0xff; p[3] = (u >> 24) & 0xff;
}

static int read_all(gzFile f, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        int got = gzread(f, p, chunk);
        if (got <= 0) return -1;
        p += got;
        len -= (size_t)got;
    }
    return 0;
}

int nio_read(const char *path, nio_image *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    gzFile f = gzopen(path, "rb"); /* reads plain .nii transparently */
    if (!f) { snprintf(err, errlen, "%s: cannot open", path); return -1; }
    unsigned char *h = img->hdr;
    if (read_all(f, h, 348) < 0) { snprintf(err, errlen, "%s: not a NIfTI file (short header)", path); goto fail; }
    int32_t sizeof_hdr = (int32_t)((uint32_t)h[0] | ((uint32_t)h[1] << 8) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 24));
    if (sizeof_hdr != 348) {
        snprintf(err, errlen, "%s: not a little-endian NIfTI-1 file (sizeof_hdr %d)", path, (int)sizeof_hdr);
        goto fail;
    }
    if (memcmp(h + 344, "n+1", 4) != 0) { snprintf(err, errlen, "%s: not a single-file NIfTI-1 (magic)", path); goto fail; }
    int ndim = get_i16(h + 40);
    if (ndim < 1 || ndim > 7) { snprintf(err, errlen, "%s: bad dim[0] %d", path, ndim); goto fail; }
    int dim[8];
    for (int i = 1; i <= 7; i++) dim[i] = i <= ndim ? get_i16(h + 40 + 2 * i) : 1;
    for (int i = 4; i <= 7; i++)
        if (dim[i] != 1) { snprintf(err, errlen, "%s: only 3-D images are supported (dim[%d] = %d)", path, i, dim[i]); goto fail; }
    for (int i = 1; i <= 3; i++)
        if (dim[i] < 1) { snprintf(err, errlen, "%s: bad dim[%d] %d", path, i, dim[i]); goto fail; }
    img->nx = dim[1]; img->ny = dim[2]; img->nz = dim[3];
    img->n = (size_t)dim[1] * dim[2] * dim[3];
    int dt = get_i16(h + 70);
    size_t bpv;
    switch (dt) {
    case 2: case 256: bpv = 1; break;   /* uint8, int8 */
    case 4: case 512: bpv = 2; break;   /* int16, uint16 */
    case 8: case 16: bpv = 4; break;    /* int32, float32 */
    case 64: bpv = 8; break;            /* float64 */
    default: snprintf(err, errlen, "%s: unsupported datatype %d", path, dt); goto fail;
    }
    float vox_offset = get_f32(h + 108);
    if (!(vox_offset >= 348.0f) || vox_offset > 1e8f) { snprintf(err, errlen, "%s: bad vox_offset", path); goto fail; }
    size_t skip = (size_t)vox_offset - 348;
    unsigned char tmp[4096];
    while (skip > 0) {
        size_t c = skip < sizeof tmp ? skip : sizeof tmp;
        if (read_all(f, tmp, c) < 0) { snprintf(err, errlen, "%s: truncated", path); goto fail; }
        skip -= c;
    }
    unsigned char *raw = malloc(img->n * bpv);
    img->data = malloc(img->n * sizeof(float));
    if (!raw || !img->data) { free(raw); snprintf(err, errlen, "%s: out of memory", path); goto fail; }
    if (read_all(f, raw, img->n * bpv) < 0) { free(raw); snprintf(err, errlen, "%s: truncated voxel data", path); goto fail; }
    float slope = get_f32(h + 112), inter = get_f32(h + 116);
    if (slope == 0.0f || slope != slope) { slope = 1.0f; inter = 0.0f; }
    if (inter != inter) inter = 0.0f;
    for (size_t i = 0; i < img->n; i++) {
        const unsigned char *p = raw + i * bpv;
        double v;
        switch (dt) {
        case 2: v = p[0]; break;
        case 256: v = (int8_t)p[0]; break;
        case 4: v = get_i16(p); break;
        case 512: v = (uint16_t)(p[0] | (p[1] << 8)); break;
        case 8: v = (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24)); break;
        case 16: v = get_f32(p); break;
        default: { uint64_t u = 0; for (int b = 7; b >= 0; b--) u = (u << 8) | p[b]; double d; memcpy(&d, &u, 8); v = d; }
        }
        float x = (float)(v * slope + inter);
        img->data[i] = x == x ? x : 0.0f; /* NaN -> 0 */
    }
    free(raw);
    gzclose(f);
    return 0;
fail:
    gzclose(f);
    free(img->data);
    img->data = NULL;
    return -1;
}

int nio_write_mask(const char *path, const nio_image *img, const unsigned char *mask, char *err, size_t errlen)
{
    unsigned char h[352];
    memcpy(h, img->hdr, 348);
    memset(h + 348, 0, 4);        /* no extensions */
    put_i16(h + 70, 2);           /* datatype uint8 */
    put_i16(h + 72, 8);           /* bitpix */
    put_f32(h + 108, 352.0f);     /* vox_offset */
    put_f32(h + 112, 0.0f);       /* scl_slope: no scaling */
    put_f32(h + 116, 0.0f);
    put_f32(h + 124, 1.0f);       /* cal_max */
    put_f32(h + 128, 0.0f);       /* cal_min */
    size_t len = strlen(path);
    int gz = len > 3 && strcmp(path + len - 3, ".gz") == 0;
    gzFile f = gzopen(path, gz ? "wb6" : "wbT");
    if (!f) { snprintf(err, errlen, "%s: cannot create", path); return -1; }
    int ok = gzwrite(f, h, 352) == 352;
    size_t left = img->n;
    const unsigned char *p = mask;
    while (ok && left > 0) {
        unsigned c = left > (1u << 30) ? (1u << 30) : (unsigned)left;
        ok = gzwrite(f, p, c) == (int)c;
        p += c;
        left -= c;
    }
    if (gzclose(f) != Z_OK) ok = 0;
    if (!ok) { snprintf(err, errlen, "%s: write failed", path); return -1; }
    return 0;
}

void nio_free(nio_image *img)
{
    free(img->data);
    img->data = NULL;
}

long nio_components6(const unsigned char *mask, int nx, int ny, int nz, int *labels)
{
    size_t n = (size_t)nx * ny * nz, sxy = (size_t)nx * ny;
    size_t *stack = malloc(n * sizeof *stack);
    if (!stack) return -1;
    for (size_t i = 0; i < n; i++) labels[i] = 0;
    long count = 0;
    for (size_t s = 0; s < n; s++) {
        if (!mask[s] || labels[s]) continue;
        count++;
        size_t top = 0;
        stack[top++] = s;
        labels[s] = (int)count;
        while (top > 0) {
            size_t v = stack[--top];
            int x = (int)(v % nx), y = (int)((v / nx) % ny), z = (int)(v / sxy);
            size_t nb[6];
            int k = 0;
            if (x > 0) nb[k++] = v - 1;
            if (x < nx - 1) nb[k++] = v + 1;
            if (y > 0) nb[k++] = v - nx;
            if (y < ny - 1) nb[k++] = v + nx;
            if (z > 0) nb[k++] = v - sxy;
            if (z < nz - 1) nb[k++] = v + sxy;
            for (int j = 0; j < k; j++)
                if (mask[nb[j]] && !labels[nb[j]]) { labels[nb[j]] = (int)count; stack[top++] = nb[j]; }
        }
    }
    free(stack);
    return count;
}
