"""TensorFlow's CPU settings that must be in the environment before TensorFlow loads.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI, AVX512_BF16
or AMX. Elsewhere (AVX2-only CPUs: most laptops and many cloud machines) its 3D convolutions and
their gradients run on Eigen kernels, several times slower (``docs/performance.md``). The packages
that lead to TensorFlow (``ops``, ``models``, ``data``, ``training``; ``demo`` through
``training``) import this module first, which sets ``TF_ENABLE_ONEDNN_OPTS=1`` unless the
environment already sets it (``TF_ENABLE_ONEDNN_OPTS=0`` keeps the Eigen kernels). TensorFlow
reads it once, when it loads: import the project before TensorFlow (or export the variable).
"""

import os

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
os.environ.setdefault(ONEDNN, "1")
