/* ns.h: XML namespaces of XMPP used across the modules. */
#ifndef STARLING_XMPP_NS_H
#define STARLING_XMPP_NS_H

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
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_VERSION "jabber:iq:version"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_XML "http://www.w3.org/XML/1998/namespace"

#endif
