# tlc — the two commands: `make run` and `make test` (Debian, as root).
SHELL := /bin/bash
APT_PACKAGES := libopenblas-dev libyaml-dev zlib1g-dev pkg-config dataset-fashion-mnist slurm-wlm munge
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

run: release
	.build/release/tlc validate --quiet Experiments/*.yaml
	.build/release/tlc run Experiments/quickstart.yaml

test: deps
	$(SWIFT) test

# Speed figures (release): front end and planner, runtime. The engine's training
# benchmark is in Benchmarks/README.md (it takes tens of minutes).
bench: release
	Benchmarks/frontend.sh
	Benchmarks/runtime.sh

clean:
	rm -rf .build
