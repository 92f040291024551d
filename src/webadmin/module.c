/* module.c: the WebAdmin in the module table: its settings rows (webadmin.*). */
#include <stddef.h>

#include "core/module.h"
#include "webadmin/http.h"

static const struct setting webadmin_settings[] = {
    { .key = "webadmin.listener",
      .type = SETTING_LISTENER,
      SETTING_FIELD(webadmin.listener),
      .def = "8010, 9010/tls",
      .desc = "Sockets of the WebAdmin (HTTP); /tls = HTTPS with the main domain's certificate; "
              "empty = no WebAdmin",
      .values = "a comma list of [address:]port[/tls], IPv6 addresses in brackets: [::1]:8010" },
    { .key = "webadmin.metrics",
      .type = SETTING_CHOICE,
      SETTING_FIELD(webadmin.metrics),
      .def = "off",
      .choices = (const char *const[]){ "off", "on", "local", NULL },
      .desc = "Who may read the OpenMetrics counters at /metrics of the WebAdmin sockets",
      .values = "off (nobody), on (anyone who reaches a WebAdmin socket), local (loopback "
                "addresses only)" },
    { .key = "webadmin.session_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(webadmin.session_timeout),
      .min = 60,
      .max = 604800,
      .def = "1800",
      .desc = "Seconds a WebAdmin login stays valid without a request" },
    { .key = "webadmin.max_connections",
      .type = SETTING_INT,
      SETTING_FIELD(webadmin.max_connections),
      .min = 16,
      .max = 100000,
      .def = "1024",
      .desc = "Simultaneous HTTP connections one WebAdmin socket accepts" },
    { .key = "webadmin.per_address_limit",
      .type = SETTING_INT,
      SETTING_FIELD(webadmin.per_address_limit),
      .min = 0,
      .max = 100000,
      .def = "16",
      .desc = "Simultaneous HTTP connections from one address to one WebAdmin socket; "
              "0 = no cap" },
    { .key = "webadmin.idle_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(webadmin.idle_timeout),
      .min = 1,
      .max = 3600,
      .def = "30",
      .desc = "Seconds a WebAdmin connection may stay silent before it is closed" },
    { .key = "webadmin.request_timeout",
      .type = SETTING_INT,
      SETTING_FIELD(webadmin.request_timeout),
      .min = 2,
      .max = 3600,
      .def = "60",
      .desc = "Seconds a WebAdmin connection may take for one whole request, from its start "
              "(or the end of its previous request) to the end of the answer, however "
              "steadily it sends" },
    { .key = "webadmin.threads",
      .type = SETTING_INT,
      SETTING_FIELD(webadmin.threads),
      .min = 1,
      .max = 64,
      .def = "4",
      .desc = "Threads serving each WebAdmin socket (an event loop each; a slow client holds a "
              "socket, not a thread)" },
    { .key = NULL },
};

struct module webadmin_module = {
    .name = "webadmin",
    .settings = webadmin_settings,
};
