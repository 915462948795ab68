/* The tunnel's TLS transport: see tlsio.h. */
#include <stdlib.h>
#include <string.h>

#include "tlsio.h"
#include "util.h"

#define CHUNK (64u * 1024u)
#define MAX_TRY_BUFS 64 /* chunks handed to one uv_try_write */

struct gh__tlsio_chunk {
  uv_write_t req; /* the first chunk of a batch carries its request */
  gh__tlsio *io;
  gh__tlsio_chunk *next;
  uint32_t off, len; /* written so far; filled so far */
  uint8_t data[CHUNK];
};

static BIO_METHOD *method;

static gh__tlsio_chunk *chunk_get(gh__tlsio *io) {
  gh__tlsio_chunk *c = io->spare;
  if (c)
    io->spare = NULL;
  else
    c = gh__xmalloc(sizeof(*c));
  c->io = io;
  c->next = NULL;
  c->off = c->len = 0;
  return c;
}

static void chunk_put(gh__tlsio *io, gh__tlsio_chunk *c) {
  if (!io->spare)
    io->spare = c;
  else
    free(c);
}

/* ---- the BIO ---- */

static int bio_write(BIO *b, const char *buf, int len) {
  gh__tlsio *io = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  size_t left = (size_t)len;
  while (left) {
    gh__tlsio_chunk *c = io->pend_tail;
    if (!c || c->len == CHUNK) {
      c = chunk_get(io);
      if (io->pend_tail)
        io->pend_tail->next = c;
      else
        io->pend_head = c;
      io->pend_tail = c;
      io->n_pend++;
    }
    size_t n = GH__MIN(left, (size_t)(CHUNK - c->len));
    memcpy(c->data + c->len, buf, n);
    c->len += (uint32_t)n;
    buf += n;
    left -= n;
    io->pending += n;
  }
  return len;
}

static int bio_read(BIO *b, char *buf, int len) {
  gh__tlsio *io = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (io->in_len == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = GH__MIN((size_t)len, io->in_len);
  memcpy(buf, io->in, n);
  io->in += n;
  io->in_len -= n;
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  gh__tlsio *io = BIO_get_data(b);
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH: /* the tunnel flushes at the end of its turn */
    return 1;
  case BIO_CTRL_PENDING:
    return (long)io->in_len;
  case BIO_CTRL_WPENDING:
    return (long)io->pending;
  default:
    return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

BIO *gh__tlsio_bio(gh__tlsio *io) {
  if (!method) { /* once: the loop thread is the only caller */
    method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                          "gatehouse tunnel");
    if (!method || !BIO_meth_set_write(method, bio_write) ||
        !BIO_meth_set_read(method, bio_read) ||
        !BIO_meth_set_ctrl(method, bio_ctrl) ||
        !BIO_meth_set_create(method, bio_create)) {
      BIO_meth_free(method);
      method = NULL;
      return NULL;
    }
  }
  BIO *b = BIO_new(method);
  if (b)
    BIO_set_data(b, io);
  return b;
}

/* ---- reading ---- */

void gh__tlsio_init(gh__tlsio *io, uv_stream_t *stream,
                    gh__tlsio_written_cb on_written) {
  memset(io, 0, sizeof(*io));
  io->stream = stream;
  io->on_written = on_written;
}

void gh__tlsio_input(gh__tlsio *io, const void *buf, size_t len) {
  if (io->in_len == 0) {
    io->in = buf;
    io->in_len = len;
    return;
  }
  /* Rare: OpenSSL left bytes of an earlier read (they are in keep). */
  size_t have = io->in_len;
  if (have + len > io->keep_cap) {
    io->keep_cap = have + len;
    uint8_t *k = gh__xmalloc(io->keep_cap);
    memcpy(k, io->in, have);
    free(io->keep);
    io->keep = k;
  } else {
    memmove(io->keep, io->in, have);
  }
  memcpy(io->keep + have, buf, len);
  io->in = io->keep;
  io->in_len = have + len;
}

void gh__tlsio_input_done(gh__tlsio *io, int keep) {
  if (!keep)
    io->in_len = 0;
  if (io->in_len == 0 || io->in == io->keep) {
    if (io->in_len == 0) {
      io->in = NULL;
      free(io->keep); /* held only while something was left */
      io->keep = NULL;
      io->keep_cap = 0;
    }
    return;
  }
  uint8_t *k = gh__xmalloc(io->in_len);
  memcpy(k, io->in, io->in_len);
  free(io->keep);
  io->keep = k;
  io->keep_cap = io->in_len;
  io->in = k;
}

/* ---- writing ---- */

static int submit(gh__tlsio *io);

static void on_written(uv_write_t *req, int status) {
  gh__tlsio_chunk *c = GH__CONTAINER_OF(req, gh__tlsio_chunk, req);
  gh__tlsio *io = c->io;
  while (c) {
    gh__tlsio_chunk *next = c->next;
    chunk_put(io, c);
    c = next;
  }
  if (status >= 0)
    io->sent += io->inflight;
  io->flight = NULL;
  io->inflight = 0;
  int r = status;
  if (r >= 0 && io->pending) /* what waited while this was written */
    r = submit(io);
  io->on_written(io, r);
}

/* Hands every pending chunk to one uv_write. */
static int submit(gh__tlsio *io) {
  uv_buf_t bufs[MAX_TRY_BUFS];
  uv_buf_t *b =
      io->n_pend > MAX_TRY_BUFS ? gh__xmalloc(io->n_pend * sizeof(*b)) : bufs;
  unsigned n = 0;
  for (gh__tlsio_chunk *c = io->pend_head; c; c = c->next)
    b[n++] = uv_buf_init((char *)c->data + c->off, c->len - c->off);
  gh__tlsio_chunk *first = io->pend_head;
  int r = uv_write(&first->req, io->stream, b, n, on_written);
  if (b != bufs)
    free(b); /* libuv copied the array */
  if (r < 0)
    return r;
  io->flight = first;
  io->inflight = io->pending;
  io->pend_head = io->pend_tail = NULL;
  io->pending = 0;
  io->n_pend = 0;
  return 0;
}

int gh__tlsio_flush(gh__tlsio *io) {
  if (!io->pending || io->flight)
    return 0; /* nothing to write, or it goes when the write in flight ends */
  uv_buf_t bufs[MAX_TRY_BUFS];
  unsigned n = 0;
  gh__tlsio_chunk *c = io->pend_head; /* not NULL: pending > 0 */
  do
    bufs[n++] = uv_buf_init((char *)c->data + c->off, c->len - c->off);
  while ((c = c->next) && n < MAX_TRY_BUFS);
  int r = uv_try_write(io->stream, bufs, n);
  if (r < 0 && r != UV_EAGAIN && r != UV_ENOSYS)
    return r;
  size_t done = r > 0 ? (size_t)r : 0;
  io->pending -= done;
  io->sent += done;
  while (done) { /* drop what the socket took */
    c = io->pend_head;
    size_t left = c->len - c->off;
    if (done < left) {
      c->off += (uint32_t)done;
      break;
    }
    done -= left;
    io->pend_head = c->next;
    if (!io->pend_head)
      io->pend_tail = NULL;
    io->n_pend--;
    chunk_put(io, c);
  }
  return io->pending ? submit(io) : 0;
}

void gh__tlsio_discard(gh__tlsio *io) {
  for (gh__tlsio_chunk *c = io->pend_head, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  io->pend_head = io->pend_tail = NULL;
  io->pending = 0;
  io->n_pend = 0;
  free(io->spare);
  io->spare = NULL;
  free(io->keep);
  io->keep = NULL;
  io->in = NULL;
  io->in_len = 0;
}
