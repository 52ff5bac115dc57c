"""2D parallel-beam Radon transform (Joseph's method), its exact adjoint and filtered back-projection.

Geometry (the convention of :mod:`parity.numerics.phantoms`): ``image[i, j]`` is the pixel
centred at ``x = -1 + (i + 1/2) h``, ``y = -1 + (j + 1/2) h``, ``h = 2 / n``. Angle k is
``theta_k = pi k / n_angles``; ray (theta, s) is the line ``x cos(theta) + y sin(theta) = s``
and its datum the line integral in physical units, so the sinogram of a rasterised phantom
approximates ``Ellipses.radon`` directly. Detector bin m (width h) is centred at
``s_m = (m - (n_det - 1) / 2) h``, with n_det the smallest odd integer >= n sqrt(2) so that
the bins cover the square's diagonal.

Joseph's method steps each ray through the rows or columns it crosses most steeply (the
image's axis 1 when |cos| >= |sin|, else axis 0), interpolates linearly between the two
nearest pixel centres and weights each step by h / max(|cos|, |sin|). Pixel (i, j) thus
meets ray (k, m) with weight (h / w_k) hat((m - m*) / w_k), where w_k = max(|cos|, |sin|),
m* is the pixel centre's projection in bin units and hat(t) = max(0, 1 - |t|): the adjoint
is that same expression read per pixel. Both directions are gathers with indices computed
on the fly (no stored system matrix, no scatter-add, which is slow on XLA's CPU backend);
they are transposes of each other up to float32 rounding of the shared weights, and
``jax.grad`` through either one runs the other (``jax.custom_vjp``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from parity.operators import ImagingOperator

FILTERS: tuple[str, ...] = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")
"""FBP filters: windows on the ramp, as functions of frequency / (scaling * Nyquist) in [0, 1]."""


def detector_count(n: int) -> int:
    """The smallest odd number of width-h bins that covers the square's diagonal (2 sqrt 2)."""
    count = math.ceil(n * math.sqrt(2.0) - 1e-9)
    return count if count % 2 else count + 1


def detector_offsets(n: int, n_det: int) -> Float[np.ndarray, " d"]:
    """The bin centres s_m = (m - (n_det - 1) / 2) h, h = 2 / n."""
    return (np.arange(n_det) - (n_det - 1) / 2.0) * (2.0 / n)


def projection_angles(n_angles: int) -> Float[np.ndarray, " a"]:
    """theta_k = pi k / n_angles, k = 0 .. n_angles - 1."""
    return np.pi * np.arange(n_angles) / n_angles


@dataclasses.dataclass(frozen=True)
class Geometry:
    """The hashable description of the scan; everything else is derived from it at trace time."""

    n: int
    n_angles: int
    n_det: int

    @property
    def pixel(self) -> float:
        return 2.0 / self.n

    def steep(self) -> np.ndarray:
        """Whether ray k steps along axis 0 (|sin| > |cos|: the ray runs closer to the x axis)."""
        theta = projection_angles(self.n_angles)
        return np.abs(np.sin(theta)) > np.abs(np.cos(theta))


def _materialised(position: Array) -> Array:
    """``position`` computed once, so the gathered neighbours and the weights agree.

    XLA may otherwise recompute it in the gather's fusion and in the weights' fusion with
    different rounding (FMA contraction); near an integer the two would then differ by a pixel.
    """
    return jax.lax.optimization_barrier(position)


def _project(geometry: Geometry, image: Float[Array, "n n b"]) -> Float[Array, "a d b"]:
    """Joseph sums of a stack of images (trailing axis b), one angle at a time.

    A loop over angles keeps each angle's working set in cache (3x faster on the CPU than one
    big gather), and the trailing batch axis makes every gathered index fetch b contiguous
    pixels. A ray whose |cos| >= |sin| steps along axis 1 and meets column j at the fractional
    row t = (m_c - sin j_c) / cos + (n - 1) / 2 (centred indices, bin units); a steeper ray
    does the same in the transposed image with cos and sin swapped. Outside pixels read as zero.
    """
    n, n_det = geometry.n, geometry.n_det
    theta = projection_angles(geometry.n_angles)
    steep = geometry.steep()
    along = np.where(steep, np.sin(theta), np.cos(theta))
    across = np.where(steep, np.cos(theta), np.sin(theta))
    # Row r of a padded image is its row r - 1 (rows -1, n and n + 1 are zero); pair (r, j) holds
    # rows r (real part) and r + 1 (imaginary part), so one gather fetches both neighbours.
    rows = ((1, 2), (0, 0), (0, 0))
    padded = jnp.stack([jnp.pad(image, rows), jnp.pad(jnp.swapaxes(image, 0, 1), rows)])
    pairs = jax.lax.complex(padded[:, :-1], padded[:, 1:]).reshape(-1, image.shape[-1])
    base = np.where(steep, (n + 2) * n, 0).astype(np.int32) + n + np.arange(n, dtype=np.int32)[:, None]
    centre = (n - 1) / 2.0
    m_c = jnp.arange(n_det, dtype=jnp.float32) - (n_det - 1) / 2.0
    j_c = jnp.arange(n, dtype=jnp.float32) - centre

    def one_angle(ray: tuple[Array, Array, Array]) -> Array:
        inverse_along, across_k, base_k = ray
        t = _materialised(jnp.clip((m_c[:, None] - across_k * j_c[None, :]) * inverse_along + centre, -1.0, float(n)))
        lower = jnp.floor(t)
        frac = (t - lower)[..., None]
        neighbours = pairs.at[lower.astype(jnp.int32) * n + base_k].get(mode="promise_in_bounds")
        values = (1.0 - frac) * neighbours.real + frac * neighbours.imag
        return jnp.einsum("djb,j->db", values, jnp.ones(n, jnp.float32))

    rays = (jnp.asarray(1.0 / along, jnp.float32), jnp.asarray(across, jnp.float32), jnp.asarray(base.T))
    sums = jax.lax.map(one_angle, rays)
    return sums * jnp.asarray(geometry.pixel / np.abs(along), jnp.float32)[:, None, None]


def _backproject(
    sinogram: Float[Array, "a d b"], n: int, width: np.ndarray, weight: np.ndarray
) -> Float[Array, "n n b"]:
    """sum_k weight_k sum_m hat((m - m*_k(i, j)) / width_k) sinogram[k, m], width_k <= 1, one angle at a time.

    m*_k = cos_k i_c + sin_k j_c + (n_det - 1) / 2 is the pixel centre's bin coordinate; a hat
    no wider than a bin touches bins floor(m*) and floor(m*) + 1 only. Stacks along the
    trailing axis b, as in :func:`_project`.
    """
    n_angles, n_det, batch = sinogram.shape
    theta = projection_angles(n_angles)
    i_c = jnp.arange(n, dtype=jnp.float32) - (n - 1) / 2.0
    # Column c of a padded row is bin c - 1 (bins -1, n_det and n_det + 1 are zero); pair c holds
    # bins c (real part) and c + 1 (imaginary part).
    padded = jnp.pad(sinogram, ((0, 0), (1, 2), (0, 0)))
    pairs = jax.lax.complex(padded[:, :-1], padded[:, 1:])

    def add_angle(image: Array, angle: tuple[Array, ...]) -> tuple[Array, None]:
        row, cos, sin, inverse_width, weight_k = angle
        position = _materialised(jnp.clip(cos * i_c[:, None] + sin * i_c[None, :] + (n_det - 1) / 2.0, -1.0, float(n_det)))
        lower = jnp.floor(position)
        frac = (position - lower)[..., None]
        neighbours = row.at[lower.astype(jnp.int32) + 1].get(mode="promise_in_bounds")
        low_weight = jnp.maximum(1.0 - frac * inverse_width, 0.0)
        high_weight = jnp.maximum(1.0 - (1.0 - frac) * inverse_width, 0.0)
        return image + weight_k * (low_weight * neighbours.real + high_weight * neighbours.imag), None

    angles = (pairs, *(jnp.asarray(v, jnp.float32) for v in (np.cos(theta), np.sin(theta), 1.0 / width, weight)))
    image, _ = jax.lax.scan(add_angle, jnp.zeros((n, n, batch), sinogram.dtype), angles)
    return image


def _batched_last(body: Callable[[Array], Array]) -> Callable[[Array], Array]:
    """``body`` (stacks on a trailing axis) for one sample, whose ``jax.vmap`` moves the batch axis last.

    XLA's own batching of the per-angle gathers puts the batch first and runs several times
    slower per sample than the unbatched call; a trailing axis keeps it at or below that cost.
    """

    @jax.custom_batching.custom_vmap
    def single(x: Array) -> Array:
        return body(x[..., None])[..., 0]

    @single.def_vmap
    def batched(axis_size: int, in_batched: list[bool], x: Array) -> tuple[Array, bool]:
        if not in_batched[0]:
            return single(x), False
        return jnp.moveaxis(body(jnp.moveaxis(x, 0, -1)), -1, 0), True

    return single


@functools.lru_cache(maxsize=32)
def _operators(geometry: Geometry) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    """(A, A^T) for one sample of ``geometry``, each vmappable with the batch on a trailing axis."""
    width = _joseph_width(geometry)
    project = _batched_last(functools.partial(_project, geometry))
    transpose = _batched_last(lambda sinogram: _backproject(sinogram, geometry.n, width, geometry.pixel / width))
    return project, transpose


def _joseph_width(geometry: Geometry) -> np.ndarray:
    theta = projection_angles(geometry.n_angles)
    return np.maximum(np.abs(np.cos(theta)), np.abs(np.sin(theta)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def radon_transform(geometry: Geometry, image: Float[Array, "n n"]) -> Float[Array, "a d"]:
    """A x; its VJP is the adjoint's gather (XLA would otherwise transpose the gather into a scatter-add)."""
    return _operators(geometry)[0](image)


def _radon_fwd(geometry: Geometry, image: Array) -> tuple[Array, None]:
    return radon_transform(geometry, image), None  # itself again, so that grad of grad works


def _radon_bwd(geometry: Geometry, _: None, cotangent: Array) -> tuple[Array]:
    return (radon_adjoint(geometry, cotangent),)


radon_transform.defvjp(_radon_fwd, _radon_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def radon_adjoint(geometry: Geometry, sinogram: Float[Array, "a d"]) -> Float[Array, "n n"]:
    """A^T y; its VJP is the forward gather."""
    return _operators(geometry)[1](sinogram)


def _adjoint_fwd(geometry: Geometry, sinogram: Array) -> tuple[Array, None]:
    return radon_adjoint(geometry, sinogram), None


def _adjoint_bwd(geometry: Geometry, _: None, cotangent: Array) -> tuple[Array]:
    return (radon_transform(geometry, cotangent),)


def _fbp_backprojection(sinogram: Float[Array, "a d b"], n: int) -> Float[Array, "n n b"]:
    """(pi / n_angles) sum_k q_k(x . theta_k), interpolating linearly between bins (hats one bin wide)."""
    ones = np.ones(sinogram.shape[0])
    return _backproject(sinogram, n, ones, ones * np.pi / len(ones))


@functools.lru_cache(maxsize=32)
def _fbp_backprojector(geometry: Geometry) -> Callable[[Array], Array]:
    return _batched_last(functools.partial(_fbp_backprojection, n=geometry.n))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def fbp_backprojection(geometry: Geometry, filtered: Float[Array, "a d"]) -> Float[Array, "n n"]:
    """FBP's back-projection of filtered projections; differentiable (rarely needed, so its VJP is XLA's scatter)."""
    return _fbp_backprojector(geometry)(filtered)


def _fbp_fwd(geometry: Geometry, filtered: Array) -> tuple[Array, None]:
    return fbp_backprojection(geometry, filtered), None


def _fbp_bwd(geometry: Geometry, _: None, cotangent: Array) -> tuple[Array]:
    shape = jax.ShapeDtypeStruct((geometry.n_angles, geometry.n_det), cotangent.dtype)
    transpose = jax.linear_transpose(lambda sinogram: _fbp_backprojection(sinogram[..., None], geometry.n)[..., 0], shape)
    return transpose(cotangent)


fbp_backprojection.defvjp(_fbp_fwd, _fbp_bwd)


radon_adjoint.defvjp(_adjoint_fwd, _adjoint_bwd)


def _window(name: str, frequency: np.ndarray) -> np.ndarray:
    """The window at frequency / (scaling * Nyquist) in [0, 1] (ODL's and LoDoPaB's definitions)."""
    if name == "ram-lak":
        return np.ones_like(frequency)
    if name == "shepp-logan":
        return np.sinc(frequency / 2.0)
    if name == "cosine":
        return np.cos(np.pi * frequency / 2.0)
    if name == "hamming":
        return 0.54 + 0.46 * np.cos(np.pi * frequency)
    return np.cos(np.pi * frequency / 2.0) ** 2


def _check_filter(name: str, frequency_scaling: float) -> None:
    if name not in FILTERS:
        raise ValueError(f"FBP filter {name!r} is unknown; allowed: {', '.join(FILTERS)}")
    if not 0.0 < frequency_scaling <= 1.0:
        raise ValueError(f"FBP frequency_scaling = {frequency_scaling} must lie in (0, 1]")


@functools.lru_cache(maxsize=32)
def filter_response(n_det: int, pixel: float, name: str, frequency_scaling: float) -> Float[np.ndarray, " f"]:
    """The filter on the rfft frequencies of projections zero-padded to the returned length's FFT size.

    The ramp is the DFT of the band-limited spatial kernel (Kak & Slaney: h(0) = 1/(4 h^2),
    h(odd k) = -1/(pi k h)^2, h(even k) = 0) on a grid of at least 2 n_det - 1 points, so the
    circular convolution equals the linear one and the ramp keeps its correct DC value; times
    the bin width h, it is the quadrature of the convolution with the continuous ramp.
    """
    _check_filter(name, frequency_scaling)
    size = 1 << (2 * n_det - 1).bit_length()
    k = np.arange(size)
    k = np.where(k > size // 2, k - size, k)
    kernel = np.where(k % 2 == 1, -1.0 / (np.pi * np.where(k == 0, 1, k) * pixel) ** 2, 0.0)
    kernel[0] = 1.0 / (4.0 * pixel**2)
    ramp = pixel * np.fft.rfft(kernel).real
    frequency = np.fft.rfftfreq(size) * 2.0 / frequency_scaling
    window = np.where(frequency <= 1.0, _window(name, np.minimum(frequency, 1.0)), 0.0)
    return ramp * window


def filter_sinogram(sinogram: Float[Array, "a d"], pixel: float, name: str, frequency_scaling: float) -> Float[Array, "a d"]:
    """Each projection convolved with the windowed ramp (zero padding: no wrap-around)."""
    return apply_filter(sinogram, jnp.asarray(filter_response(sinogram.shape[-1], pixel, name, float(frequency_scaling)), jnp.float32))


def apply_filter(sinogram: Float[Array, "a d"], response: Float[Array, " f"]) -> Float[Array, "a d"]:
    """Each projection convolved with a :func:`filter_response` (which may be traced, e.g. while tuning it)."""
    n_det = sinogram.shape[-1]
    size = 2 * (response.shape[-1] - 1)
    spectrum = jnp.fft.rfft(sinogram, n=size, axis=-1) * response
    return jnp.fft.irfft(spectrum, n=size, axis=-1)[..., :n_det]


class ParallelBeamRadon(ImagingOperator):
    """A: (n, n) image -> (n_angles, n_det) sinogram by Joseph's method; A^T its exact adjoint.

    ``fbp`` back-projects with pixel-driven linear interpolation (a hat one bin wide, which
    sums to one over the bins, unlike the adjoint's narrower hats) times pi / n_angles.
    Reverse-mode derivatives (grad, vjp, to any order) and vmap are supported; forward mode
    (jvp) is not, since A and A^T are ``jax.custom_vjp`` functions.
    """

    geometry: Geometry = eqx.field(static=True)
    image_shape: tuple[int, int] = eqx.field(static=True)
    data_shape: tuple[int, int] = eqx.field(static=True)
    complex_valued: bool = eqx.field(static=True)

    def __init__(self, geometry: Geometry):
        self.geometry = geometry
        self.image_shape = (geometry.n, geometry.n)
        self.data_shape = (geometry.n_angles, geometry.n_det)
        self.complex_valued = False

    @classmethod
    def build(cls, image_size: int, n_angles: int) -> ParallelBeamRadon:
        """The operator for an image_size^2 grid and n_angles angles over [0, pi)."""
        if int(image_size) != image_size or image_size < 2:
            raise ValueError(f"image_size = {image_size} must be an integer >= 2")
        if int(n_angles) != n_angles or n_angles < 1:
            raise ValueError(f"n_angles = {n_angles} must be an integer >= 1")
        return cls(Geometry(int(image_size), int(n_angles), detector_count(int(image_size))))

    @property
    def angles(self) -> Float[np.ndarray, " a"]:
        return projection_angles(self.geometry.n_angles)

    @property
    def offsets(self) -> Float[np.ndarray, " d"]:
        return detector_offsets(self.geometry.n, self.geometry.n_det)

    def forward(self, image: Float[Array, "n n"]) -> Float[Array, "a d"]:
        return radon_transform(self.geometry, jnp.asarray(image, jnp.float32))

    def adjoint(self, data: Float[Array, "a d"]) -> Float[Array, "n n"]:
        return radon_adjoint(self.geometry, jnp.asarray(data, jnp.float32))

    def fbp(self, data: Float[Array, "a d"], filter_name: str = "hann", frequency_scaling: float = 1.0) -> Float[Array, "n n"]:
        """Filtered back-projection: f(x) ~ (pi / n_angles) sum_k q_k(x . theta_k), q = filtered projections.

        ``filter_name`` (one of :data:`FILTERS`) and ``frequency_scaling`` (in (0, 1]) are Python
        values, fixed at trace time.
        """
        geometry = self.geometry
        filtered = filter_sinogram(jnp.asarray(data, jnp.float32), geometry.pixel, filter_name, frequency_scaling)
        return fbp_backprojection(geometry, filtered)

    def pseudo_inverse(self, data: Float[Array, "a d"]) -> Float[Array, "n n"]:
        """FBP with the Hann filter at full bandwidth."""
        return self.fbp(data, "hann", 1.0)
