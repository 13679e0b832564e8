#!/bin/bash
# tests/e2e/fastpath_clsact.sh - tests/e2e/fastpath.sh with the fast path
# attached as a clsact filter, as on kernels before 6.6 (Debian 12's own).
export DROVER_FAST_PATH_ATTACH=clsact
export LAB=${LAB:-dfc}
exec bash "$(dirname "$0")/fastpath.sh"
