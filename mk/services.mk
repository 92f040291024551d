# services.mk: build hooks of the server's services (src/services/).

# test_caps links the pure XEP-0115 code alone: the other service files need the whole server.
$(BUILD)/tests/test_caps: $(BUILD)/obj/tests/test_caps.o $(BUILD)/obj/services/caps.o \
                          $(call modobjs,core xml)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL) $(CMOCKA_LIBS)
