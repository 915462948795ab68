/* The accept loop of a stream listener (tcp, unix) on a socket of its own:
 * a non-blocking listening descriptor watched with a uv_poll_t, accepted
 * in bursts with accept4(), and paused for SL_PAUSE_MS after an accept
 * error rather than spinning on a readable socket it cannot accept from.
 * What to do with an accepted socket and with an error is the transport's
 * (an sl_kind).
 *
 * Compiled into each transport that uses it, with hidden visibility: a
 * plugin still exports gh_plugin_entry only. It needs libuv and the SDK
 * header, nothing of the core.
 *
 * Lifetime: an sl_listener lives from a successful sl_start() to the close
 * callback of its handles after sl_close(); then host->listener_closed(). */
#ifndef GH_PLUGINS_SLISTEN_H
#define GH_PLUGINS_SLISTEN_H

#include <stdint.h>
#include <uv.h>

#include "gatehouse/gatehouse.h"

#define SL_BACKLOG 511
#define SL_ACCEPT_BURST 64u /* per loop turn, to stay fair to the others */
#define SL_PAUSE_MS 250u

typedef struct sl_listener sl_listener;

typedef struct sl_kind {
  /* An accepted socket, non-blocking and close-on-exec: now the kind's. */
  void (*accept)(sl_listener *sl, int fd);
  /* accept() (or the poll) failed with err, a libuv error: 1 when the
   * kind dealt with it and accepting goes on, 0 to pause. */
  int (*failed)(sl_listener *sl, int err);
  /* The listener stops (before its socket closes); may be NULL. */
  void (*closing)(sl_listener *sl);
} sl_kind;

/* The first member of the transport's listener, which is allocated with
 * host->alloc() and zeroed; sl_start() hands the allocation over. */
struct sl_listener {
  uv_poll_t poll;
  uv_timer_t pause; /* accepting again after an accept error */
  int fd;
  gh_listener *l; /* NULL until sl_start() succeeds */
  uint8_t handles;
  uint8_t closing;
};

/* Once, from the plugin's init(). */
void sl_setup(const gh_host *host, const sl_kind *kind);

/* Accepts on the listening socket fd for l. 0: sl is l's listener data;
 * or a libuv error, with fd closed and sl freed (now or once its handles
 * are closed, without listener_closed()). */
int sl_start(sl_listener *sl, int fd, gh_listener *l);

/* The transport's unlisten(). */
void sl_unlisten(gh_listener *l);

#endif
