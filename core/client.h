/* The client role (client.c): keeps `connections` tunnels to each server
 * of each gateway, runs the destinations the server pushes, checks its
 * ACL before a resource is connected. */
#ifndef GH_CLIENT_H
#define GH_CLIENT_H

#include <uv.h>

#include "runtime.h"

/* A client's connection slot: one of `connections` tunnels to one server. */
struct gh__slot {
  gh__gw *gw;
  char *host; /* of the server, as written */
  uint16_t port;
  uint32_t index;
  gh__tunnel *t;
  uv_timer_t retry;
  uv_getaddrinfo_t gai;
  int resolving;
  uint32_t attempts;
  int stopped;
};


/* The caller zeroes rt (and may set tls_mem) first. cfg is heap-allocated
 * and the runtime's from now on: a reload replaces and frees it. */
int gh__client_start(gh__rt *rt, gh__client_cfg *cfg, char *err, size_t errlen);
/* SIGHUP: as gh__server_reload. */
int gh__client_reload(gh__rt *rt, const char *path, char *err, size_t errlen);

#endif
