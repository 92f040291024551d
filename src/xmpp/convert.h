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
/* The XML text of a signal for a client stream: P-XMPP-Data (or a stanza built from the basic
 * fields) with the signal's from/to. */
int convert_signal_xml(const struct signal *sig, struct buf *out);

#endif
