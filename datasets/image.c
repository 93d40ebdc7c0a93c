/*
 * image.c: the C side of SegArena's image I/O. It picks a reader (native NIfTI
 * fast path or ITK), validates what came back (3D scalar, positive finite spacing,
 * finite origin and direction), writes images atomically through a temporary
 * folder, and holds the small geometry helpers (grid, same-geometry check).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"
#include "tmp_cleanup.h"

void sa_image_free(sa_image *img) {
    if (!img) return;
    free(img->block ? img->block : img->data);
    memset(img, 0, sizeof *img);
}

void sa_image_grid(const sa_image *img, sa_grid *grid) {
    grid->nx = img->size[0];
    grid->ny = img->size[1];
    grid->nz = img->size[2];
    for (int i = 0; i < 3; i++) grid->spacing[i] = img->spacing[i];
}

static int is_nifti_name(const char *path) {
    return sa_has_suffix(path, ".nii") || sa_has_suffix(path, ".nii.gz");
}

/* Refuses images whose geometry SegArena cannot use. The size-overflow check is
 * here too so every reader shares it. Needs no voxels: readers run it on the
 * header before allocating. */
static int check_read_image(const char *path, const sa_image *img, sa_error *err) {
    if (sa_image_voxel_count(img) == 0)
        return sa_error_set(err, "%s: image size %zux%zux%zu is empty or too large", path,
                            img->size[0], img->size[1], img->size[2]);
    for (int i = 0; i < 3; i++) {
        if (!isfinite(img->spacing[i]) || !(img->spacing[i] > 0))
            return sa_error_set(err, "%s: spacing %g %g %g is not positive and finite", path,
                                img->spacing[0], img->spacing[1], img->spacing[2]);
    }
    for (int i = 0; i < 3; i++) {
        if (!isfinite(img->origin[i]))
            return sa_error_set(err, "%s: origin %g %g %g is not finite", path, img->origin[0],
                                img->origin[1], img->origin[2]);
    }
    for (int i = 0; i < 9; i++) {
        if (!isfinite(img->direction[i]))
            return sa_error_set(err, "%s: direction matrix has a non-finite entry", path);
    }
    const double *d = img->direction;
    double det = d[0] * (d[4] * d[8] - d[5] * d[7]) - d[1] * (d[3] * d[8] - d[5] * d[6]) +
                 d[2] * (d[3] * d[7] - d[4] * d[6]);
    if (!(fabs(det) > 1e-6))
        return sa_error_set(err, "%s: direction matrix is degenerate (determinant %g)", path, det);
    return 0;
}

/* What the header check (sa_header_check_fn) of a read needs. */
typedef struct read_context {
    const char *path;
    const sa_image *like;     /* NULL: no reference geometry */
    const char *like_path;
    int (*data_check)(const char *path, sa_error *err); /* ITK path: before the voxels */
    const char *root;         /* real path every file read must resolve inside; NULL: none */
} read_context;

int sa_image_io_failure(const char *path, const char *what, int e, sa_error *err) {
    sa_error_set(err, "%s: cannot %s: %s", path, what, strerror(e));
    if (e == ENOENT || e == ENOTDIR || e == ELOOP || e == ENAMETOOLONG || e == EISDIR) return -1;
    return SA_IMAGE_READ_NOT_RUN;
}

/* Runs on the header, before any voxel memory is allocated: geometry usable (-1),
 * geometry equal to the reference's (-2), then the data checks ITK needs (-1, or
 * SA_IMAGE_READ_NOT_RUN where the file could not be read). */
static int header_check(const sa_image *hdr, void *ctx_v, sa_error *err) {
    const read_context *ctx = ctx_v;
    if (check_read_image(ctx->path, hdr, err) != 0) return -1;
    if (ctx->like && sa_image_same_geometry(ctx->like, ctx->like_path, hdr, ctx->path, err) != 0)
        return -2;
    if (ctx->data_check) {
        int rc = ctx->data_check(ctx->path, err);
        if (rc != 0) return rc == SA_IMAGE_READ_NOT_RUN ? rc : -1;
    }
    return 0;
}

/* The file's first block, read the way the readers open it: an open or read
 * that fails here is this host's failure (sa_image_io_failure), which the
 * readers below, ITK's above all, would only report as an unreadable image. */
static int probe_readable(const char *path, sa_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return sa_image_io_failure(path, "open", errno, err);
    char buf[4096];
    int e = fread(buf, 1, sizeof buf, fp) < sizeof buf && ferror(fp) ? errno : 0;
    fclose(fp);
    return e ? sa_image_io_failure(path, "read", e, err) : 0;
}

/* Before ITK opens a file: what it would read from elsewhere, print about, or
 * read wrongly, judged here; sets the check to run once the header is accepted. */
static int before_itk(const char *path, read_context *ctx, sa_error *err) {
    if (is_nifti_name(path)) {
        ctx->data_check = sa_nifti_precheck_data;
        return sa_nifti_precheck_header(path, err);
    }
    if (sa_has_suffix(path, ".mha") || sa_has_suffix(path, ".mhd")) {
        ctx->data_check = sa_metaimage_check_data;
        return sa_metaimage_check_header(path, ctx->root, err);
    }
    if (sa_has_suffix(path, ".nrrd") || sa_has_suffix(path, ".nhdr")) {
        ctx->data_check = sa_nrrd_check_data;
        return sa_nrrd_check_header(path, ctx->root, err);
    }
    /* read_image lets no other name through */
    return sa_error_set(err, "%s: unsupported image format", path);
}

/* The formats docs/image-io.md documents, each of which is checked before ITK
 * reads it. Any other name is refused rather than handed to ITK's factory, whose
 * other readers (Analyze .hdr/.img, a single DICOM file through GDCM, PNG, ...)
 * SegArena does not check: niftilib zero-fills a short .img, GDCM reads a lone
 * slice of a series. */
static int readable_name(const char *path, sa_error *err) {
    static const char *const known[] = {".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (sa_has_suffix(path, known[i])) return 0;
    if (sa_has_suffix(path, ".dcm"))
        return sa_error_set(err, "%s: a single DICOM file is not read; give the folder that "
                            "holds its series", path);
    return sa_error_set(err, "%s: unsupported image format (SegArena reads .nii, .nii.gz, .mha, "
                        ".mhd, .nrrd, .nhdr, or a folder holding one DICOM series)", path);
}

/* Copies msg into out (cap bytes) with every occurrence of from replaced by to. */
static void replace_all(const char *msg, const char *from, const char *to, char *out, size_t cap) {
    size_t n = 0, from_len = strlen(from), to_len = strlen(to);
    while (*msg && n + 1 < cap) {
        if (from_len && strncmp(msg, from, from_len) == 0) {
            size_t k = to_len < cap - 1 - n ? to_len : cap - 1 - n;
            memcpy(out + n, to, k);
            n += k;
            msg += from_len;
        } else {
            out[n++] = *msg++;
        }
    }
    out[n] = '\0';
}

/* ITK's niftilib looks a NIfTI file up by its base name (nifti_findhdrname):
 * asked for X.nii.gz it opens X.nii when one lies beside it, after every check
 * here ran on X.nii.gz. So ITK never sees the name it was given: it reads a
 * symbolic link to the named file (its absolute path), with a fixed base name and
 * the same suffix, alone in a private folder made for this read in $TMPDIR (or
 * /tmp). The only file niftilib can find there is the named one. The folder is
 * removed before this returns, whatever happened; ITK's messages name the file
 * asked for, never the link. */
static int itk_read_nifti_alone(const char *path, read_context *ctx, sa_image *out,
                                sa_error *err) {
    /* the link's target: path made absolute (the link lives in another folder) */
    char cwd[4096] = "";
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd))
        return sa_error_set(err, "%s: cannot resolve its path: %s", path, strerror(errno));
    size_t target_len = strlen(cwd) + strlen(path) + 2;
    char *target = malloc(target_len);
    if (!target) return sa_error_set(err, "%s: out of memory", path);
    snprintf(target, target_len, "%s%s%s", cwd, cwd[0] ? "/" : "", path);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    size_t len = strlen(path);
    const char *suffix = path + len - (sa_has_suffix(path, ".nii.gz") ? 7 : 4);
    size_t cap = strlen(tmp) + 64;
    char *dir = malloc(cap), *link = malloc(cap);
    int rc;
    if (!dir || !link) {
        rc = sa_error_set(err, "%s: out of memory", path);
    } else {
        snprintf(dir, cap, "%s/segarena-itk-XXXXXX", tmp);
        /* a folder or link that cannot be made is this host's fault (a full or
         * unwritable $TMPDIR), not the file's: SA_IMAGE_READ_NOT_RUN */
        if (!sa_tmp_mkdtemp(dir)) {
            sa_error_set(err, "%s: cannot create a private folder in %s for the ITK reader: %s",
                         path, tmp, strerror(errno));
            rc = SA_IMAGE_READ_NOT_RUN;
        } else {
            snprintf(link, cap, "%s/image%s", dir, suffix);
            if (sa_tmp_symlink(target, link) != 0) {
                sa_error_set(err, "%s: cannot link it into %s for the ITK reader: %s", path, dir,
                             strerror(errno));
                rc = SA_IMAGE_READ_NOT_RUN;
            } else {
                sa_error inner = {{0}};
                rc = sa_itk_read_file(link, header_check, ctx, out, &inner);
                if (rc != 0 && err) replace_all(inner.msg, link, path, err->msg, sizeof err->msg);
                unlink(link);
                sa_tmp_forget(link);
            }
            rmdir(dir);
            sa_tmp_forget(dir);
        }
    }
    free(dir);
    free(link);
    free(target);
    return rc;
}

/* Checks every entry of a DICOM series folder before GDCM lists it. GDCM's
 * listing (gdcm::Directory, not recursive) stat()s each entry, so it follows
 * every symlink, wherever it leads, and it stops listing at the first entry it
 * cannot stat (a dangling symlink) or that is neither a file nor a folder: the
 * series was then "no DICOM series", or the files listed before it. So a
 * dangling symlink, a FIFO or a device is named here, and with a root every file
 * must resolve inside it (an import's source folder: a series of links to files
 * elsewhere must not be read). Folders are skipped, as GDCM skips them. */
static int check_dicom_folder(const char *path, const char *root, sa_error *err) {
    DIR *dir = opendir(path);
    if (!dir) return sa_error_set(err, "%s: cannot list the folder: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *ent;
    while (rc == 0 && (ent = readdir(dir)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
        char file[PATH_MAX];
        if (snprintf(file, sizeof file, "%s/%s", path, ent->d_name) >= (int)sizeof file) {
            rc = sa_error_set(err, "%s: path too long", path);
            break;
        }
        struct stat st;
        if (stat(file, &st) != 0) {
            struct stat lst;
            if (lstat(file, &lst) == 0 && S_ISLNK(lst.st_mode))
                rc = sa_error_set(err, "%s: dangling symlink in a DICOM series folder", file);
            else
                rc = sa_error_set(err, "%s: %s", file, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            continue; /* not read */
        } else if (!S_ISREG(st.st_mode)) {
            rc = sa_error_set(err, "%s: not a regular file (a DICOM series folder holds files "
                              "and folders only)", file);
        } else if (root) {
            rc = sa_path_inside(file, root, err);
        }
    }
    closedir(dir);
    return rc;
}

static int read_image(const char *path, sa_reader reader, const sa_image *like,
                      const char *like_path, const char *root, sa_image *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    if (!path || !*path) return sa_error_set(err, "(empty path): no file name given");
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return sa_error_set(err, "%s: no such file or folder", path);
        return sa_image_io_failure(path, "stat it", errno, err);
    }
    if (root && sa_path_inside(path, root, err) != 0) return -1;
    read_context ctx = {path, like, like_path, NULL, root};
    int rc;
    if (S_ISDIR(st.st_mode)) {
        if (reader == SA_READER_NATIVE)
            return sa_error_set(err, "%s: is a folder; the native reader reads NIfTI files only",
                                path);
        if (check_dicom_folder(path, root, err) != 0) return -1;
        /* a DICOM series is read whole (its memory is that of its files), then compared */
        rc = sa_itk_read_dicom_folder(path, out, err);
        if (rc == 0) rc = header_check(out, &ctx, err);
    } else if (!S_ISREG(st.st_mode)) {
        return sa_error_set(err, "%s: not a regular file", path);
    } else if (access(path, R_OK) != 0) {
        return sa_image_io_failure(path, "read", errno, err);
    } else if (readable_name(path, err) != 0) {
        return -1;
    } else if ((rc = probe_readable(path, err)) != 0) {
        return rc;
    } else {
        rc = SA_NATIVE_NEEDS_ITK;
        if (reader != SA_READER_ITK && is_nifti_name(path)) {
            sa_error reason = {{0}};
            rc = sa_nifti_native_read(path, header_check, &ctx, out, &reason);
            if (rc == SA_NATIVE_NEEDS_ITK && reader == SA_READER_NATIVE)
                return sa_error_set(err, "%s: the native NIfTI reader does not handle this file "
                                    "(%s); use the ITK reader", path, reason.msg);
            if (rc < 0) {
                if (err) *err = reason;
                return rc;
            }
        } else if (reader == SA_READER_NATIVE) {
            return sa_error_set(err, "%s: the native reader reads .nii and .nii.gz files only",
                                path);
        }
        if (rc == SA_NATIVE_NEEDS_ITK) {
            if ((rc = before_itk(path, &ctx, err)) != 0)
                return rc == SA_IMAGE_READ_NOT_RUN ? rc : -1;
            if (is_nifti_name(path))
                rc = itk_read_nifti_alone(path, &ctx, out, err);
            else /* MetaImage and NRRD name their data file beside the header: as they are */
                rc = sa_itk_read_file(path, header_check, &ctx, out, err);
        }
    }
    if (rc != 0) {
        sa_image_free(out);
        return rc == -2 || rc == SA_IMAGE_READ_NOT_RUN ? rc : -1;
    }
    if (check_read_image(path, out, err) != 0) {
        sa_image_free(out);
        return -1;
    }
    return 0;
}

int sa_image_read_with(const char *path, sa_reader reader, sa_image *out, sa_error *err) {
    return read_image(path, reader, NULL, NULL, NULL, out, err) == 0 ? 0 : -1;
}

int sa_image_read_inside(const char *path, const char *root, sa_image *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    char real_root[PATH_MAX];
    if (!root || !realpath(root, real_root))
        return sa_error_set(err, "%s: cannot resolve the folder %s: %s", path ? path : "",
                            root ? root : "(none)", root ? strerror(errno) : "no folder given");
    return read_image(path, SA_READER_AUTO, NULL, NULL, real_root, out, err) == 0 ? 0 : -1;
}

int sa_image_read(const char *path, sa_image *out, sa_error *err) {
    return sa_image_read_with(path, SA_READER_AUTO, out, err);
}

int sa_image_read_like(const char *path, const sa_image *like, const char *like_path,
                       sa_image *out, sa_error *err) {
    return read_image(path, SA_READER_AUTO, like, like_path, NULL, out, err);
}

/* ---- writing ---- */

static int output_format_compresses(const char *path, int *compress) {
    if (sa_has_suffix(path, ".nii.gz") || sa_has_suffix(path, ".mha") ||
        sa_has_suffix(path, ".nrrd")) {
        *compress = 1;
        return 0;
    }
    if (sa_has_suffix(path, ".nii") || sa_has_suffix(path, ".mhd") || sa_has_suffix(path, ".nhdr")) {
        *compress = 0;
        return 0;
    }
    return -1;
}

void sa_remove_folder(const char *folder, int depth) {
    DIR *dir = opendir(folder);
    if (dir) {
        struct dirent *ent;
        while ((ent = readdir(dir)) != NULL) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
            char path[PATH_MAX];
            if (snprintf(path, sizeof path, "%s/%s", folder, ent->d_name) >= (int)sizeof path) continue;
            struct stat sb;
            if (depth > 0 && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
                sa_remove_folder(path, depth - 1);
            else
                unlink(path);
        }
        closedir(dir);
    }
    rmdir(folder);
}

/* Moves every file of tmpdir except `last` into folder, then `last`: for
 * two-file formats (.mhd + .raw, .nhdr + .raw) the header appears only once its
 * data file is in place. Each rename(2) is atomic within the same file system. */
static int move_out_of_temp_folder(const char *tmpdir, const char *folder, const char *last,
                                   const char *path, sa_error *err) {
    DIR *dir = opendir(tmpdir);
    if (!dir) return sa_error_set(err, "%s: cannot list temporary folder: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *ent;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        rewinddir(dir);
        while (rc == 0 && (ent = readdir(dir)) != NULL) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
            int is_last = strcmp(ent->d_name, last) == 0;
            if (is_last != (pass == 1)) continue;
            size_t n1 = strlen(tmpdir) + strlen(ent->d_name) + 2;
            size_t n2 = strlen(folder) + strlen(ent->d_name) + 2;
            char *from = malloc(n1), *to = malloc(n2);
            if (!from || !to) {
                rc = sa_error_set(err, "%s: out of memory", path);
            } else {
                snprintf(from, n1, "%s/%s", tmpdir, ent->d_name);
                snprintf(to, n2, "%s/%s", folder, ent->d_name);
                if (rename(from, to) != 0)
                    rc = sa_error_set(err, "%s: cannot rename %s into place: %s", path, from,
                                      strerror(errno));
            }
            free(from);
            free(to);
        }
    }
    closedir(dir);
    return rc;
}

int sa_image_write_path_check(const char *path, sa_error *err) {
    if (!path || !*path) return sa_error_set(err, "(empty path): no file name given");
    int compress = 0;
    if (output_format_compresses(path, &compress) != 0)
        return sa_error_set(err, "%s: unsupported output format (use .nii, .nii.gz, .mha, .mhd, "
                            ".nrrd or .nhdr)", path);
    /* the folder it goes into must exist and take new files (a writer makes its
     * temporary file there): said before any work, not after it */
    const char *slash = strrchr(path, '/');
    if (slash && !slash[1]) return sa_error_set(err, "%s: path names a folder, not a file", path);
    char folder[4096];
    if (!slash) snprintf(folder, sizeof folder, ".");
    else if (slash == path) snprintf(folder, sizeof folder, "/");
    else if ((size_t)(slash - path) < sizeof folder) snprintf(folder, sizeof folder, "%.*s", (int)(slash - path), path);
    else return sa_error_set(err, "%s: path too long", path);
    struct stat st;
    if (stat(folder, &st) != 0)
        return sa_error_set(err, "%s: its folder %s does not exist (%s)", path, folder, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return sa_error_set(err, "%s: %s is not a folder", path, folder);
    if (access(folder, W_OK | X_OK) != 0)
        return sa_error_set(err, "%s: cannot write in its folder %s (%s)", path, folder, strerror(errno));
    return 0;
}

int sa_image_write(const char *path, const sa_image *img, sa_error *err) {
    if (sa_image_write_path_check(path, err)) return -1;
    int compress = 0;
    output_format_compresses(path, &compress);
    if (!img || !img->data || sa_pixel_size(img->type) == 0)
        return sa_error_set(err, "%s: nothing to write (no voxel data)", path);
    if (check_read_image(path, img, err) != 0) return -1;

    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base) return sa_error_set(err, "%s: path names a folder, not a file", path);
    size_t folder_len = slash ? (size_t)(slash - path) : 1;
    char *folder = malloc(folder_len + 1);
    char *tmpdir = malloc(folder_len + 16);
    char *tmpfile = malloc(folder_len + 16 + strlen(base) + 2);
    if (!folder || !tmpdir || !tmpfile) {
        free(folder);
        free(tmpdir);
        free(tmpfile);
        return sa_error_set(err, "%s: out of memory", path);
    }
    if (slash) {
        memcpy(folder, path, folder_len);
        folder[folder_len] = '\0';
        if (folder_len == 0) strcpy(folder, "/");
    } else {
        strcpy(folder, ".");
    }
    snprintf(tmpdir, folder_len + 16, "%s/.tmp-XXXXXX", folder);
    int rc = 0;
    /* noted, with the file inside (removed first): an interrupted command
     * (segarena consensus, score) leaves no <folder>/.tmp-XXXXXX */
    if (!sa_tmp_mkdtemp(tmpdir)) {
        rc = sa_error_set(err, "%s: cannot create a temporary folder in %s: %s", path, folder,
                          strerror(errno));
    } else if (snprintf(tmpfile, folder_len + 16 + strlen(base) + 2, "%s/%s", tmpdir, base),
               sa_tmp_note_file(tmpfile) != 0) {
        rc = sa_error_set(err, "%s: out of memory", path);
        rmdir(tmpdir);
        sa_tmp_forget(tmpdir);
    } else {
        /* NIfTI goes through the native writer (nifti_write.c), the rest through ITK */
        if (sa_has_suffix(base, ".nii") || sa_has_suffix(base, ".nii.gz"))
            rc = sa_nifti_write(tmpfile, img, compress, err);
        else
            rc = sa_itk_write_file(tmpfile, img, compress, err);
        if (rc != 0) {
            /* the writers name the temporary file; name the file the caller asked for */
            sa_error inner = {{0}};
            if (err) inner = *err;
            const char *problem = strstr(inner.msg, ": ");
            rc = sa_error_set(err, "%s: %s", path, problem ? problem + 2 : "cannot write");
        } else {
            rc = move_out_of_temp_folder(tmpdir, folder, base, path, err);
        }
        sa_remove_folder(tmpdir, 0);
        sa_tmp_forget(tmpfile); /* after the removal: a signal before it still removes them */
        sa_tmp_forget(tmpdir);
    }
    free(folder);
    free(tmpdir);
    free(tmpfile);
    return rc;
}

/* ---- geometry comparison ---- */

/* v, with -0 written as 0 (a negated zero, as ITK's RAS to LPS flip makes, is
 * zero all the same). */
static double no_negative_zero(double v) {
    return v == 0 ? 0.0 : v;
}

static void describe_geometry(const sa_image *img, char *buf, size_t cap) {
    double d[9], o[3];
    for (int i = 0; i < 9; i++) d[i] = no_negative_zero(img->direction[i]);
    for (int i = 0; i < 3; i++) o[i] = no_negative_zero(img->origin[i]);
    snprintf(buf, cap,
             "size %zux%zux%zu spacing %.9gx%.9gx%.9g origin (%.9g, %.9g, %.9g) "
             "direction (%.6g %.6g %.6g; %.6g %.6g %.6g; %.6g %.6g %.6g)",
             img->size[0], img->size[1], img->size[2], img->spacing[0], img->spacing[1],
             img->spacing[2], o[0], o[1], o[2], d[0], d[1], d[2],
             d[3], d[4], d[5], d[6], d[7], d[8]);
}

int sa_image_same_geometry(const sa_image *a, const char *a_path, const sa_image *b,
                           const char *b_path, sa_error *err) {
    const char *what = NULL;
    for (int i = 0; i < 3 && !what; i++)
        if (a->size[i] != b->size[i]) what = "size";
    for (int i = 0; i < 3 && !what; i++) {
        double x = a->spacing[i], y = b->spacing[i];
        if (!(fabs(x - y) <= 1e-4 * fmax(fabs(x), fabs(y)))) what = "spacing";
    }
    for (int i = 0; i < 3 && !what; i++)
        if (!(fabs(a->origin[i] - b->origin[i]) <= 1e-4)) what = "origin";
    for (int i = 0; i < 9 && !what; i++)
        if (!(fabs(a->direction[i] - b->direction[i]) <= 1e-4)) what = "direction";
    if (!what) return 0;
    char ga[512], gb[512];
    describe_geometry(a, ga, sizeof ga);
    describe_geometry(b, gb, sizeof gb);
    return sa_error_set(err, "geometry mismatch (%s differs): %s %s vs %s %s", what,
                        a_path ? a_path : "(first image)", ga, b_path ? b_path : "(second image)",
                        gb);
}
