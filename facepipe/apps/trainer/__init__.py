"""Train your own landmarks -> ARKit blendshapes regressor (`facepipe train`).

- `dataset`: the seed layout (sets.txt, NAME/neutral.jpg, NAME/NAME.csv, NAME/NAME_000000.jpg...), checked,
  and the landmark cache beside it;
- `make_dataset`: footage -> a dataset folder, labelled by the Tasks blendshape model or a Live Link Face CSV;
- `samples`: folders -> feature offsets from each person's neutral, labels, head yaw;
- `trainer` (PyTorch, optional extra `train`), `export` (ONNX), `evaluation`, `run` (the CLI's jobs).

The trained model runs without PyTorch: facepipe.solutions.blendshape_regressor.BlendshapeRegressor.
"""
