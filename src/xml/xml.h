/* xml.h: XMPP XML streams: element trees, the restricted streaming parser, the serializer. */
#ifndef STARLING_XML_XML_H
#define STARLING_XML_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"
#include "xml/ns.h"

/* ---- Element trees ------------------------------------------------------------------------ */

/* An attribute. `ns` is NULL unless the attribute is namespaced (xml:lang has ns NS_XML). */
struct xml_attr {
    const char *ns;
    const char *name;
    const char *value;
};

struct xml__arena;

/* An element (name != NULL) or a text node (name == NULL, text/text_len, NUL-terminated).
 * `ns` is the element's namespace name, NULL for "no namespace". All nodes and strings of one
 * tree live in one arena owned by the tree; the tree is reference counted as a whole.
 * A tree that has been shared (more than one reference) must not be modified any more. */
struct xml_node {
    const char *ns;
    const char *name;
    struct xml_attr *attrs;
    size_t nattrs;
    const char *text;
    size_t text_len;
    struct xml_node *parent;
    struct xml_node *first_child;
    struct xml_node *last_child;
    struct xml_node *next;
    /* Internal. */
    struct xml__arena *arena;
    size_t attrs_cap;
};

/* A new tree made of one element; the caller holds its only reference. */
struct xml_node *xml_node_new(const char *ns, const char *name);
/* Appends an element to `parent` (same tree, same lifetime). ns NULL = the parent's namespace. */
struct xml_node *xml_node_add_child(struct xml_node *parent, const char *ns, const char *name);
/* Sets the un-namespaced attribute `name`, replacing its value if present; NULL removes it. */
void xml_node_set_attr(struct xml_node *n, const char *name, const char *value);
/* The same for a namespaced attribute (ns NULL: un-namespaced), e.g. NS_XML "lang". */
void xml_node_set_attr_ns(struct xml_node *n, const char *ns, const char *name, const char *value);
/* Appends character data to `n`; merged into the last child when that is a text node already. */
void xml_node_add_text(struct xml_node *n, const char *text, size_t len);
/* Appends a XEP-0203 <delay xmlns='urn:xmpp:delay' from=FROM stamp=WHEN/> to `el` (from NULL:
 * none) and returns it (delay.c). */
struct xml_node *xml_node_add_delay(struct xml_node *el, const char *from, time_t when);
/* Appends a deep copy of `src` (from any tree, borrowed) as the last child of `parent`. */
struct xml_node *xml_node_append_copy(struct xml_node *parent, const struct xml_node *src);
/* A deep copy of `src` (any node of any tree) as a new tree; the caller holds its reference. */
struct xml_node *xml_node_copy(const struct xml_node *src);
/* As xml_node_copy, in an arena no larger than what src's tree uses (at most the usual first
 * region): for a small tree kept long, e.g. a session's last presence. */
struct xml_node *xml_node_copy_fit(const struct xml_node *src);
/* Reference counting of a whole tree; `n` may be any node of it (usually the root). Thread-safe:
 * a shared read-only tree may be referenced and released from several workers. */
struct xml_node *xml_node_ref(struct xml_node *n);
void xml_node_unref(struct xml_node *n);
/* Frees the calling thread's pool of freed trees' memory (kept for the next trees while the
 * thread is busy; a worker calls it from its one-second sweep). */
void xml_arena_pool_trim(void);

/* The value of the un-namespaced attribute `name`, NULL if absent. */
const char *xml_node_attr(const struct xml_node *n, const char *name);
/* The value of the attribute {ns}name (ns NULL = un-namespaced), NULL if absent. */
const char *xml_node_attr_ns(const struct xml_node *n, const char *ns, const char *name);
/* The first element child matching ns and name; NULL ns or name matches any, "" ns matches
 * elements in no namespace. */
struct xml_node *xml_node_child(const struct xml_node *n, const char *ns, const char *name);
/* The first element child of `n`, or the next element sibling of `n`; NULL when none. */
struct xml_node *xml_node_first_element(const struct xml_node *n);
struct xml_node *xml_node_next_element(const struct xml_node *n);
/* Appends the character data of the direct text children of `n` to `out`; ERR_LIMIT past max. */
int xml_node_text(const struct xml_node *n, struct buf *out);

/* ---- Streaming parser --------------------------------------------------------------------- */

/* How many bytes of XML whitespace (space, tab, CR, LF) open `p`: what may separate top-level
 * elements of a connection (before a restarted stream, after <starttls/>). */
size_t xml_space_prefix(const char *p, size_t len);

/* Returned (positive) by xml_stream_feed when a callback asked to stop. */
#define XML_STOPPED 1
#define XML_SUSPENDED 2

#define XML_DEFAULT_MAX_STANZA_SIZE 262144
#define XML_DEFAULT_MAX_DEPTH 64
#define XML_DEFAULT_MAX_ATTRS 64

/* Limits; a zero field takes the default above.
 * max_stanza_size: bytes since the end of the stream header or of the last complete depth-1
 *   element (whitespace between stanzas counts: a peer must send an element now and then).
 * max_depth: the stream element has depth 0, a stanza's own element depth 1, its children 2...;
 *   an element deeper than max_depth is refused.
 * max_attrs: attributes on one element (namespace declarations not counted). */
struct xml_limits {
    size_t max_stanza_size;
    int max_depth;
    int max_attrs;
};

/* Callbacks, all optional. Each returns 0 to go on, XML_SUSPENDED to pause the document after
 * this event (xml_stream_feed then returns XML_SUSPENDED; the bytes it was given are kept and
 * parsed by xml_stream_resume, e.g. on another thread), or any other non-zero value to stop
 * parsing right after this event for a restart (xml_stream_feed then returns XML_STOPPED). Callbacks must not call
 * xml_stream_feed, xml_stream_reset or xml_stream_free on their own stream. */
struct xml_stream_cbs {
    /* The <stream:stream> start tag: an element (attributes, no children) borrowed for the call;
     * default_ns is the declared default namespace ("jabber:client") or NULL. */
    int (*stream_open)(void *ud, const struct xml_node *header, const char *default_ns);
    /* A complete depth-1 element, delivered when its end tag arrives; the callee takes the
     * reference and must xml_node_unref it. Elements in the stream namespace other than
     * features/error are delivered as well: the caller decides. */
    int (*element)(void *ud, struct xml_node *el);
    /* The </stream:stream> end tag. */
    int (*stream_close)(void *ud);
};

struct xml_stream;

/* `lim` (NULL = defaults) and `cbs` are copied; `ud` is passed to the callbacks. */
struct xml_stream *xml_stream_new(const struct xml_limits *lim, const struct xml_stream_cbs *cbs,
                                  void *ud);
void xml_stream_free(struct xml_stream *s);
/* Parses `len` bytes of the stream; callbacks fire from inside. Returns:
 *  0            all bytes consumed;
 *  XML_STOPPED  a callback asked to stop: *consumed (may be NULL) is the number of bytes used,
 *               up to the end of the event that stopped. The stream must be reset before it is
 *               fed again (the rest belongs to a new document, e.g. after STARTTLS);
 *  ERR_PROTO or ERR_LIMIT (policy-violation): the stream is dead; xml_stream_error() names the
 *               RFC 6120 stream error condition, and every later feed returns the same error.
 * Feeding a stopped stream without reset returns ERR_INVAL (a programming error). */
int xml_stream_feed(struct xml_stream *s, const char *data, size_t len, size_t *consumed);
/* The stream error condition ("not-well-formed", "restricted-xml", "policy-violation", ...) or
 * NULL when there was no error. */
const char *xml_stream_error(const struct xml_stream *s);
/* Starts a fresh document (after STARTTLS or SASL success); clears a stop and an error. */
void xml_stream_reset(struct xml_stream *s);
/* Continues a document paused with XML_SUSPENDED: parses the bytes already given. Returns like
 * xml_stream_feed (0 when all of them were parsed); after XML_STOPPED here the rest of the kept
 * bytes is dropped. */
int xml_stream_resume(struct xml_stream *s);
/* Frees the parser of a stream that sits between stanzas with nothing pending (an idle
 * session keeps none of expat's ≈ 9 KB); the next xml_stream_feed makes a new one, in the same
 * namespace context and with the same byte accounting, so nothing is observable. Returns 0, or
 * ERR_AGAIN when the stream is inside the header or a stanza, has bytes pending in the parser,
 * or is stopped, suspended or failed. */
int xml_stream_sleep(struct xml_stream *s);
/* True while the stream's parser is freed by xml_stream_sleep. */
bool xml_stream_asleep(const struct xml_stream *s);

/* One element from its XML text (e.g. a stanza stored as text), outside any stream: the first
 * element of `text` as a new tree (the caller holds the reference), parsed with the stream
 * parser's rules in a scope whose default namespace is `default_ns` (NULL: none), as if a
 * stream header had declared it. `lim` bounds depth and attributes (NULL: the defaults); the
 * size limit is the text's own length. NULL when the text does not start with one well-formed
 * element. */
struct xml_node *xml_parse_element(struct strv text, const char *default_ns,
                                   const struct xml_limits *lim);

/* ---- Serializer --------------------------------------------------------------------------- */

/* Appends the escaped form of `text` (in_attr: for a quoted attribute value) to `out`.
 * Characters XML cannot carry (controls, invalid UTF-8) become U+FFFD, so the output is always
 * well-formed. Fails with ERR_LIMIT past out's maximum (out then holds a partial write). */
int xml_escape_append(struct buf *out, struct strv text, bool in_attr);

/* parent_ns: the default namespace in scope where the element is written (NULL = none).
 * to/from: when non-NULL, written instead of the root's own to/from attributes. */
struct xml_ser_opts {
    const char *parent_ns;
    const char *to;
    const char *from;
};

/* Appends the XML text of `n` (an element or a text node; opts may be NULL) to `out`.
 * xmlns is written where an element's namespace differs from its parent's; a root in
 * jabber:client or jabber:server written where either is in scope gets none, so stanzas move
 * between c2s and s2s streams unchanged. Attribute values use single quotes.
 * Fails with ERR_LIMIT past out's maximum (out is then restored to its previous length). */
int xml_serialize(struct buf *out, const struct xml_node *n, const struct xml_ser_opts *opts);

#endif
