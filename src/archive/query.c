/* query.c: XEP-0313 queries on one archive (an account's or a room's): the form fields of
 * urn:xmpp:mam:2 and #extended, XEP-0059 paging both ways with an exact complete flag,
 * flip-page, XEP-0431 full-text search, the results as forwarded messages, and the metadata. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive_int.h"
#include "core/err.h"
#include "core/stamp.h"
#include "signal/router.h"
#include "xml/ns.h"

/* Page size without <max/>, and the most one page may hold. */
#define MAM_PAGE_DEFAULT 50
#define MAM_PAGE_MAX 250
/* Ids one "ids" field may name. */
#define MAM_IDS_MAX 250

/* A parsed query. */
struct mam_query {
    struct store_archive_query q;
    char *peer, *peer_res, *text;
    long long after, before;     /* RSM ids, 0: none, -1: not an archive id */
    long long f_after, f_before; /* the after-id and before-id fields, the same */
    bool before_set;             /* <before/> present (empty: the last page) */
    bool flip;
    long long ids[MAM_IDS_MAX];
    size_t nids;
    bool has_ids;
    bool room;                /* "with" names an occupant (room@service/nick): its nick */
    long long set_lo, set_hi; /* the result set's id range (without the RSM after/before) */
};

/* An id as the archive writes it; 0 when it is not one. */
static long long parse_id(const char *s)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return 0;
    }
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end == '\0' && v > 0 ? v : 0;
}

/* A XEP-0082 DateTime to microseconds since the epoch; -1 when it is not one. */
static long long parse_stamp(const char *s)
{
    struct tm tm = { 0 };
    int n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6) {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    long long us = 0;
    const char *p = s + n;
    if (*p == '.') {
        long long scale = 100000;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            us += (*p - '0') * scale;
            scale /= 10;
        }
    }
    long long off = 0;
    if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2) {
            return -1;
        }
        off = (hh * 3600LL + mm * 60LL) * (*p == '-' ? -1 : 1);
    } else if (strcmp(p, "Z") != 0) {
        return -1;
    }
    time_t t = timegm(&tm);
    return ((long long)t - off) * 1000000LL + us;
}

static void query_free(struct mam_query *mq)
{
    free(mq->peer);
    free(mq->peer_res);
    free(mq->text);
}

/* The "with" field: a bare JID, or a full one (its resource too). */
static int parse_with(struct mam_query *mq, const char *v)
{
    struct jid j;
    if (jid_parse(&j, strv_c(v)) != 0) {
        return ERR_PROTO;
    }
    if (mq->room) {
        mq->peer = j.resource ? xstrdup(j.resource) : NULL;
        jid_cleanup(&j);
        return 0;
    }
    struct buf b;
    buf_init(&b, 3 * JID_PART_MAX + 2);
    jid_bare(&j, &b);
    mq->peer = xstrdup(buf_cstr(&b));
    mq->peer_res = j.resource ? xstrdup(j.resource) : NULL;
    buf_cleanup(&b);
    jid_cleanup(&j);
    return 0;
}

static int parse_field(struct mam_query *mq, const struct xml_node *f)
{
    const char *var = xml_node_attr(f, "var");
    struct buf v;
    buf_init(&v, 8192);
    const struct xml_node *value = xml_node_child(f, NS_XDATA, "value");
    if (value) {
        xml_node_text(value, &v);
    }
    const char *s = buf_cstr(&v);
    int rc = 0;
    if (var == NULL || strcmp(var, "FORM_TYPE") == 0) {
        rc = 0;
    } else if (strcmp(var, "with") == 0) {
        rc = parse_with(mq, s);
    } else if (strcmp(var, "start") == 0 || strcmp(var, "end") == 0) {
        long long t = parse_stamp(s);
        rc = t < 0 ? ERR_PROTO : 0;
        if (var[0] == 's') {
            mq->q.lo = t > mq->q.lo ? t : mq->q.lo;
        } else {
            mq->q.hi = t < mq->q.hi ? t : mq->q.hi;
        }
    } else if (strcmp(var, "after-id") == 0) {
        mq->f_after = parse_id(s) ? parse_id(s) : -1;
    } else if (strcmp(var, "before-id") == 0) {
        mq->f_before = parse_id(s) ? parse_id(s) : -1;
    } else if (strcmp(var, "ids") == 0) {
        mq->has_ids = true;
        for (const struct xml_node *e = value; e; e = xml_node_next_element(e)) {
            buf_reset(&v);
            xml_node_text(e, &v);
            if (mq->nids < MAM_IDS_MAX) {
                mq->ids[mq->nids++] = parse_id(buf_cstr(&v));
            }
        }
    } else if (strcmp(var, "{" NS_FULLTEXT "}fulltext") == 0) {
        mq->text = xstrdup(s);
    } else {
        rc = ERR_INVAL; /* an unknown field */
    }
    buf_cleanup(&v);
    return rc;
}

/* RSM (XEP-0059): <max/>, <after/>, <before/>; ids checked by the caller. */
static int parse_rsm(struct mam_query *mq, const struct xml_node *set)
{
    struct buf v;
    buf_init(&v, 64);
    for (const struct xml_node *e = xml_node_first_element(set); e; e = xml_node_next_element(e)) {
        buf_reset(&v);
        xml_node_text(e, &v);
        if (strcmp(e->name, "max") == 0) {
            long n = strtol(buf_cstr(&v), NULL, 10);
            mq->q.limit = n < 0 ? MAM_PAGE_DEFAULT : n > MAM_PAGE_MAX ? MAM_PAGE_MAX : (int)n;
        } else if (strcmp(e->name, "after") == 0) {
            mq->after = parse_id(buf_cstr(&v)) ? parse_id(buf_cstr(&v)) : -1;
        } else if (strcmp(e->name, "before") == 0) {
            mq->before_set = true;
            mq->before = v.len == 0 ? 0 : parse_id(buf_cstr(&v)) ? parse_id(buf_cstr(&v)) : -1;
        }
    }
    buf_cleanup(&v);
    return 0;
}

static int parse_query(struct mam_query *mq, const struct xml_node *query, bool room)
{
    memset(mq, 0, sizeof(*mq));
    mq->room = room;
    mq->q.lo = 0;
    mq->q.hi = LLONG_MAX;
    mq->q.limit = MAM_PAGE_DEFAULT;
    const struct xml_node *form = xml_node_child(query, NS_XDATA, "x");
    for (const struct xml_node *f = form ? xml_node_first_element(form) : NULL; f;
         f = xml_node_next_element(f)) {
        if (strcmp(f->name, "field") == 0) {
            int rc = parse_field(mq, f);
            if (rc != 0) {
                return rc;
            }
        }
    }
    const struct xml_node *set = xml_node_child(query, NS_RSM, "set");
    if (set) {
        parse_rsm(mq, set);
    }
    mq->flip = xml_node_child(query, NS_MAM, "flip-page") != NULL;
    return 0;
}

/* The page as read from the store. */
struct item {
    long long id;
    bool outgoing;
    char *stanza;
    char *peer;
    char *peer_res;
};

struct page {
    struct item *items;
    size_t n, cap;
};

static int collect(void *ud, const struct store_archive_hit *h)
{
    struct page *pg = ud;
    if (pg->n == pg->cap) {
        pg->cap = pg->cap ? pg->cap * 2 : 64;
        pg->items = xrealloc(pg->items, pg->cap * sizeof(*pg->items));
    }
    pg->items[pg->n++] = (struct item){ h->id, h->outgoing, xstrdup(h->stanza), xstrdup(h->peer),
                                        xstrdup(h->peer_res) };
    return 0;
}

static void item_free(struct item *it)
{
    free(it->stanza);
    free(it->peer);
    free(it->peer_res);
}

static void page_free(struct page *pg)
{
    for (size_t i = 0; i < pg->n; i++) {
        item_free(&pg->items[i]);
    }
    free(pg->items);
}

static void page_reverse(struct page *pg)
{
    for (size_t i = 0, j = pg->n ? pg->n - 1 : 0; i < j; i++, j--) {
        struct item t = pg->items[i];
        pg->items[i] = pg->items[j];
        pg->items[j] = t;
    }
}

/* A received message is stored as its sender's archive keeps it (one stored copy for both
 * archives): its <stanza-id by=owner/> is added back here, unless the stored text has one. */
static void add_stanza_id(struct xml_node *msg, const char *owner, long long id)
{
    for (const struct xml_node *c = xml_node_first_element(msg); c; c = xml_node_next_element(c)) {
        const char *by = xml_node_attr(c, "by");
        if (c->ns && strcmp(c->ns, NS_SID) == 0 && strcmp(c->name, "stanza-id") == 0 && by &&
            strcmp(by, owner) == 0) {
            return;
        }
    }
    char num[24];
    snprintf(num, sizeof(num), "%lld", id);
    struct xml_node *sid = xml_node_add_child(msg, NS_SID, "stanza-id");
    xml_node_set_attr(sid, "id", num);
    xml_node_set_attr(sid, "by", owner);
}

/* The archive a query reads. */
struct owner {
    const char *domain;
    const char *name;
    const char *bare; /* name@domain */
};

/* <message from=bare to=requester><result queryid id><forwarded><delay/><message/></…> */
static void send_result(const struct signal *req, const char *queryid, const struct owner *owner,
                        const struct item *it, archive_decorate_fn *decorate, void *ud)
{
    long long id = it->id;
    struct xml_node *stored = xml_parse_element(strv_c(it->stanza), NS_CLIENT, NULL);
    if (stored == NULL) {
        return;
    }
    struct xml_node *m = xml_node_new(NS_CLIENT, "message");
    struct xml_node *r = xml_node_add_child(m, NS_MAM, "result");
    char num[24];
    snprintf(num, sizeof(num), "%lld", id);
    if (queryid) {
        xml_node_set_attr(r, "queryid", queryid);
    }
    xml_node_set_attr(r, "id", num);
    struct xml_node *fwd = xml_node_add_child(r, NS_FORWARD, "forwarded");
    xml_node_add_delay(fwd, NULL, (time_t)(id / 1000000));
    struct xml_node *copy = xml_node_append_copy(fwd, stored);
    xml_node_unref(stored);
    if (!it->outgoing) {
        add_stanza_id(copy, owner->bare, id);
    }
    if (decorate) {
        decorate(ud, copy, it->peer, it->peer_res);
    }
    struct signal *sig = signal_new(SIGNAL_MESSAGE);
    jid_copy(&sig->from, &req->to);
    jid_copy(&sig->to, &req->from);
    sig->xmpp_data = m;
    router_submit(sig);
}

static void add_text_child(struct xml_node *parent, const char *name, long long id)
{
    char num[24];
    snprintf(num, sizeof(num), "%lld", id);
    struct xml_node *e = xml_node_add_child(parent, NS_RSM, name);
    xml_node_add_text(e, num, strlen(num));
}

/* Counts stop there: past it a result set's <count/> is not given (a whole archive of a
 * million messages would take 200 ms to count). */
#define MAM_COUNT_MAX 10000

/* The size of the result set and the position of the page's first item in it (XEP-0059
 * <count/>, <first index/>; -1 when not given). The index is given on forward pages only:
 * slixmpp's iterator (1.8) takes index + items == count as the end whichever way it pages, so a
 * backward page that gave it would end its walk at the first page. */
static int count_set(struct store *st, struct mam_query *mq, const struct page *pg,
                     long long *count, long long *index)
{
    *index = -1;
    if (mq->has_ids) {
        *count = (long long)pg->n;
        *index = pg->n > 0 ? 0 : -1;
        return 0;
    }
    struct store_archive_query q = mq->q;
    q.lo = mq->set_lo;
    q.hi = mq->set_hi;
    int rc = store_archive_count(st, &q, MAM_COUNT_MAX, count);
    if (rc != 0 || *count < 0 || pg->n == 0 || mq->flip || q.descending) {
        return rc;
    }
    q.hi = pg->items[0].id - 1;
    return store_archive_count(st, &q, MAM_COUNT_MAX, index);
}

static struct xml_node *fin_new(const struct page *pg, bool complete, long long count,
                                long long index)
{
    struct xml_node *fin = xml_node_new(NS_MAM, "fin");
    if (complete) {
        xml_node_set_attr(fin, "complete", "true");
    }
    struct xml_node *set = xml_node_add_child(fin, NS_RSM, "set");
    if (pg->n > 0) {
        add_text_child(set, "first", pg->items[0].id);
        if (index >= 0) {
            char num[24];
            snprintf(num, sizeof(num), "%lld", index);
            xml_node_set_attr(xml_node_first_element(set), "index", num);
        }
        add_text_child(set, "last", pg->items[pg->n - 1].id);
    }
    if (count >= 0) {
        add_text_child(set, "count", count);
    }
    return fin;
}

/* Does the archive hold `id`? */
static bool known(struct store *st, const struct owner *owner, long long id)
{
    return id > 0 && store_archive_get(st, owner->domain, owner->name, id, NULL, NULL) == 0;
}

/* The "ids" field: exactly these messages, in archive order. */
static int id_order(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The "ids" field: exactly those messages, in archive order; item-not-found when one is not in
 * this archive. */
static int run_ids(struct store *st, const struct owner *owner, struct mam_query *mq,
                   struct page *pg)
{
    qsort(mq->ids, mq->nids, sizeof(mq->ids[0]), id_order);
    for (size_t i = 0; i < mq->nids; i++) {
        int rc = store_archive_get(st, owner->domain, owner->name, mq->ids[i], collect, pg);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Runs the query into `pg`; *complete when the page reaches the end in its direction. */
static int run_query(struct store *st, const struct owner *owner, struct mam_query *mq,
                     struct page *pg, bool *complete)
{
    if (mq->has_ids) {
        *complete = true;
        return run_ids(st, owner, mq, pg);
    }
    const long long *ref[] = { &mq->after, &mq->before, &mq->f_after, &mq->f_before };
    for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++) {
        if (*ref[i] < 0 || (*ref[i] > 0 && !known(st, owner, *ref[i]))) {
            return ERR_NOTFOUND;
        }
    }
    struct store_archive_query *q = &mq->q;
    q->domain = owner->domain;
    q->name = owner->name;
    q->peer = mq->peer;
    q->peer_res = mq->peer_res;
    q->text = mq->text;
    /* The result set (XEP-0059): the form's range; the page: within it, past the RSM ids. */
    long long lo[] = { mq->f_after, mq->after }, hi[] = { mq->f_before, mq->before };
    for (size_t i = 0; i < 2; i++) {
        if (lo[i] > 0 && lo[i] + 1 > q->lo) {
            q->lo = lo[i] + 1;
        }
        if (hi[i] > 0 && hi[i] - 1 < q->hi) {
            q->hi = hi[i] - 1;
        }
        if (i == 0) {
            mq->set_lo = q->lo;
            mq->set_hi = q->hi;
        }
    }
    /* <before/> pages backward (empty: from the end); otherwise forward. */
    q->descending = mq->before_set;
    int want = q->limit;
    q->limit = want + 1;
    int rc = store_archive_query(st, q, collect, pg);
    *complete = pg->n <= (size_t)want;
    while (pg->n > (size_t)want) {
        item_free(&pg->items[--pg->n]);
    }
    if (q->descending) {
        page_reverse(pg);
    }
    return rc;
}

int archive_query(struct store *st, const struct signal *req, const struct xml_node *query,
                  const char *domain, const char *name, bool room, archive_decorate_fn *decorate,
                  void *ud, struct xml_node **fin)
{
    *fin = NULL;
    struct mam_query mq;
    int rc = parse_query(&mq, query, room);
    if (rc != 0) {
        query_free(&mq);
        return ERR_PROTO;
    }
    /* The messages delivered before the query are in the archive it reads. */
    archive_sync();
    struct buf bare;
    buf_init(&bare, 3 * JID_PART_MAX + 2);
    buf_printf(&bare, "%s@%s", name, domain);
    struct owner owner = { domain, name, buf_cstr(&bare) };
    struct page pg = { 0 };
    bool complete = false;
    long long count = 0, index = -1;
    rc = run_query(st, &owner, &mq, &pg, &complete);
    rc = rc == 0 ? count_set(st, &mq, &pg, &count, &index) : rc;
    if (rc == 0) {
        if (mq.flip) {
            page_reverse(&pg);
        }
        const char *queryid = xml_node_attr(query, "queryid");
        for (size_t i = 0; i < pg.n; i++) {
            send_result(req, queryid, &owner, &pg.items[i], decorate, ud);
        }
        *fin = fin_new(&pg, complete, count, index);
    }
    page_free(&pg);
    buf_cleanup(&bare);
    query_free(&mq);
    return rc;
}

struct xml_node *archive_query_form(void)
{
    struct xml_node *q = xml_node_new(NS_MAM, "query");
    struct xml_node *x = xml_node_add_child(q, NS_XDATA, "x");
    xml_node_set_attr(x, "type", "form");
    static const char *const fields[][2] = {
        { "FORM_TYPE", "hidden" },      { "with", "jid-single" },
        { "start", "text-single" },     { "end", "text-single" },
        { "before-id", "text-single" }, { "after-id", "text-single" },
        { "ids", "list-multi" },        { "{" NS_FULLTEXT "}fulltext", "text-single" },
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        struct xml_node *f = xml_node_add_child(x, NS_XDATA, "field");
        xml_node_set_attr(f, "var", fields[i][0]);
        xml_node_set_attr(f, "type", fields[i][1]);
        if (i == 0) {
            struct xml_node *v = xml_node_add_child(f, NS_XDATA, "value");
            xml_node_add_text(v, NS_MAM, strlen(NS_MAM));
        }
    }
    return q;
}

static int first_or_last(void *ud, const struct store_archive_hit *h)
{
    *(long long *)ud = h->id;
    return 0;
}

static void add_bound(struct xml_node *meta, const char *name, long long id)
{
    struct xml_node *e = xml_node_add_child(meta, NS_MAM, name);
    char num[24], stamp[STAMP_MAX];
    snprintf(num, sizeof(num), "%lld", id);
    xml_node_set_attr(e, "id", num);
    xml_node_set_attr(e, "timestamp", stamp_format((time_t)(id / 1000000), stamp, sizeof(stamp)));
}

int archive_metadata(struct store *st, const char *domain, const char *name, struct xml_node **meta)
{
    archive_sync();
    struct store_archive_query q = {
        .domain = domain,
        .name = name,
        .lo = 0,
        .hi = LLONG_MAX,
        .limit = 1,
    };
    long long first = 0, last = 0;
    int rc = store_archive_query(st, &q, first_or_last, &first);
    q.descending = true;
    if (rc == 0) {
        rc = store_archive_query(st, &q, first_or_last, &last);
    }
    if (rc != 0) {
        *meta = NULL;
        return rc;
    }
    *meta = xml_node_new(NS_MAM, "metadata");
    if (first > 0) {
        add_bound(*meta, "start", first);
        add_bound(*meta, "end", last);
    }
    return 0;
}
