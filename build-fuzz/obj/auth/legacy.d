/work/main/build-fuzz/obj/auth/legacy.o: /work/main/src/auth/legacy.c \
  /work/main/src/auth/legacy.h /work/main/src/auth/creds.h \
  /work/main/src/core/buf.h /work/main/src/core/err.h

/work/main/src/auth/legacy.h:

/work/main/src/auth/creds.h:

/work/main/src/core/buf.h:

/work/main/src/core/err.h:
