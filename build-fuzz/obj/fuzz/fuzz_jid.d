/work/main/build-fuzz/obj/fuzz/fuzz_jid.o: \
  /work/main/tests/fuzz/fuzz_jid.c /work/main/src/core/buf.h \
  /work/main/src/core/err.h /work/main/tests/fuzz/fuzz_check.h \
  /work/main/src/jid/jid.h

/work/main/src/core/buf.h:

/work/main/src/core/err.h:

/work/main/tests/fuzz/fuzz_check.h:

/work/main/src/jid/jid.h:
