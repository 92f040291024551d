/* module.c: the services in the module table: their settings rows (services.*) and per-worker
 * state. */
#include <stddef.h>
#include <stdlib.h>

#include "core/module.h"
#include "core/server.h"
#include "services/services_int.h"

static const struct setting services_settings[] = {
    { .key = "services.vcard.max_size",
      .type = SETTING_LONG,
      SETTING_FIELD(services.vcard_max_size),
      .min = 256,
      .max = 16777216,
      .def = "65536",
      .desc = "Largest vCard (XEP-0054) an account may store, in bytes of XML" },
    { .key = "services.private.max_size",
      .type = SETTING_LONG,
      SETTING_FIELD(services.private_max_size),
      .min = 256,
      .max = 16777216,
      .def = "65536",
      .desc = "Bytes of private XML (XEP-0049) one account may store in all" },
    { .key = "services.external",
      .type = SETTING_STRING,
      SETTING_FIELD(services.external),
      .def = "",
      .desc = "STUN and TURN services announced to a domain's accounts (XEP-0215 external "
              "service discovery)",
      .values =
          "a comma list of domain=type:host:port[/transport], type stun, stuns, turn or "
          "turns, domain * for every domain, e.g. \"example.org=turn:turn.example.org:3478/udp\"; "
          "empty = none" },
    { .key = "services.turn_secret",
      .type = SETTING_STRING,
      SETTING_FIELD(services.turn_secret),
      .def = "",
      .desc = "Shared secret of the TURN server (coturn static-auth-secret with use-auth-secret): "
              "turn and turns entries then carry time-limited credentials; empty = none",
      .values = "the secret as text" },
    { .key = "services.turn_ttl",
      .type = SETTING_INT,
      SETTING_FIELD(services.turn_ttl),
      .min = 60,
      .max = 604800,
      .def = "86400",
      .desc = "Seconds TURN credentials stay valid" },
    { .key = "services.push.include_body",
      .type = SETTING_BOOL,
      SETTING_FIELD(services.push_include_body),
      .def = "no",
      .desc = "Put the message text into XEP-0357 push notifications (the app server and the "
              "phone vendor's push service then see it)" },
    { .key = NULL },
};

struct services_worker *services__worker(void)
{
    return module_slot_make(&services_module, sizeof(struct services_worker));
}

static void services_module_stop(struct worker_ctx *wc)
{
    (void)wc;
    struct services_worker *sw = *module_slot(&services_module);
    if (sw != NULL) {
        free(sw->adhoc);
        module_slot_free(&services_module);
    }
}

struct module services_module = {
    .name = "services",
    .settings = services_settings,
    .worker_stop = services_module_stop,
};
