/* Socket addresses the process binds (address.c). */
#ifndef GH_ADDRESS_H
#define GH_ADDRESS_H

#include <stdint.h>
#include <sys/socket.h>

/* A bind address (host may be NULL, empty or a name): 0 or GH_ENOTFOUND. */
int gh__sockaddr_resolve(const char *host, uint16_t port,
                         struct sockaddr_storage *ss);

#endif
