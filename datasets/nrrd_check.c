/*
 * nrrd_check.c: what SegArena checks in a NRRD file (.nrrd, .nhdr) before ITK
 * (teem's NrrdIO) reads it. NrrdIO follows a "data file:" field anywhere (an
 * absolute path, "../x", a LIST, a numbered pattern), so a contestant's .nrrd
 * could make the host read any file as voxels; and its messages for short data
 * do not say what is short. Here the header is parsed (fields "name: value" up to
 * the first empty line; field names compared as teem does, ignoring case and
 * spaces), the data's place is checked (.nrrd: attached only; .nhdr: one plain
 * file name in the header's folder), and raw and gzip data are measured against
 * the sizes and type the header gives.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "image_internal.h"

/* LINE_MAX_BYTES: teem's error messages quote the field line or value they could
 * not parse, formatted with vsprintf into a 1025-byte buffer; a field line (not
 * a "#" comment nor a "key:=value" pair, which teem never quotes) longer than
 * this is refused before teem sees it. */
enum { HEADER_MAX = 1 << 20, MAX_DIMS = 16, LINE_MAX_BYTES = 500 };

typedef struct nrrd_header {
    int dimension;
    long long sizes[MAX_DIMS];
    int n_sizes;
    size_t type_size;   /* 0: unknown or not given */
    char encoding[32];
    long long byte_skip, line_skip;
    int has_data_file;
    char data_file[512];
    size_t header_end;  /* byte after the empty line that ends the header */
    int ended;          /* an empty line ended the header */
    int truncated;      /* the file is longer than what was read (HEADER_MAX) */
} nrrd_header;

/* Lower case without spaces, tabs, '_' or '-': "Data File" -> "datafile". */
static void normalise(const char *s, size_t n, char *out, size_t cap) {
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '_' || c == '-') continue;
        out[j++] = (char)tolower(c);
    }
    out[j] = '\0';
}

static size_t type_size_of(const char *t) {
    static const struct { const char *name; size_t size; } types[] = {
        {"signedchar", 1}, {"int8", 1}, {"int8t", 1}, {"uchar", 1}, {"unsignedchar", 1},
        {"uint8", 1}, {"uint8t", 1}, {"short", 2}, {"shortint", 2}, {"signedshort", 2},
        {"signedshortint", 2}, {"int16", 2}, {"int16t", 2}, {"ushort", 2},
        {"unsignedshort", 2}, {"unsignedshortint", 2}, {"uint16", 2}, {"uint16t", 2},
        {"int", 4}, {"signedint", 4}, {"int32", 4}, {"int32t", 4}, {"uint", 4},
        {"unsignedint", 4}, {"uint32", 4}, {"uint32t", 4}, {"longlong", 8},
        {"longlongint", 8}, {"signedlonglong", 8}, {"signedlonglongint", 8}, {"int64", 8},
        {"int64t", 8}, {"ulonglong", 8}, {"unsignedlonglong", 8}, {"unsignedlonglongint", 8},
        {"uint64", 8}, {"uint64t", 8}, {"float", 4}, {"double", 8},
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(t, types[i].name) == 0) return types[i].size;
    return 0;
}

static int parse(const char *path, nrrd_header *h, sa_error *err) {
    memset(h, 0, sizeof *h);
    size_t len;
    char *buf = sa_header_text_read(path, HEADER_MAX, &len, err);
    if (!buf) return -1;
    if (len < 4 || memcmp(buf, "NRRD", 4) != 0) {
        free(buf);
        return sa_error_set(err, "%s: not a NRRD file (it does not start with \"NRRD\")", path);
    }
    size_t pos = 0;
    int first = 1, ended = 0;
    while (pos < len) {
        /* lines end as teem's airOneLine ends them: at "\n", "\r\n" or a lone "\r"
         * (a parser that split otherwise would not see the fields teem sees) */
        size_t eol = pos;
        while (eol < len && buf[eol] != '\n' && buf[eol] != '\r') eol++;
        if (memchr(buf + pos, '\0', eol - pos)) {
            free(buf);
            return sa_error_set(err, "%s: the NRRD header holds a NUL byte", path);
        }
        size_t next = eol;
        if (next < len && buf[next] == '\r') next++;
        if (next < len && buf[next] == '\n') next++;
        size_t end = eol;
        if (eol == len && !sa_has_suffix(path, ".nhdr")) break; /* no end of header here */
        if (first) {
            if (eol - pos > LINE_MAX_BYTES) {
                free(buf);
                return sa_error_set(err, "%s: the NRRD magic line is longer than %d bytes", path,
                                    LINE_MAX_BYTES);
            }
            first = 0;
            pos = next;
            continue;
        }
        if (end == pos) { /* the empty line that ends the header */
            h->header_end = next;
            ended = 1;
            break;
        }
        const char *line = buf + pos;
        size_t n = end - pos;
        const char *colon = memchr(line, ':', n);
        int key_value = colon && colon + 1 < line + n && colon[1] == '=';
        if (n > LINE_MAX_BYTES && line[0] != '#' && !key_value) {
            free(buf);
            return sa_error_set(err, "%s: a NRRD header line is longer than %d bytes (teem "
                                "quotes a field it cannot parse into a fixed buffer)", path,
                                LINE_MAX_BYTES);
        }
        if (line[0] != '#' && colon && !key_value) {
            char name[64], value[512];
            normalise(line, (size_t)(colon - line), name, sizeof name);
            const char *v = colon + 1;
            while (v < line + n && (*v == ' ' || *v == '\t')) v++;
            size_t vlen = (size_t)(line + n - v);
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
            if (vlen >= sizeof value) vlen = sizeof value - 1;
            memcpy(value, v, vlen);
            value[vlen] = '\0';
            if (strcmp(name, "datafile") == 0 || strcmp(name, "datafiles") == 0) {
                h->has_data_file = 1;
                snprintf(h->data_file, sizeof h->data_file, "%s", value);
            } else if (strcmp(name, "dimension") == 0) {
                long long d;
                if (sa_header_int(path, "dimension", value, &d, err) != 0) {
                    free(buf);
                    return -1;
                }
                h->dimension = d > INT_MAX ? INT_MAX : d < INT_MIN ? INT_MIN : (int)d;
            } else if (strcmp(name, "sizes") == 0) {
                h->n_sizes = sa_header_sizes(path, "sizes", value, h->sizes, MAX_DIMS, err);
                if (h->n_sizes < 0) {
                    free(buf);
                    return -1;
                }
            } else if (strcmp(name, "type") == 0) {
                char t[64];
                normalise(value, strlen(value), t, sizeof t);
                h->type_size = type_size_of(t);
            } else if (strcmp(name, "encoding") == 0) {
                normalise(value, strlen(value), h->encoding, sizeof h->encoding);
            } else if (strcmp(name, "byteskip") == 0 || strcmp(name, "lineskip") == 0) {
                int bytes = name[0] == 'b';
                if (sa_header_int(path, bytes ? "byte skip" : "line skip", value,
                                  bytes ? &h->byte_skip : &h->line_skip, err) != 0) {
                    free(buf);
                    return -1;
                }
            }
        }
        pos = next;
    }
    free(buf);
    h->ended = ended;
    h->truncated = len == HEADER_MAX;
    if (!ended) h->header_end = len;
    return 0;
}

/* The whole header must lie within what parse read: teem would read on, past any
 * field this check has not seen. A .nhdr may end at the file's end; a .nrrd's
 * header ends with an empty line before its data. */
static int header_complete(const char *path, const nrrd_header *h, sa_error *err) {
    if (h->ended || (!h->truncated && sa_has_suffix(path, ".nhdr"))) return 0;
    if (h->truncated)
        return sa_error_set(err, "%s: the NRRD header does not end (with an empty line) within "
                            "its first %d bytes", path, HEADER_MAX);
    return sa_error_set(err, "%s: the NRRD header does not end with an empty line before the "
                        "voxel data", path);
}

static int data_path(const char *path, const nrrd_header *h, char *out, size_t cap,
                     sa_error *err) {
    if (h->has_data_file) return sa_detached_data_path(path, h->data_file, out, cap, err);
    if ((size_t)snprintf(out, cap, "%s", path) >= cap)
        return sa_error_set(err, "%s: path too long", path);
    return 0;
}

int sa_nrrd_check_header(const char *path, const char *root, sa_error *err) {
    nrrd_header h;
    struct stat st0;
    if (stat(path, &st0) == 0 && st0.st_size == 0) return sa_error_set(err, "%s: empty file", path);
    if (parse(path, &h, err) != 0) return -1;
    if (h.has_data_file) {
        const char *v = h.data_file;
        if (sa_has_suffix(path, ".nrrd"))
            return sa_error_set(err, "%s: has a \"data file: %s\" field; a .nrrd file must hold "
                                "its own voxel data (use .nhdr for a detached header)", path, v);
        if (sa_detached_data_check(path, "\"data file:\"", v, root, err) != 0) return -1;
    } else if (sa_has_suffix(path, ".nhdr")) {
        return sa_error_set(err, "%s: a .nhdr header needs a \"data file:\" field", path);
    }
    if (header_complete(path, &h, err) != 0) return -1;
    for (int i = 0; i < h.n_sizes; i++)
        if (h.sizes[i] < 1)
            return sa_error_set(err, "%s: sizes value %d is %lld; every size must be at least 1",
                                path, i + 1, h.sizes[i]);
    return 0;
}

int sa_nrrd_check_data(const char *path, sa_error *err) {
    nrrd_header h;
    if (parse(path, &h, err) != 0 || header_complete(path, &h, err) != 0) return -1;
    int raw = strcmp(h.encoding, "raw") == 0;
    int gz = strcmp(h.encoding, "gzip") == 0 || strcmp(h.encoding, "gz") == 0;
    if ((!raw && !gz) || h.type_size == 0 || h.dimension < 1 || h.n_sizes != h.dimension ||
        h.line_skip != 0 || h.byte_skip < -1 || (gz && h.byte_skip < 0))
        return 0; /* teem reads (and judges) the other encodings and forms itself */
    size_t need = h.type_size;
    for (int i = 0; i < h.n_sizes; i++) {
        if (h.sizes[i] < 1 || (unsigned long long)h.sizes[i] > SIZE_MAX / need)
            return sa_error_set(err, "%s: image is too large", path);
        need *= (size_t)h.sizes[i];
    }
    char dp[4200];
    if (data_path(path, &h, dp, sizeof dp, err) != 0) return -1;
    const char *where = h.has_data_file ? h.data_file : "the file";
    FILE *fp = fopen(dp, "rb");
    if (!fp) return sa_error_set(err, "%s: cannot open data file %s: %s", path, where, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return sa_error_set(err, "%s: data file %s is not a regular file", path, where);
    }
    size_t size = (size_t)st.st_size;
    size_t start = h.has_data_file ? 0 : h.header_end;
    int rc = 0;
    if (raw) {
        size_t skip = h.byte_skip > 0 ? (size_t)h.byte_skip : 0;
        size_t have = size > start + skip ? size - start - skip : 0;
        if (have < need)
            rc = sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel data, "
                              "%s holds %zu", path, need, where, have);
    } else {
        size_t want = need + (size_t)h.byte_skip; /* teem skips bytes after inflating */
        size_t produced = 0;
        if (fseeko(fp, (off_t)start, SEEK_SET) != 0)
            rc = sa_error_set(err, "%s: cannot seek to the voxel data", path);
        else
            rc = sa_inflate_count(path, fp, 0, want, &produced, err);
        if (rc == 0 && produced < want)
            rc = sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel data%s, "
                              "the gzip data in %s inflates to %zu", path, need,
                              h.byte_skip ? " after the byte skip" : "", where, produced);
    }
    fclose(fp);
    return rc;
}
