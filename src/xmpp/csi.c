/* csi.c: XEP-0352 client state indication: while a client says it is inactive, presence updates
 * and chat states for it are held, the latest per contact, and sent when it is active again or
 * when something urgent goes out first. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "xml/ns.h"
#include "xmpp/stream_internal.h"

struct csi_held {
    struct csi_held *next;
    struct signal *sig;
};

/* A message whose only payload is chat states, hints and a thread: a typing notification. */
static bool only_chat_state(const struct signal *sig)
{
    if (sig->xmpp_data == NULL || sig->body != NULL) {
        return false;
    }
    bool state = false;
    for (const struct xml_node *c = xml_node_first_element(sig->xmpp_data); c;
         c = xml_node_next_element(c)) {
        if (c->ns && strcmp(c->ns, NS_CHATSTATES) == 0) {
            state = true;
        } else if (c->ns && strcmp(c->ns, NS_CLIENT) == 0 && strcmp(c->name, "thread") == 0) {
            continue;
        } else if (c->ns == NULL || strcmp(c->ns, NS_HINTS) != 0) {
            return false;
        }
    }
    return state;
}

/* What may wait: presence updates (not subscription requests) and chat states. */
static bool holdable(const struct signal *sig)
{
    if (sig->method == SIGNAL_NOTIFY) {
        return sig->type == NULL || strcmp(sig->type, "unavailable") == 0;
    }
    return sig->method == SIGNAL_MESSAGE && (sig->type == NULL || strcmp(sig->type, "error")) &&
           only_chat_state(sig);
}

/* The same contact (full JID) and the same kind of stanza: the newer one replaces it. */
static bool same_slot(const struct signal *a, const struct signal *b)
{
    return a->method == b->method && jid_eq(&a->from, &b->from);
}

bool c2s__csi_hold(struct c2s_session *s, struct signal *sig)
{
    if (!s->inactive || !holdable(sig)) {
        return false;
    }
    struct csi_held **pp = &s->held;
    while (*pp) {
        if (same_slot((*pp)->sig, sig)) {
            struct csi_held *old = *pp;
            *pp = old->next;
            signal_free(old->sig);
            free(old);
            continue;
        }
        pp = &(*pp)->next;
    }
    struct csi_held *h = xcalloc(1, sizeof(*h));
    h->sig = sig;
    *pp = h;
    return true;
}

void c2s__csi_flush(struct c2s_session *s)
{
    struct csi_held *h = s->held;
    s->held = NULL;
    while (h) {
        struct csi_held *next = h->next;
        c2s__send(s, h->sig);
        free(h);
        h = next;
    }
}

void c2s__csi_free(struct c2s_session *s)
{
    while (s->held) {
        struct csi_held *h = s->held;
        s->held = h->next;
        signal_free(h->sig);
        free(h);
    }
}

void c2s__csi_element(struct xstream *st, const struct xml_node *el)
{
    struct c2s_session *s = st->sess;
    if (strcmp(el->name, "inactive") == 0) {
        s->inactive = true;
    } else if (strcmp(el->name, "active") == 0) {
        s->inactive = false;
        s->push_count = 0;
        c2s__csi_flush(s);
    } else {
        xstream_error(st, "unsupported-stanza-type", NULL);
    }
}

void c2s__csi_resumed(struct c2s_session *s)
{
    /* A resumed stream starts active (XEP-0352 §3: the state is that of the stream). */
    s->inactive = false;
    c2s__csi_flush(s);
}

int c2s__csi_bind2(struct c2s_session *s, const struct xml_node *req, struct buf *bound)
{
    (void)bound; /* XEP-0386: nothing answered inside <bound/> */
    if (strcmp(req->name, "inactive") == 0) {
        s->inactive = true;
    } else if (strcmp(req->name, "active") == 0) {
        s->inactive = false;
    } else {
        return ERR_PROTO;
    }
    return 0;
}
