/* im.c: helpers shared by the IM core's files: the worker's store and settings, a session's IM
 * state, JIDs as text, and new signals. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server.h"
#include "archive/archive.h"
#include "im/im_int.h"

static const struct router_im g_router_hooks = {
    .inbound_blocked = im_inbound_blocked,
    .inbound_presence = im_inbound_presence,
    .offline_message = im_offline_message,
    .carbons_received = im_carbons_received,
    .inbound_message = im_inbound_message,
    .inbound_blocks = im_inbound_blocks,
};

/* XEP-0313: a message for the account is archived (and gets its stanza-id) before delivery,
 * whether a resource or the offline storage takes it. */
void im_inbound_message(struct signal *sig)
{
    archive_message(sig, false);
}

void im_init(void)
{
    router_set_im(&g_router_hooks);
}

struct store *im__store(void)
{
    return worker_ctx()->store;
}

const struct settings *im__cfg(void)
{
    return worker_ctx()->cfg;
}

struct im_session *im__session(struct router_session *rs)
{
    if (rs->im == NULL) {
        struct im_session *is = xcalloc(1, sizeof(*is));
        struct buf full;
        buf_init(&full, strlen(rs->bare) + strlen(rs->resource) + 2);
        buf_printf(&full, "%s/%s", rs->bare, rs->resource);
        if (jid_parse(&is->full, buf_strv(&full)) != 0) {
            memset(&is->full, 0, sizeof(is->full));
        }
        buf_cleanup(&full);
        is->rs = rs;
        rs->im = is;
    }
    return rs->im;
}

int im_session_flag(const struct jid *account, const char *resource, enum im_flag flag, bool on)
{
    for (struct router_session *s = im__sessions(account); s; s = s->next) {
        if (strcmp(s->resource, resource) != 0) {
            continue;
        }
        struct im_session *is = im__session(s);
        switch (flag) {
        case IM_FLAG_ROSTER:
            is->roster_requested = on;
            break;
        case IM_FLAG_BLOCKLIST:
            is->blocklist_requested = on;
            break;
        case IM_FLAG_CARBONS:
            is->carbons = on;
            break;
        case IM_FLAG_ARCHIVE_SYNC:
            /* Only before the initial presence, which triggers the flood. */
            is->archive_synced = on && !s->available;
            break;
        }
        return 0;
    }
    return ERR_NOTFOUND;
}

char *im__bare_str(const struct jid *j)
{
    struct buf b;
    buf_init(&b, 4096);
    jid_bare(j, &b);
    char *s = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return s;
}

char *im__full_str(const struct jid *j)
{
    struct buf b;
    buf_init(&b, 4096);
    jid_full(j, &b);
    char *s = xstrdup(buf_cstr(&b));
    buf_cleanup(&b);
    return s;
}

struct router_session *im__sessions(const struct jid *account)
{
    return router_sessions_of(account);
}

void im__bare(const struct jid *j, struct jid *out)
{
    memset(out, 0, sizeof(*out));
    jid_copy(out, j);
    free(out->resource);
    out->resource = NULL;
}

struct signal *im__signal(enum signal_method m, const struct jid *from, const struct jid *to,
                          const char *type, struct xml_node *data)
{
    struct signal *sig = signal_new(m);
    jid_copy(&sig->from, from);
    jid_copy(&sig->to, to);
    sig->type = type ? xstrdup(type) : NULL;
    if (data) {
        sig->xmpp_data = xml_node_ref(data);
        const char *id = xml_node_attr(data, "id");
        sig->id = id ? xstrdup(id) : NULL;
    }
    return sig;
}
