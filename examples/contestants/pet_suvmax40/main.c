/* PET lesion baseline: the classic clinical 40 % of SUVmax threshold.
 *
 * 1. Find the hottest voxel (SUVmax) of the PET image.
 * 2. Region-grow from it over the voxels >= 40 % of SUVmax (6-connected).
 * 3. That connected region is the mask (one lesion; no organ knowledge, so when
 *    the heart or a kidney is the hottest structure, that is what is segmented).
 *
 * Usage (inside the container): pet_suvmax40 [INPUT_DIR [OUTPUT_DIR]]
 * defaults /input and /output; reads pet.nii.gz (or pet.nii), writes
 * segmentation.nii.gz. Exit 0 on success, 1 with a message on stderr otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/nifti_io.h"

#define FRACTION 0.40f

int main(int argc, char **argv)
{
    const char *in = argc > 1 ? argv[1] : "/input";
    const char *out = argc > 2 ? argv[2] : "/output";
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/pet.nii.gz", in);
    if (access(path, R_OK) != 0) snprintf(path, sizeof path, "%s/pet.nii", in);
    nio_image img;
    if (nio_read(path, &img, err, sizeof err) < 0) {
        fprintf(stderr, "pet_suvmax40: %s\n", err);
        return 1;
    }
    size_t n = img.n, imax = 0;
    for (size_t i = 1; i < n; i++) if (img.data[i] > img.data[imax]) imax = i;
    float suvmax = img.data[imax];
    if (!(suvmax > 0.0f)) { fprintf(stderr, "pet_suvmax40: %s: no uptake (SUVmax %g)\n", path, suvmax); return 1; }
    float thr = FRACTION * suvmax;
    unsigned char *above = malloc(n), *mask = calloc(n, 1);
    int *labels = malloc(n * sizeof *labels);
    if (!above || !mask || !labels) { fprintf(stderr, "pet_suvmax40: out of memory\n"); return 1; }
    for (size_t i = 0; i < n; i++) above[i] = img.data[i] >= thr;
    if (nio_components6(above, img.nx, img.ny, img.nz, labels) < 0) { fprintf(stderr, "pet_suvmax40: out of memory\n"); return 1; }
    size_t count = 0;
    for (size_t i = 0; i < n; i++) { mask[i] = labels[i] == labels[imax]; count += mask[i]; }
    fprintf(stderr, "pet_suvmax40: SUVmax %.2f at voxel (%zu,%zu,%zu), threshold %.2f, region %zu voxels\n",
            suvmax, imax % img.nx, (imax / img.nx) % img.ny, imax / ((size_t)img.nx * img.ny), thr, count);
    snprintf(path, sizeof path, "%s/segmentation.nii.gz", out);
    if (nio_write_mask(path, &img, mask, err, sizeof err) < 0) {
        fprintf(stderr, "pet_suvmax40: %s\n", err);
        return 1;
    }
    free(labels); free(mask); free(above); nio_free(&img);
    return 0;
}
