/* The Unix-socket transport: listens on a socket path for applications and
 * connects to resources at a socket path (PostgreSQL, Docker, a local
 * daemon), with half-close. Built against the SDK header and libuv only;
 * the one exported symbol is gh_plugin_entry.
 *
 * Paths come from the core: listen() and connect() get the path as `host`
 * and port 0 (GH_HANDLER_UNIX). The core has checked a resource's path
 * against the client's [acl] and passes the path it admitted.
 *
 * The socket file
 *   - is created with unix.mode (fchmod before bind, chmod after, so that
 *     it is never wider than asked, whatever the umask) and handed to
 *     unix.owner (chown) before listen(): nobody connects before it is so;
 *   - replaces a file at the path only when that file is a socket nobody
 *     listens on (a connect gets ECONNREFUSED: left by a crash); anything
 *     else there is an error, never removed;
 *   - is removed when the listener stops (shut down, reload without the
 *     destination), unless another file has taken its place meanwhile.
 *
 * Connections are sconn.c's (shared with tcp.c, lifetimes in sconn.h), the
 * accept loop slisten.c's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "gatehouse/gatehouse.h"
#include "sconn.h"
#include "slisten.h"

static const gh_host *host;

/* ------------------------------------------------------------ options */

typedef struct unix_opts {
  unsigned mode;
  int has_owner;
  char owner[128]; /* "user" or "user:group", resolved at listen() */
} unix_opts;

static const unix_opts unix_defaults = {0600, 0, ""};

static const gh_option unix_options[] = {
    {.name = "mode",
     .type = GH_OPT_STRING,
     .def = "0600",
     .help = "listen: the socket file's permissions, in octal (0600: its "
             "owner only; 0660: and its group)"},
    {.name = "owner",
     .type = GH_OPT_STRING,
     .help = "listen: the socket file's owner, USER or USER:GROUP (chown "
             "after bind; needs the privilege to give it away)"},
};

static void set_err(char *err, uint32_t errlen, const char *msg) {
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static int mode_parse(const char *s, unsigned *mode) {
  if (!s || !*s || strlen(s) > 4)
    return -1;
  unsigned v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '7')
      return -1;
    v = v * 8 + (unsigned)(*s - '0');
  }
  if (v > 0777)
    return -1;
  *mode = v;
  return 0;
}

static int name_ok(const char *s, size_t n) {
  if (n == 0 || n > 63)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

static int owner_syntax_ok(const char *s) {
  const char *colon = strchr(s, ':');
  if (!colon)
    return name_ok(s, strlen(s));
  return name_ok(s, (size_t)(colon - s)) &&
         name_ok(colon + 1, strlen(colon + 1));
}

static int32_t unix_inst_init(gh_inst *inst, char *err, uint32_t errlen) {
  unix_opts *o = host->alloc(sizeof *o);
  if (!o) {
    set_err(err, errlen, "unix: out of memory");
    return GH_ENOMEM;
  }
  *o = unix_defaults;
  const char *m = host->opt_get(inst, "mode", 0);
  if (m && mode_parse(m, &o->mode) < 0) {
    host->free(o);
    set_err(err, errlen,
            "unix.mode must be octal permissions from 0 to 0777, e.g. 0660");
    return GH_EINVAL;
  }
  const char *ow = host->opt_get(inst, "owner", 0);
  if (ow) {
    if (!owner_syntax_ok(ow) || strlen(ow) >= sizeof o->owner) {
      host->free(o);
      set_err(err, errlen, "unix.owner must be USER or USER:GROUP");
      return GH_EINVAL;
    }
    snprintf(o->owner, sizeof o->owner, "%s", ow);
    o->has_owner = 1;
  }
  host->inst_set_data(inst, o);
  return 0;
}

static void unix_inst_free(gh_inst *inst) {
  host->free(host->inst_data(inst));
  host->inst_set_data(inst, NULL);
}

static const unix_opts *opts_of(const gh_inst *inst) {
  const unix_opts *o = inst ? host->inst_data(inst) : NULL;
  return o ? o : &unix_defaults;
}

static int sun_fill(struct sockaddr_un *sa, const char *path) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (!path || path[0] != '/' || strlen(path) >= sizeof sa->sun_path)
    return GH_EINVAL;
  memcpy(sa->sun_path, path, strlen(path) + 1);
  return 0;
}

/* ---------------------------------------------------------- connections */

/* A Unix socket has no reset: an abortive end is a close. */
static const sc_kind unix_conn_kind = {
    .name = "unix",
    .type = UV_NAMED_PIPE,
    .connected = NULL,
    .close_reset = NULL,
};

/* ------------------------------------------------------------ listeners */

typedef struct unix_listener {
  sl_listener sl; /* first: the accept loop's */
  dev_t dev;      /* the socket file we made, removed only if still ours */
  ino_t ino;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} unix_listener;

static void accept_one(sl_listener *sl, int fd) {
  int rc;
  sc_conn *c = sc_adopt(fd, &rc);
  if (!c) {
    close(fd);
    return;
  }
  /* A Unix-socket peer has no address (GH_AF_UNIX, zeros). */
  gh_addr peer, local;
  memset(&peer, 0, sizeof peer);
  peer.family = GH_AF_UNIX;
  local = peer;
  sc_accepted(c, sl->l, &peer, &local);
}

/* EMFILE, ENOMEM...: the listener pauses rather than spin. */
static int accept_failed(sl_listener *sl, int err) {
  GH_LOG(host, GH_LOG_WARN, NULL, "unix: accept on %s: %s",
         ((unix_listener *)sl)->path, uv_strerror(err));
  return 0;
}

/* Removes the socket file if it is still the one this listener made. */
static void unlink_ours(sl_listener *sl) {
  const unix_listener *ul = (const unix_listener *)sl;
  struct stat st;
  if (lstat(ul->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
      st.st_dev == ul->dev && st.st_ino == ul->ino && unlink(ul->path) < 0)
    GH_LOG(host, GH_LOG_WARN, NULL, "unix: cannot remove %s: %s", ul->path,
           strerror(errno));
}

static const sl_kind unix_listen_kind = {
    .accept = accept_one,
    .failed = accept_failed,
    .closing = unlink_ours,
};

/* What is at the path already: 0 when nothing is (or a stale socket was
 * removed), or an error the operator is told about. */
static int clear_stale(const struct sockaddr_un *sa) {
  struct stat st;
  if (lstat(sa->sun_path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode)) {
    GH_LOG(host, GH_LOG_ERROR, NULL,
           "unix: %s exists and is not a socket: not replaced", sa->sun_path);
    return GH_EEXIST;
  }
  /* Non-blocking: a listener with a full backlog answers EAGAIN at once
   * (in use) where a blocking connect would hang the event loop. */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
  int e = errno;
  close(fd);
  if (rc == 0 || e != ECONNREFUSED) {
    GH_LOG(host, GH_LOG_ERROR, NULL, "unix: %s is a socket %s: not replaced",
           sa->sun_path, rc == 0 ? "that a process listens on" : strerror(e));
    return GH_EADDRINUSE;
  }
  if (unlink(sa->sun_path) < 0 && errno != ENOENT)
    return -errno;
  GH_LOG(host, GH_LOG_INFO, NULL,
         "unix: %s: replaced a stale socket nobody listened on", sa->sun_path);
  return 0;
}

static int owner_resolve(const char *spec, uid_t *uid, gid_t *gid) {
  char user[128];
  snprintf(user, sizeof user, "%s", spec);
  char *colon = strchr(user, ':');
  if (colon)
    *colon++ = '\0';
  const struct passwd *pw = getpwnam(user);
  if (!pw)
    return -1;
  *uid = pw->pw_uid;
  *gid = (gid_t)-1;
  if (colon) {
    const struct group *gr = getgrnam(colon);
    if (!gr)
      return -2;
    *gid = gr->gr_gid;
  }
  return 0;
}

/* The listening socket, its file made with the options: a descriptor or a
 * negative code. */
static int listen_socket(const struct sockaddr_un *sa, const unix_opts *o,
                         struct stat *made) {
  uid_t uid = (uid_t)-1;
  gid_t gid = (gid_t)-1;
  if (o->has_owner) {
    int r = owner_resolve(o->owner, &uid, &gid);
    if (r < 0) {
      GH_LOG(host, GH_LOG_ERROR, NULL, "unix: unix.owner %s: no such %s",
             o->owner, r == -1 ? "user" : "group");
      return GH_EINVAL;
    }
  }
  int rc = clear_stale(sa);
  if (rc < 0)
    return rc;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  /* Linux creates the file with the socket's mode less the umask: it is
   * never wider than asked, not even for a moment. */
  (void)fchmod(fd, o->mode);
  if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  const char *what = NULL;
  if (chmod(sa->sun_path, o->mode) < 0)
    what = "chmod";
  else if (o->has_owner && chown(sa->sun_path, uid, gid) < 0)
    what = "chown";
  else if (lstat(sa->sun_path, made) < 0)
    what = "stat";
  else if (listen(fd, SL_BACKLOG) < 0)
    what = "listen";
  if (what) {
    rc = -errno;
    GH_LOG(host, GH_LOG_ERROR, NULL, "unix: %s %s: %s", what, sa->sun_path,
           strerror(errno));
    (void)unlink(sa->sun_path);
    close(fd);
    return rc;
  }
  return fd;
}

static int32_t unix_listen(gh_listener *l, const char *path, uint16_t port) {
  struct sockaddr_un sa;
  (void)port;
  if (sun_fill(&sa, path) < 0)
    return GH_EINVAL;
  struct stat made;
  int fd = listen_socket(&sa, opts_of(host->listener_inst(l)), &made);
  if (fd < 0)
    return fd;
  unix_listener *ul = host->alloc(sizeof *ul);
  if (!ul) {
    (void)unlink(sa.sun_path);
    close(fd);
    return GH_ENOMEM;
  }
  memset(ul, 0, sizeof *ul);
  ul->dev = made.st_dev;
  ul->ino = made.st_ino;
  memcpy(ul->path, sa.sun_path, sizeof ul->path);
  return sl_start(&ul->sl, fd, l);
}

/* ----------------------------------------------------------- transport */

static int32_t unix_connect(gh_link *link, const char *path, uint16_t port,
                            uint32_t timeout_ms) {
  struct sockaddr_un sa;
  (void)port;
  if (sun_fill(&sa, path) < 0)
    return GH_EINVAL;
  sc_conn *c = sc_new();
  if (!c)
    return GH_ENOMEM;
  int rc = sc_deadline(c, timeout_ms);
  if (rc) {
    sc_release(c, 0);
    return rc;
  }
  sc_connecting(c, link);
  /* Errors (ENOENT, ECONNREFUSED, EACCES) come through sc_on_connect. */
  uv_pipe_connect(&c->connect_req, &c->h.pipe, sa.sun_path, sc_on_connect);
  return 0;
}

/* -------------------------------------------------------------- plugin */

static int32_t unix_init(const gh_host *h) {
  if (!h || h->abi_major != GH_ABI_MAJOR || h->abi_minor < 2 ||
      !GH_HOST_HAS(h, closed))
    return GH_ENOTSUP; /* a core before 1.2 knows no socket path */
  host = h;
  sc_setup(h, &unix_conn_kind);
  sl_setup(h, &unix_listen_kind);
  return 0;
}

static const gh_handler unix_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_TRANSPORT,
    .flags = GH_HANDLER_UNIX,
    .n_options = sizeof unix_options / sizeof unix_options[0],
    .name = "unix",
    .help = "Unix sockets: listens on a socket path (listen = unix:/PATH) "
            "and connects to one (resource = unix:/PATH); half-close",
    .options = unix_options,
    .inst_init = unix_inst_init,
    .inst_free = unix_inst_free,
    .listen = unix_listen,
    .unlisten = sl_unlisten,
    .connect = unix_connect,
    .write = sc_write,
    .shutdown = sc_shutdown,
    .read_start = sc_read_start,
    .read_stop = sc_read_stop,
    .close = sc_close,
};

static const gh_handler *const unix_handlers[] = {&unix_handler};

static const gh_plugin unix_plugin = {
    GH_PLUGIN_HEADER,
    .n_handlers = 1,
    .name = "unix",
    .version = GH_VERSION_STRING,
    .description = "the Unix-socket transport",
    .handlers = unix_handlers,
    .init = unix_init,
    .fini = NULL,
};

GH_PLUGIN_ENTRY(unix_plugin)
