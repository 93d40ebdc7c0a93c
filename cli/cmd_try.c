/*
 * cmd_try.c: `segarena try IMAGE.tar --inputs DIR`: what the platform would do
 * with an upload, on the challenger's own machine: the same intake checks, the
 * image loaded under a SegArena name, one case run with the platform's sandbox
 * flags and limits, the outcome classified and printed as the platform would
 * record it. The loaded image is removed afterwards; what killed tries of this
 * user left in the engine (their names' lock files held by no process) is
 * removed first (try_names.c).
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "case_files.h"
#include "commands.h"
#include "evaluator.h"
#include "submissions.h"

static const char help_text[] =
    "usage: segarena try IMAGE.tar --inputs DIR [options]\n"
    "\n"
    "Checks an image archive as SegArena's intake does (docker save or OCI archive,\n"
    ".tar, .tar.gz or .tar.xz; one linux/amd64 image, a non-root USER, an entrypoint),\n"
    "loads it under a SegArena name, runs it on the case in DIR with exactly the\n"
    "platform's sandbox (no network, read-only root and /input, size-capped /output,\n"
    "tmpfs /tmp, all capabilities dropped, memory, CPU, process and time limits) and\n"
    "prints the outcome the platform would record. DIR holds the case's images named\n"
    "by role (flair.nii.gz, t1.nii.gz, ... or pet.nii.gz); the image must write\n"
    "/output/segmentation.nii.gz on their grid (docs/containers.md).\n"
    "\n"
    "options:\n"
    "  --phase-spec FILE   the limits of a phase spec (docs/phase.md: \"limits\": wall_seconds,\n"
    "                      memory_mb, cpus, pids, output_mb, tmp_mb), the platform's defaults\n"
    "                      for what it leaves out; options below override it\n"
    "  --wall-seconds S --memory-mb M --cpus C --pids P --output-mb O   the same, directly\n"
    "  --engine E          podman (default) or docker: the image is loaded into that\n"
    "                      engine's store (docker: skopeo's docker-daemon transport)\n"
    "  --keep-image        leave the loaded image in the engine\n"
    "  --keep-output DIR   copy the accepted mask there (DIR/segmentation.nii.gz or the\n"
    "                      output's extension); DIR is made before the run if missing\n"
    "                      (not its parents), and must be writable\n"
    "\n"
    "The intake applies the default size limits (10 GiB for the upload, once\n"
    "decompressed, and for the image), not a phase's max_upload_mb, even with\n"
    "--phase-spec: `segarena submit` and the web upload apply that.\n"
    "\n"
    "exit status: 0 the case succeeded (and its mask was kept, with --keep-output);\n"
    "1 it failed (the class says how), the platform could not run it, or the mask\n"
    "could not be kept (one line says why); 2 bad usage, a --keep-output DIR that\n"
    "cannot be made or written in (before the run), or the archive was refused at intake\n"
    "(one line says why).\n";

static int usage_error(const char *fmt, const char *arg) {
    fputs("segarena try: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (segarena try --help)\n", stderr);
    return EXIT_BAD_INPUT;
}

static int number(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

/* The limits of a phase spec (docs/phase.md), read with the platform's own
 * parser so that a spec that runs here runs the same on the platform. */
static int read_phase_spec(const char *path, sa_run_limits *lim) {
    sa_phase_spec spec;
    sa_problems problems;
    sa_error err;
    sa_problems_init(&problems);
    int rc = sa_phase_spec_read(path, &spec, &problems, &err);
    if (rc) {
        for (size_t i = 0; i < problems.count; i++) fprintf(stderr, "%s\n", problems.msg[i]);
        if (problems.count == 0) fprintf(stderr, "segarena try: %s\n", err.msg);
    } else {
        *lim = spec.limits;
        lim->gpu = -1;
    }
    sa_problems_free(&problems);
    return rc;
}

/* The case's images, by role (file name without its image extension). */
static size_t list_inputs(const char *dir, sa_run_input *inputs, char (*roles)[64], char (*paths)[4096],
                          size_t cap) {
    case_file *files;
    size_t n, k = 0;
    char err[600];
    if (list_case_files(dir, &files, &n, err, sizeof err)) {
        fprintf(stderr, "segarena try: %s\n", err);
        return 0;
    }
    for (size_t i = 0; i < n && k < cap; i++) {
        if (files[i].not_image) continue;
        snprintf(roles[k], 64, "%.63s", files[i].id);
        snprintf(paths[k], 4096, "%s", files[i].path);
        inputs[k].role = roles[k];
        inputs[k].path = paths[k];
        k++;
    }
    free(files);
    return k;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes the scratch folder (depth first, never following symlinks). */
static void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Copies from to to: 0, or -1 with errno's message in why (a partial copy removed). */
static int copy_file(const char *from, const char *to, char *why, size_t why_size) {
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t got;
    int rc = in && out ? 0 : -1;
    if (rc) snprintf(why, why_size, "%s", strerror(errno));
    while (rc == 0 && (got = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, got, out) != got) {
            snprintf(why, why_size, "%s", strerror(errno));
            rc = -1;
        }
    if (rc == 0 && ferror(in)) {
        snprintf(why, why_size, "cannot read %s", from);
        rc = -1;
    }
    if (in) fclose(in);
    if (out && fclose(out) != 0 && rc == 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        rc = -1;
    }
    if (rc && out) unlink(to);
    return rc;
}

/* The --keep-output folder is made now if missing (not its parents), and must
 * be a folder this user can write in: so that a folder that cannot be had is
 * refused before the run, not after it. 0, or -1 printed. */
static int check_keep_output(const char *dir) {
    struct stat sb;
    if (!dir[0]) {
        fprintf(stderr, "segarena try: --keep-output: empty folder name\n");
        return -1;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "segarena try: --keep-output %s: cannot create: %s (only DIR itself is "
                        "created)\n", dir, strerror(errno));
        return -1;
    }
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "segarena try: --keep-output %s: not a folder\n", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "segarena try: --keep-output %s: cannot write there: %s\n", dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Copies the accepted mask into dir (made by check_keep_output): 0, or -1 printed. */
static int keep_mask(const char *output_path, const char *dir) {
    char dst[4200], why[256];
    const char *ext = strstr(output_path, ".nii.gz") ? ".nii.gz" : strrchr(output_path, '.');
    snprintf(dst, sizeof dst, "%s/segmentation%s", dir, ext ? ext : "");
    if (copy_file(output_path, dst, why, sizeof why)) {
        fprintf(stderr, "segarena try: %s: cannot write: %s (the mask is not kept)\n", dst, why);
        return -1;
    }
    printf("mask        %s\n", dst);
    return 0;
}

int cmd_try(int argc, char **argv) {
    const char *archive = NULL, *inputs_dir = NULL, *spec = NULL, *keep_output = NULL;
    int keep_image = 0;
    sa_engine_kind engine = SA_ENGINE_PODMAN;
    sa_run_limits lim;
    sa_run_limits_default(&lim);
    sa_error err;
    /* the phase spec's limits first, wherever it is given: options override them */
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--phase-spec")) continue;
        if (spec) return usage_error("%s given twice", argv[i]);
        spec = argv[++i];
        if (read_phase_spec(spec, &lim)) return EXIT_BAD_INPUT;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        static const char *const with_value[] = {"--inputs", "--phase-spec", "--engine", "--wall-seconds",
                                                 "--memory-mb", "--cpus", "--pids", "--output-mb", "--keep-output"};
        int takes_value = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) takes_value |= !strcmp(a, with_value[k]);
        if (takes_value && !value) return usage_error("%s needs a value", a);
        double x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help_text, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--inputs")) {
            inputs_dir = value;
        } else if (!strcmp(a, "--phase-spec")) {
            /* read before this loop */
        } else if (!strcmp(a, "--keep-output")) {
            keep_output = value;
        } else if (!strcmp(a, "--keep-image")) {
            keep_image = 1;
        } else if (!strcmp(a, "--engine")) {
            if (sa_engine_parse(value, &engine, &err)) return usage_error("%s", err.msg);
        } else if (!strcmp(a, "--wall-seconds")) {
            if (number(value, 1, 86400, &x)) return usage_error("--wall-seconds takes 1 to 86400, not '%s'", value);
            lim.wall_seconds = x;
        } else if (!strcmp(a, "--memory-mb")) {
            if (number(value, 16, 1 << 24, &x)) return usage_error("--memory-mb takes 16 or more, not '%s'", value);
            lim.memory_bytes = (uint64_t)(x * 1048576.0);
        } else if (!strcmp(a, "--cpus")) {
            if (number(value, 0.01, 1024, &x)) return usage_error("--cpus takes 0.01 to 1024, not '%s'", value);
            lim.cpus = x;
        } else if (!strcmp(a, "--pids")) {
            if (number(value, 8, 1 << 22, &x)) return usage_error("--pids takes 8 or more, not '%s'", value);
            lim.pids = (long)x;
        } else if (!strcmp(a, "--output-mb")) {
            if (number(value, 1, 1 << 24, &x)) return usage_error("--output-mb takes 1 or more, not '%s'", value);
            lim.output_bytes = (uint64_t)(x * 1048576.0);
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (!archive) {
            archive = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
        if (takes_value) i++;
    }
    if (!archive || !inputs_dir) return usage_error("%s", "needs IMAGE.tar and --inputs DIR");
    if (keep_output && check_keep_output(keep_output)) return EXIT_BAD_INPUT;

    sa_run_input inputs[32];
    char roles[32][64], paths[32][4096];
    size_t n_inputs = list_inputs(inputs_dir, inputs, roles, paths, 32);
    if (n_inputs == 0) {
        fprintf(stderr, "segarena try: %s: no input image (name them by role: flair.nii.gz, pet.nii.gz, ...)\n",
                inputs_dir);
        return EXIT_BAD_INPUT;
    }
    const char *tmp = getenv("TMPDIR");
    char scratch[4096];
    snprintf(scratch, sizeof scratch, "%s/segarena-try.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "segarena try: %s: cannot create a scratch folder: %s\n", scratch, strerror(errno));
        return EXIT_INTERNAL;
    }

    int status = EXIT_BAD_INPUT;
    sa_image_info info;
    char tar[4096], name[256], id[64], lock_dir[4096] = "";
    sa_try_name try_name = {.lock_fd = -1};
    int image_lock = -1, name_gone = 1;
    sa_run_result result;
    memset(&result, 0, sizeof result);
    sa_intake_limits ilim;
    sa_intake_limits_default(&ilim);
    if (sa_intake_inspect(archive, &ilim, scratch, &info, tar, sizeof tar, &err)) {
        fprintf(stderr, "segarena try: refused (%s): %s\n", sa_intake_refusal_name(info.refusal), err.msg);
        goto done;
    }
    printf("intake      ready: %s, %s/%s, user %s (uid %ld, gid %ld), %s\n", info.format, info.os, info.arch,
           info.user, info.uid, info.gid, info.config_digest);
    /* the image's name and its load's temporary name are held by lock files of
     * this user, so that the next try removes them if this one is killed; this
     * one first removes those of killed tries */
    if (sa_try_lock_dir(lock_dir, sizeof lock_dir, &err)) {
        fprintf(stderr, "segarena try: note: %s: a killed try's image would be left\n", err.msg);
        lock_dir[0] = '\0';
        snprintf(id, sizeof id, "try-%ld-%ld", (long)getpid(), (long)time(NULL));
        if (sa_intake_image_name(id, name, sizeof name, &err)) {
            fprintf(stderr, "segarena try: %s\n", err.msg);
            goto done;
        }
    } else {
        sa_error ignored;
        sa_try_sweep(engine, lock_dir, &ignored); /* best effort */
        if (sa_try_name_take(lock_dir, engine, scratch, &try_name, &err)) {
            fprintf(stderr, "segarena try: %s\n", err.msg);
            status = EXIT_INTERNAL;
            goto done;
        }
        snprintf(name, sizeof name, "%s", try_name.name);
        /* the image's lock while loading: a sweep never removes a dead try's name
         * of the image this one is loading */
        const char *hex = strchr(info.config_digest, ':');
        snprintf(id, sizeof id, "%.32s", hex ? hex + 1 : info.config_digest);
        image_lock = sa_intake_image_lock(lock_dir, id, 1, &err);
        if (image_lock < 0) {
            fprintf(stderr, "segarena try: %s\n", err.msg);
            status = EXIT_INTERNAL;
            goto done;
        }
    }
    sa_intake_owner owner = {.lock_dir = lock_dir, .tag = "try"};
    int load = sa_intake_load_into(engine, tar, &info, name, lock_dir[0] ? &owner : NULL, &err);
    if (image_lock >= 0) close(image_lock);
    image_lock = -1;
    if (load == SA_INTAKE_LOAD_ENGINE_FAILED) {
        fprintf(stderr, "segarena try: the engine failed, not the image: %s\n", err.msg);
        status = EXIT_INTERNAL;
        goto done;
    }
    if (load != 0) {
        fprintf(stderr, "segarena try: refused (engine): %s\n", err.msg);
        goto done;
    }
    char run_user[32];
    sa_image_run_user(&info, run_user, sizeof run_user); /* as the platform: numeric uid:gid */
    /* a container name of this try's own (tries at once must not share one) */
    sa_run_request req = {.engine = engine, .image = name,
                          .run_id = lock_dir[0] ? try_name.run_id : id, .case_id = "case",
                          .inputs = inputs, .n_inputs = n_inputs, .scratch_dir = scratch,
                          .user = run_user};
    if (sa_run_case(&req, &lim, &result, &err)) {
        fprintf(stderr, "segarena try: %s\n", err.msg);
        status = EXIT_INTERNAL;
    } else {
        printf("case        %s (%zu inputs from %s)\n", result.succeeded ? "succeeded" : "failed", n_inputs, inputs_dir);
        printf("class       %s\n", result.class_text);
        if (result.detail[0]) printf("detail      %s\n", result.detail);
        printf("wall time   %.2f s (limit %.0f s)\n", result.wall_seconds, lim.wall_seconds);
        if (result.peak_memory_bytes >= 0)
            printf("peak memory %.1f MiB (limit %.0f MiB)\n", (double)result.peak_memory_bytes / 1048576.0,
                   (double)lim.memory_bytes / 1048576.0);
        printf("log         %zu bytes%s\n", result.log_len, result.log_truncated ? " (earlier output dropped)" : "");
        if (result.log_len) fwrite(result.log, 1, result.log_len, stdout), fputc('\n', stdout);
        status = result.succeeded ? EXIT_OK : EXIT_INTERNAL;
        /* a mask asked for and lost is not a success */
        if (result.output_path && keep_output && keep_mask(result.output_path, keep_output))
            status = EXIT_INTERNAL;
    }
    if (!keep_image && sa_engine_remove_image(engine, name, &err)) {
        fprintf(stderr, "segarena try: %s\n", err.msg);
        name_gone = 0; /* left for the next try's sweep */
    }
done:
    if (image_lock >= 0) close(image_lock);
    sa_try_name_release(&try_name, name_gone);
    sa_run_result_free(&result);
    remove_tree(scratch);
    return status;
}
