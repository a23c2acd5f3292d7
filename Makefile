# tlc — the two commands: `make run` and `make test` (Debian, as root).
SHELL := /bin/bash
APT_PACKAGES := libopenblas-dev libyaml-dev zlib1g-dev pkg-config dataset-fashion-mnist
SWIFT ?= swift

.PHONY: deps build release run test bench clean

# Install what is missing (apt-get update only when something is).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --static-swift-stdlib

# Until the runtime executes plans (issues 3 and 4), `make run` validates every
# experiment and prints the quickstart's plan; then it will train it.
run: release
	.build/release/tlc validate Experiments/*.yaml
	.build/release/tlc plan Experiments/quickstart.yaml
	@echo "make run: training through 'tlc run' arrives with the engine and runtime; the plan above is what it will execute."

test: deps
	$(SWIFT) test

bench: release
	Benchmarks/frontend.sh

clean:
	rm -rf .build
