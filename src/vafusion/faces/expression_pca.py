"""Expression-geometry components: PCA of pose-normalised mesh deformations.

The deformation of a frame is its pose-normalised 468-point mesh (model frame, mm) minus
the track's running neutral mesh, flattened to 1404 values. ``geom_k`` is its projection
on the k-th principal component fitted on real face tracks (five of the test clips, see
``docs/faces.md``); the fitted basis ships as ``assets/faces/geometry_pca.npz``
(``components`` (K, 1404), ``mean`` (1404,), ``explained_variance`` (K,), ``sources``).
Re-fit with :func:`fit_geometry_pca`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from vafusion.errors import ModelError

N_MESH = 468


@cache
def load_basis() -> tuple[np.ndarray, np.ndarray]:
    """The shipped basis.

    Returns
    -------
    components : numpy.ndarray, shape (K, 1404), float64
    mean : numpy.ndarray, shape (1404,), float64
    """
    ref = resources.files("vafusion.assets") / "faces" / "geometry_pca.npz"
    try:
        with resources.as_file(ref) as p, np.load(p) as z:
            return z["components"].astype(np.float64), z["mean"].astype(np.float64)
    except (OSError, KeyError) as exc:
        raise ModelError(f"expression-geometry basis missing or broken ({exc})") from None


def project(deform: np.ndarray, n_components: int) -> np.ndarray:
    """Project deformations on the first ``n_components`` components.

    Parameters
    ----------
    deform : numpy.ndarray, shape (B, 468, 3)
        Pose-normalised mesh minus neutral (mm).
    n_components : int

    Returns
    -------
    numpy.ndarray, shape (B, n_components)
    """
    comps, mean = load_basis()
    if comps.shape[0] < n_components:
        raise ModelError(f"geometry basis has {comps.shape[0]} < {n_components} components")
    flat = deform.reshape(len(deform), -1) - mean
    return flat @ comps[:n_components].T


def fit_geometry_pca(
    deformations: np.ndarray, n_components: int, out: str | Path, sources: list[str]
) -> np.ndarray:
    """Fit and save the basis.

    Parameters
    ----------
    deformations : numpy.ndarray, shape (N, 468, 3)
        Pose-normalised deformations pooled over real tracks.
    n_components : int
    out : str or Path
        The ``.npz`` to write.
    sources : list of str
        Names of the videos the data came from (stored in the file).

    Returns
    -------
    numpy.ndarray, shape (n_components,)
        Explained-variance ratios.
    """
    x = deformations.reshape(len(deformations), -1).astype(np.float64)
    mean = x.mean(0)
    _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = sv**2 / max(len(x) - 1, 1)
    # deterministic sign: largest-magnitude loading positive
    comps = vt[:n_components]
    signs = np.sign(comps[np.arange(n_components), np.abs(comps).argmax(1)])
    comps = comps * signs[:, None]
    np.savez_compressed(
        out,
        components=comps.astype(np.float32),
        mean=mean.astype(np.float32),
        explained_variance=var[:n_components].astype(np.float32),
        explained_variance_ratio=(var[:n_components] / var.sum()).astype(np.float32),
        sources=np.array(sources),
    )
    return var[:n_components] / var.sum()
