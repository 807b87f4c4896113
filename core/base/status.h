/* One status type for every doing-function in the project.
 * 0 is success; callers test `!= XS_OK`.  Protocol-level conditions (stream
 * errors, stanza errors, SASL failures) have their own enums; this one says
 * only what happened to the operation. */
#ifndef XMPPD_STATUS_H
#define XMPPD_STATUS_H

enum xs {
	XS_OK = 0,
	XS_AGAIN,   /* would block: retry when the fd/queue is ready */
	XS_EOF,     /* peer closed cleanly */
	XS_NOMEM,   /* allocation failed */
	XS_LIMIT,   /* a configured limit was exceeded */
	XS_PROTO,   /* the peer broke the protocol */
	XS_TLS,     /* TLS failure (handshake, record, alert) */
	XS_IO,      /* socket or file error */
	XS_STOP,    /* a callback asked the producer to stop early */
	XS_NOTFOUND,
	XS_INVAL,   /* bad argument or configuration */
	XS_DENIED,  /* refused by the account's own rules (blocked) */
	XS_TIMEOUT, /* no answer in time (DNS, a remote server) */
	XS_CANCELLED, /* its owner went away first */
};

const char *xs_name(enum xs st);

#endif
