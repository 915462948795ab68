/* The plugin loader and registry (core/plugin.c), against the plugins of
 * tests/plugins/ built into GH_TEST_PLUGIN_DIR: one good plugin, and one
 * file per defect the loader must refuse with a reason naming the file. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "plugin.h"

#ifndef GH_TEST_PLUGIN_DIR
#error "GH_TEST_PLUGIN_DIR must name the directory of the test plugins"
#endif
#define PLUGIN_DIR GH_TEST_PLUGIN_DIR

/* ------------------------------------------------------ a mock host table */

/* What plugins said through host->log(), one line each. */
static char plugin_log[8192];

static int32_t mock_log_enabled(int32_t level) {
  return 1;
}

static void mock_log(int32_t level, const gh_link *link, const char *fmt, ...) {
  size_t used = strlen(plugin_log);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(plugin_log + used, sizeof(plugin_log) - used, fmt, ap);
  va_end(ap);
  used = strlen(plugin_log);
  if (used + 1 < sizeof(plugin_log))
    strcat(plugin_log, "\n");
}

static gh_inst *last_inst;
static void *last_inst_data;

static void mock_inst_set_data(gh_inst *inst, void *data) {
  last_inst = inst;
  last_inst_data = data;
}

static const gh_host mock_host = {
    .size = sizeof(gh_host),
    .abi_major = GH_ABI_MAJOR,
    .abi_minor = GH_ABI_MINOR,
    .log_enabled = mock_log_enabled,
    .log = mock_log,
    .inst_set_data = mock_inst_set_data,
};

/* ---------------------------------------------------------------- helpers */

static char *path_of(const char *file) {
  static char buf[4][4096];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof(buf[0]), "%s/%s", PLUGIN_DIR, file);
  return p;
}

/* The file is not mapped any more: the loader dlclose()d it. */
static void assert_unloaded(const char *path) {
  void *dl = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (dl)
    dlclose(dl);
  assert_null(dl);
}

static int setup(void **state) {
  plugin_log[0] = '\0';
  last_inst = NULL;
  last_inst_data = NULL;
  return 0;
}

/* ------------------------------------------------------------ good plugin */

static void test_good_loads(void **state) {
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  char err[512] = "junk";
  const char *good = path_of("good.so");
  assert_int_equal(gh__registry_load_file(&r, good, err, sizeof(err)), 0);
  assert_string_equal(err, "");

  assert_int_equal(r.n_plugins, 1);
  assert_string_equal(r.plugins[0].path, good);
  assert_non_null(r.plugins[0].dl);
  assert_non_null(r.plugins[0].desc);
  assert_null(r.plugins[0].refused);
  assert_string_equal(r.plugins[0].desc->name, "good");
  assert_string_equal(r.plugins[0].desc->version, "1.2.3");
  assert_int_equal(r.n_handlers, 2);

  const gh_handler *t = gh__registry_find(&r, "t-good");
  const gh_handler *l = gh__registry_find(&r, "l-good");
  assert_non_null(t);
  assert_non_null(l);
  assert_int_equal(t->kind, GH_KIND_TRANSPORT);
  assert_int_equal(l->kind, GH_KIND_LAYER);
  assert_null(gh__registry_find(&r, "t-goo"));
  assert_null(gh__registry_find(&r, "nope"));

  /* init() ran once, with the table given to gh__registry_init(): the
   * plugin logged through it, and hands it back through inst_set_data(). */
  assert_string_equal(plugin_log, "good: init\n");
  assert_ptr_equal(r.host, &mock_host);
  gh_inst *inst = (gh_inst *)(void *)&r; /* any pointer: opaque to it */
  char ierr[64];
  assert_int_equal(t->inst_init(inst, ierr, sizeof(ierr)), 0);
  assert_ptr_equal(last_inst, inst);
  assert_ptr_equal(last_inst_data, &mock_host);

  /* Options, as declared. */
  const gh_option *o = gh__handler_option(t, "port_hint");
  assert_non_null(o);
  assert_int_equal(o->type, GH_OPT_INT);
  assert_int_equal(o->max, 65535);
  assert_non_null(gh__handler_option(t, "verbose"));
  assert_null(gh__handler_option(t, "greeting"));
  assert_null(gh__handler_option(t, "port"));
  assert_non_null(gh__handler_option(l, "greeting"));

  /* Loaded plugins are chains' material. */
  gh__chain c;
  assert_int_equal(gh__chain_parse(&r, "t-good+l-good", &c, err, sizeof(err)),
                   0);
  assert_int_equal(c.n, 2);
  assert_ptr_equal(c.h[0], t);
  assert_ptr_equal(c.h[1], l);

  gh__registry_free(&r);
  assert_string_equal(plugin_log, "good: init\ngood: fini\n");
  assert_int_equal(r.n_plugins, 0);
  assert_int_equal(r.n_handlers, 0);
  assert_unloaded(good);
}

/* A GH_OPT_ENUM option of a plugin of ABI 1.2 loads with its choices;
 * `gatehouse plugins` and the validation read them from there. */
static void test_enum_option_loads(void **state) {
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  char err[1024];
  const char *path = path_of("enum/enum-ok.so");
  assert_int_equal(gh__registry_load_file(&r, path, err, sizeof(err)), 0);
  const gh_handler *h = gh__registry_find(&r, "t-enum");
  assert_non_null(h);
  const gh_option *o = gh__handler_option(h, "mode");
  assert_non_null(o);
  assert_int_equal(o->type, GH_OPT_ENUM);
  assert_string_equal(gh__opt_type_name(o->type), "enum");
  char list[64];
  assert_string_equal(gh__opt_choices(o, "|", list, sizeof(list)),
                      "upper|rot13");
  assert_string_equal(gh__opt_choices(o, ", ", list, 9), "upper"); /* cut */
  gh__registry_free(&r);
}

/* A name without a slash is the file in the working directory, not one
 * searched for along the library path. */
static void test_relative_path(void **state) {
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir(PLUGIN_DIR), 0);
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  char err[512];
  int rc = gh__registry_load_file(&r, "good.so", err, sizeof(err));
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(rc, 0);
  assert_non_null(gh__registry_find(&r, "t-good"));
  gh__registry_free(&r);
}

/* --------------------------------------------------------------- refusals */

struct refusal {
  const char *file;
  int rc;
  char want[512]; /* the whole message after "PATH: " */
};

static void test_refusals(void **state) {
  char good[256];
  snprintf(good, sizeof(good), "%s", path_of("good.so"));
  struct refusal cases[] = {
      {"refuse-abi2.so", GH_ENOTSUP, ""},
      {"refuse-minor.so", GH_ENOTSUP, ""},
      {"refuse-noentry.so", GH_EINVAL, "no exported symbol gh_plugin_entry"},
      {"refuse-nullentry.so", GH_EINVAL, "gh_plugin_entry returned NULL"},
      {"refuse-dup.so", GH_EEXIST, ""},
      {"refuse-twice.so", GH_EINVAL, "handler \"t-refuse\" is declared twice"},
      {"refuse-nocb.so", GH_EINVAL,
       "handler \"l-nocb\" (layer) lacks down(), up_eof()"},
      {"refuse-initfail.so", GH_EIO, "init failed: input/output error"},
      {"refuse-short.so", GH_EINVAL, ""},
      {"refuse-badname.so", GH_EINVAL,
       "handler #0: invalid name \"Bad_Name\" (must match "
       "[a-z0-9][a-z0-9-]{0,31})"},
      {"refuse-badopt.so", GH_EINVAL,
       "handler \"t-refuse\": option \"limit\": min 10 is greater than max "
       "1"},
      {"refuse-nohandlers.so", GH_EINVAL,
       "declares 0 handlers (1 to 64 allowed)"},
      {"refuse-kind.so", GH_EINVAL, "handler \"t-refuse\": unknown kind 7"},
      {"refuse-hsize.so", GH_EINVAL, ""},
      {"refuse-garbage.so", GH_EINVAL, "not an ELF shared object"},
      {"refuse-dir.so", GH_EINVAL, "not a regular file"},
      {"no-such-file.so", GH_ENOENT, "cannot read: No such file or directory"},
      {"refuse-aliasdup.so", GH_EEXIST, ""},
      {"refuse-aliashandler.so", GH_EEXIST, ""},
      {"refuse-aliaschain.so", GH_EINVAL,
       "alias \"x\": invalid chain \"t-refuse++l\" (handler names joined by "
       "'+', at most 8)"},
      {"refuse-aliashide.so", GH_EINVAL,
       "alias \"t-refuse\" would hide the transport of that name"},
      {"refuse-initpos.so", GH_EINVAL,
       "init() returned 3: positive values are reserved; return 0 or a "
       "negative errno"},
      /* GH_OPT_ENUM: not in a plugin of ABI 1.1; a declaration the
       * configuration could not use */
      {"enum/refuse-enum-abi11.so", GH_EINVAL,
       "handler \"t-refuse\": option \"mode\" is GH_OPT_ENUM, which needs "
       "ABI 1.2; the plugin was built for ABI 1.1"},
      {"enum/refuse-enum-def.so", GH_EINVAL,
       "handler \"t-refuse\": option \"mode\": default \"lower\" is not one "
       "of its choices"},
      {"enum/refuse-enum-word.so", GH_EINVAL,
       "handler \"t-refuse\": option \"mode\": invalid choice \"rot 13\" "
       "(must match [A-Za-z0-9._+-]{1,63})"},
      {"enum/refuse-enum-twice.so", GH_EINVAL,
       "handler \"t-refuse\": option \"mode\": choice \"upper\" is listed "
       "twice"},
      {"enum/refuse-enum-none.so", GH_EINVAL,
       "handler \"t-refuse\": option \"mode\": GH_OPT_ENUM without choices"},
  };
  snprintf(cases[0].want, sizeof(cases[0].want),
           "built for ABI 2.%d, this core speaks %d.%d", GH_ABI_MINOR,
           GH_ABI_MAJOR, GH_ABI_MINOR);
  snprintf(cases[1].want, sizeof(cases[1].want),
           "needs ABI %d.%d, this core has %d.%d", GH_ABI_MAJOR,
           GH_ABI_MINOR + 1, GH_ABI_MAJOR, GH_ABI_MINOR);
  snprintf(cases[4].want, sizeof(cases[4].want),
           "handler \"t-good\" is already declared by %s: two plugin files "
           "declare one name (remove one, or rename its handler)",
           good);
  snprintf(cases[17].want, sizeof(cases[17].want),
           "alias \"good-both\" is already declared by %s (an alias): two "
           "plugin files declare one name (remove one, or rename its alias)",
           good);
  snprintf(cases[18].want, sizeof(cases[18].want),
           "alias \"t-good\" is already declared by %s: two plugin files "
           "declare one name (remove one, or rename its alias)",
           good);
  snprintf(cases[8].want, sizeof(cases[8].want),
           "descriptor size 8 is smaller than ABI 1.0's %zu",
           (size_t)GH__PLUGIN_SIZE_1_0);
  snprintf(cases[13].want, sizeof(cases[13].want),
           "handler #0: size 16 is smaller than ABI 1.0's %zu",
           (size_t)GH__HANDLER_SIZE_1_0);

  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    plugin_log[0] = '\0';
    gh__registry r;
    gh__registry_init(&r, &mock_host);
    char err[1024];
    assert_int_equal(gh__registry_load_file(&r, good, err, sizeof(err)), 0);

    const char *path = path_of(cases[i].file);
    char want[2048];
    snprintf(want, sizeof(want), "%s: %s", path, cases[i].want);
    int rc = gh__registry_load_file(&r, path, err, sizeof(err));
    if (rc != cases[i].rc || strcmp(err, want) != 0)
      print_error("%s: rc %d, \"%s\"\n", cases[i].file, rc, err);
    assert_int_equal(rc, cases[i].rc);
    assert_string_equal(err, want);

    /* Recorded, with nothing kept of it, and the good plugin untouched. */
    assert_int_equal(r.n_plugins, 2);
    assert_string_equal(r.plugins[1].path, path);
    assert_null(r.plugins[1].dl);
    assert_null(r.plugins[1].desc);
    assert_string_equal(r.plugins[1].refused, want);
    /* A conflict, and only that, stops a start. */
    assert_int_equal(r.plugins[1].conflict, cases[i].rc == GH_EEXIST);
    char why[1024] = "";
    assert_int_equal(gh__registry_conflict(&r, why, sizeof(why)),
                     cases[i].rc == GH_EEXIST ? GH_EEXIST : 0);
    if (cases[i].rc == GH_EEXIST)
      assert_string_equal(why, want);
    assert_int_equal(r.n_handlers, 2);
    assert_int_equal(r.n_aliases, 2);
    assert_non_null(gh__registry_find(&r, "t-good"));
    assert_null(gh__registry_find(&r, "t-refuse"));
    assert_null(gh__registry_find(&r, "l-nocb"));
    assert_unloaded(path);
    /* Only a plugin that passed every check had init() called; no refused
     * plugin has fini() called. */
    if (cases[i].rc == GH_EIO ||
        strcmp(cases[i].file, "refuse-initpos.so") == 0)
      assert_string_equal(plugin_log, "good: init\nrefuse: init\n");
    else
      assert_string_equal(plugin_log, "good: init\n");

    gh__registry_free(&r);
    assert_null(strstr(plugin_log, "refuse: fini"));
  }
}

/* A plugin cannot reach the core by symbol: dlopen() fails, and the reason
 * carries dlerror()'s text. */
static void test_core_exports_nothing(void **state) {
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  const char *path = path_of("refuse-undef.so");
  char err[1024];
  assert_int_equal(gh__registry_load_file(&r, path, err, sizeof(err)),
                   GH_EINVAL);
  char prefix[2048];
  snprintf(prefix, sizeof(prefix), "%s: dlopen failed: ", path);
  assert_memory_equal(err, prefix, strlen(prefix));
  assert_non_null(strstr(err, "undefined symbol: gh__log_write"));
  assert_int_equal(r.n_plugins, 1);
  assert_non_null(r.plugins[0].refused);
  assert_string_equal(plugin_log, "");
  gh__registry_free(&r);
}

/* A refusal is recorded even when the caller wants no message back. */
static void test_null_err(void **state) {
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  assert_int_equal(
      gh__registry_load_file(&r, path_of("refuse-abi2.so"), NULL, 0),
      GH_ENOTSUP);
  assert_int_equal(r.n_plugins, 1);
  assert_non_null(strstr(r.plugins[0].refused, "built for ABI 2."));
  gh__registry_free(&r);
}

/* ------------------------------------------------------------- directory */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char buf[65536];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_load_dir(void **state) {
  char logpath[] = "/tmp/gh-test-plugin-log-XXXXXX";
  int fd = mkstemp(logpath);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(gh__log_to_file(logpath), 0);

  gh__registry r;
  gh__registry_init(&r, &mock_host);
  int n = gh__registry_load_dir(&r, PLUGIN_DIR);
  gh__log_to_stderr();
  assert_int_equal(n, 1);

  /* Every *.so but the dot file, in name order: good.so first, then the
   * refusals. notes.txt and .hidden.so were not looked at. */
  assert_true(r.n_plugins >= 18);
  assert_string_equal(r.plugins[0].path, path_of("good.so"));
  assert_non_null(r.plugins[0].desc);
  const char *log = slurp(logpath);
  size_t refused = 0;
  for (size_t i = 1; i < r.n_plugins; i++) {
    const gh__plugin_ent *e = &r.plugins[i];
    assert_true(strcmp(r.plugins[i - 1].path, e->path) < 0);
    assert_null(e->dl);
    assert_null(e->desc);
    assert_non_null(e->refused);
    /* The reason names the file, and was logged as a warning. */
    assert_memory_equal(e->refused, e->path, strlen(e->path));
    assert_non_null(strstr(log, e->refused));
    assert_null(strstr(e->path, "notes.txt"));
    assert_null(strstr(e->path, ".hidden.so"));
    refused++;
  }
  assert_int_equal(refused, r.n_plugins - 1);
  assert_non_null(strstr(log, " warn "));
  assert_non_null(strstr(log, "refuse-dup.so: handler \"t-good\" is already "
                              "declared by"));
  assert_non_null(strstr(log, "good.so: loaded good 1.2.3"));

  assert_int_equal(r.n_handlers, 2);
  assert_non_null(gh__registry_find(&r, "t-good"));
  assert_non_null(gh__registry_find(&r, "l-good"));
  gh__registry_free(&r);
  unlink(logpath);

  /* A directory that cannot be read. */
  gh__registry_init(&r, &mock_host);
  assert_int_equal(gh__registry_load_dir(&r, PLUGIN_DIR "/no-such-dir"),
                   GH_ENOENT);
  assert_int_equal(r.n_plugins, 0);
  gh__registry_free(&r);
}

/* ------------------------------------------- who may write the plugins */

static void mode(const char *path, mode_t m) {
  assert_int_equal(chmod(path, m), 0);
}

static void expect_safe(const char *path) {
  char why[1024] = "junk";
  int rc = gh__plugin_path_check(path, why, sizeof(why));
  if (rc != 0)
    fprintf(stderr, "%s: refused: %s\n", path, why);
  assert_int_equal(rc, 0);
  assert_string_equal(why, "");
}

static void expect_unsafe(const char *path, const char *want) {
  char why[1024] = "";
  int rc = gh__plugin_path_check(path, why, sizeof(why));
  if (rc == 0 || strcmp(why, want) != 0)
    fprintf(stderr, "%s: got %d '%s', want '%s'\n", path, rc, why, want);
  assert_true(rc < 0);
  assert_string_equal(why, want);
}

/* Every component from / down, as OpenSSH's StrictModes: writable by group
 * or others, or owned by another user, is refused; a sticky directory on
 * the way down (as /tmp is) is not. */
static void test_path_check(void **state) {
  (void)state;
  char d[] = "/tmp/gh-test-perm-XXXXXX", sub[64], file[80], want[256];
  assert_non_null(mkdtemp(d)); /* 0700, ours, under the sticky /tmp */
  snprintf(sub, sizeof(sub), "%s/sub", d);
  snprintf(file, sizeof(file), "%s/sub/a.so", d);
  assert_int_equal(mkdir(sub, 0755), 0);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fclose(f);
  mode(file, 0644);
  expect_safe(d);
  expect_safe(file);

  mode(d, 0777);
  snprintf(want, sizeof(want), "%s is writable by others (mode 0777)", d);
  expect_unsafe(d, want);
  expect_unsafe(file, want); /* a directory on the way */
  mode(d, 0775);
  snprintf(want, sizeof(want), "%s is writable by group (mode 0775)", d);
  expect_unsafe(sub, want);
  /* sticky: fine on the way down, never as the directory itself */
  mode(d, 01777);
  expect_safe(sub);
  expect_safe(file);
  snprintf(want, sizeof(want), "%s is writable by others (mode 1777)", d);
  expect_unsafe(d, want);
  mode(d, 0755);

  mode(file, 0664);
  snprintf(want, sizeof(want), "%s is writable by group (mode 0664)", file);
  expect_unsafe(file, want);
  mode(file, 0644);

  /* a symbolic link is checked where it points, however it is reached */
  char link[80], target[80];
  snprintf(link, sizeof(link), "%s/link", d);
  snprintf(target, sizeof(target), "%s/open", d);
  assert_int_equal(mkdir(target, 0755), 0);
  assert_int_equal(symlink("open", link), 0);
  expect_safe(link);
  mode(target, 0777);
  snprintf(want, sizeof(want), "%s is writable by others (mode 0777)", target);
  expect_unsafe(link, want);
  char via[120];
  snprintf(via, sizeof(via), "%s/link/../sub/a.so", d);
  expect_unsafe(via, want); /* the target is a directory on the way */
  mode(target, 0755);
  expect_safe(via);

  /* a relative path: the working directory's components count too */
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir(d), 0);
  expect_safe("sub/a.so");
  mode(d, 0757);
  snprintf(want, sizeof(want), "%s is writable by others (mode 0757)", d);
  expect_unsafe("sub/a.so", want);
  mode(d, 0755);
  assert_int_equal(chdir(cwd), 0);

  /* owned by someone else (the tests run as root: chown works) */
  if (geteuid() == 0) {
    assert_int_equal(chown(file, 65534, 65534), 0);
    snprintf(want, sizeof(want),
             "%s is owned by uid 65534, neither root nor the running user "
             "(uid 0)",
             file);
    expect_unsafe(file, want);
    assert_int_equal(chown(file, 0, 0), 0);
    assert_int_equal(chown(sub, 65534, 65534), 0);
    snprintf(want, sizeof(want),
             "%s is owned by uid 65534, neither root nor the running user "
             "(uid 0)",
             sub);
    expect_unsafe(file, want);
    assert_int_equal(chown(sub, 0, 0), 0);
  }

  /* a loop of links */
  char loop[80];
  snprintf(loop, sizeof(loop), "%s/loop", d);
  assert_int_equal(symlink("loop", loop), 0);
  char why[1024];
  assert_true(gh__plugin_path_check(loop, why, sizeof(why)) < 0);
  assert_non_null(strstr(why, "too many levels of symbolic links"));

  unlink(loop);
  unlink(link);
  rmdir(target);
  unlink(file);
  rmdir(sub);
  rmdir(d);
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
    assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

static int marked(const char *marker) {
  return access(marker, F_OK) == 0;
}

/* A plugin directory or file that others could write is refused before
 * dlopen(): the plugin's constructor never runs. */
static void test_unsafe_plugins_never_run(void **state) {
  (void)state;
  char d[] = "/tmp/gh-test-plugdir-XXXXXX", so[80], marker[80], want[512];
  assert_non_null(mkdtemp(d));
  snprintf(so, sizeof(so), "%s/ctor.so", d);
  snprintf(marker, sizeof(marker), "%s.mark", d);
  copy_file(PLUGIN_DIR "/ctor/ctor.so", so);
  mode(so, 0644);
  setenv("GH_TEST_CTOR_MARKER", marker, 1);
  unlink(marker);

  gh__registry r;
  /* the directory writable by all: nothing of it is opened */
  mode(d, 0777);
  gh__registry_init(&r, &mock_host);
  assert_int_equal(gh__registry_load_dir(&r, d), GH_EPERM);
  snprintf(want, sizeof(want),
           "plugin_dir %s: refused: %s is writable by others (mode 0777)", d,
           d);
  assert_string_equal(r.dir_refused, want);
  assert_int_equal(r.n_plugins, 0);
  gh__registry_free(&r);
  assert_null(r.dir_refused);
  assert_false(marked(marker));
  mode(d, 0755);

  /* the file writable by group: refused, recorded with its reason */
  mode(so, 0664);
  gh__registry_init(&r, &mock_host);
  assert_int_equal(gh__registry_load_dir(&r, d), 0);
  assert_int_equal(r.n_plugins, 1);
  snprintf(want, sizeof(want),
           "%s: refused: %s is writable by group (mode 0664)", so, so);
  assert_string_equal(r.plugins[0].refused, want);
  gh__registry_free(&r);
  assert_false(marked(marker));
  mode(so, 0644);

  if (geteuid() == 0) { /* owned by nobody */
    assert_int_equal(chown(so, 65534, 65534), 0);
    gh__registry_init(&r, &mock_host);
    char err[512];
    assert_int_equal(gh__registry_load_file(&r, so, err, sizeof(err)),
                     GH_EPERM);
    assert_non_null(strstr(err, "is owned by uid 65534"));
    gh__registry_free(&r);
    assert_false(marked(marker));
    assert_int_equal(chown(so, 0, 0), 0);
  }

  /* and once only root can write it, it loads, and the mark shows that the
   * test would have seen a constructor run */
  gh__registry_init(&r, &mock_host);
  assert_int_equal(gh__registry_load_dir(&r, d), 1);
  assert_null(r.plugins[0].refused);
  gh__registry_free(&r);
  assert_true(marked(marker));

  unsetenv("GH_TEST_CTOR_MARKER");
  unlink(marker);
  unlink(so);
  rmdir(d);
}

/* ---------------------------------------------------------------- chains */

#define H(var, nm, knd, flg)                                                   \
  static const gh_handler var = {                                              \
      .size = sizeof(gh_handler), .kind = (knd), .flags = (flg), .name = (nm)}
H(h_tcp, "tcp", GH_KIND_TRANSPORT, 0);
H(h_udp, "udp", GH_KIND_TRANSPORT, GH_HANDLER_DGRAM);
H(h_tls, "tls", GH_KIND_LAYER, 0);
H(h_http, "http", GH_KIND_LAYER, 0);
H(h_l1, "l1", GH_KIND_LAYER, 0);
H(h_l2, "l2", GH_KIND_LAYER, 0);
H(h_l3, "l3", GH_KIND_LAYER, 0);
H(h_l4, "l4", GH_KIND_LAYER, 0);
H(h_l5, "l5", GH_KIND_LAYER, 0);

static const gh_handler *all[] = {&h_tcp, &h_udp, &h_tls, &h_http, &h_l1,
                                  &h_l2,  &h_l3,  &h_l4,  &h_l5};

/* As the shipped tls.so and http.so declare them. */
static const gh_alias alias_list[] = {
    {"tls", "tcp+tls"}, {"http", "tcp+http"}, {"https", "tcp+tls+http"}};
static const gh_alias *all_aliases[] = {&alias_list[0], &alias_list[1],
                                        &alias_list[2]};

static gh__registry hand_built(size_t n) {
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  r.handlers = all;
  r.n_handlers = n;
  r.aliases = all_aliases;
  r.n_aliases = 3;
  return r;
}

static void assert_chain(const gh__registry *r, const char *spec,
                         const gh_handler *const *want, size_t n) {
  gh__chain c;
  char err[512] = "";
  int rc = gh__chain_parse(r, spec, &c, err, sizeof(err));
  if (rc != 0)
    print_error("\"%s\": %s\n", spec, err);
  assert_int_equal(rc, 0);
  assert_int_equal(c.n, n);
  for (size_t i = 0; i < n; i++)
    assert_ptr_equal(c.h[i], want[i]);
}

/* GH_ENOENT: a handler that is not loaded; GH_EINVAL: anything else. */
static void assert_chain_rc(const gh__registry *r, const char *spec,
                            int want_rc, const char *want) {
  gh__chain c;
  c.n = 99;
  char err[1024] = "";
  int rc = gh__chain_parse(r, spec, &c, err, sizeof(err));
  if (rc != want_rc || strcmp(err, want) != 0)
    print_error("\"%s\": rc %d, \"%s\"\n", spec ? spec : "(null)", rc, err);
  assert_int_equal(rc, want_rc);
  assert_int_equal(c.n, 0);
  assert_string_equal(err, want);
}
#define assert_chain_err(r, spec, want)                                        \
  assert_chain_rc(r, spec, GH_EINVAL, want)
#define assert_chain_missing(r, spec, want)                                    \
  assert_chain_rc(r, spec, GH_ENOENT, want)

static void test_chain_ok(void **state) {
  gh__registry r = hand_built(sizeof(all) / sizeof(all[0]));
  const gh_handler *tcp[] = {&h_tcp}, *udp[] = {&h_udp},
                   *tls[] = {&h_tcp, &h_tls}, *http[] = {&h_tcp, &h_http},
                   *https[] = {&h_tcp, &h_tls, &h_http},
                   *max[] = {&h_tcp, &h_tls, &h_http, &h_l1,
                             &h_l2,  &h_l3,  &h_l4,   &h_l5};
  assert_chain(&r, "tcp", tcp, 1);
  assert_chain(&r, "udp", udp, 1);
  assert_chain(&r, "tls", tls, 2);
  assert_chain(&r, "http", http, 2);
  assert_chain(&r, "https", https, 3);
  assert_chain(&r, "  https\t", https, 3);
  assert_chain(&r, "tcp+tls", tls, 2);
  assert_chain(&r, "tcp+tls+http", https, 3);
  assert_chain(&r, " tcp +\ttls + http ", https, 3);
  assert_chain(&r, "tcp+tls+http+l1+l2+l3+l4+l5", max, GH__CHAIN_MAX);
}

static void test_chain_errors(void **state) {
  gh__registry r = hand_built(4); /* tcp, udp, tls, http */
  assert_chain_err(&r, NULL, "no protocol given");
  assert_chain_err(&r, "", "empty protocol");
  assert_chain_err(&r, " \t ", "empty protocol");
  assert_chain_err(&r, "tcp++tls",
                   "empty handler name in protocol \"tcp++tls\"");
  assert_chain_err(&r, "tcp+", "empty handler name in protocol \"tcp+\"");
  assert_chain_err(&r, "+tcp", "empty handler name in protocol \"+tcp\"");
  assert_chain_err(&r, "tcp+ +tls",
                   "empty handler name in protocol \"tcp+ +tls\"");
  assert_chain_missing(&r, "gopher",
                       "unknown protocol handler \"gopher\" (known: tcp, udp, "
                       "tls, http)");
  assert_chain_missing(
      &r, "tcp+proxy-protocol",
      "unknown protocol handler \"proxy-protocol\" (known: tcp, "
      "udp, tls, http)");
  /* Aliases are whole specs only. */
  assert_chain_missing(&r, "tcp+https",
                       "unknown protocol handler \"https\" (known: tcp, udp, "
                       "tls, http)");
  assert_chain_err(&r, "tls+http",
                   "protocol \"tls+http\" starts with \"tls\", a layer: a "
                   "chain starts with a transport (e.g. tcp+tls)");
  assert_chain_err(&r, "tcp+udp",
                   "protocol \"tcp+udp\": \"udp\" is a transport; only the "
                   "first handler of a chain may be one");
  assert_chain_err(&r, "udp+tls",
                   "protocol \"udp+tls\": \"udp\" carries datagrams and takes "
                   "no layers");
  assert_chain_err(&r, "tcp+tls+tls",
                   "handler \"tls\" appears twice in protocol \"tcp+tls+tls\"");

  gh__registry full = hand_built(sizeof(all) / sizeof(all[0]));
  assert_chain_err(&full, "tcp+tls+http+l1+l2+l3+l4+l5+l1",
                   "protocol \"tcp+tls+http+l1+l2+l3+l4+l5+l1\" chains more "
                   "than 8 handlers");

  /* An alias whose parts are not loaded says so. */
  gh__registry layers_only = hand_built(0);
  layers_only.handlers = all + 2; /* tls, http, l1.. */
  layers_only.n_handlers = 2;
  assert_chain_missing(&layers_only, "https",
                       "unknown protocol handler \"tcp\" (needed by https = "
                       "tcp+tls+http; known: tls, http)");
  gh__registry none = hand_built(0);
  assert_chain_missing(&none, "tcp",
                       "unknown protocol handler \"tcp\" (no handlers are "
                       "loaded)");
}

/* ------------------------------------------------- aliases, names, dirs */

/* good.so declares two aliases: its layer's own name, and one of its own. */
static void test_aliases(void **state) {
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  const char *good = path_of("good.so");
  assert_int_equal(gh__registry_load_file(&r, good, NULL, 0), 0);
  assert_int_equal(r.n_aliases, 2);
  const gh_alias *a = gh__registry_alias(&r, "good-both");
  assert_non_null(a);
  assert_string_equal(a->chain, "t-good+l-good");
  assert_null(gh__registry_alias(&r, "t-good"));
  assert_null(gh__registry_alias(&r, "https")); /* no built-in alias */

  int is_alias = -1;
  assert_string_equal(gh__registry_owner(&r, "good-both", 9, &is_alias), good);
  assert_int_equal(is_alias, 1);
  assert_string_equal(gh__registry_owner(&r, "t-good", 6, &is_alias), good);
  assert_int_equal(is_alias, 0);
  assert_null(gh__registry_owner(&r, "t-goodx", 7, NULL));
  assert_null(gh__registry_owner(&r, "t-goo", 5, NULL));

  /* An alias is a whole spec; its own layer's name stands for the chain. */
  const gh_handler *t = gh__registry_find(&r, "t-good");
  const gh_handler *l = gh__registry_find(&r, "l-good");
  gh__chain c;
  char err[512];
  assert_int_equal(gh__chain_parse(&r, " good-both ", &c, err, sizeof(err)), 0);
  assert_int_equal(c.n, 2);
  assert_ptr_equal(c.h[0], t);
  assert_ptr_equal(c.h[1], l);
  assert_int_equal(gh__chain_parse(&r, "l-good", &c, err, sizeof(err)), 0);
  assert_int_equal(c.n, 2);
  assert_int_equal(
      gh__chain_parse(&r, "t-good+good-both", &c, err, sizeof(err)), GH_ENOENT);
  char buf[64];
  assert_string_equal(gh__chain_canonical(&r, "good-both", buf, sizeof(buf)),
                      "t-good+l-good");
  assert_string_equal(
      gh__chain_canonical(&r, " t-good + l-good ", buf, sizeof(buf)),
      "t-good+l-good");
  /* an alias this registry does not know stays as written */
  assert_string_equal(gh__chain_canonical(&r, "https", buf, sizeof(buf)),
                      "https");
  assert_string_equal(gh__chain_canonical(NULL, "tls", buf, sizeof(buf)),
                      "tls");
  gh__registry_free(&r);
  assert_int_equal(r.n_aliases, 0);
}

/* A descriptor of ABI 1.1's size: the bytes after it are not the
 * plugin's, and may hold anything; the alias there is never read (it would
 * conflict with good.so's). */
static void test_abi11_descriptor_has_no_aliases(void **state) {
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  char err[1024];
  assert_int_equal(
      gh__registry_load_file(&r, path_of("good.so"), err, sizeof(err)), 0);
  assert_int_equal(
      gh__registry_load_file(&r, path_of("v11/v11.so"), err, sizeof(err)), 0);
  assert_string_equal(err, "");
  assert_int_equal(r.plugins[1].desc->size, GH_PLUGIN_SIZE_1_1);
  assert_int_equal(gh__plugin_n_aliases(r.plugins[1].desc), 0);
  assert_non_null(gh__registry_find(&r, "t-refuse"));
  assert_int_equal(r.n_aliases, 2);
  assert_int_equal(gh__registry_conflict(&r, err, sizeof(err)), 0);
  gh__registry_free(&r);
}

/* The handler of a refused file, named where it is used: by the names its
 * descriptor declares when it could be read, else by its file name. */
static void test_refused_where_used(void **state) {
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  const char *initfail = path_of("refuse-initfail.so");
  const char *abi2 = path_of("refuse-abi2.so");
  const char *dup = path_of("refuse-dup.so");
  gh__registry_load_file(&r, path_of("good.so"), NULL, 0);
  gh__registry_load_file(&r, initfail, NULL, 0);
  gh__registry_load_file(&r, abi2, NULL, 0);
  gh__registry_load_file(&r, dup, NULL, 0);
  assert_string_equal(r.plugins[1].names, "t-refuse ");
  assert_null(r.plugins[2].names); /* ABI 2: nothing of it is read */
  assert_ptr_equal(gh__registry_refused_for(&r, "t-refuse", 8), &r.plugins[1]);
  assert_ptr_equal(gh__registry_refused_for(&r, "refuse-abi2", 11),
                   &r.plugins[2]);
  assert_null(gh__registry_refused_for(&r, "refuse-abi", 10));
  assert_null(gh__registry_refused_for(&r, "refuse-dup", 10)); /* conflict */
  assert_null(gh__registry_refused_for(&r, "t-good", 6));

  char want[2048];
  snprintf(want, sizeof(want),
           "handler \"t-refuse\": %s was refused: init failed: input/output "
           "error",
           initfail);
  assert_chain_missing(&r, "t-refuse", want);
  snprintf(want, sizeof(want),
           "handler \"refuse-abi2\": %s was refused: built for ABI 2.%d, this "
           "core speaks %d.%d",
           abi2, GH_ABI_MINOR, GH_ABI_MAJOR, GH_ABI_MINOR);
  assert_chain_missing(&r, "t-good + refuse-abi2", want);
  assert_chain_missing(&r, "nothing",
                       "unknown protocol handler \"nothing\" (known: t-good, "
                       "l-good)");
  gh__registry_free(&r);
}

static void mkdir_copy(char *d, const char *from, const char *as) {
  char to[256];
  snprintf(to, sizeof(to), "%s/%s", d, as);
  copy_file(from, to);
  mode(to, 0644);
}

/* Several directories, in order: the same name in two files is a conflict
 * naming both, whichever order; the same file seen twice is no conflict. */
static void test_dirs_conflict_and_same_file(void **state) {
  char a[] = "/tmp/gh-test-dira-XXXXXX", b[] = "/tmp/gh-test-dirb-XXXXXX";
  assert_non_null(mkdtemp(a));
  assert_non_null(mkdtemp(b));
  mkdir_copy(a, path_of("good.so"), "aa-shadow.so");
  mkdir_copy(b, path_of("good.so"), "good.so");
  char pa[128], pb[128], want[1024], why[1024];
  snprintf(pa, sizeof(pa), "%s/aa-shadow.so", a);
  snprintf(pb, sizeof(pb), "%s/good.so", b);
  for (int order = 0; order < 2; order++) {
    const char *first = order ? b : a, *second = order ? a : b;
    gh__registry r;
    gh__registry_init(&r, &mock_host);
    assert_int_equal(gh__registry_load_dir(&r, first), 1);
    assert_int_equal(gh__registry_load_dir(&r, second), 0);
    assert_int_equal(gh__registry_conflict(&r, why, sizeof(why)), GH_EEXIST);
    snprintf(want, sizeof(want),
             "%s: handler \"t-good\" is already declared by %s: two plugin "
             "files declare one name (remove one, or rename its handler)",
             order ? pa : pb, order ? pb : pa);
    assert_string_equal(why, want);
    gh__registry_free(&r);
  }
  /* b's file is now a link to a's: one file, loaded once */
  unlink(pb);
  assert_int_equal(symlink(pa, pb), 0);
  gh__registry r;
  gh__registry_init(&r, &mock_host);
  plugin_log[0] = '\0';
  assert_int_equal(gh__registry_load_dir(&r, a), 1);
  assert_int_equal(gh__registry_load_dir(&r, b), 0);
  assert_int_equal(r.n_plugins, 1);
  assert_int_equal(gh__registry_conflict(&r, why, sizeof(why)), 0);
  assert_string_equal(plugin_log, "good: init\n");
  /* and so is the same directory given twice */
  assert_int_equal(gh__registry_load_dir(&r, a), 0);
  assert_int_equal(r.n_plugins, 1);
  gh__registry_free(&r);
  unlink(pb);
  unlink(pa);
  rmdir(a);
  rmdir(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_good_loads, setup),
      cmocka_unit_test_setup(test_relative_path, setup),
      cmocka_unit_test_setup(test_refusals, setup),
      cmocka_unit_test_setup(test_core_exports_nothing, setup),
      cmocka_unit_test_setup(test_null_err, setup),
      cmocka_unit_test_setup(test_enum_option_loads, setup),
      cmocka_unit_test_setup(test_load_dir, setup),
      cmocka_unit_test_setup(test_path_check, setup),
      cmocka_unit_test_setup(test_unsafe_plugins_never_run, setup),
      cmocka_unit_test_setup(test_aliases, setup),
      cmocka_unit_test_setup(test_abi11_descriptor_has_no_aliases, setup),
      cmocka_unit_test_setup(test_refused_where_used, setup),
      cmocka_unit_test_setup(test_dirs_conflict_and_same_file, setup),
      cmocka_unit_test_setup(test_chain_ok, setup),
      cmocka_unit_test_setup(test_chain_errors, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
