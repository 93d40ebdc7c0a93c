/* MS lesion baseline: FLAIR hyperintensity threshold within the head/brain.
 *
 * 1. "Brain" = FLAIR above a background threshold of 10 % of the 99th percentile
 *    (air is Rician noise near 0; every tissue is well above it).
 * 2. Lesion candidates = FLAIR > mean + K * std of the brain voxels, K = 2.0:
 *    lesions are the brightest tissue on FLAIR (about twice white matter), so a
 *    two-sigma outlier rule is the textbook first guess. Not tuned to any truth.
 * 3. 6-connected components smaller than 3 voxels are removed (noise specks).
 *
 * Usage (inside the container): ms_flair_threshold [INPUT_DIR [OUTPUT_DIR]]
 * defaults /input and /output; reads flair.nii.gz (or flair.nii), writes
 * segmentation.nii.gz. Exit 0 on success, 1 with a message on stderr otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/nifti_io.h"

#define K_SIGMA 2.0
#define BG_FRACTION 0.10
#define MIN_COMPONENT 3

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *in = argc > 1 ? argv[1] : "/input";
    const char *out = argc > 2 ? argv[2] : "/output";
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/flair.nii.gz", in);
    if (access(path, R_OK) != 0) snprintf(path, sizeof path, "%s/flair.nii", in);
    nio_image img;
    if (nio_read(path, &img, err, sizeof err) < 0) {
        fprintf(stderr, "ms_flair_threshold: %s\n", err);
        return 1;
    }
    size_t n = img.n;
    float *sorted = malloc(n * sizeof *sorted);
    unsigned char *mask = calloc(n, 1);
    int *labels = malloc(n * sizeof *labels);
    if (!sorted || !mask || !labels) { fprintf(stderr, "ms_flair_threshold: out of memory\n"); return 1; }
    memcpy(sorted, img.data, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_float);
    float p99 = sorted[(size_t)(0.99 * (double)(n - 1))];
    free(sorted);
    if (!(p99 > 0.0f)) { fprintf(stderr, "ms_flair_threshold: %s: the FLAIR image is empty (99th percentile %g)\n", path, p99); return 1; }
    double bg = BG_FRACTION * p99, sum = 0, sum2 = 0;
    size_t nb = 0;
    for (size_t i = 0; i < n; i++)
        if (img.data[i] > bg) { sum += img.data[i]; sum2 += (double)img.data[i] * img.data[i]; nb++; }
    if (nb < 100) { fprintf(stderr, "ms_flair_threshold: %s: no brain found (%zu voxels above background)\n", path, nb); return 1; }
    double mean = sum / nb, sd = sqrt(fmax(sum2 / nb - mean * mean, 0.0));
    double thr = mean + K_SIGMA * sd;
    for (size_t i = 0; i < n; i++) mask[i] = img.data[i] > bg && img.data[i] > thr;
    long nc = nio_components6(mask, img.nx, img.ny, img.nz, labels);
    if (nc < 0) { fprintf(stderr, "ms_flair_threshold: out of memory\n"); return 1; }
    size_t *sizes = calloc((size_t)nc + 1, sizeof *sizes);
    if (!sizes) { fprintf(stderr, "ms_flair_threshold: out of memory\n"); return 1; }
    for (size_t i = 0; i < n; i++) sizes[labels[i]]++;
    size_t kept = 0;
    long kept_c = 0;
    for (long c = 1; c <= nc; c++) if (sizes[c] >= MIN_COMPONENT) kept_c++;
    for (size_t i = 0; i < n; i++) {
        mask[i] = labels[i] && sizes[labels[i]] >= MIN_COMPONENT;
        kept += mask[i];
    }
    fprintf(stderr, "ms_flair_threshold: brain %zu voxels (> %.1f), mean %.1f sd %.1f, threshold %.1f, "
            "%ld components, %ld kept (%zu voxels)\n", nb, bg, mean, sd, thr, nc, kept_c, kept);
    snprintf(path, sizeof path, "%s/segmentation.nii.gz", out);
    if (nio_write_mask(path, &img, mask, err, sizeof err) < 0) {
        fprintf(stderr, "ms_flair_threshold: %s\n", err);
        return 1;
    }
    free(sizes); free(labels); free(mask); nio_free(&img);
    return 0;
}
