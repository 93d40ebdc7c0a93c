/*
 * attempt_folders.c: the folders runs/<run>/<case>/<attempt>/ that each attempt of
 * a case keeps its log, mask and result in, and their removal once the case's
 * result is stored: at once by the job that stored it (job.c), and by the
 * worker's sweep for the folders that a worker killed between the result's commit
 * and that removal left behind (nothing else would ever remove them).
 *
 * Why the sweep is safe: it looks only at cases whose result row is committed. A
 * committed (run, case) never gets another result (unique, never updated), no job
 * of it is claimed again, and the attempt that stored it is named by the row
 * (attempts, and the paths it keeps), so the kept folder is known for good. The
 * only other writer there can be is a worker that lost its lease earlier (an
 * attempt older than the stored one); it checks its lease before every write
 * under runs/ and removes its own folder, exactly as when the storing job removes
 * the other attempts' folders itself. Cases without a committed result, runs the
 * store does not know, and entries that are not attempt numbers are left alone.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "files.h"
#include "worker_internal.h"

/* 1 when name is a plain decimal attempt number (what job.c names its folders). */
static int attempt_number(const char *name, long long *out) {
    if (!name[0] || strspn(name, "0123456789") != strlen(name) || strlen(name) > 18) return 0;
    *out = strtoll(name, NULL, 10);
    return 1;
}

void sa_attempt_folders_remove(const char *parent, long long keep) {
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long attempt;
        if (!attempt_number(e->d_name, &attempt) || attempt == keep) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", parent, e->d_name);
        sa_remove_tree(path);
    }
    closedir(d);
}

/* The attempt that path ("runs/<run>/<case>/<attempt>/...", relative to the data
 * directory, or ending so) keeps, when it lies in this case's folder: 1 and
 * *attempt; 0 when it lies elsewhere (a rescore names its parent's mask); -1 when
 * it lies in this case's folder but its attempt cannot be read (then nothing of
 * the case is removed). */
static int kept_attempt(const char *path, int64_t run_id, const char *case_id, long long *attempt) {
    if (!path) return 0;
    char prefix[200];
    snprintf(prefix, sizeof prefix, "runs/%lld/%s/", (long long)run_id, case_id);
    size_t pl = strlen(prefix);
    const char *p = NULL;
    if (!strncmp(path, prefix, pl)) {
        p = path + pl;
    } else {
        const char *q = path;
        while ((q = strstr(q, prefix))) { /* an absolute path of an older result */
            if (q > path && q[-1] == '/') p = q + pl;
            q++;
        }
    }
    if (!p) return 0;
    const char *slash = strchr(p, '/');
    char part[32];
    if (!slash || (size_t)(slash - p) >= sizeof part) return -1;
    snprintf(part, sizeof part, "%.*s", (int)(slash - p), p);
    return attempt_number(part, attempt) ? 1 : -1;
}

/* The folders of runs/<run>/<case>/ to keep by its committed row: its paths'
 * attempts, and the storing attempt's own (result.json, or a log kept beside
 * nothing), except for a platform failure stored by sa_job_store_platform_failure,
 * which refers to no attempt's files. 0, or -1 when the row names a folder of the
 * case it cannot read (keep everything). */
static int kept_set(const sa_case_result_row *row, int64_t run_id, const char *case_id,
                    long long kept[3], int *n_kept) {
    *n_kept = 0;
    const char *paths[2] = {row->output_path, row->log_path};
    for (int i = 0; i < 2; i++) {
        long long a;
        int k = kept_attempt(paths[i], run_id, case_id, &a);
        if (k < 0) return -1;
        if (k == 1) kept[(*n_kept)++] = a;
    }
    int platform_failure = !strcmp(row->error_class, "engine_error: platform error") &&
                           !row->result_json && !row->output_path && !row->log_path;
    if (!platform_failure) kept[(*n_kept)++] = (long long)row->attempts;
    return 0;
}

/* The attempt folders of one case folder (runs/<run>/<case>) that its committed
 * result does not keep. */
static void sweep_case(sa_store *st, const char *case_dir, int64_t run_id, const char *case_id) {
    DIR *d = opendir(case_dir);
    if (!d) return;
    int has_attempts = 0;
    struct dirent *e;
    while (!has_attempts && (e = readdir(d))) {
        long long a;
        has_attempts = attempt_number(e->d_name, &a);
    }
    closedir(d);
    if (!has_attempts) return;
    sa_case_result_row row;
    sa_error ignored;
    if (sa_store_case_result_get(st, run_id, case_id, &row, &ignored) != 1) return; /* not stored (yet) */
    long long kept[3];
    int n_kept = 0;
    int ok = kept_set(&row, run_id, case_id, kept, &n_kept) == 0;
    sa_case_result_row_free(&row);
    if (!ok) return;
    if (!(d = opendir(case_dir))) return;
    while ((e = readdir(d))) {
        long long a;
        if (!attempt_number(e->d_name, &a)) continue;
        int keep = 0;
        for (int i = 0; i < n_kept; i++) keep |= kept[i] == a;
        if (keep) continue;
        char path[5100];
        if (snprintf(path, sizeof path, "%s/%s", case_dir, e->d_name) < (int)sizeof path)
            sa_remove_tree(path);
    }
    closedir(d);
}

int sa_attempt_folders_sweep(const char *data_dir, sa_store *st, sa_error *err) {
    char runs[4200];
    if (snprintf(runs, sizeof runs, "%s/runs", data_dir) >= (int)sizeof runs)
        return sa_error_set(err, "%s: path too long", data_dir);
    DIR *rd = opendir(runs);
    if (!rd) return errno == ENOENT ? 0 : sa_error_set(err, "%s: %s", runs, strerror(errno));
    struct dirent *re;
    while ((re = readdir(rd))) {
        long long run_id;
        if (!attempt_number(re->d_name, &run_id) || run_id <= 0) continue;
        char run_dir[4500];
        if (snprintf(run_dir, sizeof run_dir, "%s/%s", runs, re->d_name) >= (int)sizeof run_dir) continue;
        DIR *cd = opendir(run_dir);
        if (!cd) continue;
        struct dirent *ce;
        while ((ce = readdir(cd))) {
            if (ce->d_name[0] == '.' || strlen(ce->d_name) >= 72) continue; /* not a case id */
            char case_dir[4800];
            if (snprintf(case_dir, sizeof case_dir, "%s/%s", run_dir, ce->d_name) >= (int)sizeof case_dir)
                continue;
            struct stat sb;
            if (lstat(case_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
            sweep_case(st, case_dir, (int64_t)run_id, ce->d_name);
        }
        closedir(cd);
    }
    closedir(rd);
    return 0;
}
