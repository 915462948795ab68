/* A layer built against the FROZEN ABI 1.0 header (tests/abi/sdk-1.0), to
 * show that a plugin of the first release keeps loading and working in the
 * current core. It passes every byte and EOF through, counts them, and logs
 * what a test can check:
 *
 *   abi10 TAG: init: core ABI 1.x, host table N bytes
 *   abi10 TAG: open: side listen|resource, link_info size 96
 *   abi10 TAG: close: U bytes up, D bytes down, eof up 1, eof down 1
 *
 * Its open() refuses the stream (GH_EPROTO, logged) if link_info() writes
 * past the 1.0-sized struct it is given, or fills it inconsistently.
 *
 * Built once as accepted (abi10.so) and, with PLUGIN_ABI_MAJOR /
 * PLUGIN_ABI_MINOR and HNAME, as descriptors the core must refuse. */
#include <stdio.h>
#include <string.h>

#include <gatehouse/gatehouse.h>

#if GH_ABI_MAJOR != 1 || GH_ABI_MINOR != 0
#error "abi10_plugin.c must be built against the frozen ABI 1.0 header"
#endif

#ifndef PLUGIN_ABI_MAJOR
#define PLUGIN_ABI_MAJOR GH_ABI_MAJOR
#endif
#ifndef PLUGIN_ABI_MINOR
#define PLUGIN_ABI_MINOR GH_ABI_MINOR
#endif
#ifndef HNAME
#define HNAME "abi10"
#endif

static const gh_host *host;

static const gh_option abi_options[] = {
    {.name = "tag",
     .type = GH_OPT_STRING,
     .def = "-",
     .help = "a word put in this layer's log lines"},
};

typedef struct abi_link {
  uint64_t up, down;
  int eof_up, eof_down;
} abi_link;

static const char *tag_of(gh_link *link) {
  const char *t = host->opt_get(host->link_inst(link), "tag", 0);
  return t ? t : "?";
}

static int32_t abi_open(gh_link *link) {
  /* A 1.0 struct with a canary behind it: the core must fill 96 bytes,
   * not the 112 of its own (1.1) gh_link_info. */
  struct {
    gh_link_info info;
    uint64_t canary;
  } box;
  memset(&box, 0, sizeof box);
  box.info.size = (uint32_t)sizeof box.info;
  box.canary = 0x0123456789abcdefull;
  gh_inst *inst = host->link_inst(link);
  if (host->link_info(link, &box.info) < 0 ||
      box.canary != 0x0123456789abcdefull || box.info.size != sizeof box.info ||
      box.info.side != host->inst_side(inst) || !box.info.destination ||
      strcmp(box.info.destination, host->inst_destination(inst)) != 0 ||
      (box.info.peer.family != GH_AF_INET &&
       box.info.peer.family != GH_AF_INET6)) {
    host->log(GH_LOG_ERROR, link,
              "abi10 %s: link_info broke the ABI 1.0 contract (size %u, "
              "canary %s)",
              tag_of(link), box.info.size,
              box.canary == 0x0123456789abcdefull ? "intact" : "overwritten");
    return GH_EPROTO;
  }
  abi_link *a = host->alloc(sizeof *a);
  if (!a)
    return GH_ENOMEM;
  memset(a, 0, sizeof *a);
  host->link_set_data(link, a);
  GH_LOG(host, GH_LOG_INFO, link, "abi10 %s: open: side %s, link_info size %u",
         tag_of(link), box.info.side == GH_SIDE_LISTEN ? "listen" : "resource",
         box.info.size);
  return 0;
}

static int32_t abi_up(gh_link *link, const uint8_t *data, uint32_t len) {
  abi_link *a = host->link_data(link);
  a->up += len;
  (void)host->send_up(link, data, len);
  return 0;
}

static int32_t abi_down(gh_link *link, const uint8_t *data, uint32_t len) {
  abi_link *a = host->link_data(link);
  a->down += len;
  (void)host->send_down(link, data, len);
  return 0;
}

static void abi_up_eof(gh_link *link) {
  abi_link *a = host->link_data(link);
  a->eof_up++;
  host->eof_up(link);
}

static void abi_down_eof(gh_link *link) {
  abi_link *a = host->link_data(link);
  a->eof_down++;
  host->eof_down(link);
}

static void abi_close(gh_link *link, int32_t reason) {
  abi_link *a = host->link_data(link);
  if (!a)
    return; /* open() failed */
  GH_LOG(host, GH_LOG_INFO, link,
         "abi10 %s: close: %llu bytes up, %llu bytes down, eof up %d, eof "
         "down %d, reason %s",
         tag_of(link), (unsigned long long)a->up, (unsigned long long)a->down,
         a->eof_up, a->eof_down, gh_errname(reason));
  host->free(a);
  host->link_set_data(link, NULL);
}

static int32_t abi_init(const gh_host *h) {
  if (!h || h->abi_major != GH_ABI_MAJOR || h->size < sizeof(gh_host))
    return GH_ENOTSUP;
  host = h;
  GH_LOG(host, GH_LOG_INFO, NULL,
         "abi10: init: core ABI %u.%u, host table %u bytes", h->abi_major,
         h->abi_minor, h->size);
  return 0;
}

static const gh_handler abi_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_LAYER,
    .n_options = 1,
    .name = HNAME,
    .help = "a pass-through layer built against the frozen ABI 1.0 header",
    .options = abi_options,
    .open = abi_open,
    .up = abi_up,
    .down = abi_down,
    .up_eof = abi_up_eof,
    .down_eof = abi_down_eof,
    .close = abi_close,
};

static const gh_handler *const abi_handlers[] = {&abi_handler};

static const gh_plugin abi_plugin = {
    .abi_major = PLUGIN_ABI_MAJOR,
    .abi_minor = PLUGIN_ABI_MINOR,
    .size = (uint32_t)sizeof(gh_plugin),
    .n_handlers = 1,
    .name = HNAME,
    .version = "1.0.0",
    .description = "built against the frozen ABI 1.0 header",
    .handlers = abi_handlers,
    .init = abi_init,
};

GH_PLUGIN_ENTRY(abi_plugin)
