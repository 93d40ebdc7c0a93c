/*
 * worker.c: the worker threads of `segarena worker` and `segarena serve`. Each
 * thread has its own store connection and loops: finish runs whose last job is
 * stored but not aggregated (a process died in between), claim a job with a
 * lease, execute it (job.c), and wait a little when there is nothing to do.
 * Leases are named after the process (host, pid, start time, thread) so that a
 * restarted worker takes over the jobs of a dead process of this host at once
 * instead of waiting for the lease to expire. At start-up, containers of this
 * data directory left behind by a crash for runs that are over are removed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker_internal.h"

void sa_worker_options_default(sa_worker_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->data_dir = "./segarena-data";
    opt->engine = SA_ENGINE_PODMAN;
    opt->threads = 1;
    opt->lease_seconds = 60;
}

void sa_worker_emit(sa_worker_shared *w, const sa_worker_event *ev) {
    if (!w->opt->on_event) return;
    pthread_mutex_lock(&w->event_lock);
    w->opt->on_event(ev, w->opt->ctx);
    pthread_mutex_unlock(&w->event_lock);
}

void sa_worker_run_token(const sa_worker_shared *w, int64_t run_id, char *buf, size_t size) {
    snprintf(buf, size, "%s.%lld", w->instance, (long long)run_id);
}

/* ---- lease owner names ---- */

/* Field 22 of /proc/<pid>/stat: the process's start time in clock ticks. */
static int process_start_time(long pid, unsigned long long *start) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    p++;
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p) return -1;
    }
    return sscanf(p + 1, "%llu", start) == 1 ? 0 : -1;
}

void sa_worker_owner_name(int index, char *buf, size_t size) {
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    for (char *h = host; *h; h++)
        if (*h == ':') *h = '_';
    unsigned long long start = 0;
    process_start_time((long)getpid(), &start);
    snprintf(buf, size, "%s:%ld:%llu:%d", host, (long)getpid(), start, index);
}

int sa_worker_owner_dead(const char *owner, void *ctx) {
    (void)ctx;
    char host[128] = "";
    gethostname(host, sizeof host - 1);
    for (char *h = host; *h; h++)
        if (*h == ':') *h = '_';
    size_t hl = strlen(host);
    if (strncmp(owner, host, hl) || owner[hl] != ':') return 0; /* another host: unknown */
    long pid;
    unsigned long long start;
    if (sscanf(owner + hl + 1, "%ld:%llu:", &pid, &start) != 2 || pid <= 0) return 0;
    unsigned long long now_start;
    if (process_start_time(pid, &now_start) != 0) return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    return now_start != start; /* the pid was reused by another process */
}

/* ---- finishing runs ---- */

int sa_worker_finish_run(sa_worker_shared *w, sa_store *st, int64_t run_id, sa_error *err) {
    char *json = NULL;
    if (sa_run_aggregate_json(st, run_id, &json, err)) return -1;
    int finished = sa_store_run_finish(st, run_id, json, err);
    free(json);
    if (finished < 0) return -1;
    if (finished == 0) return 0;
    /* a first evaluation that the platform could not carry out (engine errors
     * after every retry) does not count against the team's quota */
    sa_run_row run;
    if (sa_store_run_get(st, run_id, &run, err) <= 0) return -1;
    int rc = 0;
    if (!strcmp(run.kind, "evaluate")) {
        sa_run_progress p;
        rc = sa_store_run_progress(st, run_id, &p, err);
        if (rc == 0 && p.engine_errors > 0)
            rc = sa_store_submission_set_quota_exempt(st, run.submission_id, 1, err);
    }
    sa_run_row_free(&run);
    sa_worker_event ev = {.kind = SA_WORKER_RUN_DONE, .run_id = run_id};
    sa_worker_emit(w, &ev);
    return rc;
}

static int finish_pending_runs(sa_worker_shared *w, sa_store *st, sa_error *err) {
    int64_t *ids = NULL;
    size_t n = 0;
    if (sa_store_runs_to_finish(st, &ids, &n, err)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = sa_worker_finish_run(w, st, ids[i], err);
    free(ids);
    return rc;
}

/* 1 when no run is queued or running (nothing left for anyone to do). */
static int store_idle(sa_store *st, sa_error *err) {
    sa_run_row *runs = NULL;
    size_t n = 0;
    if (sa_store_run_list(st, 0, 0, &runs, &n, err)) return -1;
    int idle = 1;
    for (size_t i = 0; i < n && idle; i++)
        if (!strcmp(runs[i].status, "queued") || !strcmp(runs[i].status, "running")) idle = 0;
    sa_run_rows_free(runs, n);
    return idle;
}

/* ---- containers left behind ---- */

/* Removes containers of this data directory ("segarena-<instance>.<run>-<case>")
 * whose run is over or whose case is stored: left behind by a crash. Containers
 * of jobs still in progress are removed when their job is taken over. */
static void sweep_leftover_containers(sa_worker_shared *w, sa_store *st) {
    char **names = NULL;
    size_t n = 0;
    sa_error err;
    if (sa_engine_list_containers(w->opt->engine, &names, &n, &err)) return;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "segarena-%s.", w->instance);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(names[i], prefix, strlen(prefix))) continue;
        char *end;
        long long run_id = strtoll(names[i] + strlen(prefix), &end, 10);
        if (*end != '-') continue;
        const char *case_id = end + 1;
        sa_run_row run;
        int found = sa_store_run_get(st, run_id, &run, &err);
        if (found < 0) continue;
        int over = found == 0 || !strcmp(run.status, "done") || !strcmp(run.status, "cancelled");
        if (found) sa_run_row_free(&run);
        if (!over) {
            sa_case_result_row r;
            int stored = sa_store_case_result_get(st, run_id, case_id, &r, &err);
            if (stored == 1) sa_case_result_row_free(&r);
            over = stored == 1;
        }
        if (over) sa_engine_remove_container(w->opt->engine, names[i], &err);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* ---- the threads ---- */

typedef struct worker_thread {
    sa_worker_shared *w;
    int index;
    pthread_t thread;
    int failed;
    sa_error err;
} worker_thread;

static int stopped(const sa_worker_shared *w) {
    return w->opt->stop && *w->opt->stop;
}

static void nap(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void report_problem(sa_worker_shared *w, int64_t run_id, const char *case_id,
                           const char *message) {
    sa_worker_event ev = {.kind = SA_WORKER_PROBLEM, .run_id = run_id, .case_id = case_id,
                          .message = message};
    sa_worker_emit(w, &ev);
}

static void *worker_main(void *arg) {
    worker_thread *t = arg;
    sa_worker_shared *w = t->w;
    sa_store *st = NULL;
    if (sa_store_open(w->opt->data_dir, 0, &st, &t->err)) {
        t->failed = 1;
        return NULL;
    }
    char owner[256];
    sa_worker_owner_name(t->index, owner, sizeof owner);
    double idle_wait = 0.05;
    while (!stopped(w)) {
        sa_error err;
        if (finish_pending_runs(w, st, &err)) report_problem(w, 0, NULL, err.msg);
        sa_job_row job;
        int claimed = sa_store_job_claim(st, owner, w->opt->lease_seconds, sa_worker_owner_dead,
                                         NULL, &job, &err);
        if (claimed < 0) {
            report_problem(w, 0, NULL, err.msg);
            nap(1.0);
            continue;
        }
        if (claimed == 0) {
            if (w->opt->until_idle) {
                int idle = store_idle(st, &err);
                if (idle == 1) break;
            }
            nap(idle_wait);
            if (idle_wait < 0.5) idle_wait *= 2;
            continue;
        }
        idle_wait = 0.05;
        if (sa_job_execute(w, st, &job, &err) < 0) {
            report_problem(w, job.run_id, job.case_id, err.msg);
            sa_error ignored;
            sa_store_job_release(st, &job, &ignored);
            nap(1.0); /* a platform problem (disk full, dataset gone): do not spin */
        }
    }
    sa_store_close(st);
    return NULL;
}

int sa_worker_run(const sa_worker_options *opt, sa_error *err) {
    if (opt->threads < 1 || opt->threads > 256)
        return sa_error_set(err, "worker: threads must be between 1 and 256");
    if (!(opt->lease_seconds >= 1))
        return sa_error_set(err, "worker: the lease must be at least 1 s");
    sa_worker_shared w;
    memset(&w, 0, sizeof w);
    w.opt = opt;
    pthread_mutex_init(&w.event_lock, NULL);
    sa_store *st = NULL;
    if (sa_store_open(opt->data_dir, 0, &st, err)) {
        pthread_mutex_destroy(&w.event_lock);
        return -1;
    }
    snprintf(w.instance, sizeof w.instance, "%s", sa_store_instance(st));
    sweep_leftover_containers(&w, st);
    sa_store_close(st);
    w.n_gpus = sa_gpu_available(opt->engine, NULL, 0);

    worker_thread *threads = calloc((size_t)opt->threads, sizeof *threads);
    if (!threads) {
        pthread_mutex_destroy(&w.event_lock);
        return sa_error_set(err, "out of memory");
    }
    int started = 0;
    for (int i = 0; i < opt->threads; i++) {
        threads[i].w = &w;
        threads[i].index = i;
        if (pthread_create(&threads[i].thread, NULL, worker_main, &threads[i]) != 0) break;
        started++;
    }
    int rc = started ? 0 : sa_error_set(err, "worker: cannot start a thread");
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i].thread, NULL);
        if (threads[i].failed && rc == 0) {
            *err = threads[i].err;
            rc = -1;
        }
    }
    free(threads);
    pthread_mutex_destroy(&w.event_lock);
    return rc;
}
