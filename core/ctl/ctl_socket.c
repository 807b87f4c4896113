/* See ctl_socket.h. */
#include "core/ctl/ctl_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The directory part of path ("." for none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* Someone who may write to the directory may rename or unlink the socket
 * and put theirs there, and xmppctl would then talk to it.  The owner must
 * be root or uid, the server's user. */
static bool dir_ok(const char *path, uid_t uid, char *err, size_t errlen)
{
	char dir[512];
	struct stat sb;
	dir_of(path, dir, sizeof(dir));
	if (stat(dir, &sb) != 0) {
		snprintf(err, errlen, "directory %s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return false;
	}
	if (sb.st_mode & S_IWOTH) {
		snprintf(err, errlen, "directory %s is writable by others (mode %04o): anyone could "
			 "put their own socket in place of the server's; use a directory only "
			 "xmppd's user can write to (chmod o-w %s)", dir, (unsigned)(sb.st_mode & 07777),
			 dir);
		return false;
	}
	if (sb.st_uid != uid && sb.st_uid != 0) {
		snprintf(err, errlen, "directory %s belongs to uid %u, neither xmppd's user (uid %u) "
			 "nor root", dir, (unsigned)sb.st_uid, (unsigned)uid);
		return false;
	}
	return true;
}

static bool fill_addr(const char *path, struct sockaddr_un *sa, char *err, size_t errlen)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		snprintf(err, errlen, "%s: too long for a Unix socket", path);
		return false;
	}
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return true;
}

/* Whether a server answers on the socket at path. */
static bool someone_listens(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool yes = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return yes;
}

int ctl_socket_listen(const char *path, dev_t *dev, ino_t *ino, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat sb;
	if (!fill_addr(path, &sa, err, errlen) || !dir_ok(path, geteuid(), err, errlen))
		return -1;
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket: not replacing it", path);
			return -1;
		}
		if (sb.st_uid != geteuid()) {
			snprintf(err, errlen, "%s is a socket of uid %u, not of xmppd's user (uid %u): "
				 "not replacing it", path, (unsigned)sb.st_uid, (unsigned)geteuid());
			return -1;
		}
		if (someone_listens(&sa)) {
			snprintf(err, errlen, "%s: another xmppd answers on it", path);
			return -1;
		}
		/* ours, left by a server that did not stop cleanly */
		if (unlink(path) != 0) {
			snprintf(err, errlen, "%s: cannot remove the old socket: %s", path,
				 strerror(errno));
			return -1;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* created 0600 rather than made so afterwards: called before any other
	 * thread exists, so the process-wide umask is ours for the moment */
	mode_t old = umask(0177);
	int rc = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0) {
		snprintf(err, errlen, "%s: bind: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(path, 0600) != 0 || lstat(path, &sb) != 0 || listen(fd, 8) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	*dev = sb.st_dev;
	*ino = sb.st_ino;
	return fd;
}

void ctl_socket_unlink(const char *path, dev_t dev, ino_t ino)
{
	struct stat sb;
	if (lstat(path, &sb) == 0 && sb.st_dev == dev && sb.st_ino == ino)
		unlink(path);
}

bool ctl_socket_peer_ok(int fd, unsigned *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return false;
	*uid = (unsigned)cr.uid;
	return cr.uid == geteuid() || cr.uid == 0;
}

bool ctl_socket_check_client(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	if (lstat(path, &sb) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s is not a socket", path);
		return false;
	}
	/* root may talk to any server; anyone else only to their own */
	if (geteuid() != 0 && sb.st_uid != geteuid() && sb.st_uid != 0) {
		snprintf(err, errlen, "%s belongs to uid %u: run xmppctl as the user xmppd runs as "
			 "(uid %u does not own it)", path, (unsigned)sb.st_uid, (unsigned)geteuid());
		return false;
	}
	return dir_ok(path, sb.st_uid, err, errlen);
}
