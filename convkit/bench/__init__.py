"""The cross-domain benchmark suite: every task side by side (``python -m convkit.bench``).

Each task runs its ``smoke``/``default``/``full`` profile through the engine's ``fit``
(``convkit.bench.suite``), is measured (``perf``: FLOPs, throughput, peak memory, the
fraction of a matmul peak measured in the same run), probed for its inductive bias
(``probes``: translation, frame order, point order, word order, edges; CNN and a
parameter-matched MLP side by side), and the cost of a training step is fitted against
input size (``scaling``). ``report`` writes ``results.json``, ``results.md`` and the plots.
"""

from convkit.bench.command import main, run_bench

__all__ = ["main", "run_bench"]
