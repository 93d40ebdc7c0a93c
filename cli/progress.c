/* progress.c: shows how far a long folder run of `segarena score` has got, on a
 * terminal only, so that redirected output and logs stay clean (see progress.h). */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

void progress_start(progress *p, size_t total) {
    p->enabled = isatty(STDERR_FILENO) && total > 0;
    p->total = total;
    progress_update(p, 0, "");
}

void progress_update(progress *p, size_t done, const char *what) {
    if (!p->enabled) return;
    const int width = 30;
    int filled = (int)(done * (size_t)width / p->total);
    fputc('\r', stderr);
    fputc('[', stderr);
    for (int i = 0; i < width; i++) fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %zu/%zu cases %-30.30s", done, p->total, what);
    fflush(stderr);
}

void progress_finish(progress *p) {
    if (!p->enabled) return;
    fprintf(stderr, "\r%80s\r", "");
    fflush(stderr);
}
