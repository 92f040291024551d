/work/main/build-fuzz/obj/jid/jid.o: /work/main/src/jid/jid.c \
  /work/main/src/jid/jid.h /work/main/src/core/buf.h \
  /work/main/src/core/err.h

/work/main/src/jid/jid.h:

/work/main/src/core/buf.h:

/work/main/src/core/err.h:
