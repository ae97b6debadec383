/* The capacity publisher: what this node could still take, measured here
 * (the same numbers as the CAPACITY request and the node-wide limits), put
 * in the node's Lease for the controller, which answers csi-provisioner's
 * GetCapacity for this node from it (common/k8s_capacity.c). Best effort: a
 * failed update is logged and retried next period; the controller treats a
 * Lease older than a few periods as "no room known". */
#define _GNU_SOURCE
#include "capacity_pub.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ipc_msg.h"
#include "k8s_client.h"
#include "log.h"
#include "node_limits.h"
#include "vol_admit.h"

struct capacity_pub {
	const struct privd_ctx *ctx;
	char ns[256];
};

static void *
pub_main(void *arg)
{
	const struct capacity_pub *p = arg;
	int failing = 0;

	prctl(PR_SET_NAME, "privd-capacity");
	for (;;) {
		struct local_room r;
		struct ipc_msg ans;
		char err[512];

		memset(&ans, 0, sizeof(ans));
		if (local_room(p->ctx, 0, &r, &ans) == 0) {
			struct k8s_node_capacity c = { r.available, r.maximum_volume, r.volumes_left };
			int rc = k8s_capacity_publish(p->ctx->k8s, p->ns, p->ctx->nodeid, &c, err,
						      sizeof(err));
			if (rc != K8S_OK && !failing)
				log_warn("capacity: cannot update this node's Lease in %s: %s", p->ns, err);
			else if (rc == K8S_OK && failing)
				log_info("capacity: Lease in %s updated again", p->ns);
			failing = rc != K8S_OK;
		} else if (!failing) {
			log_warn("capacity: %s", ans.u.error.msg);
			failing = 1;
		}
		sleep(CAPACITY_PUB_PERIOD_S);
	}
	return NULL;
}

int
capacity_pub_start(const struct privd_ctx *ctx, const char *ns)
{
	static struct capacity_pub p; /* one publisher, living as long as privd */
	pthread_t t;

	p.ctx = ctx;
	snprintf(p.ns, sizeof(p.ns), "%s", ns);
	if (pthread_create(&t, NULL, pub_main, &p))
		return -1;
	pthread_detach(t);
	return 0;
}
