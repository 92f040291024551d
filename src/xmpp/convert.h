/* convert.h: XMPP stanzas to signals and back (P-XMPP-Data keeps the stanza, copy-free). */
#ifndef STARLING_XMPP_CONVERT_H
#define STARLING_XMPP_CONVERT_H

#include "core/buf.h"
#include "signal/signal.h"

/* Makes the signal for a stanza from a client whose full JID is `from`. A missing 'to' means
 * the sender's own bare JID (RFC 6120 §10.3). Takes a reference on `el` on success.
 * Returns 0, or a negative code with the stanza error condition in *condition
 * ("jid-malformed", "bad-request"). */
int convert_stanza(struct xml_node *el, const struct jid *from, struct signal **out,
                   const char **condition);
/* The stanza text of a signal for a jabber:client or jabber:server stream: its P-XMPP-Data (or
 * a stanza built from the basic fields) with the signal's from/to written over the original's,
 * so a shared stanza is never copied. Appends to `out`; ERR_LIMIT past its maximum. */
int convert_signal_xml(const struct signal *sig, struct buf *out);
/* The stanza of a signal made by a non-XMPP producer, built from its basic fields. */
struct xml_node *convert_signal_stanza(const struct signal *sig);
/* The P-XMPP-Data of the error answer to `req`: the original stanza's children (or the body
 * of a non-XMPP producer's message) plus <error type=TYPE><CONDITION/></error>. */
struct xml_node *convert_error_stanza(const struct signal *req, const char *type,
                                      const char *condition);
/* The P-XMPP-Data of the result answer to the iq `req`: <iq type='result'/> with a copy of
 * `payload` (may be NULL; its reference is taken). */
struct xml_node *convert_result_stanza(const struct signal *req, struct xml_node *payload);
/* Registers the four above as the signals' wire format (signal_set_wire), at start-up. */
void convert_init(void);
/* Frees the calling thread's serializer scratch buffers (at thread end). */
void convert_thread_cleanup(void);

#endif
