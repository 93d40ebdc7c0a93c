/*
 * utf8.c: text made valid UTF-8 before it reaches an answer. Stored text (an
 * intake reason, a class, a title) and echoed input (a query value) may hold
 * bytes that are not UTF-8; jansson refuses such a string (the answer would be
 * a 500) and a page would be malformed. Each invalid sequence becomes U+FFFD
 * (sequences judged by the store's sa_utf8_char_len).
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

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
