/*
 * test_sandbox_prog.c: the program inside the test images of test_sandbox.c,
 * built with `cc -static` into FROM-scratch images, one image per behaviour
 * (argv[1]). Not part of SegArena: it plays a contestant, well-behaved or not.
 *
 * Masks are written from /input/flair.nii (an uncompressed NIfTI-1 the test
 * stages): its 352-byte header is copied and edited (uint8 or float32 voxels).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_mask(int extra_x, int as_float, float value) {
    unsigned char h[352];
    int fd = open("/input/flair.nii", O_RDONLY);
    if (fd < 0 || read(fd, h, sizeof h) != (ssize_t)sizeof h) return 50;
    close(fd);
    int16_t dim[8];
    memcpy(dim, h + 40, sizeof dim);
    dim[1] = (int16_t)(dim[1] + extra_x);
    memcpy(h + 40, dim, sizeof dim);
    int16_t dt = as_float ? 16 : 2, bp = as_float ? 32 : 8;
    memcpy(h + 70, &dt, 2);
    memcpy(h + 72, &bp, 2);
    float off = 352, slope = 0, inter = 0;
    memcpy(h + 108, &off, 4);
    memcpy(h + 112, &slope, 4);
    memcpy(h + 116, &inter, 4);
    memset(h + 348, 0, 4);
    size_t n = (size_t)dim[1] * (size_t)dim[2] * (size_t)(dim[3] > 0 ? dim[3] : 1);
    size_t bytes = n * (as_float ? 4 : 1);
    unsigned char *v = calloc(bytes ? bytes : 1, 1);
    if (!v) return 51;
    for (size_t i = 0; i < n; i += 3) {
        if (as_float)
            memcpy(v + 4 * i, &value, 4);
        else
            v[i] = 1;
    }
    fd = open("/output/segmentation.nii", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 52;
    if (write(fd, h, sizeof h) != (ssize_t)sizeof h || write(fd, v, bytes) != (ssize_t)bytes)
        return 53;
    close(fd);
    free(v);
    return 0;
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "good";
    if (!strcmp(m, "good")) {
        printf("segarena-test: starting\n");
        fflush(stdout);
        return write_mask(0, 0, 0);
    }
    if (!strcmp(m, "chatty")) { /* 3 MiB of log, then a good mask; secret in the log only */
        char line[1024];
        memset(line, 'x', sizeof line - 1);
        line[sizeof line - 1] = '\n';
        for (int i = 0; i < 3 * 1024; i++) fwrite(line, 1, sizeof line, stdout);
        printf("HIDDEN-CASE-SECRET the last line\n");
        fflush(stdout);
        return write_mask(0, 0, 0);
    }
    if (!strcmp(m, "exit3")) {
        fprintf(stderr, "HIDDEN-CASE-SECRET failing\n");
        return 3;
    }
    if (!strcmp(m, "exit125")) { /* the engine's own failure status, from the program */
        fprintf(stderr, "HIDDEN-CASE-SECRET exiting 125\n");
        return 125;
    }
    if (!strcmp(m, "crash")) {
        volatile int *p = NULL;
        return *p;
    }
    if (!strcmp(m, "hang")) { /* ignores SIGTERM */
        signal(SIGTERM, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        for (;;) pause();
    }
    if (!strcmp(m, "oom")) {
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p) return 60; /* malloc failing is not an OOM kill */
            memset(p, 1, 1 << 20);
        }
    }
    if (!strcmp(m, "forkbomb")) { /* exit 42 once the pids limit refuses a fork */
        for (int i = 0; i < 100000; i++) {
            pid_t p = fork();
            if (p == 0) {
                for (;;) pause();
            }
            if (p < 0) return errno == EAGAIN ? 42 : 43;
        }
        return 44;
    }
    if (!strcmp(m, "network")) { /* exit 20 when nothing is reachable */
        const char *addrs[] = {"8.8.8.8", "1.1.1.1", "10.0.2.2", "10.88.0.1", "192.168.1.1",
                               "172.17.0.1"};
        for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            if (s < 0) continue;
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(53)};
            inet_pton(AF_INET, addrs[i], &a.sin_addr);
            struct timeval tv = {.tv_sec = 1};
            setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            int r = connect(s, (struct sockaddr *)&a, sizeof a);
            int e = errno;
            close(s);
            if (r == 0 || e == ECONNREFUSED) return 10; /* something answered */
            s = socket(AF_INET, SOCK_DGRAM, 0);
            if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0 &&
                send(s, "x", 1, 0) == 1) {
                close(s);
                return 11; /* a route out exists */
            }
            if (s >= 0) close(s);
        }
        return 20;
    }
    if (!strcmp(m, "write_input")) { /* exit 21 when /input is read-only */
        int fd = open("/input/evil", O_WRONLY | O_CREAT, 0644);
        if (fd >= 0) return 10;
        fd = open("/input/flair.nii", O_WRONLY | O_APPEND);
        if (fd >= 0) return 11;
        if (unlink("/input/case.json") == 0) return 12;
        return 21;
    }
    if (!strcmp(m, "write_outside")) { /* exit 22 when only /output and /tmp are writable */
        const char *paths[] = {"/evil", "/etc/evil", "/root/evil", "/var/tmp/evil",
                               "/run/evil", "/dev/shm/evil", "/proc/evil"};
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            int fd = open(paths[i], O_WRONLY | O_CREAT, 0644);
            if (fd >= 0) {
                fprintf(stderr, "wrote %s\n", paths[i]);
                /* /dev/shm is the engine's private tmpfs: tolerated */
                if (strcmp(paths[i], "/dev/shm/evil") != 0) return 10;
                close(fd);
            }
        }
        int fd = open("/tmp/fine", O_WRONLY | O_CREAT, 0644);
        if (fd < 0) return 12; /* /tmp must be writable */
        close(fd);
        return 22;
    }
    if (!strcmp(m, "fill_output")) { /* writes until the cap stops it, then claims success */
        int fd = open("/output/segmentation.nii", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return 52;
        static char buf[65536];
        memset(buf, 7, sizeof buf);
        for (long i = 0; i < 64L * 1024; i++)
            if (write(fd, buf, sizeof buf) <= 0) break;
        close(fd);
        fd = open("/output/more", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            for (long i = 0; i < 16; i++)
                if (write(fd, buf, sizeof buf) <= 0) break;
            close(fd);
        }
        return 0;
    }
    if (!strcmp(m, "symlink")) {
        if (symlink("/etc/shadow", "/output/segmentation.nii.gz") != 0) return 52;
        return 0;
    }
    if (!strcmp(m, "wrong_geometry")) return write_mask(1, 0, 0);
    if (!strcmp(m, "not_integer")) return write_mask(0, 1, 0.5f);
    if (!strcmp(m, "not_image")) {
        int fd = open("/output/segmentation.nii.gz", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "not a nifti file at all\n", 24) != 24) return 52;
        close(fd);
        return 0;
    }
    if (!strcmp(m, "empty")) {
        int fd = open("/output/segmentation.nii", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return 52;
        close(fd);
        return 0;
    }
    if (!strcmp(m, "nothing")) return 0;
    return 99;
}
