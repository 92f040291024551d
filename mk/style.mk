# mk/style.mk: `make style` also checks the include directions (scripts/check-layers) and the format
# of the files listed in scripts/format.files (scripts/check-format); `make test` runs `make style`.
# See docs/internals/style.md and architecture.md.

.PHONY: layers format-check
layers:
	@$(PYTHON) scripts/check-layers

format-check:
	@scripts/check-format

style: layers format-check

TEST_EXTRA += style
