/* invite_page.c: the HTML landing page of an invitation (plain HTML: no script, no style). */
#include "accounts/invite_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/stamp.h"
#include "store/store_register.h"

#define TOKEN_MAX 128

/* Clients that handle xmpp: invitation URIs (XEP-0401), with where to get them. */
static const struct {
    const char *name;
    const char *platform;
    const char *url;
} clients[] = {
    { "Conversations", "Android", "https://conversations.im/" },
    { "Monal", "iOS and macOS", "https://monal-im.org/" },
    { "Siskin IM", "iOS", "https://siskin.im/" },
    { "Dino", "Linux", "https://dino.im/" },
    { "Gajim", "Windows and Linux", "https://gajim.org/" },
};

/* Appends `text` with &, <, >, " and ' escaped. */
static void esc(struct buf *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&':
            buf_append_c(out, "&amp;");
            break;
        case '<':
            buf_append_c(out, "&lt;");
            break;
        case '>':
            buf_append_c(out, "&gt;");
            break;
        case '"':
            buf_append_c(out, "&quot;");
            break;
        case '\'':
            buf_append_c(out, "&#39;");
            break;
        default:
            buf_append(out, p, 1);
        }
    }
}

static void head(struct buf *out, const char *title)
{
    buf_append_c(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                      "<meta name=\"referrer\" content=\"no-referrer\"><title>");
    esc(out, title);
    buf_append_c(out, "</title></head><body>");
}

/* The xmpp: URI of the invitation: the inviter's roster link, or the server's registration. */
static void uri_of(const struct invite_page *inv, struct buf *out)
{
    if (inv->inviter && inv->inviter[0]) {
        buf_printf(out, "xmpp:%s@%s?roster;preauth=%s;ibr=y", inv->inviter, inv->domain,
                   inv->token);
    } else {
        buf_printf(out, "xmpp:%s?register;preauth=%s", inv->domain, inv->token);
    }
}

int invite_page_render(const struct invite_page *inv, struct buf *html)
{
    buf_reset(html);
    if (inv == NULL) {
        head(html, "Invitation not valid");
        buf_append_c(html, "<h1>This invitation is not valid</h1><p>It may have expired or "
                           "been used already. Ask the person who invited you for a new "
                           "one.</p></body></html>\n");
        return 0;
    }
    struct buf uri, title;
    buf_init(&uri, 2048);
    buf_init(&title, 2048);
    uri_of(inv, &uri);
    bool person = inv->inviter && inv->inviter[0];
    if (person) {
        buf_printf(&title, "%s@%s invites you to chat", inv->inviter, inv->domain);
    } else {
        buf_printf(&title, "You are invited to %s", inv->domain);
    }
    head(html, buf_cstr(&title));
    buf_append_c(html, "<h1>");
    esc(html, buf_cstr(&title));
    buf_append_c(html, "</h1><p>");
    if (person) {
        buf_append_c(html, "Join the chat server <strong>");
        esc(html, inv->domain);
        buf_append_c(html, "</strong> and you and <strong>");
        esc(html, inv->inviter);
        buf_append_c(html, "</strong> will be in each other's contacts.");
    } else {
        buf_append_c(html, "This invitation lets you create an account on the chat server "
                           "<strong>");
        esc(html, inv->domain);
        buf_append_c(html, "</strong>.");
    }
    char stamp[STAMP_MAX];
    buf_append_c(html, " It is valid until ");
    esc(html, stamp_format((time_t)inv->expires, stamp, sizeof(stamp)));
    buf_append_c(html, ".</p><h2>1. Install a chat app</h2><ul>");
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++) {
        buf_printf(html, "<li><a href=\"%s\" rel=\"noopener noreferrer\">%s</a> (%s)</li>",
                   clients[i].url, clients[i].name, clients[i].platform);
    }
    buf_append_c(html, "</ul><h2>2. Open the invitation in it</h2><p><a href=\"");
    esc(html, buf_cstr(&uri));
    buf_append_c(html, "\">Accept the invitation</a></p>"
                       "<p>If the link does not open your app, copy this into it:</p><p><code>");
    esc(html, buf_cstr(&uri));
    buf_append_c(html, "</code></p></body></html>\n");
    buf_cleanup(&uri);
    buf_cleanup(&title);
    return 0;
}

/* The token of "/invite/<token>[?…]" into `out` (URL-safe characters only), or false. */
static bool token_of(const char *path, char *out, size_t size)
{
    static const char prefix[] = "/invite/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0) {
        return false;
    }
    const char *t = path + sizeof(prefix) - 1;
    size_t n = strcspn(t, "?#");
    if (n == 0 || n >= size ||
        strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") < n) {
        return false;
    }
    memcpy(out, t, n);
    out[n] = '\0';
    return true;
}

struct lookup {
    struct buf domain;
    struct buf inviter;
    long long expires;
    bool found;
};

static int lookup_row(void *ud, const char *const *cols, int ncols)
{
    struct lookup *lk = ud;
    if (ncols < 5 || lk->found) {
        return 0;
    }
    buf_append_c(&lk->domain, cols[0]);
    buf_append_c(&lk->inviter, cols[1]);
    lk->expires = strtoll(cols[4], NULL, 10);
    lk->found = strtoll(cols[2], NULL, 10) > 0;
    return 1;
}

int invite_page_http(struct store *st, const char *path, struct buf *body)
{
    char token[TOKEN_MAX];
    struct lookup lk = { .expires = 0 };
    buf_init(&lk.domain, 1024);
    buf_init(&lk.inviter, 2048);
    if (token_of(path, token, sizeof(token))) {
        store_invite_find(st, token, (long long)time(NULL), lookup_row, &lk);
    }
    struct invite_page inv = {
        .token = token,
        .domain = buf_cstr(&lk.domain),
        .inviter = buf_cstr(&lk.inviter),
        .expires = lk.expires,
    };
    invite_page_render(lk.found ? &inv : NULL, body);
    buf_cleanup(&lk.domain);
    buf_cleanup(&lk.inviter);
    return lk.found ? 200 : 404;
}
