/*
 * files.c: the evaluator's file-system helpers: what is written under the data
 * directory is written atomically, and what is removed never crosses into a
 * still-mounted file system; and the rewriting of a message (an intake or engine
 * refusal) so that a challenger never reads where the server keeps files.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
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

/* fsync of the folder that holds path: a rename into it is on disk before the
 * store commits the row that names the file (a power cut must not leave a stored
 * result pointing at a file that is not there). */
static int sync_folder_of(const char *path, sa_error *err) {
    char folder[4200];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(folder, sizeof folder, ".");
    else if (slash == path) snprintf(folder, sizeof folder, "/");
    else snprintf(folder, sizeof folder, "%.*s", (int)(slash - path), path);
    int fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sa_error_set(err, "%s: cannot store: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    return rc ? sa_error_set(err, "%s: cannot store: %s", path, strerror(e)) : 0;
}

/* fsync, close and rename the temporary file into place, then fsync its folder;
 * on failure it is removed. */
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
    return sync_folder_of(path, err);
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
    /* its bytes on disk before its name moves (the copy that made src did not
     * sync it), the new name with its folder */
    int sfd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (sfd < 0) return sa_error_set(err, "%s: cannot store %s: %s", dst, src, strerror(errno));
    if (fsync(sfd) != 0) {
        int e = errno;
        close(sfd);
        return sa_error_set(err, "%s: cannot store: %s", dst, strerror(e));
    }
    close(sfd);
    if (rename(src, dst) == 0) return sync_folder_of(dst, err);
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

static int path_start(const char *msg, size_t i) {
    return i == 0 || strchr(" \t'\"([{<=,:", msg[i - 1]) != NULL;
}

static size_t path_end(const char *msg, size_t i) {
    while (msg[i] && !strchr(" \t'\")]}>,;:", msg[i])) i++;
    return i;
}

/* Appends the text s to out (used bytes *k, room cap - 1), cut where it does
 * not fit (s is ASCII or whole characters); 0 once full. */
static int put(char *out, size_t cap, size_t *k, const char *s) {
    size_t len = strlen(s);
    if (*k + len < cap) {
        memcpy(out + *k, s, len);
        *k += len;
        return 1;
    }
    size_t room = cap - 1 - *k;
    while (room > 0 && ((unsigned char)s[room] & 0xC0) == 0x80) room--;
    memcpy(out + *k, s, room);
    *k += room;
    return 0;
}

void sa_hide_paths(char *msg, size_t cap, const char *const *paths, size_t n, const char *name) {
    if (!msg || cap == 0) return;
    char *out = malloc(cap);
    if (!out) { /* cannot rewrite: say nothing rather than a path */
        snprintf(msg, cap, "%s", "(the message named a server path)");
        return;
    }
    size_t k = 0, i = 0;
    int room = 1;
    while (room && msg[i]) {
        /* Known paths first, whole (they may hold a space or another separator),
         * the longest that matches; then the rest of that path up to a separator. */
        size_t known = 0;
        if (path_start(msg, i))
            for (size_t p = 0; p < n; p++) {
                size_t len = paths[p] ? strlen(paths[p]) : 0;
                while (len > 1 && paths[p][len - 1] == '/') len--;
                if (len > known && !strncmp(msg + i, paths[p], len) &&
                    (msg[i + len] == '/' || path_end(msg, i + len) == i + len))
                    known = len;
            }
        if (known || (msg[i] == '/' && path_start(msg, i))) {
            const char *say = known ? name : "(a server path)";
            room = put(out, cap, &k, say);
            i = path_end(msg, i + known);
            continue;
        }
        size_t clen = 1; /* a whole UTF-8 character, never half of one */
        while (((unsigned char)msg[i + clen] & 0xC0) == 0x80) clen++;
        if (k + clen >= cap) break;
        memcpy(out + k, msg + i, clen);
        k += clen, i += clen;
    }
    out[k] = '\0';
    memcpy(msg, out, k + 1);
    free(out);
}

/* The errors that say the file system itself takes no writes now. */
static int lasting_write_error(int e) {
    return e == ENOSPC || e == EDQUOT || e == EROFS || e == EIO;
}

int sa_dir_cannot_take_writes(const char *dir, sa_error *err) {
    static atomic_uint counter;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        if (!lasting_write_error(e)) return 0;
        sa_error_set(err, "%s: cannot create: %s", dir, strerror(e));
        return 1;
    }
    char path[4200];
    if (snprintf(path, sizeof path, "%s/.write-probe-%ld-%u", dir, (long)getpid(),
                 atomic_fetch_add(&counter, 1)) >= (int)sizeof path)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        int e = errno;
        if (!lasting_write_error(e)) return 0;
        sa_error_set(err, "%s: cannot write: %s", dir, strerror(e));
        return 1;
    }
    static const char block[4096];
    int e = write_all(fd, block, sizeof block) == 0 && fsync(fd) == 0 ? 0 : errno;
    if (close(fd) != 0 && e == 0) e = errno;
    unlink(path);
    if (!lasting_write_error(e)) return 0;
    sa_error_set(err, "%s: cannot write: %s", dir, strerror(e));
    return 1;
}
