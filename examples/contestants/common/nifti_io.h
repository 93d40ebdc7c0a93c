/* Small self-contained NIfTI-1 reader/writer (.nii and .nii.gz, through zlib)
 * for the SegArena baseline contestants. Little-endian single-file NIfTI-1 only. */
#ifndef CONTESTANT_NIFTI_IO_H
#define CONTESTANT_NIFTI_IO_H

#include <stddef.h>

typedef struct {
    unsigned char hdr[348]; /* the input's header, copied verbatim */
    int nx, ny, nz;         /* grid (dim[1..3]; dim[4..] must be 1) */
    size_t n;               /* nx*ny*nz */
    float *data;            /* voxel values, scl_slope/scl_inter applied */
} nio_image;

/* Reads PATH (.nii or .nii.gz). Returns 0, or -1 with a one-line message in ERR. */
int nio_read(const char *path, nio_image *img, char *err, size_t errlen);

/* Writes MASK (n bytes, 0/1) on IMG's grid to PATH (.nii.gz compressed when the
 * name ends in .gz): the input header with datatype uint8, bitpix 8, scl_slope 0. */
int nio_write_mask(const char *path, const nio_image *img, const unsigned char *mask,
                   char *err, size_t errlen);

void nio_free(nio_image *img);

/* Labels the 6-connected components of MASK (nonzero voxels) with 1..; LABELS
 * must hold n ints. Returns the number of components or -1 (out of memory). */
long nio_components6(const unsigned char *mask, int nx, int ny, int nz, int *labels);

#endif
