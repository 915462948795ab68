/* A byte-stream connection over a libuv stream (a TCP socket, a Unix
 * socket), for the transports tcp and unix: reads into one shared buffer
 * and sends up, writes with uv_try_write() and queues a copy of the rest,
 * half-close, a connect deadline, and a close that lets queued bytes go
 * out first. What differs between the transports (the handle's type,
 * socket options, an abortive close by reset) comes in an sc_kind.
 *
 * Compiled into each transport that uses it, with hidden visibility: a
 * plugin still exports gh_plugin_entry only. It needs libuv and the SDK
 * header, nothing of the core.
 *
 * Lifetimes
 *   - An sc_conn lives from accept/connect to the close callback of its
 *     handles (the socket, and the timer when one was needed); then
 *     host->closed() if the conn still belongs to a link. A conn the core
 *     refused, or whose connect() failed synchronously, belongs to no link
 *     and is freed silently.
 *   - Once close() came (c->closing), no host function but log() and
 *     closed() is called for that link: libuv still runs the pending write
 *     and connect callbacks (with UV_ECANCELED) before the close callback;
 *     they only free what they own.
 */
#ifndef GH_PLUGINS_SCONN_H
#define GH_PLUGINS_SCONN_H

#include <stdint.h>
#include <uv.h>

#include "gatehouse/gatehouse.h"

/* How long an orderly close() waits for queued bytes to reach the socket
 * before it ends the connection (with a reset where the kind has one): a
 * peer that never reads must not pin the connection (and the core's
 * stream) for ever. */
#define SC_LINGER_MS 30000u

#define SC_IDLE 0
#define SC_CONNECTING 1 /* connect() issued, result not reported yet */
#define SC_OPEN 2       /* accepted, or connected and reported */
#define SC_FAILED 3     /* connect failed or timed out (reported) */

typedef struct sc_conn {
  union { /* the kind's; no indirection on the way to the stream */
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_timer_t timer; /* connect deadline, then the linger bound of close() */
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  gh_link *link;   /* NULL while the conn belongs to no link */
  uint32_t writes; /* uv_write requests whose callback has not run */
  uint8_t handles; /* initialised handles not yet closed back */
  uint8_t state;   /* SC_* */
  uint8_t timer_on;
  uint8_t want_read; /* the core asked to read */
  uint8_t reading;   /* uv_read_start is in effect */
  uint8_t read_done; /* EOF or a read error came: never read again */
  uint8_t shut;      /* shutdown() was requested */
  uint8_t aborted;   /* host->abort() was called */
  uint8_t closing;   /* close() came, or the conn belongs to no link */
  uint8_t lingering; /* orderly close waiting for queued writes */
  uint8_t released;  /* uv_close was called */
} sc_conn;

typedef struct sc_kind {
  const char *name;    /* "tcp": what its log lines start with */
  uv_handle_type type; /* UV_TCP (h.tcp) or UV_NAMED_PIPE (h.pipe) */
  /* Connected, before the core is told (socket options); may be NULL. */
  void (*connected)(sc_conn *c);
  /* Closes c->h so that the peer sees a reset; NULL: a plain close. */
  void (*close_reset)(sc_conn *c, uv_close_cb cb);
} sc_kind;

/* Once, from the plugin's init(). */
void sc_setup(const gh_host *host, const sc_kind *kind);

/* A new conn with its handle initialised, belonging to no link; NULL when
 * out of memory. */
sc_conn *sc_new(void);

/* A new conn on the accepted socket fd, belonging to no link yet (see
 * sc_accepted()); or NULL with *err set, fd left to the caller. */
sc_conn *sc_adopt(int fd, int *err);

/* Gives an adopted conn to the core; one it refuses is released. */
void sc_accepted(sc_conn *c, gh_listener *l, const gh_addr *peer,
                 const gh_addr *local);

/* For connect(): sc_on_connect is the uv_connect_cb of c->connect_req;
 * sc_deadline() bounds the connect (0: no bound); sc_connecting() gives
 * the conn to the link once the connect is issued. */
void sc_on_connect(uv_connect_t *req, int status);
int sc_deadline(sc_conn *c, uint32_t timeout_ms);
void sc_connecting(sc_conn *c, gh_link *link);

/* Closes the conn's handles, with a reset if asked and the kind has one
 * and the conn is open; the close callback frees it. */
void sc_release(sc_conn *c, int reset);

/* The transport's callbacks. */
int32_t sc_write(gh_link *link, const uint8_t *data, uint32_t len);
int32_t sc_shutdown(gh_link *link);
void sc_read_start(gh_link *link);
void sc_read_stop(gh_link *link);
void sc_close(gh_link *link, int32_t reason);

#endif
