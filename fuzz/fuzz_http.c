/* The http layer's message parser (plugins/http/http_parse.c, included
 * whole: it is SDK-free and this target links only the core).
 *
 * The first input byte picks the parser (request or response), the flags
 * of the request a response answers, and how the rest is split; the rest
 * is the stream. Checked:
 *   - the whole stream at once and split into pieces reach the same events
 *     at the same offsets and the same verdict (incremental = one-shot);
 *   - http_feed() stops at events only: a call without an event or error
 *     used all its input;
 *   - every head it accepts is within max_head, ends in CRLF CRLF, has only
 *     CRLF line ends and fields http_head_next() can walk, each with a
 *     token name and a value without CR, LF or NUL, and a framing that is
 *     one of the known kinds; a request's Content-Length never comes with
 *     Transfer-Encoding;
 *   - http_finish() agrees with the state it is called in.
 * Any inconsistency abort()s. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/http/http_parse.c"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

#define MAX_HEAD 2048u
#define MAX_EV 512

typedef struct run_out {
  int n;
  int ev[MAX_EV];
  size_t at[MAX_EV];
  int error;
  size_t error_at;
  int finish;
} run_out;

/* Head bytes of the message being read, to check what was accepted. */
static uint8_t head[MAX_HEAD + 8];
static size_t head_len;

static void check_head(const http_parser *p) {
  const http_msg *m = &p->msg;
  CHECK(m->head_len == head_len);
  CHECK(head_len <= MAX_HEAD && head_len >= 4);
  CHECK(memcmp(head + head_len - 4, "\r\n\r\n", 4) == 0);
  for (size_t i = 0; i < head_len; i++) {
    if (head[i] == '\n')
      CHECK(i > 0 && head[i - 1] == '\r');
    if (head[i] == '\r')
      CHECK(i + 1 < head_len && head[i + 1] == '\n');
    CHECK(head[i] != 0);
  }
  size_t pos = 0;
  http_field f;
  int fields = 0;
  while (http_head_next(head, head_len, &pos, &f)) {
    CHECK(http_token_valid((const char *)f.name, f.name_len));
    CHECK(http_value_valid((const char *)f.value, f.value_len));
    CHECK(f.line + f.line_len <= head + head_len);
    fields++;
    CHECK(fields < (int)MAX_HEAD);
  }
  CHECK(pos == head_len);
  CHECK(m->body <= HTTP_BODY_CLOSE);
  if (p->type == HTTP_REQUEST) {
    CHECK(m->body != HTTP_BODY_CLOSE);
    CHECK(!(m->has_cl && m->has_te));
    CHECK(m->hosts <= 1);
    CHECK(m->minor == 0 || m->hosts == 1);
    CHECK(m->method != HTTP_M_CONNECT);
    CHECK(m->line_off < head_len);
  } else {
    CHECK(m->status >= 100 && m->status <= 999);
    if (m->upgrade)
      CHECK(m->status == 101 && (p->req_flags & HTTP_REQ_UPGRADE));
  }
  if (m->body == HTTP_BODY_LENGTH)
    CHECK(m->content_length > 0 && m->content_length <= HTTP_LENGTH_MAX);
}

static void run(const uint8_t *d, size_t len, uint32_t type, uint8_t flags,
                uint32_t seed, run_out *o) {
  http_parser p;
  http_parser_init(&p, type, MAX_HEAD);
  memset(o, 0, sizeof *o);
  head_len = 0;
  size_t off = 0;
  uint32_t x = seed | 1u;
  while (off < len) {
    size_t n = len - off;
    if (seed) { /* pieces of 1..64 bytes */
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      size_t k = 1 + x % 64;
      if (k < n)
        n = k;
    }
    size_t done = 0;
    while (done < n) {
      size_t used = 0;
      int in_head = http_in_head(&p);
      p.req_flags = flags;
      int ev = http_feed(&p, d + off + done, n - done, &used);
      CHECK(used <= n - done);
      if (in_head && ev >= 0) {
        CHECK(head_len + used <= MAX_HEAD);
        memcpy(head + head_len, d + off + done, used);
        head_len += used;
      }
      done += used;
      if (ev < 0) {
        CHECK(p.err_status >= 400 && p.err_status <= 505 && p.err);
        o->error = p.err_status;
        o->error_at = off + done;
        CHECK(http_feed(&p, d, len, &used) == HTTP_ERROR);
        CHECK(http_finish(&p) == HTTP_ERROR);
        return;
      }
      if (ev == 0) {
        CHECK(done == n);
        continue;
      }
      if (ev & HTTP_EV_HEAD) {
        CHECK(in_head);
        check_head(&p);
        head_len = 0;
      }
      if (ev & HTTP_EV_TUNNEL)
        CHECK(http_tunnel(&p) && (ev & HTTP_EV_DONE));
      if ((ev & HTTP_EV_DONE) && !(ev & HTTP_EV_TUNNEL))
        CHECK(http_idle(&p));
      if (o->n < MAX_EV) {
        o->ev[o->n] = ev;
        o->at[o->n] = off + done;
        o->n++;
      }
    }
    off += n;
  }
  int idle = http_idle(&p), tunnel = http_tunnel(&p);
  int close_body =
      !http_in_head(&p) && p.msg.body == HTTP_BODY_CLOSE && !tunnel;
  o->finish = http_finish(&p);
  if (idle || tunnel)
    CHECK(o->finish == 0);
  else if (close_body)
    CHECK(o->finish == HTTP_EV_DONE);
  else
    CHECK(o->finish == HTTP_ERROR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t ctl = data[0];
  uint32_t type = (ctl & 1) ? HTTP_RESPONSE : HTTP_REQUEST;
  uint8_t flags = (uint8_t)((ctl >> 1) & (HTTP_REQ_HEAD | HTTP_REQ_UPGRADE));
  uint32_t seed = (uint32_t)(ctl >> 3) * 2654435761u + 1u;
  data++;
  size--;
  static run_out whole, split;
  run(data, size, type, flags, 0, &whole);
  run(data, size, type, flags, seed, &split);
  CHECK(whole.n == split.n && whole.error == split.error &&
        whole.finish == split.finish);
  if (whole.error)
    CHECK(whole.error_at == split.error_at);
  for (int i = 0; i < whole.n; i++)
    CHECK(whole.ev[i] == split.ev[i] && whole.at[i] == split.at[i]);
  return 0;
}
