/* carbons.c: XEP-0280 message carbons: sent and received copies for a user's other
 * carbons-enabled resources. */
#include <stdlib.h>
#include <string.h>

#include "im/im_int.h"
#include "xml/ns.h"

static bool type_is(const struct signal *sig, const char *t)
{
    return sig->type && strcmp(sig->type, t) == 0;
}

/* XEP-0280 §6: chat messages, and normal ones with a body, unless marked private or no-copy,
 * and never a carbon itself. */
static bool eligible(const struct signal *sig)
{
    if (sig->method != SIGNAL_MESSAGE) {
        return false;
    }
    const struct xml_node *m = sig->xmpp_data;
    bool chat = type_is(sig, "chat");
    bool normal = sig->type == NULL || type_is(sig, "normal");
    if (!chat && !normal) {
        return false;
    }
    if (m == NULL) {
        return chat || (sig->body != NULL);
    }
    bool body = false;
    for (const struct xml_node *c = xml_node_first_element(m); c; c = xml_node_next_element(c)) {
        const char *ns = c->ns ? c->ns : "";
        if (strcmp(ns, NS_CARBONS) == 0) {
            return false; /* <private/>, or a <sent/>/<received/> wrapper */
        }
        if (strcmp(ns, NS_HINTS) == 0 && strcmp(c->name, "no-copy") == 0) {
            return false;
        }
        if (strcmp(ns, NS_CLIENT) == 0 && strcmp(c->name, "body") == 0) {
            body = true;
        }
    }
    return chat || body;
}

/* <message from=bare to=full><KIND xmlns=carbons><forwarded><message …/></forwarded></KIND> */
static struct signal *wrap(const char *kind, const struct jid *bare, const struct jid *to,
                           const struct signal *sig)
{
    struct xml_node *outer = xml_node_new(NS_CLIENT, "message");
    if (sig->type) {
        xml_node_set_attr(outer, "type", sig->type);
    }
    struct xml_node *k = xml_node_add_child(outer, NS_CARBONS, kind);
    struct xml_node *fwd = xml_node_add_child(k, NS_FORWARD, "forwarded");
    struct xml_node *inner;
    if (sig->xmpp_data) {
        inner = xml_node_append_copy(fwd, sig->xmpp_data);
    } else {
        struct xml_node *built = signal_wire_stanza(sig);
        inner = built ? xml_node_append_copy(fwd, built) : NULL;
        if (built) {
            xml_node_unref(built);
        }
    }
    /* A message that came over s2s is a jabber:server element; the client reads the forwarded
     * copy in its own stream's namespace (XEP-0297), and the serializer lets the children
     * inherit it (RFC 6120 §4.8.3). */
    if (inner != NULL && inner->ns != NULL && strcmp(inner->ns, NS_SERVER) == 0) {
        inner->ns = NS_CLIENT;
    }
    char *from = im__full_str(&sig->from);
    char *dest = im__full_str(&sig->to);
    xml_node_set_attr(inner, "from", from);
    xml_node_set_attr(inner, "to", dest);
    free(from);
    free(dest);
    struct signal *c = im__signal(SIGNAL_MESSAGE, bare, to, sig->type, outer);
    xml_node_unref(outer);
    return c;
}

void im__carbons_sent(struct router_session *rs, const struct signal *sig)
{
    struct jid bare = { 0 };
    bool checked = false; /* eligible(sig) asked once, and only when a session wants copies */
    for (struct router_session *s = router_sessions(rs->bare); s; s = s->next) {
        if (s != rs && s->im && s->im->carbons) {
            if (!checked && !eligible(sig)) {
                return;
            }
            checked = true;
            if (bare.domain == NULL) {
                im__bare(&im__session(rs)->full, &bare);
            }
            s->deliver(s->ud, wrap("sent", &bare, &s->im->full, sig));
        }
    }
    jid_cleanup(&bare);
}

void im_carbons_received(struct router_session *sessions, const struct signal *sig,
                         struct router_session *const *to, size_t nto)
{
    struct jid bare = { 0 };
    bool checked = false; /* as in im__carbons_sent */
    for (struct router_session *s = sessions; s; s = s->next) {
        bool got = false;
        for (size_t i = 0; i < nto && !got; i++) {
            got = to[i] == s;
        }
        if (!got && s->im && s->im->carbons) {
            if (!checked && !eligible(sig)) {
                return;
            }
            checked = true;
            if (bare.domain == NULL) {
                im__bare(&sig->to, &bare);
            }
            s->deliver(s->ud, wrap("received", &bare, &s->im->full, sig));
        }
    }
    jid_cleanup(&bare);
}
