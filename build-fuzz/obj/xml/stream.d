/work/main/build-fuzz/obj/xml/stream.o: /work/main/src/xml/stream.c \
  /work/main/src/core/buf.h /work/main/src/core/err.h \
  /work/main/src/xml/xml.h /work/main/src/xml/xml_int.h

/work/main/src/core/buf.h:

/work/main/src/core/err.h:

/work/main/src/xml/xml.h:

/work/main/src/xml/xml_int.h:
