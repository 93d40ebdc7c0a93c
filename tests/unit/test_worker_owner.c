/*
 * test_worker_owner.c: unit tests of what a worker does about other workers
 * (evaluator/worker.c): sa_worker_owner_dead, which lets a worker take over a dead
 * worker's jobs at once rather than after the lease (a live owner, a zombie, a
 * process gone, a reused pid, another host); and sa_worker_remove_earlier_attempts,
 * run at a takeover, which removes the containers and scratch folders of earlier
 * attempts of the job and never a later attempt's (an engine stub on PATH logs
 * what it is asked to remove).
 */
#define _GNU_SOURCE /* unshare */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdlib.h>
#include <sys/stat.h>

#include "test.h"
#include "worker_internal.h"

static void host_name(char *host, size_t size) {
    memset(host, 0, size);
    gethostname(host, size - 1);
    for (char *h = host; *h; h++)
        if (*h == ':') *h = '_';
}

/* "<place>:<pid>:<start>:<index>" -> place, pid, start; 0 or -1. */
static int split_owner(const char *owner, char *place, long *pid, unsigned long long *start) {
    const char *c3 = strrchr(owner, ':');
    if (!c3) return -1;
    const char *c2 = c3 - 1, *c1;
    while (c2 > owner && *c2 != ':') c2--;
    c1 = c2 - 1;
    while (c1 > owner && *c1 != ':') c1--;
    if (c1 <= owner || *c1 != ':') return -1;
    snprintf(place, (size_t)(c1 - owner) + 1, "%s", owner);
    return sscanf(c1 + 1, "%ld:%llu:", pid, start) == 2 ? 0 : -1;
}

static int file_contains(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void check_earlier_attempts(void) {
    char dir[] = "/tmp/test_worker_attempts_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[1200], log[256], scratch[256];
    snprintf(log, sizeof log, "%s/engine.log", dir);
    snprintf(path, sizeof path, "%s/podman", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "#!/bin/sh\n"
               "case \"$1\" in\n"
               "ps) printf 'segarena-abc123.7.2-c1\\nsegarena-abc123.7.3-c1\\nsegarena-abc123.7.4-c1\\n"
               "segarena-abc123.7-c1\\nsegarena-abc123.7.1-c1.x\\nsegarena-abc123.8.1-c1\\n"
               "segarena-zzz999.7.1-c1\\n' ;;\n"
               "rm) echo \"$@\" >> %s ;;\n"
               "esac\n", log);
    fclose(f);
    chmod(path, 0755);
    snprintf(scratch, sizeof scratch, "%s/scratch", dir);
    mkdir(scratch, 0755);
    const char *folders[] = {"abc123.7.2-c1", "abc123.7.4-c1", "abc123.7.3-c1"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", scratch, folders[i]);
        mkdir(path, 0755);
    }
    const char *old_path = getenv("PATH");
    char new_path[4096];
    snprintf(new_path, sizeof new_path, "%s:%s", dir, old_path ? old_path : "/usr/bin:/bin");
    setenv("PATH", new_path, 1);

    sa_worker_options opt;
    sa_worker_options_default(&opt);
    opt.data_dir = dir;
    opt.engine = SA_ENGINE_PODMAN;
    sa_worker_shared w;
    memset(&w, 0, sizeof w);
    w.opt = &opt;
    snprintf(w.instance, sizeof w.instance, "abc123");
    sa_error err = {{0}};
    CHECK(sa_worker_remove_earlier_attempts(&w, 7, "c1", 3, &err) == 0);
    CHECK(file_contains(log, "rm -f -v segarena-abc123.7.2-c1\n"));
    CHECK(file_contains(log, "rm -f -v segarena-abc123.7-c1\n")); /* a name from before attempts */
    CHECK(!file_contains(log, "segarena-abc123.7.3-c1")); /* this attempt's own */
    CHECK(!file_contains(log, "segarena-abc123.7.4-c1")); /* a later attempt: the new holder's */
    CHECK(!file_contains(log, "c1.x") && !file_contains(log, ".8.1-") && !file_contains(log, "zzz999"));
    struct stat st;
    snprintf(path, sizeof path, "%s/abc123.7.2-c1", scratch);
    CHECK(stat(path, &st) != 0); /* an earlier attempt's scratch folder: removed */
    snprintf(path, sizeof path, "%s/abc123.7.4-c1", scratch);
    CHECK(stat(path, &st) == 0); /* a later one: kept */
    snprintf(path, sizeof path, "%s/abc123.7.3-c1", scratch);
    CHECK(stat(path, &st) == 0);
    setenv("PATH", old_path ? old_path : "/usr/bin:/bin", 1);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* A host name that is not ASCII (or whose cut at 48 bytes would split a
 * character) still makes an owner name the store accepts: checked in a child with
 * its own UTS namespace, where the host name can be set (root only). */
static void check_odd_host_name(void) {
    pid_t child = fork();
    if (child == 0) {
        if (unshare(CLONE_NEWUTS) != 0) _exit(77);
        char name[64];
        memset(name, 'h', 47);
        memcpy(name + 47, "\xc3\xa9x:y", 6);
        if (sethostname(name, 52) != 0) _exit(77);
        char owner[256];
        sa_worker_owner_name(0, owner, sizeof owner);
        for (const char *p = owner; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) _exit(1);
        _exit(sa_worker_owner_dead(owner, NULL) == 0 ? 0 : 2);
    }
    int status = -1;
    waitpid(child, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("test_worker_owner: cannot set a host name here (not root): the odd host name "
               "is not checked\n");
        return;
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    check_odd_host_name();
    check_earlier_attempts();
    char me[256], place[256], owner[600];
    sa_worker_owner_name(0, me, sizeof me);
    CHECK(sa_worker_owner_dead(me, NULL) == 0); /* this process */
    long pid = 0;
    unsigned long long start = 0;
    CHECK(split_owner(me, place, &pid, &start) == 0);
    CHECK(pid == (long)getpid() && start > 0);

    /* the same pid with another start time: the pid was reused */
    snprintf(owner, sizeof owner, "%s:%ld:%llu:0", place, pid, start + 1);
    CHECK(sa_worker_owner_dead(owner, NULL) == 1);

    /* another host, boot or pid namespace, or an older name: unknown, so not dead */
    snprintf(owner, sizeof owner, "another-host-%s:%ld:%llu:0", place, pid, start + 1);
    CHECK(sa_worker_owner_dead(owner, NULL) == 0);
    snprintf(owner, sizeof owner, "%s9:%ld:%llu:0", place, pid, start + 1); /* another namespace */
    CHECK(sa_worker_owner_dead(owner, NULL) == 0);
    char host[128];
    host_name(host, sizeof host); /* the format before boot and namespace were in it */
    snprintf(owner, sizeof owner, "%s:%ld:%llu:0", host, pid, start + 1);
    CHECK(sa_worker_owner_dead(owner, NULL) == 0);

    /* a zombie (exited, not reaped): dead, though kill(pid, 0) still succeeds */
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0);
    snprintf(owner, sizeof owner, "%s:%ld:1:0", place, (long)child);
    int dead = 0;
    for (int i = 0; i < 200 && !dead; i++) { /* until the child has exited */
        dead = sa_worker_owner_dead(owner, NULL);
        if (!dead) usleep(10000);
    }
    CHECK(dead == 1);
    CHECK(kill(child, 0) == 0); /* still there as a zombie */
    waitpid(child, NULL, 0);
    /* gone */
    CHECK(sa_worker_owner_dead(owner, NULL) == 1);
    return test_report("test_worker_owner");
}
