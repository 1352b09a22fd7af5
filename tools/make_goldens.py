"""Generate golden outputs from official MediaPipe for facepipe's parity tests.

Runs ONLY in the side venv that has mediapipe==0.10.21 (never import this from
facepipe or its tests):

    .venv-ref/bin/python tools/make_goldens.py --shared ../shared \
        --out tests/goldens [--only face_detection,hands_video,...]

Output layout (see tools/README.md for the full format):

    <out>/MANIFEST.json                    what every file holds
    <out>/<set>/<input__rel__path>.npz     one file per (golden set, input)

A "golden set" is one solution run with one fixed set of constructor kwargs
(e.g. ``face_detection_full`` = FaceDetection(model_selection=1, ...)).
``--only`` takes set names or solution names (``face_detection`` selects both
face_detection sets). Sets not selected keep their files and manifest entries.

The .npz files are written byte-reproducibly (fixed zip timestamps, sorted
keys), so regenerating with the same MediaPipe build only changes the timing
fields of MANIFEST.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

MAX_VIDEO_FRAMES = 60
FORMAT_VERSION = 1
# Repeats per still image: the median is the recorded wall time, and every
# repeat must give the same arrays (a free determinism check).
IMAGE_REPEATS = 3
POSE_LITE_SHA256 = "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61"

# --------------------------------------------------------------------------
# Inputs (relative to <shared>/testdata)

FACES = [
    "faces/if_attr_1423.jpg", "faces/if_attr_1561.jpg", "faces/if_attr_1996.jpg",
    "faces/if_attr_2963.jpg", "faces/if_blur.jpg", "faces/if_mask2.jpg",
    "faces/if_pose_left_face.jpeg", "faces/if_pose_left_wryneck.png",
    "faces/if_pose_lower_face.jpeg", "faces/if_pose_right_face.png",
    "faces/if_pose_rise_face.jpeg", "faces/if_rot_90.jpg", "faces/if_tom_hanks_112.png",
    "faces/mp_sergey.png", "faces/pyfeat_single_face.jpg", "faces/tfjs_depth_portrait.jpg",
]
GROUPS = [
    "groups/deface_city.jpg", "groups/df_selfie_many_people.jpg", "groups/fr_two_people.jpg",
    "groups/if_t1.jpg", "groups/lz_1.jpg", "groups/lz_11.jpg", "groups/lz_17.jpg",
    "groups/lz_25.jpg", "groups/lz_9.jpg", "groups/lz_masked_crowd_img8.jpeg",
    "groups/pyfeat_multi_face.jpg", "groups/tfjs_three_people.jpg", "groups/yolov5_zidane.jpg",
]
EXPRESSIONS = [
    "expressions/anger/if_anger.png",
    "expressions/eyes_closed/if_close_eyes.jpeg", "expressions/eyes_closed/yale_01_sleepy.png",
    "expressions/eyes_closed/yale_02_sleepy.png", "expressions/eyes_closed/yale_03_sleepy.png",
    "expressions/eyes_closed/yale_05_sleepy.png",
    "expressions/happy/if_happy.png", "expressions/happy/yale_01_happy.png",
    "expressions/happy/yale_02_happy.png", "expressions/happy/yale_03_happy.png",
    "expressions/happy/yale_05_happy.png",
    "expressions/neutral/if_open_eyes.png", "expressions/neutral/yale_01_normal.png",
    "expressions/neutral/yale_02_normal.png", "expressions/neutral/yale_03_normal.png",
    "expressions/neutral/yale_05_normal.png",
    "expressions/sad/if_sad.png", "expressions/sad/yale_01_sad.png",
    "expressions/sad/yale_02_sad.png", "expressions/sad/yale_03_sad.png",
    "expressions/sad/yale_05_sad.png",
    "expressions/surprise/yale_01_surprised.png", "expressions/surprise/yale_02_surprised.png",
    "expressions/surprise/yale_03_surprised.png", "expressions/surprise/yale_05_surprised.png",
    "expressions/wink/yale_01_wink.png", "expressions/wink/yale_02_wink.png",
    "expressions/wink/yale_03_wink.png", "expressions/wink/yale_05_wink.png",
]
EXPRESSIONS_FEW = [
    "expressions/anger/if_anger.png", "expressions/eyes_closed/if_close_eyes.jpeg",
    "expressions/happy/if_happy.png", "expressions/neutral/yale_01_normal.png",
    "expressions/surprise/yale_02_surprised.png",
]
HANDS = [
    "hands/tfjs_hands.jpg",
    "hands/gesture_call/mp_044768ad.jpg", "hands/gesture_call/mp_17d804b5.jpg",
    "hands/gesture_four/mp_105f8f8e.jpg", "hands/gesture_four/mp_116292ef.jpg",
    "hands/gesture_none/mp_0a038096.jpg", "hands/gesture_none/mp_0a71a6e8.jpg",
    "hands/gesture_rock/mp_026fd791.jpg", "hands/gesture_rock/mp_10eacf4b.jpg",
]
POSE = [
    "pose/coco_000000000785.jpg", "pose/coco_000000040083.jpg", "pose/coco_000000196141.jpg",
    "pose/coco_000000197388.jpg", "pose/tfjs_pose_yoga_warrior.jpg",
    "pose/tfjs_posenet_skiing.jpg", "pose/tfjs_posenet_soccer.png",
    "pose/tfjs_posenet_tennis_standing.jpg", "pose/tfjs_posenet_yoga_tree.jpg",
    "pose/yolov5_bus.jpg",
]
POSE_LITE = [
    "pose/tfjs_pose_yoga_warrior.jpg", "pose/tfjs_posenet_yoga_tree.jpg",
    "pose/coco_000000000785.jpg",
]
HOLISTIC = POSE + [
    "hands/gesture_call/mp_044768ad.jpg", "hands/gesture_call/mp_17d804b5.jpg",
    "hands/gesture_rock/mp_026fd791.jpg", "hands/gesture_none/mp_0a038096.jpg",
]
SELFIE = [
    "faces/mp_sergey.png", "faces/pyfeat_single_face.jpg", "faces/if_pose_right_face.png",
    "pose/tfjs_posenet_tennis_standing.jpg", "pose/tfjs_pose_yoga_warrior.jpg",
    "pose/yolov5_bus.jpg",
]
# Full-resolution float16 masks are stored only for these (size budget).
SELFIE_FLOAT_INPUTS = {"faces/mp_sergey.png", "pose/tfjs_posenet_tennis_standing.jpg"}
POSE_VIDEO_MASK_EVERY = 10

# --------------------------------------------------------------------------
# Reading inputs exactly as facepipe does


def read_image_rgb(path: Path) -> np.ndarray:
    """RGB uint8 HxWx3: EXIF orientation applied, alpha dropped, grey replicated."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        # convert("RGB") drops alpha without compositing and replicates L.
        rgb = im.convert("RGB")
        return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


@dataclasses.dataclass
class VideoFrames:
    frames: list[np.ndarray]
    timestamps_ms: np.ndarray  # int64, from frame.time (pts * time_base)


def read_video_rgb(path: Path, max_frames: int) -> VideoFrames:
    import av

    frames: list[np.ndarray] = []
    stamps: list[int] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            frames.append(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
            stamps.append(int(round(frame.time * 1000.0)))
            if len(frames) >= max_frames:
                break
    return VideoFrames(frames, np.asarray(stamps, dtype=np.int64))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels_sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()


# --------------------------------------------------------------------------
# Deterministic npz writing


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.load-compatible compressed .npz with fixed zip metadata, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for key in sorted(arrays):
                arr = np.asarray(arrays[key])
                if arr.dtype == object:
                    raise TypeError(f"{path}: key {key!r} has object dtype")
                buf = io.BytesIO()
                np.lib.format.write_array(buf, arr, allow_pickle=False)
                info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue(), compresslevel=9)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Conversions from MediaPipe result protos / task dataclasses


def f32(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def norm_landmarks(lms: Any, with_visibility: bool = False) -> np.ndarray:
    if with_visibility:
        return f32([[p.x, p.y, p.z, p.visibility] for p in lms.landmark])
    return f32([[p.x, p.y, p.z] for p in lms.landmark])


def stack(items: list[np.ndarray], tail: tuple[int, ...]) -> np.ndarray:
    return np.stack(items).astype(np.float32) if items else np.zeros((0, *tail), np.float32)


def conv_face_detection(res: Any) -> dict[str, np.ndarray]:
    dets = res.detections or []
    boxes, kps, scores = [], [], []
    for d in dets:
        bb = d.location_data.relative_bounding_box
        boxes.append([bb.xmin, bb.ymin, bb.width, bb.height])
        kps.append([[k.x, k.y] for k in d.location_data.relative_keypoints])
        scores.append(d.score[0])
    return {
        "boxes": stack([f32(b) for b in boxes], (4,)),
        "keypoints": stack([f32(k) for k in kps], (6, 2)),
        "scores": f32(scores).reshape(-1),
    }


def make_face_mesh_conv(num_points: int) -> Callable[[Any], dict[str, np.ndarray]]:
    def conv(res: Any) -> dict[str, np.ndarray]:
        faces = [norm_landmarks(f) for f in (res.multi_face_landmarks or [])]
        return {"landmarks": stack(faces, (num_points, 3))}
    return conv


def conv_hands(res: Any) -> dict[str, np.ndarray]:
    lms = [norm_landmarks(h) for h in (res.multi_hand_landmarks or [])]
    world = [f32([[p.x, p.y, p.z] for p in h.landmark])
             for h in (res.multi_hand_world_landmarks or [])]
    cls = [h.classification[0] for h in (res.multi_handedness or [])]
    return {
        "landmarks": stack(lms, (21, 3)),
        "world_landmarks": stack(world, (21, 3)),
        "handedness_index": np.asarray([c.index for c in cls], dtype=np.int32),
        "handedness_label": np.asarray([c.label for c in cls], dtype="<U5"),
        "handedness_score": f32([c.score for c in cls]).reshape(-1),
    }


def mask_to_u8(mask: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(mask, np.float64) * 255.0), 0, 255).astype(np.uint8)


def make_pose_conv(h: int, w: int) -> Callable[[Any], dict[str, np.ndarray]]:
    def conv(res: Any) -> dict[str, np.ndarray]:
        lm = [norm_landmarks(res.pose_landmarks, True)] if res.pose_landmarks else []
        wl = [norm_landmarks(res.pose_world_landmarks, True)] if res.pose_world_landmarks else []
        masks = [mask_to_u8(res.segmentation_mask)] if res.segmentation_mask is not None else []
        return {
            "landmarks": stack(lm, (33, 4)),
            "world_landmarks": stack(wl, (33, 4)),
            "segmentation_mask_u8": (np.stack(masks) if masks else np.zeros((0, h, w), np.uint8)),
        }
    return conv


HOLISTIC_PARTS = {
    "pose_landmarks": (33, 4), "pose_world_landmarks": (33, 4), "face_landmarks": (468, 3),
    "left_hand_landmarks": (21, 3), "right_hand_landmarks": (21, 3),
}


def conv_holistic(res: Any) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, shape in HOLISTIC_PARTS.items():
        value = getattr(res, name)
        present = value is not None
        arr = norm_landmarks(value, shape[1] == 4) if present else np.zeros(shape, np.float32)
        out[name] = arr
        out[name.replace("_landmarks", "_present")] = np.asarray(present)
    return out


def conv_selfie(res: Any, keep_float: bool) -> dict[str, np.ndarray]:
    mask = np.asarray(res.segmentation_mask, dtype=np.float32)
    out = {"mask_bits": np.packbits(mask > 0.5, axis=-1)}
    if keep_float:
        out["mask_f16"] = mask.astype(np.float16)
    return out


def conv_landmarker(res: Any) -> dict[str, np.ndarray]:
    lms = [f32([[p.x, p.y, p.z] for p in face]) for face in res.face_landmarks]
    bss, names = [], None
    for cats in res.face_blendshapes or []:
        # Categories come back in model index order; check rather than assume.
        if [c.index for c in cats] != list(range(len(cats))):
            raise RuntimeError("blendshape categories are not in index order")
        bss.append(f32([c.score for c in cats]))
        names = [c.category_name for c in cats]
    mats = [f32(m) for m in (res.facial_transformation_matrixes or [])]
    out = {
        "landmarks": stack(lms, (478, 3)),
        "blendshapes": stack(bss, (52,)),
        "transformation_matrices": stack(mats, (4, 4)),
    }
    if names is not None:
        out["_names"] = np.asarray(names)  # moved to blendshape_names by the runner
    return out


# --------------------------------------------------------------------------
# Golden set definitions

KEYS_DOC: dict[str, str] = {
    "image_size": "(2,) int32 [width, height] of the RGB input as read",
    "boxes": "float32 (N,4) relative bounding box xmin, ymin, width, height "
             "(normalized to image W/H; may leave [0,1])",
    "keypoints": "float32 (N,6,2) normalized x,y: right eye, left eye, nose tip, mouth centre, "
                 "right ear tragion, left ear tragion (subject's sides)",
    "scores": "float32 (N,) detection score; rows in MediaPipe output order",
    "landmarks": "float32 normalized landmarks x/W, y/H, z (z in x's scale); "
                 "faces/hands in MediaPipe output order; pose adds visibility as a 4th value",
    "world_landmarks": "float32 world landmarks in metres "
                       "(hands: x,y,z; pose: x,y,z,visibility, hip-centred)",
    "handedness_index": "int32 (N,) classification index (0 Left, 1 Right, as MediaPipe labels it, "
                        "i.e. assuming a mirrored image); -1 for absent slots in videos",
    "handedness_label": "unicode (N,) 'Left' or 'Right' as returned ('' for absent slots in videos)",
    "handedness_score": "float32 (N,) handedness score",
    "segmentation_mask_u8": "uint8 (N,H,W) full-res segmentation mask, round(mask*255); "
                            "N=0 when no pose",
    "mask_bits": "uint8 (H, ceil(W/8)) np.packbits(mask > 0.5, axis=-1) of the full-res float mask "
                 "(big bit order); unpack with np.unpackbits(bits, axis=-1, count=W)",
    "mask_f16": "float16 (H,W) full-res mask as returned (float32 cast to float16)",
    "blendshapes": "float32 (N,52) blendshape scores in model index order (names in blendshape_names)",
    "blendshape_names": "unicode (52,) blendshape category names in index order",
    "transformation_matrices": "float32 (N,4,4) facial_transformation_matrixes exactly as the Python "
                               "Tasks API returns them: row-major numpy 4x4, translation (cm) in "
                               "[:3,3], last row (0,0,0,1)",
    "timestamps_ms": "int64 (F,) timestamp of each decoded frame in ms (round(pts*time_base*1000)); "
                     "Tasks VIDEO mode got exactly these; legacy solutions take no timestamp "
                     "(they use a simulated 30 fps clock)",
    "present": "bool (F,) whether the solution returned a result for that frame",
    "num_hands": "int32 (F,) hands returned on that frame",
    "mask_frames": "int32 (M,) frame indices whose segmentation mask is stored",
    "mask_present": "bool (M,) whether a mask was returned for those frames",
    "pose_present": "bool (or (F,) in videos) whether pose_landmarks was returned",
    "pose_world_present": "bool (or (F,)) whether pose_world_landmarks was returned",
    "face_present": "bool (or (F,)) whether face_landmarks was returned",
    "left_hand_present": "bool (or (F,)) whether left_hand_landmarks was returned",
    "right_hand_present": "bool (or (F,)) whether right_hand_landmarks was returned",
    "pose_landmarks": "float32 (33,4) (or (F,33,4)) normalized x,y,z,visibility; zeros when absent",
    "pose_world_landmarks": "float32 (33,4) (or (F,33,4)) metres x,y,z,visibility; zeros when absent",
    "face_landmarks": "float32 (468,3) (or (F,468,3)) normalized; zeros when absent",
    "left_hand_landmarks": "float32 (21,3) (or (F,21,3)) normalized; zeros when absent",
    "right_hand_landmarks": "float32 (21,3) (or (F,21,3)) normalized; zeros when absent",
}


@dataclasses.dataclass
class GoldenSet:
    name: str
    solution: str
    api: str  # "legacy mp.solutions" or "tasks"
    options: dict[str, Any]
    inputs: list[str]
    kind: str  # "image" or "video"
    description: str


SETS: list[GoldenSet] = [
    GoldenSet("face_detection_short", "face_detection", "mp.solutions.face_detection.FaceDetection",
              {"model_selection": 0, "min_detection_confidence": 0.5}, FACES + GROUPS + EXPRESSIONS_FEW,
              "image", "short-range face detector (face_detection_short_range.tflite)"),
    GoldenSet("face_detection_full", "face_detection", "mp.solutions.face_detection.FaceDetection",
              {"model_selection": 1, "min_detection_confidence": 0.5}, FACES + GROUPS + EXPRESSIONS_FEW,
              "image", "full-range face detector (wheel's face_detection_full_range_sparse.tflite)"),
    GoldenSet("face_mesh", "face_mesh", "mp.solutions.face_mesh.FaceMesh",
              {"static_image_mode": True, "max_num_faces": 5, "refine_landmarks": False,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              FACES + GROUPS, "image", "468-point face mesh, static images"),
    GoldenSet("face_mesh_refined", "face_mesh", "mp.solutions.face_mesh.FaceMesh",
              {"static_image_mode": True, "max_num_faces": 5, "refine_landmarks": True,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              FACES + GROUPS, "image", "478-point face mesh (attention model), static images"),
    GoldenSet("face_mesh_video", "face_mesh", "mp.solutions.face_mesh.FaceMesh",
              {"static_image_mode": False, "max_num_faces": 1, "refine_landmarks": False,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              ["videos/pyfeat_single_face.mp4"], "video", "face mesh tracking, first 60 frames"),
    GoldenSet("face_landmarker", "face_landmarker", "mediapipe.tasks.python.vision.FaceLandmarker",
              {"model_asset_path": "models/face_landmarker.task", "running_mode": "IMAGE",
               "num_faces": 5, "output_face_blendshapes": True,
               "output_facial_transformation_matrixes": True},
              FACES + GROUPS + EXPRESSIONS, "image", "Tasks FaceLandmarker, IMAGE mode"),
    GoldenSet("face_landmarker_video", "face_landmarker", "mediapipe.tasks.python.vision.FaceLandmarker",
              {"model_asset_path": "models/face_landmarker.task", "running_mode": "VIDEO",
               "num_faces": 1, "output_face_blendshapes": True,
               "output_facial_transformation_matrixes": True},
              ["videos/lp_d12_talking.mp4"], "video",
              "Tasks FaceLandmarker, VIDEO mode (landmark smoothing on), first 60 frames, "
              "detect_for_video(image, timestamps_ms[i])"),
    GoldenSet("hands_full", "hands", "mp.solutions.hands.Hands",
              {"static_image_mode": True, "max_num_hands": 2, "model_complexity": 1,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              HANDS + ["pose/tfjs_posenet_tennis_standing.jpg", "pose/yolov5_bus.jpg"], "image",
              "hands, full models (palm_detection_full + hand_landmark_full)"),
    GoldenSet("hands_lite", "hands", "mp.solutions.hands.Hands",
              {"static_image_mode": True, "max_num_hands": 2, "model_complexity": 0,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              HANDS + ["pose/tfjs_posenet_tennis_standing.jpg", "pose/yolov5_bus.jpg"], "image",
              "hands, lite models (palm_detection_lite + hand_landmark_lite)"),
    GoldenSet("hands_video", "hands", "mp.solutions.hands.Hands",
              {"static_image_mode": False, "max_num_hands": 2, "model_complexity": 1,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              ["videos/tfjs_asl_hand.mp4"], "video", "hand tracking, first 60 frames"),
    GoldenSet("pose", "pose", "mp.solutions.pose.Pose",
              {"static_image_mode": True, "model_complexity": 1, "smooth_landmarks": True,
               "enable_segmentation": True, "smooth_segmentation": True,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              POSE, "image", "pose full model with segmentation, static images"),
    GoldenSet("pose_lite", "pose", "mp.solutions.pose.Pose",
              {"static_image_mode": True, "model_complexity": 0, "smooth_landmarks": True,
               "enable_segmentation": True, "smooth_segmentation": True,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              POSE_LITE, "image", "pose lite model (pose_landmark_lite.tflite copied into the wheel), "
              "with segmentation"),
    GoldenSet("pose_video", "pose", "mp.solutions.pose.Pose",
              {"static_image_mode": False, "model_complexity": 1, "smooth_landmarks": True,
               "enable_segmentation": True, "smooth_segmentation": True,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              ["videos/tfjs_pose_squats.mp4"], "video",
              "pose tracking with landmark + segmentation smoothing, first 60 frames, "
              f"masks every {POSE_VIDEO_MASK_EVERY}th frame"),
    GoldenSet("holistic", "holistic", "mp.solutions.holistic.Holistic",
              {"static_image_mode": True, "model_complexity": 1, "smooth_landmarks": True,
               "enable_segmentation": False, "smooth_segmentation": True,
               "refine_face_landmarks": False,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              HOLISTIC, "image", "holistic, static images"),
    GoldenSet("holistic_video", "holistic", "mp.solutions.holistic.Holistic",
              {"static_image_mode": False, "model_complexity": 1, "smooth_landmarks": True,
               "enable_segmentation": False, "smooth_segmentation": True,
               "refine_face_landmarks": False,
               "min_detection_confidence": 0.5, "min_tracking_confidence": 0.5},
              ["videos/tfjs_pose_1.mp4"], "video", "holistic tracking, first 30 frames"),
    GoldenSet("selfie_segmentation", "selfie_segmentation",
              "mp.solutions.selfie_segmentation.SelfieSegmentation", {"model_selection": 0},
              SELFIE, "image", "general model, 256x256"),
    GoldenSet("selfie_segmentation_landscape", "selfie_segmentation",
              "mp.solutions.selfie_segmentation.SelfieSegmentation", {"model_selection": 1},
              SELFIE, "image", "landscape model, 256x144"),
]
VIDEO_FRAMES = {"holistic_video": 30}


# --------------------------------------------------------------------------
# Running


def file_name(input_rel: str) -> str:
    return input_rel.replace("/", "__") + ".npz"


def ensure_pose_lite(shared: Path) -> None:
    """mediapipe 0.10.21 downloads pose_landmark_lite at runtime; install the shared copy instead."""
    import mediapipe

    dest = Path(mediapipe.__file__).parent / "modules" / "pose_landmark" / "pose_landmark_lite.tflite"
    src = shared / "models" / "pose_landmark_lite.tflite"
    if dest.exists() and sha256_file(dest) == POSE_LITE_SHA256:
        return
    if sha256_file(src) != POSE_LITE_SHA256:
        raise SystemExit(f"{src}: sha256 mismatch, expected {POSE_LITE_SHA256}")
    shutil.copyfile(src, dest)
    print(f"installed {src} -> {dest}", file=sys.stderr)


def build_legacy(gs: GoldenSet) -> Any:
    import mediapipe as mp

    ctor = {
        "face_detection": mp.solutions.face_detection.FaceDetection,
        "face_mesh": mp.solutions.face_mesh.FaceMesh,
        "hands": mp.solutions.hands.Hands,
        "pose": mp.solutions.pose.Pose,
        "holistic": mp.solutions.holistic.Holistic,
        "selfie_segmentation": mp.solutions.selfie_segmentation.SelfieSegmentation,
    }[gs.solution]
    return ctor(**gs.options)


def build_landmarker(gs: GoldenSet, shared: Path) -> Any:
    from mediapipe.tasks.python import BaseOptions, vision

    o = dict(gs.options)
    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(shared / o.pop("model_asset_path"))),
        running_mode=getattr(vision.RunningMode, o.pop("running_mode")),
        **o,
    )
    return vision.FaceLandmarker.create_from_options(opts)


_NAMES_CACHE: list[str] = []


def blendshape_names(shared: Path) -> np.ndarray:
    """Category names in index order, read from a result on a known single-face image.

    Stored in every face_landmarker file, including those with no face.
    """
    if not _NAMES_CACHE:
        import mediapipe as mp

        gs = next(g for g in SETS if g.name == "face_landmarker")
        rgb = read_image_rgb(shared / "testdata" / "faces" / "mp_sergey.png")
        with build_landmarker(gs, shared) as lm:
            res = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
        names = conv_landmarker(res).get("_names")
        if names is None or len(names) != 52:
            raise RuntimeError("could not read the 52 blendshape names")
        _NAMES_CACHE.extend(names.tolist())
    return np.asarray(_NAMES_CACHE)


def converter(gs: GoldenSet, h: int, w: int, input_rel: str) -> Callable[[Any], dict[str, np.ndarray]]:
    if gs.solution == "face_detection":
        return conv_face_detection
    if gs.solution == "face_mesh":
        return make_face_mesh_conv(478 if gs.options["refine_landmarks"] else 468)
    if gs.solution == "hands":
        return conv_hands
    if gs.solution == "pose":
        return make_pose_conv(h, w)
    if gs.solution == "holistic":
        return conv_holistic
    if gs.solution == "selfie_segmentation":
        keep = input_rel in SELFIE_FLOAT_INPUTS
        return lambda res: conv_selfie(res, keep)
    if gs.solution == "face_landmarker":
        return conv_landmarker
    raise ValueError(gs.solution)


def arrays_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def run_image(gs: GoldenSet, shared: Path, input_rel: str) -> tuple[dict[str, np.ndarray], list[float]]:
    import mediapipe as mp

    rgb = read_image_rgb(shared / "testdata" / input_rel)
    h, w = rgb.shape[:2]
    conv = converter(gs, h, w, input_rel)
    results, times = [], []
    # A fresh solution per image so no image can influence another (static mode
    # should be stateless anyway; this makes it certain).
    if gs.solution == "face_landmarker":
        runner = build_landmarker(gs, shared)
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        call = lambda: runner.detect(mp_image)  # noqa: E731
    else:
        runner = build_legacy(gs)
        call = lambda: runner.process(rgb)  # noqa: E731
    try:
        for _ in range(IMAGE_REPEATS):
            t0 = time.perf_counter()
            res = call()
            times.append((time.perf_counter() - t0) * 1000.0)
            results.append(conv(res))
    finally:
        runner.close()
    # Holistic reuses the previous call's face/hand ROIs even in static mode
    # (reference 7.3), so only its first call on a fresh instance is the
    # "static" answer; that is what is stored, for every set.
    identical = all(arrays_equal(results[0], other) for other in results[1:])
    if not identical and gs.solution != "holistic":
        print(f"WARNING {gs.name} {input_rel}: repeated calls differ", file=sys.stderr)
    arrays = results[0]
    if gs.solution == "face_landmarker":
        arrays.pop("_names", None)
        arrays["blendshape_names"] = blendshape_names(shared)
    arrays["image_size"] = np.asarray([w, h], np.int32)
    meta = {"pixels_sha256": pixels_sha256(rgb), "image_size": [w, h], "frames": 1,
            "stored_call": "first call on a fresh instance",
            "repeat_calls_identical": identical}
    return arrays | {"__meta__": meta}, times  # type: ignore[operator]


def stack_video(
    gs: GoldenSet, shared: Path, per_frame: list[dict[str, np.ndarray]], h: int, w: int
) -> dict[str, np.ndarray]:
    f = len(per_frame)
    out: dict[str, np.ndarray] = {}
    if gs.solution == "face_mesh":
        lm = np.zeros((f, 1, 468, 3), np.float32)
        present = np.zeros(f, bool)
        for i, r in enumerate(per_frame):
            n = len(r["landmarks"])
            present[i] = n > 0
            lm[i, :n] = r["landmarks"][:1]
        out |= {"landmarks": lm, "present": present}
    elif gs.solution == "face_landmarker":
        lm = np.zeros((f, 1, 478, 3), np.float32)
        bs = np.zeros((f, 1, 52), np.float32)
        mats = np.zeros((f, 1, 4, 4), np.float32)
        present = np.zeros(f, bool)
        for i, r in enumerate(per_frame):
            n = len(r["landmarks"])
            present[i] = n > 0
            lm[i, :n] = r["landmarks"][:1]
            bs[i, :n] = r["blendshapes"][:1]
            mats[i, :n] = r["transformation_matrices"][:1]
        out["blendshape_names"] = blendshape_names(shared)
        out |= {"landmarks": lm, "blendshapes": bs, "transformation_matrices": mats, "present": present}
    elif gs.solution == "hands":
        lm = np.zeros((f, 2, 21, 3), np.float32)
        wl = np.zeros((f, 2, 21, 3), np.float32)
        idx = np.full((f, 2), -1, np.int32)
        lab = np.full((f, 2), "", "<U5")
        sc = np.zeros((f, 2), np.float32)
        num = np.zeros(f, np.int32)
        for i, r in enumerate(per_frame):
            n = len(r["landmarks"])
            num[i] = n
            lm[i, :n], wl[i, :n] = r["landmarks"], r["world_landmarks"]
            idx[i, :n] = r["handedness_index"]
            lab[i, :n] = r["handedness_label"]
            sc[i, :n] = r["handedness_score"]
        out |= {"landmarks": lm, "world_landmarks": wl, "handedness_index": idx,
                "handedness_label": lab, "handedness_score": sc, "num_hands": num}
    elif gs.solution == "pose":
        lm = np.zeros((f, 33, 4), np.float32)
        wl = np.zeros((f, 33, 4), np.float32)
        present = np.zeros(f, bool)
        mask_frames = np.arange(0, f, POSE_VIDEO_MASK_EVERY, dtype=np.int32)
        masks = np.zeros((len(mask_frames), h, w), np.uint8)
        mask_present = np.zeros(len(mask_frames), bool)
        for i, r in enumerate(per_frame):
            present[i] = len(r["landmarks"]) > 0
            if present[i]:
                lm[i], wl[i] = r["landmarks"][0], r["world_landmarks"][0]
        for j, i in enumerate(mask_frames):
            m = per_frame[i]["segmentation_mask_u8"]
            mask_present[j] = len(m) > 0
            if len(m):
                masks[j] = m[0]
        out |= {"landmarks": lm, "world_landmarks": wl, "present": present,
                "mask_frames": mask_frames, "segmentation_mask_u8": masks, "mask_present": mask_present}
    elif gs.solution == "holistic":
        for key in per_frame[0]:
            out[key] = np.stack([r[key] for r in per_frame])
    else:
        raise ValueError(gs.solution)
    return out


def run_video(gs: GoldenSet, shared: Path, input_rel: str) -> tuple[dict[str, np.ndarray], list[float]]:
    import mediapipe as mp

    max_frames = VIDEO_FRAMES.get(gs.name, MAX_VIDEO_FRAMES)
    video = read_video_rgb(shared / "testdata" / input_rel, max_frames)
    h, w = video.frames[0].shape[:2]
    conv = converter(gs, h, w, input_rel)
    per_frame, times = [], []
    if gs.solution == "face_landmarker":
        runner = build_landmarker(gs, shared)
        call = lambda rgb, ts: runner.detect_for_video(  # noqa: E731
            mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), int(ts))
    else:
        runner = build_legacy(gs)
        call = lambda rgb, ts: runner.process(rgb)  # noqa: E731
    try:
        for rgb, ts in zip(video.frames, video.timestamps_ms, strict=True):
            t0 = time.perf_counter()
            res = call(rgb, ts)
            times.append((time.perf_counter() - t0) * 1000.0)
            per_frame.append(conv(res))
    finally:
        runner.close()
    arrays = stack_video(gs, shared, per_frame, h, w)
    arrays["timestamps_ms"] = video.timestamps_ms
    arrays["image_size"] = np.asarray([w, h], np.int32)
    meta = {
        "image_size": [w, h], "frames": len(video.frames),
        "timestamps_ms": video.timestamps_ms.tolist(),
        "frame_pixels_sha256_16": [pixels_sha256(fr)[:16] for fr in video.frames],
    }
    return arrays | {"__meta__": meta}, times  # type: ignore[operator]


def summarize(gs: GoldenSet, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Small human-readable facts about what MediaPipe found."""
    if gs.kind == "video":
        if gs.solution == "holistic":
            return {f"frames_with_{k}": int(arrays[k].sum()) for k in arrays if k.endswith("_present")}
        for key in ("present", "num_hands"):
            if key in arrays:
                v = arrays[key].astype(int)
                return {f"frames_with_{key}": int((v > 0).sum()), f"{key}_per_frame": v.tolist()}
        return {}
    if gs.solution == "holistic":
        return {k: bool(arrays[k]) for k in arrays if k.endswith("_present")}
    if gs.solution == "selfie_segmentation":
        bits = arrays["mask_bits"]
        w = int(arrays["image_size"][0])
        return {"foreground_fraction": round(float(np.unpackbits(bits, axis=-1, count=w).mean()), 4)}
    n = len(arrays["landmarks"]) if "landmarks" in arrays else len(arrays["boxes"])
    out: dict[str, Any] = {"count": n}
    if gs.solution == "hands":
        out["handedness"] = arrays["handedness_label"].tolist()
    return out


def array_doc(key: str, arr: np.ndarray) -> dict[str, Any]:
    return {"shape": list(arr.shape), "dtype": str(arr.dtype), "meaning": KEYS_DOC.get(key, "")}


def generate_set(gs: GoldenSet, shared: Path, out: Path, mp_version: str) -> dict[str, Any]:
    set_dir = out / gs.name
    entries: dict[str, Any] = {}
    all_times: list[float] = []
    for input_rel in gs.inputs:
        t0 = time.perf_counter()
        run = run_video if gs.kind == "video" else run_image
        arrays, times = run(gs, shared, input_rel)
        meta = arrays.pop("__meta__")
        rel = f"{gs.name}/{file_name(input_rel)}"
        write_npz(out / rel, arrays)
        all_times.extend(times)
        summary = summarize(gs, arrays)
        entries[rel] = {
            "set": gs.name,
            "solution": gs.solution,
            "api": gs.api,
            "options": gs.options,
            "kind": gs.kind,
            "input": input_rel,
            "input_sha256": sha256_file(shared / "testdata" / input_rel),
            **meta,
            "arrays": {k: array_doc(k, v) for k, v in sorted(arrays.items())},
            "found": summary,
            "median_ms": round(statistics.median(times), 2),
            "mediapipe_version": mp_version,
        }
        print(f"  {rel}: {summary if gs.kind == 'image' else {'frames': meta['frames']}} "
              f"median {statistics.median(times):.1f} ms ({time.perf_counter() - t0:.1f} s)",
              file=sys.stderr)
    # Drop files of this set that no longer correspond to an input.
    if set_dir.is_dir():
        keep = {Path(r).name for r in entries}
        for p in set_dir.glob("*.npz"):
            if p.name not in keep:
                p.unlink()
    return {"entries": entries, "median_ms": round(statistics.median(all_times), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--shared", type=Path, required=True, help="shared dir holding testdata/ and models/")
    ap.add_argument("--out", type=Path, default=Path("tests/goldens"), help="output directory")
    ap.add_argument("--only", default="", help="comma-separated set or solution names "
                    f"(sets: {', '.join(g.name for g in SETS)})")
    args = ap.parse_args(argv)

    import mediapipe

    shared: Path = args.shared.resolve()
    out: Path = args.out
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    known = {g.name for g in SETS} | {g.solution for g in SETS}
    if wanted - known:
        ap.error(f"unknown set/solution: {', '.join(sorted(wanted - known))}")
    selected = [g for g in SETS if not wanted or g.name in wanted or g.solution in wanted]

    manifest_path = out / "MANIFEST.json"
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    old_files: dict[str, Any] = manifest.get("files", {})
    old_sets: dict[str, Any] = manifest.get("sets", {})

    if any(g.name == "pose_lite" for g in selected):
        ensure_pose_lite(shared)

    t_all = time.perf_counter()
    new_sets: dict[str, Any] = {}
    new_files: dict[str, Any] = {}
    for gs in selected:
        print(f"[{gs.name}] {gs.api}({gs.options}) on {len(gs.inputs)} input(s)", file=sys.stderr)
        res = generate_set(gs, shared, out, mediapipe.__version__)
        new_sets[gs.name] = {
            "solution": gs.solution, "api": gs.api, "options": gs.options, "kind": gs.kind,
            "description": gs.description, "files": sorted(res["entries"]),
            "median_ms": res["median_ms"],
        }
        new_files.update(res["entries"])

    done = {g.name for g in selected}
    sets = {k: v for k, v in old_sets.items() if k not in done} | new_sets
    files = {k: v for k, v in old_files.items() if v.get("set") not in done} | new_files
    set_order = [g.name for g in SETS]
    sets = {k: sets[k] for k in sorted(sets, key=lambda s: (set_order.index(s) if s in set_order else 99, s))}
    files = {k: files[k] for k in sorted(files)}
    manifest = {
        "format_version": FORMAT_VERSION,
        "generator": "tools/make_goldens.py (see tools/README.md)",
        "mediapipe_version": mediapipe.__version__,
        "input_root": "inputs are relative to <shared>/testdata; "
                      "model paths in options are relative to <shared>",
        "input_reading": "images: Pillow, ImageOps.exif_transpose, convert('RGB') "
                         "(alpha dropped, grey replicated), uint8; videos: PyAV "
                         "container.decode(video=0), frame.to_ndarray(format='rgb24'), "
                         "no rotation metadata applied",
        "median_ms_note": "wall time of one MediaPipe call (process/detect) on this machine: "
                          f"images median of {IMAGE_REPEATS} calls, videos median over frames; "
                          "context only, not a benchmark",
        "keys": KEYS_DOC,
        "sets": sets,
        "files": files,
    }
    write_json_atomic(manifest_path, manifest)
    print(f"done: {len(new_files)} file(s) in {time.perf_counter() - t_all:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
