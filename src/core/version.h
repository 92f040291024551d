/* version.h: the software's name and version. */
#ifndef STARLING_CORE_VERSION_H
#define STARLING_CORE_VERSION_H

#define STARLING_NAME "Starling"
#define STARLING_VERSION "0.1.0"
/* The data directory when -d is not given (starlingd, starlingctl); a package builds with
 * `make DEFAULT_DATADIR=/var/lib/starling` (mk/ops.mk). */
#ifndef STARLING_DEFAULT_DATADIR
#define STARLING_DEFAULT_DATADIR "./var"
#endif

#endif
