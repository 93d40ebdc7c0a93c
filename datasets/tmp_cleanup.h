/*
 * tmp_cleanup.h: temporary files and folders that an interrupted command
 * (Ctrl-C, a kill) removes before it dies. The code that makes them (the -o
 * file of `segarena score`, the private folder of an ITK NIfTI read in image.c)
 * makes them through these functions, which note them; a command that wants
 * them removed on SIGINT, SIGTERM, SIGHUP and SIGQUIT calls
 * sa_tmp_cleanup_on_signals() first (docs/image-io.md).
 */
#ifndef SA_TMP_CLEANUP_H
#define SA_TMP_CLEANUP_H

#include "metrics.h" /* sa_error */

/* mkstemp(template) / mkdtemp(template) / symlink(target, path), the result
 * noted for removal in one step: a signal handled by the thread of
 * sa_tmp_cleanup_on_signals() finds it noted or not made. Same returns as the
 * POSIX calls (errno set on failure; ENOMEM when it cannot be noted, nothing
 * then left behind). */
int sa_tmp_mkstemp(char *template_path);
char *sa_tmp_mkdtemp(char *template_path);
int sa_tmp_symlink(const char *target, const char *path);

/* Notes a file about to be made by another call (a writer given its path),
 * inside a folder noted before: removed before that folder. 0, or -1 with errno
 * ENOMEM (nothing noted). */
int sa_tmp_note_file(const char *path);

/* Forgets a path noted above: call it once the path is removed or renamed
 * (a signal in between removes a name that is gone: harmless). */
void sa_tmp_forget(const char *path);

/* Blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT (those not ignored) and starts a
 * thread that waits for them: on one, it removes every noted path, newest first
 * (files and links unlinked, folders rmdir'ed), keeps the others from noting new
 * ones, and the process dies of the signal as it would have. Call it before any
 * other thread starts (they inherit the blocked signals); a process started
 * later inherits them too, so spawn with POSIX_SPAWN_SETSIGMASK. Returns 0, or
 * -1 with err set (nothing changed). */
int sa_tmp_cleanup_on_signals(sa_error *err);

#endif
