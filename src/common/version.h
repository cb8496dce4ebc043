/* version.h: the release this build is (gantry version, gantry_build_info). */
#ifndef GANTRY_VERSION_H
#define GANTRY_VERSION_H

#define GANTRY_VERSION "0.1.0"

#endif
