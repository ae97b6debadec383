/* Datagram transport for the codec (see ipc_chan.h). */
#define _GNU_SOURCE
#include "ipc_chan.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *
ipc_chan_strerror(int rc)
{
	switch (rc) {
	case IPC_CHAN_EOF: return "peer closed the channel";
	case IPC_CHAN_SYS: return "system error on the channel";
	case IPC_CHAN_TRUNC: return "datagram truncated (too large)";
	case IPC_CHAN_BADFD: return "unexpected or missing descriptor";
	}
	return ipc_codec_strerror(rc);
}

int
ipc_send(int sock, const struct ipc_msg *m, int pass_fd)
{
	uint8_t buf[IPC_MAX_DATAGRAM];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh;
	size_t len;
	ssize_t n;
	int rc;

	if ((rc = ipc_encode(m, buf, sizeof(buf), &len)))
		return rc;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (pass_fd >= 0) {
		struct cmsghdr *c;
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	explicit_bzero(buf, len);
	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? IPC_CHAN_EOF
							     : IPC_CHAN_SYS;
	return (size_t)n == len ? 0 : IPC_CHAN_TRUNC;
}

/* Close every descriptor carried in mh's control data; return how many. */
static int
collect_fds(struct msghdr *mh, int *first)
{
	int count = 0;

	*first = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (count++ == 0)
				*first = fd;
			else
				close(fd);
		}
	}
	return count;
}

int
ipc_recv(int sock, uint32_t allowed, struct ipc_msg *m, int *fd_out)
{
	/* One byte more than the maximum: a full buffer means oversize even
	 * when the kernel does not report MSG_TRUNC. */
	uint8_t buf[IPC_MAX_DATAGRAM + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	ssize_t n;
	int fd = -1, nfds, rc;

	if (fd_out)
		*fd_out = -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? IPC_CHAN_EOF : IPC_CHAN_SYS;
	nfds = collect_fds(&mh, &fd);
	if (n == 0) {
		rc = IPC_CHAN_EOF;
	} else if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
		   (size_t)n > IPC_MAX_DATAGRAM) {
		rc = IPC_CHAN_TRUNC;
	} else if (nfds > 1 || (nfds == 1 && fd_out == NULL)) {
		rc = IPC_CHAN_BADFD;
	} else {
		rc = ipc_decode(buf, (size_t)n, allowed, m);
	}
	explicit_bzero(buf, n > 0 ? (size_t)n : 0);
	if (rc == 0 && fd_out) {
		*fd_out = fd;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}
