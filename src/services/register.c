/* register.c: XEP-0077 for a logged-in account: registration info, password change, cancel. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accounts/accounts.h"
#include "accounts/signup.h"
#include "core/log.h"
#include "core/server.h"
#include "services/services.h"
#include "signal/router.h"
#include "xml/ns.h"


/* The account asking: its own bare JID (an iq to the server or to its own bare JID). */
static int requester(struct service_ctx *ctx, struct buf *bare)
{
    const struct signal *req = ctx->req;
    if (req->from.local == NULL) {
        return -1;
    }
    if (ctx->scope == SERVICE_SCOPE_ACCOUNT && !jid_bare_eq(&req->from, &req->to)) {
        return -1;
    }
    return jid_bare(&req->from, bare);
}

static int register_get(struct service_ctx *ctx)
{
    struct buf bare;
    buf_init(&bare, 4096);
    if (requester(ctx, &bare) != 0) {
        buf_cleanup(&bare);
        return service_reply_error(ctx, "cancel", "forbidden");
    }
    struct xml_node *q = xml_node_new(NS_REGISTER, "query");
    xml_node_add_child(q, NULL, "registered");
    struct xml_node *u = xml_node_add_child(q, NULL, "username");
    const char *local = ctx->req->from.local;
    xml_node_add_text(u, local, strlen(local));
    xml_node_add_child(q, NULL, "password");
    buf_cleanup(&bare);
    return service_reply_result(ctx, q);
}

static bool may_change_password(const struct domain_cfg *d, const struct account_cfg *a)
{
    return a->allow_modify_password < 0 ? d->allow_modify_password : a->allow_modify_password > 0;
}

static int change_password(struct service_ctx *ctx, const char *bare)
{
    struct store *st = worker_ctx()->store;
    const struct settings *cfg = worker_ctx()->cfg;
    struct domain_cfg d;
    struct account_cfg a;
    struct buf user, password;
    buf_init(&user, 2048);
    buf_init(&password, 4096);
    int rc;
    signup_field(ctx->query, "username", &user);
    signup_field(ctx->query, "password", &password);
    if (accounts_domain_get(st, ctx->req->from.domain, &d) != 0 ||
        accounts_account_get(st, bare, &a) != 0) {
        rc = service_reply_error(ctx, "wait", "internal-server-error");
        goto done;
    }
    if (!may_change_password(&d, &a)) {
        rc = service_reply_error(ctx, "cancel", "not-allowed");
        goto done;
    }
    struct buf prepped;
    buf_init(&prepped, 2048);
    bool same = user.len == 0 || (jid_nodeprep(buf_strv(&user), &prepped) == 0 &&
                                  strcmp(buf_cstr(&prepped), ctx->req->from.local) == 0);
    buf_cleanup(&prepped);
    if (!same || password.len == 0) {
        rc = service_reply_error(ctx, same ? "modify" : "cancel",
                                 same ? "bad-request" : "not-allowed");
        goto done;
    }
    struct signup_refusal why;
    if (signup_check_password(cfg, buf_cstr(&password), &why) != 0) {
        rc = service_reply_error(ctx, why.type, why.condition);
        goto done;
    }
    char err[256] = "";
    rc = accounts_account_passwd(st, bare, buf_cstr(&password), err, sizeof(err));
    if (rc != 0) {
        log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, bare, "password change failed: %s", err);
        const char *type;
        const char *cond = signal_store_condition(rc, &type);
        rc = service_reply_error(ctx, type, cond);
        goto done;
    }
    log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, bare, "password changed in-band");
    rc = service_reply_result(ctx, NULL);

done:
    buf_cleanup(&user);
    buf_cleanup(&password);
    return rc;
}

/* XEP-0077 §3.2: the account goes; its sessions end with not-authorized after the result. */
static int cancel(struct service_ctx *ctx, const char *bare)
{
    struct store *st = worker_ctx()->store;
    struct domain_cfg d;
    if (accounts_domain_get(st, ctx->req->from.domain, &d) != 0) {
        return service_reply_error(ctx, "wait", "internal-server-error");
    }
    if (!d.allow_cancel) {
        return service_reply_error(ctx, "cancel", "not-allowed");
    }
    /* The account and its tombstone go together, or neither does. */
    char err[256] = "";
    int rc = store_group_begin(st);
    if (rc == 0) {
        rc = accounts_account_remove(st, bare, err, sizeof(err));
        if (rc == 0) {
            rc = signup_tombstone(st, worker_ctx()->cfg, ctx->req->from.domain,
                                  ctx->req->from.local, time(NULL));
            if (rc != 0) {
                snprintf(err, sizeof(err), "tombstone: %s", store_last_error(st));
            }
        }
        rc = store_group_end(st, rc);
    }
    if (rc != 0) {
        log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, bare, "account removal failed: %s",
                err[0] ? err : store_last_error(st));
        const char *type;
        const char *cond = signal_store_condition(rc, &type);
        return service_reply_error(ctx, type, cond);
    }
    log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, bare, "account cancelled in-band");
    services_vcard_forget(ctx->req->from.local, ctx->req->from.domain);
    rc = service_reply_result(ctx, NULL);
    /* The sessions of an account live on its home worker, where this runs. */
    router_account_end(bare, "not-authorized", "the account was cancelled in-band");
    return rc;
}

static int register_set(struct service_ctx *ctx)
{
    struct buf bare;
    buf_init(&bare, 4096);
    int rc;
    if (requester(ctx, &bare) != 0) {
        rc = service_reply_error(ctx, "cancel", "forbidden");
    } else if (xml_node_child(ctx->query, NS_REGISTER, "remove")) {
        rc = cancel(ctx, buf_cstr(&bare));
    } else {
        rc = change_password(ctx, buf_cstr(&bare));
    }
    buf_cleanup(&bare);
    return rc;
}

const struct service service_register = {
    .name = "register",
    .iq = (const struct service_iq[]){ { NS_REGISTER, "query", .get = register_get,
                                         .set = register_set,
                                         .scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT },
                                       { 0 } },
    .features = (const char *[]){ NS_REGISTER, NULL },
};
