/*
 * files.c: the evaluator's file-system helpers: what is written under the data
 * directory is written atomically, and what is removed never crosses into a
 * still-mounted file system.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"

int sa_mkdir_p(const char *path, mode_t mode, sa_error *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return sa_error_set(err, "%s: path too long", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return sa_error_set(err, "%s: cannot create: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return sa_error_set(err, "%s: cannot create: %s", tmp, strerror(errno));
    return 0;
}

/* A unique temporary file beside path, with mode: its fd, or -1 (err set). */
static int open_temp(const char *path, mode_t mode, char *tmp, size_t tmp_size, sa_error *err) {
    if (snprintf(tmp, tmp_size, "%s.tmp-XXXXXX", path) >= (int)tmp_size)
        return sa_error_set(err, "%s: path too long", path);
    int fd = mkstemp(tmp); /* unique even for two threads of one process */
    if (fd < 0) return sa_error_set(err, "%s: cannot write: %s", tmp, strerror(errno));
    if (fchmod(fd, mode) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return sa_error_set(err, "%s: cannot write: %s", path, strerror(e));
    }
    return fd;
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        done += (size_t)w;
    }
    return 0;
}

/* fsync, close and rename the temporary file into place; on failure it is removed. */
static int finish_temp(int fd, const char *tmp, const char *path, sa_error *err) {
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return sa_error_set(err, "%s: cannot write: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sa_error_set(err, "%s: cannot store: %s", path, strerror(e));
    }
    return 0;
}

/* Closes and removes a temporary file after a failure of errno e. */
static int abandon_temp(int fd, const char *tmp, const char *path, int e, sa_error *err) {
    close(fd);
    unlink(tmp);
    return sa_error_set(err, "%s: cannot write: %s", path, strerror(e));
}

int sa_write_atomic(const char *path, const void *data, size_t len, mode_t mode, sa_error *err) {
    char tmp[4200];
    int fd = open_temp(path, mode, tmp, sizeof tmp, err);
    if (fd < 0) return -1;
    if (write_all(fd, data, len) != 0) return abandon_temp(fd, tmp, path, errno, err);
    return finish_temp(fd, tmp, path, err);
}

int sa_move_file(const char *src, const char *dst, mode_t mode, sa_error *err) {
    if (rename(src, dst) == 0) return 0;
    if (errno != EXDEV) return sa_error_set(err, "%s: cannot store: %s", dst, strerror(errno));
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return sa_error_set(err, "%s: %s", src, strerror(errno));
    char tmp[4200];
    int fd = open_temp(dst, mode, tmp, sizeof tmp, err);
    if (fd < 0) {
        close(in);
        return -1;
    }
    static const size_t piece = (size_t)1 << 20;
    char *buf = malloc(piece);
    if (!buf) {
        close(in);
        return abandon_temp(fd, tmp, dst, ENOMEM, err);
    }
    for (;;) {
        ssize_t k = read(in, buf, piece);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int e = errno;
            free(buf);
            close(in);
            close(fd);
            unlink(tmp);
            return sa_error_set(err, "%s: read error: %s", src, strerror(e));
        }
        if (k == 0) break;
        if (write_all(fd, buf, (size_t)k) != 0) {
            int e = errno;
            free(buf);
            close(in);
            return abandon_temp(fd, tmp, dst, e, err);
        }
    }
    free(buf);
    close(in);
    if (finish_temp(fd, tmp, dst, err)) return -1;
    unlink(src);
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void sa_remove_tree(const char *path) {
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
