"""Footprint: energy, GHG, water, primary energy and ADPe of AI workloads (Desroches et al., arXiv 2501.14334)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater._lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "CRITERIA": "headwater.footprint.impacts",
    "CapgeminiEstimator": "headwater.footprint.capgemini",
    "EcologitsEstimator": "headwater.footprint.ecologits",
    "EcologitsRequest": "headwater.footprint.ecologits",
    "EstimatedEnergyWarning": "headwater.footprint.measured",
    "Factors": "headwater.footprint.factors",
    "GENAI_USE_CASES": "headwater.footprint.clusters",
    "Impacts": "headwater.footprint.impacts",
    "InferenceWorkload": "headwater.footprint.capgemini",
    "Latency": "headwater.footprint.factors",
    "MODEL_SIZES": "headwater.footprint.clusters",
    "Measurement": "headwater.footprint.measured",
    "Range": "headwater.footprint.impacts",
    "TRADITIONAL_USE_CASES": "headwater.footprint.clusters",
    "TokenProfile": "headwater.footprint.clusters",
    "TraditionalWorkload": "headwater.footprint.capgemini",
    "USE_CASES": "headwater.footprint.clusters",
    "cluster_workload": "headwater.footprint.clusters",
    "latency_for": "headwater.footprint.capgemini",
    "load_factors": "headwater.footprint.factors",
    "measure": "headwater.footprint.measured",
    "read_yaml": "headwater.footprint.factors",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

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
