/* stream_internal.h: the stream's state, shared by stream.c, auth.c and c2s.c of the XMPP module.
 */
#ifndef STARLING_XMPP_STREAM_INTERNAL_H
#define STARLING_XMPP_STREAM_INTERNAL_H

#include "accounts/accounts.h"
#include "auth/sasl.h"
#include "core/buf.h"
#include "jid/jid.h"
#include "signal/router.h"
#include "xml/xml.h"
#include "xmpp/c2s.h"
#include "xmpp/conn.h"
#include "xmpp/stream.h"

enum xstream_state {
    XS_HEADER,    /* waiting for the client's stream header */
    XS_NEGOTIATE, /* features sent: STARTTLS, SASL, legacy auth */
    XS_SASL,      /* a SASL exchange is under way */
    XS_AUTHED,    /* authenticated, waiting for the restarted stream and bind */
    XS_BOUND,     /* a resource is bound: stanzas flow */
    XS_CLOSED,
};

struct s2s_in;

/* The pre-binding part of a stream (see xstream.a). */
struct xstream_auth {
    struct domain_cfg dom;
    struct sasl_params sp;
    struct buf cb[SASL_CB_COUNT];
    char **cert_ids;
    struct buf delayed; /* a SASL failure held back to slow down guessing */
    struct loop_timer delay_timer;
    char login_name[256]; /* the name SASL last looked up: its failures count for it */
    char reg_token[128];  /* XEP-0401: a checked invitation token for registration */
};

struct xstream {
    struct conn *c;
    struct s2s_in *s2s; /* server-to-server state (s2s_in.c), NULL on client streams */
    struct xml_stream *parser;
    enum xstream_state state;
    bool header_sent;
    bool stop;        /* the current feed must return: transport change or move */
    bool legacy;      /* stream without version='1.0' */
    bool peer_closed; /* the peer ended the stream with its closing tag */
    int move_to;      /* worker to move to, or -1 */
    char id[33];
    /* Local domains are at most 255 bytes (accounts.h): a longer name is never ours. */
    char domain[256];  /* canonical local domain of the stream */
    char to_name[256]; /* the name the client asked for (maybe an alias) */
    /* What only negotiation uses (domain settings, SASL, registration): freed by the idle sweep
     * once the stream is bound (xstream_sleep), NULL from then on. */
    struct xstream_auth *a;
    /* SASL */
    struct sasl_session *sasl;
    const struct sasl_mech *sasl_mech;
    int auth_failures;
    bool cb_none_mutual;      /* the client asked for a binding type this link does not offer */
    bool close_after_delayed; /* too many failures: the stream ends after the failure */
    /* Identity */
    char mechanism[48]; /* how it authenticated, for monitoring */
    /* Identity strings live on the heap (NULL until known): an idle session keeps only what it
     * uses. */
    char *user; /* authenticated local part */
    char *bare;
    char *pending_resource; /* legacy auth: the resource to bind after the move */
    char *pending_iq_id;
    bool pending_legacy_bind;
    struct c2s_session *sess; /* the client session, once a resource is bound */
    /* SASL2 (sasl2.c): the offered lists, then the exchange; freed once authenticated */
    struct sasl2_state *sasl2;
    /* The client software, for monitoring (issue 20): the SASL2 <software/> of its login, else
     * the XEP-0115 caps node of its presence; NULL until known. */
    char *client;
    bool client_from_login; /* `client` is the SASL2 software: presence does not replace it */
};

/* stream.c */
int xstream__write(struct xstream *st, const char *data, size_t len);
/* Replaces a heap string of the stream with a formatted one. */
void xstream__set(char **dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int xstream__write_c(struct xstream *st, const char *text);
int xstream__write_node(struct xstream *st, const struct xml_node *n);
void xstream__iq_error(struct xstream *st, const struct xml_node *iq, const char *type,
                       const char *condition, const char *text);
void xstream__iq_result(struct xstream *st, const struct xml_node *iq, struct xml_node *payload);
void xstream__restart(struct xstream *st);
/* Answers <starttls/> (c2s and s2s): <proceed/> and the TLS handshake when `allowed` and the
 * stream is not encrypted yet, else <failure/> and the end of the stream. */
void xstream__starttls(struct xstream *st, bool allowed);
const struct settings *xstream__cfg(void);

/* auth.c: SASL and legacy authentication. */
void xstream__features_auth(struct xstream *st, struct buf *out);
void xstream__sasl_auth(struct xstream *st, struct xml_node *el);
void xstream__sasl_response(struct xstream *st, struct xml_node *el);
void xstream__sasl_abort(struct xstream *st);
void xstream__legacy_auth(struct xstream *st, struct xml_node *iq);
void xstream__auth_cleanup(struct xstream *st);
/* Frees the pre-binding part (xstream.a) after xstream__auth_cleanup; no-op when gone. */
void xstream__auth_free(struct xstream *st);
void xstream__flush_delayed(struct xstream *st);
/* SASL with mechanism `name` and the initial response in `data`'s text (NULL: none). */
void xstream__sasl_start(struct xstream *st, const char *name, const struct xml_node *data);
void xstream__auth_prepare(struct xstream *st);
void xstream__auth_failure(struct xstream *st, const char *condition, enum sasl_fail_kind kind,
                           const char *why, const char *who);
void xstream__auth_success(struct xstream *st, const char *user, const char *how);
bool xstream__auth_tls_missing(const struct xstream *st);

/* sasl2.c: XEP-0388 SASL2 with XEP-0386 Bind 2, XEP-0484 FAST and XEP-0474 SSDP. */
struct sasl2_state;
/* Appends <authentication/> (the SASL mechanisms `mechs`, the inline features) and remembers the
 * lists for SSDP; `cb_names` (SASL_CB_COUNT names) when the link offers channel bindings. */
void xstream__sasl2_features(struct xstream *st, struct buf *out, const char **mechs, size_t n,
                             const char *const *cb_names);
/* Whether the current exchange is a SASL2 one. */
bool xstream__sasl2_active(const struct xstream *st);
/* The SSDP string for SCRAM's d= during a SASL2 exchange, else NULL. */
const char *xstream__sasl2_ssdp(const struct xstream *st);
void xstream__sasl2_failure(struct xstream *st, const char *condition, const char *text,
                            struct buf *out);
void xstream__sasl2_challenge(struct xstream *st, const struct buf *data);
/* The mechanism succeeded (`additional`: its data for <success/>); the account is set. */
void xstream__sasl2_succeeded(struct xstream *st, const struct buf *additional);
/* A SASL2 element (authenticate, response, abort, next, task-data…). */
void xstream__sasl2_element(struct xstream *st, struct xml_node *el);
/* After a move: sends the success that waited for the account's worker. */
void xstream__sasl2_moved(struct xstream *st);
void xstream__sasl2_free(struct xstream *st);
/* stream.c: sends the stream features for the current state again (no restart). */
void xstream__features(struct xstream *st);

/* register.c: XEP-0077 in-band registration before authentication (XEP-0401 pre-auth). */
void xstream__register_feature(struct xstream *st, struct buf *out);
void xstream__register(struct xstream *st, struct xml_node *iq);
void xstream__register_preauth(struct xstream *st, struct xml_node *iq);

/* The client software seen on the stream (issue 20); `from_login`: SASL2 <software/>. */
void xstream__set_client(struct xstream *st, const char *name, bool from_login);
/* c2s.c: binding and the bound session. */
void c2s__bind(struct xstream *st, struct xml_node *iq);
/* Binds `resource`; answers the bind `iq`, or legacy auth's iq, or nothing (iq NULL and not
 * legacy: Bind 2, whose answer is the SASL2 success). The stream is XS_BOUND when it worked. */
void c2s__bind_resource(struct xstream *st, const char *resource, const struct xml_node *iq,
                        bool legacy);
void c2s__stanza(struct xstream *st, struct xml_node *el);
void c2s__closed(struct xstream *st);
/* Arms the keepalive of a bound session (XEP-0199 from the server). */
void c2s__keepalive_start(struct xstream *st);
/* Writes a routed signal to the session's client (or queues it while detached); takes it. */
void c2s__send(struct c2s_session *s, struct signal *sig);
/* The session's end: unavailable presence, out of the router, unacked stanzas handed on.
 * True when it was in the router (the caller logs the end). */
bool c2s__session_end(struct c2s_session *s, bool stopping);
/* Whether a router session is a c2s session (its ud a struct c2s_session). */
bool c2s__is_session(const struct router_session *rs);

/* sm.c: XEP-0198 stream management. */
bool c2s__sm_enabled(const struct c2s_session *s);
/* A stanza was written to the client (or would have been, while detached): queued until
 * acknowledged; `sig` (taken) for a routed one, else the stanza's text. */
void c2s__sm_sent(struct c2s_session *s, struct signal *sig, const char *text, size_t len);
/* A stanza came from the client. */
void c2s__sm_received(struct c2s_session *s);
/* Asks the client for an acknowledgement (instead of a keepalive ping). */
void c2s__sm_request(struct xstream *st);
/* <enable/>, <r/>, <a/> on a bound stream. */
void c2s__sm_element(struct xstream *st, const struct xml_node *el);
/* <resume/> on an authenticated stream not yet bound. */
void c2s__sm_resume(struct xstream *st, const struct xml_node *el);
/* Several nodes: true when the authenticated account's home is another node, whose client
 * address is then in `address` (the placement hook of c2s.h). */
bool c2s__elsewhere(struct xstream *st, char *address, size_t size);
/* The connection is gone: keeps a resumable session for the window and returns true (the
 * stream no longer owns it), else false (`ending`: shutdown, or the client closed its stream). */
bool c2s__sm_detach(struct c2s_session *s, bool ending);
/* Unacknowledged stanzas at the session's end: messages to offline storage, iq errors back. */
void c2s__sm_drain(struct c2s_session *s);
/* The account was ended or the session replaced: no resumption; a detached session ends now
 * (and is freed: true). */
bool c2s__sm_end_from_outside(struct c2s_session *s);
void c2s__sm_free(struct c2s_session *s);

/* csi.c: XEP-0352 client state indication. */
bool c2s__csi_hold(struct c2s_session *s, struct signal *sig);
void c2s__csi_flush(struct c2s_session *s);
void c2s__csi_free(struct c2s_session *s);
void c2s__csi_element(struct xstream *st, const struct xml_node *el);
void c2s__csi_resumed(struct c2s_session *s);
/* Bind 2 inline <active/> or <inactive/>: the initial state of the new session. */
int c2s__csi_bind2(struct c2s_session *s, const struct xml_node *req, struct buf *bound);

#endif
