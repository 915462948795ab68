/* `gatehouse plugins`: what each plugin file provides, or why it was
 * refused. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "loop.h"

static const char *opt_type(uint32_t t) {
  switch (t) {
  case GH_OPT_STRING:
    return "string";
  case GH_OPT_INT:
    return "int";
  case GH_OPT_BOOL:
    return "bool";
  case GH_OPT_FILE:
    return "file";
  default:
    return "?";
  }
}

static void print_handler(const gh_handler *h) {
  printf("    %s (%s%s): %s\n", h->name,
         h->kind == GH_KIND_TRANSPORT ? "transport" : "layer",
         (h->flags & GH_HANDLER_DGRAM) ? ", datagrams" : "",
         h->help ? h->help : "");
  for (uint32_t i = 0; i < h->n_options; i++) {
    const gh_option *o = &h->options[i];
    printf("      %s.%s  %s", h->name, o->name, opt_type(o->type));
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

int gh__plugins_main(int argc, char **argv) {
  static const struct option lo[] = {{"plugin-dir", required_argument, 0, 'p'},
                                     {0, 0, 0, 0}};
  const char *dir = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c != 'p') {
      fprintf(stderr, "usage: gatehouse plugins [--plugin-dir DIR]\n");
      return 2;
    }
    dir = optarg;
  }
  gh__log_level = GH_LOG_ERROR; /* refusals are printed below */
  if (!dir)
    dir = gh__default_plugin_dir();
  if (gh__core_init(uv_default_loop(), dir) < 0) {
    if (gh__g.reg.dir_refused)
      fprintf(stderr, "gatehouse: %s\n", gh__g.reg.dir_refused);
    else
      fprintf(stderr, "gatehouse: cannot read the plugin directory %s\n",
              dir);
    return 2;
  }
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
