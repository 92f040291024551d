/* subopts.c: a subscription's options (XEP-0060 §6.3, §6.4): the pubsub#subscribe_options
 * form, its stored text, and the fields the notifications honour (notify.c). */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "pubsub/pubsub_int.h"
#include "xml/ns.h"

#define NS_SUBSCRIBE_OPTIONS NS_PUBSUB "#subscribe_options"

void pubsub__subopts_default(struct pubsub_subopts *o)
{
    o->deliver = true;
    o->include_body = false;
}

/* One field's value; ERR_INVAL for an unknown field or a bad value. */
static int subopts_apply(struct pubsub_subopts *o, const char *var, const char *value)
{
    bool digest = false;
    if (strcmp(var, "pubsub#deliver") == 0) {
        return pubsub__parse_bool(value, &o->deliver);
    }
    if (strcmp(var, "pubsub#include_body") == 0) {
        return pubsub__parse_bool(value, &o->include_body);
    }
    if (strcmp(var, "pubsub#digest") == 0) {
        return pubsub__parse_bool(value, &digest) == 0 && !digest ? 0 : ERR_INVAL;
    }
    return ERR_INVAL;
}

void pubsub__subopts_parse(struct pubsub_subopts *o, const char *text)
{
    pubsub__subopts_default(o);
    for (const char *s = text; s && *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        const char *tab = memchr(s, '\t', len);
        if (tab != NULL && len < 128) {
            char var[128], val[128];
            snprintf(var, sizeof(var), "%.*s", (int)(tab - s), s);
            snprintf(val, sizeof(val), "%.*s", (int)(len - (size_t)(tab - s) - 1), tab + 1);
            subopts_apply(o, var, val);
        }
        s = nl ? nl + 1 : NULL;
    }
}

void pubsub__subopts_text(const struct pubsub_subopts *o, struct buf *out)
{
    buf_printf(out, "pubsub#deliver\t%d\npubsub#include_body\t%d\n", o->deliver ? 1 : 0,
               o->include_body ? 1 : 0);
}

int pubsub__subopts_apply_form(struct pubsub_subopts *o, const struct xml_node *form)
{
    struct buf v;
    buf_init(&v, 1024);
    int rc = 0;
    for (const struct xml_node *f = xml_node_first_element(form); f && rc == 0;
         f = xml_node_next_element(f)) {
        const char *var = xml_node_attr(f, "var");
        const struct xml_node *val = xml_node_child(f, NS_XDATA, "value");
        if (strcmp(f->name, "field") != 0 || var == NULL) {
            continue;
        }
        buf_reset(&v);
        if (val != NULL && xml_node_text(val, &v) != 0) {
            rc = ERR_INVAL;
        } else if (strcmp(var, "FORM_TYPE") == 0) {
            rc = strcmp(buf_cstr(&v), NS_SUBSCRIBE_OPTIONS) == 0 ? 0 : ERR_INVAL;
        } else {
            rc = subopts_apply(o, var, buf_cstr(&v));
        }
    }
    buf_cleanup(&v);
    return rc;
}

static void add_bool(struct xml_node *x, const char *var, const char *label, bool value)
{
    struct xml_node *f = xml_node_add_child(x, NULL, "field");
    xml_node_set_attr(f, "var", var);
    xml_node_set_attr(f, "type", "boolean");
    xml_node_set_attr(f, "label", label);
    xml_node_add_text(xml_node_add_child(f, NULL, "value"), value ? "1" : "0", 1);
}

void pubsub__subopts_form(const struct pubsub_subopts *o, struct xml_node *parent)
{
    struct xml_node *x = pubsub__form_new(parent, NS_SUBSCRIBE_OPTIONS);
    add_bool(x, "pubsub#deliver", "Enable delivery?", o->deliver);
    add_bool(x, "pubsub#digest", "Receive digest notifications (not offered)?", false);
    add_bool(x, "pubsub#include_body", "Receive message body in addition to payload?",
             o->include_body);
}
