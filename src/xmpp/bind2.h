/* bind2.h: the inline features of XEP-0386 Bind 2: what a client may ask for inside the <bind/>
 * of its SASL2 <authenticate/>, answered inside <bound/> of the <success/>.
 *
 * A feature registers a namespace (advertised as <feature var='NS'/> under the Bind 2 inline
 * list) and a handler. After the resource is bound, each child of the client's <bind/> in that
 * namespace goes to the handler, in the order the client sent them, with the new session; the
 * handler appends its answer (e.g. <enabled xmlns='urn:xmpp:sm:3' …/>) to `bound`, or nothing.
 * Message carbons (XEP-0280, <enable xmlns='urn:xmpp:carbons:2'/>) are built in; stream
 * management (XEP-0198 <enable/>) and CSI (XEP-0352 <active/>/<inactive/>) register themselves
 * from main.c the same way. docs/internals/sasl2.md. */
#ifndef STARLING_XMPP_BIND2_H
#define STARLING_XMPP_BIND2_H

#include <stddef.h>

#include "core/buf.h"
#include "xml/xml.h"
#include "xmpp/c2s.h"

/* Handles `req` (a child of the client's <bind/> in the registered namespace) for the bound
 * session `s`; appends any answer to `bound`. A non-zero return is logged; the login goes on. */
typedef int xstream_bind2_fn(struct c2s_session *s, const struct xml_node *req, struct buf *bound);

#define XSTREAM_BIND2_MAX 8
/* At start-up, before the workers run. ERR_LIMIT past XSTREAM_BIND2_MAX, ERR_EXISTS when the
 * namespace is registered already. `ns` must have static storage. */
int xstream_bind2_register(const char *ns, xstream_bind2_fn *fn);
/* The registered namespaces (the built-in carbons first), for the inline list: count, and the
 * i-th. */
size_t xstream_bind2_count(void);
const char *xstream_bind2_ns(size_t i);
/* Runs the handler of `req`'s namespace; ERR_NOTFOUND when none is registered. */
int xstream_bind2_run(struct c2s_session *s, const struct xml_node *req, struct buf *bound);

/* SASL2 inline features other than Bind 2 (XEP-0388 §2.4), e.g. XEP-0198 resumption inside
 * <authenticate/>: `advertise` appends its element to the <inline/> of <authentication/> (e.g.
 * "<sm xmlns='urn:xmpp:sm:3'/>"); after the mechanism succeeded, on the account's worker and
 * before Bind 2, `run` sees the client's whole <authenticate/> and may append to <success/>
 * (e.g. <resumed/>). It returns XSTREAM_SASL2_BOUND when it attached the stream to a session
 * itself (the stream is XS_BOUND; Bind 2 is skipped), 0 when it did nothing, or an error code
 * (logged; the login goes on). `after`, when not NULL, runs once <success/> has been
 * written (e.g. the resend of the unacknowledged stanzas of a resumed session). */
struct xstream;
typedef void xstream_sasl2_advertise_fn(struct buf *inline_out);
typedef int xstream_sasl2_inline_fn(struct xstream *st, const struct xml_node *authenticate,
                                    struct buf *success_out);
typedef void xstream_sasl2_after_fn(struct xstream *st);
#define XSTREAM_SASL2_BOUND 1
#define XSTREAM_SASL2_INLINE_MAX 4
/* At start-up. ERR_LIMIT past XSTREAM_SASL2_INLINE_MAX. */
int xstream_sasl2_inline_register(xstream_sasl2_advertise_fn *advertise,
                                  xstream_sasl2_inline_fn *run, xstream_sasl2_after_fn *after);
/* sasl2.c: the registered advertisements, then the handlers in registration order (stops at the
 * first XSTREAM_SASL2_BOUND, which it returns). */
void xstream__sasl2_inline_advertise(struct buf *inline_out);
int xstream__sasl2_inline_run(struct xstream *st, const struct xml_node *authenticate,
                              struct buf *success_out);
/* The `after` hooks, in registration order, once <success/> is out. */
void xstream__sasl2_inline_after(struct xstream *st);

#endif
