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
        struct jid bare = { 0 };
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

static void add_body(struct xml_node *st, const char *text)
{
    struct xml_node *body = xml_node_add_child(st, NULL, "body");
    xml_node_add_text(body, text, strlen(text));
}

struct xml_node *convert_signal_stanza(const struct signal *sig)
{
    struct xml_node *st = xml_node_new(NS_CLIENT, signal_stanza_name(sig->method));
    if (sig->type) {
        xml_node_set_attr(st, "type", sig->type);
    }
    if (sig->id) {
        xml_node_set_attr(st, "id", sig->id);
    }
    if (sig->body) {
        add_body(st, sig->body);
    }
    return st;
}

struct xml_node *convert_error_stanza(const struct signal *req, const char *type,
                                      const char *condition)
{
    struct xml_node *st = xml_node_new(NS_CLIENT, signal_stanza_name(req->method));
    xml_node_set_attr(st, "type", "error");
    if (req->id) {
        xml_node_set_attr(st, "id", req->id);
    }
    if (req->xmpp_data) {
        for (const struct xml_node *c = req->xmpp_data->first_child; c; c = c->next) {
            if (c->name) {
                xml_node_append_copy(st, c);
            }
        }
    } else if (req->body) {
        add_body(st, req->body);
    }
    struct xml_node *e = xml_node_add_child(st, NULL, "error");
    xml_node_set_attr(e, "type", type);
    xml_node_add_child(e, NS_STANZAS, condition);
    return st;
}

struct xml_node *convert_result_stanza(const struct signal *req, struct xml_node *payload)
{
    struct xml_node *iq = xml_node_new(NS_CLIENT, "iq");
    xml_node_set_attr(iq, "type", "result");
    if (req->id) {
        xml_node_set_attr(iq, "id", req->id);
    }
    if (payload) {
        xml_node_append_copy(iq, payload);
        xml_node_unref(payload);
    }
    return iq;
}

/* The addresses of the stanza being written, one pair per thread, kept between calls (a
 * delivery costs no allocation for them); nothing called from convert_signal_xml re-enters
 * it. */
static __thread struct buf t_to, t_from;

void convert_thread_cleanup(void)
{
    buf_cleanup(&t_to);
    buf_cleanup(&t_from);
}

int convert_signal_xml(const struct signal *sig, struct buf *out)
{
    if (t_to.max == 0) {
        buf_init(&t_to, 4096);
        buf_init(&t_from, 4096);
    }
    jid_full(&sig->to, &t_to);
    jid_full(&sig->from, &t_from);
    struct xml_ser_opts o = {
        .parent_ns = NS_CLIENT,
        .to = t_to.len ? buf_cstr(&t_to) : NULL,
        .from = t_from.len ? buf_cstr(&t_from) : NULL,
    };
    int rc;
    if (sig->xmpp_data) {
        rc = xml_serialize(out, sig->xmpp_data, &o);
    } else {
        struct xml_node *st = convert_signal_stanza(sig);
        rc = xml_serialize(out, st, &o);
        xml_node_unref(st);
    }
    return rc;
}

static const struct signal_wire g_wire = {
    .serialize = convert_signal_xml,
    .stanza = convert_signal_stanza,
    .error_stanza = convert_error_stanza,
    .result_stanza = convert_result_stanza,
};

void convert_init(void)
{
    signal_set_wire(&g_wire);
}
