/* gatehouse SDK version. Plugins compile this into their descriptor; the core
 * refuses a plugin of another major, or of a newer minor than its own. */
#ifndef GATEHOUSE_VERSION_H
#define GATEHOUSE_VERSION_H

#define GH_ABI_MAJOR 1
#define GH_ABI_MINOR 2

#define GH_VERSION_MAJOR 0
#define GH_VERSION_MINOR 1
#define GH_VERSION_PATCH 0
#define GH_VERSION_STRING "0.1.0"

#endif
