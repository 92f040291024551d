/* convert.c: message -> MESSAGE, presence -> SUBSCRIBE / NOTIFY, iq -> INFO, and back. */
#include "xmpp/convert.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "xml/ns.h"

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int method_of(const struct xml_node *el, const char *type, enum signal_method *m)
{
    if (strcmp(el->name, "message") == 0) {
        *m = SIGNAL_MESSAGE;
        return type == NULL || streq(type, "normal") || streq(type, "chat") ||
                       streq(type, "groupchat") || streq(type, "headline") || streq(type, "error")
                   ? 0
                   : ERR_PROTO;
    }
    if (strcmp(el->name, "presence") == 0) {
        bool sub = streq(type, "subscribe") || streq(type, "subscribed") ||
                   streq(type, "unsubscribe") || streq(type, "unsubscribed");
        *m = sub ? SIGNAL_SUBSCRIBE : SIGNAL_NOTIFY;
        return type == NULL || sub || streq(type, "unavailable") || streq(type, "probe") ||
                       streq(type, "error")
                   ? 0
                   : ERR_PROTO;
    }
    if (strcmp(el->name, "iq") == 0) {
        *m = SIGNAL_INFO;
        return streq(type, "get") || streq(type, "set") || streq(type, "result") ||
                       streq(type, "error")
                   ? 0
                   : ERR_PROTO;
    }
    return ERR_PROTO;
}

int convert_stanza(struct xml_node *el, const struct jid *from, struct signal **out,
                   const char **condition)
{
    const char *type = xml_node_attr(el, "type");
    const char *id = xml_node_attr(el, "id");
    const char *to = xml_node_attr(el, "to");
    enum signal_method m;
    *out = NULL;
    if (method_of(el, type, &m) != 0 || (m == SIGNAL_INFO && id == NULL)) {
        *condition = "bad-request";
        return ERR_PROTO;
    }
    struct signal *sig = signal_new(m);
    if (to) {
        if (jid_parse(&sig->to, strv_c(to)) != 0) {
            signal_free(sig);
            *condition = "jid-malformed";
            return ERR_INVAL;
        }
    } else {
        struct jid bare = {0};
        jid_copy(&bare, from);
        free(bare.resource);
        bare.resource = NULL;
        sig->to = bare;
    }
    jid_copy(&sig->from, from);
    sig->type = type ? xstrdup(type) : NULL;
    sig->id = id ? xstrdup(id) : NULL;
    sig->xmpp_data = xml_node_ref(el);
    *out = sig;
    return 0;
}

int convert_signal_xml(const struct signal *sig, struct buf *out)
{
    return signal_serialize(sig, out);
}
