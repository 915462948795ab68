/* The tunnel's frame decoder, on a stream of bytes as a peer could send
 * them: frames are decoded one after the other, and each payload goes to
 * every payload decoder whatever its type. Beyond the sanitizers' checks,
 * the decoder's results are checked against what the header says, and
 * anything a decoder accepts must encode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

static uint8_t out[2 * GH__FRAME_MAX];

static int str_in(gh__str s, const uint8_t *p, size_t len) {
  return s.len == 0 || ((const uint8_t *)s.ptr >= p &&
                        (const uint8_t *)s.ptr + s.len <= p + len);
}

static void payloads(const uint8_t *p, size_t len) {
  gh__hello h;
  int rc = gh__hello_decode(p, len, &h);
  CHECK(rc == 0 || rc == GH_EPROTO);
  if (rc == 0) {
    CHECK(str_in(h.gateway, p, len) && str_in(h.token, p, len) &&
          str_in(h.name, p, len));
    CHECK(gh__hello_encode(out, sizeof(out), &h) == (int)len);
    CHECK(memcmp(out, p, len) == 0);
  }
  gh__welcome w;
  rc = gh__welcome_decode(p, len, &w);
  CHECK(rc == 0 || rc == GH_EPROTO);
  if (rc == 0) {
    CHECK(str_in(w.name, p, len));
    CHECK(gh__welcome_encode(out, sizeof(out), &w) == (int)len);
    CHECK(memcmp(out, p, len) == 0);
  }
  gh__open o;
  rc = gh__open_decode(p, len, &o);
  CHECK(rc == 0 || rc == GH_EPROTO);
  if (rc == 0) {
    CHECK(str_in(o.destination, p, len));
    CHECK(gh__open_encode(out, sizeof(out), &o) == (int)len);
    CHECK(memcmp(out, p, len) == 0);
  }
  gh__fail f;
  rc = gh__fail_decode(p, len, &f);
  CHECK(rc == 0 || rc == GH_EPROTO);
  if (rc == 0) {
    CHECK(str_in(f.message, p, len));
    CHECK(gh__fail_encode(out, sizeof(out), &f) == (int)len);
    CHECK(memcmp(out, p, len) == 0);
  }
  gh__notice n;
  rc = gh__notice_decode(p, len, &n);
  CHECK(rc == 0 || rc == GH_EPROTO);
  if (rc == 0) {
    CHECK(str_in(n.destination, p, len) && str_in(n.message, p, len));
    CHECK(gh__notice_encode(out, sizeof(out), &n) == (int)len);
    CHECK(memcmp(out, p, len) == 0);
  }
  uint32_t inc;
  rc = gh__window_decode(p, len, &inc);
  CHECK(rc == 0 || rc == GH_EPROTO);
  if (rc == 0) {
    CHECK(len == 4 && inc >= 1 && inc <= GH__FRAME_CREDIT_MAX);
    CHECK(gh__get_u32(p) == inc);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The decoder is called on the exact bytes left, as the tunnel's receive
   * buffer would hold them, so that ASan sees any read past the end. */
  while (size > 0) {
    gh__frame f;
    int n = gh__frame_decode(data, size, &f);
    CHECK(n == 0 || n == GH_EPROTO || n >= GH__FRAME_HDR);
    if (n <= 0) {
      /* Incomplete now means incomplete for every shorter prefix too. */
      if (n == 0)
        for (size_t i = 0; i < size && i < GH__FRAME_HDR; i++)
          CHECK(gh__frame_decode(data, i, &f) == 0);
      break;
    }
    CHECK((size_t)n <= size);
    CHECK(f.type <= GH__FT_MAX && f.len <= gh__frame_max(f.type));
    CHECK((size_t)n == GH__FRAME_HDR + f.len);
    CHECK(f.payload == data + GH__FRAME_HDR);
    uint8_t hdr[GH__FRAME_HDR];
    gh__frame_header(hdr, f.type, f.flags, f.stream, f.len);
    CHECK(memcmp(hdr, data, GH__FRAME_HDR) == 0);
    /* One byte short of the whole frame is not a frame yet. */
    CHECK(gh__frame_decode(data, (size_t)n - 1, &f) == 0);
    gh__frame_decode(data, (size_t)n, &f);
    /* Each payload in a buffer of its own size: a decoder that read past
     * its payload would otherwise read the next frame's bytes unseen. */
    uint8_t *copy = malloc(f.len ? f.len : 1);
    CHECK(copy != NULL);
    memcpy(copy, f.payload, f.len);
    payloads(copy, f.len);
    free(copy);
    data += n;
    size -= (size_t)n;
  }
  return 0;
}
