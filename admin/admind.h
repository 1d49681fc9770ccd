/* The admin daemon's server: the unix socket, its clients and the event
 * loop. Framing is one JSON-RPC request per line in, one response per line
 * out, in order (docs/admin-protocol.md); what a line means is rpc_call's
 * business.
 *
 * Who may talk: the peer's credentials (SO_PEERCRED, and SO_PEERGROUPS for
 * supplementary groups) must be root, admin_allowed_uid, or carry
 * admin_allowed_gid. Others get one error line (reason "forbidden") and are
 * closed. Limits: admin_max_clients connections (more are told so and
 * closed), admin_max_request bytes per line (a longer line is refused and
 * the connection closed without reading the rest), one request in flight
 * per connection (pipelined lines wait in the socket), a bounded output
 * backlog, and an idle timeout. */
#ifndef MAILSTEAD_ADMIND_H
#define MAILSTEAD_ADMIND_H

#include <sys/types.h>

struct config;
struct admind;

/* Seconds a connection may stay idle (no request in flight) before it is
 * closed; frees the slot of a client that went away silently. */
#define ADMIND_IDLE_TIMEOUT 600
/* Seconds in-flight requests get to finish after SIGTERM. */
#define ADMIND_STOP_TIMEOUT 10

/* Creates the listening socket at cfg->admin_socket: an existing socket
 * file is removed only when nothing answers on it (a second daemon must not
 * steal the first one's socket), and any other file there is an error.
 * Mode 0660, group admin_allowed_gid when set. Runs before the privilege
 * drop. Returns the listening fd, or -1 with *error_r (static buffer). */
int admind_listen(const struct config *cfg, const char **error_r);

/* Runs the daemon on listen_fd until SIGTERM or SIGINT, then stops
 * gracefully. Returns 0 on a clean stop, or -1 with *error_r when the loop
 * cannot be set up. */
int admind_run(const struct config *cfg, int listen_fd, int schema_fd, const char **error_r);

#endif
