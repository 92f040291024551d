/* element.c: one element parsed from its text, outside a stream (stored stanzas read back). */
#include <string.h>

#include "core/err.h"
#include "xml/xml.h"

struct first {
    struct xml_node *el;
};

static int got_element(void *ud, struct xml_node *el)
{
    struct first *f = ud;
    f->el = el;
    return XML_STOPPED; /* the first element only */
}

/* The parser reads elements inside a stream: a header declares the scope. */
static void scope_header(struct buf *head, const char *default_ns)
{
    buf_init(head, 256 + (default_ns ? 6 * strlen(default_ns) : 0));
    buf_append_c(head, "<stream:stream xmlns:stream='" NS_STREAM "'");
    if (default_ns) {
        buf_append_c(head, " xmlns='");
        xml_escape_append(head, strv_c(default_ns), true);
        buf_append_char(head, '\'');
    }
    buf_append_char(head, '>');
}

struct xml_node *xml_parse_element(struct strv text, const char *default_ns,
                                   const struct xml_limits *lim)
{
    struct first f = { NULL };
    struct buf head;
    scope_header(&head, default_ns);
    struct xml_limits l = lim ? *lim : (struct xml_limits){ 0 };
    /* The header's bytes count until it is complete. */
    l.max_stanza_size = head.len + text.len + 1;
    struct xml_stream_cbs cbs = { .element = got_element };
    struct xml_stream *xs = xml_stream_new(&l, &cbs, &f);
    int rc = xml_stream_feed(xs, head.p, head.len, NULL);
    if (rc == 0) {
        rc = xml_stream_feed(xs, text.p, text.len, NULL);
    }
    xml_stream_free(xs);
    buf_cleanup(&head);
    if (rc != XML_STOPPED && f.el != NULL) {
        xml_node_unref(f.el);
        f.el = NULL;
    }
    return f.el;
}
