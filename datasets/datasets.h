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
 * missing/unreadable file, a name outside .nii, .nii.gz, .mha, .mhd, .nrrd, .nhdr
 * (and a folder), unknown format, truncated or corrupt data, MetaImage/
 * NRRD headers whose data lives elsewhere than in the file (.mha/.nrrd) or in one
 * plain file name in the header's folder (.mhd/.nhdr), NIfTI headers niftilib
 * misreads (vox_offset < 352, bad dim, unknown datatype), NaN/Inf float voxels
 * in a NIfTI file that needs ITK, unevenly spaced DICOM slices, images
 * with more than 3 dimensions (a 4th dimension of size 1 is accepted), vector
 * pixels, zero/negative/NaN/Inf spacing, non-finite or degenerate origin and
 * direction. Returns 0 or -1; on -1 *out is zeroed. A path that is a folder is read
 * as a DICOM series (refused, naming the series, if it holds more than one). */
int sa_image_read(const char *path, sa_image *out, sa_error *err);
int sa_image_read_with(const char *path, sa_reader reader, sa_image *out, sa_error *err);
/* sa_image_read confined to a folder (dataset import: its source folder). Every
 * file the read opens must resolve, through any symlink (realpath), inside root:
 * the file itself, a .mhd/.nhdr's data file, each file of a DICOM series folder;
 * else -1 with "<file>: symlink pointing outside ROOT (to REAL)" ("resolves
 * outside" when a folder above it is the link) or "<file>: dangling symlink".
 * sa_image_read has no such folder: it follows a file's symlinks wherever they
 * lead (the caller named the file), yet names a dangling symlink in a DICOM
 * folder too. Reader AUTO. */
int sa_image_read_inside(const char *path, const char *root, sa_image *out, sa_error *err);

/* Reads an image that must have like's geometry (for a file from an untrusted
 * source, e.g. a contestant's output, scored on the reference's grid). The header
 * is compared with like before any voxel memory is allocated, so a small file
 * whose header declares a huge grid costs nothing. Returns 0; -2 when the
 * geometry differs from like's (err holds sa_image_same_geometry's message with
 * like/like_path first); -1 for any other refusal (as sa_image_read);
 * SA_IMAGE_READ_NOT_RUN (below) when this host could not run the read (the
 * private folder ITK's NIfTI reads need cannot be made in $TMPDIR; the regular
 * file cannot be opened or read: EIO, EMFILE, EACCES, ..., strerror in err): not
 * the file's fault. Reader AUTO. A DICOM folder is read whole and then compared. */
int sa_image_read_like(const char *path, const sa_image *like, const char *like_path,
                       sa_image *out, sa_error *err);

/* sa_image_read_like in a separate process (the helper segarena-read-image, found
 * at $SEGARENA_READ_IMAGE, next to the running executable, or where the build
 * put it), for a file from an untrusted source read inside a long-lived process:
 * a reader that crashes, aborts or hangs ends the helper only, and comes back as
 * one line, "<path>: the image reader crashed (signal 6)" or "<path>: the image
 * reader took longer than 120 s". The helper runs under a CPU-time and
 * wall-clock limit (SA_ISOLATED_READ_SECONDS, or `seconds`) and an address-space
 * limit sized from like's grid and the file's size. Returns as sa_image_read_like
 * (0, -1, -2), or SA_IMAGE_READ_NOT_RUN when this side failed (the helper not
 * installed or not started, out of memory): the platform's fault, not the file's. */
#define SA_ISOLATED_READ_SECONDS 120
#define SA_IMAGE_READ_NOT_RUN (-3)
int sa_image_read_like_isolated(const char *path, const sa_image *like, const char *like_path,
                                sa_image *out, sa_error *err);
int sa_image_read_like_limited(const char *path, const sa_image *like, const char *like_path,
                               int seconds, sa_image *out, sa_error *err);

/* Writes an image; the format follows the extension (.nii, .nii.gz, .mha, .mhd,
 * .nrrd, .nhdr). Compressed for .nii.gz, .mha and .nrrd. Written into a temporary
 * folder ".tmp-XXXXXX" next to path and renamed into place (for .mhd/.nhdr the
 * data file first, the header last). Returns 0 or -1. */
int sa_image_write(const char *path, const sa_image *img, sa_error *err);
/* What sa_image_write checks of the path alone, for a command to refuse a bad
 * output name before its work: 0, or -1 for an empty path, an extension that is
 * none of the formats above, a path ending in '/', or a folder that does not
 * exist or cannot take new files. */
int sa_image_write_path_check(const char *path, sa_error *err);

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
 * voxel with another value (dataset import stores rater masks as they are, and
 * only 0/1 ones; scoring reads any label image, value > 0 or == L).
 * The message says no more: each caller adds what its user can do about it. */
int sa_image_check_binary(const sa_image *img, const char *path, sa_error *err);

/* Distinct positive label values in the image, ascending (same checks as
 * sa_mask_from_image). *labels_out is malloc'ed (NULL when there are none). */
int sa_image_labels(const sa_image *img, const char *path, long **labels_out,
                    size_t *count_out, sa_error *err);

/* ---- Datasets: manifests, import, verification (manifest.c, bids_scan.c,
 *      dataset_import.c, dataset_verify.c) ---- */

/* A list of problems (each one line, "<file>: <problem>"), so that import and
 * verify can report every problem at once rather than the first. */
typedef struct sa_problems {
    char **msg;
    size_t count, cap;
} sa_problems;

void sa_problems_init(sa_problems *p);
/* Appends a message (printf-style); returns -1 only when out of memory. */
int sa_problems_add(sa_problems *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sa_problems_free(sa_problems *p);

#define SA_DATASET_SCHEMA "segarena-dataset/1"

/* One stored file of a dataset, as the manifest records it. */
typedef struct sa_dataset_file {
    char *path;             /* relative to the dataset folder; NULL: absent */
    char sha256[65];        /* lowercase hex */
    uint64_t bytes;
    char *dicom_series_uid; /* inputs converted from DICOM; else NULL */
} sa_dataset_file;

typedef struct sa_dataset_case {
    char *id;
    char *split;
    size_t size[3];
    double spacing[3], origin[3], direction[9];
    sa_dataset_file *inputs; /* one per dataset role, in roles' order */
    sa_dataset_file *raters; /* one per dataset rater, in raters' order */
} sa_dataset_case;

/* A dataset manifest (dataset.json) in memory. */
typedef struct sa_dataset {
    char *name, *kind, *description, *created;
    char *source_layout, *source_path; /* "bids" | "plain" | "manifest" */
    char **roles;
    size_t n_roles;
    char **raters;
    size_t n_raters;
    sa_dataset_case *cases;
    size_t n_cases;
} sa_dataset;

void sa_dataset_free(sa_dataset *ds);

/* Ids: dataset names, case ids, roles, raters, splits, and the platform's other
 * names (challenge slugs, phases, teams, users). 63 characters at most, so that
 * every id fits the 64-byte fields of the store and of phase specs. */
#define SA_ID_MAX_LEN 63
#define SA_ID_PATTERN "[A-Za-z0-9][A-Za-z0-9._-]{0,62}"

/* 1 when s is a valid id: SA_ID_PATTERN. */
int sa_dataset_id_valid(const char *s);
/* NULL when s is a valid id, else why not, to follow it in a message ("is longer
 * than 63 characters", ...). */
const char *sa_id_problem(const char *s);

/* Reads and validates a manifest against the rules of docs/dataset.schema.json
 * (plus what JSON Schema cannot say: unique case ids, every case has every role
 * and rater). Returns 0, or -1 with every violation in problems (err: the first
 * one, or why the file could not be read). */
int sa_manifest_read(const char *path, sa_dataset *out, sa_problems *problems, sa_error *err);
/* The same rules on JSON text already in memory (label names it in messages). */
int sa_manifest_parse(const char *text, const char *label, sa_dataset *out, sa_problems *problems,
                      sa_error *err);
/* Writes ds as pretty JSON with a stable key order, atomically (temporary name
 * in the same folder, then rename). Returns 0 or -1 (nothing written), e.g. for
 * a text that is not valid UTF-8, naming it. */
int sa_manifest_write(const char *path, const sa_dataset *ds, sa_error *err);

/* 0 when s is valid UTF-8 (as JSON text must be), else the 1-based offset of
 * the first byte that is not. */
size_t sa_dataset_utf8_bad_byte(const char *s);

/* sha256 (lowercase hex) and size of a file. Returns 0 or -1. */
int sa_file_sha256(const char *path, char hex[65], uint64_t *bytes, sa_error *err);

typedef struct sa_role_map {
    const char *suffix; /* BIDS suffix (e.g. "T2starw") or "ce-<label>_<suffix>" */
    const char *role;
} sa_role_map;

typedef struct sa_import_options {
    const char *data_dir;    /* default "./segarena-data" */
    const char *source;      /* BIDS, plain or manifest folder */
    const char *name;        /* dataset name; NULL: the manifest's name (manifest layout) */
    const char *kind;        /* "ms", "pet" or free; NULL: guessed from the roles */
    const char *description; /* NULL: "" (or the manifest's) */
    const char *split;       /* default split when none is given per case; NULL: "test" */
    const char *mask_desc;   /* BIDS desc of rater masks; NULL: "lesion" */
    const sa_role_map *role_map;
    size_t n_role_map;
    int copy;                /* 1 (default): copy; 0: hard-link where possible */
} sa_import_options;

void sa_import_options_default(sa_import_options *opt);

/* What an import did besides storing files: notes about ignored files and
 * derivatives folders that are not raters, and the stored dataset's summary. */
typedef struct sa_import_report {
    sa_problems notes;
    char layout[16];
    char name[SA_ID_MAX_LEN + 1]; /* the stored dataset's name (--name or the manifest's) */
    char path[4096]; /* the stored dataset's folder */
    size_t n_cases, n_roles, n_raters;
    size_t linked, copied, converted;
} sa_import_report;

void sa_import_report_free(sa_import_report *r);

/* Imports a BIDS, plain or manifest folder (docs/datasets.md) into
 * DATA_DIR/datasets/<name>/: checks everything, copies or hard-links the files,
 * converts DICOM series to NIfTI, writes dataset.json, makes the folder read-only
 * and renames it into place. Atomic: on any problem nothing is left in the data
 * directory (not even the folders import made) and -1 is returned with every
 * problem found in problems (err: the first one). The partial copies of imports
 * that were killed are removed first (sa_dataset_leftovers; each is a note). */
int sa_dataset_import(const sa_import_options *opt, sa_import_report *report,
                      sa_problems *problems, sa_error *err);

/* The temporary folders imports leave in DATA_DIR/datasets/ (.tmp-NAME-XXXXXX),
 * one line each in found ("<path>: ..."): an import in progress (its lock is held:
 * never touched), or the partial copy of an import that was killed (no process
 * holds it), removed when remove is 1. Import calls it with remove = 1 before
 * creating its own folder. Returns 0 or -1. */
int sa_dataset_leftovers(const char *data_dir, int remove, sa_problems *found, sa_error *err);

/* Folder of a stored dataset: DATA_DIR/datasets/NAME (no check that it exists). */
int sa_dataset_dir(const char *data_dir, const char *name, char *buf, size_t size, sa_error *err);

/* Reads and validates DATA_DIR/datasets/NAME/dataset.json. */
int sa_dataset_open(const char *data_dir, const char *name, sa_dataset *out,
                    sa_problems *problems, sa_error *err);

/* Re-checks a stored dataset: manifest valid, every file's size and sha256, no
 * stray files, files and folders read-only. Returns 0 (all good) or -1 with every
 * mismatch in problems. */
int sa_dataset_verify(const char *data_dir, const char *name, sa_problems *problems, sa_error *err);

/* The names of the stored datasets, sorted (malloc'ed; free with
 * sa_dataset_names_free): every folder of DATA_DIR/datasets named as a dataset, and
 * one with another name (not starting with '.') that holds a dataset.json, which
 * sa_dataset_open then refuses saying why. A name may hold any byte but '/'. */
int sa_dataset_list(const char *data_dir, char ***names, size_t *count, sa_error *err);
void sa_dataset_names_free(char **names, size_t count);

/* Per-case summary of the raters: lesion count of each rater (sa_lesions_find
 * with default options; lesions[r] for the dataset's rater r) and the mean
 * pairwise Dice between raters (both empty: 1; fewer than 2 raters: *dice_defined
 * = 0). dir is the dataset's folder. */
int sa_dataset_case_summary(const char *dir, const sa_dataset *ds, size_t case_index,
                            size_t *lesions, double *mean_dice, int *dice_defined, sa_error *err);

/* ---- Synthetic test sets: MS and PET phantoms with simulated raters
 *      (phantom_*.c, nifti_write.c, bids_write.c) ---- */

/* Native NIfTI-1 writer (nifti_write.c): writes img to exactly `path` (no
 * temporary name; sa_image_write wraps it with its atomic rename). compress: gzip
 * (libdeflate, level 6). Header: qform and sform codes 1 (scanner), the sform is
 * the RAS affine (LPS geometry with the first two rows negated), the qform its
 * quaternion with qfac, xyzt_units mm, every sa_pixel_type. Returns 0 or -1. */
int sa_nifti_write(const char *path, const sa_image *img, int compress, sa_error *err);

typedef enum sa_phantom_kind {
    SA_PHANTOM_MS,  /* brain MR, 5 contrasts, 7 raters (docs/phantoms.md) */
    SA_PHANTOM_PET  /* body PET (SUV), 1-3 tumours, 3 raters, optional CT */
} sa_phantom_kind;

typedef struct sa_phantom_options {
    sa_phantom_kind kind;
    int cases;          /* default 8 */
    uint64_t seed;      /* default 1; case i uses a stream derived from (seed, kind, i) */
    size_t size[3];     /* MS grid (1 mm voxels); default 181x217x181 */
    double tbr_lo, tbr_hi; /* PET tumour-to-background ratio range; default 3..10 */
    int anisotropic;    /* PET: 4x4x2 mm voxels instead of 4x4x4 */
    int ct;             /* PET: also a CT (int16 HU) per case */
    int threads;        /* cases generated in parallel; <= 0: all cores. The
                         * output does not depend on it. */
} sa_phantom_options;

void sa_phantom_options_default(sa_phantom_options *opt, sa_phantom_kind kind);

#define SA_PHANTOM_MAX_IMAGES 5
#define SA_PHANTOM_MAX_TUMOURS 3

/* One generated case in memory. Every image shares images[0]'s geometry. */
typedef struct sa_phantom_case {
    char id[16];                                /* "ms01", "pet03" */
    size_t n_images;
    sa_image images[SA_PHANTOM_MAX_IMAGES];     /* MS: int16 flair,t1,t2,dp,t1gd; PET: float32 SUV [, int16 CT] */
    const char *roles[SA_PHANTOM_MAX_IMAGES];   /* "flair", "t1", "t2", "dp", "t1gd", "pet", "ct" */
    size_t n_raters;                            /* 7 (MS) or 3 (PET) */
    uint8_t *raters[7];                         /* 0/1 masks on the case grid */
    uint8_t *truth;                             /* the true mask, 0/1 */
    size_t lesions_placed;                      /* MS lesions / PET tumours generated */
    double tbr[SA_PHANTOM_MAX_TUMOURS];         /* PET: each tumour's nominal ratio */
} sa_phantom_case;

/* Generates case `index` (0-based) of the set opt describes. Deterministic: the
 * same (options, index) give the same bytes on every machine. Returns 0 or -1. */
int sa_phantom_generate(const sa_phantom_options *opt, int index, sa_phantom_case *out,
                        sa_error *err);
void sa_phantom_case_free(sa_phantom_case *c);

/* Writes the whole set in the BIDS layout of docs/phantoms.md into `dir`, which
 * must not exist or be an empty folder: everything goes into a temporary sibling
 * folder first and is renamed into place at the end (removed on failure).
 * Returns 0, or -1 with "<dir>: <problem>", or SA_PHANTOM_BAD_OUT with it when
 * `dir` cannot be used, found before any case is generated: '', a file, a
 * symbolic link (dangling or not), a folder that is not empty or cannot be
 * listed, a folder above it that is no folder or cannot be made or written in.
 * (A full disk or an I/O error there is -1, the host's fault.) */
#define SA_PHANTOM_BAD_OUT (-2)
int sa_phantom_write_dataset(const char *dir, const sa_phantom_options *opt, sa_error *err);

#ifdef __cplusplus
}
#endif
#endif
