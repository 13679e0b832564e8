#!/bin/bash
# tests/e2e/restart_clsact.sh - tests/e2e/restart.sh with the fast path
# attached as a clsact filter (kernels before 6.6): the filter outlives
# droverd as a pinned tcx link does, and the next start takes it over.
export DROVER_FAST_PATH_ATTACH=clsact
export LAB=${LAB:-drc}
export LAB_FAST_PATH_MODE=tc
exec bash "$(dirname "$0")/restart.sh"
