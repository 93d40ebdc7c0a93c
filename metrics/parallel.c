/* parallel.c: the engine's one way to use several cores: a parallel-for whose items
 * are handed out from an atomic counter, so that uneven slices balance (see
 * parallel.h). */
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "metrics.h"

int sa_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 1024 ? 1024 : (int)n);
}

int sa_parallel_workers(int threads, size_t n_items) {
    int w = threads > 0 ? threads : sa_cpu_count();
    if ((size_t)w > n_items) w = n_items > 0 ? (int)n_items : 1;
    return w < 1 ? 1 : w;
}

typedef struct {
    atomic_size_t next;
    size_t n_items;
    sa_parallel_fn fn;
    void *ctx;
} shared_work;

typedef struct {
    shared_work *work;
    int worker;
} worker_arg;

static void run_items(shared_work *work, int worker) {
    for (;;) {
        size_t item = atomic_fetch_add(&work->next, 1);
        if (item >= work->n_items) break;
        work->fn(work->ctx, item, worker);
    }
}

static void *worker_main(void *p) {
    worker_arg *a = p;
    run_items(a->work, a->worker);
    return NULL;
}

void sa_parallel_for(int workers, size_t n_items, sa_parallel_fn fn, void *ctx) {
    shared_work work;
    atomic_init(&work.next, 0);
    work.n_items = n_items;
    work.fn = fn;
    work.ctx = ctx;
    if (workers <= 1 || n_items <= 1) {
        run_items(&work, 0);
        return;
    }
    pthread_t *tids = malloc(sizeof(pthread_t) * (size_t)workers);
    worker_arg *args = malloc(sizeof(worker_arg) * (size_t)workers);
    int started = 0;
    if (tids && args) {
        for (int w = 1; w < workers; w++) {
            args[w].work = &work;
            args[w].worker = w;
            if (pthread_create(&tids[w], NULL, worker_main, &args[w]) != 0) break;
            started = w;
        }
    }
    /* The caller is worker 0; items not taken by started threads run here. */
    run_items(&work, 0);
    for (int w = 1; w <= started; w++) pthread_join(tids[w], NULL);
    free(tids);
    free(args);
}
