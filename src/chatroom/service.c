/* service.c: the chat service component: which domains are chat services, the rooms of each
 * worker, the service's own disco, and the process-wide room directory. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "chatroom/chatroom.h"
#include "chatroom/muc_int.h"
#include "core/err.h"
#include "core/log.h"
#include "core/module.h"
#include "core/server.h"
#include "store/store.h"
#include "store/store_muc.h"
#include "xml/ns.h"

#define ROOM_BUCKETS 256

struct svc_entry {
    char *service;
    char *domain;
};

/* Per worker: its rooms and its copy of the service names, in the chatroom module's slot
 * (core/module.h); freed by chatroom_worker_stop(). */
struct muc_worker {
    struct muc_room *rooms[ROOM_BUCKETS];
    struct svc_entry *svcs;
    size_t nsvcs;
    unsigned gen;
    bool loaded;
};

static struct muc_worker *mw(void)
{
    return module_slot_make(&chatroom_module, sizeof(struct muc_worker));
}

const struct settings *muc__cfg(void)
{
    return worker_ctx()->cfg;
}

static size_t bucket(const char *s)
{
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h = h * 33 + *p;
    }
    return h % ROOM_BUCKETS;
}

/* ---- service names ---- */

static void clear_svcs(struct muc_worker *w)
{
    for (size_t i = 0; i < w->nsvcs; i++) {
        free(w->svcs[i].service);
        free(w->svcs[i].domain);
    }
    free(w->svcs);
    w->svcs = NULL;
    w->nsvcs = 0;
}

static int add_svc(void *ud, const char *name, const char *unused)
{
    (void)unused;
    struct muc_worker *w = ud;
    struct domain_cfg d;
    if (accounts_domain_get(worker_ctx()->store, name, &d) != 0 || d.chat_service[0] == '\0') {
        return 0;
    }
    w->svcs = xrealloc(w->svcs, (w->nsvcs + 1) * sizeof(*w->svcs));
    w->svcs[w->nsvcs].service = xstrdup(d.chat_service);
    w->svcs[w->nsvcs].domain = xstrdup(name);
    w->nsvcs++;
    return 0;
}

static void refresh_svcs(void)
{
    struct muc_worker *w = mw();
    unsigned gen = atomic_load(&g_server.domains_gen);
    if (w->loaded && gen == w->gen) {
        return;
    }
    clear_svcs(w);
    w->gen = gen;
    w->loaded = true;
    store_domain_list(worker_ctx()->store, add_svc, w);
}

static bool owns(const char *domain)
{
    if (worker_ctx() == NULL) {
        return false;
    }
    refresh_svcs();
    struct muc_worker *w = mw();
    for (size_t i = 0; i < w->nsvcs; i++) {
        if (strcmp(w->svcs[i].service, domain) == 0) {
            return true;
        }
    }
    return false;
}

bool chatroom_service_of(const char *domain, struct buf *out)
{
    refresh_svcs();
    struct muc_worker *w = mw();
    for (size_t i = 0; i < w->nsvcs; i++) {
        if (strcmp(w->svcs[i].domain, domain) == 0) {
            buf_reset(out);
            buf_append_c(out, w->svcs[i].service);
            return true;
        }
    }
    return false;
}

/* ---- the directory: loaded rooms of every worker, for disco#items and the room limit. It is
 * the one piece of chat state shared between workers, so it has a lock. ---- */

struct dir_entry {
    struct dir_entry *next;
    char *jid;
    char *service;
    char *name;
    bool listed;
    bool persistent;
};

static pthread_mutex_t g_dir_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dir_entry *g_dir;

static void dir_entry_free(struct dir_entry *e)
{
    free(e->jid);
    free(e->service);
    free(e->name);
    free(e);
}

void muc__directory_update(const struct muc_room *r)
{
    pthread_mutex_lock(&g_dir_lock);
    struct dir_entry *e = g_dir;
    while (e && strcmp(e->jid, r->jid) != 0) {
        e = e->next;
    }
    if (e == NULL) {
        e = xcalloc(1, sizeof(*e));
        e->jid = xstrdup(r->jid);
        e->service = xstrdup(r->bare.domain);
        e->next = g_dir;
        g_dir = e;
    }
    free(e->name);
    e->name = xstrdup(r->cfg.name[0] ? r->cfg.name : r->bare.local);
    e->listed = r->cfg.public_room && !r->locked;
    e->persistent = r->cfg.persistent;
    pthread_mutex_unlock(&g_dir_lock);
}

void muc__directory_remove(const char *jid)
{
    pthread_mutex_lock(&g_dir_lock);
    for (struct dir_entry **pp = &g_dir; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->jid, jid) == 0) {
            struct dir_entry *e = *pp;
            *pp = e->next;
            dir_entry_free(e);
            break;
        }
    }
    pthread_mutex_unlock(&g_dir_lock);
}

static bool dir_has(const char *jid)
{
    bool found = false;
    pthread_mutex_lock(&g_dir_lock);
    for (struct dir_entry *e = g_dir; e && !found; e = e->next) {
        found = strcmp(e->jid, jid) == 0;
    }
    pthread_mutex_unlock(&g_dir_lock);
    return found;
}

struct count_ctx {
    int n;
    struct xml_node *items; /* disco#items being built, or NULL to count */
};

static int stored_room(void *ud, const char *room, const char *config)
{
    struct count_ctx *c = ud;
    if (dir_has(room)) {
        return 0;
    }
    c->n++;
    if (c->items) {
        struct buf v;
        buf_init(&v, 1024);
        bool listed = muc__config_peek(config, "public", &v) && strcmp(buf_cstr(&v), "1") == 0;
        if (listed) {
            struct xml_node *it = xml_node_add_child(c->items, NULL, "item");
            xml_node_set_attr(it, "jid", room);
            if (muc__config_peek(config, "name", &v) && v.len > 0) {
                xml_node_set_attr(it, "name", buf_cstr(&v));
            }
        }
        buf_cleanup(&v);
    }
    return 0;
}

static void dir_collect(const char *service, struct count_ctx *c)
{
    pthread_mutex_lock(&g_dir_lock);
    for (struct dir_entry *e = g_dir; e; e = e->next) {
        if (strcmp(e->service, service) != 0) {
            continue;
        }
        c->n++;
        if (c->items && e->listed) {
            struct xml_node *it = xml_node_add_child(c->items, NULL, "item");
            xml_node_set_attr(it, "jid", e->jid);
            xml_node_set_attr(it, "name", e->name);
        }
    }
    pthread_mutex_unlock(&g_dir_lock);
    store_muc_room_list(worker_ctx()->store, service, stored_room, c);
}

int muc__room_count(const char *service)
{
    struct count_ctx c = { 0, NULL };
    dir_collect(service, &c);
    return c.n;
}

int chatroom_live_count(void)
{
    int n = 0;
    pthread_mutex_lock(&g_dir_lock);
    for (struct dir_entry *e = g_dir; e; e = e->next) {
        n++;
    }
    pthread_mutex_unlock(&g_dir_lock);
    return n;
}

/* ---- rooms of this worker ---- */

struct muc_room *muc__room_find(const char *jid)
{
    for (struct muc_room *r = mw()->rooms[bucket(jid)]; r; r = r->next) {
        if (strcmp(r->jid, jid) == 0) {
            return r;
        }
    }
    return NULL;
}

static void room_add(struct muc_room *r)
{
    struct muc_room **head = &mw()->rooms[bucket(r->jid)];
    r->next = *head;
    *head = r;
    muc__directory_update(r);
}

void muc__room_forget(struct muc_room *r)
{
    for (struct muc_room **pp = &mw()->rooms[bucket(r->jid)]; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    muc__directory_remove(r->jid);
    muc__room_free(r);
}

/* chatroom/admin.c: every room of this worker; a room found or loaded from the store. */
void muc__rooms_foreach(void (*fn)(void *ud, struct muc_room *r), void *ud)
{
    struct muc_worker *w = mw();
    for (size_t i = 0; i < ROOM_BUCKETS; i++) {
        for (struct muc_room *r = w->rooms[i]; r; r = r->next) {
            fn(ud, r);
        }
    }
}

struct muc_room *muc__room_get(const char *jid)
{
    struct muc_room *r = muc__room_find(jid);
    if (r != NULL) {
        return r;
    }
    struct jid bare = { 0 };
    if (jid_parse(&bare, strv_c(jid)) != 0) {
        return NULL;
    }
    r = muc__room_new(&bare);
    jid_cleanup(&bare);
    if (!muc__load(r)) {
        muc__room_free(r);
        return NULL;
    }
    room_add(r);
    return r;
}

static void collect_room(void *ud, struct muc_room *r)
{
    buf_append(ud, &r, sizeof(r));
}

/* Rooms being handed a signal on this thread right now (see room_home below). */
static __thread int t_rooms_busy;

/* Stored (when it is a configured persistent room), its occupants told, unloaded. */
static void hand_over(struct muc_room *r)
{
    if (r->cfg.persistent && !r->locked && !r->destroyed) {
        muc__save(r);
    }
    static const int shutdown = 332;
    for (struct muc_occupant *o = r->occupants; o; o = o->next) {
        muc__send_presence_to(r, o, o, true, &shutdown, 1, NULL, "The room moved to another node");
    }
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
            "chatroom: %s handed over to its new node (%d "
            "occupant(s) told to rejoin)",
            r->jid, r->noccupants);
    muc__room_forget(r);
}

int chatroom_hand_over(chatroom_moved_fn *moved)
{
    if (*module_slot(&chatroom_module) == NULL) {
        return 0;
    }
    struct buf rooms;
    buf_init(&rooms, 1 << 26);
    muc__rooms_foreach(collect_room, &rooms);
    int n = 0;
    t_rooms_busy++; /* what bounces back into a room meanwhile waits for its turn */
    for (size_t off = 0; off + sizeof(struct muc_room *) <= rooms.len;
         off += sizeof(struct muc_room *)) {
        struct muc_room *r;
        memcpy(&r, rooms.p + off, sizeof(r));
        if (moved(r->jid)) {
            hand_over(r);
            n++;
        }
    }
    t_rooms_busy--;
    buf_cleanup(&rooms);
    return n;
}

/* The occupants of `r` whose session is gone leave (status 333); returns how many. */
static int drop_gone_in(struct muc_room *r, chatroom_gone_fn *gone, chatroom_removed_fn *removed,
                        void *ud)
{
    int n = 0;
    struct muc_occupant *o = r->occupants;
    while (o != NULL) {
        struct muc_occupant *next = o->next;
        if (gone(ud, &o->real)) {
            struct jid at = { .local = r->bare.local,
                              .domain = r->bare.domain,
                              .resource = o->nick };
            char oid[64];
            muc__occupant_id(r, &o->real, oid);
            removed(ud, &at, &o->real, muc__aff_name(muc__aff_of(r, &o->real)), oid);
            muc__leave_gone(r, o); /* frees o and may reorder the list: start again */
            n++;
            next = r->occupants;
        }
        o = next;
    }
    return n;
}

int chatroom_drop_gone(chatroom_gone_fn *gone, chatroom_removed_fn *removed, void *ud)
{
    if (*module_slot(&chatroom_module) == NULL) {
        return 0;
    }
    struct buf rooms;
    buf_init(&rooms, 1 << 26);
    muc__rooms_foreach(collect_room, &rooms);
    int total = 0;
    t_rooms_busy++;
    for (size_t off = 0; off + sizeof(struct muc_room *) <= rooms.len;
         off += sizeof(struct muc_room *)) {
        struct muc_room *r;
        memcpy(&r, rooms.p + off, sizeof(r));
        char *name = xstrdup(r->jid);
        int n = drop_gone_in(r, gone, removed, ud);
        if (n > 0) {
            bool ended = muc__maybe_stop(r);
            log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
                    "chatroom: %s: %d occupant(s) of a node that left or restarted removed%s", name,
                    n, ended ? " (the room ended)" : "");
        }
        free(name);
        total += n;
    }
    t_rooms_busy--;
    buf_cleanup(&rooms);
    return total;
}

void chatroom_worker_stop(void)
{
    struct muc_worker *w = *module_slot(&chatroom_module);
    if (w == NULL) {
        return;
    }
    for (size_t i = 0; i < ROOM_BUCKETS; i++) {
        while (w->rooms[i]) {
            struct muc_room *r = w->rooms[i];
            w->rooms[i] = r->next;
            muc__directory_remove(r->jid);
            muc__room_free(r);
        }
    }
    clear_svcs(w);
    module_slot_free(&chatroom_module);
}

/* ---- the service address itself ---- */

static void service_disco_info(const struct signal *sig, const struct xml_node *q)
{
    if (xml_node_attr(q, "node")) {
        muc__reply_error(sig, "cancel", "item-not-found");
        return;
    }
    struct xml_node *r = xml_node_new(NS_DISCO_INFO, "query");
    struct xml_node *id = xml_node_add_child(r, NULL, "identity");
    xml_node_set_attr(id, "category", "conference");
    xml_node_set_attr(id, "type", "text");
    xml_node_set_attr(id, "name", "Chatrooms");
    static const char *const feats[] = { NS_DISCO_INFO,  NS_DISCO_ITEMS, NS_MUC,
                                         NS_OCCUPANT_ID, NS_PING,        NULL };
    for (size_t i = 0; feats[i]; i++) {
        xml_node_set_attr(xml_node_add_child(r, NULL, "feature"), "var", feats[i]);
    }
    muc__reply_result(sig, r);
}

static void service_signal(struct signal *sig)
{
    const struct xml_node *q = sig->xmpp_data ? xml_node_first_element(sig->xmpp_data) : NULL;
    bool get = sig->type && strcmp(sig->type, "get") == 0;
    if (sig->method == SIGNAL_INFO && get && q && q->ns && strcmp(q->ns, NS_DISCO_INFO) == 0) {
        service_disco_info(sig, q);
    } else if (sig->method == SIGNAL_INFO && get && q && q->ns &&
               strcmp(q->ns, NS_DISCO_ITEMS) == 0) {
        struct xml_node *items = xml_node_new(NS_DISCO_ITEMS, "query");
        struct count_ctx c = { 0, items };
        dir_collect(sig->to.domain, &c);
        muc__reply_result(sig, items);
    } else if (sig->method == SIGNAL_INFO && get && q && q->ns && strcmp(q->ns, NS_PING) == 0) {
        muc__reply_result(sig, NULL);
    } else if (sig->method == SIGNAL_INFO || sig->method == SIGNAL_MESSAGE) {
        muc__reply_error(sig, "cancel", "service-unavailable");
    }
    signal_free(sig);
}

static bool is_join(const struct signal *sig)
{
    return sig->method == SIGNAL_NOTIFY && sig->type == NULL && sig->to.resource != NULL;
}

/* Rooms being handed a signal on this thread right now. A room's handler routes signals (to
 * occupants, errors back to senders) while it walks its lists, and a delivery that fails at once
 * bounces back into a room (an error from an occupant makes it leave): such a signal is posted to
 * the worker and handled after the current one, never while a room is in the middle of a change.
 * t_rooms_busy (above) counts them. */

static void room_signal(struct worker *w, struct signal *sig);

/* On the room's home worker: find, load or create the room task and hand it the signal. */
static void room_home(struct worker *w, void *arg)
{
    t_rooms_busy++;
    room_signal(w, arg);
    t_rooms_busy--;
}

static void room_signal(struct worker *w, struct signal *sig)
{
    (void)w;
    struct buf key;
    buf_init(&key, 4096);
    jid_bare(&sig->to, &key);
    struct muc_room *r = muc__room_find(buf_cstr(&key));
    if (r == NULL) {
        struct jid bare = { 0 };
        jid_copy(&bare, &sig->to);
        free(bare.resource);
        bare.resource = NULL;
        r = muc__room_new(&bare);
        jid_cleanup(&bare);
        if (muc__load(r)) {
            room_add(r);
        } else if (is_join(sig)) {
            if (muc__room_count(sig->to.domain) >= muc__cfg()->muc.max_rooms) {
                muc__room_free(r);
                muc__reply_error(sig, "wait", "resource-constraint");
                signal_free(sig);
                buf_cleanup(&key);
                return;
            }
            r->fresh = true;
            r->locked = true;
            room_add(r);
        } else {
            muc__room_free(r);
            bool unavailable = sig->type && strcmp(sig->type, "unavailable") == 0;
            if (sig->method != SIGNAL_NOTIFY || !unavailable) {
                muc__reply_error(sig, "cancel", "item-not-found");
            }
            signal_free(sig);
            buf_cleanup(&key);
            return;
        }
    }
    buf_cleanup(&key);
    muc__room_signal(r, sig);
    muc__maybe_stop(r);
}

static int deliver(struct signal *sig)
{
    if (sig->to.local == NULL) {
        if (sig->to.resource) {
            muc__reply_error(sig, "cancel", "service-unavailable");
            signal_free(sig);
            return ERR_NOTFOUND;
        }
        service_signal(sig);
        return 0;
    }
    struct buf key;
    buf_init(&key, 4096);
    jid_bare(&sig->to, &key);
    int home = worker_home(buf_strv(&key));
    buf_cleanup(&key);
    struct worker *self = worker_self();
    if (self && self->id == home && t_rooms_busy == 0) {
        room_home(self, sig);
    } else {
        worker_post(home, room_home, sig);
    }
    return 0;
}

const struct router_component chatroom_component = {
    .name = "chatroom",
    .owns = owns,
    .deliver = deliver,
};
