"""3D convolutional recurrent cells that fuse the per-view feature grids.

Notation: ``x_t`` is the unprojected grid of view t, ``[B, D, H, W, C]``; the state ``h`` is
``[B, D, H, W, F]`` (release F = 32); ``*`` is a 3D "same" convolution with a ``k^3`` kernel
(release k = 3) and no bias when layer norm is on; ``LN`` is :class:`models.norms.LayerNorm`
(statistics over D, H, W, C jointly, per-channel gamma/beta); ``[a, b]`` concatenates channels.

ConvGRU (release ``ConvGRUCell``; ``Gates/kernel`` ``[k,k,k,C+F,2F]``, ``Output/kernel``
``[k,k,k,C+F,F]``)::

    g    = [x, h] * W_gates                      (2F channels: reset first, update second)
    r    = sigmoid(LN_0(g[..., :F]))             (Gates/LayerNorm)
    u    = sigmoid(LN_1(g[..., F:]))             (Gates/LayerNorm_1)
    c    = tanh(LN([x, r h] * W_out))            (Output/LayerNorm)
    h'   = u h + (1 - u) c

Without layer norm the convolutions have biases instead (gates initialised to 1, output to 0).

ConvLSTM (release ``ConvLSTMCell``; ``kernel`` ``[k,k,k,C+F,4F]``)::

    j, i, f, o = split([x, h] * W, 4)            (each through LN: LayerNorm .. LayerNorm_3)
    m'  = m sigmoid(f + forget_bias) + sigmoid(i) tanh(j),  then LN (LayerNorm_4)
    h'  = tanh(m') sigmoid(o)

3D convolutions go through :func:`models.layers.conv3d` (native, or the equivalent 2D
decomposition for JAX on CPU), in the precision of :mod:`models.precision`. Each convolution of
a concatenation ``[x, h] * W`` is computed as ``x * W_x + h * W_h`` (the same linear map):
:func:`fuse_views` convolves each view's input apart from the recurrence (``project_inputs``)
and each step adds the state's share (``step``), which is skipped while the state is zero.
From the zero state a cell also leaves out the gate that only multiplies the state (the
GRU's reset gate ``r``, since ``r h = 0``; the LSTM's forget gate ``f``, since ``m f = 0``):
its input channels are not convolved for the first view, forward or backward, which is the
same result (they would get a zero gradient; a third of the GRU's first projection is
saved). Both cells start from zero state. :func:`fuse_views` (views-first ``[V*B, ...]``
grids, as the LSM trunk holds them) and :func:`run_over_views` (``[B, V, ...]``) unroll a
cell over the views and return the output after every view, so step k depends on views 0..k
only.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.layers import conv3d
from models.norms import LayerNorm
from models.precision import conv_dtype, lowp

RNNS = ("gru", "lstm")


def _ln_name(i: int) -> str:
    """TF1 name of the i-th layer norm in one variable scope."""
    return "LayerNorm" if i == 0 else f"LayerNorm_{i}"


def project_input_channels(x: Any, constant: Any, kernel: Any, dtype: str) -> Any:
    """``conv3d([x, constant], kernel)``, where ``x`` is convolved in ``dtype`` and
    ``constant`` (channels given no gradient) apart, in float32, with only the kernel
    differentiated through it.

    The LSM's unprojected grids come with the voxel depth channel, a function of the cameras
    alone, which nothing trains: its input gradient is not needed, and computing the input
    gradient of a 33-channel convolution cost oneDNN 1.5x that of a 32-channel one
    (``docs/performance.md``). The value is the same (the sum of the two channel groups'
    convolutions).

    Args:
      x: ``[N, D, H, W, C]`` float32, or already in ``dtype`` (then not cast again);
        constant: ``[N, D, H, W, C']`` or ``None``; kernel: ``[k, k, k, C + C', O]``
        (``C'`` = 0 without ``constant``); dtype: compute dtype of ``x``'s convolution.

    Returns:
      ``[N, D, H, W, O]`` float32.
    """
    c = x.shape[-1]
    out = lowp(conv3d, x, kernel[..., :c, :], dtype)
    if constant is None:
        return out
    return out + conv3d(ops.stop_gradient(ops.cast(constant, "float32")), kernel[..., c:, :])


def finish_groups(y: Any, groups: tuple[int, ...], filters: int, norms: list[Any],
                  bias: Any) -> list[Any]:
    """Per-group layer norms or bias applied to ``y`` ``[B, D, H, W, G * F]``, which holds the
    output groups ``groups`` (indices in order, ``G = len(groups)``, ``F = filters``) of a
    convolution whose every output group has its own norm (``norms``, indexed by group) or,
    when ``norms`` is empty, whose outputs have the bias ``bias`` ``[n * F]`` (n groups in
    all). Returns the list of the ``G`` groups ``[B, D, H, W, F]``."""
    if not norms:
        every = groups == tuple(range(int(bias.shape[0]) // filters))
        y = y + (bias if every else ops.concatenate(
            [bias[i * filters:(i + 1) * filters] for i in groups], axis=0))
    parts = ops.split(y, len(groups), axis=-1)
    if norms:
        parts = [norms[i](p) for i, p in zip(groups, parts, strict=True)]
    return list(parts)


class SplitConv3D(keras.layers.Layer):
    """A bias-free 3D conv whose output is split into ``splits`` groups, each layer-normed.

    ``[B, D, H, W, C_in]`` -> list of ``splits`` tensors ``[B, D, H, W, filters]``.
    With ``layer_norm=False`` a bias (initial value ``bias_init``) replaces the norms.

    Args:
      filters: channels per group ``F``.
      splits: number of groups (kernel has ``splits * F`` outputs).
      kernel_size: cube kernel side.
      layer_norm: layer-norm each group (release) or add a bias.
      bias_init: initial bias value when ``layer_norm`` is off.
    """

    def __init__(
        self,
        filters: int,
        splits: int,
        kernel_size: int = 3,
        layer_norm: bool = True,
        bias_init: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.splits = int(splits)
        self.kernel_size = int(kernel_size)
        self.layer_norm = bool(layer_norm)
        self.bias_init = float(bias_init)
        self.conv_dtype = conv_dtype()
        self.norms = (
            [LayerNorm(name=_ln_name(i)) for i in range(self.splits)] if self.layer_norm else []
        )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        k = self.kernel_size
        m = self.splits * self.filters
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, k, int(input_shape[-1]), m), initializer="glorot_uniform"
        )
        if self.layer_norm:
            for norm in self.norms:
                norm.build((*input_shape[:-1], self.filters))
        else:
            self.bias = self.add_weight(
                name="bias", shape=(m,), initializer=keras.initializers.Constant(self.bias_init)
            )

    def call(self, x: Any) -> list[Any]:
        return self.finish(lowp(conv3d, x, self.kernel, self.conv_dtype))

    def finish(self, y: Any, groups: tuple[int, ...] | None = None) -> list[Any]:
        """The bias or layer norms applied to a convolution output ``y``
        ``[B, D, H, W, G * F]`` that holds the output groups ``groups`` (indices into the
        ``splits`` groups, in order; default all of them, ``G = splits``): the list of the
        ``G`` groups ``[B, D, H, W, F]``, each with its own norm or bias."""
        groups = tuple(range(self.splits)) if groups is None else tuple(groups)
        return finish_groups(y, groups, self.filters, self.norms,
                             None if self.layer_norm else self.bias)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "splits": self.splits,
            "kernel_size": self.kernel_size,
            "layer_norm": self.layer_norm,
            "bias_init": self.bias_init,
        }


class ConvGRU3D(keras.layers.Layer):
    """ConvGRU cell (module docstring): ``call(x, h) -> (h', h')``.

    Args:
      filters: hidden channels ``F`` (release 32).
      kernel_size: cube kernel side (release 3).
      layer_norm: layer norm on both gates and the candidate (release True).
      name: release ``"ConvGRUCell"``.
    """

    def __init__(
        self,
        filters: int = 32,
        kernel_size: int = 3,
        layer_norm: bool = True,
        name: str = "ConvGRUCell",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.layer_norm = bool(layer_norm)
        self.gates = SplitConv3D(
            self.filters, 2, self.kernel_size, self.layer_norm, bias_init=1.0, name="Gates"
        )
        self.candidate = SplitConv3D(
            self.filters, 1, self.kernel_size, self.layer_norm, bias_init=0.0, name="Output"
        )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        cat = (*input_shape[:-1], int(input_shape[-1]) + self.filters)
        self.gates.build(cat)
        self.candidate.build(cat)

    @property
    def conv_dtype(self) -> str:
        """Compute dtype of the cell's convolutions (both units were built under one policy)."""
        return self.gates.conv_dtype

    def initial_state(self, x: Any) -> Any:
        """Zero state ``[B, D, H, W, F]`` for an input ``x`` ``[B, D, H, W, C]``."""
        return ops.repeat(ops.zeros_like(ops.stop_gradient(x[..., :1])), self.filters, axis=-1)

    def input_kernel(self, zero_state: bool = False) -> tuple[Any, ...]:
        """The kernels restricted to the input channels: ``(W_gates, W_out)``, ``[k, k, k, C,
        2F]`` (reset, update) and ``[k, k, k, C, F]``; with ``zero_state`` one kernel without
        the reset gate's outputs, ``([W_gates(update) | W_out],)`` ``[k, k, k, C, 2F]`` (what
        :meth:`step` reads from the zero state). The gates and the candidate are projected
        apart (two convolutions rather than one of ``3F`` outputs and a split of its float32
        output, and the concatenation of its gradient)."""
        c = self.gates.kernel.shape[-2] - self.filters
        if zero_state:
            return (ops.concatenate([self.gates.kernel[..., :c, self.filters:],
                                     self.candidate.kernel[..., :c, :]], axis=-1),)
        return self.gates.kernel[..., :c, :], self.candidate.kernel[..., :c, :]

    def project_inputs(self, x: Any, constant: Any = None, kernel: tuple[Any, ...] | None = None
                       ) -> tuple[Any, ...]:
        """The input's share of the pre-activations, ``[x, constant] * W`` for each kernel of
        :meth:`input_kernel` (``kernel``, when the caller already has it): ``[N, D, H, W, C]``
        (and ``[N, D, H, W, C']``) -> ``([N, D, H, W, 2F], [N, D, H, W, F])`` float32 (reset
        and update, candidate). It does not depend on the state, so :func:`fuse_views`
        computes it apart from the recurrence. ``constant`` holds input channels given no
        gradient (:func:`project_input_channels`)."""
        kernel = self.input_kernel() if kernel is None else kernel
        return tuple(project_input_channels(x, constant, k, self.conv_dtype) for k in kernel)

    def step(self, xw: Any, h: Any, zero_state: bool = False) -> tuple[Any, Any]:
        """One update from the projected input ``xw`` (:meth:`project_inputs`) and state ``h``
        ``[B, D, H, W, F]``. Returns ``(h', h')``.

        ``zero_state`` says ``h`` is all zeros: ``xw`` then holds only the update gate's and
        the candidate's channels (``([..., 2F],)``, projected with ``input_kernel(zero_state=
        True)``), the state's convolutions and the reset gate are skipped (they add nothing)
        and ``h' = (1 - u) tanh(c)``."""
        f = self.filters
        if zero_state:
            u, c = ops.split(xw[0], 2, axis=-1)
            (u,) = self.gates.finish(u, groups=(1,))
            (c,) = self.candidate.finish(c)
            h_new = (1.0 - ops.sigmoid(u)) * ops.tanh(c)
            return h_new, h_new
        g, c = xw
        g = g + lowp(conv3d, h, self.gates.kernel[..., -f:, :], self.gates.conv_dtype)
        r, u = self.gates.finish(g)
        r, u = ops.sigmoid(r), ops.sigmoid(u)
        c = c + lowp(conv3d, r * h, self.candidate.kernel[..., -f:, :], self.candidate.conv_dtype)
        (c,) = self.candidate.finish(c)
        t = ops.tanh(c)
        h_new = t + u * (h - t)  # u h + (1 - u) t in fewer passes (forward and backward)
        return h_new, h_new

    def call(self, x: Any, state: Any) -> tuple[Any, Any]:
        # The convolutions of [x, h] and [x, r h] as the sums of the input's and the state's
        # parts (the same linear map): the input's part is shared and can be batched.
        return self.step(self.project_inputs(x), state)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "layer_norm": self.layer_norm,
        }


class ConvLSTM3D(keras.layers.Layer):
    """ConvLSTM cell (module docstring): ``call(x, (m, h)) -> (h', (m', h'))``.

    Args:
      filters: hidden channels ``F``.
      kernel_size: cube kernel side.
      layer_norm: layer norm on the four pre-activations and on the memory (release True).
      forget_bias: added to the forget gate pre-activation (release 1.0).
      name: release ``"ConvLSTMCell"``.
    """

    def __init__(
        self,
        filters: int = 32,
        kernel_size: int = 3,
        layer_norm: bool = True,
        forget_bias: float = 1.0,
        name: str = "ConvLSTMCell",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.layer_norm = bool(layer_norm)
        self.forget_bias = float(forget_bias)
        self.conv_dtype = conv_dtype()
        self.norms = [LayerNorm(name=_ln_name(i)) for i in range(5)] if self.layer_norm else []

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        k, f = self.kernel_size, self.filters
        n = int(input_shape[-1]) + f
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, k, n, 4 * f), initializer="glorot_uniform"
        )
        if self.layer_norm:
            for norm in self.norms:
                norm.build((*input_shape[:-1], f))
        else:
            self.bias = self.add_weight(name="bias", shape=(4 * f,), initializer="zeros")

    def initial_state(self, x: Any) -> tuple[Any, Any]:
        """Zero ``(memory, output)``, each ``[B, D, H, W, F]``, for input ``x``."""
        z = ops.repeat(ops.zeros_like(ops.stop_gradient(x[..., :1])), self.filters, axis=-1)
        return z, z

    def input_kernel(self, zero_state: bool = False) -> tuple[Any, ...]:
        """The kernel restricted to the input channels, ``([k, k, k, C, 4F],)`` (j, i, f, o);
        with ``zero_state`` without the forget gate's outputs, ``([k, k, k, C, 3F],)`` (j, i,
        o: what :meth:`step` reads from the zero state)."""
        k = self.kernel[..., :self.kernel.shape[-2] - self.filters, :]
        if not zero_state:
            return (k,)
        f = self.filters
        return (ops.concatenate([k[..., :2 * f], k[..., 3 * f:]], axis=-1),)

    def project_inputs(self, x: Any, constant: Any = None, kernel: tuple[Any, ...] | None = None
                       ) -> tuple[Any, ...]:
        """The input's share of the four pre-activations, ``[N, D, H, W, C]`` ->
        ``([N, D, H, W, 4F],)`` (see :meth:`ConvGRU3D.project_inputs`)."""
        kernel = self.input_kernel() if kernel is None else kernel
        return tuple(project_input_channels(x, constant, k, self.conv_dtype) for k in kernel)

    def step(self, xw: Any, state: tuple[Any, Any], zero_state: bool = False
             ) -> tuple[Any, tuple[Any, Any]]:
        """One update from the projected input ``xw`` (:meth:`project_inputs`) and the state
        ``(m, h)``.

        ``zero_state`` says the state is all zeros: ``xw`` then holds only the j, i and o
        channels (``([..., 3F],)``, projected with ``input_kernel(zero_state=True)``), the
        state's convolution and the forget gate are skipped (they add nothing) and
        ``m' = sigmoid(i) tanh(j)`` (then LN)."""
        m, h = state
        (y,) = xw
        groups = (0, 1, 3) if zero_state else (0, 1, 2, 3)
        if not zero_state:
            y = y + lowp(conv3d, h, self.kernel[..., -self.filters :, :], self.conv_dtype)
        parts = finish_groups(y, groups, self.filters, self.norms[:4],
                              None if self.layer_norm else self.bias)
        if zero_state:
            j, i, o = parts
            m_new = ops.sigmoid(i) * ops.tanh(j)
        else:
            j, i, f, o = parts
            m_new = m * ops.sigmoid(f + self.forget_bias) + ops.sigmoid(i) * ops.tanh(j)
        if self.layer_norm:
            m_new = self.norms[4](m_new)
        h_new = ops.tanh(m_new) * ops.sigmoid(o)
        return h_new, (m_new, h_new)

    def call(self, x: Any, state: tuple[Any, Any]) -> tuple[Any, tuple[Any, Any]]:
        return self.step(self.project_inputs(x), state)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "layer_norm": self.layer_norm,
            "forget_bias": self.forget_bias,
        }


def fuse_views(cell: ConvGRU3D | ConvLSTM3D, x: Any, views: int, constant: Any = None,
               initial_state: Any = None) -> Any:
    """Run ``cell`` over the views of views-first grids and return the output of every step.

    Args:
      cell: a built :class:`ConvGRU3D` or :class:`ConvLSTM3D`.
      x: ``[V*B, D, H, W, C]``, views first (entry ``v * B + b`` is view v of model b), in
        float32 or already in the cell's compute dtype (then not cast again).
      views: V (static).
      constant: ``[V*B, D, H, W, C']`` trailing input channels given no gradient (the
        unprojection's depth channel: :func:`project_input_channels`), or ``None``.
      initial_state: the cell's state (``[B, D, H, W, F]`` tensors), or ``None`` for zeros.

    Returns:
      ``[V*B, D, H, W, F]`` float32, views first: entry ``v * B + b`` is the output after
      views 0..v of model b.
    """
    # The input's share of the convolutions view by view (they do not depend on the state, so
    # a graph runs them beside the recurrence; one convolution of all views, split afterwards,
    # was 6% slower per V-LSM 8 x 4 bfloat16 step on a 2-core CPU: the split of its [V*B, ...,
    # 3F] float32 output and the concatenation of its gradient are 400 MB copies), then the
    # recurrence; the state's convolutions are skipped while it is the zero state. Views
    # first, each view's slice and the stack of the outputs are contiguous, and so are their
    # gradients (slicing the view axis of [B, V, ...] cost more than the GRU's elementwise
    # maths on a CPU). The GRU projects its gates and its candidate with two convolutions
    # (no split of a float32 3F-channel output, no concatenation of its gradient: 1.5-2% of
    # a V-LSM 8 x 4 bfloat16 step).
    # From the zero state the first view is projected without the gate that only multiplies
    # the state (module docstring): a third of that view's projection (GRU) is not computed.
    xs = ops.split(x, views, axis=0)
    cs = [None] * views if constant is None else ops.split(constant, views, axis=0)
    kernel = cell.input_kernel()  # sliced once, shared by the views' projections
    zero = initial_state is None
    xw = [cell.project_inputs(a, b, cell.input_kernel(zero_state=True) if zero and v == 0
                              else kernel) for v, (a, b) in enumerate(zip(xs, cs, strict=True))]
    state = cell.initial_state(xw[0][0]) if zero else initial_state
    outputs = []
    for v in range(views):
        out, state = cell.step(xw[v], state, zero_state=zero and v == 0)
        outputs.append(out)
    return ops.concatenate(outputs, axis=0)


def run_over_views(cell: ConvGRU3D | ConvLSTM3D, sequence: Any, initial_state: Any = None,
                   constant_channels: int = 0) -> Any:
    """Run ``cell`` over the view axis of ``sequence`` and stack the output of every step
    (:func:`fuse_views` on model-major grids).

    Args:
      cell: a :class:`ConvGRU3D` or :class:`ConvLSTM3D` (built or not).
      sequence: ``[B, V, D, H, W, C]``; V must be static.
      initial_state: the cell's state, or ``None`` for zeros.
      constant_channels: trailing input channels given no gradient (the unprojection's depth
        channel: :func:`project_input_channels`).

    Returns:
      ``[B, V, D, H, W, F]``: entry k is the cell output after views 0..k.
    """
    if len(sequence.shape) != 6:
        raise ValueError(f"sequence must be [B, V, D, H, W, C], got {sequence.shape}")
    views = sequence.shape[1]
    if views is None:
        raise ValueError("the view axis of sequence must be static")
    if not cell.built:
        cell.build(tuple(sequence.shape[:1]) + tuple(sequence.shape[2:]))
    x = ops.reshape(ops.transpose(sequence, (1, 0, 2, 3, 4, 5)), (-1, *sequence.shape[2:]))
    constant = None
    if constant_channels:
        x, constant = ops.split(x, [x.shape[-1] - constant_channels], axis=-1)
    out = fuse_views(cell, x, views, constant, initial_state)
    out = ops.reshape(out, (views, -1, *out.shape[1:]))
    return ops.transpose(out, (1, 0, 2, 3, 4, 5))


class ConvRNN3D(keras.layers.Layer):
    """Recurrent fusion over views: ``[B, V, D, H, W, C]`` -> ``[B, V, D, H, W, F]``.

    Holds one cell (:class:`ConvGRU3D` for ``"gru"``, :class:`ConvLSTM3D` for ``"lstm"``) and
    runs it with :func:`run_over_views` from a zero state.

    Args:
      rnn: ``"gru"`` or ``"lstm"``.
      filters: hidden channels ``F`` (release 32).
      kernel_size: cube kernel side (release 3).
      layer_norm: release True.
      name: release ``"rnn"``.
    """

    def __init__(
        self,
        rnn: str = "gru",
        filters: int = 32,
        kernel_size: int = 3,
        layer_norm: bool = True,
        name: str = "rnn",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if rnn not in RNNS:
            raise ValueError(f"rnn must be one of {RNNS}, got {rnn!r}")
        self.rnn = rnn
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.layer_norm = bool(layer_norm)
        cell_cls = ConvGRU3D if rnn == "gru" else ConvLSTM3D
        self.cell = cell_cls(self.filters, self.kernel_size, self.layer_norm)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 6:
            raise ValueError(f"{self.name}: input must be [B, V, D, H, W, C], got {input_shape}")
        self.cell.build((input_shape[0], *input_shape[2:]))

    @property
    def conv_dtype(self) -> str:
        """Compute dtype of the cell's convolutions (an input already in it is not cast)."""
        return self.cell.conv_dtype

    def call(self, sequence: Any, constant_channels: int = 0) -> Any:
        """``[B, V, D, H, W, C]`` -> ``[B, V, D, H, W, F]``; ``constant_channels`` as
        :func:`run_over_views`."""
        return run_over_views(self.cell, sequence, constant_channels=constant_channels)

    def fuse(self, x: Any, views: int, constant: Any = None) -> Any:
        """Views-first grids ``[V*B, D, H, W, C]`` (and ``constant`` channels) ->
        ``[V*B, D, H, W, F]`` views first: :func:`fuse_views` from a zero state. The layer
        must be built."""
        return fuse_views(self.cell, x, views, constant)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple:
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rnn": self.rnn,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "layer_norm": self.layer_norm,
        }
