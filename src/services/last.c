/* last.c: XEP-0012 last activity: the server's uptime, and for an account the time since its
 * last unavailable presence or logout (0 while it has an available resource). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "im/homestate.h"
#include "signal/router.h"
#include "store/store_im.h"

#include "services/services.h"
#include "xml/ns.h"


static struct xml_node *last_query(long long seconds, const char *status)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", seconds < 0 ? 0 : seconds);
    struct xml_node *q = xml_node_new(NS_LAST, "query");
    xml_node_set_attr(q, "seconds", num);
    if (status && status[0]) {
        xml_node_add_text(q, status, strlen(status));
    }
    return q;
}

static int server_last(struct service_ctx *ctx)
{
    return service_reply_result(ctx, last_query((long long)(time(NULL) - g_server.started), NULL));
}

/* §4: only the account itself and contacts subscribed to its presence may know. */
struct sub_check {
    bool from;
};

static int sub_row(void *ud, const struct store_roster_item *it)
{
    struct sub_check *c = ud;
    c->from = (it->sub & STORE_SUB_FROM) != 0;
    return 0;
}

static bool may_know(struct store *st, const struct signal *req)
{
    const struct jid *f = &req->from, *t = &req->to;
    if (f->local && strcmp(f->local, t->local) == 0 && strcmp(f->domain, t->domain) == 0) {
        return true;
    }
    struct buf bare;
    buf_init(&bare, 4096);
    jid_bare(f, &bare);
    struct sub_check c = { false };
    int rc = store_im_roster_get(st, t->domain, t->local, buf_cstr(&bare), sub_row, &c);
    buf_cleanup(&bare);
    return rc == 0 && c.from;
}

/* Does the account have an available resource on this, its home worker? A connected session
 * that sent no presence (or went unavailable) is not "online" for XEP-0012. */
static bool any_available(const char *bare)
{
    for (struct router_session *s = router_sessions(bare); s; s = s->next) {
        if (s->available) {
            return true;
        }
    }
    return false;
}

static int account_last(struct service_ctx *ctx)
{
    struct worker_ctx *wc = worker_ctx();
    const struct jid *t = &ctx->req->to;
    if (!may_know(wc->store, ctx->req)) {
        return service_reply_error(ctx, "auth", "forbidden");
    }
    struct buf bare;
    buf_init(&bare, 4096);
    jid_bare(t, &bare);
    bool available = any_available(buf_cstr(&bare));
    bool connected = router_session_count(buf_cstr(&bare)) > 0;
    buf_cleanup(&bare);
    if (available) {
        return service_reply_result(ctx, last_query(0, NULL));
    }
    long long when = 0, seen = 0;
    struct buf status;
    buf_init(&status, 4096);
    /* The last unavailable presence (its time and status) and the logout time, both kept by
     * the IM core on this, the account's home worker. */
    int rc = im_last_seen_get(t->domain, t->local, &seen, &status, &when);
    if (rc != 0) {
        buf_cleanup(&status);
        log_rec(LOG_TAG_XMPPS, LOG_PROBLEMS, 0, NULL, "last activity of %s@%s: %s", t->local,
                t->domain, store_last_error(wc->store));
        return service_reply_error(ctx, "wait", "internal-server-error");
    }
    if (seen >= when) {
        /* Connected but unavailable, or logged out: the last unavailable presence tells. */
        when = seen;
    } else {
        buf_reset(&status);
    }
    if (when == 0 && !connected) {
        buf_cleanup(&status);
        /* Never logged in: nothing to tell (§4, "the user has never logged in"). */
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    long long seconds = when == 0 ? 0 : (long long)time(NULL) - when;
    int code = service_reply_result(ctx, last_query(seconds, buf_cstr(&status)));
    buf_cleanup(&status);
    return code;
}

const struct service service_last = {
    .name = "last",
    .iq =
        (const struct service_iq[]){
            { NS_LAST, "query", .get = server_last, .scopes = SERVICE_SCOPE_SERVER },
            { NS_LAST, "query", .get = account_last, .scopes = SERVICE_SCOPE_ACCOUNT },
            { 0 } },
    .features = (const char *[]){ NS_LAST, NULL },
};
