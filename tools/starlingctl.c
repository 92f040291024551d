/* starlingctl.c: the admin command line; talks to a running starlingd over DATADIR/admin.sock
 * (backup alone reads DATADIR/starling.db itself). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/version.h"
#include "store/store.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* The server may hold a response back while it answers another client; wait this long. */
#define REPLY_TIMEOUT_MS (120 * 1000)
#define REPLY_MAX (256u * 1024 * 1024)

static const char usage_text[] =
    "usage: starlingctl [-d DATADIR] [--as JID] <command>\n"
    "Talks to the running starlingd over DATADIR/admin.sock (DATADIR default: $STARLING_DATADIR, "
    "else " STARLING_DEFAULT_DATADIR ").\n"
    "--as JID runs the command with that account's rights (a domain administrator's).\n"
    "\n"
    "  domain add NAME\n"
    "  domain remove NAME\n"
    "  domain list\n"
    "  domain show NAME\n"
    "  domain set NAME key=value [key=value...]\n"
    "      keys: login_methods, password_storage (scram|clear), auto_signup,\n"
    "            allow_modify_password, xmpp, chat_service, allow_cancel,\n"
    "            signup_invite_only, aliases, archive_keep_days\n"
    "  account add JID --password PW\n"
    "  account remove JID\n"
    "  account passwd JID PW\n"
    "  account list DOMAIN\n"
    "  account show JID\n"
    "  account set JID key=value [key=value...]\n"
    "      keys: admin, secure_method_required, disabled (yes|no), real_name\n"
    "  settings get [KEY]\n"
    "  settings set KEY VALUE\n"
    "  connections [--json]\n"
    "  queues [--json]                  outgoing server-to-server queues\n"
    "  queue flush|drop TARGET SOURCE   connect now / bounce what waits\n"
    "  s2s close CONNECTION-ID          end a server-to-server connection\n"
    "  cluster status [JID]             the cluster's live nodes (JSON); JID: its home node\n"
    "  send FROM TO TEXT\n"
    "  presence JID [--json]\n"
    "  account devices JID              user agents (XEP-0388) and FAST tokens\n"
    "  account revoke-device JID [AGENT] FAST tokens of one user agent, or all\n"
    "  features DOMAIN                  what the domain offers (JSON)\n"
    "  muc rooms DOMAIN                 the rooms of the domain's chat service (JSON)\n"
    "  muc show DOMAIN ROOM             a room: configuration, occupants, affiliations\n"
    "  muc kick DOMAIN ROOM NICK [REASON]\n"
    "  muc ban DOMAIN ROOM JID [REASON]\n"
    "  muc destroy DOMAIN ROOM [REASON]\n"
    "  certificate install DOMAIN CERTFILE KEYFILE\n"
    "                                   checked, then replaces the domain's PEM certificate\n"
    "  users online DOMAIN [--json]     online sessions: JID/resource, address, TLS, seconds, "
    "client\n"
    "  announce DOMAIN|--all TEXT [--subject SUBJECT]\n"
    "                                   a headline to every online user (XEP-0133)\n"
    "  invite DOMAIN [--lifetime SECONDS] [--json]\n"
    "  invite create DOMAIN [--lifetime SECONDS] [--uses N] [--inviter JID] [--json]\n"
    "  invite list DOMAIN\n"
    "  invite revoke DOMAIN TOKEN\n"
    "  backup FILE                      online copy of DATADIR/starling.db (docs/backup.md)\n"
    "  archive stats [DOMAIN] [--json]  archived messages (XEP-0313, docs/archive.md)\n"
    "  archive purge [DOMAIN] [--older-than DAYS]\n"
    "                                   remove old archived messages (without DAYS: the\n"
    "                                   retention settings, in the background)\n"
    "  check [-c FILE] [--no-dns]       check the set-up: settings, certificates, DNS, ports,\n"
    "                                   data directory (runs starlingd --check)\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

/* How a successful result is printed. */
enum out_kind {
    OUT_NONE,     /* nothing */
    OUT_LINES,    /* an array: one element per line */
    OUT_KV,       /* an object: "key = value" lines */
    OUT_VALUE,    /* one value on its own line */
    OUT_CONN,     /* the connection table */
    OUT_JSON,     /* the result as JSON */
    OUT_PRESENCE, /* an account's presence */
    OUT_QUEUES,   /* the s2s queue table */
    OUT_ONLINE,   /* users.online: one line per session */
    OUT_WARNINGS, /* {"warnings": [...]}: "warning: …" lines */
};

struct command {
    json_t *req; /* {"op":…, "args":{…}} */
    enum out_kind out;
};

static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void complain(const char *fmt, ...)
{
    va_list ap;
    fputs("starlingctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A usage error: the reason, then a hint. Returns EXIT_USAGE. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("starlingctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'starlingctl --help'.\n", stderr);
    return EXIT_USAGE;
}

/* Builds the request; `args` is stolen. A string that is not UTF-8 makes json_pack fail. */
static int make_request(struct command *cmd, const char *op, json_t *args, enum out_kind out)
{
    if (args == NULL) {
        return usage_error("arguments must be valid UTF-8");
    }
    cmd->req = json_pack("{s:s, s:o}", "op", op, "args", args);
    cmd->out = out;
    return cmd->req != NULL ? 0 : usage_error("arguments must be valid UTF-8");
}

/* "key=value" words into an object, in order. */
static int parse_pairs(int argc, char **argv, json_t **out)
{
    json_t *obj = json_object();
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (eq == NULL || eq == argv[i]) {
            json_decref(obj);
            return usage_error("expected key=value, got '%s'", argv[i]);
        }
        char *key = strv_dup((struct strv){ argv[i], (size_t)(eq - argv[i]) });
        json_t *val = json_string(eq + 1);
        int rc = val != NULL ? json_object_set_new(obj, key, val) : -1;
        free(key);
        if (rc != 0) {
            json_decref(obj);
            return usage_error("arguments must be valid UTF-8");
        }
    }
    *out = obj;
    return 0;
}

static int want_args(const char *what, int argc, int min, int max)
{
    if (argc < min) {
        return usage_error("%s: missing argument", what);
    }
    if (max >= 0 && argc > max) {
        return usage_error("%s: too many arguments", what);
    }
    return 0;
}

/* account add JID --password PW (the option may also come first, or be --password=PW). */
static int parse_account_add(int argc, char **argv, struct command *cmd)
{
    const char *jid = NULL;
    const char *password = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--password") == 0) {
            if (i + 1 >= argc) {
                return usage_error("account add: --password needs a value");
            }
            password = argv[++i];
        } else if (strncmp(argv[i], "--password=", 11) == 0) {
            password = argv[i] + 11;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("account add: unknown option '%s'", argv[i]);
        } else if (jid == NULL) {
            jid = argv[i];
        } else {
            return usage_error("account add: too many arguments");
        }
    }
    if (jid == NULL) {
        return usage_error("account add: missing JID");
    }
    if (password == NULL) {
        return usage_error("account add: missing --password PW");
    }
    return make_request(cmd, "account.add",
                        json_pack("{s:s, s:s}", "jid", jid, "password", password), OUT_NONE);
}

static int parse_domain(int argc, char **argv, struct command *cmd)
{
    const char *sub = argc > 0 ? argv[0] : "";
    int rc;
    argc--;
    argv++;
    if (strcmp(sub, "list") == 0) {
        rc = want_args("domain list", argc, 0, 0);
        return rc ? rc : make_request(cmd, "domain.list", json_object(), OUT_LINES);
    }
    if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0 || strcmp(sub, "show") == 0) {
        char op[32];
        snprintf(op, sizeof(op), "domain.%s", sub);
        rc = want_args(op, argc, 1, 1);
        return rc ? rc
                  : make_request(cmd, op, json_pack("{s:s}", "name", argv[0]),
                                 strcmp(sub, "show") == 0 ? OUT_KV : OUT_NONE);
    }
    if (strcmp(sub, "set") == 0) {
        json_t *pairs;
        rc = want_args("domain set", argc, 2, -1);
        if (rc == 0) {
            rc = parse_pairs(argc - 1, argv + 1, &pairs);
        }
        return rc ? rc
                  : make_request(cmd, "domain.set",
                                 json_pack("{s:s, s:o}", "name", argv[0], "settings", pairs),
                                 OUT_NONE);
    }
    return usage_error("unknown domain command '%s' (add, remove, list, show, set)", sub);
}

static int parse_account(int argc, char **argv, struct command *cmd)
{
    const char *sub = argc > 0 ? argv[0] : "";
    int rc;
    argc--;
    argv++;
    if (strcmp(sub, "add") == 0) {
        return parse_account_add(argc, argv, cmd);
    }
    if (strcmp(sub, "remove") == 0 || strcmp(sub, "show") == 0) {
        char op[32];
        snprintf(op, sizeof(op), "account.%s", sub);
        rc = want_args(op, argc, 1, 1);
        return rc ? rc
                  : make_request(cmd, op, json_pack("{s:s}", "jid", argv[0]),
                                 strcmp(sub, "show") == 0 ? OUT_KV : OUT_NONE);
    }
    if (strcmp(sub, "passwd") == 0) {
        rc = want_args("account passwd", argc, 2, 2);
        return rc ? rc
                  : make_request(cmd, "account.passwd",
                                 json_pack("{s:s, s:s}", "jid", argv[0], "password", argv[1]),
                                 OUT_NONE);
    }
    if (strcmp(sub, "list") == 0) {
        rc = want_args("account list", argc, 1, 1);
        return rc ? rc
                  : make_request(cmd, "account.list", json_pack("{s:s}", "domain", argv[0]),
                                 OUT_LINES);
    }
    if (strcmp(sub, "set") == 0) {
        json_t *pairs;
        rc = want_args("account set", argc, 2, -1);
        if (rc == 0) {
            rc = parse_pairs(argc - 1, argv + 1, &pairs);
        }
        return rc ? rc
                  : make_request(cmd, "account.set",
                                 json_pack("{s:s, s:o}", "jid", argv[0], "settings", pairs),
                                 OUT_NONE);
    }
    if (strcmp(sub, "devices") == 0) {
        rc = want_args("account devices", argc, 1, 1);
        return rc ? rc
                  : make_request(cmd, "account.devices", json_pack("{s:s}", "jid", argv[0]),
                                 OUT_LINES);
    }
    if (strcmp(sub, "revoke-device") == 0) {
        rc = want_args("account revoke-device", argc, 1, 2);
        json_t *args = rc ? NULL : json_pack("{s:s}", "jid", argv[0]);
        if (args && argc == 2) {
            json_object_set_new(args, "agent", json_string(argv[1]));
        }
        return rc ? rc : make_request(cmd, "account.device_revoke", args, OUT_KV);
    }
    return usage_error("unknown account command '%s' (add, remove, passwd, list, show, set, "
                       "devices, revoke-device)",
                       sub);
}

static int parse_settings(int argc, char **argv, struct command *cmd)
{
    const char *sub = argc > 0 ? argv[0] : "";
    int rc;
    argc--;
    argv++;
    if (strcmp(sub, "get") == 0) {
        rc = want_args("settings get", argc, 0, 1);
        if (rc != 0) {
            return rc;
        }
        if (argc == 0) {
            return make_request(cmd, "settings.get", json_object(), OUT_KV);
        }
        return make_request(cmd, "settings.get", json_pack("{s:s}", "key", argv[0]), OUT_VALUE);
    }
    if (strcmp(sub, "set") == 0) {
        rc = want_args("settings set", argc, 2, 2);
        return rc ? rc
                  : make_request(cmd, "settings.set",
                                 json_pack("{s:s, s:s}", "key", argv[0], "value", argv[1]),
                                 OUT_NONE);
    }
    return usage_error("unknown settings command '%s' (get, set)", sub);
}

#define INVITE_USAGE                                                                               \
    "usage: invite [create] DOMAIN [--lifetime SECONDS] [--uses N] [--inviter JID] [--json]"

/* A positive number option's value. */
static int number_opt(const char *name, const char *text, long long *out)
{
    char *end = NULL;
    *out = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || *out <= 0) {
        return usage_error("%s needs a positive number", name);
    }
    return 0;
}

/* invite [create] DOMAIN [--lifetime SECONDS] [--uses N] [--inviter JID] [--json]: an
 * invitation token for in-band registration (from an account: with roster pre-authorisation). */
static int parse_invite_create(int argc, char **argv, struct command *cmd)
{
    const char *domain = NULL;
    const char *inviter = NULL;
    long long lifetime = 0;
    long long uses = 0;
    bool json = false;
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--lifetime") == 0 && i + 1 < argc) {
            rc = number_opt("--lifetime", argv[++i], &lifetime);
        } else if (strcmp(argv[i], "--uses") == 0 && i + 1 < argc) {
            rc = number_opt("--uses", argv[++i], &uses);
        } else if (strcmp(argv[i], "--inviter") == 0 && i + 1 < argc) {
            inviter = argv[++i];
        } else if (domain == NULL && argv[i][0] != '-') {
            domain = argv[i];
        } else {
            rc = usage_error(INVITE_USAGE);
        }
    }
    if (rc != 0 || domain == NULL) {
        return rc ? rc : usage_error(INVITE_USAGE);
    }
    json_t *args = json_pack("{s:s}", "domain", domain);
    if (lifetime > 0) {
        json_object_set_new(args, "lifetime", json_integer(lifetime));
    }
    if (uses > 0) {
        json_object_set_new(args, "uses", json_integer(uses));
    }
    if (inviter) {
        json_object_set_new(args, "inviter", json_string(inviter));
    }
    return make_request(cmd, "invite", args, json ? OUT_JSON : OUT_KV);
}

/* archive stats [DOMAIN] [--json] | archive purge [DOMAIN] [--older-than DAYS] */
static int parse_archive(int argc, char **argv, struct command *cmd)
{
    static const char usage[] =
        "usage: archive stats [DOMAIN] [--json] | archive purge [DOMAIN] [--older-than DAYS]";
    if (argc < 1 || (strcmp(argv[0], "stats") != 0 && strcmp(argv[0], "purge") != 0)) {
        return usage_error(usage);
    }
    bool purge = strcmp(argv[0], "purge") == 0, json = false;
    json_t *args = json_object();
    for (int i = 1; i < argc; i++) {
        if (!purge && strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (purge && strcmp(argv[i], "--older-than") == 0 && i + 1 < argc) {
            char *end = NULL;
            long long days = strtoll(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0' || days < 0) {
                json_decref(args);
                return usage_error("--older-than needs a number of days");
            }
            json_object_set_new(args, "older_than_days", json_integer(days));
        } else if (argv[i][0] != '-' && json_object_get(args, "domain") == NULL) {
            json_object_set_new(args, "domain", json_string(argv[i]));
        } else {
            json_decref(args);
            return usage_error(usage);
        }
    }
    return make_request(cmd, purge ? "archive.purge" : "archive.stats", args,
                        json ? OUT_JSON : OUT_KV);
}

static int parse_invite(int argc, char **argv, struct command *cmd)
{
    const char *sub = argc > 0 ? argv[0] : "";
    int rc;
    if (strcmp(sub, "create") == 0) {
        return parse_invite_create(argc - 1, argv + 1, cmd);
    }
    if (strcmp(sub, "list") == 0) {
        rc = want_args("invite list", argc - 1, 1, 1);
        return rc ? rc
                  : make_request(cmd, "invite.list", json_pack("{s:s}", "domain", argv[1]),
                                 OUT_LINES);
    }
    if (strcmp(sub, "revoke") == 0) {
        rc = want_args("invite revoke", argc - 1, 2, 2);
        return rc ? rc
                  : make_request(cmd, "invite.revoke",
                                 json_pack("{s:s, s:s}", "domain", argv[1], "token", argv[2]),
                                 OUT_NONE);
    }
    /* The original form: invite DOMAIN [...]. */
    return parse_invite_create(argc, argv, cmd);
}

/* The whole file as a JSON string, or NULL (said why). */
static json_t *file_string(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        complain("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = calloc(1, 1024 * 1024 + 1);
    size_t n = text ? fread(text, 1, 1024 * 1024, f) : 0;
    fclose(f);
    json_t *s = text ? json_stringn(text, n) : NULL;
    free(text);
    if (s == NULL) {
        complain("%s: not text, or too large", path);
    }
    return s;
}

/* certificate install DOMAIN CERTFILE KEYFILE */
static int parse_certificate(int argc, char **argv, struct command *cmd)
{
    if (argc != 5 || strcmp(argv[1], "install") != 0) {
        return usage_error("usage: certificate install DOMAIN CERTFILE KEYFILE");
    }
    json_t *cert = file_string(argv[3]);
    json_t *key = cert ? file_string(argv[4]) : NULL;
    if (key == NULL) {
        json_decref(cert);
        return EXIT_FAIL;
    }
    return make_request(cmd, "domain.certificate.set",
                        json_pack("{s:s, s:o, s:o}", "name", argv[2], "cert", cert, "key", key),
                        OUT_WARNINGS);
}

/* muc rooms DOMAIN | muc show DOMAIN ROOM | muc kick DOMAIN ROOM NICK [REASON] |
 * muc ban DOMAIN ROOM JID [REASON] | muc destroy DOMAIN ROOM [REASON] */
static int parse_muc(int argc, char **argv, struct command *cmd)
{
    const char *sub = argc > 1 ? argv[1] : "";
    bool rooms = strcmp(sub, "rooms") == 0 && argc == 3;
    bool show = strcmp(sub, "show") == 0 && argc == 4;
    bool kick = (strcmp(sub, "kick") == 0 || strcmp(sub, "ban") == 0) && (argc == 5 || argc == 6);
    bool destroy = strcmp(sub, "destroy") == 0 && (argc == 4 || argc == 5);
    if (!rooms && !show && !kick && !destroy) {
        return usage_error("usage: muc rooms DOMAIN | muc show DOMAIN ROOM | "
                           "muc kick|ban DOMAIN ROOM NICK|JID [REASON] | "
                           "muc destroy DOMAIN ROOM [REASON]");
    }
    json_t *args = json_pack("{s:s}", "domain", argv[2]);
    if (!rooms) {
        json_object_set_new(args, "room", json_string(argv[3]));
    }
    if (kick) {
        json_object_set_new(args, sub[0] == 'k' ? "nick" : "jid", json_string(argv[4]));
    }
    int reason_at = kick ? 5 : 4;
    if ((kick || destroy) && argc > reason_at) {
        json_object_set_new(args, "reason", json_string(argv[reason_at]));
    }
    char op[32];
    snprintf(op, sizeof(op), "muc.%s", show ? "room" : sub);
    return make_request(cmd, op, args, rooms || show ? OUT_JSON : OUT_NONE);
}

/* announce DOMAIN|--all TEXT [--subject SUBJECT] */
static int parse_announce(int argc, char **argv, struct command *cmd)
{
    const char *subject = NULL;
    if (argc == 5 && strcmp(argv[3], "--subject") == 0) {
        subject = argv[4];
        argc -= 2;
    }
    if (argc != 3) {
        return usage_error("usage: announce DOMAIN|--all TEXT [--subject SUBJECT]");
    }
    bool all = strcmp(argv[1], "--all") == 0;
    json_t *args = json_pack("{s:s}", "text", argv[2]);
    if (subject != NULL) {
        json_object_set_new(args, "subject", json_string(subject));
    }
    if (!all) {
        json_object_set_new(args, "domain", json_string(argv[1]));
    }
    return make_request(cmd, all ? "announce.all" : "announce", args, OUT_KV);
}

static int parse_command(int argc, char **argv, struct command *cmd)
{
    const char *what = argv[0];
    if (strcmp(what, "domain") == 0) {
        return parse_domain(argc - 1, argv + 1, cmd);
    }
    if (strcmp(what, "account") == 0) {
        return parse_account(argc - 1, argv + 1, cmd);
    }
    if (strcmp(what, "settings") == 0) {
        return parse_settings(argc - 1, argv + 1, cmd);
    }
    if (strcmp(what, "invite") == 0) {
        return parse_invite(argc - 1, argv + 1, cmd);
    }
    if (strcmp(what, "archive") == 0) {
        return parse_archive(argc - 1, argv + 1, cmd);
    }
    if (strcmp(what, "send") == 0) {
        int rc = want_args("send", argc - 1, 3, 3);
        return rc ? rc
                  : make_request(cmd, "send",
                                 json_pack("{s:s, s:s, s:s}", "from", argv[1], "to", argv[2],
                                           "text", argv[3]),
                                 OUT_NONE);
    }
    if (strcmp(what, "presence") == 0) {
        bool json = argc == 3 && strcmp(argv[2], "--json") == 0;
        if (argc < 2 || argc > 3 || (argc == 3 && !json)) {
            return usage_error("usage: presence JID [--json]");
        }
        return make_request(cmd, "presence", json_pack("{s:s}", "jid", argv[1]),
                            json ? OUT_JSON : OUT_PRESENCE);
    }
    if (strcmp(what, "users") == 0) {
        bool json = argc == 4 && strcmp(argv[3], "--json") == 0;
        if (argc < 3 || argc > 4 || strcmp(argv[1], "online") != 0 || (argc == 4 && !json)) {
            return usage_error("usage: users online DOMAIN [--json]");
        }
        return make_request(cmd, "users.online", json_pack("{s:s}", "domain", argv[2]),
                            json ? OUT_JSON : OUT_ONLINE);
    }
    if (strcmp(what, "s2s") == 0) {
        char *end = NULL;
        long long id = argc == 3 ? strtoll(argv[2], &end, 10) : 0;
        if (argc != 3 || strcmp(argv[1], "close") != 0 || id < 1 || *end != '\0') {
            return usage_error("usage: s2s close CONNECTION-ID");
        }
        return make_request(cmd, "s2s.close", json_pack("{s:I}", "id", (json_int_t)id), OUT_NONE);
    }
    if (strcmp(what, "queue") == 0) {
        if (argc != 4 || (strcmp(argv[1], "flush") != 0 && strcmp(argv[1], "drop") != 0)) {
            return usage_error("usage: queue flush|drop TARGET SOURCE");
        }
        return make_request(cmd, argv[1][0] == 'f' ? "queue.flush" : "queue.drop",
                            json_pack("{s:s, s:s}", "target", argv[2], "source", argv[3]),
                            OUT_NONE);
    }
    if (strcmp(what, "muc") == 0) {
        return parse_muc(argc, argv, cmd);
    }
    if (strcmp(what, "features") == 0) {
        int rc = want_args("features", argc - 1, 1, 1);
        return rc ? rc
                  : make_request(cmd, "features", json_pack("{s:s}", "domain", argv[1]), OUT_JSON);
    }
    if (strcmp(what, "certificate") == 0) {
        return parse_certificate(argc, argv, cmd);
    }
    if (strcmp(what, "announce") == 0) {
        return parse_announce(argc, argv, cmd);
    }
    if (strcmp(what, "connections") == 0) {
        bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
        if (argc > 2 || (argc == 2 && !json)) {
            return usage_error("usage: connections [--json]");
        }
        return make_request(cmd, "connections", json_object(), json ? OUT_JSON : OUT_CONN);
    }
    if (strcmp(what, "cluster") == 0) {
        /* cluster status [JID]: the live nodes (JSON), and the home node of JID. */
        if (argc < 2 || argc > 3 || strcmp(argv[1], "status") != 0) {
            return usage_error("usage: cluster status [JID]");
        }
        json_t *args = argc == 3 ? json_pack("{s:s}", "jid", argv[2]) : json_object();
        return make_request(cmd, "cluster.status", args, OUT_JSON);
    }
    if (strcmp(what, "queues") == 0) {
        bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
        if (argc > 2 || (argc == 2 && !json)) {
            return usage_error("usage: queues [--json]");
        }
        return make_request(cmd, "queues", json_object(), json ? OUT_JSON : OUT_QUEUES);
    }
    return usage_error("unknown command '%s'", what);
}

/* ---- transport ---- */

static int connect_server(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path)) {
        complain("socket path too long: %s", path);
        return -1;
    }
    memcpy(sa.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        complain("socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
        complain("cannot connect to %s: %s (is starlingd running?)", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            complain("cannot send the request: %s", strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one response line into `line` (without its newline). */
static int read_line(int fd, struct buf *line)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int pr = poll(&pfd, 1, REPLY_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr == 0) {
            complain("no response from starlingd within %d seconds", REPLY_TIMEOUT_MS / 1000);
            return -1;
        }
        if (pr < 0) {
            complain("poll: %s", strerror(errno));
            return -1;
        }
        char *dst = buf_reserve(line, 65536);
        if (dst == NULL) {
            complain("response too large");
            return -1;
        }
        ssize_t n = recv(fd, dst, 65536, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            complain("cannot read the response: %s", strerror(errno));
            return -1;
        }
        if (n == 0) {
            complain("starlingd closed the connection without a response");
            return -1;
        }
        char *nl = memchr(dst, '\n', (size_t)n);
        buf_commit(line, (size_t)n);
        if (nl != NULL) {
            line->len = (size_t)(nl - line->p);
            line->p[line->len] = '\0';
            return 0;
        }
    }
}

/* Sends the request and returns the parsed response, or NULL after saying why. */
static json_t *roundtrip(const char *sock_path, const json_t *req)
{
    struct buf line;
    json_t *resp = NULL;
    json_error_t jerr;
    char *text = json_dumps(req, JSON_COMPACT);
    int fd = connect_server(sock_path);
    buf_init(&line, REPLY_MAX);
    if (fd < 0 || text == NULL) {
        goto fail;
    }
    if (send_all(fd, text, strlen(text)) != 0 || send_all(fd, "\n", 1) != 0) {
        goto fail;
    }
    if (read_line(fd, &line) != 0) {
        goto fail;
    }
    resp = json_loadb(line.p, line.len, 0, &jerr);
    if (!json_is_object(resp)) {
        complain("bad response from starlingd: %s", resp == NULL ? jerr.text : "not an object");
        json_decref(resp);
        resp = NULL;
    }
fail:
    if (fd >= 0) {
        close(fd);
    }
    free(text);
    buf_cleanup(&line);
    return resp;
}

/* ---- output ---- */

/* Prints a value as text: strings bare, null empty, anything else as JSON. */
static void print_value(const json_t *v)
{
    if (json_is_string(v)) {
        fputs(json_string_value(v), stdout);
    } else if (!json_is_null(v)) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s != NULL) {
            fputs(s, stdout);
        }
        free(s);
    }
}

/* A connection field, or "-" when null or absent. */
static void print_field(const json_t *conn, const char *key)
{
    const json_t *v = json_object_get(conn, key);
    if (v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
        fputc('-', stdout);
    } else {
        print_value(v);
    }
}

static void print_connections(const json_t *list)
{
    time_t now = time(NULL);
    size_t i;
    const json_t *conn;
    json_array_foreach(list, i, conn)
    {
        const json_t *since = json_object_get(conn, "since");
        long long secs = 0;
        print_field(conn, "id");
        fputc(' ', stdout);
        print_field(conn, "kind");
        fputc(' ', stdout);
        print_field(conn, "state");
        fputc(' ', stdout);
        print_field(conn, "peer");
        fputc(' ', stdout);
        print_field(conn, "jid");
        fputc(' ', stdout);
        print_field(conn, "tls");
        if (json_is_number(since)) {
            secs = (long long)now - (long long)json_number_value(since);
            if (secs < 0) {
                secs = 0;
            }
        }
        printf(" %lld\n", secs);
    }
}

/* "alice@example.com available" and one line per resource, or "unavailable" with the last
 * time the account was seen. */
static void print_presence(const json_t *p)
{
    const char *jid = json_string_value(json_object_get(p, "jid"));
    bool available = json_is_true(json_object_get(p, "available"));
    printf("%s %s", jid ? jid : "?", available ? "available" : "unavailable");
    const char *seen = json_string_value(json_object_get(p, "last_seen"));
    const char *status = json_string_value(json_object_get(p, "last_status"));
    if (!available && seen) {
        printf(" (last seen %s", seen);
        if (status && status[0]) {
            printf(": %s", status);
        }
        fputc(')', stdout);
    }
    fputc('\n', stdout);
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(p, "resources"), i, r)
    {
        const char *st = json_string_value(json_object_get(r, "status"));
        printf("  %s show=%s priority=%lld", json_string_value(json_object_get(r, "resource")),
               json_string_value(json_object_get(r, "show")),
               (long long)json_integer_value(json_object_get(r, "priority")));
        if (st && st[0]) {
            printf(" status=%s", st);
        }
        fputc('\n', stdout);
    }
}

/* One line per queue: target source state stanzas bytes oldest-age connection [error]. */
static void print_queues(const json_t *list)
{
    size_t i;
    const json_t *q;
    json_array_foreach(list, i, q)
    {
        print_field(q, "target");
        fputc(' ', stdout);
        print_field(q, "source");
        printf(" \"");
        print_field(q, "state");
        printf("\" stanzas=");
        print_field(q, "stanzas");
        printf(" bytes=");
        print_field(q, "bytes");
        printf(" oldest=");
        print_field(q, "oldest");
        printf("s connection=");
        print_field(q, "connection");
        const json_t *e = json_object_get(q, "error");
        if (json_is_string(e)) {
            printf(" error=\"%s\"", json_string_value(e));
        }
        fputc('\n', stdout);
    }
}

/* users online: "<jid>/<resource> <peer> <tls|-> <seconds>[ <client>]" a line. */
static void print_online(const json_t *result)
{
    size_t i;
    const json_t *s;
    json_array_foreach(result, i, s)
    {
        const char *tls = json_string_value(json_object_get(s, "tls"));
        const char *client = json_string_value(json_object_get(s, "client"));
        const char *peer = json_string_value(json_object_get(s, "peer"));
        printf("%s/%s %s %s %lld%s%s\n", json_string_value(json_object_get(s, "jid")),
               json_string_value(json_object_get(s, "resource")), peer ? peer : "(detached)",
               tls ? tls : "-",
               (long long)(time(NULL) - json_integer_value(json_object_get(s, "since"))),
               client ? " " : "", client ? client : "");
    }
}

static int print_result(enum out_kind out, const json_t *result)
{
    size_t i;
    const char *key;
    const json_t *v;
    switch (out) {
    case OUT_NONE:
        break;
    case OUT_LINES:
        json_array_foreach(result, i, v)
        {
            print_value(v);
            fputc('\n', stdout);
        }
        break;
    case OUT_KV:
        json_object_foreach((json_t *)result, key, v)
        {
            printf("%s = ", key);
            print_value(v);
            fputc('\n', stdout);
        }
        break;
    case OUT_VALUE:
        print_value(result);
        fputc('\n', stdout);
        break;
    case OUT_CONN:
        print_connections(result);
        break;
    case OUT_PRESENCE:
        print_presence(result);
        break;
    case OUT_QUEUES:
        print_queues(result);
        break;
    case OUT_ONLINE:
        print_online(result);
        break;
    case OUT_WARNINGS: {
        const json_t *w;
        json_array_foreach(json_object_get(result, "warnings"), i, w)
        {
            printf("warning: %s\n", json_string_value(w));
        }
        break;
    }
    case OUT_JSON: {
        char *s = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
        if (s != NULL) {
            puts(s);
        }
        free(s);
        break;
    }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        complain("cannot write the output: %s", strerror(errno));
        return EXIT_FAIL;
    }
    return 0;
}

/* True when the settings file of `datadir` puts the store on PostgreSQL (store.backend). */
static bool store_on_postgresql(const char *datadir)
{
    char conf[4200];
    char line[1024];
    bool pg = false;
    snprintf(conf, sizeof(conf), "%s/starling.conf", datadir);
    FILE *f = fopen(conf, "r");
    while (f != NULL && !pg && fgets(line, sizeof(line), f) != NULL) {
        const char *p = line + strspn(line, " \t");
        pg = strncmp(p, "store.backend", 13) == 0 && strstr(p, "postgresql") != NULL;
    }
    if (f != NULL) {
        fclose(f);
    }
    return pg;
}

/* backup: SQLite's backup API straight on the database file, read-only, while the server runs
 * or not (docs/backup.md says why not through the admin socket). */
static int do_backup(const char *datadir, int argc, char **argv)
{
    if (argc != 2) {
        return usage_error("usage: backup FILE");
    }
    if (store_on_postgresql(datadir)) {
        complain("backup is not supported on PostgreSQL (store.backend): use pg_dump");
        return EXIT_FAIL;
    }
    char db[4200];
    char err[512];
    snprintf(db, sizeof(db), "%s/starling.db", datadir);
    if (access(db, R_OK) != 0) {
        complain("cannot read %s: %s", db, strerror(errno));
        return EXIT_FAIL;
    }
    if (store_backup(db, argv[1], err, sizeof(err)) != 0) {
        complain("backup failed: %s", err);
        return EXIT_FAIL;
    }
    printf("%s: consistent copy of %s written\n", argv[1], db);
    return 0;
}

/* check: starlingd --check does the work (it knows every module's settings); found beside this
 * program (both install into the same folder) or named by $STARLINGD. */
static int do_check(const char *datadir, int argc, char **argv)
{
    char self[4096], daemon[4200];
    const char *env = getenv("STARLINGD");
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (env != NULL && env[0]) {
        snprintf(daemon, sizeof(daemon), "%s", env);
    } else if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        *slash = '\0';
        snprintf(daemon, sizeof(daemon), "%s/starlingd", self);
    } else {
        snprintf(daemon, sizeof(daemon), "starlingd");
    }
    char *args[128] = { daemon, "-d", (char *)datadir, "--check" };
    int k = 4;
    for (int i = 1; i < argc; i++) {
        bool takes_value = strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "-o") == 0;
        bool flag = strcmp(argv[i], "--no-dns") == 0;
        if ((!takes_value && !flag) || (takes_value && i + 1 >= argc) || k + 3 >= 128) {
            return usage_error("usage: check [-c FILE] [-o key=value]... [--no-dns]");
        }
        args[k++] = argv[i];
        if (takes_value) {
            args[k++] = argv[++i];
        }
    }
    args[k] = NULL;
    fflush(stdout);
    execv(daemon, args);
    complain("cannot run %s: %s (set STARLINGD to its path)", daemon, strerror(errno));
    return EXIT_FAIL;
}

int main(int argc, char **argv)
{
    const char *datadir =
        getenv("STARLING_DATADIR") ? getenv("STARLING_DATADIR") : STARLING_DEFAULT_DATADIR;
    const char *as = NULL;
    struct command cmd = { 0 };
    struct buf sock_path;
    json_t *resp;
    int i = 1;
    int rc;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "-d") == 0) {
            if (i + 1 >= argc) {
                return usage_error("-d needs a DATADIR");
            }
            datadir = argv[++i];
        } else if (strcmp(argv[i], "--as") == 0) {
            if (i + 1 >= argc) {
                return usage_error("--as needs a JID");
            }
            as = argv[++i];
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            return usage_error("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[i], "backup") == 0) {
        return do_backup(datadir, argc - i, argv + i);
    }
    if (strcmp(argv[i], "check") == 0) {
        return do_check(datadir, argc - i, argv + i);
    }
    rc = parse_command(argc - i, argv + i, &cmd);
    if (rc != 0) {
        return rc;
    }
    if (as != NULL && json_object_set_new(cmd.req, "as", json_string(as)) != 0) {
        json_decref(cmd.req);
        return usage_error("--as: not a JID");
    }
    buf_init(&sock_path, 4096);
    if (buf_printf(&sock_path, "%s/admin.sock", datadir) != 0) {
        complain("DATADIR too long");
        json_decref(cmd.req);
        buf_cleanup(&sock_path);
        return EXIT_FAIL;
    }
    resp = roundtrip(buf_cstr(&sock_path), cmd.req);
    json_decref(cmd.req);
    buf_cleanup(&sock_path);
    if (resp == NULL) {
        return EXIT_FAIL;
    }
    if (!json_is_true(json_object_get(resp, "ok"))) {
        const json_t *e = json_object_get(resp, "error");
        complain("%s", json_is_string(e) ? json_string_value(e) : "request failed");
        json_decref(resp);
        return EXIT_FAIL;
    }
    rc = print_result(cmd.out, json_object_get(resp, "result"));
    json_decref(resp);
    return rc;
}
