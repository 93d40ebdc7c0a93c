/*
 * api_submissions.c: a team's submissions through the API. The upload is
 * checked before its body is read (identity, team, permission, CSRF, the phase's
 * dates and quota, the declared size) and, once streamed to disk by server.c,
 * handed to the evaluator's sa_submit (intake, duplicate check, run queued).
 * Reading a submission shows its status and runs to the owner team or an
 * organiser; per-case results only where the phase shows them (organisers
 * always), logs only with show_logs too; in a hidden phase a challenger sees
 * counts per class only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

/* ---- the upload ---- */

/* The team the upload is for: ?team=NAME (or the upload form's team field), or
 * the caller's only team. 1 found, 0 answered. */
static int upload_team(sa_web_call *call, sa_team_row *team) {
    char name[80];
    int given = sa_web_query(call->req->query, "team", name, sizeof name);
    if (given == 0) given = sa_web_form_value(call->req, "team", name, sizeof name);
    sa_error err = {{0}};
    if (given < 0) return sa_web_json_error(call->res, 400, "?team= is not a team name"), 0;
    if (!given) {
        if (call->who.n_teams != 1)
            return sa_web_json_error(call->res, 400, "say which team submits: ?team=NAME"), 0;
        int found = sa_store_team_get_by_id(call->st, call->who.teams[0], team, &err);
        if (found < 0) return sa_web_internal_error(call, &err), 0;
        if (found) return 1;
        return sa_web_json_error(call->res, 404, "your team is gone"), 0;
    }
    int found = sa_store_team_get(call->st, name, team, &err);
    if (found < 0) return sa_web_internal_error(call, &err), 0;
    if (!found) return sa_web_json_error(call->res, 404, "no team '%s'", name), 0;
    return 1;
}

/* The phase of the path, whether published or not (teams submit to hidden
 * phases): 1 found, 0 answered. */
int sa_web_upload_phase(sa_web_call *call, sa_phase_row *row, sa_phase_spec *spec) {
    sa_error err = {{0}};
    int found = sa_store_phase_get(call->st, call->arg[0], call->arg[1], row, &err);
    if (found < 0) return sa_web_internal_error(call, &err), 0;
    if (!found)
        return sa_web_json_error(call->res, 404, "no phase '%s/%s'", call->arg[0], call->arg[1]), 0;
    sa_problems problems;
    sa_problems_init(&problems);
    int rc = sa_phase_spec_parse(row->spec_json, row->name, spec, &problems, &err);
    sa_problems_free(&problems);
    if (rc) {
        sa_phase_row_free(row);
        return sa_web_internal_error(call, &err), 0;
    }
    if (!row->published && !sa_web_unpublished_open(call, spec, sa_store_now())) {
        /* an unpublished phase that takes no submissions now is not revealed:
         * the same answer as a phase that does not exist */
        sa_phase_row_free(row);
        return sa_web_json_error(call->res, 404, "no phase '%s/%s'", call->arg[0], call->arg[1]), 0;
    }
    return 1;
}

/* Answers a refusal of the evaluator with its status code (429 with Retry-After
 * for the quota). */
int sa_api_answer_refusal(sa_web_call *call, const sa_submit_outcome *out) {
    switch (out->refusal) {
    case SA_SUBMIT_QUOTA: {
        double wait = ceil(out->next_slot - sa_store_now());
        snprintf(call->res->retry_after, sizeof call->res->retry_after, "%.0f", wait < 1 ? 1 : wait);
        return sa_web_json_error(call->res, 429, "%s", out->reason);
    }
    case SA_SUBMIT_NOT_OPEN:
    case SA_SUBMIT_CLOSED: return sa_web_json_error(call->res, 403, "%s", out->reason);
    case SA_SUBMIT_TOO_LARGE: return sa_web_json_error(call->res, 413, "%s", out->reason);
    case SA_SUBMIT_DUPLICATE: return sa_web_json_error(call->res, 409, "%s", out->reason);
    default: return sa_web_json_error(call->res, 400, "%s", out->reason);
    }
}

int sa_api_submit_checks(sa_web_call *call, uint64_t declared_bytes, uint64_t *max_bytes,
                         int64_t *phase_id, int64_t *team_id) {
    if (!sa_web_require_login(call)) return 0;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!sa_web_upload_phase(call, &phase, &spec)) return 0;
    sa_team_row team;
    sa_subject about;
    sa_web_subject(&phase, &spec, 0, &about);
    *phase_id = phase.id;
    sa_phase_row_free(&phase);
    if (!upload_team(call, &team)) return 0;
    about.team_id = *team_id = team.id;
    if (!sa_web_require(call, SA_ACT_SUBMIT, &about) || !sa_web_csrf_ok(call)) return 0;
    sa_submit_outcome out;
    sa_error err = {{0}};
    if (sa_quota_check(call->st, *phase_id, team.id, sa_store_now(), &out, &err))
        return sa_web_internal_error(call, &err), 0;
    if (out.refusal) return sa_api_answer_refusal(call, &out), 0;
    *max_bytes = spec.max_upload_bytes;
    if (declared_bytes > spec.max_upload_bytes)
        return sa_web_json_error(call->res, 413, "upload too large: more than the phase's %llu MiB",
                                 (unsigned long long)(spec.max_upload_bytes >> 20)), 0;
    return 1;
}

int sa_api_submit_preflight(sa_web_call *call, uint64_t declared_bytes, uint64_t *max_bytes) {
    int64_t phase_id, team_id;
    return sa_api_submit_checks(call, declared_bytes, max_bytes, &phase_id, &team_id);
}

/* Replaces every occurrence of the server's temporary path in a message with
 * "the upload" (a reason must not show the server's file names). */
static void hide_path(char *msg, size_t cap, const char *path) {
    static const char name[] = "the upload";
    size_t plen = strlen(path);
    char *hit;
    while (plen && (hit = strstr(msg, path))) {
        size_t tail = strlen(hit + plen);
        if ((size_t)(hit - msg) + sizeof name + tail > cap) break;
        memmove(hit + sizeof name - 1, hit + plen, tail + 1);
        memcpy(hit, name, sizeof name - 1);
    }
}

int sa_web_submit_upload(sa_web_call *call, int64_t phase_id, int64_t team_id,
                         sa_submit_outcome *out) {
    sa_submit_request req;
    memset(&req, 0, sizeof req);
    req.data_dir = call->ctx->data_dir;
    req.phase_id = phase_id;
    req.team_id = team_id;
    req.user_id = call->who.user_id;
    req.archive_path = call->req->upload_path;
    req.engine = SA_ENGINE_PODMAN; /* intake loads into podman's storage */
    req.display_name = "the upload";   /* reasons never name the server's paths */
    sa_error err = {{0}};
    if (sa_submit(call->st, &req, out, &err)) return sa_web_internal_error(call, &err), -1;
    hide_path(out->reason, sizeof out->reason, call->req->upload_path);
    /* the refusal as intake or the engine gave it, server paths and all: the
     * log's (the challenger's reason names none) */
    if (out->detail[0])
        sa_web_log(call->ctx, "submission %lld refused at intake: %s", (long long)out->submission_id,
                   out->detail);
    return 0;
}

int sa_api_submit(sa_web_call *call) {
    uint64_t max_bytes;
    int64_t phase_id, team_id;
    if (!sa_api_submit_checks(call, call->req->upload_bytes, &max_bytes, &phase_id, &team_id)) return 0;
    if (!call->req->upload_path)
        return sa_web_json_error(call->res, 400, "no upload received");
    sa_submit_outcome *out = malloc(sizeof *out);
    if (!out) return sa_web_json_error(call->res, 500, "out of memory");
    if (sa_web_submit_upload(call, phase_id, team_id, out)) {
        free(out);
        return 0;
    }
    int rc;
    if (out->refusal == SA_SUBMIT_INVALID && out->submission_id) {
        /* recorded, refused at intake: the answer says why */
        rc = sa_web_send_json(call->res, 201,
                              json_pack("{s:I,s:n,s:{s:s,s:o}}", "submission_id",
                                        (json_int_t)out->submission_id, "run_id", "intake",
                                        "status", "invalid", "reason",
                                        sa_web_json_text(out->reason)));
    } else if (out->refusal) {
        rc = sa_api_answer_refusal(call, out);
    } else {
        json_t *o = json_pack("{s:I,s:o,s:{s:s,s:n},s:o}", "submission_id",
                              (json_int_t)out->submission_id, "run_id",
                              out->run_id ? json_integer(out->run_id) : json_null(), "intake",
                              "status", "ready", "reason", "image_digest",
                              sa_web_json_text(out->image.config_digest));
        rc = sa_web_send_json(call->res, 201, o);
    }
    free(out);
    return rc;
}

/* ---- reading ---- */

static json_t *time_or_null(double t) {
    if (t <= 0) return json_null();
    char buf[32];
    sa_iso8601_format(t, buf);
    return json_string(buf);
}

int sa_api_submission(sa_web_call *call) {
    int64_t id;
    sa_web_parse_id(call->arg[0], &id);
    sa_submission_row sub;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!sa_web_submission_readable(call, id, &sub, &phase, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&phase, &spec, sub.team_id, &about);
    sa_error err = {{0}};
    sa_run_row *runs = NULL;
    size_t n = 0;
    json_t *o = NULL;
    if (sa_store_run_list(call->st, 0, sub.id, &runs, &n, &err) == 0) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < n; i++) {
            /* per-case results with the latest run only */
            json_t *r = sa_web_run_json(call, &runs[i], &spec, &about, i + 1 == n, &err);
            if (!r) {
                json_decref(list);
                list = NULL;
                break;
            }
            json_array_append_new(list, r);
        }
        if (list) {
            /* stored text may not be UTF-8 (rows of older versions): repaired */
            o = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:b,s:o,s:o}", "id",
                          (json_int_t)sub.id, "challenge", sa_web_json_text(phase.challenge),
                          "phase", sa_web_json_text(phase.name), "team",
                          sa_web_json_text(sub.team), "status", sa_web_json_text(sub.status),
                          "intake_reason", sa_web_json_text(sub.intake_reason), "image_digest",
                          sa_web_json_text(sub.image_digest), "upload_bytes",
                          (json_int_t)sub.upload_bytes, "selected", sub.selected, "created",
                          time_or_null(sub.created), "runs", list);
            if (!o) sa_error_set(&err, "submission %lld: cannot build its JSON", (long long)sub.id);
        }
    }
    sa_run_rows_free(runs, n);
    sa_submission_row_free(&sub);
    sa_phase_row_free(&phase);
    if (!o) return sa_web_internal_error(call, &err);
    return sa_web_send_json(call->res, 200, o);
}

/* One CSV field, quoted when it needs it. */
static void csv_field(sa_strbuf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        sa_strbuf_append(b, s);
        return;
    }
    sa_strbuf_append(b, "\"");
    for (const char *p = s; *p; p++) {
        char one[3] = {*p, *p == '"' ? '"' : '\0', '\0'};
        sa_strbuf_append(b, one);
    }
    sa_strbuf_append(b, "\"");
}

static int send_cases_csv(sa_web_call *call, json_t *cases, const sa_phase_spec *spec) {
    sa_strbuf b = {0};
    sa_strbuf_append(&b, "case_id,status,class,container_seconds,platform_seconds,exit_code");
    for (size_t m = 0; m < spec->n_metrics; m++) sa_strbuf_appendf(&b, ",%s", spec->metrics[m]);
    sa_strbuf_append(&b, "\r\n");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        csv_field(&b, json_string_value(json_object_get(c, "case_id")));
        sa_strbuf_append(&b, ",");
        csv_field(&b, json_string_value(json_object_get(c, "status")));
        sa_strbuf_append(&b, ",");
        csv_field(&b, json_string_value(json_object_get(c, "class")));
        json_t *exit_code = json_object_get(c, "exit_code");
        sa_strbuf_appendf(&b, ",%.3f,%.3f,", json_number_value(json_object_get(c, "container_seconds")),
                          json_number_value(json_object_get(c, "platform_seconds")));
        if (json_is_integer(exit_code)) sa_strbuf_appendf(&b, "%lld", (long long)json_integer_value(exit_code));
        json_t *scores = json_object_get(c, "scores");
        for (size_t m = 0; m < spec->n_metrics; m++) {
            json_t *v = json_object_get(scores, spec->metrics[m]);
            if (json_is_number(v)) sa_strbuf_appendf(&b, ",%.17g", json_number_value(v));
            else sa_strbuf_append(&b, ",");
        }
        sa_strbuf_append(&b, "\r\n");
    }
    json_decref(cases);
    size_t len;
    char *text = sa_strbuf_take(&b, &len);
    if (!text) return sa_web_json_error(call->res, 500, "out of memory");
    sa_web_set_body(call->res, 200, "text/csv; charset=utf-8", text, len);
    return 0;
}

int sa_api_submission_cases(sa_web_call *call) {
    int64_t id;
    sa_web_parse_id(call->arg[0], &id);
    char format[16];
    int has_format = sa_web_query(call->req->query, "format", format, sizeof format);
    if (has_format < 0 || (has_format && strcmp(format, "csv") && strcmp(format, "json")))
        return sa_web_json_error(call->res, 400, "format: csv or json");
    int csv = has_format && !strcmp(format, "csv");
    sa_submission_row sub;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!sa_web_submission_readable(call, id, &sub, &phase, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&phase, &spec, sub.team_id, &about);
    sa_submission_row_free(&sub);
    sa_phase_row_free(&phase);
    if (!sa_web_require(call, SA_ACT_READ_CASE_DETAILS, &about)) return 0;
    sa_error err = {{0}};
    sa_run_row *runs = NULL;
    size_t n = 0;
    if (sa_store_run_list(call->st, 0, id, &runs, &n, &err)) return sa_web_internal_error(call, &err);
    int64_t run_id = n ? runs[n - 1].id : 0;
    sa_run_rows_free(runs, n);
    if (!run_id) return sa_web_json_error(call->res, 404, "submission %lld has no run", (long long)id);
    int logs = !csv && sa_web_allowed(&call->who, SA_ACT_READ_LOGS, &about);
    int organiser = !csv && sa_web_allowed(&call->who, SA_ACT_MANAGE_RUNS, &about);
    json_t *cases = sa_web_cases_json(call, run_id, &spec, logs, organiser, &err);
    if (!cases) return sa_web_internal_error(call, &err);
    if (csv) return send_cases_csv(call, cases, &spec);
    return sa_web_send_json(call->res, 200,
                            json_pack("{s:I,s:I,s:o}", "submission_id", (json_int_t)id, "run_id",
                                      (json_int_t)run_id, "cases", cases));
}
