/*
 * memo.c: what a leaderboard rebuild would compute again from unchanged inputs,
 * remembered per process, so that rebuilding a board after one run finishes costs
 * about what that run adds: the values read from each stored case result (parsing
 * them was 70 % of a rebuild, about 0.5 s for 100 submissions x 38 cases) and each
 * entry's metric statistics (their bootstrap CIs, about 10 %).
 *
 * Both are pure functions of their inputs, and each table is keyed by the inputs
 * themselves (two independent 64-bit hashes and the length of the JSON text, or
 * of the values, with the resampling settings compared as they are): different
 * inputs are a different key, so nothing needs invalidating. The hashes are not
 * cryptographic: two different inputs taken for each other need both 64-bit
 * hashes and the length to agree by chance, which for the platform's own stored
 * results (not text a contestant writes) is negligible. Fixed tables, 4-way set-associative (a
 * direct-mapped table lost 11 % of 3800 entries to collisions at every rebuild):
 * a new entry takes a free way of its set, else replaces one chosen by its second
 * hash. One mutex, held for lookups and stores only, never while computing.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evaluator.h"

#define VALUE_SLOTS 32768 /* about 23 MB when full: 8 phases of 100 x 38 cases */
#define STATS_SLOTS 8192  /* 0.5 MB */
#define WAYS 4            /* slots per set */

typedef struct value_slot {
    uint64_t h1, h2;
    size_t length;
    int used;
    sa_case_values values;
} value_slot;

typedef struct stats_slot {
    uint64_t h1, h2;
    size_t n, resamples;
    uint64_t seed;
    int used;
    sa_metric_stats stats;
} stats_slot;

static pthread_mutex_t memo_lock = PTHREAD_MUTEX_INITIALIZER;
static value_slot *value_slots; /* allocated at the first use; NULL if that failed */
static stats_slot *stats_slots;
static int memo_tried;

/* Allocates the tables once (under memo_lock); without them nothing is
 * remembered and every result is computed, the same. */
static void memo_init(void) {
    if (memo_tried) return;
    memo_tried = 1;
    value_slots = calloc(VALUE_SLOTS, sizeof *value_slots);
    stats_slots = calloc(STATS_SLOTS, sizeof *stats_slots);
}

/* Two 64-bit hashes of n bytes, from different multipliers and seeds, 8 bytes a
 * step; salt (the other inputs) enters both. */
static void text_hashes(const char *text, size_t n, uint64_t salt, uint64_t *h1, uint64_t *h2) {
    uint64_t a = (0x9E3779B97F4A7C15ull ^ n) + salt * 0xD6E8FEB86659FD93ull, b = (0xC2B2AE3D27D4EB4Full + n) ^ salt;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, text + i, 8);
        a = (a ^ w) * 0x100000001B3ull;
        a ^= a >> 29;
        b = (b + w) * 0xFF51AFD7ED558CCDull;
        b ^= b >> 33;
    }
    uint64_t tail = 0;
    memcpy(&tail, text + i, n - i);
    a = (a ^ tail) * 0x100000001B3ull;
    b = (b + tail) * 0xFF51AFD7ED558CCDull;
    a ^= a >> 31, b ^= b >> 31;
    *h1 = a * 0x94D049BB133111EBull, *h2 = b * 0xBF58476D1CE4E5B9ull;
    *h1 ^= *h1 >> 32, *h2 ^= *h2 >> 29;
}

int sa_case_values_from_json_cached(const char *json, sa_case_values *out, sa_error *err) {
    size_t n = strlen(json);
    uint64_t h1, h2;
    text_hashes(json, n, 0, &h1, &h2);
    size_t set = (size_t)(h1 % (VALUE_SLOTS / WAYS)) * WAYS;
    pthread_mutex_lock(&memo_lock);
    memo_init();
    for (size_t w = 0; value_slots && w < WAYS; w++) {
        const value_slot *s = &value_slots[set + w];
        if (s->used && s->h1 == h1 && s->h2 == h2 && s->length == n) {
            *out = s->values;
            pthread_mutex_unlock(&memo_lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&memo_lock);
    if (sa_case_values_from_json(json, out, err)) return -1;
    pthread_mutex_lock(&memo_lock);
    if (value_slots) {
        size_t way = (size_t)(h2 % WAYS);
        for (size_t w = 0; w < WAYS; w++)
            if (!value_slots[set + w].used) {
                way = w;
                break;
            }
        value_slots[set + way] = (value_slot){h1, h2, n, 1, *out};
    }
    pthread_mutex_unlock(&memo_lock);
    return 0;
}

int sa_metric_stats_compute_cached(const double *values, size_t n, size_t resamples, uint64_t seed,
                                   sa_metric_stats *out, sa_error *err) {
    if (!values || n == 0) return sa_metric_stats_compute(values, n, resamples, seed, out, err);
    uint64_t h1, h2;
    text_hashes((const char *)values, n * sizeof *values, (uint64_t)resamples * 0x9E3779B97F4A7C15ull ^ seed, &h1,
                &h2);
    size_t set = (size_t)(h1 % (STATS_SLOTS / WAYS)) * WAYS;
    pthread_mutex_lock(&memo_lock);
    memo_init();
    for (size_t w = 0; stats_slots && w < WAYS; w++) {
        const stats_slot *s = &stats_slots[set + w];
        if (s->used && s->h1 == h1 && s->h2 == h2 && s->n == n && s->resamples == resamples && s->seed == seed) {
            *out = s->stats;
            pthread_mutex_unlock(&memo_lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&memo_lock);
    if (sa_metric_stats_compute(values, n, resamples, seed, out, err)) return -1;
    pthread_mutex_lock(&memo_lock);
    if (stats_slots) {
        size_t way = (size_t)(h2 % WAYS);
        for (size_t w = 0; w < WAYS; w++)
            if (!stats_slots[set + w].used) {
                way = w;
                break;
            }
        stats_slots[set + way] = (stats_slot){h1, h2, n, resamples, seed, 1, *out};
    }
    pthread_mutex_unlock(&memo_lock);
    return 0;
}
