/*
 * worker.c: the worker threads of `segarena worker` and `segarena serve`. Each
 * thread has its own store connection and loops: finish runs whose last job is
 * stored but not aggregated (a process died in between), claim a job with a
 * lease, execute it (job.c), and wait a little when there is nothing to do.
 * Leases are named after the process (host, boot, pid namespace, pid, start time,
 * thread) so that a restarted worker takes over the jobs of a dead process of this
 * host, boot and pid namespace at once
 * instead of waiting for the lease to expire. At start-up and then every few
 * minutes, containers of this data directory that no live worker is running (a
 * crash's, a cancelled run's) are removed. A case that failed by the platform's
 * fault goes back to the queue with a growing delay; while the data directory
 * takes no writes at all (disk full, read-only, I/O errors) nothing is claimed.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "worker_internal.h"

static const double default_retry_delays[] = {30, 120, 600, 1800};

double sa_worker_retry_delay(const sa_worker_shared *w, int64_t attempts) {
    const double *d = w->opt->retry_delays;
    size_t n = w->opt->n_retry_delays;
    if (!d || n == 0) {
        d = default_retry_delays;
        n = sizeof default_retry_delays / sizeof *default_retry_delays;
    }
    size_t i = attempts < 1 ? 0 : (size_t)(attempts - 1);
    return d[i < n ? i : n - 1];
}

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

void sa_worker_run_token(const sa_worker_shared *w, int64_t run_id, int attempt, char *buf,
                         size_t size) {
    snprintf(buf, size, "%s.%lld.%d", w->instance, (long long)run_id, attempt);
}

/* ---- lease owner names ---- */

/* The start time (clock ticks after boot) of process pid: 0; 1 when it is a
 * zombie or dead (it will never renew a lease); -1 when /proc cannot tell. */
static int process_start_time(long pid, unsigned long long *start) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || p[1] != ' ') return -1;
    if (p[2] == 'Z' || p[2] == 'X') return 1;
    p++;
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p) return -1;
    }
    return sscanf(p + 1, "%llu", start) == 1 ? 0 : -1;
}

/* Where this process's pids mean something: "<host>:<boot>.<pidns>", the host name
 * (':' made '_', at most 48 bytes), the first 8 characters of this boot's id and
 * the pid namespace's inode. Two machines with one host name, a reboot, or a
 * worker in another pid namespace (a container sharing the host name) differ. */
static void owner_place(char *out, size_t size) {
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    host[48] = '\0';
    for (char *h = host; *h; h++) /* ASCII only: the store keeps UTF-8, a cut stays whole */
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
              *h == '.' || *h == '-'))
            *h = '_';
    char boot[16] = "0";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (fscanf(f, "%8[0-9a-f]", boot) != 1) snprintf(boot, sizeof boot, "0");
        fclose(f);
    }
    unsigned long long ns = 0;
    char link[64];
    ssize_t n = readlink("/proc/self/ns/pid", link, sizeof link - 1);
    if (n > 0) {
        link[n] = '\0';
        const char *open_bracket = strchr(link, '[');
        if (open_bracket) ns = strtoull(open_bracket + 1, NULL, 10);
    }
    snprintf(out, size, "%s:%s.%llu", host, boot, ns);
}

void sa_worker_owner_name(int index, char *buf, size_t size) {
    char place[96];
    owner_place(place, sizeof place);
    unsigned long long start = 0;
    process_start_time((long)getpid(), &start);
    snprintf(buf, size, "%s:%ld:%llu:%d", place, (long)getpid(), start, index);
}

int sa_worker_owner_dead(const char *owner, void *ctx) {
    (void)ctx;
    char place[96];
    owner_place(place, sizeof place);
    size_t pl = strlen(place);
    /* another machine, boot or pid namespace (or an older owner name): unknown */
    if (strncmp(owner, place, pl) || owner[pl] != ':') return 0;
    long pid;
    unsigned long long start;
    if (sscanf(owner + pl + 1, "%ld:%llu:", &pid, &start) != 2 || pid <= 0) return 0;
    unsigned long long now_start;
    int known = process_start_time(pid, &now_start);
    if (known == 1) return 1; /* a zombie: its threads are gone (kill(pid, 0) still succeeds) */
    if (known != 0) return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    return now_start != start; /* the pid was reused by another process */
}

/* ---- finishing runs ---- */

/* A first evaluation that the platform could not carry out does not count
 * against the team's quota until a later run of it scores a case: some case
 * ended with an engine_error (after every retry) and no case was scored. A run
 * with scored cases counts whatever else happened, so that a container cannot
 * buy a free, partly scored submission by provoking engine errors on some cases.
 * Set before the run is marked done (it is idempotent), so that a crash in
 * between cannot lose it. */
static int exempt_platform_failure(sa_store *st, int64_t run_id, sa_error *err) {
    sa_run_row run;
    int found = sa_store_run_get(st, run_id, &run, err);
    if (found <= 0) return found < 0 ? -1 : sa_error_set(err, "no run %lld", (long long)run_id);
    sa_run_progress p;
    int rc = sa_store_run_progress(st, run_id, &p, err);
    if (rc == 0 && !strcmp(run.kind, "evaluate") && p.engine_errors > 0 && p.succeeded == 0)
        rc = sa_store_submission_set_quota_exempt(st, run.submission_id, 1, err);
    /* a later run (rerun, rescore) that scored a case: the submission counts again
     * (the quota query also looks at the runs, so a crash here loses nothing) */
    if (rc == 0 && strcmp(run.kind, "evaluate") && p.succeeded > 0)
        rc = sa_store_submission_set_quota_exempt(st, run.submission_id, 0, err);
    sa_run_row_free(&run);
    return rc;
}

int sa_worker_finish_run(sa_worker_shared *w, sa_store *st, int64_t run_id, sa_error *err) {
    if (exempt_platform_failure(st, run_id, err)) return -1;
    char *json = NULL;
    if (sa_run_aggregate_json(st, run_id, &json, err)) return -1;
    int finished = sa_store_run_finish(st, run_id, json, err);
    free(json);
    if (finished <= 0) return finished;
    sa_worker_event ev = {.kind = SA_WORKER_RUN_DONE, .run_id = run_id};
    sa_worker_emit(w, &ev);
    return 0;
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

/* ---- what a crash leaves behind ---- */

/* 1 when the job of (run, case) is running under a live lease (another worker
 * of this data directory is on it): its container and work folder stay. */
static int job_in_progress(sa_store *st, int64_t run_id, const char *case_id) {
    sa_job_row *jobs = NULL;
    size_t n = 0;
    sa_error err;
    if (sa_store_job_list(st, run_id, &jobs, &n, &err)) return 1; /* unsure: keep it */
    int live = 0;
    double now = sa_store_now();
    for (size_t i = 0; i < n; i++)
        if (!strcmp(jobs[i].case_id, case_id) && !strcmp(jobs[i].status, "running") &&
            jobs[i].lease_expires >= now && !sa_worker_owner_dead(jobs[i].lease_owner, NULL))
            live = 1;
    free(jobs);
    return live;
}

/* "<instance>.<run>.<attempt>-<case>" (or, before attempts were in it,
 * "<instance>.<run>-<case>") -> run id, case id and the token's length (up to the
 * '-'); 0 when not of this instance. */
static int parse_token(const char *s, const char *instance, int64_t *run_id, const char **case_id,
                       size_t *token_len, long *attempt_out) {
    size_t il = strlen(instance);
    if (strncmp(s, instance, il) || s[il] != '.') return 0;
    char *end;
    long long id = strtoll(s + il + 1, &end, 10);
    if (end == s + il + 1 || id <= 0) return 0;
    long attempt = 0; /* a name from before attempts were in it */
    if (*end == '.') {
        char *after;
        attempt = strtol(end + 1, &after, 10);
        if (after == end + 1 || attempt <= 0) return 0;
        end = after;
    }
    if (*end != '-') return 0;
    *run_id = id;
    *case_id = end + 1;
    *token_len = (size_t)(end - s);
    if (attempt_out) *attempt_out = attempt;
    return 1;
}

int sa_worker_remove_earlier_attempts(const sa_worker_shared *w, int64_t run_id,
                                      const char *case_id, int attempt, sa_error *err) {
    char **names = NULL;
    size_t n = 0;
    if (sa_engine_list_containers(w->opt->engine, &names, &n, err)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t r;
        const char *c;
        size_t len;
        long a;
        if (rc == 0 && !strncmp(names[i], "segarena-", 9) &&
            parse_token(names[i] + 9, w->instance, &r, &c, &len, &a) && r == run_id &&
            !strcmp(c, case_id) && a < attempt)
            rc = sa_engine_remove_container(w->opt->engine, names[i], err);
        free(names[i]);
    }
    free(names);
    /* their scratch folders (staged inputs, a still-mounted /output) */
    char scratch[4200];
    snprintf(scratch, sizeof scratch, "%s/scratch", w->opt->data_dir);
    DIR *d = rc == 0 ? opendir(scratch) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int64_t r;
        const char *c;
        size_t len;
        long a;
        if (!parse_token(e->d_name, w->instance, &r, &c, &len, &a) || r != run_id ||
            strcmp(c, case_id) || a >= attempt || len >= 96)
            continue;
        char token[96];
        snprintf(token, sizeof token, "%.*s", (int)len, e->d_name);
        sa_run_case_cleanup(scratch, token, case_id);
    }
    if (d) closedir(d);
    return rc;
}

/* Removes, for this data directory only, the containers ("segarena-<instance>.
 * <run>.<attempt>-<case>") and scratch work folders (the same without "segarena-", whose output
 * tmpfs may still be mounted) of jobs that no live worker is running: left behind
 * by a kill -9. Those of jobs in progress are removed when the job is taken over.
 * Also the temporary image names ("localhost/segarena/load-<instance>-<hex>") of
 * uploads whose process was killed while loading (their lock under locks/ held by
 * no process); the loads in progress keep theirs. The submission image names of
 * this data directory that no row names (an upload killed between its load and
 * its record; submit.c). And under runs/, the attempt
 * folders of cases whose result is committed that the result does not keep (a
 * worker killed between the commit and removing them; attempt_folders.c). */
static void sweep_leftovers(sa_worker_shared *w, sa_store *st) {
    char **names = NULL;
    size_t n = 0;
    sa_error err;
    int64_t run_id;
    const char *case_id;
    char lock_dir[4200];
    snprintf(lock_dir, sizeof lock_dir, "%s/locks", w->opt->data_dir);
    sa_intake_owner loads = {.lock_dir = lock_dir, .tag = w->instance};
    sa_intake_sweep_loads(&loads, &err); /* best effort, as below: tried again next sweep */
    sa_submit_sweep_images(st, w->opt->data_dir, w->opt->engine);
    sa_attempt_folders_sweep(w->opt->data_dir, st, &err);
    if (sa_engine_list_containers(w->opt->engine, &names, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            size_t len;
            if (!strncmp(names[i], "segarena-", 9) &&
                parse_token(names[i] + 9, w->instance, &run_id, &case_id, &len, NULL) &&
                !job_in_progress(st, run_id, case_id))
                sa_engine_remove_container(w->opt->engine, names[i], &err);
            free(names[i]);
        }
        free(names);
    }
    char scratch[4200];
    snprintf(scratch, sizeof scratch, "%s/scratch", w->opt->data_dir);
    DIR *d = opendir(scratch);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len;
        if (!parse_token(e->d_name, w->instance, &run_id, &case_id, &len, NULL)) continue;
        if (job_in_progress(st, run_id, case_id) || len >= 96) continue;
        char token[96];
        snprintf(token, sizeof token, "%.*s", (int)len, e->d_name);
        sa_run_case_cleanup(scratch, token, case_id);
    }
    closedir(d);
}

/* 1 when the periodic sweep is due and this thread takes it (no other is
 * sweeping); the caller then sweeps and resets last_sweep and sweeping. */
static int sweep_due(sa_worker_shared *w) {
    double every = w->opt->sweep_seconds > 0 ? w->opt->sweep_seconds : 300;
    pthread_mutex_lock(&w->pause_lock);
    int due = !w->sweeping && sa_store_now() - w->last_sweep >= every;
    if (due) w->sweeping = 1;
    pthread_mutex_unlock(&w->pause_lock);
    return due;
}


/* Submissions of auto-evaluated phases that have no run: the process died between
 * recording a submission and queuing its run. Queued now. */
static void queue_forgotten_runs(sa_worker_shared *w, sa_store *st) {
    sa_phase_row *phases = NULL;
    size_t n_phases = 0;
    sa_error err;
    if (sa_store_phase_list(st, 0, &phases, &n_phases, &err)) return;
    for (size_t p = 0; p < n_phases; p++) {
        sa_phase_spec spec;
        sa_problems problems;
        sa_problems_init(&problems);
        int ok = sa_phase_spec_parse(phases[p].spec_json, "stored spec", &spec, &problems, &err) == 0;
        sa_problems_free(&problems);
        if (!ok || !spec.auto_evaluate) continue;
        sa_submission_row *subs = NULL;
        size_t n_subs = 0;
        if (sa_store_submission_list(st, phases[p].id, 0, &subs, &n_subs, &err)) continue;
        for (size_t i = 0; i < n_subs; i++) {
            if (strcmp(subs[i].status, "ready")) continue;
            sa_run_row *runs = NULL;
            size_t n_runs = 0;
            if (sa_store_run_list(st, 0, subs[i].id, &runs, &n_runs, &err)) continue;
            sa_run_rows_free(runs, n_runs);
            int64_t run_id;
            if (n_runs == 0 && sa_run_queue(st, w->opt->data_dir, subs[i].id, "evaluate", 0, &run_id, &err) == 0) {
                sa_worker_event ev = {.kind = SA_WORKER_PROBLEM, .run_id = run_id,
                                      .message = "queued: a submission left without its run"};
                sa_worker_emit(w, &ev);
            }
        }
        sa_submission_rows_free(subs, n_subs);
    }
    sa_phase_rows_free(phases, n_phases);
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

/* ---- a data directory that takes no writes ---- */

static void runs_dir(const sa_worker_shared *w, char *buf, size_t size) {
    snprintf(buf, size, "%s/runs", w->opt->data_dir);
}

/* Claiming stops (one line says why) until the data directory's runs/ takes a
 * write again; looked at every retry_delays[0] seconds. */
static void pause_claiming(sa_worker_shared *w, const sa_job_row *job, const char *why) {
    pthread_mutex_lock(&w->pause_lock);
    int was = w->paused;
    w->paused = 1;
    w->paused_until = sa_store_now() + sa_worker_retry_delay(w, 1);
    pthread_mutex_unlock(&w->pause_lock);
    if (was) return;
    char line[700];
    snprintf(line, sizeof line,
             "the data directory takes no writes (%s): the case goes back to the queue, not "
             "counted as an attempt, and no job is claimed until it does (looked at every %g s)",
             why, sa_worker_retry_delay(w, 1));
    report_problem(w, job->run_id, job->case_id, line);
}

/* 1 while claiming is paused; the first thread past the pause's end looks again. */
static int claiming_paused(sa_worker_shared *w) {
    pthread_mutex_lock(&w->pause_lock);
    int paused = w->paused;
    int resumed = 0;
    if (paused && sa_store_now() >= w->paused_until) {
        char runs[4200];
        runs_dir(w, runs, sizeof runs);
        sa_error why;
        if (sa_dir_cannot_take_writes(runs, &why)) {
            w->paused_until = sa_store_now() + sa_worker_retry_delay(w, 1);
        } else {
            w->paused = paused = 0;
            resumed = 1;
        }
    }
    pthread_mutex_unlock(&w->pause_lock);
    if (resumed) report_problem(w, 0, NULL, "the data directory takes writes again: claiming resumes");
    return paused;
}

/* A job that sa_job_execute could not carry out (-1, err): while the data
 * directory takes no writes it goes back uncounted and claiming pauses; otherwise
 * it is retried after a growing delay, and after SA_PLATFORM_ERROR_ATTEMPTS claims
 * stored as a platform failure. */
static void platform_problem(sa_worker_shared *w, sa_store *st, const sa_job_row *job,
                             const sa_error *err) {
    char runs[4200];
    runs_dir(w, runs, sizeof runs);
    sa_error why, again;
    if (sa_dir_cannot_take_writes(runs, &why)) {
        sa_store_job_release_until(st, job, sa_store_now() + sa_worker_retry_delay(w, 1), 0, &again);
        pause_claiming(w, job, why.msg);
        return;
    }
    report_problem(w, job->run_id, job->case_id, err->msg);
    if (job->attempts >= SA_PLATFORM_ERROR_ATTEMPTS &&
        sa_job_store_platform_failure(w, st, job, err->msg, &again) >= 0)
        return;
    double delay = sa_worker_retry_delay(w, job->attempts);
    if (sa_store_job_release_until(st, job, sa_store_now() + delay, 1, &again) == 1) {
        char line[120];
        snprintf(line, sizeof line, "retried in %g s (claim %lld of at most %d)", delay,
                 (long long)job->attempts + 1, SA_PLATFORM_ERROR_ATTEMPTS);
        report_problem(w, job->run_id, job->case_id, line);
    }
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
    int finish_failures = 0;
    while (!stopped(w)) {
        sa_error err;
        /* whichever thread is between jobs when the sweep is due takes it (one at a
         * time), so that a long container on one thread does not hold it up */
        if (sweep_due(w)) {
            sweep_leftovers(w, st);
            pthread_mutex_lock(&w->pause_lock);
            w->last_sweep = sa_store_now();
            w->sweeping = 0;
            pthread_mutex_unlock(&w->pause_lock);
        }
        if (finish_pending_runs(w, st, &err)) {
            report_problem(w, 0, NULL, err.msg);
            if (w->opt->until_idle && ++finish_failures >= 3) { /* it would never be idle */
                t->err = err;
                t->failed = 1;
                break;
            }
            nap(1.0);
        } else {
            finish_failures = 0;
        }
        if (claiming_paused(w)) {
            nap(0.2);
            continue;
        }
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
        if (job.attempts > SA_CLAIM_LIMIT) {
            char why[160];
            snprintf(why, sizeof why, "the case was claimed %lld times: its earlier workers died, "
                     "lost the lease or failed each time", (long long)job.attempts);
            report_problem(w, job.run_id, job.case_id, why);
            sa_error again;
            /* the containers and scratch folders its dead workers left */
            if (sa_worker_remove_earlier_attempts(w, job.run_id, job.case_id, (int)job.attempts,
                                                  &again))
                report_problem(w, job.run_id, job.case_id, again.msg);
            if (sa_job_store_platform_failure(w, st, &job, why, &again) < 0)
                report_problem(w, job.run_id, job.case_id, again.msg);
            continue;
        }
        int done = sa_job_execute(w, st, &job, &err);
        if (done == SA_JOB_GIVEN_BACK) nap(1.0); /* to be retried: not at once */
        if (done < 0) platform_problem(w, st, &job, &err); /* disk full, dataset file gone */
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
    pthread_mutex_init(&w.pause_lock, NULL);
    sa_store *st = NULL;
    if (sa_store_open(opt->data_dir, 0, &st, err)) {
        pthread_mutex_destroy(&w.pause_lock);
        pthread_mutex_destroy(&w.event_lock);
        return -1;
    }
    snprintf(w.instance, sizeof w.instance, "%s", sa_store_instance(st));
    sweep_leftovers(&w, st);
    w.last_sweep = sa_store_now();
    queue_forgotten_runs(&w, st);
    sa_store_close(st);
    w.n_gpus = sa_gpu_available(opt->engine, NULL, 0);
    sa_gpu_order_by_bus(); /* CUDA's device 0 is /dev/nvidia0, the lock files' GPU 0 */

    worker_thread *threads = calloc((size_t)opt->threads, sizeof *threads);
    if (!threads) {
        pthread_mutex_destroy(&w.pause_lock);
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
    pthread_mutex_destroy(&w.pause_lock);
    pthread_mutex_destroy(&w.event_lock);
    return rc;
}
