/*
 * test_image_io_twins.c: a file handed to ITK is the file that was named. ITK's
 * niftilib looks a NIfTI file up by its base name (nifti_findhdrname): asked for
 * X.nii.gz it can open an X.nii, X.hdr or X.nii.gz lying beside it, after
 * SegArena's own checks ran on X.nii.gz. Each case here writes the named file
 * and a different "twin" beside it and reads the named file with the AUTO reader
 * (the files are 2D, dim[0] = 2, which the native reader hands to ITK, or
 * rescaled by scl_slope), the ITK reader, and the isolated reader
 * (segarena-read-image); the named file's voxels must come back, and no private
 * folder may be left behind. MetaImage and NRRD detached data files, named
 * relative to the header's folder, must still be found.
 *
 * Usage: test_image_io_twins SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setenv */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets.h"
#include "test.h"

static char scratch[1024];
static char tmpdir[1100]; /* TMPDIR for this test: the reader's private folders go there */

enum { NX = 8, NY = 6 };

/* A NIfTI-1 header of a NX x NY uint8 image: dim[0] = 2 (2D), identity
 * geometry. magic "n+1" (one file, vox_offset 352) or "ni1" (two files). */
static void make_header(unsigned char *h, int one_file, float slope) {
    memset(h, 0, 352);
    int32_t sizeof_hdr = 348;
    memcpy(h, &sizeof_hdr, 4);
    int16_t dim[8] = {2, NX, NY, 1, 1, 1, 1, 1};
    memcpy(h + 40, dim, sizeof dim);
    int16_t datatype = 2, bitpix = 8;
    memcpy(h + 70, &datatype, 2);
    memcpy(h + 72, &bitpix, 2);
    float pixdim[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    memcpy(h + 76, pixdim, sizeof pixdim);
    float vox_offset = one_file ? 352.0f : 0.0f;
    memcpy(h + 108, &vox_offset, 4);
    memcpy(h + 112, &slope, 4);
    h[123] = 2; /* xyzt_units: mm */
    memcpy(h + 344, one_file ? "n+1" : "ni1", 4);
}

/* The voxels: value v in a block of `count` voxels from the start, 0 elsewhere. */
static void make_voxels(unsigned char *v, int count, unsigned char value) {
    memset(v, 0, NX * NY);
    memset(v, value, (size_t)count);
}

static void write_bytes(const char *path, const unsigned char *a, size_t na,
                        const unsigned char *b, size_t nb) {
    if (strstr(path, ".gz")) {
        gzFile gz = gzopen(path, "wb");
        CHECK(gz != NULL);
        if (!gz) return;
        CHECK(gzwrite(gz, a, (unsigned)na) == (int)na);
        if (nb) CHECK(gzwrite(gz, b, (unsigned)nb) == (int)nb);
        CHECK(gzclose(gz) == Z_OK);
        return;
    }
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(a, 1, na, f) == na);
    if (nb) CHECK(fwrite(b, 1, nb, f) == nb);
    CHECK(fclose(f) == 0);
}

/* A one-file NIfTI at dir/name whose first `count` voxels are 1. */
static void write_nifti(const char *dir, const char *name, int count, float slope) {
    unsigned char h[352], v[NX * NY];
    make_header(h, 1, slope);
    make_voxels(v, count, 1);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_bytes(path, h, 352, v, sizeof v);
}

/* A two-file NIfTI (or, with magic "ni1", what niftilib reads as one): base.hdr
 * (or .hdr.gz) and base.img (or .img.gz). */
static void write_pair(const char *dir, const char *base, const char *gz, int count) {
    unsigned char h[352], v[NX * NY];
    make_header(h, 0, 0);
    make_voxels(v, count, 1);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.hdr%s", dir, base, gz);
    write_bytes(path, h, 348, NULL, 0);
    snprintf(path, sizeof path, "%s/%s.img%s", dir, base, gz);
    write_bytes(path, v, sizeof v, NULL, 0);
}

static size_t count_foreground(const sa_image *img) {
    size_t n = 0, voxels = img->size[0] * img->size[1] * img->size[2];
    for (size_t i = 0; i < voxels; i++) {
        double x = img->type == SA_PIXEL_F32 ? ((const float *)img->data)[i]
                                             : ((const uint8_t *)img->data)[i];
        n += x > 0;
    }
    return n;
}

static int entries_in(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    if (d) closedir(d);
    return n;
}

/* Reads dir/named every way; it holds `want` foreground voxels. */
static void expect_named_read(const char *what, const char *dir, const char *named, size_t want) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, named);
    static const sa_reader readers[] = {SA_READER_AUTO, SA_READER_ITK};
    for (int r = 0; r < 2; r++) {
        sa_image img;
        sa_error err = {{0}};
        int rc = sa_image_read_with(path, readers[r], &img, &err);
        if (rc != 0) fprintf(stderr, "%s (%s): %s\n", what, r ? "itk" : "auto", err.msg);
        CHECK(rc == 0);
        if (rc != 0) continue;
        size_t got = count_foreground(&img);
        if (got != want)
            fprintf(stderr, "%s (%s reader): %zu foreground voxels read, the named file holds %zu\n",
                    what, r ? "itk" : "auto", got, want);
        CHECK(got == want);
        CHECK(img.size[0] == NX && img.size[1] == NY && img.size[2] == 1);
        sa_image_free(&img);
    }
    /* the evaluator's path: a contestant's output read in segarena-read-image */
    sa_image like = {0};
    like.size[0] = NX;
    like.size[1] = NY;
    like.size[2] = 1;
    for (int i = 0; i < 3; i++) like.spacing[i] = 1;
    like.direction[0] = like.direction[4] = like.direction[8] = 1;
    sa_image img;
    sa_error err = {{0}};
    int rc = sa_image_read_like_isolated(path, &like, "like", &img, &err);
    if (rc != 0) fprintf(stderr, "%s (isolated): %s\n", what, err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        size_t got = count_foreground(&img);
        if (got != want)
            fprintf(stderr, "%s (isolated): %zu foreground voxels read, the named file holds %zu\n",
                    what, got, want);
        CHECK(got == want);
        sa_image_free(&img);
    }
    CHECK(entries_in(tmpdir) == 0);
}

/* A fresh folder scratch/name. */
static void case_dir(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", scratch, name);
    mkdir(out, 0777);
}

static void check_nifti_twins(void) {
    char d[1100];
    /* X.nii.gz named, X.nii beside it (the reviewer's case) */
    case_dir(d, sizeof d, "gz_vs_nii");
    write_nifti(d, "x.nii.gz", 16, 0);
    write_nifti(d, "x.nii", 4, 0);
    expect_named_read("x.nii.gz beside x.nii", d, "x.nii.gz", 16);
    /* the other way round */
    case_dir(d, sizeof d, "nii_vs_gz");
    write_nifti(d, "x.nii", 16, 0);
    write_nifti(d, "x.nii.gz", 4, 0);
    expect_named_read("x.nii beside x.nii.gz", d, "x.nii", 16);
    /* a two-file pair X.hdr/X.img beside X.nii, and beside X.nii.gz */
    case_dir(d, sizeof d, "nii_vs_pair");
    write_nifti(d, "x.nii", 16, 0);
    write_pair(d, "x", "", 4);
    expect_named_read("x.nii beside x.hdr/x.img", d, "x.nii", 16);
    case_dir(d, sizeof d, "gz_vs_pair");
    write_nifti(d, "x.nii.gz", 16, 0);
    write_pair(d, "x", "", 4);
    expect_named_read("x.nii.gz beside x.hdr/x.img", d, "x.nii.gz", 16);
    case_dir(d, sizeof d, "gz_vs_gzpair");
    write_nifti(d, "x.nii.gz", 16, 0);
    write_pair(d, "x", ".gz", 4);
    expect_named_read("x.nii.gz beside x.hdr.gz/x.img.gz", d, "x.nii.gz", 16);
    /* upper-case suffixes, which SegArena accepts */
    case_dir(d, sizeof d, "upper");
    write_nifti(d, "x.NII.GZ", 16, 0);
    write_nifti(d, "x.NII", 4, 0);
    write_nifti(d, "x.nii", 4, 0);
    expect_named_read("x.NII.GZ beside x.NII and x.nii", d, "x.NII.GZ", 16);
    /* every twin at once, and a name with spaces and a leading dash */
    case_dir(d, sizeof d, "all");
    write_nifti(d, "-a b.nii.gz", 16, 0);
    write_nifti(d, "-a b.nii", 4, 0);
    write_pair(d, "-a b", "", 4);
    write_pair(d, "-a b", ".gz", 4);
    expect_named_read("-a b.nii.gz beside every twin", d, "-a b.nii.gz", 16);
    /* rescaled (scl_slope 2: the native reader hands it to ITK, read as float32):
     * the twin is a truncated copy */
    case_dir(d, sizeof d, "slope");
    write_nifti(d, "x.nii.gz", 16, 2.0f);
    write_nifti(d, "x.nii", 4, 2.0f);
    expect_named_read("rescaled x.nii.gz beside x.nii", d, "x.nii.gz", 16);

    char path[1200];
    sa_image img;
    sa_error err = {{0}};

    /* a relative path (the link must point at the file, not at a name relative to
     * the private folder) */
    char cwd[1200];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    case_dir(d, sizeof d, "relative");
    write_nifti(d, "x.nii.gz", 16, 0);
    write_nifti(d, "x.nii", 4, 0);
    CHECK(chdir(d) == 0);
    expect_named_read("relative x.nii.gz beside x.nii", ".", "x.nii.gz", 16);
    CHECK(chdir(cwd) == 0);

    /* a helper that dies leaves nothing behind: its private folder is removed */
    snprintf(path, sizeof path, "%s/gz_vs_nii/x.nii.gz", scratch);
    sa_image like = {0};
    like.size[0] = NX;
    like.size[1] = NY;
    like.size[2] = 1;
    for (int i = 0; i < 3; i++) like.spacing[i] = 1;
    like.direction[0] = like.direction[4] = like.direction[8] = 1;
    setenv("SEGARENA_READ_IMAGE_FAULT", "abort", 1);
    CHECK(sa_image_read_like_isolated(path, &like, "like", &img, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "crashed");
    unsetenv("SEGARENA_READ_IMAGE_FAULT");
    CHECK(entries_in(tmpdir) == 0);

    /* errors name the file asked for, never the private link */
    case_dir(d, sizeof d, "error");
    snprintf(path, sizeof path, "%s/x.nii.gz", d);
    unsigned char h[352], v[NX * NY];
    make_header(h, 1, 0);
    make_voxels(v, 16, 1);
    write_bytes(path, h, 352, v, sizeof v - 10); /* truncated */
    CHECK(sa_image_read_with(path, SA_READER_ITK, &img, &err) == -1);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    CHECK(strstr(err.msg, tmpdir) == NULL);
    CHECK(entries_in(tmpdir) == 0);
}

/* Detached data files are named relative to the header's folder: .mhd and .nhdr
 * still find theirs. */
static void check_detached(void) {
    char d[1100];
    case_dir(d, sizeof d, "detached");
    sa_image img = {0};
    img.size[0] = NX;
    img.size[1] = NY;
    img.size[2] = 3;
    for (int i = 0; i < 3; i++) img.spacing[i] = 1;
    img.direction[0] = img.direction[4] = img.direction[8] = 1;
    img.type = SA_PIXEL_U8;
    unsigned char v[NX * NY * 3] = {0};
    memset(v, 1, 20);
    img.data = v;
    static const char *const names[] = {"x.mhd", "x.nhdr"};
    for (int i = 0; i < 2; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", d, names[i]);
        sa_error err = {{0}};
        CHECK(sa_image_write(path, &img, &err) == 0);
        for (int r = 0; r < 2; r++) {
            sa_image back;
            int rc = sa_image_read_with(path, r ? SA_READER_ITK : SA_READER_AUTO, &back, &err);
            if (rc != 0) fprintf(stderr, "%s: %s\n", path, err.msg);
            CHECK(rc == 0);
            if (rc == 0) {
                CHECK(count_foreground(&back) == 20);
                sa_image_free(&back);
            }
        }
    }
    CHECK(entries_in(tmpdir) == 0);
}

/* A $TMPDIR where ITK's private folder cannot be made is the host's fault, not
 * the file's: SA_IMAGE_READ_NOT_RUN, which the worker retries instead of failing
 * the contestant's output. */
static void check_unusable_tmpdir(void) {
    char d[1100], path[1200], missing[1200];
    case_dir(d, sizeof d, "unusable_tmpdir");
    write_nifti(d, "x.nii.gz", 16, 0);
    write_nifti(d, "scaled.nii.gz", 16, 2.0f); /* a rescale: ITK reads it, under AUTO too */
    snprintf(path, sizeof path, "%s/x.nii.gz", d);
    sa_image like;
    sa_error err = {{0}};
    CHECK(sa_image_read(path, &like, &err) == 0);
    snprintf(path, sizeof path, "%s/scaled.nii.gz", d);
    snprintf(missing, sizeof missing, "%s/no-such-folder", d);
    setenv("TMPDIR", missing, 1);
    sa_image img;
    int rc = sa_image_read_like(path, &like, "x.nii.gz", &img, &err);
    CHECK(rc == SA_IMAGE_READ_NOT_RUN);
    CHECK(strstr(err.msg, "scaled.nii.gz") != NULL && strstr(err.msg, "private folder") != NULL);
    if (rc == 0) sa_image_free(&img);
    /* the command line's reads say so too (one line naming the file) */
    rc = sa_image_read_with(path, SA_READER_ITK, &img, &err);
    CHECK(rc == -1 && strstr(err.msg, "private folder") != NULL);
    setenv("TMPDIR", tmpdir, 1);
    sa_image_free(&like);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    snprintf(scratch, sizeof scratch, "%s", argv[1]);
    /* its parents too: run alone on a fresh build, none of them exists yet */
    for (char *slash = strchr(scratch + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(scratch, 0777);
        *slash = '/';
    }
    mkdir(scratch, 0777);
    /* a fresh TMPDIR, so that a folder left by an earlier run cannot count */
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp-XXXXXX", scratch);
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 2;
    }
    setenv("TMPDIR", tmpdir, 1);
    check_nifti_twins();
    check_detached();
    check_unusable_tmpdir();
    CHECK(rmdir(tmpdir) == 0); /* empty: every private folder was removed */
    return test_report("test_image_io_twins");
}
