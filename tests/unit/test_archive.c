/*
 * test_archive.c: unit tests of submissions/archive.c (streams, capped gzip/xz, the
 * tar reader, name rules) and, when run as
 *   test_archive intake ARCHIVE SCRATCH MAX_UPLOAD MAX_UNPACKED MAX_IMAGE [NAME [LOCK_DIR TAG]]
 * a driver for tests/integration/test_intake*.py: inspects ARCHIVE (then loads it
 * under NAME when given, as owner LOCK_DIR/TAG when given) and prints one JSON line
 * with the outcome; as
 *   test_archive sweep LOCK_DIR TAG
 * it runs sa_intake_sweep_loads and prints {"rc": ..., "error": ...}.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "intake_internal.h"
#include "submissions.h"
#include "test.h"

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static int driver(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: test_archive intake ARCHIVE SCRATCH MAX_UPLOAD MAX_UNPACKED MAX_IMAGE [NAME [LOCK_DIR TAG]]\n");
        return 2;
    }
    sa_intake_limits lim;
    sa_intake_limits_default(&lim);
    if (strtoull(argv[4], NULL, 10)) lim.max_upload_bytes = strtoull(argv[4], NULL, 10);
    if (strtoull(argv[5], NULL, 10)) lim.max_unpacked_bytes = strtoull(argv[5], NULL, 10);
    if (strtoull(argv[6], NULL, 10)) lim.max_image_bytes = strtoull(argv[6], NULL, 10);
    sa_image_info info;
    sa_error err = {{0}};
    char tar[4096];
    int rc = sa_intake_inspect(argv[2], &lim, argv[3], &info, tar, sizeof tar, &err);
    int load_rc = 0;
    sa_error load_err = {{0}};
    /* SA_TEST_LOAD_TAR: load that file with this archive's inspection (an engine
     * that commits another image than the one checked: the id check must catch it) */
    const char *other = getenv("SA_TEST_LOAD_TAR");
    sa_intake_owner owner = {.lock_dir = argc > 9 ? argv[8] : NULL, .tag = argc > 9 ? argv[9] : NULL};
    /* SA_TEST_ENGINE=docker: load into docker's store (sa_intake_load_into) */
    const char *engine = getenv("SA_TEST_ENGINE");
    sa_engine_kind kind = engine && !strcmp(engine, "docker") ? SA_ENGINE_DOCKER : SA_ENGINE_PODMAN;
    if (rc == 0 && argc > 7)
        load_rc = sa_intake_load_into(kind, other ? other : tar, &info, argv[7], argc > 9 ? &owner : NULL,
                                      &load_err);
    printf("{\"rc\": %d, \"refusal\": ", rc);
    json_str(sa_intake_refusal_name(info.refusal));
    printf(", \"error\": ");
    json_str(rc ? err.msg : "");
    printf(", \"format\": ");
    json_str(info.format);
    printf(", \"digest\": ");
    json_str(info.config_digest);
    printf(", \"arch\": ");
    json_str(info.arch);
    printf(", \"user\": ");
    json_str(info.user);
    printf(", \"uid\": %ld, \"gid\": %ld, \"entrypoint\": ", info.uid, info.gid);
    json_str(info.entrypoint);
    printf(", \"tar\": ");
    json_str(rc ? "" : tar);
    printf(", \"image_bytes\": %llu, \"load_rc\": %d, \"load_error\": ", (unsigned long long)info.image_bytes,
           load_rc);
    json_str(load_rc ? load_err.msg : "");
    printf("}\n");
    return 0;
}

static int sweep_driver(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: test_archive sweep LOCK_DIR TAG\n");
        return 2;
    }
    sa_intake_owner owner = {.lock_dir = argv[2], .tag = argv[3]};
    sa_error err = {{0}};
    int rc = sa_intake_sweep_loads(&owner, &err);
    printf("{\"rc\": %d, \"error\": ", rc);
    json_str(rc ? err.msg : "");
    printf("}\n");
    return 0;
}

/* ---- Helpers: tars and gzip built in memory ---- */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 4096;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

/* One ustar header; size_field is what its size field says (data is added apart). */
static void tar_header(buf *b, const char *name, char type, const char *link, size_t size_field) {
    unsigned char h[512] = {0};
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)size_field);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = (unsigned char)type;
    if (link) snprintf((char *)h + 157, 100, "%s", link);
    memcpy(h + 257, "ustar\0" "00", 8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    put(b, h, 512);
}

static void tar_add(buf *b, const char *name, char type, const char *link, const void *data, size_t size) {
    tar_header(b, name, type, link, size);
    if (size) {
        put(b, data, size);
        static const unsigned char zeros[512];
        if (size % 512) put(b, zeros, 512 - size % 512);
    }
}

static void tar_end(buf *b) {
    static const unsigned char zeros[1024];
    put(b, zeros, 1024);
}

static int write_temp(const buf *b, char *path) {
    strcpy(path, "/tmp/test_archive_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    if (write(fd, b->p, b->n) != (ssize_t)b->n) return -1;
    return fd;
}

static void gzip_buf(const buf *in, buf *out) {
    uLong bound = compressBound(in->n) + 64;
    out->p = malloc(bound);
    out->cap = bound;
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
    z.next_in = in->p;
    z.avail_in = (uInt)in->n;
    z.next_out = out->p;
    z.avail_out = (uInt)bound;
    deflate(&z, Z_FINISH);
    out->n = bound - z.avail_out;
    deflateEnd(&z);
}

/* Counts the entries of the tar in fd; returns the last refusal (0 when clean). */
static int count_entries(int fd, uint64_t len, int comp, uint64_t cap, int *entries, sa_error *err) {
    sa_stream *s = sa_stream_range(fd, 0, len);
    if (comp) s = sa_stream_decompress(s, comp, cap);
    sa_tar *t = sa_tar_open(s);
    sa_tar_entry *e = malloc(sizeof *e);
    int r, refusal = 0;
    *entries = 0;
    while ((r = sa_tar_next(t, e, err)) == 1) (*entries)++;
    if (r == 0) r = sa_tar_drain(t, err);
    if (r < 0) refusal = sa_tar_refusal(t);
    free(e);
    sa_tar_close(t);
    sa_stream_close(s);
    return refusal;
}

static void test_tar_basic(void) {
    buf b = {0};
    tar_add(&b, "a.txt", '0', NULL, "hello", 5);
    tar_add(&b, "dir/", '5', NULL, NULL, 0);
    tar_add(&b, "dir/link", '2', "../a.txt", NULL, 0);
    tar_end(&b);
    char path[64];
    int fd = write_temp(&b, path);
    CHECK(fd >= 0);
    sa_stream *s = sa_stream_range(fd, 0, b.n);
    sa_tar *t = sa_tar_open(s);
    sa_tar_entry *e = malloc(sizeof *e);
    sa_error err = {{0}};
    CHECK(sa_tar_next(t, e, &err) == 1);
    CHECK(strcmp(e->name, "a.txt") == 0 && e->type == SA_TAR_FILE && e->size == 5);
    char data[16] = {0};
    CHECK(sa_tar_read(t, data, sizeof data, &err) == 5);
    CHECK(memcmp(data, "hello", 5) == 0);
    CHECK(e->data_offset == 512);
    CHECK(sa_tar_next(t, e, &err) == 1);
    CHECK(e->type == SA_TAR_DIR);
    CHECK(sa_tar_next(t, e, &err) == 1);
    CHECK(e->type == SA_TAR_SYMLINK && strcmp(e->linkname, "../a.txt") == 0);
    CHECK(sa_tar_next(t, e, &err) == 0);
    free(e);
    sa_tar_close(t);
    sa_stream_close(s);

    /* Truncated inside the data. */
    int n;
    CHECK(count_entries(fd, 512 + 3, 0, 0, &n, &err) == SA_REFUSED_TRUNCATED);
    /* Truncated before the end marker. */
    CHECK(count_entries(fd, 512 * 4, 0, 0, &n, &err) == SA_REFUSED_TRUNCATED);
    /* Not a tar. */
    buf junk = {0};
    for (int i = 0; i < 2048; i++) put(&junk, "x", 1);
    char jpath[64];
    int jfd = write_temp(&junk, jpath);
    CHECK(count_entries(jfd, junk.n, 0, 0, &n, &err) == SA_REFUSED_NOT_A_TAR);
    CHECK(count_entries(jfd, 0, 0, 0, &n, &err) == SA_REFUSED_EMPTY);
    close(jfd);
    unlink(jpath);
    free(junk.p);

    /* Gzip: reads back; a cap below the size refuses it as too large. */
    buf gz = {0};
    gzip_buf(&b, &gz);
    char gpath[64];
    int gfd = write_temp(&gz, gpath);
    unsigned char magic[2] = {gz.p[0], gz.p[1]};
    CHECK(sa_sniff_compression(magic, 2) == SA_COMP_GZIP);
    CHECK(count_entries(gfd, gz.n, SA_COMP_GZIP, 1 << 20, &n, &err) == 0);
    CHECK(n == 3);
    CHECK(count_entries(gfd, gz.n, SA_COMP_GZIP, 1000, &n, &err) == SA_REFUSED_TOO_LARGE);
    CHECK_STR_CONTAINS(err.msg, "too large");
    CHECK(count_entries(gfd, gz.n - 10, SA_COMP_GZIP, 1 << 20, &n, &err) == SA_REFUSED_TRUNCATED);
    close(gfd);
    unlink(gpath);
    free(gz.p);
    close(fd);
    unlink(path);
    free(b.p);
}

/* Go's archive/tar (skopeo, containers-storage) reads a legacy '\0' member whose
 * name ends in '/' as a folder with no data, and links, folders and devices as
 * carrying no data whatever their size field says. The reader must see the same
 * members: a header hidden in such a member's "data" is the next member. */
static void test_header_only_members(void) {
    buf inner = {0};
    tar_add(&inner, "evil", '2', "/tmp/outside", NULL, 0);
    buf b = {0};
    /* a legacy folder whose size field covers the hidden symlink's header */
    tar_header(&b, "pad/", '\0', NULL, inner.n);
    put(&b, inner.p, inner.n);
    /* a symlink whose size field says 512: its "data" is the next header */
    tar_header(&b, "link", '2', "a", 512);
    tar_add(&b, "a", '0', NULL, "x", 1);
    tar_add(&b, "cont", '7', NULL, "y", 1);
    tar_end(&b);
    char path[64];
    int fd = write_temp(&b, path);
    CHECK(fd >= 0);
    sa_stream *s = sa_stream_range(fd, 0, b.n);
    sa_tar *t = sa_tar_open(s);
    sa_tar_entry *e = malloc(sizeof *e);
    sa_error err = {{0}};
    CHECK(sa_tar_next(t, e, &err) == 1);
    CHECK(strcmp(e->name, "pad/") == 0 && e->type == SA_TAR_DIR && e->size == 0);
    CHECK(sa_tar_next(t, e, &err) == 1);
    CHECK(strcmp(e->name, "evil") == 0 && e->type == SA_TAR_SYMLINK);
    CHECK(strcmp(e->linkname, "/tmp/outside") == 0);
    CHECK(sa_tar_next(t, e, &err) == 1);
    CHECK(strcmp(e->name, "link") == 0 && e->type == SA_TAR_SYMLINK && e->size == 0);
    CHECK(sa_tar_next(t, e, &err) == 1);
    CHECK(strcmp(e->name, "a") == 0 && e->type == SA_TAR_FILE && e->size == 1);
    /* a contiguous file ('7') is not a plain file to every extractor */
    CHECK(sa_tar_next(t, e, &err) == 1);
    CHECK(strcmp(e->name, "cont") == 0 && e->type == SA_TAR_OTHER);
    free(e);
    sa_tar_close(t);
    sa_stream_close(s);
    close(fd);
    unlink(path);
    free(b.p);
    free(inner.p);
}

/* One pax record "LEN key=value\n" (LEN counts itself). */
static void pax_record(char *out, size_t cap, const char *key, const char *value) {
    size_t body = strlen(key) + strlen(value) + 3, len = body + 1;
    while (snprintf(NULL, 0, "%zu", len) + body != len) len++;
    snprintf(out, cap, "%zu %s=%s\n", len, key, value);
}

/* Go's archive/tar returns a global 'g' header as an entry and drops the pax
 * 'x' and GNU 'L'/'K' records before it; a reader that carried them over would
 * check another name (or, with a pax size, skip headers Go unpacks). Every
 * 'g' header is refused, at the start too. */
static void test_global_header(void) {
    char rec[256];
    for (int variant = 0; variant < 5; variant++) {
        buf b = {0};
        if (variant == 0) { /* x{path} g entry */
            pax_record(rec, sizeof rec, "path", "checked");
            tar_add(&b, "PaxHeaders/x", 'x', NULL, rec, strlen(rec));
        } else if (variant == 1) { /* x{size} g entry: the size would hide a header */
            pax_record(rec, sizeof rec, "size", "1024");
            tar_add(&b, "PaxHeaders/x", 'x', NULL, rec, strlen(rec));
        } else if (variant == 2) { /* L g entry */
            tar_add(&b, "././@LongLink", 'L', NULL, "checked", 8);
        } else if (variant == 3) { /* K g entry */
            tar_add(&b, "././@LongLink", 'K', NULL, "checked", 8);
        } /* variant 4: a lone g at the very start */
        pax_record(rec, sizeof rec, "comment", "x");
        tar_add(&b, "pax_global_header", 'g', NULL, rec, strlen(rec));
        tar_add(&b, "written", variant == 3 ? '2' : '0', variant == 3 ? "a" : NULL, NULL, 0);
        tar_end(&b);
        char path[64];
        int fd = write_temp(&b, path);
        CHECK(fd >= 0);
        int n;
        sa_error err = {{0}};
        CHECK(count_entries(fd, b.n, 0, 0, &n, &err) == SA_REFUSED_UNSAFE_ARCHIVE);
        CHECK_STR_CONTAINS(err.msg, "global header");
        CHECK(n == 0);
        close(fd);
        unlink(path);
        free(b.p);
    }
}

static void test_bomb(void) {
    /* 64 MiB of zeros gzip to ~64 KiB; a 1 MiB cap stops after ~1 MiB of output. */
    buf z = {0};
    z.p = calloc(1, 64u << 20);
    z.n = z.cap = 64u << 20;
    buf gz = {0};
    gzip_buf(&z, &gz);
    free(z.p);
    char path[64];
    int fd = write_temp(&gz, path);
    sa_stream *s = sa_stream_decompress(sa_stream_range(fd, 0, gz.n), SA_COMP_GZIP, 1u << 20);
    unsigned char tmp[65536];
    sa_error err = {{0}};
    int64_t r;
    while ((r = sa_stream_read(s, tmp, sizeof tmp, &err)) > 0) {
    }
    CHECK(r < 0);
    CHECK(sa_stream_refusal(s) == SA_REFUSED_TOO_LARGE);
    CHECK(sa_stream_produced(s) <= (1u << 20) + 1);
    sa_stream_close(s);
    close(fd);
    unlink(path);
    free(gz.p);
}

static void test_names(void) {
    char n[64];
    const char *why;
    strcpy(n, "./a//b/./c/");
    CHECK(sa_tar_normalize(n, &why) == 0 && strcmp(n, "a/b/c") == 0);
    strcpy(n, "/etc/passwd");
    CHECK(sa_tar_normalize(n, &why) < 0);
    CHECK_STR_CONTAINS(why, "absolute");
    strcpy(n, "a/../../x");
    CHECK(sa_tar_normalize(n, &why) < 0);
    CHECK_STR_CONTAINS(why, "..");
    strcpy(n, "./");
    CHECK(sa_tar_normalize(n, &why) < 0);
    strcpy(n, "a\nb");
    CHECK(sa_tar_normalize(n, &why) < 0);
    strcpy(n, "a..b/c..");
    CHECK(sa_tar_normalize(n, &why) == 0);

    CHECK(sa_symlink_escapes("bin", "usr/bin") == 0);
    CHECK(sa_symlink_escapes("etc/localtime", "/usr/share/zoneinfo/UTC") == 0);
    CHECK(sa_symlink_escapes("usr/lib/x", "../../lib/y") == 0);
    CHECK(sa_symlink_escapes("usr/lib/x", "../../../etc") == 1);
    CHECK(sa_symlink_escapes("x", "..") == 1);
    CHECK(sa_symlink_escapes("x", "/..") == 1);
    CHECK(sa_symlink_escapes("a/x", "b/../../y") == 0);
    CHECK(sa_symlink_escapes("a/x", "b/../../../y") == 1);

    long uid;
    char name[32];
    CHECK(sa_parse_user("1000", &uid, name, sizeof name) == 0 && uid == 1000);
    CHECK(sa_parse_user("0:1000", &uid, name, sizeof name) == 0 && uid == 0);
    CHECK(sa_parse_user("000", &uid, name, sizeof name) == 0 && uid == 0);
    CHECK(sa_parse_user("app:app", &uid, name, sizeof name) == 0 && uid == -1 && strcmp(name, "app") == 0);
    CHECK(sa_parse_user("", &uid, name, sizeof name) < 0);
    CHECK(sa_parse_user(":1000", &uid, name, sizeof name) < 0);
    const char *pw = "root:x:0:0:root:/root:/bin/sh\nadmin:x:0:0::/:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    CHECK(sa_passwd_uid(pw, strlen(pw), "app", NULL) == 1000);
    CHECK(sa_passwd_uid(pw, strlen(pw), "admin", NULL) == 0);
    CHECK(sa_passwd_uid(pw, strlen(pw), "ap", NULL) == -1);
    CHECK(sa_passwd_uid(pw, strlen(pw), "nobody", NULL) == -1);
    /* what runc would read as root must never pass as a user */
    CHECK(sa_parse_user("+0", &uid, name, sizeof name) < 0);
    CHECK(sa_parse_user("-0", &uid, name, sizeof name) < 0);
    CHECK(sa_parse_user("4294967296", &uid, name, sizeof name) < 0); /* wraps to 0 as uint32 */
    CHECK(sa_parse_user("2147483647", &uid, name, sizeof name) == 0 && uid == 2147483647);
    CHECK(sa_parse_user(" app", &uid, name, sizeof name) < 0);
    const char *wrap = "admin:x:4294967296:1000::/:/bin/sh\n";
    CHECK(sa_passwd_uid(wrap, strlen(wrap), "admin", NULL) == -1);
    const char *twice = " admin:x:0:0::/:/bin/sh\nadmin:x:1000:1000::/:/bin/sh\n"; /* runc trims: first wins */
    CHECK(sa_passwd_uid(twice, strlen(twice), "admin", NULL) == -1);
    const char *commented = "# admin:x:0:0\n\n  app:x:1000:1000::/:/bin/sh  \n";
    CHECK(sa_passwd_uid(commented, strlen(commented), "app", NULL) == 1000);
    /* Go's TrimSpace also strips \v, \f, U+0085, U+00A0 and runc's first match wins:
     * such a line makes the whole file unreadable */
    const char *vt = "\vuser:x:0:0::/:/x\nuser:x:1000:1000::/:/x\n";
    CHECK(sa_passwd_uid(vt, strlen(vt), "user", NULL) == -2);
    const char *ff = "\fuser:x:0:0::/:/x\nuser:x:1000:1000::/:/x\n";
    CHECK(sa_passwd_uid(ff, strlen(ff), "user", NULL) == -2);
    const char *nbsp = "\xc2\xa0user:x:0:0::/:/x\nuser:x:1000:1000::/:/x\n";
    CHECK(sa_passwd_uid(nbsp, strlen(nbsp), "user", NULL) == -2);
    /* a line that is the bare name is the user to runc (uid 0): a second match */
    const char *bare = "user\nuser:x:1000:1000::/:/x\n";
    CHECK(sa_passwd_uid(bare, strlen(bare), "user", NULL) == -1);
    /* gid: read from the same line, malformed refused */
    long gid = -5;
    const char *g = "app:x:1000:1001::/:/x\nbad:x:1000:+0::/:/x\nshort:x:1000\n";
    CHECK(sa_passwd_uid(g, strlen(g), "app", &gid) == 1000 && gid == 1001);
    CHECK(sa_passwd_uid(g, strlen(g), "bad", &gid) == -1);
    CHECK(sa_passwd_uid(g, strlen(g), "short", &gid) == -1);
    CHECK(sa_parse_group("1000", &gid) == 0 && gid == -1);
    CHECK(sa_parse_group("1000:1001", &gid) == 0 && gid == 1001);
    CHECK(sa_parse_group("app:grp", &gid) == 0 && gid == -1);
    CHECK(sa_parse_group("app:0", &gid) == 0 && gid == 0);
    CHECK(sa_parse_group("1000:", &gid) < 0);
    CHECK(sa_parse_group("1000:+0", &gid) < 0);
    CHECK(sa_parse_group("1000:1:2", &gid) < 0);

    char img[80];
    sa_error err;
    CHECK(sa_intake_image_name("42", img, sizeof img, &err) == 0 && strcmp(img, "localhost/segarena/sub-42") == 0);
    CHECK(sa_intake_image_name("-x", img, sizeof img, &err) < 0);
    CHECK(sa_intake_image_name("A/b", img, sizeof img, &err) < 0);
    CHECK(strcmp(sa_intake_refusal_name(SA_REFUSED_ROOT_USER), "root_user") == 0);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "intake") == 0) return driver(argc, argv);
    if (argc > 1 && strcmp(argv[1], "sweep") == 0) return sweep_driver(argc, argv);
    test_tar_basic();
    test_header_only_members();
    test_global_header();
    test_bomb();
    test_names();
    return test_report("test_archive");
}
