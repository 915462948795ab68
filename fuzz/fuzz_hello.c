/* The tunnel's first exchange, HELLO and WELCOME, both ways:
 *   - the input as a payload: whatever decodes must re-encode to exactly
 *     the input and decode again to the same values;
 *   - the input as values: a hello and a welcome built from its bytes must
 *     encode, when they are valid, to something that decodes back to them.
 * Any inconsistency abort()s. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

static uint8_t out[4096];

/* The rule of frame.h for names: no byte 0x00-0x1f or 0x7f. */
static int name_ok(gh__str s) {
  for (uint32_t i = 0; i < s.len; i++) {
    uint8_t c = (uint8_t)s.ptr[i];
    if (c < 0x20 || c == 0x7f)
      return 0;
  }
  return 1;
}

static int same(gh__str a, gh__str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static int hello_eq(const gh__hello *a, const gh__hello *b) {
  return a->version == b->version && a->window == b->window &&
         a->session_window == b->session_window &&
         same(a->gateway, b->gateway) && same(a->token, b->token) &&
         same(a->name, b->name);
}

static int welcome_eq(const gh__welcome *a, const gh__welcome *b) {
  return a->version == b->version && a->window == b->window &&
         a->session_window == b->session_window &&
         a->ping_interval_ms == b->ping_interval_ms && same(a->name, b->name);
}

static void as_payload(const uint8_t *p, size_t len) {
  gh__hello h, h2;
  int rc = gh__hello_decode(p, len, &h);
  CHECK(rc == 0 || rc == GH_EPROTO);
  if (len >= 2)
    CHECK(h.version == (uint16_t)(p[0] << 8 | p[1]));
  if (rc == 0) {
    int n = gh__hello_encode(out, sizeof(out), &h);
    CHECK(n == (int)len && memcmp(out, p, len) == 0);
    CHECK(gh__hello_decode(out, (size_t)n, &h2) == 0 && hello_eq(&h, &h2));
    /* A buffer one byte short is refused whole. */
    CHECK(gh__hello_encode(out, len - 1, &h) == GH_EMSGSIZE);
  }
  gh__welcome w, w2;
  rc = gh__welcome_decode(p, len, &w);
  CHECK(rc == 0 || rc == GH_EPROTO);
  if (len >= 2)
    CHECK(w.version == (uint16_t)(p[0] << 8 | p[1]));
  if (rc == 0) {
    int n = gh__welcome_encode(out, sizeof(out), &w);
    CHECK(n == (int)len && memcmp(out, p, len) == 0);
    CHECK(gh__welcome_decode(out, (size_t)n, &w2) == 0 && welcome_eq(&w, &w2));
    CHECK(gh__welcome_encode(out, len - 1, &w) == GH_EMSGSIZE);
  }
}

/* Reads fields off the input, yielding zeros once it runs out. */
typedef struct src {
  const uint8_t *p;
  size_t left;
} src;

static uint32_t take(src *s, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; i++) {
    v = v << 8 | (s->left ? *s->p : 0);
    if (s->left) {
      s->p++;
      s->left--;
    }
  }
  return v;
}

static gh__str take_str(src *s, size_t lenlen) {
  uint32_t want = take(s, lenlen);
  gh__str v = {(const char *)s->p, want < s->left ? want : (uint32_t)s->left};
  s->p += v.len;
  s->left -= v.len;
  return v;
}

static void as_values(const uint8_t *p, size_t len) {
  src s = {p, len};
  gh__hello h = {0};
  h.version = (uint16_t)take(&s, 2);
  h.window = take(&s, 4);
  h.session_window = take(&s, 4);
  h.gateway = take_str(&s, 2); /* may be over its limit on purpose */
  h.token = take_str(&s, 2);
  h.name = take_str(&s, 2);
  int valid = h.window >= 1 && h.window <= GH__FRAME_CREDIT_MAX &&
              h.session_window >= 1 &&
              h.session_window <= GH__FRAME_CREDIT_MAX && name_ok(h.gateway) &&
              name_ok(h.name);
  int fits = h.gateway.len <= GH__FRAME_STR_MAX &&
             h.token.len <= GH__FRAME_TOKEN_MAX &&
             h.name.len <= GH__FRAME_STR_MAX;
  int n = gh__hello_encode(out, sizeof(out), &h);
  if (!fits) {
    CHECK(n == GH_EMSGSIZE);
  } else if (!valid) {
    CHECK(n == GH_EINVAL);
  } else {
    CHECK(n ==
          (int)(12 + 1 + h.gateway.len + 2 + h.token.len + 1 + h.name.len));
    gh__hello d;
    CHECK(gh__hello_decode(out, (size_t)n, &d) == 0 && hello_eq(&h, &d));
  }

  gh__welcome w = {0};
  w.version = (uint16_t)take(&s, 2);
  w.window = take(&s, 4);
  w.session_window = take(&s, 4);
  w.ping_interval_ms = take(&s, 4);
  w.name = take_str(&s, 2);
  valid = w.window >= 1 && w.window <= GH__FRAME_CREDIT_MAX &&
          w.session_window >= 1 && w.session_window <= GH__FRAME_CREDIT_MAX &&
          name_ok(w.name);
  n = gh__welcome_encode(out, sizeof(out), &w);
  if (w.name.len > GH__FRAME_STR_MAX) {
    CHECK(n == GH_EMSGSIZE);
  } else if (!valid) {
    CHECK(n == GH_EINVAL);
  } else {
    CHECK(n == (int)(17 + w.name.len));
    gh__welcome d;
    CHECK(gh__welcome_decode(out, (size_t)n, &d) == 0 && welcome_eq(&w, &d));
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  as_payload(data, size);
  as_values(data, size);
  return 0;
}
