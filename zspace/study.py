"""The study's reference numbers, in one place.

Every number here is one the original study reported or used, so that zspace can show its own
results beside them. The study is the blog series "Autoencoders and latent space fragmentation"
(a convolutional AE on CelebA: component distributions, radius, correlations, PCA, artificial
vectors, t-SNE, filaments and voids) and "Variational Autoencoder with Tensorflow" (the VAE, its
losses, and decoding from chosen z-points).

Nothing in the pipeline's computation depends on these numbers: they are what a report,
a summary or a preset compares against, or the study's settings that zspace reuses as its
defaults. Indices of components depend on the trained model; only the pattern carries over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class DominantComponent:
    """One dominant component of the reference AE: mean mu and half-width hw (FWHM)."""

    index: int
    mu: float
    half_width: float


@dataclass(frozen=True)
class TsneSetting:
    """One t-SNE configuration of the study; None means the library's default."""

    n_points: int
    perplexity: float | None = None
    early_exaggeration: float | None = None
    n_iter: int | None = None
    pca_components: int | None = None  # t-SNE after PCA on the first k components


# -- models and losses (the VAE series) -----------------------------------------------------
Z_DIM: Final[int] = 256
INPUT_SIZE: Final[int] = 96  # images resized to 96 x 96 x 3
CHANNELS: Final[int] = 3
EPOCHS: Final[int] = 24
N_TRAIN_IMAGES: Final[int] = 170_000
LEARNING_RATE: Final[float] = 0.0005  # Adam, the reference VAE
KL_FACT: Final[float] = 5.0  # weight of the KL term
KL_SHARE: Final[float] = 0.03  # the KL term was about 3% of the total loss
LOSS_VAE: Final[float] = 5015.0  # total per image after 24 epochs
LOSS_AE: Final[float] = 4850.0  # reconstruction per image after 24 epochs
LOSS_PER_IMAGE: Final = MappingProxyType({"vae": LOSS_VAE, "ae": LOSS_AE})
PIXELS: Final[int] = INPUT_SIZE * INPUT_SIZE
# The study's reconstruction term: Keras binary_crossentropy (the mean over the channel axis)
# summed over the 96 x 96 pixels; zspace's recon_sum="pixels" is the same convention.
RECON_SUM: Final[str] = "pixels"
SECOND_AE_Z_DIM: Final[int] = 1600  # the second AE, for reconstruction quality
SECOND_AE_IMAGES: Final[int] = 80_000


def loss_per_value(loss_per_image: float) -> float:
    """A per-image loss of the study as nats per pixel value: its reconstruction term sums the
    channel mean over 96 x 96 pixels, so dividing by the pixels gives the mean BCE per value
    (~0.53 for the AE)."""
    return loss_per_image / PIXELS


# -- per-component distributions (the fragmentation series) ---------------------------------
HIST_BIN_WIDTH: Final[float] = 0.25
DOMINANT_COMPONENTS: Final[tuple[DominantComponent, ...]] = tuple(
    DominantComponent(i, mu, hw) for i, mu, hw in (
        (15, -0.25, 1.5), (16, 0.5, 1.125), (56, 0.0, 1.625), (58, 0.25, 2.125),
        (66, 0.25, 1.5), (68, 0.0, 2.0), (110, 0.5, 1.875), (118, 2.25, 2.25),
        (151, 1.5, 4.125), (177, -1.0, 2.25), (178, 0.5, 1.875), (180, -0.25, 1.5),
        (188, 0.25, 1.75), (195, -1.5, 2.0), (202, -0.5, 2.25), (204, -0.5, 1.25),
        (210, 0.0, 1.75), (230, 0.25, 1.5), (242, -0.25, 2.375), (253, -0.5, 1.0),
    )
)

# -- radius ---------------------------------------------------------------------------------
RADIUS_PEAK: Final[float] = 16.5
SQRT_Z_DIM: Final[float] = math.sqrt(Z_DIM)  # 16: the expectation for unit Gaussians
RADIUS_MAX: Final[float] = 32.0  # no points beyond R ~ 32
RADIUS_BIN_WIDTHS: Final[tuple[float, float]] = (0.5, 0.05)

# -- correlations (np.corrcoef on a subsample "because of RAM") -----------------------------
CORRELATION_SUBSAMPLE: Final[int] = 5_000
CORRELATION_COUNTS: Final = MappingProxyType(
    {"0.1": 1456, "0.2": 158, "0.3": 44, "0.4": 25, "0.5": 16, "0.6": 8})
CORR_THRESHOLD: Final[float] = 0.5
PAIRS_ABOVE_THRESHOLD: Final[int] = 16  # pairs with |r| > 0.5
STRONGEST_R: Final[float] = 0.85
SLICE_THRESHOLD: Final[float] = 2.0

# -- PCA ------------------------------------------------------------------------------------
PCA_DOMINANT_COMPONENTS: Final[int] = 1  # one dominant principal component
PCA_FLAT_AFTER: Final[int] = 10  # the spectrum is flat after ~10 components
PC_PAIRS: Final[tuple[tuple[int, int], ...]] = ((0, 1), (0, 17), (7, 34))  # PC1-2, 1-18, 8-35

# -- projections and plots ------------------------------------------------------------------
SCATTER_SIZES: Final[tuple[int, ...]] = (5000, 1000, 500)
SCATTER_PAIRS: Final[int] = 16  # a 4 x 4 grid of the most correlated pairs
TSNE_SETTINGS: Final[tuple[TsneSetting, ...]] = (
    TsneSetting(20_000, perplexity=10.0, early_exaggeration=16.0, n_iter=1000),
    TsneSetting(80_000),
    TsneSetting(165_000),
    *(TsneSetting(20_000, pca_components=k) for k in (2, 4, 10)),
)
ZOOM_SIDES: Final[tuple[float | None, ...]] = (None, 5.0, 1.0, 0.5)  # None: the whole cloud

# -- artificial vectors and generation ------------------------------------------------------
B_RANGE: Final[tuple[float, float]] = (1.0, 2.0)  # uniform [-b, b] with the data's radius
ARTIFICIAL_B_SHOWN: Final[tuple[float, ...]] = (4.0, 1.5)  # b of the scatter plots' red points
NORMAL_GRID: Final[int] = 28  # images decoded from z ~ N(0, I)
R_LIMITS: Final[tuple[float, ...]] = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 5.0, 8.0)
SHARPEN_FACTOR: Final[float] = 7.0
SHARPEN_COMPARED: Final[tuple[float, ...]] = (0.0, 3.0, 6.0)
