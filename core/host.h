/* The host table handed to plugins (host.c): thin adapters over the
 * core's modules. */
#ifndef GH_HOST_H
#define GH_HOST_H

#include <gatehouse/gatehouse.h>

extern const gh_host gh__host;

#endif
