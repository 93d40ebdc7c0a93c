/* read_images.h: reading several image files at once, one thread per file up to
 * a limit (reading is mostly inflating, which runs on one core per file). */
#ifndef SEGARENA_READ_IMAGES_H
#define SEGARENA_READ_IMAGES_H

#include <stddef.h>

#include "datasets.h"

typedef struct read_job {
    const char *path;
    sa_reader reader;
    sa_image image; /* valid when rc == 0; free with sa_image_free */
    sa_error err;
    int rc;
} read_job;

/* Reads jobs[0..n) (path and reader set by the caller) on up to `threads` threads. */
void read_images(read_job *jobs, size_t n, int threads);
void free_images(read_job *jobs, size_t n);

#endif
