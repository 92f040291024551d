/* store_push.h: the store's "push" area: XEP-0357 push registrations of accounts (app server,
 * node, publish-options form), removed with their account. */
#ifndef STARLING_STORE_STORE_PUSH_H
#define STARLING_STORE_STORE_PUSH_H

#include "store/store.h"

/* Adds or replaces the registration (`service`, `node`) of an account; `options` is the
 * serialized publish-options form ("" for none). ERR_NOTFOUND when the account does not exist. */
int store_push_enable(struct store *st, const char *domain, const char *name, const char *service,
                      const char *node, const char *options);
/* Removes the registration (`service`, `node`), or every one with `service` when `node` is NULL.
 * 0 also when there was none. */
int store_push_disable(struct store *st, const char *domain, const char *name, const char *service,
                       const char *node);
/* Removes the registration numbered `id` (as listed) if its service is `service`; ERR_NOTFOUND
 * when there is no such one. */
int store_push_remove_id(struct store *st, const char *domain, const char *name, const char *id,
                         const char *service);
/* Every registration of an account, oldest first. */
typedef int store_push_fn(void *ud, const char *id, const char *service, const char *node,
                          const char *options);
int store_push_list(struct store *st, const char *domain, const char *name, store_push_fn *fn,
                    void *ud);

#endif
