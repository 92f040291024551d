/* mam.c: XEP-0313 message archive management for accounts: queries with the form fields of
 * urn:xmpp:mam:2 and #extended, XEP-0059 paging both ways, XEP-0431 full-text search, the
 * archiving preferences and the archive's metadata. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive.h"
#include "core/err.h"
#include "core/server.h"
#include "core/stamp.h"
#include "im/im.h"
#include "services/services_int.h"
#include "store/store_archive.h"
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

static int parse_query(struct mam_query *mq, const struct xml_node *query)
{
    memset(mq, 0, sizeof(*mq));
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
struct page {
    long long *ids;
    char **stanzas;
    size_t n, cap;
};

static int collect(void *ud, long long id, bool outgoing, const char *stanza)
{
    (void)outgoing;
    struct page *pg = ud;
    if (pg->n == pg->cap) {
        pg->cap = pg->cap ? pg->cap * 2 : 64;
        pg->ids = xrealloc(pg->ids, pg->cap * sizeof(*pg->ids));
        pg->stanzas = xrealloc(pg->stanzas, pg->cap * sizeof(*pg->stanzas));
    }
    pg->ids[pg->n] = id;
    pg->stanzas[pg->n] = xstrdup(stanza);
    pg->n++;
    return 0;
}

static void page_free(struct page *pg)
{
    for (size_t i = 0; i < pg->n; i++) {
        free(pg->stanzas[i]);
    }
    free(pg->ids);
    free(pg->stanzas);
}

static void page_reverse(struct page *pg)
{
    for (size_t i = 0, j = pg->n ? pg->n - 1 : 0; i < j; i++, j--) {
        long long id = pg->ids[i];
        pg->ids[i] = pg->ids[j];
        pg->ids[j] = id;
        char *s = pg->stanzas[i];
        pg->stanzas[i] = pg->stanzas[j];
        pg->stanzas[j] = s;
    }
}

/* <message from=bare to=requester><result queryid id><forwarded><delay/><message/></…> */
static void send_result(const struct signal *req, const char *queryid, long long id,
                        const char *stanza)
{
    struct xml_node *stored = xml_parse_element(strv_c(stanza), NS_CLIENT, NULL);
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
    xml_node_append_copy(fwd, stored);
    xml_node_unref(stored);
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

static int reply_fin(struct service_ctx *ctx, const struct page *pg, bool complete)
{
    struct xml_node *fin = xml_node_new(NS_MAM, "fin");
    if (complete) {
        xml_node_set_attr(fin, "complete", "true");
    }
    struct xml_node *set = xml_node_add_child(fin, NS_RSM, "set");
    if (pg->n > 0) {
        add_text_child(set, "first", pg->ids[0]);
        add_text_child(set, "last", pg->ids[pg->n - 1]);
    }
    return service_reply_result(ctx, fin);
}

/* Does the account's archive hold `id`? */
static bool known(struct store *st, const struct jid *owner, long long id)
{
    return id > 0 && store_archive_get(st, owner->domain, owner->local, id, NULL, NULL) == 0;
}

/* The "ids" field: exactly these messages, in archive order. */
static int run_ids(struct store *st, const struct jid *owner, struct mam_query *mq, struct page *pg)
{
    for (size_t i = 0; i < mq->nids; i++) {
        int rc = store_archive_get(st, owner->domain, owner->local, mq->ids[i], collect, pg);
        if (rc == ERR_NOTFOUND) {
            return rc;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Runs the query into `pg`; *complete when the page reaches the end in its direction. */
static int run_query(struct store *st, const struct jid *owner, struct mam_query *mq,
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
    q->name = owner->local;
    q->peer = mq->peer;
    q->peer_res = mq->peer_res;
    q->text = mq->text;
    long long lo[] = { mq->after, mq->f_after }, hi[] = { mq->before, mq->f_before };
    for (size_t i = 0; i < 2; i++) {
        if (lo[i] > 0 && lo[i] + 1 > q->lo) {
            q->lo = lo[i] + 1;
        }
        if (hi[i] > 0 && hi[i] - 1 < q->hi) {
            q->hi = hi[i] - 1;
        }
    }
    /* <before/> pages backward (empty: from the end); otherwise forward. */
    q->descending = mq->before_set;
    int want = q->limit;
    q->limit = want + 1;
    int rc = store_archive_query(st, q, collect, pg);
    *complete = pg->n <= (size_t)want;
    while (pg->n > (size_t)want) {
        pg->n--;
        free(pg->stanzas[pg->n]);
    }
    if (q->descending) {
        page_reverse(pg);
    }
    return rc;
}

static int mam_query_set(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    struct mam_query mq;
    int rc = parse_query(&mq, ctx->query);
    if (rc != 0) {
        query_free(&mq);
        return service_reply_error(ctx, "modify", "bad-request");
    }
    /* The messages delivered before the query are in the archive it reads. */
    archive_sync();
    struct store *st = worker_ctx()->store;
    struct page pg = { 0 };
    bool complete = false;
    rc = run_query(st, &ctx->req->to, &mq, &pg, &complete);
    if (rc == ERR_NOTFOUND) {
        page_free(&pg);
        query_free(&mq);
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    if (rc != 0) {
        page_free(&pg);
        query_free(&mq);
        return service_reply_store_error(ctx, rc, "archive query");
    }
    if (mq.flip) {
        page_reverse(&pg);
    }
    const char *queryid = xml_node_attr(ctx->query, "queryid");
    for (size_t i = 0; i < pg.n; i++) {
        send_result(ctx->req, queryid, pg.ids[i], pg.stanzas[i]);
    }
    /* A session that read the archive before its initial presence needs no offline flood. */
    if (ctx->req->from.resource) {
        im_session_flag(&ctx->req->from, ctx->req->from.resource, IM_FLAG_ARCHIVE_SYNC, true);
    }
    rc = reply_fin(ctx, &pg, complete);
    page_free(&pg);
    query_free(&mq);
    return rc;
}

/* The fields a query may use (XEP-0313 §5.1.2). */
static int mam_query_get(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    struct xml_node *q = xml_node_new(NS_MAM, "query");
    struct xml_node *x = services__form_add(q, "form", NS_MAM);
    services__field_add(x, "with", "jid-single", NULL, NULL);
    services__field_add(x, "start", "text-single", NULL, NULL);
    services__field_add(x, "end", "text-single", NULL, NULL);
    services__field_add(x, "before-id", "text-single", NULL, NULL);
    services__field_add(x, "after-id", "text-single", NULL, NULL);
    services__field_add(x, "ids", "list-multi", NULL, NULL);
    services__field_add(x, "{" NS_FULLTEXT "}fulltext", "text-single", "Full-text search", NULL);
    return service_reply_result(ctx, q);
}

static void add_jid_list(struct xml_node *prefs, const char *name, const char *list)
{
    struct xml_node *l = xml_node_add_child(prefs, NS_MAM, name);
    for (const char *p = list; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            struct xml_node *j = xml_node_add_child(l, NS_MAM, "jid");
            xml_node_add_text(j, p, len);
        }
        p += len + (nl != NULL);
    }
}

static int reply_prefs(struct service_ctx *ctx, const char *mode, const char *always,
                       const char *never)
{
    struct xml_node *p = xml_node_new(NS_MAM, "prefs");
    xml_node_set_attr(p, "default", mode);
    add_jid_list(p, "always", always);
    add_jid_list(p, "never", never);
    return service_reply_result(ctx, p);
}

static int mam_prefs_get(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    struct store *st = worker_ctx()->store;
    const struct jid *t = &ctx->req->to;
    struct buf mode, always, never;
    buf_init(&mode, 16);
    buf_init(&always, 1 << 20);
    buf_init(&never, 1 << 20);
    int rc = store_archive_prefs_get(st, t->domain, t->local, &mode, &always, &never);
    if (rc == ERR_NOTFOUND) {
        rc = reply_prefs(ctx, "always", "", "");
    } else if (rc != 0) {
        rc = service_reply_store_error(ctx, rc, "archive preferences");
    } else {
        rc = reply_prefs(ctx, buf_cstr(&mode), buf_cstr(&always), buf_cstr(&never));
    }
    buf_cleanup(&mode);
    buf_cleanup(&always);
    buf_cleanup(&never);
    return rc;
}

/* The bare JIDs of an <always/> or <never/> list, each ended by '\n'. */
static int read_jid_list(const struct xml_node *l, struct buf *out)
{
    struct buf v, b;
    buf_init(&v, 3 * JID_PART_MAX + 2);
    buf_init(&b, 3 * JID_PART_MAX + 2);
    int rc = 0;
    for (const struct xml_node *j = l ? xml_node_first_element(l) : NULL; j && rc == 0;
         j = xml_node_next_element(j)) {
        struct jid parsed;
        buf_reset(&v);
        xml_node_text(j, &v);
        if (jid_parse(&parsed, buf_strv(&v)) != 0) {
            rc = ERR_PROTO;
            break;
        }
        jid_bare(&parsed, &b);
        jid_cleanup(&parsed);
        if (buf_append(out, b.p, b.len) != 0 || buf_append(out, "\n", 1) != 0) {
            rc = ERR_LIMIT;
        }
    }
    buf_cleanup(&v);
    buf_cleanup(&b);
    return rc;
}

static int mam_prefs_set(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    const char *mode = xml_node_attr(ctx->query, "default");
    if (mode == NULL || (strcmp(mode, "always") != 0 && strcmp(mode, "never") != 0 &&
                         strcmp(mode, "roster") != 0)) {
        return service_reply_error(ctx, "modify", "bad-request");
    }
    struct buf always, never;
    buf_init(&always, 1 << 20);
    buf_init(&never, 1 << 20);
    int rc = read_jid_list(xml_node_child(ctx->query, NS_MAM, "always"), &always);
    if (rc == 0) {
        rc = read_jid_list(xml_node_child(ctx->query, NS_MAM, "never"), &never);
    }
    const struct jid *t = &ctx->req->to;
    if (rc != 0) {
        rc = service_reply_error(ctx, "modify", "bad-request");
    } else if ((rc = store_archive_prefs_set(worker_ctx()->store, t->domain, t->local, mode,
                                             buf_cstr(&always), buf_cstr(&never))) != 0) {
        rc = service_reply_store_error(ctx, rc, "archive preferences");
    } else {
        rc = reply_prefs(ctx, mode, buf_cstr(&always), buf_cstr(&never));
    }
    buf_cleanup(&always);
    buf_cleanup(&never);
    return rc;
}

static int first_or_last(void *ud, long long id, bool outgoing, const char *stanza)
{
    (void)outgoing;
    (void)stanza;
    *(long long *)ud = id;
    return 0;
}

static void add_bound(struct xml_node *meta, const char *name, long long id)
{
    struct xml_node *e = xml_node_add_child(meta, NS_MAM, name);
    if (id > 0) {
        char num[24], stamp[STAMP_MAX];
        snprintf(num, sizeof(num), "%lld", id);
        xml_node_set_attr(e, "id", num);
        xml_node_set_attr(e, "timestamp",
                          stamp_format((time_t)(id / 1000000), stamp, sizeof(stamp)));
    }
}

/* XEP-0313 §7.1: the first and last message of the archive. */
static int mam_metadata_get(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    archive_sync();
    struct store *st = worker_ctx()->store;
    const struct jid *t = &ctx->req->to;
    struct store_archive_query q = {
        .domain = t->domain,
        .name = t->local,
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
        return service_reply_store_error(ctx, rc, "archive metadata");
    }
    struct xml_node *meta = xml_node_new(NS_MAM, "metadata");
    if (first > 0) {
        add_bound(meta, "start", first);
        add_bound(meta, "end", last);
    }
    return service_reply_result(ctx, meta);
}

const struct service service_mam = {
    .name = "mam",
    .iq = (const struct service_iq[]){ { NS_MAM, "query", .get = mam_query_get,
                                         .set = mam_query_set, .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { NS_MAM, "prefs", .get = mam_prefs_get,
                                         .set = mam_prefs_set, .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { NS_MAM, "metadata", .get = mam_metadata_get,
                                         .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { 0 } },
    .features = (const char *[]){ NS_MAM, NS_MAM_EXTENDED, NS_FULLTEXT, NULL },
    .feature_scopes = SERVICE_SCOPE_ACCOUNT,
};
