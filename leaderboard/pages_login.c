/*
 * pages_login.c: logging in and out with plain HTML forms. GET /login shows the
 * form (name, password, and where to go back: next); POST /login (urlencoded)
 * checks the password through sa_auth_login (rate limited: a 429 page with the
 * wait), sets the session cookie and answers 303 to next, which must be a local
 * path ("/...", never "//..." or "/\...": no open redirect), else "/"; a wrong
 * password shows the form again with a message (401); a form sent from another
 * site (Origin, Sec-Fetch-Site: login CSRF) is a 403 page. POST /logout needs the
 * session's CSRF token in the form's csrf field (403 without), ends the
 * session, clears the cookie and answers 303 to "/".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_internal.h"

#define MAX_NAME 64
#define MAX_NEXT 200

/* 1 when next is a path of this site: "/" then anything but a second '/' or a
 * backslash (browsers read "/\" as "//"), no control characters or spaces. */
static int local_path(const char *next) {
    if (next[0] != '/' || next[1] == '/' || next[1] == '\\') return 0;
    for (const unsigned char *p = (const unsigned char *)next; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '\\') return 0;
    return 1;
}

/* The next= of the form or the query, when it is a local path; else "/". */
static void next_of(const sa_web_call *call, char *next, size_t cap) {
    char given[MAX_NEXT + 1];
    int found = sa_web_form_value(call->req, "next", given, sizeof given);
    if (found != 1) found = sa_web_query(call->req->query, "next", given, sizeof given);
    snprintf(next, cap, "%s", found == 1 && local_path(given) ? given : "/");
}

/* The log-in page, with a message (or none) and the name typed before. */
static int login_page(sa_web_call *call, int status, const char *message, const char *name,
                      const char *next) {
    sa_page_viewer viewer;
    sa_page_viewer_of(call, NULL, &viewer);
    sa_strbuf b = {0};
    sa_render_page_open(&b, "Log in to SegArena", &viewer, 0);
    sa_strbuf_append(&b, "<h1>Log in</h1>\n");
    if (message) {
        sa_strbuf_append(&b, "<p class=\"message\" role=\"alert\">");
        sa_strbuf_append_html(&b, message);
        sa_strbuf_append(&b, "</p>\n");
    }
    if (call->who.role != SA_ROLE_PUBLIC) {
        sa_strbuf_append(&b, "<p>You are logged in as <strong>");
        sa_strbuf_append_html(&b, call->who.name);
        sa_strbuf_append(&b, "</strong>; logging in again replaces that session.</p>\n");
    }
    sa_strbuf_append(&b, "<form class=\"box\" method=\"post\" action=\"/login\">"
                         "<input type=\"hidden\" name=\"next\" value=\"");
    sa_strbuf_append_html(&b, next);
    sa_strbuf_append(&b, "\"/><label>Name <input type=\"text\" name=\"name\" "
                         "autocomplete=\"username\" required=\"required\" value=\"");
    sa_strbuf_append_html(&b, name ? name : "");
    sa_strbuf_append(&b, "\"/></label><label>Password <input type=\"password\" name=\"password\" "
                         "autocomplete=\"current-password\" required=\"required\"/></label>"
                         "<button type=\"submit\">Log in</button></form>\n"
                         "<p><a href=\"/\">All challenges</a></p>\n");
    size_t len;
    char *html = sa_render_page_close(&b, &len);
    return sa_page_send(call->res, status, html, len);
}

int sa_page_login_form(sa_web_call *call) {
    char next[MAX_NEXT + 1];
    next_of(call, next, sizeof next);
    return login_page(call, 200, NULL, NULL, next);
}

int sa_page_login(sa_web_call *call) {
    char why[200];
    if (!sa_web_same_origin(call->req, why, sizeof why)) return sa_page_error(call->res, 403, why);
    char next[MAX_NEXT + 1], name[MAX_NAME], password[SA_AUTH_MAX_PASSWORD + 1];
    next_of(call, next, sizeof next);
    int has_name = sa_web_form_value(call->req, "name", name, sizeof name);
    int has_password = sa_web_form_value(call->req, "password", password, sizeof password);
    if (has_name != 1 || has_password != 1 || !*name) {
        memset(password, 0, sizeof password);
        return login_page(call, 400, "Give a name and a password.", has_name == 1 ? name : "", next);
    }
    char cookie[128], csrf[80];
    double retry_after = 0;
    sa_error err = {{0}};
    int rc = sa_auth_login(call->st, name, password, call->req->client_ip, cookie, csrf,
                           &retry_after, &err);
    memset(password, 0, sizeof password);
    if (rc < 0) {
        sa_web_log(call->ctx, "POST /login: %s", err.msg);
        return sa_page_error(call->res, 500, "internal error");
    }
    if (rc == 1) {
        double wait = ceil(retry_after);
        snprintf(call->res->retry_after, sizeof call->res->retry_after, "%.0f", wait < 1 ? 1 : wait);
        char message[160];
        snprintf(message, sizeof message,
                 "Too many failed logins: try again in %s seconds.", call->res->retry_after);
        return login_page(call, 429, message, name, next);
    }
    if (rc == 2) return login_page(call, 401, "Wrong name or password.", name, next);
    /* the new session replaces the one of the request's cookie, if any */
    if (sa_auth_logout(call->st, call->req->cookie, &err)) {
        sa_web_log(call->ctx, "POST /login: %s", err.msg);
        return sa_page_error(call->res, 500, "internal error");
    }
    if (sa_auth_session_cookie(cookie, call->res->set_cookie, sizeof call->res->set_cookie)) {
        sa_web_log(call->ctx, "POST /login: the session cookie does not fit");
        return sa_page_error(call->res, 500, "internal error");
    }
    return sa_page_redirect(call->res, next);
}

int sa_page_logout(sa_web_call *call) {
    if (call->who.via_session) {
        if (!sa_web_csrf_ok(call)) return 0; /* 403, shown as a page */
        sa_error err = {{0}};
        if (sa_auth_logout(call->st, call->req->cookie, &err)) {
            sa_web_log(call->ctx, "POST /logout: %s", err.msg);
            return sa_page_error(call->res, 500, "internal error");
        }
    }
    sa_auth_session_cookie(NULL, call->res->set_cookie, sizeof call->res->set_cookie);
    return sa_page_redirect(call->res, "/");
}
