/*
 * test_attempt_sweep.c: a worker killed between a case result's commit and the
 * removal of the case's other attempt folders under runs/ left those folders for
 * good. A starting worker (sa_worker_run, its start-up sweep) must remove exactly
 * them: never the attempt the committed result keeps (its log, mask,
 * result.json), never a folder of a case whose result is not committed (a job
 * queued or running, in anyone's hands), never a run the store does not know,
 * never what is not an attempt folder. The store is filled by hand; the engine is
 * a stand-in `podman` that lists nothing (the sweep asks it for containers and
 * images).
 */
#define _GNU_SOURCE /* mkdtemp, nftw, setenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evaluator.h"
#include "store_fixture.h"

static char data_dir[96];

static void put_file(const char *rel, const char *text) {
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/%s", data_dir, rel);
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(data_dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0700);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        perror(path);
        exit(1);
    }
}

static int exists(const char *rel) {
    char path[512];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", data_dir, rel);
    return lstat(path, &sb) == 0;
}

static int64_t make_run(sa_store *st, const world *w, const char *kind, int64_t parent,
                        const char *const *cases, size_t n) {
    int64_t run = 0;
    sa_error err;
    if (sa_store_run_create(st, w->submission, w->phase, kind, parent, "{\"frozen\":1}", cases, n,
                            &run, NULL, &err)) {
        fprintf(stderr, "make_run: %s\n", err.msg);
        exit(1);
    }
    return run;
}

/* Claims the job of case_id (of the given run): the other jobs claimed on the way
 * are given back uncounted. */
static void claim(sa_store *st, int64_t run_id, const char *case_id, sa_job_row *job) {
    sa_error err;
    sa_job_row others[16];
    size_t n = 0;
    for (;;) {
        if (n == 16 || sa_store_job_claim(st, "test-owner", 600, NULL, NULL, job, &err) != 1) {
            fprintf(stderr, "claim %s: no such job\n", case_id);
            exit(1);
        }
        if (job->run_id == run_id && !strcmp(job->case_id, case_id)) break;
        others[n++] = *job;
    }
    for (size_t i = 0; i < n; i++) sa_store_job_give_back(st, &others[i], &err);
}

static void store_result(sa_store *st, const sa_job_row *job, sa_case_result_row *row) {
    sa_error err;
    snprintf(row->case_id, sizeof row->case_id, "%s", job->case_id);
    row->run_id = job->run_id;
    row->attempts = job->attempts;
    if (sa_store_job_complete(st, job, row, &err) != 1) {
        fprintf(stderr, "complete %s: %s\n", job->case_id, err.msg);
        exit(1);
    }
}

/* Claims the job of case_id and gives it back counted (an attempt that failed). */
static void failed_attempt(sa_store *st, int64_t run_id, const char *case_id) {
    sa_job_row job;
    sa_error err;
    claim(st, run_id, case_id, &job);
    if (sa_store_job_release(st, &job, &err) != 1) {
        fprintf(stderr, "release: %s\n", err.msg);
        exit(1);
    }
}

int main(void) {
    scratch s;
    scratch_make(&s);
    snprintf(data_dir, sizeof data_dir, "%s", s.data);
    /* the stand-in engine: lists no container and no image */
    char podman[160], path_env[4300];
    snprintf(podman, sizeof podman, "%s/podman", s.base);
    FILE *f = fopen(podman, "w");
    if (!f || fputs("#!/bin/sh\nexit 0\n", f) < 0 || fclose(f) || chmod(podman, 0755)) {
        perror(podman);
        return 1;
    }
    const char *old_path = getenv("PATH");
    snprintf(path_env, sizeof path_env, "%s:%s", s.base, old_path ? old_path : "/usr/bin:/bin");
    setenv("PATH", path_env, 1);

    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err;
    char rel[256];

    /* run A: c1 stored by attempt 3 (its worker killed before removing 1 and 2);
     * c2 stored by attempt 1; c3 stored as a platform failure by attempt 2 (it
     * refers to no attempt's files: every folder goes); c4 running (attempt 2
     * claimed, in a worker's hands); c5 queued again after attempt 1 */
    const char *const cases[] = {"c1", "c2", "c3", "c4", "c5"};
    int64_t a = make_run(st, &w, "evaluate", 0, cases, 5);
    sa_job_row job;
    failed_attempt(st, a, "c1");
    failed_attempt(st, a, "c1");
    claim(st, a, "c1", &job);
    CHECK(job.attempts == 3);
    sa_case_result_row ok = result_of("succeeded", "succeeded", 1, 1);
    char out1[256], log1[256];
    snprintf(out1, sizeof out1, "runs/%lld/c1/3/output/segmentation.nii.gz", (long long)a);
    snprintf(log1, sizeof log1, "runs/%lld/c1/3/log.txt", (long long)a);
    ok.output_path = out1;
    ok.log_path = log1;
    store_result(st, &job, &ok);
    claim(st, a, "c2", &job);
    sa_case_result_row ok2 = result_of("succeeded", "succeeded", 1, 1);
    snprintf(rel, sizeof rel, "runs/%lld/c2/1/log.txt", (long long)a);
    ok2.log_path = rel;
    store_result(st, &job, &ok2);
    failed_attempt(st, a, "c3");
    claim(st, a, "c3", &job);
    sa_case_result_row pf = result_of("failed", "engine_error: platform error", 0, 1);
    store_result(st, &job, &pf);
    failed_attempt(st, a, "c4");
    claim(st, a, "c4", &job); /* left running */
    failed_attempt(st, a, "c5");

    /* run B: a rescore of A; its c1 names A's mask and log and keeps its own
     * result.json in runs/B/c1/1; a second folder of its c1 (a lost lease's) goes */
    const char *const one[] = {"c1"};
    int64_t b = make_run(st, &w, "rescore", a, one, 1);
    claim(st, b, "c1", &job);
    sa_case_result_row rs = result_of("succeeded", "succeeded", 0, 1);
    rs.output_path = out1;
    rs.log_path = log1;
    store_result(st, &job, &rs);

    /* the folders, as the attempts and a killed worker left them */
    const char *const keep_a[] = {"c1/3/log.txt", "c1/3/output/segmentation.nii.gz", "c1/3/result.json",
                                  "c1/notes.txt", "c2/1/log.txt", "c2/1/result.json",
                                  "c4/1/log.txt", "c4/2/log.txt", "c5/1/log.txt", "c5/2/log.txt"};
    const char *const gone_a[] = {"c1/1/log.txt", "c1/2/output/segmentation.nii.gz", "c2/7/log.txt",
                                  "c3/1/log.txt", "c3/2/log.txt"};
    for (size_t i = 0; i < sizeof keep_a / sizeof *keep_a; i++) {
        snprintf(rel, sizeof rel, "runs/%lld/%s", (long long)a, keep_a[i]);
        put_file(rel, "kept");
    }
    for (size_t i = 0; i < sizeof gone_a / sizeof *gone_a; i++) {
        snprintf(rel, sizeof rel, "runs/%lld/%s", (long long)a, gone_a[i]);
        put_file(rel, "left over");
    }
    snprintf(rel, sizeof rel, "runs/%lld/c1/1/result.json", (long long)b);
    put_file(rel, "kept");
    snprintf(rel, sizeof rel, "runs/%lld/c1/2/log.txt", (long long)b);
    put_file(rel, "left over");
    put_file("runs/999/c1/1/log.txt", "a run the store does not know");
    put_file("runs/notes/c1/1/log.txt", "not a run folder");
    sa_store_close(st);

    sa_worker_options opt;
    sa_worker_options_default(&opt);
    opt.data_dir = s.data;
    volatile int stop = 1; /* the start-up sweep, then the threads stop at once */
    opt.stop = &stop;
    CHECK(sa_worker_run(&opt, &err) == 0);

    for (size_t i = 0; i < sizeof keep_a / sizeof *keep_a; i++) {
        snprintf(rel, sizeof rel, "runs/%lld/%s", (long long)a, keep_a[i]);
        CHECK(exists(rel));
        if (!exists(rel)) fprintf(stderr, "  removed: %s\n", rel);
    }
    for (size_t i = 0; i < sizeof gone_a / sizeof *gone_a; i++) {
        snprintf(rel, sizeof rel, "runs/%lld/%s", (long long)a, gone_a[i]);
        CHECK(!exists(rel));
        if (exists(rel)) fprintf(stderr, "  left: %s\n", rel);
    }
    const char *const gone_dirs[] = {"c1/1", "c1/2", "c2/7", "c3/1", "c3/2"};
    for (size_t i = 0; i < sizeof gone_dirs / sizeof *gone_dirs; i++) {
        snprintf(rel, sizeof rel, "runs/%lld/%s", (long long)a, gone_dirs[i]);
        CHECK(!exists(rel));
    }
    snprintf(rel, sizeof rel, "runs/%lld/c1/1/result.json", (long long)b);
    CHECK(exists(rel));
    snprintf(rel, sizeof rel, "runs/%lld/c1/2", (long long)b);
    CHECK(!exists(rel));
    CHECK(exists("runs/999/c1/1/log.txt"));
    CHECK(exists("runs/notes/c1/1/log.txt"));

    scratch_remove(&s);
    return test_report("evaluator.attempt_sweep");
}
