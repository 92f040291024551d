/* settings.h: server settings, parsed once into typed structs; the settings file and overrides. */
#ifndef STARLING_CORE_SETTINGS_H
#define STARLING_CORE_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SETTINGS_MAX_SOCKETS 16
#define SETTINGS_MAX_ROUTES 32

/* One socket of a listener: `[address:]port[/tls]`; address "" means all addresses. IPv6
 * addresses are written in brackets: `[::1]:5222`. */
struct listen_socket {
    char address[64];
    uint16_t port;
    bool tls;
};

struct listener_cfg {
    struct listen_socket sockets[SETTINGS_MAX_SOCKETS];
    int count;
};

/* A static route for outgoing s2s: domain -> host:port, `/tls` = TLS from the first byte. */
struct s2s_route {
    char domain[256];
    char host[256];
    uint16_t port;
    bool tls;
};

/* webadmin.metrics: who may read /metrics. */
enum settings_metrics { SETTINGS_METRICS_OFF, SETTINGS_METRICS_ON, SETTINGS_METRICS_LOCAL };

/* auth.*: the per-account lock-out after failed logins (auth/lockout.h). */
struct settings_auth {
    int lock_after;  /* auth.lock_after: failures, then locked; 0 = off */
    int lock_time;   /* auth.lock_time: seconds of the first lock */
    int lock_max;    /* auth.lock_max: longest lock, seconds */
    int lock_window; /* auth.lock_window: seconds a failure is remembered */
};

/* http.*: the user-facing HTTP listener (src/web: WebSocket, BOSH, host-meta, upload). */
enum settings_plain_secure { PLAIN_SECURE_NO, PLAIN_SECURE_LOOPBACK, PLAIN_SECURE_YES };
struct settings_http {
    struct listener_cfg listener; /* http.listener: "5280, 5281/tls" */
    char public_url[512];         /* http.public_url: base URL behind a proxy; "" = from Host */
    char ws_origins[1024];        /* http.websocket_origins: "*" or a comma list of origins */
    char cors_origins[1024];      /* http.cors_origins: "*" or a comma list; "" = no CORS */
    int plain_secure;             /* http.plain_secure: enum settings_plain_secure */
    long ws_max_message;          /* http.websocket_max_message: bytes of one message */
    long upload_max_size;         /* http.upload_max_size: bytes of one file; 0 = no service */
    long upload_quota;            /* http.upload_quota: bytes per account; 0 = none */
    int upload_expiry;            /* http.upload_expiry: seconds a file is kept */
    int bosh_max_wait;            /* http.bosh_max_wait: longest wait a BOSH client gets */
    int bosh_hold;                /* http.bosh_hold: most requests a BOSH session holds */
    int bosh_requests;            /* http.bosh_requests: requests at once (and answers cached) */
    int bosh_inactivity;          /* http.bosh_inactivity: seconds without a request */
    int bosh_polling;             /* http.bosh_polling: shortest seconds between empty polls */
    int bosh_max_pause;           /* http.bosh_max_pause: longest pause a client may ask */
    int ws_ping_interval;         /* http.websocket_ping_interval: idle seconds before a ping */
    int ws_ping_timeout;          /* http.websocket_ping_timeout: seconds for the pong */
};

/* The whole configuration. A value is immutable once published: a change makes a new copy
 * (settings_dup + settings_set) that the workers switch to. */
struct settings {
    struct {
        int workers;           /* server.workers: 0 = one per core */
        char main_domain[256]; /* server.main_domain: created with postmaster on first start */
        int log_level;         /* server.log_level: SYSTEM and ADMIN records */
        struct {               /* server.contact.*: XEP-0157 addresses, comma lists of URIs */
            char abuse[512];
            char admin[512];
            char feedback[512];
            char sales[512];
            char security[512];
            char status[512];
            char support[512];
        } contact;
        int db_check_timeout; /* server.db_check_timeout: seconds of quick_check, 0 = none */
    } server;
    struct {
        int keep_days;      /* log.keep_days */
        long max_file_size; /* log.max_file_size (bytes) */
    } log;
    struct {
        struct listener_cfg listener; /* xmpp.listener: "5222, 5269, 5223/tls" */
        struct {
            int log_level;             /* xmpp.receiving.log_level */
            int channels;              /* xmpp.receiving.channels: 0 = no listener */
            int per_address_limit;     /* xmpp.receiving.per_address_limit: 0 = none */
            long max_stanza_size;      /* xmpp.receiving.max_stanza_size (bytes) */
            int max_depth;             /* xmpp.receiving.max_depth (element nesting) */
            bool require_tls;          /* xmpp.receiving.require_tls: before authentication */
            int auth_timeout;          /* xmpp.receiving.auth_timeout: seconds to log in */
            int auth_failure_delay_ms; /* xmpp.receiving.auth_failure_delay: base of the back-off */
            int max_auth_failures;  /* xmpp.receiving.max_auth_failures: per stream, then close */
            long send_queue_limit;  /* xmpp.receiving.send_queue_limit (bytes per connection) */
            int ping_interval;      /* xmpp.receiving.ping_interval: seconds of silence, 0 = off */
            bool dialback;          /* xmpp.receiving.dialback: accept dialback (XEP-0220) */
            int header_timeout;     /* xmpp.receiving.header_timeout: seconds per stream header */
            int tls_timeout;        /* xmpp.receiving.tls_timeout: seconds per TLS handshake */
            int sasl_timeout;       /* xmpp.receiving.sasl_timeout: header to authenticated */
            int unauth_per_address; /* xmpp.receiving.unauth_per_address: 0 = none */
            long c2s_rate;          /* xmpp.receiving.c2s_rate: bytes/s, 0 = none */
            long c2s_burst;         /* xmpp.receiving.c2s_burst: bucket size (bytes) */
            long s2s_rate;          /* xmpp.receiving.s2s_rate: bytes/s, 0 = none */
            long s2s_burst;         /* xmpp.receiving.s2s_burst: bucket size (bytes) */
            /* xmpp.receiving.fast_token_lifetime: seconds a FAST token lives, 0 = FAST off */
            int fast_token_lifetime;
            /* xmpp.receiving.fast_max_devices: user agents of an account holding tokens */
            int fast_max_devices;
            int sm_resume_timeout; /* xmpp.receiving.sm_resume_timeout: seconds, 0 = off */
            int sm_max_unacked;    /* xmpp.receiving.sm_max_unacked: stanzas, then close */
        } receiving;
        struct {
            int log_level;        /* xmpp.sending.log_level */
            int max_connections;  /* xmpp.sending.max_connections */
            int idle_timeout;     /* xmpp.sending.idle_timeout (seconds) */
            int connect_timeout;  /* xmpp.sending.connect_timeout (seconds) */
            int response_timeout; /* xmpp.sending.response_timeout (seconds) */
            struct s2s_route
                routes[SETTINGS_MAX_ROUTES]; /* xmpp.sending.routes: "a.example=host:5269, …" */
            int route_count;
            int queue_timeout;     /* xmpp.sending.queue_timeout (seconds) */
            char dns_servers[256]; /* xmpp.sending.dns_servers: "" = the system's */
            bool dialback;         /* xmpp.sending.dialback: authenticate by dialback */
        } sending;
        /* Federation policy (issue 20), both directions: comma lists of remote domains, each
         * also covering its subdomains; allowed "" = every domain not blocked. */
        char s2s_blocked[1024]; /* xmpp.s2s_blocked */
        char s2s_allowed[1024]; /* xmpp.s2s_allowed */
    } xmpp;
    struct {
        char client_ca_file[512]; /* tls.client_ca_file: CAs for EXTERNAL client certificates */
        char s2s_ca_file[512];    /* tls.s2s_ca_file: CAs for remote servers' certificates */
    } tls;
    struct {                     /* instant messaging core (RFC 6121, XEP-0160/0191) */
        int max_roster_items;    /* im.max_roster_items: per account */
        int max_item_length;     /* im.max_roster_item_length: bytes of a name or group */
        int offline_quota;       /* im.offline_quota: stored messages per account; 0 = off */
        int max_blocklist_items; /* im.max_blocklist_items: per account */
    } im;
    struct {
        struct listener_cfg listener; /* webadmin.listener: "8010, 9010/tls" */
        int metrics;                  /* webadmin.metrics: enum settings_metrics */
        int session_timeout;          /* webadmin.session_timeout: idle seconds of a login */
        int max_connections;          /* webadmin.max_connections: per socket */
        int per_address_limit;        /* webadmin.per_address_limit: 0 = none */
        int idle_timeout;             /* webadmin.idle_timeout: seconds without a byte */
        int request_timeout;          /* webadmin.request_timeout: seconds for a request */
        int threads;                  /* webadmin.threads: per socket */
    } webadmin;
    struct {
        char external[2048];    /* services.external: XEP-0215 entries */
        char turn_secret[256];  /* services.turn_secret: coturn use-auth-secret */
        int turn_ttl;           /* services.turn_ttl: seconds of TURN credentials */
        long vcard_max_size;    /* services.vcard.max_size: bytes of one vCard */
        long private_max_size;  /* services.private.max_size: bytes per account */
        bool push_include_body; /* services.push.include_body: XEP-0357 summary body */
    } services;
    struct {                   /* publish-subscribe and personal eventing (XEP-0060/0163) */
        int max_nodes;         /* pubsub.max_nodes: per account */
        int max_items;         /* pubsub.max_items: per node ("max") */
        long max_payload_size; /* pubsub.max_payload_size: bytes of one item's payload */
    } pubsub;
    struct settings_auth auth;    /* per-account lock-out after failed logins */
    struct {                      /* in-band registration (XEP-0077) */
        int rate_limit;           /* register.rate_limit: per address and period; 0 = none */
        int rate_period;          /* register.rate_period: seconds */
        int domain_rate_limit;    /* register.domain_rate_limit: per domain; 0 = none */
        int global_rate_limit;    /* register.global_rate_limit: whole server; 0 = none */
        char reserved_names[512]; /* register.reserved_names: names and * patterns */
        int tombstone_time;       /* register.tombstone_time: seconds a deleted name rests */
        int min_password_length;  /* register.min_password_length: bytes */
        int invite_lifetime;      /* register.invite_lifetime: seconds a token lives */
    } reg;
    struct {                /* multi-user chat (XEP-0045) */
        int max_rooms;      /* muc.max_rooms: per chat service */
        int max_occupants;  /* muc.max_occupants: per room */
        int history_length; /* muc.history_length: messages kept per room */
        int message_rate;   /* muc.message_rate: per occupant per minute; 0 = none */
    } muc;
    struct {           /* the message archive (XEP-0313) */
        bool enabled;  /* archive.enabled: archive new messages */
        int keep_days; /* archive.keep_days: 0 = forever */
    } archive;
    struct settings_http http; /* user-facing HTTP listener (src/web) */
    struct {                   /* the store's backend (issue 19) */
        int backend;           /* store.backend: enum store_backend (0 sqlite, 1 postgresql) */
        char pg_conninfo[512]; /* store.postgresql.conninfo: libpq connection string */
        int pg_timeout;        /* store.postgresql.timeout: seconds */
    } store;
    struct {                      /* several nodes (issue 19) */
        char node_id[64];         /* cluster.node_id: empty = no cluster */
        char nats_url[256];       /* cluster.nats_url */
        char client_address[256]; /* cluster.client_address: host:port for see-other-host */
    } cluster;
};

/* ---- The rows: each module declares its own (core/module.h), one mechanism reads them ---- */

enum setting_type {
    SETTING_INT,      /* int, min..max */
    SETTING_LONG,     /* long, min..max */
    SETTING_BOOL,     /* bool: yes/no, true/false, on/off, 1/0 */
    SETTING_STRING,   /* char[size], no control characters */
    SETTING_DOMAIN,   /* char[size], a domain name, stored in lower case */
    SETTING_LEVEL,    /* int, a log level name or digit */
    SETTING_LISTENER, /* struct listener_cfg */
    SETTING_ROUTES,   /* struct s2s_route[SETTINGS_MAX_ROUTES] at offset, int count at aux */
    SETTING_CHOICE,   /* int, the index of one of `choices` (case-insensitive) */
};

/* One setting: its key, where its typed value lives in struct settings, its default and its
 * documentation. A module's rows end with a row whose key is NULL. */
struct setting {
    const char *key;
    enum setting_type type;
    size_t offset;              /* of the typed field in struct settings */
    size_t size;                /* of that field */
    size_t aux;                 /* SETTING_ROUTES: offset of the count */
    long min, max;              /* SETTING_INT, SETTING_LONG */
    const char *def;            /* the default, in text form (parsed by settings_defaults) */
    const char *desc;           /* one line: what it means */
    const char *values;         /* what may be written, when not derived from the type */
    const char *const *choices; /* SETTING_CHOICE: the words, NULL-terminated */
};

/* .offset and .size of the field `f` of struct settings, in a row. */
#define SETTING_FIELD(f)                                                                           \
    .offset = offsetof(struct settings, f), .size = sizeof(((struct settings *)0)->f)

/* The core's rows: server.* and log.*. */
extern const struct setting settings_core[];

/* The operations below read the rows of every module of the table (core/module.h), in its
 * order: call modules_set first. */

/* Fills `s` with the defaults. */
void settings_defaults(struct settings *s);
/* Returns a heap copy of `s` (the struct holds no pointers); release it with settings_free. */
struct settings *settings_dup(const struct settings *s);
void settings_free(struct settings *s);

/* Sets one key from its text form. On failure returns ERR_NOTFOUND (unknown key) or ERR_INVAL
 * and writes a one-line reason into `err`. */
int settings_set(struct settings *s, const char *key, const char *value, char *err, size_t errlen);
/* Writes the text form of one key's value into `out`; ERR_NOTFOUND if unknown. */
int settings_get(const struct settings *s, const char *key, struct buf *out);

/* Calls fn for each key in table order with its text value and one-line description. */
typedef void settings_each_fn(void *ud, const char *key, const char *value,
                              const char *description);
void settings_foreach(const struct settings *s, settings_each_fn *fn, void *ud);

/* Loads a settings file ("key = value" lines, '#' comments) over what `s` holds. A missing file
 * is not an error. On a bad line returns ERR_INVAL with "file:line: reason" in `err`. */
int settings_load(struct settings *s, const char *path, char *err, size_t errlen);
/* Writes every key (with its description as a comment) atomically: temp file, fsync, rename. */
int settings_save(const struct settings *s, const char *path);

/* Parses a listener text ("5222, 5269, 5223/tls", "127.0.0.1:5222", "[::1]:5223/tls"). */
int settings_parse_listener(const char *text, struct listener_cfg *out, char *err, size_t errlen);

#endif
