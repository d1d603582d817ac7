"""Footprint: energy, GHG, water, primary energy and ADPe of AI workloads (Desroches et al., arXiv 2501.14334)."""

from headwater.footprint.capgemini import CapgeminiEstimator, InferenceWorkload, latency_for
from headwater.footprint.clusters import GENAI_USE_CASES, MODEL_SIZES, TokenProfile, cluster_workload
from headwater.footprint.factors import Factors, Latency, load_factors, read_yaml
from headwater.footprint.impacts import CRITERIA, Impacts, Range

__all__ = [
    "CRITERIA",
    "GENAI_USE_CASES",
    "MODEL_SIZES",
    "CapgeminiEstimator",
    "Factors",
    "Impacts",
    "InferenceWorkload",
    "Latency",
    "Range",
    "TokenProfile",
    "cluster_workload",
    "latency_for",
    "load_factors",
    "read_yaml",
]
