/* http.h: the WebAdmin: the HTTP(S) server of the admin pages, the JSON API and /metrics. */
#ifndef STARLING_WEBADMIN_HTTP_H
#define STARLING_WEBADMIN_HTTP_H

#include <stddef.h>

#include "core/settings.h"
#include "admin/admin.h"

struct webadmin;

/* Creates the WebAdmin in front of `a` (borrowed: it must outlive the WebAdmin). `datadir` holds
 * certs/<domain>.crt|.key (the HTTPS certificate of the main domain) and SystemLogs/. Nothing is
 * opened yet. */
struct webadmin *webadmin_new(struct admin *a, const char *datadir);

/* Opens the sockets of cfg->webadmin.listener (one libmicrohttpd daemon each, with threads of
 * its own) and starts the thread that samples the counters and applies later changes. Returns 0,
 * or ERR_IO / ERR_TLS with a one-line reason in `err`; the WebAdmin must then be freed. */
int webadmin_start(struct webadmin *w, const struct settings *cfg, char *err, size_t errlen);

/* Takes the webadmin.* settings of `cfg` (copied). webadmin.metrics and session_timeout apply at
 * once; listener changes are applied by the WebAdmin's own thread shortly after (a socket that
 * cannot be opened is logged), never on the caller's thread, which may be serving an HTTP request
 * of the daemon being replaced. Thread-safe. */
void webadmin_reconfigure(struct webadmin *w, const struct settings *cfg);

/* Stops the thread and every daemon (waiting for requests in progress) and frees `w`; NULL is
 * accepted. Call it before the workers stop: a request may be waiting for them. */
void webadmin_free(struct webadmin *w);

/* The WebAdmin: webadmin.* settings in the module table (core/module.h). */
struct module;
extern struct module webadmin_module;

#endif
