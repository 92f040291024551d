/* sm.c: XEP-0198 stream management of a client session: counters, the unacknowledged queue,
 * acks both ways, detaching from a lost connection, resumption, and what becomes of the
 * unacknowledged stanzas when a session ends (docs/internals/sm.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "im/im.h"
#include "xml/ns.h"
#include "xmpp/bind2.h"
#include "xmpp/convert.h"
#include "xmpp/sm.h"
#include "xmpp/stream_internal.h"

/* One stanza sent and not yet acknowledged: a routed signal (kept, resent or handled at the
 * end), or a stanza the stream made itself (its text). */
struct sm_item {
    struct sm_item *next;
    struct signal *sig;
    size_t len;
    char text[];
};

struct c2s_sm {
    bool resumable;
    bool resend_pending; /* resumed inside SASL2: resend once <success/> is out */
    bool r_outstanding;  /* our <r/> is unanswered */
    bool no_resume;      /* the session ends for good when its connection closes */
    uint32_t h_in;       /* stanzas received from the client */
    uint32_t acked;      /* the client's last h */
    uint32_t count;      /* stanzas sent since `acked` */
    struct sm_item *head, *tail;
    char id[33]; /* the resumption id (previd) */
    int window;  /* seconds kept when detached: the setting, or less if the client asked */
    struct loop *loop;
    struct loop_timer expiry; /* detached: the end of the resumption window */
    time_t detached_since;
    struct c2s_session *prev, *next; /* the worker's detached sessions */
};

/* The sessions of this worker that wait for a resumption. */
static __thread struct c2s_session *t_detached;

/* Ids of sessions that ended recently, with their h, so that a late <resume/> learns what the
 * server had received (XEP-0198 §5: <failed h=…/>). */
#define SM_GONE 64
struct sm_gone {
    char id[33];
    uint32_t h;
    uint64_t until_ms;
};
static __thread struct sm_gone t_gone[SM_GONE];
static __thread unsigned t_gone_next;

bool c2s__sm_enabled(const struct c2s_session *s)
{
    return s->sm != NULL;
}

static void item_free(struct sm_item *it)
{
    signal_free(it->sig);
    free(it);
}

static void queue_push(struct c2s_sm *sm, struct sm_item *it)
{
    if (sm->tail) {
        sm->tail->next = it;
    } else {
        sm->head = it;
    }
    sm->tail = it;
    sm->count++;
}

static struct sm_item *queue_pop(struct c2s_sm *sm)
{
    struct sm_item *it = sm->head;
    if (it) {
        sm->head = it->next;
        if (sm->head == NULL) {
            sm->tail = NULL;
        }
        sm->count--;
    }
    return it;
}

static void write_el(struct xstream *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void write_el(struct xstream *st, const char *fmt, ...)
{
    struct buf b;
    buf_init(&b, 4096);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    xstream__write(st, b.p, b.len);
    buf_cleanup(&b);
}

static void request_ack(struct xstream *st, struct c2s_sm *sm)
{
    if (!sm->r_outstanding) {
        sm->r_outstanding = true;
        xstream__write_c(st, "<r xmlns='" NS_SM "'/>");
    }
}

static void end_later(void *ud);
static void handle_unacked(struct signal *sig);

/* Past the unacknowledged limit the session is closed for good (policy-violation). */
static void over_limit(struct c2s_session *s)
{
    struct c2s_sm *sm = s->sm;
    sm->no_resume = true;
    if (s->st != NULL) {
        log_conn(&s->st->c->log, LOG_PROBLEMS, "%u stanzas unacknowledged: closing", sm->count);
        xstream_error(s->st, "policy-violation", "too many unacknowledged stanzas");
    } else if (sm->detached_since) {
        /* Detached: ended from the loop, not from inside the router's delivery. */
        loop_timer_start(sm->loop, &sm->expiry, 0, end_later, s);
    }
}

void c2s__sm_sent(struct c2s_session *s, struct signal *sig, const char *text, size_t len)
{
    struct c2s_sm *sm = s->sm;
    if (s->ended) {
        /* Delivered while the session ends (its own presence going out): handed on at once. */
        if (sig) {
            handle_unacked(sig);
        }
        return;
    }
    struct sm_item *it = xcalloc(1, sizeof(*it) + (sig ? 0 : len + 1));
    it->sig = sig;
    if (sig == NULL) {
        memcpy(it->text, text, len);
        it->len = len;
    }
    queue_push(sm, it);
    if ((long)sm->count > (long)xstream__cfg()->xmpp.receiving.sm_max_unacked) {
        over_limit(s);
    } else if (s->st != NULL) {
        request_ack(s->st, sm);
    }
}

void c2s__sm_received(struct c2s_session *s)
{
    if (s->sm) {
        s->sm->h_in++; /* wraps at 2^32 (XEP-0198 §4) */
    }
}

void c2s__sm_request(struct xstream *st)
{
    st->sess->sm->r_outstanding = false;
    request_ack(st, st->sess->sm);
}

/* Drops what `h` acknowledges. False when `h` is beyond what was sent. */
static bool take_ack(struct c2s_sm *sm, uint32_t h)
{
    uint32_t n;
    if (!sm_h_covers(sm->acked, sm->count, h, &n)) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        item_free(queue_pop(sm));
    }
    sm->acked = h;
    return true;
}

/* Turns stream management on for `s` (attached to its stream) as `el` asks and appends the
 * answer (<enabled/>, or <failed/> when it is on already) to `out`: for <enable/> on the stream
 * and for <enable/> inline in Bind 2 alike. Counting starts at 0 both ways. */
static void enable(struct c2s_session *s, const struct xml_node *el, struct buf *out)
{
    if (s->sm != NULL) {
        buf_append_c(out, "<failed xmlns='" NS_SM "'><unexpected-request xmlns='" NS_STANZAS
                          "'/></failed>");
        return;
    }
    struct c2s_sm *sm = xcalloc(1, sizeof(*sm));
    s->sm = sm;
    sm->loop = s->st->c->loop;
    loop_timer_init(&sm->expiry);
    const char *resume = xml_node_attr(el, "resume");
    int window = xstream__cfg()->xmpp.receiving.sm_resume_timeout;
    uint32_t asked;
    if (sm_h_parse(xml_node_attr(el, "max"), &asked) && asked > 0 && asked < (uint32_t)window) {
        window = (int)asked; /* XEP-0198 §5: the client's preferred maximum */
    }
    sm->window = window;
    sm->resumable =
        window > 0 && resume && (strcmp(resume, "true") == 0 || strcmp(resume, "1") == 0);
    if (!sm->resumable) {
        buf_append_c(out, "<enabled xmlns='" NS_SM "'/>");
        return;
    }
    unsigned char rnd[16];
    RAND_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(sm->id + 2 * i, 3, "%02x", rnd[i]);
    }
    buf_printf(out, "<enabled xmlns='%s' id='%s' resume='true' max='%d'/>", NS_SM, sm->id, window);
    log_conn(&s->st->c->log, LOG_LOWLEVEL, "stream management enabled with resumption");
}

/* Writes `b` to the stream and frees it. */
static void write_buf(struct xstream *st, struct buf *b)
{
    xstream__write(st, b->p, b->len);
    buf_cleanup(b);
}

void c2s__sm_element(struct xstream *st, const struct xml_node *el)
{
    struct c2s_sm *sm = st->sess->sm;
    if (strcmp(el->name, "enable") == 0) {
        struct buf b;
        buf_init(&b, 4096);
        enable(st->sess, el, &b);
        write_buf(st, &b);
    } else if (sm == NULL) {
        /* <r/>, <a/> or <resume/> without <enable/> first. */
        xstream_error(st, "unsupported-stanza-type", "stream management is not enabled");
    } else if (strcmp(el->name, "r") == 0) {
        write_el(st, "<a xmlns='%s' h='%u'/>", NS_SM, sm->h_in);
    } else if (strcmp(el->name, "a") == 0) {
        uint32_t h;
        if (!sm_h_parse(xml_node_attr(el, "h"), &h)) {
            xstream_error(st, "invalid-xml", "<a/> without a valid 'h'");
            return;
        }
        sm->r_outstanding = false;
        if (!take_ack(sm, h)) {
            sm->no_resume = true;
            xstream_error(st, "undefined-condition",
                          "the acknowledgement counts more stanzas than were sent");
        }
    } else {
        xstream_error(st, "unsupported-stanza-type", NULL);
    }
}

/* ---- ending: what becomes of the unacknowledged stanzas ---- */

/* A message goes to offline storage (addressed to the bare JID, delivered at the next login);
 * an iq request is answered with an error; the rest (presence, answers, what the stream made
 * itself) is state that a new session gets afresh. */
static void handle_unacked(struct signal *sig)
{
    if (sig->method == SIGNAL_MESSAGE) {
        free(sig->to.resource);
        sig->to.resource = NULL;
        im_offline_message(sig);
        return;
    }
    if (sig->method == SIGNAL_INFO && sig->type &&
        (strcmp(sig->type, "get") == 0 || strcmp(sig->type, "set") == 0)) {
        router_reply_error(sig, "wait", "recipient-unavailable");
    }
    signal_free(sig);
}

void c2s__sm_drain(struct c2s_session *s)
{
    struct c2s_sm *sm = s->sm;
    if (sm == NULL) {
        return;
    }
    unsigned n = sm->count;
    struct sm_item *it;
    while ((it = queue_pop(sm)) != NULL) {
        struct signal *sig = it->sig;
        it->sig = NULL;
        if (sig) {
            handle_unacked(sig);
        }
        item_free(it);
    }
    if (n > 0) {
        log_rec(LOG_TAG_XMPPS, LOG_LOWLEVEL, 0, NULL,
                "%s: %u unacknowledged stanzas handed on (messages to offline storage)", s->full,
                n);
    }
}

static void detached_unlink(struct c2s_session *s)
{
    struct c2s_sm *sm = s->sm;
    if (sm->prev) {
        sm->prev->sm->next = sm->next;
    } else if (t_detached == s) {
        t_detached = sm->next;
    }
    if (sm->next) {
        sm->next->sm->prev = sm->prev;
    }
    sm->prev = sm->next = NULL;
    loop_timer_stop(sm->loop, &sm->expiry);
    sm->detached_since = 0;
}

static void remember_gone(const struct c2s_sm *sm)
{
    if (!sm->resumable) {
        return;
    }
    struct sm_gone *g = &t_gone[t_gone_next++ % SM_GONE];
    memcpy(g->id, sm->id, sizeof(g->id));
    g->h = sm->h_in;
    g->until_ms = loop_clock_ms() + (uint64_t)sm->window * 1000u;
}

void c2s__sm_free(struct c2s_session *s)
{
    struct c2s_sm *sm = s->sm;
    if (sm == NULL) {
        return;
    }
    if (sm->detached_since) {
        detached_unlink(s);
    }
    loop_timer_stop(sm->loop, &sm->expiry);
    struct sm_item *it;
    while ((it = queue_pop(sm)) != NULL) {
        item_free(it);
    }
    free(sm);
    s->sm = NULL;
}

/* A detached session ends: presence, the router, the queue, then the session itself. */
static void end_detached(struct c2s_session *s, bool stopping)
{
    detached_unlink(s);
    remember_gone(s->sm);
    if (c2s__session_end(s, stopping)) {
        log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, NULL, "session ended for %s", s->full);
    }
    c2s_session_free(s);
}

static void end_later(void *ud)
{
    struct c2s_session *s = ud;
    if (s->st == NULL && s->sm->detached_since) {
        end_detached(s, false);
    }
}

static void expired(void *ud)
{
    struct c2s_session *s = ud;
    log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, NULL,
            "%s: not resumed within %d s, session ended (%u unacknowledged)", s->full,
            s->sm->window, s->sm->count);
    end_detached(s, false);
}

bool c2s__sm_detach(struct c2s_session *s, bool ending)
{
    struct c2s_sm *sm = s->sm;
    if (sm == NULL || !sm->resumable || sm->no_resume || ending || !s->registered) {
        if (sm) {
            remember_gone(sm);
        }
        return false;
    }
    s->st = NULL;
    sm->r_outstanding = false;
    sm->detached_since = time(NULL);
    sm->next = t_detached;
    if (t_detached) {
        t_detached->sm->prev = s;
    }
    t_detached = s;
    int window = sm->window;
    loop_timer_start(sm->loop, &sm->expiry, (uint64_t)window * 1000u, expired, s);
    log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, NULL,
            "%s: connection lost, session kept %d s for resumption (%u unacknowledged)", s->full,
            window, sm->count);
    return true;
}

bool c2s__sm_end_from_outside(struct c2s_session *s)
{
    if (s->sm == NULL) {
        return false;
    }
    s->sm->no_resume = true;
    if (s->st == NULL && s->sm->detached_since) {
        end_detached(s, false);
        return true;
    }
    return false;
}

void c2s_detached_end_all(bool stopping)
{
    while (t_detached) {
        end_detached(t_detached, stopping);
    }
}

void c2s_detached_json(int worker, json_t *array)
{
    for (struct c2s_session *s = t_detached; s; s = s->sm->next) {
        /* No connection: id 0, no peer; "since" is when it was detached. */
        json_t *o =
            json_pack("{s:i, s:s, s:s, s:s, s:I, s:i, s:I}", "id", 0, "kind", "c2s", "state",
                      "detached", "jid", s->full, "since", (json_int_t)s->sm->detached_since,
                      "worker", worker, "unacked", (json_int_t)s->sm->count);
        if (o) {
            json_array_append_new(array, o);
        }
    }
}

/* ---- resumption (on the account's home worker, where the new stream moved after SASL) ---- */

static struct c2s_session *find_resumable(const char *bare, const char *previd)
{
    for (struct router_session *rs = router_sessions(bare); rs; rs = rs->next) {
        if (!c2s__is_session(rs)) {
            continue;
        }
        struct c2s_session *s = rs->ud;
        if (s->sm && s->sm->resumable && !s->sm->no_resume && strcmp(s->sm->id, previd) == 0) {
            return s;
        }
    }
    return NULL;
}

static void resume_failed(const char *previd, const char *condition, struct buf *out)
{
    uint64_t now = loop_clock_ms();
    for (int i = 0; previd && i < SM_GONE; i++) {
        if (t_gone[i].until_ms > now && strcmp(t_gone[i].id, previd) == 0) {
            buf_printf(out, "<failed xmlns='%s' h='%u'><%s xmlns='%s'/></failed>", NS_SM,
                       t_gone[i].h, condition, NS_STANZAS);
            return;
        }
    }
    buf_printf(out, "<failed xmlns='%s'><%s xmlns='%s'/></failed>", NS_SM, condition, NS_STANZAS);
}

/* The session leaves the connection it may still have (the client noticed the loss first). */
static void take_over(struct c2s_session *s)
{
    struct xstream *old = s->st;
    if (old != NULL) {
        old->sess = NULL;
        s->st = NULL;
        xstream_error(old, "conflict", "the session was resumed on another connection");
    } else {
        detached_unlink(s);
    }
}

static void resend(struct xstream *st, struct c2s_sm *sm)
{
    for (struct sm_item *it = sm->head; it; it = it->next) {
        if (it->sig == NULL) {
            xstream__write(st, it->text, it->len);
            continue;
        }
        struct buf out;
        buf_init(&out, (size_t)xstream__cfg()->xmpp.receiving.send_queue_limit);
        if (convert_signal_xml(it->sig, &out) == 0) {
            xstream__write(st, out.p, out.len);
        }
        buf_cleanup(&out);
    }
    if (sm->count > 0) {
        request_ack(st, sm);
    }
}

/* <resume/> (on the stream, or inline in SASL2): attaches `st` to the session named by previd and
 * appends <resumed/> to `out` (true), or appends <failed/> (false). The unacknowledged stanzas
 * are resent by resumed() once the answer is out. */
static bool resume(struct xstream *st, const struct xml_node *el, struct buf *out)
{
    const char *previd = xml_node_attr(el, "previd");
    uint32_t h;
    if (previd == NULL || !sm_h_parse(xml_node_attr(el, "h"), &h)) {
        resume_failed(NULL, "bad-request", out);
        return false;
    }
    struct c2s_session *s = find_resumable(st->bare, previd);
    if (s == NULL) {
        log_conn(&st->c->log, LOG_LOWLEVEL, "resumption of an unknown or expired session");
        resume_failed(previd, "item-not-found", out);
        return false;
    }
    struct c2s_sm *sm = s->sm;
    if (!take_ack(sm, h)) {
        buf_printf(out, "<failed xmlns='%s' h='%u'><undefined-condition xmlns='%s'/></failed>",
                   NS_SM, sm->h_in, NS_STANZAS);
        return false;
    }
    take_over(s);
    s->st = st;
    st->sess = s;
    st->state = XS_BOUND;
    sm->loop = st->c->loop;
    sm->r_outstanding = false;
    s->push_count = 0;
    c2s__keepalive_start(st);
    buf_printf(out, "<resumed xmlns='%s' h='%u' previd='%s'/>", NS_SM, sm->h_in, sm->id);
    log_conn(&st->c->log, LOG_MAJOR, "session resumed for %s (%u resent)", s->full, sm->count);
    return true;
}

/* After <resumed/> went out: the unacknowledged stanzas again, then what CSI held. */
static void resumed(struct xstream *st)
{
    resend(st, st->sess->sm);
    c2s__csi_resumed(st->sess);
}

void c2s__sm_resume(struct xstream *st, const struct xml_node *el)
{
    char home[300];
    if (c2s__elsewhere(st, home, sizeof(home))) {
        /* The session, if it still exists, lives on the account's home node: resume there. */
        xstream_see_other_host(st, home, "this account is served by another node");
        return;
    }
    struct buf b;
    buf_init(&b, 4096);
    bool ok = resume(st, el, &b);
    write_buf(st, &b);
    if (ok) {
        resumed(st);
    }
}

/* ---- inline in SASL2 (XEP-0388) and Bind 2 (XEP-0386) ---- */

/* Bind 2 <enable xmlns='urn:xmpp:sm:3'/>: the answer goes inside <bound/>. */
static int bind2_enable(struct c2s_session *s, const struct xml_node *req, struct buf *bound)
{
    if (strcmp(req->name, "enable") != 0 || s->st == NULL) {
        return ERR_PROTO;
    }
    enable(s, req, bound);
    return 0;
}

static void sasl2_advertise(struct buf *inline_out)
{
    buf_append_c(inline_out, "<sm xmlns='" NS_SM "'/>");
}

/* <resume/> inside <authenticate/>: <resumed/> or <failed/> inside <success/>; resumed, the
 * stream is bound and Bind 2 is skipped. */
static int sasl2_resume(struct xstream *st, const struct xml_node *auth, struct buf *success_out)
{
    const struct xml_node *el = xml_node_child(auth, NS_SM, "resume");
    if (el == NULL) {
        return 0;
    }
    if (!resume(st, el, success_out)) {
        return 0;
    }
    st->sess->sm->resend_pending = true;
    return XSTREAM_SASL2_BOUND;
}

/* After <success/> was written: the resend of a SASL2 resumption. */
static void sasl2_after(struct xstream *st)
{
    if (st->state == XS_BOUND && st->sess && st->sess->sm && st->sess->sm->resend_pending) {
        st->sess->sm->resend_pending = false;
        resumed(st);
    }
}

int xstream_sm_inline_register(void)
{
    int rc = xstream_bind2_register(NS_SM, bind2_enable);
    if (rc == 0) {
        rc = xstream_bind2_register(NS_CSI, c2s__csi_bind2);
    }
    if (rc == 0) {
        rc = xstream_sasl2_inline_register(sasl2_advertise, sasl2_resume, sasl2_after);
    }
    return rc;
}
