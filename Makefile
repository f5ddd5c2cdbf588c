# The README's two commands: `make shot` and `make test`. Each first runs scripts/setup.sh, which sets up
# whatever is missing (a second or two when nothing is). `make check` is the linters and the type checker.
.PHONY: setup shot test check

REQUEST ?= put this cup on a simple beach scene, bottom-left
PYTEST_ARGS ?= -q

setup:
	./scripts/setup.sh

# A product shot on the embedded defaults: no GPU, no model downloads, no API key.
shot: setup
	.venv/bin/productshot run "$(REQUEST)" --image sample:coffee -o out/shot.png

# pytest exits 5 when it ran no test: that is a failure too, said in words.
test: setup
	@status=0; .venv/bin/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no test" >&2; fi; exit $$status

# ruff (lint and format) and mypy on the installed package, from outside the checkout.
check: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	repo="$$PWD"; cd "$$(mktemp -d)" && "$$repo/.venv/bin/python" -m mypy \
	  --config-file "$$repo/pyproject.toml" --cache-dir "$$repo/.mypy_cache" -p productshot
