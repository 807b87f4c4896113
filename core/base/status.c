/* Names for enum xs, for log lines. */
#include "core/base/status.h"

const char *xs_name(enum xs st)
{
	switch (st) {
	case XS_OK: return "ok";
	case XS_AGAIN: return "again";
	case XS_EOF: return "eof";
	case XS_NOMEM: return "nomem";
	case XS_LIMIT: return "limit";
	case XS_PROTO: return "proto";
	case XS_TLS: return "tls";
	case XS_IO: return "io";
	case XS_STOP: return "stop";
	case XS_NOTFOUND: return "notfound";
	case XS_INVAL: return "inval";
	case XS_DENIED: return "denied";
	case XS_TIMEOUT: return "timeout";
	case XS_CANCELLED: return "cancelled";
	}
	return "?";
}
