/*
 * test_files.c: unit tests of evaluator/files.c: atomic writes, and moving a file
 * within a file system (rename) and across file systems (copied in pieces, then the
 * source removed), which is how a worker keeps a contestant's mask when its scratch
 * folder and the data directory are on different disks; and sa_hide_paths, which
 * takes the server's paths out of an intake or engine refusal meant for a
 * challenger.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "test.h"

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

/* A file of n bytes with a pattern that shows a shifted or dropped piece. */
static unsigned char *pattern(size_t n) {
    unsigned char *p = malloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 2654435761u >> 13);
    return p;
}

static void check_move(const char *from_dir, const char *to_dir, size_t n) {
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/src.bin", from_dir);
    snprintf(dst, sizeof dst, "%s/kept.bin", to_dir);
    unsigned char *p = pattern(n);
    sa_error err = {{0}};
    CHECK(sa_write_atomic(src, p, n, 0600, &err) == 0);
    CHECK(sa_move_file(src, dst, 0644, &err) == 0);
    CHECK(access(src, F_OK) != 0); /* the source is gone */
    size_t len = 0;
    char *back = read_all(dst, &len);
    CHECK(back && len == n && memcmp(back, p, n) == 0);
    struct stat st;
    CHECK(stat(dst, &st) == 0);
    free(back);
    free(p);
    unlink(dst);
}

static void check_hide(const char *msg, size_t cap, const char *want) {
    static const char *const paths[] = {"/srv/data/uploads/.upload-Ab12", "/srv/data/scratch/intake-Q9/",
                                        "rel/data/uploads"};
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", msg);
    sa_hide_paths(buf, cap, paths, 3, "the upload");
    CHECK(strcmp(buf, want) == 0);
    if (strcmp(buf, want)) fprintf(stderr, "  hide: '%s'\n   got '%s'\n  want '%s'\n", msg, buf, want);
}

static void test_hide_paths(void) {
    /* sa_intake_load's message: the tar, then skopeo's stderr naming it again
     * (as docker-archive:PATH) and its own scratch folder */
    check_hide("/srv/data/uploads/.upload-Ab12: engine refused the image (skopeo exit 1): "
               "time=x level=fatal msg=\"copying: docker-archive:/srv/data/uploads/.upload-Ab12: "
               "open /tmp/segarena-load-x1/blob: no space\"", 1024,
               "the upload: engine refused the image (skopeo exit 1): time=x level=fatal "
               "msg=\"copying: docker-archive:the upload: open (a server path): no space\"");
    /* a file in the scratch folder (a decompressed upload), the folder itself,
     * a relative data directory */
    check_hide("/srv/data/scratch/intake-Q9/image.tar: bad; '/srv/data/scratch/intake-Q9' gone", 1024,
               "the upload: bad; 'the upload' gone");
    check_hide("rel/data/uploads/abc.tar: x", 1024, "the upload: x");
    /* a name that only starts like a known path is another path; words with a
     * slash inside are not paths */
    check_hide("/srv/data/uploads/.upload-Ab12x and 1/2 and and/or", 1024,
               "(a server path) and 1/2 and and/or");
    check_hide("no path here: exit 125", 1024, "no path here: exit 125");
    /* cut to fit, never inside a UTF-8 character */
    check_hide("/srv/data/scratch/intake-Q9/x \xC3\xA9\xC3\xA9", 15, "the upload \xC3\xA9");
    check_hide("/etc/passwd", 8, "(a serv");
    /* a known path holding a space is hidden whole, its tail with it */
    static const char *const spaced[] = {"/srv/seg arena/data", "/srv/seg arena/data/scratch/intake-X"};
    const char *cases[][2] = {
        {"open /srv/seg arena/data/scratch/intake-X/image.tar: denied", "open the upload: denied"},
        {"copying from docker-archive:/srv/seg arena/data/uploads/u.tar failed", "copying from docker-archive:the upload failed"},
        {"'/srv/seg arena/data' gone", "'the upload' gone"},
        {"/srv/seg arena/database/x: no", "(a server path) arena/database/x: no"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", cases[i][0]);
        sa_hide_paths(buf, sizeof buf, spaced, 2, "the upload");
        CHECK(strcmp(buf, cases[i][1]) == 0);
        if (strcmp(buf, cases[i][1])) fprintf(stderr, "  hide: '%s'\n   got '%s'\n  want '%s'\n", cases[i][0], buf, cases[i][1]);
    }
}

int main(void) {
    test_hide_paths();
    char dir[] = "/tmp/test_files_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    sa_error err = {{0}};

    /* atomic write, then a replacement: the whole new content */
    char path[512];
    snprintf(path, sizeof path, "%s/a.txt", dir);
    CHECK(sa_write_atomic(path, "first", 5, 0600, &err) == 0);
    CHECK(sa_write_atomic(path, "second!", 7, 0600, &err) == 0);
    size_t len = 0;
    char *back = read_all(path, &len);
    CHECK(back && len == 7 && memcmp(back, "second!", 7) == 0);
    free(back);
    unlink(path);

    /* a move within the file system, a file of several 1 MiB pieces plus a rest */
    check_move(dir, dir, (3u << 20) + 12345);

    /* a missing source: one message naming the destination, nothing left behind */
    char missing[512], dst[512];
    snprintf(missing, sizeof missing, "%s/missing.bin", dir);
    snprintf(dst, sizeof dst, "%s/never.bin", dir);
    CHECK(sa_move_file(missing, dst, 0644, &err) < 0);
    CHECK_STR_CONTAINS(err.msg, "never.bin");
    CHECK(access(dst, F_OK) != 0);

    /* across file systems: /dev/shm (tmpfs) to /tmp, where they differ */
    struct stat a, b;
    char shm[] = "/dev/shm/test_files_XXXXXX";
    if (stat("/dev/shm", &a) == 0 && stat(dir, &b) == 0 && a.st_dev != b.st_dev && mkdtemp(shm)) {
        check_move(shm, dir, (2u << 20) + 7);
        check_move(shm, dir, 0);
        rmdir(shm);
    } else {
        printf("test_files: /dev/shm is missing or on the same file system as /tmp: "
               "the copy across file systems is not checked here\n");
    }
    CHECK(rmdir(dir) == 0); /* no temporary file left behind */
    return test_report("test_files");
}
