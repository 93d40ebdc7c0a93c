/* test_tmp_cleanup.c: the temporary paths an interrupted command removes
 * (datasets/tmp_cleanup.c). A child process waits for the signals, makes a -o
 * style file, an ITK style folder and its link from several threads, and is
 * sent SIGTERM or SIGINT while they exist: it must die of the signal and leave
 * nothing. Paths forgotten are not touched; an ignored signal stays ignored. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "tmp_cleanup.h"

static char root[] = "/tmp/test_tmp_cleanup_XXXXXX";

static int entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* a worker thread: a folder with a link in it, as image.c makes for ITK */
static void *make_folder(void *dir) {
    char folder[512], link[600];
    snprintf(folder, sizeof folder, "%s/segarena-itk-XXXXXX", (const char *)dir);
    if (!sa_tmp_mkdtemp(folder)) return NULL;
    snprintf(link, sizeof link, "%s/image.nii.gz", folder);
    sa_tmp_symlink("/nonexistent/target.nii.gz", link);
    for (;;) pause(); /* the read, interrupted */
}

/* The child: made paths, then a line on the pipe, then waits to be signalled. */
static void child(const char *dir, int ready_fd) {
    sa_error err = {{0}};
    if (sa_tmp_cleanup_on_signals(&err) != 0) _exit(3);
    char kept[512], file[512];
    /* a file made, then removed and forgotten by its owner: never touched again */
    snprintf(kept, sizeof kept, "%s/kept.tmp-XXXXXX", dir);
    int fd = sa_tmp_mkstemp(kept);
    if (fd < 0) _exit(4);
    close(fd);
    sa_tmp_forget(kept); /* as after a rename: the name now belongs to someone else */
    snprintf(file, sizeof file, "%s/res.csv.tmp-XXXXXX", dir);
    if ((fd = sa_tmp_mkstemp(file)) < 0) _exit(5);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, make_folder, (void *)dir);
    while (entries(dir) < 5) usleep(1000); /* kept, file, 3 folders */
    /* and each folder's link */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, "segarena-itk-", 13)) {
            char path[700];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            while (entries(path) < 1) usleep(1000);
        }
    if (d) closedir(d);
    if (write(ready_fd, "r", 1) != 1) _exit(6);
    for (;;) pause();
}

static void interrupted(int sig) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%d", root, sig);
    CHECK(mkdir(dir, 0755) == 0);
    int p[2];
    CHECK(pipe(p) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child(dir, p[1]);
    }
    close(p[1]);
    char c;
    CHECK(read(p[0], &c, 1) == 1);
    close(p[0]);
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == sig);
    /* only the forgotten file is left */
    CHECK(entries(dir) == 1);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            CHECK(!strncmp(e->d_name, "kept.tmp-", 9));
            char path[600];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d) closedir(d);
    rmdir(dir);
}

/* A signal ignored when the command starts (a background job's SIGINT) stays
 * ignored: the child outlives it, then ends normally. */
static void ignored_stays_ignored(void) {
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_IGN);
        if (sa_tmp_cleanup_on_signals(NULL) != 0) _exit(3);
        raise(SIGINT);
        kill(getpid(), SIGINT);
        usleep(100 * 1000);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    interrupted(SIGTERM);
    interrupted(SIGINT);
    interrupted(SIGHUP);
    ignored_stays_ignored();
    CHECK(entries(root) == 0);
    rmdir(root);
    return test_report("test_tmp_cleanup");
}
