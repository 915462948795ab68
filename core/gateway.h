/* Gateways and destinations as this process runs them (gateway.c): a
 * gateway's live tunnels, picked round-robin, and each destination's side
 * that runs here (its handler instances, its listener). */
#ifndef GH_GATEWAY_H
#define GH_GATEWAY_H

#include <openssl/ssl.h>

#include "config.h"
#include "log.h"
#include "plugin.h"
#include "types.h"

/* ---- SDK handles ---- */

struct gh_inst {
  const gh_handler *h;
  gh__drt *d;
  uint32_t side;
  const char *prefix; /* "listen" or "resource" */
  void *data;
  int inited;
};

struct gh_listener {
  gh_inst *inst;
  gh__drt *d;
  void *data;
};

typedef struct gh__stats {
  uint64_t opened, active, refused, failed;
  uint64_t bytes_in;  /* from applications/resources into the tunnel */
  uint64_t bytes_out; /* from the tunnel to applications/resources */
  uint64_t dgrams_in, dgrams_out; /* datagram streams: datagrams carried */
  uint64_t dgrams_dropped;        /* ...and dropped (congestion, errors) */
} gh__stats;

/* ---- destinations, as this process runs them ---- */

/* One destination's local side: a listener for the side where this process
 * accepts applications, or the chain it connects with on the resource side.
 */
struct gh__drt {
  gh__dest *cfg;
  gh__gw *gw;
  uint32_t side; /* GH_SIDE_*: the side that runs here */
  const gh__chain *chain;
  char *listen_chain, *resource_chain; /* canonical text, for link_info */
  gh_inst insts[GH__CHAIN_MAX];
  gh_listener *listener;
  int refs;       /* the configuration's own + one per stream */
  uint64_t quiet_until_ms; /* refusals are logged once a second... */
  uint32_t quiet_refusals; /* ...with a count of those not logged */
  uint64_t notice_log_ms;  /* a client's NOTICEs for it: a few a second */
  uint32_t notice_quiet;
  uint32_t notice_n;
  int retired;    /* removed from the configuration */
  int32_t status; /* 0 fine, or the error that stops it */
  char *error;    /* its text, for logs and /status */
  gh__stats st;
};

/* Builds the runtime of d's side `side` (inst_init for each handler of the
 * chain). Takes ownership of cfg on success. */
int gh__drt_new(gh__gw *gw, gh__dest *cfg, uint32_t side, gh__drt **out,
                char *err, size_t errlen);
int gh__drt_listen(gh__drt *d, const char *host, uint16_t port);
void gh__drt_retire(gh__drt *d); /* stop listening; free when unused */
void gh__drt_unref(gh__drt *d);
void gh__drt_set_error(gh__drt *d, int32_t status, const char *msg);
/* Puts "FILE:LINE: " of c's section before err (when c comes from a file). */
void gh__prefix_line(const gh__dest *c, char *err, size_t errlen);
/* `check`: builds side `side` of c (taken) as a start would, handlers'
 * inst_init included, then frees it: 0, or the error with FILE:LINE. */
int gh__dest_try(gh__dest *c, uint32_t side, char *err, size_t errlen);

/* ---- gateways ---- */

struct gh__gw {
  gh__rt *rt;
  char *id;
  const gh__server_gw *scfg; /* server */
  uint8_t *push;             /* server: the destination set it pushes */
  size_t push_len;
  const gh__client_gw *ccfg; /* client */
  SSL_CTX *ctx;              /* client: its TLS context */
  gh__slot *slots;           /* client: servers x connections */
  size_t n_slots;
  gh__tunnel **live; /* tunnels up, for round-robin */
  size_t n_live, cap_live, rr;
  gh__drt **dests;
  size_t n_dests;
  gh__stats st;
  uint64_t reconnects, refusals;
  gh__rl push_log; /* client: lines its server's pushes cause */
  /* server: its authenticated tunnels, and what its caps refused */
  uint32_t n_tunnels;
  uint64_t tunnels_refused, streams_refused;
  /* Removed by a reload: its tunnels are closed and its destinations
   * retired; the struct stays (tunnels and streams being torn down may
   * still point at it) but nothing finds or reports it. */
  int removed;
};

gh__tunnel *gh__gw_pick(gh__gw *gw); /* next live tunnel, round-robin */
void gh__gw_add_live(gh__gw *gw, gh__tunnel *t);
void gh__gw_del_live(gh__gw *gw, gh__tunnel *t);
gh__drt *gh__gw_find_dest(gh__gw *gw, const char *name, size_t len);
/* Server: the gateway has streams_max streams open; a new one is refused
 * (and counted in gw->streams_refused). */
int gh__gw_streams_full(gh__gw *gw);

/* Closes the tunnels of gw, retires its destinations, marks it removed. */
void gh__gw_remove(gh__gw *gw, const char *why);

#endif
