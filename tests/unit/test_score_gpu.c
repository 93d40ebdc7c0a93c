/*
 * test_score_gpu.c: the GPU engine gives the CPU engine's results, bit for bit.
 *
 * On random masks and phantom-like blobs of many sizes and spacings (empty masks,
 * masks touching the image border, one-voxel-thin grids, a stray voxel far from
 * the rest, identical masks), sa_score_pair with --device gpu and with cpu must
 * agree in every field but the ones that say where the work ran; so must
 * sa_score_multi (STAPLE and majority consensus, the raters' scores and the
 * human reference). The same from several threads at once, and sa_score_pair
 * with pass Z's unpacked layout forced. Exits 77 (ctest: skipped) with the
 * reason when there is no usable GPU.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../test.h"
#include "gpu.h"
#include "metrics.h"

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
}
static double uniform(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

/* Blobs (spheres) and a few stray voxels; kind 0 random noise, 1 blobs,
 * 2 blobs cut by the border. */
static void make_mask(uint8_t *m, const sa_grid *g, int kind, double density) {
    size_t n = sa_grid_voxels(g);
    memset(m, 0, n);
    if (kind == 0) {
        for (size_t i = 0; i < n; i++) m[i] = uniform() < density;
        return;
    }
    int blobs = 1 + (int)(rng() % 5);
    for (int b = 0; b < blobs; b++) {
        double c[3] = {uniform() * (double)g->nx, uniform() * (double)g->ny, uniform() * (double)g->nz};
        if (kind == 2) c[rng() % 3] = 0;
        double rad = 1.0 + uniform() * (double)(g->nx / 3 + 2);
        for (size_t z = 0; z < g->nz; z++)
            for (size_t y = 0; y < g->ny; y++)
                for (size_t x = 0; x < g->nx; x++) {
                    double dx = (double)x - c[0], dy = (double)y - c[1], dz = (double)z - c[2];
                    if (dx * dx + dy * dy + dz * dz <= rad * rad) m[x + g->nx * (y + g->ny * z)] = 1;
                }
    }
    for (int s = 0; s < 3; s++) m[rng() % n] = 1;
}

/* Every field equal but those that say where the work ran. */
static int same_pair(sa_pair_metrics a, sa_pair_metrics b) {
    a.gpu_used = b.gpu_used = 0;
    a.device_note = b.device_note = NULL;
    a.threads_used = b.threads_used = 0;
    return memcmp(&a, &b, sizeof a) == 0;
}

static int pairs_checked, pairs_with_distances;

static void check_pair(const uint8_t *r, const uint8_t *t, const sa_grid *g, double tau) {
    sa_score_options cpu = {tau, 1, SA_DEVICE_CPU}, gpu = {tau, 0, SA_DEVICE_GPU};
    sa_pair_metrics a, b;
    sa_error err;
    CHECK(sa_score_pair(r, t, g, &cpu, &a, &err) == 0);
    if (sa_score_pair(r, t, g, &gpu, &b, &err) != 0) {
        fprintf(stderr, "GPU scoring failed: %s\n", err.msg);
        CHECK(0);
        return;
    }
    CHECK(b.gpu_used == 1 && a.gpu_used == 0);
    pairs_checked++;
    pairs_with_distances += !a.hd.reason;
    if (!same_pair(a, b)) {
        CHECK(0);
        fprintf(stderr, "GPU != CPU on %zux%zux%zu (%g %g %g), tau %g: tp %llu/%llu surf %llu,%llu/%llu,%llu "
                        "hd %.17g/%.17g hd95 %.17g/%.17g assd %.17g/%.17g nsd %.17g/%.17g pooled %.17g/%.17g\n",
                g->nx, g->ny, g->nz, g->spacing[0], g->spacing[1], g->spacing[2], tau, (unsigned long long)a.tp,
                (unsigned long long)b.tp, (unsigned long long)a.ref_surface_voxels,
                (unsigned long long)a.pred_surface_voxels, (unsigned long long)b.ref_surface_voxels,
                (unsigned long long)b.pred_surface_voxels, a.hd.value, b.hd.value, a.hd95.value, b.hd95.value,
                a.assd.value, b.assd.value, a.nsd.value, b.nsd.value, a.hd95_pooled.value, b.hd95_pooled.value);
    } else {
        CHECK(1);
    }
}

static void random_grid(sa_grid *g, int max_side) {
    g->nx = 1 + rng() % (size_t)max_side;
    g->ny = 1 + rng() % (size_t)max_side;
    g->nz = 1 + rng() % (size_t)max_side;
    for (int a = 0; a < 3; a++) g->spacing[a] = rng() % 4 == 0 ? 1.0 : 0.25 + uniform() * 3.0;
}

static void check_pairs(void) {
    for (int iter = 0; iter < 300; iter++) {
        sa_grid g;
        random_grid(&g, iter < 150 ? 12 : 48);
        size_t n = sa_grid_voxels(&g);
        uint8_t *r = malloc(n), *t = malloc(n);
        make_mask(r, &g, iter % 3, uniform() * 0.3);
        make_mask(t, &g, (iter + 1) % 3, uniform() * 0.3);
        if (iter % 13 == 0) memset(r, 0, n);
        if (iter % 17 == 0) memset(t, 0, n);
        if (iter % 19 == 0) memcpy(t, r, n);                   /* identical masks */
        if (iter % 23 == 0) memset(r, 1, n), memset(t, 1, n);  /* both fill the image */
        double tau = (double)(rng() % 5) * 0.5;
        check_pair(r, t, &g, tau);
        free(r), free(t);
    }
    /* thin and long grids, and a larger one with distances far above a band */
    sa_grid shapes[] = {{1, 1, 200, {1, 1, 0.5}}, {300, 1, 1, {0.7, 1, 1}}, {1, 90, 70, {2, 0.3, 1.1}},
                        {64, 64, 64, {1, 1, 1}}, {96, 80, 40, {0.7, 0.7, 3.0}}, {160, 150, 120, {0.9, 0.9, 1.2}},
                        {7, 1200, 30, {1, 0.4, 1}}, {8, 9, 1100, {1, 1, 0.3}}, {20, 600, 300, {0.8, 0.8, 0.8}}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        sa_grid *g = &shapes[s];
        size_t n = sa_grid_voxels(g);
        uint8_t *r = malloc(n), *t = malloc(n);
        for (int rep = 0; rep < 3; rep++) {
            make_mask(r, g, 1 + rep % 2, 0.01);
            make_mask(t, g, rep == 2 ? 0 : 1, 0.001);
            check_pair(r, t, g, 1.0);
        }
        free(r), free(t);
    }
}

/* sa_score_pair with pass Z's unpacked layout forced (sa_gpu_force_wide_nodes:
 * the layout of boxes of 2^33 voxels and more, pass_z_kernel<0, 0>, its nodes and
 * roots in global scratch), on random grids and on lines longer than 1024 voxels
 * along z and along y. */
static void check_pairs_wide(void) {
    sa_gpu_force_wide_nodes(1);
    for (int iter = 0; iter < 100; iter++) {
        sa_grid g;
        random_grid(&g, iter < 50 ? 12 : 48);
        size_t n = sa_grid_voxels(&g);
        uint8_t *r = malloc(n), *t = malloc(n);
        make_mask(r, &g, iter % 3, uniform() * 0.3);
        make_mask(t, &g, (iter + 1) % 3, uniform() * 0.3);
        if (iter % 13 == 0) memcpy(t, r, n);
        check_pair(r, t, &g, (double)(rng() % 5) * 0.5);
        free(r), free(t);
    }
    sa_grid shapes[] = {{8, 9, 1100, {1, 1, 0.3}}, {6, 4, 1500, {1, 1, 0.4}}, {7, 1200, 30, {1, 0.4, 1}},
                        {96, 80, 40, {0.7, 0.7, 3.0}}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        sa_grid *g = &shapes[s];
        size_t n = sa_grid_voxels(g);
        uint8_t *r = malloc(n), *t = malloc(n);
        for (int rep = 0; rep < 3; rep++) {
            make_mask(r, g, 1 + rep % 2, 0.01);
            make_mask(t, g, rep == 2 ? 0 : 1, 0.001);
            check_pair(r, t, g, 1.0);
        }
        free(r), free(t);
    }
    sa_gpu_force_wide_nodes(0);
}

static int same_scores(const sa_scores *a, const sa_scores *b) {
    return same_pair(a->pair, b->pair) && a->has_lesions == b->has_lesions &&
           memcmp(&a->lesions, &b->lesions, sizeof a->lesions) == 0;
}

static void check_multi(void) {
    for (int iter = 0; iter < 24; iter++) {
        sa_grid g;
        random_grid(&g, 40);
        g.nx += 4, g.ny += 4, g.nz += 2;
        size_t n = sa_grid_voxels(&g), k = 1 + rng() % 8;
        if (iter == 5) k = 15;
        uint8_t *raters[16], *pred = malloc(n);
        for (size_t i = 0; i < k; i++) {
            raters[i] = malloc(n);
            make_mask(raters[i], &g, 1 + (int)(rng() % 2), 0.02);
            if (iter % 7 == 3 && i == 0) memset(raters[i], 0, n);
        }
        make_mask(pred, &g, 1, 0.02);
        if (iter == 11) memset(pred, 0, n);
        sa_multi_options opt;
        sa_multi_options_default(&opt);
        opt.consensus.method = iter % 3 == 2 ? SA_CONSENSUS_MAJORITY : SA_CONSENSUS_STAPLE;
        opt.consensus.region = iter % 4 == 1 ? SA_STAPLE_IMAGE : SA_STAPLE_DILATED_UNION;
        opt.lesions = iter % 2;
        opt.human_reference = k >= 2;
        sa_multi_result *a = malloc(sizeof *a), *b = malloc(sizeof *b);
        sa_error err;
        opt.score.device = SA_DEVICE_CPU;
        CHECK(sa_score_multi(pred, (const uint8_t *const *)raters, k, &g, &opt, a, &err) == 0);
        opt.score.device = SA_DEVICE_GPU;
        opt.consensus_maps = iter % 5 != 4; /* sometimes the scores only: no maps copied back */
        int rc = sa_score_multi(pred, (const uint8_t *const *)raters, k, &g, &opt, b, &err);
        if (rc) fprintf(stderr, "GPU multi-rater scoring failed: %s\n", err.msg);
        CHECK(rc == 0);
        if (rc == 0) {
            CHECK(b->gpu_used == 1);
            int maps_ok = opt.consensus_maps
                              ? memcmp(a->consensus.mask, b->consensus.mask, n) == 0 &&
                                    memcmp(a->consensus.probability, b->consensus.probability, n * sizeof(float)) == 0
                              : b->consensus.probability == NULL && (b->consensus.mask == NULL) == !opt.lesions;
            int same = maps_ok && a->consensus.iterations == b->consensus.iterations &&
                       a->consensus.prior == b->consensus.prior &&
                       a->consensus.region_voxels == b->consensus.region_voxels &&
                       memcmp(a->consensus.sensitivity, b->consensus.sensitivity, sizeof a->consensus.sensitivity) == 0 &&
                       memcmp(a->consensus.specificity, b->consensus.specificity, sizeof a->consensus.specificity) == 0;
            if (!same) fprintf(stderr, "GPU consensus differs (k=%zu, iter %d)\n", k, iter);
            CHECK(same);
            CHECK(same_scores(&a->vs_consensus, &b->vs_consensus));
            for (size_t i = 0; i < k; i++) {
                CHECK(same_scores(&a->vs_rater[i], &b->vs_rater[i]));
                if (opt.human_reference) CHECK(same_scores(&a->human_reference[i], &b->human_reference[i]));
            }
            sa_multi_result_free(b);
        }
        sa_multi_result_free(a);
        free(a), free(b), free(pred);
        for (size_t i = 0; i < k; i++) free(raters[i]);
    }
}

/* The dense transform alone (what bench_gpu times against CuPy): the distance
 * at every voxel, bit for bit the square root of the CPU engine's sa_edt_squared;
 * `wide` when pass Z is forced to keep its roots apart. */
static void check_edt_full(int wide) {
    /* lines of up to 256, 512 and 1024 voxels (kept in the thread's own arrays)
     * and longer ones (kept in global scratch), along y and along z; rows of a
     * multiple of 16 voxels (pass X reads them 16 bytes at a time), over one
     * or several 512-voxel steps */
    sa_grid shapes[] = {{40, 30, 20, {0.7, 0.7, 1.0}}, {1, 50, 33, {1, 2, 0.5}}, {64, 64, 64, {1, 1, 1}},
                        {130, 97, 45, {0.8, 1.1, 2.5}}, {9, 400, 700, {1, 0.6, 0.5}}, {5, 1300, 7, {1, 0.5, 1}},
                        {6, 4, 1500, {1, 1, 0.4}}, {48, 20, 10, {0.7, 0.7, 1}}, {1040, 6, 5, {0.5, 1, 1}}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const sa_grid *g = &shapes[s];
        size_t n = sa_grid_voxels(g);
        uint8_t *mask = malloc(n);
        double *cpu = malloc(n * sizeof *cpu), *gpu = malloc(n * sizeof *gpu);
        make_mask(mask, g, s % 2 ? 0 : 1, 0.002);
        sa_error err;
        CHECK(sa_edt_squared(mask, g, 1, cpu, &err) == 0);
        for (size_t i = 0; i < n; i++) cpu[i] = sqrt(cpu[i]);
        const uint8_t *one[1] = {mask};
        sa_gpu_masks *m = NULL;
        float ms[4];
        int rc = sa_gpu_masks_upload(one, 1, g, 1, &m, &err);
        if (!rc) rc = sa_gpu_edt_full(m, 0, gpu, ms, &err);
        if (rc) fprintf(stderr, "GPU EDT failed: %s\n", err.msg);
        CHECK(rc == 0);
        size_t differ = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) differ += memcmp(&cpu[i], &gpu[i], sizeof *cpu) != 0;
        if (differ)
            fprintf(stderr, "GPU EDT%s: %zu of %zu values differ on %zux%zux%zu\n", wide ? " (wide nodes)" : "", differ,
                    n, g->nx, g->ny, g->nz);
        CHECK(differ == 0);
        sa_gpu_masks_free(m);
        free(mask), free(cpu), free(gpu);
    }
}

/* ---- Several threads scoring on the GPU at once ----------------------------------
 * As workers scoring side by side do: each thread uploads and scores its own
 * pairs and multi-rater cases on the GPU, in turns with the others (the kept
 * device blocks, the kept staging buffers, of which there are fewer than
 * threads, and the shared device state), and every result must be the CPU's,
 * bit for bit. The inputs and the CPU's results are made before the threads
 * start; the threads only compare (CHECK is not thread-safe). */
#define CONC_THREADS 6
#define CONC_JOBS 4

typedef struct conc_job {
    sa_grid g;
    uint8_t *ref, *pred, *raters[3];
    sa_pair_metrics cpu_pair;
    sa_multi_result *cpu_multi;
} conc_job;

typedef struct conc_worker {
    conc_job jobs[CONC_JOBS];
    int rounds, done, failed, differ;
    char why[sizeof(((sa_error *)0)->msg) + 32]; /* the first failure */
} conc_worker;

static void *conc_run(void *arg) {
    conc_worker *w = arg;
    sa_multi_result *multi = malloc(sizeof *multi);
    for (int round = 0; round < w->rounds && multi; round++)
        for (int j = 0; j < CONC_JOBS; j++) {
            conc_job *c = &w->jobs[(j + round) % CONC_JOBS];
            sa_score_options gpu = {1.0, 2, SA_DEVICE_GPU};
            sa_pair_metrics m;
            sa_error err;
            if (sa_score_pair(c->ref, c->pred, &c->g, &gpu, &m, &err) != 0) {
                if (!w->failed++) snprintf(w->why, sizeof w->why, "sa_score_pair: %s", err.msg);
                continue;
            }
            w->done++;
            w->differ += !same_pair(m, c->cpu_pair) || m.gpu_used != 1;
            sa_multi_options opt;
            sa_multi_options_default(&opt);
            opt.human_reference = 1;
            opt.score.threads = 2;
            opt.score.device = SA_DEVICE_GPU;
            if (sa_score_multi(c->pred, (const uint8_t *const *)c->raters, 3, &c->g, &opt, multi, &err) != 0) {
                if (!w->failed++) snprintf(w->why, sizeof w->why, "sa_score_multi: %s", err.msg);
                continue;
            }
            w->done++;
            const sa_multi_result *a = c->cpu_multi;
            size_t n = sa_grid_voxels(&c->g);
            int same = multi->gpu_used == 1 && memcmp(a->consensus.mask, multi->consensus.mask, n) == 0 &&
                       memcmp(a->consensus.probability, multi->consensus.probability, n * sizeof(float)) == 0 &&
                       same_scores(&a->vs_consensus, &multi->vs_consensus);
            for (int i = 0; i < 3; i++)
                same = same && same_scores(&a->vs_rater[i], &multi->vs_rater[i]) &&
                       same_scores(&a->human_reference[i], &multi->human_reference[i]);
            w->differ += !same;
            sa_multi_result_free(multi);
        }
    free(multi);
    return NULL;
}

static void check_concurrent(void) {
    static const size_t sizes[CONC_JOBS][3] = {{40, 40, 40}, {96, 80, 40}, {130, 97, 45}, {64, 200, 30}};
    conc_worker *w = calloc(CONC_THREADS, sizeof *w);
    if (!w) {
        CHECK(0);
        return;
    }
    for (int t = 0; t < CONC_THREADS; t++) {
        w[t].rounds = 2;
        for (int j = 0; j < CONC_JOBS; j++) {
            conc_job *c = &w[t].jobs[j];
            c->g = (sa_grid){sizes[j][0], sizes[j][1], sizes[j][2], {0.8, 0.8 + 0.1 * t, 1.5}};
            size_t n = sa_grid_voxels(&c->g);
            c->ref = malloc(n), c->pred = malloc(n);
            make_mask(c->ref, &c->g, 1, 0.02);
            make_mask(c->pred, &c->g, 1 + (t + j) % 2, 0.02);
            for (int i = 0; i < 3; i++) c->raters[i] = malloc(n), make_mask(c->raters[i], &c->g, 1, 0.02);
            sa_score_options cpu = {1.0, 1, SA_DEVICE_CPU};
            sa_error err;
            CHECK(sa_score_pair(c->ref, c->pred, &c->g, &cpu, &c->cpu_pair, &err) == 0);
            sa_multi_options opt;
            sa_multi_options_default(&opt);
            opt.human_reference = 1;
            opt.score.device = SA_DEVICE_CPU;
            c->cpu_multi = malloc(sizeof *c->cpu_multi);
            CHECK(sa_score_multi(c->pred, (const uint8_t *const *)c->raters, 3, &c->g, &opt, c->cpu_multi, &err) == 0);
        }
    }
    pthread_t th[CONC_THREADS];
    int started[CONC_THREADS];
    for (int t = 0; t < CONC_THREADS; t++) started[t] = pthread_create(&th[t], NULL, conc_run, &w[t]) == 0;
    for (int t = 0; t < CONC_THREADS; t++) {
        CHECK(started[t]);
        if (started[t]) pthread_join(th[t], NULL);
        if (w[t].failed) fprintf(stderr, "thread %d: %d GPU jobs failed, first: %s\n", t, w[t].failed, w[t].why);
        if (w[t].differ) fprintf(stderr, "thread %d: %d GPU results differ from the CPU's\n", t, w[t].differ);
        CHECK(w[t].failed == 0 && w[t].differ == 0 && w[t].done == w[t].rounds * CONC_JOBS * 2);
        for (int j = 0; j < CONC_JOBS; j++) {
            conc_job *c = &w[t].jobs[j];
            free(c->ref), free(c->pred);
            for (int i = 0; i < 3; i++) free(c->raters[i]);
            sa_multi_result_free(c->cpu_multi);
            free(c->cpu_multi);
        }
    }
    free(w);
}

/* auto in a process that has not started the GPU (run first): a pair of 5 M voxels
 * is too little work to repay the start and stays on the CPU, with the note, and
 * starts nothing; 7 raters on 8 M voxels with one CPU thread (8 comparisons, work
 * 2^26 = SA_GPU_AUTO_START_WORK x sqrt(1)) start it; after that the same pair runs on
 * the GPU. The numbers are the CPU's either way. */
static void check_auto_cold(void) {
    CHECK(!sa_gpu_started());
    sa_grid pair_grid = {256, 256, 80, {1, 1, 1}}, multi_grid = {256, 256, 128, {1, 1, 1}};
    size_t n = sa_grid_voxels(&multi_grid);
    CHECK(n * 8 == SA_GPU_AUTO_START_WORK);
    uint8_t *raters[7], *pred = malloc(n);
    for (int i = 0; i < 7; i++) raters[i] = malloc(n), make_mask(raters[i], &multi_grid, 1, 0.02);
    make_mask(pred, &multi_grid, 1, 0.02);
    sa_score_options so;
    sa_score_options_default(&so);
    sa_pair_metrics cpu, cold, warm;
    sa_error err;
    CHECK(sa_score_pair(raters[0], pred, &pair_grid, &so, &cold, &err) == 0);
    CHECK(cold.gpu_used == 0 && cold.device_note && strstr(cold.device_note, "too little work"));
    CHECK(!sa_gpu_started());
    CHECK(!sa_device_auto_size_ok(n, 7, 1) && sa_device_auto_size_ok(n, 8, 1));

    sa_multi_options mo;
    sa_multi_options_default(&mo);
    mo.consensus_maps = 0;
    mo.score.threads = 1;
    sa_multi_result *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    CHECK(sa_score_multi(pred, (const uint8_t *const *)raters, 7, &multi_grid, &mo, b, &err) == 0);
    CHECK(b->gpu_used == 1 && b->device_note == NULL);
    CHECK(sa_gpu_started());
    mo.score.device = SA_DEVICE_CPU, mo.score.threads = 0;
    CHECK(sa_score_multi(pred, (const uint8_t *const *)raters, 7, &multi_grid, &mo, a, &err) == 0);
    CHECK(same_scores(&a->vs_consensus, &b->vs_consensus));
    for (int i = 0; i < 7; i++) CHECK(same_scores(&a->vs_rater[i], &b->vs_rater[i]));
    sa_multi_result_free(a), sa_multi_result_free(b);
    free(a), free(b);

    CHECK(sa_score_pair(raters[0], pred, &pair_grid, &so, &warm, &err) == 0);
    CHECK(warm.gpu_used == 1 && warm.device_note == NULL);
    so.device = SA_DEVICE_CPU;
    CHECK(sa_score_pair(raters[0], pred, &pair_grid, &so, &cpu, &err) == 0);
    CHECK(same_pair(cold, cpu) && same_pair(warm, cpu));
    for (int i = 0; i < 7; i++) free(raters[i]);
    free(pred);
}

/* auto once the GPU is started: a small volume stays on the CPU and says so; a
 * large one runs on the GPU. */
static void check_auto(void) {
    sa_grid small = {16, 16, 16, {1, 1, 1}}, large = {256, 256, 80, {1, 1, 1}};
    size_t n = sa_grid_voxels(&large);
    uint8_t *r = calloc(n, 1), *t = calloc(n, 1);
    make_mask(r, &large, 1, 0), make_mask(t, &large, 1, 0);
    sa_score_options opt;
    sa_score_options_default(&opt);
    sa_pair_metrics m;
    sa_error err;
    CHECK(sa_score_pair(r, t, &small, &opt, &m, &err) == 0 && m.gpu_used == 0 && m.device_note != NULL);
    CHECK(sa_score_pair(r, t, &large, &opt, &m, &err) == 0 && m.gpu_used == 1 && m.device_note == NULL);
    free(r), free(t);
}

int main(void) {
    sa_error why;
    if (!sa_gpu_usable(&why)) {
        printf("SKIP: no GPU test: %s\n", why.msg);
        return 77;
    }
    check_auto_cold(); /* before anything starts the GPU */
    /* a GPU discovery calls usable runs this build's kernels */
    int ready = sa_gpu_ready(&why);
    if (!ready) fprintf(stderr, "sa_gpu_ready: %s\n", why.msg);
    CHECK(ready);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    check_auto();
    check_edt_full(0);
    /* pass Z's other layout (regions too large to pack its nodes), forced */
    sa_gpu_force_wide_nodes(1);
    check_edt_full(1);
    sa_gpu_force_wide_nodes(0);
    check_pairs();
    check_pairs_wide();
    check_multi();
    check_concurrent();
    /* uploads of 8-bit and 16-bit patterns in pieces of 1000 voxels, copies of
     * 3 pieces, rounds of 20,001 bytes through the staging buffer: several
     * copies queued a round while later pieces are packed (by several workers
     * in check_multi), partial last pieces and copies, many rounds (as volumes
     * of more than 256 M voxels go) */
    sa_gpu_set_upload_geometry(1000, 3, 20001);
    check_edt_full(0);
    check_multi();
    check_concurrent(); /* many rounds through each staging buffer, from every thread */
    sa_gpu_set_upload_geometry(0, 0, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%d pairs compared (%d with distances) in %.1f s\n", pairs_checked, pairs_with_distances,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return test_report("test_score_gpu");
}
