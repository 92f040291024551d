/* config.c: a node's configuration: the pubsub#node_config fields, their stored text, the
 * publish-options preconditions (XEP-0060 §7.1.5) and the form sent to owners. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server.h"
#include "core/settings.h"
#include "pubsub/pubsub_int.h"
#include "xml/ns.h"

enum kind { K_BOOL, K_ENUM, K_MAX, K_TEXT, K_LIST };

struct field {
    const char *var;
    enum kind kind;
    size_t off;
    size_t size;                /* K_TEXT, K_LIST */
    const char *const *choices; /* K_ENUM: the value of each enum number */
    const char *label;
};

static const char *const access_names[] = { "open",      "presence",  "roster",
                                            "whitelist", "authorize", NULL };
static const char *const publish_names[] = { "publishers", "subscribers", "open", NULL };
static const char *const send_last_names[] = { "never", "on_sub", "on_sub_and_presence", NULL };
static const char *const notif_names[] = { "headline", "normal", NULL };

#define F(v, k, m, ch, l)                                                                          \
    {                                                                                              \
        "pubsub#" v, k, offsetof(struct pubsub_config, m), sizeof(((struct pubsub_config *)0)->m), \
            ch, l                                                                                  \
    }

static const struct field fields[] = {
    F("title", K_TEXT, title, NULL, "A friendly name for the node"),
    F("type", K_TEXT, type, NULL, "The type of node data (the payload namespace)"),
    F("access_model", K_ENUM, access, access_names, "Who may subscribe and retrieve items"),
    F("roster_groups_allowed", K_LIST, groups, NULL, "Roster groups allowed to subscribe"),
    F("publish_model", K_ENUM, publish, publish_names, "Who may publish"),
    F("max_items", K_MAX, max_items, NULL, "Items to keep (a number or max)"),
    F("persist_items", K_BOOL, persist, NULL, "Persist items"),
    F("deliver_notifications", K_BOOL, deliver_notifications, NULL, "Deliver event notifications"),
    F("deliver_payloads", K_BOOL, deliver_payloads, NULL, "Deliver payloads with notifications"),
    F("notify_retract", K_BOOL, notify_retract, NULL, "Notify when items are retracted"),
    F("notify_delete", K_BOOL, notify_delete, NULL, "Notify when the node is deleted"),
    F("notify_config", K_BOOL, notify_config, NULL, "Notify when the configuration changes"),
    F("send_last_published_item", K_ENUM, send_last, send_last_names,
      "When to send the last published item"),
    F("notification_type", K_ENUM, normal, notif_names, "Message type of notifications"),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

void pubsub__config_default(struct pubsub_config *c)
{
    memset(c, 0, sizeof(*c));
    c->access = PUBSUB_ACCESS_PRESENCE;
    c->publish = PUBSUB_PUBLISH_PUBLISHERS;
    c->send_last = PUBSUB_SEND_ON_SUB_AND_PRESENCE;
    c->max_items = 1;
    c->persist = true;
    c->deliver_payloads = true;
    c->deliver_notifications = true;
    c->notify_retract = true;
    c->notify_delete = true;
}

static const struct field *field_of(const char *var)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        if (strcmp(fields[i].var, var) == 0) {
            return &fields[i];
        }
    }
    return NULL;
}

int pubsub__parse_bool(const char *v, bool *out)
{
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) {
        *out = true;
    } else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) {
        *out = false;
    } else {
        return ERR_INVAL;
    }
    return 0;
}

static int parse_max(const char *v, long long *out)
{
    if (strcmp(v, "max") == 0) {
        *out = PUBSUB_MAX_ITEMS_MAX;
        return 0;
    }
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (v[0] == '\0' || end == NULL || *end != '\0' || n < 0) {
        return ERR_INVAL;
    }
    *out = n;
    return 0;
}

static int set_text(char *dst, size_t size, const char *v, bool append)
{
    size_t have = append ? strlen(dst) : 0;
    size_t n = strlen(v);
    if (have + n + 2 > size || strchr(v, '\n') != NULL) {
        return ERR_INVAL;
    }
    memcpy(dst + have, v, n);
    dst[have + n] = '\0';
    return 0;
}

int pubsub__config_apply(struct pubsub_config *c, const char *var, const char *value, bool append)
{
    const struct field *f = field_of(var);
    if (f == NULL) {
        return ERR_NOTFOUND;
    }
    char *p = (char *)c + f->off;
    switch (f->kind) {
    case K_BOOL:
        return pubsub__parse_bool(value, (bool *)p);
    case K_MAX:
        return parse_max(value, (long long *)p);
    case K_TEXT:
        return set_text(p, f->size, value, false);
    case K_LIST: {
        if (!append) {
            p[0] = '\0';
        }
        if (value[0] == '\0') {
            return 0;
        }
        int rc = set_text(p, f->size, value, true);
        size_t n = strlen(p);
        if (rc == 0) {
            p[n] = '\n';
            p[n + 1] = '\0';
        }
        return rc;
    }
    case K_ENUM:
        for (int i = 0; f->choices[i]; i++) {
            if (strcmp(f->choices[i], value) == 0) {
                if (f->size == sizeof(bool)) {
                    *(bool *)p = i != 0;
                } else {
                    *(int *)p = i;
                }
                return 0;
            }
        }
        return ERR_INVAL;
    }
    return ERR_INVAL;
}

/* The values of a field as text lines ("a\nb\n" for a list), into `out`. */
static void field_text(const struct pubsub_config *c, const struct field *f, struct buf *out)
{
    const char *p = (const char *)c + f->off;
    buf_reset(out);
    switch (f->kind) {
    case K_BOOL:
        buf_append_c(out, *(const bool *)p ? "1\n" : "0\n");
        break;
    case K_MAX:
        if (*(const long long *)p == PUBSUB_MAX_ITEMS_MAX) {
            buf_append_c(out, "max\n");
        } else {
            buf_printf(out, "%lld\n", *(const long long *)p);
        }
        break;
    case K_TEXT:
        buf_printf(out, "%s\n", p);
        break;
    case K_LIST:
        buf_append_c(out, p);
        break;
    case K_ENUM: {
        int i = f->size == sizeof(bool) ? (*(const bool *)p ? 1 : 0) : *(const int *)p;
        buf_printf(out, "%s\n", f->choices[i]);
        break;
    }
    }
}

void pubsub__config_text(const struct pubsub_config *c, struct buf *out)
{
    struct buf v;
    buf_init(&v, 4096);
    for (size_t i = 0; i < NFIELDS; i++) {
        field_text(c, &fields[i], &v);
        const char *s = buf_cstr(&v);
        while (*s) {
            const char *nl = strchr(s, '\n');
            buf_printf(out, "%s\t%.*s\n", fields[i].var, (int)(nl - s), s);
            s = nl + 1;
        }
    }
    buf_cleanup(&v);
}

void pubsub__config_parse(struct pubsub_config *c, const char *text)
{
    pubsub__config_default(c);
    char last[64] = "";
    const char *s = text;
    while (s && *s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        const char *tab = memchr(s, '\t', len);
        if (tab != NULL && (size_t)(tab - s) < sizeof(last)) {
            char var[64];
            char *val = strv_dup((struct strv){ tab + 1, len - (size_t)(tab - s) - 1 });
            snprintf(var, sizeof(var), "%.*s", (int)(tab - s), s);
            pubsub__config_apply(c, var, val, strcmp(var, last) == 0);
            snprintf(last, sizeof(last), "%s", var);
            free(val);
        }
        s = nl ? nl + 1 : NULL;
    }
}

/* Calls fn for each submitted field of a form but FORM_TYPE, with its values. */
typedef int form_field_fn(void *ud, const char *var, const struct xml_node *field);

static int form_each(const struct xml_node *form, form_field_fn *fn, void *ud)
{
    for (const struct xml_node *f = xml_node_first_element(form); f; f = xml_node_next_element(f)) {
        const char *var = xml_node_attr(f, "var");
        if (strcmp(f->name, "field") != 0 || var == NULL || strcmp(var, "FORM_TYPE") == 0) {
            continue;
        }
        int rc = fn(ud, var, f);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

struct apply_ctx {
    struct pubsub_config *c;
    bool strict;
};

static int apply_field(void *ud, const char *var, const struct xml_node *field)
{
    struct apply_ctx *a = ud;
    struct buf v;
    buf_init(&v, 4096);
    int rc = 0;
    bool any = false;
    for (const struct xml_node *val = xml_node_first_element(field); val && rc == 0;
         val = xml_node_next_element(val)) {
        if (strcmp(val->name, "value") != 0) {
            continue;
        }
        buf_reset(&v);
        if (xml_node_text(val, &v) != 0) {
            rc = ERR_INVAL;
            break;
        }
        rc = pubsub__config_apply(a->c, var, buf_cstr(&v), any);
        any = true;
    }
    if (!any && rc == 0) {
        /* A field without values: an emptied list, else nothing to change. */
        const struct field *f = field_of(var);
        rc = f == NULL ? ERR_NOTFOUND : 0;
        if (f && f->kind == K_LIST) {
            rc = pubsub__config_apply(a->c, var, "", false);
        }
    }
    buf_cleanup(&v);
    if (rc == ERR_NOTFOUND && !a->strict) {
        rc = 0;
    }
    return rc;
}

int pubsub__config_apply_form(struct pubsub_config *c, const struct xml_node *form, bool strict)
{
    struct apply_ctx a = { c, strict };
    return form_each(form, apply_field, &a);
}

struct meets_ctx {
    const struct pubsub_config *c;
};

static int meets_field(void *ud, const char *var, const struct xml_node *field)
{
    struct meets_ctx *m = ud;
    const struct field *f = field_of(var);
    if (f == NULL) {
        return ERR_NOTFOUND;
    }
    /* The asked value, normalised by applying it to a copy: "true" meets 1, "max" meets max. */
    struct pubsub_config asked = *m->c;
    struct apply_ctx a = { &asked, true };
    int rc = apply_field(&a, var, field);
    if (rc != 0) {
        return rc;
    }
    struct buf have, want;
    buf_init(&have, 4096);
    buf_init(&want, 4096);
    field_text(m->c, f, &have);
    field_text(&asked, f, &want);
    rc = strcmp(buf_cstr(&have), buf_cstr(&want)) == 0 ? 0 : ERR_INVAL;
    buf_cleanup(&have);
    buf_cleanup(&want);
    return rc;
}

bool pubsub__config_meets(const struct pubsub_config *c, const struct xml_node *form)
{
    struct meets_ctx m = { c };
    return form_each(form, meets_field, &m) == 0;
}

static void add_value(struct xml_node *field, const char *v, size_t len)
{
    xml_node_add_text(xml_node_add_child(field, NULL, "value"), v, len);
}

struct xml_node *pubsub__form_new(struct xml_node *parent, const char *form_type)
{
    struct xml_node *x = xml_node_add_child(parent, NS_XDATA, "x");
    xml_node_set_attr(x, "type", "form");
    struct xml_node *ft = xml_node_add_child(x, NULL, "field");
    xml_node_set_attr(ft, "var", "FORM_TYPE");
    xml_node_set_attr(ft, "type", "hidden");
    add_value(ft, form_type, strlen(form_type));
    return x;
}

void pubsub__config_form(const struct pubsub_config *c, struct xml_node *parent)
{
    struct xml_node *x = pubsub__form_new(parent, NS_PUBSUB_NODE_CONFIG);
    static const char *const types[] = { "boolean", "list-single", "text-single", "text-single",
                                         "list-multi" };
    struct buf v;
    buf_init(&v, 4096);
    for (size_t i = 0; i < NFIELDS; i++) {
        const struct field *f = &fields[i];
        struct xml_node *fl = xml_node_add_child(x, NULL, "field");
        xml_node_set_attr(fl, "var", f->var);
        xml_node_set_attr(fl, "type", types[f->kind]);
        xml_node_set_attr(fl, "label", f->label);
        field_text(c, f, &v);
        for (const char *s = buf_cstr(&v); *s;) {
            const char *nl = strchr(s, '\n');
            add_value(fl, s, (size_t)(nl - s));
            s = nl + 1;
        }
        for (size_t j = 0; f->choices && f->choices[j]; j++) {
            struct xml_node *o = xml_node_add_child(fl, NULL, "option");
            add_value(o, f->choices[j], strlen(f->choices[j]));
        }
    }
    buf_cleanup(&v);
}

long long pubsub__config_keep(const struct pubsub_config *c)
{
    long long limit = worker_ctx()->cfg->pubsub.max_items;
    if (!c->persist) {
        return 1;
    }
    if (c->max_items == PUBSUB_MAX_ITEMS_MAX || c->max_items > limit) {
        return limit;
    }
    return c->max_items;
}
