/*
 * test_device_args.c: the entry points that may run on the GPU check their
 * arguments before the device is chosen and before any mask is read, with the
 * CPU engine's messages. The GPU path uploads every mask at once (the packers
 * read every voxel of every mask), so a missing rater mask checked only later
 * crashed it where the CPU path returned "consensus: rater 2 has no mask".
 *
 * Runs everywhere (unit): with --device gpu and no usable GPU, an argument
 * error must still be the argument's, not "no usable GPU"; every device must
 * give the message sa_consensus (CPU) gives. The image is large enough for auto
 * to pick a GPU where there is one, once started. The same calls on a real GPU
 * are in test_consensus_gpu (label gpu). Also the notes auto gives after a failed
 * GPU job (sa_gpu_fallback_note), and auto's size rule in a process that has not
 * started a GPU (sa_device_auto_size_ok; after a start: test_score_gpu).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "gpu.h"
#include "metrics.h"
#include "parallel.h"

static const sa_device devices[3] = {SA_DEVICE_AUTO, SA_DEVICE_GPU, SA_DEVICE_CPU};

/* sa_consensus_on_device on every device: -1, the result zeroed, and the
 * message of sa_consensus on the same arguments, which contains `want`. */
static void consensus_refused(const uint8_t *const *raters, size_t k, const sa_grid *g,
                              const sa_consensus_options *opt, const char *want) {
    sa_consensus_result cpu, dev;
    sa_error cpu_err, err;
    CHECK(sa_consensus(raters, k, g, opt, &cpu, &cpu_err) == -1);
    CHECK_STR_CONTAINS(cpu_err.msg, want);
    for (int d = 0; d < 3; d++) {
        memset(&dev, 0x5A, sizeof dev);
        CHECK(sa_consensus_on_device(raters, k, g, opt, devices[d], &dev, &err) == -1);
        CHECK(dev.mask == NULL && dev.probability == NULL && dev.gpu_used == 0);
        if (strcmp(err.msg, cpu_err.msg) != 0) {
            fprintf(stderr, "  --device %s: \"%s\", the CPU says \"%s\"\n", sa_device_name(devices[d]), err.msg,
                    cpu_err.msg);
            CHECK(0);
        }
    }
}

/* sa_score_multi with every device: -1 and one message, containing `want`. */
static void multi_refused(const uint8_t *pred, const uint8_t *const *raters, size_t k, const sa_grid *g,
                          sa_multi_options opt, const char *want) {
    sa_multi_result *out = malloc(sizeof *out);
    sa_error first, err;
    for (int d = 2; d >= 0; d--) { /* cpu first: its message is the reference */
        opt.score.device = devices[d];
        CHECK(sa_score_multi(pred, raters, k, g, &opt, out, d == 2 ? &first : &err) == -1);
        CHECK(out->gpu_used == 0 && out->consensus.mask == NULL);
        if (d == 2) {
            CHECK_STR_CONTAINS(first.msg, want);
        } else if (strcmp(err.msg, first.msg) != 0) {
            fprintf(stderr, "  --device %s: \"%s\", the CPU says \"%s\"\n", sa_device_name(devices[d]), err.msg,
                    first.msg);
            CHECK(0);
        }
    }
    free(out);
}

/* auto's size rule before a GPU is started (none is, here: nothing in this test
 * starts one): at least SA_GPU_AUTO_MIN_VOXELS voxels, and voxels x comparisons
 * at least SA_GPU_AUTO_START_WORK x sqrt(threads), threads clamped to the cores. */
static void auto_size_rule(void) {
    CHECK(!sa_gpu_started());
    const size_t min = SA_GPU_AUTO_MIN_VOXELS, start = SA_GPU_AUTO_START_WORK;
    CHECK(!sa_device_auto_size_ok(min - 1, start, 1)); /* below the grid floor, whatever the work */
    CHECK(sa_device_auto_size_ok(start, 1, 1));        /* one thread: the work itself */
    CHECK(!sa_device_auto_size_ok(start - 1, 1, 1));
    CHECK(sa_device_auto_size_ok(start / 8, 8, 1) && !sa_device_auto_size_ok(start / 8, 7, 1));
    CHECK(sa_device_auto_size_ok(start, 0, 1)); /* 0 comparisons count as 1 */
    /* four threads: twice the work; more threads than cores count as the cores */
    int cores = sa_cpu_count();
    if (cores >= 4) {
        CHECK(sa_device_auto_size_ok(start, 2, 4));
        CHECK(!sa_device_auto_size_ok(start * 2 - 1, 1, 4));
    }
    double root = sqrt((double)cores);
    size_t at_cores = (size_t)ceil((double)start * root);
    CHECK(sa_device_auto_size_ok(at_cores, 1, 0) && !sa_device_auto_size_ok(at_cores - 1, 1, 0));
    CHECK(sa_device_auto_size_ok(at_cores, 1, cores + 7) && !sa_device_auto_size_ok(at_cores - 1, 1, cores + 7));
    /* the comparisons of sa_score_multi */
    sa_multi_options mo;
    sa_multi_options_default(&mo);
    CHECK(sa_multi_comparisons(7, &mo) == 8 && sa_multi_comparisons(7, NULL) == 8);
    mo.human_reference = 1;
    CHECK(sa_multi_comparisons(7, &mo) == 15);
    /* a pair of 5 M voxels: too little work in a process that has not started a GPU */
    sa_grid g = {256, 256, 80, {1, 1, 1}};
    size_t n = sa_grid_voxels(&g);
    uint8_t *a = calloc(n, 1), *b = calloc(n, 1);
    a[n / 2] = b[n / 2 + 1] = 1;
    sa_score_options so;
    sa_score_options_default(&so);
    sa_pair_metrics m;
    sa_error err;
    /* in a build without CUDA the note says so, whatever the size */
    int built = sa_gpu_built();
    CHECK(sa_score_pair(a, b, &g, &so, &m, &err) == 0 && m.gpu_used == 0);
    CHECK(m.device_note && strstr(m.device_note, built ? "too little work" : "no GPU engine"));
    sa_grid small = {32, 32, 32, {1, 1, 1}};
    CHECK(sa_score_pair(a, b, &small, &so, &m, &err) == 0 && m.gpu_used == 0);
    CHECK(m.device_note && strstr(m.device_note, built ? "below the GPU threshold" : "no GPU engine"));
    /* more raters than the GPU takes: auto keeps them on the CPU with its note, and
     * does not start a GPU to find that out */
    const uint8_t *many[17];
    for (int r = 0; r < 17; r++) many[r] = a;
    sa_multi_options mo17;
    sa_multi_options_default(&mo17);
    mo17.consensus_maps = 0;
    sa_multi_result *res = malloc(sizeof *res);
    CHECK(sa_score_multi(b, many, 16, &small, &mo17, res, &err) == 0 && res->gpu_used == 0);
    CHECK(res->device_note && strstr(res->device_note, "more raters than the GPU path takes"));
    sa_multi_result_free(res);
    free(res);
    sa_consensus_result c;
    CHECK(sa_consensus_on_device(many, 17, &small, NULL, SA_DEVICE_AUTO, &c, &err) == 0 && c.gpu_used == 0);
    CHECK(c.device_note && strstr(c.device_note, "more raters than the GPU path takes"));
    sa_consensus_free(&c);
    CHECK(!sa_gpu_started());
    free(a), free(b);
}

int main(void) {
    auto_size_rule();
    sa_grid g = {256, 256, 80, {1, 1, 1}}; /* >= SA_GPU_AUTO_MIN_VOXELS: auto would use a started GPU */
    size_t n = sa_grid_voxels(&g);
    CHECK(n >= SA_GPU_AUTO_MIN_VOXELS);
    uint8_t *a = calloc(n, 1), *b = calloc(n, 1);
    for (size_t i = 0; i < n; i += 97) a[i] = 1;
    for (size_t i = 0; i < n; i += 89) b[i] = 1;

    /* ---- sa_consensus_on_device ---- */
    const uint8_t *second_missing[2] = {a, NULL}, *first_missing[3] = {NULL, a, b}, *ok[2] = {a, b};
    consensus_refused(second_missing, 2, &g, NULL, "consensus: rater 2 has no mask");
    consensus_refused(first_missing, 3, &g, NULL, "consensus: rater 1 has no mask");
    consensus_refused(NULL, 2, &g, NULL, "no rater masks given");
    consensus_refused(ok, 0, &g, NULL, "k = 0");
    consensus_refused(ok, SA_MAX_RATERS + 1, &g, NULL, "at most 32 are supported");
    consensus_refused(ok, 2, NULL, NULL, "no grid given");
    sa_grid bad_grid = g;
    bad_grid.spacing[1] = 0;
    consensus_refused(ok, 2, &bad_grid, NULL, "invalid spacing");
    sa_consensus_options opt;
    sa_consensus_options_default(&opt);
    opt.method = (sa_consensus_method)7;
    consensus_refused(ok, 2, &g, &opt, "unknown method 7");
    sa_consensus_options_default(&opt);
    opt.dilation_voxels = -1;
    consensus_refused(ok, 2, &g, &opt, "dilation_voxels -1");
    sa_consensus_options_default(&opt);
    opt.tolerance = NAN;
    consensus_refused(ok, 2, &g, &opt, "tolerance");
    sa_consensus_options_default(&opt);
    opt.region = (sa_staple_region)9;
    consensus_refused(ok, 2, &g, &opt, "unknown STAPLE region 9");
    /* a missing mask beyond what the GPU takes (17 raters): the same message */
    const uint8_t *many[17];
    for (int r = 0; r < 17; r++) many[r] = r == 16 ? NULL : a;
    consensus_refused(many, 17, &g, NULL, "consensus: rater 17 has no mask");

    /* ---- sa_score_multi ---- */
    sa_multi_options mo;
    sa_multi_options_default(&mo);
    mo.human_reference = 1;
    multi_refused(b, second_missing, 2, &g, mo, "consensus: rater 2 has no mask");
    multi_refused(NULL, ok, 2, &g, mo, "no mask given");
    multi_refused(b, NULL, 2, &g, mo, "no mask given");
    multi_refused(b, ok, 0, &g, mo, "0 raters");
    multi_refused(b, ok, SA_MAX_RATERS + 1, &g, mo, "33 raters");
    multi_refused(b, ok, 1, &g, mo, "human reference needs at least 2 raters");
    multi_refused(b, ok, 2, NULL, mo, "no grid given");
    sa_multi_options bad = mo;
    bad.consensus.max_iterations = 0;
    multi_refused(b, ok, 2, &g, bad, "max_iterations 0");
    bad = mo;
    bad.score.tau_mm = -1;
    multi_refused(b, ok, 2, &g, bad, "tolerance tau");
    bad = mo;
    bad.lesions = 1;
    bad.lesion.connectivity = 5;
    multi_refused(b, ok, 2, &g, bad, "connectivity 5");
    bad.lesions = 0; /* lesion options are not used, so not checked */
    bad.score.device = SA_DEVICE_CPU;
    sa_multi_result *out = malloc(sizeof *out);
    sa_error err;
    bad.consensus_maps = 0;
    sa_grid small = {20, 20, 10, {1, 1, 1}}; /* quick on the CPU */
    CHECK(sa_score_multi(b, ok, 2, &small, &bad, out, &err) == 0);
    sa_multi_result_free(out);
    free(out);

    /* ---- the upload itself refuses a missing mask before reading any ---- */
    sa_gpu_masks *m = (sa_gpu_masks *)&g; /* must come back NULL */
    int rc = sa_gpu_masks_upload(second_missing, 2, &g, 1, &m, &err);
    CHECK(rc == -1 && m == NULL);
    if (sa_gpu_built()) {
        CHECK_STR_CONTAINS(err.msg, "mask 2 of 2 to upload is missing");
        CHECK(sa_gpu_masks_upload(NULL, 2, &g, 1, &m, &err) == -1 && m == NULL);
        CHECK_STR_CONTAINS(err.msg, "no masks given");
        CHECK(sa_gpu_masks_upload(ok, 2, NULL, 1, &m, &err) == -1 && m == NULL);
        CHECK_STR_CONTAINS(err.msg, "no grid given");
    } else {
        CHECK_STR_CONTAINS(err.msg, "without CUDA");
    }
    /* auto's notes after a failed GPU job name what was missing */
    CHECK_STR_CONTAINS(sa_gpu_fallback_note(SA_GPU_NO_MEMORY), "the GPU has too little free memory");
    CHECK_STR_CONTAINS(sa_gpu_fallback_note(SA_GPU_NO_HOST_MEMORY), "pinned host memory");
    CHECK(strstr(sa_gpu_fallback_note(SA_GPU_NO_HOST_MEMORY), "GPU has too little") == NULL);
    CHECK_STR_CONTAINS(sa_gpu_fallback_note(-1), "the GPU failed on this job");
    free(a), free(b);
    return test_report("test_device_args");
}
