/*
 * gzip_body.c: the gzip'd copy of a cached body (zlib), made once when the
 * page cache builds a board: the leaderboard page is mostly SVG text and
 * shrinks about fourfold, which a browser on a slow link notices.
 */
#include <limits.h>
#include <stdlib.h>

#include <zlib.h>

#include "server_internal.h"

int sa_web_gzip(const char *data, size_t len, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    z_stream z = {0};
    /* 15 + 16: a gzip header and trailer around the deflate stream; level 6
     * (zlib's default) */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    uLong cap = deflateBound(&z, (uLong)len);
    unsigned char *buf = malloc(cap);
    int rc = -1;
    if (buf && len <= UINT_MAX && cap <= UINT_MAX) { /* one deflate call: sizes fit its counters */
        z.next_in = (Bytef *)data;
        z.avail_in = (uInt)len;
        z.next_out = buf;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END) rc = 0;
    }
    if (rc == 0) {
        *out = (char *)buf;
        *out_len = z.total_out;
    } else {
        free(buf);
    }
    deflateEnd(&z);
    return rc;
}
