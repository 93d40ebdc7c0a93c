/*
 * cmd_dataset.c: `segarena dataset import|verify|show|list` (and `make-demo`,
 * forwarded to cmd_make_demo.c): held-out datasets stored in the data directory
 * with a manifest (docs/datasets.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "commands.h"
#include "datasets.h"
#include "json_writer.h"

static const char help_text[] =
    "usage: segarena dataset COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  import SOURCE --name NAME   check and store a dataset (BIDS, plain or manifest folder)\n"
    "  verify NAME                 re-check every file's size and sha256, and read-only bits\n"
    "  show NAME [--json]          summary: cases per split, roles, raters, voxel sizes,\n"
    "                              lesion counts per rater, inter-rater Dice\n"
    "  list                        the stored datasets; notes on stderr name the temporary\n"
    "                              folders of imports running now or killed\n"
    "  make-demo ...               synthetic MS and PET datasets (segarena dataset make-demo --help)\n"
    "\n"
    "common option:\n"
    "  --data-dir DIR        data directory (default ./segarena-data); datasets live in\n"
    "                        DIR/datasets/NAME/ and are read-only once imported\n"
    "\n"
    "import options:\n"
    "  --name NAME           dataset name, " SA_ID_PATTERN " (a manifest\n"
    "                        source may give it)\n"
    "  --kind KIND           ms, pet or another id (default: the manifest's, else pet with\n"
    "                        a pet role, ms with flair, else other)\n"
    "  --description TEXT    free text stored in the manifest\n"
    "  --split NAME          split of cases that participants.tsv / splits.tsv do not\n"
    "                        give (default test)\n"
    "  --mask-desc DESC      BIDS desc of rater masks (default lesion: *_desc-lesion_mask)\n"
    "  --role SUFFIX=ROLE    map a BIDS suffix (or ce-<label>_<suffix>) to a role; repeatable\n"
    "  --link                hard-link files where the filesystem allows (default: copy);\n"
    "                        the sources then share the store's read-only mode (a refused\n"
    "                        import gives them their modes back)\n"
    "  --copy                copy every file (the default; undoes an earlier --link)\n"
    "\n"
    "Layouts (docs/datasets.md): BIDS sub-<id>/[ses-<s>/]anat|pet/ with raters under\n"
    "derivatives/<rater>/; plain <case>/<role>.nii.gz and <case>/raters/<rater>.nii.gz;\n"
    "or a folder holding a dataset.json manifest. NIfTI files are stored as they are;\n"
    "DICOM series folders and other formats (.mha, .mhd, .nrrd, ...) are converted to\n"
    "NIfTI (.nii.gz) at import. Import refuses with every problem found, one line each, and leaves\n"
    "nothing behind. It works in DIR/datasets/.tmp-NAME-XXXXXX, locked (by a .lock file\n"
    "beside it) while it runs; such a folder nobody holds (an import killed) is removed\n"
    "by the next import whose source scan passes.\n"
    "\n"
    "exit status: 0 done; 2 bad usage, refused import or failed verification; 1 internal\n"
    "error.\n";

static int usage_error(const char *fmt, const char *arg) {
    fputs("segarena dataset: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (segarena dataset --help)\n", stderr);
    return EXIT_BAD_INPUT;
}

/* Text as one line: bytes below 0x20, 0x7f and the backslash written as \xNN (a file name
 * may hold any byte but '/'); padded with spaces to width. */
static void print_escaped(FILE *out, const char *text, int width) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        n += *p < 0x20 || *p == 0x7f || *p == '\\' ? fprintf(out, "\\x%02x", *p) : (fputc(*p, out), 1);
    for (; n < width; n++) fputc(' ', out);
}

/* One line per problem, escaped: a problem names files, whose names may hold a
 * newline (a case folder "c<newline>2" printed as two lines) */
static int print_problems(const char *what, const sa_problems *p, const char *tail) {
    for (size_t i = 0; i < p->count; i++) {
        print_escaped(stderr, p->msg[i], 0);
        fputc('\n', stderr);
    }
    fprintf(stderr, "segarena dataset %s: %zu problem%s%s\n", what, p->count, p->count == 1 ? "" : "s", tail);
    return EXIT_BAD_INPUT;
}

#define MAX_ROLE_MAPS 32

static void print_note(const char *note) {
    fputs("note: ", stderr);
    print_escaped(stderr, note, 0);
    fputc('\n', stderr);
}

static int do_import(int argc, char **argv, const char *data_dir) {
    sa_import_options opt;
    sa_import_options_default(&opt);
    opt.data_dir = data_dir;
    sa_role_map maps[MAX_ROLE_MAPS];
    char map_text[MAX_ROLE_MAPS][256];
    size_t n_maps = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--name") || !strcmp(a, "--kind") || !strcmp(a, "--description") ||
                    !strcmp(a, "--split") || !strcmp(a, "--mask-desc") || !strcmp(a, "--role");
        if (takes && !value) return usage_error("%s needs a value", a);
        if (!strcmp(a, "--name")) opt.name = value;
        else if (!strcmp(a, "--kind")) opt.kind = value;
        else if (!strcmp(a, "--description")) opt.description = value;
        else if (!strcmp(a, "--split")) opt.split = value;
        else if (!strcmp(a, "--mask-desc")) opt.mask_desc = value;
        else if (!strcmp(a, "--link")) opt.copy = 0;
        else if (!strcmp(a, "--copy")) opt.copy = 1;
        else if (!strcmp(a, "--role")) {
            if (n_maps == MAX_ROLE_MAPS) return usage_error("%s", "at most 32 --role options");
            if (strlen(value) >= sizeof map_text[0]) return usage_error("--role '%s' is too long", value);
            strcpy(map_text[n_maps], value);
            char *eq = strchr(map_text[n_maps], '=');
            if (!eq || eq == map_text[n_maps]) return usage_error("--role takes SUFFIX=ROLE, not '%s'", value);
            if (cli_check_id("dataset import", "--role's ROLE", eq + 1)) return EXIT_BAD_INPUT;
            *eq = 0;
            maps[n_maps].suffix = map_text[n_maps];
            maps[n_maps].role = eq + 1;
            n_maps++;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (opt.source) {
            return usage_error("one SOURCE folder only ('%s')", a);
        } else {
            opt.source = a;
        }
        if (takes) i++;
    }
    if (!opt.source) return usage_error("%s", "import needs a SOURCE folder");
    if (opt.name && cli_check_id("dataset import", "--name", opt.name)) return EXIT_BAD_INPUT;
    if (cli_check_id("dataset import", "--split", opt.split)) return EXIT_BAD_INPUT;
    if (opt.kind && cli_check_id("dataset import", "--kind", opt.kind)) return EXIT_BAD_INPUT;
    size_t bad_byte = opt.description ? sa_dataset_utf8_bad_byte(opt.description) : 0;
    if (bad_byte) { /* dataset.json is JSON: it could not hold it */
        fprintf(stderr, "segarena dataset import: --description is not valid UTF-8 (byte %zu)\n", bad_byte);
        return EXIT_BAD_INPUT;
    }
    opt.role_map = maps;
    opt.n_role_map = n_maps;

    sa_problems problems;
    sa_problems_init(&problems);
    sa_import_report report;
    sa_error err = {{0}};
    int rc = sa_dataset_import(&opt, &report, &problems, &err);
    for (size_t i = 0; i < report.notes.count; i++) print_note(report.notes.msg[i]);
    if (rc) {
        if (problems.count == 0) sa_problems_add(&problems, "%s", err.msg);
        print_problems("import", &problems, "; nothing imported");
    } else {
        printf("imported %s (%s layout) into %s: %zu cases, %zu roles, %zu raters; %zu files hard-linked, "
               "%zu copied, %zu converted to NIfTI\n",
               report.name, report.layout, report.path, report.n_cases, report.n_roles,
               report.n_raters, report.linked, report.copied, report.converted);
    }
    sa_problems_free(&problems);
    sa_import_report_free(&report);
    return rc ? EXIT_BAD_INPUT : EXIT_OK;
}

static int one_name(int argc, char **argv, const char **name, int *json) {
    *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (json && !strcmp(argv[i], "--json")) *json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return usage_error("unknown option '%s'", argv[i]);
        else if (*name) return usage_error("one dataset NAME only ('%s')", argv[i]);
        else *name = argv[i];
    }
    if (!*name) return usage_error("%s needs a dataset NAME", argv[0]);
    return EXIT_OK;
}

static int do_verify(int argc, char **argv, const char *data_dir) {
    const char *name;
    int rc = one_name(argc, argv, &name, NULL);
    if (rc) return rc;
    sa_problems problems;
    sa_problems_init(&problems);
    sa_error err = {{0}};
    if (sa_dataset_verify(data_dir, name, &problems, &err)) {
        if (problems.count == 0) sa_problems_add(&problems, "%s", err.msg);
        rc = print_problems("verify", &problems, "");
    } else {
        printf("%s: verified (every file's size and sha256 match, read-only)\n", name);
    }
    sa_problems_free(&problems);
    return rc;
}

typedef struct spacing_count {
    double s[3];
    size_t n;
} spacing_count;

static int do_show(int argc, char **argv, const char *data_dir) {
    const char *name;
    int json = 0;
    int rc = one_name(argc, argv, &name, &json);
    if (rc) return rc;
    sa_problems problems;
    sa_problems_init(&problems);
    sa_error err = {{0}};
    sa_dataset ds;
    if (sa_dataset_open(data_dir, name, &ds, &problems, &err)) {
        if (problems.count == 0) sa_problems_add(&problems, "%s", err.msg);
        rc = print_problems("show", &problems, "");
        sa_problems_free(&problems);
        return rc;
    }
    sa_problems_free(&problems);
    char dir[4200];
    sa_dataset_dir(data_dir, name, dir, sizeof dir, &err);

    size_t nc = ds.n_cases, nr = ds.n_raters;
    size_t *lesions = calloc(nc * nr + 1, sizeof *lesions);
    double *dice = calloc(nc + 1, sizeof *dice);
    int *defined = calloc(nc + 1, sizeof *defined);
    spacing_count *sp = calloc(nc + 1, sizeof *sp);
    const char **splits = calloc(nc + 1, sizeof *splits);
    size_t *split_n = calloc(nc + 1, sizeof *split_n);
    size_t n_sp = 0, n_splits = 0, n_dice = 0;
    double dice_sum = 0;
    if (!lesions || !dice || !defined || !sp || !splits || !split_n) {
        fprintf(stderr, "segarena dataset show: out of memory\n");
        rc = EXIT_INTERNAL;
        goto done;
    }
    for (size_t c = 0; c < nc; c++) {
        if (sa_dataset_case_summary(dir, &ds, c, lesions + c * nr, &dice[c], &defined[c], &err)) {
            print_escaped(stderr, err.msg, 0);
            fputc('\n', stderr);
            rc = EXIT_BAD_INPUT;
            goto done;
        }
        if (defined[c]) dice_sum += dice[c], n_dice++;
        const double *s = ds.cases[c].spacing;
        size_t i = 0;
        while (i < n_sp && !(sp[i].s[0] == s[0] && sp[i].s[1] == s[1] && sp[i].s[2] == s[2])) i++;
        if (i == n_sp) memcpy(sp[n_sp++].s, s, sizeof sp[i].s);
        sp[i].n++;
        i = 0;
        while (i < n_splits && strcmp(splits[i], ds.cases[c].split)) i++;
        if (i == n_splits) splits[n_splits++] = ds.cases[c].split;
        split_n[i]++;
    }
    if (json) {
        json_writer w;
        jw_begin(&w, stdout, 1);
        jw_object_open(&w);
        jw_key(&w, "name"), jw_string(&w, ds.name);
        jw_key(&w, "kind"), jw_string(&w, ds.kind);
        jw_key(&w, "description"), jw_string(&w, ds.description);
        jw_key(&w, "created"), jw_string(&w, ds.created);
        jw_key(&w, "cases"), jw_integer(&w, (long long)nc);
        jw_key(&w, "splits"), jw_object_open(&w);
        for (size_t i = 0; i < n_splits; i++) jw_key(&w, splits[i]), jw_integer(&w, (long long)split_n[i]);
        jw_object_close(&w);
        jw_key(&w, "roles"), jw_array_open(&w);
        for (size_t i = 0; i < ds.n_roles; i++) jw_string(&w, ds.roles[i]);
        jw_array_close(&w);
        jw_key(&w, "raters"), jw_array_open(&w);
        for (size_t i = 0; i < nr; i++) jw_string(&w, ds.raters[i]);
        jw_array_close(&w);
        jw_key(&w, "voxel_sizes"), jw_array_open(&w);
        for (size_t i = 0; i < n_sp; i++) {
            jw_object_open(&w);
            jw_key(&w, "spacing"), jw_array_open(&w);
            for (int d = 0; d < 3; d++) jw_number(&w, sp[i].s[d]);
            jw_array_close(&w);
            jw_key(&w, "cases"), jw_integer(&w, (long long)sp[i].n);
            jw_object_close(&w);
        }
        jw_array_close(&w);
        jw_key(&w, "per_case"), jw_array_open(&w);
        for (size_t c = 0; c < nc; c++) {
            jw_object_open(&w);
            jw_key(&w, "id"), jw_string(&w, ds.cases[c].id);
            jw_key(&w, "split"), jw_string(&w, ds.cases[c].split);
            jw_key(&w, "lesions"), jw_object_open(&w);
            for (size_t r = 0; r < nr; r++) jw_key(&w, ds.raters[r]), jw_integer(&w, (long long)lesions[c * nr + r]);
            jw_object_close(&w);
            jw_key(&w, "inter_rater_dice");
            if (defined[c]) jw_number(&w, dice[c]);
            else jw_null(&w);
            jw_object_close(&w);
        }
        jw_array_close(&w);
        jw_key(&w, "mean_inter_rater_dice");
        if (n_dice) jw_number(&w, dice_sum / (double)n_dice);
        else jw_null(&w);
        jw_object_close(&w);
        jw_end(&w);
    } else {
        printf("dataset      %s (%s)\n", ds.name, ds.kind);
        if (ds.description && *ds.description) {
            fputs("description  ", stdout);
            print_escaped(stdout, ds.description, 0);
            fputc('\n', stdout);
        }
        printf("created      %s from ", ds.created);
        print_escaped(stdout, ds.source_path, 0); /* the source folder's name: any byte but '/' */
        printf(" (%s layout)\n", ds.source_layout);
        printf("cases        %zu (", nc);
        for (size_t i = 0; i < n_splits; i++) printf("%s%s: %zu", i ? ", " : "", splits[i], split_n[i]);
        printf(")\nroles        ");
        for (size_t i = 0; i < ds.n_roles; i++) printf("%s%s", i ? ", " : "", ds.roles[i]);
        printf("\nraters       ");
        for (size_t i = 0; i < nr; i++) printf("%s%s", i ? ", " : "", ds.raters[i]);
        printf("\nvoxel sizes  ");
        for (size_t i = 0; i < n_sp; i++)
            printf("%s%g x %g x %g mm (%zu case%s)", i ? ", " : "", sp[i].s[0], sp[i].s[1], sp[i].s[2], sp[i].n,
                   sp[i].n == 1 ? "" : "s");
        printf("\n\n%-20s %-10s", "case", "split");
        for (size_t r = 0; r < nr; r++) printf(" %10.10s", ds.raters[r]);
        printf(" %10s\n", "dice");
        for (size_t c = 0; c < nc; c++) {
            printf("%-20s %-10s", ds.cases[c].id, ds.cases[c].split);
            for (size_t r = 0; r < nr; r++) printf(" %10zu", lesions[c * nr + r]);
            if (defined[c]) printf(" %10.4f\n", dice[c]);
            else printf(" %10s\n", "-");
        }
        printf("(lesions: connected components, 6-connectivity, > 3 mm^3; dice: mean over rater pairs)\n");
        if (n_dice) printf("mean inter-rater Dice %.4f over %zu cases\n", dice_sum / (double)n_dice, n_dice);
    }
done:
    free(lesions);
    free(dice);
    free(defined);
    free(sp);
    free(splits);
    free(split_n);
    sa_dataset_free(&ds);
    return rc;
}

static int do_list(int argc, char **argv, const char *data_dir) {
    if (argc > 1) return usage_error("list takes no argument ('%s')", argv[1]);
    char **names;
    size_t n;
    sa_error err;
    if (sa_dataset_list(data_dir, &names, &n, &err)) {
        fputs("segarena dataset list: ", stderr);
        print_escaped(stderr, err.msg, 0);
        fputc('\n', stderr);
        return EXIT_BAD_INPUT;
    }
    for (size_t i = 0; i < n; i++) {
        sa_dataset ds;
        sa_problems p;
        sa_problems_init(&p);
        print_escaped(stdout, names[i], 24);
        if (sa_dataset_open(data_dir, names[i], &ds, &p, &err) == 0) {
            printf(" %-6s %4zu cases  %zu raters  %s\n", ds.kind, ds.n_cases, ds.n_raters, ds.created);
            sa_dataset_free(&ds);
        } else {
            fputs(" (cannot be opened: ", stdout);
            print_escaped(stdout, err.msg, 0);
            puts(")");
        }
        sa_problems_free(&p);
    }
    sa_dataset_names_free(names, n);
    /* temporary folders of imports: running now, or left by one that was killed */
    sa_problems left;
    sa_problems_init(&left);
    if (sa_dataset_leftovers(data_dir, 0, &left, &err)) {
        fputs("segarena dataset list: ", stderr);
        print_escaped(stderr, err.msg, 0);
        fputc('\n', stderr);
    }
    for (size_t i = 0; i < left.count; i++) print_note(left.msg[i]);
    sa_problems_free(&left);
    return EXIT_OK;
}

int cmd_dataset(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_BAD_INPUT : EXIT_OK;
    }
    if (!strcmp(argv[1], "make-demo")) return cmd_dataset_make_demo(argc - 1, argv + 1);
    /* --data-dir DIR anywhere; the rest goes to the subcommand (argv[0] = its name) */
    const char *data_dir = "./segarena-data";
    char **args = malloc((size_t)argc * sizeof *args);
    if (!args) return EXIT_INTERNAL;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data-dir")) {
            if (i + 1 >= argc) {
                free(args);
                return usage_error("%s needs a value", "--data-dir");
            }
            data_dir = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help_text, stdout);
            free(args);
            return EXIT_OK;
        } else {
            args[n++] = argv[i];
        }
    }
    int rc;
    if (n == 0) rc = usage_error("%s", "which command?");
    else if (!strcmp(args[0], "import")) rc = do_import(n, args, data_dir);
    else if (!strcmp(args[0], "verify")) rc = do_verify(n, args, data_dir);
    else if (!strcmp(args[0], "show")) rc = do_show(n, args, data_dir);
    else if (!strcmp(args[0], "list")) rc = do_list(n, args, data_dir);
    else rc = usage_error("unknown command '%s'", args[0]);
    free(args);
    return rc;
}
