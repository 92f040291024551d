/* module.c: the TLS module in the module table: its settings rows (tls.*). */
#include <stddef.h>

#include "core/module.h"
#include "tls/tls.h"

static const struct setting tls_settings[] = {
    { .key = "tls.client_ca_file",
      .type = SETTING_STRING,
      SETTING_FIELD(tls.client_ca_file),
      .def = "",
      .desc = "File of CA certificates (PEM) trusted for client certificates (SASL EXTERNAL)",
      .values = "a file path; empty = client certificates are not checked" },
    { .key = "tls.s2s_ca_file",
      .type = SETTING_STRING,
      SETTING_FIELD(tls.s2s_ca_file),
      .def = "",
      .desc = "File of CA certificates (PEM) trusted for remote servers' certificates (SASL "
              "EXTERNAL between servers, XEP-0178)",
      .values = "a file path, or \"system\" for the system's CAs; empty = none (dialback)" },
    { .key = NULL },
};

/* The per-thread caches of conn.c hold references: given back before the worker ends. */
static void tls_worker_stop(struct worker_ctx *wc)
{
    (void)wc;
    tls_thread_cleanup();
}

struct module tls_module = {
    .name = "tls",
    .settings = tls_settings,
    .worker_stop = tls_worker_stop,
};
