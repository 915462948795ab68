/* Configuration: the server's and the client's INI files, and the
 * destination set the server pushes to clients.
 *
 * Parsing (gh__server_cfg_load, gh__client_cfg_load) reads a file with inih
 * and checks everything that needs no plugin: keys, values, addresses,
 * files that must exist, and the rules between sections. Validation against
 * the loaded plugins (gh__dest_validate) checks protocol chains and handler
 * options. Every error reads "FILE:LINE: reason". */
#ifndef GH_CONFIG_H
#define GH_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "acl.h"
#include "plugin.h"

/* One key = value, kept with its line. For GH_OPT_FILE handler options
 * `blob` holds the file's content once validated (server) or received
 * (client). */
typedef struct gh__kv {
  char *key;
  char *value;
  uint8_t *blob;
  size_t blob_len;
  int line;
  /* The file the kv was written in when that is not its destination's: a
   * client's own [destination] section, whose file anchors relative paths
   * and is named in errors. NULL otherwise. Owned. */
  char *file;
} gh__kv;

typedef struct gh__kvs {
  gh__kv *v;
  size_t n, cap;
} gh__kvs;

#define GH__DEST_ONPREM 1
#define GH__DEST_CLOUD 2

/* Keys of a [destination] whose line gh__dest_set() records in
 * gh__dest.key_line, so that errors found later (the rules between
 * sections, gh__dest_validate) point at the key; 0: not given, or pushed. */
enum {
  GH__DK_GATEWAY,
  GH__DK_TYPE,
  GH__DK_LISTEN,
  GH__DK_CLIENT_PORT,
  GH__DK_CLIENT_BIND,
  GH__DK_RESOURCE,
  GH__DK_LISTEN_PROTO,   /* listen.protocol, or protocol */
  GH__DK_RESOURCE_PROTO, /* resource.protocol, or protocol */
  GH__DK_ALLOW,          /* the first allow line */
  GH__DK_CONNECT_TIMEOUT,
  GH__DK_COUNT
};

/* Defaults of connecting_max and open_queue_max ([server], [client]). */
#define GH__CONNECTING_MAX_DEFAULT 1024u
#define GH__OPEN_QUEUE_MAX_DEFAULT 16384u

/* Bounds of a pushed destination set (gh__dests_decode refuses more). */
#define GH__DESTS_MAX 4096
#define GH__DESTS_BYTES_MAX (16u * 1024u * 1024u)
/* Keys in one pushed set, all destinations together: each becomes a kv
 * with two strings on the client, so the bytes alone do not bound what a
 * set costs it (16 MiB of tiny records would hold ~180 MB). */
#define GH__PUSH_RECORDS_MAX 65536u

typedef struct gh__dest {
  char *name;
  char *gateway;
  int type; /* GH__DEST_* */
  /* on-prem: the server listens here */
  char *listen_host;
  uint16_t listen_port;
  /* cloud: the client listens here (client_bind defaults to 127.0.0.1) */
  uint16_t client_port;
  char *client_bind;
  /* where the other end connects */
  char *resource_host;
  uint16_t resource_port;
  /* listen = unix:PATH (either type: the side that listens binds it) and
   * resource = unix:PATH: the path is in listen_host / resource_host, the
   * port 0, and the side's transport is a GH_HANDLER_UNIX one. */
  int listen_unix;
  int resource_unix;
  /* protocol chain specs, as written ("tcp" when absent) */
  char *listen_proto;
  char *resource_proto;
  /* handler options: "SIDE.HANDLER.KEY" or "HANDLER.KEY", as written */
  gh__kvs opts;
  gh__iplist allow;            /* allow = ...; absent: everyone */
  uint32_t connect_timeout_ms; /* default 10 s */
  char *file;                  /* its configuration file, for messages */
  int line;                    /* of the [destination NAME] header */
  /* filled by gh__dest_validate */
  gh__chain listen_chain;
  gh__chain resource_chain;
  /* additions */
  int key_line[GH__DK_COUNT]; /* see GH__DK_* */
  /* Decoded from a push: gh__dest_validate checks only the side this client
   * runs (onprem: resource, cloud: listen); options of the server's side
   * are not pushed, nor needed. */
  int pushed;
} gh__dest;

/* Defaults of the caps (a configuration built in code sets them too). */
#define GH__UNAUTH_MAX 1024u
#define GH__UNAUTH_PER_SOURCE 32u
#define GH__HANDSHAKE_S 10u
#define GH__GW_TUNNELS_MAX 64u
#define GH__GW_STREAMS_MAX 65536u

typedef struct gh__server_gw {
  char *id;
  char **tokens; /* secrets: never log them */
  size_t n_tokens;
  uint32_t tunnels_max; /* live tunnels at once, default 64 */
  uint32_t streams_max; /* streams at once over its tunnels, default 65536 */
  int line;
} gh__server_gw;

/* What [server] and [client] share: the keys of both, in one place. */
typedef struct gh__cfg_common {
  char *admin_host; /* NULL when admin_listen is absent */
  uint16_t admin_port;
  char *admin_token; /* secret: never log nor show it; NULL: none */
  char *admin_tls_cert, *admin_tls_key; /* admin.tls.*: PEM, or NULL */
  /* plugin_dir, each line in order, NULL-terminated; NULL: none given,
   * the built-in directory is searched */
  char **plugin_dirs;
  char *user, *group;           /* identity after start-up, or NULL */
  int log_level;                /* default GH_LOG_INFO */
  int log_format;               /* GH__LOG_TEXT (default) or GH__LOG_JSON */
  uint32_t drain_timeout_s;     /* default 30 */
  uint32_t keepalive_s;         /* ping interval, default 10 */
  uint32_t keepalive_timeout_s; /* silence before a tunnel is dropped: 30 */
  uint32_t connecting_max;      /* opens connecting at once per tunnel: 1024 */
  uint32_t open_queue_max;      /* more that wait their turn: 16384 */
} gh__cfg_common;

typedef struct gh__server_cfg {
  char *file;
  gh__cfg_common common;
  char *tunnel_host; /* tunnel_listen, required */
  uint16_t tunnel_port;
  char *cert, *key; /* required */
  char *client_ca;  /* optional */
  char *client_crl; /* optional, with client_ca: PEM CRL(s) */
  int client_crl_line;
  /* Before a tunnel is authenticated (its HELLO accepted): how many such
   * connections at once, overall (1024) and per source address (32; an
   * IPv6 source counts by its /64), and for how long (10 s). */
  uint32_t unauth_max, unauth_per_source, handshake_timeout_s;
  gh__server_gw *gateways;
  size_t n_gateways;
  gh__dest *dests;
  size_t n_dests;
} gh__server_cfg;

typedef struct gh__client_gw {
  char *id;
  char **servers; /* "host:port" as written */
  size_t n_servers;
  char *token; /* secret: never log it */
  char *ca;    /* required */
  char *crl;   /* optional: PEM CRL(s) for the server's chain */
  int crl_line;
  char *cert, *key;
  char *server_name;    /* name checked in the server's certificate; default:
                           the host of each server */
  uint32_t connections; /* per server, default 1 */
  int line;
} gh__client_gw;

/* A client's [destination NAME] section: handler options that replace,
 * for destination NAME of `gateway`, what that gateway's server pushes, so
 * that e.g. a private key need not leave the premises. Only `gateway` and
 * handler options (SIDE.HANDLER.KEY, HANDLER.KEY) may be given. */
typedef struct gh__local_dest {
  char *name;
  char *gateway;
  gh__kvs opts; /* as written; each kv's `file` is the client's file */
  int line;     /* of the section header */
  int gateway_line;
} gh__local_dest;

/* An [acl GATEWAY] section: the rules (and listen policy) of that gateway
 * alone, in place of the global [acl]. */
typedef struct gh__gw_acl {
  char *gateway;
  gh__acl acl;
  int line; /* of the section header */
} gh__gw_acl;

typedef struct gh__client_cfg {
  char *file;
  gh__cfg_common common;
  uint32_t reconnect_max_s; /* backoff cap, default 30 */
  gh__client_gw *gateways;
  size_t n_gateways;
  gh__acl acl;            /* [acl]; absent: nothing is allowed */
  gh__gw_acl *gw_acls;    /* [acl GATEWAY] sections */
  size_t n_gw_acls;
  gh__local_dest *locals; /* [destination NAME] sections */
  size_t n_locals;
} gh__client_cfg;

/* Parse a file. Return 0, or GH_EINVAL with "FILE:LINE: reason" in err (or
 * "FILE: reason" when no line applies). On failure *cfg is freed and
 * zeroed. */
int gh__server_cfg_load(gh__server_cfg *cfg, const char *path, char *err,
                        size_t errlen);
int gh__client_cfg_load(gh__client_cfg *cfg, const char *path, char *err,
                        size_t errlen);
/* The same, from text in memory (len bytes; NUL bytes are refused). `name`
 * is the file name used in messages, and its directory anchors relative
 * paths (as the file's does for gh__*_cfg_load). */
int gh__server_cfg_load_string(gh__server_cfg *cfg, const char *text,
                               size_t len, const char *name, char *err,
                               size_t errlen);
int gh__client_cfg_load_string(gh__client_cfg *cfg, const char *text,
                               size_t len, const char *name, char *err,
                               size_t errlen);
void gh__server_cfg_free(gh__server_cfg *cfg);
void gh__client_cfg_free(gh__client_cfg *cfg);

/* The rules that apply to `gateway`: its [acl GATEWAY] section if the file
 * has one, else the global [acl]. Never NULL. */
const gh__acl *gh__client_acl(const gh__client_cfg *cfg, const char *gateway);

/* Reads the PEM CRL(s) of a file (tls.c): 0, or GH_EINVAL with the
 * reason in why (unreadable, no CRL in it, not PEM). */
int gh__crl_file_check(const char *path, char *why, size_t len);

/* Which kind of file: 1 server ([server] section), 2 client ([client] or
 * [gateway] with server=), 0 unknown, -errno unreadable. */
int gh__cfg_sniff(const char *path);

/* Checks a destination against the plugins: both chains parse; every
 * handler option names a handler of its side's chain (both chains for
 * HANDLER.KEY without a side) and an option it declares; values match
 * their type and range; required options are present; GH_OPT_FILE values
 * are read into the kv's blob (unless a blob is already there, as on the
 * client). Fills d->listen_chain and d->resource_chain. Errors name
 * d->file and the line of the key (or of the section). */
int gh__dest_validate(gh__dest *d, const gh__registry *reg, char *err,
                      size_t errlen);

/* Applies one "key = value" of a [destination] section to d; the INI
 * parser and the push decoder share it. Returns 0, or GH_EINVAL with a
 * reason (no FILE:LINE prefix) in err. */
int gh__dest_set(gh__dest *d, const char *key, const char *value, int line,
                 char *err, size_t errlen);
void gh__dest_free(gh__dest *d);

/* Where the destination listens (listen, or client_bind and client_port)
 * and its resource, as a user writes them: "unix:/run/a.sock", "h:80",
 * "[::1]:80", ":80" for every address. */
void gh__dest_listen_text(const gh__dest *d, char *out, size_t len);
void gh__dest_resource_text(const gh__dest *d, char *out, size_t len);

/* The destination set pushed to a client: every destination of `gateway`,
 * with the keys the client needs and the content of file options.
 * Returns 0 with a malloc'd blob, or a negative code. */
int gh__dests_encode(const gh__server_cfg *cfg, const char *gateway,
                     uint8_t **out, size_t *len);
/* Decodes a pushed set into a malloc'd array of destinations (file
 * "<pushed>"; not yet validated). Returns 0 or GH_EPROTO/GH_EINVAL with a
 * reason in err. Safe on any input. */
int gh__dests_decode(const uint8_t *p, size_t len, gh__dest **out, size_t *n,
                     char *err, size_t errlen);

/* The client's [destination NAME] for destination `name` of `gateway`, or
 * NULL. */
const gh__local_dest *gh__local_dest_find(const gh__client_cfg *cfg,
                                          const char *gateway,
                                          const char *name);
/* Gives a pushed destination the client's own values: every value the
 * server pushed for an option that `l` sets (in either spelling, for the
 * side this client runs) is dropped, and l's values are added with their
 * file and line; file options are read when d is validated. Returns 0, or
 * GH_EINVAL with "FILE:LINE: reason" in err when l sets an option of the
 * server's side. */
int gh__dest_apply_local(gh__dest *d, const gh__local_dest *l, char *err,
                         size_t errlen);

/* "host:port", "[v6]:port" or ":port" (host NULL) -> parts; 0 or GH_EINVAL.
 * *host is malloc'd (NULL for ":port"). */
int gh__hostport_parse(const char *s, char **host, uint16_t *port);

/* 1 when a and b configure the same destination: every key, the allow
 * list, and the options with the content of their files (a file of the
 * client's own is compared by name: its content is read later). */
int gh__dest_equal(const gh__dest *a, const gh__dest *b);

/* Finds a kv by key (first match), or NULL. */
const gh__kv *gh__kvs_find(const gh__kvs *kvs, const char *key);

/* Warnings of the last loads, one "FILE:LINE: warning: ..." line each:
 * secrets (token_file, key, a handler's key or *_key option from the local
 * file) that others than root and the group gatehouse runs as can read.
 * Hands each to fn (NULL: drops them) and forgets them. */
void gh__cfg_warnings_flush(void (*fn)(const char *line, void *arg),
                            void *arg);

/* Prints the configuration reference (Markdown): every key of the key
 * table, and the options the handlers of `reg` declare (conf/reference.c).
 * docs/configuration.md is its output with the shipped plugins. */
void gh__conf_reference(FILE *out, const gh__registry *reg);

#endif
