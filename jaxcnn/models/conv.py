"""A drop-in for ``lax.conv_general_dilated`` (NHWC/HWIO) that XLA:CPU trains quickly.

Measured on XLA:CPU (jax 0.10.2, 2-core EPYC; see benchmarks/RESULTS.md), per op:
  * dense KxK convs: the native forward and input gradient are the fastest formulations tried
    (shifted matmuls and im2col matmuls were 2-6x slower); the native weight gradient is too,
    but it runs 1.3-2.4x faster summed over slices of the batch of ~1,024 output pixels each
    than over the whole batch (ResNet-18's 3x3 layers at batch 128: 220 -> 110 ms for 64 maps
    at 32x32, 89 -> 64 ms for 256 maps at 8x8), while slicing the forward or input gradient
    gains nothing;
  * grouped convs: the native weight gradient (a ``batch_group_count`` conv) is 30x slower
    than its forward (980 ms against 29 ms for AlexNet-like 5x5 96->128 maps, 2 groups,
    16x16, batch 64); one dense weight gradient per group matches the forward. The native
    input gradient was the slowest op of the small AlexNet's step too (23.5 of ~100 ms for
    conv2), and one dense input gradient per group is again faster;
  * 1x1 convs: one matmul is 2-4x faster than the conv, mostly in the weight gradient;
  * strided convs over few input maps: an im2col matmul forward beat the native conv for
    AlexNet's 11x11/4 on RGB with few output maps (67x67 -> 24 maps at batch 128: 45 against
    87-106 ms), but not with a single input map (the small variants on Fashion-MNIST: 11x11/4
    -> 24 maps 6.6 against 1.6 ms, GoogLeNet's 7x7/2 -> 16 maps 28 against 8 ms) nor with
    64 or more output maps (ResNet's 224x224 RGB stem at batch 32: 337 against 143 ms);
  * convs with tiny output maps (VGG's last block at 2x2 on 32x32 inputs): XLA:CPU's native
    gradients took ~18 ms each for 128 -> 128 maps at batch 128 (~8 GFLOP/s); as im2col
    matmuls, forward and both gradients, the small VGG-11 trained 1.7x faster;
  * stride-1 weight gradients over large maps (ResNet's 64-map 3x3 layers at 32x32): im2col
    matmuls over slices of 2 images, summed in a scan, keep each slice's patch matrix in
    cache: 125 against 150 ms for the batch-sliced native gradient (batch 128), and the
    ResNet-18 CIFAR step 3.18 -> 3.08 s. The native weight gradient inside a loop body ran
    17x slower. Mapping the forward conv over slices of the batch was 10-20% faster alone
    but slower inside the networks (the small VGG-11's step 70 -> 84 ms), so it is not used;
  * input gradients with few maps (LeNet-5's C3: 16 -> 6 maps, 5x5): XLA:CPU's convolution
    with 6 output channels is slow; one matmul per kernel row, its taps added into place in
    a loop (a plain sum of the shifted taps gets fused into, and recomputed by, every
    consumer), took the LeNet-5 step from 6.6 to 6.0 ms (batch 128, quiet machine).
``fast_conv`` is a ``jax.custom_vjp`` that takes, per case, the faster of these for the
forward and for each gradient. ``select`` picks it on CPU and ``lax.conv_general_dilated``
on GPU/TPU, where cuDNN's and XLA's native convolutions are the fast ones.
"""

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

IMPLS = ("auto", "native", "fast")
_NHWC = ("NHWC", "HWIO", "NHWC")
# Strided convs are im2col matmuls in the forward pass only with at most this many products per
# output pixel, at least this many input maps and fewer than this many output maps (see the
# module doc: outside these the native conv was faster).
_IM2COL_MAX_DEPTH = 512
_IM2COL_MIN_MAPS = 2
_IM2COL_MAX_OUT = 64
# Dense convs whose output maps have at most this many pixels (VGG's last block on small
# inputs) are im2col matmuls in the forward pass and both gradients.
_IM2COL_MAX_PIXELS = 4
# Dense weight gradients are summed over batch slices of about this many output pixels, in at
# most this many slices.
_DW_CHUNK_ROWS = 1024
_DW_MAX_CHUNKS = 8
# Input gradients with fewer maps than this (LeNet's C3 has 6) are one matmul per kernel row
# (_col2im_input_grad): XLA:CPU's convolution with so few output channels is slow.
_COL2IM_MAX_MAPS = 8
# Stride-1 dense weight gradients whose output maps have at least _DW_SCAN_MIN_PIXELS pixels,
# over at least _DW_SCAN_MIN_MAPS input maps, are im2col matmuls accumulated in a scan over
# slices of _DW_SCAN_CHUNK images (_scanned_weight_grad).
_DW_SCAN_MIN_PIXELS = 1024
_DW_SCAN_MIN_MAPS = 16
_DW_SCAN_CHUNK = 2
# Convs with at most this many products per output pixel (kh * kw * input maps: first layers
# over one or three input maps) are, in the forward pass, a sum over the kernel's taps of
# strided views of the input times the tap's row of weights (_taps).
_TAPS_MAX_DEPTH = 64


def _is_nhwc(lhs, rhs, dimension_numbers) -> bool:
  if dimension_numbers is None or lhs.ndim != 4:
    return False
  want = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  return lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == want


def _native(x, w, strides, pads, groups, precision):
  return lax.conv_general_dilated(x, w, strides, pads, dimension_numbers=_NHWC,
                                  feature_group_count=groups, precision=precision)


def _largest_divisor(n: int, at_most: int) -> int:
  """The largest divisor of n that is at most at_most (and at least 1)."""
  k = max(1, min(n, at_most))
  while n % k:
    k -= 1
  return k


def _pointwise(x, w, strides, pads, groups, precision):
  """A 1x1 conv as one matmul (per group) over the padded, subsampled pixels."""
  x = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)])
  x = x[:, ::strides[0], ::strides[1], :]
  w = w[0, 0]
  if groups == 1:
    return jnp.dot(x, w, precision=precision)
  n, h, wd, c = x.shape
  out = w.shape[-1]
  x = x.reshape(n, h, wd, groups, c // groups)
  w = w.reshape(c // groups, groups, out // groups)
  return jnp.einsum("nhwgc,cgo->nhwgo", x, w, precision=precision).reshape(n, h, wd, out)


def _im2col(x, w, strides, pads, groups, precision):
  """A conv as one matmul of the (kh, kw, c)-ordered patch matrix with the HWIO kernel."""
  del groups  # Only chosen for dense convs.
  kh, kw, c, out = w.shape
  x = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)])
  _, hp, wp, _ = x.shape
  ho, wo = (hp - kh) // strides[0] + 1, (wp - kw) // strides[1] + 1
  patches = _patches(x, kh, kw, ho, wo, strides)
  return jnp.dot(patches, w.reshape(kh * kw * c, out), precision=precision)


def _taps(x, w, strides, pads, groups, precision):
  """A conv as an elementwise sum over kernel taps and input maps of view * weight row.

  The sum is computed inside a ``lax.cond``, whose result XLA writes to memory once: as a
  bare elementwise sum XLA fuses the whole conv into each of its consumers and recomputes it
  there (max pooling reads every output once per window tap: LeNet-5's first pool took 2.4 ms
  with the conv fused into it, 1.4 ms for conv and pool apart). The other branch, taken only
  when the first weight is NaN, is the native conv, so the result is the conv's either way.
  """
  kh, kw, c, _ = w.shape

  def summed():
    xp = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (*pads[0], 0), (*pads[1], 0),
                                             (0, 0, 0)])
    _, hp, wp, _ = xp.shape
    ho, wo = (hp - kh) // strides[0] + 1, (wp - kw) // strides[1] + 1
    views = _patches(xp, kh, kw, ho, wo, strides, concat=False)
    terms = [view[..., m:m + 1] * w[t // kw, t % kw, m]
             for t, view in enumerate(views) for m in range(c)]
    return functools.reduce(jnp.add, terms)

  first = w[0, 0, 0, 0]
  return lax.cond(first == first, summed,
                  lambda: _native(x, w, strides, pads, groups, precision))


def _patches(x, kh, kw, ho, wo, strides=(1, 1), concat=True):
  """The (kh, kw, c)-ordered patch matrix of padded x, [n, ho, wo, kh * kw * c]."""
  n, _, _, c = x.shape
  views = [lax.slice(x, (0, i, j, 0), (n, i + (ho - 1) * strides[0] + 1,
                                       j + (wo - 1) * strides[1] + 1, c), (1, *strides, 1))
           for i in range(kh) for j in range(kw)]
  return jnp.concatenate(views, axis=-1) if concat else views


def _tiny_maps(x_shape, w_shape, strides, pads, groups) -> bool:
  """A dense conv whose output maps have at most _IM2COL_MAX_PIXELS pixels."""
  pixels = math.prod((x_shape[1 + d] + sum(pads[d]) - w_shape[d]) // strides[d] + 1
                     for d in range(2))
  return groups == 1 and pixels <= _IM2COL_MAX_PIXELS


def _forward_impl(x_shape, w_shape, strides, pads, groups):
  kh, kw, cin, out = w_shape
  if kh == kw == 1:
    return _pointwise
  if _tiny_maps(x_shape, w_shape, strides, pads, groups):
    return _im2col
  if groups == 1 and kh * kw * cin <= _TAPS_MAX_DEPTH:
    return _taps
  if (groups == 1 and max(strides) > 1 and kh * kw * cin <= _IM2COL_MAX_DEPTH
      and _IM2COL_MIN_MAPS <= cin and out < _IM2COL_MAX_OUT):
    return _im2col
  return _native


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def fast_conv(x, w, strides, pads, groups, precision):
  """NHWC x HWIO convolution with explicit ((lo, hi), (lo, hi)) padding and no dilation."""
  return _forward_impl(x.shape, w.shape, strides, pads, groups)(x, w, strides, pads, groups,
                                                               precision)


def _fast_conv_fwd(x, w, strides, pads, groups, precision):
  return fast_conv(x, w, strides, pads, groups, precision), (x, w)


def _batch_chunks(n: int, pixels: int) -> int:
  """How many slices of the batch a dense weight gradient is summed over (a divisor of n)."""
  return _largest_divisor(n, min(_DW_MAX_CHUNKS, n * pixels // _DW_CHUNK_ROWS))


def _weight_grad(x, w, dy, strides, pads, precision):
  """The dense native weight gradient, summed over slices of the batch (see the module doc)."""
  if (strides == (1, 1) and dy.shape[1] * dy.shape[2] >= _DW_SCAN_MIN_PIXELS
      and x.shape[-1] >= _DW_SCAN_MIN_MAPS and x.shape[0] > 1):
    return _scanned_weight_grad(x, w, dy, pads, precision)
  n = x.shape[0]
  k = _batch_chunks(n, dy.shape[1] * dy.shape[2])
  m = n // k
  dw = None
  for i in range(k):
    xi, dyi = x[i * m:(i + 1) * m], dy[i * m:(i + 1) * m]
    _, vjp_w = jax.vjp(lambda w: _native(xi, w, strides, pads, 1, precision), w)
    part = vjp_w(dyi)[0]
    dw = part if dw is None else dw + part
  return dw


def _scanned_weight_grad(x, w, dy, pads, precision):
  """A stride-1 dense weight gradient as im2col matmuls summed in a scan over batch slices.

  Per slice of _DW_SCAN_CHUNK images the patch matrix stays in cache; over the whole batch
  (or in XLA:CPU's native weight gradient) it would not. (Not the native weight gradient per
  slice: inside a loop body XLA:CPU runs that conv 17x slower.)
  """
  kh, kw, c, out = w.shape
  n = x.shape[0]
  _, ho, wo, _ = dy.shape
  chunk = _largest_divisor(n, _DW_SCAN_CHUNK)
  x = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)])
  xs = x.reshape(n // chunk, chunk, *x.shape[1:])
  dys = dy.reshape(n // chunk, chunk, ho, wo, out)

  def product(xc, dyc):
    return jnp.einsum("nhwp,nhwo->po", _patches(xc, kh, kw, ho, wo), dyc, precision=precision)

  # The first slice outside the loop: the carry then has the operands' type (as in
  # _col2im_input_grad, for shard_map).
  dw, _ = lax.scan(lambda acc, a: (acc + product(*a), None), product(xs[0], dys[0]),
                   (xs[1:], dys[1:]))
  return dw.reshape(kh, kw, c, out)


def _col2im_input_grad(x_shape, w, dy, strides, pads, precision):
  """A dense conv's input gradient as one matmul per kernel row, added into place by tap."""
  kh, kw, c, out = w.shape
  n, h, wd, _ = x_shape
  _, ho, wo, _ = dy.shape
  hp, wp = h + sum(pads[0]), wd + sum(pads[1])
  w_rows = w.transpose(0, 3, 1, 2).reshape(kh, out, kw * c)
  zero = jnp.zeros((), dy.dtype)

  # A loop over kernel rows, not a sum of padded taps: XLA:CPU would fuse that sum into each
  # consumer (max pooling's gradient reads it once per window tap) and recompute it there.
  def add_row(i, acc):
    taps = jnp.dot(dy, w_rows[i], precision=precision).reshape(n, ho, wo, kw, c)
    for j in range(kw):
      tap = lax.pad(taps[:, :, :, j], zero, [(0, 0, 0), (0, 0, strides[0] - 1),
                                             (0, 0, strides[1] - 1), (0, 0, 0)])
      at = (0, i, j, 0)
      acc = lax.dynamic_update_slice(acc, lax.dynamic_slice(acc, at, tap.shape) + tap, at)
    return acc

  # The first row outside the loop: the carry then has dy's type, which inside shard_map
  # (AlexNet's towers) includes the mesh axes it varies over, as a fresh zeros would not.
  dx = lax.fori_loop(1, kh, add_row, add_row(0, jnp.zeros((n, hp, wp, c), dy.dtype)))
  return dx[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + wd]


def _fast_conv_bwd(strides, pads, groups, precision, residuals, dy):
  x, w = residuals
  if w.shape[:2] == (1, 1):
    impl = _pointwise
  elif _tiny_maps(x.shape, w.shape, strides, pads, groups):
    impl = _im2col
  else:
    impl = _native
  if impl is _native:
    # XLA:CPU's grouped gradients are slow; G dense ones are not.
    cin, out = w.shape[2], w.shape[3] // groups
    xs = [x[..., g * cin:(g + 1) * cin] for g in range(groups)]
    ws = [w[..., g * out:(g + 1) * out] for g in range(groups)]
    dys = [dy[..., g * out:(g + 1) * out] for g in range(groups)]
    if cin < _COL2IM_MAX_MAPS:
      dx = jnp.concatenate([_col2im_input_grad(xg.shape, wg, dyg, strides, pads, precision)
                            for xg, wg, dyg in zip(xs, ws, dys)], axis=-1)
    else:
      dx = jnp.concatenate(
          [jax.vjp(lambda x: _native(x, wg, strides, pads, 1, precision), xg)[1](dyg)[0]
           for xg, wg, dyg in zip(xs, ws, dys)], axis=-1)
    dw = jnp.concatenate([_weight_grad(xg, wg, dyg, strides, pads, precision)
                          for xg, wg, dyg in zip(xs, ws, dys)], axis=-1)
  else:
    _, vjp_x = jax.vjp(lambda x: impl(x, w, strides, pads, groups, precision), x)
    (dx,) = vjp_x(dy)
    _, vjp_w = jax.vjp(lambda w: impl(x, w, strides, pads, groups, precision), w)
    (dw,) = vjp_w(dy)
  return dx, dw


fast_conv.defvjp(_fast_conv_fwd, _fast_conv_bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
  """``lax.conv_general_dilated``'s signature; NHWC convs without dilation go to ``fast_conv``.

  Anything else (dilation, other layouts, batch groups) is passed to lax unchanged.
  """
  plain = (_is_nhwc(lhs, rhs, dimension_numbers) and batch_group_count == 1
           and preferred_element_type is None
           and all(d == 1 for d in (lhs_dilation or (1, 1)))
           and all(d == 1 for d in (rhs_dilation or (1, 1))))
  if not plain:
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count, batch_group_count=batch_group_count,
        precision=precision, preferred_element_type=preferred_element_type)
  strides = tuple(int(s) for s in window_strides)
  if isinstance(padding, str):
    pads = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], strides, padding)
  else:
    pads = padding
  pads = tuple((int(lo), int(hi)) for lo, hi in pads)
  return fast_conv(lhs, rhs, strides, pads, int(feature_group_count), precision)


def use_fast(impl: str) -> bool:
  """Whether ``impl`` ("auto", "native" or "fast") means ``fast_conv`` on this backend."""
  if impl not in IMPLS:
    raise ValueError(f"conv_impl must be one of {', '.join(IMPLS)}; got {impl!r}.")
  return impl == "fast" or (impl == "auto" and jax.default_backend() == "cpu")


def select(impl: str):
  """The convolution callable for nn.Conv's ``conv_general_dilated`` field."""
  return conv_general_dilated if use_fast(impl) else lax.conv_general_dilated
