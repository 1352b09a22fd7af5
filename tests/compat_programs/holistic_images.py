# MediaPipe docs, "Holistic" Python solution API, static images (segmentation and refined face on).
import os
import sys

import cv2
import mediapipe as mp
import numpy as np

mp_drawing = mp.solutions.drawing_utils
mp_drawing_styles = mp.solutions.drawing_styles
mp_holistic = mp.solutions.holistic

SHARED = os.environ.get("FACEPIPE_SHARED", "../shared")
IMAGE_FILES = [os.path.join(SHARED, "testdata", p) for p in
               ("pose/tfjs_posenet_tennis_standing.jpg", "pose/coco_000000196141.jpg")]
OUT = sys.argv[1] if len(sys.argv) > 1 else "."

BG_COLOR = (192, 192, 192)  # gray

with mp_holistic.Holistic(
        static_image_mode=True,
        model_complexity=1,
        enable_segmentation=True,
        refine_face_landmarks=True) as holistic:
    for idx, file in enumerate(IMAGE_FILES):
        image = cv2.imread(file)
        image_height, image_width, _ = image.shape
        # Convert the BGR image to RGB before processing.
        results = holistic.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))

        if results.pose_landmarks:
            print(
                f'Nose coordinates: ('
                f'{results.pose_landmarks.landmark[mp_holistic.PoseLandmark.NOSE].x * image_width}, '
                f'{results.pose_landmarks.landmark[mp_holistic.PoseLandmark.NOSE].y * image_height})'
            )
        print('face:', results.face_landmarks is not None, 'left hand:', results.left_hand_landmarks is not None,
              'right hand:', results.right_hand_landmarks is not None)

        annotated_image = image.copy()
        # Draw segmentation on the image.
        # To improve segmentation around boundaries, consider applying a joint
        # bilateral filter to "results.segmentation_mask" with "image".
        if results.segmentation_mask is not None:
            condition = np.stack((results.segmentation_mask,) * 3, axis=-1) > 0.1
            bg_image = np.zeros(image.shape, dtype=np.uint8)
            bg_image[:] = BG_COLOR
            annotated_image = np.where(condition, annotated_image, bg_image)
        # Draw pose, left and right hands, and face landmarks on the image.
        mp_drawing.draw_landmarks(
            annotated_image,
            results.face_landmarks,
            mp_holistic.FACEMESH_TESSELATION,
            landmark_drawing_spec=None,
            connection_drawing_spec=mp_drawing_styles
            .get_default_face_mesh_tesselation_style())
        mp_drawing.draw_landmarks(
            annotated_image,
            results.pose_landmarks,
            mp_holistic.POSE_CONNECTIONS,
            landmark_drawing_spec=mp_drawing_styles.
            get_default_pose_landmarks_style())
        mp_drawing.draw_landmarks(annotated_image, results.left_hand_landmarks, mp_holistic.HAND_CONNECTIONS)
        mp_drawing.draw_landmarks(annotated_image, results.right_hand_landmarks, mp_holistic.HAND_CONNECTIONS)
        cv2.imwrite(os.path.join(OUT, 'annotated_image' + str(idx) + '.png'), annotated_image)
        if results.pose_world_landmarks:
            print('world hip:', results.pose_world_landmarks.landmark[mp_holistic.PoseLandmark.LEFT_HIP])
