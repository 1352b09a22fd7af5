"""dlib / face_recognition 1.3 reference data for facepipe's face embedder (run in the dlib side venv).

    /work/venvs/fr/bin/python tools/make_recognition_goldens.py --shared ../shared \
        --out tests/goldens/recognition/dlib_faces.npz

The side venv has dlib-bin, face_recognition 1.3 and face_recognition_models
(never facepipe's venv). For every face face_recognition finds (its defaults:
HOG detector upsampled once, the 5-point shape predictor) in the shared
identities/, faces/, groups/ and expressions/ photos it records:

- `files`, `boxes` (x1,y1,x2,y2): which photo and where the face is;
- `shape5`: dlib's 5 landmarks (eye corners, nose base) in pixels;
- `chip_to_image`: the 2x3 affine map from a 150x150 chip pixel (col,row) to
  the photo, as dlib.get_face_chip_details(shape, 150, 0.25) places the chip;
- `descriptors`: face_recognition.face_encodings for the face (num_jitters=1),
  which is dlib's network on that chip.
For the first face of a few photos (`golden_index`) it also stores dlib's
own chip (`golden_chips`, uint8) and dlib's descriptor of exactly that chip
(`golden_descriptors`): the ONNX conversion must reproduce those within 1e-4.
"""

from __future__ import annotations

import argparse
import io
import math
import zipfile
from pathlib import Path

import dlib
import face_recognition
import face_recognition_models
import numpy as np

FOLDERS = ("identities", "faces", "groups", "expressions")
SUFFIXES = (".jpg", ".jpeg", ".png")
# Photos whose first face also gets its chip stored: one per identity plus two portraits.
GOLDEN = (
    "identities/angelina_jolie/img5.jpg",
    "identities/barack_obama/obama.jpg",
    "identities/jack_dorsey/img16.jpg",
    "identities/jennifer_aniston/img12.jpg",
    "identities/katy_perry/img27.jpg",
    "identities/kit_harington/john1.jpeg",
    "identities/mark_zuckerberg/img14.jpg",
    "identities/scarlett_johansson/img48.jpg",
    "faces/mp_sergey.png",
    "faces/pyfeat_single_face.jpg",
)


def chip_to_image(details: dlib.chip_details) -> np.ndarray:
    """2x3 affine matrix taking chip (col,row) to image (x,y), as dlib's extract_image_chip places it."""
    r, angle = details.rect, details.angle
    cx, cy = (r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2
    c, s = math.cos(angle), math.sin(angle)

    def rot(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - cx, y - cy
        return cx + c * dx - s * dy, cy + s * dx + c * dy

    tl, tr, bl = rot(r.left(), r.top()), rot(r.right(), r.top()), rot(r.left(), r.bottom())
    cols, rows = details.cols, details.rows
    m = np.empty((2, 3))
    m[:, 0] = (np.subtract(tr, tl)) / (cols - 1)
    m[:, 1] = (np.subtract(bl, tl)) / (rows - 1)
    m[:, 2] = tl
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--out", type=Path, default=Path("tests/goldens/recognition/dlib_faces.npz"))
    args = ap.parse_args()
    testdata = args.shared / "testdata"
    shape5 = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    rec: dict[str, list] = {k: [] for k in ("files", "boxes", "shape5", "chip_to_image", "descriptors")}
    golden_index, golden_chips, golden_descriptors = [], [], []
    for folder in FOLDERS:
        for path in sorted((testdata / folder).rglob("*")):
            if path.suffix.lower() not in SUFFIXES:
                continue
            rel = path.relative_to(testdata).as_posix()
            image = face_recognition.load_image_file(str(path))
            locations = face_recognition.face_locations(image)  # HOG, upsample 1: face_recognition's default
            encodings = face_recognition.face_encodings(image, locations)  # 5-point model, 1 jitter
            for k, ((top, right, bottom, left), enc) in enumerate(zip(locations, encodings)):
                shape = shape5(image, dlib.rectangle(left, top, right, bottom))
                details = dlib.get_face_chip_details(shape, 150, 0.25)
                if k == 0 and rel in GOLDEN:
                    chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
                    golden_index.append(len(rec["files"]))
                    golden_chips.append(chip)
                    golden_descriptors.append(np.array(net.compute_face_descriptor(chip), np.float32))
                rec["files"].append(rel)
                rec["boxes"].append((left, top, right + 1, bottom + 1))
                rec["shape5"].append([(p.x, p.y) for p in shape.parts()])
                rec["chip_to_image"].append(chip_to_image(details))
                rec["descriptors"].append(np.asarray(enc, np.float32))
            print(f"{rel}: {len(locations)} faces")
    arrays = {
        "files": np.array(rec["files"]),
        "boxes": np.array(rec["boxes"], np.int32).reshape(-1, 4),
        "shape5": np.array(rec["shape5"], np.float32).reshape(-1, 5, 2),
        "chip_to_image": np.array(rec["chip_to_image"], np.float64).reshape(-1, 2, 3),
        "descriptors": np.array(rec["descriptors"], np.float32).reshape(-1, 128),
        "golden_index": np.array(golden_index, np.int64),
        "golden_chips": np.array(golden_chips, np.uint8).reshape(-1, 150, 150, 3),
        "golden_descriptors": np.array(golden_descriptors, np.float32).reshape(-1, 128),
        "dlib_version": np.array(dlib.__version__),
        "face_recognition_version": np.array(face_recognition.__version__),
    }
    # Reproducible bytes: sorted keys, fixed zip timestamps.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(args.out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arrays[key], allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    size = args.out.stat().st_size
    print(f"{len(rec['files'])} faces, {len(golden_index)} golden chips -> {args.out} ({size} bytes)")


if __name__ == "__main__":
    main()
