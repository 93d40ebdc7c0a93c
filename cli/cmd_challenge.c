/*
 * cmd_challenge.c: the organiser's set-up commands: `segarena challenge`,
 * `segarena team` and `segarena phase` (create, update, show, list, publish,
 * unpublish). Phases are defined by a JSON spec (docs/phase.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "evaluator.h"
#include "store.h"

static const char challenge_help[] =
    "usage: segarena challenge create SLUG [--title T] [--description D] [--data-dir DIR]\n"
    "       segarena challenge list [--data-dir DIR]\n"
    "\n"
    "A challenge groups phases (validation, hidden test, ...). SLUG is its short name,\n"
    SA_ID_PATTERN ". The data directory (default ./segarena-data) holds\n"
    "segarena.db, datasets/, uploads/, runs/, scratch/ (work folders of runs and intake)\n"
    "and locks/; `challenge create`, `team add` and `user add` make it if missing.\n"
    "\n"
    "exit status: 0 done; 2 bad usage, a malformed or taken SLUG, or a data directory\n"
    "that cannot be opened (list: none there yet); 1 internal error.\n";

static const char team_help[] =
    "usage: segarena team add NAME [--data-dir DIR]\n"
    "       segarena team list [--data-dir DIR]\n"
    "\n"
    "Teams own submissions; quotas and leaderboard rows are per team. NAME is\n"
    SA_ID_PATTERN ". `team add` makes the data directory if missing.\n"
    "\n"
    "exit status: 0 done; 2 bad usage, a malformed or taken NAME, or a data directory\n"
    "that cannot be opened (list: none there yet); 1 internal error.\n";

static const char phase_help[] =
    "usage: segarena phase create --challenge SLUG --spec PHASE.json [--data-dir DIR]\n"
    "       segarena phase update CHALLENGE/PHASE --spec PHASE.json [--data-dir DIR]\n"
    "       segarena phase show CHALLENGE/PHASE [--json] [--data-dir DIR]\n"
    "       segarena phase list [--challenge SLUG] [--data-dir DIR]\n"
    "       segarena phase publish|unpublish CHALLENGE/PHASE [--data-dir DIR]\n"
    "\n"
    "A phase is defined by a JSON spec (schema segarena-phase/1, docs/phase.md): its\n"
    "dataset and split, the input roles handed to containers, label, consensus, metrics\n"
    "and tau, the ranked metrics and the ranking rule, distance cap, limits, quota, dates,\n"
    "what challengers see (show_case_details, show_logs), the leaderboard entry rule,\n"
    "auto_evaluate. `create` checks the spec against the dataset (it must exist and\n"
    "verify). `update` replaces the spec, except what the phase's runs saw: once it has\n"
    "a run, another dataset, another set of cases (split) or other input roles are\n"
    "refused (create a new phase). Runs keep the spec they were made with, and\n"
    "`segarena run rescore` applies a new one to stored outputs; until then, runs scored\n"
    "under another scoring configuration (tau, consensus, label, lesions) are not ranked\n"
    "on the leaderboard but listed as needing a rescore. Results are private until\n"
    "`publish`. `show` prints a summary; with --json, the stored spec as it is. A\n"
    "phase may also be named by its id.\n"
    "\n"
    "exit status: 0 done; 2 bad usage, an unknown or malformed CHALLENGE/PHASE, or a\n"
    "refused spec (every problem, one line each); 1 internal error.\n";

static int usage(const char *command, const char *help) {
    fprintf(stderr, "segarena %s: which command? (segarena %s --help)\n%s", command, command, help);
    return EXIT_BAD_INPUT;
}

/* A store call failed: a conflict or an unknown name is the user's input (2),
 * anything else the platform's (1). */
static int store_failed_as(const char *command, sa_store *st, const sa_error *err, int status) {
    fprintf(stderr, "segarena %s: %s\n", command, err->msg);
    if (st) sa_store_close(st);
    return status;
}

static int store_failed(const char *command, sa_store *st, const sa_error *err) {
    return store_failed_as(command, st, err, EXIT_INTERNAL);
}

static int is_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return argc < 2;
}

/* ---- challenge ---- */

int cmd_challenge(int argc, char **argv) {
    if (is_help(argc, argv)) {
        fputs(challenge_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_BAD_INPUT : EXIT_OK;
    }
    cli_opt opts[] = {{"--title", 1, 0, 0}, {"--description", 1, 0, 0}, {"--data-dir", 1, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    const char *pos[2];
    size_t n_pos;
    if (cli_parse("challenge", argc, argv, 1, opts, n_opts, pos, 2, &n_pos)) return EXIT_BAD_INPUT;
    if (n_pos == 0) return usage("challenge", challenge_help);
    const char *data_dir = cli_value(opts, n_opts, "--data-dir");
    sa_store *st = NULL;
    sa_error err;
    if (!strcmp(pos[0], "create")) {
        if (n_pos != 2) {
            fputs("segarena challenge create: give the challenge's SLUG\n", stderr);
            return EXIT_BAD_INPUT;
        }
        if (cli_check_id("challenge create", "slug", pos[1])) return EXIT_BAD_INPUT;
        if (cli_open_store("challenge", data_dir, 1, &st)) return EXIT_BAD_INPUT;
        const char *title = cli_value(opts, n_opts, "--title");
        const char *description = cli_value(opts, n_opts, "--description");
        int64_t id;
        int rc = sa_store_challenge_add(st, pos[1], title ? title : pos[1],
                                        description ? description : "", &id, &err);
        if (rc) return store_failed_as("challenge create", st, &err,
                                       rc == SA_STORE_CONFLICT ? EXIT_BAD_INPUT : EXIT_INTERNAL);
        printf("challenge %s created (id %lld)\n", pos[1], (long long)id);
        sa_store_close(st);
        return EXIT_OK;
    }
    if (!strcmp(pos[0], "list")) {
        if (cli_open_store("challenge", data_dir, 0, &st)) return EXIT_BAD_INPUT;
        sa_challenge_row *rows = NULL;
        size_t n = 0;
        if (sa_store_challenge_list(st, &rows, &n, &err))
            return store_failed("challenge list", st, &err);
        for (size_t i = 0; i < n; i++) printf("%-24s %s\n", rows[i].slug, rows[i].title);
        sa_challenge_rows_free(rows, n);
        sa_store_close(st);
        return EXIT_OK;
    }
    fprintf(stderr, "segarena challenge: unknown command '%s' (segarena challenge --help)\n",
            pos[0]);
    return EXIT_BAD_INPUT;
}

/* ---- team ---- */

int cmd_team(int argc, char **argv) {
    if (is_help(argc, argv)) {
        fputs(team_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_BAD_INPUT : EXIT_OK;
    }
    cli_opt opts[] = {{"--data-dir", 1, 0, 0}};
    const char *pos[2];
    size_t n_pos;
    if (cli_parse("team", argc, argv, 1, opts, 1, pos, 2, &n_pos)) return EXIT_BAD_INPUT;
    if (n_pos == 0) return usage("team", team_help);
    sa_store *st = NULL;
    sa_error err;
    if (!strcmp(pos[0], "add")) {
        if (n_pos != 2) {
            fputs("segarena team add: give a team NAME (" SA_ID_PATTERN ")\n", stderr);
            return EXIT_BAD_INPUT;
        }
        if (cli_check_id("team add", "team name", pos[1])) return EXIT_BAD_INPUT;
        if (cli_open_store("team", opts[0].value, 1, &st)) return EXIT_BAD_INPUT;
        int64_t id;
        int rc = sa_store_team_add(st, pos[1], &id, &err);
        if (rc) return store_failed_as("team add", st, &err,
                                       rc == SA_STORE_CONFLICT ? EXIT_BAD_INPUT : EXIT_INTERNAL);
        printf("team %s added (id %lld)\n", pos[1], (long long)id);
        sa_store_close(st);
        return EXIT_OK;
    }
    if (!strcmp(pos[0], "list")) {
        if (cli_open_store("team", opts[0].value, 0, &st)) return EXIT_BAD_INPUT;
        sa_team_row *rows = NULL;
        size_t n = 0;
        if (sa_store_team_list(st, &rows, &n, &err)) return store_failed("team list", st, &err);
        for (size_t i = 0; i < n; i++) printf("%s\n", rows[i].name);
        free(rows);
        sa_store_close(st);
        return EXIT_OK;
    }
    fprintf(stderr, "segarena team: unknown command '%s' (segarena team --help)\n", pos[0]);
    return EXIT_BAD_INPUT;
}

/* ---- phase ---- */

static int print_problems(const char *command, const sa_problems *p, const sa_error *err) {
    for (size_t i = 0; i < p->count; i++) fprintf(stderr, "%s\n", p->msg[i]);
    if (p->count == 0) fprintf(stderr, "segarena %s: %s\n", command, err->msg);
    else fprintf(stderr, "segarena %s: %zu problem%s\n", command, p->count, p->count == 1 ? "" : "s");
    return EXIT_BAD_INPUT;
}

static void print_phase(const sa_phase_row *row, const sa_phase_spec *spec) {
    char opens[32], closes[32];
    cli_format_time(spec->opens, opens);
    cli_format_time(spec->closes, closes);
    printf("phase %s/%s (id %lld)%s\n", row->challenge, row->name, (long long)row->id,
           row->published ? "" : "  [unpublished]");
    printf("  title       %s\n", spec->title);
    printf("  dataset     %s%s%s\n", spec->dataset, spec->split[0] ? ", split " : "", spec->split);
    printf("  ranking     %s on", sa_rank_rule_name(spec->rule));
    for (size_t i = 0; i < spec->n_ranked; i++)
        printf(" %s (%s)", spec->ranked[i].name, spec->ranked[i].higher_is_better ? "higher" : "lower");
    printf("\n  entry       %s per team\n", sa_entry_rule_name(spec->leaderboard_entry));
    printf("  open        %s to %s\n", opens, closes);
    if (spec->quota_submissions > 0)
        printf("  quota       %d per %g day(s) per team\n", spec->quota_submissions, spec->quota_days);
    printf("  challengers %s\n", spec->show_case_details
                                     ? (spec->show_logs ? "see per-case results and logs"
                                                        : "see per-case results, no logs")
                                     : "see aggregates only (hidden test phase)");
}

int cmd_phase(int argc, char **argv) {
    if (is_help(argc, argv)) {
        fputs(phase_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_BAD_INPUT : EXIT_OK;
    }
    cli_opt opts[] = {{"--challenge", 1, 0, 0}, {"--spec", 1, 0, 0}, {"--data-dir", 1, 0, 0},
                      {"--json", 0, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    const char *pos[2];
    size_t n_pos;
    if (cli_parse("phase", argc, argv, 1, opts, n_opts, pos, 2, &n_pos)) return EXIT_BAD_INPUT;
    if (n_pos == 0) return usage("phase", phase_help);
    const char *data_dir = cli_data_dir(cli_value(opts, n_opts, "--data-dir"));
    const char *sub = pos[0];
    sa_store *st = NULL;
    sa_error err;
    sa_problems problems;
    sa_problems_init(&problems);
    int rc = EXIT_OK;

    if (!strcmp(sub, "create")) {
        const char *challenge = cli_value(opts, n_opts, "--challenge");
        const char *spec = cli_value(opts, n_opts, "--spec");
        if (!challenge || !spec || n_pos != 1) {
            fputs("segarena phase create: give --challenge SLUG and --spec PHASE.json\n", stderr);
            return EXIT_BAD_INPUT;
        }
        if (cli_open_store("phase", data_dir, 0, &st)) return EXIT_BAD_INPUT;
        int64_t id;
        if (sa_phase_create(st, data_dir, challenge, spec, &id, &problems, &err)) {
            rc = print_problems("phase create", &problems, &err);
        } else {
            sa_phase_row row;
            if (sa_store_phase_get_by_id(st, id, &row, &err) == 1) {
                printf("phase %s/%s created (id %lld), unpublished\n", row.challenge, row.name, (long long)id);
                sa_phase_row_free(&row);
            } else {
                printf("phase %lld created from %s, unpublished\n", (long long)id, spec);
            }
        }
        goto done;
    }
    if (!strcmp(sub, "list")) {
        if (cli_open_store("phase", data_dir, 0, &st)) return EXIT_BAD_INPUT;
        int64_t challenge_id = 0;
        const char *challenge = cli_value(opts, n_opts, "--challenge");
        if (challenge) {
            sa_challenge_row ch;
            int found = sa_store_challenge_get(st, challenge, &ch, &err);
            if (found <= 0) {
                if (found == 0) sa_error_set(&err, "no challenge '%s'", challenge);
                rc = store_failed_as("phase list", st, &err, found == 0 ? EXIT_BAD_INPUT : EXIT_INTERNAL);
                st = NULL;
                goto done;
            }
            challenge_id = ch.id;
            sa_challenge_row_free(&ch);
        }
        sa_phase_row *rows = NULL;
        size_t n = 0;
        if (sa_store_phase_list(st, challenge_id, &rows, &n, &err)) {
            rc = store_failed("phase list", st, &err);
            st = NULL;
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            printf("%s/%s%s\n", rows[i].challenge, rows[i].name,
                   rows[i].published ? "" : "  [unpublished]");
        sa_phase_rows_free(rows, n);
        goto done;
    }

    /* the rest name a phase */
    if (n_pos != 2) {
        fprintf(stderr, "segarena phase %s: name the phase as CHALLENGE/PHASE\n", sub);
        return EXIT_BAD_INPUT;
    }
    if (strcmp(sub, "update") && strcmp(sub, "show") && strcmp(sub, "publish") &&
        strcmp(sub, "unpublish")) {
        fprintf(stderr, "segarena phase: unknown command '%s' (segarena phase --help)\n", sub);
        return EXIT_BAD_INPUT;
    }
    if (cli_open_store("phase", data_dir, 0, &st)) return EXIT_BAD_INPUT;
    int64_t phase_id;
    sa_phase_spec spec;
    int found = cli_phase_find(st, pos[1], &phase_id, &spec, &err);
    if (found <= 0) {
        rc = store_failed_as("phase", st, &err, found == 0 ? EXIT_BAD_INPUT : EXIT_INTERNAL);
        st = NULL;
        goto done;
    }
    if (!strcmp(sub, "update")) {
        const char *path = cli_value(opts, n_opts, "--spec");
        if (!path) {
            fputs("segarena phase update: give --spec PHASE.json\n", stderr);
            rc = EXIT_BAD_INPUT;
        } else if (sa_phase_update(st, data_dir, phase_id, path, &problems, &err)) {
            rc = print_problems("phase update", &problems, &err);
        } else {
            printf("phase %s updated; existing runs keep their spec (segarena run rescore "
                   "applies the new one; runs scored under another scoring configuration are "
                   "not ranked until then)\n", pos[1]);
        }
    } else if (!strcmp(sub, "show")) {
        sa_phase_row row;
        if (sa_store_phase_get_by_id(st, phase_id, &row, &err) <= 0) {
            rc = store_failed("phase show", st, &err);
            st = NULL;
            goto done;
        }
        if (cli_flag(opts, n_opts, "--json")) fputs(row.spec_json, stdout), putchar('\n');
        else print_phase(&row, &spec);
        sa_phase_row_free(&row);
    } else {
        int publish = !strcmp(sub, "publish");
        if (sa_store_phase_set_published(st, phase_id, publish, &err)) {
            rc = store_failed("phase", st, &err);
            st = NULL;
            goto done;
        }
        printf("phase %s %s\n", pos[1], publish ? "published: its leaderboard is public"
                                                : "unpublished: its leaderboard is private");
    }
done:
    sa_problems_free(&problems);
    if (st) sa_store_close(st);
    return rc;
}
