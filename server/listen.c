#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

static char listen_error[256];

int listen_parse(const char *spec, struct sockaddr_storage *addr_r, socklen_t *len_r,
		 const char **error_r)
{
	char host[128];
	const char *colon, *port_s;
	char *end;
	long port;
	size_t hlen;

	memset(addr_r, 0, sizeof(*addr_r));
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (close == NULL || close[1] != ':') {
			*error_r = "expected [address]:port";
			return -1;
		}
		hlen = (size_t)(close - spec - 1);
		if (hlen >= sizeof(host)) {
			*error_r = "address too long";
			return -1;
		}
		memcpy(host, spec + 1, hlen);
		host[hlen] = '\0';
		port_s = close + 2;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL) {
			*error_r = "expected address:port";
			return -1;
		}
		hlen = (size_t)(colon - spec);
		if (hlen >= sizeof(host)) {
			*error_r = "address too long";
			return -1;
		}
		memcpy(host, spec, hlen);
		host[hlen] = '\0';
		port_s = colon + 1;
	}
	errno = 0;
	port = strtol(port_s, &end, 10);
	if (errno != 0 || end == port_s || *end != '\0' || port < 1 || port > 65535) {
		*error_r = "invalid port";
		return -1;
	}
	if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0 || host[0] == '\0') {
		struct sockaddr_in *sin = (struct sockaddr_in *)addr_r;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)port);
		*len_r = sizeof(*sin);
		return 0;
	}
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr_r;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*error_r = "invalid IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len_r = sizeof(*sin6);
		return 0;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)addr_r;
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		*error_r = "invalid IPv4 address (numeric addresses only)";
		return -1;
	}
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	*len_r = sizeof(*sin);
	return 0;
}

int listen_bind(const char *spec, const char **error_r)
{
	struct sockaddr_storage addr;
	socklen_t len;
	const char *why;
	int fd, one = 1;

	if (listen_parse(spec, &addr, &len, &why) < 0) {
		snprintf(listen_error, sizeof(listen_error), "%s: %s", spec, why);
		*error_r = listen_error;
		return -1;
	}
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(listen_error, sizeof(listen_error), "%s: socket: %s", spec, strerror(errno));
		*error_r = listen_error;
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(listen_error, sizeof(listen_error), "%s: %s", spec, strerror(errno));
		*error_r = listen_error;
		close(fd);
		return -1;
	}
	return fd;
}

void listen_format(const struct sockaddr *addr, char *out, size_t out_size)
{
	char ip[INET6_ADDRSTRLEN];

	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)addr;
		if (inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)) == NULL)
			strcpy(ip, "?");
		snprintf(out, out_size, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)addr;
		if (inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)) == NULL)
			strcpy(ip, "?");
		snprintf(out, out_size, "%s:%u", ip, ntohs(s4->sin_port));
	} else {
		snprintf(out, out_size, "unix");
	}
}
