/*
 * test_sandbox.c: sa_run_case with the real engine (podman). Builds a static test
 * program (test_sandbox_prog.c) into FROM-scratch images, one per behaviour,
 * runs them all at once with short limits and checks each outcome's class, that
 * the host and the other jobs are unaffected, that nothing is left running or
 * mounted and that no log text reaches the class text. Exits 77 (skipped) when
 * not root or podman is missing.
 *
 * usage: test_sandbox C_COMPILER PROG_SOURCE WORK_DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "submissions.h"
#include "test.h"

typedef struct job {
    const char *mode;
    const char *expect; /* class_text */
    double wall;
    char image[128];
    sa_run_result res;
    int rc;
    char err[512];
} job;

static job jobs[] = {
    {"good", "succeeded", 30, "", {0}, 0, ""},
    {"chatty", "succeeded", 30, "", {0}, 0, ""},
    {"exit3", "exit_code 3", 30, "", {0}, 0, ""},
    {"crash", "exit_code 139", 30, "", {0}, 0, ""},
    {"hang", "timeout", 5, "", {0}, 0, ""},
    {"oom", "out_of_memory", 30, "", {0}, 0, ""},
    {"forkbomb", "exit_code 42", 30, "", {0}, 0, ""},
    {"network", "exit_code 20", 30, "", {0}, 0, ""},
    {"write_input", "exit_code 21", 30, "", {0}, 0, ""},
    {"write_outside", "exit_code 22", 30, "", {0}, 0, ""},
    {"fill_output", "invalid_output: too big", 30, "", {0}, 0, ""},
    {"symlink", "invalid_output: not a regular file", 30, "", {0}, 0, ""},
    {"wrong_geometry", "invalid_output: wrong geometry", 30, "", {0}, 0, ""},
    {"not_integer", "invalid_output: not integer", 30, "", {0}, 0, ""},
    {"not_image", "invalid_output: not an image", 30, "", {0}, 0, ""},
    {"empty", "invalid_output: empty file", 30, "", {0}, 0, ""},
    {"nothing", "no_output", 30, "", {0}, 0, ""},
    {"exit125", "exit_code 125", 30, "", {0}, 0, ""}, /* not the engine's own 125 */
};
#define NJOBS (sizeof jobs / sizeof jobs[0])

static char g_work[1024], g_input[1200], g_input2[1200], g_scratch[1200], g_run[32];

static int run_argv(char *const argv[], int quiet) {
    fflush(stdout); /* the child's freopen would flush a copy */
    fflush(stderr);
    pid_t p = fork();
    if (p < 0) return -1;
    if (p == 0) {
        if (quiet) {
            freopen("/dev/null", "w", stdout);
            freopen("/dev/null", "w", stderr);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *capture(const char *cmd) {
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap + 1);
    size_t k;
    while (b && (k = fread(b + len, 1, cap - len, f)) > 0) len += k;
    pclose(f);
    if (b) b[len] = '\0';
    return b;
}

static void *run_job(void *arg) {
    job *j = arg;
    sa_run_limits lim;
    sa_run_limits_default(&lim);
    lim.wall_seconds = j->wall;
    lim.memory_bytes = 64u << 20;
    lim.cpus = 1;
    lim.pids = 32;
    lim.output_bytes = 1u << 20;
    lim.tmp_bytes = 16u << 20;
    sa_run_input in[2] = {{"flair", g_input}, {"t1", g_input2}};
    sa_run_request req = {.engine = SA_ENGINE_PODMAN,
                          .image = j->image,
                          .run_id = g_run,
                          .case_id = j->mode,
                          .inputs = in,
                          .n_inputs = 2,
                          .reference = NULL,
                          .scratch_dir = g_scratch,
                          .user = NULL};
    sa_error err = {{0}};
    j->rc = sa_run_case(&req, &lim, &j->res, &err);
    snprintf(j->err, sizeof j->err, "%s", err.msg);
    return NULL;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_sandbox CC PROG_SOURCE WORK_DIR\n");
        return 2;
    }
    if (geteuid() != 0) {
        printf("test_sandbox: skipped (needs root for rootful podman)\n");
        return 77;
    }
    char *pv[] = {"podman", "--version", NULL};
    if (run_argv(pv, 1) != 0) {
        printf("test_sandbox: skipped (no podman)\n");
        return 77;
    }
    snprintf(g_work, sizeof g_work, "%s", argv[3]);
    snprintf(g_run, sizeof g_run, "t%ld", (long)getpid());
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/scratch' '%s/ctx' '%s/case'", g_work,
             g_work, g_work, g_work);
    if (system(cmd) != 0) return 2;
    snprintf(g_scratch, sizeof g_scratch, "%s/scratch", g_work);
    snprintf(g_input, sizeof g_input, "%s/case/flair.nii", g_work);
    snprintf(g_input2, sizeof g_input2, "%s/case/t1.nii.gz", g_work);

    /* the case: an 8x8x4 int16 image with a non-trivial geometry */
    sa_image img = {.size = {8, 8, 4},
                    .spacing = {1, 1.5, 2},
                    .origin = {-10, 20, 5},
                    .direction = {1, 0, 0, 0, 1, 0, 0, 0, 1},
                    .type = SA_PIXEL_I16};
    img.data = calloc(8 * 8 * 4, 2);
    for (int i = 0; i < 8 * 8 * 4; i++) ((int16_t *)img.data)[i] = (int16_t)(i % 50);
    sa_error err;
    CHECK(sa_image_write(g_input, &img, &err) == 0);
    CHECK(sa_image_write(g_input2, &img, &err) == 0);
    sa_image_free(&img);
    struct stat in_before;
    CHECK(stat(g_input, &in_before) == 0);

    /* the images */
    char prog[1200];
    snprintf(prog, sizeof prog, "%s/ctx/prog", g_work);
    char *cc[] = {argv[1], "-static", "-O1", "-o", prog, argv[2], NULL};
    if (run_argv(cc, 0) != 0) {
        printf("test_sandbox: skipped (cannot link a static test program)\n");
        return 77;
    }
    char base[128];
    snprintf(base, sizeof base, "localhost/segarena-test-base:%s", g_run);
    snprintf(cmd, sizeof cmd, "%s/ctx/Containerfile", g_work);
    write_file(cmd, "FROM scratch\nCOPY prog /prog\nUSER 1000\nENTRYPOINT [\"/prog\"]\n");
    char ctx[1200];
    snprintf(ctx, sizeof ctx, "%s/ctx", g_work);
    char *b0[] = {"podman", "build", "-q", "--pull=never", "-t", base, ctx, NULL};
    CHECK(run_argv(b0, 1) == 0);
    for (size_t i = 0; i < NJOBS; i++) {
        snprintf(jobs[i].image, sizeof jobs[i].image, "localhost/segarena-test-%s:%s",
                 jobs[i].mode, g_run);
        char cf[1300], text[512];
        snprintf(cf, sizeof cf, "%s/ctx/Containerfile.%s", g_work, jobs[i].mode);
        snprintf(text, sizeof text, "FROM %s\nENTRYPOINT [\"/prog\", \"%s\"]\n", base,
                 jobs[i].mode);
        write_file(cf, text);
        char *b[] = {"podman", "build", "-q", "--pull=never", "-f", cf, "-t", jobs[i].image, ctx,
                     NULL};
        CHECK(run_argv(b, 1) == 0);
    }

    /* a leftover container of this test's run from a "crash" is swept; one of
     * another run (another data directory's, a worker's), also labelled
     * segarena=1 and with a run id that this one's is a prefix of, is not */
    char left[64], other[64], prefix[48];
    snprintf(left, sizeof left, "segarena-%s-leftover", g_run);
    snprintf(other, sizeof other, "segarena-%sx-other", g_run);
    snprintf(prefix, sizeof prefix, "segarena-%s-", g_run);
    char *cr[] = {"podman", "create", "--label", "segarena=1", "--name", left, jobs[0].image, NULL};
    CHECK(run_argv(cr, 1) == 0);
    char *cro[] = {"podman", "create", "--label", "segarena=1", "--name", other, jobs[0].image, NULL};
    CHECK(run_argv(cro, 1) == 0);
    CHECK(sa_engine_sweep(SA_ENGINE_PODMAN, prefix, &err) == 0);
    char *left_exists[] = {"podman", "container", "exists", left, NULL};
    CHECK(run_argv(left_exists, 1) == 1);
    char *other_exists[] = {"podman", "container", "exists", other, NULL};
    CHECK(run_argv(other_exists, 1) == 0);
    char *rm_other[] = {"podman", "rm", "-f", other, NULL};
    CHECK(run_argv(rm_other, 1) == 0);
    CHECK(run_argv(other_exists, 1) == 1);
    char *ps = NULL;

    /* all jobs at once */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[NJOBS];
    /* SEGARENA_SANDBOX_ONLY=mode runs one job (debugging) */
    const char *only = getenv("SEGARENA_SANDBOX_ONLY");
    for (size_t i = 0; i < NJOBS; i++)
        if (!only || !strcmp(only, jobs[i].mode)) pthread_create(&th[i], NULL, run_job, &jobs[i]);
    for (size_t i = 0; i < NJOBS; i++)
        if (!only || !strcmp(only, jobs[i].mode)) pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double all = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("test_sandbox: %zu jobs in %.1f s\n", NJOBS, all);

    for (size_t i = 0; i < NJOBS; i++) {
        job *j = &jobs[i];
        printf("  %-15s rc=%d %-36s exit=%d wall=%.2fs peak=%lld log=%zu%s  [%s]%s\n", j->mode,
               j->rc, j->res.class_text, j->res.exit_code, j->res.wall_seconds,
               (long long)j->res.peak_memory_bytes, j->res.log_len,
               j->res.log_truncated ? "(cut)" : "", j->res.detail, j->err);
        CHECK(j->rc == 0);
        if (strcmp(j->res.class_text, j->expect) != 0) {
            fprintf(stderr, "%s: class '%s', expected '%s'\n", j->mode, j->res.class_text,
                    j->expect);
            CHECK(0);
        }
        CHECK(j->res.succeeded == (strcmp(j->expect, "succeeded") == 0));
        /* no container text in the class */
        CHECK(!strstr(j->res.class_text, "SECRET"));
        CHECK(j->res.log != NULL);
        if (j->res.succeeded) {
            sa_image out;
            CHECK(j->res.output_path != NULL);
            if (j->res.output_path && sa_image_read(j->res.output_path, &out, &err) == 0) {
                CHECK(out.size[0] == 8 && out.size[1] == 8 && out.size[2] == 4);
                sa_image_free(&out);
            } else {
                CHECK(0);
            }
        } else {
            CHECK(j->res.output_path == NULL);
        }
    }
    /* specifics */
    CHECK_STR_CONTAINS(jobs[0].res.log, "segarena-test: starting");
    CHECK(jobs[1].res.log_truncated && jobs[1].res.log_len == (1u << 20));
    CHECK_STR_CONTAINS(jobs[1].res.log, "HIDDEN-CASE-SECRET the last line");
    CHECK_STR_CONTAINS(jobs[2].res.log, "HIDDEN-CASE-SECRET failing");
    CHECK(jobs[4].res.wall_seconds >= 4.9 && jobs[4].res.wall_seconds < 20);

    /* nothing left running, mounted or written on the host */
    snprintf(cmd, sizeof cmd, "podman ps -a -q --filter label=segarena.run=%s", g_run);
    ps = capture(cmd);
    CHECK(ps && ps[0] == '\0');
    free(ps);
    char *mi = capture("cat /proc/self/mountinfo");
    CHECK(mi && !strstr(mi, "segarena-output") && !strstr(mi, g_work));
    free(mi);
    struct stat in_after;
    CHECK(stat(g_input, &in_after) == 0 && in_after.st_size == in_before.st_size &&
          in_after.st_mtime == in_before.st_mtime);
    snprintf(cmd, sizeof cmd, "%s/case/evil", g_work);
    CHECK(access(cmd, F_OK) != 0);
    /* the scratch folder keeps only the accepted masks */
    for (size_t i = 0; i < NJOBS; i++) {
        char p[1400];
        snprintf(p, sizeof p, "%s/%s-%s", g_scratch, g_run, jobs[i].mode);
        CHECK((access(p, F_OK) == 0) == (jobs[i].res.succeeded != 0));
        snprintf(p, sizeof p, "%s/%s-%s/input", g_scratch, g_run, jobs[i].mode);
        CHECK(access(p, F_OK) != 0);
    }

    /* a missing image is the engine's error, not the image's */
    {
        sa_run_limits lim;
        sa_run_limits_default(&lim);
        lim.wall_seconds = 30;
        lim.memory_bytes = 64u << 20;
        sa_run_input in[1] = {{"flair", g_input}};
        sa_run_request req = {.engine = SA_ENGINE_PODMAN,
                              .image = "localhost/segarena-test-no-such-image:0",
                              .run_id = g_run,
                              .case_id = "missing",
                              .inputs = in,
                              .n_inputs = 1,
                              .scratch_dir = g_scratch};
        sa_run_result r;
        CHECK(sa_run_case(&req, &lim, &r, &err) == 0);
        CHECK_STR_CONTAINS(r.class_text, "engine_error:");
        sa_run_result_free(&r);
    }

    /* SEGARENA_SANDBOX_OVERHEAD=1: per-case overhead of sa_run_case with a no-op
     * image against a bare `podman run --rm`, medians of 10 (printed, not checked) */
    if (getenv("SEGARENA_SANDBOX_OVERHEAD")) {
        double bare[10], ours[10];
        const char *nop = jobs[NJOBS - 1].image; /* "nothing" */
        for (int i = 0; i < 10; i++) {
            char *b[] = {"podman", "run", "--rm", "--network", "none", (char *)nop, NULL};
            clock_gettime(CLOCK_MONOTONIC, &t0);
            run_argv(b, 1);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            bare[i] = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        }
        for (int i = 0; i < 10; i++) {
            sa_run_limits lim;
            sa_run_limits_default(&lim);
            sa_run_input in[1] = {{"flair", g_input}};
            char cid[16];
            snprintf(cid, sizeof cid, "ovh%d", i);
            sa_run_request req = {.engine = SA_ENGINE_PODMAN, .image = nop, .run_id = g_run,
                                  .case_id = cid, .inputs = in, .n_inputs = 1,
                                  .scratch_dir = g_scratch};
            sa_run_result r;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            sa_run_case(&req, &lim, &r, &err);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            ours[i] = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            sa_run_result_free(&r);
        }
        for (int i = 0; i < 10; i++) /* insertion sort */
            for (int k = i; k > 0 && bare[k] < bare[k - 1]; k--) {
                double t = bare[k]; bare[k] = bare[k - 1]; bare[k - 1] = t;
            }
        for (int i = 0; i < 10; i++)
            for (int k = i; k > 0 && ours[k] < ours[k - 1]; k--) {
                double t = ours[k]; ours[k] = ours[k - 1]; ours[k - 1] = t;
            }
        double mb = (bare[4] + bare[5]) / 2, mo = (ours[4] + ours[5]) / 2;
        printf("overhead: bare podman run --rm %.3f s, sa_run_case %.3f s (median of 10): +%.3f s\n",
               mb, mo, mo - mb);
    }

    for (size_t i = 0; i < NJOBS; i++) {
        sa_run_result_free(&jobs[i].res);
        char *rmi[] = {"podman", "rmi", "-f", jobs[i].image, NULL};
        CHECK(run_argv(rmi, 1) == 0);
    }
    char *rmb[] = {"podman", "rmi", "-f", base, NULL};
    CHECK(run_argv(rmb, 1) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_work);
    if (test_failed_count == 0 && system(cmd) != 0) CHECK(0);
    return test_report("test_sandbox");
}
