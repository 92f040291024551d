/work/main/build-fuzz/obj/core/loop.o: /work/main/src/core/loop.c \
  /work/main/src/core/loop.h /work/main/src/core/buf.h \
  /work/main/src/core/err.h

/work/main/src/core/loop.h:

/work/main/src/core/buf.h:

/work/main/src/core/err.h:
