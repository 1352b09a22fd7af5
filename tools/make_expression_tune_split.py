"""Expression-search tuning split: descriptor inputs of 66 labelled faces of people NOT in the test set.

    .venv/bin/python tools/make_expression_tune_split.py --yale DIR -o benchmarks/data/expressions_tune.json

The acceptance set, ../shared/testdata/expressions, holds Yale Face Database subjects 01, 02, 03 and 05 (plus
five single photos). Anything fitted for expression search (a metric, a weighting, a choice among designs)
must be chosen on other people, so this script reads the six expression photos (normal, happy, sad, sleepy,
surprised, wink) of the other eleven Yale subjects (04 and 06-15) from a checkout of the same source
repository the shared set came from (jessexuu/Twitter-Pride, commit e190945938d9,
analytics/faces_yale/original/NN_<expression>.png; DIR is that folder) and stores, per face, what the
descriptors start from: the 14 geometry features relative to the generic neutral
(GeometryDescriptor.features), the 52 blendshape scores, and the face's 128-d recognition embedding (dlib's
ResNet aligned from the landmarker's points, identity.IdentityEmbedder: what identity-normalised search
groups faces by), and the geometry features and blendshapes of the photo mirrored left to right (the
landmarker run again on the flipped image, as measured, not flipped back: the benchmark's mirrored-query
check of descriptor v3's symmetry). Labels follow the shared set's folder names
(normal -> neutral, sleepy -> eyes_closed, surprised -> surprise). The images are not copied into the
repository; each one's sha256 is recorded so the file can be checked against its source.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from facepipe.apps.expression_search.descriptor import GEOMETRY_FEATURES, GeometryDescriptor
from facepipe.apps.expression_search.identity import IdentityEmbedder
from facepipe.apps.expression_search.indexer import EmbedOptions
from facepipe.io.image import read_image
from facepipe.solutions.blendshapes import BLENDSHAPE_NAMES
from facepipe.solutions.face_landmarker import FaceLandmarker

SUBJECTS = ("04", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15")
LABELS = {"normal": "neutral", "happy": "happy", "sad": "sad", "sleepy": "eyes_closed",
          "surprised": "surprise", "wink": "wink"}
SOURCE = {"repo": "jessexuu/Twitter-Pride", "commit": "e190945938d9de7f37d2063799c7547a8a32b2ae",
          "path": "analytics/faces_yale/original/{subject}_{expression}.png"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--yale", type=Path, required=True, help="folder with NN_<expression>.png")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    landmarker = FaceLandmarker(EmbedOptions(max_num_faces=1).landmarker_options())
    geometry = GeometryDescriptor()
    identity = IdentityEmbedder()
    faces = []
    for subject in SUBJECTS:
        for expression, label in LABELS.items():
            path = args.yale / f"{subject}_{expression}.png"
            image = read_image(path)
            result = landmarker.detect(image)
            mirrored = landmarker.detect(np.ascontiguousarray(image[:, ::-1]))
            if len(result) != 1 or len(mirrored) != 1:
                print(f"{path}: expected one face, found {len(result)} ({len(mirrored)} mirrored)", file=sys.stderr)
                return 1
            faces.append({
                "name": f"yale_{subject}_{expression}.png", "person": f"yale_{subject}", "label": label,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "geometry": np.round(geometry.features(result)[0], 6).tolist(),
                "blendshapes": np.round(np.asarray(result.blendshapes)[0], 6).tolist(),
                "identity": np.round(identity.embed(image, result)[0].astype(np.float64), 5).tolist(),
                "geometry_mirrored": np.round(geometry.features(mirrored)[0], 6).tolist(),
                "blendshapes_mirrored": np.round(np.asarray(mirrored.blendshapes)[0], 6).tolist(),
            })
    doc = {"source": SOURCE, "geometry_features": list(GEOMETRY_FEATURES),
           "blendshapes": list(BLENDSHAPE_NAMES),
           "identity_model": identity.model_id, "faces": faces}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    # One face per line: small, and a regenerated file diffs face by face.
    head = json.dumps({k: v for k, v in doc.items() if k != "faces"})[:-1]
    lines = ",\n".join(json.dumps(face) for face in faces)
    tmp.write_text(f'{head}, "faces": [\n{lines}\n]}}\n', encoding="utf-8")
    tmp.replace(args.output)
    print(f"{args.output}: {len(faces)} faces of {len(SUBJECTS)} people")
    return 0


if __name__ == "__main__":
    sys.exit(main())
