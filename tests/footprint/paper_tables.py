"""The paper's printed tables (Desroches et al., arXiv 2501.14334), as the tests' reference values."""

from __future__ import annotations

# Table 1: energy (kWh) of one inference per cluster.
TABLE_1 = {
    ("chat", "8B"): 9.31e-5,
    ("chat", "70B"): 1.55e-3,
    ("chat", "405B"): 1.73e-2,
    ("rag", "8B"): 1.56e-4,
    ("rag", "70B"): 2.64e-3,
    ("rag", "405B"): 2.99e-2,
    ("agents", "8B"): 4.97e-4,
    ("agents", "70B"): 8.54e-3,
    ("agents", "405B"): 9.58e-2,
    ("tabular", None): 3.46e-8,
    ("vision", None): 3.17e-4,
    ("nlp", None): 3.70e-6,
}

# Table 33: one inference's GWP (kg CO2e), water (m3 eq), PE (MJ), ADPe (kg Sb eq), operational + embodied.
TABLE_33 = {
    ("chat", "8B"): (5.55e-5 + 3.11e-6, 2.72e-6 + 1.06e-6, 1.20e-3 + 4.61e-5, 1.99e-12 + 1.59e-11),
    ("chat", "70B"): (9.26e-4 + 5.19e-5, 4.54e-5 + 1.77e-5, 2.01e-2 + 7.68e-4, 3.32e-11 + 2.65e-10),
    ("chat", "405B"): (1.03e-2 + 5.79e-4, 5.06e-4 + 1.98e-4, 2.24e-1 + 8.57e-3, 3.70e-10 + 2.96e-9),
    ("rag", "8B"): (9.28e-5 + 5.17e-6, 4.55e-6 + 1.77e-6, 2.01e-3 + 7.65e-5, 3.32e-12 + 2.80e-11),
    ("rag", "70B"): (1.58e-3 + 8.82e-5, 7.72e-5 + 3.02e-5, 3.41e-2 + 1.31e-3, 5.64e-11 + 4.52e-10),
    ("rag", "405B"): (1.79e-2 + 1.00e-3, 8.75e-4 + 3.42e-4, 3.87e-1 + 1.48e-2, 6.40e-10 + 5.11e-9),
    ("agents", "8B"): (2.96e-4 + 1.66e-5, 1.45e-5 + 5.67e-6, 6.42e-3 + 2.46e-4, 1.06e-11 + 8.96e-11),
    ("agents", "70B"): (5.09e-3 + 2.85e-4, 2.49e-4 + 9.75e-5, 1.10e-1 + 4.23e-3, 1.82e-10 + 1.46e-9),
    ("agents", "405B"): (5.72e-2 + 3.20e-3, 2.80e-3 + 1.09e-3, 1.24e0 + 4.74e-2, 2.05e-9 + 1.64e-8),
    ("tabular", None): (2.06e-8 + 1.37e-9, 1.01e-9 + 4.40e-10, 4.47e-7 + 2.05e-8, 7.39e-16 + 3.17e-13),
    ("vision", None): (1.89e-4 + 8.75e-7, 9.26e-6 + 2.98e-7, 4.09e-3 + 1.30e-5, 6.77e-12 + 1.54e-11),
    ("nlp", None): (2.20e-6 + 1.22e-7, 1.08e-7 + 4.17e-8, 4.78e-5 + 1.81e-6, 7.90e-14 + 2.24e-12),
}
