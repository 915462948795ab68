/* A third party's layer, built by tests/e2e/test_plugin_dirs.py at test time
 * with cc against sdk/include only: rot13 of every letter, both ways, and
 * an alias of its own ("tcp-rot13" = "tcp+rot13"). Variants:
 *
 *   -DABI_MAJOR=2        claims ABI 2: the core refuses it
 *   -DHNAME='"tcp"'      its layer is named tcp (a shadow of the shipped one)
 *   -DNO_ALIAS           declares no alias
 */
#include <gatehouse/gatehouse.h>

#ifndef ABI_MAJOR
#define ABI_MAJOR GH_ABI_MAJOR
#endif
#ifndef HNAME
#define HNAME "rot13"
#endif

static const gh_host *host;

static uint8_t rot(uint8_t c) {
  if (c >= 'a' && c <= 'z')
    return (uint8_t)('a' + (c - 'a' + 13) % 26);
  if (c >= 'A' && c <= 'Z')
    return (uint8_t)('A' + (c - 'A' + 13) % 26);
  return c;
}

/* dir: 1 up (send_up), 0 down (send_down); in slices of a stack buffer */
static int32_t pass(gh_link *k, const uint8_t *data, uint32_t len, int up) {
  uint8_t buf[4096];
  while (len) {
    uint32_t n = len < sizeof(buf) ? len : (uint32_t)sizeof(buf);
    for (uint32_t i = 0; i < n; i++)
      buf[i] = rot(data[i]);
    int32_t rc = up ? host->send_up(k, buf, n) : host->send_down(k, buf, n);
    if (rc < 0)
      return rc;
    data += n;
    len -= n;
  }
  return 0;
}

static int32_t r_open(gh_link *k) {
  (void)k;
  return 0;
}
static int32_t r_up(gh_link *k, const uint8_t *d, uint32_t n) {
  return pass(k, d, n, 1);
}
static int32_t r_down(gh_link *k, const uint8_t *d, uint32_t n) {
  return pass(k, d, n, 0);
}
static void r_up_eof(gh_link *k) {
  host->eof_up(k);
}
static void r_down_eof(gh_link *k) {
  host->eof_down(k);
}
static void r_close(gh_link *k, int32_t reason) {
  (void)k;
  (void)reason;
}

static const gh_handler rot13 = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_LAYER,
    .name = HNAME,
    .help = "rot13 of every letter, both ways",
    .open = r_open,
    .up = r_up,
    .down = r_down,
    .up_eof = r_up_eof,
    .down_eof = r_down_eof,
    .close = r_close,
};
static const gh_handler *const handlers[] = {&rot13};

#ifndef NO_ALIAS
static const gh_alias aliases[] = {{"tcp-" HNAME, "tcp+" HNAME}};
#endif

static int32_t r_init(const gh_host *h) {
  host = h;
  return 0;
}

static const gh_plugin plugin = {
    .abi_major = ABI_MAJOR,
    .abi_minor = GH_ABI_MINOR,
    .size = (uint32_t)sizeof(gh_plugin),
    .n_handlers = 1,
    .name = "rot13",
    .version = "1.0.0",
    .description = "a third party's layer",
    .handlers = handlers,
    .init = r_init,
#ifndef NO_ALIAS
    .aliases = aliases,
    .n_aliases = 1,
#endif
};

GH_PLUGIN_ENTRY(plugin)
