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
    if (o->def)
      printf("  default %s", o->def);
    if (o->flags & GH_OPT_REQUIRED)
      printf("  required");
    if (o->flags & GH_OPT_MULTI)
      printf("  repeatable");
    printf("\n        %s\n", o->help ? o->help : "");
  }
}

/* Parses [--plugin-dir DIR] and loads the plugins of DIR (default: the
 * built-in directory) into *dir; 0, or the exit status. */
static int load_plugins(int argc, char **argv, const char *cmd,
                        const char **dir) {
  static const struct option lo[] = {{"plugin-dir", required_argument, 0, 'p'},
                                     {0, 0, 0, 0}};
  int c;
  *dir = NULL;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c != 'p') {
      fprintf(stderr, "usage: gatehouse %s [--plugin-dir DIR]\n", cmd);
      return 2;
    }
    *dir = optarg;
  }
  gh__log_level = GH_LOG_ERROR; /* refusals are printed by the caller */
  if (!*dir)
    *dir = gh__default_plugin_dir();
  if (gh__core_init(uv_default_loop(), *dir) < 0) {
    if (gh__g.reg.dir_refused)
      fprintf(stderr, "gatehouse: %s\n", gh__g.reg.dir_refused);
    else
      fprintf(stderr, "gatehouse: cannot read the plugin directory %s\n",
              *dir);
    return 2;
  }
  return 0;
}

int gh__reference_main(int argc, char **argv) {
  const char *dir;
  int rc = load_plugins(argc, argv, "reference", &dir);
  if (rc)
    return rc;
  for (size_t i = 0; i < gh__g.reg.n_plugins; i++)
    if (gh__g.reg.plugins[i].refused)
      fprintf(stderr, "gatehouse: warning: %s\n", gh__g.reg.plugins[i].refused);
  gh__conf_reference(stdout, &gh__g.reg);
  return fflush(stdout) == 0 ? 0 : 1;
}

int gh__plugins_main(int argc, char **argv) {
  const char *dir;
  int rc = load_plugins(argc, argv, "plugins", &dir);
  if (rc)
    return rc;
  printf("plugin directory: %s (core ABI %d.%d)\n", dir, GH_ABI_MAJOR,
         GH_ABI_MINOR);
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
  }
  if (refused) {
    printf("\nrefused:\n");
    for (size_t i = 0; i < gh__g.reg.n_plugins; i++)
      if (gh__g.reg.plugins[i].refused)
        printf("  %s\n", gh__g.reg.plugins[i].refused);
  }
  return 0;
}
