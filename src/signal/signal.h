/* signal.h: protocol-neutral Real-Time signals (MESSAGE, SUBSCRIBE, NOTIFY, INFO). */
#ifndef STARLING_SIGNAL_SIGNAL_H
#define STARLING_SIGNAL_SIGNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/buf.h"
#include "jid/jid.h"
#include "xml/ns.h"
#include "xml/xml.h"

enum signal_method {
    SIGNAL_MESSAGE,   /* <message/> */
    SIGNAL_SUBSCRIBE, /* <presence type='subscribe|subscribed|unsubscribe|unsubscribed'/> */
    SIGNAL_NOTIFY,    /* availability <presence/>, probes, errors */
    SIGNAL_INFO,      /* <iq/> */
};

/* Something a layer above attaches to a signal and a later step of the same signal's journey in
 * this process reads (the archive's serialized text, archive/archive.c): reference-counted, freed
 * by `free` at the last release. The signal layer knows nothing else of it. */
struct signal_ref {
    atomic_int refs;
    void (*free)(struct signal_ref *r);
};
/* One more reference on `r` (returned); signal_ref_put releases one (NULL: nothing). Any
 * thread. */
struct signal_ref *signal_ref_get(struct signal_ref *r);
void signal_ref_put(struct signal_ref *r);

/* A signal owns its strings and holds one reference on its P-XMPP-Data. Fields a non-XMPP
 * producer fills: method, from, to, type and body; the XMPP writer builds the stanza from them
 * when xmpp_data is NULL. */
struct signal {
    enum signal_method method;
    struct jid from;
    struct jid to;
    const char *event;          /* "presence" for SUBSCRIBE and NOTIFY, else NULL */
    char *type;                 /* the stanza's type attribute, NULL when absent */
    char *id;                   /* the stanza's id, NULL when absent */
    char *body;                 /* MESSAGE text from a non-XMPP producer */
    struct xml_node *xmpp_data; /* P-XMPP-Data: the original stanza, shared read-only */
    /* An attachment (one reference, NULL: none): it describes the signal as it was when
     * attached, so its reader checks what it depends on (archive_message compares the
     * addresses and the P-XMPP-Data); never sent to another node (cluster signals are made
     * anew from text). Copies (signal_dup) share it; signal_free releases it. */
    struct signal_ref *att;
};

struct signal *signal_new(enum signal_method method);
void signal_free(struct signal *sig);
const char *signal_method_name(enum signal_method m);
/* Attaches `r` to `sig` (its reference is taken; the one attached before is released). */
void signal_attach(struct signal *sig, struct signal_ref *r);
/* Detaches the signal's attachment: the caller gets its reference (NULL: none). */
struct signal_ref *signal_detach(struct signal *sig);
/* The stanza name that carries a method ("message", "presence", "iq"). */
const char *signal_stanza_name(enum signal_method m);

/* A copy sharing the same P-XMPP-Data and attachment (one more reference on each). */
struct signal *signal_dup(const struct signal *sig);

/* The error answer to `req`: from/to swapped, same method, type "error", same id; its
 * P-XMPP-Data is made by the wire format (the original stanza's children plus
 * <error type=TYPE><CONDITION/></error>, RFC 6120 §8.3), none without one. NULL when `req` has
 * no sender. */
struct signal *signal_error_new(const struct signal *req, const char *type, const char *condition);
/* The result answer to the iq `req`: from/to swapped, type "result", same id; its P-XMPP-Data
 * is <iq type='result'/> with a copy of `payload` (may be NULL; its reference is taken). */
struct signal *signal_result_new(const struct signal *req, struct xml_node *payload);

/* The stanza error condition for a store call that failed with `rc` (RFC 6120 §8.3.3):
 * resource-constraint when the store is full (ERR_NOSPACE), internal-server-error otherwise;
 * both of type "wait" (*type): the same request may succeed later. */
const char *signal_store_condition(int rc, const char **type);

/* The wire format of signals: XMPP stanzas, made and written by the protocol module
 * (xmpp/convert.c), which registers these at start-up. The router, the IM core and the services
 * sit below it and reach it only through here (docs/internals/router.md). */
struct signal_wire {
    /* The stanza text of a signal (its P-XMPP-Data, or a stanza built from its basic fields)
     * with the signal's from/to; appends to `out`, ERR_LIMIT past its maximum. */
    int (*serialize)(const struct signal *sig, struct buf *out);
    /* A new stanza built from a signal's basic fields (a non-XMPP producer's). */
    struct xml_node *(*stanza)(const struct signal *sig);
    /* The P-XMPP-Data of the error answer to `req` (see signal_error_new). */
    struct xml_node *(*error_stanza)(const struct signal *req, const char *type,
                                     const char *condition);
    /* The P-XMPP-Data of the result answer to the iq `req` (see signal_result_new). */
    struct xml_node *(*result_stanza)(const struct signal *req, struct xml_node *payload);
};
/* At start-up, before the workers run; `w` is kept (static storage). */
void signal_set_wire(const struct signal_wire *w);
/* The wire's serialize (ERR_INVAL without a wire) and stanza (NULL without one). */
int signal_wire_serialize(const struct signal *sig, struct buf *out);
struct xml_node *signal_wire_stanza(const struct signal *sig);

#endif
