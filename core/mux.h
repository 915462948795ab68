/* Streams over a tunnel (mux.c): the frames of a stream (OPEN, DATA,
 * WINDOW, DGRAM, RESET) and their credit. */
#ifndef GH_MUX_H
#define GH_MUX_H

#include <stdint.h>

#include "frame.h"
#include "types.h"

/* Flow control: credit per stream and per tunnel (mux.c explains it). */
#define GH__WINDOW_INIT (256u * 1024u) /* credit of a new stream */
/* What a window may grow to: a stalled reader holds at most this much of
 * the session window, so a few of them cannot starve the other streams. */
#define GH__WINDOW_MAX (4u * 1024u * 1024u)
/* A window turned over faster than this plus two round trips grows. */
#define GH__WINDOW_FAST_MS 50u
#define GH__SESSION_WINDOW (64u * 1024u * 1024u) /* all streams of a tunnel */
/* More session credit than a peer may ever grant us: a protocol error. */
#define GH__SESSION_CREDIT_MAX (1024u * 1024u * 1024u)
#define GH__CREDIT_BATCH (32u * 1024u)   /* return credit in such steps */
#define GH__CREDIT_LAZY_MS 10u /* how long smaller credit waits for a ride */
#define GH__OUT_MAX (64u * 1024u)        /* stop reading a socket above it */
/* Read-ahead of all streams of one tunnel together: the bytes their `out`
 * buffers hold, read from sockets but not yet sent for want of credit or
 * room. GH__OUT_MAX alone bounds a stream, not a tunnel: a peer that opens
 * many streams and never returns credit would pin GH__OUT_MAX of our memory
 * for each (4 GiB at 65,536 streams). At the budget every stream of the
 * tunnel stops reading its socket; below GH__TUNNEL_OUT_LOW those held back
 * read again. 16 MiB is 256 full streams: far above what one fast stream
 * needs (GH__OUT_MAX), so only a tunnel whose peer holds credit back on
 * hundreds of streams ever reaches it. */
#define GH__TUNNEL_OUT_MAX (16u * 1024u * 1024u)
#define GH__TUNNEL_OUT_LOW (GH__TUNNEL_OUT_MAX / 4u * 3u)
/* Streams a peer may open on one tunnel at once (those waiting in its
 * open queue included). How many connect at once, and how many more wait
 * in the queue, are connecting_max and open_queue_max of [server] and
 * [client]. */
#define GH__PEER_STREAMS_MAX 65536u
/* Datagrams a datagram stream may hold while its OPEN is answered; more
 * are dropped. */
#define GH__DGRAM_QUEUE (64u * 1024u + 16u)

/* Mux, called by the tunnel for each stream frame. */
void gh__mux_frame(gh__tunnel *t, const gh__frame *f);
/* Sends down the DATA run gathered from t->rx (before any other frame,
 * and before t->rx moves): what gh__chain_down returned, 0 if none. */
int gh__mux_rx_flush(gh__tunnel *t);
/* End every datagram stream of t (the process is stopping). */
void gh__mux_end_dgrams(gh__tunnel *t);
/* The tunnel is gone: reset and detach every stream. */
void gh__mux_tunnel_down(gh__tunnel *t);
/* Send what streams have waiting, round-robin, while the tunnel can. */
void gh__mux_pump(gh__tunnel *t);
/* Emit the WINDOW frames owed. */
void gh__mux_credit_flush(gh__tunnel *t);
/* Starts the queued opens that the connecting limit now allows (at the end
 * of a loop turn, so never inside a transport's callback). */
void gh__mux_open_next(gh__tunnel *t);
/* A stream of the peer's finished connecting (either way): one less in
 * t->peer_opening, and the queue may move. */
void gh__mux_connect_done(gh__stream *s);
/* connecting_max changed (a reload): the queues may move now. */
void gh__mux_limits_changed(gh__rt *rt);
/* Sends the small credit that was waiting for a frame to ride with. */
void gh__mux_lazy_flush(void);
/* The transport wrote n bytes that came from the tunnel. */
void gh__mux_written(gh__stream *s, uint32_t n);
/* Registers s as stream id of t: 0 (aborts when out of memory). */
int gh__mux_attach(gh__tunnel *t, gh__stream *s, uint32_t id);
void gh__mux_detach(gh__stream *s);
/* May s read its socket as far as its tunnel's read-ahead budget goes? 1,
 * or 0 with s kept on t->out_heldq to read again below GH__TUNNEL_OUT_LOW. */
int gh__mux_out_room(gh__stream *s);

/* The top of the chain into the tunnel: bytes / EOF of stream s, framed
 * as credit and room allow (the rest waits in s->out). */
void gh__mux_send(gh__stream *s, const uint8_t *data, uint32_t len);
void gh__mux_send_eof(gh__stream *s);
/* The stream is open (the peer answered our OPEN, or our resource is
 * connected): send what waited for it. */
void gh__mux_opened(gh__stream *s);

#endif
