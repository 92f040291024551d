/* test_xml.c: unit tests of the xml module: trees, the restricted stream parser, the serializer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "xml/xml.h"
#include "xml/xml_int.h"

#define HDR_C                                                                                      \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "        \
    "to='example.com' version='1.0' xml:lang='en'>"

/* ---- helpers ------------------------------------------------------------------------------ */

static char *ser(const struct xml_node *n, const struct xml_ser_opts *o)
{
    struct buf b;
    buf_init(&b, 1 << 26);
    assert_int_equal(xml_serialize(&b, n, o), 0);
    char *s = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return s;
}

static void assert_ser(const struct xml_node *n, const struct xml_ser_opts *o, const char *want)
{
    char *got = ser(n, o);
    assert_string_equal(got, want);
    free(got);
}

/* Records everything a stream reports; elements are kept serialized, one per line. */
struct rec {
    int opens;
    int closes;
    int elements;
    struct buf log;
    char *to;
    char *lang;
    char *default_ns;
    int stop_at_element;    /* 1-based element number whose callback asks to stop; 0 = never */
    int suspend_at_element; /* 1-based element number whose callback asks to pause */
    bool stop_at_open;
};

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->log, 1 << 26);
}

static void rec_cleanup(struct rec *r)
{
    buf_cleanup(&r->log);
    free(r->to);
    free(r->lang);
    free(r->default_ns);
}

static int rec_open(void *ud, const struct xml_node *header, const char *default_ns)
{
    struct rec *r = ud;
    r->opens++;
    assert_non_null(header->name);
    assert_string_equal(header->name, "stream");
    assert_string_equal(header->ns, NS_STREAM);
    assert_null(header->first_child);
    free(r->to);
    free(r->lang);
    free(r->default_ns);
    const char *to = xml_node_attr(header, "to");
    const char *lang = xml_node_attr_ns(header, NS_XML, "lang");
    r->to = to != NULL ? xstrdup(to) : NULL;
    r->lang = lang != NULL ? xstrdup(lang) : NULL;
    r->default_ns = default_ns != NULL ? xstrdup(default_ns) : NULL;
    assert_int_equal(buf_printf(&r->log, "OPEN\n"), 0);
    return r->stop_at_open ? 1 : 0;
}

static int rec_element(void *ud, struct xml_node *el)
{
    struct rec *r = ud;
    r->elements++;
    assert_null(el->parent);
    struct xml_ser_opts o = { .parent_ns = r->default_ns };
    assert_int_equal(xml_serialize(&r->log, el, &o), 0);
    assert_int_equal(buf_append_c(&r->log, "\n"), 0);
    xml_node_unref(el);
    if (r->elements == r->suspend_at_element) {
        return XML_SUSPENDED;
    }
    return r->elements == r->stop_at_element ? 1 : 0;
}

static int rec_close(void *ud)
{
    struct rec *r = ud;
    r->closes++;
    assert_int_equal(buf_printf(&r->log, "CLOSE\n"), 0);
    return 0;
}

static const struct xml_stream_cbs rec_cbs = { rec_open, rec_element, rec_close };

/* Feeds `text` whole to a fresh stream with limits `lim`; returns the feed result. */
static int feed_all(const struct xml_limits *lim, const char *text, struct rec *r,
                    const char **error)
{
    struct xml_stream *s = xml_stream_new(lim, &rec_cbs, r);
    size_t used = 0;
    int rc = xml_stream_feed(s, text, strlen(text), &used);
    if (error != NULL) {
        *error = xml_stream_error(s);
    }
    xml_stream_free(s);
    return rc;
}

/* Asserts that `text` (after a valid stream header) kills the stream with `cond`. */
static void assert_stream_error(const struct xml_limits *lim, const char *text, const char *cond)
{
    struct rec r;
    rec_init(&r);
    const char *err = NULL;
    int rc = feed_all(lim, text, &r, &err);
    if (rc >= 0 || err == NULL || strcmp(err, cond) != 0) {
        fail_msg("input %.200s: rc %d, error %s, expected %s", text, rc, err ? err : "(none)",
                 cond);
    }
    rec_cleanup(&r);
}

/* ---- trees -------------------------------------------------------------------------------- */

static void test_node_build(void **state)
{
    (void)state;
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    assert_null(m->parent);
    assert_string_equal(m->ns, NS_CLIENT);
    xml_node_set_attr(m, "to", "juliet@example.com");
    xml_node_set_attr(m, "type", "chat");
    xml_node_set_attr(m, "id", "1");
    xml_node_set_attr(m, "type", "normal");
    assert_int_equal(m->nattrs, 3);
    assert_string_equal(xml_node_attr(m, "type"), "normal");
    xml_node_set_attr(m, "id", NULL);
    assert_int_equal(m->nattrs, 2);
    assert_null(xml_node_attr(m, "id"));
    assert_string_equal(xml_node_attr(m, "to"), "juliet@example.com");
    xml_node_set_attr(m, "missing", NULL);
    assert_int_equal(m->nattrs, 2);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof(name), "a%d", i);
        xml_node_set_attr(m, name, name);
    }
    assert_int_equal(m->nattrs, 22);
    assert_string_equal(xml_node_attr(m, "a17"), "a17");
    assert_string_equal(xml_node_attr(m, "to"), "juliet@example.com");
    xml_node_set_attr_ns(m, NS_XML, "lang", "en");
    assert_string_equal(xml_node_attr_ns(m, NS_XML, "lang"), "en");
    assert_null(xml_node_attr(m, "lang"));

    struct xml_node *body = xml_node_add_child(m, NULL, "body");
    assert_string_equal(body->ns, NS_CLIENT);
    assert_ptr_equal(body->parent, m);
    xml_node_add_text(body, "Hello, ", 7);
    xml_node_add_text(body, "world", 5);
    assert_non_null(body->first_child);
    assert_ptr_equal(body->first_child, body->last_child);
    assert_null(body->first_child->name);
    assert_int_equal(body->first_child->text_len, 12);
    assert_string_equal(body->first_child->text, "Hello, world");

    xml_node_add_text(m, "  ", 2);
    struct xml_node *x = xml_node_add_child(m, "jabber:x:oob", "x");
    struct xml_node *url = xml_node_add_child(x, NULL, "url");
    assert_string_equal(url->ns, "jabber:x:oob");
    struct xml_node *empty_ns = xml_node_add_child(m, "", "plain");
    assert_null(empty_ns->ns);

    assert_ptr_equal(xml_node_first_element(m), body);
    assert_ptr_equal(xml_node_next_element(body), x);
    assert_ptr_equal(xml_node_next_element(x), empty_ns);
    assert_null(xml_node_next_element(empty_ns));
    assert_ptr_equal(xml_node_child(m, "jabber:x:oob", NULL), x);
    assert_ptr_equal(xml_node_child(m, NULL, "x"), x);
    assert_ptr_equal(xml_node_child(m, NS_CLIENT, "body"), body);
    assert_null(xml_node_child(m, "jabber:x:oob", "body"));
    assert_null(xml_node_child(m, NULL, "nothing"));
    assert_ptr_equal(xml_node_child(m, "", NULL), empty_ns);
    assert_null(xml_node_child(m, "", "body"));

    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(xml_node_text(body, &b), 0);
    assert_string_equal(buf_cstr(&b), "Hello, world");
    buf_reset(&b);
    assert_int_equal(xml_node_text(m, &b), 0);
    assert_string_equal(buf_cstr(&b), "  ");
    buf_cleanup(&b);
    buf_init(&b, 5);
    assert_int_equal(xml_node_text(body, &b), ERR_LIMIT);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);

    /* A second reference keeps the tree alive after the first is dropped. */
    assert_ptr_equal(xml_node_ref(m), m);
    xml_node_unref(m);
    assert_string_equal(xml_node_attr(m, "to"), "juliet@example.com");
    xml_node_unref(m);
    xml_node_unref(NULL);
}

static void test_node_big_text(void **state)
{
    (void)state;
    /* Allocations larger than an arena chunk get their own chunk. */
    size_t n = 200000;
    char *big = xmalloc(n);
    memset(big, 'x', n);
    struct xml_node *r = xml_node_new("urn:t", "r");
    for (int i = 0; i < 3; i++) {
        struct xml_node *c = xml_node_add_child(r, NULL, "c");
        xml_node_add_text(c, big, n);
        xml_node_set_attr(c, "v", "1");
    }
    struct xml_node *c = xml_node_first_element(r);
    assert_int_equal(c->first_child->text_len, n);
    assert_int_equal(c->first_child->text[n - 1], 'x');
    assert_int_equal(c->first_child->text[n], '\0');
    xml_node_unref(r);
    free(big);
}

static void test_node_copy(void **state)
{
    (void)state;
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    xml_node_set_attr(m, "to", "a@b");
    xml_node_set_attr_ns(m, NS_XML, "lang", "de");
    xml_node_set_attr_ns(m, "urn:ext", "flag", "y");
    struct xml_node *body = xml_node_add_child(m, NULL, "body");
    xml_node_add_text(body, "hi & bye", 8);
    struct xml_node *d = xml_node_add_child(m, "urn:xmpp:delay", "delay");
    xml_node_set_attr(d, "stamp", "2002-09-10T23:08:25Z");
    xml_node_add_child(d, "", "none");

    char *orig = ser(m, NULL);
    struct xml_node *c = xml_node_copy(m);
    assert_ptr_not_equal(c, m);
    assert_null(c->parent);
    char *copy = ser(c, NULL);
    assert_string_equal(orig, copy);
    free(copy);
    /* The copy is independent of the original. */
    xml_node_unref(m);
    copy = ser(c, NULL);
    assert_string_equal(orig, copy);
    free(copy);

    /* Copy of a subtree as a new root. */
    struct xml_node *dsub = xml_node_copy(xml_node_child(c, "urn:xmpp:delay", NULL));
    assert_ser(dsub, NULL,
               "<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'>"
               "<none xmlns=''/></delay>");

    /* append_copy from another tree, and into the same tree (copying an ancestor). */
    struct xml_node *fwd = xml_node_new("urn:xmpp:forward:0", "forwarded");
    struct xml_node *inner = xml_node_append_copy(fwd, c);
    assert_ptr_equal(inner->parent, fwd);
    assert_string_equal(inner->ns, NS_CLIENT);
    xml_node_unref(c);
    assert_ser(fwd, NULL,
               "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' to='a@b' "
               "xml:lang='de' xmlns:ns2='urn:ext' ns2:flag='y'><body>hi &amp; bye</body>"
               "<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'><none xmlns=''/>"
               "</delay></message></forwarded>");
    struct xml_node *again = xml_node_append_copy(dsub, dsub);
    assert_ptr_equal(again->parent, dsub);
    assert_ser(dsub, NULL,
               "<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'><none xmlns=''/>"
               "<delay stamp='2002-09-10T23:08:25Z'><none xmlns=''/></delay></delay>");
    struct xml_node *t = xml_node_copy(inner->first_child->first_child);
    assert_null(t->name);
    assert_string_equal(t->text, "hi & bye");
    xml_node_unref(t);
    xml_node_unref(dsub);
    xml_node_unref(fwd);
    free(orig);
}

/* Trees far deeper than any stack frame budget are built, copied, serialized and freed. */
/* A fitted copy has the same content in an arena of about its own size, not the usual 1 KB. */
static void test_node_copy_fit(void **state)
{
    (void)state;
    struct xml_node *p = xml_node_new(NS_CLIENT, "presence");
    xml_node_set_attr(p, "id", "p1");
    struct xml_node *x = xml_node_add_child(p, "vcard-temp:x:update", "x");
    struct xml_node *photo = xml_node_add_child(x, NULL, "photo");
    xml_node_add_text(photo, "0123456789abcdef0123456789abcdef01234567", 40);
    char *orig = ser(p, NULL);
    struct xml_node *c = xml_node_copy_fit(p);
    char *copy = ser(c, NULL);
    assert_string_equal(orig, copy);
    assert_null(c->arena->chunks);
    struct xml_node *usual = xml_node_copy(p);
    assert_true(c->arena->total + 256 < usual->arena->total);
    xml_node_unref(usual);
    free(copy);
    free(orig);
    xml_node_unref(c);
    xml_node_unref(p);
}

static void test_node_deep_iterative(void **state)
{
    (void)state;
    const int depth = 200000;
    struct xml_node *root = xml_node_new("urn:deep", "d");
    struct xml_node *n = root;
    for (int i = 0; i < depth; i++) {
        n = xml_node_add_child(n, NULL, "d");
    }
    xml_node_add_text(n, "bottom", 6);
    struct xml_node *c = xml_node_copy(root);
    struct buf b;
    buf_init(&b, 1 << 24);
    assert_int_equal(xml_serialize(&b, c, NULL), 0);
    assert_int_equal(b.len, strlen("<d xmlns='urn:deep'>") + (size_t)depth * strlen("<d>") +
                                strlen("bottom") + (size_t)(depth + 1) * strlen("</d>"));
    assert_true(strstr(b.p, "<d><d>bottom</d></d>") != NULL);
    buf_cleanup(&b);
    struct xml_node *holder = xml_node_new("urn:deep", "holder");
    xml_node_append_copy(holder, c);
    xml_node_unref(c);
    xml_node_unref(root);
    xml_node_unref(holder);
}

/* ---- serializer --------------------------------------------------------------------------- */

static void test_escape(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1000);
    assert_int_equal(xml_escape_append(&b, STRV("a&b<c>d'e\"f\tg\nh\ri"), false), 0);
    assert_string_equal(buf_cstr(&b), "a&amp;b&lt;c&gt;d'e\"f\tg\nh&#13;i");
    buf_reset(&b);
    assert_int_equal(xml_escape_append(&b, STRV("a&b<c>d'e\"f\tg\nh\ri"), true), 0);
    assert_string_equal(buf_cstr(&b), "a&amp;b&lt;c&gt;d&apos;e&quot;f&#9;g&#10;h&#13;i");
    buf_reset(&b);
    /* Valid UTF-8 passes unchanged; controls, invalid sequences, surrogates, U+FFFE become
     * U+FFFD. */
    assert_int_equal(xml_escape_append(&b, STRV("\xC3\xA9\xE2\x98\xBA\xF0\x9F\x98\x80"), false), 0);
    assert_string_equal(buf_cstr(&b), "\xC3\xA9\xE2\x98\xBA\xF0\x9F\x98\x80");
    buf_reset(&b);
    assert_int_equal(xml_escape_append(&b,
                                       STRV("a\x01"
                                            "b\xC3(\xED\xA0\x80\xEF\xBF\xBE\xC0\xAF\xF5z\xE2\x98"),
                                       false),
                     0);
    assert_string_equal(buf_cstr(&b), "a\xEF\xBF\xBD"
                                      "b\xEF\xBF\xBD("
                                      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                      "z\xEF\xBF\xBD\xEF\xBF\xBD");
    buf_cleanup(&b);

    buf_init(&b, 6);
    assert_int_equal(xml_escape_append(&b, STRV("abc"), false), 0);
    assert_int_equal(xml_escape_append(&b, STRV("&"), false), ERR_LIMIT);
    buf_cleanup(&b);
}

/* A tree held twice (a room's message to each occupant) is written from a cache: the same text
 * with its own addresses each time; a change made once it is held alone is seen. */
/* A child copied from a jabber:server stanza into a jabber:client one (a room relaying a remote
 * occupant's body) does not declare jabber:server on a client stream. */
static void test_serialize_mixed_stanza_ns(void **state)
{
    (void)state;
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    xml_node_add_text(xml_node_add_child(m, NS_SERVER, "body"), "hi", 2);
    struct xml_node *x = xml_node_add_child(m, "urn:x", "x");
    xml_node_add_child(x, NS_SERVER, "inner");
    struct xml_ser_opts c2s = { .parent_ns = NS_CLIENT };
    assert_ser(m, &c2s,
               "<message><body>hi</body><x xmlns='urn:x'>"
               "<inner xmlns='jabber:server'/></x></message>");
    xml_node_unref(m);
}

static void test_serialize_shared(void **state)
{
    (void)state;
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    xml_node_set_attr(m, "to", "old@example.com");
    xml_node_set_attr(m, "type", "groupchat");
    xml_node_set_attr(m, "from", "old@example.net");
    xml_node_set_attr(m, "id", "a&b");
    struct xml_node *body = xml_node_add_child(m, NULL, "body");
    xml_node_add_text(body, "hi <3", 5);
    xml_node_ref(m);
    const struct xml_ser_opts o1 = { NS_CLIENT, "r@x/1", "room@conf/nick" };
    const struct xml_ser_opts o2 = { NS_CLIENT, "s@x/2", "room@conf/nick" };
    const char *want1 = "<message type='groupchat' id='a&amp;b' to='r@x/1' from='room@conf/nick'>"
                        "<body>hi &lt;3</body></message>";
    const char *want2 = "<message type='groupchat' id='a&amp;b' to='s@x/2' from='room@conf/nick'>"
                        "<body>hi &lt;3</body></message>";
    for (int i = 0; i < 2; i++) {
        struct buf b;
        buf_init(&b, 4096);
        assert_int_equal(xml_serialize(&b, m, &o1), 0);
        assert_string_equal(buf_cstr(&b), want1);
        buf_reset(&b);
        assert_int_equal(buf_append_c(&b, "<x>"), 0);
        assert_int_equal(xml_serialize(&b, m, &o2), 0);
        assert_string_equal(buf_cstr(&b) + 3, want2);
        buf_cleanup(&b);
    }
    /* Another namespace in scope is written afresh (the element keeps no xmlns either way). */
    struct buf b;
    buf_init(&b, 4096);
    const struct xml_ser_opts none = { NULL, "r@x/1", "room@conf/nick" };
    assert_int_equal(xml_serialize(&b, m, &none), 0);
    assert_non_null(strstr(buf_cstr(&b), "xmlns='jabber:client'"));
    /* Too small a buffer fails and leaves it as it was. */
    struct buf small;
    buf_init(&small, 20);
    assert_int_equal(buf_append_c(&small, "<y>"), 0);
    assert_int_equal(xml_serialize(&small, m, &o1), ERR_LIMIT);
    assert_string_equal(buf_cstr(&small), "<y>");
    buf_cleanup(&small);
    /* Held alone again and changed: the change shows. */
    xml_node_unref(m);
    xml_node_add_text(body, "!", 1);
    xml_node_ref(m);
    buf_reset(&b);
    assert_int_equal(xml_serialize(&b, m, &o1), 0);
    assert_non_null(strstr(buf_cstr(&b), "<body>hi &lt;3!</body>"));
    buf_cleanup(&b);
    xml_node_unref(m);
    xml_node_unref(m);
}

/* A shared tree with a cached serialization and extra chunks, freed on another thread. */
static void *free_tree(void *arg)
{
    xml_node_unref(arg);
    xml_node_unref(arg);
    return NULL;
}

/* Trees freed on a thread give their memory to that thread's next trees (a pool of freed
 * arenas): nothing of the old tree (its cached text, its extra chunks, its references) shows in
 * the new one, whichever thread freed it. */
static void test_node_arena_reuse(void **state)
{
    (void)state;
    const struct xml_ser_opts o = { NS_CLIENT, "a@x/1", "b@x/2" };
    char big[3000];
    memset(big, 'z', sizeof(big));
    for (int round = 0; round < 100; round++) {
        struct xml_node *old = xml_node_new(NS_CLIENT, "message");
        xml_node_add_text(xml_node_add_child(old, NULL, "body"), big, sizeof(big));
        xml_node_ref(old); /* shared: its serialization is cached */
        struct buf b;
        buf_init(&b, 1 << 16);
        assert_int_equal(xml_serialize(&b, old, &o), 0);
        if (round % 2 == 0) {
            free_tree(old);
        } else {
            pthread_t t;
            assert_int_equal(pthread_create(&t, NULL, free_tree, old), 0);
            assert_int_equal(pthread_join(t, NULL), 0);
        }
        struct xml_node *m = xml_node_new(NS_CLIENT, "iq");
        xml_node_set_attr(m, "id", "n");
        xml_node_ref(m);
        buf_reset(&b);
        assert_int_equal(xml_serialize(&b, m, &o), 0);
        assert_string_equal(buf_cstr(&b), "<iq id='n' to='a@x/1' from='b@x/2'/>");
        xml_node_unref(m);
        xml_node_unref(m);
        buf_cleanup(&b);
    }
}

static void test_serialize_ns(void **state)
{
    (void)state;
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    xml_node_set_attr(m, "from", "romeo@example.net/orchard");
    xml_node_set_attr(m, "to", "juliet@example.com");
    xml_node_add_text(xml_node_add_child(m, NULL, "body"), "<3 'you' & \"me\"", 15);
    xml_node_add_child(m, "http://jabber.org/protocol/chatstates", "active");

    const char *body = "<body>&lt;3 'you' &amp; \"me\"</body>"
                       "<active xmlns='http://jabber.org/protocol/chatstates'/></message>";
    char want[512];
    /* Stanza namespaces are interchangeable at the root. */
    struct xml_ser_opts c2s = { .parent_ns = NS_CLIENT };
    struct xml_ser_opts s2s = { .parent_ns = NS_SERVER };
    snprintf(want, sizeof(want),
             "<message from='romeo@example.net/orchard' to='juliet@example.com'>%s", body);
    assert_ser(m, &c2s, want);
    assert_ser(m, &s2s, want);
    snprintf(want, sizeof(want),
             "<message xmlns='jabber:client' from='romeo@example.net/orchard' "
             "to='juliet@example.com'>%s",
             body);
    assert_ser(m, NULL, want);
    struct xml_ser_opts other = { .parent_ns = "urn:other" };
    assert_ser(m, &other, want);

    /* to/from overrides replace the attributes in place. */
    struct xml_ser_opts ov = { .parent_ns = NS_SERVER, .to = "j@x/r", .from = "r&o@y" };
    snprintf(want, sizeof(want), "<message from='r&amp;o@y' to='j@x/r'>%s", body);
    assert_ser(m, &ov, want);
    struct xml_ser_opts ov_to = { .parent_ns = NS_SERVER, .to = "j@x/r" };
    snprintf(want, sizeof(want), "<message from='romeo@example.net/orchard' to='j@x/r'>%s", body);
    assert_ser(m, &ov_to, want);
    xml_node_unref(m);

    /* Missing to/from are added; overrides apply to the root only. */
    struct xml_node *iq = xml_node_new(NS_SERVER, "iq");
    xml_node_set_attr(iq, "type", "get");
    struct xml_node *q = xml_node_add_child(iq, "jabber:iq:roster", "query");
    xml_node_set_attr(q, "to", "inner");
    struct xml_node *item = xml_node_add_child(q, NULL, "item");
    xml_node_set_attr_ns(item, "urn:a", "x", "1");
    xml_node_set_attr_ns(item, "urn:b", "y", "2");
    xml_node_set_attr_ns(item, "urn:a", "z", "3");
    xml_node_set_attr_ns(item, NS_XML, "lang", "fr");
    xml_node_set_attr(item, "jid", "a'b");
    struct xml_node *plain = xml_node_add_child(q, "", "plain");
    xml_node_add_child(plain, "jabber:iq:roster", "back");
    struct xml_ser_opts ov2 = { .parent_ns = NS_CLIENT, .to = "t", .from = "f" };
    assert_ser(iq, &ov2,
               "<iq type='get' to='t' from='f'><query xmlns='jabber:iq:roster' to='inner'>"
               "<item xmlns:ns0='urn:a' ns0:x='1' xmlns:ns1='urn:b' ns1:y='2' ns0:z='3' "
               "xml:lang='fr' jid='a&apos;b'/><plain xmlns=''>"
               "<back xmlns='jabber:iq:roster'/></plain></query></iq>");
    /* A subtree serialized alone. */
    assert_ser(q->first_child, &(struct xml_ser_opts){ .parent_ns = "jabber:iq:roster" },
               "<item xmlns:ns0='urn:a' ns0:x='1' xmlns:ns1='urn:b' ns1:y='2' ns0:z='3' "
               "xml:lang='fr' jid='a&apos;b'/>");
    assert_ser(plain, NULL, "<plain><back xmlns='jabber:iq:roster'/></plain>");

    /* A text node alone. */
    struct xml_node *t = xml_node_new("urn:t", "t");
    xml_node_add_text(t, "a<b", 3);
    assert_ser(t->first_child, NULL, "a&lt;b");
    xml_node_unref(t);

    /* The output limit: ERR_LIMIT and out left as it was. */
    struct buf b;
    buf_init(&b, 40);
    assert_int_equal(buf_append_c(&b, "keep"), 0);
    assert_int_equal(xml_serialize(&b, iq, NULL), ERR_LIMIT);
    assert_string_equal(buf_cstr(&b), "keep");
    assert_int_equal(b.len, 4);
    buf_cleanup(&b);
    xml_node_unref(iq);
}

/* ---- stream parser ------------------------------------------------------------------------ */

static const char *realistic =
    "<?xml version='1.0' encoding='UTF-8'?>\n" HDR_C
    "<message from='romeo@example.net/orchard' to='juliet@example.com' type='chat' "
    "id='m1' xml:lang='en'><body>Art thou not Romeo, &amp; a Montague? &lt;&gt;&apos;&quot;"
    "&#x263A;&#9731; caf\xC3\xA9 \xF0\x9F\x98\x80</body><thread>e0ffe42b</thread>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>\n  \r\n"
    "<presence><show>away</show><status>at the\r\nball</status><priority>5</priority>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://psi-im.org' "
    "ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence> "
    "<iq type='get' id='r1'><query xmlns=\"jabber:iq:roster\" ver=\"\"/></iq>"
    "<iq type='set' id='b1'><x:bind xmlns:x='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<x:resource>balcony</x:resource></x:bind></iq>"
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
    "</starttls></stream:features>"
    "<message><body><![CDATA[<not> a &tag;]]> and mixed <b>bold</b> text</body></message>"
    "<db:result xmlns:db='jabber:server:dialback' from='a' to='b'>key</db:result>"
    "<r xmlns='urn:xmpp:sm:3'/>"
    "</stream:stream>";

static const char *realistic_log =
    "OPEN\n"
    "<message from='romeo@example.net/orchard' to='juliet@example.com' type='chat' id='m1' "
    "xml:lang='en'><body>Art thou not Romeo, &amp; a Montague? &lt;&gt;'\""
    "\xE2\x98\xBA\xE2\x98\x83 caf\xC3\xA9 \xF0\x9F\x98\x80</body><thread>e0ffe42b</thread>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/></message>\n"
    "<presence><show>away</show><status>at the\nball</status><priority>5</priority>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://psi-im.org' "
    "ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>\n"
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq>\n"
    "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>balcony</resource></bind></iq>\n"
    "<features xmlns='http://etherx.jabber.org/streams'>"
    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></features>\n"
    "<message><body>&lt;not&gt; a &amp;tag; and mixed <b>bold</b> text</body></message>\n"
    "<result xmlns='jabber:server:dialback' from='a' to='b'>key</result>\n"
    "<r xmlns='urn:xmpp:sm:3'/>\n"
    "CLOSE\n";

static void test_stream_whole(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r);
    const char *err = "unset";
    assert_int_equal(feed_all(NULL, realistic, &r, &err), 0);
    assert_null(err);
    assert_string_equal(buf_cstr(&r.log), realistic_log);
    assert_int_equal(r.opens, 1);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.elements, 8);
    assert_string_equal(r.to, "example.com");
    assert_string_equal(r.lang, "en");
    assert_string_equal(r.default_ns, NS_CLIENT);
    rec_cleanup(&r);
}

static int keep_element(void *ud, struct xml_node *el)
{
    struct xml_node **slot = ud;
    xml_node_unref(*slot);
    *slot = el;
    return 0;
}

static void test_stream_tree(void **state)
{
    (void)state;
    struct xml_node *el = NULL;
    struct xml_stream_cbs cbs = { .element = keep_element };
    struct xml_stream *s = xml_stream_new(NULL, &cbs, &el);
    const char *in = HDR_C "<message xml:lang='fr' a='1&amp;2'>x<b>y</b>z&#10;</message>";
    assert_int_equal(xml_stream_feed(s, in, strlen(in), NULL), 0);
    assert_non_null(el);
    assert_string_equal(el->name, "message");
    assert_string_equal(el->ns, NS_CLIENT);
    assert_int_equal(el->nattrs, 2);
    assert_string_equal(el->attrs[0].ns, NS_XML);
    assert_string_equal(el->attrs[0].name, "lang");
    assert_string_equal(el->attrs[0].value, "fr");
    assert_null(el->attrs[1].ns);
    assert_string_equal(xml_node_attr(el, "a"), "1&2");
    struct xml_node *c = el->first_child;
    assert_null(c->name);
    assert_string_equal(c->text, "x");
    c = c->next;
    assert_string_equal(c->name, "b");
    assert_ptr_equal(c->ns, el->ns); /* the namespace string is shared within the tree */
    assert_string_equal(c->first_child->text, "y");
    c = c->next;
    assert_null(c->name);
    assert_int_equal(c->text_len, 2);
    assert_string_equal(c->text, "z\n");
    assert_null(c->next);
    assert_ptr_equal(el->last_child, c);
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(xml_node_text(el, &b), 0);
    assert_string_equal(buf_cstr(&b), "xz\n");
    buf_cleanup(&b);
    xml_node_unref(el);
    xml_stream_free(s);
}

static void test_stream_no_decl_and_options(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r);
    /* No XML declaration, server namespace, lowercase encoding name, whitespace before. */
    const char *in = "<?xml version='1.0' encoding='utf-8'?>  \n"
                     "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                     "xmlns='jabber:server' xmlns:db='jabber:server:dialback'>"
                     "<db:verify from='a' to='b' id='x'>k</db:verify>";
    assert_int_equal(feed_all(NULL, in, &r, NULL), 0);
    assert_string_equal(r.default_ns, NS_SERVER);
    assert_null(r.to);
    assert_string_equal(buf_cstr(&r.log),
                        "OPEN\n<verify xmlns='jabber:server:dialback' from='a' to='b' "
                        "id='x'>k</verify>\n");
    rec_cleanup(&r);

    rec_init(&r);
    in = "<stream xmlns='http://etherx.jabber.org/streams'><a xmlns='urn:x'/></stream>";
    assert_int_equal(feed_all(NULL, in, &r, NULL), 0);
    assert_string_equal(r.default_ns, NS_STREAM);
    assert_string_equal(buf_cstr(&r.log), "OPEN\n<a xmlns='urn:x'/>\nCLOSE\n");
    rec_cleanup(&r);

    /* Stream-namespace elements other than features/error are delivered too. */
    rec_init(&r);
    in = HDR_C "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
               "</stream:error><stream:bogus/>";
    assert_int_equal(feed_all(NULL, in, &r, NULL), 0);
    assert_int_equal(r.elements, 2);
    assert_true(strstr(buf_cstr(&r.log), "<bogus xmlns='http://etherx.jabber.org/streams'/>"));
    rec_cleanup(&r);
}

/* Every split of the realistic stream into two feeds yields the same trees. */
static void test_stream_every_split(void **state)
{
    (void)state;
    size_t n = strlen(realistic);
    for (size_t i = 0; i <= n; i++) {
        struct rec r;
        rec_init(&r);
        struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
        size_t used = 99;
        assert_int_equal(xml_stream_feed(s, realistic, i, &used), 0);
        assert_int_equal(used, i);
        assert_int_equal(xml_stream_feed(s, realistic + i, n - i, &used), 0);
        assert_int_equal(used, n - i);
        if (strcmp(buf_cstr(&r.log), realistic_log) != 0) {
            fail_msg("split at %zu gives\n%s", i, buf_cstr(&r.log));
        }
        xml_stream_free(s);
        rec_cleanup(&r);
    }
}

/* One byte at a time; each element is delivered as soon as its last byte arrives. */
static void test_stream_byte_at_a_time(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r);
    struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
    size_t n = strlen(realistic);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(xml_stream_feed(s, realistic + i, 1, NULL), 0);
        int now = r.opens + r.elements + r.closes;
        if (now != seen) {
            assert_int_equal(now, seen + 1);
            assert_true(realistic[i] == '>');
            seen = now;
        }
    }
    assert_string_equal(buf_cstr(&r.log), realistic_log);
    /* Whitespace after the close is fine. */
    assert_int_equal(xml_stream_feed(s, " \n", 2, NULL), 0);
    xml_stream_free(s);
    rec_cleanup(&r);
}

/* A large stanza arriving in pieces is delivered as soon as its last bytes arrive (expat's
 * reparse deferral would otherwise hold it back until more data comes). */
static void test_stream_prompt_large(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r);
    struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
    assert_int_equal(xml_stream_feed(s, HDR_C, strlen(HDR_C), NULL), 0);
    assert_int_equal(xml_stream_feed(s, "<m a='", 6, NULL), 0);
    char piece[1000];
    memset(piece, 'v', sizeof(piece));
    for (int i = 0; i < 100; i++) {
        assert_int_equal(xml_stream_feed(s, piece, sizeof(piece), NULL), 0);
    }
    assert_int_equal(xml_stream_feed(s, "'", 1, NULL), 0);
    assert_int_equal(r.elements, 0);
    assert_int_equal(xml_stream_feed(s, "/>", 2, NULL), 0);
    assert_int_equal(r.elements, 1);
    assert_int_equal(xml_stream_feed(s, "<m>", 3, NULL), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(xml_stream_feed(s, piece, sizeof(piece), NULL), 0);
    }
    assert_int_equal(xml_stream_feed(s, "</m>", 4, NULL), 0);
    assert_int_equal(r.elements, 2);
    xml_stream_free(s);
    rec_cleanup(&r);
}

static void test_stream_stop_and_reset(void **state)
{
    (void)state;
    const char *first = HDR_C "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    const char *rest = "<?xml version='1.0'?>" HDR_C "<message><body>x</body></message>";
    size_t flen = strlen(first);
    char *all = xmalloc(flen + strlen(rest) + 1);
    memcpy(all, first, flen);
    memcpy(all + flen, rest, strlen(rest) + 1);
    size_t alen = strlen(all);

    struct rec r;
    rec_init(&r);
    r.stop_at_element = 1;
    struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
    size_t used = 0;
    /* Feed in two pieces so the stop happens in a later call, to check the count is relative. */
    assert_int_equal(xml_stream_feed(s, all, 10, &used), 0);
    assert_int_equal(xml_stream_feed(s, all + 10, alen - 10, &used), XML_STOPPED);
    assert_int_equal(used, flen - 10);
    assert_int_equal(r.elements, 1);
    assert_int_equal(xml_stream_feed(s, all + flen, alen - flen, &used), ERR_INVAL);
    assert_null(xml_stream_error(s));
    xml_stream_reset(s);
    assert_int_equal(xml_stream_feed(s, all + flen, alen - flen, &used), 0);
    assert_int_equal(used, alen - flen);
    assert_int_equal(r.opens, 2);
    assert_int_equal(r.elements, 2);
    assert_string_equal(buf_cstr(&r.log),
                        "OPEN\n<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n"
                        "OPEN\n<message><body>x</body></message>\n");
    xml_stream_free(s);
    rec_cleanup(&r);

    /* Stopping in stream_open: consumed ends at the header's '>'. */
    rec_init(&r);
    r.stop_at_open = true;
    s = xml_stream_new(NULL, &rec_cbs, &r);
    assert_int_equal(xml_stream_feed(s, all, alen, &used), XML_STOPPED);
    assert_int_equal(used, strlen(HDR_C));
    assert_int_equal(r.elements, 0);
    xml_stream_free(s);
    rec_cleanup(&r);

    /* Stopping while the rest of the same slice holds more stanzas: they are not parsed. */
    rec_init(&r);
    r.stop_at_element = 2;
    s = xml_stream_new(NULL, &rec_cbs, &r);
    const char *three = HDR_C "<a/><b/><c/>";
    assert_int_equal(xml_stream_feed(s, three, strlen(three), &used), XML_STOPPED);
    assert_int_equal(used, strlen(HDR_C "<a/><b/>"));
    assert_int_equal(r.elements, 2);
    xml_stream_free(s);
    rec_cleanup(&r);
    free(all);
}

/* A pause keeps the document: what followed the pausing element is parsed by resume (the
 * connection moved to another worker after legacy authentication). */
static void test_stream_suspend_resume(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r);
    r.suspend_at_element = 1;
    struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
    const char *text = HDR_C "<a/><b/>";
    size_t used = 0;
    assert_int_equal(xml_stream_feed(s, text, strlen(text), &used), XML_SUSPENDED);
    assert_int_equal(used, strlen(text));
    assert_int_equal(r.elements, 1);
    assert_int_equal(xml_stream_feed(s, "<c/>", 4, &used), ERR_INVAL);
    assert_int_equal(xml_stream_resume(s), 0);
    assert_int_equal(r.elements, 2);
    assert_int_equal(xml_stream_resume(s), 0);
    assert_int_equal(xml_stream_feed(s, "<c/></stream:stream>", 20, &used), 0);
    assert_int_equal(r.elements, 3);
    assert_int_equal(r.closes, 1);
    assert_string_equal(buf_cstr(&r.log), "OPEN\n<a/>\n<b/>\n<c/>\nCLOSE\n");
    xml_stream_free(s);
    rec_cleanup(&r);
}

static void test_stream_reset_clears_error(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r);
    struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
    const char *bad = HDR_C "<a><b></a>";
    assert_int_equal(xml_stream_feed(s, bad, strlen(bad), NULL), ERR_PROTO);
    assert_string_equal(xml_stream_error(s), "not-well-formed");
    /* The stream stays dead, whatever comes next. */
    assert_int_equal(xml_stream_feed(s, "<c/>", 4, NULL), ERR_PROTO);
    assert_int_equal(xml_stream_feed(s, "", 0, NULL), ERR_PROTO);
    assert_string_equal(xml_stream_error(s), "not-well-formed");
    xml_stream_reset(s);
    assert_null(xml_stream_error(s));
    const char *good = HDR_C "<c/>";
    assert_int_equal(xml_stream_feed(s, good, strlen(good), NULL), 0);
    assert_int_equal(r.elements, 1);
    xml_stream_free(s);
    rec_cleanup(&r);

    /* A stream freed in the middle of a stanza releases the partial tree. */
    rec_init(&r);
    s = xml_stream_new(NULL, &rec_cbs, &r);
    const char *partial = HDR_C "<message><body>half";
    assert_int_equal(xml_stream_feed(s, partial, strlen(partial), NULL), 0);
    xml_stream_free(s);
    rec_cleanup(&r);
}

static void test_stream_restricted(void **state)
{
    (void)state;
    static const char *cases[] = {
        "<!-- hi -->" HDR_C,
        HDR_C "<!-- between -->",
        HDR_C "<message><!-- in --></message>",
        "<?xml-stylesheet href='x'?>" HDR_C,
        HDR_C "<message><?php echo 1; ?></message>",
        HDR_C "<?pi?>",
        HDR_C "<message><?xml version='1.0'?></message>",
        "<!DOCTYPE stream>" HDR_C,
        "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
        "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
        "<lolz>&lol3;</lolz>",
        "<!DOCTYPE x SYSTEM 'http://example.com/x.dtd'>" HDR_C,
        HDR_C "<message><body>&lol;</body></message>",
        HDR_C "<message a='&ext;'/>",
        HDR_C "<message><body>&nbsp;</body></message>",
        "<?xml version='1.0'?><?xml version='1.0'?>" HDR_C,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_stream_error(NULL, cases[i], "restricted-xml");
    }
}

/* Whitespace before a document (after "</auth>\n" or "<starttls/>\n") is dropped and counted as
 * consumed, whether it comes alone, with the declaration, or one byte at a time; anything else
 * before the declaration is still refused. */
static void test_stream_space_before_document(void **state)
{
    (void)state;
    const char *doc = "\n\r\t <?xml version='1.0'?>\n" HDR_C "<a/>";
    struct rec r;
    rec_init(&r);
    assert_int_equal(feed_all(NULL, doc, &r, NULL), 0);
    assert_int_equal(r.opens, 1);
    assert_int_equal(r.elements, 1);
    rec_cleanup(&r);

    rec_init(&r);
    struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
    size_t used = 0;
    for (size_t i = 0; doc[i] != '\0'; i++) {
        assert_int_equal(xml_stream_feed(s, doc + i, 1, &used), 0);
        assert_int_equal(used, 1);
    }
    assert_int_equal(r.elements, 1);
    /* After a restart, the same again. */
    xml_stream_reset(s);
    assert_int_equal(xml_stream_feed(s, doc, strlen(doc), &used), 0);
    assert_int_equal(used, strlen(doc));
    assert_int_equal(r.opens, 2);
    xml_stream_free(s);
    rec_cleanup(&r);

    assert_stream_error(NULL, "\nx<?xml version='1.0'?>" HDR_C, "not-well-formed");
    assert_int_equal(xml_space_prefix(" \t\r\nx ", 6), 4);
    assert_int_equal(xml_space_prefix("\v", 1), 0);
}

/* XMPP is XML 1.0 only. */
static void test_stream_xml_version(void **state)
{
    (void)state;
    assert_stream_error(NULL, "<?xml version='1.1'?>" HDR_C, "unsupported-version");
    assert_stream_error(NULL, "<?xml version=\"1.1\" encoding='UTF-8'?>" HDR_C,
                        "unsupported-version");
    struct rec r;
    rec_init(&r);
    assert_int_equal(feed_all(NULL, "<?xml version='1.0'?>" HDR_C "<a/>", &r, NULL), 0);
    assert_int_equal(r.elements, 1);
    rec_cleanup(&r);
}

static void test_stream_encoding(void **state)
{
    (void)state;
    assert_stream_error(NULL, "<?xml version='1.0' encoding='ISO-8859-1'?>" HDR_C,
                        "unsupported-encoding");
    assert_stream_error(NULL, "<?xml version='1.0' encoding='UTF-16'?>" HDR_C,
                        "unsupported-encoding");
    assert_stream_error(NULL, "\xFF\xFE<\0s\0", "unsupported-encoding");
    assert_stream_error(NULL, "\xFE\xFF\0<\0s", "unsupported-encoding");
    /* A UTF-8 byte order mark is allowed. */
    struct rec r;
    rec_init(&r);
    assert_int_equal(feed_all(NULL, "\xEF\xBB\xBF" HDR_C "<a/>", &r, NULL), 0);
    assert_int_equal(r.elements, 1);
    rec_cleanup(&r);
}

static void test_stream_not_well_formed(void **state)
{
    (void)state;
    static const char *cases[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "hello" HDR_C,
        HDR_C "<a><b></a>",
        HDR_C "<a x='1' x='2'/>",
        HDR_C "<a x=1/>",
        HDR_C "<message><body>\xC3\x28</body></message>",     /* invalid UTF-8 */
        HDR_C "<message><body>\xED\xA0\x80</body></message>", /* surrogate */
        HDR_C "<message><body>\xF8\x88\x80\x80\x80</body></message>",
        HDR_C "<message to='\xC0\xAF'/>",
        HDR_C "<message><body>&#0;</body></message>",
        HDR_C "<message><body>\x01</body></message>",
        HDR_C "stray text",
        HDR_C " <a/> x <b/>",
        HDR_C "</stream:stream>junk",
        HDR_C "</stream:stream>" HDR_C,
        HDR_C "<a></b>",
        HDR_C "</a>",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_stream_error(NULL, cases[i], "not-well-formed");
    }
}

static void test_stream_namespaces(void **state)
{
    (void)state;
    assert_stream_error(NULL, HDR_C "<foo:message/>", "bad-namespace-prefix");
    assert_stream_error(NULL, HDR_C "<message foo:a='1'/>", "bad-namespace-prefix");
    assert_stream_error(NULL, "<stream:stream xmlns='jabber:client'>", "bad-namespace-prefix");
    assert_stream_error(NULL,
                        "<stream:stream xmlns:stream='http://etherx.jabber.org/streamz' "
                        "xmlns='jabber:client'>",
                        "invalid-namespace");
    assert_stream_error(NULL,
                        "<stream:strom xmlns:stream='http://etherx.jabber.org/streams' "
                        "xmlns='jabber:client'>",
                        "invalid-namespace");
    assert_stream_error(NULL, "<stream xmlns='jabber:client'>", "invalid-namespace");
    assert_stream_error(NULL, "<html><body>", "invalid-namespace");
}

static void test_limit_size(void **state)
{
    (void)state;
    struct xml_limits lim = { .max_stanza_size = 200 };
    /* Exactly at the limit passes, one byte more fails, counted from the header's end. */
    char stanza[300];
    size_t hl = strlen(HDR_C);
    for (int extra = 0; extra <= 1; extra++) {
        struct rec r;
        rec_init(&r);
        struct xml_stream *s = xml_stream_new(&lim, &rec_cbs, &r);
        assert_int_equal(xml_stream_feed(s, HDR_C, hl, NULL), 0);
        /* "<m>" + text + "</m>" = 200 (+extra) bytes. */
        size_t tl = 200 - 7 + (size_t)extra;
        memcpy(stanza, "<m>", 3);
        memset(stanza + 3, 'x', tl);
        memcpy(stanza + 3 + tl, "</m>", 4);
        size_t sl = 7 + tl;
        for (int k = 0; k < 3; k++) {
            int rc = xml_stream_feed(s, stanza, sl, NULL);
            if (extra == 0) {
                assert_int_equal(rc, 0);
            } else {
                assert_int_equal(rc, ERR_LIMIT);
                assert_string_equal(xml_stream_error(s), "policy-violation");
            }
        }
        assert_int_equal(r.elements, extra == 0 ? 3 : 0);
        xml_stream_free(s);
        rec_cleanup(&r);
    }
    /* The header itself is limited too. */
    struct xml_limits tiny = { .max_stanza_size = strlen(HDR_C) - 1 };
    assert_stream_error(&tiny, HDR_C, "policy-violation");
    struct rec r;
    rec_init(&r);
    tiny.max_stanza_size++;
    assert_int_equal(feed_all(&tiny, HDR_C, &r, NULL), 0);
    assert_int_equal(r.opens, 1);
    rec_cleanup(&r);
    /* Whitespace between stanzas counts. */
    char ws[300];
    memset(ws, ' ', sizeof(ws));
    rec_init(&r);
    struct xml_stream *s = xml_stream_new(&lim, &rec_cbs, &r);
    assert_int_equal(xml_stream_feed(s, HDR_C, hl, NULL), 0);
    assert_int_equal(xml_stream_feed(s, ws, 196, NULL), 0);
    assert_int_equal(xml_stream_feed(s, "<a/>", 4, NULL), 0);
    assert_int_equal(xml_stream_feed(s, ws, 200, NULL), 0);
    assert_int_equal(xml_stream_feed(s, ws, 1, NULL), ERR_LIMIT);
    assert_int_equal(r.elements, 1);
    xml_stream_free(s);
    rec_cleanup(&r);
}

/* A 10 MB stanza (huge text, huge attribute, huge unterminated tag) is refused once it passes
 * the limit, long before it has all arrived. */
static void test_limit_huge(void **state)
{
    (void)state;
    const size_t chunk = 65536;
    const size_t total = 10u << 20;
    char *buf = xmalloc(chunk);
    static const char *openers[] = { "<message><body>", "<message a='", "<message " };
    for (size_t k = 0; k < 3; k++) {
        struct xml_limits lim = { .max_stanza_size = 100000 };
        struct rec r;
        rec_init(&r);
        struct xml_stream *s = xml_stream_new(&lim, &rec_cbs, &r);
        assert_int_equal(xml_stream_feed(s, HDR_C, strlen(HDR_C), NULL), 0);
        assert_int_equal(xml_stream_feed(s, openers[k], strlen(openers[k]), NULL), 0);
        memset(buf, k == 2 ? ' ' : 'x', chunk);
        size_t sent = 0;
        int rc = 0;
        while (sent < total && rc == 0) {
            rc = xml_stream_feed(s, buf, chunk, NULL);
            sent += chunk;
        }
        assert_int_equal(rc, ERR_LIMIT);
        assert_string_equal(xml_stream_error(s), "policy-violation");
        assert_true(sent <= lim.max_stanza_size + chunk);
        xml_stream_free(s);
        rec_cleanup(&r);
    }
    free(buf);
}

static void test_limit_depth(void **state)
{
    (void)state;
    /* 10,000 nested elements are refused. */
    const int n = 10000;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_c(&b, HDR_C), 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(buf_append_c(&b, "<a>"), 0);
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(buf_append_c(&b, "</a>"), 0);
    }
    assert_stream_error(NULL, buf_cstr(&b), "policy-violation");
    struct xml_limits big = { .max_depth = 20000, .max_stanza_size = 1 << 20 };
    struct rec r;
    rec_init(&r);
    /* Allowed by the limits, it parses and frees without recursion. */
    assert_int_equal(feed_all(&big, buf_cstr(&b), &r, NULL), 0);
    assert_int_equal(r.elements, 1);
    rec_cleanup(&r);
    buf_cleanup(&b);

    /* max_depth 3: the stanza is depth 1, so three levels pass and four fail. */
    struct xml_limits lim = { .max_depth = 3 };
    rec_init(&r);
    assert_int_equal(feed_all(&lim, HDR_C "<a><b><c/></b></a>", &r, NULL), 0);
    assert_int_equal(r.elements, 1);
    rec_cleanup(&r);
    assert_stream_error(&lim, HDR_C "<a><b><c><d/></c></b></a>", "policy-violation");
}

static void test_limit_attrs(void **state)
{
    (void)state;
    for (int count = 64; count <= 65; count++) {
        struct buf b;
        buf_init(&b, 10000);
        assert_int_equal(buf_append_c(&b, HDR_C "<m"), 0);
        for (int i = 0; i < count; i++) {
            assert_int_equal(buf_printf(&b, " a%d='%d'", i, i), 0);
        }
        assert_int_equal(buf_append_c(&b, "/>"), 0);
        if (count == 64) {
            struct rec r;
            rec_init(&r);
            assert_int_equal(feed_all(NULL, buf_cstr(&b), &r, NULL), 0);
            assert_int_equal(r.elements, 1);
            rec_cleanup(&r);
        } else {
            assert_stream_error(NULL, buf_cstr(&b), "policy-violation");
        }
        buf_cleanup(&b);
    }
    /* Namespace declarations count as attributes: the stream header has two declarations and
     * three attributes, so five are allowed here. */
    struct xml_limits lim = { .max_attrs = 5 };
    assert_stream_error(&lim, HDR_C "<m a='1' b='2' c='3' d='4' e='5' xml:lang='en'/>",
                        "policy-violation");
    assert_stream_error(
        &lim, HDR_C "<m xmlns:p='urn:p' xmlns:q='urn:q' xmlns:r='urn:r' a='1' b='2' c='3'/>",
        "policy-violation");
    struct rec r;
    rec_init(&r);
    const char *ok = HDR_C "<m xmlns:x='urn:x' xmlns:y='urn:y' a='1' x:b='2' y:c='3'/>";
    assert_int_equal(feed_all(&lim, ok, &r, NULL), 0);
    assert_int_equal(r.elements, 1);
    rec_cleanup(&r);
    /* Thousands of declarations on one element are refused, not bound one by one. */
    struct buf many;
    buf_init(&many, 1 << 20);
    buf_append_c(&many, HDR_C "<message ");
    for (int i = 0; i < 5000; i++) {
        buf_printf(&many, "xmlns:p%d='urn:x:%d' ", i, i);
    }
    buf_append_c(&many, "/>");
    assert_stream_error(NULL, buf_cstr(&many), "policy-violation");
    buf_cleanup(&many);
}

static void test_stream_keepalive(void **state)
{
    (void)state;
    struct rec r;
    rec_init(&r);
    struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
    assert_int_equal(xml_stream_feed(s, HDR_C, strlen(HDR_C), NULL), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(xml_stream_feed(s, " ", 1, NULL), 0);
        assert_int_equal(xml_stream_feed(s, "\r\n\t", 3, NULL), 0);
    }
    assert_int_equal(xml_stream_feed(s, "<presence/>", 11, NULL), 0);
    assert_int_equal(xml_stream_feed(s, "</stream:stream>", 16, NULL), 0);
    assert_string_equal(buf_cstr(&r.log), "OPEN\n<presence/>\nCLOSE\n");
    xml_stream_free(s);
    rec_cleanup(&r);
}

/* Feeds `in` and then puts the stream to sleep; asserts the sleep's result. */
static void feed_then_sleep(struct xml_stream *s, const char *in, int want)
{
    assert_int_equal(xml_stream_feed(s, in, strlen(in), NULL), 0);
    assert_int_equal(xml_stream_sleep(s), want);
    assert_int_equal(xml_stream_asleep(s), want == 0);
}

/* An idle stream frees its parser; the next bytes are parsed as if it had never slept: same
 * namespace context (default, the stream prefix as written, extra prefixes), same close tag,
 * same size accounting, same stop offsets. */
static void test_stream_sleep(void **state)
{
    (void)state;
    const char *hdr = "<s:stream xmlns='jabber:server' xmlns:s='http://etherx.jabber.org/streams' "
                      "xmlns:db='jabber:server:dialback' to='example.com' version='1.0'>";
    struct rec r;
    rec_init(&r);
    struct xml_stream *s = xml_stream_new(NULL, &rec_cbs, &r);
    assert_int_equal(xml_stream_sleep(s), ERR_AGAIN); /* before the header */
    feed_then_sleep(s, hdr, 0);
    assert_int_equal(xml_stream_sleep(s), 0); /* asleep already */
    feed_then_sleep(s, "<db:result from='a.example' to='example.com'>k</db:result>", 0);
    feed_then_sleep(s, "<message><bo", ERR_AGAIN); /* inside a stanza */
    feed_then_sleep(s, "dy>x</body></message> \n", 0);
    feed_then_sleep(s, "<iq/><", ERR_AGAIN); /* a token begun */
    feed_then_sleep(s, "presence/>", 0);
    assert_int_equal(xml_stream_feed(s, "</s:stream>", 11, NULL), 0);
    assert_null(xml_stream_error(s));
    assert_string_equal(buf_cstr(&r.log),
                        "OPEN\n<result xmlns='jabber:server:dialback' from='a.example' "
                        "to='example.com'>k</result>\n<message><body>x</body></message>\n"
                        "<iq/>\n<presence/>\nCLOSE\n");
    xml_stream_free(s);
    rec_cleanup(&r);

    /* The close tag must still match the header's name: a wrong one is not well-formed. */
    rec_init(&r);
    s = xml_stream_new(NULL, &rec_cbs, &r);
    feed_then_sleep(s, HDR_C, 0);
    assert_int_equal(xml_stream_feed(s, "</s:stream>", 11, NULL), ERR_PROTO);
    assert_string_equal(xml_stream_error(s), "not-well-formed");
    xml_stream_free(s);
    rec_cleanup(&r);

    /* Size accounting goes on across sleeps: whitespace since the last stanza still counts. */
    struct xml_limits lim = { .max_stanza_size = 200 };
    char ws[300];
    memset(ws, ' ', sizeof(ws));
    rec_init(&r);
    s = xml_stream_new(&lim, &rec_cbs, &r);
    feed_then_sleep(s, HDR_C, 0);
    assert_int_equal(xml_stream_feed(s, ws, 196, NULL), 0);
    assert_int_equal(xml_stream_sleep(s), 0);
    feed_then_sleep(s, "<a/>", 0);
    assert_int_equal(xml_stream_feed(s, ws, 150, NULL), 0);
    assert_int_equal(xml_stream_sleep(s), 0);
    assert_int_equal(xml_stream_feed(s, ws, 50, NULL), 0);
    assert_int_equal(xml_stream_sleep(s), 0);
    assert_int_equal(xml_stream_feed(s, ws, 1, NULL), ERR_LIMIT);
    assert_int_equal(xml_stream_sleep(s), ERR_AGAIN);
    assert_int_equal(r.elements, 1);
    xml_stream_free(s);
    rec_cleanup(&r);

    /* A stop right after waking reports the bytes used of this feed; reset works after. */
    rec_init(&r);
    r.stop_at_element = 1;
    s = xml_stream_new(NULL, &rec_cbs, &r);
    feed_then_sleep(s, HDR_C, 0);
    const char *in = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><junk";
    size_t used = 0;
    assert_int_equal(xml_stream_feed(s, in, strlen(in), &used), XML_STOPPED);
    assert_int_equal(used, strlen(in) - 5);
    assert_int_equal(xml_stream_sleep(s), ERR_AGAIN);
    xml_stream_reset(s);
    assert_int_equal(xml_stream_feed(s, HDR_C "<a/>", strlen(HDR_C "<a/>"), NULL), 0);
    assert_int_equal(r.opens, 2);
    xml_stream_free(s);
    rec_cleanup(&r);

    /* A sleeping stream can be reset (a restart) and freed. */
    rec_init(&r);
    s = xml_stream_new(NULL, &rec_cbs, &r);
    feed_then_sleep(s, HDR_C, 0);
    xml_stream_reset(s);
    assert_false(xml_stream_asleep(s));
    assert_int_equal(xml_stream_feed(s, HDR_C, strlen(HDR_C), NULL), 0);
    assert_int_equal(xml_stream_sleep(s), 0);
    xml_stream_free(s);
    assert_int_equal(r.opens, 2);
    rec_cleanup(&r);
}

static int null_cbs_feed(const char *in)
{
    struct xml_stream *s = xml_stream_new(NULL, NULL, NULL);
    int rc = xml_stream_feed(s, in, strlen(in), NULL);
    xml_stream_free(s);
    return rc;
}

static void test_stream_no_callbacks(void **state)
{
    (void)state;
    assert_int_equal(null_cbs_feed(HDR_C "<a><b/></a></stream:stream>"), 0);
    assert_int_equal(null_cbs_feed(HDR_C "<a>"), 0);
}

/* ---- xml_parse_element ------------------------------------------------------------------- */

static void test_parse_element_default_ns(void **state)
{
    (void)state;
    const char *text =
        "<message to='a@example.com' type='chat'><body>hi &amp; bye</body></message>";
    struct xml_node *el = xml_parse_element(strv_c(text), "jabber:client", NULL);
    assert_non_null(el);
    assert_string_equal(el->name, "message");
    assert_string_equal(el->ns, "jabber:client");
    struct xml_node *body = xml_node_child(el, "jabber:client", "body");
    assert_non_null(body);
    struct xml_ser_opts o = { .parent_ns = "jabber:client" };
    assert_ser(el, &o, text);
    xml_node_unref(el);
}

static void test_parse_element_own_ns(void **state)
{
    (void)state;
    const char *text = "<query xmlns='jabber:iq:private'><x xmlns='urn:a'><y/></x></query>";
    struct xml_node *el = xml_parse_element(strv_c(text), NULL, NULL);
    assert_non_null(el);
    assert_string_equal(el->ns, "jabber:iq:private");
    assert_non_null(xml_node_child(xml_node_child(el, "urn:a", "x"), "urn:a", "y"));
    assert_ser(el, NULL, text);
    xml_node_unref(el);
    /* Without a default namespace in scope, an unqualified element has none. */
    el = xml_parse_element(strv_c("<a/>"), NULL, NULL);
    assert_non_null(el);
    assert_null(el->ns);
    xml_node_unref(el);
}

static void test_parse_element_quoted_ns(void **state)
{
    (void)state;
    struct xml_node *el = xml_parse_element(strv_c("<a/>"), "urn:x'y<z", NULL);
    assert_non_null(el);
    assert_string_equal(el->ns, "urn:x'y<z");
    xml_node_unref(el);
}

static void test_parse_element_first_only(void **state)
{
    (void)state;
    struct xml_node *el = xml_parse_element(strv_c("<a x='1'/><b/>trailing"), NULL, NULL);
    assert_non_null(el);
    assert_string_equal(el->name, "a");
    assert_string_equal(xml_node_attr(el, "x"), "1");
    assert_null(el->next);
    xml_node_unref(el);
    /* Only the given length is read. */
    const char *text = "<c/>";
    el = xml_parse_element((struct strv){ text, 4 }, NULL, NULL);
    assert_non_null(el);
    xml_node_unref(el);
    assert_null(xml_parse_element((struct strv){ text, 3 }, NULL, NULL));
}

static void test_parse_element_refused(void **state)
{
    (void)state;
    assert_null(xml_parse_element(strv_c(""), "jabber:client", NULL));
    assert_null(xml_parse_element(strv_c("just text"), "jabber:client", NULL));
    assert_null(xml_parse_element(strv_c("<message><body></message>"), "jabber:client", NULL));
    assert_null(xml_parse_element(strv_c("<message>"), "jabber:client", NULL));
    assert_null(xml_parse_element(strv_c("<!-- c --><a/>"), NULL, NULL));
    assert_null(xml_parse_element(strv_c("<p:a/>"), NULL, NULL));
    /* The limits: depth counts from the element itself (1), as for a stanza. */
    struct xml_limits lim = { .max_depth = 2, .max_attrs = 1 };
    struct xml_node *el = xml_parse_element(strv_c("<a><b/></a>"), NULL, &lim);
    assert_non_null(el);
    xml_node_unref(el);
    assert_null(xml_parse_element(strv_c("<a><b><c/></b></a>"), NULL, &lim));
    assert_null(xml_parse_element(strv_c("<a x='1' y='2'/>"), NULL, &lim));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_build),
        cmocka_unit_test(test_node_big_text),
        cmocka_unit_test(test_node_copy),
        cmocka_unit_test(test_node_copy_fit),
        cmocka_unit_test(test_node_deep_iterative),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_serialize_ns),
        cmocka_unit_test(test_serialize_shared),
        cmocka_unit_test(test_node_arena_reuse),
        cmocka_unit_test(test_serialize_mixed_stanza_ns),
        cmocka_unit_test(test_stream_whole),
        cmocka_unit_test(test_stream_tree),
        cmocka_unit_test(test_stream_no_decl_and_options),
        cmocka_unit_test(test_stream_every_split),
        cmocka_unit_test(test_stream_byte_at_a_time),
        cmocka_unit_test(test_stream_prompt_large),
        cmocka_unit_test(test_stream_stop_and_reset),
        cmocka_unit_test(test_stream_suspend_resume),
        cmocka_unit_test(test_stream_reset_clears_error),
        cmocka_unit_test(test_stream_restricted),
        cmocka_unit_test(test_stream_encoding),
        cmocka_unit_test(test_stream_space_before_document),
        cmocka_unit_test(test_stream_xml_version),
        cmocka_unit_test(test_stream_not_well_formed),
        cmocka_unit_test(test_stream_namespaces),
        cmocka_unit_test(test_stream_sleep),
        cmocka_unit_test(test_limit_size),
        cmocka_unit_test(test_limit_huge),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_limit_attrs),
        cmocka_unit_test(test_stream_keepalive),
        cmocka_unit_test(test_stream_no_callbacks),
        cmocka_unit_test(test_parse_element_default_ns),
        cmocka_unit_test(test_parse_element_own_ns),
        cmocka_unit_test(test_parse_element_quoted_ns),
        cmocka_unit_test(test_parse_element_first_only),
        cmocka_unit_test(test_parse_element_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
