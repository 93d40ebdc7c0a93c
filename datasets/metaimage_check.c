/*
 * metaimage_check.c: what SegArena checks in a MetaImage (.mha, .mhd) before ITK
 * reads it. MetaIO follows the header's ElementDataFile anywhere (an absolute
 * path, "../x", a LIST of files, a numbered pattern), so a contestant's .mha could
 * make the host read any file as voxels; and it reads short or missing data into
 * an uninitialised buffer without telling ITK. Here the header is parsed the way
 * MetaIO's MET_Read does (key up to '=' or ':', value to the end of the line, the
 * header ends with the ElementDataFile line), the data's place is checked (.mha:
 * LOCAL only; .mhd: LOCAL or one plain file name in the header's folder), and the
 * data's length is checked against DimSize x element size (compressed data is
 * inflated and counted, up to the length the header describes).
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

/* LINE_MAX_BYTES: MetaIO's MET_Read copies a key (and string values) with
 * strcpy into char[255]; a longer header line would overflow it. */
enum { HEADER_MAX = 1 << 20, MAX_DIMS = 16, LINE_MAX_BYTES = 250 };

typedef struct meta_header {
    int ndims;
    long long dim[MAX_DIMS];
    int have_dims;
    size_t type_size;       /* 0: unknown element type (ITK refuses it) */
    long long channels;
    int ascii;              /* BinaryData = False */
    int compressed;
    long long compressed_size; /* 0: not given */
    long long header_size;  /* HeaderSize; 0: not given */
    char data_file[512];
    size_t header_end;      /* byte after the ElementDataFile line */
} meta_header;

static int is_blank(int c) { return c == ' ' || c == '\t' || c == '\r'; }

static size_t element_size(const char *t) {
    static const struct { const char *name; size_t size; } types[] = {
        {"MET_CHAR", 1}, {"MET_UCHAR", 1}, {"MET_SHORT", 2}, {"MET_USHORT", 2},
        {"MET_INT", 4}, {"MET_UINT", 4}, {"MET_LONG", 4}, {"MET_ULONG", 4},
        {"MET_LONG_LONG", 8}, {"MET_ULONG_LONG", 8}, {"MET_FLOAT", 4}, {"MET_DOUBLE", 8},
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(t, types[i].name) == 0) return types[i].size;
    return 0;
}

/* 1 true, 0 false, -1 neither. MetaIO judges a boolean by its first character
 * alone, so only the spellings whose meaning no reader can take otherwise pass. */
static int parse_bool(const char *v) {
    if (strcasecmp(v, "true") == 0 || strcasecmp(v, "t") == 0 || strcmp(v, "1") == 0) return 1;
    if (strcasecmp(v, "false") == 0 || strcasecmp(v, "f") == 0 || strcmp(v, "0") == 0) return 0;
    return -1;
}

/* Parses the header of the file at path. Returns 0 or -1. */
static int parse(const char *path, meta_header *m, sa_error *err) {
    memset(m, 0, sizeof *m);
    m->channels = 1;
    size_t len;
    char *buf = sa_header_text_read(path, HEADER_MAX, &len, err);
    if (!buf) return -1;
    int rc = 1; /* 1: no ElementDataFile seen yet */
    size_t pos = 0;
    while (pos < len && rc == 1) {
        size_t eol = pos;
        while (eol < len && buf[eol] != '\n') eol++;
        size_t next = eol < len ? eol + 1 : eol;
        if (eol - pos > LINE_MAX_BYTES) {
            rc = sa_error_set(err, "%s: a MetaImage header line is longer than %d bytes (MetaIO "
                              "copies keys and values into 255-byte buffers)", path,
                              LINE_MAX_BYTES);
            break;
        }
        size_t k = pos;
        while (k < eol && (is_blank(buf[k]))) k++;
        size_t key_start = k;
        while (k < eol && buf[k] != '=' && buf[k] != ':') k++;
        size_t key_end = k;
        while (key_end > key_start && is_blank(buf[key_end - 1])) key_end--;
        char key[64] = "";
        if (key_end - key_start < sizeof key) {
            memcpy(key, buf + key_start, key_end - key_start);
            key[key_end - key_start] = '\0';
        }
        int known = strcmp(key, "ElementDataFile") == 0 || strcmp(key, "NDims") == 0 ||
                    strcmp(key, "DimSize") == 0 || strcmp(key, "ElementType") == 0 ||
                    strcmp(key, "HeaderSize") == 0 || strcmp(key, "CompressedData") == 0 ||
                    strcmp(key, "CompressedDataSize") == 0 || strcmp(key, "BinaryData") == 0 ||
                    strcmp(key, "ElementNumberOfChannels") == 0;
        if (known && k == eol) {
            rc = sa_error_set(err, "%s: header line '%s' has no '=' and value", path, key);
            break;
        }
        while (k < eol && (buf[k] == '=' || buf[k] == ':' || is_blank(buf[k]))) k++;
        size_t v_end = eol;
        while (v_end > k && is_blank(buf[v_end - 1])) v_end--;
        char value[512];
        size_t vlen = v_end - k < sizeof value - 1 ? v_end - k : sizeof value - 1;
        memcpy(value, buf + k, vlen);
        value[vlen] = '\0';
        long long num = 0;
        int integer = strcmp(key, "NDims") == 0 || strcmp(key, "ElementNumberOfChannels") == 0 ||
                      strcmp(key, "CompressedDataSize") == 0 || strcmp(key, "HeaderSize") == 0;
        if (integer && sa_header_int(path, key, value, &num, err) != 0) {
            rc = -1;
            break;
        }
        if (strcmp(key, "NDims") == 0) {
            m->ndims = num > INT_MAX ? INT_MAX : num < INT_MIN ? INT_MIN : (int)num;
        } else if (strcmp(key, "DimSize") == 0) {
            m->have_dims = sa_header_sizes(path, key, value, m->dim, MAX_DIMS, err);
            if (m->have_dims < 0) {
                rc = -1;
                break;
            }
        } else if (strcmp(key, "ElementType") == 0) {
            m->type_size = element_size(value);
        } else if (strcmp(key, "ElementNumberOfChannels") == 0) {
            m->channels = num;
        } else if (strcmp(key, "BinaryData") == 0 || strcmp(key, "CompressedData") == 0) {
            int b = parse_bool(value);
            if (b < 0) {
                rc = sa_error_set(err, "%s: %s is '%s'; it must be True or False", path, key, value);
                break;
            }
            if (key[0] == 'B') m->ascii = !b;
            else m->compressed = b;
        } else if (strcmp(key, "CompressedDataSize") == 0) {
            m->compressed_size = num;
        } else if (strcmp(key, "HeaderSize") == 0) {
            m->header_size = num;
        } else if (strcmp(key, "ElementDataFile") == 0) {
            if (v_end - k >= sizeof m->data_file) {
                rc = sa_error_set(err, "%s: ElementDataFile value is too long", path);
                break;
            }
            memcpy(m->data_file, value, vlen + 1);
            m->header_end = next;
            rc = 0;
        }
        pos = next;
    }
    free(buf);
    if (rc == 1)
        return sa_error_set(err, "%s: not a MetaImage header (no ElementDataFile line in its "
                            "first %d bytes)", path, HEADER_MAX);
    return rc;
}

static int is_local(const char *v) { return strcasecmp(v, "LOCAL") == 0; }

/* The data file's path (header's folder + name); the header itself for LOCAL. */
static int data_path(const char *path, const meta_header *m, char *out, size_t cap,
                     sa_error *err) {
    if (!is_local(m->data_file)) return sa_detached_data_path(path, m->data_file, out, cap, err);
    if ((size_t)snprintf(out, cap, "%s", path) >= cap)
        return sa_error_set(err, "%s: path too long", path);
    return 0;
}

int sa_metaimage_check_header(const char *path, const char *root, sa_error *err) {
    meta_header m;
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size == 0) return sa_error_set(err, "%s: empty file", path);
    if (parse(path, &m, err) != 0) return -1;
    const char *v = m.data_file;
    int mha = sa_has_suffix(path, ".mha");
    if (mha && !is_local(v))
        return sa_error_set(err, "%s: ElementDataFile is '%s'; a .mha file must hold its own "
                            "voxel data (ElementDataFile = LOCAL)", path, v);
    if (!is_local(v) && sa_detached_data_check(path, "ElementDataFile", v, root, err) != 0) return -1;
    if (m.ascii)
        return sa_error_set(err, "%s: ASCII MetaImage data (BinaryData = False) is not "
                            "supported", path);
    if (m.compressed && m.compressed_size <= 0 && is_local(v))
        return sa_error_set(err, "%s: CompressedData = True with the data in the file needs a "
                            "positive CompressedDataSize (MetaIO reads nothing without it)", path);
    if (m.ndims < 1 || m.ndims > MAX_DIMS || m.have_dims < m.ndims)
        return sa_error_set(err, "%s: NDims %d and DimSize (%d values) do not describe an image",
                            path, m.ndims, m.have_dims);
    for (int i = 0; i < m.ndims; i++)
        if (m.dim[i] < 1)
            return sa_error_set(err, "%s: DimSize value %d is %lld; every size must be at "
                                "least 1", path, i + 1, m.dim[i]);
    if (m.header_size < -1)
        return sa_error_set(err, "%s: HeaderSize %lld is invalid", path, m.header_size);
    return 0;
}

int sa_metaimage_check_data(const char *path, sa_error *err) {
    meta_header m;
    if (parse(path, &m, err) != 0) return -1;
    if (m.type_size == 0 || m.ndims < 1 || m.have_dims < m.ndims || m.channels < 1)
        return 0; /* ITK refuses these itself */
    size_t need = m.type_size;
    for (int i = 0; i < m.ndims; i++) {
        if (m.dim[i] < 1 || (unsigned long long)m.dim[i] > SIZE_MAX / need)
            return sa_error_set(err, "%s: image is too large", path);
        need *= (size_t)m.dim[i];
    }
    if ((unsigned long long)m.channels > SIZE_MAX / need)
        return sa_error_set(err, "%s: image is too large", path);
    need *= (size_t)m.channels;
    char dp[4200];
    if (data_path(path, &m, dp, sizeof dp, err) != 0) return -1;
    const char *where = is_local(m.data_file) ? "the file" : m.data_file;
    FILE *fp = fopen(dp, "rb");
    if (!fp) return sa_error_set(err, "%s: cannot open data file %s: %s", path, m.data_file, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return sa_error_set(err, "%s: data file %s is not a regular file", path, m.data_file);
    }
    size_t size = (size_t)st.st_size;
    size_t base = is_local(m.data_file) ? m.header_end : 0;
    size_t offset = m.header_size > 0 ? (size_t)m.header_size : base;
    int rc = 0;
    if (!m.compressed) {
        size_t have = size > offset ? size - offset : 0;
        if (m.header_size == -1) have = size > base ? size - base : 0;
        if (have < need)
            rc = sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel data, "
                              "%s holds %zu", path, need, where, have);
    } else if (fseeko(fp, (off_t)offset, SEEK_SET) != 0 || offset > size) {
        rc = sa_error_set(err, "%s: truncated: the voxel data would start at byte %zu, %s has "
                          "%zu bytes", path, offset, where, size);
    } else if (m.compressed_size > 0 && (unsigned long long)m.compressed_size > size - offset) {
        /* MetaIO allocates CompressedDataSize bytes before reading them */
        rc = sa_error_set(err, "%s: CompressedDataSize %lld is more than the %zu bytes %s holds "
                          "after the header", path, m.compressed_size, size - offset, where);
    } else {
        size_t got = 0;
        rc = sa_inflate_count(path, fp, m.compressed_size, need, &got, err);
        if (rc == 0 && got < need)
            rc = sa_error_set(err, "%s: truncated: the header describes %zu bytes of voxel data, "
                              "the compressed data in %s inflates to %zu", path, need, where, got);
    }
    fclose(fp);
    return rc;
}
