/* fanout.c: one stanza to many addresses (a room's message to its occupants), grouped by home
 * worker: one post per worker, and no signal copied per recipient on the way (router.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server.h"
#include "signal/router.h"
#include "signal/router_int.h"

/* The names of one batch's recipients, all of them: far above any room's. */
#define FANOUT_NAMES_MAX ((size_t)1 << 30)

/* A recipient of a batch: its address's parts are offsets into the batch's `names`. */
struct fanout_target {
    size_t hash;
    size_t local, domain, resource;
};

/* What goes to one worker: its own copy of the template, one spare reference to its stanza
 * (router__deliver_lent's contract), and the recipients homed there. */
struct fanout_batch {
    struct signal *tmpl;
    struct fanout_target *targets;
    size_t n, cap;
    struct buf names;
};

/* The recipients of one other cluster node: handed to the cluster's `group` hook at once. */
struct fanout_node {
    char id[64];
    struct buf parts; /* local, domain, resource: each NUL-terminated */
    size_t n;
};

struct router_fanout {
    struct signal *tmpl; /* without `to` */
    bool here;           /* grouped by another node for this one: every recipient is here */
    struct fanout_node *nodes;
    size_t nnodes;
    int nworkers;
    struct fanout_batch *batches[]; /* one per worker, NULL until it has a recipient */
};

struct router_fanout *router_fanout_new(const struct signal *tmpl)
{
    int n = workers_count();
    struct router_fanout *f = xcalloc(1, sizeof(*f) + (size_t)n * sizeof(f->batches[0]));
    f->nworkers = n;
    f->tmpl = signal_dup(tmpl);
    jid_cleanup(&f->tmpl->to);
    memset(&f->tmpl->to, 0, sizeof(f->tmpl->to));
    return f;
}

static struct fanout_batch *batch_new(const struct signal *tmpl)
{
    struct fanout_batch *b = xcalloc(1, sizeof(*b));
    b->tmpl = signal_dup(tmpl);
    if (b->tmpl->xmpp_data) {
        xml_node_ref(b->tmpl->xmpp_data);
    }
    buf_init(&b->names, FANOUT_NAMES_MAX);
    return b;
}

static void batch_free(struct fanout_batch *b)
{
    if (b->tmpl->xmpp_data) {
        xml_node_unref(b->tmpl->xmpp_data);
    }
    signal_free(b->tmpl);
    buf_cleanup(&b->names);
    free(b->targets);
    free(b);
}

/* Appends a part with its terminator; its offset in *off. */
static int add_name(struct buf *names, const char *part, size_t *off)
{
    *off = names->len;
    return buf_append(names, part, strlen(part) + 1);
}

static int batch_add(struct fanout_batch *b, const struct jid *to, size_t hash)
{
    size_t mark = b->names.len;
    struct fanout_target t = { .hash = hash };
    if (add_name(&b->names, to->local, &t.local) != 0 ||
        add_name(&b->names, to->domain, &t.domain) != 0 ||
        add_name(&b->names, to->resource, &t.resource) != 0) {
        b->names.len = mark;
        return ERR_LIMIT;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        b->targets = xrealloc(b->targets, b->cap * sizeof(*b->targets));
    }
    b->targets[b->n++] = t;
    return 0;
}

void router_fanout_here(struct router_fanout *f)
{
    f->here = true;
}

static struct fanout_node *node_group(struct router_fanout *f, const char *id)
{
    for (size_t i = 0; i < f->nnodes; i++) {
        if (strcmp(f->nodes[i].id, id) == 0) {
            return &f->nodes[i];
        }
    }
    f->nodes = xrealloc(f->nodes, (f->nnodes + 1) * sizeof(*f->nodes));
    struct fanout_node *g = &f->nodes[f->nnodes++];
    memset(g, 0, sizeof(*g));
    snprintf(g->id, sizeof(g->id), "%s", id);
    buf_init(&g->parts, FANOUT_NAMES_MAX);
    return g;
}

/* A recipient (an account's full JID in a local domain, not an alias) whose home is another
 * cluster node joins that node's group: true. */
static bool to_other_node(struct router_fanout *f, const struct jid *to)
{
    const struct router_cluster_fanout *c = router__cluster_fanout();
    char id[64];
    if (f->here || c == NULL || to->local == NULL || to->resource == NULL ||
        !c->node(to, id, sizeof(id))) {
        return false;
    }
    struct fanout_node *g = node_group(f, id);
    size_t ignored;
    size_t mark = g->parts.len;
    if (add_name(&g->parts, to->local, &ignored) != 0 ||
        add_name(&g->parts, to->domain, &ignored) != 0 ||
        add_name(&g->parts, to->resource, &ignored) != 0) {
        g->parts.len = mark;
        return false;
    }
    g->n++;
    return true;
}

void router_fanout_add(struct router_fanout *f, const struct jid *to, struct router_route *route)
{
    /* With a cluster, `worker` is where an account of this domain would live on this node;
     * the cluster is asked next whether its home is another node. */
    bool here = f->here || router__cluster_fanout() != NULL;
    struct router_route once = { 0 };
    if (route == NULL) {
        route = &once;
    }
    unsigned gen = router__route_gen();
    if (route->gen != gen) {
        route->worker = router__local_home(to, here);
        route->hash = route->worker >= 0 ? jid_bare_hash(to) : 0;
        route->gen = gen;
    }
    int w = route->worker;
    if (w >= 0 && to_other_node(f, to)) {
        return;
    }
    if (w >= 0 && w < f->nworkers) {
        if (f->batches[w] == NULL) {
            f->batches[w] = batch_new(f->tmpl);
        }
        if (batch_add(f->batches[w], to, route->hash) == 0) {
            return;
        }
    }
    struct signal *one = signal_dup(f->tmpl);
    jid_copy(&one->to, to);
    if (f->here) {
        router_submit_here_now(one);
    } else {
        router_submit(one);
    }
}

/* On the recipients' home worker. */
static void batch_run(struct worker *w, void *arg)
{
    (void)w;
    struct fanout_batch *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        const struct fanout_target *t = &b->targets[i];
        struct signal s = *b->tmpl; /* borrowed parts: never freed through `s` */
        s.to.local = b->names.p + t->local;
        s.to.domain = b->names.p + t->domain;
        s.to.resource = b->names.p + t->resource;
        router__deliver_lent(&s, t->hash);
    }
    batch_free(b);
}

void router_fanout_submit(struct router_fanout *f)
{
    struct worker *self = worker_self();
    int me = self ? self->id : -1;
    /* Other nodes first: one hand-over per node. */
    for (size_t i = 0; i < f->nnodes; i++) {
        struct fanout_node *g = &f->nodes[i];
        router__cluster_fanout()->group(g->id, f->tmpl, buf_strv(&g->parts), g->n);
        buf_cleanup(&g->parts);
    }
    free(f->nodes);
    /* The other workers first, so that they work while this one delivers its own. */
    for (int i = 0; i < f->nworkers; i++) {
        if (f->batches[i] != NULL && i != me) {
            worker_post(i, batch_run, f->batches[i]);
        }
    }
    if (me >= 0 && me < f->nworkers && f->batches[me] != NULL) {
        batch_run(self, f->batches[me]);
    }
    signal_free(f->tmpl);
    free(f);
}
