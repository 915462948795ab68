/* The ABI 1.0 layout as the frozen header (tests/abi/sdk-1.0/include)
 * defines it: pinned at compile time, and measured for test_abi_layout.c,
 * which compares it with the current header's. Compiled with the frozen
 * include directory only. */
#include <gatehouse/gatehouse.h>

#include "layout.h"

#if GH_ABI_MAJOR != 1 || GH_ABI_MINOR != 0
#error "layout_1_0.c must be compiled against the frozen ABI 1.0 header"
#endif

GH_ABI_MEMBERS_1_0(GH_ABI_CHECK_MEMBER)
GH_ABI_SIZES_1_0(GH_ABI_CHECK_SIZE)
GH_ABI_TYPES_1_0(GH_ABI_CHECK_TYPE)
GH_ABI_CONSTANTS_1_0(GH_ABI_CHECK_CONSTANT)

static const abi_member members[] = {GH_ABI_MEMBERS_1_0(GH_ABI_ROW_MEMBER)
                                         GH_ABI_SIZES_1_0(GH_ABI_ROW_SIZE)};

static const abi_constant constants[] = {
    GH_ABI_CONSTANTS_1_0(GH_ABI_ROW_CONSTANT) GH_ERRNO_MAP(GH_ABI_ROW_ERROR){
        "GH_PLUGIN_ENTRY_NAME", 0, GH_PLUGIN_ENTRY_NAME}};

const abi_member *abi_frozen_members(size_t *n) {
  *n = sizeof members / sizeof members[0];
  return members;
}

const abi_constant *abi_frozen_constants(size_t *n) {
  *n = sizeof constants / sizeof constants[0];
  return constants;
}

uint32_t abi_frozen_minor(void) {
  return GH_ABI_MINOR;
}
