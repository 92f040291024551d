/* test_router.c: the router alone, with fake sessions and fake hooks for the modules above it
 * (services, IM core, a component, the remote route): who owns `to`, RFC 6121 §8.5 delivery,
 * aliases, error answers and the codes router_submit returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "core/err.h"
#include "core/server.h"
#include "signal/router.h"
#include "store/store.h"
#include "xml/xml_int.h"


/* ---- fakes ----------------------------------------------------------------------------- */

/* A client session: counts what it is given and keeps the last signal. */
struct fake {
    struct router_session rs;
    char bare[64];
    char resource[16];
    int got;
    int lent; /* of `got`, signals lent (router_lend_fn) rather than given */
    struct signal *last;
};

static void fake_deliver(void *ud, struct signal *sig)
{
    struct fake *f = ud;
    f->got++;
    signal_free(f->last);
    f->last = sig;
}

/* A session that takes lent signals: it keeps a copy, as a real one must. */
static void fake_lend(void *ud, const struct signal *sig)
{
    struct fake *f = ud;
    f->got++;
    f->lent++;
    signal_free(f->last);
    f->last = signal_dup(sig);
}

#define MAX_FAKES 80
static struct fake g_fakes[MAX_FAKES];
static int g_nfakes;

/* What the hooks saw. */
static int g_services_server, g_services_account;
static int g_presence, g_presence_exists, g_offline, g_blocked;
static size_t g_carbons_nto;
static int g_component, g_remote;

static int fake_services(struct signal *sig, bool account)
{
    (account ? &g_services_account : &g_services_server)[0]++;
    signal_free(sig);
    return 0;
}

static bool fake_blocked(struct signal *sig)
{
    if (sig->from.local && strcmp(sig->from.local, "mallory") == 0) {
        g_blocked++;
        signal_free(sig);
        return true;
    }
    return false;
}

static bool fake_blocks(const struct signal *sig)
{
    return sig->from.local && strcmp(sig->from.local, "mallory") == 0;
}

static void fake_presence(struct router_session *sessions, struct signal *sig, bool exists)
{
    (void)sessions;
    g_presence++;
    g_presence_exists += exists;
    signal_free(sig);
}

static int fake_offline(struct signal *sig)
{
    g_offline++;
    signal_free(sig);
    return 0;
}

static void fake_carbons(struct router_session *sessions, const struct signal *sig,
                         struct router_session *const *to, size_t nto)
{
    (void)sessions;
    (void)sig;
    (void)to;
    g_carbons_nto = nto;
}

static int g_inbound;

/* The archive's place: counts, and replaces the stanza of a message whose id is "replace". */
static void fake_inbound(struct signal *sig)
{
    g_inbound++;
    if (sig->id && strcmp(sig->id, "replace") == 0) {
        if (sig->xmpp_data) {
            xml_node_unref(sig->xmpp_data);
        }
        sig->xmpp_data = xml_node_new(NULL, "replaced");
    }
}

static const struct router_im g_fake_im = { fake_blocked, fake_presence, fake_offline,
                                            fake_carbons, fake_inbound,  fake_blocks };

static bool conf_owns(const char *domain)
{
    return strcmp(domain, "conference.example.com") == 0;
}

static int conf_deliver(struct signal *sig)
{
    g_component++;
    signal_free(sig);
    return 0;
}

static const struct router_component g_conf = { "chat", conf_owns, conf_deliver };

static int fake_remote(struct signal *sig)
{
    g_remote++;
    signal_free(sig);
    return 0;
}

/* ---- a worker with a store -------------------------------------------------------------- */

static char g_dir[64], g_path[128];

static void started(struct worker *w, void *ud)
{
    (void)ud;
    struct worker_ctx *wc = xcalloc(1, sizeof(*wc));
    char err[256];
    wc->worker = w;
    wc->store = store_open(g_path, err, sizeof(err));
    wc->router = router_worker_new();
    w->ctx = wc;
}

static void stopped(struct worker *w, void *ud)
{
    (void)ud;
    struct worker_ctx *wc = w->ctx;
    router_thread_cleanup();
    router_worker_free(wc->router);
    store_close(wc->store);
    free(wc);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/starling-router-XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        return -1;
    }
    snprintf(g_path, sizeof(g_path), "%s/starling.db", g_dir);
    char err[256];
    struct store *st = store_open(g_path, err, sizeof(err));
    if (st == NULL || store_domain_add(st, "example.com") != 0 ||
        store_alias_add(st, "example.com", "alias.example") != 0 ||
        accounts_account_add(st, "alice@example.com", "secret", err, sizeof(err)) != 0 ||
        accounts_account_add(st, "bob@example.com", "secret", err, sizeof(err)) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    store_close(st);
    router_register_component(&g_conf);
    return workers_start(1, started, stopped, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    workers_stop();
    const char *suffix[] = { "", "-wal", "-shm" };
    char p[160];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", g_path, suffix[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

static void reset_hooks(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    router_set_services(fake_services);
    router_set_im(&g_fake_im);
    router_set_remote(fake_remote);
}

static void remove_fakes(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    for (int i = 0; i < g_nfakes; i++) {
        router_session_remove(&g_fakes[i].rs);
        signal_free(g_fakes[i].last);
    }
    memset(g_fakes, 0, sizeof(g_fakes));
    g_nfakes = 0;
}

static int test_setup(void **state)
{
    (void)state;
    g_services_server = g_services_account = 0;
    g_presence = g_presence_exists = g_offline = g_blocked = 0;
    g_carbons_nto = 0;
    g_component = g_remote = 0;
    g_inbound = 0;
    worker_call(0, reset_hooks, NULL);
    return 0;
}

static int test_teardown(void **state)
{
    (void)state;
    worker_call(0, remove_fakes, NULL);
    return 0;
}

/* ---- helpers (run on the worker through worker_call) ------------------------------------ */

struct add_args {
    const char *bare;
    const char *resource;
    int priority;
    bool available;
};

static void add_on_worker(struct worker *w, void *arg)
{
    (void)w;
    const struct add_args *a = arg;
    struct fake *f = &g_fakes[g_nfakes++];
    snprintf(f->bare, sizeof(f->bare), "%s", a->bare);
    snprintf(f->resource, sizeof(f->resource), "%s", a->resource);
    f->rs = (struct router_session){ .bare = f->bare,
                                     .resource = f->resource,
                                     .priority = a->priority,
                                     .available = a->available,
                                     .deliver = fake_deliver,
                                     .ud = f };
    struct router_session *replaced;
    router_session_add(&f->rs, &replaced);
}

static struct fake *add_fake(const char *bare, const char *resource, int priority, bool available)
{
    struct add_args a = { bare, resource, priority, available };
    worker_call(0, add_on_worker, &a);
    return &g_fakes[g_nfakes - 1];
}

/* An available session that takes lent signals. */
static struct fake *add_lending_fake(const char *bare, const char *resource)
{
    struct fake *f = add_fake(bare, resource, 0, true);
    f->rs.lend = fake_lend;
    return f;
}

static struct signal *sig_new(enum signal_method m, const char *from, const char *to,
                              const char *type)
{
    struct signal *sig = signal_new(m);
    if (from) {
        assert_int_equal(jid_parse(&sig->from, strv_c(from)), 0);
    }
    if (to) {
        assert_int_equal(jid_parse(&sig->to, strv_c(to)), 0);
    }
    sig->type = type ? xstrdup(type) : NULL;
    return sig;
}

struct submit_args {
    struct signal *sig;
    int rc;
};

static void submit_on_worker(struct worker *w, void *arg)
{
    (void)w;
    struct submit_args *a = arg;
    a->rc = router_submit(a->sig);
}

/* router_submit on the worker (where the account's sessions live); its return code. */
static int submit(struct signal *sig)
{
    struct submit_args a = { sig, 1 };
    worker_call(0, submit_on_worker, &a);
    return a.rc;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_full_jid(void **state)
{
    (void)state;
    struct fake *a = add_fake("alice@example.com", "phone", 0, true);
    struct fake *b = add_fake("alice@example.com", "laptop", 0, true);
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "alice@example.com/phone", "chat")), 0);
    assert_int_equal(a->got, 1);
    assert_int_equal(b->got, 0);
    assert_string_equal(a->last->to.resource, "phone");
    /* The other resource got no copy, but the carbons hook was told who got it. */
    assert_int_equal(g_carbons_nto, 1);
}

static void test_bare_jid_highest_priority(void **state)
{
    (void)state;
    struct fake *hi1 = add_fake("alice@example.com", "a", 5, true);
    struct fake *hi2 = add_fake("alice@example.com", "b", 5, true);
    struct fake *lo = add_fake("alice@example.com", "c", 1, true);
    struct fake *neg = add_fake("alice@example.com", "d", -1, true);
    struct fake *away = add_fake("alice@example.com", "e", 9, false);
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "alice@example.com", "chat")), 0);
    assert_int_equal(hi1->got, 1);
    assert_int_equal(hi2->got, 1);
    assert_int_equal(lo->got + neg->got + away->got, 0);
    assert_int_equal(g_carbons_nto, 2);
    assert_int_equal(g_offline, 0);
    /* A headline goes to every available resource of non-negative priority. */
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "alice@example.com", "headline")), 0);
    assert_int_equal(hi1->got + hi2->got + lo->got, 5);
    assert_int_equal(neg->got + away->got, 0);
}

/* Regression: the bare-JID fan-out stopped at 64 resources. */
static void test_bare_jid_many_resources(void **state)
{
    (void)state;
    enum { N = 70 };
    struct fake *f[N];
    for (int i = 0; i < N; i++) {
        char r[16];
        snprintf(r, sizeof(r), "r%d", i);
        f[i] = add_fake("alice@example.com", r, 0, true);
    }
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "alice@example.com", "chat")), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(f[i]->got, 1);
    }
    assert_int_equal(g_carbons_nto, N);
}

static void test_offline_and_unknown(void **state)
{
    (void)state;
    struct fake *bob = add_fake("bob@example.com", "x", 0, true);
    add_fake("alice@example.com", "away", 0, false);
    /* No available resource: the IM core's offline path. */
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "alice@example.com", "chat")), 0);
    assert_int_equal(g_offline, 1);
    /* An account that does not exist: service-unavailable back to the sender. */
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "nobody@example.com", "chat")), 0);
    assert_int_equal(bob->got, 1);
    assert_string_equal(bob->last->type, "error");
    assert_string_equal(bob->last->from.local, "nobody");
    assert_string_equal(bob->last->to.resource, "x");
    /* An iq to a resource that is not there: an error back (delivery on the account's home
     * worker reports to the sender, not to router_submit's caller). */
    struct signal *iq = sig_new(SIGNAL_INFO, "bob@example.com/x", "alice@example.com/gone", "get");
    iq->id = xstrdup("q1");
    assert_int_equal(submit(iq), 0);
    assert_int_equal(bob->got, 2);
    assert_string_equal(bob->last->id, "q1");
    assert_int_equal(bob->last->method, SIGNAL_INFO);
    /* Never an error in answer to an error. */
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "nobody@example.com", "error")), 0);
    assert_int_equal(bob->got, 2);
}

static void test_alias(void **state)
{
    (void)state;
    struct fake *a = add_fake("alice@example.com", "phone", 0, true);
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "alice@alias.example/phone", "chat")),
        0);
    assert_int_equal(a->got, 1);
    assert_string_equal(a->last->to.domain, "example.com");
    assert_string_equal(a->last->to.local, "alice");
    assert_string_equal(a->last->to.resource, "phone");
    /* The alias itself is the server: its services, with the canonical domain. */
    assert_int_equal(submit(sig_new(SIGNAL_INFO, "bob@example.com/x", "alias.example", "get")), 0);
    assert_int_equal(g_services_server, 1);
}

static void test_services_and_im_hooks(void **state)
{
    (void)state;
    struct fake *a = add_fake("alice@example.com", "phone", 0, true);
    assert_int_equal(submit(sig_new(SIGNAL_INFO, "bob@example.com/x", "example.com", "get")), 0);
    assert_int_equal(submit(sig_new(SIGNAL_INFO, "bob@example.com/x", "alice@example.com", "get")),
                     0);
    assert_int_equal(g_services_server, 1);
    assert_int_equal(g_services_account, 1);
    /* A server resource is nobody. */
    assert_int_equal(submit(sig_new(SIGNAL_INFO, "bob@example.com/x", "example.com/r", "get")),
                     ERR_NOTFOUND);
    assert_int_equal(submit(sig_new(SIGNAL_NOTIFY, "bob@example.com/x", "alice@example.com", NULL)),
                     0);
    assert_int_equal(
        submit(sig_new(SIGNAL_SUBSCRIBE, "bob@example.com", "nobody@example.com", "subscribe")), 0);
    assert_int_equal(g_presence, 2);
    assert_int_equal(g_presence_exists, 1);
    /* A blocked sender is the IM core's to drop. */
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "mallory@example.com/x", "alice@example.com/phone", "chat")),
        0);
    assert_int_equal(g_blocked, 1);
    assert_int_equal(a->got, 0);
}

static void test_elsewhere(void **state)
{
    (void)state;
    assert_int_equal(submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x",
                                    "room@conference.example.com", "groupchat")),
                     0);
    assert_int_equal(g_component, 1);
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "carol@remote.example", "chat")), 0);
    assert_int_equal(g_remote, 1);
    /* No destination at all. */
    assert_int_equal(submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", NULL, "chat")), ERR_INVAL);
}

struct lookup {
    const char *jid;
    int n;
};

static void count_sessions(struct worker *w, void *arg)
{
    (void)w;
    struct lookup *l = arg;
    struct jid j;
    l->n = -1;
    if (jid_parse(&j, strv_c(l->jid)) == 0) {
        l->n = 0;
        for (struct router_session *s = router_sessions_of(&j); s; s = s->next) {
            l->n++;
        }
        jid_cleanup(&j);
    }
}

static int sessions_of(const char *jid)
{
    struct lookup l = { jid, -1 };
    worker_call(0, count_sessions, &l);
    return l.n;
}

/* The sessions of an account, found from its address's parts. */
static void test_sessions_of(void **state)
{
    (void)state;
    add_fake("alice@example.com", "a", 0, true);
    add_fake("alice@example.com", "b", 0, false);
    add_fake("bob@example.com", "x", 0, true);
    assert_int_equal(sessions_of("alice@example.com"), 2);
    assert_int_equal(sessions_of("alice@example.com/anything"), 2);
    assert_int_equal(sessions_of("bob@example.com"), 1);
    assert_int_equal(sessions_of("alic@example.com"), 0);
    assert_int_equal(sessions_of("alice@example.co"), 0);
    assert_int_equal(sessions_of("example.com"), 0);
}

static void clear_hooks(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    router_set_services(NULL);
    router_set_im(NULL);
    router_set_remote(NULL);
}

/* Without the modules above, the router still answers: service-unavailable, no storage. */
/* The home worker hashed from an address's parts is the one of its printed bare JID (both
 * sides of the router and every other caller of worker_home must agree). */
static void test_home_from_parts(void **state)
{
    (void)state;
    assert_int_equal(workers_start(7, NULL, NULL, NULL), 0);
    const char *parts[][2] = { { "bench0", "localhost" },
                               { "bench1", "localhost" },
                               { "a", "b" },
                               { "juliet", "example.com" },
                               { "x@y", "z" },
                               { "\xc3\xa9l\xc3\xa8"
                                 "ve",
                                 "\xc3\xa9"
                                 "cole.fr" } };
    int seen = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        struct buf bare;
        buf_init(&bare, 256);
        assert_int_equal(buf_printf(&bare, "%s@%s", parts[i][0], parts[i][1]), 0);
        int h = worker_home_bare(strv_c(parts[i][0]), strv_c(parts[i][1]));
        assert_int_equal(h, worker_home(buf_strv(&bare)));
        seen |= 1 << h;
        buf_cleanup(&bare);
    }
    assert_true(seen != 1); /* not everything on worker 0 */
    workers_stop();
}

static void test_without_hooks(void **state)
{
    (void)state;
    worker_call(0, clear_hooks, NULL);
    struct fake *bob = add_fake("bob@example.com", "x", 0, true);
    add_fake("alice@example.com", "away", 0, false);
    assert_int_equal(submit(sig_new(SIGNAL_INFO, "bob@example.com/x", "example.com", "get")),
                     ERR_NOTFOUND);
    assert_int_equal(bob->got, 1);
    assert_string_equal(bob->last->type, "error");
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "alice@example.com", "chat")), 0);
    assert_int_equal(bob->got, 2);
    assert_int_equal(
        submit(sig_new(SIGNAL_MESSAGE, "bob@example.com/x", "carol@remote.example", "chat")),
        ERR_NOTFOUND);
    assert_int_equal(bob->got, 3);
    assert_int_equal(g_offline + g_services_server + g_remote, 0);
}

/* ---- fan-out ------------------------------------------------------------------------------ */

struct fanout_args {
    const struct signal *tmpl;
    const char *const *to;
    struct router_route *routes; /* one per `to`, or NULL */
};

static void fanout_on_worker(struct worker *w, void *arg)
{
    (void)w;
    struct fanout_args *a = arg;
    struct router_fanout *f = router_fanout_new(a->tmpl);
    for (size_t i = 0; a->to[i]; i++) {
        struct jid j;
        assert_int_equal(jid_parse(&j, strv_c(a->to[i])), 0);
        router_fanout_add(f, &j, a->routes ? &a->routes[i] : NULL);
        jid_cleanup(&j);
    }
    router_fanout_submit(f);
}

/* A fan-out of `tmpl` (freed here) to the NULL-ended list `to`, on the worker. */
static void fanout(struct signal *tmpl, const char *const *to, struct router_route *routes)
{
    struct fanout_args a = { tmpl, to, routes };
    worker_call(0, fanout_on_worker, &a);
    signal_free(tmpl);
}

/* A room's message: lent to the sessions that take lent signals, given to the others, and
 * every recipient that is not such a session handled as router_submit handles it. */
static void test_fanout_groupchat(void **state)
{
    (void)state;
    struct fake *a = add_lending_fake("alice@example.com", "a");
    struct fake *a2 = add_lending_fake("alice@example.com", "b");
    struct fake *b = add_fake("bob@example.com", "x", 0, true);
    struct signal *m =
        sig_new(SIGNAL_MESSAGE, "room@conference.example.com/nick", NULL, "groupchat");
    m->id = xstrdup("m1");
    m->xmpp_data = xml_node_new(NULL, "message");
    struct xml_node *data = xml_node_ref(m->xmpp_data);
    const char *to[] = { "alice@example.com/a",  "bob@example.com/x",      "alice@example.com/gone",
                         "nobody@example.com/r", "carol@remote.example/r", NULL };
    fanout(m, to, NULL);
    assert_int_equal(a->got, 1);
    assert_int_equal(a->lent, 1);
    assert_int_equal(a2->got, 0);
    assert_int_equal(b->got, 1);
    assert_int_equal(b->lent, 0);
    assert_string_equal(a->last->to.resource, "a");
    assert_string_equal(a->last->from.resource, "nick");
    assert_string_equal(a->last->id, "m1");
    assert_ptr_equal(a->last->xmpp_data, data);
    assert_string_equal(b->last->to.local, "bob");
    /* The archive hook saw each message for an existing account (alice/gone's too, as with
     * router_submit); no carbons for groupchat. */
    assert_int_equal(g_inbound, 3);
    assert_int_equal(g_carbons_nto, 0);
    /* A resource that is not there and an account that does not exist: service-unavailable
     * back to the room (RFC 6121 §8.5.3.2.1), as for router_submit; the remote one left. */
    assert_int_equal(g_component, 2);
    assert_int_equal(g_remote, 1);
    /* Only the copies the sessions keep hold the stanza now. */
    signal_free(a->last);
    signal_free(b->last);
    a->last = b->last = NULL;
    assert_int_equal(atomic_load(&data->arena->refs), 1);
    xml_node_unref(data);
}

/* The inbound hook may replace the stanza of a lent signal: the session gets the new one and
 * the shared one keeps its references. */
static void test_fanout_hook_replaces(void **state)
{
    (void)state;
    struct fake *a = add_lending_fake("alice@example.com", "a");
    struct fake *b = add_lending_fake("bob@example.com", "x");
    struct signal *m =
        sig_new(SIGNAL_MESSAGE, "room@conference.example.com/nick", NULL, "groupchat");
    m->id = xstrdup("replace");
    m->xmpp_data = xml_node_new(NULL, "message");
    struct xml_node *data = xml_node_ref(m->xmpp_data);
    const char *to[] = { "alice@example.com/a", "bob@example.com/x", NULL };
    fanout(m, to, NULL);
    assert_int_equal(a->lent + b->lent, 2);
    assert_string_equal(a->last->xmpp_data->name, "replaced");
    assert_string_equal(b->last->xmpp_data->name, "replaced");
    assert_int_equal(atomic_load(&data->arena->refs), 1);
    xml_node_unref(data);
}

/* What is not a groupchat message for a session that is there takes router_submit's way:
 * blocked senders, other types (with carbons), aliases. */
static void test_fanout_other_ways(void **state)
{
    (void)state;
    struct fake *a = add_lending_fake("alice@example.com", "a");
    struct fake *b = add_lending_fake("bob@example.com", "x");
    const char *to[] = { "alice@example.com/a", "bob@alias.example/x", NULL };
    fanout(sig_new(SIGNAL_MESSAGE, "mallory@conference.example.com/n", NULL, "groupchat"), to,
           NULL);
    assert_int_equal(g_blocked, 2);
    assert_int_equal(a->got + b->got, 0);
    fanout(sig_new(SIGNAL_MESSAGE, "room@conference.example.com/n", NULL, "chat"), to, NULL);
    assert_int_equal(a->got, 1);
    assert_int_equal(b->got, 1);
    assert_int_equal(a->lent + b->lent, 0);
    assert_int_equal(g_carbons_nto, 1);
    assert_string_equal(b->last->to.domain, "example.com");
    fanout(sig_new(SIGNAL_MESSAGE, "room@conference.example.com/n", NULL, "groupchat"), to, NULL);
    assert_int_equal(a->lent, 1);
    assert_int_equal(b->got, 2); /* the alias: by router_submit, which gives a copy */
    assert_int_equal(b->lent, 0);
}

/* The caller's route cache: worked out once, used again, not for a remote address. */
static void test_fanout_routes(void **state)
{
    (void)state;
    struct fake *a = add_lending_fake("alice@example.com", "a");
    const char *to[] = { "alice@example.com/a", "carol@remote.example/r", NULL };
    struct router_route routes[2] = { { 0 } };
    fanout(sig_new(SIGNAL_MESSAGE, "room@conference.example.com/n", NULL, "groupchat"), to, routes);
    assert_int_not_equal(routes[0].gen, 0);
    assert_int_equal(routes[0].worker, 0);
    assert_int_equal(routes[1].worker, -1);
    struct router_route kept = routes[0];
    fanout(sig_new(SIGNAL_MESSAGE, "room@conference.example.com/n", NULL, "groupchat"), to, routes);
    assert_memory_equal(&kept, &routes[0], sizeof(kept));
    assert_int_equal(a->lent, 2);
    assert_int_equal(g_remote, 2);
    /* A change to the domains makes every route be worked out again. */
    atomic_fetch_add(&g_server.domains_gen, 1);
    fanout(sig_new(SIGNAL_MESSAGE, "room@conference.example.com/n", NULL, "groupchat"), to, routes);
    assert_int_not_equal(routes[0].gen, kept.gen);
    assert_int_equal(routes[0].worker, 0);
    assert_int_equal(a->lent, 3);
}

/* A fake cluster for the fan-out: bob's and carol's home is node "n2", everything else here. */
static int g_groups;
static size_t g_group_n;
static char g_group_parts[256];
static size_t g_group_len;

static bool far_node(const struct jid *to, char *id, size_t size)
{
    bool far = strcmp(to->local, "bob") == 0 || strcmp(to->local, "carol") == 0;
    snprintf(id, size, "%s", far ? "n2" : "n1");
    return far;
}

static void far_group(const char *id, const struct signal *tmpl, struct strv parts, size_t n)
{
    assert_string_equal(id, "n2");
    assert_null(tmpl->to.domain);
    g_groups++;
    g_group_n = n;
    assert_true(parts.len <= sizeof(g_group_parts));
    memcpy(g_group_parts, parts.p, parts.len);
    g_group_len = parts.len;
}

static const struct router_cluster_fanout g_far = { far_node, far_group };

static void set_far(struct worker *w, void *arg)
{
    (void)w;
    router_set_cluster_fanout(arg);
}

/* On a cluster the recipients of another node are handed over once, as one group; a remote
 * domain's occupant is never grouped (it leaves through s2s from here). */
static void test_fanout_cluster_groups(void **state)
{
    (void)state;
    struct fake *a = add_lending_fake("alice@example.com", "a");
    add_lending_fake("bob@example.com", "x");
    worker_call(0, set_far, (void *)&g_far);
    const char *to[] = { "bob@example.com/x", "alice@example.com/a", "carol@example.com/y",
                         "carol@remote.example/r", NULL };
    fanout(sig_new(SIGNAL_MESSAGE, "room@conference.example.com/n", NULL, "groupchat"), to, NULL);
    assert_int_equal(g_groups, 1);
    assert_int_equal(g_group_n, 2);
    static const char want[] = "bob\0example.com\0x\0carol\0example.com\0y";
    assert_int_equal(g_group_len, sizeof(want));
    assert_memory_equal(g_group_parts, want, sizeof(want));
    assert_int_equal(a->lent, 1);
    assert_int_equal(g_remote, 1);
    worker_call(0, set_far, NULL);
    g_groups = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_jid, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_bare_jid_highest_priority, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_bare_jid_many_resources, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_offline_and_unknown, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_alias, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_services_and_im_hooks, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_elsewhere, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_without_hooks, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_sessions_of, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_groupchat, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_hook_replaces, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_other_ways, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_routes, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_fanout_cluster_groups, test_setup, test_teardown),
        /* Last: it starts its own seven workers and stops them, so the group's worker is gone
         * after it. */
        cmocka_unit_test(test_home_from_parts),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
