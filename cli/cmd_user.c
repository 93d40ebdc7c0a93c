/*
 * cmd_user.c: `segarena user`: the accounts of the web leaderboard, made on the
 * server by an organiser: users with a role and their teams, passwords (read
 * from standard input, never from the command line), API tokens (printed once,
 * stored only as a hash) and their revocation.
 */
#define _DEFAULT_SOURCE /* explicit_bzero, getline */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "evaluator.h"
#include "store.h"
#include "web.h"

static const char user_help[] =
    "usage: segarena user add NAME --role organiser|challenger [--team TEAM]...\n"
    "                         [--password-stdin] [--data-dir DIR]\n"
    "       segarena user token NAME [--label LABEL] [--data-dir DIR]\n"
    "       segarena user tokens NAME [--data-dir DIR]\n"
    "       segarena user revoke-token TOKEN|ID|- [--data-dir DIR]\n"
    "       segarena user password NAME --password-stdin [--data-dir DIR]\n"
    "       segarena user list [--data-dir DIR]\n"
    "\n"
    "Accounts of the web leaderboard. What each role may do (the container contract's\n"
    "\"Who sees what\"):\n"
    "  organiser   everything: every board, published or not, and its full export;\n"
    "              every submission with its per-case results and logs; datasets;\n"
    "              runs (launch, cancel, rescore, rerun); publishing; users.\n"
    "  challenger  submits for its teams (--team, repeatable; teams must exist, see\n"
    "              `segarena team add`) and sees its own teams' submissions: status,\n"
    "              counts per failure class, aggregates. Per-case status, timings and\n"
    "              scores only in phases with show_case_details, logs only where the\n"
    "              phase also has show_logs; nothing per case in a hidden test phase.\n"
    "  public      (no account) published leaderboards only: aggregates and ranks.\n"
    "\n"
    "add          makes the user, NAME " SA_ID_PATTERN ". With\n"
    "             --password-stdin the password (at least 8 characters) is read as one\n"
    "             line from standard input and the user can sign in on the web pages;\n"
    "             without it the user works with API tokens only.\n"
    "token        prints a new API token of the user, alone on standard output. It is\n"
    "             shown once: only its hash is stored. Clients send it as the header\n"
    "             \"Authorization: Bearer TOKEN\".\n"
    "tokens       the user's tokens: id, label, created, last used, revoked or live.\n"
    "revoke-token revokes a token given as itself, as '-' (read from standard input) or\n"
    "             by its id (from `segarena user tokens`).\n"
    "password     sets or changes the password (standard input) and ends the user's\n"
    "             browser sessions.\n"
    "list         every user: role, whether it has a password, live tokens, teams.\n"
    "\n"
    "Exit status: 0 done, 2 bad input (unknown user or team, duplicate user, bad role,\n"
    "short password), 1 internal error.\n";

#define MAX_TEAMS 64
#define LABEL_MAX ((int)sizeof(((sa_token_row *)0)->label))

/* A store call failed: its message, and the exit status for the caller. */
static int store_failed(const char *command, sa_store *st, const sa_error *err, int status) {
    fprintf(stderr, "segarena user %s: %s\n", command, err->msg);
    if (st) sa_store_close(st);
    return status;
}

/* One line of standard input into out (without its line end): 0, or -1 with a
 * message. */
static int read_secret_line(const char *command, const char *what, char *out, size_t cap) {
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len = getline(&line, &line_cap, stdin);
    if (len < 0) {
        free(line);
        fprintf(stderr, "segarena user %s: no %s on standard input\n", command, what);
        return -1;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    int fits = (size_t)len < cap;
    if (fits) memcpy(out, line, (size_t)len + 1);
    explicit_bzero(line, line_cap);
    free(line);
    if (!fits) {
        fprintf(stderr, "segarena user %s: %s too long\n", command, what);
        return -1;
    }
    return 0;
}

/* Reads the password from standard input and hashes it: 0, or an exit status. */
static int password_from_stdin(const char *command, char hash[128]) {
    char password[SA_AUTH_MAX_PASSWORD + 2];
    if (read_secret_line(command, "password", password, sizeof password)) return EXIT_BAD_INPUT;
    sa_error err;
    int rc = sa_auth_hash_password(password, hash, &err);
    explicit_bzero(password, sizeof password);
    if (rc) {
        fprintf(stderr, "segarena user %s: %s\n", command, err.msg);
        return strstr(err.msg, "password too") ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }
    return 0;
}

/* The user of that name: 0, or an exit status (unknown: 2) with the store closed. */
static int find_user(const char *command, sa_store *st, const char *name, sa_user_row *user) {
    sa_error err;
    int found = sa_store_user_get(st, name, user, &err);
    if (found < 0) return store_failed(command, st, &err, EXIT_INTERNAL);
    if (found == 0) {
        fprintf(stderr, "segarena user %s: no user '%s' (segarena user list)\n", command, name);
        sa_store_close(st);
        return EXIT_BAD_INPUT;
    }
    return 0;
}

/* ---- add ---- */

static int user_add(const char *name, const char *role, const char *const *teams, size_t n_teams,
                    int password_stdin, const char *data_dir) {
    if (cli_check_id("user add", "user name", name)) return EXIT_BAD_INPUT;
    if (!role || (strcmp(role, "organiser") != 0 && strcmp(role, "challenger") != 0)) {
        fprintf(stderr, "segarena user add: give --role organiser or --role challenger\n");
        return EXIT_BAD_INPUT;
    }
    char hash[128] = "";
    if (password_stdin) {
        int rc = password_from_stdin("add", hash);
        if (rc) return rc;
    }
    sa_store *st = NULL;
    if (cli_open_store("user", data_dir, 1, &st)) return EXIT_BAD_INPUT;
    sa_error err;
    if (sa_store_begin(st, &err)) return store_failed("add", st, &err, EXIT_INTERNAL);
    sa_user_row existing;
    int found = sa_store_user_get(st, name, &existing, &err);
    if (found != 0) {
        sa_store_rollback(st);
        if (found < 0) return store_failed("add", st, &err, EXIT_INTERNAL);
        sa_user_row_free(&existing);
        fprintf(stderr, "segarena user add: user '%s' exists\n", name);
        sa_store_close(st);
        return EXIT_BAD_INPUT;
    }
    int64_t user_id;
    if (sa_store_user_add(st, name, role, password_stdin ? hash : NULL, &user_id, &err)) {
        sa_store_rollback(st);
        return store_failed("add", st, &err, EXIT_INTERNAL);
    }
    for (size_t i = 0; i < n_teams; i++) {
        sa_team_row team;
        found = sa_store_team_get(st, teams[i], &team, &err);
        if (found == 0) {
            sa_store_rollback(st);
            fprintf(stderr, "segarena user add: no team '%s' (segarena team add %s)\n", teams[i],
                    teams[i]);
            sa_store_close(st);
            return EXIT_BAD_INPUT;
        }
        if (found < 0 || sa_store_team_add_member(st, team.id, user_id, &err)) {
            sa_store_rollback(st);
            return store_failed("add", st, &err, EXIT_INTERNAL);
        }
    }
    if (sa_store_commit(st, &err)) return store_failed("add", st, &err, EXIT_INTERNAL);
    printf("user %s added (role %s)\n", name, role);
    sa_store_close(st);
    return EXIT_OK;
}

/* ---- tokens ---- */

static int user_token(const char *name, const char *label, const char *data_dir) {
    if (label && strlen(label) >= (size_t)LABEL_MAX) {
        fprintf(stderr, "segarena user token: label longer than %d characters\n", LABEL_MAX - 1);
        return EXIT_BAD_INPUT;
    }
    sa_store *st = NULL;
    if (cli_open_store("user", data_dir, 0, &st)) return EXIT_BAD_INPUT;
    sa_user_row user;
    int rc = find_user("token", st, name, &user);
    if (rc) return rc;
    int64_t user_id = user.id;
    sa_user_row_free(&user);
    sa_error err;
    char token[80];
    if (sa_auth_new_token(st, user_id, label, token, &err))
        return store_failed("token", st, &err, EXIT_INTERNAL);
    sa_store_close(st);
    fprintf(stderr, "segarena user token: a new API token of %s%s%s%s; it is shown only this "
                    "once (only its hash is kept)\n",
            name, label ? " (" : "", label ? label : "", label ? ")" : "");
    rc = printf("%s\n", token) < 0 || fflush(stdout) ? EXIT_INTERNAL : EXIT_OK;
    explicit_bzero(token, sizeof token);
    return rc;
}

static int user_tokens(const char *name, const char *data_dir) {
    sa_store *st = NULL;
    if (cli_open_store("user", data_dir, 0, &st)) return EXIT_BAD_INPUT;
    sa_user_row user;
    int rc = find_user("tokens", st, name, &user);
    if (rc) return rc;
    sa_error err;
    sa_token_row *rows = NULL;
    size_t n = 0;
    if (sa_store_token_list(st, user.id, &rows, &n, &err)) {
        sa_user_row_free(&user);
        return store_failed("tokens", st, &err, EXIT_INTERNAL);
    }
    sa_user_row_free(&user);
    printf("%-6s %-24s %-20s %-20s %s\n", "id", "label", "created", "last used", "status");
    for (size_t i = 0; i < n; i++) {
        char created[32], used[32];
        cli_format_time(rows[i].created, created);
        cli_format_time(rows[i].last_used, used);
        printf("%-6lld %-24s %-20s %-20s %s\n", (long long)rows[i].id,
               rows[i].label[0] ? rows[i].label : "-", created, used,
               rows[i].revoked ? "revoked" : "live");
    }
    free(rows);
    sa_store_close(st);
    return EXIT_OK;
}

static int all_digits(const char *s) {
    return *s && strspn(s, "0123456789") == strlen(s);
}

static int user_revoke_token(const char *which, const char *data_dir) {
    char token[256];
    int from_stdin = !strcmp(which, "-");
    if (from_stdin && read_secret_line("revoke-token", "token", token, sizeof token))
        return EXIT_BAD_INPUT;
    int64_t id = 0;
    if (!from_stdin && all_digits(which) && cli_parse_id("user revoke-token", "ID", which, &id))
        return EXIT_BAD_INPUT;
    char hash[65] = "";
    if (id == 0 && sa_auth_secret_hash(from_stdin ? token : which, hash)) {
        fputs("segarena user revoke-token: libsodium could not start\n", stderr);
        return EXIT_INTERNAL;
    }
    explicit_bzero(token, sizeof token);
    sa_store *st = NULL;
    if (cli_open_store("user", data_dir, 0, &st)) return EXIT_BAD_INPUT;
    sa_error err;
    int rc = id ? sa_store_token_revoke(st, id, &err) : sa_store_token_revoke_hash(st, hash, &err);
    if (rc < 0) return store_failed("revoke-token", st, &err, EXIT_INTERNAL);
    sa_store_close(st);
    if (rc == 0) {
        if (id)
            fprintf(stderr, "segarena user revoke-token: no live token with id %lld\n",
                    (long long)id);
        else
            fputs("segarena user revoke-token: no live token like that\n", stderr);
        return EXIT_BAD_INPUT;
    }
    if (id) printf("token %lld revoked\n", (long long)id);
    else printf("token revoked\n");
    return EXIT_OK;
}

/* ---- password ---- */

static int user_password(const char *name, int password_stdin, const char *data_dir) {
    if (!password_stdin) {
        fputs("segarena user password: give --password-stdin and the password as one line on "
              "standard input\n", stderr);
        return EXIT_BAD_INPUT;
    }
    sa_store *st = NULL;
    if (cli_open_store("user", data_dir, 0, &st)) return EXIT_BAD_INPUT;
    sa_user_row user;
    int rc = find_user("password", st, name, &user);
    if (rc) return rc;
    int64_t user_id = user.id;
    sa_user_row_free(&user);
    char hash[128];
    rc = password_from_stdin("password", hash);
    if (rc) {
        sa_store_close(st);
        return rc;
    }
    sa_error err;
    if (sa_store_user_set_password(st, user_id, hash, &err))
        return store_failed("password", st, &err, EXIT_INTERNAL);
    sa_store_close(st);
    printf("password of %s set; its browser sessions ended\n", name);
    return EXIT_OK;
}

/* ---- list ---- */

static const char *team_name(const sa_team_row *teams, size_t n, int64_t id) {
    for (size_t i = 0; i < n; i++)
        if (teams[i].id == id) return teams[i].name;
    return "?";
}

static int user_list(const char *data_dir) {
    sa_store *st = NULL;
    if (cli_open_store("user", data_dir, 0, &st)) return EXIT_BAD_INPUT;
    sa_error err;
    sa_user_row *users = NULL;
    sa_team_row *teams = NULL;
    sa_token_row *tokens = NULL;
    size_t n_users = 0, n_teams = 0, n_tokens = 0;
    int status = EXIT_OK;
    if (sa_store_user_list(st, &users, &n_users, &err) ||
        sa_store_team_list(st, &teams, &n_teams, &err) ||
        sa_store_token_list(st, 0, &tokens, &n_tokens, &err)) {
        status = EXIT_INTERNAL;
        fprintf(stderr, "segarena user list: %s\n", err.msg);
    }
    if (status == EXIT_OK)
        printf("%-24s %-10s %-9s %-6s %s\n", "name", "role", "password", "tokens", "teams");
    for (size_t i = 0; status == EXIT_OK && i < n_users; i++) {
        int live = 0;
        for (size_t k = 0; k < n_tokens; k++)
            live += tokens[k].user_id == users[i].id && !tokens[k].revoked;
        int64_t ids[MAX_TEAMS];
        size_t n_ids = 0;
        if (sa_store_user_teams(st, users[i].id, ids, MAX_TEAMS, &n_ids, &err)) {
            fprintf(stderr, "segarena user list: %s\n", err.msg);
            status = EXIT_INTERNAL;
            break;
        }
        printf("%-24s %-10s %-9s %-6d ", users[i].name, users[i].role,
               users[i].password_hash ? "yes" : "no", live);
        for (size_t k = 0; k < n_ids; k++)
            printf("%s%s", k ? "," : "", team_name(teams, n_teams, ids[k]));
        printf("%s\n", n_ids ? "" : "-");
    }
    sa_user_rows_free(users, n_users);
    free(teams);
    free(tokens);
    sa_store_close(st);
    return status;
}

/* ---- dispatch ---- */

int cmd_user(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(user_help, stdout);
            return EXIT_OK;
        }
    if (argc < 2) {
        fputs(user_help, stderr);
        return EXIT_BAD_INPUT;
    }
    /* --team may repeat: taken out before the common parser sees the rest */
    const char *teams[MAX_TEAMS];
    size_t n_teams = 0;
    char **rest = malloc(sizeof *rest * (size_t)argc);
    if (!rest) {
        fputs("segarena user: out of memory\n", stderr);
        return EXIT_INTERNAL;
    }
    int n_rest = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--team")) {
            if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2) || n_teams == MAX_TEAMS) {
                fprintf(stderr, "segarena user: %s\n", n_teams == MAX_TEAMS
                                                          ? "too many --team options"
                                                          : "--team needs a value");
                free(rest);
                return EXIT_BAD_INPUT;
            }
            teams[n_teams++] = argv[++i];
            continue;
        }
        rest[n_rest++] = argv[i];
    }
    cli_opt opts[] = {{"--role", 1, 0, 0}, {"--password-stdin", 0, 0, 0},
                      {"--label", 1, 0, 0}, {"--data-dir", 1, 0, 0}};
    const size_t n_opts = sizeof opts / sizeof *opts;
    const char *pos[2];
    size_t n_pos = 0;
    int parsed = cli_parse("user", n_rest, rest, 1, opts, n_opts, pos, 2, &n_pos);
    free(rest);
    if (parsed) return EXIT_BAD_INPUT;
    if (n_pos == 0) {
        fprintf(stderr, "segarena user: which command? (segarena user --help)\n");
        return EXIT_BAD_INPUT;
    }
    const char *command = pos[0];
    const char *data_dir = cli_value(opts, n_opts, "--data-dir");
    const char *role = cli_value(opts, n_opts, "--role");
    const char *label = cli_value(opts, n_opts, "--label");
    int password_stdin = cli_flag(opts, n_opts, "--password-stdin");

    /* each command takes one argument (list none) and only its own options */
    int is_add = !strcmp(command, "add"), is_token = !strcmp(command, "token"),
        is_password = !strcmp(command, "password"), is_list = !strcmp(command, "list");
    if (!is_add && !is_token && !is_password && !is_list && strcmp(command, "tokens") != 0 &&
        strcmp(command, "revoke-token") != 0) {
        fprintf(stderr, "segarena user: unknown command '%s' (segarena user --help)\n", command);
        return EXIT_BAD_INPUT;
    }
    if ((role || n_teams) && !is_add) {
        fprintf(stderr, "segarena user %s: --role and --team belong to `user add`\n", command);
        return EXIT_BAD_INPUT;
    }
    if (password_stdin && !is_add && !is_password) {
        fprintf(stderr, "segarena user %s: --password-stdin belongs to `user add` and "
                        "`user password`\n", command);
        return EXIT_BAD_INPUT;
    }
    if (label && !is_token) {
        fprintf(stderr, "segarena user %s: --label belongs to `user token`\n", command);
        return EXIT_BAD_INPUT;
    }
    if (is_list != (n_pos == 1)) {
        fprintf(stderr, "segarena user %s: %s (segarena user --help)\n", command,
                is_list ? "takes no argument" : "give one argument");
        return EXIT_BAD_INPUT;
    }
    if (is_add) return user_add(pos[1], role, teams, n_teams, password_stdin, data_dir);
    if (is_token) return user_token(pos[1], label, data_dir);
    if (is_password) return user_password(pos[1], password_stdin, data_dir);
    if (is_list) return user_list(data_dir);
    if (!strcmp(command, "tokens")) return user_tokens(pos[1], data_dir);
    return user_revoke_token(pos[1], data_dir);
}
