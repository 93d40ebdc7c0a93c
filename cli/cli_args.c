/* cli_args.c: option parsing and store opening shared by the organiser commands,
 * so that each command reads as what it does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_args.h"
#include "datasets.h"

int cli_parse(const char *command, int argc, char **argv, int first, cli_opt *opts, size_t n_opts,
              const char **positional, size_t max_positional, size_t *n_positional) {
    *n_positional = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') {
            size_t k = 0;
            while (k < n_opts && strcmp(opts[k].name, a)) k++;
            if (k == n_opts) {
                fprintf(stderr, "segarena %s: unknown option '%s' (segarena %s --help)\n", command,
                        a, command);
                return -1;
            }
            if (opts[k].present) {
                fprintf(stderr, "segarena %s: %s given twice\n", command, a);
                return -1;
            }
            opts[k].present = 1;
            if (opts[k].takes_value) {
                if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)) {
                    fprintf(stderr, "segarena %s: %s needs a value\n", command, a);
                    return -1;
                }
                opts[k].value = argv[++i];
            }
            continue;
        }
        if (*n_positional >= max_positional) {
            fprintf(stderr, "segarena %s: unexpected argument '%s' (segarena %s --help)\n",
                    command, a, command);
            return -1;
        }
        positional[(*n_positional)++] = a;
    }
    return 0;
}

const char *cli_value(const cli_opt *opts, size_t n_opts, const char *name) {
    for (size_t k = 0; k < n_opts; k++)
        if (!strcmp(opts[k].name, name)) return opts[k].present ? opts[k].value : NULL;
    return NULL;
}

int cli_flag(const cli_opt *opts, size_t n_opts, const char *name) {
    for (size_t k = 0; k < n_opts; k++)
        if (!strcmp(opts[k].name, name)) return opts[k].present;
    return 0;
}

int cli_parse_id(const char *command, const char *what, const char *text, int64_t *out) {
    char *end;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || errno || end == text || *end || v <= 0) {
        fprintf(stderr, "segarena %s: %s must be a positive number, not '%s'\n", command, what,
                text ? text : "");
        return -1;
    }
    *out = v;
    return 0;
}

int cli_check_id(const char *command, const char *what, const char *s) {
    const char *why = sa_id_problem(s);
    if (!why) return 0;
    fprintf(stderr, "segarena %s: %s '%s' %s (" SA_ID_PATTERN ")\n", command, what, s ? s : "", why);
    return -1;
}

int cli_phase_ref_valid(const char *ref) {
    const char *slash = strchr(ref, '/');
    if (slash) return slash != ref && slash - ref < 64 && slash[1] && !strchr(slash + 1, '/');
    for (const char *p = ref; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    errno = 0;
    long long v = strtoll(ref, NULL, 10);
    return *ref && !errno && v > 0;
}

int cli_phase_find(sa_store *st, const char *ref, int64_t *phase_id, sa_phase_spec *spec, sa_error *err) {
    if (!ref || !cli_phase_ref_valid(ref)) {
        sa_error_set(err, "'%s': a phase is named CHALLENGE/PHASE (or by its id)", ref ? ref : "");
        return 0;
    }
    return sa_phase_find(st, ref, phase_id, spec, err);
}

const char *cli_data_dir(const char *data_dir) {
    return data_dir ? data_dir : "./segarena-data";
}

int cli_open_store(const char *command, const char *data_dir, int create, sa_store **st) {
    sa_error err;
    if (sa_store_open(cli_data_dir(data_dir), create, st, &err)) {
        fprintf(stderr, "segarena %s: %s\n", command, err.msg);
        return -1;
    }
    return 0;
}

void cli_format_time(double t, char buf[32]) {
    time_t s = (time_t)t;
    struct tm tm;
    if (t <= 0 || !gmtime_r(&s, &tm)) {
        snprintf(buf, 32, "-");
        return;
    }
    strftime(buf, 32, "%Y-%m-%d %H:%M UTC", &tm);
}
