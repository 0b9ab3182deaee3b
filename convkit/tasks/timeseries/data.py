"""Time series from disk: CSV, the UCR anomaly archive, NAB, and UCR/UEA classification
files, and the classification splits made of them.

Every anomaly-detection loader returns one :class:`SeriesData` (values ``[T, C]``,
per-step 0/1 labels ``[T]`` or ``None``, timestamps, channel names, the end of
the training part); a folder of many series returns a list of them.
Classification files (``.ts``, ``.tsv``) return :class:`ClassificationData`
(``X [N, C, L]``, ``y [N]``, class names); :func:`classification_splits` makes the
train/val/test datasets of classify mode from them (or from series in memory).

Bad input fails with a :class:`~convkit.errors.DataError` whose one line names
the file, the column or line, and what was expected. Classification files are read line
by line, each line bounded by :data:`MAX_LINE_CHARS` before it is parsed; a byte that is
not UTF-8 is named by its line and offset, an infinite value (or one beyond float32) by
its line and position. Missing values are interpolated linearly, counted per channel
(``SeriesData.missing``) and reported with a warning.

Constant channels: a channel that never changes carries no signal, and its
per-channel error normalisation (median/MAD) would divide by zero; one among
others is dropped with a warning, so the rest of a real file stays usable. If
every channel is constant there is nothing to model: that is a
:class:`ConstantSeriesError` (a DataError).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset
from tqdm.auto import tqdm

from convkit.data.splits import Splits, carve_validation, check_classes, check_split_parts, remap_labels, split_indices
from convkit.errors import ConfigError, DataError
from convkit.tasks.timeseries.nab import PROBATIONARY_FRACTION, probationary_rows, window_rows

TIMESTAMP_COLUMN = "timestamp"
"""The CSV column read as time (matched case-insensitively); every other column but the label is a channel."""

LABEL_COLUMNS: tuple[str, ...] = ("label", "is_anomaly")
"""CSV column names read as per-step 0/1 anomaly labels (matched case-insensitively)."""

MISSING_TOKENS: frozenset[str] = frozenset({"", "nan", "na", "n/a", "null", "none", "?"})
"""Cell texts (lower-cased, stripped) that mean a missing value."""

CSV_TRAIN_FRACTION = 0.5
"""Default share of a CSV series, from its start, used for training."""

UCR_ANOMALY_NAME = re.compile(r"^(\d+)_UCR_Anomaly_(.+)_(\d+)_(\d+)_(\d+)\.txt$")
"""A UCR anomaly archive file name: number, dataset, training end, anomaly begin, anomaly end."""

UCR_EXAMPLE_NAME = "001_UCR_Anomaly_DISTORTED1sddb40_35000_52000_52620.txt"

MAX_LINE_CHARS = 2**25
"""The most characters one line of a ``.ts``/``.tsv`` classification file may hold (its line
ending aside): a longer line is refused while it is read, before its values are parsed
into memory. One line is one series with all its dimensions; the largest UCR/UEA problems
hold a few hundred thousand values a series (DuckDuckGeese: 1,345 dimensions of 270 steps),
a few million characters. Raise it here for a larger problem of your own."""

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest magnitude a value may have: series are stored as float32."""


class ConstantSeriesError(DataError):
    """Every channel of a series is constant: there is nothing to model."""


@dataclass
class SeriesData:
    """One (multivariate) time series for anomaly detection.

    Attributes:
        values: float32 ``[T, C]``, one column per channel, rows in time order.
        labels: int64 ``[T]``, 1 where a step is anomalous, 0 elsewhere; ``None`` if unlabelled.
        timestamps: ``[T]`` datetime64[ns] (text times) or float64 (numeric times); ``None`` if absent.
        channel_names: ``C`` names, one per column of ``values``.
        train_end: steps ``[0, train_end)`` are the training part; the rest is for validation and test.
        name: a short name for reports (file stem, NAB ``group/file``, ...).
        kinds: known anomaly segments ``(start, end, kind)``, ``end`` exclusive (synthetic data; empty otherwise).
        missing: the number of interpolated values per channel name (only channels that had any).
        archive: the benchmark archive the series comes from, whose protocol applies
            (``"nab"``, ``"ucr_anomaly"``; empty for any other series).
        windows: a NAB file's labelled windows as rows ``(first, last)``, inclusive, as
            NAB's scorer places them (empty for any other series).
    """

    values: np.ndarray
    labels: np.ndarray | None
    timestamps: np.ndarray | None
    channel_names: list[str]
    train_end: int
    name: str = "series"
    kinds: list[tuple[int, int, str]] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    archive: str = ""
    windows: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"SeriesData.values must be [T, C]; got shape {tuple(self.values.shape)}")
        length, channels = self.values.shape
        if len(self.channel_names) != channels:
            raise ValueError(f"SeriesData has {channels} channels but {len(self.channel_names)} channel names")
        for what, arr in (("labels", self.labels), ("timestamps", self.timestamps)):
            if arr is not None and arr.shape != (length,):
                raise ValueError(f"SeriesData.{what} must be [T] = [{length}]; got shape {tuple(arr.shape)}")
        if not 0 <= self.train_end <= length:
            raise ValueError(f"SeriesData.train_end={self.train_end} is outside [0, {length}]")

    @property
    def length(self) -> int:
        """The number of time steps ``T``."""
        return int(self.values.shape[0])

    @property
    def num_channels(self) -> int:
        """The number of channels ``C``."""
        return int(self.values.shape[1])


@dataclass
class ClassificationData:
    """Whole series with one class each (UCR/UEA classification archives).

    Attributes:
        X: float32 ``[N, C, L]``: N series, C dimensions (channels), L steps.
        y: int64 ``[N]``, indices into ``class_names``.
        class_names: the class labels as written in the file, in index order.
        name: the problem name (``@problemName``) or the file stem.
        lengths: int64 ``[N]``, the steps of each series (unequal-length archives); the
            steps after a series' length are padding, 0.0. ``None``: every series is full.
        source: the file the series were read from (empty for generated series), for messages.
    """

    X: np.ndarray
    y: np.ndarray
    class_names: list[str]
    name: str
    lengths: np.ndarray | None = None
    source: str = ""

    @property
    def equal_length(self) -> bool:
        """Whether every series has the full length ``L`` (no padding)."""
        return self.lengths is None or bool((self.lengths == self.X.shape[2]).all())


# ----------------------------------------------------------------------------- dispatch


def load_series(path: str | Path, train_fraction: float | None = None,
                keep_constant: bool = False) -> SeriesData | list[SeriesData]:
    """Read anomaly-detection series from ``path``, choosing the reader by what is there.

    - ``*.csv``: one series (:func:`load_csv`); inside a NAB tree (``data/<group>/<file>.csv``
      next to ``labels/combined_windows.json``) it is labelled from the NAB windows.
    - ``NNN_UCR_Anomaly_<name>_<train end>_<begin>_<end>.txt``: :func:`load_ucr_anomaly`.
    - a NAB root (``data/`` and ``labels/combined_windows.json``): a list, :func:`load_nab`.
    - a folder holding UCR anomaly ``.txt`` files (searched recursively): a list, sorted by name.
    - a folder holding ``*.csv`` files: a list, sorted by name.

    ``train_fraction`` overrides the share used for training (CSV default 0.5; a NAB file
    trains on its probationary period, :func:`~convkit.tasks.timeseries.nab.probationary_rows`
    of NAB's 0.15 or of this share); UCR files carry their own training end.
    ``keep_constant``: keep constant channels of a CSV (detection scores a stuck sensor;
    training drops them).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_dir():
        return _load_series_folder(p, train_fraction)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        nab_root = _nab_root_of(p)
        if nab_root is not None:
            fraction = PROBATIONARY_FRACTION if train_fraction is None else train_fraction
            windows = _read_nab_windows(nab_root / "labels" / "combined_windows.json")
            return _load_nab_file(p, nab_root, windows, fraction, keep_constant)
        return load_csv(p, CSV_TRAIN_FRACTION if train_fraction is None else train_fraction,
                        keep_constant=keep_constant)
    if suffix == ".txt":
        return load_ucr_anomaly(p)
    if suffix in (".ts", ".tsv"):
        raise DataError(
            f"{p}: a classification file ({suffix}), not a series to scan for anomalies; "
            "read it with load_classification (task.mode=classify)"
        )
    raise DataError(
        f"{p}: unsupported time-series file {suffix or '(no suffix)'}; expected .csv, "
        f"a UCR anomaly .txt like {UCR_EXAMPLE_NAME}, or a NAB root folder"
    )


def _load_series_folder(folder: Path, train_fraction: float | None) -> list[SeriesData]:
    if (folder / "labels" / "combined_windows.json").is_file() and (folder / "data").is_dir():
        fraction = PROBATIONARY_FRACTION if train_fraction is None else train_fraction
        return load_nab(folder, fraction)
    ucr_files = sorted((f for f in folder.rglob("*.txt") if UCR_ANOMALY_NAME.match(f.name)), key=lambda f: f.name)
    if ucr_files:
        return [load_ucr_anomaly(f) for f in _progress(ucr_files, "reading UCR series")]
    csv_files = sorted(folder.glob("*.csv"))
    if csv_files:
        fraction = CSV_TRAIN_FRACTION if train_fraction is None else train_fraction
        return [load_csv(f, fraction) for f in _progress(csv_files, "reading CSV series")]
    if any(folder.glob("*.ts")) or any(folder.glob("*.tsv")):
        raise DataError(
            f"{folder}: holds classification files (.ts/.tsv); read them with "
            "load_classification_splits (task.mode=classify)"
        )
    raise DataError(
        f"{folder}: no time series found; expected *.csv files, UCR anomaly .txt files "
        f"(like {UCR_EXAMPLE_NAME}) or a NAB root (data/ and labels/combined_windows.json)"
    )


def _progress(files: list[Path], description: str):
    """A progress bar over many files (none for a handful)."""
    return tqdm(files, desc=description, unit="file", disable=True if len(files) < 20 else None, leave=False)


# ----------------------------------------------------------------------------- CSV


def load_csv(path: str | Path, train_fraction: float = CSV_TRAIN_FRACTION, strict_time: bool = True,
             keep_constant: bool = False) -> SeriesData:
    """Read a CSV with a header row: numeric columns are channels.

    Optional columns: ``timestamp`` (ISO 8601 text or numbers; must strictly increase),
    and ``label`` or ``is_anomaly`` (0/1 per row). Missing cells (empty, ``nan``, ``NA``,
    ``null``, ``?``) are interpolated linearly in row order (the nearest value at the ends),
    counted in ``SeriesData.missing`` and reported with a warning. A constant channel
    among others is dropped with a warning.

    ``keep_constant=True`` keeps constant channels (detection: a stuck sensor is data to
    score, not an input error; only training drops them). ``strict_time=False`` accepts repeated or backward timestamps (rows stay in file order),
    as NAB ships them across daylight-saving changes.

    Returns:
        SeriesData with values ``[T, C]``, the first ``round(train_fraction * T)`` steps as training part.
    """
    path = Path(path)
    _check_fraction(train_fraction)
    header, rows, lines = _read_csv_table(path)
    lowered = [h.lower() for h in header]
    label_indices = [i for i, h in enumerate(lowered) if h in LABEL_COLUMNS]
    if len(label_indices) > 1:
        both = " and ".join(repr(header[i]) for i in label_indices)
        raise DataError(f"{path}: has both {both} columns; keep one label column")
    time_index = lowered.index(TIMESTAMP_COLUMN) if TIMESTAMP_COLUMN in lowered else None
    label_index = label_indices[0] if label_indices else None
    columns = list(zip(*rows))  # column-major view of the cells

    timestamps = None
    if time_index is not None:
        timestamps = _parse_timestamps(list(columns[time_index]), lines, path, header[time_index])
        if strict_time:
            _check_time_order(timestamps, list(columns[time_index]), lines, path)
    labels = None
    if label_index is not None:
        labels = _parse_labels(list(columns[label_index]), lines, path, header[label_index])

    channel_indices = [i for i in range(len(header)) if i not in (time_index, label_index)]
    if not channel_indices:
        raise DataError(f"{path}: no value columns; expected at least one numeric column besides timestamp/label")
    names = [header[i] for i in channel_indices]
    raw = np.stack([_parse_numeric(list(columns[i]), lines, path, header[i]) for i in channel_indices], axis=1)
    return series_from_values(raw, names, train_fraction, path.stem, str(path), labels, timestamps, keep_constant)


def series_from_values(values: np.ndarray, names: list[str], train_fraction: float, name: str, source: str,
                       labels: np.ndarray | None = None, timestamps: np.ndarray | None = None,
                       keep_constant: bool = False) -> SeriesData:
    """One series from its channels' values ``[T, C]`` (NaN: missing), as :func:`load_csv`
    makes it from a file's columns (and the scikit-learn detector from an array): missing
    values interpolated, a constant channel dropped (unless ``keep_constant``), values
    float32, the first ``round(train_fraction * T)`` steps the training part. ``names``:
    the ``C`` channel names; ``source`` names the series in messages."""
    _check_fraction(train_fraction)
    values, missing = fill_missing(values, names, source)
    if not keep_constant:
        values, names = _drop_constant_channels(values, names, source)

    train_end = int(round(train_fraction * len(values)))
    if labels is not None and labels[:train_end].any():
        warnings.warn(
            f"{source}: {int(labels[:train_end].sum())} labelled anomalous steps lie in the training part "
            f"(first {train_end} steps); the model will learn from them as if normal",
            stacklevel=3,
        )
    return SeriesData(
        values=values.astype(np.float32),
        labels=labels,
        timestamps=timestamps,
        channel_names=names,
        train_end=train_end,
        name=name,
        missing=missing,
    )


def _read_csv_table(path: Path) -> tuple[list[str], list[list[str]], np.ndarray]:
    """The header, the data rows (blank lines skipped) and each row's line number in the file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = None
            rows: list[list[str]] = []
            lines: list[int] = []
            for row in reader:
                if not row or (not row[0].strip() and not any(cell.strip() for cell in row)):
                    continue  # a blank line
                if header is None:
                    header = [cell.strip() for cell in row]
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{path}, line {reader.line_num}: {len(row)} fields, but the header has {len(header)}"
                    )
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text file ({e.reason})") from None
    except csv.Error as e:
        raise DataError(f"{path}: not a readable CSV file ({e})") from None
    if header is None:
        raise DataError(f"{path}: empty file; expected a header row and at least two data rows")
    if all(_is_number(cell) for cell in header):
        raise DataError(f"{path}: the first row holds numbers; expected a header row naming the columns")
    for i, name in enumerate(header):
        if not name:
            raise DataError(f"{path}: column {i + 1} has an empty name in the header")
    seen: set[str] = set()
    for name in header:
        if name.lower() in seen:
            raise DataError(f"{path}: duplicated column name {name!r} in the header")
        seen.add(name.lower())
    if len(rows) < 2:
        raise DataError(f"{path}: {len(rows)} data rows; a time series needs at least 2")
    return header, rows, np.asarray(lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_numeric(cells: list[str], lines: np.ndarray, path: Path, column: str) -> np.ndarray:
    """One channel column as float64 ``[T]``, NaN where a cell is missing."""
    texts = ["nan" if cell.strip().lower() in MISSING_TOKENS else cell for cell in cells]
    try:
        out = np.array(texts, dtype=np.float64)  # numpy parses the whole column at C speed
    except ValueError:
        i = next(i for i, text in enumerate(texts) if not _is_number(text))
        raise DataError(
            f"{path}: column {column!r} is not numeric (line {lines[i]}: {cells[i]!r}); "
            f"only {TIMESTAMP_COLUMN!r} may hold text"
        ) from None
    infinite = np.flatnonzero(np.isinf(out))
    if infinite.size:
        raise DataError(f"{path}: column {column!r} holds an infinite value on line {lines[infinite[0]]}")
    return out


def _parse_labels(cells: list[str], lines: np.ndarray, path: Path, column: str) -> np.ndarray:
    """The label column as int64 ``[T]``; every cell must read as 0 or 1."""
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        values = np.array([float(c) if _is_number(c) else np.nan for c in cells])
    bad = np.flatnonzero((values != 0) & (values != 1))  # NaN compares unequal to both
    if bad.size:
        raise DataError(
            f"{path}: column {column!r} must be 0 or 1 on every row; line {lines[bad[0]]} holds {cells[bad[0]]!r}"
        )
    return values.astype(np.int64)


def _parse_timestamps(cells: list[str], lines: np.ndarray, path: Path, column: str) -> np.ndarray:
    """Times as float64 ``[T]`` when every cell is a number, else datetime64[ns] from ISO 8601 text."""
    texts = [c.strip() for c in cells]
    try:
        numbers = np.array(texts, dtype=np.float64)
    except ValueError:
        numbers = None
    if numbers is not None:
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            raise DataError(f"{path}: column {column!r} has no valid time on line {lines[bad[0]]}")
        return numbers
    with warnings.catch_warnings():  # numpy warns that a 'Z'/offset suffix is converted to UTC: intended
        warnings.simplefilter("ignore")
        try:
            times = np.array(texts, dtype="datetime64[ns]")
        except ValueError:
            times = None
        if times is None:
            for i, text in enumerate(texts):
                try:
                    np.datetime64(text, "ns")
                except ValueError:
                    raise DataError(
                        f"{path}: column {column!r}, line {lines[i]}: cannot read {cells[i]!r} as a time; "
                        "expected ISO 8601 such as '2024-01-31 12:00:00', or a number"
                    ) from None
    missing = np.flatnonzero(np.isnat(times))
    if missing.size:
        raise DataError(f"{path}: column {column!r} has no time on line {lines[missing[0]]}")
    return times


def _check_time_order(times: np.ndarray, texts: list[str], lines: np.ndarray, path: Path) -> None:
    """Raise on the first duplicated time (in file order), then on the first step back in time."""
    order = np.argsort(times, kind="stable")
    same = times[order][1:] == times[order][:-1]
    if same.any():
        second = int(order[1:][same].min())  # the earliest row that repeats an earlier time
        first = int(np.flatnonzero(times == times[second])[0])
        raise DataError(
            f"{path}: duplicated timestamp {texts[second].strip()!r} (lines {lines[first]} and {lines[second]})"
        )
    back = np.flatnonzero(times[1:] < times[:-1])
    if back.size:
        k = int(back[0])
        raise DataError(
            f"{path}: timestamps out of order: line {lines[k + 1]} ({texts[k + 1].strip()!r}) is earlier than "
            f"line {lines[k]} ({texts[k].strip()!r}); sort the rows by time"
        )


def fill_missing(values: np.ndarray, names: list[str], source: str) -> tuple[np.ndarray, dict[str, int]]:
    """Interpolate NaNs linearly along time, per channel, and count them.

    Args:
        values: float ``[T, C]`` with NaN where missing.
        names: ``C`` channel names, for messages.
        source: the file, for messages.

    Returns:
        The filled float64 ``[T, C]`` (ends take the nearest known value) and the
        count of filled values per channel that had any; a warning lists the counts.
        An all-missing channel is a DataError naming it.
    """
    values = np.array(values, dtype=np.float64)
    missing_mask = np.isnan(values)
    counts = missing_mask.sum(axis=0)
    if not counts.any():
        return values, {}
    steps = np.arange(values.shape[0])
    for c in np.flatnonzero(counts):
        if counts[c] == values.shape[0]:
            raise DataError(f"{source}: column {names[c]!r} has no values (all {counts[c]} missing)")
        known = ~missing_mask[:, c]
        values[~known, c] = np.interp(steps[~known], steps[known], values[known, c])
    missing = {names[c]: int(counts[c]) for c in np.flatnonzero(counts)}
    report = ", ".join(f"{name}={n}" for name, n in missing.items())
    warnings.warn(f"{source}: interpolated missing values: {report}", stacklevel=3)
    return values, missing


def _drop_constant_channels(values: np.ndarray, names: list[str], source: str) -> tuple[np.ndarray, list[str]]:
    constant = np.ptp(values, axis=0) == 0
    if not constant.any():
        return values, names
    dropped = [n for n, c in zip(names, constant) if c]
    if constant.all():
        names = ", ".join(map(repr, dropped))
        raise ConstantSeriesError(f"{source}: every channel is constant ({names}); nothing to model")
    warnings.warn(f"{source}: dropped constant channels {', '.join(map(repr, dropped))}", stacklevel=3)
    return values[:, ~constant], [n for n, c in zip(names, constant) if not c]


def _check_fraction(train_fraction: float) -> None:
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"train_fraction must lie strictly between 0 and 1; got {train_fraction}")


# ----------------------------------------------------------------------------- UCR anomaly archive


def load_ucr_anomaly(path: str | Path) -> SeriesData:
    """Read one UCR anomaly archive file (Wu & Keogh, 2021).

    The name ``NNN_UCR_Anomaly_<name>_<train end>_<begin>_<end>.txt`` gives the split and
    the single anomaly; the body holds one value per line (a few files hold all values on
    one line; any whitespace separates values). Positions in the name are read as the
    archive's 1-based, inclusive indices: steps ``[0, train_end)`` are for training and
    0-based steps ``[begin - 1, end - 1]`` are labelled 1.

    Returns:
        SeriesData with values ``[T, 1]`` and labels ``[T]``.
    """
    path = Path(path)
    match = UCR_ANOMALY_NAME.match(path.name)
    if match is None:
        raise DataError(f"{path}: not a UCR anomaly archive name; expected one like {UCR_EXAMPLE_NAME}")
    train_end, begin, end = (int(g) for g in match.group(3, 4, 5))
    try:
        tokens = path.read_text(encoding="utf-8").split()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file of numbers") from None
    try:
        series = np.array(tokens, dtype=np.float64)
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise DataError(f"{path}: expected numbers separated by whitespace; found {bad!r}") from None
    length = len(series)
    if not 0 < train_end < begin <= end <= length:
        raise DataError(
            f"{path}: the name says training ends at {train_end} and the anomaly spans {begin}-{end}, "
            f"which does not fit 0 < train end < begin <= end <= length ({length} values)"
        )
    values, missing = fill_missing(series[:, None], ["value"], str(path))
    _drop_constant_channels(values, ["value"], str(path))  # one channel: raises if it is constant
    labels = np.zeros(length, dtype=np.int64)
    labels[begin - 1 : end] = 1
    return SeriesData(
        values=values.astype(np.float32),
        labels=labels,
        timestamps=None,
        channel_names=["value"],
        train_end=train_end,
        name=path.stem,
        missing=missing,
        archive="ucr_anomaly",
    )


# ----------------------------------------------------------------------------- NAB


def load_nab(root: str | Path, train_fraction: float = PROBATIONARY_FRACTION) -> list[SeriesData]:
    """Read the Numenta Anomaly Benchmark: ``root/data/<group>/<file>.csv`` (timestamp,value)
    labelled from ``root/labels/combined_windows.json``.

    A step is labelled 1 when its timestamp lies inside one of its file's windows
    (both ends included). Each file's probationary period is its training part: NAB's
    :func:`~convkit.tasks.timeseries.nab.probationary_rows` with ``train_fraction`` as NAB's
    ``probationPercent`` (0.15 by default: ``min(floor(0.15 T), 750)`` rows), the rows NAB's
    scorer never scores. A file whose values never change (NAB's ``art_flatline.csv``) is
    skipped with a warning: there is nothing to model.

    Returns:
        One SeriesData per data file (values ``[T, 1]``), sorted by ``group/file``, named ``group/file``.
    """
    root = Path(root)
    _check_fraction(train_fraction)
    labels_path = root / "labels" / "combined_windows.json"
    data_dir = root / "data"
    if not data_dir.is_dir() or not labels_path.is_file():
        raise DataError(f"{root}: not a NAB root; expected data/<group>/<file>.csv and labels/combined_windows.json")
    windows = _read_nab_windows(labels_path)
    files = sorted(data_dir.rglob("*.csv"))
    if not files:
        raise DataError(f"{data_dir}: no .csv files; expected data/<group>/<file>.csv")
    series = []
    for f in files:
        try:
            series.append(_load_nab_file(f, root, windows, train_fraction))
        except ConstantSeriesError as err:
            warnings.warn(f"{err}; skipped", stacklevel=2)
    if not series:
        raise DataError(f"{data_dir}: every series is constant; nothing to model")
    return series


def _nab_root_of(csv_path: Path) -> Path | None:
    """The NAB root when ``csv_path`` is ``<root>/data/<group>/<file>.csv`` with labels next to it."""
    parents = csv_path.resolve().parents
    if len(parents) >= 3 and parents[1].name == "data":
        root = parents[2]
        if (root / "labels" / "combined_windows.json").is_file():
            return root
    return None


def _read_nab_windows(labels_path: Path) -> dict[str, np.ndarray]:
    """``group/file.csv`` -> datetime64[ns] ``[W, 2]`` window bounds."""
    try:
        raw = json.loads(labels_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{labels_path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{labels_path}: expected an object mapping 'group/file.csv' to a list of [start, end] windows")
    windows: dict[str, np.ndarray] = {}
    for key, pairs in raw.items():
        if not isinstance(pairs, list) or any(not isinstance(p, list) or len(p) != 2 for p in pairs):
            raise DataError(f"{labels_path}: entry {key!r} must be a list of [start, end] timestamp pairs")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bounds = np.array(pairs, dtype="datetime64[ns]").reshape(-1, 2)
        except ValueError:
            raise DataError(f"{labels_path}: entry {key!r} holds a window bound that is not an ISO 8601 time") from None
        windows[key] = bounds
    return windows


def _load_nab_file(path: Path, root: Path, windows: dict[str, np.ndarray], train_fraction: float,
                   keep_constant: bool = False) -> SeriesData:
    key = path.resolve().relative_to((root / "data").resolve()).as_posix()
    if key not in windows:
        raise DataError(f"{root / 'labels' / 'combined_windows.json'}: no entry for {key!r}")
    series = load_csv(path, train_fraction, strict_time=False, keep_constant=keep_constant)  # NAB keeps DST repeats and a step back
    if series.timestamps is None or not np.issubdtype(series.timestamps.dtype, np.datetime64):
        raise DataError(f"{path}: expected a 'timestamp' column of dates, as in NAB's timestamp,value files")
    labels = np.zeros(series.length, dtype=np.int64)
    series.windows = window_rows(series.timestamps, windows[key])  # NAB's rows: first equal to each bound
    for first, last in series.windows:
        labels[first : last + 1] = 1
    series.labels = labels
    series.train_end = probationary_rows(series.length, train_fraction)  # NAB's probationary period
    series.name = key.removesuffix(".csv")
    series.archive = "nab"
    return series


# ----------------------------------------------------------------------------- classification (.ts / .tsv)


def load_classification(path: str | Path, class_names: list[str] | None = None) -> ClassificationData:
    """Read a UCR/UEA classification file: sktime ``.ts`` or the UCR 2018 ``.tsv``.

    ``.ts``: ``@problemName``, ``@classLabel true a b c``, ``@data``, then rows
    ``v1,v2,...:label`` with the dimensions of a multivariate series separated by ``:``;
    ``?`` or ``NaN`` marks a missing value (interpolated, as the UEA archive writes them);
    an infinite value, or one beyond float32's range, is refused naming its line;
    ``#`` and ``%`` lines are comments.
    ``.tsv``: one series per line, the class label first, then the values, tab-separated
    (trailing NaNs pad a shorter series). Series may have different lengths: they are
    zero-padded to the longest and ``lengths`` keeps each one's (never truncated); every
    series must have the same number of dimensions.

    Args:
        class_names: the class order to use (e.g. from the training file); by default
            ``@classLabel``'s order, else the labels sorted (numerically when all are numbers).

    Returns:
        ClassificationData with X ``[N, C, L]`` float32 and y ``[N]`` int64.
    """
    path = Path(path)
    X, labels, declared, name, lengths = _read_classification_file(path)
    names = class_names if class_names is not None else declared if declared is not None else _sorted_labels(labels)
    return ClassificationData(X=X, y=_label_indices(labels, names, path), class_names=list(names), name=name,
                              lengths=lengths, source=str(path))


def load_classification_splits(folder: str | Path) -> dict[str, ClassificationData]:
    """Read ``<Problem>_TRAIN.ts`` and ``<Problem>_TEST.ts`` (or ``.tsv``) from one folder
    (the problem named like the folder when it holds several), or the pair of one such file.

    Returns:
        ``{"train": ..., "test": ...}`` sharing one class order (the train file's
        ``@classLabel``, else the sorted union of both files' labels).
    """
    folder = Path(folder)
    pair = None
    chosen: list[Path] = []
    if folder.is_file():  # one file of a pair: that pair
        stem = folder.stem[:-5] + "_TRAIN" if folder.stem.upper().endswith("_TEST") else folder.stem
        chosen = [folder.with_name(stem + folder.suffix)]
        folder = folder.parent
        if not chosen[0].is_file():
            raise DataError(f"{folder}: no {chosen[0].name} next to its _TEST file")
    for suffix in (".ts", ".tsv"):
        # several problems in one folder: the one named like the folder first
        trains = chosen or sorted(folder.glob(f"*_TRAIN{suffix}"),
                                  key=lambda f: (f.stem != f"{folder.name}_TRAIN", f.name))
        if trains:
            test = trains[0].with_name(trains[0].name.replace("_TRAIN", "_TEST"))
            if not test.is_file():
                raise DataError(f"{folder}: found {trains[0].name} but no {test.name}")
            pair = (trains[0], test)
            break
    if pair is None:
        raise DataError(f"{folder}: expected <Problem>_TRAIN.ts and <Problem>_TEST.ts (or .tsv) files")
    train_X, train_labels, declared, name, train_lengths = _read_classification_file(pair[0])
    test_X, test_labels, _, _, test_lengths = _read_classification_file(pair[1])
    if train_X.shape[1] != test_X.shape[1]:
        raise DataError(f"{pair[1]}: {test_X.shape[1]} dimensions, but {pair[0].name} has {train_X.shape[1]}")
    longest = max(train_X.shape[2], test_X.shape[2])
    if train_lengths is not None or test_lengths is not None or train_X.shape[2] != test_X.shape[2]:
        train_lengths = train_lengths if train_lengths is not None else np.full(len(train_X), train_X.shape[2])
        test_lengths = test_lengths if test_lengths is not None else np.full(len(test_X), test_X.shape[2])
        train_X, test_X = (np.pad(x, ((0, 0), (0, 0), (0, longest - x.shape[2]))) for x in (train_X, test_X))
    names = declared if declared is not None else _sorted_labels(train_labels + test_labels)
    return {
        "train": ClassificationData(train_X, _label_indices(train_labels, names, pair[0]), list(names), name,
                                    train_lengths, str(pair[0])),
        "test": ClassificationData(test_X, _label_indices(test_labels, names, pair[1]), list(names), name,
                                   test_lengths, str(pair[1])),
    }


def _read_classification_file(path: Path) -> tuple[np.ndarray, list[str], list[str] | None, str, np.ndarray | None]:
    """X ``[N, C, L]``, the raw label of each series, the declared class names (or None), the
    problem name, the series lengths (None when all are equal)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".ts":
        return _read_ts(path)
    if suffix == ".tsv":
        return _read_ucr_tsv(path)
    raise DataError(f"{path}: unsupported classification file {suffix or '(no suffix)'}; expected .ts or .tsv")


def _read_ts(path: Path) -> tuple[np.ndarray, list[str], list[str] | None, str, np.ndarray | None]:
    name = path.stem
    declared: list[str] | None = None
    dimensions = series_length = None
    in_data = False
    rows: list[list[np.ndarray]] = []
    labels: list[str] = []
    first_line = 0
    for number, line in _text_lines(path):
        line = line.strip()
        if not line or line.startswith(("#", "%")):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataError(f"{path}, line {number}: expected an @ header line or @data before the series")
            key, _, rest = line[1:].partition(" ")
            key, rest = key.lower(), rest.strip()
            if key == "data":
                in_data = True
            elif key == "problemname":
                name = rest or name
            elif key == "classlabel":
                flag, *classes = rest.split()
                if flag.lower() != "true" or not classes:
                    raise DataError(
                        f"{path}, line {number}: @classLabel must be 'true' followed by the class labels"
                    )
                declared = classes
            elif key == "timestamps" and rest.lower() == "true":
                raise DataError(
                    f"{path}, line {number}: time-stamped .ts series are not supported; use plain values"
                )
            elif key == "targetlabel" and rest.lower().startswith("true"):
                raise DataError(f"{path}, line {number}: a regression file (@targetLabel); expected class labels")
            elif key == "dimensions":
                dimensions = _header_int(rest, path, number, "@dimensions")
            elif key == "serieslength":
                series_length = _header_int(rest, path, number, "@seriesLength")
            continue
        *dims, label = line.split(":")
        if not dims:
            raise DataError(f"{path}, line {number}: expected 'v1,v2,...:label'; found no ':' before a label")
        try:
            texts = [dim.split(",") for dim in dims]
            row = [np.array([np.nan if v.strip() == "?" else float(v) for v in dim]) for dim in texts]
        except ValueError:
            raise DataError(f"{path}, line {number}: values must be numbers (or '?' for missing)") from None
        for d, (values, dim) in enumerate(zip(row, texts), start=1):
            _check_finite(values, dim, f"{path}, line {number}", f"dimension {d}, ", "'?' or NaN")
        if not rows:
            first_line = number
        if len(row) != len(rows[0] if rows else row):
            raise DataError(
                f"{path}, line {number}: {len(row)} dimensions, but line {first_line} has {len(rows[0])}"
            )
        if len({len(d) for d in row}) != 1:
            raise DataError(f"{path}, line {number}: the dimensions of one series have different lengths "
                            f"({', '.join(str(len(d)) for d in row)}); expected one length per series")
        rows.append(row)
        labels.append(label.strip())
    if not in_data:
        raise DataError(f"{path}: no @data line; expected a sktime .ts file")
    if declared is None:
        raise DataError(f"{path}: no '@classLabel true ...' header; expected a classification file")
    if not rows:
        raise DataError(f"{path}: no series after @data")
    X, lengths = _pad_series(rows)
    if dimensions is not None and X.shape[1] != dimensions:
        raise DataError(f"{path}: @dimensions says {dimensions}, but the series have {X.shape[1]}")
    if series_length is not None and lengths is None and X.shape[2] != series_length:
        raise DataError(f"{path}: @seriesLength says {series_length}, but the series have {X.shape[2]} values")
    return _fill_series_missing(X, path, lengths), labels, declared, name, lengths


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The lines of a UTF-8 text file with their 1-based numbers, read one at a time: a line
    longer than :data:`MAX_LINE_CHARS` is refused before it is all in memory, and a byte that
    is not UTF-8 is refused naming its line and its offset in the file (a DataError each)."""
    limit = MAX_LINE_CHARS  # read at call time, so that it can be changed
    offset = 0  # bytes before the line
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        for number in itertools.count(1):
            line = f.readline(limit + 2)  # room for the line and a \r\n ending
            if not line:
                return
            if len(line.rstrip("\r\n")) > limit:
                raise DataError(f"{path}, line {number}: longer than {limit:,} characters, the most one series "
                                "line may hold (convkit.tasks.timeseries.data.MAX_LINE_CHARS)")
            if not line.isascii():
                bad = _NOT_UTF8.search(line)
                if bad is not None:
                    at = offset + len(line[: bad.start()].encode("utf-8", "surrogateescape"))
                    raise DataError(f"{path}, line {number}: byte 0x{ord(bad.group()) - 0xDC00:02x} at offset "
                                    f"{at} of the file is not UTF-8; expected a UTF-8 text file")
                offset += len(line.encode("utf-8", "surrogateescape"))
            else:
                offset += len(line)
            yield number, line.removeprefix("\ufeff") if number == 1 else line


_NOT_UTF8 = re.compile("[\udc80-\udcff]")
"""A byte that is not UTF-8, as ``errors="surrogateescape"`` decodes it."""


def _check_finite(values: np.ndarray, texts: list[str], where: str, dimension: str, missing: str) -> None:
    """Refuse an infinite value of ``values [L]`` (parsed from ``texts``), or one beyond
    float32's range, naming ``where`` (file and line), the ``dimension`` and the value's
    position; NaN passes (a missing value, spelt ``missing`` in the file)."""
    bad = np.abs(values) > FLOAT32_MAX  # infinities too; NaN compares false
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{where}: {texts[i].strip()!r} ({dimension}value {i + 1}) is not a finite number within "
                        f"float32's range; {missing} marks a missing value")


def _pad_series(rows: list[list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Series of possibly different lengths -> ``X [N, C, L_max]`` float64 (0.0 after each
    series' end) and the lengths ``[N]`` (``None`` when all are equal)."""
    lengths = np.array([len(row[0]) for row in rows], dtype=np.int64)
    longest = int(lengths.max())
    X = np.zeros((len(rows), len(rows[0]), longest), dtype=np.float64)
    for i, row in enumerate(rows):
        X[i, :, : lengths[i]] = row
    return X, None if (lengths == longest).all() else lengths


def _read_ucr_tsv(path: Path) -> tuple[np.ndarray, list[str], None, str, np.ndarray | None]:
    rows: list[np.ndarray] = []
    labels: list[str] = []
    for number, line in _text_lines(path):
        fields = line.strip().split("\t")
        if fields == [""]:
            continue
        if len(fields) < 2:
            raise DataError(f"{path}, line {number}: expected a label then tab-separated values")
        try:
            row = np.array([float(v) for v in fields[1:]])
        except ValueError:
            raise DataError(f"{path}, line {number}: values after the label must be numbers") from None
        _check_finite(row, fields[1:], f"{path}, line {number}", "", "NaN")
        known = np.flatnonzero(~np.isnan(row))
        row = row[: known[-1] + 1 if known.size else 0]  # the UCR 2018 .tsv pads shorter series with NaN
        if not row.size:
            raise DataError(f"{path}, line {number}: a series with no values")
        rows.append(row)
        labels.append(fields[0].strip())
    if not rows:
        raise DataError(f"{path}: no series; expected lines of 'label<TAB>v1<TAB>v2...'")
    X, lengths = _pad_series([[row] for row in rows])
    return _fill_series_missing(X, path, lengths), labels, None, path.stem, lengths


def _header_int(text: str, path: Path, number: int, key: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}, line {number}: {key} must be a whole number; found {text!r}") from None


def _fill_series_missing(X: np.ndarray, path: Path, lengths: np.ndarray | None = None) -> np.ndarray:
    """Interpolate NaNs along each series of ``X [N, C, L]`` (within its length); an
    all-missing series is a DataError."""
    nan = np.isnan(X)
    if nan.any():
        for n, c in zip(*np.nonzero(nan.any(axis=2))):
            end = X.shape[2] if lengths is None else int(lengths[n])
            steps = np.arange(end)
            known = ~nan[n, c, :end]
            if not known.any():
                raise DataError(f"{path}: series {n + 1}, dimension {c + 1} has no values (all missing)")
            X[n, c, :end][~known] = np.interp(steps[~known], steps[known], X[n, c, :end][known])
        warnings.warn(f"{path}: interpolated {int(nan.sum())} missing values", stacklevel=4)
    return X.astype(np.float32)


def _sorted_labels(labels: list[str]) -> list[str]:
    unique = set(labels)
    if all(_is_number(label) for label in unique):
        return sorted(unique, key=float)
    return sorted(unique)


def _label_indices(labels: list[str], class_names: list[str], path: Path) -> np.ndarray:
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [label for label in labels if label not in index]
    if unknown:
        raise DataError(f"{path}: class label {unknown[0]!r} is not one of the declared classes {class_names}")
    return np.array([index[label] for label in labels], dtype=np.int64)


# ----------------------------------------------------------------------------- classification splits


def znormalise(x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Z-normalise each series of ``x [N, C, L]`` per channel over its own ``lengths [N]``
    steps (all ``L`` when None); a constant one becomes 0, and padding after a series'
    length stays 0.0 (the mean of the normalised series). Returns float32 ``[N, C, L]``."""
    x = np.asarray(x, dtype=np.float64)
    if lengths is None:
        std = x.std(axis=2, keepdims=True)
        return ((x - x.mean(axis=2, keepdims=True)) / np.where(std > 0, std, 1.0)).astype(np.float32)
    valid = (np.arange(x.shape[2])[None, :] < np.asarray(lengths)[:, None])[:, None, :]
    count = valid.sum(axis=2, keepdims=True)
    mean = np.where(valid, x, 0.0).sum(axis=2, keepdims=True) / count
    std = np.sqrt(np.where(valid, (x - mean) ** 2, 0.0).sum(axis=2, keepdims=True) / count)
    return np.where(valid, (x - mean) / np.where(std > 0, std, 1.0), 0.0).astype(np.float32)


def _dataset(data: ClassificationData, index: np.ndarray, znorm: bool) -> TensorDataset:
    """``(X [n, C, L] float32, y [n] int64, lengths [n] int64)`` of the series at ``index``
    (each series' own length: the steps after it are zero padding)."""
    x = data.X[index]
    lengths = None if data.lengths is None else data.lengths[index]
    steps = lengths if lengths is not None else np.full(len(index), data.X.shape[2])
    return TensorDataset(torch.from_numpy(znormalise(x, lengths) if znorm else np.ascontiguousarray(x)),
                         torch.from_numpy(data.y[index]), torch.from_numpy(np.asarray(steps, dtype=np.int64)))


def describe_lengths(*datas: ClassificationData) -> str:
    """``"length 1460"`` or ``"lengths 29..361, zero-padded to 361 after z-normalisation
    (never truncated)"`` over ``datas``."""
    longest = max(d.X.shape[2] for d in datas)
    lengths = np.concatenate([d.lengths if d.lengths is not None else np.full(len(d.y), d.X.shape[2])
                              for d in datas])
    if (lengths == longest).all():
        return f"length {longest}"
    return f"lengths {lengths.min()}..{longest}, zero-padded to {longest} after z-normalisation (never truncated)"


def classification_splits(source: str | Path | ClassificationData, znorm: bool = True, seed: int = 0,
                          holdout: bool = False) -> Splits:
    """The classification splits of ``source``: series in memory (the embedded waveforms: a
    stratified 80/10/10 split), a ``<Problem>_TRAIN/_TEST`` folder or one file of such a
    pair (the official split), or one ``.ts``/``.tsv`` file alone (stratified 80/10/10).
    TensorDatasets of ``(X [N, C, L] float32, y [N] int64, lengths [N] int64)``, each series
    z-normalised over its own length when ``znorm`` and zero-padded after it; ``extras["name"]`` is the problem's name,
    ``extras["train_file"]`` the number of series the training data came from (a pair),
    ``extras["protocol"]`` one line saying how it was split. An official pair trains on all
    of TRAIN and validates on TRAIN itself, as Wang et al. 2017 and Ismail Fawaz et al. keep
    the checkpoint with the lowest training loss; ``holdout``: a tenth of TRAIN is held out
    for validation instead (never the TEST file either way).

    Raises:
        DataError: before any model or baseline is fitted, training data with fewer than
            two classes, or a stratified split that would leave a part empty (the message
            names the file and the classes).
    """
    if isinstance(source, ClassificationData):
        train, val, test = split_indices(source.y, seed=seed)
        splits = _splits(source, source, (train, val, test), znorm)
        splits.extras["protocol"] = (f"the embedded waveforms, a stratified {len(train)}/{len(val)}/{len(test)} "
                                     f"split, {describe_lengths(source)}")
        return splits
    p = Path(source)
    if p.is_dir() or (p.is_file() and p.stem.upper().endswith(("_TRAIN", "_TEST")) and _partner(p).is_file()):
        # a folder or one file of an official pair: the pair, its TEST file the test split
        pair = load_classification_splits(p)
        return pair_splits(pair["train"], pair["test"], znorm, seed, holdout)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    data = load_classification(p)
    train, val, test = split_indices(data.y, seed=seed)
    check_classes(data.y[train], data.class_names, data.source)
    check_split_parts((train, val, test), data.y, data.class_names, data.source)
    splits = _splits(data, data, (train, val, test), znorm)
    splits.extras["protocol"] = (f"{splits.extras['name']}: one file, a stratified {len(train)}/{len(val)}/{len(test)} "
                                 f"split, {data.X.shape[1]} channel(s), {describe_lengths(data)}")
    return splits


def pair_splits(train_data: ClassificationData, test_data: ClassificationData, znorm: bool = True, seed: int = 0,
                holdout: bool = False) -> Splits:
    """The splits of an official TRAIN/TEST pair (:func:`classification_splits`' protocol;
    the scikit-learn classifier hands its series in memory here too): all of TRAIN trains
    and validates, or with ``holdout`` a tenth of it validates; all of TEST tests. Both
    share one class order and one padded length ``L``
    (:func:`load_classification_splits`).

    Raises:
        DataError: TRAIN with fewer than two classes, or a hold-out that leaves a part empty.
    """
    labels, names, where = train_data.y, train_data.class_names, train_data.source
    check_classes(labels, names, where)
    if holdout:
        train, val = carve_validation(labels, seed=seed)
        check_split_parts((train, val), labels, names, where, ("train", "val"))
        checked = f"validation {len(val)} of TRAIN"
    else:
        train = val = np.arange(len(train_data.y))
        checked = "all of TRAIN trains; the best checkpoint has the lowest loss on TRAIN"
    everything = np.arange(len(test_data.y))
    splits = _splits(train_data, test_data, (train, val, everything), znorm)
    splits.extras["train_file"] = len(train_data.y)
    splits.extras["protocol"] = (f"{splits.extras['name']}: the official TRAIN/TEST split ({len(train_data.y)}"
                                 f"/{len(test_data.y)} series; {checked}), "
                                 f"{train_data.X.shape[1]} channel(s), {describe_lengths(train_data, test_data)}")
    return splits


def _partner(path: Path) -> Path:
    """The ``_TEST`` file of a ``_TRAIN`` file and the other way round."""
    stem = path.stem
    other = stem[:-6] + "_TEST" if stem.upper().endswith("_TRAIN") else stem[:-5] + "_TRAIN"
    return path.with_name(other + path.suffix)


def _splits(data: ClassificationData, test_data: ClassificationData, index: tuple[np.ndarray, ...],
            znorm: bool) -> Splits:
    """Train and val from ``data``, test from ``test_data``, at the given indices."""
    train, val, test = index
    return Splits(_dataset(data, train, znorm), _dataset(data, val, znorm), _dataset(test_data, test, znorm),
                  list(data.class_names), {"name": data.name})


def classification_eval_set(path: str | Path, class_names: list[str], znorm: bool = True) -> TensorDataset:
    """All of ``path`` (the ``_TEST`` file of a folder) labelled in the trained model's class
    order: ``(X [N, C, L] float32, y [N] int64, lengths [N] int64)``, each series normalised
    and padded as :func:`classification_splits` does (over its own length)."""
    p = Path(path)
    if p.is_dir():
        test = load_classification_splits(p)["test"]
        data = ClassificationData(test.X, remap_labels(test.y, test.class_names, class_names, str(p)),
                                  list(class_names), test.name, test.lengths, test.source)
    else:
        data = load_classification(p, class_names=class_names)
    return _dataset(data, np.arange(len(data.y)), znorm)


def classification_inputs(path: str | Path, znorm: bool = True) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """One ``.ts``/``.tsv`` file to classify: ``(X [N, C, L] float32, the label written for
    each series, lengths [N] int64)``; the labels may be classes the model does not know."""
    data = load_classification(path)
    x = znormalise(data.X, data.lengths) if znorm else data.X
    lengths = data.lengths if data.lengths is not None else np.full(len(data.y), data.X.shape[2])
    return (torch.from_numpy(np.ascontiguousarray(x)), [data.class_names[i] for i in data.y],
            torch.from_numpy(np.asarray(lengths, dtype=np.int64)))
