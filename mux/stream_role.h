/* A stream role: the XMPP stream protocol a mux connection speaks above its
 * transport (socket, TLS layers, XML parser; mux_conn.c): c2s (mux/c2s/),
 * s2s-in and s2s-out (s2s/), each with its own state, not new states of
 * another (docs/internals/transport-roles.md).
 *
 * A role is fixed for a connection's life: the listener's type chooses it
 * (mux_role_for), or the s2s connector (conn_new_outbound).  The transport calls the role only
 * through this table; the role uses the transport through the conn_* and
 * stream_* functions of mux_int.h. */
#ifndef XMPPD_MUX_STREAM_ROLE_H
#define XMPPD_MUX_STREAM_ROLE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"

struct mux;
struct mux_conn;
struct msg;
struct xbuf;
struct xml_node;
struct cfg_listener;

/* What every role's negotiation state starts with: the pre-auth timeout
 * list (mux_conn.c), FIFO by accept time.  A role's own state embeds it
 * first and hangs on c->neg until the stream is established. */
struct stream_neg {
	struct mux_conn *pa_prev, *pa_next;
	uint64_t preauth_deadline_ms;
	bool on_preauth;
};

struct stream_role_ops {
	const char *name;      /* "c2s": log lines */
	const char *ns;        /* the stream's default namespace: "jabber:client" */
	const char *alpn;      /* direct TLS listeners: "xmpp-client" */
	/* A link between servers: TLS asks the peer for its certificate, and
	 * [s2s] max_stanza_size applies instead of [limits]'. */
	bool server_link;
	/* We opened the stream (s2s-out): our header carries no id (RFC 6120
	 * 4.7.3), and we speak first. */
	bool initiator;
	/* conn_adopt: allocates c->neg and sets the role's initial state;
	 * false: out of memory */
	bool (*init)(struct mux_conn *c);
	/* The peer's stream header, its root name and default namespace
	 * checked (stream_on_open); sends ours and the features.  Non-zero
	 * stops the parser. */
	int (*on_open)(struct mux_conn *c, struct xml_node *header);
	/* A depth-1 element; takes el.  Non-zero stops the parser. */
	int (*on_stanza)(struct mux_conn *c, struct xml_node *el);
	/* conn_request_restart: the stream waits for a new header. */
	void (*on_restart)(struct mux_conn *c);
	/* The content of <stream:features>; XS_NOMEM leaves out partial. */
	enum xs (*features)(struct mux_conn *c, struct xbuf *out);
	/* An established stream idle for idle_sleep: may it sleep now?  false
	 * leaves it awake for another period (c2s: it asked for an ack). */
	bool (*sleep_ok)(struct mux_conn *c);
	/* A routed stanza for this stream (MSG_DELIVER); false: it cannot take
	 * it, the caller hands it back to the router. */
	bool (*deliver)(struct mux_conn *c, struct msg *msg);
	/* Any other message the router addressed to this stream's handle
	 * (c2s: the bind result, a kick); the caller frees msg. */
	void (*on_msg)(struct mux_conn *c, struct msg *msg);
	/* conn_close: true when the record is to be kept for the session
	 * (c2s: detached for XEP-0198 resumption) instead of ended. */
	bool (*keep_on_close)(struct mux_conn *c);
	/* mux_reap: a record kept at close, stripped of its socket, TLS and
	 * parser (conn_strip), waits (c2s: on the detached list). */
	void (*park)(struct mux_conn *c);
	/* conn_close of a stream not kept: what the router and others hold
	 * for it ends (c2s: the session's unbind). */
	void (*on_closed)(struct mux_conn *c);
	/* The delay timer of a stream that is not closing (c2s: a delayed
	 * SASL failure). */
	void (*on_timer)(struct mux_conn *c);
	/* The name of the stream's session for log lines, or NULL. */
	const char *(*session_name)(const struct mux_conn *c);
	/* conn_strip: what only a live socket needs goes (c2s: SASL state). */
	void (*strip)(struct mux_conn *c);
	/* The record goes: everything the role holds is freed, c->neg too. */
	void (*free)(struct mux_conn *c);
	/* Outbound streams only (conn_connect): the connect finished, err 0
	 * or its errno.  NULL for roles that never connect. */
	void (*on_connected)(struct mux_conn *c, int err);
	/* A TLS layer's handshake has just completed (may be NULL). */
	void (*on_tls_ready)(struct mux_conn *c);
	/* For a role that speaks no XMPP stream (http): pushes the top
	 * filter of its transport at accept, and ends the connection its own
	 * way where a stream would get a stream error (stream_error: the
	 * pre-auth timeout, shutdown).  NULL for the XMPP roles: the XML
	 * parser, and <stream:error/>. */
	bool (*push_top)(struct mux_conn *c);
	void (*stream_error)(struct mux_conn *c, const char *cond, const char *text);

	/* What the role keeps per thread rather than per stream (c2s: the
	 * sessions detached for XEP-0198 resumption, the storage thread's
	 * answers to SASL and registration).  Any of these may be NULL. */
	/* A message to the thread, not to one of its streams: true when the
	 * role took it; *forwarded when it passed msg on (not to be freed). */
	bool (*thread_msg)(struct mux *m, struct msg *msg, bool *forwarded);
	/* The thread's timers: run what is due; when the next is due
	 * (UINT64_MAX: none). */
	void (*thread_timers)(struct mux *m);
	uint64_t (*thread_deadline)(const struct mux *m);
	/* The server is stopping (before every stream gets system-shutdown). */
	void (*thread_shutdown)(struct mux *m);
	/* mux_group_free: a message left in an inbox that holds memory of the
	 * role's; true when it freed that memory. */
	bool (*thread_drop)(struct msg *msg);
};

/* The roles (mux/c2s/c2s_role.c), and all of them for the thread-level
 * hooks (mux_accept.c). */
extern const struct stream_role_ops c2s_role;
extern const struct stream_role_ops s2s_in_role; /* s2s/s2s_in.c */
extern const struct stream_role_ops s2s_out_role; /* s2s/s2s_out.c */
extern const struct stream_role_ops http_role;    /* mux/http/http_role.c */
extern const struct stream_role_ops *const mux_roles[];
extern const unsigned mux_n_roles;

/* The role of connections accepted on a listener (mux_accept.c): NULL for
 * a listener type no role serves yet. */
const struct stream_role_ops *mux_role_for(const struct cfg_listener *lst);

#endif
