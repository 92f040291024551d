/* serialize.c: element trees to XML text; the one place where XML text is escaped. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "xml/xml.h"
#include "xml/xml_int.h"

/* A shared tree larger than this as text is not cached (it is written each time). */
#define SER_CACHE_MAX ((size_t)1 << 24)

static const char replacement[] = "\xEF\xBF\xBD";

/* Length of the valid UTF-8 sequence at p (a byte >= 0x80) that XML can carry, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned cp = 0;
    size_t n = utf8_decode(p, left, &cp);
    /* U+FFFE and U+FFFF are not XML characters. */
    return cp == 0xFFFE || cp == 0xFFFF ? 0 : n;
}

/* The replacement for an ASCII byte, or NULL when it is written as is. */
static const char *escape_ascii(unsigned char c, bool in_attr)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '\'':
        return in_attr ? "&apos;" : NULL;
    case '"':
        return in_attr ? "&quot;" : NULL;
    case '\t':
        return in_attr ? "&#9;" : NULL;
    case '\n':
        return in_attr ? "&#10;" : NULL;
    case '\r':
        return "&#13;"; /* a raw CR would be normalized away by the reader */
    default:
        return c < 0x20 ? replacement : NULL;
    }
}

int xml_escape_append(struct buf *out, struct strv text, bool in_attr)
{
    const unsigned char *p = (const unsigned char *)text.p;
    size_t run = 0; /* start of the bytes not yet written */
    size_t i = 0;
    while (i < text.len) {
        const char *rep;
        size_t skip;
        if (p[i] < 0x80) {
            rep = escape_ascii(p[i], in_attr);
            skip = 1;
        } else {
            skip = utf8_seq(p + i, text.len - i);
            rep = skip == 0 ? replacement : NULL;
            if (skip == 0) {
                skip = 1;
            }
        }
        if (rep == NULL) {
            i += skip;
            continue;
        }
        if (buf_append(out, p + run, i - run) != 0 || buf_append_c(out, rep) != 0) {
            return ERR_LIMIT;
        }
        i += skip;
        run = i;
    }
    return buf_append(out, p + run, i - run);
}

static bool is_stanza_ns(const char *ns)
{
    return ns != NULL && (strcmp(ns, NS_CLIENT) == 0 || strcmp(ns, NS_SERVER) == 0);
}

static bool ns_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return a == b || strcmp(a, b) == 0;
}

static int put(struct buf *out, const char *s)
{
    return buf_append_c(out, s);
}

/* Writes ` prefix:name='value'` (no prefix when NULL). */
static int put_attr(struct buf *out, const char *prefix, const char *name, const char *value)
{
    int rc = put(out, " ");
    if (rc == 0 && prefix != NULL) {
        rc = put(out, prefix);
        if (rc == 0) {
            rc = put(out, ":");
        }
    }
    if (rc == 0) {
        rc = put(out, name);
    }
    if (rc == 0) {
        rc = put(out, "='");
    }
    if (rc == 0) {
        rc = xml_escape_append(out, strv_c(value), true);
    }
    if (rc == 0) {
        rc = put(out, "'");
    }
    return rc;
}

/* Index of the first attribute of n with the namespace of attribute i: its prefix number. */
static size_t prefix_index(const struct xml_node *n, size_t i)
{
    size_t j = 0;
    while (n->attrs[j].ns == NULL || strcmp(n->attrs[j].ns, n->attrs[i].ns) != 0) {
        j++;
    }
    return j;
}

/* Other namespaced attributes get a prefix "ns<k>" declared on their own element. */
static int write_one_attr(struct buf *out, const struct xml_node *n, size_t i)
{
    const struct xml_attr *at = &n->attrs[i];
    if (at->ns == NULL) {
        return put_attr(out, NULL, at->name, at->value);
    }
    if (strcmp(at->ns, NS_XML) == 0) {
        return put_attr(out, "xml", at->name, at->value);
    }
    char prefix[32];
    size_t idx = prefix_index(n, i);
    snprintf(prefix, sizeof(prefix), "ns%zu", idx);
    if (idx == i) {
        int rc = put_attr(out, "xmlns", prefix, at->ns);
        if (rc != 0) {
            return rc;
        }
    }
    return put_attr(out, prefix, at->name, at->value);
}

/* How the root is written: its addresses replaced (opts), or left out with the place where the
 * attributes end noted (for the cache of a shared tree). */
struct root_mode {
    const struct xml_ser_opts *o;
    bool omit_addr;
    size_t head_end;
};

static bool is_addr(const struct xml_attr *at)
{
    return at->ns == NULL && (strcmp(at->name, "to") == 0 || strcmp(at->name, "from") == 0);
}

static int write_attrs(struct buf *out, const struct xml_node *n, struct root_mode *m)
{
    const struct xml_ser_opts *o = m != NULL ? m->o : NULL;
    if (m != NULL && m->omit_addr) {
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < n->nattrs; i++) {
            if (!is_addr(&n->attrs[i])) {
                rc = write_one_attr(out, n, i);
            }
        }
        m->head_end = out->len;
        return rc;
    }
    bool to_done = o == NULL || o->to == NULL;
    bool from_done = o == NULL || o->from == NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n->nattrs; i++) {
        const struct xml_attr *at = &n->attrs[i];
        if (at->ns == NULL && !to_done && strcmp(at->name, "to") == 0) {
            rc = put_attr(out, NULL, "to", o->to);
            to_done = true;
        } else if (at->ns == NULL && !from_done && strcmp(at->name, "from") == 0) {
            rc = put_attr(out, NULL, "from", o->from);
            from_done = true;
        } else {
            rc = write_one_attr(out, n, i);
        }
    }
    if (rc == 0 && !to_done) {
        rc = put_attr(out, NULL, "to", o->to);
    }
    if (rc == 0 && !from_done) {
        rc = put_attr(out, NULL, "from", o->from);
    }
    return rc;
}

/* Writes the start tag of element n (self-closed when it has no children). `in_scope` is the
 * default namespace where it is written; `m` is non-NULL for the root only. */
static int write_start(struct buf *out, const struct xml_node *n, const char *in_scope,
                       struct root_mode *m)
{
    int rc = put(out, "<");
    if (rc == 0) {
        rc = put(out, n->name);
    }
    /* jabber:client and jabber:server are one namespace seen from two streams (RFC 6120
     * §4.8.3): a child copied from a stanza of the other stream kind (a room relaying a remote
     * occupant's <body/>) inherits the scope instead of declaring the other one. */
    bool same = ns_eq(n->ns, in_scope) || (is_stanza_ns(n->ns) && is_stanza_ns(in_scope));
    if (rc == 0 && !same) {
        rc = put(out, " xmlns='");
        if (rc == 0 && n->ns != NULL) {
            rc = xml_escape_append(out, strv_c(n->ns), true);
        }
        if (rc == 0) {
            rc = put(out, "'");
        }
    }
    if (rc == 0) {
        rc = write_attrs(out, n, m);
    }
    if (rc == 0) {
        rc = put(out, n->first_child != NULL ? ">" : "/>");
    }
    return rc;
}

static int write_end(struct buf *out, const struct xml_node *n)
{
    int rc = put(out, "</");
    if (rc == 0) {
        rc = put(out, n->name);
    }
    if (rc == 0) {
        rc = put(out, ">");
    }
    return rc;
}

static int write_enter(struct buf *out, const struct xml_node *n, const struct xml_node *top,
                       struct root_mode *m)
{
    if (n->name == NULL) {
        return xml_escape_append(out, (struct strv){ n->text, n->text_len }, false);
    }
    if (n == top) {
        return write_start(out, n, m->o->parent_ns, m);
    }
    return write_start(out, n, n->parent->ns, NULL);
}

static int write_tree(struct buf *out, const struct xml_node *n, struct root_mode *m)
{
    size_t start = out->len;
    const struct xml_node *cur = n;
    int rc = 0;
    /* Pre-order walk along parent links: depth costs no stack. */
    for (;;) {
        rc = write_enter(out, cur, n, m);
        if (rc != 0) {
            goto fail;
        }
        if (cur->name != NULL && cur->first_child != NULL) {
            cur = cur->first_child;
            continue;
        }
        while (cur != n && cur->next == NULL) {
            cur = cur->parent;
            rc = write_end(out, cur);
            if (rc != 0) {
                goto fail;
            }
        }
        if (cur == n) {
            break;
        }
        cur = cur->next;
    }
    return 0;
fail:
    out->len = start;
    if (out->p != NULL) {
        out->p[start] = '\0';
    }
    return ERR_LIMIT;
}

/* The cache of a shared root for `parent_ns`, made on first use (NULL when it cannot be). */
static const struct xml__ser_cache *shared_text(const struct xml_node *n, const char *parent_ns)
{
    struct xml__arena *a = n->arena;
    struct xml__ser_cache *c = atomic_load_explicit(&a->ser, memory_order_acquire);
    if (c != NULL) {
        return ns_eq(c->parent_ns, parent_ns) ? c : NULL;
    }
    const struct xml_ser_opts plain = { parent_ns, NULL, NULL };
    struct root_mode m = { &plain, true, 0 };
    struct buf tmp;
    buf_init(&tmp, SER_CACHE_MAX);
    if (write_tree(&tmp, n, &m) != 0) {
        buf_cleanup(&tmp);
        return NULL;
    }
    c = xmalloc(sizeof(*c) + tmp.len + 1);
    c->parent_ns = parent_ns;
    c->head = m.head_end;
    c->len = tmp.len;
    memcpy(c->text, tmp.p, tmp.len + 1);
    buf_cleanup(&tmp);
    struct xml__ser_cache *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&a->ser, &expected, c, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(c); /* another writer was first */
        c = expected;
    }
    return ns_eq(c->parent_ns, parent_ns) ? c : NULL;
}

int xml_serialize(struct buf *out, const struct xml_node *n, const struct xml_ser_opts *opts)
{
    static const struct xml_ser_opts none = { NULL, NULL, NULL };
    if (opts == NULL) {
        opts = &none;
    }
    /* A tree held by several signals (a room's message to each occupant) is written once; each
     * copy only adds its own addresses. Parent namespaces are compared as given: the common
     * callers pass the same static strings. */
    if (n->name != NULL && n->parent == NULL && opts->to != NULL && opts->from != NULL &&
        atomic_load_explicit(&n->arena->refs, memory_order_relaxed) > 1) {
        const struct xml__ser_cache *c = shared_text(n, opts->parent_ns);
        if (c != NULL) {
            size_t start = out->len;
            int rc = buf_append(out, c->text, c->head);
            if (rc == 0) {
                rc = put_attr(out, NULL, "to", opts->to);
            }
            if (rc == 0) {
                rc = put_attr(out, NULL, "from", opts->from);
            }
            if (rc == 0) {
                rc = buf_append(out, c->text + c->head, c->len - c->head);
            }
            if (rc != 0) {
                out->len = start;
                if (out->p != NULL) {
                    out->p[start] = '\0';
                }
                return ERR_LIMIT;
            }
            return 0;
        }
    }
    struct root_mode m = { opts, false, 0 };
    return write_tree(out, n, &m);
}
