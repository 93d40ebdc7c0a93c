/*
 * test_client_exec.c: an engine client (podman, skopeo) that cannot be run on the
 * host is SegArena's failure, never the contestant's: with PATH holding only
 * stand-ins that are not executable, or whose interpreter is missing,
 * sa_run_case returns -1 naming the client and errno (not `exit_code 127`),
 * sa_engine_exec fails naming it (not "status 127"), and sa_intake_load says the
 * engine failed (SA_INTAKE_LOAD_ENGINE_FAILED, not a refusal of the image). A
 * client that was exec'd but could not run (the dynamic loader's status 127)
 * before the engine created any container (no cidfile) is also -1; a status 127
 * once the container exists (its cidfile written) stays the contestant's
 * `exit_code 127`, and so does one whose cidfile the engine deleted with the
 * container (podman >= 4.4) while the client itself runs (`--version`). No
 * engine, image or root needed.
 *
 * usage: test_client_exec WORK_DIR
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets.h"
#include "submissions.h"
#include "test.h"

static char g_bin[2048], g_input[2100], g_scratch[2100];

static void write_tool(const char *name, const char *text, mode_t mode) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", g_bin, name);
    unlink(path);
    FILE *f = fopen(path, "w");
    if (!f) {
        CHECK(0);
        return;
    }
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static int run_case(const char *case_id, sa_run_result *res, sa_error *err) {
    sa_run_input in = {.role = "flair", .path = g_input};
    sa_run_request req = {.engine = SA_ENGINE_PODMAN, .image = "fake", .run_id = "exec1",
                          .case_id = case_id, .inputs = &in, .n_inputs = 1,
                          .scratch_dir = g_scratch};
    sa_run_limits lim;
    sa_run_limits_default(&lim);
    lim.wall_seconds = 30;
    memset(err, 0, sizeof *err);
    return sa_run_case(&req, &lim, res, err);
}

static sa_image_info fake_info(void) {
    sa_image_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.format, sizeof info.format, "docker-archive");
    snprintf(info.config_digest, sizeof info.config_digest, "sha256:%064d", 0);
    return info;
}

int main(int argc, char **argv) {
    if (argc != 2 || strlen(argv[1]) > 1900) return 2;
    const char *work = argv[1];
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/bin' '%s/scratch'", work, work, work);
    if (system(cmd) != 0) return 2;
    snprintf(g_bin, sizeof g_bin, "%s/bin", work);
    snprintf(g_scratch, sizeof g_scratch, "%s/scratch", work);
    snprintf(g_input, sizeof g_input, "%s/flair.nii", work);
    sa_image img = {.size = {8, 8, 4},
                    .spacing = {1, 1, 1},
                    .direction = {1, 0, 0, 0, 1, 0, 0, 0, 1},
                    .type = SA_PIXEL_I16};
    img.data = calloc(8 * 8 * 4, 2);
    sa_error err;
    CHECK(sa_image_write(g_input, &img, &err) == 0);
    sa_image_free(&img);
    /* only the stand-ins: execvp finds no other podman or skopeo */
    char old_path[4096];
    snprintf(old_path, sizeof old_path, "%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", g_bin, 1);
    setenv("LC_ALL", "C", 1);

    /* 1. not executable (a file without the x bit) */
    write_tool("podman", "#!/bin/sh\nexit 0\n", 0644);
    write_tool("skopeo", "#!/bin/sh\nexit 0\n", 0644);
    sa_run_result res;
    int rc = run_case("c1", &res, &err);
    CHECK(rc == -1);
    if (rc == 0) {
        fprintf(stderr, "not executable: classified as '%s'\n", res.class_text);
        sa_run_result_free(&res);
    }
    CHECK_STR_CONTAINS(err.msg, "podman");
    CHECK_STR_CONTAINS(err.msg, "Permission denied");
    char work_dir[2300];
    snprintf(work_dir, sizeof work_dir, "%s/exec1-c1", g_scratch);
    CHECK(access(work_dir, F_OK) != 0); /* nothing kept for a case that never ran */

    memset(&err, 0, sizeof err);
    CHECK(sa_engine_remove_image(SA_ENGINE_PODMAN, "localhost/segarena/sub-x", &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "cannot run 'podman': Permission denied");
    memset(&err, 0, sizeof err);
    sa_image_info info = fake_info();
    rc = sa_intake_load(g_input, &info, "localhost/segarena/sub-x", NULL, &err);
    CHECK(rc == SA_INTAKE_LOAD_ENGINE_FAILED);
    CHECK_STR_CONTAINS(err.msg, "cannot run 'skopeo': Permission denied");

    /* 2. a script whose interpreter is missing (the exec fails with ENOENT) */
    write_tool("podman", "#!/no/such/interpreter\nexit 0\n", 0755);
    write_tool("skopeo", "#!/no/such/interpreter\nexit 0\n", 0755);
    rc = run_case("c2", &res, &err);
    CHECK(rc == -1);
    if (rc == 0) sa_run_result_free(&res);
    CHECK_STR_CONTAINS(err.msg, "cannot run 'podman': No such file or directory");
    memset(&err, 0, sizeof err);
    info = fake_info();
    CHECK(sa_intake_load(g_input, &info, "localhost/segarena/sub-x", NULL, &err) ==
          SA_INTAKE_LOAD_ENGINE_FAILED);
    CHECK_STR_CONTAINS(err.msg, "cannot run 'skopeo'");

    /* 3. exec'd, then status 127 before any container (as the dynamic loader
     * exits for a missing shared library): the host's failure */
    write_tool("podman",
               "#!/bin/sh\n"
               "echo 'podman: error while loading shared libraries: libgpgme.so.11: cannot "
               "open shared object file' >&2\n"
               "exit 127\n",
               0755);
    rc = run_case("c3", &res, &err);
    CHECK(rc == -1);
    if (rc == 0) {
        fprintf(stderr, "loader failure: classified as '%s'\n", res.class_text);
        sa_run_result_free(&res);
    }
    CHECK_STR_CONTAINS(err.msg, "no container created");
    CHECK_STR_CONTAINS(err.msg, "libgpgme.so.11");

    /* 3b. skopeo exec'd, then status 127 (its loader): the host's failure, not the
     * image's (skopeo's own errors are status 1): not a refusal, not tried again */
    char calls[2300];
    snprintf(calls, sizeof calls, "%s/skopeo-calls", g_scratch);
    char skopeo_text[3000];
    snprintf(skopeo_text, sizeof skopeo_text,
             "#!/bin/sh\necho x >> '%s'\n"
             "echo 'skopeo: error while loading shared libraries: libgpgme.so.11' >&2\nexit 127\n",
             calls);
    write_tool("skopeo", skopeo_text, 0755);
    memset(&err, 0, sizeof err);
    info = fake_info();
    CHECK(sa_intake_load(g_input, &info, "localhost/segarena/sub-x", NULL, &err) ==
          SA_INTAKE_LOAD_ENGINE_FAILED);
    CHECK_STR_CONTAINS(err.msg, "skopeo could not run (status 127)");
    FILE *cf = fopen(calls, "r");
    int n_calls = 0;
    for (int ch; cf && (ch = fgetc(cf)) != EOF;) n_calls += ch == '\n';
    if (cf) fclose(cf);
    CHECK(n_calls == 1);
    /* a call SegArena got wrong (a name outside localhost/segarena/) is no verdict
     * on the image either */
    memset(&err, 0, sizeof err);
    info = fake_info();
    CHECK(sa_intake_load(g_input, &info, "docker.io/library/evil", NULL, &err) ==
          SA_INTAKE_LOAD_ENGINE_FAILED);

    /* 4. status 127 of a container the engine created (cidfile written): the
     * contestant's (an entrypoint that is not found, a program's own 127) */
    write_tool("podman",
               "#!/bin/sh\n"
               "[ \"$1\" = run ] || exit 0\n"
               "while [ $# -gt 0 ]; do\n"
               "  if [ \"$1\" = --cidfile ]; then printf 0123abcd > \"$2\"; fi\n"
               "  case \"$1\" in --cidfile=*) printf 0123abcd > \"${1#--cidfile=}\" ;; esac\n"
               "  shift\n"
               "done\n"
               "exit 127\n",
               0755);
    rc = run_case("c4", &res, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(strcmp(res.class_text, "exit_code 127") == 0);
        if (strcmp(res.class_text, "exit_code 127") != 0)
            fprintf(stderr, "container's 127: classified as '%s'\n", res.class_text);
        sa_run_result_free(&res);
    } else {
        fprintf(stderr, "container's 127: %s\n", err.msg);
    }

    /* 5. podman >= 4.4 deletes the cidfile with a --rm container: an entrypoint the
     * runtime cannot find (status 127) may leave no cidfile to read, but the client
     * itself runs (`podman --version` exits 0): the contestant's */
    write_tool("podman",
               "#!/bin/sh\n"
               "[ \"$1\" = run ] || exit 0\n"
               "echo 'Error: crun: executable file `/prog` not found in $PATH' >&2\n"
               "exit 127\n",
               0755);
    rc = run_case("c5", &res, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(strcmp(res.class_text, "exit_code 127") == 0);
        if (strcmp(res.class_text, "exit_code 127") != 0)
            fprintf(stderr, "127 with its cidfile gone: classified as '%s'\n", res.class_text);
        sa_run_result_free(&res);
    } else {
        fprintf(stderr, "127 with its cidfile gone: %s\n", err.msg);
    }

    /* 6. the clients start with no signal blocked, whatever the caller blocked for
     * itself (the CLI blocks SIGINT/SIGTERM in its threads while one thread waits
     * for them): a client that inherited the mask ignored the worker's SIGTERM */
    sigset_t blocked, old_mask;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT), sigaddset(&blocked, SIGTERM), sigaddset(&blocked, SIGHUP);
    sigprocmask(SIG_BLOCK, &blocked, &old_mask);
    char masks[2300], tool[3000];
    snprintf(masks, sizeof masks, "%s/masks", g_scratch);
    unlink(masks);
    snprintf(tool, sizeof tool, /* no grep on the stand-ins' PATH: the shell's own read */
             "#!/bin/sh\nwhile read -r k v; do [ \"$k\" = SigBlk: ] && echo \"$v\" >> '%s'; done "
             "< /proc/$$/status\nexit 1\n", masks);
    write_tool("podman", tool, 0755);
    write_tool("skopeo", tool, 0755);
    rc = run_case("c6", &res, &err); /* sa_run_case's client (sandbox.c) */
    if (rc == 0) sa_run_result_free(&res);
    sa_engine_remove_image(SA_ENGINE_PODMAN, "localhost/segarena/sub-x", &err); /* engine.c's client */
    info = fake_info();
    sa_intake_load(g_input, &info, "localhost/segarena/sub-x", NULL, &err); /* intake.c's skopeo */
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    FILE *mf = fopen(masks, "r");
    int seen = 0, clear = 0;
    char line[256];
    while (mf && fgets(line, sizeof line, mf)) {
        seen++;
        clear += strstr(line, "0000000000000000") != NULL;
        if (!strstr(line, "0000000000000000")) fprintf(stderr, "a client started with signals blocked: %s", line);
    }
    if (mf) fclose(mf);
    CHECK(seen >= 3 && clear == seen);

    setenv("PATH", old_path, 1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    if (test_failed_count == 0 && system(cmd) != 0) CHECK(0);
    return test_report("test_client_exec");
}
