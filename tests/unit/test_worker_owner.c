/*
 * test_worker_owner.c: unit tests of sa_worker_owner_dead (evaluator/worker.c),
 * which lets a worker take over a dead worker's jobs at once rather than after
 * the lease: a live owner, a zombie, a process gone, a reused pid, another host.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evaluator.h"
#include "test.h"

static void host_name(char *host, size_t size) {
    memset(host, 0, size);
    gethostname(host, size - 1);
    for (char *h = host; *h; h++)
        if (*h == ':') *h = '_';
}

int main(void) {
    char me[256], host[128], owner[512];
    sa_worker_owner_name(0, me, sizeof me);
    CHECK(sa_worker_owner_dead(me, NULL) == 0); /* this process */
    host_name(host, sizeof host);

    /* the same pid with another start time: the pid was reused */
    long pid;
    unsigned long long start;
    CHECK(sscanf(me + strlen(host) + 1, "%ld:%llu:", &pid, &start) == 2);
    snprintf(owner, sizeof owner, "%s:%ld:%llu:0", host, pid, start + 1);
    CHECK(sa_worker_owner_dead(owner, NULL) == 1);

    /* another host: unknown, so not dead */
    snprintf(owner, sizeof owner, "another-host-%s:%ld:%llu:0", host, pid, start);
    CHECK(sa_worker_owner_dead(owner, NULL) == 0);

    /* a zombie (exited, not reaped): dead, though kill(pid, 0) still succeeds */
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0);
    snprintf(owner, sizeof owner, "%s:%ld:1:0", host, (long)child);
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
