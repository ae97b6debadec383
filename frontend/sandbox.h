#ifndef LCW_FE_SANDBOX_H
#define LCW_FE_SANDBOX_H

/* Confine the frontend before it handles any request, and before
 * grpc_init() starts threads (which then inherit all of it): refuse root,
 * drop every capability, no_new_privs, non-dumpable, no core files, then
 * the seccomp allowlist (policy/frontend.seccomp) last. Exits on failure. */
void frontend_sandbox(int controller);

#endif
