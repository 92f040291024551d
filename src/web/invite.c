/* invite.c: an invitation's landing page (issue 18) at /invite/<token> on the user-facing HTTP
 * listener, where the people invited can reach it (the WebAdmin may be bound to loopback). The
 * page itself is accounts/invite_page.c: plain HTML, no script, no style. */
#include <string.h>

#include "accounts/invite_page.h"
#include "core/server.h"
#include "web/web_int.h"
#include "xmpp/conn.h"

/* Longer paths are no token of ours: the page says "not valid". */
#define INVITE_PATH_MAX 512

void web__invite_page(struct conn *c, const struct web_req *r)
{
    char path[INVITE_PATH_MAX + 1] = "/invite/";
    if (r->path.len <= INVITE_PATH_MAX) {
        memcpy(path, r->path.p, r->path.len);
        path[r->path.len] = '\0';
    }
    struct buf body;
    buf_init(&body, 65536);
    int status = invite_page_http(worker_ctx()->store, path, &body);
    web__respond(c, status, "text/html; charset=utf-8",
                 "Cache-Control: no-store\r\n"
                 "X-Content-Type-Options: nosniff\r\n"
                 "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
                 "Referrer-Policy: no-referrer\r\n",
                 body.p, strv_eq_c(r->method, "HEAD") ? 0 : body.len);
    buf_cleanup(&body);
}
