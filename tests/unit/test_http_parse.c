/* The http layer's message parser (plugins/http/http_parse.c), included
 * here whole: it is SDK-free and the unit tests link only the core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the above first */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/http/http_parse.c"

#define MAXEV 128

/* What a run of the parser over an input saw: each event with the input
 * offset it came at, and the final verdict. */
typedef struct trace {
  int n;
  int ev[MAXEV];
  size_t at[MAXEV];
  http_msg msg[MAXEV]; /* at each HEAD event */
  int error;           /* 0, or the status of the error */
  size_t error_at;
  size_t used; /* bytes consumed in all */
} trace;

/* Feeds `in` in pieces of at most `step` bytes (0: all at once); for a
 * response parser, req_flags are given for every message. */
static void run(http_parser *p, const char *in, size_t len, size_t step,
                uint8_t req_flags, trace *t) {
  memset(t, 0, sizeof *t);
  size_t off = 0;
  while (off < len) {
    size_t n = step ? step : len - off;
    if (n > len - off)
      n = len - off;
    size_t base = off, k = 0;
    while (k < n) {
      size_t used = 0;
      p->req_flags = req_flags;
      int ev = http_feed(p, (const uint8_t *)in + base + k, n - k, &used);
      k += used;
      if (ev < 0) {
        t->error = p->err_status;
        t->error_at = base + k;
        t->used = base + k;
        return;
      }
      if (ev && t->n < MAXEV) {
        t->ev[t->n] = ev;
        t->at[t->n] = base + k;
        t->msg[t->n] = p->msg;
        t->n++;
      }
      if (!ev)
        assert_int_equal(used, n - (k - used));
    }
    off += n;
  }
  t->used = off;
}

static void req(const char *in, size_t step, trace *t) {
  http_parser p;
  http_parser_init(&p, HTTP_REQUEST, 16384);
  run(&p, in, strlen(in), step, 0, t);
}

static void resp(const char *in, uint8_t flags, trace *t) {
  http_parser p;
  http_parser_init(&p, HTTP_RESPONSE, 16384);
  run(&p, in, strlen(in), 0, flags, t);
}

static int same_trace(const trace *a, const trace *b) {
  if (a->n != b->n || a->error != b->error)
    return 0;
  for (int i = 0; i < a->n; i++)
    if (a->ev[i] != b->ev[i] || a->at[i] != b->at[i])
      return 0;
  return 1;
}

/* ------------------------------------------------------------ requests */

static void t_simple_get(void **s) {
  (void)s;
  trace t;
  const char *in = "GET /a?b=c HTTP/1.1\r\nHost: x.example:8080\r\n"
                   "Accept: */*\r\n\r\n";
  req(in, 0, &t);
  assert_int_equal(t.error, 0);
  assert_int_equal(t.n, 1);
  assert_int_equal(t.ev[0], HTTP_EV_HEAD | HTTP_EV_DONE);
  assert_int_equal(t.at[0], strlen(in));
  assert_int_equal(t.msg[0].method, HTTP_M_GET);
  assert_int_equal(t.msg[0].minor, 1);
  assert_int_equal(t.msg[0].body, HTTP_BODY_NONE);
  assert_int_equal(t.msg[0].keep_alive, 1);
  assert_int_equal(t.msg[0].hosts, 1);
  assert_int_equal(t.msg[0].head_len, strlen(in));
  assert_int_equal(t.msg[0].line_off, 0);
}

static void t_body_length_and_pipelining(void **s) {
  (void)s;
  const char *in = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"
                   "hello"
                   "HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"
                   "\r\n" /* an empty line between requests is ignored */
                   "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  trace whole, t;
  req(in, 0, &whole);
  assert_int_equal(whole.error, 0);
  assert_int_equal(whole.n, 4);
  assert_int_equal(whole.ev[0], HTTP_EV_HEAD);
  assert_int_equal(whole.msg[0].body, HTTP_BODY_LENGTH);
  assert_int_equal(whole.msg[0].content_length, 5);
  assert_int_equal(whole.ev[1], HTTP_EV_DONE);
  assert_int_equal(whole.ev[2], HTTP_EV_HEAD | HTTP_EV_DONE);
  assert_int_equal(whole.msg[2].method, HTTP_M_HEAD);
  assert_int_equal(whole.ev[3], HTTP_EV_HEAD | HTTP_EV_DONE);
  assert_int_equal(whole.msg[3].line_off, 2);
  assert_int_equal(whole.msg[3].keep_alive, 0);
  assert_int_equal(whole.msg[3].conn_close, 1);
  assert_int_equal(whole.at[3], strlen(in));
  /* every split gives the same events at the same offsets */
  for (size_t step = 1; step < 40; step++) {
    req(in, step, &t);
    assert_true(same_trace(&whole, &t));
  }
}

static void t_chunked_request(void **s) {
  (void)s;
  const char *in = "PUT /c HTTP/1.1\r\nHost: h\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n"
                   "A;name=value;q=\"a;b\"\r\n0123456789\r\n"
                   "3 ;ext\r\nabc\r\n"
                   "0\r\nX-Trailer: 1\r\nOther: two\r\n\r\n"
                   "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  trace whole, t;
  req(in, 0, &whole);
  assert_int_equal(whole.error, 0);
  assert_int_equal(whole.n, 3);
  assert_int_equal(whole.msg[0].body, HTTP_BODY_CHUNKED);
  assert_int_equal(whole.ev[1], HTTP_EV_DONE);
  assert_int_equal(whole.ev[2], HTTP_EV_HEAD | HTTP_EV_DONE);
  for (size_t step = 1; step < 20; step++) {
    req(in, step, &t);
    assert_true(same_trace(&whole, &t));
  }
}

static void t_http10(void **s) {
  (void)s;
  trace t;
  req("GET / HTTP/1.0\r\n\r\n", 0, &t);
  assert_int_equal(t.error, 0);
  assert_int_equal(t.msg[0].minor, 0);
  assert_int_equal(t.msg[0].hosts, 0);
  assert_int_equal(t.msg[0].keep_alive, 0);
  req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, &t);
  assert_int_equal(t.msg[0].keep_alive, 1);
}

static void t_upgrade_and_expect(void **s) {
  (void)s;
  trace t;
  req("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
      "Upgrade: websocket\r\n\r\n",
      0, &t);
  assert_int_equal(t.msg[0].upgrade, 1);
  req("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", 0, &t);
  assert_int_equal(t.msg[0].upgrade, 0); /* no Connection: upgrade */
  req("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
      "Content-Length: 1\r\n\r\nx",
      0, &t);
  assert_int_equal(t.msg[0].expect_continue, 1);
}

typedef struct refusal {
  const char *in;
  int status;
} refusal;

static const refusal refusals[] = {
    /* smuggling shapes */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "Content-Length: 3\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
     "Content-Length: 4\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
     "Content-Length: 3\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\n"
     "Content-Length: 1000000000000000000\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     501},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
    {"POST / HTTP/1.1\r\nHost: h\r\nX: a\r\n Transfer-Encoding: "
     "chunked\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded\r\n\r\n", 400},
    /* bare LF and lone CR */
    {"GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nX: a\rb\r\nHost: h\r\n\r\n", 400},
    /* request line */
    {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400},
    {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / http/1.1\r\nHost: h\r\n\r\n", 400},
    {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
    {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400},
    {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501},
    /* fields */
    {"GET / HTTP/1.1\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX\x01: a\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400},
    {"GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n", 400},
    /* chunked bodies */
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0x5\r\nhello\r\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\nhello\r\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhelloX\r\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5 \r\nhello\r\n0\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "-1\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "10000000000000000\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nbad trailer\r\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nX: 1\n\r\n",
     400},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;a\x01\r\nx\r\n0\r\n\r\n",
     400},
};

static void t_refusals(void **s) {
  (void)s;
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    trace whole, bytewise;
    req(refusals[i].in, 0, &whole);
    req(refusals[i].in, 1, &bytewise);
    if (whole.error != refusals[i].status ||
        bytewise.error != refusals[i].status)
      fail_msg("refusal %zu: got %d/%d, want %d for \"%s\"", i, whole.error,
               bytewise.error, refusals[i].status, refusals[i].in);
    /* once failed, it stays failed */
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST, 16384);
    size_t used;
    const char *in = refusals[i].in;
    while (http_feed(&p, (const uint8_t *)in, strlen(in), &used) >= 0 &&
           used < strlen(in))
      in += used;
    assert_int_equal(http_feed(&p, (const uint8_t *)"GET", 3, &used),
                     HTTP_ERROR);
  }
}

static void t_accepted_shapes(void **s) {
  (void)s;
  static const char *const ok[] = {
      "GET * HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET http://a.example/x HTTP/1.1\r\nHost: b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost:\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
      "GET / HTTP/1.1\r\nhOsT:h\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n"
      "\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked , \r\n\r\n0\r\n"
      "\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  007 \r\n\r\nabcdefg",
      "GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9 \t value\r\n\r\n",
      "M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: \"odd\", close\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    trace t;
    req(ok[i], 0, &t);
    if (t.error || t.n == 0)
      fail_msg("accepted %zu: error %d for \"%s\"", i, t.error, ok[i]);
  }
}

static void t_limits(void **s) {
  (void)s;
  char big[3000];
  http_parser p;
  trace t;
  /* a head of exactly max_head bytes passes, one more byte is 431 */
  const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  size_t fixed = strlen(pre) + 4;
  for (int extra = 0; extra <= 1; extra++) {
    size_t vl = 2048 - fixed + (size_t)extra;
    size_t n = strlen(pre);
    memcpy(big, pre, n);
    memset(big + n, 'a', vl);
    memcpy(big + n + vl, "\r\n\r\n", 5);
    assert_int_equal(strlen(big), 2048 + (size_t)extra);
    http_parser_init(&p, HTTP_REQUEST, 2048);
    run(&p, big, strlen(big), 0, 0, &t);
    assert_int_equal(t.error, extra ? 431 : 0);
  }
  /* a request-target over the limit is 414 */
  memset(big, 'a', sizeof big);
  memcpy(big, "GET /", 5);
  http_parser_init(&p, HTTP_REQUEST, 1024);
  run(&p, big, 2000, 0, 0, &t);
  assert_int_equal(t.error, 414);
  /* a trailer section over the limit is 431 */
  http_parser_init(&p, HTTP_REQUEST, 1024);
  const char *h = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                  "\r\n0\r\n";
  run(&p, h, strlen(h), 0, 0, &t);
  assert_int_equal(t.error, 0);
  memset(big, 'b', sizeof big);
  memcpy(big, "T: ", 3);
  run(&p, big, 1500, 0, 0, &t);
  assert_int_equal(t.error, 431);
  /* a chunk line over HTTP_CHUNK_LINE_MAX */
  static char line[HTTP_CHUNK_LINE_MAX + 64];
  memset(line, 'e', sizeof line);
  memcpy(line, "1;", 2);
  http_parser_init(&p, HTTP_REQUEST, 1024);
  run(&p, h, strlen(h) - 3, 0, 0, &t);
  run(&p, line, sizeof line, 0, 0, &t);
  assert_int_equal(t.error, 400);
}

static void t_large_sizes(void **s) {
  (void)s;
  /* the largest Content-Length and chunk size are taken, counted down */
  http_parser p;
  http_parser_init(&p, HTTP_REQUEST, 16384);
  const char *h = "PUT / HTTP/1.1\r\nHost: h\r\n"
                  "Content-Length: 999999999999999999\r\n\r\n";
  size_t used;
  assert_int_equal(http_feed(&p, (const uint8_t *)h, strlen(h), &used),
                   HTTP_EV_HEAD);
  assert_true(p.msg.content_length == HTTP_LENGTH_MAX);
  static uint8_t zeros[65536];
  assert_int_equal(http_feed(&p, zeros, sizeof zeros, &used), 0);
  assert_int_equal(used, sizeof zeros);
  assert_true(p.remaining == HTTP_LENGTH_MAX - sizeof zeros);

  http_parser_init(&p, HTTP_REQUEST, 16384);
  h = "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "fffffffffffffff\r\n";
  assert_int_equal(http_feed(&p, (const uint8_t *)h, strlen(h), &used),
                   HTTP_EV_HEAD);
  h += used;
  assert_int_equal(http_feed(&p, (const uint8_t *)h, strlen(h), &used), 0);
  assert_true(p.remaining == 0xfffffffffffffffull);
}

/* ------------------------------------------------------------ responses */

static void t_responses(void **s) {
  (void)s;
  trace t;
  resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 0, &t);
  assert_int_equal(t.n, 2);
  assert_int_equal(t.msg[0].status, 200);
  assert_int_equal(t.ev[1], HTTP_EV_DONE);
  /* HEAD: the Content-Length describes a body that is not sent */
  resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", HTTP_REQ_HEAD, &t);
  assert_int_equal(t.ev[0], HTTP_EV_HEAD | HTTP_EV_DONE);
  resp("HTTP/1.1 204 No Content\r\n\r\n", 0, &t);
  assert_int_equal(t.ev[0], HTTP_EV_HEAD | HTTP_EV_DONE);
  resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0, &t);
  assert_int_equal(t.ev[0], HTTP_EV_HEAD | HTTP_EV_DONE);
  /* 1xx are interim: a final response follows */
  resp("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
       "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       0, &t);
  assert_int_equal(t.error, 0);
  assert_int_equal(t.n, 3);
  assert_int_equal(t.msg[0].interim, 1);
  assert_int_equal(t.ev[0], HTTP_EV_HEAD | HTTP_EV_DONE);
  assert_int_equal(t.msg[1].status, 201);
  assert_int_equal(t.msg[1].body, HTTP_BODY_CHUNKED);
  /* a missing reason phrase is taken */
  resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, &t);
  assert_int_equal(t.error, 0);
  assert_int_equal(t.msg[0].body, HTTP_BODY_NONE);
  /* 101 to an upgrade request switches; to anything else it is refused */
  resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw\x01",
       HTTP_REQ_UPGRADE, &t);
  assert_int_equal(t.error, 0);
  assert_int_equal(t.ev[0], HTTP_EV_HEAD | HTTP_EV_DONE | HTTP_EV_TUNNEL);
  resp("HTTP/1.1 101 Switching Protocols\r\n\r\n", 0, &t);
  assert_int_equal(t.error, 502);
  /* framing conflicts and junk are a bad gateway */
  resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
       "\r\n",
       0, &t);
  assert_int_equal(t.error, 502);
  resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 0,
       &t);
  assert_int_equal(t.error, 502);
  resp("HTTP/1.1 2000 OK\r\n\r\n", 0, &t);
  assert_int_equal(t.error, 502);
  resp("HTTP/1.1 099 Low\r\n\r\n", 0, &t);
  assert_int_equal(t.error, 502);
  resp("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", 0, &t);
  assert_int_equal(t.error, 502);
  resp("ICY 200 OK\r\n\r\n", 0, &t);
  assert_int_equal(t.error, 502);
}

static void t_until_close(void **s) {
  (void)s;
  http_parser p;
  http_parser_init(&p, HTTP_RESPONSE, 16384);
  const char *in = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome";
  size_t used;
  assert_int_equal(http_feed(&p, (const uint8_t *)in, strlen(in), &used),
                   HTTP_EV_HEAD);
  assert_int_equal(p.msg.body, HTTP_BODY_CLOSE);
  assert_int_equal(p.msg.keep_alive, 0);
  in += used;
  assert_int_equal(http_feed(&p, (const uint8_t *)in, strlen(in), &used), 0);
  assert_int_equal(http_finish(&p), HTTP_EV_DONE);
  /* chunked not last in a response: until close too */
  http_parser_init(&p, HTTP_RESPONSE, 16384);
  in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
  assert_int_equal(http_feed(&p, (const uint8_t *)in, strlen(in), &used),
                   HTTP_EV_HEAD);
  assert_int_equal(p.msg.body, HTTP_BODY_CLOSE);
  /* between messages: a clean end; inside one: cut short */
  http_parser_init(&p, HTTP_REQUEST, 16384);
  assert_int_equal(http_finish(&p), 0);
  in = "GET / HTTP/1.1\r\nHo";
  assert_int_equal(http_feed(&p, (const uint8_t *)in, strlen(in), &used), 0);
  assert_int_equal(http_finish(&p), HTTP_ERROR);
  assert_int_equal(p.err_status, 400);
}

/* ------------------------------------------------------------ helpers */

static void t_head_fields(void **s) {
  (void)s;
  const char *h = "\r\nGET / HTTP/1.1\r\nHost:  a.example \r\nX-Empty:\r\n"
                  "X-Two: b  c\t\r\n\r\n";
  const uint8_t *u = (const uint8_t *)h;
  size_t len = strlen(h), pos = 0;
  assert_int_equal(http_head_start_end(u, len, 2), 18);
  http_field f;
  assert_int_equal(http_head_next(u, len, &pos, &f), 1);
  assert_true(http_name_eq(f.name, f.name_len, "host"));
  assert_int_equal(f.value_len, 9);
  assert_memory_equal(f.value, "a.example", 9);
  assert_int_equal(f.line_len, strlen("Host:  a.example \r\n"));
  assert_int_equal(http_head_next(u, len, &pos, &f), 1);
  assert_int_equal(f.value_len, 0);
  assert_int_equal(http_head_next(u, len, &pos, &f), 1);
  assert_int_equal(f.value_len, 4);
  assert_memory_equal(f.value, "b  c", 4);
  assert_int_equal(http_head_next(u, len, &pos, &f), 0);
  assert_int_equal(http_head_next(u, len, &pos, &f), 0);
}

static void t_validators(void **s) {
  (void)s;
  assert_true(http_token_valid("X-Thing", 7));
  assert_false(http_token_valid("X Thing", 7));
  assert_false(http_token_valid("", 0));
  assert_true(http_value_valid("a b\tc\x80", 6));
  assert_false(http_value_valid("a\r\nb", 4));
  assert_false(http_value_valid("a\0b", 3));
  assert_true(http_host_valid("[::1]:8080", 10));
  assert_true(http_host_valid("internal.example", 16));
  assert_false(http_host_valid("a\"b", 3));
  assert_false(http_host_valid("a b", 3));
  assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
  static const unsigned answered[] = {400, 408, 414, 431, 501, 502, 503, 505};
  for (size_t i = 0; i < sizeof answered / sizeof answered[0]; i++)
    assert_string_not_equal(http_status_text(answered[i]), "Error");
}

/* Random splits of a long pipelined stream of mixed messages agree. */
static void t_random_splits(void **s) {
  (void)s;
  static char in[8192];
  size_t n = 0;
  for (int i = 0; i < 40; i++)
    n += (size_t)snprintf(
        in + n, sizeof in - n, "%s",
        i % 3 == 0 ? "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
        : i % 3 == 1
            ? "POST /y HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"
            : "PUT /z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
              "\r\n2\r\nab\r\n1;e=1\r\nc\r\n0\r\nT: v\r\n\r\n");
  trace whole, t;
  req(in, 0, &whole);
  assert_int_equal(whole.error, 0);
  assert_int_equal(whole.n, 40 + 40 * 2 / 3);
  uint32_t x = 12345;
  for (int round = 0; round < 200; round++) {
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST, 16384);
    trace r;
    memset(&r, 0, sizeof r);
    size_t off = 0;
    while (off < n) {
      x = x * 1103515245u + 12345u;
      size_t k = 1 + (x >> 16) % 97;
      if (k > n - off)
        k = n - off;
      size_t done = 0;
      while (done < k) {
        size_t used;
        int ev =
            http_feed(&p, (const uint8_t *)in + off + done, k - done, &used);
        assert_true(ev >= 0);
        done += used;
        if (ev && r.n < MAXEV) {
          r.ev[r.n] = ev;
          r.at[r.n] = off + done;
          r.n++;
        }
      }
      off += k;
    }
    assert_true(same_trace(&whole, &r));
  }
  (void)t;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_simple_get),
      cmocka_unit_test(t_body_length_and_pipelining),
      cmocka_unit_test(t_chunked_request),
      cmocka_unit_test(t_http10),
      cmocka_unit_test(t_upgrade_and_expect),
      cmocka_unit_test(t_refusals),
      cmocka_unit_test(t_accepted_shapes),
      cmocka_unit_test(t_limits),
      cmocka_unit_test(t_large_sizes),
      cmocka_unit_test(t_responses),
      cmocka_unit_test(t_until_close),
      cmocka_unit_test(t_head_fields),
      cmocka_unit_test(t_validators),
      cmocka_unit_test(t_random_splits),
  };
  return cmocka_run_group_tests_name("http_parse", tests, NULL, NULL);
}
