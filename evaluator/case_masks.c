/*
 * case_masks.c: reading a dataset case's rater masks, and a mask to score on
 * their grid, the same way for the workers' scoring (job.c) and the phase's
 * human reference (human_reference.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_internal.h"

static int mask_of(const sa_image *img, const char *path, long label, const sa_image *like,
                   const char *like_path, uint8_t **mask, sa_error *err) {
    if (like && sa_image_same_geometry(like, like_path, img, path, err)) return -1;
    return sa_mask_from_image(img, path, label, mask, err);
}

int sa_case_masks_read(const char *dataset_dir, const sa_dataset *ds, size_t case_index,
                       long label, sa_case_masks *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    const sa_dataset_case *dc = &ds->cases[case_index];
    if (ds->n_raters == 0 || ds->n_raters > SA_MAX_RATERS)
        return sa_error_set(err, "case %s: %zu raters (1 to %d can be scored against)", dc->id,
                            ds->n_raters, SA_MAX_RATERS);
    snprintf(out->first_path, sizeof out->first_path, "%s/%s", dataset_dir, dc->raters[0].path);
    if (sa_image_read(out->first_path, &out->first, err)) return -1;
    sa_image_grid(&out->first, &out->grid);
    out->k = ds->n_raters;
    if (mask_of(&out->first, out->first_path, label, NULL, NULL, &out->raters[0], err)) {
        sa_case_masks_free(out);
        return -1;
    }
    for (size_t r = 1; r < out->k; r++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dataset_dir, dc->raters[r].path);
        if (sa_case_mask_read(path, label, out, &out->raters[r], err)) {
            sa_case_masks_free(out);
            return -1;
        }
    }
    return 0;
}

int sa_case_scoring_fov(const char *dataset_dir, const sa_dataset *ds, size_t case_index,
                        double *fov_mm, sa_error *err) {
    *fov_mm = 0;
    if (ds->n_raters == 0) return sa_error_set(err, "case %s: no rater", ds->cases[case_index].id);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dataset_dir, ds->cases[case_index].raters[0].path);
    sa_image first;
    if (sa_image_read(path, &first, err)) return -1;
    sa_grid g;
    sa_image_grid(&first, &g);
    const size_t n[3] = {g.nx, g.ny, g.nz};
    *fov_mm = sa_fov_diagonal_mm(n, g.spacing);
    sa_image_free(&first);
    return 0;
}

void sa_case_masks_free(sa_case_masks *m) {
    for (size_t r = 0; r < SA_MAX_RATERS; r++) free(m->raters[r]);
    sa_image_free(&m->first);
    memset(m, 0, sizeof *m);
}

int sa_case_mask_read(const char *path, long label, const sa_case_masks *like, uint8_t **mask,
                      sa_error *err) {
    /* geometry checked on the header, before the voxels are allocated (the mask
     * may be a contestant's output) */
    sa_image img;
    int rc = sa_image_read_like(path, &like->first, like->first_path, &img, err);
    if (rc) return rc == -2 || rc == SA_IMAGE_READ_NOT_RUN ? rc : -1;
    rc = sa_mask_from_image(&img, path, label, mask, err);
    sa_image_free(&img);
    return rc;
}
