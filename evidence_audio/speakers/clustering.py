"""pyannote's agglomerative clustering with memory bounded on long recordings.

Hierarchical clustering keeps every pairwise distance: N embeddings take N(N-1)/2 doubles. A
4-hour recording gives tens of thousands of (chunk, speaker) embeddings, i.e. gigabytes. Above
``MAX_LINKAGE`` embeddings, the dendrogram is built on ``MAX_LINKAGE`` of them taken evenly across
the recording (deterministic), exactly as pyannote would build it, and every other embedding joins
the cluster whose centroid is nearest (cosine). Up to ``MAX_LINKAGE`` nothing differs from pyannote.
"""

from __future__ import annotations

import numpy as np
from pyannote.audio.pipelines.clustering import AgglomerativeClustering
from scipy.spatial.distance import cdist

MAX_LINKAGE = 5000  # 5000 embeddings: 100 MB of pairwise distances


class BoundedAgglomerativeClustering(AgglomerativeClustering):
    """``AgglomerativeClustering`` whose linkage never sees more than ``max_linkage`` embeddings."""

    def __init__(self, metric: str = "cosine", max_linkage: int = MAX_LINKAGE):
        super().__init__(metric=metric)
        self.max_linkage = max_linkage

    def cluster(self, embeddings: np.ndarray, min_clusters: int | None = None, max_clusters: int | None = None,
                num_clusters: int | None = None) -> np.ndarray:
        num_embeddings = embeddings.shape[0]
        if num_embeddings <= self.max_linkage:
            return super().cluster(embeddings, min_clusters, max_clusters, num_clusters)
        chosen = np.unique(np.linspace(0, num_embeddings - 1, self.max_linkage).round().astype(int))
        chosen_clusters = super().cluster(embeddings[chosen].copy(), min_clusters, max_clusters, num_clusters)
        labels = np.unique(chosen_clusters)
        centroids = np.vstack([embeddings[chosen][chosen_clusters == k].mean(axis=0) for k in labels])
        clusters = labels[np.argmin(cdist(embeddings, centroids, metric=self.metric), axis=1)]
        clusters[chosen] = chosen_clusters
        return clusters
