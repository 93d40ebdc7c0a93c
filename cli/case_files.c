/* case_files.c: one rule for what an image's name is (the file name without its
 * image extension) and which names clash, for the commands that go by it: score
 * --ref-dir/--pred-dir pairs cases, consensus names raters, try --inputs finds
 * roles (see case_files.h). */
#include "case_files.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const extensions[] = {".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr"};

const char *case_id_of(const char *name, char *id, size_t size) {
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
        size_t el = strlen(extensions[i]);
        if (len > el && strcmp(name + len - el, extensions[i]) == 0) {
            snprintf(id, size, "%.*s", (int)(len - el), name);
            return id;
        }
    }
    return NULL;
}

void rater_names(const char *const *paths, size_t n, char names[][RATER_NAME_SIZE]) {
    for (size_t i = 0; i < n; i++) {
        const char *file = strrchr(paths[i], '/');
        file = file && file[1] ? file + 1 : paths[i];
        char base[256];
        if (!case_id_of(file, base, sizeof base)) snprintf(base, sizeof base, "%s", file);
        snprintf(names[i], RATER_NAME_SIZE, "%s", base);
        for (int k = 2;; k++) {
            int taken = 0;
            for (size_t j = 0; j < i && !taken; j++) taken = !strcmp(names[j], names[i]);
            if (!taken) break;
            snprintf(names[i], RATER_NAME_SIZE, "%s#%d", base, k);
        }
    }
}

static int cmp_case(const void *a, const void *b) {
    return strcmp(((const case_file *)a)->id, ((const case_file *)b)->id);
}

int list_case_files(const char *dir, case_file **files, size_t *count, char *err, size_t err_size) {
    *files = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_size, "%s: cannot open folder: %s", dir, strerror(errno));
        return -1;
    }
    size_t n = 0, cap = 0;
    case_file *list = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) continue;
        struct stat st;
        if (stat(path, &st) != 0) continue;
        case_file f;
        memset(&f, 0, sizeof f);
        snprintf(f.path, sizeof f.path, "%s", path);
        if (S_ISDIR(st.st_mode)) {
            snprintf(f.id, sizeof f.id, "%s", e->d_name);
        } else if (S_ISREG(st.st_mode)) {
            size_t len = strlen(e->d_name);
            /* MetaImage data files belong to their .mhd header */
            if ((len > 4 && !strcmp(e->d_name + len - 4, ".raw")) || (len > 5 && !strcmp(e->d_name + len - 5, ".zraw")))
                continue;
            if (!case_id_of(e->d_name, f.id, sizeof f.id)) {
                snprintf(f.id, sizeof f.id, "%s", e->d_name);
                f.not_image = 1;
            }
        } else {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            case_file *grown = realloc(list, cap * sizeof *list);
            if (!grown) {
                free(list);
                closedir(d);
                snprintf(err, err_size, "%s: out of memory listing the folder", dir);
                return -1;
            }
            list = grown;
        }
        list[n++] = f;
    }
    closedir(d);
    qsort(list, n, sizeof *list, cmp_case);
    for (size_t i = 1; i < n; i++)
        if (!list[i].not_image && !list[i - 1].not_image && !strcmp(list[i].id, list[i - 1].id))
            list[i].duplicate = list[i - 1].duplicate = 1;
    *files = list;
    *count = n;
    return 0;
}
