/* commands.h: the subcommands of `segarena` and the exit statuses they share. */
#ifndef SEGARENA_COMMANDS_H
#define SEGARENA_COMMANDS_H

enum {
    EXIT_OK = 0,
    EXIT_INTERNAL = 1,  /* out of memory, cannot write output */
    EXIT_BAD_INPUT = 2  /* usage error, unreadable or invalid input */
};

int cmd_score(int argc, char **argv);
int cmd_consensus(int argc, char **argv);
/* `segarena dataset import|verify|show` (cmd_dataset.c) and its `make-demo`
 * subcommand (cmd_make_demo.c); argv[0] is "dataset" / "make-demo". */
int cmd_dataset(int argc, char **argv);
int cmd_dataset_make_demo(int argc, char **argv);
int cmd_try(int argc, char **argv);
/* The organiser's commands (cmd_challenge.c, cmd_submit.c, cmd_run.c). */
int cmd_challenge(int argc, char **argv);
int cmd_team(int argc, char **argv);
int cmd_phase(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_submission(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_results(int argc, char **argv);
/* `segarena user`: web accounts, passwords, API tokens (cmd_user.c). */
int cmd_user(int argc, char **argv);
/* `segarena serve`: the web server and its workers (cmd_serve.c). */
int cmd_serve(int argc, char **argv);

#endif
