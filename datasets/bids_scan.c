/*
 * bids_scan.c: finds the cases, input images and rater masks of a source folder
 * in one of the three layouts import knows (docs/datasets.md):
 *  - BIDS: sub-<id>/[ses-<s>/]anat|pet/sub-<id>[_ses-<s>]_<suffix>.nii.gz, raters
 *    under derivatives/<rater>/... as *_desc-lesion_mask.nii.gz;
 *  - plain: <case>/<role>.nii.gz, <case>/raters/<rater>.nii.gz, splits.tsv;
 *  - manifest: a folder holding dataset.json with files relative to it.
 * Nothing is read here beyond names; import checks the images. Every path is
 * resolved and must stay inside the source folder (symlinks leaving it are
 * problems, and are never followed).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_internal.h"

typedef struct strlist {
    char **v;
    size_t n;
} strlist;

static void strlist_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* Sorted entry names of a folder (without "." and ".."); -1 (errno set) when it
 * cannot be read whole: a listing cut short by a read error or by memory would
 * drop the cases or masks after that point without a word. */
static int list_dir(const char *dir, strlist *out) {
    out->v = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t cap = 0;
    struct dirent *e;
    int failed = 0;
    for (;;) {
        errno = 0;
        if (!(e = readdir(d))) {
            failed = errno;
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = realloc(out->v, cap * sizeof *v);
            if (!v) {
                failed = ENOMEM;
                break;
            }
            out->v = v;
        }
        if (!(out->v[out->n] = sa_strdup(e->d_name))) {
            failed = ENOMEM;
            break;
        }
        out->n++;
    }
    closedir(d);
    if (failed) {
        strlist_free(out);
        out->v = NULL;
        out->n = 0;
        errno = failed;
        return -1;
    }
    if (out->n) qsort(out->v, out->n, sizeof *out->v, sa_cmp_strp);
    return 0;
}

static int has_prefix(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

typedef struct ctx {
    const sa_import_options *opt;
    sa_scan *scan;
    sa_problems *problems, *notes;
    int oom;
    /* derivatives: the rater being scanned and how many masks it had */
    const char *rater;
    size_t found;
} ctx;

/* 1: path resolves inside the source; 0: it leaves it (problem added) or does
 * not resolve. Never follows anything out of the tree. */
static int inside(ctx *c, const char *path) {
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
            if (sa_problems_add(c->problems, "%s: dangling symlink", path)) c->oom = 1;
        }
        return 0;
    }
    size_t n = strlen(c->scan->root);
    if (strcmp(real, c->scan->root) && !(has_prefix(real, c->scan->root) && real[n] == '/')) {
        if (sa_problems_add(c->problems, "%s: symlink pointing outside the dataset folder (to %s)", path, real))
            c->oom = 1;
        return 0;
    }
    return 1;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void note(ctx *c, const char *fmt, const char *a, const char *b) {
    if (sa_problems_add(c->notes, fmt, a, b)) c->oom = 1;
}

/* A folder that cannot be listed (permissions): a problem, never skipped silently
 * (its cases or rater masks would be missing from the dataset). errno is
 * opendir's. */
static void unreadable(ctx *c, const char *folder) {
    if (sa_problems_add(c->problems, "%s: cannot read the folder (%s)", folder, strerror(errno))) c->oom = 1;
}

/* 1 when path exists (lstat); 0 when it does not; -1 (a problem added) when it
 * cannot be looked at, its folder not being searchable. */
static int present(ctx *c, const char *path) {
    struct stat st;
    if (lstat(path, &st) == 0) return 1;
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    if (sa_problems_add(c->problems, "%s: cannot read (%s)", path, strerror(errno))) c->oom = 1;
    return -1;
}

static sa_scan_case *add_case(ctx *c, const char *id, const char *where, const char *subject) {
    sa_scan *s = c->scan;
    sa_scan_case *v = realloc(s->cases, (s->n_cases + 1) * sizeof *v);
    if (!v) return c->oom = 1, NULL;
    s->cases = v;
    sa_scan_case *k = &v[s->n_cases++];
    memset(k, 0, sizeof *k);
    k->id = sa_strdup(id);
    k->where = sa_strdup(where);
    k->subject = sa_strdup(subject);
    if (!k->id || !k->where || (subject && !k->subject)) c->oom = 1;
    return k;
}

static sa_scan_case *find_case(ctx *c, const char *id) {
    for (size_t i = 0; i < c->scan->n_cases; i++)
        if (!strcmp(c->scan->cases[i].id, id)) return &c->scan->cases[i];
    return NULL;
}

static void add_item(ctx *c, sa_scan_case *k, int rater, const char *key, const char *src, int dicom,
                     const char *sha) {
    sa_scan_item **items = rater ? &k->raters : &k->inputs;
    size_t *n = rater ? &k->n_raters : &k->n_inputs;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*items)[i].key, key)) {
            if (sa_problems_add(c->problems, "%s: case %s has two files for %s %s (also %s)", src, k->id,
                                rater ? "rater" : "role", key, (*items)[i].src))
                c->oom = 1;
            return;
        }
    sa_scan_item *v = realloc(*items, (*n + 1) * sizeof *v);
    if (!v) return (void)(c->oom = 1);
    *items = v;
    sa_scan_item *it = &v[(*n)++];
    memset(it, 0, sizeof *it);
    it->key = sa_strdup(key);
    it->src = sa_strdup(src);
    it->dicom = dicom;
    if (sha) snprintf(it->sha256, sizeof it->sha256, "%s", sha);
    if (!it->key || !it->src) c->oom = 1;
}

/* Image file name without its extension (.nii.gz, .nii), or a folder's name (a
 * DICOM series); NULL for other files (sidecars and the like). */
static char *image_stem(const char *name, int dir) {
    char *s = sa_strdup(name);
    if (!s || dir) return s;
    if (ends_with(s, ".nii.gz")) s[strlen(s) - 7] = 0;
    else if (ends_with(s, ".nii")) s[strlen(s) - 4] = 0;
    else {
        free(s);
        return NULL;
    }
    return s;
}

static const char *default_role(const char *suffix, int ce) {
    if (!strcmp(suffix, "T1w")) return ce ? "t1gd" : "t1";
    if (ce) return NULL;
    if (!strcmp(suffix, "FLAIR")) return "flair";
    if (!strcmp(suffix, "T2w")) return "t2";
    if (!strcmp(suffix, "PDw")) return "dp";
    if (!strcmp(suffix, "pet")) return "pet";
    if (!strcmp(suffix, "ct") || !strcmp(suffix, "CT")) return "ct";
    return NULL;
}

/* The BIDS entities of a stem: "sub-01_ses-a_ce-gd_T1w" → value of key, or the
 * suffix (last part) when key is NULL. Result in buf (empty when absent). */
static void entity(const char *stem, const char *key, char *buf, size_t size) {
    buf[0] = 0;
    const char *last = strrchr(stem, '_');
    if (!key) {
        snprintf(buf, size, "%s", last ? last + 1 : stem);
        return;
    }
    size_t k = strlen(key);
    const char *p = stem;
    while (p && *p && p < (last ? last : stem + strlen(stem))) {
        const char *e = strchr(p, '_');
        if (!strncmp(p, key, k) && p[k] == '-') {
            size_t n = (e ? (size_t)(e - p) : strlen(p)) - k - 1;
            snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), p + k + 1);
            return;
        }
        p = e ? e + 1 : NULL;
    }
}

static void bids_case_id(const char *sub, const char *ses, char *id, size_t size) {
    if (ses && *ses) snprintf(id, size, "%s-%s", sub, ses);
    else snprintf(id, size, "%s", sub);
}

/* 1 when the participant label (and the session label, when ses is not NULL) and
 * the case id they make are valid ids; else 0 with one problem naming folder.
 * A case id names a folder of the stored dataset and must open again later. */
static int bids_labels_valid(ctx *c, const char *folder, const char *sub, const char *ses) {
    char id[600];
    bids_case_id(sub, ses, id, sizeof id);
    int rc = 0;
    if (!sa_dataset_id_valid(sub))
        rc = sa_problems_add(c->problems, "%s: participant label \"%s\" is not a valid id", folder, sub);
    else if (ses && !sa_dataset_id_valid(ses))
        rc = sa_problems_add(c->problems, "%s: session label \"%s\" is not a valid id", folder, ses);
    else if (!sa_dataset_id_valid(id))
        rc = sa_problems_add(c->problems, "%s: case id \"%s\" (participant-session) is not a valid id", folder,
                             id);
    else
        return 1;
    if (rc) c->oom = 1;
    return 0;
}

/* One anat/ or pet/ folder of the raw data. */
static void raw_folder(ctx *c, sa_scan_case *k, const char *sub, const char *ses, const char *folder) {
    strlist l;
    if (list_dir(folder, &l)) {
        unreadable(c, folder);
        return;
    }
    char prefix[300];
    if (ses) snprintf(prefix, sizeof prefix, "sub-%s_ses-%s_", sub, ses);
    else snprintf(prefix, sizeof prefix, "sub-%s_", sub);
    for (size_t i = 0; i < l.n && !c->oom; i++) {
        char *path = sa_path_join(folder, l.v[i]);
        if (!path) {
            c->oom = 1;
            break;
        }
        if (present(c, path) < 1 || !inside(c, path)) {
            free(path);
            continue;
        }
        int dir = is_dir(path);
        char *stem = image_stem(l.v[i], dir);
        if (!stem || !has_prefix(stem, prefix)) {
            if (!ends_with(l.v[i], ".json") && !ends_with(l.v[i], ".tsv") && !ends_with(l.v[i], ".bval") &&
                !ends_with(l.v[i], ".bvec"))
                note(c, "%s: ignored (%s)", path, stem ? "not named after its subject/session" : "not an image");
            free(stem);
            free(path);
            continue;
        }
        char suffix[128], ce[128], key[300];
        entity(stem, NULL, suffix, sizeof suffix);
        entity(stem, "ce", ce, sizeof ce);
        if (*ce) snprintf(key, sizeof key, "ce-%s_%s", ce, suffix);
        else snprintf(key, sizeof key, "%s", suffix);
        const char *role = NULL;
        for (size_t m = 0; m < c->opt->n_role_map && !role; m++)
            if (!strcmp(c->opt->role_map[m].suffix, key)) role = c->opt->role_map[m].role;
        for (size_t m = 0; m < c->opt->n_role_map && !role && !*ce; m++)
            if (!strcmp(c->opt->role_map[m].suffix, suffix)) role = c->opt->role_map[m].role;
        if (!role) role = default_role(suffix, *ce != 0);
        if (!role) note(c, "%s: ignored (suffix %s has no role; map it with --role SUFFIX=ROLE)", path, key);
        else add_item(c, k, 0, role, path, dir, NULL);
        free(stem);
        free(path);
    }
    strlist_free(&l);
}

/* One anat/ or pet/ folder of derivatives/<rater>/. */
static void mask_folder(ctx *c, const char *folder) {
    strlist l;
    if (list_dir(folder, &l)) {
        unreadable(c, folder);
        return;
    }
    char tail[200];
    snprintf(tail, sizeof tail, "_desc-%s_mask", c->opt->mask_desc ? c->opt->mask_desc : "lesion");
    for (size_t i = 0; i < l.n && !c->oom; i++) {
        char *stem = image_stem(l.v[i], 0);
        if (!stem || !ends_with(stem, tail) || !has_prefix(stem, "sub-")) {
            free(stem);
            continue;
        }
        char *path = sa_path_join(folder, l.v[i]);
        if (!path) {
            free(stem);
            c->oom = 1;
            break;
        }
        if (present(c, path) == 1 && inside(c, path) && !is_dir(path)) {
            char sub[128], ses[128], id[300];
            entity(stem, "sub", sub, sizeof sub);
            entity(stem, "ses", ses, sizeof ses);
            bids_case_id(sub, ses, id, sizeof id);
            c->found++;
            sa_scan_case *k = find_case(c, id);
            if (!k) {
                if (sa_problems_add(c->problems, "%s: rater mask of case %s, which has no raw images", path, id))
                    c->oom = 1;
            } else {
                add_item(c, k, 1, c->rater, path, 0, NULL);
            }
        }
        free(stem);
        free(path);
    }
    strlist_free(&l);
}

/* Calls raw (case folders) or masks (derivatives) on every sub-X, ses-Y, anat or
 * pet folder. -1 when base cannot be listed (a problem added). */
static int walk_bids(ctx *c, const char *base, int derivatives) {
    strlist subs;
    if (list_dir(base, &subs)) {
        unreadable(c, base);
        return -1;
    }
    for (size_t i = 0; i < subs.n && !c->oom; i++) {
        if (!has_prefix(subs.v[i], "sub-")) continue;
        char *sp = sa_path_join(base, subs.v[i]);
        if (!sp) {
            c->oom = 1;
            break;
        }
        if (present(c, sp) < 1 || !inside(c, sp) || !is_dir(sp)) {
            free(sp);
            continue;
        }
        const char *sub = subs.v[i] + 4;
        if (!bids_labels_valid(c, sp, sub, NULL)) {
            free(sp);
            continue;
        }
        strlist ses;
        if (list_dir(sp, &ses)) {
            unreadable(c, sp);
            free(sp);
            continue;
        }
        /* the session folders, then the subject folder itself (no session) */
        for (size_t j = 0; j <= ses.n && !c->oom; j++) {
            const char *sname = j < ses.n ? ses.v[j] : NULL;
            if (sname && !has_prefix(sname, "ses-")) continue;
            char *level = sname ? sa_path_join(sp, sname) : sa_strdup(sp);
            if (!level) {
                c->oom = 1;
                break;
            }
            if (sname && (present(c, level) < 1 || !inside(c, level) || !is_dir(level))) {
                free(level);
                continue;
            }
            const char *ses_label = sname ? sname + 4 : NULL;
            if (sname && !bids_labels_valid(c, level, sub, ses_label)) {
                free(level);
                continue;
            }
            sa_scan_case *k = NULL;
            static const char *const types[] = {"anat", "pet"};
            for (int t = 0; t < 2 && !c->oom; t++) {
                char *folder = sa_path_join(level, types[t]);
                if (!folder) {
                    c->oom = 1;
                    break;
                }
                if (present(c, folder) == 1 && inside(c, folder) && is_dir(folder)) {
                    if (derivatives) {
                        mask_folder(c, folder);
                    } else {
                        if (!k) {
                            char id[300];
                            bids_case_id(sub, ses_label, id, sizeof id);
                            k = add_case(c, id, level, sub);
                        }
                        if (k) raw_folder(c, k, sub, ses_label, folder);
                    }
                }
                free(folder);
            }
            free(level);
        }
        strlist_free(&ses);
        free(sp);
    }
    strlist_free(&subs);
    return 0;
}

/* 1 when the first column of a splits line names case k: its id (plain layout),
 * or its participant, with or without "sub-" (BIDS, every session). */
static int split_hit(const sa_scan_case *k, const char *who, int bids) {
    if (!bids) return !strcmp(who, k->id);
    return k->subject && (!strcmp(who, k->subject) || (has_prefix(who, "sub-") && !strcmp(who + 4, k->subject)));
}

/* One problem "PATH: line N: ..." */
static void problem_at(ctx *c, const char *path, int line_no, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void problem_at(ctx *c, const char *path, int line_no, const char *fmt, ...) {
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (sa_problems_add(c->problems, "%s: line %d: %s", path, line_no, what)) c->oom = 1;
}

/* 1 when cell holds "split" in any case without being exactly "split": a column
 * meant as the split column (misspelt, or a line not separated by tabs), which
 * read as no split column would put every case in the default split. */
static int split_like(const char *cell) {
    for (const char *p = cell; *p; p++) {
        static const char w[] = "split";
        size_t i = 0;
        while (i < 5 && p[i] && (p[i] | 0x20) == w[i]) i++;
        if (i == 5) return strcmp(cell, "split") != 0;
    }
    return 0;
}

/* Reads participants.tsv (BIDS: participant_id and split columns) or splits.tsv
 * (plain: case, split; a header line allowed) into the cases' splits. A case's
 * split decides whether challengers see it, so nothing is skipped silently: a
 * line without the columns needed, a line naming no case of the dataset, a case
 * listed on two lines (naming both) and a split-like column not named exactly
 * "split" are problems naming file and line. A BIDS participants.tsv without a
 * split column is not read (every case takes the default split). */
static void read_splits(ctx *c, const char *path, int bids) {
    if (present(c, path) < 1 || !inside(c, path)) return;
    sa_error err;
    char *text = sa_read_text_file(path, &err);
    if (!text) {
        if (sa_problems_add(c->problems, "%s", err.msg)) c->oom = 1;
        return;
    }
    int *first_line = calloc(c->scan->n_cases + 1, sizeof *first_line); /* per case, 1-based; 0: not yet */
    char **cols = NULL;
    size_t cols_cap = 0;
    if (!first_line) {
        free(text);
        c->oom = 1;
        return;
    }
    /* a UTF-8 BOM (spreadsheet exports) is not part of the first cell */
    char *start = text;
    if (!strncmp(start, "\xEF\xBB\xBF", 3)) start += 3;
    /* line_no: the line of the file (messages); first: the first non-empty line
     * (the header) is still to come */
    int id_col = bids ? -1 : 0, split_col = bids ? -1 : 1, line_no = 0, first = 1;
    for (char *line = start, *next; line && !c->oom; line = next) {
        line_no++;
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r') line[--n] = 0;
        if (!n) continue;
        int header = first;
        first = 0;
        size_t nc = 1;
        for (const char *t = line; (t = strchr(t, '\t')); t++) nc++;
        if (nc > cols_cap) {
            char **v = realloc(cols, nc * sizeof *v);
            if (!v) {
                c->oom = 1;
                break;
            }
            cols = v;
            cols_cap = nc;
        }
        char *p = line;
        for (size_t i = 0; i < nc; i++) {
            cols[i] = p;
            char *t = strchr(p, '\t');
            if (t) *t = 0, p = t + 1;
        }
        if (header && bids) {
            for (size_t i = 0; i < nc; i++) {
                if (!strcmp(cols[i], "participant_id")) id_col = (int)i;
                else if (!strcmp(cols[i], "split")) split_col = (int)i;
                else if (split_like(cols[i]))
                    problem_at(c, path, line_no, "column \"%s\" is not named \"split\"%s", cols[i],
                               strchr(cols[i], ' ') ? " (columns are separated by tabs)" : "");
            }
            if (split_col < 0) break; /* no split column: the default split for all */
            if (id_col < 0) {
                problem_at(c, path, line_no, "a split column but no participant_id column");
                break;
            }
            continue;
        }
        size_t need = (size_t)(split_col > id_col ? split_col : id_col) + 1;
        if (nc < need) {
            problem_at(c, path, line_no, "%zu column%s, %zu needed (columns are separated by tabs)", nc,
                       nc == 1 ? "" : "s", need);
            continue;
        }
        const char *who = cols[id_col], *split = cols[split_col];
        if (!*who) {
            problem_at(c, path, line_no, "no %s", bids ? "participant_id" : "case");
            continue;
        }
        /* plain: a first line whose first cell is no case is a header when its
         * second reads "split" (a misspelt first case is not taken for one) */
        if (header && !bids && !find_case(c, who) && !strcmp(split, "split")) continue;
        if (!sa_dataset_id_valid(split)) {
            problem_at(c, path, line_no, "split \"%s\" is not a valid id", split);
            continue;
        }
        /* the cases of the line (a BIDS participant: each of its sessions); a case
         * listed on an earlier line refuses the import rather than taking the last
         * split (a held-out case could land in an open split) */
        int matched = 0, again = 0;
        for (size_t i = 0; i < c->scan->n_cases && !again; i++) {
            if (!split_hit(&c->scan->cases[i], who, bids)) continue;
            matched = 1;
            if (first_line[i]) {
                again = 1;
                if (sa_problems_add(c->problems, "%s: line %d: %s is listed again (first on line %d)", path,
                                    line_no, who, first_line[i]))
                    c->oom = 1;
            }
        }
        /* a misspelt id would leave its case in the default split */
        if (!matched && bids)
            problem_at(c, path, line_no, "%s: no such participant with images in the source", who);
        else if (!matched)
            problem_at(c, path, line_no, "%s is not a case of the dataset (no such case folder)%s", who,
                       header ? "; a header line reads case<TAB>split" : "");
        for (size_t i = 0; i < c->scan->n_cases && matched && !again; i++) {
            sa_scan_case *k = &c->scan->cases[i];
            if (!split_hit(k, who, bids)) continue;
            first_line[i] = line_no;
            free(k->split);
            if (!(k->split = sa_strdup(split))) c->oom = 1;
        }
    }
    free(cols);
    free(first_line);
    free(text);
}

static void scan_bids(ctx *c) {
    const char *root = c->scan->root;
    walk_bids(c, root, 0);
    char *der = sa_path_join(root, "derivatives");
    strlist l = {0};
    int have_der = der && present(c, der) == 1 && is_dir(der) && inside(c, der);
    if (have_der && list_dir(der, &l)) unreadable(c, der);
    else if (have_der) {
        for (size_t i = 0; i < l.n && !c->oom; i++) {
            char *p = sa_path_join(der, l.v[i]);
            if (!p) {
                c->oom = 1;
                break;
            }
            if (present(c, p) == 1 && inside(c, p) && is_dir(p)) {
                c->rater = l.v[i];
                c->found = 0;
                if (walk_bids(c, p, 1)) {
                    /* a problem says it cannot be read, not that it is no rater */
                } else if (c->found == 0)
                    note(c, "%s: no *_desc-%s_mask files: not a rater", p,
                         c->opt->mask_desc ? c->opt->mask_desc : "lesion");
                else if (!sa_dataset_id_valid(l.v[i]) &&
                         sa_problems_add(c->problems, "%s: rater name \"%s\" is not a valid id", p, l.v[i]))
                    c->oom = 1;
            }
            free(p);
        }
    }
    strlist_free(&l);
    free(der);
    char *tsv = sa_path_join(root, "participants.tsv");
    if (tsv) read_splits(c, tsv, 1);
    else c->oom = 1;
    free(tsv);
}

static void plain_entries(ctx *c, sa_scan_case *k, const char *folder, int raters) {
    strlist l;
    if (list_dir(folder, &l)) {
        unreadable(c, folder);
        return;
    }
    for (size_t i = 0; i < l.n && !c->oom; i++) {
        if (l.v[i][0] == '.') continue;
        char *path = sa_path_join(folder, l.v[i]);
        if (!path) {
            c->oom = 1;
            break;
        }
        if (present(c, path) == 1 && inside(c, path)) {
            int dir = is_dir(path);
            if (!raters && dir && !strcmp(l.v[i], "raters")) {
                plain_entries(c, k, path, 1);
            } else {
                char *stem = image_stem(l.v[i], dir && !raters);
                if (!stem) note(c, "%s: ignored (%s)", path, "not an image");
                else if (!sa_dataset_id_valid(stem)) {
                    if (sa_problems_add(c->problems, "%s: \"%s\" is not a valid %s id", path, stem,
                                        raters ? "rater" : "role"))
                        c->oom = 1;
                } else {
                    add_item(c, k, raters, stem, path, dir, NULL);
                }
                free(stem);
            }
        }
        free(path);
    }
    strlist_free(&l);
}

static void scan_plain(ctx *c) {
    const char *root = c->scan->root;
    strlist l;
    if (list_dir(root, &l)) {
        unreadable(c, root);
        return;
    }
    for (size_t i = 0; i < l.n && !c->oom; i++) {
        if (l.v[i][0] == '.') continue;
        char *p = sa_path_join(root, l.v[i]);
        if (!p) {
            c->oom = 1;
            break;
        }
        if (present(c, p) == 1 && inside(c, p) && is_dir(p)) {
            if (!sa_dataset_id_valid(l.v[i])) {
                if (sa_problems_add(c->problems, "%s: case id \"%s\" is not a valid id", p, l.v[i])) c->oom = 1;
            } else {
                sa_scan_case *k = add_case(c, l.v[i], p, NULL);
                if (k) plain_entries(c, k, p, 0);
            }
        }
        free(p);
    }
    strlist_free(&l);
    char *tsv = sa_path_join(root, "splits.tsv");
    if (tsv) read_splits(c, tsv, 0);
    else c->oom = 1;
    free(tsv);
}

static void scan_manifest(ctx *c, const char *manifest) {
    sa_dataset ds;
    sa_error err;
    if (!inside(c, manifest)) return;
    if (sa_manifest_read(manifest, &ds, c->problems, &err)) return;
    sa_scan *s = c->scan;
    s->name = sa_strdup(ds.name);
    s->kind = sa_strdup(ds.kind);
    s->description = sa_strdup(ds.description);
    for (size_t i = 0; i < ds.n_cases && !c->oom; i++) {
        sa_dataset_case *dc = &ds.cases[i];
        sa_scan_case *k = add_case(c, dc->id, s->root, NULL);
        if (!k) break;
        if (!(k->split = sa_strdup(dc->split))) c->oom = 1;
        for (int r = 0; r < 2; r++) {
            size_t n = r ? ds.n_raters : ds.n_roles;
            for (size_t j = 0; j < n && !c->oom; j++) {
                sa_dataset_file *f = r ? &dc->raters[j] : &dc->inputs[j];
                char *path = sa_path_join(s->root, f->path);
                if (!path) {
                    c->oom = 1;
                    break;
                }
                struct stat st;
                if (lstat(path, &st) != 0) {
                    if (sa_problems_add(c->problems, "%s: missing (listed in %s)", path, manifest)) c->oom = 1;
                } else if (inside(c, path)) {
                    add_item(c, k, r, r ? ds.raters[j] : ds.roles[j], path, 0, f->sha256);
                }
                free(path);
            }
        }
    }
    sa_dataset_free(&ds);
}

int sa_scan_source(const sa_import_options *opt, sa_scan *scan, sa_problems *problems,
                   sa_problems *notes, sa_error *err) {
    memset(scan, 0, sizeof *scan);
    char real[PATH_MAX];
    if (!opt->source || !realpath(opt->source, real))
        return sa_error_set(err, "%s: cannot open the source folder (%s)", opt->source ? opt->source : "(none)",
                            strerror(errno));
    if (!is_dir(real)) return sa_error_set(err, "%s: not a folder", opt->source);
    if (!(scan->root = sa_strdup(real))) return sa_error_set(err, "out of memory");
    ctx c = {opt, scan, problems, notes, 0, NULL, 0};
    char *manifest = sa_path_join(real, "dataset.json");
    char *desc = sa_path_join(real, "dataset_description.json");
    if (!manifest || !desc) c.oom = 1;
    struct stat st;
    strlist l = {0};
    int bids = 0;
    if (!c.oom && lstat(manifest, &st) == 0) {
        scan->layout = "manifest";
        scan_manifest(&c, manifest);
    } else if (!c.oom) {
        bids = lstat(desc, &st) == 0;
        if (!bids && !list_dir(real, &l))
            for (size_t i = 0; i < l.n; i++) bids |= has_prefix(l.v[i], "sub-");
        scan->layout = bids ? "bids" : "plain";
        if (bids) scan_bids(&c);
        else scan_plain(&c);
    }
    strlist_free(&l);
    free(manifest);
    free(desc);
    if (c.oom) {
        sa_scan_free(scan);
        return sa_error_set(err, "out of memory while scanning %s", opt->source);
    }
    return 0;
}

void sa_scan_free(sa_scan *scan) {
    for (size_t i = 0; i < scan->n_cases; i++) {
        sa_scan_case *k = &scan->cases[i];
        for (size_t j = 0; j < k->n_inputs; j++) free(k->inputs[j].key), free(k->inputs[j].src);
        for (size_t j = 0; j < k->n_raters; j++) free(k->raters[j].key), free(k->raters[j].src);
        free(k->inputs);
        free(k->raters);
        free(k->id);
        free(k->split);
        free(k->where);
        free(k->subject);
    }
    free(scan->cases);
    free(scan->root);
    free(scan->name);
    free(scan->kind);
    free(scan->description);
    memset(scan, 0, sizeof *scan);
}
