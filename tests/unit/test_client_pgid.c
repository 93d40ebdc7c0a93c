/*
 * test_client_pgid.c: the engine client that sa_run_case starts runs in a process
 * group of its own, so that a Ctrl-C (SIGINT to the terminal's foreground group)
 * meant for `segarena worker` never reaches it, and through podman's signal proxy
 * the contestant's container. A stand-in `podman` on PATH records its process group
 * and any SIGINT it gets; this test sends SIGINT to its own group while it runs.
 * The stand-ins (podman, skopeo) also record their environment: every engine
 * command (sa_run_case, sa_engine_exec, sa_intake_load) gets the allowlist of
 * sa_engine_environ, never this process's secrets. No engine, image or root needed.
 *
 * usage: test_client_pgid WORK_DIR
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets.h"
#include "submissions.h"
#include "test.h"

static volatile sig_atomic_t got_sigint;
static void on_sigint(int sig) {
    (void)sig;
    got_sigint = 1;
}

typedef struct call {
    sa_run_request req;
    sa_run_limits lim;
    sa_run_result res;
    int rc;
    sa_error err;
} call;

static void *run_case(void *arg) {
    call *c = arg;
    c->rc = sa_run_case(&c->req, &c->lim, &c->res, &c->err);
    return NULL;
}

static char *slurp(const char *path) {
    static char buf[256];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const char *work = argv[1];
    char cmd[8192], path[2100], bin[2048], input[2100], scratch[2100], log[2100];
    if (strlen(work) > 1900) return 2;
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/bin' '%s/scratch'", work, work, work);
    if (system(cmd) != 0) return 2;
    /* a process group of our own: the SIGINT below reaches no one else (ctest) */
    setpgid(0, 0);
    snprintf(bin, sizeof bin, "%s/bin", work);
    snprintf(scratch, sizeof scratch, "%s/scratch", work);
    snprintf(input, sizeof input, "%s/flair.nii", work);
    snprintf(log, sizeof log, "%s/client.log", work);
    snprintf(path, sizeof path, "%s/podman", bin);
    FILE *f = fopen(path, "w");
    if (!f) return 2;
    fprintf(f,
            "#!/bin/sh\n"
            "env > \"%s.podman-$1\"\n"
            "[ \"$1\" = run ] || exit 0\n"
            "trap 'echo INT >> \"%s\"' INT\n"
            "read -r _ _ _ _ pgrp _ < /proc/$$/stat\n"
            "echo \"pgrp $pgrp\" >> \"%s\"\n"
            "i=0; while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done\n"
            "exit 0\n",
            log, log, log);
    fclose(f);
    chmod(path, 0755);
    snprintf(path, sizeof path, "%s/skopeo", bin);
    f = fopen(path, "w");
    if (!f) return 2;
    fprintf(f, "#!/bin/sh\nenv > \"%s.skopeo\"\nexit 1\n", log);
    fclose(f);
    chmod(path, 0755);
    setenv("SA_FAKE_SECRET", "hunter2", 1);
    setenv("LC_ALL", "C", 1);
    char *old = getenv("PATH");
    snprintf(cmd, sizeof cmd, "%s:%s", bin, old ? old : "/usr/bin:/bin");
    setenv("PATH", cmd, 1);

    sa_image img = {.size = {8, 8, 4},
                    .spacing = {1, 1, 1},
                    .direction = {1, 0, 0, 0, 1, 0, 0, 0, 1},
                    .type = SA_PIXEL_I16};
    img.data = calloc(8 * 8 * 4, 2);
    sa_error err;
    CHECK(sa_image_write(input, &img, &err) == 0);
    sa_image_free(&img);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* a handler, as the worker's: reset to default in the child's exec */
    sigaction(SIGINT, &sa, NULL);

    static call c;
    sa_run_input in = {.role = "flair", .path = input};
    c.req = (sa_run_request){.engine = SA_ENGINE_PODMAN, .image = "fake", .run_id = "pgid1",
                             .case_id = "c1", .inputs = &in, .n_inputs = 1,
                             .scratch_dir = scratch};
    sa_run_limits_default(&c.lim);
    c.lim.wall_seconds = 30;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run_case, &c) == 0);
    for (int i = 0; i < 50 && !strstr(slurp(log), "pgrp"); i++) usleep(100 * 1000);
    kill(0, SIGINT); /* Ctrl-C: the foreground process group */
    pthread_join(t, NULL);
    CHECK(got_sigint);
    CHECK(c.rc == 0);
    const char *seen = slurp(log);
    long pgrp = 0;
    CHECK(sscanf(seen, "pgrp %ld", &pgrp) == 1);
    CHECK(pgrp != 0 && pgrp != (long)getpgrp());
    CHECK(!strstr(seen, "INT"));
    if (strstr(seen, "INT") || pgrp == (long)getpgrp())
        fprintf(stderr, "the engine client shared the worker's process group: %s\n", seen);
    sa_run_result_free(&c.res);

    /* the engine clients' environment: the allowlist, no secret */
    sa_engine_remove_image(SA_ENGINE_PODMAN, "localhost/segarena/sub-x", &err); /* sa_engine_exec */
    sa_image_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.format, sizeof info.format, "docker-archive");
    snprintf(info.config_digest, sizeof info.config_digest, "sha256:%064d", 0);
    CHECK(sa_intake_load(input, &info, "localhost/segarena/sub-x", NULL, &err) < 0); /* skopeo exits 1 */
    const char *kinds[] = {"podman-run", "podman-rmi", "podman-image", "skopeo"};
    for (int i = 0; i < 4; i++) {
        char envlog[2200];
        snprintf(envlog, sizeof envlog, "%s.%s", log, kinds[i]);
        FILE *e = fopen(envlog, "r");
        CHECK(e != NULL);
        if (!e) {
            fprintf(stderr, "no environment recorded by %s\n", kinds[i]);
            continue;
        }
        char line[8192];
        int secret = 0, has_path = 0, has_lc = 0;
        while (fgets(line, sizeof line, e)) {
            if (strncmp(line, "SA_FAKE_SECRET=", 15) == 0) secret = 1;
            if (strncmp(line, "PATH=", 5) == 0) has_path = 1;
            if (strncmp(line, "LC_ALL=C", 8) == 0) has_lc = 1;
        }
        fclose(e);
        CHECK(!secret && has_path && has_lc);
        if (secret || !has_path || !has_lc)
            fprintf(stderr, "%s: secret %d PATH %d LC_ALL %d\n", kinds[i], secret, has_path, has_lc);
    }
    return test_report("test_client_pgid");
}
