/*
 * cmd_make_demo.c: `segarena dataset make-demo`: writes a synthetic MS or PET
 * test set (phantoms with simulated raters and the true masks) in the BIDS
 * layout, deterministically from a seed (datasets/phantom_*.c, docs/phantoms.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "datasets.h"

static const char help_text[] =
    "usage: segarena dataset make-demo --kind ms|pet --out DIR [options]\n"
    "\n"
    "Writes a synthetic test set into DIR (BIDS layout: sub-<id>/anat|pet images,\n"
    "derivatives/raterK/ masks, derivatives/truth/ true masks), the same bytes for\n"
    "the same options on every machine. DIR must not exist or be an empty folder;\n"
    "the set is written into a temporary sibling folder and renamed into place.\n"
    "DIR is checked before anything is generated: a file, a symbolic link (dangling\n"
    "or not: give the folder itself), a folder that is not empty, a folder above it\n"
    "that is a file or cannot be made or written in are refused at once, one line,\n"
    "exit status 2.\n"
    "\n"
    "  ms:  brain MR phantoms (FLAIR, T1w, T2w, PDw, ce-gadolinium T1w; int16),\n"
    "       5-60 lesions per case, 7 simulated raters (rater7 conservative)\n"
    "  pet: body FDG-PET phantoms (float32 SUV), 1-3 tumours, 3 simulated raters\n"
    "\n"
    "options:\n"
    "  -o DIR             the same as --out DIR\n"
    "  --cases N          number of cases, 1 to 99 (default 8)\n"
    "  --seed S           seed, a non-negative integer (default 1)\n"
    "  --size WxHxD       MS grid in 1 mm voxels, 32 to 512 each (default 181x217x181)\n"
    "  --tbr LO,HI        PET tumour-to-background ratio range (default 3,10)\n"
    "  --anisotropic      PET voxels 4x4x2 mm instead of 4x4x4 mm\n"
    "  --ct               PET: also a CT (int16 HU) per case\n"
    "  --threads N        cases generated in parallel (default: all cores); the output\n"
    "                     does not depend on it\n"
    "\n"
    "exit status: 0 written; 2 bad usage or a DIR that cannot be used (above); 1\n"
    "internal error (a full disk or I/O error, out of memory).\n";

static int usage_error(const char *fmt, const char *arg) {
    fputs("segarena dataset make-demo: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (segarena dataset make-demo --help)\n", stderr);
    return EXIT_BAD_INPUT;
}

static int parse_u64(const char *s, unsigned long long *v) {
    char *end;
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno || *end ? -1 : 0;
}

static int parse_size(const char *s, size_t out[3]) {
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*p < '0' || *p > '9') return -1;
        errno = 0;
        unsigned long v = strtoul(p, &end, 10);
        if (errno || v < 32 || v > 512) return -1;
        out[i] = v;
        if (i < 2 && *end != 'x' && *end != 'X') return -1;
        if (i == 2 && *end) return -1;
        p = end + 1;
    }
    return 0;
}

static int parse_tbr(const char *s, double *lo, double *hi) {
    char *end;
    errno = 0;
    *lo = strtod(s, &end);
    if (errno || end == s || *end != ',') return -1;
    const char *q = end + 1;
    *hi = strtod(q, &end);
    if (errno || end == q || *end) return -1;
    return *lo >= 1.5 && *hi >= *lo && *hi <= 50 ? 0 : -1;
}

int cmd_dataset_make_demo(int argc, char **argv) {
    const char *kind = NULL, *out = NULL;
    sa_phantom_options opt;
    sa_phantom_options_default(&opt, SA_PHANTOM_MS);
    int cases = 8, threads = 0, anisotropic = 0, ct = 0, have_size = 0, have_tbr = 0;
    unsigned long long seed = 1;
    size_t size[3] = {181, 217, 181};
    double tbr_lo = 3, tbr_hi = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = !strcmp(a, "--kind") || !strcmp(a, "--cases") || !strcmp(a, "--seed") ||
                          !strcmp(a, "--out") || !strcmp(a, "-o") || !strcmp(a, "--size") ||
                          !strcmp(a, "--tbr") || !strcmp(a, "--threads");
        if (takes_value && !value) return usage_error("%s needs a value", a);
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help_text, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--kind")) {
            if (strcmp(value, "ms") && strcmp(value, "pet"))
                return usage_error("--kind takes ms or pet, not '%s'", value);
            kind = value;
        } else if (!strcmp(a, "--cases")) {
            unsigned long long v;
            if (parse_u64(value, &v) || v < 1 || v > 99)
                return usage_error("--cases takes a number from 1 to 99, not '%s'", value);
            cases = (int)v;
        } else if (!strcmp(a, "--seed")) {
            if (parse_u64(value, &seed)) return usage_error("--seed takes a non-negative integer, not '%s'", value);
        } else if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            out = value;
        } else if (!strcmp(a, "--size")) {
            if (parse_size(value, size))
                return usage_error("--size takes WxHxD with each from 32 to 512, not '%s'", value);
            have_size = 1;
        } else if (!strcmp(a, "--tbr")) {
            if (parse_tbr(value, &tbr_lo, &tbr_hi))
                return usage_error("--tbr takes LO,HI with 1.5 <= LO <= HI <= 50, not '%s'", value);
            have_tbr = 1;
        } else if (!strcmp(a, "--threads")) {
            unsigned long long v;
            if (parse_u64(value, &v) || v < 1 || v > 1024)
                return usage_error("--threads takes a number from 1 to 1024, not '%s'", value);
            threads = (int)v;
        } else if (!strcmp(a, "--anisotropic")) {
            anisotropic = 1;
        } else if (!strcmp(a, "--ct")) {
            ct = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
        if (takes_value) i++;
    }
    if (!kind) return usage_error("%s", "needs --kind ms or --kind pet");
    if (!out) return usage_error("%s", "needs --out DIR (the folder to create)");
    if (!*out) return usage_error("%s", "--out takes a folder name, not ''");
    int pet = !strcmp(kind, "pet");
    if (pet && have_size) return usage_error("%s", "--size applies to --kind ms only");
    if (!pet && (have_tbr || anisotropic || ct))
        return usage_error("%s", "--tbr, --anisotropic and --ct apply to --kind pet only");
    sa_phantom_options_default(&opt, pet ? SA_PHANTOM_PET : SA_PHANTOM_MS);
    opt.cases = cases;
    opt.seed = seed;
    memcpy(opt.size, size, sizeof size);
    opt.tbr_lo = tbr_lo;
    opt.tbr_hi = tbr_hi;
    opt.anisotropic = anisotropic;
    opt.ct = ct;
    opt.threads = threads;
    sa_error err = {{0}};
    int rc = sa_phantom_write_dataset(out, &opt, &err);
    if (rc != 0) {
        fprintf(stderr, "segarena dataset make-demo: %s\n", err.msg);
        /* DIR unusable, found before any case was made: bad usage */
        return rc == SA_PHANTOM_BAD_OUT ? EXIT_BAD_INPUT : EXIT_INTERNAL;
    }
    printf("wrote %d %s case%s to %s (seed %llu)\n", cases, pet ? "PET" : "MS", cases == 1 ? "" : "s",
           out, seed);
    return EXIT_OK;
}
