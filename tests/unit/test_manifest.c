/* test_manifest.c: dataset.json validation (every violation listed), write/read
 * round trip, ids, sha256 and the problem list. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets.h"
#include "test.h"

static const char *good =
    "{\"schema\": \"segarena-dataset/1\", \"name\": \"ms1\", \"kind\": \"ms\", \"description\": \"\","
    " \"roles\": [\"flair\"], \"raters\": [\"r1\", \"r2\"], \"created\": \"2024-01-01T00:00:00Z\","
    " \"source\": {\"layout\": \"plain\", \"path\": \"/src\"},"
    " \"cases\": [{\"id\": \"c1\", \"split\": \"test\", \"geometry\": {\"size\": [4, 5, 6],"
    " \"spacing\": [1, 1, 1.5], \"origin\": [0, -1, 2.25], \"direction\": [1,0,0,0,1,0,0,0,1]},"
    " \"inputs\": {\"flair\": {\"path\": \"cases/c1/flair.nii.gz\", \"sha256\":"
    " \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"bytes\": 10,"
    " \"dicom_series_uid\": \"1.2.3\"}},"
    " \"raters\": {\"r1\": {\"path\": \"cases/c1/raters/r1.nii.gz\", \"sha256\":"
    " \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"bytes\": 11},"
    " \"r2\": {\"path\": \"cases/c1/raters/r2.nii.gz\", \"sha256\":"
    " \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", \"bytes\": 12}}}]}";

static void test_ids(void) {
    CHECK(sa_dataset_id_valid("a"));
    CHECK(sa_dataset_id_valid("MS-2016_v1.0"));
    CHECK(!sa_dataset_id_valid(""));
    CHECK(!sa_dataset_id_valid("-a"));
    CHECK(!sa_dataset_id_valid(".tmp"));
    CHECK(!sa_dataset_id_valid("a/b"));
    /* 63 characters at most: every id fits the store's and the phase spec's
     * 64-byte fields (a 64-character dataset imported, then no phase could use it) */
    char long_id[70];
    memset(long_id, 'a', 65);
    long_id[64] = 0;
    CHECK(!sa_dataset_id_valid(long_id));
    CHECK(sa_id_problem(long_id) && !strcmp(sa_id_problem(long_id), "is longer than 63 characters"));
    long_id[63] = 0;
    CHECK(sa_dataset_id_valid(long_id) && sa_id_problem(long_id) == NULL);
    CHECK(!strcmp(sa_id_problem(""), "is empty"));
    CHECK(!strcmp(sa_id_problem("-a"), "must start with a letter or a digit"));
    CHECK(!strcmp(sa_id_problem("a b"), "may hold only letters, digits, '.', '_' and '-'"));
}

static void test_good_and_round_trip(void) {
    sa_dataset ds;
    sa_problems p;
    sa_problems_init(&p);
    sa_error err;
    CHECK(sa_manifest_parse(good, "good", &ds, &p, &err) == 0);
    CHECK(p.count == 0);
    CHECK(ds.n_cases == 1 && ds.n_roles == 1 && ds.n_raters == 2);
    CHECK(ds.cases[0].size[2] == 6);
    CHECK_NEAR(ds.cases[0].spacing[2], 1.5, 0);
    CHECK_NEAR(ds.cases[0].origin[2], 2.25, 0);
    CHECK(ds.cases[0].raters[1].bytes == 12);
    CHECK(ds.cases[0].inputs[0].dicom_series_uid && !strcmp(ds.cases[0].inputs[0].dicom_series_uid, "1.2.3"));
    char dir[] = "/tmp/test_manifest_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[200];
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    CHECK(sa_manifest_write(path, &ds, &err) == 0);
    sa_dataset back;
    CHECK(sa_manifest_read(path, &back, &p, &err) == 0);
    CHECK(p.count == 0);
    CHECK(back.n_cases == 1 && !strcmp(back.cases[0].id, "c1") && !strcmp(back.raters[1], "r2"));
    CHECK_NEAR(back.cases[0].origin[1], -1, 0);
    CHECK(back.cases[0].inputs[0].bytes == 10);
    /* sha256 of a known text */
    char fpath[220], hex[65];
    uint64_t bytes = 0;
    snprintf(fpath, sizeof fpath, "%s/abc", dir);
    FILE *f = fopen(fpath, "w");
    fputs("abc", f);
    fclose(f);
    CHECK(sa_file_sha256(fpath, hex, &bytes, &err) == 0);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(bytes == 3);
    unlink(fpath);
    unlink(path);
    /* a text that is not UTF-8 (json_string gives NULL for it) is an error naming
     * it, and nothing is written: its key was dropped and the manifest stored
     * could never be read again */
    char *saved = back.source_path;
    back.source_path = "/src\xff/x";
    CHECK(sa_manifest_write(path, &back, &err) == -1);
    CHECK(strstr(err.msg, "source path is not valid UTF-8 (byte 5)") != NULL);
    CHECK(access(path, F_OK) != 0);
    back.source_path = saved;
    saved = back.cases[0].inputs[0].dicom_series_uid;
    back.cases[0].inputs[0].dicom_series_uid = "1.2\xc3";
    CHECK(sa_manifest_write(path, &back, &err) == -1);
    CHECK(strstr(err.msg, "case c1 dicom_series_uid is not valid UTF-8 (byte 4)") != NULL);
    CHECK(access(path, F_OK) != 0);
    back.cases[0].inputs[0].dicom_series_uid = saved;
    CHECK(sa_dataset_utf8_bad_byte("h\xc3\xa9") == 0 && sa_dataset_utf8_bad_byte("h\xc3") == 2);
    CHECK(sa_dataset_utf8_bad_byte("\xed\xa0\x80") == 1); /* a surrogate */
    rmdir(dir);
    sa_dataset_free(&back);
    sa_dataset_free(&ds);
    sa_problems_free(&p);
}

static size_t count_with(const sa_problems *p, const char *needle) {
    size_t n = 0;
    for (size_t i = 0; i < p->count; i++) n += strstr(p->msg[i], needle) != NULL;
    return n;
}

static void test_violations(void) {
    /* several violations at once, each listed */
    const char *bad =
        "{\"schema\": \"other\", \"name\": \"-bad\", \"description\": \"\", \"roles\": [\"flair\", \"flair\"],"
        " \"raters\": [], \"created\": \"x\", \"source\": {\"layout\": \"zip\", \"path\": \"/\"}, \"extra\": 1,"
        " \"cases\": [{\"id\": \"c1\", \"split\": \"test\", \"geometry\": {\"size\": [4, 5], \"spacing\": [1, 0, 1],"
        " \"origin\": [0, 0, 0], \"direction\": [1,0,0,0,1,0,0,0,1]}, \"inputs\": {\"flair\": {\"path\": \"/abs\","
        " \"sha256\": \"ABC\", \"bytes\": -1}, \"t9\": {}}, \"raters\": {}},"
        " {\"id\": \"c1\", \"split\": \"test\", \"geometry\": {}, \"inputs\": {}, \"raters\": {}}]}";
    sa_dataset ds;
    sa_problems p;
    sa_problems_init(&p);
    sa_error err;
    CHECK(sa_manifest_parse(bad, "bad.json", &ds, &p, &err) == -1);
    CHECK(count_with(&p, "\"schema\" must be") == 1);
    CHECK(count_with(&p, "missing \"kind\"") == 1);
    CHECK(count_with(&p, "\"name\"") == 1);
    CHECK(count_with(&p, "lists \"flair\" twice") == 1);
    CHECK(count_with(&p, "\"raters\" must be a non-empty array") == 1);
    CHECK(count_with(&p, "\"layout\" must be") == 1);
    CHECK(count_with(&p, "unknown key \"extra\"") == 1);
    CHECK(count_with(&p, "\"size\" must be an array of 3") == 1);
    CHECK(count_with(&p, "\"spacing\"[1] must be > 0") == 1);
    CHECK(count_with(&p, "\"path\" must be relative") == 1);
    CHECK(count_with(&p, "\"sha256\" must be") == 1);
    CHECK(count_with(&p, "\"bytes\" must be") == 1);
    CHECK(count_with(&p, "\"t9\", which is not in the dataset's roles") == 1);
    CHECK(count_with(&p, "duplicate case id \"c1\"") == 1);
    CHECK(count_with(&p, "bad.json: ") == p.count);
    CHECK(p.count >= 14);
    CHECK_STR_CONTAINS(err.msg, "bad.json");
    sa_problems_free(&p);

    sa_problems_init(&p);
    CHECK(sa_manifest_parse("{not json", "x.json", &ds, &p, &err) == -1);
    CHECK(p.count == 1);
    CHECK_STR_CONTAINS(err.msg, "not JSON");
    sa_problems_free(&p);

    /* a missing rater in a case */
    char *text = strdup(good);
    char *r2 = strstr(text, ", \"r2\": {");
    memmove(r2, strstr(r2, "}}}]}") + 1, strlen(strstr(r2, "}}}]}") + 1) + 1);
    sa_problems_init(&p);
    CHECK(sa_manifest_parse(text, "m.json", &ds, &p, &err) == -1);
    CHECK(count_with(&p, "rater \"r2\" is missing") == 1);
    sa_problems_free(&p);
    free(text);
}

/* A role given by a library caller's role map becomes a file name of the store:
 * it is checked as an id before anything is scanned or stored. */
static void test_import_role_map(void) {
    char dir[] = "/tmp/test_manifest_rolemap_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char data[300];
    snprintf(data, sizeof data, "%s/data", dir);
    sa_role_map map = {"T2starw", "../t2s"};
    sa_import_options opt;
    sa_import_options_default(&opt);
    opt.data_dir = data;
    opt.source = dir;
    opt.name = "d";
    opt.role_map = &map;
    opt.n_role_map = 1;
    sa_import_report report;
    sa_problems p;
    sa_problems_init(&p);
    sa_error err;
    CHECK(sa_dataset_import(&opt, &report, &p, &err) == -1);
    CHECK(p.count == 1);
    CHECK(count_with(&p, "role \"../t2s\" (for suffix T2starw) is not a valid id") == 1);
    CHECK(access(data, F_OK) != 0);
    sa_problems_free(&p);
    sa_import_report_free(&report);
    rmdir(dir);
}

int main(void) {
    test_ids();
    test_good_and_round_trip();
    test_violations();
    test_import_role_map();
    return test_report("test_manifest");
}
