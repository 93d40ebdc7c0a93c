/*
 * intake.c: the checks of an uploaded image archive (../shared/spec/container-contract.md,
 * "The upload"), all done by SegArena itself before any engine reads the file, and
 * the load into containers-storage under a name SegArena chooses.
 */
#define _GNU_SOURCE /* nftw, pipe2 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "intake_internal.h"
#include "sandbox_internal.h"

extern char **environ;

#define GIB (1024ull * 1024 * 1024)
#define JSON_MAX (4u * 1024 * 1024)    /* manifest, index, config */
#define PASSWD_MAX (1024u * 1024)       /* /etc/passwd read from a layer */
#define PASSWD_LINE_MAX 65536u          /* Go's bufio.MaxScanTokenSize */
#define ETC_FILE_MAX (16u * 1024 * 1024) /* /etc/passwd, /etc/group: read as a stream, refused beyond */
#define MAX_MEMBERS 100000u             /* outer tar */
#define MAX_LAYERS 256u
#define MAX_SYMLINKS 2000000u
/* the symlink paths kept (each counted with 16 bytes of allocator overhead):
 * 2 000 000 links of 4 KiB names would be 8 GiB from a ~70 MB upload */
#define MAX_SYMLINK_BYTES (64u * 1024 * 1024)
#define STDERR_KEEP 360

void sa_intake_limits_default(sa_intake_limits *lim) {
    lim->max_upload_bytes = 10 * GIB;
    lim->max_unpacked_bytes = 10 * GIB;
    lim->max_image_bytes = 10 * GIB;
}

const char *sa_intake_refusal_name(int r) {
    static const char *names[] = {"none",        "not_a_tar",      "truncated",    "empty",
                                  "several_images", "wrong_architecture", "root_user",
                                  "no_entrypoint", "too_large",   "unsafe_archive",
                                  "invalid_image", "engine_refused", "internal_error"};
    if (r < 0 || r >= (int)(sizeof names / sizeof names[0])) return "unknown";
    return names[r];
}

/* ---- Context ---- */

enum { M_FILE, M_DIR, M_LINK };

typedef struct member {
    char *name; /* normalised */
    uint64_t off, size;
    int kind; /* M_FILE, M_DIR, M_LINK (only podman's legacy layer links) */
    char *target; /* M_LINK: the member it names ("<hex>.tar") */
} member;

typedef struct symset {
    char **keys;
    unsigned char *is_link;
    size_t cap, used;
    size_t bytes; /* the keys' sizes plus overhead, against MAX_SYMLINK_BYTES */
} symset;

/* A path of the image followed through the layers (/etc/passwd, /etc/group, the
 * targets of their links): its state after the last member before the stop. */
enum { W_ABSENT, W_FILE, W_DIR, W_SYMLINK, W_HARDLINK, W_OTHER };
typedef struct watch {
    char path[SA_TAR_NAME_MAX]; /* normalised, from the root */
    size_t stop_layer, stop_entry;
    int kind;
    char target[SA_TAR_NAME_MAX]; /* W_SYMLINK, W_HARDLINK: as written */
    size_t layer, entry;          /* the member that set it */
    uint64_t size, longest;       /* W_FILE: bytes, longest line */
} watch;

typedef struct ctx {
    const char *label;
    int fd;
    member *m;
    size_t n, cap;
    const sa_intake_limits *lim;
    sa_image_info *info;
    sa_error *err;
    symset links;
    char *passwd; /* content of etc/passwd in the image so far */
    size_t passwd_len;
    int passwd_state; /* 0 absent, 1 regular file, 2 present but not readable here */
    char passwd_why[64];
    watch etc[2]; /* etc/passwd, etc/group */
    char *layer_names[MAX_LAYERS];
    size_t nlayers;
} ctx;

/* The length of the valid UTF-8 character at p (1 to 4), or 0 where p's
 * bytes are not UTF-8 (overlong, surrogate, beyond U+10FFFF, cut short). */
static size_t utf8_char_len(const unsigned char *p) {
    unsigned c = p[0], cp, min;
    size_t n;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    cp = c & (0x7Fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
}

/* text as one line of valid UTF-8 into out (size > 0): control characters
 * become '?', a byte that is not part of valid UTF-8 "\xNN"; only whole
 * characters are written, so that a cut never splits one. */
static void printable(const char *text, char *out, size_t size) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t k = utf8_char_len(p);
        char esc[5];
        const char *piece = (const char *)p;
        size_t len = k;
        if (k == 0) {
            snprintf(esc, sizeof esc, "\\x%02X", *p);
            piece = esc, len = 4, k = 1;
        } else if (*p < 0x20 || *p == 0x7f) {
            piece = "?", len = 1;
        }
        if (n + len >= size) break;
        memcpy(out + n, piece, len);
        n += len;
        p += k;
    }
    out[n] = '\0';
}

/* Every refusal: "<archive>: <reason>", one line of valid UTF-8 (names from
 * the archive may hold any byte), class recorded. Returns -1. */
static int refuse(ctx *c, int refusal, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int refuse(ctx *c, int refusal, const char *fmt, ...) {
    char raw[440], reason[440], label[220];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    c->info->refusal = refusal;
    size_t ll = strlen(c->label);
    const char *tail = c->label + (ll > 200 ? ll - 200 : 0);
    while (ll > 200 && (*tail & 0xC0) == 0x80) tail++; /* not inside a character */
    printable(tail, label, sizeof label);
    /* the label and reason fit the message whole: no cut inside a character */
    size_t room = sizeof c->err->msg - strlen(label) - 6;
    printable(raw, reason, room < sizeof reason ? room : sizeof reason);
    return sa_error_set(c->err, "%s%s: %s", ll > 200 ? "..." : "", label, reason);
}

/* A refusal from a stream or tar error: keep its message and class. */
static int refuse_from(ctx *c, int refusal, const char *where) {
    char msg[sizeof c->err->msg];
    snprintf(msg, sizeof msg, "%s", c->err->msg);
    if (refusal == SA_REFUSED_NONE) refusal = SA_REFUSED_INTERNAL;
    return refuse(c, refusal, "%s%s%s", where, where[0] ? ": " : "", msg);
}

/* Member names for messages: shortened (at a character's start; refuse()
 * escapes what is not UTF-8). */
static const char *shown(const char *name, char *buf, size_t size) {
    size_t n = strlen(name);
    if (n < size) return name;
    const char *tail = name + n - (size - 4);
    for (int i = 0; i < 3 && (*tail & 0xC0) == 0x80; i++) tail++;
    snprintf(buf, size, "...%s", tail);
    return buf;
}

/* ---- Symlink set (open addressing on path strings) ---- */

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static long symset_find(const symset *s, const char *key, size_t keylen) {
    if (!s->cap) return -1;
    char tmp[SA_TAR_NAME_MAX];
    memcpy(tmp, key, keylen);
    tmp[keylen] = '\0';
    size_t i = (size_t)hash_str(tmp) & (s->cap - 1);
    while (s->keys[i]) {
        if (strcmp(s->keys[i], tmp) == 0) return (long)i;
        i = (i + 1) & (s->cap - 1);
    }
    return -1;
}

static int symset_set(symset *s, const char *key, int is_link) {
    long at = symset_find(s, key, strlen(key));
    if (at >= 0) {
        s->is_link[at] = (unsigned char)is_link;
        return 0;
    }
    if (!is_link) return 0;
    size_t kbytes = strlen(key) + 1 + 16;
    if (s->used >= MAX_SYMLINKS || s->bytes + kbytes > MAX_SYMLINK_BYTES) return -2;
    if ((s->used + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        char **nk = calloc(ncap, sizeof *nk);
        unsigned char *nl = calloc(ncap, 1);
        if (!nk || !nl) {
            free(nk);
            free(nl);
            return -1;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->keys[i]) continue;
            size_t j = (size_t)hash_str(s->keys[i]) & (ncap - 1);
            while (nk[j]) j = (j + 1) & (ncap - 1);
            nk[j] = s->keys[i];
            nl[j] = s->is_link[i];
        }
        free(s->keys);
        free(s->is_link);
        s->keys = nk;
        s->is_link = nl;
        s->cap = ncap;
    }
    char *k = strdup(key);
    if (!k) return -1;
    size_t j = (size_t)hash_str(k) & (s->cap - 1);
    while (s->keys[j]) j = (j + 1) & (s->cap - 1);
    s->keys[j] = k;
    s->is_link[j] = 1;
    s->used++;
    s->bytes += kbytes;
    return 0;
}

/* The longest proper prefix of path that is a symlink, or NULL. */
static int through_symlink(const symset *s, const char *path, size_t *prefix_len) {
    for (const char *p = path; *p; p++) {
        if (*p != '/') continue;
        long at = symset_find(s, path, (size_t)(p - path));
        if (at >= 0 && s->is_link[at]) {
            *prefix_len = (size_t)(p - path);
            return 1;
        }
    }
    return 0;
}

static void symset_free(symset *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->keys[i]);
    free(s->keys);
    free(s->is_link);
}

/* ---- The outer tar ---- */

static int member_cmp(const void *a, const void *b) {
    return strcmp(((const member *)a)->name, ((const member *)b)->name);
}

static const member *find_member(const ctx *c, const char *name) {
    char norm[SA_TAR_NAME_MAX];
    if (strlen(name) >= sizeof norm) return NULL;
    strcpy(norm, name);
    if (sa_tar_normalize(norm, NULL) < 0) return NULL;
    member key = {norm, 0, 0, 0, NULL};
    const member *m = bsearch(&key, c->m, c->n, sizeof *c->m, member_cmp);
    return m && m->kind == M_FILE ? m : NULL;
}

static int is_hex64(const char *s, size_t n) {
    if (n != 64) return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* The one symlink accepted in the outer tar: podman's docker-archive writes each layer
 * as "<diffid>.tar" plus a legacy "<id>/layer.tar -> ../<diffid>.tar". */
static int legacy_layer_link(const char *name, const char *target) {
    size_t nl = strlen(name), tl = strlen(target);
    return nl == 64 + 10 && is_hex64(name, 64) && strcmp(name + 64, "/layer.tar") == 0 && tl == 3 + 64 + 4 &&
           strncmp(target, "../", 3) == 0 && is_hex64(target + 3, 64) && strcmp(target + 67, ".tar") == 0;
}

static int scan_outer(ctx *c, uint64_t tar_size) {
    sa_stream *s = sa_stream_range(c->fd, 0, tar_size);
    sa_tar *t = s ? sa_tar_open(s) : NULL;
    if (!t) {
        sa_stream_close(s);
        return refuse(c, SA_REFUSED_INTERNAL, "out of memory");
    }
    int rc = -1;
    uint64_t total = 0;
    sa_tar_entry *e = malloc(sizeof *e);
    if (!e) {
        refuse(c, SA_REFUSED_INTERNAL, "out of memory");
        goto out;
    }
    for (;;) {
        int r = sa_tar_next(t, e, c->err);
        if (r < 0) {
            refuse_from(c, sa_tar_refusal(t), "");
            goto out;
        }
        if (r == 0) break;
        char buf[120];
        const char *why = NULL;
        char raw[SA_TAR_NAME_MAX];
        strcpy(raw, e->name);
        if (sa_tar_normalize(e->name, &why) < 0) {
            /* The root folder itself ("./") is harmless. */
            if (e->type == SA_TAR_DIR && strspn(raw, "./") == strlen(raw) && !strstr(raw, "..")) continue;
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: member '%s' %s", shown(raw, buf, 100), why);
            goto out;
        }
        int kind = e->type == SA_TAR_DIR ? M_DIR : M_FILE;
        if (e->type == SA_TAR_SYMLINK && legacy_layer_link(e->name, e->linkname)) {
            /* Resolved below to the regular file it names, which must exist. */
            kind = M_LINK;
        } else if (e->type == SA_TAR_SYMLINK || e->type == SA_TAR_HARDLINK) {
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: member '%s' is a %s link (only files and folders are accepted)",
                   shown(e->name, buf, 100), e->type == SA_TAR_SYMLINK ? "symbolic" : "hard");
            goto out;
        }
        if (kind != M_LINK && e->type != SA_TAR_FILE && e->type != SA_TAR_DIR) {
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE,
                   "unsafe archive: member '%s' has tar type '%c' (only files and folders are accepted)",
                   shown(e->name, buf, 100), e->typeflag >= 0x20 ? e->typeflag : '?');
            goto out;
        }
        if (sa_tar_entries(t) > MAX_MEMBERS) {
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: more than %u members", MAX_MEMBERS);
            goto out;
        }
        total += e->size;
        if (total > c->lim->max_unpacked_bytes) {
            refuse(c, SA_REFUSED_TOO_LARGE, "too large: the files in the archive exceed %llu bytes",
                   (unsigned long long)c->lim->max_unpacked_bytes);
            goto out;
        }
        if (c->n == c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : 64;
            member *nm = realloc(c->m, ncap * sizeof *nm);
            if (!nm) {
                refuse(c, SA_REFUSED_INTERNAL, "out of memory");
                goto out;
            }
            c->m = nm;
            c->cap = ncap;
        }
        char *name = strdup(e->name);
        if (!name) {
            refuse(c, SA_REFUSED_INTERNAL, "out of memory");
            goto out;
        }
        char *target = kind == M_LINK ? strdup(e->linkname + 3) : NULL;
        if (kind == M_LINK && !target) {
            free(name);
            refuse(c, SA_REFUSED_INTERNAL, "out of memory");
            goto out;
        }
        c->m[c->n++] = (member){name, e->data_offset, e->size, kind, target};
    }
    size_t files = 0;
    for (size_t i = 0; i < c->n; i++) files += c->m[i].kind != M_DIR;
    if (files == 0) {
        refuse(c, SA_REFUSED_EMPTY, "empty: the tar archive holds no files");
        goto out;
    }
    qsort(c->m, c->n, sizeof *c->m, member_cmp);
    for (size_t i = 1; i < c->n; i++) {
        if (strcmp(c->m[i - 1].name, c->m[i].name) == 0) {
            char buf[120];
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: member '%s' appears twice",
                   shown(c->m[i].name, buf, 100));
            goto out;
        }
    }
    /* Legacy layer links: the target must be a regular file of the archive, and no
     * member may lie under the link. The link then reads as its target. */
    for (size_t i = 0; i < c->n; i++) {
        if (c->m[i].kind != M_LINK) continue;
        char buf[120];
        member key = {c->m[i].target, 0, 0, 0, NULL};
        const member *t = bsearch(&key, c->m, c->n, sizeof *c->m, member_cmp);
        if (!t || t->kind != M_FILE) {
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: symbolic link '%s' does not name a file of the archive",
                   shown(c->m[i].name, buf, 100));
            goto out;
        }
        size_t ln = strlen(c->m[i].name);
        for (size_t j = 0; j < c->n; j++) {
            if (strncmp(c->m[j].name, c->m[i].name, ln) == 0 && c->m[j].name[ln] == '/') {
                refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: member '%s' goes through a symbolic link",
                       shown(c->m[j].name, buf, 100));
                goto out;
            }
        }
        c->m[i].off = t->off;
        c->m[i].size = t->size;
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->m[i].kind == M_LINK) c->m[i].kind = M_FILE;
    rc = 0;
    rc = 0;
out:
    free(e);
    sa_tar_close(t);
    sa_stream_close(s);
    return rc;
}

/* Reads a whole (small) member; hex gets its sha256 when non-NULL. */
static char *read_member(ctx *c, const char *name, size_t max, size_t *len, char hex[65]) {
    const member *m = find_member(c, name);
    char buf[120];
    if (!m) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: '%s' is missing from the archive", shown(name, buf, 100));
        return NULL;
    }
    if (m->size > max) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: '%s' is larger than %zu bytes", shown(name, buf, 100), max);
        return NULL;
    }
    char *data = malloc((size_t)m->size + 1);
    if (!data) {
        refuse(c, SA_REFUSED_INTERNAL, "out of memory");
        return NULL;
    }
    sa_stream *s = sa_stream_range(c->fd, m->off, m->size);
    if (!s) {
        free(data);
        refuse(c, SA_REFUSED_INTERNAL, "out of memory");
        return NULL;
    }
    sa_stream_hash(s);
    if (sa_stream_read_full(s, data, (size_t)m->size, c->err) < 0) {
        refuse_from(c, sa_stream_refusal(s), name);
        sa_stream_close(s);
        free(data);
        return NULL;
    }
    char h[65];
    sa_stream_hash_hex(s, h);
    if (hex) memcpy(hex, h, 65);
    sa_stream_close(s);
    data[m->size] = '\0';
    *len = (size_t)m->size;
    return data;
}

/* ---- JSON keys as Go reads them ----
 *
 * skopeo and podman decode these documents with Go's encoding/json into structs,
 * which match a key to a field name case-insensitively (Go 1.19 fold.go: ASCII
 * letters in either case, plus U+017F LONG S for 's' and U+212A KELVIN SIGN for
 * 'k'; Go 1.21's foldName also maps U+0130/U+0131 to 'i'), the last matching key
 * winning. jansson, and so SegArena, reads keys by their exact spelling: "Env"
 * and "env" are two keys to it, one field to the engine. So, in every object
 * that a Go struct reads, a key that folds to a field name must be spelled
 * exactly, and no two keys may fold alike. Maps whose keys are data (Labels,
 * annotations, ExposedPorts, Volumes, LayerSources' digests) are exact in Go
 * too: their keys are not checked, their values are where they are structs. */

enum { JK_LEAF, JK_OBJ, JK_LIST, JK_MAP, JK_MAP_OBJ };

typedef struct jfield {
    const char *name;
    int kind;
    const struct jfield *sub; /* JK_OBJ, JK_LIST (of objects), JK_MAP_OBJ: the values' fields */
} jfield;

#define JF_END {NULL, 0, NULL}

/* image-spec v1.1 Platform, plus docker's manifest-list "features" */
static const jfield jf_platform[] = {{"architecture", JK_LEAF, NULL}, {"os", JK_LEAF, NULL},
                                     {"os.version", JK_LEAF, NULL},   {"os.features", JK_LEAF, NULL},
                                     {"variant", JK_LEAF, NULL},      {"features", JK_LEAF, NULL},
                                     JF_END};
/* image-spec Descriptor and containers/image's Schema2Descriptor */
static const jfield jf_descriptor[] = {{"mediaType", JK_LEAF, NULL},   {"digest", JK_LEAF, NULL},
                                       {"size", JK_LEAF, NULL},        {"urls", JK_LEAF, NULL},
                                       {"annotations", JK_MAP, NULL},  {"data", JK_LEAF, NULL},
                                       {"platform", JK_OBJ, jf_platform}, {"artifactType", JK_LEAF, NULL},
                                       JF_END};
/* docker-archive manifest.json entries (containers/image docker/internal/tarfile) */
static const jfield jf_docker_item[] = {{"Config", JK_LEAF, NULL},   {"RepoTags", JK_LEAF, NULL},
                                        {"Layers", JK_LEAF, NULL},   {"Parent", JK_LEAF, NULL},
                                        {"LayerSources", JK_MAP_OBJ, jf_descriptor}, JF_END};
/* image-spec Index, Manifest; docker schema2 manifest; manifest.GuessMIMEType's probes */
static const jfield jf_index[] = {{"schemaVersion", JK_LEAF, NULL},         {"mediaType", JK_LEAF, NULL},
                                  {"artifactType", JK_LEAF, NULL},          {"manifests", JK_LIST, jf_descriptor},
                                  {"subject", JK_OBJ, jf_descriptor},       {"annotations", JK_MAP, NULL},
                                  {"config", JK_OBJ, jf_descriptor},        {"layers", JK_LIST, jf_descriptor},
                                  {"signatures", JK_LEAF, NULL},            JF_END};
#define jf_manifest jf_index
/* docker's HealthConfig */
static const jfield jf_health[] = {{"Test", JK_LEAF, NULL},        {"Interval", JK_LEAF, NULL},
                                   {"Timeout", JK_LEAF, NULL},     {"StartPeriod", JK_LEAF, NULL},
                                   {"StartInterval", JK_LEAF, NULL}, {"Retries", JK_LEAF, NULL},
                                   JF_END};
/* image-spec ImageConfig and containers/image's Schema2Config (docker's container.Config) */
static const jfield jf_run_config[] = {
    {"Hostname", JK_LEAF, NULL},     {"Domainname", JK_LEAF, NULL},      {"User", JK_LEAF, NULL},
    {"AttachStdin", JK_LEAF, NULL},  {"AttachStdout", JK_LEAF, NULL},    {"AttachStderr", JK_LEAF, NULL},
    {"ExposedPorts", JK_MAP, NULL},  {"Tty", JK_LEAF, NULL},             {"OpenStdin", JK_LEAF, NULL},
    {"StdinOnce", JK_LEAF, NULL},    {"Env", JK_LEAF, NULL},             {"Cmd", JK_LEAF, NULL},
    {"Healthcheck", JK_OBJ, jf_health}, {"ArgsEscaped", JK_LEAF, NULL},  {"Image", JK_LEAF, NULL},
    {"Volumes", JK_MAP, NULL},       {"WorkingDir", JK_LEAF, NULL},      {"Entrypoint", JK_LEAF, NULL},
    {"NetworkDisabled", JK_LEAF, NULL}, {"MacAddress", JK_LEAF, NULL},   {"OnBuild", JK_LEAF, NULL},
    {"Labels", JK_MAP, NULL},        {"StopSignal", JK_LEAF, NULL},      {"StopTimeout", JK_LEAF, NULL},
    {"Shell", JK_LEAF, NULL},        {"Memory", JK_LEAF, NULL},          {"MemorySwap", JK_LEAF, NULL},
    {"CpuShares", JK_LEAF, NULL},    JF_END};
static const jfield jf_rootfs[] = {{"type", JK_LEAF, NULL}, {"diff_ids", JK_LEAF, NULL}, JF_END};
static const jfield jf_history[] = {{"created", JK_LEAF, NULL},   {"author", JK_LEAF, NULL},
                                    {"created_by", JK_LEAF, NULL}, {"comment", JK_LEAF, NULL},
                                    {"empty_layer", JK_LEAF, NULL}, JF_END};
/* image-spec Image and containers/image's Schema2Image (with Schema2V1Image) */
static const jfield jf_image_config[] = {
    {"id", JK_LEAF, NULL},          {"parent", JK_LEAF, NULL},       {"comment", JK_LEAF, NULL},
    {"created", JK_LEAF, NULL},     {"container", JK_LEAF, NULL},    {"container_config", JK_OBJ, jf_run_config},
    {"docker_version", JK_LEAF, NULL}, {"author", JK_LEAF, NULL},    {"config", JK_OBJ, jf_run_config},
    {"architecture", JK_LEAF, NULL}, {"variant", JK_LEAF, NULL},     {"os", JK_LEAF, NULL},
    {"os.version", JK_LEAF, NULL},  {"os.features", JK_LEAF, NULL},  {"Size", JK_LEAF, NULL},
    {"rootfs", JK_OBJ, jf_rootfs},  {"history", JK_LIST, jf_history}, {"throwaway", JK_LEAF, NULL},
    JF_END};

/* Go's folding of key towards an ASCII field name, into out (NUL-ended,
 * valid UTF-8): ASCII letters to lower case, U+017F to 's', U+212A to 'k',
 * U+0130 and U+0131 to 'i'; other characters kept. */
static void go_fold(const char *key, char *out) {
    const unsigned char *p = (const unsigned char *)key;
    size_t n = 0;
    while (*p) {
        if (p[0] >= 'A' && p[0] <= 'Z') out[n++] = (char)(p[0] + 32), p++;
        else if (p[0] == 0xC5 && p[1] == 0xBF) out[n++] = 's', p += 2;
        else if (p[0] == 0xE2 && p[1] == 0x84 && p[2] == 0xAA) out[n++] = 'k', p += 3;
        else if (p[0] == 0xC4 && (p[1] == 0xB0 || p[1] == 0xB1)) out[n++] = 'i', p += 2;
        else out[n++] = (char)*p++;
    }
    out[n] = '\0';
}

static int check_keys_in(ctx *c, const char *doc, json_t *v, int kind, const jfield *sub, const char *path);

/* One object read by a Go struct of the fields fs; path names it in messages. */
static int check_keys_obj(ctx *c, const char *doc, json_t *obj, const jfield *fs, const char *path) {
    json_t *seen = json_object(); /* folded key -> the key as written */
    if (!seen) return refuse(c, SA_REFUSED_INTERNAL, "out of memory");
    int rc = 0;
    const char *key;
    json_t *val;
    char buf[120], buf2[120];
    json_object_foreach(obj, key, val) {
        size_t kl = strlen(key);
        char *folded = malloc(kl + 1);
        if (!folded) {
            rc = refuse(c, SA_REFUSED_INTERNAL, "out of memory");
            break;
        }
        go_fold(key, folded);
        json_t *other = json_object_get(seen, folded);
        if (other) {
            rc = refuse(c, SA_REFUSED_INVALID_IMAGE,
                        "not a valid image: %s: keys '%s' and '%s'%s%s differ only in case (the engine would read "
                        "the last)",
                        doc, shown(json_string_value(other), buf, 60), shown(key, buf2, 60), path[0] ? " in " : "",
                        path);
            free(folded);
            break;
        }
        json_t *orig = json_string(key);
        if (!orig || json_object_set_new(seen, folded, orig) < 0) {
            free(folded);
            rc = refuse(c, SA_REFUSED_INTERNAL, "out of memory");
            break;
        }
        const jfield *f = NULL;
        for (const jfield *g = fs; g->name; g++) {
            char lower[64];
            go_fold(g->name, lower);
            if (strcmp(folded, lower) == 0) {
                f = g;
                break;
            }
        }
        free(folded);
        if (!f) continue; /* a field no struct reads: ignored by the engine too */
        if (strcmp(key, f->name) != 0) {
            rc = refuse(c, SA_REFUSED_INVALID_IMAGE,
                        "not a valid image: %s: key '%s'%s%s differs from '%s' only in case (the engine would read it)",
                        doc, shown(key, buf, 60), path[0] ? " in " : "", path, f->name);
            break;
        }
        char sub[160];
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", f->name);
        if ((rc = check_keys_in(c, doc, val, f->kind, f->sub, sub)) < 0) break;
    }
    json_decref(seen);
    return rc;
}

static int check_keys_in(ctx *c, const char *doc, json_t *v, int kind, const jfield *sub, const char *path) {
    if (kind == JK_OBJ && json_is_object(v)) return check_keys_obj(c, doc, v, sub, path);
    if (kind == JK_LIST && json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            char p[160];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            if (json_is_object(e) && check_keys_obj(c, doc, e, sub, p) < 0) return -1;
        }
    }
    if (kind == JK_MAP_OBJ && json_is_object(v)) {
        const char *key;
        json_t *e;
        json_object_foreach(v, key, e) { /* the keys are data: exact in Go */
            if (json_is_object(e) && check_keys_obj(c, doc, e, sub, path) < 0) return -1;
        }
    }
    return 0;
}

/* A JSON member, parsed, its keys checked as the engine's Go structs read them
 * (root: JK_OBJ or JK_LIST of objects with the fields fs; doc names it in messages). */
static json_t *read_json(ctx *c, const char *name, char hex[65], const char *doc, int root, const jfield *fs) {
    size_t len;
    char *data = read_member(c, name, JSON_MAX, &len, hex);
    if (!data) return NULL;
    json_error_t jerr;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    free(data);
    if (!j) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: %s is not valid JSON (%s)", name, jerr.text);
        return NULL;
    }
    if (check_keys_in(c, doc, j, root, fs, "") < 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int hex64(const char *s) {
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* "sha256:<hex>" -> blob member name. */
static int blob_name(ctx *c, const char *digest, char *out, size_t size, const char *what) {
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || !hex64(digest + 7))
        return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the %s digest is not sha256:<64 hex>", what);
    snprintf(out, size, "blobs/sha256/%s", digest + 7);
    return 0;
}

/* ---- The image config ---- */

/* Signals by the names podman's ParseSignal knows (after an optional "SIG", any
 * case), or by number. */
static int signal_ok(const char *sig) {
    static const char *const names[] = {"ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL",
                                        "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT",
                                        "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN",
                                        "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", NULL};
    size_t n = strlen(sig);
    if (n >= 1 && n <= 2 && strspn(sig, "0123456789") == n) {
        int v = atoi(sig);
        return v >= 1 && v <= 64;
    }
    char up[16];
    if (n >= sizeof up) return 0;
    for (size_t i = 0; i < n; i++) up[i] = (char)((sig[i] >= 'a' && sig[i] <= 'z') ? sig[i] - 32 : sig[i]);
    up[n] = '\0';
    const char *name = strncmp(up, "SIG", 3) == 0 ? up + 3 : up;
    for (size_t i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

/* A JSON string without NUL: the C string, else NULL. */
static const char *plain_string(json_t *j) {
    const char *v = json_string_value(j);
    return v && strlen(v) == json_string_length(j) ? v : NULL;
}

/* Config fields the engine would refuse at run time ("invalid signal", "env fields
 * from image failed to parse"): an engine_error, the platform's fault, retried and
 * not counted against the quota. Refused here, as the challenger's. An Env entry
 * without '=' would also be taken from the engine client's own environment
 * (podman's env.ParseSlice), that is SegArena's. */
static int check_run_config(ctx *c, json_t *conf) {
    char buf[120];
    json_t *sig = json_object_get(conf, "StopSignal");
    if (sig && !json_is_null(sig)) {
        const char *v = plain_string(sig);
        if (!v || (v[0] && !signal_ok(v)))
            return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: STOPSIGNAL '%s' is not a signal",
                          v ? shown(v, buf, 40) : "?");
    }
    json_t *env = json_object_get(conf, "Env");
    if (env && !json_is_null(env)) {
        if (!json_is_array(env))
            return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the config's Env is not a list");
        size_t i;
        json_t *e;
        json_array_foreach(env, i, e) {
            const char *v = plain_string(e);
            const char *eq = v ? strchr(v, '=') : NULL;
            int ok = eq && eq != v;
            for (const char *k = v; ok && k < eq; k++) ok = *k > ' ' && *k < 0x7f;
            if (!ok)
                return refuse(c, SA_REFUSED_INVALID_IMAGE,
                              "not a valid image: ENV entry '%s' is not NAME=VALUE (a name of printable characters "
                              "without spaces)",
                              v ? shown(v, buf, 60) : "?");
        }
    }
    json_t *wd = json_object_get(conf, "WorkingDir");
    if (wd && !json_is_null(wd)) {
        const char *v = plain_string(wd);
        if (!v || (v[0] && v[0] != '/'))
            return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: WORKDIR '%s' is not an absolute path",
                          v ? shown(v, buf, 100) : "?");
    }
    const char *lists[] = {"Entrypoint", "Cmd"};
    for (int l = 0; l < 2; l++) {
        json_t *list = json_object_get(conf, lists[l]);
        if (!list || json_is_null(list)) continue;
        if (!json_is_array(list))
            return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the config's %s is not a list", lists[l]);
        size_t i;
        json_t *e;
        json_array_foreach(list, i, e) {
            if (!plain_string(e))
                return refuse(c, SA_REFUSED_INVALID_IMAGE,
                              "not a valid image: the config's %s holds something other than text", lists[l]);
        }
    }
    return 0;
}

static int check_config(ctx *c, json_t *cfg, size_t nlayers) {
    sa_image_info *info = c->info;
    const char *arch = json_string_value(json_object_get(cfg, "architecture"));
    const char *os = json_string_value(json_object_get(cfg, "os"));
    snprintf(info->arch, sizeof info->arch, "%s", arch ? arch : "");
    snprintf(info->os, sizeof info->os, "%s", os ? os : "");
    if (!arch || !os || strcmp(arch, "amd64") != 0 || strcmp(os, "linux") != 0)
        return refuse(c, SA_REFUSED_WRONG_ARCHITECTURE,
                      "wrong architecture: the image is for %s/%s, linux/amd64 is required (build with --platform linux/amd64)",
                      os ? os : "?", arch ? arch : "?");
    json_t *conf = json_object_get(cfg, "config");
    json_t *ep = json_object_get(conf, "Entrypoint"), *cmd = json_object_get(conf, "Cmd");
    int has_ep = json_is_array(ep) && json_array_size(ep) > 0;
    int has_cmd = json_is_array(cmd) && json_array_size(cmd) > 0;
    if (!has_ep && !has_cmd)
        return refuse(c, SA_REFUSED_NO_ENTRYPOINT,
                      "no entrypoint: the image declares neither ENTRYPOINT nor CMD; add one to the Dockerfile");
    json_t *both = json_array();
    if (has_ep) json_array_extend(both, ep);
    if (has_cmd) json_array_extend(both, cmd);
    char *dump = json_dumps(both, JSON_COMPACT);
    json_decref(both);
    if (dump) {
        snprintf(info->entrypoint, sizeof info->entrypoint, "%s", dump);
        free(dump);
    }
    if (check_run_config(c, conf) < 0) return -1;
    /* A VOLUME is a writable, uncapped engine volume on the host's disk (podman
     * runs with --image-volume=ignore, docker has no such flag), left behind when a
     * forced removal races the client's clean-up. */
    json_t *volumes = json_object_get(conf, "Volumes");
    if (volumes && !json_is_null(volumes) && !(json_is_object(volumes) && json_object_size(volumes) == 0)) {
        const char *first = json_is_object(volumes) ? json_object_iter_key(json_object_iter(volumes)) : NULL;
        char vbuf[120];
        return refuse(c, SA_REFUSED_INVALID_IMAGE,
                      "not a valid image: the image declares VOLUME '%s'; volumes are not accepted (the root is "
                      "read-only: write to /tmp or /output); build from a base image without VOLUME",
                      first ? shown(first, vbuf, 100) : "?");
    }
    const char *user = json_string_value(json_object_get(conf, "User"));
    if (!user) user = "";
    snprintf(info->user, sizeof info->user, "%s", user);
    char name[64];
    long uid;
    if (sa_parse_user(user, &uid, name, sizeof name) < 0)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: the image declares no USER and would run as root; add 'USER 1000' (any non-zero uid) to the Dockerfile");
    if (strlen(user) >= sizeof info->user || strlen(name) >= sizeof name - 1)
        return refuse(c, SA_REFUSED_ROOT_USER, "root user: USER is longer than %zu characters", sizeof info->user - 1);
    if (uid == 0)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' is uid 0; use a non-root user, e.g. 'USER 1000' in the Dockerfile", user);
    long gid;
    if (sa_parse_group(user, &gid) < 0)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' has a malformed group; use e.g. 'USER 1000' or 'USER 1000:1000'", user);
    if (gid == 0)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' has group 0 (root); use a non-zero group, e.g. 'USER 1000:1000'", user);
    info->uid = uid;
    info->gid = gid >= 0 ? gid : uid; /* a named user's passwd gid: resolve_user */
    json_t *diff = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(diff) || json_array_size(diff) != nlayers)
        return refuse(c, SA_REFUSED_INVALID_IMAGE,
                      "not a valid image: the config lists %zu layer diff_ids, the manifest %zu layers",
                      json_is_array(diff) ? json_array_size(diff) : 0, nlayers);
    return 0;
}

/* ---- Layers ---- */

static void passwd_set(ctx *c, int state, const char *why) {
    free(c->passwd);
    c->passwd = NULL;
    c->passwd_len = 0;
    c->passwd_state = state;
    snprintf(c->passwd_why, sizeof c->passwd_why, "%s", why ? why : "");
}

/* Whiteouts: ".wh.NAME" removes NAME; ".wh..wh..opq" empties its folder (lower layers). */
static void apply_whiteout(ctx *c, const char *path) {
    const char *base = strrchr(path, '/');
    size_t dirlen = base ? (size_t)(base - path) : 0;
    base = base ? base + 1 : path;
    if (strncmp(base, ".wh.", 4) != 0) return;
    char removed[SA_TAR_NAME_MAX];
    if (strcmp(base, ".wh..wh..opq") == 0)
        snprintf(removed, sizeof removed, "%.*s", (int)dirlen, path);
    else
        snprintf(removed, sizeof removed, "%.*s%s%s", (int)dirlen, path, dirlen ? "/" : "", base + 4);
    size_t rl = strlen(removed);
    if (strcmp(removed, "etc/passwd") == 0 || strcmp(removed, "etc") == 0 || rl == 0) passwd_set(c, 0, NULL);
    if (rl) symset_set(&c->links, removed, 0);
}

static int watch_entry(ctx *c, watch *w, sa_tar *t, sa_tar_entry *e, size_t layer, size_t idx, int keep);

static int scan_layer(ctx *c, size_t index, const char *member_name, const char *want_diff,
                      const char *want_blob) {
    char buf[120], buf2[120];
    const member *m = find_member(c, member_name);
    if (!m)
        return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: layer %zu ('%s') is missing from the archive",
                      index + 1, shown(member_name, buf, 100));
    unsigned char magic[6] = {0};
    ssize_t got = m->size >= 6 ? pread(c->fd, magic, 6, (off_t)m->off) : 0;
    int comp = sa_sniff_compression(magic, got > 0 ? (size_t)got : 0);
    if (comp == SA_COMP_ZSTD || comp == SA_COMP_BZIP2)
        return refuse(c, SA_REFUSED_INVALID_IMAGE,
                      "not a valid image: layer %zu is compressed with %s; only plain, gzip and xz layers are accepted",
                      index + 1, comp == SA_COMP_ZSTD ? "zstd" : "bzip2");
    uint64_t room = c->lim->max_image_bytes - c->info->image_bytes;
    sa_stream *raw = sa_stream_range(c->fd, m->off, m->size);
    if (!raw) return refuse(c, SA_REFUSED_INTERNAL, "out of memory");
    sa_stream_hash(raw);
    sa_stream *s = raw;
    if (comp != SA_COMP_NONE) {
        s = sa_stream_decompress(raw, comp, room);
        if (!s) return refuse(c, SA_REFUSED_INTERNAL, "out of memory");
        sa_stream_hash(s);
    } else if (m->size > room) {
        sa_stream_close(raw);
        return refuse(c, SA_REFUSED_TOO_LARGE, "too large: the image's layers exceed %llu bytes",
                      (unsigned long long)c->lim->max_image_bytes);
    }
    sa_tar *t = sa_tar_open(s);
    sa_tar_entry *e = malloc(sizeof *e);
    char *where = malloc(64);
    int rc = -1;
    if (!t || !e || !where) {
        refuse(c, SA_REFUSED_INTERNAL, "out of memory");
        goto out;
    }
    snprintf(where, 64, "layer %zu", index + 1);
    if (index < MAX_LAYERS && !c->layer_names[index]) {
        c->layer_names[index] = strdup(member_name);
        if (!c->layer_names[index]) {
            refuse(c, SA_REFUSED_INTERNAL, "out of memory");
            goto out;
        }
        c->nlayers = index + 1;
    }
    for (size_t entry_idx = 0;; entry_idx++) {
        int r = sa_tar_next(t, e, c->err);
        if (r < 0) {
            int why = sa_tar_refusal(t);
            if (why == SA_REFUSED_NOT_A_TAR || why == SA_REFUSED_EMPTY) why = SA_REFUSED_INVALID_IMAGE;
            if (why == SA_REFUSED_TOO_LARGE)
                refuse(c, why, "too large: the image's layers exceed %llu bytes", (unsigned long long)c->lim->max_image_bytes);
            else
                refuse_from(c, why, where);
            goto out;
        }
        if (r == 0) break;
        const char *why = NULL;
        char raw_name[SA_TAR_NAME_MAX];
        strcpy(raw_name, e->name);
        if (sa_tar_normalize(e->name, &why) < 0) {
            /* The root folder itself ("./" or "/") is harmless. */
            if (e->type == SA_TAR_DIR && strspn(raw_name, "./") == strlen(raw_name) && !strstr(raw_name, "..")) continue;
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: layer %zu: member '%s' %s", index + 1,
                   shown(raw_name, buf, 100), why);
            goto out;
        }
        if (e->type == SA_TAR_DEVICE || e->type == SA_TAR_OTHER) {
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: layer %zu: member '%s' has tar type '%c' (devices are not accepted)",
                   index + 1, shown(e->name, buf, 100), e->typeflag >= 0x20 ? e->typeflag : '?');
            goto out;
        }
        size_t plen;
        if (through_symlink(&c->links, e->name, &plen)) {
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE, "unsafe archive: layer %zu: member '%s' goes through the symbolic link '%.*s'",
                   index + 1, shown(e->name, buf, 100), (int)(plen < 100 ? plen : 100), e->name);
            goto out;
        }
        if (e->type == SA_TAR_SYMLINK) {
            if (e->linkname[0] == '\0' || sa_symlink_escapes(e->name, e->linkname)) {
                refuse(c, SA_REFUSED_UNSAFE_ARCHIVE,
                       "unsafe archive: layer %zu: symbolic link '%s' -> '%s' points outside the image", index + 1,
                       shown(e->name, buf, 100), shown(e->linkname, buf2, 100));
                goto out;
            }
        }
        if (e->type == SA_TAR_HARDLINK) {
            char target[SA_TAR_NAME_MAX];
            strcpy(target, e->linkname);
            if (sa_tar_normalize(target, &why) < 0 || through_symlink(&c->links, target, &plen) ||
                symset_find(&c->links, target, strlen(target)) >= 0) {
                long at = symset_find(&c->links, target, strlen(target));
                if (why || at < 0 || c->links.is_link[at] || through_symlink(&c->links, target, &plen)) {
                    refuse(c, SA_REFUSED_UNSAFE_ARCHIVE,
                           "unsafe archive: layer %zu: hard link '%s' -> '%s' points outside the image", index + 1,
                           shown(e->name, buf, 100), shown(e->linkname, buf2, 100));
                    goto out;
                }
            }
        }
        int sr = symset_set(&c->links, e->name, e->type == SA_TAR_SYMLINK);
        if (sr == -2) {
            refuse(c, SA_REFUSED_UNSAFE_ARCHIVE,
                   "unsafe archive: too many symbolic links (at most %u, their paths together at most %u MiB)",
                   MAX_SYMLINKS, MAX_SYMLINK_BYTES >> 20);
            goto out;
        }
        if (sr < 0) {
            refuse(c, SA_REFUSED_INTERNAL, "out of memory");
            goto out;
        }
        apply_whiteout(c, e->name);
        if (strcmp(e->name, "etc/passwd") == 0) {
            if (e->type != SA_TAR_FILE) {
                passwd_set(c, 2, e->type == SA_TAR_DIR ? "is a folder" : "is a link");
            } else if (e->size > PASSWD_MAX) {
                passwd_set(c, 2, "is too large");
            } else {
                passwd_set(c, 1, NULL); /* read below, by watch_entry */
            }
        } else if (strcmp(e->name, "etc") == 0 && e->type != SA_TAR_DIR) {
            passwd_set(c, 0, NULL);
        }
        for (int k = 0; k < 2; k++)
            if (watch_entry(c, &c->etc[k], t, e, index, entry_idx, k == 0) < 0) goto out;
    }
    if (sa_tar_drain(t, c->err) < 0) {
        int why = sa_tar_refusal(t);
        if (why == SA_REFUSED_TOO_LARGE)
            refuse(c, why, "too large: the image's layers exceed %llu bytes", (unsigned long long)c->lim->max_image_bytes);
        else
            refuse_from(c, why == SA_REFUSED_NOT_A_TAR ? SA_REFUSED_INVALID_IMAGE : why, where);
        goto out;
    }
    char diff_hex[65], blob_hex[65];
    if (s != raw) sa_stream_hash_hex(s, diff_hex);
    sa_stream_hash_hex(raw, blob_hex);
    if (s == raw) memcpy(diff_hex, blob_hex, 65);
    c->info->image_bytes += sa_stream_produced(s);
    if (!want_diff || strncmp(want_diff, "sha256:", 7) != 0 || strcmp(want_diff + 7, diff_hex) != 0) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: layer %zu does not match its diff_id in the config", index + 1);
        goto out;
    }
    if (want_blob && strcmp(want_blob + 7, blob_hex) != 0) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: layer %zu does not match its digest in the manifest", index + 1);
        goto out;
    }
    rc = 0;
out:
    free(where);
    free(e);
    sa_tar_close(t);
    sa_stream_close(s);
    return rc;
}

/* ---- /etc/passwd and /etc/group as the engine reads them ----
 *
 * runc (and podman 4.3's own user lookup) reads both files even for a numeric
 * --user uid:gid, following links inside the image, line by line with Go's
 * bufio.Scanner (64 KiB a line): a folder, a device, a line too long fails the
 * run. Each is followed here to what it resolves to at run time: a symbolic link
 * to the final state of its target, a hard link to its target's state when the
 * link was written (other passes over the layers, only for links), and the
 * regular file found is read whole as a stream, its lines measured. */

static int watch_entry(ctx *c, watch *w, sa_tar *t, sa_tar_entry *e, size_t layer, size_t idx, int keep) {
    const char *name = e->name;
    size_t wl = strlen(w->path), nl = strlen(name);
    const char *base = strrchr(name, '/');
    size_t dirlen = base ? (size_t)(base - name) : 0;
    base = base ? base + 1 : name;
    if (strncmp(base, ".wh.", 4) == 0) {
        if (strcmp(base, ".wh..wh..opq") == 0) { /* empties its folder of the lower layers */
            if ((dirlen == 0 || (strncmp(w->path, name, dirlen) == 0 && w->path[dirlen] == '/')) && w->layer < layer)
                w->kind = W_ABSENT;
        } else {
            char removed[SA_TAR_NAME_MAX];
            snprintf(removed, sizeof removed, "%.*s%s%s", (int)dirlen, name, dirlen ? "/" : "", base + 4);
            size_t rl = strlen(removed);
            if (strncmp(w->path, removed, rl) == 0 && (w->path[rl] == '\0' || w->path[rl] == '/')) w->kind = W_ABSENT;
        }
        return 0;
    }
    if (nl < wl && strncmp(w->path, name, nl) == 0 && w->path[nl] == '/') {
        if (e->type != SA_TAR_DIR) w->kind = W_ABSENT; /* a folder above it replaced */
        return 0;
    }
    if (nl != wl || strcmp(name, w->path) != 0) return 0;
    w->layer = layer;
    w->entry = idx;
    w->size = w->longest = 0;
    if (e->type == SA_TAR_DIR) {
        w->kind = W_DIR;
        return 0;
    }
    if (e->type == SA_TAR_SYMLINK || e->type == SA_TAR_HARDLINK) {
        w->kind = e->type == SA_TAR_SYMLINK ? W_SYMLINK : W_HARDLINK;
        snprintf(w->target, sizeof w->target, "%s", e->linkname);
        return 0;
    }
    if (e->type != SA_TAR_FILE) {
        w->kind = W_OTHER;
        return 0;
    }
    w->kind = W_FILE;
    w->size = e->size;
    if (e->size > ETC_FILE_MAX) return 0; /* refused at the end, not read */
    int store = keep && e->size <= PASSWD_MAX && c->passwd_state == 1;
    if (store) {
        free(c->passwd);
        c->passwd = malloc((size_t)e->size + 1);
        c->passwd_len = 0;
        if (!c->passwd) return refuse(c, SA_REFUSED_INTERNAL, "out of memory");
    }
    char buf[16384];
    uint64_t have = 0, line = 0;
    while (have < e->size) {
        size_t want = e->size - have < sizeof buf ? (size_t)(e->size - have) : sizeof buf;
        int64_t k = sa_tar_read(t, buf, want, c->err);
        if (k <= 0) return refuse_from(c, sa_tar_refusal(t), "layer");
        for (int64_t i = 0; i < k; i++) {
            if (buf[i] == '\n') line = 0;
            else if (++line > w->longest) w->longest = line;
        }
        if (store) memcpy(c->passwd + have, buf, (size_t)k);
        have += (uint64_t)k;
    }
    if (store) {
        c->passwd[have] = '\0';
        c->passwd_len = (size_t)have;
    }
    return 0;
}

/* Another pass over the layers for one watched path, up to w's stop. */
static int watch_pass(ctx *c, watch *w) {
    int rc = 0;
    sa_tar_entry *e = malloc(sizeof *e);
    if (!e) return refuse(c, SA_REFUSED_INTERNAL, "out of memory");
    for (size_t l = 0; l < c->nlayers && l <= w->stop_layer && rc == 0; l++) {
        const member *m = find_member(c, c->layer_names[l]);
        if (!m) continue;
        unsigned char magic[6] = {0};
        ssize_t got = m->size >= 6 ? pread(c->fd, magic, 6, (off_t)m->off) : 0;
        int comp = sa_sniff_compression(magic, got > 0 ? (size_t)got : 0);
        sa_stream *raw = sa_stream_range(c->fd, m->off, m->size), *s = raw;
        if (raw && comp != SA_COMP_NONE) s = sa_stream_decompress(raw, comp, c->lim->max_image_bytes);
        sa_tar *t = s ? sa_tar_open(s) : NULL;
        if (!t) {
            sa_stream_close(s);
            rc = refuse(c, SA_REFUSED_INTERNAL, "out of memory");
            break;
        }
        for (size_t idx = 0;; idx++) {
            int r = sa_tar_next(t, e, c->err);
            if (r < 0) rc = refuse_from(c, sa_tar_refusal(t), "layer");
            if (r <= 0) break;
            if (l == w->stop_layer && idx >= w->stop_entry) break;
            if (sa_tar_normalize(e->name, NULL) < 0) continue;
            if (watch_entry(c, w, t, e, l, idx, 0) < 0) {
                rc = -1;
                break;
            }
        }
        sa_tar_close(t);
        sa_stream_close(s);
    }
    free(e);
    return rc;
}

/* path's folder joined with a link target, '.' and '..' resolved (never above the root) */
static void link_resolve(const char *path, const char *target, int hard, char *out, size_t size) {
    char tmp[2 * SA_TAR_NAME_MAX + 2];
    const char *slash = strrchr(path, '/');
    if (target[0] == '/' || hard)
        snprintf(tmp, sizeof tmp, "%s", target);
    else
        snprintf(tmp, sizeof tmp, "%.*s/%s", slash ? (int)(slash - path) : 0, path, target);
    size_t n = 0;
    out[0] = '\0';
    for (char *tok = strtok(tmp, "/"); tok; tok = strtok(NULL, "/")) {
        if (strcmp(tok, ".") == 0) continue;
        if (strcmp(tok, "..") == 0) {
            while (n > 0 && out[n - 1] != '/') n--;
            if (n > 0) n--;
            out[n] = '\0';
            continue;
        }
        int w = snprintf(out + n, size - n, "%s%s", n ? "/" : "", tok);
        if (w < 0 || (size_t)w >= size - n) break;
        n += (size_t)w;
    }
}

static int check_etc_files(ctx *c) {
    static const char *const shown_names[] = {"/etc/passwd", "/etc/group"};
    watch *w = malloc(sizeof *w);
    if (!w) return refuse(c, SA_REFUSED_INTERNAL, "out of memory");
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        const char *what = shown_names[k];
        *w = c->etc[k];
        for (int hop = 0; rc == 0; hop++) {
            size_t plen;
            char buf[120];
            if (through_symlink(&c->links, w->path, &plen)) {
                rc = refuse(c, SA_REFUSED_INVALID_IMAGE,
                            "not a valid image: %s resolves through the symbolic link '/%.*s' (engines read it even "
                            "for a numeric USER; make it a regular file)",
                            what, (int)(plen < 100 ? plen : 100), w->path);
                break;
            }
            if (w->kind == W_ABSENT) {
                if (hop > 0)
                    rc = refuse(c, SA_REFUSED_INVALID_IMAGE,
                                "not a valid image: %s is a link to '/%s', which is not in the image", what,
                                shown(w->path, buf, 100));
                break;
            }
            if (w->kind == W_DIR || w->kind == W_OTHER) {
                rc = refuse(c, SA_REFUSED_INVALID_IMAGE,
                            "not a valid image: %s %s (engines read it even for a numeric USER; make it a regular "
                            "file)",
                            what, w->kind == W_DIR ? "is a folder" : "is not a regular file");
                break;
            }
            if (w->kind == W_FILE) {
                if (w->size > ETC_FILE_MAX)
                    rc = refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: %s is larger than %u MiB", what,
                                ETC_FILE_MAX >> 20);
                else if (w->longest >= PASSWD_LINE_MAX)
                    rc = refuse(c, SA_REFUSED_INVALID_IMAGE,
                                "not a valid image: %s has a line of %llu bytes (engines read at most %u)", what,
                                (unsigned long long)w->longest, PASSWD_LINE_MAX - 1);
                break;
            }
            if (hop >= 8) {
                rc = refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: %s is a chain of more than 8 links", what);
                break;
            }
            watch next;
            memset(&next, 0, sizeof next);
            link_resolve(w->path, w->target, w->kind == W_HARDLINK, next.path, sizeof next.path);
            next.kind = W_ABSENT;
            next.stop_layer = w->kind == W_HARDLINK ? w->layer : SIZE_MAX;
            next.stop_entry = w->kind == W_HARDLINK ? w->entry : SIZE_MAX;
            if (next.path[0] == '\0') {
                rc = refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: %s is a link to the image's root", what);
                break;
            }
            if (watch_pass(c, &next) < 0) {
                rc = -1;
                break;
            }
            *w = next;
        }
    }
    free(w);
    return rc;
}

static int resolve_user(ctx *c) {
    sa_image_info *info = c->info;
    /* runc reads /etc/passwd and /etc/group (following links) with a
     * bufio.Scanner (64 KiB a line) even for a numeric --user: anything else
     * than a regular file there, or a longer line, fails the run */
    if (check_etc_files(c) < 0) return -1;
    char name[64];
    long uid;
    sa_parse_user(info->user, &uid, name, sizeof name);
    if (uid >= 0) return 0;
    if (c->passwd_state == 0)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' is a name but the image has no /etc/passwd; use a numeric uid, e.g. 'USER 1000'",
                      info->user);
    if (c->passwd_state == 2)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' cannot be resolved (/etc/passwd %s); use a numeric uid, e.g. 'USER 1000'",
                      info->user, c->passwd_why);
    long gid;
    uid = sa_passwd_uid(c->passwd, c->passwd_len, name, &gid);
    if (uid == -2)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' cannot be resolved (a line of /etc/passwd starts with a character "
                      "other than a letter, digit, '_' or '#'); use a numeric uid, e.g. 'USER 1000'",
                      info->user);
    if (uid < 0)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' is not in the image's /etc/passwd on exactly one well-formed line; add the "
                      "user or use a numeric uid, e.g. 'USER 1000'",
                      info->user);
    if (uid == 0)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' is uid 0 in the image's /etc/passwd; use a non-root user, e.g. 'USER 1000' in the Dockerfile",
                      info->user);
    long group;
    sa_parse_group(info->user, &group); /* checked in check_config */
    if (group < 0) group = gid;
    if (group == 0)
        return refuse(c, SA_REFUSED_ROOT_USER,
                      "root user: USER '%s' has gid 0 (root) in the image's /etc/passwd; use a non-zero group, "
                      "e.g. 'USER %s:1000'",
                      info->user, name);
    info->uid = uid;
    info->gid = group;
    return 0;
}

void sa_image_run_user(const sa_image_info *info, char *out, size_t size) {
    snprintf(out, size, "%ld:%ld", info->uid, info->gid);
}

/* ---- Formats ---- */

static int inspect_docker(ctx *c) {
    snprintf(c->info->format, sizeof c->info->format, "docker-archive");
    json_t *man = read_json(c, "manifest.json", NULL, "manifest.json", JK_LIST, jf_docker_item), *cfg = NULL;
    if (!man) return -1;
    int rc = -1;
    if (!json_is_array(man)) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: manifest.json is not a list");
        goto out;
    }
    if (json_array_size(man) == 0) {
        refuse(c, SA_REFUSED_EMPTY, "empty: manifest.json lists no image");
        goto out;
    }
    if (json_array_size(man) > 1) {
        refuse(c, SA_REFUSED_SEVERAL_IMAGES, "several images: the archive holds %zu images, exactly one is accepted",
               json_array_size(man));
        goto out;
    }
    json_t *img = json_array_get(man, 0);
    /* docker save (25 and later) describes the layers in LayerSources; the urls of
     * foreign layers there would be fetched by a reader that used them */
    json_t *sources = json_object_get(img, "LayerSources");
    if (sources && !json_is_null(sources)) {
        const char *key;
        json_t *src;
        if (!json_is_object(sources)) {
            refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: manifest.json's LayerSources is not an object");
            goto out;
        }
        json_object_foreach(sources, key, src) {
            if (!json_is_object(src) || json_object_get(src, "urls") || json_object_get(src, "data")) {
                refuse(c, SA_REFUSED_INVALID_IMAGE,
                       "not a valid image: a LayerSources descriptor has 'urls' (foreign layers are not accepted)");
                goto out;
            }
        }
    }
    const char *config = json_string_value(json_object_get(img, "Config"));
    json_t *layers = json_object_get(img, "Layers");
    if (!config || !json_is_array(layers)) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: manifest.json lacks Config or Layers");
        goto out;
    }
    if (json_array_size(layers) > MAX_LAYERS) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: more than %u layers", MAX_LAYERS);
        goto out;
    }
    char hex[65];
    cfg = read_json(c, config, hex, "the image config", JK_OBJ, jf_image_config);
    if (!cfg) goto out;
    snprintf(c->info->config_digest, sizeof c->info->config_digest, "sha256:%s", hex);
    if (check_config(c, cfg, json_array_size(layers)) < 0) goto out;
    json_t *diff = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    for (size_t i = 0; i < json_array_size(layers); i++) {
        const char *l = json_string_value(json_array_get(layers, i));
        if (!l) {
            refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: layer %zu is not a path", i + 1);
            goto out;
        }
        if (scan_layer(c, i, l, json_string_value(json_array_get(diff, i)), NULL) < 0) goto out;
    }
    rc = resolve_user(c);
out:
    json_decref(cfg);
    json_decref(man);
    return rc;
}

/* containers/image fetches a blob from a descriptor's "urls" in preference to the
 * copy in the archive: a GET from the server to wherever the challenger chose, the
 * answer quoted back in the refusal. No descriptor may have urls (nor embedded
 * "data", which a reader may use instead of the blob), and each must have a media
 * type of its kind (one of types, NULL-ended). */
static int check_descriptor(ctx *c, json_t *desc, const char *what, const char *const *types) {
    if (!json_is_object(desc)) return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the %s descriptor is not an object", what);
    if (json_object_get(desc, "urls"))
        return refuse(c, SA_REFUSED_INVALID_IMAGE,
                      "not a valid image: the %s descriptor has 'urls' (blobs are taken from the archive only)", what);
    if (json_object_get(desc, "data"))
        return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the %s descriptor has embedded 'data'", what);
    const char *mt = json_string_value(json_object_get(desc, "mediaType"));
    for (size_t i = 0; mt && types[i]; i++)
        if (strcmp(mt, types[i]) == 0) return 0;
    char buf[120];
    return refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the %s has media type '%s', which is not accepted", what,
                  mt ? shown(mt, buf, 100) : "(none)");
}

static const char *const manifest_types[] = {"application/vnd.oci.image.manifest.v1+json",
                                             "application/vnd.docker.distribution.manifest.v2+json", NULL};
static const char *const config_types[] = {"application/vnd.oci.image.config.v1+json",
                                           "application/vnd.docker.container.image.v1+json", NULL};
/* not the "nondistributable" or "foreign" ones, which exist to be fetched from urls */
static const char *const layer_types[] = {"application/vnd.oci.image.layer.v1.tar",
                                          "application/vnd.oci.image.layer.v1.tar+gzip",
                                          "application/vnd.oci.image.layer.v1.tar+zstd",
                                          "application/vnd.docker.image.rootfs.diff.tar.gzip", NULL};

static int inspect_oci(ctx *c) {
    snprintf(c->info->format, sizeof c->info->format, "oci-archive");
    json_t *index = read_json(c, "index.json", NULL, "index.json", JK_OBJ, jf_index), *man = NULL, *cfg = NULL;
    if (!index) return -1;
    int rc = -1;
    json_t *list = json_object_get(index, "manifests");
    if (!json_is_array(list)) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: index.json has no manifests list");
        goto out;
    }
    if (json_array_size(list) == 0) {
        refuse(c, SA_REFUSED_EMPTY, "empty: index.json lists no image");
        goto out;
    }
    if (json_array_size(list) > 1) {
        refuse(c, SA_REFUSED_SEVERAL_IMAGES, "several images: the archive holds %zu images, exactly one is accepted",
               json_array_size(list));
        goto out;
    }
    json_t *desc = json_array_get(list, 0);
    const char *mt = json_string_value(json_object_get(desc, "mediaType"));
    if (mt && (strstr(mt, "image.index") || strstr(mt, "manifest.list"))) {
        refuse(c, SA_REFUSED_SEVERAL_IMAGES,
               "several images: the archive holds a multi-platform index; upload a single linux/amd64 image");
        goto out;
    }
    if (check_descriptor(c, desc, "manifest", manifest_types) < 0) goto out;
    char name[96], mhex[65], chex[65];
    const char *mdigest = json_string_value(json_object_get(desc, "digest"));
    if (blob_name(c, mdigest, name, sizeof name, "manifest") < 0) goto out;
    man = read_json(c, name, mhex, "the manifest", JK_OBJ, jf_manifest);
    if (!man) goto out;
    if (strcmp(mhex, mdigest + 7) != 0) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the manifest does not match its digest");
        goto out;
    }
    if (json_object_get(man, "manifests")) {
        refuse(c, SA_REFUSED_SEVERAL_IMAGES,
               "several images: the archive holds a multi-platform index; upload a single linux/amd64 image");
        goto out;
    }
    const char *man_type = json_string_value(json_object_get(man, "mediaType"));
    if (json_object_get(man, "mediaType") && (!man_type || strcmp(man_type, mt) != 0)) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the manifest's media type is not its descriptor's");
        goto out;
    }
    if (check_descriptor(c, json_object_get(man, "config"), "config", config_types) < 0) goto out;
    const char *cdigest = json_string_value(json_object_get(json_object_get(man, "config"), "digest"));
    json_t *layers = json_object_get(man, "layers");
    if (!json_is_array(layers)) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the manifest has no layers list");
        goto out;
    }
    if (json_array_size(layers) > MAX_LAYERS) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: more than %u layers", MAX_LAYERS);
        goto out;
    }
    if (blob_name(c, cdigest, name, sizeof name, "config") < 0) goto out;
    cfg = read_json(c, name, chex, "the image config", JK_OBJ, jf_image_config);
    if (!cfg) goto out;
    if (strcmp(chex, cdigest + 7) != 0) {
        refuse(c, SA_REFUSED_INVALID_IMAGE, "not a valid image: the config does not match its digest");
        goto out;
    }
    snprintf(c->info->config_digest, sizeof c->info->config_digest, "sha256:%s", chex);
    if (check_config(c, cfg, json_array_size(layers)) < 0) goto out;
    json_t *diff = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    for (size_t i = 0; i < json_array_size(layers); i++) {
        char what[32];
        snprintf(what, sizeof what, "layer %zu", i + 1);
        if (check_descriptor(c, json_array_get(layers, i), what, layer_types) < 0) goto out;
        const char *ld = json_string_value(json_object_get(json_array_get(layers, i), "digest"));
        if (blob_name(c, ld, name, sizeof name, "layer") < 0) goto out;
        if (scan_layer(c, i, name, json_string_value(json_array_get(diff, i)), ld) < 0) goto out;
    }
    rc = resolve_user(c);
out:
    json_decref(cfg);
    json_decref(man);
    json_decref(index);
    return rc;
}

/* ---- Decompression of the upload into the scratch folder ---- */

static int decompress_upload(ctx *c, int in_fd, uint64_t size, int comp, const char *scratch, char *path,
                             size_t path_size, int *out_fd) {
    if (snprintf(path, path_size, "%s/upload-XXXXXX.tar", scratch) >= (int)path_size)
        return refuse(c, SA_REFUSED_INTERNAL, "scratch path too long");
    int fd = mkstemps(path, 4);
    if (fd < 0) return refuse(c, SA_REFUSED_INTERNAL, "cannot create a file in the scratch folder: %s", strerror(errno));
    sa_stream *s = sa_stream_decompress(sa_stream_range(in_fd, 0, size), comp, c->lim->max_unpacked_bytes);
    unsigned char *buf = malloc(65536);
    int rc = -1;
    if (!s || !buf) {
        refuse(c, SA_REFUSED_INTERNAL, "out of memory");
        goto out;
    }
    for (;;) {
        int64_t r = sa_stream_read(s, buf, 65536, c->err);
        if (r < 0) {
            int why = sa_stream_refusal(s);
            if (why == SA_REFUSED_TOO_LARGE)
                refuse(c, why, "too large: the upload decompresses to more than %llu bytes",
                       (unsigned long long)c->lim->max_unpacked_bytes);
            else
                refuse_from(c, why, "");
            goto out;
        }
        if (r == 0) break;
        for (int64_t done = 0; done < r;) {
            ssize_t w = write(fd, buf + done, (size_t)(r - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                refuse(c, SA_REFUSED_INTERNAL, "cannot write to the scratch folder: %s", strerror(errno));
                goto out;
            }
            done += w;
        }
    }
    if (sa_stream_produced(s) == 0) {
        refuse(c, SA_REFUSED_EMPTY, "empty: the compressed upload holds no data");
        goto out;
    }
    rc = 0;
out:
    free(buf);
    sa_stream_close(s);
    if (rc < 0) {
        close(fd);
        unlink(path);
        path[0] = '\0';
    } else {
        *out_fd = fd;
    }
    return rc;
}

int sa_intake_inspect(const char *archive_path, const sa_intake_limits *lim, const char *scratch_dir,
                      sa_image_info *info, char *tar_path_out, size_t tar_path_size, sa_error *err) {
    sa_intake_limits defaults;
    if (!lim) {
        sa_intake_limits_default(&defaults);
        lim = &defaults;
    }
    memset(info, 0, sizeof *info);
    info->uid = -1;
    info->gid = -1;
    if (tar_path_out && tar_path_size) tar_path_out[0] = '\0';
    ctx c = {.label = archive_path, .fd = -1, .lim = lim, .info = info, .err = err};
    for (int k = 0; k < 2; k++) {
        snprintf(c.etc[k].path, sizeof c.etc[k].path, "%s", k ? "etc/group" : "etc/passwd");
        c.etc[k].kind = W_ABSENT;
        c.etc[k].stop_layer = c.etc[k].stop_entry = SIZE_MAX;
    }
    int in_fd = -1, rc = -1;
    char tmp_path[4096] = "";
    if (sodium_init() < 0) return refuse(&c, SA_REFUSED_INTERNAL, "libsodium failed to start");
    if (!scratch_dir || strchr(scratch_dir, ':'))
        return refuse(&c, SA_REFUSED_INTERNAL, "the scratch folder is missing or holds ':'");
    in_fd = open(archive_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); /* a FIFO must not block */
    struct stat st;
    if (in_fd < 0) return refuse(&c, SA_REFUSED_INTERNAL, "cannot open: %s", strerror(errno));
    if (fstat(in_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        refuse(&c, SA_REFUSED_NOT_A_TAR, "not a tar archive: not a regular file");
        goto out;
    }
    info->upload_bytes = (uint64_t)st.st_size;
    if (st.st_size == 0) {
        refuse(&c, SA_REFUSED_EMPTY, "empty file");
        goto out;
    }
    if ((uint64_t)st.st_size > lim->max_upload_bytes) {
        refuse(&c, SA_REFUSED_TOO_LARGE, "too large: the upload is %llu bytes, the limit is %llu",
               (unsigned long long)st.st_size, (unsigned long long)lim->max_upload_bytes);
        goto out;
    }
    unsigned char magic[6] = {0};
    ssize_t got = pread(in_fd, magic, sizeof magic, 0);
    int comp = sa_sniff_compression(magic, got > 0 ? (size_t)got : 0);
    if (comp == SA_COMP_ZSTD || comp == SA_COMP_BZIP2) {
        refuse(&c, SA_REFUSED_NOT_A_TAR, "not a tar archive: compressed with %s; upload .tar, .tar.gz or .tar.xz",
               comp == SA_COMP_ZSTD ? "zstd" : "bzip2");
        goto out;
    }
    uint64_t tar_size = (uint64_t)st.st_size;
    if (comp != SA_COMP_NONE) {
        if (decompress_upload(&c, in_fd, tar_size, comp, scratch_dir, tmp_path, sizeof tmp_path, &c.fd) < 0) goto out;
        struct stat ts;
        if (fstat(c.fd, &ts) < 0) {
            refuse(&c, SA_REFUSED_INTERNAL, "cannot stat the decompressed upload");
            goto out;
        }
        tar_size = (uint64_t)ts.st_size;
    } else {
        if (tar_size > lim->max_unpacked_bytes) {
            refuse(&c, SA_REFUSED_TOO_LARGE, "too large: the upload is %llu bytes, the limit is %llu",
                   (unsigned long long)tar_size, (unsigned long long)lim->max_unpacked_bytes);
            goto out;
        }
        c.fd = in_fd;
    }
    info->unpacked_bytes = tar_size;
    if (scan_outer(&c, tar_size) < 0) goto out;
    if (find_member(&c, "manifest.json"))
        rc = inspect_docker(&c);
    else if (find_member(&c, "index.json"))
        rc = inspect_oci(&c);
    else
        refuse(&c, SA_REFUSED_INVALID_IMAGE,
               "not an image archive: neither manifest.json (docker save) nor index.json (OCI) at its top");
    if (rc == 0) {
        const char *p = tmp_path[0] ? tmp_path : archive_path;
        if (!tar_path_out || snprintf(tar_path_out, tar_path_size, "%s", p) >= (int)tar_path_size) {
            rc = refuse(&c, SA_REFUSED_INTERNAL, "the output path buffer is too small");
        } else {
            info->refusal = SA_REFUSED_NONE;
        }
    }
out:
    if (c.fd >= 0 && c.fd != in_fd) close(c.fd);
    if (in_fd >= 0) close(in_fd);
    if (rc < 0 && tmp_path[0]) unlink(tmp_path);
    for (size_t i = 0; i < c.n; i++) {
        free(c.m[i].name);
        free(c.m[i].target);
    }
    free(c.m);
    symset_free(&c.links);
    free(c.passwd);
    for (size_t i = 0; i < c.nlayers; i++) free(c.layer_names[i]);
    return rc;
}

/* ---- Loading ---- */

int sa_intake_image_name(const char *id, char *buf, size_t size, sa_error *err) {
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 64 || id[0] == '.' || id[0] == '-')
        return sa_error_set(err, "submission id '%.64s' is not usable in an image name", id ? id : "");
    for (size_t i = 0; i < n; i++) {
        char ch = id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
            return sa_error_set(err, "submission id '%.64s' is not usable in an image name ([a-z0-9_.-] only)", id);
    }
    if (snprintf(buf, size, "localhost/segarena/sub-%s", id) >= (int)size)
        return sa_error_set(err, "image name buffer too small");
    return 0;
}

/* close-on-exec from the start (pipe2): a container client that another thread
 * forks meanwhile must not inherit skopeo's pipe and keep it open */
static int pipe_cloexec(int p[2]) {
    return pipe2(p, O_CLOEXEC);
}

/* Runs argv (no shell) in cwd; keeps the first out_size-1 bytes of stdout and the last
 * err_size-1 bytes of stderr. inherit_fd (>= 0) is passed to the program, every other
 * descriptor of SegArena's is closed on exec. Returns the exit status, or -1 (why in
 * err), also when the tool could not be executed (missing, not executable): the
 * host's trouble, never a status that reads as the image's refusal. */
static int run_tool(char *const argv[], const char *cwd, int inherit_fd, char *out, size_t out_size,
                    char *errbuf, size_t err_size, sa_error *err) {
    int po[2], pe[2], rep[2];
    if (pipe_cloexec(po) < 0) return sa_error_set(err, "pipe: %s", strerror(errno));
    if (pipe_cloexec(pe) < 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return sa_error_set(err, "pipe: %s", strerror(e));
    }
    if (pipe_cloexec(rep) < 0) {
        int e = errno;
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return sa_error_set(err, "pipe: %s", strerror(e));
    }
    char *envp[128];
    sa_engine_environ(envp, sizeof envp / sizeof envp[0]);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]), close(rep[0]), close(rep[1]);
        return sa_error_set(err, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        sa_child_reset_signals();
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
            sa_child_fail(rep[1], SA_CHILD_SETUP);
        if (chdir(cwd) < 0) sa_child_fail(rep[1], SA_CHILD_CHDIR);
        if (inherit_fd >= 0 && fcntl(inherit_fd, F_SETFD, 0) < 0) sa_child_fail(rep[1], SA_CHILD_SETUP);
        environ = envp; /* the engine's allowlist only: see sa_engine_environ */
        execvp(argv[0], argv);
        sa_child_fail(rep[1], SA_CHILD_EXEC);
    }
    close(po[1]);
    close(pe[1]);
    close(rep[1]);
    if (sa_child_started(rep[0], argv[0], cwd, err) != 0) {
        close(po[0]);
        close(pe[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return -1;
    }
    size_t olen = 0, elen = 0;
    char ering[2048];
    size_t epos = 0, etotal = 0;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            ssize_t r = read(fds[i].fd, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                for (ssize_t k = 0; k < r && olen + 1 < out_size; k++) out[olen++] = buf[k];
            } else {
                for (ssize_t k = 0; k < r; k++) {
                    ering[epos] = buf[k];
                    epos = (epos + 1) % sizeof ering;
                    etotal++;
                }
            }
        }
    }
    if (out_size) out[olen] = '\0';
    /* The tail of stderr, made one line. */
    size_t keep = etotal < sizeof ering ? etotal : sizeof ering;
    if (keep > err_size - 1) keep = err_size - 1;
    size_t start = (epos + sizeof ering - keep) % sizeof ering;
    int space = 0;
    for (size_t k = 0; k < keep; k++) {
        char ch = ering[(start + k) % sizeof ering];
        if ((unsigned char)ch < 0x20 || ch == 0x7f) {
            if (!space && elen) errbuf[elen++] = ' ';
            space = 1;
            continue;
        }
        errbuf[elen++] = ch;
        space = 0;
    }
    while (elen && errbuf[elen - 1] == ' ') elen--;
    errbuf[elen] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return sa_error_set(err, "waitpid: %s", strerror(errno));
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)ftw;
    if (flag == FTW_DP || flag == FTW_D) rmdir(path);
    else unlink(path);
    return 0;
}

/* What one try of a load came to. */
enum load_outcome {
    LOAD_DONE = 0,
    LOAD_COPY_FAILED,   /* skopeo refused or failed: the image, or the engine's trouble */
    LOAD_ENGINE_FAILED, /* the image was copied, then podman failed: the engine's trouble */
    LOAD_MISMATCH,      /* the engine made another image than the one inspected */
    LOAD_NOT_RUN,       /* a tool could not be run, or its status was lost */
};

/* One try: skopeo copy under a fresh temporary name of this load only, podman
 * image inspect of its id, podman tag to name; the temporary name is removed on
 * every way out (a failed copy, or one whose status was lost, may still have
 * committed it). */
static enum load_outcome load_once(sa_engine_kind engine, const char *tar_path, const char *src,
                                   const sa_image_info *info, const char *name,
                                   const sa_intake_owner *owner, sa_error *err) {
    char *client = (char *)sa_engine_name(engine);
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/segarena-load-XXXXXX", tmp && tmp[0] == '/' && !strchr(tmp, ':') ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        sa_error_set(err, "%s: cannot create a scratch folder: %s", tar_path, strerror(errno));
        return LOAD_NOT_RUN;
    }
    /* skopeo writes a fresh name of this load only: whatever the archive makes it
     * commit, no other upload's image (the final name is shared by every phase's
     * submissions of one image) is touched until the id is checked. With an
     * owner, the name's lock is held (by skopeo too, which could outlive this
     * process) for as long as the name can exist: a killed load's name is swept */
    sa_load_name load;
    if (sa_load_name_take(owner, &load, err)) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return LOAD_NOT_RUN;
    }
    const char *tmpname = load.name;
    char dst[300], out[256], errtxt[STDERR_KEEP];
    if (engine == SA_ENGINE_DOCKER) /* into docker's own store: a tagged name */
        snprintf(dst, sizeof dst, "docker-daemon:%s:latest", tmpname);
    else
        snprintf(dst, sizeof dst, "containers-storage:%s", tmpname);
    char *copy[] = {"skopeo", "--tmpdir", dir, "copy", "--quiet", (char *)src, dst, NULL};
    enum load_outcome outcome = LOAD_NOT_RUN;
    int st = run_tool(copy, dir, load.lock_fd, out, sizeof out, errtxt, sizeof errtxt, err);
    if (st < 0) goto done;
    if (st == 126 || st == 127) {
        /* skopeo reports its own errors with status 1: 126/127 is the exec'd
         * client that could not run (its dynamic loader, a missing library) */
        sa_error_set(err, "%s: skopeo could not run (status %d): %s", tar_path, st,
                     errtxt[0] ? errtxt : "no message");
        goto done;
    }
    if (st != 0) {
        sa_error_set(err, "%s: engine refused the image (skopeo exit %d): %s", tar_path, st,
                     errtxt[0] ? errtxt : "no message");
        outcome = LOAD_COPY_FAILED;
        goto done;
    }
    char *inspect[] = {client, "image", "inspect", "--format", "{{.Id}}", (char *)tmpname, NULL};
    st = run_tool(inspect, dir, -1, out, sizeof out, errtxt, sizeof errtxt, err);
    if (st < 0) goto done;
    out[strcspn(out, "\r\n")] = '\0';
    if (st != 0) {
        sa_error_set(err, "%s: the engine failed after copying the image (%s image inspect exit "
                          "%d): %s", tar_path, client, st, errtxt[0] ? errtxt : "no message");
        outcome = LOAD_ENGINE_FAILED;
        goto done;
    }
    const char *id = strncmp(out, "sha256:", 7) ? out : out + 7; /* docker says sha256:<hex> */
    if (strcmp(id, info->config_digest + 7) != 0) {
        sa_error_set(err, "%s: engine refused the image: loaded id %.64s is not the config digest %s", tar_path, out,
                     info->config_digest);
        outcome = LOAD_MISMATCH;
        goto done;
    }
    char *tag[] = {client, "tag", (char *)tmpname, (char *)name, NULL};
    st = run_tool(tag, dir, -1, out, sizeof out, errtxt, sizeof errtxt, err);
    if (st < 0) goto done;
    if (st != 0) {
        sa_error_set(err, "%s: the engine failed after copying the image (%s tag exit %d): %s",
                     tar_path, client, st, errtxt[0] ? errtxt : "no message");
        outcome = LOAD_ENGINE_FAILED;
        goto done;
    }
    outcome = LOAD_DONE;
done:
    {
        /* the load's own name only, never --force: "podman image rm NAME" of an
         * image with other names (the final one, another upload's) only untags it */
        char *rmi[] = {client, "image", "rm", (char *)tmpname, NULL};
        sa_error keep = *err, ignored;
        char o2[64], e2[STDERR_KEEP];
        run_tool(rmi, dir, -1, o2, sizeof o2, e2, sizeof e2, &ignored);
        *err = keep;
    }
    sa_load_name_release(&load);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return outcome;
}

int sa_intake_load(const char *tar_path, const sa_image_info *info, const char *name,
                   const sa_intake_owner *owner, sa_error *err) {
    return sa_intake_load_into(SA_ENGINE_PODMAN, tar_path, info, name, owner, err);
}

int sa_intake_load_into(sa_engine_kind engine, const char *tar_path, const sa_image_info *info,
                        const char *name, const sa_intake_owner *owner, sa_error *err) {
    if (!info || info->refusal != SA_REFUSED_NONE || strncmp(info->config_digest, "sha256:", 7) != 0)
        return sa_error_set(err, "%s: not inspected: run sa_intake_inspect first", tar_path),
               SA_INTAKE_LOAD_ENGINE_FAILED; /* the caller's mistake, never the image's */
    if (!name || strncmp(name, "localhost/segarena/", 19) != 0 || strlen(name) > 200)
        return sa_error_set(err, "%s: image name must start with localhost/segarena/", tar_path),
               SA_INTAKE_LOAD_ENGINE_FAILED;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("/._-:", *p)))
            return sa_error_set(err, "%s: image name '%s' holds a character outside [a-z0-9/._-:]", tar_path,
                                name),
                   SA_INTAKE_LOAD_ENGINE_FAILED;
    const char *transport = strcmp(info->format, "oci-archive") == 0 ? "oci-archive" : "docker-archive";
    char abs[4096];
    /* SegArena's own staged tar: a failure here is the host's, not the image's */
    if (!realpath(tar_path, abs))
        return sa_error_set(err, "%s: %s", tar_path, strerror(errno)), SA_INTAKE_LOAD_ENGINE_FAILED;
    if (strchr(abs, ':'))
        return sa_error_set(err, "%s: the path holds ':', which skopeo cannot take", tar_path),
               SA_INTAKE_LOAD_ENGINE_FAILED;
    char src[4200];
    snprintf(src, sizeof src, "%s:%s", transport, abs);
    /* containers/storage has races between clients that share layers (two loads
     * of images with a common layer, a removal during a load: "layer not known",
     * "duplicate ID"): a failed copy or podman step is tried again before the
     * image is blamed; an image the engine really refuses fails each time */
    static const unsigned pause_us[SA_INTAKE_LOAD_ATTEMPTS - 1] = {250000, 1000000};
    enum load_outcome outcome = LOAD_NOT_RUN;
    int attempt;
    for (attempt = 1; attempt <= SA_INTAKE_LOAD_ATTEMPTS; attempt++) {
        outcome = load_once(engine, tar_path, src, info, name, owner, err);
        if (outcome != LOAD_COPY_FAILED && outcome != LOAD_ENGINE_FAILED) break;
        if (attempt < SA_INTAKE_LOAD_ATTEMPTS) usleep(pause_us[attempt - 1]);
    }
    if (outcome == LOAD_DONE) return 0;
    if (attempt > SA_INTAKE_LOAD_ATTEMPTS) { /* every try failed: say so */
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, " (each of %d tries)", SA_INTAKE_LOAD_ATTEMPTS);
    }
    return outcome == LOAD_COPY_FAILED || outcome == LOAD_MISMATCH ? SA_INTAKE_LOAD_REFUSED
                                                                  : SA_INTAKE_LOAD_ENGINE_FAILED;
}
