/* sasl.h: the SASL mechanism table (SCRAM family, PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5, EXTERNAL). */
#ifndef STARLING_AUTH_SASL_H
#define STARLING_AUTH_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/creds.h"
#include "core/buf.h"

/* Channel-binding data of the TLS link, borrowed. len 0 = not available. */
struct sasl_cb_data {
    const unsigned char *data;
    size_t len;
};

enum sasl_cb_type {
    SASL_CB_TLS_UNIQUE,
    SASL_CB_TLS_EXPORTER,
    SASL_CB_TLS_SERVER_END_POINT,
    SASL_CB_COUNT
};

/* Looks a user up for a mechanism. `username` is as the client sent it (authcid, any "@domain"
 * already removed); the callee prepares it (nodeprep). Returns 0 and fills `out` (the session
 * cleans it up), ERR_NOTFOUND if no such account, or another negative code for a temporary
 * failure ("temporary-auth-failure"). Called on the thread that calls sasl_step(). */
typedef int sasl_creds_fn(void *ud, const char *username, struct auth_creds *out);

/* Computes the data of channel-binding type `t`, one the link offers (sasl_params.cb_types),
 * into `out`, which stays valid while the params do. Called only when a mechanism checks the
 * binding (SCRAM's "p=" final message), so a login that does not bind computes nothing.
 * Returns 0 or a negative code (the mechanism then fails with "temporary-auth-failure"). */
typedef int sasl_cb_fn(void *ud, enum sasl_cb_type t, struct sasl_cb_data *out);

/* What the stream layer knows about the link. Everything is borrowed and must outlive the
 * sessions started with it. */
struct sasl_params {
    const char *domain; /* the stream's domain: realm / hostname */
    bool tls;           /* the link is encrypted */
    unsigned cb_types;  /* bit 1u << t for each channel-binding type the link offers: -PLUS is
                        * advertised when TLS is on and any is, and the SCRAM "y" flag fails */
    sasl_cb_fn *get_cb; /* the data of an offered type (called with `ud`); may be NULL when
                         * cb_types is 0 */
    /* EXTERNAL: NULL-terminated bare JIDs of a verified client certificate, or NULL */
    const char *const *cert_ids;
    const char *tls_version; /* "TLSv1.3"…, for failure reasons; may be NULL */
    /* The client asked earlier on this stream for a binding type the link does not offer: it
     * supports none of ours, so its "y" is accepted (XEP-0440; docs/internals/sasl.md). */
    bool cb_none_mutual;
    sasl_creds_fn *get_creds;
    void *ud;
    const char *ssdp; /* XEP-0474: the list string (auth/ht.h) SCRAM hashes into "d=" of its
                       * server-first message, or NULL (no d=) */
};

/* The domain's policy. */
struct sasl_policy {
    const char *const *allowed; /* NULL-terminated enabled Login Methods (case-insensitive), e.g.
                                 * {"SCRAM-SHA-256","PLAIN",NULL}; a SCRAM base name also enables
                                 * its -PLUS; NULL = all */
    bool clear_stored;          /* password storage "clear": CRAM-MD5 / DIGEST-MD5 can succeed */
};

struct sasl_mech; /* opaque, static table entry */
struct sasl_session;

/* The table entry of a mechanism name (exact, upper case as in RFC 4422), NULL if unknown. */
const struct sasl_mech *sasl_mech_find(const char *name);
const char *sasl_mech_name(const struct sasl_mech *m);
/* PLAIN and LOGIN: refused with "encryption-required" without TLS when the account has
 * secure_required. */
bool sasl_mech_is_plaintext(const struct sasl_mech *m);

/* Fills `out` with the (static) names of the mechanisms that can succeed under the policy and
 * params, strongest first: SCRAM-SHA-512-PLUS, -256-PLUS, -1-PLUS (only with TLS and some cb
 * data), SCRAM-SHA-512, -256, -1, DIGEST-MD5, CRAM-MD5 (only with clear_stored and GNU SASL
 * support), PLAIN, LOGIN, EXTERNAL (only when cert_ids is given and not empty). Returns the count
 * written (at most `max`). */
size_t sasl_mechs_offered(const struct sasl_policy *pol, const struct sasl_params *p,
                          const char **out, size_t max);
/* Whether the link offers channel-binding type `t` (any value: false when out of range). */
bool sasl_cb_offered(const struct sasl_params *p, int t);
/* The data of an offered type through p->get_cb: 0, ERR_NOTFOUND when `t` is not offered, or
 * the callback's code. */
int sasl_cb_get(const struct sasl_params *p, enum sasl_cb_type t, struct sasl_cb_data *out);
/* Whether `name` is one of the mechanisms sasl_mechs_offered() lists. */
bool sasl_mech_allowed(const struct sasl_policy *pol, const struct sasl_params *p,
                       const char *name);

enum { SASL_DONE = 0, SASL_CONTINUE = 1 };

/* Starts a server session of mechanism `m`. `p` and what it points to must outlive the session.
 * Never NULL. */
struct sasl_session *sasl_session_new(const struct sasl_mech *m, const struct sasl_params *p);
/* One step. `in` is the decoded client data (initial response or response to a challenge;
 * has_data false only when the client sent no initial response). Appends to `out` and returns
 * SASL_CONTINUE with a challenge (may be empty), SASL_DONE with optional additional data for
 * <success/> (SCRAM's "v=…"), or a negative code: ERR_AUTH (authentication refused), ERR_PROTO
 * (malformed data, or a step after the end), ERR_LIMIT (`out` too small), or the code of a
 * failed sasl_creds_fn. After a negative code sasl_session_failure() names the RFC 6120
 * condition and the session only fails. Challenges of DIGEST-MD5: the digest challenge, then
 * "rspauth=…" to which the client answers with an empty response. */
int sasl_step(struct sasl_session *s, const unsigned char *in, size_t inlen, bool has_data,
              struct buf *out);
/* NULL while no step failed, else "not-authorized", "malformed-request", "invalid-authzid",
 * "encryption-required", "account-disabled" or "temporary-auth-failure" (the stream layer itself
 * uses "incorrect-encoding", "invalid-mechanism" and "aborted"). */
const char *sasl_session_failure(const struct sasl_session *s);
/* Why a step failed, for the caller's accounting and log (the condition sent is separate). */
enum sasl_fail_kind {
    SASL_FAIL_NONE,
    SASL_FAIL_CREDENTIALS,     /* wrong password or proof for an existing account */
    SASL_FAIL_UNKNOWN_USER,    /* no such account (the client cannot tell it from the above) */
    SASL_FAIL_CHANNEL_BINDING, /* channel-binding negotiation: a type not offered or unavailable,
                                * "y" while -PLUS is offered, "n" with -PLUS, c= mismatch; no
                                * password or proof was checked, so it is no guess */
    SASL_FAIL_MALFORMED,       /* the client's data does not parse */
    SASL_FAIL_OTHER,           /* disabled account, authzid, temporary failure, TLS required */
};
/* SASL_FAIL_NONE while no step failed. */
enum sasl_fail_kind sasl_session_failure_kind(const struct sasl_session *s);
/* "wrong password", "unknown user", "channel binding", "malformed request" or "refused". */
const char *sasl_fail_kind_name(enum sasl_fail_kind kind);
/* A sentence for the log saying why, e.g. "client asked for tls-unique, not available under
 * TLS 1.3"; "" when the kind says it all. */
const char *sasl_session_failure_reason(const struct sasl_session *s);
/* Whether the failure was a request for a channel-binding type this link does not offer (the
 * caller sets sasl_params.cb_none_mutual for the stream's later attempts). */
bool sasl_session_cb_type_unoffered(const struct sasl_session *s);
/* The authenticated authcid (as given, minus any @domain; for EXTERNAL the local part of the
 * certificate JID), valid after SASL_DONE, else NULL. */
const char *sasl_session_username(const struct sasl_session *s);
/* The authorization identity the client asked for (PLAIN, SCRAM's a=, DIGEST-MD5, EXTERNAL),
 * NULL if none. The caller decides whether the user may act as it ("invalid-authzid"). */
const char *sasl_session_authzid(const struct sasl_session *s);
void sasl_session_free(struct sasl_session *s);

/* Process-wide setup, once before any session (not thread-safe): the GNU SASL context and a
 * random secret for the fake salts given to unknown users. ERR_INTERNAL on failure. */
int sasl_global_init(void);
void sasl_global_cleanup(void);
/* Replaces the fake-salt secret (e.g. with one kept in the store, so unknown users keep the same
 * salt across restarts). Call after sasl_global_init(), before sessions start. */
void sasl_set_fake_salt_secret(const unsigned char *key, size_t len);

/* Base64 (RFC 4648, with padding) for the stream layer. Decoding is strict: no whitespace, no
 * missing or extra padding, no non-zero trailing bits; ERR_INVAL on bad input. XMPP's lone "="
 * (empty data) is the caller's to recognise. ERR_LIMIT past out's maximum. */
int sasl_b64_encode(const unsigned char *in, size_t len, struct buf *out);
int sasl_b64_decode(struct strv in, struct buf *out);

#endif
