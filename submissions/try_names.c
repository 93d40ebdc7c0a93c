/*
 * try_names.c: the image names of `segarena try` ("localhost/segarena/sub-try-<24
 * hex>"), each covered by an flock'ed lock file in a per-user folder for as long
 * as the try may remove it, and the sweep, run by the next `try`, that removes
 * the names a killed try left (its lock file there, held by no process) together
 * with its container, its work folder (named in its lock file; its /output
 * tmpfs unmounted) and its load's temporary name (load_names.c, tag "try").
 * Without it a try killed while loading or running left an image, a container
 * running past its wall time and a mounted tmpfs on the host for good.
 *
 * Why it is race-free: a try creates and locks its lock file before the name can
 * exist and deletes it only once the name is gone, or kept on purpose
 * (--keep-image: then no lock file is left and no sweep ever takes the name). A
 * sweep deletes a lock file only while holding its lock and after the name is
 * gone. So a name whose lock file is there and held by nobody belongs to no
 * live try. A try that finds its fresh lock file deleted before it could lock it
 * (a sweep took it for a dead one's) takes another name. The name is removed
 * while holding its image's lock in the same folder (as load_names.c does), which
 * a try holds while loading, so that podman's removal (it counts an image's
 * names before deleting it) never takes an image another try is loading.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "sandbox_internal.h"
#include "submissions.h"

#define TRY_PREFIX "localhost/segarena/sub-try-"
#define HEX_DIGITS 24

int sa_try_lock_dir(char *buf, size_t size, sa_error *err) {
    if (snprintf(buf, size, "/tmp/segarena-try-%ld", (long)geteuid()) >= (int)size)
        return sa_error_set(err, "try: lock folder name too long");
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return sa_error_set(err, "%s: cannot create: %s", buf, strerror(errno));
    struct stat sb;
    if (lstat(buf, &sb) != 0) return sa_error_set(err, "%s: %s", buf, strerror(errno));
    /* someone else's, or writable by others: its lock files cannot be trusted */
    if (!S_ISDIR(sb.st_mode) || sb.st_uid != geteuid() || (sb.st_mode & 022))
        return sa_error_set(err, "%s: not a folder of this user's only", buf);
    return 0;
}

static int still_linked(int fd, const char *path) {
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int sa_try_name_take(const char *lock_dir, sa_engine_kind engine, const char *scratch_dir, sa_try_name *out,
                     sa_error *err) {
    out->lock_fd = -1;
    /* the work folder as an absolute path: a relative one (TMPDIR=tmp) would name
     * another folder, or none, from the sweeping try's folder */
    char scratch_abs[PATH_MAX] = "";
    if (scratch_dir && !realpath(scratch_dir, scratch_abs))
        return sa_error_set(err, "%s: %s", scratch_dir, strerror(errno));
    char content[PATH_MAX + 32];
    int len = snprintf(content, sizeof content, "%s\n%s", sa_engine_name(engine), scratch_abs);
    if (len < 0 || len >= (int)sizeof content) return sa_error_set(err, "try: work folder name too long");
    if (sodium_init() < 0) return sa_error_set(err, "libsodium could not start");
    for (int attempt = 0; attempt < 8; attempt++) {
        unsigned char rnd[HEX_DIGITS / 2];
        char hex[HEX_DIGITS + 1];
        randombytes_buf(rnd, sizeof rnd);
        for (size_t i = 0; i < sizeof rnd; i++) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
        snprintf(out->name, sizeof out->name, TRY_PREFIX "%s", hex);
        snprintf(out->run_id, sizeof out->run_id, "try-%s", hex);
        if (snprintf(out->lock_path, sizeof out->lock_path, "%s/try-%s.lock", lock_dir, hex) >=
            (int)sizeof out->lock_path)
            return sa_error_set(err, "try: lock folder name too long");
        int fd = open(out->lock_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            return sa_error_set(err, "%s: cannot create: %s", out->lock_path, strerror(errno));
        }
        int locked;
        while ((locked = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
        }
        if (locked == 0 && still_linked(fd, out->lock_path)) {
            out->lock_fd = fd;
            /* its engine and where its work folder is, for the sweep of a killed try */
            size_t n = (size_t)len;
            if (write(fd, content, n) != (ssize_t)n) {
                sa_try_name_release(out, 1);
                return sa_error_set(err, "%s: cannot write: %s", lock_dir, strerror(errno));
            }
            return 0;
        }
        close(fd); /* a sweep took the fresh file for a dead try's and deleted it */
    }
    return sa_error_set(err, "%s: cannot lock a lock file for the try", lock_dir);
}

void sa_try_name_release(sa_try_name *t, int name_gone) {
    if (t->lock_fd < 0) return;
    if (name_gone) unlink(t->lock_path);
    close(t->lock_fd);
    t->lock_fd = -1;
}

/* ---- The sweep ---- */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

/* A dead try's lock file (fd): "ENGINE\nWORK_FOLDER". 1 with engine_word and dir
 * set, 0 when unreadable or not in that form. */
static int read_lock_file(int fd, char *engine_word, size_t word_size, char *dir, size_t dir_size) {
    char text[4200];
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    if (n <= 0) return 0;
    text[n] = '\0';
    char *nl = strchr(text, '\n');
    if (!nl || (size_t)(nl - text) >= word_size || strlen(nl + 1) >= dir_size) return 0;
    *nl = '\0';
    memcpy(engine_word, text, (size_t)(nl - text) + 1);
    memcpy(dir, nl + 1, strlen(nl + 1) + 1);
    return 1;
}

/* The work folder dir a dead try named in its lock file: its case's /output tmpfs
 * unmounted and its folder removed (sa_run_case_cleanup), then the rest (the
 * intake's scratch). Only a folder "<dir>/segarena-try.XXXXXX" of this user, as
 * the try makes it. */
static void remove_scratch(const char *dir, const char *run_id) {
    const char *base = strrchr(dir, '/');
    struct stat sb;
    if (dir[0] != '/' || !base || strncmp(base + 1, "segarena-try.", 13) || strlen(base + 14) != 6 ||
        strchr(dir, '\n') || lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
        return;
    sa_run_case_cleanup(dir, run_id, "case");
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Runs `<engine> ARGS... NAME`; its status, or -1 when it could not run; *out
 * (when given) its stdout. */
static int engine_call(sa_engine_kind engine, const char *const *args, const char *name, char **out) {
    sa_argv a = {0};
    int status = -1;
    sa_error ignored;
    int ok = sa_argv_push(&a, sa_engine_name(engine)) == 0;
    for (size_t i = 0; ok && args[i]; i++) ok = sa_argv_push(&a, args[i]) == 0;
    if (ok) ok = sa_argv_push(&a, name) == 0;
    int r = ok ? sa_engine_exec(&a, "/", 120, out, &status, &ignored) : -1;
    sa_argv_free(&a);
    return r == 0 ? status : -1;
}

/* 1 when the engine has no image of that name, 0 when it has, -1 unknown. */
static int name_gone(sa_engine_kind engine, const char *name) {
    static const char *const ls[] = {"images", "-q", NULL};
    char *out = NULL;
    int status = engine_call(engine, ls, name, &out);
    int gone = status != 0 ? -1 : (!out || strspn(out, " \r\n") == strlen(out)) ? 1 : 0;
    free(out);
    return gone;
}

/* The dead try's name removed (never forced: an image with other names is only
 * untagged, one a container uses stays) under its image's lock: 1 when it is
 * gone, 0 when it stays for now. */
static int remove_name(sa_engine_kind engine, const char *lock_dir, const char *name) {
    int gone = name_gone(engine, name);
    if (gone != 0) return gone == 1;
    static const char *const inspect[] = {"image", "inspect", "--format", "{{.Id}}", NULL};
    char *out = NULL;
    int status = engine_call(engine, inspect, name, &out);
    const char *id = out && !strncmp(out, "sha256:", 7) ? out + 7 : out; /* docker's form */
    char id32[33] = "";
    if (status == 0 && id && strspn(id, "0123456789abcdef") >= 32) snprintf(id32, sizeof id32, "%.32s", id);
    free(out);
    if (!id32[0]) return 0;
    sa_error ignored;
    int image_lock = sa_intake_image_lock(lock_dir, id32, 0, &ignored);
    if (image_lock < 0) return 0; /* a try is loading that image: next time */
    static const char *const rm[] = {"image", "rm", NULL};
    engine_call(engine, rm, name, NULL);
    close(image_lock);
    return name_gone(engine, name) == 1;
}

int sa_try_sweep(sa_engine_kind engine, const char *lock_dir, sa_error *err) {
    if (engine == SA_ENGINE_PODMAN) { /* killed loads' temporary names (podman's store) */
        sa_intake_owner loads = {.lock_dir = lock_dir, .tag = "try"};
        sa_error ignored;
        sa_intake_sweep_loads(&loads, &ignored);
    }
    DIR *d = opendir(lock_dir);
    if (!d) return sa_error_set(err, "%s: %s", lock_dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *hex = e->d_name + 4;
        if (strncmp(e->d_name, "try-", 4) || strspn(hex, "0123456789abcdef") != HEX_DIGITS ||
            strcmp(hex + HEX_DIGITS, ".lock"))
            continue;
        char path[4400], name[96];
        snprintf(path, sizeof path, "%s/%s", lock_dir, e->d_name);
        snprintf(name, sizeof name, TRY_PREFIX "%.*s", HEX_DIGITS, hex);
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue; /* gone meanwhile */
        char engine_word[16], dir[4097];
        struct stat sb;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && still_linked(fd, path) && fstat(fd, &sb) == 0 && sb.st_size == 0) {
            unlink(path); /* killed before it wrote anything: its name was never made */
        } else if (flock(fd, LOCK_EX | LOCK_NB) == 0 && still_linked(fd, path) &&
                   read_lock_file(fd, engine_word, sizeof engine_word, dir, sizeof dir) &&
                   !strcmp(engine_word, sa_engine_name(engine))) { /* another engine's try: its own sweep */
            /* the dead try's container (nobody ends it at its wall time, or reads
             * its output), then its image name */
            char container[96], run_id[32];
            sa_error ignored;
            snprintf(run_id, sizeof run_id, "try-%.*s", HEX_DIGITS, hex);
            snprintf(container, sizeof container, "segarena-%s-case", run_id);
            sa_engine_remove_container(engine, container, &ignored);
            remove_scratch(dir, run_id); /* its work folder, /output tmpfs included */
            if (remove_name(engine, lock_dir, name)) unlink(path);
        }
        close(fd); /* a live try holds it: left alone */
    }
    closedir(d);
    return 0;
}
