/* main.c: the `segarena` command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

#ifndef SEGARENA_VERSION
#define SEGARENA_VERSION "unknown"
#endif

static void usage(FILE *out) {
    fputs("usage: segarena <command> [options]\n"
          "\n"
          "commands:\n"
          "  score      metrics of predicted masks against reference masks\n"
          "             (segarena score --help for every option and convention)\n"
          "  consensus  the consensus of several raters' masks (majority or STAPLE)\n"
          "  dataset    held-out datasets: import, verify, show, list, make-demo\n"
          "  try        check a contestant image archive and run it on one case, sandboxed\n"
          "\n"
          "  segarena --version | --help\n",
          out);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("segarena %s\n", SEGARENA_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "score")) return cmd_score(argc - 1, argv + 1);
    if (!strcmp(cmd, "consensus")) return cmd_consensus(argc - 1, argv + 1);
    if (!strcmp(cmd, "dataset")) return cmd_dataset(argc - 1, argv + 1);
    if (!strcmp(cmd, "try")) return cmd_try(argc - 1, argv + 1);
    fprintf(stderr, "segarena: unknown command '%s' (segarena --help lists them)\n", cmd);
    return EXIT_BAD_INPUT;
}
