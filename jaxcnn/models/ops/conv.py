"""A drop-in for ``lax.conv_general_dilated`` (NHWC/HWIO) that XLA:CPU trains quickly.

Two parts, both chosen on CPU only (``jaxcnn.models.ops.select``, ``compiler_options``):

XLA's own convolutions. jaxlib 0.10.2 hands convolutions to its YNNPACK library by default;
XLA's Eigen convolutions run these networks' 3x3 layers faster, in the forward pass and both
gradients, the weight gradient most. ``compiler_options`` gives the jitted steps the XLA option
that keeps YNNPACK for dots and reductions only (with reductions on XLA's own loops too,
ResNet-18's step was slower: XLA's own reductions, BatchNorm's among them, are slow).

``fast_conv``, a ``jax.custom_vjp`` that takes, per case, the faster formulation measured:
  * first layers over few input maps (at most 64 products per output pixel: LeNet-5's 5x5 on
    one map, the small variants' stems, ResNet's 3x3 CIFAR stem): the forward pass as a sum
    over kernel taps of strided views times weight rows, elementwise, since XLA's convolution
    over so few input maps is slow. With 121 products (AlexNet's 11x11) the native conv is
    faster;
  * grouped convs: XLA:CPU's grouped weight gradient (a ``batch_group_count`` conv) is much
    slower than its forward pass, and its grouped input gradient the slowest op of the small
    AlexNet's step; one dense gradient per group matches the forward;
  * 1x1 convs: one matmul, faster than the conv, mostly in the weight gradient;
  * convs with tiny output maps (VGG's last block at 2x2 on 32x32 inputs): im2col matmuls,
    forward and both gradients, which on maps this small train the small VGG-11 much faster
    than XLA's convolution;
  * input gradients with few maps (LeNet-5's C3: 16 -> 6 maps, 5x5): XLA's convolution with
    6 output channels is slow; one matmul per kernel row, its taps added into place in a loop
    (a plain sum of shifted taps gets fused into, and recomputed by, every consumer), shortens
    LeNet-5's step;
  * weight gradients: XLA transposes the input and output gradient for its convolution and
    fuses the transposes with the input's producers, recomputing them with strided reads;
    transposing from memory instead (``_weight_grad``) shortens ResNet-18's step.
Everything else is the native conv. Measured with XLA's own convolutions, batch-sliced or
im2col weight gradients and im2col strided forwards, which had helped beside YNNPACK, were
slower than the native conv, so they are gone. On GPU/TPU ``ops.select`` picks
``lax.conv_general_dilated`` and ``compiler_options`` nothing: cuDNN's and XLA's native
convolutions are the fast ones there.

The measurements behind each choice: benchmarks/RESULTS.md, section "Why the CPU code is
written as it is: the measurements behind its comments".
"""

import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn.config import CONV_IMPLS as IMPLS  # "auto", "native", "fast"

_NHWC = ("NHWC", "HWIO", "NHWC")
# Dense convs whose output maps have at most this many pixels (VGG's last block on small
# inputs) are im2col matmuls in the forward pass and both gradients.
_IM2COL_MAX_PIXELS = 4
# Input gradients with fewer maps than this (LeNet's C3 has 6) are one matmul per kernel row
# (_col2im_input_grad): XLA:CPU's convolution with so few output channels is slow.
_COL2IM_MAX_MAPS = 8
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


def _in_memory(fn, *operands):
  """``fn(*operands)``, computed once into memory, its operands read from memory.

  XLA:CPU fuses elementwise producers into their consumers, recomputing them there. That
  loses where a consumer reads a producer many times over (max pooling reads a conv's output
  once per window tap) or in another order (a transpose recomputing a ResNet block's
  BatchNorm, ReLU and residual adds with strided reads). Neither ``lax.optimization_barrier``
  (removed before fusion on CPU) stops it; a ``lax.cond`` does, since its operands and results
  are buffers. Both branches are ``fn``, so the predicate (the operand's first element equals
  itself, false only for NaN) does not change the result.
  """
  first = operands[0].ravel()[0]
  return lax.cond(first == first, fn, fn, *operands)


def _taps(x, w, strides, pads, groups, precision):
  """A conv as an elementwise sum over kernel taps and input maps of view * weight row.

  Computed ``_in_memory``: fused into LeNet-5's first max pooling, the sum was recomputed for
  every window tap, and the conv and pool together took longer than the two computed apart.
  """
  del groups, precision  # Only chosen for dense convs; elementwise products are exact fp32.
  kh, kw, c, _ = w.shape

  def summed(x, w):
    xp = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (*pads[0], 0), (*pads[1], 0),
                                             (0, 0, 0)])
    _, hp, wp, _ = xp.shape
    ho, wo = (hp - kh) // strides[0] + 1, (wp - kw) // strides[1] + 1
    views = _patches(xp, kh, kw, ho, wo, strides, concat=False)
    terms = [view[..., m:m + 1] * w[t // kw, t % kw, m]
             for t, view in enumerate(views) for m in range(c)]
    return functools.reduce(jnp.add, terms)

  return _in_memory(summed, x, w)


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
  kh, kw, cin, _ = w_shape
  if kh == kw == 1:
    return _pointwise
  if _tiny_maps(x_shape, w_shape, strides, pads, groups):
    return _im2col
  if groups == 1 and kh * kw * cin <= _TAPS_MAX_DEPTH:
    return _taps
  return _native


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def fast_conv(x, w, strides, pads, groups, precision):
  """NHWC x HWIO convolution with explicit ((lo, hi), (lo, hi)) padding and no dilation."""
  return _forward_impl(x.shape, w.shape, strides, pads, groups)(x, w, strides, pads, groups,
                                                               precision)


def _fast_conv_fwd(x, w, strides, pads, groups, precision):
  return fast_conv(x, w, strides, pads, groups, precision), (x, w)


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


def _weight_grad(x, w_shape, dy, strides, pads, precision):
  """A dense conv's weight gradient as XLA:CPU's convolution wants its operands laid out.

  The gradient is a conv of the input, its maps as the batch and its images as the features
  ([C, H, W, N]), with the output gradient as the kernel ([H, W, N, O]). XLA transposes x and
  dy to that layout itself, but fuses the transposes with x's producers (a ResNet block's
  BatchNorm, ReLU and residual adds), which it then recomputes with strided reads: these
  fusions were a costly part of ResNet-18's step. Here the transposes read x and dy from
  memory (``_in_memory``), which shortens ResNet-18's step.
  """
  xt, dyt = _in_memory(lambda x, dy: (jnp.transpose(x, (3, 1, 2, 0)),
                                      jnp.transpose(dy, (1, 2, 0, 3))), x, dy)
  # The output spans the kernel: drop the high padding that the strides leave unread.
  hi = [(dy.shape[1 + d] - 1) * strides[d] + w_shape[d] - x.shape[1 + d] - pads[d][0]
        for d in range(2)]
  dw = lax.conv_general_dilated(xt, dyt, (1, 1), ((pads[0][0], hi[0]), (pads[1][0], hi[1])),
                                rhs_dilation=strides, dimension_numbers=_NHWC,
                                precision=precision)
  return jnp.transpose(dw, (1, 2, 0, 3))


def _varying_axes(a) -> frozenset:
  """The mesh axes a value varies over inside shard_map (empty outside it)."""
  aval = jax.typeof(a)
  axes = getattr(aval, "vma", None)
  if axes is None:
    axes = getattr(getattr(aval, "manual_axis_type", None), "varying", frozenset())
  return frozenset(axes)


def _like_param(grad, param):
  """A gradient summed over the mesh axes it varies over and its parameter does not.

  Inside shard_map (AlexNet's towers) a weight gradient computed from per-device data varies
  over the data axis too; autodiff would sum it there, as the parameter is the same on every
  data shard. A gradient computed by hand has to do the same.
  """
  extra = tuple(sorted(_varying_axes(grad) - _varying_axes(param)))
  return lax.psum(grad, extra) if extra else grad


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
    dw = _like_param(jnp.concatenate([_weight_grad(xg, wg.shape, dyg, strides, pads, precision)
                                      for xg, wg, dyg in zip(xs, ws, dys)], axis=-1), w)
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


# XLA:CPU hands dots and reductions to its YNNPACK library, and by default convolutions too;
# XLA's own (Eigen) convolutions train these networks faster (see the module doc).
_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
                "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE"}


@functools.cache
def _cpu_options_accepted() -> bool:
  """Whether this jaxlib knows _CPU_OPTIONS (an experimental flag: it may be renamed)."""
  try:
    jax.jit(lambda a: a + 1, compiler_options=_CPU_OPTIONS).lower(1.0).compile()
  except Exception:  # pylint: disable=broad-except
    return False
  return True


def compiler_options(impl: str) -> dict | None:
  """XLA compiler options for the jitted steps of a model built with ``conv_impl=impl``.

  On CPU with the fast path, XLA's own convolutions in place of YNNPACK's; None otherwise
  (XLA's defaults, as with ``conv_impl=native``).
  """
  if not use_fast(impl) or jax.default_backend() != "cpu":
    return None
  return dict(_CPU_OPTIONS) if _cpu_options_accepted() else None
