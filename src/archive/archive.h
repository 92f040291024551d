/* archive.h: the message archive (XEP-0313): what is archived, stanza-ids (XEP-0359), and the
 * archive's writer thread, which batches the rows off the workers' hot path. */
#ifndef STARLING_ARCHIVE_ARCHIVE_H
#define STARLING_ARCHIVE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "signal/signal.h"
#include "store/store.h"
#include "xml/xml.h"

/* ---- the writer (main.c) ---- */

/* Starts the writer thread with its own store handle on `db_path`; ERR_STORE with a reason in
 * `err`. Rows queued before the start are kept until it runs. */
int archive_start(const char *db_path, char *err, size_t errlen);
/* Writes what is queued, then stops the thread (at shutdown, after the workers stopped). */
void archive_stop(void);
/* Waits until every row queued before the call is committed (a query sees the messages that
 * were delivered before it). Returns at once when the writer does not run. */
void archive_sync(void);
/* Retention of the background purge: rows older than `days` days are removed (0: kept
 * forever), unless the domain's own setting "archive_keep_days" says otherwise. Any thread. */
void archive_set_keep_days(int days);
/* Runs a purge pass now on the writer thread (domain NULL: all); returns at once. */
void archive_purge_now(void);

/* ---- on a worker ---- */

/* The archive in the module table (archive.* settings). */
struct module;
extern struct module archive_module;

/* A new archive id: the clock in microseconds, unique and increasing over the process. */
long long archive_new_id(void);

/* Archives a message of a local account, on the account's home worker, if the rules and the
 * account's preferences say so: `outgoing` (sent by the account, sig->from) or incoming
 * (sig->to). An incoming message archived gets <stanza-id by='bare JID'/>: its P-XMPP-Data is
 * replaced by a copy carrying it, without any stanza-id by that JID the sender put there. */
void archive_message(struct signal *sig, bool outgoing);

/* Queues a row of a room's archive (chat rooms, on the room's worker): the groupchat message
 * `stanza` (serialized) from occupant `nick` (real JID `real`, may be NULL); `body` for the
 * full-text index (may be NULL). */
void archive_room_add(long long id, const char *service, const char *room, const char *nick,
                      const char *real, const char *stanza, const char *body);

/* Tells the workers' caches of accounts without preferences that an account's preferences
 * were written (call after the write committed). Any thread. */
void archive_prefs_changed(void);

/* The message as an archive keeps it: true when a stanza of this type and payload may be
 * archived (a body or an encrypted payload; no error, headline, chat state alone, no-store or
 * no-permanent-store hint; a store hint forces it), `body` then points at its body element's
 * text node or is NULL. */
bool archive_worth(const struct signal *sig, const struct xml_node **body);

/* ---- queries (query.c), on a worker ---- */

/* Called for each result of a query before it is sent: may add to the forwarded message `msg`
 * (a room adds its occupant's real JID for those who may see it). `peer` and `peer_res` are the
 * row's (store_archive.h). */
typedef void archive_decorate_fn(void *ud, struct xml_node *msg, const char *peer,
                                 const char *peer_res);
/* Runs the XEP-0313 <query/> `query` of the iq `req` on the archive of (domain, name) (`room`:
 * a room's, whose "with" names an occupant): sends each result to req->from as a message from
 * req->to, in order, then gives the <fin/> of the iq result in *fin (the caller answers). Reads
 * what was queued before (archive_sync). ERR_PROTO (bad-request: an unknown field, a bad date
 * or JID), ERR_NOTFOUND (item-not-found: an id the archive does not hold) or a store code. */
int archive_query(struct store *st, const struct signal *req, const struct xml_node *query,
                  const char *domain, const char *name, bool room, archive_decorate_fn *decorate,
                  void *ud, struct xml_node **fin);
/* The <query/> with the form of the fields a query may use (XEP-0313 §5.1.2). */
struct xml_node *archive_query_form(void);
/* The <metadata/> of an archive (its first and last message, XEP-0313 §7.1) in *meta; a store
 * code. */
int archive_metadata(struct store *st, const char *domain, const char *name,
                     struct xml_node **meta);

#endif
