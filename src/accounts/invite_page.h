/* invite_page.h: the landing page of an invitation (issue 18): plain HTML, no script, that tells
 * who invites to which server and links the xmpp: URI and common clients. HTTP-facing but bound
 * to no HTTP server: any listener serving GET /invite/<token> calls invite_page_http. */
#ifndef STARLING_ACCOUNTS_INVITE_PAGE_H
#define STARLING_ACCOUNTS_INVITE_PAGE_H

#include "core/buf.h"
#include "store/store.h"

struct invite_page {
    const char *token;
    const char *domain;
    const char *inviter; /* local part of the inviting account, or NULL/"" (an administrator) */
    long long expires;   /* Unix seconds */
};

/* The page of a valid invitation (`inv`), or of an unknown/expired one (NULL), into `html`.
 * Every value is escaped. */
int invite_page_render(const struct invite_page *inv, struct buf *html);

/* Serves `path` ("/invite/<token>", any query string ignored): 200 and the page of a valid
 * invitation, 404 and the "not valid" page otherwise (also for a path of another shape). The
 * body is text/html; charset=utf-8. `st` is a store handle the caller may use on this thread. */
int invite_page_http(struct store *st, const char *path, struct buf *body);

#endif
