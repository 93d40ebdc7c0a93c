/*
 * utf8.c: text made valid UTF-8 before it reaches an answer. Stored text (an
 * intake reason, a class, a title) and echoed input (a query value) may hold
 * bytes that are not UTF-8; jansson refuses such a string (the answer would be
 * a 500) and a page would be malformed. Each invalid sequence becomes U+FFFD,
 * by the evaluator's sa_text_valid_utf8 (the board JSON's rule too).
 */
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

char *sa_utf8_repair(const char *s) {
    return s ? sa_text_valid_utf8(s) : NULL;
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
