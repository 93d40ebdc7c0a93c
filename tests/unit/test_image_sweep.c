/*
 * test_image_sweep.c: an upload killed between tagging its image and inserting
 * its submission row left a name in the engine that nothing would ever remove. A
 * starting worker (sa_worker_run, its start-up sweep) must remove, for its data
 * directory only, each "localhost/segarena/sub-<instance>-<id>" that no row names
 * and whose image no upload holds the lock of; never a name a row names, one
 * whose upload is in progress (locks/image-<id>.lock held), another data
 * directory's, a legacy "sub-<id>" one or a try's. The engine is a stand-in
 * `podman` that lists names from a file and records what it is asked to remove.
 * A copy of the data directory (cp -a) gets its own instance and never sweeps
 * the original's names.
 */
#define _GNU_SOURCE /* mkdtemp, nftw, setenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evaluator.h"
#include "store_fixture.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX_C "cccccccccccccccccccccccccccccccc"
#define HEX_D "dddddddddddddddddddddddddddddddd"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

int main(void) {
    scratch s;
    scratch_make(&s);
    world w;
    sa_store *st = world_open(&s, &w);
    sa_error err;
    (void)result_of;
    char inst[32]; /* the store's copy goes with sa_store_close */
    snprintf(inst, sizeof inst, "%s", sa_store_instance(st));
    char named[128], orphan[128], busy[128];
    snprintf(named, sizeof named, "localhost/segarena/sub-%s-" HEX_A, inst);
    snprintf(orphan, sizeof orphan, "localhost/segarena/sub-%s-" HEX_B, inst);
    snprintf(busy, sizeof busy, "localhost/segarena/sub-%s-" HEX_C, inst);
    /* a row names the first name (another phase's submission of the image would too) */
    sa_submission_row sub;
    memset(&sub, 0, sizeof sub);
    sub.phase_id = w.phase;
    sub.team_id = w.team;
    sub.user_id = w.user;
    snprintf(sub.status, sizeof sub.status, "ready");
    snprintf(sub.image_digest, sizeof sub.image_digest, "sha256:" HEX_A);
    snprintf(sub.image_name, sizeof sub.image_name, "%s", named);
    int64_t id;
    CHECK(sa_store_submission_add(st, &sub, &id, &err) == 0);
    sa_store_close(st);

    /* the stand-in engine */
    char listing[160], removed[160], podman[160], path_env[4300];
    snprintf(listing, sizeof listing, "%s/listing", s.base);
    snprintf(removed, sizeof removed, "%s/removed", s.base);
    snprintf(podman, sizeof podman, "%s/podman", s.base);
    FILE *f = fopen(listing, "w");
    if (!f) return 1;
    fprintf(f, "%s:latest\n%s:latest\n%s:latest\n", named, orphan, busy);
    fprintf(f, "localhost/segarena/sub-0badcafe-" HEX_B ":latest\n"); /* another data directory's */
    fprintf(f, "localhost/segarena/sub-" HEX_B ":latest\n");            /* a legacy name */
    fprintf(f, "localhost/segarena/sub-try-0123456789abcdef01234567:latest\n");
    fprintf(f, "localhost/segarena/sub-%s-" HEX_B ":v2\n", inst);       /* not SegArena's tag */
    fclose(f);
    f = fopen(podman, "w");
    if (!f) return 1;
    fprintf(f, "#!/bin/sh\n"
               "case \"$1\" in\n"
               "images) cat '%s' ;;\n"
               "rmi) echo \"$2\" >> '%s' ;;\n"
               "image) [ \"$2\" = rm ] && echo \"$3\" >> '%s' ;;\n"
               "esac\n"
               "exit 0\n",
            listing, removed, removed);
    fclose(f);
    chmod(podman, 0755);
    const char *old_path = getenv("PATH");
    snprintf(path_env, sizeof path_env, "%s:%s", s.base, old_path ? old_path : "/usr/bin:/bin");
    setenv("PATH", path_env, 1);

    /* an upload of the third image is in progress: it holds the image's lock */
    char locks[160];
    snprintf(locks, sizeof locks, "%s/locks", s.data);
    mkdir(locks, 0700);
    int held = sa_intake_image_lock(locks, HEX_C, 1, &err);
    CHECK(held >= 0);

    sa_worker_options opt;
    sa_worker_options_default(&opt);
    opt.data_dir = s.data;
    volatile int stop = 1; /* the start-up sweep only */
    opt.stop = &stop;
    CHECK(sa_worker_run(&opt, &err) == 0);

    char *gone = slurp(removed);
    char expect[160];
    snprintf(expect, sizeof expect, "%s\n", orphan);
    CHECK(!strcmp(gone, expect));
    if (strcmp(gone, expect)) fprintf(stderr, "removed:\n%s(expected only %s)\n", gone, orphan);
    free(gone);

    /* the upload is over and recorded nothing: its name goes at the next sweep */
    close(held);
    unlink(removed);
    CHECK(sa_worker_run(&opt, &err) == 0);
    gone = slurp(removed);
    CHECK(strstr(gone, busy) && strstr(gone, orphan) && !strstr(gone, named));
    free(gone);

    /* a copy of the data directory (cp -a, a restored backup) on the same host:
     * the original records a submission after the copy; the copy's sweep must
     * not take the original's name for its own (it would remove a live image) */
    char copy[160], cmd[512], later[128];
    snprintf(copy, sizeof copy, "%s/copy", s.base);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", s.data, copy);
    CHECK(system(cmd) == 0);
    st = NULL;
    CHECK(sa_store_open(s.data, 0, &st, &err) == 0);
    if (!st) return test_report("evaluator.image_sweep");
    CHECK(!strcmp(sa_store_instance(st), inst)); /* the original keeps its tag */
    snprintf(later, sizeof later, "localhost/segarena/sub-%s-" HEX_D, inst);
    snprintf(sub.image_digest, sizeof sub.image_digest, "sha256:" HEX_D);
    snprintf(sub.image_name, sizeof sub.image_name, "%s", later);
    CHECK(sa_store_submission_add(st, &sub, &id, &err) == 0);
    sa_store_close(st);
    st = NULL;
    CHECK(sa_store_open(copy, 0, &st, &err) == 0);
    if (!st) return test_report("evaluator.image_sweep");
    char copy_inst[32];
    snprintf(copy_inst, sizeof copy_inst, "%s", sa_store_instance(st));
    CHECK(strcmp(copy_inst, inst) != 0); /* the copy has its own */
    sa_store_close(st);
    st = NULL;
    CHECK(sa_store_open(copy, 0, &st, &err) == 0); /* and keeps it on the next open */
    if (st) CHECK(!strcmp(sa_store_instance(st), copy_inst));
    sa_store_close(st);
    f = fopen(listing, "w");
    if (!f) return 1;
    fprintf(f, "%s:latest\n%s:latest\n", named, later);
    fprintf(f, "localhost/segarena/sub-%s-" HEX_B ":latest\n", copy_inst); /* the copy's own */
    fclose(f);
    unlink(removed);
    opt.data_dir = copy;
    CHECK(sa_worker_run(&opt, &err) == 0);
    gone = slurp(removed);
    snprintf(expect, sizeof expect, "localhost/segarena/sub-%s-" HEX_B "\n", copy_inst);
    CHECK(!strcmp(gone, expect));
    if (strcmp(gone, expect)) fprintf(stderr, "the copy removed:\n%s(expected only %s)\n", gone, expect);
    free(gone);

    scratch_remove(&s);
    return test_report("evaluator.image_sweep");
}
