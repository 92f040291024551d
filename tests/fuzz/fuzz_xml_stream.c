/* fuzz_xml_stream.c: libFuzzer target for the XMPP stream parser and the serializer. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "fuzz_check.h"
#include "xml/xml.h"

/* Input layout: HEADER bytes of parameters, then the stream bytes.
 *   bytes 0..3  slice sizes, used in turn: 0 = all that is left, 1..0xEF = that many bytes,
 *               0xF0..0xFF = (v - 0xEF) KiB, so slices cross the parser's internal 4 KiB steps;
 *   byte 4      stop mask: callback event k returns XML_STOPPED when bit (k % 8) is set;
 *   byte 5      suspend mask: otherwise XML_SUSPENDED when bit (k % 8) is set. */
#define HEADER 6
#define SER_MAX (256 * 1024)
#define CHECK_PREFIX                                                                               \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

struct run {
    uint8_t stop_mask;
    uint8_t suspend_mask;
    unsigned events;
    struct buf out;   /* serialization of the element being checked */
    struct buf again; /* serialization of its re-parsed copy */
};

/* The second parser, which re-reads what the serializer wrote. */
struct reread {
    struct xml_node *el;
    unsigned count;
    bool closed;
};

static struct xml_stream *checker;
static struct reread checker_state;

static int decide(struct run *r)
{
    unsigned bit = 1u << (r->events % 8);
    r->events++;
    if (r->stop_mask & bit) {
        return XML_STOPPED;
    }
    if (r->suspend_mask & bit) {
        return XML_SUSPENDED;
    }
    return 0;
}

static int reread_element(void *ud, struct xml_node *el)
{
    struct reread *rr = ud;
    rr->count++;
    if (rr->el != NULL) {
        xml_node_unref(rr->el);
    }
    rr->el = el;
    return 0;
}

static int reread_close(void *ud)
{
    struct reread *rr = ud;
    rr->closed = true;
    return 0;
}

/* Whatever the serializer writes is one well-formed, namespace-well-formed element that the
 * parser reads back into a tree serializing to the same bytes. */
static void check_reparse(struct run *r, const struct xml_ser_opts *opts)
{
    xml_stream_reset(checker);
    memset(&checker_state, 0, sizeof(checker_state));
    int rc = xml_stream_feed(checker, CHECK_PREFIX, strlen(CHECK_PREFIX), NULL);
    FUZZ_CHECK(rc == 0);
    rc = xml_stream_feed(checker, r->out.p, r->out.len, NULL);
    if (rc != 0) {
        fprintf(stderr, "serializer output not re-readable (%d, %s): %s\n", rc,
                xml_stream_error(checker) ? xml_stream_error(checker) : "-", buf_cstr(&r->out));
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(checker_state.count == 1 && checker_state.el != NULL);
    FUZZ_CHECK(!checker_state.closed);
    buf_reset(&r->again);
    FUZZ_CHECK(xml_serialize(&r->again, checker_state.el, opts) == 0);
    if (r->again.len != r->out.len || memcmp(r->again.p, r->out.p, r->out.len) != 0) {
        fprintf(stderr, "serialization not stable:\n  first:  %s\n  second: %s\n",
                buf_cstr(&r->out), buf_cstr(&r->again));
    }
    FUZZ_CHECK(r->again.len == r->out.len && memcmp(r->again.p, r->out.p, r->out.len) == 0);
    xml_node_unref(checker_state.el);
    checker_state.el = NULL;
}

static int on_open(void *ud, const struct xml_node *header, const char *default_ns)
{
    struct run *r = ud;
    FUZZ_CHECK(header != NULL && header->name != NULL && strcmp(header->name, "stream") == 0);
    FUZZ_CHECK(header->first_child == NULL);
    FUZZ_CHECK(default_ns == NULL || default_ns[0] != '\0');
    buf_reset(&r->out);
    int rc = xml_serialize(&r->out, header, NULL);
    FUZZ_CHECK(rc == 0 || rc == ERR_LIMIT);
    return decide(r);
}

static int on_element(void *ud, struct xml_node *el)
{
    struct run *r = ud;
    FUZZ_CHECK(el != NULL && el->name != NULL && el->parent == NULL);

    /* The round trip, as a stanza is written to a c2s stream. */
    const struct xml_ser_opts c2s = { NS_CLIENT, NULL, NULL };
    buf_reset(&r->out);
    int rc = xml_serialize(&r->out, el, &c2s);
    FUZZ_CHECK(rc == 0 || rc == ERR_LIMIT);
    if (rc == 0) {
        check_reparse(r, &c2s);
        /* A deep copy serializes the same. */
        struct xml_node *copy = xml_node_copy(el);
        buf_reset(&r->again);
        FUZZ_CHECK(xml_serialize(&r->again, copy, &c2s) == 0);
        FUZZ_CHECK(r->again.len == r->out.len && memcmp(r->again.p, r->out.p, r->out.len) == 0);
        xml_node_unref(copy);
    }

    /* The other writer options: no namespace in scope, addresses replaced. */
    const struct xml_ser_opts routed = { NULL, "juliet@example.com/balcony", "romeo@example.net" };
    buf_reset(&r->out);
    rc = xml_serialize(&r->out, el, &routed);
    FUZZ_CHECK(rc == 0 || rc == ERR_LIMIT);

    /* A bounded buffer too small for the element is restored on failure. */
    struct buf small;
    buf_init(&small, 16);
    buf_append_c(&small, "<x>");
    rc = xml_serialize(&small, el, NULL);
    FUZZ_CHECK(rc == 0 || (rc == ERR_LIMIT && small.len == 3 && strcmp(small.p, "<x>") == 0));
    buf_cleanup(&small);

    buf_reset(&r->out);
    rc = xml_node_text(el, &r->out);
    FUZZ_CHECK(rc == 0 || rc == ERR_LIMIT);

    xml_node_unref(el);
    return decide(r);
}

static int on_close(void *ud)
{
    return decide(ud);
}

static size_t slice_len(uint8_t v, size_t left)
{
    size_t n;
    if (v == 0) {
        n = left;
    } else if (v < 0xF0) {
        n = v;
    } else {
        n = (size_t)(v - 0xEF) * 1024;
    }
    return n < left ? n : left;
}

/* Checks the state of a stream after a failure: its condition, and that it stays dead. */
static void check_dead(struct xml_stream *s, int rc)
{
    const char *cond = xml_stream_error(s);
    FUZZ_CHECK(rc == ERR_PROTO || rc == ERR_LIMIT);
    FUZZ_CHECK(cond != NULL);
    size_t used = 1;
    FUZZ_CHECK(xml_stream_feed(s, " ", 1, &used) == rc && used == 0);
    FUZZ_CHECK(xml_stream_resume(s) == rc);
    FUZZ_CHECK(xml_stream_error(s) == cond);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const struct xml_stream_cbs cbs = { NULL, reread_element, reread_close };
    const struct xml_limits lim = { 1 << 20, 0, 1024 };
    checker = xml_stream_new(&lim, &cbs, &checker_state);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct xml_stream_cbs cbs = { on_open, on_element, on_close };
    if (size < HEADER) {
        return 0;
    }
    struct run r = { .stop_mask = data[4], .suspend_mask = data[5] };
    buf_init(&r.out, SER_MAX);
    buf_init(&r.again, SER_MAX);
    const struct xml_limits lim = { 4096, 16, 0 };
    struct xml_stream *s = xml_stream_new(&lim, &cbs, &r);

    const char *p = (const char *)data + HEADER;
    size_t len = size - HEADER;
    size_t off = 0;
    unsigned turn = 0;
    size_t rounds = 0;
    while (off < len && rounds++ < 4 * len + 64) {
        size_t n = slice_len(data[turn++ % 4], len - off);
        size_t used = (size_t)-1;
        int rc = xml_stream_feed(s, p + off, n, &used);
        FUZZ_CHECK(used <= n);
        FUZZ_CHECK(rc >= 0 || used == 0);
        FUZZ_CHECK(rc != 0 || used == n);
        if (rc == XML_SUSPENDED) {
            FUZZ_CHECK(used > 0);
            FUZZ_CHECK(xml_stream_feed(s, p + off, n, NULL) == ERR_INVAL);
        }
        while (rc == XML_SUSPENDED) {
            rc = xml_stream_resume(s);
        }
        if (rc == XML_STOPPED) {
            FUZZ_CHECK(xml_stream_feed(s, p + off, 0, NULL) == ERR_INVAL);
            FUZZ_CHECK(xml_stream_error(s) == NULL);
            xml_stream_reset(s);
            off += used;
        } else if (rc < 0) {
            check_dead(s, rc);
            xml_stream_reset(s);
            FUZZ_CHECK(xml_stream_error(s) == NULL);
            off += n;
        } else {
            FUZZ_CHECK(rc == 0);
            FUZZ_CHECK(xml_stream_error(s) == NULL);
            off += used;
            /* Every other slice, an idle stream frees its parser: parsing must go on the same. */
            if ((rounds & 1) != 0) {
                int sl = xml_stream_sleep(s);
                FUZZ_CHECK(sl == 0 || sl == ERR_AGAIN);
                FUZZ_CHECK(xml_stream_asleep(s) == (sl == 0));
            }
        }
    }

    xml_stream_free(s);
    buf_cleanup(&r.out);
    buf_cleanup(&r.again);
    return 0;
}
