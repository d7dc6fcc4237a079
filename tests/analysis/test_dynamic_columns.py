"""Dynamic track columns: eta = asinh(tgl) correctly rounded to float32, phi wrapped."""

from __future__ import annotations

import numpy as np

from hyperloop.analysis.schema import default_registry


def _dynamic(table: str, column: str):
    return default_registry().get(table).dynamic[column].func


def test_eta_is_asinh_of_tgl_correctly_rounded_everywhere():
    rng = np.random.default_rng(7)
    tgl = np.concatenate(
        [
            np.sinh(rng.uniform(-4, 4, 200_000)),
            rng.normal(0, 1e-5, 50_000),  # tiny: where log(a + sqrt(a^2 + 1)) cancels
            rng.normal(0, 1e20, 1_000),
            [0.0, -0.0, np.inf, -np.inf],
        ]
    ).astype(np.float32)
    eta = _dynamic("Tracks", "eta")(tgl)
    assert eta.dtype == np.float32
    exact = np.arcsinh(tgl.astype(np.float64)).astype(np.float32)
    assert np.mean(eta == exact) > 0.99999  # float64 ties aside: the nearest float32
    np.testing.assert_allclose(eta, exact, rtol=2e-7)
    assert np.signbit(eta[-3]) and np.isnan(_dynamic("Tracks", "eta")(np.float32([np.nan])))[0]


def test_phi_lies_in_zero_two_pi():
    rng = np.random.default_rng(8)
    snp = rng.uniform(-1.2, 1.2, 10_000).astype(np.float32)
    alpha = rng.uniform(-np.pi, np.pi, 10_000).astype(np.float32)
    phi = _dynamic("Tracks", "phi")(snp, alpha)
    assert phi.dtype == np.float32
    assert phi.min() >= 0 and phi.max() < np.float32(2 * np.pi)
    expected = np.mod(np.arcsin(np.clip(snp, -1, 1)).astype(np.float64) + alpha, 2 * np.pi)
    np.testing.assert_allclose(phi, expected, atol=1e-5)
