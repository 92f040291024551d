/* test_convert.c: stanzas to signals and back (xmpp/convert.c), the wire format the router and
 * the IM core reach through signal_set_wire: methods, defaulted 'to', the written addresses of
 * a shared stanza, stanzas of non-XMPP producers, error answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "xmpp/convert.h"

static struct jid g_client;

static int setup(void **state)
{
    (void)state;
    convert_init();
    return jid_parse(&g_client, strv_c("juliet@example.com/balcony"));
}

static int teardown(void **state)
{
    (void)state;
    jid_cleanup(&g_client);
    convert_thread_cleanup();
    return 0;
}

/* A stanza as a client stream delivers it: parsed in jabber:client. */
static struct xml_node *stanza(const char *text)
{
    struct xml_node *el = xml_parse_element(strv_c(text), "jabber:client", NULL);
    assert_non_null(el);
    return el;
}

static struct signal *convert_ok(const char *text)
{
    struct xml_node *el = stanza(text);
    struct signal *sig = NULL;
    const char *cond = NULL;
    assert_int_equal(convert_stanza(el, &g_client, &sig, &cond), 0);
    xml_node_unref(el); /* the signal holds its own reference */
    return sig;
}

static void assert_refused(const char *text, const char *want)
{
    struct xml_node *el = stanza(text);
    struct signal *sig = (struct signal *)1;
    const char *cond = NULL;
    assert_true(convert_stanza(el, &g_client, &sig, &cond) < 0);
    assert_null(sig);
    assert_string_equal(cond, want);
    xml_node_unref(el);
}

/* What a client session writes for a signal (xmpp/c2s.c's deliver). */
static void assert_wire(const struct signal *sig, const char *want)
{
    struct buf out;
    buf_init(&out, 1 << 16);
    assert_int_equal(signal_wire_serialize(sig, &out), 0);
    assert_string_equal(buf_cstr(&out), want);
    buf_reset(&out);
    assert_int_equal(convert_signal_xml(sig, &out), 0);
    assert_string_equal(buf_cstr(&out), want);
    buf_cleanup(&out);
}

static void test_methods(void **state)
{
    (void)state;
    struct {
        const char *text;
        enum signal_method m;
    } cases[] = {
        { "<message to='romeo@example.net'/>", SIGNAL_MESSAGE },
        { "<message type='groupchat' to='room@chat.example.net'/>", SIGNAL_MESSAGE },
        { "<presence/>", SIGNAL_NOTIFY },
        { "<presence type='unavailable'/>", SIGNAL_NOTIFY },
        { "<presence type='probe' to='romeo@example.net'/>", SIGNAL_NOTIFY },
        { "<presence type='subscribe' to='romeo@example.net'/>", SIGNAL_SUBSCRIBE },
        { "<presence type='unsubscribed' to='romeo@example.net'/>", SIGNAL_SUBSCRIBE },
        { "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>", SIGNAL_INFO },
        { "<iq type='result' id='2'/>", SIGNAL_INFO },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct signal *sig = convert_ok(cases[i].text);
        assert_int_equal(sig->method, cases[i].m);
        if (cases[i].m == SIGNAL_NOTIFY || cases[i].m == SIGNAL_SUBSCRIBE) {
            assert_string_equal(sig->event, "presence");
        } else {
            assert_null(sig->event);
        }
        assert_true(jid_eq(&sig->from, &g_client));
        assert_non_null(sig->xmpp_data);
        signal_free(sig);
    }
}

static void test_to_defaults_to_own_bare_jid(void **state)
{
    (void)state;
    struct signal *sig =
        convert_ok("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>");
    assert_string_equal(sig->to.local, "juliet");
    assert_string_equal(sig->to.domain, "example.com");
    assert_null(sig->to.resource);
    assert_string_equal(sig->id, "r1");
    assert_string_equal(sig->type, "get");
    signal_free(sig);
    sig = convert_ok("<message to='Romeo@Example.NET/Orchard' type='chat'/>");
    assert_string_equal(sig->to.local, "romeo");
    assert_string_equal(sig->to.domain, "example.net");
    assert_string_equal(sig->to.resource, "Orchard");
    signal_free(sig);
}

static void test_refused(void **state)
{
    (void)state;
    assert_refused("<message type='bogus'/>", "bad-request");
    assert_refused("<presence type='available'/>", "bad-request");
    assert_refused("<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request");
    assert_refused("<iq type='fetch' id='1'/>", "bad-request");
    assert_refused("<foo/>", "bad-request");
    assert_refused("<message to='@example.net'/>", "jid-malformed");
}

/* A shared stanza is written with the signal's addresses over its own (a fan-out copies
 * nothing): what the sender wrote in from/to never reaches the wire. */
static void test_addresses_written_over(void **state)
{
    (void)state;
    struct signal *sig =
        convert_ok("<message from='spoof@evil.example' to='romeo@example.net' type='chat' "
                   "id='m1'><body>Art thou</body></message>");
    struct signal *copy = signal_dup(sig);
    assert_ptr_equal(copy->xmpp_data, sig->xmpp_data);
    jid_cleanup(&copy->to);
    assert_int_equal(jid_parse(&copy->to, strv_c("romeo@example.net/orchard")), 0);
    assert_wire(sig, "<message type='chat' id='m1' to='romeo@example.net' "
                     "from='juliet@example.com/balcony'><body>Art thou</body></message>");
    assert_wire(copy, "<message type='chat' id='m1' to='romeo@example.net/orchard' "
                      "from='juliet@example.com/balcony'><body>Art thou</body></message>");
    signal_free(copy);
    signal_free(sig);
}

/* A server-to-server stanza (jabber:server) is written for a client stream unchanged. */
static void test_server_stanza_on_client_stream(void **state)
{
    (void)state;
    struct xml_node *el = xml_parse_element(
        strv_c("<message type='chat'><body>hi</body></message>"), "jabber:server", NULL);
    assert_non_null(el);
    struct signal *sig = signal_new(SIGNAL_MESSAGE);
    assert_int_equal(jid_parse(&sig->from, strv_c("romeo@example.net/orchard")), 0);
    assert_int_equal(jid_copy(&sig->to, &g_client), 0);
    sig->xmpp_data = el;
    assert_wire(sig, "<message type='chat' to='juliet@example.com/balcony' "
                     "from='romeo@example.net/orchard'><body>hi</body></message>");
    signal_free(sig);
}

/* A signal from a non-XMPP producer (method, addresses, type, body) gets a stanza built. */
static void test_non_xmpp_producer(void **state)
{
    (void)state;
    struct signal *sig = signal_new(SIGNAL_MESSAGE);
    assert_int_equal(jid_parse(&sig->from, strv_c("example.com")), 0);
    assert_int_equal(jid_copy(&sig->to, &g_client), 0);
    sig->type = xstrdup("headline");
    sig->id = xstrdup("a1");
    sig->body = xstrdup("Server <going> down & up");
    assert_wire(sig, "<message type='headline' id='a1' to='juliet@example.com/balcony' "
                     "from='example.com'><body>Server &lt;going&gt; down &amp; "
                     "up</body></message>");
    struct xml_node *st = signal_wire_stanza(sig);
    assert_non_null(st);
    assert_string_equal(st->name, "message");
    assert_string_equal(st->ns, "jabber:client");
    xml_node_unref(st);
    signal_free(sig);
}

static void test_error_answer(void **state)
{
    (void)state;
    struct signal *req = convert_ok(
        "<iq type='get' id='v1' to='example.com'><query xmlns='jabber:iq:version'/></iq>");
    struct signal *err = signal_error_new(req, "cancel", "service-unavailable");
    assert_non_null(err);
    assert_string_equal(err->type, "error");
    assert_string_equal(err->id, "v1");
    assert_int_equal(err->method, SIGNAL_INFO);
    assert_true(jid_eq(&err->to, &g_client));
    assert_wire(err, "<iq type='error' id='v1' to='juliet@example.com/balcony' "
                     "from='example.com'><query xmlns='jabber:iq:version'/><error type='cancel'>"
                     "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                     "</error></iq>");
    signal_free(err);
    signal_free(req);
    /* A non-XMPP producer's message keeps its body in the error. */
    struct signal *m = signal_new(SIGNAL_MESSAGE);
    assert_int_equal(jid_copy(&m->from, &g_client), 0);
    assert_int_equal(jid_parse(&m->to, strv_c("nobody@example.com")), 0);
    m->body = xstrdup("hello");
    err = signal_error_new(m, "cancel", "item-not-found");
    assert_wire(err,
                "<message type='error' to='juliet@example.com/balcony' "
                "from='nobody@example.com'><body>hello</body><error type='cancel'><item-not-found "
                "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    signal_free(err);
    /* No sender, no answer. */
    jid_cleanup(&m->from);
    assert_null(signal_error_new(m, "cancel", "item-not-found"));
    signal_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_to_defaults_to_own_bare_jid),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_addresses_written_over),
        cmocka_unit_test(test_server_stanza_on_client_stream),
        cmocka_unit_test(test_non_xmpp_producer),
        cmocka_unit_test(test_error_answer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
