/* main.c: the `segarena` command: dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "submissions.h"

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
          "running a challenge (docs/evaluator.md):\n"
          "  challenge  create or list challenges\n"
          "  team       add or list teams\n"
          "  phase      create, update, show, list, publish, unpublish phases (JSON spec)\n"
          "  submit     a team's container image for a phase (dates, quota, intake)\n"
          "  submission list a phase's submissions, or select a team's entry\n"
          "  run        start, status, list, cancel, rescore, rerun, wait: evaluation runs\n"
          "  worker     carry out queued jobs (containers, scoring), crash-safe\n"
          "  results    a phase's leaderboard: ranked table, human reference, per-case values\n"
          "  user       web accounts: add users (role, teams), passwords, API tokens\n"
          "  serve      the web leaderboard and JSON API, with evaluation workers\n"
          "\n"
          "  segarena --version | --help\n",
          out);
}

int main(int argc, char **argv) {
    sa_gpu_order_by_bus(); /* CUDA numbers GPUs as /dev/nvidiaN and the GPU locks do */
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
    if (!strcmp(cmd, "challenge")) return cmd_challenge(argc - 1, argv + 1);
    if (!strcmp(cmd, "team")) return cmd_team(argc - 1, argv + 1);
    if (!strcmp(cmd, "phase")) return cmd_phase(argc - 1, argv + 1);
    if (!strcmp(cmd, "submit")) return cmd_submit(argc - 1, argv + 1);
    if (!strcmp(cmd, "submission")) return cmd_submission(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "worker")) return cmd_worker(argc - 1, argv + 1);
    if (!strcmp(cmd, "results")) return cmd_results(argc - 1, argv + 1);
    if (!strcmp(cmd, "user")) return cmd_user(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    fprintf(stderr, "segarena: unknown command '%s' (segarena --help lists them)\n", cmd);
    return EXIT_BAD_INPUT;
}
