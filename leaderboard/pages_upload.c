/*
 * pages_upload.c: the browser's upload. On a phase's page, a viewer who may
 * submit for one of their teams, while the phase is open, gets a form (POST,
 * multipart/form-data, to /challenges/{c}/phases/{p}/submissions) whose hidden
 * csrf field and team select come before the file input, so that they arrive
 * before the file. server.c reads that body with upload_form.c: identity, the
 * phase and the declared size are checked before the body (the preflight
 * here), every check of the API upload (team, permission, CSRF from the form,
 * dates, quota) once the fields are read and before any byte of the file is
 * kept, the phase's max_upload_mb while the file streams to disk. The POST
 * itself hands the file to sa_submit and answers 303 to the submission's page
 * (also for an archive refused at intake: that page says why), or an error
 * page with the evaluator's reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

static void append_time(sa_strbuf *b, double t) {
    char text[32];
    sa_iso8601_format(t, text);
    sa_strbuf_append_html(b, text);
}

int sa_page_upload_form(sa_web_call *call, const sa_phase_row *row, const sa_phase_spec *spec,
                        sa_strbuf *out) {
    double now = sa_store_now();
    if (call->who.role == SA_ROLE_PUBLIC || call->who.n_teams == 0) return 0;
    if (spec->opens > 0 && now < spec->opens) {
        sa_strbuf_append(out, "<p>Submissions open at ");
        append_time(out, spec->opens);
        sa_strbuf_append(out, ".</p>\n");
        return 0;
    }
    if (spec->closes > 0 && now >= spec->closes) {
        sa_strbuf_append(out, "<p>Submissions closed at ");
        append_time(out, spec->closes);
        sa_strbuf_append(out, ".</p>\n");
        return 0;
    }
    sa_strbuf options = {0};
    size_t n_options = 0;
    sa_error err = {{0}};
    for (size_t i = 0; i < call->who.n_teams && i < SA_WEB_MAX_TEAMS; i++) {
        sa_subject about;
        sa_web_subject(row, spec, call->who.teams[i], &about);
        if (!sa_web_allowed(&call->who, SA_ACT_SUBMIT, &about)) continue;
        sa_team_row team;
        int found = sa_store_team_get_by_id(call->st, call->who.teams[i], &team, &err);
        if (found < 0) {
            free(sa_strbuf_take(&options, NULL));
            sa_web_internal_error(call, &err);
            return -1;
        }
        if (!found) continue;
        sa_strbuf_append(&options, "<option value=\"");
        sa_strbuf_append_html(&options, team.name);
        sa_strbuf_append(&options, "\">");
        sa_strbuf_append_html(&options, team.name);
        sa_strbuf_append(&options, "</option>");
        n_options++;
    }
    char *teams = sa_strbuf_take(&options, NULL);
    if (n_options == 0 || !teams) {
        free(teams);
        return 0;
    }
    sa_strbuf_append(out, "<section class=\"upload\"><h2>Submit a method</h2>\n"
                          "<form class=\"box\" method=\"post\" enctype=\"multipart/form-data\" "
                          "action=\"/challenges/");
    sa_render_path_segment(out, row->challenge);
    sa_strbuf_append(out, "/phases/");
    sa_render_path_segment(out, row->name);
    sa_strbuf_append(out, "/submissions\"><input type=\"hidden\" name=\"csrf\" value=\"");
    sa_strbuf_append_html(out, call->who.via_session ? call->who.csrf : "");
    sa_strbuf_append(out, "\"/><label>Team <select name=\"team\">");
    sa_strbuf_append(out, teams);
    sa_strbuf_append(out, "</select></label><label>Image archive (<code>podman save</code> or "
                          "<code>docker save</code> tar) <input type=\"file\" name=\"archive\" "
                          "required=\"required\"/></label><button type=\"submit\">Upload</button>"
                          "</form>\n<p><small>");
    sa_strbuf_appendf(out, "At most %llu MiB.", (unsigned long long)(spec->max_upload_bytes >> 20));
    if (spec->quota_submissions > 0)
        sa_strbuf_appendf(out, " %d %s per team every %g %s.", spec->quota_submissions,
                          spec->quota_submissions == 1 ? "submission" : "submissions",
                          spec->quota_days, spec->quota_days == 1 ? "day" : "days");
    sa_strbuf_append(out, " See <code>docs/containers.md</code> for what an image must do."
                          "</small></p></section>\n");
    free(teams);
    return 0;
}

int sa_page_submit_preflight(sa_web_call *call, uint64_t declared_bytes, uint64_t *max_bytes) {
    if (!sa_web_require_login(call)) return 0;
    sa_phase_row row;
    sa_phase_spec spec;
    /* a hidden phase is 404 here too (its size limit answered 413 to anyone) */
    if (!sa_web_upload_phase(call, &row, &spec)) return 0;
    sa_phase_row_free(&row);
    *max_bytes = spec.max_upload_bytes;
    if (declared_bytes > spec.max_upload_bytes + SA_WEB_FORM_OVERHEAD)
        return sa_web_json_error(call->res, 413, "upload too large: more than the phase's %llu MiB",
                                 (unsigned long long)(spec.max_upload_bytes >> 20)), 0;
    return 1;
}

int sa_page_submit(sa_web_call *call) {
    uint64_t max_bytes;
    int64_t phase_id, team_id;
    if (!sa_api_submit_checks(call, call->req->upload_bytes, &max_bytes, &phase_id, &team_id))
        return 0; /* the JSON error becomes a page (router.c) */
    if (!call->req->upload_path || call->req->upload_bytes == 0)
        return sa_page_error(call->res, 400, "Choose an image archive (a .tar file) to upload.");
    sa_submit_outcome *out = malloc(sizeof *out);
    if (!out) return sa_page_error(call->res, 500, "out of memory");
    if (sa_web_submit_upload(call, phase_id, team_id, out)) {
        free(out);
        return 0;
    }
    int rc;
    if (out->submission_id && (!out->refusal || out->refusal == SA_SUBMIT_INVALID)) {
        /* ready, or recorded and refused at intake: its page says which */
        char location[64];
        snprintf(location, sizeof location, "/submissions/%lld", (long long)out->submission_id);
        rc = sa_page_redirect(call->res, location);
    } else {
        rc = sa_api_answer_refusal(call, out);
    }
    free(out);
    return rc;
}
