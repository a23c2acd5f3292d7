# tlc — the two commands: `make run` and `make test` (Debian, as root).
SHELL := /bin/bash
# What tlc needs to build and run.
APT_PACKAGES := libopenblas-dev libyaml-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev pkg-config dataset-fashion-mnist
# What only the tests need: chromium renders report.html headless to check it in a real browser;
# slurm-wlm and munge run a sweep through a real single-node Slurm.
TEST_APT_PACKAGES := chromium slurm-wlm munge
SWIFT ?= swift

.PHONY: deps test-deps install build release run test bench clean templates fuzz onnx-proto example-data

# Install what is missing (apt-get update only when something is).
deps:
	@$(MAKE) --no-print-directory install PACKAGES="$(APT_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory install PACKAGES="$(APT_PACKAGES) $(TEST_APT_PACKAGES)"

install:
	@missing=""; for p in $(PACKAGES); do \
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

run: release example-data
	.build/release/tlc validate --quiet Experiments/*.yaml
	.build/release/tlc run Experiments/quickstart.yaml

test: test-deps
	TLC_REQUIRE_CHROMIUM=1 $(SWIFT) test

# The image experiments' inputs (Experiments/images-*.yaml), each made when missing:
# Fashion-MNIST as PNG folders in Data/fashion-images (Python's standard library) and a
# torchvision-named resnet18 state_dict (torchvision in the tests' Python environment).
example-data: deps
	scripts/example-data.sh

# Compile Templates/*.mustache and Templates/init/*.yaml into the binary
# (Sources/Reporting/EmbeddedTemplates.swift); the tests fail when they disagree.
templates:
	Templates/embed.sh

# Regenerate Sources/ONNXProto/onnx.pb.swift from Sources/ONNXProto/onnx.proto (ONNX's,
# copied from the onnx pip package) with Debian's protoc and swift-protobuf's plugin, built
# from the checkout SwiftPM resolved (about 1.5 min). The generated file is committed, so
# builds never need protoc or the plugin.
onnx-proto:
	@$(MAKE) --no-print-directory install PACKAGES="protobuf-compiler"
	$(SWIFT) package resolve
	$(SWIFT) build -c release --package-path .build/checkouts/swift-protobuf --scratch-path .build/protoc-gen-swift --product protoc-gen-swift
	protoc --plugin=protoc-gen-swift=.build/protoc-gen-swift/release/protoc-gen-swift --swift_opt=Visibility=Public \
	  --swift_out=Sources/ONNXProto -I Sources/ONNXProto Sources/ONNXProto/onnx.proto

# Speed figures (release): front end and planner, runtime. The engine's training
# benchmark is in Benchmarks/README.md (it takes tens of minutes).
bench: release
	Benchmarks/frontend.sh
	Benchmarks/runtime.sh

# Fuzz the front end (validate and plan) with libFuzzer for FUZZ_SECONDS (default 600),
# from a seed corpus of every spec in the repository. Inputs that crash, hang or print
# raw Swift error text land in Fuzz/findings/; make each one a fixture test.
FUZZ_SECONDS ?= 600
fuzz: deps
	cd Fuzz && $(SWIFT) build -c release -Xswiftc -sanitize=fuzzer -Xswiftc -use-ld=lld
	mkdir -p Fuzz/.corpus Fuzz/findings
	cp Experiments/*.yaml Templates/init/*.yaml Fuzz/.corpus/
	find Tests -name '*.yaml' -exec cp {} Fuzz/.corpus/ \;
	Fuzz/.build/release/FrontEndFuzzer Fuzz/.corpus -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
	  -rss_limit_mb=4096 -max_len=16384 -close_fd_mask=3 -print_final_stats=1 -artifact_prefix=Fuzz/findings/

clean:
	rm -rf .build Fuzz/.build
