# Sourced by the test scripts (from the repository root): the interpreter, the shared data
# (../shared unless FACEPIPE_SHARED says otherwise) and the model path the tests search.
PY=${PYTHON:-python3}
SHARED=${FACEPIPE_SHARED:-$(cd .. && pwd)/shared}
export FACEPIPE_SHARED="$SHARED"
export FACEPIPE_MODEL_PATH="${FACEPIPE_MODEL_PATH:+$FACEPIPE_MODEL_PATH:}$SHARED/models"
