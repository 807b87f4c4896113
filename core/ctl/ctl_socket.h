/* The control socket's file (core/ctl): a Unix stream socket only the
 * server's user can use, where nobody else can put one in its place.
 * Shared with xmppctl, which checks the same things before it talks. */
#ifndef XMPPD_CTL_SOCKET_H
#define XMPPD_CTL_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Binds and listens on path (non-blocking, close-on-exec), mode 0600.
 * Refused, with the reason in err: a directory others may write to (they
 * could replace the socket), or owned by someone other than this user or
 * root; a path that exists and is not a socket of this user; a socket a
 * running server answers on.  A socket of ours nobody answers on (left by
 * a crash) is replaced.  *dev, *ino: the file made, for ctl_socket_unlink.
 * -1 on failure. */
int ctl_socket_listen(const char *path, dev_t *dev, ino_t *ino, char *err, size_t errlen);

/* Removes path if it is still the socket made (not one put there since). */
void ctl_socket_unlink(const char *path, dev_t dev, ino_t ino);

/* Whether the peer of a connected socket is this user or root. */
bool ctl_socket_peer_ok(int fd, unsigned *uid);

/* The same file checks for a client (xmppctl): path is a socket owned by
 * this user or root, in a directory others cannot write to.  False with
 * the reason in err (errno-like reasons as text). */
bool ctl_socket_check_client(const char *path, char *err, size_t errlen);

#endif
