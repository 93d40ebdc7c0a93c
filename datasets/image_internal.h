/*
 * image_internal.h: what image.c, mask.c, nifti_native.c and itk_shim.cxx share
 * but the rest of SegArena must not depend on: the two readers behind
 * sa_image_read_with, the ITK writer behind sa_image_write, and small helpers.
 */
#ifndef SEGARENA_IMAGE_INTERNAL_H
#define SEGARENA_IMAGE_INTERNAL_H

#include "datasets.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Result of the native NIfTI reader besides 0 (read) and -1 (refused). */
#define SA_NATIVE_NEEDS_ITK 1

/* Native NIfTI-1 reader (.nii, .nii.gz). Returns 0 with *out filled, -1 with a
 * refusal in err, or SA_NATIVE_NEEDS_ITK with the reason in err (the file is
 * valid NIfTI but outside what the native path reproduces bit for bit). */
int sa_nifti_native_read(const char *path, sa_image *out, sa_error *err);

/* Checks that a .gz file is complete: every gzip member inflates, CRC and ISIZE
 * match; *inflated_out (may be NULL) gets the total inflated size (the file size
 * when it is not gzip at all, which niftilib reads as uncompressed). Returns 0 or
 * -1 with "<path>: <problem>". */
int sa_gzip_check_file(const char *path, size_t *inflated_out, sa_error *err);

/* What ITK 5.2 (niftilib) lets through silently and SegArena refuses, checked
 * before ITK reads a .nii/.nii.gz: damaged gzip data, voxel data shorter than
 * the header says (niftilib zero-fills), and zero/negative/NaN pixdim (ITK turns
 * them into a usable spacing). Returns 0 (ITK may read it) or -1. */
int sa_nifti_precheck(const char *path, sa_error *err);

/* ITK readers: a file in any format ITK knows, or a DICOM series folder. The
 * result is not yet validated (image.c checks spacing, origin, direction). */
int sa_itk_read_file(const char *path, sa_image *out, sa_error *err);
int sa_itk_read_dicom_folder(const char *path, sa_image *out, sa_error *err);

/* ITK writer: writes img to exactly `path` (no temporary name; image.c does the
 * atomic rename). compress turns on the format's compression. */
int sa_itk_write_file(const char *path, const sa_image *img, int compress, sa_error *err);

/* The Series Instance UID (0020,000e) of the single DICOM series in folder,
 * NUL-terminated in uid. Returns 0 or -1. */
int sa_itk_dicom_series_uid(const char *folder, char *uid, size_t size, sa_error *err);

/* Number of voxels, or 0 when a size is 0 or the product overflows size_t. */
size_t sa_image_voxel_count(const sa_image *img);

/* 1 when name ends with suffix, ignoring ASCII case. */
int sa_has_suffix(const char *name, const char *suffix);

#ifdef __cplusplus
}
#endif
#endif
