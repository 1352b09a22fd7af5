# MediaPipe docs, "Selfie Segmentation" Python solution API, static images.
import os
import sys

import cv2
import mediapipe as mp
import numpy as np

mp_drawing = mp.solutions.drawing_utils
mp_selfie_segmentation = mp.solutions.selfie_segmentation

SHARED = os.environ.get("FACEPIPE_SHARED", "../shared")
IMAGE_FILES = [os.path.join(SHARED, "testdata", p) for p in ("faces/pyfeat_single_face.jpg", "pose/yolov5_bus.jpg")]
OUT = sys.argv[1] if len(sys.argv) > 1 else "."

BG_COLOR = (192, 192, 192)  # gray
MASK_COLOR = (255, 255, 255)  # white
with mp_selfie_segmentation.SelfieSegmentation(model_selection=0) as selfie_segmentation:
    for idx, file in enumerate(IMAGE_FILES):
        image = cv2.imread(file)
        image_height, image_width, _ = image.shape
        # Convert the BGR image to RGB before processing.
        results = selfie_segmentation.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))

        # Draw selfie segmentation on the background image.
        # To improve segmentation around boundaries, consider applying a joint
        # bilateral filter to "results.segmentation_mask" with "image".
        condition = np.stack((results.segmentation_mask,) * 3, axis=-1) > 0.1
        # Generate solid color images for showing the output selfie segmentation mask.
        fg_image = np.zeros(image.shape, dtype=np.uint8)
        fg_image[:] = MASK_COLOR
        bg_image = np.zeros(image.shape, dtype=np.uint8)
        bg_image[:] = BG_COLOR
        output_image = np.where(condition, fg_image, bg_image)
        print(file.split("testdata")[1], results.segmentation_mask.shape, results.segmentation_mask.dtype,
              f"{float((results.segmentation_mask > 0.5).mean()):.6f}")
        cv2.imwrite(os.path.join(OUT, 'selfie_segmentation_output' + str(idx) + '.png'), output_image)
