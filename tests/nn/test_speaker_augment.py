"""Speaker-robust augmentation of the audio front end (convkit.nn.audio: SpeedPerturb, VTLP,
SpectralPitchShift, CMVN; convkit.nn.mixup): each moves what it should by the factor
drawn, is the identity in eval mode, and leaves the rest alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convkit.errors import ConfigError, ShapeError
from convkit.nn.audio import CMVN, VTLP, LogMelSpectrogram, SpectralPitchShift, SpeedPerturb
from convkit.nn.mixup import mixup

SR = 16000


def _peak_hz(wave: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(wave.numpy() * np.hanning(wave.shape[-1])))
    return float(np.argmax(spectrum)) * SR / wave.shape[-1]


def _tone_burst(freq: float, n: int = 6, seconds: float = 1.0, burst: float = 0.4) -> torch.Tensor:
    """``[n, T]``: the same centred burst of a sine in silence."""
    t = torch.arange(int(SR * seconds)) / SR
    centre = seconds / 2
    envelope = ((t > centre - burst / 2) & (t < centre + burst / 2)).float()
    return (torch.sin(2 * np.pi * freq * t) * envelope).repeat(n, 1)


def test_speed_perturbation_scales_pitch_and_tempo_about_the_centre():
    torch.manual_seed(0)
    waves = _tone_burst(1000.0)
    out = SpeedPerturb(0.1).train()(waves)
    assert out.shape == waves.shape
    for row in out:
        ratio = _peak_hz(row) / 1000.0
        assert 0.89 <= ratio <= 1.11
        active = torch.nonzero(row.abs() > 1e-3).flatten()
        span = (active[-1] - active[0] + 1).item() / (0.4 * SR)  # the burst's length scales by 1 / speed
        assert span * ratio == pytest.approx(1.0, abs=0.02)
        centre = (active[-1] + active[0]).item() / 2
        assert centre == pytest.approx(SR / 2, abs=SR * 0.002)  # a centred clip stays centred
    assert len({round(_peak_hz(row)) for row in out}) > 1  # each clip draws its own speed
    assert torch.equal(SpeedPerturb(0.1).eval()(waves), waves)
    assert SpeedPerturb(0.1).train()(waves[:, None]).shape == (6, 1, SR)


def test_vtlp_warp_is_piecewise_linear_and_keeps_nyquist():
    vtlp = VTLP(SR, 512, 0.1)
    alpha = torch.tensor([0.9, 1.0, 1.1], dtype=torch.float64)
    bins = vtlp.source_bins(alpha)  # [3, 257]
    assert torch.allclose(bins[1], torch.arange(257, dtype=torch.float64))
    assert torch.allclose(bins[:, -1], torch.full((3,), 256.0, dtype=torch.float64))  # Nyquist stays
    assert (bins.diff(dim=1) > 0).all()  # monotonic: no frequency folds over
    low = slice(0, 100)  # 0-3.1 kHz, below the 4.8 kHz boundary: scaled by alpha
    assert torch.allclose(bins[0, low], 0.9 * torch.arange(100, dtype=torch.float64))
    assert torch.allclose(bins[2, low], 1.1 * torch.arange(100, dtype=torch.float64))


def test_vtlp_and_pitch_shift_move_a_spectral_peak():
    torch.manual_seed(0)
    power = torch.zeros(64, 3, 257)
    power[..., 60] = 1.0  # a peak at bin 60 (1.9 kHz) in every frame
    peaks = VTLP(SR, 512, 0.1).train()(power).argmax(-1).float()  # [64, 3]
    assert (peaks >= 60 / 1.1 - 1).all() and (peaks <= 60 / 0.9 + 1).all()
    assert peaks.std() > 1 and (peaks == peaks[:, :1]).all()  # per clip, the same in every frame
    shifted = SpectralPitchShift(2.0).train()(power).argmax(-1).float()
    ratio = 2 ** (2 / 12)
    assert (shifted >= 60 / ratio - 1).all() and (shifted <= 60 * ratio + 1).all() and shifted.std() > 1
    for warp in (VTLP(SR, 512, 0.1), SpectralPitchShift(2.0)):
        assert torch.equal(warp.eval()(power), power)


def test_logmel_warp_acts_in_training_only():
    torch.manual_seed(0)
    waves = _tone_burst(1500.0, n=4)
    plain = LogMelSpectrogram(SR, 512, hop_length=160, n_mels=40)
    warped = LogMelSpectrogram(SR, 512, hop_length=160, n_mels=40, warp=VTLP(SR, 512, 0.15))
    assert torch.equal(warped.eval()(waves), plain(waves))
    assert not torch.allclose(warped.train()(waves), plain(waves))
    assert warped.state_dict().keys() == plain.state_dict().keys()  # checkpoints hold the same


def test_cmvn_removes_a_fixed_gain_per_band():
    torch.manual_seed(0)
    spec = torch.randn(3, 1, 40, 101) * 5 + 2
    gain = torch.linspace(-20, 20, 40)[None, None, :, None]  # a microphone's response, in dB
    out = CMVN()(spec)
    assert torch.allclose(out, CMVN()(spec + gain), atol=1e-4)
    assert torch.allclose(out.mean(-1), torch.zeros(3, 1, 40), atol=1e-5)
    assert torch.allclose(out.std(-1, correction=0), torch.ones(3, 1, 40), atol=1e-3)
    assert torch.allclose(CMVN(variance=False)(spec).mean(-1), torch.zeros(3, 1, 40), atol=1e-5)
    assert torch.equal(CMVN()(torch.zeros(1, 1, 4, 5)), torch.zeros(1, 1, 4, 5))
    floor = spec.amin() - 30  # digital silence: a short clip padded with it keeps its statistics
    padded = torch.cat([torch.full((3, 1, 40, 50), floor), spec, torch.full((3, 1, 40, 20), floor)], dim=-1)
    assert torch.allclose(CMVN()(padded)[..., 50:151], out, atol=1e-4)
    with pytest.raises(ShapeError, match="CMVN"):
        CMVN()(torch.zeros(4, 5))


def test_mixup_mixes_inputs_and_targets_alike():
    torch.manual_seed(0)
    x = torch.eye(8)[:, :, None].repeat(1, 1, 3)  # example i is the one-hot i: its mix is readable
    labels = torch.arange(8) % 4
    mixed, soft = mixup(x, labels, 4, alpha=0.4)
    assert mixed.shape == x.shape and soft.shape == (8, 4)
    assert torch.allclose(soft.sum(1), torch.ones(8))
    weights = mixed[:, :, 0]  # [8, 8]: how much of each example went into each mix
    assert torch.allclose(weights.sum(1), torch.ones(8), atol=1e-6)
    assert torch.allclose(weights @ torch.eye(4)[labels], soft, atol=1e-6)  # targets mix as inputs do
    assert torch.allclose(mixed[..., 0], mixed[..., 2])
    with pytest.raises(ConfigError, match="alpha"):
        mixup(x, labels, 4, alpha=0.0)
    with pytest.raises(ShapeError, match="targets"):
        mixup(x, torch.zeros(8, 3), 4, alpha=0.4)
