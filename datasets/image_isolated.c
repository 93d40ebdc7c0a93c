/*
 * image_isolated.c: sa_image_read_like in a separate process. A contestant's
 * output is read on the host, inside the evaluator's process; a reader that
 * aborts (ITK's vnl_svd, a FORTIFY overflow check in MetaIO or teem), crashes or
 * never finishes would take every job of that process with it, and a hang would
 * hold the ITK lock for good. Here the file is read by the helper
 * segarena-read-image (read_image_main.c), started with posix_spawn (safe in a
 * multi-threaded process: nothing runs between fork and exec in this process's
 * copy), under an address-space limit sized from the reference's grid and the
 * file, and a CPU-time and wall-clock limit. Its result comes back over a pipe;
 * a death or timeout becomes one line naming the file.
 *
 * The helper is looked for at $SEGARENA_READ_IMAGE, then next to the running
 * executable, then at the path the build put it (as the ITK module is).
 */
#define _GNU_SOURCE /* pipe2: the pipe is close-on-exec from the start (other threads spawn too) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image_internal.h"
#include "image_isolated.h"

#ifndef SEGARENA_READ_IMAGE_PATH
#define SEGARENA_READ_IMAGE_PATH "segarena-read-image"
#endif
#define HELPER_NAME "segarena-read-image"

extern char **environ;

/* Address space the helper needs besides the image: ITK's ~370 libraries, its
 * thread stacks and the native reader's buffers. */
#define BASE_ADDRESS_SPACE (2ull << 30)

static int find_helper(char *out, size_t cap) {
    return sa_find_beside_exe("SEGARENA_READ_IMAGE", HELPER_NAME, SEGARENA_READ_IMAGE_PATH, X_OK, out,
                              cap);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads exactly n bytes from fd before the deadline. 0, -1 (end of file or
 * error) or -2 (deadline). */
static int read_until(int fd, void *buf, size_t n, double deadline) {
    char *p = buf;
    while (n > 0) {
        double left = deadline - now_s();
        if (left <= 0) return -2;
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return -1;
        if (pr == 0) continue;
        ssize_t r = read(fd, p, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Waits for pid until the deadline, then kills it. Returns its wait status;
 * *killed is set when the deadline killed it. */
static int reap(pid_t pid, double deadline, int *killed) {
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) return status;
        if (w < 0 && errno != EINTR) return 0;
        if (now_s() >= deadline) {
            kill(pid, SIGKILL);
            *killed = 1;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return status;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The read in the helper, whose $TMPDIR is private_dir ("": its own). */
static int read_in_helper(const char *path, const sa_image *like, const char *like_path,
                          int seconds, const char *private_dir, sa_image *out, sa_error *err) {
    char helper[PATH_MAX];
    if (find_helper(helper, sizeof helper) != 0) {
        sa_error_set(err, "%s: cannot read it: the image reader %s is not installed next "
                     "to segarena", path, HELPER_NAME);
        return SA_IMAGE_READ_NOT_RUN;
    }
    size_t voxels = sa_image_voxel_count(like);
    if (voxels == 0) return sa_error_set(err, "%s: the reference grid is empty", path);
    struct stat st;
    unsigned long long file_bytes = stat(path, &st) == 0 ? (unsigned long long)st.st_size : 0;
    /* the voxels (8 bytes at most each) twice over, the file, and the libraries */
    unsigned long long as = BASE_ADDRESS_SPACE + 2 * file_bytes;
    as += voxels > (ULLONG_MAX - as) / 16 ? ULLONG_MAX - as : (unsigned long long)voxels * 16;

    char args[20][40], as_s[32], cpu_s[32];
    for (int i = 0; i < 3; i++) {
        snprintf(args[i], sizeof args[i], "%zu", like->size[i]);
        snprintf(args[3 + i], sizeof args[i], "%a", like->spacing[i]);
        snprintf(args[6 + i], sizeof args[i], "%a", like->origin[i]);
    }
    for (int i = 0; i < 9; i++) snprintf(args[9 + i], sizeof args[i], "%a", like->direction[i]);
    snprintf(as_s, sizeof as_s, "%llu", as);
    snprintf(cpu_s, sizeof cpu_s, "%d", seconds);
    char *argv[25];
    argv[0] = helper;
    argv[1] = (char *)path;
    argv[2] = (char *)(like_path ? like_path : "(reference)");
    for (int i = 0; i < 18; i++) argv[3 + i] = args[i];
    argv[21] = as_s;
    argv[22] = cpu_s;
    argv[23] = (char *)private_dir;
    argv[24] = NULL;

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        sa_error_set(err, "%s: cannot start the image reader: %s", path, strerror(errno));
        return SA_IMAGE_READ_NOT_RUN;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int sp = posix_spawn(&pid, helper, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (sp != 0) {
        close(fds[0]);
        sa_error_set(err, "%s: cannot start the image reader %s: %s", path, helper,
                     strerror(sp));
        return SA_IMAGE_READ_NOT_RUN;
    }

    double deadline = now_s() + seconds;
    sa_isolated_record rec;
    int got = read_until(fds[0], &rec, sizeof rec, deadline);
    int bad = 0; /* 1: the record does not hold up */
    if (got == 0) {
        rec.msg[sizeof rec.msg - 1] = '\0';
        if (memcmp(rec.magic, SA_ISOLATED_MAGIC, 4) != 0 || (rec.rc != 0 && rec.rc != -1 && rec.rc != -2 &&
                                                       rec.rc != SA_IMAGE_READ_NOT_RUN)) {
            bad = 1;
        } else if (rec.rc == 0) {
            size_t psize = sa_pixel_size((sa_pixel_type)rec.type);
            int same = psize > 0;
            for (int i = 0; i < 3 && same; i++) same = rec.size[i] == like->size[i];
            if (!same || rec.data_bytes != (uint64_t)voxels * psize) {
                bad = 1;
            } else {
                out->type = (sa_pixel_type)rec.type;
                for (int i = 0; i < 3; i++) {
                    out->size[i] = like->size[i];
                    out->spacing[i] = rec.spacing[i];
                    out->origin[i] = rec.origin[i];
                }
                memcpy(out->direction, rec.direction, sizeof out->direction);
                out->data = malloc(voxels * psize);
                if (!out->data) {
                    close(fds[0]);
                    kill(pid, SIGKILL);
                    int k = 0;
                    reap(pid, now_s(), &k);
                    sa_error_set(err, "%s: out of memory", path);
                    return SA_IMAGE_READ_NOT_RUN;
                }
                got = read_until(fds[0], out->data, voxels * psize, deadline);
            }
        }
    }
    close(fds[0]);
    int killed = 0;
    int status = reap(pid, got == -2 ? now_s() : deadline, &killed);
    int rc;
    if (got == -2 || (killed && WIFSIGNALED(status))) {
        rc = sa_error_set(err, "%s: the image reader took longer than %d s", path, seconds);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGXCPU)
            rc = sa_error_set(err, "%s: the image reader took longer than %d s of CPU time", path,
                              seconds);
        else if (sig == SIGKILL) { /* not by us: the kernel's OOM killer (the host's
                                      * memory, not the file: RLIMIT_AS makes the file's
                                      * own allocations fail first) or an operator */
            sa_error_set(err, "%s: the image reader was killed (signal 9: the host out of "
                         "memory?)", path);
            rc = SA_IMAGE_READ_NOT_RUN;
        }
        else
            rc = sa_error_set(err, "%s: the image reader crashed (signal %d)", path, sig);
    } else if (WIFEXITED(status) && (WEXITSTATUS(status) == 126 || WEXITSTATUS(status) == 127) &&
               got != 0) { /* exec or the dynamic loader failed: nothing was read */
        sa_error_set(err, "%s: the image reader %s could not start (exit status %d)", path,
                     helper, WEXITSTATUS(status));
        rc = SA_IMAGE_READ_NOT_RUN;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != 0 || bad) {
        rc = sa_error_set(err, "%s: the image reader failed (exit status %d)", path,
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else if (rec.rc != 0) {
        for (char *c = rec.msg; *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
        sa_error_set(err, "%s", rec.msg);
        rc = rec.rc;
    } else {
        /* the helper compared the geometry already; compared again on this side */
        rc = sa_image_same_geometry(like, like_path, out, path, err) == 0 ? 0 : -2;
    }
    if (rc != 0) sa_image_free(out);
    return rc;
}

int sa_image_read_like_limited(const char *path, const sa_image *like, const char *like_path,
                               int seconds, sa_image *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    if (!path || !*path) return sa_error_set(err, "(empty path): no file name given");
    if (seconds < 1) seconds = 1;
    /* A NIfTI file ITK reads is linked into a private folder in $TMPDIR first
     * (image.c): the helper's $TMPDIR is a folder made here, removed here once
     * the helper has ended however it ended. */
    char private_dir[PATH_MAX] = "";
    if (sa_has_suffix(path, ".nii") || sa_has_suffix(path, ".nii.gz")) {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp) tmp = "/tmp";
        snprintf(private_dir, sizeof private_dir, "%s/segarena-read-XXXXXX", tmp);
        if (strlen(tmp) > sizeof private_dir - 64 || !mkdtemp(private_dir)) {
            sa_error_set(err, "%s: cannot create a private folder in %s for the image reader: %s",
                         path, tmp, strlen(tmp) > sizeof private_dir - 64 ? "path too long"
                                                                        : strerror(errno));
            return SA_IMAGE_READ_NOT_RUN;
        }
    }
    int rc = read_in_helper(path, like, like_path, seconds, private_dir, out, err);
    /* with what the helper left in it: the folders (and their links) image.c
     * makes for ITK's NIfTI reads, which a helper that crashed or was killed
     * could not remove itself */
    if (private_dir[0]) sa_remove_folder(private_dir, 1);
    return rc;
}

int sa_image_read_like_isolated(const char *path, const sa_image *like, const char *like_path,
                                sa_image *out, sa_error *err) {
    return sa_image_read_like_limited(path, like, like_path, SA_ISOLATED_READ_SECONDS, out, err);
}
