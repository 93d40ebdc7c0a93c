/*
 * detached_data.c: the one rule for a header that keeps its voxels in another
 * file (a .mhd's ElementDataFile, a .nhdr's "data file:"), shared by
 * metaimage_check.c and nrrd_check.c: one plain file name in the header's own
 * folder, naming an existing regular file; never a path, a LIST of files or a
 * numbered pattern, which MetaIO and teem would follow anywhere on the host.
 * With a root (an import's source folder), the name must also resolve, through
 * any symlink, inside it (sa_path_inside).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image_internal.h"

int sa_detached_data_path(const char *header, const char *name, char *out, size_t cap,
                          sa_error *err) {
    const char *slash = strrchr(header, '/');
    int n = slash ? snprintf(out, cap, "%.*s/%s", (int)(slash - header), header, name)
                  : snprintf(out, cap, "%s", name);
    if (n < 0 || (size_t)n >= cap) return sa_error_set(err, "%s: path too long", header);
    return 0;
}

int sa_path_inside(const char *path, const char *root, sa_error *err) {
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            return sa_error_set(err, "%s: dangling symlink", path);
        return sa_error_set(err, "%s: %s", path, strerror(errno));
    }
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    int inside = strncmp(real, root, n) == 0 &&
                 (real[n] == '/' || real[n] == '\0' || (n == 1 && root[0] == '/'));
    if (!inside) {
        struct stat st;
        int link = lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
        return sa_error_set(err, "%s: %s outside %.*s (to %s)", path,
                            link ? "symlink pointing" : "resolves", (int)n, root, real);
    }
    return 0;
}

int sa_detached_data_check(const char *header, const char *field, const char *name,
                           const char *root, sa_error *err) {
    if (strncmp(name, "LIST", 4) == 0) /* as MetaIO and teem compare it */
        return sa_error_set(err, "%s: %s LIST (a list of data files) is not supported; give one "
                            "data file", header, field);
    for (const char *p = name; *p; p++)
        if (*p == '%' || isspace((unsigned char)*p))
            return sa_error_set(err, "%s: %s '%s' is a numbered-pattern form, which is not "
                                "supported; give one data file", header, field, name);
    if (!*name || strchr(name, '/') || strchr(name, '\\') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return sa_error_set(err, "%s: %s '%s' must be a plain file name in the header's folder "
                            "(no '/')", header, field, name);
    char path[4200];
    if (sa_detached_data_path(header, name, path, sizeof path, err) != 0) return -1;
    struct stat st;
    if (stat(path, &st) != 0)
        return sa_error_set(err, "%s: data file %s (%s) %s", header, name, field,
                            errno == ENOENT ? "not found" : strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sa_error_set(err, "%s: data file %s (%s) is not a regular file", header, name, field);
    /* a plain name can still be a symlink: with a root, where it leads counts */
    if (root && sa_path_inside(path, root, err) != 0) return -1;
    return 0;
}
