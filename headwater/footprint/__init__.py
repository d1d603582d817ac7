"""Footprint: energy, GHG, water, primary energy and ADPe of AI workloads (Desroches et al., arXiv 2501.14334)."""

from headwater.footprint.capgemini import CapgeminiEstimator, InferenceWorkload, TraditionalWorkload, latency_for
from headwater.footprint.clusters import (
    GENAI_USE_CASES,
    MODEL_SIZES,
    TRADITIONAL_USE_CASES,
    USE_CASES,
    TokenProfile,
    cluster_workload,
)
from headwater.footprint.ecologits import EcologitsEstimator, EcologitsRequest
from headwater.footprint.factors import Factors, Latency, load_factors, read_yaml
from headwater.footprint.impacts import CRITERIA, Impacts, Range
from headwater.footprint.measured import EstimatedEnergyWarning, Measurement, measure

__all__ = [
    "CRITERIA",
    "GENAI_USE_CASES",
    "MODEL_SIZES",
    "CapgeminiEstimator",
    "EcologitsEstimator",
    "EcologitsRequest",
    "EstimatedEnergyWarning",
    "Factors",
    "Impacts",
    "InferenceWorkload",
    "Latency",
    "Measurement",
    "Range",
    "TRADITIONAL_USE_CASES",
    "TokenProfile",
    "TraditionalWorkload",
    "USE_CASES",
    "cluster_workload",
    "latency_for",
    "load_factors",
    "measure",
    "read_yaml",
]
