/*
 * conn_limit.c: the server's limit of open connections per client address,
 * counted here instead of by libmicrohttpd so that a trusted proxy
 * (--trusted-proxy) is exempt: behind a proxy every connection has the proxy's
 * address, and MHD's own per-address limit capped the whole site at that many
 * connections (a few slow clients of the proxy were enough to shut everyone
 * out). The limit is checked when MHD asks whether to accept a connection, and
 * counted from when MHD starts it to when it closes it: MHD may still refuse an
 * accepted socket (its total limit) without starting it. Between the check and
 * the count, concurrent accepts on the HTTP threads may each pass: the limit
 * can be passed by at most that many threads less one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "server_internal.h"

void sa_peer_text(const struct sockaddr *sa, char out[SA_ADDR_TEXT]) {
    out[0] = '\0';
    if (sa && sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, SA_ADDR_TEXT);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) /* one client, whichever socket family it came by */
            inet_ntop(AF_INET, a->s6_addr + 12, out, SA_ADDR_TEXT);
        else
            inet_ntop(AF_INET6, a, out, SA_ADDR_TEXT);
    }
}

void sa_conn_limit_init(sa_conn_limit *cl, unsigned per_address, const sa_trusted_proxies *exempt) {
    memset(cl, 0, sizeof *cl);
    cl->per_address = per_address;
    cl->exempt = exempt;
    pthread_mutex_init(&cl->lock, NULL);
}

void sa_conn_limit_destroy(sa_conn_limit *cl) {
    pthread_mutex_destroy(&cl->lock);
}

static int exempt(const sa_conn_limit *cl, const char *addr) {
    return !addr[0] || (cl->exempt && cl->exempt->n && sa_is_trusted_proxy(cl->exempt, addr));
}

/* The slot of addr (locked); create: a free one when it has none. NULL: none. */
static sa_conn_count *slot_of(sa_conn_limit *cl, const char *addr, int create) {
    sa_conn_count *free_slot = NULL;
    for (size_t i = 0; i < SA_CONN_SLOTS; i++) {
        if (cl->slots[i].open && !strcmp(cl->slots[i].addr, addr)) return &cl->slots[i];
        if (!cl->slots[i].open && !free_slot) free_slot = &cl->slots[i];
    }
    if (!create || !free_slot) return NULL;
    snprintf(free_slot->addr, sizeof free_slot->addr, "%s", addr);
    return free_slot;
}

int sa_conn_limit_allows(sa_conn_limit *cl, const struct sockaddr *sa) {
    char addr[SA_ADDR_TEXT];
    sa_peer_text(sa, addr);
    if (exempt(cl, addr)) return 1;
    pthread_mutex_lock(&cl->lock);
    const sa_conn_count *s = slot_of(cl, addr, 0);
    int ok = !s || s->open < cl->per_address;
    pthread_mutex_unlock(&cl->lock);
    return ok;
}

int sa_conn_limit_opened(sa_conn_limit *cl, const struct sockaddr *sa) {
    char addr[SA_ADDR_TEXT];
    sa_peer_text(sa, addr);
    if (exempt(cl, addr)) return 0;
    pthread_mutex_lock(&cl->lock);
    sa_conn_count *s = slot_of(cl, addr, 1);
    if (s) s->open++;
    pthread_mutex_unlock(&cl->lock);
    return s != NULL;
}

void sa_conn_limit_closed(sa_conn_limit *cl, const struct sockaddr *sa) {
    char addr[SA_ADDR_TEXT];
    sa_peer_text(sa, addr);
    pthread_mutex_lock(&cl->lock);
    sa_conn_count *s = slot_of(cl, addr, 0);
    if (s && s->open > 0) s->open--;
    pthread_mutex_unlock(&cl->lock);
}
