/work/main/build-fuzz/obj/core/err.o: /work/main/src/core/err.c \
  /work/main/src/core/err.h

/work/main/src/core/err.h:
