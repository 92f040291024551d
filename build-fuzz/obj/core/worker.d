/work/main/build-fuzz/obj/core/worker.o: /work/main/src/core/worker.c \
  /work/main/src/core/worker.h /work/main/src/core/buf.h \
  /work/main/src/core/loop.h /work/main/src/core/err.h

/work/main/src/core/worker.h:

/work/main/src/core/buf.h:

/work/main/src/core/loop.h:

/work/main/src/core/err.h:
