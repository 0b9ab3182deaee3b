"""The video task: action recognition on clips ``[N, 3, T, H, W]`` with 3D CNNs.

Default, offline: ``c3d_small`` on generated motion videos (nine classes that differ in
motion only: four directions, two rotations, growing, shrinking, still;
``synthetic.py``), 16-frame clips of 24×24 drawn from 20-frame videos.
``--data PATH`` reads ``<class>/<clip>`` folders of video files (PyAV), ``.npy`` clips
or frame folders, and UCF101 / HMDB51 with their split lists (``data.py``).

Training draws one random clip (and crop) per video per epoch from (seed, epoch, index);
evaluation takes ``clips_per_video`` uniform clips per video. Metrics name their level:
``clip_accuracy``/``clip_macro_f1`` per clip, ``video_accuracy``/``video_macro_f1`` with
the softmax averaged over a video's clips (``accuracy``/``macro_f1`` repeat the
video-level values so every task's ``metrics.json`` reads alike; early stopping follows
``video_accuracy``). ``shuffled_frames_clip_accuracy`` scores the same clips with their
frames in a fixed random order: the drop is what the temporal order carries.

Baselines: logistic regression on the clip's mean frame (``linear``), the
parameter-matched MLP on the flattened clip (``mlp``), and ``per_frame_cnn``: a 2D CNN
trained on single frames whose predictions are averaged over the clip's frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from convkit.config import (
    AtLeastOne,
    DataConfig,
    ModelConfig,
    NonNegative,
    Range,
    RunConfig,
    TaskConfig,
    TrainConfig,
)
from convkit.data.manifest import check_listing_options, write_split_groups
from convkit.errors import ConfigError
from convkit.models import create_model
from convkit.models.weights import IMAGENET, KINETICS
from convkit.tasks.video.data import (
    KINETICS_MEAN,
    KINETICS_STD,
    DecodedVideos,
    Layout,
    VideoClips,
    load_video_dataset,
    load_video_eval_set,
    load_videos,
)
from convkit.tasks.video.synthetic import MOTIONS, load_motion_dataset
from convkit.train import baselines as B
from convkit.train import metrics as metric_fns
from convkit.train.baselines import BaselineFeatures
from convkit.train.task import ClassificationTask, Data, Trained
from convkit.train.transfer import channel_stats, pretrained_preprocessing


@dataclass
class VideoDataConfig(DataConfig):
    """``path`` empty: generated motion videos (``n_per_class`` per class, ``frames`` long,
    ``size``×``size``). Clips: ``clip_len`` frames ``stride`` apart; ``clips_per_video``
    uniform clips per video in evaluation; ``crop`` (0: the whole frame, or the smallest
    frame side for on-disk data), random in training and centred in evaluation; ``flip``:
    random horizontal flips in training (off for the generated set, where left/right is
    the class). Decoding (on-disk data): ``resize`` the short side (0: keep),
    ``frame_step`` (keep every n-th frame), ``max_frames`` per video (0: all),
    ``cache_dir`` (decoded videos as memory-mapped files there; empty: in memory).
    ``layout``: auto | folder | ucf101 | hmdb51; ``split``: the official split 1-3;
    ``allow_outside_paths``: UCF101/HMDB51 list lines may name clips outside the data
    folder (off: such a line is an error naming the list, line and path), as may
    manifest rows. ``path`` may be a manifest ``.csv`` (``path,label``, optional
    ``split``, ``group``) or a folder whose clip names give the labels by
    ``label_pattern`` (e.g. ``{label}_{video}_{clip}``); ``group_by`` names the field
    whose groups (a video's clips, an actor) stay on one side of every split (empty:
    ``group`` if present; ``none``: off); see ``convkit.data.manifest``.
    ``motions``: the generated classes, comma-separated (empty: all nine of
    ``synthetic.MOTIONS``). ``normalize``: the per-channel mean and std of the [0, 1]
    pixels: ``auto`` those ``model.pretrained``'s weights were trained with (Kinetics-400's
    for torchvision's video ResNets, ImageNet's for an image model inflated to 3D, a convkit
    run's own), else Kinetics-400's; or always ``kinetics``'s or ``imagenet``'s."""

    n_per_class: Annotated[int, Range(ge=3)] = 300
    frames: AtLeastOne = 20
    size: AtLeastOne = 24
    clip_len: AtLeastOne = 16
    stride: AtLeastOne = 1
    clips_per_video: AtLeastOne = 3
    crop: Annotated[int, Range(ge=0, note="0: off")] = 0
    flip: bool = False
    resize: Annotated[int, Range(ge=0, note="0: off")] = 0
    frame_step: AtLeastOne = 1
    max_frames: Annotated[int, Range(ge=0, note="0: off")] = 0
    cache_dir: str = ""
    layout: Layout = "auto"
    split: int = 1
    allow_outside_paths: bool = False
    label_pattern: str = ""
    group_by: str = ""
    motions: str = ""
    normalize: Literal["auto", "kinetics", "imagenet"] = "auto"

    def validate(self) -> None:
        """Raise ConfigError when ``motions`` names an unknown motion, a motion twice or
        fewer than two, or for a bad ``label_pattern`` or a ``group_by`` it lacks (the
        field types state the other constraints)."""
        check_listing_options(self.label_pattern, self.group_by)
        motions = self.motion_list()
        if any(m not in MOTIONS for m in motions) or len(set(motions)) < 2 or len(set(motions)) != len(motions):
            raise ConfigError(f"data.motions must be empty or at least two distinct of {','.join(MOTIONS)}; "
                              f"got {self.motions!r}")

    def motion_list(self) -> list[str]:
        """``motions`` as a list (all nine when empty)."""
        return [m.strip() for m in self.motions.split(",") if m.strip()] or list(MOTIONS)

    def prepare(self) -> dict:
        """The decoding options of ``data.prepare_video``."""
        return dict(resize=self.resize or None, frame_step=self.frame_step, max_frames=self.max_frames or None,
                    cache_dir=self.cache_dir or None)


@dataclass
class VideoTaskConfig(TaskConfig):
    """Baselines: at most ``baseline_max_train`` training videos; the per-frame 2D CNN
    (``frame_model``, 2D zoo model) trains ``frame_epochs`` epochs on ``frames_per_clip``
    frames of each training clip."""

    baseline_max_train: AtLeastOne = 2000
    frame_model: str = "resnet18"
    frame_epochs: NonNegative = 2
    frames_per_clip: AtLeastOne = 2


def _default_train() -> TrainConfig:
    # 16 epochs of 135 steps, AdamW with a one-cycle schedule (the default recipe holds
    # what it measured)
    return TrainConfig(epochs=16, batch_size=16, lr=3e-3, optimizer="adamw", weight_decay=0.01,
                       schedule="onecycle")


@dataclass
class VideoRunConfig(RunConfig):
    """The video task's run config (``train``, ``model``, ``data``, ``task``)."""

    train: TrainConfig = field(default_factory=_default_train)
    model: ModelConfig = field(default_factory=lambda: ModelConfig(name="c3d_small"))
    data: VideoDataConfig = field(default_factory=VideoDataConfig)
    task: VideoTaskConfig = field(default_factory=VideoTaskConfig)


FRAME_MODEL_OPTIONS = {"resnet18": dict(widths=(16, 32, 64, 128))}
"""Slim widths of the per-frame baseline's 2D model (24×24 frames need no more)."""


def shuffle_frames(clips: Tensor) -> Tensor:
    """``[N, C, T, H, W]`` with the T axis in a fixed random order (the same for every
    call; it does not touch the global RNG)."""
    t = clips.shape[2]
    order = torch.randperm(t, generator=torch.Generator().manual_seed(12345)).to(clips.device)
    return clips.index_select(2, order)


@dataclass
class VideoInfo:
    """The video task's ``Data.info``: how clips are cut from the videos (stored in
    checkpoints, so evaluation and ``predict`` sample as training did). ``source``: where
    the videos came from; ``clip_len`` frames ``stride`` apart, a ``crop``×``crop`` window,
    ``clips_per_video`` uniform clips per video in evaluation, random horizontal ``flip``
    in training, ``seed`` of the per-epoch random clips; for a manifest or pattern split
    by ``group_by``, ``split_groups``: the groups each split holds; ``mean``/``std``: the
    per-channel normalisation of the [0, 1] pixels (``data.normalize``)."""

    source: str = ""
    clip_len: int = 16
    stride: int = 1
    crop: int = 24
    clips_per_video: int = 3
    flip: bool = False
    seed: int = 0
    group_by: str = ""
    split_groups: dict[str, list[str]] = field(default_factory=dict)
    mean: list[float] = field(default_factory=lambda: list(KINETICS_MEAN))
    std: list[float] = field(default_factory=lambda: list(KINETICS_STD))


class VideoTask(ClassificationTask):
    """Action recognition on clips ``[N, 3, T, H, W]`` with labels ``[N]``."""

    name = "video"
    config_class = VideoRunConfig
    info_class = VideoInfo
    default_model = "c3d_small"
    monitor = "video_accuracy"
    monitor_mode = "max"
    profiles = {"default": [], "smoke": ["train.epochs=1", "data.n_per_class=12", "task.frame_epochs=1",
                                         "task.baseline_max_train=200"]}
    data_formats = ("<class>/<clip> folders of video files (.mp4/.avi/.mkv/.mov/.webm, decoded with PyAV: "
                    "pip install convkit[video]), .npy clips [T,H,W,C] uint8, or folders of frames (.png/.jpg); "
                    "UCF101 (ucfTrainTestlist/, data.split=1-3) and HMDB51 (*_test_splitN.txt); a manifest .csv "
                    "(path,label[,split][,group]) or a folder with data.label_pattern, data.group_by keeping a "
                    "group on one side of every split. train/ val/ "
                    "test/ subfolders are the splits; otherwise a seeded stratified 80/10/10 split. Bad videos "
                    "are skipped with a warning (data.strict=true: error); short videos are looped.")

    # ---- data

    def build_data(self, cfg: VideoRunConfig) -> Data:
        """The run's clips (``VideoClips``): generated motion videos (no ``data.path``) or an
        on-disk dataset, in train/val/test splits."""
        dc = cfg.data
        if dc.path:
            splits = load_video_dataset(dc.path, dc.layout, dc.split, dc.strict, cfg.train.seed,
                                        dc.allow_outside_paths, dc.label_pattern, dc.group_by, **dc.prepare())
        else:
            splits = load_motion_dataset(dc.n_per_class, dc.frames, dc.size, cfg.train.seed, dc.motion_list())
        crop = dc.crop or min(min(v.shape[1:3]) for part in (splits.train, splits.val, splits.test)
                              for v in part.videos)
        if not dc.path and not dc.crop:
            crop = dc.size
        info = VideoInfo(source=splits.extras.get("source", dc.path), clip_len=dc.clip_len, stride=dc.stride,
                         crop=int(crop), clips_per_video=dc.clips_per_video, flip=dc.flip, seed=cfg.train.seed,
                         group_by=splits.extras.get("group_by", ""), split_groups=splits.extras.get("split_groups", {}),
                         **_normalisation(cfg))
        return self._data(self._clips(splits.train, info, train=True), self._clips(splits.val, info, train=False),
                          self._clips(splits.test, info, train=False), list(splits.label_names), info)

    def build_eval_data(self, cfg: VideoRunConfig, path: str, spec: Data) -> Data:
        """The test list (or all) of ``path`` as ``test``, labelled by the model's classes and
        sampled as the trained model was (``spec.info``: clip length, stride, crop, clips
        per video)."""
        dc = cfg.data
        videos = load_video_eval_set(path, spec.label_names, dc.layout, dc.split, dc.strict,
                                     dc.allow_outside_paths, dc.label_pattern, **dc.prepare())
        return self._data(None, None, self._clips(videos, spec.info, train=False), spec.label_names, spec.info)

    def input_spec(self, cfg: VideoRunConfig) -> Data:
        """``build_data(cfg)``'s declarations without generating a clip: the generated
        motions' classes and clips ``[3, data.clip_len, crop, crop]`` (``data.crop``, else
        ``data.size``); an on-disk dataset's need its folders (``build_data``)."""
        dc = cfg.data
        if dc.path:
            return super().input_spec(cfg)
        info = VideoInfo(source="generated motion clips", clip_len=dc.clip_len, stride=dc.stride,
                         crop=int(dc.crop or dc.size), clips_per_video=dc.clips_per_video, flip=dc.flip,
                         seed=cfg.train.seed, **_normalisation(cfg))
        return self._data(None, None, None, dc.motion_list(), info)

    @staticmethod
    def _clips(videos: DecodedVideos, info: VideoInfo, train: bool) -> VideoClips:
        return VideoClips(videos, info.clip_len, info.stride, info.crop, train=train,
                          clips_per_video=info.clips_per_video, flip=info.flip and train, seed=info.seed,
                          mean=info.mean, std=info.std)

    @staticmethod
    def _data(train, val, test, label_names: list[str], info: VideoInfo) -> Data:
        return Data(train, val, test, label_names=label_names, input_kind="grid", spatial_dims=3, in_channels=3,
                    input_shape=(3, info.clip_len, info.crop, info.crop), info=info)

    # ---- steps and metrics

    def evaluation_step(self, model: nn.Module, batch: Any) -> dict[str, Tensor]:
        """``{"logits", "targets", "shuffled_logits"}``: the clips as given and with their
        frames shuffled (``shuffle_frames``)."""
        clips, targets = batch
        return {"logits": self.logits(model, clips), "targets": targets,
                "shuffled_logits": self.logits(model, shuffle_frames(clips))}

    def compute_metrics(self, collected: dict[str, Tensor], dataset: Dataset | None) -> dict[str, Any]:
        """Clip-level and video-level (softmax averaged over each video's clips) accuracy
        and macro-F1, the loss, the shuffled-frames probe and the video-level confusion matrix."""
        logits, targets = collected["logits"].float(), collected["targets"].long()
        clip = metric_fns.classification_metrics(logits, targets)
        index = torch.as_tensor(getattr(dataset, "video_index", np.arange(len(targets))), dtype=torch.long)
        n = int(index.max()) + 1 if len(index) else 0
        probs = torch.zeros(n, logits.shape[1]).index_add_(0, index, logits.softmax(1))
        video_targets = torch.zeros(n, dtype=torch.long).index_copy_(0, index, targets)
        video_pred = probs.argmax(1)
        shuffled = collected["shuffled_logits"].float().argmax(1)
        out = {"loss": clip["loss"],
               "clip_accuracy": clip["accuracy"], "clip_macro_f1": clip["macro_f1"],
               "video_accuracy": metric_fns.accuracy(video_pred, video_targets),
               "video_macro_f1": metric_fns.macro_f1(video_pred, video_targets),
               "shuffled_frames_clip_accuracy": metric_fns.accuracy(shuffled, targets)}
        out["accuracy"], out["macro_f1"] = out["video_accuracy"], out["video_macro_f1"]
        out["confusion_matrix"] = metric_fns.confusion_matrix(video_pred, video_targets, logits.shape[1]).tolist()
        return out

    # ---- baselines

    def baseline_features(self, cfg: VideoRunConfig, data: Data) -> BaselineFeatures:
        """The centre clip's mean frame ``[3 H W]`` for logistic regression (appearance
        only), the flattened clip ``[3 T H W]`` for the parameter-matched MLP."""
        return _features(_centre_clips(data, cfg.task.baseline_max_train, cfg.train.seed), len(data.label_names))

    def extra_baselines(self, cfg: VideoRunConfig, data: Data, params: int) -> dict:
        """``per_frame_cnn``: a 2D CNN on single frames, predictions averaged over the clip."""
        return _per_frame_cnn(cfg, data, _centre_clips(data, cfg.task.baseline_max_train, cfg.train.seed))

    def baselines(self, cfg: VideoRunConfig, data: Data, params: int) -> dict:
        """``linear``, ``mlp`` and ``per_frame_cnn`` on one extraction of the centre clips."""
        clips = _centre_clips(data, cfg.task.baseline_max_train, cfg.train.seed)
        return {**B.shared_baselines(_features(clips, len(data.label_names)), params, cfg.train.seed),
                **_per_frame_cnn(cfg, data, clips)}

    # ---- prediction

    def load_inputs(self, cfg: VideoRunConfig, spec: Data, inputs: list[str]) -> VideoClips:
        """Video files (or ``.npy`` clips / frame folders) -> ``clips_per_video`` uniform
        clips each, as the model was evaluated; a bad input is an error naming it."""
        videos, _ = load_videos(inputs, strict=True, **cfg.data.prepare())
        decoded = DecodedVideos(videos, np.zeros(len(videos), dtype=np.int64), list(inputs))
        return self._clips(decoded, spec.info, train=False)

    def predict(self, trained: Trained, inputs: VideoClips) -> list[dict]:
        """Per video: the top classes (up to 5) with probabilities averaged over its clips."""
        names = trained.spec.label_names
        loader = DataLoader(inputs, batch_size=trained.cfg.train.batch_size)
        probs = torch.cat([torch.softmax(self.logits(trained.model, clips.to(trained.device)).float(), 1).cpu()
                           for clips, _ in loader])
        index = torch.as_tensor(inputs.video_index, dtype=torch.long)
        per_video = torch.zeros(len(inputs.videos), probs.shape[1]).index_add_(0, index, probs)
        per_video /= torch.bincount(index, minlength=len(per_video)).clamp(min=1)[:, None].float()
        rows = []
        for source, p in zip(inputs.videos.sources, per_video):
            top = torch.argsort(p, descending=True)[:5]
            rows.append({"input": source, "label": names[int(top[0])],
                         "top": [{"label": names[int(k)], "probability": round(float(p[k]), 6)} for k in top]})
        return rows

    def plots(self, run_dir: Path, collected: dict[str, Tensor], data: Data) -> None:
        """The shared plots, and ``split_groups.json`` for a run split by group."""
        super().plots(run_dir, collected, data)
        write_split_groups(run_dir, data.info.group_by, data.info.split_groups)


def _normalisation(cfg: VideoRunConfig) -> dict[str, list[float]]:
    """``{"mean", "std"}`` per channel as ``data.normalize`` asks (``auto``: the weights' of
    ``model.pretrained`` when they say, else Kinetics-400's)."""
    stats = {"kinetics": KINETICS, "imagenet": IMAGENET}.get(cfg.data.normalize)
    found = channel_stats(stats or pretrained_preprocessing(cfg), 3) or channel_stats(KINETICS, 3)
    return {"mean": found[0], "std": found[1]}


def _centre_clips(data: Data, limit: int, seed: int) -> tuple[Tensor, np.ndarray, Tensor, np.ndarray]:
    """The centre clip of every (at most ``limit``) training video and of every test video:
    ``(train [N, 3, T, H, W], labels [N], test [M, 3, T, H, W], labels [M])``."""

    def centre(clips: VideoClips, keep: np.ndarray) -> tuple[Tensor, np.ndarray]:
        view = VideoClips(clips.videos.subset(keep), clips.clip_len, clips.stride, clips.crop, train=False,
                          mean=data.info.mean, std=data.info.std)
        items = [view[i] for i in range(len(view))]
        return torch.stack([c for c, _ in items]), np.array([l for _, l in items], dtype=np.int64)

    n = len(data.train.videos)
    keep = np.arange(n) if n <= limit else np.sort(np.random.default_rng(seed).permutation(n)[:limit])
    train, y = centre(data.train, keep)
    test, yt = centre(data.test, np.arange(len(data.test.videos)))
    return train, y, test, yt



def _features(clips: tuple[Tensor, np.ndarray, Tensor, np.ndarray], num_classes: int) -> BaselineFeatures:
    train, y, test, yt = clips
    return BaselineFeatures(linear=(train.mean(2).flatten(1), test.mean(2).flatten(1)), y_train=y, y_test=yt,
                            num_classes=num_classes, mlp=(train.flatten(1), test.flatten(1)))


def _per_frame_cnn(cfg: VideoRunConfig, data: Data, clips: tuple[Tensor, np.ndarray, Tensor, np.ndarray]) -> dict:
    """Train ``task.frame_model`` (2D) on ``frames_per_clip`` random frames of every
    training clip for ``frame_epochs`` epochs; a test clip's prediction is the softmax
    averaged over all its frames. Runs in a forked RNG (the run's RNG is untouched)."""
    t = cfg.task
    if t.frame_epochs == 0:
        return {}
    train, y, test, yt = clips
    with torch.random.fork_rng():
        torch.manual_seed(cfg.train.seed)
        model = create_model(t.frame_model, spatial_dims=2, in_channels=3, num_classes=len(data.label_names),
                             **FRAME_MODEL_OPTIONS.get(t.frame_model, {}))
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
        n, frames = len(train), train.shape[2]
        labels = torch.as_tensor(y).repeat_interleave(t.frames_per_clip)
        model.train()
        for _ in range(t.frame_epochs):
            pick = torch.randint(frames, (n, t.frames_per_clip))
            images = train[torch.arange(n)[:, None], :, pick].flatten(0, 1)       # [n * k, 3, H, W]
            for idx in torch.randperm(len(images)).split(64):
                loss = F.cross_entropy(model(images[idx]), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            probs = torch.stack([model(test[:, :, f]).softmax(1) for f in range(frames)]).mean(0)
    return {"per_frame_cnn": {"test": B.scores(probs.argmax(1), torch.as_tensor(yt)),
                              "params": sum(p.numel() for p in model.parameters())}}

TASK = VideoTask()
"""The video task instance handed to the CLI and the engine."""
