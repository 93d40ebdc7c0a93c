/*
 * leaderboard.c: the ranked table of a phase. Every ready submission with a done
 * run is an entry; the cases are every case any of those runs has a result for,
 * and a case an entry lacks counts as failed ("missing"), so that all entries are
 * compared on the same cases. A submission whose run was scored under another
 * scoring configuration than the phase's current one (a different scoring hash)
 * is not an entry but is listed as needing a rescore. One row per team is chosen
 * by the phase's leaderboard_entry rule (or every entry), ranked by its ranking
 * rule, with bootstrap rank stability and the raters' own rows for comparison.
 * The numbers of a row come from the same helpers as a run's aggregate
 * (aggregate_run.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board_internal.h"

/* An evaluated submission: its latest done run and that run's case results with
 * their values (cv[i] of results[i]). */
typedef struct board_entry {
    int64_t submission_id, run_id, team_id;
    char team[64];
    double created;
    int selected;
    sa_case_result_row *results;
    sa_case_values *cv;
    size_t n_results;
} board_entry;

/* The scoring hash of a run's frozen spec with one dataset checksum, remembered
 * for the few distinct (spec text, checksum) pairs a phase's runs have. */
#define HASH_MEMO 8
typedef struct hash_memo {
    char *config;
    char checksum[65];
    char hash[65]; /* "" when the spec cannot be parsed */
} hash_memo;

/* Everything computed for every entry before rows are chosen. Arrays are indexed
 * [e * n_cases + c] (results, cv), [(e * n_metrics + m) * n_cases + c] (values) and
 * [(e * n_ranked + k) * n_cases + c] (ranked). */
typedef struct board_work {
    const sa_phase_spec *spec;
    const char *scoring_hash; /* the phase's current one */
    board_entry *entries;
    size_t n_entries, n_cases;
    sa_board_stale *stale;
    size_t n_stale;
    hash_memo memo[HASH_MEMO];
    size_t n_memo;
    const sa_case_result_row **results;
    sa_case_values *cv;
    double *values;
    double *ranked;
    unsigned char *left_out; /* per case: no diagonal known anywhere (n_cases_without_cap) */
    int higher_is_better[SA_PHASE_MAX_RANKED];
} board_work;

static void entry_free(board_entry *e) {
    sa_case_result_rows_free(e->results, e->n_results);
    free(e->cv);
    e->results = NULL;
    e->cv = NULL;
    e->n_results = 0;
}

static void work_free(board_work *w) {
    for (size_t e = 0; e < w->n_entries; e++) entry_free(&w->entries[e]);
    for (size_t i = 0; i < w->n_memo; i++) free(w->memo[i].config);
    free(w->entries);
    free(w->stale);
    free(w->results);
    free(w->cv);
    free(w->values);
    free(w->ranked);
    free(w->left_out);
}

static int out_of_memory(sa_error *err) {
    return sa_error_set(err, "out of memory");
}

/* The scoring hash the run's frozen spec gives with a dataset checksum into
 * hash ("" when the stored spec cannot be parsed). */
static int run_config_hash(board_work *w, const char *config, const char *checksum, char hash[65],
                           sa_error *err) {
    if (!config) config = "";
    for (size_t i = 0; i < w->n_memo; i++)
        if (!strcmp(w->memo[i].config, config) && !strcmp(w->memo[i].checksum, checksum)) {
            memcpy(hash, w->memo[i].hash, 65);
            return 0;
        }
    sa_phase_spec spec;
    sa_error ignored;
    hash[0] = '\0';
    if (sa_board_spec_parse(config, "run", &spec, &ignored) == 0) sa_phase_scoring_hash(&spec, checksum, hash);
    hash_memo *m = &w->memo[w->n_memo < HASH_MEMO ? w->n_memo++ : HASH_MEMO - 1];
    free(m->config);
    if (!(m->config = strdup(config))) return out_of_memory(err);
    snprintf(m->checksum, sizeof m->checksum, "%s", checksum);
    memcpy(m->hash, hash, 65);
    return 0;
}

/* Loads the values of an entry's results and says whether they were all scored
 * under the phase's current scoring hash: 1 yes, 0 no (found: a hash they were
 * scored under, "" unknown), -1 error. A scored case carries its hash in its
 * stamp; a failed one has none, so the run's frozen spec gives it, with the
 * dataset checksum the case recorded. A stored result whose scores cannot be
 * read but whose stamp names another hash (older metric definitions) makes the
 * entry stale; one stamped with the current hash is an error, as before. */
static int load_entry_values(board_work *w, const sa_run_row *run, board_entry *e, char found[65], sa_error *err) {
    e->cv = malloc((e->n_results + 1) * sizeof *e->cv);
    if (!e->cv) return out_of_memory(err);
    int current = 1;
    found[0] = '\0';
    for (size_t i = 0; i < e->n_results; i++) {
        char hash[65];
        if (sa_board_case_load(&e->results[i], &e->cv[i], err)) {
            if (sa_case_result_scoring_hash(e->results[i].result_json, hash) || !strcmp(hash, w->scoring_hash))
                return -1;
            sa_case_values_failed(&e->cv[i], 0); /* never used: the entry is stale */
        } else if (!e->cv[i].failed) {
            memcpy(hash, e->cv[i].scoring_hash, sizeof hash);
        } else if (!e->results[i].dataset_checksum[0]) {
            continue; /* a platform failure that could not read the dataset: no scores, no say */
        } else if (run_config_hash(w, run->config_json, e->results[i].dataset_checksum, hash, err)) {
            return -1;
        }
        if (current && strcmp(hash, w->scoring_hash) != 0) {
            current = 0;
            memcpy(found, hash, 65);
        }
    }
    return current;
}

/* Every ready submission of the phase that has a done run: an entry when its
 * results were scored under the current scoring hash, else a stale one. */
static int load_entries(sa_store *st, int64_t phase_id, board_work *w, sa_error *err) {
    sa_submission_row *subs;
    size_t n_subs;
    if (sa_store_submission_list(st, phase_id, 0, &subs, &n_subs, err)) return -1;
    int rc = 0;
    w->entries = calloc(n_subs + 1, sizeof *w->entries);
    w->stale = calloc(n_subs + 1, sizeof *w->stale);
    if (!w->entries || !w->stale) rc = out_of_memory(err);
    for (size_t i = 0; rc == 0 && i < n_subs; i++) {
        if (strcmp(subs[i].status, "ready") != 0) continue;
        sa_run_row run;
        int found = sa_store_run_latest_evaluation(st, subs[i].id, 1, &run, err);
        if (found < 0) rc = -1;
        if (found <= 0) continue;
        board_entry *e = &w->entries[w->n_entries];
        e->submission_id = subs[i].id;
        e->team_id = subs[i].team_id;
        snprintf(e->team, sizeof e->team, "%s", subs[i].team);
        e->created = subs[i].created;
        e->selected = subs[i].selected;
        char hash[65];
        int current = -1;
        for (int clean_first = 1; clean_first >= 0; clean_first--) {
            e->run_id = run.id;
            current = -1;
            if (sa_store_case_results(st, e->run_id, &e->results, &e->n_results, err) == 0)
                current = load_entry_values(w, &run, e, hash, err);
            if (current != 0 || !clean_first) break;
            /* the clean run preferred to a newer one with engine_error cases was
             * scored under an older configuration: the newer one, if current,
             * is the evaluation (else the entry is stale either way) */
            sa_run_row newest;
            int got = sa_store_run_latest_evaluation(st, subs[i].id, 0, &newest, err);
            if (got < 0) {
                current = -1;
                break;
            }
            if (got == 0 || newest.id == run.id) {
                if (got == 1) sa_run_row_free(&newest);
                break;
            }
            entry_free(e);
            sa_run_row_free(&run);
            run = newest;
        }
        sa_run_row_free(&run);
        if (current < 0) {
            rc = -1;
            entry_free(e);
        } else if (current) {
            w->n_entries++;
        } else {
            sa_board_stale *s = &w->stale[w->n_stale++];
            s->submission_id = e->submission_id;
            s->run_id = e->run_id;
            s->team_id = e->team_id;
            memcpy(s->team, e->team, sizeof s->team);
            s->submitted = e->created;
            s->selected = e->selected;
            memcpy(s->scoring_hash, hash, sizeof s->scoring_hash);
            entry_free(e);
            memset(e, 0, sizeof *e);
        }
    }
    sa_submission_rows_free(subs, n_subs);
    return rc;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The board's cases: the sorted union of the case ids of every entry's results. */
static int collect_case_ids(const board_work *w, sa_board *b, sa_error *err) {
    size_t total = 0;
    for (size_t e = 0; e < w->n_entries; e++) total += w->entries[e].n_results;
    const char **all = malloc((total + 1) * sizeof *all);
    if (!all) return out_of_memory(err);
    size_t n = 0;
    for (size_t e = 0; e < w->n_entries; e++)
        for (size_t i = 0; i < w->entries[e].n_results; i++) all[n++] = w->entries[e].results[i].case_id;
    qsort(all, n, sizeof *all, compare_strings);
    b->case_ids = calloc(n + 1, sizeof *b->case_ids);
    int rc = b->case_ids ? 0 : out_of_memory(err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (b->n_cases > 0 && strcmp(b->case_ids[b->n_cases - 1], all[i]) == 0) continue;
        b->case_ids[b->n_cases] = strdup(all[i]);
        if (!b->case_ids[b->n_cases]) rc = out_of_memory(err);
        else b->n_cases++;
    }
    free(all);
    return rc;
}

/* Index of a case id in the board's sorted list, or -1. */
static long case_index(const sa_board *b, const char *case_id) {
    if (b->n_cases == 0) return -1;
    char **hit = bsearch(&case_id, b->case_ids, b->n_cases, sizeof *b->case_ids, compare_strings);
    return hit ? (long)(hit - b->case_ids) : -1;
}

/* Case values, metric values and ranked values of every entry on every case. A
 * distance of a failed case whose diagonal is known nowhere is NaN (no value),
 * for every entry alike. */
static int load_values(sa_store *st, int64_t phase_id, board_work *w, sa_board *b, sa_error *err) {
    const sa_phase_spec *spec = w->spec;
    size_t nc = w->n_cases = b->n_cases, ne = w->n_entries;
    w->results = calloc(ne * nc + 1, sizeof *w->results);
    w->cv = calloc(ne * nc + 1, sizeof *w->cv);
    w->values = malloc((ne * spec->n_metrics * nc + 1) * sizeof *w->values);
    w->ranked = malloc((ne * spec->n_ranked * nc + 1) * sizeof *w->ranked);
    w->left_out = calloc(nc + 1, 1);
    if (!w->results || !w->cv || !w->values || !w->ranked || !w->left_out) return out_of_memory(err);
    for (size_t i = 0; i < ne * nc; i++) sa_case_values_failed(&w->cv[i], 0); /* missing */
    for (size_t e = 0; e < ne; e++)
        for (size_t i = 0; i < w->entries[e].n_results; i++) {
            size_t at = e * nc + (size_t)case_index(b, w->entries[e].results[i].case_id);
            w->results[at] = &w->entries[e].results[i];
            w->cv[at] = w->entries[e].cv[i];
        }
    if (spec->distance_cap_mm <= 0) {
        sa_case_fov src; /* other runs, the human reference, the manifest: as a run's aggregate */
        sa_case_fov_init(&src, st, phase_id);
        int rc = sa_board_fill_failed_fov(w->cv, ne, nc, (const char *const *)b->case_ids, &src,
                                          &b->n_cases_without_cap, w->left_out, err);
        sa_case_fov_free(&src);
        if (rc) return -1;
    }
    for (size_t k = 0; k < spec->n_ranked; k++) w->higher_is_better[k] = spec->ranked[k].higher_is_better;
    for (size_t e = 0; e < ne; e++) {
        if (sa_board_metric_values(spec, &w->cv[e * nc], nc, &w->values[e * spec->n_metrics * nc], err)) return -1;
        for (size_t k = 0; k < spec->n_ranked; k++) {
            for (size_t c = 0; c < nc; c++) {
                double *v = &w->ranked[(e * spec->n_ranked + k) * nc + c];
                int rc = sa_aggregate_value(&w->cv[e * nc + c], spec->ranked[k].name, spec->distance_cap_mm, v);
                if (rc == 0 && sa_metric_agg_kind(spec->ranked[k].name) == SA_AGG_DISTANCE)
                    *v = NAN; /* no cap known for the case: left out of the ranking (rank_entries) */
                else if (rc != 1)
                    return sa_error_set(err, "phase %s: ranked metric '%s' has no value for case %s", spec->name,
                                        spec->ranked[k].name, b->case_ids[c]);
            }
        }
    }
    return 0;
}

/* Ranks the entries which[0..n-1] against each other with the phase's rule, and
 * (stability non-NULL) their bootstrap stability, over the cases where every
 * ranked value is known: a case with a NaN (a failed case's distance with no
 * diagonal known anywhere, which no entry scored, so NaN for all of them) is
 * left out for every entry alike. No such case: every entry rank 1, key NaN. */
static int rank_entries(const board_work *w, const size_t *which, size_t n, double *key, int *rank,
                        sa_rank_stability *stability, sa_bootstrap_summary *summary, sa_error *err) {
    const sa_phase_spec *spec = w->spec;
    size_t nc = w->n_cases, nk = spec->n_ranked, block = nk * nc;
    if (summary) memset(summary, 0, sizeof *summary);
    if (n == 0) return 0;
    size_t *kept = malloc((nc + 1) * sizeof *kept), n_kept = 0;
    if (!kept) return out_of_memory(err);
    for (size_t c = 0; c < nc; c++) {
        int known = 1;
        for (size_t i = 0; i < n && known; i++)
            for (size_t k = 0; k < nk && known; k++) known = !isnan(w->ranked[which[i] * block + k * nc + c]);
        if (known) kept[n_kept++] = c;
    }
    if (n_kept == 0) {
        for (size_t i = 0; i < n; i++) key[i] = NAN, rank[i] = 1;
    } else {
        double *values = malloc((n * nk * n_kept + 1) * sizeof *values);
        if (!values) {
            free(kept);
            return out_of_memory(err);
        }
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < nk; k++)
                for (size_t j = 0; j < n_kept; j++)
                    values[(i * nk + k) * n_kept + j] = w->ranked[which[i] * block + k * nc + kept[j]];
        sa_rank_table t = {n, nk, n_kept, values, w->higher_is_better};
        int rc = sa_rank_entries(&t, spec->rule, NULL, n_kept, key, rank, err);
        if (rc == 0 && stability && n >= 2)
            rc = sa_rank_bootstrap(&t, spec->rule, (size_t)spec->bootstrap_resamples, spec->bootstrap_seed,
                                   stability, summary, err);
        free(values);
        if (rc) {
            free(kept);
            return -1;
        }
    }
    free(kept);
    if (stability && (n < 2 || n_kept == 0)) /* no bootstrap: the summary stays zero */
        for (size_t i = 0; i < n; i++)
            stability[i].median_rank = stability[i].rank_lo = stability[i].rank_hi = rank[i];
    return 0;
}

/* 1 when entry f goes on the board instead of its team-mate e under the rule
 * (rank: the ranks of every entry, for "best"). */
static int preferred(const board_work *w, sa_entry_rule rule, const int *rank, size_t f, size_t e) {
    const board_entry *a = &w->entries[f], *b = &w->entries[e];
    switch (rule) {
    case SA_ENTRY_LATEST: /* the most recent; tie: the larger id */
        return a->created > b->created || (a->created == b->created && a->submission_id > b->submission_id);
    case SA_ENTRY_BEST: /* the best ranked; tie: the earlier submission */
        if (rank[f] != rank[e]) return rank[f] < rank[e];
        return a->created < b->created || (a->created == b->created && a->submission_id < b->submission_id);
    case SA_ENTRY_SELECTED:
        return a->selected && !b->selected;
    }
    return 0;
}

/* The entries that become rows: every entry (all_entries), or the one per team
 * that no team-mate is preferred to (selected: only a selected one). */
static int choose_rows(const board_work *w, int all_entries, size_t *which, size_t *n, sa_error *err) {
    sa_entry_rule rule = w->spec->leaderboard_entry;
    int *rank = NULL;
    double *key = NULL;
    size_t *every = NULL;
    *n = 0;
    if (!all_entries && rule == SA_ENTRY_BEST && w->n_entries > 0) {
        rank = malloc(w->n_entries * sizeof *rank);
        key = malloc(w->n_entries * sizeof *key);
        every = malloc(w->n_entries * sizeof *every);
        if (!rank || !key || !every) {
            free(rank), free(key), free(every);
            return out_of_memory(err);
        }
        for (size_t e = 0; e < w->n_entries; e++) every[e] = e;
        int rc = rank_entries(w, every, w->n_entries, key, rank, NULL, NULL, err);
        free(key), free(every);
        if (rc) {
            free(rank);
            return -1;
        }
    }
    for (size_t e = 0; e < w->n_entries; e++) {
        int chosen = all_entries || rule != SA_ENTRY_SELECTED || w->entries[e].selected;
        for (size_t f = 0; chosen && !all_entries && f < w->n_entries; f++)
            if (f != e && w->entries[f].team_id == w->entries[e].team_id && preferred(w, rule, rank, f, e)) chosen = 0;
        if (chosen) which[(*n)++] = e;
    }
    free(rank);
    return 0;
}

/* Row order: rank, then submission time, then submission id. */
typedef struct row_order {
    size_t pos; /* index into which[] */
    int rank;
    double created;
    int64_t id;
} row_order;

static int compare_rows(const void *pa, const void *pb) {
    const row_order *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    if (a->created != b->created) return a->created < b->created ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* The ranked rows of the chosen entries, with their values and case classes. */
static int fill_rows(const board_work *w, const size_t *which, size_t n, sa_board *b, sa_error *err) {
    const sa_phase_spec *spec = w->spec;
    size_t nc = w->n_cases, nm = spec->n_metrics;
    double *key = malloc((n + 1) * sizeof *key);
    int *rank = malloc((n + 1) * sizeof *rank);
    sa_rank_stability *stability = malloc((n + 1) * sizeof *stability);
    row_order *order = malloc((n + 1) * sizeof *order);
    b->rows = calloc(n + 1, sizeof *b->rows);
    b->values = malloc((n * nm * nc + 1) * sizeof *b->values);
    b->case_class = calloc(n * nc + 1, sizeof *b->case_class);
    int rc = key && rank && stability && order && b->rows && b->values && b->case_class ? 0 : out_of_memory(err);
    if (rc == 0) rc = rank_entries(w, which, n, key, rank, stability, &b->bootstrap, err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            order[i] = (row_order){i, rank[i], w->entries[which[i]].created, w->entries[which[i]].submission_id};
        qsort(order, n, sizeof *order, compare_rows);
    }
    for (size_t r = 0; rc == 0 && r < n; r++) {
        size_t pos = order[r].pos, e = which[pos];
        const board_entry *en = &w->entries[e];
        sa_board_row *row = &b->rows[r];
        row->submission_id = en->submission_id;
        row->run_id = en->run_id;
        row->team_id = en->team_id;
        memcpy(row->team, en->team, sizeof row->team);
        row->submitted = en->created;
        row->rank = rank[pos];
        row->key = key[pos];
        row->stability = stability[pos];
        row->n_cases = nc;
        memcpy(&b->values[r * nm * nc], &w->values[e * nm * nc], nm * nc * sizeof *b->values);
        for (size_t c = 0; rc == 0 && c < nc; c++) {
            const sa_case_result_row *res = w->results[e * nc + c];
            if (w->cv[e * nc + c].failed) row->n_failed++;
            b->case_class[r * nc + c] = strdup(res ? res->error_class : "missing");
            if (!b->case_class[r * nc + c]) rc = out_of_memory(err);
        }
        b->n_rows++;
        if (rc == 0) rc = sa_board_metric_stats(spec, &b->values[r * nm * nc], nc, row->stats, err);
    }
    free(key);
    free(rank);
    free(stability);
    free(order);
    return rc;
}

/* The row of rater `rater` over the stored human-reference cases that are on the
 * board (jsons[0..n-1]); a case the rater has no scores for is left out. */
static int human_row(const sa_phase_spec *spec, const char *rater, char **jsons, size_t n, sa_board_row *row,
                     sa_error *err) {
    sa_case_values *cv = malloc((n + 1) * sizeof *cv);
    double *values = malloc((spec->n_metrics * n + 1) * sizeof *values);
    int rc = cv && values ? 0 : out_of_memory(err);
    size_t used = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int found = sa_case_values_from_human_json(jsons[i], rater, &cv[used], err);
        if (found < 0) rc = -1;
        else used += (size_t)found;
    }
    if (rc == 0) rc = sa_board_metric_values(spec, cv, used, values, err);
    if (rc == 0) rc = sa_board_metric_stats(spec, values, used, row->stats, err);
    snprintf(row->team, sizeof row->team, "rater %s", rater);
    snprintf(row->rater, sizeof row->rater, "%s", rater);
    row->n_cases = used;
    free(cv);
    free(values);
    return rc;
}

/* The raters' rows (each rater against the consensus of the others), from the
 * human reference stored for the phase's dataset and scoring configuration,
 * over the board's cases less those left out of the ranking (no diagonal known
 * anywhere), so that they are over the teams' cases. */
static int human_rows(sa_store *st, const board_work *w, sa_board *b, sa_error *err) {
    if (!b->spec.human_reference || b->n_cases == 0) return 0;
    char **case_ids, **jsons;
    size_t n;
    if (sa_store_human_ref_list(st, b->scoring_hash, &case_ids, &jsons, &n, err)) return -1;
    size_t kept = 0; /* the board's cases moved to the front */
    for (size_t i = 0; i < n; i++) {
        long c = case_index(b, case_ids[i]);
        if (c < 0 || (w->left_out && w->left_out[c])) continue;
        char *t = jsons[kept];
        jsons[kept++] = jsons[i];
        jsons[i] = t;
    }
    char **raters = NULL;
    size_t n_raters = 0;
    int rc = kept ? sa_human_json_raters(jsons[0], &raters, &n_raters, err) : 0;
    if (rc == 0 && n_raters > 0) {
        b->human = calloc(n_raters, sizeof *b->human);
        if (!b->human) rc = out_of_memory(err);
    }
    for (size_t r = 0; rc == 0 && r < n_raters; r++) {
        rc = human_row(&b->spec, raters[r], jsons, kept, &b->human[r], err);
        b->n_human++;
    }
    for (size_t r = 0; r < n_raters; r++) free(raters[r]);
    free(raters);
    sa_strings_free(case_ids, n);
    sa_strings_free(jsons, n);
    return rc;
}

/* The stale entries the board lists: every one, except that a board of selected
 * entries (not all_entries) lists only selected ones, as it shows no others. */
static int keep_stale(const board_work *w, int all_entries, sa_board *b, sa_error *err) {
    b->stale = calloc(w->n_stale + 1, sizeof *b->stale);
    if (!b->stale) return out_of_memory(err);
    for (size_t i = 0; i < w->n_stale; i++)
        if (all_entries || w->spec->leaderboard_entry != SA_ENTRY_SELECTED || w->stale[i].selected)
            b->stale[b->n_stale++] = w->stale[i];
    return 0;
}

int sa_board_build(sa_store *st, int64_t phase_id, int all_entries, sa_board *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    sa_phase_row phase;
    int found = sa_store_phase_get_by_id(st, phase_id, &phase, err);
    if (found <= 0) return found == 0 ? sa_error_set(err, "no phase %lld", (long long)phase_id) : -1;
    snprintf(out->challenge, sizeof out->challenge, "%s", phase.challenge);
    snprintf(out->phase, sizeof out->phase, "%s", phase.name);
    out->published = phase.published;
    char label[160];
    snprintf(label, sizeof label, "phase %s/%s", phase.challenge, phase.name);
    board_work w = {.spec = &out->spec, .scoring_hash = out->scoring_hash};
    size_t *which = NULL, n_rows = 0;
    int rc = sa_board_spec_parse(phase.spec_json, label, &out->spec, err);
    if (rc == 0) {
        sa_dataset_row ds;
        rc = sa_store_dataset_get_by_id(st, phase.dataset_id, &ds, err);
        if (rc == 0) sa_phase_scoring_hash(&out->spec, ds.checksum, out->scoring_hash);
    }
    if (rc == 0) rc = load_entries(st, phase_id, &w, err);
    if (rc == 0) rc = keep_stale(&w, all_entries, out, err);
    if (rc == 0) rc = collect_case_ids(&w, out, err);
    if (rc == 0) rc = load_values(st, phase_id, &w, out, err);
    if (rc == 0) {
        which = malloc((w.n_entries + 1) * sizeof *which);
        rc = which ? choose_rows(&w, all_entries, which, &n_rows, err) : out_of_memory(err);
    }
    if (rc == 0) rc = fill_rows(&w, which, n_rows, out, err);
    if (rc == 0) rc = human_rows(st, &w, out, err);
    free(which);
    work_free(&w);
    sa_phase_row_free(&phase);
    if (rc) sa_board_free(out);
    return rc ? -1 : 0;
}

void sa_board_free(sa_board *b) {
    if (b->case_class)
        for (size_t i = 0; i < b->n_rows * b->n_cases; i++) free(b->case_class[i]);
    free(b->case_class);
    sa_strings_free(b->case_ids, b->n_cases);
    free(b->rows);
    free(b->human);
    free(b->stale);
    free(b->values);
    memset(b, 0, sizeof *b);
}

static void withhold_small(const sa_phase_spec *spec, sa_board_row *row) {
    for (size_t m = 0; m < spec->n_metrics; m++) {
        sa_metric_stats *s = &row->stats[m];
        /* the std too: with the mean it gives away two values (mean ± std/√2) */
        if (s->n > 0 && s->n < SA_BOARD_MIN_HIDDEN_VALUES) s->median = s->std = s->ci_lo = s->ci_hi = NAN;
    }
}

void sa_board_public_view(sa_board *b) {
    if (!b || b->spec.show_case_details) return;
    for (size_t r = 0; r < b->n_rows; r++) withhold_small(&b->spec, &b->rows[r]);
    for (size_t r = 0; r < b->n_human; r++) withhold_small(&b->spec, &b->human[r]);
}

/* ---- JSON ---- */

void sa_missing_case_policy(const sa_phase_spec *spec, char *buf, size_t size) {
    char cap[96], number[40];
    if (spec->distance_cap_mm > 0) {
        sa_format_number(number, spec->distance_cap_mm); /* exact: 123.45, not 123.5 */
        snprintf(cap, sizeof cap, "%s mm", number);
    } else {
        snprintf(cap, sizeof cap, "each case's field-of-view diagonal");
    }
    snprintf(buf, size,
             "A failed or missing case counts as 0 on overlap and detection metrics and as the distance cap (%s) "
             "on distance metrics, and is left out of volumes and counts; a value undefined in a scored case "
             "counts as 1 on overlap and detection metrics when both masks are empty (for lesion-wise "
             "metrics: when neither mask has a lesion after the volume filter) (else 0) and as the "
             "distance cap on distance metrics%s.",
             cap, spec->distance_cap_mm > 0 ? "; a scored distance above the cap counts as the cap" : "");
}

void sa_board_no_cap_note(const sa_board *b, char *buf, size_t size) {
    if (size) buf[0] = '\0';
    if (!b->n_cases_without_cap) return;
    snprintf(buf, size,
             "%zu case%s %s no distance value: no entry scored %s and %s field-of-view diagonal (the distance "
             "cap) is known nowhere (no result recorded it and the dataset's manifest could not be read), so "
             "%s left out of the distance metrics and of the ranking for every entry alike.",
             b->n_cases_without_cap, b->n_cases_without_cap == 1 ? "" : "s",
             b->n_cases_without_cap == 1 ? "has" : "have", b->n_cases_without_cap == 1 ? "it" : "them",
             b->n_cases_without_cap == 1 ? "its" : "their", b->n_cases_without_cap == 1 ? "it is" : "they are");
}

static json_t *row_json(const sa_board *b, size_t r, int with_cases) {
    const sa_board_row *row = &b->rows[r];
    char submitted[32];
    sa_iso8601_format(row->submitted, submitted);
    json_t *o = json_object(), *metrics = sa_board_metrics_json(&b->spec, row->stats);
    json_t *stability = json_object(), *cases = with_cases ? json_object() : NULL;
    if (!o || !metrics || !stability || (with_cases && !cases)) {
        json_decref(o), json_decref(metrics), json_decref(stability), json_decref(cases);
        return NULL;
    }
    json_object_set_new(o, "rank", json_integer(row->rank));
    json_object_set_new(o, "team", sa_board_json_text(row->team));
    json_object_set_new(o, "submission_id", json_integer(row->submission_id));
    json_object_set_new(o, "run_id", json_integer(row->run_id));
    json_object_set_new(o, "submitted", json_string(submitted));
    json_object_set_new(o, "key", sa_board_json_number(row->key));
    json_object_set_new(o, "n_cases", json_integer((json_int_t)row->n_cases));
    json_object_set_new(o, "n_failed", json_integer((json_int_t)row->n_failed));
    json_object_set_new(o, "metrics", metrics);
    json_object_set_new(stability, "median_rank", sa_board_json_number(row->stability.median_rank));
    json_object_set_new(stability, "rank_lo", sa_board_json_number(row->stability.rank_lo));
    json_object_set_new(stability, "rank_hi", sa_board_json_number(row->stability.rank_hi));
    json_object_set_new(o, "stability", stability);
    if (!with_cases) return o;
    size_t nc = b->n_cases, nm = b->spec.n_metrics;
    for (size_t c = 0; c < nc; c++) {
        json_t *one = json_object();
        sa_board_json_set_text(cases, b->case_ids[c], one);
        json_object_set_new(one, "class", sa_board_json_text(b->case_class[r * nc + c]));
        for (size_t m = 0; m < nm; m++)
            json_object_set_new(one, b->spec.metrics[m], sa_board_json_number(b->values[(r * nm + m) * nc + c]));
    }
    json_object_set_new(o, "cases", cases);
    return o;
}

static json_t *human_json(const sa_board *b, size_t r) {
    const sa_board_row *row = &b->human[r];
    json_t *o = json_object(), *metrics = sa_board_metrics_json(&b->spec, row->stats);
    if (!o || !metrics) {
        json_decref(o), json_decref(metrics);
        return NULL;
    }
    json_object_set_new(o, "rater", sa_board_json_text(row->rater));
    json_object_set_new(o, "team", sa_board_json_text(row->team));
    json_object_set_new(o, "n_cases", json_integer((json_int_t)row->n_cases));
    json_object_set_new(o, "metrics", metrics);
    return o;
}

static json_t *stale_json(const sa_board_stale *s) {
    char submitted[32];
    sa_iso8601_format(s->submitted, submitted);
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "team", sa_board_json_text(s->team));
    json_object_set_new(o, "submission_id", json_integer(s->submission_id));
    json_object_set_new(o, "run_id", json_integer(s->run_id));
    json_object_set_new(o, "submitted", json_string(submitted));
    json_object_set_new(o, "scoring_hash", s->scoring_hash[0] ? sa_board_json_text(s->scoring_hash) : json_null());
    return o;
}

static json_t *header_json(const sa_board *b) {
    const sa_phase_spec *spec = &b->spec;
    char policy[1024];
    sa_missing_case_policy(spec, policy, sizeof policy);
    json_t *o = json_object(), *ranked = json_array(), *metrics = json_array(), *boot = json_object();
    if (!o || !ranked || !metrics || !boot) {
        json_decref(o), json_decref(ranked), json_decref(metrics), json_decref(boot);
        return NULL;
    }
    json_object_set_new(o, "challenge", sa_board_json_text(b->challenge));
    json_object_set_new(o, "phase", sa_board_json_text(b->phase));
    json_object_set_new(o, "published", json_boolean(b->published));
    json_object_set_new(o, "rule", json_string(sa_rank_rule_name(spec->rule)));
    for (size_t k = 0; k < spec->n_ranked; k++)
        json_array_append_new(ranked, json_pack("{s:s, s:s}", "name", spec->ranked[k].name, "direction",
                                                spec->ranked[k].higher_is_better ? "higher" : "lower"));
    json_object_set_new(o, "ranked_metrics", ranked);
    for (size_t m = 0; m < spec->n_metrics; m++) json_array_append_new(metrics, sa_board_json_text(spec->metrics[m]));
    json_object_set_new(o, "metrics", metrics);
    json_object_set_new(o, "missing_case_policy", json_string(policy));
    json_object_set_new(o, "leaderboard_entry", json_string(sa_entry_rule_name(spec->leaderboard_entry)));
    json_object_set_new(o, "cases", json_integer((json_int_t)b->n_cases));
    json_object_set_new(o, "cases_without_distance_cap", json_integer((json_int_t)b->n_cases_without_cap));
    json_object_set_new(o, "scoring_hash", json_string(b->scoring_hash));
    json_object_set_new(boot, "resamples", json_integer((json_int_t)b->bootstrap.resamples));
    json_object_set_new(boot, "seed", json_integer((json_int_t)spec->bootstrap_seed));
    json_object_set_new(boot, "tau_mean", sa_board_json_number(b->bootstrap.tau_defined ? b->bootstrap.tau_mean : NAN));
    json_object_set_new(boot, "tau_lo", sa_board_json_number(b->bootstrap.tau_defined ? b->bootstrap.tau_lo : NAN));
    json_object_set_new(boot, "tau_hi", sa_board_json_number(b->bootstrap.tau_defined ? b->bootstrap.tau_hi : NAN));
    json_object_set_new(boot, "tau_defined", json_integer((json_int_t)b->bootstrap.tau_defined));
    json_object_set_new(o, "bootstrap", boot);
    return o;
}

int sa_board_to_json(const sa_board *b, int flags, char **json, sa_error *err) {
    int with_cases = (flags & SA_BOARD_JSON_CASES) != 0;
    *json = NULL;
    json_t *root = header_json(b), *rows = json_array(), *human = json_array(), *stale = json_array();
    int ok = root && rows && human && stale;
    for (size_t r = 0; ok && r < b->n_rows; r++) ok = json_array_append_new(rows, row_json(b, r, with_cases)) == 0;
    for (size_t r = 0; ok && r < b->n_human; r++) ok = json_array_append_new(human, human_json(b, r)) == 0;
    for (size_t r = 0; ok && r < b->n_stale; r++) ok = json_array_append_new(stale, stale_json(&b->stale[r])) == 0;
    if (ok && with_cases) {
        json_t *ids = json_array();
        for (size_t c = 0; ids && c < b->n_cases; c++) json_array_append_new(ids, sa_board_json_text(b->case_ids[c]));
        ok = json_object_set_new(root, "case_ids", ids) == 0;
    }
    if (!ok) {
        json_decref(root), json_decref(rows), json_decref(human), json_decref(stale);
        return out_of_memory(err);
    }
    json_object_set_new(root, "rows", rows);
    json_object_set_new(root, "human_reference", human);
    json_object_set_new(root, "needs_rescoring", stale);
    int rc = sa_board_json_dump(root, (flags & SA_BOARD_JSON_INDENT) != 0, json, err);
    json_decref(root);
    return rc;
}
