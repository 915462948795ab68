/* A mock host for unit tests of plugins: the gh_host table a real core
 * would give, backed by simple records a test can read, on a libuv loop the
 * mock owns. A test loads a plugin .so, creates instances of its handlers,
 * drives them (listen, connect, write, open, up, down, close, ...) and runs
 * the loop until a condition holds; the mock records what the plugin did
 * (accepted links and their addresses, bytes passed up and down, EOFs,
 * aborts, ready statuses, written counts, closes) and counts contract
 * violations (a host call on a link that close() does not allow, any after
 * it, written() beyond what was given to write(), closed() twice, an
 * undeclared option, an enum value not among its choices, ...).
 *
 * Inside close() a handler may call, for that link: log, link_data,
 * link_set_data, link_inst, link_info, the instance's and options'
 * functions, alloc/free and timers; a transport also closed(). ready,
 * send_up, send_down, eof_up, eof_down, written and abort are violations
 * there (the core ignores them). After close() returned, a layer's link is
 * dead; a transport's stays usable for closed() and log() only.
 *
 *   mock_init();
 *   mock_plugin_load(MOCK_PLUGIN_PATH("tcp"), err, sizeof err);
 *   mock_inst *i = mock_inst_new(mock_handler("tcp"), GH_SIDE_LISTEN);
 *   mock_inst_opt(i, "nodelay", "no");
 *   mock_inst_init(i);
 *   mock_listener *l = mock_listener_new(i);
 *   mock_listen(l, "127.0.0.1", port);
 *   ...  mock_run_until(pred, arg, 5000);
 *   mock_unlisten(l); mock_run_until(mock_pred_listener_closed, l, 5000);
 *   assert(mock_fini() == 0 && mock_stats.violations == 0);
 *
 * Everything is single-threaded and global: one mock at a time (between
 * mock_init() and mock_fini()). Records (links, listeners, instances) stay
 * readable until mock_fini(), even after the plugin released them.
 *
 * Handles: the plugin sees gh_inst / gh_listener / gh_link pointers that
 * are really mock_inst / mock_listener / mock_link; mock_gl() and
 * mock_ml() convert. */
#ifndef GH_MOCK_HOST_H
#define GH_MOCK_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gatehouse/gatehouse.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Path of a plugin built by this tree (tests get GH_PLUGIN_BUILD_DIR). */
#ifdef GH_PLUGIN_BUILD_DIR
#define MOCK_PLUGIN_PATH(name) GH_PLUGIN_BUILD_DIR "/" name ".so"
#endif

/* A growable byte buffer (data is NULL while empty). */
typedef struct mock_buf {
  uint8_t *data;
  size_t len, cap;
} mock_buf;

void mock_buf_append(mock_buf *b, const void *p, size_t n); /* aborts on OOM */
void mock_buf_reset(mock_buf *b);                           /* frees */

typedef struct mock_inst mock_inst;
typedef struct mock_listener mock_listener;
typedef struct mock_link mock_link;
struct mock_opt; /* private */

struct mock_inst {
  const gh_handler *h;
  uint32_t side;           /* GH_SIDE_* */
  const char *destination; /* "mock" unless the test sets another */
  void *data;              /* inst_set_data() */
  int inited;              /* inst_init() succeeded (inst_free() due) */
  char err[256];           /* inst_init()'s reason on failure */
  struct mock_opt *opts;
  mock_inst *next;
};

struct mock_listener {
  mock_inst *inst;
  void *data;          /* listener_set_data() */
  int listening;       /* listen() succeeded */
  int unlisten_called; /* mock_unlisten() ran */
  int closed;          /* listener_closed() calls */
  /* What accept() does; set by the test. */
  int refuse;         /* return NULL (the core refuses the application) */
  int read_on_accept; /* call read_start() from inside accept() */
  uint32_t accepts;   /* accept() calls, refused ones included */
  uint32_t refused;
  mock_link **accepted; /* the links accept() returned, in order */
  size_t n_accepted, cap_accepted;
  mock_listener *next;
};

struct mock_link {
  uint32_t magic;
  mock_inst *inst;
  mock_listener *listener;   /* set when the link came from accept() */
  void *data;                /* link_set_data() / accept()'s link_data */
  uint64_t id;               /* 1, 2, ...; also its stream_id */
  gh_addr peer, local;       /* from accept() */
  const char *resource_host; /* for link_info(); default "127.0.0.1" */
  uint16_t resource_port;
  const char *listen_chain;   /* for link_info(); default "tcp" */
  const char *resource_chain; /* default "tcp" */

  /* What the test asked of the plugin. */
  int connect_called, open_called;
  int32_t open_result;
  uint64_t write_bytes; /* given to write() successfully */
  uint32_t write_calls;
  int shutdown_called;
  int close_called;
  int in_close; /* inside the handler's close() */
  int32_t close_reason;

  /* What the plugin did (host calls). */
  mock_buf up;   /* send_up() bytes */
  mock_buf down; /* send_down() bytes (layers) */
  uint32_t send_up_calls, send_down_calls;
  int32_t send_up_ret; /* what send_up() returns; set by the test */
  int32_t send_down_ret;
  int eof_up, eof_down; /* calls */
  int ready_calls;
  int32_t ready_status; /* of the last ready() */
  int abort_calls;
  int32_t abort_reason; /* of the first abort() */
  uint64_t written;     /* total of written() */
  uint32_t written_calls;
  int closed; /* closed() calls (layers: set when close() returns) */

  int pending_close; /* close_on_abort: scheduled */
  mock_link *next;
};

static inline gh_link *mock_gl(mock_link *l) {
  return (gh_link *)(void *)l;
}
static inline mock_link *mock_ml(const gh_link *l) {
  return (mock_link *)(void *)l;
}
static inline gh_inst *mock_gi(mock_inst *i) {
  return (gh_inst *)(void *)i;
}
static inline gh_listener *mock_glis(mock_listener *l) {
  return (gh_listener *)(void *)l;
}

typedef struct mock_config_t {
  int32_t log_level;   /* log_enabled() up to it; default GH_LOG_TRACE */
  int32_t print_level; /* printed on stderr up to it; default GH_LOG_WARN,
                          or the GH_MOCK_LOG environment variable (0..4) */
  int close_on_abort;  /* abort() leads to close(link, reason) on the next
                          loop turn, as the core does; default 0 */
  uint32_t fail_alloc; /* the n-th next alloc()/realloc() fails (1: the
                          next one); 0: none */
} mock_config_t;

typedef struct mock_stats_t {
  uint64_t allocs, frees;
  uint64_t live_allocs; /* allocations of the plugin not freed yet */
  uint64_t live_bytes;
  uint32_t alloc_failures; /* injected */
  uint32_t timers_live;
  uint32_t violations;             /* contract violations seen (each printed) */
  uint32_t logs[GH_LOG_TRACE + 1]; /* log() calls per level */
  char last_log[512];              /* text of the last log() */
  char last_warn[512];             /* text of the last GH_LOG_WARN or worse */
} mock_stats_t;

extern const gh_host mock_host;
extern mock_config_t mock_config;
extern mock_stats_t mock_stats;

/* Fresh state and loop; ignores SIGPIPE as the core does. 0 or -errno. */
int mock_init(void);
/* Closes what the mock owns, runs the loop until every handle is closed
 * (at most 5 s), calls inst_free() on initialised instances, fini() and
 * dlclose() on plugins, frees all records. Returns 0, or UV_EBUSY when
 * handles were still open: they are printed, then closed without their
 * owners being told (so that the next mock_init() starts clean), and the
 * plugins are not dlclose()d. mock_stats stays readable until the next
 * mock_init(). Handles of a test on the mock loop must outlive a failed
 * assertion (static storage), since mock_fini() may still touch them. */
int mock_fini(void);
uv_loop_t *mock_loop(void);

/* Runs the loop until pred(arg) is true (checked before and after each
 * loop iteration) or timeout_ms passed. Returns 1 when pred held, 0 on
 * timeout. pred NULL: just runs for timeout_ms. Not from a callback. */
typedef int (*mock_pred)(void *arg);
int mock_run_until(mock_pred pred, void *arg, uint32_t timeout_ms);
void mock_run_for(uint32_t ms);

/* Ready-made predicates; arg is the mock_link * / mock_listener *. */
int mock_pred_link_closed(void *link);
int mock_pred_link_ready(void *link); /* ready() came */
int mock_pred_link_eof_up(void *link);
int mock_pred_link_aborted(void *link);
int mock_pred_listener_closed(void *listener);
int mock_pred_listener_accepted(void *listener); /* accepts > 0 */

/* ---- plugins */

/* dlopen(RTLD_NOW | RTLD_LOCAL), gh_plugin_entry, header checks (ABI
 * major, minor, size), then init(&mock_host). Up to 8 plugins at a time.
 * Returns the descriptor, or NULL with the reason in err. */
const gh_plugin *mock_plugin_load(const char *path, char *err, size_t errlen);
/* A handler of a loaded plugin by name; NULL when none. */
const gh_handler *mock_handler(const char *name);
/* An option declaration of h by name; NULL when none. */
const gh_option *mock_option(const gh_handler *h, const char *name);

/* The names of the symbols an ELF64 shared object defines in its dynamic
 * symbol table (global and weak). Returns the count, or -errno / -EINVAL;
 * *names is a NULL-terminated array to give to mock_strv_free(). */
int mock_elf_exports(const char *path, char ***names);
void mock_strv_free(char **v);

/* ---- instances */

mock_inst *mock_inst_new(const gh_handler *h, uint32_t side);
/* Adds a value for option `name` (call again for GH_OPT_MULTI). */
void mock_inst_opt(mock_inst *inst, const char *name, const char *value);
/* The content opt_blob() returns for a GH_OPT_FILE option (copied). Without
 * it, opt_blob() reads the file named by the value. */
void mock_inst_blob(mock_inst *inst, const char *name, const void *data,
                    size_t len);
/* Calls the handler's inst_init() (if any); its reason goes to inst->err.
 * A GH_OPT_ENUM value that is not one of its choices is a violation first
 * (the core would have refused the configuration). */
int32_t mock_inst_init(mock_inst *inst);
/* Calls inst_free() now (else mock_fini() does). */
void mock_inst_free(mock_inst *inst);

/* ---- transports */

mock_listener *mock_listener_new(mock_inst *inst);
int32_t mock_listen(mock_listener *l, const char *host, uint16_t port);
void mock_unlisten(mock_listener *l);
/* The i-th link accept() returned for l; NULL when there is none. */
mock_link *mock_accepted(mock_listener *l, size_t i);

/* A link as the core creates it for connect() or for a layer. */
mock_link *mock_link_new(mock_inst *inst);
int32_t mock_connect(mock_link *l, const char *host, uint16_t port,
                     uint32_t timeout_ms);
int32_t mock_write(mock_link *l, const void *data, size_t len);
int32_t mock_shutdown(mock_link *l);
void mock_read_start(mock_link *l);
void mock_read_stop(mock_link *l);
/* Both kinds. A layer link counts as closed when close() returns. */
void mock_close(mock_link *l, int32_t reason);

/* ---- layers */

int32_t mock_open(mock_link *l); /* GH_PENDING: ready() comes later */
int32_t mock_up(mock_link *l, const void *data, size_t len);
int32_t mock_down(mock_link *l, const void *data, size_t len);
void mock_up_eof(mock_link *l);
void mock_down_eof(mock_link *l);

/* ---- helpers */

/* A port that was free on 127.0.0.1 a moment ago (type SOCK_STREAM or
 * SOCK_DGRAM); 0 on failure. Someone may take it before you do: retry on
 * GH_EADDRINUSE. */
uint16_t mock_free_port(int type);
/* gh_addr for a numeric address and port; 0 or GH_EINVAL. */
int mock_addr(gh_addr *a, const char *ip, uint16_t port);
/* "1.2.3.4:80" / "[::1]:80" */
const char *mock_addr_str(const gh_addr *a, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
