/* Socket addresses the process binds: the tunnel listener, the admin
 * endpoint. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include <gatehouse/gatehouse.h>

#include "address.h"

int gh__sockaddr_resolve(const char *host, uint16_t port,
                         struct sockaddr_storage *ss) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  char ps[8];
  snprintf(ps, sizeof(ps), "%u", port);
  int r = getaddrinfo(host && *host ? host : NULL, ps, &hints, &res);
  if (r != 0)
    return GH_ENOTFOUND;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}
