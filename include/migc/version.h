/*
 * migc/version.h -- the version of migc, shared by the compiler, the
 * runtime and the build (CMakeLists.txt reads it from here).
 */
#ifndef MIGC_VERSION_H
#define MIGC_VERSION_H

#define MIGC_VERSION_MAJOR 0
#define MIGC_VERSION_MINOR 1
#define MIGC_VERSION_PATCH 0
#define MIGC_VERSION_STRING "0.1.0"

#endif /* MIGC_VERSION_H */
