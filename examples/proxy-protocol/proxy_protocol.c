/* proxy-protocol: a resource-side layer that tells the resource who really
 * connected, by sending a PROXY protocol header (HAProxy's proxy-protocol.txt,
 * version 1 text or version 2 binary) before the first byte of the stream.
 *
 *   [destination billing-db]
 *   type = onprem
 *   listen = 0.0.0.0:15432
 *   resource = 10.1.0.5:5432
 *   resource.protocol = tcp+proxy-protocol
 *   resource.proxy-protocol.version = 2
 *
 * An example of the gatehouse SDK, built out of tree against the installed
 * SDK only (see Makefile and README.md). It holds no bytes and no state per
 * stream: open() sends the header down and the link is ready at once; then
 * every byte and EOF passes through untouched.
 *
 * What the header says
 *   source       the application's address and port (gh_link_info.peer, which
 *                the listen side recorded when the application connected).
 *   destination  gh_link_info.local when the core knows it; on the resource
 *                side it does not (ABI 1.1 carries only the peer through the
 *                tunnel), so: the resource's own address when the configured
 *                resource host is a numeric address, else the unspecified
 *                address (0.0.0.0 or ::), with the resource port either way.
 *                A layer has no socket, and resolving a name here would block
 *                the loop; a server that needs the exact destination is told
 *                the configured one.
 *   families     the source's family decides TCP4 or TCP6. An IPv4
 *                destination under an IPv6 source is written IPv4-mapped
 *                (::ffff:a.b.c.d); an IPv6 destination under an IPv4 source
 *                cannot be written and becomes 0.0.0.0.
 *   unknown      a source of unknown family sends "PROXY UNKNOWN\r\n" (v1) or
 *                a PROXY command with family AF_UNSPEC and no address (v2):
 *                the resource then uses the connection's own addresses.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <gatehouse/gatehouse.h>

static const gh_host *host;

/* ------------------------------------------------------------ options */

static const gh_option pp_options[] = {
    {.name = "version",
     .type = GH_OPT_INT,
     .min = 1,
     .max = 2,
     .def = "1",
     .help = "PROXY protocol version sent to the resource: 1 (text) or 2 "
             "(binary)"},
};

typedef struct pp_inst {
  int version; /* 1 or 2 */
} pp_inst;

static int32_t fail(char *err, uint32_t errlen, int32_t code, const char *why) {
  if (err && errlen)
    snprintf(err, errlen, "%s", why);
  return code;
}

static int32_t pp_inst_init(gh_inst *inst, char *err, uint32_t errlen) {
  /* On the listen side the header would go to the application, which
   * never asked for it: refuse the configuration, not each stream. */
  if (host->inst_side(inst) != GH_SIDE_RESOURCE)
    return fail(err, errlen, GH_EINVAL,
                "proxy-protocol is a resource-side layer (write "
                "resource.protocol = tcp+proxy-protocol)");
  pp_inst *pi = host->alloc(sizeof *pi);
  if (!pi)
    return fail(err, errlen, GH_ENOMEM, "proxy-protocol: out of memory");
  /* The core validated the value against the declaration (1..2). */
  pi->version = (int)host->opt_int(inst, "version");
  host->inst_set_data(inst, pi);
  return 0;
}

static void pp_inst_free(gh_inst *inst) {
  host->free(host->inst_data(inst));
  host->inst_set_data(inst, NULL);
}

/* ------------------------------------------------------------ the header */

/* The spec bounds v1 at 107 bytes (ours: at most 104, "PROXY TCP6 ", two
 * addresses of 39, two ports of 5, 3 spaces, CRLF); v2 here at most 16 + 36. */
#define PP_HEADER_MAX 108

static const uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* The addresses the header carries, both of one family (GH_AF_INET or
 * GH_AF_INET6), or family GH_AF_NONE for "unknown". */
typedef struct pp_addrs {
  uint16_t family;
  gh_addr src, dst;
} pp_addrs;

/* dst in the family `family`, or that family's unspecified address with
 * dst's port when it cannot be written in it. */
static gh_addr as_family(const gh_addr *dst, uint16_t family) {
  gh_addr out;
  memset(&out, 0, sizeof out);
  out.family = family;
  out.port = dst->port;
  if (dst->family == family) {
    memcpy(out.addr, dst->addr, sizeof out.addr);
  } else if (dst->family == GH_AF_INET && family == GH_AF_INET6) {
    out.addr[10] = 0xff; /* ::ffff:a.b.c.d */
    out.addr[11] = 0xff;
    memcpy(out.addr + 12, dst->addr, 4);
  }
  return out;
}

/* The destination when the core does not know it: the configured resource
 * host if it is numeric, else no address; the resource port. */
static gh_addr resource_addr(const gh_link_info *info) {
  gh_addr a;
  memset(&a, 0, sizeof a);
  a.port = info->resource_port;
  const char *h = info->resource_host ? info->resource_host : "";
  if (inet_pton(AF_INET, h, a.addr) == 1)
    a.family = GH_AF_INET;
  else if (inet_pton(AF_INET6, h, a.addr) == 1)
    a.family = GH_AF_INET6;
  return a;
}

static pp_addrs header_addrs(const gh_link_info *info) {
  pp_addrs p;
  memset(&p, 0, sizeof p);
  if (info->peer.family != GH_AF_INET && info->peer.family != GH_AF_INET6)
    return p; /* GH_AF_NONE: unknown */
  p.family = info->peer.family;
  p.src = info->peer;
  gh_addr dst =
      info->local.family != GH_AF_NONE ? info->local : resource_addr(info);
  p.dst = as_family(&dst, p.family);
  return p;
}

static int build_v1(const pp_addrs *p, char *out, size_t len) {
  if (p->family == GH_AF_NONE)
    return snprintf(out, len, "PROXY UNKNOWN\r\n");
  int af = p->family == GH_AF_INET ? AF_INET : AF_INET6;
  char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
  if (!inet_ntop(af, p->src.addr, src, sizeof src) ||
      !inet_ntop(af, p->dst.addr, dst, sizeof dst))
    return -1;
  return snprintf(out, len, "PROXY %s %s %s %u %u\r\n",
                  p->family == GH_AF_INET ? "TCP4" : "TCP6", src, dst,
                  (unsigned)p->src.port, (unsigned)p->dst.port);
}

static void put16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)(v >> 8);
  b[1] = (uint8_t)v;
}

static int build_v2(const pp_addrs *p, uint8_t *out) {
  memcpy(out, v2_signature, sizeof v2_signature);
  out[12] = 0x21; /* version 2, command PROXY */
  if (p->family == GH_AF_NONE) {
    out[13] = 0x00; /* AF_UNSPEC: no address block */
    put16(out + 14, 0);
    return 16;
  }
  size_t alen = p->family == GH_AF_INET ? 4 : 16;
  out[13] = p->family == GH_AF_INET ? 0x11 : 0x21; /* TCP over IPv4 / IPv6 */
  put16(out + 14, (uint16_t)(2 * alen + 4));
  uint8_t *a = out + 16;
  memcpy(a, p->src.addr, alen);
  memcpy(a + alen, p->dst.addr, alen);
  put16(a + 2 * alen, p->src.port);
  put16(a + 2 * alen + 2, p->dst.port);
  return (int)(16 + 2 * alen + 4);
}

/* ------------------------------------------------------------ the layer */

static int32_t pp_open(gh_link *link) {
  const pp_inst *pi = host->inst_data(host->link_inst(link));
  gh_link_info info;
  memset(&info, 0, sizeof info);
  info.size = (uint32_t)sizeof info;
  if (!pi || host->link_info(link, &info) < 0 || info.side != GH_SIDE_RESOURCE)
    return GH_EINVAL;

  pp_addrs p = header_addrs(&info);
  uint8_t hdr[PP_HEADER_MAX];
  int n = pi->version == 2 ? build_v2(&p, hdr)
                           : build_v1(&p, (char *)hdr, sizeof hdr);
  if (n <= 0 || (size_t)n >= sizeof hdr)
    return GH_EINVAL;
  if (host->log_enabled(GH_LOG_DEBUG)) {
    char src[INET6_ADDRSTRLEN] = "?", dst[INET6_ADDRSTRLEN] = "?";
    int af = p.family == GH_AF_INET6 ? AF_INET6 : AF_INET;
    if (p.family != GH_AF_NONE) {
      inet_ntop(af, p.src.addr, src, sizeof src);
      inet_ntop(af, p.dst.addr, dst, sizeof dst);
    }
    host->log(GH_LOG_DEBUG, link,
              "proxy-protocol: v%d header (%d bytes): source %s port %u, "
              "destination %s port %u",
              pi->version, n, src, (unsigned)p.src.port, dst,
              (unsigned)p.dst.port);
  }
  /* The transport below is connected, and the core passes nothing down
   * before open() returns: the header is the stream's first byte. A
   * failure here fails the stream's start, with the reason. */
  int32_t rc = host->send_down(link, hdr, (uint32_t)n);
  return rc < 0 ? rc : 0;
}

/* Everything else passes through at once: the layer never holds a byte, so
 * the core's flow control sees the transport's pace. A failed send means
 * the stream is ending; the core knows, so there is nothing to report. */
static int32_t pp_up(gh_link *link, const uint8_t *data, uint32_t len) {
  (void)host->send_up(link, data, len);
  return 0;
}

static int32_t pp_down(gh_link *link, const uint8_t *data, uint32_t len) {
  (void)host->send_down(link, data, len);
  return 0;
}

static void pp_up_eof(gh_link *link) {
  host->eof_up(link);
}

static void pp_down_eof(gh_link *link) {
  host->eof_down(link);
}

static void pp_close(gh_link *link, int32_t reason) {
  (void)link; /* nothing is held per stream */
  (void)reason;
}

/* ------------------------------------------------------------ the plugin */

static int32_t pp_init(const gh_host *h) {
  /* Every host function used here exists since ABI 1.0. */
  if (!h || h->abi_major != GH_ABI_MAJOR || !GH_HOST_HAS(h, closed))
    return GH_ENOTSUP;
  host = h;
  return 0;
}

static const gh_handler pp_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_LAYER,
    .n_options = sizeof pp_options / sizeof pp_options[0],
    .name = "proxy-protocol",
    .help = "resource side: sends a PROXY protocol header (v1 or v2) with "
            "the application's address before the stream's first byte",
    .options = pp_options,
    .inst_init = pp_inst_init,
    .inst_free = pp_inst_free,
    .open = pp_open,
    .up = pp_up,
    .down = pp_down,
    .up_eof = pp_up_eof,
    .down_eof = pp_down_eof,
    .close = pp_close,
};

static const gh_handler *const pp_handlers[] = {&pp_handler};

static const gh_plugin pp_plugin = {
    GH_PLUGIN_HEADER,
    .n_handlers = 1,
    .name = "proxy-protocol",
    .version = "1.0.0",
    .description = "the PROXY protocol (v1, v2) toward resources: an example "
                   "of the gatehouse SDK",
    .handlers = pp_handlers,
    .init = pp_init,
};

GH_PLUGIN_ENTRY(pp_plugin)
