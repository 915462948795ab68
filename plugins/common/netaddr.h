/* Socket addresses for the transport plugins that ship with gatehouse (tcp,
 * udp): parsing, conversion to the SDK's gh_addr, printing, and the listen
 * address rule. Header-only and static, so that each plugin stays one
 * shared object with one exported symbol; it needs libuv and the SDK
 * header, nothing of the core. */
#ifndef GH_PLUGINS_NETADDR_H
#define GH_PLUGINS_NETADDR_H

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#include "gatehouse/gatehouse.h"

/* A numeric IPv4 or IPv6 address (optionally in brackets) and a port. */
static inline int na_parse_numeric(const char *s, uint16_t port,
                                   struct sockaddr_storage *ss) {
  char buf[INET6_ADDRSTRLEN + 16];
  size_t n = strlen(s);
  memset(ss, 0, sizeof *ss);
  if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
    if (n - 2 >= sizeof buf)
      return UV_EINVAL;
    memcpy(buf, s + 1, n - 2);
    buf[n - 2] = '\0';
    s = buf;
  }
  if (strchr(s, ':'))
    return uv_ip6_addr(s, port, (struct sockaddr_in6 *)ss);
  return uv_ip4_addr(s, port, (struct sockaddr_in *)ss);
}

/* 1 for an address a resource must never be connected to: 0.0.0.0/8, ::
 * and ::ffff:0.0.0.0/104. Linux connects them to the local host, past
 * the core's rules for loopback; the core refuses them first, and the
 * transports again. */
static inline int na_unspecified(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) ==
           0;
  if (sa->sa_family != AF_INET6)
    return 0;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  if (IN6_IS_ADDR_UNSPECIFIED(a))
    return 1;
  return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 0;
}

/* IPv4-mapped IPv6 addresses (a dual-stack socket's IPv4 peers) are given
 * as IPv4, so that allow-lists and logs see the address the peer used. */
static inline void na_to_gh(gh_addr *a, const struct sockaddr *sa) {
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    a->family = GH_AF_INET;
    a->port = ntohs(in->sin_port);
    memcpy(a->addr, &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    a->port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      a->family = GH_AF_INET;
      memcpy(a->addr, in6->sin6_addr.s6_addr + 12, 4);
    } else {
      a->family = GH_AF_INET6;
      a->scope_id = in6->sin6_scope_id;
      memcpy(a->addr, &in6->sin6_addr, 16);
    }
  }
}

/* The socket address of a gh_addr (its port included): 0, or UV_EINVAL
 * for an unknown family. */
static inline int na_from_gh(const gh_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == GH_AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(a->port);
    memcpy(&in->sin_addr, a->addr, 4);
    return 0;
  }
  if (a->family == GH_AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    in6->sin6_scope_id = a->scope_id;
    memcpy(&in6->sin6_addr, a->addr, 16);
    return 0;
  }
  return UV_EINVAL;
}

static inline socklen_t na_len(const struct sockaddr *sa) {
  return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in);
}

/* "1.2.3.4:80" or "[::1]:80". */
static inline void na_name(const struct sockaddr *sa, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN];
  uint16_t port = 0;
  if (uv_ip_name(sa, ip, sizeof ip) != 0)
    snprintf(ip, sizeof ip, "?");
  if (sa->sa_family == AF_INET)
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
  else if (sa->sa_family == AF_INET6)
    port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
           (unsigned)port);
}

/* Binds a listener the way every transport does: no host means every
 * address (IPv6 dual stack, or IPv4 where IPv6 is missing); a numeric
 * address binds it; a name is resolved synchronously (listen() is) and the
 * first of its addresses that binds wins. bind_one(sa, ctx) returns 0 or a
 * libuv error. Returns 0, a libuv error, GH_EINVAL for a malformed address
 * or GH_ENOTFOUND. */
static inline int na_listen(uv_loop_t *loop, const char *name, uint16_t port,
                            int socktype,
                            int (*bind_one)(const struct sockaddr *sa,
                                            void *ctx),
                            void *ctx) {
  struct sockaddr_storage ss;
  int rc;
  if (!name || !*name) {
    na_parse_numeric("::", port, &ss);
    rc = bind_one((const struct sockaddr *)&ss, ctx);
    if (rc != UV_EAFNOSUPPORT)
      return rc;
    na_parse_numeric("0.0.0.0", port, &ss);
    return bind_one((const struct sockaddr *)&ss, ctx);
  }
  if (na_parse_numeric(name, port, &ss) == 0)
    return bind_one((const struct sockaddr *)&ss, ctx);
  if (strchr(name, ':') || name[0] == '[') /* a bad address, not a name */
    return GH_EINVAL;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_PASSIVE;
  uv_getaddrinfo_t req;
  rc = uv_getaddrinfo(loop, &req, NULL, name, NULL, &hints);
  if (rc)
    return rc == UV_EAI_MEMORY ? GH_ENOMEM : GH_ENOTFOUND;
  rc = GH_ENOTFOUND;
  for (const struct addrinfo *ai = req.addrinfo; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET &&
        ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
      memcpy(&ss, ai->ai_addr, sizeof(struct sockaddr_in));
      ((struct sockaddr_in *)&ss)->sin_port = htons(port);
    } else if (ai->ai_family == AF_INET6 &&
               ai->ai_addrlen >= sizeof(struct sockaddr_in6)) {
      memcpy(&ss, ai->ai_addr, sizeof(struct sockaddr_in6));
      ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
    } else {
      continue;
    }
    rc = bind_one((const struct sockaddr *)&ss, ctx);
    if (rc == 0)
      break;
  }
  uv_freeaddrinfo(req.addrinfo);
  return rc;
}

#endif
