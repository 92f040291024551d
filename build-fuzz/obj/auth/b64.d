/work/main/build-fuzz/obj/auth/b64.o: /work/main/src/auth/b64.c \
  /work/main/src/auth/sasl.h /work/main/src/auth/creds.h \
  /work/main/src/core/buf.h /work/main/src/core/err.h

/work/main/src/auth/sasl.h:

/work/main/src/auth/creds.h:

/work/main/src/core/buf.h:

/work/main/src/core/err.h:
