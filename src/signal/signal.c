/* signal.c: the signal object, and the hooks of its wire format. */
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
    signal_ref_put(sig->att);
    free(sig);
}

struct signal_ref *signal_ref_get(struct signal_ref *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

void signal_ref_put(struct signal_ref *r)
{
    if (r != NULL && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        r->free(r);
    }
}

void signal_attach(struct signal *sig, struct signal_ref *r)
{
    signal_ref_put(sig->att);
    sig->att = r;
}

struct signal_ref *signal_detach(struct signal *sig)
{
    struct signal_ref *r = sig->att;
    sig->att = NULL;
    return r;
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
    c->att = sig->att ? signal_ref_get(sig->att) : NULL;
    return c;
}

/* The wire format's hooks (xmpp/convert.c registers them at start-up); none: no stanza is made
 * or written, and an error answer carries no payload. */
static const struct signal_wire *g_wire;

void signal_set_wire(const struct signal_wire *w)
{
    g_wire = w;
}

int signal_wire_serialize(const struct signal *sig, struct buf *out)
{
    return g_wire ? g_wire->serialize(sig, out) : ERR_INVAL;
}

struct xml_node *signal_wire_stanza(const struct signal *sig)
{
    return g_wire ? g_wire->stanza(sig) : NULL;
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
    err->xmpp_data = g_wire ? g_wire->error_stanza(req, type, condition) : NULL;
    return err;
}

struct signal *signal_result_new(const struct signal *req, struct xml_node *payload)
{
    struct signal *r = signal_new(SIGNAL_INFO);
    jid_copy(&r->from, &req->to);
    jid_copy(&r->to, &req->from);
    r->type = xstrdup("result");
    r->id = dup_or_null(req->id);
    if (g_wire) {
        r->xmpp_data = g_wire->result_stanza(req, payload);
    } else if (payload) {
        xml_node_unref(payload);
    }
    return r;
}

const char *signal_store_condition(int rc, const char **type)
{
    *type = "wait";
    return rc == ERR_NOSPACE ? "resource-constraint" : "internal-server-error";
}
