#!/bin/bash
# tests/e2e/fastpath_clsact.sh - tests/e2e/fastpath.sh with the fast path
# attached as a clsact filter, as on kernels before 6.6 (Debian 12's own),
# and the tc program alone (fast_path_mode tc): its merged packets and the
# partial checksums drover-decap finishes stay covered.
export DROVER_FAST_PATH_ATTACH=clsact
export FAST_PATH_MODE=tc
export LAB=${LAB:-dfc}
exec bash "$(dirname "$0")/fastpath.sh"
