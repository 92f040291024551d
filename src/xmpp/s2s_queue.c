/* s2s_queue.c: outgoing server-to-server queues: one per (target domain, source domain) on its
 * home worker, holding stanzas and dialback verifications until its connection (s2s_out.c) is
 * ready; retries with back-off, bounces after the queue timeout; the router's remote hook. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "signal/router.h"
#include "tls/tls.h"
#include "xmpp/convert.h"
#include "xmpp/s2s_int.h"
#include "xmpp/xmpp.h"

#define QUEUE_MAX_STANZAS 10000
#define QUEUE_MAX_BYTES (16L * 1024 * 1024)
#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS 60000u
#define VERIFY_MAX 256

static void q_connect(struct s2s_queue *q);

const struct settings *s2s__cfg(void)
{
    return worker_ctx()->cfg;
}

static struct s2s_worker *self_sw(void)
{
    struct worker_ctx *wc = worker_ctx();
    return wc && wc->xmpp ? wc->xmpp->s2s : NULL;
}

/* ---- queues ---- */

static struct s2s_queue *q_find(struct s2s_worker *sw, const char *target, const char *source)
{
    for (struct s2s_queue *q = sw->queues; q; q = q->next) {
        if (strcmp(q->target, target) == 0 && strcmp(q->source, source) == 0) {
            return q;
        }
    }
    return NULL;
}

static struct s2s_queue *q_get(struct s2s_worker *sw, const char *target, const char *source)
{
    struct s2s_queue *q = q_find(sw, target, source);
    if (q) {
        return q;
    }
    q = xcalloc(1, sizeof(*q));
    q->sw = sw;
    s2s__fmt(q->target, sizeof(q->target), "%s", target);
    s2s__fmt(q->source, sizeof(q->source), "%s", source);
    loop_timer_init(&q->timer);
    q->backoff_ms = BACKOFF_FIRST_MS;
    q->next = sw->queues;
    if (sw->queues) {
        sw->queues->prev = q;
    }
    sw->queues = q;
    return q;
}

static const struct s2s_journal *g_journal;

void s2s_set_journal(const struct s2s_journal *journal)
{
    g_journal = journal;
}

static void item_free(struct s2s_item *it)
{
    if (it->journal != 0 && g_journal != NULL) {
        g_journal->done(it->journal);
    }
    if (it->sig) {
        signal_free(it->sig);
    }
    free(it->xml);
    free(it);
}

static void q_free(struct s2s_queue *q)
{
    struct s2s_worker *sw = q->sw;
    loop_timer_stop(sw->loop, &q->timer);
    while (q->head) {
        struct s2s_item *it = q->head;
        q->head = it->next;
        item_free(it);
    }
    while (q->verifies) {
        struct s2s_verify *v = q->verifies;
        q->verifies = v->next;
        free(v);
    }
    if (q->prev) {
        q->prev->next = q->next;
    } else {
        sw->queues = q->next;
    }
    if (q->next) {
        q->next->prev = q->prev;
    }
    free(q);
}

static void key_of(const char *target, const char *source, struct buf *key)
{
    buf_printf(key, "%s|%s", target, source);
}

/* Bounces one stanza to its sender (RFC 6120 §8.3.3.18, .19, §10.4.3): messages and iqs get
 * the error; errors and iq results never do (router_reply_error), and presence is not bounced
 * (docs/s2s.md says why). */
static bool bounce(struct signal *sig, const char *cond)
{
    bool answered = (sig->method == SIGNAL_MESSAGE || sig->method == SIGNAL_INFO) &&
                    !(sig->type && strcmp(sig->type, "error") == 0) &&
                    !(sig->method == SIGNAL_INFO && sig->type && strcmp(sig->type, "result") == 0);
    if (answered) {
        bool wait =
            strcmp(cond, "remote-server-timeout") == 0 || strcmp(cond, "resource-constraint") == 0;
        router_reply_error(sig, wait ? "wait" : "cancel", cond);
    }
    return answered;
}

/* Bounces the stanzas older than the queue timeout (all of them when `all`). */
/* Takes the oldest stanza off the queue (which is not empty). */
static struct s2s_item *q_pop(struct s2s_queue *q)
{
    struct s2s_item *it = q->head;
    q->head = it->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    q->count--;
    q->bytes -= (long)it->len;
    return it;
}

static void q_expire(struct s2s_queue *q, const char *cond, bool all)
{
    uint64_t now = loop_now_ms(q->sw->loop);
    uint64_t limit = (uint64_t)s2s__cfg()->xmpp.sending.queue_timeout * 1000u;
    int n = 0, dropped = 0;
    while (q->head && (all || now - q->head->since_ms >= limit)) {
        struct s2s_item *it = q_pop(q);
        if (bounce(it->sig, cond)) {
            n++;
        } else {
            dropped++;
        }
        item_free(it);
    }
    if (n + dropped > 0) {
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL,
                "%s -> %s: %d stanza(s) bounced (%s), %d presence or error stanza(s) dropped%s%s",
                q->source, q->target, n, cond, dropped, q->error[0] ? ": " : "", q->error);
    }
    uint64_t vlimit = (uint64_t)s2s__cfg()->xmpp.sending.response_timeout * 1000u;
    for (struct s2s_verify **pp = &q->verifies; *pp;) {
        struct s2s_verify *v = *pp;
        if (all || now - v->since_ms >= vlimit) {
            *pp = v->next;
            q->nverifies--;
            s2s__in_verified_post(v->worker, v->conn, q->target, q->source, false,
                                  q->error[0] ? q->error : "no answer from the server");
            free(v);
        } else {
            pp = &v->next;
        }
    }
}

static void q_forget(void *ud)
{
    struct s2s_queue *q = ud;
    if (q->state == Q_IDLE && q->head == NULL && q->verifies == NULL && q->out == NULL) {
        q_free(q);
    }
}

static void q_idle(struct s2s_queue *q)
{
    q->state = Q_IDLE;
    /* An idle queue stays listed for a while, then goes; a new stanza makes it again. */
    loop_timer_start(q->sw->loop, &q->timer,
                     (uint64_t)s2s__cfg()->xmpp.sending.idle_timeout * 1000u, q_forget, q);
}

static void q_retry(void *ud)
{
    struct s2s_queue *q = ud;
    q_expire(q, q->cond ? q->cond : "remote-server-timeout", false);
    if (q->head == NULL && q->verifies == NULL) {
        q_idle(q);
        return;
    }
    q_connect(q);
}

void s2s__queue_closed(struct s2s_queue *q, const char *cond, bool not_found)
{
    if (q->sw->stopping) {
        q->state = Q_IDLE;
        return;
    }
    if (cond == NULL) {
        /* A clean close: what is left waits for a new connection. */
        q->backoff_ms = BACKOFF_FIRST_MS;
        if (q->head || q->verifies) {
            q_connect(q);
        } else {
            q_idle(q);
        }
        return;
    }
    q->cond = cond;
    q_expire(q, cond, not_found);
    if (q->head == NULL && q->verifies == NULL) {
        q_idle(q);
        return;
    }
    uint64_t delay = q->backoff_ms;
    q->backoff_ms = q->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : q->backoff_ms * 2;
    if (q->head) {
        /* Never wait past the moment the oldest stanza must be bounced. */
        uint64_t now = loop_now_ms(q->sw->loop);
        uint64_t deadline =
            q->head->since_ms + (uint64_t)s2s__cfg()->xmpp.sending.queue_timeout * 1000u;
        uint64_t left = deadline > now ? deadline - now : 0;
        if (left + 10 < delay) {
            delay = left + 10;
        }
    }
    q->state = Q_RETRY;
    loop_timer_start(q->sw->loop, &q->timer, delay, q_retry, q);
}

/* Sends what waits on the queue's connection while it is ready. */
static void queue_flush(struct s2s_queue *q)
{
    struct s2s_out *o = q->out;
    if (!s2s__out_ready(o)) {
        return;
    }
    while (q->head && s2s__out_ready(o)) {
        struct s2s_item *it = q_pop(q);
        s2s__out_send(o, it->xml, it->len);
        item_free(it);
    }
    s2s__out_sent(o);
}

void s2s__queue_ready(struct s2s_queue *q)
{
    q->state = Q_CONNECTED;
    q->backoff_ms = BACKOFF_FIRST_MS;
    q->error[0] = '\0';
    q->cond = NULL;
    queue_flush(q);
}

static void q_connect(struct s2s_queue *q)
{
    loop_timer_stop(q->sw->loop, &q->timer);
    q->state = Q_CONNECTING;
    s2s__out_open(q);
}

static void enqueue(struct s2s_worker *sw, struct signal *sig)
{
    struct buf text;
    buf_init(&text, (size_t)s2s__cfg()->xmpp.receiving.max_stanza_size * 4);
    if (convert_signal_xml(sig, &text) != 0) {
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "%s -> %s: stanza too large, bounced",
                sig->from.domain, sig->to.domain);
        bounce(sig, "resource-constraint");
        signal_free(sig);
        buf_cleanup(&text);
        return;
    }
    struct s2s_queue *q = q_get(sw, sig->to.domain, sig->from.domain);
    if (q->count >= QUEUE_MAX_STANZAS || q->bytes + (long)text.len > QUEUE_MAX_BYTES) {
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "%s -> %s: queue full, stanza bounced",
                q->source, q->target);
        bounce(sig, "resource-constraint");
        signal_free(sig);
        buf_cleanup(&text);
        return;
    }
    struct s2s_item *it = xcalloc(1, sizeof(*it));
    it->sig = sig;
    it->len = text.len;
    it->xml = strv_dup(buf_strv(&text));
    it->since_ms = loop_now_ms(sw->loop);
    if (g_journal != NULL) {
        it->journal = g_journal->add(q->target, q->source, it->xml, it->len);
    }
    buf_cleanup(&text);
    if (q->tail) {
        q->tail->next = it;
    } else {
        q->head = it;
    }
    q->tail = it;
    q->count++;
    q->bytes += (long)it->len;
    if (q->state == Q_IDLE) {
        loop_timer_stop(sw->loop, &q->timer);
        q_connect(q);
    } else if (q->state == Q_CONNECTED) {
        queue_flush(q);
    }
}

static void enqueue_msg(struct worker *w, void *arg)
{
    (void)w;
    struct s2s_worker *sw = self_sw();
    if (sw == NULL || sw->stopping) {
        /* The server is stopping: like the stanzas still queued, dropped with a record (the
         * other workers may no longer take a bounce). */
        struct signal *sig = arg;
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "%s -> %s: stanza dropped at shutdown",
                sig->from.domain ? sig->from.domain : "", sig->to.domain);
        signal_free(sig);
        return;
    }
    enqueue(sw, arg);
}

/* The router's hook: a signal for a domain that is neither local nor a component's. Every
 * domain the server hosts (service domains too) sends through its own queue per (target,
 * source). */
static int route_remote(struct signal *sig)
{
    bool ours = router_is_hosted_domain(sig->from.domain);
    if (!ours || !s2s__valid_domain(sig->to.domain)) {
        /* Only stanzas of our own domains leave; anything else is a routing loop or a bug. The
         * sender still learns of it (never an error in reply to an error). */
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "not sent to %s: %s", sig->to.domain,
                ours ? "not a valid domain name" : "the sender's domain is not hosted here");
        bounce(sig, ours ? "remote-server-not-found" : "not-allowed");
        signal_free(sig);
        return ERR_NOTFOUND;
    }
    if (s2s_pair_refused(s2s__cfg(), sig->from.domain, sig->to.domain)) {
        log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL,
                "not sent from %s to %s: refused by the federation block or allow list",
                sig->from.domain, sig->to.domain);
        bounce(sig, "not-allowed");
        signal_free(sig);
        return ERR_DENIED;
    }
    struct buf key;
    buf_init(&key, 2 * S2S_DOMAIN_MAX + 2);
    key_of(sig->to.domain, sig->from.domain, &key);
    int home = worker_home(buf_strv(&key));
    buf_cleanup(&key);
    struct worker *self = worker_self();
    if (self && self->id == home && self_sw()) {
        enqueue(self_sw(), sig);
    } else {
        worker_post(home, enqueue_msg, sig);
    }
    return 0;
}

/* ---- dialback verification requests (authoritative server asked through our queue) ---- */

struct verify_req {
    char target[S2S_DOMAIN_MAX];
    char source[S2S_DOMAIN_MAX];
    char id[128];
    char key[S2S_KEY_LEN + 1];
    int worker;
    unsigned long conn;
};

static void verify_msg(struct worker *w, void *arg)
{
    (void)w;
    struct verify_req *r = arg;
    struct s2s_worker *sw = self_sw();
    if (sw == NULL) {
        free(r);
        return;
    }
    struct s2s_queue *q = q_get(sw, r->target, r->source);
    if (q->nverifies >= VERIFY_MAX) {
        s2s__in_verified_post(r->worker, r->conn, r->target, r->source, false,
                              "too many dialback verifications waiting");
        free(r);
        return;
    }
    struct s2s_verify *v = xcalloc(1, sizeof(*v));
    s2s__fmt(v->id, sizeof(v->id), "%s", r->id);
    s2s__fmt(v->key, sizeof(v->key), "%s", r->key);
    v->worker = r->worker;
    v->conn = r->conn;
    v->since_ms = loop_now_ms(sw->loop);
    v->next = q->verifies;
    q->verifies = v;
    q->nverifies++;
    free(r);
    if (q->state == Q_IDLE) {
        loop_timer_stop(sw->loop, &q->timer);
        q_connect(q);
    } else if (q->out) {
        s2s__out_send_verifies(q->out);
    }
}

void s2s__out_verify(const char *target, const char *source, const char *stream_id, const char *key,
                     int reply_worker, unsigned long reply_conn)
{
    struct verify_req *r = xcalloc(1, sizeof(*r));
    s2s__fmt(r->target, sizeof(r->target), "%s", target);
    s2s__fmt(r->source, sizeof(r->source), "%s", source);
    s2s__fmt(r->id, sizeof(r->id), "%s", stream_id);
    s2s__fmt(r->key, sizeof(r->key), "%s", key);
    r->worker = reply_worker;
    r->conn = reply_conn;
    struct buf k;
    buf_init(&k, 2 * S2S_DOMAIN_MAX + 2);
    key_of(target, source, &k);
    worker_post(worker_home(buf_strv(&k)), verify_msg, r);
    buf_cleanup(&k);
}

/* The remote answered a db:verify we sent. */
/* ---- per worker ---- */

void s2s_worker_start(struct xmpp_worker *xw)
{
    struct s2s_worker *sw = xcalloc(1, sizeof(*sw));
    sw->xw = xw;
    sw->loop = xw->worker->loop;
    char err[256];
    sw->dns = s2s__dns_new(sw->loop, s2s__cfg()->xmpp.sending.dns_servers, err, sizeof(err));
    if (sw->dns == NULL) {
        log_rec(LOG_TAG_XMPPO, LOG_FAILURES, 0, NULL, "%s", err);
    }
    xw->s2s = sw;
}

void s2s_worker_stop(struct xmpp_worker *xw)
{
    struct s2s_worker *sw = xw->s2s;
    if (sw == NULL) {
        return;
    }
    /* The queues stay attached while their connections close, so the log record names the
     * domain pair; `stopping` keeps them from reconnecting. */
    sw->stopping = true;
    s2s__out_shutdown(sw);
    while (sw->queues) {
        struct s2s_queue *q = sw->queues;
        if (q->count > 0) {
            log_rec(LOG_TAG_XMPPO, LOG_PROBLEMS, 0, NULL, "%s -> %s: %d stanza(s) %s at shutdown",
                    q->source, q->target, q->count, g_journal ? "left to another node" : "dropped");
        }
        for (struct s2s_item *it = q->head; it; it = it->next) {
            it->journal = 0; /* left in the journal: another node sends it */
        }
        while (q->verifies) {
            struct s2s_verify *v = q->verifies;
            q->verifies = v->next;
            free(v);
        }
        q_free(q);
    }
    s2s__dns_free(sw->dns);
    loop_run_deferred(sw->loop);
    xw->s2s = NULL;
    free(sw);
}

/* ---- the federation policy (s2s_policy.c) ---- */

void s2s__queues_refuse(struct s2s_worker *sw, const struct settings *cfg)
{
    if (sw == NULL) {
        return;
    }
    for (struct s2s_queue *q = sw->queues; q; q = q->next) {
        if (!s2s_pair_refused(cfg, q->source, q->target)) {
            continue;
        }
        s2s__fmt(q->error, sizeof(q->error), "refused by the federation block or allow list");
        if (q->out != NULL) {
            s2s__out_close_refused(q->out); /* bounces everything, then the queue idles */
        } else if (q->head != NULL || q->verifies != NULL) {
            loop_timer_stop(sw->loop, &q->timer);
            q_expire(q, "not-allowed", true);
            q_idle(q);
        }
    }
}

/* ---- the administrator's actions ---- */

int s2s_queue_home(const char *target, const char *source)
{
    struct buf key;
    buf_init(&key, 2 * S2S_DOMAIN_MAX + 2);
    key_of(target, source, &key);
    int home = worker_home(buf_strv(&key));
    buf_cleanup(&key);
    return home;
}

int s2s_queue_act(struct xmpp_worker *xw, const char *target, const char *source, bool drop)
{
    struct s2s_queue *q = xw->s2s ? q_find(xw->s2s, target, source) : NULL;
    if (q == NULL) {
        return ERR_NOTFOUND;
    }
    if (!drop) {
        if (q->state == Q_RETRY) {
            loop_timer_stop(q->sw->loop, &q->timer);
            q->backoff_ms = BACKOFF_FIRST_MS;
            q_connect(q);
        }
        return 0;
    }
    s2s__fmt(q->error, sizeof(q->error), "dropped by the administrator");
    loop_timer_stop(q->sw->loop, &q->timer);
    q_expire(q, "remote-server-not-found", true); /* emptied first: the close then idles it */
    if (q->out != NULL) {
        s2s__out_close_id(q->sw, s2s__out_id(q->out));
    } else {
        q_idle(q);
    }
    return 0;
}

/* ---- monitoring ---- */

static const char *qstate_name(enum s2s_qstate s)
{
    static const char *const names[] = { "idle", "connecting", "connected", "waiting to retry" };
    return names[s];
}

void s2s_queues_json(struct xmpp_worker *xw, json_t *array)
{
    struct s2s_worker *sw = xw->s2s;
    if (sw == NULL) {
        return;
    }
    uint64_t now = loop_clock_ms();
    for (struct s2s_queue *q = sw->queues; q; q = q->next) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:o, s:s?, s:i}", "target", q->target,
                      "source", q->source, "state", qstate_name(q->state), "stanzas", q->count,
                      "bytes", (json_int_t)q->bytes, "oldest",
                      (json_int_t)(q->head ? (now - q->head->since_ms) / 1000u : 0), "connection",
                      q->out ? json_integer((json_int_t)s2s__out_id(q->out)) : json_null(), "error",
                      q->error[0] ? q->error : NULL, "worker", xw->worker->id);
        if (o) {
            json_array_append_new(array, o);
        }
    }
}

/* ---- start-up ---- */

int s2s_global_init(const struct settings *c, char *err, size_t errlen)
{
    int rc = s2s__dialback_init(g_server.datadir, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (c->tls.s2s_ca_file[0]) {
        char why[256];
        rc = tls_store_set_s2s_ca(g_server.tls, c->tls.s2s_ca_file, why, sizeof(why));
        if (rc != 0) {
            s2s__fmt(err, errlen, "tls.s2s_ca_file: %s", why);
            return rc;
        }
    }
    router_set_remote(route_remote);
    return 0;
}
