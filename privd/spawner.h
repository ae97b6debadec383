#ifndef LCW_SPAWNER_H
#define LCW_SPAWNER_H

#include <sys/types.h>

struct spawner_config {
	const char *frontend_path;
	const char *socket_path;
	const char *nodeid;
	int controller;
	int log_level;
	uid_t frontend_uid;
	gid_t frontend_gid;
	const char *rclone_path;
};

/* Run the spawner loop on chan (privd's channel). Never returns. */
void spawner_main(int chan, const struct spawner_config *c) __attribute__((noreturn));

#endif
