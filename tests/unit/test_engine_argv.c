/*
 * test_engine_argv.c: the argv SegArena gives podman and docker (no engine is
 * run): hardening flags, limits, labels, mounts, GPU flags, names, kill/rm/ps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox_internal.h"
#include "test.h"

/* index of s in argv, or -1 */
static int find(const sa_argv *a, const char *s) {
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], s) == 0) return (int)i;
    return -1;
}

/* flag followed by value */
static int pair(const sa_argv *a, const char *flag, const char *value) {
    for (size_t i = 0; i + 1 < a->n; i++)
        if (strcmp(a->v[i], flag) == 0 && strcmp(a->v[i + 1], value) == 0) return 1;
    return 0;
}

static void check_run(sa_engine_kind kind) {
    sa_run_limits lim;
    sa_run_limits_default(&lim);
    CHECK(lim.wall_seconds == 600 && lim.memory_bytes == 8ull << 30 && lim.cpus == 2 &&
          lim.pids == 256 && lim.output_bytes == 1ull << 30 && lim.tmp_bytes == 2ull << 30 &&
          lim.log_bytes == 1u << 20 && lim.gpu == -1);
    lim.memory_bytes = 64u << 20;
    lim.pids = 32;
    lim.cpus = 1.5;
    sa_engine_run_spec s = {.name = "segarena-r1-c1",
                            .image = "localhost/sub:1",
                            .run_id = "r1",
                            .case_id = "c1",
                            .input_dir = "/scratch/r1-c1/input",
                            .output_dir = "/scratch/r1-c1/output",
                            .cidfile = "/scratch/r1-c1/cid",
                            .user = NULL};
    sa_argv a = {0};
    sa_error err;
    CHECK(sa_engine_run_argv(kind, &s, &lim, &a, &err) == 0);
    CHECK(a.v[a.n] == NULL);
    CHECK(strcmp(a.v[0], kind == SA_ENGINE_DOCKER ? "docker" : "podman") == 0);
    CHECK(strcmp(a.v[1], "run") == 0);
    CHECK(find(&a, "--pull=never") > 0);
    CHECK(pair(&a, "--name", "segarena-r1-c1"));
    CHECK(pair(&a, "--label", "segarena=1"));
    CHECK(pair(&a, "--label", "segarena.run=r1"));
    CHECK(pair(&a, "--label", "segarena.case=c1"));
    CHECK(pair(&a, "--network", "none"));
    CHECK(find(&a, "--read-only") > 0);
    CHECK((find(&a, "--read-only-tmpfs=false") > 0) == (kind == SA_ENGINE_PODMAN));
    /* podman: no image VOLUME as a host volume (docker has no flag: intake refuses them) */
    CHECK((find(&a, "--image-volume=ignore") > 0) == (kind == SA_ENGINE_PODMAN));
    CHECK(find(&a, "--sig-proxy=false") > 0);
    CHECK(pair(&a, "--tmpfs", "/tmp:rw,nosuid,nodev,size=2147483648,mode=1777"));
    CHECK(pair(&a, "--cap-drop", "all"));
    CHECK(pair(&a, "--security-opt", "no-new-privileges"));
    CHECK(pair(&a, "--memory", "67108864b"));
    CHECK(pair(&a, "--memory-swap", "67108864b"));
    CHECK(pair(&a, "--cpus", "1.5"));
    CHECK(pair(&a, "--pids-limit", "32"));
    CHECK(pair(&a, "--env", "HOME=/tmp"));
    CHECK(pair(&a, "--log-driver", "none"));
    CHECK(pair(&a, "--mount", "type=bind,source=/scratch/r1-c1/input,target=/input,readonly"));
    CHECK(pair(&a, "--mount", "type=bind,source=/scratch/r1-c1/output,target=/output"));
    CHECK(pair(&a, "--cidfile", "/scratch/r1-c1/cid"));
    CHECK(find(&a, "--user") < 0);
    CHECK(find(&a, "--device") < 0 && find(&a, "--gpus") < 0);
    CHECK(find(&a, "--privileged") < 0 && find(&a, "--ulimit") < 0 && find(&a, "--rm") < 0);
    CHECK(strcmp(a.v[a.n - 1], "localhost/sub:1") == 0); /* image last: no command override */
    sa_argv_free(&a);

    /* GPU and user */
    lim.gpu = 1;
    s.user = "1000:1000";
    CHECK(sa_engine_run_argv(kind, &s, &lim, &a, &err) == 0);
    if (kind == SA_ENGINE_PODMAN)
        CHECK(pair(&a, "--device", "nvidia.com/gpu=1") && find(&a, "--gpus") < 0);
    else
        CHECK(pair(&a, "--gpus", "device=1") && find(&a, "--device") < 0);
    CHECK(pair(&a, "--user", "1000:1000"));
    CHECK(strcmp(a.v[a.n - 1], "localhost/sub:1") == 0);
    sa_argv_free(&a);

    /* refused: comma in a path (would inject mount options), option-like image */
    s.input_dir = "/x,readonly=false,source=/etc";
    CHECK(sa_engine_run_argv(kind, &s, &lim, &a, &err) == -1);
    sa_argv_free(&a);
    s.input_dir = "/scratch/in";
    s.image = "--privileged";
    CHECK(sa_engine_run_argv(kind, &s, &lim, &a, &err) == -1);
    sa_argv_free(&a);

    /* kill, rm, ps, died events */
    const char *eng = kind == SA_ENGINE_DOCKER ? "docker" : "podman";
    CHECK(sa_engine_kill_argv(kind, "segarena-r1-c1", &a) == 0 && a.n == 3 &&
          !strcmp(a.v[0], eng) && !strcmp(a.v[1], "kill") && !strcmp(a.v[2], "segarena-r1-c1"));
    sa_argv_free(&a);
    /* -v: the container's anonymous volumes go with it (the sweep uses the same) */
    CHECK(sa_engine_rm_argv(kind, "segarena-r1-c1", &a) == 0 && a.n == 5 && !strcmp(a.v[1], "rm") &&
          !strcmp(a.v[2], "-f") && !strcmp(a.v[3], "-v") && !strcmp(a.v[4], "segarena-r1-c1"));
    sa_argv_free(&a);
    CHECK(sa_engine_ps_argv(kind, &a) == 0 && pair(&a, "--filter", "label=segarena=1") &&
          find(&a, "-a") > 0 && pair(&a, "--format", "{{.Names}}"));
    sa_argv_free(&a);
    /* the sweep refuses a prefix that would reach other runs' containers, before
     * any engine is run */
    sa_error serr;
    CHECK(sa_engine_sweep(kind, NULL, &serr) == -1);
    CHECK(sa_engine_sweep(kind, "", &serr) == -1);
    CHECK(sa_engine_sweep(kind, "segarena-", &serr) == -1);
    CHECK(sa_engine_sweep(kind, "other-r1-", &serr) == -1 && strstr(serr.msg, "name prefix"));
    CHECK(sa_engine_died_argv(kind, "0123abcd", 1700000000, 1700000100, &a) == 0 &&
          !strcmp(a.v[1], "events") && pair(&a, "--since", "1700000000") &&
          pair(&a, "--until", "1700000100") && pair(&a, "--filter", "container=0123abcd") &&
          pair(&a, "--filter", kind == SA_ENGINE_DOCKER ? "event=die" : "event=died"));
    sa_argv_free(&a);
    CHECK(sa_engine_died_argv(kind, "", 0, 1, &a) == -1);
    sa_argv_free(&a);
    CHECK(sa_engine_rmi_argv(kind, "localhost/sub:1", &a) == 0 && a.n == 3 &&
          !strcmp(a.v[1], "rmi") && !strcmp(a.v[2], "localhost/sub:1"));
    sa_argv_free(&a);
    CHECK(sa_engine_rmi_argv(kind, "-a", &a) == -1);
    sa_argv_free(&a);
    CHECK(sa_engine_gpu_argv(kind, -1, &a) == 0 && a.n == 0);
    sa_argv_free(&a);
}

int main(void) {
    check_run(SA_ENGINE_PODMAN);
    check_run(SA_ENGINE_DOCKER);

    sa_engine_kind k;
    sa_error err;
    CHECK(sa_engine_parse("docker", &k, &err) == 0 && k == SA_ENGINE_DOCKER);
    CHECK(sa_engine_parse("podman", &k, &err) == 0 && k == SA_ENGINE_PODMAN);
    CHECK(sa_engine_parse("lxc", &k, &err) == -1);

    char name[64];
    CHECK(sa_container_name("r1", "ms01", name, sizeof name, &err) == 0 &&
          !strcmp(name, "segarena-r1-ms01"));
    CHECK(sa_container_name("r1", "../x", name, sizeof name, &err) == -1);
    CHECK(sa_container_name("-r", "c", name, sizeof name, &err) == -1);

    /* GPU hand-out without overlap, within and across processes */
    char lock_dir[] = "/tmp/test_gpu_locks_XXXXXX";
    CHECK(mkdtemp(lock_dir) != NULL);
    setenv("SEGARENA_GPU_LOCK_DIR", lock_dir, 1);
    /* a process that exists before this one takes its GPUs (so it copied none of
     * this one's state): it must find them taken */
    int go[2];
    CHECK(pipe(go) == 0);
    pid_t early = fork();
    if (early == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(2);
        _exit(sa_gpu_claim(2) == -1 ? 0 : 1);
    }
    int g0 = sa_gpu_claim(2), g1 = sa_gpu_claim(2), g2 = sa_gpu_claim(2);
    CHECK(g0 == 0 && g1 == 1 && g2 == -1);
    CHECK(write(go[1], "x", 1) == 1);
    int status = -1;
    waitpid(early, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(go[0]);
    close(go[1]);
    sa_gpu_release(g0);
    pid_t child = fork();
    if (child == 0) _exit(sa_gpu_claim(2) == 0 ? 0 : 1); /* another process takes GPU 0 */
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(sa_gpu_claim(2) == 0); /* the child's lock died with it */
    sa_gpu_release(0);
    sa_gpu_release(1);
    /* one given GPU (the metric engine's CUDA device 0 when scoring) */
    CHECK(sa_gpu_claim_index(1) == 1 && sa_gpu_claim_index(1) == -1);
    CHECK(sa_gpu_claim(2) == 0 && sa_gpu_claim(2) == -1); /* a container can have only GPU 0 */
    sa_gpu_release(0);
    sa_gpu_release(1);
    CHECK(sa_gpu_claim_index(-1) == -2 && sa_gpu_claim_index(64) == -2);
    /* which GPU index CUDA's device 0 is */
    unsetenv("CUDA_VISIBLE_DEVICES");
    CHECK(sa_gpu_cuda_device0_index() == 0);
    const char *visible[] = {"3", "2,0", "GPU-8c3d-uuid", "", "7x", "99", " 1", "MIG-1"};
    const int index[] = {3, 2, -1, -1, -1, -1, -1, -1};
    for (int i = 0; i < 8; i++) {
        setenv("CUDA_VISIBLE_DEVICES", visible[i], 1);
        CHECK(sa_gpu_cuda_device0_index() == index[i]);
    }
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("CUDA_DEVICE_ORDER");
    sa_gpu_order_by_bus();
    CHECK(getenv("CUDA_DEVICE_ORDER") && !strcmp(getenv("CUDA_DEVICE_ORDER"), "PCI_BUS_ID"));
    setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST", 1);
    sa_gpu_order_by_bus(); /* an administrator's choice stays */
    CHECK(!strcmp(getenv("CUDA_DEVICE_ORDER"), "FASTEST_FIRST"));
    unsetenv("CUDA_DEVICE_ORDER");
    /* a lock folder that cannot be used is an error, not "every GPU busy" */
    setenv("SEGARENA_GPU_LOCK_DIR", "/nonexistent/segarena-locks", 1);
    CHECK(sa_gpu_claim(2) == -2);
    unsetenv("SEGARENA_GPU_LOCK_DIR");
    char lock_file[128];
    for (int i = 0; i < 2; i++) {
        snprintf(lock_file, sizeof lock_file, "%s/segarena-gpu-%d.lock", lock_dir, i);
        unlink(lock_file);
    }
    rmdir(lock_dir);
    char why[256];
    int n = sa_gpu_available(SA_ENGINE_PODMAN, why, sizeof why);
    CHECK(n >= 0);
    if (n == 0) CHECK(why[0] != '\0');

    char paths[4][512];
    CHECK(sa_engine_peak_memory_paths(SA_ENGINE_PODMAN, "abc", paths, 4) == 4);
    CHECK_STR_CONTAINS(paths[0], "libpod-abc");

    const char *cls[] = {"succeeded", "timeout", "out_of_memory", "exit_code",
                         "no_output", "invalid_output", "engine_error"};
    for (int i = 0; i <= SA_RUN_ENGINE_ERROR; i++)
        CHECK(!strcmp(sa_run_class_name((sa_run_class)i), cls[i]));
    return test_report("test_engine_argv");
}
