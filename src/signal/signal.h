/* signal.h: protocol-neutral Real-Time signals (MESSAGE, SUBSCRIBE, NOTIFY, INFO). */
#ifndef STARLING_SIGNAL_SIGNAL_H
#define STARLING_SIGNAL_SIGNAL_H

#include <stdbool.h>

#include "jid/jid.h"
#include "xml/xml.h"
#include "xmpp/ns.h"

enum signal_method {
    SIGNAL_MESSAGE,   /* <message/> */
    SIGNAL_SUBSCRIBE, /* <presence type='subscribe|subscribed|unsubscribe|unsubscribed'/> */
    SIGNAL_NOTIFY,    /* availability <presence/>, probes, errors */
    SIGNAL_INFO,      /* <iq/> */
};

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
};

struct signal *signal_new(enum signal_method method);
void signal_free(struct signal *sig);
const char *signal_method_name(enum signal_method m);
/* The stanza name that carries a method ("message", "presence", "iq"). */
const char *signal_stanza_name(enum signal_method m);

/* A copy sharing the same P-XMPP-Data (one more reference). */
struct signal *signal_dup(const struct signal *sig);

/* The error answer to `req`: from/to swapped, same method, type "error", same id; its
 * P-XMPP-Data is the original stanza's children plus <error type=TYPE><CONDITION/></error>
 * (RFC 6120 §8.3). NULL when `req` has no sender. */
struct signal *signal_error_new(const struct signal *req, const char *type, const char *condition);

/* The stanza error condition for a store call that failed with `rc` (RFC 6120 §8.3.3):
 * resource-constraint when the store is full (ERR_NOSPACE), internal-server-error otherwise;
 * both of type "wait" (*type): the same request may succeed later. */
const char *signal_store_condition(int rc, const char **type);

/* The stanza text of a signal for a jabber:client or jabber:server stream: its P-XMPP-Data (or
 * a stanza built from the basic fields) with the signal's from/to written over the original's,
 * so a shared stanza is never copied. Appends to `out`; ERR_LIMIT past its maximum. */
int signal_serialize(const struct signal *sig, struct buf *out);
/* Frees the calling thread's serializer scratch buffers (at thread end). */
void signal_thread_cleanup(void);

/* Builds the P-XMPP-Data of a signal made by a non-XMPP producer (from its basic fields). */
struct xml_node *signal_to_stanza(const struct signal *sig);

#endif
