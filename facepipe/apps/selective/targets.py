"""The chosen people: looked up in the gallery or embedded from photos, and matched against faces.

Every face is matched against the whole gallery (k-NN voting, recognition's `vote`), so a face
closer to someone else enrolled is not taken for a chosen person. People named by a photo join a
copy of the gallery held in memory (`MemoryGallery`): nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.apps.recognition.enroll import embed_photos
from facepipe.apps.recognition.matching import Matches, MatchOptions
from facepipe.apps.recognition.memory_store import MemoryGallery
from facepipe.apps.recognition.recognizer import FaceRecognizer, RecognizerOptions, default_embedder
from facepipe.apps.recognition.store import GalleryError, GalleryInfo, GalleryStore, open_gallery
from facepipe.apps.selective.options import PeopleSelection, TrackSampling
from facepipe.errors import UsageError
from facepipe.runtime.options import RuntimeOptions
from facepipe.solutions.face_embedder import MirrorAveragedEmbedder

__all__ = ["MIRRORED_DLIB_THRESHOLD", "ChosenPeople", "TargetMatches", "load_chosen"]

# The default distance threshold for mirror-averaged dlib vectors. dlib's usual 0.6 sits just above
# the farthest same-person pair of the shared identities (0.592; nearest different people 0.682,
# see MatchOptions). Mirror-averaging draws every pair nearer (same person at most 0.558,
# different people from 0.666): the same rule gives 0.57. With 0.6 instead, single frames of
# strangers in the shared videos were taken for the chosen person 8 times (--only) and 7 times
# (--except) in 330 photo-video runs; with 0.57, once and never (benchmarks/bench_selective.py
# --false-matches; docs/anonymize-people.md).
MIRRORED_DLIB_THRESHOLD = 0.57


@dataclass(frozen=True)
class TargetMatches:
    """Per embedding: the gallery's vote (`matches`: name or unknown, distance), and the distance to
    the nearest embedding of a chosen person with that person's name."""

    matches: Matches
    chosen_distance: np.ndarray  # (Q,) float32, inf with no chosen embedding
    nearest_chosen: np.ndarray  # (Q,) object: name of that chosen person


class ChosenPeople:
    """The chosen people and the recognizer that matches faces against them (close() when done)."""

    def __init__(self, recognizer: FaceRecognizer, chosen: tuple[str, ...], store: GalleryStore | None) -> None:
        self.recognizer = recognizer
        self.chosen = chosen
        self._store = store
        chosen_set = set(chosen)
        records = [r for r in recognizer.gallery.records() if r.name in chosen_set]
        self._labels = np.array([r.name for r in records], dtype=object)
        dim = recognizer.info.dim
        self._vectors = np.stack([r.embedding for r in records]) if records else np.zeros((0, dim), np.float32)

    @property
    def threshold(self) -> float:
        return self.recognizer.threshold

    def match(self, embeddings: np.ndarray) -> TargetMatches:
        """The gallery's vote for each (Q,dim) embedding, and its distance to the chosen people."""
        emb = np.asarray(embeddings, np.float32)
        matches = self.recognizer.match(emb)
        q = len(emb)
        if q == 0 or len(self._vectors) == 0:
            return TargetMatches(matches, np.full(q, np.inf, np.float32), np.full(q, "", dtype=object))
        d = self._distances(emb)
        best = np.argmin(d, axis=1)
        return TargetMatches(matches, d[np.arange(q), best].astype(np.float32), self._labels[best])

    def person_distances(self, embeddings: np.ndarray) -> dict[str, np.ndarray]:
        """{chosen name: (Q,) distance of each embedding to that person's nearest embedding}."""
        emb = np.asarray(embeddings, np.float32).reshape(-1, self.recognizer.info.dim)
        if len(emb) == 0 or len(self._vectors) == 0:
            return {n: np.full(len(emb), np.inf, np.float32) for n in self.chosen}
        d = self._distances(emb)
        return {n: (d[:, self._labels == n].min(axis=1).astype(np.float32) if (self._labels == n).any()
                    else np.full(len(emb), np.inf, np.float32)) for n in self.chosen}

    def _distances(self, emb: np.ndarray) -> np.ndarray:
        """(Q,V) distance of each embedding to each of the chosen people's vectors, in the gallery's metric."""
        if self.recognizer.info.metric == "cosine":
            a = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
            b = self._vectors / np.maximum(np.linalg.norm(self._vectors, axis=1, keepdims=True), 1e-12)
            return 1.0 - a @ b.T
        return np.linalg.norm(emb[:, None, :] - self._vectors[None, :, :], axis=-1)

    def close(self) -> None:
        self.recognizer.close()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> ChosenPeople:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_store(selection: PeopleSelection, info: GalleryInfo) -> GalleryStore:
    try:
        store = open_gallery(selection.gallery, info, create=False)
    except GalleryError as exc:
        raise UsageError(str(exc)) from exc
    people = store.people()
    if not people:
        store.close()
        raise UsageError(f"{store.location}: the gallery is empty; enroll the people to choose first"
                         " (facepipe faces enroll NAME PHOTO), or name them by photo (--only-photo/--except-photo)")
    known = {p.name for p in people}
    missing = [n for n in selection.names if n not in known]
    if missing:
        store.close()
        raise UsageError(f"{store.location}: no person named {missing[0]!r} in the gallery"
                         f" (known: {', '.join(sorted(known))})")
    return store


def load_chosen(selection: PeopleSelection, sampling: TrackSampling | None = None,
                runtime: RuntimeOptions | None = None, *, embedder: object = None) -> ChosenPeople:
    """Open the gallery (only when names are chosen), embed the photos, check every name.

    UsageError (exit 2) for an empty gallery or a name not in it (the message lists the known
    names); InputError for a photo without exactly one clear face.
    """
    from facepipe.apps.recognition.faces import SpotterOptions

    sampling = sampling or TrackSampling()
    embedder = embedder if embedder is not None else default_embedder(runtime)
    if sampling.mirror and not isinstance(embedder, MirrorAveragedEmbedder):
        embedder = MirrorAveragedEmbedder(embedder)
    info = GalleryInfo.of(embedder)
    store = _open_store(selection, info) if selection.names else None
    match = sampling.match
    if sampling.mirror and match.threshold is None and info.metric == "euclidean":
        match = MatchOptions(threshold=MIRRORED_DLIB_THRESHOLD, k=match.k)
    options = RecognizerOptions(spotter=SpotterOptions(runtime=runtime or RuntimeOptions()), match=match)
    if store is not None and not selection.photos:
        return ChosenPeople(FaceRecognizer(store, options, embedder=embedder), selection.names, store)
    try:
        gallery = MemoryGallery(info, store.records() if store is not None else (),
                                location=store.location if store is not None else "<photos>")
        recognizer = FaceRecognizer(gallery, options, embedder=embedder)
        names = list(selection.names)
        for photo in selection.photos:
            name = photo.name
            while name in names:  # two photos with one file name: both chosen, told apart
                name = f"{name}'"
            person = embed_photos(recognizer, name, [photo])
            gallery.add(person.name, person.embeddings, person.sources)
            names.append(person.name)
    except BaseException:
        if store is not None:
            store.close()
        raise
    return ChosenPeople(recognizer, tuple(names), store)
