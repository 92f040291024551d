/* version.h: the software's name and version. */
#ifndef STARLING_CORE_VERSION_H
#define STARLING_CORE_VERSION_H

#define STARLING_NAME "Starling"
#define STARLING_VERSION "0.1.0"

#endif
