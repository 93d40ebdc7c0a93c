/*
 * large_alloc.c: allocation of the engine's box-sized buffers. On Linux they are
 * aligned to 2 MiB and offered to transparent huge pages: the distance transform
 * writes them at large strides, and with 4 KiB pages those writes (and the first
 * touch of every page) cost more than the arithmetic.
 */
#include <stdlib.h>

#include "engine.h"

#ifdef __linux__
#include <sys/mman.h>
#endif

void *sa_large_alloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return malloc(bytes ? bytes : 1);
    void *p = NULL;
    size_t rounded = (bytes + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, rounded) != 0) return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, rounded, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
    return p;
}
