/* A compromised frontend, for the adversary suite.
 *
 * privd's spawner execs this in place of lcw-frontend (privd flag
 * --frontend-path). It gets exactly what the real frontend gets: fd 3 (the
 * privd channel), the frontend's uid and gid, no capabilities, no_new_privs
 * and the arguments --ipc-fd=3 --socket=PATH. It does not load the frontend's
 * seccomp filter, so it is a strictly stronger attacker than a frontend
 * exploited after its sandbox is up.
 *
 * It listens on its --socket path (the directory privd prepared for the
 * frontend) and passes the privd channel over SCM_RIGHTS to the first client,
 * the test program, which from then on speaks to privd as the frontend would.
 * It closes its own copy and exits, so the channel ends when the test closes
 * it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int
pass_fd(int conn, int fd)
{
	char byte = 'F';
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	memset(u.buf, 0, sizeof(u.buf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(conn, &mh, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls, conn;

	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--socket=", 9) == 0)
			path = argv[i] + 9;
	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "hostile_frontend: no usable --socket=\n");
		return 2;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1)) {
		fprintf(stderr, "hostile_frontend: listen on %s: %s\n", path, strerror(errno));
		return 2;
	}
	conn = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	/* The socket is gone before the channel is handed over: a test that
	 * reconnects after privd dropped this channel must reach the next
	 * frontend, never this one's closing listener. */
	close(ls);
	unlink(path);
	if (conn < 0 || pass_fd(conn, 3)) {
		fprintf(stderr, "hostile_frontend: hand-over failed: %s\n", strerror(errno));
		return 2;
	}
	close(3);
	close(conn);
	return 0;
}
