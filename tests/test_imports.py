"""Start-up a user feels: the zoo and the core import without the audio stack, SciPy or
torch-geometric, which only the tasks that need them load."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_zoo_loads_no_audio_scipy_or_graph_library():
    code = ("import sys, convkit.models, convkit.nn; "
            "print(sorted(m for m in ('torch_geometric', 'scipy', 'librosa', 'sklearn', 'soundfile', "
            "'convkit.nn.audio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_audio_names_still_import_from_the_core():
    from convkit.nn import LogMelSpectrogram, SpecAugment
    from convkit.nn.audio import LogMelSpectrogram as direct

    assert LogMelSpectrogram is direct and SpecAugment.__module__ == "convkit.nn.audio"


def test_the_cli_and_the_audio_task_load_no_scikit_learn_scipy_or_matplotlib():
    # `python -m convkit.tasks.audio info` imports these modules; scikit-learn, SciPy and
    # matplotlib (seconds together) load only when a baseline is fitted or a plot drawn.
    code = ("import sys, convkit.cli, convkit.train, convkit.train.task, convkit.train.engine, "
            "convkit.tasks.audio.task; "
            "print(sorted(m for m in ('sklearn', 'scipy', 'matplotlib', 'librosa') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
