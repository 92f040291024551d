/work/main/build-fuzz/obj/auth/creds.o: /work/main/src/auth/creds.c \
  /work/main/src/auth/creds.h /work/main/src/core/buf.h \
  /work/main/src/auth/internal.h /work/main/src/auth/sasl.h \
  /work/main/src/core/err.h

/work/main/src/auth/creds.h:

/work/main/src/core/buf.h:

/work/main/src/auth/internal.h:

/work/main/src/auth/sasl.h:

/work/main/src/core/err.h:
