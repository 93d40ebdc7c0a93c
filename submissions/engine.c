/*
 * engine.c: the only place that knows podman from docker. Builds argv arrays
 * (never a shell command line) for run, kill, rm, ps and inspect; sweeps the
 * caller's own leftover containers (by name prefix); detects GPUs and hands them out.
 */
#define _GNU_SOURCE /* pipe2 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox_internal.h"

extern char **environ;

size_t sa_engine_environ(char **out, size_t cap) {
    static const char *const names[] = {"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ", "LANG", "LANGUAGE",
                                        "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME",
                                        "XDG_CONFIG_DIRS", "XDG_DATA_DIRS", "DBUS_SESSION_BUS_ADDRESS",
                                        "CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINER_SSHKEY",
                                        "REGISTRY_AUTH_FILE", "STORAGE_DRIVER", "STORAGE_OPTS", "DOCKER_HOST",
                                        "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY",
                                        "DOCKER_API_VERSION", NULL};
    static const char *const prefixes[] = {"LC_", "CONTAINERS_", "_CONTAINERS_", NULL};
    size_t n = 0;
    if (!cap) return 0;
    for (char **e = environ; e && *e && n + 1 < cap; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e) continue;
        size_t len = (size_t)(eq - *e);
        int keep = 0;
        for (size_t i = 0; !keep && names[i]; i++) keep = strlen(names[i]) == len && strncmp(*e, names[i], len) == 0;
        for (size_t i = 0; !keep && prefixes[i]; i++) keep = strncmp(*e, prefixes[i], strlen(prefixes[i])) == 0;
        if (keep) out[n++] = *e;
    }
    out[n] = NULL;
    return n;
}

const char *sa_engine_name(sa_engine_kind kind) {
    return kind == SA_ENGINE_DOCKER ? "docker" : "podman";
}

int sa_engine_parse(const char *name, sa_engine_kind *out, sa_error *err) {
    if (name && strcmp(name, "podman") == 0) {
        *out = SA_ENGINE_PODMAN;
        return 0;
    }
    if (name && strcmp(name, "docker") == 0) {
        *out = SA_ENGINE_DOCKER;
        return 0;
    }
    return sa_error_set(err, "engine: unknown engine '%s' (podman or docker)", name ? name : "");
}

/* ---- argv ---- */

int sa_argv_push(sa_argv *a, const char *s) {
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->v, cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    char *d = strdup(s);
    if (!d) return -1;
    a->v[a->n++] = d;
    a->v[a->n] = NULL;
    return 0;
}

int sa_argv_pushf(sa_argv *a, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) return -1;
    return sa_argv_push(a, buf);
}

void sa_argv_free(sa_argv *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof *a);
}

int sa_container_name(const char *run_id, const char *case_id, char *buf, size_t size,
                      sa_error *err) {
    if (!run_id || !sa_dataset_id_valid(run_id))
        return sa_error_set(err, "run: invalid run id '%s'", run_id ? run_id : "");
    if (!case_id || !sa_dataset_id_valid(case_id))
        return sa_error_set(err, "run: invalid case id '%s'", case_id ? case_id : "");
    int n = snprintf(buf, size, "segarena-%s-%s", run_id, case_id);
    if (n < 0 || (size_t)n >= size) return sa_error_set(err, "run: container name too long");
    return 0;
}

static int path_ok(const char *p) {
    return p && p[0] == '/' && !strchr(p, ',') && !strchr(p, '\n') && !strchr(p, '=');
}

int sa_engine_gpu_argv(sa_engine_kind kind, int gpu, sa_argv *out) {
    if (gpu < 0) return 0;
    if (kind == SA_ENGINE_DOCKER) {
        if (sa_argv_push(out, "--gpus") || sa_argv_pushf(out, "device=%d", gpu)) return -1;
    } else {
        if (sa_argv_push(out, "--device") || sa_argv_pushf(out, "nvidia.com/gpu=%d", gpu))
            return -1;
    }
    return 0;
}

int sa_engine_run_argv(sa_engine_kind kind, const sa_engine_run_spec *s,
                       const sa_run_limits *lim, sa_argv *a, sa_error *err) {
    if (!s->name || !s->image || !s->image[0] || s->image[0] == '-')
        return sa_error_set(err, "run: no image or container name");
    if (!path_ok(s->input_dir) || !path_ok(s->output_dir))
        return sa_error_set(err, "run: staging paths must be absolute, without ',' or '='");
    if (s->cidfile && !path_ok(s->cidfile))
        return sa_error_set(err, "run: bad cidfile path");
    if (lim->memory_bytes < 6u * 1024 * 1024 || lim->cpus <= 0 || lim->pids < 1)
        return sa_error_set(err, "run: limits out of range (memory >= 6 MiB, cpus > 0, pids >= 1)");
    if (s->user && (!s->user[0] || s->user[0] == '-'))
        return sa_error_set(err, "run: bad user");
    int e = 0;
    e |= sa_argv_push(a, sa_engine_name(kind));
    e |= sa_argv_push(a, "run");
    e |= sa_argv_push(a, "--pull=never");
    /* a signal to the engine client (a worker's Ctrl-C, systemd's stop to every
     * process of the service) is not passed on to the contestant's program */
    e |= sa_argv_push(a, "--sig-proxy=false");
    e |= sa_argv_push(a, "--name");
    e |= sa_argv_push(a, s->name);
    e |= sa_argv_push(a, "--label");
    e |= sa_argv_push(a, "segarena=1");
    e |= sa_argv_push(a, "--label");
    e |= sa_argv_pushf(a, "segarena.run=%s", s->run_id);
    e |= sa_argv_push(a, "--label");
    e |= sa_argv_pushf(a, "segarena.case=%s", s->case_id);
    e |= sa_argv_push(a, "--network");
    e |= sa_argv_push(a, "none");
    e |= sa_argv_push(a, "--read-only");
    if (kind == SA_ENGINE_PODMAN) {
        /* podman's --read-only also mounts tmpfs on /run and /var/tmp unless told not to */
        e |= sa_argv_push(a, "--read-only-tmpfs=false");
        /* an image VOLUME would be a writable, uncapped volume on the host's disk
         * (intake refuses them too; docker has no such flag) */
        e |= sa_argv_push(a, "--image-volume=ignore");
    }
    e |= sa_argv_push(a, "--tmpfs");
    e |= sa_argv_pushf(a, "/tmp:rw,nosuid,nodev,size=%llu,mode=1777",
                       (unsigned long long)lim->tmp_bytes);
    e |= sa_argv_push(a, "--cap-drop");
    e |= sa_argv_push(a, "all");
    e |= sa_argv_push(a, "--security-opt");
    e |= sa_argv_push(a, "no-new-privileges");
    e |= sa_argv_push(a, "--memory");
    e |= sa_argv_pushf(a, "%llub", (unsigned long long)lim->memory_bytes);
    e |= sa_argv_push(a, "--memory-swap");
    e |= sa_argv_pushf(a, "%llub", (unsigned long long)lim->memory_bytes);
    e |= sa_argv_push(a, "--cpus");
    e |= sa_argv_pushf(a, "%g", lim->cpus);
    e |= sa_argv_push(a, "--pids-limit");
    e |= sa_argv_pushf(a, "%ld", lim->pids);
    e |= sa_argv_push(a, "--env");
    e |= sa_argv_push(a, "HOME=/tmp");
    /* SegArena captures stdout/stderr through the client's pipes; the engine keeps none */
    e |= sa_argv_push(a, "--log-driver");
    e |= sa_argv_push(a, "none");
    e |= sa_argv_push(a, "--mount");
    e |= sa_argv_pushf(a, "type=bind,source=%s,target=/input,readonly", s->input_dir);
    e |= sa_argv_push(a, "--mount");
    e |= sa_argv_pushf(a, "type=bind,source=%s,target=/output", s->output_dir);
    if (s->cidfile) {
        e |= sa_argv_push(a, "--cidfile");
        e |= sa_argv_push(a, s->cidfile);
    }
    if (s->user) {
        e |= sa_argv_push(a, "--user");
        e |= sa_argv_push(a, s->user);
    }
    if (lim->gpu >= 0) e |= sa_engine_gpu_argv(kind, lim->gpu, a);
    e |= sa_argv_push(a, s->image);
    if (e) return sa_error_set(err, "run: out of memory building the engine command");
    return 0;
}

static int push_all(sa_argv *a, ...) {
    va_list ap;
    va_start(ap, a);
    int e = 0;
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        if (!e) e = sa_argv_push(a, s);
    va_end(ap);
    return e;
}

int sa_engine_kill_argv(sa_engine_kind kind, const char *name, sa_argv *a) {
    /* both default to SIGKILL */
    return push_all(a, sa_engine_name(kind), "kill", name, (const char *)NULL);
}

/* "rm -f -v": -v also removes the container's anonymous volumes, which a
 * forced removal racing the client's own clean-up would otherwise leave. */
static int push_rm(sa_engine_kind kind, sa_argv *a) {
    return push_all(a, sa_engine_name(kind), "rm", "-f", "-v", (const char *)NULL);
}

int sa_engine_rm_argv(sa_engine_kind kind, const char *name, sa_argv *a) {
    return push_rm(kind, a) || sa_argv_push(a, name);
}

int sa_engine_rmi_argv(sa_engine_kind kind, const char *image, sa_argv *a) {
    if (!image || !image[0] || image[0] == '-') return -1;
    return push_all(a, sa_engine_name(kind), "rmi", image, (const char *)NULL);
}

int sa_engine_remove_image(sa_engine_kind kind, const char *image, sa_error *err) {
    sa_argv a = {0};
    int st;
    if (sa_engine_rmi_argv(kind, image, &a)) {
        sa_argv_free(&a);
        return sa_error_set(err, "engine: cannot remove image '%s' (bad name)", image ? image : "");
    }
    int r = sa_engine_exec(&a, "/", 120, NULL, &st, err);
    sa_argv_free(&a);
    if (r) return -1;
    if (st != 0)
        return sa_error_set(err, "engine: '%s rmi %s' failed (status %d)", sa_engine_name(kind),
                            image, st);
    return 0;
}

int sa_engine_ps_argv(sa_engine_kind kind, sa_argv *a) {
    return push_all(a, sa_engine_name(kind), "ps", "-a", "--filter", "label=segarena=1", "--format",
                    "{{.Names}}", (const char *)NULL);
}

int sa_engine_died_argv(sa_engine_kind kind, const char *id, long long since, long long until,
                        sa_argv *a) {
    if (!id || !id[0] || id[0] == '-') return -1;
    char s[32], u[32], filter[160];
    snprintf(s, sizeof s, "%lld", since);
    snprintf(u, sizeof u, "%lld", until);
    if (snprintf(filter, sizeof filter, "container=%s", id) >= (int)sizeof filter) return -1;
    int docker = kind == SA_ENGINE_DOCKER;
    return push_all(a, sa_engine_name(kind), "events", "--since", s, "--until", u, "--filter", filter,
                    "--filter", docker ? "event=die" : "event=died", "--format",
                    docker ? "{{.Actor.Attributes.exitCode}}" : "{{.ContainerExitCode}}",
                    (const char *)NULL);
}

size_t sa_engine_peak_memory_paths(sa_engine_kind kind, const char *id, char paths[][512],
                                   size_t max) {
    size_t n = 0;
    const char *v1[2], *v2[2];
    if (kind == SA_ENGINE_DOCKER) {
        v1[0] = "/sys/fs/cgroup/memory/docker/%s/memory.max_usage_in_bytes";
        v1[1] = "/sys/fs/cgroup/memory/system.slice/docker-%s.scope/memory.max_usage_in_bytes";
        v2[0] = "/sys/fs/cgroup/docker/%s/memory.peak";
        v2[1] = "/sys/fs/cgroup/system.slice/docker-%s.scope/memory.peak";
    } else {
        v1[0] = "/sys/fs/cgroup/memory/libpod_parent/libpod-%s/memory.max_usage_in_bytes";
        v1[1] = "/sys/fs/cgroup/memory/machine.slice/libpod-%s.scope/memory.max_usage_in_bytes";
        v2[0] = "/sys/fs/cgroup/libpod_parent/libpod-%s/memory.peak";
        v2[1] = "/sys/fs/cgroup/machine.slice/libpod-%s.scope/memory.peak";
    }
    const char *all[4] = {v1[0], v1[1], v2[0], v2[1]};
    for (size_t i = 0; i < 4 && n < max; i++) {
        int k = snprintf(paths[n], 512, all[i], id);
        if (k > 0 && k < 512) n++;
    }
    return n;
}

/* ---- running the client ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sa_child_reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
}

void sa_child_fail(int fd, int step) {
    int report[2] = {step, errno};
    ssize_t k;
    do
        k = write(fd, report, sizeof report);
    while (k < 0 && errno == EINTR);
    _exit(127);
}

int sa_child_started(int fd, const char *prog, const char *cwd, sa_error *err) {
    int report[2];
    size_t got = 0;
    while (got < sizeof report) {
        ssize_t k = read(fd, (char *)report + got, sizeof report - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    if (got == 0) return 0; /* closed by the exec */
    if (got != sizeof report)
        return sa_error_set(err, "cannot run '%s': its start-up report was cut short", prog);
    if (report[0] == SA_CHILD_CHDIR)
        return sa_error_set(err, "cannot run '%s': cannot change to %s: %s", prog,
                            cwd ? cwd : "its folder", strerror(report[1]));
    if (report[0] == SA_CHILD_SETUP)
        return sa_error_set(err, "cannot run '%s': cannot set up its descriptors: %s", prog,
                            strerror(report[1]));
    return sa_error_set(err, "cannot run '%s': %s", prog, strerror(report[1]));
}

int sa_engine_exec(const sa_argv *argv, const char *cwd, double timeout_s, char **out,
                   int *status, sa_error *err) {
    *status = -1;
    if (out) *out = NULL;
    int p[2], rep[2];
    if (pipe2(p, O_CLOEXEC) != 0) return sa_error_set(err, "engine: pipe: %s", strerror(errno));
    if (pipe2(rep, O_CLOEXEC) != 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return sa_error_set(err, "engine: pipe: %s", strerror(e));
    }
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        close(rep[0]);
        close(rep[1]);
        return sa_error_set(err, "engine: /dev/null: %s", strerror(e));
    }
    char *envp[128];
    sa_engine_environ(envp, sizeof envp / sizeof envp[0]);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        close(rep[0]);
        close(rep[1]);
        close(devnull);
        return sa_error_set(err, "engine: fork: %s", strerror(e));
    }
    if (pid == 0) {
        sa_child_reset_signals();
        if (cwd && chdir(cwd) != 0) sa_child_fail(rep[1], SA_CHILD_CHDIR);
        if (dup2(devnull, 0) < 0 || dup2(p[1], 1) < 0 || dup2(devnull, 2) < 0)
            sa_child_fail(rep[1], SA_CHILD_SETUP);
        environ = envp;
        execvp(argv->v[0], argv->v);
        sa_child_fail(rep[1], SA_CHILD_EXEC);
    }
    close(p[1]);
    close(rep[1]);
    close(devnull);
    /* a client that never ran is SegArena's failure (-1), never a status 127 */
    if (sa_child_started(rep[0], argv->v[0], cwd, err) != 0) {
        close(p[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return -1;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    double deadline = now_s() + timeout_s;
    int killed = 0;
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int r = poll(&pf, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        char tmp[4096];
        ssize_t k = read(p[0], tmp, sizeof tmp);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        if (buf && len < cap) {
            size_t take = (size_t)k < cap - len ? (size_t)k : cap - len;
            memcpy(buf + len, tmp, take);
            len += take;
        }
    }
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!killed && WIFEXITED(st)) *status = WEXITSTATUS(st);
    if (buf) buf[len] = '\0';
    if (out)
        *out = buf;
    else
        free(buf);
    return 0;
}

int sa_engine_sweep(sa_engine_kind kind, const char *name_prefix, sa_error *err) {
    size_t plen = name_prefix ? strlen(name_prefix) : 0;
    if (plen <= strlen("segarena-") || strncmp(name_prefix, "segarena-", strlen("segarena-")))
        return sa_error_set(err, "engine sweep: name prefix '%.64s' must be 'segarena-' and the caller's "
                            "own run id (a shorter one would remove other runs' containers)",
                            name_prefix ? name_prefix : "");
    char **names = NULL;
    size_t n = 0;
    if (sa_engine_list_containers(kind, &names, &n, err)) return -1;
    sa_argv rm = {0};
    int e = push_rm(kind, &rm);
    size_t base = rm.n;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(names[i], name_prefix, plen)) e |= sa_argv_push(&rm, names[i]);
        free(names[i]);
    }
    free(names);
    int r = 0, st;
    if (e) {
        sa_argv_free(&rm);
        return sa_error_set(err, "engine sweep: out of memory");
    }
    if (rm.n > base) {
        r = sa_engine_exec(&rm, "/", 120, NULL, &st, err);
        if (r == 0 && st != 0)
            r = sa_error_set(err, "engine sweep: '%s rm -f -v' failed (status %d)",
                             sa_engine_name(kind), st);
    }
    sa_argv_free(&rm);
    return r;
}

/* ---- GPUs ---- */

static int cdi_has_nvidia(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (!(l > 5 && (strcmp(de->d_name + l - 5, ".yaml") == 0 ||
                        strcmp(de->d_name + l - 5, ".json") == 0)))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        char line[1024];
        while (!found && fgets(line, sizeof line, f))
            if (strstr(line, "nvidia.com/gpu")) found = 1;
        fclose(f);
    }
    closedir(d);
    return found;
}

int sa_gpu_available(sa_engine_kind kind, char *why, size_t why_size) {
    int count = 0;
    char p[64];
    for (int i = 0; i < 64; i++) {
        snprintf(p, sizeof p, "/dev/nvidia%d", i);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISCHR(st.st_mode)) count = i + 1;
    }
    if (count == 0) {
        if (why) snprintf(why, why_size, "no NVIDIA GPU on this host (no /dev/nvidiaN)");
        return 0;
    }
    if (kind == SA_ENGINE_PODMAN && !cdi_has_nvidia("/etc/cdi") && !cdi_has_nvidia("/var/run/cdi")) {
        if (why)
            snprintf(why, why_size,
                     "NVIDIA GPUs present but no CDI spec for nvidia.com/gpu in /etc/cdi or "
                     "/var/run/cdi (nvidia-ctk cdi generate)");
        return 0;
    }
    if (why && why_size) why[0] = '\0';
    return count;
}

/* A GPU is a host's, not a process's: each is taken with flock(2) on a lock file of
 * its own (SEGARENA_GPU_LOCK_DIR, else /run/lock, else /tmp), so that several
 * `segarena worker` processes, or `serve` beside a worker, never hand one GPU to two
 * containers. A lock on an open file description also excludes the process's other
 * threads, and the kernel drops it when a process dies. */
static pthread_mutex_t gpu_lock = PTHREAD_MUTEX_INITIALIZER;
static int gpu_fd[64]; /* the lock's descriptor + 1; 0: not held by this process */

/* The same folder for every process of the host, whoever runs it. */
static const char *gpu_lock_dir(void) {
    const char *dir = getenv("SEGARENA_GPU_LOCK_DIR");
    if (dir && *dir) return dir;
    struct stat st;
    return stat("/run/lock", &st) == 0 && S_ISDIR(st.st_mode) ? "/run/lock" : "/tmp";
}

/* Opens GPU i's lock file: an existing one as it is (in a sticky folder, opening
 * another user's file with O_CREAT is refused under fs.protected_regular), else a
 * new one, readable and writable by every SegArena process. -1 when impossible. */
static int open_gpu_lock(int i) {
    char path[4200];
    snprintf(path, sizeof path, "%s/segarena-gpu-%d.lock", gpu_lock_dir(), i);
    for (int tries = 0; tries < 3; tries++) {
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0 || errno != ENOENT) return fd;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (fd >= 0) {
            (void)fchmod(fd, 0666); /* whatever the umask */
            return fd;
        }
        if (errno != EEXIST) return -1; /* else another process made it: open that one */
    }
    return -1;
}

static int claim_range(int first, int end) {
    int got = -1, unusable = 0;
    pthread_mutex_lock(&gpu_lock);
    for (int i = first; i < end && i < 64 && got < 0; i++) {
        if (gpu_fd[i]) continue; /* this process has it */
        int fd = open_gpu_lock(i);
        if (fd < 0) {
            unusable = 1; /* not "busy": a job waiting for it would wait forever */
            continue;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            gpu_fd[i] = fd + 1;
            got = i;
        } else {
            close(fd); /* another process has it */
        }
    }
    pthread_mutex_unlock(&gpu_lock);
    return got >= 0 ? got : unusable ? -2 : -1;
}

int sa_gpu_claim(int n_gpus) { return claim_range(0, n_gpus); }

int sa_gpu_claim_index(int gpu) { return gpu < 0 || gpu >= 64 ? -2 : claim_range(gpu, gpu + 1); }

int sa_gpu_cuda_device0_index(void) {
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    if (!v) return 0;
    if (!isdigit((unsigned char)*v)) return -1; /* a UUID, a MIG id, "" (no GPU), ... */
    char *end;
    long i = strtol(v, &end, 10);
    return (*end == '\0' || *end == ',') && i < 64 ? (int)i : -1;
}

void sa_gpu_order_by_bus(void) { setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 0); }

void sa_gpu_release(int gpu) {
    if (gpu < 0 || gpu >= 64) return;
    pthread_mutex_lock(&gpu_lock);
    if (gpu_fd[gpu]) close(gpu_fd[gpu] - 1); /* the lock goes with the descriptor */
    gpu_fd[gpu] = 0;
    pthread_mutex_unlock(&gpu_lock);
}

/* ---- containers by name (crash recovery) ---- */

int sa_engine_remove_container(sa_engine_kind kind, const char *name, sa_error *err) {
    if (!name || !name[0] || name[0] == '-')
        return sa_error_set(err, "engine: invalid container name '%s'", name ? name : "");
    sa_argv a = {0};
    int st;
    if (sa_engine_rm_argv(kind, name, &a)) {
        sa_argv_free(&a);
        return sa_error_set(err, "engine: out of memory");
    }
    int r = sa_engine_exec(&a, "/", 120, NULL, &st, err);
    sa_argv_free(&a);
    if (r) return -1;
    /* podman and docker exit 0 for `rm -f` of an absent container (podman: 0 with
     * --ignore semantics under -f since 4.x; docker: 0); anything else is a failure */
    if (st != 0)
        return sa_error_set(err, "engine: '%s rm -f %s' failed (status %d)", sa_engine_name(kind),
                            name, st);
    return 0;
}

int sa_engine_list_containers(sa_engine_kind kind, char ***names, size_t *n, sa_error *err) {
    *names = NULL;
    *n = 0;
    sa_argv a = {0};
    char *out = NULL;
    int st;
    if (sa_engine_ps_argv(kind, &a)) {
        sa_argv_free(&a);
        return sa_error_set(err, "engine: out of memory");
    }
    int r = sa_engine_exec(&a, "/", 60, &out, &st, err);
    sa_argv_free(&a);
    if (r) return -1;
    if (st != 0) {
        free(out);
        return sa_error_set(err, "engine: '%s ps' failed (status %d)", sa_engine_name(kind), st);
    }
    char *save = NULL;
    for (char *t = strtok_r(out ? out : (char *)"", " \n\t", &save); t;
         t = strtok_r(NULL, " \n\t", &save)) {
        char **grown = realloc(*names, (*n + 1) * sizeof **names);
        char *copy = strdup(t);
        if (!grown || !copy) {
            free(copy);
            if (grown) *names = grown;
            for (size_t i = 0; i < *n; i++) free((*names)[i]);
            free(*names);
            *names = NULL;
            *n = 0;
            free(out);
            return sa_error_set(err, "engine: out of memory");
        }
        *names = grown;
        (*names)[(*n)++] = copy;
    }
    free(out);
    return 0;
}
