"""Check a local copy of a Planetoid citation graph (Cora, CiteSeer, PubMed) and lay it out
where convkit's graph task reads it.

Source:   Zhilin Yang, William W. Cohen and Ruslan Salakhutdinov, "Revisiting
          Semi-Supervised Learning with Graph Embeddings", ICML 2016: the files
          ``data/ind.<name>.*`` of the GitHub repository kimiyoung/planetoid (the same
          files torch-geometric's ``Planetoid`` downloads). Download them yourself; this
          script never uses the network.
Licence:  MIT (the planetoid repository). Cite Yang et al. 2016 for the split and the
          datasets' own papers (Cora, CiteSeer: Sen et al. 2008; PubMed: Namata et al. 2012).
Expected: eight files per dataset, ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}
          (Python-2 pickles of scipy CSR features, numpy one-hot labels and a dict
          adjacency; the index one id per line): Cora ~0.6 MB, CiteSeer ~1 MB, PubMed ~35 MB.
          Counts as torch-geometric reads them (undirected edges, self-loops and
          duplicates removed) and the public split (train/val/test nodes):
              Cora      2708 nodes,  5278 edges, 1433 features, 7 classes, 140/500/1000
              CiteSeer  3327 nodes,  4552 edges, 3703 features, 6 classes, 120/500/1000
              PubMed   19717 nodes, 44324 edges,  500 features, 3 classes,  60/500/1000
          No checksums are published; the files are checked by content (counts above).
Output:   ``OUT/<Name>/raw/ind.<name>.*``; then, with the paper's setting (GCN, Kipf &
          Welling 2017: 81.5 / 70.3 / 79.0 % test accuracy):
              python -m convkit.tasks.graph train --recipe cora --data OUT/Cora

Usage:    python data_recipes/planetoid.py --src LOCAL_COPY --out DIR
LOCAL_COPY is a folder holding the ind.<name>.* files of one dataset (or its raw/ folder,
or torch-geometric's ``<Name>/`` with ``raw/``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from convkit.errors import ConvkitError, DataError
from convkit.tasks.graph.data import PLANETOID_NAMES, PLANETOID_SUFFIXES, find_planetoid, load_planetoid

EXPECTED: dict[str, dict[str, int]] = {
    "cora": {"num_nodes": 2708, "num_edges": 5278, "num_features": 1433, "num_classes": 7,
             "train_nodes": 140, "val_nodes": 500, "test_nodes": 1000},
    "citeseer": {"num_nodes": 3327, "num_edges": 4552, "num_features": 3703, "num_classes": 6,
                 "train_nodes": 120, "val_nodes": 500, "test_nodes": 1000},
    "pubmed": {"num_nodes": 19717, "num_edges": 44324, "num_features": 500, "num_classes": 3,
               "train_nodes": 60, "val_nodes": 500, "test_nodes": 1000},
}
"""Counts per dataset (torch-geometric's dataset table; edges undirected)."""


def check_planetoid(src: str | Path, expected: dict[str, dict[str, int]] = EXPECTED) -> tuple[Path, str, dict]:
    """Find, read (in a temporary folder: ``src`` is never written) and count a Planetoid
    dataset. Returns ``(raw folder, name, info)``.

    Raises:
        DataError: missing files (named), unreadable pickles, or counts that differ from
            ``expected`` (each difference named).
    """
    raw, name = find_planetoid(src)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / PLANETOID_NAMES[name] / "raw"
        copy.mkdir(parents=True)
        for suffix in PLANETOID_SUFFIXES:
            shutil.copyfile(raw / f"ind.{name}.{suffix}", copy / f"ind.{name}.{suffix}")
        info = load_planetoid(copy.parent).info
    wrong = [f"{key} {info[key]} (expected {value})" for key, value in expected.get(name, {}).items()
             if info[key] != value]
    if wrong:
        raise DataError(f"{raw}: {PLANETOID_NAMES[name]} does not match the published dataset: {'; '.join(wrong)}")
    return raw, name, info


def prepare(src: str | Path, out: str | Path) -> Path:
    """Check ``src`` and copy its raw files to ``out/<Name>/raw/`` (nothing is written
    unless the check passes). Returns the dataset folder ``out/<Name>``."""
    raw, name, _ = check_planetoid(src)
    target = Path(out) / PLANETOID_NAMES[name]
    (target / "raw").mkdir(parents=True, exist_ok=True)
    for suffix in PLANETOID_SUFFIXES:
        shutil.copyfile(raw / f"ind.{name}.{suffix}", target / "raw" / f"ind.{name}.{suffix}")
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2 for a data error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="folder holding a downloaded copy of ind.<name>.* files")
    parser.add_argument("--out", required=True, help="folder to write <Name>/raw/ into")
    args = parser.parse_args(argv)
    try:
        target = prepare(args.src, args.out)
    except ConvkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    toml = target.name.lower()
    print(f"ok  {target}\nTrain with: python -m convkit.tasks.graph train --recipe {toml} "
          f"--data {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
