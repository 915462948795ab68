/* The console's ring of recent events: a lower-layer module (it includes
 * nothing of the engine or the roles), so that the data engine can record
 * an event beside a log line; /api/v1 (console/api.c) renders the ring.
 * Single-threaded: the loop's thread only. */
#ifndef GH_CONSOLE_EVENTS_H
#define GH_CONSOLE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "gatehouse/gatehouse.h"

#define GH__CONSOLE_EVENTS 256 /* recent events kept */

/* Events, newest kept, oldest dropped: a kind, the subject it is about (as
 * logged) and a message. Peer text is escaped when rendered. */
enum {
  GH__EV_TUNNEL_UP,
  GH__EV_TUNNEL_DOWN,
  GH__EV_REFUSED,
  GH__EV_RELOAD,
  GH__EV_NOTICE,
  GH__EV_KINDS
};

typedef struct gh__event_rec {
  uint64_t time_ms; /* wall clock */
  int kind;
  char subject[128];
  char message[256];
} gh__event_rec;

void gh__event(int kind, const char *subject, const char *fmt, ...)
    GH_PRINTF(3, 4);
const char *gh__event_kind_name(int kind);
/* The i-th newest event kept (0: the newest), or NULL past the last. */
const gh__event_rec *gh__event_newest(size_t i);
/* Events ever recorded: a poller sees what it missed. */
uint64_t gh__events_total(void);

#endif
