"""Time-series loaders (convkit.tasks.timeseries.data), the synthetic sensor generator and the
UCR-anomaly / NAB recipes, on tiny fixtures written in tmp_path."""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convkit.tasks.timeseries.data import (
    ConstantSeriesError,
    SeriesData,
    fill_missing,
    load_classification,
    load_classification_splits,
    load_csv,
    load_nab,
    load_series,
    load_ucr_anomaly,
)
from convkit.tasks.timeseries.synthetic import ANOMALY_KINDS, STEPS_PER_DAY, make_sensor_series
from convkit.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def exact(message: str) -> str:
    """A pytest ``match`` pattern for exactly this message."""
    return "^" + re.escape(message) + "$"


def load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_recipe", REPO / "data_recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- CSV


def test_csv_reads_channels_timestamps_and_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path / "plant.csv",
        "timestamp,temp,pressure,label\n"
        "2024-01-01 00:00:00,1.5,10,0\n"
        "2024-01-01 00:15:00,2.5,11,0\n"
        "2024-01-01 00:30:00,3.5,9,1\n"
        "2024-01-01 00:45:00,4.5,12,0\n",
    )
    series = load_csv(path)
    assert series.channel_names == ["temp", "pressure"]
    assert series.values.dtype == np.float32 and series.values.shape == (4, 2)
    np.testing.assert_array_equal(series.values, [[1.5, 10], [2.5, 11], [3.5, 9], [4.5, 12]])
    np.testing.assert_array_equal(series.labels, [0, 0, 1, 0])
    assert series.labels.dtype == np.int64
    assert series.timestamps.dtype == np.dtype("datetime64[ns]")
    assert series.timestamps[2] == np.datetime64("2024-01-01T00:30")
    assert series.train_end == 2 and series.name == "plant" and series.missing == {}


def test_csv_is_anomaly_column_numeric_times_and_train_fraction(tmp_path: Path) -> None:
    rows = "".join(f"{t},{np.sin(t)},{int(t == 7)}\n" for t in range(10))
    series = load_csv(write(tmp_path / "s.csv", "timestamp,value,is_anomaly\n" + rows), train_fraction=0.3)
    assert series.timestamps.dtype == np.float64
    np.testing.assert_array_equal(series.timestamps, np.arange(10.0))
    assert series.labels.tolist() == [0] * 7 + [1] + [0] * 2
    assert series.train_end == 3 and series.labels is not None


def test_csv_missing_values_are_interpolated_counted_and_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "gaps.csv", "a,b\n1,\n,4\nNaN,6\n7,NA\n9,10\n")
    with pytest.warns(UserWarning, match=exact(f"{path}: interpolated missing values: a=2, b=2")):
        series = load_csv(path)
    # a: 1, _, _, 7, 9 -> linear in row order; b: _ (edge: nearest known), 4, 6, _, 10
    np.testing.assert_allclose(series.values[:, 0], [1, 3, 5, 7, 9])
    np.testing.assert_allclose(series.values[:, 1], [4, 4, 6, 8, 10])
    assert series.missing == {"a": 2, "b": 2}


def test_csv_all_missing_column_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path / "empty_col.csv", "a,dead\n1,\n2,nan\n3,\n")
    with pytest.raises(DataError, match=exact(f"{path}: column 'dead' has no values (all 3 missing)")):
        load_csv(path)


def test_csv_non_numeric_column_is_an_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path / "text.csv", "a,status\n1,ok\n2,ok\n")
    with pytest.raises(
        DataError,
        match=exact(f"{path}: column 'status' is not numeric (line 2: 'ok'); only 'timestamp' may hold text"),
    ):
        load_csv(path)


@pytest.mark.parametrize("bad", ["2", "yes", "", "0.5", "-1"])
def test_csv_labels_must_be_zero_or_one(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path / "labels.csv", f"value,label\n1,0\n2,1\n3,{bad}\n")
    with pytest.raises(
        DataError, match=exact(f"{path}: column 'label' must be 0 or 1 on every row; line 4 holds {bad!r}")
    ):
        load_csv(path)


def test_csv_duplicated_timestamp_names_the_first_duplicate(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dup.csv",
        "timestamp,v\n2024-01-01 00:00,1\n2024-01-01 00:10,2\n2024-01-01 00:10,3\n"
        "2024-01-01 00:20,4\n2024-01-01 00:20,5\n",
    )
    with pytest.raises(DataError, match=exact(f"{path}: duplicated timestamp '2024-01-01 00:10' (lines 3 and 4)")):
        load_csv(path)


def test_csv_timestamps_out_of_order_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "order.csv", "timestamp,v\n2024-01-01 00:00,1\n2024-01-01 00:20,2\n2024-01-01 00:10,3\n")
    with pytest.raises(
        DataError,
        match=exact(
            f"{path}: timestamps out of order: line 4 ('2024-01-01 00:10') is earlier than "
            "line 3 ('2024-01-01 00:20'); sort the rows by time"
        ),
    ):
        load_csv(path)


def test_csv_unreadable_timestamp_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "when.csv", "timestamp,v\n2024-01-01,1\n01/02/2024,2\n")
    with pytest.raises(
        DataError,
        match=exact(
            f"{path}: column 'timestamp', line 3: cannot read '01/02/2024' as a time; "
            "expected ISO 8601 such as '2024-01-31 12:00:00', or a number"
        ),
    ):
        load_csv(path)


def test_csv_constant_channel_is_dropped_and_all_constant_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "flat.csv", "a,stuck,b\n1,5,2\n2,5,1\n3,5,0\n")
    with pytest.warns(UserWarning, match=exact(f"{path}: dropped constant channels 'stuck'")):
        series = load_csv(path)
    assert series.channel_names == ["a", "b"]
    np.testing.assert_array_equal(series.values, [[1, 2], [2, 1], [3, 0]])

    path = write(tmp_path / "dead.csv", "a,b\n1,5\n1,5\n1,5\n")
    message = f"{path}: every channel is constant ('a', 'b'); nothing to model"
    with pytest.raises(ConstantSeriesError, match=exact(message)):
        load_csv(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ": empty file; expected a header row and at least two data rows"),
        ("1,2\n3,4\n", ": the first row holds numbers; expected a header row naming the columns"),
        ("a,b\n1,2\n3\n", ", line 3: 1 fields, but the header has 2"),
        ("a,A\n1,2\n3,4\n", ": duplicated column name 'A' in the header"),
        (
            "timestamp,label\n1,0\n2,1\n",
            ": no value columns; expected at least one numeric column besides timestamp/label",
        ),
        ("a\n1\n", ": 1 data rows; a time series needs at least 2"),
        ("a,b\n1,inf\n2,3\n", ": column 'b' holds an infinite value on line 2"),
        ("label,is_anomaly,v\n0,0,1\n1,1,2\n", ": has both 'label' and 'is_anomaly' columns; keep one label column"),
        ("timestamp,v\n2024-01-01,1\n,2\n", ": column 'timestamp' has no time on line 3"),
    ],
)
def test_csv_malformed_files_fail_with_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=exact(f"{path}{message}")):
        load_csv(path)


def test_csv_train_fraction_out_of_range_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.csv", "a\n1\n2\n3\n")
    with pytest.raises(ConfigError, match=exact("train_fraction must lie strictly between 0 and 1; got 1.5")):
        load_csv(path, train_fraction=1.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(-1e3, 1e3)), min_size=2, max_size=40).filter(
        lambda xs: any(x is not None for x in xs)
    )
)
def test_fill_missing_keeps_known_values_and_stays_within_neighbours(cells: list[float | None]) -> None:
    raw = np.array([np.nan if c is None else c for c in cells])[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled, missing = fill_missing(raw, ["x"], "test")
    known = ~np.isnan(raw[:, 0])
    np.testing.assert_array_equal(filled[known, 0], raw[known, 0])
    assert not np.isnan(filled).any()
    assert missing == ({"x": int((~known).sum())} if (~known).any() else {})
    idx = np.flatnonzero(known)
    for i in np.flatnonzero(~known):  # each filled value lies between its nearest known neighbours
        before, after = idx[idx < i], idx[idx > i]
        neighbours = [raw[before[-1], 0]] if before.size else []
        neighbours += [raw[after[0], 0]] if after.size else []
        assert min(neighbours) - 1e-9 <= filled[i, 0] <= max(neighbours) + 1e-9


# --------------------------------------------------------------------------- UCR anomaly archive

UCR_NAME = "001_UCR_Anomaly_tiny_10_14_16.txt"


def test_ucr_anomaly_file_name_gives_split_and_one_based_inclusive_range(tmp_path: Path) -> None:
    values = np.round(np.sin(np.arange(20) / 3), 4)
    path = write(tmp_path / UCR_NAME, "\n".join(f"{v:.4f}" for v in values) + "\n")
    series = load_ucr_anomaly(path)
    np.testing.assert_allclose(series.values[:, 0], values, atol=1e-6)
    assert series.values.shape == (20, 1) and series.channel_names == ["value"]
    assert series.train_end == 10
    assert np.flatnonzero(series.labels).tolist() == [13, 14, 15]  # positions 14-16, 1-based inclusive
    assert series.name == UCR_NAME.removesuffix(".txt") and series.timestamps is None


def test_ucr_anomaly_values_on_one_line_read_the_same(tmp_path: Path) -> None:
    values = np.arange(20, dtype=float) % 7
    lines = write(tmp_path / "a" / UCR_NAME, "\n".join(map(str, values)))
    one_line = write(tmp_path / "b" / UCR_NAME, "  ".join(map(str, values)) + "\n")
    np.testing.assert_array_equal(load_ucr_anomaly(lines).values, load_ucr_anomaly(one_line).values)


def test_ucr_anomaly_bad_names_and_ranges_are_errors(tmp_path: Path) -> None:
    bad_name = write(tmp_path / "series.txt", "1\n2\n")
    with pytest.raises(
        DataError,
        match=exact(
            f"{bad_name}: not a UCR anomaly archive name; expected one like "
            "001_UCR_Anomaly_DISTORTED1sddb40_35000_52000_52620.txt"
        ),
    ):
        load_series(bad_name)
    too_short = write(tmp_path / "002_UCR_Anomaly_x_10_14_30.txt", "\n".join("1" for _ in range(20)))
    with pytest.raises(
        DataError,
        match=exact(
            f"{too_short}: the name says training ends at 10 and the anomaly spans 14-30, "
            "which does not fit 0 < train end < begin <= end <= length (20 values)"
        ),
    ):
        load_ucr_anomaly(too_short)
    text = write(tmp_path / "003_UCR_Anomaly_x_2_3_4.txt", "1\n2\nthree\n4\n5\n")
    with pytest.raises(DataError, match=exact(f"{text}: expected numbers separated by whitespace; found 'three'")):
        load_ucr_anomaly(text)


def test_load_series_reads_a_folder_of_ucr_files_sorted(tmp_path: Path) -> None:
    for name in ("010_UCR_Anomaly_b_5_7_8.txt", "002_UCR_Anomaly_a_5_6_6.txt"):
        write(tmp_path / "archive" / "nested" / name, "\n".join(str(i % 5) for i in range(12)))
    write(tmp_path / "archive" / "README.txt", "not a series")
    loaded = load_series(tmp_path / "archive")
    assert [s.name for s in loaded] == ["002_UCR_Anomaly_a_5_6_6", "010_UCR_Anomaly_b_5_7_8"]
    assert [np.flatnonzero(s.labels).tolist() for s in loaded] == [[5], [6, 7]]


# --------------------------------------------------------------------------- NAB


def make_nab(root: Path, groups: dict[str, int] | None = None, rows: int = 12) -> dict[str, list]:
    """A NAB tree: ``data/<group>/f<i>.csv`` (5-minute steps) and ``labels/combined_windows.json``."""
    groups = groups or {"artificialWithAnomaly": 1, "realTraffic": 2}
    windows: dict[str, list] = {}
    start = np.datetime64("2015-09-01T00:00")
    for group, count in groups.items():
        for i in range(count):
            times = start + np.arange(rows) * np.timedelta64(5, "m")
            values = (np.arange(rows) * (i + 2)) % 7 + 0.5 if (i + 2) % 7 else np.arange(rows)
            text = "timestamp,value\n" + "".join(
                f"{str(t).replace('T', ' ')}:00,{v}\n" for t, v in zip(times, values)
            )
            write(root / "data" / group / f"f{i}.csv", text)
            windows[f"{group}/f{i}.csv"] = (
                [["2015-09-01 00:10:00.000000", "2015-09-01 00:20:00.000000"]] if i == 0 else []
            )
    write(root / "labels" / "combined_windows.json", json.dumps(windows, indent=2))
    return windows


def test_nab_windows_label_steps_inclusively(tmp_path: Path) -> None:
    make_nab(tmp_path / "NAB")
    loaded = load_series(tmp_path / "NAB")
    assert [s.name for s in loaded] == ["artificialWithAnomaly/f0", "realTraffic/f0", "realTraffic/f1"]
    first = loaded[0]
    assert np.flatnonzero(first.labels).tolist() == [2, 3, 4]  # 00:10, 00:15, 00:20
    assert first.train_end == 1  # NAB's probationary period, min(floor(0.15 T), 750) rows (nab/util.py)
    assert loaded[2].labels.sum() == 0
    np.testing.assert_array_equal(first.values[:4, 0], [0.5, 2.5, 4.5, 6.5])


def test_a_nab_file_trains_on_nabs_probationary_period(tmp_path: Path) -> None:
    # NAB's own definition (nab/util.py getProbationPeriod): min(floor(0.15 T), 0.15 * 5000);
    # the scorer never scores those rows, and the loader trains on exactly them
    from convkit.tasks.timeseries.nab import probationary_rows

    make_nab(tmp_path / "NAB", {"realTraffic": 1}, rows=6000)
    (short,) = load_series(tmp_path / "NAB")
    assert short.train_end == probationary_rows(6000) == 750  # capped: 15% of 6000 rows would be 900
    assert load_series(tmp_path / "NAB", train_fraction=0.1)[0].train_end == 500  # 0.1 * 5000
    make_nab(tmp_path / "small", {"realTraffic": 1}, rows=1001)
    assert load_series(tmp_path / "small")[0].train_end == 150 == probationary_rows(1001)  # floor(150.15)


def test_a_single_nab_file_is_labelled_from_its_tree(tmp_path: Path) -> None:
    make_nab(tmp_path / "NAB")
    series = load_series(tmp_path / "NAB" / "data" / "realTraffic" / "f0.csv")
    assert series.name == "realTraffic/f0"
    assert np.flatnonzero(series.labels).tolist() == [2, 3, 4]


def test_nab_missing_label_entry_and_constant_file(tmp_path: Path) -> None:
    windows = make_nab(tmp_path / "NAB")
    del windows["realTraffic/f1.csv"]
    labels = write(tmp_path / "NAB" / "labels" / "combined_windows.json", json.dumps(windows))
    with pytest.raises(DataError, match=exact(f"{labels}: no entry for 'realTraffic/f1.csv'")):
        load_nab(tmp_path / "NAB")

    make_nab(tmp_path / "NAB2")
    flat = "timestamp,value\n2015-01-01 00:00:00,3\n2015-01-01 00:05:00,3\n"
    write(tmp_path / "NAB2" / "data" / "realTraffic" / "f1.csv", flat)
    skipped = r"realTraffic/f1\.csv: every channel is constant \('value'\); nothing to model; skipped$"
    with pytest.warns(UserWarning, match=skipped):
        loaded = load_nab(tmp_path / "NAB2")
    assert [s.name for s in loaded] == ["artificialWithAnomaly/f0", "realTraffic/f0"]


# --------------------------------------------------------------------------- classification .ts / .tsv

TS_UNIVARIATE = """# a comment
@problemName Tiny
@timeStamps false
@univariate true
@classLabel true up down
@data
1,2,3,4:up
4,3,?,1:down
2,3,4,5:up
"""

TS_MULTIVARIATE = """@problemName TinyMV
@dimensions 2
@seriesLength 3
@classLabel true a b c
@data
1,2,3:9,8,7:c
0,0,1:1,0,0:a
"""


def test_ts_univariate_reads_values_classes_and_fills_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "Tiny_TRAIN.ts", TS_UNIVARIATE)
    with pytest.warns(UserWarning, match=exact(f"{path}: interpolated 1 missing values")):
        data = load_classification(path)
    assert data.X.shape == (3, 1, 4) and data.X.dtype == np.float32
    np.testing.assert_array_equal(data.X[1, 0], [4, 3, 2, 1])
    assert data.class_names == ["up", "down"] and data.y.tolist() == [0, 1, 0] and data.name == "Tiny"


def test_ts_multivariate_dimensions_are_channels(tmp_path: Path) -> None:
    data = load_classification(write(tmp_path / "mv.ts", TS_MULTIVARIATE))
    assert data.X.shape == (2, 2, 3)
    np.testing.assert_array_equal(data.X[0], [[1, 2, 3], [9, 8, 7]])
    assert data.class_names == ["a", "b", "c"] and data.y.tolist() == [2, 0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,2,3:1,2:up\n", "line 7: the dimensions of one series have different lengths (3, 2); "
         "expected one length per series"),
        ("1,2,3:sideways\n", "class label 'sideways' is not one of the declared classes ['up', 'down']"),
        ("1,2,x:up\n", "line 7: values must be numbers (or '?' for missing)"),
        ("1,2,3:1,2,3:up\n1,2,3:down\n", "line 8: 1 dimensions, but line 7 has 2"),
    ],
)
def test_ts_bad_rows_fail_naming_the_line(tmp_path: Path, body: str, message: str) -> None:
    header = "@problemName Bad\n@univariate true\n@classLabel true up down\n\n@data\n\n"
    path = write(tmp_path / "bad.ts", header + body)
    sep = ", " if message.startswith("line") else ": "
    with pytest.raises(DataError, match=exact(f"{path}{sep}{message}")):
        load_classification(path)


def test_ts_unequal_lengths_are_padded_never_truncated_and_percent_comments_skipped(tmp_path: Path) -> None:
    from convkit.tasks.timeseries.data import znormalise

    body = "% aeon's comment style\n%\n@problemName Uneq\n@equalLength false\n@classLabel true up down\n@data\n"
    path = write(tmp_path / "Uneq_TRAIN.ts", body + "1,2,3,4,5:up\n5,?,1:down\n")
    write(tmp_path / "Uneq_TEST.ts", body + "1,2,3,4,5,6,7:up\n")
    with pytest.warns(UserWarning, match="interpolated 1 missing values"):
        data = load_classification(path)
    assert data.X.shape == (2, 1, 5) and data.lengths.tolist() == [5, 3] and not data.equal_length
    np.testing.assert_array_equal(data.X[1, 0], [5, 3, 1, 0, 0])  # the '?' interpolated within the length
    z = znormalise(data.X, data.lengths)
    np.testing.assert_allclose(z[1, 0], [1.224745, 0, -1.224745, 0, 0], atol=1e-5)  # over its own 3 steps
    # a pair (given by either file): both padded to the longer file's length
    with pytest.warns(UserWarning):
        pair = load_classification_splits(tmp_path / "Uneq_TEST.ts")
    assert pair["train"].X.shape == (2, 1, 7) and pair["test"].lengths.tolist() == [7]
    assert pair["train"].lengths.tolist() == [5, 3]


def test_tsv_pads_shorter_series_with_trailing_nans(tmp_path: Path) -> None:
    data = load_classification(write(tmp_path / "T_TRAIN.tsv", "1\t1\t2\t3\n2\t4\t5\tNaN\n"))
    assert data.lengths.tolist() == [3, 2]
    np.testing.assert_array_equal(data.X[1, 0], [4, 5, 0])


def test_ts_without_data_section_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "nodata.ts", "@problemName X\n@classLabel true a b\n")
    with pytest.raises(DataError, match=exact(f"{path}: no @data line; expected a sktime .ts file")):
        load_classification(path)


def test_ucr_tsv_and_train_test_splits_share_one_class_order(tmp_path: Path) -> None:
    write(tmp_path / "Toy_TRAIN.tsv", "2\t1.0\t2.0\t3.0\n-1\t0.5\t0.5\t0.5\n10\t3\t2\t1\n")
    write(tmp_path / "Toy_TEST.tsv", "10\t1\t1\t1\n2\t0\t1\t0\n")
    splits = load_classification_splits(tmp_path)
    assert splits["train"].class_names == ["-1", "2", "10"]  # numeric order, not text order
    assert splits["train"].y.tolist() == [1, 0, 2] and splits["test"].y.tolist() == [2, 1]
    assert splits["train"].X.shape == (3, 1, 3)
    np.testing.assert_array_equal(splits["test"].X[1, 0], [0, 1, 0])


def test_load_series_points_classification_files_elsewhere(tmp_path: Path) -> None:
    path = write(tmp_path / "Tiny_TRAIN.ts", TS_UNIVARIATE)
    with pytest.raises(
        DataError,
        match=exact(
            f"{path}: a classification file (.ts), not a series to scan for anomalies; "
            "read it with load_classification (task.mode=classify)"
        ),
    ):
        load_series(path)


# --------------------------------------------------------------------------- dispatch


def test_load_series_folder_of_csvs_and_bad_paths(tmp_path: Path) -> None:
    write(tmp_path / "many" / "b.csv", "v\n1\n2\n")
    write(tmp_path / "many" / "a.csv", "v\n3\n4\n")
    assert [s.name for s in load_series(tmp_path / "many")] == ["a", "b"]
    with pytest.raises(DataError, match=exact(f"{tmp_path / 'nope'}: no such file or folder")):
        load_series(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no time series found; expected \*\.csv files"):
        load_series(tmp_path / "empty")
    with pytest.raises(DataError, match=r"x\.parquet: unsupported time-series file \.parquet"):
        load_series(write(tmp_path / "x.parquet", ""))


# --------------------------------------------------------------------------- synthetic generator


def test_synthetic_series_is_deterministic_by_seed() -> None:
    a, b, c = make_sensor_series(seed=3), make_sensor_series(seed=3), make_sensor_series(seed=4)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.kinds == b.kinds
    assert not np.array_equal(a.values, c.values) and a.kinds != c.kinds


def test_synthetic_series_layout_and_clean_training_part() -> None:
    s = make_sensor_series(length=12000, channels=3, seed=1, train_fraction=0.4)
    assert isinstance(s, SeriesData)
    assert s.values.shape == (12000, 3) and s.values.dtype == np.float32 and s.labels.dtype == np.int64
    assert s.channel_names == ["sensor_0", "sensor_1", "sensor_2"]
    assert s.train_end == 4800
    assert s.labels[: s.train_end].sum() == 0
    assert min(start for start, _, _ in s.kinds) >= s.train_end
    steps = np.diff(s.timestamps)
    assert (steps == np.timedelta64(15, "m")).all()
    labelled = np.zeros_like(s.labels)
    for start, end, _ in s.kinds:
        labelled[start:end] = 1
    np.testing.assert_array_equal(labelled, s.labels)
    assert 0.02 < s.labels.mean() < 0.15
    corr = np.corrcoef(s.values[: s.train_end].T)
    assert np.abs(corr[np.triu_indices(3, 1)]).min() > 0.3  # channels share latent factors


def test_synthetic_series_holds_every_kind_in_both_halves_after_training() -> None:
    s = make_sensor_series(seed=0)
    middle = (s.train_end + s.length) // 2
    first = {kind for start, _, kind in s.kinds if start < middle}
    second = {kind for start, _, kind in s.kinds if start >= middle}
    assert first == second == set(ANOMALY_KINDS)


def test_synthetic_anomalies_look_like_their_kind() -> None:
    s = make_sensor_series(seed=2)
    clean = s.values[: s.train_end]
    std = clean.std(axis=0)
    for start, end, kind in s.kinds:
        seg = s.values[start:end]
        if kind == "flatline":  # a stuck sensor: one channel holds a single value
            assert (np.ptp(seg, axis=0) == 0).any()
        elif kind == "spike":
            before = s.values[start - 1]
            assert (np.abs(seg - before).max(axis=0) > 3 * std).any()
        elif kind == "contextual":  # normal in value: inside the range of the unlabelled steps
            normal = s.values[s.labels == 0]
            assert ((seg >= normal.min(axis=0)) & (seg <= normal.max(axis=0))).all()
    contextual = [(a, b) for a, b, k in s.kinds if k == "contextual"]
    assert all(b - a < STEPS_PER_DAY // 2 for a, b in contextual)


def test_synthetic_generator_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="length=2000 leaves 1000 steps after training for 12 anomalies"):
        make_sensor_series(length=2000)
    with pytest.raises(ConfigError, match=r"anomaly kinds must be a non-empty subset"):
        make_sensor_series(anomaly_kinds=("meteor",))
    only = make_sensor_series(length=6000, anomaly_kinds=("spike", "flatline"), seed=5)
    assert {k for _, _, k in only.kinds} == {"spike", "flatline"}


# --------------------------------------------------------------------------- recipes


def test_ucr_recipe_checks_counts_and_copies(tmp_path: Path, capsys) -> None:
    recipe = load_recipe("ucr_anomaly")
    src = tmp_path / "AnomalyDatasets_2021" / "UCR_Anomaly_FullData"
    for n in range(1, 251):
        write(src / f"{n:03d}_UCR_Anomaly_s{n}_10_12_13.txt", "\n".join(str(i % 4) for i in range(16)))
    written = recipe.prepare(tmp_path, tmp_path / "out")
    assert len(written) == 250 and written[0].name == "001_UCR_Anomaly_s1_10_12_13.txt"
    assert len(load_series(tmp_path / "out")) == 250

    capsys.readouterr()  # drop the progress bar of the run above
    (src / "017_UCR_Anomaly_s17_10_12_13.txt").unlink()
    (src / "018_UCR_Anomaly_s18_10_12_13.txt").unlink()
    assert recipe.main(["--src", str(tmp_path / "AnomalyDatasets_2021"), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    src_root = tmp_path / "AnomalyDatasets_2021"
    assert err == f"error: {src_root}: found 248 series, expected 250 numbered 1-250: missing numbers 17-18"
    assert not (tmp_path / "out2").exists()


def test_ucr_recipe_reads_the_zip_and_rejects_a_bad_file(tmp_path: Path) -> None:
    recipe = load_recipe("ucr_anomaly")
    archive = tmp_path / "UCR_TimeSeriesAnomalyDatasets2021.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(1, 4):
            zf.writestr(f"A/UCR_Anomaly_FullData/{n:03d}_UCR_Anomaly_s_10_12_13.txt", "\n".join("12345678" * 2))
    assert [p.name[:3] for p in recipe.prepare(archive, tmp_path / "out", expected=3)] == ["001", "002", "003"]
    write(tmp_path / "bad" / "001_UCR_Anomaly_s_10_12_99.txt", "\n".join("1234" * 4))
    with pytest.raises(DataError, match=r"001_UCR_Anomaly_s_10_12_99\.txt: the name says training ends at 10"):
        recipe.prepare(tmp_path / "bad", tmp_path / "out3", expected=1)


def test_nab_recipe_checks_groups_labels_and_copies(tmp_path: Path, capsys) -> None:
    recipe = load_recipe("nab")
    make_nab(tmp_path / "NAB", groups=recipe.EXPECTED_GROUPS, rows=6)
    write(tmp_path / "NAB" / "README.md", "not copied")
    written = recipe.prepare(tmp_path / "NAB", tmp_path / "out")
    assert len(written) == 59 and sum(recipe.EXPECTED_GROUPS.values()) == 58
    assert len(load_series(tmp_path / "out")) == 58
    assert not (tmp_path / "out" / "README.md").exists()

    (tmp_path / "NAB" / "data" / "realTweets" / "f3.csv").unlink()
    assert recipe.main(["--src", str(tmp_path / "NAB"), "--out", str(tmp_path / "out2")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'NAB' / 'data'}: 57 files, expected 58 (NAB v1.1): realTweets: 9 files, expected 10"
    )
    restored = "timestamp,value\n2015-01-01 00:00:00,1\n2015-01-01 00:05:00,2\n"
    write(tmp_path / "NAB" / "data" / "realTweets" / "f3.csv", restored)
    windows = json.loads((tmp_path / "NAB" / "labels" / "combined_windows.json").read_text())
    windows["realTweets/extra.csv"] = []
    write(tmp_path / "NAB" / "labels" / "combined_windows.json", json.dumps(windows))
    stray = r"must have one entry per data file; an entry 'realTweets/extra\.csv' without a data file$"
    with pytest.raises(DataError, match=stray):
        recipe.check_nab(tmp_path / "NAB")


def test_nab_files_keep_daylight_saving_repeats_and_a_step_back(tmp_path: Path) -> None:
    times = [f"2014-03-09 0{h}:00:00" for h in (0, 1, 2, 3)] + ["2014-03-09 03:00:00", "2014-03-09 02:30:00"] + [
        f"2014-03-09 {h:02d}:00:00" for h in range(4, 24)]
    rows = "\n".join(f"{t},{i % 5}.0" for i, t in enumerate(times))
    write(tmp_path / "data" / "real" / "dst.csv", "timestamp,value\n" + rows + "\n")
    write(tmp_path / "labels" / "combined_windows.json",
          '{"real/dst.csv": [["2014-03-09 03:00:00.000000", "2014-03-09 05:00:00.000000"]]}')
    (series,) = load_series(tmp_path)
    assert series.length == 26 and series.name == "real/dst"
    # NAB's rows: from the first row equal to the start to the first equal to the end
    assert np.flatnonzero(series.labels).tolist() == [3, 4, 5, 6, 7]
