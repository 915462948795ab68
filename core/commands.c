/* `gatehouse plugins`: what each plugin file provides, or why it was
 * refused. `gatehouse reference`: the configuration reference
 * (docs/configuration.md). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "loop.h"

static void print_handler(const gh_handler *h) {
  printf("    %s (%s%s%s): %s\n", h->name,
         h->kind == GH_KIND_TRANSPORT ? "transport" : "layer",
         (h->flags & GH_HANDLER_DGRAM) ? ", datagrams" : "",
         (h->flags & GH_HANDLER_UNIX) ? ", socket paths" : "",
         h->help ? h->help : "");
  for (uint32_t i = 0; i < h->n_options; i++) {
    const gh_option *o = &h->options[i];
    printf("      %s.%s  %s", h->name, o->name, gh__opt_type_name(o->type));
    if (o->type == GH_OPT_INT)
      printf(" %lld..%lld", (long long)o->min, (long long)o->max);
    if (o->type == GH_OPT_ENUM) {
      char list[512];
      printf(" %s", gh__opt_choices(o, "|", list, sizeof(list)));
    }
    if (o->def)
      printf("  default %s", o->def);
    if (o->flags & GH_OPT_REQUIRED)
      printf("  required");
    if (o->flags & GH_OPT_MULTI)
      printf("  repeatable");
    printf("\n        %s\n", o->help ? o->help : "");
  }
}

/* Parses [--plugin-dir DIR]... (repeatable, searched in order; none: the
 * built-in directory) into dirs (NULL-terminated, at most max - 1) and
 * loads their plugins. 0, 1 when two files declare one name (all is
 * loaded and listed), or the exit status 2. */
static int load_plugins(int argc, char **argv, const char *cmd,
                        const char **dirs, size_t max) {
  static const struct option lo[] = {{"plugin-dir", required_argument, 0, 'p'},
                                     {0, 0, 0, 0}};
  int c;
  size_t n = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c != 'p' || n + 1 >= max) {
      fprintf(stderr, "usage: gatehouse %s [--plugin-dir DIR]...\n", cmd);
      return 2;
    }
    dirs[n++] = optarg;
  }
  if (optind != argc) {
    fprintf(stderr, "usage: gatehouse %s [--plugin-dir DIR]...\n", cmd);
    return 2;
  }
  if (!n)
    dirs[n++] = gh__default_plugin_dir();
  dirs[n] = NULL;
  gh__log_level = GH_LOG_ERROR; /* refusals are printed by the caller */
  char why[1024];
  int rc = gh__core_init(uv_default_loop(), dirs, why, sizeof(why));
  if (rc == GH_EEXIST)
    return 1;
  if (rc < 0) {
    fprintf(stderr, "gatehouse: %s\n", why);
    return 2;
  }
  return 0;
}

#define GH__DIRS_MAX 64

int gh__reference_main(int argc, char **argv) {
  const char *dirs[GH__DIRS_MAX];
  int rc = load_plugins(argc, argv, "reference", dirs, GH__DIRS_MAX);
  if (rc == 2)
    return rc;
  for (size_t i = 0; i < gh__g.reg.n_plugins; i++)
    if (gh__g.reg.plugins[i].refused)
      fprintf(stderr, "gatehouse: warning: %s\n", gh__g.reg.plugins[i].refused);
  if (rc)
    return rc;
  gh__conf_reference(stdout, &gh__g.reg);
  return fflush(stdout) == 0 ? 0 : 1;
}

/* Exits 1 when a file was refused or two declare one name (what a start
 * would refuse), after listing everything. */
int gh__plugins_main(int argc, char **argv) {
  const char *dirs[GH__DIRS_MAX];
  int rc = load_plugins(argc, argv, "plugins", dirs, GH__DIRS_MAX);
  if (rc == 2)
    return rc;
  printf("plugin directories, searched in order (core ABI %d.%d):\n",
         GH_ABI_MAJOR, GH_ABI_MINOR);
  for (size_t i = 0; dirs[i]; i++)
    printf("  %s\n", dirs[i]);
  size_t refused = 0;
  for (size_t i = 0; i < gh__g.reg.n_plugins; i++) {
    const gh__plugin_ent *p = &gh__g.reg.plugins[i];
    if (p->refused) {
      refused++;
      continue;
    }
    const gh_plugin *d = p->desc;
    printf("\n%s\n  name %s, version %s, ABI %u.%u\n  %s\n  handlers:\n",
           p->path, d->name, d->version, d->abi_major, d->abi_minor,
           d->description ? d->description : "");
    for (uint32_t k = 0; k < d->n_handlers; k++)
      print_handler(d->handlers[k]);
    uint32_t na = gh__plugin_n_aliases(d);
    if (na)
      printf("  aliases:\n");
    for (uint32_t k = 0; k < na; k++)
      printf("    %s = %s\n", d->aliases[k].name, d->aliases[k].chain);
  }
  if (refused) {
    printf("\nrefused:\n");
    for (size_t i = 0; i < gh__g.reg.n_plugins; i++)
      if (gh__g.reg.plugins[i].refused)
        printf("  %s\n", gh__g.reg.plugins[i].refused);
  }
  if (rc) {
    char why[1024];
    gh__registry_conflict(&gh__g.reg, why, sizeof(why));
    fprintf(stderr, "gatehouse: %s\n", why);
  }
  return refused ? 1 : 0;
}
