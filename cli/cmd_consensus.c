/*
 * cmd_consensus.c: `segarena consensus`: the consensus of several raters' masks
 * (majority or binary STAPLE, as the spec defines them), written as a mask with
 * the raters' geometry, optionally with its probability map, and each rater's
 * estimated sensitivity and specificity printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_files.h"
#include "commands.h"
#include "json_writer.h"
#include "read_images.h"
#include "tmp_cleanup.h"

static const char help_text[] =
    "usage: segarena consensus R1 R2 [R3 ...] -o CONSENSUS [options]\n"
    "\n"
    "The consensus of K >= 2 raters' masks (same geometry), written to CONSENSUS\n"
    "(.nii.gz, .nii, .mha, .mhd, .nrrd) as a 0/1 uint8 mask with the raters' geometry.\n"
    "A rater's voxel is inside when its value is > 0 (0/1 and 0/255 masks alike), or\n"
    "== L with --label L; values must be non-negative integers (negative, fractional\n"
    "and NaN values are refused, naming the file and the voxel).\n"
    "\n"
    "options:\n"
    "  --method M          staple (default) or majority\n"
    "  --staple-region R   dilated_union (default): STAPLE runs on the union of the\n"
    "                      raters dilated by 2 voxels (6-connectivity), background\n"
    "                      elsewhere; image: on the whole image, as ITK's\n"
    "                      STAPLEImageFilter\n"
    "  --probability FILE  also write the probability map (float32): STAPLE's W, or\n"
    "                      the fraction of raters marking the voxel (majority)\n"
    "  --label L           raters' voxels == L are inside (default: value > 0)\n"
    "  --threads N         threads (default: all cores)\n"
    "  --device D          auto (default), cpu or gpu: where it is computed. auto\n"
    "                      uses a GPU when this build has CUDA, one is present, the\n"
    "                      image repays starting it (0.2-0.35 s: at least 2^26 x\n"
    "                      the square root of the threads voxels, where the CPU\n"
    "                      takes longer) and the raters are at most 16; gpu without\n"
    "                      a usable GPU is an error. Both give the same result, bit\n"
    "                      for bit; the output says which ran (docs/gpu.md).\n"
    "  --json              print the estimates as JSON; raters are keyed by file name\n"
    "                      without extension, a name given earlier taking #2, #3, ...\n"
    "                      (a/case01.nii.gz b/case01.nii.gz: case01, case01#2), as\n"
    "                      segarena score --ref names them; each entry also holds\n"
    "                      the path as given\n"
    "\n"
    "majority: a voxel is in the consensus when more than half of the K raters mark it.\n"
    "staple:   binary STAPLE (Warfield 2004): initial W = mean vote; prior = mean of\n"
    "          that W over the region, fixed; each iteration an M-step (each rater's\n"
    "          sensitivity p and specificity q) then an E-step (W); stops when every\n"
    "          |dp|, |dq| <= 1e-7 or after 100 iterations; consensus = W > 0.5.\n"
    "          (docs/consensus.md has the details.)\n"
    "\n"
    "exit status: 0 written; 2 bad usage or bad input (one line naming the file); 1\n"
    "internal error.\n";

static int usage_error(const char *fmt, const char *arg) {
    fputs("segarena consensus: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (segarena consensus --help)\n", stderr);
    return EXIT_BAD_INPUT;
}

typedef struct {
    const char *raters[SA_MAX_RATERS + 1];
    size_t n;
    const char *output, *probability;
    long label;
    int json;
    sa_consensus_options options;
    sa_device device;
} consensus_cli;

static int parse(int argc, char **argv, consensus_cli *c) {
    memset(c, 0, sizeof *c);
    sa_consensus_options_default(&c->options);
    c->label = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        int takes_value = !strcmp(a, "-o") || !strcmp(a, "--method") || !strcmp(a, "--staple-region") ||
                          !strcmp(a, "--probability") || !strcmp(a, "--label") || !strcmp(a, "--threads") ||
                          !strcmp(a, "--device");
        if (takes_value && !value) return usage_error("%s needs a value", a);
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help_text, stdout);
            exit(EXIT_OK);
        } else if (!strcmp(a, "-o")) {
            c->output = value;
        } else if (!strcmp(a, "--probability")) {
            c->probability = value;
        } else if (!strcmp(a, "--method")) {
            if (!strcmp(value, "staple")) c->options.method = SA_CONSENSUS_STAPLE;
            else if (!strcmp(value, "majority")) c->options.method = SA_CONSENSUS_MAJORITY;
            else return usage_error("--method takes staple or majority, not '%s'", value);
        } else if (!strcmp(a, "--staple-region")) {
            if (!strcmp(value, "dilated_union")) c->options.region = SA_STAPLE_DILATED_UNION;
            else if (!strcmp(value, "image")) c->options.region = SA_STAPLE_IMAGE;
            else return usage_error("--staple-region takes dilated_union or image, not '%s'", value);
        } else if (!strcmp(a, "--label")) {
            char *end;
            errno = 0;
            long l = strtol(value, &end, 10);
            if (errno || end == value || *end || l < 0) return usage_error("--label takes a non-negative integer, not '%s'", value);
            c->label = l;
        } else if (!strcmp(a, "--threads")) {
            char *end;
            long t = strtol(value, &end, 10);
            if (end == value || *end || t < 1 || t > 1024) return usage_error("--threads takes a number from 1 to 1024, not '%s'", value);
            c->options.threads = (int)t;
        } else if (!strcmp(a, "--device")) {
            if (sa_device_parse(value, &c->device))
                return usage_error("--device takes auto, cpu or gpu, not '%s'", value);
        } else if (!strcmp(a, "--json")) {
            c->json = 1;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (c->n == SA_MAX_RATERS) {
            return usage_error("at most 32 raters, not more ('%s')", a);
        } else {
            c->raters[c->n++] = a;
        }
        if (takes_value) i++;
    }
    if (c->n < 2) return usage_error("%s", "needs at least 2 rater masks");
    if (!c->output) return usage_error("%s", "needs -o CONSENSUS (the file to write)");
    sa_error bad_path; /* before any work: a name that cannot be written is bad input */
    if (sa_image_write_path_check(c->output, &bad_path) ||
        (c->probability && sa_image_write_path_check(c->probability, &bad_path)))
        return usage_error("%s", bad_path.msg);
    if (c->options.threads <= 0) c->options.threads = sa_cpu_count();
    sa_error why;
    if (c->device == SA_DEVICE_GPU && !sa_gpu_usable(&why))
        return usage_error("--device gpu: no usable GPU: %s", why.msg);
    return EXIT_OK;
}

static void print_estimates(const consensus_cli *c, const sa_consensus_result *r, uint64_t voxels) {
    int staple = c->options.method == SA_CONSENSUS_STAPLE;
    char names[SA_MAX_RATERS][RATER_NAME_SIZE];
    rater_names(c->raters, c->n, names);
    if (c->json) {
        json_writer w;
        jw_begin(&w, stdout, 1);
        jw_object_open(&w);
        jw_key(&w, "method"), jw_string(&w, staple ? "staple" : "majority");
        jw_key(&w, "output"), jw_string(&w, c->output);
        jw_key(&w, "consensus_voxels"), jw_integer(&w, (long long)voxels);
        if (staple) {
            jw_key(&w, "region"), jw_string(&w, c->options.region == SA_STAPLE_IMAGE ? "image" : "dilated_union");
            jw_key(&w, "region_voxels"), jw_integer(&w, (long long)r->region_voxels);
            jw_key(&w, "prior"), jw_number(&w, r->prior);
            jw_key(&w, "iterations"), jw_integer(&w, r->iterations);
            jw_key(&w, "converged"), jw_bool(&w, r->converged);
            jw_key(&w, "raters");
            jw_object_open(&w);
            for (size_t i = 0; i < c->n; i++) {
                jw_key(&w, names[i]);
                jw_object_open(&w);
                jw_key(&w, "path"), jw_string(&w, c->raters[i]);
                jw_key(&w, "sensitivity"), jw_number(&w, r->sensitivity[i]);
                jw_key(&w, "specificity"), jw_number(&w, r->specificity[i]);
                jw_object_close(&w);
            }
            jw_object_close(&w);
        }
        jw_key(&w, "engine");
        jw_object_open(&w);
        jw_key(&w, "device"), jw_string(&w, r->gpu_used ? "gpu" : "cpu");
        jw_key(&w, "device_requested"), jw_string(&w, sa_device_name(c->device));
        if (r->device_note) jw_key(&w, "device_note"), jw_string(&w, r->device_note);
        jw_key(&w, "threads"), jw_integer(&w, c->options.threads);
        jw_object_close(&w);
        jw_object_close(&w);
        jw_end(&w);
        return;
    }
    printf("consensus   %s: %llu voxels\n", c->output, (unsigned long long)voxels);
    /* auto's reason for the CPU where a GPU could have been used (sa_gpu_usable
     * would cost CUDA's initialisation, ~0.1 s, on a GPU host) */
    int why = r->device_note && sa_gpu_built();
    printf("engine      %s%s%s\n", r->gpu_used ? "gpu" : "cpu", why ? ": " : "", why ? r->device_note : "");
    if (!staple) {
        printf("method      majority: voxels marked by more than %zu of the %zu raters\n", c->n / 2, c->n);
        return;
    }
    printf("method      STAPLE over %s (%llu voxels), prior %.6g, %d iterations, %s\n",
           c->options.region == SA_STAPLE_IMAGE ? "the whole image" : "the raters' dilated union",
           (unsigned long long)r->region_voxels, r->prior, r->iterations,
           r->converged ? "converged" : "stopped at the iteration limit");
    printf("%-24s %-12s %-12s\n", "rater", "sensitivity", "specificity");
    for (size_t i = 0; i < c->n; i++) printf("%-24s %-12.6g %-12.6g\n", names[i], r->sensitivity[i], r->specificity[i]);
}

int cmd_consensus(int argc, char **argv) {
    /* before any thread: an interrupted run removes the private folders of
     * ITK's NIfTI reads (tmp_cleanup.h), as segarena score does */
    sa_tmp_cleanup_on_signals(NULL);
    consensus_cli c;
    int rc = parse(argc, argv, &c);
    if (rc != EXIT_OK) return rc;

    read_job jobs[SA_MAX_RATERS];
    memset(jobs, 0, sizeof jobs);
    for (size_t i = 0; i < c.n; i++) jobs[i].path = c.raters[i], jobs[i].reader = SA_READER_AUTO;
    read_images(jobs, c.n, c.options.threads);
    uint8_t *masks[SA_MAX_RATERS] = {0};
    sa_consensus_result result;
    memset(&result, 0, sizeof result);
    sa_error err;
    rc = EXIT_BAD_INPUT;
    /* every bad rater gets its own line: each that cannot be read, each whose
     * values are not a mask (value > 0, or == --label, as segarena score reads
     * it) and, when all were read, each whose geometry differs from the first's */
    int bad = 0;
    for (size_t i = 0; i < c.n; i++)
        if (jobs[i].rc) {
            fprintf(stderr, "segarena consensus: %s\n", jobs[i].err.msg);
            bad = 1;
        }
    const int all_read = !bad;
    for (size_t i = 0; i < c.n; i++) {
        if (jobs[i].rc) continue;
        if ((all_read && i > 0 && sa_image_same_geometry(&jobs[0].image, jobs[0].path, &jobs[i].image, jobs[i].path, &err)) ||
            sa_mask_from_image(&jobs[i].image, jobs[i].path, c.label, &masks[i], &err)) {
            fprintf(stderr, "segarena consensus: %s\n", err.msg);
            bad = 1;
        }
    }
    if (bad) goto done;
    sa_grid grid;
    sa_image_grid(&jobs[0].image, &grid);
    if (sa_consensus_on_device((const uint8_t *const *)masks, c.n, &grid, &c.options, c.device, &result, &err)) {
        fprintf(stderr, "segarena consensus: %s\n", err.msg);
        rc = EXIT_INTERNAL;
        goto done;
    }
    sa_image out = jobs[0].image; /* the raters' geometry */
    out.block = NULL;
    out.type = SA_PIXEL_U8;
    out.data = result.mask;
    if (sa_image_write(c.output, &out, &err)) {
        fprintf(stderr, "segarena consensus: %s\n", err.msg);
        rc = EXIT_INTERNAL;
        goto done;
    }
    if (c.probability) {
        out.type = SA_PIXEL_F32;
        out.data = result.probability;
        if (sa_image_write(c.probability, &out, &err)) {
            fprintf(stderr, "segarena consensus: %s\n", err.msg);
            rc = EXIT_INTERNAL;
            goto done;
        }
    }
    uint64_t voxels = 0;
    for (size_t i = 0, n = sa_grid_voxels(&grid); i < n; i++) voxels += result.mask[i];
    print_estimates(&c, &result, voxels);
    rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_INTERNAL;
done:
    sa_consensus_free(&result);
    for (size_t i = 0; i < c.n; i++) free(masks[i]);
    free_images(jobs, c.n);
    return rc;
}
