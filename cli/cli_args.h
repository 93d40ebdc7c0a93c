/* cli_args.h: the option parsing and store opening that the organiser commands
 * (challenge, team, phase, submit, submission, run, worker, results) share. */
#ifndef SEGARENA_CLI_ARGS_H
#define SEGARENA_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "evaluator.h"
#include "store.h"

typedef struct cli_opt {
    const char *name;  /* "--phase" */
    int takes_value;   /* 1: "--phase X"; 0: a flag */
    const char *value; /* set by cli_parse */
    int present;
} cli_opt;

/* Parses argv[first..argc-1]: options of the table (each at most once) and up to
 * max_positional positional arguments. On a problem prints one line
 * "segarena <command>: ..." and returns -1. --help is left to the caller. */
int cli_parse(const char *command, int argc, char **argv, int first, cli_opt *opts, size_t n_opts,
              const char **positional, size_t max_positional, size_t *n_positional);
/* The option's value, or NULL when absent. */
const char *cli_value(const cli_opt *opts, size_t n_opts, const char *name);
int cli_flag(const cli_opt *opts, size_t n_opts, const char *name);

/* Parses a positive integer id ("12"); prints a usage line and returns -1 when
 * it is not one. */
int cli_parse_id(const char *command, const char *what, const char *text, int64_t *out);

/* Checks a name the user typed (slug, team, user, dataset, split, role, kind):
 * 0 when it is an id (SA_ID_PATTERN), else prints one line "segarena <command>:
 * <what> 'S' is longer than 63 characters (...)" and returns -1 (bad input). */
int cli_check_id(const char *command, const char *what, const char *s);

/* 1 when ref can name a phase: CHALLENGE/PHASE (both parts, one slash) or a
 * positive id. */
int cli_phase_ref_valid(const char *ref);
/* sa_phase_find with the CLI's exit statuses in mind: 1 found; 0 no such phase,
 * or ref cannot name one (err says which: bad input); -1 the store failed. */
int cli_phase_find(sa_store *st, const char *ref, int64_t *phase_id, sa_phase_spec *spec, sa_error *err);

/* Opens the store of the data directory (NULL: ./segarena-data), printing the
 * reason on failure. create: make the directory and database if missing. */
int cli_open_store(const char *command, const char *data_dir, int create, sa_store **st);
const char *cli_data_dir(const char *data_dir);

/* "2026-11-25 21:08 UTC" */
void cli_format_time(double t, char buf[32]);

#endif
