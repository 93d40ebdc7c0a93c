/*
 * bench_sandbox.c: SegArena's per-case platform overhead (sa_run_case: staging,
 * engine start/stop, output check, cleanup) against a bare `podman run --rm
 * --network none IMAGE` of the same no-op image (same entrypoint, fork/exec, no
 * shell), medians over N runs each, target ratio <= 1.2; then the intake time
 * (sa_intake_inspect + sa_intake_load) of a ~200 MB docker-archive.
 *
 * The no-op image is FROM scratch with a static build of
 * tests/integration/test_sandbox_prog.c in its "good" mode (reads
 * /input/flair.nii, writes a valid mask). Needs root and podman (exit 77
 * otherwise). Removes every image and file it made.
 *
 * usage: bench_sandbox [--runs N] [--big-mb M] [--no-big] [--cc CC]
 *                      [--prog PROG_SOURCE] [--workdir DIR]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "datasets.h"
#include "submissions.h"

#ifndef BENCH_SANDBOX_PROG
#define BENCH_SANDBOX_PROG "tests/integration/test_sandbox_prog.c"
#endif
#ifndef BENCH_SANDBOX_CC
#define BENCH_SANDBOX_CC "cc"
#endif

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fork/exec, no shell; quiet: stdout and stderr to /dev/null. Exit status or -1. */
static int run_argv(char *const argv[], int quiet) {
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p < 0) return -1;
    if (p == 0) {
        int dn = open("/dev/null", O_RDWR);
        if (dn >= 0) {
            dup2(dn, 0);
            if (quiet) {
                dup2(dn, 1);
                dup2(dn, 2);
            }
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(p, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* a file of random bytes (from /dev/urandom), mb MiB */
static int random_file(const char *path, int mb) {
    int in = open("/dev/urandom", O_RDONLY);
    int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = in >= 0 && out >= 0 ? 0 : -1;
    static char buf[1 << 20];
    for (int i = 0; rc == 0 && i < mb; i++) {
        size_t got = 0;
        while (got < sizeof buf) {
            ssize_t k = read(in, buf + got, sizeof buf - got);
            if (k <= 0) {
                rc = -1;
                break;
            }
            got += (size_t)k;
        }
        if (rc == 0 && write(out, buf, sizeof buf) != (ssize_t)sizeof buf) rc = -1;
    }
    if (in >= 0) close(in);
    if (out >= 0 && close(out) != 0) rc = -1;
    return rc;
}

int main(int argc, char **argv) {
    int runs = 20, big_mb = 200, do_big = 1;
    const char *cc = BENCH_SANDBOX_CC, *prog_src = BENCH_SANDBOX_PROG, *workdir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--big-mb") && i + 1 < argc)
            big_mb = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-big"))
            do_big = 0;
        else if (!strcmp(argv[i], "--cc") && i + 1 < argc)
            cc = argv[++i];
        else if (!strcmp(argv[i], "--prog") && i + 1 < argc)
            prog_src = argv[++i];
        else if (!strcmp(argv[i], "--workdir") && i + 1 < argc)
            workdir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_sandbox [--runs N] [--big-mb M] [--no-big] [--cc CC] "
                            "[--prog PROG_SOURCE] [--workdir DIR]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 1000 || big_mb < 1 || big_mb > 4096) {
        fprintf(stderr, "bench_sandbox: --runs takes 1..1000, --big-mb 1..4096\n");
        return 2;
    }
    if (geteuid() != 0) {
        printf("bench_sandbox: skipped (needs root for rootful podman)\n");
        return 77;
    }
    char *pv[] = {"podman", "--version", NULL};
    if (run_argv(pv, 1) != 0) {
        printf("bench_sandbox: skipped (no podman)\n");
        return 77;
    }

    /* work folder */
    char work[1024];
    if (workdir) {
        snprintf(work, sizeof work, "%s", workdir);
        mkdir(work, 0755);
    } else {
        snprintf(work, sizeof work, "/tmp/bench_sandbox.XXXXXX");
        if (!mkdtemp(work)) {
            perror("bench_sandbox: mkdtemp");
            return 2;
        }
    }
    char ctx[1100], bigctx[1100], scratch[1100], input[1100], prog[1200], cf[1200], path[1300];
    snprintf(ctx, sizeof ctx, "%s/ctx", work);
    snprintf(bigctx, sizeof bigctx, "%s/bigctx", work);
    snprintf(scratch, sizeof scratch, "%s/scratch", work);
    snprintf(input, sizeof input, "%s/flair.nii", work);
    snprintf(prog, sizeof prog, "%s/prog", ctx);
    if (mkdir(ctx, 0755) || mkdir(scratch, 0755)) {
        fprintf(stderr, "bench_sandbox: %s: cannot create work folders\n", work);
        return 2;
    }
    int status = 0;
    char tag[32];
    snprintf(tag, sizeof tag, "b%ld", (long)getpid());
    char nop[128], big[128], loaded[160];
    snprintf(nop, sizeof nop, "localhost/segarena-bench-nop:%s", tag);
    snprintf(big, sizeof big, "localhost/segarena-bench-big:%s", tag);
    loaded[0] = '\0';
    int have_nop = 0, have_big = 0;
    sa_error err = {{0}};

    /* the case: a small uncompressed NIfTI */
    sa_image img = {.size = {16, 16, 8},
                    .spacing = {1, 1, 2},
                    .origin = {0, 0, 0},
                    .direction = {1, 0, 0, 0, 1, 0, 0, 0, 1},
                    .type = SA_PIXEL_I16};
    img.data = calloc(16 * 16 * 8, 2);
    if (!img.data || sa_image_write(input, &img, &err) != 0) {
        fprintf(stderr, "bench_sandbox: %s\n", img.data ? err.msg : "out of memory");
        sa_image_free(&img);
        status = 2;
        goto cleanup;
    }
    sa_image_free(&img);

    /* the no-op image */
    {
        char *ccv[] = {(char *)cc, "-static", "-O1", "-o", prog, (char *)prog_src, NULL};
        if (run_argv(ccv, 0) != 0) {
            printf("bench_sandbox: skipped (cannot link a static program from %s)\n", prog_src);
            status = 77;
            goto cleanup;
        }
        snprintf(cf, sizeof cf, "%s/Containerfile", ctx);
        write_text(cf, "FROM scratch\nCOPY prog /prog\nUSER 1000\nENTRYPOINT [\"/prog\", \"good\"]\n");
        char *b[] = {"podman", "build", "-q", "--pull=never", "-f", cf, "-t", nop, ctx, NULL};
        if (run_argv(b, 1) != 0) {
            fprintf(stderr, "bench_sandbox: podman build of %s failed\n", nop);
            status = 1;
            goto cleanup;
        }
        have_nop = 1;
    }
    /* only this bench's own run ("b<pid>"): the host's other containers, a
     * production worker's included, are never touched */
    char own_prefix[48];
    snprintf(own_prefix, sizeof own_prefix, "segarena-%s-", tag);
    if (sa_engine_sweep(SA_ENGINE_PODMAN, own_prefix, &err) != 0)
        fprintf(stderr, "bench_sandbox: sweep: %s\n", err.msg);

    printf("SegArena sandbox benchmark: per-case overhead, no-op FROM-scratch image, %d runs each\n",
           runs);
    double *bare = calloc((size_t)runs, sizeof *bare), *ours = calloc((size_t)runs, sizeof *ours);
    if (!bare || !ours) {
        free(bare);
        free(ours);
        status = 2;
        goto cleanup;
    }
    /* one warm-up of each (image layers into the page cache) */
    char *bare_argv[] = {"podman", "run", "--rm", "--network", "none", nop, NULL};
    run_argv(bare_argv, 1);
    sa_run_limits lim;
    sa_run_limits_default(&lim);
    lim.wall_seconds = 60;
    sa_run_input in[1] = {{"flair", input}};
    int failed = 0;
    for (int i = -1; i < runs; i++) {
        char case_id[32];
        snprintf(case_id, sizeof case_id, "c%d", i < 0 ? 999 : i);
        sa_run_request req = {.engine = SA_ENGINE_PODMAN, .image = nop, .run_id = tag,
                              .case_id = case_id, .inputs = in, .n_inputs = 1,
                              .scratch_dir = scratch};
        sa_run_result r;
        double t0 = now_s();
        int rc = sa_run_case(&req, &lim, &r, &err);
        double t = now_s() - t0;
        if (rc != 0 || !r.succeeded) {
            fprintf(stderr, "bench_sandbox: sa_run_case %s: %s\n", case_id,
                    rc ? err.msg : r.class_text);
            failed++;
        }
        if (rc == 0) {
            if (r.output_path) { /* the accepted mask and its work folder */
                unlink(r.output_path);
                char *slash = strrchr(r.output_path, '/');
                if (slash) {
                    *slash = '\0';
                    rmdir(r.output_path);
                }
            }
            sa_run_result_free(&r);
        }
        if (i >= 0) ours[i] = t;
        /* interleaved with the bare runs: same conditions for both */
        if (i >= 0) {
            t0 = now_s();
            int brc = run_argv(bare_argv, 1);
            bare[i] = now_s() - t0;
            /* the bare run has no /input: the program exits 50 there after the
             * same start-up; only the engine's own statuses count as failures */
            if (brc < 0 || brc >= 125) {
                fprintf(stderr, "bench_sandbox: bare podman run exited %d\n", brc);
                failed++;
            }
        }
    }
    double mb = median(bare, runs), mo = median(ours, runs);
    double ratio = mo / mb;
    printf("  bare `podman run --rm --network none`   median %.3f s (min %.3f, max %.3f)\n", mb,
           bare[0], bare[runs - 1]);
    printf("  sa_run_case (stage, run, check, clean)  median %.3f s (min %.3f, max %.3f)\n", mo,
           ours[0], ours[runs - 1]);
    printf("  overhead ratio sa_run_case / bare: %.2fx (+%.3f s); target <= 1.2x: %s\n", ratio,
           mo - mb, ratio <= 1.2 ? "PASS" : "MISS");
    free(bare);
    free(ours);
    if (failed) status = 1;

    /* intake of a ~200 MB image */
    if (do_big) {
        char rnd[1200], tar[1200], tarpath[2048], iscratch[1200];
        if (mkdir(bigctx, 0755) != 0) {
            status = 2;
            goto cleanup;
        }
        snprintf(path, sizeof path, "%s/prog", bigctx);
        char *cp[] = {"cp", prog, path, NULL};
        snprintf(rnd, sizeof rnd, "%s/blob", bigctx);
        snprintf(tar, sizeof tar, "%s/big.tar", work);
        snprintf(iscratch, sizeof iscratch, "%s/intake", work);
        mkdir(iscratch, 0755);
        if (run_argv(cp, 0) != 0 || random_file(rnd, big_mb) != 0) {
            fprintf(stderr, "bench_sandbox: cannot prepare the %d MB image context\n", big_mb);
            status = 2;
            goto cleanup;
        }
        snprintf(cf, sizeof cf, "%s/Containerfile", bigctx);
        write_text(cf, "FROM scratch\nCOPY prog /prog\nCOPY blob /blob\nUSER 1000\n"
                       "ENTRYPOINT [\"/prog\", \"good\"]\n");
        char *b[] = {"podman", "build", "-q", "--pull=never", "-f", cf, "-t", big, bigctx, NULL};
        if (run_argv(b, 1) != 0) {
            fprintf(stderr, "bench_sandbox: podman build of %s failed\n", big);
            status = 1;
            goto cleanup;
        }
        have_big = 1;
        char *sv[] = {"podman", "save", "-q", "--format", "docker-archive", "-o", tar, big, NULL};
        if (run_argv(sv, 1) != 0) {
            fprintf(stderr, "bench_sandbox: podman save failed\n");
            status = 1;
            goto cleanup;
        }
        /* the load must be a real one: drop the built image first */
        char *rmi[] = {"podman", "rmi", "-f", big, NULL};
        run_argv(rmi, 1);
        have_big = 0;
        struct stat st;
        stat(tar, &st);
        sa_intake_limits ilim;
        sa_intake_limits_default(&ilim);
        sa_image_info info;
        if (sa_intake_image_name(tag, loaded, sizeof loaded, &err) != 0) {
            fprintf(stderr, "bench_sandbox: %s\n", err.msg);
            status = 2;
            goto cleanup;
        }
        double t0 = now_s();
        int irc = sa_intake_inspect(tar, &ilim, iscratch, &info, tarpath, sizeof tarpath, &err);
        double t1 = now_s();
        int lrc = irc == 0 ? sa_intake_load(tarpath, &info, loaded, NULL, &err) : -1;
        double t2 = now_s();
        if (irc != 0 || lrc != 0) {
            fprintf(stderr, "bench_sandbox: intake of %s: %s\n", tar, err.msg);
            if (irc == 0) loaded[0] = '\0';
            status = 1;
            goto cleanup;
        }
        printf("SegArena intake of a %.0f MB docker-archive (%d MiB of random bytes + a static binary)\n",
               (double)st.st_size / 1e6, big_mb);
        printf("  sa_intake_inspect %.3f s + sa_intake_load %.3f s = %.3f s\n", t1 - t0, t2 - t1,
               t2 - t0);
    }

cleanup:
    if (loaded[0]) {
        char *r[] = {"podman", "rmi", "-f", loaded, NULL};
        run_argv(r, 1);
    }
    if (have_big) {
        char *r[] = {"podman", "rmi", "-f", big, NULL};
        run_argv(r, 1);
    }
    if (have_nop) {
        char *r[] = {"podman", "rmi", "-f", nop, NULL};
        run_argv(r, 1);
    }
    {
        char *r[] = {"rm", "-rf", work, NULL};
        run_argv(r, 1);
    }
    return status;
}
