/* s2s.h: server-to-server federation: incoming s2s streams, outgoing queues per (target domain,
 * source domain), dialback, and their monitoring. */
#ifndef STARLING_XMPP_S2S_H
#define STARLING_XMPP_S2S_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct settings;
struct xml_node;
struct xmpp_worker;
struct xstream;

/* At start-up, before the workers run: loads (or creates) DATADIR/dialback.secret, applies
 * tls.s2s_ca_file and installs the router's remote hook. Returns 0 or a negative code with a
 * reason in err. */
int s2s_global_init(const struct settings *cfg, char *err, size_t errlen);
/* Several nodes (issue 19): dialback keys made under `secret` (text shared by every node
 * through the store) instead of the data directory's own secret, so that a key one node handed
 * out verifies on any node. At start-up, after s2s_global_init, before the workers run. */
void s2s_dialback_share_secret(const char *secret);

/* On each worker's thread, after xmpp_worker_start / before xmpp_worker_stop. Stopping closes
 * the worker's outgoing connections and drops what their queues still hold. */
void s2s_worker_start(struct xmpp_worker *xw);
void s2s_worker_stop(struct xmpp_worker *xw);

/* Monitoring, on the worker's thread: its queues ({"target","source","state","stanzas",
 * "bytes","oldest","connection","error"}) and its outgoing connections (kind "s2s-out", the
 * fields of xmpp_connections_json). */
void s2s_queues_json(struct xmpp_worker *xw, json_t *array);
void s2s_out_connections_json(struct xmpp_worker *xw, json_t *array);

/* Incoming s2s, called by stream.c for a jabber:server stream. The header is borrowed.
 * Both return like the parser callbacks: 0 to go on, non-zero to stop this feed. */
int s2s_in_stream_open(struct xstream *st, const struct xml_node *header);
/* Takes the reference on `el`. */
int s2s_in_element(struct xstream *st, struct xml_node *el);
/* Monitoring of an incoming stream: appends its authenticated domain pairs ("remote -> local",
 * comma-separated; SASL EXTERNAL names the header's domain) to `pairs` and returns its state:
 * "authenticated" once a pair is, else NULL (the stream's own state applies). */
const char *s2s_in_describe(const struct xstream *st, struct buf *pairs);
/* Frees the s2s part of a stream (NULL-safe on streams that never were s2s). */
void s2s_in_free(struct xstream *st);

/* Federation policy (s2s_policy.c, issue 20): true when xmpp.s2s_blocked / xmpp.s2s_allowed
 * refuse the remote `domain` (or a parent of it). */
bool s2s_domain_refused(const struct settings *cfg, const char *domain);
/* The same for the pair (local domain, remote domain), with the local domain's own lists
 * (domain settings s2s_blocked / s2s_allowed, issue 20) in addition; a service subdomain
 * (conference.<d>) follows the lists of <d>. */
bool s2s_pair_refused(const struct settings *cfg, const char *local, const char *remote);
/* Sets (both empty: removes) the lists of the local domain `local`; any thread. The links they
 * now refuse are closed by s2s_apply_policy on each worker. s2s_domain_lists_clear: at exit. */
void s2s_domain_lists_set(const char *local, const char *blocked, const char *allowed);
void s2s_domain_lists_clear(void);
/* After a settings change, on the worker: incoming links of refused domains end with a
 * policy-violation stream error; outgoing queues to them are dropped (their stanzas bounced
 * with not-allowed) and their connections closed. */
void s2s_apply_policy(struct xmpp_worker *xw, const struct settings *cfg);

/* The administrator's hand on federation (issue 20), on a worker. s2s_close_link: ends this
 * worker's server-to-server connection `id` (incoming: a stream error; outgoing: closed, its
 * queue waits for a new one); 0, or ERR_NOTFOUND when it is not here. s2s_queue_home: the worker
 * of the queue (target, source). s2s_queue_act on that worker: "flush" connects now (no waiting
 * for the retry), "drop" bounces everything waiting (remote-server-not-found) and closes its
 * connection; 0 or ERR_NOTFOUND. */
int s2s_close_link(struct xmpp_worker *xw, unsigned long id);
int s2s_queue_home(const char *target, const char *source);
int s2s_queue_act(struct xmpp_worker *xw, const char *target, const char *source, bool drop);

/* Several nodes (issue 19, docs/cluster.md): a journal of the outgoing queues in the shared
 * store, so that another node resends what a killed node had not written. `add` is called on
 * the queue's worker when a stanza (its text, as it will be written) enters the queue (target,
 * source) and returns its journal number (0: not journaled); `done` when the stanza was written
 * to its connection, bounced or dropped. A stanza still queued when its worker stops is left
 * in the journal (no `done`). Set at start-up, before the workers run; NULL: none. */
struct s2s_journal {
    uint64_t (*add)(const char *target, const char *source, const char *text, size_t len);
    void (*done)(uint64_t number);
};
void s2s_set_journal(const struct s2s_journal *journal);

#endif
