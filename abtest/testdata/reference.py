#!/usr/bin/python3
"""Reference values for abtest's statistics, from SciPy, mpmath and statsmodels.

Run with Debian's Python, SciPy, mpmath and statsmodels
(apt-get install python3-scipy python3-mpmath python3-statsmodels):

    /usr/bin/python3 abtest/testdata/reference.py > abtest/testdata/reference.json

The Go tests compare against the JSON and do not need Python.

The Bayesian figures (P(variant beats control) and the expected loss of
choosing it) are computed by every method below that applies; the value
written is the first one's, and the others must agree with it to 1e-9 or the
script stops. Each case's "bayes_by" lists the methods used.

 1. Exact: E. Miller's finite sum for integer parameters ("Formulas for
    Bayesian A/B testing", 2015): with X ~ Beta(a1, b1), Y ~ Beta(a2, b2),
        P(X > Y) = sum_{i=0}^{a1-1} B(a2+i, b1+b2) / ((b1+i) B(1+i, b1) B(a2, b2)),
    in mpmath at 40 digits, in whichever of its four symmetric forms (swap,
    reflect) has the fewest terms, when that is at most EXACT_TERMS; the loss
    as E[(Y - X)+] = E[Y] P(Y' > X) - E[X] P(Y > X') with
    Y' ~ Beta(a2+1, b2), X' ~ Beta(a1+1, b1). (Not in float64: with
    scipy.special.betaln the sum is off by 4e-8 at 10M recipients, as
    betaln of 1e7 carries an absolute rounding error of 1e-9 into every term.)
 2. Edgeworth: the expansion of X - Y to order 1/n from the exact cumulants
    of the Beta distribution, where every parameter is so large that
    min(a, b)^-1.5 < 1e-10. The script calibrates it against (1) first.
 3. SciPy's adaptive quadrature (QUADPACK) of
        P(X > Y)     = integral of f_X(t) F_Y(t) dt
        E[(Y - X)+]  = integral of F_X(t) (1 - F_Y(t)) dt
    with Boost's Beta pdf/cdf/sf, where every parameter is at most
    QUAD_MAX. SciPy alone is not right over the whole range, and this is
    why the others are here:
      - one call of quad over the span of both posteriors can miss a
        posterior 1e-4 wide in an interval 0.5 wide (its first 21-point rule
        sees nothing there) and report a confident wrong answer; so the
        range is cut at both posteriors' quantiles from 1e-17 to 1 - 1e-17,
        and every piece is on the scale of the posterior it crosses;
      - near rate 1, 1 - t has few digits left and Boost's (1-t)^(b-1) loses
        them (3e-11 at 10M recipients); so both posteriors are reflected
        (rate -> 1 - rate) when they lie mostly above 1/2;
      - Boost's Beta pdf and cdf lose about 1e-16 a of relative precision:
        Beta(5e8, 5e8).cdf(0.5) is 0.50000001; so not beyond QUAD_MAX.
 4. Nested mpmath quadrature at 30 digits, only with --slow and only for the
    cases that rest on (2) alone (a billion and a trillion recipients). Last
    run: it agreed with (2) to all 16 printed digits on both, probability and
    loss, in some minutes.

The difference interval is Newcombe's hybrid score interval, by its
definition in mpmath and checked against statsmodels (confint_proportions_2indep,
method "newcomb") up to a billion trials (beyond, statsmodels loses digits);
the Wilson intervals are SciPy's binomtest. Conventions where a statistic is
not defined, matching the Go code: with no recipients an arm's Wilson interval is
[0, 1] and the difference interval [-1, 1]; with a zero pooled standard error
z = 0 and p = 1.
"""
import json
import math
import sys

import mpmath
import numpy
import scipy
import statsmodels
from scipy import integrate, stats
from statsmodels.stats.proportion import confint_proportions_2indep

ALPHA = 0.05

out = {"produced_by": f"SciPy {scipy.__version__}, NumPy {numpy.__version__}, mpmath {mpmath.__version__}, "
                      f"statsmodels {statsmodels.__version__}, Python {sys.version.split()[0]}"}

out["normal_cdf"] = [[z, stats.norm.cdf(z)] for z in (-6, -3.2, -1.959963984540054, -0.5, 0, 0.7, 1.644853626951472, 2.5, 5)]
out["normal_quantile"] = [[p, stats.norm.ppf(p)] for p in (1e-6, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999)]
out["chi2_sf"] = [[x, df, stats.chi2.sf(x, df)] for x, df in
                  ((0.5, 1), (3.84, 1), (10.83, 1), (5.99, 2), (20, 3), (1e-3, 4), (50, 10), (200, 150), (0.2, 7))]


def z_test(x1, n1, x2, n2):
    """Variant (x1/n1) against control (x2/n2): pooled z-test."""
    if n1 == 0 or n2 == 0:
        return {"z": 0.0, "p": 1.0, "diff": (x1 / n1 if n1 else 0.0) - (x2 / n2 if n2 else 0.0)}
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return {"z": 0.0, "p": 1.0, "diff": p1 - p2}
    z = (p1 - p2) / se
    return {"z": z, "p": 2 * stats.norm.sf(abs(z)), "diff": p1 - p2}


def diff_ci(x1, n1, x2, n2):
    """Newcombe's hybrid score interval (Newcombe 1998, method 10) by its
    definition, in mpmath from the Wilson intervals; checked against
    statsmodels, whose Wilson intervals lose digits past a billion trials
    (1 against 0 of a trillion: +-1.9e-9 where +-5.7e-12 is right)."""
    if n1 == 0 or n2 == 0:
        return [-1.0, 1.0]
    with mpmath.workdps(40):
        z = mpmath.sqrt(2) * mpmath.erfinv(1 - mpmath.mpf(ALPHA))

        def wilson_mp(x, n):
            x, n = mpmath.mpf(x), mpmath.mpf(n)
            p = x / n
            mid = (p + z * z / (2 * n)) / (1 + z * z / n)
            half = z / (1 + z * z / n) * mpmath.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
            return p, max(0, mid - half), min(1, mid + half)

        (p1, l1, u1), (p2, l2, u2) = wilson_mp(x1, n1), wilson_mp(x2, n2)
        d = p1 - p2
        ci = [float(d - mpmath.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)), float(d + mpmath.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))]
    if max(n1, n2) <= 1e9:
        lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff", alpha=ALPHA)
        assert abs(lo - ci[0]) < 1e-12 and abs(hi - ci[1]) < 1e-12, (x1, n1, x2, n2, ci, lo, hi)
    return ci


def wilson(x, n):
    if n == 0:
        return [0.0, 1.0]
    lo, hi = stats.binomtest(x, n).proportion_ci(confidence_level=1 - ALPHA, method="wilson")
    return [lo, hi]


# Bayesian figures. A posterior is (a, b) = (1 + successes, 1 + failures);
# X is the variant's, Y the control's.

QUAD_MAX = 1e8  # Boost's Beta pdf and cdf lose about 1e-16 a of precision
EXACT_TERMS = 200_000
TAIL = 1e-17
CUTS = (1e-17, 1e-14, 1e-11, 1e-8, 1e-6, 1e-4, 1e-3, 0.01, 0.03, 0.1, 0.2, 0.35)


def cuts(*dists):
    """Quantiles of each distribution: the lower from ppf, the upper from isf."""
    pts = set()
    for d in dists:
        for q in CUTS:
            pts.update((float(d.ppf(q)), float(d.isf(q))))
        pts.add(float(d.median()))
    return pts


def quad_pieces(f, lo, hi, pts):
    pts = sorted(p for p in pts if lo < p < hi)
    edges = [lo] + pts + [hi]
    total = 0.0
    for a, b in zip(edges, edges[1:]):
        if b > a:
            v, err = integrate.quad(f, a, b, limit=200, epsabs=1e-16, epsrel=1e-13)
            assert err < 1e-11, (a, b, err)
            total += v
    return total


def quad(a1, b1, a2, b2):
    """(3) P(X > Y) = integral of f_X F_Y over X's mass and
    E[(Y-X)+] = integral of P(X < t < Y) dt, by SciPy's quad in pieces."""
    if a1 / (a1 + b1) + a2 / (a2 + b2) > 1:
        # Near rate 1, 1 - t has few significant digits left and Boost's
        # pdf (1-t)^(b-1) loses them (3e-11 at 10M recipients): reflect, as
        # P(X > Y) = P(1-Y > 1-X) and E[(Y-X)+] = E[((1-X) - (1-Y))+].
        a1, b1, a2, b2 = b2, a2, b1, a1
    x, y = stats.beta(a1, b1), stats.beta(a2, b2)
    p = quad_pieces(lambda t: x.pdf(t) * y.cdf(t), float(x.ppf(TAIL)), float(x.isf(TAIL)), cuts(x, y))
    lo, hi = float(x.ppf(TAIL)), float(y.isf(TAIL))
    # Where Y's top lies below X's bottom, (Y-X)+ > 0 has probability < 2e-17.
    loss = quad_pieces(lambda t: x.cdf(t) * y.sf(t), lo, hi, cuts(x, y)) if hi > lo else 0.0
    return p, loss


def miller(a1, b1, a2, b2):
    """E. Miller's sum for P(X > Y), a1 terms, in mpmath at 40 digits. The
    terms are t_0 = B(a2, b1+b2) / B(a2, b2) and
    t_{i+1} = t_i (a2+i)(b1+i) / ((a2+b1+b2+i)(1+i)), summed until they have
    passed their peak and fallen below 1e-30 of the sum."""
    with mpmath.workdps(40):
        a1, b1, a2, b2 = (mpmath.mpf(v) for v in (a1, b1, a2, b2))
        t = mpmath.exp(mpmath.log(mpmath.beta(a2, b1 + b2)) - mpmath.log(mpmath.beta(a2, b2)))
        total = mpmath.mpf(0)
        for i in range(int(a1)):
            total += t
            r = (a2 + i) * (b1 + i) / ((a2 + b1 + b2 + i) * (1 + i))
            if r < 1 and t < total * mpmath.mpf("1e-30"):
                break
            t *= r
        return total


def exact_prob(a1, b1, a2, b2):
    """P(X > Y) by the form of Miller's sum with the fewest terms (an mpf),
    or None when that is more than EXACT_TERMS."""
    forms = ((a1, lambda: miller(a1, b1, a2, b2)),
             (a2, lambda: 1 - miller(a2, b2, a1, b1)),
             (b2, lambda: miller(b2, a2, b1, a1)),  # P(1-Y > 1-X)
             (b1, lambda: 1 - miller(b1, a1, b2, a2)))
    terms, f = min(forms, key=lambda t: t[0])
    return f() if terms <= EXACT_TERMS else None


def exact(a1, b1, a2, b2):
    """(1) P(X > Y) and E[(Y-X)+] = E[Y] P(Y' > X) - E[X] P(Y > X'), exactly."""
    p, p1, p2 = exact_prob(a1, b1, a2, b2), exact_prob(a2 + 1, b2, a1, b1), exact_prob(a2, b2, a1 + 1, b1)
    if p is None or p1 is None or p2 is None:
        return None
    with mpmath.workdps(40):
        return float(p), float(mpmath.mpf(a2) / (a2 + b2) * p1 - mpmath.mpf(a1) / (a1 + b1) * p2)


def cumulants(a, b):
    """The first four cumulants of Beta(a, b), in mpmath."""
    a, b = mpmath.mpf(a), mpmath.mpf(b)
    s = a + b
    var = a * b / (s * s * (s + 1))
    skew = 2 * (b - a) * mpmath.sqrt(s + 1) / ((s + 2) * mpmath.sqrt(a * b))
    exkurt = 6 * ((a - b) ** 2 * (s + 1) - a * b * (s + 2)) / (a * b * (s + 2) * (s + 3))
    return a / s, var, skew * var ** 1.5, exkurt * var * var


def edgeworth_valid(a1, b1, a2, b2):
    return min(a1, b1, a2, b2) ** -1.5 < 1e-10


def edgeworth(a1, b1, a2, b2):
    """(2) The Edgeworth expansion of D = X - Y to order 1/n."""
    with mpmath.workdps(40):
        cx, cy = cumulants(a1, b1), cumulants(a2, b2)
        k1, k2, k3, k4 = cx[0] - cy[0], cx[1] + cy[1], cx[2] - cy[2], cx[3] + cy[3]
        sd = mpmath.sqrt(k2)
        g1, g2 = k3 / sd ** 3, k4 / k2 ** 2
        z = -k1 / sd  # D = 0, standardized
        phi = lambda u: mpmath.npdf(u)
        he = {2: lambda u: u**2 - 1, 3: lambda u: u**3 - 3*u, 4: lambda u: u**4 - 6*u**2 + 3,
              5: lambda u: u**5 - 10*u**3 + 15*u, 6: lambda u: u**6 - 15*u**4 + 45*u**2 - 15}
        cdf0 = mpmath.ncdf(z) - phi(z) * (g1 / 6 * he[2](z) + g2 / 24 * he[3](z) + g1**2 / 72 * he[5](z))
        dens = lambda u: phi(u) * (1 + g1 / 6 * he[3](u) + g2 / 24 * he[4](u) + g1**2 / 72 * he[6](u))
        loss = mpmath.quad(lambda u: -(k1 + sd * u) * dens(u), [-mpmath.inf, z])
        return float(1 - cdf0), float(loss)


def nested(a1, b1, a2, b2):
    """(4) P(X > Y) = integral of f_Y(y) P(X > y) dy and
    E[(Y-X)+] = integral of f_X(x) E[(Y - x)+] dx, each inner integral by
    its own mpmath quadrature at 30 digits over +-14 sd cut every 2 sd, the
    densities from mpmath's log-beta. Slow (minutes a case): only with
    --slow, for the cases that rest on (2) alone."""
    with mpmath.workdps(30):
        def dist(a, b):
            a, b = mpmath.mpf(a), mpmath.mpf(b)
            m, sd, lb = a / (a + b), mpmath.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))), mpmath.log(mpmath.beta(a, b))
            return [m + sd * k for k in range(-14, 15, 2)], lambda t: mpmath.exp((a - 1) * mpmath.log(t) + (b - 1) * mpmath.log1p(-t) - lb)
        px, fx = dist(a1, b1)
        py, fy = dist(a2, b2)
        above = lambda pts, f, g, t: mpmath.quad(lambda u: g(u) * f(u), [t] + [q for q in pts if q > t]) if t < pts[-1] else 0
        p = mpmath.quad(lambda y: fy(y) * above(px, fx, lambda u: 1, y), py)
        loss = mpmath.quad(lambda x: fx(x) * above(py, fy, lambda u: u - x, x), px)
        return float(p), float(loss)


def bayes(xv, nv, xc, nc):
    """P(variant beats control) and the expected loss of choosing it, from
    the first of (1), (2), (3) that applies, checked against the others."""
    a1, b1, a2, b2 = 1 + xv, 1 + nv - xv, 1 + xc, 1 + nc - xc
    got = {}
    if (v := exact(a1, b1, a2, b2)) is not None:
        got["exact sum"] = v
    if edgeworth_valid(a1, b1, a2, b2):
        got["Edgeworth"] = edgeworth(a1, b1, a2, b2)
    if max(a1, b1, a2, b2) <= QUAD_MAX:
        got["quadrature"] = quad(a1, b1, a2, b2)
    elif "--slow" in sys.argv[1:] and list(got) == ["Edgeworth"]:
        got["mpmath quadrature"] = nested(a1, b1, a2, b2)
        print(xv, nv, xc, nc, got, file=sys.stderr)
    (_, (p, loss)), *others = got.items()
    for how, (op, ol) in others:
        assert abs(op - p) < 1e-9 and abs(ol - loss) < 1e-9, (xv, nv, xc, nc, got)
    return p, loss, list(got)


# Calibration of (2) against (1): the expansion's error is far below
# min(a, b)^-1.5, the bound edgeworth_valid relies on (4e-8 against 3e-5 at
# 1,000 of 100,000; 3e-11 against 2e-7 at 30,000 of 3M).
for _c in ((1001, 99001, 1101, 98901), (30001, 2970001, 30301, 2969701)):
    _e, _x = edgeworth(*_c), exact(*_c)
    assert max(abs(_e[0] - _x[0]), abs(_e[1] - _x[1])) < 0.1 * min(_c) ** -1.5, (_c, _e, _x)


cases = []
for name, (xv, nv), (xc, nc) in (
        ("worked", (560, 10000), (480, 10000)),
        ("small", (12, 150), (7, 140)),
        ("tie", (50, 1000), (50, 1000)),
        ("worse", (300, 8000), (380, 8100)),
        ("clicks", (2210, 31000), (2050, 30800)),
        # The cases of issue 9.
        ("50% against 1%, 10M each", (5_000_000, 10_000_000), (100_000, 10_000_000)),
        ("1% against 50%, 10M each", (100_000, 10_000_000), (5_000_000, 10_000_000)),
        ("50% against 0.5%, 3M each", (1_500_000, 3_000_000), (15_000, 3_000_000)),
        ("0.5% against 50%, 3M each", (15_000, 3_000_000), (1_500_000, 3_000_000)),
        ("0 of 1,000 each", (0, 1000), (0, 1000)),
        # A sweep of extreme counts.
        ("0 of 1 each", (0, 1), (0, 1)),
        ("1 of 1 against 0 of 1", (1, 1), (0, 1)),
        ("no recipients against 3 of 10", (0, 0), (3, 10)),
        ("3 of 10 against no recipients", (3, 10), (0, 0)),
        ("0 against 1 of 1,000", (0, 1000), (1, 1000)),
        ("1,000 of 1,000 each", (1000, 1000), (1000, 1000)),
        ("1,000 against 999 of 1,000", (1000, 1000), (999, 1000)),
        ("0 of 10M each", (0, 10_000_000), (0, 10_000_000)),
        ("1 against 0 of 10M", (1, 10_000_000), (0, 10_000_000)),
        ("all but 5 against all but 10 of 10M", (9_999_995, 10_000_000), (9_999_990, 10_000_000)),
        ("50% each, 10M", (5_000_000, 10_000_000), (5_000_000, 10_000_000)),
        ("5.01% against 5%, 1M each", (50_100, 1_000_000), (50_000, 1_000_000)),
        ("0.503% against 0.5%, 3M each", (15_100, 3_000_000), (15_000, 3_000_000)),
        ("3 of 10 against 1% of 10M", (3, 10), (100_000, 10_000_000)),
        ("1% of 10M against 3 of 10", (100_000, 10_000_000), (3, 10)),
        ("1 of 10 against 50% of 10M", (1, 10), (5_000_000, 10_000_000)),
        ("99.99% against 99.989%, 10M each", (9_999_000, 10_000_000), (9_998_900, 10_000_000)),
        ("50.002% against 50%, a billion each", (500_020_000, 1_000_000_000), (500_000_000, 1_000_000_000)),
        ("3.00001% against 3%, a trillion each", (30_000_100_000, 10**12), (30_000_000_000, 10**12)),
        ("1 against 0 of a trillion", (1, 10**12), (0, 10**12)),
):
    case = {"name": name, "variant": [xv, nv], "control": [xc, nc]}
    case.update(z_test(xv, nv, xc, nc))
    case["diff_ci"] = diff_ci(xv, nv, xc, nc)
    case["wilson_variant"] = wilson(xv, nv)
    case["wilson_control"] = wilson(xc, nc)
    case["prob_beat_control"], case["expected_loss"], case["bayes_by"] = bayes(xv, nv, xc, nc)
    cases.append(case)
out["two_variant"] = cases

# More than two variants: each against the control (the first).
multi = []
for name, arms in (
        ("rare control, 3M each", [(15_000, 3_000_000), (1_500_000, 3_000_000), (14_800, 3_000_000), (0, 3_000_000)]),
        ("small arms", [(0, 50), (1, 50), (50, 50), (0, 0), (2, 7)]),
):
    xc, nc = arms[0]
    m = {"name": name, "arms": [list(a) for a in arms], "prob_beat_control": [], "expected_loss": [], "diff_ci": []}
    for xv, nv in arms[1:]:
        p, loss, by = bayes(xv, nv, xc, nc)
        m.setdefault("bayes_by", []).append(by)
        m["prob_beat_control"].append(p)
        m["expected_loss"].append(loss)
        m["diff_ci"].append(diff_ci(xv, nv, xc, nc))
    multi.append(m)
out["multi_variant"] = multi

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


def plain(v):
    """NumPy scalars as Python numbers, for json."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, numpy.generic):
        return v.item()
    return v


json.dump(plain(out), sys.stdout, indent=1, allow_nan=False)
print()
