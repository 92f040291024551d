# mk/style.mk: `make style` also checks the include directions (scripts/check-layers); `make test`
# runs `make style`. See docs/internals/style.md and architecture.md.

.PHONY: layers
layers:
	@$(PYTHON) scripts/check-layers

style: layers

TEST_EXTRA += style
