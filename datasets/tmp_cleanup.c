/*
 * tmp_cleanup.c: the temporary paths an interrupted command removes before it
 * dies (tmp_cleanup.h). A signal handler cannot do it safely in a process whose
 * threads make such paths: a handler running while another thread is between
 * mkdtemp and noting its folder would miss it, and listing or locking is not
 * async-signal-safe. So the signals are blocked in every thread and one thread
 * waits for them (sigwait); making a path and noting it happen under one lock,
 * which that thread takes and keeps while it removes them and the process dies.
 */
#define _DEFAULT_SOURCE /* mkdtemp, mkstemp, symlink */
#include "tmp_cleanup.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct noted {
    char *path;
    int is_folder;
} noted;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static noted *paths;
static size_t n_paths, cap_paths;

static const int interrupting[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_INTERRUPTING (sizeof interrupting / sizeof interrupting[0])

/* Under the lock. 0, or -1 (out of memory). */
static int note(const char *path, int is_folder) {
    if (n_paths == cap_paths) {
        size_t cap = cap_paths ? 2 * cap_paths : 16;
        noted *grown = realloc(paths, cap * sizeof *grown);
        if (!grown) return -1;
        paths = grown, cap_paths = cap;
    }
    char *copy = strdup(path);
    if (!copy) return -1;
    paths[n_paths++] = (noted){copy, is_folder};
    return 0;
}

int sa_tmp_mkstemp(char *template_path) {
    pthread_mutex_lock(&lock);
    int fd = mkstemp(template_path);
    if (fd >= 0 && note(template_path, 0) != 0) {
        close(fd);
        unlink(template_path);
        fd = -1;
        errno = ENOMEM;
    }
    pthread_mutex_unlock(&lock);
    return fd;
}

char *sa_tmp_mkdtemp(char *template_path) {
    pthread_mutex_lock(&lock);
    char *made = mkdtemp(template_path);
    if (made && note(made, 1) != 0) {
        rmdir(made);
        made = NULL;
        errno = ENOMEM;
    }
    pthread_mutex_unlock(&lock);
    return made;
}

int sa_tmp_symlink(const char *target, const char *path) {
    pthread_mutex_lock(&lock);
    int rc = symlink(target, path);
    if (rc == 0 && note(path, 0) != 0) {
        unlink(path);
        rc = -1;
        errno = ENOMEM;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int sa_tmp_note_file(const char *path) {
    pthread_mutex_lock(&lock);
    int rc = note(path, 0);
    pthread_mutex_unlock(&lock);
    if (rc != 0) errno = ENOMEM;
    return rc;
}

void sa_tmp_forget(const char *path) {
    pthread_mutex_lock(&lock);
    for (size_t i = n_paths; i-- > 0;)
        if (!strcmp(paths[i].path, path)) {
            free(paths[i].path);
            memmove(&paths[i], &paths[i + 1], (n_paths - i - 1) * sizeof *paths);
            n_paths--;
            break;
        }
    if (n_paths == 0) {
        free(paths);
        paths = NULL;
        cap_paths = 0;
    }
    pthread_mutex_unlock(&lock);
}

static sigset_t waited;

static void *wait_for_signal(void *unused) {
    (void)unused;
    int sig;
    while (sigwait(&waited, &sig) != 0) {
    }
    /* kept until the end: no thread makes a path that would then be left */
    pthread_mutex_lock(&lock);
    for (size_t i = n_paths; i-- > 0;) /* newest first: a folder's link before the folder */
        if (paths[i].is_folder) rmdir(paths[i].path);
        else unlink(paths[i].path);
    /* die of the signal, as without this thread: its default action, unblocked
     * in this thread only, sent to this thread */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    pthread_kill(pthread_self(), sig);
    _exit(128 + sig); /* not reached */
}

int sa_tmp_cleanup_on_signals(sa_error *err) {
    sigemptyset(&waited);
    int any = 0;
    for (size_t i = 0; i < N_INTERRUPTING; i++) {
        struct sigaction old;
        /* a signal the caller ignores (a background job's SIGINT) stays ignored */
        if (sigaction(interrupting[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN) {
            sigaddset(&waited, interrupting[i]);
            any = 1;
        }
    }
    if (!any) return 0;
    sigset_t old_mask;
    int rc = pthread_sigmask(SIG_BLOCK, &waited, &old_mask);
    if (rc != 0) return sa_error_set(err, "cannot block the interrupting signals: %s", strerror(rc));
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, wait_for_signal, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        return sa_error_set(err, "cannot start the thread that removes temporary files on a signal: %s",
                            strerror(rc));
    }
    return 0;
}
