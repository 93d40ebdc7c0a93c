/*
 * forwarded.c: who is on the other end of a request when SegArena sits behind
 * the TLS-terminating proxy docs/api.md recommends. Every connection then comes
 * from the proxy, so the login rate limit per address would lock everybody out
 * at once; with `segarena serve --trusted-proxy`, a request whose peer is a
 * trusted proxy has its client taken from X-Forwarded-For (the right-most address
 * that is not itself a trusted proxy: the ones left of it are the client's own
 * words), and the site's own host and scheme from X-Forwarded-Host (else Host),
 * X-Forwarded-Port (when the host names no port) and X-Forwarded-Proto. Also here: whether a browser's log-in comes from this site
 * (Origin, Sec-Fetch-Site), against login CSRF. Pure functions, no I/O.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "web.h"

/* An address of text[0..len) ("1.2.3.4", "1.2.3.4:80", "::1", "[::1]",
 * "[::1]:443"; spaces around), IPv4-mapped IPv6 taken as IPv4: 0, or -1. */
static int parse_address(const char *text, size_t len, sa_net *out) {
    while (len && (*text == ' ' || *text == '\t')) text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t')) len--;
    char buf[64];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *a = buf;
    if (a[0] == '[') { /* [v6] or [v6]:port */
        char *close = strchr(a, ']');
        if (!close || (close[1] && close[1] != ':')) return -1;
        *close = '\0';
        a++;
    } else {
        char *colon = strchr(a, ':');
        if (colon && !strchr(colon + 1, ':')) *colon = '\0'; /* v4:port */
    }
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, a, out->bytes) == 1) {
        out->family = AF_INET;
        out->prefix = 32;
        return 0;
    }
    if (inet_pton(AF_INET6, a, out->bytes) != 1) return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(out->bytes, mapped, sizeof mapped)) {
        memmove(out->bytes, out->bytes + 12, 4);
        memset(out->bytes + 4, 0, 12);
        out->family = AF_INET;
        out->prefix = 32;
        return 0;
    }
    out->family = AF_INET6;
    out->prefix = 128;
    return 0;
}

static void address_text(const sa_net *a, char out[SA_ADDR_TEXT]) {
    if (!inet_ntop(a->family, a->bytes, out, SA_ADDR_TEXT)) out[0] = '\0';
}

int sa_trusted_proxies_parse(const char *list, sa_trusted_proxies *out, sa_error *err) {
    memset(out, 0, sizeof *out);
    for (const char *p = list ? list : ""; *p;) {
        size_t len = strcspn(p, ",");
        const char *slash = memchr(p, '/', len);
        size_t addr_len = slash ? (size_t)(slash - p) : len;
        sa_net net;
        int prefix = -1;
        if (slash) {
            char *end;
            long v = strtol(slash + 1, &end, 10);
            while (*end == ' ') end++;
            if (end == slash + 1 || (*end && *end != ',') || v < 0) prefix = -2;
            else prefix = (int)(v > 128 ? 129 : v);
        }
        int bad = parse_address(p, addr_len, &net) != 0 || prefix == -2 ||
                  (prefix >= 0 && prefix > net.prefix);
        if (!bad && strspn(p, " \t") == len) bad = 1; /* an empty entry */
        if (bad || out->n == SA_MAX_TRUSTED_PROXIES) {
            int shown = (int)(len > 60 ? 60 : len);
            if (bad)
                return sa_error_set(err, "trusted proxy '%.*s' is not an IPv4 or IPv6 address "
                                         "(or ADDRESS/PREFIX)", shown, p);
            return sa_error_set(err, "more than %d trusted proxies", SA_MAX_TRUSTED_PROXIES);
        }
        if (prefix >= 0) net.prefix = prefix;
        out->nets[out->n++] = net;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

int sa_server_check_trusted_proxies(const char *list, sa_error *err) {
    sa_trusted_proxies tp;
    return sa_trusted_proxies_parse(list, &tp, err);
}

static int in_net(const sa_net *net, const sa_net *a) {
    if (net->family != a->family) return 0;
    int full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->bytes, a->bytes, (size_t)full)) return 0;
    if (!rest) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (net->bytes[full] & mask) == (a->bytes[full] & mask);
}

static int trusted(const sa_trusted_proxies *tp, const sa_net *a) {
    for (size_t i = 0; tp && i < tp->n; i++)
        if (in_net(&tp->nets[i], a)) return 1;
    return 0;
}

int sa_is_trusted_proxy(const sa_trusted_proxies *tp, const char *addr) {
    sa_net a;
    return addr && parse_address(addr, strlen(addr), &a) == 0 && trusted(tp, &a);
}

void sa_client_address(const sa_trusted_proxies *tp, const char *peer, const char *const *xff,
                       size_t n_xff, char out[SA_ADDR_TEXT]) {
    sa_net current;
    out[0] = '\0';
    if (!peer || parse_address(peer, strlen(peer), &current) != 0) {
        if (peer) snprintf(out, SA_ADDR_TEXT, "%s", peer);
        return;
    }
    /* right to left: each hop a trusted proxy vouches for is believed, up to
     * the first that is not itself a trusted proxy */
    for (size_t h = n_xff; h-- > 0 && trusted(tp, &current);) {
        const char *v = xff[h] ? xff[h] : "";
        size_t end = strlen(v);
        int stop = 0;
        while (end > 0 && trusted(tp, &current)) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',') start--;
            sa_net hop;
            if (strspn(v + start, " \t") < end - start) {
                if (parse_address(v + start, end - start, &hop) != 0) {
                    stop = 1; /* not an address: the last hop we believed */
                    break;
                }
                current = hop;
            }
            end = start ? start - 1 : 0;
        }
        if (stop) break;
    }
    address_text(&current, out);
}

/* ---- login CSRF ---- */

/* "host[:port]" split (a "[v6]" host kept with its brackets): the host's
 * length, *port -1 when none, -2 malformed. */
static size_t split_host(const char *s, size_t len, long *port) {
    *port = -1;
    size_t host_len = len;
    const char *colon = NULL;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close) {
            *port = -2;
            return len;
        }
        host_len = (size_t)(close - s) + 1;
        if (host_len < len) {
            if (s[host_len] != ':') *port = -2;
            else colon = s + host_len;
        }
    } else {
        colon = memchr(s, ':', len);
        if (colon) host_len = (size_t)(colon - s);
    }
    if (colon) {
        size_t digits = len - (size_t)(colon + 1 - s);
        long v = 0;
        if (digits == 0 || digits > 5) *port = -2;
        for (size_t i = 0; *port != -2 && i < digits; i++) {
            if (!isdigit((unsigned char)colon[1 + i])) *port = -2;
            else v = v * 10 + (colon[1 + i] - '0');
        }
        if (*port != -2) *port = v;
    }
    return host_len;
}

static long default_port(const char *scheme) { return !strcmp(scheme, "https") ? 443 : 80; }

void sa_forwarded_host(const char *host, const char *port, char *out, size_t cap) {
    if (!cap) return;
    snprintf(out, cap, "%s", host ? host : "");
    if (!host || !*host || !port) return;
    long h_port, p_port = 0;
    split_host(host, strlen(host), &h_port);
    size_t digits = strlen(port);
    if (h_port != -1 || digits == 0 || digits > 5 || strspn(port, "0123456789") != digits)
        return; /* a host that names its port, or no port to add */
    p_port = strtol(port, NULL, 10);
    if (p_port < 1 || p_port > 65535) return;
    char joined[300];
    int n = snprintf(joined, sizeof joined, "%s:%ld", host, p_port);
    if (n > 0 && (size_t)n < cap && (size_t)n < sizeof joined) snprintf(out, cap, "%s", joined);
}

int sa_web_same_origin(const sa_http_request *req, char *why, size_t cap) {
    if (cap) why[0] = '\0';
    const char *site = req->sec_fetch_site;
    if (site && !strcasecmp(site, "cross-site")) {
        snprintf(why, cap, "a log-in sent from another site is refused (Sec-Fetch-Site: cross-site)");
        return 0;
    }
    const char *origin = req->origin;
    if (!origin) return 1; /* not a browser, or an old one: nothing to compare */
    const char *scheme;
    size_t skip;
    if (!strncasecmp(origin, "https://", 8)) scheme = "https", skip = 8;
    else if (!strncasecmp(origin, "http://", 7)) scheme = "http", skip = 7;
    else scheme = NULL, skip = 0;
    const char *own_host = req->host && *req->host ? req->host : NULL;
    int same = 0;
    if (scheme && own_host && (!req->scheme || !strcasecmp(req->scheme, scheme))) {
        const char *o = origin + skip;
        size_t o_len = strlen(o);
        if (o_len && o[o_len - 1] == '/') o_len--; /* not sent by browsers, but harmless */
        long o_port, h_port;
        size_t o_host = split_host(o, o_len, &o_port);
        size_t h_host = split_host(own_host, strlen(own_host), &h_port);
        if (o_port != -2 && h_port != -2) {
            if (o_port == -1) o_port = default_port(scheme);
            if (h_port == -1) h_port = default_port(req->scheme ? req->scheme : scheme);
            same = o_host == h_host && o_host > 0 && !strncasecmp(o, own_host, o_host) &&
                   o_port == h_port;
        }
    }
    if (!same) {
        snprintf(why, cap, "a log-in sent from another site is refused (Origin: %.100s)", origin);
        return 0;
    }
    return 1;
}
