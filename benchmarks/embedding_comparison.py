"""Speaker-embedding comparison: CAM++ (the product's) against resemblyzer, same pyannote pipeline.

Benchmark only: resemblyzer is not a dependency of the package. Install it into the venv first:

    .venv/bin/pip install --no-deps resemblyzer==0.1.4
    .venv/bin/pip install -c constraints.txt --no-deps webrtcvad-wheels   # resemblyzer imports webrtcvad
    .venv/bin/python benchmarks/embedding_comparison.py                   # JSON on stdout

For each embedding the pipeline is ``diarize.build_default()`` with only the embedding model
swapped. Every file (the sample and the 12 debug clips) is diarized once, timed, at pyannote's
threshold 0.7046; segmentations and embeddings stay cached, so the clustering threshold is then
swept on trn00-trn09 only and the best value (collar 0) is scored on the sample, dev00 + dev01
and all 12 clips beside 0.7046. The 12 clips are also joined into one 6-minute recording: AMI
speaker ids are global (trn07 and trn08 share four people, dev00 and dev01 two), so its DER also
measures how well the embeddings link a speaker across clips.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diarization import DEBUG, SAMPLE, debug_uris, joined, load_item, score  # noqa: E402 (imports evidence_audio first)
from pyannote.audio.core.model import Model  # noqa: E402
from resemblyzer import VoiceEncoder, audio, hparams  # noqa: E402

from evidence_audio.speakers import diarize  # noqa: E402

WINDOW = hparams.sampling_rate * hparams.mel_window_length // 1000  # one 25 ms mel frame, 400 samples
PARTIALS_PER_S, MIN_COVERAGE = 1.3, 0.75  # VoiceEncoder.embed_utterance's defaults
THRESHOLDS = [round(t, 2) for t in np.arange(0.10, 1.41, 0.05)]


class ResemblyzerEmbedding(Model):
    """resemblyzer's VoiceEncoder (GE2E 3-layer LSTM, 256-d) as a pyannote.audio embedding ``Model``.

    Each (waveform, mask) is embedded the way resemblyzer embeds an utterance: the waveform
    volume-normalised as by ``preprocess_wav``, only the samples under the mask kept (as its VAD
    trimming keeps voiced samples), 1.6 s partials every 1/1.3 s, their embeddings averaged and
    L2-normalised (``embed_utterance``), all partials of a batch in one LSTM pass.
    """

    def __init__(self):
        super().__init__(sample_rate=hparams.sampling_rate, num_channels=1)
        self.encoder = VoiceEncoder(device="cpu", verbose=False)

    @property
    def dimension(self) -> int:
        return hparams.model_embedding_size

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """waveforms (batch, 1, samples), weights (batch, frames) -> (batch, 256); NaN where nothing is masked in."""
        batch, _, num_samples = waveforms.shape
        if num_samples < WINDOW:
            raise ValueError("shorter than one mel window")  # pyannote probes min_num_samples with this
        if weights is None:
            weights = torch.ones(batch, 1)
        keep = F.interpolate(weights[:, None].float(), size=num_samples, mode="nearest")[:, 0] > 0.5
        mels, owners = [], []
        for row, (waveform, mask) in enumerate(zip(waveforms[:, 0].cpu().numpy(), keep.cpu().numpy())):
            if not np.any(waveform[mask]):
                continue
            wav = audio.normalize_volume(waveform, hparams.audio_norm_target_dBFS, increase_only=True)[mask]
            wav_slices, mel_slices = VoiceEncoder.compute_partial_slices(len(wav), PARTIALS_PER_S, MIN_COVERAGE)
            mel = audio.wav_to_mel_spectrogram(np.pad(wav, (0, max(0, wav_slices[-1].stop - len(wav)))))
            mels += [mel[s] for s in mel_slices]
            owners += [row] * len(mel_slices)
        embeddings = torch.full((batch, self.dimension), float("nan"))
        if mels:
            partials = self.encoder(torch.from_numpy(np.stack(mels)))
            owner = torch.tensor(owners)
            sums = torch.zeros(batch, self.dimension).index_add_(0, owner, partials)
            rows = owner.unique()
            embeddings[rows] = F.normalize(sums[rows], dim=1)
        return embeddings


def build(embedding: str) -> diarize.Diarizer:
    """The product's pipeline, with resemblyzer in place of CAM++ when asked."""
    if embedding == "campplus":
        return diarize.build_default()
    with mock.patch.object(diarize, "CAMPPlusEmbedding", lambda _weights: ResemblyzerEmbedding()):
        return diarize.build_default()


def compare(embedding: str) -> dict:
    """Timed run at 0.7046, threshold sweep on trn00-trn09, DER at 0.7046 and at the best threshold."""
    pipeline = build(embedding).pipeline
    pipeline.training = True  # pyannote caches segmentations and embeddings in each file dict
    clips = [load_item(DEBUG, uri) for uri in debug_uris("all")]
    items = [load_item(SAMPLE, "sample")] + clips + [joined(clips)]
    files = [{"uri": i["uri"], "waveform": i["waveform"], "sample_rate": i["sample_rate"]} for i in items]

    def diarize_all(threshold: float, uris: list[str] | None = None) -> dict:
        """Every file (or only ``uris``) diarized at ``threshold``."""
        pipeline.instantiate({"segmentation": dict(diarize.SEGMENTATION),
                              "clustering": {**diarize.CLUSTERING, "threshold": threshold}})
        hypotheses = {}
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom")
            for f in files:
                if uris is None or f["uri"] in uris:
                    hypotheses[f["uri"]] = getattr(out := pipeline(f), "speaker_diarization", out)
        return hypotheses

    begin = time.perf_counter()
    shipped = diarize_all(diarize.CLUSTERING["threshold"])
    elapsed = time.perf_counter() - begin
    audio_s = sum(i["duration"] for i in items)

    train = [i for i in items if i["uri"] in debug_uris("train")]
    sweep = {t: score(train, diarize_all(t, debug_uris("train"))) for t in THRESHOLDS}
    best = min(THRESHOLDS, key=lambda t: sweep[t]["collar_0.0"]["pooled_der"])

    def report(hypotheses: dict) -> dict:
        subsets = {"sample": ["sample"], "dev": debug_uris("heldout"), "all_12": debug_uris("all"),
                   "joined_12": ["joined"]}
        scores = {name: {collar: scored["pooled_der"] for collar, scored in
                         score([i for i in items if i["uri"] in uris], hypotheses).items()}
                  for name, uris in subsets.items()}
        return {**scores, "joined_12_speakers": f"{len(hypotheses['joined'].labels())} found, "
                                                f"{len(items[-1]['reference'].labels())} in the reference"}

    return {"embedding": embedding, "threads": torch.get_num_threads(),
            "audio_s": round(audio_s, 1), "real_time_factor": round(elapsed / audio_s, 4),
            "sweep_trn_pooled_der": {str(t): {c: s["pooled_der"] for c, s in v.items()} for t, v in sweep.items()},
            "best_trn_threshold": best,
            "at_0.7046": report(shipped), f"at_{best}": report(diarize_all(best))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", choices=["campplus", "resemblyzer"], nargs="+",
                        default=["campplus", "resemblyzer"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps([compare(name) for name in args.embedding], indent=1))


if __name__ == "__main__":
    main()
