/* sqlite_fast.c: the store's "fast" area (see store_int.h): XEP-0484 FAST tokens, hashed, and
 * the XEP-0388 user agents of each account. */
#include <stdio.h>

#include "core/err.h"
#include "store/store_fast.h"
#include "store/store_int.h"

static const char *const migrations[] = {
    /* v1: tokens by account and user agent ("current" is the latest; the one it replaced stays
     * valid until the latest is used), and the user agents seen. */
    "CREATE TABLE fast_tokens ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  agent TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  mech TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  count INTEGER NOT NULL DEFAULT -1,"
    "  current INTEGER NOT NULL,"
    "  PRIMARY KEY (domain, name, agent, key),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE TABLE fast_agents ("
    "  domain TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  agent TEXT NOT NULL,"
    "  software TEXT NOT NULL,"
    "  device TEXT NOT NULL,"
    "  last_seen INTEGER NOT NULL,"
    "  PRIMARY KEY (domain, name, agent),"
    "  FOREIGN KEY (domain, name) REFERENCES accounts(domain, name) ON DELETE CASCADE"
    ") WITHOUT ROWID;",
};

STORE_AREA(fast, migrations);

static const char SQL_AGENT_SEEN[] =
    "INSERT INTO fast_agents(domain, name, agent, software, device, last_seen)"
    " VALUES (?1, ?2, ?3, ?4, ?5, CAST(?6 AS INTEGER)) ON CONFLICT(domain, name, agent) DO UPDATE"
    " SET software = excluded.software, device = excluded.device, last_seen = excluded.last_seen";
static const char SQL_DROP_PREVIOUS[] =
    "DELETE FROM fast_tokens"
    " WHERE domain = ?1 AND name = ?2 AND agent = ?3 AND current = 0";
static const char SQL_DEMOTE[] = "UPDATE fast_tokens SET current = 0"
                                 " WHERE domain = ?1 AND name = ?2 AND agent = ?3";
static const char SQL_TOKEN_ADD[] =
    "INSERT INTO fast_tokens(domain, name, agent, key, mech, created, expires, current)"
    " VALUES (?1, ?2, ?3, ?4, ?5, CAST(?6 AS INTEGER), CAST(?7 AS INTEGER), 1)";
static const char SQL_LIMIT[] =
    "DELETE FROM fast_tokens WHERE domain = ?1 AND name = ?2 AND agent NOT IN (SELECT agent FROM"
    " fast_tokens WHERE domain = ?1 AND name = ?2 GROUP BY agent ORDER BY MAX(created) DESC,"
    " agent LIMIT CAST(?3 AS INTEGER))";
static const char SQL_TOKENS[] =
    "SELECT key, mech, expires, count, current FROM fast_tokens WHERE domain = ?1 AND name = ?2"
    " AND agent = ?3 AND expires > CAST(?4 AS INTEGER) ORDER BY current DESC";
static const char SQL_USED[] = "UPDATE fast_tokens SET count = CAST(?5 AS INTEGER)"
                               " WHERE domain = ?1 AND name = ?2 AND agent = ?3 AND key = ?4";
static const char SQL_USED_CURRENT[] =
    "DELETE FROM fast_tokens WHERE domain = ?1 AND name = ?2 AND agent = ?3 AND current = 0"
    " AND EXISTS (SELECT 1 FROM fast_tokens WHERE domain = ?1 AND name = ?2 AND agent = ?3"
    " AND key = ?4 AND current = 1)";
static const char SQL_REVOKE_AGENT[] =
    "DELETE FROM fast_tokens WHERE domain = ?1 AND name = ?2 AND agent = ?3";
static const char SQL_FORGET_AGENT[] =
    "DELETE FROM fast_agents WHERE domain = ?1 AND name = ?2 AND agent = ?3";
static const char SQL_REVOKE_ALL[] = "DELETE FROM fast_tokens WHERE domain = ?1 AND name = ?2";
static const char SQL_AGENTS[] =
    "SELECT a.agent, a.software, a.device, a.last_seen,"
    " (SELECT COUNT(*) FROM fast_tokens t WHERE t.domain = a.domain AND t.name = a.name"
    "  AND t.agent = a.agent),"
    " (SELECT MAX(expires) FROM fast_tokens t WHERE t.domain = a.domain AND t.name = a.name"
    "  AND t.agent = a.agent)"
    " FROM fast_agents a WHERE a.domain = ?1 AND a.name = ?2 ORDER BY a.last_seen DESC, a.agent";

int store_fast_agent_seen(struct store *st, const char *domain, const char *name, const char *agent,
                          const char *software, const char *device, long long now)
{
    char n[32];
    snprintf(n, sizeof(n), "%lld", now);
    return store__run(st, SQL_AGENT_SEEN, STORE_ARGS(domain, name, agent, software, device, n),
                      NULL);
}

int store_fast_token_add(struct store *st, const char *domain, const char *name, const char *agent,
                         const char *key, const char *mech, long long now, long long expires,
                         int max_agents)
{
    char n[32], e[32], m[16];
    snprintf(n, sizeof(n), "%lld", now);
    snprintf(e, sizeof(e), "%lld", expires);
    snprintf(m, sizeof(m), "%d", max_agents);
    int rc = store_group_begin(st);
    if (rc != 0) {
        return rc;
    }
    rc = store__run(st, SQL_DROP_PREVIOUS, STORE_ARGS(domain, name, agent), NULL);
    rc = rc ? rc : store__run(st, SQL_DEMOTE, STORE_ARGS(domain, name, agent), NULL);
    rc = rc ? rc
            : store__run(st, SQL_TOKEN_ADD, STORE_ARGS(domain, name, agent, key, mech, n, e), NULL);
    rc = rc ? rc : store__run(st, SQL_LIMIT, STORE_ARGS(domain, name, m), NULL);
    return store_group_end(st, rc);
}

int store_fast_tokens(struct store *st, const char *domain, const char *name, const char *agent,
                      long long now, store_fast_rows_fn *fn, void *ud)
{
    char n[32];
    snprintf(n, sizeof(n), "%lld", now);
    return store__query_rows(st, SQL_TOKENS, STORE_ARGS(domain, name, agent, n), fn, ud);
}

int store_fast_token_used(struct store *st, const char *domain, const char *name, const char *agent,
                          const char *key, long long count)
{
    char c[32];
    snprintf(c, sizeof(c), "%lld", count);
    int rc = store__run(st, SQL_USED, STORE_ARGS(domain, name, agent, key, c), NULL);
    return rc ? rc : store__run(st, SQL_USED_CURRENT, STORE_ARGS(domain, name, agent, key), NULL);
}

int store_fast_revoke(struct store *st, const char *domain, const char *name, const char *agent,
                      int *removed)
{
    int changes = 0;
    int rc;
    if (agent == NULL) {
        rc = store__run(st, SQL_REVOKE_ALL, STORE_ARGS(domain, name), &changes);
    } else {
        rc = store__run(st, SQL_REVOKE_AGENT, STORE_ARGS(domain, name, agent), &changes);
        rc = rc ? rc : store__run(st, SQL_FORGET_AGENT, STORE_ARGS(domain, name, agent), NULL);
    }
    if (removed) {
        *removed = changes;
    }
    return rc;
}

int store_fast_agents(struct store *st, const char *domain, const char *name,
                      store_fast_rows_fn *fn, void *ud)
{
    return store__query_rows(st, SQL_AGENTS, STORE_ARGS(domain, name), fn, ud);
}
