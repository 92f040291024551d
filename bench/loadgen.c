/* loadgen.c: XMPP load generator: one epoll process drives thousands of TLS/SCRAM clients. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "lg_util.h"

#define MAX_PIDS 8
#define IN_MAX (4u << 20)
#define OUT_MAX (16u << 20)

enum scenario {
    SC_LOGIN,
    SC_IDLE,
    SC_MSG,
    SC_PRESENCE,
    SC_ROSTER,
    SC_MUC,
    SC_S2S,
    SC_PEP_SETUP,
    SC_PEP,
    SC_RESUME
};
static const char *const scenario_names[] = { "login",        "idle",  "msg", "presence",
                                              "roster-setup", "muc",   "s2s", "pep-setup",
                                              "pep",          "resume" };

/* pep: the publisher (slot 0) and its N contacts, whose XEP-0115 capabilities ask for the node's
 * notifications (+notify). The verification string is computed at start (pep_caps_init). */
#define PEP_NODE "urn:bench:pep"
#define PEP_CAPS_NODE "https://starling.bench/loadgen"
static char g_pep_ver[64];
struct client;
static void pep_ready(struct client *c);
static void pep_disco(struct client *c, struct strv el, struct strv id);
static void pep_setup_presence(struct client *c, struct strv type, struct strv from);

enum tls_mode { TLS_STARTTLS, TLS_DIRECT, TLS_NONE };

/* Where a group of clients connects and logs in. */
struct target {
    const char *host;
    int port;
    const char *domain;
};

struct options {
    enum scenario scenario;
    struct target srv[2]; /* [1] is the second server of the s2s scenario */
    enum tls_mode tls;
    bool plain;           /* SASL PLAIN instead of SCRAM-SHA-1 */
    const char *user_fmt; /* printf format of the local part, %d = account index */
    const char *password;
    int sessions; /* -n: clients (login: total logins; msg: pairs; muc: occupants) */
    int accounts; /* login: accounts cycled through */
    int first;    /* index of the first account */
    int concurrency;
    double duration; /* measured seconds */
    double warmup;
    double hold; /* idle: seconds the sessions are held */
    int window;
    double rate;  /* msg: total messages/s, 0 = as fast as the window allows */
    int contacts; /* presence / roster-setup */
    int senders;  /* muc */
    const char *room;
    int body_size;
    int per_addr;   /* connections per source address 127.0.0.x */
    double timeout; /* hard limit for the whole run */
    double login_timeout;
    int pids[2][MAX_PIDS];
    int npids[2];
    bool verbose;
    bool sm;         /* XEP-0198 with resumption after binding (idle --sm; always for resume) */
    bool tls_resume; /* keep each account's TLS session ticket and resume with it */
    bool fast;       /* SASL2 + Bind 2 with a XEP-0484 FAST token (HT-SHA-256-NONE) */
};

static struct options o = {
    .scenario = SC_LOGIN,
    .srv = { { "127.0.0.1", 5222, "localhost" }, { "127.0.0.1", 0, NULL } },
    .tls = TLS_STARTTLS,
    .user_fmt = "bench%d",
    .password = "benchpass",
    .sessions = 100,
    .accounts = 0,
    .concurrency = 100,
    .duration = 10,
    .warmup = 2,
    .hold = 3,
    .window = 1,
    .contacts = 20,
    .senders = 1,
    .body_size = 40,
    .per_addr = 90,
    .timeout = 120,
    .login_timeout = 30,
};

enum cstate {
    CS_FREE,
    CS_CONNECTING,
    CS_HEADER,    /* waiting for the stream header and features */
    CS_STARTTLS,  /* <starttls/> sent, waiting for <proceed/> */
    CS_HANDSHAKE, /* TLS handshake running */
    CS_AUTH,      /* <auth/> sent */
    CS_SCRAM_FINAL,
    CS_SASL2,   /* SASL2 <authenticate/> sent (FAST, or PLAIN asking for a token) */
    CS_HEADER2, /* restarted stream after SASL */
    CS_BIND,
    CS_SESSION,
    CS_ROSTER,
    CS_JOIN,   /* muc: waiting for our own presence from the room */
    CS_SM,     /* <enable/> sent, waiting for <enabled/> */
    CS_RESUME, /* <resume/> sent, waiting for <resumed/> */
    CS_READY,  /* logged in, initial presence sent */
    CS_CLOSED,
};

struct client {
    int idx;     /* slot */
    int account; /* account index */
    int side;    /* which server */
    int fd;
    SSL *ssl;
    enum cstate state;
    bool in_stream;
    bool tls_done;
    bool want_session;
    bool closing;
    struct buf in;
    struct buf out;
    struct lg_scram scram;
    uint64_t t_start;
    int partner; /* msg/s2s: slot of the partner */
    int inflight;
    uint64_t seq;
    uint64_t sub_mask; /* roster-setup: contacts whose "subscribed" we received */
    int presences;     /* presence: available presences received */
    bool waiting_rate;
    bool resuming;   /* resume: this connection resumes the previous one's session */
    uint32_t sm_h;   /* stanzas received since <enable/> or <resumed/> */
    char previd[80]; /* the server's resumption id */
    /* Cluster nodes: the address a <see-other-host/> named ("" = the target's), and how many
     * redirects this login followed (at most MAX_REDIRECTS). */
    char redirect_host[64];
    int redirect_port;
    int redirects;
    uint64_t redirect_t_start;
};

struct stats {
    uint64_t logins, login_failures, conn_failures, protocol_errors, closed_by_server;
    struct lg_hist login_lat;
    uint64_t delivered, sent;
    struct lg_hist msg_lat;
    uint64_t presences, subscribed, bounced;
    struct lg_hist resume_lat;
    uint64_t resumed, resume_failures;
    uint64_t redirects; /* <see-other-host/> followed */
    uint64_t tls_resumed, tls_tickets, fast_logins;
};

static struct client *g_cl;
static int g_ncl;
static int g_ep;
static SSL_CTX *g_ctx;
/* Per account (index - o.first): its last TLS session (--tls-resume), its FAST token (--fast). */
static SSL_SESSION **g_sess;
static char (*g_token)[128];
static int g_tokens_missing;
static struct stats g_st;
static bool g_measuring;
static bool g_sending;
static uint64_t g_t0;
static uint64_t g_deadline;
static int g_ready;
static int g_live;
static double g_tokens;
static uint64_t g_token_t;
static int *g_rate_wait;
static int g_rate_nwait;
static volatile sig_atomic_t g_stop;
static const char *g_fail_reason;
static char g_room_jid[512];
static int *g_restart;
static int *g_restart2;
static int g_nrestart;
static int *g_redirect; /* slots to reconnect after a <see-other-host/> */
static int g_nredirect;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void vlog(const char *fmt, ...)
{
    if (!o.verbose) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static double elapsed_s(void)
{
    return (double)(lg_now_ns() - g_t0) / 1e9;
}

/* ---- output ------------------------------------------------------------------------------- */

static void flush_out(struct client *c);
static void client_close(struct client *c, bool failed);
static void send_raw(struct client *c, const char *data, size_t len);
/* Sends a string literal. */
#define SEND_LIT(c, lit) send_raw((c), (lit), sizeof(lit) - 1)

static void send_raw(struct client *c, const char *data, size_t len)
{
    if (c->fd < 0) {
        return;
    }
    if (buf_append(&c->out, data, len) != 0) {
        client_close(c, true);
        return;
    }
    flush_out(c);
}

static void sendf(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sendf(struct client *c, const char *fmt, ...)
{
    if (c->fd < 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&c->out, fmt, ap);
    va_end(ap);
    if (rc != 0) {
        client_close(c, true);
        return;
    }
    flush_out(c);
}

static void flush_out(struct client *c)
{
    while (c->out.len > 0 && c->fd >= 0) {
        ssize_t n;
        if (c->ssl != NULL) {
            if (!c->tls_done) {
                return;
            }
            ERR_clear_error();
            int r = SSL_write(c->ssl, c->out.p, (int)c->out.len);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                    return;
                }
                client_close(c, true);
                return;
            }
            n = r;
        } else {
            n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    return;
                }
                client_close(c, true);
                return;
            }
        }
        buf_consume(&c->out, (size_t)n);
    }
    if (c->out.len == 0 && c->out.cap > 65536) {
        buf_release(&c->out);
    }
}

/* ---- accounts and addresses -------------------------------------------------------------------- */

static void user_name(int account, char *out, size_t cap)
{
    snprintf(out, cap, o.user_fmt, account);
}

static void stream_header(struct client *c)
{
    sendf(c,
          "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
          o.srv[c->side].domain);
}

/* ---- life cycle of one client ---------------------------------------------------------------- */

static void on_ready(struct client *c);
static void start_slot(struct client *c);

static void client_close(struct client *c, bool failed)
{
    if (c->fd < 0) {
        return;
    }
    if (failed && c->state != CS_READY) {
        g_st.login_failures++;
        vlog("client %d (account %d) failed in state %d", c->idx, c->account, c->state);
    } else if (failed) {
        g_st.closed_by_server++;
        vlog("client %d (account %d) lost after login", c->idx, c->account);
    }
    if (c->state == CS_READY) {
        g_ready--;
    }
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
    c->fd = -1;
    g_live--;
    c->state = CS_CLOSED;
    buf_release(&c->in);
    buf_release(&c->out);
    if (failed && o.scenario == SC_LOGIN && !c->closing) {
        /* The login loop goes on with the next account; restarted from the event loop. */
        g_restart[g_nrestart++] = c->idx;
    }
}

/* Ends the stream politely and closes the socket. */
static void client_finish(struct client *c)
{
    if (c->fd < 0) {
        return;
    }
    SEND_LIT(c, "</stream:stream>");
    if (c->ssl != NULL && c->tls_done) {
        SSL_shutdown(c->ssl);
    }
    client_close(c, false);
}

static void source_address(int slot, struct sockaddr_in *src)
{
    static unsigned rotation;
    memset(src, 0, sizeof(*src));
    src->sin_family = AF_INET;
    int k = slot / o.per_addr;
    if (o.scenario == SC_LOGIN) {
        /* Every login leaves a TIME_WAIT socket here (we close first): rotating over 250
         * addresses keeps the kernel's search for a free ephemeral port short. */
        k = (int)(rotation++ % 250u);
    }
    /* 127.0.0.1 .. 127.0.0.254, then 127.0.1.1 ... */
    uint32_t host = 0x7f000001u + (uint32_t)(k / 254) * 256u + (uint32_t)(k % 254);
    src->sin_addr.s_addr = htonl(host);
}

static void client_connect(struct client *c)
{
    struct target t_own = o.srv[c->side];
    if (c->redirect_host[0] != '\0') {
        t_own.host = c->redirect_host;
        t_own.port = c->redirect_port;
    }
    const struct target *t = &t_own;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        die("socket: %s (raise the descriptor limit)", strerror(errno));
    }
    g_live++;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
#ifdef IP_BIND_ADDRESS_NO_PORT
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
    struct sockaddr_in src;
    source_address(c->idx, &src);
    if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
        g_st.conn_failures++;
        client_close(c, true);
        return;
    }
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)t->port) };
    if (inet_pton(AF_INET, t->host, &dst.sin_addr) != 1) {
        die("bad address %s", t->host);
    }
    c->state = CS_CONNECTING;
    c->in_stream = false;
    c->tls_done = false;
    c->want_session = false;
    c->closing = false;
    c->t_start = lg_now_ns();
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
    epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) != 0 && errno != EINPROGRESS) {
        g_st.conn_failures++;
        client_close(c, true);
    }
}

static void start_tls(struct client *c)
{
    c->ssl = SSL_new(g_ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_app_data(c->ssl, c);
    SSL_SESSION *sess = g_sess != NULL ? g_sess[c->account - o.first] : NULL;
    if (sess != NULL) {
        SSL_set_session(c->ssl, sess);
    }
    SSL_set_tlsext_host_name(c->ssl, o.srv[c->side].domain);
    SSL_set_connect_state(c->ssl);
    c->state = CS_HANDSHAKE;
}

/* --tls-resume: OpenSSL hands over every ticket the server sends; the newest one is kept. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct client *c = SSL_get_app_data(ssl);
    if (c == NULL || g_sess == NULL) {
        return 0;
    }
    SSL_SESSION **slot = &g_sess[c->account - o.first];
    g_st.tls_tickets += g_measuring;
    SSL_SESSION_free(*slot);
    *slot = sess;
    return 1; /* the reference is ours */
}

/* XEP-0484 HT-SHA-256-*: HMAC-SHA-256 keyed with the token over `label` (no channel binding). */
static void ht_mac(const char *token, const char *label, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), token, (int)strlen(token), (const unsigned char *)label, strlen(label), out,
         &len);
}

/* A stable XEP-0388 user-agent id per account (FAST tokens belong to one). */
static void agent_id(int account, char *out, size_t cap)
{
    snprintf(out, cap, "6c6f6164-6765-4e00-8000-%012d", account);
}

/* SASL2 with Bind 2: FAST with the account's token, or (first login) PLAIN asking for one. */
static void send_sasl2(struct client *c)
{
    char user[256], agent[64];
    user_name(c->account, user, sizeof(user));
    agent_id(c->account, agent, sizeof(agent));
    const char *token = g_token[c->account - o.first];
    struct buf msg, b64;
    buf_init(&msg, 4096);
    buf_init(&b64, 8192);
    buf_append_c(&msg, user);
    buf_append_char(&msg, 0);
    if (token[0] != '\0') {
        unsigned char mac[32];
        ht_mac(token, "Initiator", mac);
        buf_append(&msg, mac, sizeof(mac));
    } else {
        buf_reset(&msg);
        buf_append_char(&msg, 0);
        buf_append_c(&msg, user);
        buf_append_char(&msg, 0);
        buf_append_c(&msg, o.password);
    }
    lg_b64_append(&b64, msg.p, msg.len);
    sendf(c,
          "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='%s'><initial-response>%s"
          "</initial-response><user-agent id='%s'/><bind xmlns='urn:xmpp:bind:0'><tag>lg</tag>"
          "</bind>%s</authenticate>",
          token[0] ? "HT-SHA-256-NONE" : "PLAIN", buf_cstr(&b64), agent,
          token[0] ? "" : "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>");
    buf_cleanup(&msg);
    buf_cleanup(&b64);
    c->state = CS_SASL2;
}

/* <success xmlns='urn:xmpp:sasl:2'/>: the FAST proof checked, or the new token kept. */
static void handle_sasl2_success(struct client *c, struct strv el)
{
    char *token = g_token[c->account - o.first];
    struct strv tok = STRV_NULL, data = STRV_NULL;
    const char *at = memmem(el.p, el.len, "<token ", 7);
    if (token[0] == '\0') {
        struct strv rest = { at, at ? (size_t)(el.p + el.len - at) : 0 };
        if (at == NULL || !lgx_attr(rest, "token", &tok) || tok.len == 0 || tok.len >= 128) {
            g_fail_reason = "no FAST token in SASL2 success";
            client_close(c, true);
            return;
        }
        memcpy(token, tok.p, tok.len);
        token[tok.len] = '\0';
        g_tokens_missing--;
    } else {
        struct buf dec;
        buf_init(&dec, 256);
        unsigned char mac[32];
        ht_mac(token, "Responder", mac);
        bool ok = lgx_child_text(el, "additional-data", &data) && lg_b64_decode(data, &dec) == 0 &&
                  dec.len == sizeof(mac) && memcmp(dec.p, mac, sizeof(mac)) == 0;
        buf_cleanup(&dec);
        if (!ok) {
            g_fail_reason = "FAST: server proof mismatch";
            client_close(c, true);
            return;
        }
        g_st.fast_logins += g_measuring;
    }
    SEND_LIT(c, "<presence/>");
    on_ready(c);
}

static void send_auth(struct client *c)
{
    char user[256];
    user_name(c->account, user, sizeof(user));
    struct buf msg;
    buf_init(&msg, 4096);
    struct buf b64;
    buf_init(&b64, 8192);
    const char *mech;
    if (o.plain) {
        mech = "PLAIN";
        buf_append_char(&msg, 0);
        buf_append_c(&msg, user);
        buf_append_char(&msg, 0);
        buf_append_c(&msg, o.password);
    } else {
        mech = "SCRAM-SHA-1";
        lg_scram_first(&c->scram, user, &msg);
    }
    lg_b64_append(&b64, msg.p, msg.len);
    sendf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>", mech,
          buf_cstr(&b64));
    buf_cleanup(&msg);
    buf_cleanup(&b64);
    c->state = CS_AUTH;
}

static void handle_features(struct client *c, struct strv el)
{
    if (c->state == CS_HEADER) {
        if (o.tls == TLS_STARTTLS && !c->tls_done) {
            if (!lgx_contains(el, "starttls")) {
                g_fail_reason = "server offers no STARTTLS";
                client_close(c, true);
                return;
            }
            SEND_LIT(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
            c->state = CS_STARTTLS;
            return;
        }
        if (o.fast) {
            /* Not a failed login but a server without the feature: nothing to measure. */
            if (!lgx_contains(el, "urn:xmpp:sasl:2")) {
                die("not supported: the server offers no SASL2 (XEP-0388), so no FAST");
            }
            if (!lgx_contains(el, ">HT-SHA-256-NONE<")) {
                die("not supported: the server offers SASL2 but no FAST HT-SHA-256-NONE "
                    "(XEP-0484)");
            }
            send_sasl2(c);
            return;
        }
        const char *mech = o.plain ? ">PLAIN<" : ">SCRAM-SHA-1<";
        if (!lgx_contains(el, mech)) {
            g_fail_reason = o.plain ? "server offers no PLAIN" : "server offers no SCRAM-SHA-1";
            client_close(c, true);
            return;
        }
        send_auth(c);
        return;
    }
    if (c->state == CS_HEADER2 && c->resuming) {
        sendf(c, "<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%u'/>", c->previd, c->sm_h);
        c->state = CS_RESUME;
        return;
    }
    if (c->state == CS_HEADER2) {
        /* Session establishment only when the server says it is not optional. */
        c->want_session = lgx_contains(el, "urn:ietf:params:xml:ns:xmpp-session") &&
                          !lgx_contains(el, "<optional");
        sendf(c,
              "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              "<resource>lg%d</resource></bind></iq>",
              c->idx);
        c->state = CS_BIND;
        return;
    }
    g_st.protocol_errors++;
    client_close(c, true);
}

static void after_bind(struct client *c)
{
    if (c->want_session) {
        SEND_LIT(c, "<iq type='set' id='sess1'><session "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
        c->state = CS_SESSION;
        return;
    }
    if (o.scenario == SC_PRESENCE || o.scenario == SC_ROSTER || o.scenario == SC_PEP_SETUP ||
        o.scenario == SC_PEP) {
        SEND_LIT(c, "<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>");
        c->state = CS_ROSTER;
        return;
    }
    if (o.scenario == SC_MUC) {
        sendf(c,
              "<presence to='%s/u%d'><x xmlns='http://jabber.org/protocol/muc'>"
              "<history maxstanzas='0'/></x></presence>",
              g_room_jid, c->account);
        c->state = CS_JOIN;
        return;
    }
    if (o.sm) {
        SEND_LIT(c, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
        c->state = CS_SM;
        return;
    }
    SEND_LIT(c, "<presence/>");
    on_ready(c);
}

/* XEP-0198 elements: <enabled/>, <resumed/>, <failed/>, <r/>. */
static void handle_sm(struct client *c, struct strv el, struct strv name)
{
    if (strv_eq_c(name, "r")) {
        sendf(c, "<a xmlns='urn:xmpp:sm:3' h='%u'/>", c->sm_h);
    } else if (strv_eq_c(name, "enabled") && c->state == CS_SM) {
        struct strv id = STRV_NULL;
        lgx_attr(el, "id", &id);
        snprintf(c->previd, sizeof(c->previd), "%.*s", (int)id.len, id.p);
        c->sm_h = 0;
        SEND_LIT(c, "<presence/>");
        on_ready(c);
    } else if (strv_eq_c(name, "resumed") && c->state == CS_RESUME) {
        c->state = CS_READY;
        c->resuming = false;
        g_ready++;
        g_st.resumed++;
        lg_hist_add(&g_st.resume_lat, (lg_now_ns() - c->t_start) / 1000);
    } else if (strv_eq_c(name, "failed")) {
        g_st.resume_failures += c->state == CS_RESUME;
        g_fail_reason = c->state == CS_RESUME ? "resumption failed" : "stream management refused";
        client_close(c, true);
    }
}

static void handle_sasl(struct client *c, struct strv el, struct strv name)
{
    struct buf dec;
    buf_init(&dec, 65536);
    struct buf reply;
    buf_init(&reply, 65536);
    struct strv text = { el.p, 0 };
    const char *gt = memchr(el.p, '>', el.len);
    if (gt != NULL && el.p[(size_t)(gt - el.p) - 1] != '/') {
        const char *lt = memchr(gt, '<', (size_t)(el.p + el.len - gt));
        if (lt != NULL) {
            text = (struct strv){ gt + 1, (size_t)(lt - gt - 1) };
        }
    }
    if (strv_eq_c(name, "failure") || lg_b64_decode(text, &dec) != 0) {
        g_fail_reason = "authentication failed";
        client_close(c, true);
        goto out;
    }
    if (strv_eq_c(name, "challenge")) {
        if (c->state == CS_AUTH && !o.plain) {
            if (lg_scram_final(&c->scram, o.password, buf_strv(&dec), &reply) != 0) {
                g_fail_reason = "bad SCRAM server-first message";
                client_close(c, true);
                goto out;
            }
            struct buf b64;
            buf_init(&b64, 65536);
            lg_b64_append(&b64, reply.p, reply.len);
            sendf(c, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>",
                  buf_cstr(&b64));
            buf_cleanup(&b64);
            c->state = CS_SCRAM_FINAL;
            goto out;
        }
        if (c->state == CS_SCRAM_FINAL && lg_scram_verify(&c->scram, buf_strv(&dec)) == 0) {
            SEND_LIT(c, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
            goto out;
        }
        g_fail_reason = "unexpected SASL challenge";
        client_close(c, true);
        goto out;
    }
    /* success */
    if (!o.plain && dec.len > 0 && lg_scram_verify(&c->scram, buf_strv(&dec)) != 0) {
        g_fail_reason = "server signature mismatch";
        client_close(c, true);
        goto out;
    }
    c->in_stream = false;
    c->state = CS_HEADER2;
    stream_header(c);
out:
    buf_cleanup(&dec);
    buf_cleanup(&reply);
}

/* ---- scenario behaviour -------------------------------------------------------------------- */

static void send_message(struct client *c);

static void rate_wait(struct client *c)
{
    if (!c->waiting_rate) {
        c->waiting_rate = true;
        g_rate_wait[g_rate_nwait++] = c->idx;
    }
}

static void fill_window(struct client *c)
{
    while (g_sending && c->state == CS_READY && c->inflight < o.window) {
        if (o.rate > 0) {
            if (g_tokens < 1) {
                rate_wait(c);
                return;
            }
            g_tokens -= 1;
        }
        send_message(c);
    }
}

static bool is_sender(const struct client *c)
{
    if (o.scenario == SC_MSG || o.scenario == SC_S2S) {
        return true;
    }
    if (o.scenario == SC_MUC) {
        return c->idx < o.senders;
    }
    return o.scenario == SC_PEP && c->idx == 0;
}

static void send_message(struct client *c)
{
    char to[512];
    char user[256];
    const char *type = "chat";
    if (o.scenario == SC_PEP) {
        c->seq++;
        c->inflight++;
        g_st.sent++;
        /* One item id: the node keeps one item, whatever its max_items. */
        sendf(c,
              "<iq type='set' id='pub%llu'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
              "<publish node='" PEP_NODE "'><item id='current'><entry xmlns='" PEP_NODE "'>"
              "t%llu.%d.</entry></item></publish></pubsub></iq>",
              (unsigned long long)c->seq, (unsigned long long)lg_now_ns(), c->idx);
        return;
    }
    if (o.scenario == SC_MUC) {
        snprintf(to, sizeof(to), "%s", g_room_jid);
        type = "groupchat";
    } else {
        struct client *p = &g_cl[c->partner];
        user_name(p->account, user, sizeof(user));
        snprintf(to, sizeof(to), "%s@%s", user, o.srv[p->side].domain);
    }
    static char pad[4096];
    if (pad[0] == 0) {
        memset(pad, 'x', sizeof(pad) - 1);
    }
    int padn = o.body_size > 40 ? o.body_size - 40 : 0;
    if (padn > (int)sizeof(pad) - 1) {
        padn = (int)sizeof(pad) - 1;
    }
    c->seq++;
    c->inflight++;
    g_st.sent++;
    sendf(c, "<message to='%s' type='%s' id='m%llu'><body>t%llu.%d.%.*s</body></message>", to, type,
          (unsigned long long)c->seq, (unsigned long long)lg_now_ns(), c->idx, padn, pad);
}

static void handle_message(struct client *c, struct strv el)
{
    struct strv body;
    struct strv type;
    if (lgx_attr(el, "type", &type) && strv_eq_c(type, "error")) {
        /* One of ours bounced: it no longer counts against the window. */
        g_st.bounced++;
        if (g_st.bounced <= 3) {
            vlog("message error: %.*s", (int)el.len, el.p);
        }
        if (g_fail_reason == NULL) {
            g_fail_reason = "messages bounced with an error";
        }
        if (c->inflight > 0) {
            c->inflight--;
        }
        fill_window(c);
        return;
    }
    if (o.scenario == SC_PEP) {
        if (!lgx_child_text(el, "entry", &body) || body.len < 2 || body.p[0] != 't') {
            return;
        }
    } else if (!lgx_child_text(el, "body", &body) || body.len < 2 || body.p[0] != 't') {
        return;
    }
    char num[64];
    size_t n = 0;
    size_t i = 1;
    while (i < body.len && body.p[i] != '.' && n + 1 < sizeof(num)) {
        num[n++] = body.p[i++];
    }
    num[n] = 0;
    uint64_t ts = strtoull(num, NULL, 10);
    int from_slot = (int)strtol(body.p + i + 1, NULL, 10);
    uint64_t now = lg_now_ns();
    if (g_measuring) {
        g_st.delivered++;
        lg_hist_add(&g_st.msg_lat, now > ts ? (now - ts) / 1000 : 0);
    }
    if (from_slot < 0 || from_slot >= g_ncl) {
        return;
    }
    struct client *sender = &g_cl[from_slot];
    /* The window counts a message until its recipient has it; in a room, until its sender
     * sees it come back; a publish, until its result. */
    if (o.scenario == SC_PEP) {
        return;
    }
    if (o.scenario != SC_MUC || sender == c) {
        if (sender->inflight > 0) {
            sender->inflight--;
        }
        fill_window(sender);
    }
}

/* The account index in a JID made from the user format (its last digits of the local part). */
static int account_of(struct strv jid)
{
    const char *at = memchr(jid.p, '@', jid.len);
    if (at == NULL || at == jid.p) {
        return -1;
    }
    const char *p = at;
    int mult = 1;
    int v = 0;
    while (p > jid.p && p[-1] >= '0' && p[-1] <= '9' && mult < 100000000) {
        p--;
        v += (p[0] - '0') * mult;
        mult *= 10;
    }
    return p == at ? -1 : v;
}

static void handle_presence(struct client *c, struct strv el)
{
    struct strv type = STRV_NULL;
    struct strv from = STRV_NULL;
    bool typed = lgx_attr(el, "type", &type);
    lgx_attr(el, "from", &from);
    if (c->state == CS_JOIN) {
        /* Our own presence from the room carries status 110. */
        if (typed && strv_eq_c(type, "error")) {
            g_fail_reason = "room join refused";
            client_close(c, true);
            return;
        }
        if (lgx_contains(el, "code='110'") || lgx_contains(el, "code=\"110\"")) {
            if (lgx_contains(el, "code='201'") || lgx_contains(el, "code=\"201\"")) {
                /* A new room: accept the default configuration (instant room). */
                sendf(c,
                      "<iq type='set' to='%s' id='cfg1'><query "
                      "xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
                      "type='submit'/></query></iq>",
                      g_room_jid);
            }
            on_ready(c);
        }
        return;
    }
    int peer = account_of(from);
    if (!typed) {
        /* Our own presence reflected to us is not a contact's. */
        if (peer != c->account) {
            c->presences++;
            g_st.presences++;
        }
        return;
    }
    if (o.scenario == SC_PEP_SETUP && peer >= 0 && from.len <= 400) {
        pep_setup_presence(c, type, from);
        return;
    }
    if (o.scenario != SC_ROSTER || peer < 0 || from.len > 400) {
        return;
    }
    /* Offset of the contact: 1..h above us (we asked them), or below us (they asked us). */
    int h = o.contacts / 2;
    int d = ((peer - c->account) % o.sessions + o.sessions) % o.sessions;
    int bit;
    if (d >= 1 && d <= h) {
        bit = d - 1;
    } else if (d >= o.sessions - h) {
        bit = h + (o.sessions - d) - 1;
    } else {
        return;
    }
    char to[512];
    snprintf(to, sizeof(to), "%.*s", (int)from.len, from.p);
    char *slash = strchr(to, '/');
    if (slash != NULL) {
        *slash = 0;
    }
    if (strv_eq_c(type, "subscribe")) {
        sendf(c, "<presence to='%s' type='subscribed'/>", to);
        if (bit >= h) {
            /* A contact below us asked first: ask it back, for a mutual subscription. */
            sendf(c, "<presence to='%s' type='subscribe'/>", to);
        }
    } else if (strv_eq_c(type, "subscribed") && !(c->sub_mask & (1ull << bit))) {
        c->sub_mask |= 1ull << bit;
        g_st.subscribed++;
    }
}

static void handle_iq(struct client *c, struct strv el)
{
    struct strv type = STRV_NULL;
    struct strv id = STRV_NULL;
    lgx_attr(el, "type", &type);
    lgx_attr(el, "id", &id);
    if (strv_eq_c(type, "get") && lgx_contains(el, "disco#info")) {
        pep_disco(c, el, id);
        return;
    }
    if (strv_eq_c(type, "result") && id.len > 3 && memcmp(id.p, "pub", 3) == 0) {
        if (c->inflight > 0) {
            c->inflight--;
        }
        fill_window(c);
        return;
    }
    if (strv_eq_c(type, "get") || strv_eq_c(type, "set")) {
        struct strv from = STRV_NULL;
        bool has_from = lgx_attr(el, "from", &from);
        /* Roster pushes, pings: answer with a result. */
        if (has_from) {
            sendf(c, "<iq type='result' to='%.*s' id='%.*s'/>", (int)from.len, from.p, (int)id.len,
                  id.p);
        } else {
            sendf(c, "<iq type='result' id='%.*s'/>", (int)id.len, id.p);
        }
        return;
    }
    if (strv_eq_c(type, "error")) {
        if (c->state == CS_BIND || c->state == CS_SESSION || c->state == CS_ROSTER) {
            g_fail_reason = "bind/session/roster refused";
            client_close(c, true);
        } else {
            g_st.protocol_errors++;
            vlog("iq error: %.*s", (int)el.len, el.p);
        }
        return;
    }
    if (c->state == CS_BIND && strv_eq_c(id, "bind1")) {
        after_bind(c);
    } else if (c->state == CS_SESSION && strv_eq_c(id, "sess1")) {
        c->want_session = false;
        after_bind(c);
    } else if (c->state == CS_ROSTER && strv_eq_c(id, "roster1") &&
               (o.scenario == SC_PEP || o.scenario == SC_PEP_SETUP)) {
        pep_ready(c);
    } else if (c->state == CS_ROSTER && strv_eq_c(id, "roster1")) {
        SEND_LIT(c, "<presence/>");
        on_ready(c);
        if (o.scenario == SC_ROSTER && c->fd >= 0) {
            char user[256];
            for (int k = 1; k <= o.contacts / 2; k++) {
                int peer = o.first + (c->account - o.first + k) % o.sessions;
                user_name(peer, user, sizeof(user));
                sendf(c, "<presence to='%s@%s' type='subscribe'/>", user, o.srv[0].domain);
            }
        }
    }
}

#define MAX_REDIRECTS 3

/* A stream error <see-other-host>HOST:PORT</see-other-host> during login (RFC 6120 §4.9.3.19;
 * a cluster node names the account's home node): the client connects there and logs in again,
 * its login time still counted from the first connection. False when `el` is no such error. */
static bool follow_redirect(struct client *c, struct strv el)
{
    struct strv text;
    if (c->state == CS_READY || c->redirects >= MAX_REDIRECTS ||
        !lgx_child_text(el, "see-other-host", &text)) {
        return false;
    }
    const char *colon = NULL;
    for (size_t i = 0; i < text.len; i++) {
        if (text.p[i] == ':') {
            colon = text.p + i;
        }
    }
    size_t hlen = colon != NULL ? (size_t)(colon - text.p) : 0;
    char port[8];
    size_t plen = colon != NULL ? text.len - hlen - 1 : 0;
    if (hlen == 0 || hlen >= sizeof(c->redirect_host) || plen == 0 || plen >= sizeof(port)) {
        return false;
    }
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535) {
        return false;
    }
    memcpy(c->redirect_host, text.p, hlen);
    c->redirect_host[hlen] = '\0';
    c->redirect_port = (int)p;
    c->redirects++;
    g_st.redirects++;
    c->redirect_t_start = c->t_start;
    client_close(c, false);
    /* Connected from the event loop (run_loop), not inside this socket's read handler. */
    g_redirect[g_nredirect++] = c->idx;
    return true;
}

/* The clients follow_redirect closed connect to the named node. */
static void redirects_connect(void)
{
    int nr = g_nredirect;
    g_nredirect = 0;
    for (int i = 0; i < nr; i++) {
        struct client *c = &g_cl[g_redirect[i]];
        buf_reset(&c->in);
        buf_reset(&c->out);
        c->inflight = 0;
        client_connect(c);
        c->t_start = c->redirect_t_start;
    }
}

static void handle_element(struct client *c, struct strv el)
{
    struct strv name = lgx_name(el);
    if (lgx_contains(el, "urn:xmpp:sm:3") &&
        (strv_eq_c(name, "r") || strv_eq_c(name, "enabled") || strv_eq_c(name, "resumed") ||
         strv_eq_c(name, "failed") || strv_eq_c(name, "a"))) {
        handle_sm(c, el, name);
        return;
    }
    if (strv_eq_c(name, "message") || strv_eq_c(name, "presence") || strv_eq_c(name, "iq")) {
        c->sm_h++;
    }
    if (strv_eq_c(name, "features")) {
        handle_features(c, el);
    } else if (strv_eq_c(name, "proceed") && c->state == CS_STARTTLS) {
        start_tls(c);
    } else if (strv_eq_c(name, "challenge") || strv_eq_c(name, "success") ||
               strv_eq_c(name, "failure")) {
        if (c->state == CS_STARTTLS) {
            g_fail_reason = "STARTTLS refused";
            client_close(c, true);
            return;
        }
        if (c->state == CS_SASL2 && strv_eq_c(name, "success") &&
            lgx_contains(el, "urn:xmpp:sasl:2")) {
            handle_sasl2_success(c, el);
            return;
        }
        handle_sasl(c, el, name);
    } else if (strv_eq_c(name, "message")) {
        handle_message(c, el);
    } else if (strv_eq_c(name, "presence")) {
        handle_presence(c, el);
    } else if (strv_eq_c(name, "iq")) {
        handle_iq(c, el);
    } else if (strv_eq_c(name, "error") && follow_redirect(c, el)) {
        return;
    } else if (strv_eq_c(name, "error")) {
        vlog("stream error: %.*s", (int)el.len, el.p);
        g_fail_reason = "stream error";
        client_close(c, true);
    }
}

static void process_input(struct client *c)
{
    size_t off = 0;
    while (c->fd >= 0 && off < c->in.len) {
        struct strv el;
        size_t used = 0;
        enum lgx_kind k = lgx_next(c->in.p + off, c->in.len - off, c->in_stream, &el, &used);
        if (k == LGX_NONE) {
            break;
        }
        off += used;
        if (k == LGX_ERROR) {
            g_st.protocol_errors++;
            g_fail_reason = "malformed XML from server";
            client_close(c, true);
            return;
        }
        if (k == LGX_STREAM_OPEN) {
            c->in_stream = true;
            continue;
        }
        if (k == LGX_STREAM_END) {
            client_close(c, c->state != CS_READY || !c->closing);
            return;
        }
        bool proceed = strv_eq_c(lgx_name(el), "proceed");
        handle_element(c, el);
        if (proceed) {
            /* Bytes after <proceed/> belong to TLS: there are none before our ClientHello. */
            break;
        }
    }
    if (c->fd >= 0) {
        buf_consume(&c->in, off);
        if (c->in.len == 0 && c->in.cap > 65536) {
            buf_release(&c->in);
        }
    }
}

static int read_some(struct client *c)
{
    for (;;) {
        char *dst = buf_reserve(&c->in, 16384);
        if (dst == NULL) {
            return -1;
        }
        ssize_t n;
        if (c->ssl != NULL) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, dst, 16384);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    return 0;
                }
                return -1;
            }
            n = r;
        } else {
            n = recv(c->fd, dst, 16384, 0);
            if (n == 0) {
                return -1;
            }
            if (n < 0) {
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            }
        }
        buf_commit(&c->in, (size_t)n);
        if (c->state == CS_STARTTLS) {
            /* Stop at <proceed/>: what follows must go to TLS. */
            return 0;
        }
        if (c->ssl == NULL && (size_t)n < 16384) {
            return 0;
        }
    }
}

static void client_event(struct client *c, uint32_t events)
{
    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            g_st.conn_failures++;
            client_close(c, true);
            return;
        }
        if (!(events & EPOLLOUT)) {
            return;
        }
        if (o.tls == TLS_DIRECT) {
            start_tls(c);
        } else {
            c->state = CS_HEADER;
            stream_header(c);
        }
    }
    for (int round = 0; round < 64 && c->fd >= 0; round++) {
        if (c->state == CS_HANDSHAKE) {
            ERR_clear_error();
            int r = SSL_do_handshake(c->ssl);
            if (r != 1) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                    return;
                }
                g_fail_reason = "TLS handshake failed";
                client_close(c, true);
                return;
            }
            c->tls_done = true;
            g_st.tls_resumed += g_measuring && SSL_session_reused(c->ssl);
            c->state = CS_HEADER;
            c->in_stream = false;
            buf_reset(&c->in);
            stream_header(c);
        }
        flush_out(c);
        if (c->fd < 0) {
            return;
        }
        enum cstate before = c->state;
        if (read_some(c) != 0) {
            process_input(c);
            client_close(c, !c->closing);
            return;
        }
        process_input(c);
        /* STARTTLS switches the transport inside processing; run the handshake now. */
        if (c->fd < 0 || !(c->state == CS_HANDSHAKE && before != CS_HANDSHAKE)) {
            if (c->ssl == NULL || SSL_pending(c->ssl) == 0) {
                return;
            }
        }
    }
}

/* ---- scenario drivers ------------------------------------------------------------------------ */

static int g_next_account;
static uint64_t g_logins_target;

static void on_ready(struct client *c)
{
    c->state = CS_READY;
    g_ready++;
    uint64_t now = lg_now_ns();
    g_st.logins++;
    if (o.scenario != SC_LOGIN || g_measuring) {
        lg_hist_add(&g_st.login_lat, (now - c->t_start) / 1000);
    }
    if (o.scenario == SC_LOGIN) {
        client_finish(c);
        start_slot(c);
    } else if (is_sender(c)) {
        fill_window(c);
    }
}

static void start_slot(struct client *c)
{
    if (g_stop || lg_now_ns() >= g_deadline) {
        return;
    }
    if (o.scenario == SC_LOGIN) {
        if (!g_measuring && g_logins_target == 0) {
            return;
        }
        c->account = o.first + g_next_account;
        g_next_account = (g_next_account + 1) % o.accounts;
    }
    buf_reset(&c->in);
    buf_reset(&c->out);
    c->inflight = 0;
    client_connect(c);
}

static void refill_tokens(void)
{
    if (o.rate <= 0) {
        return;
    }
    uint64_t now = lg_now_ns();
    g_tokens += (double)(now - g_token_t) / 1e9 * o.rate;
    if (g_tokens > o.rate / 100 + 1) {
        g_tokens = o.rate / 100 + 1; /* at most 10 ms of burst */
    }
    g_token_t = now;
    int n = g_rate_nwait;
    g_rate_nwait = 0;
    for (int i = 0; i < n; i++) {
        struct client *c = &g_cl[g_rate_wait[i]];
        c->waiting_rate = false;
        fill_window(c);
    }
}

/* Fails logins that take longer than --login-timeout (checked once a second). */
static void expire_logins(uint64_t now)
{
    static uint64_t last;
    if (now - last < 1000000000ull) {
        return;
    }
    last = now;
    uint64_t limit = (uint64_t)(o.login_timeout * 1e9);
    for (int i = 0; i < g_ncl; i++) {
        struct client *c = &g_cl[i];
        if (c->fd >= 0 && c->state != CS_READY && now - c->t_start > limit) {
            if (g_fail_reason == NULL) {
                g_fail_reason = "login timed out";
            }
            client_close(c, true);
        }
    }
}

/* Runs the event loop until `done` says so or `until_ns` passes. */
static void run_loop(bool (*done)(void), uint64_t until_ns)
{
    struct epoll_event evs[512];
    while (!g_stop) {
        uint64_t now = lg_now_ns();
        expire_logins(now);
        if (now >= until_ns || now >= g_deadline || (done != NULL && done())) {
            return;
        }
        int timeout = o.rate > 0 ? 1 : 50;
        int n = epoll_wait(g_ep, evs, 512, timeout);
        for (int i = 0; i < n; i++) {
            client_event(evs[i].data.ptr, evs[i].events);
        }
        refill_tokens();
        int nr = g_nrestart;
        if (nr > 0) {
            memcpy(g_restart2, g_restart, (size_t)nr * sizeof(int));
            g_nrestart = 0;
            for (int i = 0; i < nr; i++) {
                start_slot(&g_cl[g_restart2[i]]);
            }
        }
        if (g_nredirect > 0) {
            redirects_connect();
        }
    }
}

static int g_login_goal;

static bool all_logged_in(void)
{
    return g_ready >= g_login_goal || g_ready + (int)g_st.login_failures >= g_login_goal;
}

/* Logs in clients [from, to) with the configured concurrency. */
static void login_range(int from, int to)
{
    int next = from;
    g_login_goal = g_ready + (to - from);
    while (!g_stop && lg_now_ns() < g_deadline) {
        while (next < to && g_live - g_ready < o.concurrency) {
            start_slot(&g_cl[next]);
            next++;
        }
        if (next >= to) {
            break;
        }
        run_loop(NULL, lg_now_ns() + 20000000ull);
    }
    run_loop(all_logged_in, g_deadline);
}

static int g_pids_side;

/* The CPU seconds of each side's processes at the last server_cpu() (--pid, --pid2). */
static double g_cpu_side[2];

static double server_cpu(void)
{
    double total = 0;
    for (int s = 0; s < 2; s++) {
        if (o.npids[s] > 0) {
            double v = lg_proc_cpu(o.pids[s], o.npids[s]);
            if (v < 0) {
                return -1;
            }
            g_cpu_side[s] = v;
            total += v;
        }
    }
    return total;
}

static long server_rss(void)
{
    if (o.npids[g_pids_side] == 0) {
        return -1;
    }
    return lg_proc_rss_kb(o.pids[g_pids_side], o.npids[g_pids_side]);
}

static void print_common(double secs)
{
    printf(" login_failures=%llu conn_failures=%llu protocol_errors=%llu bounced=%llu lost=%llu "
           "secs=%.2f",
           (unsigned long long)g_st.login_failures, (unsigned long long)g_st.conn_failures,
           (unsigned long long)g_st.protocol_errors, (unsigned long long)g_st.bounced,
           (unsigned long long)g_st.closed_by_server, secs);
    if (g_fail_reason != NULL) {
        printf(" first_error=\"%s\"", g_fail_reason);
    }
    uint64_t computed;
    uint64_t cached;
    lg_scram_stats(&computed, &cached);
    printf(" client_pbkdf2=%llu\n", (unsigned long long)computed);
}

static void close_all(void)
{
    for (int i = 0; i < g_ncl; i++) {
        if (g_cl[i].fd >= 0) {
            g_cl[i].closing = true;
            client_finish(&g_cl[i]);
        }
    }
}

static bool all_tokens(void)
{
    return g_tokens_missing <= 0;
}

static int scenario_login(void)
{
    g_logins_target = 1;
    int conc = o.concurrency < o.sessions ? o.concurrency : o.sessions;
    if (o.accounts <= 0) {
        o.accounts = o.sessions;
    }
    if (o.tls_resume) {
        g_sess = xcalloc((size_t)o.accounts, sizeof(*g_sess));
    }
    if (o.fast) {
        g_token = xcalloc((size_t)o.accounts, sizeof(*g_token));
        g_tokens_missing = o.accounts;
    }
    /* Warm-up: fill the client-side SCRAM cache and the server's caches (--fast: until every
     * account holds a token; --tls-resume: a ticket). */
    g_measuring = false;
    uint64_t end = lg_now_ns() + (uint64_t)(o.warmup * 1e9);
    for (int i = 0; i < conc; i++) {
        start_slot(&g_cl[i]);
    }
    run_loop(NULL, end);
    if (o.fast) {
        run_loop(all_tokens, lg_now_ns() + (uint64_t)(o.timeout * 1e9));
        if (g_tokens_missing > 0) {
            die("FAST: %d accounts got no token during the warm-up", g_tokens_missing);
        }
    }
    g_st.logins = 0;
    g_st.login_failures = 0;
    memset(&g_st.login_lat, 0, sizeof(g_st.login_lat));
    g_measuring = true;
    uint64_t t1 = lg_now_ns();
    double cpu1 = server_cpu();
    run_loop(NULL, t1 + (uint64_t)(o.duration * 1e9));
    g_logins_target = 0;
    double secs = (double)(lg_now_ns() - t1) / 1e9;
    double cpu2 = server_cpu();
    uint64_t logins = g_st.logins;
    g_measuring = false;
    close_all();
    printf("RESULT scenario=login tls=%s mech=%s concurrency=%d logins=%llu logins_per_s=%.1f "
           "login_p50_ms=%.2f login_p99_ms=%.2f",
           o.tls == TLS_STARTTLS ? "starttls"
           : o.tls == TLS_DIRECT ? "direct"
                                 : "none",
           o.fast    ? "FAST-HT-SHA-256-NONE"
           : o.plain ? "PLAIN"
                     : "SCRAM-SHA-1",
           conc, (unsigned long long)logins, (double)logins / secs,
           lg_hist_quantile(&g_st.login_lat, 0.5) / 1000,
           lg_hist_quantile(&g_st.login_lat, 0.99) / 1000);
    if (cpu1 >= 0 && logins > 0) {
        printf(" server_cpu_s=%.2f cpu_us_per_login=%.1f", cpu2 - cpu1,
               (cpu2 - cpu1) * 1e6 / (double)logins);
    }
    /* What share of the logins resumed TLS, or went through FAST (the rest would be a bug). */
    printf(" tls_resumed=%llu tls_tickets=%llu fast_logins=%llu",
           (unsigned long long)g_st.tls_resumed, (unsigned long long)g_st.tls_tickets,
           (unsigned long long)g_st.fast_logins);
    print_common(secs);
    return logins > 0 ? 0 : 1;
}

static bool everyone_closed(void)
{
    return g_live == 0;
}

static void sleep_loop(double secs)
{
    run_loop(NULL, lg_now_ns() + (uint64_t)(secs * 1e9));
}

static int scenario_idle(void)
{
    long rss0 = server_rss();
    uint64_t t1 = lg_now_ns();
    login_range(0, o.sessions);
    double login_secs = (double)(lg_now_ns() - t1) / 1e9;
    int held = g_ready;
    sleep_loop(o.hold);
    long rss1 = server_rss();
    int still = g_ready;
    close_all();
    run_loop(everyone_closed, lg_now_ns() + 2000000000ull);
    /* Give the server time to notice the closed connections and free them. */
    double settle = o.hold < 3 ? o.hold : 3;
    struct timespec ts = { (time_t)settle, (long)((settle - (double)(time_t)settle) * 1e9) };
    nanosleep(&ts, NULL);
    long rss2 = server_rss();
    printf("RESULT scenario=idle sessions=%d held=%d still_open=%d logins_per_s=%.1f "
           "login_p50_ms=%.2f login_p99_ms=%.2f",
           o.sessions, held, still, (double)held / login_secs,
           lg_hist_quantile(&g_st.login_lat, 0.5) / 1000,
           lg_hist_quantile(&g_st.login_lat, 0.99) / 1000);
    if (rss0 >= 0 && rss1 >= 0 && held > 0) {
        printf(" rss_before_kb=%ld rss_loaded_kb=%ld rss_after_kb=%ld kb_per_session=%.2f "
               "churn_ratio=%.3f",
               rss0, rss1, rss2, (double)(rss1 - rss0) / held,
               rss0 > 0 ? (double)rss2 / (double)rss0 : 0);
    }
    print_common(login_secs);
    return held == o.sessions && still == held ? 0 : 1;
}

static int scenario_traffic_measure(void);
static bool all_resumed(void)
{
    return g_ready + (int)g_st.login_failures >= g_login_goal;
}

/* resume: N sessions with XEP-0198 resumption; each loses its connection (closed without a
 * closing tag) and resumes on a new one (TCP, STARTTLS, SASL, <resume/>): the latency is from
 * the new connect to <resumed/>. */
static int scenario_resume(void)
{
    login_range(0, o.sessions);
    int held = g_ready;
    sleep_loop(o.hold);
    uint64_t t1 = lg_now_ns();
    int next = 0;
    g_login_goal = g_ready;
    while (!g_stop && lg_now_ns() < g_deadline && next < o.sessions) {
        while (next < o.sessions && g_ready + o.concurrency > g_login_goal) {
            struct client *c = &g_cl[next++];
            if (c->state != CS_READY) {
                continue;
            }
            client_close(c, false); /* the loss: no </stream:stream> */
            c->resuming = true;
            start_slot(c);
        }
        run_loop(NULL, lg_now_ns() + 20000000ull);
    }
    run_loop(all_resumed, g_deadline);
    double secs = (double)(lg_now_ns() - t1) / 1e9;
    printf("RESULT scenario=resume sessions=%d held=%d resumed=%llu resume_failures=%llu "
           "resumes_per_s=%.1f resume_p50_ms=%.2f resume_p99_ms=%.2f",
           o.sessions, held, (unsigned long long)g_st.resumed,
           (unsigned long long)g_st.resume_failures, (double)g_st.resumed / secs,
           lg_hist_quantile(&g_st.resume_lat, 0.5) / 1000,
           lg_hist_quantile(&g_st.resume_lat, 0.99) / 1000);
    print_common(secs);
    close_all();
    run_loop(everyone_closed, lg_now_ns() + 2000000000ull);
    return (int)g_st.resumed == held && held == o.sessions ? 0 : 1;
}

static int scenario_traffic(void)
{
    /* msg / s2s: pairs (2i, 2i+1); muc: occupants, the first alone as it creates the room. */
    if (o.scenario == SC_MUC) {
        login_range(0, 1);
        sleep_loop(0.5);
        login_range(1, g_ncl);
    } else {
        login_range(0, g_ncl);
    }
    if (g_ready < g_ncl) {
        printf("RESULT scenario=%s ready=%d of=%d", scenario_names[o.scenario], g_ready, g_ncl);
        print_common(elapsed_s());
        close_all();
        return 1;
    }
    return scenario_traffic_measure();
}

/* The measured part of the traffic scenarios: senders fill their windows, warm-up, measure. */
static int scenario_traffic_measure(void)
{
    g_sending = true;
    g_token_t = lg_now_ns();
    for (int i = 0; i < g_ncl; i++) {
        if (is_sender(&g_cl[i])) {
            fill_window(&g_cl[i]);
        }
    }
    sleep_loop(o.warmup);
    g_measuring = true;
    uint64_t t1 = lg_now_ns();
    double cpu1 = server_cpu();
    double side2_cpu1 = g_cpu_side[1];
    uint64_t sent1 = g_st.sent;
    sleep_loop(o.duration);
    double secs = (double)(lg_now_ns() - t1) / 1e9;
    double cpu2 = server_cpu();
    g_measuring = false;
    g_sending = false;
    uint64_t delivered = g_st.delivered;
    uint64_t sent = g_st.sent - sent1;
    /* Let in-flight messages land so the server is not closing busy connections. */
    sleep_loop(0.5);
    int ready = g_ready;
    close_all();
    printf("RESULT scenario=%s clients=%d senders=%d window=%d rate=%.0f sent=%llu "
           "delivered=%llu delivered_per_s=%.1f lat_p50_ms=%.3f lat_p99_ms=%.3f "
           "lat_p999_ms=%.3f still_open=%d",
           scenario_names[o.scenario], g_ncl,
           o.scenario == SC_MUC ? o.senders : (o.scenario == SC_PEP ? 1 : g_ncl), o.window, o.rate,
           (unsigned long long)sent, (unsigned long long)delivered, (double)delivered / secs,
           lg_hist_quantile(&g_st.msg_lat, 0.5) / 1000,
           lg_hist_quantile(&g_st.msg_lat, 0.99) / 1000,
           lg_hist_quantile(&g_st.msg_lat, 0.999) / 1000, ready);
    if (cpu1 >= 0 && delivered > 0) {
        printf(" server_cpu_s=%.2f cpu_us_per_delivery=%.2f", cpu2 - cpu1,
               (cpu2 - cpu1) * 1e6 / (double)delivered);
    }
    if (cpu1 >= 0 && o.npids[1] > 0) {
        /* Of which the --pid2 processes (e.g. nats-server beside cluster nodes). */
        printf(" pid2_cpu_s=%.2f", g_cpu_side[1] - side2_cpu1);
    }
    if (g_st.redirects > 0) {
        printf(" redirects=%llu", (unsigned long long)g_st.redirects);
    }
    print_common(secs);
    return delivered > 0 && ready == g_ncl ? 0 : 1;
}

static uint64_t g_presence_goal;

static bool presences_done(void)
{
    return g_st.presences >= g_presence_goal && all_logged_in();
}

static bool subscriptions_done(void)
{
    return g_st.subscribed >= (uint64_t)o.sessions * (uint64_t)(o.contacts / 2) * 2;
}

static int scenario_presence(void)
{
    /* Every user i has contacts i±1..i±contacts/2; when all are online each has received one
     * available presence per contact (plus its own from other resources: none). Users logging in
     * later receive the presences of those online, and those online receive theirs: in total
     * sessions * contacts presences. */
    g_presence_goal = (uint64_t)o.sessions * (uint64_t)o.contacts;
    uint64_t t1 = lg_now_ns();
    double cpu1 = server_cpu();
    login_range(0, o.sessions);
    run_loop(presences_done, g_deadline);
    double secs = (double)(lg_now_ns() - t1) / 1e9;
    double cpu2 = server_cpu();
    int ready = g_ready;
    close_all();
    printf("RESULT scenario=presence sessions=%d contacts=%d ready=%d logins_per_s=%.1f "
           "login_p50_ms=%.2f login_p99_ms=%.2f presences=%llu expected=%llu "
           "presences_per_s=%.1f",
           o.sessions, o.contacts, ready, (double)ready / secs,
           lg_hist_quantile(&g_st.login_lat, 0.5) / 1000,
           lg_hist_quantile(&g_st.login_lat, 0.99) / 1000, (unsigned long long)g_st.presences,
           (unsigned long long)g_presence_goal, (double)g_st.presences / secs);
    if (cpu1 >= 0 && ready > 0) {
        printf(" server_cpu_s=%.2f cpu_us_per_login=%.1f", cpu2 - cpu1,
               (cpu2 - cpu1) * 1e6 / (double)ready);
    }
    print_common(secs);
    return ready == o.sessions && g_st.presences >= g_presence_goal ? 0 : 1;
}

static int scenario_roster(void)
{
    login_range(0, o.sessions);
    run_loop(subscriptions_done, g_deadline);
    uint64_t want = (uint64_t)o.sessions * (uint64_t)(o.contacts / 2) * 2;
    int ready = g_ready;
    sleep_loop(0.5);
    close_all();
    printf("RESULT scenario=roster-setup sessions=%d contacts=%d ready=%d subscribed=%llu "
           "expected=%llu",
           o.sessions, o.contacts, ready, (unsigned long long)g_st.subscribed,
           (unsigned long long)want);
    print_common(elapsed_s());
    return g_st.subscribed >= want ? 0 : 1;
}

/* ---- pep ------------------------------------------------------------------------------------- */

static void pep_caps_init(void)
{
    /* XEP-0115 §5.1 of: identity client/pc, features caps, disco#info, the node and +notify. */
    static const char s[] =
        "client/pc//loadgen<http://jabber.org/protocol/caps<"
        "http://jabber.org/protocol/disco#info<" PEP_NODE "<" PEP_NODE "+notify<";
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s, sizeof(s) - 1, md);
    struct buf b;
    buf_init(&b, 64);
    lg_b64_append(&b, md, sizeof(md));
    snprintf(g_pep_ver, sizeof(g_pep_ver), "%.*s", (int)b.len, b.p);
    buf_cleanup(&b);
}

static void pep_publisher(char *out, size_t cap)
{
    char user[256];
    user_name(o.first, user, sizeof(user));
    snprintf(out, cap, "%s@%s", user, o.srv[0].domain);
}

static void pep_ready(struct client *c)
{
    sendf(c,
          "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='" PEP_CAPS_NODE
          "' ver='%s'/></presence>",
          g_pep_ver);
    on_ready(c);
    if (o.scenario == SC_PEP_SETUP && c->idx != 0 && c->fd >= 0) {
        char pub[512];
        pep_publisher(pub, sizeof(pub));
        sendf(c, "<presence to='%s' type='subscribe'/>", pub);
    }
}

static void pep_disco(struct client *c, struct strv el, struct strv id)
{
    struct strv from = STRV_NULL;
    lgx_attr(el, "from", &from);
    sendf(c,
          "<iq type='result' to='%.*s' id='%.*s'><query "
          "xmlns='http://jabber.org/protocol/disco#info' node='" PEP_CAPS_NODE "#%s'>"
          "<identity category='client' type='pc' name='loadgen'/>"
          "<feature var='http://jabber.org/protocol/caps'/>"
          "<feature var='http://jabber.org/protocol/disco#info'/>"
          "<feature var='" PEP_NODE "'/><feature var='" PEP_NODE "+notify'/></query></iq>",
          (int)from.len, from.p, (int)id.len, id.p, g_pep_ver);
}

/* pep-setup: the publisher and each contact subscribe to each other (a star of 'both'). */
static void pep_setup_presence(struct client *c, struct strv type, struct strv from)
{
    char to[512];
    snprintf(to, sizeof(to), "%.*s", (int)from.len, from.p);
    char *slash = strchr(to, '/');
    if (slash != NULL) {
        *slash = 0;
    }
    if (strv_eq_c(type, "subscribe")) {
        sendf(c, "<presence to='%s' type='subscribed'/>", to);
        if (c->idx == 0) {
            sendf(c, "<presence to='%s' type='subscribe'/>", to);
        }
    } else if (strv_eq_c(type, "subscribed")) {
        g_st.subscribed++;
    }
}

static bool pep_setup_done(void)
{
    return g_st.subscribed >= 2 * (uint64_t)(g_ncl - 1);
}

static int scenario_pep_setup(void)
{
    login_range(0, g_ncl);
    run_loop(pep_setup_done, g_deadline);
    int ready = g_ready;
    sleep_loop(0.5);
    close_all();
    printf("RESULT scenario=pep-setup contacts=%d ready=%d subscribed=%llu expected=%llu",
           g_ncl - 1, ready, (unsigned long long)g_st.subscribed,
           (unsigned long long)(2 * (uint64_t)(g_ncl - 1)));
    print_common(elapsed_s());
    return pep_setup_done() ? 0 : 1;
}

static bool pep_contacts_seen(void)
{
    return g_cl[0].presences >= g_ncl - 1 && all_logged_in();
}

/* pep: the contacts log in, then the publisher; once it has every contact's presence (and the
 * server their capabilities), it publishes with W publishes in flight; each notification a
 * contact receives is a delivery. */
static int scenario_pep(void)
{
    login_range(1, g_ncl);
    run_loop(all_logged_in, g_deadline);
    login_range(0, 1);
    run_loop(pep_contacts_seen, g_deadline);
    sleep_loop(1.0); /* the server's capabilities queries, answered */
    if (g_ready < g_ncl) {
        printf("RESULT scenario=pep ready=%d of=%d", g_ready, g_ncl);
        print_common(elapsed_s());
        close_all();
        return 1;
    }
    return scenario_traffic_measure();
}

/* ---- setup ------------------------------------------------------------------------------------ */

static void parse_pids(const char *arg, int side)
{
    char *copy = xstrdup(arg);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (o.npids[side] >= MAX_PIDS) {
            die("too many pids");
        }
        o.pids[side][o.npids[side]++] = (int)strtol(tok, NULL, 10);
    }
    free(copy);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen -s SCENARIO [options]\n"
            "scenarios: login idle msg presence roster-setup muc s2s pep-setup pep resume\n"
            "  -H HOST -p PORT -D DOMAIN   server (default 127.0.0.1 5222 localhost)\n"
            "  --host2 --port2 --domain2   second server (s2s: receivers log in there)\n"
            "  --tls starttls|direct|none  (default starttls)   --plain  SASL PLAIN\n"
            "  -u FMT  local part format, %%d = index (bench%%d)   -P PASSWORD (benchpass)\n"
            "  -n N     login: accounts cycled; idle/presence/roster: users; msg/s2s: pairs;\n"
            "           muc: occupants; pep/pep-setup: the publisher's contacts\n"
            "  --first K  first account index   -c N  concurrent logins (100)\n"
            "  -t SECS  measured time (10)   --warmup SECS (2)   --hold SECS (idle, 3)\n"
            "  -w N     messages in flight per sender (1)   -r RATE  total messages/s cap\n"
            "  --contacts N (20)  --senders N (muc, 1)  --room JID (muc)  --body N bytes (40)\n"
            "  --pid PID[,PID]  server processes for CPU and RSS   --pid2 for the second server\n"
            "  --per-addr N  connections per source address 127.0.0.x (90)\n"
            "  --timeout SECS  hard limit of the whole run (120)   -v  verbose\n"
            "  --login-timeout SECS  a login taking longer fails (30)\n"
            "  --sm  enable XEP-0198 with resumption after binding (always for resume)\n"
            "  --tls-resume  login: resume TLS with each account's last session ticket\n"
            "  --fast  login: SASL2 + Bind 2 with a FAST token (HT-SHA-256-NONE), fetched by a\n"
            "          PLAIN login asking for it during the warm-up\n"
            "Prints one line 'RESULT key=value ...'; exit 0 ok, 1 the run failed, 2 usage.\n");
}

static void parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "host2", required_argument, NULL, 1 },
        { "port2", required_argument, NULL, 2 },
        { "domain2", required_argument, NULL, 3 },
        { "tls", required_argument, NULL, 4 },
        { "plain", no_argument, NULL, 5 },
        { "first", required_argument, NULL, 6 },
        { "warmup", required_argument, NULL, 7 },
        { "hold", required_argument, NULL, 8 },
        { "contacts", required_argument, NULL, 9 },
        { "senders", required_argument, NULL, 10 },
        { "room", required_argument, NULL, 11 },
        { "body", required_argument, NULL, 12 },
        { "pid", required_argument, NULL, 13 },
        { "pid2", required_argument, NULL, 14 },
        { "per-addr", required_argument, NULL, 15 },
        { "timeout", required_argument, NULL, 16 },
        { "login-timeout", required_argument, NULL, 17 },
        { "sm", no_argument, NULL, 18 },
        { "tls-resume", no_argument, NULL, 19 },
        { "fast", no_argument, NULL, 20 },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 },
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "s:H:p:D:u:P:n:c:t:w:r:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': {
            bool found = false;
            for (size_t i = 0; i < sizeof(scenario_names) / sizeof(scenario_names[0]); i++) {
                if (strcmp(optarg, scenario_names[i]) == 0) {
                    o.scenario = (enum scenario)i;
                    found = true;
                }
            }
            if (!found) {
                die("unknown scenario %s", optarg);
            }
            break;
        }
        case 'H':
            o.srv[0].host = optarg;
            break;
        case 'p':
            o.srv[0].port = (int)strtol(optarg, NULL, 10);
            break;
        case 'D':
            o.srv[0].domain = optarg;
            break;
        case 1:
            o.srv[1].host = optarg;
            break;
        case 2:
            o.srv[1].port = (int)strtol(optarg, NULL, 10);
            break;
        case 3:
            o.srv[1].domain = optarg;
            break;
        case 4:
            if (strcmp(optarg, "starttls") == 0) {
                o.tls = TLS_STARTTLS;
            } else if (strcmp(optarg, "direct") == 0) {
                o.tls = TLS_DIRECT;
            } else if (strcmp(optarg, "none") == 0) {
                o.tls = TLS_NONE;
            } else {
                die("--tls: starttls, direct or none");
            }
            break;
        case 5:
            o.plain = true;
            break;
        case 'u':
            o.user_fmt = optarg;
            break;
        case 'P':
            o.password = optarg;
            break;
        case 'n':
            o.sessions = (int)strtol(optarg, NULL, 10);
            break;
        case 6:
            o.first = (int)strtol(optarg, NULL, 10);
            break;
        case 'c':
            o.concurrency = (int)strtol(optarg, NULL, 10);
            break;
        case 't':
            o.duration = strtod(optarg, NULL);
            break;
        case 7:
            o.warmup = strtod(optarg, NULL);
            break;
        case 8:
            o.hold = strtod(optarg, NULL);
            break;
        case 'w':
            o.window = (int)strtol(optarg, NULL, 10);
            break;
        case 'r':
            o.rate = strtod(optarg, NULL);
            break;
        case 9:
            o.contacts = (int)strtol(optarg, NULL, 10);
            break;
        case 10:
            o.senders = (int)strtol(optarg, NULL, 10);
            break;
        case 11:
            o.room = optarg;
            break;
        case 12:
            o.body_size = (int)strtol(optarg, NULL, 10);
            break;
        case 13:
            parse_pids(optarg, 0);
            break;
        case 14:
            parse_pids(optarg, 1);
            break;
        case 15:
            o.per_addr = (int)strtol(optarg, NULL, 10);
            break;
        case 16:
            o.timeout = strtod(optarg, NULL);
            break;
        case 17:
            o.login_timeout = strtod(optarg, NULL);
            break;
        case 18:
            o.sm = true;
            break;
        case 19:
            o.tls_resume = true;
            break;
        case 20:
            o.fast = true;
            break;
        case 'v':
            o.verbose = true;
            break;
        case 'h':
            usage();
            exit(0);
        default:
            usage();
            exit(2);
        }
    }
    if (optind != argc || o.sessions <= 0 || o.concurrency <= 0 || o.window <= 0 ||
        o.per_addr <= 0 || o.duration <= 0 || o.timeout <= 0 || o.srv[0].port <= 0) {
        usage();
        exit(2);
    }
    if ((o.tls_resume || o.fast) && o.scenario != SC_LOGIN) {
        die("--tls-resume and --fast are login options");
    }
    if (o.fast && (o.plain || o.tls == TLS_NONE)) {
        die("--fast fetches its tokens with PLAIN over TLS: not with --plain or --tls none");
    }
    if (o.scenario == SC_S2S && (o.srv[1].port <= 0 || o.srv[1].domain == NULL)) {
        die("s2s needs --port2 and --domain2");
    }
    if (o.scenario == SC_MUC && o.room == NULL) {
        die("muc needs --room ROOM@SERVICE");
    }
    if ((o.scenario == SC_PRESENCE || o.scenario == SC_ROSTER) &&
        (o.contacts < 2 || o.contacts % 2 != 0 || o.contacts >= o.sessions || o.contacts > 64)) {
        die("--contacts must be even, at most 64 and below -n");
    }
    if (o.scenario == SC_MUC && (o.senders <= 0 || o.senders > o.sessions)) {
        die("--senders must be 1..-n");
    }
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void raise_nofile(int need)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < (long)need + 64) {
        die("need %d descriptors, the limit is %ld", need + 64, (long)rl.rlim_cur);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    if (o.scenario == SC_RESUME) {
        o.sm = true;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* The whole run stops by itself: the deadline, and an alarm as a last resort. */
    alarm((unsigned)o.timeout + 30);

    switch (o.scenario) {
    case SC_LOGIN:
        g_ncl = o.concurrency < o.sessions ? o.concurrency : o.sessions;
        break;
    case SC_MSG:
    case SC_S2S:
        g_ncl = 2 * o.sessions;
        break;
    case SC_PEP_SETUP:
    case SC_PEP:
        g_ncl = o.sessions + 1; /* the publisher and its contacts */
        pep_caps_init();
        break;
    default:
        g_ncl = o.sessions;
        break;
    }
    raise_nofile(g_ncl);
    if (o.room != NULL) {
        snprintf(g_room_jid, sizeof(g_room_jid), "%s", o.room);
    }

    g_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
    if (o.tls_resume) {
        SSL_CTX_set_session_cache_mode(g_ctx,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(g_ctx, new_session);
    } else {
        SSL_CTX_set_options(g_ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
    }
    SSL_CTX_set_mode(g_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                SSL_MODE_RELEASE_BUFFERS);
    g_ep = epoll_create1(EPOLL_CLOEXEC);

    g_cl = xcalloc((size_t)g_ncl, sizeof(*g_cl));
    g_rate_wait = xcalloc((size_t)g_ncl, sizeof(int));
    g_restart = xcalloc((size_t)g_ncl, sizeof(int));
    g_redirect = xcalloc((size_t)g_ncl, sizeof(int));
    g_restart2 = xcalloc((size_t)g_ncl, sizeof(int));
    for (int i = 0; i < g_ncl; i++) {
        struct client *c = &g_cl[i];
        c->idx = i;
        c->fd = -1;
        c->account = o.first + i;
        buf_init(&c->in, IN_MAX);
        buf_init(&c->out, OUT_MAX);
        if (o.scenario == SC_MSG || o.scenario == SC_S2S) {
            c->partner = i ^ 1;
            if (o.scenario == SC_S2S) {
                /* Odd clients live on the second server; both servers use the same names. */
                c->side = i & 1;
            }
        }
    }
    g_t0 = lg_now_ns();
    g_deadline = g_t0 + (uint64_t)(o.timeout * 1e9);

    int rc;
    switch (o.scenario) {
    case SC_LOGIN:
        rc = scenario_login();
        break;
    case SC_IDLE:
        rc = scenario_idle();
        break;
    case SC_RESUME:
        rc = scenario_resume();
        break;
    case SC_PRESENCE:
        rc = scenario_presence();
        break;
    case SC_ROSTER:
        rc = scenario_roster();
        break;
    case SC_PEP_SETUP:
        rc = scenario_pep_setup();
        break;
    case SC_PEP:
        rc = scenario_pep();
        break;
    default:
        rc = scenario_traffic();
        break;
    }
    if (lg_now_ns() >= g_deadline) {
        fprintf(stderr, "loadgen: stopped at the --timeout of %.0f s\n", o.timeout);
        rc = 1;
    }
    if (g_stop) {
        rc = 1;
    }
    for (int i = 0; i < g_ncl; i++) {
        buf_cleanup(&g_cl[i].in);
        buf_cleanup(&g_cl[i].out);
    }
    free(g_cl);
    free(g_rate_wait);
    free(g_restart);
    free(g_redirect);
    free(g_restart2);
    SSL_CTX_free(g_ctx);
    close(g_ep);
    return rc;
}
