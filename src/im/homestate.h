/* homestate.h: what an account's home worker remembers about it between its sessions: which of
 * its stores are known to be empty (so that a login does not read them), and its last-seen
 * record (the IM core's last unavailable presence and XEP-0012's logout), written behind in
 * batches. Every call runs on the home worker of the account; names are the prepared parts. */
#ifndef STARLING_IM_HOMESTATE_H
#define STARLING_IM_HOMESTATE_H

#include <stdbool.h>

#include "core/buf.h"

/* Stores an account may be known to hold nothing in. Every write to one of them happens on the
 * account's home worker, through the IM core, which calls im_note_filled() first; the removal of
 * an account only empties them. */
#define IM_HINT_ROSTER 1u  /* no live roster item */
#define IM_HINT_PENDING 2u /* no pending inbound subscription request */
#define IM_HINT_OFFLINE 4u /* no offline message */

/* True when every store in `what` is known to be empty. */
bool im_known_empty(const char *domain, const char *local, unsigned what);
/* A read found the stores in `what` empty. */
void im_note_empty(const char *domain, const char *local, unsigned what);
/* The stores in `what` are about to be written: no longer known to be empty. */
void im_note_filled(const char *domain, const char *local, unsigned what);

/* The account's last available resource went unavailable, with that status text ("" none). */
void im_last_seen_unavailable(const char *domain, const char *local, const char *status);
/* The account's last session ended (XEP-0012's logout). When noted in the same event as an
 * unavailable presence, both carry the same moment. */
void im_last_seen_logout(const char *domain, const char *local);

/* A successful login of the account from `address` ("[ip]:port"; issue 20), noted at its
 * resource binding on the home worker and written behind with the last-seen records: the login
 * path does no store write of its own. */
void im_last_login(const char *domain, const char *local, const char *address);
/* Both records, written or still pending: `seen`/`logout` are 0 when never recorded. `status`
 * (may be NULL) gets the status of the last unavailable presence. 0 or ERR_STORE. */
int im_last_seen_get(const char *domain, const char *local, long long *seen, struct buf *status,
                     long long *logout);

/* Writes the pending last-seen records in one store transaction; this happens by itself
 * IM_LAST_SEEN_DELAY_MS after the first of them, and at worker stop. */
#define IM_LAST_SEEN_DELAY_MS 250
/* When the store refuses the batch, the records are kept and written again after this. */
#define IM_LAST_SEEN_RETRY_MS 5000
void im_home_state_flush(void);
/* Flushes and forgets every account's state (it is rebuilt on demand): after a load peak. */
void im_home_state_release(void);
/* Flushes and frees this worker's state (at worker stop, before the store closes). */
void im_home_state_stop(void);

#endif
