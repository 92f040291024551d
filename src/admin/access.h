/* access.h: internal to src/admin: who may run which admin op on what (docs/internals/admin-access.md). */
#ifndef STARLING_ADMIN_ACCESS_H
#define STARLING_ADMIN_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct store;

enum admin_role {
    ADMIN_ROLE_NONE,   /* an ordinary (or unknown, or disabled) account: no op at all */
    ADMIN_ROLE_DOMAIN, /* domain_admin=yes: ordinary accounts of its own domain */
    ADMIN_ROLE_SERVER, /* admin=yes, or the server's owner on the control socket */
};

/* What an op touches, so one rule decides for every door (control socket, WebAdmin). */
enum admin_scope {
    ADMIN_SCOPE_SERVER,      /* the whole server: server administrators only */
    ADMIN_SCOPE_LIST,        /* a list of the whole server: a domain administrator sees its part */
    ADMIN_SCOPE_DOMAIN,      /* one domain, named by the op's argument */
    ADMIN_SCOPE_NEW_ACCOUNT, /* an account to be created in a domain */
    ADMIN_SCOPE_ACCOUNT,     /* an existing account: an ordinary one, or the actor itself */
    ADMIN_SCOPE_OWNER,       /* the server's own doors (the WebAdmin's login): no account */
};

#define ADMIN_ACTOR_JID_MAX 1024

struct admin_actor {
    enum admin_role role;
    char jid[ADMIN_ACTOR_JID_MAX]; /* prepared bare JID, canonical domain; "" for the owner */
    char domain[256];              /* the canonical domain of a domain administrator */
};

/* The role of the account `jid` (any bare JID form; NULL: the server's owner, a server
 * administrator) read from the store now, so a right taken away counts at the next request. */
void admin__actor_load(struct store *st, const char *jid, struct admin_actor *out);

/* 0 when `who` may run op `name` of `scope` with `args` (its argument naming the domain or
 * account is `arg`), else ERR_DENIED with a one-line reason in `why`. Under the admin's lock. */
int admin__authorize(struct store *st, const struct admin_actor *who, const char *name,
                     enum admin_scope scope, const char *arg, const json_t *args, char *why,
                     size_t whylen);

/* Removes from a whole-server list (domain.list, connections) what is not `who`'s domain. */
void admin__filter_result(const struct admin_actor *who, const char *name, json_t *result);

#endif
