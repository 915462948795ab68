/* Plugins the loader must refuse, one defect each. This file is built once
 * per defect with one of the macros below defined (see CMakeLists.txt); by
 * default it describes a valid plugin with one transport handler, so that
 * each variant differs from an acceptable plugin in exactly one way.
 *
 *   ABI_MAJOR, ABI_MINOR, PLUGIN_SIZE, N_HANDLERS   descriptor header values
 *   HNAME, HKIND, HSIZE                              the handler's header
 *   HIDDEN_ENTRY   gh_plugin_entry is defined but not exported
 *   NULL_ENTRY     gh_plugin_entry returns NULL
 *   TWICE          the same handler is listed twice
 *   LAYER_NO_DOWN  the handler is a layer without down() and up_eof()
 *   BAD_OPTION     an INT option with min > max
 *   INIT_FAIL      init() returns GH_EIO
 *   INIT_POSITIVE  init() returns 3
 *   ENUM_OPTION    an ENUM option "mode" (upper|rot13, default upper): valid
 *                  as such; with ABI_MINOR=1 it is refused for the ABI, with
 *                  ENUM_DEFAULT="x" / ENUM_CHOICE="a b" / ENUM_TWICE /
 *                  ENUM_NONE for the declaration
 *   CALLS_CORE     init() calls a core function directly, by name
 *   ALIAS_NAME, ALIAS_CHAIN   the descriptor declares this one alias
 *                  (ALIAS_CHAIN defaults to "t-refuse")
 */
#include <gatehouse/gatehouse.h>

#ifndef ABI_MAJOR
#define ABI_MAJOR GH_ABI_MAJOR
#endif
#ifndef ABI_MINOR
#define ABI_MINOR GH_ABI_MINOR
#endif
#ifndef PLUGIN_SIZE
#define PLUGIN_SIZE sizeof(gh_plugin)
#endif
#ifndef HNAME
#define HNAME "t-refuse"
#endif
#ifndef HSIZE
#define HSIZE sizeof(gh_handler)
#endif
#ifndef HKIND
#define HKIND GH_KIND_TRANSPORT
#endif

/* Each variant uses only some of the stubs below. */
#define STUB __attribute__((unused)) static

static const gh_host *host;

#ifdef CALLS_CORE
/* The core's own logger: a plugin must never link against the core. */
void gh__log_write(int level, const char *subject, const char *fmt, ...);
#endif

static int32_t r_init(const gh_host *h) {
  host = h;
#ifdef CALLS_CORE
  gh__log_write(GH_LOG_INFO, "refuse", "reached the core by name");
#endif
  GH_LOG(host, GH_LOG_INFO, NULL, "refuse: init");
#ifdef INIT_FAIL
  return GH_EIO;
#elif defined(INIT_POSITIVE)
  return 3;
#else
  return 0;
#endif
}

/* Must never run for a refused plugin: the test looks for this line. */
static void r_fini(void) {
  GH_LOG(host, GH_LOG_INFO, NULL, "refuse: fini");
}

STUB int32_t t_listen(gh_listener *l, const char *h, uint16_t port) {
  return GH_ENOTSUP;
}
STUB void t_unlisten(gh_listener *l) {}
STUB int32_t t_connect(gh_link *k, const char *h, uint16_t port,
                       uint32_t timeout_ms) {
  return GH_ENOTSUP;
}
STUB int32_t t_write(gh_link *k, const uint8_t *data, uint32_t len) {
  return 0;
}
STUB int32_t t_shutdown(gh_link *k) {
  return 0;
}
STUB void t_read(gh_link *k) {}
STUB void x_close(gh_link *k, int32_t reason) {}
STUB int32_t l_open(gh_link *k) {
  return 0;
}
STUB int32_t l_bytes(gh_link *k, const uint8_t *data, uint32_t len) {
  return 0;
}
STUB void l_eof(gh_link *k) {}

#ifdef BAD_OPTION
static const gh_option options[] = {
    {.name = "limit", .type = GH_OPT_INT, .min = 10, .max = 1},
};
#define N_OPTIONS 1
#define OPTIONS options
#elif defined(ENUM_OPTION)
#ifndef ENUM_DEFAULT
#define ENUM_DEFAULT "upper"
#endif
#ifndef ENUM_CHOICE
#define ENUM_CHOICE "rot13"
#endif
#if defined(ENUM_NONE)
static const char *const choices[] = {NULL};
#elif defined(ENUM_TWICE)
static const char *const choices[] = {"upper", "upper", NULL};
#else
static const char *const choices[] = {"upper", ENUM_CHOICE, NULL};
#endif
static const gh_option options[] = {
    {.name = "mode",
     .type = GH_OPT_ENUM,
     .choices = choices,
     .def = ENUM_DEFAULT,
     .help = "what to do"},
};
#define N_OPTIONS 1
#define OPTIONS options
#else
#define N_OPTIONS 0
#define OPTIONS NULL
#endif

static const gh_handler handler = {
    .size = HSIZE,
#ifdef LAYER_NO_DOWN
    .kind = GH_KIND_LAYER,
    .name = "l-nocb",
    .open = l_open,
    .up = l_bytes,
    .down_eof = l_eof,
    .close = x_close,
#else
    .kind = HKIND,
    .name = HNAME,
    .listen = t_listen,
    .unlisten = t_unlisten,
    .connect = t_connect,
    .write = t_write,
    .shutdown = t_shutdown,
    .read_start = t_read,
    .read_stop = t_read,
    .close = x_close,
#endif
    .n_options = N_OPTIONS,
    .options = OPTIONS,
};

#ifdef TWICE
static const gh_handler *const handlers[] = {&handler, &handler};
#define DEFAULT_N_HANDLERS 2
#else
static const gh_handler *const handlers[] = {&handler};
#define DEFAULT_N_HANDLERS 1
#endif
#ifndef N_HANDLERS
#define N_HANDLERS DEFAULT_N_HANDLERS
#endif

#ifdef ALIAS_NAME
#ifndef ALIAS_CHAIN
#define ALIAS_CHAIN "t-refuse"
#endif
static const gh_alias aliases[] = {{ALIAS_NAME, ALIAS_CHAIN}};
#define ALIASES aliases
#define N_ALIASES 1
#else
#define ALIASES NULL
#define N_ALIASES 0
#endif

static const gh_plugin desc = {
    .abi_major = ABI_MAJOR,
    .abi_minor = ABI_MINOR,
    .size = PLUGIN_SIZE,
    .n_handlers = N_HANDLERS,
    .name = "refuse",
    .version = "0",
    .description = "a plugin the loader refuses",
    .handlers = handlers,
    .init = r_init,
    .fini = r_fini,
    .aliases = ALIASES,
    .n_aliases = N_ALIASES,
};

#if defined(HIDDEN_ENTRY)
/* No GH_EXPORT: -fvisibility=hidden keeps it out of the dynamic table. */
const gh_plugin *gh_plugin_entry(void);
const gh_plugin *gh_plugin_entry(void) {
  return &desc;
}
#elif defined(NULL_ENTRY)
GH_EXPORT const gh_plugin *gh_plugin_entry(void);
GH_EXPORT const gh_plugin *gh_plugin_entry(void) {
  (void)desc;
  return NULL;
}
#else
GH_PLUGIN_ENTRY(desc)
#endif
