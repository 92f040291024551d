/work/main/build-fuzz/obj/core/settings.o: /work/main/src/core/settings.c \
  /work/main/src/core/settings.h /work/main/src/core/buf.h \
  /work/main/src/core/err.h /work/main/src/core/log.h

/work/main/src/core/settings.h:

/work/main/src/core/buf.h:

/work/main/src/core/err.h:

/work/main/src/core/log.h:
