/*
 * bids_write.c: writes a synthetic test set (phantom_*.c) in the BIDS layout
 * that docs/phantoms.md describes and the importer reads: raw images under
 * sub-<id>/anat|pet, each rater's masks under derivatives/raterK, the true
 * masks under derivatives/truth (desc-truth, so they are not taken for a rater).
 * Everything is written into a temporary sibling folder, renamed into place at
 * the end, and removed on failure. Cases are generated in parallel; each case's
 * bytes depend only on (options, case index), never on the thread count.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "phantom_internal.h"

#include <stdarg.h>

/* snprintf into a fixed buffer (paths here are bounded by the 3800-byte root check). */
static void fmt_into(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}
#define FMT(buf, ...) fmt_into(buf, sizeof buf, __VA_ARGS__)

static const char *ms_suffix(const char *role) {
    if (!strcmp(role, "flair")) return "FLAIR";
    if (!strcmp(role, "t1")) return "T1w";
    if (!strcmp(role, "t2")) return "T2w";
    if (!strcmp(role, "dp")) return "PDw";
    if (!strcmp(role, "t1gd")) return "ce-gadolinium_T1w";
    if (!strcmp(role, "ct")) return "ct";
    return "pet";
}

static int mkdir_p(const char *path, sa_error *err) {
    char buf[4096];
    size_t len = strlen(path);
    if (len >= sizeof buf) return sa_error_set(err, "%s: path too long", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return sa_error_set(err, "%s: cannot create folder: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return 0;
}

static int write_text(const char *path, const char *text, sa_error *err) {
    FILE *fp = fopen(path, "w");
    if (!fp) return sa_error_set(err, "%s: cannot create: %s", path, strerror(errno));
    int bad = fputs(text, fp) < 0;
    if (fclose(fp) != 0) bad = 1;
    return bad ? sa_error_set(err, "%s: cannot write", path) : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

typedef struct job {
    const sa_phantom_options *opt;
    const char *root;
    pthread_mutex_t lock;
    int next;
    int failed;
    sa_error err;
} job;

static int write_case(const job *j, int index, sa_error *err) {
    sa_phantom_case c;
    if (sa_phantom_generate(j->opt, index, &c, err) != 0) return -1;
    const int pet = j->opt->kind == SA_PHANTOM_PET;
    const char *sub_dir = pet ? "pet" : "anat";
    char dir[4096], path[4200];
    int rc = 0;
    for (size_t i = 0; i < c.n_images && rc == 0; i++) {
        const int is_ct = !strcmp(c.roles[i], "ct");
        FMT(dir, "%s/sub-%s/%s", j->root, c.id, pet && !is_ct ? "pet" : "anat");
        rc = mkdir_p(dir, err);
        if (rc) break;
        FMT(path, "%s/sub-%s_%s.nii.gz", dir, c.id, ms_suffix(c.roles[i]));
        rc = sa_nifti_write(path, &c.images[i], 1, err);
        if (rc == 0 && pet && !is_ct) {
            FMT(path, "%s/sub-%s_pet.json", dir, c.id);
            rc = write_text(path,
                            "{\n  \"Modality\": \"PT\",\n  \"Units\": \"SUV\",\n"
                            "  \"TracerName\": \"FDG\",\n  \"TracerRadionuclide\": \"F18\",\n"
                            "  \"ImageDecayCorrected\": true,\n  \"AttenuationCorrection\": \"simulated\",\n"
                            "  \"ReconFilterType\": \"Gaussian\",\n  \"ReconFilterSize\": 6,\n"
                            "  \"Description\": \"SegArena synthetic PET phantom\"\n}\n",
                            err);
        }
    }
    sa_image mask;
    mask = c.images[0];
    mask.type = SA_PIXEL_U8;
    mask.block = NULL;
    for (size_t k = 0; k <= c.n_raters && rc == 0; k++) {
        char rater[16];
        if (k < c.n_raters) FMT(rater, "rater%zu", k + 1);
        else FMT(rater, "truth");
        FMT(dir, "%s/derivatives/%s/sub-%s/%s", j->root, rater, c.id, sub_dir);
        rc = mkdir_p(dir, err);
        if (rc) break;
        FMT(path, "%s/sub-%s_desc-%s_mask.nii.gz", dir, c.id,
                 k < c.n_raters ? "lesion" : "truth");
        mask.data = k < c.n_raters ? c.raters[k] : c.truth;
        rc = sa_nifti_write(path, &mask, 1, err);
    }
    sa_phantom_case_free(&c);
    return rc;
}

static void *worker(void *arg) {
    job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int i = j->failed ? j->opt->cases : j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->opt->cases) break;
        sa_error e = {{0}};
        if (write_case(j, i, &e) != 0) {
            pthread_mutex_lock(&j->lock);
            if (!j->failed) j->err = e;
            j->failed = 1;
            pthread_mutex_unlock(&j->lock);
        }
    }
    return NULL;
}

static int write_top_level(const char *root, const sa_phantom_options *opt, sa_error *err) {
    const int pet = opt->kind == SA_PHANTOM_PET;
    char path[4200], text[2048], desc[512];
    if (pet)
        snprintf(desc, sizeof desc,
                 "segarena dataset make-demo --kind pet --cases %d --seed %llu --tbr %g,%g%s%s",
                 opt->cases, (unsigned long long)opt->seed, opt->tbr_lo, opt->tbr_hi,
                 opt->anisotropic ? " --anisotropic" : "", opt->ct ? " --ct" : "");
    else
        FMT(desc, "segarena dataset make-demo --kind ms --cases %d --seed %llu --size %zux%zux%zu",
                 opt->cases, (unsigned long long)opt->seed, opt->size[0], opt->size[1], opt->size[2]);
    snprintf(text, sizeof text,
             "{\n  \"Name\": \"SegArena synthetic %s test set (seed %llu)\",\n"
             "  \"BIDSVersion\": \"1.8.0\",\n  \"DatasetType\": \"raw\",\n"
             "  \"License\": \"CC0\",\n"
             "  \"GeneratedBy\": [\n    {\n      \"Name\": \"SegArena\",\n"
             "      \"Description\": \"%s\",\n"
             "      \"Seed\": %llu,\n      \"Kind\": \"%s\",\n      \"Cases\": %d\n    }\n  ]\n}\n",
             pet ? "PET" : "MS", (unsigned long long)opt->seed, desc, (unsigned long long)opt->seed,
             pet ? "pet" : "ms", opt->cases);
    FMT(path, "%s/dataset_description.json", root);
    if (write_text(path, text, err)) return -1;
    size_t cap = 64 + (size_t)opt->cases * 32, len = 0;
    char *tsv = malloc(cap);
    if (!tsv) return sa_error_set(err, "%s: out of memory", root);
    len += (size_t)snprintf(tsv + len, cap - len, "participant_id\tsplit\n");
    for (int i = 0; i < opt->cases; i++)
        len += (size_t)snprintf(tsv + len, cap - len, "sub-%s%02d\ttest\n", pet ? "pet" : "ms", i + 1);
    FMT(path, "%s/participants.tsv", root);
    int rc = write_text(path, tsv, err);
    free(tsv);
    if (rc) return -1;
    int raters = pet ? 3 : 7;
    for (int k = 0; k <= raters; k++) {
        char name[16];
        if (k < raters) FMT(name, "rater%d", k + 1);
        else FMT(name, "truth");
        FMT(path, "%s/derivatives/%s", root, name);
        if (mkdir_p(path, err)) return -1;
        snprintf(text, sizeof text,
                 "{\n  \"Name\": \"%s %s\",\n  \"BIDSVersion\": \"1.8.0\",\n"
                 "  \"DatasetType\": \"derivative\",\n"
                 "  \"GeneratedBy\": [\n    {\n      \"Name\": \"SegArena\",\n"
                 "      \"Description\": \"%s\"\n    }\n  ]\n}\n",
                 k < raters ? "Simulated rater" : "Ground truth of the phantom", name,
                 k < raters ? "simulated rater masks (desc-lesion)" : "the true masks (desc-truth)");
        FMT(path, "%s/derivatives/%s/dataset_description.json", root, name);
        if (write_text(path, text, err)) return -1;
    }
    return 0;
}

/* A failure of the host (full disk, I/O error, no memory), not of the path given. */
static int host_fault(int e) {
    return e == ENOSPC || e == EDQUOT || e == EIO || e == ENOMEM || e == EMFILE || e == ENFILE;
}

/* mkdir -p of the folder that will hold DIR: a part that is no folder or cannot
 * be made is DIR's fault (SA_PHANTOM_BAD_OUT), a full disk the host's (-1). */
static int make_parent(const char *dir, const char *parent, sa_error *err) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", parent);
    size_t len = strlen(buf);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            sa_error_set(err, "%s: cannot create its folder %s: %s", dir, buf, strerror(e));
            return host_fault(e) ? -1 : SA_PHANTOM_BAD_OUT;
        }
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
            sa_error_set(err, "%s: %s is not a folder", dir, buf);
            return SA_PHANTOM_BAD_OUT;
        }
        buf[i] = c;
    }
    return 0;
}

/* What DIR is now; 0 when the set can be renamed onto it (missing, or an empty
 * folder), else SA_PHANTOM_BAD_OUT with one line. A symbolic link is refused,
 * dangling or not: the rename would replace the link, not fill what it names. */
static int check_out(const char *dir, const char *target, sa_error *err) {
    struct stat st;
    if (lstat(target, &st) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) return 0; /* make_parent names what is missing */
        sa_error_set(err, "%s: %s", dir, strerror(e));
        return host_fault(e) ? -1 : SA_PHANTOM_BAD_OUT;
    }
    if (S_ISLNK(st.st_mode)) {
        char to[4096];
        ssize_t n = readlink(target, to, sizeof to - 1);
        to[n > 0 ? n : 0] = '\0';
        struct stat tst;
        if (stat(target, &tst) != 0)
            sa_error_set(err, "%s: is a dangling symbolic link (to %s); --out takes a folder to create "
                         "or an empty folder, not a link", dir, to);
        else
            sa_error_set(err, "%s: is a symbolic link (to %s); --out takes a folder to create or an "
                         "empty folder, not a link (give %s itself)", dir, to, to);
        return SA_PHANTOM_BAD_OUT;
    }
    if (!S_ISDIR(st.st_mode)) {
        sa_error_set(err, "%s: exists and is %s, not a folder", dir,
                     S_ISREG(st.st_mode) ? "a file" : "something else");
        return SA_PHANTOM_BAD_OUT;
    }
    DIR *d = opendir(target);
    if (!d) {
        int e = errno;
        sa_error_set(err, "%s: cannot list the folder: %s", dir, strerror(e));
        return host_fault(e) ? -1 : SA_PHANTOM_BAD_OUT;
    }
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    if (!empty) {
        sa_error_set(err, "%s: exists and is not an empty folder", dir);
        return SA_PHANTOM_BAD_OUT;
    }
    return 0;
}

int sa_phantom_write_dataset(const char *dir, const sa_phantom_options *opt, sa_error *err) {
    if (!dir || !*dir) {
        sa_error_set(err, "(empty path): no output folder given");
        return SA_PHANTOM_BAD_OUT;
    }
    if (!opt || opt->cases < 1 || opt->cases > 99)
        return sa_error_set(err, "%s: the number of cases must be 1 to 99", dir);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    if (len > 3800) {
        sa_error_set(err, "%s: path too long", dir);
        return SA_PHANTOM_BAD_OUT;
    }
    char target[4096], tmp[4200];
    memcpy(target, dir, len);
    target[len] = '\0';
    /* every check of DIR before any case is generated (DIR itself with the
     * trailing slashes dropped: "link/" would follow the link) */
    int rc = check_out(dir, target, err);
    if (rc != 0) return rc;
    const char *slash = strrchr(target, '/');
    if (slash)
        FMT(tmp, "%.*s/.%s.tmp-XXXXXX", (int)(slash - target), target, slash + 1);
    else
        FMT(tmp, ".%s.tmp-XXXXXX", target);
    if (slash && slash != target) {
        char parent[4096];
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - target), target);
        if ((rc = make_parent(dir, parent, err)) != 0) return rc;
    }
    if (!mkdtemp(tmp)) {
        int e = errno;
        char parent[4096];
        snprintf(parent, sizeof parent, "%.*s", slash ? (slash == target ? 1 : (int)(slash - target)) : 1,
                 slash ? target : ".");
        sa_error_set(err, "%s: cannot create a folder in %s: %s", dir, parent, strerror(e));
        return host_fault(e) ? -1 : SA_PHANTOM_BAD_OUT;
    }
    chmod(tmp, 0755);
    sa_error e = {{0}};
    rc = write_top_level(tmp, opt, &e);
    if (rc == 0) {
        job j;
        memset(&j, 0, sizeof j);
        j.opt = opt;
        j.root = tmp;
        pthread_mutex_init(&j.lock, NULL);
        int nt = opt->threads > 0 ? opt->threads : sa_cpu_count();
        if (nt > opt->cases) nt = opt->cases;
        if (nt > 64) nt = 64;
        pthread_t th[64];
        int started = 0;
        for (int t = 1; t < nt; t++)
            if (pthread_create(&th[started], NULL, worker, &j) == 0) started++;
        worker(&j);
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        pthread_mutex_destroy(&j.lock);
        if (j.failed) {
            e = j.err;
            rc = -1;
        }
    }
    if (rc == 0 && rename(tmp, target) != 0) {
        sa_error_set(&e, "cannot move the finished set into place: %s", strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        remove_tree(tmp);
        /* messages from the writers name files inside the temporary folder */
        return sa_error_set(err, "%s: %s", dir, e.msg);
    }
    return 0;
}
