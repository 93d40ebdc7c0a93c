/*
 * lesions.c: lesion-wise detection, the MSSEG 2016 rule of
 * ../shared/spec/metrics.md ("Lesion-wise detection"), docs/lesions.md.
 *
 * Why this shape: in the multi-rater evaluation one mask's lesions are matched
 * against many other masks, so sa_lesions_find keeps each mask's lesions as
 * per-row x-runs tagged with their lesion number (plus per-lesion voxel counts),
 * and sa_lesions_match builds the overlap table o[i][j] = |R_i ∩ T_j| sparsely by
 * merging the two run lists row by row: the work follows the number of runs and
 * of overlapping pairs, never #R × #T or the image size.
 *
 * Tie-break (documented in docs/lesions.md): when lesions are taken in decreasing
 * overlap, equal overlaps are taken in increasing lesion number (the order of
 * their first voxel in index order).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define REASON_NO_REFERENCE_LESIONS SA_REASON_NO_REFERENCE_LESIONS
#define REASON_NO_PREDICTED_LESIONS SA_REASON_NO_PREDICTED_LESIONS

struct sa_lesions {
    sa_grid grid;
    int connectivity;
    double min_volume_mm3;
    size_t count;        /* lesions kept */
    uint64_t removed;    /* components removed by the volume filter */
    uint64_t *voxels;    /* [count]: voxels of each lesion */
    uint32_t *row_start; /* [ny*nz + 1]: runs of row y + ny*z */
    uint16_t *runs;      /* 2 per run: first and last x (inclusive) */
    uint32_t *lesion;    /* per run: lesion number, 0-based */
    size_t run_count;
};

void sa_lesion_options_default(sa_lesion_options *opt) {
    opt->connectivity = 6;
    opt->min_volume_mm3 = 3.0;
    opt->alpha = 0.10;
    opt->beta = 0.70;
    opt->gamma = 0.65;
}

int sa_lesion_options_check(const sa_lesion_options *o, sa_error *err) {
    if (o->connectivity != 6 && o->connectivity != 18 && o->connectivity != 26)
        return sa_error_set(err, "invalid lesion connectivity %d (must be 6, 18 or 26)", o->connectivity);
    if (!isfinite(o->min_volume_mm3) || o->min_volume_mm3 < 0)
        return sa_error_set(err, "invalid minimum lesion volume %g mm3 (must be finite and >= 0)",
                            o->min_volume_mm3);
    const double v[3] = {o->alpha, o->beta, o->gamma};
    const char *name[3] = {"alpha", "beta", "gamma"};
    for (int k = 0; k < 3; k++)
        if (!isfinite(v[k]) || v[k] < 0 || v[k] > 1)
            return sa_error_set(err, "invalid lesion detection %s %g (must be in [0, 1])", name[k], v[k]);
    return 0;
}

size_t sa_lesions_count(const sa_lesions *l) { return l ? l->count : 0; }
uint64_t sa_lesions_removed(const sa_lesions *l) { return l ? l->removed : 0; }

void sa_lesions_free(sa_lesions *l) {
    if (!l) return;
    free(l->voxels);
    free(l->row_start);
    free(l->runs);
    free(l->lesion);
    free(l);
}

int sa_lesions_find(const uint8_t *mask, const sa_grid *g, const sa_lesion_options *opt_in,
                    sa_lesions **out, sa_error *err) {
    if (!mask || !g || !out) return sa_error_set(err, "lesions: missing argument");
    *out = NULL;
    sa_lesion_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        sa_lesion_options_default(&opt);
    if (sa_lesion_options_check(&opt, err) || sa_grid_check(g, err)) return -1;

    sa_lesions *l = calloc(1, sizeof *l);
    if (!l) return sa_error_set(err, "out of memory finding lesions");
    l->grid = *g;
    l->connectivity = opt.connectivity;
    l->min_volume_mm3 = opt.min_volume_mm3;
    uint32_t *comp = NULL, ncomp = 0, *renum = NULL;
    uint64_t *vox = NULL;
    if (sa_component_runs(mask, g, opt.connectivity, &l->row_start, &l->runs, &comp, &l->run_count,
                          &ncomp, err)) {
        free(l);
        return -1;
    }

    /* Voxels per component, the volume filter (volume <= min is removed), and the
     * kept ones renumbered 0..count-1 in their original order. */
    vox = calloc((size_t)ncomp + 1, sizeof *vox);
    renum = malloc(((size_t)ncomp + 1) * sizeof *renum);
    if (!vox || !renum) goto oom;
    for (size_t r = 0; r < l->run_count; r++)
        vox[comp[r]] += (uint64_t)l->runs[2 * r + 1] - l->runs[2 * r] + 1;
    const double voxel_mm3 = g->spacing[0] * g->spacing[1] * g->spacing[2];
    uint32_t kept = 0;
    for (uint32_t c = 1; c <= ncomp; c++) {
        if ((double)vox[c] * voxel_mm3 <= opt.min_volume_mm3) {
            renum[c] = UINT32_MAX;
        } else {
            vox[kept] = vox[c]; /* kept <= c - 1: no clobbering */
            renum[c] = kept++;
        }
    }
    l->count = kept;
    l->removed = ncomp - kept;

    /* Keep only the runs of kept lesions (in place: the write index never passes
     * the read index). */
    const size_t rows = g->ny * g->nz;
    size_t w = 0;
    for (size_t row = 0; row < rows; row++) {
        uint32_t r0 = l->row_start[row], r1 = l->row_start[row + 1];
        l->row_start[row] = (uint32_t)w;
        for (uint32_t r = r0; r < r1; r++) {
            uint32_t id = renum[comp[r]];
            if (id == UINT32_MAX) continue;
            l->runs[2 * w] = l->runs[2 * (size_t)r];
            l->runs[2 * w + 1] = l->runs[2 * (size_t)r + 1];
            comp[w] = id;
            w++;
        }
    }
    l->row_start[rows] = (uint32_t)w;
    l->run_count = w;
    l->lesion = comp;
    comp = NULL;
    free(renum);
    l->voxels = vox; /* the first `kept` entries are used */
    *out = l;
    return 0;

oom:
    free(comp);
    free(vox);
    free(renum);
    sa_lesions_free(l);
    return sa_error_set(err, "out of memory finding lesions");
}

/* ---- Matching ---------------------------------------------------------- */

typedef struct pair_entry {
    uint32_t a, b; /* lesion numbers on each side */
    uint64_t o;    /* overlap voxels */
} pair_entry;

/* Groups entries by `a` (counting sort into CSR form, start has n_a + 1 entries)
 * and, with merge != 0, sums the entries of equal (a, b) into one. stamp and pos
 * are scratch of n_b entries (stamp all zero on entry, left dirty). Returns the
 * number of entries written to out. */
static size_t group_pairs(const pair_entry *in, size_t n, size_t n_a, size_t *start,
                          pair_entry *out, int merge, size_t *stamp, size_t *pos) {
    memset(start, 0, (n_a + 1) * sizeof *start);
    for (size_t k = 0; k < n; k++) start[in[k].a + 1]++;
    for (size_t a = 0; a < n_a; a++) start[a + 1] += start[a];
    /* fill: start[a] is used as the cursor, then shifted back */
    for (size_t k = 0; k < n; k++) out[start[in[k].a]++] = in[k];
    for (size_t a = n_a; a > 0; a--) start[a] = start[a - 1];
    start[0] = 0;
    if (!merge) return n;
    size_t w = 0;
    for (size_t a = 0; a < n_a; a++) {
        size_t s = start[a], e = start[a + 1];
        start[a] = w;
        for (size_t k = s; k < e; k++) {
            uint32_t b = out[k].b;
            if (stamp[b] == a + 1) {
                out[pos[b]].o += out[k].o;
            } else {
                stamp[b] = a + 1;
                pos[b] = w;
                out[w++] = out[k];
            }
        }
    }
    start[n_a] = w;
    return w;
}

static int by_overlap_desc(const void *pa, const void *pb) {
    const pair_entry *x = pa, *y = pb;
    if (x->o != y->o) return x->o > y->o ? -1 : 1;
    return x->b < y->b ? -1 : x->b > y->b; /* tie: lower lesion number first */
}

/* The MSSEG rule for every lesion a of one side against the lesions b of the
 * other: list[start[a] .. start[a+1]) are a's overlaps (b, o), in_b[b] the voxels
 * of b inside any lesion of a's side. Sorts each list in place. */
static uint64_t count_detected(size_t n_a, const size_t *start, pair_entry *list,
                               const uint64_t *size_a, const uint64_t *size_b, const uint64_t *in_b,
                               const sa_lesion_options *opt) {
    uint64_t detected = 0;
    for (size_t a = 0; a < n_a; a++) {
        size_t s = start[a], e = start[a + 1];
        uint64_t total = 0;
        for (size_t k = s; k < e; k++) total += list[k].o;
        /* (a) the share of a covered by the other side's lesions exceeds alpha */
        if (!((double)total / (double)size_a[a] > opt->alpha)) continue;
        /* (b) in decreasing overlap, each lesion until the cumulated share of the
         * overlap reaches gamma has at most beta of its voxels outside every
         * lesion of a's side (total > 0 here, since alpha >= 0). */
        if (e - s > 1) qsort(list + s, e - s, sizeof *list, by_overlap_desc);
        uint64_t cum = 0;
        int ok = 1;
        for (size_t k = s; k < e; k++) {
            uint32_t b = list[k].b;
            double outside = (double)(size_b[b] - in_b[b]) / (double)size_b[b];
            if (outside > opt->beta) {
                ok = 0;
                break;
            }
            cum += list[k].o;
            if ((double)cum / (double)total >= opt->gamma) break;
        }
        detected += (uint64_t)ok;
    }
    return detected;
}

static int same_grid(const sa_grid *a, const sa_grid *b) {
    if (a->nx != b->nx || a->ny != b->ny || a->nz != b->nz) return 0;
    for (int k = 0; k < 3; k++)
        if (fabs(a->spacing[k] - b->spacing[k]) > 1e-4 * fabs(a->spacing[k])) return 0;
    return 1;
}

int sa_lesions_match(const sa_lesions *ref, const sa_lesions *pred, const sa_lesion_options *opt_in,
                     sa_lesion_metrics *out, sa_error *err) {
    if (!ref || !pred || !out) return sa_error_set(err, "lesion matching: missing argument");
    sa_lesion_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        sa_lesion_options_default(&opt);
    if (sa_lesion_options_check(&opt, err)) return -1;
    if (!same_grid(&ref->grid, &pred->grid))
        return sa_error_set(err,
                            "lesion matching: reference lesions on grid %zux%zux%zu (%g x %g x %g mm), "
                            "predicted on %zux%zux%zu (%g x %g x %g mm)",
                            ref->grid.nx, ref->grid.ny, ref->grid.nz, ref->grid.spacing[0],
                            ref->grid.spacing[1], ref->grid.spacing[2], pred->grid.nx, pred->grid.ny,
                            pred->grid.nz, pred->grid.spacing[0], pred->grid.spacing[1],
                            pred->grid.spacing[2]);
    const sa_lesions *side[2] = {ref, pred};
    for (int k = 0; k < 2; k++)
        if (side[k]->connectivity != opt.connectivity || side[k]->min_volume_mm3 != opt.min_volume_mm3)
            return sa_error_set(err,
                                "lesion matching: %s lesions were found with connectivity %d and "
                                "minimum volume %g mm3, the matching options say %d and %g mm3",
                                k ? "predicted" : "reference", side[k]->connectivity,
                                side[k]->min_volume_mm3, opt.connectivity, opt.min_volume_mm3);

    const size_t nr = ref->count, nt = pred->count;
    memset(out, 0, sizeof *out);
    out->lesions_ref = nr;
    out->lesions_pred = nt;

    uint64_t tp_r = 0, tp_t = 0;
    if (nr > 0 && nt > 0) {
        /* 1. Overlapping run pieces (r, t, length), row by row: at most one per
         * step of the two-pointer merge, so at most #runs_R + #runs_T. */
        size_t cap = ref->run_count + pred->run_count + 1;
        size_t big = nr > nt ? nr : nt;
        pair_entry *raw = malloc(cap * sizeof *raw);
        pair_entry *by_r = malloc(cap * sizeof *by_r);
        pair_entry *by_t = malloc(cap * sizeof *by_t);
        size_t *start_r = malloc((nr + 1) * sizeof *start_r);
        size_t *start_t = malloc((nt + 1) * sizeof *start_t);
        size_t *stamp = calloc(big, sizeof *stamp);
        size_t *pos = malloc(big * sizeof *pos);
        uint64_t *in_r = calloc(nr, sizeof *in_r), *in_t = calloc(nt, sizeof *in_t);
        int fail = !raw || !by_r || !by_t || !start_r || !start_t || !stamp || !pos || !in_r || !in_t;
        if (!fail) {
            size_t n = 0;
            const size_t rows = ref->grid.ny * ref->grid.nz;
            for (size_t row = 0; row < rows; row++) {
                uint32_t a = ref->row_start[row], a_end = ref->row_start[row + 1];
                uint32_t b = pred->row_start[row], b_end = pred->row_start[row + 1];
                while (a < a_end && b < b_end) {
                    uint32_t ax0 = ref->runs[2 * (size_t)a], ax1 = ref->runs[2 * (size_t)a + 1];
                    uint32_t bx0 = pred->runs[2 * (size_t)b], bx1 = pred->runs[2 * (size_t)b + 1];
                    uint32_t lo = ax0 > bx0 ? ax0 : bx0, hi = ax1 < bx1 ? ax1 : bx1;
                    if (lo <= hi) {
                        raw[n].a = ref->lesion[a];
                        raw[n].b = pred->lesion[b];
                        raw[n].o = hi - lo + 1;
                        n++;
                    }
                    if (ax1 < bx1)
                        a++;
                    else
                        b++;
                }
            }
            /* 2. The sparse table grouped by reference lesion, equal pairs summed;
             * then the same entries grouped by test lesion. */
            size_t np = group_pairs(raw, n, nr, start_r, by_r, 1, stamp, pos);
            for (size_t k = 0; k < np; k++) {
                raw[k].a = by_r[k].b;
                raw[k].b = by_r[k].a;
                raw[k].o = by_r[k].o;
                in_r[by_r[k].a] += by_r[k].o;
                in_t[by_r[k].b] += by_r[k].o;
            }
            group_pairs(raw, np, nt, start_t, by_t, 0, NULL, NULL);
            /* 3. The rule, then swapped. */
            tp_r = count_detected(nr, start_r, by_r, ref->voxels, pred->voxels, in_t, &opt);
            tp_t = count_detected(nt, start_t, by_t, pred->voxels, ref->voxels, in_r, &opt);
        }
        free(raw);
        free(by_r);
        free(by_t);
        free(start_r);
        free(start_t);
        free(stamp);
        free(pos);
        free(in_r);
        free(in_t);
        if (fail) return sa_error_set(err, "out of memory matching lesions");
    }

    out->lesions_ref_detected = tp_r;
    out->lesions_pred_detected = tp_t;
    out->lesions_fn = nr - tp_r;
    out->lesions_fp = nt - tp_t;
    if (nr == 0) {
        out->lesion_sensitivity.reason = REASON_NO_REFERENCE_LESIONS;
    } else {
        out->lesion_sensitivity.value = (double)tp_r / (double)nr;
    }
    if (nt == 0) {
        out->lesion_ppv.reason = REASON_NO_PREDICTED_LESIONS;
    } else {
        out->lesion_ppv.value = (double)tp_t / (double)nt;
    }
    if (nr == 0 && nt == 0) {
        out->lesion_f1.value = 1.0;
    } else if (nr == 0 || nt == 0) {
        out->lesion_f1.value = 0.0;
    } else {
        double p = out->lesion_ppv.value, s = out->lesion_sensitivity.value;
        out->lesion_f1.value = p + s > 0 ? 2.0 * p * s / (p + s) : 0.0;
    }
    return 0;
}

#define LESION_METRIC(field, is_count) {#field, offsetof(sa_lesion_metrics, field), is_count}

static const sa_lesion_metric_info lesion_table[] = {
    LESION_METRIC(lesion_sensitivity, 0),
    LESION_METRIC(lesion_ppv, 0),
    LESION_METRIC(lesion_f1, 0),
    LESION_METRIC(lesions_ref, 1),
    LESION_METRIC(lesions_pred, 1),
    LESION_METRIC(lesions_ref_detected, 1),
    LESION_METRIC(lesions_pred_detected, 1),
    LESION_METRIC(lesions_fn, 1),
    LESION_METRIC(lesions_fp, 1),
};

const sa_lesion_metric_info *sa_lesion_metric_table(size_t *count) {
    if (count) *count = sizeof lesion_table / sizeof lesion_table[0];
    return lesion_table;
}
