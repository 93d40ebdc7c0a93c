/*
 * cmd_results.c: `segarena results --phase CHALLENGE/PHASE`: a phase's
 * leaderboard as the organiser sees it (everything, published or not), from the
 * data directory: the ranked table, the raters' rows, the submissions that need
 * rescoring, the ranking rule and the missing-case policy; per-case values with --cases; CSV or the leaderboard
 * JSON (docs/results.md) for other programs.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "evaluator.h"
#include "json_writer.h"
#include "store.h"

static const char help_text[] =
    "usage: segarena results --phase CHALLENGE/PHASE [options]\n"
    "\n"
    "Shows the leaderboard of a phase from the data directory: every team's row\n"
    "ranked by the phase's rule, the human reference, and how missing cases count.\n"
    "The organiser sees everything here: an unpublished phase is shown too, marked\n"
    "(unpublished) in the header.\n"
    "\n"
    "options:\n"
    "  --phase REF      CHALLENGE/PHASE, or the phase's numeric id (required)\n"
    "  --data-dir DIR   data directory (default ./segarena-data)\n"
    "  --all-entries    one row per evaluated submission instead of one per team\n"
    "  --cases          also each row's per-case values and case classes\n"
    "  --csv            CSV: one line per row (with --cases: one per row and case)\n"
    "  --json           the leaderboard JSON (docs/results.md); --cases adds case_ids\n"
    "                   and per row \"cases\"\n"
    "\n"
    "Entries: a ready submission whose latest evaluation (run) is done; its numbers\n"
    "come from that run. The phase's leaderboard_entry picks one per team: latest\n"
    "(the most recent submission), best (the best ranked among all the team's\n"
    "entries; ties: the earlier one) or selected (the one the team selected; a team\n"
    "that selected none has no row).\n"
    "\n"
    "Needs rescoring: a submission whose run was scored under another scoring\n"
    "configuration than the phase's current one (its scoring hash differs: tau,\n"
    "consensus, label, lesion settings, dataset or metric definitions changed by\n"
    "`phase update` since) is not an entry: it is neither ranked nor counted for the\n"
    "cases, and is listed after the table (JSON: needs_rescoring; CSV: a note on\n"
    "stderr). `segarena run rescore --phase CHALLENGE/PHASE` brings it back.\n"
    "\n"
    "Cases: every case any entry's run has a result for. A case missing from an\n"
    "entry's run counts as failed (class \"missing\"). A failed case counts as 0 on\n"
    "overlap and detection metrics and as the distance cap on distance metrics (the\n"
    "phase's distance_cap_mm, else the case's field-of-view diagonal as recorded or\n"
    "scored for an entry, else from the dataset's manifest; known nowhere, the case\n"
    "has no distance value and is left out of distances and ranking for every entry\n"
    "alike), and is left out of volumes and counts (their n says how many cases\n"
    "were used). A scored distance above an explicit cap counts as the cap.\n"
    "\n"
    "Ranking: the phase's rule (score, mean_rank or rank_then_aggregate) on its\n"
    "ranked metrics; equal keys share the lower rank (1, 2, 2, 4). Rows are in rank\n"
    "order, then by submission time. Rank stability: the median rank and its 95 %\n"
    "interval over the phase's bootstrap resamples of the cases.\n"
    "\n"
    "Table: rank, team, submission time (UTC), each ranked metric as mean +- std,\n"
    "the rule's key (score or mean rank), the other metrics' means, failed/cases,\n"
    "and the rank stability as median [low-high]; '-' where there is no value.\n"
    "The human reference rows (each rater against the consensus of the others, over\n"
    "the same cases) follow, unranked. Numbers are rounded to 4 significant digits\n"
    "here; CSV and JSON carry them exactly.\n"
    "\n"
    "CSV columns: rank, team, submission_id, run_id, submitted, key, n_cases,\n"
    "n_failed, median_rank, rank_lo, rank_hi, then <metric>_mean, _median, _std,\n"
    "_ci_lo, _ci_hi, _n per metric; human-reference lines have an empty rank. With\n"
    "--cases: rank, team, submission_id, run_id, case, class, then each metric's\n"
    "value as aggregated (empty: left out).\n"
    "\n"
    "exit status: 0 shown; 2 bad usage, no data directory or unknown phase;\n"
    "1 internal error.\n";

static int usage_error(const char *fmt, const char *arg) {
    fputs("segarena results: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (segarena results --help)\n", stderr);
    return EXIT_BAD_INPUT;
}

/* ---- text ---- */

/* A number with 4 significant digits, or "-". */
static const char *number_text(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "-");
    else snprintf(buf, size, "%.4g", v);
    return buf;
}

/* Writes s left-aligned in `width` display columns (UTF-8 aware), then one space. */
static void print_cell(const char *s, int width) {
    int shown = 0;
    for (const char *p = s; *p; p++) shown += ((unsigned char)*p & 0xC0) != 0x80;
    fputs(s, stdout);
    for (; shown <= width; shown++) putchar(' ');
}

static int is_ranked(const sa_phase_spec *spec, const char *metric) {
    for (size_t k = 0; k < spec->n_ranked; k++)
        if (!strcmp(spec->ranked[k].name, metric)) return 1;
    return 0;
}

/* Column widths: the team column fits every name; a metric column fits its name
 * and "mean ± std" (ranked) or a mean. */
typedef struct layout {
    int team;
    int metric[SA_PHASE_MAX_METRICS];
} layout;

static int max_int(int a, int b) {
    return a > b ? a : b;
}

static void plan_layout(const sa_board *b, layout *l) {
    l->team = 4;
    for (size_t r = 0; r < b->n_rows; r++) l->team = max_int(l->team, (int)strlen(b->rows[r].team));
    for (size_t r = 0; r < b->n_human; r++) l->team = max_int(l->team, (int)strlen(b->human[r].team));
    for (size_t m = 0; m < b->spec.n_metrics; m++)
        l->metric[m] = max_int(is_ranked(&b->spec, b->spec.metrics[m]) ? 19 : 10, (int)strlen(b->spec.metrics[m]));
}

static void print_header_line(const sa_phase_spec *spec, const layout *l) {
    printf("%4s  ", "rank");
    print_cell("team", l->team);
    print_cell("submitted", 20);
    for (size_t m = 0; m < spec->n_metrics; m++)
        if (is_ranked(spec, spec->metrics[m])) print_cell(spec->metrics[m], l->metric[m]);
    print_cell(spec->rule == SA_RANK_SCORE ? "score" : "mean rank", 10);
    for (size_t m = 0; m < spec->n_metrics; m++)
        if (!is_ranked(spec, spec->metrics[m])) print_cell(spec->metrics[m], l->metric[m]);
    print_cell("failed", 8);
    printf("rank stability\n");
}

/* One row of the table; human-reference rows have no rank, date, key or stability. */
static void print_row(const sa_board *b, const sa_board_row *row, const layout *l) {
    const sa_phase_spec *spec = &b->spec;
    char num[3][32], cell[96];
    int human = row->rank == 0;
    if (human) printf("%4s  ", "-");
    else printf("%4d  ", row->rank);
    print_cell(row->team, l->team);
    char date[32];
    cli_format_time(row->submitted, date);
    print_cell(human ? "-" : date, 20);
    for (size_t m = 0; m < spec->n_metrics; m++) {
        if (!is_ranked(spec, spec->metrics[m])) continue;
        const sa_metric_stats *s = &row->stats[m];
        if (s->n == 0) snprintf(cell, sizeof cell, "-");
        else snprintf(cell, sizeof cell, "%s ± %s", number_text(s->mean, num[0], 32), number_text(s->std, num[1], 32));
        print_cell(cell, l->metric[m]);
    }
    print_cell(human ? "-" : number_text(row->key, num[0], 32), 10);
    for (size_t m = 0; m < spec->n_metrics; m++)
        if (!is_ranked(spec, spec->metrics[m]))
            print_cell(number_text(row->stats[m].n ? row->stats[m].mean : NAN, num[0], 32), l->metric[m]);
    snprintf(cell, sizeof cell, "%zu/%zu", row->n_failed, row->n_cases);
    print_cell(human ? "-" : cell, 8);
    if (human) printf("-\n");
    else
        printf("%s [%s-%s]\n", number_text(row->stability.median_rank, num[0], 32),
               number_text(row->stability.rank_lo, num[1], 32), number_text(row->stability.rank_hi, num[2], 32));
}

/* Per row: each case's class and values (numbers right-aligned). */
static void print_cases(const sa_board *b) {
    const sa_phase_spec *spec = &b->spec;
    size_t nc = b->n_cases, nm = spec->n_metrics;
    int case_width = 4, class_width = 5;
    for (size_t c = 0; c < nc; c++) case_width = max_int(case_width, (int)strlen(b->case_ids[c]));
    for (size_t i = 0; i < b->n_rows * nc; i++) class_width = max_int(class_width, (int)strlen(b->case_class[i]));
    char num[32];
    for (size_t r = 0; r < b->n_rows; r++) {
        const sa_board_row *row = &b->rows[r];
        printf("\nrank %d  %s (submission %lld, run %lld)\n  ", row->rank, row->team, (long long)row->submission_id,
               (long long)row->run_id);
        print_cell("case", case_width);
        printf("%-*s", class_width, "class");
        for (size_t m = 0; m < nm; m++) printf(" %10s", spec->metrics[m]);
        putchar('\n');
        for (size_t c = 0; c < nc; c++) {
            printf("  ");
            print_cell(b->case_ids[c], case_width);
            printf("%-*s", class_width, b->case_class[r * nc + c]);
            for (size_t m = 0; m < nm; m++)
                printf(" %*s", max_int(10, (int)strlen(spec->metrics[m])),
                       number_text(b->values[(r * nm + m) * nc + c], num, sizeof num));
            putchar('\n');
        }
    }
}

/* The submissions left off the table because their results were scored under
 * another scoring configuration than the phase's current one. */
static void print_stale(const sa_board *b) {
    if (!b->n_stale) return;
    printf("\nneeds rescoring (scored under another scoring configuration than the phase's current one,\n"
           "scoring hash %.12s; not ranked until rescored: segarena run rescore --phase %s/%s)\n",
           b->scoring_hash, b->challenge, b->phase);
    for (size_t i = 0; i < b->n_stale; i++) {
        const sa_board_stale *s = &b->stale[i];
        char date[32];
        cli_format_time(s->submitted, date);
        printf("  %s  submission %lld, run %lld, submitted %s, scoring hash %.12s\n", s->team,
               (long long)s->submission_id, (long long)s->run_id, date,
               s->scoring_hash[0] ? s->scoring_hash : "unknown");
    }
}

static int print_text(const sa_board *b, int all_entries, int with_cases) {
    const sa_phase_spec *spec = &b->spec;
    char policy[1024];
    sa_missing_case_policy(spec, policy, sizeof policy);
    printf("%s/%s: %s%s\n", b->challenge, b->phase, spec->title, b->published ? "" : " (unpublished)");
    printf("%zu case%s, %zu row%s\n\n", b->n_cases, b->n_cases == 1 ? "" : "s", b->n_rows, b->n_rows == 1 ? "" : "s");
    layout l;
    plan_layout(b, &l);
    print_header_line(spec, &l);
    for (size_t r = 0; r < b->n_rows; r++) print_row(b, &b->rows[r], &l);
    if (b->n_rows == 0) printf("(no evaluated submission yet)\n");
    if (b->n_human) {
        printf("\nhuman reference (each rater against the consensus of the other raters; not ranked)\n");
        for (size_t r = 0; r < b->n_human; r++) print_row(b, &b->human[r], &l);
    }
    print_stale(b);
    printf("\nranking: %s on ", sa_rank_rule_name(spec->rule));
    for (size_t k = 0; k < spec->n_ranked; k++)
        printf("%s%s (%s is better)", k ? ", " : "", spec->ranked[k].name,
               spec->ranked[k].higher_is_better ? "higher" : "lower");
    if (all_entries) printf("; every evaluated submission is a row");
    else printf("; one row per team: its %s entry", sa_entry_rule_name(spec->leaderboard_entry));
    if (b->bootstrap.resamples)
        printf("; rank stability over %zu bootstrap resamples of the cases", b->bootstrap.resamples);
    if (b->bootstrap.tau_defined)
        printf(" (Kendall's tau-b with the full ranking: mean %.3f, 95 %% %.3f to %.3f)", b->bootstrap.tau_mean,
               b->bootstrap.tau_lo, b->bootstrap.tau_hi);
    char no_cap[512];
    sa_board_no_cap_note(b, no_cap, sizeof no_cap);
    printf(".\nmissing cases: %s%s%s\n", policy, no_cap[0] ? " " : "", no_cap);
    if (with_cases) print_cases(b);
    return 0;
}

/* ---- CSV ---- */

static void csv_text(const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* ",<number>" exactly, or "," when not finite. */
static void csv_number(double v) {
    char buf[40] = "";
    if (isfinite(v)) format_double(buf, sizeof buf, v);
    printf(",%s", buf);
}

static void csv_row(const sa_board *b, const sa_board_row *row) {
    int human = row->rank == 0;
    char date[32] = "";
    if (human) printf(",");
    else printf("%d,", row->rank);
    csv_text(row->team);
    if (human) printf(",,,");
    else {
        sa_iso8601_format(row->submitted, date);
        printf(",%lld,%lld,%s", (long long)row->submission_id, (long long)row->run_id, date);
    }
    csv_number(human ? NAN : row->key);
    printf(",%zu,%zu", row->n_cases, row->n_failed);
    csv_number(human ? NAN : row->stability.median_rank);
    csv_number(human ? NAN : row->stability.rank_lo);
    csv_number(human ? NAN : row->stability.rank_hi);
    for (size_t m = 0; m < b->spec.n_metrics; m++) {
        const sa_metric_stats *s = &row->stats[m];
        csv_number(s->n ? s->mean : NAN);
        csv_number(s->n ? s->median : NAN);
        csv_number(s->n ? s->std : NAN);
        csv_number(s->n ? s->ci_lo : NAN);
        csv_number(s->n ? s->ci_hi : NAN);
        printf(",%zu", s->n);
    }
    putchar('\n');
}

static void print_csv(const sa_board *b, int with_cases) {
    const sa_phase_spec *spec = &b->spec;
    size_t nc = b->n_cases, nm = spec->n_metrics;
    if (with_cases) {
        printf("rank,team,submission_id,run_id,case,class");
        for (size_t m = 0; m < nm; m++) printf(",%s", spec->metrics[m]);
        putchar('\n');
        for (size_t r = 0; r < b->n_rows; r++) {
            for (size_t c = 0; c < nc; c++) {
                printf("%d,", b->rows[r].rank);
                csv_text(b->rows[r].team);
                printf(",%lld,%lld,", (long long)b->rows[r].submission_id, (long long)b->rows[r].run_id);
                csv_text(b->case_ids[c]);
                putchar(',');
                csv_text(b->case_class[r * nc + c]);
                for (size_t m = 0; m < nm; m++) csv_number(b->values[(r * nm + m) * nc + c]);
                putchar('\n');
            }
        }
        return;
    }
    printf("rank,team,submission_id,run_id,submitted,key,n_cases,n_failed,median_rank,rank_lo,rank_hi");
    static const char *const parts[] = {"mean", "median", "std", "ci_lo", "ci_hi", "n"};
    for (size_t m = 0; m < nm; m++)
        for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) printf(",%s_%s", spec->metrics[m], parts[p]);
    putchar('\n');
    for (size_t r = 0; r < b->n_rows; r++) csv_row(b, &b->rows[r]);
    for (size_t r = 0; r < b->n_human; r++) csv_row(b, &b->human[r]);
}

int cmd_results(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help_text, stdout);
            return EXIT_OK;
        }
    cli_opt opts[] = {{"--phase", 1, 0, 0}, {"--data-dir", 1, 0, 0}, {"--cases", 0, 0, 0},
                      {"--csv", 0, 0, 0},   {"--json", 0, 0, 0},     {"--all-entries", 0, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    size_t n_pos;
    if (cli_parse("results", argc, argv, 1, opts, n_opts, NULL, 0, &n_pos)) return EXIT_BAD_INPUT;
    const char *ref = cli_value(opts, n_opts, "--phase");
    int with_cases = cli_flag(opts, n_opts, "--cases"), csv = cli_flag(opts, n_opts, "--csv");
    int json = cli_flag(opts, n_opts, "--json"), all_entries = cli_flag(opts, n_opts, "--all-entries");
    if (!ref) return usage_error("%s", "--phase CHALLENGE/PHASE is required");
    if (!cli_phase_ref_valid(ref)) return usage_error("--phase '%s': give CHALLENGE/PHASE or a phase id", ref);
    if (csv && json) return usage_error("%s", "--csv and --json exclude each other");

    sa_store *st;
    if (cli_open_store("results", cli_value(opts, n_opts, "--data-dir"), 0, &st)) return EXIT_BAD_INPUT;
    sa_error err = {{0}};
    int64_t phase_id;
    int found = sa_phase_find(st, ref, &phase_id, NULL, &err);
    if (found <= 0) {
        fprintf(stderr, "segarena results: %s\n", err.msg);
        sa_store_close(st);
        return found == 0 ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }
    sa_board board;
    int rc = EXIT_OK;
    if (sa_board_build(st, phase_id, all_entries, &board, &err)) {
        fprintf(stderr, "segarena results: %s\n", err.msg);
        sa_store_close(st);
        return EXIT_INTERNAL;
    }
    if (json) {
        char *text;
        if (sa_board_to_json(&board, (with_cases ? SA_BOARD_JSON_CASES : 0) | SA_BOARD_JSON_INDENT, &text,
                             &err)) {
            fprintf(stderr, "segarena results: %s\n", err.msg);
            rc = EXIT_INTERNAL;
        } else {
            printf("%s\n", text);
            free(text);
        }
    } else if (csv) {
        print_csv(&board, with_cases);
        if (board.n_stale)
            fprintf(stderr, "note: %zu submission%s need%s rescoring and %s not in the table (segarena results "
                    "without --csv lists them)\n", board.n_stale, board.n_stale == 1 ? "" : "s",
                    board.n_stale == 1 ? "s" : "", board.n_stale == 1 ? "is" : "are");
    } else if (print_text(&board, all_entries, with_cases)) {
        fprintf(stderr, "segarena results: out of memory\n");
        rc = EXIT_INTERNAL;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "segarena results: cannot write the output\n");
        rc = EXIT_INTERNAL;
    }
    sa_board_free(&board);
    sa_store_close(st);
    return rc;
}
