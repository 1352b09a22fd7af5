# The classic "blur every face" tutorial (short-range detector, box from the relative bounding box).
import os
import sys

import cv2
import mediapipe as mp

SHARED = os.environ.get("FACEPIPE_SHARED", "../shared")
OUT = sys.argv[1] if len(sys.argv) > 1 else "."

mp_face_detection = mp.solutions.face_detection

img = cv2.imread(os.path.join(SHARED, "testdata", "groups", "df_selfie_many_people.jpg"))
H, W, _ = img.shape

with mp_face_detection.FaceDetection(min_detection_confidence=0.5, model_selection=0) as face_detection:
    img_rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    out = face_detection.process(img_rgb)

    if out.detections is not None:
        for detection in out.detections:
            location_data = detection.location_data
            bbox = location_data.relative_bounding_box

            x1, y1, w, h = bbox.xmin, bbox.ymin, bbox.width, bbox.height

            x1 = int(x1 * W)
            y1 = int(y1 * H)
            w = int(w * W)
            h = int(h * H)
            x1, y1 = max(x1, 0), max(y1, 0)
            print(f"face at {x1},{y1} size {w}x{h} score {detection.score[0]:.4f}")

            # blur faces
            img[y1:y1 + h, x1:x1 + w, :] = cv2.blur(img[y1:y1 + h, x1:x1 + w, :], (30, 30))

cv2.imwrite(os.path.join(OUT, "output.png"), img)
