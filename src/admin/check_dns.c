/* check_dns.c: the DNS records a domain needs (RFC 6120 section 3.2, XEP-0368), looked up
 * synchronously with c-ares through xmpp.sending.dns_servers (or the system's resolver). */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>

#include <ares.h>

#include "admin/check.h"

#define SRV_MAX 8

struct answer {
    bool done;
    int status;
    struct ares_srv_reply *srv; /* owned: ares_free_data */
    int addresses;
};

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct answer *a = arg;
    a->done = true;
    a->status = status;
    if (status == ARES_SUCCESS && ares_parse_srv_reply(abuf, alen, &a->srv) != ARES_SUCCESS) {
        a->srv = NULL;
    }
}

static void on_addr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct answer *a = arg;
    struct ares_addrttl v4[4];
    struct ares_addr6ttl v6[4];
    int n4 = 4, n6 = 4;
    a->done = true;
    a->status = status;
    if (status != ARES_SUCCESS) {
        return;
    }
    if (ares_parse_a_reply(abuf, alen, NULL, v4, &n4) == ARES_SUCCESS) {
        a->addresses += n4;
    } else if (ares_parse_aaaa_reply(abuf, alen, NULL, v6, &n6) == ARES_SUCCESS) {
        a->addresses += n6;
    }
}

static void wait_done(ares_channel ch, const struct answer *a)
{
    while (!a->done) {
        fd_set r, w;
        FD_ZERO(&r);
        FD_ZERO(&w);
        int nfds = ares_fds(ch, &r, &w);
        if (nfds == 0) {
            break;
        }
        struct timeval tv, *tvp = ares_timeout(ch, NULL, &tv);
        select(nfds, &r, &w, NULL, tvp);
        ares_process(ch, &r, &w);
    }
}

static int open_channel(const struct settings *cfg, ares_channel *ch)
{
    struct ares_options opt = { .timeout = 2000, .tries = 2 };
    if (ares_init_options(ch, &opt, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS) {
        return -1;
    }
    if (cfg->xmpp.sending.dns_servers[0] &&
        ares_set_servers_ports_csv(*ch, cfg->xmpp.sending.dns_servers) != ARES_SUCCESS) {
        ares_destroy(*ch);
        return -1;
    }
    return 0;
}

static struct ares_srv_reply *lookup_srv(ares_channel ch, const char *name, int *status)
{
    struct answer a = { 0 };
    ares_query(ch, name, ns_c_in, ns_t_srv, on_srv, &a);
    wait_done(ch, &a);
    *status = a.status;
    return a.srv;
}

static int count_addresses(ares_channel ch, const char *host)
{
    int n = 0;
    int types[] = { ns_t_a, ns_t_aaaa };
    for (int i = 0; i < 2; i++) {
        struct answer a = { 0 };
        ares_query(ch, host, ns_c_in, types[i], on_addr, &a);
        wait_done(ch, &a);
        n += a.addresses;
    }
    return n;
}

/* The listener has a socket on `port` (with TLS from the first byte when `tls`). */
static bool listens_on(const struct settings *cfg, unsigned port, bool tls)
{
    for (int i = 0; i < cfg->xmpp.listener.count; i++) {
        const struct listen_socket *ls = &cfg->xmpp.listener.sockets[i];
        if (ls->port == port && ls->tls == tls) {
            return true;
        }
    }
    return false;
}

/* One SRV name: returns whether records exist; checks each target's addresses and port. */
static bool check_srv(struct check_report *r, ares_channel ch, const struct settings *cfg,
                      const char *service, const char *domain, bool tls)
{
    char name[600], fix[900];
    snprintf(name, sizeof(name), "%s.%s", service, domain);
    int status = 0;
    struct ares_srv_reply *srv = lookup_srv(ch, name, &status);
    if (srv == NULL) {
        return false;
    }
    for (struct ares_srv_reply *s = srv; s != NULL; s = s->next) {
        if (strcmp(s->host, ".") == 0 || s->host[0] == '\0') {
            continue; /* "no service here", said on purpose */
        }
        if (count_addresses(ch, s->host) == 0) {
            snprintf(fix, sizeof(fix), "add an A or AAAA record for %s", s->host);
            check__finding(r, true, fix, "%s points to %s, which has no address", name, s->host);
        }
        if (!listens_on(cfg, s->port, tls)) {
            snprintf(fix, sizeof(fix), "add %u%s to xmpp.listener, or correct the record", s->port,
                     tls ? "/tls" : "");
            check__finding(r, false, fix,
                           "%s points to port %u, where the server does not "
                           "listen%s",
                           name, s->port, tls ? " with TLS" : "");
        }
    }
    ares_free_data(srv);
    return true;
}

void check__dns(struct check_report *r, const struct settings *cfg, const char *domain,
                bool is_service)
{
    ares_channel ch;
    char fix[900];
    if (open_channel(cfg, &ch) != 0) {
        check__finding(r, true, "correct xmpp.sending.dns_servers",
                       "cannot set up DNS lookups (xmpp.sending.dns_servers = \"%s\")",
                       cfg->xmpp.sending.dns_servers);
        return;
    }
    bool addr = count_addresses(ch, domain) > 0;
    bool server = check_srv(r, ch, cfg, "_xmpp-server._tcp", domain, false);
    server |= check_srv(r, ch, cfg, "_xmpps-server._tcp", domain, true);
    if (!server && !addr) {
        snprintf(fix, sizeof(fix),
                 "add \"_xmpp-server._tcp.%s. SRV 0 5 5269 <your host>.\" or an "
                 "A record for %s",
                 domain, domain);
        check__finding(r, true, fix, "remote servers cannot find %s: no SRV and no address record",
                       domain);
    } else if (!server) {
        snprintf(fix, sizeof(fix), "add \"_xmpp-server._tcp.%s. SRV 0 5 5269 <your host>.\"",
                 domain);
        check__finding(r, false, fix,
                       "no _xmpp-server._tcp SRV record for %s: remote servers "
                       "use its address and port 5269",
                       domain);
    }
    if (!is_service) {
        bool client = check_srv(r, ch, cfg, "_xmpp-client._tcp", domain, false);
        client |= check_srv(r, ch, cfg, "_xmpps-client._tcp", domain, true);
        if (!client) {
            snprintf(fix, sizeof(fix), "add \"_xmpp-client._tcp.%s. SRV 0 5 5222 <your host>.\"",
                     domain);
            check__finding(r, !addr, fix, "no _xmpp-client._tcp SRV record for %s%s", domain,
                           addr ? ": clients use its address and port 5222"
                                : " and no address: clients cannot find the server");
        }
    }
    ares_destroy(ch);
}
