# systolix: the verbs a user types. Every target that needs the venv creates it when missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

ROWS   ?= 8
COLS   ?= 8
MAC    ?= int8
TARGET ?= ecp5
JOBS   ?= 2

.PHONY: setup demo verilog test test-full mutation synth bench bench-accel lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Generate the default 8×8 INT8 array, run one GEMM in Verilator, print cycles and ECP5 area.
demo: $(STAMP)
	$(BIN)/systolix demo --rows $(ROWS) --cols $(COLS) --mac $(MAC)

verilog: $(STAMP)
	$(BIN)/systolix generate --rows $(ROWS) --cols $(COLS) --mac $(MAC) \
		--out build/verilog/r$(ROWS)c$(COLS)-$(MAC)

## Golden-model, unit and Verilator regression tests (the CI suite, < 20 min on 2 cores).
test: $(STAMP)
	$(BIN)/pytest -n $(JOBS) --dist loadgroup -m "not slow" --durations=15

## Everything, including the slow sweeps.
test-full: $(STAMP)
	$(BIN)/pytest -n $(JOBS) --dist loadgroup

## Plant each documented bug (scripts/mutate.py) in a copy of the tree; fail if a test misses one.
mutation: $(STAMP)
	$(BIN)/python -m scripts.mutate

synth: $(STAMP)
	$(BIN)/systolix synth --rows $(ROWS) --cols $(COLS) --mac $(MAC) --target $(TARGET)

## QoR sweep (sizes × MAC kinds, ECP5-85k synth + place and route, cycles, GOPS, plots) into
## build/report/: qor.json, qor.md, *.png. Results are cached per configuration.
bench: $(STAMP)
	$(BIN)/systolix bench --jobs $(JOBS)

## Accelerator utilization: 256³ INT8 GEMMs memory to memory in Verilator (16×16 at memory
## latencies 3, 64, 200; 8×8 at 64), RTL cycles beside the model's bound, into build/report/.
bench-accel: $(STAMP)
	$(BIN)/python -m scripts.accel_perf --out build/report

lint: $(STAMP)
	$(BIN)/ruff check hdl golden tb scripts tests
	$(BIN)/ruff format --check hdl golden tb scripts tests

clean:
	rm -rf build
