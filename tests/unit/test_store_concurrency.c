/* test_store_concurrency.c: worker threads and worker processes, each with its
 * own store handle on one data directory, claim and complete the 200 jobs of a
 * run at the same time. Every claim is tallied in shared memory: afterwards each
 * job is done exactly once, no job was ever held by two workers at once, and the
 * claim count matches the store's attempts. A second run has workers give some
 * jobs back (release) to make the same jobs change hands under contention. And
 * before that, many first opens of one fresh data directory race each other. */
#define _GNU_SOURCE /* mkdtemp, usleep, nftw, MAP_ANONYMOUS */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_fixture.h"
#include "store_internal.h"

#define N_JOBS 200
#define N_THREADS 4
#define N_PROCESSES 3
/* Each worker stops after this many jobs, so that every thread and process takes
 * part however the machine schedules them (7 x 29 >= 200). */
#define MAX_PER_WORKER ((N_JOBS + N_THREADS + N_PROCESSES - 1) / (N_THREADS + N_PROCESSES))

/* In memory shared by the parent, its threads and its children. */
typedef struct tally {
    atomic_int go;
    atomic_int claims[N_JOBS];
    atomic_int held[N_JOBS];      /* 1 while a worker holds the job */
    atomic_int completed[N_JOBS];
    atomic_int held_twice;        /* claims of a job someone else still held */
    atomic_int errors;
    atomic_int by_threads, by_processes; /* completions */
} tally;

typedef struct worker {
    const char *data_dir;
    char owner[64];
    int64_t first_job_id;
    int release_every; /* 0: never; n: every n-th claim is given back */
    int is_process;
    tally *t;
} worker;

static void note_error(worker *w, const char *what, const sa_error *err) {
    fprintf(stderr, "%s: %s: %s\n", w->owner, what, err->msg);
    atomic_fetch_add(&w->t->errors, 1);
}

static void *work(void *arg) {
    worker *w = arg;
    tally *t = w->t;
    sa_store *st = NULL;
    sa_error err = {{0}};
    while (!atomic_load(&t->go)) usleep(1000);
    if (sa_store_open(w->data_dir, 0, &st, &err)) {
        note_error(w, "open", &err);
        return NULL;
    }
    sa_case_result_row res = result_of("succeeded", "succeeded", 0.1, 0.01);
    int completed = 0;
    for (int n_claims = 1; completed < MAX_PER_WORKER; n_claims++) {
        sa_job_row job;
        int rc = sa_store_job_claim(st, w->owner, 60, NULL, NULL, &job, &err);
        if (rc == 0) break;
        if (rc < 0) {
            note_error(w, "claim", &err);
            break;
        }
        int64_t i = job.id - w->first_job_id;
        if (i < 0 || i >= N_JOBS) {
            fprintf(stderr, "%s: job %lld is not of this run\n", w->owner, (long long)job.id);
            atomic_fetch_add(&t->errors, 1);
            break;
        }
        atomic_fetch_add(&t->claims[i], 1);
        if (atomic_exchange(&t->held[i], 1) != 0) atomic_fetch_add(&t->held_twice, 1);
        if (w->release_every && n_claims % w->release_every == 0) {
            usleep(500);
            atomic_store(&t->held[i], 0); /* before the store lets anyone else take it */
            if (sa_store_job_release(st, &job, &err) != 1) note_error(w, "release", &err);
            continue;
        }
        usleep(1000); /* the case's work: lets the others in between claims */
        rc = sa_store_job_complete(st, &job, &res, &err);
        atomic_store(&t->held[i], 0); /* a done job is never claimed again */
        if (rc != 1) {
            note_error(w, "complete", &err);
            continue;
        }
        atomic_fetch_add(&t->completed[i], 1);
        atomic_fetch_add(w->is_process ? &t->by_processes : &t->by_threads, 1);
        completed++;
    }
    sa_store_close(st);
    return NULL;
}

/* Runs N_PROCESSES children and N_THREADS threads on the run's jobs; waits for
 * them all. */
static void run_workers(const char *data_dir, int64_t first_job_id, int release_every,
                        tally *t) {
    pid_t children[N_PROCESSES];
    fflush(NULL);
    for (int i = 0; i < N_PROCESSES; i++) {
        children[i] = fork();
        if (children[i] == 0) {
            worker w = {data_dir, "", first_job_id, release_every, 1, t};
            snprintf(w.owner, sizeof w.owner, "process-%d", (int)getpid());
            work(&w);
            _exit(0);
        }
        CHECK(children[i] > 0);
    }
    pthread_t threads[N_THREADS];
    worker workers[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        workers[i] = (worker){data_dir, "", first_job_id, release_every, 0, t};
        snprintf(workers[i].owner, sizeof workers[i].owner, "thread-%d", i);
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    atomic_store(&t->go, 1);
    for (int i = 0; i < N_THREADS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < N_PROCESSES; i++) {
        int status = -1;
        CHECK(children[i] > 0 && waitpid(children[i], &status, 0) == children[i]);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

static void check_run(sa_store *st, int64_t run, int release_every, const tally *t) {
    sa_error err = {{0}};
    CHECK(atomic_load(&t->errors) == 0);
    CHECK(atomic_load(&t->held_twice) == 0);
    CHECK(atomic_load(&t->by_threads) > 0);
    CHECK(atomic_load(&t->by_processes) > 0);
    CHECK(atomic_load(&t->by_threads) + atomic_load(&t->by_processes) == N_JOBS);

    sa_job_row *jobs = NULL;
    size_t n = 0;
    CHECK(sa_store_job_list(st, run, &jobs, &n, &err) == 0);
    CHECK(n == N_JOBS);
    int all_done = 1, claims_match = 1, once = 1, first_claims = 1;
    int64_t total_attempts = 0;
    for (size_t i = 0; i < n && n == N_JOBS; i++) {
        all_done &= strcmp(jobs[i].status, "done") == 0;
        claims_match &= atomic_load(&t->claims[i]) == jobs[i].attempts;
        once &= atomic_load(&t->completed[i]) == 1;
        first_claims &= jobs[i].attempts == 1;
        total_attempts += jobs[i].attempts;
    }
    CHECK(all_done);
    CHECK(claims_match);
    CHECK(once);
    if (release_every)
        CHECK(total_attempts > N_JOBS); /* jobs really changed hands */
    else
        CHECK(first_claims); /* nobody claimed a job twice */

    sa_case_result_row *results = NULL;
    size_t n_results = 0;
    CHECK(sa_store_case_results(st, run, &results, &n_results, &err) == 0);
    CHECK(n_results == N_JOBS);
    int attempts_match = 1;
    for (size_t i = 0; i < n_results && n == N_JOBS; i++) {
        const sa_job_row *job = NULL;
        for (size_t j = 0; j < n; j++)
            if (strcmp(jobs[j].case_id, results[i].case_id) == 0) job = &jobs[j];
        attempts_match &= job && job->attempts == results[i].attempts;
    }
    CHECK(attempts_match);
    sa_case_result_rows_free(results, n_results);
    free(jobs);

    sa_run_progress p;
    CHECK(sa_store_run_progress(st, run, &p, &err) == 0);
    CHECK(p.done == N_JOBS && p.succeeded == N_JOBS && p.queued == 0 && p.running == 0);
    CHECK(sa_store_run_finish(st, run, "{}", &err) == 1);
}

static void run_scenario(const scratch *s, const world *w, sa_store **st, int release_every) {
    sa_error err = {{0}};
    char *cases[N_JOBS];
    for (int i = 0; i < N_JOBS; i++) {
        cases[i] = malloc(16);
        snprintf(cases[i], 16, "case-%03d", i);
    }
    int64_t run = 0;
    CHECK(sa_store_run_create(*st, w->submission, w->phase, "evaluate", 0, "{}",
                              (const char *const *)cases, N_JOBS, &run, NULL, &err) == 0);
    for (int i = 0; i < N_JOBS; i++) free(cases[i]);
    sa_job_row *jobs = NULL;
    size_t n = 0;
    CHECK(sa_store_job_list(*st, run, &jobs, &n, &err) == 0 && n == N_JOBS);
    int64_t first_job_id = n ? jobs[0].id : 0;
    CHECK(n == N_JOBS && jobs[N_JOBS - 1].id == first_job_id + N_JOBS - 1);
    free(jobs);
    sa_store_close(*st); /* no connection crosses a fork */

    tally *t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(t != MAP_FAILED);
    if (t == MAP_FAILED) exit(1);
    memset(t, 0, sizeof *t);
    run_workers(s->data, first_job_id, release_every, t);

    *st = NULL;
    CHECK(sa_store_open(s->data, 0, st, &err) == 0);
    if (!*st) exit(1);
    check_run(*st, run, release_every, t);
    munmap(t, sizeof *t);
}

/* ---- many first opens of one fresh data directory ---- */

typedef struct first_opens {
    atomic_int go;
    atomic_int failures;
    char tags[N_THREADS + N_PROCESSES][9];
} first_opens;

typedef struct opener {
    const char *data_dir;
    int slot;
    first_opens *shared;
} opener;

static void *open_fresh(void *arg) {
    opener *o = arg;
    while (!atomic_load(&o->shared->go)) usleep(100);
    sa_store *st = NULL;
    sa_error err = {{0}};
    if (sa_store_open(o->data_dir, 1, &st, &err) != 0 ||
        sa_store_schema_version(st) != SA_STORE_SCHEMA_VERSION) {
        fprintf(stderr, "first open %d: %s\n", o->slot, err.msg);
        atomic_fetch_add(&o->shared->failures, 1);
    } else {
        snprintf(o->shared->tags[o->slot], 9, "%s", sa_store_instance(st));
    }
    sa_store_close(st);
    return NULL;
}

/* Every opener creates or migrates the same database at the same time (WAL
 * switch and migration race): all succeed and agree on the instance tag. */
static void test_concurrent_first_open(void) {
    scratch s;
    scratch_make(&s);
    first_opens *shared =
        mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shared != MAP_FAILED);
    if (shared == MAP_FAILED) return;
    memset(shared, 0, sizeof *shared);
    fflush(NULL);
    pid_t children[N_PROCESSES];
    for (int i = 0; i < N_PROCESSES; i++) {
        children[i] = fork();
        if (children[i] == 0) {
            opener o = {s.data, N_THREADS + i, shared};
            open_fresh(&o);
            _exit(0);
        }
    }
    pthread_t threads[N_THREADS];
    opener openers[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        openers[i] = (opener){s.data, i, shared};
        CHECK(pthread_create(&threads[i], NULL, open_fresh, &openers[i]) == 0);
    }
    atomic_store(&shared->go, 1);
    for (int i = 0; i < N_THREADS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < N_PROCESSES; i++) {
        int status = -1;
        CHECK(children[i] > 0 && waitpid(children[i], &status, 0) == children[i]);
    }
    CHECK(atomic_load(&shared->failures) == 0);
    int same = 1;
    for (int i = 0; i < N_THREADS + N_PROCESSES; i++)
        same &= strlen(shared->tags[i]) == 8 && strcmp(shared->tags[i], shared->tags[0]) == 0;
    CHECK(same);
    munmap(shared, sizeof *shared);
    scratch_remove(&s);
}

int main(void) {
    for (int i = 0; i < 5; i++) test_concurrent_first_open();
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    run_scenario(&s, &w, &st, 0);
    run_scenario(&s, &w, &st, 5);
    sa_store_close(st);
    scratch_remove(&s);
    return test_report("test_store_concurrency");
}
