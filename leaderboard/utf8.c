/*
 * utf8.c: text made valid UTF-8 before it reaches an answer. Stored text (an
 * intake reason, a class, a title) and echoed input (a query value) may hold
 * bytes that are not UTF-8; jansson refuses such a string (the answer would be
 * a 500) and a page would be malformed. Each invalid sequence becomes U+FFFD.
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

size_t sa_utf8_char_len(const char *text) {
    const unsigned char *p = (const unsigned char *)text;
    unsigned c = p[0];
    if (c < 0x80) return c ? 1 : 0;
    size_t n;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0; /* a NUL ends here too */
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

char *sa_utf8_repair(const char *s) {
    if (!s) return NULL;
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1); /* each bad byte becomes 3 */
    if (!out) return NULL;
    size_t n = 0;
    for (const char *p = s; *p;) {
        size_t k = sa_utf8_char_len(p);
        if (k == 0) {
            memcpy(out + n, REPLACEMENT, 3);
            n += 3;
            p++;
            continue;
        }
        memcpy(out + n, p, k);
        n += k;
        p += k;
    }
    out[n] = '\0';
    return out;
}

json_t *sa_web_json_text(const char *s) {
    if (!s) return json_null();
    char *valid = sa_utf8_repair(s);
    json_t *v = valid ? json_string(valid) : NULL;
    free(valid);
    return v;
}

int sa_web_json_set_text(json_t *object, const char *key, json_t *value) {
    char *valid = sa_utf8_repair(key);
    int rc = valid ? json_object_set_new(object, valid, value) : (json_decref(value), -1);
    free(valid);
    return rc;
}
