"""Posed RGB-D scenes in the ScanNet export layout: pairs of frames with ground-truth matches by reprojection.

Layout under --root (datasets/posed-scenes/README.md; ScanNet's SensReader export writes exactly this per scene):
    <scene>/color/<frame>.jpg                 RGB frames
    <scene>/depth/<frame>.png                 uint16 depth in millimetres, 0 = unknown
    <scene>/intrinsic/intrinsic_color.txt     4x4, K of the colour frames in its top-left 3x3
    <scene>/intrinsic/intrinsic_depth.txt     optional 4x4, K of the depth frames (else intrinsic_color scaled
                                              by the depth / colour size ratio)
    <scene>/pose/<frame>.txt                  4x4 camera-to-world (OpenCV camera: x right, y down, z forward)
    pairs.txt                                 optional: lines '<scene> <frame_a> <frame_b>' ('#' comments)
Without pairs.txt every scene's frames with a finite pose, in numeric order, are paired (f_i, f_i+GAP) for
i = 0, GAP, 2 GAP, ... (frames with a non-finite pose, ScanNet's lost tracking, are left out and named in the
pair table's attrs). Matches: up to NUM_POINTS depth pixels of frame a that reproject into frame b and pass
the occlusion test against b's depth (probekit.data.poses.reproject_matches), moved to colour pixels; each
pair's relative rotation angle is stored with it. One split, `test` (the probe is zero-shot).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from probekit.data.image_files import image_hw, read_png16
from probekit.data.layout import read_list_text, require_root
from probekit.data.pair_images import PairImages, register_pair_images
from probekit.data.pairs import PairTable, pad_keypoints
from probekit.data.poses import relative_rotation_deg, reproject_matches
from probekit.errors import DatasetError

log = logging.getLogger("probekit.data")

NAME = "posed-scenes"
README = "datasets/posed-scenes/README.md"
PAIRS_FILE = "pairs.txt"
GAP = 20  # frames between the two views of a sampled pair (ScanNet exports run at 30 fps)
NUM_POINTS = 64  # ground-truth matches per pair, as the synthetic pairs
DEPTH_SCALE = 1000.0  # uint16 depth units per metre (millimetres)
_SCENE_PARTS = ("color", "depth", "pose", "intrinsic/intrinsic_color.txt")


def read_matrix(path: Path) -> np.ndarray:
    """A 4x4 matrix of finite numbers from a text file (whitespace-separated), or one DatasetError line."""
    if not path.is_file():
        raise DatasetError(f"{NAME}: {path} is missing; expected layout: {README}")
    try:
        values = [float(v) for v in read_list_text(path).split()]
    except ValueError:
        raise DatasetError(f"{NAME}: {path} is not a 4x4 matrix of numbers; expected layout: {README}") from None
    if len(values) != 16:
        raise DatasetError(f"{NAME}: {path} holds {len(values)} numbers, not a 4x4 matrix (16); layout: {README}")
    return np.array(values, dtype=np.float64).reshape(4, 4)


def _frame_key(name: str) -> tuple[int, str]:
    """Numeric order of frame names ('2' before '10'), names without digits last."""
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else 1 << 62, name)


def scene_frames(scene: Path) -> list[str]:
    """The frames of a scene: the names of its color/*.jpg, in numeric order."""
    return sorted((p.stem for p in (scene / "color").glob("*.jpg")), key=_frame_key)


def scene_folders(root: Path) -> list[Path]:
    """The scene folders under root: every directory that has a color/ folder, sorted by name."""
    return sorted(p for p in root.iterdir() if (p / "color").is_dir())


def check_layout(root: Path) -> list[str]:
    """What is missing under root ([] when complete): scene parts, and frames without depth or pose."""
    root = Path(root)
    if not root.is_dir():
        return [str(root)]
    scenes = scene_folders(root)
    if not scenes:
        return ["<scene>/color/*.jpg (no scene folder with a color/ folder)"]
    problems = [f"{s.name}/{part}" for s in scenes for part in _SCENE_PARTS if not (s / part).exists()]
    for scene in scenes:
        for frame in scene_frames(scene):
            for part in (f"depth/{frame}.png", f"pose/{frame}.txt"):
                if not (scene / part).is_file():
                    problems.append(f"{scene.name}/{part}")
    return problems


class _Scene:
    """One scene's intrinsics, read once: K of the colour and of the depth frames (the latter per depth size)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.K_color = read_matrix(folder / "intrinsic" / "intrinsic_color.txt")[:3, :3]
        depth_file = folder / "intrinsic" / "intrinsic_depth.txt"
        self.K_depth_file = read_matrix(depth_file)[:3, :3] if depth_file.is_file() else None

    def K_depth(self, depth_hw: tuple[int, int], color_hw: tuple[int, int]) -> np.ndarray:
        """K of the depth frame: intrinsic_depth.txt, else intrinsic_color scaled by the depth / colour size."""
        if self.K_depth_file is not None:
            return self.K_depth_file
        sy, sx = depth_hw[0] / color_hw[0], depth_hw[1] / color_hw[1]
        scaled: np.ndarray = np.diag([sx, sy, 1.0]) @ self.K_color
        return scaled


def depth_to_color(xy: np.ndarray, K_depth: np.ndarray, K_color: np.ndarray) -> np.ndarray:
    """(N, 2) depth-frame pixels -> colour-frame pixels of the same ray (registered depth and colour)."""
    homog = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)  # (N, 3)
    moved: np.ndarray = (homog @ np.linalg.inv(K_depth).T @ K_color.T)[:, :2]
    return moved.astype(np.float32)


def read_pair_list(listing: Path) -> list[tuple[str, str, str]]:
    """(scene, frame_a, frame_b) per line of pairs.txt. Each is one folder or file name, never a path (no
    separator, '.' or '..'), so a listed name can only reach a file under root (<scene>/<part>/<frame>)."""
    pairs = []
    for n, line in enumerate(read_list_text(listing).splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) != 3:
            raise DatasetError(f"{listing}:{n}: want '<scene> <frame_a> <frame_b>', got {text!r}")
        for name in fields:
            if "/" in name or "\\" in name or name in (".", ".."):
                raise DatasetError(
                    f"{listing}:{n}: {name!r} is a path, not a scene or frame name; list names under the root"
                )
        scene, frame_a, frame_b = fields
        pairs.append((scene, frame_a, frame_b))
    if not pairs:
        raise DatasetError(f"{listing} lists no pairs; expected layout: {README}")
    return pairs


def sample_pairs(root: Path, gap: int) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(scene, frame_i, frame_i+gap) for every scene, and the frames left out for a non-finite pose."""
    pairs, skipped = [], []
    for scene in scene_folders(root):
        frames = []
        for frame in scene_frames(scene):
            if np.isfinite(read_matrix(scene / "pose" / f"{frame}.txt")).all():
                frames.append(frame)
            else:
                skipped.append(f"{scene.name}/{frame}")
        pairs += [(scene.name, frames[i], frames[i + gap]) for i in range(0, len(frames) - gap, gap)]
    if skipped:
        log.warning(
            "%s: %d frames have a non-finite pose and are not paired (first: %s)", NAME, len(skipped), skipped[0]
        )
    if not pairs:
        raise DatasetError(
            f"{NAME}: no scene under {root} has {gap + 1} frames with poses to pair, and there is no {PAIRS_FILE}; "
            f"expected layout: {README}"
        )
    return pairs, skipped


class PosedScenes(PairImages):
    """Pairs of frames of posed RGB-D scenes, fitted to `image_size` (stretched: every pixel kept)."""

    name, splits, split_aliases = NAME, ("test",), {}

    def __init__(self, root: str | Path | None, split: str, image_size: tuple[int, int], fit: str = "stretch"):
        self._set_options(split, image_size, fit)
        self.root = require_root(root, NAME, README)
        self.image_dir = self.root
        listing = self.root / PAIRS_FILE
        skipped: list[str] = []
        if listing.is_file():
            pairs, source = read_pair_list(listing), PAIRS_FILE
        else:
            (pairs, skipped), source = sample_pairs(self.root, GAP), f"every {GAP} frames"
        self.images = sorted({f"{s}/color/{f}.jpg" for s, a, b in pairs for f in (a, b)})
        self.pair_table = self._table(pairs, source, skipped)

    def _table(self, pairs: list[tuple[str, str, str]], source: str, skipped: list[str]) -> PairTable:
        position = {name: i for i, name in enumerate(self.images)}
        scenes: dict[str, _Scene] = {}
        src_kps, trg_kps, angles, sizes = [], [], [], []
        for row, (scene, frame_a, frame_b) in enumerate(pairs):
            if scene not in scenes:
                scenes[scene] = _Scene(self.root / scene)
            views = [self._view(scenes[scene], frame) for frame in (frame_a, frame_b)]
            (depth_a, K_a, pose_a, hw_a), (depth_b, K_b, pose_b, _) = views
            rng = np.random.default_rng(row)  # the matches of pair `row`, the same on every read
            points_a, points_b = reproject_matches(depth_a, K_a, pose_a, depth_b, K_b, pose_b, NUM_POINTS, rng)
            K_color = scenes[scene].K_color
            src_kps.append(depth_to_color(points_a, K_a, K_color))
            trg_kps.append(depth_to_color(points_b, K_b, K_color))
            angles.append(relative_rotation_deg(pose_a, pose_b))
            sizes.append(hw_a)
        boxes = np.array([[0, 0, w, h] for h, w in sizes], dtype=np.float32)  # frames of a scene share a size
        return PairTable(
            ids=[f"{s}/{a}-{b}" for s, a, b in pairs],
            src=np.array([position[f"{s}/color/{a}.jpg"] for s, a, _ in pairs], dtype=np.int64),
            trg=np.array([position[f"{s}/color/{b}.jpg"] for s, _, b in pairs], dtype=np.int64),
            src_kps=pad_keypoints(src_kps),
            trg_kps=pad_keypoints(trg_kps),
            src_bbox=boxes,
            trg_bbox=boxes.copy(),
            categories=[s for s, _, _ in pairs],
            pck_reference="image",
            attrs={
                "pair_list": source,
                "keypoints": "depth pixels of view a reprojected into view b, occlusion-tested, in colour pixels",
                "coordinates": "original colour pixels (x right, y down)",
                **({"unposed_frames": skipped} if skipped else {}),
            },
            rotation_deg=np.array(angles, dtype=np.float32),
        )

    def _view(self, scene: _Scene, frame: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
        """Frame's depth in metres (H, W), K of its depth frame, camera-to-world pose and colour (H, W)."""
        color = scene.folder / "color" / f"{frame}.jpg"
        if not color.is_file():
            raise DatasetError(f"{NAME}: {color} is missing; expected layout: {README}")
        depth_file = scene.folder / "depth" / f"{frame}.png"
        if not depth_file.is_file():
            raise DatasetError(f"{NAME}: {depth_file} is missing; expected layout: {README}")
        pose = read_matrix(scene.folder / "pose" / f"{frame}.txt")
        if not np.isfinite(pose).all():
            raise DatasetError(
                f"{NAME}: {scene.folder / 'pose' / f'{frame}.txt'} is not finite (lost tracking): "
                f"drop this frame's pairs from {PAIRS_FILE}"
            )
        depth = read_png16(depth_file).astype(np.float64) / DEPTH_SCALE  # (H, W) metres, 0 = unknown
        color_hw = image_hw(color, NAME)
        return depth, scene.K_depth(depth.shape, color_hw), pose, color_hw


register_pair_images(
    PosedScenes,
    readme=README,
    check_layout=check_layout,
    description="posed RGB-D scenes (ScanNet export layout): frame pairs, matches by reprojection, rotation angles",
    tasks=("multiview", "correspondence"),
)
