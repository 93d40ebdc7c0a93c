/* parallel.h: private. A minimal parallel-for over pthreads for the engine's
 * slice- and line-wise passes. Work items are handed out one at a time from an
 * atomic counter, so uneven slices balance themselves. */
#ifndef SEGARENA_PARALLEL_H
#define SEGARENA_PARALLEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* fn(ctx, item, worker) is called once for every item in [0, n_items); worker is
 * in [0, workers). Returns the number of workers used (>= 1), or -1 when a thread
 * could not be started (then nothing has been run on other threads, and the
 * calling thread has run every item itself: the result is still complete). */
typedef void (*sa_parallel_fn)(void *ctx, size_t item, int worker);
int sa_parallel_workers(int threads, size_t n_items);
void sa_parallel_for(int workers, size_t n_items, sa_parallel_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
