/*
 * dataset_tmp.c: the temporary folders of imports, DATA_DIR/datasets/.tmp-NAME-XXXXXX.
 * An import holds an exclusive flock on its folder from creation until the folder
 * is renamed into place or removed; the kernel drops the lock when the process
 * dies, however it dies. A .tmp-* folder nobody holds is thus the partial copy of
 * an import that was killed (kill -9, power loss): the next import removes it and
 * `dataset list` reports it, while a folder that is held (an import running now, in
 * this or another process) is never touched.
 */
#define _DEFAULT_SOURCE /* flock */
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

void sa_ds_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0755);
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char *p = sa_path_join(path, e->d_name);
                if (p) sa_ds_remove_tree(p);
                free(p);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* An fd of the folder with its exclusive lock taken (blocking or not), or -1
 * (errno EWOULDBLOCK: another process holds it). Never follows a symlink. */
static int lock_folder(const char *path, int wait) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) {
        if (errno == EINTR) continue;
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

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

int sa_import_tmp_create(const char *datasets_dir, const char *name, char *created, size_t created_size,
                         char **path_out, int *lock_fd, sa_error *err) {
    *path_out = NULL;
    *lock_fd = -1;
    char tmpl[PATH_MAX + 100];
    /* a cleaner may take the lock of a folder made a moment ago, before this
     * process takes it, and remove it: the folder is then made again */
    for (int attempt = 0; attempt < 8; attempt++) {
        if (sa_ds_mkdir_p(datasets_dir, created, created_size, err)) return -1;
        if (snprintf(tmpl, sizeof tmpl, "%s/.tmp-%s-XXXXXX", datasets_dir, name) >= (int)sizeof tmpl)
            return sa_error_set(err, "%s: path too long", datasets_dir);
        if (!mkdtemp(tmpl)) {
            if (errno == ENOENT) continue; /* datasets/ itself removed meanwhile */
            return sa_error_set(err, "%s: cannot create (%s)", tmpl, strerror(errno));
        }
        int fd = lock_folder(tmpl, 1);
        struct stat st;
        if (fd < 0) {
            if (errno == ENOENT) continue;
            sa_error_set(err, "%s: cannot lock (%s)", tmpl, strerror(errno));
            rmdir(tmpl);
            return -1;
        }
        if (fstat(fd, &st) || st.st_nlink == 0) { /* removed before the lock was ours */
            close(fd);
            continue;
        }
        chmod(tmpl, 0755);
        if (!(*path_out = sa_strdup(tmpl))) {
            sa_ds_remove_tree(tmpl);
            close(fd);
            return sa_error_set(err, "out of memory");
        }
        *lock_fd = fd;
        return 0;
    }
    return sa_error_set(err, "%s: cannot create a temporary folder (removed again and again)", datasets_dir);
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
        if (strncmp(e->d_name, ".tmp-", 5) != 0) continue;
        char *path = sa_path_join(dir, e->d_name);
        if (!path) {
            rc = sa_error_set(err, "out of memory");
            break;
        }
        struct stat st;
        int fd = -1;
        const char *what;
        if (lstat(path, &st)) { /* renamed into place or removed meanwhile */
            free(path);
            continue;
        }
        if (S_ISDIR(st.st_mode) && (fd = lock_folder(path, 0)) < 0 && errno == ENOENT) {
            free(path);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            what = "not a folder of an import (left alone)";
        } else if (fd < 0 && (errno == EWOULDBLOCK || errno == EAGAIN)) {
            what = "the temporary folder of an import in progress";
        } else if (fd < 0) {
            what = "cannot be locked to tell whether an import is using it (left alone)";
        } else if (remove) {
            sa_ds_remove_tree(path);
            what = "removed: the partial copy of an import that was interrupted";
        } else {
            what = "the partial copy of an import that was interrupted (the next import removes it)";
        }
        if (fd >= 0) close(fd);
        if (found && sa_problems_add(found, "%s: %s", path, what)) rc = sa_error_set(err, "out of memory");
        free(path);
    }
    closedir(d);
    return rc;
}
