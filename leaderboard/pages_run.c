/*
 * pages_run.c: an evaluation run as the browser shows it, to the owner team or
 * an organiser. GET /runs/{id} is the live progress page: status, a progress
 * bar (done/total), succeeded, failed per class, the queue position, an
 * estimate of the time left, and the run's aggregate where allowed (published
 * phase, or case details: the same rule as the API); while the run is queued
 * or running the page refreshes itself every few seconds (<meta refresh>, no
 * JavaScript), and once done it links to the leaderboard. The same block of
 * status and progress is the submission page's view of each of its runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render_internal.h"
#include "server_internal.h"

#define REFRESH_SECONDS 3

static int run_active(const sa_run_row *run) {
    return !strcmp(run->status, "queued") || !strcmp(run->status, "running");
}

static void append_duration(sa_strbuf *b, double seconds) {
    if (seconds < 90) sa_strbuf_appendf(b, "%.0f s", seconds < 1 ? 1 : seconds);
    else if (seconds < 5400) sa_strbuf_appendf(b, "%.0f min", seconds / 60);
    else sa_strbuf_appendf(b, "%.1f h", seconds / 3600);
}

/* The aggregate of a run as the viewer may see it (sa_web_run_aggregate:
 * {"metrics": {"dice": {"mean", "std", "n"}}}) as a small table, ranked metrics
 * first as the spec lists them. Takes root. */
static void aggregate_table(sa_strbuf *b, json_t *root, const sa_phase_spec *spec) {
    json_t *metrics = json_object_get(root, "metrics");
    if (!json_is_object(metrics)) {
        json_decref(root);
        return;
    }
    sa_strbuf_append(b, "<h3>Aggregate</h3><div class=\"wrap\"><table><thead><tr>"
                        "<th scope=\"col\" class=\"team\">metric</th><th scope=\"col\">mean "
                        "\xC2\xB1 std</th><th scope=\"col\">cases</th></tr></thead><tbody>");
    for (size_t m = 0; m < spec->n_metrics; m++) {
        json_t *one = json_object_get(metrics, spec->metrics[m]);
        if (!json_is_object(one)) continue;
        json_t *mean = json_object_get(one, "mean"), *std = json_object_get(one, "std");
        sa_strbuf_append(b, "<tr><td class=\"team\">");
        sa_strbuf_append_html(b, spec->metrics[m]);
        sa_strbuf_append(b, "</td><td>");
        if (json_is_number(mean)) {
            sa_strbuf_append_metric_number(b, spec->metrics[m], json_number_value(mean));
            if (json_is_number(std)) {
                sa_strbuf_append(b, " \xC2\xB1 ");
                sa_strbuf_append_metric_number(b, spec->metrics[m], json_number_value(std));
            } else { /* withheld (a hidden phase under 4 values) or none: the board's words */
                sa_strbuf_append(b, " <small>std not shown</small>");
            }
        } else {
            sa_strbuf_append(b, SA_RENDER_NO_VALUE);
        }
        sa_strbuf_appendf(b, "</td><td>%lld</td></tr>",
                          (long long)json_integer_value(json_object_get(one, "n")));
    }
    sa_strbuf_append(b, "</tbody></table></div>\n");
    json_decref(root);
}

int sa_page_run_block(sa_web_call *call, sa_strbuf *b, const sa_run_row *run,
                      const sa_phase_spec *spec, const sa_subject *about, sa_error *err) {
    sa_run_view view;
    if (sa_web_run_view(call, run, about, &view, err)) return -1;
    const sa_run_progress *p = &view.progress;
    int64_t left = p->queued + p->running;
    sa_strbuf_append(b, "<dl class=\"facts\"><dt>status</dt><dd class=\"run-status\">");
    sa_strbuf_append_html(b, run->status);
    sa_strbuf_append(b, "</dd><dt>kind</dt><dd>");
    sa_strbuf_append_html(b, run->kind);
    sa_strbuf_append(b, "</dd>");
    if (!view.counts_shown) /* a hidden phase's run going on (run_view.c) */
        sa_strbuf_append(b, "<dt>progress</dt><dd class=\"progress-hidden\">shown once the run "
                            "is over (this phase shows nothing per case, not even as it "
                            "happens)</dd>");
    else {
        sa_strbuf_appendf(b, "<dt>progress</dt><dd><progress max=\"%lld\" value=\"%lld\">"
                             "%lld/%lld</progress> <span class=\"progress\">%lld/%lld cases done"
                             "</span></dd><dt>succeeded</dt><dd>%lld</dd><dt>failed</dt><dd>%lld",
                          (long long)(p->total ? p->total : 1), (long long)p->done,
                          (long long)p->done, (long long)p->total, (long long)p->done,
                          (long long)p->total, (long long)p->succeeded, (long long)p->failed);
        if (view.n) {
            sa_strbuf_append(b, " (");
            for (size_t i = 0; i < view.n; i++) {
                if (i) sa_strbuf_append(b, ", ");
                sa_strbuf_append_html(b, view.classes[i]);
                sa_strbuf_appendf(b, ": %lld", (long long)view.counts[i]);
            }
            sa_strbuf_append(b, ")");
        }
        sa_strbuf_append(b, "</dd>");
    }
    if (run_active(run) && view.counts_shown) {
        /* runs ahead, not their cases: a count of cases would move as each
         * case of another (hidden) run starts */
        if (p->queued && p->runs_ahead > 0)
            sa_strbuf_appendf(b, "<dt>queue</dt><dd>%lld earlier %s ahead</dd>",
                              (long long)p->runs_ahead, p->runs_ahead == 1 ? "run" : "runs");
        else if (p->queued && !p->running)
            sa_strbuf_append(b, "<dt>queue</dt><dd>next</dd>");
        if (left && p->mean_case_seconds > 0) {
            sa_strbuf_append(b, "<dt>time left</dt><dd>about ");
            append_duration(b, (double)left * p->mean_case_seconds);
            sa_strbuf_append(b, " <small>(the mean time per case so far, one case at a time)"
                                "</small></dd>");
        }
    }
    sa_web_run_view_free(&view);
    char created[32], finished[32];
    sa_iso8601_format(run->created, created);
    sa_strbuf_append(b, "<dt>created</dt><dd>");
    sa_strbuf_append_html(b, created);
    sa_strbuf_append(b, "</dd>");
    if (run->finished > 0) {
        sa_iso8601_format(run->finished, finished);
        sa_strbuf_append(b, "<dt>finished</dt><dd>");
        sa_strbuf_append_html(b, finished);
        sa_strbuf_append(b, "</dd>");
    }
    sa_strbuf_append(b, "</dl>\n");
    /* aggregate scores: once published (hidden phases), or with case details;
     * what the viewer may see of them (run_view.c) */
    json_t *agg = sa_web_run_aggregate(call, run, about);
    if (agg) aggregate_table(b, agg, spec);
    return 0;
}

int sa_page_run(sa_web_call *call) {
    if (call->who.role == SA_ROLE_PUBLIC) return sa_page_login_redirect(call);
    int64_t id;
    sa_web_parse_id(call->arg[0], &id);
    sa_error err = {{0}};
    sa_run_row run;
    int found = sa_store_run_get(call->st, id, &run, &err);
    if (found < 0) return sa_web_internal_error(call, &err);
    if (!found) return sa_page_error(call->res, 404, "No such run.");
    sa_submission_row sub;
    sa_phase_row phase;
    sa_phase_spec spec;
    if (!sa_web_submission_readable(call, run.submission_id, &sub, &phase, &spec)) {
        sa_run_row_free(&run);
        /* another team's run is not revealed */
        if (call->res->status == 403 || call->res->status == 404)
            return sa_page_error(call->res, 404, "No such run.");
        return 0;
    }
    sa_subject about;
    sa_web_subject(&phase, &spec, sub.team_id, &about);
    int active = run_active(&run);
    char title[96];
    snprintf(title, sizeof title, "Run %lld", (long long)run.id);
    sa_page_viewer viewer;
    sa_page_viewer_of(call, call->req->path, &viewer);
    sa_strbuf b = {0};
    sa_render_page_open(&b, title, &viewer, active ? REFRESH_SECONDS : 0);
    sa_strbuf_appendf(&b, "<h1>Run %lld of submission <a href=\"/submissions/%lld\">%lld</a></h1>\n"
                          "<p>Team <strong>",
                      (long long)run.id, (long long)sub.id, (long long)sub.id);
    sa_strbuf_append_html(&b, sub.team);
    sa_strbuf_append(&b, "</strong>, phase ");
    sa_strbuf_append_html(&b, phase.challenge);
    sa_strbuf_append(&b, "/");
    sa_strbuf_append_html(&b, phase.name);
    sa_strbuf_append(&b, ".</p>\n");
    int rc = sa_page_run_block(call, &b, &run, &spec, &about, &err);
    if (active)
        sa_strbuf_appendf(&b, "<p><small>This page refreshes itself every %d seconds while the run "
                              "is queued or running.</small></p>\n",
                          REFRESH_SECONDS);
    else if (!strcmp(run.status, "done")) {
        sa_strbuf_append(&b, "<p class=\"ok\">The run is done. ");
        if (phase.published || sa_web_allowed(&call->who, SA_ACT_READ_UNPUBLISHED_BOARD, &about)) {
            sa_strbuf_append(&b, "<a class=\"board\" href=\"/challenges/");
            sa_render_path_segment(&b, phase.challenge);
            sa_strbuf_append(&b, "/phases/");
            sa_render_path_segment(&b, phase.name);
            sa_strbuf_append(&b, "\">See the leaderboard</a>.");
        } else {
            sa_strbuf_append(&b, "The leaderboard of this phase is not published yet.");
        }
        sa_strbuf_append(&b, "</p>\n");
    }
    sa_run_row_free(&run);
    sa_submission_row_free(&sub);
    sa_phase_row_free(&phase);
    return sa_page_finish(call, &b, rc, &err);
}
