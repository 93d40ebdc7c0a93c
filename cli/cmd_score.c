/*
 * cmd_score.c: `segarena score`, the metric engine on files: one pair, or two
 * folders matched by case id and scored in parallel, with a per-case table and a
 * summary. Option parsing, case matching and the worker threads live here; the
 * reading and scoring of one case is score_case.c, the output score_output.c.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_files.h"
#include "commands.h"
#include "json_writer.h"
#include "progress.h"
#include "score_case.h"
#include "score_output.h"
#include "tmp_cleanup.h"

static const char help_text[] =
    "usage: segarena score REF PRED [options]\n"
    "       segarena score --ref R1 --ref R2 [--ref R3 ...] PRED [options]\n"
    "       segarena score --ref-dir DIR --pred-dir DIR [-o results.csv|results.json] [options]\n"
    "\n"
    "Scores a predicted mask (PRED) against a reference mask (REF): overlap, volume\n"
    "and surface-distance metrics of SegArena's metric definitions, version 1.\n"
    "Files: NIfTI (.nii, .nii.gz), MetaImage (.mha, .mhd), NRRD (.nrrd, .nhdr) or a\n"
    "folder holding one DICOM series.\n"
    "\n"
    "options:\n"
    "  --label L       score voxels == L (repeatable: one block per label)\n"
    "  --label all     one block for every label found in either mask (folder\n"
    "                  mode: in any case's masks; a label a case lacks in both is a\n"
    "                  both-empty block there; '>0', both empty, only when no case\n"
    "                  has any label); at most 256 labels (folder mode: over all\n"
    "                  cases): more is an error naming the file (or the case)\n"
    "                  (default: binary, a voxel is inside when its value > 0)\n"
    "  --tau MM        NSD tolerance in mm (default 1). A distance counts when d <=\n"
    "                  tau as computed in floating point: 3 voxels of 0.1 mm are\n"
    "                  0.30000000000000004 mm, above 0.3; choose tau between the\n"
    "                  grid's distance steps (0.35, not 0.3)\n"
    "  --threads N     threads (default: all cores)\n"
    "  --device D      auto (default), cpu or gpu: where the metrics are computed.\n"
    "                  auto uses a GPU when this build has CUDA, one is present and\n"
    "                  the job repays starting it (0.2-0.35 s): voxels x\n"
    "                  comparisons (1 for a pair, raters + 1 with several, twice\n"
    "                  the raters + 1 with --human-reference) at least\n"
    "                  2^26 x the square root of the threads, so a single pair\n"
    "                  stays on the CPU but for very large images on few cores\n"
    "                  (in folder mode, once a case has started it, every case of\n"
    "                  2^18 voxels or more uses it);\n"
    "                  gpu without a usable GPU is an error. Both give the same\n"
    "                  numbers, bit for bit; the output says which ran\n"
    "                  (docs/gpu.md). The GPU takes up to 15 raters (auto uses the\n"
    "                  CPU beyond).\n"
    "  --json          JSON output (the spec's shape: metrics, conventions, inputs, engine)\n"
    "  --csv           CSV output, one row per case and label (not with --json)\n"
    "  -o FILE         folder mode: also write the per-case results to FILE\n"
    "                  (.json: JSON, anything else: CSV), atomically (a temporary\n"
    "                  FILE.tmp-XXXXXX beside it, renamed over it at the end,\n"
    "                  removed when the run fails or is interrupted),\n"
    "                  through a symbolic link as '>' writes: the file the link\n"
    "                  names is replaced, the link kept (a dangling link is\n"
    "                  refused; so is FILE a device or a pipe),\n"
    "                  made before any case is scored: a FILE that cannot be\n"
    "                  written (no such folder, a folder, '') is bad input, exit 2\n"
    "  --reader R      auto (default), itk or native: how NIfTI files are read\n"
    "  --lesions       also lesion-wise detection (MSSEG 2016 rule):\n"
    "    --connectivity 6|18|26   lesions are connected components (default 6)\n"
    "    --min-lesion-volume MM3  components of volume <= this are removed (default 3)\n"
    "    --alpha A --beta B --gamma G   the detection rule's parameters (0.10, 0.70, 0.65)\n"
    "\n"
    "several raters (--ref given two or more times; each rater's mask is read as the\n"
    "one REF is: value > 0, or == L with --label, so 0/1 and 0/255 masks alike;\n"
    "a rater is named by its file name without folder and extension, a name given\n"
    "earlier taking #2, #3, ... (a/r.nii.gz b/r.nii.gz m01.nii.gz: r, r#2, m01), as\n"
    "segarena consensus names them):\n"
    "  --consensus M   staple (default) or majority\n"
    "  --staple-region R  dilated_union (default: the raters' union dilated by 2\n"
    "                  voxels) or image (the whole image, as ITK's STAPLEImageFilter)\n"
    "  --human-reference  also each rater against the consensus of the others\n"
    "  Output: scores against the consensus (the ranked ones), against each rater,\n"
    "  their mean, STAPLE's sensitivity and specificity per rater. A metric some\n"
    "  raters leave undefined is averaged over the others and says so: '3.26 (2/3)'\n"
    "  in the report, hd=mean_of_2_of_3_raters in CSV's undefined column,\n"
    "  \"hd_raters\": 2 in JSON.\n"
    "\n"
    "folder mode: files are matched by case id, the file name without its image\n"
    "extension (case01.nii.gz and case01.mha are both case01); a sub-folder is a\n"
    "DICOM series named by the folder. Cases run in parallel; a progress bar shows\n"
    "on stderr when it is a terminal. The summary gives mean, median and sample\n"
    "standard deviation (n - 1) over the cases where the metric is defined, and\n"
    "how many cases it is defined (n), undefined and failed for: n + undefined +\n"
    "failed = the cases.\n"
    "\n"
    "conventions (docs/metrics.md has the full text):\n"
    "  geometry   REF and PRED must share size, spacing (1e-4 relative), origin\n"
    "             (1e-4 mm) and direction (1e-4); nothing is resampled. The\n"
    "             metrics use REF's spacing (the first --ref's), as the output shows.\n"
    "  masks      values must be non-negative integers; other values are refused.\n"
    "  overlap    dice 2TP/(2TP+FP+FN), jaccard TP/(TP+FP+FN), sensitivity\n"
    "             TP/(TP+FN), specificity TN/(TN+FP), ppv TP/(TP+FP), volumes in mL,\n"
    "             abs_volume_diff_ml |Vp - Vr|, rve_percent (Vp - Vr)/Vr x 100,\n"
    "             pet_accuracy (sensitivity + ppv)/2.\n"
    "  surface    voxels of the mask with at least one of their 6 face neighbours\n"
    "             outside it; outside the image counts as outside the mask.\n"
    "  distance   exact Euclidean distance in mm between voxel centres, using the\n"
    "             per-axis spacing (exact separable distance transform).\n"
    "  directed   D_pr: each prediction surface voxel to the reference surface;\n"
    "             D_rp: each reference surface voxel to the prediction surface.\n"
    "  hd         max(max D_pr, max D_rp)\n"
    "  hd95       max(P95(D_pr), P95(D_rp)); hd95_pooled: P95 of both sets\n"
    "             together; hd95_mean: mean of the two P95s.\n"
    "  percentile linear interpolation between order statistics (numpy's default):\n"
    "             position (n-1)q/100 in the sorted values.\n"
    "  assd       (sum D_pr + sum D_rp)/(|D_pr| + |D_rp|); masd: mean of the two means\n"
    "  nsd        share of both surfaces' voxels within tau mm of the other surface\n"
    "             (distance <= tau counts, in floating point: see --tau).\n"
    "  lesions    reference lesion R_i detected when the test lesions overlap more\n"
    "             than alpha of it and, taken by decreasing overlap until gamma of\n"
    "             that overlap, each lies at most beta outside every reference lesion;\n"
    "             lesion_sensitivity = detected/#R, lesion_ppv = the rule swapped/#T,\n"
    "             lesion_f1 their harmonic mean (docs/lesions.md).\n"
    "  consensus  majority: marked by more than half of the raters. staple: binary\n"
    "             STAPLE, prior = mean initial vote over the region, stops when every\n"
    "             sensitivity and specificity moves by <= 1e-7 (or 100 iterations),\n"
    "             consensus = W > 0.5 (docs/consensus.md).\n"
    "  empty      both masks empty: dice, jaccard, nsd = 1, distances = 0, flagged\n"
    "             both_empty. One empty: dice, jaccard, nsd = 0, distances undefined\n"
    "             (empty_reference or empty_prediction). A ratio with a zero\n"
    "             denominator is undefined with a reason. Undefined values print as\n"
    "             n/a (reason); in JSON they are null with \"<name>_reason\".\n"
    "\n"
    "interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT): the temporary files of the run\n"
    "(-o's, the private segarena-itk-XXXXXX folders of ITK's NIfTI reads in $TMPDIR)\n"
    "are removed, then it dies of the signal (docs/image-io.md).\n"
    "\n"
    "exit status: 0 all scored; 2 bad usage or bad input (one line per problem on\n"
    "stderr naming the file); 1 internal error.\n";

typedef struct score_cli {
    score_settings settings;
    const char *ref, *pred, *ref_dir, *pred_dir, *output;
    enum { FORMAT_REPORT, FORMAT_JSON, FORMAT_CSV } format;
    const char *refs[SA_MAX_RATERS + 1];
    size_t n_refs;
} score_cli;

static int usage_error(const char *fmt, const char *arg) {
    fputs("segarena score: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (segarena score --help)\n", stderr);
    return EXIT_BAD_INPUT;
}

static int parse_long(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, score_cli *c) {
    memset(c, 0, sizeof *c);
    sa_multi_options_default(&c->settings.options);
    c->settings.reader = SA_READER_AUTO;
    sa_multi_options *o = &c->settings.options;
    const char *positional[2];
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        static const char *const with_value[] = {"--label", "--tau", "--threads", "--device", "-o", "--ref-dir",
                                                 "--pred-dir", "--reader", "--ref", "--consensus",
                                                 "--staple-region", "--connectivity", "--min-lesion-volume",
                                                 "--alpha", "--beta", "--gamma"};
        int takes_value = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) takes_value |= !strcmp(a, with_value[k]);
        if (takes_value && !value) return usage_error("%s needs a value", a);
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help_text, stdout);
            exit(EXIT_OK);
        } else if (!strcmp(a, "--label")) {
            long l;
            if (!strcmp(value, "all")) {
                c->settings.all_labels = 1;
            } else if (parse_long(value, &l) || l < 0) {
                return usage_error("--label takes a non-negative integer or 'all', not '%s'", value);
            } else {
                int seen = 0;
                for (size_t k = 0; k < c->settings.n_labels; k++) seen |= c->settings.labels[k] == l;
                if (!seen && c->settings.n_labels == SCORE_MAX_LABELS)
                    return usage_error("at most 256 labels, not more ('%s')", value);
                if (!seen) c->settings.labels[c->settings.n_labels++] = l;
            }
        } else if (!strcmp(a, "--tau")) {
            if (parse_double(value, 0, 1e6, &o->score.tau_mm)) return usage_error("--tau takes a distance in mm >= 0, not '%s'", value);
        } else if (!strcmp(a, "--threads")) {
            long t;
            if (parse_long(value, &t) || t < 1 || t > 1024) return usage_error("--threads takes a number from 1 to 1024, not '%s'", value);
            o->score.threads = o->consensus.threads = (int)t;
        } else if (!strcmp(a, "--device")) {
            if (sa_device_parse(value, &o->score.device))
                return usage_error("--device takes auto, cpu or gpu, not '%s'", value);
        } else if (!strcmp(a, "--ref")) {
            if (c->n_refs == SA_MAX_RATERS) return usage_error("at most 32 raters (--ref), not more ('%s')", value);
            c->refs[c->n_refs++] = value;
        } else if (!strcmp(a, "--consensus")) {
            if (!strcmp(value, "staple")) o->consensus.method = SA_CONSENSUS_STAPLE;
            else if (!strcmp(value, "majority")) o->consensus.method = SA_CONSENSUS_MAJORITY;
            else return usage_error("--consensus takes staple or majority, not '%s'", value);
        } else if (!strcmp(a, "--staple-region")) {
            if (!strcmp(value, "dilated_union")) o->consensus.region = SA_STAPLE_DILATED_UNION;
            else if (!strcmp(value, "image")) o->consensus.region = SA_STAPLE_IMAGE;
            else return usage_error("--staple-region takes dilated_union or image, not '%s'", value);
        } else if (!strcmp(a, "--human-reference")) {
            o->human_reference = 1;
        } else if (!strcmp(a, "--lesions")) {
            o->lesions = 1;
        } else if (!strcmp(a, "--connectivity")) {
            long v;
            if (parse_long(value, &v) || (v != 6 && v != 18 && v != 26)) return usage_error("--connectivity takes 6, 18 or 26, not '%s'", value);
            o->lesion.connectivity = (int)v;
        } else if (!strcmp(a, "--min-lesion-volume")) {
            if (parse_double(value, 0, 1e12, &o->lesion.min_volume_mm3)) return usage_error("--min-lesion-volume takes a volume in mm^3 >= 0, not '%s'", value);
        } else if (!strcmp(a, "--alpha") || !strcmp(a, "--beta") || !strcmp(a, "--gamma")) {
            double *target = a[2] == 'a' ? &o->lesion.alpha : a[2] == 'b' ? &o->lesion.beta : &o->lesion.gamma;
            if (parse_double(value, 0, 1, target)) return usage_error("%s takes a fraction from 0 to 1", a);
        } else if (!strcmp(a, "--reader")) {
            if (!strcmp(value, "auto")) c->settings.reader = SA_READER_AUTO;
            else if (!strcmp(value, "itk")) c->settings.reader = SA_READER_ITK;
            else if (!strcmp(value, "native")) c->settings.reader = SA_READER_NATIVE;
            else return usage_error("--reader takes auto, itk or native, not '%s'", value);
        } else if (!strcmp(a, "-o")) {
            c->output = value;
        } else if (!strcmp(a, "--ref-dir")) {
            c->ref_dir = value;
        } else if (!strcmp(a, "--pred-dir")) {
            c->pred_dir = value;
        } else if (!strcmp(a, "--json") || !strcmp(a, "--csv")) {
            int want = !strcmp(a, "--json") ? FORMAT_JSON : FORMAT_CSV;
            if (c->format != FORMAT_REPORT && (int)c->format != want)
                return usage_error("%s", "--csv and --json exclude each other");
            c->format = want;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (n_pos < 2) {
            positional[n_pos++] = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
        if (takes_value) i++;
    }
    if (c->settings.all_labels && c->settings.n_labels)
        return usage_error("%s", "--label all cannot be combined with single labels");
    if (c->ref_dir || c->pred_dir) {
        if (!c->ref_dir || !c->pred_dir) return usage_error("%s", "folder mode needs both --ref-dir and --pred-dir");
        if (n_pos) return usage_error("folder mode takes no REF PRED files ('%s')", positional[0]);
        if (c->n_refs) return usage_error("%s", "--ref cannot be combined with folder mode");
    } else if (c->n_refs) {
        if (n_pos != 1) return usage_error("%s", "with --ref, give the prediction PRED alone");
        c->pred = positional[0];
        if (c->n_refs == 1) {
            c->ref = c->refs[0];
        } else {
            c->settings.n_raters = c->n_refs;
            for (size_t i = 0; i < c->n_refs; i++) c->settings.rater_paths[i] = c->refs[i];
            rater_names(c->settings.rater_paths, c->n_refs, c->settings.rater_ids);
        }
    } else {
        if (n_pos != 2) return usage_error("%s", "needs REF and PRED (or --ref-dir and --pred-dir)");
        c->ref = positional[0];
        c->pred = positional[1];
    }
    if (c->output && !c->ref_dir) return usage_error("%s", "-o is for folder mode; redirect the output instead");
    if (o->human_reference && c->settings.n_raters < 2)
        return usage_error("%s", "--human-reference needs two raters or more (--ref R1 --ref R2 ...)");
    if (o->score.threads <= 0) o->score.threads = o->consensus.threads = sa_cpu_count();
    sa_error why;
    if (o->score.device == SA_DEVICE_GPU && !sa_gpu_usable(&why))
        return usage_error("--device gpu: no usable GPU: %s", why.msg);
    return EXIT_OK;
}

/* A failed case's problems, one stderr line each ("segarena score: <file>: <problem>"). */
static void print_problems(const char *error) {
    for (const char *line = error; *line;) {
        size_t n = strcspn(line, "\n");
        fprintf(stderr, "segarena score: %.*s\n", (int)n, line);
        line += n;
        if (*line) line++;
    }
}

static int score_one_pair(const score_cli *c) {
    case_result *r = calloc(1, sizeof *r);
    if (!r) {
        fputs("segarena score: out of memory\n", stderr);
        return EXIT_INTERNAL;
    }
    if (c->ref) snprintf(r->ref_path, sizeof r->ref_path, "%s", c->ref);
    snprintf(r->pred_path, sizeof r->pred_path, "%s", c->pred);
    score_case(&c->settings, c->settings.options.score.threads, r);
    int status = EXIT_OK;
    if (r->failed) {
        print_problems(r->error);
        status = EXIT_BAD_INPUT;
    } else if (c->format == FORMAT_JSON) {
        json_writer w;
        jw_begin(&w, stdout, 1);
        write_case_json(&w, &c->settings, r, 1);
        jw_end(&w);
    } else if (c->format == FORMAT_CSV) {
        write_csv_header(stdout);
        write_csv_rows(stdout, &c->settings, r);
    } else {
        print_case_report(stdout, &c->settings, r);
    }
    case_result_clear(r);
    free(r);
    if (status == EXIT_OK && fflush(stdout) != 0) {
        fprintf(stderr, "segarena score: cannot write the output: %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    return status;
}

/* ---- folder mode ---- */

typedef struct folder_run {
    const score_cli *cli;
    case_result *cases;
    size_t n_cases;
    int inner_threads;
    atomic_size_t next, done;
    pthread_mutex_t lock;
    progress bar;
} folder_run;

static void *folder_worker(void *p) {
    folder_run *run = p;
    for (;;) {
        size_t i = atomic_fetch_add(&run->next, 1);
        if (i >= run->n_cases) break;
        case_result *r = &run->cases[i];
        if (!r->failed) score_case(&run->cli->settings, run->inner_threads, r);
        size_t done = atomic_fetch_add(&run->done, 1) + 1;
        pthread_mutex_lock(&run->lock);
        progress_update(&run->bar, done, r->case_id);
        pthread_mutex_unlock(&run->lock);
    }
    return NULL;
}

/* 1 when path is this run's own temporary -o file (own_tmp, "" without -o),
 * which -o inside a scored folder puts there: not worth a warning. */
static int is_own_results_file(const char *path, const char *own_tmp) {
    struct stat a, b;
    return own_tmp[0] && stat(path, &a) == 0 && stat(own_tmp, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Pairs the two folders' files by case id; problems become failed cases. */
static int match_cases(const score_cli *c, const char *own_tmp, case_result **cases_out,
                       size_t *n_out) {
    case_file *refs, *preds;
    size_t nr, np;
    char err[600];
    if (list_case_files(c->ref_dir, &refs, &nr, err, sizeof err)) {
        fprintf(stderr, "segarena score: %s\n", err);
        return -1;
    }
    if (list_case_files(c->pred_dir, &preds, &np, err, sizeof err)) {
        fprintf(stderr, "segarena score: %s\n", err);
        free(refs);
        return -1;
    }
    case_result *cases = calloc(nr + 1, sizeof *cases);
    if (!cases) {
        free(refs), free(preds);
        fputs("segarena score: out of memory\n", stderr);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < nr; i++) {
        const case_file *rf = &refs[i];
        if (rf->not_image) {
            if (!is_own_results_file(rf->path, own_tmp))
                fprintf(stderr, "segarena score: %s: ignored, not an image file name\n", rf->path);
            continue;
        }
        if (i > 0 && rf->duplicate && !strcmp(rf->id, refs[i - 1].id)) continue;
        case_result *r = &cases[n++];
        snprintf(r->case_id, sizeof r->case_id, "%s", rf->id);
        snprintf(r->ref_path, sizeof r->ref_path, "%s", rf->path);
        const case_file *pf = NULL;
        for (size_t j = 0; j < np; j++)
            if (!preds[j].not_image && !strcmp(preds[j].id, rf->id)) {
                pf = &preds[j];
                break;
            }
        if (rf->duplicate) {
            r->failed = 1;
            snprintf(r->error, sizeof r->error, "%s: several reference files for case %s", c->ref_dir, rf->id);
        } else if (!pf) {
            r->failed = 1;
            snprintf(r->error, sizeof r->error, "%s: no prediction for case %s", c->pred_dir, rf->id);
        } else if (pf->duplicate) {
            r->failed = 1;
            snprintf(r->error, sizeof r->error, "%s: several prediction files for case %s", c->pred_dir, rf->id);
        } else {
            snprintf(r->pred_path, sizeof r->pred_path, "%s", pf->path);
        }
    }
    for (size_t j = 0; j < np; j++) {
        if (preds[j].not_image) {
            if (!is_own_results_file(preds[j].path, own_tmp))
                fprintf(stderr, "segarena score: %s: ignored, not an image file name\n", preds[j].path);
            continue;
        }
        int has_ref = 0;
        for (size_t i = 0; i < nr; i++) has_ref |= !refs[i].not_image && !strcmp(refs[i].id, preds[j].id);
        if (!has_ref) fprintf(stderr, "segarena score: %s: ignored, no reference for case %s\n", preds[j].path, preds[j].id);
    }
    free(refs), free(preds);
    *cases_out = cases;
    *n_out = n;
    return 0;
}

/* Folder results as JSON: conventions, one object per case, the summary. */
static void write_folder_json(FILE *out, const score_cli *c, const case_result *cases, size_t n) {
    json_writer w;
    jw_begin(&w, out, 1);
    jw_object_open(&w);
    write_conventions_json(&w, &c->settings);
    jw_key(&w, "cases");
    jw_array_open(&w);
    w.inline_from = 0; /* cases are objects: laid out over lines, not inline */
    for (size_t i = 0; i < n; i++) write_case_json(&w, &c->settings, &cases[i], 0);
    jw_array_close(&w);
    write_summary_json(&w, cases, n);
    jw_object_close(&w);
    jw_end(&w);
}

/* The -o file of folder mode, written atomically: a temporary file made
 * beside it before any case is scored (a path that cannot be written is then
 * bad input, said at once, not an internal error after all the work), renamed
 * over it once the results are in. */
typedef struct results_file {
    char tmp[PATH_MAX + 32];
    char dest[PATH_MAX]; /* -o's path, or the file its symbolic link names */
    FILE *f;
} results_file;

/* 0, or -1 with one line naming the path printed (exit status 2). */
static int results_file_open(const char *path, results_file *out) {
    out->f = NULL;
    out->tmp[0] = '\0';
    if (!*path) {
        fputs("segarena score: -o '': no file name given\n", stderr);
        return -1;
    }
    size_t len = strlen(path);
    struct stat st;
    if (path[len - 1] == '/') {
        fprintf(stderr, "segarena score: %s: names a folder; -o takes a file name\n", path);
        return -1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "segarena score: %s: is a folder; -o takes a file name\n", path);
        return -1;
    }
    if (len + 16 > sizeof out->tmp || len >= sizeof out->dest) {
        fprintf(stderr, "segarena score: %s: path too long\n", path);
        return -1;
    }
    /* -o through a symbolic link writes the file the link names, as '>' does:
     * the temporary file is made beside that file and renamed over it (renamed
     * over the link, it replaced the link). A dangling link is refused: the
     * file it names may be a mistake (as GNU cp refuses to write through one). */
    snprintf(out->dest, sizeof out->dest, "%s", path);
    int is_link = lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* the rename would replace it */
        fprintf(stderr, "segarena score: %s: is not a regular file (a device, a pipe, ...); -o writes a file\n",
                path);
        return -1;
    }
    if (is_link) {
        char to[PATH_MAX];
        ssize_t n = readlink(path, to, sizeof to - 1);
        to[n > 0 ? n : 0] = '\0';
        if (stat(path, &st) != 0 || !realpath(path, out->dest)) {
            int e = errno;
            if (e == ENOENT)
                fprintf(stderr, "segarena score: %s: is a dangling symbolic link (to %s); -o writes through "
                        "a link only to an existing file\n", path, to);
            else
                fprintf(stderr, "segarena score: %s: cannot follow the symbolic link (to %s): %s\n", path, to,
                        strerror(e));
            return -1;
        }
        if (strlen(out->dest) + 16 > sizeof out->tmp) {
            fprintf(stderr, "segarena score: %s: path too long\n", out->dest);
            return -1;
        }
    }
    path = out->dest; /* the temporary file goes beside the file written */
    snprintf(out->tmp, sizeof out->tmp, "%s.tmp-XXXXXX", path);
    /* noted for removal on a signal as it is made (cmd_score) */
    int fd = sa_tmp_mkstemp(out->tmp);
    if (fd < 0) {
        int e = errno;
        const char *slash = strrchr(path, '/');
        char folder[PATH_MAX];
        snprintf(folder, sizeof folder, "%.*s", slash ? (slash == path ? 1 : (int)(slash - path)) : 1,
                 slash ? path : ".");
        if (stat(folder, &st) != 0)
            fprintf(stderr, "segarena score: %s: cannot write: its folder %s does not exist\n", path, folder);
        else if (!S_ISDIR(st.st_mode))
            fprintf(stderr, "segarena score: %s: cannot write: %s is not a folder\n", path, folder);
        else
            fprintf(stderr, "segarena score: %s: cannot write in %s: %s\n", path, folder, strerror(e));
        out->tmp[0] = '\0';
        return -1;
    }
    /* mkstemp makes it 0600; the results get the mode a new file gets (no
     * thread runs yet, so reading the umask by setting it is safe here) */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0 || !(out->f = fdopen(fd, "w"))) {
        fprintf(stderr, "segarena score: %s: cannot write: %s\n", path, strerror(errno));
        close(fd);
        unlink(out->tmp);
        sa_tmp_forget(out->tmp);
        out->tmp[0] = '\0';
        return -1;
    }
    return 0;
}

/* Removes the temporary file (every way out that does not commit it). */
static void results_file_discard(results_file *r) {
    if (r->f) fclose(r->f);
    if (r->tmp[0]) {
        unlink(r->tmp);
        sa_tmp_forget(r->tmp); /* after the unlink: a signal before it still removes it */
    }
    r->f = NULL;
    r->tmp[0] = '\0';
}

static int write_results_file(const score_cli *c, results_file *r, const case_result *cases, size_t n) {
    size_t len = strlen(c->output);
    int as_json = len >= 5 && !strcmp(c->output + len - 5, ".json");
    if (as_json) {
        write_folder_json(r->f, c, cases, n);
    } else {
        write_csv_header(r->f);
        for (size_t i = 0; i < n; i++) write_csv_rows(r->f, &c->settings, &cases[i]);
    }
    int bad = ferror(r->f);
    bad |= fclose(r->f) != 0;
    r->f = NULL;
    if (bad || rename(r->tmp, r->dest) != 0) {
        fprintf(stderr, "segarena score: %s: cannot write: %s\n", c->output, strerror(errno));
        results_file_discard(r);
        return -1;
    }
    /* after the rename: a signal in between unlinks a name that is gone */
    sa_tmp_forget(r->tmp);
    r->tmp[0] = '\0';
    return 0;
}

/* With --label all, every case reports every label found in any case: a label
 * absent from both masks of a case is a both-empty block there (dice 1), not a
 * silent gap in the summary. A case with no label at all (score_case gives it
 * the one both-empty "> 0" block, label -1) then has just those blocks: the
 * placeholder is no label and never spreads to other cases. When no case has a
 * label, every case keeps its placeholder. More than SCORE_MAX_LABELS labels
 * over the cases is an error naming the case that brought the union over
 * (printed here; returns -1): a case holds at most that many blocks, and a
 * label left out would be a silent gap. */
static int complete_labels(const score_cli *c, case_result *cases, size_t n) {
    long all[SCORE_MAX_LABELS];
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < cases[i].n_blocks; b++) {
            if (cases[i].block_label[b] < 0) continue; /* the no-label placeholder */
            size_t k = 0;
            while (k < count && all[k] != cases[i].block_label[b]) k++;
            if (k < count) continue;
            if (count == SCORE_MAX_LABELS) {
                fprintf(stderr,
                        "segarena score: case %s (%s, %s): more than %d labels over the cases' masks together "
                        "(--label all scores at most %d; label %ld is one more): choose some with --label\n",
                        cases[i].case_id, cases[i].ref_path, cases[i].pred_path, SCORE_MAX_LABELS,
                        SCORE_MAX_LABELS, cases[i].block_label[b]);
                return -1;
            }
            all[count++] = cases[i].block_label[b];
        }
    if (count == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        case_result *r = &cases[i];
        if (r->failed) continue;
        if (r->n_blocks == 1 && r->block_label[0] < 0) r->n_blocks = 0; /* folder mode: one reference, no multi */
        sa_grid grid = {r->geometry.size[0], r->geometry.size[1], r->geometry.size[2],
                        {r->geometry.spacing[0], r->geometry.spacing[1], r->geometry.spacing[2]}};
        for (size_t k = 0; k < count; k++) {
            size_t b = 0;
            while (b < r->n_blocks && r->block_label[b] != all[k]) b++;
            if (b < r->n_blocks || r->n_blocks == SCORE_MAX_LABELS) continue;
            sa_scores *sc = &r->scores[r->n_blocks];
            memset(sc, 0, sizeof *sc);
            sa_error err;
            if (sa_score_both_empty(&grid, &c->settings.options.score, &sc->pair, &err)) continue;
            if (c->settings.options.lesions) { /* no lesions on either side */
                sc->has_lesions = 1;
                sc->lesions.lesion_f1 = (sa_value){1.0, NULL};
                sc->lesions.lesion_sensitivity = (sa_value){0.0, SA_REASON_NO_REFERENCE_LESIONS};
                sc->lesions.lesion_ppv = (sa_value){0.0, SA_REASON_NO_PREDICTED_LESIONS};
            }
            r->block_label[r->n_blocks++] = all[k];
        }
        /* keep the blocks in label order */
        for (size_t a = 1; a < r->n_blocks; a++)
            for (size_t b = a; b > 0 && r->block_label[b - 1] > r->block_label[b]; b--) {
                long l = r->block_label[b];
                r->block_label[b] = r->block_label[b - 1], r->block_label[b - 1] = l;
                sa_scores t = r->scores[b];
                r->scores[b] = r->scores[b - 1], r->scores[b - 1] = t;
            }
    }
    return 0;
}

static int score_folders_into(const score_cli *c, results_file *results) {
    case_result *cases;
    size_t n;
    if (match_cases(c, results ? results->tmp : "", &cases, &n)) return EXIT_BAD_INPUT;
    if (n == 0) {
        fprintf(stderr, "segarena score: %s: no reference image found\n", c->ref_dir);
        free(cases);
        return EXIT_BAD_INPUT;
    }
    folder_run run;
    run.cli = c;
    run.cases = cases;
    run.n_cases = n;
    int threads = c->settings.options.score.threads;
    int workers = threads < (int)n ? threads : (int)n;
    run.inner_threads = threads / workers > 1 ? threads / workers : 1;
    atomic_init(&run.next, 0);
    atomic_init(&run.done, 0);
    pthread_mutex_init(&run.lock, NULL);
    progress_start(&run.bar, n);
    pthread_t *tids = malloc(sizeof(pthread_t) * (size_t)workers);
    int started = 0;
    for (int w = 1; tids && w < workers; w++) {
        if (pthread_create(&tids[w], NULL, folder_worker, &run) != 0) break;
        started = w;
    }
    folder_worker(&run);
    for (int w = 1; w <= started; w++) pthread_join(tids[w], NULL);
    free(tids);
    progress_finish(&run.bar);
    pthread_mutex_destroy(&run.lock);
    int too_many_labels = c->settings.all_labels && complete_labels(c, cases, n);

    size_t failed = 0;
    for (size_t i = 0; i < n; i++)
        if (cases[i].failed) {
            failed++;
            print_problems(cases[i].error);
        }
    if (too_many_labels) { /* no results: some case would lack some labels */
        free(cases);
        return EXIT_BAD_INPUT;
    }
    int status = failed ? EXIT_BAD_INPUT : EXIT_OK;
    /* the -o file first, renamed into place: a reader of stdout that closes
     * early (`| head`) kills this process with SIGPIPE while it prints */
    if (results && write_results_file(c, results, cases, n)) status = EXIT_INTERNAL;
    if (c->format == FORMAT_JSON) {
        write_folder_json(stdout, c, cases, n);
    } else if (c->format == FORMAT_CSV) {
        write_csv_header(stdout);
        for (size_t i = 0; i < n; i++) write_csv_rows(stdout, &c->settings, &cases[i]);
    } else {
        print_cases_table(stdout, cases, n);
        print_summary_table(stdout, cases, n);
        fprintf(stdout, "\n%zu cases, %zu scored, %zu failed\n", n, n - failed, failed);
    }
    free(cases);
    if (fflush(stdout) != 0) return EXIT_INTERNAL;
    return status;
}

static int score_folders(const score_cli *c) {
    results_file results = {{0}, {0}, NULL};
    if (c->output && results_file_open(c->output, &results)) return EXIT_BAD_INPUT;
    int status = score_folders_into(c, c->output ? &results : NULL);
    results_file_discard(&results); /* a no-op once renamed into place */
    return status;
}

int cmd_score(int argc, char **argv) {
    /* before any thread (the GPU check of the options may start CUDA's): an
     * interrupted run (Ctrl-C, a kill) removes the -o file's temporary file and
     * the private folders of ITK's NIfTI reads, then dies of the signal as it
     * would have. Without it (no thread could be started) a run still scores;
     * only an interruption may leave them. */
    sa_tmp_cleanup_on_signals(NULL);
    score_cli c;
    int rc = parse_args(argc, argv, &c);
    if (rc != EXIT_OK) return rc;
    return c.ref_dir ? score_folders(&c) : score_one_pair(&c);
}
