/* im_int.h: shared internals of the IM core's files in src/im/ (not a public API). */
#ifndef STARLING_IM_IM_INT_H
#define STARLING_IM_IM_INT_H

#include "im/im.h"
#include "im/substate.h"
#include "store/store_im.h"

/* A JID a session sent directed available presence to (RFC 6121 §4.6). */
struct im_directed {
    struct im_directed *next;
    struct jid to;
};

/* The IM state of one session, hung on its router_session (rs->im), home worker only. */
struct im_session {
    struct router_session *rs;
    struct jid full;
    struct xml_node *presence; /* the last available presence it sent (shared), or NULL */
    bool roster_requested;     /* an interested resource (RFC 6121 §2.1.6) */
    bool blocklist_requested;  /* XEP-0191 pushes */
    bool carbons;              /* XEP-0280 enabled */
    bool archive_synced;       /* queried the archive (XEP-0313) before its initial presence */
    struct im_directed *directed;
};

/* im.c */
struct im_session *im__session(struct router_session *rs);
struct router_session *im__sessions(const struct jid *account);
struct store *im__store(void);
const struct settings *im__cfg(void);
/* A new signal; `data` (may be NULL) gets one more reference. */
struct signal *im__signal(enum signal_method m, const struct jid *from, const struct jid *to,
                          const char *type, struct xml_node *data);
void im__bare(const struct jid *j, struct jid *out);
/* jid_bare/jid_full into a fresh heap string. */
char *im__bare_str(const struct jid *j);
char *im__full_str(const struct jid *j);
/* Processes one subscription event between the account `user` and `contact` (bare JIDs);
 * `stanza` (may be NULL) is the stanza to route, deliver or store. The state change is stored
 * first: when that fails (the store's code is returned, and logged), nothing is sent. */
int im__subscription(const struct jid *user, const struct jid *contact, enum sub_event ev,
                     struct xml_node *stanza);
/* The user's presence (available resources' or unavailable) to one JID. */
void im__send_presence_to(const struct jid *user, const struct jid *to, bool available);
void im__send_probe(const struct jid *user, const struct jid *to);

/* blocking.c */
void im__blocklist_load(const struct jid *user, struct im_blocklist *bl);
void im__blocklist_free(struct im_blocklist *bl);
bool im__blocklist_match(const struct im_blocklist *bl, const struct jid *j);
bool im__blocked(const struct jid *user, const struct jid *other);
/* The <not-acceptable/> + <blocked/> error (XEP-0191 §3.5) for a stanza to a blocked JID. */
void im__refuse_blocked(struct router_session *rs, const struct signal *sig);

/* offline.c */
void im__offline_deliver(struct router_session *rs);
void im__pending_deliver(struct router_session *rs);

/* carbons.c */
void im__carbons_sent(struct router_session *rs, const struct signal *sig);

#endif
