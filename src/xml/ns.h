/* ns.h: every XML namespace of XMPP the server uses, defined once (RFCs 6120/6121 and the XEPs). */
#ifndef STARLING_XML_NS_H
#define STARLING_XML_NS_H

/* ---- XML and the streams (RFC 6120) ---- */
#define NS_XML "http://www.w3.org/XML/1998/namespace"
#define NS_CLIENT "jabber:client"
#define NS_SERVER "jabber:server"
#define NS_STREAM "http://etherx.jabber.org/streams"
#define NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_SASL_CB "urn:xmpp:sasl-cb:0"
#define NS_IQ_AUTH "jabber:iq:auth"
#define NS_IQ_AUTH_FEATURE "http://jabber.org/features/iq-auth"
#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_REGISTER "jabber:iq:register"
#define NS_REGISTER_FEATURE "http://jabber.org/features/iq-register"
#define NS_PARS "urn:xmpp:pars:0"

/* ---- instant messaging (RFC 6121 and its XEPs) ---- */
#define NS_ROSTER "jabber:iq:roster"
#define NS_ROSTERVER_FEATURE "urn:xmpp:features:rosterver"
#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_DELAY "urn:xmpp:delay"
#define NS_HINTS "urn:xmpp:hints"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"

/* ---- services ---- */
#define NS_XDATA "jabber:x:data"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_PING "urn:xmpp:ping"
#define NS_VERSION "jabber:iq:version"
#define NS_TIME "urn:xmpp:time"
#define NS_LAST "jabber:iq:last"
#define NS_PRIVATE "jabber:iq:private"
#define NS_VCARD "vcard-temp"
#define NS_VCARD_UPDATE "vcard-temp:x:update"
#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_ADMIN "http://jabber.org/protocol/admin"
#define NS_SERVERINFO "http://jabber.org/network/serverinfo"

/* ---- multi-user chat (XEP-0045) ---- */
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_MUC_REGISTER "http://jabber.org/protocol/muc#register"
#define NS_MUC_ROOMCONFIG "http://jabber.org/protocol/muc#roomconfig"
#define NS_MUC_ROOMINFO "http://jabber.org/protocol/muc#roominfo"
#define NS_MUC_SELF_PING "http://jabber.org/protocol/muc#self-ping-optimization"
#define NS_OCCUPANT_ID "urn:xmpp:occupant-id:0"
#define NS_CONFERENCE "jabber:x:conference"

/* ---- message archive (XEP-0313, XEP-0359, XEP-0059, XEP-0431) ---- */
#define NS_MAM "urn:xmpp:mam:2"
#define NS_MAM_EXTENDED "urn:xmpp:mam:2#extended"
#define NS_SID "urn:xmpp:sid:0"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_FULLTEXT "urn:xmpp:fulltext:0"
#define NS_OMEMO_LEGACY "eu.siacs.conversations.axolotl"
#define NS_OMEMO "urn:xmpp:omemo:2"
#define NS_OPENPGP "urn:xmpp:openpgp:0"
#define NS_PGP_ENCRYPTED "jabber:x:encrypted"
/* ---- publish-subscribe (XEP-0060), PEP (XEP-0163) and what rides on it (issue 14) ---- */
#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_PUBSUB_OWNER "http://jabber.org/protocol/pubsub#owner"
#define NS_PUBSUB_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define NS_PUBSUB_NODE_CONFIG "http://jabber.org/protocol/pubsub#node_config"
#define NS_PUBSUB_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"
#define NS_PUBSUB_META_DATA "http://jabber.org/protocol/pubsub#meta-data"
#define NS_BOOKMARKS2 "urn:xmpp:bookmarks:1"
#define NS_BOOKMARKS2_COMPAT "urn:xmpp:bookmarks:1#compat"
#define NS_BOOKMARKS_LEGACY "storage:bookmarks"
#define NS_AVATAR_DATA "urn:xmpp:avatar:data"
#define NS_AVATAR_METADATA "urn:xmpp:avatar:metadata"
#define NS_NICK "http://jabber.org/protocol/nick"
/* Web clients (src/web): RFC 7395 WebSocket framing. */
#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
#define NS_HTTP_UPLOAD "urn:xmpp:http:upload:0"           /* XEP-0363 */
#define NS_HTTPBIND "http://jabber.org/protocol/httpbind" /* XEP-0124 */
#define NS_XBOSH "urn:xmpp:xbosh"                         /* XEP-0206 */
#define NS_EXTDISCO "urn:xmpp:extdisco:2"                 /* XEP-0215 */
/* ---- modern login: SASL2 (XEP-0388), Bind 2 (XEP-0386), FAST (XEP-0484) ---- */
#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_BIND2 "urn:xmpp:bind:0"
#define NS_FAST "urn:xmpp:fast:0"
/* ---- invitations (XEP-0401) ---- */
#define NS_INVITE "urn:xmpp:invite"
/* Mobile sessions (issue 15): XEP-0198 stream management, XEP-0352 client state indication. */
#define NS_SM "urn:xmpp:sm:3"
#define NS_CSI "urn:xmpp:csi:0"
#define NS_PUSH "urn:xmpp:push:0"
#define NS_PUSH_SUMMARY "urn:xmpp:push:summary"

#endif
