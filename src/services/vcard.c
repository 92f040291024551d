/* vcard.c: XEP-0054 vcard-temp (set one's own, get anyone's) and the XEP-0153 photo hash the
 * server keeps for each vCard. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth/sasl.h"
#include "core/err.h"
#include "core/log.h"
#include "core/server.h"
#include "services/services_int.h"
#include "store/store_services.h"
#include "xml/ns.h"


/* XEP-0153 §3: the hex SHA-1 of the decoded PHOTO/BINVAL, "" when the vCard has no photo (or
 * its BINVAL is not base64). Line breaks and spaces inside BINVAL are allowed and ignored. */
static void photo_hash(const struct xml_node *vcard, size_t max, char out[41])
{
    out[0] = '\0';
    const struct xml_node *photo = xml_node_child(vcard, NS_VCARD, "PHOTO");
    const struct xml_node *binval = photo ? xml_node_child(photo, NS_VCARD, "BINVAL") : NULL;
    if (binval == NULL) {
        return;
    }
    struct buf text, packed, bin;
    buf_init(&text, max);
    buf_init(&packed, max);
    buf_init(&bin, max);
    if (xml_node_text(binval, &text) == 0) {
        for (size_t i = 0; i < text.len; i++) {
            if (!isspace((unsigned char)text.p[i])) {
                buf_append_char(&packed, text.p[i]);
            }
        }
        if (packed.len > 0 && sasl_b64_decode(buf_strv(&packed), &bin) == 0) {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int n = 0;
            EVP_Digest(bin.p ? bin.p : "", bin.len, md, &n, EVP_sha1(), NULL);
            for (unsigned int i = 0; i < n && i < 20; i++) {
                snprintf(out + 2 * i, 3, "%02x", md[i]);
            }
        }
    }
    buf_cleanup(&text);
    buf_cleanup(&packed);
    buf_cleanup(&bin);
}

/* The photo hash of each account, so an available presence costs no store read: a fixed table
 * whose slot is picked by the bare JID's hash (a collision replaces), filled on a miss and
 * emptied by every vCard change of the account and by its removal. Process-wide under one lock:
 * presences, vCard writes and removals may run on different threads. A slot's generation moves
 * on each emptying, so a miss that read the store before a change does not fill it afterwards. */
#define PHOTO_CACHE_SLOTS 4096
struct photo_slot {
    char *bare; /* NULL: empty */
    char hash[41];
    unsigned gen;
};
static struct photo_slot g_photo_cache[PHOTO_CACHE_SLOTS];
static pthread_mutex_t g_photo_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t photo_slot_of(const char *local, const char *domain, char *bare, size_t size)
{
    snprintf(bare, size, "%s@%s", local, domain);
    size_t h = 1469598103934665603u;
    for (const char *p = bare; *p; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    }
    return h % PHOTO_CACHE_SLOTS;
}

/* The cached hash ("" no photo): true when cached; else `gen` for photo_cache_put. */
static bool photo_cache_get(const char *local, const char *domain, char hash[41], unsigned *gen)
{
    char bare[2100];
    struct photo_slot *s = &g_photo_cache[photo_slot_of(local, domain, bare, sizeof(bare))];
    pthread_mutex_lock(&g_photo_lock);
    bool hit = s->bare != NULL && strcmp(s->bare, bare) == 0;
    if (hit) {
        memcpy(hash, s->hash, sizeof(s->hash));
    }
    *gen = s->gen;
    pthread_mutex_unlock(&g_photo_lock);
    return hit;
}

static void photo_cache_put(const char *local, const char *domain, const char *hash, unsigned gen)
{
    char bare[2100];
    struct photo_slot *s = &g_photo_cache[photo_slot_of(local, domain, bare, sizeof(bare))];
    pthread_mutex_lock(&g_photo_lock);
    if (s->gen == gen) {
        free(s->bare);
        s->bare = xstrdup(bare);
        snprintf(s->hash, sizeof(s->hash), "%s", hash);
    }
    pthread_mutex_unlock(&g_photo_lock);
}

void services_vcard_forget(const char *local, const char *domain)
{
    char bare[2100];
    struct photo_slot *s = &g_photo_cache[photo_slot_of(local, domain, bare, sizeof(bare))];
    pthread_mutex_lock(&g_photo_lock);
    s->gen++;
    if (s->bare != NULL && strcmp(s->bare, bare) == 0) {
        free(s->bare);
        s->bare = NULL;
    }
    pthread_mutex_unlock(&g_photo_lock);
}

static services_vcard_fn *g_vcard_hook;

void services_set_vcard_hook(services_vcard_fn *fn)
{
    g_vcard_hook = fn;
}

static int store_failed(struct service_ctx *ctx, struct store *st, const char *what)
{
    log_rec(LOG_TAG_XMPPS, LOG_PROBLEMS, 0, NULL, "vCard of %s@%s: %s: %s", ctx->req->to.local,
            ctx->req->to.domain, what, store_last_error(st));
    return service_reply_error(ctx, "wait", "internal-server-error");
}

static int vcard_get(struct service_ctx *ctx)
{
    struct worker_ctx *wc = worker_ctx();
    const struct jid *t = &ctx->req->to;
    struct buf xml;
    /* The ceiling of the setting, not its value: a vCard stored before the limit was lowered
     * is still served. */
    buf_init(&xml, SERVICES_STORED_MAX);
    int rc = store_vcard_get(wc->store, t->domain, t->local, &xml);
    if (rc == ERR_NOTFOUND) {
        buf_cleanup(&xml);
        /* XEP-0054 §3.1: no vCard is an empty one. */
        return service_reply_result(ctx, xml_node_new(NS_VCARD, "vCard"));
    }
    if (rc != 0) {
        buf_cleanup(&xml);
        return store_failed(ctx, wc->store, "read");
    }
    struct xml_node *v = services__parse(xml.p, xml.len);
    buf_cleanup(&xml);
    if (v == NULL) {
        return service_reply_error(ctx, "wait", "internal-server-error");
    }
    return service_reply_result(ctx, v);
}

static int vcard_set(struct service_ctx *ctx)
{
    if (!services__is_self(ctx->req)) {
        /* §3.2: only the owner publishes a vCard. */
        return service_reply_error(ctx, "auth", "forbidden");
    }
    struct worker_ctx *wc = worker_ctx();
    const struct jid *t = &ctx->req->to;
    size_t max = (size_t)wc->cfg->services.vcard_max_size;
    struct buf xml;
    buf_init(&xml, max);
    if (services__serialize(ctx->query, max, &xml) != 0) {
        buf_cleanup(&xml);
        return service_reply_error(ctx, "modify", "not-acceptable");
    }
    char hash[41];
    photo_hash(ctx->query, max, hash);
    int rc = store_vcard_set(wc->store, t->domain, t->local, buf_cstr(&xml), hash);
    services_vcard_forget(t->local, t->domain);
    buf_cleanup(&xml);
    if (rc == ERR_NOTFOUND) {
        return service_reply_error(ctx, "cancel", "item-not-found");
    }
    if (rc != 0) {
        return service_reply_store_error(ctx, rc, "vCard");
    }
    rc = service_reply_result(ctx, NULL);
    if (g_vcard_hook != NULL) {
        g_vcard_hook(t, ctx->query);
    }
    return rc;
}

/* The stored vCard of an account (an empty one when none) with its PHOTO replaced. */
static struct xml_node *with_photo(const struct xml_node *old, const char *type, struct strv b64)
{
    struct xml_node *v = xml_node_new(NS_VCARD, "vCard");
    for (const struct xml_node *c = old ? xml_node_first_element(old) : NULL; c;
         c = xml_node_next_element(c)) {
        if (!(c->ns && strcmp(c->ns, NS_VCARD) == 0 && strcmp(c->name, "PHOTO") == 0)) {
            xml_node_append_copy(v, c);
        }
    }
    if (b64.len > 0) {
        struct xml_node *photo = xml_node_add_child(v, NULL, "PHOTO");
        struct xml_node *t = xml_node_add_child(photo, NULL, "TYPE");
        xml_node_add_text(t, type, strlen(type));
        xml_node_add_text(xml_node_add_child(photo, NULL, "BINVAL"), b64.p, b64.len);
    }
    return v;
}

int services_vcard_set_photo(const char *local, const char *domain, const char *type,
                             struct strv b64)
{
    struct worker_ctx *wc = worker_ctx();
    struct buf xml;
    buf_init(&xml, SERVICES_STORED_MAX);
    int rc = store_vcard_get(wc->store, domain, local, &xml);
    struct xml_node *old = rc == 0 ? services__parse(xml.p, xml.len) : NULL;
    if (rc == 0 || rc == ERR_NOTFOUND) {
        struct xml_node *v = with_photo(old, type, b64);
        size_t max = (size_t)wc->cfg->services.vcard_max_size;
        char hash[41];
        rc = services__serialize(v, max, &xml);
        if (rc == 0) {
            photo_hash(v, max, hash);
            rc = store_vcard_set(wc->store, domain, local, buf_cstr(&xml), hash);
            services_vcard_forget(local, domain);
        }
        xml_node_unref(v);
    }
    if (old != NULL) {
        xml_node_unref(old);
    }
    buf_cleanup(&xml);
    return rc;
}

int services_vcard_photo_hash(const char *local, const char *domain, struct buf *out)
{
    struct worker_ctx *wc = worker_ctx();
    if (wc == NULL) {
        return ERR_INTERNAL;
    }
    int rc = store_vcard_photo_hash(wc->store, domain, local, out);
    if (rc == 0 && out->len == 0) {
        rc = ERR_NOTFOUND;
    }
    return rc;
}

struct xml_node *services_vcard_update_new(const char *local, const char *domain)
{
    char cached[41];
    unsigned gen = 0;
    if (!photo_cache_get(local, domain, cached, &gen)) {
        struct buf hash;
        buf_init(&hash, 64);
        int rc = services_vcard_photo_hash(local, domain, &hash);
        if (rc == ERR_NOTFOUND) {
            buf_reset(&hash);
            rc = 0;
        }
        snprintf(cached, sizeof(cached), "%s", buf_cstr(&hash));
        buf_cleanup(&hash);
        if (rc != 0) {
            return NULL;
        }
        photo_cache_put(local, domain, cached, gen);
    }
    struct xml_node *x = xml_node_new(NS_VCARD_UPDATE, "x");
    struct xml_node *photo = xml_node_add_child(x, NULL, "photo");
    if (cached[0] != '\0') {
        xml_node_add_text(photo, cached, strlen(cached));
    }
    return x;
}

const struct service service_vcard = {
    .name = "vcard",
    .iq = (const struct service_iq[]){ { NS_VCARD, "vCard", .get = vcard_get, .set = vcard_set,
                                         .scopes = SERVICE_SCOPE_ACCOUNT },
                                       { 0 } },
    .features = (const char *[]){ NS_VCARD, NULL },
    .feature_scopes = SERVICE_SCOPE_SERVER | SERVICE_SCOPE_ACCOUNT,
};
