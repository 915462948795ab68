/* A small JSON reader for `gatehouse status`: text -> tree. */
#ifndef GH_CONSOLE_JSON_H
#define GH_CONSOLE_JSON_H

#include <stddef.h>

enum { GH__J_NULL, GH__J_BOOL, GH__J_NUM, GH__J_STR, GH__J_ARR, GH__J_OBJ };

typedef struct gh__jv {
  int type;
  double num;  /* numbers; booleans as 0 or 1 */
  char *str;   /* strings, UTF-8, NUL-terminated (a \u0000 ends it early) */
  struct gh__jv **items; /* arrays and objects */
  char **keys;           /* objects: items[i]'s key */
  size_t n;
} gh__jv;

/* The tree of a whole JSON text (nesting at most 64 deep), or NULL when it
 * is not one. Free it with gh__json_free. */
gh__jv *gh__json_parse(const char *text, size_t len);
void gh__json_free(gh__jv *v);
/* Lookups that take NULL and a wrong type: NULL / dflt / 0. */
const gh__jv *gh__json_get(const gh__jv *obj, const char *key);
const char *gh__json_str(const gh__jv *obj, const char *key);
double gh__json_num(const gh__jv *obj, const char *key, double dflt);
size_t gh__json_len(const gh__jv *arr);

#endif
