"""Execute the demo notebooks and write HTML copies with their outputs into docs/.

    python scripts/render_notebooks.py                       # both, on the best local data
    python scripts/render_notebooks.py --data_root datasets/small --n_models 2 demo_vlsm.ipynb

Each notebook runs top to bottom in a fresh ``python3`` kernel from the repository root (the
``LSM_DEMO_*`` environment variables of its parameters cell carry the options), and is written
as ``docs/<name>.html`` by nbconvert's HTML exporter (lab template). The stored notebooks are
not modified.

Interactive figures: the notebooks are run with plotly's "notebook" renderer, which embeds
plotly.js (4.8 MB) once per page so the page works offline. To keep the pages small, that copy
is stored gzip-compressed and base64-encoded (about 2 MB) and unpacked by the browser
(``DecompressionStream``, every current browser) when the page opens; figures drawn before
that are queued and drawn once it is ready. ``--no_compress`` keeps the plain copy.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("demo_vlsm.ipynb", "demo_dlsm.ipynb")
#: Pages above this size get a warning.
MAX_BYTES = 5_000_000

#: Replaces the embedded plotly.js: a stub ``Plotly`` queues ``newPlot`` calls until the
#: compressed library is unpacked and run, then replays them.
_LOADER = """<script>
/* plotly.js (MIT licence, https://github.com/plotly/plotly.js), gzip-compressed and
   base64-encoded by scripts/render_notebooks.py; unpacked here in the browser. */
(function () {
  var queue = [];
  window.Plotly = {
    newPlot: function () {
      var args = arguments;
      return new Promise(function (resolve, reject) { queue.push([args, resolve, reject]); });
    },
    purge: function () {}
  };
  var bin = atob("__PAYLOAD__");
  var bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  new Response(stream).text().then(function (src) {
    var s = document.createElement("script");
    s.textContent = src;
    document.head.appendChild(s);
    queue.forEach(function (q) {
      window.Plotly.newPlot.apply(window.Plotly, q[0]).then(q[1], q[2]);
    });
  }).catch(function (e) { console.error("could not unpack plotly.js:", e); });
})();
</script>"""


def compress_plotly(html: str, plotly_js: str) -> str:
    """Replace the one embedded copy of ``plotly_js`` in ``html`` by the compressed loader.

    Args:
        html: an exported page holding ``<script>plotly_js</script>`` exactly once.
        plotly_js: the library's source text.

    Returns:
        The page with ``<script>...</script>`` around the library replaced by :data:`_LOADER`.

    Raises:
        ValueError: the library is not embedded exactly once.
    """
    n = html.count(plotly_js)
    if n != 1:
        raise ValueError(f"expected plotly.js embedded once in the page, found {n} copies")
    marker = "\x00PLOTLYJS\x00"
    html = html.replace(plotly_js, marker)
    payload = base64.b64encode(gzip.compress(plotly_js.encode("utf-8"), 9, mtime=0)).decode()
    pattern = re.compile(r"<script[^>]*>\s*" + re.escape(marker) + r"\s*</script>")
    if len(pattern.findall(html)) != 1:
        raise ValueError("the embedded plotly.js is not a <script> element of its own")
    return pattern.sub(lambda _: _LOADER.replace("__PAYLOAD__", payload), html)


def render(notebook: Path, out: Path, timeout: int, compress: bool) -> tuple[float, int]:
    """Execute one notebook and write its HTML page.

    Returns:
        (seconds of execution, bytes written).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO)}}).execute()
    seconds = time.perf_counter() - t0
    exporter = HTMLExporter(template_name="lab")
    html, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
    if compress:
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs()
        if plotly_js in html:  # absent when the notebook drew no interactive figure
            html = compress_plotly(html, plotly_js)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return seconds, out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="*", default=list(NOTEBOOKS),
                   help="notebooks to render (default: both demos)")
    p.add_argument("--data_root", default=None,
                   help="data root (default: the notebooks' choice: datasets/full, small, tiny)")
    p.add_argument("--n_models", type=int, default=None, help="test models per notebook")
    p.add_argument("--out", type=Path, default=REPO / "docs", help="output folder")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.add_argument("--no_compress", action="store_true",
                   help="embed plotly.js as is (pages about 2.8 MB larger)")
    args = p.parse_args(argv)

    os.environ["LSM_DEMO_PLOTLY_RENDERER"] = "notebook"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.data_root:
        os.environ["LSM_DEMO_DATA_ROOT"] = str(Path(args.data_root).resolve())
    if args.n_models:
        os.environ["LSM_DEMO_N_MODELS"] = str(args.n_models)
    for name in args.notebooks:
        nb = Path(name) if Path(name).is_file() else REPO / name
        out = args.out / f"{nb.stem}.html"
        old_tmp = os.environ.get("TMPDIR")
        with tempfile.TemporaryDirectory() as tmp:  # the notebooks' own-views files
            os.environ["TMPDIR"] = tmp
            try:
                seconds, size = render(nb, out, args.timeout, not args.no_compress)
            finally:
                if old_tmp is None:
                    os.environ.pop("TMPDIR")
                else:
                    os.environ["TMPDIR"] = old_tmp
        warn = f"  WARNING: larger than {MAX_BYTES / 1e6:.0f} MB" if size > MAX_BYTES else ""
        print(f"{nb.name}: executed in {seconds:.0f} s -> {out} ({size / 1e6:.2f} MB){warn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
