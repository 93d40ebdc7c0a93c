/*
 * dataset_tmp.c: the temporary folders of imports, DATA_DIR/datasets/.tmp-NAME-XXXXXX.
 * An import first makes and locks (flock) a regular file beside its folder,
 * .tmp-NAME-XXXXXX.lock, then makes the folder; it holds the lock until the folder
 * is renamed into place or removed, and removes the lock file last. The kernel drops
 * the lock when the process dies, however it dies. So a .tmp-* folder whose lock
 * file nobody holds, or that has no lock file (made by an older version), is the
 * partial copy of an import that was killed: the next import removes it and
 * `dataset list` reports it, while a folder whose lock is held (an import running
 * now, in this or another process) is never touched. The lock is on a regular file
 * opened for writing, as NFS needs for an exclusive flock.
 *
 * Where locks are not honoured (some network file systems), a cleaner may remove a
 * running import's folder: that import then finds its folder is no longer the one
 * it made (sa_import_tmp_check: the folder it holds open, its device and inode, is
 * gone from the path) and is refused, so a partial copy is never stored as a
 * dataset. Removal works through file descriptors (openat,
 * unlinkat, O_NOFOLLOW): it never follows a symlink, whatever is swapped in.
 */
#define _DEFAULT_SOURCE /* flock, mkstemps */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_internal.h"

/* Removes entry `name` of the folder dirfd and, for a folder, everything in it,
 * never following a symlink; 0, or -1 with errno of the first failure (the rest is
 * still attempted). */
static int remove_at(int parent, const char *name) {
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW)) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    (void)fchmod(fd, 0755); /* a read-only folder: its entries could not be removed */
    int failed = 0, saved = 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (remove_at(dirfd(d), e->d_name) && !failed) failed = 1, saved = errno;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) && errno != ENOENT && !failed) failed = 1, saved = errno;
    errno = saved;
    return failed ? -1 : 0;
}

/* remove_at of a path's last component, relative to its parent folder. */
static int remove_path(const char *path) {
    char parent[PATH_MAX];
    if (snprintf(parent, sizeof parent, "%s", path) >= (int)sizeof parent) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *slash = strrchr(parent, '/');
    const char *name = slash ? slash + 1 : parent;
    if (slash == parent) parent[1] = '\0';
    else if (slash) *slash = '\0';
    int parent_fd = slash ? open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : AT_FDCWD;
    if (slash && parent_fd < 0) return errno == ENOENT ? 0 : -1;
    int rc = remove_at(parent_fd, slash ? path + (name - parent) : name);
    int saved = errno;
    if (slash) close(parent_fd);
    errno = saved;
    return rc;
}

void sa_ds_remove_tree(const char *path) { (void)remove_path(path); }

int sa_ds_mkdir_p(const char *path, char *created, size_t size, sa_error *err) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return sa_error_set(err, "%s: path too long", path);
    size_t n = strlen(buf);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0755) == 0) {
            if (created && !*created) snprintf(created, size, "%s", buf);
        } else if (errno != EEXIST) {
            return sa_error_set(err, "%s: cannot create (%s)", buf, strerror(errno));
        }
        buf[i] = saved;
    }
    return 0;
}

/* 1 when fd is still the file at path (not removed, nothing else put there). */
static int same_file(int fd, const char *path) {
    struct stat a, b;
    return fstat(fd, &a) == 0 && a.st_nlink > 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

int sa_import_tmp_create(const char *datasets_dir, const char *name, char *created, size_t created_size,
                         sa_import_tmp *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    out->lock_fd = out->dir_fd = -1;
    char lock_path[PATH_MAX + 100];
    /* a cleaner may take the lock of a file made a moment ago, before this process
     * takes it, and remove it: a new one is made then */
    for (int attempt = 0; attempt < 8; attempt++) {
        if (sa_ds_mkdir_p(datasets_dir, created, created_size, err)) return -1;
        if (snprintf(lock_path, sizeof lock_path, "%s/.tmp-%s-XXXXXX.lock", datasets_dir, name) >=
            (int)sizeof lock_path)
            return sa_error_set(err, "%s: path too long", datasets_dir);
        int fd = mkstemps(lock_path, 5); /* O_RDWR | O_CREAT | O_EXCL, mode 0600 */
        if (fd < 0) {
            if (errno == ENOENT) continue; /* datasets/ itself removed meanwhile */
            return sa_error_set(err, "%s: cannot create (%s)", lock_path, strerror(errno));
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        while (flock(fd, LOCK_EX) && errno == EINTR) {
        }
        if (!same_file(fd, lock_path)) { /* a cleaner removed it before the lock was ours */
            close(fd);
            continue;
        }
        char folder[PATH_MAX + 100];
        snprintf(folder, sizeof folder, "%.*s", (int)(strlen(lock_path) - 5), lock_path);
        int dir_fd = -1;
        if (mkdir(folder, 0755) ||
            (dir_fd = open(folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
            int saved = errno;
            if (saved != EEXIST) rmdir(folder);
            unlink(lock_path);
            close(fd);
            if (saved == EEXIST) continue;
            return sa_error_set(err, "%s: cannot create (%s)", folder, strerror(saved));
        }
        (void)fchmod(dir_fd, 0755); /* whatever the umask: made read-only later */
        out->path = sa_strdup(folder);
        out->lock_path = sa_strdup(lock_path);
        out->lock_fd = fd;
        out->dir_fd = dir_fd;
        if (!out->path || !out->lock_path) {
            sa_import_tmp_end(out, 1);
            return sa_error_set(err, "out of memory");
        }
        return 0;
    }
    return sa_error_set(err, "%s: cannot create a temporary folder (removed again and again)", datasets_dir);
}

int sa_import_tmp_check(const sa_import_tmp *t, sa_error *err) {
    if (t->dir_fd < 0 || !same_file(t->dir_fd, t->path) || !same_file(t->lock_fd, t->lock_path))
        return sa_error_set(err, "%s: this import's temporary folder was removed or replaced by another "
                                 "process while it ran (are file locks honoured on this file system?): "
                                 "nothing was stored; import again",
                            t->path);
    return 0;
}

void sa_import_tmp_end(sa_import_tmp *t, int remove_folder) {
    if (t->path && remove_folder) sa_ds_remove_tree(t->path);
    if (t->lock_path && t->lock_fd >= 0 && same_file(t->lock_fd, t->lock_path)) unlink(t->lock_path);
    if (t->dir_fd >= 0) close(t->dir_fd);
    if (t->lock_fd >= 0) close(t->lock_fd); /* last: no cleaner races the removal */
    free(t->path);
    free(t->lock_path);
    memset(t, 0, sizeof *t);
    t->lock_fd = t->dir_fd = -1;
}

void sa_import_tmp_undo_dirs(const char *datasets_dir, const char *created) {
    if (!*created) return;
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", datasets_dir) >= (int)sizeof buf) return;
    size_t top = strlen(created);
    /* from datasets/ up to the topmost folder this import made; rmdir removes only
     * empty ones (another import may have put its own folder there meanwhile) */
    for (;;) {
        if (rmdir(buf)) return;
        if (strlen(buf) <= top) return;
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf) return;
        *slash = 0;
    }
}

/* The lock of a folder's lock file, without waiting: its fd (the caller removes
 * and closes), -1 with errno EWOULDBLOCK when an import holds it, ENOENT when there
 * is no lock file (an older version's folder, or an import that ended meanwhile),
 * else why it cannot be told. Never follows a symlink. */
static int take_free_lock(const char *lock_path) {
    int fd = open(lock_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    while (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno == EINTR) continue;
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (!same_file(fd, lock_path)) { /* its import ended and removed it meanwhile */
        close(fd);
        errno = ESTALE;
        return -1;
    }
    return fd;
}

int sa_dataset_leftovers(const char *data_dir, int remove, sa_problems *found, sa_error *err) {
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/datasets", data_dir ? data_dir : "./segarena-data") >= (int)sizeof dir)
        return sa_error_set(err, "%s: path too long", data_dir);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return sa_error_set(err, "%s: cannot read (%s)", dir, strerror(errno));
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !rc) {
        size_t len = strlen(e->d_name);
        int is_lock = len > 5 && !strcmp(e->d_name + len - 5, ".lock");
        if (strncmp(e->d_name, ".tmp-", 5) != 0) continue;
        char *path = sa_path_join(dir, e->d_name);
        char *lock_path = path ? malloc(strlen(path) + 6) : NULL;
        if (!path || !lock_path) {
            free(path);
            free(lock_path);
            rc = sa_error_set(err, "out of memory");
            break;
        }
        if (is_lock) snprintf(lock_path, strlen(path) + 6, "%s", path);
        else snprintf(lock_path, strlen(path) + 6, "%s.lock", path);
        struct stat st;
        char what[320] = "";
        int fd = -1;
        if (is_lock) {
            /* a lock file whose folder is gone: an import killed between removing
             * its folder and its lock file (or one just starting: never touched
             * while held) */
            char folder[PATH_MAX + 100];
            snprintf(folder, sizeof folder, "%.*s", (int)(strlen(path) - 5), path);
            if (lstat(folder, &st) == 0 || errno != ENOENT || (fd = take_free_lock(lock_path)) < 0) {
                free(path);
                free(lock_path);
                continue; /* reported with its folder, or held, or gone */
            }
            if (remove) unlink(lock_path);
            close(fd);
            free(path);
            free(lock_path);
            continue; /* an empty file: not worth a line */
        }
        if (lstat(path, &st)) { /* renamed into place or removed meanwhile */
            free(path);
            free(lock_path);
            continue;
        }
        int no_lock_file = 0;
        if (S_ISDIR(st.st_mode)) {
            fd = take_free_lock(lock_path);
            if (fd < 0 && errno == ENOENT) no_lock_file = 1;
            if (fd < 0 && errno == ESTALE) { /* its import just ended */
                free(path);
                free(lock_path);
                continue;
            }
        }
        if (!S_ISDIR(st.st_mode)) {
            snprintf(what, sizeof what, "not a folder of an import (left alone)");
        } else if (fd < 0 && !no_lock_file && (errno == EWOULDBLOCK || errno == EAGAIN)) {
            snprintf(what, sizeof what, "the temporary folder of an import in progress");
        } else if (fd < 0 && !no_lock_file) {
            snprintf(what, sizeof what, "cannot be locked to tell whether an import is using it (%s; left alone)",
                     strerror(errno));
        } else if (remove) {
            int removed = remove_path(path) == 0;
            int saved = errno;
            if (removed && fd >= 0) unlink(lock_path);
            if (removed)
                snprintf(what, sizeof what, "removed: the partial copy of an import that was interrupted");
            else
                snprintf(what, sizeof what, "the partial copy of an import that was interrupted, could not be "
                                            "removed (%s): remove it as its owner", strerror(saved));
        } else {
            snprintf(what, sizeof what, "the partial copy of an import that was interrupted (the next import "
                                        "removes it)");
        }
        if (fd >= 0) close(fd);
        if (found && sa_problems_add(found, "%s: %s", path, what)) rc = sa_error_set(err, "out of memory");
        free(path);
        free(lock_path);
    }
    closedir(d);
    return rc;
}
