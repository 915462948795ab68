/* gatehouse: the command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "console/console.h"
#include "admin.h"
#include "client.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "server.h"

int gh__demo_main(int argc, char **argv);
int gh__plugins_main(int argc, char **argv);
int gh__reference_main(int argc, char **argv);

static const char usage[] =
    "usage:\n"
    "  gatehouse server -c server.ini [-d] [--pidfile FILE] [--log-file FILE] "
    "[-v]\n"
    "  gatehouse client -c client.ini [-d] [--pidfile FILE] [--log-file FILE] "
    "[-v]\n"
    "  gatehouse check  -c FILE.ini\n"
    "  gatehouse plugins [--plugin-dir DIR]...  (searched in order)\n"
    "  gatehouse reference [--plugin-dir DIR]...  (the configuration "
    "reference)\n"
    "  gatehouse status [-c FILE | --admin [https://]HOST:PORT] "
    "[--cacert FILE] [--json] [--watch]\n"
    "                   [--token-file FILE]\n"
    "  gatehouse demo\n"
    "  gatehouse --version | --help\n"
    "\n"
    "  -c, --config FILE   the configuration (INI)\n"
    "  -d, --daemon        detach, write the pid file, log to the log file or "
    "syslog\n"
    "      --pidfile FILE  the pid file (refused when a live process holds "
    "it)\n"
    "      --log-file FILE log here (reopened on SIGUSR1)\n"
    "  -v, --verbose       log at debug level (twice: trace)\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain and stop; SIGUSR1 reopens the log file.\n"
    "Exit status: 0 clean stop, 1 runtime failure, 2 usage or configuration "
    "error.\n";

typedef struct opts {
  const char *config;
  const char *pidfile;
  const char *log_file;
  int daemon;
  int verbose;
} opts;

static int parse_opts(int argc, char **argv, opts *o) {
  static const struct option lo[] = {{"config", required_argument, 0, 'c'},
                                     {"daemon", no_argument, 0, 'd'},
                                     {"pidfile", required_argument, 0, 'p'},
                                     {"log-file", required_argument, 0, 'l'},
                                     {"verbose", no_argument, 0, 'v'},
                                     {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:dv", lo, NULL)) != -1) {
    switch (c) {
    case 'c':
      o->config = optarg;
      break;
    case 'd':
      o->daemon = 1;
      break;
    case 'p':
      o->pidfile = optarg;
      break;
    case 'l':
      o->log_file = optarg;
      break;
    case 'v':
      o->verbose++;
      break;
    default:
      return -1;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "gatehouse: unexpected argument '%s'\n", argv[optind]);
    return -1;
  }
  if (!o->config) {
    fprintf(stderr, "gatehouse: -c FILE is required\n");
    return -1;
  }
  return 0;
}

/* ---- check ---- */

static void warn_to_stderr(const char *line, void *arg) {
  (void)arg;
  fprintf(stderr, "%s\n", line);
}

static void warn_to_log(const char *line, void *subject) {
  gh__warn((const char *)subject, "%s", line);
}

/* Loads the plugins as a start would: a plugin directory that cannot be
 * read or is refused (who may write it), or two files that declare one
 * name, fail the check; a refused plugin file is a warning, as the start
 * goes on without it (a destination that needs it says so). */
static int check_plugins(const char *path, char **dirs, char *err,
                         size_t errlen) {
  char why[768];
  gh__log_level = -1; /* the reasons are printed here */
  int r = gh__core_init(uv_default_loop(), (const char *const *)dirs, why,
                        sizeof(why));
  gh__log_level = GH_LOG_ERROR;
  if (r < 0) {
    snprintf(err, errlen, "%s: %s", path, why);
    return r;
  }
  for (size_t i = 0; i < gh__g.reg.n_plugins; i++)
    if (gh__g.reg.plugins[i].refused)
      fprintf(stderr, "%s: warning: plugin not loaded: %s\n", path,
              gh__g.reg.plugins[i].refused);
  return 0;
}

static int check_server(const char *path, gh__server_cfg *cfg, char *err,
                        size_t errlen) {
  int r = gh__server_cfg_load(cfg, path, err, errlen);
  if (r < 0)
    return r;
  if ((r = check_plugins(path, cfg->common.plugin_dirs, err, errlen)) < 0)
    return r;
  for (size_t i = 0; i < cfg->n_dests; i++)
    if ((r = gh__dest_validate(&cfg->dests[i], &gh__g.reg, err, errlen)) < 0)
      return r;
  /* The handlers' own checks (files that must match, ...): the side this
   * server runs of each destination is built and freed, as a start would.
   * (The client runs the resource side of an on-prem destination.) */
  for (size_t i = 0; i < cfg->n_dests && r == 0; i++) {
    gh__dest *c = gh__xcalloc(1, sizeof(*c));
    *c = cfg->dests[i];
    memset(&cfg->dests[i], 0, sizeof(cfg->dests[i]));
    r = gh__dest_try(
        c, c->type == GH__DEST_ONPREM ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE, err,
        errlen);
  }
  uv_run(uv_default_loop(), UV_RUN_NOWAIT); /* handles the handlers closed */
  gh__cfg_warnings_flush(warn_to_stderr, NULL);
  return r;
}

static int cmd_check(int argc, char **argv) {
  opts o = {0};
  if (parse_opts(argc, argv, &o) < 0) {
    fputs(usage, stderr);
    return 2;
  }
  char err[1024] = "";
  int kind = gh__cfg_sniff(o.config);
  int r;
  if (kind < 0) {
    fprintf(stderr, "%s: %s\n", o.config, strerror(-kind));
    return 2;
  }
  if (kind == 1) {
    gh__server_cfg cfg = {0};
    r = check_server(o.config, &cfg, err, sizeof(err));
    if (r == 0)
      printf("%s: server configuration ok (%zu gateway(s), %zu "
             "destination(s))\n",
             o.config, cfg.n_gateways, cfg.n_dests);
    gh__server_cfg_free(&cfg);
  } else if (kind == 2) {
    gh__client_cfg cfg = {0};
    r = gh__client_cfg_load(&cfg, o.config, err, sizeof(err));
    if (r == 0)
      r = check_plugins(o.config, cfg.common.plugin_dirs, err, sizeof(err));
    gh__cfg_warnings_flush(warn_to_stderr, NULL);
    size_t rules = cfg.acl.n; /* [acl] and every [acl GATEWAY] */
    for (size_t i = 0; i < cfg.n_gw_acls; i++)
      rules += cfg.gw_acls[i].acl.n;
    if (r == 0)
      printf("%s: client configuration ok (%zu gateway(s), %zu ACL "
             "rule(s))\n",
             o.config, cfg.n_gateways, rules);
    gh__client_cfg_free(&cfg);
  } else {
    fprintf(stderr,
            "%s: neither a server ([server]) nor a client ([client] or "
            "[gateway] with server =) configuration\n",
            o.config);
    return 2;
  }
  if (r < 0) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  return 0;
}

/* ---- running ---- */

static gh__rt the_rt;
static uv_signal_t sig_int, sig_term, sig_hup, sig_usr1;
static int pid_fd = -1;
static const char *pid_path;
static int ready_fd = -1; /* daemon: tells the waiting parent how start went */

static void stopped(gh__rt *rt) {
  uv_stop(gh__g.loop);
}

static void sd_notify(const char *state);

/* Set by cmd_run for SIGHUP: absolute, since -d changes to /. */
static char config_path[PATH_MAX];
static int verbose_flag;

static void reload(void) {
  if (the_rt.stopping)
    return;
  char err[1024] = "";
  gh__info(the_rt.subject, "SIGHUP: reloading %s", config_path);
  sd_notify("RELOADING=1");
  int r = the_rt.role == GH__ROLE_SERVER
              ? gh__server_reload(&the_rt, config_path, err, sizeof(err))
              : gh__client_reload(&the_rt, config_path, err, sizeof(err));
  sd_notify("READY=1");
  gh__cfg_warnings_flush(warn_to_log, (void *)the_rt.subject);
  if (r < 0) {
    gh__error(the_rt.subject,
              "reload refused, the running configuration is unchanged: %s",
              err);
    gh__event(GH__EV_RELOAD, the_rt.subject,
              "reload refused, the running configuration is unchanged: %s",
              err);
    return;
  }
  gh__log_format = the_rt.role == GH__ROLE_SERVER
                       ? the_rt.scfg->common.log_format
                       : the_rt.ccfg->common.log_format;
  if (!verbose_flag)
    gh__log_level = the_rt.role == GH__ROLE_SERVER
                        ? the_rt.scfg->common.log_level
                        : the_rt.ccfg->common.log_level;
  if (r > 0)
    gh__warn(the_rt.subject,
             "configuration reloaded from %s, but %d new destination(s) "
             "did not start (see above)",
             config_path, r);
  else
    gh__info(the_rt.subject, "configuration reloaded from %s", config_path);
  gh__event(GH__EV_RELOAD, the_rt.subject, "configuration reloaded from %s%s",
            config_path, r > 0 ? "; some new destinations did not start" : "");
}

static void on_signal(uv_signal_t *h, int sig) {
  switch (sig) {
  case SIGINT:
  case SIGTERM:
    if (the_rt.stopping) {
      gh__warn(the_rt.subject, "second signal: stopping now");
      uv_stop(gh__g.loop);
      return;
    }
    gh__info(the_rt.subject, "%s received",
             sig == SIGINT ? "SIGINT" : "SIGTERM");
    sd_notify("STOPPING=1");
    gh__rt_stop(&the_rt, stopped);
    break;
  case SIGUSR1:
    if (gh__log_reopen() < 0)
      gh__error(the_rt.subject, "cannot reopen the log file");
    else
      gh__info(the_rt.subject, "log file reopened");
    break;
  case SIGHUP:
    reload();
    break;
  }
}

static void signals_start(void) {
  signal(SIGPIPE, SIG_IGN);
  uv_signal_init(gh__g.loop, &sig_int);
  uv_signal_init(gh__g.loop, &sig_term);
  uv_signal_init(gh__g.loop, &sig_hup);
  uv_signal_init(gh__g.loop, &sig_usr1);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_signal_start(&sig_hup, on_signal, SIGHUP);
  uv_signal_start(&sig_usr1, on_signal, SIGUSR1);
  uv_unref((uv_handle_t *)&sig_int);
  uv_unref((uv_handle_t *)&sig_term);
  uv_unref((uv_handle_t *)&sig_hup);
  uv_unref((uv_handle_t *)&sig_usr1);
}

/* Takes the pid file's lock; a live process holding it refuses the start.
 * It is opened as root: never through a symlink (O_NOFOLLOW), only a
 * regular file of one link (a hard link could name any file of the same
 * file system), and truncated only once the lock is held (pidfile_write). */
static int pidfile_lock(const char *path, char *err, size_t errlen) {
  int fd = open(path,
                O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
                    O_NONBLOCK,
                0644);
  if (fd < 0) {
    int e = errno;
    snprintf(err, errlen, "%s: %s", path,
             e == ELOOP ? "refused: the pid file is a symbolic link"
                        : strerror(e));
    return -1;
  }
  struct stat st = {0};
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    snprintf(err, errlen, "%s: refused: the pid file is not a regular file%s",
             path, S_ISREG(st.st_mode) ? " of one link" : "");
    close(fd);
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    char buf[32] = "";
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    snprintf(err, errlen, "%s: already running (pid %s)", path,
             buf[0] ? buf : "?");
    close(fd);
    return -1;
  }
  pid_fd = fd;
  pid_path = path;
  return 0;
}

static void pidfile_write(void) {
  if (pid_fd < 0)
    return;
  char buf[32];
  int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
  if (ftruncate(pid_fd, 0) == 0 && pwrite(pid_fd, buf, (size_t)n, 0) != n)
    gh__warn("main", "cannot write the pid file");
}

/* Double fork; the first parent waits for the daemon's word on start-up,
 * so that a failing start still exits non-zero in the terminal. */
static int daemonize(void) {
  int p[2];
  if (pipe(p) < 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid > 0) {
    close(p[1]);
    char buf[1024];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    if (n == 1 && buf[0] == 0)
      _exit(0);
    if (n > 1) {
      buf[n] = 0;
      fprintf(stderr, "%s\n", buf + 1);
      _exit(buf[0]);
    }
    fprintf(stderr, "gatehouse: the daemon died while starting\n");
    _exit(1);
  }
  close(p[0]);
  if (setsid() < 0)
    _exit(1);
  pid = fork();
  if (pid < 0)
    _exit(1);
  if (pid > 0)
    _exit(0);
  umask(027);
  if (chdir("/") < 0)
    _exit(1);
  int fd = open("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
      close(fd);
  }
  ready_fd = p[1];
  return 0;
}

/* systemd's readiness protocol (Type=notify), without libsystemd: one
 * datagram of "KEY=VALUE" lines to the socket named by $NOTIFY_SOCKET (a
 * path, or '@' for the abstract namespace). Nothing when it is unset. */
static void sd_notify(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || (path[0] != '/' && path[0] != '@') || !path[1])
    return;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  if (len >= sizeof(sa.sun_path))
    return;
  memcpy(sa.sun_path, path, len);
  if (sa.sun_path[0] == '@')
    sa.sun_path[0] = 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
    gh__debug("main", "sd_notify: %s", strerror(errno));
  close(fd);
}

static void report_start(int status, const char *msg) {
  if (ready_fd < 0)
    return;
  char buf[1024];
  buf[0] = (char)status;
  size_t n = 1;
  if (msg)
    n += (size_t)snprintf(buf + 1, sizeof(buf) - 1, "%s", msg);
  if (write(ready_fd, buf, n) < 0) {
    /* the parent is gone: nothing to tell */
  }
  close(ready_fd);
  ready_fd = -1;
}

static int fail_start(int status, const char *msg) {
  fprintf(stderr, "%s\n", msg);
  gh__error("main", "%s", msg);
  report_start(status, msg);
  return status;
}

/* Every stream holds a socket, and a UDP session one on its resource side:
 * the default soft limit of 1024 descriptors is far too low for a gateway.
 * Raise it to the hard limit the administrator allows. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
    return;
  rlim_t was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
    gh__debug("main", "open file limit raised from %llu to %llu",
              (unsigned long long)was, (unsigned long long)rl.rlim_cur);
}

#if defined(__SANITIZE_ADDRESS__)
#define GH__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GH__ASAN 1
#endif
#endif

/* `user` / `group`: once the ports are bound and the keys read, the process
 * takes that identity for good (supplementary groups included) and checks
 * that root cannot be regained. */
static int drop_privileges(const char *user, const char *group, char *err,
                           size_t errlen) {
  if (!user && !group)
    return 0;
  if (geteuid() != 0) {
    snprintf(err, errlen,
             "user/group: changing identity needs root, and gatehouse runs "
             "as uid %ld: start it as root, or remove user and group",
             (long)geteuid());
    return -1;
  }
  struct passwd *pw = user ? getpwnam(user) : NULL;
  if (user && !pw) {
    snprintf(err, errlen, "user: no such user '%s'", user);
    return -1;
  }
  gid_t gid = pw ? pw->pw_gid : getgid();
  if (group) {
    struct group *gr = getgrnam(group);
    if (!gr) {
      snprintf(err, errlen, "group: no such group '%s'", group);
      return -1;
    }
    gid = gr->gr_gid;
  }
  if (setgroups(1, &gid) < 0 || setgid(gid) < 0 ||
      (pw && setuid(pw->pw_uid) < 0)) {
    snprintf(err, errlen, "cannot become %s%s%s: %s", user ? user : "",
             group ? ":" : "", group ? group : "", strerror(errno));
    return -1;
  }
  if (pw && pw->pw_uid != 0 && setuid(0) == 0) {
    snprintf(err, errlen, "user %s: root could be regained", user);
    return -1;
  }
#ifdef GH__ASAN
  /* LeakSanitizer's exit check traces the process, which a change of uid
   * forbids; sanitized builds are for tests only. */
  (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
  gh__info(the_rt.subject, "running as uid %ld, gid %ld%s%s", (long)getuid(),
           (long)getgid(), user ? ", user " : "", user ? user : "");
  return 0;
}

/* A configuration the runtime has not taken yet (a start that fails
 * before gh__*_start): freed here. */
static void cfg_drop(gh__server_cfg *scfg, gh__client_cfg *ccfg) {
  if (scfg)
    gh__server_cfg_free(scfg);
  if (ccfg)
    gh__client_cfg_free(ccfg);
  free(scfg);
  free(ccfg);
}

static int cmd_run(int argc, char **argv, int role) {
  opts o = {0};
  if (parse_opts(argc, argv, &o) < 0) {
    fputs(usage, stderr);
    return 2;
  }
  char err[1024] = "";
  /* The runtime owns its configuration from gh__*_start() on; a reload
   * replaces it and frees this one. */
  gh__server_cfg *scfg = gh__xcalloc(1, sizeof(*scfg));
  gh__client_cfg *ccfg = gh__xcalloc(1, sizeof(*ccfg));
  int r = role == GH__ROLE_SERVER
              ? gh__server_cfg_load(scfg, o.config, err, sizeof(err))
              : gh__client_cfg_load(ccfg, o.config, err, sizeof(err));
  if (r < 0) {
    fprintf(stderr, "%s\n", err);
    free(scfg);
    free(ccfg);
    return 2;
  }
  if (role == GH__ROLE_SERVER) {
    free(ccfg);
    ccfg = NULL;
  } else {
    free(scfg);
    scfg = NULL;
  }
  /* Read before the loop runs, so before any reload. */
  const gh__cfg_common *common = scfg ? &scfg->common : &ccfg->common;
  gh__log_level = o.verbose
                      ? GH__MIN(GH_LOG_DEBUG + o.verbose - 1, GH_LOG_TRACE)
                      : common->log_level;
  gh__log_format = common->log_format;
  if (o.log_file && (r = gh__log_to_file(o.log_file)) < 0) {
    fprintf(stderr, "%s: %s\n", o.log_file, strerror(-r));
    cfg_drop(scfg, ccfg);
    return 2;
  }
  if (!realpath(o.config, config_path))
    snprintf(config_path, sizeof(config_path), "%s", o.config);
  if (o.pidfile && pidfile_lock(o.pidfile, err, sizeof(err)) < 0) {
    fprintf(stderr, "gatehouse: %s\n", err);
    cfg_drop(scfg, ccfg);
    return 1;
  }
  if (o.daemon) {
    if (daemonize() < 0) {
      fprintf(stderr, "gatehouse: cannot detach: %s\n", strerror(errno));
      cfg_drop(scfg, ccfg);
      return 1;
    }
    if (!o.log_file)
      gh__log_to_syslog(role == GH__ROLE_SERVER ? "gatehouse-server"
                                                : "gatehouse-client");
  }
  pidfile_write();
  raise_fd_limit();
  verbose_flag = o.verbose;
  char why[768];
  if (gh__core_init(uv_default_loop(), (const char *const *)common->plugin_dirs,
                    why, sizeof(why)) < 0) {
    snprintf(err, sizeof(err), "%s: %s", o.config, why);
    cfg_drop(scfg, ccfg);
    return fail_start(2, err);
  }
  signals_start();
  r = role == GH__ROLE_SERVER
          ? gh__server_start(&the_rt, scfg, err, sizeof(err))
          : gh__client_start(&the_rt, ccfg, err, sizeof(err));
  gh__cfg_warnings_flush(warn_to_log,
                         role == GH__ROLE_SERVER ? "server" : "client");
  if (r < 0)
    return fail_start(r == GH_EINVAL ? 2 : 1, err);
  gh__info(the_rt.subject, "gatehouse %s started (pid %ld)", GH_VERSION_STRING,
           (long)getpid());
  if (common->admin_port &&
      gh__admin_start(&the_rt.admin, &the_rt, common->admin_host,
                      common->admin_port, err, sizeof(err)) < 0)
    return fail_start(1, err);
  if (drop_privileges(common->user, common->group, err, sizeof(err)) < 0)
    return fail_start(1, err);
  report_start(0, NULL);
  char ready[64];
  snprintf(ready, sizeof(ready), "READY=1\nMAINPID=%ld", (long)getpid());
  sd_notify(ready);
  uv_run(gh__g.loop, UV_RUN_DEFAULT);
  gh__info(the_rt.subject, "stopped");
  if (pid_path)
    unlink(pid_path);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("gatehouse %s (SDK ABI %d.%d, protocol %d, %s, libuv %s)\n",
           GH_VERSION_STRING, GH_ABI_MAJOR, GH_ABI_MINOR, GH__PROTO_VERSION,
           OpenSSL_version(OPENSSL_VERSION), uv_version_string());
    return 0;
  }
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "server") == 0)
    return cmd_run(argc - 1, argv + 1, GH__ROLE_SERVER);
  if (strcmp(cmd, "client") == 0)
    return cmd_run(argc - 1, argv + 1, GH__ROLE_CLIENT);
  if (strcmp(cmd, "check") == 0)
    return cmd_check(argc - 1, argv + 1);
  if (strcmp(cmd, "plugins") == 0)
    return gh__plugins_main(argc - 1, argv + 1);
  if (strcmp(cmd, "reference") == 0)
    return gh__reference_main(argc - 1, argv + 1);
  if (strcmp(cmd, "demo") == 0)
    return gh__demo_main(argc - 1, argv + 1);
  if (strcmp(cmd, "status") == 0)
    return gh__status_main(argc - 1, argv + 1);
  fprintf(stderr, "gatehouse: unknown command '%s'\n\n%s", cmd, usage);
  return 2;
}
