"""Loading TensorFlow without its start-up notices (standard library only)."""

from __future__ import annotations

import os
import sys


def quiet_tensorflow_import() -> None:
    """Import TensorFlow (when installed) with the process's stderr held back, so its C++
    start-up notices (absl's "log messages before absl::InitializeLog()" and oneDNN's, printed
    while the libraries load, whatever ``TF_CPP_MIN_LOG_LEVEL`` says) do not bury the script's
    own lines. If the import fails, what it printed is shown, then the error is raised."""
    import importlib.util
    import tempfile

    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as held:
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
