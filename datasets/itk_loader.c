/*
 * itk_loader.c: ITK is loaded only when a file needs it. ITK 5.2 comes as some
 * 370 shared libraries, and loading them costs about 40 ms at every start of
 * `segarena`, more than scoring a typical MS case; most masks are plain NIfTI,
 * which the native reader handles. So the ITK shim is a module
 * (libsegarena_itk.so) opened on first use, and its calls are serialised (the
 * shim silences ITK's console output by swapping std::cerr, which is not safe to
 * do from two threads at once).
 *
 * The module is looked for at $SEGARENA_ITK_MODULE, then next to the running
 * executable, then at the path the build put it.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_internal.h"

#ifndef SEGARENA_ITK_MODULE_PATH
#define SEGARENA_ITK_MODULE_PATH "libsegarena_itk.so"
#endif
#define MODULE_NAME "libsegarena_itk.so"

typedef int (*read_fn)(const char *, sa_header_check_fn, void *, sa_image *, sa_error *);
typedef int (*dicom_fn)(const char *, sa_image *, sa_error *);
typedef int (*write_fn)(const char *, const sa_image *, int, sa_error *);

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t itk_lock = PTHREAD_MUTEX_INITIALIZER;
static read_fn read_file;
static dicom_fn read_dicom;
static write_fn write_file;
typedef int (*uid_fn)(const char *, char *, size_t, sa_error *);
static uid_fn series_uid; /* optional entry point */
static char load_error[400];

static void *open_module(void) {
    char path[PATH_MAX];
    if (sa_find_beside_exe("SEGARENA_ITK_MODULE", MODULE_NAME, SEGARENA_ITK_MODULE_PATH, R_OK, path,
                           sizeof path) != 0)
        return dlopen(SEGARENA_ITK_MODULE_PATH, RTLD_NOW | RTLD_LOCAL); /* for dlerror's reason */
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static void load(void) {
    void *module = open_module();
    if (!module) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "the ITK module %s cannot be loaded (%s)", MODULE_NAME,
                 why ? why : "not found");
        return;
    }
    /* object and function pointers share a representation on every POSIX system */
    *(void **)&read_file = dlsym(module, "segarena_itk_read_file_checked");
    *(void **)&read_dicom = dlsym(module, "segarena_itk_read_dicom_folder");
    *(void **)&write_file = dlsym(module, "segarena_itk_write_file");
    *(void **)&series_uid = dlsym(module, "segarena_itk_dicom_series_uid");
    if (!read_file || !read_dicom || !write_file) {
        read_file = NULL;
        read_dicom = NULL;
        write_file = NULL;
        snprintf(load_error, sizeof load_error, "the ITK module %s lacks its entry points", MODULE_NAME);
    }
}

static int ready(const char *path, sa_error *err) {
    pthread_once(&load_once, load);
    if (read_file) return 1;
    sa_error_set(err, "%s: this file needs ITK, but %s", path, load_error);
    return 0;
}

int sa_itk_module_missing(void) {
    return load_error[0] != '\0';
}

int sa_itk_read_file(const char *path, sa_header_check_fn check, void *ctx, sa_image *out,
                     sa_error *err) {
    if (!ready(path, err)) return -1;
    pthread_mutex_lock(&itk_lock);
    int rc = read_file(path, check, ctx, out, err);
    pthread_mutex_unlock(&itk_lock);
    return rc;
}

int sa_itk_read_dicom_folder(const char *path, sa_image *out, sa_error *err) {
    if (!ready(path, err)) return -1;
    pthread_mutex_lock(&itk_lock);
    int rc = read_dicom(path, out, err);
    pthread_mutex_unlock(&itk_lock);
    return rc;
}

int sa_itk_write_file(const char *path, const sa_image *img, int compress, sa_error *err) {
    if (!ready(path, err)) return -1;
    pthread_mutex_lock(&itk_lock);
    int rc = write_file(path, img, compress, err);
    pthread_mutex_unlock(&itk_lock);
    return rc;
}

int sa_itk_dicom_series_uid(const char *folder, char *uid, size_t size, sa_error *err) {
    if (!ready(folder, err)) return -1;
    if (!series_uid) return sa_error_set(err, "%s: the ITK module cannot read DICOM series UIDs", folder);
    pthread_mutex_lock(&itk_lock);
    int rc = series_uid(folder, uid, size, err);
    pthread_mutex_unlock(&itk_lock);
    return rc;
}
