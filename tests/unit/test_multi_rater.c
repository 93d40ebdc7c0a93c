/*
 * test_multi_rater.c: sa_score_multi put together from its parts: the scores
 * against each rater and against the consensus must equal sa_score_pair on the
 * same masks bit for bit, the mean must be the mean, and the human reference
 * must be each rater against the consensus of the others, computed here by hand.
 */
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "metrics.h"

static uint64_t state = 0xabcdef1234567ull;
static double uniform(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}

static int same_pair(const sa_pair_metrics *a, const sa_pair_metrics *b) {
    sa_pair_metrics x = *a, y = *b;
    x.threads_used = y.threads_used = 0;
    return memcmp(&x, &y, sizeof x) == 0;
}

static void blobs(uint8_t *m, const sa_grid *g, const double (*c)[3], int n, double grow) {
    for (size_t z = 0; z < g->nz; z++)
        for (size_t y = 0; y < g->ny; y++)
            for (size_t x = 0; x < g->nx; x++) {
                uint8_t in = 0;
                for (int b = 0; b < n; b++) {
                    double dx = (double)x - c[b][0], dy = (double)y - c[b][1], dz = (double)z - c[b][2];
                    in |= dx * dx + dy * dy + dz * dz <= (c[b][2] > 0 ? 9.0 + grow : 9.0);
                }
                m[x + g->nx * (y + g->ny * z)] = in;
            }
}

int main(void) {
    sa_grid g = {30, 28, 20, {1.0, 0.9, 1.5}};
    size_t n = sa_grid_voxels(&g);
    double centres[5][3] = {{6, 6, 5}, {20, 8, 10}, {12, 20, 14}, {24, 22, 6}, {8, 16, 16}};
    uint8_t *raters[4], *pred = malloc(n);
    for (int k = 0; k < 4; k++) {
        raters[k] = malloc(n);
        blobs(raters[k], &g, (const double(*)[3])centres, 5 - (k == 3), 4.0 * k);
        for (size_t i = 0; i < n; i++)
            if (uniform() < 0.01) raters[k][i] = 0;
    }
    blobs(pred, &g, (const double(*)[3])centres, 4, 2.0);
    pred[29 + g.nx * (27 + g.ny * 19)] = 1; /* a stray voxel on the border */

    for (int method = 0; method < 2; method++) {
        sa_multi_options opt;
        sa_multi_options_default(&opt);
        opt.consensus.method = method ? SA_CONSENSUS_MAJORITY : SA_CONSENSUS_STAPLE;
        opt.lesions = 1;
        opt.human_reference = 1;
        opt.lesion.min_volume_mm3 = 0;
        sa_multi_result *r = malloc(sizeof *r);
        sa_error err;
        CHECK(sa_score_multi(pred, (const uint8_t *const *)raters, 4, &g, &opt, r, &err) == 0);
        CHECK(r->raters == 4 && r->has_human_reference);

        /* against the consensus and each rater: exactly sa_score_pair */
        sa_pair_metrics p;
        CHECK(sa_score_pair(r->consensus.mask, pred, &g, &opt.score, &p, &err) == 0);
        CHECK(same_pair(&p, &r->vs_consensus.pair));
        double dice_sum = 0;
        for (int k = 0; k < 4; k++) {
            CHECK(sa_score_pair(raters[k], pred, &g, &opt.score, &p, &err) == 0);
            CHECK(same_pair(&p, &r->vs_rater[k].pair));
            dice_sum += p.dice.value;
            CHECK(r->vs_rater[k].has_lesions && r->vs_rater[k].lesions.lesions_pred == 5);
        }
        CHECK_NEAR(r->rater_mean.pair[0].value, dice_sum / 4, 1e-15); /* dice comes first */
        CHECK(r->rater_mean.pair_defined[0] == 4 && r->rater_mean.raters == 4);

        /* the human reference, by hand */
        for (int left = 0; left < 4; left++) {
            const uint8_t *others[3];
            int m = 0;
            for (int k = 0; k < 4; k++)
                if (k != left) others[m++] = raters[k];
            sa_consensus_result c;
            CHECK(sa_consensus(others, 3, &g, &opt.consensus, &c, &err) == 0);
            CHECK(sa_score_pair(c.mask, raters[left], &g, &opt.score, &p, &err) == 0);
            CHECK(same_pair(&p, &r->human_reference[left].pair));
            sa_lesions *cl, *rl;
            sa_lesion_metrics lm;
            CHECK(sa_lesions_find(c.mask, &g, &opt.lesion, &cl, &err) == 0);
            CHECK(sa_lesions_find(raters[left], &g, &opt.lesion, &rl, &err) == 0);
            CHECK(sa_lesions_match(cl, rl, &opt.lesion, &lm, &err) == 0);
            CHECK(memcmp(&lm, &r->human_reference[left].lesions, sizeof lm) == 0);
            sa_lesions_free(cl), sa_lesions_free(rl);
            sa_consensus_free(&c);
        }
        sa_multi_result_free(r);
        free(r);
    }

    /* the mean skips undefined values and says how many raters it is over */
    sa_scores each[3];
    memset(each, 0, sizeof each);
    each[0].pair.hd = (sa_value){2.0, NULL};
    each[1].pair.hd = (sa_value){0.0, SA_REASON_EMPTY_PREDICTION};
    each[2].pair.hd = (sa_value){4.0, NULL};
    sa_scores_mean mean;
    sa_scores_mean_of(each, 3, &mean);
    const sa_metric_info *hd = sa_metric_find("hd");
    size_t hd_index = (size_t)(hd - sa_metric_table(&(size_t){0}));
    CHECK(mean.pair[hd_index].reason == NULL && mean.pair[hd_index].value == 3.0 && mean.pair_defined[hd_index] == 2);
    each[0].pair.hd = each[2].pair.hd = each[1].pair.hd;
    sa_scores_mean_of(each, 3, &mean);
    CHECK(mean.pair[hd_index].reason && !strcmp(mean.pair[hd_index].reason, SA_REASON_EMPTY_PREDICTION));

    /* bad calls */
    sa_multi_options opt;
    sa_multi_options_default(&opt);
    opt.human_reference = 1;
    sa_multi_result *r = malloc(sizeof *r);
    sa_error err;
    CHECK(sa_score_multi(pred, (const uint8_t *const *)raters, 1, &g, &opt, r, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "at least 2");
    CHECK(sa_score_multi(pred, (const uint8_t *const *)raters, 0, &g, NULL, r, &err) == -1);
    free(r);
    for (int k = 0; k < 4; k++) free(raters[k]);
    free(pred);
    return test_report("test_multi_rater");
}
