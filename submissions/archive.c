/*
 * archive.c: byte streams over a file range with capped gzip/xz decompression, and
 * a strict streaming tar reader. Nothing is ever held whole in memory: streams use
 * 64 KiB buffers; pax and GNU long-name records are capped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lzma.h>
#include <sodium.h>
#include <zlib.h>

#include "intake_internal.h"

#define SA_BUF 65536
#define SA_META_MAX (64 * 1024) /* pax / GNU long-name records */

/* ---- Compression sniffing ---- */

int sa_sniff_compression(const unsigned char *b, size_t n) {
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return SA_COMP_GZIP;
    if (n >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0) return SA_COMP_XZ;
    if (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0) return SA_COMP_ZSTD;
    if (n >= 3 && memcmp(b, "BZh", 3) == 0) return SA_COMP_BZIP2;
    return SA_COMP_NONE;
}

/* ---- Streams ---- */

struct sa_stream {
    int comp; /* SA_COMP_NONE: a range of fd */
    int fd;
    uint64_t off, remaining;
    sa_stream *inner;
    z_stream z;
    lzma_stream x;
    int coder_ready, at_end;
    unsigned char *in;
    size_t in_len;
    int inner_eof;
    uint64_t produced, cap;
    int refusal;
    int hashing;
    crypto_hash_sha256_state sha;
};

sa_stream *sa_stream_range(int fd, uint64_t off, uint64_t len) {
    sa_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->comp = SA_COMP_NONE;
    s->fd = fd;
    s->off = off;
    s->remaining = len;
    s->cap = UINT64_MAX;
    return s;
}

sa_stream *sa_stream_decompress(sa_stream *inner, int comp, uint64_t cap) {
    if (!inner) return NULL;
    sa_stream *s = calloc(1, sizeof *s);
    if (!s || (comp != SA_COMP_GZIP && comp != SA_COMP_XZ)) goto fail;
    s->comp = comp;
    s->inner = inner;
    s->cap = cap;
    s->in = malloc(SA_BUF);
    if (!s->in) goto fail;
    if (comp == SA_COMP_GZIP) {
        /* 16 + MAX_WBITS: gzip wrapper only. Concatenated members are handled below. */
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) goto fail;
    } else {
        lzma_stream init = LZMA_STREAM_INIT;
        s->x = init;
        /* cap the decoder memory: a crafted header may ask for a 1.5 GiB dictionary */
        if (lzma_stream_decoder(&s->x, (uint64_t)256 << 20, LZMA_CONCATENATED) != LZMA_OK) goto fail;
    }
    s->coder_ready = 1;
    return s;
fail:
    if (s) free(s->in);
    free(s);
    sa_stream_close(inner);
    return NULL;
}

static int64_t fail_with(sa_stream *s, int refusal, sa_error *err, const char *msg) {
    s->refusal = refusal;
    sa_error_set(err, "%s", msg);
    return -1;
}

static int64_t range_read(sa_stream *s, void *buf, size_t n, sa_error *err) {
    if (s->remaining == 0 || n == 0) return 0;
    if (n > s->remaining) n = (size_t)s->remaining;
    for (;;) {
        ssize_t r = pread(s->fd, buf, n, (off_t)s->off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            s->refusal = SA_REFUSED_INTERNAL;
            return sa_error_set(err, "read error: %s", strerror(errno));
        }
        if (r == 0) return fail_with(s, SA_REFUSED_TRUNCATED, err, "truncated (file ends early)");
        s->off += (uint64_t)r;
        s->remaining -= (uint64_t)r;
        return r;
    }
}

static int refill(sa_stream *s, sa_error *err) {
    if (s->inner_eof) return 0;
    int64_t r = sa_stream_read(s->inner, s->in, SA_BUF, err);
    if (r < 0) {
        s->refusal = sa_stream_refusal(s->inner);
        return -1;
    }
    if (r == 0) s->inner_eof = 1;
    s->in_len = (size_t)r;
    return 0;
}

static int64_t gzip_read(sa_stream *s, void *buf, size_t n, sa_error *err) {
    s->z.next_out = buf;
    s->z.avail_out = (uInt)(n > (1u << 30) ? (1u << 30) : n);
    uInt want = s->z.avail_out;
    while (s->z.avail_out == want) {
        if (s->at_end) {
            /* A member ended: another may follow (concatenated gzip); else done. */
            if (s->z.avail_in == 0) {
                if (refill(s, err) < 0) return -1;
                s->z.next_in = s->in;
                s->z.avail_in = (uInt)s->in_len;
                if (s->in_len == 0) return 0;
            }
            if (inflateReset(&s->z) != Z_OK) return fail_with(s, SA_REFUSED_NOT_A_TAR, err, "corrupt gzip data");
            s->at_end = 0;
        }
        if (s->z.avail_in == 0) {
            if (refill(s, err) < 0) return -1;
            s->z.next_in = s->in;
            s->z.avail_in = (uInt)s->in_len;
            if (s->in_len == 0) return fail_with(s, SA_REFUSED_TRUNCATED, err, "truncated gzip data");
        }
        int rc = inflate(&s->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            s->at_end = 1;
        } else if (rc == Z_BUF_ERROR) {
            continue; /* needs input */
        } else if (rc != Z_OK) {
            return fail_with(s, SA_REFUSED_NOT_A_TAR, err, "corrupt gzip data");
        }
    }
    return (int64_t)(want - s->z.avail_out);
}

static int64_t xz_read(sa_stream *s, void *buf, size_t n, sa_error *err) {
    if (s->at_end) return 0;
    s->x.next_out = buf;
    s->x.avail_out = n;
    while (s->x.avail_out == n) {
        lzma_action action = LZMA_RUN;
        if (s->x.avail_in == 0) {
            if (refill(s, err) < 0) return -1;
            s->x.next_in = s->in;
            s->x.avail_in = s->in_len;
            if (s->in_len == 0) action = LZMA_FINISH;
        }
        lzma_ret rc = lzma_code(&s->x, action);
        if (rc == LZMA_STREAM_END) {
            s->at_end = 1;
            break;
        }
        if (rc == LZMA_BUF_ERROR && action == LZMA_FINISH)
            return fail_with(s, SA_REFUSED_TRUNCATED, err, "truncated xz data");
        if (rc != LZMA_OK) {
            if (rc == LZMA_MEMLIMIT_ERROR)
                return fail_with(s, SA_REFUSED_TOO_LARGE, err, "xz data needs more than 256 MiB of decoder memory");
            if (rc == LZMA_MEM_ERROR) {
                s->refusal = SA_REFUSED_INTERNAL;
                return sa_error_set(err, "out of memory decompressing xz");
            }
            return fail_with(s, SA_REFUSED_NOT_A_TAR, err, "corrupt xz data");
        }
        if (action == LZMA_FINISH && s->x.avail_out == n)
            return fail_with(s, SA_REFUSED_TRUNCATED, err, "truncated xz data");
    }
    return (int64_t)(n - s->x.avail_out);
}

int64_t sa_stream_read(sa_stream *s, void *buf, size_t n, sa_error *err) {
    if (s->refusal) return sa_error_set(err, "read after an error");
    int64_t r;
    if (s->comp == SA_COMP_NONE) {
        r = range_read(s, buf, n, err);
    } else {
        /* Ask for at most one byte past the cap so that a bomb stops right there. */
        uint64_t room = s->cap - s->produced;
        if (room < UINT64_MAX) room++; /* no wrap-around for an unlimited cap */
        if (n > room) n = (size_t)room;
        if (n == 0) return 0;
        r = s->comp == SA_COMP_GZIP ? gzip_read(s, buf, n, err) : xz_read(s, buf, n, err);
    }
    if (r > 0) {
        if (s->hashing) crypto_hash_sha256_update(&s->sha, buf, (unsigned long long)r);
        s->produced += (uint64_t)r;
        if (s->produced > s->cap) {
            s->refusal = SA_REFUSED_TOO_LARGE;
            return sa_error_set(err, "too large: decompresses to more than %llu bytes",
                                (unsigned long long)s->cap);
        }
    }
    return r;
}

int sa_stream_read_full(sa_stream *s, void *buf, size_t n, sa_error *err) {
    unsigned char *p = buf;
    while (n > 0) {
        int64_t r = sa_stream_read(s, p, n, err);
        if (r < 0) return -1;
        if (r == 0) {
            s->refusal = SA_REFUSED_TRUNCATED;
            return sa_error_set(err, "truncated (data ends early)");
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

void sa_stream_hash(sa_stream *s) {
    crypto_hash_sha256_init(&s->sha);
    s->hashing = 1;
}

void sa_stream_hash_hex(sa_stream *s, char hex[65]) {
    unsigned char d[32];
    crypto_hash_sha256_final(&s->sha, d);
    s->hashing = 0;
    sodium_bin2hex(hex, 65, d, sizeof d);
}

int sa_stream_refusal(const sa_stream *s) { return s->refusal; }
uint64_t sa_stream_produced(const sa_stream *s) { return s->produced; }

void sa_stream_close(sa_stream *s) {
    if (!s) return;
    if (s->coder_ready) {
        if (s->comp == SA_COMP_GZIP) inflateEnd(&s->z);
        if (s->comp == SA_COMP_XZ) lzma_end(&s->x);
    }
    sa_stream_close(s->inner);
    free(s->in);
    free(s);
}

/* ---- Tar ---- */

struct sa_tar {
    sa_stream *s;
    uint64_t pos;       /* offset in the tar stream */
    uint64_t data_left; /* of the current entry */
    uint64_t pad;       /* zero padding after the current entry's data */
    uint64_t entries;
    int refusal;
    int ended;
};

sa_tar *sa_tar_open(sa_stream *s) {
    sa_tar *t = calloc(1, sizeof *t);
    if (t) t->s = s;
    return t;
}

static int tar_fail(sa_tar *t, int refusal, sa_error *err, const char *fmt, const char *arg) {
    t->refusal = refusal;
    sa_error_set(err, fmt, arg);
    return -1;
}

static int tar_raw(sa_tar *t, void *buf, size_t n, sa_error *err) {
    if (sa_stream_read_full(t->s, buf, n, err) < 0) {
        t->refusal = sa_stream_refusal(t->s);
        if (t->refusal == SA_REFUSED_TRUNCATED) sa_error_set(err, "truncated (the tar ends early)");
        return -1;
    }
    t->pos += n;
    return 0;
}

static int tar_skip(sa_tar *t, uint64_t n, sa_error *err) {
    unsigned char buf[8192];
    while (n > 0) {
        size_t k = n > sizeof buf ? sizeof buf : (size_t)n;
        if (tar_raw(t, buf, k, err) < 0) return -1;
        n -= k;
    }
    return 0;
}

/* Octal (NUL/space terminated) or GNU base-256. */
static int parse_number(const unsigned char *f, size_t len, uint64_t *out) {
    uint64_t v = 0;
    if (f[0] & 0x80) {
        if (f[0] != 0x80) return -1; /* negative or too large */
        for (size_t i = 1; i < len; i++) {
            if (v >> 55) return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ') i++;
    int digits = 0;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 60) return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != '\0') return -1;
    *out = v;
    (void)digits;
    return 0;
}

static int header_checksum_ok(const unsigned char *h) {
    uint64_t want;
    if (parse_number(h + 148, 8, &want) < 0) return 0;
    uint64_t sum = 0;
    for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
    if (sum == want) return 1;
    /* Some old tars summed signed chars. */
    int64_t ssum = 0;
    for (int i = 0; i < 512; i++) ssum += (i >= 148 && i < 156) ? ' ' : (signed char)h[i];
    return (uint64_t)ssum == want;
}

static void copy_field(char *dst, size_t dst_size, const unsigned char *src, size_t len) {
    size_t n = 0;
    while (n < len && src[n]) n++;
    if (n >= dst_size) n = dst_size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Reads a pax or GNU long-name record of size n into a fresh buffer (NUL ended). */
static char *read_meta(sa_tar *t, uint64_t n, sa_error *err) {
    if (n > SA_META_MAX) {
        tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa pax or long-name record is too large", "");
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (!buf) {
        tar_fail(t, SA_REFUSED_INTERNAL, err, "%sout of memory", "");
        return NULL;
    }
    if (tar_raw(t, buf, (size_t)n, err) < 0 || tar_skip(t, (512 - n % 512) % 512, err) < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Pax records "LEN key=value\n": applies path, linkpath and size. */
/* Whether text[0..len) holds needle (memmem is a GNU extension). */
static int contains(const char *text, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(text + i, needle, n) == 0) return 1;
    return 0;
}

static int apply_pax(sa_tar *t, const char *rec, size_t len, char *path, int *have_path,
                     char *link, int *have_link, uint64_t *size, int *have_size, sa_error *err) {
    size_t i = 0;
    while (i < len) {
        size_t reclen = 0, j = i;
        while (j < len && rec[j] >= '0' && rec[j] <= '9' && reclen < len) reclen = reclen * 10 + (size_t)(rec[j++] - '0');
        if (j >= len || rec[j] != ' ' || reclen == 0 || reclen > len - i || rec[i + reclen - 1] != '\n')
            return tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa malformed pax header", "");
        const char *kv = rec + j + 1, *end = rec + i + reclen - 1;
        const char *eq = memchr(kv, '=', (size_t)(end - kv));
        if (!eq) return tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa malformed pax header", "");
        size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
        if ((klen == 4 && !memcmp(kv, "path", 4)) || (klen == 8 && !memcmp(kv, "linkpath", 8))) {
            char *dst = klen == 4 ? path : link;
            if (vlen >= SA_TAR_NAME_MAX || memchr(eq + 1, '\0', vlen))
                return tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa pax path is too long", "");
            memcpy(dst, eq + 1, vlen);
            dst[vlen] = '\0';
            *(klen == 4 ? have_path : have_link) = 1;
        } else if (klen == 4 && !memcmp(kv, "size", 4)) {
            uint64_t v = 0;
            if (vlen == 0 || vlen > 19) return tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa bad pax size", "");
            for (size_t k = 0; k < vlen; k++) {
                char c = eq[1 + k];
                if (c < '0' || c > '9') return tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa bad pax size", "");
                v = v * 10 + (uint64_t)(c - '0');
            }
            *size = v;
            *have_size = 1;
        }
        i += reclen;
    }
    return 0;
}

int sa_tar_next(sa_tar *t, sa_tar_entry *e, sa_error *err) {
    if (t->refusal) return sa_error_set(err, "read after an error");
    if (t->ended) return 0;
    if (tar_skip(t, t->data_left + t->pad, err) < 0) return -1;
    t->data_left = t->pad = 0;

    char *long_path = NULL, *long_link = NULL;
    char pax_path[SA_TAR_NAME_MAX], pax_link[SA_TAR_NAME_MAX];
    int have_pax_path = 0, have_pax_link = 0, have_pax_size = 0;
    int pax_headers = 0; /* readers differ on how several combine: refused */
    uint64_t pax_size = 0;
    int rc = -1;
    unsigned char h[512];
    for (;;) {
        if (t->entries == 0 && t->pos == 0) {
            /* The very first block decides "not a tar" vs "empty". */
            int64_t got = 0;
            while (got < 512) {
                int64_t r = sa_stream_read(t->s, h + got, (size_t)(512 - got), err);
                if (r < 0) {
                    t->refusal = sa_stream_refusal(t->s);
                    goto out;
                }
                if (r == 0) break;
                got += r;
            }
            t->pos += (uint64_t)got;
            if (got == 0) {
                tar_fail(t, SA_REFUSED_EMPTY, err, "%sempty file", "");
                goto out;
            }
            if (got < 512) {
                tar_fail(t, SA_REFUSED_NOT_A_TAR, err, "%snot a tar archive (too short)", "");
                goto out;
            }
        } else if (tar_raw(t, h, 512, err) < 0) {
            goto out;
        }
        int zero = 1;
        for (int i = 0; i < 512 && zero; i++) zero = h[i] == 0;
        if (zero) {
            if (long_path || long_link || have_pax_path || have_pax_link || have_pax_size) {
                tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa pax or long-name record without its entry", "");
                goto out;
            }
            t->ended = 1;
            rc = 0;
            goto out;
        }
        if (!header_checksum_ok(h)) {
            if (t->entries == 0 && t->pos == 512)
                tar_fail(t, SA_REFUSED_NOT_A_TAR, err, "%snot a tar archive (bad header checksum)", "");
            else
                tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa corrupt tar header (bad checksum)", "");
            goto out;
        }
        t->entries++;
        uint64_t size;
        if (parse_number(h + 124, 12, &size) < 0) {
            tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa corrupt tar header (bad size)", "");
            goto out;
        }
        char flag = (char)h[156];
        if (flag == 'x') {
            if (++pax_headers > 1) {
                tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sseveral pax headers for one member", "");
                goto out;
            }
            char *rec = read_meta(t, size, err);
            if (!rec) goto out;
            /* Go's archive/tar (skopeo's reader) renames and reshapes sparse
             * members from these keys; SegArena would see another file. */
            if (contains(rec, (size_t)size, "GNU.sparse.")) {
                free(rec);
                tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa GNU sparse pax record", "");
                goto out;
            }
            int r = apply_pax(t, rec, (size_t)size, pax_path, &have_pax_path, pax_link, &have_pax_link,
                              &pax_size, &have_pax_size, err);
            free(rec);
            if (r < 0) goto out;
            continue;
        }
        /* A global pax header: Go's archive/tar (skopeo, containers-storage)
         * returns it as an entry of its own and drops the pax and GNU long-name
         * records before it, where a reader that skips it would apply them to
         * the next member (another name, or another size that hides headers).
         * docker save and podman save never write one: refused. */
        if (flag == 'g') {
            tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa pax global header", "");
            goto out;
        }
        if (flag == 'L' || flag == 'K') {
            char *rec = read_meta(t, size, err);
            if (!rec) goto out;
            char **slot = flag == 'L' ? &long_path : &long_link;
            free(*slot);
            *slot = rec;
            continue;
        }
        memset(e, 0, sizeof *e);
        e->typeflag = flag;
        switch (flag) {
        /* '7' (contiguous file) is not '0' to every extractor: refused as OTHER.
         * '\0' with a name ending in '/' is a folder to Go (below). */
        case '0': case '\0': e->type = SA_TAR_FILE; break;
        case '5': e->type = SA_TAR_DIR; break;
        case '2': e->type = SA_TAR_SYMLINK; break;
        case '1': e->type = SA_TAR_HARDLINK; break;
        case '6': e->type = SA_TAR_FIFO; break;
        case '3': case '4': e->type = SA_TAR_DEVICE; break;
        default: e->type = SA_TAR_OTHER; break;
        }
        /* A pax path and a GNU long name for the same member: Go lets the GNU
         * record win, the pax standard the other; refuse rather than guess. */
        if ((have_pax_path && long_path) || (have_pax_link && long_link)) {
            tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sboth a pax and a GNU long name for one member", "");
            goto out;
        }
        /* star archives ("tar" at offset 508) use a shorter name prefix */
        if (memcmp(h + 257, "ustar", 5) == 0 && memcmp(h + 508, "tar\0", 4) == 0) {
            tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa star-format header", "");
            goto out;
        }
        if (have_pax_size) size = pax_size;
        if (have_pax_path) {
            memcpy(e->name, pax_path, strlen(pax_path) + 1);
        } else if (long_path) {
            if (strlen(long_path) >= SA_TAR_NAME_MAX) {
                tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa member name is too long", "");
                goto out;
            }
            strcpy(e->name, long_path);
        } else {
            char name[101], prefix[156];
            copy_field(name, sizeof name, h, 100);
            copy_field(prefix, sizeof prefix, h + 345, 155);
            if (memcmp(h + 257, "ustar", 5) == 0 && prefix[0] && h[257 + 5] == '\0')
                snprintf(e->name, sizeof e->name, "%s/%s", prefix, name);
            else
                snprintf(e->name, sizeof e->name, "%s", name);
        }
        if (have_pax_link) {
            memcpy(e->linkname, pax_link, strlen(pax_link) + 1);
        } else if (long_link) {
            if (strlen(long_link) >= SA_TAR_NAME_MAX) {
                tar_fail(t, SA_REFUSED_UNSAFE_ARCHIVE, err, "%sa link name is too long", "");
                goto out;
            }
            strcpy(e->linkname, long_link);
        } else {
            copy_field(e->linkname, sizeof e->linkname, h + 157, 100);
        }
        /* As Go's archive/tar (which skopeo and containers-storage use): a
         * legacy '\0' member whose full name ends in '/' is a folder, and
         * folders, links, fifos and devices carry no data whatever their size
         * field says. Reading such a size as data would hide the headers in it
         * from these checks while the engine unpacks them. */
        size_t name_len = strlen(e->name);
        if (flag == '\0' && name_len > 0 && e->name[name_len - 1] == '/') e->type = SA_TAR_DIR;
        if (e->type != SA_TAR_FILE && e->type != SA_TAR_OTHER) size = 0;
        e->size = size;
        e->data_offset = t->pos;
        t->data_left = size;
        t->pad = (512 - size % 512) % 512;
        rc = 1;
        goto out;
    }
out:
    free(long_path);
    free(long_link);
    return rc;
}

int64_t sa_tar_read(sa_tar *t, void *buf, size_t n, sa_error *err) {
    if (t->refusal) return sa_error_set(err, "read after an error");
    if (t->data_left == 0) return 0;
    if (n > t->data_left) n = (size_t)t->data_left;
    int64_t r = sa_stream_read(t->s, buf, n, err);
    if (r < 0) {
        t->refusal = sa_stream_refusal(t->s);
        return -1;
    }
    if (r == 0) {
        t->refusal = SA_REFUSED_TRUNCATED;
        return sa_error_set(err, "truncated (the tar ends inside a member)");
    }
    t->pos += (uint64_t)r;
    t->data_left -= (uint64_t)r;
    return r;
}

int sa_tar_drain(sa_tar *t, sa_error *err) {
    unsigned char buf[8192];
    for (;;) {
        int64_t r = sa_stream_read(t->s, buf, sizeof buf, err);
        if (r < 0) {
            t->refusal = sa_stream_refusal(t->s);
            return -1;
        }
        if (r == 0) return 0;
        t->pos += (uint64_t)r;
    }
}

int sa_tar_refusal(const sa_tar *t) { return t->refusal; }
uint64_t sa_tar_entries(const sa_tar *t) { return t->entries; }
void sa_tar_close(sa_tar *t) { free(t); }

/* ---- Names ---- */

int sa_tar_normalize(char *name, const char **why) {
    const char *w = NULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f) w = "holds a control character";
    if (!w && name[0] == '/') w = "is an absolute path";
    char *out = name;
    const char *p = name;
    while (!w && *p) {
        while (*p == '/') p++;
        const char *start = p;
        while (*p && *p != '/') p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.')) continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            w = "has a '..' component";
            break;
        }
        if (out != name) *out++ = '/';
        memmove(out, start, len);
        out += len;
    }
    if (!w) {
        *out = '\0';
        if (name[0] == '\0') w = "is empty";
    }
    if (why) *why = w;
    return w ? -1 : 0;
}

int sa_symlink_escapes(const char *path, const char *target) {
    long depth = 0;
    if (target[0] != '/') {
        /* The link's own folder: the components of path but the last. */
        for (const char *p = path; *p; p++)
            if (*p == '/') depth++;
    }
    const char *p = target;
    while (*p) {
        while (*p == '/') p++;
        const char *start = p;
        while (*p && *p != '/') p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.')) continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            if (--depth < 0) return 1;
        } else {
            depth++;
        }
    }
    return 0;
}

/* ---- Users ---- */

/* The user part of USER must be a plain uid (digits, at most 2^31 - 1, the range
 * runc accepts) or a portable user name: anything else ("+0", "-0", spaces,
 * huge numbers that wrap to 0 in a uint32) is refused rather than interpreted. */
int sa_parse_user(const char *user, long *uid, char *name, size_t name_size) {
    size_t len = strcspn(user, ":");
    *uid = -1;
    if (name_size) name[0] = '\0';
    if (len == 0) return -1;
    int numeric = 1;
    for (size_t i = 0; i < len; i++)
        if (user[i] < '0' || user[i] > '9') numeric = 0;
    if (numeric) {
        long v = 0;
        for (size_t i = 0; i < len; i++) {
            v = v * 10 + (user[i] - '0');
            if (v > 0x7fffffffL) return -1;
        }
        *uid = v;
        return 0;
    }
    if (!((user[0] >= 'a' && user[0] <= 'z') || (user[0] >= 'A' && user[0] <= 'Z') || user[0] == '_')) return -1;
    for (size_t i = 1; i < len; i++) {
        char ch = user[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                 ch == '.' || ch == '-';
        if (!ok) return -1;
    }
    if (len >= name_size) return -1;
    memcpy(name, user, len);
    name[len] = '\0';
    return 0;
}

/* The group part of USER ("1000:1001", "app:grp"): *gid the number when it is
 * numeric (same rules as a uid), -1 when there is none or it is a name; -1 returned
 * for anything else ("+0", spaces, a number that wraps). */
int sa_parse_group(const char *user, long *gid) {
    *gid = -1;
    const char *colon = strchr(user, ':');
    if (!colon) return 0;
    const char *group = colon + 1;
    if (!*group || strchr(group, ':')) return -1;
    long v;
    char name[64];
    if (sa_parse_user(group, &v, name, sizeof name) < 0) return -1;
    *gid = v; /* -1 for a name */
    return 0;
}

/* A passwd number field: digits only, at most 2^31 - 1 (runc's strconv.Atoi would
 * read "", "+0" or "x" as 0); -1 otherwise. */
static long passwd_number(const char *p, size_t n) {
    if (n == 0 || n > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v <= 0x7fffffffL ? v : -1;
}

/* The uid (and gid, when gid is not NULL) of `name` in an /etc/passwd. runc
 * (podman's reader) trims each line with Go's bytes.TrimSpace, which also removes
 * \v, \f, U+0085 and U+00A0, and lets the first line whose name field matches win,
 * even a line with no ':' (uid 0). Rather than copy that trim: a line that, once
 * spaces, tabs and CRs are trimmed, does not start with [A-Za-z0-9_#] makes the
 * whole file unreadable (-2); a name on several lines, or whose line lacks a
 * well-formed uid or gid field, gives -1. Only then is the uid returned. SegArena
 * passes the numeric uid:gid to the engine, so this is a second layer. */
long sa_passwd_uid(const char *passwd, size_t len, const char *name, long *gid) {
    size_t nlen = strlen(name);
    long found = -1, found_gid = -1;
    int matches = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && passwd[e] != '\n') e++;
        size_t a = i, b = e; /* trim */
        while (a < b && (passwd[a] == ' ' || passwd[a] == '\t' || passwd[a] == '\r')) a++;
        while (b > a && (passwd[b - 1] == ' ' || passwd[b - 1] == '\t' || passwd[b - 1] == '\r')) b--;
        i = e + 1;
        if (a == b) continue;
        char c0 = passwd[a];
        if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9') || c0 == '_' ||
              c0 == '#'))
            return -2;
        if (c0 == '#') continue;
        /* name[:password:uid:gid:...]; the name field alone is what runc matches */
        size_t f = a;
        while (f < b && passwd[f] != ':') f++;
        if (f - a != nlen || memcmp(passwd + a, name, nlen) != 0) continue;
        matches++;
        found = found_gid = -1;
        size_t fields[4][2] = {{0}}; /* password, uid, gid, then the rest */
        size_t k = f, nf = 0;
        while (k < b && nf < 3) {
            size_t s0 = ++k;
            while (k < b && passwd[k] != ':') k++;
            fields[nf][0] = s0;
            fields[nf][1] = k - s0;
            nf++;
        }
        if (nf == 3 && k < b && passwd[k] == ':') {
            found = passwd_number(passwd + fields[1][0], fields[1][1]);
            found_gid = passwd_number(passwd + fields[2][0], fields[2][1]);
            if (found_gid < 0) found = -1;
        }
    }
    if (matches != 1) return -1;
    if (gid) *gid = found_gid;
    return found;
}
