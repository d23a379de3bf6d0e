"""Bounded agglomerative clustering: the same partition as pyannote's, in bounded memory."""

from __future__ import annotations

import numpy as np

from evidence_audio.speakers.clustering import BoundedAgglomerativeClustering

PARAMS = {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7}


def speakers(num_embeddings: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of three voices (192-d, unit directions with spread), and who each one is."""
    rng = np.random.default_rng(seed)
    voices = rng.normal(size=(3, 192))
    who = rng.integers(0, 3, size=num_embeddings)
    return voices[who] + rng.normal(scale=0.6, size=(num_embeddings, 192)), who


def clustering(max_linkage: int) -> BoundedAgglomerativeClustering:
    bounded = BoundedAgglomerativeClustering(metric="cosine", max_linkage=max_linkage)
    bounded.instantiate(PARAMS)
    return bounded


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = {(x, y) for x, y in zip(a, b)}
    return len(pairs) == len(set(a)) == len(set(b))


def test_large_input_is_clustered_from_a_bounded_subset_like_the_full_linkage():
    embeddings, who = speakers(3000)
    full = clustering(max_linkage=10_000).cluster(embeddings.copy(), 1, 10)
    bounded = clustering(max_linkage=400).cluster(embeddings.copy(), 1, 10)
    assert len(set(full)) == len(set(bounded)) == 3
    assert same_partition(full, who)
    assert same_partition(bounded, who)


def test_small_input_is_exactly_pyannotes():
    embeddings, _ = speakers(300, seed=1)
    assert np.array_equal(clustering(400).cluster(embeddings.copy(), 1, 10),
                          clustering(10_000).cluster(embeddings.copy(), 1, 10))
