/* store_im.h: the "im" area of the store: rosters, pending subscriptions, offline messages,
 * blocklists and the last presence of accounts (RFC 6121, XEP-0160, XEP-0191). */
#ifndef STARLING_STORE_STORE_IM_H
#define STARLING_STORE_STORE_IM_H

#include <stdbool.h>

#include "core/buf.h"
#include "store/store.h"

/* Every row belongs to an account (domain, name) and goes with it (ON DELETE CASCADE). Calls
 * return 0 or a negative code as described in store.h; ERR_NOTFOUND where stated. */

/* Subscription bits of a roster item. */
#define STORE_SUB_TO 1   /* the user receives the contact's presence */
#define STORE_SUB_FROM 2 /* the contact receives the user's presence */

/* One roster item. `groups` holds the group names, each terminated by '\n' ("" = none). A
 * removed item is kept as a tombstone (removed true) so that roster versioning can push its
 * removal; the normal listings skip tombstones. */
struct store_roster_item {
    const char *contact; /* bare JID */
    const char *name;    /* NULL when unset */
    const char *groups;
    int sub;       /* STORE_SUB_* bits */
    bool ask;      /* Pending Out: a subscribe was sent and not answered */
    bool approved; /* pre-approved (RFC 6121 §3.4) */
    bool removed;
    long long ver; /* the roster version of its last change */
};

typedef int store_roster_fn(void *ud, const struct store_roster_item *it);

/* Live items ordered by contact (since < 0), or every item, tombstones included, changed after
 * version `since`, ordered by version (since >= 0). */
int store_im_roster_list(struct store *st, const char *domain, const char *name, long long since,
                         store_roster_fn *fn, void *ud);
/* One live item; ERR_NOTFOUND. */
int store_im_roster_get(struct store *st, const char *domain, const char *name, const char *contact,
                        store_roster_fn *fn, void *ud);
/* Creates or replaces a live item (it->removed and it->ver ignored): bumps the account's roster
 * version, which becomes the item's and is written to *ver. */
int store_im_roster_put(struct store *st, const char *domain, const char *name,
                        const struct store_roster_item *it, long long *ver);
/* Turns a live item into a tombstone at a new version (*ver); ERR_NOTFOUND. */
int store_im_roster_remove(struct store *st, const char *domain, const char *name,
                           const char *contact, long long *ver);
/* The number of live items, or negative. */
int store_im_roster_count(struct store *st, const char *domain, const char *name);
/* The account's roster version (0 when it never had a roster). */
int store_im_roster_version(struct store *st, const char *domain, const char *name, long long *ver);

/* The pending inbound subscription request of `contact` (the complete original stanza). */
int store_im_pending_set(struct store *st, const char *domain, const char *name,
                         const char *contact, const char *stanza);
/* ERR_NOTFOUND when none. */
int store_im_pending_get(struct store *st, const char *domain, const char *name,
                         const char *contact, struct buf *stanza);
/* Removing nothing is not an error; *removed (may be NULL) tells whether a row went. */
int store_im_pending_remove(struct store *st, const char *domain, const char *name,
                            const char *contact, bool *removed);
/* Rows: cols[0] contact, cols[1] stanza; oldest first. */
int store_im_pending_list(struct store *st, const char *domain, const char *name, store_row_fn *fn,
                          void *ud);

/* Stores one offline message unless the account holds `quota` messages already (ERR_LIMIT). */
int store_im_offline_add(struct store *st, const char *domain, const char *name, const char *sender,
                         long long stamp, const char *stanza, int quota);
/* Messages in arrival order. */
typedef int store_offline_fn(void *ud, long long id, long long stamp, const char *stanza);
int store_im_offline_list(struct store *st, const char *domain, const char *name,
                          store_offline_fn *fn, void *ud);
int store_im_offline_remove(struct store *st, long long id);
int store_im_offline_count(struct store *st, const char *domain, const char *name);

/* The blocklist: JIDs as given (bare, full or domain), prepared. Adding a present JID is not
 * an error. */
int store_im_block_add(struct store *st, const char *domain, const char *name, const char *jid);
int store_im_block_remove(struct store *st, const char *domain, const char *name, const char *jid);
int store_im_block_clear(struct store *st, const char *domain, const char *name);
/* Rows: a = the JID; ordered by JID. */
int store_im_block_list(struct store *st, const char *domain, const char *name, store_row_fn *fn,
                        void *ud);
int store_im_block_count(struct store *st, const char *domain, const char *name);

/* When the account was last seen (its last resource went unavailable) and its last status. */
int store_im_last_set(struct store *st, const char *domain, const char *name, long long stamp,
                      const char *status);
/* ERR_NOTFOUND when never seen; `status` may be NULL. */
int store_im_last_get(struct store *st, const char *domain, const char *name, long long *stamp,
                      struct buf *status);

#endif
