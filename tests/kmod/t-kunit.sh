#!/bin/bash
# KUnit suites of vgpu_stub.ko (kunit/), run by kunit.py under UML.
exec "$(dirname "$0")/../../kunit/run-kunit.sh"
