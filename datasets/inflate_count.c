/*
 * inflate_count.c: measures a compressed voxel stream without keeping it, for
 * the MetaImage and NRRD checks (metaimage_check.c, nrrd_check.c): how many bytes
 * it inflates to, and whether it ends properly. MetaIO and teem would read a
 * short or cut stream into a partly filled buffer; this lets SegArena refuse it
 * first. Work is bounded by twice the length the header describes, so a stream
 * that inflates to far more (a "zip bomb") costs no more than a valid one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "image_internal.h"

int sa_inflate_count(const char *path, FILE *fp, long long limit, size_t want, size_t *got,
                     sa_error *err) {
    enum { CHUNK = 1 << 18 };
    unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    *got = 0;
    int rc = 0;
    /* 47: zlib or gzip header, detected (as MetaIO; teem writes gzip) */
    if (!in || !out || inflateInit2(&zs, 47) != Z_OK) {
        free(in);
        free(out);
        return sa_error_set(err, "%s: out of memory", path);
    }
    size_t produced = 0, cap = want > SIZE_MAX / 2 ? SIZE_MAX : 2 * want;
    long long left = limit > 0 ? limit : -1;
    int eof = 0, ended = 0;
    while (produced < cap) {
        if (zs.avail_in == 0 && !eof) {
            size_t ask = CHUNK;
            if (left >= 0 && (long long)ask > left) ask = (size_t)left;
            size_t n = ask ? fread(in, 1, ask, fp) : 0;
            if (left >= 0) left -= (long long)n;
            if (n < ask || ask == 0 || left == 0) eof = 1;
            zs.next_in = in;
            zs.avail_in = (uInt)n;
        }
        size_t room = cap - produced < CHUNK ? cap - produced : CHUNK;
        zs.next_out = out;
        zs.avail_out = (uInt)room;
        int z = inflate(&zs, Z_NO_FLUSH);
        produced += room - zs.avail_out;
        if (z == Z_STREAM_END) {
            ended = 1;
            break;
        }
        if (z == Z_BUF_ERROR && zs.avail_in == 0 && eof) break; /* input ran out */
        if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = sa_error_set(err, "%s: corrupt compressed voxel data (%s)", path,
                              zs.msg ? zs.msg : "inflate error");
            break;
        }
    }
    inflateEnd(&zs);
    free(in);
    free(out);
    *got = produced < want ? produced : want;
    if (rc == 0 && !ended && produced < cap && produced >= want)
        rc = sa_error_set(err, "%s: truncated compressed voxel data (the stream ends early, "
                          "after all %zu bytes of voxels)", path, want);
    return rc;
}
