/* kl-explorer.js: the explorer on the mode-seeking page. Shape a target, pick an objective,
 * drag a start on the (mu, sigma) plane and watch the gradient flow: no kernel, no server.
 *
 * A second implementation of parts of klcourse (code/klcourse), held to it by
 * tests/browser/test_explorer.py (values to 1e-6 relative, fits to the same local minimum):
 *   klcourse.gaussian_mixture        -> makeTarget(weights, means, sigmas)
 *   klcourse.OBJECTIVES (names and definitions: forward_kl, reverse_kl, alpha, js, hellinger,
 *     mse, l1, cosine, wasserstein with order 2), klcourse.objective_value -> evaluate()
 *   klcourse.fit_gaussian(method="flow"): _flow, _quadratic_flow, _eig2, _newton_polish -> flow()
 *   klcourse.local_minima (a coarse landscape, then a fit from each candidate) -> localMinima()
 *   klcourse.landscape               -> landscape()
 * klcourse sums on a grid; here forward KL (cross-entropy), MSE, cosine and W2 are closed forms
 * given constants of the target, and the rest is adaptive Gauss-Kronrod quadrature, with
 * gradients as integrals too (d/dtheta under the integral sign).
 *
 * The root element <div class="kl-explorer" lang="en|ja"> (written by book/_ext/explorer.py)
 * gets element.klExplorer = {fit(spec), value(spec)}; spec = {weights, means, sigmas,
 * objective, alpha, parameterization, mu0, sigma0} (fit) or {..., mu, sigma} (value).
 */
(function () {
  "use strict";

  // ----------------------------------------------------------------------- special functions
  const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
  const SQRT_PI = Math.sqrt(Math.PI);
  const EPS = 2.220446049250313e-16;

  function logaddexp(a, b) {
    if (a === -Infinity) return b;
    if (b === -Infinity) return a;
    return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
  }

  /** erfc(x) for x >= 3 by its continued fraction (modified Lentz), relative accuracy ~1e-16. */
  function erfcLarge(x) {
    let f = x, C = x, D = 0;
    for (let n = 1; n < 500; n++) {
      const a = n / 2;
      D = 1 / (x + a * D);
      C = x + a / C;
      const delta = C * D;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    return Math.exp(-x * x) / (SQRT_PI * f);
  }

  /** erf(x) = 2x/sqrt(pi) e^(-x^2) sum (2x^2)^n / (1*3*...*(2n+1)): positive terms, for |x| <= 3. */
  function erfSmall(x) {
    const y = 2 * x * x;
    let term = 1, sum = 1;
    for (let n = 1; n < 300 && term > 1e-17 * sum; n++) { term *= y / (2 * n + 1); sum += term; }
    return (2 * x / SQRT_PI) * Math.exp(-x * x) * sum;
  }

  /** The standard Normal CDF Phi(z), accurate relative to itself in the lower tail. */
  function ndtr(z) {
    const t = z / Math.SQRT2;
    if (t < -3) return 0.5 * erfcLarge(-t);
    if (t > 3) return 1 - 0.5 * erfcLarge(t);
    return 0.5 + 0.5 * erfSmall(t);
  }

  /** Phi^-1(u) for 0 < u <= 0.5: Acklam's rational start, then two Halley steps on ndtr. */
  function ndtriLower(u) {
    const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716, 2.506628277459239];
    const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
    const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
    let x;
    if (u < 0.02425) {
      const q = Math.sqrt(-2 * Math.log(u));
      x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
      const q = u - 0.5, r = q * q;
      x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    for (let i = 0; i < 2; i++) {
      const e = (ndtr(x) - u) * Math.sqrt(2 * Math.PI) * Math.exp(0.5 * x * x);
      x -= e / (1 + 0.5 * x * e);
    }
    return x;
  }

  // ----------------------------------------------------------------------- quadrature
  // Gauss-Kronrod 7-15 nodes and weights (QUADPACK qk15).
  const XGK = [0.991455371120812639, 0.949107912342758525, 0.864864423359769073, 0.741531185599394440,
    0.586087235467691130, 0.405845151377397167, 0.207784955007898468, 0];
  const WGK = [0.022935322010529225, 0.063092092629978553, 0.104790010322250184, 0.140653259715525919,
    0.169004726639267903, 0.190350578064785410, 0.204432940075298892, 0.209482141084727828];
  const WG = [0.129484966168869693, 0.279705391489276668, 0.381830050505118945, 0.417959183673469388];

  /** GK15 on [a, b] of a vector integrand f(x, out) that adds into out[0..n-1]: [kronrod[], error]. */
  function gk15(f, a, b, n, fx) {
    const c = 0.5 * (a + b), h = 0.5 * (b - a);
    const k = new Float64Array(n), g = new Float64Array(n);
    for (let j = 0; j < 15; j++) { // nodes c - h XGK[0..6], c, c + h XGK[6..0]
      const r = j < 7 ? j : j === 7 ? 7 : 14 - j, x = j < 7 ? c - h * XGK[r] : c + h * XGK[r];
      fx.fill(0);
      f(x, fx);
      for (let i = 0; i < n; i++) {
        k[i] += WGK[r] * fx[i];
        if (r % 2 === 1) g[i] += WG[(r - 1) / 2] * fx[i];
      }
    }
    let err = 0;
    for (let i = 0; i < n; i++) { k[i] *= h; err = Math.max(err, Math.abs(k[i] - h * g[i])); }
    return [k, err];
  }

  /** Adaptive GK15 over the panels between sorted breakpoints: each panel is bisected until its
   *  error is below its share of max(absTol, relTol * |first estimate|), to depth 40. */
  function integrate(f, points, n, relTol, absTol) {
    const fx = new Float64Array(n), total = new Float64Array(n);
    const first = [];
    let scale = 0;
    for (let i = 0; i + 1 < points.length; i++) {
      const r = gk15(f, points[i], points[i + 1], n, fx);
      first.push(r);
      scale += Math.abs(r[0][0]);
    }
    const span = points[points.length - 1] - points[0];
    const tol = Math.max(absTol, relTol * scale);
    const stack = [];
    first.forEach((r, i) => stack.push([points[i], points[i + 1], r, 0]));
    let budget = 4000; // panels: a bound on the work where the integral is ~0 or not smooth
    while (stack.length) {
      const [a, b, [k, err], depth] = stack.pop();
      if (err <= tol * (b - a) / span || depth >= 40 || !(err === err) || --budget <= 0) {
        for (let i = 0; i < n; i++) total[i] += k[i];
        continue;
      }
      const m = 0.5 * (a + b);
      stack.push([a, m, gk15(f, a, m, n, fx), depth + 1], [m, b, gk15(f, m, b, n, fx), depth + 1]);
    }
    return total;
  }

  function sortedUnique(xs, lo, hi) {
    const out = [lo];
    xs.filter((x) => x > lo && x < hi).sort((u, v) => u - v).forEach((x) => {
      if (x - out[out.length - 1] > 1e-9 * (1 + Math.abs(x))) out.push(x);
    });
    if (hi - out[out.length - 1] > 1e-9 * (1 + Math.abs(hi))) out.push(hi); else out[out.length - 1] = hi;
    return out;
  }

  // ----------------------------------------------------------------------- the target
  /** A mixture sum_k w_k N(m_k, s_k^2) with the constants the closed forms need (klcourse.gaussian_mixture). */
  function makeTarget(weights, means, sigmas) {
    const K = weights.length;
    if (!K || means.length !== K || sigmas.length !== K) throw new TypeError("weights, means and sigmas must be non-empty and of one length");
    const total = weights.reduce((u, v) => u + v, 0);
    const w = weights.map((v) => v / total), m = means.slice(), s = sigmas.slice();
    if (![...w, ...m, ...s].every(Number.isFinite) || s.some((v) => v <= 0) || w.some((v) => v < 0)) {
      throw new RangeError("weights must be non-negative, means finite and sigmas positive");
    }
    const lc = w.map((v, k) => Math.log(v) - Math.log(s[k]) - LOG_SQRT_2PI); // [K] log(w_k / (s_k sqrt(2 pi)))
    const T = { K, w, m, s, cache: {} };
    const l = new Float64Array(K); // scratch
    T.logp = (x) => {
      let top = -Infinity;
      for (let k = 0; k < K; k++) { const z = (x - m[k]) / s[k]; l[k] = lc[k] - 0.5 * z * z; if (l[k] > top) top = l[k]; }
      if (top === -Infinity) return top;
      let sum = 0;
      for (let k = 0; k < K; k++) sum += Math.exp(l[k] - top);
      return top + Math.log(sum);
    };
    T.m1 = w.reduce((u, v, k) => u + v * m[k], 0);
    T.m2 = w.reduce((u, v, k) => u + v * (s[k] * s[k] + m[k] * m[k]), 0);
    T.lo = Math.min(...m.map((v, k) => v - 12 * s[k]));
    T.hi = Math.max(...m.map((v, k) => v + 12 * s[k]));
    // where two weighted components cross (log p bends most sharply between modes)
    T.creases = [];
    for (let j = 0; j < K; j++) for (let k = j + 1; k < K; k++) {
      const qa = 0.5 / (s[k] * s[k]) - 0.5 / (s[j] * s[j]);
      const qb = m[j] / (s[j] * s[j]) - m[k] / (s[k] * s[k]);
      const qc = lc[j] - lc[k] - 0.5 * m[j] * m[j] / (s[j] * s[j]) + 0.5 * m[k] * m[k] / (s[k] * s[k]);
      if (Math.abs(qa) < 1e-14) { if (qb !== 0) T.creases.push(-qc / qb); continue; }
      const disc = qb * qb - 4 * qa * qc;
      if (disc >= 0) T.creases.push((-qb + Math.sqrt(disc)) / (2 * qa), (-qb - Math.sqrt(disc)) / (2 * qa));
    }
    T.points = sortedUnique(m.flatMap((v, k) => [-8, -3, 0, 3, 8].map((t) => v + t * s[k])).concat(T.creases), T.lo, T.hi);
    return T;
  }

  /** int p^2 = sum_jk w_j w_k N(m_j; m_k, s_j^2 + s_k^2). */
  function pSquared(T) {
    if (T.cache.pp === undefined) {
      let a = 0;
      for (let j = 0; j < T.K; j++) for (let k = 0; k < T.K; k++) a += T.w[j] * T.w[k] * normalPdf(T.m[j] - T.m[k], T.s[j] ** 2 + T.s[k] ** 2);
      T.cache.pp = a;
    }
    return T.cache.pp;
  }

  function normalPdf(d, v) { return Math.exp(-0.5 * d * d / v) / Math.sqrt(2 * Math.PI * v); }

  /** -h(P) = int p log p, by quadrature (a constant of the target: forward KL's first term). */
  function negEntropy(T) {
    if (T.cache.negH === undefined) {
      T.cache.negH = integrate((x, o) => { const l = T.logp(x); if (l > -Infinity) o[0] = Math.exp(l) * l; }, T.points, 1, 1e-14, 1e-17)[0];
    }
    return T.cache.negH;
  }

  /** c = int_0^1 F_p^-1(u) Phi^-1(u) du = int (x - m1) Phi^-1(F_p(x)) p(x) dx: W2^2 = (mu - m1)^2 + sigma^2 - 2 sigma c + Var P. */
  function w2Constant(T) {
    if (T.cache.c === undefined) {
      T.cache.c = integrate((x, o) => {
        let F = 0, S = 0;
        for (let k = 0; k < T.K; k++) { const z = (x - T.m[k]) / T.s[k]; F += T.w[k] * ndtr(z); S += T.w[k] * ndtr(-z); }
        if (F <= 0 || S <= 0) return;
        const z = F <= S ? ndtriLower(F) : -ndtriLower(S);
        o[0] = (x - T.m1) * z * Math.exp(T.logp(x));
      }, T.points, 1, 1e-14, 1e-17)[0];
    }
    return T.cache.c;
  }

  // ----------------------------------------------------------------------- the objectives
  // Each returns [value, d value/d mu, d value/d sigma] for Q = N(mu, sigma^2); `tol` is the
  // quadrature's relative tolerance (1e-13 for fits and readouts, looser for landscapes).

  /** Integrals over x of an integrand of (p, q): panels at the model's and the target's features. */
  function quad(T, mu, sigma, both, tol, body, n) {
    const zs = tol < 1e-7 ? [-10, -5, -2.5, -1, 0, 1, 2.5, 5, 10] : [-10, -3, 0, 3, 10];
    let pts = zs.map((z) => mu + z * sigma);
    let lo = mu - 10 * sigma, hi = mu + 10 * sigma;
    if (both) { pts = pts.concat(T.points); lo = Math.min(lo, T.lo); hi = Math.max(hi, T.hi); }
    pts = pts.concat(T.creases);
    const lsig = Math.log(sigma);
    return integrate((x, out) => {
      const z = (x - mu) / sigma, lq = -0.5 * z * z - lsig - LOG_SQRT_2PI, lp = T.logp(x);
      body(lp, lq, z / sigma, (z * z - 1) / sigma, out);
    }, sortedUnique(pts, lo, hi), n, tol, 1e-3 * tol);
  }

  const OBJECTIVES = {
    forward_kl: {
      value(T, mu, sigma) { // KL(P||Q) = -h(P) - int p log q; int p log q in closed form
        const V = T.m2 - 2 * mu * T.m1 + mu * mu;
        return [negEntropy(T) + V / (2 * sigma * sigma) + Math.log(sigma) + LOG_SQRT_2PI,
          (mu - T.m1) / (sigma * sigma), 1 / sigma - V / (sigma * sigma * sigma)];
      },
    },
    reverse_kl: {
      value(T, mu, sigma, o) { // KL(Q||P) = -h(Q) - E_q[log p]
        const I = quad(T, mu, sigma, false, o.tol, (lp, lq, dm, ds, out) => {
          const q = Math.exp(lq);
          if (q === 0) return;
          out[0] = q * lp; out[1] = q * dm * lp; out[2] = q * ds * lp;
        }, 3);
        return [-0.5 * Math.log(2 * Math.PI * Math.E * sigma * sigma) - I[0], -I[1], -1 / sigma - I[2]];
      },
    },
    js: {
      value(T, mu, sigma, o) { // 1/2 KL(P||M) + 1/2 KL(Q||M), M = (P + Q)/2
        return quad(T, mu, sigma, true, o.tol, (lp, lq, dm, ds, out) => {
          const lm = logaddexp(lp, lq) - Math.LN2;
          if (lm === -Infinity) return;
          const p = Math.exp(lp), q = Math.exp(lq), g = 0.5 * q * (lq - lm);
          out[0] = 0.5 * ((p > 0 ? p * (lp - lm) : 0) + (q > 0 ? q * (lq - lm) : 0));
          out[1] = q > 0 ? g * dm : 0; out[2] = q > 0 ? g * ds : 0;
        }, 3);
      },
    },
    hellinger: {
      value(T, mu, sigma, o) { // He^2 = 1/2 int (sqrt p - sqrt q)^2
        return quad(T, mu, sigma, true, o.tol, (lp, lq, dm, ds, out) => {
          const r = Math.exp(0.5 * lp) - Math.exp(0.5 * lq), g = 0.5 * (Math.exp(lq) - Math.exp(0.5 * (lp + lq)));
          out[0] = 0.5 * r * r; out[1] = g * dm; out[2] = g * ds;
        }, 3);
      },
    },
    alpha: {
      value(T, mu, sigma, o) { // Amari: int [a p + (1-a) q - p^a q^(1-a)] / (a (1-a))
        const a = o.alpha, b = 1 - a;
        return quad(T, mu, sigma, true, o.tol, (lp, lq, dm, ds, out) => {
          const p = Math.exp(lp), q = Math.exp(lq), t = lq - lp;
          const pq = lp === -Infinity || lq === -Infinity ? 0 : Math.exp(a * lp + b * lq);
          out[0] = Math.abs(t) <= 1 ? p * (b * Math.expm1(t) - Math.expm1(b * t)) / (a * b) : (a * p + b * q - pq) / (a * b);
          const g = (q - pq) / a;
          out[1] = g * dm; out[2] = g * ds;
        }, 3);
      },
    },
    mse: {
      value(T, mu, sigma) { // int p^2 - 2 int pq + int q^2, every term closed
        const [B, Bm, Bs] = crossTerm(T, mu, sigma);
        return [pSquared(T) - 2 * B + 1 / (2 * sigma * SQRT_PI), -2 * Bm, -2 * Bs - 1 / (2 * sigma * sigma * SQRT_PI)];
      },
    },
    l1: {
      value(T, mu, sigma, o) { // int |p - q|, with panels split where p = q
        const lo = Math.min(mu - 10 * sigma, T.lo), hi = Math.max(mu + 10 * sigma, T.hi);
        const extra = o.tol < 1e-9 ? crossings(T, mu, sigma, lo, hi) : [];
        const lsig = Math.log(sigma);
        const pts = [-10, -5, -2.5, -1, 0, 1, 2.5, 5, 10].map((z) => mu + z * sigma).concat(T.points, extra);
        return integrate((x, out) => {
          const z = (x - mu) / sigma, q = Math.exp(-0.5 * z * z - lsig - LOG_SQRT_2PI), d = q - Math.exp(T.logp(x));
          const g = d > 0 ? q : d < 0 ? -q : 0;
          out[0] = Math.abs(d); out[1] = g * z / sigma; out[2] = g * (z * z - 1) / sigma;
        }, sortedUnique(pts, lo, hi), 3, o.tol, 1e-3 * o.tol);
      },
    },
    cosine: {
      maximised: true,
      value(T, mu, sigma) { // int pq / sqrt(int p^2 int q^2), int q^2 = 1/(2 sigma sqrt(pi))
        const [B, Bm, Bs] = crossTerm(T, mu, sigma), r = Math.sqrt(2 * sigma * SQRT_PI), A = Math.sqrt(pSquared(T));
        return [B * r / A, Bm * r / A, (Bs * r + B * SQRT_PI / r) / A];
      },
    },
    wasserstein: {
      value(T, mu, sigma) { // W2, order 2 (klcourse's default): closed form given c
        const c = w2Constant(T), rest = Math.max(0, T.m2 - T.m1 * T.m1 - c * c);
        const v = Math.sqrt((mu - T.m1) ** 2 + (sigma - c) ** 2 + rest);
        return v > 0 ? [v, (mu - T.m1) / v, (sigma - c) / v] : [0, 0, 0];
      },
    },
  };

  /** int p q = sum_k w_k N(mu; m_k, s_k^2 + sigma^2), with its derivatives in mu and sigma. */
  function crossTerm(T, mu, sigma) {
    let B = 0, Bm = 0, Bs = 0;
    for (let k = 0; k < T.K; k++) {
      const v = T.s[k] ** 2 + sigma * sigma, d = mu - T.m[k], N = T.w[k] * normalPdf(d, v);
      B += N; Bm -= N * d / v; Bs += N * (d * d / (v * v) - 1 / v) * sigma;
    }
    return [B, Bm, Bs];
  }

  /** The points where p = q: sign changes of log p - log q on a scan, refined by bisection. */
  function crossings(T, mu, sigma, lo, hi) {
    const step = Math.min(sigma, ...T.s) / 8, n = Math.min(20000, Math.ceil((hi - lo) / step));
    const diff = (x) => T.logp(x) + 0.5 * ((x - mu) / sigma) ** 2 + Math.log(sigma) + LOG_SQRT_2PI;
    const out = [];
    let xa = lo, da = diff(lo);
    for (let i = 1; i <= n; i++) {
      const xb = lo + (hi - lo) * i / n, db = diff(xb);
      if (da * db < 0) {
        let a = xa, b = xb, fa = da;
        for (let it = 0; it < 60 && b - a > 1e-15 * (1 + Math.abs(a)); it++) {
          const mid = 0.5 * (a + b), fm = diff(mid);
          if (fm * fa > 0) { a = mid; fa = fm; } else b = mid;
        }
        out.push(0.5 * (a + b));
      }
      xa = xb; da = db;
    }
    return out;
  }

  /** The objective's natural value and its gradient in (mu, sigma) (klcourse.objective_value). */
  function evaluate(T, name, mu, sigma, alpha, tol) {
    const spec = OBJECTIVES[name];
    if (!spec) throw new RangeError("objective must be one of " + Object.keys(OBJECTIVES).join(", ") + "; got " + name);
    if (name === "alpha" && !(alpha > 0 && alpha < 1)) throw new RangeError("alpha must lie between 0 and 1 here; got " + alpha);
    if (!(sigma > 0) || !Number.isFinite(mu)) throw new RangeError("mu must be finite and sigma positive");
    return spec.value(T, mu, sigma, { alpha, tol: tol || 1e-13 });
  }

  // ----------------------------------------------------------------------- the gradient flow
  // A port of klcourse._fit._flow: exponential steps on the local quadratic model (g, H), each
  // accepted only where the model predicted the new gradient to rtol |g| (10% where H is
  // positive definite), then Newton polish to |g| < tol/1000.

  function problem(T, name, alpha, parameterization, tol) {
    const sign = OBJECTIVES[name].maximised ? -1 : 1, log = parameterization !== "sigma";
    const P = {
      log,
      sigma: (th) => (log ? Math.exp(th[1]) : th[1]),
      admissible: (th) => Number.isFinite(th[0]) && Number.isFinite(th[1]) && (log ? th[1] < 700 : th[1] > 0),
      lossGrad(th) { // loss and its gradient in theta
        const s = P.sigma(th), [v, gm, gs] = evaluate(T, name, th[0], s, alpha, tol);
        return [sign * v, [sign * gm, sign * gs * (log ? s : 1)]];
      },
      stencil(th) { // loss, gradient, Hessian (central differences of the gradient)
        const [L, g] = P.lossGrad(th);
        const h0 = 1e-5 * Math.max(1, Math.abs(th[0]));
        let h1 = 1e-5 * Math.max(1, Math.abs(th[1]));
        if (!log) h1 = Math.min(h1, th[1] / 4);
        const gp0 = P.lossGrad([th[0] + h0, th[1]])[1], gm0 = P.lossGrad([th[0] - h0, th[1]])[1];
        const gp1 = P.lossGrad([th[0], th[1] + h1])[1], gm1 = P.lossGrad([th[0], th[1] - h1])[1];
        const a = (gp0[0] - gm0[0]) / (2 * h0), d = (gp1[1] - gm1[1]) / (2 * h1);
        const b = 0.5 * ((gp0[1] - gm0[1]) / (2 * h0) + (gp1[0] - gm1[0]) / (2 * h1));
        return [L, g, [a, b, d]];
      },
    };
    return P;
  }

  function eig2(h) {
    const [a, b, d] = h, mid = 0.5 * (a + d), rad = Math.hypot(0.5 * (a - d), b);
    const angle = 0.5 * Math.atan2(2 * b, a - d), big = [Math.cos(angle), Math.sin(angle)];
    return [[mid - rad, mid + rad], [[-big[1], big[0]], big]];
  }

  function phi(lam, t) {
    const z = lam * t;
    if (Math.abs(z) < 1e-8) return t * (1 - 0.5 * z);
    if (-z > 700) return Infinity;
    return -Math.expm1(-z) / lam;
  }

  function quadraticFlow(g, h, times) {
    const [[l0, l1], [v0, v1]] = eig2(h);
    const c0 = v0[0] * g[0] + v0[1] * g[1], c1 = v1[0] * g[0] + v1[1] * g[1];
    return times.map((t) => {
      const p0 = phi(l0, t), p1 = phi(l1, t), e0 = Math.exp(Math.min(-l0 * t, 700)), e1 = Math.exp(Math.min(-l1 * t, 700));
      return [[-(p0 * c0 * v0[0] + p1 * c1 * v1[0]), -(p0 * c0 * v0[1] + p1 * c1 * v1[1])],
        [e0 * c0 * v0[0] + e1 * c1 * v1[0], e0 * c0 * v0[1] + e1 * c1 * v1[1]]];
    });
  }

  function newtonStep(th, g, h) {
    const [a, b, d] = h, det = a * d - b * b;
    if (!(a > 0 && det > 0)) return null;
    return [th[0] - (d * g[0] - b * g[1]) / det, th[1] - (a * g[1] - b * g[0]) / det];
  }

  /** Gradient flow from theta; returns {theta, loss, g, h, path: [[theta, loss], ...]}. */
  function flow(P, theta, tol, rtol, maxSteps) {
    const path = [];
    let [loss, g, h] = P.stencil(theta);
    path.push([theta, loss]);
    if (!Number.isFinite(loss)) return { theta, loss, g, h, path };
    const [l0, l1] = eig2(h)[0];
    let t = 1 / Math.max(Math.abs(l0), Math.abs(l1), 1e-12);
    let accepted = 0, recent = [loss], rejected = false;
    while (accepted < maxSteps && Math.hypot(g[0], g[1]) >= tol) {
      const gnorm = Math.hypot(g[0], g[1]);
      const allowed = eig2(h)[0][0] > 0 ? Math.max(rtol, 0.1) : rtol;
      const [[step, predicted], ...between] = quadraticFlow(g, h, [t, 0.25 * t, 0.5 * t, 0.75 * t]);
      const trial = [theta[0] + step[0], theta[1] + step[1]];
      let ratio = Infinity, next = null;
      if (P.admissible(trial)) {
        next = P.stencil(trial);
        if (Number.isFinite(next[0]) && next[0] <= loss + 4 * EPS * Math.max(1, Math.abs(loss))) {
          ratio = Math.hypot(next[1][0] - predicted[0], next[1][1] - predicted[1]) / (allowed * gnorm);
        }
      }
      if (ratio <= 1) {
        for (const [[dm, ds]] of between) {
          path.push([[theta[0] + dm, theta[1] + ds], loss + g[0] * dm + g[1] * ds + 0.5 * (h[0] * dm * dm + 2 * h[1] * dm * ds + h[2] * ds * ds)]);
        }
        theta = trial; [loss, g, h] = next;
        path.push([theta, loss]);
        accepted++;
        recent = recent.concat([loss]).slice(-20);
        if (recent.length === 20 && recent[0] - loss <= 1e-14 * (1 + Math.abs(loss))) break;
      }
      if (Number.isFinite(ratio)) t *= Math.min(rejected ? 1 : 5, Math.max(0.2, 0.9 / Math.sqrt(Math.max(ratio, 1e-12))));
      else {
        t *= 0.25;
        if (t * gnorm <= 1e-15 * (1 + Math.abs(theta[0]) + Math.abs(theta[1]))) break;
      }
      rejected = ratio > 1;
    }
    // Newton polish (klcourse._newton_polish), with the last Hessian
    for (let i = 0; i < 5 && Math.hypot(g[0], g[1]) >= 1e-3 * tol; i++) {
      const trial = newtonStep(theta, g, h);
      if (!trial || !P.admissible(trial)) break;
      const [tl, tg] = P.lossGrad(trial);
      if (!(Number.isFinite(tl) && Math.hypot(tg[0], tg[1]) < Math.hypot(g[0], g[1]))) break;
      theta = trial; loss = tl; g = tg;
    }
    path.push([theta, loss]);
    return { theta, loss, g, h, path };
  }

  /** fit_gaussian(target, objective, mu0, sigma0, parameterization=..., alpha=...) with method="flow". */
  function fitGaussian(T, name, mu0, sigma0, parameterization, alpha, opts) {
    if (!(sigma0 > 0)) throw new RangeError("sigma0 must be positive; got " + sigma0);
    const P = problem(T, name, alpha, parameterization, (opts && opts.quadTol) || 1e-13);
    const th0 = [mu0, P.log ? Math.log(sigma0) : sigma0];
    const r = flow(P, th0, (opts && opts.tol) || 1e-8, 0.1, (opts && opts.maxSteps) || 10000);
    const [[l0]] = eig2(r.h);
    return {
      mu: r.theta[0], sigma: P.sigma(r.theta), loss: r.loss, gradNorm: Math.hypot(r.g[0], r.g[1]),
      isMinimum: Math.hypot(r.g[0], r.g[1]) < 1e-6 && l0 > 0,
      path: r.path.map(([th, L]) => [th[0], P.sigma(th), L]),
    };
  }

  // ----------------------------------------------------------------------- landscape and minima
  /** Loss (sign applied) on a mesh of mu [nx] and log sigma [ny] (klcourse.landscape), row-major [ny][nx]. */
  function landscape(T, name, alpha, mus, logSigmas, tol) {
    const sign = OBJECTIVES[name].maximised ? -1 : 1, out = new Float64Array(mus.length * logSigmas.length);
    logSigmas.forEach((ls, j) => mus.forEach((mu, i) => {
      out[j * mus.length + i] = sign * evaluate(T, name, mu, Math.exp(ls), alpha, tol)[0];
    }));
    return out;
  }

  /** Local minima: mesh points no higher than their 4 neighbours (klcourse.local_minima takes 8; 4
   *  also catch a minimum in a valley that runs between mesh points), the mesh's edge included,
   *  each taken by a fit to the minimum of its basin; saddles and duplicates dropped. */
  function localMinima(T, name, alpha, mus, logSigmas, L, coarse) {
    const nx = mus.length, ny = logSigmas.length, cands = [];
    for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
      const v = L[j * nx + i];
      let low = Number.isFinite(v);
      for (const [di, dj] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const jj = j + dj, ii = i + di;
        if (jj >= 0 && jj < ny && ii >= 0 && ii < nx && !(v <= L[jj * nx + ii])) low = false;
      }
      if (low) cands.push([v, mus[i], Math.exp(logSigmas[j])]);
    }
    cands.sort((u, v) => u[0] - v[0]);
    if (coarse) return cands.filter(([, mu, s]) => mu > mus[0] && mu < mus[nx - 1] && s > Math.exp(logSigmas[0]) && s < Math.exp(logSigmas[ny - 1])).slice(0, 6).map(([, mu, sigma]) => ({ mu, sigma }));
    const found = [];
    for (const [, mu, sigma] of cands.slice(0, 10)) {
      const f = fitGaussian(T, name, mu, sigma, "log_sigma", alpha, { quadTol: 1e-11, maxSteps: 300 });
      const inside = f.mu >= X_RANGE[0] && f.mu <= X_RANGE[1] && Math.log(f.sigma) >= LOG_S_RANGE[0] && Math.log(f.sigma) <= LOG_S_RANGE[1];
      if (f.isMinimum && inside && !found.some((o) => Math.abs(o.mu - f.mu) < 1e-3 * (1 + Math.abs(f.mu)) && Math.abs(Math.log(o.sigma / f.sigma)) < 1e-3)) found.push(f);
    }
    return found;
  }

  // ----------------------------------------------------------------------- the page's strings
  const STRINGS = {
    en: {
      title: "Explorer: fit one Gaussian to a mixture",
      help: "Drag a peak of the target P (grey) to move it, up or down to change its weight, its square handle to change its width. Click or drag on a landscape to choose the start; the gradient flow runs to the local minimum of its basin. Keyboard: in the target plot, 1 to 4 pick a component, arrows move it (up and down: weight), + and − change its width; in a landscape, arrows move the start.",
      objective: "Objective", alpha: "α", param: "Parameterisation", sigma: "σ", logSigma: "log σ",
      compare: "Forward and reverse KL side by side", reset: "Reset", copy: "Copy as Python", copied: "Copied",
      add: "Add a component", remove: "Remove", component: "Component", mean: "mean", width: "width", weight: "weight",
      densities: "Densities: the target P and the fitted Q. Keyboard: 1 to 4 pick a component, arrows move it, + and − change its width.",
      landscapeOf: "Loss landscape of {name} over the (μ, σ) plane, log σ axis. Click to choose the start; arrows move it.",
      start: "start", minima: "local minima", muAxis: "μ", sigmaAxis: "σ (log axis)", x: "x",
      readout: "{name}: start μ₀ = {mu0}, σ₀ = {sigma0}; now μ = {mu}, σ = {sigma}, value {value}",
      nMinima: "local minima: {n}", python: "Python that reproduces the fit",
      names: { forward_kl: "forward KL, KL(P‖Q)", reverse_kl: "reverse KL, KL(Q‖P)", alpha: "α-divergence", js: "JS divergence",
        hellinger: "squared Hellinger", mse: "MSE, ∫(p − q)²", l1: "L1, ∫|p − q|", cosine: "cosine similarity (maximised)", wasserstein: "Wasserstein W2" },
    },
    ja: {
      title: "エクスプローラー：混合分布に一つのガウス分布を当てはめる",
      help: "目標分布 P（灰色）の山をドラッグすると左右に動き、上下で重みが変わります。四角のつまみで幅を変えられます。損失地形をクリックまたはドラッグして出発点を選ぶと、勾配フローがその盆地の局所最小まで進みます。キーボードでは、目標分布の図で 1〜4 を押して成分を選び、矢印キーで動かし（上下は重み）、+ と − で幅を変えます。損失地形の図では矢印キーで出発点が動きます。",
      objective: "目的関数", alpha: "α", param: "パラメータ化", sigma: "σ", logSigma: "log σ",
      compare: "順方向KLと逆方向KLを並べる", reset: "リセット", copy: "Python としてコピー", copied: "コピーしました",
      add: "成分を加える", remove: "削除", component: "成分", mean: "平均", width: "幅", weight: "重み",
      densities: "密度：目標分布 P と当てはめた Q。キーボードでは 1〜4 で成分を選び、矢印キーで動かし、+ と − で幅を変えます。",
      landscapeOf: "{name}の損失地形（(μ, σ) 平面、σ は対数軸）。クリックで出発点を選び、矢印キーで動かします。",
      start: "出発点", minima: "局所最小", muAxis: "μ", sigmaAxis: "σ（対数軸）", x: "x",
      readout: "{name}：出発点 μ₀ = {mu0}, σ₀ = {sigma0}、現在 μ = {mu}, σ = {sigma}、値 {value}",
      nMinima: "局所最小は {n} 個", python: "この当てはめを再現する Python",
      names: { forward_kl: "順方向KL（KL(P‖Q)）", reverse_kl: "逆方向KL（KL(Q‖P)）", alpha: "αダイバージェンス", js: "JSダイバージェンス",
        hellinger: "ヘリンジャー距離の2乗", mse: "二乗誤差 ∫(p − q)²", l1: "L1 ∫|p − q|", cosine: "コサイン類似度（最大化）", wasserstein: "ワッサースタイン距離 W2" },
    },
  };
  const fill = (s, d) => s.replace(/\{(\w+)\}/g, (_, k) => d[k]);

  // ----------------------------------------------------------------------- the widget
  const X_RANGE = [-15, 20], LOG_S_RANGE = [Math.log(0.25), Math.log(25)];
  const COLOURS = { forward_kl: "#0b57c2", reverse_kl: "#c2410c", other: "#0b57c2" };
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const round = (x, step) => Math.round(x / step) * step;
  const fmt = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : "∞");
  const py = (x) => { const v = +x.toPrecision(12); return Number.isInteger(v) ? v.toFixed(1) : String(v); };

  function firstState(root) {
    const d = root.dataset;
    return {
      comps: [{ w: 0.5, m: -5, s: 1 }, { w: 0.5, m: 10, s: 1 }],
      objective: d.objective || "reverse_kl", alpha: 0.5, param: "log_sigma", compare: d.compare !== "false",
      mu0: +(d.mu0 || 0), sigma0: +(d.sigma0 || 1), selected: 0,
    };
  }

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    kids.forEach((k) => e.append(k));
    return e;
  }

  function Explorer(root) {
    const lang = (root.getAttribute("lang") || document.documentElement.lang || "en").slice(0, 2) === "ja" ? "ja" : "en";
    const S = STRINGS[lang], uid = "kle" + Math.random().toString(36).slice(2, 8);
    const reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    let st = firstState(root), T = null, panels = [], anim = null, pending = false, frozenY = null;

    // --- the DOM
    root.textContent = "";
    root.setAttribute("role", "group");
    root.setAttribute("aria-labelledby", uid + "-t");
    const objSelect = el("select", { id: uid + "-o" }, ...Object.keys(OBJECTIVES).map((k) => el("option", { value: k, text: S.names[k] })));
    const alphaIn = el("input", { type: "range", id: uid + "-a", min: "0.05", max: "0.95", step: "0.05" });
    const alphaOut = el("output", { for: uid + "-a" });
    const params = ["log_sigma", "sigma"].map((p) => el("input", { type: "radio", name: uid + "-p", value: p, id: uid + "-" + p }));
    const compareIn = el("input", { type: "checkbox", id: uid + "-c" });
    const densCanvas = el("canvas", { class: "kle-dens", tabindex: "0", role: "application", "aria-label": S.densities });
    const plots = el("div", { class: "kle-plots" });
    const compList = el("div", { class: "kle-comps" });
    const readout = el("div", { class: "kle-readout", "aria-live": "polite" });
    const code = el("pre", { class: "kle-code", tabindex: "0", "aria-label": S.python });
    const copyBtn = el("button", { type: "button", text: S.copy });
    const addBtn = el("button", { type: "button", text: S.add });
    root.append(
      el("p", { class: "kle-title", id: uid + "-t", text: S.title }),
      el("p", { class: "kle-help", text: S.help }),
      el("div", { class: "kle-controls" },
        el("label", { for: uid + "-o", text: S.objective }), objSelect,
        el("span", { class: "kle-alpha" }, el("label", { for: uid + "-a", text: S.alpha }), alphaIn, alphaOut),
        el("fieldset", {}, el("legend", { text: S.param }),
          ...params.map((p) => el("span", {}, p, el("label", { for: p.id, text: p.value === "sigma" ? S.sigma : S.logSigma })))),
        el("span", {}, compareIn, el("label", { for: uid + "-c", text: S.compare }))),
      densCanvas, plots, readout, compList,
      el("div", { class: "kle-buttons" }, addBtn,
        el("button", { type: "button", text: S.reset, onclick: () => { st = firstState(root); sync(true); } }), copyBtn),
      code);

    // --- drawing helpers
    function size(canvas, w, h) {
      const r = window.devicePixelRatio || 1;
      canvas.style.width = w + "px"; canvas.style.height = h + "px";
      if (canvas.width !== Math.round(w * r) || canvas.height !== Math.round(h * r)) { canvas.width = Math.round(w * r); canvas.height = Math.round(h * r); }
      const ctx = canvas.getContext("2d");
      ctx.setTransform(r, 0, 0, r, 0, 0);
      return ctx;
    }
    const PAD = { l: 42, r: 8, t: 8, b: 28 };
    function frame(canvas) {
      const w = parseFloat(canvas.style.width), h = parseFloat(canvas.style.height);
      return { w, h, x0: PAD.l, x1: w - PAD.r, y0: PAD.t, y1: h - PAD.b };
    }
    const xToPx = (f, x) => f.x0 + (x - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0]) * (f.x1 - f.x0);
    const pxToX = (f, px) => X_RANGE[0] + (px - f.x0) / (f.x1 - f.x0) * (X_RANGE[1] - X_RANGE[0]);
    const lsToPx = (f, ls) => f.y1 - (ls - LOG_S_RANGE[0]) / (LOG_S_RANGE[1] - LOG_S_RANGE[0]) * (f.y1 - f.y0);
    const pxToLs = (f, py_) => LOG_S_RANGE[0] + (f.y1 - py_) / (f.y1 - f.y0) * (LOG_S_RANGE[1] - LOG_S_RANGE[0]);
    function xAxis(ctx, f, label) {
      ctx.fillStyle = "#333"; ctx.strokeStyle = "#666"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
      ctx.beginPath(); ctx.moveTo(f.x0, f.y1); ctx.lineTo(f.x1, f.y1); ctx.stroke();
      for (let x = -15; x <= 20; x += 5) { const p = xToPx(f, x); ctx.fillText(String(x), p, f.y1 + 12); }
      ctx.fillText(label, (f.x0 + f.x1) / 2, f.y1 + 25);
    }

    // --- state -> computation
    function targetNow() { return makeTarget(st.comps.map((c) => c.w), st.comps.map((c) => c.m), st.comps.map((c) => c.s)); }
    function objectivesShown() { return st.compare ? ["forward_kl", "reverse_kl"] : [st.objective]; }

    function compute(coarse) {
      T = targetNow();
      const nx = coarse ? 44 : 64, ny = coarse ? 24 : 36;
      const mus = Array.from({ length: nx }, (_, i) => X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * (i + 0.5) / nx);
      const lss = Array.from({ length: ny }, (_, j) => LOG_S_RANGE[0] + (LOG_S_RANGE[1] - LOG_S_RANGE[0]) * (j + 0.5) / ny);
      panels.forEach((pn) => {
        const alpha = pn.name === "alpha" ? st.alpha : undefined;
        pn.mus = mus; pn.lss = lss;
        pn.L = landscape(T, pn.name, alpha, mus, lss, 1e-5);
        pn.minima = localMinima(T, pn.name, alpha, mus, lss, pn.L, coarse);
        pn.fit = fitGaussian(T, pn.name, st.mu0, st.sigma0, st.param, alpha, coarse ? { quadTol: 1e-7, tol: 1e-6 } : {});
        pn.at = 1;
        pn.image = null;
      });
    }

    function buildPanels() {
      plots.textContent = "";
      panels = objectivesShown().map((name) => {
        const canvas = el("canvas", { class: "kle-land", tabindex: "0", role: "application", "aria-label": fill(S.landscapeOf, { name: S.names[name] }) });
        const box = el("figure", { class: "kle-panel" }, el("figcaption", { text: S.names[name] }), canvas);
        plots.append(box);
        const pn = { name, canvas };
        bindLandscape(pn);
        return pn;
      });
      plots.classList.toggle("kle-two", panels.length > 1);
    }

    function layout() {
      const cs = getComputedStyle(root), inner = root.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
      const W = Math.max(260, Math.min(inner || 640, 900));
      size(densCanvas, W, Math.round(Math.min(220, Math.max(150, W * 0.3))));
      const two = panels.length > 1 && W >= 560, pw = two ? Math.floor((W - 12) / 2) : W;
      panels.forEach((pn) => size(pn.canvas, pw, Math.round(Math.min(260, Math.max(170, pw * 0.55)))));
    }

    // --- painting
    function paintLandscape(pn) {
      const ctx = pn.canvas.getContext("2d"), f = frame(pn.canvas), nx = pn.mus.length, ny = pn.lss.length;
      if (!pn.image) {
        const finite = Array.from(pn.L).filter(Number.isFinite).sort((a, b) => a - b);
        const lo = finite[0], hi = finite[Math.floor(0.9 * (finite.length - 1))];
        const off = document.createElement("canvas");
        off.width = nx; off.height = ny;
        const img = off.getContext("2d").createImageData(nx, ny);
        for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) {
          const v = pn.L[j * nx + i], t = Number.isFinite(v) ? Math.sqrt(Math.min(1, Math.max(0, (v - lo) / (hi - lo || 1)))) : 1;
          const u = t * (VIRIDIS.length - 1), k = Math.min(VIRIDIS.length - 2, Math.floor(u)), fr = u - k, o = 4 * ((ny - 1 - j) * nx + i);
          for (let c = 0; c < 3; c++) img.data[o + c] = VIRIDIS[k][c] * (1 - fr) + VIRIDIS[k + 1][c] * fr;
          img.data[o + 3] = 255;
        }
        off.getContext("2d").putImageData(img, 0, 0);
        pn.image = off;
      }
      ctx.clearRect(0, 0, f.w, f.h);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(pn.image, f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0);
      xAxis(ctx, f, S.muAxis);
      ctx.textAlign = "right";
      [0.3, 1, 3, 10].forEach((s) => { const y = lsToPx(f, Math.log(s)); ctx.fillText(String(s), f.x0 - 4, y + 4); });
      ctx.save(); ctx.translate(11, (f.y0 + f.y1) / 2); ctx.rotate(-Math.PI / 2); ctx.textAlign = "center"; ctx.fillText(S.sigmaAxis, 0, 0); ctx.restore();
      ctx.save(); ctx.beginPath(); ctx.rect(f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0); ctx.clip();
      const pt = (mu, s) => [xToPx(f, mu), lsToPx(f, Math.log(s))];
      pn.minima.forEach((m) => { // diamonds
        const [x, y] = pt(m.mu, m.sigma);
        ctx.beginPath(); ctx.moveTo(x, y - 7); ctx.lineTo(x + 7, y); ctx.lineTo(x, y + 7); ctx.lineTo(x - 7, y); ctx.closePath();
        ctx.fillStyle = "#fff"; ctx.fill(); ctx.lineWidth = 1.5; ctx.strokeStyle = "#000"; ctx.stroke();
      });
      const path = pn.fit.path, upto = visibleUpTo(pn);
      for (const [width, colour] of [[4, "#000"], [2, "#fff"]]) {
        ctx.beginPath(); ctx.lineWidth = width; ctx.strokeStyle = colour;
        path.slice(0, upto + 1).forEach(([mu, s], i) => { const [x, y] = pt(mu, s); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
        ctx.stroke();
      }
      const [sx, sy] = pt(st.mu0, st.sigma0), [ex, ey] = pt(path[upto][0], path[upto][1]);
      ctx.beginPath(); ctx.arc(sx, sy, 5, 0, 2 * Math.PI); ctx.fillStyle = "#fff"; ctx.fill(); ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.stroke();
      ctx.beginPath(); ctx.arc(ex, ey, 6, 0, 2 * Math.PI); ctx.lineWidth = 3; ctx.strokeStyle = colourOf(pn.name); ctx.stroke();
      if (document.activeElement === pn.canvas) { ctx.lineWidth = 1; ctx.strokeStyle = "#fff"; ctx.setLineDash([3, 3]); ctx.strokeRect(sx - 10, sy - 10, 20, 20); ctx.setLineDash([]); }
      ctx.restore();
    }

    const colourOf = (name) => (st.compare ? COLOURS[name] : COLOURS.other);
    const visibleUpTo = (pn) => Math.max(0, Math.min(pn.fit.path.length - 1, Math.floor(pn.at * (pn.fit.path.length - 1))));

    function paintDensities() {
      const ctx = densCanvas.getContext("2d"), f = frame(densCanvas);
      const xs = Array.from({ length: 401 }, (_, i) => X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * i / 400);
      const peak = Math.max(...st.comps.map((c) => c.w / (c.s * Math.sqrt(2 * Math.PI))), ...xs.map((x) => Math.exp(T.logp(x))));
      const ymax = frozenY || 1.2 * peak;
      const yPx = (y) => f.y1 - Math.min(y / ymax, 1.05) * (f.y1 - f.y0);
      ctx.clearRect(0, 0, f.w, f.h);
      ctx.beginPath(); ctx.moveTo(xToPx(f, xs[0]), f.y1);
      xs.forEach((x) => ctx.lineTo(xToPx(f, x), yPx(Math.exp(T.logp(x)))));
      ctx.lineTo(xToPx(f, xs[400]), f.y1); ctx.closePath(); ctx.fillStyle = "rgba(90,90,90,0.35)"; ctx.fill();
      ctx.lineWidth = 1.5; ctx.strokeStyle = "#444"; ctx.stroke();
      panels.forEach((pn) => {
        const [mu, s] = pn.fit.path[visibleUpTo(pn)];
        ctx.beginPath(); ctx.lineWidth = 2.5; ctx.strokeStyle = colourOf(pn.name);
        xs.forEach((x, i) => { const y = yPx(normalPdf(x - mu, s * s)); if (i) ctx.lineTo(xToPx(f, x), y); else ctx.moveTo(xToPx(f, x), y); });
        ctx.stroke();
      });
      st.comps.forEach((c, k) => { // handles: a circle on the peak (mean, weight), a square at one width (width)
        const h = c.w / (c.s * Math.sqrt(2 * Math.PI)), x = xToPx(f, c.m), y = yPx(h), xw = xToPx(f, c.m + c.s), yw = yPx(h * Math.exp(-0.5));
        c.handles = { x, y, xw, yw, ymax };
        ctx.lineWidth = k === st.selected ? 3 : 1.5; ctx.strokeStyle = "#000"; ctx.fillStyle = "#fff";
        ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
        ctx.fillRect(xw - 4, yw - 4, 8, 8); ctx.strokeRect(xw - 4, yw - 4, 8, 8);
        ctx.fillStyle = "#000"; ctx.font = "11px sans-serif"; ctx.textAlign = "center"; ctx.fillText(String(k + 1), x, y - 10);
        if (k === st.selected && document.activeElement === densCanvas) { ctx.setLineDash([3, 3]); ctx.lineWidth = 1; ctx.strokeRect(x - 11, y - 11, 22, 22); ctx.setLineDash([]); }
      });
      xAxis(ctx, f, S.x);
    }

    function paint() {
      panels.forEach(paintLandscape);
      paintDensities();
      readout.textContent = panels.map((pn) => {
        const [mu, s, L] = pn.fit.path[visibleUpTo(pn)], sign = OBJECTIVES[pn.name].maximised ? -1 : 1;
        return fill(S.readout, { name: S.names[pn.name], mu0: fmt(st.mu0, 2), sigma0: fmt(st.sigma0, 2), mu: fmt(mu, 4), sigma: fmt(s, 4), value: fmt(sign * L, 6) })
          + " (" + fill(S.nMinima, { n: pn.minima.length }) + ")";
      }).join("\n");
    }

    // --- keeping the controls, the Python and the pictures in step with the state
    function pythonCode() {
      const c = st.comps, lines = ["import klcourse as kc", "",
        "P = kc.gaussian_mixture([" + c.map((x) => py(x.w)).join(", ") + "], [" + c.map((x) => py(x.m)).join(", ") + "], [" + c.map((x) => py(x.s)).join(", ") + "])"];
      objectivesShown().forEach((name) => {
        const v = st.compare ? (name === "forward_kl" ? "forward" : "reverse") : "fit";
        lines.push(v + " = kc.fit_gaussian(P, \"" + name + "\", mu0=" + py(st.mu0) + ", sigma0=" + py(st.sigma0)
          + ", parameterization=\"" + st.param + "\"" + (name === "alpha" ? ", alpha=" + py(st.alpha) : "") + ")");
        lines.push("print(" + v + ".mu, " + v + ".sigma, " + v + ".value)");
      });
      return lines.join("\n");
    }

    function renderComponents() {
      compList.textContent = "";
      st.comps.forEach((c, k) => {
        const field = (key, label, min, max, step) => {
          const id = uid + "-" + key + k;
          const input = el("input", { type: "number", id, min, max, step, value: String(c[key]) });
          input.addEventListener("change", () => {
            const v = parseFloat(input.value);
            if (!Number.isFinite(v)) { input.value = String(c[key]); return; }
            st.selected = k;
            if (key === "w") setWeight(k, v); else c[key] = Math.min(+max, Math.max(+min, round(v, +step)));
            sync(false);
          });
          input.addEventListener("focus", () => { st.selected = k; paintDensities(); });
          return el("span", {}, el("label", { for: id, text: label }), input);
        };
        compList.append(el("div", { class: "kle-comp", role: "group", "aria-label": S.component + " " + (k + 1) },
          el("span", { class: "kle-k", text: String(k + 1) }),
          field("m", S.mean, "-12", "17", "0.1"), field("s", S.width, "0.3", "8", "0.05"), field("w", S.weight, "0.01", "0.99", "0.01"),
          el("button", { type: "button", text: S.remove, "aria-label": S.remove + " " + S.component + " " + (k + 1),
            onclick: () => { st.comps.splice(k, 1); normaliseWeights(); st.selected = 0; sync(false); } })));
      });
      compList.querySelectorAll("button").forEach((b) => { b.disabled = st.comps.length < 2; });
      addBtn.disabled = st.comps.length >= 4;
    }

    function normaliseWeights(keep) { // weights on a 0.01 step that sum to 1; `keep` keeps its weight
      const c = st.comps, total = c.reduce((u, x) => u + x.w, 0);
      c.forEach((x) => { x.w = Math.max(0.01, round(x.w / total, 0.01)); });
      const fix = c.findIndex((x, k) => k !== keep && c.length > 1) >= 0 ? c.findIndex((x, k) => k !== keep) : 0;
      c[fix].w = +(1 - c.reduce((u, x, k) => (k === fix ? u : u + x.w), 0)).toFixed(2);
      c.forEach((x) => { x.w = +x.w.toFixed(2); });
    }

    function setWeight(k, v) {
      const c = st.comps, others = c.reduce((u, x, j) => (j === k ? u : u + x.w), 0);
      if (c.length === 1) { c[0].w = 1; return; }
      const w = Math.min(0.99 - 0.01 * (c.length - 2), Math.max(0.01, round(v, 0.01)));
      c.forEach((x, j) => { if (j !== k) x.w = others > 0 ? x.w * (1 - w) / others : (1 - w) / (c.length - 1); });
      c[k].w = w;
      normaliseWeights(k);
    }

    function sync(rebuild, coarse) {
      objSelect.value = st.objective;
      alphaIn.value = String(st.alpha); alphaOut.value = st.alpha.toFixed(2);
      alphaIn.disabled = st.compare || st.objective !== "alpha";
      objSelect.disabled = st.compare;
      params.forEach((p) => { p.checked = p.value === st.param; });
      compareIn.checked = st.compare;
      if (rebuild || panels.length !== objectivesShown().length || panels.some((pn, i) => pn.name !== objectivesShown()[i])) buildPanels();
      if (!coarse) renderComponents();
      layout();
      compute(coarse);
      code.textContent = pythonCode();
      play();
    }

    function play() { // the flow drawn from its start to its end, or at once under reduced motion
      if (anim) cancelAnimationFrame(anim);
      if (reduced) { panels.forEach((pn) => { pn.at = 1; }); paint(); return; }
      const t0 = performance.now(), dur = 1200;
      const step = (now) => {
        const u = Math.min(1, Math.max(0, (now - t0) / dur)); // a frame's time can precede t0
        panels.forEach((pn) => { pn.at = 1 - (1 - u) ** 2; });
        paint();
        anim = u < 1 ? requestAnimationFrame(step) : null;
      };
      panels.forEach((pn) => { pn.at = 0; });
      paint();
      anim = requestAnimationFrame(step);
    }

    // one recomputation per animation frame while dragging
    function schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        if (anim) { cancelAnimationFrame(anim); anim = null; }
        compute(true);
        panels.forEach((pn) => { pn.at = 1; });
        code.textContent = pythonCode();
        paint();
      });
    }

    // --- pointer and keyboard
    function bindLandscape(pn) {
      const setStart = (ev) => {
        const rect = pn.canvas.getBoundingClientRect(), f = frame(pn.canvas), k = f.w / rect.width;
        st.mu0 = Math.min(X_RANGE[1], Math.max(X_RANGE[0], round(pxToX(f, (ev.clientX - rect.left) * k), 0.05)));
        const s = Math.exp(Math.min(LOG_S_RANGE[1], Math.max(LOG_S_RANGE[0], pxToLs(f, (ev.clientY - rect.top) * k))));
        st.sigma0 = +s.toPrecision(2);
      };
      pn.canvas.addEventListener("pointerdown", (ev) => {
        pn.canvas.setPointerCapture(ev.pointerId); pn.dragging = true; setStart(ev); schedule(); ev.preventDefault();
      });
      pn.canvas.addEventListener("pointermove", (ev) => { if (pn.dragging) { setStart(ev); schedule(); } });
      const end = () => { if (pn.dragging) { pn.dragging = false; sync(false); } };
      pn.canvas.addEventListener("pointerup", end);
      pn.canvas.addEventListener("pointercancel", end);
      pn.canvas.addEventListener("keydown", (ev) => {
        const moves = { ArrowLeft: [-0.5, 1], ArrowRight: [0.5, 1], ArrowUp: [0, 1.25], ArrowDown: [0, 0.8] };
        if (ev.key === "Enter" || ev.key === " ") { play(); ev.preventDefault(); return; }
        if (!moves[ev.key]) return;
        const [dm, fs] = moves[ev.key];
        st.mu0 = Math.min(X_RANGE[1], Math.max(X_RANGE[0], round(st.mu0 + dm * (ev.shiftKey ? 0.2 : 1), 0.05)));
        st.sigma0 = +Math.min(25, Math.max(0.25, st.sigma0 * (ev.shiftKey ? Math.sqrt(fs) : fs))).toPrecision(2);
        ev.preventDefault();
        sync(false);
      });
      pn.canvas.addEventListener("focus", () => paintLandscape(pn));
      pn.canvas.addEventListener("blur", () => paintLandscape(pn));
    }

    let drag = null;
    densCanvas.addEventListener("pointerdown", (ev) => {
      const rect = densCanvas.getBoundingClientRect(), k = frame(densCanvas).w / rect.width;
      const x = (ev.clientX - rect.left) * k, y = (ev.clientY - rect.top) * k;
      let best = null;
      st.comps.forEach((c, k) => {
        const h = c.handles, dc = Math.hypot(x - h.x, y - h.y), dw = Math.hypot(x - h.xw, y - h.yw);
        if (dc < 14 && (!best || dc < best.d)) best = { k, part: "centre", d: dc };
        if (dw < 12 && (!best || dw < best.d)) best = { k, part: "width", d: dw };
      });
      if (!best) return;
      drag = best; st.selected = best.k; frozenY = st.comps[best.k].handles.ymax;
      densCanvas.setPointerCapture(ev.pointerId); ev.preventDefault();
    });
    densCanvas.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const rect = densCanvas.getBoundingClientRect(), f = frame(densCanvas), c = st.comps[drag.k];
      const k = f.w / rect.width, x = pxToX(f, (ev.clientX - rect.left) * k), y = (f.y1 - (ev.clientY - rect.top) * k) / (f.y1 - f.y0) * frozenY;
      if (drag.part === "centre") {
        c.m = Math.min(17, Math.max(-12, round(x, 0.1)));
        if (st.comps.length > 1) setWeight(drag.k, y * c.s * Math.sqrt(2 * Math.PI));
      } else c.s = Math.min(8, Math.max(0.3, round(Math.abs(x - c.m), 0.05)));
      schedule();
    });
    const endDrag = () => { if (drag) { drag = null; frozenY = null; sync(false); } };
    densCanvas.addEventListener("pointerup", endDrag);
    densCanvas.addEventListener("pointercancel", endDrag);
    densCanvas.addEventListener("keydown", (ev) => {
      const c = st.comps[st.selected], big = ev.shiftKey ? 0.1 : 0.5;
      if (/^[1-4]$/.test(ev.key) && +ev.key <= st.comps.length) st.selected = +ev.key - 1;
      else if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") c.m = Math.min(17, Math.max(-12, round(c.m + (ev.key === "ArrowLeft" ? -big : big), 0.1)));
      else if (ev.key === "ArrowUp" || ev.key === "ArrowDown") setWeight(st.selected, c.w + (ev.key === "ArrowUp" ? 0.05 : -0.05));
      else if (ev.key === "+" || ev.key === "=" || ev.key === "-") c.s = Math.min(8, Math.max(0.3, round(c.s * (ev.key === "-" ? 0.8 : 1.25), 0.05)));
      else return;
      ev.preventDefault();
      sync(false);
    });
    densCanvas.addEventListener("focus", paintDensities);
    densCanvas.addEventListener("blur", paintDensities);

    objSelect.addEventListener("change", () => { st.objective = objSelect.value; sync(true); });
    alphaIn.addEventListener("input", () => { st.alpha = round(parseFloat(alphaIn.value), 0.05); sync(false); });
    params.forEach((p) => p.addEventListener("change", () => { st.param = p.value; sync(false); }));
    compareIn.addEventListener("change", () => { st.compare = compareIn.checked; sync(true); });
    addBtn.addEventListener("click", () => {
      if (st.comps.length >= 4) return;
      st.comps.forEach((c) => { c.w *= 0.8; });
      st.comps.push({ w: 0.2, m: 2.5, s: 1.5 });
      normaliseWeights(st.comps.length - 1);
      st.selected = st.comps.length - 1;
      sync(false);
    });
    copyBtn.addEventListener("click", () => {
      const done = () => { copyBtn.textContent = S.copied; setTimeout(() => { copyBtn.textContent = S.copy; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(code.textContent).then(done, () => selectCode());
      else selectCode();
    });
    function selectCode() { const r = document.createRange(); r.selectNodeContents(code); const s = getSelection(); s.removeAllRanges(); s.addRange(r); }
    if (window.ResizeObserver) {
      let lastW = 0;
      new ResizeObserver(() => { const w = root.clientWidth; if (Math.abs(w - lastW) > 2) { lastW = w; layout(); paint(); } }).observe(root);
    }
    sync(true);
  }

  // ----------------------------------------------------------------------- the API for tests
  function api(spec) {
    const T = makeTarget(spec.weights, spec.means, spec.sigmas);
    const alpha = spec.objective === "alpha" ? spec.alpha : undefined;
    return { T, alpha };
  }

  function start() {
    document.querySelectorAll(".kl-explorer").forEach((root) => {
      root.klExplorer = {
        value(spec) {
          const { T, alpha } = api(spec);
          return evaluate(T, spec.objective, spec.mu, spec.sigma, alpha)[0];
        },
        fit(spec) {
          const { T, alpha } = api(spec);
          const f = fitGaussian(T, spec.objective, spec.mu0, spec.sigma0, spec.parameterization || "log_sigma", alpha);
          return { mu: f.mu, sigma: f.sigma, loss: f.loss };
        },
      };
      try { Explorer(root); } catch (err) { root.textContent = String(err); throw err; }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
