/*
 * dataset_verify.c: reading a stored dataset back: `dataset verify` (manifest,
 * sizes, sha256, read-only bits, stray files), `dataset list` and the per-case
 * summary of `dataset show` (lesion counts, inter-rater Dice).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_internal.h"

int sa_dataset_open(const char *data_dir, const char *name, sa_dataset *out, sa_problems *problems,
                    sa_error *err) {
    memset(out, 0, sizeof *out);
    char dir[PATH_MAX];
    if (sa_dataset_dir(data_dir, name, dir, sizeof dir, err)) {
        sa_problems_add(problems, "%s", err->msg);
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        sa_error_set(err, "%s: no dataset named %s in %s", dir, name, data_dir ? data_dir : "./segarena-data");
        sa_problems_add(problems, "%s", err->msg);
        return -1;
    }
    char *m = sa_path_join(dir, "dataset.json");
    if (!m) return sa_error_set(err, "out of memory");
    int rc = sa_manifest_read(m, out, problems, err);
    free(m);
    return rc;
}

typedef struct walker {
    const char *root;
    const sa_dataset *ds;
    sa_problems *problems;
} walker;

static int listed(const sa_dataset *ds, const char *rel) {
    if (!strcmp(rel, "dataset.json")) return 1;
    for (size_t c = 0; c < ds->n_cases; c++) {
        for (size_t i = 0; i < ds->n_roles; i++)
            if (ds->cases[c].inputs[i].path && !strcmp(ds->cases[c].inputs[i].path, rel)) return 1;
        for (size_t i = 0; i < ds->n_raters; i++)
            if (ds->cases[c].raters[i].path && !strcmp(ds->cases[c].raters[i].path, rel)) return 1;
    }
    return 0;
}

/* Stray files and writable folders/files anywhere in the tree. */
static void walk(walker *w, const char *rel) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", w->root, *rel ? "/" : "", rel);
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISLNK(st.st_mode)) { /* one line: a symlink's own mode bits mean nothing */
        sa_problems_add(w->problems, "%s: a symlink in a stored dataset", path);
        return;
    }
    if (st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH))
        sa_problems_add(w->problems, "%s: writable (a stored dataset is read-only)", path);
    if (!S_ISDIR(st.st_mode)) {
        if (!listed(w->ds, rel)) sa_problems_add(w->problems, "%s: not listed in the manifest", path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        sa_problems_add(w->problems, "%s: cannot read the folder (%s)", path, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        walk(w, sub);
    }
    closedir(d);
}

static void check_file(const char *dir, const sa_dataset_file *f, sa_problems *problems) {
    char *path = sa_path_join(dir, f->path);
    if (!path) {
        sa_problems_add(problems, "out of memory");
        return;
    }
    struct stat st;
    sa_error err;
    char hex[65];
    uint64_t bytes;
    if (lstat(path, &st)) {
        sa_problems_add(problems, "%s: missing (%s)", path, strerror(errno));
    } else if (S_ISLNK(st.st_mode)) {
        /* the walk of the tree reports it, once */
    } else if (!S_ISREG(st.st_mode)) {
        sa_problems_add(problems, "%s: not a regular file", path);
    } else if (sa_file_sha256(path, hex, &bytes, &err)) {
        sa_problems_add(problems, "%s", err.msg);
    } else {
        if (bytes != f->bytes)
            sa_problems_add(problems, "%s: size is %llu bytes, the manifest says %llu", path,
                            (unsigned long long)bytes, (unsigned long long)f->bytes);
        if (strcmp(hex, f->sha256))
            sa_problems_add(problems, "%s: sha256 is %s, the manifest says %s", path, hex, f->sha256);
    }
    free(path);
}

int sa_dataset_verify(const char *data_dir, const char *name, sa_problems *problems, sa_error *err) {
    size_t before = problems->count;
    sa_dataset ds;
    if (sa_dataset_open(data_dir, name, &ds, problems, err)) return -1;
    char dir[PATH_MAX];
    sa_dataset_dir(data_dir, name, dir, sizeof dir, err);
    if (strcmp(ds.name, name))
        sa_problems_add(problems, "%s/dataset.json: names the dataset %s, its folder is %s", dir, ds.name, name);
    for (size_t c = 0; c < ds.n_cases; c++) {
        for (size_t i = 0; i < ds.n_roles; i++) check_file(dir, &ds.cases[c].inputs[i], problems);
        for (size_t i = 0; i < ds.n_raters; i++) check_file(dir, &ds.cases[c].raters[i], problems);
    }
    walker w = {dir, &ds, problems};
    walk(&w, "");
    sa_dataset_free(&ds);
    if (problems->count > before) return sa_error_set(err, "%s", problems->msg[before]);
    return 0;
}

int sa_dataset_list(const char *data_dir, char ***names, size_t *count, sa_error *err) {
    *names = NULL;
    *count = 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/datasets", data_dir ? data_dir : "./segarena-data");
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return sa_error_set(err, "%s: cannot read (%s)", dir, strerror(errno));
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ".", "..", .tmp-* */
        if (!sa_dataset_id_valid(e->d_name)) {
            /* a stored dataset whose name no import of this version gives (too long
             * for it, say): listed all the same, so that `list` says why it cannot
             * be opened; other folders (lost+found) are not datasets */
            struct stat st;
            char *p = sa_path_join(dir, e->d_name);
            char *manifest = p ? sa_path_join(p, "dataset.json") : NULL;
            int stored = manifest && lstat(manifest, &st) == 0 && S_ISREG(st.st_mode);
            free(manifest);
            free(p);
            if (!stored) continue;
        }
        char **v = realloc(*names, (*count + 1) * sizeof *v);
        if (!v || !(v[*count] = sa_strdup(e->d_name))) {
            if (v) *names = v;
            rc = sa_error_set(err, "out of memory");
            break;
        }
        *names = v;
        (*count)++;
    }
    closedir(d);
    if (*count) qsort(*names, *count, sizeof **names, sa_cmp_strp);
    return rc;
}

void sa_dataset_names_free(char **names, size_t count) {
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
}

int sa_dataset_case_summary(const char *dir, const sa_dataset *ds, size_t case_index, size_t *lesions,
                            double *mean_dice, int *dice_defined, sa_error *err) {
    const sa_dataset_case *k = &ds->cases[case_index];
    size_t n = ds->n_raters;
    uint8_t **masks = calloc(n ? n : 1, sizeof *masks);
    if (!masks) return sa_error_set(err, "out of memory");
    int rc = 0;
    size_t voxels = 0;
    sa_grid grid;
    memset(&grid, 0, sizeof grid);
    for (size_t r = 0; r < n && !rc; r++) {
        char *path = sa_path_join(dir, k->raters[r].path);
        if (!path) {
            rc = sa_error_set(err, "out of memory");
            break;
        }
        sa_image img;
        rc = sa_image_read(path, &img, err);
        if (!rc) {
            sa_image_grid(&img, &grid);
            voxels = sa_grid_voxels(&grid);
            rc = sa_mask_from_image(&img, path, -1, &masks[r], err);
            sa_image_free(&img);
        }
        if (!rc) {
            sa_lesion_options lo;
            sa_lesion_options_default(&lo);
            sa_lesions *l = NULL;
            rc = sa_lesions_find(masks[r], &grid, &lo, &l, err);
            if (!rc) lesions[r] = sa_lesions_count(l);
            sa_lesions_free(l);
        }
        free(path);
    }
    double sum = 0;
    size_t pairs = 0;
    for (size_t a = 0; a < n && !rc; a++)
        for (size_t b = a + 1; b < n && !rc; b++) {
            sa_overlap_counts oc;
            rc = sa_overlap_count(masks[a], masks[b], voxels, 1, &oc, err);
            if (rc) break;
            uint64_t den = 2 * oc.tp + oc.fp + oc.fn;
            sum += den ? 2.0 * (double)oc.tp / (double)den : 1.0;
            pairs++;
        }
    *dice_defined = pairs > 0;
    *mean_dice = pairs ? sum / (double)pairs : 0;
    for (size_t r = 0; r < n; r++) free(masks[r]);
    free(masks);
    return rc;
}
