# MediaPipe docs, "Hands" webcam loop; the camera replaced by a video file, 45 frames.
import os
import sys

import cv2
import mediapipe as mp

mp_drawing = mp.solutions.drawing_utils
mp_drawing_styles = mp.solutions.drawing_styles
mp_hands = mp.solutions.hands

SHARED = os.environ.get("FACEPIPE_SHARED", "../shared")
OUT = sys.argv[1] if len(sys.argv) > 1 else "."

cap = cv2.VideoCapture(os.path.join(SHARED, "testdata", "videos", "tfjs_asl_hand.mp4"))
frame = 0
with mp_hands.Hands(
        model_complexity=0,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5) as hands:
    while cap.isOpened() and frame < 45:
        success, image = cap.read()
        if not success:
            print("Ignoring empty camera frame.")
            break
        frame += 1

        # To improve performance, optionally mark the image as not writeable to
        # pass by reference.
        image.flags.writeable = False
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        results = hands.process(image)

        # Draw the hand annotations on the image.
        image.flags.writeable = True
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if results.multi_hand_landmarks:
            for hand_landmarks, handedness in zip(results.multi_hand_landmarks, results.multi_handedness):
                tip = hand_landmarks.landmark[mp_hands.HandLandmark.INDEX_FINGER_TIP]
                print(frame, handedness.classification[0].label, f"{tip.x:.4f} {tip.y:.4f}")
                mp_drawing.draw_landmarks(
                    image,
                    hand_landmarks,
                    mp_hands.HAND_CONNECTIONS,
                    mp_drawing_styles.get_default_hand_landmarks_style(),
                    mp_drawing_styles.get_default_hand_connections_style())
        if frame % 15 == 0:
            # Flip the image horizontally for a selfie-view display.
            cv2.imwrite(os.path.join(OUT, f"frame{frame}.png"), cv2.flip(image, 1))
cap.release()
