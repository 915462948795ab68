/* The server role (server.c): accepts tunnels, authenticates them by
 * gateway and token, pushes each gateway's destinations. */
#ifndef GH_SERVER_H
#define GH_SERVER_H

#include <stdint.h>
#include <sys/socket.h>

#include "runtime.h"

/* The caller zeroes rt (and may set tls_mem) first. cfg is heap-allocated
 * and the runtime's from now on: a reload replaces and frees it. */
int gh__server_start(gh__rt *rt, gh__server_cfg *cfg, char *err, size_t errlen);
/* SIGHUP: re-read the configuration file and apply what changed. An
 * invalid file changes nothing: GH_EINVAL with the reason in err.
 * Otherwise returns how many new destinations could not start (each
 * logged; the others run): 0 when all did. */
int gh__server_reload(gh__rt *rt, const char *path, char *err, size_t errlen);
/* Server: the source of a connection as unauth_per_source counts it: an
 * IPv4 address (IPv4-mapped IPv6 alike), or the /64 of an IPv6 address,
 * since one host commonly holds a whole /64. Zero for another family. */
void gh__source_key(const struct sockaddr *sa, uint8_t key[16]);

#endif
