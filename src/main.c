/* main.c: starlingd: settings, first start, workers, the admin socket, signals, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "accounts/accounts.h"
#include "accounts/signup.h"
#include "archive/archive.h"
#include "chatroom/chatroom.h"
#include "auth/lockout.h"
#include "auth/sasl.h"
#include "core/err.h"
#include "core/log.h"
#include "core/module.h"
#include "core/server.h"
#include "core/settings.h"
#include "core/version.h"
#include "im/homestate.h"
#include "im/im.h"
#include "im/module.h"
#include "pubsub/pubsub.h"
#include "services/services.h"
#include "signal/signal.h"
#include "signal/router.h"
#include "store/store.h"
#include "store/store_muc.h"
#include "store/store_cluster.h"
#include "cluster/cluster.h"
#include "tls/tls.h"
#include "admin/admin.h"
#include "admin/certinstall.h"
#include "admin/check.h"
#include "core/notify.h"
#include "services/services.h"
#include "web/web.h"
#include "webadmin/http.h"
#include "xmpp/convert.h"
#include "xmpp/s2s.h"
#include "xmpp/stream.h"
#include "xmpp/xmpp.h"

#define MAX_OVERRIDES 64

/* The modules, listed once. Their order is the order of the settings (file, `-o`, the admin
 * API, docs/settings.md) and the order in which each worker starts, quiesces and stops them
 * (docs/internals/modules.md): the XMPP module stops before the IM core and the chat rooms its
 * last connections reach; the store's handle and the router are the worker's context, made
 * before and freed after every module. */
static struct module *const g_modules[] = {
    &core_module,     /* server.*, log.*; the memory watch */
    &xmpp_module,     /* xmpp.*: listener, streams, s2s */
    &tls_module,      /* tls.* */
    &im_module,       /* im.*: the IM core's per-worker state */
    &webadmin_module, /* webadmin.* */
    &services_module, /* services.* */
    &auth_module,     /* auth.*: the lock-out policy */
    &accounts_module, /* register.*; the account cache */
    &chatroom_module, /* muc.*; the rooms */
    &store_module,    /* the handles' page caches */
    &archive_module,  /* archive.*: the message archive (XEP-0313) */
    &pubsub_module,   /* pubsub.*; personal eventing's presence state */
    &web_module,      /* http.*: WebSocket, host-meta (src/web) */
    &cluster_module,  /* cluster.*: several nodes over NATS */
};

/* Settings: the file's values, the -o overrides of this run, and the live result. */
static struct {
    pthread_mutex_t lock;
    struct settings file;
    char *override_keys[MAX_OVERRIDES];
    char *override_values[MAX_OVERRIDES];
    int noverrides;
    struct settings *live;
    /* Published snapshots stay valid until exit: workers may still read an older one. */
    struct settings *history[1024];
    int nhistory;
    char path[1200];
} g_cfg = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Command-line paths (issue 20): "" = the default inside the data directory. */
static struct {
    char conf[1200];    /* -c: the settings file */
    char log_dir[1200]; /* -l: the System Log folder */
    bool check;         /* --check: report on the set-up and exit */
    bool no_dns;        /* --no-dns: the check makes no DNS lookup */
} g_opt;

static struct store *g_hook_store;  /* used by admin hooks, on the admin thread only */
static struct webadmin *g_webadmin; /* NULL until started */
static atomic_int g_start_failed;
static bool g_first_start; /* this run created the main domain and its postmaster */
static char g_start_error[1024];

static void usage(FILE *f)
{
    fprintf(f,
            "usage: starlingd [-d DATADIR] [-c FILE] [-l DIR] [-o key=value]... [--check "
            "[--no-dns]]\n"
            "  -d DATADIR   data directory (default %s)\n"
            "  -c FILE      settings file (default DATADIR/starling.conf)\n"
            "  -l DIR       System Log folder (default DATADIR/SystemLogs)\n"
            "  -o key=value override a setting for this run (see docs/settings.md)\n"
            "  --check      check the set-up (settings, certificates, DNS, ports, data\n"
            "               directory), print one line per finding, exit 1 on errors\n"
            "  --no-dns     with --check: no DNS lookups\n",
            STARLING_DEFAULT_DATADIR);
}

static void apply_log_levels(const struct settings *s)
{
    log_set_level(LOG_TAG_SYSTEM, s->server.log_level);
    log_set_level(LOG_TAG_ADMIN, s->server.log_level);
    log_set_level(LOG_TAG_XMPPI, s->xmpp.receiving.log_level);
    log_set_level(LOG_TAG_XMPPS, s->xmpp.receiving.log_level);
    log_set_level(LOG_TAG_XMPPO, s->xmpp.sending.log_level);
}

/* live = file + overrides (except a key just set by the administrator). */
static int build_live(struct settings *out, char *err, size_t errlen)
{
    *out = g_cfg.file;
    for (int i = 0; i < g_cfg.noverrides; i++) {
        int rc = settings_set(out, g_cfg.override_keys[i], g_cfg.override_values[i], err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

static void publish(struct settings *next)
{
    if (g_cfg.nhistory < (int)(sizeof(g_cfg.history) / sizeof(g_cfg.history[0]))) {
        g_cfg.history[g_cfg.nhistory++] = next;
    }
    g_cfg.live = next;
    apply_log_levels(next);
}

/* Runs on each worker: switch to the new settings and reconcile the listener. */
static void worker_apply_settings(struct worker *w, void *arg)
{
    struct worker_ctx *wc = w->ctx;
    wc->cfg = arg;
    char err[256] = "";
    if (xmpp_listeners_apply(wc->xmpp, err, sizeof(err)) != 0 && w->id == 0) {
        log_rec(LOG_TAG_XMPPI, LOG_FAILURES, 0, NULL, "%s", err);
    }
    s2s_apply_policy(wc->xmpp, wc->cfg); /* xmpp.s2s_blocked / allowed, applied live */
}

/* New live settings, under g_cfg.lock: the workers, the listeners and the WebAdmin switch. */
static void apply_live_locked(struct settings *next)
{
    publish(next);
    worker_broadcast(worker_apply_settings, next);
    if (g_webadmin != NULL) {
        webadmin_reconfigure(g_webadmin, next);
    }
}

/* tls.client_ca_file and tls.s2s_ca_file apply to the TLS store at once (0 for other keys). */
static int apply_ca_setting(const char *key, const struct settings *s, char *err, size_t errlen)
{
    char why[256];
    int rc = 0;
    if (strcmp(key, "tls.client_ca_file") == 0) {
        rc = tls_store_set_client_ca(g_server.tls, s->tls.client_ca_file, why, sizeof(why));
    } else if (strcmp(key, "tls.s2s_ca_file") == 0) {
        rc = tls_store_set_s2s_ca(g_server.tls, s->tls.s2s_ca_file, why, sizeof(why));
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", key, why);
        return ERR_INVAL;
    }
    return 0;
}

static int hook_settings_set(void *ud, const char *key, const char *value, char *err, size_t errlen)
{
    (void)ud;
    pthread_mutex_lock(&g_cfg.lock);
    struct settings file = g_cfg.file;
    int rc = settings_set(&file, key, value, err, errlen);
    if (rc == 0) {
        /* Applied first: a CA file that does not load is refused, and nothing changes. */
        rc = apply_ca_setting(key, &file, err, errlen);
    }
    if (rc == 0) {
        /* An administrator's change wins over this run's override of the same key. */
        for (int i = 0; i < g_cfg.noverrides; i++) {
            if (strcmp(g_cfg.override_keys[i], key) == 0) {
                free(g_cfg.override_keys[i]);
                free(g_cfg.override_values[i]);
                g_cfg.override_keys[i] = g_cfg.override_keys[g_cfg.noverrides - 1];
                g_cfg.override_values[i] = g_cfg.override_values[g_cfg.noverrides - 1];
                g_cfg.noverrides--;
                break;
            }
        }
        struct settings saved = g_cfg.file;
        g_cfg.file = file;
        struct settings *next = settings_dup(&file);
        rc = build_live(next, err, errlen);
        if (rc == 0 && settings_save(&g_cfg.file, g_cfg.path) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", g_cfg.path, strerror(errno));
            rc = ERR_IO;
        }
        if (rc != 0) {
            g_cfg.file = saved;
            settings_free(next);
        } else {
            apply_live_locked(next);
            log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "setting %s changed", key);
        }
    }
    pthread_mutex_unlock(&g_cfg.lock);
    return rc;
}

static const struct settings *hook_settings_live(void *ud)
{
    (void)ud;
    pthread_mutex_lock(&g_cfg.lock);
    const struct settings *live = g_cfg.live;
    pthread_mutex_unlock(&g_cfg.lock);
    return live;
}

static void add_setting_json(void *ud, const char *key, const char *value, const char *desc)
{
    (void)desc;
    json_object_set_new(ud, key, json_string(value));
}

static json_t *hook_settings_get(void *ud)
{
    (void)ud;
    json_t *o = json_object();
    pthread_mutex_lock(&g_cfg.lock);
    settings_foreach(g_cfg.live, add_setting_json, o);
    pthread_mutex_unlock(&g_cfg.lock);
    return o;
}

/* Monitoring: every worker appends its part to one JSON array; the admin thread waits. */
struct gather {
    pthread_mutex_t lock;
    json_t *array;
    void (*fill)(struct xmpp_worker *xw, json_t *array);
};

static void worker_gather(struct worker *w, void *arg)
{
    struct gather *g = arg;
    struct worker_ctx *wc = w->ctx;
    json_t *mine = json_array();
    g->fill(wc->xmpp, mine);
    pthread_mutex_lock(&g->lock);
    json_array_extend(g->array, mine);
    pthread_mutex_unlock(&g->lock);
    json_decref(mine);
}

static json_t *gather_all(void (*fill)(struct xmpp_worker *xw, json_t *array))
{
    struct gather g = { PTHREAD_MUTEX_INITIALIZER, json_array(), fill };
    workers_call_all(worker_gather, &g);
    pthread_mutex_destroy(&g.lock);
    return g.array;
}

static json_t *hook_connections(void *ud)
{
    (void)ud;
    return gather_all(xmpp_connections_json);
}

/* The outgoing s2s queues of every worker. */
static json_t *hook_queues(void *ud)
{
    (void)ud;
    return gather_all(s2s_queues_json);
}

static void ensure_certificate(const char *domain)
{
    bool generated = false;
    char err[256];
    if (tls_store_add_domain(g_server.tls, domain, &generated, err, sizeof(err)) != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "certificate for %s: %s", domain, err);
    } else if (generated) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "generated a self-signed certificate for %s",
                domain);
    }
}

/* A chat service is local for s2s and needs a certificate naming it: its domain's generated
 * one covers conference.<domain> (DNS:*.<domain>); a service elsewhere gets its own. */
static void ensure_service_certificate(struct store *st, const char *domain)
{
    struct domain_cfg d;
    if (accounts_domain_get(st, domain, &d) != 0 || d.chat_service[0] == '\0') {
        return;
    }
    const char *dot = strchr(d.chat_service, '.');
    bool covered = dot != NULL && strcmp(dot + 1, domain) == 0;
    if (!covered && !tls_store_has(g_server.tls, d.chat_service)) {
        ensure_certificate(d.chat_service);
    }
}

/* The local domain's own federation lists (issue 20) into the s2s policy; `present` false: the
 * domain went, and its lists with it. */
static void load_domain_s2s_lists(struct store *st, const char *domain, bool present)
{
    struct buf blocked, allowed;
    buf_init(&blocked, 1 << 16);
    buf_init(&allowed, 1 << 16);
    if (!present) {
        s2s_domain_lists_set(domain, NULL, NULL);
    } else if (accounts_domain_s2s_lists(st, domain, &blocked, &allowed) == 0) {
        s2s_domain_lists_set(domain, buf_cstr(&blocked), buf_cstr(&allowed));
    }
    buf_cleanup(&blocked);
    buf_cleanup(&allowed);
}

/* On each worker: the links the federation lists now refuse are closed. */
static void worker_apply_policy(struct worker *w, void *arg)
{
    (void)arg;
    struct worker_ctx *wc = w->ctx;
    s2s_apply_policy(wc->xmpp, wc->cfg);
}

static void hook_domain_changed(void *ud, const char *domain)
{
    (void)ud;
    atomic_fetch_add(&g_server.domains_gen, 1);
    bool present = store_domain_exists(g_hook_store, domain) == 1;
    if (present) {
        if (!tls_store_has(g_server.tls, domain)) {
            ensure_certificate(domain);
        }
        ensure_service_certificate(g_hook_store, domain);
    } else if (tls_store_has(g_server.tls, domain)) {
        tls_store_remove_domain(g_server.tls, domain);
    }
    load_domain_s2s_lists(g_hook_store, domain, present);
    worker_broadcast(worker_apply_policy, NULL);
}

struct kick {
    char bare[2048];
    char condition[32]; /* the stream error; "" = not-authorized */
};

static void worker_kick(struct worker *w, void *arg)
{
    struct kick *k = arg;
    (void)w;
    router_account_end(k->bare, k->condition[0] ? k->condition : "not-authorized", NULL);
    free(k);
}

static void hook_account_changed(void *ud, const char *jid)
{
    (void)ud;
    const char *at = strchr(jid, '@');
    if (at == NULL) {
        return;
    }
    char local[1024], domain[1024];
    snprintf(local, sizeof(local), "%.*s", (int)(at - jid), jid);
    snprintf(domain, sizeof(domain), "%s", at + 1);
    struct account_cfg acc;
    bool gone = store_account_exists(g_hook_store, domain, local) != 1;
    if (!gone && accounts_account_get(g_hook_store, jid, &acc) == 0 && acc.disabled) {
        gone = true;
    }
    if (gone) {
        services_vcard_forget(local, domain); /* its cached XEP-0153 photo hash */
        struct kick *k = xcalloc(1, sizeof(*k));
        snprintf(k->bare, sizeof(k->bare), "%s", jid);
        worker_post(worker_home(strv_c(k->bare)), worker_kick, k);
    }
}

/* starlingctl send: a MESSAGE signal no XMPP stream produced (no P-XMPP-Data: the writer builds
 * the stanza from its fields); the router starts it on the destination's home worker. */
static int hook_send_message(void *ud, const char *from, const char *to, const char *text,
                             char *err, size_t errlen)
{
    (void)ud;
    struct signal *sig = signal_new(SIGNAL_MESSAGE);
    if (jid_parse(&sig->from, strv_c(from)) != 0 || jid_parse(&sig->to, strv_c(to)) != 0) {
        signal_free(sig);
        snprintf(err, errlen, "invalid JID");
        return ERR_INVAL;
    }
    sig->type = xstrdup("chat");
    sig->body = xstrdup(text);
    router_submit(sig);
    return 0;
}

/* pubsub.delete: the deleted node's subscribers hear of it (pubsub/service.c). */
static void hook_pubsub_deleted(void *ud, const char *service, const char *node, const char *config,
                                const json_t *subscribers)
{
    (void)ud;
    size_t n = json_array_size(subscribers);
    const char **jids = xcalloc(n + 1, sizeof(*jids));
    for (size_t i = 0; i < n; i++) {
        jids[i] = json_string_value(json_array_get(subscribers, i));
    }
    pubsub_service_node_deleted(service, node, config, jids, n);
    free(jids);
}

/* starlingctl presence: computed on the account's home worker, where its sessions live; the
 * admin thread waits for the answer. */
struct presence_query {
    char bare[2100];
    json_t *result;
};

static void worker_presence(struct worker *w, void *arg)
{
    (void)w;
    struct presence_query *q = arg;
    q->result = im_presence_json(q->bare);
}

static json_t *hook_presence(void *ud, const char *jid)
{
    (void)ud;
    struct presence_query q = { .result = NULL };
    snprintf(q.bare, sizeof(q.bare), "%s", jid);
    worker_call(worker_home(strv_c(q.bare)), worker_presence, &q);
    return q.result;
}

static json_t *hook_certificate(void *ud, const char *domain)
{
    (void)ud;
    char path[1400];
    snprintf(path, sizeof(path), "%s/certs/%s.crt", g_server.datadir, domain);
    struct tls_cert_info ci;
    if (tls_cert_describe(path, &ci) != 0) {
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s}", "subject", ci.subject, "issuer",
                     ci.issuer, "names", ci.names, "fingerprint_sha256", ci.fingerprint,
                     "not_before", (json_int_t)ci.not_before, "not_after", (json_int_t)ci.not_after,
                     "self_signed", ci.self_signed, "file", path);
}

static json_t *hook_stats(void *ud)
{
    (void)ud;
    json_t *o = json_object();
    xmpp_stats_json(o);
    json_object_set_new(o, "uptime_seconds",
                        json_integer((json_int_t)(time(NULL) - g_server.started)));
    return o;
}

/* The nodes of a cluster share their secrets through the store: the dialback key (a key one
 * node gave out verifies on another) and the fake SCRAM salt of unknown users (the same answer
 * whichever node is asked). */
static int share_cluster_secrets(char *err, size_t errlen)
{
    if (!cluster_enabled()) {
        return 0;
    }
    static const char *const names[] = { "dialback", "fake_salt" };
    struct buf value;
    buf_init(&value, 256);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
        unsigned char raw[32];
        char fresh[2 * sizeof(raw) + 1];
        RAND_bytes(raw, sizeof(raw));
        for (size_t k = 0; k < sizeof(raw); k++) {
            snprintf(fresh + 2 * k, 3, "%02x", raw[k]);
        }
        rc = store_cluster_secret(g_hook_store, names[i], fresh, &value);
        if (rc != 0) {
            snprintf(err, errlen, "cluster: cannot share the %s secret: %s", names[i],
                     store_last_error(g_hook_store));
        } else if (i == 0) {
            s2s_dialback_share_secret(buf_cstr(&value));
        } else {
            sasl_set_fake_salt_secret((const unsigned char *)value.p, value.len);
        }
    }
    buf_cleanup(&value);
    return rc;
}

/* starlingctl cluster status: the live nodes, and the home node of `jid` when given. */
static json_t *hook_cluster(void *ud, const char *jid)
{
    (void)ud;
    if (!cluster_enabled()) {
        return NULL;
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    cluster_status_json(&b);
    json_t *o = json_loads(buf_cstr(&b), 0, NULL);
    if (o != NULL && jid != NULL) {
        cluster_home_of(jid, &b);
        json_object_set_new(o, "home", json_string(buf_cstr(&b)));
    }
    buf_cleanup(&b);
    return o;
}

/* An administrator ends the account's sessions (WebAdmin "disconnect", starlingctl). */
static void hook_disconnect(void *ud, const char *jid)
{
    (void)ud;
    struct kick *k = xcalloc(1, sizeof(*k));
    snprintf(k->bare, sizeof(k->bare), "%s", jid);
    snprintf(k->condition, sizeof(k->condition), "policy-violation");
    worker_post(worker_home(strv_c(k->bare)), worker_kick, k);
}

/* Announcements (admin API "announce"): the online accounts of every worker, then one headline
 * each through the XEP-0133 code of services/adhoc.c. */
struct online_gather {
    pthread_mutex_t lock;
    const char *domain; /* NULL: every domain */
    json_t *bares;      /* object used as a set: bare JID -> true */
};

static void collect_online(void *ud, const struct router_session *s)
{
    struct online_gather *g = ud;
    const char *at = strrchr(s->bare, '@');
    if (at != NULL && (g->domain == NULL || strcmp(at + 1, g->domain) == 0)) {
        pthread_mutex_lock(&g->lock);
        json_object_set_new(g->bares, s->bare, json_true());
        pthread_mutex_unlock(&g->lock);
    }
}

static void worker_collect_online(struct worker *w, void *arg)
{
    (void)w;
    router_sessions_foreach(collect_online, arg);
}

static int hook_announce(void *ud, const char *domain, const char *subject, const char *text)
{
    (void)ud;
    struct online_gather g = { PTHREAD_MUTEX_INITIALIZER, domain, json_object() };
    workers_call_all(worker_collect_online, &g);
    const char *bare;
    json_t *v;
    int n = 0;
    json_object_foreach(g.bares, bare, v)
    {
        services_announce_one(strrchr(bare, '@') + 1, bare, subject, text);
        n++;
    }
    json_decref(g.bares);
    pthread_mutex_destroy(&g.lock);
    return n;
}

/* Chat rooms for the administrator: each worker lists the rooms it hosts; stored rooms not
 * loaded anywhere are added from the store. Actions run on the room's home worker. */
struct muc_gather {
    pthread_mutex_t lock;
    const char *service;
    json_t *rooms;
};

static void worker_muc_rooms(struct worker *w, void *arg)
{
    (void)w;
    struct muc_gather *g = arg;
    json_t *mine = json_array();
    chatroom_rooms_json(g->service, mine);
    pthread_mutex_lock(&g->lock);
    json_array_extend(g->rooms, mine);
    pthread_mutex_unlock(&g->lock);
    json_decref(mine);
}

static int add_stored_room(void *ud, const char *room, const char *config)
{
    (void)config;
    json_t *rooms = ud;
    size_t i;
    json_t *r;
    json_array_foreach(rooms, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "jid")), room) == 0) {
            return 0;
        }
    }
    json_array_append_new(rooms, json_pack("{s:s, s:n, s:b, s:b, s:i, s:i}", "jid", room, "name",
                                           "persistent", 1, "locked", 0, "occupants", 0,
                                           "last_activity", 0));
    return 0;
}

static json_t *hook_muc_rooms(void *ud, const char *service)
{
    (void)ud;
    struct muc_gather g = { PTHREAD_MUTEX_INITIALIZER, service, json_array() };
    workers_call_all(worker_muc_rooms, &g);
    pthread_mutex_destroy(&g.lock);
    store_muc_room_list(g_hook_store, service, add_stored_room, g.rooms);
    return g.rooms;
}

struct muc_call {
    const char *room, *action, *target, *reason;
    json_t *result;
    int rc;
};

static void worker_muc_room(struct worker *w, void *arg)
{
    (void)w;
    struct muc_call *c = arg;
    if (c->action == NULL) {
        c->result = chatroom_room_json(c->room);
    } else if (strcmp(c->action, "kick") == 0) {
        c->rc = chatroom_admin_kick(c->room, c->target, c->reason);
    } else if (strcmp(c->action, "ban") == 0) {
        c->rc = chatroom_admin_ban(c->room, c->target, c->reason);
    } else {
        c->rc = chatroom_admin_destroy(c->room, c->reason);
    }
}

static json_t *hook_muc_room(void *ud, const char *room)
{
    (void)ud;
    struct muc_call c = { .room = room };
    worker_call(worker_home(strv_c(room)), worker_muc_room, &c);
    return c.result;
}

static int hook_muc_action(void *ud, const char *room, const char *action, const char *target,
                           const char *reason)
{
    (void)ud;
    struct muc_call c = { .room = room, .action = action, .target = target, .reason = reason };
    worker_call(worker_home(strv_c(room)), worker_muc_room, &c);
    return c.rc;
}

/* Federation links and queues at the administrator's request: a link is looked for on every
 * worker; a queue lives on its home worker. */
struct s2s_call {
    const char *action, *target, *source;
    unsigned long id;
    atomic_int found;
};

static void worker_s2s_action(struct worker *w, void *arg)
{
    struct s2s_call *c = arg;
    struct worker_ctx *wc = w->ctx;
    int rc = strcmp(c->action, "close") == 0
                 ? s2s_close_link(wc->xmpp, c->id)
                 : s2s_queue_act(wc->xmpp, c->target, c->source, strcmp(c->action, "drop") == 0);
    if (rc == 0) {
        atomic_store(&c->found, 1);
    }
}

static int hook_s2s_action(void *ud, const char *action, unsigned long id, const char *target,
                           const char *source)
{
    (void)ud;
    struct s2s_call c = { action, target, source, id, 0 };
    if (strcmp(action, "close") == 0) {
        workers_call_all(worker_s2s_action, &c);
    } else {
        worker_call(s2s_queue_home(target, source), worker_s2s_action, &c);
    }
    return atomic_load(&c.found) ? 0 : ERR_NOTFOUND;
}

static void add_ns(void *ud, const char *feature)
{
    json_array_append_new(ud, json_string(feature));
}

/* The features page: what disco#info advertises (services/). */
static json_t *hook_disco_features(void *ud, bool account)
{
    (void)ud;
    json_t *list = json_array();
    services_foreach_feature(account ? SERVICE_SCOPE_ACCOUNT : SERVICE_SCOPE_SERVER, add_ns, list);
    return list;
}

/* domain.certificate.set: the files are replaced once checked, then loaded like at a reload. */
static int hook_certificate_install(void *ud, const char *domain, const char *service,
                                    const char *cert, const char *key, json_t *warnings, char *err,
                                    size_t errlen)
{
    (void)ud;
    char certs[1200];
    snprintf(certs, sizeof(certs), "%s/certs", g_server.datadir);
    const char *ca = hook_settings_live(NULL)->tls.s2s_ca_file;
    int rc = admin_cert_install(certs, domain, service, cert, key,
                                strcmp(ca, "system") == 0 ? "" : ca, warnings, err, errlen);
    if (rc == 0) {
        ensure_certificate(domain);
    }
    return rc;
}

/* The worker's context (settings, store handle, router), then every module in table order. */
static void worker_started(struct worker *w, void *ud)
{
    (void)ud;
    struct worker_ctx *wc = xcalloc(1, sizeof(*wc));
    w->ctx = wc;
    wc->worker = w;
    wc->cfg = g_cfg.live;
    char err[512] = "";
    wc->store = store_open(g_server.db_path, err, sizeof(err));
    if (wc->store == NULL) {
        snprintf(g_start_error, sizeof(g_start_error), "cannot open the store: %s", err);
        atomic_store(&g_start_failed, 1);
        return;
    }
    wc->router = router_worker_new();
    wc->started = true;
    if (modules_worker_start(wc, err, sizeof(err)) != 0) {
        snprintf(g_start_error, sizeof(g_start_error), "%s", err);
        atomic_store(&g_start_failed, 1);
    }
}

static void worker_quiesce(struct worker *w, void *ud)
{
    (void)ud;
    struct worker_ctx *wc = w->ctx;
    if (wc && wc->started) {
        modules_worker_quiesce(wc);
    }
}

static void worker_stopped(struct worker *w, void *ud)
{
    (void)ud;
    struct worker_ctx *wc = w->ctx;
    if (wc == NULL) {
        return;
    }
    if (wc->started) {
        modules_worker_stop(wc);
    }
    convert_thread_cleanup();
    router_thread_cleanup();
    router_worker_free(wc->router);
    if (wc->store) {
        store_close(wc->store);
    }
    free(wc);
    w->ctx = NULL;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "starlingd: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The data directory must be writable: the database, its WAL, the logs and the certificates
 * live there. Said once, clearly, before anything fails half-way. */
static int check_datadir(void)
{
    if (access(g_server.datadir, W_OK | X_OK) != 0) {
        fprintf(stderr, "starlingd: the data directory %s is not writable: %s\n", g_server.datadir,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* One starlingd per data directory: an exclusive flock on DATADIR/starling.lock, held until the
 * process ends (the kernel drops it on any exit, kill -9 included: no stale lock). */
static int lock_datadir(void)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/starling.lock", g_server.datadir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "starlingd: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (errno == EWOULDBLOCK || errno == EAGAIN) {
            fprintf(stderr,
                    "starlingd: the data directory %s is in use by another starlingd%s%s%s\n",
                    g_server.datadir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
        } else {
            fprintf(stderr, "starlingd: cannot lock %s: %s\n", path, strerror(errno));
        }
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        fprintf(stderr, "starlingd: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return 0; /* the descriptor stays open, and the lock held, until exit */
}

/* The server writes its settings file with this first line (settings_save); a file without it
 * was written by hand or by a package, before any first start. */
static bool conf_written_by_server(const char *path)
{
    static const char mark[] = "# Starling settings, written by the server.";
    char line[sizeof(mark) + 1] = "";
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return false;
    }
    bool yes = fgets(line, sizeof(line), f) != NULL && strncmp(line, mark, sizeof(mark) - 1) == 0;
    fclose(f);
    return yes;
}

/* A settings file the server wrote without a database (or with an empty one) means the database
 * was lost or never written: a first start now would print a new postmaster password and
 * silently drop every account. Only a directory without such a file gets a first start (a
 * settings file written by hand, e.g. the package's /etc/starling/starling.conf naming the
 * main domain, does not prevent it). */
static int check_database_present(void)
{
    const char *conf = g_cfg.path;
    struct stat sb;
    bool missing = stat(g_server.db_path, &sb) != 0;
    bool have_db = !missing && sb.st_size > 0;
    if (have_db || !conf_written_by_server(conf)) {
        return 0;
    }
    fprintf(stderr,
            "starlingd: %s is %s but %s exists: refusing to start with an empty account "
            "database; restore the database from a backup (docs/backup.md), or remove %s "
            "for a first start\n",
            g_server.db_path, missing ? "missing" : "empty", conf, conf);
    return -1;
}

/* The same on PostgreSQL: a settings file the server wrote with an empty database. */
static int check_pg_database_present(void)
{
    char err[512];
    if (!conf_written_by_server(g_cfg.path)) {
        return 0;
    }
    int rc = store_pg_has_schema(err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "starlingd: %s\n", err);
        return -1;
    }
    if (rc == 0) {
        fprintf(stderr,
                "starlingd: the PostgreSQL database (store.postgresql.conninfo) is empty but %s "
                "exists: refusing to start with an empty account database; restore the database "
                "from a backup, or remove %s for a first start\n",
                g_cfg.path, g_cfg.path);
        return -1;
    }
    return 0;
}

/* store.backend (read at start): SQLite's file, checked to be present, or PostgreSQL. */
static int use_store_backend(const struct settings *cfg)
{
    if (cfg->store.backend == STORE_BACKEND_POSTGRESQL) {
        if (cfg->store.pg_conninfo[0] == '\0') {
            fprintf(stderr, "starlingd: store.backend is postgresql but "
                            "store.postgresql.conninfo is empty\n");
            return -1;
        }
        store_use_backend(STORE_BACKEND_POSTGRESQL, cfg->store.pg_conninfo);
        store_pg_timeout(cfg->store.pg_timeout);
        return check_pg_database_present();
    }
    return check_database_present();
}

/* The database file: mode 0600 (it holds SCRAM keys and clear passwords), then a quick_check
 * bounded by server.db_check_timeout; a damaged database is refused. */
static int check_database(const struct settings *cfg)
{
    char err[512];
    if (!store_is_sqlite()) {
        return 0; /* PostgreSQL checks its own files; store_open() says when it cannot connect */
    }
    if (store_file_prepare(g_server.db_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: %s\n", err);
        return -1;
    }
    if (cfg->server.db_check_timeout == 0) {
        return 0;
    }
    int rc = store_check(g_server.db_path, cfg->server.db_check_timeout * 1000, err, sizeof(err));
    if (rc == ERR_AGAIN) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
                "%s: quick_check did not finish in %d s (server.db_check_timeout); starting "
                "without a complete check",
                g_server.db_path, cfg->server.db_check_timeout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr,
                "starlingd: %s is damaged (%s): refusing to start; restore it from a backup "
                "(docs/backup.md)\n",
                g_server.db_path, err);
        return -1;
    }
    return 0;
}

/* A secret kept in the data directory so unknown users get the same fake SCRAM salt across
 * restarts (no user enumeration by salt changes). */
static void load_secret(void)
{
    char path[1200];
    unsigned char key[32];
    snprintf(path, sizeof(path), "%s/secret", g_server.datadir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && read(fd, key, sizeof(key)) == (ssize_t)sizeof(key)) {
        close(fd);
        sasl_set_fake_salt_secret(key, sizeof(key));
        return;
    }
    if (fd >= 0) {
        close(fd);
    }
    RAND_bytes(key, sizeof(key));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t w = write(fd, key, sizeof(key));
        (void)w;
        fsync(fd);
        close(fd);
    }
    sasl_set_fake_salt_secret(key, sizeof(key));
}

static int count_row(void *ud, const char *a, const char *b)
{
    (void)a;
    (void)b;
    (*(int *)ud)++;
    return 0;
}

/* The first start's password also goes to DATADIR/postmaster-password (0600): under systemd
 * standard output is the journal, which others may read; the log says where the file is. */
static void write_password_file(const char *jid, const char *password)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/postmaster-password", g_server.datadir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    char text[600];
    int len = snprintf(text, sizeof(text), "%s %s\n", jid, password);
    bool ok =
        fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    if (fd >= 0) {
        close(fd);
    }
    if (ok) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
                "the password of %s is in %s (mode 0600): delete the file once noted", jid, path);
    } else {
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "cannot write %s: %s", path,
                strerror(errno));
    }
}

/* First start: the main domain and its postmaster, whose password is printed once. */
static int first_start(struct store *st, const struct settings *cfg)
{
    int n = 0;
    store_domain_list(st, count_row, &n);
    if (n > 0) {
        return 0;
    }
    char err[256];
    const char *domain = cfg->server.main_domain;
    if (accounts_domain_add(st, domain, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: cannot create domain %s: %s\n", domain, err);
        return -1;
    }
    unsigned char rnd[12];
    RAND_bytes(rnd, sizeof(rnd));
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    char password[sizeof(rnd) + 1];
    for (size_t i = 0; i < sizeof(rnd); i++) {
        password[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    }
    password[sizeof(rnd)] = '\0';
    char jid[512];
    snprintf(jid, sizeof(jid), "postmaster@%s", domain);
    if (accounts_account_add(st, jid, password, err, sizeof(err)) != 0 ||
        accounts_account_set(st, jid, "admin", "yes", err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: cannot create %s: %s\n", jid, err);
        return -1;
    }
    printf("%s password: %s\n", jid, password);
    fflush(stdout);
    g_first_start = true;
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "first start: created domain %s and %s", domain,
            jid);
    write_password_file(jid, password);
    return 0;
}

static int load_domain_cert(void *ud, const char *a, const char *b)
{
    (void)b;
    ensure_certificate(a);
    ensure_service_certificate(ud, a);
    load_domain_s2s_lists(ud, a, true);
    return 0;
}

static void parse_path_option(int opt, const char *arg)
{
    if (opt == 'c') {
        snprintf(g_opt.conf, sizeof(g_opt.conf), "%s", arg);
    } else if (opt == 'l') {
        snprintf(g_opt.log_dir, sizeof(g_opt.log_dir), "%s", arg);
    } else if (opt == 'C') {
        g_opt.check = true;
    } else {
        g_opt.no_dns = true;
    }
}

static int parse_args(int argc, char **argv)
{
    modules_set(g_modules, sizeof(g_modules) / sizeof(g_modules[0]));
    xmpp_set_http_start(web_http_start);
    snprintf(g_server.datadir, sizeof(g_server.datadir), "%s", STARLING_DEFAULT_DATADIR);
    static const struct option longopts[] = {
        { "check", no_argument, NULL, 'C' },
        { "no-dns", no_argument, NULL, 'N' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "d:o:c:l:h", longopts, NULL)) != -1) {
        if (opt == 'c' || opt == 'l' || opt == 'C' || opt == 'N') {
            parse_path_option(opt, optarg);
        } else if (opt == 'd') {
            snprintf(g_server.datadir, sizeof(g_server.datadir), "%s", optarg);
        } else if (opt == 'o') {
            const char *eq = strchr(optarg, '=');
            if (eq == NULL || g_cfg.noverrides == MAX_OVERRIDES) {
                fprintf(stderr, "starlingd: -o needs key=value\n");
                return 2;
            }
            g_cfg.override_keys[g_cfg.noverrides] =
                strv_dup((struct strv){ optarg, (size_t)(eq - optarg) });
            g_cfg.override_values[g_cfg.noverrides] = xstrdup(eq + 1);
            g_cfg.noverrides++;
        } else if (opt == 'h') {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    return 0;
}

static int load_settings(void)
{
    char err[512];
    settings_defaults(&g_cfg.file);
    if (settings_load(&g_cfg.file, g_cfg.path, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: %s\n", err);
        return -1;
    }
    struct settings *live = settings_dup(&g_cfg.file);
    if (build_live(live, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: -o %s\n", err);
        settings_free(live);
        return -1;
    }
    publish(live);
    return 0;
}

static void cleanup_settings(void)
{
    for (int i = 0; i < g_cfg.nhistory; i++) {
        settings_free(g_cfg.history[i]);
    }
    for (int i = 0; i < g_cfg.noverrides; i++) {
        free(g_cfg.override_keys[i]);
        free(g_cfg.override_values[i]);
    }
}

static int open_log(void)
{
    char dir[1200];
    if (g_opt.log_dir[0]) {
        snprintf(dir, sizeof(dir), "%s", g_opt.log_dir);
    } else {
        snprintf(dir, sizeof(dir), "%s/SystemLogs", g_server.datadir);
    }
    struct log_options lo = {
        .dir = dir,
        .to_stderr = true,
        .max_file_size = g_cfg.live->log.max_file_size,
        .keep_days = g_cfg.live->log.keep_days,
    };
    return log_open(&lo);
}

/* The WebAdmin is started and stopped under the settings lock, so a concurrent settings change
 * sees it either absent or whole. */
static int start_webadmin(struct admin *admin)
{
    char err[512];
    struct webadmin *w = webadmin_new(admin, g_server.datadir);
    pthread_mutex_lock(&g_cfg.lock);
    int rc = webadmin_start(w, g_cfg.live, err, sizeof(err));
    if (rc == 0) {
        g_webadmin = w;
    }
    pthread_mutex_unlock(&g_cfg.lock);
    if (rc != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "%s", err);
        fprintf(stderr, "starlingd: %s\n", err);
        webadmin_free(w);
    }
    return rc;
}

static void stop_webadmin(void)
{
    pthread_mutex_lock(&g_cfg.lock);
    struct webadmin *w = g_webadmin;
    g_webadmin = NULL;
    pthread_mutex_unlock(&g_cfg.lock);
    webadmin_free(w);
}

/* The settings file is written at the end of a first start, once the database holds the main
 * domain: a settings file then always means a database exists (check_database_present). */
static int save_new_settings(bool existed)
{
    if (g_first_start) {
        /* The domain just created stays the main domain, also when -o chose it. */
        snprintf(g_cfg.file.server.main_domain, sizeof(g_cfg.file.server.main_domain), "%s",
                 g_cfg.live->server.main_domain);
    }
    if ((!existed || g_first_start) && settings_save(&g_cfg.file, g_cfg.path) != 0) {
        fprintf(stderr, "starlingd: cannot write %s: %s\n", g_cfg.path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Accounts from before the look-alike table (or a restored database) get their skeletons once. */
static void fill_skeletons(struct store *st)
{
    int n = signup_skeletons_fill(st);
    if (n > 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
                "recorded the look-alike skeletons of %d existing accounts", n);
    } else if (n < 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
                "cannot record the look-alike skeletons of existing accounts: %s",
                store_last_error(st));
    }
}

/* The descriptor limit: the soft limit is raised to the hard one (a server with the default
 * 1,024 would refuse connections long before its Channels setting), and a Channels value the
 * limit cannot hold is said in the System Log. Each connection takes one descriptor; the
 * reserve covers the store, the log, the listeners, the workers' epoll and event descriptors
 * and outgoing s2s. */
enum { FD_RESERVE = 64 };

static void raise_fd_limit(const struct settings *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            rl.rlim_cur = was;
        }
    }
    long channels = cfg->xmpp.receiving.channels;
    if (rl.rlim_cur != RLIM_INFINITY && channels + FD_RESERVE > (long)rl.rlim_cur) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
                "xmpp.receiving.channels is %ld but the descriptor limit is %ld: connections "
                "beyond about %ld will be refused (raise LimitNOFILE or ulimit -n)",
                channels, (long)rl.rlim_cur, (long)rl.rlim_cur - FD_RESERVE);
    }
}

static void set_paths(void)
{
    snprintf(g_server.db_path, sizeof(g_server.db_path), "%s/starling.db", g_server.datadir);
    if (g_opt.conf[0]) {
        snprintf(g_cfg.path, sizeof(g_cfg.path), "%s", g_opt.conf);
    } else {
        snprintf(g_cfg.path, sizeof(g_cfg.path), "%s/starling.conf", g_server.datadir);
    }
}

/* SIGHUP, part 1: the settings file is read again; this run's -o overrides still apply. A file
 * that does not load changes nothing. */
static void reload_settings(void)
{
    char err[512];
    struct settings *loaded = settings_dup(&g_cfg.file);
    settings_defaults(loaded);
    if (settings_load(loaded, g_cfg.path, err, sizeof(err)) != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "reload: %s: settings unchanged", err);
        settings_free(loaded);
        return;
    }
    pthread_mutex_lock(&g_cfg.lock);
    struct settings saved = g_cfg.file;
    g_cfg.file = *loaded;
    struct settings *next = settings_dup(loaded);
    int rc = build_live(next, err, sizeof(err));
    if (rc == 0) {
        rc = apply_ca_setting("tls.client_ca_file", next, err, sizeof(err));
    }
    if (rc == 0) {
        rc = apply_ca_setting("tls.s2s_ca_file", next, err, sizeof(err));
    }
    if (rc != 0) {
        g_cfg.file = saved;
        settings_free(next);
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "reload: %s: settings unchanged", err);
    } else {
        apply_live_locked(next);
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "reload: settings read from %s", g_cfg.path);
    }
    pthread_mutex_unlock(&g_cfg.lock);
    settings_free(loaded);
}

static int reload_domain_cert(void *ud, const char *domain, const char *unused)
{
    load_domain_cert(ud, domain, unused);
    struct domain_cfg d;
    if (accounts_domain_get(ud, domain, &d) == 0 && d.chat_service[0] &&
        tls_store_has(g_server.tls, d.chat_service)) {
        ensure_certificate(d.chat_service);
    }
    return 0;
}

/* SIGHUP, part 2: every domain's certificate files are read again (new connections use them). */
static void reload_certificates(void)
{
    char err[512];
    struct store *st = store_open(g_server.db_path, err, sizeof(err));
    if (st == NULL) {
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "reload: %s", err);
        return;
    }
    store_domain_list(st, reload_domain_cert, st);
    store_close(st);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "reload: certificates read from %s/certs",
            g_server.datadir);
}

static void reload(void)
{
    notify_reloading();
    reload_settings();
    reload_certificates();
    notify_send("READY=1");
}

/* --check: the settings as starlingd would load them, then the findings (admin/check.c). */
static int run_check(void)
{
    char err[512];
    set_paths();
    settings_defaults(&g_cfg.file);
    if (settings_load(&g_cfg.file, g_cfg.path, err, sizeof(err)) != 0) {
        printf("error: %s. Fix: correct that line (docs/settings.md lists every setting)\n", err);
        return 1;
    }
    struct settings *live = settings_dup(&g_cfg.file);
    if (build_live(live, err, sizeof(err)) != 0) {
        printf("error: -o %s. Fix: correct the option\n", err);
        settings_free(live);
        return 1;
    }
    publish(live);
    if (live->store.backend == STORE_BACKEND_POSTGRESQL) {
        store_use_backend(STORE_BACKEND_POSTGRESQL, live->store.pg_conninfo);
        store_pg_timeout(live->store.pg_timeout);
    }
    if (access(g_cfg.path, F_OK) != 0) {
        printf("note: %s does not exist yet: the defaults apply until the first start writes "
               "it\n",
               g_cfg.path);
    }
    struct check_opts o = {
        .cfg = live,
        .datadir = g_server.datadir,
        .conf_path = g_cfg.path,
        .db_path = g_server.db_path,
        .dns = !g_opt.no_dns,
    };
    return admin_check_run(&o, stdout) > 0 ? 1 : 0;
}

static int run(void)
{
    char err[512];
    set_paths();
    if (make_dir(g_server.datadir) != 0 || check_datadir() != 0 || lock_datadir() != 0) {
        return 1;
    }
    bool conf_existed = access(g_cfg.path, F_OK) == 0;
    if (load_settings() != 0) {
        return 1;
    }
    const struct settings *cfg = g_cfg.live;
    if (use_store_backend(cfg) != 0) {
        return 1;
    }
    /* The XMPP sockets first: an address already served fails the start before anything is
     * written (no first start, no new password); the workers then share these sockets. */
    if (xmpp_listeners_hold(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: %s\n", err);
        return 1;
    }
    if (open_log() != 0) {
        fprintf(stderr, "starlingd: cannot open the System Log in %s: %s\n",
                g_opt.log_dir[0] ? g_opt.log_dir : "DATADIR/SystemLogs", strerror(errno));
        xmpp_listeners_unhold();
        return 1;
    }
    raise_fd_limit(cfg);
    if (check_database(cfg) != 0) {
        xmpp_listeners_unhold();
        log_close();
        return 1;
    }
    g_server.started = time(NULL);
    sasl_global_init();
    load_secret();
    g_hook_store = store_open(g_server.db_path, err, sizeof(err));
    if (g_hook_store == NULL) {
        fprintf(stderr, "starlingd: cannot open %s: %s\n", g_server.db_path, err);
        xmpp_listeners_unhold();
        return 1;
    }
    int rc = 1;
    struct admin *admin = NULL;
    char certs[1200];
    snprintf(certs, sizeof(certs), "%s/certs", g_server.datadir);
    g_server.tls = tls_store_new(certs, err, sizeof(err));
    if (g_server.tls == NULL) {
        fprintf(stderr, "starlingd: TLS: %s\n", err);
        goto out;
    }
    if (first_start(g_hook_store, cfg) != 0 || save_new_settings(conf_existed) != 0) {
        goto out;
    }
    store_domain_list(g_hook_store, load_domain_cert, g_hook_store);
    fill_skeletons(g_hook_store);
    if (store_domain_exists(g_hook_store, cfg->server.main_domain) == 1 &&
        !tls_store_has(g_server.tls, cfg->server.main_domain)) {
        /* Without it no client of the main domain could start TLS: a start failure, not a
         * server that runs and refuses everyone. The reason is in the record above. */
        fprintf(stderr, "starlingd: no usable certificate for the main domain %s in %s\n",
                cfg->server.main_domain, certs);
        goto out;
    }
    tls_store_set_default(g_server.tls, cfg->server.main_domain);
    if (cfg->tls.client_ca_file[0] &&
        tls_store_set_client_ca(g_server.tls, cfg->tls.client_ca_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: tls.client_ca_file: %s\n", err);
        goto out;
    }
    if (s2s_global_init(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: %s\n", err);
        goto out;
    }
    int n = cfg->server.workers > 0 ? cfg->server.workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    n = n < 1 ? 1 : (n > WORKERS_MAX ? WORKERS_MAX : n);
    router_register_component(&chatroom_component);
    xstream_add_feature(services_caps_append);
    if (xstream_sm_inline_register() != 0) { /* XEP-0198/0352 inline in SASL2 and Bind 2 */
        fprintf(stderr, "starlingd: the stream management inline features do not register\n");
        goto out;
    }
    services_init();
    pubsub_init();
    services_set_chat_service(chatroom_service_of);
    services_set_upload_service(web_upload_service_of);
    web_upload_register();
    im_init();
    im_set_presence_stamp(services_vcard_update_new);
    convert_init();
    if (archive_start(g_server.db_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: archive: %s\n", err);
        goto out;
    }
    if (cluster_start(cfg, err, sizeof(err)) != 0 || share_cluster_secrets(err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: %s\n", err);
        goto out;
    }
    workers_set_quiesce(worker_quiesce);
    workers_start(n, worker_started, worker_stopped, NULL);
    xmpp_listeners_unhold(); /* each worker holds its own reference now */
    if (atomic_load(&g_start_failed)) {
        /* The log record first: the plain line is the last one on the terminal. */
        log_rec(LOG_TAG_SYSTEM, LOG_FAILURES, 0, NULL, "%s", g_start_error);
        fprintf(stderr, "starlingd: %s\n", g_start_error);
        workers_stop();
        goto out;
    }
    cluster_workers_running();
    struct admin_hooks hooks = {
        .settings_set = hook_settings_set,
        .settings_get = hook_settings_get,
        .connections = hook_connections,
        .queues = hook_queues,
        .domain_changed = hook_domain_changed,
        .account_changed = hook_account_changed,
        .stats = hook_stats,
        .cluster = hook_cluster,
        .certificate = hook_certificate,
        .disconnect = hook_disconnect,
        .send_message = hook_send_message,
        .presence = hook_presence,
        .settings_live = hook_settings_live,
        .announce = hook_announce,
        .certificate_install = hook_certificate_install,
        .disco_features = hook_disco_features,
        .muc_rooms = hook_muc_rooms,
        .muc_room = hook_muc_room,
        .muc_action = hook_muc_action,
        .s2s_action = hook_s2s_action,
        .pubsub_deleted = hook_pubsub_deleted,
    };
    char sock[1200];
    snprintf(sock, sizeof(sock), "%s/admin.sock", g_server.datadir);
    admin = admin_new(g_server.db_path, &hooks, err, sizeof(err));
    if (admin == NULL || admin_socket_start(admin, sock, err, sizeof(err)) != 0) {
        fprintf(stderr, "starlingd: admin socket: %s\n", err);
        workers_stop();
        goto out;
    }
    if (start_webadmin(admin) != 0) {
        admin_socket_stop(admin);
        workers_stop();
        goto out;
    }
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "%s %s ready, %d workers, data in %s", "starlingd",
            STARLING_VERSION, n, g_server.datadir);
    notify_send("READY=1\nSTATUS=ready");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "reloading (SIGHUP)");
        reload();
    }
    notify_send("STOPPING=1");
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "shutting down (signal %d)", sig);
    stop_webadmin();
    admin_socket_stop(admin);
    cluster_stop();
    workers_stop();
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "stopped");
    rc = 0;
out:
    cluster_free();
    xmpp_listeners_unhold();
    if (admin) {
        admin_free(admin);
    }
    if (g_server.tls) {
        tls_store_free(g_server.tls);
    }
    archive_stop(); /* after the workers: what they queued is written */
    store_close(g_hook_store);
    xmpp_addr_table_free();
    s2s_domain_lists_clear();
    signup_shutdown();
    sasl_global_cleanup();
    log_close();
    return rc;
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc != 0) {
        return rc;
    }
    /* Every thread inherits this mask; the main thread takes the signals with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    rc = g_opt.check ? run_check() : run();
    cleanup_settings();
    return rc;
}
