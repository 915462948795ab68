/* The tunnel's frame codec (core/frame.c): header, every payload codec, and
 * what each decoder does with truncated, padded and out-of-range input.
 * Inputs are copied into buffers of their exact size, so that a read past
 * the end shows under AddressSanitizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

static gh__str S(const char *s) {
  gh__str v = {s, (uint32_t)strlen(s)};
  return v;
}

static int str_eq(gh__str a, gh__str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* A decoder behind one signature, so that the truncation checks run on all. */
typedef int (*decode_fn)(const uint8_t *p, size_t len);

static int dec_hello(const uint8_t *p, size_t len) {
  gh__hello h;
  return gh__hello_decode(p, len, &h);
}
static int dec_welcome(const uint8_t *p, size_t len) {
  gh__welcome w;
  return gh__welcome_decode(p, len, &w);
}
static int dec_open(const uint8_t *p, size_t len) {
  gh__open o;
  return gh__open_decode(p, len, &o);
}
static int dec_fail(const uint8_t *p, size_t len) {
  gh__fail f;
  return gh__fail_decode(p, len, &f);
}
static int dec_notice(const uint8_t *p, size_t len) {
  gh__notice n;
  return gh__notice_decode(p, len, &n);
}
static int dec_window(const uint8_t *p, size_t len) {
  uint32_t v;
  return gh__window_decode(p, len, &v);
}

/* Runs dec on an exact-size copy of p[0..len). */
static int run_exact(decode_fn dec, const uint8_t *p, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  if (len)
    memcpy(copy, p, len);
  int rc = dec(len ? copy : NULL, len);
  free(copy);
  return rc;
}

/* The whole encoding decodes; every strict prefix, and the encoding with
 * one more byte of any value, is GH_EPROTO. */
static void check_strict(decode_fn dec, const uint8_t *p, size_t len) {
  assert_int_equal(run_exact(dec, p, len), 0);
  for (size_t i = 0; i < len; i++)
    assert_int_equal(run_exact(dec, p, i), GH_EPROTO);
  uint8_t *longer = malloc(len + 1);
  assert_non_null(longer);
  memcpy(longer, p, len);
  const uint8_t extra[] = {0x00, 0x01, 0xff};
  for (size_t i = 0; i < sizeof(extra); i++) {
    longer[len] = extra[i];
    assert_int_equal(run_exact(dec, longer, len + 1), GH_EPROTO);
  }
  free(longer);
}

/* ---------------------------------------------------------------- header */

static void test_u32(void **state) {
  uint8_t b[4];
  gh__put_u32(b, 0x01020304u);
  assert_memory_equal(b, "\x01\x02\x03\x04", 4);
  assert_int_equal(gh__get_u32(b), 0x01020304u);
  gh__put_u32(b, 0xffffffffu);
  assert_int_equal(gh__get_u32(b), 0xffffffffu);
}

static void test_header_layout(void **state) {
  uint8_t h[GH__FRAME_HDR];
  gh__frame_header(h, GH__FT_WINDOW, 0xa5, 0x11223344u, 0x004001);
  const uint8_t want[] = {0x00, 0x40, 0x01, 0x06, 0xa5, 0x11, 0x22, 0x33, 0x44};
  assert_memory_equal(h, want, sizeof(want));
}

static void test_header_round_trip(void **state) {
  const uint8_t types[] = {GH__FT_DATA, GH__FT_OPEN, GH__FT_PING,
                           GH__FT_NOTICE};
  const uint32_t streams[] = {0, 1, 2, 0x7fffffffu, 0xffffffffu};
  const uint32_t lens[] = {
      0, 1, 255, 256, 65535 % GH__FRAME_MAX, GH__FRAME_MAX};
  static uint8_t buf[GH__FRAME_HDR + GH__FRAME_MAX];
  for (size_t t = 0; t < sizeof(types); t++)
    for (size_t s = 0; s < sizeof(streams) / sizeof(*streams); s++)
      for (size_t l = 0; l < sizeof(lens) / sizeof(*lens); l++) {
        gh__frame_header(buf, types[t], (uint8_t)(t + 1), streams[s], lens[l]);
        for (uint32_t i = 0; i < lens[l]; i++)
          buf[GH__FRAME_HDR + i] = (uint8_t)i;
        gh__frame f;
        int n = gh__frame_decode(buf, GH__FRAME_HDR + lens[l], &f);
        assert_int_equal(n, GH__FRAME_HDR + lens[l]);
        assert_int_equal(f.type, types[t]);
        assert_int_equal(f.flags, t + 1);
        assert_int_equal(f.stream, streams[s]);
        assert_int_equal(f.len, lens[l]);
        assert_ptr_equal(f.payload, buf + GH__FRAME_HDR);
      }
}

static void test_header_incomplete(void **state) {
  uint8_t buf[GH__FRAME_HDR + 10];
  gh__frame_header(buf, GH__FT_DATA, GH__FF_FIN, 7, 10);
  memset(buf + GH__FRAME_HDR, 0xee, 10);
  gh__frame f;
  for (size_t i = 0; i < sizeof(buf); i++) {
    uint8_t *copy = malloc(i ? i : 1);
    memcpy(copy, buf, i);
    assert_int_equal(gh__frame_decode(copy, i, &f), 0);
    free(copy);
  }
  assert_int_equal(gh__frame_decode(buf, sizeof(buf), &f), sizeof(buf));
  assert_int_equal(f.flags, GH__FF_FIN);

  /* An empty frame is whole with its header alone. */
  uint8_t empty[GH__FRAME_HDR];
  gh__frame_header(empty, GH__FT_OPEN_OK, 0, 3, 0);
  assert_int_equal(gh__frame_decode(empty, sizeof(empty), &f), GH__FRAME_HDR);
  assert_int_equal(f.len, 0);
}

static void test_header_two_frames(void **state) {
  uint8_t buf[2 * GH__FRAME_HDR + 3 + 4];
  gh__frame_header(buf, GH__FT_DATA, 0, 1, 3);
  memcpy(buf + GH__FRAME_HDR, "abc", 3);
  gh__frame_header(buf + GH__FRAME_HDR + 3, GH__FT_WINDOW, 0, 1, 4);
  gh__put_u32(buf + 2 * GH__FRAME_HDR + 3, 100);
  gh__frame f;
  int n = gh__frame_decode(buf, sizeof(buf), &f);
  assert_int_equal(n, GH__FRAME_HDR + 3);
  assert_memory_equal(f.payload, "abc", 3);
  int m = gh__frame_decode(buf + n, sizeof(buf) - (size_t)n, &f);
  assert_int_equal(m, GH__FRAME_HDR + 4);
  assert_int_equal(f.type, GH__FT_WINDOW);
  uint32_t inc;
  assert_int_equal(gh__window_decode(f.payload, f.len, &inc), 0);
  assert_int_equal(inc, 100);
}

static void test_header_rejects(void **state) {
  uint8_t h[GH__FRAME_HDR];
  gh__frame f;
  /* Too long: refused from the header alone, before any payload. */
  gh__frame_header(h, GH__FT_DATA, 0, 1, GH__FRAME_MAX + 1);
  assert_int_equal(gh__frame_decode(h, sizeof(h), &f), GH_EPROTO);
  const uint8_t huge[GH__FRAME_HDR] = {0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1};
  assert_int_equal(gh__frame_decode(huge, sizeof(huge), &f), GH_EPROTO);
  /* A datagram may be larger than a DATA frame, up to GH__DGRAM_MAX. */
  gh__frame_header(h, GH__FT_DGRAM, 0, 1, GH__FRAME_MAX + 1);
  assert_int_equal(gh__frame_decode(h, sizeof(h), &f), 0); /* wants more */
  gh__frame_header(h, GH__FT_DGRAM, 0, 1, GH__DGRAM_MAX + 1);
  assert_int_equal(gh__frame_decode(h, sizeof(h), &f), GH_EPROTO);
  /* Unknown types. */
  for (unsigned t = GH__FT_MAX + 1; t <= 0xff; t++) {
    gh__frame_header(h, (uint8_t)t, 0, 1, 0);
    assert_int_equal(gh__frame_decode(h, sizeof(h), &f), GH_EPROTO);
  }
  /* Every known type is accepted. */
  for (unsigned t = 0; t <= GH__FT_MAX; t++) {
    gh__frame_header(h, (uint8_t)t, 0, 1, 0);
    assert_int_equal(gh__frame_decode(h, sizeof(h), &f), GH__FRAME_HDR);
  }
}

/* ----------------------------------------------------------------- hello */

static void test_hello_round_trip(void **state) {
  char gw[GH__FRAME_STR_MAX], tok[GH__FRAME_TOKEN_MAX], name[GH__FRAME_STR_MAX];
  memset(gw, 'g', sizeof(gw));
  memset(tok, 0, sizeof(tok)); /* tokens may hold any byte */
  tok[5] = (char)0xff;
  memset(name, 'n', sizeof(name));
  const gh__hello cases[] = {
      {1, 262144, 33554432, S("dc1"), S("6f1c-secret"), S("host.example")},
      {1, 1, GH__FRAME_CREDIT_MAX, {"", 0}, {NULL, 0}, {NULL, 0}},
      {0xffff,
       GH__FRAME_CREDIT_MAX,
       1,
       {gw, sizeof(gw)},
       {tok, sizeof(tok)},
       {name, sizeof(name)}},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    uint8_t buf[2048];
    int n = gh__hello_encode(buf, sizeof(buf), &cases[i]);
    assert_true(n > 0);
    assert_int_equal(n, 12 + 1 + cases[i].gateway.len + 2 + cases[i].token.len +
                            1 + cases[i].name.len);
    gh__hello h;
    assert_int_equal(gh__hello_decode(buf, (size_t)n, &h), 0);
    assert_int_equal(h.version, cases[i].version);
    assert_int_equal(h.window, cases[i].window);
    assert_int_equal(h.session_window, cases[i].session_window);
    assert_true(str_eq(h.gateway, cases[i].gateway));
    assert_true(str_eq(h.token, cases[i].token));
    assert_true(str_eq(h.name, cases[i].name));
    /* Strings point into the payload. */
    if (h.gateway.len)
      assert_ptr_equal(h.gateway.ptr, (const char *)buf + 13);
    check_strict(dec_hello, buf, (size_t)n);
    /* Every buffer that is too small is refused whole. */
    for (int cap = 0; cap < n; cap++)
      assert_int_equal(gh__hello_encode(buf, (size_t)cap, &cases[i]),
                       GH_EMSGSIZE);
  }
}

static void test_hello_layout(void **state) {
  gh__hello h = {1, 0x40000, 0x2000000, S("dc1"), S("tk"), S("cl")};
  uint8_t buf[64];
  int n = gh__hello_encode(buf, sizeof(buf), &h);
  const uint8_t want[] = {0x00, 0x01, 0x00, 0x00, /* version, 0 */
                          0x00, 0x04, 0x00, 0x00, /* window */
                          0x02, 0x00, 0x00, 0x00, /* session */
                          3,    'd',  'c',  '1',  /* gateway */
                          0x00, 2,    't',  'k',  /* token */
                          2,    'c',  'l'};       /* name */
  assert_int_equal(n, sizeof(want));
  assert_memory_equal(buf, want, sizeof(want));
}

static void test_hello_limits(void **state) {
  static char big[GH__FRAME_TOKEN_MAX + 1];
  uint8_t buf[4096];
  gh__hello h = {1, 100, 100, S("dc1"), S("t"), S("n")};
  h.gateway = (gh__str){big, GH__FRAME_STR_MAX + 1};
  assert_int_equal(gh__hello_encode(buf, sizeof(buf), &h), GH_EMSGSIZE);
  h.gateway = S("dc1");
  h.token = (gh__str){big, GH__FRAME_TOKEN_MAX + 1};
  assert_int_equal(gh__hello_encode(buf, sizeof(buf), &h), GH_EMSGSIZE);
  h.token = (gh__str){NULL, 3}; /* a length with no bytes */
  assert_int_equal(gh__hello_encode(buf, sizeof(buf), &h), GH_EMSGSIZE);
  h.token = S("t");
  h.window = 0;
  assert_int_equal(gh__hello_encode(buf, sizeof(buf), &h), GH_EINVAL);
  h.window = GH__FRAME_CREDIT_MAX + 1;
  assert_int_equal(gh__hello_encode(buf, sizeof(buf), &h), GH_EINVAL);
  h.window = 100;
  h.session_window = 0;
  assert_int_equal(gh__hello_encode(buf, sizeof(buf), &h), GH_EINVAL);

  /* A token whose length says 1025 is refused by the decoder: 12 fixed
   * bytes, an empty gateway, the token, an empty name. */
  uint8_t raw[12 + 1 + 2 + GH__FRAME_TOKEN_MAX + 1 + 1] = {0, 1, 0, 0, 0, 0,
                                                           1, 0, 0, 0, 1, 0};
  raw[13] = (GH__FRAME_TOKEN_MAX + 1) >> 8;
  raw[14] = (GH__FRAME_TOKEN_MAX + 1) & 0xff;
  gh__hello d;
  assert_int_equal(gh__hello_decode(raw, sizeof(raw), &d), GH_EPROTO);
  /* The same with 1024 is fine (the name's length is the last 0). */
  raw[13] = GH__FRAME_TOKEN_MAX >> 8;
  raw[14] = GH__FRAME_TOKEN_MAX & 0xff;
  assert_int_equal(gh__hello_decode(raw, sizeof(raw) - 1, &d), 0);
  assert_int_equal(d.token.len, GH__FRAME_TOKEN_MAX);
}

static void test_hello_bad_fields(void **state) {
  gh__hello h = {1, 100, 200, S("dc1"), S("t"), S("n")};
  uint8_t buf[64];
  int n = gh__hello_encode(buf, sizeof(buf), &h);
  assert_true(n > 0);
  gh__hello d;
  uint8_t b[64];
  /* Reserved not 0. */
  memcpy(b, buf, (size_t)n);
  b[3] = 1;
  assert_int_equal(gh__hello_decode(b, (size_t)n, &d), GH_EPROTO);
  /* Windows 0 and over 2^31-1. */
  memcpy(b, buf, (size_t)n);
  gh__put_u32(b + 4, 0);
  assert_int_equal(gh__hello_decode(b, (size_t)n, &d), GH_EPROTO);
  gh__put_u32(b + 4, 0x80000000u);
  assert_int_equal(gh__hello_decode(b, (size_t)n, &d), GH_EPROTO);
  memcpy(b, buf, (size_t)n);
  gh__put_u32(b + 8, 0);
  assert_int_equal(gh__hello_decode(b, (size_t)n, &d), GH_EPROTO);
  /* The version is known even when the rest is not version 1's layout. */
  const uint8_t v2[] = {0x00, 0x02, 0xde, 0xad};
  assert_int_equal(gh__hello_decode(v2, sizeof(v2), &d), GH_EPROTO);
  assert_int_equal(d.version, 2);
  gh__welcome w;
  assert_int_equal(gh__welcome_decode(v2, sizeof(v2), &w), GH_EPROTO);
  assert_int_equal(w.version, 2);
  /* The decoder does not judge the version: the server does. */
  memcpy(b, buf, (size_t)n);
  b[1] = 9;
  assert_int_equal(gh__hello_decode(b, (size_t)n, &d), 0);
  assert_int_equal(d.version, 9);
}

/* --------------------------------------------------------------- welcome */

static void test_welcome_round_trip(void **state) {
  char name[GH__FRAME_STR_MAX];
  memset(name, 'x', sizeof(name));
  const gh__welcome cases[] = {
      {1, 262144, 33554432, 15000, S("gw.example.com")},
      {1, 1, 1, 0, {NULL, 0}},
      {7,
       GH__FRAME_CREDIT_MAX,
       GH__FRAME_CREDIT_MAX,
       0xffffffffu,
       {name, sizeof(name)}},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    uint8_t buf[512];
    int n = gh__welcome_encode(buf, sizeof(buf), &cases[i]);
    assert_int_equal(n, 17 + cases[i].name.len);
    gh__welcome w;
    assert_int_equal(gh__welcome_decode(buf, (size_t)n, &w), 0);
    assert_int_equal(w.version, cases[i].version);
    assert_int_equal(w.window, cases[i].window);
    assert_int_equal(w.session_window, cases[i].session_window);
    assert_int_equal(w.ping_interval_ms, cases[i].ping_interval_ms);
    assert_true(str_eq(w.name, cases[i].name));
    check_strict(dec_welcome, buf, (size_t)n);
    for (int cap = 0; cap < n; cap++)
      assert_int_equal(gh__welcome_encode(buf, (size_t)cap, &cases[i]),
                       GH_EMSGSIZE);
  }
  gh__welcome bad = {1, 0, 1, 0, S("x")};
  uint8_t buf[64];
  assert_int_equal(gh__welcome_encode(buf, sizeof(buf), &bad), GH_EINVAL);
  bad.window = 1;
  bad.name.len = GH__FRAME_STR_MAX + 1;
  assert_int_equal(gh__welcome_encode(buf, sizeof(buf), &bad), GH_EMSGSIZE);
  /* Reserved and windows are checked as in HELLO. */
  gh__welcome ok = {1, 5, 6, 7, S("s")};
  int n = gh__welcome_encode(buf, sizeof(buf), &ok);
  gh__welcome w;
  buf[2] = 0x80;
  assert_int_equal(gh__welcome_decode(buf, (size_t)n, &w), GH_EPROTO);
  buf[2] = 0;
  gh__put_u32(buf + 8, 0xffffffffu);
  assert_int_equal(gh__welcome_decode(buf, (size_t)n, &w), GH_EPROTO);
}

/* ------------------------------------------------------------------ open */

static gh_addr addr4(const char a[4], uint16_t port) {
  gh_addr x;
  memset(&x, 0, sizeof(x));
  x.family = GH_AF_INET;
  x.port = port;
  memcpy(x.addr, a, 4);
  return x;
}

static void test_open_round_trip(void **state) {
  gh_addr none, v4 = addr4("\xcb\x00\x71\x07", 54321), v6;
  memset(&none, 0, sizeof(none));
  memset(&v6, 0, sizeof(v6));
  v6.family = GH_AF_INET6;
  v6.port = 443;
  v6.scope_id = 3;
  memcpy(v6.addr, "\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
  char longest[GH__FRAME_STR_MAX];
  memset(longest, 'd', sizeof(longest));
  const gh__open cases[] = {
      {S("billing-db"), v4},
      {S("x"), v6},
      {{longest, sizeof(longest)}, none},
      {{NULL, 0}, v4},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    uint8_t buf[512];
    int n = gh__open_encode(buf, sizeof(buf), &cases[i]);
    assert_int_equal(n, 1 + cases[i].destination.len + GH__FRAME_ADDR_LEN);
    gh__open o;
    assert_int_equal(gh__open_decode(buf, (size_t)n, &o), 0);
    assert_true(str_eq(o.destination, cases[i].destination));
    assert_memory_equal(&o.peer, &cases[i].peer, sizeof(gh_addr));
    check_strict(dec_open, buf, (size_t)n);
    for (int cap = 0; cap < n; cap++)
      assert_int_equal(gh__open_encode(buf, (size_t)cap, &cases[i]),
                       GH_EMSGSIZE);
  }
}

static void test_open_layout(void **state) {
  gh__open o = {S("db"), addr4("\x0a\x00\x00\x01", 0x1538)};
  uint8_t buf[64];
  int n = gh__open_encode(buf, sizeof(buf), &o);
  const uint8_t want[] = {2, 'd', 'b', 4, 0x15, 0x38, 10, 0, 0, 1, 0, 0, 0,
                          0, 0,   0,   0, 0,    0,    0,  0, 0, 0, 0, 0, 0};
  assert_int_equal(n, sizeof(want));
  assert_memory_equal(buf, want, sizeof(want));
}

static void test_open_canonical(void **state) {
  uint8_t buf[64];
  gh__open o;
  /* The encoder zeroes what the family does not use. */
  gh_addr messy = addr4("\x7f\0\0\x01", 80);
  memset(messy.addr + 4, 0xaa, 12);
  messy.scope_id = 9;
  gh__open in = {S("d"), messy};
  int n = gh__open_encode(buf, sizeof(buf), &in);
  assert_true(n > 0);
  assert_int_equal(gh__open_decode(buf, (size_t)n, &o), 0);
  gh_addr clean = addr4("\x7f\0\0\x01", 80);
  assert_memory_equal(&o.peer, &clean, sizeof(clean));
  gh_addr none_messy;
  memset(&none_messy, 0x55, sizeof(none_messy));
  none_messy.family = GH_AF_NONE;
  in.peer = none_messy;
  n = gh__open_encode(buf, sizeof(buf), &in);
  assert_int_equal(gh__open_decode(buf, (size_t)n, &o), 0);
  gh_addr zero;
  memset(&zero, 0, sizeof(zero));
  assert_memory_equal(&o.peer, &zero, sizeof(zero));
  /* Unknown family: the encoder refuses it... */
  in.peer.family = 5;
  assert_int_equal(gh__open_encode(buf, sizeof(buf), &in), GH_EINVAL);

  /* ...and so does the decoder, as it does every non-canonical address.
   * Offsets: [0] len 1, [1] 'd', [2] family, [3..5) port, [5..21) addr,
   * [21..25) scope. */
  in.peer = addr4("\x01\x02\x03\x04", 1);
  n = gh__open_encode(buf, sizeof(buf), &in);
  assert_int_equal(n, 25);
  uint8_t b[25];
  memcpy(b, buf, 25);
  b[2] = 5;
  assert_int_equal(gh__open_decode(b, 25, &o), GH_EPROTO);
  memcpy(b, buf, 25);
  b[20] = 1; /* IPv4 padding */
  assert_int_equal(gh__open_decode(b, 25, &o), GH_EPROTO);
  memcpy(b, buf, 25);
  b[24] = 1; /* IPv4 scope */
  assert_int_equal(gh__open_decode(b, 25, &o), GH_EPROTO);
  memcpy(b, buf, 25);
  b[2] = GH_AF_NONE; /* port and address set with no family */
  assert_int_equal(gh__open_decode(b, 25, &o), GH_EPROTO);
  memset(b + 3, 0, 22);
  assert_int_equal(gh__open_decode(b, 25, &o), 0);
  b[2] = GH_AF_INET6; /* IPv6: every byte and the scope are its own */
  memset(b + 3, 0xff, 22);
  assert_int_equal(gh__open_decode(b, 25, &o), 0);
  assert_int_equal(o.peer.scope_id, 0xffffffffu);
  assert_int_equal(o.peer.port, 0xffff);
  /* Destination over 255 cannot be encoded. */
  in.destination.len = GH__FRAME_STR_MAX + 1;
  assert_int_equal(gh__open_encode(buf, sizeof(buf), &in), GH_EMSGSIZE);
}

/* ------------------------------------------------------------ fail, notice */

static void test_fail_round_trip(void **state) {
  static char msg[GH__FRAME_MSG_MAX];
  memset(msg, 'm', sizeof(msg));
  const gh__fail cases[] = {
      {GH_ECONNREFUSED, S("connection refused by 10.0.0.1:5432")},
      {INT32_MIN, {NULL, 0}},
      {INT32_MAX, S("x")},
      {GH__REFUSE_TOKEN, {msg, sizeof(msg)}},
      {0, {"", 0}},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    uint8_t buf[2048];
    int n = gh__fail_encode(buf, sizeof(buf), &cases[i]);
    assert_int_equal(n, 6 + cases[i].message.len);
    gh__fail f;
    assert_int_equal(gh__fail_decode(buf, (size_t)n, &f), 0);
    assert_int_equal(f.code, cases[i].code);
    assert_true(str_eq(f.message, cases[i].message));
    check_strict(dec_fail, buf, (size_t)n);
    for (int cap = 0; cap < n; cap++)
      assert_int_equal(gh__fail_encode(buf, (size_t)cap, &cases[i]),
                       GH_EMSGSIZE);
  }
  /* Layout: i32 as two's complement, then s16. */
  gh__fail f = {GH_EPROTO, S("ab")};
  uint8_t buf[16];
  assert_int_equal(gh__fail_encode(buf, sizeof(buf), &f), 8);
  assert_memory_equal(buf,
                      "\xff\xff\xff\xb9\x00\x02"
                      "ab",
                      8);
  /* Over the limit, both ways. */
  static char big[GH__FRAME_MSG_MAX + 1];
  f.message = (gh__str){big, sizeof(big)};
  uint8_t large[2048];
  assert_int_equal(gh__fail_encode(large, sizeof(large), &f), GH_EMSGSIZE);
  memset(large, 0, sizeof(large));
  large[4] = (GH__FRAME_MSG_MAX + 1) >> 8;
  large[5] = (GH__FRAME_MSG_MAX + 1) & 0xff;
  gh__fail d;
  assert_int_equal(gh__fail_decode(large, 6 + GH__FRAME_MSG_MAX + 1, &d),
                   GH_EPROTO);
}

static void test_notice_round_trip(void **state) {
  static char msg[GH__FRAME_MSG_MAX];
  memset(msg, 'e', sizeof(msg));
  char dest[GH__FRAME_STR_MAX];
  memset(dest, 'd', sizeof(dest));
  const gh__notice cases[] = {
      {S("metrics-push"), 0, S("listening on 0.0.0.0:12000")},
      {S("metrics-push"), GH_EADDRINUSE, S("port 12000 is taken")},
      {{dest, sizeof(dest)}, INT32_MIN, {msg, sizeof(msg)}},
      {{NULL, 0}, -1, {NULL, 0}},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    uint8_t buf[2048];
    int n = gh__notice_encode(buf, sizeof(buf), &cases[i]);
    assert_int_equal(n, 1 + cases[i].destination.len + 4 + 2 +
                            cases[i].message.len);
    gh__notice d;
    assert_int_equal(gh__notice_decode(buf, (size_t)n, &d), 0);
    assert_true(str_eq(d.destination, cases[i].destination));
    assert_int_equal(d.code, cases[i].code);
    assert_true(str_eq(d.message, cases[i].message));
    check_strict(dec_notice, buf, (size_t)n);
    for (int cap = 0; cap < n; cap++)
      assert_int_equal(gh__notice_encode(buf, (size_t)cap, &cases[i]),
                       GH_EMSGSIZE);
  }
  gh__notice big = {S("d"), 0, {msg, GH__FRAME_MSG_MAX + 1}};
  uint8_t buf[4096];
  assert_int_equal(gh__notice_encode(buf, sizeof(buf), &big), GH_EMSGSIZE);
  big.message = S("m");
  big.destination.len = GH__FRAME_STR_MAX + 1;
  assert_int_equal(gh__notice_encode(buf, sizeof(buf), &big), GH_EMSGSIZE);
}

/* ------------------------------------------------------------------ names */

/* Encodes with one name holding `bad` at [1] and checks both directions:
 * the encoder refuses it, and the same bytes patched in are refused by the
 * decoder. `at` is the offset of that name's first byte in the encoding. */
static void check_name_byte(uint8_t bad) {
  uint8_t buf[256], b[256];
  char name[] = "a?c";
  gh__str good = S("abc"), evil = S(name);
  name[1] = (char)bad;

  gh__hello h = {1, 10, 10, good, S("tok"), good};
  int n = gh__hello_encode(buf, sizeof(buf), &h);
  assert_true(n > 0);
  h.gateway = evil;
  assert_int_equal(gh__hello_encode(b, sizeof(b), &h), GH_EINVAL);
  h.gateway = good;
  h.name = evil;
  assert_int_equal(gh__hello_encode(b, sizeof(b), &h), GH_EINVAL);
  gh__hello hd;
  memcpy(b, buf, (size_t)n);
  b[13 + 1] = bad; /* gateway */
  assert_int_equal(gh__hello_decode(b, (size_t)n, &hd), GH_EPROTO);
  memcpy(b, buf, (size_t)n);
  b[n - 2] = bad; /* name */
  assert_int_equal(gh__hello_decode(b, (size_t)n, &hd), GH_EPROTO);

  gh__welcome w = {1, 10, 10, 0, evil};
  assert_int_equal(gh__welcome_encode(b, sizeof(b), &w), GH_EINVAL);
  w.name = good;
  n = gh__welcome_encode(buf, sizeof(buf), &w);
  buf[n - 2] = bad;
  gh__welcome wd;
  assert_int_equal(gh__welcome_decode(buf, (size_t)n, &wd), GH_EPROTO);

  gh_addr none;
  memset(&none, 0, sizeof(none));
  gh__open o = {evil, none};
  assert_int_equal(gh__open_encode(b, sizeof(b), &o), GH_EINVAL);
  o.destination = good;
  n = gh__open_encode(buf, sizeof(buf), &o);
  buf[2] = bad;
  gh__open od;
  assert_int_equal(gh__open_decode(buf, (size_t)n, &od), GH_EPROTO);

  gh__notice no = {evil, 0, S("m")};
  assert_int_equal(gh__notice_encode(b, sizeof(b), &no), GH_EINVAL);
  no.destination = good;
  n = gh__notice_encode(buf, sizeof(buf), &no);
  buf[2] = bad;
  gh__notice nd;
  assert_int_equal(gh__notice_decode(buf, (size_t)n, &nd), GH_EPROTO);
}

static void test_names_refuse_control_bytes(void **state) {
  const uint8_t bad[] = {0x00, '\t', '\n', '\r', 0x1b, 0x1f, 0x7f};
  for (size_t i = 0; i < sizeof(bad); i++)
    check_name_byte(bad[i]);

  /* UTF-8 and every printable byte are fine in a name... */
  char all[0x7f - 0x20 + 2];
  for (int c = 0x20; c < 0x7f; c++)
    all[c - 0x20] = (char)c;
  all[0x7f - 0x20] = (char)0xc3; /* "é" */
  all[0x7f - 0x20 + 1] = (char)0xa9;
  gh__hello h = {1, 10, 10, {all, sizeof(all)}, S("t"), {all, sizeof(all)}};
  uint8_t buf[512];
  int n = gh__hello_encode(buf, sizeof(buf), &h);
  assert_true(n > 0);
  gh__hello d;
  assert_int_equal(gh__hello_decode(buf, (size_t)n, &d), 0);
  assert_int_equal(d.gateway.len, sizeof(all));

  /* ...and tokens and messages carry any byte. */
  h.gateway = S("dc1");
  h.name = S("n");
  h.token = (gh__str){"a\0\n\x7f\x1b", 5};
  n = gh__hello_encode(buf, sizeof(buf), &h);
  assert_int_equal(gh__hello_decode(buf, (size_t)n, &d), 0);
  assert_memory_equal(d.token.ptr, "a\0\n\x7f\x1b", 5);
  gh__fail f = {GH_EIO, {"line\nline\0", 10}};
  n = gh__fail_encode(buf, sizeof(buf), &f);
  gh__fail fd;
  assert_int_equal(gh__fail_decode(buf, (size_t)n, &fd), 0);
  assert_int_equal(fd.message.len, 10);
  gh__notice no = {S("d"), -1, {"a\r\nb", 4}};
  n = gh__notice_encode(buf, sizeof(buf), &no);
  gh__notice nd;
  assert_int_equal(gh__notice_decode(buf, (size_t)n, &nd), 0);
}

/* ---------------------------------------------------------------- window */

static void test_window(void **state) {
  uint8_t b[4];
  uint32_t v = 12345;
  const uint32_t good[] = {1, 32768, GH__FRAME_CREDIT_MAX};
  for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
    gh__put_u32(b, good[i]);
    assert_int_equal(gh__window_decode(b, 4, &v), 0);
    assert_int_equal(v, good[i]);
    check_strict(dec_window, b, 4);
  }
  const uint32_t bad[] = {0, 0x80000000u, 0xffffffffu};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    gh__put_u32(b, bad[i]);
    v = 777;
    assert_int_equal(gh__window_decode(b, 4, &v), GH_EPROTO);
    assert_int_equal(v, 777); /* untouched on failure */
  }
}

/* Every decoder, fed every short input of a few byte patterns, fails or
 * succeeds without reading past the end (ASan watches). */
static void test_decoders_small_inputs(void **state) {
  const decode_fn decs[] = {dec_hello, dec_welcome, dec_open,
                            dec_fail,  dec_notice,  dec_window};
  const uint8_t fills[] = {0x00, 0x01, 0x7f, 0xff};
  uint8_t buf[64];
  for (size_t d = 0; d < sizeof(decs) / sizeof(*decs); d++)
    for (size_t f = 0; f < sizeof(fills); f++)
      for (size_t len = 0; len <= sizeof(buf); len++) {
        memset(buf, fills[f], sizeof(buf));
        int rc = run_exact(decs[d], buf, len);
        assert_true(rc == 0 || rc == GH_EPROTO);
      }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_u32),
      cmocka_unit_test(test_header_layout),
      cmocka_unit_test(test_header_round_trip),
      cmocka_unit_test(test_header_incomplete),
      cmocka_unit_test(test_header_two_frames),
      cmocka_unit_test(test_header_rejects),
      cmocka_unit_test(test_hello_round_trip),
      cmocka_unit_test(test_hello_layout),
      cmocka_unit_test(test_hello_limits),
      cmocka_unit_test(test_hello_bad_fields),
      cmocka_unit_test(test_welcome_round_trip),
      cmocka_unit_test(test_open_round_trip),
      cmocka_unit_test(test_open_layout),
      cmocka_unit_test(test_open_canonical),
      cmocka_unit_test(test_fail_round_trip),
      cmocka_unit_test(test_notice_round_trip),
      cmocka_unit_test(test_names_refuse_control_bytes),
      cmocka_unit_test(test_window),
      cmocka_unit_test(test_decoders_small_inputs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
