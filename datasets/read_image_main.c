/*
 * read_image_main.c: segarena-read-image, the helper behind
 * sa_image_read_like_isolated (image_isolated.c). It reads one image the way
 * sa_image_read_like does, in its own process under the address-space and CPU
 * limits it is given, and writes the result (or the one-line refusal) to its
 * standard output as an sa_isolated_record followed by the voxels. A crash or
 * hang in a reader (ITK, MetaIO, teem, niftilib) then ends this process only.
 *
 * Usage (from image_isolated.c only): segarena-read-image PATH LIKE_PATH
 *   NX NY NZ SX SY SZ OX OY OZ D0..D8 AS_BYTES CPU_SECONDS TMPDIR
 * TMPDIR (may be empty) is the private folder the parent made for this read:
 * image.c links a NIfTI file ITK reads into a folder of its own there, and the
 * parent removes it all, even after a crash.
 * Test hook: SEGARENA_READ_IMAGE_FAULT=abort|segv|hang|kill makes it fail that way
 * before reading (tests/integration/test_image_io_hostile.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "image_internal.h"
#include "image_isolated.h"

static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 24) {
        fprintf(stderr, "segarena-read-image is run by segarena itself (see docs/image-io.md)\n");
        return 2;
    }
    unsigned long long as_bytes = strtoull(argv[21], NULL, 10);
    unsigned long long cpu = strtoull(argv[22], NULL, 10);
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    if (as_bytes > 0) {
        rl.rlim_cur = rl.rlim_max = (rlim_t)as_bytes;
        setrlimit(RLIMIT_AS, &rl);
    }
    if (cpu > 0) {
        rl.rlim_cur = (rlim_t)cpu;
        rl.rlim_max = (rlim_t)cpu + 1;
        setrlimit(RLIMIT_CPU, &rl);
    }
    if (argv[23][0]) setenv("TMPDIR", argv[23], 1);
    const char *fault = getenv("SEGARENA_READ_IMAGE_FAULT");
    if (fault && strcmp(fault, "abort") == 0) abort();
    if (fault && strcmp(fault, "segv") == 0) raise(SIGSEGV);
    if (fault && strcmp(fault, "kill") == 0) raise(SIGKILL); /* as the OOM killer */
    if (fault && strcmp(fault, "hang") == 0)
        for (;;) pause();

    sa_image like;
    memset(&like, 0, sizeof like);
    for (int i = 0; i < 3; i++) {
        like.size[i] = (size_t)strtoull(argv[3 + i], NULL, 10);
        like.spacing[i] = strtod(argv[6 + i], NULL);
        like.origin[i] = strtod(argv[9 + i], NULL);
    }
    for (int i = 0; i < 9; i++) like.direction[i] = strtod(argv[12 + i], NULL);
    like.type = SA_PIXEL_U8;

    sa_image out;
    sa_error err = {{0}};
    sa_isolated_record rec;
    memset(&rec, 0, sizeof rec);
    memcpy(rec.magic, SA_ISOLATED_MAGIC, 4);
    rec.rc = sa_image_read_like(argv[1], &like, argv[2], &out, &err);
    if (rec.rc == 0) {
        rec.type = (int32_t)out.type;
        for (int i = 0; i < 3; i++) {
            rec.size[i] = out.size[i];
            rec.spacing[i] = out.spacing[i];
            rec.origin[i] = out.origin[i];
        }
        memcpy(rec.direction, out.direction, sizeof rec.direction);
        size_t voxels = out.size[0] * out.size[1] * out.size[2];
        rec.data_bytes = voxels * sa_pixel_size(out.type);
    } else {
        snprintf(rec.msg, sizeof rec.msg, "%s", err.msg);
        if (sa_itk_module_missing()) rec.rc = SA_IMAGE_READ_NOT_RUN; /* not the file's fault */
    }
    if (write_all(1, &rec, sizeof rec) != 0) _exit(3);
    if (rec.rc == 0 && write_all(1, out.data, (size_t)rec.data_bytes) != 0) _exit(3);
    /* no destructors of ITK's static objects: the result is out */
    _exit(0);
}
