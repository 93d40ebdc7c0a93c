/*
 * sandbox.c: one case of a submission in a hardened container
 * (container-contract.md, "One run per test case").
 *
 * Work folder <scratch>/<run>-<case>/:
 *   input/   staging: hard links (or copies) of the case's inputs + case.json,
 *            bound read-only at /input
 *   output/  a tmpfs of output_bytes that SegArena mounts itself (mount(2), needs
 *            root), bound read-write at /output; when it cannot be mounted, a
 *            plain folder whose size is checked after the run (the cap is then
 *            enforced only after the fact: see docs/containers.md)
 *   cwd/     the engine client's working directory (conmon drops an `oom` file
 *            in it when the kernel kills the container for memory)
 *   segmentation.<ext>  the accepted mask, copied out of /output (kept)
 *
 * The engine client is fork/exec'ed with stdout and stderr on one pipe that
 * SegArena reads (the last log_bytes are kept). The wall-time limit is SegArena's:
 * on expiry it runs `<engine> kill <name>` then `<engine> rm -f <name>`; the
 * client is only signalled if it then fails to exit. The client runs with --rm
 * (the engine removes the container on a normal exit); `rm -f <name>` follows
 * only where it may not have (timeout, client died, status 125, cgroup left).
 */
#define _GNU_SOURCE /* pipe2, O_CLOEXEC, nftw */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_internal.h"

extern char **environ;

void sa_run_limits_default(sa_run_limits *lim) {
    memset(lim, 0, sizeof *lim);
    lim->wall_seconds = 600;
    lim->memory_bytes = 8ull << 30;
    lim->cpus = 2;
    lim->pids = 256;
    lim->output_bytes = 1ull << 30;
    lim->tmp_bytes = 2ull << 30;
    lim->log_bytes = 1u << 20;
    lim->gpu = -1;
}

const char *sa_run_class_name(sa_run_class c) {
    switch (c) {
    case SA_RUN_SUCCEEDED: return "succeeded";
    case SA_RUN_TIMEOUT: return "timeout";
    case SA_RUN_OUT_OF_MEMORY: return "out_of_memory";
    case SA_RUN_EXIT_CODE: return "exit_code";
    case SA_RUN_NO_OUTPUT: return "no_output";
    case SA_RUN_INVALID_OUTPUT: return "invalid_output";
    case SA_RUN_ENGINE_ERROR: return "engine_error";
    }
    return "engine_error";
}

void sa_run_result_free(sa_run_result *r) {
    if (!r) return;
    free(r->log);
    free(r->output_path);
    r->log = NULL;
    r->output_path = NULL;
    r->log_len = 0;
}

static void classify(sa_run_result *r, sa_run_class c, const char *reason) {
    r->cls = c;
    r->succeeded = c == SA_RUN_SUCCEEDED;
    if (c == SA_RUN_EXIT_CODE)
        snprintf(r->class_text, sizeof r->class_text, "exit_code %d", r->exit_code);
    else if (reason)
        snprintf(r->class_text, sizeof r->class_text, "%s: %s", sa_run_class_name(c), reason);
    else
        snprintf(r->class_text, sizeof r->class_text, "%s", sa_run_class_name(c));
}

static void detail(sa_run_result *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void detail(sa_run_result *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- files ---- */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* rm -rf that never crosses into another file system (a still-mounted tmpfs). */
static void remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int is_mountpoint(const char *path) {
    struct stat a, b;
    char parent[PATH_MAX];
    if (snprintf(parent, sizeof parent, "%s/..", path) >= (int)sizeof parent) return 0;
    if (lstat(path, &a) != 0 || lstat(parent, &b) != 0) return 0;
    return a.st_dev != b.st_dev;
}

static void unmount_output(const char *path) {
    for (int i = 0; i < 50 && is_mountpoint(path); i++) {
        if (umount2(path, UMOUNT_NOFOLLOW) == 0) break;
        if (errno != EBUSY) break;
        usleep(20000);
    }
    if (is_mountpoint(path)) umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);
}

/* Copies from fd in to a new file `dst` (mode), at most max bytes (+1 to detect
 * more). Returns bytes copied, or -1 with errno kept (*failed_read: 1 when reading
 * in failed, 0 when creating or writing dst did). */
static long long copy_fd(int in, const char *dst, mode_t mode, unsigned long long max,
                         int *failed_read) {
    *failed_read = 0;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (out < 0) return -1;
    char buf[65536];
    unsigned long long total = 0;
    int e = 0;
    for (;;) {
        ssize_t k = read(in, buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            e = errno;
            *failed_read = 1;
            break;
        }
        if (k == 0) break;
        total += (unsigned long long)k;
        if (total > max) break;
        for (ssize_t off = 0; off < k && !e;) {
            ssize_t w = write(out, buf + off, (size_t)(k - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) e = w < 0 ? errno : EIO;
            else off += w;
        }
        if (e) break;
    }
    if (close(out) != 0 && !e) e = errno; /* a delayed write error (NFS, quota) */
    if (e) {
        errno = e;
        return -1;
    }
    return (long long)total;
}

/* The extension the staged file keeps, from the source name. */
static const char *image_ext(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t l = strlen(base);
    if (l > 7 && strcmp(base + l - 7, ".nii.gz") == 0) return base + l - 7;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot : "";
}

static int stage_file(const char *src, const char *dst, sa_error *err) {
    struct stat st;
    if (stat(src, &st) != 0 || !S_ISREG(st.st_mode))
        return sa_error_set(err, "%s: not a readable regular file", src);
    /* a hard link shares the inode: only when the container user can read it */
    if ((st.st_mode & S_IROTH) && link(src, dst) == 0) return 0;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return sa_error_set(err, "%s: %s", src, strerror(errno));
    int failed_read;
    long long r = copy_fd(in, dst, 0444, ULLONG_MAX - 1, &failed_read);
    int e = errno;
    close(in);
    errno = e;
    if (r < 0) return sa_error_set(err, "%s: cannot stage a copy: %s", dst, strerror(errno));
    return 0;
}

static int write_case_json(const char *path, const sa_run_request *req, const char **names,
                           const sa_image *ref, sa_error *err) {
    FILE *f = fopen(path, "w");
    if (!f) return sa_error_set(err, "%s: %s", path, strerror(errno));
    fprintf(f, "{\n  \"case_id\": \"%s\",\n  \"inputs\": {", req->case_id);
    for (size_t i = 0; i < req->n_inputs; i++)
        fprintf(f, "%s\n    \"%s\": \"%s\"", i ? "," : "", req->inputs[i].role, names[i]);
    fprintf(f, "\n  },\n  \"geometry\": {\n    \"size\": [%zu, %zu, %zu],\n", ref->size[0],
            ref->size[1], ref->size[2]);
    fprintf(f, "    \"spacing\": [%.17g, %.17g, %.17g],\n", ref->spacing[0], ref->spacing[1],
            ref->spacing[2]);
    fprintf(f, "    \"origin\": [%.17g, %.17g, %.17g],\n", ref->origin[0], ref->origin[1],
            ref->origin[2]);
    fprintf(f, "    \"direction\": [");
    for (int i = 0; i < 9; i++) fprintf(f, "%s%.17g", i ? ", " : "", ref->direction[i]);
    fprintf(f, "]\n  }\n}\n");
    if (fclose(f) != 0) return sa_error_set(err, "%s: write failed", path);
    chmod(path, 0444);
    return 0;
}

/* ---- the log ring ---- */

typedef struct ring {
    char *buf;
    size_t cap, start, len;
    unsigned long long total;
} ring;

static void ring_put(ring *r, const char *s, size_t n) {
    r->total += n;
    if (!r->buf || r->cap == 0) return;
    if (n >= r->cap) {
        memcpy(r->buf, s + n - r->cap, r->cap);
        r->start = 0;
        r->len = r->cap;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t pos = (r->start + r->len) % r->cap;
        r->buf[pos] = s[i];
        if (r->len < r->cap)
            r->len++;
        else
            r->start = (r->start + 1) % r->cap;
    }
}

static char *ring_take(ring *r, size_t *len) {
    char *o = malloc(r->len + 1);
    if (!o) return NULL;
    for (size_t i = 0; i < r->len; i++) o[i] = r->buf[(r->start + i) % r->cap];
    o[r->len] = '\0';
    *len = r->len;
    return o;
}

/* ---- peak memory ---- */

/* The container id the engine wrote to the cidfile (hex digits), once: cid stays
 * empty while there is none. */
static void read_cid(const char *cidfile, char *cid, size_t cid_size) {
    if (cid[0]) return;
    FILE *f = fopen(cidfile, "r");
    if (!f) return;
    if (!fgets(cid, (int)cid_size, f)) cid[0] = '\0';
    fclose(f);
    cid[strcspn(cid, " \n")] = '\0';
    for (char *p = cid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            cid[0] = '\0';
            return;
        }
}

static void sample_peak(sa_engine_kind kind, const char *cidfile, char *cid, size_t cid_size,
                        int64_t *peak) {
    read_cid(cidfile, cid, cid_size);
    if (!cid[0]) return;
    char paths[4][512];
    size_t n = sa_engine_peak_memory_paths(kind, cid, paths, 4);
    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f) continue;
        long long v = -1;
        if (fscanf(f, "%lld", &v) == 1 && v > *peak) *peak = v;
        fclose(f);
        return;
    }
}

/* The container still holds its cgroup (still running or not yet torn down),
 * judged from the cgroup files of sa_engine_peak_memory_paths: a stat each, no
 * engine client. An unknown id (no cidfile) counts as alive. */
static int container_alive(sa_engine_kind kind, const char *cidfile, char *cid,
                           size_t cid_size) {
    if (!cid[0]) {
        int64_t ignored = -1;
        sample_peak(kind, cidfile, cid, cid_size, &ignored);
    }
    if (!cid[0]) return access(cidfile, F_OK) == 0; /* created, id unreadable */
    char paths[4][512];
    size_t n = sa_engine_peak_memory_paths(kind, cid, paths, 4);
    for (size_t i = 0; i < n; i++) {
        char *slash = strrchr(paths[i], '/');
        if (!slash) continue;
        *slash = '\0';
        if (access(paths[i], F_OK) == 0) return 1;
    }
    return 0;
}

/* ---- reading /output ---- */

/* The errors of opening or reading a file in /output that are this host's (out
 * of descriptors or memory, a failing disk), not the file's. */
static int host_errno(int e) {
    return e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS || e == EIO || e == EINTR ||
           e == EAGAIN || e == ESTALE;
}

/* Classifies what the container left in /output: 0 with r classified, or -1 (err)
 * where SegArena's side failed (a host I/O error), never the contestant's. */
static int check_output(const sa_run_request *req, const sa_run_limits *lim, const char *work,
                        const char *outdir, int capped, const sa_image *ref,
                        const char *ref_path, sa_run_result *r, sa_error *err) {
    /* output/ is SegArena's own folder (the bound mount point, which the
     * container cannot replace): failing to open it is the host's failure */
    int dfd = open(outdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) return sa_error_set(err, "run: %s: %s", outdir, strerror(errno));
    /* size: the tmpfs is capped (full means the image tried to write more); a
     * plain folder is summed (top level only; anything below counts as too big) */
    unsigned long long used = 0;
    int too_big = 0;
    if (capped) {
        struct statvfs vs;
        if (fstatvfs(dfd, &vs) == 0) {
            used = (unsigned long long)(vs.f_blocks - vs.f_bfree) * vs.f_frsize;
            if ((unsigned long long)vs.f_bavail * vs.f_frsize < 65536 || vs.f_favail == 0)
                too_big = 1;
        }
    } else {
        int d2 = dup(dfd);
        DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            struct stat st;
            if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            if (S_ISDIR(st.st_mode)) too_big = 1; /* not walked: refuse rather than trust */
            used += (unsigned long long)st.st_size;
        }
        if (d)
            closedir(d);
        else if (d2 >= 0)
            close(d2);
        if (used > lim->output_bytes) too_big = 1;
    }
    if (too_big) {
        close(dfd);
        detail(r, "/output reached its cap of %llu bytes (%llu used)",
               (unsigned long long)lim->output_bytes, used);
        classify(r, SA_RUN_INVALID_OUTPUT, "too big");
        return 0;
    }
    static const char *names[] = {"segmentation.nii.gz", "segmentation.nii", "segmentation.mha",
                                  "segmentation.nrrd"};
    static const char *exts[] = {".nii.gz", ".nii", ".mha", ".nrrd"};
    int which = -1;
    struct stat st;
    for (int i = 0; i < 4; i++) {
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
            which = i;
            break;
        }
        if (host_errno(errno)) { /* not "absent": SegArena could not look */
            int e = errno;
            close(dfd);
            return sa_error_set(err, "run: %s/%s: cannot look at it: %s", outdir, names[i], strerror(e));
        }
    }
    if (which < 0) {
        close(dfd);
        detail(r, "no /output/segmentation.{nii.gz,nii,mha,nrrd}");
        classify(r, SA_RUN_NO_OUTPUT, NULL);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        close(dfd);
        detail(r, "/output/%s is not a regular file (%s)", names[which],
               S_ISLNK(st.st_mode) ? "a symbolic link" : "a folder or special file");
        classify(r, SA_RUN_INVALID_OUTPUT, "not a regular file");
        return 0;
    }
    if (st.st_size == 0) {
        close(dfd);
        detail(r, "/output/%s is empty", names[which]);
        classify(r, SA_RUN_INVALID_OUTPUT, "empty file");
        return 0;
    }
    if ((unsigned long long)st.st_size > lim->output_bytes) {
        close(dfd);
        detail(r, "/output/%s has %lld bytes (cap %llu)", names[which], (long long)st.st_size,
               (unsigned long long)lim->output_bytes);
        classify(r, SA_RUN_INVALID_OUTPUT, "too big");
        return 0;
    }
    int fd = openat(dfd, names[which], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int open_errno = errno;
    close(dfd);
    if (fd < 0 && host_errno(open_errno))
        return sa_error_set(err, "run: /output/%s: cannot open: %s", names[which],
                            strerror(open_errno));
    struct stat st2;
    if (fd >= 0 && fstat(fd, &st2) != 0) {
        int e = errno;
        close(fd);
        return sa_error_set(err, "run: /output/%s: cannot stat: %s", names[which], strerror(e));
    }
    if (fd < 0 || !S_ISREG(st2.st_mode) || st2.st_ino != st.st_ino) {
        if (fd >= 0) close(fd);
        detail(r, "/output/%s changed or could not be opened%s%s", names[which],
               fd < 0 ? ": " : "", fd < 0 ? strerror(open_errno) : "");
        classify(r, SA_RUN_INVALID_OUTPUT, "not a regular file");
        return 0;
    }
    char dst[PATH_MAX];
    if (snprintf(dst, sizeof dst, "%s/segmentation%s", work, exts[which]) >= (int)sizeof dst) {
        close(fd);
        detail(r, "work path too long");
        classify(r, SA_RUN_ENGINE_ERROR, "work path too long");
        return 0;
    }
    unlink(dst);
    /* a regular file that was checked above: failing to read it, or to write the
     * copy into the scratch folder (ENOSPC, EDQUOT, EIO), is the host's failure,
     * which the worker retries; only growing past the cap is the output's */
    int failed_read;
    long long n = copy_fd(fd, dst, 0644, lim->output_bytes, &failed_read);
    int copy_errno = errno;
    close(fd);
    if (n < 0) {
        unlink(dst);
        return sa_error_set(err, "run: /output/%s could not be copied out to %s: %s%s",
                            names[which], dst, failed_read ? "reading it: " : "",
                            strerror(copy_errno));
    }
    if ((unsigned long long)n > lim->output_bytes) {
        unlink(dst);
        detail(r, "/output/%s grew past the cap of %llu bytes while it was copied out",
               names[which], (unsigned long long)lim->output_bytes);
        classify(r, SA_RUN_INVALID_OUTPUT, "too big");
        return 0;
    }
    /* the header is checked against the reference before any voxel memory is
     * allocated: a small file declaring a huge grid costs the host nothing */
    sa_image img;
    sa_error ie;
    int read_rc = sa_image_read_like_isolated(dst, ref, ref_path, &img, &ie);
    if (read_rc != 0) {
        unlink(dst);
        detail(r, "%s", ie.msg);
        if (read_rc == SA_IMAGE_READ_NOT_RUN) /* no reader to run: the platform's fault */
            classify(r, SA_RUN_ENGINE_ERROR, "image reader not run");
        else
            classify(r, SA_RUN_INVALID_OUTPUT, read_rc == -2 ? "wrong geometry" : "not an image");
        return 0;
    }
    uint8_t *mask = NULL;
    if (sa_mask_from_image(&img, dst, -1, &mask, &ie) != 0) {
        sa_image_free(&img);
        unlink(dst);
        detail(r, "%s", ie.msg);
        classify(r, SA_RUN_INVALID_OUTPUT, "not integer");
        return 0;
    }
    free(mask);
    sa_image_free(&img);
    r->output_path = strdup(dst);
    if (!r->output_path) {
        unlink(dst);
        detail(r, "out of memory");
        classify(r, SA_RUN_ENGINE_ERROR, "out of memory");
        return 0;
    }
    (void)req;
    r->detail[0] = '\0';
    classify(r, SA_RUN_SUCCEEDED, NULL);
    return 0;
}

/* ---- running ---- */

/* The last non-empty line of a client's log, control characters as spaces, at
 * most 200 bytes (in a static buffer of the calling thread). */
static const char *last_line(const char *log, size_t len) {
    static _Thread_local char line[201];
    while (len && (log[len - 1] == '\n' || log[len - 1] == '\r' || log[len - 1] == ' ')) len--;
    size_t start = len;
    while (start && log[start - 1] != '\n') start--;
    size_t n = len - start < sizeof line - 1 ? len - start : sizeof line - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)log[start + i];
        line[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    line[n] = '\0';
    return n ? line : "(no message)";
}

/* The exit status of container id from the engine's died events since `since`
 * (Unix seconds), or -1 when there is none (the container never ran) or the
 * event log cannot be read. */
static int died_status(sa_engine_kind kind, const char *id, long long since, const char *cwd) {
    sa_argv a = {0};
    sa_error e;
    char *out = NULL;
    int st = -1, code = -1;
    /* until a second ahead: an event of the current second is included */
    if (sa_engine_died_argv(kind, id, since, (long long)time(NULL) + 1, &a) == 0 &&
        sa_engine_exec(&a, cwd, 30, &out, &st, &e) == 0 && st == 0 && out) {
        for (char *line = out; *line;) {
            char *end;
            long v = strtol(line, &end, 10);
            if (end != line && v >= 0 && v <= 255 && (*end == '\n' || *end == '\0')) code = (int)v;
            char *next = strchr(line, '\n');
            if (!next) break;
            line = next + 1;
        }
    }
    free(out);
    sa_argv_free(&a);
    return code;
}

/* 1 when the engine's client runs (`CLIENT --version` exits 0). A client that
 * exits 126/127 without a cidfile either could not run (its dynamic loader, a
 * script's interpreter: SegArena's failure) or made a container that was gone
 * before the cidfile was read (podman >= 4.4 deletes it with a --rm container,
 * e.g. an entrypoint the runtime cannot find: the contestant's). This tells
 * the two apart. */
static int client_runs(sa_engine_kind kind, const char *cwd) {
    sa_argv a = {0};
    sa_error e;
    int status = -1;
    if (sa_argv_push(&a, sa_engine_name(kind)) == 0 && sa_argv_push(&a, "--version") == 0)
        (void)sa_engine_exec(&a, cwd, 30, NULL, &status, &e);
    sa_argv_free(&a);
    return status == 0;
}

static void engine_cmd(sa_engine_kind kind, int (*build)(sa_engine_kind, const char *, sa_argv *),
                       const char *name, const char *cwd, double timeout, char **out,
                       int *status) {
    sa_argv a = {0};
    sa_error e;
    *status = -1;
    if (out) *out = NULL;
    if (build(kind, name, &a) == 0) sa_engine_exec(&a, cwd, timeout, out, status, &e);
    sa_argv_free(&a);
}

int sa_run_case(const sa_run_request *req, const sa_run_limits *lim_in, sa_run_result *r,
                sa_error *err) {
    memset(r, 0, sizeof *r);
    r->exit_code = -1;
    r->peak_memory_bytes = -1;
    sa_run_limits lim;
    if (lim_in)
        lim = *lim_in;
    else
        sa_run_limits_default(&lim);
    if (!req || !req->image || !req->scratch_dir || !req->inputs || req->n_inputs == 0)
        return sa_error_set(err, "run: incomplete request (image, scratch folder, inputs)");
    if (lim.wall_seconds <= 0 || lim.log_bytes == 0 || lim.output_bytes == 0 ||
        lim.tmp_bytes == 0)
        return sa_error_set(err, "run: limits out of range");
    char name[256];
    if (sa_container_name(req->run_id, req->case_id, name, sizeof name, err)) return -1;
    for (size_t i = 0; i < req->n_inputs; i++) {
        if (!req->inputs[i].role || !sa_dataset_id_valid(req->inputs[i].role) ||
            !req->inputs[i].path || !strcmp(req->inputs[i].role, "case"))
            return sa_error_set(err, "run: invalid input role '%s'",
                                req->inputs[i].role ? req->inputs[i].role : "");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(req->inputs[i].role, req->inputs[j].role))
                return sa_error_set(err, "run: input role '%s' given twice", req->inputs[i].role);
    }

    char work[2048], indir[2100], outdir[2100], cwd[2100], cidfile[2100];
    char real_scratch[PATH_MAX];
    if (!realpath(req->scratch_dir, real_scratch))
        return sa_error_set(err, "%s: %s", req->scratch_dir, strerror(errno));
    if (strlen(real_scratch) + strlen(req->run_id) + strlen(req->case_id) + 3 > sizeof work)
        return sa_error_set(err, "%s: path too long", req->scratch_dir);
    if (snprintf(work, sizeof work, "%s/%s-%s", real_scratch, req->run_id, req->case_id) >=
        (int)sizeof work)
        return sa_error_set(err, "%s: path too long", req->scratch_dir);
    snprintf(indir, sizeof indir, "%s/input", work);
    snprintf(outdir, sizeof outdir, "%s/output", work);
    snprintf(cwd, sizeof cwd, "%s/cwd", work);
    snprintf(cidfile, sizeof cidfile, "%s/cid", work);

    const char *ref_path = req->reference ? req->reference : req->inputs[0].path;
    sa_image ref;
    if (sa_image_read(ref_path, &ref, err) != 0) return -1;

    int rc = -1, mounted = 0;
    char **names = calloc(req->n_inputs, sizeof *names);
    pid_t pid = -1;
    int pipefd[2] = {-1, -1}, devnull = -1, report[2] = {-1, -1};
    ring log = {0};
    sa_argv argv = {0};

    /* a leftover work folder (a crash): unmount and clear it */
    unmount_output(outdir);
    remove_tree(work);
    if (!names) {
        sa_error_set(err, "run: out of memory");
        goto done;
    }
    if (mkdir(work, 0700) != 0 || mkdir(indir, 0755) != 0 || mkdir(outdir, 0700) != 0 ||
        mkdir(cwd, 0700) != 0) {
        sa_error_set(err, "%s: cannot create the work folder: %s", work, strerror(errno));
        goto done;
    }
    chmod(work, 0711); /* the engine (and runc as root) reach input/ and output/ */
    chmod(indir, 0755);

    /* /input */
    for (size_t i = 0; i < req->n_inputs; i++) {
        char dst[PATH_MAX];
        const char *ext = image_ext(req->inputs[i].path);
        if (strlen(ext) > 16) ext = "";
        for (const char *c = ext; *c; c++) /* it lands in case.json and a file name */
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                  *c == '.')) {
                ext = "";
                break;
            }
        names[i] = malloc(strlen(req->inputs[i].role) + strlen(ext) + 1);
        if (!names[i]) {
            sa_error_set(err, "run: out of memory");
            goto done;
        }
        sprintf(names[i], "%s%s", req->inputs[i].role, ext);
        snprintf(dst, sizeof dst, "%s/%s", indir, names[i]);
        if (stage_file(req->inputs[i].path, dst, err)) goto done;
    }
    {
        char cj[PATH_MAX];
        snprintf(cj, sizeof cj, "%s/case.json", indir);
        if (write_case_json(cj, req, (const char **)names, &ref, err)) goto done;
    }
    chmod(indir, 0555);

    /* /output: a capped tmpfs, or a plain folder checked afterwards */
    {
        char opts[128];
        snprintf(opts, sizeof opts, "size=%llu,mode=0777,nr_inodes=16384",
                 (unsigned long long)lim.output_bytes);
        if (mount("segarena-output", outdir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) ==
            0)
            mounted = 1;
        else
            chmod(outdir, 0777);
    }

    /* a GPU that is not there is the platform's problem */
    if (lim.gpu >= 0) {
        char why[256];
        int n = sa_gpu_available(req->engine, why, sizeof why);
        if (n <= lim.gpu) {
            detail(r, "%s", n == 0 ? why : "GPU index out of range");
            classify(r, SA_RUN_ENGINE_ERROR, "no GPU available");
            rc = 0;
            goto done;
        }
    }

    sa_engine_run_spec spec = {.name = name,
                               .image = req->image,
                               .run_id = req->run_id,
                               .case_id = req->case_id,
                               .input_dir = indir,
                               .output_dir = outdir,
                               .cidfile = cidfile,
                               .user = req->user};
    if (sa_engine_run_argv(req->engine, &spec, &lim, &argv, err)) goto done;
    /* --rm (the same flag in podman and docker): the engine removes the container
     * as its client exits, which saves a second client (`rm -f`) on every normal
     * run. Inserted after "run" here rather than in sa_engine_run_argv, whose argv
     * the unit tests pin. The explicit `rm -f <name>` stays on every path where the
     * engine may not have removed it: timeout (kill), client died from a signal,
     * status 125 (the engine's own failure), a container still holding its cgroup
     * after the client exited, and SegArena's own failure after the fork. */
    if (sa_argv_push(&argv, "--rm") != 0) {
        sa_error_set(err, "run: out of memory building the engine command");
        goto done;
    }
    {
        char *rm_flag = argv.v[argv.n - 1];
        for (size_t i = argv.n - 1; i > 2; i--) argv.v[i] = argv.v[i - 1];
        argv.v[2] = rm_flag; /* <engine> run --rm ... <image> */
    }

    log.cap = lim.log_bytes;
    log.buf = malloc(log.cap);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!log.buf || devnull < 0 || pipe2(pipefd, O_CLOEXEC) != 0 ||
        pipe2(report, O_CLOEXEC) != 0) {
        sa_error_set(err, "run: cannot set up the log pipe: %s", strerror(errno));
        goto done;
    }
    double t0 = now_s();
    long long wall_t0 = (long long)time(NULL);
    char *envp[128];
    sa_engine_environ(envp, sizeof envp / sizeof envp[0]);
    pid = fork();
    if (pid < 0) {
        sa_error_set(err, "run: fork: %s", strerror(errno));
        goto done;
    }
    /* The client gets a process group of its own (in the child and, against the
     * race, in the parent): a Ctrl-C of `segarena worker` goes to the terminal's
     * foreground group, and an attached `podman run` would proxy it to the
     * contestant's program, which may exit 130 (a contestant failure). The worker
     * then finishes its current cases, as documented; the wall-time kill, and for a
     * worker that died the sweep of leftover containers, stay what ends them. */
    if (pid == 0) {
        sa_child_reset_signals();
        setpgid(0, 0);
        if (chdir(cwd) != 0) sa_child_fail(report[1], SA_CHILD_CHDIR);
        if (dup2(devnull, 0) < 0 || dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
            sa_child_fail(report[1], SA_CHILD_SETUP);
        environ = envp; /* never this process's own: see sa_engine_environ */
        execvp(argv.v[0], argv.v);
        sa_child_fail(report[1], SA_CHILD_EXEC);
    }
    setpgid(pid, pid); /* EACCES once it has exec'd: the child did it */
    close(pipefd[1]);
    pipefd[1] = -1;
    close(report[1]);
    report[1] = -1;
    /* a client that could not be executed (missing, not executable) is the host's
     * failure: never the contestant's `exit_code 127` */
    {
        sa_error why;
        int started = sa_child_started(report[0], argv.v[0], cwd, &why);
        report[0] = -1;
        if (started != 0) {
            sa_error_set(err, "run: the %s client: %s", sa_engine_name(req->engine), why.msg);
            int s;
            while (waitpid(pid, &s, 0) < 0 && errno == EINTR) {
            }
            pid = -1; /* no container was made: nothing to remove */
            goto done;
        }
    }

    double deadline = t0 + lim.wall_seconds, client_deadline = 0, exited_at = 0;
    int killed = 0, status = 0, have_status = 0, client_signalled = 0;
    char cid[128] = "";
    double next_sample = t0 + 0.05;
    while (!have_status || pipefd[0] >= 0) {
        double t = now_s();
        if (!killed && !have_status && t >= deadline) {
            int s1, s2;
            killed = 1;
            engine_cmd(req->engine, sa_engine_kill_argv, name, cwd, 30, NULL, &s1);
            engine_cmd(req->engine, sa_engine_rm_argv, name, cwd, 30, NULL, &s2);
            client_deadline = now_s() + 30;
        }
        if (killed && !have_status && now_s() >= client_deadline) {
            kill(pid, SIGKILL); /* last resort: the client did not exit after kill + rm */
            client_signalled = 1;
            client_deadline = now_s() + 3600;
        }
        if (!have_status) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w < 0 && errno == ECHILD) { /* reaped elsewhere: never spin */
                status = 0x7f00; /* counted as a client that died */
                client_signalled = 1;
            }
            if (w == pid || (w < 0 && errno == ECHILD)) {
                have_status = 1;
                exited_at = now_s();
                r->wall_seconds = exited_at - t0;
            }
        }
        if (have_status && pipefd[0] >= 0 && now_s() - exited_at > 1.0) {
            close(pipefd[0]); /* something else holds the pipe open */
            pipefd[0] = -1;
        }
        if (t >= next_sample && !have_status) {
            sample_peak(req->engine, cidfile, cid, sizeof cid, &r->peak_memory_bytes);
            next_sample = t + 0.1;
        }
        if (pipefd[0] >= 0) {
            double wait = 0.1;
            if (!killed && !have_status && deadline - now_s() < wait) wait = deadline - now_s();
            if (wait < 0) wait = 0;
            struct pollfd pf = {.fd = pipefd[0], .events = POLLIN};
            int pr = poll(&pf, 1, (int)(wait * 1000) + 1);
            if (pr > 0) {
                char buf[65536];
                ssize_t k = read(pipefd[0], buf, sizeof buf);
                if (k > 0)
                    ring_put(&log, buf, (size_t)k);
                else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
                    close(pipefd[0]);
                    pipefd[0] = -1;
                }
            }
        } else if (!have_status) {
            usleep(20000); /* output closed, client still exiting: keep the deadline */
        }
    }
    pid = -1;
    /* the engine writes the cidfile as it creates the container: without one, no
     * container of the contestant's ever existed */
    read_cid(cidfile, cid, sizeof cid);
    int created = cid[0] || access(cidfile, F_OK) == 0;

    /* Status 125 is also the engine's own failure (missing image, bad flag, runtime
     * error). `run --rm` removed the container with the client, so its own status
     * comes from the engine's event log: a died event with the container's status
     * means it ran (a program may exit 125 itself); none means it never did. */
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int oom_flag = 0, container_code = -1;
    if (code == 125 && !killed) {
        read_cid(cidfile, cid, sizeof cid);
        /* the died event is written by the engine's clean-up after the client has
         * exited, and under load it may come a moment later: looked for again for up
         * to 3 s (only here, where the container was created and status is 125) */
        for (int tries = 0; cid[0] && container_code < 0 && tries < 15; tries++) {
            if (tries) usleep(200000);
            container_code = died_status(req->engine, cid, wall_t0 - 1, cwd);
        }
    }
    {
        char oomfile[PATH_MAX];
        snprintf(oomfile, sizeof oomfile, "%s/oom", cwd);
        if (access(oomfile, F_OK) == 0) oom_flag = 1;
    }
    /* removal: --rm did it on a normal exit of the client; by name wherever the
     * engine may have left the container behind */
    if (killed || client_signalled || !WIFEXITED(status) || code == 125 ||
        container_alive(req->engine, cidfile, cid, sizeof cid)) {
        int s_rm;
        engine_cmd(req->engine, sa_engine_rm_argv, name, cwd, 60, NULL, &s_rm);
    }
    unlink(cidfile);

    r->log = ring_take(&log, &r->log_len);
    r->log_truncated = log.total > log.cap;

    if (killed) {
        detail(r, "ran past %g s; killed by SegArena", lim.wall_seconds);
        classify(r, SA_RUN_TIMEOUT, NULL);
    } else if (client_signalled || !WIFEXITED(status)) {
        detail(r, "the %s client died from a signal", sa_engine_name(req->engine));
        classify(r, SA_RUN_ENGINE_ERROR, "engine client died");
    } else if (code == 125 && container_code != 125) {
        detail(r, "%s run failed (status 125); see the log", sa_engine_name(req->engine));
        classify(r, SA_RUN_ENGINE_ERROR, "engine could not run the container");
    } else if ((code == 126 || code == 127) && !created && !client_runs(req->engine, cwd)) {
        /* the client was exec'd but could not run (its dynamic loader, a script's
         * interpreter): no container was made, so the status is not the
         * contestant's; SegArena's failure, which the worker retries */
        sa_error_set(err, "run: the %s client could not run (status %d, no container created): %s",
                     sa_engine_name(req->engine), code, last_line(r->log, r->log_len));
        goto done;
    } else if (code == 137 || oom_flag) {
        r->exit_code = code;
        detail(r, "killed by the kernel (status %d) at the %llu-byte memory limit", code,
               (unsigned long long)lim.memory_bytes);
        classify(r, SA_RUN_OUT_OF_MEMORY, NULL);
    } else if (code != 0) {
        r->exit_code = code;
        classify(r, SA_RUN_EXIT_CODE, NULL);
    } else {
        r->exit_code = 0;
        if (check_output(req, &lim, work, outdir, mounted, &ref, ref_path, r, err)) goto done;
    }
    rc = 0;

done:
    if (pid > 0) {
        /* only reached on SegArena's own failure after the fork */
        int s;
        engine_cmd(req->engine, sa_engine_rm_argv, name, cwd, 60, NULL, &s);
        waitpid(pid, &s, 0);
    }
    if (pipefd[0] >= 0) close(pipefd[0]);
    if (pipefd[1] >= 0) close(pipefd[1]);
    if (report[0] >= 0) close(report[0]);
    if (report[1] >= 0) close(report[1]);
    if (devnull >= 0) close(devnull);
    if (mounted) unmount_output(outdir);
    free(log.buf);
    sa_argv_free(&argv);
    if (names)
        for (size_t i = 0; i < req->n_inputs; i++) free(names[i]);
    free(names);
    sa_image_free(&ref);
    chmod(indir, 0755);
    remove_tree(indir);
    if (!is_mountpoint(outdir)) remove_tree(outdir);
    remove_tree(cwd);
    unlink(cidfile);
    if (rc != 0 || !r->output_path) {
        if (rc != 0) sa_run_result_free(r);
        remove_tree(work);
    }
    return rc;
}

void sa_run_case_cleanup(const char *scratch_dir, const char *run_id, const char *case_id) {
    if (!scratch_dir || !run_id || !case_id || !sa_dataset_id_valid(run_id) ||
        !sa_dataset_id_valid(case_id))
        return;
    char work[PATH_MAX], outdir[PATH_MAX + 8];
    if (snprintf(work, sizeof work, "%s/%s-%s", scratch_dir, run_id, case_id) >= (int)sizeof work)
        return;
    snprintf(outdir, sizeof outdir, "%s/output", work);
    unmount_output(outdir);
    char indir[PATH_MAX + 8];
    snprintf(indir, sizeof indir, "%s/input", work);
    chmod(indir, 0755);
    remove_tree(work);
}
