/* json_writer.h: a small streaming JSON writer for the command's output
 * (objects, arrays, escaped strings, numbers that read back to the same double;
 * non-finite numbers are written as null, never as NaN). */
#ifndef SEGARENA_JSON_WRITER_H
#define SEGARENA_JSON_WRITER_H

#include <stdio.h>

typedef struct json_writer {
    FILE *out;
    int depth;
    int need_comma[64];
    int pretty;
    int inline_from; /* arrays are written on one line: depth where that began */
} json_writer;

void jw_begin(json_writer *w, FILE *out, int pretty);
void jw_end(json_writer *w); /* final newline */
void jw_key(json_writer *w, const char *key);
void jw_object_open(json_writer *w);
void jw_object_close(json_writer *w);
void jw_array_open(json_writer *w);
void jw_array_close(json_writer *w);
void jw_string(json_writer *w, const char *s);
void jw_number(json_writer *w, double v);
void jw_integer(json_writer *w, long long v);
void jw_bool(json_writer *w, int v);
void jw_null(json_writer *w);

/* Shortest "%.*g" text that reads back to exactly v (v finite). */
void format_double(char *buf, size_t size, double v);

#endif
