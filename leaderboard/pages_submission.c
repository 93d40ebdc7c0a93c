/*
 * pages_submission.c: a submission as the browser shows it, to the owner team's
 * members and organisers (404 for anyone else, a log-in redirect for the
 * public): its status, the intake's result and reason, the image digest, each
 * run (status, progress, failures per class, queue position, the aggregate
 * where allowed: pages_run.c) with a link to its live page; the latest run's
 * per-case table (case id, class, container and platform time, ranked metrics)
 * only where sa_web_allowed says READ_CASE_DETAILS, so in a hidden phase a
 * challenger sees the counts per class and nothing per case; links to case
 * logs only with READ_LOGS, served as text/plain by the log route. The page
 * refreshes itself while a run is queued or running.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"
#include "server_internal.h"

#define REFRESH_SECONDS 3
#define MAX_LOG_BYTES (256 * 1024)

/* The submission of the path, readable by the caller: 1 (rows filled), or 0
 * answered (the public: to the log-in page; another team: 404). */
static int readable(sa_web_call *call, sa_submission_row *sub, sa_phase_row *phase,
                    sa_phase_spec *spec) {
    if (call->who.role == SA_ROLE_PUBLIC) return sa_page_login_redirect(call), 0;
    int64_t id;
    sa_web_parse_id(call->arg[0], &id);
    if (sa_web_submission_readable(call, id, sub, phase, spec)) return 1;
    if (call->res->status == 403 || call->res->status == 404)
        sa_page_error(call->res, 404, "No such submission.");
    return 0;
}

static void fact(sa_strbuf *b, const char *name, const char *value) {
    sa_strbuf_append(b, "<dt>");
    sa_strbuf_append(b, name);
    sa_strbuf_append(b, "</dt><dd>");
    sa_strbuf_append_html(b, value);
    sa_strbuf_append(b, "</dd>");
}

/* The ranked metrics' values of a case against the consensus, as cells. */
static void score_cells(sa_strbuf *b, const char *result_json, const sa_phase_spec *spec) {
    json_error_t jerr;
    json_t *root = result_json ? json_loads(result_json, 0, &jerr) : NULL;
    json_t *consensus = json_object_get(root, "consensus");
    for (size_t k = 0; k < spec->n_ranked; k++) {
        json_t *v = json_object_get(consensus, spec->ranked[k].name);
        sa_strbuf_append(b, "<td>");
        if (json_is_number(v)) sa_strbuf_append_metric_number(b, spec->ranked[k].name, json_number_value(v));
        else sa_strbuf_append(b, SA_RENDER_NO_VALUE);
        sa_strbuf_append(b, "</td>");
    }
    json_decref(root);
}

/* The latest run's cases: one row each (the caller may see case details). */
static int case_table(sa_web_call *call, sa_strbuf *b, const sa_submission_row *sub,
                      const sa_run_row *run, const sa_phase_spec *spec, int logs, sa_error *err) {
    sa_case_result_row *rows = NULL;
    size_t n = 0;
    if (sa_store_case_results(call->st, run->id, &rows, &n, err)) return -1;
    sa_strbuf_appendf(b, "<h2>Cases of run %lld</h2>\n", (long long)run->id);
    if (n == 0) sa_strbuf_append(b, "<p>No case finished yet.</p>\n");
    if (n) {
        sa_strbuf_append(b, "<div class=\"wrap\"><table class=\"cases\"><thead><tr>"
                            "<th scope=\"col\" class=\"team\">case</th>"
                            "<th scope=\"col\" class=\"team\">class</th>"
                            "<th scope=\"col\">container (s)</th><th scope=\"col\">platform (s)</th>");
        for (size_t k = 0; k < spec->n_ranked; k++) {
            sa_strbuf_append(b, "<th scope=\"col\">");
            sa_strbuf_append_html(b, spec->ranked[k].name);
            sa_strbuf_append(b, "</th>");
        }
        if (logs) sa_strbuf_append(b, "<th scope=\"col\">log</th>");
        sa_strbuf_append(b, "</tr></thead><tbody>\n");
    }
    for (size_t i = 0; i < n; i++) {
        const sa_case_result_row *r = &rows[i];
        int failed = strcmp(r->status, "succeeded") != 0;
        sa_strbuf_append(b, "<tr><td class=\"team\">");
        sa_strbuf_append_html(b, r->case_id);
        sa_strbuf_appendf(b, "</td><td class=\"team %s\">", failed ? "bad" : "ok");
        sa_strbuf_append_html(b, r->error_class);
        sa_strbuf_append(b, "</td><td>");
        sa_strbuf_append_number(b, r->container_seconds);
        sa_strbuf_append(b, "</td><td>");
        sa_strbuf_append_number(b, r->platform_seconds);
        sa_strbuf_append(b, "</td>");
        score_cells(b, r->result_json, spec);
        if (logs) {
            sa_strbuf_append(b, "<td>");
            if (r->log_path && sa_dataset_id_valid(r->case_id)) {
                sa_strbuf_appendf(b, "<a href=\"/submissions/%lld/cases/", (long long)sub->id);
                sa_render_path_segment(b, r->case_id);
                sa_strbuf_append(b, "/log\">log</a>");
            } else {
                sa_strbuf_append(b, SA_RENDER_NO_VALUE);
            }
            sa_strbuf_append(b, "</td>");
        }
        sa_strbuf_append(b, "</tr>\n");
    }
    if (n) sa_strbuf_append(b, "</tbody></table></div>\n");
    sa_case_result_rows_free(rows, n);
    return 0;
}

/* The page's body below the facts: each run, then the latest run's cases. */
static int runs_section(sa_web_call *call, sa_strbuf *b, const sa_submission_row *sub,
                        const sa_run_row *runs, size_t n, const sa_phase_spec *spec,
                        const sa_subject *about, sa_error *err) {
    if (n == 0) {
        sa_strbuf_append(b, !strcmp(sub->status, "ready")
                                ? "<p>No evaluation run yet: the organisers start it.</p>\n"
                                : "<p>An archive refused at intake is not evaluated (and does not "
                                  "count against the quota).</p>\n");
        return 0;
    }
    for (size_t i = n; i-- > 0;) {
        sa_strbuf_appendf(b, "<h2><a href=\"/runs/%lld\">Run %lld</a></h2>\n", (long long)runs[i].id,
                          (long long)runs[i].id);
        if (sa_page_run_block(call, b, &runs[i], spec, about, err)) return -1;
    }
    if (sa_web_allowed(&call->who, SA_ACT_READ_CASE_DETAILS, about))
        return case_table(call, b, sub, &runs[n - 1], spec,
                          sa_web_allowed(&call->who, SA_ACT_READ_LOGS, about), err);
    sa_strbuf_append(b, "<p>This phase shows no per-case results: only how many cases succeeded "
                        "and how many failed in each class.</p>\n");
    return 0;
}

int sa_page_submission(sa_web_call *call) {
    sa_submission_row sub;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!readable(call, &sub, &phase, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&phase, &spec, sub.team_id, &about);
    sa_error err = {{0}};
    sa_run_row *runs = NULL;
    size_t n = 0;
    int rc = sa_store_run_list(call->st, 0, sub.id, &runs, &n, &err);
    int active = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!strcmp(runs[i].status, "queued") || !strcmp(runs[i].status, "running")) active = 1;

    char title[64];
    snprintf(title, sizeof title, "Submission %lld", (long long)sub.id);
    sa_page_viewer viewer;
    sa_page_viewer_of(call, call->req->path, &viewer);
    sa_strbuf b = {0};
    sa_render_page_open(&b, title, &viewer, active ? REFRESH_SECONDS : 0);
    sa_strbuf_append(&b, "<h1>");
    sa_strbuf_append_html(&b, title);
    sa_strbuf_append(&b, "</h1>\n<dl class=\"facts\">");
    sa_strbuf_append(&b, "<dt>phase</dt><dd>");
    int board_visible =
        phase.published || sa_web_allowed(&call->who, SA_ACT_READ_UNPUBLISHED_BOARD, &about);
    if (board_visible) {
        sa_strbuf_append(&b, "<a href=\"/challenges/");
        sa_render_path_segment(&b, phase.challenge);
        sa_strbuf_append(&b, "/phases/");
        sa_render_path_segment(&b, phase.name);
        sa_strbuf_append(&b, "\">");
    }
    sa_strbuf_append_html(&b, phase.challenge);
    sa_strbuf_append(&b, "/");
    sa_strbuf_append_html(&b, phase.name);
    if (board_visible) sa_strbuf_append(&b, "</a>");
    sa_strbuf_append(&b, "</dd>");
    fact(&b, "team", sub.team);
    sa_strbuf_appendf(&b, "<dt>intake</dt><dd class=\"intake %s\">",
                      strcmp(sub.status, "ready") ? "bad" : "ok");
    sa_strbuf_append_html(&b, sub.status);
    sa_strbuf_append(&b, "</dd>");
    if (sub.intake_reason) fact(&b, "reason", sub.intake_reason);
    if (sub.image_digest[0]) {
        sa_strbuf_append(&b, "<dt>image digest</dt><dd><code>");
        sa_strbuf_append_html(&b, sub.image_digest);
        sa_strbuf_append(&b, "</code></dd>");
    }
    sa_strbuf_appendf(&b, "<dt>upload</dt><dd>%.1f MiB</dd>", (double)sub.upload_bytes / 1048576.0);
    char created[32];
    sa_iso8601_format(sub.created, created);
    fact(&b, "submitted", created);
    sa_strbuf_append(&b, "</dl>\n");
    if (rc == 0) rc = runs_section(call, &b, &sub, runs, n, &spec, &about, &err);
    if (active)
        sa_strbuf_appendf(&b, "<p><small>This page refreshes itself every %d seconds while a run is "
                              "queued or running.</small></p>\n",
                          REFRESH_SECONDS);
    sa_run_rows_free(runs, n);
    sa_submission_row_free(&sub);
    sa_phase_row_free(&phase);
    return sa_page_finish(call, &b, rc, &err);
}

/* The last MAX_LOG_BYTES of a log file under the data directory, or NULL. */
static char *read_log(const char *data_dir, const char *rel, size_t *len) {
    if (!rel || strstr(rel, "..") || rel[0] == '/') return NULL;
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", data_dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(MAX_LOG_BYTES + 1);
    size_t n = 0;
    if (buf && fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > MAX_LOG_BYTES) fseek(f, size - MAX_LOG_BYTES, SEEK_SET);
        else fseek(f, 0, SEEK_SET);
        n = fread(buf, 1, MAX_LOG_BYTES, f);
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = n;
    return buf;
}

int sa_page_case_log(sa_web_call *call) {
    sa_submission_row sub;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!readable(call, &sub, &phase, &spec)) return 0;
    sa_subject about;
    sa_web_subject(&phase, &spec, sub.team_id, &about);
    int64_t sub_id = sub.id;
    sa_submission_row_free(&sub);
    sa_phase_row_free(&phase);
    if (!sa_web_allowed(&call->who, SA_ACT_READ_LOGS, &about))
        return sa_page_error(call->res, 403, "This phase does not show logs.");
    sa_error err = {{0}};
    sa_run_row *runs = NULL;
    size_t n = 0;
    if (sa_store_run_list(call->st, 0, sub_id, &runs, &n, &err)) return sa_web_internal_error(call, &err);
    int64_t run_id = n ? runs[n - 1].id : 0;
    sa_run_rows_free(runs, n);
    sa_case_result_row r;
    int found = run_id ? sa_store_case_result_get(call->st, run_id, call->arg[1], &r, &err) : 0;
    if (found < 0) return sa_web_internal_error(call, &err);
    if (!found) return sa_page_error(call->res, 404, "No such case in the latest run.");
    size_t len = 0;
    char *text = read_log(call->ctx->data_dir, r.log_path, &len);
    sa_case_result_row_free(&r);
    if (!text) return sa_page_error(call->res, 404, "No log was kept for this case.");
    sa_web_set_body(call->res, 200, "text/plain; charset=utf-8", text, len);
    return 0;
}
