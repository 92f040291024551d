/* admin.h: the JSON admin API (domains, accounts, settings, connections) and its Unix socket. */
#ifndef STARLING_ADMIN_ADMIN_H
#define STARLING_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/settings.h"

/* A request line is at most this many bytes (its newline not counted). */
#define ADMIN_LINE_MAX (1024 * 1024)
/* At most this many clients are connected to the admin socket at once; one more is sent an
 * error line and closed. */
#define ADMIN_MAX_CLIENTS 16

/* Supplied by the server core. Every hook may be NULL: the ops that need it then fail with
 * "… not available", and notifications are skipped. Hooks are called on the thread that called
 * admin_handle, with the admin's lock held: they must not call admin_handle themselves. */
struct admin_hooks {
    /* Sets one setting live and persists it; 0, or ERR_NOTFOUND/ERR_INVAL with a reason. */
    int (*settings_set)(void *ud, const char *key, const char *value, char *err, size_t errlen);
    /* Current live settings as a JSON object {key: value-text, ...} in table order (new
     * reference). */
    json_t *(*settings_get)(void *ud);
    /* JSON array of connections, objects {"id","kind","state","peer","jid","tls","since"} (new
     * reference). */
    json_t *(*connections)(void *ud);
    /* JSON array of outgoing s2s queues, objects {"target","source","state","stanzas","bytes",
     * "oldest","connection","error","worker"} (new reference). */
    json_t *(*queues)(void *ud);
    /* Notifications after a successful change (prepared names: "example.com",
     * "alice@example.com"), so the server refreshes caches/certificates or ends sessions. */
    void (*domain_changed)(void *ud, const char *domain);
    void (*account_changed)(void *ud, const char *jid);
    /* Routes a chat message with body `text` from `from` to `to` (valid JIDs, checked by the
     * caller) as a signal born outside XMPP; 0, or a negative code with a reason. */
    int (*send_message)(void *ud, const char *from, const char *to, const char *text, char *err,
                        size_t errlen);
    /* Process-wide counters as a JSON object {name: number} (new reference). */
    json_t *(*stats)(void *ud);
    /* The cluster's live nodes (issue 19) as {self, nodes: [...]}, with "home" (the home node
     * of the bare JID `jid`) when `jid` is not NULL; NULL when this server is no node. */
    json_t *(*cluster)(void *ud, const char *jid);
    /* The domain's certificate as an object (subject, issuer, names, fingerprint, validity),
     * or NULL when it has none. */
    json_t *(*certificate)(void *ud, const char *domain);
    /* The aggregated presence of an account (prepared bare JID, canonical domain), computed on
     * its home worker: {"jid","available","resources":[...],"last_seen","last_status"} (new
     * reference; NULL when not available). */
    json_t *(*presence)(void *ud, const char *jid);
    /* Ends every session of the account (prepared bare JID) at the administrator's request. */
    void (*disconnect)(void *ud, const char *jid);
    /* The live settings, a snapshot valid until exit (the login's default domain and lock-out
     * policy); NULL, or no hook: the defaults. */
    const struct settings *(*settings_live)(void *ud);
    /* XEP-0133 announce: a headline with `text` (and `subject`, NULL: none) from the domain to
     * every online account of `domain` (prepared, canonical), or of every domain when NULL;
     * returns the number of accounts reached. */
    int (*announce)(void *ud, const char *domain, const char *subject, const char *text);
    /* Replaces the domain's certificate and key with the PEM texts once they pass the checks of
     * admin/certinstall.h (`service`: its chat service, "" = none), then loads them for new
     * connections; warnings are appended to `warnings`. 0, or ERR_INVAL/ERR_IO with err. */
    /* The disco#info feature namespaces the server advertises for itself (`account` false) or
     * for its accounts (new reference, an array of strings). */
    json_t *(*disco_features)(void *ud, bool account);
    /* Chat rooms (chatroom/admin.c): the rooms of a chat service, loaded or stored (new
     * reference, an array); one room's details (NULL: no such room); an action on a room:
     * "kick" (target: a nick), "ban" (target: a bare JID) or "destroy", with `reason` (NULL:
     * none): 0, or ERR_NOTFOUND / a store error. */
    json_t *(*muc_rooms)(void *ud, const char *service);
    json_t *(*muc_room)(void *ud, const char *room);
    int (*muc_action)(void *ud, const char *room, const char *action, const char *target,
                      const char *reason);
    /* Federation links and queues: "close" the connection `id`, "flush" (connect now) or "drop"
     * (bounce everything) the queue (target, source); 0 or ERR_NOTFOUND. */
    int (*s2s_action)(void *ud, const char *action, unsigned long id, const char *target,
                      const char *source);
    int (*certificate_install)(void *ud, const char *domain, const char *service, const char *cert,
                               const char *key, json_t *warnings, char *err, size_t errlen);
    /* An administrator removed the node `node` of the pubsub service `service` whose stored
     * configuration was `config`: tells its `subscribers` (an array of JID strings) like an
     * owner's delete (XEP-0060 §8.4). */
    void (*pubsub_deleted)(void *ud, const char *service, const char *node, const char *config,
                           const json_t *subscribers);
    void *ud;
};

struct admin;

/* Opens its own store handle on `db_path` and copies `hooks` (NULL: no hooks). Returns NULL
 * with a one-line reason in `err` when the store cannot be opened. */
struct admin *admin_new(const char *db_path, const struct admin_hooks *hooks, char *err,
                        size_t errlen);
/* Stops the socket if it runs, closes the store and frees `a` (NULL is accepted). */
void admin_free(struct admin *a);

/* Executes one request {"op":"domain.add","args":{...}} and returns (new reference, never NULL)
 * {"ok":true,"result":...} or {"ok":false,"error":"one line","code":"notfound"}. The ops and their
 * arguments are listed in docs/starlingctl.md. Thread-safe: calls are serialized by a lock. */
json_t *admin_handle(struct admin *a, const json_t *request);
/* Like admin_handle, for the account `as` (a bare JID; NULL: the server's owner, who may do
 * everything): a server administrator may run every op; a domain administrator only the ops on
 * its own domain and on its ordinary accounts (never another administrator, never a right it
 * lacks), and sees only its domain in lists; anyone else no op ("code":"denied"). The role is
 * read from the store at each call (docs/internals/admin-access.md). A request's own "as" member
 * is not read here. */
json_t *admin_handle_as(struct admin *a, const char *as, const json_t *request);

/* Serves admin_handle on a Unix socket at `path` (mode 0600) from a thread of its own: one JSON
 * request per line, one JSON response per line, requests of one client answered in order. A
 * request with "as": "jid" runs with that account's rights (admin_handle_as), so the owner can
 * act as, or check what may, a lesser administrator. A stale
 * socket file is removed; a live one (another server answers on it) gives ERR_EXISTS, as does a
 * second start. Other failures: ERR_INVAL (path too long), ERR_IO. A reason goes into `err`. */
int admin_socket_start(struct admin *a, const char *path, char *err, size_t errlen);
/* Stops the thread (joining it), closes every client and unlinks the socket. No-op when not
 * started. */
void admin_socket_stop(struct admin *a);

/* Internal to src/admin (api.c <-> ctlsock.c), not for other modules: the socket server's
 * state, owned by the admin. */
struct admin_sock;
struct admin_sock **admin__sock_slot(struct admin *a);

#endif
