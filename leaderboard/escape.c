/*
 * escape.c: the growing text buffer the renderers write pages into, and the
 * HTML escaping every piece of stored text goes through (team names, titles,
 * descriptions, case ids are typed by users: none reaches a page unescaped,
 * and bytes that are not UTF-8 become U+FFFD).
 * A buffer that runs out of memory remembers it and drops everything after, so
 * that renderers append without checking each call and look once at the end
 * (sa_strbuf_take returns NULL).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"
#include "web.h"

/* Room for `extra` more bytes and the terminating NUL; 0, or -1 (failed set). */
static int reserve(sa_strbuf *b, size_t extra) {
    if (b->failed) return -1;
    if (extra > SIZE_MAX / 2 - b->len - 1) goto fail;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) goto fail;
    b->data = data;
    b->cap = cap;
    return 0;
fail:
    b->failed = 1;
    return -1;
}

static void append_bytes(sa_strbuf *b, const char *s, size_t n) {
    if (n == 0 || reserve(b, n) != 0) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sa_strbuf_append(sa_strbuf *b, const char *s) {
    if (s) append_bytes(b, s, strlen(s));
}

void sa_strbuf_appendf(sa_strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
    } else if ((size_t)n < room) {
        b->len += (size_t)n;
    } else if (reserve(b, (size_t)n) == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void sa_strbuf_append_html(sa_strbuf *b, const char *s) {
    if (!s) return;
    const char *run = s; /* start of the characters not needing escapes */
    for (const char *p = s; *p;) {
        const char *entity = NULL;
        size_t k = 1;
        switch (*p) {
        case '&': entity = "&amp;"; break;
        case '<': entity = "&lt;"; break;
        case '>': entity = "&gt;"; break;
        case '"': entity = "&quot;"; break;
        case '\'': entity = "&#39;"; break;
        default:
            k = sa_utf8_char_len(p);
            if (k == 0) entity = "\xEF\xBF\xBD", k = 1; /* not UTF-8: U+FFFD */
        }
        if (entity) {
            append_bytes(b, run, (size_t)(p - run));
            sa_strbuf_append(b, entity);
            run = p + k;
        }
        p += k;
    }
    sa_strbuf_append(b, run);
}

char *sa_strbuf_take(sa_strbuf *b, size_t *len) {
    char *data = b->data;
    size_t n = b->len;
    int failed = b->failed;
    memset(b, 0, sizeof *b);
    if (!failed && !data) data = calloc(1, 1); /* nothing appended: "" */
    if (failed || !data) {
        free(data);
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = n;
    return data;
}
