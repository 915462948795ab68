/* The SDK's ABI, pinned: every member of every public struct with its offset
 * on LP64 Linux (x86-64, aarch64) and its exact type, the struct sizes of
 * each ABI version, and the constants. Included by two translation units:
 * layout_1_0.c, compiled against the frozen ABI 1.0 header
 * (tests/abi/sdk-1.0/include), and test_abi_layout.c, compiled against the
 * current one (sdk/include). Both _Static_assert the lists below, so
 *   - a member of 1.0 that moves, changes type or disappears in the current
 *     header breaks the build of the test (and so the suite);
 *   - a member appended without a minor bump changes a pinned size and breaks
 *     it too; a bump without a pinned layout here hits an #error.
 * The rule (sdk/README.md, "The ABI promise"): a change of sdk/ keeps all of
 * this, or appends members, bumps GH_ABI_MINOR and adds them here; anything
 * else is a new major.
 *
 * X(struct, member, offset, type...)   the type last, as it may hold commas */
#ifndef GH_ABI_LAYOUT_H
#define GH_ABI_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* ---- ABI 1.0: never changes within major 1 ---- */

#define GH_ABI_MEMBERS_1_0(X)                                                  \
  X(gh_addr, family, 0, uint16_t)                                              \
  X(gh_addr, port, 2, uint16_t)                                                \
  X(gh_addr, scope_id, 4, uint32_t)                                            \
  X(gh_addr, addr, 8, uint8_t[16])                                             \
                                                                               \
  X(gh_link_info, size, 0, uint32_t)                                           \
  X(gh_link_info, side, 4, uint32_t)                                           \
  X(gh_link_info, flags, 8, uint32_t)                                          \
  X(gh_link_info, resource_port, 12, uint16_t)                                 \
  X(gh_link_info, reserved, 14, uint16_t)                                      \
  X(gh_link_info, stream_id, 16, uint64_t)                                     \
  X(gh_link_info, destination, 24, const char *)                               \
  X(gh_link_info, gateway, 32, const char *)                                   \
  X(gh_link_info, resource_host, 40, const char *)                             \
  X(gh_link_info, peer, 48, gh_addr)                                           \
  X(gh_link_info, local, 72, gh_addr)                                          \
                                                                               \
  X(gh_option, name, 0, const char *)                                          \
  X(gh_option, type, 8, uint32_t)                                              \
  X(gh_option, flags, 12, uint32_t)                                            \
  X(gh_option, min, 16, int64_t)                                               \
  X(gh_option, max, 24, int64_t)                                               \
  X(gh_option, def, 32, const char *)                                          \
  X(gh_option, help, 40, const char *)                                         \
                                                                               \
  X(gh_host, size, 0, uint32_t)                                                \
  X(gh_host, abi_major, 4, uint32_t)                                           \
  X(gh_host, abi_minor, 8, uint32_t)                                           \
  X(gh_host, reserved, 12, uint32_t)                                           \
  X(gh_host, log_enabled, 16, int32_t (*)(int32_t))                            \
  X(gh_host, log, 24, void (*)(int32_t, const gh_link *, const char *, ...))   \
  X(gh_host, alloc, 32, void *(*)(size_t))                                     \
  X(gh_host, realloc, 40, void *(*)(void *, size_t))                           \
  X(gh_host, free, 48, void (*)(void *))                                       \
  X(gh_host, uv_loop, 56, void *(*)(void))                                     \
  X(gh_host, timer_new, 64, gh_timer *(*)(gh_timer_cb, void *))                \
  X(gh_host, timer_start, 72, int32_t (*)(gh_timer *, uint64_t, uint64_t))     \
  X(gh_host, timer_stop, 80, void (*)(gh_timer *))                             \
  X(gh_host, timer_free, 88, void (*)(gh_timer *))                             \
  X(gh_host, inst_data, 96, void *(*)(const gh_inst *))                        \
  X(gh_host, inst_set_data, 104, void (*)(gh_inst *, void *))                  \
  X(gh_host, inst_side, 112, uint32_t (*)(const gh_inst *))                    \
  X(gh_host, inst_destination, 120, const char *(*)(const gh_inst *))          \
  X(gh_host, opt_get, 128,                                                     \
    const char *(*)(const gh_inst *, const char *, uint32_t))                  \
  X(gh_host, opt_count, 136, uint32_t (*)(const gh_inst *, const char *))      \
  X(gh_host, opt_int, 144, int64_t (*)(const gh_inst *, const char *))         \
  X(gh_host, opt_bool, 152, int32_t (*)(const gh_inst *, const char *))        \
  X(gh_host, opt_blob, 160,                                                    \
    int32_t (*)(const gh_inst *, const char *, const uint8_t **, uint32_t *))  \
  X(gh_host, listener_data, 168, void *(*)(const gh_listener *))               \
  X(gh_host, listener_set_data, 176, void (*)(gh_listener *, void *))          \
  X(gh_host, listener_inst, 184, gh_inst *(*)(const gh_listener *))            \
  X(gh_host, listener_closed, 192, void (*)(gh_listener *))                    \
  X(gh_host, link_data, 200, void *(*)(const gh_link *))                       \
  X(gh_host, link_set_data, 208, void (*)(gh_link *, void *))                  \
  X(gh_host, link_inst, 216, gh_inst *(*)(const gh_link *))                    \
  X(gh_host, link_info, 224, int32_t (*)(const gh_link *, gh_link_info *))     \
  X(gh_host, accept, 232,                                                      \
    gh_link *(*)(gh_listener *, void *, const gh_addr *, const gh_addr *))     \
  X(gh_host, ready, 240, void (*)(gh_link *, int32_t))                         \
  X(gh_host, send_up, 248, int32_t (*)(gh_link *, const uint8_t *, uint32_t))  \
  X(gh_host, send_down, 256,                                                   \
    int32_t (*)(gh_link *, const uint8_t *, uint32_t))                         \
  X(gh_host, eof_up, 264, void (*)(gh_link *))                                 \
  X(gh_host, eof_down, 272, void (*)(gh_link *))                               \
  X(gh_host, written, 280, void (*)(gh_link *, uint32_t))                      \
  X(gh_host, abort, 288, void (*)(gh_link *, int32_t))                         \
  X(gh_host, closed, 296, void (*)(gh_link *))                                 \
                                                                               \
  X(gh_handler, size, 0, uint32_t)                                             \
  X(gh_handler, kind, 4, uint32_t)                                             \
  X(gh_handler, flags, 8, uint32_t)                                            \
  X(gh_handler, n_options, 12, uint32_t)                                       \
  X(gh_handler, name, 16, const char *)                                        \
  X(gh_handler, help, 24, const char *)                                        \
  X(gh_handler, options, 32, const gh_option *)                                \
  X(gh_handler, inst_init, 40, int32_t (*)(gh_inst *, char *, uint32_t))       \
  X(gh_handler, inst_free, 48, void (*)(gh_inst *))                            \
  X(gh_handler, listen, 56,                                                    \
    int32_t (*)(gh_listener *, const char *, uint16_t))                        \
  X(gh_handler, unlisten, 64, void (*)(gh_listener *))                         \
  X(gh_handler, connect, 72,                                                   \
    int32_t (*)(gh_link *, const char *, uint16_t, uint32_t))                  \
  X(gh_handler, write, 80, int32_t (*)(gh_link *, const uint8_t *, uint32_t))  \
  X(gh_handler, shutdown, 88, int32_t (*)(gh_link *))                          \
  X(gh_handler, read_start, 96, void (*)(gh_link *))                           \
  X(gh_handler, read_stop, 104, void (*)(gh_link *))                           \
  X(gh_handler, close, 112, void (*)(gh_link *, int32_t))                      \
  X(gh_handler, open, 120, int32_t (*)(gh_link *))                             \
  X(gh_handler, up, 128, int32_t (*)(gh_link *, const uint8_t *, uint32_t))    \
  X(gh_handler, down, 136, int32_t (*)(gh_link *, const uint8_t *, uint32_t))  \
  X(gh_handler, up_eof, 144, void (*)(gh_link *))                              \
  X(gh_handler, down_eof, 152, void (*)(gh_link *))                            \
                                                                               \
  X(gh_plugin, abi_major, 0, uint32_t)                                         \
  X(gh_plugin, abi_minor, 4, uint32_t)                                         \
  X(gh_plugin, size, 8, uint32_t)                                              \
  X(gh_plugin, n_handlers, 12, uint32_t)                                       \
  X(gh_plugin, name, 16, const char *)                                         \
  X(gh_plugin, version, 24, const char *)                                      \
  X(gh_plugin, description, 32, const char *)                                  \
  X(gh_plugin, handlers, 40, const gh_handler *const *)                        \
  X(gh_plugin, init, 48, int32_t (*)(const gh_host *))                         \
  X(gh_plugin, fini, 56, void (*)(void))

/* X(struct, size) */
#define GH_ABI_SIZES_1_0(X)                                                    \
  X(gh_addr, 24)                                                               \
  X(gh_link_info, 96)                                                          \
  X(gh_option, 48)                                                             \
  X(gh_host, 304)                                                              \
  X(gh_handler, 160)                                                           \
  X(gh_plugin, 64)

/* Types that are not struct members. X(name, type...) */
#define GH_ABI_TYPES_1_0(X)                                                    \
  X(gh_timer_cb, void (*)(gh_timer *, void *))                                 \
  X(gh_plugin_entry_fn, const gh_plugin *(*)(void))

/* X(name, value) */
#define GH_ABI_CONSTANTS_1_0(X)                                                \
  X(GH_OK, 0)                                                                  \
  X(GH_PENDING, 1)                                                             \
  X(GH_LOG_ERROR, 0)                                                           \
  X(GH_LOG_WARN, 1)                                                            \
  X(GH_LOG_INFO, 2)                                                            \
  X(GH_LOG_DEBUG, 3)                                                           \
  X(GH_LOG_TRACE, 4)                                                           \
  X(GH_KIND_TRANSPORT, 1)                                                      \
  X(GH_KIND_LAYER, 2)                                                          \
  X(GH_HANDLER_DGRAM, 1)                                                       \
  X(GH_SIDE_LISTEN, 1)                                                         \
  X(GH_SIDE_RESOURCE, 2)                                                       \
  X(GH_LINK_DGRAM, 1)                                                          \
  X(GH_AF_NONE, 0)                                                             \
  X(GH_AF_INET, 4)                                                             \
  X(GH_AF_INET6, 6)                                                            \
  X(GH_OPT_STRING, 1)                                                          \
  X(GH_OPT_INT, 2)                                                             \
  X(GH_OPT_BOOL, 3)                                                            \
  X(GH_OPT_FILE, 4)                                                            \
  X(GH_OPT_MULTI, 1)                                                           \
  X(GH_OPT_REQUIRED, 2)                                                        \
  X(GH_ABI_MAJOR, 1)

/* ---- ABI 1.1: appended to 1.0 ---- */

#define GH_ABI_MEMBERS_1_1(X)                                                  \
  X(gh_link_info, listen_chain, 96, const char *)                              \
  X(gh_link_info, resource_chain, 104, const char *)

#define GH_ABI_SIZES_1_1(X)                                                    \
  X(gh_addr, 24)                                                               \
  X(gh_link_info, 112)                                                         \
  X(gh_option, 48)                                                             \
  X(gh_host, 304)                                                              \
  X(gh_handler, 160)                                                           \
  X(gh_plugin, 64)

/* ---- ABI 1.2: appended to 1.1 ---- */

#define GH_ABI_MEMBERS_1_2(X)                                                  \
  X(gh_handler, connect_addr, 160,                                             \
    int32_t (*)(gh_link *, const gh_addr *, uint32_t))                         \
  X(gh_alias, name, 0, const char *)                                           \
  X(gh_alias, chain, 8, const char *)                                          \
  X(gh_plugin, aliases, 64, const gh_alias *)                                  \
  X(gh_plugin, n_aliases, 72, uint32_t)                                        \
  X(gh_plugin, reserved, 76, uint32_t)

/* Members that share the storage of an older member instead of being
 * appended. Only for a struct that cannot grow: gh_option has no size and
 * plugins declare arrays of it, so a member appended to it would move every
 * option after the first of an older plugin. GH_OPT_ENUM's `choices` shares
 * `min`'s storage, which only GH_OPT_INT reads; nothing of 1.0 moves.
 * X(struct, member, offset, the member it shares storage with, type...) */
#define GH_ABI_OVERLAYS_1_2(X)                                                 \
  X(gh_option, choices, 16, min, const char *const *)

/* Constants added in 1.2. X(name, value) */
#define GH_ABI_CONSTANTS_1_2(X)                                                \
  X(GH_OPT_ENUM, 5)                                                            \
  X(GH_OPT_CHOICES_MAX, 32)                                                    \
  X(GH_HANDLER_NAME_MAX, 32)                                                   \
  X(GH_HANDLER_UNIX, 2)                                                        \
  X(GH_AF_UNIX, 7)

#define GH_ABI_SIZES_1_2(X)                                                    \
  X(gh_addr, 24)                                                               \
  X(gh_link_info, 112)                                                         \
  X(gh_option, 48)                                                             \
  X(gh_host, 304)                                                              \
  X(gh_handler, 168)                                                           \
  X(gh_plugin, 80)                                                             \
  X(gh_alias, 16)

/* ---- the checks, for either header ---- */

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define GH_ABI_PINNED 1 /* offsets and sizes are checked, not only types */
#else
#define GH_ABI_PINNED 0
#endif

#define GH_ABI_CHECK_MEMBER(s, m, off, ...)                                    \
  _Static_assert(!GH_ABI_PINNED || offsetof(s, m) == (off),                    \
                 #s "." #m " is not at offset " #off);                         \
  _Static_assert(                                                              \
      __builtin_types_compatible_p(__typeof__(((s *)0)->m), __VA_ARGS__),      \
      #s "." #m " is not of type " #__VA_ARGS__);
#define GH_ABI_CHECK_OVERLAY(s, m, off, base, ...)                             \
  GH_ABI_CHECK_MEMBER(s, m, off, __VA_ARGS__)                                  \
  _Static_assert(offsetof(s, m) == offsetof(s, base),                          \
                 #s "." #m " does not share " #base "'s storage");             \
  _Static_assert(sizeof(((s *)0)->m) <= sizeof(((s *)0)->base),                \
                 #s "." #m " is larger than " #base);
#define GH_ABI_CHECK_SIZE(s, n)                                                \
  _Static_assert(!GH_ABI_PINNED || sizeof(s) == (n),                           \
                 "sizeof(" #s ") is not " #n);
#define GH_ABI_CHECK_TYPE(name, ...)                                           \
  _Static_assert(__builtin_types_compatible_p(name, __VA_ARGS__),              \
                 #name " is not " #__VA_ARGS__);
#define GH_ABI_CHECK_CONSTANT(name, value)                                     \
  _Static_assert((name) == (value), #name " is not " #value);

/* What each translation unit measures at run time, with offsetof() of its
 * own header, so that main() compares the frozen header with the current
 * one member by member. */
typedef struct abi_member {
  const char *strct, *member;
  size_t offset, size;
} abi_member;

typedef struct abi_constant {
  const char *name;
  int64_t value;
  const char *text; /* error messages; NULL for the others */
} abi_constant;

#define GH_ABI_ROW_MEMBER(s, m, off, ...)                                      \
  {#s, #m, offsetof(s, m), sizeof(((s *)0)->m)},
#define GH_ABI_ROW_SIZE(s, n) {#s, "(sizeof)", 0, sizeof(s)},
#define GH_ABI_ROW_OVERLAY(s, m, off, base, ...)                               \
  {#s, #m, offsetof(s, m), sizeof(((s *)0)->m)},                               \
      {#s, #base, offsetof(s, base), sizeof(((s *)0)->base)},
#define GH_ABI_ROW_CONSTANT(name, value) {#name, (int64_t)(name), NULL},
#define GH_ABI_ROW_ERROR(name, value, msg) {"GH_" #name, (int64_t)(value), msg},

/* layout_1_0.c */
const abi_member *abi_frozen_members(size_t *n);
const abi_constant *abi_frozen_constants(size_t *n);
uint32_t abi_frozen_minor(void);

#endif
