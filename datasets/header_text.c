/*
 * header_text.c: what the MetaImage and NRRD header checks (metaimage_check.c,
 * nrrd_check.c) both do with a text header before ITK reads the file: read its
 * first bytes as one NUL-terminated string, and parse its integer fields (one
 * number, or a field's list of sizes), plain decimal integers only.
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

/* One token [p, end) as a plain decimal integer: an optional sign, then digits
 * and nothing else. The readers parse these fields otherwise (MetaIO reads every
 * number as a double, so "6e3" is 6000 to it; teem's sscanf stops at the 'e'):
 * any other spelling would make the checks here measure one size and ITK read
 * another, so it is refused rather than guessed. 0, or -1. */
static int plain_integer(const char *p, const char *end, long long *out) {
    const char *d = p;
    if (d < end && (*d == '+' || *d == '-')) d++;
    if (d == end) return -1;
    for (const char *c = d; c < end; c++)
        if (*c < '0' || *c > '9') return -1;
    errno = 0;
    char *stop;
    long long v = strtoll(p, &stop, 10);
    if (errno == ERANGE || stop != end) return -1;
    *out = v;
    return 0;
}

static int is_space(char c) { return isspace((unsigned char)c) != 0; }

int sa_header_int(const char *path, const char *field, const char *value, long long *out,
                  sa_error *err) {
    const char *p = value, *end = value + strlen(value);
    while (p < end && is_space(*p)) p++;
    while (end > p && is_space(end[-1])) end--;
    if (plain_integer(p, end, out) != 0)
        return sa_error_set(err, "%s: %s is '%s'; it must be a plain decimal integer", path,
                            field, value);
    return 0;
}

int sa_header_sizes(const char *path, const char *field, const char *value, long long *out,
                    int max, sa_error *err) {
    const char *p = value;
    int n = 0;
    for (;;) {
        while (*p && is_space(*p)) p++;
        if (!*p) break;
        const char *end = p;
        while (*end && !is_space(*end)) end++;
        long long v;
        if (plain_integer(p, end, &v) != 0)
            return sa_error_set(err, "%s: %s value %d is '%.*s'; every size must be a plain "
                                "decimal integer", path, field, n + 1, (int)(end - p), p);
        if (n < max) out[n] = v;
        n++;
        p = end;
    }
    return n < max ? n : max;
}
