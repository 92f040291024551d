/* store_services.h: the "services" area of the store: vCards, private XML, last activity. */
#ifndef STARLING_STORE_STORE_SERVICES_H
#define STARLING_STORE_STORE_SERVICES_H

#include "core/buf.h"
#include "store/store.h"

/* Same contracts as store.h: `domain` and `name` are the prepared parts of an account; rows of
 * an account go away with it. Writes for an account that does not exist give ERR_NOTFOUND. */

/* XEP-0054: the account's vCard as serialized XML, and the SHA-1 (hex) of its photo for
 * XEP-0153 ("" when the vCard has no photo). ERR_NOTFOUND when none is stored. */
int store_vcard_get(struct store *st, const char *domain, const char *name, struct buf *xml);
int store_vcard_photo_hash(struct store *st, const char *domain, const char *name,
                           struct buf *hash);
/* Replaces the vCard; `photo_hash` may be "" (no photo). */
int store_vcard_set(struct store *st, const char *domain, const char *name, const char *xml,
                    const char *photo_hash);

/* XEP-0049: one stored element per (namespace, element name). ERR_NOTFOUND when none. */
int store_private_get(struct store *st, const char *domain, const char *name, const char *ns,
                      const char *element, struct buf *xml);
/* Replaces one element. */
int store_private_set(struct store *st, const char *domain, const char *name, const char *ns,
                      const char *element, const char *xml);
/* Bytes of private XML stored for the account, not counting (ns, element) itself (NULLs:
 * counting everything), for the per-account quota. */
int store_private_size(struct store *st, const char *domain, const char *name, const char *ns,
                       const char *element, long long *bytes);

/* XEP-0012: when the account's last session ended (seconds since the epoch) and the status
 * text it left with ("" when none). ERR_NOTFOUND when it never logged out. */
int store_last_set(struct store *st, const char *domain, const char *name, long long when,
                   const char *status);
int store_last_get(struct store *st, const char *domain, const char *name, long long *when,
                   struct buf *status);

#endif
