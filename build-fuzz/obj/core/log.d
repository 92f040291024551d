/work/main/build-fuzz/obj/core/log.o: /work/main/src/core/log.c \
  /work/main/src/core/log.h /work/main/src/core/buf.h \
  /work/main/src/core/err.h

/work/main/src/core/log.h:

/work/main/src/core/buf.h:

/work/main/src/core/err.h:
