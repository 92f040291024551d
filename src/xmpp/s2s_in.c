/* s2s_in.c: incoming server-to-server streams: STARTTLS, SASL EXTERNAL (XEP-0178), dialback
 * (XEP-0220, receiving and authoritative roles), then stanzas from authenticated domains. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "tls/tls.h"
#include "xml/ns.h"
#include "xmpp/convert.h"
#include "xmpp/s2s_int.h"
#include "xmpp/stream_internal.h"
#include "xmpp/xmpp.h"

#define MAX_PAIRS 64
#define MAX_PENDING 16

/* A (remote, local) pair authenticated by dialback. */
struct pair {
    char remote[S2S_DOMAIN_MAX];
    char local[S2S_DOMAIN_MAX];
};

struct s2s_in {
    char remote[S2S_DOMAIN_MAX]; /* the header's 'from' */
    char local[S2S_DOMAIN_MAX];  /* the header's 'to' */
    char sasl[S2S_DOMAIN_MAX];   /* authenticated by SASL EXTERNAL for every local domain */
    struct pair pairs[MAX_PAIRS];
    int npairs;
    int pending; /* dialback verifications under way */
};

static void lower_copy(char *out, size_t size, const char *in)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++) {
        char c = in[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[i] = '\0';
}

/* Every domain the server hosts, service domains included, is local for s2s. */
static bool is_local(const char *domain)
{
    return domain && router_is_hosted_domain(domain);
}

static void write_attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    xml_escape_append(b, strv_c(value), true);
    buf_append_c(b, "'");
}

static void send_header(struct xstream *st, const char *from, const char *to)
{
    struct buf b;
    buf_init(&b, 2048);
    buf_append_c(&b, "<?xml version='1.0'?><stream:stream xmlns='" NS_SERVER
                     "' xmlns:stream='" NS_STREAM "' xmlns:db='" NS_DIALBACK "'");
    write_attr(&b, "id", st->id);
    write_attr(&b, "from", from);
    if (to && to[0]) {
        write_attr(&b, "to", to);
    }
    if (!st->legacy) {
        write_attr(&b, "version", "1.0");
    }
    buf_append_c(&b, " xml:lang='en'>");
    st->header_sent = true;
    xstream__write(st, b.p, b.len);
    buf_cleanup(&b);
}

static void send_features(struct xstream *st)
{
    struct s2s_in *in = st->s2s;
    const struct settings *cfg = xstream__cfg();
    struct buf b;
    buf_init(&b, 2048);
    buf_append_c(&b, "<stream:features>");
    bool tls = conn_is_tls(st->c);
    if (!tls) {
        buf_printf(&b, "<starttls xmlns='%s'>%s</starttls>", NS_TLS,
                   cfg->xmpp.receiving.require_tls ? "<required/>" : "");
    }
    if (tls && in->sasl[0] == '\0' && in->remote[0] &&
        tls_conn_peer_verify_domain(st->c->tls, in->remote)) {
        buf_printf(&b, "<mechanisms xmlns='%s'><mechanism>EXTERNAL</mechanism></mechanisms>",
                   NS_SASL);
    }
    if ((tls || !cfg->xmpp.receiving.require_tls) && cfg->xmpp.receiving.dialback) {
        buf_printf(&b, "<dialback xmlns='%s'><errors/></dialback>", NS_DIALBACK_FEATURE);
    }
    buf_append_c(&b, "</stream:features>");
    xstream__write(st, b.p, b.len);
    buf_cleanup(&b);
}

int s2s_in_stream_open(struct xstream *st, const struct xml_node *header)
{
    if (st->s2s == NULL) {
        st->s2s = xcalloc(1, sizeof(*st->s2s));
    }
    struct s2s_in *in = st->s2s;
    const char *from = xml_node_attr(header, "from");
    const char *to = xml_node_attr(header, "to");
    char to_l[S2S_DOMAIN_MAX] = "", from_l[S2S_DOMAIN_MAX] = "";
    if (to) {
        lower_copy(to_l, sizeof(to_l), to);
    }
    if (from) {
        lower_copy(from_l, sizeof(from_l), from);
    }
    bool local = is_local(to_l);
    /* A refusal names the domain that was asked for (RFC 6120 §4.9.1.3), not another one. */
    send_header(st, s2s__valid_domain(to_l) ? to_l : xstream__cfg()->server.main_domain, from_l);
    if (!local) {
        xstream_error(st, "host-unknown", "this server does not serve that domain");
        return 1;
    }
    if (from && !s2s__valid_domain(from_l)) {
        xstream_error(st, "invalid-from", "the 'from' of the stream header is not a domain");
        return 1;
    }
    if (s2s_pair_refused(xstream__cfg(), to_l, from_l)) {
        xstream_error(st, "policy-violation", "federation with this domain is not allowed");
        return 1;
    }
    s2s__fmt(in->local, sizeof(in->local), "%s", to_l);
    s2s__fmt(in->remote, sizeof(in->remote), "%s", from_l);
    st->state = XS_NEGOTIATE;
    if (!st->legacy) {
        send_features(st);
    }
    log_conn(&st->c->log, LOG_LOWLEVEL, "server stream from %s to %s%s",
             from_l[0] ? from_l : "(unnamed)", to_l, conn_is_tls(st->c) ? " over TLS" : "");
    return 0;
}

static bool is(const struct xml_node *el, const char *ns, const char *name)
{
    return el->ns && strcmp(el->ns, ns) == 0 && strcmp(el->name, name) == 0;
}

static void authenticated(struct xstream *st, const char *remote, const char *local,
                          const char *how)
{
    struct conn *c = st->c;
    /* The authentication timeout ends with the first authenticated domain. */
    loop_timer_stop(c->loop, &c->timer);
    if (st->mechanism[0] == '\0') {
        s2s__fmt(st->mechanism, sizeof(st->mechanism), "%s", how);
    }
    log_conn(&c->log, LOG_MAJOR, "%s authenticated for %s (%s)", remote,
             local ? local : "all local domains", how);
}

static bool pair_known(const struct s2s_in *in, const char *remote, const char *local)
{
    for (int i = 0; i < in->npairs; i++) {
        if (strcmp(in->pairs[i].remote, remote) == 0 && strcmp(in->pairs[i].local, local) == 0) {
            return true;
        }
    }
    return false;
}

static void pair_add(struct s2s_in *in, const char *remote, const char *local)
{
    if (!pair_known(in, remote, local) && in->npairs < MAX_PAIRS) {
        s2s__fmt(in->pairs[in->npairs].remote, S2S_DOMAIN_MAX, "%s", remote);
        s2s__fmt(in->pairs[in->npairs].local, S2S_DOMAIN_MAX, "%s", local);
        in->npairs++;
    }
}

/* SASL EXTERNAL (XEP-0178): the certificate must validate for the authorization identity. */
static void sasl_auth(struct xstream *st, const struct xml_node *el)
{
    struct s2s_in *in = st->s2s;
    const char *mech = xml_node_attr(el, "mechanism");
    if (mech == NULL || strcmp(mech, "EXTERNAL") != 0 || !conn_is_tls(st->c) || in->sasl[0]) {
        xstream__write_c(st, "<failure xmlns='" NS_SASL "'><invalid-mechanism/></failure>");
        return;
    }
    struct buf text;
    buf_init(&text, 1024);
    xml_node_text(el, &text);
    char authz[S2S_DOMAIN_MAX] = "";
    if (text.len > 0 && strcmp(buf_cstr(&text), "=") != 0) {
        unsigned char raw[3 * 1024 / 4 + 4];
        int n = text.len <= 1024
                    ? EVP_DecodeBlock(raw, (const unsigned char *)text.p, (int)text.len)
                    : -1;
        if (n >= 0) {
            while (n > 0 && text.p[text.len - 1] == '=' && raw[n - 1] == '\0') {
                n--;
                text.len--;
            }
            if ((size_t)n < sizeof(authz) && memchr(raw, '\0', (size_t)n) == NULL) {
                char tmp[S2S_DOMAIN_MAX];
                memcpy(tmp, raw, (size_t)n);
                tmp[n] = '\0';
                lower_copy(authz, sizeof(authz), tmp);
            }
        }
        if (authz[0] == '\0') {
            buf_cleanup(&text);
            xstream__write_c(st, "<failure xmlns='" NS_SASL "'><incorrect-encoding/></failure>");
            return;
        }
    } else {
        s2s__fmt(authz, sizeof(authz), "%s", in->remote);
    }
    buf_cleanup(&text);
    bool ok = authz[0] && (in->remote[0] == '\0' || strcmp(authz, in->remote) == 0) &&
              tls_conn_peer_verify_domain(st->c->tls, authz);
    if (!ok) {
        log_conn(&st->c->log, LOG_PROBLEMS,
                 "SASL EXTERNAL refused for %s: the certificate does not validate for it",
                 authz[0] ? authz : "(none)");
        xstream__write_c(st, "<failure xmlns='" NS_SASL "'><not-authorized/></failure>");
        return;
    }
    s2s__fmt(in->sasl, sizeof(in->sasl), "%s", authz);
    xstream__write_c(st, "<success xmlns='" NS_SASL "'/>");
    authenticated(st, authz, NULL, "SASL EXTERNAL");
    xstream__restart(st);
}

static void db_answer(struct xstream *st, const char *el_name, const char *local,
                      const char *remote, const char *id, const char *type, const char *error)
{
    struct buf b;
    buf_init(&b, 2048);
    buf_printf(&b, "<db:%s", el_name);
    write_attr(&b, "from", local);
    write_attr(&b, "to", remote);
    if (id) {
        write_attr(&b, "id", id);
    }
    write_attr(&b, "type", type);
    if (error) {
        buf_printf(&b, "><error type='cancel'><%s xmlns='%s'/></error></db:%s>", error, NS_STANZAS,
                   el_name);
    } else {
        buf_append_c(&b, "/>");
    }
    xstream__write(st, b.p, b.len);
    buf_cleanup(&b);
}

/* Receiving role: the remote claims `from` and gives a key to check with its authoritative
 * server. */
static void db_result(struct xstream *st, const struct xml_node *el)
{
    struct s2s_in *in = st->s2s;
    const struct settings *cfg = xstream__cfg();
    char from[S2S_DOMAIN_MAX] = "", to[S2S_DOMAIN_MAX] = "";
    const char *f = xml_node_attr(el, "from");
    const char *t = xml_node_attr(el, "to");
    if (f == NULL || t == NULL) {
        xstream_error(st, "improper-addressing", "db:result needs 'from' and 'to'");
        return;
    }
    lower_copy(from, sizeof(from), f);
    lower_copy(to, sizeof(to), t);
    if (!s2s__valid_domain(from)) {
        xstream_error(st, "invalid-from", NULL);
        return;
    }
    if (s2s_pair_refused(cfg, to, from)) {
        xstream_error(st, "policy-violation", "federation with this domain is not allowed");
        return;
    }
    if (!is_local(to)) {
        db_answer(st, "result", to, from, NULL, "error", "item-not-found");
        return;
    }
    if (!cfg->xmpp.receiving.dialback || (cfg->xmpp.receiving.require_tls && !conn_is_tls(st->c))) {
        db_answer(st, "result", to, from, NULL, "error", "policy-violation");
        return;
    }
    if (pair_known(in, from, to) || strcmp(in->sasl, from) == 0 ||
        (conn_is_tls(st->c) && tls_conn_peer_verify_domain(st->c->tls, from))) {
        /* Already known, or its certificate proves it (XEP-0344): no need to dial back. */
        bool fresh = !pair_known(in, from, to);
        pair_add(in, from, to);
        db_answer(st, "result", to, from, NULL, "valid", NULL);
        if (fresh) {
            authenticated(st, from, to, "dialback, certificate valid");
        }
        return;
    }
    if (in->pending >= MAX_PENDING) {
        db_answer(st, "result", to, from, NULL, "error", "resource-constraint");
        return;
    }
    struct buf key;
    buf_init(&key, 1024);
    xml_node_text(el, &key);
    in->pending++;
    log_conn(&st->c->log, LOG_LOWLEVEL, "dialback: verifying %s with its authoritative server",
             from);
    s2s__out_verify(from, to, st->id, buf_cstr(&key), st->c->worker_id, st->c->id);
    buf_cleanup(&key);
}

/* Authoritative role: a receiving server asks whether we issued this key. */
static void db_verify(struct xstream *st, const struct xml_node *el)
{
    const char *f = xml_node_attr(el, "from");
    const char *t = xml_node_attr(el, "to");
    const char *id = xml_node_attr(el, "id");
    if (f == NULL || t == NULL || id == NULL) {
        xstream_error(st, "improper-addressing", "db:verify needs 'from', 'to' and 'id'");
        return;
    }
    char from[S2S_DOMAIN_MAX], to[S2S_DOMAIN_MAX];
    lower_copy(from, sizeof(from), f);
    lower_copy(to, sizeof(to), t);
    if (!is_local(to)) {
        db_answer(st, "verify", to, from, id, "error", "item-not-found");
        return;
    }
    struct buf key;
    buf_init(&key, 1024);
    xml_node_text(el, &key);
    bool valid = s2s__dialback_check(from, to, id, buf_cstr(&key));
    buf_cleanup(&key);
    db_answer(st, "verify", to, from, id, valid ? "valid" : "invalid", NULL);
    log_conn(&st->c->log, LOG_LOWLEVEL, "dialback: key for %s -> %s is %s", to, from,
             valid ? "valid" : "invalid");
}

static bool is_stanza(const struct xml_node *el)
{
    return el->ns && strcmp(el->ns, NS_SERVER) == 0 &&
           (strcmp(el->name, "message") == 0 || strcmp(el->name, "presence") == 0 ||
            strcmp(el->name, "iq") == 0);
}

/* A stanza that cannot become a signal: its sender gets the stanza error through the router
 * (our outgoing queue to its domain), unless it is an error itself. */
static void refuse_stanza(const struct xml_node *el, const struct jid *from, const struct jid *to,
                          const char *condition)
{
    enum signal_method m = strcmp(el->name, "message") == 0 ? SIGNAL_MESSAGE
                           : strcmp(el->name, "iq") == 0    ? SIGNAL_INFO
                                                            : SIGNAL_NOTIFY;
    if (m == SIGNAL_NOTIFY) {
        return; /* presence is not bounced */
    }
    struct signal *req = signal_new(m);
    jid_copy(&req->from, from);
    jid_copy(&req->to, to);
    const char *type = xml_node_attr(el, "type");
    const char *id = xml_node_attr(el, "id");
    req->type = type ? xstrdup(type) : NULL;
    req->id = id ? xstrdup(id) : NULL;
    router_reply_error(req, "modify", condition ? condition : "bad-request");
    signal_free(req);
}

static void stanza(struct xstream *st, struct xml_node *el)
{
    struct s2s_in *in = st->s2s;
    const char *f = xml_node_attr(el, "from");
    const char *t = xml_node_attr(el, "to");
    struct jid from = { 0 }, to = { 0 };
    if (f == NULL || t == NULL || jid_parse(&from, strv_c(f)) != 0 ||
        jid_parse(&to, strv_c(t)) != 0) {
        jid_cleanup(&from);
        jid_cleanup(&to);
        xstream_error(st, "improper-addressing", "a stanza needs valid 'from' and 'to'");
        return;
    }
    bool allowed = (in->sasl[0] && strcmp(in->sasl, from.domain) == 0) ||
                   pair_known(in, from.domain, to.domain);
    if (!allowed) {
        log_conn(&st->c->log, LOG_PROBLEMS,
                 "stanza from %s to %s: that domain was not authenticated on this stream",
                 from.domain, to.domain);
        jid_cleanup(&from);
        jid_cleanup(&to);
        xstream_error(st, "invalid-from", "the sender's domain is not authenticated here");
        return;
    }
    if (!is_local(to.domain)) {
        jid_cleanup(&from);
        jid_cleanup(&to);
        xstream_error(st, "host-unknown", "the stanza is not for a domain of this server");
        return;
    }
    struct signal *sig = NULL;
    const char *condition = NULL;
    if (convert_stanza(el, &from, &sig, &condition) != 0) {
        log_conn(&st->c->log, LOG_PROBLEMS, "stanza refused: %s", condition);
        refuse_stanza(el, &from, &to, condition);
        jid_cleanup(&from);
        jid_cleanup(&to);
        return;
    }
    jid_cleanup(&from);
    jid_cleanup(&to);
    st->c->stanzas_in++;
    xmpp_count_stanza(st->c->worker_id, true);
    router_submit(sig);
}

static bool authed(const struct s2s_in *in)
{
    return in->sasl[0] || in->npairs > 0;
}

static void element(struct xstream *st, struct xml_node *el)
{
    struct s2s_in *in = st->s2s;
    if (st->state != XS_NEGOTIATE || in == NULL) {
        return;
    }
    if (is_stanza(el)) {
        if (!authed(in)) {
            xstream_error(st, "not-authorized", "authenticate first");
        } else {
            stanza(st, el);
        }
    } else if (is(el, NS_DIALBACK, "result")) {
        db_result(st, el);
    } else if (is(el, NS_DIALBACK, "verify")) {
        db_verify(st, el);
    } else if (is(el, NS_TLS, "starttls")) {
        xstream__starttls(st, true);
    } else if (is(el, NS_SASL, "auth")) {
        sasl_auth(st, el);
    } else if (is(el, NS_STREAM, "error")) {
        const struct xml_node *c = xml_node_first_element(el);
        log_conn(&st->c->log, LOG_PROBLEMS, "stream error from the remote server: %s",
                 c ? c->name : "?");
        st->state = XS_CLOSED;
        conn_close(st->c, NULL);
    } else {
        xstream_error(st, "unsupported-stanza-type", NULL);
    }
}

int s2s_in_element(struct xstream *st, struct xml_node *el)
{
    if (log_conn_enabled(&st->c->log, LOG_ALLINFO)) {
        struct buf b;
        buf_init(&b, 65536);
        struct xml_ser_opts o = { .parent_ns = NS_SERVER };
        xml_serialize(&b, el, &o);
        log_conn(&st->c->log, LOG_ALLINFO, "in: %s", buf_cstr(&b));
        buf_cleanup(&b);
    }
    element(st, el);
    xml_node_unref(el);
    return st->stop || st->state == XS_CLOSED ? 1 : 0;
}

bool s2s__in_remote_refused(const struct settings *cfg, struct xstream *st)
{
    const struct s2s_in *in = st->s2s;
    return in != NULL && s2s_pair_refused(cfg, in->local, in->remote);
}

const char *s2s_in_describe(const struct xstream *st, struct buf *pairs)
{
    const struct s2s_in *in = st->s2s;
    if (in == NULL || !authed(in)) {
        return NULL;
    }
    if (in->sasl[0]) {
        buf_printf(pairs, "%s -> %s", in->sasl, in->local);
    }
    for (int i = 0; i < in->npairs; i++) {
        if (in->sasl[0] && strcmp(in->pairs[i].remote, in->sasl) == 0 &&
            strcmp(in->pairs[i].local, in->local) == 0) {
            continue;
        }
        buf_printf(pairs, "%s%s -> %s", pairs->len ? ", " : "", in->pairs[i].remote,
                   in->pairs[i].local);
    }
    return "authenticated";
}

void s2s_in_free(struct xstream *st)
{
    if (st->s2s && authed(st->s2s)) {
        /* The last record of the stream names what it carried (shutdown included). */
        struct buf pairs;
        buf_init(&pairs, 4096);
        s2s_in_describe(st, &pairs);
        log_conn(&st->c->log, LOG_MAJOR, "server stream closed: %s", buf_cstr(&pairs));
        buf_cleanup(&pairs);
    }
    free(st->s2s);
    st->s2s = NULL;
}

/* ---- answers of the authoritative server, back on this connection's worker ---- */

struct verified {
    unsigned long conn;
    char remote[S2S_DOMAIN_MAX];
    char local[S2S_DOMAIN_MAX];
    bool valid;
    char error[160];
};

static void verified_msg(struct worker *w, void *arg)
{
    (void)w;
    struct verified *v = arg;
    struct worker_ctx *wc = worker_ctx();
    struct conn *c = NULL;
    for (c = wc && wc->xmpp ? wc->xmpp->conns : NULL; c; c = c->next) {
        if (c->id == v->conn) {
            break;
        }
    }
    if (c == NULL || c->closed || c->closing || c->st == NULL || c->st->s2s == NULL ||
        c->kind != CONN_S2S_IN) {
        free(v);
        return;
    }
    struct xstream *st = c->st;
    struct s2s_in *in = st->s2s;
    in->pending--;
    if (v->valid) {
        pair_add(in, v->remote, v->local);
        db_answer(st, "result", v->local, v->remote, NULL, "valid", NULL);
        authenticated(st, v->remote, v->local, "dialback");
    } else {
        log_conn(&c->log, LOG_PROBLEMS, "dialback for %s failed: %s", v->remote, v->error);
        bool refused = strstr(v->error, "said invalid") != NULL;
        db_answer(st, "result", v->local, v->remote, NULL, refused ? "invalid" : "error",
                  refused ? NULL : "remote-connection-failed");
    }
    free(v);
}

void s2s__in_verified_post(int worker, unsigned long conn_id, const char *remote, const char *local,
                           bool valid, const char *error)
{
    struct verified *v = xcalloc(1, sizeof(*v));
    v->conn = conn_id;
    s2s__fmt(v->remote, sizeof(v->remote), "%s", remote);
    s2s__fmt(v->local, sizeof(v->local), "%s", local);
    v->valid = valid;
    s2s__fmt(v->error, sizeof(v->error), "%s", error ? error : "");
    worker_post(worker, verified_msg, v);
}
