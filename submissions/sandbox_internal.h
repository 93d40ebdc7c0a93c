/*
 * sandbox_internal.h: what engine.c and sandbox.c share (and the unit tests
 * see): argv arrays for the engine's client and the one helper that runs it.
 * engine.c is the only file that knows podman from docker.
 */
#ifndef SEGARENA_SANDBOX_INTERNAL_H
#define SEGARENA_SANDBOX_INTERNAL_H

#include <stddef.h>

#include "submissions.h"

/* A NULL-terminated argv under construction (v[n] == NULL). */
typedef struct sa_argv {
    char **v;
    size_t n, cap;
} sa_argv;

int sa_argv_push(sa_argv *a, const char *s);
int sa_argv_pushf(sa_argv *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sa_argv_free(sa_argv *a);

/* "segarena-<run>-<case>"; both ids must pass sa_dataset_id_valid. */
int sa_container_name(const char *run_id, const char *case_id, char *buf, size_t size,
                      sa_error *err);

/* What `<engine> run` needs besides the limits. */
typedef struct sa_engine_run_spec {
    const char *name;       /* container name */
    const char *image;
    const char *run_id, *case_id;
    const char *input_dir;  /* host folder, bound read-only at /input */
    const char *output_dir; /* host folder, bound read-write at /output */
    const char *cidfile;    /* NULL: none */
    const char *user;       /* NULL: the image's USER */
} sa_engine_run_spec;

/* The full argv of `<engine> run ...` with the contract's hardening. Host paths
 * must not hold ',' (they go into --mount). Returns 0 or -1. */
int sa_engine_run_argv(sa_engine_kind kind, const sa_engine_run_spec *spec,
                       const sa_run_limits *lim, sa_argv *out, sa_error *err);
/* `<engine> kill <name>`, `<engine> rm -f <name>`. */
int sa_engine_kill_argv(sa_engine_kind kind, const char *name, sa_argv *out);
int sa_engine_rm_argv(sa_engine_kind kind, const char *name, sa_argv *out);
/* `<engine> rmi <image>` (image must not start with '-'). */
int sa_engine_rmi_argv(sa_engine_kind kind, const char *image, sa_argv *out);
/* `<engine> ps -a --filter label=segarena=1 --format {{.Names}}`: the names of
 * SegArena's containers, one a line. */
int sa_engine_ps_argv(sa_engine_kind kind, sa_argv *out);
/* The container's own exit status from the engine's event log, for a container
 * already removed (`run --rm`): `<engine> events --since S --until U --filter
 * container=<id> --filter event=died` (docker: `die`), printing the exit code of
 * each such event (none: the container never ran). Times are Unix seconds. */
int sa_engine_died_argv(sa_engine_kind kind, const char *id, long long since, long long until,
                        sa_argv *out);
/* The GPU flags: podman `--device nvidia.com/gpu=N`, docker `--gpus device=N`. */
int sa_engine_gpu_argv(sa_engine_kind kind, int gpu, sa_argv *out);

/* Candidate cgroup files holding the container's peak memory (cgroup v1
 * memory.max_usage_in_bytes, v2 memory.peak), for the engine's cgroupfs layout.
 * Writes up to max paths into paths[i] (each size bytes); returns how many. */
size_t sa_engine_peak_memory_paths(sa_engine_kind kind, const char *container_id,
                                   char paths[][512], size_t max);

/* A forked child's exec failure, told to the parent over a close-on-exec pipe
 * (an exit status cannot: 127 is also what the program itself may return).
 * The child calls sa_child_fail(fd, step) where a step before exec, or the exec,
 * fails: it writes the step and errno, then _exit(127) (async-signal-safe). The
 * parent closes its copy of the write end, then sa_child_started(fd, ...): the
 * pipe closing with nothing written means the exec happened; 0, or -1 with
 * "cannot run '<prog>': <why>" in err. It closes fd. */
#define SA_CHILD_EXEC 0
#define SA_CHILD_CHDIR 1
#define SA_CHILD_SETUP 2
void sa_child_fail(int fd, int step)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;
int sa_child_started(int fd, const char *prog, const char *cwd, sa_error *err);
/* In a forked child before its exec: no signal blocked, SIGPIPE at its default.
 * The engine's clients must not inherit a mask that a caller set for itself (the
 * CLI blocks SIGINT/SIGTERM in every thread while one thread waits for them,
 * datasets/tmp_cleanup.c): podman would then ignore the worker's SIGTERM and a
 * Ctrl-C. Async-signal-safe. */
void sa_child_reset_signals(void);

/* Runs argv (never through a shell) in cwd with stdin from /dev/null, stdout
 * collected (up to 64 KiB, into *out when out is given, malloc'ed), stderr
 * dropped; gives up after timeout_s (kills the client). *status: the exit
 * status, or -1 when killed. Returns 0, or -1 when it could not be started
 * (fork, or the exec: the client missing, not executable; err names the client
 * and errno), never a status 127 that a caller could take for the client's own. */
int sa_engine_exec(const sa_argv *argv, const char *cwd, double timeout_s, char **out,
                   int *status, sa_error *err);

#endif
