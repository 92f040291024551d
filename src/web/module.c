/* module.c: the user-facing HTTP side in the module table: its settings rows (http.*). */
#include <stddef.h>

#include "core/module.h"
#include "web/web.h"

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
    { .key = NULL },
};

struct module web_module = {
    .name = "http",
    .settings = web_settings,
};
