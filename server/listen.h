/* Listening sockets of mailstead-imapd, bound by the master before it drops
 * privileges and inherited by every worker. */
#ifndef MAILSTEAD_LISTEN_H
#define MAILSTEAD_LISTEN_H

#include <sys/socket.h>

/* Parses "host:port", "[v6addr]:port" or "*:port" (numeric addresses only:
 * no DNS at start-up). Returns 0 or -1 with error_r. */
int listen_parse(const char *spec, struct sockaddr_storage *addr_r, socklen_t *len_r,
		 const char **error_r);

/* Binds and listens on spec (non-blocking, close-on-exec, SO_REUSEADDR).
 * Returns the fd or -1 with error_r (static buffer). */
int listen_bind(const char *spec, const char **error_r);

/* Formats addr as "ip:port" ("[ip]:port" for IPv6) into out. */
void listen_format(const struct sockaddr *addr, char *out, size_t out_size);

#endif
