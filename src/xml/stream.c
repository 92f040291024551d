/* stream.c: the XMPP stream parser on expat, with RFC 6120 §11 restrictions and size limits. */
#include <expat.h>
#include <stdlib.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"
#include "xml/xml.h"
#include "xml/xml_int.h"

/* Expat joins namespace and local name with this; \x01 cannot occur in an XML 1.0 document,
 * not even through a character reference, so it never appears inside a namespace name. */
#define NS_SEP '\x01'
/* Expat is fed at most this many bytes at a time, so the size limit is checked while a large
 * stanza is still arriving, before expat has buffered much past it. */
#define SLICE 4096
/* max_stanza_size is clamped to this, so byte arithmetic stays far from overflow. */
#define MAX_STANZA_CEILING ((size_t)1 << 30)
/* The pending-text buffer is released after a stanza when it grew past this. */
#define TEXT_KEEP 4096
/* Room for the stream header's namespace declarations (replayed when a parser wakes). */
#define DECLS_MAX 4096

/* Expat >= 2.6 (and distributions that backported it) may defer re-parsing an unfinished
 * token until more data arrives, which would hold back a complete stanza; it is switched off
 * when the library has the call. A weak reference keeps older libraries working. */
#pragma weak XML_SetReparseDeferralEnabled
XMLPARSEAPI(XML_Bool) XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled);

struct xml_stream {
    XML_Parser p; /* NULL while asleep (xml_stream_sleep) */
    struct xml_limits lim;
    struct xml_stream_cbs cbs;
    void *ud;
    const char *err;      /* the stream error condition, NULL while healthy */
    int err_code;         /* what xml_stream_feed returns once err is set */
    bool stopped;         /* a callback asked to stop; waiting for reset */
    bool suspended;       /* a callback asked to pause; waiting for xml_stream_resume */
    int ns_decls;         /* namespace declarations of the element being started */
    bool halted;          /* inside XML_Parse: ignore events after a stop or an error */
    int level;            /* open elements: 0 before the stream, 1 between stanzas, ... */
    struct xml_node *cur; /* innermost open element of the stanza being built */
    struct buf text;      /* character data of `cur` not yet made a text node */
    XML_Index fed;        /* bytes given to expat since the document began */
    XML_Index mark;       /* where the bytes counted against max_stanza_size begin */
    XML_Index stop_at;    /* end of the event that asked to stop */
    char *default_ns;     /* xmlns='...' of the stream header, until stream_open */
    struct buf decls;     /* the header's namespace declarations as attribute text, then (once
                           * the header is parsed) its start tag without '>', for a wake-up */
    XML_Index shift;      /* added to expat's byte indexes: a woken parser saw a replayed header */
    XML_Index last_end;   /* end of the last event between stanzas (header, stanza, whitespace) */
    bool replay;          /* a woken parser is reading the replayed header */
};

static void fail(struct xml_stream *s, const char *cond, int code)
{
    if (s->err == NULL) {
        s->err = cond;
        s->err_code = code;
    }
    if (!s->halted) {
        s->halted = true;
        XML_StopParser(s->p, XML_FALSE);
    }
}

static void restricted(struct xml_stream *s)
{
    fail(s, "restricted-xml", ERR_PROTO);
}

static XML_Index event_end(const struct xml_stream *s)
{
    return XML_GetCurrentByteIndex(s->p) + XML_GetCurrentByteCount(s->p) + s->shift;
}

/* Applies a callback's answer: non-zero stops the parse right after the current event. */
static void answer(struct xml_stream *s, int rc)
{
    if (rc == XML_SUSPENDED && !s->halted) {
        s->suspended = true;
        XML_StopParser(s->p, XML_TRUE);
        return;
    }
    if (rc != 0 && !s->halted) {
        s->stopped = true;
        s->stop_at = event_end(s);
        s->halted = true;
        XML_StopParser(s->p, XML_FALSE);
    }
}

/* Fails with policy-violation when the bytes up to the end of the current event exceed the
 * stanza size; returns false then. */
static bool size_ok(struct xml_stream *s)
{
    if (event_end(s) - s->mark > (XML_Index)s->lim.max_stanza_size) {
        fail(s, "policy-violation", ERR_LIMIT);
        return false;
    }
    return true;
}

/* Splits an expat name "ns\x01local" (or "local") into its two parts. */
static void split_name(const char *raw, struct strv *ns, struct strv *local)
{
    const char *sep = strchr(raw, NS_SEP);
    if (sep == NULL) {
        *ns = STRV_NULL;
        *local = strv_c(raw);
        return;
    }
    *ns = (struct strv){ raw, (size_t)(sep - raw) };
    *local = strv_c(sep + 1);
}

static struct xml_node *build_element(struct xml_node *parent, const char *raw, const char **atts,
                                      size_t nattrs)
{
    struct strv ns;
    struct strv local;
    split_name(raw, &ns, &local);
    struct xml_node *n;
    if (parent != NULL) {
        n = xml__elem_new(parent, xml__ns(parent->arena, parent, ns), local);
    } else {
        n = xml__elem_new(NULL, NULL, local);
        n->ns = xml__ns(n->arena, NULL, ns);
    }
    if (nattrs == 0) {
        return n;
    }
    xml__attrs_reserve(n, nattrs);
    for (size_t i = 0; i < nattrs; i++) {
        struct xml_attr *at = &n->attrs[i];
        split_name(atts[2 * i], &ns, &local);
        at->ns = xml__ns(n->arena, n, ns);
        at->name = xml__strdup(n->arena, local);
        at->value = xml__strdup(n->arena, strv_c(atts[2 * i + 1]));
    }
    n->nattrs = nattrs;
    return n;
}

static void flush_text(struct xml_stream *s)
{
    if (s->text.len > 0) {
        xml__text_new(s->cur, buf_strv(&s->text));
        buf_reset(&s->text);
    }
}

/* Keeps "<qname xmlns...='...'" of the header being parsed (its qualified name as written, which
 * the closing tag must match) so a woken parser can be put back inside the stream element. When
 * the raw bytes are not available the stream simply never sleeps (decls stays empty). */
static void keep_head(struct xml_stream *s)
{
    int offset = 0;
    int size = 0;
    const char *ctx = XML_GetInputContext(s->p, &offset, &size);
    struct buf head;
    buf_init(&head, DECLS_MAX + 1024);
    size_t qlen = 0;
    if (ctx != NULL && offset >= 0 && offset < size && ctx[offset] == '<') {
        const char *q = ctx + offset + 1;
        size_t room = (size_t)(size - offset - 1);
        while (qlen < room && strchr(" \t\r\n/>", q[qlen]) == NULL) {
            qlen++;
        }
        if (qlen == room || buf_append_c(&head, "<") != 0 || buf_append(&head, q, qlen) != 0 ||
            buf_append(&head, s->decls.p, s->decls.len) != 0) {
            qlen = 0;
        }
    }
    buf_release(&s->decls);
    if (qlen > 0) {
        s->decls = head;
    } else {
        buf_release(&head);
    }
}

static void open_stream(struct xml_stream *s, const char *raw, const char **atts, size_t n)
{
    struct strv ns;
    struct strv local;
    split_name(raw, &ns, &local);
    if (!strv_eq_c(ns, NS_STREAM) || !strv_eq_c(local, "stream")) {
        fail(s, "invalid-namespace", ERR_PROTO);
        return;
    }
    struct xml_node *header = build_element(NULL, raw, atts, n);
    s->level = 1;
    s->mark = event_end(s);
    s->last_end = s->mark;
    keep_head(s);
    int rc = 0;
    if (s->cbs.stream_open != NULL) {
        rc = s->cbs.stream_open(s->ud, header, s->default_ns);
    }
    xml_node_unref(header);
    free(s->default_ns);
    s->default_ns = NULL;
    answer(s, rc);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xml_stream *s = ud;
    if (s->replay) {
        /* The replayed header of a woken parser: the stream is open already. */
        s->replay = false;
        s->ns_decls = 0;
        s->level = 1;
        return;
    }
    if (s->halted || !size_ok(s)) {
        return;
    }
    if (s->level > s->lim.max_depth) {
        fail(s, "policy-violation", ERR_LIMIT);
        return;
    }
    size_t n = 0;
    while (atts[2 * n] != NULL) {
        n++;
    }
    /* Namespace declarations are attributes too for the cap: expat reports them just before. */
    size_t decls = (size_t)s->ns_decls;
    s->ns_decls = 0;
    if (n + decls > (size_t)s->lim.max_attrs) {
        fail(s, "policy-violation", ERR_LIMIT);
        return;
    }
    if (s->level == 0) {
        open_stream(s, name, atts, n);
        return;
    }
    if (s->cur != NULL) {
        flush_text(s);
    }
    s->cur = build_element(s->cur, name, atts, n);
    s->level++;
}

static void deliver(struct xml_stream *s, struct xml_node *el)
{
    s->mark = event_end(s);
    s->last_end = s->mark;
    if (s->text.cap > TEXT_KEEP) {
        buf_release(&s->text);
    }
    if (s->cbs.element == NULL) {
        xml_node_unref(el);
        return;
    }
    answer(s, s->cbs.element(s->ud, el));
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct xml_stream *s = ud;
    (void)name;
    if (s->halted || !size_ok(s)) {
        return;
    }
    if (s->level == 1) {
        s->level = 0;
        s->mark = event_end(s);
        answer(s, s->cbs.stream_close != NULL ? s->cbs.stream_close(s->ud) : 0);
        return;
    }
    flush_text(s);
    struct xml_node *done = s->cur;
    s->cur = done->parent;
    s->level--;
    if (s->level == 1) {
        deliver(s, done);
    }
}

static bool all_space(const char *p, int len)
{
    for (int i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') {
            return false;
        }
    }
    return true;
}

static void XMLCALL on_text(void *ud, const XML_Char *p, int len)
{
    struct xml_stream *s = ud;
    if (s->halted || !size_ok(s)) {
        return;
    }
    if (s->cur == NULL) {
        /* Between stanzas only whitespace (keepalives) may appear; it is dropped. */
        if (!all_space(p, len)) {
            fail(s, "not-well-formed", ERR_PROTO);
        }
        s->last_end = event_end(s);
        return;
    }
    if (buf_append(&s->text, p, (size_t)len) != 0) {
        fail(s, "policy-violation", ERR_LIMIT);
    }
}

static void XMLCALL on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xml_stream *s = ud;
    if (s->halted || s->replay) {
        return;
    }
    s->ns_decls++;
    if (s->level != 0) {
        return;
    }
    /* Kept to replay the header's namespace context when a sleeping parser wakes. */
    bool ok = buf_append_c(&s->decls, prefix != NULL ? " xmlns:" : " xmlns") == 0 &&
              (prefix == NULL || buf_append_c(&s->decls, prefix) == 0) &&
              buf_append_c(&s->decls, "='") == 0 &&
              xml_escape_append(&s->decls, strv_c(uri != NULL ? uri : ""), true) == 0 &&
              buf_append_c(&s->decls, "'") == 0;
    if (!ok) {
        fail(s, "policy-violation", ERR_LIMIT);
        return;
    }
    if (prefix != NULL) {
        return;
    }
    free(s->default_ns);
    s->default_ns = uri != NULL && uri[0] != '\0' ? xstrdup(uri) : NULL;
}

static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                int standalone)
{
    struct xml_stream *s = ud;
    (void)standalone;
    if (s->halted) {
        return;
    }
    /* XMPP is defined over XML 1.0 only (RFC 6120 section 11); expat reads a 1.1 document with
     * 1.0 rules, so it is refused rather than misread. */
    if (version != NULL && strcmp(version, "1.0") != 0) {
        fail(s, "unsupported-version", ERR_PROTO);
        return;
    }
    if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0) {
        fail(s, "unsupported-encoding", ERR_PROTO);
    }
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    (void)data;
    restricted(ud);
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target;
    (void)data;
    restricted(ud);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    restricted(ud);
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    restricted(ud);
}

/* Expat's hash-flooding salt, drawn from OpenSSL's generator 32 salts at a time (each used
 * once): expat's own draw is a getrandom() system call for every parser made or reset (three
 * per login), and each RAND_bytes call costs OpenSSL's fork check (a getpid() call). */
#define SALTS 32
static __thread struct {
    unsigned long salt[SALTS];
    unsigned next; /* SALTS: empty */
    bool init;
} t_salts;

static void set_salt(XML_Parser p)
{
    if (!t_salts.init || t_salts.next == SALTS) {
        t_salts.init = true;
        t_salts.next = SALTS;
        if (RAND_bytes((unsigned char *)t_salts.salt, sizeof(t_salts.salt)) != 1) {
            return; /* expat draws its own, as before */
        }
        t_salts.next = 0;
    }
    unsigned long salt = t_salts.salt[t_salts.next];
    t_salts.salt[t_salts.next++] = 0;
    if (salt != 0) {
        XML_SetHashSalt(p, salt);
    }
}

static void setup_parser(struct xml_stream *s)
{
    XML_Parser p = s->p;
    set_salt(p);
    XML_SetUserData(p, s);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartNamespaceDeclHandler(p, on_ns_start);
    XML_SetXmlDeclHandler(p, on_xml_decl);
    XML_SetCommentHandler(p, on_comment);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity_decl);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    if (XML_SetReparseDeferralEnabled != NULL) {
        XML_SetReparseDeferralEnabled(p, XML_FALSE);
    }
}

static void create_parser(struct xml_stream *s)
{
    /* Forcing UTF-8 makes expat ignore a declared encoding (checked in on_xml_decl). */
    s->p = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (s->p == NULL) {
        abort();
    }
    setup_parser(s);
}

static void clear_state(struct xml_stream *s)
{
    xml_node_unref(s->cur);
    s->cur = NULL;
    buf_release(&s->text);
    buf_release(&s->decls);
    free(s->default_ns);
    s->default_ns = NULL;
    s->err = NULL;
    s->err_code = 0;
    s->stopped = false;
    s->suspended = false;
    s->ns_decls = 0;
    s->halted = false;
    s->level = 0;
    s->fed = 0;
    s->mark = 0;
    s->stop_at = 0;
    s->shift = 0;
    s->last_end = 0;
    s->replay = false;
}

struct xml_stream *xml_stream_new(const struct xml_limits *lim, const struct xml_stream_cbs *cbs,
                                  void *ud)
{
    struct xml_stream *s = xcalloc(1, sizeof(*s));
    if (lim != NULL) {
        s->lim = *lim;
    }
    if (s->lim.max_stanza_size == 0) {
        s->lim.max_stanza_size = XML_DEFAULT_MAX_STANZA_SIZE;
    }
    if (s->lim.max_stanza_size > MAX_STANZA_CEILING) {
        s->lim.max_stanza_size = MAX_STANZA_CEILING;
    }
    if (s->lim.max_depth <= 0) {
        s->lim.max_depth = XML_DEFAULT_MAX_DEPTH;
    }
    if (s->lim.max_attrs <= 0) {
        s->lim.max_attrs = XML_DEFAULT_MAX_ATTRS;
    }
    if (cbs != NULL) {
        s->cbs = *cbs;
    }
    s->ud = ud;
    buf_init(&s->text, s->lim.max_stanza_size);
    buf_init(&s->decls, DECLS_MAX);
    create_parser(s);
    return s;
}

void xml_stream_free(struct xml_stream *s)
{
    if (s == NULL) {
        return;
    }
    clear_state(s);
    XML_ParserFree(s->p);
    free(s);
}

void xml_stream_reset(struct xml_stream *s)
{
    clear_state(s);
    if (s->p == NULL) {
        create_parser(s);
        return;
    }
    if (XML_ParserReset(s->p, "UTF-8") != XML_TRUE) {
        abort();
    }
    setup_parser(s);
}

int xml_stream_sleep(struct xml_stream *s)
{
    if (s->p == NULL) {
        return 0;
    }
    if (s->err != NULL || s->stopped || s->suspended || s->level != 1 || s->cur != NULL ||
        s->last_end != s->fed || s->decls.len == 0) {
        return ERR_AGAIN;
    }
    XML_ParserFree(s->p);
    s->p = NULL;
    buf_release(&s->text);
    return 0;
}

bool xml_stream_asleep(const struct xml_stream *s)
{
    return s->p == NULL;
}

/* A new parser in the state the old one slept in: inside the stream element, with the header's
 * namespace declarations, its byte indexes continuing where the old one stopped. */
static int wake(struct xml_stream *s)
{
    create_parser(s);
    struct buf head;
    buf_init(&head, s->decls.len + 1);
    if (buf_append(&head, s->decls.p, s->decls.len) != 0 || buf_append_c(&head, ">") != 0) {
        abort();
    }
    s->replay = true;
    s->shift = s->fed - (XML_Index)head.len;
    enum XML_Status st = XML_Parse(s->p, head.p, (int)head.len, XML_FALSE);
    buf_release(&head);
    if (st != XML_STATUS_OK || s->replay || s->level != 1) {
        s->halted = true;
        fail(s, "internal-server-error", ERR_INTERNAL);
        return s->err_code;
    }
    return 0;
}

const char *xml_stream_error(const struct xml_stream *s)
{
    return s->err;
}

static void map_expat_error(struct xml_stream *s)
{
    switch (XML_GetErrorCode(s->p)) {
    case XML_ERROR_UNBOUND_PREFIX:
        fail(s, "bad-namespace-prefix", ERR_PROTO);
        break;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_PARAM_ENTITY_REF:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_ASYNC_ENTITY:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
    case XML_ERROR_MISPLACED_XML_PI:
        fail(s, "restricted-xml", ERR_PROTO);
        break;
    case XML_ERROR_UNKNOWN_ENCODING:
    case XML_ERROR_INCORRECT_ENCODING:
        fail(s, "unsupported-encoding", ERR_PROTO);
        break;
    case XML_ERROR_NO_MEMORY:
        fail(s, "resource-constraint", ERR_LIMIT);
        break;
    default:
        fail(s, "not-well-formed", ERR_PROTO);
        break;
    }
}

/* A document starting with a UTF-16/32 byte order mark or a NUL byte is not UTF-8. */
static bool foreign_encoding(const char *data)
{
    unsigned char c = (unsigned char)data[0];
    return c == 0xFE || c == 0xFF || c == 0x00;
}

size_t xml_space_prefix(const char *data, size_t len)
{
    size_t n = 0;
    while (n < len && (data[n] == ' ' || data[n] == '\t' || data[n] == '\r' || data[n] == '\n')) {
        n++;
    }
    return n;
}

static int feed(struct xml_stream *s, const char *data, size_t len, size_t *consumed);

int xml_stream_feed(struct xml_stream *s, const char *data, size_t len, size_t *consumed)
{
    /* Whitespace before a document (a restarted stream after "</auth>\n" or "<starttls/>\n")
     * is whitespace between top-level elements of the connection, not content before the XML
     * declaration: it is dropped, not given to expat. */
    size_t skip = 0;
    if (s->p != NULL && s->fed == 0 && s->err == NULL && !s->stopped && !s->suspended) {
        skip = xml_space_prefix(data, len);
    }
    int rc = feed(s, data + skip, len - skip, consumed);
    /* On an error nothing counts as consumed (the contract of xml_stream_feed). */
    if (consumed != NULL && rc >= 0) {
        *consumed += skip;
    }
    return rc;
}

static int feed(struct xml_stream *s, const char *data, size_t len, size_t *consumed)
{
    if (consumed != NULL) {
        *consumed = 0;
    }
    if (s->err != NULL) {
        return s->err_code;
    }
    if (s->stopped || s->suspended) {
        return ERR_INVAL;
    }
    if (s->p == NULL && len > 0 && wake(s) != 0) {
        return s->err_code;
    }
    if (len > 0 && s->fed == 0 && foreign_encoding(data)) {
        s->halted = true;
        fail(s, "unsupported-encoding", ERR_PROTO);
        return s->err_code;
    }
    XML_Index start = s->fed;
    XML_Index max = (XML_Index)s->lim.max_stanza_size;
    size_t off = 0;
    while (off < len) {
        /* Never give expat more than one byte past what the size limit still allows. */
        XML_Index allow = max - (s->fed - s->mark) + 1;
        size_t n = len - off < SLICE ? len - off : SLICE;
        if (allow > 0 && (XML_Index)n > allow) {
            n = (size_t)allow;
        }
        s->fed += (XML_Index)n;
        enum XML_Status st = XML_Parse(s->p, data + off, (int)n, XML_FALSE);
        if (st == XML_STATUS_SUSPENDED && s->suspended) {
            /* expat keeps the rest of this slice for xml_stream_resume. */
            if (consumed != NULL) {
                *consumed = off + n;
            }
            return XML_SUSPENDED;
        }
        if (s->stopped) {
            if (consumed != NULL) {
                *consumed = (size_t)(s->stop_at - start);
            }
            return XML_STOPPED;
        }
        if (s->err == NULL && st != XML_STATUS_OK) {
            s->halted = true;
            map_expat_error(s);
        }
        if (s->err == NULL && s->fed - s->mark > max) {
            s->halted = true;
            fail(s, "policy-violation", ERR_LIMIT);
        }
        if (s->err != NULL) {
            return s->err_code;
        }
        off += n;
    }
    if (consumed != NULL) {
        *consumed = len;
    }
    return 0;
}

int xml_stream_resume(struct xml_stream *s)
{
    if (s->err != NULL) {
        return s->err_code;
    }
    if (!s->suspended) {
        return 0;
    }
    s->suspended = false;
    enum XML_Status st = XML_ResumeParser(s->p);
    if (st == XML_STATUS_SUSPENDED && s->suspended) {
        return XML_SUSPENDED;
    }
    if (s->stopped) {
        return XML_STOPPED;
    }
    if (s->err == NULL && st != XML_STATUS_OK) {
        s->halted = true;
        map_expat_error(s);
    }
    if (s->err == NULL && s->fed - s->mark > (XML_Index)s->lim.max_stanza_size) {
        s->halted = true;
        fail(s, "policy-violation", ERR_LIMIT);
    }
    return s->err != NULL ? s->err_code : 0;
}
