/* The tunnel's TLS transport (tlsio.c): one OpenSSL BIO over a libuv
 * stream, both ways, with no memory BIO in between.
 *
 * Reading: what the socket read is lent to OpenSSL for the duration of the
 * read callback (gh__tlsio_input ... gh__tlsio_input_done); SSL_read takes
 * records straight from it. Only bytes OpenSSL leaves unread are copied.
 * Writing: SSL_write's records go into 64 KiB chunks; gh__tlsio_flush
 * writes them with uv_try_write and submits what the socket did not take
 * as ONE uv_write of all chunks. While that write is in flight, new chunks
 * wait and go out together when it completes: one request, one writev,
 * however many records a turn made. */
#ifndef GH_TLSIO_H
#define GH_TLSIO_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct gh__tlsio_chunk gh__tlsio_chunk;
typedef struct gh__tlsio gh__tlsio;

/* Called when a submitted write completed (status < 0: it failed). */
typedef void (*gh__tlsio_written_cb)(gh__tlsio *io, int status);

struct gh__tlsio {
  uv_stream_t *stream;
  gh__tlsio_written_cb on_written;
  const uint8_t *in; /* read bytes OpenSSL has not taken yet */
  size_t in_len;
  uint8_t *keep; /* what OpenSSL left of a read, kept past the callback */
  size_t keep_cap;
  gh__tlsio_chunk *pend_head, *pend_tail; /* filled, not yet submitted */
  gh__tlsio_chunk *flight;                /* the batch uv_write is writing */
  gh__tlsio_chunk *spare;                 /* one chunk kept for reuse */
  size_t pending;                         /* bytes in pend */
  unsigned n_pend;                        /* chunks in pend */
  size_t inflight;                        /* bytes in flight */
  uint64_t sent; /* bytes the socket took, in all (console) */
};

void gh__tlsio_init(gh__tlsio *io, uv_stream_t *stream,
                    gh__tlsio_written_cb on_written);
/* A BIO reading and writing through io, for SSL_set_bio(ssl, b, b). */
BIO *gh__tlsio_bio(gh__tlsio *io);
/* Lends buf to OpenSSL (after what an earlier read left). */
void gh__tlsio_input(gh__tlsio *io, const void *buf, size_t len);
/* The read callback ends: what OpenSSL left is copied to be read later,
 * or, with keep 0 (the tunnel is closing), dropped. */
void gh__tlsio_input_done(gh__tlsio *io, int keep);
/* Writes what SSL_write produced: 0, or a libuv error. */
int gh__tlsio_flush(gh__tlsio *io);
/* Encrypted bytes not yet written: waiting and in flight. */
static inline size_t gh__tlsio_queued(const gh__tlsio *io) {
  return io->pending + io->inflight;
}
/* Frees what was never submitted (the handle is closing). Chunks in
 * flight are freed by their write's callback, which libuv runs (cancelled)
 * before the handle's close callback. */
void gh__tlsio_discard(gh__tlsio *io);

#endif
