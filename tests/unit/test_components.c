/*
 * test_components.c: sa_connected_components (metrics/components.c) against a
 * brute-force flood fill written here from the definition of 6-, 18- and
 * 26-connectivity (neighbour offsets with |dx|+|dy|+|dz| <= 1, <= 2, <= 3), on
 * many random masks of random small sizes and densities. The labelings must be
 * identical, numbering included: components are numbered in the order of their
 * first voxel in index order (x fastest), which the flood fill gets by starting
 * each fill at the first unlabelled inside voxel of a scan in index order.
 * Rows are up to 70 voxels wide so that the eight-byte skipping is exercised,
 * and inside voxels take any non-zero byte value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "metrics.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double rng_unit(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

/* Reference labelling: BFS flood fill over the neighbour offsets allowed by conn. */
static uint32_t flood_fill(const uint8_t *m, size_t nx, size_t ny, size_t nz, int conn,
                           uint32_t *lab, size_t *queue) {
    size_t n = nx * ny * nz;
    int off[26][3], noff = 0;
    int maxl1 = conn == 6 ? 1 : conn == 18 ? 2 : 3;
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int l1 = abs(dx) + abs(dy) + abs(dz);
                if (l1 == 0 || l1 > maxl1) continue;
                off[noff][0] = dx, off[noff][1] = dy, off[noff][2] = dz;
                noff++;
            }
    memset(lab, 0, n * sizeof *lab);
    uint32_t count = 0;
    for (size_t s = 0; s < n; s++) {
        if (!m[s] || lab[s]) continue;
        lab[s] = ++count;
        size_t head = 0, tail = 0;
        queue[tail++] = s;
        while (head < tail) {
            size_t v = queue[head++];
            long x = (long)(v % nx), y = (long)(v / nx % ny), z = (long)(v / (nx * ny));
            for (int k = 0; k < noff; k++) {
                long a = x + off[k][0], b = y + off[k][1], c = z + off[k][2];
                if (a < 0 || b < 0 || c < 0 || a >= (long)nx || b >= (long)ny || c >= (long)nz) continue;
                size_t w = (size_t)a + nx * ((size_t)b + ny * (size_t)c);
                if (m[w] && !lab[w]) {
                    lab[w] = count;
                    queue[tail++] = w;
                }
            }
        }
    }
    return count;
}

static int compare_one(const uint8_t *m, size_t nx, size_t ny, size_t nz, int conn) {
    size_t n = nx * ny * nz;
    uint32_t *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
    size_t *queue = malloc(n * sizeof *queue);
    sa_grid g = {nx, ny, nz, {1, 1, 1}};
    sa_error err = {{0}};
    uint32_t count = 0;
    int rc = sa_connected_components(m, &g, conn, got, &count, &err);
    uint32_t ref_count = flood_fill(m, nx, ny, nz, conn, want, queue);
    int same = rc == 0 && count == ref_count && memcmp(got, want, n * sizeof *got) == 0;
    if (!same)
        fprintf(stderr, "mismatch: %zux%zux%zu conn %d: rc %d, %u components, want %u (%s)\n", nx,
                ny, nz, conn, rc, count, ref_count, err.msg);
    free(got);
    free(want);
    free(queue);
    return same;
}

static void test_random(void) {
    static const int conns[3] = {6, 18, 26};
    int failures = 0, total = 0;
    for (int iter = 0; iter < 600; iter++) {
        size_t nx = 1 + rng() % (iter % 3 == 0 ? 70 : 12);
        size_t ny = 1 + rng() % 12, nz = 1 + rng() % 10;
        double density = 0.02 + 0.9 * rng_unit();
        size_t n = nx * ny * nz;
        uint8_t *m = malloc(n);
        for (size_t i = 0; i < n; i++)
            m[i] = rng_unit() < density ? (uint8_t)(1 + rng() % 255) : 0;
        for (int c = 0; c < 3; c++) {
            total++;
            if (!compare_one(m, nx, ny, nz, conns[c])) failures++;
        }
        free(m);
    }
    printf("random masks: %d labelings compared, %d mismatches\n", total, failures);
    CHECK(failures == 0);
}

/* Shapes whose answer is known without the brute force. */
static void test_small_cases(void) {
    sa_grid g = {3, 3, 3, {1, 1, 1}};
    uint8_t m[27] = {0};
    uint32_t lab[27], count = 99;
    sa_error err = {{0}};

    /* empty mask: 0 components, all labels 0 */
    CHECK(sa_connected_components(m, &g, 6, lab, &count, &err) == 0);
    CHECK(count == 0);
    /* edge neighbours (0,0,0), (1,1,0): 2 at 6, 1 at 18 and 26 */
    m[0] = 1;
    m[1 + 3 * 1] = 1;
    CHECK(sa_connected_components(m, &g, 6, lab, &count, &err) == 0 && count == 2);
    CHECK(lab[0] == 1 && lab[4] == 2);
    CHECK(sa_connected_components(m, &g, 18, lab, &count, &err) == 0 && count == 1);
    CHECK(sa_connected_components(m, &g, 26, lab, &count, &err) == 0 && count == 1);
    /* corner neighbours (0,0,0), (1,1,1): 2 at 6 and 18, 1 at 26 */
    memset(m, 0, sizeof m);
    m[0] = 1;
    m[1 + 3 * (1 + 3 * 1)] = 1;
    CHECK(sa_connected_components(m, &g, 6, lab, &count, &err) == 0 && count == 2);
    CHECK(sa_connected_components(m, &g, 18, lab, &count, &err) == 0 && count == 2);
    CHECK(sa_connected_components(m, &g, 26, lab, &count, &err) == 0 && count == 1);
    CHECK(lab[0] == 1 && lab[13] == 1);
    /* a full block is one component at every connectivity */
    memset(m, 7, sizeof m);
    CHECK(sa_connected_components(m, &g, 6, lab, &count, &err) == 0 && count == 1);
    /* numbering: the component whose first voxel comes first gets 1, even when
     * the other one reaches lower rows later */
    sa_grid g2 = {4, 2, 1, {1, 1, 1}};
    uint8_t m2[8] = {0, 0, 0, 1, /* row y=0: B at x=3 */
                     1, 0, 0, 1};/* row y=1: A at x=0, B at x=3 */
    uint32_t lab2[8];
    CHECK(sa_connected_components(m2, &g2, 6, lab2, &count, &err) == 0 && count == 2);
    CHECK(lab2[3] == 1 && lab2[7] == 1 && lab2[4] == 2);
    /* errors */
    CHECK(sa_connected_components(m, &g, 8, lab, &count, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "connectivity");
    sa_grid bad = {0, 3, 3, {1, 1, 1}};
    CHECK(sa_connected_components(m, &bad, 6, lab, &count, &err) == -1);
    CHECK(sa_connected_components(NULL, &g, 6, lab, &count, &err) == -1);
}

/* A wide row with runs crossing eight-byte boundaries in every phase. */
static void test_long_rows(void) {
    size_t nx = 203, ny = 3, nz = 2, n = nx * ny * nz;
    uint8_t *m = calloc(n, 1);
    for (size_t i = 0; i < n; i++) m[i] = (i % 17 < 9 || i % 23 == 0) ? 1 : 0;
    for (int c = 6; c <= 26; c += (c == 6 ? 12 : 8)) CHECK(compare_one(m, nx, ny, nz, c));
    memset(m, 255, n); /* full: one component */
    CHECK(compare_one(m, nx, ny, nz, 6));
    free(m);
}

int main(void) {
    test_small_cases();
    test_long_rows();
    test_random();
    return test_report("test_components");
}
