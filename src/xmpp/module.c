/* module.c: the XMPP module in the module table: its settings rows (xmpp.*) and its worker life. */
#include <stddef.h>

#include "core/module.h"
#include "core/server.h"
#include "xmpp/s2s.h"
#include "xmpp/xmpp.h"

/* The XMPP listener, the incoming streams (receiving) and the outgoing server connections
 * (sending). */
static const struct setting xmpp_settings[] = {
    { .key = "xmpp.listener",
      .type = SETTING_LISTENER,
      SETTING_FIELD(xmpp.listener),
      .def = "5222, 5269, 5223/tls",
      .desc = "Sockets of the XMPP listener (clients and servers alike); /tls = TLS from the "
              "first byte, otherwise STARTTLS; empty = no sockets",
      .values = "a comma list of [address:]port[/tls], IPv6 addresses in brackets: [::1]:5222" },
    { .key = "xmpp.receiving.log_level",
      .type = SETTING_LEVEL,
      SETTING_FIELD(xmpp.receiving.log_level),
      .def = "Major",
      .desc = "Log level of incoming connections (XMPPI and XMPPS records)" },
    { .key = "xmpp.receiving.channels",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.channels),
      .min = 0,
      .max = 1000000,
      .def = "10000",
      .desc = "Maximum number of simultaneous incoming connections; 0 = no listener" },
    { .key = "xmpp.receiving.per_address_limit",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.per_address_limit),
      .min = 0,
      .max = 1000000,
      .def = "100",
      .desc = "Maximum number of simultaneous incoming connections from one remote address; "
              "0 = no limit" },
    { .key = "xmpp.receiving.max_stanza_size",
      .type = SETTING_LONG,
      SETTING_FIELD(xmpp.receiving.max_stanza_size),
      .min = 1024,
      .max = 67108864,
      .def = "262144",
      .desc = "Largest stanza accepted, in bytes; a larger one ends the stream "
              "(policy-violation)" },
    { .key = "xmpp.receiving.max_depth",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.max_depth),
      .min = 4,
      .max = 1000,
      .def = "64",
      .desc = "Deepest element nesting accepted in a stream" },
    { .key = "xmpp.receiving.require_tls",
      .type = SETTING_BOOL,
      SETTING_FIELD(xmpp.receiving.require_tls),
      .def = "yes",
      .desc = "Require TLS before authentication on incoming streams" },
    { .key = "xmpp.receiving.auth_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.auth_timeout),
      .min = 1,
      .max = 3600,
      .def = "60",
      .desc = "Seconds a new connection has to authenticate before it is closed" },
    { .key = "xmpp.receiving.auth_failure_delay",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.auth_failure_delay_ms),
      .min = 0,
      .max = 60000,
      .def = "1000",
      .desc = "Milliseconds of delay before answering a failed authentication, the base of "
              "an increasing back-off" },
    { .key = "xmpp.receiving.max_auth_failures",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.max_auth_failures),
      .min = 1,
      .max = 100,
      .def = "5",
      .desc = "Failed authentications allowed on one stream before it is closed" },
    { .key = "xmpp.receiving.send_queue_limit",
      .type = SETTING_LONG,
      SETTING_FIELD(xmpp.receiving.send_queue_limit),
      .min = 1024,
      .max = 1073741824,
      .def = "1048576",
      .desc = "Bytes waiting to be sent on one connection past which it is closed as too slow" },
    { .key = "xmpp.receiving.ping_interval",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.ping_interval),
      .min = 0,
      .max = 86400,
      .def = "300",
      .desc = "Seconds of silence after which the server pings a connection; 0 = never" },
    { .key = "xmpp.receiving.dialback",
      .type = SETTING_BOOL,
      SETTING_FIELD(xmpp.receiving.dialback),
      .def = "yes",
      .desc = "Accept Server Dialback (XEP-0220) from remote servers whose certificate does "
              "not validate; no = SASL EXTERNAL only" },
    { .key = "xmpp.receiving.header_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.header_timeout),
      .min = 1,
      .max = 3600,
      .def = "10",
      .desc = "Seconds a connection has to send a whole stream header (after the accept, "
              "after TLS, after a restart) before it is closed (connection-timeout)" },
    { .key = "xmpp.receiving.tls_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.tls_timeout),
      .min = 1,
      .max = 3600,
      .def = "10",
      .desc = "Seconds a TLS handshake (direct TLS or after STARTTLS) may take before the "
              "connection is closed" },
    { .key = "xmpp.receiving.sasl_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.sasl_timeout),
      .min = 1,
      .max = 3600,
      .def = "30",
      .desc = "Seconds from a stream header to the end of authentication on that stream "
              "before it is closed (connection-timeout); auth_timeout bounds all stages "
              "together" },
    { .key = "xmpp.receiving.unauth_per_address",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.unauth_per_address),
      .min = 0,
      .max = 1000000,
      .def = "32",
      .desc = "Maximum number of simultaneous not yet authenticated connections from one "
              "remote address; 0 = no limit" },
    { .key = "xmpp.receiving.c2s_rate",
      .type = SETTING_LONG,
      SETTING_FIELD(xmpp.receiving.c2s_rate),
      .min = 0,
      .max = 1073741824,
      .def = "51200",
      .desc = "Bytes per second read from one client stream (token bucket); past it the server "
              "stops reading that stream until the bucket refills, nothing is dropped; "
              "0 = no limit" },
    { .key = "xmpp.receiving.c2s_burst",
      .type = SETTING_LONG,
      SETTING_FIELD(xmpp.receiving.c2s_burst),
      .min = 1024,
      .max = 1073741824,
      .def = "524288",
      .desc = "Bytes a client stream may send at once above c2s_rate (the bucket's size)" },
    { .key = "xmpp.receiving.s2s_rate",
      .type = SETTING_LONG,
      SETTING_FIELD(xmpp.receiving.s2s_rate),
      .min = 0,
      .max = 1073741824,
      .def = "1048576",
      .desc = "Bytes per second read from one incoming server stream; 0 = no limit" },
    { .key = "xmpp.receiving.s2s_burst",
      .type = SETTING_LONG,
      SETTING_FIELD(xmpp.receiving.s2s_burst),
      .min = 1024,
      .max = 1073741824,
      .def = "4194304",
      .desc = "Bytes an incoming server stream may send at once above s2s_rate" },
    { .key = "xmpp.receiving.fast_token_lifetime",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.fast_token_lifetime),
      .min = 0,
      .max = 31536000,
      .def = "1209600",
      .desc = "Seconds a FAST login token (XEP-0484) stays valid after it is issued; 0 = FAST "
              "is not offered" },
    { .key = "xmpp.receiving.fast_max_devices",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.fast_max_devices),
      .min = 1,
      .max = 1000,
      .def = "16",
      .desc = "User agents of one account that may hold FAST tokens; a new one takes the place "
              "of the least recently issued" },
    { .key = "xmpp.receiving.sm_resume_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.sm_resume_timeout),
      .min = 0,
      .max = 86400,
      .def = "300",
      .desc = "Seconds a client session with XEP-0198 resumption outlives its lost connection; "
              "0 = no resumption" },
    { .key = "xmpp.receiving.sm_max_unacked",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.receiving.sm_max_unacked),
      .min = 1,
      .max = 1000000,
      .def = "1000",
      .desc = "Stanzas a stream-managed session may leave unacknowledged before it is closed "
              "(policy-violation)" },
    { .key = "xmpp.sending.log_level",
      .type = SETTING_LEVEL,
      SETTING_FIELD(xmpp.sending.log_level),
      .def = "Major",
      .desc = "Log level of outgoing server connections (XMPPO records)" },
    { .key = "xmpp.sending.max_connections",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.sending.max_connections),
      .min = 1,
      .max = 1000000,
      .def = "1000",
      .desc = "Maximum number of simultaneous outgoing server-to-server connections" },
    { .key = "xmpp.sending.idle_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.sending.idle_timeout),
      .min = 1,
      .max = 86400,
      .def = "600",
      .desc = "Seconds an outgoing connection stays open with nothing to send" },
    { .key = "xmpp.sending.connect_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.sending.connect_timeout),
      .min = 1,
      .max = 3600,
      .def = "30",
      .desc = "Seconds allowed to connect to a remote server and set up the stream" },
    { .key = "xmpp.sending.response_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.sending.response_timeout),
      .min = 1,
      .max = 3600,
      .def = "60",
      .desc = "Seconds to wait for a remote server's answer (for example dialback) before "
              "giving up" },
    { .key = "xmpp.sending.routes",
      .type = SETTING_ROUTES,
      SETTING_FIELD(xmpp.sending.routes),
      .aux = offsetof(struct settings, xmpp.sending.route_count),
      .def = "",
      .desc = "Static routes for outgoing server connections, used instead of DNS SRV records",
      .values = "a comma list of domain=host:port[/tls] (port 5269 when left out; /tls = TLS "
                "from the first byte), e.g. \"example.net=10.0.0.5:5269\"; empty = none" },
    { .key = "xmpp.sending.queue_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(xmpp.sending.queue_timeout),
      .min = 1,
      .max = 604800,
      .def = "600",
      .desc = "Seconds a stanza may wait for a remote server before it is bounced to its "
              "sender" },
    { .key = "xmpp.sending.dns_servers",
      .type = SETTING_STRING,
      SETTING_FIELD(xmpp.sending.dns_servers),
      .def = "",
      .desc = "DNS servers asked for SRV and address records of remote domains",
      .values = "a comma list of ip[:port] ([ipv6]:port); empty = the system's resolver" },
    { .key = "xmpp.sending.dialback",
      .type = SETTING_BOOL,
      SETTING_FIELD(xmpp.sending.dialback),
      .def = "yes",
      .desc = "Authenticate to remote servers by Server Dialback when SASL EXTERNAL is not "
              "possible" },
    { .key = "xmpp.s2s_blocked",
      .type = SETTING_STRING,
      SETTING_FIELD(xmpp.s2s_blocked),
      .def = "",
      .desc = "Remote domains this server does not federate with: their incoming streams are "
              "refused, stanzas to them bounced, open links closed when the list changes",
      .values = "a comma list of domains, each covering its subdomains; empty = none" },
    { .key = "xmpp.s2s_allowed",
      .type = SETTING_STRING,
      SETTING_FIELD(xmpp.s2s_allowed),
      .def = "",
      .desc = "When not empty, the only remote domains this server federates with",
      .values = "a comma list of domains, each covering its subdomains; empty = every domain "
                "not blocked" },
    { .key = NULL },
};

static int xmpp_module_start(struct worker_ctx *wc, char *err, size_t errlen)
{
    wc->xmpp = xmpp_worker_start(wc->worker);
    s2s_worker_start(wc->xmpp);
    return xmpp_listeners_apply(wc->xmpp, err, errlen);
}

static void xmpp_module_quiesce(struct worker_ctx *wc)
{
    if (wc->xmpp != NULL) {
        xmpp_worker_quiesce(wc->xmpp);
    }
}

/* First in the stop order after the core: ending the last connections reaches the IM core and
 * the chat rooms, which are still there. */
static void xmpp_module_stop(struct worker_ctx *wc)
{
    if (wc->xmpp != NULL) {
        s2s_worker_stop(wc->xmpp);
        xmpp_worker_stop(wc->xmpp);
        wc->xmpp = NULL;
    }
}

struct module xmpp_module = {
    .name = "xmpp",
    .settings = xmpp_settings,
    .worker_start = xmpp_module_start,
    .worker_quiesce = xmpp_module_quiesce,
    .worker_stop = xmpp_module_stop,
};
