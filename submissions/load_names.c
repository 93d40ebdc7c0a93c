/*
 * load_names.c: the temporary names that intake loads images under
 * ("localhost/segarena/load-<tag>-<hex>"), each covered by an flock'ed lock file
 * for as long as the name can exist, and the sweep that removes the names a killed
 * load left behind (their lock held by no process), which would otherwise keep an
 * image in podman's store that no submission names.
 *
 * Why it is race-free: a load creates and locks its lock file before skopeo can
 * create the name, and deletes it only after removing the name; a sweep deletes a
 * lock file only while holding its lock and after the name is gone. So a name
 * whose lock file is missing, or held by nobody, belongs to no live load. A load
 * that finds its lock file deleted between creating and locking it (a sweep took
 * it for a dead one's) starts again with another name.
 *
 * Also here, the lock of an image's uploads (image-<id>.lock): the sweep removes a
 * dead name only while holding its image's lock, which an upload of that image
 * holds from before its load to its row, so that podman's removal of a name
 * (which deletes the image when that was its only name, as counted before the
 * delete) never races a load of the same image in this data directory.
 *
 * And the listing of one data directory's submission names ("sub-<tag>-<id>"),
 * from which the worker's sweep removes those no submission row names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "intake_internal.h"
#include "sandbox_internal.h"

#define NAME_PREFIX "localhost/segarena/load-"
#define HEX_DIGITS 24 /* 12 random bytes */
#define TAG_MAX 16

static int tag_valid(const char *tag) {
    size_t n = tag ? strlen(tag) : 0;
    if (n == 0 || n > TAG_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((tag[i] >= 'a' && tag[i] <= 'z') || (tag[i] >= '0' && tag[i] <= '9'))) return 0;
    return 1;
}

static int owner_valid(const sa_intake_owner *owner, sa_error *err) {
    if (!owner->lock_dir || !owner->lock_dir[0] || strlen(owner->lock_dir) > 4000)
        return sa_error_set(err, "intake: the load's lock folder is missing or too long");
    if (!tag_valid(owner->tag))
        return sa_error_set(err, "intake: load tag '%.32s' is not 1 to %d of [a-z0-9]",
                            owner->tag ? owner->tag : "", TAG_MAX);
    return 0;
}

static void random_hex(char out[HEX_DIGITS + 1]) {
    unsigned char rnd[HEX_DIGITS / 2];
    randombytes_buf(rnd, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

/* 1 when fd is still the file at path (no sweep deleted it meanwhile). */
static int still_linked(int fd, const char *path) {
    struct stat a, b;
    return fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int sa_load_name_take(const sa_intake_owner *owner, sa_load_name *out, sa_error *err) {
    char hex[HEX_DIGITS + 1];
    out->lock_path[0] = '\0';
    out->lock_fd = -1;
    if (!owner) {
        random_hex(hex);
        snprintf(out->name, sizeof out->name, NAME_PREFIX "%s", hex);
        return 0;
    }
    if (owner_valid(owner, err)) return -1;
    for (int attempt = 0; attempt < 8; attempt++) {
        random_hex(hex);
        snprintf(out->name, sizeof out->name, NAME_PREFIX "%s-%s", owner->tag, hex);
        snprintf(out->lock_path, sizeof out->lock_path, "%s/load-%s-%s.lock", owner->lock_dir, owner->tag, hex);
        int fd = open(out->lock_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            sa_error_set(err, "%s: cannot create the load's lock file: %s", out->lock_path, strerror(errno));
            out->lock_path[0] = '\0';
            return -1;
        }
        int locked;
        while ((locked = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
        }
        if (locked == 0 && still_linked(fd, out->lock_path)) {
            out->lock_fd = fd;
            return 0;
        }
        close(fd); /* a sweep took the fresh file for a dead load's and deleted it */
    }
    out->lock_path[0] = '\0';
    return sa_error_set(err, "%s: cannot lock a lock file for the load", owner->lock_dir);
}

void sa_load_name_release(sa_load_name *ln) {
    if (ln->lock_fd < 0) return;
    unlink(ln->lock_path);
    close(ln->lock_fd);
    ln->lock_fd = -1;
}

int sa_intake_image_lock(const char *lock_dir, const char *image_id, int wait, sa_error *err) {
    size_t n = image_id ? strlen(image_id) : 0;
    if (n == 0 || n > 64 || strspn(image_id, "0123456789abcdef") != n)
        return sa_error_set(err, "image lock: '%.64s' is not an image id", image_id ? image_id : "");
    char path[4200];
    if (snprintf(path, sizeof path, "%s/image-%s.lock", lock_dir, image_id) >= (int)sizeof path)
        return sa_error_set(err, "image lock: folder name too long");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return sa_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0)
        if (errno != EINTR) {
            sa_error_set(err, "%s: %s", path,
                         errno == EWOULDBLOCK ? "held by an upload in progress" : strerror(errno));
            close(fd);
            return -1;
        }
    return fd;
}

/* ---- The sweep ---- */

/* 1 when s is "<24 lowercase hex>" followed by end (or by suffix). */
static int hex_then(const char *s, const char *suffix) {
    for (int i = 0; i < HEX_DIGITS; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return strcmp(s + HEX_DIGITS, suffix) == 0;
}

/* `podman image rm NAME`, never forced: 1 when the name is gone (removed, or not
 * known), 0 when it stays (a container uses the image, podman failed). */
static int untag(const char *name) {
    sa_argv a = {0};
    int status = -1;
    sa_error ignored;
    if (sa_argv_push(&a, "podman") || sa_argv_push(&a, "image") || sa_argv_push(&a, "rm") ||
        sa_argv_push(&a, name)) {
        sa_argv_free(&a);
        return 0;
    }
    int r = sa_engine_exec(&a, "/", 120, NULL, &status, &ignored);
    sa_argv_free(&a);
    /* podman image rm: 0 removed or untagged, 1 no such image, 2 in use by a container */
    return r == 0 && (status == 0 || status == 1);
}

/* The first 32 hex digits of the id of the image that name names (the image
 * lock's key), or -1 when podman cannot tell. */
static int image_id_of(const char *name, char id[33]) {
    sa_argv a = {0};
    char *out = NULL;
    int status = -1;
    sa_error ignored;
    if (sa_argv_push(&a, "podman") || sa_argv_push(&a, "image") || sa_argv_push(&a, "inspect") ||
        sa_argv_push(&a, "--format") || sa_argv_push(&a, "{{.Id}}") || sa_argv_push(&a, name)) {
        sa_argv_free(&a);
        return -1;
    }
    int r = sa_engine_exec(&a, "/", 60, &out, &status, &ignored);
    sa_argv_free(&a);
    int ok = r == 0 && status == 0 && out && strspn(out, "0123456789abcdef") >= 32;
    if (ok) snprintf(id, 33, "%.32s", out);
    free(out);
    return ok ? 0 : -1;
}

/* A dead load's name removed while its image's lock is held (see the top): 1
 * when it is gone, 0 when it stays for now (a load of its image is in progress,
 * a container uses it, podman failed). */
static int remove_dead_name(const sa_intake_owner *owner, const char *name) {
    char id[33];
    sa_error ignored;
    if (image_id_of(name, id)) return 0;
    int fd = sa_intake_image_lock(owner->lock_dir, id, 0, &ignored);
    if (fd < 0) return 0;
    int gone = untag(name);
    close(fd);
    return gone;
}

/* 1 when the sweep's listing (lines "NAME:latest") holds name. */
static int listed(const char *listing, const char *name) {
    size_t n = strlen(name);
    for (const char *p = listing; (p = strstr(p, name)); p += n)
        if ((p == listing || p[-1] == '\n') && !strncmp(p + n, ":latest", 7) &&
            (p[n + 7] == '\n' || p[n + 7] == '\0'))
            return 1;
    return 0;
}

/* The hex of the load name "localhost/segarena/load-<tag>-<hex>:latest" (one line
 * of `podman images`), or NULL when the line is not one of this tag's. */
static const char *load_hex(const char *line, const char *tag) {
    size_t p = strlen(NAME_PREFIX), t = strlen(tag);
    if (strncmp(line, NAME_PREFIX, p) || strncmp(line + p, tag, t) || line[p + t] != '-') return NULL;
    const char *hex = line + p + t + 1;
    return hex_then(hex, ":latest") ? hex : NULL;
}

/* A lock file whose lock nobody holds: its name removed, then the file (only
 * once the name is gone, so that a name never outlives its lock file unnoticed).
 * listing: the names there were before; a dead load's name cannot appear after
 * it (its skopeo held the lock and is gone too). Returns 1 when it was a dead
 * load's. */
static int reclaim(const sa_intake_owner *owner, const char *hex, const char *listing) {
    char path[4200], name[96];
    snprintf(path, sizeof path, "%s/load-%s-%.*s.lock", owner->lock_dir, owner->tag, HEX_DIGITS, hex);
    snprintf(name, sizeof name, NAME_PREFIX "%s-%.*s", owner->tag, HEX_DIGITS, hex);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0; /* gone meanwhile: its load or another sweep removed it */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd); /* a live load */
        return 0;
    }
    if (still_linked(fd, path) && (!listed(listing, name) || remove_dead_name(owner, name)))
        unlink(path);
    close(fd);
    return 1;
}

/* `podman images --filter reference=PATTERN`, one "repository:tag" a line, into
 * *listing (malloc'ed). 0, or -1 with err ("WHAT: ..."). */
static int list_images(const char *pattern, const char *what, char **listing, sa_error *err) {
    char filter[128];
    snprintf(filter, sizeof filter, "reference=%s", pattern);
    sa_argv ls = {0};
    int status = -1;
    *listing = NULL;
    if (sa_argv_push(&ls, "podman") || sa_argv_push(&ls, "images") || sa_argv_push(&ls, "--filter") ||
        sa_argv_push(&ls, filter) || sa_argv_push(&ls, "--format") ||
        sa_argv_push(&ls, "{{.Repository}}:{{.Tag}}")) {
        sa_argv_free(&ls);
        return sa_error_set(err, "%s: out of memory", what);
    }
    int r = sa_engine_exec(&ls, "/", 60, listing, &status, err);
    sa_argv_free(&ls);
    if (r) return -1;
    if (status != 0 || !*listing) {
        free(*listing);
        *listing = NULL;
        return sa_error_set(err, "%s: 'podman images' failed (status %d)", what, status);
    }
    return 0;
}

int sa_intake_sweep_loads(const sa_intake_owner *owner, sa_error *err) {
    if (!owner) return sa_error_set(err, "intake sweep: no owner");
    if (owner_valid(owner, err)) return -1;
    /* the names first: a load that starts after this listing holds its lock
     * before its name exists, so nothing below takes its name for a dead one */
    char pattern[96];
    snprintf(pattern, sizeof pattern, NAME_PREFIX "%s-*", owner->tag);
    char *listing = NULL;
    if (list_images(pattern, "intake sweep", &listing, err)) return -1;
    /* lock files held by nobody: dead loads, whose names are removed with them */
    DIR *d = opendir(owner->lock_dir);
    struct dirent *e;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "load-%s-", owner->tag);
    size_t plen = strlen(prefix);
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, plen) && hex_then(e->d_name + plen, ".lock"))
            reclaim(owner, e->d_name + plen, listing);
    if (d) closedir(d);
    /* names without a lock file: their load is over (it deletes the file only
     * after removing the name, or failing to) */
    char *save = NULL;
    for (char *line = strtok_r(listing, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        const char *hex = load_hex(line, owner->tag);
        if (!hex) continue;
        char path[4200], name[96];
        snprintf(path, sizeof path, "%s/load-%s-%.*s.lock", owner->lock_dir, owner->tag, HEX_DIGITS, hex);
        snprintf(name, sizeof name, NAME_PREFIX "%s-%.*s", owner->tag, HEX_DIGITS, hex);
        struct stat sb;
        if (lstat(path, &sb) != 0 && errno == ENOENT) remove_dead_name(owner, name);
    }
    free(listing);
    return 0;
}

/* ---- The names of one data directory's submissions ---- */

int sa_intake_submission_names(const char *tag, char ***names, size_t *n, sa_error *err) {
    *names = NULL;
    *n = 0;
    if (!tag_valid(tag)) return sa_error_set(err, "intake: tag '%.32s' is not 1 to %d of [a-z0-9]",
                                             tag ? tag : "", TAG_MAX);
    char prefix[64], pattern[96];
    snprintf(prefix, sizeof prefix, "localhost/segarena/sub-%s-", tag);
    snprintf(pattern, sizeof pattern, "%s*", prefix);
    char *listing = NULL;
    if (list_images(pattern, "intake", &listing, err)) return -1;
    size_t plen = strlen(prefix), cap = 0;
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(listing, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
        /* exactly "<prefix><32 lowercase hex>:latest" */
        const char *id = line + plen;
        if (strncmp(line, prefix, plen) || strspn(id, "0123456789abcdef") != 32 || strcmp(id + 32, ":latest"))
            continue;
        if (*n == cap) {
            size_t c2 = cap ? 2 * cap : 16;
            char **grown = realloc(*names, c2 * sizeof *grown);
            if (!grown) {
                rc = sa_error_set(err, "intake: out of memory");
                break;
            }
            *names = grown;
            cap = c2;
        }
        line[plen + 32] = '\0';
        if (!((*names)[*n] = strdup(line))) rc = sa_error_set(err, "intake: out of memory");
        else (*n)++;
    }
    free(listing);
    if (rc) {
        for (size_t i = 0; i < *n; i++) free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
    }
    return rc;
}
