/* The core's objects, by name only: each is defined in its own module's
 * header (runtime.h, gateway.h, tunnel.h, stream.h, client.h), and a file
 * that only passes one along needs no more than this. */
#ifndef GH_TYPES_H
#define GH_TYPES_H

#include <stddef.h>

typedef struct gh__rt gh__rt;
typedef struct gh__gw gh__gw;
typedef struct gh__drt gh__drt;
typedef struct gh__tunnel gh__tunnel;
typedef struct gh__stream gh__stream;
typedef struct gh__slot gh__slot;

#endif
