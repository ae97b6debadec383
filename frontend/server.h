/* The CSI gRPC server of the frontend. */
#ifndef LCW_SERVER_H
#define LCW_SERVER_H

/* Largest request accepted; CSI requests are small (strings of at most
 * 128 bytes, maps of at most 4 KiB, paths of a few KiB). */
#define LCW_MAX_REQUEST_BYTES (1 << 20)

/* Serve until a signal arrives on sigfd (a signalfd), then shut down
 * gracefully and remove the socket. Returns the process exit code. */
int server_run(const char *socket_path, int sigfd);

#endif
