# pose_ros developer commands. `make demo` and `make test` are all a newcomer needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source tools/env.sh
VIDEO ?= /usr/share/doc/opencv-doc/examples/data/vtest.avi
FRAMES ?= 0
PYTEST_ARGS ?=

.PHONY: help setup build test lint demo bench clean

help:
	@echo "make setup   venv with ROS 2 Jazzy wheels + colcon build + default model (idempotent)"
	@echo "make demo    run the whole pipeline over ROS 2 on a sample video -> demo_output/"
	@echo "make test    set-up if needed, build, run every test of both packages"
	@echo "make bench   print the speed table and write bench/RESULTS.md"
	@echo "make lint    ruff check . (configured in ruff.toml; make test runs it too)"

setup:
	@tools/setup.sh

build: setup

test: setup
	@$(ENV) && python -m pytest pose_ros/test pose_ros_msgs/test $(PYTEST_ARGS)

lint: setup
	@$(ENV) && ruff check .

demo: setup
	@$(ENV) && python -m pose_ros.apps.demo --video "$(VIDEO)" --frames $(FRAMES) --output demo_output

bench: setup
	@$(ENV) && python bench/run_all.py

clean:
	rm -rf build install log demo_output
