/*
 * header_text.c: what the MetaImage and NRRD header checks (metaimage_check.c,
 * nrrd_check.c) both do with a text header before ITK reads the file: read its
 * first bytes as one NUL-terminated string, and parse a field's list of sizes.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_internal.h"

char *sa_header_text_read(const char *path, size_t max, size_t *len, sa_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        sa_error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(fp);
        sa_error_set(err, "%s: out of memory", path);
        return NULL;
    }
    *len = fread(buf, 1, max, fp);
    fclose(fp);
    buf[*len] = '\0';
    return buf;
}

int sa_header_sizes(const char *value, long long *out, int max) {
    const char *p = value;
    int n = 0;
    while (*p && n < max) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p) break;
        out[n++] = v;
        p = end;
        while (*p && isspace((unsigned char)*p)) p++;
    }
    return n;
}
