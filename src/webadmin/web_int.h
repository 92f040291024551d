/* web_int.h: internal to the WebAdmin (http.c, session.c, logs.c, the generated assets). */
#ifndef STARLING_WEBADMIN_WEB_INT_H
#define STARLING_WEBADMIN_WEB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "core/settings.h"

/* A file of src/webadmin/www, embedded at build time (mk/webadmin.mk generates the table). */
struct web_asset {
    const char *path; /* "/index.html" */
    const unsigned char *data;
    size_t len;
};
/* Ends with an entry whose path is NULL. */
extern const struct web_asset web_assets[];

/* ---- one API request (http.c reads it off the connection, webapi.c answers it) ---- */

struct webadmin;

struct web_request {
    const char *peer; /* the remote address, e.g. "127.0.0.1" */
    const char *sid;  /* the session cookie, NULL if none */
    const char *csrf; /* the X-CSRF-Token header, NULL if none */
    bool secure;      /* over HTTPS */
    const char *body;
    size_t body_len;
    /* Set by web_api: */
    unsigned status;      /* HTTP status */
    char set_cookie[256]; /* a Set-Cookie value, "" for none */
};

/* Answers one POST /api (new reference, never NULL): {"ok":true,"result":…} or
 * {"ok":false,"error":…,"code":…}, with rq->status set. */
json_t *web_api(struct webadmin *w, struct web_request *rq);

/* From http.c, for webapi.c. */
struct admin *web_admin(struct webadmin *w);
const char *web_log_dir(struct webadmin *w);
int web_session_timeout(struct webadmin *w);
/* {"interval": seconds, "samples": [{"t": unix time, counter: value, …}, …]} oldest first. */
json_t *web_stats_history(struct webadmin *w);

/* ---- sessions (session.c) ---- */

#define WEB_JID_MAX 1024
#define WEB_TOKEN_LEN 64 /* hex characters of a session id or CSRF token */
#define WEB_SESSIONS_MAX 4096
/* A login lives at most this long, however active (seconds). */
#define WEB_SESSION_MAX_AGE (12 * 3600)

/* Who is logged in: a server administrator, or the administrator of one domain. */
struct web_identity {
    char jid[WEB_JID_MAX]; /* prepared bare JID, canonical domain */
    bool server_admin;
    char domain[256]; /* the domain a domain administrator administers */
};

struct web_session {
    char id[WEB_TOKEN_LEN + 1];
    char csrf[WEB_TOKEN_LEN + 1];
    struct web_identity who;
    time_t created;
    time_t last;
};

/* Creates a session for `who` (random id and CSRF token) into `out`; the oldest one is dropped
 * when WEB_SESSIONS_MAX are open. */
void web_session_create(const struct web_identity *who, struct web_session *out);
/* Finds a live session by id and marks it used now; sessions idle for more than `idle_timeout`
 * seconds or older than WEB_SESSION_MAX_AGE are removed. 0, or ERR_NOTFOUND. */
int web_session_find(const char *id, int idle_timeout, struct web_session *out);
void web_session_remove(const char *id);
/* Removes every session (at exit). */
void web_session_clear(void);

/* Login rate limit per remote address: WEB_LOGIN_FAILURES failed logins within
 * WEB_LOGIN_WINDOW seconds block that address until the oldest of them is that old. */
#define WEB_LOGIN_FAILURES 5
#define WEB_LOGIN_WINDOW 300
/* 0 when the address may try to log in, else the seconds to wait. */
int web_login_blocked(const char *addr);
void web_login_failed(const char *addr);
void web_login_succeeded(const char *addr);

/* Constant-time comparison of two NUL-terminated tokens. */
bool web_token_eq(const char *a, const char *b);

/* ---- the System Log files (logs.c) ---- */

/* [{"name","size","modified"}] of the log files in `dir`, newest first (new reference). */
json_t *web_logs_list(const char *dir);
/* Reads the records of one file that match the filters in `args` ({"file","tags","level",
 * "from","to","text","limit"}, see docs/admin-api.md). 0 with *out = {"file","records":[…],
 * "matched","truncated"}, or ERR_INVAL / ERR_NOTFOUND with a reason in `err`. */
int web_logs_read(const char *dir, const json_t *args, json_t **out, char *err, size_t errlen);

#endif
