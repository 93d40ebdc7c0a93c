/*
 * test_image_io_formats.c: round trips through every output format (.nii,
 * .nii.gz, .mha, .mhd, .nrrd, .nhdr) for every pixel type, the atomic write (no
 * temporary files left, overwriting works), refused writes, refused MetaImage
 * inputs (4D, vector pixels, bad spacing) and a DICOM series folder made by
 * dcmtk (make_dicom_series.py), with symlinks in it (to files outside a read's
 * root, dangling) and a FIFO.
 *
 * Usage: test_image_io_formats SCRATCH_DIR DICOM_FIXTURE_DIR
 */
#define _XOPEN_SOURCE 700 /* realpath, symlink, mkfifo */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets.h"
#include "test.h"

static const char *scratch;

static void make_test_image(sa_image *img, sa_pixel_type type) {
    memset(img, 0, sizeof *img);
    img->size[0] = 9;
    img->size[1] = 7;
    img->size[2] = 5;
    img->spacing[0] = 0.75;
    img->spacing[1] = 1.25;
    img->spacing[2] = 2.5;
    img->origin[0] = -12.5;
    img->origin[1] = 30.25;
    img->origin[2] = 7.0;
    /* a rotation about z by 30 degrees, then a flip of z: oblique, left-handed */
    double c = sqrt(3.0) / 2, s = 0.5;
    double d[9] = {c, -s, 0, s, c, 0, 0, 0, -1};
    memcpy(img->direction, d, sizeof d);
    img->type = type;
    size_t n = 9 * 7 * 5, psize = sa_pixel_size(type);
    unsigned char *data = malloc(n * psize);
    for (size_t i = 0; i < n; i++) {
        long v = (long)((i * 7) % 61) - (type == SA_PIXEL_I8 || type == SA_PIXEL_I16 ||
                                                   type == SA_PIXEL_I32 || type == SA_PIXEL_I64
                                               ? 30
                                               : 0);
        unsigned char *p = data + i * psize;
        switch (type) {
        case SA_PIXEL_U8: *(uint8_t *)p = (uint8_t)v; break;
        case SA_PIXEL_I8: *(int8_t *)p = (int8_t)v; break;
        case SA_PIXEL_U16: *(uint16_t *)p = (uint16_t)(v * 1000); break;
        case SA_PIXEL_I16: *(int16_t *)p = (int16_t)(v * 1000); break;
        case SA_PIXEL_U32: *(uint32_t *)p = (uint32_t)v * 100000u; break;
        case SA_PIXEL_I32: *(int32_t *)p = (int32_t)v * 100000; break;
        case SA_PIXEL_U64: *(uint64_t *)p = (uint64_t)v << 40; break;
        case SA_PIXEL_I64: *(int64_t *)p = (int64_t)v * ((int64_t)1 << 40); break;
        case SA_PIXEL_F32: *(float *)p = (float)v * 0.1f; break;
        case SA_PIXEL_F64: *(double *)p = (double)v / 3.0; break;
        }
    }
    img->data = data;
}

static int temp_files_left(const char *dir) {
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, ".tmp-", 5) == 0) found = 1;
    if (d) closedir(d);
    return found;
}

static void check_round_trip(const char *ext, sa_pixel_type type) {
    char path[1024];
    snprintf(path, sizeof path, "%s/rt_%s%s", scratch, sa_pixel_type_name(type), ext);
    sa_image img, back = {0};
    make_test_image(&img, type);
    sa_error err = {{0}};
    int rc = sa_image_write(path, &img, &err);
    if (rc != 0) fprintf(stderr, "write %s: %s\n", path, err.msg);
    CHECK(rc == 0);
    /* NIfTI keeps geometry in float32; the other formats keep doubles */
    int is_nifti = strstr(ext, ".nii") != NULL;
    double tol = is_nifti ? 2e-6 : 1e-12;
    for (int reader = 0; reader < 2 && rc == 0; reader++) {
        rc = sa_image_read_with(path, reader ? SA_READER_ITK : SA_READER_AUTO, &back, &err);
        if (rc != 0) fprintf(stderr, "read %s: %s\n", path, err.msg);
        CHECK(rc == 0);
        if (rc != 0) break;
        CHECK(back.type == img.type);
        CHECK(memcmp(back.size, img.size, sizeof img.size) == 0);
        if (back.type == img.type && memcmp(back.size, img.size, sizeof img.size) == 0)
            CHECK(memcmp(back.data, img.data, 9 * 7 * 5 * sa_pixel_size(type)) == 0);
        for (int i = 0; i < 3; i++) {
            CHECK_NEAR(back.spacing[i], img.spacing[i], tol);
            CHECK_NEAR(back.origin[i], img.origin[i], tol * 100);
        }
        for (int i = 0; i < 9; i++) CHECK_NEAR(back.direction[i], img.direction[i], tol);
        sa_image_free(&back);
    }
    sa_image_free(&img);
}

static void check_writes(void) {
    static const char *exts[] = {".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr"};
    for (size_t e = 0; e < sizeof exts / sizeof *exts; e++)
        for (int t = SA_PIXEL_U8; t <= SA_PIXEL_F64; t++) check_round_trip(exts[e], (sa_pixel_type)t);
    CHECK(!temp_files_left(scratch));

    /* overwriting an existing file replaces it */
    char path[1024];
    snprintf(path, sizeof path, "%s/rt_uint8.nii.gz", scratch);
    sa_image img, back = {0};
    make_test_image(&img, SA_PIXEL_U8);
    ((uint8_t *)img.data)[0] = 99;
    sa_error err = {{0}};
    CHECK(sa_image_write(path, &img, &err) == 0);
    CHECK(sa_image_read(path, &back, &err) == 0);
    CHECK(back.data && ((uint8_t *)back.data)[0] == 99);
    sa_image_free(&back);

    /* refused writes */
    snprintf(path, sizeof path, "%s/out.png", scratch);
    CHECK(sa_image_write(path, &img, &err) == -1);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    CHECK_STR_CONTAINS(err.msg, "unsupported output format");
    snprintf(path, sizeof path, "%s/no/such/folder/out.nii.gz", scratch);
    CHECK(sa_image_write(path, &img, &err) == -1);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    CHECK_STR_CONTAINS(err.msg, "does not exist"); /* said by the path check, before any work */
    snprintf(path, sizeof path, "%s/bad_spacing.nii.gz", scratch);
    img.spacing[1] = 0.0;
    CHECK(sa_image_write(path, &img, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "spacing");
    img.spacing[1] = 1.0;
    img.origin[2] = NAN;
    CHECK(sa_image_write(path, &img, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "origin");
    struct stat st;
    CHECK(stat(path, &st) != 0);
    CHECK(!temp_files_left(scratch));
    sa_image_free(&img);
}

/* Writes a small MetaImage with the given header lines and expects a refusal. */
static void check_refused_mha(const char *name, const char *header_lines, size_t data_bytes,
                              const char *expect) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.mha", scratch, name);
    FILE *fp = fopen(path, "wb");
    fprintf(fp, "ObjectType = Image\n%sBinaryData = True\nBinaryDataByteOrderMSB = False\n"
                "ElementDataFile = LOCAL\n", header_lines);
    for (size_t i = 0; i < data_bytes; i++) fputc((int)(i & 0x7f), fp);
    fclose(fp);
    sa_image img = {0};
    sa_error err = {{0}};
    CHECK(sa_image_read(path, &img, &err) == -1);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    CHECK_STR_CONTAINS(err.msg, expect);
    CHECK(img.data == NULL);
    printf("  %-14s refused: %s\n", name, err.msg);
}

static void check_refused_inputs(void) {
    check_refused_mha("four_d", "NDims = 4\nDimSize = 2 2 2 3\nElementType = MET_UCHAR\n", 24, "4D");
    check_refused_mha("vector",
                      "NDims = 3\nDimSize = 2 2 2\nElementNumberOfChannels = 3\n"
                      "ElementType = MET_UCHAR\n", 24, "vector");
    check_refused_mha("zero_spacing",
                      "NDims = 3\nDimSize = 2 2 2\nElementSpacing = 1 0 1\nElementType = MET_UCHAR\n",
                      8, "spacing");
    check_refused_mha("neg_spacing",
                      "NDims = 3\nDimSize = 2 2 2\nElementSpacing = 1 1 -2\nElementType = MET_UCHAR\n",
                      8, "spacing");
    check_refused_mha("bad_offset",
                      "NDims = 3\nDimSize = 2 2 2\nOffset = 0 inf 0\nElementType = MET_UCHAR\n", 8,
                      "cannot be read");
    /* a 4th dimension of size 1 is accepted */
    char path[1024];
    snprintf(path, sizeof path, "%s/four_d_one.mha", scratch);
    FILE *fp = fopen(path, "wb");
    fprintf(fp, "ObjectType = Image\nNDims = 4\nDimSize = 2 3 4 1\nElementType = MET_SHORT\n"
                "ElementSpacing = 0.5 0.5 2 1\nElementDataFile = LOCAL\n");
    for (int i = 0; i < 24; i++) {
        int16_t v = (int16_t)(i - 3);
        fwrite(&v, 2, 1, fp);
    }
    fclose(fp);
    sa_image img = {0};
    sa_error err = {{0}};
    CHECK(sa_image_read(path, &img, &err) == 0);
    CHECK(img.size[0] == 2 && img.size[1] == 3 && img.size[2] == 4);
    CHECK(img.type == SA_PIXEL_I16);
    CHECK(img.data && ((int16_t *)img.data)[23] == 20);
    CHECK(img.spacing[2] == 2.0);
    sa_image_free(&img);
}

static void check_dicom(const char *dir) {
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/expected.txt", dir);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp) return;
    size_t size[3] = {0};
    double spacing[3] = {0}, origin[3] = {0}, direction[9] = {0};
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, "size ", 5) == 0)
            sscanf(line + 5, "%zu %zu %zu", &size[0], &size[1], &size[2]);
        else if (strncmp(line, "spacing ", 8) == 0)
            sscanf(line + 8, "%lf %lf %lf", &spacing[0], &spacing[1], &spacing[2]);
        else if (strncmp(line, "origin ", 7) == 0)
            sscanf(line + 7, "%lf %lf %lf", &origin[0], &origin[1], &origin[2]);
        else if (strncmp(line, "direction ", 10) == 0)
            sscanf(line + 10, "%lf %lf %lf %lf %lf %lf %lf %lf %lf", &direction[0], &direction[1],
                   &direction[2], &direction[3], &direction[4], &direction[5], &direction[6],
                   &direction[7], &direction[8]);
    }
    fclose(fp);

    snprintf(path, sizeof path, "%s/series", dir);
    sa_image img = {0};
    sa_error err = {{0}};
    int rc = sa_image_read(path, &img, &err);
    if (rc != 0) fprintf(stderr, "DICOM: %s\n", err.msg);
    CHECK(rc == 0);
    if (rc == 0) {
        for (int i = 0; i < 3; i++) {
            CHECK(img.size[i] == size[i]);
            CHECK_NEAR(img.spacing[i], spacing[i], 1e-5);
            CHECK_NEAR(img.origin[i], origin[i], 1e-5);
        }
        for (int i = 0; i < 9; i++) CHECK_NEAR(img.direction[i], direction[i], 1e-6);
        CHECK(img.type == SA_PIXEL_I16);
        int values_ok = img.type == SA_PIXEL_I16;
        for (size_t z = 0; z < img.size[2] && values_ok; z++)
            for (size_t y = 0; y < img.size[1]; y++)
                for (size_t x = 0; x < img.size[0]; x++) {
                    int16_t v = ((int16_t *)img.data)[x + img.size[0] * (y + img.size[1] * z)];
                    if (v != (int16_t)(x + 10 * y + 100 * z - 50)) values_ok = 0;
                }
        CHECK(values_ok);
        printf("  DICOM series read: %zux%zux%zu\n", img.size[0], img.size[1], img.size[2]);
    }
    sa_image_free(&img);

    snprintf(path, sizeof path, "%s/two_series", dir);
    CHECK(sa_image_read(path, &img, &err) == -1);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    CHECK_STR_CONTAINS(err.msg, "2 DICOM series");
    CHECK_STR_CONTAINS(err.msg, "1.2.826.0.1.3680043.2.1125.77.1.1");
    CHECK_STR_CONTAINS(err.msg, "1.2.826.0.1.3680043.2.1125.77.1.2");
    printf("  two series refused: %s\n", err.msg);

    snprintf(path, sizeof path, "%s/empty", dir);
    CHECK(sa_image_read(path, &img, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "no DICOM series");

    /* a missing slice: ITK would average the spacing and misplace the slices */
    snprintf(path, sizeof path, "%s/gap", dir);
    CHECK(sa_image_read(path, &img, &err) == -1);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    CHECK_STR_CONTAINS(err.msg, "slice positions are not evenly spaced");
    printf("  gap refused: %s\n", err.msg);
    snprintf(path, sizeof path, "%s/series", dir);
    CHECK(sa_image_read_with(path, SA_READER_NATIVE, &img, &err) == -1);
}

/* Expects path (reader AUTO, or confined to root when root) refused with a line
 * starting with who and containing expect. */
static void expect_dicom_refused(const char *path, const char *root, const char *who,
                                 const char *expect) {
    sa_image img;
    sa_error err = {{0}};
    int rc = root ? sa_image_read_inside(path, root, &img, &err) : sa_image_read(path, &img, &err);
    CHECK(rc == -1);
    CHECK(img.data == NULL);
    CHECK(strncmp(err.msg, who, strlen(who)) == 0);
    CHECK_STR_CONTAINS(err.msg, expect);
    CHECK(strchr(err.msg, '\n') == NULL);
    printf("  refused: %s\n", err.msg);
    if (rc == 0) sa_image_free(&img);
}

/* A series folder whose files are symlinks: GDCM follows each wherever it leads,
 * and stops listing at an entry it cannot stat or that is no file. */
static void check_dicom_links(const char *dir) {
    char series[1024], root[1024], links[1100], file[1400], target[PATH_MAX + 300];
    snprintf(series, sizeof series, "%s/series", dir);
    snprintf(root, sizeof root, "%s/dicom_root", scratch);
    snprintf(links, sizeof links, "%s/series", root);
    mkdir(root, 0777);
    mkdir(links, 0777);
    char real_series[PATH_MAX], real_root[PATH_MAX];
    CHECK(realpath(series, real_series) != NULL);
    CHECK(realpath(root, real_root) != NULL);
    DIR *d = opendir(series);
    CHECK(d != NULL);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(file, sizeof file, "%s/%s", links, e->d_name);
        snprintf(target, sizeof target, "%s/%s", real_series, e->d_name);
        unlink(file);
        CHECK(symlink(target, file) == 0);
    }
    closedir(d);
    /* no root (score, consensus): the caller named the folder; its links are followed */
    sa_image img;
    sa_error err = {{0}};
    CHECK(sa_image_read(links, &img, &err) == 0);
    if (img.data == NULL) fprintf(stderr, "  %s\n", err.msg);
    sa_image_free(&img);
    /* confined to root (import): every file must resolve inside it */
    char want[2 * PATH_MAX + 64];
    snprintf(want, sizeof want, "symlink pointing outside %s (to %s/", real_root, real_series);
    expect_dicom_refused(links, root, links, want);
    /* the same links to copies inside root: read */
    char copies[1100], inner[1100];
    snprintf(copies, sizeof copies, "%s/copies", root);
    snprintf(inner, sizeof inner, "%s/inner", root);
    mkdir(copies, 0777);
    mkdir(inner, 0777);
    d = opendir(series);
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(file, sizeof file, "%s/%s", series, e->d_name);
        snprintf(target, sizeof target, "%s/%s", copies, e->d_name);
        FILE *in = fopen(file, "rb"), *out = fopen(target, "wb");
        char buf[4096];
        size_t n;
        while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
        if (in) fclose(in);
        if (out) fclose(out);
        snprintf(file, sizeof file, "%s/%s", inner, e->d_name);
        unlink(file);
        CHECK(symlink(target, file) == 0);
    }
    if (d) closedir(d);
    CHECK(sa_image_read_inside(inner, root, &img, &err) == 0);
    if (img.data == NULL) fprintf(stderr, "  %s\n", err.msg);
    sa_image_free(&img);
    /* the folder itself outside root */
    expect_dicom_refused(series, root, series, "resolves outside");

    /* a dangling symlink: named, whichever reader (GDCM said "no DICOM series" or
     * read the files listed before it) */
    char broken[1400];
    snprintf(broken, sizeof broken, "%s/broken.dcm", links);
    unlink(broken);
    CHECK(symlink("/nonexistent/segarena/IM9.dcm", broken) == 0);
    expect_dicom_refused(links, NULL, broken, "dangling symlink in a DICOM series folder");
    unlink(broken);
    snprintf(broken, sizeof broken, "%s/broken.dcm", inner); /* every other file inside root */
    unlink(broken);
    CHECK(symlink("/nonexistent/segarena/IM9.dcm", broken) == 0);
    expect_dicom_refused(inner, root, broken, "dangling symlink");
    unlink(broken);
    /* a FIFO: GDCM stops listing there too (and opening one would block) */
    char fifo[1400];
    snprintf(fifo, sizeof fifo, "%s/pipe.dcm", links);
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    expect_dicom_refused(links, NULL, fifo, "not a regular file");
    unlink(fifo);
    /* a sub-folder is skipped, as GDCM skips it */
    char sub[1400];
    snprintf(sub, sizeof sub, "%s/sub", links);
    mkdir(sub, 0777);
    CHECK(sa_image_read(links, &img, &err) == 0);
    sa_image_free(&img);
    rmdir(sub);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR DICOM_FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    scratch = argv[1];
    mkdir(scratch, 0777);
    check_writes();
    check_refused_inputs();
    check_dicom(argv[2]);
    check_dicom_links(argv[2]);
    return test_report("test_image_io_formats");
}
