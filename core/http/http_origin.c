/* Web origins (core/http/http_origin.h). */
#include "core/http/http_origin.h"

#include <string.h>
#include <strings.h>

/* An origin taken apart: its scheme's default port, and the authority
 * (host[:port]) with a default port dropped. */
struct origin {
	unsigned default_port;
	const char *auth;
	size_t auth_len;
};

static bool prefix_ci(const char *s, size_t n, const char *p)
{
	size_t k = strlen(p);
	return n >= k && strncasecmp(s, p, k) == 0;
}

/* host is a name or IPv4 address (letters, digits, '-', '.'), or an IPv6
 * address in brackets; port, if any, 1 to 5 digits. */
static bool authority_valid(const char *s, size_t n)
{
	size_t i = 0;
	if (n && s[0] == '[') {
		while (i < n && s[i] != ']')
			i++;
		if (i == n || i < 3 || strspn(s + 1, "0123456789abcdefABCDEF:.") < i - 1)
			return false;
		i++;
	} else {
		while (i < n && s[i] != ':') {
			char ch = s[i];
			bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
			if (!ok)
				return false;
			i++;
		}
		if (i == 0)
			return false;
	}
	if (i == n)
		return true;
	if (s[i] != ':' || n - i - 1 < 1 || n - i - 1 > 5)
		return false;
	for (size_t k = i + 1; k < n; k++)
		if (s[k] < '0' || s[k] > '9')
			return false;
	return true;
}

static bool split(const char *s, size_t n, struct origin *o)
{
	size_t skip;
	if (prefix_ci(s, n, "http://")) {
		o->default_port = 80;
		skip = 7;
	} else if (prefix_ci(s, n, "https://")) {
		o->default_port = 443;
		skip = 8;
	} else {
		return false;
	}
	o->auth = s + skip;
	o->auth_len = n - skip;
	return authority_valid(o->auth, o->auth_len);
}

bool http_origin_valid(const char *s, size_t n)
{
	struct origin o;
	return split(s, n, &o);
}

/* auth[0..len) without ":<default port>" at its end. */
static size_t without_default_port(const char *auth, size_t len, unsigned port)
{
	const char *suffix = port == 443 ? ":443" : ":80";
	size_t k = strlen(suffix);
	if (len > k && memcmp(auth + len - k, suffix, k) == 0)
		return len - k;
	return len;
}

static bool same_authority(const struct origin *o, const char *auth, size_t len)
{
	size_t a = without_default_port(o->auth, o->auth_len, o->default_port);
	size_t b = without_default_port(auth, len, o->default_port);
	return a == b && a && strncasecmp(o->auth, auth, a) == 0;
}

bool http_origin_allowed(const char *allowed, const char *origin, size_t olen, const char *host,
			 size_t hlen)
{
	struct origin o;
	bool valid = split(origin, olen, &o);
	if (!*allowed)
		return valid && same_authority(&o, host, hlen);
	const char *s = allowed;
	while (*s) {
		s += strspn(s, " ,\t");
		size_t n = strcspn(s, " ,\t");
		if (!n)
			break;
		if (n == 1 && *s == '*')
			return true;
		struct origin e;
		if (valid && split(s, n, &e) && e.default_port == o.default_port &&
		    same_authority(&o, e.auth, e.auth_len))
			return true;
		s += n;
	}
	return false;
}
