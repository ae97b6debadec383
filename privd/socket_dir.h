#ifndef LCW_SOCKET_DIR_H
#define LCW_SOCKET_DIR_H

#include <stddef.h>
#include <sys/types.h>

/* Make the CSI socket's directory usable by the unprivileged frontend:
 * create it if missing (0750), remove a stale socket left by a killed run
 * (only if it is a socket; a regular file is an error), and if the frontend
 * cannot create files there, give the directory to the frontend's group
 * with group write. A shared sticky directory such as /tmp is left alone.
 * Runs before the sandbox. Returns 0 or -1 with a message. */
int socket_dir_prepare(const char *socket_path, uid_t uid, gid_t gid, char *err, size_t errlen);

#endif
