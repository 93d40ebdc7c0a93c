/*
 * intake_internal.h: the pieces of intake shared between archive.c (byte streams
 * with capped decompression, a strict tar reader) and intake.c (the checks).
 * Not installed; tests/unit/test_archive.c includes it.
 */
#ifndef SEGARENA_INTAKE_INTERNAL_H
#define SEGARENA_INTAKE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "submissions.h"

/* ---- Byte streams: a byte range of a file, optionally decompressed ---- */

enum sa_compression { SA_COMP_NONE, SA_COMP_GZIP, SA_COMP_XZ, SA_COMP_ZSTD, SA_COMP_BZIP2 };

/* Which compression the first bytes announce (SA_COMP_NONE when none). */
int sa_sniff_compression(const unsigned char *buf, size_t n);

typedef struct sa_stream sa_stream;

/* len bytes of fd from off on (read with pread: the stream owns no file position;
 * fd stays the caller's). */
sa_stream *sa_stream_range(int fd, uint64_t off, uint64_t len);
/* Decompress inner (SA_COMP_GZIP or SA_COMP_XZ); owns inner from now on. Reading past
 * cap decompressed bytes fails with SA_REFUSED_TOO_LARGE. */
sa_stream *sa_stream_decompress(sa_stream *inner, int comp, uint64_t cap);
/* Reads up to n bytes: returns the count, 0 at the end, -1 on error (err set, and
 * sa_stream_refusal() says which class: truncated, corrupt = not_a_tar, too_large). */
int64_t sa_stream_read(sa_stream *s, void *buf, size_t n, sa_error *err);
/* Reads exactly n bytes; a short read is "truncated". 0 or -1. */
int sa_stream_read_full(sa_stream *s, void *buf, size_t n, sa_error *err);
int sa_stream_refusal(const sa_stream *s);
/* Starts a sha256 over every byte read from now on; _hex ends it (64 hex + NUL). */
void sa_stream_hash(sa_stream *s);
void sa_stream_hash_hex(sa_stream *s, char hex[65]);
uint64_t sa_stream_produced(const sa_stream *s);
void sa_stream_close(sa_stream *s);

/* ---- Tar: ustar, pax (path, linkpath, size) and GNU long names ---- */

enum sa_tar_type {
    SA_TAR_FILE,
    SA_TAR_DIR,
    SA_TAR_SYMLINK,
    SA_TAR_HARDLINK,
    SA_TAR_FIFO,
    SA_TAR_DEVICE, /* character or block device */
    SA_TAR_OTHER   /* sparse, multi-volume, anything else */
};

#define SA_TAR_NAME_MAX 4096

typedef struct sa_tar_entry {
    char name[SA_TAR_NAME_MAX];     /* as stored (pax/GNU long name applied) */
    char linkname[SA_TAR_NAME_MAX]; /* symlink target or hard-link member */
    int type;                       /* enum sa_tar_type */
    char typeflag;                  /* the raw flag, for messages */
    uint64_t size;                  /* data bytes that follow */
    uint64_t data_offset;           /* offset of the data in the tar stream */
} sa_tar_entry;

typedef struct sa_tar sa_tar;

/* A tar read from s (not owned). max_meta caps pax/long-name records. */
sa_tar *sa_tar_open(sa_stream *s);
/* Next entry: 1, 0 at the end-of-archive marker, -1 on error (err and class set:
 * not_a_tar for a bad first header, truncated, unsafe_archive for a bad later
 * header, too_large from the stream). Unread data of the previous entry is skipped. */
int sa_tar_next(sa_tar *t, sa_tar_entry *e, sa_error *err);
/* Reads the current entry's data: count, 0 at its end, -1 on error. */
int64_t sa_tar_read(sa_tar *t, void *buf, size_t n, sa_error *err);
/* Reads the rest of the stream after the end marker (so that a hash over the
 * stream covers it). 0 or -1. */
int sa_tar_drain(sa_tar *t, sa_error *err);
int sa_tar_refusal(const sa_tar *t);
uint64_t sa_tar_entries(const sa_tar *t);
void sa_tar_close(sa_tar *t);

/* Normalises a member name in place: drops "./" and empty components and a trailing
 * '/'. Returns 0, or -1 when it is absolute, has a ".." component, is empty after
 * normalisation, or holds a control character (why says which). */
int sa_tar_normalize(char *name, const char **why);

/* Does a symlink at member path `path` (normalised) with target `target` escape the
 * image root lexically (".." above the root, from the link's own directory or, for an
 * absolute target, from the root)? 1 yes, 0 no. */
int sa_symlink_escapes(const char *path, const char *target);

/* Parses config.User's user part ("1000", "app", "app:grp", "1000:1000"): uid >= 0 when
 * numeric, else -1 and name filled. Returns 0, or -1 when empty. */
int sa_parse_user(const char *user, long *uid, char *name, size_t name_size);
/* The group part of USER: *gid its number, -1 when none or a name; -1 returned
 * when malformed. */
int sa_parse_group(const char *user, long *gid);
/* Looks name up in passwd text: its uid (and *gid when gid is not NULL); -1 when
 * absent, on several lines or malformed; -2 when a line starts with a character
 * other than [A-Za-z0-9_#] (readers trim such lines differently). */
long sa_passwd_uid(const char *passwd, size_t len, const char *name, long *gid);

/* ---- Temporary names of loads (load_names.c) ---- */

typedef struct sa_load_name {
    char name[96];        /* "localhost/segarena/load-[<tag>-]<24 hex>" */
    char lock_path[4200]; /* "<lock_dir>/load-<tag>-<24 hex>.lock"; "" without an owner */
    int lock_fd;          /* flock'ed, close-on-exec (intake hands it to skopeo alone); -1 without an owner */
} sa_load_name;

/* A fresh temporary name for one load; with an owner, its lock file created and
 * locked first, so that the name never exists unlocked while the load lives.
 * 0, or -1 (bad owner, lock file not writable). */
int sa_load_name_take(const sa_intake_owner *owner, sa_load_name *out, sa_error *err);
/* Once the load has removed its name (or failed to: the sweep removes a name
 * whose lock file is gone): the lock file deleted, then unlocked. */
void sa_load_name_release(sa_load_name *ln);

#endif
