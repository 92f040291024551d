/work/main/build-fuzz/obj/xml/node.o: /work/main/src/xml/node.c \
  /work/main/src/core/buf.h /work/main/src/core/err.h \
  /work/main/src/xml/xml.h /work/main/src/xml/xml_int.h

/work/main/src/core/buf.h:

/work/main/src/core/err.h:

/work/main/src/xml/xml.h:

/work/main/src/xml/xml_int.h:
