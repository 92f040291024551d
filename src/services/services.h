/* services.h: protocol extensions answered by the server itself, one file each, in one table. */
#ifndef STARLING_SERVICES_SERVICES_H
#define STARLING_SERVICES_SERVICES_H

#include <stdbool.h>

#include "signal/signal.h"

/* Who the iq is addressed to: the server (its domain) or an account's bare JID, which the
 * server answers on the account's behalf. */
enum service_scope {
    SERVICE_SCOPE_SERVER = 1,
    SERVICE_SCOPE_ACCOUNT = 2,
};

struct service_ctx {
    const struct signal *req;    /* the INFO signal being answered */
    const struct xml_node *query; /* its payload element */
    enum service_scope scope;
};

/* A handler answers with exactly one of service_reply_* and returns its result. */
typedef int service_iq_fn(struct service_ctx *ctx);

struct service_iq {
    const char *ns;
    const char *name;
    service_iq_fn *get;
    service_iq_fn *set;
    unsigned scopes; /* mask of enum service_scope */
};

struct service {
    const char *name;
    const struct service_iq *iq; /* terminated by an entry with ns NULL */
    const char *const *features; /* disco#info features, NULL-terminated */
};

/* Handles a signal addressed to the server or to an account's bare JID; takes ownership. */
int services_handle(struct signal *sig, enum service_scope scope);

/* Answers with a result carrying `payload` (may be NULL; the reply takes the reference). */
int service_reply_result(struct service_ctx *ctx, struct xml_node *payload);
int service_reply_error(struct service_ctx *ctx, const char *type, const char *condition);

/* Calls fn for each feature the server implements, for disco#info. */
typedef void service_feature_fn(void *ud, const char *feature);
void services_foreach_feature(enum service_scope scope, service_feature_fn *fn, void *ud);

extern const struct service service_disco;
extern const struct service service_ping;
extern const struct service service_version;

#endif
