/*
 * dataset_import.c: `segarena dataset import`: checks a scanned source folder
 * (bids_scan.c) completely, stores its files in DATA_DIR/datasets/.tmp-NAME-XXXXXX
 * (locked while the import runs, dataset_tmp.c; NIfTI files copied or
 * hard-linked; DICOM series and other formats such as .mha, .mhd or .nrrd
 * converted to NIfTI), writes dataset.json, makes the folder read-only and renames
 * it into place. Every problem is collected; on any, the temporary folder (and any
 * folder the import made) is removed and nothing is left behind.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "image_internal.h"

void sa_import_options_default(sa_import_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->data_dir = "./segarena-data";
    opt->split = "test";
    opt->mask_desc = "lesion";
    opt->copy = 1; /* hard links would make the organiser's own files read-only */
}

void sa_import_report_free(sa_import_report *r) {
    if (r) sa_problems_free(&r->notes);
}

int sa_file_sha256(const char *path, char hex[65], uint64_t *bytes, sa_error *err) {
    static int sodium_ready;
    if (!sodium_ready) {
        if (sodium_init() < 0) return sa_error_set(err, "libsodium cannot be initialised");
        sodium_ready = 1;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) return sa_error_set(err, "%s: cannot open (%s)", path, strerror(errno));
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[1 << 16];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return sa_error_set(err, "%s: read error (%s)", path, strerror(errno));
        }
        if (n == 0) break;
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
        total += (uint64_t)n;
    }
    close(fd);
    unsigned char out[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, out);
    sodium_bin2hex(hex, 65, out, sizeof out);
    if (bytes) *bytes = total;
    return 0;
}

static int copy_file(const char *src, const char *dst, sa_error *err) {
    int in = open(src, O_RDONLY | O_NOFOLLOW);
    if (in < 0) return sa_error_set(err, "%s: cannot open (%s)", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (out < 0) {
        close(in);
        return sa_error_set(err, "%s: cannot create (%s)", dst, strerror(errno));
    }
    char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = sa_error_set(err, "%s: read error (%s)", src, strerror(errno));
            break;
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                rc = sa_error_set(err, "%s: write error (%s)", dst, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc) break;
    }
    close(in);
    if (close(out) && !rc) rc = sa_error_set(err, "%s: write error (%s)", dst, strerror(errno));
    return rc;
}

/* chmod a-w on a tree (folders after their contents). */
static int make_read_only(const char *path, sa_error *err) {
    struct stat st;
    if (lstat(path, &st)) return sa_error_set(err, "%s: %s", path, strerror(errno));
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return sa_error_set(err, "%s: %s", path, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d)) && !rc) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = sa_path_join(path, e->d_name);
            rc = p ? make_read_only(p, err) : sa_error_set(err, "out of memory");
            free(p);
        }
        closedir(d);
    }
    if (!rc && !S_ISLNK(st.st_mode) && chmod(path, st.st_mode & ~(mode_t)(S_IWUSR | S_IWGRP | S_IWOTH) & 07777))
        rc = sa_error_set(err, "%s: cannot make read-only (%s)", path, strerror(errno));
    return rc;
}

int sa_dataset_dir(const char *data_dir, const char *name, char *buf, size_t size, sa_error *err) {
    if (!sa_dataset_id_valid(name))
        return sa_error_set(err, "dataset name \"%s\" %s (" SA_ID_PATTERN ")", name, sa_id_problem(name));
    if (snprintf(buf, size, "%s/datasets/%s", data_dir ? data_dir : "./segarena-data", name) >= (int)size)
        return sa_error_set(err, "%s: data directory path too long", data_dir);
    return 0;
}

/* index of s in list, or -1 */
static long find_id(char **list, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s)) return (long)i;
    return -1;
}

static int add_unique(char ***list, size_t *n, const char *s) {
    if (find_id(*list, *n, s) >= 0) return 0;
    char **v = realloc(*list, (*n + 1) * sizeof *v);
    if (!v) return -1;
    *list = v;
    if (!(v[*n] = sa_strdup(s))) return -1;
    (*n)++;
    return 0;
}

/* Only NIfTI files (.nii, .nii.gz, read as such) are stored byte for byte; a
 * DICOM series or any other format (.mha, .mhd with its data file, .nrrd, ...)
 * is converted to .nii.gz from the image already read. */
static int stored_as_is(const sa_scan_item *it) {
    return !it->dicom && (sa_has_suffix(it->src, ".nii") || sa_has_suffix(it->src, ".nii.gz"));
}

static const char *image_ext(const sa_scan_item *it) {
    return stored_as_is(it) && sa_has_suffix(it->src, ".nii") ? ".nii" : ".nii.gz";
}

/* A hard-linked file (--link): the store's path and the inode's mode before the
 * import made it read-only. The inode is the organiser's own source file, so a
 * refused import gives it its mode back. */
typedef struct linked_file {
    char *dst;
    dev_t dev;
    ino_t ino;
    mode_t mode;
} linked_file;

typedef struct importer {
    const sa_import_options *opt;
    sa_import_report *report;
    sa_problems *problems;
    char *tmp;   /* temporary dataset folder (tmp_folder.path), NULL when not created */
    sa_import_tmp tmp_folder; /* with its lock (dataset_tmp.c), held until the import ends */
    int oom;
    char source_root[PATH_MAX]; /* real path of the source folder */
    linked_file *links;         /* the files hard-linked so far */
    size_t n_links;
    int made_read_only;         /* this import began making its files read-only */
} importer;

/* The real path of a source file at the moment it is stored, checked again to
 * lie inside the source folder: a symlink swapped since the scan must not bring
 * a file from elsewhere in. The caller then opens it with O_NOFOLLOW. */
static int resolve_source(const importer *im, const char *src, char *real, sa_error *err) {
    if (!realpath(src, real)) return sa_error_set(err, "%s: %s", src, strerror(errno));
    size_t n = strlen(im->source_root);
    if (strncmp(real, im->source_root, n) != 0 || (real[n] != '/' && real[n] != '\0'))
        return sa_error_set(err, "%s: now points outside the source folder (to %s)", src, real);
    return 0;
}

static void problem(importer *im, const char *msg) {
    if (sa_problems_add(im->problems, "%s", msg)) im->oom = 1;
}

#define problemf(im, ...)                                                  \
    do {                                                                   \
        if (sa_problems_add((im)->problems, __VA_ARGS__)) (im)->oom = 1;   \
    } while (0)

/* Checks (and, while no problem has been found, stores) one file. */
static void store_file(importer *im, sa_dataset_case *dc, const sa_scan_case *k, const sa_scan_item *it,
                       int rater, sa_dataset_file *f, int *have_geometry, sa_image *ref, char **ref_path) {
    sa_error err;
    sa_image img;
    if (!it->dicom && it->sha256[0]) { /* manifest source: the file must match its record */
        char hex[65];
        if (sa_file_sha256(it->src, hex, NULL, &err)) return problem(im, err.msg);
        if (strcmp(hex, it->sha256)) {
            problemf(im, "%s: sha256 differs from the manifest's", it->src);
            return;
        }
    }
    /* confined to the source folder: the scan checked the path listed, and a
     * series folder's files or a .mhd's data file could still lead out of it */
    int read_rc = im->source_root[0] ? sa_image_read_inside(it->src, im->source_root, &img, &err)
                                     : sa_image_read(it->src, &img, &err);
    if (read_rc) return problem(im, err.msg);
    int ok = 1;
    if (rater && sa_image_check_binary(&img, it->src, &err)) {
        problemf(im, "%s (import stores rater masks as they are: convert this one to 0 and 1 first)", err.msg);
        ok = 0;
    }
    if (!*have_geometry) {
        *ref = img;
        *ref_path = it->src;
        *have_geometry = 1;
        for (int i = 0; i < 3; i++) {
            dc->size[i] = img.size[i];
            dc->spacing[i] = img.spacing[i];
            dc->origin[i] = img.origin[i];
        }
        memcpy(dc->direction, img.direction, sizeof dc->direction);
        memset(&img, 0, sizeof img);
    } else {
        if (sa_image_same_geometry(ref, *ref_path, &img, it->src, &err)) {
            problem(im, err.msg);
            ok = 0;
        }
    }
    if (!ok || im->problems->count || im->oom) {
        sa_image_free(&img);
        return;
    }
    /* store */
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "cases/%s/%s%s%s", dc->id, rater ? "raters/" : "", it->key,
             image_ext(it));
    char *dst = sa_path_join(im->tmp, rel);
    char *dir = dst ? sa_strdup(dst) : NULL;
    if (!dst || !dir) {
        im->oom = 1;
        free(dst);
        free(dir);
        sa_image_free(&img);
        return;
    }
    *strrchr(dir, '/') = 0;
    int rc = sa_ds_mkdir_p(dir, NULL, 0, &err);
    if (!rc && !stored_as_is(it)) {
        const sa_image *src_img = img.data ? &img : ref; /* ref holds it when it was the first */
        char uid[256];
        if (it->dicom) rc = sa_itk_dicom_series_uid(it->src, uid, sizeof uid, &err);
        if (!rc) rc = sa_image_write(dst, src_img, &err);
        if (!rc && it->dicom && !(f->dicom_series_uid = sa_strdup(uid))) im->oom = 1;
        if (!rc) im->report->converted++;
    } else if (!rc) {
        /* the real path, checked again and never a symlink: a source symlink is
         * stored as the file it points to */
        char real[PATH_MAX];
        rc = resolve_source(im, it->src, real, &err);
        if (!rc && !im->opt->copy && linkat(AT_FDCWD, real, AT_FDCWD, dst, 0) == 0) {
            im->report->linked++;
            struct stat st;
            linked_file *v = realloc(im->links, (im->n_links + 1) * sizeof *v);
            if (!v) im->oom = 1;
            else im->links = v;
            if (lstat(dst, &st)) rc = sa_error_set(&err, "%s: %s", dst, strerror(errno));
            else if (v && !(v[im->n_links].dst = sa_strdup(dst))) im->oom = 1;
            else if (v) {
                v[im->n_links].dev = st.st_dev;
                v[im->n_links].ino = st.st_ino;
                v[im->n_links++].mode = st.st_mode & 07777;
            }
        } else if (!rc) {
            rc = copy_file(real, dst, &err);
            if (!rc) im->report->copied++;
        }
    }
    if (!rc) rc = sa_file_sha256(dst, f->sha256, &f->bytes, &err);
    if (!rc && !(f->path = sa_strdup(rel))) im->oom = 1;
    if (rc) problem(im, err.msg);
    (void)k;
    free(dst);
    free(dir);
    sa_image_free(&img);
}

/* A refused import gives the hard-linked source files their modes back (made
 * read-only with the store, being the same inodes), through the store's links,
 * still in the temporary folder, when they are still those inodes; only when
 * this import made them read-only, and never an inode that has a third link
 * (a stored dataset's: another --link import of the same source won the name,
 * and its files must stay read-only). */
static void restore_linked(importer *im) {
    if (!im->made_read_only) return;
    for (size_t i = 0; i < im->n_links; i++) {
        const linked_file *l = &im->links[i];
        struct stat st;
        if (lstat(l->dst, &st) || st.st_dev != l->dev || st.st_ino != l->ino || !S_ISREG(st.st_mode))
            problemf(im, "%s: cannot give the linked source file its mode %04o back (it is gone)", l->dst,
                     (unsigned)l->mode);
        else if ((st.st_mode & 07777) != l->mode && st.st_nlink > 2)
            problemf(im, "%s: the linked source file stays read-only: another stored dataset links it "
                         "(%ju links)", l->dst, (uintmax_t)st.st_nlink);
        else if ((st.st_mode & 07777) != l->mode && chmod(l->dst, l->mode))
            problemf(im, "%s: cannot give the linked source file its mode %04o back (%s)", l->dst,
                     (unsigned)l->mode, strerror(errno));
    }
}

static void iso_now(char *buf, size_t size) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *guess_kind(const sa_dataset *ds) {
    if (find_id(ds->roles, ds->n_roles, "pet") >= 0) return "pet";
    if (find_id(ds->roles, ds->n_roles, "flair") >= 0) return "ms";
    return "other";
}

int sa_dataset_import(const sa_import_options *opt_in, sa_import_report *report, sa_problems *problems,
                      sa_error *err) {
    sa_import_options opt = *opt_in;
    if (!opt.data_dir) opt.data_dir = "./segarena-data";
    if (!opt.split) opt.split = "test";
    if (!opt.mask_desc) opt.mask_desc = "lesion";
    memset(report, 0, sizeof *report);
    sa_problems_init(&report->notes);
    size_t before = problems->count;
    importer im = {&opt, report, problems, NULL, {NULL, NULL, -1, -1}, 0, "", NULL, 0, 0};
    char created_dirs[PATH_MAX] = ""; /* the topmost folder this import made, if any */
    if (opt.source && !realpath(opt.source, im.source_root)) im.source_root[0] = '\0';
    sa_scan scan;
    sa_dataset ds;
    memset(&ds, 0, sizeof ds);
    char final_dir[PATH_MAX], datasets_dir[PATH_MAX] = "";
    int rc = -1;

    if (opt.split && !sa_dataset_id_valid(opt.split)) {
        sa_error_set(err, "split \"%s\" is not a valid id", opt.split);
        problem(&im, err->msg);
        return -1;
    }
    /* dataset.json is JSON: a description that is not UTF-8 could not be stored */
    size_t bad_byte = opt.description ? sa_dataset_utf8_bad_byte(opt.description) : 0;
    if (bad_byte) {
        sa_error_set(err, "--description is not valid UTF-8 (byte %zu)", bad_byte);
        problem(&im, err->msg);
        return -1;
    }
    for (size_t i = 0; i < opt.n_role_map; i++)
        if (!sa_dataset_id_valid(opt.role_map[i].role)) {
            sa_error_set(err, "role \"%s\" (for suffix %s) is not a valid id", opt.role_map[i].role,
                         opt.role_map[i].suffix);
            problem(&im, err->msg);
            return -1;
        }
    if (sa_scan_source(&opt, &scan, problems, &report->notes, err)) {
        problem(&im, err->msg);
        return -1;
    }
    snprintf(report->layout, sizeof report->layout, "%s", scan.layout);
    const char *name = opt.name ? opt.name : scan.name;
    if (!name) {
        problem(&im, "no dataset name given (--name NAME)");
        goto out;
    }
    if (sa_dataset_dir(opt.data_dir, name, final_dir, sizeof final_dir, err)) {
        problem(&im, err->msg);
        goto out;
    }
    snprintf(datasets_dir, sizeof datasets_dir, "%s/datasets", opt.data_dir);
    snprintf(report->path, sizeof report->path, "%s", final_dir);
    snprintf(report->name, sizeof report->name, "%s", name);
    struct stat st;
    if (lstat(final_dir, &st) == 0) {
        problemf(&im, "%s: a dataset named %s already exists", final_dir, name);
    }

    /* the dataset as it will be stored: roles and raters = union over cases */
    if (!(ds.name = sa_strdup(name))) im.oom = 1;
    ds.source_layout = sa_strdup(scan.layout);
    /* only a record of where the files came from: a path that is not UTF-8 (a
     * file name may hold any byte) is kept with U+FFFD for the bytes that are not */
    if (!(ds.source_path = sa_utf8_lossy(scan.root))) im.oom = 1;
    else if (strcmp(ds.source_path, scan.root) &&
             sa_problems_add(&report->notes, "%s: the source path is not valid UTF-8: dataset.json records it "
                                             "with U+FFFD in place of the bytes that are not", scan.root))
        im.oom = 1;
    ds.description = sa_strdup(opt.description ? opt.description : scan.description ? scan.description : "");
    char created[40];
    iso_now(created, sizeof created);
    ds.created = sa_strdup(created);
    for (size_t c = 0; c < scan.n_cases && !im.oom; c++) {
        for (size_t i = 0; i < scan.cases[c].n_inputs; i++)
            if (add_unique(&ds.roles, &ds.n_roles, scan.cases[c].inputs[i].key)) im.oom = 1;
        for (size_t i = 0; i < scan.cases[c].n_raters; i++)
            if (add_unique(&ds.raters, &ds.n_raters, scan.cases[c].raters[i].key)) im.oom = 1;
    }
    if (ds.n_roles) qsort(ds.roles, ds.n_roles, sizeof *ds.roles, sa_cmp_strp);
    if (ds.n_raters) qsort(ds.raters, ds.n_raters, sizeof *ds.raters, sa_cmp_strp);
    ds.kind = sa_strdup(opt.kind ? opt.kind : scan.kind ? scan.kind : guess_kind(&ds));
    if (ds.kind && !sa_dataset_id_valid(ds.kind)) /* given (--kind) or a manifest's */
        problemf(&im, "kind \"%s\" %s (" SA_ID_PATTERN ")", ds.kind, sa_id_problem(ds.kind));
    if (scan.n_cases == 0) {
        problemf(&im, "%s: no cases found (%s layout)", scan.root, scan.layout);
    } else {
        if (ds.n_roles == 0) problem(&im, "no input images found in any case");
        if (ds.n_raters == 0) problem(&im, "no rater masks found in any case");
    }
    for (size_t c = 0; c < scan.n_cases; c++) {
        /* every layout's scan checks its ids; this is the last word before a case
         * id becomes a folder of the store (and a dataset that must open again) */
        if (!sa_dataset_id_valid(scan.cases[c].id)) {
            problemf(&im, "%s: case id \"%s\" is not a valid id", scan.cases[c].where, scan.cases[c].id);
            continue;
        }
        for (size_t j = 0; j < c; j++)
            if (!strcmp(scan.cases[c].id, scan.cases[j].id)) {
                problemf(&im, "%s: duplicate case id %s (also %s)", scan.cases[c].where, scan.cases[c].id,
                         scan.cases[j].where);
                break;
            }
    }
    if (im.oom) goto out;

    /* the temporary folder, only when nothing is wrong so far */
    if (problems->count == before) {
        /* the partial copies of imports that were killed first (never one that
         * is running: its folder is locked) */
        sa_problems removed;
        sa_problems_init(&removed);
        int lr = sa_dataset_leftovers(opt.data_dir, 1, &removed, err);
        for (size_t i = 0; i < removed.count && !im.oom; i++)
            if (sa_problems_add(&report->notes, "%s", removed.msg[i])) im.oom = 1;
        sa_problems_free(&removed);
        if (lr) {
            problem(&im, err->msg);
            goto out;
        }
        if (sa_import_tmp_create(datasets_dir, name, created_dirs, sizeof created_dirs, &im.tmp_folder, err)) {
            problem(&im, err->msg);
            goto out;
        }
        im.tmp = im.tmp_folder.path;
    }

    ds.n_cases = scan.n_cases;
    ds.cases = calloc(scan.n_cases ? scan.n_cases : 1, sizeof *ds.cases);
    if (!ds.cases) {
        ds.n_cases = 0;
        im.oom = 1;
        goto out;
    }
    for (size_t c = 0; c < ds.n_cases && !im.oom; c++) {
        sa_scan_case *k = &scan.cases[c];
        sa_dataset_case *dc = &ds.cases[c];
        dc->id = sa_strdup(k->id);
        dc->split = sa_strdup(k->split ? k->split : opt.split);
        dc->inputs = calloc(ds.n_roles ? ds.n_roles : 1, sizeof *dc->inputs);
        dc->raters = calloc(ds.n_raters ? ds.n_raters : 1, sizeof *dc->raters);
        if (!dc->id || !dc->split || !dc->inputs || !dc->raters) {
            im.oom = 1;
            break;
        }
        sa_image ref;
        memset(&ref, 0, sizeof ref);
        char *ref_path = NULL;
        int have = 0;
        for (int r = 0; r < 2 && !im.oom; r++) {
            size_t n = r ? ds.n_raters : ds.n_roles;
            for (size_t i = 0; i < n && !im.oom; i++) {
                const char *key = r ? ds.raters[i] : ds.roles[i];
                const sa_scan_item *it = NULL;
                size_t ni = r ? k->n_raters : k->n_inputs;
                for (size_t j = 0; j < ni && !it; j++) {
                    const sa_scan_item *cand = r ? &k->raters[j] : &k->inputs[j];
                    if (!strcmp(cand->key, key)) it = cand;
                }
                if (!it) {
                    problemf(&im, "%s: case %s has no %s %s", k->where, k->id, r ? "mask of rater" : "image for role",
                             key);
                    continue;
                }
                store_file(&im, dc, k, it, r, r ? &dc->raters[i] : &dc->inputs[i], &have, &ref, &ref_path);
            }
        }
        sa_image_free(&ref);
    }
    if (im.oom || problems->count > before) goto out;

    /* manifest, then into place, then read-only */
    {
        char *mpath = sa_path_join(im.tmp, "dataset.json");
        if (!mpath) {
            im.oom = 1;
            goto out;
        }
        int w = sa_manifest_write(mpath, &ds, err);
        if (w) {
            free(mpath);
            sa_error gone; /* the folder taken meanwhile says more than the write's error */
            problem(&im, sa_import_tmp_check(&im.tmp_folder, &gone) ? gone.msg : err->msg);
            goto out;
        }
        /* read back as show, verify and phases will: a manifest that does not
         * open is never stored under the dataset's name (the name would be taken
         * by a read-only folder nothing can use) */
        sa_dataset back;
        int r = sa_manifest_read(mpath, &back, problems, err);
        free(mpath);
        if (!r) sa_dataset_free(&back);
        if (r) goto out;
    }
    /* the name taken meanwhile (another import): refused before the files, the
     * linked sources' own inodes among them, are made read-only */
    if (lstat(final_dir, &st) == 0) {
        problemf(&im, "%s: a dataset of that name was stored meanwhile (another import?): nothing was stored",
                 final_dir);
        goto out;
    }
    /* read-only before the rename: a dataset under its final name is complete
     * and read-only from its first moment */
    im.made_read_only = 1;
    if (make_read_only(im.tmp, err)) {
        problem(&im, err->msg);
        goto out;
    }
    /* still the folder this import made and locked, whole (where locks are not
     * honoured another import may have taken it for a killed one's and removed it:
     * what was written since would be a partial copy) */
    if (sa_import_tmp_check(&im.tmp_folder, err)) {
        problem(&im, err->msg);
        goto out;
    }
    if (rename(im.tmp, final_dir)) {
        int saved = errno;
        if (saved == ENOENT && sa_import_tmp_check(&im.tmp_folder, err)) /* claimed by a cleaner meanwhile */
            problem(&im, err->msg);
        else if (saved == EEXIST || saved == ENOTEMPTY)
            problemf(&im, "%s: a dataset of that name was stored meanwhile (another import?): nothing was "
                          "stored", final_dir);
        else
            problemf(&im, "%s: cannot rename into place (%s)", final_dir, strerror(saved));
        goto out;
    }
    sa_import_tmp_end(&im.tmp_folder, 0); /* renamed: only the lock file goes */
    im.tmp = NULL;
    report->n_cases = ds.n_cases;
    report->n_roles = ds.n_roles;
    report->n_raters = ds.n_raters;
    rc = 0;
out:
    if (im.oom) {
        sa_problems_add(problems, "out of memory");
        rc = -1;
    }
    if (rc && im.tmp) restore_linked(&im); /* before the links go with the folder */
    if (im.tmp) sa_import_tmp_end(&im.tmp_folder, 1); /* the folder, then the lock */
    if (rc) sa_import_tmp_undo_dirs(datasets_dir, created_dirs);
    if (rc && problems->count > before) sa_error_set(err, "%s", problems->msg[before]);
    for (size_t i = 0; i < im.n_links; i++) free(im.links[i].dst);
    free(im.links);
    sa_dataset_free(&ds);
    sa_scan_free(&scan);
    return rc;
}
