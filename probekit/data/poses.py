"""Two posed views of one scene: their relative rotation, and ground-truth matches by reprojection.

Cameras are pinhole (K: (3, 3) intrinsics in pixels, the centre of pixel (row i, col j) at (j + 0.5, i + 0.5))
with 4x4 camera-to-world poses of the OpenCV camera frame (x right, y down, z forward), as ScanNet exports
and the synthetic renderer (probekit.data.scenes.geometry.Camera) write them. Depth is z-depth; 0 = unknown.
"""

from __future__ import annotations

import math

import numpy as np

MATCH_REL_TOL = 0.02  # occlusion test: the reprojected z must agree with view b's depth within 2% (as the renderer's)


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Geodesic angle (degrees, 0..180) of a 3x3 rotation: arccos((trace - 1) / 2), clamped (Probe3D's
    so3_rotation_angle, mbanani/probe3d evals/utils/transformations.py)."""
    cos = (float(np.trace(rotation[:3, :3])) - 1.0) / 2.0
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def relative_rotation_deg(cam_to_world_a: np.ndarray, cam_to_world_b: np.ndarray) -> float:
    """Geodesic angle of the rotation taking camera a's frame to camera b's: R_b^T R_a."""
    return rotation_angle_deg(cam_to_world_b[:3, :3].T @ cam_to_world_a[:3, :3])


def unproject(xy: np.ndarray, depth: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray) -> np.ndarray:
    """Pixel xy (N, 2) with z-depth (N,) -> world points (N, 3)."""
    homog = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)  # (N, 3)
    p_cam = (homog @ np.linalg.inv(K).T) * depth[:, None]  # (N, 3), z = depth
    world: np.ndarray = p_cam @ cam_to_world[:3, :3].T + cam_to_world[:3, 3]
    return world


def project(points: np.ndarray, K: np.ndarray, cam_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> pixel xy (N, 2) and z-depth (N,); xy is meaningless where z <= 0."""
    p_cam = (points - cam_to_world[:3, 3]) @ cam_to_world[:3, :3]  # (N, 3) = R^T (p - t)
    z = p_cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = (p_cam @ K.T)[:, :2] / z[:, None]
    return xy, z


def reproject_matches(
    depth_a: np.ndarray,
    K_a: np.ndarray,
    pose_a: np.ndarray,
    depth_b: np.ndarray,
    K_b: np.ndarray,
    pose_b: np.ndarray,
    num_points: int,
    rng: np.random.Generator,
    rel_tol: float = MATCH_REL_TOL,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to `num_points` ground-truth matches a -> b, (M, 2) float32 pixel xy in each view's depth frame.

    Every pixel centre of view a with a depth is unprojected, moved into view b and projected; it is a match
    when it lands inside view b in front of the camera and view b's depth at that pixel agrees with its z
    within `rel_tol` (else something in b occludes it). The matches are a seeded random sample of those.
    """
    h_b, w_b = depth_b.shape
    rows, cols = np.nonzero(depth_a > 0)
    xy_a = np.stack([cols + 0.5, rows + 0.5], axis=1)  # (N, 2) pixel centres
    xy_b, z_b = project(unproject(xy_a, depth_a[rows, cols].astype(np.float64), K_a, pose_a), K_b, pose_b)
    xy_b = xy_b.astype(np.float32)  # test the coordinates that are returned
    with np.errstate(invalid="ignore"):
        inside = (z_b > 0) & (xy_b[:, 0] >= 0) & (xy_b[:, 0] < w_b) & (xy_b[:, 1] >= 0) & (xy_b[:, 1] < h_b)
    rb = np.clip(np.floor(np.nan_to_num(xy_b[:, 1])), 0, h_b - 1).astype(int)
    cb = np.clip(np.floor(np.nan_to_num(xy_b[:, 0])), 0, w_b - 1).astype(int)
    seen = depth_b[rb, cb].astype(np.float64)  # (N,) view b's depth where the point lands
    visible = inside & (seen > 0) & (np.abs(seen - z_b) <= rel_tol * z_b)
    chosen = np.sort(rng.permutation(np.flatnonzero(visible))[:num_points])
    return xy_a[chosen].astype(np.float32), xy_b[chosen]
