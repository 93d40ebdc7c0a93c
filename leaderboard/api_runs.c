/*
 * api_runs.c: evaluation runs through the API: a run's progress, failures per
 * class (as run_view.c allows), aggregate and (where the phase allows it) its
 * cases, for the owner team or an organiser; and the organiser's actions: start a first evaluation,
 * cancel, rescore, rerun. The JSON of a run and of its cases is built here for
 * the submission endpoints too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

#define MAX_LOG_BYTES (64 * 1024)

static json_t *time_or_null(double t) {
    if (t <= 0) return json_null();
    char buf[32];
    sa_iso8601_format(t, buf);
    return json_string(buf);
}

/* The case's log, cut to its last MAX_LOG_BYTES; its bytes that are not UTF-8
 * text (a NUL included) read as U+FFFD, as every text of the API. */
static json_t *log_json(const sa_server_ctx *ctx, const char *rel) {
    if (!rel || rel[0] == '/' || strstr(rel, "..")) return json_null(); /* as read_log */
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", ctx->data_dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return json_null();
    char *buf = malloc(MAX_LOG_BYTES + 1);
    size_t n = 0;
    if (buf && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > MAX_LOG_BYTES) fseek(f, size - MAX_LOG_BYTES, SEEK_SET);
        else fseek(f, 0, SEEK_SET);
        n = fread(buf, 1, MAX_LOG_BYTES, f);
    }
    fclose(f);
    /* a cut may fall inside a UTF-8 sequence: skip its continuation bytes */
    size_t start = 0;
    while (buf && start < n && start < 3 && ((unsigned char)buf[start] & 0xC0) == 0x80) start++;
    json_t *s = NULL;
    if (buf) {
        for (size_t i = start; i < n; i++)
            if (buf[i] == '\0') buf[i] = (char)0xFF; /* never valid UTF-8: U+FFFD below */
        buf[n] = '\0';
        s = sa_web_json_text(buf + start);
    }
    free(buf);
    return s ? s : json_null();
}

/* The case's scores against the consensus, for the spec's metrics. */
static json_t *scores_json(const char *result_json, const sa_phase_spec *spec) {
    json_error_t jerr;
    json_t *root = result_json ? json_loads(result_json, 0, &jerr) : NULL;
    json_t *cons = root ? json_object_get(root, "consensus") : NULL;
    json_t *out = json_object();
    for (size_t m = 0; out && m < spec->n_metrics; m++) {
        json_t *v = cons ? json_object_get(cons, spec->metrics[m]) : NULL;
        json_object_set(out, spec->metrics[m], v ? v : json_null());
    }
    json_decref(root);
    return out;
}

json_t *sa_web_cases_json(sa_web_call *call, int64_t run_id, const sa_phase_spec *spec,
                          int with_logs, int with_detail, sa_error *err) {
    sa_case_result_row *rows = NULL;
    size_t n = 0;
    if (sa_store_case_results(call->st, run_id, &rows, &n, err)) return NULL;
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++) {
        const sa_case_result_row *r = &rows[i];
        json_t *o = json_pack("{s:o,s:o,s:o,s:f,s:f,s:o,s:o}", "case_id",
                              sa_web_json_text(r->case_id), "status", sa_web_json_text(r->status),
                              "class", sa_web_json_text(r->error_class), "container_seconds",
                              r->container_seconds, "platform_seconds", r->platform_seconds,
                              "exit_code", r->exit_code >= 0 ? json_integer(r->exit_code) : json_null(),
                              "scores", scores_json(r->result_json, spec));
        if (o && with_logs) json_object_set_new(o, "log", log_json(call->ctx, r->log_path));
        if (o && with_detail) {
            json_object_set_new(o, "detail", sa_web_json_text(r->detail));
            json_object_set_new(o, "peak_memory_bytes",
                                r->peak_memory_bytes >= 0 ? json_integer(r->peak_memory_bytes)
                                                          : json_null());
        }
        if (!o || json_array_append_new(list, o)) {
            json_decref(list);
            list = NULL;
        }
    }
    sa_case_result_rows_free(rows, n);
    if (!list) sa_error_set(err, "run %lld: cannot build its cases' JSON", (long long)run_id);
    return list;
}

json_t *sa_web_run_json(sa_web_call *call, const sa_run_row *run, const sa_phase_spec *spec,
                        const sa_subject *about, int with_cases, sa_error *err) {
    sa_run_view view;
    if (sa_web_run_view(call, run, about, &view, err)) return NULL;
    /* progress and failures per class as run_view.c allows: null while a
     * hidden phase's run goes on. queue_position counts the older runs not
     * over yet, not their queued cases: a count of cases would move as each
     * case of another (hidden) run starts, and tell its time. */
    json_t *progress = json_null(), *failed = json_null();
    if (view.counts_shown) {
        const sa_run_progress *p = &view.progress;
        failed = json_object();
        for (size_t i = 0; failed && i < view.n; i++)
            sa_web_json_set_text(failed, view.classes[i], json_integer(view.counts[i]));
        progress = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "total", (json_int_t)p->total,
                             "done", (json_int_t)p->done, "succeeded", (json_int_t)p->succeeded,
                             "failed", (json_int_t)p->failed, "queued", (json_int_t)p->queued,
                             "running", (json_int_t)p->running, "left",
                             (json_int_t)(p->queued + p->running), "queue_position",
                             (json_int_t)p->runs_ahead, "mean_case_seconds",
                             p->mean_case_seconds);
    }
    sa_web_run_view_free(&view);
    json_t *o = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)run->id,
                          "submission_id", (json_int_t)run->submission_id, "kind",
                          sa_web_json_text(run->kind), "status", sa_web_json_text(run->status),
                          "created", time_or_null(run->created), "started",
                          time_or_null(run->started), "finished", time_or_null(run->finished),
                          "progress", progress, "failed_by_class", failed);
    if (!o) {
        sa_error_set(err, "out of memory");
        return NULL;
    }
    if (run->parent_run_id) json_object_set_new(o, "parent_run_id", json_integer(run->parent_run_id));
    int details = sa_web_allowed(&call->who, SA_ACT_READ_CASE_DETAILS, about);
    /* aggregate scores: once published (hidden phases), or with case details;
     * without details rebuilt from a whitelist, classes by base name (run_view.c) */
    json_t *agg = sa_web_run_aggregate(call, run, about);
    if (agg) json_object_set_new(o, "aggregate", agg);
    if (with_cases && details) {
        int logs = sa_web_allowed(&call->who, SA_ACT_READ_LOGS, about);
        int organiser = sa_web_allowed(&call->who, SA_ACT_MANAGE_RUNS, about);
        json_t *cases = sa_web_cases_json(call, run->id, spec, logs, organiser, err);
        if (!cases) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "cases", cases);
    }
    return o;
}

/* The run of the path with its submission, phase and spec, readable by the
 * caller: 1, or 0 answered. */
static int readable_run(sa_web_call *call, sa_run_row *run, sa_submission_row *sub,
                        sa_phase_row *phase, sa_phase_spec *spec) {
    if (!sa_web_require_login(call)) return 0;
    int64_t id;
    sa_web_parse_id(call->arg[0], &id);
    sa_error err = {{0}};
    int found = sa_store_run_get(call->st, id, run, &err);
    if (found < 0) return sa_web_internal_error(call, &err), 0;
    if (!found) return sa_web_json_error(call->res, 404, "no run %lld", (long long)id), 0;
    if (!sa_web_submission_readable(call, run->submission_id, sub, phase, spec)) {
        sa_run_row_free(run);
        /* another team's run: the same answer as a missing one */
        if (call->res->status == 404) sa_web_json_error(call->res, 404, "no run %lld", (long long)id);
        return 0;
    }
    return 1;
}

int sa_api_run(sa_web_call *call) {
    sa_run_row run;
    sa_submission_row sub;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!readable_run(call, &run, &sub, &phase, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&phase, &spec, sub.team_id, &about);
    sa_error err = {{0}};
    json_t *o = sa_web_run_json(call, &run, &spec, &about, 1, &err);
    sa_run_row_free(&run);
    sa_submission_row_free(&sub);
    sa_phase_row_free(&phase);
    if (!o) return sa_web_internal_error(call, &err);
    return sa_web_send_json(call->res, 200, o);
}

/* The organiser's checks of a run action: 1 go on (run filled), 0 answered. */
static int managed_run(sa_web_call *call, sa_run_row *run) {
    sa_submission_row sub;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!readable_run(call, run, &sub, &phase, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&phase, &spec, sub.team_id, &about);
    sa_submission_row_free(&sub);
    sa_phase_row_free(&phase);
    if (sa_web_require(call, SA_ACT_MANAGE_RUNS, &about) && sa_web_csrf_ok(call)) return 1;
    sa_run_row_free(run);
    return 0;
}

int sa_api_run_cancel(sa_web_call *call) {
    sa_run_row run;
    if (!managed_run(call, &run)) return 0;
    sa_error err = {{0}};
    int cancelled = sa_store_run_cancel(call->st, run.id, &err);
    int64_t id = run.id;
    sa_run_row_free(&run);
    if (cancelled < 0) return sa_web_internal_error(call, &err);
    if (!cancelled) return sa_web_json_error(call->res, 409, "run %lld is already over", (long long)id);
    return sa_web_send_json(call->res, 200, json_pack("{s:I,s:s}", "run_id", (json_int_t)id,
                                                      "status", "cancelled"));
}

/* Queues a run of kind for the submission; a refusal of the evaluator (e.g. a
 * rescore of an unfinished run) is a 409 with its reason, the platform's failure
 * (a dataset gone) a 500 whose message goes to the log only. */
static int queue_run(sa_web_call *call, int64_t submission_id, const char *kind, int64_t parent) {
    sa_error err = {{0}};
    int64_t run_id;
    int rc = sa_run_queue(call->st, call->ctx->data_dir, submission_id, kind, parent, &run_id, &err);
    if (rc == SA_RUN_REFUSED || rc == SA_STORE_CONFLICT)
        return sa_web_json_error(call->res, 409, "%s", err.msg);
    if (rc) return sa_web_internal_error(call, &err);
    return sa_web_send_json(call->res, 201,
                            json_pack("{s:I,s:s,s:I}", "run_id", (json_int_t)run_id, "kind", kind,
                                      "submission_id", (json_int_t)submission_id));
}

static int repeat_run(sa_web_call *call, const char *kind) {
    sa_run_row run;
    if (!managed_run(call, &run)) return 0;
    int64_t sub = run.submission_id, parent = run.id;
    sa_run_row_free(&run);
    return queue_run(call, sub, kind, parent);
}

int sa_api_run_rescore(sa_web_call *call) {
    return repeat_run(call, "rescore");
}

int sa_api_run_rerun(sa_web_call *call) {
    return repeat_run(call, "rerun");
}

int sa_api_run_start(sa_web_call *call) {
    int64_t id;
    sa_web_parse_id(call->arg[0], &id);
    sa_submission_row sub;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!sa_web_submission_readable(call, id, &sub, &phase, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&phase, &spec, sub.team_id, &about);
    int ready = !strcmp(sub.status, "ready");
    sa_submission_row_free(&sub);
    sa_phase_row_free(&phase);
    if (!sa_web_require(call, SA_ACT_MANAGE_RUNS, &about) || !sa_web_csrf_ok(call)) return 0;
    if (!ready) return sa_web_json_error(call->res, 409, "submission %lld was refused at intake",
                                         (long long)id);
    sa_error err = {{0}};
    sa_run_row *runs = NULL;
    size_t n = 0;
    if (sa_store_run_list(call->st, 0, id, &runs, &n, &err)) return sa_web_internal_error(call, &err);
    sa_run_rows_free(runs, n);
    if (n) return sa_web_json_error(call->res, 409, "submission %lld already has %zu run(s): "
                                                    "rerun or rescore one of them",
                                    (long long)id, n);
    return queue_run(call, id, "evaluate", 0);
}
