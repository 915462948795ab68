/* The admin endpoint (admin.c): /metrics and /status over HTTP. */
#ifndef GH_ADMIN_H
#define GH_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "runtime.h"
#include "util.h"

const char *gh__hsf_name(int reason);
int gh__hsf_of_refusal(int32_t refuse_code); /* GH__REFUSE_* -> GH__HSF_* */

typedef struct gh__admin_req {
  char method[16];
  char path[256];
} gh__admin_req;

/* Parses the head of a request: >0 its length once "\r\n\r\n" arrived, 0
 * when more is needed, GH_EMSGSIZE past 8 KiB, GH_EPROTO for a bad request
 * line. Safe on any input. */
int gh__admin_parse(const char *buf, size_t len, gh__admin_req *req);
/* The body for a path ("/metrics", "/status"): 0 with *out filled (free it
 * with gh__buf_free) and *type its media type, or GH_ENOENT. */
int gh__admin_render(const gh__rt *rt, const char *path, gh__buf *out,
                     const char **type);
int gh__admin_start(gh__admin *adm, gh__rt *rt, const char *host,
                    uint16_t port, char *err, size_t errlen);
void gh__admin_stop(gh__admin *adm);

#endif
