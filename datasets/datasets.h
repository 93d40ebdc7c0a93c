/*
 * datasets.h: the public face of SegArena's image I/O (and, later, dataset
 * manifests, BIDS import and synthetic phantoms).
 *
 * Images are read through ITK 5.2 (one C++ shim file, itk_shim.cxx) for every
 * format ITK knows: NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), NRRD (.nrrd,
 * .nhdr) and DICOM series folders. Plain 3D NIfTI files take a native fast path
 * (nifti_native.c, libdeflate) that is tested to give exactly ITK's voxels and
 * geometry; anything unusual falls back to ITK.
 *
 * Geometry follows ITK: world coordinates in LPS mm, origin = centre of voxel
 * (0,0,0), direction = 3x3 matrix whose columns are the x, y, z axis directions.
 * Voxel data is x fastest: index = x + nx*(y + ny*z).
 *
 * Every error message starts with the file name: "<path>: <problem>".
 */
#ifndef SEGARENA_DATASETS_H
#define SEGARENA_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h" /* sa_error, sa_grid */

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sa_pixel_type {
    SA_PIXEL_U8,
    SA_PIXEL_I8,
    SA_PIXEL_U16,
    SA_PIXEL_I16,
    SA_PIXEL_U32,
    SA_PIXEL_I32,
    SA_PIXEL_U64,
    SA_PIXEL_I64,
    SA_PIXEL_F32,
    SA_PIXEL_F64
} sa_pixel_type;

size_t sa_pixel_size(sa_pixel_type t);
const char *sa_pixel_type_name(sa_pixel_type t);

/* A scalar 3D image (2D images are read with size[2] == 1). */
typedef struct sa_image {
    size_t size[3];
    double spacing[3];   /* mm */
    double origin[3];    /* LPS mm, centre of voxel (0,0,0) */
    double direction[9]; /* row-major; column j = direction of axis j */
    sa_pixel_type type;
    void *data; /* size[0]*size[1]*size[2] pixels, x fastest; owned */
    /* The allocation that holds data, when data points inside a larger block
     * (the native NIfTI reader inflates header and voxels in one buffer and keeps
     * it to avoid a copy). NULL when data itself was malloc'ed. Release with
     * sa_image_free; to build an image by hand, malloc data and leave this NULL. */
    void *block;
} sa_image;

typedef enum sa_reader {
    SA_READER_AUTO,   /* native NIfTI path where it applies, else ITK */
    SA_READER_ITK,    /* always ITK */
    SA_READER_NATIVE  /* native NIfTI only; error if the file needs ITK */
} sa_reader;

/* Reads a file or a DICOM series folder. Refuses (with "<path>: <problem>"):
 * missing/unreadable file, unknown format, truncated or corrupt data, images
 * with more than 3 dimensions (a 4th dimension of size 1 is accepted), vector
 * pixels, zero/negative/NaN/Inf spacing, non-finite or degenerate origin and
 * direction. Returns 0 or -1; on -1 *out is zeroed. A path that is a folder is read
 * as a DICOM series (refused, naming the series, if it holds more than one). */
int sa_image_read(const char *path, sa_image *out, sa_error *err);
int sa_image_read_with(const char *path, sa_reader reader, sa_image *out, sa_error *err);

/* Writes an image; the format follows the extension (.nii, .nii.gz, .mha, .mhd,
 * .nrrd, .nhdr). Compressed for .nii.gz, .mha and .nrrd. Written into a temporary
 * folder ".tmp-XXXXXX" next to path and renamed into place (for .mhd/.nhdr the
 * data file first, the header last). Returns 0 or -1. */
int sa_image_write(const char *path, const sa_image *img, sa_error *err);

/* Frees the voxels and zeroes *img (safe on a zeroed image and on NULL). */
void sa_image_free(sa_image *img);

/* The metrics engine's view of the image's geometry. */
void sa_image_grid(const sa_image *img, sa_grid *grid);

/* 0 when a and b share size, spacing (1e-4 relative), origin (1e-4 mm) and
 * direction (1e-4 absolute), as ../shared/spec/metrics.md says; otherwise -1 with
 * a message naming both files and both geometries. */
int sa_image_same_geometry(const sa_image *a, const char *a_path, const sa_image *b,
                           const char *b_path, sa_error *err);

/* Mask from a label image. label < 0: voxel value > 0 is inside; label >= 0:
 * value == label is inside. Refuses (naming path and a voxel) negative values,
 * non-integer values and NaN. *mask_out is malloc'ed, one byte (0/1) per voxel. */
int sa_mask_from_image(const sa_image *img, const char *path, long label,
                       uint8_t **mask_out, sa_error *err);

/* 0 when every voxel holds 0 or 1; otherwise -1 naming the file and the first
 * voxel with another value (rater masks must be binary unless a label is chosen). */
int sa_image_check_binary(const sa_image *img, const char *path, sa_error *err);

/* Distinct positive label values in the image, ascending (same checks as
 * sa_mask_from_image). *labels_out is malloc'ed (NULL when there are none). */
int sa_image_labels(const sa_image *img, const char *path, long **labels_out,
                    size_t *count_out, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
