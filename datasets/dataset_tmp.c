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
 * A cleaner first claims a dead folder by renaming it to .tmp-_dead-XXXXXX (atomic:
 * of the cleaner's rename and the import's rename into place, one wins, the other
 * finds no folder), then removes what it claimed: a folder it did not claim, or a
 * dataset stored meanwhile, is never emptied. Where locks are not honoured (some
 * network file systems) a cleaner may claim a running import's folder: that import
 * then finds its folder gone (sa_import_tmp_check: the folder it holds open is no
 * longer at its path, or the rename finds nothing) and is refused, so a partial copy
 * is never stored as a dataset. Removal works through file descriptors (openat,
 * unlinkat, O_NOFOLLOW): it never follows a symlink, whatever is swapped in.
 *
 * Versions before lock files locked the folder itself: an import also takes that
 * lock (where the file system allows it), and a folder without a lock file counts
 * as in progress while its own lock is held, so that neither version's cleaner
 * removes the other's running import.
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
    if (fd < 0) return errno == ENOENT ? 0 : -1; /* removed meanwhile */
    (void)fchmod(fd, 0700); /* a read-only folder: its entries could not be removed */
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
    size_t len = strlen(parent);
    while (len > 1 && parent[len - 1] == '/') parent[--len] = '\0'; /* "dir/" is "dir" */
    char *slash = strrchr(parent, '/');
    const char *name = slash ? slash + 1 : parent;
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
        errno = EINVAL;
        return -1;
    }
    if (slash == parent) parent[1] = '\0';
    else if (slash) *slash = '\0';
    int parent_fd = slash ? open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : AT_FDCWD;
    if (slash && parent_fd < 0) return errno == ENOENT ? 0 : -1;
    int rc = remove_at(parent_fd, name);
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
        (void)fchmod(fd, 0644); /* another user's list can open it to test the lock */
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
        /* the lock older versions take on the folder itself, where the file system
         * allows one on a folder: their cleaners then leave it alone too. Held
         * already: an older cleaner took it between the mkdir and now and is
         * removing it: another folder then */
        if (flock(dir_fd, LOCK_EX | LOCK_NB) && (errno == EWOULDBLOCK || errno == EAGAIN)) {
            close(dir_fd);
            unlink(lock_path);
            close(fd);
            continue;
        }
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

/* Takes fd's exclusive lock without waiting and checks that fd is still the file
 * at path: fd, or -1 with fd closed and errno the lock's error, or `gone` when the
 * file was removed or replaced meanwhile. */
static int lock_if_still_there(int fd, const char *path, int gone) {
    while (flock(fd, LOCK_EX | LOCK_NB)) {
        if (errno == EINTR) continue;
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (!same_file(fd, path)) {
        close(fd);
        errno = gone;
        return -1;
    }
    return fd;
}

/* The lock an older version took on the folder itself (and an import takes too),
 * without waiting: its fd; -1 when it is held (errno EWOULDBLOCK: an import is
 * running, or a cleaner is removing a claimed folder) or the folder cannot be
 * opened (errno says why; ENOENT: gone meanwhile); -2 when this file system locks
 * no folder (NFS: no version could have locked it, nobody holds it). */
static int take_free_folder_lock(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    fd = lock_if_still_there(fd, path, ENOENT); /* gone: removed, or replaced by a claim */
    /* only "no locks on folders here" means nobody could hold it */
    if (fd < 0 && (errno == EBADF || errno == EINVAL || errno == EOPNOTSUPP)) return -2;
    return fd;
}

/* A claimed folder's name: '_' starts no dataset name (ids start with a letter or a
 * digit), so no import's .tmp-NAME-XXXXXX looks like one. */
#define CLAIMED_PREFIX ".tmp-_dead-"

/* Claims a dead import's folder by renaming it onto a new empty folder
 * datasets/.tmp-_dead-XXXXXX (rename replaces an empty folder atomically), a name
 * no import uses: 1 claimed (*claimed gets the new path), 0 when the folder is no
 * longer there (its import renamed it into place, or another cleaner claimed it),
 * -1 with errno (-2 when the new folder could not be made). */
static int claim(const char *dir, const char *path, char *claimed, size_t size) {
    if (snprintf(claimed, size, "%s/" CLAIMED_PREFIX "XXXXXX", dir) >= (int)size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!mkdtemp(claimed)) return -2;
    if (rename(path, claimed) == 0) return 1;
    int saved = errno;
    rmdir(claimed);
    errno = saved;
    return saved == ENOENT ? 0 : -1;
}

/* The lock of a folder's lock file, without waiting: its fd (the caller removes
 * and closes), -1 with errno EWOULDBLOCK when an import holds it, ENOENT when there
 * is no lock file (an older version's folder, or an import that ended meanwhile),
 * else why it cannot be told. Never follows a symlink. */
static int take_free_lock(const char *lock_path) {
    int fd = open(lock_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == EACCES || errno == EPERM)) /* another user's: enough on a local disk */
        fd = open(lock_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    return lock_if_still_there(fd, lock_path, ESTALE); /* gone: its import ended meanwhile */
}

/* What could not be removed, and what to do about it. */
static void removal_failed(char *what, size_t size, const char *claimed, int error) {
    snprintf(what, size, "the partial copy of an import that was interrupted, %s%s could not be removed (%s)%s",
             claimed ? "claimed as " : "", claimed ? claimed : "", strerror(error),
             error == EACCES || error == EPERM ? ": remove it as its owner" : "");
}

/* 1 when the folder holds no entry, 0 when it holds some, -1 when it is gone. */
static int folder_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? -1 : 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d))) empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
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
    static const char interrupted[] = "the partial copy of an import that was interrupted";
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !rc) {
        if (strncmp(e->d_name, ".tmp-", 5) != 0) continue;
        size_t len = strlen(e->d_name);
        int is_lock = len > 5 && !strcmp(e->d_name + len - 5, ".lock");
        int is_claimed = !strncmp(e->d_name, CLAIMED_PREFIX, strlen(CLAIMED_PREFIX));
        char path[PATH_MAX + 300], lock_path[PATH_MAX + 310], folder[PATH_MAX + 300];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        snprintf(lock_path, sizeof lock_path, is_lock ? "%s" : "%s.lock", path);
        struct stat st;
        char what[PATH_MAX + 600] = "";
        int fd = -1, folder_fd = -1;

        if (is_lock) {
            /* a lock file whose folder is gone: an import killed between removing its
             * folder and its lock file, or one just starting (never touched while held) */
            snprintf(folder, sizeof folder, "%.*s", (int)(strlen(path) - 5), path);
            if (lstat(folder, &st) == 0 || errno != ENOENT || (fd = take_free_lock(lock_path)) < 0) continue;
            if (remove) unlink(lock_path);
            close(fd);
            continue; /* an empty file: not worth a line */
        }
        if (lstat(path, &st)) continue; /* renamed into place or claimed meanwhile */
        if (!S_ISDIR(st.st_mode)) {
            snprintf(what, sizeof what, "not a folder of an import (left alone)");
        } else if (is_claimed) {
            /* claimed by a cleaner that died, or that is removing it now (it holds the
             * folder's lock, which moved with it) */
            folder_fd = take_free_folder_lock(path);
            if (folder_fd == -1 && errno != EWOULDBLOCK && errno != EAGAIN && errno != ENOENT) {
                snprintf(what, sizeof what, "%s, cannot be opened (%s)%s", interrupted, strerror(errno),
                         errno == EACCES || errno == EPERM ? ": remove it as its owner" : "");
                if (found && sa_problems_add(found, "%s: %s", path, what)) rc = sa_error_set(err, "out of memory");
                continue;
            }
            if (folder_fd == -1) continue; /* being removed by another cleaner, or gone */
            int empty = folder_empty(path);
            if (empty != 0) { /* gone, or a cleaner died before its claim's rename */
                if (empty > 0 && remove) rmdir(path);
                if (folder_fd >= 0) close(folder_fd);
                continue;
            }
            if (!remove)
                snprintf(what, sizeof what, "%s (the next import removes it)", interrupted);
            else if (remove_path(path) == 0)
                snprintf(what, sizeof what, "removed: %s", interrupted);
            else
                removal_failed(what, sizeof what, NULL, errno);
        } else {
            /* an import's: its lock file says whether it runs; without one (an older
             * version's) its folder's own lock does. That lock is taken in every case
             * before the claim: it moves with the folder, so that another cleaner
             * leaves the claimed folder alone */
            fd = take_free_lock(lock_path);
            int why = errno;
            if (fd < 0 && why == ESTALE) continue; /* its import just ended */
            int lock_file = !(fd < 0 && why == ENOENT);
            if (fd >= 0 || !lock_file) {
                folder_fd = take_free_folder_lock(path);
                why = errno;
                if (folder_fd == -1 && why == ENOENT) { /* stored or claimed meanwhile */
                    if (fd >= 0) close(fd);
                    continue;
                }
            }
            int folder_held = folder_fd == -1 && (why == EWOULDBLOCK || why == EAGAIN);
            if (fd >= 0 && folder_held) { /* its import is dead: another cleaner has it */
                close(fd);
                continue;
            }
            int dead = fd >= 0 || (!lock_file && folder_fd != -1);
            if (!dead && (why == EWOULDBLOCK || why == EAGAIN)) {
                snprintf(what, sizeof what, "the temporary folder of an import in progress");
            } else if (!dead) {
                snprintf(what, sizeof what, "cannot be locked to tell whether an import is using it (%s; left "
                                            "alone)", strerror(why));
            } else if (!remove) {
                snprintf(what, sizeof what, "%s (the next import removes it)", interrupted);
            } else {
                /* claimed first: of this rename and the import's into place, one wins */
                char claimed[PATH_MAX + 300];
                int got = claim(dir, path, claimed, sizeof claimed);
                if (got == 0) { /* stored or claimed meanwhile: nothing of it is ours */
                    if (fd >= 0) close(fd);
                    if (folder_fd >= 0) close(folder_fd);
                    continue;
                }
                if (got == -2) {
                    snprintf(what, sizeof what, "%s, could not be claimed for removal (a folder in %s: %s; left "
                                                "alone)", interrupted, dir, strerror(errno));
                } else if (got < 0) {
                    removal_failed(what, sizeof what, NULL, errno);
                } else {
                    if (fd >= 0 && same_file(fd, lock_path)) unlink(lock_path);
                    if (remove_path(claimed) == 0)
                        snprintf(what, sizeof what, "removed: %s", interrupted);
                    else
                        removal_failed(what, sizeof what, claimed, errno);
                }
            }
        }
        if (fd >= 0) close(fd);
        if (folder_fd >= 0) close(folder_fd);
        if (found && sa_problems_add(found, "%s: %s", path, what)) rc = sa_error_set(err, "out of memory");
    }
    closedir(d);
    return rc;
}
