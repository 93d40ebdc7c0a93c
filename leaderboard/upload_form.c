/*
 * upload_form.c: the body of the browser's upload form, read as it arrives
 * with libmicrohttpd's post processor (multipart/form-data, or urlencoded):
 * the small fields (csrf, team) are kept URL-encoded like a query string, at
 * most SA_FORM_MAX_FIELDS bytes, and the file field's bytes go straight to the
 * caller's sink, chunk by chunk, never whole in memory. The form puts its small
 * fields before the file input, so they are all known when the sink first gets
 * data (server.c checks them then, before keeping any byte of the file).
 */
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "server_internal.h"

/* The post processor's own buffer (field names, small values, boundaries). */
#define POST_BUFFER 65536

struct sa_form_reader {
    struct MHD_PostProcessor *pp;
    const char *file_field;
    sa_form_file_sink sink;
    void *ctx;
    char fields[SA_FORM_MAX_FIELDS + 1];
    size_t fields_len;
    int too_large, stopped;
};

/* Appends s[0..n) URL-encoded; 0, or -1 when the fields are full. */
static int append_encoded(sa_form_reader *r, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (r->fields_len + 3 >= sizeof r->fields) return -1;
        if (plain) {
            r->fields[r->fields_len++] = (char)ch;
        } else {
            r->fields[r->fields_len++] = '%';
            r->fields[r->fields_len++] = hex[ch >> 4];
            r->fields[r->fields_len++] = hex[ch & 15];
        }
    }
    r->fields[r->fields_len] = '\0';
    return 0;
}

static int append_raw(sa_form_reader *r, const char *s) {
    size_t n = strlen(s);
    if (r->fields_len + n >= sizeof r->fields) return -1;
    memcpy(r->fields + r->fields_len, s, n + 1);
    r->fields_len += n;
    return 0;
}

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data, uint64_t off,
                                size_t size) {
    (void)kind;
    (void)filename;
    (void)content_type;
    (void)transfer_encoding;
    sa_form_reader *r = cls;
    if (!key) return MHD_YES;
    if (!strcmp(key, r->file_field)) {
        if (size == 0) return MHD_YES;
        if (r->sink(r->ctx, r->fields, data, size) != 0) {
            r->stopped = 1;
            return MHD_NO;
        }
        return MHD_YES;
    }
    /* a small field: "key=" on its first piece, the value's pieces after */
    int rc = 0;
    if (off == 0) {
        if (r->fields_len) rc = append_raw(r, "&");
        if (rc == 0) rc = append_encoded(r, key, strlen(key));
        if (rc == 0) rc = append_raw(r, "=");
    }
    if (rc == 0 && size) rc = append_encoded(r, data, size);
    if (rc) {
        r->too_large = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

sa_form_reader *sa_form_reader_new(struct MHD_Connection *c, const char *file_field,
                                   sa_form_file_sink sink, void *ctx) {
    sa_form_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->file_field = file_field;
    r->sink = sink;
    r->ctx = ctx;
    r->pp = MHD_create_post_processor(c, POST_BUFFER, on_field, r);
    if (!r->pp) {
        free(r);
        return NULL;
    }
    return r;
}

int sa_form_reader_feed(sa_form_reader *r, const char *data, size_t size) {
    if (!r->pp || r->stopped || r->too_large) return -1;
    return MHD_post_process(r->pp, data, size) == MHD_YES ? 0 : -1;
}

int sa_form_reader_finish(sa_form_reader *r) {
    if (!r->pp) return -1;
    enum MHD_Result ok = MHD_destroy_post_processor(r->pp);
    r->pp = NULL;
    return ok == MHD_YES && !r->stopped && !r->too_large ? 0 : -1;
}

const char *sa_form_reader_fields(const sa_form_reader *r) {
    return r->fields;
}

int sa_form_reader_too_large(const sa_form_reader *r) {
    return r->too_large;
}

void sa_form_reader_free(sa_form_reader *r) {
    if (!r) return;
    if (r->pp) MHD_destroy_post_processor(r->pp);
    free(r);
}
