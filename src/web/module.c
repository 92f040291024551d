/* module.c: the user-facing HTTP side in the module table: its settings rows (http.*). */
#include <stddef.h>
#include <stdlib.h>

#include "core/loop.h"
#include "core/module.h"
#include "core/server.h"
#include "core/worker.h"
#include "web/web.h"

#define CLEANUP_MS (3600u * 1000u)

static const struct setting web_settings[] = {
    { .key = "http.listener",
      .type = SETTING_LISTENER,
      SETTING_FIELD(http.listener),
      .def = "5280, 5281/tls",
      .desc = "Sockets of the user-facing HTTP listener (WebSocket at /xmpp-websocket, "
              "host-meta); /tls = HTTPS with the certificate chosen by SNI; empty = none",
      .values = "a comma list of [address:]port[/tls], IPv6 addresses in brackets: [::1]:5280" },
    { .key = "http.public_url",
      .type = SETTING_STRING,
      SETTING_FIELD(http.public_url),
      .def = "",
      .desc = "Base URL of the HTTP listener as clients reach it (behind a reverse proxy), used "
              "in host-meta; empty = from the request's Host header and the socket's TLS",
      .values = "an http:// or https:// URL without a trailing slash, e.g. "
                "https://xmpp.example.org; empty = from the request" },
    { .key = "http.websocket_origins",
      .type = SETTING_STRING,
      SETTING_FIELD(http.ws_origins),
      .def = "*",
      .desc = "Web pages (Origin header) allowed to open a WebSocket; requests without an "
              "Origin header (native clients) are always allowed",
      .values = "* (any), or a comma list of origins such as https://chat.example.org; "
                "empty = browsers refused" },
    { .key = "http.cors_origins",
      .type = SETTING_STRING,
      SETTING_FIELD(http.cors_origins),
      .def = "*",
      .desc = "Web pages allowed to read host-meta (CORS Access-Control-Allow-Origin)",
      .values = "* (any), or a comma list of origins; empty = no CORS headers" },
    { .key = "http.plain_secure",
      .type = SETTING_CHOICE,
      SETTING_FIELD(http.plain_secure),
      .def = "loopback",
      .choices = (const char *const[]){ "no", "loopback", "yes", NULL },
      .desc = "Whether a WebSocket on a clear-text HTTP socket counts as encrypted for "
              "xmpp.receiving.require_tls (a reverse proxy that terminates TLS)",
      .values = "no, loopback (when the peer is a loopback address: a local proxy), yes" },
    { .key = "http.websocket_max_message",
      .type = SETTING_LONG,
      SETTING_FIELD(http.ws_max_message),
      .min = 1024,
      .max = 67108864,
      .def = "262144",
      .desc = "Largest WebSocket message accepted, in bytes; a larger one closes the "
              "connection (close code 1009)" },
    { .key = "http.upload_max_size",
      .type = SETTING_LONG,
      SETTING_FIELD(http.upload_max_size),
      .min = 0,
      .max = 1073741824,
      .def = "10485760",
      .desc = "Largest file accepted by the HTTP upload service upload.<domain> (XEP-0363), in "
              "bytes, advertised in its disco#info; 0 = no upload service" },
    { .key = "http.upload_quota",
      .type = SETTING_LONG,
      SETTING_FIELD(http.upload_quota),
      .min = 0,
      .max = 1099511627776,
      .def = "104857600",
      .desc = "Bytes of files one account may have stored at once (files not yet expired); "
              "0 = no quota" },
    { .key = "http.upload_expiry",
      .type = SETTING_INT,
      SETTING_FIELD(http.upload_expiry),
      .min = 60,
      .max = 315360000,
      .def = "2592000",
      .desc = "Seconds an uploaded file is kept (from its slot request); expired files are "
              "removed by an hourly clean-up" },
    { .key = "http.bosh_max_wait",
      .type = SETTING_INT,
      SETTING_FIELD(http.bosh_max_wait),
      .min = 1,
      .max = 3600,
      .def = "60",
      .desc = "Longest time a BOSH request is held before an empty answer, in seconds; a client "
              "asking for a longer wait gets this one" },
    { .key = "http.bosh_hold",
      .type = SETTING_INT,
      SETTING_FIELD(http.bosh_hold),
      .min = 1,
      .max = 8,
      .def = "1",
      .desc = "Most requests a BOSH session holds at once (XEP-0124 hold); a client asking for "
              "more gets this many" },
    { .key = "http.bosh_requests",
      .type = SETTING_INT,
      SETTING_FIELD(http.bosh_requests),
      .min = 2,
      .max = 16,
      .def = "2",
      .desc = "Most requests a BOSH client may have open at once (XEP-0124 requests, at least "
              "hold + 1); also how many past answers are kept to answer a repeated request" },
    { .key = "http.bosh_inactivity",
      .type = SETTING_INT,
      SETTING_FIELD(http.bosh_inactivity),
      .min = 10,
      .max = 3600,
      .def = "60",
      .desc = "Seconds a BOSH session lives without a request held before it ends like a "
              "dropped connection" },
    { .key = "http.bosh_polling",
      .type = SETTING_INT,
      SETTING_FIELD(http.bosh_polling),
      .min = 0,
      .max = 60,
      .def = "2",
      .desc = "Shortest time between two empty polls that a BOSH client is told (XEP-0124 "
              "polling), in seconds" },
    { .key = "http.bosh_max_pause",
      .type = SETTING_INT,
      SETTING_FIELD(http.bosh_max_pause),
      .min = 10,
      .max = 86400,
      .def = "120",
      .desc = "Longest pause a BOSH client may ask (XEP-0124 maxpause), in seconds; a longer one "
              "is cut to this" },
    { .key = "http.websocket_ping_interval",
      .type = SETTING_INT,
      SETTING_FIELD(http.ws_ping_interval),
      .min = 0,
      .max = 86400,
      .def = "60",
      .desc = "Seconds a WebSocket may stay silent before the server sends a WebSocket ping; "
              "0 = no pings" },
    { .key = "http.websocket_ping_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(http.ws_ping_timeout),
      .min = 1,
      .max = 3600,
      .def = "30",
      .desc = "Seconds to wait for the pong of a server ping (or any other byte); without one "
              "the connection closes (close code 1001)" },
    { .key = NULL },
};

/* Worker 0's clean-up of expired uploads: once shortly after the start, then hourly. */
struct web_slot {
    struct loop_timer cleanup;
};

static void cleanup_tick(void *ud)
{
    struct web_slot *s = ud;
    web_upload_cleanup();
    loop_timer_start(worker_ctx()->worker->loop, &s->cleanup, CLEANUP_MS, cleanup_tick, s);
}

static int web_worker_start(struct worker_ctx *wc, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (wc->worker->id != 0) {
        return 0;
    }
    struct web_slot *s = module_slot_make(&web_module, sizeof(*s));
    loop_timer_init(&s->cleanup);
    loop_timer_start(wc->worker->loop, &s->cleanup, 5000, cleanup_tick, s);
    return 0;
}

static void web_worker_stop(struct worker_ctx *wc)
{
    web_bosh_worker_stop(wc->worker->id);
    struct web_slot *s = *module_slot(&web_module);
    if (s != NULL) {
        loop_timer_stop(wc->worker->loop, &s->cleanup);
        module_slot_free(&web_module);
    }
}

struct module web_module = {
    .name = "http",
    .settings = web_settings,
    .worker_start = web_worker_start,
    .worker_stop = web_worker_stop,
};
