/*
 * test_auth.c: leaderboard/auth.c and the store's accounts: password hashes,
 * API tokens (identify, revoke, garbage), sessions (login, cookie, expiry,
 * logout), login rate limits (parallel attempts too), CSRF, and the v2 -> v3
 * migration's tables as the web layer uses them.
 */
#define _GNU_SOURCE /* mkdtemp, nftw, setenv */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_fixture.h"
#include "store_internal.h"
#include "web.h"

/* Fresh store with an organiser "olga" (password), a challenger "ann" in two
 * teams (password) and a token-only challenger "tim". */
typedef struct people {
    int64_t olga, ann, tim, team_a, team_b;
} people;

static sa_store *open_people(scratch *s, people *p) {
    sa_store *st = NULL;
    sa_error err = {{0}};
    char olga_hash[128], ann_hash[128];
    scratch_make(s);
    if (sa_store_open(s->data, 1, &st, &err) ||
        sa_auth_hash_password("olga-secret-1", olga_hash, &err) ||
        sa_auth_hash_password("ann-secret-22", ann_hash, &err) ||
        sa_store_user_add(st, "olga", "organiser", olga_hash, &p->olga, &err) ||
        sa_store_user_add(st, "ann", "challenger", ann_hash, &p->ann, &err) ||
        sa_store_user_add(st, "tim", "challenger", NULL, &p->tim, &err) ||
        sa_store_team_add(st, "lab-b", &p->team_b, &err) ||
        sa_store_team_add(st, "lab-a", &p->team_a, &err) ||
        sa_store_team_add_member(st, p->team_a, p->ann, &err) ||
        sa_store_team_add_member(st, p->team_b, p->ann, &err)) {
        fprintf(stderr, "open_people: %s\n", err.msg);
        exit(1);
    }
    return st;
}

static sa_http_request request(const char *authorization, const char *cookie) {
    sa_http_request r;
    memset(&r, 0, sizeof r);
    r.method = "GET";
    r.path = "/api/v1/challenges";
    r.authorization = authorization;
    r.cookie = cookie;
    r.client_ip = "10.0.0.1";
    return r;
}

/* ---- passwords ---- */

static void test_passwords(void) {
    char hash[128], again[128];
    sa_error err = {{0}};
    CHECK(sa_auth_hash_password("correct horse", hash, &err) == 0);
    CHECK(strncmp(hash, "$argon2id$", 10) == 0);
    CHECK(strstr(hash, "correct") == NULL);
    CHECK(sa_auth_check_password(hash, "correct horse") == 1);
    CHECK(sa_auth_check_password(hash, "correct horsf") == 0);
    CHECK(sa_auth_check_password(hash, "") == 0);
    CHECK(sa_auth_check_password(NULL, "correct horse") == 0);
    CHECK(sa_auth_check_password("not a hash", "correct horse") == 0);
    /* salted: the same password hashes differently */
    CHECK(sa_auth_hash_password("correct horse", again, &err) == 0);
    CHECK(strcmp(hash, again) != 0);
    CHECK(sa_auth_check_password(again, "correct horse") == 1);
    CHECK(sa_auth_hash_password("short", hash, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "too short");
    CHECK(sa_auth_hash_password(NULL, hash, &err) == -1);
}

static void test_secret_hash(void) {
    char hex[65];
    CHECK(sa_auth_secret_hash("abc", hex) == 0);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
}

/* ---- tokens ---- */

static void test_tokens(void) {
    scratch s;
    people p;
    sa_store *st = open_people(&s, &p);
    sa_error err = {{0}};
    char token[80], organiser_token[80], header[128], hash[65];
    CHECK(sa_auth_new_token(st, p.ann, "laptop", token, &err) == 0);
    CHECK(strncmp(token, "sa_", 3) == 0 && strlen(token) == 46);
    CHECK(strspn(token + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          43);
    CHECK(sa_auth_new_token(st, p.olga, NULL, organiser_token, &err) == 0);
    CHECK(strcmp(token, organiser_token) != 0);
    CHECK(sa_auth_new_token(st, 9999, "nobody", header, &err) == -1);
    CHECK(header[0] == '\0');

    /* the store keeps the hash, never the token */
    sa_auth_secret_hash(token, hash);
    sqlite3_stmt *stmt = NULL;
    CHECK(sqlite3_prepare_v2(sa_store_db(st), "SELECT token_hash FROM api_tokens ORDER BY id", -1,
                             &stmt, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW &&
          strcmp((const char *)sqlite3_column_text(stmt, 0), hash) == 0);
    sqlite3_finalize(stmt);

    /* Bearer: the right user, role and teams */
    sa_identity who;
    snprintf(header, sizeof header, "Bearer %s", token);
    sa_http_request req = request(header, NULL);
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0);
    CHECK(who.role == SA_ROLE_CHALLENGER);
    CHECK(who.user_id == p.ann && strcmp(who.name, "ann") == 0);
    CHECK(who.n_teams == 2);
    if (who.n_teams == 2) CHECK(who.teams[0] == p.team_b && who.teams[1] == p.team_a);
    CHECK(who.via_session == 0 && who.csrf[0] == '\0');
    CHECK(sa_auth_csrf_ok(&who, NULL) == 1); /* a token needs no CSRF token */

    snprintf(header, sizeof header, "  bearer   %s  ", organiser_token);
    req = request(header, NULL);
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0);
    CHECK(who.role == SA_ROLE_ORGANISER && who.user_id == p.olga && who.n_teams == 0);

    /* listed, with last use recorded */
    sa_token_row *rows = NULL;
    size_t n = 0;
    CHECK(sa_store_token_list(st, p.ann, &rows, &n, &err) == 0);
    CHECK(n == 1);
    int64_t ann_token_id = 0;
    if (n == 1) {
        CHECK(strcmp(rows[0].label, "laptop") == 0 && strcmp(rows[0].user, "ann") == 0);
        CHECK(rows[0].last_used > 0 && rows[0].revoked == 0);
        ann_token_id = rows[0].id;
    }
    free(rows);
    CHECK(sa_store_token_list(st, 0, &rows, &n, &err) == 0);
    CHECK(n == 2);
    free(rows);

    /* garbage, other schemes, revoked: errors, never the public */
    const char *bad[] = {"Bearer sa_nonsense", "Bearer", "Bearer    ", "Basic YW5uOnB3",
                         "sa_abc", "Bearer sa_a b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        req = request(bad[i], NULL);
        who.role = SA_ROLE_ORGANISER;
        CHECK(sa_auth_identify(st, &req, &who, &err) == -1);
        CHECK_STR_CONTAINS(err.msg, "invalid or expired token");
        CHECK(who.role == SA_ROLE_PUBLIC && who.user_id == 0);
    }
    char long_header[600];
    memset(long_header, 'x', sizeof long_header - 1);
    memcpy(long_header, "Bearer ", 7);
    long_header[sizeof long_header - 1] = '\0';
    req = request(long_header, NULL);
    CHECK(sa_auth_identify(st, &req, &who, &err) == -1);

    CHECK(sa_store_token_revoke(st, ann_token_id, &err) == 1);
    CHECK(sa_store_token_revoke(st, ann_token_id, &err) == 0); /* already */
    snprintf(header, sizeof header, "Bearer %s", token);
    req = request(header, NULL);
    CHECK(sa_auth_identify(st, &req, &who, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "invalid or expired token");
    sa_auth_secret_hash(organiser_token, hash);
    CHECK(sa_store_token_revoke_hash(st, hash, &err) == 1);
    snprintf(header, sizeof header, "Bearer %s", organiser_token);
    req = request(header, NULL);
    CHECK(sa_auth_identify(st, &req, &who, &err) == -1);
    CHECK(sa_store_token_revoke_hash(st, "not-a-hash", &err) == -1);

    /* nothing: the public */
    req = request(NULL, NULL);
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0);
    CHECK(who.role == SA_ROLE_PUBLIC && who.user_id == 0 && who.n_teams == 0);
    req = request("", "theme=dark; other=1");
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0);
    CHECK(who.role == SA_ROLE_PUBLIC);

    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- sessions ---- */

static void test_sessions(void) {
    scratch s;
    people p;
    sa_store *st = open_people(&s, &p);
    sa_error err = {{0}};
    char value[128], csrf[80], cookie[256];
    double retry = -1;
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.0.0.1", value, csrf, &retry, &err) == 0);
    CHECK(strlen(value) == 43 && strlen(csrf) == 43 && strcmp(value, csrf) != 0);
    CHECK(retry == 0);

    /* the store holds the hash of the cookie value only */
    sqlite3_stmt *stmt = NULL;
    CHECK(sqlite3_prepare_v2(sa_store_db(st), "SELECT session_hash, expires - created FROM sessions",
                             -1, &stmt, NULL) == SQLITE_OK);
    char hash[65];
    sa_auth_secret_hash(value, hash);
    CHECK(sqlite3_step(stmt) == SQLITE_ROW &&
          strcmp((const char *)sqlite3_column_text(stmt, 0), hash) == 0);
    CHECK_NEAR(sqlite3_column_double(stmt, 1), 43200, 1);
    sqlite3_finalize(stmt);

    /* the Set-Cookie value, and the browser sending it back among others */
    unsetenv("SEGARENA_SECURE_COOKIES");
    char set_cookie[512];
    CHECK(sa_auth_session_cookie(value, set_cookie, sizeof set_cookie) == 0);
    snprintf(cookie, sizeof cookie,
             "segarena_session=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200", value);
    CHECK(strcmp(set_cookie, cookie) == 0);
    setenv("SEGARENA_SECURE_COOKIES", "1", 1);
    CHECK(sa_auth_session_cookie(value, set_cookie, sizeof set_cookie) == 0);
    CHECK_STR_CONTAINS(set_cookie, "; Secure");
    unsetenv("SEGARENA_SECURE_COOKIES");
    CHECK(sa_auth_session_cookie(value, set_cookie, 40) == -1);
    CHECK(sa_auth_session_cookie(NULL, set_cookie, sizeof set_cookie) == 0);
    CHECK_STR_CONTAINS(set_cookie, "segarena_session=; ");
    CHECK_STR_CONTAINS(set_cookie, "Max-Age=0");

    snprintf(cookie, sizeof cookie, "theme=dark; segarena_session=%s; lang=en", value);
    sa_http_request req = request(NULL, cookie);
    sa_identity who;
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0);
    CHECK(who.role == SA_ROLE_CHALLENGER && who.user_id == p.ann && who.n_teams == 2);
    CHECK(who.via_session == 1 && strcmp(who.csrf, csrf) == 0);

    /* CSRF: a session's writes need its token */
    CHECK(sa_auth_csrf_ok(&who, csrf) == 1);
    CHECK(sa_auth_csrf_ok(&who, NULL) == 0);
    CHECK(sa_auth_csrf_ok(&who, "") == 0);
    char wrong[80];
    snprintf(wrong, sizeof wrong, "%s", csrf);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    CHECK(sa_auth_csrf_ok(&who, wrong) == 0);
    wrong[0] = csrf[0];
    wrong[42] = '\0';
    CHECK(sa_auth_csrf_ok(&who, wrong) == 0); /* a prefix */
    sa_identity public_who;
    memset(&public_who, 0, sizeof public_who);
    CHECK(sa_auth_csrf_ok(&public_who, NULL) == 1); /* no session: permissions decide */

    /* a Bearer token wins over the cookie */
    char token[80], header[128];
    CHECK(sa_auth_new_token(st, p.olga, "ci", token, &err) == 0);
    snprintf(header, sizeof header, "Bearer %s", token);
    req = request(header, cookie);
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0);
    CHECK(who.user_id == p.olga && who.via_session == 0);

    /* an unknown or empty cookie value */
    req = request(NULL, "segarena_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    CHECK(sa_auth_identify(st, &req, &who, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "invalid or expired token");
    req = request(NULL, "segarena_session=");
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0 && who.role == SA_ROLE_PUBLIC);
    req = request(NULL, "xsegarena_session=abc");
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0 && who.role == SA_ROLE_PUBLIC);

    /* an expired session */
    char old_hash[65];
    sa_auth_secret_hash("an-old-session-value", old_hash);
    CHECK(sa_store_session_add(st, p.ann, old_hash, "old-csrf", sa_store_now() - 1, &err) == 0);
    req = request(NULL, "segarena_session=an-old-session-value");
    CHECK(sa_auth_identify(st, &req, &who, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "invalid or expired token");
    sa_user_row user;
    char got_csrf[80];
    CHECK(sa_store_session_user(st, old_hash, sa_store_now() - 10, &user, got_csrf, &err) == 1);
    CHECK(strcmp(got_csrf, "old-csrf") == 0 && user.id == p.ann);
    sa_user_row_free(&user);

    /* logout ends it; the same cookie then fails */
    CHECK(sa_auth_logout(st, cookie, &err) == 0);
    req = request(NULL, cookie);
    CHECK(sa_auth_identify(st, &req, &who, &err) == -1);
    CHECK(sa_auth_logout(st, cookie, &err) == 0);      /* again: nothing to do */
    CHECK(sa_auth_logout(st, NULL, &err) == 0);
    CHECK(sa_auth_logout(st, "theme=dark", &err) == 0);

    /* a password change ends the user's sessions */
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.0.0.1", value, csrf, &retry, &err) == 0);
    snprintf(cookie, sizeof cookie, "segarena_session=%s", value);
    req = request(NULL, cookie);
    CHECK(sa_auth_identify(st, &req, &who, &err) == 0 && who.user_id == p.ann);
    char new_hash[128];
    CHECK(sa_auth_hash_password("ann-new-secret", new_hash, &err) == 0);
    CHECK(sa_store_user_set_password(st, p.ann, new_hash, &err) == 0);
    CHECK(sa_auth_identify(st, &req, &who, &err) == -1);
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.0.0.1", value, csrf, &retry, &err) == 2);
    CHECK(sa_auth_login(st, "ann", "ann-new-secret", "10.0.0.1", value, csrf, &retry, &err) == 0);
    CHECK(sa_store_user_set_password(st, 9999, new_hash, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "not found");

    /* a token-only user cannot log in with any password */
    CHECK(sa_auth_login(st, "tim", "", "10.0.0.2", value, csrf, &retry, &err) == 2);
    CHECK(value[0] == '\0');
    CHECK(sa_auth_login(st, "tim", "anything-at-all", "10.0.0.2", value, csrf, &retry, &err) ==
          2);

    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- rate limits ---- */

static void test_rate_limits(void) {
    scratch s;
    people p;
    sa_store *st = open_people(&s, &p);
    sa_error err = {{0}};
    char value[128], csrf[80];
    double retry = -1;

    /* ann logs in from 10.1.1.1: that address is known for her name */
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.1.1.1", value, csrf, &retry, &err) == 0);
    /* five failures for a name are allowed (from several addresses) ... */
    for (int i = 0; i < SA_AUTH_MAX_FAILED_PER_USER; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.1.0.%d", i);
        CHECK(sa_auth_login(st, "ann", "wrong-password", ip, value, csrf, &retry, &err) == 2);
        CHECK(retry == 0);
    }
    CHECK_STR_CONTAINS(err.msg, "wrong user name or password");
    /* ... then the name is closed to those addresses, the right password too */
    CHECK(sa_auth_login(st, "ann", "wrong-password", "10.1.0.0", value, csrf, &retry, &err) == 1);
    CHECK(retry > 0 && retry <= SA_AUTH_LOGIN_WINDOW_SECONDS);
    CHECK_STR_CONTAINS(err.msg, "too many failed logins");
    retry = -1;
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.1.0.4", value, csrf, &retry, &err) == 1);
    CHECK(retry > 0 && value[0] == '\0' && csrf[0] == '\0');
    /* limited attempts are not counted (they would extend the lock-out) */
    int64_t count = 0;
    double oldest = 0;
    CHECK(sa_store_login_attempts(st, "user:ann", 0, &count, &oldest, &err) == 0);
    CHECK(count == SA_AUTH_MAX_FAILED_PER_USER && oldest > 0);
    /* addresses the name was never logged in from get no guess on a closed name,
     * however many they are (one guess each would be no limit at all) ... */
    for (int i = 0; i < 50; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.1.2.%d", i);
        retry = -1;
        CHECK(sa_auth_login(st, "ann", "wrong-password", ip, value, csrf, &retry, &err) == 1);
        CHECK(retry > 0);
    }
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.1.1.2", value, csrf, &retry, &err) == 1);
    CHECK(sa_store_login_attempts(st, "user:ann", 0, &count, NULL, &err) == 0);
    CHECK(count == SA_AUTH_MAX_FAILED_PER_USER);
    /* ... but whoever failed on a name cannot lock its owner out: an address it
     * was logged in from lately still gets in */
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.1.1.1", value, csrf, &retry, &err) == 0);
    CHECK(value[0] != '\0');
    /* a known address may mistype, until it has failed on the name as often as
     * the name may fail from anywhere */
    for (int i = 0; i < SA_AUTH_MAX_FAILED_PER_USER; i++)
        CHECK(sa_auth_login(st, "ann", "wrong-password", "10.1.1.1", value, csrf, &retry, &err) ==
              2);
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.1.1.1", value, csrf, &retry, &err) == 1);
    /* a log-in older than SA_AUTH_KNOWN_ADDRESS_SECONDS does not count */
    CHECK(sa_store_login_attempt_set(st, "known:10.1.1.3@ann",
                                     sa_store_now() - SA_AUTH_KNOWN_ADDRESS_SECONDS - 60, &err) == 0);
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.1.1.3", value, csrf, &retry, &err) == 1);
    CHECK(sa_store_login_attempt_set(st, "known:10.1.1.3@ann",
                                     sa_store_now() - SA_AUTH_KNOWN_ADDRESS_SECONDS + 60, &err) == 0);
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.1.1.3", value, csrf, &retry, &err) == 0);
    /* the ceiling of a name: SA_AUTH_MAX_FAILED_PER_USER_ALL failures close it
     * to known addresses too */
    for (int i = 0; i < 8; i++) {
        char key[64];
        snprintf(key, sizeof key, "known:10.1.3.%d@ann", i);
        CHECK(sa_store_login_attempt_set(st, key, sa_store_now(), &err) == 0);
    }
    int checked = 0, refused = 0;
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < SA_AUTH_MAX_FAILED_PER_USER; k++) {
            char ip[32];
            snprintf(ip, sizeof ip, "10.1.3.%d", i);
            int rc = sa_auth_login(st, "ann", "wrong-password", ip, value, csrf, &retry, &err);
            checked += rc == 2;
            refused += rc == 1;
        }
    CHECK(checked == SA_AUTH_MAX_FAILED_PER_USER_ALL - 2 * SA_AUTH_MAX_FAILED_PER_USER);
    CHECK(refused == 8 * SA_AUTH_MAX_FAILED_PER_USER - checked);
    CHECK(sa_auth_login(st, "ann", "ann-secret-22", "10.1.1.3", value, csrf, &retry, &err) == 1);
    /* other users are not affected */
    CHECK(sa_auth_login(st, "olga", "olga-secret-1", "10.1.0.0", value, csrf, &retry, &err) == 0);

    /* an address: twenty failures over any names, then limited */
    for (int i = 0; i < SA_AUTH_MAX_FAILED_PER_IP; i++) {
        char name[32];
        snprintf(name, sizeof name, "guess%d", i);
        CHECK(sa_auth_login(st, name, "wrong-password", "192.0.2.7", value, csrf, &retry, &err) ==
              2);
    }
    CHECK(sa_auth_login(st, "olga", "olga-secret-1", "192.0.2.7", value, csrf, &retry, &err) == 1);
    CHECK(retry > 0);
    CHECK(sa_auth_login(st, "olga", "olga-secret-1", "192.0.2.8", value, csrf, &retry, &err) == 0);
    /* an IPv6 address counts by its /64 (a host holds a whole one) */
    for (int i = 0; i < SA_AUTH_MAX_FAILED_PER_IP; i++) {
        char ip[64], name[32];
        snprintf(ip, sizeof ip, "2001:db8:1:2::%x", i + 1);
        snprintf(name, sizeof name, "guess%d", i);
        CHECK(sa_auth_login(st, name, "wrong-password", ip, value, csrf, &retry, &err) == 2);
    }
    CHECK(sa_auth_login(st, "olga", "olga-secret-1", "2001:db8:1:2:ffff::9", value, csrf, &retry,
                        &err) == 1);
    CHECK(sa_auth_login(st, "olga", "olga-secret-1", "2001:db8:1:3::1", value, csrf, &retry,
                        &err) == 0);

    /* attempts older than the window do not count */
    CHECK(sa_store_login_attempt_add(st, "user:olga", sa_store_now() - 1000, &err) == 0);
    CHECK(sa_store_login_attempts(st, "user:olga", sa_store_now() - SA_AUTH_LOGIN_WINDOW_SECONDS,
                                  &count, NULL, &err) == 0);
    CHECK(count == 0);
    /* a success forgets that address's failures on the name (not the others') */
    for (int i = 0; i < SA_AUTH_MAX_FAILED_PER_USER - 1; i++)
        CHECK(sa_auth_login(st, "olga", "nope-nope", "10.2.0.1", value, csrf, &retry, &err) == 2);
    CHECK(sa_auth_login(st, "olga", "olga-secret-1", "10.2.0.1", value, csrf, &retry, &err) == 0);
    CHECK(sa_store_login_attempts(st, "pair:10.2.0.1@olga", 0, &count, NULL, &err) == 0);
    CHECK(count == 0);
    CHECK(sa_store_login_attempts(st, "user:olga", sa_store_now() - SA_AUTH_LOGIN_WINDOW_SECONDS,
                                  &count, NULL, &err) == 0);
    CHECK(count == SA_AUTH_MAX_FAILED_PER_USER - 1);
    CHECK(sa_auth_login(st, "olga", "nope-nope", "10.2.0.2", value, csrf, &retry, &err) == 2);
    CHECK(sa_auth_login(st, "olga", "nope-nope", "10.2.0.2", value, csrf, &retry, &err) == 1);
    CHECK(sa_auth_login(st, "olga", "olga-secret-1", "10.2.0.1", value, csrf, &retry, &err) == 0);
    /* attempts older than a day are pruned when one is added; known addresses
     * are kept for SA_LOGIN_KNOWN_KEEP_SECONDS */
    CHECK(sa_store_login_attempt_add(st, "user:x", sa_store_now() - 90000, &err) == 0);
    CHECK(sa_store_login_attempt_set(st, "known:10.4.0.1@x", sa_store_now() - 90000, &err) == 0);
    CHECK(sa_store_login_attempt_set(st, "known:10.4.0.2@x",
                                     sa_store_now() - SA_LOGIN_KNOWN_KEEP_SECONDS - 60, &err) == 0);
    CHECK(sa_store_login_attempt_add(st, "user:y", sa_store_now(), &err) == 0);
    CHECK(sa_store_login_attempts(st, "user:x", 0, &count, NULL, &err) == 0);
    CHECK(count == 0);
    CHECK(sa_store_login_attempts(st, "known:10.4.0.1@x", 0, &count, NULL, &err) == 0);
    CHECK(count == 1);
    CHECK(sa_store_login_attempts(st, "known:10.4.0.2@x", 0, &count, NULL, &err) == 0);
    CHECK(count == 0);
    /* a name keeps its SA_LOGIN_KNOWN_PER_NAME newest known addresses; another
     * name's marks, one ending like it ("a@x" ends in "@x"), are not counted */
    CHECK(sa_store_login_attempt_set(st, "known:10.5.0.1@a@x", sa_store_now() - 500, &err) == 0);
    CHECK(sa_store_login_attempt_set(st, "known:10.5.0.1@xx", sa_store_now() - 500, &err) == 0);
    for (int i = 0; i < SA_LOGIN_KNOWN_PER_NAME + 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "known:10.6.0.%d@x", i);
        CHECK(sa_store_login_attempt_set(st, key, sa_store_now() - 400 + i, &err) == 0);
    }
    int64_t kept = 0;
    for (int i = 0; i < SA_LOGIN_KNOWN_PER_NAME + 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "known:10.6.0.%d@x", i);
        CHECK(sa_store_login_attempts(st, key, 0, &count, NULL, &err) == 0);
        /* the newest stay: 10.4.0.1@x (older) and the 3 oldest of these go */
        CHECK(count == (i >= 3));
        kept += count;
    }
    CHECK(kept == SA_LOGIN_KNOWN_PER_NAME);
    CHECK(sa_store_login_attempts(st, "known:10.4.0.1@x", 0, &count, NULL, &err) == 0);
    CHECK(count == 0);
    CHECK(sa_store_login_attempts(st, "known:10.5.0.1@a@x", 0, &count, NULL, &err) == 0);
    CHECK(count == 1);
    CHECK(sa_store_login_attempts(st, "known:10.5.0.1@xx", 0, &count, NULL, &err) == 0);
    CHECK(count == 1);

    /* an unknown user fails like a wrong password */
    CHECK(sa_auth_login(st, "nobody", "whatever-1", "10.3.0.1", value, csrf, &retry, &err) == 2);
    CHECK(sa_auth_login(st, NULL, NULL, NULL, value, csrf, NULL, &err) == 2);

    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- parallel logins: the limit holds ---- */

#define PARALLEL_THREADS 8
#define PARALLEL_TRIES 2

typedef struct parallel_login {
    const char *data;
    int checked, limited, errors;
} parallel_login;

static void *parallel_login_main(void *arg) {
    parallel_login *pl = arg;
    sa_store *st = NULL;
    sa_error err = {{0}};
    if (sa_store_open(pl->data, 0, &st, &err)) {
        pl->errors++;
        return NULL;
    }
    char value[128], csrf[80];
    double retry;
    for (int i = 0; i < PARALLEL_TRIES; i++) {
        int rc = sa_auth_login(st, "ann", "wrong-password", "10.9.0.1", value, csrf, &retry, &err);
        if (rc == 2) pl->checked++;
        else if (rc == 1) pl->limited++;
        else pl->errors++;
    }
    sa_store_close(st);
    return NULL;
}

/* Wrong passwords for one name from threads with their own store handles, all
 * at once: no more than the limit get their password checked (the attempt is
 * counted before the check, in the transaction that judges it). */
static void test_parallel_logins(void) {
    scratch s;
    people p;
    sa_store *st = open_people(&s, &p);
    parallel_login pl[PARALLEL_THREADS];
    pthread_t threads[PARALLEL_THREADS];
    int started[PARALLEL_THREADS];
    for (int i = 0; i < PARALLEL_THREADS; i++) {
        memset(&pl[i], 0, sizeof pl[i]);
        pl[i].data = s.data;
        started[i] = pthread_create(&threads[i], NULL, parallel_login_main, &pl[i]) == 0;
        CHECK(started[i]);
    }
    int checked = 0, limited = 0, errors = 0;
    for (int i = 0; i < PARALLEL_THREADS; i++) {
        if (started[i]) pthread_join(threads[i], NULL);
        checked += pl[i].checked;
        limited += pl[i].limited;
        errors += pl[i].errors;
    }
    if (checked > SA_AUTH_MAX_FAILED_PER_USER)
        fprintf(stderr, "parallel logins: %d passwords checked, the limit is %d\n", checked,
                SA_AUTH_MAX_FAILED_PER_USER);
    CHECK(errors == 0);
    CHECK(checked == SA_AUTH_MAX_FAILED_PER_USER);
    CHECK(limited == PARALLEL_THREADS * PARALLEL_TRIES - SA_AUTH_MAX_FAILED_PER_USER);
    int64_t count = 0;
    sa_error err = {{0}};
    CHECK(sa_store_login_attempts(st, "user:ann", 0, &count, NULL, &err) == 0);
    CHECK(count == SA_AUTH_MAX_FAILED_PER_USER);
    sa_store_close(st);
    scratch_remove(&s);
}

/* ---- store: users ---- */

static void test_user_queries(void) {
    scratch s;
    people p;
    sa_store *st = open_people(&s, &p);
    sa_error err = {{0}};
    sa_user_row *users = NULL;
    size_t n = 0;
    CHECK(sa_store_user_list(st, &users, &n, &err) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(strcmp(users[0].name, "ann") == 0 && users[0].password_hash != NULL);
        CHECK(strcmp(users[1].name, "olga") == 0 && strcmp(users[1].role, "organiser") == 0);
        CHECK(strcmp(users[2].name, "tim") == 0 && users[2].password_hash == NULL);
    }
    sa_user_rows_free(users, n);
    int64_t teams[4];
    size_t nt = 99;
    CHECK(sa_store_user_teams(st, p.ann, teams, 4, &nt, &err) == 0 && nt == 2);
    CHECK(sa_store_user_teams(st, p.ann, teams, 1, &nt, &err) == 0 && nt == 1);
    CHECK(teams[0] == p.team_b);
    CHECK(sa_store_user_teams(st, p.tim, teams, 4, &nt, &err) == 0 && nt == 0);
    CHECK(sa_store_user_set_password(st, p.tim, NULL, &err) == 0);
    sa_store_close(st);
    scratch_remove(&s);
}

int main(void) {
    umask(022);
    (void)world_open; /* the fixture's submission world is not needed here */
    (void)result_of;
    test_passwords();
    test_secret_hash();
    test_tokens();
    test_sessions();
    test_rate_limits();
    test_parallel_logins();
    test_user_queries();
    return test_report("test_auth");
}
