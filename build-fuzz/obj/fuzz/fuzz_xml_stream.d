/work/main/build-fuzz/obj/fuzz/fuzz_xml_stream.o: \
  /work/main/tests/fuzz/fuzz_xml_stream.c /work/main/src/core/buf.h \
  /work/main/src/core/err.h /work/main/tests/fuzz/fuzz_check.h \
  /work/main/src/xml/xml.h

/work/main/src/core/buf.h:

/work/main/src/core/err.h:

/work/main/tests/fuzz/fuzz_check.h:

/work/main/src/xml/xml.h:
