/*
 * manifest.c: dataset.json, the manifest of a stored dataset: reading with
 * validation against the rules of docs/dataset.schema.json (every violation
 * listed), writing (pretty, stable key order, atomic), and the problem list.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset_internal.h"

/* ---- small helpers ---- */

char *sa_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *sa_path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *d = malloc(na + nb + 2);
    if (!d) return NULL;
    memcpy(d, a, na);
    size_t k = na;
    if (k == 0 || d[k - 1] != '/') d[k++] = '/';
    memcpy(d + k, b, nb + 1);
    return d;
}

int sa_cmp_strp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *sa_read_text_file(const char *path, sa_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        sa_error_set(err, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        sa_error_set(err, "%s: out of memory", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        sa_error_set(err, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* ---- problems ---- */

void sa_problems_init(sa_problems *p) { memset(p, 0, sizeof *p); }

int sa_problems_add(sa_problems *p, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        char **m = realloc(p->msg, cap * sizeof *m);
        if (!m) return -1;
        p->msg = m;
        p->cap = cap;
    }
    char *s = sa_strdup(buf);
    if (!s) return -1;
    p->msg[p->count++] = s;
    return 0;
}

void sa_problems_free(sa_problems *p) {
    if (!p) return;
    for (size_t i = 0; i < p->count; i++) free(p->msg[i]);
    free(p->msg);
    memset(p, 0, sizeof *p);
}

const char *sa_id_problem(const char *s) {
    if (!s || !*s) return "is empty";
    size_t n = strlen(s);
    if (n > SA_ID_MAX_LEN) return "is longer than 63 characters";
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && i == 0) return "must start with a letter or a digit";
        if (!alnum && c != '.' && c != '_' && c != '-') return "may hold only letters, digits, '.', '_' and '-'";
    }
    return NULL;
}

int sa_dataset_id_valid(const char *s) { return sa_id_problem(s) == NULL; }

static void file_free(sa_dataset_file *f) {
    free(f->path);
    free(f->dicom_series_uid);
}

void sa_dataset_free(sa_dataset *ds) {
    if (!ds) return;
    for (size_t c = 0; c < ds->n_cases; c++) {
        sa_dataset_case *k = &ds->cases[c];
        if (k->inputs)
            for (size_t i = 0; i < ds->n_roles; i++) file_free(&k->inputs[i]);
        if (k->raters)
            for (size_t i = 0; i < ds->n_raters; i++) file_free(&k->raters[i]);
        free(k->inputs);
        free(k->raters);
        free(k->id);
        free(k->split);
    }
    free(ds->cases);
    for (size_t i = 0; i < ds->n_roles; i++) free(ds->roles[i]);
    for (size_t i = 0; i < ds->n_raters; i++) free(ds->raters[i]);
    free(ds->roles);
    free(ds->raters);
    free(ds->name);
    free(ds->kind);
    free(ds->description);
    free(ds->created);
    free(ds->source_layout);
    free(ds->source_path);
    memset(ds, 0, sizeof *ds);
}

/* ---- validation ---- */

typedef struct checker {
    const char *label;
    sa_problems *problems;
    int oom;
} checker;

static void bad(checker *c, const char *where, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void bad(checker *c, const char *where, const char *fmt, ...) {
    char buf[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (sa_problems_add(c->problems, "%s: %s: %s", c->label, where, buf)) c->oom = 1;
}

/* additionalProperties: false */
static void only_keys(checker *c, const char *where, json_t *obj, const char *const *allowed) {
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++) ok |= !strcmp(allowed[i], key);
        if (!ok) bad(c, where, "unknown key \"%s\"", key);
    }
}

static const char *get_string(checker *c, const char *where, json_t *obj, const char *key, int required) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) bad(c, where, "missing \"%s\"", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        bad(c, where, "\"%s\" must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

static int get_numbers(checker *c, const char *where, json_t *obj, const char *key, size_t n,
                       double *out, int positive, int integer) {
    json_t *a = json_object_get(obj, key);
    if (!a) return bad(c, where, "missing \"%s\"", key), -1;
    if (!json_is_array(a) || json_array_size(a) != n)
        return bad(c, where, "\"%s\" must be an array of %zu numbers", key, n), -1;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (integer ? !json_is_integer(v) : !json_is_number(v))
            return bad(c, where, "\"%s\"[%zu] must be %s", key, i, integer ? "an integer" : "a number"), -1;
        out[i] = json_number_value(v);
        if (positive && !(out[i] > 0)) return bad(c, where, "\"%s\"[%zu] must be > 0", key, i), -1;
    }
    return 0;
}

static int relative_path_ok(const char *p) {
    if (!*p || p[0] == '/') return 0;
    const char *s = p;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
        s += n;
        if (*s) s++;
    }
    return 1;
}

static int sha_ok(const char *s) {
    if (strlen(s) != 64) return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

static void parse_file(checker *c, const char *where, json_t *v, int input, sa_dataset_file *out) {
    static const char *const in_keys[] = {"path", "sha256", "bytes", "dicom_series_uid", NULL};
    static const char *const r_keys[] = {"path", "sha256", "bytes", NULL};
    if (!json_is_object(v)) return bad(c, where, "must be an object");
    only_keys(c, where, v, input ? in_keys : r_keys);
    const char *path = get_string(c, where, v, "path", 1);
    const char *sha = get_string(c, where, v, "sha256", 1);
    if (path && !relative_path_ok(path)) bad(c, where, "\"path\" must be relative, without '.' or '..' parts");
    if (sha && !sha_ok(sha)) bad(c, where, "\"sha256\" must be 64 lowercase hex digits");
    json_t *b = json_object_get(v, "bytes");
    if (!b) bad(c, where, "missing \"bytes\"");
    else if (!json_is_integer(b) || json_integer_value(b) < 0) bad(c, where, "\"bytes\" must be an integer >= 0");
    const char *uid = input ? get_string(c, where, v, "dicom_series_uid", 0) : NULL;
    if (uid && !*uid) bad(c, where, "\"dicom_series_uid\" must not be empty");
    if (path && sha && relative_path_ok(path) && sha_ok(sha) && b && json_is_integer(b) &&
        json_integer_value(b) >= 0) {
        out->path = sa_strdup(path);
        if (!out->path) c->oom = 1;
        memcpy(out->sha256, sha, 65);
        out->bytes = (uint64_t)json_integer_value(b);
        if (uid && *uid && !(out->dicom_series_uid = sa_strdup(uid))) c->oom = 1;
    }
}

/* "roles"/"raters": unique valid ids */
static char **parse_ids(checker *c, json_t *root, const char *key, size_t *n_out) {
    json_t *a = json_object_get(root, key);
    *n_out = 0;
    if (!a) return bad(c, "top level", "missing \"%s\"", key), NULL;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return bad(c, "top level", "\"%s\" must be a non-empty array of ids", key), NULL;
    size_t n = json_array_size(a);
    char **ids = calloc(n, sizeof *ids);
    if (!ids) return c->oom = 1, NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        if (!s || !sa_dataset_id_valid(s)) {
            bad(c, "top level", "\"%s\"[%zu] must be an id (" SA_ID_PATTERN ")", key, i);
            s = "";
        }
        for (size_t j = 0; j < i && *s; j++)
            if (!strcmp(ids[j], s)) bad(c, "top level", "\"%s\" lists \"%s\" twice", key, s);
        if (!(ids[i] = sa_strdup(s))) c->oom = 1;
    }
    *n_out = n;
    return ids;
}

static void parse_files_of(checker *c, const char *where, json_t *kc, const char *key, char **ids,
                           size_t n_ids, int input, sa_dataset_file **out) {
    json_t *obj = json_object_get(kc, key);
    char w[400];
    if (!obj) return bad(c, where, "missing \"%s\"", key);
    if (!json_is_object(obj)) return bad(c, where, "\"%s\" must be an object", key);
    *out = calloc(n_ids ? n_ids : 1, sizeof **out);
    if (!*out) return (void)(c->oom = 1);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        size_t i = 0;
        while (i < n_ids && strcmp(ids[i], k)) i++;
        snprintf(w, sizeof w, "%s.%s.%s", where, key, k);
        if (i == n_ids) {
            bad(c, where, "\"%s\" has \"%s\", which is not in the dataset's %s", key, k,
                input ? "roles" : "raters");
            continue;
        }
        parse_file(c, w, v, input, &(*out)[i]);
    }
    for (size_t i = 0; i < n_ids; i++)
        if (*ids[i] && !json_object_get(obj, ids[i]))
            bad(c, where, "%s \"%s\" is missing", input ? "input" : "rater", ids[i]);
}

static void parse_case(checker *c, sa_dataset *ds, size_t idx, json_t *kc) {
    static const char *const keys[] = {"id", "split", "geometry", "inputs", "raters", NULL};
    static const char *const gkeys[] = {"size", "spacing", "origin", "direction", NULL};
    char where[300];
    snprintf(where, sizeof where, "cases[%zu]", idx);
    sa_dataset_case *k = &ds->cases[idx];
    if (!json_is_object(kc)) return bad(c, where, "must be an object");
    const char *id = get_string(c, where, kc, "id", 1);
    if (id && !sa_dataset_id_valid(id)) bad(c, where, "\"id\" \"%s\" is not a valid id", id);
    else if (id) {
        snprintf(where, sizeof where, "cases[%zu] (%s)", idx, id);
        for (size_t j = 0; j < idx; j++)
            if (ds->cases[j].id && !strcmp(ds->cases[j].id, id)) bad(c, where, "duplicate case id \"%s\"", id);
        if (!(k->id = sa_strdup(id))) c->oom = 1;
    }
    only_keys(c, where, kc, keys);
    const char *split = get_string(c, where, kc, "split", 1);
    if (split && !sa_dataset_id_valid(split)) bad(c, where, "\"split\" \"%s\" is not a valid id", split);
    else if (split && !(k->split = sa_strdup(split))) c->oom = 1;
    json_t *g = json_object_get(kc, "geometry");
    if (!g) bad(c, where, "missing \"geometry\"");
    else if (!json_is_object(g)) bad(c, where, "\"geometry\" must be an object");
    else {
        char gw[320];
        snprintf(gw, sizeof gw, "%s.geometry", where);
        only_keys(c, gw, g, gkeys);
        double size[3];
        if (!get_numbers(c, gw, g, "size", 3, size, 1, 1))
            for (int i = 0; i < 3; i++) k->size[i] = (size_t)size[i];
        get_numbers(c, gw, g, "spacing", 3, k->spacing, 1, 0);
        get_numbers(c, gw, g, "origin", 3, k->origin, 0, 0);
        get_numbers(c, gw, g, "direction", 9, k->direction, 0, 0);
    }
    parse_files_of(c, where, kc, "inputs", ds->roles, ds->n_roles, 1, &k->inputs);
    parse_files_of(c, where, kc, "raters", ds->raters, ds->n_raters, 0, &k->raters);
}

int sa_manifest_parse(const char *text, const char *label, sa_dataset *out, sa_problems *problems,
                      sa_error *err) {
    static const char *const keys[] = {"schema", "name", "kind", "description", "roles", "raters",
                                       "created", "source", "cases", NULL};
    memset(out, 0, sizeof *out);
    size_t before = problems->count;
    checker c = {label, problems, 0};
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) {
        sa_problems_add(problems, "%s: not JSON (line %d: %s)", label, jerr.line, jerr.text);
        return sa_error_set(err, "%s: not JSON (line %d: %s)", label, jerr.line, jerr.text);
    }
    if (!json_is_object(root)) {
        bad(&c, "top level", "must be an object");
        goto done;
    }
    only_keys(&c, "top level", root, keys);
    const char *s = get_string(&c, "top level", root, "schema", 1);
    if (s && strcmp(s, SA_DATASET_SCHEMA)) bad(&c, "top level", "\"schema\" must be \"%s\"", SA_DATASET_SCHEMA);
    s = get_string(&c, "top level", root, "name", 1);
    if (s && !sa_dataset_id_valid(s)) bad(&c, "top level", "\"name\" \"%s\" is not a valid name", s);
    out->name = sa_strdup(s);
    s = get_string(&c, "top level", root, "kind", 1);
    if (s && !*s) bad(&c, "top level", "\"kind\" must not be empty");
    out->kind = sa_strdup(s);
    out->description = sa_strdup(get_string(&c, "top level", root, "description", 1));
    out->created = sa_strdup(get_string(&c, "top level", root, "created", 1));
    json_t *src = json_object_get(root, "source");
    if (!src) bad(&c, "top level", "missing \"source\"");
    else if (!json_is_object(src)) bad(&c, "top level", "\"source\" must be an object");
    else {
        static const char *const skeys[] = {"layout", "path", NULL};
        only_keys(&c, "source", src, skeys);
        s = get_string(&c, "source", src, "layout", 1);
        if (s && strcmp(s, "bids") && strcmp(s, "plain") && strcmp(s, "manifest"))
            bad(&c, "source", "\"layout\" must be \"bids\", \"plain\" or \"manifest\"");
        out->source_layout = sa_strdup(s);
        out->source_path = sa_strdup(get_string(&c, "source", src, "path", 1));
    }
    out->roles = parse_ids(&c, root, "roles", &out->n_roles);
    out->raters = parse_ids(&c, root, "raters", &out->n_raters);
    json_t *cases = json_object_get(root, "cases");
    if (!cases) bad(&c, "top level", "missing \"cases\"");
    else if (!json_is_array(cases) || json_array_size(cases) == 0)
        bad(&c, "top level", "\"cases\" must be a non-empty array");
    else {
        out->n_cases = json_array_size(cases);
        out->cases = calloc(out->n_cases, sizeof *out->cases);
        if (!out->cases) {
            out->n_cases = 0;
            c.oom = 1;
        }
        for (size_t i = 0; i < out->n_cases; i++) parse_case(&c, out, i, json_array_get(cases, i));
    }
done:
    json_decref(root);
    if (c.oom) {
        sa_dataset_free(out);
        return sa_error_set(err, "%s: out of memory", label);
    }
    if (problems->count > before) {
        sa_error_set(err, "%s", problems->msg[before]);
        sa_dataset_free(out);
        return -1;
    }
    return 0;
}

int sa_manifest_read(const char *path, sa_dataset *out, sa_problems *problems, sa_error *err) {
    memset(out, 0, sizeof *out);
    char *text = sa_read_text_file(path, err);
    if (!text) {
        sa_problems_add(problems, "%s", err ? err->msg : "cannot read the manifest");
        return -1;
    }
    int rc = sa_manifest_parse(text, path, out, problems, err);
    free(text);
    return rc;
}

/* ---- UTF-8 (JSON text is UTF-8; jansson refuses any other string) ---- */

/* The length of the valid UTF-8 character at p (1 to 4); 0 at its end or where
 * its bytes are not UTF-8 (overlong, surrogate, beyond U+10FFFF, cut short). */
static size_t utf8_char_len(const unsigned char *p) {
    unsigned c = p[0];
    if (c < 0x80) return c ? 1 : 0;
    size_t n;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0; /* a NUL ends here too */
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

size_t sa_dataset_utf8_bad_byte(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p;) {
        size_t k = utf8_char_len(p);
        if (!k) return (size_t)(p - (const unsigned char *)s) + 1;
        p += k;
    }
    return 0;
}

char *sa_utf8_lossy(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1); /* each byte at most U+FFFD's 3 */
    if (!out) return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t k = utf8_char_len(p);
        if (k) {
            memcpy(out + o, p, k);
            o += k, p += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3, p++;
        }
    }
    out[o] = 0;
    return out;
}

/* ---- writing ---- */

/* The manifest being built: the first failure (a string that is not UTF-8, out
 * of memory) is kept, so that no key is ever dropped silently (jansson's
 * json_string gives NULL for invalid UTF-8, and json_object_set_new then sets
 * nothing). */
typedef struct builder {
    char why[400]; /* "" while all is well */
} builder;

static void failed(builder *b, const char *what, const char *s) {
    if (b->why[0]) return;
    size_t bad = s ? sa_dataset_utf8_bad_byte(s) : 0;
    if (bad) snprintf(b->why, sizeof b->why, "%s is not valid UTF-8 (byte %zu)", what, bad);
    else snprintf(b->why, sizeof b->why, "out of memory (%s)", what);
}

static json_t *jstr(builder *b, const char *what, const char *s) {
    json_t *v = json_string(s ? s : "");
    if (!v) failed(b, what, s);
    return v;
}

static json_t *jint(builder *b, const char *what, json_int_t i) {
    json_t *v = json_integer(i);
    if (!v) failed(b, what, NULL);
    return v;
}

/* json_object_set_new/json_array_append_new take v (NULL too) in every case */
static void set(builder *b, json_t *o, const char *key, json_t *v) {
    if (!o || !v) {
        json_decref(v);
        failed(b, key, NULL); /* the cause, when a string, is already kept */
    } else if (json_object_set_new(o, key, v)) {
        failed(b, key, key);
    }
}

static void append(builder *b, json_t *a, const char *what, json_t *v) {
    if (!a || !v) {
        json_decref(v);
        failed(b, what, NULL);
    } else if (json_array_append_new(a, v)) {
        failed(b, what, NULL);
    }
}

static json_t *numbers(builder *b, const char *what, const double *v, size_t n, int integer) {
    json_t *a = json_array();
    if (!a) failed(b, what, NULL);
    for (size_t i = 0; a && i < n; i++) {
        json_t *x = integer ? json_integer((json_int_t)v[i]) : json_real(v[i]);
        if (!x) failed(b, what, NULL);
        append(b, a, what, x);
    }
    return a;
}

static json_t *file_json(builder *b, const char *where, const sa_dataset_file *f) {
    char what[300];
    json_t *o = json_object();
    if (!o) failed(b, where, NULL);
    snprintf(what, sizeof what, "%s path", where);
    set(b, o, "path", jstr(b, what, f->path));
    set(b, o, "sha256", jstr(b, "sha256", f->sha256));
    set(b, o, "bytes", jint(b, "bytes", (json_int_t)f->bytes));
    snprintf(what, sizeof what, "%s dicom_series_uid", where);
    if (f->dicom_series_uid) set(b, o, "dicom_series_uid", jstr(b, what, f->dicom_series_uid));
    return o;
}

static json_t *ids_json(builder *b, const char *what, char **ids, size_t n) {
    json_t *a = json_array();
    if (!a) failed(b, what, NULL);
    for (size_t i = 0; a && i < n; i++) append(b, a, what, jstr(b, what, ids[i]));
    return a;
}

static json_t *manifest_json(builder *b, const sa_dataset *ds) {
    json_t *root = json_object();
    if (!root) {
        failed(b, "manifest", NULL);
        return NULL;
    }
    set(b, root, "schema", jstr(b, "schema", SA_DATASET_SCHEMA));
    set(b, root, "name", jstr(b, "name", ds->name));
    set(b, root, "kind", jstr(b, "kind", ds->kind));
    set(b, root, "description", jstr(b, "description", ds->description ? ds->description : ""));
    set(b, root, "roles", ids_json(b, "roles", ds->roles, ds->n_roles));
    set(b, root, "raters", ids_json(b, "raters", ds->raters, ds->n_raters));
    set(b, root, "created", jstr(b, "created", ds->created ? ds->created : ""));
    json_t *src = json_object();
    if (!src) failed(b, "source", NULL);
    set(b, src, "layout", jstr(b, "source layout", ds->source_layout ? ds->source_layout : "plain"));
    set(b, src, "path", jstr(b, "source path", ds->source_path ? ds->source_path : ""));
    set(b, root, "source", src);
    json_t *cases = json_array();
    if (!cases) failed(b, "cases", NULL);
    for (size_t c = 0; cases && c < ds->n_cases && !b->why[0]; c++) {
        const sa_dataset_case *k = &ds->cases[c];
        char where[200];
        snprintf(where, sizeof where, "case %s", k->id ? k->id : "?");
        json_t *kc = json_object(), *g = json_object(), *in = json_object(), *ra = json_object();
        if (!kc || !g || !in || !ra) failed(b, where, NULL);
        double size[3] = {(double)k->size[0], (double)k->size[1], (double)k->size[2]};
        set(b, kc, "id", jstr(b, "case id", k->id));
        set(b, kc, "split", jstr(b, "split", k->split));
        set(b, g, "size", numbers(b, "size", size, 3, 1));
        set(b, g, "spacing", numbers(b, "spacing", k->spacing, 3, 0));
        set(b, g, "origin", numbers(b, "origin", k->origin, 3, 0));
        set(b, g, "direction", numbers(b, "direction", k->direction, 9, 0));
        set(b, kc, "geometry", g);
        for (size_t i = 0; i < ds->n_roles; i++) set(b, in, ds->roles[i], file_json(b, where, &k->inputs[i]));
        for (size_t i = 0; i < ds->n_raters; i++) set(b, ra, ds->raters[i], file_json(b, where, &k->raters[i]));
        set(b, kc, "inputs", in);
        set(b, kc, "raters", ra);
        append(b, cases, "cases", kc);
    }
    set(b, root, "cases", cases);
    return root;
}

int sa_manifest_write(const char *path, const sa_dataset *ds, sa_error *err) {
    builder b = {""};
    json_t *root = manifest_json(&b, ds);
    if (b.why[0]) {
        json_decref(root);
        return sa_error_set(err, "%s: %s: not written", path, b.why);
    }
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!text) return sa_error_set(err, "%s: out of memory", path);
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) {
        free(text);
        return sa_error_set(err, "%s: out of memory", path);
    }
    snprintf(tmp, n + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    int rc = -1;
    if (fd < 0) {
        sa_error_set(err, "%s: cannot create (%s)", tmp, strerror(errno));
    } else {
        FILE *f = fdopen(fd, "wb");
        if (!f) {
            close(fd);
            sa_error_set(err, "%s: cannot write (%s)", tmp, strerror(errno));
        } else {
            int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
            ok = (fflush(f) == 0) && ok && fsync(fileno(f)) == 0;
            ok = (fclose(f) == 0) && ok;
            if (!ok) sa_error_set(err, "%s: cannot write (%s)", tmp, strerror(errno));
            else if (rename(tmp, path)) sa_error_set(err, "%s: cannot rename into place (%s)", path, strerror(errno));
            else rc = 0;
        }
        if (rc) unlink(tmp);
    }
    free(tmp);
    free(text);
    return rc;
}
