/* read_images.c: score and consensus read their several masks in parallel, since
 * reading is mostly inflating .nii.gz on one core per file (see read_images.h). */
#include "read_images.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct {
    read_job *jobs;
    size_t n;
    atomic_size_t next;
} read_queue;

static void *read_worker(void *p) {
    read_queue *q = p;
    for (;;) {
        size_t i = atomic_fetch_add(&q->next, 1);
        if (i >= q->n) break;
        read_job *j = &q->jobs[i];
        j->rc = sa_image_read_with(j->path, j->reader, &j->image, &j->err);
    }
    return NULL;
}

void read_images(read_job *jobs, size_t n, int threads) {
    read_queue q;
    q.jobs = jobs;
    q.n = n;
    atomic_init(&q.next, 0);
    size_t extra = threads > 1 ? (size_t)threads - 1 : 0;
    if (extra > n) extra = n;
    pthread_t *tids = extra ? malloc(extra * sizeof *tids) : NULL;
    size_t started = 0;
    while (tids && started < extra && pthread_create(&tids[started], NULL, read_worker, &q) == 0) started++;
    read_worker(&q);
    for (size_t t = 0; t < started; t++) pthread_join(tids[t], NULL);
    free(tids);
}

void free_images(read_job *jobs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (jobs[i].rc == 0) sa_image_free(&jobs[i].image);
}
