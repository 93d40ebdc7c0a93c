/*
 * files.h: the evaluator's file-system helpers (files.c), shared by submissions
 * (submit.c) and jobs (job.c): folders made on demand, files written atomically,
 * trees removed without crossing into another file system; server paths taken out
 * of a message meant for a challenger. Private to evaluator/.
 */
#ifndef SEGARENA_EVALUATOR_FILES_H
#define SEGARENA_EVALUATOR_FILES_H

#include <stddef.h>
#include <sys/types.h>

#include "metrics.h" /* sa_error */

/* mkdir -p; 0 or -1 naming the folder that could not be made. */
int sa_mkdir_p(const char *path, mode_t mode, sa_error *err);
/* Writes data to path through a unique temporary name in the same folder, fsync,
 * rename, fsync of the folder: readers see the old file or the whole new one, and
 * once it returns the file is on disk under its name. 0 or -1. */
int sa_write_atomic(const char *path, const void *data, size_t len, mode_t mode, sa_error *err);
/* Moves src to dst: src fsynced, then a rename and an fsync of dst's folder, or
 * across file systems a copy in 1 MiB pieces (never the whole file in memory)
 * written like sa_write_atomic, then src is removed. Once it returns, dst is on
 * disk (the store's row that names it is committed after). 0 or -1. */
int sa_move_file(const char *src, const char *dst, mode_t mode, sa_error *err);
/* Whether dir can take a small file (written, fsynced, removed): 1 when it cannot
 * because of the file system itself (ENOSPC, EDQUOT, EROFS, EIO: a full, read-only
 * or failing disk), with err naming dir and the cause; 0 otherwise (writable, or a
 * failure of another kind, which is left to the caller's own error). dir is made
 * if missing. */
int sa_dir_cannot_take_writes(const char *dir, sa_error *err);
/* rm -rf that stays on path's file system (a still-mounted tmpfs is left). */
void sa_remove_tree(const char *path);
/* Rewrites msg (a NUL-terminated text in a buffer of cap bytes) so that it names
 * no server path, for a reason shown to a challenger: a path that begins with one
 * of paths[0..n-1] (the folder or file itself, or anything under it) becomes name
 * ("the upload"), and any other absolute path "(a server path)". A path is taken
 * where it begins a word (at the start, or after a space, quote, bracket, '=',
 * ',' or ':', as in "docker-archive:/x") and ends at a space, quote, bracket,
 * ',', ';' or ':'. The text is cut (at a whole UTF-8 character) where it would
 * not fit in cap. */
void sa_hide_paths(char *msg, size_t cap, const char *const *paths, size_t n, const char *name);

#endif
