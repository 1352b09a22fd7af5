# Tasks FaceLandmarker in VIDEO mode over a file (the usual OpenCV loop with detect_for_video).
import os
import sys

import cv2
import mediapipe as mp

BaseOptions = mp.tasks.BaseOptions
FaceLandmarker = mp.tasks.vision.FaceLandmarker
FaceLandmarkerOptions = mp.tasks.vision.FaceLandmarkerOptions
VisionRunningMode = mp.tasks.vision.RunningMode

SHARED = os.environ.get("FACEPIPE_SHARED", "../shared")
OUT = sys.argv[1] if len(sys.argv) > 1 else "."

options = FaceLandmarkerOptions(
    base_options=BaseOptions(model_asset_path=os.path.join(SHARED, "models", "face_landmarker.task")),
    running_mode=VisionRunningMode.VIDEO,
    output_face_blendshapes=True)

cap = cv2.VideoCapture(os.path.join(SHARED, "testdata", "videos", "sadtalker_aoc_talking.mp4"))
fps = cap.get(cv2.CAP_PROP_FPS)
with FaceLandmarker.create_from_options(options) as landmarker:
    frame_index = 0
    while frame_index < 30:
        ok, frame = cap.read()
        if not ok:
            break
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        timestamp_ms = int(frame_index * 1000 / fps)
        result = landmarker.detect_for_video(mp_image, timestamp_ms)
        if result.face_landmarks:
            top = sorted(result.face_blendshapes[0], key=lambda c: c.score, reverse=True)[:3]
            lm = result.face_landmarks[0]
            print(frame_index, timestamp_ms, f"{lm[13].x:.5f} {lm[13].y:.5f}",
                  ", ".join(f"{c.category_name}={c.score:.3f}" for c in top))
            if frame_index % 10 == 9:
                h, w = frame.shape[:2]
                for p in lm:
                    cv2.circle(frame, (int(p.x * w), int(p.y * h)), 1, (0, 255, 0), -1)
                cv2.imwrite(os.path.join(OUT, f"frame{frame_index}.png"), frame)
        frame_index += 1
cap.release()
