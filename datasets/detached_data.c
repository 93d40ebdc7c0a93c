/*
 * detached_data.c: the one rule for a header that keeps its voxels in another
 * file (a .mhd's ElementDataFile, a .nhdr's "data file:"), shared by
 * metaimage_check.c and nrrd_check.c: one plain file name in the header's own
 * folder, naming an existing regular file; never a path, a LIST of files or a
 * numbered pattern, which MetaIO and teem would follow anywhere on the host.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
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

int sa_detached_data_check(const char *header, const char *field, const char *name,
                           sa_error *err) {
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
    return 0;
}
