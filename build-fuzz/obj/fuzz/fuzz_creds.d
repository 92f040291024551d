/work/main/build-fuzz/obj/fuzz/fuzz_creds.o: \
  /work/main/tests/fuzz/fuzz_creds.c /work/main/src/auth/creds.h \
  /work/main/src/core/buf.h /work/main/src/core/err.h \
  /work/main/tests/fuzz/fuzz_check.h

/work/main/src/auth/creds.h:

/work/main/src/core/buf.h:

/work/main/src/core/err.h:

/work/main/tests/fuzz/fuzz_check.h:
