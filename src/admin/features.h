/* features.h: what a domain offers (admin op "features", the WebAdmin's Features page). */
#ifndef STARLING_ADMIN_FEATURES_H
#define STARLING_ADMIN_FEATURES_H

#include <jansson.h>

struct store;
struct settings;

/* {"domain", "server": [{"feature", "name"}], "account": [...], "switches": [{"what", "on",
 * "setting", "value"}]}: the disco#info features of the server and of its accounts (the
 * namespaces `server` and `account`, arrays of strings, named where known), and the domain
 * and server settings (`cfg`) that turn protocols on or off. NULL for an unknown domain. */
json_t *admin_features_json(struct store *st, const struct settings *cfg, const char *domain,
                            const json_t *server, const json_t *account);

#endif
