"""The analyze stage: exact statistics of a latent cloud on all N vectors, what its components
encode, and whether it is fragmented.

Every public name is imported from here (``from zspace.tasks.analyze import analyze_latents``);
the modules are split by concept:

- ``analysis``: the whole analysis of a stored array (:func:`analyze_latents`) or of an
  in-memory one (:func:`summarize_array`), pass by pass; ``outputs``: what it writes;
- ``passes``: the two streaming passes; ``streaming``: the input and the parallel parts;
  ``derived``: what follows from each pass;
- ``moments`` (means, variances, histograms: the one moment accumulator), ``correlation``
  (covariance, correlation, PCA, Mahalanobis), ``radii`` (radius moments and peak),
  ``resample`` (the streamed bootstrap and shape histograms), ``dominant``, ``quantile``,
  ``artificial``;
- ``fragmentation`` and ``fragmentation_parts``; ``disentanglement`` (MIG, DCI) and
  ``meaning``, ``meaning_null``, ``meaning_compare``;
- ``params``, ``stage`` (the stage's steps) and ``artifacts``, as in every stage package.
"""

from zspace.tasks.analyze.analysis import analyze_latents, stats_layout, summarize_array
from zspace.tasks.analyze.artifacts import closing_lines, summary_markdown
from zspace.tasks.analyze.artificial import (
    ArtificialResult,
    artificial_comparison,
    artificial_vectors,
)
from zspace.tasks.analyze.correlation import (
    CORRELATION_THRESHOLDS,
    correlated_pairs,
    correlation_counts,
    correlation_from_covariance,
    mahalanobis,
    mahalanobis_of_coordinates,
    mahalanobis_scale,
    pca_coordinates,
    pca_from_covariance,
)
from zspace.tasks.analyze.derived import Derived, Finished
from zspace.tasks.analyze.disentanglement import (
    DCI_DEFINITION,
    MI_RULE,
    MIG_DEFINITION,
    DciFit,
    FactorStats,
    dci,
    dci_scores,
    factor_statistics,
    l1_logistic,
    mig,
    mutual_information,
)
from zspace.tasks.analyze.dominant import DOMINANT_RULE, dominant_components, dominant_cut, robust_z
from zspace.tasks.analyze.fragmentation import (
    FragmentationParams,
    cloud_statistics,
    fragmentation_summary,
    mle_dimension,
    most_correlated_pair,
    two_samples,
    twonn_dimension,
    windows_summary,
)
from zspace.tasks.analyze.fragmentation_parts import holm
from zspace.tasks.analyze.meaning import (
    heatmap_png,
    linear_probe,
    meaning_for_run,
    meaning_summary,
    run_meaning_inputs,
    single_component_auc,
)
from zspace.tasks.analyze.meaning_compare import compare_meaning
from zspace.tasks.analyze.moments import Moments, half_width, histogram, modes, uniform_edges
from zspace.tasks.analyze.outputs import Analysis, statistics_fingerprint
from zspace.tasks.analyze.params import (
    DEFAULT_B,
    HALF_WIDTH_RULE,
    INSIDE_RULE,
    PRODUCER,
    STATS_VERSION,
    W1_RULE,
    AnalyzeParams,
    StatsParams,
)
from zspace.tasks.analyze.passes import correlation_matrix, latent_moments
from zspace.tasks.analyze.quantile import exact_quantile
from zspace.tasks.analyze.radii import PEAK_RULE, RadiusStats, radius_peak, silverman_bandwidth
from zspace.tasks.analyze.resample import GROUPS, moment_errors, replicate_weights, row_groups
from zspace.tasks.analyze.stage import (
    fragmentation_current,
    meaning_current,
    resolve_io,
    write_fragmentation,
    write_meaning,
)
from zspace.tasks.analyze.streaming import RowsBar, input_fingerprint, open_latents

__all__ = [
    "CORRELATION_THRESHOLDS", "DCI_DEFINITION", "DEFAULT_B", "DOMINANT_RULE", "GROUPS",
    "HALF_WIDTH_RULE", "INSIDE_RULE", "MIG_DEFINITION", "MI_RULE", "PEAK_RULE", "PRODUCER",
    "STATS_VERSION", "W1_RULE", "Analysis", "AnalyzeParams", "ArtificialResult", "DciFit",
    "Derived", "FactorStats", "Finished", "FragmentationParams", "Moments", "RadiusStats",
    "RowsBar", "StatsParams", "analyze_latents", "artificial_comparison", "artificial_vectors",
    "cloud_statistics", "compare_meaning", "correlated_pairs", "correlation_counts",
    "correlation_from_covariance", "correlation_matrix", "dci", "dci_scores",
    "dominant_components", "dominant_cut", "exact_quantile", "factor_statistics",
    "fragmentation_current", "fragmentation_summary", "half_width", "heatmap_png", "histogram",
    "holm", "input_fingerprint", "l1_logistic", "latent_moments", "linear_probe", "mahalanobis",
    "mahalanobis_of_coordinates", "mahalanobis_scale", "meaning_current", "meaning_for_run",
    "meaning_summary", "mig", "mle_dimension", "modes", "moment_errors", "most_correlated_pair",
    "mutual_information", "open_latents", "pca_coordinates", "pca_from_covariance",
    "radius_peak", "replicate_weights", "resolve_io", "robust_z", "row_groups",
    "run_meaning_inputs", "silverman_bandwidth", "single_component_auc",
    "statistics_fingerprint", "stats_layout", "summarize_array", "summary_markdown",
    "closing_lines",
    "twonn_dimension", "two_samples", "uniform_edges", "windows_summary", "write_fragmentation",
    "write_meaning",
]
