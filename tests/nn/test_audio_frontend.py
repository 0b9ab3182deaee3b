"""The audio front end against librosa (and torchaudio where it imports), and the augmentations."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convkit.errors import ConfigError, ShapeError
from convkit.nn.audio import (
    MFCC,
    BackgroundNoise,
    LogMelSpectrogram,
    RandomGain,
    RandomTimeShift,
    SpecAugment,
    pad_or_crop,
    resample,
    to_mono,
)


def _signals(n: int, num_samples: int, seed: int = 0) -> np.ndarray:
    """Test waveforms [n, T]: a chirp, noise with a ramp, and a quiet tone (wide dB range)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / 16000
    rows = [np.sin(2 * np.pi * (200 + 3000 * t) * t),
            rng.standard_normal(num_samples) * np.linspace(0, 1, num_samples),
            1e-3 * np.sin(2 * np.pi * 440 * t)]
    return np.stack([rows[i % 3] * (1 + i) for i in range(n)]).astype(np.float32)


def _librosa_db(y: np.ndarray, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
                win_length=None, f_min=0.0, f_max=None, power=2.0, center=True,
                pad_mode="constant", top_db=80.0, ref=1.0) -> np.ndarray:
    out = []
    for row in y:
        mel = librosa.feature.melspectrogram(
            y=row, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
            n_mels=n_mels, fmin=f_min, fmax=f_max, power=power, center=center, pad_mode=pad_mode)
        out.append(librosa.power_to_db(mel, ref=np.max if ref == "max" else ref, top_db=top_db))
    return np.stack(out)


SETTINGS = [
    dict(sample_rate=16000, n_fft=512, hop_length=160, n_mels=64),
    dict(sample_rate=16000, n_fft=400, win_length=300, hop_length=100, n_mels=40, f_min=20.0,
         f_max=7600.0, top_db=None),
    dict(sample_rate=22050, n_fft=2048, hop_length=512, n_mels=128, center=False, power=1.0,
         ref="max"),
    dict(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32, pad_mode="reflect", top_db=40.0),
]


@pytest.mark.parametrize("options", SETTINGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_mel_matches_librosa(options: dict, dtype) -> None:
    y = _signals(3, 12000).astype(dtype)
    front = LogMelSpectrogram(**options)
    ours = front(torch.from_numpy(y)).numpy()
    ref = _librosa_db(y, **options)
    assert ours.shape == (3, 1) + ref.shape[1:]
    assert ours.shape[-1] == front.num_frames(12000)
    error = np.abs(ours[:, 0] - ref)
    if dtype == np.float32:  # float32 FFTs differ at their round-off floor, >100 dB (power) below the peak
        floor = 100.0 * options.get("power", 2.0) / 2.0
        error = np.where(ref >= ref.max(axis=(1, 2), keepdims=True) - floor, error, 0.0)
    # within 1e-3 relative on the dB scale (|dB| >= 1), every cell
    np.testing.assert_array_less(error, 1e-3 * np.maximum(np.abs(ref), 1.0))


def test_log_mel_accepts_channel_axis_and_follows_device_dtype() -> None:
    front = LogMelSpectrogram(sample_rate=16000, n_fft=512, hop_length=160, n_mels=40)
    y = torch.from_numpy(_signals(2, 16000))
    flat, channel = front(y), front(y[:, None])
    assert flat.shape == (2, 1, 40, 101) and torch.equal(flat, channel)
    assert flat.dtype == torch.float32
    assert front(y.double()).dtype == torch.float64
    assert front.state_dict() == {}  # buffers follow .to() but stay out of checkpoints
    assert {name for name, _ in front.named_buffers()} == {"window", "mel_basis"}


def test_log_mel_stays_float32_under_autocast_and_half_input() -> None:
    """Power spectra of a full-scale signal overflow float16; the front end must not."""
    front = LogMelSpectrogram(sample_rate=16000, n_fft=1024, hop_length=256, n_mels=40)
    y = torch.from_numpy(_signals(2, 16000)) * 4  # loud: peak power > 65504
    reference = front(y)
    assert front.power_spectrogram(y).max() > 65504  # float16's largest value
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        under_autocast = front(y)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, reference)
    half = front(y.half())
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half, front(y.half().float()))


def test_log_mel_examples_are_independent_in_a_batch() -> None:
    """ref='max' and top_db act per example: a loud neighbour does not change a clip's dB."""
    front = LogMelSpectrogram(sample_rate=16000, n_fft=512, hop_length=160, n_mels=40, ref="max",
                              top_db=60.0)
    y = torch.from_numpy(_signals(3, 8000))
    together = front(y)
    alone = torch.cat([front(y[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone)


def test_log_mel_without_log_is_the_mel_power() -> None:
    y = _signals(2, 8000)
    mel = LogMelSpectrogram(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32, log=False)
    ref = np.stack([librosa.feature.melspectrogram(y=r, sr=16000, n_fft=512, hop_length=128, n_mels=32)
                    for r in y])
    np.testing.assert_allclose(mel(torch.from_numpy(y))[:, 0].numpy(), ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n_mfcc, lifter, n_mels", [(20, 0.0, 64), (13, 22.0, 40)])
def test_mfcc_matches_librosa(n_mfcc: int, lifter: float, n_mels: int) -> None:
    y = _signals(3, 16000)
    mfcc = MFCC(n_mfcc=n_mfcc, lifter=lifter, sample_rate=16000, n_fft=512, hop_length=160,
                n_mels=n_mels)
    ours = mfcc(torch.from_numpy(y)).numpy()
    ref = np.stack([librosa.feature.mfcc(y=r, sr=16000, n_mfcc=n_mfcc, lifter=lifter, n_fft=512,
                                         hop_length=160, n_mels=n_mels) for r in y])
    assert ours.shape == ref.shape == (3, n_mfcc, 101)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3 * np.abs(ref).max())
    stats = mfcc.stats(torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(stats, np.concatenate([ref.mean(-1), ref.std(-1)], axis=1),
                               rtol=1e-4, atol=1e-3 * np.abs(ref).max())


def test_front_end_matches_torchaudio() -> None:
    torchaudio = pytest.importorskip("torchaudio")  # a CUDA build fails to import on CPU torch
    y = torch.from_numpy(_signals(3, 16000))
    ours = LogMelSpectrogram(sample_rate=16000, n_fft=512, hop_length=160, n_mels=64, top_db=80.0)
    theirs = torch.nn.Sequential(
        torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=512, hop_length=160, n_mels=64,
                                             center=True, pad_mode="constant", power=2.0,
                                             norm="slaney", mel_scale="slaney"),
        torchaudio.transforms.AmplitudeToDB(stype="power", top_db=80.0))
    expected = torch.cat([theirs(row[None])[None] for row in y])  # its top_db is per tensor
    torch.testing.assert_close(ours(y), expected, rtol=1e-3, atol=1e-3)


def test_front_end_rejects_bad_settings_and_shapes() -> None:
    with pytest.raises(ConfigError, match="pad_mode"):
        LogMelSpectrogram(pad_mode="edge")
    with pytest.raises(ConfigError, match="f_max"):
        LogMelSpectrogram(sample_rate=16000, f_max=9000.0)
    with pytest.raises(ConfigError, match="win_length"):
        LogMelSpectrogram(n_fft=256, win_length=512)
    with pytest.raises(ConfigError, match="n_mfcc"):
        MFCC(n_mfcc=80, n_mels=40)
    front = LogMelSpectrogram()
    with pytest.raises(ShapeError, match=r"LogMelSpectrogram expects a waveform batch \[N, T\]"):
        front(torch.zeros(2, 2, 16000))
    with pytest.raises(ShapeError, match="n_fft=512"):
        LogMelSpectrogram(center=False)(torch.zeros(1, 100))


def test_log_mel_exports_to_onnx(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    front = LogMelSpectrogram(sample_rate=16000, n_fft=512, hop_length=160, n_mels=40).eval()
    y = torch.from_numpy(_signals(2, 16000))
    file = tmp_path / "front.onnx"
    with warnings.catch_warnings():  # the exporter's own deprecation chatter
        warnings.simplefilter("ignore")
        torch.onnx.export(front, (y,), str(file), input_names=["wave"], output_names=["db"],
                          dynamic_axes={"wave": {0: "n"}}, dynamo=False, opset_version=17)
    session = ort.InferenceSession(str(file))
    y3 = torch.from_numpy(_signals(3, 16000, seed=1))
    out = session.run(None, {"wave": y3.numpy()})[0]
    np.testing.assert_allclose(out, front(y3).numpy(), rtol=1e-4, atol=1e-3)


# --------------------------------------------------------------------------- SpecAugment


def test_spec_augment_masks_whole_bands_and_spans_only_in_training() -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 1, 40, 100) + 5.0
    aug = SpecAugment(freq_mask_param=6, time_mask_param=15, freq_masks=1, time_masks=1, mask_value=-99.0)
    assert aug.eval()(x) is x
    out = aug.train()(x)
    masked = out == -99.0
    assert masked.any()
    for i in range(16):
        cells = masked[i, 0]
        rows, cols = cells.all(1), cells.all(0)  # a masked band covers all frames, a span all bins
        assert torch.equal(cells, rows[:, None] | cols[None, :])
        assert rows.sum() <= 6 and cols.sum() <= 15
        for line in (rows, cols):  # each mask is one contiguous interval
            idx = torch.nonzero(line).flatten()
            assert len(idx) == 0 or idx[-1] - idx[0] + 1 == len(idx)
        torch.testing.assert_close(out[i][~masked[i]], x[i][~masked[i]])
    # different examples get different masks
    assert len({tuple(torch.nonzero(masked[i, 0].all(1)).flatten().tolist()) for i in range(16)}) > 3


def test_spec_augment_is_seeded_by_torch_and_fills_with_the_mean() -> None:
    x = torch.randn(4, 1, 32, 50)
    aug = SpecAugment(freq_mask_param=10, time_mask_param=20).train()
    torch.manual_seed(3)
    a = aug(x)
    torch.manual_seed(3)
    b = aug(x)
    assert torch.equal(a, b)
    changed = a != x
    means = x.mean(dim=(1, 2, 3))
    for i in range(4):
        if changed[i].any():
            torch.testing.assert_close(a[i][changed[i]], means[i].expand(int(changed[i].sum())))
    with pytest.raises(ShapeError, match=r"\[N, C, F, T\]"):
        aug(torch.zeros(4, 32, 50))


# --------------------------------------------------------------------------- waveform augmentation


def test_random_gain_scales_each_clip_within_its_range() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 1000)
    gain = RandomGain(-6.0, 6.0).train()
    out = gain(x)
    ratio_db = 20 * torch.log10(out.norm(dim=1) / x.norm(dim=1))
    assert ratio_db.min() >= -6.0 - 1e-4 and ratio_db.max() <= 6.0 + 1e-4
    assert ratio_db.std() > 2.0  # really random per clip
    torch.testing.assert_close(out / x, (out / x)[:, :1].expand_as(x))  # one gain per clip
    assert gain.eval()(x) is x
    assert RandomGain().train()(x[:, None]).shape == (64, 1, 1000)


def test_random_time_shift_rolls_or_pads_by_whole_samples() -> None:
    torch.manual_seed(1)
    x = torch.arange(1, 101, dtype=torch.float32).repeat(32, 1)
    rolled = RandomTimeShift(max_shift=20, mode="roll").train()(x)
    zeroed = RandomTimeShift(max_shift=0.2, mode="zero").train()(x)
    for i in range(32):
        shift = int((rolled[i, 0] - 1).item())  # roll by s puts x[-s] first
        shift = shift - 100 if shift > 50 else shift
        shift = -shift
        assert -20 <= shift <= 20
        assert torch.equal(rolled[i], torch.roll(x[i], shift))
        nonzero = zeroed[i][zeroed[i] != 0]
        assert len(nonzero) >= 80 and torch.all(nonzero[1:] - nonzero[:-1] == 1)
    assert len({tuple(r[:3].tolist()) for r in rolled}) > 5


def test_background_noise_hits_the_requested_snr() -> None:
    torch.manual_seed(0)
    t = torch.arange(4000) / 16000
    clean = torch.sin(2 * np.pi * 440 * t).repeat(50, 1) * torch.linspace(0.1, 2.0, 50)[:, None]
    bank = torch.randn(3, 10000)
    mix = BackgroundNoise(bank, snr_db=(5.0, 15.0), p=1.0).train()
    noisy = mix(clean)
    added = noisy - clean
    snr = 20 * torch.log10(clean.pow(2).mean(1).sqrt() / added.pow(2).mean(1).sqrt())
    assert snr.min() >= 5.0 - 1e-3 and snr.max() <= 15.0 + 1e-3 and snr.std() > 1.0
    # the added noise is a slice of one bank row (up to its scale)
    row = added[0] / added[0].norm()
    windows = bank.unfold(1, 4000, 1)  # [3, 6001, 4000]
    cosine = (windows / windows.norm(dim=-1, keepdim=True)) @ row
    assert cosine.max() > 0.9999
    assert mix.eval()(clean) is clean
    none = BackgroundNoise(bank, p=0.0).train()(clean)
    assert torch.equal(none, clean)
    short = BackgroundNoise(torch.randn(2, 100), p=1.0).train()(clean)  # short rows are tiled
    assert short.shape == clean.shape and not torch.equal(short, clean)
    with pytest.raises(ShapeError, match=r"noise bank \[M, L\]"):
        BackgroundNoise(torch.randn(100))


# --------------------------------------------------------------------------- resample, mono, pad/crop


@pytest.mark.parametrize("orig_sr", [8000, 22050, 44100, 48000])
def test_resample_keeps_a_tone_and_its_length(orig_sr: int) -> None:
    t = np.arange(orig_sr) / orig_sr  # 1 s
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = resample(tone, orig_sr, 16000)
    assert out.shape == (16000,) and out.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins
    expected = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    np.testing.assert_allclose(out[1000:-1000], expected[1000:-1000], atol=2e-3)
    as_tensor = resample(torch.from_numpy(np.stack([tone, tone])), orig_sr, 16000)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == (2, 16000)
    np.testing.assert_allclose(as_tensor[1].numpy(), out, atol=1e-6)
    assert resample(tone, orig_sr, orig_sr) is tone


def test_to_mono_averages_channels() -> None:
    stereo = np.stack([np.ones(10), 3 * np.ones(10)])
    np.testing.assert_array_equal(to_mono(stereo), 2 * np.ones(10))
    assert torch.equal(to_mono(torch.from_numpy(stereo)), torch.full((10,), 2.0, dtype=torch.float64))
    mono = stereo[0]
    assert to_mono(mono) is mono


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 300), target=st.integers(1, 300), seed=st.integers(0, 100))
def test_pad_or_crop_keeps_a_contiguous_run_of_the_clip(length: int, target: int, seed: int) -> None:
    wave = np.arange(1, length + 1, dtype=np.float32)
    for random in (False, True):
        out = pad_or_crop(wave, target, random=random, rng=np.random.default_rng(seed))
        assert out.shape == (target,)
        kept = out[out != 0]
        assert len(kept) == min(length, target)
        np.testing.assert_array_equal(np.diff(kept), np.ones(len(kept) - 1))  # contiguous, in order
        if not random:  # centred: equal margins (within one sample)
            if length >= target:
                assert kept[0] - 1 in ((length - target) // 2,)
            else:
                lead = int(np.argmax(out != 0))
                assert lead == (target - length) // 2
    torch_out = pad_or_crop(torch.from_numpy(wave), target)
    np.testing.assert_array_equal(torch_out.numpy(), pad_or_crop(wave, target))
