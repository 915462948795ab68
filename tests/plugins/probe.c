/* Two layers that show what the core really does around a link (used by
 * tests/e2e/test_sdk.py), on the listen side of `tcp+probe+bounce`:
 *
 *   probe   passes everything on, and logs
 *             - "probe: down() re-entered inside send_up()" once per stream
 *               when the layer above answers from inside probe's send_up();
 *             - at close(), with the link (so the line carries "#N"), what
 *               link_info() says of the stream and the option `label`,
 *               using only calls the SDK allows in close().
 *   bounce  sends every byte it gets from below straight back down, from
 *           inside its up(): nothing goes up but the EOF. */
#include <stdint.h>
#include <string.h>

#include <gatehouse/gatehouse.h>

static const gh_host *host;

typedef struct probe_link {
  uint32_t in_send_up; /* depth of send_up() calls under way */
  uint32_t reentered;
} probe_link;

static const gh_option probe_options[] = {
    {.name = "label",
     .type = GH_OPT_STRING,
     .def = "probe",
     .help = "a word in the close() line"},
};

static int32_t probe_open(gh_link *link) {
  probe_link *p = host->alloc(sizeof *p);
  if (!p)
    return GH_ENOMEM;
  memset(p, 0, sizeof *p);
  host->link_set_data(link, p);
  return 0;
}

static int32_t probe_up(gh_link *link, const uint8_t *data, uint32_t len) {
  probe_link *p = host->link_data(link);
  p->in_send_up++;
  host->send_up(link, data, len);
  p->in_send_up--;
  return 0;
}

static int32_t probe_down(gh_link *link, const uint8_t *data, uint32_t len) {
  probe_link *p = host->link_data(link);
  if (p->in_send_up && !p->reentered) {
    p->reentered = 1;
    GH_LOG(host, GH_LOG_INFO, link,
           "probe: down() re-entered inside send_up()");
  }
  host->send_down(link, data, len);
  return 0;
}

static void probe_up_eof(gh_link *link) {
  host->eof_up(link);
}

static void probe_down_eof(gh_link *link) {
  host->eof_down(link);
}

static void probe_close(gh_link *link, int32_t reason) {
  probe_link *p = host->link_data(link);
  gh_link_info info;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  int32_t rc = host->link_info(link, &info);
  const char *label = host->opt_get(host->link_inst(link), "label", 0);
  GH_LOG(host, GH_LOG_INFO, link,
         "probe: close: %s, stream_id %llu, destination %s (%s)",
         label ? label : "?", rc == 0 ? (unsigned long long)info.stream_id : 0,
         rc == 0 ? info.destination : "?",
         reason ? gh_strerror(reason) : "closed");
  host->link_set_data(link, NULL);
  host->free(p);
}

static int32_t bounce_open(gh_link *link) {
  return 0;
}

static int32_t bounce_up(gh_link *link, const uint8_t *data, uint32_t len) {
  host->send_down(link, data, len);
  return 0;
}

static int32_t bounce_down(gh_link *link, const uint8_t *data, uint32_t len) {
  return 0; /* the resource's bytes go nowhere */
}

static void bounce_up_eof(gh_link *link) {
  host->eof_up(link);
}

static void bounce_down_eof(gh_link *link) {
  host->eof_down(link);
}

static void bounce_close(gh_link *link, int32_t reason) {}

static int32_t probe_init(const gh_host *h) {
  if (h->abi_major != GH_ABI_MAJOR || !GH_HOST_HAS(h, closed))
    return GH_ENOTSUP;
  host = h;
  return 0;
}

static const gh_handler probe_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_LAYER,
    .n_options = 1,
    .name = "probe",
    .help = "test layer: logs re-entrance and its close()",
    .options = probe_options,
    .open = probe_open,
    .up = probe_up,
    .down = probe_down,
    .up_eof = probe_up_eof,
    .down_eof = probe_down_eof,
    .close = probe_close,
};

static const gh_handler bounce_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_LAYER,
    .name = "bounce",
    .help = "test layer: sends what comes from below back down",
    .open = bounce_open,
    .up = bounce_up,
    .down = bounce_down,
    .up_eof = bounce_up_eof,
    .down_eof = bounce_down_eof,
    .close = bounce_close,
};

static const gh_handler *const handlers[] = {&probe_handler, &bounce_handler};

static const gh_plugin probe_plugin = {
    GH_PLUGIN_HEADER,
    .n_handlers = 2,
    .name = "probe",
    .version = "0",
    .description = "test layers: re-entrance and close()",
    .handlers = handlers,
    .init = probe_init,
};

GH_PLUGIN_ENTRY(probe_plugin)
