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

/* helpers (manifest.c) */
char *sa_strdup(const char *s);
char *sa_path_join(const char *a, const char *b); /* malloc'ed "a/b" */
char *sa_read_text_file(const char *path, sa_error *err);
int sa_cmp_strp(const void *a, const void *b); /* qsort of char * */

#endif
