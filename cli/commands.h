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

#endif
