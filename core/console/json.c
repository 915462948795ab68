/* A small JSON reader (RFC 8259) for `gatehouse status`: the whole text
 * into a tree, depth and size bounded by the caller's input. */
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define MAX_DEPTH 64

typedef struct rd {
  const char *p, *end;
  int depth;
} rd;

static void ws(rd *r) {
  while (r->p < r->end &&
         (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
    r->p++;
}

static gh__jv *node(int type) {
  gh__jv *v = calloc(1, sizeof(*v));
  if (v)
    v->type = type;
  return v;
}

static int push(gh__jv *v, gh__jv *item, char *key) {
  if (v->n % 16 == 0) {
    gh__jv **ni = realloc(v->items, (v->n + 16) * sizeof(*ni));
    if (!ni)
      return -1;
    v->items = ni;
    if (v->type == GH__J_OBJ) {
      char **nk = realloc(v->keys, (v->n + 16) * sizeof(*nk));
      if (!nk)
        return -1;
      v->keys = nk;
    }
  }
  v->items[v->n] = item;
  if (v->type == GH__J_OBJ)
    v->keys[v->n] = key;
  v->n++;
  return 0;
}

static int hex4(rd *r, unsigned *out) {
  if (r->end - r->p < 4)
    return -1;
  unsigned u = 0;
  for (int i = 0; i < 4; i++) {
    char c = *r->p++;
    u <<= 4;
    if (c >= '0' && c <= '9')
      u |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      u |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      u |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = u;
  return 0;
}

static size_t utf8_put(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* r->p is past the opening quote. The decoded text is never longer than
 * the escaped one. */
static char *string(rd *r) {
  const char *s = r->p;
  while (s < r->end && *s != '"')
    s += *s == '\\' && s + 1 < r->end ? 2 : 1;
  if (s >= r->end)
    return NULL;
  char *out = malloc((size_t)(s - r->p) + 1), *o = out;
  if (!out)
    return NULL;
  while (r->p < s) {
    char c = *r->p++;
    if ((unsigned char)c < 0x20)
      goto bad;
    if (c != '\\') {
      *o++ = c;
      continue;
    }
    c = *r->p++;
    switch (c) {
    case '"':
    case '\\':
    case '/':
      *o++ = c;
      break;
    case 'b':
      *o++ = '\b';
      break;
    case 'f':
      *o++ = '\f';
      break;
    case 'n':
      *o++ = '\n';
      break;
    case 'r':
      *o++ = '\r';
      break;
    case 't':
      *o++ = '\t';
      break;
    case 'u': {
      unsigned cp, lo;
      if (hex4(r, &cp) < 0)
        goto bad;
      if (cp >= 0xd800 && cp <= 0xdbff && s - r->p >= 6 && r->p[0] == '\\' &&
          r->p[1] == 'u') {
        r->p += 2;
        if (hex4(r, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
          goto bad;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xd800 && cp <= 0xdfff) {
        cp = 0xfffd; /* a lone surrogate */
      }
      o += utf8_put(o, cp);
      break;
    }
    default:
      goto bad;
    }
  }
  *o = 0;
  r->p = s + 1;
  return out;
bad:
  free(out);
  return NULL;
}

static gh__jv *value(rd *r);

static gh__jv *container(rd *r, int obj) {
  gh__jv *v = node(obj ? GH__J_OBJ : GH__J_ARR);
  if (!v || ++r->depth > MAX_DEPTH)
    goto bad;
  ws(r);
  if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
    r->p++;
    r->depth--;
    return v;
  }
  for (;;) {
    char *key = NULL;
    ws(r);
    if (obj) {
      if (r->p >= r->end || *r->p != '"')
        goto bad;
      r->p++;
      if (!(key = string(r)))
        goto bad;
      ws(r);
      if (r->p >= r->end || *r->p != ':') {
        free(key);
        goto bad;
      }
      r->p++;
    }
    gh__jv *item = value(r);
    if (!item || push(v, item, key) < 0) {
      free(key);
      gh__json_free(item);
      goto bad;
    }
    ws(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
      r->p++;
      r->depth--;
      return v;
    }
    goto bad;
  }
bad:
  gh__json_free(v);
  return NULL;
}

static gh__jv *value(rd *r) {
  ws(r);
  if (r->p >= r->end)
    return NULL;
  char c = *r->p;
  if (c == '{' || c == '[') {
    r->p++;
    return container(r, c == '{');
  }
  if (c == '"') {
    r->p++;
    char *s = string(r);
    gh__jv *v = s ? node(GH__J_STR) : NULL;
    if (!v) {
      free(s);
      return NULL;
    }
    v->str = s;
    return v;
  }
  static const struct {
    const char *w;
    int type, b;
  } words[] = {{"null", GH__J_NULL, 0},
               {"true", GH__J_BOOL, 1},
               {"false", GH__J_BOOL, 0}};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(words[i].w);
    if ((size_t)(r->end - r->p) >= n && memcmp(r->p, words[i].w, n) == 0) {
      r->p += n;
      gh__jv *v = node(words[i].type);
      if (v)
        v->num = words[i].b;
      return v;
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    char buf[64];
    size_t n = 0;
    while (r->p + n < r->end && n < sizeof(buf) - 1 &&
           strchr("+-.eE0123456789", r->p[n]))
      n++;
    memcpy(buf, r->p, n);
    buf[n] = 0;
    char *e;
    double d = strtod(buf, &e);
    if (e == buf)
      return NULL;
    r->p += e - buf;
    gh__jv *v = node(GH__J_NUM);
    if (v)
      v->num = d;
    return v;
  }
  return NULL;
}

gh__jv *gh__json_parse(const char *text, size_t len) {
  rd r = {text, text + len, 0};
  gh__jv *v = value(&r);
  ws(&r);
  if (v && r.p != r.end) {
    gh__json_free(v);
    return NULL;
  }
  return v;
}

void gh__json_free(gh__jv *v) {
  if (!v)
    return;
  for (size_t i = 0; i < v->n; i++) {
    gh__json_free(v->items[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
  free(v);
}

const gh__jv *gh__json_get(const gh__jv *obj, const char *key) {
  if (!obj || obj->type != GH__J_OBJ)
    return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (strcmp(obj->keys[i], key) == 0)
      return obj->items[i];
  return NULL;
}

const char *gh__json_str(const gh__jv *obj, const char *key) {
  const gh__jv *v = gh__json_get(obj, key);
  return v && v->type == GH__J_STR ? v->str : NULL;
}

double gh__json_num(const gh__jv *obj, const char *key, double dflt) {
  const gh__jv *v = gh__json_get(obj, key);
  return v && v->type == GH__J_NUM ? v->num : dflt;
}

size_t gh__json_len(const gh__jv *arr) {
  return arr && arr->type == GH__J_ARR ? arr->n : 0;
}
