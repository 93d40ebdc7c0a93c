/*
 * phantom_raters.c: simulated MS raters. Each rater draws the truth's smooth
 * level set (signed distance in voxels) at its own offset (a habit of drawing
 * wider or tighter), wobbled by a smooth noise field (hand jitter) and by a
 * per-lesion offset; misses small lesions with a probability that falls with
 * size; now and then marks a FLAIR-bright mimic (periventricular cap, artefact)
 * as a lesion. Rater 7 is systematically conservative: tighter boundaries and
 * more small lesions missed. docs/phantoms.md gives the numbers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phantom_internal.h"


typedef struct rater_habit {
    double offset;      /* voxels; > 0 draws wider */
    double jitter;      /* amplitude of the smooth wobble, voxels */
    double miss_small;  /* miss probability of a lesion of <= 10 voxels */
    double fp_rate;     /* expected false-positive blobs per case */
} rater_habit;

static void add_blob(uint8_t *mask, const size_t n[3], const double c[3], double rad) {
    long lo[3], hi[3];
    for (int a = 0; a < 3; a++) {
        lo[a] = (long)floor(c[a] - rad - 1);
        hi[a] = (long)ceil(c[a] + rad + 1);
        if (lo[a] < 0) lo[a] = 0;
        if (hi[a] > (long)n[a] - 1) hi[a] = (long)n[a] - 1;
    }
    for (long z = lo[2]; z <= hi[2]; z++)
        for (long y = lo[1]; y <= hi[1]; y++)
            for (long x = lo[0]; x <= hi[0]; x++) {
                double dx = (double)x - c[0], dy = (double)y - c[1], dz = ((double)z - c[2]) * 1.2;
                if (dx * dx + dy * dy + dz * dz <= rad * rad)
                    mask[(size_t)x + n[0] * ((size_t)y + n[1] * (size_t)z)] = 1;
            }
}

int ph_ms_raters(ph_rng *r, const size_t size[3], const float *sd, const uint16_t *lid,
                 const ph_lesion_info *les, size_t n_les, const uint8_t *mimic,
                 uint8_t *const *masks, size_t n_raters) {
    const size_t nx = size[0], ny = size[1], total = size[0] * size[1] * size[2];
    double *loff = malloc((n_les + 1) * sizeof *loff);
    uint8_t *missed = malloc(n_les + 1);
    size_t *cand = NULL, n_cand = 0;
    int rc = -1;
    if (!loff || !missed) goto done;
    for (size_t i = 0; i < total; i++) n_cand += mimic[i] != 0;
    if (n_cand) {
        cand = malloc(n_cand * sizeof *cand);
        if (!cand) goto done;
        n_cand = 0;
        for (size_t i = 0; i < total; i++)
            if (mimic[i]) cand[n_cand++] = i;
    }
    double scale = cbrt((double)total / (181.0 * 217.0 * 181.0));
    const double bs = scale > 0.6 ? scale : 0.6; /* boundary habits scale with lesion size */
    for (size_t k = 0; k < n_raters; k++) {
        rater_habit h;
        int conservative = k == 6;
        h.offset = bs * (conservative ? -0.75 : ph_clamp(0.15 + 0.45 * ph_normal(r), -0.6, 0.9));
        h.jitter = bs * ph_range(r, 0.35, 0.7);
        h.miss_small = conservative ? 0.6 : ph_range(r, 0.15, 0.35);
        h.fp_rate = conservative ? 0.2 : ph_range(r, 0.3, 1.2);
        ph_noise wobble;
        double cell[3] = {3.0 + 3.0 * scale, 3.0 + 3.0 * scale, 3.0 + 3.0 * scale};
        if (ph_noise_init(&wobble, r, size, cell) != 0) goto done;
        loff[0] = 0;
        missed[0] = 1;
        for (size_t l = 1; l <= n_les; l++) {
            double v = les[l - 1].voxels;
            double p = v <= 0 ? 1.0 : h.miss_small * (v <= 10 ? 1.0 : v <= 40 ? 0.35 : v <= 120 ? 0.08 : 0.0);
            missed[l] = ph_uniform(r) < p;
            loff[l] = h.offset + 0.3 * bs * ph_normal(r);
        }
        uint8_t *m = masks[k];
        memset(m, 0, total);
        for (size_t i = 0; i < total; i++) {
            uint16_t l = lid[i];
            if (!l || missed[l] || sd[i] < -4) continue;
            size_t x = i % nx, y = (i / nx) % ny, z = i / (nx * ny);
            double t = -loff[l] + h.jitter * ph_noise_at(&wobble, (double)x, (double)y, (double)z);
            if (sd[i] > t) m[i] = 1;
        }
        ph_noise_free(&wobble);
        /* false positives: a mimic taken for a lesion */
        int n_fp = 0;
        double u = ph_uniform(r), p = exp(-h.fp_rate), cum = p;
        while (u > cum && n_fp < 4) {
            n_fp++;
            p *= h.fp_rate / n_fp;
            cum += p;
        }
        for (int f = 0; f < n_fp && n_cand; f++) {
            size_t i = cand[ph_rng_u64(r) % n_cand];
            double c[3] = {(double)(i % nx), (double)((i / nx) % ny), (double)(i / (nx * ny))};
            add_blob(m, size, c, ph_range(r, 1.0, 2.2) * (0.5 + 0.5 * scale) + 0.5);
        }
    }
    rc = 0;
done:
    free(loff);
    free(missed);
    free(cand);
    return rc;
}
