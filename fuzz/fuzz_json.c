/* The JSON reader of `gatehouse status` (core/console/json.c) and the
 * console's bearer check, on any bytes. Checks: a tree is only built from
 * the whole input; every string in it is NUL-terminated; objects have a key
 * for every item; the bearer check never reads past the head it is given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console/console.h"
#include "console/json.h"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

static size_t walk(const gh__jv *v, int depth) {
  CHECK(depth <= 65);
  size_t n = 1;
  switch (v->type) {
  case GH__J_STR:
    CHECK(v->str != NULL);
    (void)strlen(v->str);
    break;
  case GH__J_OBJ:
    for (size_t i = 0; i < v->n; i++)
      CHECK(v->keys[i] != NULL && gh__json_get(v, v->keys[i]) != NULL);
    /* fall through */
  case GH__J_ARR:
    for (size_t i = 0; i < v->n; i++)
      n += walk(v->items[i], depth + 1);
    break;
  default:
    CHECK(v->n == 0);
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gh__jv *v = gh__json_parse((const char *)data, size);
  if (v) {
    CHECK(walk(v, 0) <= size + 1);
    gh__json_free(v);
  }
  /* the same bytes as a request head: an exact copy, no NUL after it */
  char *head = malloc(size ? size : 1);
  if (head) {
    memcpy(head, data, size);
    (void)gh__console_authorized(head, size, "0123456789abcdef-token");
    free(head);
  }
  return 0;
}
