#!/usr/bin/python3
"""Reference values for abtest's statistics, computed with SciPy.

Run with Debian's Python and SciPy (apt-get install python3-scipy):

    /usr/bin/python3 abtest/testdata/reference.py > abtest/testdata/reference.json

The Go tests compare against the JSON and do not need Python. The Bayesian
integrals are computed here by SciPy's adaptive quadrature (nested for the
expected loss), independently of the Go code's Gauss-Legendre scheme and
closed-form inner integral.
"""
import json
import math
import sys

import numpy
import scipy
from scipy import integrate, stats

out = {"produced_by": f"SciPy {scipy.__version__}, NumPy {numpy.__version__}, Python {sys.version.split()[0]}"}

out["normal_cdf"] = [[z, stats.norm.cdf(z)] for z in (-6, -3.2, -1.959963984540054, -0.5, 0, 0.7, 1.644853626951472, 2.5, 5)]
out["normal_quantile"] = [[p, stats.norm.ppf(p)] for p in (1e-6, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999)]
out["chi2_sf"] = [[x, df, stats.chi2.sf(x, df)] for x, df in
                  ((0.5, 1), (3.84, 1), (10.83, 1), (5.99, 2), (20, 3), (1e-3, 4), (50, 10), (200, 150), (0.2, 7))]
out["beta_cdf"] = [[x, a, b, stats.beta.cdf(x, a, b)] for x, a, b in
                   ((0.5, 1, 1), (0.1, 2, 5), (0.05, 51, 951), (0.06, 51, 951), (0.3, 0.5, 0.5), (0.99, 30, 2), (0.0412, 413, 9589))]


def z_test(x1, n1, x2, n2, alpha=0.05):
    """Variant (x1/n1) against control (x2/n2)."""
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se
    p = 2 * stats.norm.sf(abs(z))
    q = stats.norm.ppf(1 - alpha / 2)
    se_d = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return {"z": z, "p": p, "diff": p1 - p2, "diff_ci": [p1 - p2 - q * se_d, p1 - p2 + q * se_d]}


def wilson(x, n, alpha=0.05):
    lo, hi = stats.binomtest(x, n).proportion_ci(confidence_level=1 - alpha, method="wilson")
    return [lo, hi]


def prob_greater(xv, nv, xc, nc):
    a, b = stats.beta(1 + xv, 1 + nv - xv), stats.beta(1 + xc, 1 + nc - xc)
    lo = max(0.0, min(a.mean() - 12 * a.std(), b.mean() - 12 * b.std()))
    hi = min(1.0, max(a.mean() + 12 * a.std(), b.mean() + 12 * b.std()))
    v, _ = integrate.quad(lambda t: a.pdf(t) * b.cdf(t), lo, hi, limit=500, epsabs=1e-13, epsrel=1e-12)
    return v


def expected_loss(xv, nv, xc, nc):
    """E[max(control - variant, 0)] by nested quadrature."""
    v, c = stats.beta(1 + xv, 1 + nv - xv), stats.beta(1 + xc, 1 + nc - xc)
    lo = max(0.0, min(v.mean() - 12 * v.std(), c.mean() - 12 * c.std()))
    hi = min(1.0, max(v.mean() + 12 * v.std(), c.mean() + 12 * c.std()))

    def inner(t):
        r, _ = integrate.quad(lambda s: (t - s) * v.pdf(s), lo, t, limit=200, epsabs=1e-14, epsrel=1e-12)
        return r

    r, _ = integrate.quad(lambda t: c.pdf(t) * inner(t), lo, hi, limit=500, epsabs=1e-13, epsrel=1e-11)
    return r


cases = []
for name, (xv, nv), (xc, nc) in (
        ("worked", (560, 10000), (480, 10000)),
        ("small", (12, 150), (7, 140)),
        ("tie", (50, 1000), (50, 1000)),
        ("worse", (300, 8000), (380, 8100)),
        ("clicks", (2210, 31000), (2050, 30800)),
):
    case = {"name": name, "variant": [xv, nv], "control": [xc, nc]}
    case.update(z_test(xv, nv, xc, nc))
    case["wilson_variant"] = wilson(xv, nv)
    case["wilson_control"] = wilson(xc, nc)
    case["prob_beat_control"] = prob_greater(xv, nv, xc, nc)
    case["expected_loss"] = expected_loss(xv, nv, xc, nc)
    cases.append(case)
out["two_variant"] = cases

tables = []
for counts in ([[480, 10000], [560, 10000], [530, 10000]], [[30, 400], [45, 410], [38, 395], [52, 405]]):
    obs = numpy.array([[x, n - x] for x, n in counts])
    chi2, p, dof, _ = stats.chi2_contingency(obs, correction=False)
    tables.append({"counts": counts, "stat": chi2, "p": p, "df": int(dof)})
out["independence"] = tables

srm = []
for observed, weights in (([5000, 5000], [1, 1]), ([5000, 5210], [1, 1]), ([3300, 3350, 6450], [1, 1, 2]), ([1000, 1100], [1, 1])):
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    stat, p = stats.chisquare(observed, expected)
    srm.append({"observed": observed, "weights": weights, "stat": stat, "p": p})
out["srm"] = srm


def holm(ps):
    """Holm's step-down adjustment, by its definition."""
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adj, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adj[i] = running
    return adj


out["holm"] = [{"p": ps, "adjusted": holm(ps)} for ps in ([0.01, 0.04, 0.03], [0.2, 0.001, 0.04, 0.03])]

json.dump(out, sys.stdout, indent=1)
print()
