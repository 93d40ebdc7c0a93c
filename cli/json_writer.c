/* json_writer.c: the JSON that score, consensus, dataset and results print, written
 * as it is produced (no document tree kept), with numbers that read back to the
 * same double and no NaN ever (see json_writer.h). */
#include "json_writer.h"

#include <math.h>
#include <stdlib.h>

void format_double(char *buf, size_t size, double v) {
    if (!buf || size == 0) return;
    for (int precision = 15; precision <= 17; precision++) {
        int n = snprintf(buf, size, "%.*g", precision, v);
        if (n < 0 || (size_t)n >= size) return; /* cut short: the caller's buffer is too small */
        if (strtod(buf, NULL) == v) return;
    }
}

static void newline(json_writer *w) {
    if (!w->pretty || (w->inline_from && w->depth >= w->inline_from)) {
        if (w->pretty && w->need_comma[w->depth] == 1) fputc(' ', w->out);
        return;
    }
    fputc('\n', w->out);
    for (int i = 0; i < w->depth; i++) fputs("  ", w->out);
}

/* Before a value or key: a comma after a sibling, and the line break. */
static void separate(json_writer *w) {
    if (w->depth > 0 && w->need_comma[w->depth] == 2) { /* value right after its key */
        w->need_comma[w->depth] = 1;
        return;
    }
    if (w->depth > 0 && w->need_comma[w->depth]) fputc(',', w->out);
    if (w->depth > 0) newline(w);
    w->need_comma[w->depth] = 1;
}

void jw_begin(json_writer *w, FILE *out, int pretty) {
    w->out = out;
    w->depth = 0;
    w->pretty = pretty;
    w->inline_from = 0;
    for (int i = 0; i < 64; i++) w->need_comma[i] = 0;
}

void jw_end(json_writer *w) { fputc('\n', w->out); }

static void write_escaped(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

void jw_key(json_writer *w, const char *key) {
    separate(w);
    write_escaped(w->out, key);
    fputs(w->pretty ? ": " : ":", w->out);
    w->need_comma[w->depth] = 2;
}

static void open_container(json_writer *w, char c) {
    separate(w);
    fputc(c, w->out);
    if (w->depth < 63) w->depth++;
    w->need_comma[w->depth] = 0;
}

static void close_container(json_writer *w, char c) {
    int had_members = w->need_comma[w->depth] != 0;
    int was_inline = w->inline_from && w->depth >= w->inline_from;
    if (w->depth > 0) w->depth--;
    if (had_members && !was_inline) newline(w);
    fputc(c, w->out);
}

void jw_object_open(json_writer *w) { open_container(w, '{'); }
void jw_object_close(json_writer *w) { close_container(w, '}'); }
void jw_array_open(json_writer *w) {
    open_container(w, '[');
    if (!w->inline_from) w->inline_from = w->depth;
}

void jw_array_close(json_writer *w) {
    close_container(w, ']');
    if (w->inline_from > w->depth) w->inline_from = 0;
}

void jw_string(json_writer *w, const char *s) {
    separate(w);
    write_escaped(w->out, s ? s : "");
}

void jw_number(json_writer *w, double v) {
    separate(w);
    if (!isfinite(v)) {
        fputs("null", w->out);
        return;
    }
    char buf[40];
    format_double(buf, sizeof buf, v == 0 ? 0.0 : v); /* no "-0" */
    fputs(buf, w->out);
}

void jw_integer(json_writer *w, long long v) {
    separate(w);
    fprintf(w->out, "%lld", v);
}

void jw_bool(json_writer *w, int v) {
    separate(w);
    fputs(v ? "true" : "false", w->out);
}

void jw_null(json_writer *w) {
    separate(w);
    fputs("null", w->out);
}
