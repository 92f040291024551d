/* stream.h: one XMPP stream over a transport: header, features, STARTTLS, SASL, legacy auth,
 * resource binding, then stanzas for the c2s session. */
#ifndef STARLING_XMPP_STREAM_H
#define STARLING_XMPP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct conn;
struct xstream;

/* A stream feature computed by another module (e.g. XEP-0115 caps, services/disco.c): appends its
 * elements to `out`. Offered on client streams once TLS is on (or not required), in
 * registration order after the stream's own features. */
typedef void xstream_feature_fn(struct buf *out);
/* At start-up, before the workers run. At most XSTREAM_MAX_FEATURES. */
#define XSTREAM_MAX_FEATURES 8
void xstream_add_feature(xstream_feature_fn *fn);
/* At start-up: XEP-0198 stream management and XEP-0352 CSI inline in Bind 2, and XEP-0198
 * resumption inline in SASL2 (sm.c). 0 or an error code of the registries (xmpp/bind2.h). */
int xstream_sm_inline_register(void);

/* Creates the stream of a fresh connection, makes it the conn's owner (struct conn_ops: the conn
 * feeds it and reports its close through the functions below) and arms its authentication timeout. */
struct xstream *xstream_new(struct conn *c);
void xstream_free(struct xstream *st);

/* Plaintext from the peer. Returns how many bytes were used: fewer than `len` when the
 * transport must change first (TLS starts) or the connection must move to another worker
 * (xstream_wants_move() >= 0); the caller keeps the rest. */
size_t xstream_feed(struct xstream *st, const char *data, size_t len);
/* The worker the connection must move to, or -1. */
int xstream_wants_move(const struct xstream *st);
/* Called on the new worker after a move. */
void xstream_moved(struct xstream *st);
/* The transport is gone (peer closed, error, or our close completed). */
void xstream_on_closed(struct xstream *st);
/* Frees the XML parser of a stream idle between stanzas (it is re-made on the next bytes).
 * Returns true when a parser was freed now. */
bool xstream_sleep(struct xstream *st);
/* Ends the stream with a stream error (condition of RFC 6120 §4.9.3) and closes. */
void xstream_error(struct xstream *st, const char *condition, const char *text);
/* The stream error <see-other-host>ADDRESS</see-other-host> (RFC 6120 §4.9.3.19): the client
 * is to connect to ADDRESS ("host:port", an IPv6 host in brackets) instead. */
void xstream_see_other_host(struct xstream *st, const char *address, const char *text);
/* Bytes other than whitespace came with <starttls/>, before our <proceed/>: they are neither
 * stream nor handshake (RFC 6120 section 5.4.3.3). The transport is plain again; this ends the
 * stream with a stream error. */
void xstream_error_before_tls(struct xstream *st);
/* Server shutdown. */
void xstream_shutdown(struct xstream *st);

/* Monitoring. */
const char *xstream_state_name(const struct xstream *st);
/* The bound full JID, the authenticated bare JID, or NULL. */
const char *xstream_jid(const struct xstream *st);
/* How the stream authenticated ("SCRAM-SHA-256-PLUS", "legacy digest"…), or NULL. */
const char *xstream_mechanism(const struct xstream *st);
/* The client software (SASL2 <software/> or XEP-0115 caps node), or NULL (issue 20). */
const char *xstream_client(const struct xstream *st);
/* For the transport's pre-authentication deadlines (conn.c, through conn_ops): the peer has authenticated (a
 * client by SASL or legacy auth, a server for at least one domain); the stream waits for the
 * peer's stream header (a new connection, or a restart after STARTTLS or SASL). */
bool xstream_authenticated(const struct xstream *st);
bool xstream_awaiting_header(const struct xstream *st);

#endif
