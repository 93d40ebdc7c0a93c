/* progress.h: a one-line progress bar on stderr, drawn only when stderr is a terminal. */
#ifndef SEGARENA_PROGRESS_H
#define SEGARENA_PROGRESS_H

#include <stddef.h>

typedef struct progress {
    int enabled;
    size_t total;
} progress;

void progress_start(progress *p, size_t total);
void progress_update(progress *p, size_t done, const char *what);
void progress_finish(progress *p);

#endif
