/work/main/build-fuzz/obj/xml/serialize.o: /work/main/src/xml/serialize.c \
  /work/main/src/core/buf.h /work/main/src/core/err.h \
  /work/main/src/xml/xml.h

/work/main/src/core/buf.h:

/work/main/src/core/err.h:

/work/main/src/xml/xml.h:
