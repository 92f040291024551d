/* services_int.h: helpers shared by the service files (not for other modules). */
#ifndef STARLING_SERVICES_SERVICES_INT_H
#define STARLING_SERVICES_SERVICES_INT_H

#include <stdbool.h>

#include "services/services.h"
#include "xml/ns.h"

/* Largest stored element read back (the ceiling of the services.*.max_size settings). */
#define SERVICES_STORED_MAX (16u * 1024 * 1024 + 4096)

struct adhoc_session;

/* The services' state on one worker, in the services module's slot (core/module.h). */
struct services_worker {
    struct adhoc_session *adhoc; /* adhoc.c: the open command sessions */
};

/* The calling worker's services state (made on first use; freed by the module's stop). */
struct services_worker *services__worker(void);

/* The element serialized in `text` (as stored by services__serialize) as a new tree; NULL when
 * it does not parse. */
struct xml_node *services__parse(const char *text, size_t len);
/* The XML text of `n` with its own namespace declared, for storage; ERR_LIMIT past `max`. */
int services__serialize(const struct xml_node *n, size_t max, struct buf *out);

/* Is the requester of `req` the account it is addressed to (same bare JID)? */
bool services__is_self(const struct signal *req);
/* Is the requester of `req` one of the resources of the account it is addressed to (the
 * owner's own session, as roster, blocking and carbons requests must come from)? */
bool services__from_own_resource(const struct signal *req);

/* Answers with an error that carries an application condition (XEP-0050 <bad-sessionid/>…)
 * beside the stanza condition. `app_ns` NULL: none. */
int services__reply_error_app(struct service_ctx *ctx, const char *type, const char *condition,
                              const char *app_ns, const char *app_condition);

/* XEP-0004 helpers: the first value of field `var` of a form (NULL when absent), and the
 * building of forms. */
const char *services__form_value(const struct xml_node *form, const char *var, struct buf *out);
struct xml_node *services__form_add(struct xml_node *parent, const char *type,
                                    const char *form_type);
struct xml_node *services__field_add(struct xml_node *form, const char *var, const char *type,
                                     const char *label, const char *value);
void services__field_value(struct xml_node *field, const char *value);

/* Lists the service that `hook` names for the requested domain (a chat service, an upload
 * service) as a disco#items entry called `label`; nothing without a hook or a service. */
void services__hooked_item(services_chat_service_fn *hook, const struct service_ctx *ctx,
                           const char *label, service_item_fn *fn, void *ud);
/* push.c: an answer to one of our notifications (an error removes that registration). */
void services__push_answer(const struct signal *sig);

#endif
