/* fuzz_stanza.c: libFuzzer target for what bound clients send: stanza -> signal conversion and
 * everything behind the c2s dispatch (IM core, router, services, chat rooms), with fake sessions
 * on one real worker, a temporary store and socket pairs that capture what the server writes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "accounts/accounts_int.h"
#include "archive/archive.h"
#include "auth/lockout.h"
#include "chatroom/chatroom.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/module.h"
#include "core/server.h"
#include "core/settings.h"
#include "core/worker.h"
#include "im/module.h"
#include "pubsub/pubsub.h"
#include "services/services.h"
#include "im/homestate.h"
#include "im/im.h"
#include "signal/router.h"
#include "signal/signal.h"
#include "store/store.h"
#include "tls/tls.h"
#include "xml/ns.h"
#include "xml/xml.h"
#include "xmpp/conn.h"
#include "xmpp/convert.h"
#include "xmpp/stream.h"
#include "xmpp/stream_internal.h"
#include "xmpp/xmpp.h"
#include "fuzz_check.h"
#include "fuzz_db.h"

/* Input layout: chunks separated by CHUNK_SEP; a chunk's first byte picks the session
 * (byte % NSESSIONS) and the rest is fed to that session's stream as the client's bytes, after
 * the stream header and resource binding. Each chunk runs in its own worker call, so what one
 * chunk posts is delivered before the next one. */
#define CHUNK_SEP 0x1e
#define MAX_CHUNKS 64
#define DOMAIN "example.com"
#define NSESSIONS 3

struct fake {
    const char *user;
    const char *resource;
    bool available;        /* sends initial presence during set-up */
    int peer;              /* our end of the socket pair */
    unsigned long conn_id; /* the server's connection, found again by id */
    struct buf out;        /* what the server wrote after the set-up */
};

static struct fake fakes[NSESSIONS] = {
    { "alice", "fuzz", false, -1, 0, { 0 } },
    { "alice", "desk", true, -1, 0, { 0 } },
    { "bob", "phone", true, -1, 0, { 0 } },
};

static struct settings *cfg;
static struct fuzz_db snapshot;
static bool trace; /* FUZZ_STANZA_TRACE set: what each session received, on stderr */

static const char header[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='" DOMAIN "' version='1.0'>";

/* ---- the worker ---- */

static void worker_started(struct worker *w, void *ud)
{
    (void)ud;
    char err[512] = "";
    struct worker_ctx *wc = xcalloc(1, sizeof(*wc));
    w->ctx = wc;
    wc->worker = w;
    wc->cfg = cfg;
    wc->store = store_open(g_server.db_path, err, sizeof(err));
    if (wc->store == NULL) {
        fprintf(stderr, "fuzz_stanza: store: %s\n", err);
        abort();
    }
    wc->router = router_worker_new();
    wc->started = true;
    if (modules_worker_start(wc, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_stanza: modules: %s\n", err);
        abort();
    }
}

static void worker_stopped(struct worker *w, void *ud)
{
    (void)ud;
    struct worker_ctx *wc = w->ctx;
    modules_worker_stop(wc);
    convert_thread_cleanup();
    router_thread_cleanup();
    router_worker_free(wc->router);
    store_close(wc->store);
    free(wc);
    w->ctx = NULL;
}

static struct conn *find_conn(unsigned long id)
{
    for (struct conn *c = worker_ctx()->xmpp->conns; c != NULL; c = c->next) {
        if (c->id == id && !c->closed) {
            return c;
        }
    }
    return NULL;
}

/* Feeds client bytes the way the connection does (conn.c feed_stream), minus TLS and moves. */
static void feed(struct conn *c, const char *data, size_t len)
{
    while (len > 0 && !c->closing && !c->closed) {
        size_t used = xstream_feed(c->st, data, len);
        FUZZ_CHECK(used <= len);
        FUZZ_CHECK(xstream_wants_move(c->st) < 0); /* one worker: every account is at home */
        if (used == 0) {
            break;
        }
        data += used;
        len -= used;
    }
}

/* A connection whose stream authenticated as f->user (SASL is fuzz_sasl's business) and bound
 * f->resource, through the real header, restart and bind code. */
static void open_session(struct fake *f)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    struct conn *c = conn_new(worker_ctx()->xmpp, sv[0], false, "[127.0.0.1]:1", "127.0.0.1");
    c->kind = CONN_C2S;
    c->st = xstream_new(c);
    f->peer = sv[1];
    f->conn_id = c->id;
    struct xstream *st = c->st;
    feed(c, header, sizeof(header) - 1);
    FUZZ_CHECK(st->state == XS_NEGOTIATE);
    xstream__set(&st->user, "%s", f->user);
    xstream__set(&st->bare, "%s@%s", f->user, st->domain);
    snprintf(st->mechanism, sizeof(st->mechanism), "fuzz");
    st->state = XS_AUTHED;
    xstream__restart(st);
    xml_stream_reset(st->parser);
    char bind[512];
    snprintf(bind, sizeof(bind),
             "%s<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             "<resource>%s</resource></bind></iq>%s",
             header, f->resource, f->available ? "<presence/>" : "");
    feed(c, bind, strlen(bind));
    FUZZ_CHECK(st->state == XS_BOUND);
}

static void setup_msg(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    for (int i = 0; i < NSESSIONS; i++) {
        open_session(&fakes[i]);
    }
}

struct chunk {
    int session;
    const char *data;
    size_t len;
};

static void chunk_msg(struct worker *w, void *arg)
{
    (void)w;
    struct chunk *ch = arg;
    struct conn *c = find_conn(fakes[ch->session].conn_id);
    if (c != NULL && !c->closing) {
        feed(c, ch->data, ch->len);
    }
}

static void nothing_msg(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
}

/* Every session ends as after an abrupt loss (unavailable presence, session removal), then the
 * worker forgets what the IM core and the chat service keep in memory. */
static void teardown_msg(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    struct xmpp_worker *xw = worker_ctx()->xmpp;
    while (xw->conns != NULL) {
        conn_free_now(xw->conns);
    }
    /* XEP-0198 sessions kept for resumption end too (their unacknowledged stanzas handed on). */
    c2s_detached_end_all(false);
}

static void forget_msg(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    chatroom_worker_stop();
    im_worker_stop();
    im_home_state_stop();
    accounts_cache_release();
}

/* Lets what the last call posted (to this worker, maybe more than once) run. */
static void settle(void)
{
    for (int i = 0; i < 3; i++) {
        worker_call(0, nothing_msg, NULL);
    }
}

/* ---- what the server wrote ---- */

static void drain(struct fake *f, bool keep)
{
    char tmp[65536];
    for (;;) {
        ssize_t n = read(f->peer, tmp, sizeof(tmp));
        if (n <= 0) {
            return;
        }
        if (keep) {
            FUZZ_CHECK(buf_append(&f->out, tmp, (size_t)n) == 0);
        }
    }
}

static int out_element(void *ud, struct xml_node *el)
{
    (void)ud;
    bool stanza = el->ns != NULL && strcmp(el->ns, "jabber:client") == 0 &&
                  (strcmp(el->name, "message") == 0 || strcmp(el->name, "presence") == 0 ||
                   strcmp(el->name, "iq") == 0);
    bool stream_error = el->ns != NULL && strcmp(el->ns, "http://etherx.jabber.org/streams") == 0 &&
                        strcmp(el->name, "error") == 0;
    /* XEP-0198 answers and requests (<enabled/>, <failed/>, <r/>, <a/>) once the client asked. */
    bool sm = el->ns != NULL && strcmp(el->ns, NS_SM) == 0 &&
              (strcmp(el->name, "enabled") == 0 || strcmp(el->name, "failed") == 0 ||
               strcmp(el->name, "r") == 0 || strcmp(el->name, "a") == 0);
    if (!stanza && !stream_error && !sm) {
        fprintf(stderr, "fuzz_stanza: the server sent <%s xmlns='%s'>\n", el->name,
                el->ns != NULL ? el->ns : "");
    }
    FUZZ_CHECK(stanza || stream_error || sm);
    if (stanza && strcmp(el->name, "iq") == 0) {
        /* An iq has a type and an id; the error answering a client's iq that had no id has none
         * either (there is nothing to echo). */
        const char *type = xml_node_attr(el, "type");
        FUZZ_CHECK(type != NULL);
        FUZZ_CHECK(xml_node_attr(el, "id") != NULL || strcmp(type, "error") == 0);
    }
    xml_node_unref(el);
    return 0;
}

/* What a client reads after binding is a sequence of well-formed stanzas (and at most a stream
 * error and the closing tag) in one well-formed document. */
static void check_output(const struct fake *f)
{
    static const struct xml_stream_cbs cbs = { .element = out_element };
    struct xml_limits lim = { .max_stanza_size = 1 << 24, .max_depth = 1000, .max_attrs = 1000 };
    if (trace) {
        fprintf(stderr, "== %s/%s received:\n%.*s\n", f->user, f->resource, (int)f->out.len,
                f->out.len > 0 ? f->out.p : "");
    }
    struct xml_stream *p = xml_stream_new(&lim, &cbs, NULL);
    int rc = xml_stream_feed(p, header, sizeof(header) - 1, NULL);
    FUZZ_CHECK(rc == 0);
    rc = xml_stream_feed(p, f->out.p != NULL ? f->out.p : "", f->out.len, NULL);
    if (rc != 0) {
        fprintf(stderr, "fuzz_stanza: output of %s/%s does not parse (%s): %.*s\n", f->user,
                f->resource, xml_stream_error(p) ? xml_stream_error(p) : "?",
                (int)(f->out.len > 4000 ? 4000 : f->out.len), f->out.p);
    }
    FUZZ_CHECK(rc == 0);
    xml_stream_free(p);
}

/* ---- libFuzzer ---- */

static void make_store(void)
{
    char err[512] = "";
    struct store *st = store_open(g_server.db_path, err, sizeof(err));
    FUZZ_CHECK(st != NULL);
    FUZZ_CHECK(accounts_domain_add(st, DOMAIN, err, sizeof(err)) == 0);
    FUZZ_CHECK(accounts_account_add(st, "alice@" DOMAIN, "alice-secret", err, sizeof(err)) == 0);
    FUZZ_CHECK(accounts_account_add(st, "bob@" DOMAIN, "bob-secret", err, sizeof(err)) == 0);
    FUZZ_CHECK(accounts_account_add(st, "carol@" DOMAIN, "carol-secret", err, sizeof(err)) == 0);
    store_close(st);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    trace = getenv("FUZZ_STANZA_TRACE") != NULL;
    fuzz_db_tempdir(g_server.datadir, sizeof(g_server.datadir));
    snprintf(g_server.db_path, sizeof(g_server.db_path), "%s/starling.db", g_server.datadir);
    for (int t = 0; t < LOG_TAG_COUNT; t++) {
        log_set_level((enum log_tag)t, -1);
    }
    /* The server's modules but the WebAdmin (not linked): their settings rows and worker life. */
    static struct module *const modules[] = {
        &core_module,     &xmpp_module,    &tls_module,      &im_module,
        &services_module, &auth_module,    &accounts_module, &chatroom_module,
        &store_module,    &archive_module, &pubsub_module,
    };
    modules_set(modules, sizeof(modules) / sizeof(modules[0]));
    cfg = xcalloc(1, sizeof(*cfg));
    settings_defaults(cfg);
    FUZZ_CHECK(settings_set(cfg, "xmpp.listener", "", err, sizeof(err)) == 0);
    snprintf(cfg->server.main_domain, sizeof(cfg->server.main_domain), "%s", DOMAIN);
    FUZZ_CHECK(settings_set(cfg, "xmpp.receiving.require_tls", "no", err, sizeof(err)) == 0);
    make_store();
    /* Domains stay as they are (a client cannot change them); accounts and the rest go back. */
    static const char *const keep[] = { "domains", "domain_aliases", "domain_settings", NULL };
    fuzz_db_snapshot(&snapshot, g_server.db_path, keep);
    router_register_component(&chatroom_component);
    /* The hooks main.c registers: the router's services and IM core, the wire format, the
     * caps stream feature. */
    xstream_add_feature(services_caps_append);
    FUZZ_CHECK(xstream_sm_inline_register() == 0); /* XEP-0198/0352 inline in SASL2, Bind 2 */
    services_init();
    pubsub_init();
    services_set_chat_service(chatroom_service_of);
    im_init();
    im_set_presence_stamp(services_vcard_update_new);
    convert_init();
    FUZZ_CHECK(archive_start(g_server.db_path, err, sizeof(err)) == 0);
    FUZZ_CHECK(workers_start(1, worker_started, worker_stopped, NULL) == 0);
    for (int i = 0; i < NSESSIONS; i++) {
        buf_init(&fakes[i].out, 64u << 20);
    }
    return 0;
}

static void run_chunks(const uint8_t *data, size_t size)
{
    size_t start = 0;
    int n = 0;
    while (start < size && n < MAX_CHUNKS) {
        const uint8_t *sep = memchr(data + start, CHUNK_SEP, size - start);
        size_t end = sep != NULL && n + 1 < MAX_CHUNKS ? (size_t)(sep - data) : size;
        if (end > start) {
            struct chunk ch = { data[start] % NSESSIONS, (const char *)data + start + 1,
                                end - start - 1 };
            worker_call(0, chunk_msg, &ch);
            for (int i = 0; i < NSESSIONS; i++) {
                drain(&fakes[i], true);
            }
        }
        start = end + 1;
        n++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    worker_call(0, setup_msg, NULL);
    settle();
    for (int i = 0; i < NSESSIONS; i++) {
        drain(&fakes[i], false);
        buf_reset(&fakes[i].out);
    }
    run_chunks(data, size);
    settle();
    for (int i = 0; i < NSESSIONS; i++) {
        drain(&fakes[i], true);
    }
    worker_call(0, teardown_msg, NULL);
    settle();
    worker_call(0, forget_msg, NULL);
    for (int i = 0; i < NSESSIONS; i++) {
        drain(&fakes[i], true);
        check_output(&fakes[i]);
        close(fakes[i].peer);
        fakes[i].peer = -1;
    }
    archive_sync(); /* the archive's rows of this input are written before the restore */
    fuzz_db_restore(&snapshot);
    accounts__changed_all();
    return 0;
}
