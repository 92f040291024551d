/* util.c: helpers of the service files: stored XML, requester checks, errors, data forms. */
#include <string.h>

#include "core/err.h"
#include "services/services_int.h"
#include "signal/router.h"

struct xml_node *services__parse(const char *text, size_t len)
{
    struct xml_limits lim = { .max_depth = 1000, .max_attrs = 1000 };
    return xml_parse_element((struct strv){ text, len }, NULL, &lim);
}

int services__serialize(const struct xml_node *n, size_t max, struct buf *out)
{
    buf_cleanup(out);
    buf_init(out, max);
    return xml_serialize(out, n, NULL);
}

bool services__is_self(const struct signal *req)
{
    const struct jid *f = &req->from, *t = &req->to;
    return f->local && t->local && strcmp(f->local, t->local) == 0 && f->domain && t->domain &&
           strcmp(f->domain, t->domain) == 0;
}

bool services__from_own_resource(const struct signal *req)
{
    return jid_bare_eq(&req->from, &req->to) && req->from.resource != NULL;
}

int services__reply_error_app(struct service_ctx *ctx, const char *type, const char *condition,
                              const char *app_ns, const char *app_condition)
{
    struct signal *err = signal_error_new(ctx->req, type, condition);
    if (err == NULL) {
        return ERR_INVAL;
    }
    /* A fresh tree with one reference: ours to complete before it is routed. */
    struct xml_node *e = xml_node_child(err->xmpp_data, NULL, "error");
    if (e && app_ns) {
        xml_node_add_child(e, app_ns, app_condition);
    }
    router_submit(err);
    return strcmp(condition, "forbidden") == 0 ? ERR_DENIED : ERR_INVAL;
}

const char *services__form_value(const struct xml_node *form, const char *var, struct buf *out)
{
    for (const struct xml_node *f = form ? xml_node_first_element(form) : NULL; f;
         f = xml_node_next_element(f)) {
        const char *v = xml_node_attr(f, "var");
        if (strcmp(f->name, "field") != 0 || v == NULL || strcmp(v, var) != 0) {
            continue;
        }
        const struct xml_node *value = xml_node_child(f, NS_XDATA, "value");
        if (value == NULL) {
            return NULL;
        }
        buf_reset(out);
        if (xml_node_text(value, out) != 0) {
            return NULL;
        }
        return buf_cstr(out);
    }
    return NULL;
}

struct xml_node *services__form_add(struct xml_node *parent, const char *type,
                                    const char *form_type)
{
    struct xml_node *x = xml_node_add_child(parent, NS_XDATA, "x");
    xml_node_set_attr(x, "type", type);
    if (form_type) {
        services__field_add(x, "FORM_TYPE", "hidden", NULL, form_type);
    }
    return x;
}

void services__field_value(struct xml_node *field, const char *value)
{
    struct xml_node *v = xml_node_add_child(field, NULL, "value");
    xml_node_add_text(v, value, strlen(value));
}

struct xml_node *services__field_add(struct xml_node *form, const char *var, const char *type,
                                     const char *label, const char *value)
{
    struct xml_node *f = xml_node_add_child(form, NULL, "field");
    xml_node_set_attr(f, "var", var);
    if (type) {
        xml_node_set_attr(f, "type", type);
    }
    if (label) {
        xml_node_set_attr(f, "label", label);
    }
    if (value) {
        services__field_value(f, value);
    }
    return f;
}

void services__hooked_item(services_chat_service_fn *hook, const struct service_ctx *ctx,
                           const char *label, service_item_fn *fn, void *ud)
{
    if (hook == NULL) {
        return;
    }
    struct buf svc;
    buf_init(&svc, 1024);
    if (hook(ctx->req->to.domain, &svc)) {
        fn(ud, buf_cstr(&svc), NULL, label);
    }
    buf_cleanup(&svc);
}
