/* test_dataset_tmp.c: the temporary folders of imports (datasets/dataset_tmp.c):
 * made with their lock file, left alone while held, removed once their import is
 * dead (or when an older version left one without a lock file), never through a
 * symlink; and an import whose folder another process removed and made again
 * (where file locks are not honoured) finds out before storing anything. */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "datasets.h"
#include "test.h"

static char root[] = "/tmp/test_dataset_tmp_XXXXXX";

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) fputs(text, f), fclose(f);
}

/* 1 when one of the notes names path and contains what */
static int noted(const sa_problems *p, const char *path, const char *what) {
    for (size_t i = 0; i < p->count; i++)
        if (strstr(p->msg[i], path) && strstr(p->msg[i], what)) return 1;
    return 0;
}

/* How many entries of dir start with prefix. */
static int count_prefixed(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    if (d) closedir(d);
    return n;
}

/* A child that holds the lock of folder path, as an older version's running import
 * did (no lock file); its pid once it holds it. */
static pid_t hold_folder_lock(const char *path) {
    int ready[2];
    if (pipe(ready)) return -1;
    pid_t child = fork();
    if (child == 0) {
        int fd = open(path, O_RDONLY | O_DIRECTORY);
        if (fd < 0 || flock(fd, LOCK_EX)) _exit(1);
        if (write(ready[1], "x", 1) != 1) _exit(1);
        pause();
        _exit(0);
    }
    char c;
    close(ready[1]);
    int ok = read(ready[0], &c, 1) == 1;
    close(ready[0]);
    return ok ? child : -1;
}

int main(void) {
    CHECK(mkdtemp(root) != NULL);
    char datasets[256], victim[256], file[300], link[300];
    snprintf(datasets, sizeof datasets, "%s/datasets", root);
    sa_error err;
    char created[256] = "";

    /* made: the folder and its lock file, held */
    sa_import_tmp t;
    CHECK(sa_import_tmp_create(datasets, "demo", created, sizeof created, &t, &err) == 0);
    CHECK(t.path && exists(t.path) && t.lock_path && exists(t.lock_path));
    CHECK(strcmp(created, datasets) == 0);
    CHECK(sa_import_tmp_check(&t, &err) == 0);

    /* held: reported as in progress, never removed */
    sa_problems notes;
    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 1, &notes, &err) == 0);
    CHECK(noted(&notes, t.path, "import in progress") && exists(t.path));
    sa_problems_free(&notes);

    /* a cleaner that did not see the lock (locks not honoured) removed the folder
     * and a later write made it again: the import finds out */
    char subdir[300];
    snprintf(subdir, sizeof subdir, "%s/cases", t.path);
    CHECK(mkdir(subdir, 0755) == 0);
    sa_ds_remove_tree(t.path);
    CHECK(!exists(t.path));
    CHECK(mkdir(t.path, 0755) == 0);
    CHECK(sa_import_tmp_check(&t, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "removed or replaced by another process");
    char path[300];
    snprintf(path, sizeof path, "%s", t.path);
    char lock_path[310];
    snprintf(lock_path, sizeof lock_path, "%s", t.lock_path);
    sa_import_tmp_end(&t, 1);
    CHECK(!exists(path) && !exists(lock_path) && t.path == NULL && t.lock_fd == -1 && t.dir_fd == -1);

    /* a killed import (lock released by the kernel) and an older version's folder
     * without a lock file: both removed, with their lock files */
    pid_t child = fork();
    if (child == 0) {
        sa_import_tmp killed;
        char none[8] = "";
        if (sa_import_tmp_create(datasets, "killed", none, sizeof none, &killed, &err)) _exit(1);
        FILE *f = fopen("/dev/null", "w");
        if (f) fprintf(f, "%s\n", killed.path), fclose(f);
        _exit(0); /* dies holding it: the kernel drops the lock */
    }
    int status = -1;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char older[300];
    snprintf(older, sizeof older, "%s/.tmp-older-AAAAAA", datasets);
    CHECK(mkdir(older, 0755) == 0);
    char older_file[320];
    snprintf(older_file, sizeof older_file, "%s/x.nii.gz", older);
    write_file(older_file, "partial");
    CHECK(chmod(older, 0555) == 0); /* read-only, as a folder about to be renamed */

    /* symlinks: one named .tmp-* pointing at a real folder, and one inside a dead
     * folder: neither is followed */
    snprintf(victim, sizeof victim, "%s/victim", root);
    CHECK(mkdir(victim, 0755) == 0);
    snprintf(file, sizeof file, "%s/keep.txt", victim);
    write_file(file, "held-out data");
    snprintf(link, sizeof link, "%s/.tmp-evil-BBBBBB", datasets);
    CHECK(symlink(victim, link) == 0);
    char inner[340];
    snprintf(inner, sizeof inner, "%s/to-victim", older);
    CHECK(chmod(older, 0755) == 0 && symlink(victim, inner) == 0 && chmod(older, 0555) == 0);

    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 0, &notes, &err) == 0); /* list: reports only */
    CHECK(noted(&notes, older, "the next import removes it") && exists(older));
    CHECK(noted(&notes, link, "not a folder of an import (left alone)"));
    sa_problems_free(&notes);
    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 1, &notes, &err) == 0);
    CHECK(noted(&notes, older, "removed: the partial copy") && !exists(older));
    CHECK(notes.count == 3); /* the killed one, the older one, the symlink */
    CHECK(exists(link) && exists(file)); /* the symlink left alone, its target whole */
    sa_problems_free(&notes);
    /* nothing of the killed import is left, its lock file included */
    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 1, &notes, &err) == 0 && notes.count == 1);
    sa_problems_free(&notes);

    /* an older version's import running now (no lock file, its folder locked) is
     * left alone, and removed once it died */
    char old_running[300];
    snprintf(old_running, sizeof old_running, "%s/.tmp-oldrun-CCCCCC", datasets);
    CHECK(mkdir(old_running, 0755) == 0);
    pid_t holder = hold_folder_lock(old_running);
    CHECK(holder > 0);
    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 1, &notes, &err) == 0);
    CHECK(noted(&notes, old_running, "import in progress") && exists(old_running));
    sa_problems_free(&notes);
    kill(holder, SIGKILL);
    waitpid(holder, &status, 0);
    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 1, &notes, &err) == 0);
    CHECK(noted(&notes, old_running, "removed") && !exists(old_running));
    sa_problems_free(&notes);

    /* an import of a dataset named "dead" looks like no claimed folder: while it
     * runs it is in progress, whatever its name */
    sa_import_tmp named_dead;
    CHECK(sa_import_tmp_create(datasets, "dead", created, sizeof created, &named_dead, &err) == 0);
    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 1, &notes, &err) == 0);
    CHECK(noted(&notes, named_dead.path, "import in progress") && exists(named_dead.path));
    sa_problems_free(&notes);
    sa_import_tmp_end(&named_dead, 1);

    /* an empty claimed folder (a cleaner died between making it and its rename)
     * goes without a line */
    char empty_claim[300];
    snprintf(empty_claim, sizeof empty_claim, "%s/.tmp-_dead-GGGGGG", datasets);
    CHECK(mkdir(empty_claim, 0700) == 0);
    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 1, &notes, &err) == 0);
    CHECK(!exists(empty_claim) && !noted(&notes, empty_claim, ""));
    sa_problems_free(&notes);

    /* a cleaner claims a dead folder by renaming it (.tmp-_dead-*), then removes it:
     * none is left; one a dead cleaner left is removed; a lone lock file too */
    CHECK(count_prefixed(datasets, ".tmp-_dead-") == 0);
    char dead[300], dead_file[320], lone[300];
    snprintf(dead, sizeof dead, "%s/.tmp-_dead-DDDDDD", datasets);
    CHECK(mkdir(dead, 0755) == 0);
    snprintf(dead_file, sizeof dead_file, "%s/x", dead);
    write_file(dead_file, "partial");
    snprintf(lone, sizeof lone, "%s/.tmp-lone-EEEEEE.lock", datasets);
    write_file(lone, "");
    sa_problems_init(&notes);
    CHECK(sa_dataset_leftovers(root, 1, &notes, &err) == 0);
    CHECK(noted(&notes, dead, "removed") && !exists(dead) && !exists(lone));
    sa_problems_free(&notes);

    /* an import whose folder a cleaner claimed (where locks are not honoured) is
     * refused: its folder is gone from its path */
    CHECK(sa_import_tmp_create(datasets, "claimed", created, sizeof created, &t, &err) == 0);
    char moved[300];
    snprintf(moved, sizeof moved, "%s/.tmp-_dead-FFFFFF", datasets);
    CHECK(rename(t.path, moved) == 0);
    CHECK(sa_import_tmp_check(&t, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "removed or replaced by another process");
    sa_import_tmp_end(&t, 1);
    sa_ds_remove_tree(moved);
    CHECK(!exists(moved));

    unlink(link);
    unlink(file);
    rmdir(victim);
    rmdir(datasets);
    rmdir(root);
    return test_report("test_dataset_tmp");
}
