/*
 * beside_exe.c: where SegArena finds the files it installs beside its own
 * executable (the ITK module, the image reader helper): an environment variable
 * first, then the running executable's folder, then the path the build gave.
 * One rule for both, so that a packaged or moved build finds them alike.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_internal.h"

int sa_find_beside_exe(const char *env_var, const char *name, const char *built_path, int mode,
                       char *out, size_t cap) {
    const char *env = env_var ? getenv(env_var) : NULL;
    if (env && *env) return snprintf(out, cap, "%s", env) < (int)cap ? 0 : -1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash && (size_t)(slash - exe) + strlen(name) + 2 < sizeof exe) {
            strcpy(slash + 1, name);
            if (access(exe, mode) == 0) return snprintf(out, cap, "%s", exe) < (int)cap ? 0 : -1;
        }
    }
    if (access(built_path, mode) != 0) return -1;
    return snprintf(out, cap, "%s", built_path) < (int)cap ? 0 : -1;
}
