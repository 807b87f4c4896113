/* XEP-0082 date-times ("2010-06-07T14:03:20.123456Z", or with an offset
 * such as "+02:00"), to and from microseconds since the Unix epoch. */
#ifndef XMPPD_DATETIME_H
#define XMPPD_DATETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses s; false for anything that is not a complete XEP-0082 DateTime
 * (a date alone, a missing zone, out-of-range fields). */
bool xep82_parse(const char *s, int64_t *us);
/* Formats us as UTC with microseconds when it has any ("...Z"); out needs
 * 32 bytes. */
void xep82_format(int64_t us, char out[32]);

#endif
