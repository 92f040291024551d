/* signal.c: the signal object. */
#include "signal/signal.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

struct signal *signal_new(enum signal_method method)
{
    struct signal *sig = xcalloc(1, sizeof(*sig));
    sig->method = method;
    if (method == SIGNAL_SUBSCRIBE || method == SIGNAL_NOTIFY) {
        sig->event = "presence";
    }
    return sig;
}

void signal_free(struct signal *sig)
{
    if (sig == NULL) {
        return;
    }
    jid_cleanup(&sig->from);
    jid_cleanup(&sig->to);
    free(sig->type);
    free(sig->id);
    free(sig->body);
    if (sig->xmpp_data) {
        xml_node_unref(sig->xmpp_data);
    }
    free(sig);
}

const char *signal_method_name(enum signal_method m)
{
    switch (m) {
    case SIGNAL_MESSAGE:
        return "MESSAGE";
    case SIGNAL_SUBSCRIBE:
        return "SUBSCRIBE";
    case SIGNAL_NOTIFY:
        return "NOTIFY";
    case SIGNAL_INFO:
        return "INFO";
    }
    return "?";
}

const char *signal_stanza_name(enum signal_method m)
{
    switch (m) {
    case SIGNAL_MESSAGE:
        return "message";
    case SIGNAL_SUBSCRIBE:
    case SIGNAL_NOTIFY:
        return "presence";
    case SIGNAL_INFO:
        return "iq";
    }
    return "message";
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct signal *signal_dup(const struct signal *sig)
{
    struct signal *c = signal_new(sig->method);
    c->event = sig->event;
    jid_copy(&c->from, &sig->from);
    jid_copy(&c->to, &sig->to);
    c->type = dup_or_null(sig->type);
    c->id = dup_or_null(sig->id);
    c->body = dup_or_null(sig->body);
    c->xmpp_data = sig->xmpp_data ? xml_node_ref(sig->xmpp_data) : NULL;
    return c;
}

struct xml_node *signal_to_stanza(const struct signal *sig)
{
    struct xml_node *st = xml_node_new(NS_CLIENT, signal_stanza_name(sig->method));
    if (sig->type) {
        xml_node_set_attr(st, "type", sig->type);
    }
    if (sig->id) {
        xml_node_set_attr(st, "id", sig->id);
    }
    if (sig->body) {
        struct xml_node *body = xml_node_add_child(st, NULL, "body");
        xml_node_add_text(body, sig->body, strlen(sig->body));
    }
    return st;
}

struct signal *signal_error_new(const struct signal *req, const char *type, const char *condition)
{
    if (req->from.domain == NULL) {
        return NULL;
    }
    struct signal *err = signal_new(req->method);
    jid_copy(&err->from, &req->to);
    jid_copy(&err->to, &req->from);
    err->type = xstrdup("error");
    err->id = dup_or_null(req->id);
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
        struct xml_node *body = xml_node_add_child(st, NULL, "body");
        xml_node_add_text(body, req->body, strlen(req->body));
    }
    struct xml_node *e = xml_node_add_child(st, NULL, "error");
    xml_node_set_attr(e, "type", type);
    xml_node_add_child(e, NS_STANZAS, condition);
    err->xmpp_data = st;
    return err;
}

/* The addresses of the stanza being written, one pair per thread, kept between calls (a
 * delivery costs no allocation for them); nothing called from signal_serialize re-enters it. */
static __thread struct buf t_to, t_from;

void signal_thread_cleanup(void)
{
    buf_cleanup(&t_to);
    buf_cleanup(&t_from);
}

int signal_serialize(const struct signal *sig, struct buf *out)
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
        struct xml_node *st = signal_to_stanza(sig);
        rc = xml_serialize(out, st, &o);
        xml_node_unref(st);
    }
    return rc;
}

const char *signal_store_condition(int rc, const char **type)
{
    *type = "wait";
    return rc == ERR_NOSPACE ? "resource-constraint" : "internal-server-error";
}
