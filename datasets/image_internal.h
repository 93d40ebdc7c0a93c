/*
 * image_internal.h: what image.c, mask.c, nifti_native.c and itk_shim.cxx share
 * but the rest of SegArena must not depend on: the two readers behind
 * sa_image_read_with, the ITK writer behind sa_image_write, and small helpers.
 */
#ifndef SEGARENA_IMAGE_INTERNAL_H
#define SEGARENA_IMAGE_INTERNAL_H

#include <stdio.h>

#include "datasets.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Removes folder and what is in it, down to `depth` levels of subfolders (0: its
 * files only), never following a link (a link is removed, not what it names).
 * Best effort: what cannot be removed stays. image.c, image_isolated.c. */
void sa_remove_folder(const char *folder, int depth);

/* An image file that could not be opened or read on this host: "<path>: cannot
 * <what>: <strerror(e)>" in err. Returns -1 where e is about the name (ENOENT,
 * ENOTDIR, ELOOP, ENAMETOOLONG, EISDIR), otherwise SA_IMAGE_READ_NOT_RUN: an I/O
 * error, no descriptor or memory left, no permission is the host's failure, not
 * a verdict on the file (a worker retries it; a contestant's output is not
 * failed for it). image.c, nifti_native.c. */
int sa_image_io_failure(const char *path, const char *what, int e, sa_error *err);

/* Result of the native NIfTI reader besides 0 (read) and -1 (refused). */
#define SA_NATIVE_NEEDS_ITK 1

/* Called by a reader once the header is known and before any voxel memory is
 * allocated or voxel data read: hdr holds size, type and geometry (data NULL).
 * Returns 0 to go on, or -1 / -2 (with err set), which the reader returns as is
 * (image.c: -2 is a geometry that differs from the reference image). */
typedef int (*sa_header_check_fn)(const sa_image *hdr, void *ctx, sa_error *err);

/* Native NIfTI-1 reader (.nii, .nii.gz). Returns 0 with *out filled, -1 (or what
 * check returned) with a refusal in err, SA_IMAGE_READ_NOT_RUN where the file
 * could not be opened or read (sa_image_io_failure), or SA_NATIVE_NEEDS_ITK with
 * the reason in err (the file is valid NIfTI but outside what the native path
 * reproduces bit for bit). check may be NULL. */
int sa_nifti_native_read(const char *path, sa_header_check_fn check, void *ctx, sa_image *out,
                         sa_error *err);

/* What ITK 5.2 (niftilib) lets through silently, or answers with a message of
 * its own on stderr, and SegArena refuses, checked before ITK reads a .nii/.nii.gz.
 * _header (before ITK opens the file at all): a header shorter than 348 bytes,
 * dim[0] outside 1..7, a dimension < 1, a datatype other than the ten scalar
 * types, a magic other than "n+1" (two-file and Analyze headers), vox_offset
 * < 352, non-finite or beyond INT_MAX (niftilib would read from byte 348),
 * zero/negative/NaN/huge pixdim (ITK turns them into a usable spacing), and
 * transforms ITK cannot decompose (non-finite or huge srow/quaternion/qoffset). _data (once the geometry is accepted, before the voxels are read):
 * damaged gzip data, voxel data shorter than the header says (niftilib
 * zero-fills), and NaN/Inf float voxels (niftilib reads them as 0). Each returns
 * 0 (ITK may go on), -1, or SA_IMAGE_READ_NOT_RUN (sa_image_io_failure). */
int sa_nifti_precheck_header(const char *path, sa_error *err);
int sa_nifti_precheck_data(const char *path, sa_error *err);

/* MetaImage and NRRD data that ITK would read from elsewhere, or read short
 * (metaimage_check.c, nrrd_check.c). _header, before ITK opens the file: where
 * the voxel data lives (.mha/.nrrd: in the file itself; .mhd/.nhdr: one plain
 * file name in the header's folder; no LIST or numbered-pattern forms). _data,
 * before the voxels are read: the data is as long as the header says (raw:
 * file size; compressed: inflated length). Each returns 0 or -1. */
/* A text header's first max bytes as one NUL-terminated string (malloc'ed; its
 * length in *len), or NULL with err; and the whitespace-separated integers of a
 * sizes field into out[0..max) (how many; -1 with err when a value is not a
 * plain decimal integer) (header_text.c). */
char *sa_header_text_read(const char *path, size_t max, size_t *len, sa_error *err);
int sa_header_sizes(const char *path, const char *field, const char *value, long long *out,
                    int max, sa_error *err);
/* One integer field of a text header (header_text.c); field names it in the
 * message. Like every value of a sizes field, it must be a plain decimal integer
 * (an optional sign, digits): 0, or -1 with "<path>: <field> is '...'". */
int sa_header_int(const char *path, const char *field, const char *value, long long *out,
                  sa_error *err);
/* A detached header's data file (detached_data.c): its path (the header's folder +
 * name), and the rule it must keep (one plain file name there, an existing regular
 * file, and with a root, resolving inside it); field names the header's field in
 * messages. 0 or -1. */
int sa_detached_data_path(const char *header, const char *name, char *out, size_t cap,
                          sa_error *err);
int sa_detached_data_check(const char *header, const char *field, const char *name,
                           const char *root, sa_error *err);
/* 0 when path resolves (realpath, through every symlink) to root or below it;
 * root is a real path. -1 with "<path>: dangling symlink", "<path>: symlink
 * pointing outside ROOT (to REAL)" or, when a folder above it is the link,
 * "<path>: resolves outside ROOT (to REAL)" (detached_data.c). */
int sa_path_inside(const char *path, const char *root, sa_error *err);
/* The header checks take the read's root (NULL: none) for a detached data file. */
int sa_metaimage_check_header(const char *path, const char *root, sa_error *err);
int sa_metaimage_check_data(const char *path, sa_error *err);
int sa_nrrd_check_header(const char *path, const char *root, sa_error *err);
int sa_nrrd_check_data(const char *path, sa_error *err);

/* Inflates the zlib or gzip stream at fp's position (at most limit input bytes
 * when limit > 0) and counts its output into *got, up to want. Refuses a corrupt
 * stream, and one that holds all want bytes but then ends without its trailer.
 * Stops after 2*want bytes of output. Returns 0 or -1 ("<path>: <problem>"). */
int sa_inflate_count(const char *path, FILE *fp, long long limit, size_t want, size_t *got,
                     sa_error *err);

/* ITK readers: a file in any format ITK knows, or a DICOM series folder. The
 * result is not yet validated (image.c checks spacing, origin, direction). For a
 * file, check (may be NULL) runs after ITK has read the header and before voxel
 * memory is allocated; the buffer is zeroed before ITK fills it. */
/* The file `name` SegArena installs beside its executable: $env_var when set
 * (taken as it is), else the running executable's folder when `name` there
 * passes access(mode), else built_path when it does. 0 with the path in out, or
 * -1 (none found, or out too small). beside_exe.c. */
int sa_find_beside_exe(const char *env_var, const char *name, const char *built_path, int mode,
                       char *out, size_t cap);

/* 1 once a read needed ITK and its module could not be loaded (the
 * installation's fault, not the file's), else 0. */
int sa_itk_module_missing(void);
int sa_itk_read_file(const char *path, sa_header_check_fn check, void *ctx, sa_image *out,
                     sa_error *err);
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
