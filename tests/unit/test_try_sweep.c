/*
 * test_try_sweep.c: what a killed `segarena try` left is swept by a later try of
 * the same engine only. A try's lock file names its engine and its work folder
 * (as an absolute path, also when TMPDIR is relative); a podman try used to take a
 * dead docker try's lock file for its own: it asked podman to remove the container
 * (a no-op), found the name absent in podman's store, deleted the lock file and the
 * work folder, and the docker container and image were never removed.
 *
 * Stand-in `podman` and `docker` on PATH record their arguments; no engine, image
 * or root needed.
 *
 * usage: test_try_sweep WORK_DIR
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "submissions.h"
#include "test.h"

static char g_calls[2300];

static void write_tool(const char *bin, const char *name) {
    char path[2300], text[3000];
    snprintf(path, sizeof path, "%s/%s", bin, name);
    snprintf(text, sizeof text, "#!/bin/sh\necho \"%s $*\" >> '%s'\nexit 0\n", name, g_calls);
    FILE *f = fopen(path, "w");
    if (!f) {
        CHECK(0);
        return;
    }
    fputs(text, f);
    fclose(f);
    chmod(path, 0755);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return calloc(1, 1);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 2 || strlen(argv[1]) > 1900) return 2;
    const char *work = argv[1];
    char cmd[8192], bin[2100], locks[2100], scratch_abs[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/bin' '%s/tmp/segarena-try.abcdef/exec' && mkdir -m 700 '%s/locks'",
             work, work, work, work);
    if (system(cmd) != 0) return 2;
    snprintf(bin, sizeof bin, "%s/bin", work);
    snprintf(locks, sizeof locks, "%s/locks", work);
    snprintf(g_calls, sizeof g_calls, "%s/calls", work);
    write_tool(bin, "podman");
    write_tool(bin, "docker");
    char path[4096];
    snprintf(path, sizeof path, "%s:/usr/bin:/bin", bin);
    setenv("PATH", path, 1);
    if (chdir(work) != 0) return 2;
    if (!realpath("tmp/segarena-try.abcdef", scratch_abs)) return 2;

    /* a docker try, its work folder given relative (TMPDIR=tmp), then killed:
     * its lock file stays, held by no one */
    sa_try_name t;
    sa_error err;
    CHECK(sa_try_name_take(locks, SA_ENGINE_DOCKER, "tmp/segarena-try.abcdef", &t, &err) == 0);
    char *text = slurp(t.lock_path);
    char want[2400];
    snprintf(want, sizeof want, "docker\n%s", scratch_abs);
    CHECK(strcmp(text, want) == 0);
    if (strcmp(text, want) != 0) fprintf(stderr, "lock file: '%s', wanted '%s'\n", text, want);
    free(text);
    char lock_path[4200], container[96];
    snprintf(lock_path, sizeof lock_path, "%s", t.lock_path);
    snprintf(container, sizeof container, "segarena-%s-case", t.run_id);
    sa_try_name_release(&t, 0);

    /* a podman try's sweep leaves it alone: not its engine's */
    CHECK(sa_try_sweep(SA_ENGINE_PODMAN, locks, &err) == 0);
    CHECK(access(lock_path, F_OK) == 0);
    CHECK(access(scratch_abs, F_OK) == 0);
    char *calls = slurp(g_calls);
    CHECK(strstr(calls, container) == NULL);
    CHECK(strstr(calls, "docker") == NULL);
    free(calls);

    /* a docker try's sweep removes its container, its work folder, its name and
     * then the lock file */
    CHECK(sa_try_sweep(SA_ENGINE_DOCKER, locks, &err) == 0);
    calls = slurp(g_calls);
    char rm_line[200];
    snprintf(rm_line, sizeof rm_line, "docker rm");
    CHECK(strstr(calls, rm_line) != NULL && strstr(calls, container) != NULL);
    if (!strstr(calls, container)) fprintf(stderr, "calls:\n%s", calls);
    free(calls);
    CHECK(access(scratch_abs, F_OK) != 0);
    CHECK(access(lock_path, F_OK) != 0);

    /* a lock file a try was killed on before writing it: its name was never made */
    char empty[4300];
    snprintf(empty, sizeof empty, "%s/try-0123456789abcdef01234567.lock", locks);
    FILE *f = fopen(empty, "w");
    if (f) fclose(f);
    CHECK(sa_try_sweep(SA_ENGINE_PODMAN, locks, &err) == 0);
    CHECK(access(empty, F_OK) != 0);

    if (chdir("/") != 0) CHECK(0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    if (test_failed_count == 0 && system(cmd) != 0) CHECK(0);
    return test_report("test_try_sweep");
}
