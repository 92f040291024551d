/* cluster.c: nodes over NATS: heartbeats on "starling.cluster.hb" give the live nodes, the home
 * node of a bare JID is the rendezvous-hash winner among them, and a signal whose address lives
 * on another node is published, as stanza text, to "starling.node.<id>" (docs/internals/cluster.md). */
#include "cluster/cluster.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/module.h"
#include "core/server.h"
#include "chatroom/chatroom.h"
#include "im/im.h"
#include "cluster/seats.h"
#include "core/worker.h"
#include "jid/jid.h"
#include "signal/router.h"
#include "store/store_cluster.h"
#include "xml/ns.h"
#include "xml/xml.h"
#include "xmpp/c2s.h"
#include "xmpp/convert.h"
#include "xmpp/s2s.h"

#define MAX_NODES 64
#define HEARTBEAT_MS 300
#define NODE_TIMEOUT_MS 1500
#define SUBJECT_HB "starling.cluster.hb"
#define SUBJECT_NODE "starling.node."

struct node {
    char id[64];
    char address[256];
    long long seen_ms;
    long sessions; /* as its last heartbeat said */
    long rooms;
    char run[32];      /* the start of the node's process its heartbeats come from */
    char left_run[32]; /* its run when it was last seen leaving ("" while live) */
    bool restarted;    /* a heartbeat of a new run came since the heartbeat thread's last look */
    bool was_live;     /* at the heartbeat thread's last look */
};

static struct {
    pthread_mutex_t lock;
    struct node nodes[MAX_NODES];
    int n;
} g_members = { .lock = PTHREAD_MUTEX_INITIALIZER };

static char g_self[64];
static char g_address[256];
static natsConnection *g_nc;
static natsSubscription *g_sub_node;
static natsSubscription *g_sub_hb;
static pthread_t g_hb_thread;
static atomic_bool g_running;
static atomic_long g_forwarded;
static atomic_long g_received;
/* Of g_forwarded: the room stanzas sent as one frame per node for several occupants. */
static atomic_long g_grouped;
/* The workers run: heartbeats go out (so other nodes route here only from now on), stanzas
 * from NATS can be delivered, sessions may be moved. */
static atomic_bool g_workers_up;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cluster_enabled(void)
{
    return g_nc != NULL;
}

/* ---- membership ----------------------------------------------------------------------------- */

/* This start of the node (wall clock and pid): its heartbeats carry it, so the other nodes see
 * a node that restarted faster than the heartbeat timeout; its s2s journal rows are told from
 * those of an earlier start with the same id. */
static char g_run[32];

/* Records a heartbeat "ID\nADDRESS\nSESSIONS ROOMS\nRUN" (under the lock). */
static void member_seen(const char *id, size_t idlen, const char *address, size_t alen,
                        long sessions, long rooms, struct strv run)
{
    if (idlen == 0 || idlen >= sizeof(g_members.nodes[0].id)) {
        return;
    }
    pthread_mutex_lock(&g_members.lock);
    int i = 0;
    while (i < g_members.n &&
           !(strncmp(g_members.nodes[i].id, id, idlen) == 0 && g_members.nodes[i].id[idlen] == 0)) {
        i++;
    }
    if (i == g_members.n && g_members.n < MAX_NODES) {
        g_members.n++;
        memcpy(g_members.nodes[i].id, id, idlen);
        g_members.nodes[i].id[idlen] = '\0';
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "cluster: node %s joined",
                g_members.nodes[i].id);
    }
    if (i < g_members.n) {
        struct node *nd = &g_members.nodes[i];
        alen = alen < sizeof(nd->address) ? alen : sizeof(nd->address) - 1;
        memcpy(nd->address, address, alen);
        nd->address[alen] = '\0';
        nd->seen_ms = now_ms();
        nd->sessions = sessions;
        nd->rooms = rooms;
        run.len = run.len < sizeof(nd->run) ? run.len : sizeof(nd->run) - 1;
        if (nd->run[0] != '\0' && (strlen(nd->run) != run.len || memcmp(nd->run, run.p, run.len))) {
            nd->restarted = true;
        }
        memcpy(nd->run, run.p, run.len);
        nd->run[run.len] = '\0';
    }
    pthread_mutex_unlock(&g_members.lock);
}

static bool live(const struct node *nd, long long now)
{
    return strcmp(nd->id, g_self) == 0 || now - nd->seen_ms < NODE_TIMEOUT_MS;
}

/* Rendezvous (highest random weight) hashing: FNV-1a over "id\0key", then a 64-bit mix. */
static uint64_t score(const char *id, const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = id;; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        if (*p == '\0') {
            break;
        }
    }
    for (const char *p = key; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* The home node of `key`: its id and client address (and its run, when `run` is not NULL, of
 * size sizeof(g_run)) copied out. */
static void home_run(const char *key, char *id, size_t idsize, char *address, size_t asize,
                     char *run)
{
    long long now = now_ms();
    const struct node *best = NULL;
    uint64_t best_score = 0;
    pthread_mutex_lock(&g_members.lock);
    for (int i = 0; i < g_members.n; i++) {
        const struct node *nd = &g_members.nodes[i];
        uint64_t s = score(nd->id, key);
        if (live(nd, now) &&
            (best == NULL || s > best_score || (s == best_score && strcmp(nd->id, best->id) < 0))) {
            best = nd;
            best_score = s;
        }
    }
    snprintf(id, idsize, "%s", best ? best->id : g_self);
    if (address != NULL) {
        snprintf(address, asize, "%s", best ? best->address : g_address);
    }
    if (run != NULL) {
        snprintf(run, sizeof(g_run), "%s", best ? best->run : g_run);
    }
    pthread_mutex_unlock(&g_members.lock);
}

static void home(const char *key, char *id, size_t idsize, char *address, size_t asize)
{
    home_run(key, id, idsize, address, asize, NULL);
}

/* The bare JID of `j` ("local@domain" or "domain") into `out`: no allocation per stanza. */
static void bare_of(const struct jid *j, char *out, size_t size)
{
    if (j->local != NULL) {
        snprintf(out, size, "%s@%s", j->local, j->domain);
    } else {
        snprintf(out, size, "%s", j->domain);
    }
}

void cluster_home_of(const char *key, struct buf *out)
{
    char id[64];
    home(key, id, sizeof(id), NULL, 0);
    buf_reset(out);
    buf_append_c(out, id);
}

void cluster_status_json(struct buf *out)
{
    long long now = now_ms();
    buf_printf(out,
               "{\"self\":\"%s\",\"forwarded\":%ld,\"grouped\":%ld,\"received\":%ld,"
               "\"nodes\":[",
               g_self, atomic_load(&g_forwarded), atomic_load(&g_grouped),
               atomic_load(&g_received));
    pthread_mutex_lock(&g_members.lock);
    bool first = true;
    for (int i = 0; i < g_members.n; i++) {
        const struct node *nd = &g_members.nodes[i];
        bool me = strcmp(nd->id, g_self) == 0;
        if (!live(nd, now)) {
            continue;
        }
        buf_printf(out,
                   "%s{\"id\":\"%s\",\"address\":\"%s\",\"age_ms\":%lld,\"self\":%s,"
                   "\"sessions\":%ld,\"rooms\":%ld}",
                   first ? "" : ",", nd->id, nd->address, me ? 0 : now - nd->seen_ms,
                   me ? "true" : "false", me ? router_sessions_total() : nd->sessions,
                   me ? (long)chatroom_live_count() : nd->rooms);
        first = false;
    }
    pthread_mutex_unlock(&g_members.lock);
    buf_append_c(out, "]}");
}

/* ---- NATS ----------------------------------------------------------------------------------- */

/* "SESSIONS ROOMS" (decimal) into counts[0..1]; what does not parse stays 0. */
static void counts_parse(const char *p, size_t len, long counts[2])
{
    int i = 0;
    for (size_t k = 0; k < len && i < 2; k++) {
        if (p[k] >= '0' && p[k] <= '9') {
            if (counts[i] < (1L << 40)) {
                counts[i] = counts[i] * 10 + (p[k] - '0');
            }
        } else if (p[k] == ' ') {
            i++;
        } else {
            return;
        }
    }
}

static void on_heartbeat(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    (void)nc;
    (void)sub;
    (void)ud;
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    const char *nl = memchr(data, '\n', len);
    if (nl != NULL) {
        const char *address = nl + 1;
        size_t rest = len - (size_t)(address - data);
        const char *nl2 = memchr(address, '\n', rest);
        long counts[2] = { 0, 0 };
        struct strv run = { "", 0 };
        if (nl2 != NULL) {
            size_t left = rest - (size_t)(nl2 + 1 - address);
            counts_parse(nl2 + 1, left, counts);
            const char *nl3 = memchr(nl2 + 1, '\n', left);
            if (nl3 != NULL) {
                run = (struct strv){ nl3 + 1, left - (size_t)(nl3 + 1 - (nl2 + 1)) };
            }
            rest = (size_t)(nl2 - address);
        }
        member_seen(data, (size_t)(nl - data), address, rest, counts[0], counts[1], run);
    }
    natsMsg_Destroy(msg);
}

/* A stanza's text (convert_signal_xml's form) back into a signal, its 'from' the sender's; NULL
 * with the reason in *why. */
static struct signal *signal_from_text(struct strv text, const char **why)
{
    struct xml_node *el = xml_parse_element(text, NS_CLIENT, NULL);
    const char *from = el != NULL ? xml_node_attr(el, "from") : NULL;
    struct jid j = { 0 };
    struct signal *sig = NULL;
    *why = "not parsed";
    if (from != NULL && jid_parse(&j, strv_c(from)) == 0 &&
        convert_stanza(el, &j, &sig, why) != 0) {
        sig = NULL;
    }
    jid_cleanup(&j);
    xml_node_unref(el);
    return sig;
}

/* ---- frames: one NATS message carries the stanzas of one loop pass for one node ---------- */

/* A frame: its kind (1 byte), the key's length and the text's length (4 bytes each,
 * big-endian), the key, the stanza's text. Kind 'S': one stanza, the key is the bare JID it was
 * routed by (the receiver picks the home worker by it without parsing the stanza). Kind 'G': a
 * room's stanza for several recipients of the receiving node, the key their addresses (local,
 * domain, resource: each NUL-terminated), the text addressed to the first of them. */
#define FRAME_HEAD 9
#define FRAME_ONE 'S'
#define FRAME_GROUP 'G'
/* Kind 'R': "I took you for dead and told your sessions' contacts that they went away" (the
 * key is the sender's id, no text): a node that receives it was alive after all (frozen, or its
 * heartbeats late) and announces its sessions' presence again. */
#define FRAME_REVIVE 'R'
/* A batch is published before it grows past this (NATS's default max_payload is 1 MB). */
#define BATCH_MAX (256 * 1024)

static void put32(unsigned char *h, size_t v)
{
    h[0] = (unsigned char)(v >> 24);
    h[1] = (unsigned char)(v >> 16);
    h[2] = (unsigned char)(v >> 8);
    h[3] = (unsigned char)v;
}

static size_t get32(const unsigned char *h)
{
    return (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
}

/* Appends a frame of `kind` with `key` and the stanza text of `sig` (or `text` when sig is
 * NULL) to `out`; out unchanged on failure. */
static int frame_append(struct buf *out, char kind, struct strv key, const struct signal *sig,
                        struct strv text)
{
    size_t start = out->len;
    unsigned char head[FRAME_HEAD] = { (unsigned char)kind };
    put32(head + 1, key.len);
    int rc = key.len < (1u << 31) ? buf_append(out, head, sizeof(head)) : ERR_LIMIT;
    if (rc == 0) {
        rc = buf_append(out, key.p, key.len);
    }
    size_t text_at = out->len;
    if (rc == 0) {
        rc = sig != NULL ? convert_signal_xml(sig, out) : buf_append(out, text.p, text.len);
    }
    if (rc != 0) {
        out->len = start;
        if (out->p != NULL) {
            out->p[start] = '\0';
        }
        return rc;
    }
    put32((unsigned char *)out->p + start + 5, out->len - text_at);
    return 0;
}

/* The frame at *off of data[0..len): its kind, key and text; false at the end or on a torn
 * frame (or an unknown kind). */
static bool frame_next(const char *data, size_t len, size_t *off, char *kind, struct strv *key,
                       struct strv *text)
{
    const unsigned char *h = (const unsigned char *)data + *off;
    if (len - *off < FRAME_HEAD ||
        (h[0] != FRAME_ONE && h[0] != FRAME_GROUP && h[0] != FRAME_REVIVE)) {
        return false;
    }
    size_t klen = get32(h + 1);
    size_t tlen = get32(h + 5);
    size_t rest = len - *off - FRAME_HEAD;
    if (klen > rest || tlen > rest - klen) {
        return false;
    }
    *kind = (char)h[0];
    *key = (struct strv){ data + *off + FRAME_HEAD, klen };
    *text = (struct strv){ key->p + klen, tlen };
    *off += FRAME_HEAD + klen + tlen;
    return true;
}

/* The next recipient of a group frame's key (three NUL-terminated parts) into `to` (borrowed
 * from the key); false at its end or when the parts are not there. */
static bool group_next(struct strv key, size_t *off, struct jid *to)
{
    char *part[3];
    for (int i = 0; i < 3; i++) {
        const char *p = key.p + *off;
        const char *nul = *off < key.len ? memchr(p, '\0', key.len - *off) : NULL;
        if (nul == NULL || nul == p) {
            return false;
        }
        part[i] = (char *)p;
        *off += (size_t)(nul - p) + 1;
    }
    *to = (struct jid){ .local = part[0], .domain = part[1], .resource = part[2] };
    return true;
}

static void note_seat(const struct signal *sig);
static void sweep_seats(void);
static void revived(struct strv by);

/* A group frame's stanza fanned out here to its recipients (all homed on this worker). */
static long submit_group_here(struct strv key, struct strv text)
{
    const char *why = NULL;
    struct signal *sig = signal_from_text(text, &why);
    if (sig == NULL) {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL, "cluster: unusable stanza (%s)",
                why ? why : "not parsed");
        return 0;
    }
    struct router_fanout *f = router_fanout_new(sig);
    router_fanout_here(f);
    long n = 0;
    size_t off = 0;
    struct jid to;
    while (group_next(key, &off, &to)) {
        router_fanout_add(f, &to, NULL);
        n++;
    }
    router_fanout_submit(f);
    signal_free(sig);
    return n;
}

/* Each frame's stanza parsed and routed with the first decision "here", in order (on a worker
 * at once, from another thread through the home worker's inbox); returns how many. */
static long submit_frames_here(const struct buf *frames)
{
    long n = 0;
    size_t off = 0;
    char kind;
    struct strv key;
    struct strv text;
    while (frame_next(frames->p, frames->len, &off, &kind, &key, &text)) {
        const char *why = NULL;
        struct signal *sig = NULL;
        if (kind == FRAME_REVIVE) {
            continue; /* only on_node_message acts on it */
        }
        if (kind == FRAME_GROUP && worker_self() != NULL) {
            n += submit_group_here(key, text);
            continue;
        }
        if (kind == FRAME_GROUP) {
            /* Not on a worker (a failed publish from another thread): one by one. */
            size_t goff = 0;
            struct jid to;
            while (group_next(key, &goff, &to) && (sig = signal_from_text(text, &why)) != NULL) {
                jid_cleanup(&sig->to);
                jid_copy(&sig->to, &to);
                router_submit_here(sig);
                n++;
            }
            continue;
        }
        sig = signal_from_text(text, &why);
        if (sig == NULL) {
            log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL, "cluster: unusable stanza (%s)",
                    why ? why : "not parsed");
        } else if (worker_self() != NULL) {
            n++;
            note_seat(sig);
            router_submit_here_now(sig);
        } else {
            n++;
            router_submit_here(sig);
        }
    }
    return n;
}

/* On a home worker: the frames another node sent for addresses homed on it. */
static void deliver_frames(struct worker *w, void *arg)
{
    (void)w;
    struct buf *frames = arg;
    submit_frames_here(frames);
    buf_cleanup(frames);
    free(frames);
}

/* The home worker of a recipient given as parts (its bare JID "local@domain"). */
static int worker_of(const struct jid *to)
{
    char bare[2 * JID_PART_MAX + 2];
    int len = snprintf(bare, sizeof(bare), "%s@%s", to->local, to->domain);
    return worker_home(
        (struct strv){ bare, len > 0 && (size_t)len < sizeof(bare) ? (size_t)len : 0 });
}

static struct buf *per_worker(struct buf **per, int hw, size_t max)
{
    if (per[hw] == NULL) {
        per[hw] = xmalloc(sizeof(*per[hw]));
        buf_init(per[hw], max);
    }
    return per[hw];
}

/* A group frame split by the recipients' home workers: a group frame for each. */
static long split_group(struct buf **per, struct strv key, struct strv text, size_t max)
{
    long n = 0;
    struct buf mine;
    buf_init(&mine, key.len + 1);
    for (int w = 0; w < workers_count(); w++) {
        size_t off = 0;
        size_t at = 0;
        struct jid to;
        buf_reset(&mine);
        while (group_next(key, &off, &to)) {
            if (worker_of(&to) == w) {
                buf_append(&mine, key.p + at, off - at);
                n++;
            }
            at = off;
        }
        if (mine.len > 0) {
            frame_append(per_worker(per, w, max), FRAME_GROUP, buf_strv(&mine), NULL, text);
        }
    }
    buf_cleanup(&mine);
    return n;
}

/* Stanzas another node routed here (a batch of frames): handed to their home workers, one post
 * per worker per batch; they are parsed there. */
static void on_node_message(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *ud)
{
    (void)nc;
    (void)sub;
    (void)ud;
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    struct buf *per[WORKERS_MAX] = { 0 };
    size_t off = 0;
    char kind;
    struct strv key;
    struct strv text;
    long n = 0;
    while (atomic_load(&g_workers_up) && frame_next(data, len, &off, &kind, &key, &text)) {
        if (kind == FRAME_REVIVE) {
            revived(key);
            continue;
        }
        if (kind == FRAME_GROUP) {
            n += split_group(per, key, text, 2 * len + 1);
            continue;
        }
        buf_append(per_worker(per, worker_home(key), 2 * len + 1), key.p - FRAME_HEAD,
                   FRAME_HEAD + key.len + text.len);
        n++;
    }
    if (off != len) {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
                "cluster: %zu bytes from NATS not delivered (%s)", len - off,
                atomic_load(&g_workers_up) ? "torn frame" : "not started yet, or stopping");
    }
    atomic_fetch_add(&g_received, n);
    for (int i = 0; i < WORKERS_MAX; i++) {
        if (per[i] != NULL) {
            worker_post(i, deliver_frames, per[i]);
        }
    }
    natsMsg_Destroy(msg);
}

/* ---- the journal of the outgoing s2s queues ------------------------------------------------- */

static atomic_ulong g_journal_seq;

static void journal_id(uint64_t seq, char *out, size_t size)
{
    snprintf(out, size, "%s/%s/%llu", g_self, g_run, (unsigned long long)seq);
}

/* s2s_journal.add, on the queue's worker: the row is written before the stanza can be sent. */
static uint64_t journal_add(const char *target, const char *source, const char *text, size_t len)
{
    struct worker_ctx *wc = worker_ctx();
    if (wc == NULL || wc->store == NULL) {
        return 0;
    }
    uint64_t seq = atomic_fetch_add(&g_journal_seq, 1) + 1;
    char id[sizeof(g_self) + sizeof(g_run) + 24];
    journal_id(seq, id, sizeof(id));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *stanza = strv_dup((struct strv){ text, len });
    struct store_s2s_row row = { .id = id,
                                 .node = g_self,
                                 .run = g_run,
                                 .seq = seq,
                                 .target = target,
                                 .source = source,
                                 .stanza = stanza,
                                 .queued_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 };
    int rc = store_cluster_s2s_add(wc->store, &row);
    free(stanza);
    if (rc != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
                "cluster: %s -> %s: stanza not journaled (%s): lost if this node dies", source,
                target, err_str(rc));
        return 0;
    }
    return seq;
}

/* s2s_journal.done: written, bounced or dropped. */
static void journal_done(uint64_t seq)
{
    struct worker_ctx *wc = worker_ctx();
    char id[sizeof(g_self) + sizeof(g_run) + 24];
    journal_id(seq, id, sizeof(id));
    if (wc == NULL || wc->store == NULL || store_cluster_s2s_done(wc->store, id) != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
                "cluster: journal row %s not removed: sent again if this node dies", id);
    }
}

static const struct s2s_journal g_journal = { journal_add, journal_done };

struct takeover {
    int rows;
    int sent;
};

/* One claimed row: its stanza routed again from here (into this node's own queue, journaled
 * anew), then its row removed. */
static int takeover_row(void *ud, const char *const *cols, int ncols)
{
    struct takeover *t = ud;
    struct store *st = worker_ctx()->store;
    const char *why = NULL;
    t->rows++;
    struct signal *sig = ncols == 2 && cols[1] ? signal_from_text(strv_c(cols[1]), &why) : NULL;
    if (sig != NULL) {
        t->sent++;
        router_submit(sig);
    } else {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL, "cluster: journal row %s unusable (%s)",
                cols[0], why ? why : "empty");
    }
    store_cluster_s2s_done(st, cols[0]);
    return 0;
}

/* The journal rows held under `name` (a node's id, or "taker>name" for rows a node claimed) are
 * claimed by this node and their stanzas sent from here. */
static void takeover(struct store *st, const char *name)
{
    bool self = strcmp(name, g_self) == 0;
    /* The claimed rows are held under a name no node has: listed apart from the rows this node
     * journals meanwhile. */
    char claimer[256];
    snprintf(claimer, sizeof(claimer), "%s>%s", g_self, name);
    int claimed = 0;
    struct takeover t = { 0, 0 };
    int rc = store_cluster_s2s_claim(st, name, self ? g_run : "", claimer, &claimed);
    if (rc == 0) {
        rc = store_cluster_s2s_list(st, claimer, takeover_row, &t);
    }
    if (rc != 0 || t.rows > 0) {
        log_rec(LOG_TAG_SYSTEM, rc != 0 ? LOG_PROBLEMS : LOG_MAJOR, 0, NULL,
                "cluster: s2s queue of %s%s: %d stanza(s) taken over, %d sent again%s%s", name,
                self ? " (an earlier start of this node)" : "", t.rows, t.sent, rc != 0 ? ": " : "",
                rc != 0 ? err_str(rc) : "");
    }
}

static bool node_live(const char *id, size_t len)
{
    long long now = now_ms();
    bool found = false;
    pthread_mutex_lock(&g_members.lock);
    for (int i = 0; i < g_members.n && !found; i++) {
        const struct node *nd = &g_members.nodes[i];
        found = strncmp(nd->id, id, len) == 0 && nd->id[len] == '\0' && live(nd, now);
    }
    pthread_mutex_unlock(&g_members.lock);
    return found;
}

/* The live node that takes over the journal rows of the dead node `owner`: the same one on
 * every node that sees the same live set. */
static bool takes_over(const char *owner, size_t len)
{
    char key[128];
    snprintf(key, sizeof(key), "s2s-queue/%.*s", (int)len, owner);
    char id[64];
    home(key, id, sizeof(id), NULL, 0);
    return strcmp(id, g_self) == 0;
}

static int sweep_name(void *ud, const char *const *cols, int ncols)
{
    struct buf *names = ud;
    if (ncols == 1 && cols[0] != NULL) {
        buf_append(names, cols[0], strlen(cols[0]) + 1);
    }
    return 0;
}

/* ---- the available sessions of the nodes ----------------------------------------------------- */

/* im_session_hook_fn: a row per available session, held under this node and run; an end the
 * contacts were not told of (the server stops) leaves it for the node that takes over. */
static void session_seen(const struct jid *full, bool available, bool told)
{
    struct worker_ctx *wc = worker_ctx();
    if (wc == NULL || wc->store == NULL || (!available && !told)) {
        return;
    }
    struct buf jid;
    buf_init(&jid, 4096);
    jid_full(full, &jid);
    int rc = available ? store_cluster_session_add(wc->store, buf_cstr(&jid), g_self, g_run)
                       : store_cluster_session_gone(wc->store, buf_cstr(&jid), g_self, NULL);
    if (rc != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
                "cluster: session %s not %s the registry (%s): its contacts %s", buf_cstr(&jid),
                available ? "added to" : "removed from", err_str(rc),
                available ? "are not told if this node dies" : "may be told twice it left");
    }
    buf_cleanup(&jid);
}

static void publish_frames(const char *id, struct buf *frames);

/* Tells node `id`, taken for dead, that its sessions' contacts were told they went away: a dead
 * node receives nothing; one that was alive after all announces its sessions again. */
static void tell_revive(const char *id)
{
    struct buf frame;
    buf_init(&frame, 1024);
    if (frame_append(&frame, FRAME_REVIVE, strv_c(g_self), NULL, (struct strv){ "", 0 }) == 0) {
        publish_frames(id, &frame);
    }
    buf_cleanup(&frame);
}

static void announce_on_worker(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    im_presence_announce_again();
}

/* A node took this one for dead (FRAME_REVIVE): every worker's available sessions announce
 * their presence again (and so write their registry rows again). On the NATS thread. */
static void revived(struct strv by)
{
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
            "cluster: node %.*s took this node for dead: its sessions announce their presence "
            "again",
            (int)(by.len < 64 ? by.len : 64), by.p);
    for (int i = 0; i < workers_count(); i++) {
        worker_post(i, announce_on_worker, NULL);
    }
}

/* The available sessions held under `name` (a node's id, or "taker>name") are claimed by this
 * node; each one's contacts are told that it went away, unless it came back meanwhile (its row
 * was taken by the node it is on now). */
static void sessions_takeover(struct store *st, const char *name)
{
    bool self = strcmp(name, g_self) == 0;
    char claimer[256];
    snprintf(claimer, sizeof(claimer), "%s>%s", g_self, name);
    int claimed = 0;
    struct buf jids;
    buf_init(&jids, 64 << 20);
    int rc = store_cluster_session_claim(st, name, self ? g_run : "", claimer, &claimed);
    if (rc == 0) {
        rc = store_cluster_session_list(st, claimer, sweep_name, &jids);
    }
    int told = 0;
    int back = 0;
    for (size_t off = 0; off < jids.len; off += strlen(jids.p + off) + 1) {
        int removed = 0;
        struct jid j = { 0 };
        if (store_cluster_session_gone(st, jids.p + off, claimer, &removed) != 0 || removed != 1 ||
            jid_parse(&j, strv_c(jids.p + off)) != 0) {
            back++;
            continue;
        }
        im_presence_gone(&j);
        jid_cleanup(&j);
        told++;
    }
    if (told > 0 && !self && strchr(name, '>') == NULL) {
        tell_revive(name);
    }
    if (rc != 0 || told + back > 0) {
        log_rec(LOG_TAG_SYSTEM, rc != 0 ? LOG_PROBLEMS : LOG_MAJOR, 0, NULL,
                "cluster: sessions of %s%s: %d ended without a word, their contacts told; %d "
                "back elsewhere%s%s",
                name, self ? " (an earlier start of this node)" : "", told, back,
                rc != 0 ? ": " : "", rc != 0 ? err_str(rc) : "");
    }
    buf_cleanup(&jids);
}

/* The rows of one table whose node (the part of the name before a '>') is not live any more,
 * or is this node's earlier start, are taken over by the one node that takes_over() names. */
static void sweep_table(struct store *st, int (*names_of)(struct store *, store_s2s_fn *, void *),
                        void (*take)(struct store *, const char *))
{
    struct buf names;
    buf_init(&names, 1 << 20);
    if (names_of(st, sweep_name, &names) == 0) {
        for (size_t off = 0; off < names.len; off += strlen(names.p + off) + 1) {
            const char *name = names.p + off;
            const char *gt = strchr(name, '>');
            size_t olen = gt ? (size_t)(gt - name) : strlen(name);
            bool mine = olen == strlen(g_self) && strncmp(name, g_self, olen) == 0;
            /* Own rows: those of an earlier start (this start's are excluded by the claim);
             * "self>…" rows are listed and removed by takeover() as it claims them, on this
             * same worker, so any found here are an earlier start's too. */
            if (mine || (!node_live(name, olen) && takes_over(name, olen))) {
                take(st, name);
            }
        }
    }
    buf_cleanup(&names);
}

/* On worker 0, at start and after every change of the live nodes: the s2s journal and the
 * available sessions of nodes that left or restarted. */
static void sweep_on_worker(struct worker *w, void *arg)
{
    (void)w;
    (void)arg;
    struct store *st = worker_ctx()->store;
    sweep_table(st, store_cluster_s2s_nodes, takeover);
    sweep_table(st, store_cluster_session_nodes, sessions_takeover);
}

static void publish_heartbeat(void)
{
    char hb[sizeof(g_self) + sizeof(g_address) + 64];
    int len = snprintf(hb, sizeof(hb), "%s\n%s\n%ld %d\n%s", g_self, g_address,
                       router_sessions_total(), chatroom_live_count(), g_run);
    natsConnection_Publish(g_nc, SUBJECT_HB, hb, len);
}

/* The sessions of the calling worker whose account's home is now another node end with
 * <see-other-host/> naming it: their clients reconnect there. */
static void rebalance_worker(void *ud, const struct router_session *s)
{
    struct buf *moved = ud;
    char id[64];
    home(s->bare, id, sizeof(id), NULL, 0);
    if (strcmp(id, g_self) != 0) {
        buf_append(moved, s->bare, strlen(s->bare) + 1);
    }
}

/* chatroom_moved_fn: the room's home is now another node. */
static bool room_moved(const char *room)
{
    char id[64];
    home(room, id, sizeof(id), NULL, 0);
    return strcmp(id, g_self) != 0;
}

/* The live nodes, with their runs, as the heartbeat thread saw them at a change. */
struct live_view {
    int n;
    struct {
        char id[64];
        char run[32];
    } nodes[MAX_NODES];
};

/* A change of the live nodes: each worker's pass over its sessions and rooms gets a copy. */
struct live_change {
    struct live_view before;
    struct live_view after;
    /* A node that had left came back with the same run: it was cut off, not dead, and each
     * side was told that the other side's sessions went away. */
    bool healed;
};

/* The index in `v` of the home node of `key` (as home() picks among the live nodes), -1 when
 * `v` is empty. */
static int view_home(const struct live_view *v, const char *key)
{
    int best = -1;
    uint64_t best_score = 0;
    for (int i = 0; i < v->n; i++) {
        uint64_t sc = score(v->nodes[i].id, key);
        if (best < 0 || sc > best_score ||
            (sc == best_score && strcmp(v->nodes[i].id, v->nodes[best].id) < 0)) {
            best = i;
            best_score = sc;
        }
    }
    return best;
}

/* chatroom_gone_fn: was the occupant's session on a node that left or restarted? An account's
 * sessions live on its home node, so that is its home among the nodes live before the change. */
static bool occupant_gone(void *ud, const struct jid *real)
{
    const struct live_change *c = ud;
    struct buf domain;
    buf_init(&domain, JID_PART_MAX + 1);
    bool account = real->local != NULL && router_is_local_domain(real->domain, &domain);
    buf_cleanup(&domain);
    if (!account) {
        return false; /* a remote user's session is not on any node of ours */
    }
    char bare[2 * JID_PART_MAX + 2];
    bare_of(real, bare, sizeof(bare));
    int was = view_home(&c->before, bare);
    if (was < 0 || strcmp(c->before.nodes[was].id, g_self) == 0) {
        return false; /* this node's own sessions leave their rooms as they end */
    }
    for (int i = 0; i < c->after.n; i++) {
        if (strcmp(c->after.nodes[i].id, c->before.nodes[was].id) == 0) {
            return strcmp(c->after.nodes[i].run, c->before.nodes[was].run) != 0;
        }
    }
    return true;
}

static int send_frame(const char *id, char kind, struct strv key, const struct signal *sig);

/* chatroom_removed_fn: an occupant removed because its node is gone is also told so, on the
 * node it was on: published there whatever this node believes. When the node is dead nobody
 * receives it; when it was only believed dead (its heartbeats late to this node alone, its
 * users never told of a change), its session learns that it is out of the room (110 and 333:
 * removed because of an error between the servers) and its client rejoins. */
static void occupant_removed(void *ud, const struct jid *room_nick, const struct jid *real,
                             const char *affiliation, const char *occupant_id)
{
    const struct live_change *c = ud;
    char bare[2 * JID_PART_MAX + 2];
    bare_of(real, bare, sizeof(bare));
    int was = view_home(&c->before, bare);
    if (was < 0) {
        return;
    }
    struct signal *sig = seats_gone_signal(room_nick, real, affiliation, occupant_id, 333,
                                           "Its server was unreachable from the room's node");
    if (send_frame(c->before.nodes[was].id, FRAME_ONE, strv_c(bare), sig) == 0) {
        atomic_fetch_add(&g_forwarded, 1);
    }
    signal_free(sig);
}

static void rebalance_on_worker(struct worker *w, void *arg)
{
    (void)w;
    struct live_change *change = arg;
    sweep_seats();
    /* The occupants whose sessions died with their node leave the rooms held here. */
    chatroom_drop_gone(occupant_gone, occupant_removed, change);
    bool healed = change->healed;
    free(change);
    /* Rooms first: an occupant told to rejoin whose own session moves too rejoins from there. */
    chatroom_hand_over(room_moved);
    struct buf moved;
    buf_init(&moved, 64 << 20);
    router_sessions_foreach(rebalance_worker, &moved);
    for (size_t off = 0; off < moved.len; off += strlen(moved.p + off) + 1) {
        char id[64];
        char address[256];
        home(moved.p + off, id, sizeof(id), address, sizeof(address));
        if (strcmp(id, g_self) != 0 && address[0] != '\0') {
            router_account_end(moved.p + off, "see-other-host", address);
        }
    }
    buf_cleanup(&moved);
    if (healed) {
        /* Across the partition each side told its users that the other side's sessions went
         * away (and took their rows over): the sessions that stay say again that they are
         * here. */
        im_presence_announce_again();
    }
}

/* True when a node joined, left or restarted since the last look; `view` gets the live nodes,
 * *healed whether one of them came back from a partition (the same run as when it left). */
static bool membership_changed(struct live_view *view, bool *healed)
{
    *healed = false;
    bool changed = false;
    long long now = now_ms();
    view->n = 0;
    pthread_mutex_lock(&g_members.lock);
    for (int i = 0; i < g_members.n; i++) {
        struct node *nd = &g_members.nodes[i];
        bool is_live = live(nd, now);
        if (is_live) {
            snprintf(view->nodes[view->n].id, sizeof(view->nodes[0].id), "%s", nd->id);
            snprintf(view->nodes[view->n].run, sizeof(view->nodes[0].run), "%s", nd->run);
            view->n++;
        }
        if (is_live && !nd->was_live && nd->left_run[0] != '\0' &&
            strcmp(nd->left_run, nd->run) == 0) {
            *healed = true;
        }
        if (!is_live && nd->was_live) {
            memcpy(nd->left_run, nd->run, sizeof(nd->left_run)); /* both NUL-terminated */
        } else if (is_live) {
            nd->left_run[0] = '\0';
        }
        if (is_live != nd->was_live) {
            changed = true;
            log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "cluster: node %s %s", nd->id,
                    is_live ? "is live" : "left (no heartbeat)");
        } else if (nd->restarted && is_live) {
            changed = true;
            log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
                    "cluster: node %s restarted (a new run, within the heartbeat timeout)", nd->id);
        }
        nd->was_live = is_live;
        nd->restarted = false;
    }
    pthread_mutex_unlock(&g_members.lock);
    return changed;
}

static void *heartbeat_main(void *arg)
{
    (void)arg;
    /* The live nodes at the last change the workers were told of. */
    static struct live_view last;
    struct live_view now;
    while (atomic_load(&g_running)) {
        if (atomic_load(&g_workers_up)) {
            publish_heartbeat();
        }
        bool healed = false;
        bool changed = membership_changed(&now, &healed);
        if (changed && atomic_load(&g_workers_up)) {
            for (int i = 0; i < workers_count(); i++) {
                struct live_change *change = xmalloc(sizeof(*change));
                change->before = last;
                change->after = now;
                change->healed = healed;
                worker_post(i, rebalance_on_worker, change);
            }
            /* A node that left leaves its queued s2s stanzas in the journal. */
            worker_post(0, sweep_on_worker, NULL);
        }
        if (changed) {
            last = now; /* also before the workers run: the nodes seen while starting */
        }
        struct timespec ts = { 0, HEARTBEAT_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* ---- the hooks ------------------------------------------------------------------------------ */

/* The frames in `frames` could not be published to node `id`: each stanza is delivered here
 * instead (stored offline or answered, never lost silently), in order. */
static void deliver_here_instead(const char *id, const struct buf *frames)
{
    log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
            "cluster: cannot send to node %s over NATS; delivered here", id);
    atomic_fetch_sub(&g_forwarded, submit_frames_here(frames));
}

static void publish_frames(const char *id, struct buf *frames)
{
    char subject[sizeof(SUBJECT_NODE) + 64];
    snprintf(subject, sizeof(subject), SUBJECT_NODE "%s", id);
    if (natsConnection_Publish(g_nc, subject, frames->p, (int)frames->len) != NATS_OK) {
        deliver_here_instead(id, frames);
    }
    buf_reset(frames);
}

/* Per worker: the frames for each other node gathered during one loop pass, published as one
 * NATS message per node when the pass ends (a room's message to many occupants of a node, a
 * burst of chat messages: one write and one wake-up on each side instead of one per stanza). */
struct outbatch {
    char node[64];
    struct buf frames;
};

struct cluster_worker {
    struct outbatch out[MAX_NODES];
    int nout;
    struct loop_defer flush;
    struct seats *seats; /* NULL until a room of another node seats a user of this worker */
};

static void flush_batches(void *ud)
{
    struct cluster_worker *cw = ud;
    for (int i = 0; i < cw->nout; i++) {
        if (cw->out[i].frames.len > 0) {
            publish_frames(cw->out[i].node, &cw->out[i].frames);
        }
    }
}

static struct cluster_worker *cluster_worker(void)
{
    return module_slot_make(&cluster_module, sizeof(struct cluster_worker));
}

static struct buf *batch_for(struct cluster_worker *cw, const char *id)
{
    for (int i = 0; i < cw->nout; i++) {
        if (strcmp(cw->out[i].node, id) == 0) {
            return &cw->out[i].frames;
        }
    }
    if (cw->nout == MAX_NODES) {
        return NULL;
    }
    struct outbatch *b = &cw->out[cw->nout++];
    snprintf(b->node, sizeof(b->node), "%s", id);
    buf_init(&b->frames, 16 << 20);
    return &b->frames;
}

/* The module's worker_stop: what is still batched has been flushed by the loop's last pass. */
void cluster__worker_stop(struct worker_ctx *wc)
{
    (void)wc;
    struct cluster_worker *cw = *module_slot(&cluster_module);
    if (cw == NULL) {
        return;
    }
    for (int i = 0; i < cw->nout; i++) {
        buf_cleanup(&cw->out[i].frames);
    }
    seats_free(cw->seats);
    module_slot_free(&cluster_module);
}

/* Frames one stanza (kind, key, `sig`'s text) for node `id`: on a worker into its batch for
 * that node, published at the end of the loop pass (so the order of a worker's stanzas to a
 * node is kept); on another thread published at once. 0, or the serializer's code. */
static int send_frame(const char *id, char kind, struct strv key, const struct signal *sig)
{
    struct worker *w = worker_self();
    struct cluster_worker *cw = w != NULL ? cluster_worker() : NULL;
    struct buf *frames = cw != NULL ? batch_for(cw, id) : NULL;
    if (frames != NULL && frames->len > BATCH_MAX) {
        publish_frames(id, frames);
    }
    struct buf one;
    buf_init(&one, 16 << 20);
    int rc = frame_append(frames != NULL ? frames : &one, kind, key, sig, (struct strv){ 0 });
    if (rc == 0 && frames != NULL) {
        loop_defer(w->loop, &cw->flush, flush_batches, cw);
    } else if (rc == 0) {
        publish_frames(id, &one);
    }
    buf_cleanup(&one);
    return rc;
}

/* router_cluster_fn: a signal whose address's home is another node is framed for it. */
static bool cluster_route(struct signal *sig)
{
    char key[2 * JID_PART_MAX + 2];
    bare_of(&sig->to, key, sizeof(key));
    char id[64];
    home(key, id, sizeof(id), NULL, 0);
    if (strcmp(id, g_self) == 0) {
        return false;
    }
    if (send_frame(id, FRAME_ONE, strv_c(key), sig) != 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
                "cluster: stanza for node %s not serialized; delivered here", id);
        return false;
    }
    atomic_fetch_add(&g_forwarded, 1);
    signal_free(sig);
    return true;
}

/* router_cluster_fanout.node: is `to`'s home another node? */
static bool fanout_node(const struct jid *to, char *id, size_t size)
{
    char key[2 * JID_PART_MAX + 2];
    bare_of(to, key, sizeof(key));
    home(key, id, size, NULL, 0);
    return strcmp(id, g_self) != 0;
}

/* router_cluster_fanout.group: a room's stanza for `n` recipients of node `id`, one frame. */
static void fanout_group(const char *id, const struct signal *tmpl, struct strv parts, size_t n)
{
    struct signal first = *tmpl; /* borrowed parts, addressed to the first recipient */
    size_t off = 0;
    if (group_next(parts, &off, &first.to) && send_frame(id, FRAME_GROUP, parts, &first) == 0) {
        atomic_fetch_add(&g_forwarded, (long)n);
        atomic_fetch_add(&g_grouped, (long)n);
        return;
    }
    log_rec(LOG_TAG_SYSTEM, LOG_PROBLEMS, 0, NULL,
            "cluster: stanza for node %s not serialized; delivered here", id);
    off = 0;
    struct jid to;
    while (group_next(parts, &off, &to)) {
        struct signal *one = signal_dup(tmpl);
        jid_copy(&one->to, &to);
        router_submit_here_now(one);
    }
}

static const struct router_cluster_fanout g_fanout = { fanout_node, fanout_group };

/* c2s_placement_fn: an account's sessions live on its home node. */
static bool cluster_placement(const struct jid *account, char *address, size_t size)
{
    char key[2 * JID_PART_MAX + 2];
    bare_of(account, key, sizeof(key));
    char id[64];
    home(key, id, sizeof(id), address, size);
    return strcmp(id, g_self) == 0 || address[0] == '\0';
}

/* ---- seats in other nodes' rooms (seats.h) --------------------------------------------------- */

/* On a worker, a stanza from another node for a user of this worker: a room's self-presence
 * notes or forgets the user's seat in it, with the room's owner and its run. */
static void note_seat(const struct signal *sig)
{
    if (sig->method != SIGNAL_NOTIFY || sig->from.local == NULL || sig->from.resource == NULL ||
        !chatroom_component.owns(sig->from.domain)) {
        return;
    }
    struct cluster_worker *cw = cluster_worker();
    if (cw->seats == NULL) {
        cw->seats = seats_new();
    }
    char room[2 * JID_PART_MAX + 2];
    bare_of(&sig->from, room, sizeof(room));
    char owner[64];
    char run[sizeof(g_run)];
    home_run(room, owner, sizeof(owner), NULL, 0, run);
    seats_note(cw->seats, sig, owner, run);
}

/* seat_fate_fn: a seat is kept while its room's owner runs on; told when that node left or
 * restarted (the room came back empty elsewhere, or there); dropped when its user is gone. */
static enum seat_fate seat_fate(void *ud, const char *owner, const char *run,
                                const struct jid *occupant)
{
    (void)ud;
    const struct router_session *s = router_sessions_of(occupant);
    while (s != NULL && strcmp(s->resource, occupant->resource) != 0) {
        s = s->next;
    }
    char bare[2 * JID_PART_MAX + 2];
    bare_of(occupant, bare, sizeof(bare));
    char id[64];
    home(bare, id, sizeof(id), NULL, 0);
    if (s == NULL || strcmp(id, g_self) != 0 || strcmp(owner, g_self) == 0) {
        return SEAT_DROP;
    }
    bool same = false;
    long long now = now_ms();
    pthread_mutex_lock(&g_members.lock);
    for (int i = 0; i < g_members.n && !same; i++) {
        const struct node *nd = &g_members.nodes[i];
        same = strcmp(nd->id, owner) == 0 && live(nd, now) && strcmp(nd->run, run) == 0;
    }
    pthread_mutex_unlock(&g_members.lock);
    return same ? SEAT_KEEP : SEAT_TELL;
}

static void tell_seat(void *ud, struct signal *sig)
{
    (void)ud;
    router_submit(sig);
}

/* After a change of the live nodes, on each worker: the users of this worker seated in a room
 * whose node left or restarted are told that they left it (status 332: clients rejoin, and
 * the join reaches the room's owner now, which loads it from the store). */
static void sweep_seats(void)
{
    struct cluster_worker *cw = *module_slot(&cluster_module);
    if (cw == NULL || cw->seats == NULL) {
        return;
    }
    size_t told =
        seats_sweep(cw->seats, seat_fate, tell_seat, NULL, "The node that held the room stopped");
    if (told > 0) {
        log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL,
                "cluster: %zu occupant(s) of rooms of a node that left or restarted told to "
                "rejoin",
                told);
    }
}

/* ---- start and stop ------------------------------------------------------------------------- */

static int nats_fail(char *err, size_t errlen, const char *what, natsStatus s)
{
    snprintf(err, errlen, "cluster: %s: %s", what, natsStatus_GetText(s));
    cluster_free();
    return ERR_IO;
}

static bool valid_id(const char *id)
{
    for (const char *p = id; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_')) {
            return false;
        }
    }
    return id[0] != '\0';
}

/* cluster.client_address, or else the first clear-text XMPP socket with an explicit address
 * (xmpp.listener "10.0.0.2:5222, …"); "" when neither says where this node is. */
static void client_address(const struct settings *cfg)
{
    snprintf(g_address, sizeof(g_address), "%s", cfg->cluster.client_address);
    const struct listener_cfg *l = &cfg->xmpp.listener;
    for (int i = 0; g_address[0] == '\0' && i < l->count; i++) {
        const struct listen_socket *ls = &l->sockets[i];
        if (!ls->tls && ls->address[0] != '\0') {
            bool v6 = strchr(ls->address, ':') != NULL;
            snprintf(g_address, sizeof(g_address), "%s%s%s:%u", v6 ? "[" : "", ls->address,
                     v6 ? "]" : "", (unsigned)ls->port);
        }
    }
}

int cluster_start(const struct settings *cfg, char *err, size_t errlen)
{
    if (cfg->cluster.node_id[0] == '\0') {
        return 0;
    }
    if (!valid_id(cfg->cluster.node_id)) {
        snprintf(err, errlen, "cluster.node_id: letters, digits, '-' and '_' only");
        return ERR_INVAL;
    }
    snprintf(g_self, sizeof(g_self), "%s", cfg->cluster.node_id);
    client_address(cfg);
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) {
        s = natsOptions_SetURL(opts, cfg->cluster.nats_url);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts, 2000);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetMaxReconnect(opts, -1);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectWait(opts, 250);
    }
    if (s == NATS_OK) {
        /* A stanza goes out at once, not at the flusher thread's next pass. */
        s = natsOptions_SetSendAsap(opts, true);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(&g_nc, opts);
    }
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        return nats_fail(err, errlen, cfg->cluster.nats_url, s);
    }
    char subject[sizeof(SUBJECT_NODE) + sizeof(g_self)];
    snprintf(subject, sizeof(subject), SUBJECT_NODE "%s", g_self);
    s = natsConnection_Subscribe(&g_sub_node, g_nc, subject, on_node_message, NULL);
    if (s == NATS_OK) {
        s = natsConnection_Subscribe(&g_sub_hb, g_nc, SUBJECT_HB, on_heartbeat, NULL);
    }
    if (s == NATS_OK) {
        s = natsConnection_Flush(g_nc);
    }
    if (s != NATS_OK) {
        return nats_fail(err, errlen, "subscribe", s);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(g_run, sizeof(g_run), "%llx%lx%x", (unsigned long long)now.tv_sec,
             (unsigned long)now.tv_nsec, (unsigned)getpid());
    member_seen(g_self, strlen(g_self), g_address, strlen(g_address), 0, 0, strv_c(g_run));
    atomic_store(&g_running, true);
    if (pthread_create(&g_hb_thread, NULL, heartbeat_main, NULL) != 0) {
        atomic_store(&g_running, false);
        snprintf(err, errlen, "cluster: cannot start the heartbeat thread");
        cluster_free();
        return ERR_IO;
    }
    /* The other nodes' heartbeats arrive within one period and a half. */
    struct timespec ts = { 0, (HEARTBEAT_MS * 3 / 2) * 1000000L };
    nanosleep(&ts, NULL);
    router_set_cluster(cluster_route);
    router_set_cluster_fanout(&g_fanout);
    c2s_set_placement(cluster_placement);
    s2s_set_journal(&g_journal);
    im_set_session_hook(session_seen);
    log_rec(LOG_TAG_SYSTEM, LOG_MAJOR, 0, NULL, "cluster: node %s on %s", g_self,
            cfg->cluster.nats_url);
    return 0;
}

void cluster_workers_running(void)
{
    atomic_store(&g_workers_up, true);
    if (g_nc != NULL) {
        worker_post(0, sweep_on_worker, NULL);
    }
}

void cluster_stop(void)
{
    atomic_store(&g_workers_up, false);
    if (atomic_exchange(&g_running, false)) {
        pthread_join(g_hb_thread, NULL);
    }
    /* Drained: no callback runs any more once this returns (the workers stop next). */
    for (int i = 0; i < 2; i++) {
        natsSubscription *sub = i == 0 ? g_sub_node : g_sub_hb;
        if (sub != NULL && natsSubscription_Drain(sub) == NATS_OK) {
            natsSubscription_WaitForDrainCompletion(sub, 2000);
        }
    }
    natsSubscription_Destroy(g_sub_node);
    natsSubscription_Destroy(g_sub_hb);
    g_sub_node = NULL;
    g_sub_hb = NULL;
    /* Closed, not freed: a worker publishing meanwhile gets an error (and delivers here). */
    if (g_nc != NULL) {
        natsConnection_Close(g_nc);
    }
}

void cluster_free(void)
{
    cluster_stop();
    router_set_cluster(NULL);
    router_set_cluster_fanout(NULL);
    c2s_set_placement(NULL);
    s2s_set_journal(NULL);
    im_set_session_hook(NULL);
    natsConnection_Destroy(g_nc);
    g_nc = NULL;
}
