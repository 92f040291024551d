/* bind2.c: the registry of XEP-0386 Bind 2 inline features, with message carbons built in. */
#include "xmpp/bind2.h"

#include <string.h>

#include "core/err.h"
#include "im/im.h"
#include "xml/ns.h"

struct bind2_feature {
    const char *ns;
    xstream_bind2_fn *fn;
};

/* XEP-0280 inline: <enable xmlns='urn:xmpp:carbons:2'/> turns carbons on for the new session. */
static int carbons_inline(struct c2s_session *s, const struct xml_node *req, struct buf *bound)
{
    (void)bound; /* XEP-0386: carbons answer nothing inside <bound/> */
    if (strcmp(req->name, "enable") != 0) {
        return ERR_PROTO;
    }
    return im_session_flag(&s->jid, s->resource, IM_FLAG_CARBONS, true);
}

static struct bind2_feature g_bind2[XSTREAM_BIND2_MAX] = {
    { NS_CARBONS, carbons_inline },
};
static size_t g_nbind2 = 1;

int xstream_bind2_register(const char *ns, xstream_bind2_fn *fn)
{
    for (size_t i = 0; i < g_nbind2; i++) {
        if (strcmp(g_bind2[i].ns, ns) == 0) {
            return ERR_EXISTS;
        }
    }
    if (g_nbind2 >= XSTREAM_BIND2_MAX) {
        return ERR_LIMIT;
    }
    g_bind2[g_nbind2].ns = ns;
    g_bind2[g_nbind2].fn = fn;
    g_nbind2++;
    return 0;
}

size_t xstream_bind2_count(void)
{
    return g_nbind2;
}

const char *xstream_bind2_ns(size_t i)
{
    return i < g_nbind2 ? g_bind2[i].ns : NULL;
}

int xstream_bind2_run(struct c2s_session *s, const struct xml_node *req, struct buf *bound)
{
    for (size_t i = 0; req->ns != NULL && i < g_nbind2; i++) {
        if (strcmp(g_bind2[i].ns, req->ns) == 0) {
            return g_bind2[i].fn(s, req, bound);
        }
    }
    return ERR_NOTFOUND;
}

/* ---- other SASL2 inline features ---- */

struct sasl2_inline {
    xstream_sasl2_advertise_fn *advertise;
    xstream_sasl2_inline_fn *run;
    xstream_sasl2_after_fn *after;
};

static struct sasl2_inline g_inline[XSTREAM_SASL2_INLINE_MAX];
static size_t g_ninline;

int xstream_sasl2_inline_register(xstream_sasl2_advertise_fn *advertise,
                                  xstream_sasl2_inline_fn *run, xstream_sasl2_after_fn *after)
{
    if (g_ninline >= XSTREAM_SASL2_INLINE_MAX) {
        return ERR_LIMIT;
    }
    g_inline[g_ninline].advertise = advertise;
    g_inline[g_ninline].run = run;
    g_inline[g_ninline].after = after;
    g_ninline++;
    return 0;
}

void xstream__sasl2_inline_advertise(struct buf *inline_out)
{
    for (size_t i = 0; i < g_ninline; i++) {
        if (g_inline[i].advertise) {
            g_inline[i].advertise(inline_out);
        }
    }
}

int xstream__sasl2_inline_run(struct xstream *st, const struct xml_node *authenticate,
                              struct buf *success_out)
{
    int worst = 0;
    for (size_t i = 0; i < g_ninline; i++) {
        int rc = g_inline[i].run ? g_inline[i].run(st, authenticate, success_out) : 0;
        if (rc == XSTREAM_SASL2_BOUND) {
            return rc;
        }
        worst = rc < 0 ? rc : worst;
    }
    return worst;
}

void xstream__sasl2_inline_after(struct xstream *st)
{
    for (size_t i = 0; i < g_ninline; i++) {
        if (g_inline[i].after) {
            g_inline[i].after(st);
        }
    }
}
