/* case_files.h: the images of a folder, by case id, for `score --ref-dir/--pred-dir`. */
#ifndef SEGARENA_CASE_FILES_H
#define SEGARENA_CASE_FILES_H

#include <stddef.h>

typedef struct case_file {
    char id[256];    /* file name without its image extension, or a folder name */
    char path[4096];
    int not_image;   /* a file whose name has no image extension: ignored */
    int duplicate;   /* another file of the folder has the same case id */
} case_file;

/* Image extensions, longest first: ".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr".
 * Sub-folders are DICOM series. Returns 0, or -1 with a message in err. */
int list_case_files(const char *dir, case_file **files, size_t *count, char *err, size_t err_size);

/* The case id of a file name, or NULL if the name has no image extension. */
const char *case_id_of(const char *name, char *id, size_t size);

/* Raters' names, the one scheme of `segarena score --ref ...` and `segarena
 * consensus`: the file name without its folder and image extension; a name an
 * earlier rater already has (r1/case01.nii.gz, r2/case01.nii.gz) takes "#2",
 * "#3", ... (the first number that makes it differ from every earlier name):
 * case01, case01#2. Only the repeats change; the names are unique. */
#define RATER_NAME_SIZE 280
void rater_names(const char *const *paths, size_t n, char names[][RATER_NAME_SIZE]);

#endif
