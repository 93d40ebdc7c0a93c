/*
 * api_auth.c: browser log-in and log-out. A password login (rate limited by
 * auth.c: 429 with Retry-After) sets the session cookie (HttpOnly,
 * SameSite=Strict) and answers the session's CSRF token, which every later
 * write of that session must send as X-CSRF-Token; it ends the session of the
 * request's cookie, if any (logging in again replaces that session). A stale
 * cookie does not block either route (router.c: the public). API clients use tokens
 * (`segarena user token NAME`) instead and need neither. A log-in sent by a
 * browser from another site (Origin, Sec-Fetch-Site) is refused with 403
 * (forwarded.c), so that no page elsewhere can log a visitor into its account.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "server_internal.h"

#define MAX_NAME 64

int sa_api_login(sa_web_call *call) {
    char why[200];
    if (!sa_web_same_origin(call->req, why, sizeof why))
        return sa_web_json_error(call->res, 403, "%s", why);
    json_error_t jerr;
    json_t *body = json_loadb(call->req->body ? call->req->body : "", call->req->body_len,
                              JSON_REJECT_DUPLICATES, &jerr);
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!body || !json_is_object(body) || !name || !password || strlen(name) >= MAX_NAME ||
        strlen(password) > SA_AUTH_MAX_PASSWORD) {
        json_decref(body);
        return sa_web_json_error(call->res, 400,
                                 "give {\"name\": ..., \"password\": ...} as JSON");
    }
    char cookie[128], csrf[80];
    double retry_after = 0;
    sa_error err = {{0}};
    int rc = sa_auth_login(call->st, name, password, call->req->client_ip, cookie, csrf,
                           &retry_after, &err);
    json_t *answer = NULL;
    if (rc == 0) answer = json_pack("{s:o,s:s}", "user", sa_web_json_text(name), "csrf_token", csrf);
    json_decref(body);
    if (rc < 0) return sa_web_internal_error(call, &err);
    if (rc == 1) {
        double wait = ceil(retry_after);
        snprintf(call->res->retry_after, sizeof call->res->retry_after, "%.0f", wait < 1 ? 1 : wait);
        return sa_web_json_error(call->res, 429, "too many failed logins: try again in %s s",
                                 call->res->retry_after);
    }
    if (rc == 2) return sa_web_json_error(call->res, 401, "wrong name or password");
    /* the new session replaces the one of the request's cookie, if any */
    if (sa_auth_logout(call->st, call->req->cookie, &err)) {
        json_decref(answer);
        return sa_web_internal_error(call, &err);
    }
    if (sa_auth_session_cookie(cookie, call->res->set_cookie, sizeof call->res->set_cookie)) {
        json_decref(answer);
        sa_error_set(&err, "the session cookie does not fit");
        return sa_web_internal_error(call, &err);
    }
    return sa_web_send_json(call->res, 200, answer);
}

int sa_api_logout(sa_web_call *call) {
    if (call->who.via_session) {
        if (!sa_web_csrf_ok(call)) return 0;
        sa_error err = {{0}};
        if (sa_auth_logout(call->st, call->req->cookie, &err)) return sa_web_internal_error(call, &err);
    }
    sa_auth_session_cookie(NULL, call->res->set_cookie, sizeof call->res->set_cookie);
    return sa_web_send_json(call->res, 200, json_pack("{s:b}", "logged_out", 1));
}
