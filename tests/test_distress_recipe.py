"""The distress classifier's training recipe (benchmarks/distress_*.py, run by the training notebook),
step by step on a small real subset of ../shared/eval: augmentation, nested threshold choice, the
classifier file it writes."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import distress_augment as augment  # noqa: E402
import distress_data as data  # noqa: E402
import distress_training as training  # noqa: E402

from evidence_audio.events import classifier  # noqa: E402
from evidence_audio.events.frames import WhisperEncoder  # noqa: E402


def test_augmentation_is_seeded_keeps_car_noise_out_and_hits_its_snr(shared_eval):
    assert not [n for n in augment.TRAIN_NOISES if "volvo" in n]
    clip = next(c for c in data.catalogue() if c.target == "scream" and c.trainable)
    x = data.read_audio(clip.path)
    x = x / np.abs(x).max() * 0.3  # quiet enough that the mix is not renormalised, so its noise is first - x
    aug = augment.Augmentation("freesound_cc0/cafe.wav", 5.0, None, False)
    first = augment.apply(x, aug, np.random.default_rng(3))
    assert np.array_equal(first, augment.apply(x, aug, np.random.default_rng(3)))
    assert np.abs(first).max() <= 1.0
    loud = np.abs(x) >= np.abs(x).max() * 10 ** (-30 / 20)
    assert 20 * np.log10(augment.rms(x[loud]) / augment.rms(first - x)) == pytest.approx(5.0, abs=0.01)
    wet = augment.reverberate(x, augment.RIRS[0])
    assert len(wet) == len(x) and augment.rms(wet) == pytest.approx(augment.rms(x), rel=1e-3)
    assert not np.allclose(wet, x)
    spectrum = np.abs(np.fft.rfft(augment.telephone(x)))
    assert spectrum[len(spectrum) // 2 + 200:].sum() < 0.01 * spectrum.sum()  # nothing above 4 kHz


def test_lowest_threshold_at_the_precision_target():
    labels = np.array([True, True, True, False, True, False, True, False, False, False])
    values = np.array([0.9, 0.8, 0.7, 0.65, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    # at 0.6: 4 of 5 (0.8); at 0.7: 3 of 3; at 0.4: 5 of 7
    assert training.lowest_at_precision(labels, values, target=0.8) == 0.6
    assert training.lowest_at_precision(labels, values, target=0.92) == 0.7
    assert training.lowest_at_precision(labels[3:4], values[3:4]) == 1.0  # no positive: never fires


@pytest.fixture(scope="module")
def small_trainer(shared_eval, tmp_path_factory):
    """The recipe on 4 clips of each kind (each from its own group), in 3 folds, features cached in
    a temporary folder; no training scenes (they need every class in every fold)."""
    cache = tmp_path_factory.mktemp("frames")
    patch = pytest.MonkeyPatch()
    patch.setattr(data, "CACHE", cache)
    patch.setattr(training, "CACHE", cache)
    patch.setattr(training, "FOLDS", 3)
    picked, groups = [], set()
    for kind in ("scream", "shout", "cry", "speech", "urban_engine_idling"):
        for clip in data.catalogue():
            if (clip.target == kind or clip.label == kind) and clip.trainable and clip.group not in groups:
                picked.append(clip)
                groups.add(clip.group)
                if sum(c.target == clip.target and c.label == clip.label for c in picked) == 4:
                    break
    from evidence_audio import models

    encoder = WhisperEncoder(models.require("whisper-base").path, threads=1)
    recipe = replace(training.AUGMENTED, scenes_per_fold=0)
    trainer = training.build(recipe, picked, [data.load_frames(c, encoder) for c in picked], encoder)
    yield trainer
    patch.undo()


def test_nested_choice_never_sees_the_outer_fold(small_trainer):
    trainer = small_trainer
    assert sum(e.kind == "copy" for e in trainer.extras) == len(trainer.clips)  # one copy of each
    for outer in range(3):
        trainer.fitted.clear()
        model = trainer.model(outer)
        assert trainer.fitted and all(outer not in folds for folds in trainer.fitted)
        assert model.smoothing in trainer.recipe.smoothings
        assert set(model.thresholds) == set(training.CLASSES)


def test_clip_report_and_classifier_file_from_the_recipe(small_trainer):
    trainer = small_trainer
    models_by_fold = [trainer.model(f) for f in range(3)]
    report = training.clip_report(trainer, models_by_fold)
    for name in training.CLASSES:
        figures = report[name]
        assert figures["positives"] == 4 and figures["negatives"] == 8
        assert figures["tp"] + figures["fn"] == 4
    shipped = replace(trainer.model(None), training_data=training.training_data(trainer.recipe))
    again = classifier.from_json(shipped.to_json())
    assert again.smoothing == shipped.smoothing and again.training_data == shipped.training_data
    assert any("speechbrain_rir" in line for line in again.training_data)
    assert np.allclose(again.coef, shipped.coef, rtol=1e-6)
