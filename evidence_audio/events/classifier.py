"""The shipped distress classifier: one logistic regression per class on pooled Whisper-encoder frames.

Weights are a small JSON file (no pickle, nothing executable): per-feature standardisation, one
weight vector and bias per class, the per-class thresholds and the smoothing over time (hysteresis,
minimum event duration, merge gap) chosen by grouped cross-validation, and the list of its training
data. A file without `smoothing` (older format) gets the plain rule, merge.Smoothing().
Its recipe is notebooks/train_distress_classifier.ipynb; its hash is in evidence_audio/data/manifest.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .merge import Smoothing

WEIGHTS_FILE = "distress_classifier.json"


@dataclass(frozen=True)
class DistressClassifier:
    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    thresholds: dict[str, float]
    min_level_db: float  # windows quieter than this are scored 0 (digital silence cannot scream)
    encoder: str  # the model whose encoder makes the features
    smoothing: Smoothing = Smoothing()
    training_data: tuple[str, ...] = ()  # what it was trained on, one line per source

    def scores(self, vectors: np.ndarray, level_db: np.ndarray) -> np.ndarray:
        """Probability per window and class, shape (n_windows, n_classes)."""
        logits = ((vectors - self.mean) / self.scale) @ self.coef.T + self.intercept
        probs = 1.0 / (1.0 + np.exp(-logits))
        probs[level_db < self.min_level_db] = 0.0
        return probs

    def to_json(self) -> dict:
        return {
            "classes": list(self.classes),
            "encoder": self.encoder,
            "min_level_db": self.min_level_db,
            "thresholds": self.thresholds,
            "smoothing": self.smoothing.to_json(),
            "training_data": list(self.training_data),
            "mean": [float(f"{v:.7g}") for v in self.mean],
            "scale": [float(f"{v:.7g}") for v in self.scale],
            "intercept": [float(f"{v:.7g}") for v in self.intercept],
            "coef": [[float(f"{v:.7g}") for v in row] for row in self.coef],
        }


def from_json(data: dict) -> DistressClassifier:
    return DistressClassifier(
        classes=tuple(data["classes"]),
        mean=np.asarray(data["mean"], dtype=np.float64),
        scale=np.asarray(data["scale"], dtype=np.float64),
        coef=np.asarray(data["coef"], dtype=np.float64),
        intercept=np.asarray(data["intercept"], dtype=np.float64),
        thresholds={k: float(v) for k, v in data["thresholds"].items()},
        min_level_db=float(data["min_level_db"]),
        encoder=data["encoder"],
        smoothing=Smoothing(**data.get("smoothing", {})),
        training_data=tuple(data.get("training_data", ())),
    )


def load(model_dir: str | Path) -> DistressClassifier:
    return from_json(json.loads((Path(model_dir) / WEIGHTS_FILE).read_text(encoding="utf-8")))
