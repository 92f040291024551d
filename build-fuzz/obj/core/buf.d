/work/main/build-fuzz/obj/core/buf.o: /work/main/src/core/buf.c \
  /work/main/src/core/buf.h /work/main/src/core/err.h

/work/main/src/core/buf.h:

/work/main/src/core/err.h:
