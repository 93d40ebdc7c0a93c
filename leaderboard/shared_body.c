/*
 * shared_body.c: an immutable response body that the page cache and every
 * response sending it hold together, counted by references, so that a cached
 * page or board JSON is sent as it is instead of copied per request; freed
 * with its last reference (the cache replaced it and the last client got it).
 */
#include <stdlib.h>

#include "web.h"

struct sa_shared_body {
    int refs; /* __atomic builtins */
    size_t len;
    char *data;
};

sa_shared_body *sa_shared_body_new(char *data, size_t len) {
    sa_shared_body *b = data ? malloc(sizeof *b) : NULL;
    if (!b) {
        free(data);
        return NULL;
    }
    b->refs = 1;
    b->len = len;
    b->data = data;
    return b;
}

sa_shared_body *sa_shared_body_ref(sa_shared_body *b) {
    if (b) __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    return b;
}

void sa_shared_body_unref(sa_shared_body *b) {
    if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    free(b->data);
    free(b);
}

const char *sa_shared_body_data(const sa_shared_body *b) {
    return b->data;
}

size_t sa_shared_body_len(const sa_shared_body *b) {
    return b->len;
}
