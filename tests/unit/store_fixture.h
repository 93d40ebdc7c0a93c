/*
 * store_fixture.h: what the store tests share: a scratch data directory that is
 * removed afterwards, and a small world (team, challenge, dataset, phase, ready
 * submission) for runs and jobs to hang off.
 */
#ifndef SEGARENA_STORE_FIXTURE_H
#define SEGARENA_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "test.h"

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under /tmp; the data directory is <base>/data (not created). */
typedef struct scratch {
    char base[64];
    char data[96];
} scratch;

static void scratch_make(scratch *s) {
    snprintf(s->base, sizeof s->base, "/tmp/test_store_XXXXXX");
    if (!mkdtemp(s->base)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(s->data, sizeof s->data, "%s/data", s->base);
}

static void scratch_remove(scratch *s) {
    remove_tree(s->base);
}

typedef struct world {
    int64_t user, team, challenge, dataset, phase, submission;
} world;

/* Opens a new store in s->data and fills the world; exits on failure (nothing
 * else could be tested). */
static sa_store *world_open(scratch *s, world *w) {
    sa_store *st = NULL;
    sa_error err = {{0}};
    memset(w, 0, sizeof *w);
    if (sa_store_open(s->data, 1, &st, &err) ||
        sa_store_user_add(st, "ann", "challenger", NULL, &w->user, &err) ||
        sa_store_team_add(st, "lesion-hunters", &w->team, &err) ||
        sa_store_challenge_add(st, "ms2024", "MS 2024", "lesions", &w->challenge, &err) ||
        sa_store_dataset_record(st, "ms-test", "ab12", "ms", 3, &w->dataset, &err) ||
        sa_store_phase_add(st, w->challenge, "final", w->dataset, "{\"metrics\":[\"dice\"]}",
                           &w->phase, &err)) {
        fprintf(stderr, "world_open: %s\n", err.msg);
        exit(1);
    }
    sa_submission_row sub;
    memset(&sub, 0, sizeof sub);
    sub.phase_id = w->phase;
    sub.team_id = w->team;
    sub.user_id = w->user;
    snprintf(sub.status, sizeof sub.status, "ready");
    snprintf(sub.image_digest, sizeof sub.image_digest, "sha256:world");
    snprintf(sub.image_name, sizeof sub.image_name, "segarena/world");
    if (sa_store_submission_add(st, &sub, &w->submission, &err)) {
        fprintf(stderr, "world_open: %s\n", err.msg);
        exit(1);
    }
    return st;
}

/* A case result as a worker would report it. */
static sa_case_result_row result_of(const char *status, const char *error_class,
                                    double container_seconds, double platform_seconds) {
    sa_case_result_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.status, sizeof r.status, "%s", status);
    snprintf(r.error_class, sizeof r.error_class, "%s", error_class);
    r.container_seconds = container_seconds;
    r.platform_seconds = platform_seconds;
    r.peak_memory_bytes = -1;
    r.exit_code = strcmp(status, "succeeded") == 0 ? 0 : -1;
    r.result_json = strcmp(status, "succeeded") == 0 ? (char *)"{\"dice\":0.8}" : NULL;
    r.metric_version = SA_METRIC_DEFINITION_VERSION;
    snprintf(r.dataset_checksum, sizeof r.dataset_checksum, "ab12");
    snprintf(r.image_digest, sizeof r.image_digest, "sha256:world");
    return r;
}

#endif
