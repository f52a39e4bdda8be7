#!/usr/bin/env bash
# Create benchmarks/.venv-peers: a virtual environment holding the frameworks that
# convlearn is compared with (TensorFlow/Keras and PyTorch, CPU builds).
#
# Usage:  bash benchmarks/setup_peers.sh            (uses python3)
#         PYTHON=/path/to/python bash benchmarks/setup_peers.sh
#
# Idempotent: an existing environment is kept, and pip skips packages that are
# already installed at the pinned versions. Delete benchmarks/.venv-peers to start over.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-peers"
python="${PYTHON:-python3}"

# The pins compared against; change them here and rerun to compare other releases.
TENSORFLOW_PIN="tensorflow-cpu==2.21.0"
TORCH_PIN="torch==2.13.0"

if [ ! -x "$venv/bin/python" ]; then
    echo "Creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi

# pip uses whatever index it is configured with. On Linux, PyPI's torch wheel is the
# large CUDA build; for the CPU-only build, run with
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
"$venv/bin/python" -m pip install --upgrade pip >/dev/null
"$venv/bin/python" -m pip install "$TENSORFLOW_PIN" "$TORCH_PIN" numpy pillow   # pillow: Keras's image loading (benchmarks/image_folder.py)

# Keras 3 arrives as a dependency of TensorFlow >= 2.16; say which versions we got.
"$venv/bin/python" - <<'EOF'
import importlib.metadata as md
for name in ("tensorflow-cpu", "keras", "torch", "numpy"):
    print(f"{name:15s} {md.version(name)}")
major = int(md.version("keras").split(".")[0])
if major < 3:
    raise SystemExit(f"expected Keras 3, found keras {md.version('keras')}")
EOF
echo "Peers ready: $venv/bin/python"
