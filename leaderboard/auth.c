/*
 * auth.c: who is asking. Passwords are Argon2id hashes (libsodium, interactive
 * limits); API tokens and browser sessions are random 32-byte secrets of which
 * the store keeps only the sha256, so a copy of the database lets nobody in;
 * sessions carry a CSRF token for writes; password logins are rate limited per
 * client address and per user name, a name with too many failures staying open
 * only to the addresses it was logged in from lately (so that nobody can lock its
 * owner out, and nobody with many addresses can go on guessing). Nothing here
 * prints or logs a secret.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "web.h"

/* Secrets are this many random bytes, written as unpadded base64url. */
#define SECRET_BYTES 32
#define SECRET_TEXT_MAX 64 /* 43 characters + NUL, with room */
#define TOKEN_PREFIX "sa_"
/* Longer credentials in a request are not ours: refused before hashing. */
#define CREDENTIAL_MAX 256

#define INVALID_CREDENTIALS "invalid or expired token"

/* A hash of a random password nobody knows, with the interactive limits: an
 * unknown user's login costs the same verification as a known one's. (Sized as
 * libsodium declares its hash strings.) */
static const char dummy_password_hash[crypto_pwhash_STRBYTES] =
    "$argon2id$v=19$m=65536,t=2,p=1$Q5hzP48lTBD8iCGMBHjEuA$"
    "XUbHKGTU/t7Lx5c/OdFFODMqfqqJM+5nIBF9HwpAAKA";

/* sodium_init is idempotent and thread-safe; every entry point calls it. */
static int start_sodium(sa_error *err) {
    if (sodium_init() < 0) return sa_error_set(err, "libsodium could not start");
    return 0;
}

/* ---- passwords ---- */

int sa_auth_hash_password(const char *password, char out[128], sa_error *err) {
    _Static_assert(crypto_pwhash_STRBYTES <= 128, "password hash fits its buffer");
    out[0] = '\0';
    if (start_sodium(err)) return -1;
    size_t len = password ? strlen(password) : 0;
    if (len < SA_AUTH_MIN_PASSWORD)
        return sa_error_set(err, "password too short (at least %d characters)",
                            SA_AUTH_MIN_PASSWORD);
    if (len > SA_AUTH_MAX_PASSWORD)
        return sa_error_set(err, "password too long (at most %d bytes)", SA_AUTH_MAX_PASSWORD);
    if (crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return sa_error_set(err, "password hashing failed (out of memory)");
    return 0;
}

int sa_auth_check_password(const char *hash, const char *password) {
    if (sodium_init() < 0 || !hash || !password) return 0;
    size_t len = strlen(password);
    if (len > SA_AUTH_MAX_PASSWORD) return 0;
    return crypto_pwhash_str_verify(hash, password, len) == 0;
}

/* ---- secrets ---- */

int sa_auth_secret_hash(const char *secret, char hex[65]) {
    hex[0] = '\0';
    if (sodium_init() < 0 || !secret) return -1;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)secret, strlen(secret));
    sodium_bin2hex(hex, 65, digest, sizeof digest);
    sodium_memzero(digest, sizeof digest);
    return 0;
}

/* SECRET_BYTES random bytes as unpadded base64url (43 characters). */
static void new_secret(char out[SECRET_TEXT_MAX]) {
    unsigned char bytes[SECRET_BYTES];
    randombytes_buf(bytes, sizeof bytes);
    sodium_bin2base64(out, SECRET_TEXT_MAX, bytes, sizeof bytes,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(bytes, sizeof bytes);
}

int sa_auth_new_token(sa_store *st, int64_t user_id, const char *label, char token_out[80],
                      sa_error *err) {
    token_out[0] = '\0';
    if (start_sodium(err)) return -1;
    char secret[SECRET_TEXT_MAX], token[80], hash[65];
    new_secret(secret);
    snprintf(token, sizeof token, TOKEN_PREFIX "%s", secret);
    sodium_memzero(secret, sizeof secret);
    sa_auth_secret_hash(token, hash);
    int rc = sa_store_token_add(st, user_id, hash, label, NULL, err);
    if (rc == 0) memcpy(token_out, token, sizeof token);
    sodium_memzero(token, sizeof token);
    return rc == 0 ? 0 : -1;
}

/* ---- identifying a request ---- */

/* The token of "Bearer <token>" (scheme case-insensitive, spaces around), copied
 * into out: 1, or 0 when the header is something else. */
static int bearer_token(const char *header, char *out, size_t cap) {
    while (*header == ' ' || *header == '\t') header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t')) return 0;
    const char *p = header + 6;
    while (*p == ' ' || *p == '\t') p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    if (len == 0 || len >= cap) return 0;
    memcpy(out, p, len);
    out[len] = '\0';
    return 1;
}

/* The value of the session cookie in a Cookie header ("a=1; segarena_session=v"):
 * 1 found (non-empty), 0 none, -1 present but too long to be ours. */
static int session_cookie_value(const char *header, char *out, size_t cap) {
    static const char name[] = SA_AUTH_SESSION_COOKIE;
    const size_t name_len = sizeof name - 1;
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ';') p++;
        const char *end = strchr(p, ';');
        size_t pair_len = end ? (size_t)(end - p) : strlen(p);
        if (pair_len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            const char *v = p + name_len + 1;
            size_t len = pair_len - name_len - 1;
            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
            if (len == 0) return 0;
            if (len >= cap) return -1;
            memcpy(out, v, len);
            out[len] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

static int role_of(const char *role, sa_role *out) {
    if (!strcmp(role, "organiser")) *out = SA_ROLE_ORGANISER;
    else if (!strcmp(role, "challenger")) *out = SA_ROLE_CHALLENGER;
    else return -1;
    return 0;
}

/* Fills who from the user row (role, name, teams). */
static int identity_of_user(sa_store *st, const sa_user_row *user, sa_identity *who,
                            sa_error *err) {
    if (role_of(user->role, &who->role))
        return sa_error_set(err, "user '%s' has an unknown role '%s'", user->name, user->role);
    who->user_id = user->id;
    snprintf(who->name, sizeof who->name, "%s", user->name);
    return sa_store_user_teams(st, user->id, who->teams, SA_WEB_MAX_TEAMS, &who->n_teams, err);
}

int sa_auth_identify(sa_store *st, const sa_http_request *req, sa_identity *who, sa_error *err) {
    memset(who, 0, sizeof *who);
    who->role = SA_ROLE_PUBLIC;
    if (start_sodium(err)) return -1;
    char secret[CREDENTIAL_MAX], hash[65];
    sa_user_row user;
    int found;

    if (req->authorization && req->authorization[strspn(req->authorization, " \t")]) {
        if (!bearer_token(req->authorization, secret, sizeof secret))
            return sa_error_set(err, INVALID_CREDENTIALS);
        sa_auth_secret_hash(secret, hash);
        sodium_memzero(secret, sizeof secret);
        found = sa_store_token_user(st, hash, &user, err);
    } else {
        int has_cookie = req->cookie ? session_cookie_value(req->cookie, secret, sizeof secret) : 0;
        if (has_cookie == 0) return 0; /* the public */
        if (has_cookie < 0) return sa_error_set(err, INVALID_CREDENTIALS);
        sa_auth_secret_hash(secret, hash);
        sodium_memzero(secret, sizeof secret);
        found = sa_store_session_user(st, hash, sa_store_now(), &user, who->csrf, err);
        who->via_session = 1;
    }
    if (found < 0) {
        memset(who, 0, sizeof *who);
        return -1;
    }
    if (found == 0) {
        memset(who, 0, sizeof *who);
        return sa_error_set(err, INVALID_CREDENTIALS);
    }
    int rc = identity_of_user(st, &user, who, err);
    sa_user_row_free(&user);
    if (rc) {
        memset(who, 0, sizeof *who);
        who->role = SA_ROLE_PUBLIC;
        return -1;
    }
    return 0;
}

/* ---- logins ---- */

/* Seconds until a limited key has fewer than `limit` attempts in the window. */
static double wait_for(double oldest, double now) {
    double wait = oldest + SA_AUTH_LOGIN_WINDOW_SECONDS - now;
    return wait < 1 ? 1 : wait;
}

/* The keys of a login attempt, in the order judge_login reads their counts: the
 * name, the address, the name from that address (failures), and the name's
 * log-ins from that address (a mark, only counted). */
enum { KEY_USER, KEY_IP, KEY_PAIR, KEY_KNOWN, N_KEYS };

_Static_assert(SA_AUTH_KNOWN_ADDRESS_SECONDS <= SA_LOGIN_KNOWN_KEEP_SECONDS,
               "the store keeps a known address as long as it counts");
_Static_assert(SA_AUTH_MAX_FAILED_PER_USER < SA_AUTH_MAX_FAILED_PER_USER_ALL,
               "the ceiling of a name is above the count that closes it");

/* The address as its limit counts it: an IPv6 address by its /64 (one host
 * commonly holds a whole /64), anything else as it is. */
static void address_key(const char *client_ip, char *out, size_t cap) {
    const char *ip = client_ip && *client_ip ? client_ip : "unknown";
    unsigned char a6[16];
    char text[INET6_ADDRSTRLEN];
    if (strchr(ip, ':') && inet_pton(AF_INET6, ip, a6) == 1) {
        memset(a6 + 8, 0, 8);
        if (inet_ntop(AF_INET6, a6, text, sizeof text)) {
            snprintf(out, cap, "%s/64", text);
            return;
        }
    }
    snprintf(out, cap, "%.64s", ip);
}

typedef struct login_judgement {
    double now;
    double wait; /* > 0: limited, for this long */
} login_judgement;

/* Judges the attempts so far (pending ones included), inside the store's
 * transaction: non-zero when a limit is reached. */
static int judge_login(const int64_t *counts, const double *oldest, size_t n, void *ctx) {
    login_judgement *j = ctx;
    j->wait = 0;
    if (n != N_KEYS) return 1;
    if (counts[KEY_USER] >= SA_AUTH_MAX_FAILED_PER_USER_ALL) {
        /* the ceiling of a name: closed to every address */
        j->wait = wait_for(oldest[KEY_USER], j->now);
    } else if (counts[KEY_USER] >= SA_AUTH_MAX_FAILED_PER_USER) {
        /* a closed name stays open only to the addresses it was logged in from
         * lately (its owner's: nobody can lock the owner out by failing on its
         * name, and nobody gets more guesses by having more addresses), each
         * until it has failed on the name as often itself */
        if (counts[KEY_KNOWN] == 0)
            j->wait = wait_for(oldest[KEY_USER], j->now);
        else if (counts[KEY_PAIR] >= SA_AUTH_MAX_FAILED_PER_USER)
            j->wait = wait_for(oldest[KEY_PAIR], j->now);
    }
    if (counts[KEY_IP] >= SA_AUTH_MAX_FAILED_PER_IP && wait_for(oldest[KEY_IP], j->now) > j->wait)
        j->wait = wait_for(oldest[KEY_IP], j->now);
    return j->wait > 0;
}

int sa_auth_login(sa_store *st, const char *name, const char *password, const char *client_ip,
                  char cookie_value_out[128], char csrf_out[80], double *retry_after,
                  sa_error *err) {
    cookie_value_out[0] = '\0';
    csrf_out[0] = '\0';
    if (retry_after) *retry_after = 0;
    if (start_sodium(err)) return -1;
    if (!name) name = "";
    if (!password) password = "";
    /* keys as the limits are kept: the name cut to what a user name can be */
    char address[80], user_key[80], ip_key[90], pair_key[160], known_key[160];
    address_key(client_ip, address, sizeof address);
    snprintf(user_key, sizeof user_key, "user:%.63s", name);
    snprintf(ip_key, sizeof ip_key, "ip:%s", address);
    snprintf(pair_key, sizeof pair_key, "pair:%s@%.63s", address, name);
    snprintf(known_key, sizeof known_key, SA_LOGIN_KNOWN_PREFIX "%s@%.63s", address, name);

    /* the attempt is counted (pending) before its password is checked, in the
     * same transaction as the counts it is judged by: attempts made in parallel
     * cannot all pass a limit; a wrong password leaves it as a failure */
    double now = sa_store_now();
    double since = now - SA_AUTH_LOGIN_WINDOW_SECONDS;
    const sa_login_key keys[N_KEYS] = {
        {user_key, since, 0},
        {ip_key, since, 0},
        {pair_key, since, 0},
        {known_key, now - SA_AUTH_KNOWN_ADDRESS_SECONDS, 1},
    };
    int64_t pending[N_KEYS];
    login_judgement judgement = {now, 0};
    int limited = sa_store_login_attempt_reserve(st, keys, N_KEYS, now, judge_login, &judgement,
                                                 pending, err);
    if (limited < 0) return -1;
    if (limited) {
        double wait = judgement.wait > 0 ? judgement.wait : 1;
        if (retry_after) *retry_after = wait;
        sa_error_set(err, "too many failed logins; try again in %.0f s", wait);
        return 1;
    }

    sa_user_row user;
    int found = sa_store_user_get(st, name, &user, err);
    if (found < 0) return -1;
    int has_password = found == 1 && user.password_hash != NULL;
    /* the same work whether or not the user exists and has a password */
    int right = sa_auth_check_password(has_password ? user.password_hash : dummy_password_hash,
                                       password) &&
                has_password;
    int64_t user_id = found == 1 ? user.id : 0;
    if (found == 1) sa_user_row_free(&user);
    if (!right) { /* the pending attempt stays: a failure */
        sa_error_set(err, "wrong user name or password");
        return 2;
    }
    if (sa_store_login_attempt_release(st, pending, N_KEYS, err)) return -1;

    char value[SECRET_TEXT_MAX], csrf[SECRET_TEXT_MAX], hash[65];
    new_secret(value);
    new_secret(csrf);
    sa_auth_secret_hash(value, hash);
    if (sa_store_session_add(st, user_id, hash, csrf, sa_store_now() + SA_AUTH_SESSION_SECONDS, err) ||
        sa_store_login_attempts_clear(st, pair_key, err) ||
        sa_store_login_attempt_set(st, known_key, now, err)) {
        sodium_memzero(value, sizeof value);
        return -1;
    }
    snprintf(cookie_value_out, 128, "%s", value);
    snprintf(csrf_out, 80, "%s", csrf);
    sodium_memzero(value, sizeof value);
    return 0;
}

int sa_auth_logout(sa_store *st, const char *cookie_header, sa_error *err) {
    if (start_sodium(err)) return -1;
    char secret[CREDENTIAL_MAX], hash[65];
    if (!cookie_header || session_cookie_value(cookie_header, secret, sizeof secret) != 1)
        return 0;
    sa_auth_secret_hash(secret, hash);
    sodium_memzero(secret, sizeof secret);
    return sa_store_session_delete(st, hash, err) < 0 ? -1 : 0;
}

int sa_auth_session_cookie(const char *value, char *out, size_t size) {
    const char *secure_env = getenv("SEGARENA_SECURE_COOKIES");
    int secure = secure_env && !strcmp(secure_env, "1");
    int clear = !value || !*value;
    int n = snprintf(out, size, "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s",
                     SA_AUTH_SESSION_COOKIE, clear ? "" : value,
                     clear ? 0 : SA_AUTH_SESSION_SECONDS, secure ? "; Secure" : "");
    if (n < 0 || (size_t)n >= size) {
        if (size) out[0] = '\0';
        return -1;
    }
    return 0;
}

int sa_auth_csrf_ok(const sa_identity *who, const char *token) {
    if (!who || !who->via_session) return 1;
    size_t expected = strnlen(who->csrf, sizeof who->csrf);
    if (expected == 0 || !token || strlen(token) != expected) return 0;
    return sodium_memcmp(who->csrf, token, expected) == 0;
}
