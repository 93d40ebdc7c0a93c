/*
 * fault_fs.c: an LD_PRELOAD library for tests that makes file-system calls fail
 * on chosen paths, standing in for a full, read-only or failing disk without root.
 * $SA_FAULT_FILE names a file of lines "<op> <errno> <substring>": a call of op
 * (mkdir, rename, open, fopen, write, fsync, readdir, fstatat or *) whose path
 * holds substring fails with errno (write, fsync, readdir: the path of its
 * descriptor, from /proc/self/fd; fstatat: its folder's, then the name). The
 * file is read at every call, so a test can change or remove it while a worker runs.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* The errno a call of op on path is to fail with, 0 none; "*" lines match every
 * op but readdir (which fails only where a test names it). */
static int fault(const char *op, const char *path) {
    const char *name = getenv("SA_FAULT_FILE");
    if (!name || !path) return 0;
    int saved = errno;
    /* the real fopen: this library's own would come back here */
    FILE *(*real_fopen)(const char *, const char *) =
        (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    FILE *f = real_fopen(name, "r");
    int e = 0;
    char line[512], want[32], sub[400];
    int code;
    while (f && !e && fgets(line, sizeof line, f))
        if (sscanf(line, "%31s %d %399s", want, &code, sub) == 3 &&
            ((!strcmp(want, "*") && strcmp(op, "readdir")) || !strcmp(want, op)) && strstr(path, sub))
            e = code;
    if (f) fclose(f);
    errno = saved;
    return e;
}

int mkdir(const char *path, mode_t mode) {
    int e = fault("mkdir", path);
    if (e) {
        errno = e;
        return -1;
    }
    int (*real)(const char *, mode_t) = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
    return real(path, mode);
}

int rename(const char *from, const char *to) {
    int e = fault("rename", to);
    if (e) {
        errno = e;
        return -1;
    }
    int (*real)(const char *, const char *) =
        (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}

static int open_as(const char *symbol, const char *path, int flags, mode_t mode) {
    int e = fault("open", path);
    if (e) {
        errno = e;
        return -1;
    }
    int (*real)(const char *, int, ...) = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, symbol);
    return real(path, flags, mode);
}

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return open_as("open", path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return open_as("open64", path, flags, mode);
}

static FILE *fopen_as(const char *symbol, const char *path, const char *mode) {
    int e = fault("fopen", path);
    if (e) {
        errno = e;
        return NULL;
    }
    FILE *(*real)(const char *, const char *) =
        (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, symbol);
    return real(path, mode);
}

FILE *fopen(const char *path, const char *mode) { return fopen_as("fopen", path, mode); }
FILE *fopen64(const char *path, const char *mode) { return fopen_as("fopen64", path, mode); }

/* The errno a call of op on descriptor fd is to fail with (its path from
 * /proc/self/fd, then "/name" when name is given), 0 none. */
static int fault_fd(const char *op, int fd, const char *name) {
    if (!getenv("SA_FAULT_FILE") || fd < 0) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int saved = errno;
    ssize_t k = readlink(link, path, sizeof path - 1);
    errno = saved;
    if (k <= 0) return 0;
    path[k] = '\0';
    if (name && (size_t)k + strlen(name) + 2 > sizeof path) return 0;
    if (name) snprintf(path + k, sizeof path - (size_t)k, "/%s", name);
    return fault(op, path);
}

ssize_t write(int fd, const void *buf, size_t n) {
    ssize_t (*real)(int, const void *, size_t) =
        (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    int e = fd > 2 ? fault_fd("write", fd, NULL) : 0;
    if (e) {
        errno = e;
        return -1;
    }
    return real(fd, buf, n);
}

/* readdir of a folder whose path holds the substring fails (NULL, errno set) from
 * its third call on: a listing cut short by a read error */
struct dirent *readdir(DIR *d) {
    struct dirent *(*real)(DIR *) = (struct dirent * (*)(DIR *)) dlsym(RTLD_NEXT, "readdir");
    static __thread DIR *last;
    static __thread int calls;
    if (d != last) last = d, calls = 0;
    calls++;
    struct dirent *e = real(d);
    int err = e && calls > 2 ? fault_fd("readdir", dirfd(d), NULL) : 0;
    if (err) {
        errno = err;
        return NULL;
    }
    return e;
}

/* fstatat (the path: its folder's, from /proc/self/fd, then the name) */
static int fstatat_as(const char *symbol, int dirfd, const char *name, void *st, int flags) {
    int (*real)(int, const char *, void *, int) = (int (*)(int, const char *, void *, int))dlsym(RTLD_NEXT, symbol);
    int e = name && name[0] != '/' ? fault_fd("fstatat", dirfd, name) : 0;
    if (e) {
        errno = e;
        return -1;
    }
    return real(dirfd, name, st, flags);
}

int fstatat(int dirfd, const char *name, struct stat *st, int flags) {
    return fstatat_as("fstatat", dirfd, name, st, flags);
}
int fstatat64(int dirfd, const char *name, struct stat64 *st, int flags) {
    return fstatat_as("fstatat64", dirfd, name, st, flags);
}

/* fsync of a descriptor whose path (from /proc/self/fd) holds the substring */
int fsync(int fd) {
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int e = fd > 2 ? fault_fd("fsync", fd, NULL) : 0;
    if (e) {
        errno = e;
        return -1;
    }
    return real(fd);
}
