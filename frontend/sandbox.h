#ifndef LCW_FE_SANDBOX_H
#define LCW_FE_SANDBOX_H

/* Confine the frontend before it handles any request, and before
 * grpc_init() starts threads (which then inherit all of it): refuse root,
 * drop every capability, no_new_privs, non-dumpable, no core files, then
 * the seccomp allowlist (policy/frontend.seccomp) last. Exits on failure. */
void frontend_sandbox(int controller);

/* Once the CSI socket listens: stack the second filter
 * (policy/frontend_serving.seccomp, controller_serving.seccomp in
 * controller mode) on every thread. From then on no socket file can be
 * created, removed or chmodded, and in node mode no socket opened or
 * connected. Exits on failure. */
void frontend_sandbox_serving(void);

#endif
