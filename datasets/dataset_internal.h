/*
 * dataset_internal.h: what manifest.c, bids_scan.c, dataset_import.c and
 * dataset_verify.c share: the scanned (not yet checked) form of a source
 * folder, and small file helpers.
 */
#ifndef SEGARENA_DATASET_INTERNAL_H
#define SEGARENA_DATASET_INTERNAL_H

#include "datasets.h"

/* One file found in a source folder: a role's image or a rater's mask. */
typedef struct sa_scan_item {
    char *key;         /* role or rater id */
    char *src;         /* absolute path in the source */
    int dicom;         /* src is a DICOM series folder */
    char sha256[65];   /* expected sha256 (manifest layout), "" when unknown */
} sa_scan_item;

typedef struct sa_scan_case {
    char *id;
    char *split; /* NULL: the import's default */
    char *where; /* source folder of the case, for messages */
    char *subject; /* BIDS participant label (participants.tsv), else NULL */
    sa_scan_item *inputs, *raters;
    size_t n_inputs, n_raters;
} sa_scan_case;

typedef struct sa_scan {
    const char *layout; /* "bids", "plain", "manifest" (static) */
    char *root;         /* realpath of the source */
    sa_scan_case *cases;
    size_t n_cases;
    /* from a manifest source */
    char *name, *kind, *description;
} sa_scan;

/* Scans opt->source (layout detected: dataset.json → manifest, sub-* folders or
 * dataset_description.json → BIDS, else plain). Problems (symlinks leaving the
 * source, unparsable names, masks of unknown cases...) go to problems, notes to
 * notes. Returns -1 only on out of memory / unreadable source root. */
int sa_scan_source(const sa_import_options *opt, sa_scan *scan, sa_problems *problems,
                   sa_problems *notes, sa_error *err);
void sa_scan_free(sa_scan *scan);

/* The temporary folders of imports (dataset_tmp.c). sa_import_tmp_create makes
 * the folders of datasets_dir that are missing (*created, when still "", gets the
 * topmost one it made), then .tmp-NAME-XXXXXX.lock, locked (flock), then the folder
 * .tmp-NAME-XXXXXX: a folder whose lock nobody holds was left by a killed import.
 * sa_import_tmp_check says whether the folder and its lock file are still the ones
 * made (a cleaner where locks are not honoured may have removed them).
 * sa_import_tmp_end removes the folder when asked, then the lock file, and drops
 * the lock. sa_import_tmp_undo_dirs removes, when empty, the folders from
 * datasets_dir up to *created (a failed import leaves no folder behind). */
#include <sys/types.h>
typedef struct sa_import_tmp {
    char *path;      /* DATASETS/.tmp-NAME-XXXXXX; NULL: none */
    char *lock_path; /* path + ".lock" */
    int lock_fd;     /* holds the lock until sa_import_tmp_end; -1: none */
    int dir_fd;      /* the folder as made, held open so that its inode cannot be
                      * reused by a folder made again at its path; -1: none */
} sa_import_tmp;
int sa_import_tmp_create(const char *datasets_dir, const char *name, char *created, size_t created_size,
                         sa_import_tmp *out, sa_error *err);
int sa_import_tmp_check(const sa_import_tmp *t, sa_error *err);
void sa_import_tmp_end(sa_import_tmp *t, int remove_folder);
void sa_import_tmp_undo_dirs(const char *datasets_dir, const char *created);
/* Creates the missing folders of path (mode 0755), one by one; created, when not
 * NULL and still "", gets the topmost one made. Returns 0 or -1. */
int sa_ds_mkdir_p(const char *path, char *created, size_t created_size, sa_error *err);
/* Removes a folder tree without following symlinks (made writable first), through
 * file descriptors (a symlink swapped in on the way is removed, not followed). */
void sa_ds_remove_tree(const char *path);

/* helpers (manifest.c) */
char *sa_strdup(const char *s);
char *sa_path_join(const char *a, const char *b); /* malloc'ed "a/b" */
char *sa_read_text_file(const char *path, sa_error *err);
int sa_cmp_strp(const void *a, const void *b); /* qsort of char * */
/* A malloc'ed copy of s with each byte that does not start a valid UTF-8
 * character replaced by U+FFFD; NULL for NULL or out of memory. */
char *sa_utf8_lossy(const char *s);

#endif
