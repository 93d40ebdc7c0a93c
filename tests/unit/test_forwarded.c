/*
 * test_forwarded.c: leaderboard/forwarded.c: the trusted proxy list, the
 * client's address taken from X-Forwarded-For only behind a trusted proxy (the
 * right-most address that is not itself one), and the log-in's origin check
 * against login CSRF (Origin and Sec-Fetch-Site against the site's host).
 */
#include <string.h>

#include "test.h"
#include "web.h"

static void client(const char *proxies, const char *peer, const char *const *xff, size_t n,
                   const char *want) {
    sa_trusted_proxies tp;
    sa_error err = {{0}};
    char out[SA_ADDR_TEXT];
    CHECK(sa_trusted_proxies_parse(proxies, &tp, &err) == 0);
    sa_client_address(&tp, peer, xff, n, out);
    if (strcmp(out, want)) fprintf(stderr, "client of %s via %s: %s, not %s\n", peer, proxies, out, want);
    CHECK(strcmp(out, want) == 0);
}

static void test_proxies(void) {
    sa_trusted_proxies tp;
    sa_error err = {{0}};
    CHECK(sa_trusted_proxies_parse(NULL, &tp, &err) == 0 && tp.n == 0);
    CHECK(sa_trusted_proxies_parse("127.0.0.1, ::1,10.0.0.0/8,fd00::/8", &tp, &err) == 0 && tp.n == 4);
    CHECK(sa_is_trusted_proxy(&tp, "10.200.3.4"));
    CHECK(sa_is_trusted_proxy(&tp, "::ffff:127.0.0.1")); /* IPv4-mapped */
    CHECK(sa_is_trusted_proxy(&tp, "fd12::5"));
    CHECK(!sa_is_trusted_proxy(&tp, "11.0.0.1"));
    CHECK(!sa_is_trusted_proxy(&tp, "::2"));
    CHECK(sa_trusted_proxies_parse("1.2.3.x", &tp, &err) == -1);
    CHECK_STR_CONTAINS(err.msg, "'1.2.3.x'");
    CHECK(sa_trusted_proxies_parse("10.0.0.0/33", &tp, &err) == -1);
    CHECK(sa_trusted_proxies_parse("10.0.0.0/", &tp, &err) == -1);
    CHECK(sa_trusted_proxies_parse("127.0.0.1,,::1", &tp, &err) == -1);

    const char *one[] = {"203.0.113.9"};
    const char *spoofed[] = {"6.6.6.6, 203.0.113.9"};
    const char *chain[] = {"6.6.6.6, 203.0.113.9, 10.1.1.1"};
    const char *two_headers[] = {"6.6.6.6", "203.0.113.9 , 10.1.1.1"};
    const char *garbage[] = {"203.0.113.9, not-an-address"};
    const char *all_proxies[] = {"10.0.0.7, 10.1.1.1"};
    const char *v6[] = {"[2001:db8::7]:5000"};
    /* not a trusted peer: the peer, whatever it says */
    client("", "127.0.0.1", one, 1, "127.0.0.1");
    client("10.0.0.0/8", "203.0.113.50", one, 1, "203.0.113.50");
    /* a trusted peer: the right-most address not itself a proxy */
    client("127.0.0.1", "127.0.0.1", one, 1, "203.0.113.9");
    client("127.0.0.1", "::ffff:127.0.0.1", one, 1, "203.0.113.9");
    client("127.0.0.1", "127.0.0.1", spoofed, 1, "203.0.113.9");
    client("127.0.0.1,10.0.0.0/8", "127.0.0.1", chain, 1, "203.0.113.9");
    client("127.0.0.1", "127.0.0.1", chain, 1, "10.1.1.1"); /* 10.1.1.1 not trusted */
    client("127.0.0.1,10.0.0.0/8", "127.0.0.1", two_headers, 2, "203.0.113.9");
    client("127.0.0.1", "127.0.0.1", garbage, 1, "127.0.0.1");
    client("127.0.0.1,10.0.0.0/8", "127.0.0.1", all_proxies, 1, "10.0.0.7");
    client("127.0.0.1", "127.0.0.1", NULL, 0, "127.0.0.1"); /* no header: the proxy */
    client("::1", "::1", v6, 1, "2001:db8::7");
}

static int same(const char *origin, const char *site, const char *host, const char *scheme) {
    sa_http_request r;
    memset(&r, 0, sizeof r);
    r.origin = origin;
    r.sec_fetch_site = site;
    r.host = host;
    r.scheme = scheme;
    char why[200];
    int ok = sa_web_same_origin(&r, why, sizeof why);
    CHECK(ok || (strstr(why, "refused") && !strchr(why, '\n')));
    return ok;
}

static void test_origin(void) {
    /* no browser headers (scripts, curl): nothing to compare */
    CHECK(same(NULL, NULL, "localhost:8080", NULL));
    CHECK(same(NULL, "same-origin", NULL, NULL));
    CHECK(same(NULL, "none", "x", NULL));
    CHECK(!same(NULL, "cross-site", "localhost:8080", NULL));
    CHECK(!same("http://localhost:8080", "cross-site", "localhost:8080", NULL));
    /* the site's own origin */
    CHECK(same("http://localhost:8080", "same-origin", "localhost:8080", NULL));
    CHECK(same("http://LocalHost:8080", NULL, "localhost:8080", NULL));
    CHECK(same("http://127.0.0.1", NULL, "127.0.0.1:80", NULL));
    CHECK(same("https://arena.example.org", NULL, "arena.example.org", "https"));
    CHECK(same("https://arena.example.org", NULL, "arena.example.org:443", "https"));
    CHECK(same("https://arena.example.org", NULL, "arena.example.org", NULL));
    CHECK(same("http://[::1]:8080", NULL, "[::1]:8080", NULL));
    /* another one */
    CHECK(!same("https://evil.example", "cross-site", "localhost:8080", NULL));
    CHECK(!same("https://evil.example", NULL, "localhost:8080", NULL));
    CHECK(!same("http://localhost:8081", NULL, "localhost:8080", NULL));
    CHECK(!same("http://localhost:8080.evil.example", NULL, "localhost:8080", NULL));
    CHECK(!same("http://arena.example.org", NULL, "arena.example.org", "https"));
    CHECK(!same("https://arena.example.org:8443", NULL, "arena.example.org", "https"));
    CHECK(!same("null", NULL, "localhost:8080", NULL));
    CHECK(!same("http://localhost:8080", NULL, NULL, NULL)); /* no Host to compare with */
    CHECK(!same("http://localhost:80x", NULL, "localhost", NULL));
}

static int host_is(const char *host, const char *port, const char *expected) {
    char out[256];
    sa_forwarded_host(host, port, out, sizeof out);
    if (strcmp(out, expected)) fprintf(stderr, "sa_forwarded_host(%s, %s): %s\n", host, port, out);
    return !strcmp(out, expected);
}

/* nginx's $host has no port: X-Forwarded-Port ($server_port) gives it, and the
 * site on a port of its own then matches its browsers' Origin */
static void test_forwarded_port(void) {
    CHECK(host_is("arena.example", "8443", "arena.example:8443"));
    CHECK(host_is("arena.example", NULL, "arena.example"));
    CHECK(host_is("arena.example:8443", "443", "arena.example:8443")); /* the host's own */
    CHECK(host_is("[2001:db8::1]", "8443", "[2001:db8::1]:8443"));
    CHECK(host_is("arena.example", "", "arena.example"));
    CHECK(host_is("arena.example", "84x3", "arena.example"));
    CHECK(host_is("arena.example", "0", "arena.example"));
    CHECK(host_is("arena.example", "65536", "arena.example"));
    CHECK(host_is("", "8443", ""));
    char named[256];
    sa_forwarded_host("arena.example", "8443", named, sizeof named);
    CHECK(same("https://arena.example:8443", NULL, named, "https"));
    sa_forwarded_host("arena.example", "443", named, sizeof named);
    CHECK(same("https://arena.example", NULL, named, "https"));
    CHECK(!same("https://arena.example:8443", NULL, "arena.example", "https"));
}

int main(void) {
    test_proxies();
    test_origin();
    test_forwarded_port();
    return test_report("test_forwarded");
}
