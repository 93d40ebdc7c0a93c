/*
 * cmd_submit.c: `segarena submit` (a team's image archive for a phase) and
 * `segarena submission list|select`, the organiser's command-line view of what
 * the web upload does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "evaluator.h"
#include "store.h"

static const char submit_help[] =
    "usage: segarena submit --phase CHALLENGE/PHASE --team TEAM IMAGE.tar [--data-dir DIR]\n"
    "\n"
    "Takes a team's container image (docker save or OCI archive, optionally .gz/.xz) for\n"
    "a phase, in this order: the phase's opening and closing dates; the team's quota\n"
    "(N per D days: runs refused at intake or ended by an engine error do not count,\n"
    "runs whose container failed do); the upload, copied with the phase's size limit;\n"
    "intake (docs/containers.md: one image, linux/amd64, non-root user, entrypoint,\n"
    "safe layers) and loading; a duplicate image in the phase is refused. An accepted\n"
    "upload is kept as uploads/<sha256>.tar, a refused one deleted (its sha256 and size\n"
    "stay in its row). When the phase evaluates automatically a run is queued: workers\n"
    "(`segarena worker` or `segarena serve`) carry it out.\n"
    "\n"
    "exit status: 0 accepted; 2 refused (one line: the reason, whether the upload was\n"
    "recorded as an invalid submission, and intake's message with the server's paths\n"
    "when it says more) or bad usage; 1 internal, or the engine failed around a copied\n"
    "image on each of its 3 tries (the host's trouble: nothing recorded, send it again).\n";

static const char submission_help[] =
    "usage: segarena submission list --phase CHALLENGE/PHASE [--team TEAM] [--data-dir DIR]\n"
    "       segarena submission select ID [--data-dir DIR]\n"
    "\n"
    "`select` makes a submission its team's entry on phases whose leaderboard_entry is\n"
    "\"selected\".\n"
    "\n"
    "exit status: 0 done; 2 otherwise: bad usage, no database in the data directory, an\n"
    "unknown phase, team or submission, or a failed store call (one line says why).\n";

static int find_team(const char *command, sa_store *st, const char *name, int64_t *id) {
    sa_team_row team;
    sa_error err;
    int found = sa_store_team_get(st, name, &team, &err);
    if (found < 0) fprintf(stderr, "segarena %s: %s\n", command, err.msg);
    if (found == 0)
        fprintf(stderr, "segarena %s: no team '%s' (add it with `segarena team add %s`)\n",
                command, name, name);
    if (found <= 0) return -1;
    *id = team.id;
    return 0;
}

int cmd_submit(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(submit_help, stdout);
            return EXIT_OK;
        }
    cli_opt opts[] = {{"--phase", 1, 0, 0}, {"--team", 1, 0, 0}, {"--data-dir", 1, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    const char *pos[1];
    size_t n_pos;
    if (cli_parse("submit", argc, argv, 1, opts, n_opts, pos, 1, &n_pos)) return EXIT_BAD_INPUT;
    const char *phase = cli_value(opts, n_opts, "--phase"), *team = cli_value(opts, n_opts, "--team");
    if (!phase || !team || n_pos != 1) {
        fputs("segarena submit: give --phase CHALLENGE/PHASE, --team TEAM and the IMAGE.tar "
              "(segarena submit --help)\n", stderr);
        return EXIT_BAD_INPUT;
    }
    sa_error err;
    sa_submit_request req = {0};
    req.data_dir = cli_data_dir(cli_value(opts, n_opts, "--data-dir"));
    req.archive_path = pos[0];
    req.engine = SA_ENGINE_PODMAN; /* intake loads into podman's storage */
    sa_store *st = NULL;
    if (cli_open_store("submit", req.data_dir, 0, &st)) return EXIT_BAD_INPUT;
    int rc = EXIT_BAD_INPUT;
    int found = cli_phase_find(st, phase, &req.phase_id, NULL, &err);
    if (found <= 0) {
        fprintf(stderr, "segarena submit: %s\n", err.msg);
        if (found < 0) rc = EXIT_INTERNAL;
        goto done;
    }
    if (find_team("submit", st, team, &req.team_id)) goto done;
    sa_submit_outcome out;
    if (sa_submit(st, &req, &out, &err)) {
        fprintf(stderr, "segarena submit: %s\n", err.msg);
        rc = EXIT_INTERNAL;
        goto done;
    }
    if (out.refusal != SA_SUBMIT_ACCEPTED) {
        /* one line: the reason; the invalid submission it was recorded as; and
         * for the operator, intake's message with the server's paths, where the
         * reason (which hides them) says less */
        fprintf(stderr, "segarena submit: refused (%s): %s", sa_submit_refusal_name(out.refusal),
                out.reason);
        if (out.submission_id)
            fprintf(stderr, "; recorded as invalid submission %lld (it does not count against "
                            "the quota)", (long long)out.submission_id);
        if (out.detail[0] && !strstr(out.reason, out.detail))
            fprintf(stderr, "; as intake gave it: %s", out.detail);
        fputc('\n', stderr);
        goto done;
    }
    printf("submission %lld accepted: image %s (user %s, %.1f MB)\n", (long long)out.submission_id,
           out.image.config_digest, out.image.user, (double)out.image.image_bytes / 1e6);
    if (out.run_id)
        printf("run %lld queued (segarena run status %lld; workers: segarena worker)\n",
               (long long)out.run_id, (long long)out.run_id);
    else
        printf("not evaluated yet (the phase does not evaluate automatically): segarena run "
               "start %lld\n", (long long)out.submission_id);
    rc = EXIT_OK;
done:
    sa_store_close(st);
    return rc;
}

int cmd_submission(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(submission_help, stdout);
            return EXIT_OK;
        }
    cli_opt opts[] = {{"--phase", 1, 0, 0}, {"--team", 1, 0, 0}, {"--data-dir", 1, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    const char *pos[2];
    size_t n_pos;
    if (cli_parse("submission", argc, argv, 1, opts, n_opts, pos, 2, &n_pos) || n_pos == 0) {
        if (n_pos == 0) fputs(submission_help, stderr);
        return EXIT_BAD_INPUT;
    }
    sa_store *st = NULL;
    if (cli_open_store("submission", cli_value(opts, n_opts, "--data-dir"), 0, &st))
        return EXIT_BAD_INPUT;
    sa_error err;
    int rc = EXIT_BAD_INPUT;
    if (!strcmp(pos[0], "select") && n_pos == 2) {
        int64_t id;
        if (cli_parse_id("submission select", "the submission", pos[1], &id)) goto done;
        if (sa_store_submission_select(st, id, &err)) {
            fprintf(stderr, "segarena submission select: %s\n", err.msg);
            goto done;
        }
        printf("submission %lld is now its team's selected entry\n", (long long)id);
        rc = EXIT_OK;
    } else if (!strcmp(pos[0], "list") && n_pos == 1) {
        const char *phase = cli_value(opts, n_opts, "--phase");
        int64_t phase_id, team_id = 0;
        if (!phase) {
            fputs("segarena submission list: give --phase CHALLENGE/PHASE\n", stderr);
            goto done;
        }
        if (cli_phase_find(st, phase, &phase_id, NULL, &err) <= 0) {
            fprintf(stderr, "segarena submission list: %s\n", err.msg);
            goto done;
        }
        const char *team = cli_value(opts, n_opts, "--team");
        if (team && find_team("submission list", st, team, &team_id)) goto done;
        sa_submission_row *rows = NULL;
        size_t n = 0;
        if (sa_store_submission_list(st, phase_id, team_id, &rows, &n, &err)) {
            fprintf(stderr, "segarena submission list: %s\n", err.msg);
            goto done;
        }
        printf("%-6s %-16s %-20s %-8s %s\n", "id", "team", "submitted", "status", "image / reason");
        for (size_t i = 0; i < n; i++) {
            char when[32];
            cli_format_time(rows[i].created, when);
            printf("%-6lld %-16s %-20s %-8s %s%s\n", (long long)rows[i].id, rows[i].team, when,
                   rows[i].status,
                   strcmp(rows[i].status, "ready") ? (rows[i].intake_reason ? rows[i].intake_reason : "")
                                                   : rows[i].image_digest,
                   rows[i].selected ? "  [selected]" : "");
        }
        sa_submission_rows_free(rows, n);
        rc = EXIT_OK;
    } else {
        fputs("segarena submission: expected `list --phase P` or `select ID` (segarena submission "
              "--help)\n", stderr);
    }
done:
    sa_store_close(st);
    return rc;
}
