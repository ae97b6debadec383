/* lcw-frontend: the unprivileged CSI gRPC server. Started only by privd's
 * spawner, with the privd channel on a numbered descriptor. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "csi_handlers.h"
#include "log.h"
#include "privd_client.h"
#include "s3_delete.h"
#include "sandbox.h"
#include "server.h"

struct frontend_config fe_config;
static char socket_path[4096];

static void
remove_socket(void)
{
	unlink(socket_path);
}

static const char *
arg_value(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

int
main(int argc, char **argv)
{
	const char *v, *nodeid = NULL, *sock = NULL, *kube_api = NULL, *kube_token = NULL,
		   *kube_ca = NULL;
	int ipc_fd = -1, level = LOG_INFO, controller = 0;
	sigset_t ss;
	int sigfd, type;
	socklen_t tlen = sizeof(type);

	for (int i = 1; i < argc; i++) {
		if ((v = arg_value(argv[i], "--ipc-fd")))
			ipc_fd = atoi(v);
		else if ((v = arg_value(argv[i], "--socket")))
			sock = v;
		else if ((v = arg_value(argv[i], "--nodeid")))
			nodeid = v;
		else if ((v = arg_value(argv[i], "--mode")))
			controller = strcmp(v, "controller") == 0;
		else if ((v = arg_value(argv[i], "--kube-api")))
			kube_api = v;
		else if ((v = arg_value(argv[i], "--kube-token-file")))
			kube_token = v;
		else if ((v = arg_value(argv[i], "--kube-ca-file")))
			kube_ca = v;
		else if ((v = arg_value(argv[i], "--capacity-namespace")))
			fe_config.capacity_namespace = v;
		else if ((v = arg_value(argv[i], "--log-level")))
			level = log_level_parse(v);
		else {
			fprintf(stderr, "lcw-frontend: unknown argument %s (started by privd only)\n", argv[i]);
			return 2;
		}
	}
	log_init("frontend", level < 0 ? LOG_INFO : level);
	/* Node mode needs the privd channel; controller mode has no privd. */
	if (!sock || !nodeid || strlen(sock) >= sizeof(socket_path) ||
	    (!controller && (ipc_fd < 3 || getsockopt(ipc_fd, SOL_SOCKET, SO_TYPE, &type, &tlen) ||
			     type != SOCK_SEQPACKET)))
		fatal(2, "must be started by lukscryptwalker-csi (--socket, --nodeid, and "
			 "--ipc-fd in node mode)");
	strcpy(socket_path, sock);
	fe_config.nodeid = nodeid;
	fe_config.controller_mode = controller;

	/* Signals are taken through a signalfd polled by the queue loop;
	 * block them before any thread exists so every thread inherits it. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0)
		fatal(2, "signalfd: %s", strerror(errno));

	if (controller)
		s3_delete_init(kube_api, kube_token, kube_ca); /* reads token, CA: before the sandbox */
	frontend_sandbox(controller);
	if (!controller)
		privd_client_start(ipc_fd, remove_socket);
	return server_run(socket_path, sigfd);
}
