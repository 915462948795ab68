/* A plugin the loader must accept: one transport, "t-good", and one layer,
 * "l-good", with every callback and a few options. Its callbacks do nothing
 * useful; they exist so that the loader's checks pass and so that the test
 * can see which host table init() received. */
#include <gatehouse/gatehouse.h>

#ifdef WITH_CTOR
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* Runs at dlopen(), before the loader can check anything of the plugin. */
__attribute__((constructor)) static void leave_a_mark(void) {
  const char *path = getenv("GH_TEST_CTOR_MARKER");
  int fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)
                : -1;
  if (fd < 0)
    return;
  if (write(fd, "constructor ran\n", 16) < 0) {
    /* nothing to do: the test sees no mark */
  }
  close(fd);
}
#endif

static const gh_host *host;

static int32_t good_init(const gh_host *h) {
  if (!h || h->size < sizeof(gh_host) || h->abi_major != GH_ABI_MAJOR)
    return GH_EINVAL;
  host = h;
  GH_LOG(host, GH_LOG_INFO, NULL, "good: init");
  return 0;
}

static void good_fini(void) {
  GH_LOG(host, GH_LOG_INFO, NULL, "good: fini");
  host = NULL;
}

/* Tells the test which table this plugin holds: the instance's data becomes
 * the host table itself. */
static int32_t inst_init(gh_inst *inst, char *err, uint32_t errlen) {
  host->inst_set_data(inst, (void *)host);
  return 0;
}

static void inst_free(gh_inst *inst) {
  host->inst_set_data(inst, NULL);
}

static int32_t t_listen(gh_listener *l, const char *h, uint16_t port) {
  return GH_ENOTSUP;
}
static void t_unlisten(gh_listener *l) {
  host->listener_closed(l);
}
static int32_t t_connect(gh_link *k, const char *h, uint16_t port,
                         uint32_t timeout_ms) {
  return GH_ENOTSUP;
}
static int32_t t_write(gh_link *k, const uint8_t *data, uint32_t len) {
  host->written(k, len);
  return 0;
}
static int32_t t_shutdown(gh_link *k) {
  return 0;
}
static void t_read_start(gh_link *k) {}
static void t_read_stop(gh_link *k) {}
static void t_close(gh_link *k, int32_t reason) {
  host->closed(k);
}

static int32_t l_open(gh_link *k) {
  return 0;
}
static int32_t l_up(gh_link *k, const uint8_t *data, uint32_t len) {
  return host->send_up(k, data, len);
}
static int32_t l_down(gh_link *k, const uint8_t *data, uint32_t len) {
  return host->send_down(k, data, len);
}
static void l_up_eof(gh_link *k) {
  host->eof_up(k);
}
static void l_down_eof(gh_link *k) {
  host->eof_down(k);
}
static void l_close(gh_link *k, int32_t reason) {}

static const gh_option t_options[] = {
    {.name = "port_hint",
     .type = GH_OPT_INT,
     .min = 1,
     .max = 65535,
     .def = "80",
     .help = "a port"},
    {.name = "verbose", .type = GH_OPT_BOOL, .def = "no", .help = "chatty"},
};

static const gh_option l_options[] = {
    {.name = "greeting",
     .type = GH_OPT_STRING,
     .flags = GH_OPT_MULTI,
     .help = "said first"},
    {.name = "cert", .type = GH_OPT_FILE, .help = "a PEM file"},
};

static const gh_handler t_good = {
    GH_HANDLER_HEADER,        .kind = GH_KIND_TRANSPORT,
    .name = "t-good",         .help = "test transport",
    .n_options = 2,           .options = t_options,
    .inst_init = inst_init,   .inst_free = inst_free,
    .listen = t_listen,       .unlisten = t_unlisten,
    .connect = t_connect,     .write = t_write,
    .shutdown = t_shutdown,   .read_start = t_read_start,
    .read_stop = t_read_stop, .close = t_close,
};

static const gh_handler l_good = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_LAYER,
    .name = "l-good",
    .help = "test layer",
    .n_options = 2,
    .options = l_options,
    .inst_init = inst_init,
    .inst_free = inst_free,
    .close = l_close,
    .open = l_open,
    .up = l_up,
    .down = l_down,
    .up_eof = l_up_eof,
    .down_eof = l_down_eof,
};

static const gh_handler *const handlers[] = {&t_good, &l_good};

/* Its layer's name as an alias (as tls.so's "tls"), and one of its own. */
static const gh_alias aliases[] = {{"l-good", "t-good+l-good"},
                                   {"good-both", "t-good+l-good"}};

static const gh_plugin good = {
    GH_PLUGIN_HEADER,
    .n_handlers = 2,
    .name = "good",
    .version = "1.2.3",
    .description = "the loader's accepted test plugin",
    .handlers = handlers,
    .init = good_init,
    .fini = good_fini,
    .aliases = aliases,
    .n_aliases = 2,
};

GH_PLUGIN_ENTRY(good)
