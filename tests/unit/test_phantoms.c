/*
 * test_phantoms.c: the synthetic test sets (datasets/phantom_*.c, bids_write.c)
 * and the native NIfTI writer (nifti_write.c).
 *
 *   test_phantoms unit            determinism, MS and PET realism checks (64^3 grids)
 *   test_phantoms writer DIR      NIfTI writer round trips through ITK and the native reader
 *   test_phantoms dataset DIR     make-demo into DIR: layout, thread-count independence,
 *                                 refusal of a non-empty DIR
 *   test_phantoms make-demo ARGS  runs `segarena dataset make-demo ARGS` (for the Python test)
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets.h"
#include "test.h"

int cmd_dataset_make_demo(int argc, char **argv);

static double dice(const uint8_t *a, const uint8_t *b, size_t n) {
    size_t ab = 0, na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += a[i] && b[i];
        na += a[i] != 0;
        nb += b[i] != 0;
    }
    return na + nb ? 2.0 * (double)ab / (double)(na + nb) : 1.0;
}

static void mkdir_p(const char *path) {
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *q = buf + 1; *q; q++)
        if (*q == '/') {
            *q = '\0';
            mkdir(buf, 0755);
            *q = '/';
        }
    mkdir(buf, 0755);
}

static size_t voxels(const sa_image *im) { return im->size[0] * im->size[1] * im->size[2]; }

static int same_case(const sa_phantom_case *a, const sa_phantom_case *b) {
    if (a->n_images != b->n_images || a->n_raters != b->n_raters) return 0;
    size_t n = voxels(&a->images[0]);
    for (size_t i = 0; i < a->n_images; i++)
        if (memcmp(a->images[i].data, b->images[i].data, n * sa_pixel_size(a->images[i].type))) return 0;
    for (size_t k = 0; k < a->n_raters; k++)
        if (memcmp(a->raters[k], b->raters[k], n)) return 0;
    return !memcmp(a->truth, b->truth, n);
}

static void test_determinism(void) {
    sa_phantom_options o;
    sa_phantom_options_default(&o, SA_PHANTOM_MS);
    o.size[0] = o.size[1] = o.size[2] = 64;
    sa_phantom_case a, b, c;
    sa_error e;
    CHECK(sa_phantom_generate(&o, 1, &a, &e) == 0);
    CHECK(sa_phantom_generate(&o, 1, &b, &e) == 0);
    o.seed = 2;
    CHECK(sa_phantom_generate(&o, 1, &c, &e) == 0);
    CHECK(same_case(&a, &b));
    CHECK(!same_case(&a, &c));
    CHECK(!strcmp(a.id, "ms02"));
    sa_phantom_case_free(&a);
    sa_phantom_case_free(&b);
    sa_phantom_case_free(&c);

    sa_phantom_options_default(&o, SA_PHANTOM_PET);
    o.ct = 1;
    CHECK(sa_phantom_generate(&o, 0, &a, &e) == 0);
    CHECK(sa_phantom_generate(&o, 0, &b, &e) == 0);
    o.seed = 7;
    CHECK(sa_phantom_generate(&o, 0, &c, &e) == 0);
    CHECK(same_case(&a, &b));
    CHECK(!same_case(&a, &c));
    sa_phantom_case_free(&a);
    sa_phantom_case_free(&b);
    sa_phantom_case_free(&c);

    /* bad options are refused, not crashed on */
    sa_phantom_options_default(&o, SA_PHANTOM_MS);
    o.size[2] = 8;
    CHECK(sa_phantom_generate(&o, 0, &a, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "32 to 512");
    sa_phantom_options_default(&o, SA_PHANTOM_PET);
    o.tbr_lo = 5, o.tbr_hi = 4;
    CHECK(sa_phantom_generate(&o, 0, &a, &e) == -1);
}

/* MS: lesion count and volumes, inter-rater Dice, conservative rater 7, and a
 * global FLAIR threshold that cannot reach the raters' agreement. */
static void test_ms_realism(void) {
    sa_phantom_options o;
    sa_phantom_options_default(&o, SA_PHANTOM_MS);
    o.size[0] = o.size[1] = o.size[2] = 64;
    double dice_sum = 0, flair_sum = 0;
    const int cases = 4;
    for (int c = 0; c < cases; c++) {
        sa_phantom_case pc;
        sa_error e;
        CHECK(sa_phantom_generate(&o, c, &pc, &e) == 0);
        if (!pc.truth) continue;
        CHECK(pc.n_images == 5 && pc.n_raters == 7);
        CHECK(pc.images[0].type == SA_PIXEL_I16);
        size_t n = voxels(&pc.images[0]);
        sa_grid g;
        sa_image_grid(&pc.images[0], &g);
        uint32_t *lab = malloc(n * sizeof *lab), count = 0;
        CHECK(sa_connected_components(pc.truth, &g, 26, lab, &count, &e) == 0);
        CHECK(count >= 5 && count <= 60);
        double *vol = calloc(count + 1, sizeof *vol), total = 0, biggest = 0;
        for (size_t i = 0; i < n; i++) vol[lab[i]] += lab[i] ? 0.001 : 0; /* mL, 1 mm voxels */
        for (uint32_t l = 1; l <= count; l++) {
            total += vol[l];
            if (vol[l] > biggest) biggest = vol[l];
        }
        CHECK(total > 0.05 && total < 60);
        CHECK(biggest <= 10.0);
        free(vol);
        free(lab);
        double sum = 0;
        int pairs = 0;
        size_t rvol[7] = {0};
        for (size_t a = 0; a < 7; a++) {
            for (size_t i = 0; i < n; i++) rvol[a] += pc.raters[a][i];
            for (size_t b = a + 1; b < 7; b++) sum += dice(pc.raters[a], pc.raters[b], n), pairs++;
        }
        double mean_dice = sum / pairs;
        printf("ms%02d: %u lesions, %.2f mL, mean inter-rater Dice %.3f\n", c + 1, count, total, mean_dice);
        CHECK(mean_dice >= 0.55 && mean_dice <= 0.85);
        double others = 0;
        for (size_t a = 0; a < 6; a++) others += (double)rvol[a] / 6.0;
        CHECK((double)rvol[6] < 0.9 * others); /* rater 7 is conservative */
        /* majority consensus vs the best global FLAIR threshold */
        uint8_t *cons = malloc(n), *thr = malloc(n);
        for (size_t i = 0; i < n; i++) {
            int v = 0;
            for (size_t a = 0; a < 7; a++) v += pc.raters[a][i];
            cons[i] = v >= 4;
        }
        const int16_t *fl = pc.images[0].data;
        double best = 0;
        for (int t = 200; t <= 1200; t += 10) {
            for (size_t i = 0; i < n; i++) thr[i] = fl[i] > t;
            double d = dice(thr, cons, n);
            if (d > best) best = d;
        }
        printf("ms%02d: best FLAIR threshold Dice vs consensus %.3f\n", c + 1, best);
        dice_sum += mean_dice;
        flair_sum += best;
        free(cons);
        free(thr);
        sa_phantom_case_free(&pc);
    }
    CHECK(flair_sum / cases < dice_sum / cases);
}

/* PET: tumour count, nominal and measured tumour-to-background ratios. */
static void test_pet_realism(int anisotropic) {
    sa_phantom_options o;
    sa_phantom_options_default(&o, SA_PHANTOM_PET);
    o.tbr_lo = 4.0, o.tbr_hi = 6.0;
    o.anisotropic = anisotropic;
    o.ct = 1;
    for (int c = 0; c < 3; c++) {
        sa_phantom_case pc;
        sa_error e;
        CHECK(sa_phantom_generate(&o, c, &pc, &e) == 0);
        if (!pc.truth) continue;
        CHECK(pc.n_images == 2 && pc.images[0].type == SA_PIXEL_F32 && pc.images[1].type == SA_PIXEL_I16);
        CHECK_NEAR(pc.images[0].spacing[2], anisotropic ? 2.0 : 4.0, 0);
        CHECK(pc.n_raters == 3);
        CHECK(pc.lesions_placed >= 1 && pc.lesions_placed <= 3);
        for (size_t k = 0; k < pc.lesions_placed; k++) CHECK(pc.tbr[k] >= 4.0 && pc.tbr[k] <= 6.0);
        size_t n = voxels(&pc.images[0]);
        sa_grid g;
        sa_image_grid(&pc.images[0], &g);
        uint32_t *lab = malloc(n * sizeof *lab), count = 0;
        CHECK(sa_connected_components(pc.truth, &g, 26, lab, &count, &e) == 0);
        CHECK(count == pc.lesions_placed);
        /* measured: mean SUV in the tumour / mean SUV in a shell 8-16 mm around it */
        const float *suv = pc.images[0].data;
        for (uint32_t l = 1; l <= count; l++) {
            double in = 0, nin = 0, out = 0, nout = 0;
            long m = 0;
            for (size_t i = 0; i < n; i++)
                if (lab[i] == l) in += suv[i], nin++;
            /* shell: voxels 8-16 mm from the tumour (searched near its bounding box) */
            const size_t nx = g.nx, ny = g.ny, nz = g.nz;
            long lo[3] = {1 << 30, 1 << 30, 1 << 30}, hi[3] = {-1, -1, -1};
            for (size_t z = 0, i = 0; z < nz; z++)
                for (size_t y = 0; y < ny; y++)
                    for (size_t x = 0; x < nx; x++, i++)
                        if (lab[i] == l) {
                            long q[3] = {(long)x, (long)y, (long)z};
                            for (int a = 0; a < 3; a++) {
                                if (q[a] < lo[a]) lo[a] = q[a];
                                if (q[a] > hi[a]) hi[a] = q[a];
                            }
                            m++;
                        }
            long w[3];
            for (int a = 0; a < 3; a++) {
                w[a] = (long)ceil(16.0 / g.spacing[a]);
                lo[a] -= w[a];
                hi[a] += w[a];
            }
            for (long z = lo[2] < 0 ? 0 : lo[2]; z <= hi[2] && z < (long)nz; z++)
                for (long y = lo[1] < 0 ? 0 : lo[1]; y <= hi[1] && y < (long)ny; y++)
                    for (long x = lo[0] < 0 ? 0 : lo[0]; x <= hi[0] && x < (long)nx; x++) {
                        size_t i = (size_t)x + nx * ((size_t)y + ny * (size_t)z);
                        if (pc.truth[i]) continue;
                        double best = 1e9;
                        for (long dz = -w[2]; dz <= w[2]; dz++)
                            for (long dy = -w[1]; dy <= w[1]; dy++)
                                for (long dx = -w[0]; dx <= w[0]; dx++) {
                                    long X = x + dx, Y = y + dy, Z = z + dz;
                                    if (X < 0 || Y < 0 || Z < 0 || X >= (long)nx || Y >= (long)ny || Z >= (long)nz) continue;
                                    if (lab[(size_t)X + nx * ((size_t)Y + ny * (size_t)Z)] != l) continue;
                                    double d = sqrt(pow(dx * g.spacing[0], 2) + pow(dy * g.spacing[1], 2) + pow(dz * g.spacing[2], 2));
                                    if (d < best) best = d;
                                }
                        if (best > 8 && best <= 16) out += suv[i], nout++;
                    }
            double measured = (in / nin) / (out / nout);
            printf("pet%02d tumour %u: %ld voxels, measured TBR %.2f (asked %.1f..%.1f)\n", c + 1, l, m,
                   measured, o.tbr_lo, o.tbr_hi);
            CHECK(measured >= 0.85 * o.tbr_lo && measured <= 1.15 * o.tbr_hi);
        }
        /* raters agree reasonably with the truth */
        for (size_t k = 0; k < 3; k++) {
            double d = dice(pc.raters[k], pc.truth, n);
            CHECK(d > 0.4 && d < 0.98);
        }
        free(lab);
        sa_phantom_case_free(&pc);
    }
}

/* ---- NIfTI writer round trips ---- */

static void fill(sa_image *im, sa_pixel_type t) {
    size_t n = voxels(im), ps = sa_pixel_size(t);
    im->type = t;
    im->data = malloc(n * ps);
    uint8_t *p = im->data;
    for (size_t i = 0; i < n; i++) {
        double v = (double)((i * 37) % 251) - (t == SA_PIXEL_U8 || t == SA_PIXEL_U16 || t == SA_PIXEL_U32 || t == SA_PIXEL_U64 ? 0 : 100);
        switch (t) {
        case SA_PIXEL_U8: p[i] = (uint8_t)v; break;
        case SA_PIXEL_I8: ((int8_t *)p)[i] = (int8_t)v; break;
        case SA_PIXEL_U16: ((uint16_t *)p)[i] = (uint16_t)(v * 200); break;
        case SA_PIXEL_I16: ((int16_t *)p)[i] = (int16_t)(v * 100); break;
        case SA_PIXEL_U32: ((uint32_t *)p)[i] = (uint32_t)(v * 1e6); break;
        case SA_PIXEL_I32: ((int32_t *)p)[i] = (int32_t)(v * 1e6); break;
        case SA_PIXEL_U64: ((uint64_t *)p)[i] = (uint64_t)(v * 1e12); break;
        case SA_PIXEL_I64: ((int64_t *)p)[i] = (int64_t)(v * 1e12); break;
        case SA_PIXEL_F32: ((float *)p)[i] = (float)(v * 0.37); break;
        case SA_PIXEL_F64: ((double *)p)[i] = v * 0.123456789; break;
        }
    }
}

static void check_same(const sa_image *a, const sa_image *b, const char *what) {
    int ok = a->type == b->type;
    for (int i = 0; i < 3; i++) {
        ok = ok && a->size[i] == b->size[i];
        ok = ok && fabs(a->spacing[i] - b->spacing[i]) <= 1e-6 * fmax(1, fabs(a->spacing[i]));
        ok = ok && fabs(a->origin[i] - b->origin[i]) <= 1e-6 * fmax(1, fabs(a->origin[i]));
    }
    for (int i = 0; i < 9; i++) ok = ok && fabs(a->direction[i] - b->direction[i]) <= 1e-6;
    ok = ok && !memcmp(a->data, b->data, voxels(a) * sa_pixel_size(a->type));
    if (!ok) fprintf(stderr, "round trip differs: %s\n", what);
    CHECK(ok);
}

static void test_writer(const char *dir) {
    mkdir_p(dir);
    const double c = cos(0.3), s = sin(0.3);
    /* an oblique right-handed frame and a left-handed (qfac -1) one, in LPS */
    const double dirs[2][9] = {{c, -s, 0, s, c, 0, 0, 0, 1}, {-1, 0, 0, 0, 1, 0, 0, 0, 1}};
    const sa_pixel_type types[] = {SA_PIXEL_U8, SA_PIXEL_I8, SA_PIXEL_U16, SA_PIXEL_I16, SA_PIXEL_U32,
                                   SA_PIXEL_I32, SA_PIXEL_U64, SA_PIXEL_I64, SA_PIXEL_F32, SA_PIXEL_F64};
    for (int d = 0; d < 2; d++)
        for (size_t t = 0; t < sizeof types / sizeof *types; t++)
            for (int gz = 0; gz < 2; gz++) {
                sa_image im = {{7, 5, 3}, {0.9, 1.25, 3.0}, {12.5, -30.25, 7.0}, {0}, SA_PIXEL_U8, NULL, NULL};
                memcpy(im.direction, dirs[d], sizeof im.direction);
                fill(&im, types[t]);
                char path[1024];
                snprintf(path, sizeof path, "%s/w_%d_%s.%s", dir, d, sa_pixel_type_name(types[t]), gz ? "nii.gz" : "nii");
                sa_error e = {{0}};
                int rc = sa_image_write(path, &im, &e);
                if (rc) fprintf(stderr, "%s\n", e.msg);
                CHECK(rc == 0);
                sa_image a = {0}, b = {0};
                rc = sa_image_read_with(path, SA_READER_ITK, &a, &e);
                if (rc) fprintf(stderr, "ITK: %s\n", e.msg);
                CHECK(rc == 0);
                rc = sa_image_read_with(path, SA_READER_NATIVE, &b, &e);
                if (rc) fprintf(stderr, "native: %s\n", e.msg);
                CHECK(rc == 0);
                if (a.data) check_same(&im, &a, path);
                if (b.data) check_same(&im, &b, path);
                sa_image_free(&a);
                sa_image_free(&b);
                sa_image_free(&im);
            }
    /* errors name the file */
    sa_image im = {{2, 2, 2}, {1, 1, 1}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, SA_PIXEL_U8, NULL, NULL};
    fill(&im, SA_PIXEL_U8);
    sa_error e = {{0}};
    CHECK(sa_nifti_write("/nonexistent-folder/x.nii", &im, 0, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "/nonexistent-folder/x.nii: ");
    sa_image_free(&im);
}

/* ---- the dataset on disk ---- */

static const char *cmp_root;
static const char *cmp_other;
static int cmp_files, cmp_diff;

static int compare_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)ftw;
    if (flag != FTW_F) return 0;
    char other[4096];
    snprintf(other, sizeof other, "%s%s", cmp_other, path + strlen(cmp_root));
    FILE *a = fopen(path, "rb"), *b = fopen(other, "rb");
    int same = a && b;
    while (same) {
        int ca = fgetc(a), cb = fgetc(b);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (a) fclose(a);
    if (b) fclose(b);
    cmp_files++;
    if (!same) {
        cmp_diff++;
        fprintf(stderr, "differs: %s\n", path);
    }
    return 0;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int run_demo(const char *kind, const char *out, const char *threads, const char *extra) {
    char *argv[16];
    int argc = 0;
    argv[argc++] = "make-demo";
    argv[argc++] = "--kind";
    argv[argc++] = (char *)kind;
    argv[argc++] = "--cases";
    argv[argc++] = "3";
    argv[argc++] = "--out";
    argv[argc++] = (char *)out;
    argv[argc++] = "--threads";
    argv[argc++] = (char *)threads;
    if (!strcmp(kind, "ms")) {
        argv[argc++] = "--size";
        argv[argc++] = "64x64x64";
    }
    if (extra) argv[argc++] = (char *)extra;
    argv[argc] = NULL;
    return cmd_dataset_make_demo(argc, argv);
}

static void test_dataset(const char *dir) {
    mkdir_p(dir);
    char a[2048], b[2048], p[4096];
    snprintf(a, sizeof a, "%s/ms_t1", dir);
    snprintf(b, sizeof b, "%s/ms_t2", dir);
    CHECK(!exists(a) && !exists(b)); /* ctest runs in a fresh folder per build; be safe */
    CHECK(run_demo("ms", a, "1", NULL) == 0);
    CHECK(run_demo("ms", b, "2", NULL) == 0);
    cmp_root = a, cmp_other = b, cmp_files = cmp_diff = 0;
    nftw(a, compare_entry, 16, FTW_PHYS);
    CHECK(cmp_files == 2 + 8 + 3 * (5 + 8)); /* top level, 8 derivatives, 3 cases x (5 + 8) */
    CHECK(cmp_diff == 0);
    static const char *ms_files[] = {
        "dataset_description.json", "participants.tsv",
        "sub-ms01/anat/sub-ms01_FLAIR.nii.gz", "sub-ms02/anat/sub-ms02_T1w.nii.gz",
        "sub-ms03/anat/sub-ms03_T2w.nii.gz", "sub-ms03/anat/sub-ms03_PDw.nii.gz",
        "sub-ms03/anat/sub-ms03_ce-gadolinium_T1w.nii.gz",
        "derivatives/rater1/dataset_description.json",
        "derivatives/rater7/sub-ms03/anat/sub-ms03_desc-lesion_mask.nii.gz",
        "derivatives/truth/dataset_description.json",
        "derivatives/truth/sub-ms02/anat/sub-ms02_desc-truth_mask.nii.gz"};
    for (size_t i = 0; i < sizeof ms_files / sizeof *ms_files; i++) {
        snprintf(p, sizeof p, "%s/%s", a, ms_files[i]);
        if (!exists(p)) fprintf(stderr, "missing %s\n", p);
        CHECK(exists(p));
    }
    /* the written masks read back as the generated ones, through the native reader */
    sa_phantom_options o;
    sa_phantom_options_default(&o, SA_PHANTOM_MS);
    o.size[0] = o.size[1] = o.size[2] = 64;
    sa_phantom_case pc;
    sa_error e;
    CHECK(sa_phantom_generate(&o, 2, &pc, &e) == 0);
    sa_image im = {0};
    snprintf(p, sizeof p, "%s/derivatives/rater7/sub-ms03/anat/sub-ms03_desc-lesion_mask.nii.gz", a);
    CHECK(sa_image_read_with(p, SA_READER_NATIVE, &im, &e) == 0);
    CHECK(im.data && im.type == SA_PIXEL_U8 && !memcmp(im.data, pc.raters[6], 64 * 64 * 64));
    sa_image_free(&im);
    snprintf(p, sizeof p, "%s/sub-ms03/anat/sub-ms03_FLAIR.nii.gz", a);
    CHECK(sa_image_read(p, &im, &e) == 0);
    CHECK(im.data && !memcmp(im.data, pc.images[0].data, 64 * 64 * 64 * 2));
    CHECK_NEAR(im.origin[0], pc.images[0].origin[0], 1e-9);
    sa_image_free(&im);
    sa_phantom_case_free(&pc);
    /* a non-empty DIR is refused (exit 2) and left alone */
    CHECK(run_demo("ms", a, "1", NULL) == 2);
    CHECK(exists(p));
    /* PET with CT and the anisotropic grid */
    snprintf(a, sizeof a, "%s/pet", dir);
    CHECK(run_demo("pet", a, "2", "--ct") == 0);
    snprintf(p, sizeof p, "%s/sub-pet02/pet/sub-pet02_pet.nii.gz", a);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/sub-pet02/pet/sub-pet02_pet.json", a);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/sub-pet03/anat/sub-pet03_ct.nii.gz", a);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/derivatives/rater3/sub-pet01/pet/sub-pet01_desc-lesion_mask.nii.gz", a);
    CHECK(exists(p));
    snprintf(p, sizeof p, "%s/derivatives/truth/sub-pet01/pet/sub-pet01_desc-truth_mask.nii.gz", a);
    CHECK(exists(p));
    /* usage errors */
    char *bad1[] = {"make-demo", "--kind", "mri", "--out", "x", NULL};
    CHECK(cmd_dataset_make_demo(5, bad1) == 2);
    char *bad2[] = {"make-demo", "--kind", "ms", "--out", "x", "--size", "64x64", NULL};
    CHECK(cmd_dataset_make_demo(7, bad2) == 2);
    char *bad3[] = {"make-demo", "--kind", "ms", "--out", "x", "--tbr", "3,10", NULL};
    CHECK(cmd_dataset_make_demo(7, bad3) == 2);
    char *bad4[] = {"make-demo", "--kind", "pet", NULL};
    CHECK(cmd_dataset_make_demo(3, bad4) == 2);
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "make-demo")) return cmd_dataset_make_demo(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "unit")) {
        test_determinism();
        test_ms_realism();
        test_pet_realism(0);
        test_pet_realism(1);
    } else if (argc >= 3 && !strcmp(argv[1], "writer")) {
        test_writer(argv[2]);
    } else if (argc >= 3 && !strcmp(argv[1], "dataset")) {
        test_dataset(argv[2]);
    } else {
        fprintf(stderr, "usage: test_phantoms unit | writer DIR | dataset DIR | make-demo ARGS\n");
        return 2;
    }
    return test_report("test_phantoms");
}
