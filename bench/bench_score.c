/*
 * bench_score.c: the benchmark that backs SegArena's performance claims.
 *
 * Why it exists: the project promises (issue "performance") that the metric engine is
 * at least 30x faster than the equivalent ITK pipeline on every case size, that the
 * whole `segarena score` process on a 512x512x300 .nii.gz pair takes at most twice what
 * zlib needs just to inflate the two files, and that it beats `plastimatch dice --all`
 * by 10x (5x on the MS-sized case). This program measures all of that on seeded
 * phantoms (phantoms.c) and, before printing any ratio, checks that SegArena and ITK
 * (itk_peer.cxx) agree on every value whose definition they share; any disagreement is
 * printed loudly and makes the exit status 1.
 *
 * Usage: bench_score [--sizes ms,pet,ct] [--segarena PATH] [--plastimatch PATH]
 *                    [--workdir DIR] [--repeat N] [--quick] [--no-process] [--keep]
 *                    [--itk-double] [--strict]
 * Exit status: 0 all values agree (and, with --strict, every target is met); 1 a
 * disagreement or a failed run; 2 bad usage; 3 (--strict only) a target missed or
 * not measured (no segarena or plastimatch binary, a failed plastimatch run,
 * --no-process).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets.h"
#include "itk_peer.h"
#include "metrics.h"
#include "phantoms.h"

extern char **environ;

#ifndef BENCH_SEGARENA_DEFAULT
#define BENCH_SEGARENA_DEFAULT ""
#endif

/* Slow runs are timed once; faster ones are repeated and the best time kept. In
 * process: an ITK pipeline or a read of both files over SLOW_RUN_S; a whole process
 * (segarena, plastimatch) over SLOW_PROCESS_S. */
#define SLOW_RUN_S 2.0
#define SLOW_PROCESS_S (3 * SLOW_RUN_S)

typedef struct options {
    int sizes[3]; /* ms, pet, ct */
    const char *segarena;
    const char *plastimatch;
    const char *workdir;
    int repeat;
    int quick;
    int process;
    int keep;
    int strict;
    int itk_double;
} options;

static int g_disagreements = 0;
static int g_failures = 0;
static int g_misses = 0;

/* ---------------------------------------------------------------- utilities */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "bench_score: FAILED: %s: %s\n", what, detail);
    printf("  !! FAILED: %s: %s\n", what, detail);
    g_failures++;
}

static int file_exists_exec(const char *path)
{
    return path && *path && access(path, X_OK) == 0;
}

/* First executable `name` on $PATH, copied into buf; 0 when found. */
static int find_on_path(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    if (!path)
        return -1;
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t)(end - path) : strlen(path);
        if (n > 0 && (size_t)snprintf(buf, len, "%.*s/%s", (int)n, path, name) < len &&
            file_exists_exec(buf))
            return 0;
        if (!end)
            break;
        path = end + 1;
    }
    return -1;
}

/* The segarena binary: --segarena, the build tree's (set by CMake), ../segarena
 * beside this program's folder (a build tree: bench/bench_score and segarena at its
 * top, where cli/CMakeLists.txt puts it), then $PATH. */
static int find_segarena(const char *given, char *buf, size_t len)
{
    if (given) {
        snprintf(buf, len, "%s", given);
        return file_exists_exec(buf) ? 0 : -1;
    }
    if (file_exists_exec(BENCH_SEGARENA_DEFAULT)) {
        snprintf(buf, len, "%s", BENCH_SEGARENA_DEFAULT);
        return 0;
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            if ((size_t)snprintf(buf, len, "%s/../segarena", self) < len &&
                file_exists_exec(buf))
                return 0;
        }
    }
    return find_on_path("segarena", buf, len);
}

/* Runs argv with stdout and stderr sent to files; returns the wall-clock seconds, or a
 * negative value when it could not start or did not exit with status 0. */
static double run_process(char *const argv[], const char *out_path, const char *err_path,
                          char *why, size_t why_len)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    double t0 = now_s();
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        snprintf(why, why_len, "cannot start %s: %s", argv[0], strerror(rc));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            snprintf(why, why_len, "waitpid: %s", strerror(errno));
            return -1;
        }
    }
    double t = now_s() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, why_len, "%s exited with %s %d (stderr in %s)", argv[0],
                 WIFEXITED(status) ? "status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), err_path);
        return -1;
    }
    return t;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len + 1 < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf)
        buf[len] = 0;
    return buf;
}

/* The number after the first `key` (and a ':' or '=') in text; NAN when absent/null. */
static double number_after(const char *text, const char *key)
{
    const char *p = text ? strstr(text, key) : NULL;
    if (!p)
        return NAN;
    p += strlen(key);
    while (*p == '"' || *p == ' ' || *p == ':' || *p == '=' || *p == '\t')
        p++;
    char *end;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

/* ---------------------------------------------------------------- agreement */

typedef struct checker {
    const char *what;
    double worst_rel; /* largest relative difference among distances */
    int bad;
} checker;

static void check_count(checker *c, const char *name, uint64_t a, uint64_t b)
{
    if (a != b) {
        printf("  !! DISAGREEMENT (%s) %s: %llu vs %llu\n", c->what, name, (unsigned long long)a,
               (unsigned long long)b);
        c->bad++;
    }
}

static void check_value(checker *c, const char *name, sa_value a, double b, double rel_tol,
                        int is_distance)
{
    if (a.reason) {
        printf("  !! DISAGREEMENT (%s) %s: undefined (%s) vs %.17g\n", c->what, name, a.reason, b);
        c->bad++;
        return;
    }
    double diff = fabs(a.value - b);
    double scale = fmax(fabs(a.value), fabs(b));
    double rel = scale > 0 ? diff / scale : 0.0;
    if (is_distance && rel > c->worst_rel)
        c->worst_rel = rel;
    if (!(diff <= rel_tol * scale || diff <= 1e-12)) {
        printf("  !! DISAGREEMENT (%s) %s: %.17g vs %.17g (rel %.3g, tolerance %.1g)\n", c->what,
               name, a.value, b, rel, rel_tol);
        c->bad++;
    }
}

/* Overlap ratios come from the same integer counts: only the last bits may differ.
 * Distances: ITK's float maps round each squared distance to float (about 1e-7, a few
 * roundings accumulate: 0.7 mm comes out as 0.70000076), double maps are exact to a few
 * ulps. NSD counts distances <= tau; none of the phantoms' distances lies within float
 * rounding of tau = 1 mm, so it must agree exactly. */
#define TOL_OVERLAP 1e-12
#define TOL_NSD 1e-12
static double g_tol_distance = 1e-5;

/* SegArena vs ITK on every value both define the same way. */
static int compare_with_itk(const char *what, const sa_pair_metrics *m, const bench_itk_result *r,
                            double *worst_rel)
{
    checker c = {what, 0.0, 0};
    check_count(&c, "tp", m->tp, r->tp);
    check_count(&c, "fp", m->fp, r->fp);
    check_count(&c, "fn", m->fn, r->fn);
    check_count(&c, "tn", m->tn, r->tn);
    check_count(&c, "ref_voxels", m->ref_voxels, r->ref_voxels);
    check_count(&c, "pred_voxels", m->pred_voxels, r->pred_voxels);
    check_count(&c, "ref_surface_voxels", m->ref_surface_voxels, r->ref_surface_voxels);
    check_count(&c, "pred_surface_voxels", m->pred_surface_voxels, r->pred_surface_voxels);
    check_value(&c, "dice", m->dice, r->dice, TOL_OVERLAP, 0);
    check_value(&c, "jaccard", m->jaccard, r->jaccard, TOL_OVERLAP, 0);
    check_value(&c, "sensitivity", m->sensitivity, r->sensitivity, TOL_OVERLAP, 0);
    check_value(&c, "specificity", m->specificity, r->specificity, TOL_OVERLAP, 0);
    check_value(&c, "ppv", m->ppv, r->ppv, TOL_OVERLAP, 0);
    check_value(&c, "hd", m->hd, r->hd, g_tol_distance, 1);
    check_value(&c, "hd95", m->hd95, r->hd95, g_tol_distance, 1);
    check_value(&c, "assd", m->assd, r->assd, g_tol_distance, 1);
    check_value(&c, "masd", m->masd, r->masd, g_tol_distance, 1);
    check_value(&c, "hd_pred_to_ref", m->hd_pred_to_ref, r->hd_pred_to_ref, g_tol_distance, 1);
    check_value(&c, "hd_ref_to_pred", m->hd_ref_to_pred, r->hd_ref_to_pred, g_tol_distance, 1);
    check_value(&c, "p95_pred_to_ref", m->p95_pred_to_ref, r->p95_pred_to_ref, g_tol_distance, 1);
    check_value(&c, "p95_ref_to_pred", m->p95_ref_to_pred, r->p95_ref_to_pred, g_tol_distance, 1);
    check_value(&c, "nsd", m->nsd, r->nsd, TOL_NSD, 0);
    if (worst_rel && c.worst_rel > *worst_rel)
        *worst_rel = c.worst_rel;
    return c.bad;
}

/* SegArena with 1 thread vs all cores: the same definitions, only the order of a few
 * sums may change. */
static int compare_engine_runs(const sa_pair_metrics *a, const sa_pair_metrics *b)
{
    bench_itk_result as_itk;
    memset(&as_itk, 0, sizeof as_itk);
    as_itk.tp = b->tp, as_itk.fp = b->fp, as_itk.fn = b->fn, as_itk.tn = b->tn;
    as_itk.ref_voxels = b->ref_voxels, as_itk.pred_voxels = b->pred_voxels;
    as_itk.ref_surface_voxels = b->ref_surface_voxels;
    as_itk.pred_surface_voxels = b->pred_surface_voxels;
    as_itk.dice = b->dice.value, as_itk.jaccard = b->jaccard.value;
    as_itk.sensitivity = b->sensitivity.value, as_itk.specificity = b->specificity.value;
    as_itk.ppv = b->ppv.value;
    as_itk.hd = b->hd.value, as_itk.hd95 = b->hd95.value, as_itk.assd = b->assd.value;
    as_itk.masd = b->masd.value, as_itk.nsd = b->nsd.value;
    as_itk.hd_pred_to_ref = b->hd_pred_to_ref.value;
    as_itk.hd_ref_to_pred = b->hd_ref_to_pred.value;
    as_itk.p95_pred_to_ref = b->p95_pred_to_ref.value;
    as_itk.p95_ref_to_pred = b->p95_ref_to_pred.value;
    return compare_with_itk("SegArena 1 thread vs all cores", a, &as_itk, NULL);
}

static int compare_itk_runs(const bench_itk_result *a, const bench_itk_result *b)
{
    sa_pair_metrics m;
    memset(&m, 0, sizeof m);
    m.tp = a->tp, m.fp = a->fp, m.fn = a->fn, m.tn = a->tn;
    m.ref_voxels = a->ref_voxels, m.pred_voxels = a->pred_voxels;
    m.ref_surface_voxels = a->ref_surface_voxels, m.pred_surface_voxels = a->pred_surface_voxels;
#define SET(f) m.f.value = a->f
    SET(dice);
    SET(jaccard);
    SET(sensitivity);
    SET(specificity);
    SET(ppv);
    SET(hd);
    SET(hd95);
    SET(assd);
    SET(masd);
    SET(nsd);
    SET(hd_pred_to_ref);
    SET(hd_ref_to_pred);
    SET(p95_pred_to_ref);
    SET(p95_ref_to_pred);
#undef SET
    return compare_with_itk("ITK 1 thread vs all cores", &m, b, NULL);
}

/* ---------------------------------------------------------------- targets */

static const char *verdict(int pass)
{
    return pass ? "PASS" : "MISS";
}

typedef struct target_line {
    char text[200];
    int pass; /* 1 met, 0 missed, -1 not applicable, -2 not measured */
} target_line;

static target_line g_targets[32];
static int g_ntargets = 0;
static int g_unmeasured = 0; /* targets not measured: misses under --strict */

static const char *target_verdict(int pass)
{
    return pass == -2 ? "NOT MEASURED" : pass < 0 ? "-" : verdict(pass);
}

static void add_target(int pass, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void add_target(int pass, const char *fmt, ...)
{
    if (g_ntargets >= (int)(sizeof g_targets / sizeof g_targets[0]))
        return;
    target_line *t = &g_targets[g_ntargets++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->text, sizeof t->text, fmt, ap);
    va_end(ap);
    t->pass = pass;
    if (pass == 0)
        g_misses++;
    if (pass == -2)
        g_unmeasured++;
}

/* ---------------------------------------------------------------- compute benchmark */

typedef struct engine_timing {
    double best_s;
    double cpu_s; /* process CPU of the best run */
    sa_pair_metrics m;
} engine_timing;

static int time_engine(const bench_phantom *ph, int threads, int repeat, engine_timing *out)
{
    sa_grid g = {ph->size[0], ph->size[1], ph->size[2], {ph->spacing[0], ph->spacing[1], ph->spacing[2]}};
    sa_score_options opt;
    sa_score_options_default(&opt);
    opt.threads = threads;
    opt.device = SA_DEVICE_CPU; /* the CPU engine, even in a CUDA build with a GPU */
    out->best_s = INFINITY;
    for (int i = 0; i < repeat; i++) {
        sa_error err = {{0}};
        sa_pair_metrics m;
        double c0 = cpu_s(), t0 = now_s();
        if (sa_score_pair(ph->ref, ph->pred, &g, &opt, &m, &err) != 0) {
            fail("sa_score_pair", err.msg);
            return -1;
        }
        double t = now_s() - t0, c = cpu_s() - c0;
        if (m.gpu_used) {
            fail("sa_score_pair", "ran on the GPU although asked for the CPU");
            return -1;
        }
        if (t < out->best_s) {
            out->best_s = t;
            out->cpu_s = c;
            out->m = m;
        }
    }
    return 0;
}

static int time_itk(const bench_phantom *ph, int threads, int double_maps, int repeat,
                    bench_itk_result *best)
{
    best->t_total = INFINITY;
    for (int i = 0; i < repeat; i++) {
        bench_itk_result r;
        if (bench_itk_score(ph->ref, ph->pred, ph->size, ph->spacing, 1.0, threads, double_maps,
                            &r) != 0) {
            fail("ITK pipeline", r.error);
            return -1;
        }
        if (r.t_total < best->t_total)
            *best = r;
        if (r.t_total > SLOW_RUN_S)
            break;
    }
    return 0;
}

static void print_value_row(const char *name, sa_value a, double b)
{
    if (a.reason)
        printf("  %-22s %22s %22.15g\n", name, a.reason, b);
    else
        printf("  %-22s %22.15g %22.15g\n", name, a.value, b);
}

static void print_itk_breakdown(const char *label, const bench_itk_result *r)
{
    printf("  ITK %-13s import%s %.3f  overlap %.3f  contours %.3f  maurer maps %.3f  "
           "sample+stats %.3f  = %.3f s  (CPU/wall %.2f)\n",
           label, r->padded ? "+pad" : "", r->t_import, r->t_overlap, r->t_contour, r->t_maurer,
           r->t_stats, r->t_total, r->cpu_total / r->t_total);
}

/* The comparison on one case; *engine gets SegArena's 1-thread values. */
static int compute_benchmark(const options *o, const bench_phantom *ph, const char *name,
                             sa_pair_metrics *engine)
{
    int cores = sa_cpu_count();
    engine_timing e1, ea;
    bench_itk_result i1, ia;
    if (time_engine(ph, 1, o->repeat, &e1) || time_engine(ph, 0, o->repeat, &ea) ||
        time_itk(ph, 1, o->itk_double, o->repeat, &i1) ||
        time_itk(ph, 0, o->itk_double, o->repeat, &ia))
        return -1;
    *engine = e1.m;

    printf("\n  %-22s %22s %22s\n", "value", "SegArena", "ITK 5.2");
    printf("  %-22s %22llu %22llu\n", "ref voxels", (unsigned long long)e1.m.ref_voxels,
           (unsigned long long)i1.ref_voxels);
    printf("  %-22s %22llu %22llu\n", "pred voxels", (unsigned long long)e1.m.pred_voxels,
           (unsigned long long)i1.pred_voxels);
    printf("  %-22s %22llu %22llu\n", "ref surface voxels",
           (unsigned long long)e1.m.ref_surface_voxels, (unsigned long long)i1.ref_surface_voxels);
    printf("  %-22s %22llu %22llu\n", "pred surface voxels",
           (unsigned long long)e1.m.pred_surface_voxels,
           (unsigned long long)i1.pred_surface_voxels);
    print_value_row("dice", e1.m.dice, i1.dice);
    print_value_row("jaccard", e1.m.jaccard, i1.jaccard);
    print_value_row("sensitivity", e1.m.sensitivity, i1.sensitivity);
    print_value_row("specificity", e1.m.specificity, i1.specificity);
    print_value_row("ppv", e1.m.ppv, i1.ppv);
    print_value_row("hd (mm)", e1.m.hd, i1.hd);
    print_value_row("hd95 (mm)", e1.m.hd95, i1.hd95);
    print_value_row("assd (mm)", e1.m.assd, i1.assd);
    print_value_row("masd (mm)", e1.m.masd, i1.masd);
    print_value_row("nsd (tau 1 mm)", e1.m.nsd, i1.nsd);

    double worst = 0.0;
    int bad = compare_with_itk("SegArena 1 thread vs ITK", &e1.m, &i1, &worst);
    bad += compare_with_itk("SegArena all cores vs ITK", &ea.m, &i1, &worst);
    bad += compare_engine_runs(&e1.m, &ea.m);
    bad += compare_itk_runs(&i1, &ia);
    if (bad) {
        printf("  !! %d DISAGREEMENT(S) between SegArena and ITK on case %s\n", bad, name);
        fprintf(stderr, "bench_score: %d disagreement(s) on case %s (see above)\n", bad, name);
        g_disagreements += bad;
    } else {
        printf("  agreement: counts exact, overlap within %.0e, NSD within %.0e, distances "
               "within %.0e relative (largest seen %.1e)%s\n",
               TOL_OVERLAP, TOL_NSD, g_tol_distance, worst,
               i1.padded ? "; masks touch the image border (ITK padded)" : "");
    }

    printf("\n  compute only (masks in memory, full metric set)\n");
    printf("  %-26s %12s %12s %10s\n", "", "SegArena s", "ITK s", "ITK/SegArena");
    printf("  %-26s %12.4f %12.3f %9.1fx   (CPU/wall: SegArena %.2f, ITK %.2f)\n", "1 thread",
           e1.best_s, i1.t_total, i1.t_total / e1.best_s, e1.cpu_s / e1.best_s,
           i1.cpu_total / i1.t_total);
    char all[64];
    snprintf(all, sizeof all, "all cores (%d)", cores);
    printf("  %-26s %12.4f %12.3f %9.1fx   (CPU/wall: SegArena %.2f, ITK %.2f)\n", all,
           ea.best_s, ia.t_total, ia.t_total / ea.best_s, ea.cpu_s / ea.best_s,
           ia.cpu_total / ia.t_total);
    printf("  SegArena speed-up from threads: %.2fx\n", e1.best_s / ea.best_s);
    print_itk_breakdown("1 thread:", &i1);
    print_itk_breakdown("all cores:", &ia);

    double ratio = i1.t_total / e1.best_s;
    if (o->quick)
        add_target(-1, "%-4s compute, 1 thread: ITK/SegArena = %.1fx (target >= 30x; n/a at --quick sizes)",
                   name, ratio);
    else
        add_target(ratio >= 30.0, "%-4s compute, 1 thread: ITK/SegArena = %.1fx (target >= 30x)", name,
                   ratio);
    return 0;
}

/* ---------------------------------------------------------------- whole process */

/* zlib: the floor. Both files read and inflated completely (gzread). */
static double zlib_inflate_both(char *const paths[2], size_t expect, uint8_t *buf, size_t cap)
{
    double t0 = now_s();
    for (int i = 0; i < 2; i++) {
        gzFile f = gzopen(paths[i], "rb");
        if (!f)
            return -1;
        gzbuffer(f, 1 << 18);
        size_t total = 0;
        for (;;) {
            size_t want = cap - total;
            if (want > (1u << 30))
                want = 1u << 30;
            if (want == 0)
                break;
            int got = gzread(f, buf + total, (unsigned)want);
            if (got < 0) {
                gzclose(f);
                return -1;
            }
            if (got == 0)
                break;
            total += (size_t)got;
        }
        gzclose(f);
        if (total < expect)
            return -1;
    }
    return now_s() - t0;
}

/* libdeflate: whole file into memory, then every gzip member inflated. */
static double libdeflate_inflate_both(char *const paths[2], uint8_t *buf, size_t cap)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (!d)
        return -1;
    double t0 = now_s();
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            libdeflate_free_decompressor(d);
            return -1;
        }
        struct stat st;
        if (fstat(fileno(f), &st) != 0) {
            fclose(f);
            libdeflate_free_decompressor(d);
            return -1;
        }
        size_t len = (size_t)st.st_size;
        uint8_t *in = malloc(len ? len : 1);
        if (!in || fread(in, 1, len, f) != len) {
            free(in);
            fclose(f);
            libdeflate_free_decompressor(d);
            return -1;
        }
        fclose(f);
        size_t in_pos = 0, out_pos = 0;
        while (in_pos < len) {
            size_t used = 0, produced = 0;
            enum libdeflate_result r = libdeflate_gzip_decompress_ex(
                d, in + in_pos, len - in_pos, buf + out_pos, cap - out_pos, &used, &produced);
            if (r != LIBDEFLATE_SUCCESS) {
                free(in);
                libdeflate_free_decompressor(d);
                return -1;
            }
            in_pos += used;
            out_pos += produced;
        }
        free(in);
    }
    double t = now_s() - t0;
    libdeflate_free_decompressor(d);
    return t;
}

/* Reads both files with the given reader and checks the voxels are the masks. */
static double read_both(char *const paths[2], sa_reader reader, const bench_phantom *ph,
                        char *why, size_t why_len)
{
    const uint8_t *want[2] = {ph->ref, ph->pred};
    size_t n = ph->size[0] * ph->size[1] * ph->size[2];
    double total = 0;
    for (int i = 0; i < 2; i++) {
        sa_image img;
        sa_error err = {{0}};
        double t0 = now_s();
        if (sa_image_read_with(paths[i], reader, &img, &err) != 0) {
            snprintf(why, why_len, "%s", err.msg);
            return -1;
        }
        total += now_s() - t0;
        int ok = img.type == SA_PIXEL_U8 && img.size[0] == ph->size[0] &&
                 img.size[1] == ph->size[1] && img.size[2] == ph->size[2] &&
                 memcmp(img.data, want[i], n) == 0;
        for (int a = 0; a < 3; a++)
            ok = ok && fabs(img.spacing[a] - ph->spacing[a]) <= 1e-6 * ph->spacing[a];
        sa_image_free(&img);
        if (!ok) {
            snprintf(why, why_len, "%s: read back differs from what was written", paths[i]);
            return -1;
        }
    }
    return total;
}

static int write_mask(const char *path, const bench_phantom *ph, const uint8_t *mask)
{
    sa_image img;
    memset(&img, 0, sizeof img);
    for (int a = 0; a < 3; a++) {
        img.size[a] = ph->size[a];
        img.spacing[a] = ph->spacing[a];
        img.direction[a * 3 + a] = 1.0;
    }
    img.type = SA_PIXEL_U8;
    img.data = (void *)mask;
    sa_error err = {{0}};
    if (sa_image_write(path, &img, &err) != 0) {
        fail("sa_image_write", err.msg);
        return -1;
    }
    return 0;
}

/* best of `repeat` runs (one run when slow); negative on failure */
static double best_process(char *const argv[], const char *out, const char *err, int repeat,
                           char *why, size_t why_len)
{
    double best = INFINITY;
    for (int i = 0; i < repeat; i++) {
        double t = run_process(argv, out, err, why, why_len);
        if (t < 0)
            return t;
        if (t < best)
            best = t;
        if (t > SLOW_PROCESS_S)
            break;
    }
    return best;
}

/* The engine on the phantom's masks with the geometry read back from the written file:
 * NIfTI stores spacing as float32 (0.7 mm becomes 0.699999988 mm), so this, not the
 * in-memory phantom, is what `segarena score` must reproduce. */
static int engine_on_file_grid(const bench_phantom *ph, const char *path, sa_pair_metrics *m)
{
    sa_image img;
    sa_error err = {{0}};
    if (sa_image_read(path, &img, &err) != 0) {
        fail("sa_image_read", err.msg);
        return -1;
    }
    sa_grid g;
    sa_image_grid(&img, &g);
    sa_image_free(&img);
    sa_score_options opt;
    sa_score_options_default(&opt);
    opt.device = SA_DEVICE_CPU; /* as the process is run (--device cpu); the GPU gives the same bits */
    if (sa_score_pair(ph->ref, ph->pred, &g, &opt, m, &err) != 0) {
        fail("sa_score_pair", err.msg);
        return -1;
    }
    return 0;
}

/* The whole-process targets of a case: target 2 (CT: the segarena process against the
 * zlib floor) and target 3 (plastimatch / segarena, where the case's size asks for a
 * ratio). ts, tz and tp are the times (ts or tp <= 0: not measured, why_ts / why_tp
 * say why). A target that applies but was not measured is listed as such and counts
 * as a miss under --strict; at --quick sizes nothing is judged. */
static void process_targets(const options *o, const char *name, size_t n, double ts, double tz,
                            double tp, const char *why_ts, const char *why_tp)
{
    const char *quick = o->quick ? "; n/a at --quick sizes" : "";
    int not_measured = o->quick ? -1 : -2;
    if (strcmp(name, "ct") == 0) {
        if (ts <= 0)
            add_target(not_measured, "%-4s segarena process vs zlib inflate floor (target <= 2x): not measured: %s%s",
                       name, why_ts, quick);
        else if (o->quick)
            add_target(-1, "%-4s segarena process = %.2fx zlib inflate floor (target <= 2x; n/a at --quick sizes)",
                       name, ts / tz);
        else
            add_target(ts <= 2.0 * tz, "%-4s segarena process = %.2fx zlib inflate floor (target <= 2x)",
                       name, ts / tz);
    }
    double need = n > 20000000 ? 10.0 : (strcmp(name, "ms") == 0 ? 5.0 : 0.0);
    if (ts <= 0 || tp <= 0) {
        if (need > 0.0 || o->quick)
            add_target(not_measured, "%-4s plastimatch/segarena: not measured: %s%s", name,
                       ts <= 0 ? why_ts : why_tp, quick);
    } else if (o->quick || need == 0.0) {
        add_target(-1, "%-4s plastimatch/segarena = %.1fx (%s)", name, tp / ts,
                   o->quick ? "n/a at --quick sizes" : "no target for this size");
    } else {
        add_target(tp / ts >= need, "%-4s plastimatch/segarena = %.1fx (target >= %.0fx)", name,
                   tp / ts, need);
    }
}

/* plastimatch's `dice --all` counts (TP, TN, FN, FP, printed as integers) must be the
 * engine's, and its Dice the same count ratio: it computes it in float (three
 * roundings, at most 1.8e-7 for a value <= 1) and prints 6 decimals (5e-7). */
#define TOL_PLASTIMATCH_DICE 7e-7

static int check_plastimatch(const char *name, const char *txt, const sa_pair_metrics *m,
                             const char *out_path)
{
    const char *keys[4] = {"TP:", "TN:", "FN:", "FP:"};
    const uint64_t want[4] = {m->tp, m->tn, m->fn, m->fp};
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        double v = number_after(txt, keys[i]);
        if (!(v == (double)want[i])) {
            printf("  !! DISAGREEMENT plastimatch vs engine: %.2s %.17g vs %llu (output in %s)\n", keys[i], v,
                   (unsigned long long)want[i], out_path);
            bad++;
        }
    }
    double dice = number_after(txt, "DICE:");
    double ours = m->dice.reason ? 0.0 : m->dice.value; /* plastimatch says 0 for two empty masks */
    if (!(fabs(dice - ours) <= TOL_PLASTIMATCH_DICE)) {
        printf("  !! DISAGREEMENT plastimatch vs engine: Dice %.17g vs %.17g (tolerance %.0e; output in %s)\n",
               dice, ours, TOL_PLASTIMATCH_DICE, out_path);
        bad++;
    }
    if (bad) {
        fprintf(stderr, "bench_score: plastimatch's counts or Dice differ from the engine's on %s\n", name);
        g_disagreements += bad;
    }
    return bad;
}

static void process_benchmark(const options *o, const bench_phantom *ph, const char *name,
                              const char *workdir, const char *segarena, const char *plastimatch,
                              const sa_pair_metrics *engine)
{
    char ref_path[4096], pred_path[4096], out_path[4200], err_path[4200], why[1024];
    if (snprintf(ref_path, sizeof ref_path, "%s/%s_ref.nii.gz", workdir, name) >= (int)sizeof ref_path ||
        snprintf(pred_path, sizeof pred_path, "%s/%s_pred.nii.gz", workdir, name) >= (int)sizeof pred_path) {
        fail("whole process", "--workdir path too long");
        return;
    }
    char *paths[2] = {ref_path, pred_path};
    size_t n = ph->size[0] * ph->size[1] * ph->size[2];

    printf("\n  whole process (files %s, %s; warm page cache)\n", ref_path, pred_path);
    double t0 = now_s();
    if (write_mask(ref_path, ph, ph->ref) || write_mask(pred_path, ph, ph->pred))
        return;
    struct stat s1, s2;
    stat(ref_path, &s1);
    stat(pred_path, &s2);
    printf("  %-44s %9.3f s   (%.3f + %.3f MB compressed, %.1f MB each inflated)\n",
           "write both .nii.gz (sa_image_write)", now_s() - t0, (double)s1.st_size / 1e6,
           (double)s2.st_size / 1e6, (double)n / 1e6);

    size_t cap = n + (1 << 20); /* header, extensions */
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fail("whole process", "out of memory");
        return;
    }
    double tz = INFINITY, td = INFINITY;
    for (int i = 0; i < o->repeat; i++) {
        double t = zlib_inflate_both(paths, n, buf, cap);
        if (t < 0) {
            fail("zlib inflate", ref_path);
            free(buf);
            return;
        }
        tz = fmin(tz, t);
        t = libdeflate_inflate_both(paths, buf, cap);
        if (t < 0) {
            fail("libdeflate inflate", ref_path);
            free(buf);
            return;
        }
        td = fmin(td, t);
    }
    free(buf);
    printf("  %-44s %9.3f s   <- the floor\n", "zlib: read + inflate both (gzread)", tz);
    printf("  %-44s %9.3f s\n", "libdeflate: read + inflate both", td);

    double tn = INFINITY, ti = INFINITY;
    for (int i = 0; i < o->repeat; i++) {
        double t = read_both(paths, SA_READER_NATIVE, ph, why, sizeof why);
        if (t < 0) {
            fail("sa_image_read (native)", why);
            break;
        }
        tn = fmin(tn, t);
        if (t > SLOW_RUN_S)
            break;
    }
    for (int i = 0; i < o->repeat; i++) {
        double t = read_both(paths, SA_READER_ITK, ph, why, sizeof why);
        if (t < 0) {
            fail("sa_image_read (ITK)", why);
            break;
        }
        ti = fmin(ti, t);
        if (t > SLOW_RUN_S)
            break;
    }
    if (isfinite(tn))
        printf("  %-44s %9.3f s\n", "read both, SegArena native NIfTI reader", tn);
    if (isfinite(ti))
        printf("  %-44s %9.3f s\n", "read both, ITK reader (ImageFileReader)", ti);

    double ts = -1;
    if (segarena) {
        /* --device cpu: the CPU engine's process on every build (auto would take a GPU
         * for every case size here in a CUDA build; bench_gpu is the GPU's benchmark) */
        char *argv[] = {(char *)segarena, "score", ref_path, pred_path, "--json", "--device", "cpu", NULL};
        snprintf(out_path, sizeof out_path, "%s/%s_segarena.json", workdir, name);
        snprintf(err_path, sizeof err_path, "%s/%s_segarena.err", workdir, name);
        ts = best_process(argv, out_path, err_path, o->repeat, why, sizeof why);
        if (ts < 0) {
            fail("segarena score", why);
        } else {
            printf("  %-44s %9.3f s   = %.2fx the zlib floor\n", "segarena score A B --json --device cpu",
                   ts, ts / tz);
            char *json = read_text(out_path);
            double dice = number_after(json, "\"dice\"");
            double hd95 = number_after(json, "\"hd95\"");
            free(json);
            sa_pair_metrics ref_m;
            if (engine_on_file_grid(ph, ref_path, &ref_m) != 0)
                return;
            if (!(fabs(dice - ref_m.dice.value) <= 1e-12) ||
                !(fabs(hd95 - ref_m.hd95.value) <= 1e-9 * fmax(1.0, hd95))) {
                printf("  !! DISAGREEMENT segarena process vs engine: dice %.17g vs %.17g, hd95 %.17g "
                       "vs %.17g (JSON in %s)\n",
                       dice, ref_m.dice.value, hd95, ref_m.hd95.value, out_path);
                fprintf(stderr, "bench_score: segarena score output differs from the engine on %s\n",
                        name);
                g_disagreements++;
            }
        }
    } else {
        printf("  %-44s   skipped: no segarena binary (build target segarena or pass --segarena)\n",
               "segarena score");
    }

    double tp = -1;
    int plm_differs = 0;
    if (plastimatch) {
        char *argv[] = {(char *)plastimatch, "dice", "--all", ref_path, pred_path, NULL};
        snprintf(out_path, sizeof out_path, "%s/%s_plastimatch.txt", workdir, name);
        snprintf(err_path, sizeof err_path, "%s/%s_plastimatch.err", workdir, name);
        tp = best_process(argv, out_path, err_path, o->repeat, why, sizeof why);
        if (tp < 0) {
            printf("  plastimatch dice --all failed: %s\n", why);
        } else {
            char *txt = read_text(out_path);
            double dice = number_after(txt, "DICE:");
            double hd = number_after(txt, "Hausdorff distance (boundary)");
            printf("  %-44s %9.3f s   (its Dice %.6f, boundary HD %.3f mm)",
                   "plastimatch dice --all A B (process)", tp, dice, hd);
            if (ts > 0)
                printf("   = %.1fx segarena", tp / ts);
            printf("\n");
            plm_differs = check_plastimatch(name, txt, engine, out_path) != 0;
            free(txt);
        }
    } else {
        printf("  %-44s   skipped: plastimatch not installed\n", "plastimatch dice --all");
    }

    if (!o->keep) { /* outputs of failed runs stay for inspection */
        unlink(ref_path);
        unlink(pred_path);
        const char *outputs[] = {"segarena.json", "segarena.err", "plastimatch.txt",
                                 "plastimatch.err"};
        for (int i = 0; i < 4; i++) {
            if ((i < 2 && ts < 0) || (i >= 2 && (tp < 0 || plm_differs)))
                continue;
            snprintf(out_path, sizeof out_path, "%s/%s_%s", workdir, name, outputs[i]);
            unlink(out_path);
        }
    }

    process_targets(o, name, n, ts, tz, tp,
                    segarena ? "segarena score failed" : "no segarena binary",
                    plastimatch ? "plastimatch dice --all failed" : "plastimatch not installed");
}

/* Other processes on the machine skew the timings, the multi-threaded ones most:
 * say so next to the numbers. */
static void print_load(const char *when)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l1 = 0;
    if (!f)
        return;
    if (fscanf(f, "%lf", &l1) == 1 && l1 > 0.5)
        printf("note (%s): load average %.2f on %d cores: other processes are running; "
               "timings (multi-threaded ones most) are pessimistic\n",
               when, l1, sa_cpu_count());
    fclose(f);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_score [--sizes ms,pet,ct] [--segarena PATH] [--plastimatch PATH]\n"
            "                   [--workdir DIR] [--repeat N] [--quick] [--no-process] [--keep]\n"
            "                   [--itk-double] [--strict]\n"
            "  --sizes      cases to run (default all): ms 181x217x181 @1 mm, pet 344x344x220\n"
            "               @2x2x3 mm, ct 512x512x300 @0.7x0.7x1 mm\n"
            "  --segarena   segarena binary for the whole-process timing (default: the build\n"
            "               tree's, then ../segarena beside bench_score's folder, then $PATH)\n"
            "  --plastimatch  plastimatch binary (default: $PATH; skipped when absent)\n"
            "  --workdir    folder for the .nii.gz files (default: a new folder in $TMPDIR or /tmp)\n"
            "  --repeat N   runs per fast measurement, best kept (default 3; ITK runs and reads\n"
            "               over 2 s, whole processes over 6 s: once)\n"
            "  --quick      tiny sizes: checks agreement in seconds, targets not judged\n"
            "  --no-process compute-only comparison (no files, no processes)\n"
            "  --keep       keep the .nii.gz files and outputs\n"
            "  --itk-double ITK distance maps in double instead of float (slower ITK,\n"
            "               agreement to the last bits instead of float rounding)\n"
            "  --strict     exit 3 when a target is missed or not measured (no segarena or\n"
            "               plastimatch, --no-process)\n");
}

static int parse_sizes(const char *s, int sizes[3])
{
    sizes[0] = sizes[1] = sizes[2] = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (strcmp(tok, "ms") == 0)
            sizes[0] = 1;
        else if (strcmp(tok, "pet") == 0)
            sizes[1] = 1;
        else if (strcmp(tok, "ct") == 0)
            sizes[2] = 1;
        else
            return -1;
    }
    return sizes[0] || sizes[1] || sizes[2] ? 0 : -1;
}

int main(int argc, char **argv)
{
    options o = {{1, 1, 1}, NULL, NULL, NULL, 3, 0, 1, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (strcmp(a, "--sizes") == 0 && has_next) {
            if (parse_sizes(argv[++i], o.sizes)) {
                fprintf(stderr, "bench_score: --sizes takes a list of ms, pet, ct\n");
                return 2;
            }
        } else if (strcmp(a, "--segarena") == 0 && has_next) {
            o.segarena = argv[++i];
        } else if (strcmp(a, "--plastimatch") == 0 && has_next) {
            o.plastimatch = argv[++i];
        } else if (strcmp(a, "--workdir") == 0 && has_next) {
            o.workdir = argv[++i];
        } else if (strcmp(a, "--repeat") == 0 && has_next) {
            o.repeat = atoi(argv[++i]);
            if (o.repeat < 1 || o.repeat > 100) {
                fprintf(stderr, "bench_score: --repeat takes 1..100\n");
                return 2;
            }
        } else if (strcmp(a, "--quick") == 0) {
            o.quick = 1;
        } else if (strcmp(a, "--no-process") == 0) {
            o.process = 0;
        } else if (strcmp(a, "--keep") == 0) {
            o.keep = 1;
        } else if (strcmp(a, "--itk-double") == 0) {
            o.itk_double = 1;
            g_tol_distance = 1e-9;
        } else if (strcmp(a, "--strict") == 0) {
            o.strict = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bench_score: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    char segarena[4096], plastimatch[4096], workdir[4096];
    const char *seg = NULL, *plm = NULL;
    int made_workdir = 0;
    if (o.process) {
        if (find_segarena(o.segarena, segarena, sizeof segarena) == 0)
            seg = segarena;
        else if (o.segarena) {
            fprintf(stderr, "bench_score: --segarena %s is not an executable\n", o.segarena);
            return 2;
        }
        if (o.plastimatch) {
            if (!file_exists_exec(o.plastimatch)) {
                fprintf(stderr, "bench_score: --plastimatch %s is not an executable\n", o.plastimatch);
                return 2;
            }
            snprintf(plastimatch, sizeof plastimatch, "%s", o.plastimatch);
            plm = plastimatch;
        } else if (find_on_path("plastimatch", plastimatch, sizeof plastimatch) == 0) {
            plm = plastimatch;
        }
        if (o.workdir) {
            snprintf(workdir, sizeof workdir, "%s", o.workdir);
            if (mkdir(workdir, 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "bench_score: cannot create %s: %s\n", workdir, strerror(errno));
                return 2;
            }
        } else {
            const char *tmp = getenv("TMPDIR");
            snprintf(workdir, sizeof workdir, "%s/segarena-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
            if (!mkdtemp(workdir)) {
                fprintf(stderr, "bench_score: cannot create a folder in %s: %s\n",
                        tmp && *tmp ? tmp : "/tmp", strerror(errno));
                return 2;
            }
            made_workdir = 1;
        }
    }

    printf("SegArena benchmark: engine (metric definition version %d) vs ITK 5.2 filters\n",
           SA_METRIC_DEFINITION_VERSION);
    printf("ITK distance maps: %s\n", o.itk_double ? "double" : "float (ITK's usual choice)");
    printf("cores: %d; repeat: best of %d (timed once: an ITK run or a read over %.0f s, a whole "
           "process over %.0f s)%s\n", sa_cpu_count(), o.repeat, SLOW_RUN_S, SLOW_PROCESS_S,
           o.quick ? "; --quick sizes" : "");
    if (o.process)
        printf("segarena: %s\nplastimatch: %s\nworkdir: %s\n", seg ? seg : "(not found)",
               plm ? plm : "(not installed)", workdir);

    print_load("start");
    const bench_phantom_kind kinds[3] = {BENCH_PHANTOM_MS, BENCH_PHANTOM_PET, BENCH_PHANTOM_CT};
    for (int k = 0; k < 3; k++) {
        if (!o.sizes[k])
            continue;
        bench_phantom_params p;
        bench_phantom_default_params(kinds[k], o.quick, &p);
        const char *name = bench_phantom_kind_name(kinds[k]);
        bench_phantom ph;
        double t0 = now_s();
        if (bench_phantom_generate(&p, &ph) != 0) {
            fail("phantom", "out of memory");
            break;
        }
        double tg = now_s() - t0;
        size_t n = p.size[0] * p.size[1] * p.size[2];
        printf("\n=== case %s: %zux%zux%zu voxels (%.1f M) at %gx%gx%g mm; %d structures in the "
               "reference, %d in the prediction; generated in %.2f s\n",
               name, p.size[0], p.size[1], p.size[2], (double)n / 1e6, p.spacing[0], p.spacing[1],
               p.spacing[2], ph.structures_ref, ph.structures_pred, tg);
        sa_pair_metrics engine;
        if (compute_benchmark(&o, &ph, name, &engine) == 0) {
            if (o.process)
                process_benchmark(&o, &ph, name, workdir, seg, plm, &engine);
            else
                process_targets(&o, name, n, -1, 0, -1, "--no-process", "--no-process");
        }
        bench_phantom_free(&ph);
    }

    if (o.process && made_workdir && !o.keep)
        rmdir(workdir); /* fails harmlessly when outputs are left in it */

    print_load("end");
    printf("\n=== targets\n");
    for (int i = 0; i < g_ntargets; i++)
        printf("  %-12s %s\n", target_verdict(g_targets[i].pass), g_targets[i].text);
    if (g_disagreements || g_failures) {
        printf("RESULT: %d disagreement(s), %d failure(s): the numbers above cannot be trusted\n",
               g_disagreements, g_failures);
        return 1;
    }
    printf("RESULT: SegArena and ITK agree on every compared value; %d target(s) missed, %d not "
           "measured%s\n", g_misses, g_unmeasured,
           g_unmeasured && o.strict ? " (--strict counts a target not measured as missed)" : "");
    return o.strict && (g_misses || g_unmeasured) ? 3 : 0;
}
